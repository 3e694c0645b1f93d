"""Compiled loops of the neighbourhood models (private; see ``knn.py``).

Every kernel works on plain CSR arrays:

* ``x_*``: the users x items training matrix (sorted column indices);
* ``nb_*``: the stored similarity rows with each row ordered by *descending* similarity, ties by
  the lower index (:func:`sort_rows_desc`), so that "the ``k`` most similar neighbours that
  satisfy a condition" is the first ``k`` that satisfy it in a walk along the row;
* ``xt_*`` (user-based prediction): the training matrix transposed (items x users);
* ``nb_mean`` (user-based): the neighbour's mean of eq. 3 per stored neighbour entry (aligned
  with ``nb_idx``, see :func:`corated_means`), or an empty array to read ``user_mean[v]``;
* ``signed`` (user-based): divide eq. 3 by ``sum w`` (as printed in the paper) instead of
  ``sum |w|``; a sum of exactly 0 leaves the pair without a prediction.

Work on user batches is dealt round-robin to ``n_blocks`` parallel blocks, each owning its
``n_items``-long accumulators (so no allocation per user and no sharing between threads); the
result does not depend on the number of blocks or threads.

Each kernel is tested against a slow, obviously-correct Python reference in
``tests/algorithms/test_knn.py``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "NO_FALLBACK",
    "NO_NEIGHBORS",
    "compact_rows",
    "corated_means",
    "item_knn_predict",
    "item_knn_score",
    "item_knn_score_bounds",
    "sort_rows_desc",
    "user_knn_predict",
    "user_knn_score",
    "user_knn_score_bounds",
]

# the fallback codes of synerec.algorithms.base (kept in sync by a test)
NO_FALLBACK = 0
NO_NEIGHBORS = 4


@nb.njit(cache=True, nogil=True, parallel=True)
def sort_rows_desc(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each CSR row's entries ordered by value descending, ties by the lower column index.

    ``data`` is float32 without NaN. Each entry becomes one unique 64-bit key, the float's
    bits mapped to an unsigned integer that sorts in *descending* value order in the high half
    and the column index in the low half, so one plain sort per row gives the order. Returns
    ``(indices, values)`` (int32, float32) sharing ``indptr``.
    """
    n = indptr.shape[0] - 1
    bits = data.view(np.uint32)
    out_idx = np.empty(indices.shape[0], np.int32)
    out_bits = np.empty(indices.shape[0], np.uint32)
    sign = np.uint32(0x80000000)
    low = np.uint64(0xFFFFFFFF)
    shift = np.uint64(32)
    for r in nb.prange(n):
        lo = indptr[r]
        m = indptr[r + 1] - lo
        if m == 0:
            continue
        keys = np.empty(m, np.uint64)
        for p in range(m):
            u = bits[lo + p]
            # ascending-sortable image of the float, then complemented: descending
            asc = ~u if u & sign else u | sign
            keys[p] = (np.uint64(~asc) << shift) | np.uint64(indices[lo + p])
        keys.sort()
        for p in range(m):
            key = keys[p]
            asc = ~np.uint32(key >> shift)
            out_bits[lo + p] = asc & ~sign if asc & sign else ~asc
            out_idx[lo + p] = np.int32(key & low)
    return out_idx, out_bits.view(np.float32)


# -- user-based (the paper's eq. 3) ------------------------------------------------------------


@nb.njit(cache=True, nogil=True, parallel=True)
def corated_means(
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    x_data: np.ndarray,
    user_mean: np.ndarray,
    n_items: int,
    n_blocks: int,
) -> np.ndarray:
    """For each stored neighbour ``v`` of each user ``a`` (entry ``p`` of ``nb_idx``), the
    mean of ``v``'s ratings of the items ``a`` also rated; ``user_mean[v]`` when there are
    none. float64, aligned with ``nb_idx``.
    """
    n = nb_indptr.shape[0] - 1
    out = np.empty(nb_idx.shape[0], np.float64)
    for blk in nb.prange(n_blocks):
        mark = np.zeros(n_items, np.bool_)
        for a in range(blk, n, n_blocks):
            lo = nb_indptr[a]
            hi = nb_indptr[a + 1]
            if lo == hi:
                continue
            for q in range(x_indptr[a], x_indptr[a + 1]):
                mark[x_indices[q]] = True
            for p in range(lo, hi):
                v = nb_idx[p]
                total = 0.0
                count = 0
                for q in range(x_indptr[v], x_indptr[v + 1]):
                    if mark[x_indices[q]]:
                        total += np.float64(x_data[q])
                        count += 1
                out[p] = total / count if count > 0 else user_mean[v]
            for q in range(x_indptr[a], x_indptr[a + 1]):
                mark[x_indices[q]] = False
    return out


