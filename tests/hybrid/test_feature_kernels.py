"""The numba kernels behind the hybrid's features and candidates give the numpy formulas' bits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import synerec.hybrid._dot_kernels as dk
import synerec.hybrid.features as features
import synerec.hybrid.text_map as text_map
import synerec.topk as topk_module
from synerec.data.demo_shop import generate_demo_shop
from synerec.hybrid import HybridRanker
from synerec.hybrid._feature_kernels import max_neighbor_in_history, warm_columns_f64
from synerec.hybrid.features import FeatureInputs
from tests.hybrid.test_hybrid import FAST, SHOP

finite32 = st.floats(-4, 4, width=32, allow_subnormal=False)


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


# -- dot products ---------------------------------------------------------------------------------

def test_this_numpy_reduces_in_the_kernels_order() -> None:
    # where it does not, pair_dots uses einsum (tested below); on the machines
    # this library is measured on (x86-64, numpy's SSE baseline) the kernel is the one used
    assert dk.matches_einsum() or np.__config__.CONFIG["SIMD Extensions"]["baseline"] != ["X86_V2"]


@st.composite
def dot_problems(draw):  # type: ignore[no-untyped-def]
    d = draw(st.sampled_from([1, 2, 3, 5, 15, 16, 17, 31, 33, 64, 100, 384]))
    na, nb = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    A = draw(hnp.arrays(np.float32, (na, d), elements=finite32))
    B = draw(hnp.arrays(np.float32, (nb, d), elements=finite32))
    n = draw(st.integers(0, 20))
    a_rows = draw(hnp.arrays(np.int64, n, elements=st.integers(-1, na - 1)))
    b_rows = draw(hnp.arrays(np.int64, n, elements=st.integers(0, nb - 1)))
    return A, a_rows, B, b_rows


@settings(max_examples=200, deadline=None)
@given(dot_problems(), st.sampled_from(["kernel", "numpy", "other order"]))
def test_pair_dots_are_einsums_bits(problem, path: str) -> None:  # type: ignore[no-untyped-def]
    A, a_rows, B, b_rows = problem
    out = np.full(len(a_rows), np.nan, dtype=np.float32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(features, "SMALL_PAIRS", -1 if path != "numpy" else 1 << 30)
        mp.setattr(features, "_PAIR_CHUNK", 3)
        if path == "other order":  # a numpy that adds in another order: einsum itself
            mp.setattr(dk, "matches_einsum", lambda: False)
        features._pair_dots(A, a_rows, B, b_rows, out)
    ok = a_rows >= 0
    assert _bits(out[ok]) == _bits(np.einsum("ij,ij->i", A[a_rows[ok]], B[b_rows[ok]]))
    assert np.isnan(out[~ok]).all()


def test_dots_by_hand_and_the_signed_zero() -> None:
    A = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]], dtype=np.float32)
    B = np.array([[4.0, 5.0, 6.0], [-1.0, -1.0, 0.0]], dtype=np.float32)
    out = np.zeros(3, dtype=np.float32)
    dk.pair_dots(A, np.array([0, 1, -1]), B, np.array([0, 1, 0]), out)  # the kernel
    assert out.tolist() == [32.0, 0.0, 0.0] and not np.signbit(out[1])


# -- the text-neighbour lookup and the text map's columns ----------------------------------------

def _max_cosine_numpy(users, items, T, X):  # type: ignore[no-untyped-def]
    """The formula the kernel replaced (every pair's neighbours expanded, keys bisected)."""
    n_items = X.shape[1]
    x_keys = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr)) * n_items \
        + X.indices
    counts = np.diff(T.indptr)[items]
    out = np.full(len(users), np.nan, dtype=np.float32)
    ok = (users >= 0) & (counts > 0)
    if not ok.any():
        return out
    pair = np.repeat(np.flatnonzero(ok), counts[ok])
    first = np.repeat(T.indptr[items[ok]], counts[ok])
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts[ok]) - counts[ok], counts[ok])
    j = T.indices[first + offset].astype(np.int64)
    v = T.data[first + offset]
    want = users[pair] * n_items + j
    pos = np.searchsorted(x_keys, want)
    hit = pos < len(x_keys)
    hit[hit] = x_keys[pos[hit]] == want[hit]
    best = np.full(len(users), -np.inf, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # a NaN cosine wins, as in the formula
        np.maximum.at(best, pair[hit], v[hit])
    return np.where(np.isfinite(best), best, np.nan).astype(np.float32)


@st.composite
def neighbor_problems(draw):  # type: ignore[no-untyped-def]
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    X = sp.csr_matrix(draw(hnp.arrays(bool, (n_users, n_items))).astype(np.float32))
    tv = st.sampled_from([0.5, 0.25, 0.9, -0.1, 0.0, np.nan, np.inf, -np.inf])
    T = sp.csr_matrix(np.where(draw(hnp.arrays(bool, (n_items, n_items))),
                               draw(hnp.arrays(np.float32, (n_items, n_items), elements=tv)),
                               np.float32(0)))
    T.eliminate_zeros()
    n = draw(st.integers(0, 15))
    users = draw(hnp.arrays(np.int64, n, elements=st.integers(-1, n_users - 1)))
    items = draw(hnp.arrays(np.int64, n, elements=st.integers(0, n_items - 1)))
    return users, items, T, X


@settings(max_examples=200, deadline=None)
@given(neighbor_problems())
def test_max_neighbor_in_history_is_the_numpy_formula(problem) -> None:  # type: ignore[no-untyped-def]
    users, items, T, X = problem
    out = np.full(len(users), np.nan, dtype=np.float32)
    max_neighbor_in_history(users, items, T.indptr, T.indices, T.data, X.indptr, X.indices, out)
    assert _bits(out) == _bits(_max_cosine_numpy(users, items, T, X))
    # the path of a few pairs: the formula over the rows of the pairs' users only
    assert _bits(features._max_neighbor_numpy(users, items, T, X)) == _bits(out)


def test_max_neighbor_by_hand() -> None:
    X = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    T = sp.csr_matrix(np.array([[0, 0, 0, 0], [0.3, 0, 0.7, 0.9], [0, 0, 0, 0], [0, 0, 0, 0]],
                               dtype=np.float32))
    out = np.full(3, np.nan, dtype=np.float32)
    max_neighbor_in_history(np.array([0, 1, -1]), np.array([1, 1, 1]), T.indptr, T.indices,
                            T.data, X.indptr, X.indices, out)
    assert out[0] == np.float32(0.7) and np.isnan(out[1:]).all()  # 0.9's item 3 is not held


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(0, 5), st.integers(1, 9)),
                  elements=st.sampled_from([1.5, -2.0, 0.0, -0.0, np.nan, np.inf, -np.inf,
                                            3e38])),
       st.data())
