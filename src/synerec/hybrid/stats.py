"""What the hybrid's features read: the catalogue's side (:class:`ItemSide`) and the statistics
of one training matrix (:class:`TrainingStats`).

:class:`ItemSide` is built once per fit from the training data (:func:`item_side`: the item
embeddings, centred, with each item's text neighbours, and the categories);
:func:`training_stats` is computed for each matrix the retrievers are fitted on (a validation
fit part, then the whole training matrix), so that a feature never reads a statistic of the
label part. The columns themselves are declared in :mod:`synerec.hybrid.features`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.training import TrainingData
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError

__all__ = [
    "RECENT_ITEMS",
    "RECENT_SHARE",
    "STORED_STATS",
    "TEXT_NEIGHBORS",
    "ItemSide",
    "RecentItems",
    "TrainingStats",
    "UserProfiles",
    "item_side",
    "item_titles",
    "recent_item_mask",
    "stats_arrays",
    "stored_stats",
    "training_stats",
]

log = logging.getLogger(__name__)

#: Share of the (latest) interactions that make the "recent" window.
RECENT_SHARE = 0.1
#: Latest items of a user behind a retriever's ``:recent`` feature.
RECENT_ITEMS = 5
#: Text neighbours per item searched by ``text_max_cosine``.
TEXT_NEIGHBORS = 50
_DAY = 86400.0
_DAMPING = 5.0


@dataclass(frozen=True)
class ItemSide:
    """What the catalogue says about the items (independent of the training interactions).

    Attributes
    ----------
    embeddings
        ``(n_items, d)`` float32 centred unit rows (zero rows: no text), or ``None``.
    text_neighbors
        ``(n_items, n_items)`` CSR: each item's :data:`TEXT_NEIGHBORS` largest positive
        cosines (:func:`synerec.similarity.text.text_similarity`), or ``None``.
    categories
        ``(n_items, n_categories)`` binary CSR, or ``None`` (no categories).
    category_names
        ``(n_categories,)`` names.
    """

    embeddings: np.ndarray | None
    categories: sp.csr_matrix | None
    category_names: np.ndarray
    text_neighbors: sp.csr_matrix | None = None

    @classmethod
    def build(cls, embeddings: np.ndarray | None, categories: sp.csr_matrix | None,
              category_names: np.ndarray) -> ItemSide:
        """The side information, with the text neighbours computed from ``embeddings``."""
        T = None
        if embeddings is not None:
            from synerec.similarity.text import text_similarity

            T = text_similarity(embeddings, TEXT_NEIGHBORS)
        return cls(embeddings, categories, category_names, T)

    def category_index(self, name: str) -> int:
        """The column of category ``name`` in :attr:`categories` (``ValueError`` if absent)."""
        hits = np.flatnonzero(self.category_names == name)
        if len(hits) == 0:
            raise ValueError(f"no category {name!r}")
        return int(hits[0])


@dataclass(frozen=True)
class TrainingStats:
    """Per-item and per-user statistics of one training matrix (fit part or whole).

    Attributes are float64 arrays over items (``item_*``) or users (``user_*``); ``profiles``
    are the users' unit profile embeddings (``None`` without embeddings) and
    ``user_categories`` the users' share of training items per category (CSR, ``None``
    without categories).
    """

    n_active_users: int
    item_count: np.ndarray
    item_popularity: np.ndarray
    item_log_popularity: np.ndarray
    item_mean: np.ndarray
    item_days_since_last: np.ndarray
    item_age_days: np.ndarray
    item_recent_popularity: np.ndarray
    user_activity: np.ndarray
    user_mean: np.ndarray
    user_log_popularity: np.ndarray
    profiles: np.ndarray | UserProfiles | None
    user_categories: sp.csr_matrix | None


class UserProfiles:
    """The users' unit profile embeddings (:func:`synerec.text.user_profiles`), each row
    computed when asked (``profiles[users]``): a user's profile reads only their own row of
    the training matrix, so the rows equal those of the whole table."""

    def __init__(self, X: sp.csr_matrix, embeddings: np.ndarray) -> None:
        self._X = X
        self._E = embeddings
        self.shape = (X.shape[0], embeddings.shape[1])

    def __getitem__(self, users: np.ndarray) -> np.ndarray:
        from synerec.text import user_profiles

        X = sp.csr_matrix(self._X[np.asarray(users, dtype=np.int64)])
        # only the embeddings of the users' items (widened to float64 by user_profiles): the
        # same sums, term by term in the same order, as over every item's
        cols = np.unique(X.indices)
        sub = sp.csr_matrix((X.data, np.searchsorted(cols, X.indices), X.indptr),
                            shape=(X.shape[0], len(cols)))
        return user_profiles(sub, self._E[cols])


def training_stats(X: sp.csr_matrix, T: sp.csr_matrix | None, side: ItemSide,
                   rating_scale: tuple[float, float] | None, *,
                   profiles_by_row: bool = False) -> TrainingStats:
    """The statistics the features read, from a training matrix ``X`` and its times ``T``.

    ``T`` has ``X``'s sparsity pattern (Unix seconds of each interaction) or is ``None``.
    ``profiles_by_row``: the users' profiles as :class:`UserProfiles` (computed for the users
    a request asks about, as a loaded model serving a few users wants) instead of a table of
    every user's.
    """
    n_users, n_items = X.shape
    counts = np.diff(X.indptr).astype(np.float64)
    item_count = np.bincount(X.indices, minlength=n_items).astype(np.float64)
    n_active = max(1, int((counts > 0).sum()))
    values = X.data.astype(np.float64)
    if rating_scale is None:
        values = np.log1p(np.maximum(values, 0.0))
    total = np.bincount(X.indices, weights=values, minlength=n_items)
    mu = float(values.mean()) if len(values) else 0.0
    item_mean = (total + _DAMPING * mu) / (item_count + _DAMPING)
    rows = np.repeat(np.arange(n_users), np.diff(X.indptr))
    user_sum = np.bincount(rows, weights=values, minlength=n_users)
    user_mean = np.divide(user_sum, counts, out=np.full(n_users, np.nan), where=counts > 0)
    log_pop = np.log1p(item_count)
    user_log_pop = np.divide(np.bincount(rows, weights=log_pop[X.indices], minlength=n_users),
                             counts, out=np.full(n_users, np.nan), where=counts > 0)
    nan_items = np.full(n_items, np.nan)
    since_last, age, recent = nan_items, nan_items.copy(), nan_items.copy()
    if T is not None and T.nnz:
        t = T.data.astype(np.float64)
        now = float(t.max())
        last = np.full(n_items, -np.inf)
        np.maximum.at(last, T.indices, t)
        first = np.full(n_items, np.inf)
        np.minimum.at(first, T.indices, t)
        seen = item_count > 0
        since_last = np.where(seen, (now - last) / _DAY, np.nan)
        age = np.where(seen, (now - first) / _DAY, np.nan)
        cut = float(np.quantile(t, 1.0 - RECENT_SHARE))
        is_recent = t >= cut
        t_rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
        recent_users = max(1, len(np.unique(t_rows[is_recent])))
        recent = np.bincount(T.indices[is_recent], minlength=n_items) / recent_users
    profiles: np.ndarray | UserProfiles | None = None
    if side.embeddings is not None and profiles_by_row:
        profiles = UserProfiles(X, side.embeddings)
    elif side.embeddings is not None:
        from synerec.text import user_profiles

        profiles = user_profiles(X, side.embeddings)
    return TrainingStats(
        n_active_users=n_active, item_count=item_count, item_popularity=item_count / n_active,
        item_log_popularity=log_pop, item_mean=item_mean, item_days_since_last=since_last,
        item_age_days=age, item_recent_popularity=recent, user_activity=np.log1p(counts),
        user_mean=user_mean, user_log_popularity=user_log_pop, profiles=profiles,
        user_categories=_user_categories(X, side))


def _user_categories(X: sp.csr_matrix, side: ItemSide) -> sp.csr_matrix | None:
    """The users' share of training items per category (``None`` without categories)."""
    if side.categories is None:
        return None
    counts = np.diff(X.indptr).astype(np.float64)
    B = sp.csr_matrix((np.ones(X.nnz, dtype=np.float64), X.indices, X.indptr), shape=X.shape)
    U = sp.csr_matrix(B @ side.categories)
    inv = np.divide(1.0, counts, out=np.zeros(X.shape[0]), where=counts > 0)
    user_categories = sp.csr_matrix(sp.diags(inv) @ U)
    user_categories.sort_indices()
    return user_categories


