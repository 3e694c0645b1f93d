"""The neighbourhood models' kernels for one request's users, in numpy, without numba.

Each function here gives exactly what its kernel in :mod:`._knn_kernels` gives (the same
entries in the same order, the same bits: tests/algorithms/test_knn.py compares them for every
configuration), so that loading a saved item-cf, user-cf or hybrid and answering one user
neither imports numba nor loads its compiled kernels (about 0.6 s of a whole process):

* :func:`item_knn_score_few`, :func:`user_knn_score_few`, :func:`user_knn_score_sum_few`:
  top-N score blocks;
* :func:`item_knn_predict_few`, :func:`user_knn_predict_few`: eq. 4 and eq. 3 for pairs
  grouped by user.

They take the similarity rows they need from ``rows_of(rows)``: the model's sorted neighbour
rows when a kernel has already built them (a warm service), else only those rows of the
stored similarity sorted on the spot, in the kernels' order (:func:`sorted_rows`). Sums run in
float64 in the kernels' order: ``np.add.at`` adds in the order of its index array, and every
array below is laid out in the order the kernel walks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["RowsOf", "gathered_rows", "item_knn_predict_few", "item_knn_score_few",
           "sorted_rows", "user_knn_predict_few", "user_knn_score_few", "user_knn_score_sum_few"]

#: The fallback codes of the kernels (:data:`._knn_kernels.NO_FALLBACK`, ``NO_NEIGHBORS``).
_NO_FALLBACK = 0
_NO_NEIGHBORS = 4


#: ``rows_of(rows) -> (indptr over rows, indices, values)``: similarity rows in kernel order.
RowsOf = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def item_knn_score_few(users: np.ndarray, X: sp.csr_matrix, rows_of: RowsOf, n_items: int,
                       k: int, x_data: np.ndarray,
                       item_mean: np.ndarray, center: bool, normalize: bool) -> sp.csr_matrix:
    """:func:`~._knn_kernels.item_knn_score` for a few ``users`` (arguments as there; ``X``
    the training matrix, ``rows_of`` the similarity's rows, ``x_data`` the values used).

    The same block, entry for entry and bit for bit: the rated items in the training row's
    order, each one's ``k`` best stored neighbours in the kernel's order (value descending,
    ties to the lower index, :func:`_row_order`), the terms summed in float64 in that order
    (``np.add.at`` adds in index order) and the candidates in order of first appearance. Only
    the similarity rows of the users' items are sorted.
    """
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
        rows_ptr, i_all, w_all = rows_of(js)
        group = np.repeat(np.arange(len(js)), np.diff(rows_ptr))
        keep = _first_per_group(group, k)
        i_seq = i_all[keep].astype(np.int64)
        w = w_all[keep].astype(np.float64)
        group = group[keep]
        np.add.at(num, i_seq, w * r[group])
        np.add.at(den, i_seq, np.abs(w))
        touched = _first_seen(i_seq)
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


def gathered_rows(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
                  rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``rows`` (repeats allowed) of CSR arrays already in kernel order:
    ``(indptr over rows, indices int32, values float32)``."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    out_ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=out_ptr[1:])
    pos = np.arange(int(out_ptr[-1])) - np.repeat(out_ptr[:-1], lengths) \
        + np.repeat(starts, lengths)
    return out_ptr, indices[pos].astype(np.int32), values[pos].astype(np.float32)


def sorted_rows(S: sp.csr_matrix, rows: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``rows`` of ``S`` (repeats allowed), each in the kernels' order (value descending,
    ties to the lower column): ``(indptr over rows, indices int32, values float32)``."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = S.indptr[rows].astype(np.int64)
    lengths = S.indptr[rows + 1].astype(np.int64) - starts
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    group = np.repeat(np.arange(len(rows)), lengths)
    pos = np.arange(int(indptr[-1])) - np.repeat(indptr[:-1], lengths) + np.repeat(starts, lengths)
    pos = pos[_row_order(group, S.indices[pos], S.data[pos])]
    return indptr, S.indices[pos].astype(np.int32), S.data[pos].astype(np.float32)


def _first_per_group(group: np.ndarray, k: int) -> np.ndarray:
    """Mask of the first ``k`` entries of each run of equal, ascending ``group`` values."""
    if len(group) == 0:
        return np.zeros(0, bool)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    run = np.diff(np.r_[starts, len(group)])
    return np.arange(len(group)) - np.repeat(starts, run) < k


def _occurrence(values: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries hold the same value (0 for the first)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(values) else \
        np.zeros(0, np.int64)
    run = np.diff(np.r_[starts, len(values)])
    out = np.empty(len(values), np.int64)
    out[order] = np.arange(len(values)) - np.repeat(starts, run)
    return out


def _first_seen(values: np.ndarray) -> np.ndarray:
    """The distinct values in order of first appearance."""
    uniq, first = np.unique(values, return_index=True)
    return uniq[np.argsort(first, kind="stable")]


def _block(rows: list[np.ndarray], vals: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    data = np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_items))


def _neighbour_walk(X: sp.csr_matrix, nbrs: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of the training rows ``nbrs`` in walk order: ``(position of the
    neighbour, item, value)``, each row's items in stored order."""
    lengths = (X.indptr[nbrs + 1] - X.indptr[nbrs]).astype(np.int64)
    starts = X.indptr[nbrs].astype(np.int64)
    pos = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths) \
        + np.repeat(starts, lengths)
    return np.repeat(np.arange(len(nbrs)), lengths), X.indices[pos].astype(np.int64), \
        X.data[pos]


