"""The one top-k ranking routine that every model's ``recommend`` uses.

Models *score* (a dense ``(users, items)`` block of numbers); this module *ranks*: it drops the
items a user must not get (already seen, outside a candidate set, or scored with a non-finite
number), keeps the ``n`` best, breaks ties by the lower item index and pads short lists.

Models that score only a few candidate items per user (the neighbourhood models) hand over a
sparse block instead; :func:`topk_sparse` ranks it with exactly the rules of :func:`topk`, an
unstored entry counting as "not rankable", in time proportional to the stored entries.

Blocks of at most :data:`SMALL_BLOCK` rows (one request's user) are ranked by numpy, larger
ones by a numba kernel (:mod:`synerec._topk_kernels`, imported on first use), dense float32 /
float64 blocks read in place by a bounded heap per row; both follow the same rules and give the
same lists (a hypothesis test runs both against the reference).

This module was ``synerec.topk``; it is named ``topk`` so that it is not confused with
:mod:`synerec.metrics.ranking` (the ranking *metrics*). ``synerec.topk`` still re-exports it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from synerec._list_length import check_list_length

__all__ = ["PAD_INDEX", "SMALL_BLOCK", "topk", "topk_sparse"]

#: Item index that pads a row with fewer than ``n`` rankable items (its score is ``-inf``).
PAD_INDEX = -1

#: :func:`topk` ranks blocks of at most this many rows with numpy, without loading the numba
#: kernels; so does :func:`topk_sparse` (for at most :data:`_SMALL_CELLS` rows x items).
SMALL_BLOCK = 16
_SMALL_CELLS = 1 << 22


def topk(
    scores: np.ndarray,
    n: int,
    exclude: sp.spmatrix | sp.sparray | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` highest-scoring items of each row.

    Parameters
    ----------
    scores
        ``(b, n_items)`` (or ``(n_items,)``, treated as one row) real scores; higher is better.
        Ranking is done in the array's own floating precision (float32 stays float32).
    n
        List length, ``>= 0``.
    exclude
        Optional ``(b, n_items)`` sparse matrix: every *stored* entry ``(r, j)`` removes item
        ``j`` from row ``r`` (typically the user's training interactions), whatever its value.
    candidates
        Optional boolean mask of the items that may be ranked: ``(n_items,)`` for all rows or
        ``(b, n_items)`` per row.

    Returns
    -------
    indices : numpy.ndarray
        ``(b, n)`` int64 item indices, best first. Equal scores are ordered by the lower item
        index. Rows with fewer than ``n`` rankable items are padded with :data:`PAD_INDEX`.
    top_scores : numpy.ndarray
        ``(b, n)`` float32 scores of those items; ``-inf`` at padding.

    Notes
    -----
    Excluded items, items outside ``candidates`` and items whose score is NaN or infinite never
    appear. The cost is ``O(b * n_items)`` (one partition per row, no full sort) plus
    ``O(b * n log n)`` to order the winners.

    Examples
    --------
    >>> idx, sc = topk(np.array([[0.5, 2.0, 2.0, np.nan]]), 3)
    >>> idx.tolist(), sc.tolist()
    ([[1, 2, 0]], [[2.0, 2.0, 0.5]])
    """
    n = check_list_length(n)
    s = np.asarray(scores)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2:
        raise ValueError(f"scores must be a (rows, items) array, got shape {s.shape}")
    if s.dtype.kind not in "fiub":
        raise TypeError(f"scores must be real numbers, got dtype {s.dtype}")
    b, n_items = s.shape
    ex = None
    if exclude is not None:
        ex = sp.csr_matrix(exclude)
        if ex.shape != (b, n_items):
            raise ValueError(f"exclude has shape {ex.shape}, scores have shape {(b, n_items)}")
    cand = None if candidates is None else _candidate_mask(candidates, b, n_items)
    k = min(n, n_items)
    out_idx = np.full((b, n), PAD_INDEX, dtype=np.int64)
    out_sc = np.full((b, n), -np.inf, dtype=np.float32)
    if b == 0 or k == 0:
        return out_idx, out_sc
    if b > SMALL_BLOCK and s.dtype in (np.float32, np.float64):
        _topk_dense_kernel(s, ex, cand, out_idx, out_sc)
        return out_idx, out_sc

    dtype = s.dtype if s.dtype.kind == "f" else np.dtype(np.float64)
    # Our own copy: invalid entries become -inf, the one value that marks "not rankable".
    s = np.array(s, dtype=dtype, copy=True)
    s[~np.isfinite(s)] = -np.inf
    if ex is not None:
        rows = np.repeat(np.arange(b), np.diff(ex.indptr))
        s[rows, ex.indices] = -np.inf
    if cand is not None:
        s[np.broadcast_to(~cand, s.shape)] = -np.inf

    if k == n_items:
        chosen = np.broadcast_to(np.arange(n_items), (b, n_items))
    else:
        chosen = _select(s, k)
    vals = np.take_along_axis(s, chosen, axis=1)
    # Order winners by score descending, then index ascending (lexsort: last key is primary).
    order = np.lexsort((chosen, -vals), axis=1)
    chosen = np.take_along_axis(chosen, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    valid = vals > -np.inf
    out_idx[:, :k] = np.where(valid, chosen, PAD_INDEX)
    out_sc[:, :k] = np.where(valid, vals, -np.inf).astype(np.float32)
    return out_idx, out_sc


def _exclusion_arrays(ex: sp.csr_matrix | None, b: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' exclusion pattern: ``ex``'s int64 ``indptr`` and ``indices`` sorted per row
    (an empty pattern of ``b`` rows for ``None``)."""
    if ex is None:
        return np.zeros(b + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if not ex.has_sorted_indices:
        ex = ex.copy()
        ex.sort_indices()
    return ex.indptr.astype(np.int64, copy=False), ex.indices.astype(np.int64, copy=False)


def _topk_dense_kernel(s: np.ndarray, ex: sp.csr_matrix | None, cand: np.ndarray | None,
                       out_idx: np.ndarray, out_sc: np.ndarray) -> None:
    """:func:`topk` of a float32 / float64 block by :func:`synerec._topk_kernels.topk_dense`
    (same rules and lists, the scores read in place: no copy, no partition, no sort)."""
    from synerec._topk_kernels import topk_dense

    b, n_items = s.shape
    ex_indptr, ex_indices = _exclusion_arrays(ex, b)
    cand2 = (np.ones((0, n_items), dtype=bool) if cand is None
             else np.ascontiguousarray(cand.reshape(-1, n_items)))
    topk_dense(np.ascontiguousarray(s), ex_indptr, ex_indices, cand2, out_idx, out_sc)


def _candidate_mask(candidates: np.ndarray, b: int, n_items: int) -> np.ndarray:
    """``candidates`` checked: a boolean ``(n_items,)`` or ``(b, n_items)`` mask."""
    cand = np.asarray(candidates)
    if cand.dtype != bool:
        raise TypeError("candidates must be a boolean mask over items")
    if cand.shape not in ((n_items,), (b, n_items)):
        raise ValueError(f"candidates has shape {cand.shape}; expected ({n_items},) or "
                         f"{(b, n_items)}")
    return cand


def _select(s: np.ndarray, k: int) -> np.ndarray:
    """Column indices (ascending, ``(b, k)``) of each row's ``k`` best entries, ties -> lower index.

    The ``k``-th largest value ``t`` of a row is found by one partition; the row keeps every
    entry above ``t`` and, of those equal to ``t``, the leftmost ones until it has ``k``.
    """
    b, n_items = s.shape
    kth = np.partition(s, n_items - k, axis=1)[:, n_items - k][:, None]
    above = s > kth
    need = k - above.sum(axis=1, keepdims=True)
    at = s == kth
    keep = above | at
    # Rows with more ties at t than places left keep the leftmost; the running count is
    # needed only for them (most rows have exactly as many ties as places).
    over = np.flatnonzero(at.sum(axis=1) > need[:, 0])
    if len(over):
        tied = at[over]
        keep[over] = above[over] | (tied & (np.cumsum(tied, axis=1, dtype=np.int32)
                                            <= need[over]))
    # Exactly k entries per row; nonzero walks rows in order and columns ascending.
    return np.nonzero(keep)[1].reshape(b, k)


def topk_sparse(
    scores: sp.spmatrix | sp.sparray,
    n: int,
    exclude: sp.spmatrix | sp.sparray | None = None,
    candidates: np.ndarray | None = None,
    *,
    assume_unique: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` for sparse scores: only the *stored* entries of each row can be ranked.

    Same result as ``topk(dense, n, exclude, candidates)`` where ``dense`` holds the stored
    scores and ``-inf`` everywhere else, without building ``dense``: the cost is
    ``O(nnz log n)`` (a bounded heap per row, rows in parallel), not ``O(b * n_items)``.

    Parameters
    ----------
    scores
        ``(b, n_items)`` sparse matrix (converted to CSR) of real scores. Stored NaN or
        infinite scores are not rankable, like in :func:`topk`. A column stored twice in a row
        is summed first (as scipy does), unless ``assume_unique``.
    n, exclude, candidates
        As in :func:`topk`.
    assume_unique
        The caller guarantees that no row stores a column twice: skip the O(nnz) check (a
        matrix in canonical format is never checked).

    Returns
    -------
    indices, top_scores : numpy.ndarray
        As in :func:`topk`: ``(b, n)`` int64 (``PAD_INDEX`` pads) and float32 (``-inf`` pads).
    """
    n = check_list_length(n)
    if not sp.issparse(scores):
        raise TypeError(f"scores must be a scipy sparse matrix, got {type(scores).__name__}")
    S = sp.csr_matrix(scores)
    if S.ndim != 2:
        raise ValueError(f"scores must be a (rows, items) matrix, got shape {S.shape}")
    if S.dtype.kind not in "fiub":
        raise TypeError(f"scores must be real numbers, got dtype {S.dtype}")
    if not (assume_unique or S.has_canonical_format or _rows_unique(S)):
        S = S.copy()
        S.sum_duplicates()
    b, n_items = S.shape
    data = S.data if S.dtype.kind == "f" else S.data.astype(np.float64)
    ex = None if exclude is None else sp.csr_matrix(exclude)
    if ex is not None and ex.shape != (b, n_items):
        raise ValueError(f"exclude has shape {ex.shape}, scores have shape {(b, n_items)}")
    ex_indptr, ex_indices = _exclusion_arrays(ex, b)
    if candidates is not None:
        cand = _candidate_mask(candidates, b, n_items)
        cand2 = np.ascontiguousarray(cand.reshape(-1, n_items))
    else:
        cand2 = np.ones((0, n_items), dtype=bool)
    out_idx = np.full((b, n), PAD_INDEX, dtype=np.int64)
    out_sc = np.full((b, n), -np.inf, dtype=np.float32)
    if b == 0 or n == 0:
        return out_idx, out_sc
    indptr = S.indptr.astype(np.int64, copy=False)
    indices = S.indices.astype(np.int64, copy=False)
    if b <= SMALL_BLOCK and b * n_items <= _SMALL_CELLS:
        _topk_sparse_numpy(indptr, indices, data, ex_indptr, ex_indices, cand2, out_idx, out_sc)
    else:
        from synerec._topk_kernels import topk_csr

        topk_csr(indptr, indices, data, ex_indptr, ex_indices, cand2, out_idx, out_sc)
    return out_idx, out_sc


def _topk_sparse_numpy(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                       ex_indptr: np.ndarray, ex_indices: np.ndarray, cand: np.ndarray,
                       out_idx: np.ndarray, out_sc: np.ndarray) -> None:
    """:func:`synerec._topk_kernels.topk_csr` in numpy, for a few rows (same arguments).

    Each row's stored scores go into a dense row of ``-inf`` (no column is stored twice: the
    caller summed duplicates), excluded items and items outside ``cand`` become ``-inf``, and
    :func:`topk` ranks it: its rules are the kernel's (non-finite scores never ranked, ties to
    the lower index, ``-inf`` pads). Scores are compared in float64, as the kernel does.
    """
    b, n = out_idx.shape
    n_items = cand.shape[1]
    dense = np.full((b, n_items), -np.inf, dtype=np.float64)
    rows = np.repeat(np.arange(b), np.diff(indptr))
    dense[rows, indices[indptr[0]:indptr[b]]] = data[indptr[0]:indptr[b]]
    ex = None
    if ex_indices.size:
        ex = sp.csr_matrix((np.ones(len(ex_indices)), ex_indices, ex_indptr), shape=(b, n_items))
    mask = None
    if cand.shape[0]:
        mask = np.broadcast_to(cand, (b, n_items)) if cand.shape[0] == 1 else cand
    idx, sc = topk(dense, n, exclude=ex, candidates=mask)
    out_idx[:] = idx
    out_sc[:] = sc


def _rows_unique(S: sp.csr_matrix) -> bool:
    """Whether no row of ``S`` stores a column twice (O(nnz); numpy for a few rows)."""
    b = S.shape[0]
    if b <= SMALL_BLOCK:
        rows = np.repeat(np.arange(b, dtype=np.int64), np.diff(S.indptr))
        keys = rows * np.int64(S.shape[1]) + S.indices.astype(np.int64)
        return bool(np.unique(keys).size == keys.size)
    from synerec._topk_kernels import no_duplicates

    return bool(no_duplicates(S.indptr.astype(np.int64, copy=False),
                              S.indices.astype(np.int64, copy=False), S.shape[1]))


