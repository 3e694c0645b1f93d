r"""Text-enhanced neighbourhood models: T-ItemCF and T-UserCF.

The CF twins (:class:`~synerec.algorithms.ItemKNN`, :class:`~synerec.algorithms.UserKNN`) with a
similarity that blends collaborative and language-model evidence
(:func:`synerec.similarity.text.blend_similarity`):

.. math:: w(i, j) = \alpha\, s_{CF}(i, j) + (1 - \alpha) \cos(e_i, e_j)

over the union of the CF and the ``text_neighbors`` text candidates, truncated to the top
``max_neighbors`` per row and stored sparse like the CF core. Predictions are the twins' eq. 4
(items) and eq. 3 (users), through the same numba kernels.

* **Item text** (:class:`TextItemKNN`): :func:`synerec.text.item_texts` with the default
  template (title, genres / category, brand, description, features, tags, review summaries, as
  far as the catalogue has them), embedded once through the on-disk
  :class:`~synerec.text.EmbeddingCache`.
* **User text** (:class:`TextUserKNN`): :func:`synerec.text.user_profiles`, the mean-centred,
  rating-weighted average of the embeddings of the items the user rated *in the training
  matrix*.
* ``alpha="auto"`` picks :math:`\alpha` from :data:`ALPHA_GRID` on a seeded 10 % holdout of the
  *training* ratings (MAE for ratings, the top-10 hit rate for implicit data; ties go to the
  larger alpha, i.e. less text), then fits on all of the training data; the choice is
  ``alpha_``, the validation score of each alpha is ``validation_scores_`` and what that score
  is, ``"mae"`` or ``"1 - hit rate"``, is ``validation_metric_`` (``validation_mae_``, the old
  name, is a deprecated alias: for implicit data it never held an MAE).

Cold start
----------
An item without training ratings but with text (T-ItemCF, ``cold_start=True``) has an empty CF
row, so its neighbours come from text alone: it is predicted by eq. 4 from the user's ratings of
textually similar items (the paper's plain, uncentred eq. 4: it has no mean of its own to
centre on), and it can be recommended
(``scores_cold_items``) to users who rated its text neighbours. A user with few ratings has few
CF neighbours (``min_support``), so the text-profile neighbours fill their neighbourhood.

Fitting from a bare matrix needs ``item_embeddings=`` (``alpha=1`` needs no text at all).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.abilities import EvidenceKind
from synerec.algorithms.base import NO_FALLBACK, UNKNOWN_ITEM, RecommenderConfig
from synerec.algorithms.knn import (
    ItemKNN,
    ItemKNNConfig,
    UserKNN,
    UserKNNConfig,
    _NeighborhoodModel,
)
from synerec.algorithms.registry import register_model
from synerec.algorithms.training import Need, TrainingData
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError
from synerec.similarity.text import blend_parts, blend_similarity, text_similarity

__all__ = [
    "ALPHA_GRID",
    "TextItemKNN",
    "TextItemKNNConfig",
    "TextUserKNN",
    "TextUserKNNConfig",
    "center_rows",
    "embed_items",
]

log = logging.getLogger(__name__)

#: The alphas ``alpha="auto"`` chooses from.
ALPHA_GRID: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Share of the training ratings held out to choose ``alpha="auto"``.
VALIDATION_FRACTION = 0.1

AlphaOpt = float | Literal["auto"]


class _TextOptions(RecommenderConfig):
    alpha: AlphaOpt = "auto"
    encoder: str = "minilm"
    text_neighbors: int = Field(50, ge=1)
    center_text: bool = True
    random_state: int = 0

    def check_alpha(self) -> None:
        if self.alpha != "auto" and not 0.0 <= float(self.alpha) <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1] or 'auto', got {self.alpha!r}")


class TextItemKNNConfig(_TextOptions, ItemKNNConfig):
    """Parameters of :class:`TextItemKNN`: :class:`ItemKNNConfig`'s plus the text options."""

    cold_start: bool = True


