"""A sequential model (``sasrec``) is served from the user's sequence: events re-rank the list.

The service appends a user's events since the fit to their training sequence and scores it with
the model's own :meth:`~synerec.algorithms.abilities.ScoresSequence.score_sequences` (strategy
``sequence``). These tests post events over HTTP to a running app with a saved ``sasrec`` and
hold its lists to a ranking computed here, independently: the combined sequence built by hand,
scored by the model, the seen and untrained items masked, sorted by score then item index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms.abilities import ScoresSequence
from synerec.algorithms.ease import EASE
from synerec.models import load_model
from synerec.service.engine import recommend
from synerec.service.model_store import ModelSnapshot, load_snapshot
from tests.service import API_KEY, fit_demo_model

N = 10


@pytest.fixture(autouse=True)
def _torch_threads_restored() -> Any:
    """Serving a sasrec sets torch's threads of the process (``prepare_serving``): put them
    back for the tests that follow."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sasrec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("seq") / "sasrec", "sasrec", epochs=3,
                          patience=0, factors=16, random_state=3)


def expected_list(model: Any, sequence: list[int], seen: set[int], n: int) -> list[Any]:
    """The model's ranking of ``sequence``: its scores, the ``seen`` and untrained items left
    out, ties by the lower index (computed without the service's or the model's ranking code)."""
    scores = model.score_sequences([np.asarray(sequence, dtype=np.int64)])[0].astype(np.float64)
    ok = np.ones(len(scores), dtype=bool)
    ok[list(seen)] = False
    ok &= np.asarray(model.item_count_) > 0
    cand = np.flatnonzero(ok & np.isfinite(scores))
    order = cand[np.lexsort((cand, -scores[cand]))][:n]
    return [model.items_.id(int(i)) for i in order]


