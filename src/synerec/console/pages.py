"""The console's pages as data: what each template shows, built from the console's context.

:mod:`synerec.console.app` routes the requests and renders the templates; the functions here
build their contents (and need neither FastAPI nor Jinja2). A page builder takes the template's
context dict, fills it, and returns ``(template name, status)``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from synerec.console.catalogue import split_categories
from synerec.console.context import ConsoleContext, ModelView
from synerec.console.explain import (
    Why,
    explain_model_list,
    explain_neighbor_list,
    popular_why,
)
from synerec.exceptions import SynerecError, UnknownIdError
from synerec.service import engine

__all__ = ["customer_page", "encoder_name", "event_row", "item_entry", "model_summary",
           "pending_events", "product_page", "retrain_jobs", "scrub"]

_EVENT_WORDS = {"purchase": "bought", "cart": "added to cart", "view": "viewed"}
_PATHISH = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s/'\"]+){2,}/?")


def scrub(text: str | None) -> str | None:
    """A message without filesystem paths (job errors are shown on the model page)."""
    if text is None:
        return None
    return _PATHISH.sub("<path>", text)


def item_entry(view: ModelView, i: int, item_id: Any = None) -> dict[str, Any]:
    """An item as the templates show it: id, title and categories (``i = -1``: ``item_id``,
    an item the model does not know)."""
    cat = view.catalogue
    iid = view.model.items_.id(i) if i >= 0 else item_id
    return {"id": iid, "title": cat.title(i), "categories": cat.category(i)}


def pending_events(ctx: ConsoleContext, snap: Any) -> int:
    """Events stored after the model's training data was taken."""
    return max(0, ctx.events.max_id() - int(snap.events_upto))  # ids have no gaps


def model_summary(ctx: ConsoleContext, view: ModelView | None) -> dict[str, Any]:
    """What the overview and the model page show of one model: its name, options, data."""
    assert view is not None
    snap = view.snap
    model = snap.model
    try:
        saved = os.stat(Path(snap.path) / "model.json").st_mtime
    except OSError:
        saved = None
    cfg = model.config_.model_dump(mode="json")
    source = model.data_source_ or {}
    if "config" in source:
        where = f"the file {Path(str(source['config'].get('path', '?'))).name}"
    elif "name" in source:
        opts = source.get("options") or {}
        where = str(source["name"]) + (f" ({', '.join(f'{k}={v}' for k, v in opts.items())})"
                                       if opts else "")
    else:
        where = None
    scale = model.rating_scale_
    cat = view.catalogue
    return {
        "label": view.label, "name": snap.model_name, "version": snap.version,
        "config": sorted(cfg.items()), "saved_at": saved,
        "data_name": model.data_name_, "data_source": where,
        "n_users": int(model.n_users_), "n_items": int(model.n_items_),
        "n_interactions": int(model.train_.nnz),
        "feedback": (f"ratings {scale[0]:g}–{scale[1]:g}" if scale is not None
                     else "implicit feedback"),
        "has_titles": cat.has_titles, "has_categories": cat.categories is not None,
        "similarity": {"model": "the model's own item similarity",
                       "service_cosine": "cosine of the items' co-interactions"}.get(
                           snap.similarity_source, snap.similarity_source),
        "events_upto": snap.events_upto, "loaded_at": snap.loaded_at,
    }


def _value_text(value: float | None, scale: tuple[float, float] | None) -> str:
    if value is None:
        return "–"
    if scale is None:
        return "interaction" if value == 1 else f"interaction ×{value:g}"
    return f"rated {value:g}/{scale[1]:g}"


def _event_text(e: Any, scale: tuple[float, float] | None) -> str:
    parts = []
    if e.event:
        parts.append(_EVENT_WORDS.get(e.event, e.event))
    if e.rating is not None:
        parts.append(f"rated {e.rating:g}" + (f"/{scale[1]:g}" if scale else ""))
    return ", ".join(parts) or "interaction"


def event_row(ctx: ConsoleContext, view: ModelView, e: Any) -> dict[str, Any]:
    """One stored event as the events page lists it."""
    i = view.catalogue.index(e.item_id)
    return {"id": e.id, "user_id": e.user_id, "item": item_entry(view, i, e.item_id),
            "what": _event_text(e, view.model.rating_scale_), "time": e.received_at,
            "timestamp": e.timestamp, "pending": e.id > view.snap.events_upto}


