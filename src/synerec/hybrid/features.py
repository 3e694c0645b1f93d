r"""Stage 2 inputs: one row of features per (user, candidate item), from one feature table.

Every feature is declared once, in :data:`FEATURES`: its column name (``{r}`` stands for a
retriever's label), its group, the explanation signal it belongs to, its stage and the function
that computes its column. Everything else is derived from the table: the column names the
LightGBM ranker is trained on and saved with (:func:`feature_columns`, :func:`feature_names`),
the feature matrix (:func:`build_features`, one column per table entry and retriever), the
signal each column adds to in an explanation (:attr:`Column.signal`,
:func:`signal_of_feature`), the second (LLM) stage's extra columns (:func:`stage_b_matrix`)
and the list below.

Order of the columns: the groups in the order ``cf``, ``text``, ``llm``; in each group first
the per-retriever features of each retriever of that group (a text retriever such as
``t-item-cf`` is in ``text``, every other retriever in ``cf``), in the order of the
hybrid's ``retrievers`` and, for each retriever, in table order; then the group's own
features in table order. The order is part of every saved hybrid (LightGBM's text model
reads columns by position): a new feature goes at the end of its group, and only into a new
model.

Embeddings are centred on their mean before any cosine (as in the text models,
:func:`synerec.algorithms.text_knn.center_rows`). Everything is vectorised over pairs; the
per-pair dot products and the text-neighbour lookups run in numba kernels
(:mod:`synerec.hybrid._dot_kernels`, :mod:`synerec.hybrid._feature_kernels`) that give the numpy
formulas' bits without gathering one row per pair.

The features
------------
FEATURE-LIST
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.abilities import ScoresProfile
from synerec.hybrid.candidates import CandidateSet
from synerec.hybrid.stats import (
    RECENT_ITEMS,
    TEXT_NEIGHBORS,
    ItemSide,
    RecentItems,
    TrainingStats,
)

if TYPE_CHECKING:
    from synerec.algorithms.base import Recommender

__all__ = ["FEATURES", "FEATURE_GROUPS", "Column", "Feature", "FeatureInputs",
           "RetrieverColumns", "build_features", "feature_columns", "feature_names",
           "signal_of_feature", "stage_b_matrix"]

Group = Literal["cf", "text", "llm"]
#: The feature groups, in column order (the ablation adds them one at a time).
FEATURE_GROUPS: tuple[Group, ...] = ("cf", "text", "llm")
Stage = Literal["a", "b"]
#: Where a feature's name and signal take the retriever's label.
RETRIEVER = "{r}"
#: Rows of the feature matrix filled at once (:func:`build_features`).
_FILL_ROWS = 8192
#: At most this many pairs (a few users: one request) are computed by numpy, without loading
#: the numba kernels; both paths give the same bits (tests/hybrid/test_feature_kernels.py).
SMALL_PAIRS = 4096
#: Pairs gathered at once by the numpy paths.
_PAIR_CHUNK = 32768


@dataclass(frozen=True)
class RetrieverColumns:
    """What the feature table needs to know of one retriever.

    Attributes
    ----------
    label
        The retriever's label (its columns are ``label:score``, ...).
    group
        ``"text"`` for a text retriever, else ``"cf"``: the block its columns go in.
    prediction
        Whether it adds a ``:prediction`` column.
    recent
        Whether it adds a ``:recent`` column.
    new_items
        Whether it brings items without training interactions into the candidates
        (:data:`~synerec.hybrid.retrievers.NEW_ITEM_MODELS`): the hybrid then has the
        evidence columns (:attr:`Feature.new_items`).
    """

    label: str
    group: Literal["cf", "text"]
    prediction: bool = False
    recent: bool = False
    new_items: bool = False


@dataclass(frozen=True, eq=False)
class FeatureInputs:
    """What the stage-A columns are computed from.

    Attributes
    ----------
    cands
        The candidate pairs with the retrievers' scores and ranks.
    stats
        :func:`~synerec.hybrid.stats.training_stats` of the training matrix ``X``.
    side
        Item embeddings and categories.
    X
        The training matrix the retrievers were fitted on (the users' histories).
    retrievers
        The fitted retrievers, in the order of ``cands``' columns.
    recent_profiles
        Gives ``X`` restricted to each user's latest items
        (:class:`~synerec.hybrid.stats.RecentItems`: rows computed for the users asked),
        which the ``:recent`` columns read;
        called only when there is one (the caller may keep it between calls).
    text_map
        Gives the profiles of user indices in the text space
        (:func:`~synerec.hybrid.text_map.text_map_profiles`), which ``text_cf_score`` reads;
        ``None`` without a retriever to map or without embeddings.
    new_items
        The hybrid has a retriever of new items: the popularity statistics of an item without
        training interactions are missing (``NaN``: unknown), not 0, so that the ranker does
        not take a new product for one that stopped selling.
    """

    cands: CandidateSet
    stats: TrainingStats
    side: ItemSide
    X: sp.csr_matrix
    retrievers: Sequence[Recommender]
    recent_profiles: Callable[[], RecentItems] | None = None
    text_map: Callable[[np.ndarray], np.ndarray] | None = None
    new_items: bool = False

    @cached_property
    def users(self) -> np.ndarray:
        """User index of each pair (``-1``: unknown)."""
        return self.cands.pair_users

    @cached_property
    def items(self) -> np.ndarray:
        """Item index of each pair."""
        return self.cands.items

    def per_item(self, values: np.ndarray) -> np.ndarray:
        """A per-item popularity statistic for each pair (``NaN`` for an item without
        training interactions when :attr:`new_items`)."""
        out = values[self.items]
        if self.new_items:
            out = np.where(self.stats.item_count[self.items] > 0, out, np.nan)
        return out

    def per_user(self, values: np.ndarray) -> np.ndarray:
        """A per-user statistic for each pair (``NaN`` for an unknown user)."""
        known = self.users >= 0
        return np.where(known, values[np.where(known, self.users, 0)], np.nan)


@dataclass(frozen=True)
class StageBInputs:
    """What the second stage's own columns are computed from, over the rows it reorders."""

    stage_a_scores: np.ndarray
    llm_scores: np.ndarray


#: A column's function: ``(inputs, j)`` -> ``(n_pairs,)`` values, ``j`` the retriever's
#: position (``-1`` for a feature that is not per retriever).
ColumnFunction = Callable[[Any, int], np.ndarray]


@dataclass(frozen=True)
class Feature:
    """One entry of the feature table.

    Attributes
    ----------
    name
        The column name; ``{r}`` in it (a per-retriever feature) stands for the retriever's
        label.
    group
        Its group; ``None`` for a per-retriever feature, which goes in its retriever's group.
    signal
        The explanation signal its contribution adds to (``{r}``: the retriever's label).
    column
        Computes its column from :class:`FeatureInputs` (stage ``"a"``) or
        :class:`StageBInputs` (stage ``"b"``) and the retriever's position.
    doc
        What it is (the module docstring lists it).
    stage
        ``"a"`` (the first ranker's features) or ``"b"`` (added by the second, LLM, stage).
    when
        For a per-retriever feature: which retrievers have it (``None``: all).
    new_items
        Only in a hybrid with a retriever that brings new items
        (:attr:`RetrieverColumns.new_items`): the evidence columns, which say how much the
        collaborative signals know of an item. Hybrids without such a retriever (every one
        saved before them) keep their columns.
    """

    name: str
    group: Group | None
    signal: str
    column: ColumnFunction
    doc: str
    stage: Stage = "a"
    when: Callable[[RetrieverColumns], bool] | None = None
    new_items: bool = False

    @property
    def per_retriever(self) -> bool:
        """Whether the feature has one column per retriever."""
        return RETRIEVER in self.name


@dataclass(frozen=True)
class Column:
    """One column of a hybrid's feature matrix: a table entry, for one retriever or none.

    Attributes
    ----------
    name
        The column name.
    signal
        The explanation signal it belongs to.
    feature
        Its table entry.
    retriever
        The retriever's position (``-1``: not a per-retriever feature).
    """

    name: str
    signal: str
    feature: Feature
    retriever: int = -1

    @property
    def stage(self) -> Stage:
        """The stage of its feature."""
        return self.feature.stage


# -- the columns' functions ------------------------------------------------------------------

def _score(inp: FeatureInputs, j: int) -> np.ndarray:
    return inp.cands.scores[:, j]


def _rank(inp: FeatureInputs, j: int) -> np.ndarray:
    return inp.cands.ranks[:, j]


def _score_rel(inp: FeatureInputs, j: int) -> np.ndarray:
    s = inp.cands.scores[:, j]
    top = inp.cands.top_scores[inp.cands.rows, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(np.abs(top) > 0, s / np.abs(top), np.nan)
    return rel.astype(np.float32)


def _prediction(inp: FeatureInputs, j: int) -> np.ndarray:
    """The retriever's predicted rating of every pair of a known user."""
    out = np.full(inp.cands.n_pairs, np.nan, dtype=np.float32)
    known = inp.users >= 0
    if known.any():
        out[known] = inp.retrievers[j].predict_indices(inp.users[known], inp.items[known])
    return out


def _recent(inp: FeatureInputs, j: int) -> np.ndarray:
    r"""The retriever's score of each pair from the user's latest items only:
    :math:`\sum_{j \in R_u} W_{ji}` over the user's positives among their
    :data:`~synerec.hybrid.stats.RECENT_ITEMS` latest interactions, binary as in EASE's own
    scores (:meth:`~synerec.algorithms.abilities.ScoresProfile.score_profile_pairs` of those
    profiles). ``NaN`` for unknown users."""
    model = inp.retrievers[j]
    if not isinstance(model, ScoresProfile) or inp.recent_profiles is None:
        raise ValueError("a :recent column needs a retriever that scores profiles and the "
                         "users' latest items")
    cands = inp.cands
    out = np.full(cands.n_pairs, np.nan, dtype=np.float32)
    known_rows = np.flatnonzero(cands.users >= 0)
    if len(known_rows) == 0:
        return out
    position = np.full(len(cands.users), -1, dtype=np.int64)
    position[known_rows] = np.arange(len(known_rows))
    pairs = np.flatnonzero(position[cands.rows] >= 0)
    profiles = inp.recent_profiles()[cands.users[known_rows]]
    out[pairs] = model.score_profile_pairs(profiles, position[cands.rows[pairs]],
                                           cands.items[pairs])
    return out


def _n_retrievers(inp: FeatureInputs, _: int) -> np.ndarray:
    return np.isfinite(inp.cands.scores).sum(axis=1).astype(np.float32)


def _text_cosine(inp: FeatureInputs, _: int) -> np.ndarray:
    """The cosine between the user's profile embedding and the item's."""
    out = np.full(inp.cands.n_pairs, np.nan, dtype=np.float32)
    E, P = inp.side.embeddings, inp.stats.profiles
    if E is None or P is None:
        return out
    users = inp.users
    if not isinstance(P, np.ndarray):  # a loaded model's profiles, computed by rows
        known = users >= 0
        uniq, inverse = np.unique(users[known], return_inverse=True)
        users = np.full(len(users), -1, dtype=np.int64)
        users[known] = inverse
        P = P[uniq]
    _pair_dots(P, users, E, inp.items, out)  # unknown users (-1) left NaN
    return out


def _pair_dots(A: np.ndarray, a_rows: np.ndarray, B: np.ndarray, b_rows: np.ndarray,
               out: np.ndarray) -> None:
    """``out[i] = np.einsum("ij,ij->i", A[a_rows], B[b_rows])[i]`` where ``a_rows[i] >= 0``:
    by :func:`synerec.hybrid._dot_kernels.pair_dots` (same bits, no gathered rows) for more
    than :data:`SMALL_PAIRS` float32 pairs when this numpy adds in its order, else einsum."""
    a_rows = np.asarray(a_rows, dtype=np.int64)
    b_rows = np.asarray(b_rows, dtype=np.int64)
    if len(a_rows) > SMALL_PAIRS and A.dtype == np.float32 and B.dtype == np.float32:
        from synerec.hybrid._dot_kernels import matches_einsum, pair_dots

        if matches_einsum():
            pair_dots(A, a_rows, B, b_rows, out)
            return
    ok = np.flatnonzero(a_rows >= 0)
    for start in range(0, len(ok), _PAIR_CHUNK):
        sl = ok[start:start + _PAIR_CHUNK]
        out[sl] = np.einsum("ij,ij->i", A[a_rows[sl]], B[b_rows[sl]])


def _text_max_cosine(inp: FeatureInputs, _: int) -> np.ndarray:
    """Largest cosine between each candidate and one of its user's training items, among the
    candidate's text neighbours (``NaN`` when none of them is in the history)."""
    cands, T, X = inp.cands, inp.side.text_neighbors, inp.X
    out = np.full(cands.n_pairs, np.nan, dtype=np.float32)
    if T is None or inp.side.embeddings is None or inp.stats.profiles is None:
        return out
    if not X.has_sorted_indices:
        X = X.sorted_indices()  # the neighbours are looked up by bisection
    if cands.n_pairs <= SMALL_PAIRS:
        return _max_neighbor_numpy(inp.users, inp.items, T, X)
    from synerec.hybrid._feature_kernels import max_neighbor_in_history

    max_neighbor_in_history(inp.users, inp.items, T.indptr, T.indices, T.data, X.indptr,
                            X.indices, out)
    return out


def _max_neighbor_numpy(users: np.ndarray, items: np.ndarray, T: sp.csr_matrix,
                        X: sp.csr_matrix) -> np.ndarray:
    """:func:`synerec.hybrid._feature_kernels.max_neighbor_in_history` in numpy, for a few
    pairs (``X`` with sorted indices): every (pair, neighbour) expanded, its key
    ``user * n_items + neighbour`` bisected in the keys of ``X``'s rows; float32, ``NaN``
    where no neighbour is in the history."""
    n_items = X.shape[1]
    out = np.full(len(users), np.nan, dtype=np.float32)
    counts = np.diff(T.indptr)[items]
    ok = (users >= 0) & (counts > 0)
    if not ok.any():
        return out
    rows = np.unique(users[ok])
    lengths = np.diff(X.indptr)[rows]
    x_keys = np.repeat(rows, lengths) * n_items + X.indices[
        np.repeat(X.indptr[rows] - np.cumsum(lengths) + lengths, lengths)
        + np.arange(lengths.sum())]  # ascending: rows ascending, indices sorted
    pair = np.repeat(np.flatnonzero(ok), counts[ok])
    first = np.repeat(T.indptr[items[ok]], counts[ok])
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts[ok]) - counts[ok], counts[ok])
    j = T.indices[first + offset].astype(np.int64)
    v = T.data[first + offset]
    want = users[pair] * n_items + j
    pos = np.searchsorted(x_keys, want)
    hit = pos < len(x_keys)
    hit[hit] = x_keys[pos[hit]] == want[hit]
    best = np.full(len(users), -np.inf, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # a NaN cosine wins, as in np.maximum
        np.maximum.at(best, pair[hit], v[hit])
    return np.where(np.isfinite(best), best, np.nan).astype(np.float32)


def _text_neighbor_popularity(inp: FeatureInputs, _: int) -> np.ndarray:
    r"""What the item's text says of its demand: the cosine-weighted mean recent popularity of
    its text neighbours that have interactions,
    :math:`\sum_j c_{ij} p_j / \sum_j c_{ij}` over the :data:`TEXT_NEIGHBORS` nearest texts
    :math:`j` with a training interaction (:math:`p`: ``item_recent_popularity``, the
    ``item_popularity`` without timestamps); ``NaN`` when none has one."""
    T = inp.side.text_neighbors
    if T is None:
        return np.full(inp.cands.n_pairs, np.nan, dtype=np.float32)
    stats = inp.stats
    warm = (stats.item_count > 0).astype(np.float64)
    weight = np.asarray(T @ warm, dtype=np.float64).ravel()
    recent = stats.item_recent_popularity  # NaN without timestamps: the whole popularity
    p = np.where(np.isfinite(recent), recent, stats.item_popularity)
    total = np.asarray(T @ (p * warm), dtype=np.float64).ravel()
    per_item = np.divide(total, weight, out=np.full(len(weight), np.nan), where=weight > 0)
    return per_item[inp.items].astype(np.float32)


def _text_cf_score(inp: FeatureInputs, _: int) -> np.ndarray:
    r"""The mapped collaborative score :math:`p_u \cdot e_i` of each pair
    (:mod:`synerec.hybrid.text_map`); ``NaN`` for unknown users and without a map."""
    out = np.full(inp.cands.n_pairs, np.nan, dtype=np.float32)
    E = inp.side.embeddings
    known_rows = np.flatnonzero(inp.cands.users >= 0)
    if inp.text_map is None or E is None or len(known_rows) == 0:
        return out
    position = np.full(len(inp.cands.users), -1, dtype=np.int64)
    position[known_rows] = np.arange(len(known_rows))
    P = inp.text_map(inp.cands.users[known_rows])
    _pair_dots(P, position[inp.cands.rows], E, inp.items, out)
    return out


def _category_share(inp: FeatureInputs, _: int) -> np.ndarray:
    """``max_{c in cats(i)} share of user u's items in c``, over pairs; NaN without a category."""
    C, U = inp.side.categories, inp.stats.user_categories
    users, items = inp.users, inp.items
    n = len(items)
    out = np.full(n, np.nan, dtype=np.float32)
    if C is None or U is None:
        return out
    counts = np.diff(C.indptr)[items]
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


# -- the table -------------------------------------------------------------------------------

#: The feature table, in column order within each group (see the module docstring).
FEATURES: tuple[Feature, ...] = (
    # per retriever, in its group's block
    Feature("{r}:score", None, RETRIEVER, _score,
            "its score; ``NaN`` when ``r`` did not propose the item (for ``t-item-cf``: the "
            "T-CF blended score)"),
    Feature("{r}:rank", None, RETRIEVER, _rank,
            "1-based rank in its top ``M``; ``NaN`` when absent"),
    Feature("{r}:score_rel", None, RETRIEVER, _score_rel,
            "score divided by the user's best score from ``r``, a per-user scale that does "
            "not drift when the retriever is refitted on more data; ``NaN`` when absent"),
    Feature("{r}:prediction", None, RETRIEVER, _prediction,
            "on explicit ratings, for each retriever that predicts ratings (eq. 3 / eq. 4 for "
            "the neighbourhood models; not a popularity retriever, whose prediction is the "
            "item's mean): what the user would rate the item, for *every* candidate (whether "
            "an item the user will choose is one they will *like* is what \"relevant = rated "
            "4 or more\" asks)",
            when=lambda r: r.prediction),
    Feature("{r}:recent", None, RETRIEVER, _recent,
            "when the data has timestamps, for each EASE retriever: its score from the user's "
            f"{RECENT_ITEMS} latest items only, what the user chose last, as in a session",
            when=lambda r: r.recent),
    # cf
    Feature("n_retrievers", "cf", "popularity", _n_retrievers,
            "how many retrievers proposed the item"),
    Feature("item_popularity", "cf", "popularity",
            lambda inp, _: inp.per_item(inp.stats.item_popularity),
            "share of the active users who interacted with the item (``NaN`` for a new item "
            "in a hybrid with a retriever of new items, as for ``item_mean``, "
            "``item_recent_popularity`` and ``popularity_affinity``)"),
    Feature("item_mean", "cf", "popularity",
            lambda inp, _: inp.per_item(inp.stats.item_mean),
            "damped mean rating; mean log weight for implicit data"),
    Feature("item_days_since_last", "cf", "popularity",
            lambda inp, _: inp.stats.item_days_since_last[inp.items],
            "days from the item's latest interaction to the latest interaction of the "
            "training data; ``NaN`` without timestamps"),
    Feature("item_age_days", "cf", "popularity",
            lambda inp, _: inp.stats.item_age_days[inp.items],
            "days from the item's first interaction to the latest interaction of the "
            "training data; ``NaN`` without timestamps"),
    Feature("item_recent_popularity", "cf", "popularity",
            lambda inp, _: inp.per_item(inp.stats.item_recent_popularity),
            "share of the users active in the latest tenth of the interactions who "
            "interacted with the item"),
    Feature("user_activity", "cf", "user",
            lambda inp, _: inp.per_user(inp.stats.user_activity),
            "log of the user's interactions"),
    Feature("user_mean", "cf", "user",
            lambda inp, _: inp.per_user(inp.stats.user_mean),
            "the user's mean rating (mean log weight for implicit data)"),
    Feature("popularity_affinity", "cf", "popularity",
            lambda inp, _: inp.per_item(inp.stats.item_log_popularity)
            - inp.per_user(inp.stats.user_log_popularity),
            "log popularity of the item minus the mean log popularity of the user's items: "
            "does the user go for hits or for the long tail"),
    # cf, evidence: only with a retriever that brings new items
    Feature("item_interactions", "cf", "popularity",
            lambda inp, _: inp.stats.item_count[inp.items],
            "the item's number of training interactions (0 for a new item): how much the "
            "collaborative signals know of it", new_items=True),
    Feature("item_new", "cf", "popularity",
            lambda inp, _: (inp.stats.item_count[inp.items] == 0).astype(np.float32),
            "1 when nobody interacted with the item in training (a new product, which only "
            "text retrievers can propose), else 0", new_items=True),
    Feature("item_first_seen_days", "cf", "popularity",
            lambda inp, _: np.nan_to_num(inp.stats.item_age_days[inp.items], nan=0.0),
            "days from the item's first interaction to the latest interaction of the "
            "training data, 0 for a new item (``item_age_days`` without the missing value; "
            "0 without timestamps)", new_items=True),
    # text
    Feature("text_cosine", "text", "text", _text_cosine,
            "the cosine between the user's profile embedding (mean-centred, rating-weighted "
            "mean of the embeddings of the user's training items, "
            ":func:`synerec.text.user_profiles`) and the item's embedding"),
    Feature("text_max_cosine", "text", "text", _text_max_cosine,
            "the largest cosine between the item and one of the user's training items among "
            f"the item's {TEXT_NEIGHBORS} nearest texts (``NaN`` when none of them is in the "
            "history: the user has nothing close in description)"),
    Feature("category_share", "text", "category", _category_share,
            "the largest share of the user's training items in one of the item's categories"),
    Feature("text_neighbor_popularity", "text", "text", _text_neighbor_popularity,
            f"the cosine-weighted mean recent popularity of the item's {TEXT_NEIGHBORS} "
            "nearest texts that have interactions: how well products described like it sell, "
            "which a new product's own statistics cannot say", new_items=True),
    Feature("text_cf_score", "text", "text", _text_cf_score,
            "EASE's score of the item predicted from its text: the user's EASE scores of the "
            "warm items mapped into the text space by a ridge regression from the item "
            "embeddings to EASE's item columns (:mod:`synerec.hybrid.text_map`), against the "
            "item's embedding; defined for a new product too", new_items=True),
    # llm: the second stage's own columns, after the first stage's
    Feature("stage_a_score", "llm", "stage_a_score",
            lambda inp, _: inp.stage_a_scores,
            "the first ranker's score of the item", stage="b"),
    Feature("llm_score", "llm", "llm", lambda inp, _: inp.llm_scores,
            r":math:`\log p(t_i \mid H_u) - \log p(t_i)`, the language model's likelihood of "
            "the item's title after the user's history minus its prior "
            "(:mod:`synerec.hybrid.llm_feature`), for the first ranker's top items",
            stage="b"),
)

_GROUP_DOCS: dict[str, str] = {
    "cf": "collaborative signals and item/user statistics (always)",
    "text": "language-model and catalogue signals (when the items have text)",
    "llm": "the second stage, which reorders the first ranker's top items",
}


# -- what is derived from the table ----------------------------------------------------------

def feature_columns(retrievers: Sequence[RetrieverColumns], groups: Sequence[str]
                    ) -> list[Column]:
    """The columns of a hybrid with these retrievers and feature groups, in order.

    The stage-``"b"`` columns (group ``llm``) come last: the first ranker reads the columns of
    stage ``"a"``, the second all of them.
    """
    out: list[Column] = []
    per_retriever = [f for f in FEATURES if f.per_retriever]
    new_items = any(r.new_items for r in retrievers)
    for group in FEATURE_GROUPS:
        if group not in groups:
            continue
        for j, r in enumerate(retrievers):
            if r.group != group:
                continue
            out += [Column(f.name.replace(RETRIEVER, r.label),
                           f.signal.replace(RETRIEVER, r.label), f, j)
                    for f in per_retriever if f.when is None or f.when(r)]
        out += [Column(f.name, f.signal, f) for f in FEATURES
                if f.group == group and (new_items or not f.new_items)]
    return out


def feature_names(retriever_labels: Sequence[str], retriever_groups: Sequence[str],
                  groups: Sequence[str],
                  retriever_predicts: Sequence[bool] | None = None,
                  retriever_recents: Sequence[bool] | None = None,
                  retriever_new_items: Sequence[bool] | None = None) -> list[str]:
    """The stage-``"a"`` column names, in order, for the given retrievers and feature groups.

    ``retriever_predicts[j]``: whether retriever ``j`` adds a ``:prediction`` column;
    ``retriever_recents[j]``: whether it adds a ``:recent`` column;
    ``retriever_new_items[j]``: whether it brings new items.
    """
    n = len(retriever_labels)
    predicts = list(retriever_predicts) if retriever_predicts is not None else [False] * n
    recents = list(retriever_recents) if retriever_recents is not None else [False] * n
    new = list(retriever_new_items) if retriever_new_items is not None else [False] * n
    retrievers = [RetrieverColumns(label, "text" if g == "text" else "cf", p, rc, ni)
                  for label, g, p, rc, ni in zip(retriever_labels, retriever_groups, predicts,
                                                 recents, new, strict=True)]
    return [c.name for c in feature_columns(retrievers, groups) if c.stage == "a"]


def build_features(columns: Sequence[Column], inputs: FeatureInputs) -> np.ndarray:
    """The ``(n_pairs, len(columns))`` float32 matrix of the stage-``"a"`` ``columns``."""
    if any(c.stage != "a" for c in columns):
        raise ValueError("the second stage's columns are added by stage_b_matrix")
    cols = [np.asarray(c.feature.column(inputs, c.retriever), dtype=np.float32)
            for c in columns]
    n = inputs.cands.n_pairs
    out = np.empty((n, len(cols)), dtype=np.float32)
    # np.column_stack's values, filled a block of rows at a time (the block stays in cache
    # while its columns are written: four times faster than one whole column after another)
    for lo in range(0, n, _FILL_ROWS):
        block = out[lo:lo + _FILL_ROWS]
        for j, col in enumerate(cols):
            block[:, j] = col[lo:lo + _FILL_ROWS]
    return out


def stage_b_matrix(columns: Sequence[Column], features: np.ndarray,
                   stage_a_scores: np.ndarray, llm_scores: np.ndarray) -> np.ndarray:
    """The second stage's float32 matrix: the rows' stage-``"a"`` ``features`` followed by
    the stage-``"b"`` columns of ``columns``, over the same rows."""
    inputs = StageBInputs(np.asarray(stage_a_scores), np.asarray(llm_scores))
    extra = [np.asarray(c.feature.column(inputs, c.retriever), dtype=np.float32)
             for c in columns if c.stage == "b"]
    return np.column_stack([features.astype(np.float32, copy=False), *extra])


def signal_of_feature(name: str) -> str:
    """The explanation signal of a column name (a retriever's label, or a fixed signal name;
    an unknown name is its own signal)."""
    for f in FEATURES:
        if not f.per_retriever:
            if f.name == name:
                return f.signal
            continue
        prefix, _, suffix = f.name.partition(RETRIEVER)
        if len(name) > len(prefix) + len(suffix) and name.startswith(prefix) \
                and name.endswith(suffix):
            label = name[len(prefix):len(name) - len(suffix)]
            return f.signal.replace(RETRIEVER, label)
    return name


def _feature_list() -> str:
    """The docstring's list of the features, from the table."""

    def item(text: str) -> list[str]:
        return textwrap.wrap(text, 92, initial_indent="    - ", subsequent_indent="      ",
                             break_on_hyphens=False)

    lines = ["Per retriever ``r`` (in the block of its group, ``text`` for a text retriever and "
             "``cf`` for the others; signal ``r``)"]
    for f in FEATURES:
        if f.per_retriever:
            lines += item(f"``{f.name.replace(RETRIEVER, 'r')}``: {f.doc}.")
    lines.append("")
    for group in FEATURE_GROUPS:
        lines.append(f"``{group}``: {_GROUP_DOCS[group]}")
        for f in FEATURES:
            if f.group == group:
                stage = ", second stage" if f.stage == "b" else ""
                stage += ", with a retriever of new items" if f.new_items else ""
                lines += item(f"``{f.name}`` (signal ``{f.signal}``{stage}): {f.doc}.")
        lines.append("")
    return "\n".join(lines)


__doc__ = (__doc__ or "").replace("FEATURE-LIST", _feature_list())
