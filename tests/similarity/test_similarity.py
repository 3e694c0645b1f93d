"""``similarity_matrix`` and ``top_neighbors`` against slow, obviously-correct references."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.exceptions import ConfigError, DataFormatError
from synerec.similarity import SIMILARITY_METHODS, similarity_matrix, top_neighbors
from synerec.similarity import similarity as similarity_module

TOL = 1e-5


# ---------------------------------------------------------------- the slow references


def reference_similarity(
    D: np.ndarray,
    method: str,
    min_support: int = 1,
    shrinkage: float = 0.0,
    positive_only: bool = False,
    norms: str | None = None,
) -> np.ndarray:
    """Dense n x n similarities, one pair at a time, straight from the definitions.

    ``norms``: ``"full"`` sums the squares over each row's own rated entries, ``"corated"``
    over the common columns; ``None`` is full for the cosine, co-rated for the others.
    """
    full = (method == "cosine") if norms is None else norms == "full"
    D = np.asarray(D, dtype=np.float64)
    n, m = D.shape
    rated = D != 0
    row_mean = [D[a][rated[a]].mean() if rated[a].any() else 0.0 for a in range(n)]
    col_mean = [D[:, c][rated[:, c]].mean() if rated[:, c].any() else 0.0 for c in range(m)]
    S = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            common = [c for c in range(m) if rated[a, c] and rated[b, c]]
            if not common or len(common) < min_support:
                continue
            if method == "cosine":  # eq. 1
                def value(r: int, c: int) -> float:
                    return float(D[r, c])
            elif method == "pearson":  # eq. 2: centred by the row's mean
                def value(r: int, c: int) -> float:
                    return float(D[r, c] - row_mean[r])
            else:  # eq. 3: centred by the column's mean
                def value(r: int, c: int) -> float:
                    return float(D[r, c] - col_mean[c])
            num = sum(value(a, c) * value(b, c) for c in common)
            cols_a = np.flatnonzero(rated[a]) if full else common
            cols_b = np.flatnonzero(rated[b]) if full else common
            den = math.sqrt(sum(value(a, c) ** 2 for c in cols_a)
                            * sum(value(b, c) ** 2 for c in cols_b))
            sim = num / den if den > 0 else 0.0
            sim *= len(common) / (len(common) + shrinkage)
            if positive_only and sim <= 0:
                sim = 0.0
            S[a, b] = sim
    return S


def assert_canonical(S: sp.csr_matrix, n: int, k: int) -> None:
    assert isinstance(S, sp.csr_matrix)
    assert S.shape == (n, n)
    assert S.dtype == np.float32
    assert S.has_canonical_format
    for a in range(n):
        cols = S.indices[S.indptr[a]:S.indptr[a + 1]]
        assert np.all(np.diff(cols) > 0), "columns not strictly increasing"
        assert a not in cols, "diagonal stored"
        assert len(cols) <= k
    assert np.all(S.data != 0), "explicit zeros stored"
    assert np.all(np.isfinite(S.data))


def assert_topk_of(S: sp.csr_matrix, R: np.ndarray, k: int) -> None:
    """Each row of ``S`` holds a top-``k`` of the reference row ``R[a]`` (ties allowed)."""
    for a in range(R.shape[0]):
        cols = S.indices[S.indptr[a]:S.indptr[a + 1]]
        vals = S.data[S.indptr[a]:S.indptr[a + 1]]
        np.testing.assert_allclose(vals, R[a, cols], atol=TOL, rtol=0)
        ref = R[a].copy()
        ref[a] = 0
        significant = np.flatnonzero(np.abs(ref) > TOL)
        expected = min(k, len(significant))
        assert len(cols) >= expected
        if expected == 0:
            continue
        kth = np.sort(ref[significant])[::-1][expected - 1]
        # everything kept is at least the k-th best, everything clearly better is kept
        assert np.all(vals >= kth - TOL)
        clearly_better = significant[ref[significant] > kth + TOL]
        assert set(clearly_better.tolist()) <= set(cols.tolist())


# ---------------------------------------------------------------- random inputs


@st.composite
def sparse_ratings(draw: st.DrawFn, signed: bool = False) -> np.ndarray:
    """A small dense array of integer ratings with many unrated (0) cells."""
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 9))
    low = -4 if signed else 1
    cells = st.one_of(st.just(0), st.integers(low, 5).filter(lambda v: v != 0))
    values = draw(st.lists(cells, min_size=n * m, max_size=n * m))
    return np.array(values, dtype=np.float32).reshape(n, m)


def random_ratings(seed: int, n: int, m: int, density: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    D = rng.integers(1, 6, size=(n, m)).astype(np.float32)
    D[rng.random((n, m)) >= density] = 0
    return D


@pytest.mark.parametrize("method", SIMILARITY_METHODS)
@settings(max_examples=60, deadline=None)
@given(D=sparse_ratings(), min_support=st.integers(1, 3),
       shrinkage=st.sampled_from([0.0, 2.5]), positive_only=st.booleans())
def test_full_matches_reference(method: str, D: np.ndarray, min_support: int, shrinkage: float,
                                positive_only: bool) -> None:
    n = D.shape[0]
    S = similarity_matrix(sp.csr_matrix(D), method, max_neighbors=n + 5, min_support=min_support,
                          shrinkage=shrinkage, positive_only=positive_only)
    R = reference_similarity(D, method, min_support, shrinkage, positive_only)
    assert_canonical(S, n, n)
    np.testing.assert_allclose(S.toarray(), R, atol=TOL, rtol=0)
    # nothing clearly nonzero is missing, and before truncation the result is symmetric
    assert np.all(S.toarray()[np.abs(R) > TOL] != 0)
    assert (S != S.T).nnz == 0
    if positive_only:
        assert np.all(S.data > 0)


@pytest.mark.parametrize("method", SIMILARITY_METHODS)
@pytest.mark.parametrize("norms", ["full", "corated"])
@settings(max_examples=40, deadline=None)
@given(D=sparse_ratings(), min_support=st.integers(1, 2), shrinkage=st.sampled_from([0.0, 2.5]))
def test_norms_match_reference(method: str, norms: str, D: np.ndarray, min_support: int,
                               shrinkage: float) -> None:
    n = D.shape[0]
    S = similarity_matrix(sp.csr_matrix(D), method, max_neighbors=n + 5, min_support=min_support,
                          shrinkage=shrinkage, norms=norms)
    R = reference_similarity(D, method, min_support, shrinkage, norms=norms)
    assert_canonical(S, n, n)
    np.testing.assert_allclose(S.toarray(), R, atol=TOL, rtol=0)
    assert np.all(S.toarray()[np.abs(R) > TOL] != 0)
    # None is each method's usual form
    usual = "full" if method == "cosine" else "corated"
    if norms == usual:
        assert (S != similarity_matrix(sp.csr_matrix(D), method, max_neighbors=n + 5,
                                       min_support=min_support, shrinkage=shrinkage)).nnz == 0


def test_norms_by_hand() -> None:
    # rows (3, 4, 0) and (3, 0, 5) share column 0 only
    D = np.array([[3, 4, 0], [3, 0, 5]], np.float32)
    X = sp.csr_matrix(D)
    # full: 9 / (5 * sqrt(34)); co-rated: 9 / (3 * 3) = 1
    assert similarity_matrix(X, "cosine")[0, 1] == pytest.approx(9 / (5 * math.sqrt(34)),
                                                                 abs=TOL)
    assert similarity_matrix(X, "cosine", norms="corated")[0, 1] == pytest.approx(1.0, abs=TOL)
    # Pearson, means 7/2 and 4: centred (-1/2, 1/2, .) and (-1, ., 1); co-rated column 0:
    # (1/2) / sqrt(1/4 * 1) = 1; full: (1/2) / sqrt((1/4 + 1/4) * (1 + 1)) = 1/2
    assert similarity_matrix(X, "pearson")[0, 1] == pytest.approx(1.0, abs=TOL)
    assert similarity_matrix(X, "pearson", norms="full")[0, 1] == pytest.approx(0.5, abs=TOL)
    with pytest.raises(ConfigError, match="norms"):
        similarity_matrix(X, "cosine", norms="all")


@settings(max_examples=40, deadline=None)
@given(D=sparse_ratings(signed=True))
def test_cosine_signed_values(D: np.ndarray) -> None:
    """Negative features: zero dot products are not confused with untouched rows."""
    S = similarity_matrix(sp.csr_matrix(D), "cosine", max_neighbors=D.shape[0])
    np.testing.assert_allclose(S.toarray(), reference_similarity(D, "cosine"), atol=TOL, rtol=0)
    assert_canonical(S, D.shape[0], D.shape[0])


@pytest.mark.parametrize("method", SIMILARITY_METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_truncation_keeps_reference_topk(method: str, seed: int, k: int) -> None:
    D = random_ratings(seed, 40, 25, 0.3)
    D[5] = 0  # an empty row
    S = similarity_matrix(sp.csr_matrix(D), method, max_neighbors=k, min_support=2,
                          shrinkage=1.0)
    R = reference_similarity(D, method, min_support=2, shrinkage=1.0)
    assert_canonical(S, 40, k)
    assert_topk_of(S, R, k)
    assert S[5].nnz == 0 and S[:, 5].nnz == 0


def test_truncation_ties_go_to_lower_index() -> None:
    # rows 1..4 are identical, so row 0 has four neighbours with the same similarity
    D = np.array([[1, 2, 0], [2, 1, 0], [2, 1, 0], [2, 1, 0], [2, 1, 0], [0, 0, 3]], np.float32)
    S = similarity_matrix(sp.csr_matrix(D), max_neighbors=2)
    assert S[0].indices.tolist() == [1, 2]
    assert S[4].indices.tolist() == [1, 2]  # 4 is as close to 1, 2, 3; 0 is farther
    assert S[1].indices.tolist() == [2, 3]


@pytest.mark.parametrize("method", SIMILARITY_METHODS)
def test_dense_scan_and_touched_list_agree(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Heavy rows are finished by a dense scan, light ones by the touched-list: same answer."""
    D = random_ratings(7, 60, 30, 0.25)
    X = sp.csr_matrix(D)
    monkeypatch.setattr(similarity_module, "_DENSE_SCAN_FACTOR", 0.0)
    dense = similarity_matrix(X, method, max_neighbors=8)
    monkeypatch.setattr(similarity_module, "_DENSE_SCAN_FACTOR", math.inf)
    touched = similarity_matrix(X, method, max_neighbors=8)
    assert (dense != touched).nnz == 0
    assert_topk_of(dense, reference_similarity(D, method), 8)