@nb.njit(cache=True, nogil=True)
def _user_row(
    a: int,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    x_data: np.ndarray,
    user_mean: np.ndarray,
    nb_mean: np.ndarray,
    signed: bool,
    num: np.ndarray,
    den: np.ndarray,
    cnt: np.ndarray,
    cand: np.ndarray,
    touched: np.ndarray,
) -> int:
    """Accumulate eq. 3 for user ``a`` and every item a stored neighbour rated.

    Neighbours are visited by descending similarity; an item takes a neighbour's rating only
    while it has fewer than ``k``, so each item ends with exactly its ``k`` most similar raters
    among the stored neighbours. ``cand[i]`` is set when one of ``a``'s ``k`` nearest
    neighbours (overall) rated ``i``. Returns how many items were touched (listed in
    ``touched``).
    """
    nt = 0
    start = nb_indptr[a]
    own_means = nb_mean.shape[0] > 0
    for p in range(start, nb_indptr[a + 1]):
        v = nb_idx[p]
        w = np.float64(nb_sim[p])
        aw = w if signed else abs(w)
        mv = nb_mean[p] if own_means else user_mean[v]
        near = p - start < k
        for q in range(x_indptr[v], x_indptr[v + 1]):
            i = x_indices[q]
            c = cnt[i]
            if c == 0:
                touched[nt] = i
                nt += 1
            if c < k:
                cnt[i] = c + 1
                num[i] += w * (np.float64(x_data[q]) - mv)
                den[i] += aw
                if near:
                    cand[i] = True
    return nt


@nb.njit(cache=True, nogil=True, parallel=True)
def user_knn_predict(
    group_users: np.ndarray,
    group_starts: np.ndarray,
    pair_items: np.ndarray,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    xt_indptr: np.ndarray,
    xt_indices: np.ndarray,
    xt_data: np.ndarray,
    user_mean: np.ndarray,
    nb_mean: np.ndarray,
    signed: bool,
    n_users: int,
    n_blocks: int,
    out_value: np.ndarray,
    out_nbrs: np.ndarray,
    out_code: np.ndarray,
) -> None:
    """Eq. 3 for (user, item) pairs grouped by user.

    Pairs ``group_starts[g]:group_starts[g + 1]`` (of ``pair_items`` / ``out_*``) belong to user
    ``group_users[g]``. ``p = mean(a) + sum_K w (r - mean(v)) / sum_K |w|`` (``signed``:
    ``sum_K w``; ``mean(v)`` from ``nb_mean`` when it is not empty); an item that no stored
    neighbour rated (or whose signed sum is 0) gets ``mean(a)`` with code
    :data:`NO_NEIGHBORS`.

    ``xt_*`` is the training matrix transposed (items x users). For each pair the item's raters
    are marked at their rank in ``a``'s neighbour list, and the ranks are read in order until
    ``k`` are found: the same neighbours, added in the same order, as :func:`_user_row`, for a
    cost of the item's number of raters plus the ranks scanned.
    """
    n_groups = group_users.shape[0]
    own_means = nb_mean.shape[0] > 0
    max_rank = 0
    for g in range(n_groups):
        a = group_users[g]
        max_rank = max(max_rank, nb_indptr[a + 1] - nb_indptr[a])
    for blk in nb.prange(n_blocks):
        rank = np.zeros(n_users, np.int64)  # 1 + position in a's neighbour list, 0 = none
        hit = np.zeros(max_rank, np.bool_)
        value = np.zeros(max_rank, np.float64)
        for g in range(blk, n_groups, n_blocks):
            a = group_users[g]
            start = nb_indptr[a]
            stop = nb_indptr[a + 1]
            for p in range(start, stop):
                rank[nb_idx[p]] = p - start + 1
            mean_a = user_mean[a]
            for t in range(group_starts[g], group_starts[g + 1]):
                i = pair_items[t]
                n_hit = 0
                for q in range(xt_indptr[i], xt_indptr[i + 1]):
                    r = rank[xt_indices[q]]
                    if r > 0:
                        hit[r - 1] = True
                        value[r - 1] = xt_data[q]
                        n_hit += 1
                want = min(n_hit, k)
                num = 0.0
                den = 0.0
                found = 0
                pos = 0
                while found < want:
                    if hit[pos]:
                        v = nb_idx[start + pos]
                        w = np.float64(nb_sim[start + pos])
                        mv = nb_mean[start + pos] if own_means else user_mean[v]
                        num += w * (value[pos] - mv)
                        den += w if signed else abs(w)
                        found += 1
                    pos += 1
                if n_hit > want:  # unmark the raters beyond the k-th
                    for q in range(xt_indptr[i], xt_indptr[i + 1]):
                        r = rank[xt_indices[q]]
                        if r > 0:
                            hit[r - 1] = False
                else:
                    for z in range(pos):
                        hit[z] = False
                if found > 0 and den != 0.0:
                    out_value[t] = mean_a + num / den
                    out_nbrs[t] = found
                    out_code[t] = NO_FALLBACK
                else:
                    out_value[t] = mean_a
                    out_nbrs[t] = 0
                    out_code[t] = NO_NEIGHBORS
            for p in range(start, stop):
                rank[nb_idx[p]] = 0


