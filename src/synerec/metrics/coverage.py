r"""Beyond-accuracy metrics of a batch of recommendation lists: coverage, novelty, popularity bias.

They take the same ``recommended`` array as the ranking metrics (item indices of shape
``(n_users, N)``, ``-1`` = padding, padding ignored) and describe the lists as a whole, so each
returns one float.

* :func:`catalogue_coverage` and :func:`category_coverage` (the paper's eq. 7): which share of the
  catalogue, or of its categories, the lists reach;
* :func:`novelty`: mean self-information of the recommended items;
* :func:`average_recommendation_popularity`: popularity bias;
* :func:`gini_index`: how unequally the recommendations are spread over the catalogue.

:func:`item_popularity` counts the users who interacted with each item in a training matrix, the
popularity that :func:`novelty` and :func:`average_recommendation_popularity` expect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from synerec.exceptions import ConfigError
from synerec.metrics.ranking import _check_recommended

__all__ = [
    "average_recommendation_popularity",
    "catalogue_coverage",
    "category_coverage",
    "category_matrix",
    "gini_index",
    "item_popularity",
    "novelty",
]


def _check_n_items(n_items: int) -> int:
    if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
        raise ConfigError(f"n_items must be a positive integer, got {n_items!r}")
    return int(n_items)


def _recommended_items(rec: np.ndarray) -> np.ndarray:
    """The non-padding entries of ``rec``, flattened (one per recommendation slot)."""
    return rec[rec >= 0]


def item_popularity(matrix: sp.spmatrix | sp.sparray) -> np.ndarray:
    """Number of users who interacted with each item.

    Parameters
    ----------
    matrix
        Users x items sparse matrix of (training) interactions; each stored non-zero entry is an
        interaction.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_items,)``.
    """
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise ConfigError(
            f"matrix must be a 2-D scipy.sparse matrix, got {type(matrix).__name__}")
    csc = sp.csc_matrix(matrix, copy=True)
    csc.sum_duplicates()
    csc.eliminate_zeros()
    return np.diff(csc.indptr).astype(np.int64)


def catalogue_coverage(recommended: ArrayLike, n_items: int) -> float:
    r"""Share of the catalogue that appears in at least one list.

    .. math:: \mathrm{Cov} = \frac{|\bigcup_u L_u|}{|I|}

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``; ``-1`` is padding.
    n_items
        Size of the catalogue :math:`|I|`; every index must be below it.

    Returns
    -------
    float
        In [0, 1]; 1 when every item is recommended to someone.

    References
    ----------
    .. [1] J. L. Herlocker, J. A. Konstan, L. G. Terveen and J. T. Riedl, "Evaluating
       collaborative filtering recommender systems", ACM TOIS 22(1), 2004, section 5.1.
    """
    n_items = _check_n_items(n_items)
    rec = _check_recommended(recommended, n_items=n_items)
    seen = np.zeros(n_items, dtype=bool)
    seen[_recommended_items(rec)] = True
    return float(seen.sum() / n_items)


def category_matrix(item_categories: Sequence[Sequence[str] | str | None] | np.ndarray,
                     n_categories: int | None) -> tuple[sp.csr_matrix, int]:
    """Items x categories CSR from per-item category names, and the number of categories
    (what :func:`category_coverage` takes, built once for many lists)."""
    names: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    for item, cats in enumerate(item_categories):
        if cats is None or (isinstance(cats, float) and math.isnan(cats)):
            cats = ()
        elif isinstance(cats, str):
            cats = [c for c in cats.split("|") if c]
        elif not isinstance(cats, Sequence | set | frozenset | np.ndarray):
            raise ConfigError(
                f"item_categories[{item}] must be a tuple of category names, got {cats!r}")
        for cat in cats:
            if not isinstance(cat, str):
                raise ConfigError(
                    f"item_categories[{item}] holds {cat!r}; category names must be strings")
            indices.append(names.setdefault(cat, len(names)))
        indptr.append(len(indices))
    total = len(names)
    if n_categories is not None:
        if n_categories < total:
            raise ConfigError(
                f"n_categories={n_categories} is below the {total} distinct categories that "
                "item_categories names")
        total = n_categories
    matrix = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.int8), np.asarray(indices, dtype=np.int64),
         np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, max(total, 1)))
    return matrix, total


def category_coverage(recommended: ArrayLike,
                      item_categories: Sequence[Sequence[str] | str | None]
                      | sp.spmatrix | sp.sparray,
                      n_categories: int | None = None) -> float:
    r"""Share of all categories that appear in the recommendation lists (the paper's eq. 7).

    .. math:: \mathrm{CatCov} = \frac{|\bigcup_u \bigcup_{i \in L_u} C(i)|}{|C|}

    where :math:`C(i)` is the set of categories of item :math:`i` and :math:`C` the set of all
    categories.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``; ``-1`` is padding.
    item_categories
        Each item's categories, indexed by item: either a sequence (one entry per item) of tuples
        of category names, as :meth:`InteractionDataset.item_categories` returns (a plain string
        is split on ``"|"``, and ``None`` means no category), or a sparse items x categories
        matrix whose stored non-zeros mark membership.
    n_categories
        Size of :math:`C`. Default: the number of distinct names in ``item_categories``, or the
        number of columns of the matrix. Give it when the catalogue of categories is larger than
        the categories that the items carry.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ConfigError
        If an index is outside the items of ``item_categories``, or there are no categories.

    References
    ----------
    .. [1] M. Ge, C. Delgado-Battenfeld and D. Jannach, "Beyond accuracy: evaluating recommender
       systems by coverage and serendipity", RecSys 2010.
    """
    if isinstance(item_categories, sp.spmatrix | sp.sparray):
        if item_categories.ndim != 2:
            raise ConfigError("item_categories must be a 2-D items x categories matrix")
        cats = sp.csr_matrix(item_categories, copy=True)
        cats.sum_duplicates()
        cats.eliminate_zeros()
        total = cats.shape[1] if n_categories is None else int(n_categories)
        if total < cats.shape[1]:
            raise ConfigError(
                f"n_categories={total} is below the {cats.shape[1]} columns of item_categories")
    else:
        if isinstance(item_categories, str) or not isinstance(item_categories,
                                                              Sequence | np.ndarray):
            raise ConfigError(
                "item_categories must be a sequence of per-item category tuples or a sparse "
                f"items x categories matrix, got {type(item_categories).__name__}")
        cats, total = category_matrix(item_categories, n_categories)
    if total < 1:
        raise ConfigError("there are no categories: category coverage is undefined")
    rec = _check_recommended(recommended, n_items=cats.shape[0])
    items = np.unique(_recommended_items(rec))
    covered = np.unique(cats[items].indices).size
    return float(covered / total)


def _check_popularity(item_popularity: ArrayLike, rec: np.ndarray) -> np.ndarray:
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.ndim != 1:
        raise ConfigError(f"item_popularity must be 1-D (one value per item), got {pop.shape}")
    if rec.size and int(rec.max()) >= pop.size:
        raise ConfigError(
            f"recommended holds item index {int(rec.max())}, but item_popularity covers only "
            f"{pop.size} items")
    if not np.all(np.isfinite(pop)) or (pop < 0).any():
        raise ConfigError("item_popularity must hold finite, non-negative values")
    return pop


def novelty(recommended: ArrayLike, item_popularity: ArrayLike, n_users: int) -> float:
    r"""Mean self-information of the recommended items.

    .. math:: \mathrm{Nov} = \frac{1}{|S|} \sum_{(u, i) \in S} -\log_2 \frac{\mathrm{pop}(i)}{|U|}

    over the set :math:`S` of all recommendation slots (padding excluded), where
    :math:`\mathrm{pop}(i)` is the number of training users who interacted with :math:`i` and
    :math:`|U|` the number of training users. Higher means less popular, more novel items; an item
    everyone knows contributes 0.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``; ``-1`` is padding.
    item_popularity
        :math:`\mathrm{pop}(i)` for every item, e.g. :func:`item_popularity` of the training
        matrix.
    n_users
        :math:`|U|`, the number of users that popularity counts among.

    Returns
    -------
    float
        Bits, at least 0.

    Raises
    ------
    ConfigError
        If a recommended item has popularity 0 (infinite self-information; smooth the counts
        first, e.g. ``item_popularity + 1`` with ``n_users + 1``), a popularity exceeds
        ``n_users``, or no list holds an item.

    References
    ----------
    .. [1] T. Zhou, Z. Kuscsik, J.-G. Liu, M. Medo, J. R. Wakeling and Y.-C. Zhang, "Solving the
       apparent diversity-accuracy dilemma of recommender systems", PNAS 107(10), 2010.
    .. [2] S. Vargas and P. Castells, "Rank and relevance in novelty and diversity metrics for
       recommender systems", RecSys 2011.
    """
    if isinstance(n_users, bool) or not isinstance(n_users, int | np.integer) or n_users < 1:
        raise ConfigError(f"n_users must be a positive integer, got {n_users!r}")
    rec = _check_recommended(recommended)
    pop = _check_popularity(item_popularity, rec)
    items = _recommended_items(rec)
    if items.size == 0:
        raise ConfigError("no list recommends any item: novelty is undefined")
    p = pop[items]
    if (p == 0).any():
        item = int(items[np.argmax(p == 0)])
        raise ConfigError(
            f"recommended item {item} has popularity 0, whose self-information is infinite; "
            "smooth the popularity (e.g. item_popularity + 1 and n_users + 1)")
    if (p > n_users).any():
        item = int(items[np.argmax(p > n_users)])
        raise ConfigError(
            f"item {item} has popularity {pop[item]:g}, more than n_users={n_users}")
    return float(np.mean(-np.log2(p / n_users)))


def average_recommendation_popularity(recommended: ArrayLike,
                                      item_popularity: ArrayLike) -> float:
    r"""Average recommendation popularity (ARP), a measure of popularity bias.

    .. math:: \mathrm{ARP} = \frac{1}{|U'|} \sum_{u \in U'} \frac{1}{|L_u|}
              \sum_{i \in L_u} \mathrm{pop}(i)

    over the users :math:`U'` whose list holds at least one item (padding excluded from
    :math:`L_u`).

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``; ``-1`` is padding.
    item_popularity
        :math:`\mathrm{pop}(i)` for every item (a count as :func:`item_popularity` gives, or a
        share of users).

    Returns
    -------
    float
        In the units of ``item_popularity``.

    References
    ----------
    .. [1] H. Abdollahpouri, R. Burke and B. Mobasher, "Managing popularity bias in recommender
       systems with personalized re-ranking", FLAIRS 2019.
    """
    rec = _check_recommended(recommended)
    pop = _check_popularity(item_popularity, rec)
    valid = rec >= 0
    lengths = valid.sum(axis=1)
    has_items = lengths > 0
    if not has_items.any():
        raise ConfigError("no list recommends any item: ARP is undefined")
    totals = np.where(valid, pop[np.where(valid, rec, 0)], 0.0).sum(axis=1)
    return float(np.mean(totals[has_items] / lengths[has_items]))


def gini_index(recommended: ArrayLike, n_items: int) -> float:
    r"""Gini index of how often each catalogue item is recommended.

    With :math:`c_{(1)} \le \dots \le c_{(n)}` the recommendation counts of the :math:`n` catalogue
    items sorted ascending (items never recommended count 0):

    .. math:: G = \frac{\sum_{j=1}^{n} (2j - n - 1)\, c_{(j)}}{n \sum_{j=1}^{n} c_{(j)}}

    0 when every item is recommended equally often; :math:`(n - 1)/n` when a single item takes
    all recommendations.

    Parameters
    ----------
    recommended
        Item indices, shape ``(n_users, N)``; ``-1`` is padding.
    n_items
        Catalogue size :math:`n`.

    Returns
    -------
    float
        In [0, 1).

    References
    ----------
    .. [1] D. Fleder and K. Hosanagar, "Blockbuster culture's next rise or fall: the impact of
       recommender systems on sales diversity", Management Science 55(5), 2009.
    .. [2] P. Castells, N. J. Hurley and S. Vargas, "Novelty and diversity in recommender
       systems", in *Recommender Systems Handbook*, 2nd ed., Springer, 2015.
    """
    n_items = _check_n_items(n_items)
    rec = _check_recommended(recommended, n_items=n_items)
    counts = np.bincount(_recommended_items(rec), minlength=n_items).astype(np.float64)
    total = counts.sum()
    if total == 0:
        raise ConfigError("no list recommends any item: the Gini index is undefined")
    counts.sort()
    weights = 2.0 * np.arange(1, n_items + 1) - n_items - 1
    return float(weights @ counts / (n_items * total))