def user_knn_score_sum_few(users: np.ndarray, k: int, rows_of: RowsOf,
                           X: sp.csr_matrix) -> sp.csr_matrix:
    """:func:`~._knn_kernels.user_knn_score_sum` for a few ``users``: ``sum w`` over the
    user's ``k`` nearest neighbours who have the item, items in order of first appearance."""
    rows: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for a in np.asarray(users, dtype=np.int64):
        _, nbrs, sims = rows_of(np.array([a]))
        nbrs, sims = nbrs[:k].astype(np.int64), sims[:k].astype(np.float64)
        p, items, _ = _neighbour_walk(X, nbrs)
        acc = np.zeros(X.shape[1], np.float64)
        np.add.at(acc, items, sims[p])
        touched = _first_seen(items)
        rows.append(touched)
        vals.append(acc[touched].astype(np.float32))
    return _block(rows, vals, X.shape[1])


def user_knn_score_few(users: np.ndarray, k: int, rows_of: RowsOf, X: sp.csr_matrix,
                       user_mean: np.ndarray, signed: bool) -> sp.csr_matrix:
    """:func:`~._knn_kernels.user_knn_score` for a few ``users`` (each neighbour's own mean,
    ``neighbor_mean="all"``): eq. 3 over each item's ``k`` most similar raters among the
    stored neighbours, for the items one of the ``k`` nearest neighbours rated."""
    rows: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    n_items = X.shape[1]
    for a in np.asarray(users, dtype=np.int64):
        _, nbrs, sims = rows_of(np.array([a]))
        nbrs = nbrs.astype(np.int64)
        p, items, x = _neighbour_walk(X, nbrs)
        counted = _occurrence(items) < k
        w = sims[p].astype(np.float64)
        num = np.zeros(n_items, np.float64)
        den = np.zeros(n_items, np.float64)
        np.add.at(num, items[counted],
                  (w * (x.astype(np.float64) - user_mean[nbrs[p]]))[counted])
        np.add.at(den, items[counted], (w if signed else np.abs(w))[counted])
        near = np.zeros(n_items, bool)
        near[items[p < k]] = True
        touched = _first_seen(items)
        touched = touched[near[touched]]
        d = den[touched]
        ratio = np.divide(num[touched], d, out=np.zeros(len(touched)), where=d != 0.0)
        rows.append(touched)
        vals.append((user_mean[a] + ratio).astype(np.float32))
    return _block(rows, vals, n_items)


def _grouped(group_users: np.ndarray, group_starts: np.ndarray
             ) -> list[tuple[int, slice]]:
    return [(int(a), slice(int(group_starts[g]), int(group_starts[g + 1])))
            for g, a in enumerate(group_users)]


