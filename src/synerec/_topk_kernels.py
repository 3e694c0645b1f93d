"""The numba kernels of :mod:`synerec.topk` (imported on first use, so that ranking one user
needs neither numba nor its compiled-kernel cache).

:func:`_topk_csr` ranks a CSR block with exactly the rules of :func:`synerec.topk.topk`; it is
tested against it and against :func:`synerec.topk._topk_sparse_numpy`, the path used for a
few rows (tests/algorithms/test_knn.py).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["no_duplicates", "topk_csr", "topk_dense"]


@numba.njit(cache=True, nogil=True)
def no_duplicates(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> bool:
    stamp = np.zeros(n_cols, np.int64)  # 1 + the last row that stored each column
    for r in range(indptr.shape[0] - 1):
        for p in range(indptr[r], indptr[r + 1]):
            j = indices[p]
            if stamp[j] == r + 1:
                return False
            stamp[j] = r + 1
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _worse(v1: float, i1: int | np.integer, v2: float,
           i2: int | np.integer) -> bool | np.bool_:
    """Whether ``(v1, i1)`` ranks below ``(v2, i2)``: lower score, then higher index."""
    return v1 < v2 or (v1 == v2 and i1 > i2)


@numba.njit(cache=True, nogil=True)
def _sift_down(val: np.ndarray, idx: np.ndarray, pos: int, size: int) -> None:
    while True:
        w = 2 * pos + 1
        if w >= size:
            return
        if w + 1 < size and _worse(val[w + 1], idx[w + 1], val[w], idx[w]):
            w += 1
        if not _worse(val[w], idx[w], val[pos], idx[pos]):
            return
        val[w], val[pos] = val[pos], val[w]
        idx[w], idx[pos] = idx[pos], idx[w]
        pos = w


@numba.njit(cache=True, nogil=True)
def _sift_up(val: np.ndarray, idx: np.ndarray, pos: int, v: float,
             j: int | np.integer) -> None:
    """Put ``(v, j)`` at ``pos`` (the heap's new last slot) and move it up to its place."""
    val[pos] = v
    idx[pos] = j
    while pos > 0:
        parent = (pos - 1) // 2
        if not _worse(val[pos], idx[pos], val[parent], idx[parent]):
            return
        val[pos], val[parent] = val[parent], val[pos]
        idx[pos], idx[parent] = idx[parent], idx[pos]
        pos = parent


@numba.njit(cache=True, nogil=True, inline="always")
def _offer(val: np.ndarray, idx: np.ndarray, size: int, v: float, j: np.int64,
           cand: np.ndarray, crow: np.int64, ex_indices: np.ndarray, elo: int, ehi: int) -> int:
    """Offer item ``j`` with score ``v`` to a row's heap of ``size`` entries (capacity
    ``len(val)``, its root the worst); return the new size. A non-finite score, an item
    outside ``cand`` (no rows: every item) or in ``ex_indices[elo:ehi]`` is not rankable."""
    if not np.isfinite(v):
        return size
    full = size == val.shape[0]
    if full and not _worse(val[0], idx[0], v, j):
        return size  # cannot enter the heap: no need to look the item up
    if cand.shape[0] > 0 and not cand[crow, j]:
        return size
    if ehi > elo:
        q = elo + np.searchsorted(ex_indices[elo:ehi], j)
        if q < ehi and ex_indices[q] == j:
            return size
    if not full:
        _sift_up(val, idx, size, v, j)
        return size + 1
    val[0] = v
    idx[0] = j
    _sift_down(val, idx, 0, size)
    return size


@numba.njit(cache=True, nogil=True, inline="always")
def _drain(val: np.ndarray, idx: np.ndarray, size: int, out_idx: np.ndarray,
           out_sc: np.ndarray, r: int) -> None:
    """Pop the heap's worst to the back of row ``r`` of ``out_*``: the row ends best first."""
    while size > 0:
        last = size - 1
        out_idx[r, last] = idx[0]
        out_sc[r, last] = val[0]
        val[0] = val[last]
        idx[0] = idx[last]
        size = last
        _sift_down(val, idx, 0, size)


@numba.njit(cache=True, nogil=True, parallel=True)
def topk_csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
              ex_indptr: np.ndarray, ex_indices: np.ndarray, cand: np.ndarray,
              out_idx: np.ndarray, out_sc: np.ndarray) -> None:
    """Each row's ``n`` best rankable stored entries into ``out_*`` (a heap whose root is worst).

    ``ex_indices`` are sorted per row (binary search); ``cand`` is ``(0 | 1 | b, n_items)``.
    """
    b = indptr.shape[0] - 1
    n = out_idx.shape[1]
    n_cand = cand.shape[0]
    for r in numba.prange(b):
        lo = indptr[r]
        hi = indptr[r + 1]
        size_max = min(n, hi - lo)
        if size_max == 0:
            continue
        val = np.empty(size_max, np.float64)
        idx = np.empty(size_max, np.int64)
        size = 0
        elo = ex_indptr[r]
        ehi = ex_indptr[r + 1]
        crow = np.int64(r)  # the prange index may be unsigned: keep one integer type
        if n_cand == 1:
            crow = np.int64(0)
        for p in range(lo, hi):
            size = _offer(val, idx, size, np.float64(data[p]), np.int64(indices[p]), cand,
                          crow, ex_indices, elo, ehi)
        _drain(val, idx, size, out_idx, out_sc, r)


@numba.njit(cache=True, nogil=True, parallel=True)
def topk_dense(scores: np.ndarray, ex_indptr: np.ndarray, ex_indices: np.ndarray,
               cand: np.ndarray, out_idx: np.ndarray, out_sc: np.ndarray) -> None:
    """Each row's ``n`` best rankable entries of a dense ``(b, n_items)`` block into ``out_*``.

    The rules of :func:`synerec.topk.topk`: a non-finite score, an item stored in the row of
    the CSR pattern ``ex_*`` (indices sorted per row) and an item outside ``cand``
    (``(0 | 1 | b, n_items)``) are not rankable; scores are compared in float64 (exact for
    float32 scores), ties to the lower index. ``out_*`` come padded; the heap keeps the
    ``n`` best seen so far, its root the worst of them, so that most entries cost one
    comparison.
    """
    b = scores.shape[0]
    n_items = scores.shape[1]
    n = out_idx.shape[1]
    n_cand = cand.shape[0]
    size_max = min(n, n_items)
    if size_max == 0:
        return
    for r in numba.prange(b):
        val = np.empty(size_max, np.float64)
        idx = np.empty(size_max, np.int64)
        size = 0
        elo = ex_indptr[r]
        ehi = ex_indptr[r + 1]
        crow = np.int64(r)  # the prange index may be unsigned: keep one integer type
        if n_cand == 1:
            crow = np.int64(0)
        for p in range(n_items):
            size = _offer(val, idx, size, np.float64(scores[r, p]), np.int64(p), cand, crow,
                          ex_indices, elo, ehi)
        _drain(val, idx, size, out_idx, out_sc, r)
