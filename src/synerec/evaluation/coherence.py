"""Do a model's lists make sense? Category coherence of top-N lists and variety of explanations.

Two figures a newcomer checks by eye on the demo shop, measured for every user:

* **category share**: the share of a user's top-``n`` items that fall in a category the user
  has bought from, or in a related one (same ``department`` in ``item_info`` when the data
  set has that column); with the share a random list of unseen items would get (``chance``)
  beside it, so the figure can be read against what the catalogue gives for free;
* **distinct cited items**: how many different items of the user's own history the
  grounded explanations (:class:`~synerec.llm.Explainer`) of the ``n`` recommendations cite
  together (the same two items explaining every row gives 2).

The data set's ``user_info["departments"]`` (the demo shop's ground-truth tastes, ``|``-
separated), when present, adds ``taste_share``: the share in the departments the user really
shops in, which noise purchases cannot inflate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ExplainsList
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import DataFormatError
from synerec.llm import Explainer

__all__ = ["CoherenceResult", "recommendation_coherence", "related_from_departments"]

log = logging.getLogger(__name__)


def related_from_departments(data: InteractionDataset) -> dict[str, frozenset[str]]:
    """Category -> the categories of its department (itself included), from ``item_info``.

    Without a ``department`` column each category is related to itself only.
    """
    info = data.item_info
    if info is None or "category" not in info.columns:
        return {}
    cats = data.item_categories()
    if "department" not in info.columns:
        return {c: frozenset([c]) for cs in cats for c in cs}
    members: dict[str, set[str]] = {}
    dept_of: dict[str, set[str]] = {}
    for cs, d in zip(cats, info["department"].astype(str).tolist(), strict=True):
        for c in cs:
            members.setdefault(d, set()).add(c)
            dept_of.setdefault(c, set()).add(d)
    return {c: frozenset().union(*(members[d] for d in ds)) for c, ds in dept_of.items()}


@dataclass
class CoherenceResult:
    """Per-user figures and their means.

    Attributes
    ----------
    per_user
        One row per user: ``own_share``, ``related_share``, ``chance``, ``taste_share``
        (when the data has tastes), ``distinct_cited`` and ``explanations`` (when explained).
    n
        List length.
    """

    per_user: pd.DataFrame
    n: int

    def summary(self) -> dict[str, float]:
        """Means over users (``users``: how many were measured)."""
        out: dict[str, float] = {"users": float(len(self.per_user)), "n": float(self.n)}
        for col in self.per_user.columns:
            out[col] = float(self.per_user[col].mean())
        if "distinct_cited" in self.per_user:
            out["min_distinct_cited"] = float(self.per_user["distinct_cited"].min())
        return out


def recommendation_coherence(
    model: Any,
    data: InteractionDataset,
    *,
    users: Sequence[Any] | None = None,
    n: int = 10,
    related: Mapping[str, frozenset[str]] | None = None,
    explain: bool = True,
    n_evidence: int = 2,
) -> CoherenceResult:
    """Category share of each user's top-``n`` and the items its explanations cite.

    Parameters
    ----------
    model
        A :class:`~synerec.algorithms.Recommender` fitted on ``data``.
    data
        The data set with ``item_info["category"]`` (``|``-separated categories).
    users
        External user ids (default: every user with training data).
    n
        List length.
    related
        Category -> related categories (default :func:`related_from_departments`).
    explain
        Also explain each recommendation and count the distinct cited items per user.
    n_evidence
        Items each explanation cites at most.

    Returns
    -------
    CoherenceResult
    """
    info = data.item_info
    cats = [frozenset(c) for c in data.item_categories()] \
        if info is not None and "category" in info.columns else []
    if not any(cats):
        raise DataFormatError(f"{data.name} has no item categories (item_info['category'])")
    related = dict(related) if related is not None else related_from_departments(data)
    X = model.train_
    if users is None:
        users = data.users.ids_of(np.flatnonzero(model.known_users(np.arange(X.shape[0])))
                                  ).tolist()
    users = list(users)
    ids, _ = model.recommend(users, n)
    item_pos = {v: k for k, v in enumerate(data.items.ids.tolist())}
    tastes, item_dept = _tastes(data)
    explainer = None
    if explain:
        explainer = Explainer(model, n_evidence=n_evidence).fit(data)
    cat_pos, membership = _membership(cats)
    rows = []
    for user, row in zip(users, ids, strict=True):
        u = data.users.index(user)
        rated = X.indices[X.indptr[u]:X.indptr[u + 1]]
        own = frozenset().union(*(cats[j] for j in rated)) if len(rated) else frozenset()
        near = frozenset().union(*(related.get(c, frozenset([c])) for c in own)) \
            if own else frozenset()
        recs = [item_pos[i] for i in row if i is not None]
        if not recs:
            continue
        rec: dict[str, Any] = {
            "user": user,
            "own_share": float(np.mean([bool(cats[i] & own) for i in recs])),
            "related_share": float(np.mean([bool(cats[i] & near) for i in recs])),
        }
        rec["chance"] = _chance(membership, [cat_pos[c] for c in near if c in cat_pos], rated)
        if tastes is not None and item_dept is not None:
            mine = set(tastes.loc[user].split("|"))
            rec["taste_share"] = float(np.mean([item_dept[i] in mine for i in recs]))
        if explainer is not None:
            rec["distinct_cited"] = float(len(_cited(explainer, user, row)))
        rows.append(rec)
    empty = ["user", "own_share", "related_share", "chance"]
    per_user = pd.DataFrame(rows if rows else None, columns=None if rows else empty)
    per_user = per_user.set_index("user")
    log.info("coherence of %s over %d users: %s", type(model).__name__, len(per_user),
             per_user.mean().round(3).to_dict())
    return CoherenceResult(per_user, n)


def _tastes(data: InteractionDataset) -> tuple[pd.Series | None, np.ndarray | None]:
    """Each user's departments of taste and each item's department, when the data has them."""
    info = data.item_info
    if data.user_info is not None and "departments" in data.user_info.columns \
            and info is not None and "department" in info.columns:
        return (data.user_info["departments"].astype(str),
                info["department"].astype(str).to_numpy())
    return None, None


def _membership(cats: Sequence[frozenset[str]]) -> tuple[dict[str, int], np.ndarray]:
    """Which items fall in each category (to get the chance level per user in one pass):
    each category's column and the ``(n_items, n_categories)`` boolean membership."""
    cat_names = sorted({c for cs in cats for c in cs})
    cat_pos = {c: k for k, c in enumerate(cat_names)}
    membership = np.zeros((len(cats), len(cat_names)), dtype=bool)
    for i, cs in enumerate(cats):
        membership[i, [cat_pos[c] for c in cs]] = True
    return cat_pos, membership


def _chance(membership: np.ndarray, near: list[int], rated: np.ndarray) -> float:
    """Share of the user's unseen items in the ``near`` categories (columns of ``membership``):
    what a list drawn at random would score."""
    near_mask: np.ndarray = np.asarray(membership[:, near].any(axis=1))
    unseen = np.ones(len(membership), dtype=bool)
    unseen[rated] = False
    return float(near_mask[unseen].mean()) if unseen.any() else float("nan")


def _cited(explainer: Any, user: Any, row: Any) -> set[Any]:
    """The items the explanations of one list cite: the hybrid's own explanations (what
    ``synerec demo``, the service and the console show for it), else the grounded ones."""
    model: Recommender = explainer.model
    listed = [i for i in row if i is not None]
    if isinstance(model, ExplainsList):
        es = model.explain_list(model.users_.index(user), model.items_.indices(listed))
        return {model.items_.id(int(j)) for e in es for _, j in e.cited}
    cited: set[Any] = set()
    for i in listed:
        cited.update(explainer.explain(user, i).cited_items)
    return cited
