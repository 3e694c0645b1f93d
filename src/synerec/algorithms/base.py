"""The base class of every recommender: scikit-learn conventions, ids at the edges, one ranking.

Writing a model
---------------
A model subclasses :class:`Recommender`, declares a pydantic config class (its parameters, with
their types, defaults and bounds) and an ``__init__`` that only stores the same keyword
arguments, registers itself with :func:`~synerec.algorithms.registry.register_model`, and
implements five small methods on *indices*:

``_fit(X)``
    Learn from ``X``, the users x items CSR float32 training matrix (``self.train_``). The
    validated parameters are in ``self.config_``; ``self.global_mean_``, ``user_mean_``,
    ``item_mean_``, ``user_count_``, ``item_count_`` are already set. Store learned arrays in
    attributes ending in ``_``.
``_predict(users, items)``
    Pairwise predictions for users and items that have training data (the base class routes
    every other pair to the fallback). Returns ``(values float64, n_neighbors int32,
    fallback int8)``; ``fallback`` is :data:`NO_FALLBACK` or, for a model that could not use its
    main formula (a neighbourhood model without neighbours), :data:`NO_NEIGHBORS` with the value
    it fell back to.
``_score(users)``
    ``(len(users), n_items)`` float32 ranking scores for users with training data; higher is
    better; NaN/inf marks an item the model cannot rank.
``_arrays()`` / ``_load_arrays(arrays)``
    The learned arrays by name, and their inverse, for :meth:`save` / :meth:`load` (scalars as
    0-d arrays; never object arrays).

Optional hooks: ``_predict_fallback`` (refine the fallback values, e.g. with biases),
``fallback_targets`` (what each fallback falls back to, shown in :class:`Prediction`),
``_explain`` (extra details for :meth:`Recommender.explain`) and ``scores_cold_items``.

A model that scores only a few candidate items per user (a neighbourhood model) sets
``sparse_scores = True`` and implements ``_score_sparse(users)``: a ``(len(users), n_items)``
CSR matrix whose stored entries are the candidates' scores (no column twice in a row).
:meth:`Recommender.recommend_indices` then ranks it with :func:`synerec.topk.topk_sparse`
(the same rules as :func:`~synerec.topk.topk`, unstored entries being unrankable) and never
builds a dense users x items block. ``_score`` must still return the same scores densely
(NaN where nothing is stored).

The base class does the rest: validation, id mapping, clipping to the rating scale, the
unknown-user and unknown-item fallbacks, batched top-k recommendation through
:func:`synerec.topk.topk`, the paper's recommend-or-not decision, and persistence.

Cold users and items
--------------------
A user (item) is *unknown* when its id is not in the vocabulary **or** it has no interaction in
the training matrix (vocabularies of a split data set hold every id of the full data set). For
an unknown pair, :meth:`Recommender.predict` returns by default:

=================================  ================  ============================
case                               ``fallback``      value (``fallback_to``)
=================================  ================  ============================
known user, unknown item           ``unknown_item``  the user's mean (``user_mean``)
unknown user, known item           ``unknown_user``  the item's mean (``item_mean``)
both unknown                       ``unknown_user_   the global mean
                                   and_item``        (``global_mean``)
=================================  ================  ============================

Models may refine these (the Baseline model uses its biases). :meth:`Recommender.recommend`
gives unknown users the most popular items (number of training interactions for ratings,
summed weight for implicit data) with that popularity as score, and by default never
recommends items without training interactions (``scores_cold_items = False``).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pydantic
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from synerec._list_length import check_list_length
from synerec.algorithms.persistence import read_model_dir, write_model_dir
from synerec.data.dataset import InteractionDataset
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import (
    ConfigError,
    DataFormatError,
    ModelFileError,
    NotFittedError,
)
from synerec.topk import PAD_INDEX, topk, topk_sparse

__all__ = [
    "FALLBACK_NAMES",
    "NO_FALLBACK",
    "NO_NEIGHBORS",
    "UNKNOWN_ITEM",
    "UNKNOWN_USER",
    "UNKNOWN_USER_AND_ITEM",
    "Decision",
    "Prediction",
    "Recommender",
    "RecommenderConfig",
    "default_threshold",
]

log = logging.getLogger(__name__)

#: Fallback codes (int8) returned alongside predictions.
NO_FALLBACK = 0
UNKNOWN_USER = 1
UNKNOWN_ITEM = 2
UNKNOWN_USER_AND_ITEM = 3
NO_NEIGHBORS = 4
#: Name of each fallback code, as shown in :attr:`Prediction.fallback`.
FALLBACK_NAMES: tuple[str | None, ...] = (
    None, "unknown_user", "unknown_item", "unknown_user_and_item", "no_neighbors")


class RecommenderConfig(BaseModel):
    """Base of every model's typed configuration: immutable, unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Prediction:
    """One predicted rating (or score, for implicit data) and how it was obtained.

    Attributes
    ----------
    user, item
        The external ids asked about.
    value
        The prediction, clipped to the rating scale.
    raw_value
        The model's value before clipping.
    clipped
        Whether clipping changed the value.
    n_neighbors
        Neighbours that contributed (neighbourhood models; 0 for the others).
    fallback
        ``None`` when the model's own formula was used, else ``"unknown_user"``,
        ``"unknown_item"``, ``"unknown_user_and_item"`` or ``"no_neighbors"``.
    fallback_to
        What was used instead (``"user_mean"``, ``"item_mean"``, ``"global_mean"``,
        ``"baseline"``, ...), ``None`` without fallback.
    details
        Model-specific terms of the prediction (biases, dot product, indices, ...).
    """

    user: Any
    item: Any
    value: float
    raw_value: float
    clipped: bool
    n_neighbors: int
    fallback: str | None
    fallback_to: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Whether to recommend one item to one user, with the reason.

    Attributes
    ----------
    prediction
        The prediction the decision is based on.
    recommend
        ``True`` when the user has not rated the item and ``prediction.value > threshold``.
    reason
        One sentence explaining the decision.
    threshold
        The threshold used.
    """

    prediction: Prediction
    recommend: bool
    reason: str
    threshold: float


def default_threshold(rating_scale: tuple[float, float] | None) -> float:
    """The recommend threshold: the point of the scale that 6 is on a 1..10 scale.

    ``low + (6 - 1) / (10 - 1) * (high - low)``, i.e. about 3.22 on 1..5; ``0.0`` for implicit
    data (any positive score).
    """
    if rating_scale is None:
        return 0.0
    low, high = rating_scale
    return float(low + (6.0 - 1.0) / (10.0 - 1.0) * (high - low))


class Recommender:
    """Base class of synerec's recommenders (see the module docstring for how to write one).

    Attributes (after :meth:`fit`)
    ------------------------------
    users_, items_ : Vocabulary
        External ids <-> row / column indices.
    train_ : scipy.sparse.csr_matrix
        Users x items float32 training matrix (sorted indices, no duplicates).
    rating_scale_ : tuple of float or None
        ``(low, high)``, or ``None`` for implicit feedback.
    global_mean_ : float
        Mean training value.
    user_mean_, item_mean_ : numpy.ndarray
        float64 mean value per user / item (``global_mean_`` where there is no data).
    user_count_, item_count_ : numpy.ndarray
        int64 number of training interactions per user / item.
    item_popularity_ : numpy.ndarray
        float64 popularity used for unknown users: ``item_count_`` for ratings, summed weight
        for implicit data.
    config_ : RecommenderConfig
        The validated parameters the model was fitted with.
    """

    #: The pydantic model of this class's parameters (same names as ``__init__``'s).
    config_class: ClassVar[type[RecommenderConfig]] = RecommenderConfig
    #: What each fallback code falls back to (shown in :attr:`Prediction.fallback_to`).
    fallback_targets: ClassVar[dict[int, str]] = {
        UNKNOWN_USER: "item_mean",
        UNKNOWN_ITEM: "user_mean",
        UNKNOWN_USER_AND_ITEM: "global_mean",
    }
    #: Whether items without training interactions may be recommended (content-based models).
    scores_cold_items: ClassVar[bool] = False
    #: Whether ``recommend`` ranks :meth:`_score_sparse` (candidate items only) instead of the
    #: dense :meth:`_score` block.
    sparse_scores: ClassVar[bool] = False

    users_: Vocabulary
    items_: Vocabulary
    train_: sp.csr_matrix
    rating_scale_: tuple[float, float] | None
    global_mean_: float
    user_mean_: np.ndarray
    item_mean_: np.ndarray
    user_count_: np.ndarray
    item_count_: np.ndarray
    item_popularity_: np.ndarray
    config_: RecommenderConfig

    # -- parameters (scikit-learn conventions) ------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their current values (scikit-learn API)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters (scikit-learn API); an unknown name is a ConfigError.

        Values are validated by the next :meth:`fit` or :meth:`get_config`.
        """
        names = set(self._param_names())
        for key, value in params.items():
            if key not in names:
                raise ConfigError(f"{type(self).__name__} has no parameter {key!r}; "
                                  f"parameters: {', '.join(sorted(names))}")
            setattr(self, key, value)
        return self

    def get_config(self) -> RecommenderConfig:
        """The parameters as this class's validated, typed config (ConfigError when invalid)."""
        return self._validate_config(self.get_params())

    @classmethod
    def from_config(cls, config: RecommenderConfig | Mapping[str, Any]) -> Self:
        """Build an unfitted model from a config object or a mapping (e.g. parsed JSON/TOML).

        Raises
        ------
        ConfigError
            An unknown option (named) or an invalid value.
        """
        if isinstance(config, BaseModel):
            if not isinstance(config, cls.config_class):
                raise ConfigError(f"{cls.__name__} needs a {cls.config_class.__name__}, got "
                                  f"{type(config).__name__}")
            values = config.model_dump()
        elif isinstance(config, Mapping):
            values = cls._validate_config(dict(config)).model_dump()
        else:
            raise ConfigError(f"config must be a mapping or a {cls.config_class.__name__}")
        return cls(**values)

    @classmethod
    def _validate_config(cls, values: dict[str, Any]) -> RecommenderConfig:
        try:
            return cls.config_class.model_validate(values)
        except pydantic.ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "config"
                if err["type"] == "extra_forbidden":
                    known = ", ".join(sorted(cls.config_class.model_fields))
                    problems.append(f"unknown option {name!r} (options: {known})")
                else:
                    problems.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
            raise ConfigError(f"invalid {cls.__name__} configuration: "
                              + "; ".join(problems)) from None

    def __repr__(self) -> str:
        try:
            params = self.get_params()
        except AttributeError:
            return f"{type(self).__name__}(...)"
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        data: InteractionDataset | sp.spmatrix | sp.sparray,
        *,
        rating_scale: tuple[float, float] | None = None,
    ) -> Self:
        """Learn from interactions.

        Parameters
        ----------
        data
            An :class:`~synerec.data.InteractionDataset`, or a users x items sparse matrix whose
            stored entries are the interactions (ids are then the row and column indices).
        rating_scale
            For a matrix: ``(low, high)`` of explicit ratings; ``None`` (default) means implicit
            weights. For a data set: overrides its own scale when given.

        Returns
        -------
        Recommender
            ``self``, fitted.

        Raises
        ------
        ConfigError
            Invalid parameters.
        DataFormatError
            No interactions, non-finite values or values outside the rating scale.
        """
        config = self.get_config()
        X, users, items, scale = _training_data(data, rating_scale)
        self.config_ = config
        self._set_training_state(X, users, items, scale)
        log.info("fitting %s on %d users x %d items, %d interactions", type(self).__name__,
                 X.shape[0], X.shape[1], X.nnz)
        self._fit(X)
        return self

    def _set_training_state(self, X: sp.csr_matrix, users: Vocabulary, items: Vocabulary,
                            scale: tuple[float, float] | None) -> None:
        self.users_ = users
        self.items_ = items
        self.train_ = X
        self.rating_scale_ = scale
        values = X.data.astype(np.float64)
        self.global_mean_ = float(values.mean())
        self.user_count_ = np.diff(X.indptr).astype(np.int64)
        self.item_count_ = np.bincount(X.indices, minlength=X.shape[1]).astype(np.int64)
        rows = np.repeat(np.arange(X.shape[0]), self.user_count_)
        user_sum = np.bincount(rows, weights=values, minlength=X.shape[0])
        item_sum = np.bincount(X.indices, weights=values, minlength=X.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            self.user_mean_ = np.where(self.user_count_ > 0, user_sum / self.user_count_,
                                       self.global_mean_)
            self.item_mean_ = np.where(self.item_count_ > 0, item_sum / self.item_count_,
                                       self.global_mean_)
        self.item_popularity_ = (self.item_count_.astype(np.float64) if scale is not None
                                 else item_sum)

    # -- what subclasses implement --------------------------------------------------------------
    def _fit(self, X: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _score(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        """Candidate scores as a ``(len(users), n_items)`` CSR matrix (``sparse_scores``)."""
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- optional hooks -----------------------------------------------------------------------
    def _predict_fallback(self, users: np.ndarray, items: np.ndarray,
                          codes: np.ndarray) -> np.ndarray:
        """Values for pairs with an unknown user and/or item (see the module docstring).

        ``users``/``items`` hold the index, or ``-1`` for an id outside the vocabulary; ``codes``
        is :data:`UNKNOWN_USER`, :data:`UNKNOWN_ITEM` or :data:`UNKNOWN_USER_AND_ITEM`.
        """
        out = np.full(len(codes), self.global_mean_, dtype=np.float64)
        m = codes == UNKNOWN_ITEM
        out[m] = self.user_mean_[users[m]]
        m = codes == UNKNOWN_USER
        out[m] = self.item_mean_[items[m]]
        return out

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        """Model-specific details of one prediction (indices may be ``-1``)."""
        return {}

    # -- state checks -------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has been called."""
        return "train_" in self.__dict__

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call "
                                 "fit(data) first")

    @property
    def n_users_(self) -> int:
        """Rows of the training matrix."""
        self._check_fitted()
        return self.train_.shape[0]

    @property
    def n_items_(self) -> int:
        """Columns of the training matrix."""
        self._check_fitted()
        return self.train_.shape[1]

    def _known_users(self, users: np.ndarray) -> np.ndarray:
        ok = users >= 0
        ok[ok] = self.user_count_[users[ok]] > 0
        return ok

    def _known_items(self, items: np.ndarray) -> np.ndarray:
        ok = items >= 0
        ok[ok] = self.item_count_[items[ok]] > 0
        return ok

    def _check_indices(self, idx: Any, size: int, kind: str) -> np.ndarray:
        arr = np.asarray(idx)
        if arr.ndim == 0:
            arr = arr[None]
        if arr.ndim != 1:
            raise ValueError(f"{kind} indices must be one-dimensional, got shape {arr.shape}")
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"{kind} indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        bad = (arr < -1) | (arr >= size)
        if bad.any():
            raise ValueError(f"{kind} index {int(arr[bad][0])} out of range -1..{size - 1} "
                             "(-1 = unknown)")
        return arr

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, users: Iterable[Any], items: Iterable[Any]) -> np.ndarray:
        """Predicted ratings (scores for implicit data) for pairs of external ids.

        Parameters
        ----------
        users, items
            Equal-length sequences of external ids; ``predict([u1, u2], [i1, i2])`` predicts
            ``(u1, i1)`` and ``(u2, i2)``. Unknown ids get the documented fallback.

        Returns
        -------
        numpy.ndarray
            float64 predictions clipped to ``rating_scale_``.
        """
        self._check_fitted()
        u = self.users_.indices(_as_id_list(users), missing="negative")
        i = self.items_.indices(_as_id_list(items), missing="negative")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length ({len(u)} != {len(i)})")
        return self._predict_all(u, i)[0]

    def predict_indices(self, users: Any, items: Any) -> np.ndarray:
        """:meth:`predict` for pairs of indices (``-1`` = unknown), vectorised."""
        self._check_fitted()
        u = self._check_indices(users, self.n_users_, "user")
        i = self._check_indices(items, self.n_items_, "item")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length ({len(u)} != {len(i)})")
        return self._predict_all(u, i)[0]

    def _predict_all(self, u: np.ndarray, i: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(clipped values, raw values, n_neighbors, fallback codes) for index pairs."""
        known_u = self._known_users(u)
        known_i = self._known_items(i)
        codes = np.where(known_u, np.where(known_i, NO_FALLBACK, UNKNOWN_ITEM),
                         np.where(known_i, UNKNOWN_USER, UNKNOWN_USER_AND_ITEM)).astype(np.int8)
        raw = np.empty(len(u), dtype=np.float64)
        nbrs = np.zeros(len(u), dtype=np.int32)
        main = codes == NO_FALLBACK
        if main.any():
            v, nn, c = self._predict(u[main], i[main])
            raw[main] = v
            nbrs[main] = nn
            codes[main] = c
        fb = ~main
        if fb.any():
            raw[fb] = self._predict_fallback(u[fb], i[fb], codes[fb])
        values = raw if self.rating_scale_ is None else np.clip(raw, *self.rating_scale_)
        return values, raw, nbrs, codes

    def predict_one(self, user: Any, item: Any) -> Prediction:
        """One prediction with its provenance (fallback, neighbours, model terms).

        Unknown ids are not an error: they get the documented fallback, flagged in the result.
        """
        self._check_fitted()
        u = int(self.users_.indices([user], missing="negative")[0])
        i = int(self.items_.indices([item], missing="negative")[0])
        values, raw, nbrs, codes = self._predict_all(np.array([u]), np.array([i]))
        code = int(codes[0])
        details: dict[str, Any] = {"user_index": u, "item_index": i,
                                   "global_mean": self.global_mean_}
        details.update(self._explain(u, i))
        return Prediction(
            user=user, item=item, value=float(values[0]), raw_value=float(raw[0]),
            clipped=bool(values[0] != raw[0]), n_neighbors=int(nbrs[0]),
            fallback=FALLBACK_NAMES[code],
            fallback_to=None if code == NO_FALLBACK else self.fallback_targets.get(code),
            details=details,
        )

    #: Alias of :meth:`predict_one`: a prediction with everything needed to explain it.
    explain = predict_one

    def recommend_item(self, user: Any, item: Any, threshold: float | None = None) -> Decision:
        """Decide whether to recommend ``item`` to ``user`` (the paper's rule).

        Recommend when the user has not rated the item in the training data and the predicted
        rating exceeds ``threshold``.

        Parameters
        ----------
        user, item
            External ids (unknown ids use the prediction fallback).
        threshold
            Default :func:`default_threshold` of ``rating_scale_`` (3.22 on 1..5); for
            implicit data it applies to the score (default 0).
        """
        pred = self.predict_one(user, item)
        thr = default_threshold(self.rating_scale_) if threshold is None else float(threshold)
        rated = self._rated_value(pred.details["user_index"], pred.details["item_index"])
        word = "score" if self.rating_scale_ is None else "rating"
        if rated is not None:
            return Decision(pred, False,
                            f"user {user!r} has already rated item {item!r} ({rated:g})", thr)
        how = ""
        if pred.fallback is not None:
            how = f" ({pred.fallback}: fell back to {pred.fallback_to})"
        if pred.value > thr:
            reason = f"predicted {word} {pred.value:.3g}{how} exceeds the threshold {thr:.3g}"
            return Decision(pred, True, reason, thr)
        reason = f"predicted {word} {pred.value:.3g}{how} does not exceed the threshold {thr:.3g}"
        return Decision(pred, False, reason, thr)

    def _rated_value(self, u: int, i: int) -> float | None:
        if u < 0 or i < 0:
            return None
        start, end = self.train_.indptr[u], self.train_.indptr[u + 1]
        row = self.train_.indices[start:end]
        pos = int(np.searchsorted(row, i))
        if pos < len(row) and row[pos] == i:
            return float(self.train_.data[start + pos])
        return None

    # -- recommendation -----------------------------------------------------------------------
    def recommend(
        self,
        users: Iterable[Any],
        n: int = 10,
        *,
        exclude_seen: bool = True,
        items: Iterable[Any] | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each user.

        Parameters
        ----------
        users
            External user ids. Unknown users get the most popular items.
        n
            List length.
        exclude_seen
            Leave out each user's training items.
        items
            Optional candidate item ids (all known to the model); only they are ranked.
        batch_size
            Users scored at once (memory: ``batch_size * n_items`` float32).

        Returns
        -------
        ids : numpy.ndarray
            ``(len(users), n)`` object array of item ids, best first; ``None`` pads lists
            shorter than ``n``.
        scores : numpy.ndarray
            ``(len(users), n)`` float32 scores; ``-inf`` at padding.
        """
        self._check_fitted()
        u = self.users_.indices(_as_id_list(users), missing="negative")
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
            known = self._known_users(ub)
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
        known = self._known_users(u)
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

        Padding is dropped, so a user may have fewer than ``n`` rows.
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

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model as a directory (``model.json`` + ``arrays.npz``, no pickle).

        See :mod:`synerec.algorithms.persistence` for the format. An existing model directory
        at ``path`` is replaced atomically.
        """
        from synerec.algorithms.registry import model_name

        self._check_fitted()
        X = self.train_
        arrays = {
            "base.users": self.users_.to_array(),
            "base.items": self.items_.to_array(),
            "base.train_indptr": X.indptr.astype(np.int64),
            "base.train_indices": X.indices.astype(np.int32),
            "base.train_data": X.data.astype(np.float32),
        }
        for key, value in self._arrays().items():
            arrays[f"model.{key}"] = np.asarray(value)
        return write_model_dir(
            path, class_name=model_name(type(self)),
            config=self.config_.model_dump(mode="json"), arrays=arrays,
            rating_scale=self.rating_scale_,
            metadata={"n_users": int(X.shape[0]), "n_items": int(X.shape[1]),
                      "n_interactions": int(X.nnz), "model_class": type(self).__name__},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load a model saved by :meth:`save`; the class comes from the registry, by name.

        ``Recommender.load`` loads any model; ``MatrixFactorization.load`` insists on that
        class (or a subclass).

        Raises
        ------
        ModelFileError
            Missing, truncated or corrupted files, a checksum mismatch, an unknown model name,
            an invalid config or arrays that do not fit together.
        """
        from synerec.algorithms.registry import get_model_class

        mf = read_model_dir(path)
        try:
            model_cls = get_model_class(mf.class_name)
        except ConfigError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        if not issubclass(model_cls, cls):
            raise ModelFileError(f"{path} holds a {model_cls.__name__} model "
                                 f"({mf.class_name!r}), not a {cls.__name__}")
        try:
            model = model_cls.from_config(mf.config)
        except ConfigError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        a = mf.arrays
        try:
            users = Vocabulary.from_array(a["base.users"], kind="user")
            items = Vocabulary.from_array(a["base.items"], kind="item")
            X = sp.csr_matrix((a["base.train_data"], a["base.train_indices"],
                               a["base.train_indptr"]), shape=(len(users), len(items)))
            X.check_format(full_check=True)
            if X.nnz == 0:
                raise ValueError("the training matrix is empty")
            model.config_ = model.get_config()
            model._set_training_state(X, users, items, mf.rating_scale)
            model._load_arrays({k[len("model."):]: v for k, v in a.items()
                                if k.startswith("model.")})
        except (KeyError, ValueError, IndexError, TypeError, DataFormatError) as exc:
            raise ModelFileError(f"{path}: stored arrays are inconsistent: {exc}") from exc
        log.info("loaded %s from %s", model_cls.__name__, path)
        return model  # type: ignore[return-value]


def _as_id_list(ids: Iterable[Any]) -> list[Any] | np.ndarray:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"expected a sequence of ids, got {ids!r}; use predict_one for one pair")
    if isinstance(ids, np.ndarray):
        return ids.ravel()
    if isinstance(ids, (pd.Series, pd.Index)):
        return ids.to_numpy()
    return list(ids)


def _training_data(
    data: InteractionDataset | sp.spmatrix | sp.sparray,
    rating_scale: tuple[float, float] | None,
) -> tuple[sp.csr_matrix, Vocabulary, Vocabulary, tuple[float, float] | None]:
    """Validate training data: (CSR float32 matrix, user vocab, item vocab, rating scale)."""
    if isinstance(data, InteractionDataset):
        X = data.matrix
        users, items = data.users, data.items
        scale = data.rating_scale if rating_scale is None else rating_scale
    elif sp.issparse(data):
        if data.ndim != 2:
            raise DataFormatError(f"training matrix must be 2-D, got shape {data.shape}")
        X = sp.csr_matrix(data, dtype=np.float32, copy=True)
        X.sum_duplicates()
        X.sort_indices()
        users = Vocabulary(np.arange(X.shape[0], dtype=np.int64), kind="user")
        items = Vocabulary(np.arange(X.shape[1], dtype=np.int64), kind="item")
        scale = rating_scale
    else:
        raise DataFormatError(f"fit needs an InteractionDataset or a scipy sparse users x items "
                              f"matrix, got {type(data).__name__}")
    if X.nnz == 0:
        raise DataFormatError("no interactions to fit on")
    if not np.isfinite(X.data).all():
        raise DataFormatError("training values must be finite numbers")
    if scale is not None:
        low, high = (float(scale[0]), float(scale[1]))
        if not low < high:
            raise DataFormatError(f"rating scale must have low < high, got {scale}")
        if X.data.min() < low or X.data.max() > high:
            raise DataFormatError(
                f"training ratings span {X.data.min():g}..{X.data.max():g}, outside the rating "
                f"scale {low:g}..{high:g}")
        scale = (low, high)
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)  # the model owns its training matrix
    if not X.has_sorted_indices:
        X.sort_indices()
    return X, users, items, scale
