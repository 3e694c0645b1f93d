"""The service ranks on the model's own edge: its lists are the model's ``recommend`` lists.

The rules around the scores (unknown users, seen items, cold items, the popular list) live once,
in :mod:`synerec.algorithms.recommending`; the service, the console and the batch jobs call
them. These tests hold the service's answers to the model's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synerec.models import load_model
from synerec.service.engine import recommend, similar
from synerec.service.model_store import load_snapshot
from tests.service import fit_demo_model

MODELS = {"item-cf": {}, "ease": {}, "mf": {"random_state": 7}, "rp3beta": {},
          "popularity": {}}


@pytest.fixture(scope="module", params=list(MODELS))
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    name = request.param
    return fit_demo_model(tmp_path_factory.mktemp("edge") / name, name, **MODELS[name])


@pytest.mark.parametrize("precompute_n", [0, 20])
def test_a_known_user_without_new_events_gets_the_models_list(model_dir: Path,
                                                              precompute_n: int) -> None:
    snap = load_snapshot(model_dir, version=1, events_upto=0, precompute_n=precompute_n)
    model = load_model(model_dir)
    for user in model.users_.ids[:12]:
        for n in (1, 10, 25):
            for exclude_seen in (True, False):
                res = recommend(snap, str(user), [], n, exclude_seen=exclude_seen,
                                explain=False, event_weights={}, unknown="error")
                ids, scores = model.recommend([user], n, exclude_seen=exclude_seen)
                keep = ids[0] != None  # noqa: E711 - elementwise on an object array
                assert res.strategy == "model" and res.fallback is None
                assert res.items == list(ids[0][keep])
                assert res.scores == [float(s) for s in scores[0][keep]]


def test_an_unknown_user_with_the_fallback_gets_the_models_fallback(model_dir: Path) -> None:
    snap = load_snapshot(model_dir, version=1, events_upto=0, precompute_n=20)
    model = load_model(model_dir)
    for n in (1, 10, 500):
        res = recommend(snap, "nobody-at-all", [], n, exclude_seen=True, explain=False,
                        event_weights={}, unknown="fallback")
        ids, scores = model.recommend(["nobody-at-all"], n, unknown="fallback")
        keep = ids[0] != None  # noqa: E711
        assert res.strategy == "popular" and res.fallback == "unknown_user"
        assert res.items == list(ids[0][keep])
        assert res.scores == [float(s) for s in scores[0][keep]]
    # an unknown item's fallback is the same popular list, less the item itself
    item = model.items_.id(int(snap.popular[0]))
    got = similar(snap, "no-such-item", 5, unknown="fallback")
    assert got.items == res.items[:5] and got.similarities == res.scores[:5]
    assert item in got.items


def test_the_http_answers_are_the_models_lists(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from synerec.service import ServiceSettings, create_app

    d = fit_demo_model(tmp_path / "ease", "ease")
    model = load_model(d)
    app = create_app(ServiceSettings(model_dir=d, state_dir=tmp_path / "state"))
    with TestClient(app) as client:
        user = model.users_.id(5)
        body = client.get(f"/v1/users/{user}/recommendations", params={"n": 8}).json()
        ids, scores = model.recommend([user], 8)
        assert [it["item_id"] for it in body["items"]] == list(ids[0])
        assert [it["score"] for it in body["items"]] == [float(s) for s in scores[0]]
        body = client.get("/v1/users/nobody-at-all/recommendations",
                          params={"n": 8, "unknown": "fallback"}).json()
        ids, scores = model.recommend(["nobody-at-all"], 8, unknown="fallback")
        assert body["strategy"] == "popular" and body["fallback"] == "unknown_user"
        assert [it["item_id"] for it in body["items"]] == list(ids[0])
        assert [it["score"] for it in body["items"]] == [float(s) for s in scores[0]]


def test_new_events_leave_the_models_list_as_the_rank_of_its_scores_without_them(
        model_dir: Path) -> None:
    """For a model that is not item-based, a known user's newer events are left out of the
    model's list: the same as ranking the model's scores with those items also seen."""
    snap = load_snapshot(model_dir, version=1, events_upto=0, precompute_n=20)
    model = snap.model
    if snap.item_based:
        pytest.skip("an item-based model scores the events (strategy item_neighbors)")
    u = 4
    user = model.users_.id(u)
    listed, _ = model.recommend_indices(np.array([u]), 6)
    events = [int(listed[0][1]), int(listed[0][4])]
    overlay = [(k + 1, model.items_.id(i), None, "view") for k, i in enumerate(events)]
    res = recommend(snap, str(user), overlay, 6, exclude_seen=True, explain=False,
                    event_weights={"view": 1.0}, unknown="error")
    full, _ = model.recommend_indices(np.arange(model.n_users_), model.n_items_,
                                      exclude_seen=False)
    scores = np.full((1, model.n_items_), -np.inf, dtype=np.float32)
    row = full[u][full[u] >= 0]
    _, sc = model.recommend_indices(np.array([u]), model.n_items_, exclude_seen=False)
    scores[0, row] = sc[0][:len(row)]
    idx, _ = model.rank_block(scores, 6, exclude=model.seen_items(np.array([u]), [events]))
    assert res.strategy == "model"
    assert res.items == list(model.items_.ids_of(idx[0][idx[0] >= 0]))
    assert not set(res.items) & {model.items_.id(i) for i in events}