@nb.njit(cache=True, nogil=True)
def user_knn_score_bounds(
    users: np.ndarray, k: int, nb_indptr: np.ndarray, nb_idx: np.ndarray, x_indptr: np.ndarray
) -> np.ndarray:
    """Upper bound of each user's candidates: ratings held by its ``k`` nearest neighbours."""
    out = np.zeros(users.shape[0], np.int64)
    for t in range(users.shape[0]):
        a = users[t]
        start = nb_indptr[a]
        stop = min(nb_indptr[a + 1], start + k)
        total = 0
        for p in range(start, stop):
            v = nb_idx[p]
            total += x_indptr[v + 1] - x_indptr[v]
        out[t] = total
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def user_knn_score(
    users: np.ndarray,
    offsets: np.ndarray,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    x_data: np.ndarray,
    user_mean: np.ndarray,
    nb_mean: np.ndarray,
    signed: bool,
    n_items: int,
    n_blocks: int,
    out_idx: np.ndarray,
    out_val: np.ndarray,
    out_cnt: np.ndarray,
) -> None:
    """Top-N scores: eq. 3 for the items that a user's ``k`` nearest neighbours rated
    (``mean(a)`` where a signed denominator is 0, as :func:`user_knn_predict`).

    User ``users[t]`` writes its candidates (any order) at ``out_*[offsets[t]:]`` and their
    number in ``out_cnt[t]``; ``offsets`` comes from :func:`user_knn_score_bounds`.
    """
    n_users = users.shape[0]
    for blk in nb.prange(n_blocks):
        num = np.zeros(n_items, np.float64)
        den = np.zeros(n_items, np.float64)
        cnt = np.zeros(n_items, np.int32)
        cand = np.zeros(n_items, np.bool_)
        touched = np.empty(n_items, np.int32)
        for t in range(blk, n_users, n_blocks):
            a = users[t]
            nt = _user_row(a, k, nb_indptr, nb_idx, nb_sim, x_indptr, x_indices, x_data,
                           user_mean, nb_mean, signed, num, den, cnt, cand, touched)
            mean_a = user_mean[a]
            pos = offsets[t]
            for s in range(nt):
                i = touched[s]
                if cand[i]:
                    out_idx[pos] = i
                    out_val[pos] = mean_a + (num[i] / den[i] if den[i] != 0.0 else 0.0)
                    pos += 1
                num[i] = 0.0
                den[i] = 0.0
                cnt[i] = 0
                cand[i] = False
            out_cnt[t] = pos - offsets[t]


