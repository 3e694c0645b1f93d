"""What an explanation of the hybrid may claim, and when each claim is true.

Each part of a hybrid explanation's sentence is one :class:`Claim` of a declared kind, recorded
beside the text (:attr:`~synerec.hybrid.explain.HybridExplanation.claims`), so that every claim
can be checked against the training data (:func:`synerec.hybrid.explain.check_claims`,
``bench/explain_faithfulness.py``). The sentence says a thing only when it is true:

=====================  ===================================  ======================================
kind                   the sentence says                    true when
=====================  ===================================  ======================================
``bought-together``    "customers who bought X also         X is in the user's history and among
                       bought it (ease)"                    the retriever's top contributors
``text-close``         "it is close in description to X"   X is in the history and among the
                       / "it is like X in description       closest items by embedding (or the
                       and in who chose it (t-item-cf)"     text retriever's top contributors)
``similar-users``      "customers with tastes like yours    each is among the user's nearest
                       (u1, u2) bought it (user-cf)"        neighbours and interacted with it
``favourite-category`` "it is among the most popular in     the item is in C, at least
                       C, a category you often choose" /    :data:`FAVOURITE_CATEGORY_SHARE` of
                       "it is in C, a category you often    the user's history is in C (and, for
                       choose"                              "most popular", the popular rule
                                                            within C)
``popular``            "it is among the most popular        the item is in the top
                       items"                               :data:`POPULAR_SHARE` of the items
                                                            with interactions, by their number
``llm``                "the language model finds it a       the LLM signal's contribution is
                       likely next choice"                  positive
``latest-items``       "it comes next after you bought X    X and Y are the user's latest
                       and Y (sasrec)"                      training items by their timestamps
                                                            (equal times: any order), as read by
                                                            a sequence retriever
=====================  ===================================  ======================================

Before this table existed the category signal named the item's category "a category you often
choose" even when the user had never chosen it (issue 23): the thresholds below are what "often"
and "most popular" mean, declared once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["CLAIM_KINDS", "FAVOURITE_CATEGORY_SHARE", "POPULAR_SHARE", "Claim", "ClaimKind",
           "category_shares", "latest_items_error", "popular_in", "popular_overall"]

#: "A category you often choose": at least this share of the user's training items is in it.
FAVOURITE_CATEGORY_SHARE = 0.2
#: "Among the most popular": in the top tenth of the items with interactions, by number of
#: training interactions (overall, or among the category's items); at least the first item.
POPULAR_SHARE = 0.1

ClaimKind = Literal["bought-together", "text-close", "similar-users", "favourite-category",
                    "popular", "llm", "latest-items"]
CLAIM_KINDS: tuple[ClaimKind, ...] = ("bought-together", "text-close", "similar-users",
                                      "favourite-category", "popular", "llm", "latest-items")


@dataclass(frozen=True)
class Claim:
    """One statement of an explanation, with what it refers to.

    Attributes
    ----------
    kind
        One of :data:`CLAIM_KINDS`.
    signal
        The signal that made it (a retriever's name, ``text``, ``category``, ...).
    items, users
        The item / user indices it names.
    category
        The category it names (``favourite-category``).
    popular
        Whether it also says the item is among the most popular (of the category, or overall).
    """

    kind: ClaimKind
    signal: str
    items: tuple[int, ...] = ()
    users: tuple[int, ...] = ()
    category: str | None = None
    popular: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"kind": self.kind, "signal": self.signal, "items": list(self.items),
                "users": list(self.users), "category": self.category, "popular": self.popular}


def _top_count(n: int) -> int:
    return max(1, math.ceil(POPULAR_SHARE * n))


def popular_overall(item_count: np.ndarray, item: int) -> bool:
    """Whether ``item`` is among the :data:`POPULAR_SHARE` most interacted-with items (ties
    count as the better place)."""
    warm = item_count[item_count > 0]
    if item_count[item] <= 0 or len(warm) == 0:
        return False
    better = int((warm > item_count[item]).sum())
    return better < _top_count(len(warm))


def popular_in(item_count: np.ndarray, categories: sp.csr_matrix, item: int, cat: int) -> bool:
    """Whether ``item`` is among the :data:`POPULAR_SHARE` most interacted-with items of
    category ``cat`` (column of the items x categories matrix)."""
    members = categories.tocsc()[:, cat].indices
    counts = item_count[members]
    warm = counts[counts > 0]
    if item_count[item] <= 0 or len(warm) == 0:
        return False
    better = int((warm > item_count[item]).sum())
    return better < _top_count(len(warm))


def category_shares(history: np.ndarray, categories: sp.csr_matrix) -> np.ndarray:
    """The share of the items ``history`` (indices) in each category (dense, by column)."""
    if len(history) == 0:
        return np.zeros(categories.shape[1], dtype=np.float64)
    counts = np.asarray(categories[history].sum(axis=0), dtype=np.float64).ravel()
    return counts / len(history)


def latest_items_error(X: sp.csr_matrix, times: sp.csr_matrix | None, user: int,
                       items: tuple[int, ...]) -> str | None:
    """Why ``items`` are not ``user``'s ``len(items)`` latest training items (``None`` when
    they are): each must be in the user's row of ``X`` with fewer than ``len(items)`` of the
    row's items strictly later by ``times`` (the timestamps of ``X``'s pairs), so that items
    bought at the same time may be named in any order."""
    if times is None:
        return "the training data have no timestamps: no latest items to name"
    if not items or len(set(items)) != len(items):
        return "a latest-items claim names distinct items"
    row = sp.csr_matrix(times)[user]
    when = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
    hist = set(X.indices[X.indptr[user]:X.indptr[user + 1]].tolist())
    for i in items:
        if i not in hist or i not in when:
            return f"item {i} is not in user {user}'s training history"
        later = sum(1 for j in hist if when.get(j, -math.inf) > when[i])
        if later >= len(items):
            return (f"item {i} is not among user {user}'s {len(items)} latest items "
                    f"({later} are later)")
    return None
