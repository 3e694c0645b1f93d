"""The HTTP endpoints: the JSON API under ``/v1`` and the operations endpoints.

:func:`api_router` and :func:`ops_router` build :class:`fastapi.APIRouter` objects over one
:class:`~synerec.service.app.ServiceState`; :func:`~synerec.service.app.create_app` includes
them. Other routers (a web console under ``/``) can be included next to them and reach the
same state through ``request.app.state.service``.

Where the work runs
-------------------
The event loop only does what is cheap and bounded: parsing, a user's newest events (one index
range scan of SQLite, at most ``max_overlay_events`` rows), slicing precomputed lists, and
writing JSON. Scoring from events, explanations, predictions and similar items run on the
:class:`~synerec.service.compute.ComputePool` (503 + ``Retry-After`` when it is saturated);
event batches and retrains, which wait on the disk, run on the thread pool of the framework.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations.
import hashlib
import hmac
import json
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import AfterValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from synerec.service import engine
from synerec.service import ruled as rule_lists
from synerec.service.catalogue import CatalogueItem
from synerec.service.events import EventRecord
from synerec.service.metrics import CONTENT_TYPE
from synerec.service.rules_api import PlacementQ, RulesQ, list_rules, rules_routes
from synerec.service.schemas import (
    MAX_ID_LENGTH,
    AudienceResponse,
    CatalogueItemResponse,
    ErrorResponse,
    EventsRequest,
    EventsResponse,
    HealthResponse,
    ItemIn,
    ItemsRequest,
    ItemsResponse,
    PredictRequest,
    PredictResponse,
    RecommendationsResponse,
    RetrainJobResponse,
    SimilarItemsResponse,
    check_id_text,
)

if TYPE_CHECKING:
    from synerec.service.app import ServiceState

__all__ = ["ResponseCache", "api_router", "encode_recommendations",
           "ops_router", "read_overlay", "rec_key"]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
    404: {"model": ErrorResponse, "description": "An id the model does not know "
                                                 "(`unknown_user`, `unknown_item`); "
                                                 "`unknown=fallback` asks for the fallback."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid request; `fields` names them."},
    503: {"model": ErrorResponse, "description": "Overloaded or storage unavailable; see "
                                                 "`Retry-After`."},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in ERRORS.items() if k != 404},
    507: {"model": ErrorResponse, "description": "No storage space left; nothing was "
                                                           "stored. See `Retry-After`."}}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    """A JSON response written without a second validation (the body is built typed)."""
    return Response(json_bytes(body), status_code=status, media_type="application/json",
                    headers=headers)


def json_bytes(body: Any) -> bytes:
    """``body`` as compact JSON (no NaN)."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None


class ResponseCache:
    """Encoded recommendation responses, least recently used dropped, bounded in bytes.

    The key holds the model version, the parameters and the user's newest pending event id
    (and their number), so an entry is never stale: a new model or a new event of that user
    makes a new key. Explained lists (costly) and lists scored from pending events are served
    from here when asked again.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self._d: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            got = self._d.get(key)
            if got is not None:
                self._d.move_to_end(key)
            return got

    def put(self, key: tuple[Any, ...], value: bytes) -> None:
        if len(value) > self.max_bytes // 8:
            return  # never let one entry push out an eighth of the cache
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._d[key] = value
            self.bytes += len(value)
            while self.bytes > self.max_bytes and self._d:
                _, dropped = self._d.popitem(last=False)
                self.bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._d)


def rec_key(snap: Any, user_id: str, n: int, exclude_seen: bool, explain: bool,
            newest: int, unknown: str = "error", catalogue: int = 0,
            rules: str = "") -> tuple[Any, ...]:
    """The :class:`ResponseCache` key of a recommendation request.

    ``newest`` is the id of the user's newest event not in the served model (0: none): with the
    model version it fixes the overlay (events are only appended), so the key is found with one
    index lookup, without reading the user's pending events. ``catalogue`` is the catalogue's
    version: a product added makes a new key. ``rules``: the request's rules and placement
    (:attr:`~synerec.service.rules_serving.ListRules.key`).
    """
    return (snap.version, user_id, n, exclude_seen, explain, unknown, int(newest),
            int(catalogue), rules)


def read_overlay(st: "ServiceState", user_id: str, snap: Any, newest: int) -> list[Any]:
    """The user's pending events up to ``newest`` (the newest ``max_overlay_events``)."""
    if not newest:
        return []
    overlay = st.events.user_events(user_id, snap.events_upto, st.settings.max_overlay_events)
    return [e for e in overlay if e[0] <= newest]


