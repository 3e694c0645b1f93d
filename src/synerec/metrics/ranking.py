r"""Top-N ranking metrics over batches of recommendation lists.

Every metric takes the same two inputs, over internal indices:

``recommended``
    An integer array of shape ``(n_users, N)``: row ``u`` is user ``u``'s list, best first, of item
    indices. ``-1`` is padding (the shared top-k routine pads lists that have fewer than ``N``
    candidates); padding is never a hit. An item may appear at most once in a list.
``relevant``
    The items that are relevant to each user: a ``scipy.sparse`` matrix of shape
    ``(n_users, n_items)`` whose stored non-zero entries are the relevant (user, item) pairs, or a
    sequence of ``n_users`` arrays of item indices. :func:`relevant_from_test` builds it from a test
    matrix.

Each metric comes in two forms:

* a *per-user* function (:func:`precision_at_n`, :func:`recall_at_n`, :func:`ndcg_at_n`,
  :func:`hit_rate_at_n`, :func:`average_precision_at_n`, :func:`reciprocal_rank`) returning a
  float64 array with one value per user, and ``NaN`` for the users that have no relevant item
  (for them recall, NDCG and AP are undefined, and precision, hit rate and reciprocal rank say
  nothing about the ranking; marking them all alike lets one rule decide what to do with them);
* a *score* helper (:func:`precision_at_n_score`, :func:`recall_at_n_score`,
  :func:`ndcg_at_n_score`, :func:`hit_rate_at_n_score`, :func:`map_at_n`, :func:`mrr`) returning
  the mean through :func:`aggregate`.

The mean is taken, by default (``users_without_relevant="skip"``), over the users that have at
least one relevant item, the usual protocol of offline top-N evaluation (a user without test
items cannot be evaluated). ``users_without_relevant="zero"`` counts them as 0 and averages over
all users instead. :func:`ranking_metrics` computes all six means from one pass.

Notation: :math:`L_u` is user :math:`u`'s list, :math:`N` its length (padding included),
:math:`R_u` the relevant set, :math:`h_{u,k} \in \{0, 1\}` whether the item at rank
:math:`k = 1 \dots N` is relevant.

All computations are vectorised over users: membership of each (user, item) pair in the relevant
set is decided by one binary search over the sorted keys ``user * n_items + item``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from synerec._list_length import check_list_length
from synerec.exceptions import ConfigError

__all__ = [
    "UsersWithoutRelevant",
    "aggregate",
    "average_precision_at_n",
    "hit_rate_at_n",
    "hit_rate_at_n_score",
    "map_at_n",
    "mrr",
    "ndcg_at_n",
    "ndcg_at_n_score",
    "precision_at_n",
    "precision_at_n_score",
    "ranking_metrics",
    "recall_at_n",
    "recall_at_n_score",
    "reciprocal_rank",
    "relevant_from_test",
]

UsersWithoutRelevant = Literal["skip", "zero"]
Relevant: TypeAlias = sp.spmatrix | sp.sparray | Sequence[ArrayLike]

_INT64_MAX = np.iinfo(np.int64).max


# --------------------------------------------------------------------------------------------
# Validation and the hit matrix
# --------------------------------------------------------------------------------------------


def _check_recommended(recommended: ArrayLike, *, n_items: int | None = None) -> np.ndarray:
    """``recommended`` as a 2-D int64 array, after checking its shape and values.

    Shared by the ranking and the coverage metrics.
    """
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ConfigError(
            "recommended must be a 2-D array of item indices of shape (n_users, N), got an array "
            f"of shape {rec.shape}; for a single list use recommended[np.newaxis, :]")
    if rec.dtype == np.bool_ or not np.issubdtype(rec.dtype, np.integer):
        raise ConfigError(
            f"recommended must hold integer item indices (-1 = padding), got dtype {rec.dtype}")
    rec = rec.astype(np.int64, copy=False)
    if rec.size:
        low = int(rec.min())
        if low < -1:
            raise ConfigError(
                f"recommended holds the negative index {low}; only -1 (padding) may be negative")
        high = int(rec.max())
        if n_items is not None and high >= n_items:
            raise ConfigError(
                f"recommended holds item index {high}, outside the catalogue of {n_items} items")
        if rec.shape[1] > 1:
            ordered = np.sort(rec, axis=1)
            dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
            if dup.any():
                user, col = np.argwhere(dup)[0]
                raise ConfigError(
                    f"the list of user {int(user)} recommends item {int(ordered[user, col + 1])} "
                    "more than once; each item may appear at most once in a list")
    return rec


def _relevant_csr(relevant: Relevant, n_users: int, rec: np.ndarray) -> sp.csr_matrix:
    """The relevant sets as a canonical CSR matrix (sorted, no duplicates, no stored zeros)."""
    if isinstance(relevant, sp.spmatrix | sp.sparray):
        if relevant.ndim != 2 or relevant.shape[0] != n_users:
            raise ConfigError(
                f"relevant has shape {relevant.shape} but recommended has {n_users} users (rows)")
        n_items = relevant.shape[1]
        if rec.size and int(rec.max()) >= n_items:
            raise ConfigError(
                f"recommended holds item index {int(rec.max())}, but relevant has only "
                f"{n_items} item columns")
        csr = sp.csr_matrix(relevant, copy=True)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        return csr
    if isinstance(relevant, str | bytes) or not isinstance(relevant, Sequence | np.ndarray):
        raise ConfigError(
            "relevant must be a scipy.sparse matrix (users x items) or a sequence of arrays of "
            f"item indices, got {type(relevant).__name__}")
    if len(relevant) != n_users:
        raise ConfigError(
            f"relevant holds {len(relevant)} item sets but recommended has {n_users} users")
    arrays = []
    for user, items in enumerate(relevant):
        arr = np.asarray(items)
        if arr.size == 0:
            arrays.append(np.empty(0, dtype=np.int64))
            continue
        if arr.ndim != 1 or arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(
                f"relevant[{user}] must be a 1-D array of integer item indices, got "
                f"shape {arr.shape} and dtype {arr.dtype}")
        if int(arr.min()) < 0:
            raise ConfigError(f"relevant[{user}] holds the negative item index {int(arr.min())}")
        arrays.append(arr.astype(np.int64, copy=False))
    lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=n_users)
    indices = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
    n_items = max(int(indices.max()) + 1 if indices.size else 0,
                  int(rec.max()) + 1 if rec.size else 0)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    csr = sp.csr_matrix((np.ones(indices.size, dtype=np.int8), indices, indptr),
                        shape=(n_users, n_items))
    csr.sum_duplicates()
    return csr


def _hits(rec: np.ndarray, rel: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(n_users, N)``: is ``rec[u, k]`` in user ``u``'s relevant set."""
    n_users, n_items = rel.shape
    if rel.nnz == 0 or rec.size == 0:
        return np.zeros(rec.shape, dtype=bool)
    if n_users * max(n_items, 1) >= _INT64_MAX:
        raise ConfigError(f"{n_users} users x {n_items} items is too large to index")
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(rel.indptr))
    rel_keys = rows * n_items + rel.indices.astype(np.int64)  # ascending: CSR is canonical
    rec_keys = np.arange(n_users, dtype=np.int64)[:, np.newaxis] * n_items + rec
    pos = np.searchsorted(rel_keys, rec_keys)
    np.minimum(pos, rel_keys.size - 1, out=pos)
    # rec == -1 gives the key of the previous user's last item: padding must be masked out.
    return (rel_keys[pos] == rec_keys) & (rec >= 0)