class TextUserKNNConfig(_TextOptions, UserKNNConfig):
    """Parameters of :class:`TextUserKNN`: :class:`UserKNNConfig`'s plus the text options."""


def embed_items(data: InteractionDataset, encoder: str = "minilm") -> np.ndarray:
    """Unit embeddings of ``data``'s item texts (default template), through the default cache.

    Items without text get zero rows; when no item has text the encoder is not run at all.
    """
    from synerec.text import EmbeddingCache, cached_encode, create_encoder, item_texts

    texts = item_texts(data)
    if not any(t.strip() for t in texts):
        log.warning("%s has no item text: the text similarity is empty", data.name)
        return np.zeros((len(texts), 1), dtype=np.float32)
    enc = create_encoder(encoder)
    E = cached_encode(enc, texts, cache=EmbeddingCache())
    empty = np.array([not t.strip() for t in texts])
    E[empty] = 0.0
    return E


def center_rows(R: np.ndarray) -> np.ndarray:
    """Unit rows of ``R`` minus the mean of its nonzero rows (zero rows stay zero).

    Sentence embeddings share a common direction (unrelated MiniLM texts have cosines around
    0.2 to 0.4); removing the mean makes the cosine rank neighbours by what sets a text apart.
    """
    from synerec.text import normalize_rows

    R = np.array(R, dtype=np.float32)
    nz = np.abs(R).sum(axis=1) > 0
    if nz.any():
        R[nz] -= R[nz].mean(axis=0)
    return normalize_rows(R)


#: The config of a text model (either kind).
_TC = TypeVar("_TC", bound=TextItemKNNConfig | TextUserKNNConfig)


