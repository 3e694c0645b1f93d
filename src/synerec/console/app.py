"""The console's routes: :func:`mount_console` adds them to the service's FastAPI app.

Pages are rendered on the server from Jinja2 templates (autoescaping on) and carry a
``Server-Timing: page;dur=<ms>`` header: the time the server spent building the page. Pages
never show a filesystem path or a key; an unexpected error is logged and answered with a short
page that says so, never a traceback.

Read policy: when the service has read keys (``read_keys`` / ``$SYNEREC_READ_KEYS``), a page
request needs an ``X-API-Key`` header holding a read or write key, like the JSON API. A browser
cannot send a header on a plain navigation, so without one the answer is a 401 page asking for
the key; the console's script keeps the key in the tab's ``sessionStorage`` and loads the pages
with the header from then on. Without read keys, the pages are open.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from synerec.console.charts import minute_bars
from synerec.console.context import ConsoleContext, ModelView
from synerec.console.explain import (
    Why,
    explain_model_list,
    explain_neighbor_list,
    popular_why,
)
from synerec.console.reports import ReportFinder
from synerec.console.settings import ConsoleSettings
from synerec.exceptions import ConfigError, SynerecError, UnknownIdError
from synerec.service import engine

__all__ = ["build_router", "console_extension", "mount_console"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"

#: Security headers of every console page (no inline script or style, nothing from elsewhere).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

_EVENT_WORDS = {"purchase": "bought", "cart": "added to cart", "view": "viewed"}
_PATHISH = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s/'\"]+){2,}/?")


def _segment(value: Any) -> str:
    """An id as one URL path segment."""
    return quote(str(value), safe="")


def _date(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts) or ts <= 0:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _ago(ts: float | None) -> str:
    if ts is None:
        return "–"
    s = max(0.0, time.time() - ts)
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    if s < 48 * 3600:
        return f"{s / 3600:.0f} h ago"
    return f"{s / 86400:.0f} days ago"


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    x = float(v)
    if not math.isfinite(x):
        return "–"
    return f"{x:.{digits}f}"


def scrub(text: str | None) -> str | None:
    """A message without filesystem paths (job errors are shown on the model page)."""
    if text is None:
        return None
    return _PATHISH.sub("<path>", text)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(seg=_segment, date=_date, ago=_ago, num=_num)
    return env


class _Locked(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Page = Callable[[Request, str, Callable[[dict[str, Any]], Any]], Response]


def build_router(ctx: ConsoleContext) -> APIRouter:
    """The console's pages (``/``, ``/customers/...``, ``/products/...``, ``/model``,
    ``/events``) over ``ctx``."""
    router = APIRouter(include_in_schema=False)
    respond = _responder(ctx, _environment())
    _overview_routes(router, ctx, respond)
    _customer_product_routes(router, ctx, respond)
    _model_event_routes(router, ctx, respond)
    return router


def _responder(ctx: ConsoleContext, env: Any) -> Page:
    """``respond(request, page, build)``: the read policy, the page's common context, the
    template rendered with ``Server-Timing``, and the 401 / 500 pages."""
    st = ctx.service

    def check_read(request: Request) -> None:
        keys = ctx.read_keys()
        if not keys:
            return
        given = request.headers.get("x-api-key")
        if given is None:
            raise _Locked("This service needs a key to read. Type your API key above.")
        ok = False
        raw = given.encode("utf-8", "surrogateescape")
        for k in keys:
            ok |= hmac.compare_digest(raw, k)
        if not ok:
            raise _Locked("The server refused this key for reading (invalid API key). "
                          "Type the key again.")

    def base_context(request: Request, page: str) -> dict[str, Any]:
        snap = st.store.current
        return {"page": page, "served_name": snap.model_name, "served_version": snap.version,
                "read_locked": bool(ctx.read_keys()), "writes_enabled": bool(st.api_keys),
                "compare_labels": list(ctx.compare)}

    def render(request: Request, name: str, context: dict[str, Any], status: int,
               start: float) -> HTMLResponse:
        html = env.get_template(name).render(**context)
        ms = (time.perf_counter() - start) * 1000
        headers = dict(PAGE_HEADERS)
        headers["Server-Timing"] = f"page;dur={ms:.1f}"
        return HTMLResponse(html, status_code=status, headers=headers)

    def respond(request: Request, page: str, build: Callable[[dict[str, Any]], Any]) -> Response:
        start = time.perf_counter()
        ctx_vars = base_context(request, page)
        try:
            check_read(request)
            out = build(ctx_vars)
            if isinstance(out, Response):
                return out
            name, status = out
            return render(request, name, ctx_vars, status, start)
        except _Locked as exc:
            ctx_vars.update(message=exc.message)
            return render(request, "locked.html", ctx_vars, 401, start)
        except Exception:
            log.exception("console page %s failed", request.url.path)
            ctx_vars.update(title="Something went wrong",
                            message="This page could not be built; the error is in the "
                                    "server's log.")
            return render(request, "error.html", ctx_vars, 500, start)

    return respond


def _overview_routes(router: APIRouter, ctx: ConsoleContext, respond: Page) -> None:
    """``/`` (the served model, busy and typical customers, popular products) and ``/find``."""
    st = ctx.service

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        def build(c: dict[str, Any]) -> Any:
            view = ctx.served()
            model = view.model
            counts = np.asarray(model.user_count_)
            busy = np.argsort(-counts, kind="stable")[:6]
            known = np.flatnonzero(model.known_users(np.arange(model.n_users_)))
            typical = known[np.argsort(counts[known], kind="stable")][len(known) // 2:][:4] \
                if len(known) else np.zeros(0, np.int64)
            users = [(model.users_.id(int(u)), int(counts[u]))
                     for u in list(busy) + [t for t in typical if t not in busy]]
            popular = [_item(view, int(i)) for i in view.snap.popular[:8]]
            c.update(summary=_model_summary(ctx, view), users=users, popular=popular,
                     n_events=st.events.count(), pending=_pending(ctx, view.snap),
                     compares=[_model_summary(ctx, ctx.view(lb)) for lb in ctx.compare])
            return "overview.html", 200
        return respond(request, "overview", build)

    @router.get("/find", response_class=HTMLResponse)
    def find(request: Request, id: str = "", kind: str = "customer") -> Response:
        target = "products" if kind == "product" else "customers"
        if id.strip():
            return RedirectResponse(f"/{target}/{_segment(id.strip())}", status_code=303)
        return RedirectResponse("/", status_code=303)


def _customer_product_routes(router: APIRouter, ctx: ConsoleContext, respond: Page) -> None:
    """``/customers/{id}`` and ``/products/{id}`` (and their search forms)."""

    @router.get("/customers", response_class=HTMLResponse)
    def find_customer(request: Request, id: str = "") -> Response:
        if id.strip():
            return RedirectResponse(f"/customers/{_segment(id.strip())}", status_code=303)
        return RedirectResponse("/", status_code=303)

    @router.get("/customers/{user_id:path}", response_class=HTMLResponse)
    def customer(request: Request, user_id: str,
                 show: Annotated[list[str] | None, Query()] = None) -> Response:
        def build(c: dict[str, Any]) -> Any:
            return _customer_page(ctx, c, user_id, show)
        return respond(request, "customer", build)

    @router.get("/products", response_class=HTMLResponse)
    def find_product(request: Request, id: str = "") -> Response:
        if id.strip():
            return RedirectResponse(f"/products/{_segment(id.strip())}", status_code=303)
        return RedirectResponse("/", status_code=303)

    @router.get("/products/{item_id:path}", response_class=HTMLResponse)
    def product(request: Request, item_id: str) -> Response:
        def build(c: dict[str, Any]) -> Any:
            return _product_page(ctx, c, item_id)
        return respond(request, "product", build)


def _model_event_routes(router: APIRouter, ctx: ConsoleContext, respond: Page) -> None:
    """``/model`` (the models, their figures, retraining) and ``/events``."""
    st = ctx.service
    reports = ReportFinder([*ctx.settings.reports, ctx.state_dir / "reports"])

    @router.get("/model", response_class=HTMLResponse)
    def model_page(request: Request) -> Response:
        def build(c: dict[str, Any]) -> Any:
            view = ctx.served()
            text = ctx.text
            c.update(summary=_model_summary(ctx, view),
                     compares=[_model_summary(ctx, ctx.view(lb)) for lb in ctx.compare],
                     reports=reports.reports(view.name), jobs=_jobs(ctx),
                     prepared=ctx.base_ready and ctx.text_ready,
                     base_name=ctx.base.name if ctx.base is not None else None,
                     has_dates=ctx.base is not None and ctx.base.timestamps is not None,
                     text_encoder=_encoder_name(text.encoder) if text is not None else None,
                     text_items=len(text.items) if text is not None else 0,
                     n_events=st.events.count(), pending=_pending(ctx, view.snap))
            return "model.html", 200
        return respond(request, "model", build)

    @router.get("/events", response_class=HTMLResponse)
    def events_page(request: Request) -> Response:
        def build(c: dict[str, Any]) -> Any:
            view = ctx.served()
            rows = ctx.events.latest(50)
            counts, truncated = ctx.events.per_minute(60)
            labels = [(datetime.fromtimestamp(t, UTC).strftime("%H:%M"), n) for t, n in counts]
            chart = minute_bars(labels, title="Events per minute, last 60 minutes (UTC)")
            c.update(events=[_event_row(ctx, view, e) for e in rows], chart=chart,
                     truncated=truncated, n_events=st.events.count(),
                     pending=_pending(ctx, view.snap), last_hour=sum(n for _, n in counts),
                     now=time.time())
            return "events.html", 200
        return respond(request, "events", build)


# -- page builders --------------------------------------------------------------------------
def _item(view: ModelView, i: int, item_id: Any = None) -> dict[str, Any]:
    cat = view.catalogue
    iid = view.model.items_.id(i) if i >= 0 else item_id
    return {"id": iid, "title": cat.title(i), "categories": cat.category(i)}


def _pending(ctx: ConsoleContext, snap: Any) -> int:
    """Events stored after the model's training data was taken."""
    return max(0, ctx.events.max_id() - int(snap.events_upto))  # ids have no gaps