@nb.njit(cache=True, nogil=True, parallel=True)
def user_knn_score_sum(
    users: np.ndarray,
    offsets: np.ndarray,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    n_items: int,
    n_blocks: int,
    out_idx: np.ndarray,
    out_val: np.ndarray,
    out_cnt: np.ndarray,
) -> None:
    """Top-N scores: ``sum w(a, u)`` over the user's ``k`` nearest neighbours ``u`` who
    interacted with the item (the paper's "items the K nearest users rated or bought").

    Same candidates and output layout as :func:`user_knn_score`.
    """
    n_users = users.shape[0]
    for blk in nb.prange(n_blocks):
        acc = np.zeros(n_items, np.float64)
        seen = np.zeros(n_items, np.bool_)
        touched = np.empty(n_items, np.int32)
        for t in range(blk, n_users, n_blocks):
            a = users[t]
            nt = 0
            start = nb_indptr[a]
            stop = min(nb_indptr[a + 1], start + k)
            for p in range(start, stop):
                v = nb_idx[p]
                w = np.float64(nb_sim[p])
                for q in range(x_indptr[v], x_indptr[v + 1]):
                    i = x_indices[q]
                    if not seen[i]:
                        seen[i] = True
                        touched[nt] = i
                        nt += 1
                    acc[i] += w
            pos = offsets[t]
            for s in range(nt):
                i = touched[s]
                out_idx[pos] = i
                out_val[pos] = acc[i]
                pos += 1
                acc[i] = 0.0
                seen[i] = False
            out_cnt[t] = pos - offsets[t]


# -- item-based (the paper's eq. 4) ------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
def _item_walk(
    i: int,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    rated: np.ndarray,
    rating: np.ndarray,
    item_mean: np.ndarray,
    center: bool,
) -> tuple[float, float, int]:
    """``(sum w r, sum |w|, count)`` over the ``k`` most similar items to ``i`` that are rated.

    ``rated``/``rating`` are the user's ratings scattered over all items; with ``center`` each
    rating is taken relative to its item's mean.
    """
    s = 0.0
    d = 0.0
    c = 0
    for q in range(nb_indptr[i], nb_indptr[i + 1]):
        j = nb_idx[q]
        if rated[j]:
            w = np.float64(nb_sim[q])
            r = rating[j]
            if center:
                r -= item_mean[j]
            s += w * r
            d += abs(w)
            c += 1
            if c == k:
                break
    return s, d, c


@nb.njit(cache=True, nogil=True, parallel=True)
def item_knn_predict(
    group_users: np.ndarray,
    group_starts: np.ndarray,
    pair_items: np.ndarray,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    x_data: np.ndarray,
    item_mean: np.ndarray,
    center: bool,
    n_items: int,
    n_blocks: int,
    out_value: np.ndarray,
    out_nbrs: np.ndarray,
    out_code: np.ndarray,
) -> None:
    """Eq. 4 for (user, item) pairs grouped by user (layout as in :func:`user_knn_predict`).

    ``p = sum_K w r / sum_K |w|`` (``center``: ``mean(i) + sum_K w (r - mean(j)) / sum_K |w|``)
    over the ``k`` items most similar to ``i`` among those the user rated; without such an
    item, ``mean(i)`` with code :data:`NO_NEIGHBORS`.
    """
    n_groups = group_users.shape[0]
    for blk in nb.prange(n_blocks):
        rated = np.zeros(n_items, np.bool_)
        rating = np.zeros(n_items, np.float64)
        for g in range(blk, n_groups, n_blocks):
            a = group_users[g]
            for q in range(x_indptr[a], x_indptr[a + 1]):
                rated[x_indices[q]] = True
                rating[x_indices[q]] = x_data[q]
            for p in range(group_starts[g], group_starts[g + 1]):
                i = pair_items[p]
                s, d, c = _item_walk(i, k, nb_indptr, nb_idx, nb_sim, rated, rating,
                                     item_mean, center)
                if c > 0:
                    out_value[p] = s / d + (item_mean[i] if center else 0.0)
                    out_nbrs[p] = c
                    out_code[p] = NO_FALLBACK
                else:
                    out_value[p] = item_mean[i]
                    out_nbrs[p] = 0
                    out_code[p] = NO_NEIGHBORS
            for q in range(x_indptr[a], x_indptr[a + 1]):
                rated[x_indices[q]] = False


