"""The FastAPI application factory: ``create_app(settings)``; no state at import time.

Everything the app uses (the model store, the event store, the metrics, the retrain manager,
the compute pool) is built by :func:`open_state` into one :class:`ServiceState`, reached by the
endpoints through closures and by anything else through ``app.state.service``; nothing lives
in module globals. The JSON API lives under ``/v1`` (:func:`~synerec.service.api.api_router`),
``/healthz`` and ``/metrics`` beside it. The service knows nothing of what else may be served
beside it: the caller of :func:`create_app` passes *extensions* (:data:`AppExtension`), each
called with the app and its state once the API is in place, that add their own routes
(``synerec serve`` mounts the web console, :mod:`synerec.console`, this way).

Processes
---------
``synerec serve --workers 1`` runs one process: it holds ``<state_dir>/serve.lock`` (a second
server on the same state directory refuses to start, with one line). With ``--workers N`` the
``synerec serve`` process holds the lock and supervises N uvicorn worker processes built by
:func:`app_from_env`; they share the socket, the memory-mapped model, the serving cache and the
SQLite event store, and die with the supervisor.

Nothing from a request is evaluated as code: ids are looked up in vocabularies, bodies are
parsed by pydantic, model files are read with ``allow_pickle=False`` after their checksums are
verified.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synerec._version import __version__
from synerec.exceptions import SynerecError, UnknownIdError
from synerec.service.api import ResponseCache, api_router, ops_router
from synerec.service.attribution import Attribution, ListRecorder
from synerec.service.catalogue import CatalogueStore, read_items_file
from synerec.service.compute import ComputePool
from synerec.service.events import EventStore, IdempotencyConflictError
from synerec.service.experiment_routes import experiments_router
from synerec.service.experiments import Experiments
from synerec.service.fast_path import FastRecommendations
from synerec.service.faults import ServiceFault, classify
from synerec.service.http import FAULT_COUNTER_KEY, RequestGuard
from synerec.service.locks import FileLock, die_with_parent
from synerec.service.metrics import Metrics
from synerec.service.model_store import ModelStore
from synerec.service.products import Products
from synerec.service.retrain import RetrainBusyError, RetrainManager
from synerec.service.rules_serving import PlacementStore, RulesServing
from synerec.service.schemas import ErrorResponse
from synerec.service.settings import ServiceSettings
from synerec.service.supervisor import (
    MASTER_PID_ENV,
    METRICS_DIR,
    NUMBA_THREADS_ENV,
    SETTINGS_ENV,
    acquire_server_lock,
    check_writable,
)
from synerec.similarity import numba_pool_size

__all__ = ["AppExtension", "ServiceState", "app_from_env", "create_app", "open_state",
           "set_numba_threads"]

log = logging.getLogger(__name__)

EVENTS_DB = "events.sqlite3"


@dataclass
class ServiceState:
    """Everything one app instance (one worker process) serves from (``app.state.service``)."""

    settings: ServiceSettings
    store: ModelStore
    events: EventStore
    retrain: RetrainManager
    metrics: Metrics
    compute: ComputePool
    responses: ResponseCache
    api_keys: list[bytes]
    read_keys: list[bytes]
    products: Products
    rules: RulesServing
    lists: ListRecorder
    attribution: Attribution
    experiments: Experiments
    server_lock: FileLock | None = None
    started_at: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event)
    _maintenance: threading.Thread | None = None

    def start_maintenance(self) -> None:
        """Start the background thread: model reloads, metrics, auto-retrain, expiry."""
        if self._maintenance is None:
            self._maintenance = threading.Thread(target=self._maintain, name="maintenance",
                                                 daemon=True)
            self._maintenance.start()

    def _maintain(self) -> None:
        interval = self.settings.reload_interval_s
        last_expiry = 0.0
        while not self._stop.wait(interval):
            for step in (self.store.refresh, self.metrics.publish, self.retrain.maybe_start_auto,
                         self.events.checkpoint, self.experiments.refresh):
                try:
                    step()
                except Exception:
                    log.exception("maintenance step %s failed", step.__name__)
            if time.time() - last_expiry >= 60:
                last_expiry = time.time()
                try:
                    self.events.prune_keys(time.time() - self.settings.idempotency_ttl_s)
                    self.retrain.prune_jobs()
                except Exception:
                    log.exception("expiry of idempotency keys and job records failed")

    def close(self) -> None:
        """Stop the maintenance thread and a running retrain, close the store, drop the lock."""
        self._stop.set()
        if self._maintenance is not None:
            self._maintenance.join(10)
        self.retrain.close()
        self.metrics.publish()
        self.lists.close()
        self.attribution.close()
        self.events.close()
        self.products.store.close()
        self.rules.close()
        if self.server_lock is not None:
            self.server_lock.release()


def open_state(settings: ServiceSettings, *, worker: bool = False,
               maintain: bool = True) -> ServiceState:
    """Open everything a server process serves from.

    Parameters
    ----------
    settings
        The service settings.
    worker
        ``True`` in a worker process of ``synerec serve --workers N`` (the supervisor holds the
        server lock); ``False`` for a single-process server, which takes the lock itself.
    maintain
        Start the maintenance thread (model reloads, metrics, automatic retraining, expiry);
        ``False`` for the supervisor's start-up check.

    Raises
    ------
    StateDirError
        The state directory is unwritable, or another server holds it (one line).
    ModelFileError
        The model directory (or the recorded retrained version) is missing or corrupted.
    """
    state_dir = settings.resolved_state_dir
    lock = None
    if worker:
        check_writable(state_dir)
    else:
        lock = acquire_server_lock(state_dir)
    events = None
    catalogue = None
    lists = None
    try:
        events = EventStore(state_dir / EVENTS_DB, max_db_bytes=settings.events_max_db_bytes)
        catalogue = CatalogueStore(state_dir / EVENTS_DB)
        store = ModelStore(state_dir, settings.model_dir, settings.similarity_neighbors,
                           precompute_n=settings.precompute_n,
                           precompute_max_users=settings.precompute_max_users, mmap=True,
                           shared_cache=True, explain_n=settings.explain_precompute_n,
                           explain_max_users=settings.explain_precompute_max_users)
        share = state_dir / METRICS_DIR if settings.workers > 1 else None
        if share is not None:
            share.mkdir(parents=True, exist_ok=True)
        metrics = Metrics(share)
        events.fold(store.current.events_upto)  # after a crash between a swap and its fold
        retrain = RetrainManager(settings, events, store, on_finish=metrics.count_job)
        products = Products(catalogue, settings.encoder_threads)
        lists = ListRecorder(state_dir / EVENTS_DB)
        experiments = Experiments(settings.experiments, state_dir / EVENTS_DB, store)
        if settings.items_file is not None:
            _apply_items_file(settings.items_file, catalogue, products, store)
        rules = RulesServing(settings.placements, PlacementStore(state_dir / EVENTS_DB),
                             catalogue, settings.max_rule_candidates, settings.base_rules)
    except BaseException:
        if lists is not None:
            lists.close()
        if catalogue is not None:
            catalogue.close()
        if events is not None:
            events.close()
        if lock is not None:
            lock.release()
        raise
    keys = settings.all_api_keys()
    if not keys:
        log.warning("no API keys configured (settings api_keys or $SYNEREC_API_KEYS): every "
                    "write request will be refused")
    st = ServiceState(settings, store, events, retrain, metrics,
                      ComputePool(settings.compute_threads, settings.compute_queue,
                                  settings.compute_queue_timeout_s),
                      ResponseCache(int(settings.response_cache_mb * 2**20)), keys,
                      settings.all_read_keys(), products, rules, lists,
                      Attribution(state_dir / EVENTS_DB, settings.attribution_window_s),
                      experiments, server_lock=lock)
    if maintain:
        st.start_maintenance()
        products.warm(store.current)
    return st


def _apply_items_file(path: Path, catalogue: CatalogueStore, products: Products,
                      store: ModelStore) -> None:
    """Add the ``--items`` file's rows new or changed since it was last applied (a later
    ``PATCH`` of a product stays until its row in the file changes)."""
    items = catalogue.new_file_rows(read_items_file(path))
    got = products.add(store.current, items)
    catalogue.mark_file_rows(items)
    log.info("items file %s: %d products new or changed in the file, %d stored "
             "(catalogue version %d)", path, got.accepted, got.changed, got.catalogue_version)


class _MetricsMiddleware:
    """Counts every request by method, route template and status, and times it (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope.get("method", "?"), label, status,
                                         time.perf_counter() - start)