def encode_recommendations(user_id: str, snap: Any, res: engine.RecResult,
                           new: Any = None) -> bytes:
    """The JSON body of a recommendation list (:class:`RecommendationsResponse`)."""
    reasons: list[str | None] = list(res.reasons) if res.reasons else [None] * len(res.items)
    titles = engine.titles_of(snap, res.items, new)
    return json.dumps({
        "user_id": user_id, "model_version": snap.version, "strategy": res.strategy,
        "fallback": res.fallback, "new_events": res.n_new_events,
        "filled_from_popular": res.filled_from_popular,
        "items": [{"rank": k + 1, "item_id": i, "score": _finite(s), "title": t, "reason": r}
                  for k, (i, s, t, r) in enumerate(zip(res.items, res.scores, titles, reasons,
                                                       strict=True))],
        "new_products": res.new_products, **({"rules": res.rules} if res.rules else {})},
        separators=(",", ":"), allow_nan=False).encode()


def _key_matches(given: str | None, keys: list[bytes]) -> bool:
    if given is None:
        return False
    raw = given.encode("utf-8", "surrogateescape")
    ok = False
    for k in keys:  # compare with every key, in constant time each
        ok |= hmac.compare_digest(raw, k)
    return ok


UserId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH,
                             description="External user id (no control, bidi or "
                                         "invisible characters)."),
                   AfterValidator(check_id_text)]
ItemIdP = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH,
                              description="External item id (no control, bidi or "
                                          "invisible characters)."),
                    AfterValidator(check_id_text)]
Unknown = Annotated[Literal["error", "fallback"], Query(
    description="An id the model does not know: `error` (404, the default: synerec's one "
                "policy, docs/your-data.md) or `fallback` (the most popular items, "
                "flagged in `fallback`).")]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Makes a retried batch safe: the same key with the same batch returns the "
                "first acknowledgement and stores nothing again (keys are remembered for "
                "`idempotency_ttl_s`); the same key with another batch is 422.")]


@dataclass(frozen=True)
class _Access:
    """The key checks of the endpoints: dependencies of the write and of the read endpoints,
    and the errors the read endpoints document (401 only when read keys are configured)."""

    write: list[Any]
    read: list[Any]
    read_errors: dict[int | str, dict[str, Any]]


def _access(st: "ServiceState") -> _Access:
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                                  description="A write key ($SYNEREC_API_KEYS or the settings "
                                              "file); when read keys are configured, read "
                                              "endpoints accept a read or a write key.")

    def require_key(key: Annotated[str | None, Depends(api_key_header)]) -> None:
        if not st.api_keys:
            raise StarletteHTTPException(401, "no API key is configured on this server; "
                                              "write endpoints are disabled")
        if key is None:
            raise StarletteHTTPException(401, "missing X-API-Key header")
        if not _key_matches(key, st.api_keys):
            raise StarletteHTTPException(401, "invalid API key")

    def require_read_key(key: Annotated[str | None, Depends(api_key_header)]) -> None:
        if key is None:
            raise StarletteHTTPException(401, "missing X-API-Key header (this server "
                                              "protects its read endpoints)")
        if not _key_matches(key, st.read_keys + st.api_keys):
            raise StarletteHTTPException(401, "invalid API key")

    return _Access(write=[Depends(require_key)],
                   read=[Depends(require_read_key)] if st.read_keys else [],
                   read_errors=ERRORS if st.read_keys else
                   {k: v for k, v in ERRORS.items() if k != 401})


def _check_events(st: "ServiceState", body: EventsRequest) -> None:
    """A batch within ``max_events_per_batch``, ratings on the served model's scale (422)."""
    limit = st.settings.max_events_per_batch
    if len(body.events) > limit:
        raise RequestValidationError([{
            "loc": ("body", "events"), "type": "too_long",
            "msg": f"at most {limit} events per batch"}])
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


def api_router(st: "ServiceState") -> APIRouter:
    """The ``/v1`` endpoints over ``st``."""
    router = APIRouter()
    access = _access(st)
    _read_routes(router, st, access)
    _predict_route(router, st, access)
    _catalogue_routes(router, st, access)
    _write_routes(router, st, access)
    rules_routes(router, st, access)
    return router