def get_list(client: Any, user: Any, **params: Any) -> dict[str, Any]:
    r = client.get(f"/v1/users/{user}/recommendations", params={"n": N, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_posted_events_change_the_list_without_a_retrain(sasrec_dir: Path,
                                                        tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from synerec.service import ServiceSettings, create_app

    model = load_model(sasrec_dir)
    u = 7
    user = model.users_.id(u)
    train = [int(i) for i in model.sequence_items_[model.sequence_indptr_[u]:
                                                   model.sequence_indptr_[u + 1]]]
    app = create_app(ServiceSettings(model_dir=sasrec_dir, state_dir=tmp_path / "state",
                                     precompute_n=20, api_keys=[API_KEY]))
    with TestClient(app, headers={"X-API-Key": API_KEY}) as client:
        before = get_list(client, user)
        assert before["strategy"] == "model"
        assert [it["item_id"] for it in before["items"]] == expected_list(model, train,
                                                                          set(train), N)
        # three events: two items from the list and one of the user's training items (it
        # moves to the end of the sequence), sent out of time order
        listed = [model.items_.index(it["item_id"]) for it in before["items"]]
        events = [listed[3], train[0], listed[0]]
        stamps = [2_000_000_300.0, 2_000_000_100.0, 2_000_000_200.0]
        r = client.post("/v1/events", json={"events": [
            {"user_id": str(user), "item_id": str(model.items_.id(i)), "event": "view",
             "timestamp": t} for i, t in zip(events, stamps, strict=True)]})
        assert r.status_code == 200, r.text
        after = get_list(client, user)
        # time order: train[0], listed[0], listed[3]; train[0] once, at its latest place
        sequence = [*train[1:], train[0], listed[0], listed[3]]
        want = expected_list(model, sequence, set(train) | set(events), N)
        assert after["strategy"] == "sequence" and after["fallback"] is None
        assert after["new_events"] == 3
        assert [it["item_id"] for it in after["items"]] == want
        assert [it["item_id"] for it in after["items"]] != [it["item_id"]
                                                           for it in before["items"]]
        scores = model.score_sequences([np.asarray(sequence)])[0]
        for it in after["items"]:
            assert it["score"] == pytest.approx(float(scores[model.items_.index(it["item_id"])]))
        # an unknown user with events gets a list from those events alone
        fresh = [listed[1], listed[2]]
        r = client.post("/v1/events", json={"events": [
            {"user_id": "new-customer", "item_id": str(model.items_.id(i)), "event": "cart",
             "timestamp": 2_000_000_000.0 + k} for k, i in enumerate(fresh)]})
        assert r.status_code == 200, r.text
        cold = get_list(client, "new-customer", unknown="error")
        assert cold["strategy"] == "sequence" and cold["fallback"] == "unknown_user"
        assert [it["item_id"] for it in cold["items"]] == expected_list(model, fresh,
                                                                        set(fresh), N)
        # an unknown user whose events name no known item: the popular fallback
        client.post("/v1/events", json={"events": [{"user_id": "lost", "item_id": "zz-none"}]})
        assert get_list(client, "lost", unknown="fallback")["strategy"] == "popular"


def test_the_sequence_list_keeps_seen_items_when_asked(sasrec_dir: Path) -> None:
    snap = load_snapshot(sasrec_dir, version=1, events_upto=0)
    model = snap.model
    u = 11
    train = [int(i) for i in model.user_sequences(np.array([u]))[0]]
    event = int(np.flatnonzero(np.asarray(model.item_count_) > 0)[-1])
    overlay = [(1, str(model.items_.id(event)), 4.0, None)]
    res = recommend(snap, str(model.users_.id(u)), overlay, N, exclude_seen=False,
                    explain=True, event_weights={})
    seq = [i for i in train if i != event] + [event]
    assert res.strategy == "sequence"
    assert res.items == expected_list(model, seq, set(), N)
    assert res.reasons is not None and str(model.items_.id(event)) in res.reasons[0]


class _SequenceEASE(EASE, ScoresSequence):
    """EASE that declares it reads sequences (its items in the order given, summed): a model
    the service knows only by the declared ability."""

    def user_sequences(self, users: np.ndarray) -> list[np.ndarray]:
        X = self.train_
        return [X.indices[X.indptr[u]:X.indptr[u + 1]].astype(np.int64) if u >= 0
                else np.zeros(0, np.int64) for u in np.asarray(users)]

    def score_sequences(self, sequences: Any) -> np.ndarray:
        rows = [np.unique(np.asarray(s, np.int64)) for s in sequences]
        P = sp.csr_matrix((np.ones(sum(len(r) for r in rows), np.float32),
                           np.concatenate(rows), np.cumsum([0] + [len(r) for r in rows])),
                          shape=(len(rows), self.n_items_))
        return EASE.score_profiles(self, P)

    def score_profiles(self, profiles: sp.csr_matrix) -> np.ndarray:
        return EASE.score_profiles(self, profiles)


def _snapshot(model: Any) -> ModelSnapshot:
    popular, scores = model.popular_items()
    n = model.n_items_
    return ModelSnapshot(model=model, version=1, path=Path("."), events_upto=0,
                         similarity=sp.csr_matrix((n, n), dtype=np.float32),
                         similarity_source="service_cosine", item_based=False,
                         popular=popular, popular_scores=scores, loaded_at=0.0)


def test_the_strategy_follows_the_declared_ability(sasrec_dir: Path, tmp_path: Path) -> None:
    from synerec.data import load_dataset
    from tests.service import DEMO

    ds = load_dataset("demo-shop", **DEMO)
    plain, declared = EASE().fit(ds), _SequenceEASE().fit(ds)
    assert not isinstance(plain, ScoresSequence) and isinstance(declared, ScoresSequence)
    assert isinstance(load_model(sasrec_dir), ScoresSequence)
    item = str(plain.items_.id(5))
    overlay = [(1, item, None, "view")]
    got = {}
    for name, model in (("plain", plain), ("declared", declared)):
        snap = _snapshot(model)
        assert snap.reads_sequence is (name == "declared")
        got[name] = recommend(snap, str(model.users_.id(2)), overlay, N, exclude_seen=True,
                              explain=False, event_weights={"view": 1.0})
    assert got["plain"].strategy == "model" and got["declared"].strategy == "sequence"
    seq = [int(i) for i in declared.user_sequences(np.array([2]))[0] if i != 5] + [5]
    assert got["declared"].items == expected_list(declared, seq, set(seq), N)
