"""The default model of `synerec fit` (ease) served over HTTP: its lists are the model's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from synerec.algorithms import Recommender
from synerec.service import ServiceSettings
from tests.service import API_KEY, DEMO, fit_demo_model, serve_in_thread


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("svc") / "ease", "ease")


def test_ease_served_lists_are_the_models(model_dir: Path) -> None:
    model = Recommender.load(model_dir)
    settings = ServiceSettings(model_dir=model_dir, api_keys=(API_KEY,),
                               base_dataset="demo-shop", base_dataset_options=DEMO)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.get("/healthz").json()["model"] == "ease"
        user = model.users_.id(5)
        body = c.get(f"/v1/users/{user}/recommendations", params={"n": 6}).json()
        ids, scores = model.recommend([user], 6)
        assert body["strategy"] == "model"
        assert [r["item_id"] for r in body["items"]] == [str(i) for i in ids[0]]
        assert [r["score"] for r in body["items"]] == pytest.approx(scores[0].tolist(),
                                                                    rel=1e-6)