def _read_routes(router: APIRouter, st: "ServiceState", access: _Access) -> None:
    """Recommendations and similar items."""
    settings = st.settings
    N = Annotated[int, Query(ge=1, le=settings.max_n, description="List length.")]

    @router.get("/v1/users/{user_id}/recommendations", response_model=RecommendationsResponse,
                responses=access.read_errors, tags=["recommendations"],
                dependencies=access.read)
    async def recommendations(user_id: UserId, n: N = 10, exclude_seen: bool = True,
                              explain: bool = False, unknown: Unknown = "error",
                              placement: PlacementQ = None, rules: RulesQ = None) -> Response:
        """Top-``n`` items for a user. A user known only by events gets lists from them; a
        user the service knows nothing about is a 404 unless ``unknown=fallback`` (then the
        popular items, ``fallback`` set).

        ``explain=true`` adds a ``reason`` per item. Answers are cached per model version and
        per newest event of the user (see ``docs/service.md``). ``placement``, ``rules``:
        business rules (docs/service.md, "Rules and placements"); the placement is recorded
        with the list. An active experiment that holds the user picks the model
        (``experiment``, ``variant``); every list has a ``rec_id`` for attribution.
        """
        arm = st.experiments.pick(user_id, placement)
        snap = st.store.current if arm is None else arm.snapshot
        newest = st.events.newest_pending_id(user_id, snap.events_upto)
        # the catalogue's view is built for the served model only
        catalogue_version = st.products.version()
        version = catalogue_version if snap is st.store.current else 0
        ruled = list_rules(st, snap, catalogue_version, placement, rules, user_id,
                           None if arm is None else arm.rules)
        key = rec_key(snap, user_id, n, exclude_seen, explain, newest, unknown, version,
                      ruled.key if ruled else "")
        if arm is not None:
            key += (arm.experiment, arm.variant)
        body = st.responses.get(key)
        if body is None:
            overlay = read_overlay(st, user_id, snap, newest)
            view = st.products.cached_view(snap, version) if version else None

            def answer() -> tuple[engine.RecResult, Any]:
                new = st.products.view(snap, version) if version else None
                return rule_lists.recommend(
                    snap, user_id, overlay, n, exclude_seen=exclude_seen, explain=explain,
                    event_weights=settings.event_weights, unknown=unknown, new=new,
                    rules=ruled), new

            if ruled is None and (not version or view is not None) and engine.is_cheap(
                    snap, user_id, overlay, n, exclude_seen=exclude_seen, explain=explain,
                    new=view):
                res, new = answer()
            else:
                res, new = await st.compute.run(answer)
            body = encode_recommendations(user_id, snap, res, new)
            st.responses.put(key, body)
        body = await st.lists.serve(
            body, kind="recommendations", snap=snap, user_id=user_id, placement=placement,
            experiment=None if arm is None else arm.experiment,
            variant=None if arm is None else arm.variant)
        return Response(body, media_type="application/json")

    @router.get("/v1/items/{item_id}/similar", response_model=SimilarItemsResponse,
                responses=access.read_errors, tags=["recommendations"],
                dependencies=access.read)
    async def similar_items(item_id: ItemIdP, n: N = 10, unknown: Unknown = "error",
                            placement: PlacementQ = None, rules: RulesQ = None) -> Response:
        """The ``n`` items most similar to an item; an item nobody has bought yet (a product
        added to the catalogue, or a catalogue item without interactions) by the cosine of
        the served text model's item vectors (``source`` ``text``, ``basis`` naming them); an
        unknown item is a 404 unless ``unknown=fallback`` (then popular items)."""
        snap = st.store.current
        ruled = list_rules(st, snap, st.products.version(), placement, rules)

        def answer() -> tuple[engine.SimilarResult, list[str | None]]:
            new = st.products.view(snap)
            res = rule_lists.similar(snap, item_id, n, unknown, new, rules=ruled)
            return res, engine.titles_of(snap, res.items, new)

        res, titles = await st.compute.run(answer)
        body = json_bytes({
            "item_id": item_id, "model_version": snap.version, "fallback": res.fallback,
            "source": res.source, "basis": res.basis,
            "items": [{"rank": k + 1, "item_id": i, "similarity": _finite(s), "title": t}
                      for k, (i, s, t) in enumerate(zip(res.items, res.similarities, titles,
                                                        strict=True))],
            **({"rules": res.rules} if res.rules else {})})
        return Response(await st.lists.serve(body, kind="similar", snap=snap, subject=item_id,
                                             placement=placement),
                        media_type="application/json")