@nb.njit(cache=True, nogil=True)
def item_knn_score_bounds(
    users: np.ndarray, k: int, x_indptr: np.ndarray, x_indices: np.ndarray, nb_indptr: np.ndarray
) -> np.ndarray:
    """Upper bound of each user's candidates: ``min(k, stored)`` neighbours per rated item."""
    out = np.zeros(users.shape[0], np.int64)
    for t in range(users.shape[0]):
        a = users[t]
        total = 0
        for q in range(x_indptr[a], x_indptr[a + 1]):
            j = x_indices[q]
            total += min(k, nb_indptr[j + 1] - nb_indptr[j])
        out[t] = total
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def item_knn_score(
    users: np.ndarray,
    offsets: np.ndarray,
    k: int,
    nb_indptr: np.ndarray,
    nb_idx: np.ndarray,
    nb_sim: np.ndarray,
    x_indptr: np.ndarray,
    x_indices: np.ndarray,
    x_data: np.ndarray,
    item_mean: np.ndarray,
    center: bool,
    normalize: bool,
    n_items: int,
    n_blocks: int,
    out_idx: np.ndarray,
    out_val: np.ndarray,
    out_cnt: np.ndarray,
) -> None:
    """Top-N scores over the items similar to the user's items (Deshpande and Karypis).

    Candidates: the union of the ``k`` most similar stored neighbours of each item ``j`` the
    user rated. Score of candidate ``i``: eq. 4 over the rated items that listed it,
    ``sum w(j,i) r_j / sum |w(j,i)|`` (``center``: ``mean(i) + sum w(j,i) (r_j - mean(j)) /
    sum |w(j,i)|``); with ``normalize=False`` the plain sum ``sum w(j,i) r_j`` (Deshpande and
    Karypis's score when ``r_j = 1``). Output layout as in :func:`user_knn_score`.
    """
    n_users = users.shape[0]
    for blk in nb.prange(n_blocks):
        num = np.zeros(n_items, np.float64)
        den = np.zeros(n_items, np.float64)
        seen = np.zeros(n_items, np.bool_)
        touched = np.empty(n_items, np.int32)
        for t in range(blk, n_users, n_blocks):
            a = users[t]
            nt = 0
            for q in range(x_indptr[a], x_indptr[a + 1]):
                j = x_indices[q]
                r = np.float64(x_data[q])
                if center:
                    r -= item_mean[j]
                lo = nb_indptr[j]
                hi = min(nb_indptr[j + 1], lo + k)
                for p in range(lo, hi):
                    i = nb_idx[p]
                    w = np.float64(nb_sim[p])
                    if not seen[i]:
                        seen[i] = True
                        touched[nt] = i
                        nt += 1
                    num[i] += w * r
                    den[i] += abs(w)
            pos = offsets[t]
            for s in range(nt):
                i = touched[s]
                out_idx[pos] = i
                if normalize:
                    out_val[pos] = num[i] / den[i] + (item_mean[i] if center else 0.0)
                else:
                    out_val[pos] = num[i]
                pos += 1
                num[i] = 0.0
                den[i] = 0.0
                seen[i] = False
            out_cnt[t] = pos - offsets[t]


@nb.njit(cache=True, nogil=True)
def compact_rows(
    offsets: np.ndarray, counts: np.ndarray, idx: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR ``(indptr, indices, data)`` from rows written at ``offsets`` with ``counts`` entries."""
    n = counts.shape[0]
    indptr = np.zeros(n + 1, np.int64)
    for t in range(n):
        indptr[t + 1] = indptr[t] + counts[t]
    out_idx = np.empty(indptr[n], np.int32)
    out_val = np.empty(indptr[n], val.dtype)
    for t in range(n):
        src = offsets[t]
        dst = indptr[t]
        for p in range(counts[t]):
            out_idx[dst + p] = idx[src + p]
            out_val[dst + p] = val[src + p]
    return indptr, out_idx, out_val
