"""Top-k text cosine similarity and its blend with CF similarity, against dense references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.exceptions import ConfigError
from synerec.similarity.text import (
    blend_parts,
    blend_similarity,
    pair_cosines,
    text_similarity,
)


def unit_rows(rng: np.random.Generator, n: int, d: int, zero: int = 0) -> np.ndarray:
    E = rng.normal(size=(n, d)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    E[:zero] = 0.0
    return E


def reference_topk(D: np.ndarray, k: int) -> np.ndarray:
    """Dense reference: per row the k largest positive off-diagonal values, ties lower index."""
    n = D.shape[0]
    out = np.zeros_like(D)
    for i in range(n):
        cand = [(-D[i, j], j) for j in range(n) if j != i and D[i, j] > 0]
        for v, j in sorted(cand)[:k]:
            out[i, j] = -v
    return out


def reference_blend(cf: np.ndarray, E: np.ndarray, alpha: float, t: int, m: int) -> np.ndarray:
    """Dense reference of the blend: union of CF and top-t text candidates, then top-m."""
    n = cf.shape[0]
    C = (E.astype(np.float64) @ E.T.astype(np.float64))
    text_top = reference_topk(C.astype(np.float32), t) != 0
    union = (cf != 0) | text_top
    np.fill_diagonal(union, False)
    W = np.where(union, alpha * cf + (1 - alpha) * C, 0.0)
    out = np.zeros_like(W)
    for i in range(n):
        cand = [(-W[i, j], j) for j in range(n) if W[i, j] != 0]
        for v, j in sorted(cand)[:m]:
            out[i, j] = -v
    return out


def test_text_similarity_hand_computed() -> None:
    E = np.array([[1, 0], [0.6, 0.8], [0, 1], [-1, 0]], dtype=np.float32)
    T = text_similarity(E, k=2)
    assert T.shape == (4, 4) and T.dtype == np.float32 and T.has_sorted_indices
    dense = T.toarray()
    # row 0: cos with 1 = 0.6, with 2 = 0, with 3 = -1 -> only item 1 (positive values only)
    np.testing.assert_allclose(dense[0], [0, 0.6, 0, 0], atol=1e-6)
    np.testing.assert_allclose(dense[1], [0.6, 0, 0.8, 0], atol=1e-6)
    np.testing.assert_allclose(dense[2], [0, 0.8, 0, 0], atol=1e-6)
    assert T[3].nnz == 0  # only non-positive cosines


def test_text_similarity_ties_go_to_lower_index() -> None:
    E = np.array([[1, 0], [1, 0], [1, 0], [1, 0]], dtype=np.float32)
    T = text_similarity(E, k=2)
    assert T[0].indices.tolist() == [1, 2]
    assert T[3].indices.tolist() == [0, 1]


@pytest.mark.parametrize("block_size", [1, 3, 64])
def test_text_similarity_matches_dense_reference(block_size: int) -> None:
    rng = np.random.default_rng(3)
    E = unit_rows(rng, 23, 5, zero=2)
    T = text_similarity(E, k=4, block_size=block_size)
    D = (E @ E.T)
    np.testing.assert_allclose(T.toarray(), reference_topk(D, 4), atol=1e-6)
    assert T[0].nnz == 0 and T[1].nnz == 0  # zero rows: no text, no neighbours


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 4), k=st.integers(1, 14),
       seed=st.integers(0, 10_000))
def test_text_similarity_property(n: int, d: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # few distinct directions: many exact ties
    base = unit_rows(rng, 3, d)
    E = base[rng.integers(0, 3, size=n)]
    T = text_similarity(E, k=k, block_size=5)
    np.testing.assert_allclose(T.toarray(), reference_topk(E @ E.T, k), atol=1e-6)
    assert (np.diff(T.indptr) <= k).all()


def test_pair_cosines() -> None:
    rng = np.random.default_rng(0)
    E = unit_rows(rng, 9, 4)
    rows = np.array([8, 0, 3, 3, 0])
    cols = np.array([1, 2, 3, 7, 8])
    expected = [float(E[r] @ E[c]) for r, c in zip(rows, cols, strict=True)]
    np.testing.assert_allclose(pair_cosines(E, rows, cols, block_size=2), expected, atol=1e-6)
    assert pair_cosines(E, [], []).shape == (0,)


def test_blend_hand_computed() -> None:
    # 3 items; CF: 0-1 = 0.5 (and symmetric); text: e0 . e2 = 0.8, e0 . e1 = 0.6, e1 . e2 = 0.96
    cf = sp.csr_matrix(np.array([[0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]]))
    E = np.array([[1, 0], [0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    S = blend_similarity(cf, E, 0.5, text_neighbors=1, max_neighbors=3).toarray()
    # row 0: CF candidate 1, text candidate 2 (0.8 > 0.6):
    #   w01 = .5*.5 + .5*.6 = .55, w02 = .5*0 + .5*.8 = .4
    np.testing.assert_allclose(S[0], [0, 0.55, 0.4], atol=1e-6)
    # row 2 (no CF neighbour, a cold item): its top text neighbour is 1 (0.96)
    np.testing.assert_allclose(S[2], [0, 0.48, 0], atol=1e-6)
    # max_neighbors truncates after blending
    S1 = blend_similarity(cf, E, 0.5, text_neighbors=1, max_neighbors=1).toarray()
    np.testing.assert_allclose(S1[0], [0, 0.55, 0], atol=1e-6)
    # alpha = 1: the CF similarity itself; alpha = 0: text only (on the union)
    np.testing.assert_allclose(
        blend_similarity(cf, E, 1.0, text_neighbors=1, max_neighbors=3).toarray(), cf.toarray())
    S0 = blend_similarity(cf, E, 0.0, text_neighbors=1, max_neighbors=3).toarray()
    np.testing.assert_allclose(S0[0], [0, 0.6, 0.8], atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7, 1.0])
def test_blend_matches_dense_reference(alpha: float) -> None:
    rng = np.random.default_rng(11)
    n = 17
    E = unit_rows(rng, n, 4, zero=1)
    cf = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.3)
    np.fill_diagonal(cf, 0)
    S = blend_similarity(sp.csr_matrix(cf), E, alpha, text_neighbors=3, max_neighbors=5)
    assert S.dtype == np.float32 and S.has_sorted_indices
    np.testing.assert_allclose(S.toarray(), reference_blend(cf, E, alpha, 3, 5), atol=1e-5)
    # precomputed parts give the same matrix
    parts = blend_parts(sp.csr_matrix(cf), E, text_similarity(E, 3))
    S2 = blend_similarity(sp.csr_matrix(cf), E, alpha, text_neighbors=3, max_neighbors=5,
                          parts=parts)
    assert (S != S2).nnz == 0


def test_blend_errors() -> None:
    E = np.eye(3, dtype=np.float32)
    cf = sp.csr_matrix((3, 3))
    with pytest.raises(ConfigError, match="alpha"):
        blend_similarity(cf, E, 1.5, text_neighbors=1, max_neighbors=2)
    with pytest.raises(ConfigError, match="embeddings for a 3 x 3"):
        blend_similarity(cf, E[:2], 0.5, text_neighbors=1, max_neighbors=2)
    with pytest.raises(ConfigError, match="positive"):
        text_similarity(E, 0)
    with pytest.raises(ConfigError, match="finite"):
        text_similarity(np.full((2, 2), np.nan), 1)
