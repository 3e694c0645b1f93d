"""Who is likely to buy a product: the customers a model ranks highest for one item.

A shop that launches a product asks the question the other way round from a top-N list: not
"which items for this customer" but "which customers for this item". :func:`item_audience`
answers it with any fitted model's own ranking score (the score its
:meth:`~synerec.algorithms.recommending.Recommending.recommend` ranks by, the item as the only
candidate), so the answer agrees with the model's lists. A product nobody has bought yet can be
ranked only by a model that declares
:attr:`~synerec.algorithms.scoring.ScoringModel.scores_cold_items` (a text model: the product's
text embedding against each customer's items); for any other model such a product is not
rankable and :func:`item_audience` says so.

:func:`audience_hits` measures picked audiences against who really bought the products later,
beside two baselines a shop would use without a model: the most active customers and a random
draw (its expected hits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synerec.exceptions import ConfigError

__all__ = ["AudienceHits", "audience_hits", "item_audience", "item_audiences",
           "most_active_users"]


def item_audience(model: Any, item: int, n: int = 10, *, exclude_seen: bool = True,
                  batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` users whose ranking score of ``item`` is highest, best first.

    Parameters
    ----------
    model
        A fitted :class:`~synerec.algorithms.Recommender`.
    item
        An item index of the model's vocabulary.
    n
        Audience size (at most the number of users ranked).
    exclude_seen
        Leave out the users who already interacted with the item in the training data.
    batch_size
        Users scored per block.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        int64 user indices and their float32 scores, best first (ties: the lower index
        first); users the model knows only through its fallback (no training evidence of their
        own) are not ranked, nor users for whom the model gives the item no score.

    Raises
    ------
    ConfigError
        ``n`` is not a positive integer, or the model cannot rank ``item`` (an item without
        training interactions, for a model that does not score cold items).
    """
    return item_audiences(model, [item], n, exclude_seen=exclude_seen,
                          batch_size=batch_size)[int(item)]


def item_audiences(model: Any, items: Any, n: int = 10, *, exclude_seen: bool = True,
                   batch_size: int = 1024) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`item_audience` of several items in one pass over the users (each user's scores
    are computed once for all the items).

    Returns
    -------
    dict
        Item index -> (user indices, scores), as :func:`item_audience`.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"audience size must be a positive integer, got {n!r}")
    wanted = np.asarray(items)
    if wanted.ndim != 1 or len(wanted) == 0 or wanted.dtype == bool \
            or not np.issubdtype(wanted.dtype, np.integer):
        raise ConfigError(f"items must be a non-empty list of item indices, got {items!r}")
    bad = wanted[(wanted < 0) | (wanted >= model.n_items_)]
    if len(bad):
        raise ConfigError(f"item must be an item index in [0, {model.n_items_}), got "
                          f"{int(bad[0])}")
    cand = np.unique(wanted.astype(np.int64))
    mask = model.rankable_items(cand)
    if mask is not None and not mask[cand].all():
        j = int(cand[~mask[cand]][0])
        raise ConfigError(f"{type(model).__name__} cannot rank item {model.items_.id(j)!r}: "
                          "it has no training interactions and the model does not score new "
                          "items (use a text model such as text-knn)")
    users = np.flatnonzero(model.known_users(np.arange(model.n_users_)))
    # each user's scores of all the candidate items: their whole list among the candidates
    idx, scores = model.recommend_indices(users, len(cand), exclude_seen=exclude_seen,
                                          candidates=cand, batch_size=batch_size)
    rows = np.repeat(users, idx.shape[1])
    flat_idx, flat_sc = idx.ravel(), scores.ravel().astype(np.float32)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j in cand:
        ok = (flat_idx == j) & np.isfinite(flat_sc)
        u, s = rows[ok], flat_sc[ok]
        order = np.lexsort((u, -s))[:n]
        out[int(j)] = (u[order].astype(np.int64), s[order])
    return out


def most_active_users(model: Any, n: int) -> np.ndarray:
    """The ``n`` users with the most training interactions (ties: the lower index): the
    audience a shop picks without a model."""
    counts = np.asarray(model.user_count_)
    return np.lexsort((np.arange(len(counts)), -counts))[:n].astype(np.int64)


@dataclass(frozen=True)
class AudienceHits:
    """Picked audiences against the customers who really bought the items later.

    Attributes
    ----------
    n_items, audience_size, n_users
        Items measured, users picked per item, users that could be picked.
    buyers
        (item, user) purchases measured: each item's later buyers, summed over the items.
    hits
        Of them, how many were in the item's picked audience.
    active_hits
        The same for the ``audience_size`` most active users (one audience for every item).
    random_hits
        Expected hits of ``audience_size`` users drawn at random: ``buyers * audience_size /
        n_users``.
    """

    n_items: int
    audience_size: int
    n_users: int
    buyers: int
    hits: int
    active_hits: int
    random_hits: float

    def share(self, hits: float) -> float:
        """``hits / buyers`` (0 without buyers)."""
        return float(hits) / self.buyers if self.buyers else 0.0


def audience_hits(audiences: dict[int, np.ndarray], buyers: dict[int, np.ndarray],
                  active: np.ndarray, n_users: int) -> AudienceHits:
    """Count, over the items of ``buyers``, the later buyers found in each picked audience.

    Parameters
    ----------
    audiences
        Item -> the user indices picked for it (all of one size).
    buyers
        Item -> the user indices who really bought it later (each counted once).
    active
        The baseline audience (for example :func:`most_active_users`), the same size.
    n_users
        Users that could be picked (for the random baseline).
    """
    sizes = {len(a) for a in audiences.values()} | {len(active)}
    if len(sizes) != 1:
        raise ConfigError(f"audiences must all have one size, got sizes {sorted(sizes)}")
    missing = set(buyers) - set(audiences)
    if missing:
        raise ConfigError(f"no audience for {len(missing)} item(s) with buyers")
    k = sizes.pop()
    total = hits = active_hits = 0
    for item, who in buyers.items():
        who = np.unique(np.asarray(who, dtype=np.int64))
        total += len(who)
        hits += int(np.isin(who, audiences[item]).sum())
        active_hits += int(np.isin(who, active).sum())
    return AudienceHits(n_items=len(buyers), audience_size=k, n_users=n_users, buyers=total,
                        hits=hits, active_hits=active_hits,
                        random_hits=total * k / n_users if n_users else 0.0)