def test_threads_progress_and_batches_agree() -> None:
    X = sp.csr_matrix(random_ratings(3, 80, 30, 0.2))
    before = numba.get_num_threads()
    one = similarity_matrix(X, "pearson", max_neighbors=5, num_threads=1)
    assert numba.get_num_threads() == before
    many = similarity_matrix(X, "pearson", max_neighbors=5,
                             num_threads=numba.config.NUMBA_NUM_THREADS + 3)
    assert numba.get_num_threads() == before
    progress = similarity_matrix(X, "pearson", max_neighbors=5, show_progress=True)
    assert (one != many).nnz == 0
    assert (one != progress).nnz == 0


# ---------------------------------------------------------------- edge cases


def test_pearson_of_all_equal_ratings_is_zero() -> None:
    D = np.array([[3, 3, 3, 0], [1, 2, 3, 0], [2, 1, 5, 4]], np.float32)
    S = similarity_matrix(sp.csr_matrix(D), "pearson").toarray()
    assert S[0, 1] == 0 and S[0, 2] == 0 and S[1, 0] == 0
    # rows 1 and 2: means 2 and 3; co-rated columns 0..2 -> (-1, 0, 1) . (-1, -2, 2) = 3,
    # sums of squares 2 and 9 -> 3 / sqrt(18)
    assert S[1, 2] == pytest.approx(3 / math.sqrt(18), abs=TOL)


