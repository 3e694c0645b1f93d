"""The one top-k ranking routine that every model's ``recommend`` uses.

Models *score* (a dense ``(users, items)`` block of numbers); this module *ranks*: it drops the
items a user must not get (already seen, outside a candidate set, or scored with a non-finite
number), keeps the ``n`` best, breaks ties by the lower item index and pads short lists.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from synerec.exceptions import ConfigError

__all__ = ["PAD_INDEX", "topk"]

#: Item index that pads a row with fewer than ``n`` rankable items (its score is ``-inf``).
PAD_INDEX = -1


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
    n = _check_n(n)
    s = np.asarray(scores)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2:
        raise ValueError(f"scores must be a (rows, items) array, got shape {s.shape}")
    if s.dtype.kind not in "fiub":
        raise TypeError(f"scores must be real numbers, got dtype {s.dtype}")
    dtype = s.dtype if s.dtype.kind == "f" else np.dtype(np.float64)
    # Our own copy: invalid entries become -inf, the one value that marks "not rankable".
    s = np.array(s, dtype=dtype, copy=True)
    b, n_items = s.shape
    s[~np.isfinite(s)] = -np.inf

    if exclude is not None:
        ex = sp.csr_matrix(exclude)
        if ex.shape != (b, n_items):
            raise ValueError(f"exclude has shape {ex.shape}, scores have shape {(b, n_items)}")
        rows = np.repeat(np.arange(b), np.diff(ex.indptr))
        s[rows, ex.indices] = -np.inf
    if candidates is not None:
        cand = np.asarray(candidates)
        if cand.dtype != bool:
            raise TypeError("candidates must be a boolean mask over items")
        if cand.shape not in ((n_items,), (b, n_items)):
            raise ValueError(f"candidates has shape {cand.shape}; expected ({n_items},) or "
                             f"{(b, n_items)}")
        s[np.broadcast_to(~cand, s.shape)] = -np.inf

    k = min(n, n_items)
    out_idx = np.full((b, n), PAD_INDEX, dtype=np.int64)
    out_sc = np.full((b, n), -np.inf, dtype=np.float32)
    if b == 0 or k == 0:
        return out_idx, out_sc

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


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"n must be a whole number, got {n!r}")
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    return int(n)


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
    keep = above | (at & (np.cumsum(at, axis=1) <= need))
    # Exactly k entries per row; nonzero walks rows in order and columns ascending.
    return np.nonzero(keep)[1].reshape(b, k)
