"""Why an item is on a customer's list, with the evidence, for every strategy of the service.

* A list the model made itself (strategy ``model``): :class:`synerec.llm.Explainer`'s grounded
  template sentence and its evidence (the customer's own items that are the model's neighbours
  of the item, the neighbouring customers who rated it, or the items rated by the same people),
  never a language model on the request path.
* A list scored from events newer than the model (strategy ``item_neighbors``, eq. S1 of
  :mod:`synerec.service.scoring`): the profile items with the largest terms
  :math:`w_i S_{ij}` of the item's score.
* The popular items (a customer the model does not know, or a list completed with them): the
  item's number of training interactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synerec.algorithms.abilities import ExplainsList
from synerec.console.catalogue import ItemCatalogue
from synerec.hybrid.explain import signal_label
from synerec.service.scoring import event_weight, profile_weights

__all__ = ["Cited", "Why", "explain_model_list", "explain_neighbor_list", "popular_why"]

#: Items cited per explanation.
N_EVIDENCE = 2

_ACTION = {"purchase": "bought", "cart": "put in the cart", "view": "viewed"}


@dataclass(frozen=True)
class Cited:
    """An item of the customer's history that an explanation cites."""

    item_id: Any
    title: str | None
    categories: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Why:
    """An explanation sentence and the evidence behind it.

    Attributes
    ----------
    text
        One or two sentences.
    basis
        What the evidence is, in words ("the model's item neighbours", ...).
    items
        The customer's own items cited.
    neighbors
        ``(customer id, similarity, rating)`` of neighbouring customers (user-based models).
    shared
        Categories shared by the item and the cited items.
    """

    text: str
    basis: str
    items: tuple[Cited, ...] = ()
    neighbors: tuple[tuple[Any, float, float | None], ...] = ()
    shared: tuple[str, ...] = field(default=())