def test_single_row_and_empty_inputs() -> None:
    S = similarity_matrix(sp.csr_matrix(np.array([[1, 2, 3]], np.float32)))
    assert S.shape == (1, 1) and S.nnz == 0 and S.dtype == np.float32
    S = similarity_matrix(sp.csr_matrix((4, 3), dtype=np.float32), "pearson")
    assert S.shape == (4, 4) and S.nnz == 0
    S = similarity_matrix(sp.csr_matrix((0, 3), dtype=np.float32))
    assert S.shape == (0, 0)


def test_fewer_rows_than_max_neighbors() -> None:
    D = np.array([[1, 2, 0], [2, 1, 4], [0, 5, 1], [3, 0, 2]], np.float32)
    S = similarity_matrix(sp.csr_matrix(D), "cosine", max_neighbors=100)
    assert_canonical(S, 4, 3)
    np.testing.assert_allclose(S.toarray(), reference_similarity(D, "cosine"), atol=TOL)


def test_input_forms_explicit_zeros_and_duplicates() -> None:
    D = random_ratings(11, 15, 8, 0.4)
    expected = similarity_matrix(sp.csr_matrix(D), "pearson", max_neighbors=4)
    # an explicit zero is unrated, not a rating of 0: store one in each row's first unrated cell
    data, indices, indptr = [], [], [0]
    for row in D:
        cols = sorted([*np.flatnonzero(row).tolist(), int(np.flatnonzero(row == 0)[0])])
        indices += cols
        data += [float(row[c]) for c in cols]
        indptr.append(len(indices))
    X = sp.csr_matrix((np.array(data, np.float32), indices, indptr), shape=D.shape)
    assert X.nnz == np.count_nonzero(D) + D.shape[0]
    assert (similarity_matrix(X, "pearson", max_neighbors=4) != expected).nnz == 0
    # duplicates in COO are summed (scipy semantics); other formats and dtypes are accepted
    rows, cols = np.nonzero(D)
    vals = D[rows, cols].astype(np.float64)
    coo = sp.coo_matrix((np.concatenate([vals / 2, vals / 2]),
                         (np.concatenate([rows, rows]), np.concatenate([cols, cols]))),
                        shape=D.shape)
    assert (similarity_matrix(coo, "pearson", max_neighbors=4) != expected).nnz == 0
    assert (similarity_matrix(sp.csc_array(D.astype(np.float64)), "pearson",
                              max_neighbors=4) != expected).nnz == 0


