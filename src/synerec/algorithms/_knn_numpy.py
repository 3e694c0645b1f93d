"""Item-based top-N scores for a few users in numpy: one request's, without a kernel.

:func:`item_knn_score_few` gives exactly the block :func:`._knn_kernels.item_knn_score` gives
(tests/algorithms/test_knn.py compares them bit for bit), so that loading a saved item-cf and
ranking one user neither imports numba nor loads its compiled kernels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["item_knn_score_few"]


def item_knn_score_few(users: np.ndarray, X: sp.csr_matrix, S: sp.csr_matrix,
                       nb_indptr: np.ndarray, k: int, x_data: np.ndarray,
                       item_mean: np.ndarray, center: bool, normalize: bool) -> sp.csr_matrix:
    """:func:`~._knn_kernels.item_knn_score` for a few ``users`` (arguments as there; ``X``
    the training matrix, ``S`` the similarity with unsorted rows, ``x_data`` the values used).

    The same block, entry for entry and bit for bit: the rated items in the training row's
    order, each one's ``k`` best stored neighbours in the kernel's order (value descending,
    ties to the lower index, :func:`_row_order`), the terms summed in float64 in that order
    (``np.add.at`` adds in index order) and the candidates in order of first appearance. Only
    the similarity rows of the users' items are sorted.
    """
    n_items = S.shape[0]
    indptr = np.zeros(len(users) + 1, np.int64)
    out_idx: list[np.ndarray] = []
    out_val: list[np.ndarray] = []
    num = np.zeros(n_items, np.float64)
    den = np.zeros(n_items, np.float64)
    for t, a in enumerate(users):
        lo, hi = X.indptr[a], X.indptr[a + 1]
        js = X.indices[lo:hi].astype(np.int64)
        r = x_data[lo:hi].astype(np.float64)
        if center:
            r = r - item_mean[js]
        starts = nb_indptr[js]
        lengths = nb_indptr[js + 1] - starts
        first_of_group = np.repeat(np.cumsum(lengths) - lengths, lengths)
        group = np.repeat(np.arange(len(js)), lengths)
        pos = np.arange(int(lengths.sum())) - first_of_group + np.repeat(starts, lengths)
        order = _row_order(group, S.indices[pos], S.data[pos])
        pos, group = pos[order], group[order]
        keep = np.arange(len(pos)) - first_of_group < k
        pos, group = pos[keep], group[keep]
        i_seq = S.indices[pos].astype(np.int64)
        w = S.data[pos].astype(np.float64)
        np.add.at(num, i_seq, w * r[group])
        np.add.at(den, i_seq, np.abs(w))
        uniq, first = np.unique(i_seq, return_index=True)
        touched = uniq[np.argsort(first, kind="stable")]
        if normalize:
            values = num[touched] / den[touched] + (item_mean[touched] if center else 0.0)
        else:
            values = num[touched]
        out_idx.append(touched.astype(np.int32))
        out_val.append(values.astype(np.float32))
        indptr[t + 1] = indptr[t] + len(touched)
        num[touched] = 0.0
        den[touched] = 0.0
    indices = np.concatenate(out_idx) if out_idx else np.zeros(0, np.int32)
    data = np.concatenate(out_val) if out_val else np.zeros(0, np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(users), n_items))


def _row_order(group: np.ndarray, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The order that sorts entries by ``group``, then as :func:`~._knn_kernels.sort_rows_desc`
    sorts a row: the same 64-bit key (the float32's bits mapped to sort by value descending,
    -0.0 after 0.0, in the high half; the column in the low half), ascending."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    sign = np.uint32(0x80000000)
    asc = np.where(bits & sign, ~bits, bits | sign)
    keys = ((~asc).astype(np.uint64) << np.uint64(32)) | indices.astype(np.uint64)
    return np.lexsort((keys, group))