def _rating_text(value: float | None, scale: tuple[float, float] | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if scale is None:
        return f"weight {value:g}"
    return f"rated {value:g}/{scale[1]:g}"


def explain_model_list(explainer: Any, user: Any, items: Sequence[Any],
                       cat: ItemCatalogue) -> list[Why]:
    """The model's own evidence for each item of its list (template sentences; the hybrid's
    own sentences, naming its signals, computed for the whole list in one pass)."""
    model = explainer.model
    if isinstance(model, ExplainsList):
        return _hybrid_list(model, user, items, cat)
    scale = model.rating_scale_
    out = []
    for item in items:
        e = explainer.explain(user, item)
        ev = e.evidence
        cited = []
        for it in ev.items:
            idx = cat.index(it.item)
            detail = _rating_text(it.rating, scale)
            if it.similarity:
                sim = f"similarity {it.similarity:.2f}" if ev.source == "model" \
                    else f"co-rating cosine {it.similarity:.2f}"
                detail = f"{detail}, {sim}" if detail else sim
            cited.append(Cited(it.item, cat.title(idx), cat.category(idx), detail))
        if ev.kind == "neighbors":
            basis = "customers with similar ratings who rated it"
        elif ev.kind == "similar_items" and ev.source == "model":
            basis = "the model's neighbours of this item among the customer's items"
        elif ev.kind == "similar_items":
            basis = "the customer's items rated by the same people"
        else:
            basis = "no direct evidence in the training data"
        nbrs = tuple((nb.user, float(nb.similarity), float(nb.rating)) for nb in ev.neighbors)
        out.append(Why(e.text, basis, tuple(cited), nbrs, tuple(ev.shared)))
    return out


def _hybrid_list(model: Any, user: Any, items: Sequence[Any], cat: ItemCatalogue) -> list[Why]:
    u = int(model.users_.index(user))
    out = []
    for e in model.explain_list(u, model.items_.indices(list(items))):
        cited = []
        for sig, j in e.cited:
            iid = model.items_.id(int(j))
            idx = cat.index(iid)
            cited.append(Cited(iid, cat.title(idx), cat.category(idx), signal_label(model, sig)))
        basis = (f"the hybrid ranker's signals; the one that weighed most: "
                 f"{signal_label(model, e.top_signal)}")
        out.append(Why(e.text, basis, tuple(cited)))
    return out


def explain_neighbor_list(snap: Any, user_id: str, overlay: Sequence[tuple[Any, ...]],
                          items: Sequence[Any], filled: int, cat: ItemCatalogue,
                          event_weights: dict[str, float]) -> list[Why]:
    """Evidence of a list scored from the customer's profile (training row + newer events):
    for each item, the profile items with the largest terms ``w_i S_ij`` of its score."""
    model = snap.model
    scale = model.rating_scale_
    u = int(model.users_.indices([user_id], missing="negative")[0])
    known = model.is_known_user(u)
    ev_items = model.items_.indices([e[1] for e in overlay], missing="negative") \
        if overlay else np.zeros(0, np.int64)
    ev_w = [event_weight(e[2], e[3], scale, event_weights) for e in overlay]
    if known:
        X = model.train_
        lo, hi = X.indptr[u], X.indptr[u + 1]
        p_items, p_w = profile_weights(X.indices[lo:hi], X.data[lo:hi], ev_items, ev_w, scale)
        train_vals = dict(zip(X.indices[lo:hi].tolist(), X.data[lo:hi].tolist(), strict=True))
    else:
        p_items, p_w = profile_weights(np.zeros(0, np.int64), np.zeros(0), ev_items, ev_w,
                                       scale)
        train_vals = {}
    # what the customer did with each profile item, newest event first
    done: dict[int, str] = {}
    for e, j in zip(reversed(list(overlay)), reversed(ev_items.tolist()), strict=True):
        if j >= 0 and j not in done:
            rating, kind = e[2], e[3]
            if rating is not None and scale is not None:
                done[j] = f"rated {rating:g}/{scale[1]:g} (new)"
            else:
                done[j] = f"{_ACTION.get(kind or '', 'interacted with')} (new)"
    idx = model.items_.indices(list(items), missing="negative")
    scored = len(items) - filled
    out: list[Why] = []
    contrib = None
    if len(p_items) and scored > 0:
        S = snap.similarity[p_items][:, idx[:scored]].toarray()
        contrib = S * p_w[:, None]
    for k, (item, j) in enumerate(zip(items, idx, strict=True)):
        if k >= scored or contrib is None:
            out.append(popular_why(snap, int(j), cat, known))
            continue
        col = contrib[:, k]
        order = np.lexsort((p_items, -col))
        chosen = [int(t) for t in order if col[t] > 0][:N_EVIDENCE]
        cited = []
        for t in chosen:
            pi = int(p_items[t])
            action = done.get(pi) or _rating_text(train_vals.get(pi), scale) or "interacted"
            cited.append(Cited(model.items_.id(pi), cat.title(pi), cat.category(pi),
                               f"{action}, term {col[t]:.3f}"))
        title = cat.title(int(j)) or str(item)
        mine = set(cat.category(int(j)))
        shared = tuple(sorted(mine.intersection(*[set(c.categories) for c in cited])))\
            if cited else ()
        if cited:
            names = " and ".join(c.title or str(c.item_id) for c in cited)
            how = "are" if len(cited) > 1 else "is"
            text = (f"Recommended because of your recent activity: {names} {how} similar to "
                    f"{title}.")
        else:
            text = f"{title} is close to the items of your recent activity."
        if shared:
            text += f" Shared category: {', '.join(shared)}."
        out.append(Why(text, "the customer's items, with the events since the model "
                             "(eq. S1)", tuple(cited), (), shared))
    return out


def popular_why(snap: Any, i: int, cat: ItemCatalogue, known_user: bool) -> Why:
    """Why a popular item fills a list."""
    count = int(snap.model.item_count_[i]) if i >= 0 else 0
    title = cat.title(i) or "This product"
    if known_user:
        text = (f"{title} is popular ({count} customers interacted with it): it completes a "
                "list the customer's own items could not fill.")
    else:
        text = (f"{title} is popular ({count} customers interacted with it): shown while the "
                "model knows nothing about this customer yet.")
    return Why(text, "popularity (training interactions)", (), (), ())
