"""What a model is fitted on: the interaction matrix with its side data, as one object.

``fit`` builds one :class:`TrainingData` from what it is given (a data set, a bare matrix, or a
``TrainingData`` a caller prepared) and hands it to the model's ``_fit``. A model that uses
more than the matrix declares it in :attr:`~synerec.algorithms.scoring.ScoringModel.needs`
(:data:`Need`), and reads it from the object:

=====================  ==================================================================
need                   where it comes from
=====================  ==================================================================
``"item_text"``        :attr:`TrainingData.item_embeddings` when the caller gave them (the
                       hybrid hands its text retrievers its own), else the items' text in
                       :attr:`TrainingData.dataset`, embedded by the model's encoder
``"timestamps"``       :attr:`TrainingData.timestamps`: the latest time of each stored
                       (user, item) of the matrix, from the data set's timestamps
``"categories"``       :meth:`TrainingData.item_categories`, from the data set's catalogue
=====================  ==================================================================

Nothing reaches ``_fit`` through instance attributes, and no caller inspects ``fit``'s signature
to find out what to pass: every model's ``fit`` takes the same arguments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp

from synerec.data.dataset import InteractionDataset
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError, DataFormatError

__all__ = ["Need", "TrainingData", "latest_times"]

#: Side data a model may need beyond the interaction matrix (see the module docstring).
Need = Literal["item_text", "timestamps", "categories"]


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The users x items training matrix with its vocabularies, scale and side data.

    Build it with :meth:`of` (what ``fit`` does); :meth:`with_matrix` gives the same side data
    over another matrix of the same shape (a validation part's fit part).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Users x items float32, sorted indices, no duplicates, finite, inside the scale.
    users, items : Vocabulary
        External ids of the rows and columns.
    rating_scale : tuple of float or None
        ``(low, high)`` of explicit ratings; ``None`` for implicit weights.
    dataset : InteractionDataset or None
        The data set the matrix came from (its catalogue, text and timestamps); ``None`` for
        a bare matrix and for :meth:`with_matrix`'s parts.
    item_embeddings : numpy.ndarray or None
        ``(n_items, d)`` float32 item embeddings given by the caller; a model that needs item
        text uses them instead of embedding the data set's text itself.
    """

    matrix: sp.csr_matrix
    users: Vocabulary
    items: Vocabulary
    rating_scale: tuple[float, float] | None
    dataset: InteractionDataset | None = None
    item_embeddings: np.ndarray | None = None
    given_timestamps: sp.csr_matrix | None = None

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def of(cls, data: InteractionDataset | TrainingData | sp.spmatrix | sp.sparray, *,
           rating_scale: tuple[float, float] | None = None,
           item_embeddings: np.ndarray | None = None) -> TrainingData:
        """Validated training data from a data set, a matrix, or training data.

        Parameters
        ----------
        data
            An :class:`~synerec.data.InteractionDataset`, a users x items sparse matrix (ids
            are then the row and column indices), or a :class:`TrainingData`.
        rating_scale
            For a matrix: ``(low, high)`` of explicit ratings, ``None`` for implicit weights.
            For a data set or training data: overrides its scale when given.
        item_embeddings
            ``(n_items, d)`` item embeddings (overrides those of a :class:`TrainingData`).

        Raises
        ------
        DataFormatError
            Not a matrix or data set, no interactions, non-finite values or values outside the
            rating scale.
        ConfigError
            Embeddings of the wrong shape or with non-finite values.
        """
        dataset = None
        given_times = None
        embeddings = None
        if isinstance(data, TrainingData):
            X, users, items = data.matrix, data.users, data.items
            scale = data.rating_scale if rating_scale is None else rating_scale
            dataset, given_times, embeddings = (data.dataset, data.given_timestamps,
                                                data.item_embeddings)
        elif isinstance(data, InteractionDataset):
            X, users, items = data.matrix, data.users, data.items
            scale = data.rating_scale if rating_scale is None else rating_scale
            dataset = data
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
            raise DataFormatError(f"fit needs an InteractionDataset or a scipy sparse users x "
                                  f"items matrix, got {type(data).__name__}")
        X, scale = _checked_matrix(X, scale)
        if item_embeddings is not None:
            embeddings = item_embeddings
        if embeddings is not None:
            embeddings = _checked_embeddings(embeddings, X.shape[1])
        return cls(X, users, items, scale, dataset, embeddings, given_times)

    def with_matrix(self, matrix: sp.csr_matrix, *,
                    item_embeddings: np.ndarray | None = None) -> TrainingData:
        """The same vocabularies, scale and side data over ``matrix`` (same shape), without
        the data set (so a model fitted on it keeps no catalogue).

        The timestamps are those of ``matrix``'s stored pairs (``None`` where the data has
        none); ``item_embeddings`` replaces the current ones when given.
        """
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if matrix.shape != self.matrix.shape:
            raise ValueError(f"matrix of shape {matrix.shape} for training data of shape "
                             f"{self.matrix.shape}")
        times = self.timestamps
        sub = None if times is None else _restrict(times, matrix)
        E = self.item_embeddings if item_embeddings is None else \
            _checked_embeddings(item_embeddings, matrix.shape[1])
        return replace(self, matrix=matrix, dataset=None, item_embeddings=E,
                       given_timestamps=sub)

    # -- side data ----------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Rows of the matrix."""
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        """Columns of the matrix."""
        return int(self.matrix.shape[1])

    @functools.cached_property
    def timestamps(self) -> sp.csr_matrix | None:
        """The latest timestamp (float64 seconds) of each stored (user, item) of the matrix,
        with the matrix's exact pattern; ``None`` when the data has no timestamps for every
        stored pair."""
        if self.given_timestamps is not None:
            return self.given_timestamps
        data = self.dataset
        if data is None or data.timestamps is None or not data.n_interactions:
            return None
        return latest_times(data.user_index, data.item_index, data.timestamps, self.matrix)

    def item_categories(self) -> list[tuple[str, ...]] | None:
        """Each item's categories (by index) from the data set's catalogue, ``None`` without a
        data set."""
        return None if self.dataset is None else self.dataset.item_categories()


