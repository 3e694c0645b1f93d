r"""Stage 2 inputs: one row of features per (user, candidate item), built column by column.

Feature groups (the ablation adds them one at a time):

``cf`` (collaborative signals and item/user statistics)
    for each collaborative retriever ``r``: ``r:score`` (its score), ``r:rank`` (1-based rank in
    its top ``M``) and ``r:score_rel`` (score divided by the user's best score from ``r``, a
    per-user scale that does not drift when the retriever is refitted on more data), all
    ``NaN`` when ``r`` did not propose the item; on explicit ratings, ``r:prediction`` for
    each retriever that predicts ratings (eq. 3 / eq. 4 for the neighbourhood models): what
    the user would rate the item, for *every* candidate (whether an item the user will choose
    is one they will *like* is what "relevant = rated 4 or more" asks); when the data has
    timestamps, ``r:recent`` for each item-item retriever (EASE): its score from the user's
    :data:`RECENT_ITEMS` latest items only (:func:`recent_item_scores`), what the user chose
    last, as in a session; ``n_retrievers``
    (how many retrievers proposed it); ``item_popularity`` (share of the active users who
    interacted with the item);
    ``item_mean`` (damped mean rating; mean log weight for implicit data);
    ``item_days_since_last`` and ``item_age_days`` (days from the item's latest / first
    interaction to the latest interaction of the training data; ``NaN`` without timestamps);
    ``item_recent_popularity`` (share of the users active in the latest tenth of the
    interactions who interacted with the item); ``user_activity`` (log of the user's
    interactions); ``user_mean``; ``popularity_affinity`` (log popularity of the item minus the
    mean log popularity of the user's items: does the user go for hits or for the long tail).
``text`` (language-model and catalogue signals)
    the same three columns for each text retriever (``t-item-cf``: the T-CF blended score);
    ``text_cosine``, the cosine between the user's profile embedding (mean-centred,
    rating-weighted mean of the embeddings of the user's training items,
    :func:`synerec.text.user_profiles`) and the item's embedding; ``text_max_cosine``, the
    largest cosine between the item and one of the user's training items among the item's
    :data:`TEXT_NEIGHBORS` nearest texts (``NaN`` when none of them is in the history: the
    user has nothing close in description); ``category_share``,
    the largest share of the user's training items in one of the item's categories.
``llm``
    ``llm_score``: :math:`\log p(t_i \mid H_u) - \log p(t_i)`, the language model's
    likelihood of the item's title after the user's history minus its prior
    (:mod:`synerec.hybrid.llm_feature`); ``NaN`` outside the bounded set it is computed on.

Embeddings are centred on their mean before any cosine (as in the text models,
:func:`synerec.algorithms.text_knn.center_rows`). Everything is vectorised over pairs (in
chunks, so that memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from synerec.hybrid.candidates import CandidateSet

__all__ = ["FEATURE_GROUPS", "ItemSide", "TrainingStats", "build_features", "feature_names",
           "recent_item_mask", "recent_item_scores", "training_stats"]

FEATURE_GROUPS = ("cf", "text", "llm")
#: Share of the (latest) interactions that make the "recent" window.
RECENT_SHARE = 0.1
#: Latest items of a user behind a retriever's ``:recent`` feature.
RECENT_ITEMS = 5
#: Text neighbours per item searched by ``text_max_cosine``.
TEXT_NEIGHBORS = 50
#: Pairs expanded at once by ``text_max_cosine`` (memory: this times TEXT_NEIGHBORS keys).
_PAIR_CHUNK = 32768
_DAY = 86400.0
_DAMPING = 5.0

_CF_STATS = ("n_retrievers", "item_popularity", "item_mean", "item_days_since_last",
             "item_age_days", "item_recent_popularity", "user_activity", "user_mean",
             "popularity_affinity")
_TEXT_STATS = ("text_cosine", "text_max_cosine", "category_share")


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


@dataclass(frozen=True)
class TrainingStats:
    """Per-item and per-user statistics of one training matrix (fit part or whole).

    Attributes are float64 arrays over items (``item_*``) or users (``user_*``); ``profiles``
    are the users' unit profile embeddings (``None`` without embeddings) and
    ``user_categories`` the users' share of training items per category (CSR, ``None``
    without categories).
    """

    n_active_users: int
    item_popularity: np.ndarray
    item_log_popularity: np.ndarray
    item_mean: np.ndarray
    item_days_since_last: np.ndarray
    item_age_days: np.ndarray
    item_recent_popularity: np.ndarray
    user_activity: np.ndarray
    user_mean: np.ndarray
    user_log_popularity: np.ndarray
    profiles: np.ndarray | None
    user_categories: sp.csr_matrix | None


def training_stats(X: sp.csr_matrix, T: sp.csr_matrix | None, side: ItemSide,
                   rating_scale: tuple[float, float] | None) -> TrainingStats:
    """The statistics the features read, from a training matrix ``X`` and its times ``T``.

    ``T`` has ``X``'s sparsity pattern (Unix seconds of each interaction) or is ``None``.
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
    profiles = None
    if side.embeddings is not None:
        from synerec.text import user_profiles

        profiles = user_profiles(X, side.embeddings)
    user_categories = None
    if side.categories is not None:
        B = sp.csr_matrix((np.ones(X.nnz, dtype=np.float64), X.indices, X.indptr),
                          shape=X.shape)
        U = sp.csr_matrix(B @ side.categories)
        inv = np.divide(1.0, counts, out=np.zeros(n_users), where=counts > 0)
        user_categories = sp.csr_matrix(sp.diags(inv) @ U)
        user_categories.sort_indices()
    return TrainingStats(
        n_active_users=n_active, item_popularity=item_count / n_active,
        item_log_popularity=log_pop, item_mean=item_mean, item_days_since_last=since_last,
        item_age_days=age, item_recent_popularity=recent, user_activity=np.log1p(counts),
        user_mean=user_mean, user_log_popularity=user_log_pop, profiles=profiles,
        user_categories=user_categories)


