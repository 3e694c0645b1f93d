"""What the endpoints compute, on one :class:`ModelSnapshot` and the user's newer events.

Recommendation strategies (the ``strategy`` field of a response)
----------------------------------------------------------------
``model``
    A user the model was trained on, without newer events (or, for a model that is neither
    item-based nor sequential, with newer events: then the model's list minus the items of
    those events).
``item_neighbors``
    A user with events newer than the model, for an item-based model (the user's training row
    plus the events), or an unknown user whose events name items the model knows, for any
    model that does not read sequences: eq. (S1) of :mod:`synerec.service.scoring`. Lists
    shorter than ``n`` are completed with popular items.
``sequence``
    A user with events newer than the model, for a model that reads the user's items in time
    order (:class:`~synerec.algorithms.abilities.ScoresSequence`, ``sasrec``): the user's
    training sequence followed by the events' items in time order (each item once, at its
    latest position; items the model does not know skipped) is scored by the model's own
    :meth:`~synerec.algorithms.abilities.ScoresSequence.score_sequences` (which reads the
    latest ``max_len``) and ranked with the model's rules, the training items and the events'
    items left out. An unknown user whose events name items the model knows gets a list from
    those events the same way. Every event joins the sequence, whatever its type or rating.
``popular``
    The cold-start fallback: a user the model does not know and whose events (if any) name no
    item the model knows gets the most popular items (training interactions, or summed weight
    for implicit data), minus the items of their events. ``fallback`` is ``"unknown_user"``.

Unknown users and items follow synerec's one policy (docs/your-data.md, "Unknown users and
items"): a user the service knows nothing about (not in the model, no events naming a known
item) or an item the model does not know is an error (404) unless the request asks for the
fallback (``unknown=fallback``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synerec.algorithms import Decision
from synerec.algorithms.abilities import (
    ExplainsList,
    ScoresByFactors,
    ScoresItemUsers,
    ScoresNewItems,
    ScoresSequence,
)
from synerec.exceptions import UnknownIdError
from synerec.service.catalogue import NewItems
from synerec.service.model_store import ModelSnapshot
from synerec.service.scoring import event_weight, neighbor_scores, profile_weights
from synerec.topk import PAD_INDEX, topk

__all__ = ["AudienceResult", "RecResult", "SimilarResult", "audience", "event_sequence",
           "is_cheap", "known_item_ids", "predict", "py_id", "recommend", "similar", "titles_of"]

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
    new_products: dict[str, Any] | None = None
    rules: dict[str, Any] | None = None  # how business rules went (synerec.service.ruled)


@dataclass
class SimilarResult:
    """Items similar to one item."""

    items: list[Any]
    similarities: list[float]
    fallback: str | None
    source: str
    basis: str | None = None
    rules: dict[str, Any] | None = None


@dataclass
class AudienceResult:
    """The users most likely to take one item."""

    users: list[Any]
    scores: list[float]
    reasons: list[str]
    basis: str
    basis_detail: str
    new_item: bool
    excluded: int


def py_id(value: Any) -> Any:
    """A numpy scalar id as a plain Python ``int``/``str`` (JSON-friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def titles_of(snap: ModelSnapshot, item_ids: list[Any],
              new: NewItems | None = None) -> list[str | None]:
    """Each item's title: from the catalogue the model carries, else a new product's
    (``None`` without either)."""
    out: list[str | None] = [None] * len(item_ids)
    catalogue = snap.model.catalogue_
    if catalogue is not None and "title" in catalogue and item_ids:
        idx = _item_indices(snap, item_ids)
        out = [str(catalogue["title"][i]) if i >= 0 else None for i in idx]
    if new is not None and len(new):
        for k, i in enumerate(item_ids):
            p = new.position(str(i))
            if out[k] is None and p >= 0:
                out[k] = new.titles[p]
    return out


def _ids(snap: ModelSnapshot, idx: np.ndarray) -> list[Any]:
    return snap.item_ids[np.asarray(idx, dtype=np.int64)].tolist()


def _lookup(vocab: Any, key: Any, integer: bool) -> int:
    """Index of an id in a vocabulary, -1 when unknown: one hash lookup.

    An ``integer`` vocabulary is asked for the integer directly (it would first try the text,
    fail, then convert); ``indices`` of a list builds an index: much slower.
    """
    if integer and isinstance(key, str):
        if not (key.isascii() and key.lstrip("-").isdigit()):
            return -1
        key = int(key)
    try:
        return int(vocab.index(key))
    except (UnknownIdError, OverflowError):
        return -1


def _user_index(snap: ModelSnapshot, user_id: str) -> int:
    return _lookup(snap.model.users_, user_id, snap.integer_user_ids)


def _item_indices(snap: ModelSnapshot, ids: list[Any]) -> np.ndarray:
    """Item indices of ids (-1: unknown): one hash lookup each for a few ids."""
    items = snap.model.items_
    if len(ids) > 64:
        return items.indices(ids, missing="negative")
    integer = snap.integer_item_ids
    return np.fromiter((_lookup(items, i, integer) for i in ids), dtype=np.int64,
                       count=len(ids))


def known_item_ids(snap: ModelSnapshot, ids: list[Any]) -> np.ndarray:
    """Whether the served model knows each item id (:meth:`known_items`: in its vocabulary,
    with training data, or with text for a text model that ranks such items)."""
    return snap.model.known_items(_item_indices(snap, ids))


def is_cheap(snap: ModelSnapshot, user_id: str, overlay: Overlay, n: int, *,
             exclude_seen: bool, explain: bool, new: NewItems | None = None) -> bool:
    """Whether :func:`recommend` is a slice of precomputed lists (fine on the event loop).

    True for a known user without newer events whose list is precomputed (and no new
    products the model ranks: they are scored), with its reasons precomputed too when
    ``explain``, and for an unknown user without events (the popular items, unexplained);
    everything else scores and runs on a compute thread.
    """
    if overlay:
        return False
    if not snap.model.is_known_user(_user_index(snap, user_id)):
        return not explain
    if new is not None and new.ranked and len(new):
        return False
    if explain and (snap.top_reasons is None or n > snap.top_reasons.n):
        return False
    return exclude_seen and snap.top_items is not None and n <= snap.top_items.shape[1]


def _popular(snap: ModelSnapshot, n: int, exclude: set[int]) -> tuple[np.ndarray, list[float]]:
    """The model's list for an unknown user (:attr:`ModelSnapshot.popular`, with its scores)
    less the items of ``exclude``: its first ``n`` items."""
    if not exclude:
        return snap.popular[:n], snap.popular_scores[:n].tolist()
    pos = []
    for k, i in enumerate(snap.popular):
        if int(i) not in exclude:
            pos.append(k)
            if len(pos) == n:
                break
    keep = np.asarray(pos, dtype=np.int64)
    return snap.popular[keep], snap.popular_scores[keep].tolist()


def recommend(snap: ModelSnapshot, user_id: str, overlay: Overlay, n: int, *,
              exclude_seen: bool, explain: bool, event_weights: dict[str, float],
              unknown: str = "fallback", new: NewItems | None = None) -> RecResult:
    """The top-``n`` list of one user (see the module docstring for the strategies).

    ``unknown="error"``: a user the service knows nothing about raises
    :class:`~synerec.exceptions.UnknownUserError` instead of getting the popular items.
    ``new``: the catalogue's new products; a model that ranks them
    (:class:`~synerec.algorithms.abilities.ScoresNewItems`) merges them into a known user's
    list by its own scores (strategy ``model``).
    """
    res = _recommend(snap, user_id, overlay, n, exclude_seen=exclude_seen, explain=explain,
                     event_weights=event_weights, unknown=unknown, new=new)
    if new is not None:
        res.new_products = new.summary()
    return res


def _recommend(snap: ModelSnapshot, user_id: str, overlay: Overlay, n: int, *,
               exclude_seen: bool, explain: bool, event_weights: dict[str, float],
               unknown: str, new: NewItems | None) -> RecResult:
    model = snap.model
    u = _user_index(snap, user_id)
    known = model.is_known_user(u)
    event_items = _item_indices(snap, [e[1] for e in overlay])
    scores_events = snap.item_based or snap.reads_sequence
    if known and (not overlay or not scores_events):
        res = _model_list(snap, user_id, u, event_items, len(overlay), n,
                          exclude_seen=exclude_seen, explain=explain)
        if new is not None and new.ranked and len(new):
            skip = {str(e[1]) for e in overlay} if exclude_seen else set()
            _merge_new(snap, u, res, new, n, skip, explain)
        return res
    if snap.reads_sequence:
        seq = event_sequence(snap, u if known else -1, event_items)
        if known or len(seq):
            return _sequence_list(snap, u if known else -1, seq, event_items, len(overlay), n,
                                  exclude_seen=exclude_seen, explain=explain)
    weights = [event_weight(e[2], e[3], model.rating_scale_, event_weights) for e in overlay]
    p_items, p_w = _profile(snap, u if known else -1, event_items, weights)
    if len(p_items) == 0:
        if unknown == "error":
            raise UnknownIdError(user_id, "user",
                                 hint="unknown=fallback answers with the most popular items")
        exclude = {int(i) for i in event_items if i >= 0} if exclude_seen else set()
        items, scores = _popular(snap, n, exclude)
        res = RecResult(_ids(snap, items), list(scores), "popular", "unknown_user",
                        len(overlay))
        if explain:
            res.reasons = [_popular_reason(snap, int(i)) for i in items]
        return res
    return _neighbor_list(snap, u if known else -1, event_items, p_items, p_w, len(overlay),
                          n, exclude_seen=exclude_seen, explain=explain)


def event_sequence(snap: ModelSnapshot, u: int, event_items: np.ndarray) -> np.ndarray:
    """The item sequence strategy ``sequence`` scores: user ``u``'s training sequence
    (:meth:`~synerec.algorithms.abilities.ScoresSequence.user_sequences`; none for ``-1``)
    followed by ``event_items`` (the newer events' item indices in time order, ``-1``:
    unknown, skipped), each item kept once at its latest position (as a training sequence
    holds it), oldest first."""
    model = snap.model
    assert isinstance(model, ScoresSequence)
    train = model.user_sequences(np.array([u], dtype=np.int64))[0]
    ev = np.asarray(event_items, dtype=np.int64)
    seq = np.concatenate([train.astype(np.int64), ev[ev >= 0]])
    rev = seq[::-1]
    _, first = np.unique(rev, return_index=True)
    return np.ascontiguousarray(rev[np.sort(first)][::-1])


def _sequence_list(snap: ModelSnapshot, u: int, seq: np.ndarray, event_items: np.ndarray,
                   n_events: int, n: int, *, exclude_seen: bool, explain: bool) -> RecResult:
    """Strategy ``sequence``: the model's scores of the user's sequence (training items, then
    the newer events), ranked with the model's rules (its seen items and the events' items
    left out, cold items only where the model ranks them)."""
    model = snap.model
    assert isinstance(model, ScoresSequence)
    scores = model.score_sequences([seq])
    exclude = model.seen_items(np.array([u]), [event_items]) if exclude_seen else None
    idx, sc = model.rank_block(scores, n, exclude=exclude, candidates=snap.rankable)
    keep = idx[0] != PAD_INDEX
    items = idx[0][keep]
    res = RecResult(_ids(snap, items), [float(v) for v in sc[0][keep]], "sequence",
                    None if u >= 0 else "unknown_user", n_events)
    if explain:
        latest = ", ".join(f"{py_id(i)!s}" for i in snap.item_ids[seq[::-1][:3]])
        res.reasons = [f"predicted next item, score {float(v):.3g}, after your latest items "
                       f"(newest first): {latest}" for v in sc[0][keep]]
    return res


def _model_list(snap: ModelSnapshot, user_id: str, u: int, event_items: np.ndarray,
                n_events: int, n: int, *, exclude_seen: bool, explain: bool) -> RecResult:
    """Strategy ``model``: the model's own list of a known user (precomputed when it can be),
    less the items of the user's newer events when ``exclude_seen``."""
    event_set = {int(i) for i in event_items if i >= 0}
    extra = len(event_set) if exclude_seen else 0
    top = snap.top_items
    precomputed = exclude_seen and top is not None and n + extra <= top.shape[1]
    if precomputed:
        # The precomputed list: its first n + extra entries are the model's own top list.
        assert top is not None and snap.top_scores is not None
        idx, sc = top[u:u + 1, :n + extra], snap.top_scores[u:u + 1, :n + extra]
    else:
        idx, sc = snap.model.recommend_indices(np.array([u]), n + extra,
                                               exclude_seen=exclude_seen)
    keep = [(k, int(i), float(s)) for k, (i, s) in enumerate(zip(idx[0], sc[0], strict=True))
            if i != PAD_INDEX and not (exclude_seen and int(i) in event_set)][:n]
    items = np.asarray([i for _, i, _ in keep], dtype=np.int64)
    res = RecResult(_ids(snap, items), [s for _, _, s in keep], "model", None, n_events)
    if explain:
        stored = snap.top_reasons if precomputed else None
        found = [stored.of(u, k) for k, _, _ in keep] if stored is not None else [None]
        reasons = [r for r in found if r is not None]
        res.reasons = (reasons if len(reasons) == len(found)
                       else _model_reasons(snap, user_id, u, items))
    return res


def _merge_new(snap: ModelSnapshot, u: int, res: RecResult, new: NewItems, n: int,
               skip: set[str], explain: bool) -> None:
    """Merge the new products into a model list by the model's own scores of them
    (:meth:`~synerec.algorithms.abilities.ScoresNewItems.score_new_items`, the same scale);
    equal scores keep the model's items first."""
    model = snap.model
    assert isinstance(model, ScoresNewItems) and new.vectors is not None
    scores = model.score_new_items(np.array([u]), new.vectors)[0]
    cand = [(float(s), 1, k) for k, s in enumerate(scores)
            if np.isfinite(s) and new.ids[k] not in skip]
    if not cand:
        return
    rows = [(float(s) if s is not None else -np.inf, 0, k)
            for k, s in enumerate(res.scores)] + cand
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    rows = rows[:n]
    reasons = res.reasons
    items: list[Any] = []
    values: list[float | None] = []
    why: list[str | None] = []
    for s, is_new, k in rows:
        if is_new:
            items.append(new.ids[k])
            values.append(s)
            why.append(_new_reason(snap, u, new, k) if explain else None)
        else:
            items.append(res.items[k])
            values.append(res.scores[k])
            why.append(reasons[k] if reasons else None)
    res.items, res.scores = items, values
    if explain:
        res.reasons = [w or "" for w in why]


def _text_neighbours(snap: ModelSnapshot, u: int, vector: np.ndarray, top: int = 3
                     ) -> list[tuple[Any, float]]:
    """The user's training items whose text vectors are closest to ``vector``."""
    model = snap.model
    assert isinstance(model, ScoresNewItems)
    X = model.train_
    mine = X.indices[X.indptr[u]:X.indptr[u + 1]]
    if len(mine) == 0:
        return []
    cos = model.item_vectors()[mine] @ vector
    order = np.lexsort((mine, -cos))[:top]
    return [(py_id(snap.item_ids[mine[o]]), float(cos[o])) for o in order if cos[o] > 0]


def _new_reason(snap: ModelSnapshot, u: int, new: NewItems, k: int) -> str:
    assert new.vectors is not None
    near = _text_neighbours(snap, u, new.vectors[k])
    text = "new product (added after the model was trained), ranked by its text"
    if near:
        text += "; closest items you have: " + ", ".join(f"{i!s} ({c:.2f})" for i, c in near)
    return text


def _profile(snap: ModelSnapshot, u: int, event_items: np.ndarray,
             weights: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The user's profile (:func:`~synerec.service.scoring.profile_weights`): the training
    row of a known user (``u >= 0``) and the items of the newer events."""
    model = snap.model
    if u >= 0:
        X = model.train_
        lo, hi = X.indptr[u], X.indptr[u + 1]
        return profile_weights(X.indices[lo:hi], X.data[lo:hi], event_items, weights,
                               model.rating_scale_)
    return profile_weights(np.zeros(0, np.int64), np.zeros(0), event_items, weights,
                           model.rating_scale_)


def _neighbor_list(snap: ModelSnapshot, u: int, event_items: np.ndarray, p_items: np.ndarray,
                   p_w: np.ndarray, n_events: int, n: int, *, exclude_seen: bool,
                   explain: bool) -> RecResult:
    """Strategy ``item_neighbors``: eq. (S1) over the profile, ranked with the model's rules
    (its seen items and the events' items left out, cold items only where the model ranks
    them), completed with popular items."""
    model = snap.model
    scores = neighbor_scores(snap.similarity, p_items, p_w)
    exclude = model.seen_items(np.array([u]), [event_items]) if exclude_seen else None
    idx, sc = model.rank_block(scores[None, :], n, exclude=exclude, candidates=snap.rankable)
    chosen = [int(i) for i in idx[0] if i != PAD_INDEX]
    values: list[float | None] = [float(s) for i, s in zip(idx[0], sc[0], strict=True)
                                  if i != PAD_INDEX]
    filled = 0
    if len(chosen) < n:
        skip = set(chosen) | (set(p_items.tolist()) if exclude_seen else set())
        more, _ = _popular(snap, n - len(chosen), skip)
        filled = len(more)
        chosen += [int(i) for i in more]
        values += [None] * filled
    items = np.asarray(chosen, dtype=np.int64)
    res = RecResult(_ids(snap, items), values, "item_neighbors",
                    None if u >= 0 else "unknown_user", n_events, filled_from_popular=filled)
    if explain:
        scored = [int(j) for j in items[:len(chosen) - filled]]
        res.reasons = _neighbor_reasons(snap, p_items, p_w, scored) + [
            _popular_reason(snap, int(j)) for j in items[len(scored):]]
    return res


def _model_reasons(snap: ModelSnapshot, user_id: str, u: int, items: np.ndarray) -> list[str]:
    """Reasons of a model's list, batched: one vectorised prediction for all the items and,
    for an item-based model, the user's rated items among each item's stored neighbours.

    The cost is one ``predict`` call plus one sparse slice ``S[items][:, rated]``: bounded by
    the list length and the user's profile, never one model call per item.
    """
    model = snap.model
    if len(items) == 0:
        return []
    ids = snap.item_ids[items]
    if isinstance(model, ExplainsList):  # the hybrid: each item's signals and their evidence
        return model.explain_texts([u], items[None, :])[0]
    values = model.predict(np.full(len(items), user_id, dtype=object), ids)
    word = "score" if model.rating_scale_ is None else "rating"
    texts = [f"predicted {word} {float(v):.3g}" for v in values]
    if not snap.item_based:
        return texts
    X = model.train_
    rated = X.indices[X.indptr[u]:X.indptr[u + 1]]
    if len(rated) == 0:
        return texts
    block = snap.similarity[items][:, rated].tocsr()  # (list, rated) stored similarities
    names = snap.item_ids[rated]
    for k in range(len(items)):
        lo, hi = block.indptr[k], block.indptr[k + 1]
        if hi == lo:
            continue
        cols, sims = block.indices[lo:hi], block.data[lo:hi]
        order = np.lexsort((cols, -sims))[:3]
        top = ", ".join(f"{py_id(names[cols[o]])!s} ({float(sims[o]):.2f})" for o in order)
        texts[k] += (f"; {hi - lo} item{'s' if hi - lo != 1 else ''} you rated "
                     f"{'are' if hi - lo != 1 else 'is'} among its neighbours, most similar: "
                     f"{top}")
    return texts


def _popular_reason(snap: ModelSnapshot, i: int) -> str:
    count = int(snap.model.item_count_[i])
    return f"popular item ({count} training interactions): cold-start fallback"


def _neighbor_reasons(snap: ModelSnapshot, p_items: np.ndarray, p_w: np.ndarray,
                      items: list[int]) -> list[str]:
    """Eq. (S1)'s largest terms per item, batched (one sparse slice for the whole list)."""
    if not items:
        return []
    block = (snap.similarity[p_items][:, items].toarray() * p_w[:, None]).T  # (list, profile)
    names = snap.item_ids[p_items]
    out = []
    for row in block:
        order = np.argsort(-row, kind="stable")[:3]
        parts = [f"{py_id(names[k])!s} ({row[k]:+.3f})" for k in order if row[k] != 0]
        out.append("similar to items you interacted with: " + ", ".join(parts))
    return out


def similar(snap: ModelSnapshot, item_id: str, n: int, unknown: str = "fallback",
            new: NewItems | None = None) -> SimilarResult:
    """The ``n`` items most similar to ``item_id``.

    A warm item: the model's own item similarity (or the service's cosine). An item the
    model has no interactions for but a text vector (a new product of ``new``, or a catalogue
    item of a text model): the cosine of the text vectors (source ``"text"``, the basis
    named). Otherwise popular items (flagged) when unknown, or
    :class:`~synerec.exceptions.UnknownItemError` with ``unknown="error"``.
    """
    model = snap.model
    i = _lookup(model.items_, item_id, snap.integer_item_ids)
    S = snap.similarity
    if not model.is_known_item(i) or S.indptr[i + 1] == S.indptr[i]:
        vec = _text_vector(snap, i, item_id, new)  # nobody has bought it: by text
        if vec is not None:
            return _similar_by_text(snap, i, item_id, vec, n, new)
    if not model.is_known_item(i):
        if unknown == "error":
            hint = "unknown=fallback answers with the most popular items"
            if new is not None and new.position(item_id) >= 0 and new.note:
                hint = f"it is in the catalogue, but {new.note}; {hint}"
            raise UnknownIdError(item_id, "item", hint=hint)
        items, scores = _popular(snap, n, set() if i < 0 else {i})
        return SimilarResult(_ids(snap, items), scores, "unknown_item", "popular")
    lo, hi = S.indptr[i], S.indptr[i + 1]
    row = np.full(snap.n_items, -np.inf, dtype=np.float32)
    row[S.indices[lo:hi]] = S.data[lo:hi]
    idx, sc = topk(row[None, :], n)
    keep = idx[0] != PAD_INDEX
    return SimilarResult(_ids(snap, idx[0][keep]), [float(s) for s in sc[0][keep]], None,
                         snap.similarity_source)


def _text_vector(snap: ModelSnapshot, i: int, item_id: str,
                 new: NewItems | None) -> np.ndarray | None:
    """The item's vector in a text model's item space: a new product's, else the model's own
    (nonzero) one; ``None`` without a text space."""
    model = snap.model
    if not isinstance(model, ScoresNewItems):
        return None
    if new is not None and new.vectors is not None and (p := new.position(item_id)) >= 0:
        v = new.vectors[p]
        return v if np.abs(v).sum() > 0 else None
    if i >= 0:
        v = model.item_vectors()[i]
        return v if np.abs(v).sum() > 0 else None
    return None


def _similar_by_text(snap: ModelSnapshot, i: int, item_id: str, vec: np.ndarray, n: int,
                     new: NewItems | None) -> SimilarResult:
    """Cosine of text vectors against the model's items with text and the new products."""
    model = snap.model
    assert isinstance(model, ScoresNewItems)
    V = model.item_vectors()
    sims = (V @ vec).astype(np.float32)
    sims[np.abs(V).sum(axis=1) == 0] = -np.inf
    if i >= 0:
        sims[i] = -np.inf
    ids = list(snap.item_ids)
    if new is not None and new.vectors is not None and len(new):
        extra = (new.vectors @ vec).astype(np.float32)
        extra[np.abs(new.vectors).sum(axis=1) == 0] = -np.inf
        p = new.position(item_id)
        if p >= 0:
            extra[p] = -np.inf
        sims = np.concatenate([sims, extra])
        ids += list(new.ids)
    idx, sc = topk(sims[None, :], n)
    keep = idx[0] != PAD_INDEX
    basis = (new.basis if new is not None and new.basis else
             f"text: {snap.model_name}'s item vectors")
    return SimilarResult([ids[k] for k in idx[0][keep]], [float(s) for s in sc[0][keep]],
                         None, "text", basis + ", cosine")


def audience(snap: ModelSnapshot, item_id: str, n: int, new: NewItems | None,
             bought: set[str]) -> AudienceResult:
    """The ``n`` known users most likely to take ``item_id``, its buyers left out.

    A warm item: the model's scores of that one item for every user (one column:
    :class:`~synerec.algorithms.abilities.ScoresItemUsers`, or the factors of a
    :class:`~synerec.algorithms.abilities.ScoresByFactors` model), else eq. (S1)'s column
    ``W S[:, j]`` over the users' training profiles (basis ``item_neighbors``). A new product
    (or an item without interactions) of a text model: its text vector scored for every user
    by the model (:meth:`~synerec.algorithms.abilities.ScoresNewItems.score_new_items`, basis
    ``text``). Users who interacted with it (training data, or ``bought``: events newer than
    the model) are left out.

    Raises
    ------
    UnknownIdError
        An item with neither interactions nor a text vector.
    """
    model = snap.model
    i = _lookup(model.items_, item_id, snap.integer_item_ids)
    name = snap.model_name
    vec = None
    if model.is_known_item(i):  # the model's own scores of it (a text model's cold items too)
        scores, basis, detail = _warm_column(snap, i)
    else:
        vec = _text_vector(snap, i, item_id, new)
        if vec is None:
            hint = None
            if new is not None and new.position(item_id) >= 0 and new.note:
                hint = f"it is in the catalogue, but {new.note}"
            raise UnknownIdError(item_id, "item", hint=hint)
        assert isinstance(model, ScoresNewItems)
        scores = model.score_new_items(np.arange(model.n_users_), vec[None, :])[:, 0]
        basis = "text"
        detail = (f"{name}'s score of the product's text embedding against each customer's "
                  "items (no interactions with it yet)")
    scores = np.array(scores, dtype=np.float32)
    excluded = np.zeros(len(scores), dtype=bool)
    if i >= 0:
        T = model.train_.tocsc()[:, [i]]
        excluded[T.indices] = True
    if bought:
        rows = _user_rows(snap, sorted(bought))
        excluded[rows[rows >= 0]] = True
    scores[excluded] = np.nan
    idx, sc = topk(scores[None, :], n)
    keep = idx[0] != PAD_INDEX
    users = idx[0][keep]
    ids = [py_id(v) for v in model.users_.ids_of(users)] if len(users) else []
    if vec is not None:
        reasons = [_audience_text_reason(snap, int(u), vec) for u in users]
    else:
        reasons = [detail] * len(users)
    interactions = int(model.item_count_[i]) if i >= 0 else 0
    return AudienceResult(ids, [float(x) for x in sc[0][keep]], reasons, basis, detail,
                          interactions == 0, int(excluded.sum()))


def _user_rows(snap: ModelSnapshot, user_ids: list[str]) -> np.ndarray:
    return np.fromiter((_lookup(snap.model.users_, u, snap.integer_user_ids) for u in user_ids),
                       dtype=np.int64, count=len(user_ids))


def _warm_column(snap: ModelSnapshot, i: int) -> tuple[np.ndarray, str, str]:
    """One warm item's score for every user, and its basis."""
    model = snap.model
    name = snap.model_name
    if isinstance(model, ScoresItemUsers):
        return (model.score_item_users(i), "model",
                f"{name}'s ranking score of the item for each customer "
                f"(evidence: {model.evidence_kind})")
    if isinstance(model, ScoresByFactors):
        f = model.factor_scores()
        col = (f.user_factors @ f.item_factors[i] + f.item_bias[i] + f.user_offset)
        col = col.astype(np.float32)
        col[~model.known_users(np.arange(model.n_users_))] = np.nan
        return (col, "model", f"{name}'s ranking score of the item for each customer "
                              "(user and item factors)")
    X = model.train_
    scale = model.rating_scale_
    W = X.copy().astype(np.float64)
    if scale is None:
        W.data[:] = 1.0
    else:
        low, high = scale
        W.data = np.clip((W.data - low) / (high - low), 0.0, 1.0)
    col = np.asarray((W @ snap.similarity[:, [i]]).todense(), dtype=np.float32).ravel()
    reach = np.asarray((W.astype(bool).astype(np.float32)
                        @ (snap.similarity[:, [i]] != 0).astype(np.float32)).todense()).ravel()
    col[reach == 0] = np.nan
    return (col, "item_neighbors",
            f"sum of the item's similarities ({snap.similarity_source}) to each customer's "
            f"items, eq. (S1): {name} scores no single item for every user")


def _audience_text_reason(snap: ModelSnapshot, u: int, vec: np.ndarray) -> str:
    near = _text_neighbours(snap, u, vec, top=2)
    if not near:
        return "text profile close to the product"
    return "has items close in text: " + ", ".join(f"{i!s} ({c:.2f})" for i, c in near)


def predict(snap: ModelSnapshot, user_id: str, item_id: str, overlay: Overlay,
            unknown: str = "fallback") -> Decision:
    """The model's decision, told about ratings the user gave in events newer than the model."""
    decision = snap.model.recommend_item(user_id, item_id, unknown=unknown)
    for _, item, rating, _event in reversed(overlay):
        if item == item_id and rating is not None:
            return Decision(decision.prediction, False,
                            f"user {user_id!r} has already rated item {item_id!r} ({rating:g})",
                            decision.threshold)
    return decision