def _served_overlay(ctx: ConsoleContext, user_id: str, snap: Any) -> list[Any]:
    """The user's events newer than the served model, as the JSON API serves them."""
    st = ctx.service
    return st.events.user_events(user_id, snap.events_upto, st.settings.max_overlay_events)


def _chosen_labels(ctx: ConsoleContext, show: list[str] | None) -> list[str]:
    labels = ctx.labels()
    if not show:
        return labels[:3]
    chosen = [lb for lb in labels if lb in show]
    return chosen or ["served"]


def _recommend(ctx: ConsoleContext, view: ModelView, user_id: str, overlay: list[Any],
               n: int) -> dict[str, Any]:
    snap = view.snap
    settings = ctx.service.settings
    res = engine.recommend(snap, user_id, overlay, n, exclude_seen=True, explain=False,
                           event_weights=settings.event_weights, unknown="fallback")
    cat = view.catalogue
    idx = snap.model.items_.indices(res.items, missing="negative")
    whys: list[Why] | None = None
    if res.strategy == "model":
        u = int(snap.model.users_.indices([user_id], missing="negative")[0])
        typed = snap.model.users_.id(u)
        key = tuple(res.items)
        whys = view.explained(user_id, key)
        if whys is None:
            whys = explain_model_list(view.explainer(), typed, res.items, cat)
            view.remember(user_id, key, whys)
    elif res.strategy == "item_neighbors":
        whys = explain_neighbor_list(snap, user_id, overlay, res.items,
                                     res.filled_from_popular, cat, settings.event_weights)
    else:
        whys = [popular_why(snap, int(i), cat, False) for i in idx]
    items = []
    for k, (iid, score, i, why) in enumerate(zip(res.items, res.scores, idx, whys,
                                                 strict=True)):
        items.append({"rank": k + 1, "id": iid, "title": cat.title(int(i)),
                      "categories": cat.category(int(i)), "score": score, "why": why})
    strategy = {"model": "the model's own list",
                "item_neighbors": "scored from the customer's items and newer events "
                                  "(item neighbours)",
                "popular": "popular items (the model does not know this customer)"}
    return {"label": view.label, "name": view.name, "version": snap.version,
            "strategy": res.strategy, "strategy_text": strategy.get(res.strategy, res.strategy),
            "new_events": res.n_new_events, "filled": res.filled_from_popular, "items": items}