def _prepare(recommended: ArrayLike, relevant: Relevant,
             n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The hit matrix of the first ``n`` ranks and each user's number of relevant items."""
    rec = _check_recommended(recommended)
    n = check_list_length(n, minimum=1, width=rec.shape[1])
    rel = _relevant_csr(relevant, rec.shape[0], rec)
    hits = _hits(rec[:, :n], rel)
    return hits, np.diff(rel.indptr).astype(np.int64)


def _undefined_where_no_relevant(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    values[n_relevant == 0] = np.nan
    return values


# --------------------------------------------------------------------------------------------
# Per-user formulas on a hit matrix
# --------------------------------------------------------------------------------------------


def _precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    values = hits.sum(axis=1, dtype=np.float64) / hits.shape[1]
    return _undefined_where_no_relevant(values, n_relevant)


def _recall(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    counts = hits.sum(axis=1, dtype=np.float64)
    values = np.divide(counts, n_relevant, out=np.zeros_like(counts), where=n_relevant > 0)
    return _undefined_where_no_relevant(values, n_relevant)


def _ndcg(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    n = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))
    # a row's own sum (not a BLAS product, whose rounding can depend on the row's place in
    # the batch): a user's value does not depend on the other users
    dcg = (hits * discounts).sum(axis=1)
    ideal_cum = np.concatenate(([0.0], np.cumsum(discounts)))
    idcg = ideal_cum[np.minimum(n_relevant, n)]
    values = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
    return _undefined_where_no_relevant(values, n_relevant)


def _hit_rate(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    values = np.asarray(hits.any(axis=1), dtype=np.float64)
    return _undefined_where_no_relevant(values, n_relevant)


def _average_precision(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    n = hits.shape[1]
    precision_at_k = np.cumsum(hits, axis=1, dtype=np.float64) / np.arange(1, n + 1)
    total = np.where(hits, precision_at_k, 0.0).sum(axis=1)
    norm = np.minimum(n_relevant, n).astype(np.float64)
    values = np.divide(total, norm, out=np.zeros_like(total), where=norm > 0)
    return _undefined_where_no_relevant(values, n_relevant)


def _reciprocal_rank(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    first = np.argmax(hits, axis=1)
    values = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return _undefined_where_no_relevant(values, n_relevant)


_FORMULAS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "precision": _precision,
    "recall": _recall,
    "ndcg": _ndcg,
    "hit_rate": _hit_rate,
    "map": _average_precision,
    "mrr": _reciprocal_rank,
}


# --------------------------------------------------------------------------------------------
# Public per-user metrics
# --------------------------------------------------------------------------------------------


def precision_at_n(recommended: ArrayLike, relevant: Relevant,
                   n: int | None = None) -> np.ndarray:
    r"""Precision at N of each user's list.

    .. math:: P_u@N = \frac{|L_u \cap R_u|}{N}

    :math:`N` is the list length even where the list is padded (the paper's eq. 5), so a list
    with fewer candidates than :math:`N` is not rewarded for being short, and a perfect list scores
    :math:`\min(|R_u|, N) / N`.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``, best first; ``-1`` is padding.
    relevant
        Relevant items: sparse ``(n_users, n_items)`` (stored non-zeros are relevant) or a
        sequence of ``n_users`` index arrays.
    n
        Evaluate the first ``n`` ranks; default: the whole list (``N``).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_users,)``, in [0, 1]; ``NaN`` for users without relevant items.

    References
    ----------
    .. [1] J. L. Herlocker, J. A. Konstan, L. G. Terveen and J. T. Riedl, "Evaluating
       collaborative filtering recommender systems", ACM TOIS 22(1), 2004, section 4.1.
    """
    return _precision(*_prepare(recommended, relevant, n))


def recall_at_n(recommended: ArrayLike, relevant: Relevant, n: int | None = None) -> np.ndarray:
    r"""Recall at N of each user's list.

    .. math:: R_u@N = \frac{|L_u \cap R_u|}{|R_u|}

    (the paper's eq. 6). Non-decreasing in :math:`N`; below 1 whenever :math:`|R_u| > N`.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``, best first; ``-1`` is padding.
    relevant
        Relevant items: sparse ``(n_users, n_items)`` (stored non-zeros are relevant) or a
        sequence of ``n_users`` index arrays.
    n
        Evaluate the first ``n`` ranks; default: the whole list (``N``).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_users,)``, in [0, 1]; ``NaN`` for users without relevant items.

    References
    ----------
    .. [1] J. L. Herlocker, J. A. Konstan, L. G. Terveen and J. T. Riedl, "Evaluating
       collaborative filtering recommender systems", ACM TOIS 22(1), 2004, section 4.1.
    """
    return _recall(*_prepare(recommended, relevant, n))


def ndcg_at_n(recommended: ArrayLike, relevant: Relevant, n: int | None = None) -> np.ndarray:
    r"""Normalised discounted cumulative gain at N, with binary gains.

    .. math::
        \mathrm{DCG}_u@N = \sum_{k=1}^{N} \frac{h_{u,k}}{\log_2(k + 1)}, \qquad
        \mathrm{IDCG}_u@N = \sum_{k=1}^{\min(|R_u|, N)} \frac{1}{\log_2(k + 1)}, \qquad
        \mathrm{nDCG}_u@N = \frac{\mathrm{DCG}_u@N}{\mathrm{IDCG}_u@N}

    The ideal list puts :math:`\min(|R_u|, N)` relevant items first, so a perfect list scores 1
    even when the user has more relevant items than :math:`N`.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``, best first; ``-1`` is padding.
    relevant
        Relevant items: sparse ``(n_users, n_items)`` (stored non-zeros are relevant) or a
        sequence of ``n_users`` index arrays.
    n
        Evaluate the first ``n`` ranks; default: the whole list (``N``).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_users,)``, in [0, 1]; ``NaN`` for users without relevant items.

    References
    ----------
    .. [1] K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
       ACM TOIS 20(4), 2002, pp. 422-446.
    """
    return _ndcg(*_prepare(recommended, relevant, n))


def hit_rate_at_n(recommended: ArrayLike, relevant: Relevant,
                  n: int | None = None) -> np.ndarray:
    r"""Whether each user's list holds at least one relevant item.

    .. math:: \mathrm{HR}_u@N = [\, |L_u \cap R_u| > 0 \,]

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``, best first; ``-1`` is padding.
    relevant
        Relevant items: sparse ``(n_users, n_items)`` (stored non-zeros are relevant) or a
        sequence of ``n_users`` index arrays.
    n
        Evaluate the first ``n`` ranks; default: the whole list (``N``).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_users,)``, 0 or 1; ``NaN`` for users without relevant items.

    References
    ----------
    .. [1] M. Deshpande and G. Karypis, "Item-based top-N recommendation algorithms", ACM TOIS
       22(1), 2004, pp. 143-177 (hit rate).
    """
    return _hit_rate(*_prepare(recommended, relevant, n))


def average_precision_at_n(recommended: ArrayLike, relevant: Relevant,
                           n: int | None = None) -> np.ndarray:
    r"""Average precision at N of each user's list.

    .. math:: \mathrm{AP}_u@N = \frac{1}{\min(|R_u|, N)} \sum_{k=1}^{N} h_{u,k}\, P_u@k

    Normalised by :math:`\min(|R_u|, N)`, the most hits a list of length :math:`N` can hold, so a
    perfect list scores 1.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``, best first; ``-1`` is padding.
    relevant
        Relevant items: sparse ``(n_users, n_items)`` (stored non-zeros are relevant) or a
        sequence of ``n_users`` index arrays.
    n
        Evaluate the first ``n`` ranks; default: the whole list (``N``).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_users,)``, in [0, 1]; ``NaN`` for users without relevant items.

    References
    ----------
    .. [1] C. D. Manning, P. Raghavan and H. Schütze, *Introduction to Information Retrieval*,
       Cambridge University Press, 2008, section 8.4.
    """
    return _average_precision(*_prepare(recommended, relevant, n))


def reciprocal_rank(recommended: ArrayLike, relevant: Relevant,
                    n: int | None = None) -> np.ndarray:
    r"""Reciprocal rank of the first relevant item in each user's list.

    .. math:: \mathrm{RR}_u@N = \frac{1}{\min\{k : h_{u,k} = 1\}} \quad (0 \text{ if no hit})

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``, best first; ``-1`` is padding.
    relevant
        Relevant items: sparse ``(n_users, n_items)`` (stored non-zeros are relevant) or a
        sequence of ``n_users`` index arrays.
    n
        Evaluate the first ``n`` ranks; default: the whole list (``N``).

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_users,)``, in [0, 1]; ``NaN`` for users without relevant items.

    References
    ----------
    .. [1] E. M. Voorhees, "The TREC-8 question answering track report", TREC 1999.
    """
    return _reciprocal_rank(*_prepare(recommended, relevant, n))


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def aggregate(values: ArrayLike, users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Mean of a per-user metric.

    Parameters
    ----------
    values
        A per-user metric, with ``NaN`` for the users that have no relevant item (as the per-user
        functions of this module return).
    users_without_relevant
        ``"skip"`` (default): average over the users with at least one relevant item, the usual
        protocol (they are the users the test set can judge). ``"zero"``: count the others as 0
        and average over all users.

    Returns
    -------
    float
        The mean.

    Raises
    ------
    ConfigError
        If there is no user to average over (no users, or with ``"skip"`` no user with a
        relevant item), or the mode is unknown.
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 1:
        raise ConfigError(f"values must be a 1-D per-user array, got shape {vals.shape}")
    if users_without_relevant == "skip":
        defined = vals[~np.isnan(vals)]
        if defined.size == 0:
            raise ConfigError(
                f"no user (of {vals.size}) has a relevant item: the mean is undefined; check the "
                "relevance threshold and that the test set has interactions")
        return float(defined.mean())
    if users_without_relevant == "zero":
        if vals.size == 0:
            raise ConfigError("no users: the mean is undefined")
        return float(np.nan_to_num(vals, nan=0.0).mean())
    raise ConfigError(
        f"users_without_relevant must be 'skip' or 'zero', got {users_without_relevant!r}")


def _score(metric: str, recommended: ArrayLike, relevant: Relevant, n: int | None,
           users_without_relevant: UsersWithoutRelevant) -> float:
    if users_without_relevant not in ("skip", "zero"):  # fail before the work
        raise ConfigError(
            f"users_without_relevant must be 'skip' or 'zero', got {users_without_relevant!r}")
    return aggregate(_FORMULAS[metric](*_prepare(recommended, relevant, n)),
                     users_without_relevant)


def precision_at_n_score(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
                         users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Mean :func:`precision_at_n` over users (see :func:`aggregate` for the users counted)."""
    return _score("precision", recommended, relevant, n, users_without_relevant)


def recall_at_n_score(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
                      users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Mean :func:`recall_at_n` over users (see :func:`aggregate` for the users counted)."""
    return _score("recall", recommended, relevant, n, users_without_relevant)


def ndcg_at_n_score(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
                    users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Mean :func:`ndcg_at_n` over users (see :func:`aggregate` for the users counted)."""
    return _score("ndcg", recommended, relevant, n, users_without_relevant)


def hit_rate_at_n_score(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
                        users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Share of users with a hit, :func:`hit_rate_at_n` averaged (see :func:`aggregate`)."""
    return _score("hit_rate", recommended, relevant, n, users_without_relevant)


def map_at_n(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
             users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Mean average precision: :func:`average_precision_at_n` averaged (see :func:`aggregate`)."""
    return _score("map", recommended, relevant, n, users_without_relevant)


def mrr(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
        users_without_relevant: UsersWithoutRelevant = "skip") -> float:
    """Mean reciprocal rank: :func:`reciprocal_rank` averaged (see :func:`aggregate`)."""
    return _score("mrr", recommended, relevant, n, users_without_relevant)


def ranking_metrics(recommended: ArrayLike, relevant: Relevant, n: int | None = None, *,
                    users_without_relevant: UsersWithoutRelevant = "skip") -> dict[str, float]:
    """All six ranking means from one hit matrix.

    Parameters
    ----------
    recommended, relevant, n
        As for the per-user metrics.
    users_without_relevant
        As for :func:`aggregate`.

    Returns
    -------
    dict[str, float]
        ``precision``, ``recall``, ``ndcg``, ``hit_rate``, ``map`` and ``mrr``, each the same
        value as the matching score helper.
    """
    if users_without_relevant not in ("skip", "zero"):
        raise ConfigError(
            f"users_without_relevant must be 'skip' or 'zero', got {users_without_relevant!r}")
    hits, n_relevant = _prepare(recommended, relevant, n)
    return {name: aggregate(formula(hits, n_relevant), users_without_relevant)
            for name, formula in _FORMULAS.items()}


# --------------------------------------------------------------------------------------------
# Relevance from a test matrix
# --------------------------------------------------------------------------------------------


def relevant_from_test(test_matrix: sp.spmatrix | sp.sparray,
                       threshold: float | None = None) -> sp.csr_matrix:
    """The relevant (user, item) pairs of a test matrix.

    Parameters
    ----------
    test_matrix
        Users x items sparse matrix of the test interactions (``InteractionDataset.matrix`` of
        the test part of a split).
    threshold
        Explicit feedback: an item is relevant when its test rating is ``>= threshold`` (for
        example 4 on a 1-5 scale). ``None`` (implicit feedback): every stored test interaction
        is relevant, whatever its value.

    Returns
    -------
    scipy.sparse.csr_matrix
        Same shape, float32, 1.0 at each relevant pair (sorted indices, no duplicates).

    Raises
    ------
    ConfigError
        If ``test_matrix`` is not a 2-D sparse matrix or ``threshold`` is not a finite number.
    """
    if not sp.issparse(test_matrix) or test_matrix.ndim != 2:
        raise ConfigError(
            f"test_matrix must be a 2-D scipy.sparse matrix, got {type(test_matrix).__name__}")
    csr = sp.csr_matrix(test_matrix, copy=True)
    csr.sum_duplicates()
    if threshold is None:
        keep = np.ones(csr.nnz, dtype=bool)
    else:
        try:
            t = float(threshold)
        except (TypeError, ValueError):
            raise ConfigError(f"threshold must be a number or None, got {threshold!r}") from None
        if not np.isfinite(t):
            raise ConfigError(f"threshold must be finite, got {threshold!r}")
        keep = csr.data >= t  # NaN ratings are never relevant
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    out = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], csr.indices[keep])),
        shape=csr.shape, dtype=np.float32)
    out.sum_duplicates()
    out.sort_indices()
    return out