def feature_names(retriever_labels: Sequence[str], retriever_groups: Sequence[str],
                  groups: Sequence[str],
                  retriever_predicts: Sequence[bool] | None = None,
                  retriever_recents: Sequence[bool] | None = None) -> list[str]:
    """The feature columns, in order, for the given retrievers and feature groups.

    ``retriever_predicts[j]``: whether retriever ``j`` adds a ``:prediction`` column;
    ``retriever_recents[j]``: whether it adds a ``:recent`` column (its score from the user's
    :data:`RECENT_ITEMS` latest items only).
    """
    predicts = list(retriever_predicts) if retriever_predicts is not None else \
        [False] * len(retriever_labels)
    recents = list(retriever_recents) if retriever_recents is not None else \
        [False] * len(retriever_labels)
    names: list[str] = []
    for group in FEATURE_GROUPS:
        if group not in groups:
            continue
        for label, g, pr, rc in zip(retriever_labels, retriever_groups, predicts, recents,
                                    strict=True):
            if g == group:
                names += [f"{label}:score", f"{label}:rank", f"{label}:score_rel"]
                if pr:
                    names.append(f"{label}:prediction")
                if rc:
                    names.append(f"{label}:recent")
        if group == "cf":
            names += list(_CF_STATS)
        elif group == "text":
            names += list(_TEXT_STATS)
        elif group == "llm":
            names.append("llm_score")
    return names