def _history(ctx: ConsoleContext, view: ModelView, user_id: str, u: int,
             events: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """The customer's newest ``history_limit`` interactions (events, then training rows not
    covered by an event already in the model) and how many there are in all."""
    snap = view.snap
    model = snap.model
    scale = model.rating_scale_
    limit = ctx.settings.history_limit
    rows: list[dict[str, Any]] = []
    in_model = set()
    for e in events:
        i = view.catalogue.index(e.item_id)
        if e.id <= snap.events_upto:
            in_model.add(i)
        rows.append({**item_entry(view, i, e.item_id), "what": _event_text(e, scale),
                     "date": e.timestamp, "source": "event, new" if e.id > snap.events_upto
                     else "event, in the model", "_value": 0.0})
    n_train = 0
    if u >= 0:
        X = model.train_
        lo, hi = X.indptr[u], X.indptr[u + 1]
        items, values = X.indices[lo:hi], X.data[lo:hi]
        if in_model:
            keep = ~np.isin(items, np.fromiter(in_model, dtype=np.int64))
            items, values = items[keep], values[keep]
        n_train = len(items)
        base = ctx.base
        ids = list(model.items_.ids_of(items))
        dates = np.array([np.nan if d is None else d for d in base.dates(user_id, ids)],
                         dtype=np.float64) if base is not None and ids \
            else np.full(len(ids), np.nan)
        order = np.lexsort((-values, -np.nan_to_num(dates, nan=0.0)))[:limit]
        for k in order:
            d = None if np.isnan(dates[k]) else float(dates[k])
            rows.append({**item_entry(view, int(items[k])), "date": d, "source": "training",
                         "what": _value_text(float(values[k]), scale),
                         "_value": float(values[k])})
    rows.sort(key=lambda r: (-(r["date"] or 0.0), -r["_value"]))
    return rows[:limit], n_train + len(events)


def _taste(view: ModelView, u: int) -> list[tuple[str, int]]:
    if u < 0:
        return []
    X = view.model.train_
    counts: dict[str, int] = {}
    for i in X.indices[X.indptr[u]:X.indptr[u + 1]]:
        for c in view.catalogue.category(int(i)):
            counts[c] = counts.get(c, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:6]


def customer_page(ctx: ConsoleContext, c: dict[str, Any], user_id: str,
                   show: list[str] | None) -> Any:
    """The customer page: history, the lists of the served and the shown comparison models
    with the evidence of each item (404 page for a customer nobody knows)."""
    cs = ctx.settings
    view = ctx.served()
    snap = view.snap
    model = snap.model
    u = int(model.users_.indices([user_id], missing="negative")[0])
    known = model.is_known_user(u)
    events = ctx.events.user_events(user_id, cs.history_limit)
    if not known and not events:
        return _missing(c, "customer", user_id, model.users_,
                        model.known_users(np.arange(model.n_users_)))
    labels = _chosen_labels(ctx, show)
    overlay_all = [(e.id, e.item_id, e.rating, e.event) for e in reversed(events)]
    lists = []
    for label in labels:
        v = view if label == "served" else ctx.view(label)
        assert v is not None
        overlay = _served_overlay(ctx, user_id, snap) if label == "served" else overlay_all
        lists.append(_recommend(ctx, v, user_id, overlay, cs.list_length))
    # items that appear on several of the shown lists
    seen: dict[Any, list[str]] = {}
    for lst in lists:
        for it in lst["items"]:
            seen.setdefault(it["id"], []).append(lst["label"])
    for lst in lists:
        for it in lst["items"]:
            it["also_in"] = [lb for lb in seen[it["id"]] if lb != lst["label"]]
    history, n_history = _history(ctx, view, user_id, u, events)
    c.update(
        user_id=user_id, known=known, lists=lists, labels=ctx.labels(), chosen=labels,
        history=history, n_history=n_history,
        n_train=int(model.user_count_[u]) if u >= 0 else 0,
        mean=float(model.user_mean_[u]) if known and model.rating_scale_ is not None else None,
        taste=_taste(view, u), dates_ready=ctx.base_ready,
        has_dates=ctx.base is not None and ctx.base.timestamps is not None,
        explicit=model.rating_scale_ is not None,
        scale=model.rating_scale_, item_choices=_item_choices(lists),
        n_events=len(events), compare_names={lb: other.model_name
                                             for lb, other in ctx.compare.items()},
    )
    return "customer.html", 200


def _item_choices(lists: list[dict[str, Any]]) -> list[tuple[Any, str]]:
    """Products offered by the record form's list: those on the page's lists."""
    out: dict[Any, str] = {}
    for lst in lists:
        for it in lst["items"]:
            out.setdefault(it["id"], it["title"] or "")
    return list(out.items())


def _missing(c: dict[str, Any], kind: str, given: str, vocab: Any, known: np.ndarray) -> Any:
    """The helpful 404 page: what was looked for, what exists (``known``: the model's mask of
    the ids it knows), close ids."""
    ids = vocab.ids
    text = given.strip().lower()
    close = []
    if text:
        for v in ids[: 200_000]:
            s = str(v)
            if s.lower().startswith(text[:3]) or text in s.lower():
                close.append(s)
                if len(close) == 8:
                    break
    warm = np.flatnonzero(known)
    examples = [str(vocab.id(int(i))) for i in warm[:6]]
    c.update(kind=kind, given=given, n_known=len(warm), close=close, examples=examples)
    return "missing.html", 404


def product_page(ctx: ConsoleContext, c: dict[str, Any], item_id: str) -> Any:
    """The product page: its text, similar products (by co-interaction, or, for a product
    nobody has bought yet, by the served text model's vectors) and by text, its likely buyers,
    who interacted with it (404 page for a product nobody knows). A product added to the
    service's catalogue after the model was trained (``/v1/items``, ``--items``) has a page
    too."""
    cs = ctx.settings
    view = ctx.served()
    snap = view.snap
    model = snap.model
    cat = view.catalogue
    i = cat.index(item_id)
    base = ctx.base
    products = ctx.service.products
    record = products.store.get(str(item_id))
    new = products.view(snap)
    in_base = base is not None and int(base.items.indices([item_id], missing="negative")[0]) >= 0
    if i < 0 and not in_base and record is None:
        return _missing(c, "product", item_id, model.items_,
                        model.known_items(np.arange(model.n_items_)))
    typed = model.items_.id(i) if i >= 0 else item_id
    title = cat.title(i)
    categories = cat.category(i)
    fields = base.text_fields(typed) if base is not None else []
    if base is not None and not title and base.info is not None and "title" in base.info:
        try:
            title = str(base.info.loc[typed, "title"]) or None
        except (KeyError, TypeError):
            title = None
    added = None
    if record is not None:
        title = title or record.title
        categories = categories or split_categories(record.category)
        fields = fields or ([("description", record.text)] if record.text else []) + [
            (k.replace("_", " "), str(v)) for k, v in record.fields.items() if v is not None]
        added = record.created_at
    known = model.is_known_item(i)
    n_inter = int(model.item_count_[i]) if known else 0
    mean = float(model.item_mean_[i]) if known and model.rating_scale_ is not None else None
    co, co_heading, co_note = _similar_products(view, str(item_id), new, cs.list_length)
    buyers, buyers_note = _likely_buyers(ctx, snap, str(item_id), new, cs.list_length)
    text_list, text_note = _text_neighbours(ctx, view, typed)
    scale = model.rating_scale_
    who, recent = _who_interacted(ctx, view, i, typed)
    c.update(item_id=typed, title=title, categories=categories, fields=fields,
             n_interactions=n_inter, mean=mean, scale=scale, co=co, co_note=co_note,
             co_heading=co_heading, buyers=buyers, buyers_note=buyers_note, added=added,
             is_new=new.position(str(item_id)) >= 0,
             text_list=text_list, text_note=text_note, who=who[:cs.history_limit],
             n_who=n_inter + len(recent), popularity_rank=_popularity_rank(snap, i))
    return "product.html", 200


def _text_neighbours(ctx: ConsoleContext, view: ModelView, typed: Any
                     ) -> tuple[list[dict[str, Any]], str | None]:
    """The product's nearest products by text (the console's text index), and a note."""
    cs, cat, base = ctx.settings, view.catalogue, ctx.base
    text_list: list[dict[str, Any]] = []
    if not ctx.text_ready:
        return text_list, "being computed (the text index is built when the server starts)"
    if ctx.text is None:
        return text_list, "not available: no item text, or no text encoder works on this server"
    for k, (jid, s) in enumerate(ctx.text.similar(typed, cs.list_length)):
        j = cat.index(jid)
        text_list.append({**item_entry(view, j, jid), "score": s, "rank": k + 1})
        if not text_list[-1]["title"] and base is not None:
            text_list[-1]["title"] = _base_title(base, jid)
    return text_list, (f"cosine of {encoder_name(ctx.text.encoder)} embeddings of each "
                       "product's title, category and description")


def _who_interacted(ctx: ConsoleContext, view: ModelView, i: int, typed: Any
                    ) -> tuple[list[dict[str, Any]], list[Any]]:
    """Who interacted with the product: the training column, then the recent events, newest
    first; and the recent events."""
    cs, base, snap = ctx.settings, ctx.base, view.snap
    model = snap.model
    scale = model.rating_scale_
    who: list[dict[str, Any]] = []
    if i >= 0:
        users, values = view.item_column(i)
        uids = list(model.users_.ids_of(users))
        dates = np.array([np.nan if d is None else d for d in base.item_dates(typed, uids)],
                         dtype=np.float64) if base is not None and uids \
            else np.full(len(uids), np.nan)
        for k in np.lexsort((-values, -np.nan_to_num(dates, nan=0.0)))[:cs.history_limit]:
            uid = uids[k]
            who.append({"user_id": uid.item() if isinstance(uid, np.generic) else uid,
                        "what": _value_text(float(values[k]), scale),
                        "date": None if np.isnan(dates[k]) else float(dates[k]),
                        "source": "training", "_v": float(values[k])})
    recent = ctx.events.item_events(str(typed), cs.history_limit)
    for e in recent:
        who.append({"user_id": e.user_id, "what": _event_text(e, scale), "date": e.timestamp,
                    "source": "event, new" if e.id > snap.events_upto else "event, in the model",
                    "_v": 0.0})
    who.sort(key=lambda r: (-(r["date"] or 0.0), -r["_v"]))
    return who, recent


def _similar_products(view: ModelView, item_id: str, new: Any, n: int
                      ) -> tuple[list[dict[str, Any]], str, str]:
    """Similar products by co-interaction, or, for a product nobody has bought yet, by the
    served text model's vectors: the entries, the list's heading and its note."""
    snap = view.snap
    model = snap.model
    co: list[dict[str, Any]] = []
    co_note = None
    co_heading = "Similar by co-interaction"
    try:
        res = engine.similar(snap, item_id, n, unknown="error", new=new)
        titles = engine.titles_of(snap, res.items, new)
        idx = model.items_.indices(res.items, missing="negative")
        co = [{**item_entry(view, int(j), jid), "score": s, "rank": k + 1}
              for k, (j, jid, s) in enumerate(zip(idx, res.items, res.similarities,
                                                   strict=True))]
        for entry, t in zip(co, titles, strict=True):
            entry["title"] = entry["title"] or t
        if res.source == "text":
            co_heading = "Similar by the served model's text vectors"
            co_note = (f"nobody has bought it yet: {res.basis} (what the served model ranks "
                       "new products by)")
        else:
            co_note = ("the model's own item similarity" if res.source == "model"
                       else "cosine of the items' co-interaction columns")
    except (UnknownIdError, SynerecError):
        co_note = "no interactions yet: nothing to compare by co-interaction"
        if new.position(item_id) >= 0 and new.note:
            co_note += f" ({new.note})"
    return co, co_heading, co_note or ""


def _likely_buyers(ctx: ConsoleContext, snap: Any, item_id: str, new: Any, n: int
                   ) -> tuple[list[dict[str, Any]], str]:
    """The product's likely buyers (:func:`synerec.service.engine.audience`) and its basis."""
    bought = ctx.service.events.item_users(item_id, snap.events_upto)
    try:
        res = engine.audience(snap, item_id, n, new, bought)
    except (UnknownIdError, SynerecError) as exc:
        note = "no basis to score customers for it"
        if new.position(item_id) >= 0 and new.note:
            note += f": {new.note}"
        elif isinstance(exc, UnknownIdError):
            note += ": the served model has neither interactions nor a text vector for it"
        return [], note
    rows = [{"user_id": u, "score": s, "reason": r, "rank": k + 1}
            for k, (u, s, r) in enumerate(zip(res.users, res.scores, res.reasons,
                                              strict=True))]
    note = f"{res.basis_detail}; customers who already have it left out ({res.excluded})"
    return rows, note


def _base_title(base: Any, item_id: Any) -> str | None:
    try:
        v = base.info.loc[item_id, "title"]
    except (KeyError, TypeError, AttributeError):
        return None
    return str(v) if v is not None and str(v).strip() else None


def encoder_name(kind: str) -> str:
    """A text encoder's name as shown."""
    return {"minilm": "MiniLM", "model2vec": "model2vec", "tfidf": "TF-IDF"}.get(kind, kind)


def _popularity_rank(snap: Any, i: int) -> int | None:
    if i < 0:
        return None
    pos = np.flatnonzero(snap.popular == i)
    return int(pos[0]) + 1 if len(pos) else None


def retrain_jobs(ctx: ConsoleContext, limit: int = 8) -> list[dict[str, Any]]:
    """The newest retrain job records (only the fields shown; errors without paths)."""
    folder = ctx.state_dir / "jobs"
    out = []
    if folder.is_dir():
        for f in folder.glob("*.json"):
            if not re.fullmatch(r"[0-9a-f]{32}\.json", f.name):
                continue
            try:
                job = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(job, dict):  # records of any version: only the fields shown
                out.append({k: job.get(k) for k in (
                    "created_at", "started_at", "finished_at", "model_version",
                    "target_version", "n_interactions")} | {
                    "status": str(job.get("status", "?")), "error": scrub(job.get("error"))})
    out.sort(key=lambda j: -(j["created_at"] or 0))
    return out[:limit]
