"""Stage 1 of the hybrid: the union of several retrievers' top-``M`` lists, per user.

Each retriever is a fitted, registered model; its top ``M`` items per user come from its own
batched :meth:`~synerec.algorithms.Recommender.recommend_indices` (the one shared top-k routine,
seen items filtered). :func:`generate_candidates` merges the lists into one table of
(user, item) pairs, one row per distinct pair, with each retriever's score and rank of the item
(``NaN`` where that retriever did not propose it). Nothing here loops over pairs in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synerec.algorithms.base import Recommender
from synerec.topk import PAD_INDEX

__all__ = ["RRF_K", "CandidateSet", "generate_candidates", "lookup_pairs", "place_new_items",
           "reciprocal_rank_fusion"]


@dataclass(frozen=True)
class CandidateSet:
    """Candidate (user, item) pairs grouped by user, with every retriever's score and rank.

    Attributes
    ----------
    users
        ``(n_users,)`` int64 user indices, in the order they were asked for.
    indptr
        ``(n_users + 1,)`` int64 offsets: the pairs of ``users[r]`` are rows
        ``indptr[r]:indptr[r + 1]``.
    items
        ``(n_pairs,)`` int64 item indices, ascending within each user.
    scores
        ``(n_pairs, n_retrievers)`` float32: retriever ``j``'s score of the pair, ``NaN`` when
        the item is not in its top ``M`` for the user.
    ranks
        ``(n_pairs, n_retrievers)`` float32: 1-based rank in retriever ``j``'s list, ``NaN``
        when absent.
    top_scores
        ``(n_users, n_retrievers)`` float32: each retriever's best score for the user (``NaN``
        when it proposed nothing), used to put scores on a per-user scale.
    """

    users: np.ndarray
    indptr: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    top_scores: np.ndarray

    @property
    def n_pairs(self) -> int:
        """Number of candidate pairs."""
        return len(self.items)

    @property
    def rows(self) -> np.ndarray:
        """``(n_pairs,)`` int64: the position in :attr:`users` of each pair's user."""
        return np.repeat(np.arange(len(self.users), dtype=np.int64), np.diff(self.indptr))

    @property
    def pair_users(self) -> np.ndarray:
        """``(n_pairs,)`` int64 user index of each pair."""
        return self.users[self.rows]


def generate_candidates(retrievers: Sequence[Recommender], users: np.ndarray, n: int, *,
                        exclude_seen: bool = True, batch_size: int = 1024,
                        extra: tuple[np.ndarray, np.ndarray] | None = None,
                        items: np.ndarray | None = None,
                        masks: Sequence[np.ndarray | None] | None = None) -> CandidateSet:
    """The union of each retriever's top-``n`` items for each user.

    Parameters
    ----------
    retrievers
        Fitted models sharing one item index space.
    users
        User indices (``-1``: unknown, which every retriever answers with its popular items).
    n
        ``M``, the list length asked from each retriever.
    exclude_seen
        Leave out each user's training items (of each retriever's own training matrix).
    batch_size
        Users per scoring batch, passed to ``recommend_indices``.
    extra
        Optional ``(rows, items)``: pairs (``rows`` positions in ``users``) to include even if
        no retriever proposes them (their scores and ranks are ``NaN``); used to score given
        pairs and to add the held-out items when measuring candidate recall.
    items
        Optional boolean mask over items: the retrievers propose only these (``None``: every
        item each may rank).
    masks
        Optional, one per retriever: a boolean mask over items that restricts that retriever
        further (``None``: no restriction), e.g. a shelf of new items only.

    Returns
    -------
    CandidateSet
    """
    users = np.asarray(users, dtype=np.int64)
    n_users = len(users)
    n_items = int(retrievers[0].n_items_)
    n_r = len(retrievers)
    keys_all, ret_all, pos_all, sc_all = [], [], [], []
    top = np.full((n_users, n_r), np.nan, dtype=np.float32)
    for j, model in enumerate(retrievers):
        if int(model.n_items_) != n_items:
            raise ValueError("retrievers must share one item index space")
        allowed = items
        own = masks[j] if masks is not None else None
        if own is not None:
            allowed = own if allowed is None else allowed & own
        idx, sc = model.recommend_indices(users, n, exclude_seen=exclude_seen,
                                          candidates=allowed, batch_size=batch_size)
        valid = idx != PAD_INDEX
        rows = np.broadcast_to(np.arange(n_users, dtype=np.int64)[:, None], idx.shape)[valid]
        pos = np.broadcast_to(np.arange(idx.shape[1], dtype=np.float32)[None, :] + 1,
                              idx.shape)[valid]
        keys_all.append(rows * n_items + idx[valid])
        ret_all.append(np.full(len(pos), j, dtype=np.int64))
        pos_all.append(pos)
        sc_all.append(sc[valid].astype(np.float32))
        if idx.shape[1]:
            first = valid[:, 0]
            top[first, j] = sc[first, 0]
    if extra is not None:
        e_rows = np.asarray(extra[0], dtype=np.int64)
        e_items = np.asarray(extra[1], dtype=np.int64)
        keys_all.append(e_rows * n_items + e_items)
        ret_all.append(np.full(len(e_rows), -1, dtype=np.int64))
        pos_all.append(np.full(len(e_rows), np.nan, dtype=np.float32))
        sc_all.append(np.full(len(e_rows), np.nan, dtype=np.float32))
    return _union(users, n_items, n_r, top, keys_all, ret_all, pos_all, sc_all)