def build_features(cands: CandidateSet, stats: TrainingStats, side: ItemSide,
                   X: sp.csr_matrix, retriever_labels: Sequence[str],
                   retriever_groups: Sequence[str], groups: Sequence[str],
                   llm_scores: np.ndarray | None = None,
                   predictions: np.ndarray | None = None,
                   recent: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
    """The ``(n_pairs, n_features)`` float32 feature matrix, columns as :func:`feature_names`.

    Parameters
    ----------
    cands
        The candidate pairs with the retrievers' scores and ranks.
    stats
        :func:`training_stats` of the training matrix ``X`` the retrievers were fitted on.
    side
        Item embeddings and categories.
    X
        That training matrix (the users' histories, for ``text_max_cosine``).
    retriever_labels, retriever_groups
        Name and feature group (``"cf"`` or ``"text"``) of each retriever column of ``cands``.
    groups
        The feature groups to build.
    llm_scores
        ``(n_pairs,)`` LLM feature (``NaN`` where not computed); needed with group ``"llm"``.
    predictions
        ``(n_pairs, n_retrievers)`` predicted ratings; a column of all ``NaN`` marks a
        retriever without a ``:prediction`` feature (it must match ``feature_names``).
    recent
        Per retriever, its ``(n_pairs,)`` scores from the users' latest items
        (:func:`recent_item_scores`), or ``None`` for a retriever without a ``:recent``
        feature (it must match ``feature_names``).
    """
    n = cands.n_pairs
    users = cands.pair_users
    items = cands.items
    rows = cands.rows
    cols: list[np.ndarray] = []
    for group in FEATURE_GROUPS:
        if group not in groups:
            continue
        for j, g in enumerate(retriever_groups):
            if g != group:
                continue
            s = cands.scores[:, j]
            top = cands.top_scores[rows, j]
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.where(np.abs(top) > 0, s / np.abs(top), np.nan)
            cols += [s, cands.ranks[:, j], rel.astype(np.float32)]
            if predictions is not None and not np.isnan(predictions[:, j]).all():
                cols.append(predictions[:, j])
            if recent is not None and recent[j] is not None:
                cols.append(recent[j])
        if group == "cf":
            cols += _cf_columns(cands, stats, users, items)
        elif group == "text":
            cols += _text_columns(cands, stats, side, X, users, items)
        elif group == "llm":
            if llm_scores is None:
                raise ValueError("the llm feature group needs llm_scores")
            cols.append(np.asarray(llm_scores, dtype=np.float32))
    if not cols:
        return np.empty((n, 0), dtype=np.float32)
    return np.column_stack([np.asarray(c, dtype=np.float32) for c in cols])


def _cf_columns(cands: CandidateSet, stats: TrainingStats, users: np.ndarray,
                items: np.ndarray) -> list[np.ndarray]:
    known = users >= 0
    safe = np.where(known, users, 0)

    def per_user(a: np.ndarray) -> np.ndarray:
        return np.where(known, a[safe], np.nan)

    present = np.isfinite(cands.scores).sum(axis=1)
    return [present.astype(np.float32),
            stats.item_popularity[items],
            stats.item_mean[items],
            stats.item_days_since_last[items],
            stats.item_age_days[items],
            stats.item_recent_popularity[items],
            per_user(stats.user_activity),
            per_user(stats.user_mean),
            stats.item_log_popularity[items] - per_user(stats.user_log_popularity)]


def _text_columns(cands: CandidateSet, stats: TrainingStats, side: ItemSide, X: sp.csr_matrix,
                  users: np.ndarray, items: np.ndarray) -> list[np.ndarray]:
    n = len(items)
    cosine = np.full(n, np.nan, dtype=np.float32)
    max_cos = np.full(n, np.nan, dtype=np.float32)
    E = side.embeddings
    if E is not None and stats.profiles is not None:
        known = users >= 0
        P = stats.profiles
        chunk = 65536
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            u = users[sl]
            ok = known[sl]
            vals = np.full(len(u), np.nan, dtype=np.float32)
            vals[ok] = np.einsum("ij,ij->i", P[u[ok]], E[items[sl][ok]])
            cosine[sl] = vals
        max_cos = _max_history_cosine(cands, side.text_neighbors, X)
    share = np.full(n, np.nan, dtype=np.float32)
    if side.categories is not None and stats.user_categories is not None:
        share = _category_share(side.categories, stats.user_categories, users, items)
    return [cosine, max_cos, share]


def _max_history_cosine(cands: CandidateSet, T: sp.csr_matrix | None,
                        X: sp.csr_matrix) -> np.ndarray:
    """Largest cosine between each candidate and one of its user's training items, among the
    candidate's text neighbours ``T`` (``NaN`` when none of them is in the history)."""
    out = np.full(cands.n_pairs, np.nan, dtype=np.float32)
    if T is None:
        return out
    n_items = X.shape[1]
    x_keys = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr)) * n_items \
        + X.indices  # ascending: X is canonical CSR
    users, items = cands.pair_users, cands.items
    counts_all = np.diff(T.indptr)[items]
    for start in range(0, cands.n_pairs, _PAIR_CHUNK):
        sl = slice(start, start + _PAIR_CHUNK)
        u, it, counts = users[sl], items[sl], counts_all[sl]
        ok = (u >= 0) & (counts > 0)
        if not ok.any():
            continue
        pair = np.repeat(np.flatnonzero(ok), counts[ok])
        first = np.repeat(T.indptr[it[ok]], counts[ok])
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts[ok]) - counts[ok], counts[ok])
        j = T.indices[first + offset].astype(np.int64)
        v = T.data[first + offset]
        want = u[pair] * n_items + j
        pos = np.searchsorted(x_keys, want)
        hit = pos < len(x_keys)
        hit[hit] = x_keys[pos[hit]] == want[hit]
        best = np.full(len(u), -np.inf, dtype=np.float32)
        np.maximum.at(best, pair[hit], v[hit])
        block = np.where(np.isfinite(best), best, np.nan).astype(np.float32)
        out[sl] = block
    return out


