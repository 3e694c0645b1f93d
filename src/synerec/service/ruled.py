"""Lists under business rules: :func:`recommend` and :func:`similar` of
:mod:`synerec.service.engine`, for every model, with a request's rules applied.

The rules run on the served model's own ranked list (the engine's strategies, their seen
items, cold items and candidates, through the shared top-k), widened until ``n`` items pass
(:func:`synerec.service.rules_serving.select_list`). A known user's precomputed list is
sliced directly: its item indices are the rules' table positions, so a first look costs a
slice, and only the chosen items are turned into ids (and explained).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synerec.service import engine
from synerec.service.catalogue import NewItems
from synerec.service.engine import Overlay, RecResult, SimilarResult
from synerec.service.model_store import ModelSnapshot
from synerec.service.rules_serving import ListRules, select_list
from synerec.topk import PAD_INDEX

__all__ = ["NotCheap", "recommend", "similar"]


class NotCheap(Exception):
    """A list asked for with ``cheap=True`` needs scoring work (the rules widened it past
    the precomputed list; :func:`synerec.service.engine.is_cheap` says which lists are
    slices): the caller runs it on a compute thread instead."""


def recommend(snap: ModelSnapshot, user_id: str, overlay: Overlay, n: int, *,
              exclude_seen: bool, explain: bool, event_weights: dict[str, float],
              unknown: str = "fallback", new: NewItems | None = None,
              rules: ListRules | None = None, cheap: bool = False) -> RecResult:
    """:func:`synerec.service.engine.recommend` under ``rules`` (``None``: the engine's list);
    ``res.rules`` says how the rules went (the response's ``rules`` object). ``cheap``: raise
    :class:`NotCheap` rather than score (the event loop's call)."""
    if rules is None:
        return engine.recommend(snap, user_id, overlay, n, exclude_seen=exclude_seen,
                                explain=explain, event_weights=event_weights, unknown=unknown,
                                new=new)
    # the engine's one lookup of a user id (a private helper of the same package)
    u = engine._user_index(snap, user_id)
    top, top_scores = snap.top_items, snap.top_scores
    sliced = (exclude_seen and not overlay and top is not None and top_scores is not None
              and snap.model.is_known_user(u) and not (new is not None and new.ranked
                                                       and len(new)))

    def precomputed(m: int) -> tuple[np.ndarray, np.ndarray] | None:
        if not sliced or top is None or top_scores is None or m > top.shape[1]:
            return None
        keep = top[u, :m] != PAD_INDEX
        return top[u, :m][keep], top_scores[u, :m][keep].astype(np.float64)

    def ranked(m: int) -> tuple[list[Any], list[float | None], RecResult]:
        if cheap and not engine.is_cheap(snap, user_id, overlay, m, exclude_seen=exclude_seen,
                                         explain=explain, new=new):
            raise NotCheap
        got = engine.recommend(snap, user_id, overlay, m, exclude_seen=exclude_seen,
                               explain=explain, event_weights=event_weights, unknown=unknown,
                               new=new)
        return got.items, got.scores, got

    sel = select_list(rules, n, snap.n_items + (len(new) if new is not None else 0), ranked,
                      precomputed, 0 if top is None else top.shape[1])
    res, keep = sel.payload, sel.chosen.tolist()
    if res is None:  # from the precomputed list: the chosen items only
        assert top is not None
        chosen = top[u, np.asarray(keep, dtype=np.int64)]
        res = RecResult(snap.item_ids[chosen].tolist(), [], "model", None, 0)
        if explain:
            res.reasons = engine._model_reasons(snap, user_id, u, chosen)
        if new is not None:
            res.new_products = new.summary()
    else:
        res.items = [res.items[k] for k in keep]
        res.reasons = [res.reasons[k] for k in keep] if res.reasons else res.reasons
    res.scores = [float(v) if np.isfinite(v) else None for v in sel.scores.tolist()]
    res.filled_from_popular = sum(1 for v in res.scores if v is None)
    res.rules = sel.summary(rules.placement)
    return res


def similar(snap: ModelSnapshot, item_id: str, n: int, unknown: str = "fallback",
            new: NewItems | None = None, rules: ListRules | None = None) -> SimilarResult:
    """:func:`synerec.service.engine.similar` under ``rules`` (the similar items widened
    until ``n`` pass them; ``None``: the engine's list)."""
    if rules is None:
        return engine.similar(snap, item_id, n, unknown, new)

    def ranked(m: int) -> tuple[list[Any], list[float | None], SimilarResult]:
        got = engine.similar(snap, item_id, m, unknown, new)
        return got.items, list(got.similarities), got

    sel = select_list(rules, n, snap.n_items + (len(new) if new is not None else 0), ranked)
    res: SimilarResult = sel.payload
    res.items = [res.items[k] for k in sel.chosen.tolist()]
    res.similarities = [float(v) for v in sel.scores.tolist()]
    res.rules = sel.summary(rules.placement)
    return res
