"""``sasrec`` as a retriever of the hybrid: fitted on each part's timestamps, its columns, its
"after you bought X and Y" evidence and the check of that claim (issue 22)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ScoresSequence
from synerec.data import InteractionDataset
from synerec.data.demo_shop import generate_demo_shop
from synerec.hybrid import HybridRanker
from synerec.hybrid.claims import Claim, latest_items_error
from synerec.hybrid.explain import check_claims, check_faithful, explain_pair
from synerec.hybrid.retrievers import DEFAULT_RETRIEVER_PARAMS, retriever_spec

FAST = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 30, "min_data_in_leaf": 5,
        "num_leaves": 7, "n_candidates": 30, "retrievers": ("ease", "sasrec"),
        "retriever_params": {"sasrec": {"epochs": 3, "factors": 16}}}


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return generate_demo_shop(n_users=80, n_items=100, ratings_per_user=20, random_state=3)


@pytest.fixture(scope="module")
def model(shop: InteractionDataset) -> HybridRanker:
    return HybridRanker(**FAST).fit(shop)


def _latest(model: HybridRanker, u: int, k: int) -> list[int]:
    """The user's ``k`` latest training items by hand: sorted by time, then item index."""
    times = model.times_
    assert times is not None
    row = times[u]
    order = np.lexsort((row.indices, row.data))
    return [int(j) for j in row.indices[order][-k:]]


def test_sasrec_retriever_params_and_columns(model: HybridRanker) -> None:
    spec = retriever_spec(model.config_, "sasrec")
    assert spec.group == "cf" and spec.params["num_threads"] == 1
    assert spec.params["random_state"] == model.config_.random_state
    assert spec.params["epochs"] == 3 and spec.params["patience"] == \
        DEFAULT_RETRIEVER_PARAMS["sasrec"]["patience"]
    assert {"sasrec:score", "sasrec:rank", "sasrec:score_rel"} <= set(model.feature_names_)
    assert "sasrec:recent" not in model.feature_names_


def test_sasrec_reads_the_training_items_in_time_order(model: HybridRanker) -> None:
    r = model.retrievers_[model.retriever_names_.index("sasrec")]
    assert isinstance(r, ScoresSequence)
    assert (r.train_ != model.train_).nnz == 0
    for u in np.flatnonzero(model.user_count_ > 0)[:10]:
        n = int(model.user_count_[u])
        seq = r.user_sequences(np.asarray([u]))[0]
        assert seq.tolist() == _latest(model, int(u), n)


def test_the_explanation_names_the_latest_items_and_the_check_accepts_it(
        model: HybridRanker) -> None:
    users = np.flatnonzero(model.user_count_ > 0)[:20]
    idx, _ = model.recommend_indices(users, 10)
    seen = None
    for row, u in enumerate(users):
        for e in model.explain_list(int(u), idx[row][idx[row] >= 0]):
            assert check_faithful(model, e) is None, e.text
            for kind, why in check_claims(model, e):
                assert why is None, (kind, why, e.text)
            for c in e.claims:
                if c.kind == "latest-items":
                    assert list(c.items) == _latest(model, int(u), 2)
                    seen = (e, c)
    assert seen is not None, "no explanation cites the sequence retriever"
    e, c = seen
    older = _latest(model, e.user, 5)[0]  # an item the user bought before the latest two
    assert older not in c.items
    forged = replace(e, claims=(replace(c, items=(older, c.items[1])),))
    [(kind, why)] = check_claims(model, forged)
    assert kind == "latest-items" and "not among user" in str(why)
    forged = replace(e, cited=(("sasrec", older),))
    assert "not among user" in str(check_faithful(model, forged))
    wrong_signal = replace(e, claims=(Claim("latest-items", "ease", c.items),))
    assert "does not read" in str(check_claims(model, wrong_signal)[0][1])
    assert "after you" in e.text


def test_latest_items_by_hand() -> None:
    X = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 0, 1, 1]], dtype=np.float32))
    T = sp.csr_matrix(np.array([[5, 9, 7, 0], [3, 0, 3, 1]], dtype=np.float64))
    assert latest_items_error(X, T, 0, (2, 1)) is None
    assert latest_items_error(X, T, 0, (1,)) is None
    assert "not among" in str(latest_items_error(X, T, 0, (0,)))
    assert latest_items_error(X, T, 1, (2,)) is None  # a tie at the latest time: either
    assert latest_items_error(X, T, 1, (0,)) is None
    assert "not among" in str(latest_items_error(X, T, 1, (3,)))
    assert "not in user" in str(latest_items_error(X, T, 0, (3,)))
    assert "no timestamps" in str(latest_items_error(X, None, 0, (1,)))


def test_without_timestamps_sasrec_is_left_out(shop: InteractionDataset,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="synerec.hybrid.retrievers"):
        m = HybridRanker(**FAST).fit(shop.matrix)  # a bare matrix: no timestamps
    assert m.retriever_names_ == ["ease"]
    assert "'sasrec' reads each user's items in time order" in caplog.text
    e = explain_pair(m, 0, int(m.recommend_indices(np.array([0]), 1)[0][0, 0]))
    assert all(c.kind != "latest-items" for c in e.claims)


def test_save_and_load_keep_the_sequence_retriever(model: HybridRanker, shop: InteractionDataset,
                                                    tmp_path: Path) -> None:
    loaded: Recommender = Recommender.load(model.save(tmp_path / "hybrid"))
    users = shop.users.ids[:30].tolist()
    a_ids, a_sc = model.recommend(users, 10)
    b_ids, b_sc = loaded.recommend(users, 10)
    assert a_ids.tolist() == b_ids.tolist()
    np.testing.assert_array_equal(a_sc, b_sc)
    u = shop.users.ids[3]
    for i in a_ids[3][:3]:
        assert loaded.predict_one(u, i).details["explanation"] == \
            model.predict_one(u, i).details["explanation"]
