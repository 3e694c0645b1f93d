"""The service serving a hybrid model: a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from synerec.algorithms import Recommender
from synerec.service import ServiceSettings
from tests.service import API_KEY, DEMO, fit_demo_model, serve_in_thread

SMALL = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 30, "min_data_in_leaf": 10,
         "n_candidates": 40}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("svc-hybrid") / "hybrid", "hybrid", **SMALL)


def test_the_service_serves_the_hybrids_lists_and_explanations(model_dir: Path) -> None:
    model = Recommender.load(model_dir)
    assert model.ranker_kind_ == "lambdarank"
    settings = ServiceSettings(model_dir=model_dir, api_keys=(API_KEY,),
                               base_dataset="demo-shop", base_dataset_options=DEMO)
    with serve_in_thread(settings) as server, httpx.Client(base_url=server.url,
                                                           timeout=30) as client:
        health = client.get("/healthz").json()
        assert health["model"] == "hybrid"
        for k in (3, 120):
            user = model.users_.id(k)
            body = client.get(f"/v1/users/{user}/recommendations",
                              params={"n": 5, "explain": "true"}).json()
            ids, scores = model.recommend([user], 5)
            assert body["strategy"] == "model"
            assert [it["item_id"] for it in body["items"]] == list(ids[0])
            np.testing.assert_allclose([it["score"] for it in body["items"]], scores[0],
                                       rtol=1e-6)
            for it in body["items"]:
                expected = model.predict_one(user, it["item_id"]).details["explanation"]
                assert it["reason"] == expected
                assert "The signal that weighed most" in it["reason"]
        missing = client.get("/v1/users/nobody-at-all/recommendations", params={"n": 5})
        assert missing.status_code == 404  # the service's unknown-id policy: error by default
        body = client.get("/v1/users/nobody-at-all/recommendations",
                          params={"n": 5, "unknown": "fallback"}).json()
        assert body["strategy"] == "popular"
