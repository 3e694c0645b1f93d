"""Compiled kernels of the service (numba, without the GIL); tested through their callers
against slow references (``tests/service/test_units.py``)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["accumulate_neighbors"]


@numba.njit(cache=True, nogil=True)
def accumulate_neighbors(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                         items: np.ndarray, weights: np.ndarray, sums: np.ndarray,
                         reached: np.ndarray) -> None:  # pragma: no cover - compiled
    """``sums[j] += w_i * S[i, j]`` over the stored neighbours ``j`` of each profile item ``i``;
    ``reached[j]`` marks the items some profile item reaches (eq. S1)."""
    for k in range(items.shape[0]):
        i = items[k]
        w = weights[k]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            sums[j] += w * data[p]
            reached[j] = True
