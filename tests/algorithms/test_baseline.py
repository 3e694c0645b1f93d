"""Baseline and Popularity, and base-class behaviour they share (ids, fallbacks, errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.algorithms import Baseline, Popularity, default_threshold
from synerec.algorithms.baseline import als_biases
from synerec.data import InteractionDataset
from synerec.exceptions import ConfigError, UnknownIdError


def reference_als(dense: np.ndarray, reg_u: float, reg_i: float, epochs: int):
    """Surprise's BaselineOnly ALS with explicit loops (0 = missing)."""
    n_users, n_items = dense.shape
    observed = [(u, i, float(dense[u, i])) for u in range(n_users) for i in range(n_items)
                if dense[u, i] != 0]
    mu = sum(r for _, _, r in observed) / len(observed)
    bu = [0.0] * n_users
    bi = [0.0] * n_items
    for _ in range(epochs):
        for i in range(n_items):
            rs = [(u, r) for u, j, r in observed if j == i]
            bi[i] = sum(r - mu - bu[u] for u, r in rs) / (reg_i + len(rs)) if rs else 0.0
        for u in range(n_users):
            rs = [(i, r) for v, i, r in observed if v == u]
            bu[u] = sum(r - mu - bi[i] for i, r in rs) / (reg_u + len(rs)) if rs else 0.0
    return mu, np.array(bu), np.array(bi)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0, 20), st.floats(0, 20), st.integers(1, 4))
def test_als_matches_reference(seed, reg_u, reg_i, epochs):
    rng = np.random.default_rng(seed)
    dense = rng.integers(1, 6, size=(6, 5)) * (rng.random((6, 5)) < 0.5)
    dense[0, 0] = 3  # at least one rating
    mu, bu, bi = reference_als(dense, reg_u, reg_i, epochs)
    got_bu, got_bi = als_biases(sp.csr_matrix(dense.astype(np.float32)), mu, reg_u, reg_i, epochs)
    np.testing.assert_allclose(got_bu, bu, atol=1e-10)
    np.testing.assert_allclose(got_bi, bi, atol=1e-10)


def test_baseline_explain_and_clipping():
    df = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [10, 11, 10, 11],
                       "rating": [5.0, 5.0, 5.0, 1.0]})
    data = InteractionDataset.from_dataframe(df, rating_scale=(1, 5))
    m = Baseline(regularization_user=0, regularization_item=0, epochs=1).fit(data)
    # mu = 4, b_10 = 1, b_11 = -1; b_1 = ((5-4-1) + (5-4+1)) / 2 = 1 -> r(1, 10) = 6 -> 5
    p = m.explain(1, 10)
    assert p.raw_value == pytest.approx(6.0) and p.value == 5.0 and p.clipped
    assert p.details["user_bias"] == pytest.approx(1.0)
    assert p.details["item_bias"] == pytest.approx(1.0)
    assert p.details["user_index"] == 0 and p.details["item_index"] == 0
    q = m.explain(99, 11, unknown="fallback")
    assert (q.fallback, q.fallback_to, q.details["user_bias"]) == ("unknown_user", "baseline",
                                                                    None)
    assert q.value == pytest.approx(3.0)  # mu + b_11
    # Ranking scores are the predictions: user 2 has seen item 10, gets item 11.
    ids, scores = m.recommend([2], n=2)
    assert ids.tolist() == [[11, None]]
    assert scores[0, 0] == pytest.approx(m.predict_one(2, 11).raw_value)


def test_popularity_implicit_ranks_by_summed_weight():
    df = pd.DataFrame({"user_id": ["a", "b", "b", "c", "c"],
                       "item_id": ["x", "x", "y", "y", "z"],
                       "rating": [1.0, 1.0, 5.0, 1.0, 2.0]})
    data = InteractionDataset.from_dataframe(df, rating_scale=None)
    m = Popularity(damping=0).fit(data)
    np.testing.assert_allclose(m.item_popularity_, [2.0, 6.0, 2.0])  # x, y, z weights
    ids, scores = m.recommend(["a", "new"], n=3, unknown="fallback")
    assert ids.tolist() == [["y", "z", None], ["y", "x", "z"]]  # x/z tie: lower index first
    assert scores[1].tolist() == [6.0, 2.0, 2.0]
    explicit = InteractionDataset.from_dataframe(df.assign(rating=[1, 1, 5, 1, 2]),
                                                 rating_scale=(1, 5))
    m = Popularity().fit(explicit)
    np.testing.assert_allclose(m.item_popularity_, [2.0, 2.0, 1.0])  # counts for ratings
    assert m.explain("a", "y").details["item_count"] == 2


def make_data():
    df = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "item_id": ["x", "y", "x", "z"],
                       "rating": [4, 2, 5, 3]})
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


def test_base_argument_errors():
    m = Baseline().fit(make_data())
    with pytest.raises(ValueError, match="same length"):
        m.predict(["a", "b"], ["x"])
    with pytest.raises(TypeError, match="predict_one"):
        m.predict("a", "x")
    with pytest.raises(ValueError, match="out of range"):
        m.predict_indices([0, 5], [0, 0])
    with pytest.raises(TypeError, match="integers"):
        m.predict_indices([0.5], [0])
    with pytest.raises(UnknownIdError, match="nope"):
        m.recommend(["a"], items=["x", "nope"])
    with pytest.raises(ConfigError, match="batch_size"):
        m.recommend(["a"], batch_size=0)
    with pytest.raises(ConfigError, match="n must"):
        m.recommend(["a"], n=-2)
    with pytest.raises(ConfigError, match="regularization_user"):
        Baseline.from_config({"regularization_user": -1})
    with pytest.raises(ConfigError, match="BaselineConfig"):
        Baseline.from_config(Popularity().get_config())
    ids, scores = m.recommend([], n=3)
    assert ids.shape == (0, 3) and scores.shape == (0, 3)


def test_indices_and_ids_agree_and_minus_one_is_unknown():
    m = Baseline().fit(make_data())
    by_ids = m.predict(["a", "zz", "c"], ["z", "x", "qq"], unknown="fallback")
    by_idx = m.predict_indices([0, -1, 2], [2, 0, -1])
    np.testing.assert_array_equal(by_ids, by_idx)
    idx, _ = m.recommend_indices([0, -1], n=2, candidates=np.array([True, False, True]))
    ids, _ = m.recommend(["a", "zz"], n=2, items=["x", "z"], unknown="fallback")
    assert [[m.items_.id(j) if j >= 0 else None for j in row] for row in idx] == ids.tolist()


def test_default_threshold():
    assert default_threshold((1, 10)) == pytest.approx(6.0)
    assert default_threshold((1, 5)) == pytest.approx(29 / 9)
    assert default_threshold((0, 1)) == pytest.approx(5 / 9)
    assert default_threshold(None) == 0.0


def test_recommend_item_reason_names_fallback():
    m = Popularity(damping=0).fit(make_data())
    d = m.recommend_item("new-user", "x", unknown="fallback")  # item x mean 4.5 > 3.22
    assert d.recommend and "unknown_user" in d.reason and "damped_item_mean" in d.reason
    d = m.recommend_item("a", "x")
    assert not d.recommend and d.reason == "user 'a' has already rated item 'x' (4)"
