"""The FastAPI application factory: ``create_app(settings)``; no state at import time.

Everything the app uses (the model store, the event store, the metrics, the retrain manager)
is built by :func:`create_app` and reached through the closures of the endpoint functions and
``app.state.service``; nothing lives in module globals. Nothing from a request is evaluated as
code: ids are looked up in vocabularies, bodies are parsed by pydantic, model files are read
with ``allow_pickle=False`` after their checksum is verified.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations, which
# refer to types defined inside create_app.
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synerec._version import __version__
from synerec.exceptions import SynerecError, UnknownIdError
from synerec.service import engine
from synerec.service.events import EventRecord, EventStore
from synerec.service.metrics import CONTENT_TYPE, Metrics
from synerec.service.model_store import EventOverlay, ModelStore
from synerec.service.retrain import RetrainBusyError, RetrainManager
from synerec.service.schemas import (
    MAX_ID_LENGTH,
    ErrorResponse,
    EventsRequest,
    EventsResponse,
    HealthResponse,
    PredictRequest,
    PredictResponse,
    RecommendationsResponse,
    RecommendedItem,
    RetrainJobResponse,
    SimilarItem,
    SimilarItemsResponse,
)
from synerec.service.settings import ServiceSettings

__all__ = ["ServiceState", "create_app", "open_state"]

log = logging.getLogger(__name__)

EVENTS_DB = "events.sqlite3"


@dataclass
class ServiceState:
    """Everything one app instance serves from (``app.state.service``)."""

    settings: ServiceSettings
    store: ModelStore
    events: EventStore
    overlay: EventOverlay
    retrain: RetrainManager
    metrics: Metrics
    api_keys: list[bytes]
    started_at: float = field(default_factory=time.time)

    def close(self) -> None:
        """Stop a running retrain and close the event store."""
        self.retrain.close()
        self.events.close()


def open_state(settings: ServiceSettings) -> ServiceState:
    """Load the served model, open the event store and replay the events newer than the model.

    Raises
    ------
    ModelFileError
        The model directory (or the recorded retrained version) is missing or corrupted.
    """
    state_dir = settings.resolved_state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    store = ModelStore(state_dir, settings.model_dir, settings.similarity_neighbors,
                       precompute_n=settings.precompute_n,
                       precompute_max_users=settings.precompute_max_users)
    events = EventStore(state_dir / EVENTS_DB)
    overlay = EventOverlay()
    overlay.load(events.events(after_id=store.current.events_upto))
    metrics = Metrics()
    retrain = RetrainManager(settings, events, store, overlay, on_finish=metrics.count_job)
    keys = settings.all_api_keys()
    if not keys:
        log.warning("no API keys configured (settings api_keys or $SYNEREC_API_KEYS): every "
                    "write request will be refused")
    return ServiceState(settings, store, events, overlay, retrain, metrics, keys)


class _MetricsMiddleware:
    """Counts every request by route template and status, and times it (pure ASGI)."""

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


def _error(status: int, kind: str, message: str, fields: list[str] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=kind, message=message, fields=fields).model_dump(
        exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
    404: {"model": ErrorResponse, "description": "An id the model does not know "
                                                 "(`unknown_user`, `unknown_item`); "
                                                 "`unknown=fallback` asks for the fallback."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid request; `fields` names them."},
}


def create_app(settings: ServiceSettings, *, state: ServiceState | None = None) -> FastAPI:
    """Build the recommendation service.

    Parameters
    ----------
    settings
        Model directory, state folder, API keys, limits (see :class:`ServiceSettings`).
    state
        An already opened :class:`ServiceState` (default: :func:`open_state` of ``settings``,
        run here so that a broken model fails before the server starts listening).

    Returns
    -------
    fastapi.FastAPI
        The app; run it with uvicorn (``synerec serve``). Its lifespan closes the state.
    """
    st = open_state(settings) if state is None else state

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        st.close()

    app = FastAPI(
        title="synerec recommendation service",
        version=__version__,
        description="Recommendations per user, similar items, rating predictions with a "
                    "decision, and live event ingestion. Write endpoints need an `X-API-Key`.",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
    )
    app.state.service = st
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["X-API-Key",
                                                                         "Content-Type"])
    app.add_middleware(_MetricsMiddleware, metrics=st.metrics)

    # -- errors -------------------------------------------------------------------------------
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
        kinds = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 409: "conflict", 413: "body_too_large"}
        return _error(exc.status_code, kinds.get(exc.status_code, "http_error"),
                      str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(UnknownIdError)
    async def _unknown(request: Request, exc: UnknownIdError) -> JSONResponse:
        return _error(404, f"unknown_{exc.kind}", str(exc))

    @app.exception_handler(SynerecError)
    async def _synerec(request: Request, exc: SynerecError) -> JSONResponse:
        status = 409 if isinstance(exc, RetrainBusyError) else 400
        return _error(status, type(exc).__name__, str(exc))

    # -- security -----------------------------------------------------------------------------
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                                  description="One of the keys in $SYNEREC_API_KEYS or the "
                                              "settings file.")

    def require_key(key: Annotated[str | None, Depends(api_key_header)]) -> None:
        if not st.api_keys:
            raise StarletteHTTPException(401, "no API key is configured on this server; "
                                              "write endpoints are disabled")
        if key is None:
            raise StarletteHTTPException(401, "missing X-API-Key header")
        given = key.encode("utf-8", "surrogateescape")
        ok = False
        for k in st.api_keys:  # compare with every key, in constant time each
            ok |= hmac.compare_digest(given, k)
        if not ok:
            raise StarletteHTTPException(401, "invalid API key")

    def check_ratings(body: EventsRequest) -> None:
        if len(body.events) > settings.max_events_per_batch:
            raise RequestValidationError([{
                "loc": ("body", "events"), "type": "too_long",
                "msg": f"at most {settings.max_events_per_batch} events per batch"}])
        scale = st.store.current.model.rating_scale_
        errors = []
        for k, e in enumerate(body.events):
            if e.rating is None:
                continue
            if scale is not None and not scale[0] <= e.rating <= scale[1]:
                errors.append({"loc": ("body", "events", k, "rating"), "type": "out_of_range",
                               "msg": f"rating {e.rating:g} is outside the rating scale "
                                      f"{scale[0]:g}..{scale[1]:g}"})
            elif scale is None and e.rating < 0:
                errors.append({"loc": ("body", "events", k, "rating"), "type": "out_of_range",
                               "msg": "an implicit rating (weight) must be >= 0"})
        if errors:
            raise RequestValidationError(errors)

    UserId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH,
                                 description="External user id.")]
    ItemIdP = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH,
                                  description="External item id.")]
    N = Annotated[int, Query(ge=1, le=settings.max_n, description="List length.")]
    Unknown = Annotated[Literal["error", "fallback"], Query(
        description="An id the model does not know: `error` (404, the default: synerec's one "
                    "policy, docs/your-data.md) or `fallback` (the most popular items, "
                    "flagged in `fallback`).")]

    # -- read endpoints -----------------------------------------------------------------------
    @app.get("/v1/users/{user_id}/recommendations", response_model=RecommendationsResponse,
             responses={404: _ERRORS[404], 422: _ERRORS[422]}, tags=["recommendations"])
    async def recommendations(user_id: UserId, n: N = 10, exclude_seen: bool = True,
                              explain: bool = False,
                              unknown: Unknown = "error") -> RecommendationsResponse:
        """Top-``n`` items for a user. A user known only by events gets lists from them; a
        user the service knows nothing about is a 404 unless ``unknown=fallback`` (then the
        popular items, ``fallback`` set)."""
        snap = st.store.current
        overlay = st.overlay.for_user(user_id, snap.events_upto)
        res = engine.recommend(snap, user_id, overlay, n, exclude_seen=exclude_seen,
                               explain=explain, event_weights=settings.event_weights,
                               unknown=unknown)
        reasons = res.reasons or [None] * len(res.items)
        titles = engine.titles_of(snap, res.items)
        return RecommendationsResponse(
            user_id=user_id, model_version=snap.version, strategy=res.strategy,  # type: ignore
            fallback=res.fallback, new_events=res.n_new_events,  # type: ignore[arg-type]
            filled_from_popular=res.filled_from_popular,
            items=[RecommendedItem(rank=k + 1, item_id=i, score=s, title=t, reason=r)
                   for k, (i, s, t, r) in enumerate(zip(res.items, res.scores, titles,
                                                        reasons, strict=True))])

    @app.get("/v1/items/{item_id}/similar", response_model=SimilarItemsResponse,
             responses={404: _ERRORS[404], 422: _ERRORS[422]}, tags=["recommendations"])
    async def similar_items(item_id: ItemIdP, n: N = 10,
                            unknown: Unknown = "error") -> SimilarItemsResponse:
        """The ``n`` items most similar to an item; an unknown item is a 404 unless
        ``unknown=fallback`` (then popular items)."""
        snap = st.store.current
        res = engine.similar(snap, item_id, n, unknown=unknown)
        return SimilarItemsResponse(
            item_id=item_id, model_version=snap.version, fallback=res.fallback,  # type: ignore
            source=res.source,  # type: ignore[arg-type]
            items=[SimilarItem(rank=k + 1, item_id=i, similarity=s, title=t)
                   for k, (i, s, t) in enumerate(zip(res.items, res.similarities,
                                                     engine.titles_of(snap, res.items),
                                                     strict=True))])

    @app.post("/v1/predict", response_model=PredictResponse,
              responses={404: _ERRORS[404], 422: _ERRORS[422]}, tags=["recommendations"])
    async def predict(body: PredictRequest) -> PredictResponse:
        """Predicted rating of a (user, item) pair, whether to recommend it, and why; an id the
        model does not know is a 404 unless the body says ``"unknown": "fallback"``."""
        snap = st.store.current
        uid, iid = str(body.user_id), str(body.item_id)
        d = engine.predict(snap, uid, iid, st.overlay.for_user(uid, snap.events_upto),
                           unknown=body.unknown)
        p = d.prediction
        return PredictResponse(
            user_id=body.user_id, item_id=body.item_id, model_version=snap.version,
            prediction=p.value, raw_prediction=p.raw_value, recommend=d.recommend,
            reason=d.reason, threshold=d.threshold, n_neighbors=p.n_neighbors,
            fallback=p.fallback, fallback_to=p.fallback_to)

    # -- write endpoints ----------------------------------------------------------------------
    @app.post("/v1/events", response_model=EventsResponse, status_code=200,
              dependencies=[Depends(require_key)], responses=_ERRORS, tags=["events"])
    def post_events(body: EventsRequest) -> EventsResponse:
        """Store a batch of events durably (all or nothing); served at once, without refit."""
        check_ratings(body)
        records = [EventRecord(str(e.user_id), str(e.item_id), e.rating, e.event, e.timestamp)
                   for e in body.events]
        first, last = st.events.add(records)
        st.overlay.add(first, records)
        return EventsResponse(accepted=len(records), first_event_id=first, last_event_id=last,
                              events_stored=st.events.count())

    @app.post("/v1/models/retrain", response_model=RetrainJobResponse, status_code=202,
              dependencies=[Depends(require_key)],
              responses={**_ERRORS, 409: {"model": ErrorResponse,
                                          "description": "A retrain is already running."}},
              tags=["models"])
    def start_retrain() -> RetrainJobResponse:
        """Refit on the base data plus the stored events in the background, then swap."""
        return RetrainJobResponse(**_job_fields(asdict(st.retrain.start())))

    @app.get("/v1/models/retrain/{job_id}", response_model=RetrainJobResponse,
             responses={404: {"model": ErrorResponse, "description": "Unknown job."},
                        422: _ERRORS[422]}, tags=["models"])
    def retrain_status(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
                       ) -> RetrainJobResponse:
        """The state of a retrain job."""
        job = st.retrain.get(job_id)
        if job is None:
            raise StarletteHTTPException(404, f"no retrain job {job_id}")
        return RetrainJobResponse(**_job_fields(asdict(job)))

    # -- operations ---------------------------------------------------------------------------
    @app.get("/healthz", response_model=HealthResponse, tags=["operations"])
    async def healthz() -> HealthResponse:
        """Liveness, the served model version and the event counts."""
        snap = st.store.current
        return HealthResponse(status="ok", model_version=snap.version, model=snap.model_name,
                              model_path=str(snap.path), events_stored=st.events.count(),
                              events_pending=st.overlay.n_events,
                              uptime_s=time.time() - st.started_at)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
    async def metrics() -> PlainTextResponse:
        """Prometheus text: request counts and latencies, events stored, model version."""
        snap = st.store.current
        text = st.metrics.render({
            "synerec_events_stored": ("Events in the event store.", st.events.count()),
            "synerec_events_pending": ("Events newer than the served model.",
                                       st.overlay.n_events),
            "synerec_model_version": ("Version of the served model.", snap.version),
            "synerec_model_loaded_timestamp_seconds": ("When the served model was loaded.",
                                                       snap.loaded_at),
        })
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    if settings.console.enabled:  # the web console under / (synerec.console)
        from synerec.console import mount_console

        mount_console(app, st)
    return app


def _job_fields(job: dict[str, Any]) -> dict[str, Any]:
    job.pop("worker_pid", None)
    return job