def _predict_route(router: APIRouter, st: "ServiceState", access: _Access) -> None:
    """``POST /v1/predict``."""
    settings = st.settings

    @router.post("/v1/predict", response_model=PredictResponse, responses=access.read_errors,
                 tags=["recommendations"], dependencies=access.read)
    async def predict(body: PredictRequest) -> Response:
        """Predicted rating of a (user, item) pair, whether to recommend it, and why; an id the
        model does not know is a 404 unless the body says ``"unknown": "fallback"``."""
        snap = st.store.current
        uid, iid = str(body.user_id), str(body.item_id)
        overlay = st.events.user_events(uid, snap.events_upto, settings.max_overlay_events)
        d = await st.compute.run(engine.predict, snap, uid, iid, overlay, body.unknown)
        p = d.prediction
        return json_response({
            "user_id": body.user_id, "item_id": body.item_id, "model_version": snap.version,
            "prediction": _finite(float(p.value)), "raw_prediction": _finite(float(p.raw_value)),
            "recommend": bool(d.recommend), "reason": d.reason,
            "threshold": _finite(float(d.threshold)), "n_neighbors": int(p.n_neighbors),
            "fallback": p.fallback, "fallback_to": p.fallback_to})


def _catalogue_routes(router: APIRouter, st: "ServiceState", access: _Access) -> None:
    """A product's likely buyers and the service's catalogue records."""
    N = Annotated[int, Query(ge=1, le=st.settings.max_n, description="List length.")]

    @router.get("/v1/items/{item_id}/audience", response_model=AudienceResponse,
                responses=access.read_errors, tags=["recommendations"],
                dependencies=access.read)
    async def item_audience(item_id: ItemIdP, n: N = 10) -> Response:
        """The ``n`` known customers most likely to take an item, new or not, its buyers
        left out: the served model's score of that item for every customer (one column), or,
        for a product nobody has bought yet, its text embedding scored by the model's text
        path; ``basis`` says which. An item with neither interactions nor a text vector is a
        404."""
        snap = st.store.current
        bought = st.events.item_users(item_id, snap.events_upto)

        def answer() -> engine.AudienceResult:
            return engine.audience(snap, item_id, n, st.products.view(snap), bought)

        res = await st.compute.run(answer)
        body = json_bytes({
            "item_id": item_id, "model_version": snap.version, "basis": res.basis,
            "basis_detail": res.basis_detail, "new_item": res.new_item,
            "excluded_buyers": res.excluded,
            "users": [{"rank": k + 1, "user_id": u, "score": s, "reason": r}
                      for k, (u, s, r) in enumerate(zip(res.users, res.scores, res.reasons,
                                                        strict=True))]})
        return Response(await st.lists.serve(body, kind="audience", snap=snap, subject=item_id,
                                             key=("users", "user_id")),
                        media_type="application/json")

    @router.get("/v1/items/{item_id}", response_model=CatalogueItemResponse,
                responses=access.read_errors, tags=["catalogue"], dependencies=access.read)
    def catalogue_item(item_id: ItemIdP) -> Response:
        """A product of the service's catalogue (posted, or from the ``--items`` file); 404
        for an item the catalogue does not hold (the model's own items are not listed here)."""
        got = st.products.record(item_id)
        if got is None:
            raise StarletteHTTPException(404, f"item {item_id!r} is not in the service's "
                                              "catalogue")
        snap = st.store.current
        got["in_model"] = bool(engine.known_item_ids(snap, [item_id])[0])
        return json_response(got)


