"""Compiled Gram matrix of EASE (private; see ``ease.py``).

Tested against ``X.T @ X`` in ``tests/algorithms/test_ranking_models.py``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["gram_into"]


@numba.njit(cache=True, nogil=True, parallel=True)
def gram_into(
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[i, j] += sum_u x[u, i] x[u, j]``: the dense ``X^T X`` of a sparse ``X``.

    ``indptr, indices, data``: CSR of ``X`` (users x items); ``t_*``: CSR of ``X^T``. Each item
    row of ``out`` is written by one thread (rows in parallel), walking the item's users and
    their items: work is ``sum_u deg(u)^2``, never the dense ``users x items^2`` product.
    ``out`` must be zero (or hold what is to be added to).
    """
    n_items = t_indptr.shape[0] - 1
    for i in numba.prange(n_items):
        row = out[i]
        for p in range(t_indptr[i], t_indptr[i + 1]):
            u = t_indices[p]
            xi = t_data[p]
            for q in range(indptr[u], indptr[u + 1]):
                row[indices[q]] += xi * data[q]
