r"""Text similarity for the text-enhanced neighbourhood models, and its blend with CF similarity.

:func:`text_similarity` keeps, for each row of a matrix of unit-normalised embeddings
:math:`E`, the ``k`` rows with the largest cosine :math:`t(i, j) = e_i \cdot e_j` (positive
values only, never the row itself), computed ``block_size`` rows at a time so that memory stays
O(block_size * n), never n x n.

:func:`blend_similarity` combines a sparse CF similarity :math:`S` (top-``max_neighbors`` per
row, as :func:`synerec.similarity.similarity_matrix` returns it) with the text similarity over
the *union* of both candidate sets:

.. math:: w(i, j) = \alpha\, s(i, j) + (1 - \alpha)\, t(i, j),
          \qquad j \in N_{CF}(i) \cup N_{text}(i)

where :math:`s(i, j)` is the stored CF similarity (0 when :math:`j` is not among :math:`i`'s
stored CF neighbours: no support, or truncated) and :math:`t(i, j)` the *exact* cosine of the
two embeddings (also for pairs that are CF candidates only). A pair involving a row without any
CF data (``text_only``: an item nobody rated) has no CF similarity at all and gets
:math:`t(i, j)` alone. Zeros are dropped and each row keeps
its ``max_neighbors`` largest values, ties going to the lower column index (through the shared
:func:`synerec.topk.topk_sparse`). A row without any CF neighbour (a cold item) gets text
neighbours only.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from synerec.exceptions import ConfigError

__all__ = ["blend_parts", "blend_similarity", "pair_cosines", "text_similarity"]

log = logging.getLogger(__name__)


def _check_embeddings(E: np.ndarray) -> np.ndarray:
    E = np.asarray(E)
    if E.ndim != 2:
        raise ConfigError(f"embeddings must be a 2-D array, got shape {E.shape}")
    if E.size and not np.isfinite(E).all():
        raise ConfigError("embeddings must be finite numbers")
    return np.ascontiguousarray(E, dtype=np.float32)


def text_similarity(embeddings: np.ndarray, k: int, *, block_size: int = 1024,
                    rows: np.ndarray | None = None) -> sp.csr_matrix:
    """Top-``k`` cosine neighbours of every row of unit-normalised ``embeddings``.

    Parameters
    ----------
    embeddings
        ``(n, d)`` rows of unit norm (or zero: a row without text has no neighbours).
    k
        Neighbours kept per row.
    block_size
        Rows compared with all others at once (memory ``block_size * n`` float32).
    rows
        Only these rows (indices) get neighbours; the others stay empty. Default: all.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n, n)`` float32 with sorted indices: row ``i`` holds the ``k`` largest positive
        cosines :math:`e_i \\cdot e_j`, :math:`j \\ne i` (ties: lower ``j``).
    """
    E = _check_embeddings(embeddings)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if block_size < 1:
        raise ConfigError(f"block_size must be positive, got {block_size}")
    start = time.perf_counter()
    n = E.shape[0]
    kk = min(int(k), max(n - 1, 0))
    which = np.arange(n) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    for lo in range(0, len(which), block_size):
        block = which[lo:lo + block_size]
        b = len(block)
        sims = E[block] @ E.T  # (b, n) float32
        sims[np.arange(b), block] = -np.inf  # never the row itself
        if kk == 0:
            break
        if kk < n:
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            kth = sims[np.arange(b)[:, None], part].min(axis=1)
        else:
            kth = np.full(b, -np.inf, dtype=np.float32)
        for r in range(b):
            row = sims[r]
            cand = np.flatnonzero((row >= kth[r]) & (row > 0))  # ascending column index
            if len(cand) > kk:  # ties at the k-th value: the lower indices win (stable sort)
                cand = cand[np.argsort(-row[cand], kind="stable")[:kk]]
            cand.sort()
            rows_out.append(np.full(len(cand), block[r], dtype=np.int64))
            cols_out.append(cand)
            vals_out.append(row[cand])
    if rows_out:
        rows = np.concatenate(rows_out)
        cols = np.concatenate(cols_out)
        vals = np.concatenate(vals_out).astype(np.float32)
    else:
        rows = cols = np.zeros(0, np.int64)
        vals = np.zeros(0, np.float32)
    T = sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=np.float32)
    T.sort_indices()
    log.info("text similarity of %d rows (k=%d): %d neighbours in %.3f s", n, kk, T.nnz,
             time.perf_counter() - start)
    return T


def pair_cosines(embeddings: np.ndarray, rows: np.ndarray, cols: np.ndarray, *,
                 block_size: int = 1024) -> np.ndarray:
    """``embeddings[rows[p]] . embeddings[cols[p]]`` for every pair ``p`` (float64).

    Computed ``block_size`` distinct rows at a time as a dense block product (BLAS), then
    gathered: memory ``block_size * n`` float32.
    """
    E = _check_embeddings(embeddings)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    out = np.empty(len(rows), dtype=np.float64)
    if not len(rows):
        return out
    order = np.argsort(rows, kind="stable")
    sr = rows[order]
    for lo in range(0, E.shape[0], block_size):
        a, b = np.searchsorted(sr, [lo, lo + block_size])
        if a == b:
            continue
        G = E[lo:lo + block_size] @ E.T
        sel = order[a:b]
        out[sel] = G[rows[sel] - lo, cols[sel]]
    return out


def blend_parts(cf: sp.spmatrix | sp.sparray, embeddings: np.ndarray, text: sp.csr_matrix
                ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The union of CF and text candidates, with both similarities on it (alpha-free).

    Returns
    -------
    pattern : scipy.sparse.csr_matrix
        ``(n, n)``, sorted indices, the candidate pairs (diagonal excluded).
    cf_values, text_values : numpy.ndarray
        float64 per stored pair of ``pattern``: the stored CF similarity (0 when absent) and
        the exact cosine of the two embeddings.
    """
    S = sp.csr_matrix(cf, dtype=np.float64)
    n = S.shape[0]
    if S.shape != (n, n):
        raise ConfigError(f"the CF similarity must be square, got shape {S.shape}")
    E = _check_embeddings(embeddings)
    if E.shape[0] != n:
        raise ConfigError(f"{E.shape[0]} embeddings for a {n} x {n} similarity")
    S.sum_duplicates()
    S.setdiag(0.0)
    S.eliminate_zeros()
    pattern = (abs(S) + abs(sp.csr_matrix(text, dtype=np.float64))).tocsr()
    pattern.setdiag(0.0)
    pattern.eliminate_zeros()
    pattern.sort_indices()
    rows = np.repeat(np.arange(n), np.diff(pattern.indptr))
    cols = pattern.indices
    cf_vals = np.asarray(S[rows, cols]).ravel() if len(rows) else np.zeros(0)
    return pattern, cf_vals, pair_cosines(E, rows, cols)


