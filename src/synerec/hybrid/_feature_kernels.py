"""numba kernels of the hybrid's feature columns (imported on first use).

Each computes, bit for bit, what the numpy formula it replaces computes (tests/hybrid/
test_feature_kernels.py runs both), over the pairs in parallel and without the temporary
arrays of one row per (pair, neighbour).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["max_neighbor_in_history", "warm_columns_f64"]

_F64_MAX = np.finfo(np.float64).max


@numba.njit(cache=True, nogil=True, parallel=True)
def max_neighbor_in_history(users: np.ndarray, items: np.ndarray, t_indptr: np.ndarray,
                            t_indices: np.ndarray, t_data: np.ndarray, x_indptr: np.ndarray,
                            x_indices: np.ndarray, out: np.ndarray) -> None:
    """``out[p]``: the largest ``T[items[p], j]`` over the stored neighbours ``j`` of the
    item that are in row ``users[p]`` of ``X`` (CSR, indices sorted per row), as
    ``np.maximum`` takes it (a NaN wins); left as it is when none is or ``users[p] < 0``.
    A result that is not finite becomes NaN."""
    for p in numba.prange(users.shape[0]):
        u = users[p]
        if u < 0:
            continue
        it = items[p]
        lo = x_indptr[u]
        hi = x_indptr[u + 1]
        if hi == lo:
            continue
        row = x_indices[lo:hi]
        best = np.float32(-np.inf)
        hit = False
        for q in range(t_indptr[it], t_indptr[it + 1]):
            j = t_indices[q]
            k = np.searchsorted(row, j)
            if k < row.shape[0] and row[k] == j:
                hit = True
                v = np.float32(t_data[q])
                # np.maximum(best, v): the first operand unless the second is larger or NaN
                if not np.isnan(best) and (np.isnan(v) or v > best):
                    best = v
        if hit:
            out[p] = best if np.isfinite(best) else np.float32(np.nan)


@numba.njit(cache=True, nogil=True, parallel=True)
def warm_columns_f64(S: np.ndarray, columns: np.ndarray, out: np.ndarray) -> None:
    """``out = np.nan_to_num(S.astype(np.float64)[:, columns])``: NaN to 0, infinities to the
    largest float64 of their sign."""
    for r in numba.prange(S.shape[0]):
        for c in range(columns.shape[0]):
            v = np.float64(S[r, columns[c]])
            if np.isnan(v):
                v = np.float64(0.0)
            elif v == np.inf:
                v = _F64_MAX
            elif v == -np.inf:
                v = -_F64_MAX
            out[r, c] = v
