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
        r = client.get("/v1/users/nobody-at-all/recommendations", params={"n": 5})
        assert r.status_code == 404 and r.json()["error"] == "unknown_user"
        body = client.get("/v1/users/nobody-at-all/recommendations",
                          params={"n": 5, "unknown": "fallback"}).json()
        assert body["strategy"] == "popular"


def test_precomputed_reasons_are_the_models_own(model_dir: Path, tmp_path: Path) -> None:
    """The service precomputes the reasons of every known user's first items (one pass,
    ``explain_texts``) and an explained request reads them: the same sentences as the
    model's own explanation, read without scoring (a cheap request); a longer list, or a
    service that precomputes none, computes them per request, with the same result."""
    from synerec.service.engine import is_cheap, recommend
    from synerec.service.model_store import PrecomputedReasons, load_snapshot

    snap = load_snapshot(model_dir, version=1, events_upto=0, precompute_n=20, explain_n=5,
                         explain_max_users=10_000, cache_dir=tmp_path / "cache", mmap=True)
    plain = load_snapshot(model_dir, version=1, events_upto=0, precompute_n=20)
    assert snap.top_reasons is not None and snap.top_reasons.n == 5
    assert plain.top_reasons is None
    again = load_snapshot(model_dir, version=1, events_upto=0, precompute_n=20, explain_n=5,
                          explain_max_users=10_000, cache_dir=tmp_path / "cache", mmap=True)
    assert again.top_reasons is not None  # read back from the shared cache
    np.testing.assert_array_equal(again.top_reasons.data, snap.top_reasons.data)
    model = snap.model
    for k in (0, 3, 77, 120):
        user = str(model.users_.id(k))
        assert is_cheap(snap, user, [], 5, exclude_seen=True, explain=True)
        assert not is_cheap(snap, user, [], 6, exclude_seen=True, explain=True)
        assert not is_cheap(plain, user, [], 5, exclude_seen=True, explain=True)
        for n in (5, 8):
            a = recommend(snap, user, [], n, exclude_seen=True, explain=True,
                          event_weights={})
            b = recommend(plain, user, [], n, exclude_seen=True, explain=True,
                          event_weights={})
            assert a.items == b.items and a.reasons == b.reasons
            assert a.reasons is not None and len(a.reasons) == n
            own = model.explain_list(k, model.items_.indices(a.items))
            assert a.reasons == [e.sentence for e in own]
    texts = [["ä reason", "b"], ["only one"], []]
    pre = PrecomputedReasons.encode(texts, 2)
    assert [pre.of(0, 0), pre.of(0, 1), pre.of(1, 0), pre.of(1, 1), pre.of(2, 0),
            pre.of(0, 2)] == ["ä reason", "b", "only one", None, None, None]