class _TextMixin(_NeighborhoodModel[_TC]):
    """Embedding handling, the blended similarity and ``alpha="auto"`` for both models.

    It precedes the CF twin in the bases (``TextItemKNN(_TextMixin[...], ItemKNN)``), so its
    ``fit`` wraps the twin's and the twin provides the neighbourhood formulas.
    """

    #: Item text, embedded by ``encoder`` (or given as ``item_embeddings=`` to ``fit``).
    needs: ClassVar[frozenset[Need]] = frozenset({"item_text"})
    alpha_: float
    #: After a fit with ``alpha="auto"``: the validation score of each alpha of the grid,
    #: lower is better (see :attr:`validation_metric_`).
    validation_scores_: dict[float, float]
    #: What :attr:`validation_scores_` holds: ``"mae"`` (ratings) or ``"1 - hit rate"``
    #: (implicit data, the top-10 hit rate).
    validation_metric_: str

    # -- the blend ----------------------------------------------------------------------------
    def _embeddings_for_fit(self, data: TrainingData) -> np.ndarray | None:
        """The item embeddings of the blend: given ones, else the data set's text embedded
        by ``encoder`` (through the cache); ``None`` for plain CF (``alpha=1``)."""
        config = self.config_
        config.check_alpha()
        if config.alpha == 1.0:
            return data.item_embeddings
        if data.item_embeddings is not None:
            return data.item_embeddings
        if data.dataset is not None:
            return embed_items(data.dataset, config.encoder)
        raise ConfigError(f"{type(self).__name__} needs item text: fit it on an "
                          "InteractionDataset, or pass item_embeddings= with a matrix (or "
                          "set alpha=1 for plain CF)")

    def _rows_embeddings(self, X: sp.csr_matrix, E: np.ndarray) -> np.ndarray:
        """The embeddings of the similarity's rows (items, or user profiles)."""
        raise NotImplementedError

    def _text_rows(self, X: sp.csr_matrix, E: np.ndarray) -> np.ndarray:
        """:meth:`_rows_embeddings`, centred on their mean when ``center_text``."""
        R = self._rows_embeddings(X, E)
        return center_rows(R) if self.config_.center_text else R

    def _cf_similarity(self, X: sp.csr_matrix) -> sp.csr_matrix:
        raise NotImplementedError

    def _blend(self, X: sp.csr_matrix, E: np.ndarray | None) -> tuple[sp.csr_matrix, float]:
        cfg = self.config_
        S_cf = self._cf_similarity(X)
        if E is None or cfg.alpha == 1.0:
            return blend_similarity(S_cf, np.zeros((S_cf.shape[0], 1), np.float32), 1.0,
                                    text_neighbors=1, max_neighbors=cfg.max_neighbors), 1.0
        R = self._text_rows(X, E)
        T = self._text_candidates(X, R)
        if cfg.alpha == "auto":
            alpha = self._choose_alpha(X, E)
        else:
            alpha = float(cfg.alpha)
        S = blend_similarity(S_cf, R, alpha, text_neighbors=cfg.text_neighbors,
                             max_neighbors=cfg.max_neighbors, text=T,
                             text_only=self._text_only_rows(X))
        return S, alpha

    def _choose_alpha(self, X: sp.csr_matrix, E: np.ndarray) -> float:
        """The alpha of :data:`ALPHA_GRID` with the best validation score on a holdout of ``X``.

        The score (lower is better) is the MAE for ratings and ``1 - hit rate`` of the top 10
        for implicit data; all of them are kept in ``validation_scores_``.
        """
        cfg = self.config_
        rng = np.random.default_rng(cfg.random_state)
        n = X.nnz
        val = np.zeros(n, dtype=bool)
        val[rng.choice(n, size=max(1, round(VALIDATION_FRACTION * n)), replace=False)] = True
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        if val.all():
            return 1.0
        sub = sp.csr_matrix((X.data[~val], (rows[~val], X.indices[~val])), shape=X.shape,
                            dtype=np.float32)
        sub.sort_indices()
        params = {**cfg.model_dump(), "alpha": 1.0}
        tmp = type(self).from_config(params)
        tmp.fit(sub, rating_scale=self.rating_scale_, item_embeddings=E)
        S_cf = tmp.similarity_  # alpha = 1: the CF similarity of the sub-matrix
        R = tmp._text_rows(sub, E)
        parts = blend_parts(S_cf, R, tmp._text_candidates(sub, R))
        vu, vi = rows[val], X.indices[val]
        truth = X.data[val].astype(np.float64)
        implicit = self.rating_scale_ is None
        best, best_score = 1.0, np.inf
        scores = {}
        for a in sorted(ALPHA_GRID, reverse=True):
            tmp._set_similarity(blend_similarity(
                S_cf, R, a, text_neighbors=cfg.text_neighbors, max_neighbors=cfg.max_neighbors,
                parts=parts, text_only=tmp._text_only_rows(sub)))
            tmp._after_similarity()
            if implicit:
                score = 1.0 - _hit_rate(tmp, vu, vi)
            else:
                score = float(np.mean(np.abs(tmp.predict_indices(vu, vi) - truth)))
            scores[a] = score
            if score < best_score - 1e-12:
                best, best_score = a, score
        metric = "1 - hit rate" if implicit else "mae"
        log.info("%s alpha=auto: validation %s %s -> alpha %.2f", type(self).__name__, metric,
                 {a: round(m, 4) for a, m in scores.items()}, best)
        self.validation_scores_ = scores
        self.validation_metric_ = metric
        return best

    @property
    def validation_mae_(self) -> dict[float, float]:
        """Deprecated alias of :attr:`validation_scores_` (not an MAE for implicit data)."""
        warnings.warn("validation_mae_ is deprecated: use validation_scores_ (and "
                      "validation_metric_, which says whether they are MAEs or 1 - hit rate)",
                      DeprecationWarning, stacklevel=2)
        try:
            return self.validation_scores_
        except AttributeError:
            raise AttributeError(f"{type(self).__name__} has no validation_mae_: it is set "
                                 "by a fit with alpha='auto'") from None

    def _text_candidates(self, X: sp.csr_matrix, R: np.ndarray) -> sp.csr_matrix:
        """Top ``text_neighbors`` cosines per row; rows without CF data get ``max_neighbors``.

        A cold row has no CF candidates, so its whole neighbourhood comes from text.
        """
        cfg = self.config_
        T = text_similarity(R, cfg.text_neighbors)
        cold = self._text_only_rows(X)
        if cold is not None and cold.any() and cfg.max_neighbors > cfg.text_neighbors:
            T = T.maximum(text_similarity(R, cfg.max_neighbors, rows=np.flatnonzero(cold)))
            T = sp.csr_matrix(T)
            T.sort_indices()
        return T

    # hooks
    def _text_only_rows(self, X: sp.csr_matrix) -> np.ndarray | None:
        """Rows without any CF data whose pairs get text similarity alone (None: no such)."""
        return None

    def _set_text_state(self, E: np.ndarray | None, X: sp.csr_matrix) -> None:
        pass

    def _after_similarity(self) -> None:
        pass