def test_input_is_not_modified() -> None:
    D = random_ratings(5, 10, 6, 0.5)
    X = sp.csr_matrix(D)
    snapshot = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    similarity_matrix(X, "adjusted_cosine")
    for before, after in zip(snapshot, (X.data, X.indices, X.indptr), strict=True):
        np.testing.assert_array_equal(before, after)


def test_bad_arguments() -> None:
    X = sp.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(ConfigError, match="'jaccardish'"):
        similarity_matrix(X, "jaccardish")
    for kwargs in ({"max_neighbors": 0}, {"min_support": -1}, {"shrinkage": -1.0},
                   {"shrinkage": math.nan}, {"num_threads": -2}, {"max_neighbors": 2.5}):
        with pytest.raises(ConfigError, match=next(iter(kwargs))):
            similarity_matrix(X, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sparse"):
        similarity_matrix(np.eye(3))  # type: ignore[arg-type]
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(DataFormatError, match="non-finite"):
        similarity_matrix(bad)


# ---------------------------------------------------------------- top_neighbors


def test_top_neighbors_hand_case() -> None:
    S = sp.csr_matrix((np.array([0.5, 0.9, 0.5, -0.2], np.float32),
                       np.array([0, 1, 3, 4]), np.array([0, 0, 4])), shape=(2, 5))
    idx, sims = top_neighbors(S, 1, 10)
    assert idx.tolist() == [1, 0, 3, 4]
    np.testing.assert_array_equal(sims, np.array([0.9, 0.5, 0.5, -0.2], np.float32))
    assert top_neighbors(S, 1, 2)[0].tolist() == [1, 0]
    assert top_neighbors(S, 0, 3)[0].size == 0
    assert top_neighbors(S, 1, 0)[0].size == 0
    assert top_neighbors(S, -1, 1)[0].tolist() == [1]
    with pytest.raises(IndexError):
        top_neighbors(S, 2, 1)
    with pytest.raises(ConfigError):
        top_neighbors(S, 0, -1)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.sampled_from([-0.5, 0.1, 0.25, 0.7, 1.0]), min_size=0, max_size=12),
       n=st.integers(0, 14))
def test_top_neighbors_matches_sorted_reference(values: list[float], n: int) -> None:
    cols = np.arange(len(values)) * 2  # sorted, distinct
    S = sp.csr_matrix((np.array(values, np.float32), cols, [0, len(values)]), shape=(1, 30))
    idx, sims = top_neighbors(S, 0, n)
    expected = sorted(zip(values, cols.tolist(), strict=True), key=lambda p: (-p[0], p[1]))[:n]
    assert idx.tolist() == [c for _, c in expected]
    np.testing.assert_allclose(sims, [v for v, _ in expected])
