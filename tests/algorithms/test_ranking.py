"""The shared top-k routine, by hand and against a slow full-sort reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from synerec.exceptions import ConfigError
from synerec.ranking import PAD_INDEX, topk
from synerec.topk import SMALL_BLOCK


def reference_topk(scores, n, exclude=None, candidates=None):
    """Obviously correct: filter, sort every row fully by (-score, index), cut, pad."""
    scores = np.atleast_2d(np.asarray(scores))
    b, m = scores.shape
    ex = sp.csr_matrix(exclude) if exclude is not None else None
    out_i = np.full((b, n), -1, dtype=np.int64)
    out_s = np.full((b, n), -np.inf, dtype=np.float32)
    for r in range(b):
        banned = set() if ex is None else set(ex.indices[ex.indptr[r]:ex.indptr[r + 1]].tolist())
        row = []
        for j in range(m):
            v = float(scores[r, j])
            if not math.isfinite(v) or j in banned:
                continue
            if candidates is not None:
                c = np.asarray(candidates)
                if not (c[j] if c.ndim == 1 else c[r, j]):
                    continue
            row.append((-v, j))
        row.sort()
        for pos, (negv, j) in enumerate(row[:n]):
            out_i[r, pos] = j
            out_s[r, pos] = np.float32(-negv)
    return out_i, out_s


def test_hand_example_ties_nan_and_padding():
    scores = np.array([[0.5, 2.0, 2.0, np.nan, -np.inf, 7.0],
                       [np.inf, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    idx, sc = topk(scores, 4)
    assert idx.tolist() == [[5, 1, 2, 0], [1, 2, 3, 4]]
    assert sc.tolist() == [[7.0, 2.0, 2.0, 0.5], [1.0, 1.0, 1.0, 1.0]]
    assert idx.dtype == np.int64 and sc.dtype == np.float32
    idx, sc = topk(scores, 6)
    assert idx[0].tolist() == [5, 1, 2, 0, PAD_INDEX, PAD_INDEX]
    assert np.isneginf(sc[0, 4:]).all()


def test_exclude_and_candidates():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0],
                       [1.0, 2.0, 3.0, 4.0, 5.0]])
    exclude = sp.csr_matrix(([0.0, 1.0], ([0, 1], [0, 4])), shape=(2, 5))  # stored zero excludes
    idx, _ = topk(scores, 2, exclude=exclude)
    assert idx.tolist() == [[1, 2], [3, 2]]
    cand = np.array([True, False, True, False, True])
    idx, sc = topk(scores, 3, exclude=exclude, candidates=cand)
    assert idx.tolist() == [[2, 4, -1], [2, 0, -1]]
    assert sc[0].tolist()[:2] == [3.0, 1.0]
    per_row = np.array([[False, True, False, False, False], [True, True, True, True, True]])
    idx, _ = topk(scores, 1, candidates=per_row)
    assert idx.tolist() == [[1], [4]]


def test_edge_sizes_and_errors():
    idx, sc = topk(np.ones((3, 4)), 0)
    assert idx.shape == (3, 0) and sc.shape == (3, 0)
    idx, _ = topk(np.zeros((0, 4)), 2)
    assert idx.shape == (0, 2)
    idx, _ = topk(np.array([3.0, 1.0, 2.0]), 2)  # one-dimensional = one row
    assert idx.tolist() == [[0, 2]]
    idx, _ = topk(np.array([[1, 3, 2]]), 5)  # integers are ranked too
    assert idx.tolist() == [[1, 2, 0, -1, -1]]
    with pytest.raises(ConfigError):
        topk(np.ones((1, 3)), -1)
    with pytest.raises(ConfigError):
        topk(np.ones((1, 3)), 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exclude has shape"):
        topk(np.ones((2, 3)), 1, exclude=sp.csr_matrix((1, 3)))
    with pytest.raises(TypeError, match="boolean"):
        topk(np.ones((2, 3)), 1, candidates=np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="candidates has shape"):
        topk(np.ones((2, 3)), 1, candidates=np.ones(4, dtype=bool))


def test_input_not_modified():
    scores = np.array([[1.0, np.nan, 3.0]])
    before = scores.copy()
    topk(scores, 2, exclude=sp.csr_matrix(np.array([[1, 0, 0]])))
    np.testing.assert_array_equal(scores, before)


# Few distinct values so that ties are frequent; NaN and infinities mixed in.
values = st.sampled_from([0.0, 1.0, -1.0, 2.5, 1e-30, -3.0, np.nan, np.inf, -np.inf, 7.0])


@st.composite
def ranking_problems(draw):
    b = draw(st.integers(0, 5))
    m = draw(st.integers(0, 12))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scores = draw(hnp.arrays(dtype, (b, m), elements=values))
    n = draw(st.integers(0, m + 3))
    exclude = None
    if draw(st.booleans()):
        mask = draw(hnp.arrays(bool, (b, m)))
        exclude = sp.csr_matrix(mask.astype(np.float32))
    candidates = None
    if draw(st.booleans()):
        shape = draw(st.sampled_from([(m,), (b, m)]))
        candidates = draw(hnp.arrays(bool, shape))
    return scores, n, exclude, candidates


@settings(max_examples=300, deadline=None)
@given(ranking_problems())
def test_matches_full_sort_reference(problem):
    scores, n, exclude, candidates = problem
    idx, sc = topk(scores, n, exclude=exclude, candidates=candidates)
    ref_i, ref_s = reference_topk(scores, n, exclude, candidates)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(sc, ref_s)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 30)),
                  elements=st.floats(-1e6, 1e6)), st.integers(1, 35))
def test_properties_on_continuous_scores(scores, n):
    idx, sc = topk(scores, n)
    k = min(n, scores.shape[1])
    assert (idx[:, :k] >= 0).all() and (idx[:, k:] == PAD_INDEX).all()
    assert (np.diff(sc[:, :k], axis=1) <= 0).all()  # sorted, best first
    for r in range(scores.shape[0]):
        assert len(set(idx[r, :k].tolist())) == k  # no repeats
        worst_kept = scores[r, idx[r, k - 1]]
        dropped = np.setdiff1d(np.arange(scores.shape[1]), idx[r, :k])
        assert (scores[r, dropped] <= worst_kept).all()


@st.composite
def large_ranking_problems(draw):
    """Blocks of more than SMALL_BLOCK rows: topk ranks them with the numba kernel."""
    b = draw(st.integers(SMALL_BLOCK + 1, SMALL_BLOCK + 12))
    m = draw(st.integers(0, 12))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scores = draw(hnp.arrays(dtype, (b, m), elements=values))
    n = draw(st.integers(0, m + 3))
    exclude = None
    if draw(st.booleans()):
        mask = draw(hnp.arrays(bool, (b, m)))
        exclude = sp.csr_matrix(mask.astype(np.float32))
        if draw(st.booleans()):  # indices unsorted within rows are allowed
            ind = np.concatenate([exclude.indices[exclude.indptr[r]:exclude.indptr[r + 1]][::-1]
                                  for r in range(b)]).astype(np.int32)
            exclude = sp.csr_matrix((exclude.data, ind, exclude.indptr), shape=(b, m))
    candidates = None
    if draw(st.booleans()):
        shape = draw(st.sampled_from([(m,), (b, m)]))
        candidates = draw(hnp.arrays(bool, shape))
    return scores, n, exclude, candidates


def _numpy_path(scores, n, exclude, candidates):
    """topk row block by row block of at most SMALL_BLOCK rows: its numpy path."""
    ex = sp.csr_matrix(exclude) if exclude is not None else None
    parts = []
    for lo in range(0, scores.shape[0], SMALL_BLOCK):
        hi = lo + SMALL_BLOCK
        cand = candidates
        if candidates is not None and candidates.ndim == 2:
            cand = candidates[lo:hi]
        parts.append(topk(scores[lo:hi], n, exclude=None if ex is None else ex[lo:hi],
                          candidates=cand))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@settings(max_examples=200, deadline=None)
@given(large_ranking_problems())
def test_kernel_path_matches_reference_and_numpy_path(problem):
    scores, n, exclude, candidates = problem
    before = scores.copy()
    idx, sc = topk(scores, n, exclude=exclude, candidates=candidates)
    np.testing.assert_array_equal(scores, before)  # read in place, not modified
    ref_i, ref_s = reference_topk(scores, n, exclude, candidates)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(sc, ref_s)
    np_i, np_s = _numpy_path(scores, n, exclude, candidates)
    np.testing.assert_array_equal(idx, np_i)
    assert sc.tobytes() == np_s.tobytes()  # bit for bit, signed zeros included


def test_kernel_path_on_a_large_block_bit_equal_to_numpy_path():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        scores = rng.standard_normal((300, 2000)).astype(dtype)
        scores[:, ::7] = np.round(scores[:, ::7], 1)  # ties
        scores[rng.random(scores.shape) < 0.01] = np.nan
        scores[:5] = 0.0  # rows that are all ties
        exclude = sp.random(300, 2000, density=0.02, format="csr", random_state=4)
        cand = rng.random(2000) < 0.9
        idx, sc = topk(scores, 50, exclude=exclude, candidates=cand)
        np_i, np_s = _numpy_path(scores, 50, exclude, cand)
        np.testing.assert_array_equal(idx, np_i)
        assert sc.tobytes() == np_s.tobytes()
        assert idx[0].tolist() == [j for j in range(2000)
                                   if cand[j] and exclude[0, j] == 0][:50]