def latest_times(users: np.ndarray, items: np.ndarray, times: np.ndarray,
                 X: sp.csr_matrix) -> sp.csr_matrix | None:
    """Latest timestamp of each stored (user, item) of ``X``, with ``X``'s exact pattern.

    Parameters
    ----------
    users, items, times
        One entry per interaction (indices into ``X``'s rows and columns; float seconds).
    X
        The matrix whose pattern the result takes.

    Returns
    -------
    scipy.sparse.csr_matrix or None
        float64 times; ``None`` when a stored pair of ``X`` has no interaction among them.
    """
    n_items = X.shape[1]
    keys = users.astype(np.int64) * n_items + items.astype(np.int64)
    order = np.lexsort((times, keys))
    keys, t = keys[order], times[order].astype(np.float64)
    last = np.r_[keys[1:] != keys[:-1], True]
    keys, t = keys[last], t[last]
    x_keys = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr)) * n_items \
        + X.indices
    pos = np.searchsorted(keys, x_keys)
    ok = pos < len(keys)
    ok[ok] = keys[pos[ok]] == x_keys[ok]
    if not ok.all():
        return None
    return sp.csr_matrix((t[pos], X.indices.copy(), X.indptr.copy()), shape=X.shape)


def _restrict(times: sp.csr_matrix, X: sp.csr_matrix) -> sp.csr_matrix | None:
    """``times`` on ``X``'s pattern (a part of the pairs ``times`` holds)."""
    rows = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))
    T = times.tocoo()
    return latest_times(T.row, T.col, T.data, X) if len(rows) else \
        sp.csr_matrix(X.shape, dtype=np.float64)


def _checked_matrix(X: sp.csr_matrix, scale: tuple[float, float] | None
                    ) -> tuple[sp.csr_matrix, tuple[float, float] | None]:
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
    return X, scale


def _checked_embeddings(E: np.ndarray, n_items: int) -> np.ndarray:
    """The one check of given item embeddings (float32, one finite row per item)."""
    E = np.asarray(E, dtype=np.float32)
    if E.ndim != 2 or E.shape[0] != n_items:
        raise ConfigError(f"item_embeddings must have shape ({n_items}, d), got {E.shape}")
    if not np.isfinite(E).all():
        raise ConfigError("item_embeddings must be finite numbers")
    return E
