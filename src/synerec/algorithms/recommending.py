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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec._list_length import check_list_length
from synerec.algorithms.params import C
from synerec.algorithms.scoring import ScoringModel, _as_id_list
from synerec.exceptions import ConfigError
from synerec.topk import PAD_INDEX, topk, topk_sparse

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
            warm = self.item_count_ > 0
            mask = warm if mask is None else mask & warm
        popularity = self.item_popularity_.astype(np.float32)
        if self.sparse_scores:
            return self._recommend_sparse(u, n, exclude_seen, mask, popularity, batch_size)
        out_idx, out_sc = [], []
        for start in range(0, len(u), batch_size):
            ub = u[start:start + batch_size]
            known = self.known_users(ub)
            scores = np.empty((len(ub), n_items), dtype=np.float32)
            if known.any():
                s = np.asarray(self._score(ub[known]))
                if s.shape != (int(known.sum()), n_items):
                    raise RuntimeError(f"{type(self).__name__}._score returned shape {s.shape}, "
                                       f"expected {(int(known.sum()), n_items)}")
                scores[known] = s
            scores[~known] = popularity
            exclude = self._seen(ub) if exclude_seen else None
            idx, sc = topk(scores, n, exclude=exclude, candidates=mask)
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
            pop_idx, pop_sc = topk(popularity[None, :], n, candidates=mask)
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
            exclude = self._seen(ub) if exclude_seen else None
            out_idx[rb], out_sc[rb] = topk_sparse(s, n, exclude=exclude, candidates=mask,
                                                  assume_unique=True)  # the documented contract
        return out_idx, out_sc

    def _seen(self, users: np.ndarray) -> sp.csr_matrix:
        """The training rows of ``users`` (``-1`` -> empty row) as a CSR pattern."""
        X = self.train_
        safe = np.where(users >= 0, users, 0)
        counts = np.where(users >= 0, np.diff(X.indptr)[safe], 0)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        starts = np.repeat(X.indptr[safe] - indptr[:-1], counts)
        cols = X.indices[starts + np.arange(indptr[-1])]
        return sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                             shape=(len(users), X.shape[1]))

    def recommend_frame(self, users: Iterable[Any], n: int = 10, **kwargs: Any) -> pd.DataFrame:
        """:meth:`recommend` as a long table ``user_id, rank, item_id, score`` (rank from 1).

        Padding is dropped, so a user may have fewer than ``n`` rows. Keyword arguments are
        :meth:`recommend`'s (``unknown=``, ``exclude_seen=``, ...).
        """
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