def item_knn_predict_few(group_users: np.ndarray, group_starts: np.ndarray,
                         pair_items: np.ndarray, k: int, rows_of: RowsOf, X: sp.csr_matrix,
                         x_data: np.ndarray, item_mean: np.ndarray, center: bool,
                         out_value: np.ndarray, out_nbrs: np.ndarray,
                         out_code: np.ndarray) -> None:
    """:func:`~._knn_kernels.item_knn_predict` for pairs of a few users (same layout)."""
    n_items = X.shape[1]
    rated = np.zeros(n_items, bool)
    rating = np.zeros(n_items, np.float64)
    for a, sl in _grouped(group_users, group_starts):
        lo, hi = X.indptr[a], X.indptr[a + 1]
        rated[X.indices[lo:hi]] = True
        rating[X.indices[lo:hi]] = x_data[lo:hi]
        items = np.asarray(pair_items[sl], dtype=np.int64)
        indptr, js, w = rows_of(items)
        group = np.repeat(np.arange(len(items)), np.diff(indptr))
        hit = rated[js]
        group, js, w = group[hit], js[hit].astype(np.int64), w[hit].astype(np.float64)
        keep = _first_per_group(group, k)
        group, js, w = group[keep], js[keep], w[keep]
        r = rating[js] - item_mean[js] if center else rating[js]
        s = np.zeros(len(items), np.float64)
        d = np.zeros(len(items), np.float64)
        np.add.at(s, group, w * r)
        np.add.at(d, group, np.abs(w))
        c = np.bincount(group, minlength=len(items))
        has = c > 0
        value = np.divide(s, d, out=np.zeros(len(items)), where=has)
        value = np.where(has, value + (item_mean[items] if center else 0.0), item_mean[items])
        out_value[sl] = value
        out_nbrs[sl] = c
        out_code[sl] = np.where(has, _NO_FALLBACK, _NO_NEIGHBORS)
        rated[X.indices[lo:hi]] = False


def user_knn_predict_few(group_users: np.ndarray, group_starts: np.ndarray,
                         pair_items: np.ndarray, k: int, rows_of: RowsOf,
                         XT: sp.csr_matrix, user_mean: np.ndarray, signed: bool,
                         out_value: np.ndarray, out_nbrs: np.ndarray,
                         out_code: np.ndarray) -> None:
    """:func:`~._knn_kernels.user_knn_predict` for pairs of a few users (same layout; each
    neighbour's own mean, ``neighbor_mean="all"``; ``XT``: the training matrix transposed)."""
    rank = np.zeros(XT.shape[1], np.int64)  # 1 + position in a's neighbour list, 0 = none
    for a, sl in _grouped(group_users, group_starts):
        _, nbrs, sims = rows_of(np.array([a]))
        rank[nbrs] = np.arange(1, len(nbrs) + 1)
        items = np.asarray(pair_items[sl], dtype=np.int64)
        lengths = (XT.indptr[items + 1] - XT.indptr[items]).astype(np.int64)
        pos = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths) \
            + np.repeat(XT.indptr[items].astype(np.int64), lengths)
        pair = np.repeat(np.arange(len(items)), lengths)
        r = rank[XT.indices[pos]]
        hit = r > 0
        pair, r, x = pair[hit], r[hit] - 1, XT.data[pos][hit].astype(np.float64)
        order = np.lexsort((r, pair))  # each pair's raters by their rank
        pair, r, x = pair[order], r[order], x[order]
        keep = _first_per_group(pair, k)
        pair, r, x = pair[keep], r[keep], x[keep]
        v = nbrs[r].astype(np.int64)
        w = sims[r].astype(np.float64)
        num = np.zeros(len(items), np.float64)
        den = np.zeros(len(items), np.float64)
        np.add.at(num, pair, w * (x - user_mean[v]))
        np.add.at(den, pair, w if signed else np.abs(w))
        found = np.bincount(pair, minlength=len(items))
        ok = (found > 0) & (den != 0.0)
        ratio = np.divide(num, den, out=np.zeros(len(items)), where=ok)
        out_value[sl] = np.where(ok, user_mean[a] + ratio, user_mean[a])
        out_nbrs[sl] = np.where(ok, found, 0)
        out_code[sl] = np.where(ok, _NO_FALLBACK, _NO_NEIGHBORS)
        rank[nbrs] = 0
