"""What the endpoints compute, on one :class:`ModelSnapshot` and the user's newer events.

Recommendation strategies (the ``strategy`` field of a response)
----------------------------------------------------------------
``model``
    A user the model was trained on, without newer events (or, for a model that is not
    item-based, with newer events: then the model's list minus the items of those events).
``item_neighbors``
    A user with events newer than the model, for an item-based model (the user's training row
    plus the events), or an unknown user whose events name items the model knows, for any
    model: eq. (S1) of :mod:`synerec.service.scoring`. Lists shorter than ``n`` are completed
    with popular items.
``popular``
    The cold-start fallback: a user the model does not know and whose events (if any) name no
    item the model knows gets the most popular items (training interactions, or summed weight
    for implicit data), minus the items of their events. ``fallback`` is ``"unknown_user"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.algorithms import Decision
from synerec.service.model_store import ModelSnapshot
from synerec.service.scoring import event_weight, neighbor_scores, profile_weights
from synerec.topk import PAD_INDEX, topk

__all__ = ["RecResult", "SimilarResult", "predict", "py_id", "recommend", "similar"]

Overlay = list[tuple[int, str, float | None, str | None]]


@dataclass
class RecResult:
    """A recommendation list and how it was made."""

    items: list[Any]
    scores: list[float | None]
    strategy: str
    fallback: str | None
    n_new_events: int
    filled_from_popular: int = 0
    reasons: list[str] | None = field(default=None)


@dataclass
class SimilarResult:
    """Items similar to one item."""

    items: list[Any]
    similarities: list[float]
    fallback: str | None
    source: str


def py_id(value: Any) -> Any:
    """A numpy scalar id as a plain Python ``int``/``str`` (JSON-friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def _ids(snap: ModelSnapshot, idx: np.ndarray) -> list[Any]:
    return [py_id(v) for v in snap.model.items_.ids_of(idx)]


def _user_index(snap: ModelSnapshot, user_id: str) -> int:
    return int(snap.model.users_.indices([user_id], missing="negative")[0])


def _popular(snap: ModelSnapshot, n: int, exclude: set[int]) -> np.ndarray:
    if not exclude:
        return snap.popular[:n]
    out = []
    for i in snap.popular:
        if int(i) not in exclude:
            out.append(int(i))
            if len(out) == n:
                break
    return np.asarray(out, dtype=np.int64)


def recommend(snap: ModelSnapshot, user_id: str, overlay: Overlay, n: int, *,
              exclude_seen: bool, explain: bool, event_weights: dict[str, float]) -> RecResult:
    """The top-``n`` list of one user (see the module docstring for the strategies)."""
    model = snap.model
    u = _user_index(snap, user_id)
    known = u >= 0 and model.user_count_[u] > 0
    event_items = model.items_.indices([e[1] for e in overlay], missing="negative") \
        if overlay else np.zeros(0, np.int64)
    event_set = {int(i) for i in event_items if i >= 0}
    scale = model.rating_scale_

    if known and (not overlay or not snap.item_based):
        extra = len(event_set) if exclude_seen else 0
        top = snap.top_items
        if exclude_seen and top is not None and n + extra <= top.shape[1]:
            # The precomputed list: its first n + extra entries are the model's own top list.
            assert snap.top_scores is not None
            idx, sc = top[u:u + 1, :n + extra], snap.top_scores[u:u + 1, :n + extra]
        else:
            idx, sc = model.recommend_indices(np.array([u]), n + extra,
                                              exclude_seen=exclude_seen)
        keep = [(int(i), float(s)) for i, s in zip(idx[0], sc[0], strict=True)
                if i != PAD_INDEX and not (exclude_seen and int(i) in event_set)][:n]
        items = np.asarray([i for i, _ in keep], dtype=np.int64)
        res = RecResult(_ids(snap, items), [s for _, s in keep], "model", None, len(overlay))
        if explain:
            res.reasons = [_model_reason(snap, user_id, i) for i in res.items]
        return res

    weights = [event_weight(e[2], e[3], scale, event_weights) for e in overlay]
    if known:
        X = model.train_
        lo, hi = X.indptr[u], X.indptr[u + 1]
        p_items, p_w = profile_weights(X.indices[lo:hi], X.data[lo:hi], event_items, weights,
                                       scale)
    else:
        p_items, p_w = profile_weights(np.zeros(0, np.int64), np.zeros(0), event_items,
                                       weights, scale)
    if len(p_items) == 0:
        items = _popular(snap, n, event_set if exclude_seen else set())
        res = RecResult(_ids(snap, items),
                        [float(model.item_popularity_[i]) for i in items], "popular",
                        "unknown_user", len(overlay))
        if explain:
            res.reasons = [_popular_reason(snap, int(i)) for i in items]
        return res

    scores = neighbor_scores(snap.similarity, p_items, p_w)
    exclude = None
    if exclude_seen:
        exclude = sp.csr_matrix((np.ones(len(p_items), np.float32),
                                 (np.zeros(len(p_items), np.int64), p_items)),
                                shape=(1, snap.n_items))
    warm = None if model.scores_cold_items else model.item_count_ > 0
    idx, sc = topk(scores[None, :], n, exclude=exclude, candidates=warm)
    chosen = [int(i) for i in idx[0] if i != PAD_INDEX]
    values: list[float | None] = [float(s) for i, s in zip(idx[0], sc[0], strict=True)
                                  if i != PAD_INDEX]
    filled = 0
    if len(chosen) < n:
        skip = set(chosen) | (set(p_items.tolist()) if exclude_seen else set())
        more = _popular(snap, n - len(chosen), skip)
        filled = len(more)
        chosen += [int(i) for i in more]
        values += [None] * filled
    items = np.asarray(chosen, dtype=np.int64)
    res = RecResult(_ids(snap, items), values, "item_neighbors", None if known else
                    "unknown_user", len(overlay), filled_from_popular=filled)
    if explain:
        res.reasons = [_neighbor_reason(snap, p_items, p_w, int(j)) if k < len(chosen) - filled
                       else _popular_reason(snap, int(j)) for k, j in enumerate(items)]
    return res


def _model_reason(snap: ModelSnapshot, user_id: str, item: Any) -> str:
    pred = snap.model.predict_one(user_id, item)
    if isinstance(pred.details.get("explanation"), str):  # the hybrid: signals and evidence
        return str(pred.details["explanation"])
    word = "score" if snap.model.rating_scale_ is None else "rating"
    text = f"predicted {word} {pred.value:.3g}"
    if pred.n_neighbors:
        text += f" from {pred.n_neighbors} neighbours"
    nbrs = pred.details.get("neighbors") or []
    if nbrs:
        names = ", ".join(f"{py_id(nb.get('item', nb.get('user')))!s}" for nb in nbrs[:3])
        text += f"; most of all: {names}"
    if pred.fallback:
        text += f" ({pred.fallback}: fell back to {pred.fallback_to})"
    return text


def _popular_reason(snap: ModelSnapshot, i: int) -> str:
    count = int(snap.model.item_count_[i])
    return f"popular item ({count} training interactions): cold-start fallback"


def _neighbor_reason(snap: ModelSnapshot, p_items: np.ndarray, p_w: np.ndarray, j: int) -> str:
    col = snap.similarity[p_items][:, [j]].toarray().ravel() * p_w
    order = np.argsort(-col, kind="stable")[:3]
    parts = [f"{py_id(snap.model.items_.ids_of([p_items[k]])[0])!s} ({col[k]:+.3f})"
             for k in order if col[k] != 0]
    return "similar to items you interacted with: " + ", ".join(parts)


def similar(snap: ModelSnapshot, item_id: str, n: int) -> SimilarResult:
    """The ``n`` items most similar to ``item_id``; popular items (flagged) when unknown."""
    model = snap.model
    i = int(model.items_.indices([item_id], missing="negative")[0])
    if i < 0 or model.item_count_[i] == 0:
        items = _popular(snap, n, set() if i < 0 else {i})
        return SimilarResult(_ids(snap, items),
                             [float(model.item_popularity_[k]) for k in items],
                             "unknown_item", "popular")
    S = snap.similarity
    lo, hi = S.indptr[i], S.indptr[i + 1]
    scores = np.full(snap.n_items, -np.inf, dtype=np.float32)
    scores[S.indices[lo:hi]] = S.data[lo:hi]
    idx, sc = topk(scores[None, :], n)
    keep = idx[0] != PAD_INDEX
    return SimilarResult(_ids(snap, idx[0][keep]), [float(s) for s in sc[0][keep]], None,
                         snap.similarity_source)


def predict(snap: ModelSnapshot, user_id: str, item_id: str, overlay: Overlay) -> Decision:
    """The model's decision, told about ratings the user gave in events newer than the model."""
    decision = snap.model.recommend_item(user_id, item_id)
    for _, item, rating, _event in reversed(overlay):
        if item == item_id and rating is not None:
            return Decision(decision.prediction, False,
                            f"user {user_id!r} has already rated item {item_id!r} ({rating:g})",
                            decision.threshold)
    return decision