def _union(users: np.ndarray, n_items: int, n_r: int, top: np.ndarray,
           keys_all: list[np.ndarray], ret_all: list[np.ndarray], pos_all: list[np.ndarray],
           sc_all: list[np.ndarray]) -> CandidateSet:
    """The candidate set from each retriever's pairs (``user row * n_items + item`` keys,
    the retriever of each, ``-1`` for an extra pair; rank and score)."""
    n_users = len(users)
    keys = np.concatenate(keys_all) if keys_all else np.empty(0, np.int64)
    which = np.concatenate(ret_all) if ret_all else np.empty(0, np.int64)
    pos = np.concatenate(pos_all) if pos_all else np.empty(0, np.float32)
    scs = np.concatenate(sc_all) if sc_all else np.empty(0, np.float32)
    uniq, inverse = np.unique(keys, return_inverse=True)
    scores = np.full((len(uniq), n_r), np.nan, dtype=np.float32)
    ranks = np.full((len(uniq), n_r), np.nan, dtype=np.float32)
    real = which >= 0
    scores[inverse[real], which[real]] = scs[real]
    ranks[inverse[real], which[real]] = pos[real]
    pair_rows = uniq // n_items
    items = uniq - pair_rows * n_items
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_rows, minlength=n_users), out=indptr[1:])
    return CandidateSet(users=users, indptr=indptr, items=items.astype(np.int64),
                        scores=scores, ranks=ranks, top_scores=top)


def lookup_pairs(cands: CandidateSet, rows: np.ndarray, items: np.ndarray,
                 n_items: int) -> np.ndarray:
    """Position in ``cands`` of each (row, item) pair, ``-1`` when it is not a candidate."""
    keys = cands.rows * n_items + cands.items  # ascending: grouped by row, items sorted
    want = np.asarray(rows, dtype=np.int64) * n_items + np.asarray(items, dtype=np.int64)
    pos = np.searchsorted(keys, want)
    ok = pos < len(keys)
    ok[ok] = keys[pos[ok]] == want[ok]
    return np.where(ok, pos, -1)


def place_new_items(cands: CandidateSet, scores: np.ndarray, new: np.ndarray,
                    slot: int) -> np.ndarray:
    """``scores`` (float32, one per candidate) with each user's best-scored new candidate
    raised to rank ``slot`` (1-based) when it ranks below it; the other candidates keep their
    order.

    ``new`` is a boolean mask over items. A user without a new candidate, or with fewer
    other candidates than ``slot``, keeps their scores.
    """
    out = np.array(scores, dtype=np.float32, copy=True)
    if slot < 1:
        return out
    is_new = new[cands.items]
    rows = np.flatnonzero(np.bincount(cands.rows[is_new], minlength=len(cands.users)))
    for r in rows:
        lo, hi = int(cands.indptr[r]), int(cands.indptr[r + 1])
        s = out[lo:hi]
        mine = np.flatnonzero(is_new[lo:hi])
        best = int(mine[np.argmax(s[mine])])
        others = np.sort(np.delete(s, best))[::-1]
        if len(others) < slot or (others > s[best]).sum() < slot:
            continue  # too few others, or already at rank `slot` or above
        below = others[slot - 1]
        above = others[slot - 2] if slot >= 2 else np.float32(np.inf)
        up = np.nextafter(below, np.float32(np.inf), dtype=np.float32)
        s[best] = up if up < above else above
    return out


#: The constant of reciprocal-rank fusion (Cormack et al. 2009), the hybrid's order when no
#: ranker could be trained.
RRF_K = 60.0


def reciprocal_rank_fusion(cands: CandidateSet) -> np.ndarray:
    r"""float64 fused score of each candidate pair: :math:`\sum_j 1 / (K + r_j)` over the
    retrievers that ranked it (:data:`RRF_K`)."""
    r = cands.ranks.astype(np.float64)
    return np.where(np.isfinite(r), 1.0 / (RRF_K + r), 0.0).sum(axis=1)
