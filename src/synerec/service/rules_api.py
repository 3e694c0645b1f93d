"""The endpoints of business rules: product attributes (``PATCH /v1/items``) and placements.

``PATCH /v1/items/{id}`` and ``PATCH /v1/items`` change attributes of catalogue products
(availability, price, any shop field) in one durable transaction, served at the next request
without a retrain; ``/v1/placements`` lists the placements and saves an operator's rules
for one (``PUT``, write key) or forgets them (``DELETE``: the settings' rules apply again).
:func:`list_rules` resolves a list request's ``placement`` and ``rules`` parameters.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations.
import json
import math
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from synerec.rules import RulesError
from synerec.service.model_store import ModelSnapshot
from synerec.service.rules_serving import ListRules
from synerec.service.schemas import (
    MAX_ID_LENGTH,
    MAX_PATCH_FIELDS,
    ErrorResponse,
    ItemPatch,
    ItemsPatchRequest,
    ItemsPatchResponse,
    Placement,
    PlacementsResponse,
    check_id_text,
)

if TYPE_CHECKING:
    from synerec.service.app import ServiceState

__all__ = ["PlacementQ", "RulesQ", "list_rules", "rules_routes"]

PlacementQ = Annotated[str | None, Query(
    max_length=64, description="A named placement (`home`, `product-page`, `cart`, ...) whose "
                               "rules apply; see `GET /v1/placements`.")]
RulesQ = Annotated[str | None, Query(
    max_length=8000, description="Business rules for this list: a JSON object (filters, "
                                 "boosts, buries, caps) or an expression such as "
                                 "`price < 50 and in_stock = true`; added to the "
                                 "placement's rules.")]
_PlacementName = Annotated[str, Path(min_length=1, max_length=64,
                                     description="Placement name (a-z, 0-9, `_`, `-`).")]
_ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH,
                              description="External item id."), AfterValidator(check_id_text)]


def _json(body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":"), allow_nan=False).encode(),
                    media_type="application/json")


def _invalid(where: tuple[Any, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": where, "type": "value_error", "msg": message}])


def list_rules(st: "ServiceState", snap: ModelSnapshot, catalogue_version: int,
               placement: str | None, rules: str | None,
               user_id: str | None = None, variant: Any = None) -> ListRules | None:
    """The rules of a list request (``None`` without any; ``variant``: the experiment
    variant's rules); 422 naming the bad part."""
    try:
        return st.rules.request(snap, catalogue_version, placement, rules, user_id,
                                variant=variant)
    except RulesError as exc:
        where = "placement" if str(exc).startswith(("unknown placement",
                                                    "invalid placement")) else "rules"
        raise _invalid(("query", where), str(exc)) from None


def _check_patch(attrs: dict[str, Any], where: tuple[Any, ...]) -> dict[str, Any]:
    """One product's attribute changes, checked (422 naming the field)."""
    if not attrs:
        raise _invalid(where, "no attribute to change")
    if len(attrs) > MAX_PATCH_FIELDS:
        raise _invalid(where, f"at most {MAX_PATCH_FIELDS} attributes per product")
    for k, v in attrs.items():
        at = (*where, k)
        if not 1 <= len(k) <= 100:
            raise _invalid(where, "an attribute name must have 1 to 100 characters")
        if k == "title" and (not isinstance(v, str) or not v.strip() or len(v) > 500):
            raise _invalid(at, "title must be text of 1 to 500 characters")
        if k in ("text", "category") and v is not None and not isinstance(v, str):
            raise _invalid(at, f"{k} must be text or null")
        if isinstance(v, float) and not math.isfinite(v):
            raise _invalid(at, "must be a finite number")
        if isinstance(v, str) and len(v) > (20_000 if k == "text" else 2000):
            raise _invalid(at, "is too long")
    return attrs


def _model_titles(snap: ModelSnapshot, ids: list[str]) -> dict[str, str]:
    """Titles of the served model's items among ``ids`` (its catalogue's, else the id): a
    PATCH of a model item that the service catalogue does not hold yet creates its record."""
    idx = snap.model.items_.indices(ids, missing="negative")
    titles = (snap.model.catalogue_ or {}).get("title")
    out = {}
    for i, k in zip(ids, idx.tolist(), strict=True):
        if k >= 0:
            t = str(titles[k]) if titles is not None else ""
            out[i] = t or str(i)
    return out


def rules_routes(router: APIRouter, st: "ServiceState", access: Any) -> None:
    """Attribute changes and placements (see the module docstring)."""
    write_errors: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorResponse, "description": "Missing or wrong key."},
        404: {"model": ErrorResponse, "description": "An item neither in the catalogue nor "
                                                     "in the model."},
        422: {"model": ErrorResponse, "description": "Invalid request."}}

    def patch(updates: list[tuple[str, dict[str, Any]]], one: bool) -> Response:
        limit = st.settings.max_items_per_batch
        if len(updates) > limit:
            raise _invalid(("body", "items"), f"at most {limit} items per batch")
        ids = [i for i, _ in updates]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise _invalid(("body", "items"), f"item_id {dup!r} appears more than once")
        start = time.perf_counter()
        changed, version = st.products.patch(updates, _model_titles(st.store.current, ids))
        return _json({"accepted": len(updates), "changed": changed,
                              "catalogue_version": version,
                              "item": st.products.record(ids[0]) if one else None,
                              "seconds": round(time.perf_counter() - start, 4)})

    @router.patch("/v1/items/{item_id}", response_model=ItemsPatchResponse,
                  dependencies=access.write, responses=write_errors, tags=["catalogue"])
    def patch_item(item_id: _ItemId, body: Annotated[ItemPatch, Body()]) -> Response:
        """Change some attributes of a product: availability (`in_stock`), `price`, any shop
        field, or `title` / `text` / `category`; `null` removes a field. Durable when
        acknowledged; the next list applies it, without a retrain. An item of the served
        model that the catalogue does not hold yet is added to it (with the model's title)."""
        attrs = _check_patch(dict(body.root), ("body",))
        return patch([(item_id, attrs)], True)

    @router.patch("/v1/items", response_model=ItemsPatchResponse, dependencies=access.write,
                  responses=write_errors, tags=["catalogue"])
    def patch_items(body: ItemsPatchRequest) -> Response:
        """Change attributes of several products, all or nothing: `{"items": [{"item_id":
        "42", "in_stock": false}, ...]}` (see `PATCH /v1/items/{id}`)."""
        updates = []
        for k, entry in enumerate(body.items):
            attrs = dict(entry.root)
            item_id = attrs.pop("item_id", None)
            if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
                raise _invalid(("body", "items", k, "item_id"), "item_id is required (text "
                                                                "or an integer)")
            try:
                check_id_text(str(item_id))
            except ValueError as exc:
                raise _invalid(("body", "items", k, "item_id"), str(exc)) from None
            updates.append((str(item_id), _check_patch(attrs, ("body", "items", k))))
        return patch(updates, False)

    _placement_routes(router, st, access)


