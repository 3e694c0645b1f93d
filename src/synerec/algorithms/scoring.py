"""The scoring contract: what a model implements, and the training state it builds on.

Part 2 of the model contract (the overview is in :mod:`synerec.algorithms.base`). A model is a
:class:`ScoringModel` that implements, on *indices*:

``_fit(data)``
    Learn from ``data``, a :class:`~synerec.algorithms.training.TrainingData`: the users x
    items CSR float32 training matrix ``data.matrix`` (also ``self.train_``) with the side data
    the model declared in :attr:`~ScoringModel.needs` (timestamps, item embeddings, the
    catalogue). The validated parameters are in ``self.config_``; the training state below is
    already set. Store learned arrays in attributes ending in ``_``.
``_predict(users, items)``
    Pairwise predictions for users and items that have training data (every other pair goes
    to the fallback). Returns ``(values float64, n_neighbors int32, fallback int8)``;
    ``fallback`` is :data:`NO_FALLBACK` or, for a model that could not use its main formula (a
    neighbourhood model without neighbours), :data:`NO_NEIGHBORS` with the value it fell back to.
``_score(users)``
    ``(len(users), n_items)`` float32 ranking scores for users with training data; higher is
    better; NaN/inf marks an item the model cannot rank.
``_score_sparse(users)`` (only with ``sparse_scores = True``)
    The same scores as a CSR matrix storing only each user's candidates (no column twice in a
    row); ranking then never builds a dense users x items block.
``_arrays()`` / ``_load_arrays(arrays)``
    The learned arrays by name, and their inverse, for saving (scalars as 0-d arrays; never
    object arrays).

What a model can do beyond this contract (explain a score by its terms, explain a list, give
its item similarity, score a fresh profile) it declares by inheriting the abilities of
:mod:`synerec.algorithms.abilities`; callers ask ``isinstance(model, Ability)``.

Optional hooks: ``_files()`` / ``_load_files(files)`` (extra files saved beside the arrays in
their own format, e.g. a LightGBM model as text; checksummed like the arrays),
``_predict_fallback`` (refine the fallback values, e.g. with biases),
``fallback_targets`` (what each fallback falls back to), ``_explain`` (extra details of one
prediction) and ``scores_cold_items``.

What ``fit`` provides before ``_fit`` runs: the id vocabularies ``users_`` / ``items_``, the
training matrix ``train_``, ``rating_scale_``, and the means and counts (``global_mean_``,
``user_mean_``, ``item_mean_``, ``user_count_``, ``item_count_``, ``item_popularity_``) that
the fallbacks and the popularity list for unknown users use. Loading a saved model
(:meth:`~synerec.algorithms.saving.Saving.load`) rebuilds the same state, so ``_fit`` and
``_load_arrays`` see the same attributes.

Fitted on an :class:`~synerec.data.InteractionDataset`, a model also keeps what its answers
show and where its data came from: ``catalogue_`` (each item's title and category),
``data_name_`` and ``data_source_`` (how to read the data set again). They are saved with the
model, so a model directory answers with titles and needs no ``--dataset`` again.

Unknown users and items
-----------------------
One policy for the whole product (docs/your-data.md, "Unknown users and items"): an id the
model has no training data for is an error by default (:class:`~synerec.exceptions.
UnknownUserError` / :class:`~synerec.exceptions.UnknownItemError` naming it), in
``recommend``, ``recommend_frame``, ``predict``, ``predict_one`` and ``recommend_item`` alike;
``unknown="fallback"`` asks for the documented cold-start answer instead (popular items, mean
values), flagged in the result. The index-level methods (``recommend_indices``,
``predict_indices``) take ``-1`` for an unknown id and always fall back: they serve evaluation
and batch jobs that decided already.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.abilities import EvidenceKind
from synerec.algorithms.params import C, Configurable
from synerec.algorithms.training import Need, TrainingData
from synerec.data.dataset import InteractionDataset
from synerec.data.vocabulary import count_distinct, is_pandas_1d
from synerec.exceptions import ConfigError, NotFittedError, UnknownIdError

if TYPE_CHECKING:
    from synerec.data.vocabulary import Vocabulary

__all__ = [
    "CATALOGUE_COLUMNS",
    "FALLBACK_NAMES",
    "NO_FALLBACK",
    "NO_NEIGHBORS",
    "UNKNOWN_ITEM",
    "UNKNOWN_POLICIES",
    "UNKNOWN_USER",
    "UNKNOWN_USER_AND_ITEM",
    "ScoringModel",
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
#: What a model may be asked to do with ids it does not know (see the module docstring).
UNKNOWN_POLICIES = ("error", "fallback")
#: The catalogue columns a fitted model keeps (and saves) for its answers.
CATALOGUE_COLUMNS = ("title", "category")


class ScoringModel(Configurable[C]):
    """What every model implements (the ``_`` methods) on top of the shared training state.

    Attributes (after ``fit``)
    --------------------------
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
    catalogue_ : dict of numpy.ndarray or None
        ``title`` and ``category`` of each item (by index) when fitted on a data set.
    data_name_ : str or None
        The data set's name.
    data_source_ : dict or None
        How to read the data set again (:attr:`~synerec.data.InteractionDataset.source`).
    """

    #: What each fallback code falls back to (shown in ``Prediction.fallback_to``).
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
    #: Whether predictions are ratings on the data's scale (MAE / RMSE apply); ranking models
    #: that learn from positives predict scores instead.
    predicts_ratings: ClassVar[bool] = True
    #: The side data ``fit`` uses beyond the interaction matrix
    #: (:class:`~synerec.algorithms.training.Need`); a caller that fits the model on a bare
    #: matrix must supply it (:class:`~synerec.algorithms.training.TrainingData`).
    needs: ClassVar[frozenset[Need]] = frozenset()
    #: What kind of evidence the model's score rests on
    #: (:data:`~synerec.algorithms.abilities.EvidenceKind`).
    evidence_kind: ClassVar[EvidenceKind] = "other"
    #: The name the model is registered under (set by
    #: :func:`~synerec.algorithms.registry.register_model`; ``None`` for an unregistered class).
    registered_name: ClassVar[str | None] = None
    #: Every registered model class by name; filled by
    #: :func:`~synerec.algorithms.registry.register_model` (loading a saved model looks its
    #: class up here, by the name the file records).
    registered_classes: ClassVar[dict[str, type[Any]]] = {}

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
    catalogue_: dict[str, np.ndarray] | None
    data_name_: str | None
    data_source_: dict[str, Any] | None

    @classmethod
    def model_name(cls) -> str:
        """The name this class is registered under (what a saved model file records).

        Raises
        ------
        ConfigError
            The class is not registered.
        """
        name = cls.__dict__.get("registered_name")
        if name is None or ScoringModel.registered_classes.get(name) is not cls:
            raise ConfigError(f"{cls.__name__} is not a registered model; call "
                              f"register_model(name, {cls.__name__}) before saving it")
        return str(name)

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        data: InteractionDataset | TrainingData | sp.spmatrix | sp.sparray,
        *,
        rating_scale: tuple[float, float] | None = None,
        item_embeddings: np.ndarray | None = None,
    ) -> Self:
        """Learn from interactions.

        Parameters
        ----------
        data
            An :class:`~synerec.data.InteractionDataset`, a users x items sparse matrix whose
            stored entries are the interactions (ids are then the row and column indices), or
            a :class:`~synerec.algorithms.training.TrainingData` (a matrix with its side data,
            as the hybrid hands it to its retrievers).
        rating_scale
            For a matrix: ``(low, high)`` of explicit ratings; ``None`` (default) means implicit
            weights. For a data set: overrides its own scale when given.
        item_embeddings
            ``(n_items, d)`` item embeddings, row ``i`` for item index ``i``, used by the
            models that need item text (:attr:`needs`) instead of their encoder; ignored by
            the others.

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
        training = TrainingData.of(data, rating_scale=rating_scale,
                                   item_embeddings=item_embeddings)
        self.config_ = config
        X = training.matrix
        self._set_training_state(X, training.users, training.items, training.rating_scale)
        self._set_data_info(training.dataset)
        log.info("fitting %s on %d users x %d items, %d interactions", type(self).__name__,
                 X.shape[0], X.shape[1], X.nnz)
        self._fit(training)
        return self

    def _set_training_state(self, X: sp.csr_matrix, users: Vocabulary, items: Vocabulary,
                            scale: tuple[float, float] | None,
                            like: ScoringModel[Any] | None = None) -> None:
        """The training state of ``X``; ``like``: a model whose state is of this same ``X``
        and ``scale``, whose statistics are shared instead of computed again (the retrievers
        of a loaded hybrid; no model changes them in place)."""
        if like is not None and like.train_ is X and like.rating_scale_ == scale:
            self.users_, self.items_, self.train_, self.rating_scale_ = users, items, X, scale
            self.global_mean_ = like.global_mean_
            self.user_count_, self.item_count_ = like.user_count_, like.item_count_
            self.user_mean_, self.item_mean_ = like.user_mean_, like.item_mean_
            self.item_popularity_ = like.item_popularity_
            return
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

    def _set_data_info(self, data: InteractionDataset | None) -> None:
        """Keep the catalogue and the data set's name and source (``None`` for a matrix)."""
        self.catalogue_ = None
        self.data_name_ = None
        self.data_source_ = None
        if data is None:
            return
        self.data_name_ = data.name
        self.data_source_ = data.source
        info = data.item_info
        if info is not None and len(info) == data.n_items:
            self.catalogue_ = {
                col: np.asarray(info[col].fillna("").astype(str).to_numpy(), dtype=np.str_)
                if col in info else np.full(data.n_items, "", dtype=np.str_)
                for col in CATALOGUE_COLUMNS}

    # -- unknown ids: the one policy --------------------------------------------------------
    def _known_indices(self, ids: Iterable[Any], kind: str, unknown: str) -> np.ndarray:
        """Indices of external ids (``-1`` for an id outside the vocabulary).

        An id is unknown when it is outside the vocabulary or has no training data.
        ``unknown="error"``: an :class:`~synerec.exceptions.UnknownIdError` names the first
        unknown id (and counts the others); ``"fallback"``: the indices are returned as they
        are, and the index-level methods give unknown ones the documented fallback.
        """
        if unknown not in UNKNOWN_POLICIES:
            raise ConfigError(f"unknown must be 'error' or 'fallback', not {unknown!r}")
        vocab = self.users_ if kind == "user" else self.items_
        id_list = _as_id_list(ids)
        idx = vocab.indices(id_list, missing="negative")
        known = self.known_users(idx) if kind == "user" else self.known_items(idx)
        if unknown == "error" and not known.all():
            bad = np.asarray(id_list, dtype=object)[~known]
            first = bad[0].item() if isinstance(bad[0], np.generic) else bad[0]
            what = ("the most popular items" if kind == "user" else "mean values")
            raise UnknownIdError(first, kind, count=count_distinct(bad),
                                 hint=f"unknown='fallback' answers with {what}")
        return idx

    # -- what subclasses implement --------------------------------------------------------------
    def _fit(self, data: TrainingData) -> None:
        """Learn from ``data.matrix`` and its side data (see the module docstring)."""
        raise NotImplementedError

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(values, n_neighbors, fallback codes)`` for pairs of known users and items."""
        raise NotImplementedError

    def _score(self, users: np.ndarray) -> np.ndarray:
        """``(len(users), n_items)`` float32 ranking scores of known users."""
        raise NotImplementedError

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        """Candidate scores as a ``(len(users), n_items)`` CSR matrix (``sparse_scores``)."""
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        """The learned arrays by name, for saving."""
        raise NotImplementedError

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore the learned state from :meth:`_arrays`' output (the base state is set)."""
        raise NotImplementedError

    # -- optional hooks -----------------------------------------------------------------------
    def _files(self) -> dict[str, bytes | str]:
        """Extra files to save beside the arrays, by plain file name (default: none)."""
        return {}

    def _load_files(self, files: dict[str, bytes]) -> None:
        """Restore state from :meth:`_files`' output; runs after :meth:`_load_arrays`."""
        if files:
            raise ValueError(f"{type(self).__name__} stores no extra files, the model directory "
                             f"lists {sorted(files)}")

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

    def known_users(self, users: np.ndarray) -> np.ndarray:
        """Which user indices the model knows: in the vocabulary (not ``-1``) and with at
        least one training interaction. The one rule for a known user (the recommend path,
        the service, the console and the batch jobs all ask here).

        Parameters
        ----------
        users
            User indices; ``-1`` for an id outside the vocabulary.

        Returns
        -------
        numpy.ndarray
            Boolean mask, ``True`` for a known user.
        """
        users = np.asarray(users, dtype=np.int64)
        ok = users >= 0
        ok[ok] = self.user_count_[users[ok]] > 0
        return ok

    def known_items(self, items: np.ndarray) -> np.ndarray:
        """Which item indices the model knows (in the vocabulary, with training data); see
        :meth:`known_users`."""
        items = np.asarray(items, dtype=np.int64)
        ok = items >= 0
        ok[ok] = self.item_count_[items[ok]] > 0
        return ok

    def is_known_user(self, user: int) -> bool:
        """:meth:`known_users` for one user index."""
        return bool(self.known_users(np.asarray([user]))[0])

    def is_known_item(self, item: int) -> bool:
        """:meth:`known_items` for one item index."""
        return bool(self.known_items(np.asarray([item]))[0])

    def prepare_serving(self) -> None:
        """Called once by the service after loading: a model drops work that a request must
        never wait for (the hybrid: its LLM stage; the precomputed lists used it). Default:
        nothing."""

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

    def _rated_value(self, u: int, i: int) -> float | None:
        """The training value of user index ``u`` for item index ``i``, None when unrated."""
        if u < 0 or i < 0:
            return None
        start, end = self.train_.indptr[u], self.train_.indptr[u + 1]
        row = self.train_.indices[start:end]
        pos = int(np.searchsorted(row, i))
        if pos < len(row) and row[pos] == i:
            return float(self.train_.data[start + pos])
        return None


def _as_id_list(ids: Iterable[Any]) -> list[Any] | np.ndarray:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"expected a sequence of ids, got {ids!r}; use predict_one for one pair")
    if isinstance(ids, np.ndarray):
        return ids.ravel()
    if is_pandas_1d(ids):
        return ids.to_numpy()
    return list(ids)