def _write_routes(router: APIRouter, st: "ServiceState", access: _Access) -> None:
    """Event ingestion and retraining (and a retrain job's state)."""

    @router.post("/v1/events", response_model=EventsResponse, status_code=200,
                 dependencies=access.write, responses=WRITE_ERRORS, tags=["events"])
    def post_events(body: EventsRequest,
                    idempotency_key: IdempotencyKey = None) -> Response:
        """Store a batch of events durably (all or nothing); served at once, without refit.

        Acknowledged (200) only once the batch is committed and fsynced. On a full disk the
        answer is 507 and nothing of the batch is stored.
        """
        _check_events(st, body)
        records = [EventRecord(str(e.user_id), str(e.item_id), e.rating,
                               "cart" if e.event == "add-to-cart" else e.event, e.timestamp,
                               e.rec_id, None if e.value is None else float(e.value))
                   for e in body.events]
        digest = None
        if idempotency_key is not None:
            digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        got = st.events.add(records, idempotency_key=idempotency_key, body_sha256=digest)
        headers = {"Idempotent-Replayed": "true"} if got.replayed else None
        return json_response({"accepted": got.last_id - got.first_id + 1,
                              "first_event_id": got.first_id, "last_event_id": got.last_id,
                              "events_stored": st.events.count(), "replayed": got.replayed},
                             headers=headers)

    def store_items(items: list[CatalogueItem]) -> Response:
        limit = st.settings.max_items_per_batch
        if len(items) > limit:
            raise RequestValidationError([{
                "loc": ("body", "items"), "type": "too_long",
                "msg": f"at most {limit} items per batch"}])
        got = st.products.add(st.store.current, items)
        return json_response({"accepted": got.accepted, "changed": got.changed,
                              "catalogue_version": got.catalogue_version,
                              "embedded": got.embedded, "encoder": got.encoder,
                              "recommendable": got.ranked, "note": got.note,
                              "seconds": round(got.seconds, 4)})

    @router.put("/v1/items/{item_id}", response_model=ItemsResponse, dependencies=access.write,
                responses=WRITE_ERRORS, tags=["catalogue"])
    def put_item(item_id: ItemIdP, body: ItemIn) -> Response:
        """Add a product to the catalogue (or replace it): stored durably with its text
        embedding by the served model's encoder, and, for a text model, recommendable at
        once, without a retrain (``recommendable`` says whether)."""
        return store_items([_catalogue_item(item_id, body)])

    @router.post("/v1/items", response_model=ItemsResponse, dependencies=access.write,
                 responses=WRITE_ERRORS, tags=["catalogue"])
    def post_items(body: ItemsRequest) -> Response:
        """Add or replace several products (all-or-nothing, see ``PUT /v1/items/{id}``)."""
        ids = [str(it.item_id) for it in body.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise RequestValidationError([{
                "loc": ("body", "items"), "type": "duplicate",
                "msg": f"item_id {dup!r} appears more than once"}])
        return store_items([_catalogue_item(str(it.item_id), it) for it in body.items])

    @router.post("/v1/models/retrain", response_model=RetrainJobResponse, status_code=202,
                 dependencies=access.write,
                 responses={**WRITE_ERRORS, 409: {"model": ErrorResponse,
                                                  "description": "A retrain is already "
                                                                 "running."}},
                 tags=["models"])
    def start_retrain() -> Response:
        """Refit on the base data plus the stored events in the background, then swap."""
        return json_response(job_fields(asdict(st.retrain.start("api"))), status=202)

    @router.get("/v1/models/retrain/{job_id}", response_model=RetrainJobResponse,
                responses={**access.read_errors, 404: {"model": ErrorResponse,
                                                       "description": "Unknown job."}},
                tags=["models"], dependencies=access.read)
    def retrain_status(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> Response:
        """The state of a retrain job."""
        job = st.retrain.get(job_id)
        if job is None:
            raise StarletteHTTPException(404, f"no retrain job {job_id}")
        return json_response(job_fields(asdict(job)))


def _catalogue_item(item_id: str, body: ItemIn) -> CatalogueItem:
    return CatalogueItem(str(item_id), body.title, body.text or None, body.category or None,
                         dict(body.fields))


def ops_router(st: "ServiceState") -> APIRouter:
    """``/healthz`` and ``/metrics`` (no key: probes and scrapers have none)."""
    router = APIRouter()

    @router.get("/healthz", response_model=HealthResponse, tags=["operations"])
    async def healthz() -> Response:
        """Liveness, the served model version and the event counts (no filesystem paths)."""
        snap = st.store.current
        stored = st.events.max_id()
        return json_response({
            "status": "ok", "model_version": snap.version, "model": snap.model_name,
            "model_sha256": snap.digest, "events_stored": stored,
            "events_pending": max(0, stored - snap.events_upto),
            "uptime_s": time.time() - st.started_at, "worker_pid": os.getpid()})

    @router.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
    def metrics() -> PlainTextResponse:
        """Prometheus text: requests, latencies, faults, jobs, events, model version."""
        snap = st.store.current
        stored = st.events.max_id()
        text = st.metrics.render({
            "synerec_events_stored": ("Events in the event store.", stored),
            "synerec_events_pending": ("Events newer than the served model.",
                                       max(0, stored - snap.events_upto)),
            "synerec_model_version": ("Version of the served model.", snap.version),
            "synerec_model_loaded_timestamp_seconds": ("When the served model was loaded.",
                                                       snap.loaded_at),
            "synerec_workers": ("Server worker processes.", st.settings.workers),
        })
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return router


def job_fields(job: dict[str, Any]) -> dict[str, Any]:
    """A job record as the API shows it (no process ids)."""
    job.pop("worker_pid", None)
    job.pop("owner_pid", None)
    return job
