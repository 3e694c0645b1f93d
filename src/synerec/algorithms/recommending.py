"""Top-k recommendation: seen-item filtering, unknown users and candidates around one ranking.

Part 4 of the model contract (the overview is in :mod:`synerec.algorithms.base`). A model only
*scores* (``_score``, or ``_score_sparse`` for models that score a few candidates per user);
:class:`Recommending` turns scores into lists:

* users are scored in batches of ``batch_size`` (memory ``batch_size * n_items`` float32 for
  dense scores; sparse scores never build a dense block);
* an unknown user (not in the vocabulary, or without training interactions) gets the most
  popular items (``item_popularity_``) with that popularity as score;
* a user's training items are excluded (``exclude_seen``), items without training data are
  never recommended unless the model ``scores_cold_items``, and an optional candidate set
  restricts what is ranked;
* the ranking itself, ties and padding included, is the one shared routine
  :func:`synerec.topk.topk` (:func:`synerec.topk.topk_sparse` for sparse scores): this module
  builds its arguments, it does not rank.

These edge rules are public, so that a caller that scores in its own way (the service, from a
user's events newer than the model; a batch job, on a GPU) ranks with the model's rules rather
than a copy of them:

* :meth:`~Recommending.rankable_items`: the items the model may recommend (a candidate mask);
* :meth:`~Recommending.popular_items`: the list an unknown user gets;
* :meth:`~Recommending.seen_items`: the items left out of users' lists (their training rows,
  plus any more per user: events newer than the model);
* :meth:`~Recommending.rank_block`: a block of scores ranked into lists, through
  :mod:`synerec.topk`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from synerec._list_length import check_list_length
from synerec.algorithms.params import C
from synerec.algorithms.scoring import ScoringModel, _as_id_list
from synerec.exceptions import ConfigError
from synerec.topk import PAD_INDEX, topk, topk_sparse

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Recommending"]


class Recommending(ScoringModel[C]):
    """:meth:`recommend` (ids), :meth:`recommend_indices` and :meth:`recommend_frame`."""

    def recommend(
        self,
        users: Iterable[Any],
        n: int = 10,
        *,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
        batch_size: int = 1024,
        unknown: str = "error",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each user.

        Parameters
        ----------
        users
            External user ids.
        n
            List length.
        exclude_seen
            Leave out each user's training items.
        items
            Optional candidate item ids (all known to the model); only they are ranked.
        batch_size
            Users scored at once (memory: ``batch_size * n_items`` float32).
        unknown
            A user without training data (not in the vocabulary, or no interaction):
            ``"error"`` (default) raises :class:`~synerec.exceptions.UnknownUserError` naming
            it; ``"fallback"`` gives the most popular items, popularity as score (the one
            policy: docs/your-data.md, "Unknown users and items").

        Returns
        -------
        ids : numpy.ndarray
            ``(len(users), n)`` object array of item ids, best first; ``None`` pads lists
            shorter than ``n``.
        scores : numpy.ndarray
            ``(len(users), n)`` float32 scores; ``-inf`` at padding.

        Raises
        ------
        UnknownUserError
            An unknown user with ``unknown="error"``.
        """
        self._check_fitted()
        u = self._known_indices(users, "user", unknown)
        candidates = None
        if items is not None:
            candidates = self.items_.indices(_as_id_list(items))
        idx, scores = self.recommend_indices(u, n, exclude_seen=exclude_seen,
                                             candidates=candidates, batch_size=batch_size)
        ids = np.full(idx.shape, None, dtype=object)
        valid = idx != PAD_INDEX
        ids[valid] = self.items_.ids_of(idx[valid]).astype(object)
        return ids, scores

    def recommend_indices(
        self,
        users: Any,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend` on indices.

        Parameters
        ----------
        users
            User indices; ``-1`` = unknown (gets popular items).
        n, exclude_seen, batch_size
            As in :meth:`recommend`.
        candidates
            Optional item indices, or a boolean mask over items, of the items to rank.

        Returns
        -------
        indices : numpy.ndarray
            ``(len(users), n)`` int64 item indices (``-1`` pads).
        scores : numpy.ndarray
            ``(len(users), n)`` float32 scores (``-inf`` pads).
        """
        self._check_fitted()
        u = self._check_indices(users, self.n_users_, "user")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        mask = self.rankable_items(candidates)
        popularity = self.popular_scores()
        if self.sparse_scores:
            return self._recommend_sparse(u, n, exclude_seen, mask, popularity, batch_size)
        n_items = self.n_items_
        out_idx, out_sc = [], []
        for start in range(0, len(u), batch_size):
            ub = u[start:start + batch_size]
            known = self.known_users(ub)
            all_known = bool(known.all())
            scores = None if all_known else np.empty((len(ub), n_items), dtype=np.float32)
            if known.any():
                s = np.asarray(self._score(ub if all_known else ub[known]))
                if s.shape != (int(known.sum()), n_items):
                    raise RuntimeError(f"{type(self).__name__}._score returned shape {s.shape}, "
                                       f"expected {(int(known.sum()), n_items)}")
                if scores is None:  # every user known: the block as it is (ranking reads it)
                    scores = s.astype(np.float32, copy=False)
                else:
                    scores[known] = s
            if scores is None:
                scores = np.empty((0, n_items), dtype=np.float32)
            else:
                scores[~known] = popularity
            exclude = self.seen_items(ub) if exclude_seen else None
            idx, sc = self.rank_block(scores, n, exclude=exclude, candidates=mask)
            out_idx.append(idx)
            out_sc.append(sc)
        if not out_idx:
            k = check_list_length(n)
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        return np.concatenate(out_idx), np.concatenate(out_sc)

    def _recommend_sparse(self, u: np.ndarray, n: int, exclude_seen: bool,
                          mask: np.ndarray | None, popularity: np.ndarray, batch_size: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recommend_indices` for ``sparse_scores`` models (same results, no dense block).

        Unknown users have no training items to exclude, so they all get the one popularity
        list, ranked once.
        """
        width = check_list_length(n)
        out_idx = np.full((len(u), width), PAD_INDEX, dtype=np.int64)
        out_sc = np.full((len(u), width), -np.inf, dtype=np.float32)
        known = self.known_users(u)
        if (~known).any():
            pop_idx, pop_sc = self.rank_block(popularity[None, :], n, candidates=mask)
            out_idx[~known] = pop_idx[0]
            out_sc[~known] = pop_sc[0]
        rows = np.flatnonzero(known)
        for start in range(0, len(rows), batch_size):
            rb = rows[start:start + batch_size]
            ub = u[rb]
            s = sp.csr_matrix(self._score_sparse(ub))
            if s.shape != (len(ub), self.n_items_):
                raise RuntimeError(f"{type(self).__name__}._score_sparse returned shape "
                                   f"{s.shape}, expected {(len(ub), self.n_items_)}")
            exclude = self.seen_items(ub) if exclude_seen else None
            out_idx[rb], out_sc[rb] = self.rank_block(s, n, exclude=exclude, candidates=mask)
        return out_idx, out_sc

    # -- the edge rules, public (see the module docstring) ------------------------------------
    def rankable_items(self, candidates: np.ndarray | None = None) -> np.ndarray | None:
        """The items the model may recommend, as a candidate mask for :meth:`rank_block`.

        Items without training data are never recommended unless the model
        :attr:`~synerec.algorithms.scoring.ScoringModel.scores_cold_items`; ``candidates``
        restricts the items further.

        Parameters
        ----------
        candidates
            Optional item indices, or a boolean mask over items, of the items to rank.

        Returns
        -------
        numpy.ndarray or None
            ``(n_items,)`` boolean mask; ``None`` when every item may be recommended.
        """
        self._check_fitted()
        n_items = self.n_items_
        mask = None
        if candidates is not None:
            cand = np.asarray(candidates)
            if cand.dtype == bool:
                if cand.shape != (n_items,):
                    raise ValueError(f"candidate mask must have shape ({n_items},)")
                mask = cand
            else:
                mask = np.zeros(n_items, dtype=bool)
                mask[self._check_indices(cand, n_items, "item")] = True
        if not self.scores_cold_items:
            warm = self.known_items(np.arange(n_items))
            mask = warm if mask is None else mask & warm
        return mask

    def popular_scores(self) -> np.ndarray:
        """The scores of an unknown user's list: each item's popularity
        (``item_popularity_``), float32 (see :meth:`popular_items`)."""
        self._check_fitted()
        return self.item_popularity_.astype(np.float32)

    def popular_items(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The list an unknown user gets: the ``n`` most popular items the model may
        recommend (:meth:`rankable_items`), popularity as score, ties by the lower index.

        Parameters
        ----------
        n
            List length; ``None``: every item the model may recommend, most popular first.

        Returns
        -------
        indices, scores : numpy.ndarray
            ``(n,)`` int64 item indices (``-1`` pads) and float32 scores (``-inf`` pads); with
            ``n=None``, no padding.
        """
        mask = self.rankable_items()
        width = self.n_items_ if n is None else n
        idx, sc = self.rank_block(self.popular_scores()[None, :], width, candidates=mask)
        if n is None:
            keep = idx[0] != PAD_INDEX
            return idx[0][keep], sc[0][keep]
        return idx[0], sc[0]

    def seen_items(self, users: np.ndarray,
                   extra: Iterable[np.ndarray] | None = None) -> sp.csr_matrix:
        """The items to leave out of users' lists, as a CSR pattern for :meth:`rank_block`.

        Parameters
        ----------
        users
            User indices; ``-1``: no training items.
        extra
            Optional, one array of item indices per user (``-1`` entries skipped): more items
            to leave out, e.g. the user's events newer than the model.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(len(users), n_items)`` float32 pattern (ones), each user's training items
            then the ``extra`` ones (an item in both is stored once).
        """
        X = self.train_
        users = np.asarray(users, dtype=np.int64)
        safe = np.where(users >= 0, users, 0)
        counts = np.where(users >= 0, np.diff(X.indptr)[safe], 0)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        starts = np.repeat(X.indptr[safe] - indptr[:-1], counts)
        cols = X.indices[starts + np.arange(indptr[-1])]
        seen = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                             shape=(len(users), X.shape[1]))
        if extra is None:
            return seen
        rows, more = [], []
        for r, items in enumerate(extra):
            items = np.asarray(items, dtype=np.int64)
            items = items[items >= 0]
            rows.append(np.full(len(items), r, dtype=np.int64))
            more.append(items)
        if not more or not sum(len(m) for m in more):
            return seen
        add = sp.csr_matrix((np.ones(sum(len(m) for m in more), dtype=np.float32),
                             (np.concatenate(rows), np.concatenate(more))), shape=seen.shape)
        both = (seen + add).tocsr()
        both.data[:] = 1.0
        return both

    def _seen(self, users: np.ndarray) -> sp.csr_matrix:
        """The training rows of ``users`` (``-1`` -> empty row): :meth:`seen_items`."""
        return self.seen_items(users)

    def rank_block(self, scores: np.ndarray | sp.spmatrix | sp.sparray, n: int, *,
                   exclude: sp.spmatrix | sp.sparray | None = None,
                   candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rank a block of scores into lists with the model's rules (through :mod:`synerec.topk`).

        What :meth:`recommend_indices` does with the scores it computed; a caller that scores
        users in its own way (from their newest events, on a GPU) ranks here.

        Parameters
        ----------
        scores
            ``(b, n_items)`` scores, higher is better (NaN / inf: not rankable). A dense
            array, or a sparse matrix storing only each row's candidates (an unstored entry is
            not rankable; no column stored twice in a row).
        n
            List length.
        exclude
            Optional ``(b, n_items)`` sparse pattern of the items to leave out of each row
            (:meth:`seen_items`).
        candidates
            The mask of the items that may be ranked, as :meth:`rankable_items` returns it
            (default: :meth:`rankable_items` ``()``).

        Returns
        -------
        indices : numpy.ndarray
            ``(b, n)`` int64 item indices, best first; equal scores by the lower index
            (``-1`` pads).
        scores : numpy.ndarray
            ``(b, n)`` float32 scores (``-inf`` pads).
        """
        mask = self.rankable_items() if candidates is None else candidates
        if sp.issparse(scores):
            return topk_sparse(scores, n, exclude=exclude, candidates=mask,
                               assume_unique=True)  # the documented contract
        return topk(np.asarray(scores), n, exclude=exclude, candidates=mask)

    def recommend_frame(self, users: Iterable[Any], n: int = 10, **kwargs: Any) -> pd.DataFrame:
        """:meth:`recommend` as a long table ``user_id, rank, item_id, score`` (rank from 1).

        Padding is dropped, so a user may have fewer than ``n`` rows. Keyword arguments are
        :meth:`recommend`'s (``unknown=``, ``exclude_seen=``, ...).
        """
        import pandas as pd

        user_list = _as_id_list(users)
        ids, scores = self.recommend(user_list, n, **kwargs)
        b, k = ids.shape
        valid = (ids != None).ravel()  # noqa: E711 - elementwise comparison on an object array
        frame = pd.DataFrame({
            "user_id": np.repeat(np.asarray(user_list, dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), b),
            "item_id": ids.ravel(),
            "score": scores.ravel(),
        })
        return frame[valid].reset_index(drop=True)
