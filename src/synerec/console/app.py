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
from synerec.console.context import ConsoleContext
from synerec.console.experiments import add_experiment_routes, experiment_views
from synerec.console.pages import (
    customer_page,
    encoder_name,
    event_row,
    item_entry,
    model_summary,
    pending_events,
    product_page,
    retrain_jobs,
)
from synerec.console.placements import placement_routes
from synerec.console.reports import ReportFinder
from synerec.console.settings import ConsoleSettings
from synerec.exceptions import ConfigError

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
    placement_routes(router, ctx, respond)
    add_experiment_routes(router, ctx, respond)
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
            popular = [item_entry(view, int(i)) for i in view.snap.popular[:8]]
            c.update(summary=model_summary(ctx, view), users=users, popular=popular,
                     n_events=st.events.count(), pending=pending_events(ctx, view.snap),
                     compares=[model_summary(ctx, ctx.view(lb)) for lb in ctx.compare])
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
            return customer_page(ctx, c, user_id, show)
        return respond(request, "customer", build)

    @router.get("/products", response_class=HTMLResponse)
    def find_product(request: Request, id: str = "") -> Response:
        if id.strip():
            return RedirectResponse(f"/products/{_segment(id.strip())}", status_code=303)
        return RedirectResponse("/", status_code=303)

    @router.get("/products/{item_id:path}", response_class=HTMLResponse)
    def product(request: Request, item_id: str) -> Response:
        def build(c: dict[str, Any]) -> Any:
            return product_page(ctx, c, item_id)
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
            c.update(summary=model_summary(ctx, view),
                     compares=[model_summary(ctx, ctx.view(lb)) for lb in ctx.compare],
                     reports=reports.reports(view.name), jobs=retrain_jobs(ctx),
                     prepared=ctx.base_ready and ctx.text_ready,
                     base_name=ctx.base.name if ctx.base is not None else None,
                     has_dates=ctx.base is not None and ctx.base.timestamps is not None,
                     text_encoder=encoder_name(text.encoder) if text is not None else None,
                     text_items=len(text.items) if text is not None else 0,
                     n_events=st.events.count(), pending=pending_events(ctx, view.snap),
                     experiments=experiment_views(st))
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
            c.update(events=[event_row(ctx, view, e) for e in rows], chart=chart,
                     truncated=truncated, n_events=st.events.count(),
                     pending=pending_events(ctx, view.snap), last_hour=sum(n for _, n in counts),
                     now=time.time())
            return "events.html", 200
        return respond(request, "events", build)


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