def test_warm_columns_are_nan_to_num_of_the_float64_columns(S, data) -> None:  # type: ignore[no-untyped-def]
    warm = data.draw(hnp.arrays(bool, S.shape[1]))
    out = np.empty((S.shape[0], int(warm.sum())), dtype=np.float64)
    warm_columns_f64(S, np.flatnonzero(warm), out)
    assert _bits(out) == _bits(np.nan_to_num(np.asarray(S, dtype=np.float64)[:, warm]))


# -- the hybrid: same candidates, features and scores as the numpy paths -------------------------

@pytest.fixture(scope="module")
def model() -> HybridRanker:
    return HybridRanker(**FAST).fit(generate_demo_shop(**SHOP))


def test_hybrid_candidates_features_and_scores_equal_the_numpy_paths(
        model: HybridRanker, monkeypatch: pytest.MonkeyPatch) -> None:
    users = np.concatenate([np.arange(model.n_users_), [-1]])  # > SMALL_BLOCK: the kernels
    cands = model.candidates(users)
    F = model.feature_matrix(cands)
    scores = model.rank_scores(cands)
    lists = model.recommend_indices(users[:-1], 10)
    with monkeypatch.context() as mp:  # the numpy paths for every block, pair and user
        mp.setattr(topk_module, "SMALL_BLOCK", 1 << 30)
        mp.setattr(features, "SMALL_PAIRS", 1 << 40)
        mp.setattr(text_map, "_SMALL_USERS", 1 << 40)
        ref = model.candidates(users)
        F_ref = model.feature_matrix(ref)
        scores_ref = model.rank_scores(ref)
        lists_ref = model.recommend_indices(users[:-1], 10)
    for name in ("indptr", "items", "scores", "ranks", "top_scores"):
        assert _bits(getattr(cands, name)) == _bits(getattr(ref, name)), name
    assert _bits(F) == _bits(F_ref)
    assert _bits(scores) == _bits(scores_ref)
    assert _bits(lists[0]) == _bits(lists_ref[0]) and _bits(lists[1]) == _bits(lists_ref[1])
    # text_max_cosine against the formula it replaced
    inp = FeatureInputs(cands, model.stats_, model.item_side_, model.train_, model.retrievers_)
    col = F[:, model.feature_names_.index("text_max_cosine")]
    want = _max_cosine_numpy(inp.users, inp.items, model.item_side_.text_neighbors, model.train_)
    assert _bits(col) == _bits(want)
    assert np.isfinite(col).any() and np.isnan(col).any()
    assert cands.n_pairs > features.SMALL_PAIRS  # the kernels ran above
    # one user (a request) takes the numpy paths: the same values as within the batch (the
    # text map's BLAS product may round differently for one row than for a block of rows)
    one = model.candidates(users[3:4])
    F_one = model.feature_matrix(one)
    lo, hi = cands.indptr[3], cands.indptr[4]
    assert np.array_equal(one.items, cands.items[lo:hi])
    mapped = model.feature_names_.index("text_cf_score")
    rest = [j for j in range(F.shape[1]) if j != mapped]
    assert _bits(F_one[:, rest]) == _bits(F[lo:hi][:, rest])
    np.testing.assert_allclose(F_one[:, mapped], F[lo:hi, mapped], rtol=1e-5, atol=1e-6)
    with monkeypatch.context() as mp:  # a numpy whose einsum adds in another order
        mp.setattr(dk, "matches_einsum", lambda: False)
        assert _bits(model.feature_matrix(cands)) == _bits(F)
