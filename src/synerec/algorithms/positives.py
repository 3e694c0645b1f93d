r"""Positive feedback: what the ranking models (``ease``, ``als``, ``bpr``, ``rp3beta``) learn from.

These models learn *what a user interacts with and likes*, not a rating. They train on a users x
items matrix of **positives**, built in one place, :func:`positive_matrix`:

* **implicit data** (purchases, clicks; ``rating_scale is None``): every interaction is a positive
  and keeps its weight (a purchase count, a quantity) as the strength of the evidence;
* **explicit ratings**: a rating is a positive when it is at least the model's
  ``positive_threshold``; lower ratings are left out (a 1-star rating says the user did *not* like
  the item). The default, ``"auto"``, is :func:`default_positive_threshold`: three quarters of the
  way up the scale, **4 on a 1-5 scale** -- the same rule that makes a test rating *relevant* in
  the evaluation (:func:`synerec.evaluation.default_relevance_threshold`), so a model learns the
  kind of interaction it is measured on. ``positive_threshold=None`` keeps every rating (the
  rating then only weighs the evidence); a number sets the threshold on the scale (and, on
  implicit data, drops interactions whose weight is below it).

How each model uses the weights is its own choice, documented in its class: EASE and RP3beta use
the pattern only (1 per positive, as in their papers); ALS turns the weight :math:`w` into the
confidence of Hu et al. (2008), :math:`c = 1 + \alpha\, f(w)`; BPR samples from the pattern.

Scores, not ratings
-------------------
:class:`PositiveFeedbackModel` is the base of these models. Its
:meth:`~PositiveFeedbackModel.predict` returns the model's **ranking score** -- higher means more
likely to be liked -- and never a rating, even on explicit data: the scores are not clipped to
the rating scale and are not comparable with ratings (an EASE score of 0.3 is not "0.3 stars").
Consequently:

* the paper's recommend-or-not rule, :meth:`~PositiveFeedbackModel.recommend_item`, which
  thresholds a predicted rating, does not apply: it raises and says to rank with
  ``recommend`` (``synerec predict`` answers with the item's score and rank in the user's list);
* :attr:`PositiveFeedbackModel.predicts_ratings` is ``False``, and the evaluation runner reports no
  MAE / RMSE for them (``n/a`` in ``synerec evaluate``);
* fallbacks are scores as well: a user without any positive (unknown, or whose ratings are all
  below the threshold) gets the item's popularity -- the score that user's recommendations are
  ranked by -- and an item without training data gets 0.

References
----------
.. [1] Y. Hu, Y. Koren, C. Volinsky, "Collaborative filtering for implicit feedback datasets",
   ICDM 2008 (confidence weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.abilities import ExplainsScore, ScoresItemUsers, ScoresProfile
from synerec.algorithms.base import (
    NO_FALLBACK,
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNKNOWN_USER_AND_ITEM,
    Recommender,
    RecommenderConfig,
)
from synerec.algorithms.training import TrainingData
from synerec.exceptions import ConfigError, DataFormatError

__all__ = [
    "LinearItemModel",
    "PositiveFeedbackConfig",
    "PositiveFeedbackModel",
    "PositiveThreshold",
    "default_positive_threshold",
    "positive_matrix",
    "resolve_positive_threshold",
]

#: ``"auto"`` (:func:`default_positive_threshold`), ``None`` (every interaction) or a number.
PositiveThreshold = float | Literal["auto"] | None

# rows of scores computed at once when predicting pairs (bounds the users x items block)
_PAIR_BLOCK_CELLS = 1 << 22


def default_positive_threshold(rating_scale: tuple[float, float] | None) -> float | None:
    """Ratings at or above this are positives: ``low + 0.75 (high - low)`` (4 on 1-5).

    ``None`` for implicit data (every interaction is a positive).
    """
    if rating_scale is None:
        return None
    low, high = rating_scale
    return float(low + 0.75 * (high - low))


def resolve_positive_threshold(option: PositiveThreshold,
                               rating_scale: tuple[float, float] | None) -> float | None:
    """The threshold a ``positive_threshold`` option means on data with ``rating_scale``.

    ``"auto"``: :func:`default_positive_threshold`; ``None``: no threshold; a number: itself.

    Raises
    ------
    ConfigError
        A value that is neither ``"auto"``, ``None`` nor a finite number.
    """
    if option is None:
        return None
    if isinstance(option, str):
        if option != "auto":
            raise ConfigError(
                f"positive_threshold must be 'auto', null or a number, got {option!r}")
        return default_positive_threshold(rating_scale)
    value = float(option)
    if not np.isfinite(value):
        raise ConfigError(f"positive_threshold must be finite, got {option!r}")
    return value


def positive_matrix(X: sp.csr_matrix, threshold: float | None) -> sp.csr_matrix:
    """The positives of a training matrix: entries ``>= threshold`` (all when ``None``).

    Parameters
    ----------
    X
        Users x items CSR training matrix (ratings or implicit weights).
    threshold
        From :func:`resolve_positive_threshold`.

    Returns
    -------
    scipy.sparse.csr_matrix
        Same shape, float32, canonical; the kept entries keep their value (the weight of the
        evidence). Explicit zeros are dropped.
    """
    P = sp.csr_matrix(X, dtype=np.float32, copy=True)
    if threshold is not None:
        P.data[P.data < threshold] = 0.0
    P.eliminate_zeros()
    P.sort_indices()
    return P


class PositiveFeedbackConfig(RecommenderConfig):
    """Parameters shared by the positive-feedback models (:mod:`synerec.algorithms.positives`)."""

    positive_threshold: (Annotated[float, Field(allow_inf_nan=False)] | Literal["auto"]
                         | None) = "auto"


_PC = TypeVar("_PC", bound=PositiveFeedbackConfig)


class PositiveFeedbackModel(Recommender[_PC]):
    """Base of the ranking models that learn from positives and predict *scores*, not ratings.

    A subclass implements:

    ``_fit_positives(P)``
        Learn from the positives (``self.positives_``, float32 CSR, users x items).
    ``_user_scores(users)``
        ``(len(users), n_items)`` float32 scores of users that have positives (dense models),
        or, for ``sparse_scores`` models, ``_user_scores_sparse(users)`` as a CSR block.
    ``_model_arrays()`` / ``_load_model_arrays(arrays)``
        The learned arrays (the positives are rebuilt from the stored training matrix).

    Optionally ``_pair_scores(users, items)`` when single pairs can be scored faster than
    through whole rows (a factor model's dot products).

    See the module docstring for what predictions, thresholds and fallbacks mean.
    """

    #: Predictions are ranking scores, not ratings (no MAE / RMSE; no clipping to the scale).
    predicts_ratings: ClassVar[bool] = False
    fallback_targets: ClassVar[dict[int, str]] = {
        UNKNOWN_USER: "item_popularity",
        UNKNOWN_ITEM: "zero_score",
        UNKNOWN_USER_AND_ITEM: "zero_score",
    }

    positives_: sp.csr_matrix
    positive_threshold_: float | None

    # -- positives ----------------------------------------------------------------------------
    def _set_positives(self, X: sp.csr_matrix) -> None:
        option = self.config_.positive_threshold
        self.positive_threshold_ = resolve_positive_threshold(option, self.rating_scale_)
        self.positives_ = positive_matrix(X, self.positive_threshold_)
        self._has_positives = np.diff(self.positives_.indptr) > 0

    def _fit(self, data: TrainingData) -> None:
        self._require_positives(data.matrix)
        self._fit_positives(self.positives_)

    def _require_positives(self, X: sp.csr_matrix) -> None:
        """:meth:`_set_positives`, refusing training data without any positive."""
        self._set_positives(X)
        if self.positives_.nnz == 0:
            raise DataFormatError(
                f"no positive interactions to learn from: every training rating is below "
                f"positive_threshold={self.positive_threshold_:g}; lower it, or set it to null "
                "to use every rating")

    def _fit_positives(self, P: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _model_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        return self._model_arrays()

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._set_positives(self.train_)
        self._load_model_arrays(arrays)

    # -- scores ---------------------------------------------------------------------------------
    def _user_scores(self, users: np.ndarray) -> np.ndarray:
        S = self._user_scores_sparse(users)
        out = np.full(S.shape, np.nan, dtype=np.float32)
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        out[rows, S.indices] = S.data
        return out

    def _user_scores_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        raise NotImplementedError

    def _popularity_rows(self, n_rows: int) -> np.ndarray:
        row = self.item_popularity_.astype(np.float32)
        return np.broadcast_to(row, (n_rows, len(row))).copy()

    def _score(self, users: np.ndarray) -> np.ndarray:
        has = self._has_positives[users]
        if has.all():
            return np.asarray(self._user_scores(users), dtype=np.float32)
        out = self._popularity_rows(len(users))
        if has.any():
            out[has] = self._user_scores(users[has])
        return out

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        has = self._has_positives[users]
        if has.all():
            return sp.csr_matrix(self._user_scores_sparse(users))
        blocks: list[sp.csr_matrix] = []
        order = np.empty(len(users), dtype=np.int64)
        pos = 0
        if has.any():
            blocks.append(sp.csr_matrix(self._user_scores_sparse(users[has])))
            order[np.flatnonzero(has)] = np.arange(int(has.sum()))
            pos = int(has.sum())
        n_cold = int((~has).sum())
        blocks.append(sp.csr_matrix(self._popularity_rows(n_cold)))
        order[np.flatnonzero(~has)] = pos + np.arange(n_cold)
        return sp.csr_matrix(sp.vstack(blocks, format="csr")[order])

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of (user, item) pairs of users with positives, from whole rows of scores."""
        out = np.empty(len(users), dtype=np.float64)
        uniq, inverse = np.unique(users, return_inverse=True)
        step = max(1, _PAIR_BLOCK_CELLS // max(1, self.n_items_))
        for start in range(0, len(uniq), step):
            block = uniq[start:start + step]
            scores = self._user_scores(block)
            sel = (inverse >= start) & (inverse < start + len(block))
            out[sel] = scores[inverse[sel] - start, items[sel]]
        return out

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        has = self._has_positives[users]
        values = np.empty(len(users), dtype=np.float64)
        codes = np.full(len(users), NO_FALLBACK, dtype=np.int8)
        if has.any():
            v = self._pair_scores(users[has], items[has])
            values[has] = np.where(np.isfinite(v), v, 0.0)  # not a candidate: no evidence
        # a user whose ratings are all below the threshold has no positive: unknown to the model
        values[~has] = self.item_popularity_[items[~has]]
        codes[~has] = UNKNOWN_USER
        return values, np.zeros(len(users), dtype=np.int32), codes

    def _predict_fallback(self, users: np.ndarray, items: np.ndarray,
                          codes: np.ndarray) -> np.ndarray:
        out = np.zeros(len(codes), dtype=np.float64)
        m = codes == UNKNOWN_USER
        out[m] = self.item_popularity_[items[m]]
        return out

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        """The positive threshold, the user's positives and, for a linear item-item model, the
        ten positives that weigh most in ``item``'s score (id and weight)."""
        out: dict[str, Any] = {"positive_threshold": self.positive_threshold_}
        if user >= 0:
            out["user_positives"] = int(self.positives_.indptr[user + 1]
                                        - self.positives_.indptr[user])
        if not isinstance(self, ExplainsScore):
            return out
        mine, w = self.score_contributions(user, item)
        if len(mine):
            order = np.argsort(-np.abs(w), kind="stable")[:10]
            out["contributions"] = [{"item": self.items_.id(int(mine[o])),
                                     "weight": float(w[o])} for o in order if w[o] != 0]
        return out


class LinearItemModel(PositiveFeedbackModel[_PC], ExplainsScore, ScoresItemUsers,
                      ScoresProfile):
    """A positive-feedback model whose score is linear in the user's positives.

    :math:`s(u, j) = \\sum_{i \\in P_u} W_{ij}` over the user's (binarised) positives
    :math:`P_u`, with an items x items weight matrix :math:`W` (``ease``: :math:`B`,
    ``rp3beta``: the walk's :math:`W`). Such a model explains a score by its terms
    (:class:`~synerec.algorithms.abilities.ExplainsScore`) and scores any profile of items
    (:class:`~synerec.algorithms.abilities.ScoresProfile`), and scores one item for every user
    as one column :math:`P W_{:j}` (:class:`~synerec.algorithms.abilities.ScoresItemUsers`). A
    subclass implements :meth:`_item_weights`.
    """

    def score_item_users(self, item: int) -> np.ndarray:
        """``item``'s score for every user, :math:`P W_{:j}` over the binarised positives
        (see :class:`~synerec.algorithms.abilities.ScoresItemUsers`): NaN for a user without
        positives, and, for a sparse :math:`W`, for a user none of whose positives reaches the
        item (as in the model's own scores)."""
        self._check_fitted()
        j = int(self._check_indices(np.array([item]), self.n_items_, "item")[0])
        P = sp.csr_matrix(self.positives_, dtype=np.float32, copy=True)
        P.data = np.ones_like(P.data)
        W = self._item_weights()
        out = np.full(self.n_users_, np.nan, dtype=np.float32)
        if isinstance(W, np.ndarray):
            out[:] = np.asarray(P @ W[:, j].astype(np.float32), dtype=np.float32)
        else:
            col = sp.csr_matrix(W[:, [j]])
            reach = P @ sp.csr_matrix((np.ones(col.nnz, np.float32), col.indices, col.indptr),
                                      shape=col.shape)
            val = np.asarray((P @ col).todense(), dtype=np.float32).ravel()
            hit = np.asarray(reach.todense()).ravel() > 0
            out[hit] = val[hit]
        out[~self._has_positives] = np.nan
        mask = self.rankable_items()
        if mask is not None and not mask[j]:
            out[:] = np.nan
        return out

    def _item_weights(self) -> np.ndarray | sp.csr_matrix:
        """The items x items weights :math:`W` (dense or CSR)."""
        raise NotImplementedError

    def _times_weights(self, P: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """``P @ W`` (dense when :math:`W` is, i.e. unless :attr:`sparse_scores`); a model
        may compute it from the rows of :math:`W` that ``P`` reaches only."""
        return P @ self._item_weights()

    def score_contributions(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """What each of the user's positives adds to ``item``'s ranking score (indices).

        ``ease``: :math:`x_{ui} B_{ij}`, ``rp3beta``: :math:`x_{ui} W_{ij}`; the terms add up
        to the score :meth:`recommend` ranks by, and the explainer
        (:mod:`synerec.llm.explain`) cites the largest. Empty for a user without positives.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The user's positive items (int64 indices) and their float64 contributions.
        """
        self._check_fitted()
        W = self._item_weights()
        none = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        if user < 0 or item < 0 or not self._has_positives[user]:
            return none
        P = self.positives_
        mine = P.indices[P.indptr[user]:P.indptr[user + 1]].astype(np.int64)
        if isinstance(W, np.ndarray):
            terms = W[mine, item].astype(np.float64)
        else:
            terms = np.asarray(W[mine][:, [item]].todense(), dtype=np.float64).ravel()
        return mine, terms

    def score_profiles(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Scores of users given by their interactions (see
        :class:`~synerec.algorithms.abilities.ScoresProfile`): their positives (the model's
        threshold), binarised, times :math:`W`; NaN where a sparse :math:`W` reaches no item,
        as in the model's own scores. A profile without positives scores 0 everywhere (a sum
        over no items): the popular list it would get from :meth:`recommend` is the ranking's
        fallback (:mod:`synerec.algorithms.recommending`), not a score."""
        self._check_fitted()
        X = sp.csr_matrix(profiles, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_items_:
            raise ValueError(f"profiles must have {self.n_items_} columns, got shape {X.shape}")
        P = positive_matrix(X, self.positive_threshold_)
        P.data = np.ones_like(P.data)
        if not self.sparse_scores:  # a dense W
            return np.asarray(self._times_weights(P), dtype=np.float32)
        S = sp.csr_matrix(self._times_weights(P), dtype=np.float32)
        S.sum_duplicates()
        out = np.full(S.shape, np.nan, dtype=np.float32)
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        out[rows, S.indices] = S.data
        empty = np.diff(P.indptr) == 0
        out[empty] = 0.0
        return out