#: The statistics a saved hybrid keeps (``stats.<name>`` arrays), so that loading it does not
#: compute them again from the whole training matrix: ``n_active_users`` and these.
STORED_STATS = ("item_count", "item_popularity", "item_log_popularity", "item_mean",
                "item_days_since_last", "item_age_days", "item_recent_popularity",
                "user_activity", "user_mean", "user_log_popularity")


def stats_arrays(stats: TrainingStats) -> dict[str, np.ndarray]:
    """The arrays of :data:`STORED_STATS` that a saved hybrid keeps."""
    out = {f"stats.{name}": np.asarray(getattr(stats, name), dtype=np.float64)
           for name in STORED_STATS}
    out["stats.n_active_users"] = np.asarray(stats.n_active_users, dtype=np.int64)
    return out


def stored_stats(arrays: Mapping[str, np.ndarray], X: sp.csr_matrix,
                 side: ItemSide) -> TrainingStats | None:
    """The statistics of ``X`` from a saved hybrid's arrays (:func:`stats_arrays`; ``None``
    for a file saved before they were kept), the profiles by row
    (:class:`UserProfiles`) and the category shares computed.

    Raises
    ------
    ValueError
        Stored statistics that do not match the training matrix.
    """
    if "stats.n_active_users" not in arrays:
        return None
    n_users, n_items = X.shape
    values: dict[str, np.ndarray] = {}
    for name in STORED_STATS:
        arr = arrays[f"stats.{name}"]
        size = n_items if name.startswith("item_") else n_users
        if arr.shape != (size,) or arr.dtype != np.float64:
            raise ValueError(f"the stored statistic {name} does not match the training matrix")
        values[name] = arr
    if not np.array_equal(values["item_count"], np.bincount(X.indices, minlength=n_items)):
        raise ValueError("the stored item counts do not match the training matrix")
    profiles = None if side.embeddings is None else UserProfiles(X, side.embeddings)
    return TrainingStats(n_active_users=int(arrays["stats.n_active_users"]), **values,
                         profiles=profiles, user_categories=_user_categories(X, side))