class _FastPath(FastRecommendations):
    def __init__(self, app: ASGIApp, st: ServiceState, route: Any) -> None:
        super().__init__(app, st)
        self.route = route


def _error(status: int, kind: str, message: str, fields: list[str] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=kind, message=message, fields=fields).model_dump(
        exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_KINDS = {400: "bad_request", 401: "unauthorized", 404: "not_found",
               405: "method_not_allowed", 408: "timeout", 409: "conflict",
               413: "body_too_large", 415: "unsupported_media_type"}


def install_error_handlers(app: FastAPI, st: ServiceState) -> None:
    """Every error as ``{"error", "message", "fields"?}``; faults with status and Retry-After."""

    def fault_response(fault: ServiceFault) -> JSONResponse:
        st.metrics.count_fault(fault.kind)
        headers = None if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        return _error(fault.status, fault.kind, str(fault), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields: list[str] = []
        parts: list[str] = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err.get("loc", ())) or "request"
            msg = str(err.get("msg", "invalid"))
            if name not in fields:
                fields.append(name)
            if f"{name}: {msg}" not in parts:
                parts.append(f"{name}: {msg}")
        return _error(422, "validation_error", "; ".join(parts), fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, _HTTP_KINDS.get(exc.status_code, "http_error"),
                      str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(UnknownIdError)
    async def _unknown(request: Request, exc: UnknownIdError) -> JSONResponse:
        return _error(404, f"unknown_{exc.kind}", str(exc))

    @app.exception_handler(SynerecError)
    async def _synerec(request: Request, exc: SynerecError) -> JSONResponse:
        if isinstance(exc, ServiceFault):
            return fault_response(exc)
        if isinstance(exc, RetrainBusyError):
            return _error(409, "RetrainBusyError", str(exc))
        if isinstance(exc, IdempotencyConflictError):
            return _error(422, "idempotency_key_reused", str(exc), ["header.Idempotency-Key"])
        return _error(400, type(exc).__name__, str(exc))

    async def _storage(request: Request, exc: Exception) -> JSONResponse:
        fault = classify(exc, "the service's storage")
        if fault is None:
            log.exception("unhandled error in %s %s", request.method, request.url.path,
                          exc_info=exc)
            st.metrics.count_fault("internal_error")
            return _error(500, "internal_error", "internal error; it was logged on the server")
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return fault_response(fault)

    app.add_exception_handler(sqlite3.Error, _storage)
    app.add_exception_handler(OSError, _storage)


#: What adds routes beside the service's own (a web console): called once by
#: :func:`create_app` with the app and its :class:`ServiceState`, after the API's routes,
#: error handlers and middleware are in place; it may raise to stop the server from starting.
AppExtension = Callable[[FastAPI, ServiceState], object]


def create_app(settings: ServiceSettings, *, state: ServiceState | None = None,
               worker: bool = False, extensions: Sequence[AppExtension] = ()) -> FastAPI:
    """Build the recommendation service.

    Parameters
    ----------
    settings
        Model directory, state folder, API keys, limits (see :class:`ServiceSettings`).
    state
        An already opened :class:`ServiceState` (default: :func:`open_state` of ``settings``,
        run here so that a broken model fails before the server starts listening).
    worker
        Build a worker of a multi-process server (see :func:`open_state`).
    extensions
        Called in order with the app and its state once the service is built
        (:data:`AppExtension`; ``synerec serve`` passes the web console's).

    Returns
    -------
    fastapi.FastAPI
        The app; run it with uvicorn (``synerec serve``). Its lifespan closes the state.
    """
    st = open_state(settings, worker=worker) if state is None else state
    app = _service_app(settings, st)
    try:
        for extend in extensions:
            extend(app, st)
    except BaseException:
        if state is None:  # opened here: nobody else would close it
            st.close()
        raise
    return app


def _service_app(settings: ServiceSettings, st: ServiceState) -> FastAPI:
    """The FastAPI app of the service over an opened state: routes, errors, middleware."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # What is loaded now lives as long as the server: keep it out of the collector's
        # scans, so that a collection does not pause every request for the whole heap.
        gc.collect()
        gc.freeze()
        yield {FAULT_COUNTER_KEY: st.metrics.count_fault}  # for the HTTP protocol's timeouts
        st.close()

    app = FastAPI(
        title="synerec recommendation service",
        version=__version__,
        description="Recommendations per user, similar items, rating predictions with a "
                    "decision, and live event ingestion. Write endpoints need an `X-API-Key`; "
                    "read endpoints too when the server has read keys. Errors are "
                    "`{error, message, fields?}`; overload and storage faults are 503/507 "
                    "with `Retry-After`.",
        lifespan=lifespan,
    )
    app.state.service = st
    install_error_handlers(app, st)
    api = api_router(st)
    app.include_router(api)
    app.include_router(ops_router(st))
    app.include_router(experiments_router(st))
    rec_route = next(r for r in api.routes
                     if getattr(r, "path", None) == "/v1/users/{user_id}/recommendations")
    app.add_middleware(_FastPath, st=st, route=rec_route)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.body_timeout_s,
                       count_fault=st.metrics.count_fault)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Content-Type", "Idempotency-Key"])
    app.add_middleware(_MetricsMiddleware, metrics=st.metrics)
    return app


def set_numba_threads(threads: int) -> int:
    """numba threads per request in this process: ``threads``, at most numba's pool size
    (``NUMBA_NUM_THREADS``); returns the number set."""
    import numba

    wanted = min(int(threads), numba_pool_size())
    numba.set_num_threads(wanted)
    return wanted


def app_from_env(extensions: Sequence[AppExtension] = ()) -> FastAPI:
    """The app of one worker process of ``synerec serve --workers N``.

    Reads the settings from ``$SYNEREC_SERVICE_SETTINGS_JSON`` and ends this process when the
    supervisor (``$SYNEREC_SERVICE_MASTER_PID``) ends, however it ends. ``extensions``: as in
    :func:`create_app` (the uvicorn factory of ``synerec serve``,
    :func:`synerec.cli.serve_commands.worker_app`, passes the console's).
    """
    master = int(os.environ[MASTER_PID_ENV])
    die_with_parent(master)
    threads = os.environ.get(NUMBA_THREADS_ENV)
    if threads:
        set_numba_threads(int(threads))
    settings = ServiceSettings.model_validate(json.loads(os.environ[SETTINGS_ENV]))
    return create_app(settings, worker=True, extensions=extensions)
