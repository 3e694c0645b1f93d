r"""Neighbourhood models: user-based and item-based collaborative filtering.

The founding paper's two classic recommenders, on a sparse, top-``max_neighbors``-truncated
similarity matrix (:func:`synerec.similarity.similarity_matrix`):

* :class:`UserKNN` (``"user-cf"``) predicts by the paper's eq. 3,

  .. math:: p(a, i) = \bar r_a + \frac{\sum_{u \in K} (r_{u,i} - \bar r_u)\, w(a, u)}
            {\sum_{u \in K} |w(a, u)|}  \tag{3}

  with :math:`K` the ``k`` users most similar to :math:`a` among those who rated :math:`i`
  (``denominator="signed"``: :math:`\sum_K w(a, u)` as printed in the paper;
  ``neighbor_mean="corated"``: :math:`\bar r_u` over the items :math:`u` and :math:`a` both
  rated);
* :class:`ItemKNN` (``"item-cf"``) predicts by eq. 4,

  .. math:: p(a, i) = \frac{\sum_{j \in K} r_{a,j}\, w(i, j)}{\sum_{j \in K} |w(i, j)|}  \tag{4}

  with :math:`K` the ``k`` items most similar to :math:`i` among those :math:`a` rated (or, with
  ``center=True``, :math:`\bar r_i + \sum_K w(i,j) (r_{a,j} - \bar r_j) / \sum_K |w(i,j)|`).

**Truncation.** Only each row's ``max_neighbors`` most similar neighbours are stored, so
:math:`K` is chosen among the *stored* neighbours: the ``k`` most similar neighbours of
:math:`a` (resp. :math:`i`) that rated :math:`i` (resp. that :math:`a` rated) within the top
``max_neighbors``. With ``max_neighbors >= n - 1`` this is the untruncated formula. Ties in
similarity go to the lower index. Similarities of either sign are used (the denominators take
absolute values, unless ``denominator="signed"``); ``min_support`` and ``shrinkage`` damp the
ones computed on few co-ratings.

A pair without any such neighbour falls back (``fallback = "no_neighbors"``) to the user's
mean (user-based) or the item's mean (item-based); :attr:`Prediction.n_neighbors` is the
actual size of :math:`K`.

:func:`~synerec.algorithms.paper.recommend_item` and
:class:`~synerec.algorithms.paper.PaperCF` (:mod:`synerec.algorithms.paper`) give the paper's
recommend-or-not decision by method name on these two models.

References
----------
.. [1] P. Resnick, N. Iacovou, M. Suchak, P. Bergstrom, J. Riedl, "GroupLens: an open
   architecture for collaborative filtering of netnews", CSCW 1994 (eq. 3).
.. [2] B. Sarwar, G. Karypis, J. Konstan, J. Riedl, "Item-based collaborative filtering
   recommendation algorithms", WWW 2001 (eq. 4).
.. [3] J. Herlocker, J. Konstan, A. Borchers, J. Riedl, "An algorithmic framework for
   performing collaborative filtering", SIGIR 1999 (neighbour selection, significance
   weighting).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from synerec.algorithms._knn_base import _kernels, _NeighborhoodModel
from synerec.algorithms._knn_config import ItemKNNConfig, UserKNNConfig
from synerec.algorithms._knn_numpy import (
    item_knn_predict_few,
    item_knn_score_few,
    user_knn_predict_few,
    user_knn_score_few,
    user_knn_score_sum_few,
)
from synerec.algorithms.abilities import (
    EvidenceKind,
    ExplainsScore,
    ExplainsScoreByUsers,
    SimilarItems,
)
from synerec.algorithms.base import (
    NO_NEIGHBORS,
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNKNOWN_USER_AND_ITEM,
)
from synerec.algorithms.registry import register_model
from synerec.algorithms.training import TrainingData
from synerec.topk import SMALL_BLOCK

__all__ = [
    "ItemKNN",
    "ItemKNNConfig",
    "UserKNN",
    "UserKNNConfig",
]

log = logging.getLogger(__name__)


@register_model("user-cf")
class UserKNN(_NeighborhoodModel[UserKNNConfig], ExplainsScoreByUsers):
    r"""User-based collaborative filtering (the paper's eq. 3, mean-centred Resnick form).

    .. math:: p(a, i) = \bar r_a + \frac{\sum_{u \in K} (r_{u,i} - \bar r_u)\, w(a, u)}
              {\sum_{u \in K} |w(a, u)|}

    :math:`K`: the ``k`` users most similar to :math:`a` among those who rated :math:`i`,
    chosen within :math:`a`'s ``max_neighbors`` stored neighbours (see the module docstring on
    truncation). No such user: the user's mean, flagged ``"no_neighbors"``. The means are over
    all of a user's ratings.

    Parameters
    ----------
    k
        Neighbours per prediction.
    similarity
        ``"pearson"`` (eq. 2, means over all of a user's ratings), ``"cosine"`` (eq. 1) or
        ``"auto"`` (default): Pearson for ratings, cosine for implicit feedback.
    max_neighbors
        Neighbours stored per user (the similarity matrix keeps the top ``max_neighbors`` of
        each row); ``>= k`` to choose ``K`` among more than ``k`` users.
    min_support
        Pairs of users with fewer co-rated items get no similarity.
    shrinkage
        :math:`\lambda` of the factor :math:`n / (n + \lambda)`, ``n`` co-rated items.
    norms
        The similarity's denominator: ``"full"`` (sums of squares over each user's own
        ratings, eq. 1 as printed), ``"corated"`` (over the items both users rated) or
        ``None`` (default: full for ``"cosine"``, co-rated for ``"pearson"``); see
        :func:`synerec.similarity.similarity_matrix`.
    neighbor_mean
        :math:`\bar r_u` in eq. 3: ``"all"`` (default), the mean of all of :math:`u`'s
        ratings; ``"corated"``, the mean of :math:`u`'s ratings of the items :math:`a` also
        rated (:math:`u`'s overall mean when there are none). :math:`\bar r_a` is always
        over all of :math:`a`'s ratings.
    denominator
        ``"absolute"`` (default) divides by :math:`\sum_K |w(a, u)|`; ``"signed"`` by
        :math:`\sum_K w(a, u)`, as eq. 3 is printed in the paper. The two agree when every
        similarity is positive (always with cosine on ratings); with negative similarities the
        signed sum can come near 0 and throw the prediction far off the scale. A signed sum of
        exactly 0 gives no prediction: the user's mean, flagged ``"no_neighbors"``.
    ranking
        How top-N candidates are scored: ``"similarity_sum"`` (default) adds the similarities
        of the nearest users who rated the item, :math:`\sum_{u \in N_k(a), i \in I_u} w(a,u)`;
        ``"prediction"`` ranks by eq. 3. Predicted ratings ignore this option.
    num_threads
        numba threads (0: numba's setting).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        users x users float32, the top ``max_neighbors`` similarities of each row.

    Notes
    -----
    Top-N recommendation follows the paper's methodology: the candidates of user :math:`a`
    are the items rated by :math:`a`'s ``k`` nearest users (the first ``k`` stored
    neighbours) and not by :math:`a`; each is scored (see ``ranking``) and ranked by
    :func:`synerec.topk.topk_sparse`. Items that none of the ``k`` nearest users rated are
    not candidates. Eq. 3 is a rating estimate: ranked by it, items that one neighbour rated
    5 outrank items that many neighbours liked, which costs most of the top-N accuracy (on
    ML-100K u1, NDCG@10 0.06 against 0.42 for the similarity sum with cosine similarity); with
    ``ranking="prediction"`` the score equals :meth:`predict` before clipping.

    References
    ----------
    Resnick et al., CSCW 1994; Herlocker et al., SIGIR 1999.
    """

    evidence_kind: ClassVar[EvidenceKind] = "similar-users"

    _rating_similarity: ClassVar[str] = "pearson"
    fallback_targets: ClassVar[dict[int, str]] = {
        UNKNOWN_USER: "item_mean",
        UNKNOWN_ITEM: "user_mean",
        UNKNOWN_USER_AND_ITEM: "global_mean",
        NO_NEIGHBORS: "user_mean",
    }

    def _fit(self, data: TrainingData) -> None:
        self._set_similarity(self._similarity_of(data.matrix))

    def _set_similarity(self, S: sp.csr_matrix) -> None:
        super()._set_similarity(S)
        self._nb_mean: np.ndarray | None = None

    def _means(self) -> np.ndarray:
        return self.user_mean_

    @property
    def _signed(self) -> bool:
        return self.config_.denominator == "signed"

    def _neighbor_means(self) -> np.ndarray:
        """:math:`\bar r_u` of each stored neighbour entry (aligned with ``_nb_idx``) for
        ``neighbor_mean="corated"``; an empty array (the kernels then read ``user_mean_``)
        otherwise."""
        if self.config_.neighbor_mean != "corated":
            return np.zeros(0, np.float64)
        if self._nb_mean is None:
            X = self.train_
            with self._threads():
                self._nb_mean = _kernels().corated_means(
                    self._nb_indptr, self._nb_idx, X.indptr.astype(np.int64),
                    X.indices.astype(np.int32), X.data, self.user_mean_, self.n_items_,
                    self._n_blocks(self.n_users_))
        return self._nb_mean

    def _few(self, n_users: int) -> bool:
        """Whether a block of ``n_users`` users goes to the numpy twins of the kernels (one
        request's users, each neighbour's own mean: no kernel to load)."""
        return n_users <= SMALL_BLOCK and self.config_.neighbor_mean != "corated"

    def _transposed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._xt is None:
            XT = self.train_.T.tocsr()
            self._xt = (XT.indptr.astype(np.int64), XT.indices.astype(np.int32), XT.data)
        return self._xt

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def run(gu: np.ndarray, gs: np.ndarray, it: np.ndarray, *out: np.ndarray) -> None:
            if self._few(len(gu)):
                xt_indptr, xt_indices, xt_data = self._transposed()
                XT = sp.csr_matrix((xt_data, xt_indices, xt_indptr),
                                   shape=self.train_.shape[::-1])
                user_knn_predict_few(gu, gs, it, self._k, self._rows_sorted, XT,
                                     self.user_mean_, self._signed, *out)
                return
            with self._threads():
                _kernels().user_knn_predict(
                    gu, gs, it, self._k, self._nb_indptr, self._nb_idx, self._nb_sim,
                    *self._transposed(), self.user_mean_, self._neighbor_means(), self._signed,
                    self.n_users_, self._n_blocks(len(gu)), *out)

        return self._predict_grouped(users, items, run)

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        users = users.astype(np.int64)
        if self._few(len(users)):  # one request's users: numpy, no kernel to load
            if self.config_.ranking == "similarity_sum":
                return user_knn_score_sum_few(users, self._k, self._rows_sorted, self.train_)
            return user_knn_score_few(users, self._k, self._rows_sorted, self.train_,
                                      self.user_mean_, self._signed)
        x_indptr = self.train_.indptr.astype(np.int64)
        kern = _kernels()
        bounds = kern.user_knn_score_bounds(users, self._k, self._nb_indptr, self._nb_idx,
                                            x_indptr)
        if self.config_.ranking == "similarity_sum":
            return self._sparse_from(users, bounds, kern.user_knn_score_sum, self._nb_indptr,
                                     self._nb_idx, self._nb_sim, x_indptr,
                                     self.train_.indices.astype(np.int32), self.n_items_)
        return self._sparse_from(users, bounds, kern.user_knn_score, self._nb_indptr,
                                 self._nb_idx, self._nb_sim, *self._x(), self.user_mean_,
                                 self._neighbor_means(), self._signed, self.n_items_)

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        """The neighbours of eq. 3: id, similarity, rating of the item, mean, contribution.

        ``contribution`` is the neighbour's term ``w (r - mean) / sum |w|`` (``sum w`` with
        ``denominator="signed"``); the prediction is ``user_mean`` plus their sum. ``mean`` is
        the neighbour's :math:`\bar r_u` as eq. 3 used it (see ``neighbor_mean``). Sorted by
        absolute contribution, largest first.
        """
        out: dict[str, Any] = {"similarity": self.similarity_kind_,
                               "k": self._k, "neighbors": []}
        if user < 0 or item < 0 or self.user_count_[user] == 0:
            return out
        out["user_mean"] = float(self.user_mean_[user])
        nb_mean = self._neighbor_means()
        lo = int(self._nb_indptr[user])
        used: list[dict[str, Any]] = []
        den = 0.0
        for p, (v, w) in enumerate(zip(*self._neighbor_rows(user), strict=True)):
            r = self._rated_value(int(v), item)
            if r is None:
                continue
            mean = float(nb_mean[lo + p] if len(nb_mean) else self.user_mean_[v])
            used.append({"user": self.users_.id(int(v)), "user_index": int(v),
                         "similarity": float(w), "rating": r, "mean": mean,
                         "_term": float(w) * (r - mean)})
            den += float(w) if self._signed else abs(float(w))
            if len(used) == self._k:
                break
        out["neighbors"] = self._by_contribution(used, den) if used and den != 0 else []
        return out

    def score_contributors(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's ``k`` nearest neighbours who rated ``item``, with the term each adds to
        its top-N score: the similarity for ``ranking="similarity_sum"`` (the terms add up to
        the score), ``w (r - mean)`` for ``ranking="prediction"`` (eq. 3's numerator terms).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Neighbour user indices (int64, most similar first) and float64 terms.
        """
        self._check_fitted()
        if user < 0 or item < 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        nb, sim = (a[:self._k] for a in self._neighbor_rows(user))
        col = self.train_[:, [item]].tocoo()  # rows ascending (CSR order)
        keep = np.isin(nb, col.row)
        nb, sim = nb[keep].astype(np.int64), sim[keep].astype(np.float64)
        if self.config_.ranking == "similarity_sum":
            return nb, sim
        r = col.data[np.searchsorted(col.row, nb)].astype(np.float64)
        nb_mean = self._neighbor_means()
        pos = int(self._nb_indptr[user]) + np.flatnonzero(keep)
        means = nb_mean[pos] if len(nb_mean) else self.user_mean_[nb]
        return nb, sim * (r - means)

    def similar_users(self, user: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` stored neighbours most similar to ``user``.

        Returns
        -------
        ids : numpy.ndarray
            External user ids, most similar first (ties: lower index).
        similarities : numpy.ndarray
            float32 similarities.

        Raises
        ------
        UnknownIdError
            ``user`` is not in the vocabulary.
        """
        self._check_fitted()
        from synerec.similarity import top_neighbors

        idx, sims = top_neighbors(self.similarity_, self.users_.index(user), n)
        return self.users_.ids_of(idx), sims


@register_model("item-cf")
class ItemKNN(_NeighborhoodModel[ItemKNNConfig], ExplainsScore, SimilarItems):
    r"""Item-based collaborative filtering (the paper's eq. 4).

    .. math:: p(a, i) = \frac{\sum_{j \in K} r_{a,j}\, w(i, j)}{\sum_{j \in K} |w(i, j)|}

    or, with ``center=True``,
    :math:`\bar r_i + \sum_{j \in K} w(i, j) (r_{a,j} - \bar r_j) / \sum_{j \in K} |w(i, j)|`.
    :math:`K`: the ``k`` items most similar to :math:`i` among those :math:`a` rated, chosen
    within :math:`i`'s ``max_neighbors`` stored neighbours. No such item: the item's mean,
    flagged ``"no_neighbors"``.

    Parameters
    ----------
    k
        Neighbours per prediction.
    similarity
        ``"adjusted_cosine"`` (Sarwar's eq. 3, ratings centred by their user's mean),
        ``"cosine"`` (eq. 1), ``"pearson"`` (eq. 2, centred by the item's mean) or ``"auto"``
        (default): adjusted cosine for ratings, cosine for implicit feedback (purchases
        centred by a user's mean quantity mean nothing; on UCI Online Retail cosine ranks
        better, docs/experiments.md).
    max_neighbors
        Neighbours stored per item.
    min_support
        Pairs of items with fewer common raters get no similarity.
    shrinkage
        :math:`\lambda` of the factor :math:`n / (n + \lambda)`, ``n`` common raters.
    norms
        The similarity's denominator: ``"full"`` (sums of squares over each item's own
        ratings, eq. 1 as printed), ``"corated"`` (over the users who rated both items) or
        ``None`` (default: full for ``"cosine"``, co-rated for the others).
    center
        Predict the item mean plus the weighted residuals (more accurate) instead of the
        paper's plain weighted average.
    ranking
        How top-N candidates are scored: ``"similarity_sum"`` (default, Deshpande and
        Karypis) adds the similarities :math:`w(j, i)` of the user's items :math:`j` that list
        :math:`i` among their ``k`` nearest; ``"prediction"`` ranks by eq. 4 over them.
        Predicted ratings ignore this option.
    binarize
        Compute the similarity on the interaction pattern (every rating = 1) rather than on
        the ratings.
    num_threads
        numba threads (0: numba's setting).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        items x items float32, the top ``max_neighbors`` similarities of each row.

    Notes
    -----
    Top-N recommendation ranks the items similar to the user's items, as in Deshpande and
    Karypis's item-based top-N: the candidates are the union of the ``k`` most similar stored
    neighbours of each item :math:`j` the user rated, and candidate :math:`i` is scored by
    the sum of the similarities that listed it (default) or, with ``ranking="prediction"``,
    by eq. 4 over the rated items that listed it,
    :math:`\sum_{j: i \in N_k(j)} w(j, i)\, r_{a,j} / \sum_{j: i \in N_k(j)} |w(j, i)|`
    (centred like the prediction with ``center=True``), then ranked by
    :func:`synerec.topk.topk_sparse`. This costs ``k`` operations per rated item, whatever
    the catalogue size. The neighbourhood is "the items :math:`i` is among the nearest of"
    instead of "the nearest items of :math:`i`", so a score equals :meth:`predict`'s value when
    the similarity is not truncated (``k`` and ``max_neighbors`` at least the number of items)
    and approximates it otherwise.

    References
    ----------
    Sarwar et al., WWW 2001 (eq. 4); M. Deshpande, G. Karypis, "Item-based top-N
    recommendation algorithms", ACM TOIS 22(1), 2004 (top-N candidates).
    """

    evidence_kind: ClassVar[EvidenceKind] = "co-rating"

    _rating_similarity: ClassVar[str] = "adjusted_cosine"
    fallback_targets: ClassVar[dict[int, str]] = {
        UNKNOWN_USER: "item_mean",
        UNKNOWN_ITEM: "user_mean",
        UNKNOWN_USER_AND_ITEM: "global_mean",
        NO_NEIGHBORS: "item_mean",
    }

    def _fit(self, data: TrainingData) -> None:
        Xt = data.matrix.T.tocsr()
        if self.config_.binarize:
            Xt.data = np.ones_like(Xt.data)
        self._set_similarity(self._similarity_of(Xt))

    def _means(self) -> np.ndarray:
        return self.item_mean_

    @property
    def _center(self) -> bool:
        return bool(self.config_.center)

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._item_predict(users, items, self._center)

    def _item_predict(self, users: np.ndarray, items: np.ndarray, center: bool
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eq. 4 for the pairs (``center``: around the item means), by the kernel or, for one
        request's users, its numpy twin."""
        def run(gu: np.ndarray, gs: np.ndarray, it: np.ndarray, *out: np.ndarray) -> None:
            if len(gu) <= SMALL_BLOCK:
                item_knn_predict_few(gu, gs, it, self._k, self._rows_sorted, self.train_,
                                     self.train_.data, self.item_mean_, center, *out)
                return
            with self._threads():
                _kernels().item_knn_predict(
                    gu, gs, it, self._k, self._nb_indptr, self._nb_idx, self._nb_sim,
                    *self._x(), self.item_mean_, center, self.n_items_,
                    self._n_blocks(len(gu)), *out)

        return self._predict_grouped(users, items, run)

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        users = users.astype(np.int64)
        x_indptr, x_indices, x_data = self._x()
        if len(users) <= SMALL_BLOCK:  # one request's users: numpy, no kernel to load
            plain = self.config_.ranking == "similarity_sum"
            return item_knn_score_few(
                users, self.train_, self._rows_sorted, self.n_items_, self._k,
                np.ones_like(x_data) if plain else x_data, self.item_mean_,
                False if plain else self._center, not plain)
        kern = _kernels()
        bounds = kern.item_knn_score_bounds(users, self._k, x_indptr, x_indices,
                                            self._nb_indptr)
        if self.config_.ranking == "similarity_sum":
            ones = np.ones_like(x_data)
            return self._sparse_from(users, bounds, kern.item_knn_score, self._nb_indptr,
                                     self._nb_idx, self._nb_sim, x_indptr, x_indices, ones,
                                     self.item_mean_, False, False, self.n_items_)
        return self._sparse_from(users, bounds, kern.item_knn_score, self._nb_indptr,
                                 self._nb_idx, self._nb_sim, x_indptr, x_indices, x_data,
                                 self.item_mean_, self._center, True, self.n_items_)

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        """The neighbours of eq. 4: item id, similarity, the user's rating, contribution.

        ``contribution`` is ``w r / sum |w|`` (centred: ``w (r - mean) / sum |w|``, the
        prediction being ``item_mean`` plus their sum). Sorted by absolute contribution.
        """
        out: dict[str, Any] = {"similarity": self.similarity_kind_,
                               "k": self._k, "center": self._center, "neighbors": []}
        if user < 0 or item < 0 or self.item_count_[item] == 0:
            return out
        if self._center:
            out["item_mean"] = float(self.item_mean_[item])
        used: list[dict[str, Any]] = []
        den = 0.0
        for j, w in zip(*self._neighbor_rows(item), strict=True):
            r = self._rated_value(user, int(j))
            if r is None:
                continue
            entry: dict[str, Any] = {"item": self.items_.id(int(j)), "item_index": int(j),
                                     "similarity": float(w), "rating": r}
            base = 0.0
            if self._center:
                base = float(self.item_mean_[j])
                entry["mean"] = base
            entry["_term"] = float(w) * (r - base)
            used.append(entry)
            den += abs(float(w))
            if len(used) == self._k:
                break
        out["neighbors"] = self._by_contribution(used, den) if used else []
        return out

    # -- abilities ------------------------------------------------------------------------------
    def item_similarity(self) -> sp.csr_matrix:
        """The item-item similarity (each row's stored neighbours)."""
        self._check_fitted()
        return self.similarity_

    def _listed_by(self) -> sp.csr_matrix:
        """Items x items: row ``i`` holds the items ``j`` that list ``i`` among their ``k``
        nearest, with ``w(j, i)``: the terms the top-N scoring sums for ``i`` (each row of the
        similarity ordered by value, ties to the lower index, as in the kernel). Built once per
        fitted model."""
        listed = self.__dict__.get("_listed")
        if listed is None:
            S = self.similarity_
            k = int(self.config_.k)
            rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
            order = np.lexsort((S.indices, -S.data.astype(np.float64), rows))
            rank = np.arange(len(order)) - S.indptr[rows[order]]
            keep = order[rank < k]
            top = sp.csr_matrix((S.data[keep], (rows[keep], S.indices[keep])), shape=S.shape)
            listed = self.__dict__["_listed"] = top.T.tocsr()
        return listed

    def score_contributions(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's items ``j`` that list ``item`` among their ``k`` nearest, and the term
        each adds to ``item``'s top-N score: exactly what the scoring kernel sums (the
        similarity ``w(j, i)`` for ``ranking="similarity_sum"``; ``w (r - mean_j)``, or
        ``w r`` without centring, for ``ranking="prediction"``).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Item indices (int64, ascending) and float64 terms; empty for an unknown user or
            item.
        """
        self._check_fitted()
        none = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        if user < 0 or item < 0:
            return none
        X = self.train_
        start, end = X.indptr[user], X.indptr[user + 1]
        mine, ratings = X.indices[start:end], X.data[start:end]
        listed = self._listed_by()
        lo, hi = listed.indptr[item], listed.indptr[item + 1]
        js, ws = listed.indices[lo:hi], listed.data[lo:hi].astype(np.float64)
        hit = np.isin(js, mine)
        js, ws = js[hit].astype(np.int64), ws[hit]
        if self.config_.ranking == "similarity_sum":
            return js, ws
        r = ratings[np.searchsorted(mine, js)].astype(np.float64)
        if self.config_.center:
            r = r - self.item_mean_[js]
        return js, ws * r

    def similar_items(self, item: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` stored neighbours most similar to ``item``.

        Returns
        -------
        ids : numpy.ndarray
            External item ids, most similar first (ties: lower index).
        similarities : numpy.ndarray
            float32 similarities.

        Raises
        ------
        UnknownIdError
            ``item`` is not in the vocabulary.
        """
        self._check_fitted()
        from synerec.similarity import top_neighbors

        idx, sims = top_neighbors(self.similarity_, self.items_.index(item), n)
        return self.items_.ids_of(idx), sims