class RecentItems:
    """:func:`recent_item_mask` of ``X`` and ``T``, computed for the rows asked
    (``recent[users]``: a CSR with a row per user): a user's latest items depend only on
    their own row, so the rows equal those of the whole mask."""

    def __init__(self, X: sp.csr_matrix, T: sp.csr_matrix, k: int = RECENT_ITEMS) -> None:
        self._X, self._T, self._k = X, T, k
        self.shape = X.shape

    def __getitem__(self, users: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(users, dtype=np.int64)
        return recent_item_mask(self._X[rows], self._T[rows], self._k)


def recent_item_mask(X: sp.csr_matrix, T: sp.csr_matrix, k: int = RECENT_ITEMS) -> sp.csr_matrix:
    """``X`` restricted to each user's ``k`` latest interactions by ``T`` (same pattern as
    ``X``; ties broken by the item index)."""
    counts = np.diff(X.indptr)
    rows = np.repeat(np.arange(X.shape[0]), counts)
    order = np.lexsort((X.indices, -T.data.astype(np.float64), rows))  # latest first per user
    rank = np.empty(X.nnz, dtype=np.int64)
    rank[order] = np.arange(X.nnz) - np.repeat(X.indptr[:-1], counts)
    keep = rank < k
    R = sp.csr_matrix((X.data[keep], (rows[keep], X.indices[keep])), shape=X.shape)
    R.sort_indices()
    return R


def item_side(data: TrainingData, encoder: str, want_text: bool,
              encoder_path: str | None = None) -> ItemSide:
    """The catalogue's side of the training data: the embeddings the caller gave (else, when
    ``want_text``, the data set's item text embedded by ``encoder``, or by the fine-tuned
    encoder saved in the folder ``encoder_path``; ``None`` when unavailable or all zero),
    centred, and the categories.

    Raises
    ------
    ConfigError
        Given embeddings of the wrong shape or with non-finite values.
    """
    from synerec.algorithms.text_knn import center_rows

    n_items = data.matrix.shape[1]
    E = data.item_embeddings
    if E is not None:
        if E.ndim != 2 or E.shape[0] != n_items or not np.isfinite(E).all():
            raise ConfigError(f"item_embeddings must be finite with shape ({n_items}, d), "
                              f"got {E.shape}")
    elif want_text and data.dataset is not None:
        from synerec.text import EncoderError

        try:
            E = _embed(data.dataset, encoder, encoder_path)
        except (EncoderError, ImportError) as exc:
            log.warning("hybrid: encoder %r is not available (%s); the text features are "
                        "left out", encoder, exc)
            E = None
    if E is not None and not (np.abs(E).sum(axis=1) > 0).any():
        E = None
    embeddings = center_rows(E) if E is not None else None
    cats = data.item_categories() if data.dataset is not None else None
    C, names = None, np.zeros(0, dtype=np.str_)
    if cats is not None and any(cats):
        vocab: dict[str, int] = {}
        indptr, indices = [0], []
        for cs in cats:
            for c in sorted(set(cs)):
                indices.append(vocab.setdefault(c, len(vocab)))
            indptr.append(len(indices))
        C = sp.csr_matrix((np.ones(len(indices), np.float64), np.asarray(indices, np.int64),
                           np.asarray(indptr, np.int64)), shape=(n_items, len(vocab)))
        names = np.asarray(list(vocab), dtype=np.str_)
    return ItemSide.build(embeddings, C, names)


def item_titles(data: TrainingData) -> list[str]:
    """Item titles for explanations and the LLM prompt (the catalogue's, else the ids)."""
    if data.dataset is not None:
        from synerec.llm.reranker import item_titles as titles_of

        return list(titles_of(data.dataset, max_chars=120))
    return [str(data.items.id(i)) for i in range(data.matrix.shape[1])]


def _embed(data: InteractionDataset, encoder: str, encoder_path: str | None = None
           ) -> np.ndarray | None:
    """Item embeddings of ``data``'s catalogue through the cache; ``None`` without any text."""
    from synerec.text import (
        EmbeddingCache,
        Encoder,
        TfidfEncoder,
        cached_encode,
        create_encoder,
        item_texts,
    )

    texts = item_texts(data)
    if not any(t.strip() for t in texts):
        return None
    enc: Encoder
    if encoder_path is not None:
        from synerec.text.finetune import load_finetuned_encoder

        enc = load_finetuned_encoder(encoder_path)
    elif encoder == "tfidf":  # 128 SVD components when the vocabulary and catalogue allow
        tfidf = TfidfEncoder().fit(texts)
        k = min(128, tfidf.dimension - 1, len(texts) - 1)
        if tfidf.dimension > 128 and k >= 16:
            tfidf = TfidfEncoder(n_components=k, random_state=0).fit(texts)
        enc = tfidf
    else:
        enc = create_encoder(encoder)
    E = cached_encode(enc, texts, cache=EmbeddingCache())
    E[np.array([not t.strip() for t in texts])] = 0.0
    return E