def _category_share(C: sp.csr_matrix, U: sp.csr_matrix, users: np.ndarray,
                    items: np.ndarray) -> np.ndarray:
    """``max_{c in cats(i)} share of user u's items in c``, over pairs; NaN without a category."""
    n = len(items)
    counts = np.diff(C.indptr)[items]
    out = np.full(n, np.nan, dtype=np.float32)
    has = (counts > 0) & (users >= 0)
    if not has.any():
        return out
    pair = np.repeat(np.flatnonzero(has), counts[has])
    starts = np.repeat(C.indptr[items[has]], counts[has])
    offsets = np.arange(len(pair)) - np.repeat(np.cumsum(counts[has]) - counts[has], counts[has])
    cats = C.indices[starts + offsets].astype(np.int64)
    n_cats = U.shape[1]
    keys_u = np.repeat(np.arange(U.shape[0], dtype=np.int64), np.diff(U.indptr)) * n_cats \
        + U.indices
    want = users[pair] * n_cats + cats
    pos = np.searchsorted(keys_u, want)
    ok = pos < len(keys_u)
    ok[ok] = keys_u[pos[ok]] == want[ok]
    vals = np.where(ok, U.data[np.minimum(pos, len(keys_u) - 1)] if len(keys_u) else 0.0, 0.0)
    best = np.zeros(n, dtype=np.float64)
    np.maximum.at(best, pair, vals)
    out[has] = best[has]
    return out


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


def recent_item_scores(P: sp.csr_matrix, W: np.ndarray | sp.csr_matrix, recent: sp.csr_matrix,
                       cands: CandidateSet, batch: int = 512) -> np.ndarray:
    r"""An item-item model's score of each candidate from the user's latest items only.

    :math:`\sum_{j \in R_u} W_{ji}` over :math:`R_u`, the user's positives (the pattern of
    ``P``, binary as in EASE's own scores) that are among their latest interactions (the
    pattern of ``recent``, :func:`recent_item_mask`): what the user chose last weighs in on its
    own, as in a session. ``NaN`` for unknown users.
    """
    out = np.full(cands.n_pairs, np.nan, dtype=np.float32)
    Pr = P.multiply(recent.astype(bool)).tocsr()
    Pr.data = (Pr.data != 0).astype(np.float32) if Pr.nnz else Pr.data
    users = cands.users
    for start in range(0, len(users), batch):
        u = users[start:start + batch]
        ok = np.flatnonzero(u >= 0)
        if len(ok) == 0:
            continue
        S = Pr[u[ok]] @ W
        S = S.toarray() if sp.issparse(S) else np.asarray(S)
        groups = start + ok
        sizes = cands.indptr[groups + 1] - cands.indptr[groups]
        pairs = np.repeat(cands.indptr[groups] - (np.cumsum(sizes) - sizes), sizes) \
            + np.arange(int(sizes.sum()))
        out[pairs] = S[np.repeat(np.arange(len(groups)), sizes), cands.items[pairs]]
    return out