def _model_summary(ctx: ConsoleContext, view: ModelView | None) -> dict[str, Any]:
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


def _event_row(ctx: ConsoleContext, view: ModelView, e: Any) -> dict[str, Any]:
    i = view.catalogue.index(e.item_id)
    return {"id": e.id, "user_id": e.user_id, "item": _item(view, i, e.item_id),
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
        rows.append({**_item(view, i, e.item_id), "what": _event_text(e, scale),
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
            rows.append({**_item(view, int(items[k])), "date": d, "source": "training",
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


def _customer_page(ctx: ConsoleContext, c: dict[str, Any], user_id: str,
                   show: list[str] | None) -> Any:
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


def _product_page(ctx: ConsoleContext, c: dict[str, Any], item_id: str) -> Any:
    cs = ctx.settings
    view = ctx.served()
    snap = view.snap
    model = snap.model
    cat = view.catalogue
    i = cat.index(item_id)
    base = ctx.base
    in_base = base is not None and int(base.items.indices([item_id], missing="negative")[0]) >= 0
    if i < 0 and not in_base:
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
    n_inter = int(model.item_count_[i]) if i >= 0 else 0
    mean = float(model.item_mean_[i]) if i >= 0 and n_inter and \
        model.rating_scale_ is not None else None
    co: list[dict[str, Any]] = []
    co_note = None
    if n_inter:
        try:
            res = engine.similar(snap, str(item_id), cs.list_length, unknown="error")
            idx = model.items_.indices(res.items, missing="negative")
            co = [{**_item(view, int(j)), "score": s, "rank": k + 1}
                  for k, (j, s) in enumerate(zip(idx, res.similarities, strict=True))]
            co_note = ("the model's own item similarity" if res.source == "model"
                       else "cosine of the items' co-interaction columns")
        except (UnknownIdError, SynerecError):
            co_note = "no interactions yet"
    else:
        co_note = "no interactions yet: nothing to compare by co-interaction"
    text_list: list[dict[str, Any]] = []
    text_note = None
    if not ctx.text_ready:
        text_note = "being computed (the text index is built when the server starts)"
    elif ctx.text is None:
        text_note = "not available: no item text, or no text encoder works on this server"
    else:
        for k, (jid, s) in enumerate(ctx.text.similar(typed, cs.list_length)):
            j = cat.index(jid)
            text_list.append({**_item(view, j, jid), "score": s, "rank": k + 1})
            if not text_list[-1]["title"] and base is not None:
                text_list[-1]["title"] = _base_title(base, jid)
        text_note = f"cosine of {_encoder_name(ctx.text.encoder)} embeddings of each " \
                    "product's title, category and description"
    # who interacted: the training column, then the recent events
    who: list[dict[str, Any]] = []
    scale = model.rating_scale_
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
    c.update(item_id=typed, title=title, categories=categories, fields=fields,
             n_interactions=n_inter, mean=mean, scale=scale, co=co, co_note=co_note,
             text_list=text_list, text_note=text_note, who=who[:cs.history_limit],
             n_who=n_inter + len(recent), popularity_rank=_popularity_rank(snap, i))
    return "product.html", 200


def _base_title(base: Any, item_id: Any) -> str | None:
    try:
        v = base.info.loc[item_id, "title"]
    except (KeyError, TypeError, AttributeError):
        return None
    return str(v) if v is not None and str(v).strip() else None


def _encoder_name(kind: str) -> str:
    return {"minilm": "MiniLM", "model2vec": "model2vec", "tfidf": "TF-IDF"}.get(kind, kind)


def _popularity_rank(snap: Any, i: int) -> int | None:
    if i < 0:
        return None
    pos = np.flatnonzero(snap.popular == i)
    return int(pos[0]) + 1 if len(pos) else None


def _jobs(ctx: ConsoleContext, limit: int = 8) -> list[dict[str, Any]]:
    import json

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


def mount_console(app: FastAPI, state: Any,
                  settings: ConsoleSettings | None = None) -> ConsoleContext:
    """Add the console to the service ``app`` (whose :class:`ServiceState` is ``state``).

    An extension of :func:`synerec.service.app.create_app`
    (``create_app(s, extensions=[console_extension(console_settings)])``, what ``synerec serve``
    does); ``settings``: the console's (default :class:`ConsoleSettings` ``()``).

    Loads the comparison models (a broken one fails here, before the server listens), starts
    the background preparation (base data, text index), serves the assets under ``/static``
    and the pages under ``/``. The context is ``app.state.console``.

    Raises
    ------
    ConfigError
        Jinja2 is missing (the ``serve`` extra).
    ModelFileError
        A comparison model directory is missing or corrupted.
    """
    try:
        import jinja2  # noqa: F401
    except ImportError:
        raise ConfigError("the console needs Jinja2 (the serve extra): "
                          "pip install 'synerec[serve]', or serve with --no-console") from None
    ctx = ConsoleContext(state, settings if settings is not None else ConsoleSettings())
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="console-static")
    app.include_router(build_router(ctx))
    app.state.console = ctx
    ctx.start_background()
    return ctx


def console_extension(settings: ConsoleSettings) -> Callable[[FastAPI, Any], ConsoleContext]:
    """The console as an extension of :func:`synerec.service.app.create_app`: mounts it with
    ``settings`` (:func:`mount_console`)."""

    def extend(app: FastAPI, state: Any) -> ConsoleContext:
        return mount_console(app, state, settings)

    return extend