def _placement_routes(router: APIRouter, st: "ServiceState", access: Any) -> None:
    def one(name: str) -> dict[str, Any]:
        got = st.rules.placements().get(name)
        if got is None:
            raise StarletteHTTPException(404, f"no placement {name!r}")
        return {"name": name, **got}

    @router.get("/v1/placements", response_model=PlacementsResponse,
                responses=access.read_errors, tags=["rules"], dependencies=access.read)
    def placements() -> Any:
        """Every placement and its rules (saved by an operator, else the settings file's)."""
        return {"placements": [{"name": k, **v} for k, v in st.rules.placements().items()]}

    @router.get("/v1/placements/{name}", response_model=Placement,
                responses=access.read_errors, tags=["rules"], dependencies=access.read)
    def placement(name: _PlacementName) -> Any:
        """One placement's rules."""
        return one(name)

    @router.put("/v1/placements/{name}", response_model=Placement, dependencies=access.write,
                responses={422: {"model": ErrorResponse, "description": "Invalid rules."}},
                tags=["rules"])
    def save_placement(name: _PlacementName, rules: Annotated[Any, Body()]) -> Any:
        """Save a placement's rules (a rule set, or an expression string) in the state store:
        they replace the settings file's for it, in every worker, and survive restarts."""
        try:
            st.rules.save(name, rules)
        except RulesError as exc:
            raise _invalid(("body",), str(exc)) from None
        return one(name)

    @router.delete("/v1/placements/{name}", response_model=Placement | None,
                   dependencies=access.write, tags=["rules"])
    def reset_placement(name: _PlacementName) -> Any:
        """Forget a placement's saved rules: the settings file's apply again (``null`` when
        the settings file has none for it)."""
        try:
            st.rules.reset(name)
        except RulesError as exc:
            raise _invalid(("path", "name"), str(exc)) from None
        return st.rules.placements().get(name) and one(name)