def blend_similarity(cf: sp.spmatrix | sp.sparray, embeddings: np.ndarray, alpha: float, *,
                     text_neighbors: int, max_neighbors: int,
                     text: sp.csr_matrix | None = None,
                     parts: tuple[sp.csr_matrix, np.ndarray, np.ndarray] | None = None,
                     text_only: np.ndarray | None = None) -> sp.csr_matrix:
    r"""``alpha * CF + (1 - alpha) * text`` over the union of CF and text candidates, top-k rows.

    Parameters
    ----------
    cf
        ``(n, n)`` CF similarity (stored entries = CF candidates).
    embeddings
        ``(n, d)`` unit-normalised embeddings of the same rows.
    alpha
        Weight of the CF similarity, in ``[0, 1]``. ``alpha = 1`` returns ``cf`` truncated to
        ``max_neighbors`` (no text is used).
    text_neighbors
        Text candidates per row (the top cosines, :func:`text_similarity`).
    max_neighbors
        Neighbours kept per row after blending.
    text
        A precomputed ``text_similarity(embeddings, text_neighbors)``.
    parts
        A precomputed :func:`blend_parts` (to blend several alphas at the cost of one).
    text_only
        Optional bool mask of rows that have no CF data at all (cold items): a pair with such
        a row on either side has no CF similarity by construction, not a CF similarity of 0,
        so it gets its text similarity alone (:math:`\alpha = 0` for that pair).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n, n)`` float32, sorted indices, at most ``max_neighbors`` nonzero entries per row.
    """
    from synerec.topk import PAD_INDEX, topk_sparse

    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
    a = float(alpha)
    if a < 1.0:
        if parts is None:
            E = _check_embeddings(embeddings)
            T = text if text is not None else text_similarity(E, text_neighbors)
            parts = blend_parts(cf, E, T)
        pattern, cf_vals, text_vals = parts
        n = pattern.shape[0]
        weight = np.full(len(cf_vals), a)
        if text_only is not None:
            text_only = np.asarray(text_only, dtype=bool)
            if text_only.shape != (n,):
                raise ConfigError(f"text_only must be a bool mask of {n} rows")
            rows = np.repeat(np.arange(n), np.diff(pattern.indptr))
            weight[text_only[rows] | text_only[pattern.indices]] = 0.0
        S = sp.csr_matrix((weight * cf_vals + (1.0 - weight) * text_vals,
                           pattern.indices.copy(), pattern.indptr.copy()), shape=(n, n))
    else:
        S = sp.csr_matrix(cf, dtype=np.float64)
        n = S.shape[0]
        if S.shape != (n, n):
            raise ConfigError(f"the CF similarity must be square, got shape {S.shape}")
        S.sum_duplicates()
        S.setdiag(0.0)
    S.eliminate_zeros()
    idx, top = topk_sparse(S, max_neighbors)
    keep = idx != PAD_INDEX
    counts = keep.sum(axis=1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    out = sp.csr_matrix((top[keep].astype(np.float32), idx[keep].astype(np.int32), indptr),
                        shape=(n, n))
    out.sort_indices()
    return out