def _hit_rate(model: Any, users: np.ndarray, items: np.ndarray, n: int = 10) -> float:
    """Share of held-out (user, item) pairs whose item is in the user's top ``n``."""
    uniq, inv = np.unique(users, return_inverse=True)
    rec, _ = model.recommend_indices(uniq, n, exclude_seen=True)
    return float((rec[inv] == items[:, None]).any(axis=1).mean())


def _check_finite_alpha(value: np.ndarray) -> float:
    alpha = float(np.asarray(value).reshape(()))
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"stored alpha {alpha} is outside [0, 1]")
    return alpha


@register_model("t-item-cf")
class TextItemKNN(_TextMixin[TextItemKNNConfig], ItemKNN):
    r"""T-ItemCF: item-based CF on a CF + text similarity (eq. 4 on the blended weights).

    Parameters
    ----------
    k, similarity, max_neighbors, min_support, shrinkage, norms, center, ranking, binarize
        As in :class:`~synerec.algorithms.ItemKNN`.
    num_threads
        As in :class:`~synerec.algorithms.ItemKNN`.
    alpha
        Weight of the CF similarity in ``[0, 1]`` (1: plain ItemKNN), or ``"auto"`` (chosen on a
        holdout of the training data, see the module docstring).
    encoder
        :func:`synerec.text.create_encoder` kind: ``"minilm"`` (default), ``"model2vec"``
        (static, fast), ``"tfidf"`` or ``"openai"``.
    text_neighbors
        Text candidates per item (top cosines) added to the CF candidates.
    center_text
        Subtract the mean embedding before the cosine (:func:`center_rows`).
    random_state
        Seed of the validation holdout of ``alpha="auto"``.
    cold_start
        Predict and recommend items without training ratings from their text neighbours.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        items x items float32, the blended top ``max_neighbors`` of each row.
    alpha_ : float
        The alpha used.
    validation_scores_ : dict
        After a fit with ``alpha="auto"``: the validation score of each alpha of the grid
        (lower is better).
    validation_metric_ : str
        What those scores are: ``"mae"`` for ratings, ``"1 - hit rate"`` (top 10) for
        implicit data. ``validation_mae_`` is a deprecated alias of ``validation_scores_``.
    item_has_text_ : numpy.ndarray
        bool per item: a nonzero embedding.
    item_mean_ : numpy.ndarray
        As in the base class, except that with ``cold_start`` an item without ratings but with
        text gets a prior mean: the similarity-weighted mean of its warm neighbours' means
        (the global mean without any).

    References
    ----------
    Sarwar et al., WWW 2001 (eq. 4); N. Reimers, I. Gurevych, "Sentence-BERT", EMNLP 2019.
    """

    evidence_kind: ClassVar[EvidenceKind] = "text"

    @property
    def scores_cold_items(self) -> bool:  # type: ignore[override]  # a ClassVar in the base
        return bool(self.is_fitted and self.config_.cold_start)

    def _cf_similarity(self, X: sp.csr_matrix) -> sp.csr_matrix:
        Xt = X.T.tocsr()
        if self.config_.binarize:  # as ItemKNN._fit
            Xt.data = np.ones_like(Xt.data)
        return self._similarity_of(Xt)

    def _rows_embeddings(self, X: sp.csr_matrix, E: np.ndarray) -> np.ndarray:
        return E

    def _text_only_rows(self, X: sp.csr_matrix) -> np.ndarray | None:
        if not self.config_.cold_start:
            return None
        return np.bincount(X.indices, minlength=X.shape[1]) == 0

    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        self._plain_item_mean = self.item_mean_.copy()
        E = self._embeddings_for_fit(data)
        self._set_text_state(E, X)
        S, self.alpha_ = self._blend(X, E)
        self._set_similarity(S)
        self._after_similarity()

    def _set_text_state(self, E: np.ndarray | None, X: sp.csr_matrix) -> None:
        if E is None:
            self.item_has_text_ = np.zeros(X.shape[1], dtype=bool)
        else:
            self.item_has_text_ = np.abs(E).sum(axis=1) > 0
        cold = (self.item_count_ == 0) & self.item_has_text_
        self._cold_embeddings = (np.flatnonzero(cold), None if E is None else E[cold])

    def _after_similarity(self) -> None:
        """Cold items' prior means, from their (text) neighbours' means (``item_mean_``)."""
        plain = self._plain_item_mean
        means = plain.copy()
        if self.config_.cold_start:
            cold = np.flatnonzero((self.item_count_ == 0) & self.item_has_text_)
            S = self._similarity_rows(cold)  # the cold items' rows only
            for r, i in enumerate(cold):
                lo, hi = S.indptr[r], S.indptr[r + 1]
                nb, w = S.indices[lo:hi], S.data[lo:hi].astype(np.float64)
                warm = self.item_count_[nb] > 0
                den = np.abs(w[warm]).sum()
                if den > 0:
                    means[i] = float(np.dot(w[warm], plain[nb[warm]]) / den)
        self.item_mean_ = means

    def _means(self) -> np.ndarray:
        return self._plain_item_mean

    def known_items(self, items: np.ndarray) -> np.ndarray:
        """Warm items, and with ``cold_start`` also items with text (they have text
        neighbours)."""
        items = np.asarray(items, dtype=np.int64)
        ok = items >= 0
        warm = np.zeros(len(items), dtype=bool)
        warm[ok] = self.item_count_[items[ok]] > 0
        if not self.config_.cold_start:
            return warm
        text = np.zeros(len(items), dtype=bool)
        text[ok] = self.item_has_text_[items[ok]]
        return warm | text

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        value, nbrs, code = super()._predict(users, items)
        is_cold = self.item_count_[items] == 0
        if is_cold.any():
            # the paper's plain eq. 4 for cold items: the weighted mean of the user's ratings
            # of the textually similar items (no item mean to centre on; measured on ML-100K,
            # bench/text_cf.py, it beats centring on the neighbours' means)
            v, n, c = self._item_predict(users[is_cold], items[is_cold], False)
            value[is_cold], nbrs[is_cold], code[is_cold] = v, n, c
        # a cold item none of whose neighbours the user rated is still an unknown item: fall
        # back like the base class does (to the user's mean)
        cold = is_cold & (code != NO_FALLBACK)
        if cold.any():
            code[cold] = UNKNOWN_ITEM
            value[cold] = self.user_mean_[users[cold]]
        return value, nbrs, code

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        out = super()._explain(user, item)
        out["alpha"] = self.alpha_
        if item >= 0 and self.item_count_[item] == 0 and self.config_.cold_start \
                and self.item_has_text_[item]:
            out["cold_item"] = True
            out["neighbors"] = self._cold_neighbors(user, item)
        return out

    def _cold_neighbors(self, user: int, item: int) -> list[dict[str, Any]]:
        used: list[dict[str, Any]] = []
        for j, w in zip(*self._neighbor_rows(item), strict=True):
            r = self._rated_value(user, int(j)) if user >= 0 else None
            if r is None:
                continue
            used.append({"item": self.items_.id(int(j)), "item_index": int(j),
                         "similarity": float(w), "rating": r})
            if len(used) == self._k:
                break
        return used

    # -- persistence ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        out = super()._arrays()
        idx, emb = self._cold_embeddings
        out["alpha"] = np.asarray(self.alpha_, dtype=np.float64)
        out["item_has_text"] = self.item_has_text_.astype(np.bool_)
        out["cold_items"] = idx.astype(np.int64)
        out["cold_embeddings"] = (np.zeros((0, 0), np.float32) if emb is None
                                  else emb.astype(np.float32))
        return out

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._plain_item_mean = self.item_mean_.copy()
        super()._load_arrays(arrays)
        self.alpha_ = _check_finite_alpha(arrays["alpha"])
        has_text = np.asarray(arrays["item_has_text"])
        if has_text.shape != (self.n_items_,) or has_text.dtype != np.bool_:
            raise ValueError("item_has_text does not match the item vocabulary")
        self.item_has_text_ = has_text
        idx = np.asarray(arrays["cold_items"], dtype=np.int64)
        emb = np.asarray(arrays["cold_embeddings"], dtype=np.float32)
        if len(idx) and (emb.ndim != 2 or emb.shape[0] != len(idx)):
            raise ValueError("cold_embeddings do not match cold_items")
        self._cold_embeddings = (idx, emb if len(idx) else None)
        self._after_similarity()

    @property
    def cold_item_embeddings_(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(indices, embeddings) of the items with text and no training rating."""
        self._check_fitted()
        return self._cold_embeddings


@register_model("t-user-cf")
class TextUserKNN(_TextMixin[TextUserKNNConfig], UserKNN):
    r"""T-UserCF: user-based CF on a CF + text-profile similarity (eq. 3 on the blended weights).

    The text of a user is their profile :func:`synerec.text.user_profiles` (training matrix,
    item embeddings): the mean-centred rating-weighted average of the embeddings of the items
    they rated.

    Parameters
    ----------
    k, similarity, max_neighbors, min_support, shrinkage, norms, neighbor_mean, denominator
        As in :class:`~synerec.algorithms.UserKNN`.
    ranking, num_threads
        As in :class:`~synerec.algorithms.UserKNN`.
    alpha, encoder, text_neighbors, center_text, random_state
        As in :class:`TextItemKNN`.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        users x users float32, the blended top ``max_neighbors`` of each row.
    alpha_ : float
        The alpha used.

    References
    ----------
    Resnick et al., CSCW 1994 (eq. 3).
    """

    evidence_kind: ClassVar[EvidenceKind] = "text"

    def _cf_similarity(self, X: sp.csr_matrix) -> sp.csr_matrix:
        return self._similarity_of(X)

    def _rows_embeddings(self, X: sp.csr_matrix, E: np.ndarray) -> np.ndarray:
        from synerec.text import user_profiles

        return user_profiles(X, E)

    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        E = self._embeddings_for_fit(data)
        S, self.alpha_ = self._blend(X, E)
        self._set_similarity(S)

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        out = super()._explain(user, item)
        out["alpha"] = self.alpha_
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        out = super()._arrays()
        out["alpha"] = np.asarray(self.alpha_, dtype=np.float64)
        return out

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._load_arrays(arrays)
        self.alpha_ = _check_finite_alpha(arrays["alpha"])
