"""Typed request and response bodies of the HTTP API (published in the OpenAPI schema)."""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

__all__ = [
    "AudienceResponse",
    "AudienceUser",
    "CatalogueItemResponse",
    "ErrorResponse",
    "EventIn",
    "EventsRequest",
    "EventsResponse",
    "HealthResponse",
    "ItemIn",
    "ItemPatch",
    "ItemPatchWithId",
    "ItemWithId",
    "ItemsPatchRequest",
    "ItemsPatchResponse",
    "ItemsRequest",
    "ItemsResponse",
    "ListRulesInfo",
    "NewProducts",
    "Placement",
    "PlacementsResponse",
    "PredictRequest",
    "PredictResponse",
    "RecommendationsResponse",
    "RecommendedItem",
    "RetrainJobResponse",
    "SimilarItem",
    "SimilarItemsResponse",
    "check_id_text",
]

#: Most characters of a user or item id.
MAX_ID_LENGTH = 256
_MAX_TIMESTAMP = 1e11  # unix seconds, year ~5138

#: Unicode categories refused in ids: control (C0, C1: ``\\x00``, ``\\x85``), format (bidi
#: overrides such as U+202E, zero-width characters), surrogates, private use, unassigned, line and
#: paragraph separators. Such characters make an id display as another one (or break logs).
_REFUSED_CATEGORIES = {"Cc": "control", "Cf": "format (bidi or invisible)", "Cs": "surrogate",
                       "Co": "private-use", "Cn": "unassigned", "Zl": "line separator",
                       "Zp": "paragraph separator"}

#: A user or item id: text of 1..256 printable characters, or a 64-bit integer. (Checked by
#: one validator so that an error names the field, not a member of the union.)
Id = Annotated[StrictStr | StrictInt, Field(
    description="Text of 1..256 printable characters (no control, bidi or invisible "
                "characters), or an integer.")]
ItemId = str | int
#: A rating: a JSON number (``"5"`` and ``true`` are refused).
Rating = Annotated[StrictFloat | StrictInt, Field(
    description="Explicit rating, a JSON number; must lie on the served model's rating scale "
                "(>= 0 for implicit models).")]


def check_id_text(value: str) -> str:
    """An id given as text: 1..256 printable characters of valid Unicode, not blank.

    Raises
    ------
    ValueError
        Naming the first refused character by its code point and category.
    """
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise ValueError(f"id must have 1 to {MAX_ID_LENGTH} characters")
    for ch in value:
        cat = unicodedata.category(ch)
        if cat in _REFUSED_CATEGORIES:
            raise ValueError(f"id must not contain {_REFUSED_CATEGORIES[cat]} characters "
                             f"(U+{ord(ch):04X})")
    if not value.strip():
        raise ValueError("id must not be blank")
    return value


def _check_text(value: str | int) -> str | int:
    """Ids: text (see :func:`check_id_text`) or a 64-bit integer."""
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("integer id out of the 64-bit range")
        return value
    return check_id_text(value)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_Body):
    """One interaction: who, what, and optionally a rating, an event type and a time."""

    user_id: Id
    item_id: Id
    rating: Rating | None = None
    event: Literal["view", "cart", "add-to-cart", "click", "purchase", "impression"] | None = (
        Field(None, description="`add-to-cart` is stored as `cart`; an `impression` (a list "
                                "was shown) counts for attribution only, never as an "
                                "interaction."))
    timestamp: StrictFloat | StrictInt | None = Field(
        None, description="Unix seconds (0 to 1e11), a JSON number; default: arrival time.")
    rec_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                               description="The `rec_id` of the list the event answers "
                                           "(attribution, see docs/service.md).")
    value: StrictFloat | StrictInt | None = Field(
        None, ge=0, le=1e12, description="A purchase's revenue (for revenue per user).")

    @field_validator("user_id", "item_id")
    @classmethod
    def _valid_ids(cls, v: str | int) -> str | int:
        return _check_text(v)

    @field_validator("rating")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("rating must be a finite number")
        return None if v is None else float(v)

    @field_validator("timestamp")
    @classmethod
    def _time(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and 0 <= v <= _MAX_TIMESTAMP):
            raise ValueError(f"timestamp must be a number of unix seconds in 0..{_MAX_TIMESTAMP:g}")
        return None if v is None else float(v)


class EventsRequest(_Body):
    """A batch of events, stored all-or-nothing."""

    events: list[EventIn] = Field(min_length=1)


class EventsResponse(BaseModel):
    """Acknowledgement: the batch is durable in the event store."""

    accepted: int
    first_event_id: int
    last_event_id: int
    events_stored: int
    replayed: bool = Field(False, description="True when this is the stored acknowledgement "
                                              "of an earlier batch with the same "
                                              "Idempotency-Key (nothing was stored again).")


class RecommendedItem(BaseModel):
    """One entry of a recommendation list."""

    rank: int
    item_id: ItemId
    score: float | None = Field(description="Ranking score (model score, eq. S1 sum, or "
                                            "popularity); null for items that fill a list "
                                            "from the popular items.")
    title: str | None = Field(None, description="The item's title, when the model carries "
                                                "its catalogue.")
    reason: str | None = None


class NewProducts(BaseModel):
    """The catalogue's products the served model was not trained on, and whether it ranks
    them."""

    count: int = Field(description="New products in the catalogue.")
    ranked: bool = Field(description="Whether the served model ranks them (a text model, by "
                                     "their text embeddings); false: they are stored, not "
                                     "recommended, until a retrain sees interactions with "
                                     "them.")
    basis: str | None = Field(None, description="What their scores rest on.")
    note: str | None = Field(None, description="Why they are not ranked, when not.")


class ListRulesInfo(BaseModel):
    """How a list's business rules went."""

    placement: str | None
    short: bool = Field(description="Fewer than `n` items passed the rules.")
    reason: str | None = Field(description="Why the list is short, when it is.")
    candidates: int = Field(description="The model's best candidates examined.")


class ListIds(BaseModel):
    """What every list response starts with: its id and the experiment that made it."""

    rec_id: str = Field(description="This list's id (32 hex digits): send it with the "
                                    "impression, click, add-to-cart and purchase events it "
                                    "leads to (attribution).")
    experiment: str | None = Field(None, description="The A/B test that chose the model, "
                                                     "or null.")
    variant: str | None = Field(None, description="The experiment's variant that served "
                                                  "this list, or null.")


class RecommendationsResponse(ListIds):
    """A user's recommendation list with how it was made."""

    user_id: str
    model_version: int
    strategy: Literal["model", "item_neighbors", "sequence", "popular"]
    fallback: Literal["unknown_user"] | None = Field(
        description="Set when the user is unknown to the model (cold start).")
    new_events: int = Field(description="Events of this user newer than the served model.")
    filled_from_popular: int
    items: list[RecommendedItem]
    new_products: NewProducts | None = Field(
        None, description="Set when the catalogue holds products the model was not trained "
                          "on (posted to /v1/items or the --items file).")
    rules: ListRulesInfo | None = Field(
        None, description="Set when business rules applied (`rules`, `placement`).")


class SimilarItem(BaseModel):
    """One item similar to the requested one."""

    rank: int
    item_id: ItemId
    similarity: float
    title: str | None = Field(None, description="The item's title, when the model carries "
                                                "its catalogue.")


class SimilarItemsResponse(ListIds):
    """Items most similar to one item."""

    item_id: str
    model_version: int
    fallback: Literal["unknown_item"] | None = Field(
        description="Set when the item is unknown to the model: the items are then the most "
                    "popular ones and ``similarity`` holds their popularity.")
    source: Literal["model", "service_cosine", "popular", "text"]
    basis: str | None = Field(None, description="With source `text` (an item nobody has "
                                                "bought yet): the text vectors compared.")
    items: list[SimilarItem]
    rules: ListRulesInfo | None = Field(
        None, description="Set when business rules applied (`rules`, `placement`).")


class AudienceUser(BaseModel):
    """One customer likely to take the item."""

    rank: int
    user_id: ItemId
    score: float
    reason: str


class AudienceResponse(ListIds):
    """The customers most likely to take one item (its buyers left out)."""

    item_id: str
    model_version: int
    basis: Literal["model", "item_neighbors", "text"] = Field(
        description="`model`: the served model's score of the item for each customer; "
                    "`item_neighbors`: eq. (S1), the item's similarities to each customer's "
                    "items; `text`: the product's text embedding scored by the model (a "
                    "product nobody has bought yet).")
    basis_detail: str
    new_item: bool = Field(description="The item has no interactions in the served model.")
    excluded_buyers: int = Field(description="Customers left out: they already took it.")
    users: list[AudienceUser]


_MAX_TITLE = 500
_MAX_TEXT = 20_000
_MAX_FIELDS = 50
FieldValue = StrictStr | StrictInt | StrictFloat | bool | None


class ItemIn(_Body):
    """A catalogue product: a title, optionally a text (description), a category and shop
    fields (brand, price, ...)."""

    title: str = Field(min_length=1, max_length=_MAX_TITLE)
    text: str | None = Field(None, max_length=_MAX_TEXT,
                             description="The product's description (embedded with the "
                                         "title, category and brand).")
    category: str | None = Field(None, max_length=500,
                                 description="Category, several joined by `|`.")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Further shop attributes (brand, price, ...): "
                                          "strings, numbers, booleans or null.")

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("title must not be blank")
        return v.strip()

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > _MAX_FIELDS:
            raise ValueError(f"at most {_MAX_FIELDS} fields")
        for k, x in v.items():
            if x is not None and not isinstance(x, (str, int, float, bool)):
                raise ValueError(f"field {k!r} must be a string, number, boolean or null, "
                                 f"not {type(x).__name__}")
            if not 1 <= len(k) <= 100:
                raise ValueError("a field name must have 1 to 100 characters")
            if k in ("item_id", "title", "text", "category"):
                raise ValueError(f"{k!r} is a product attribute, not a shop field")
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError(f"field {k!r} must be a finite number")
            if isinstance(x, str) and len(x) > 2000:
                raise ValueError(f"field {k!r} is longer than 2000 characters")
        return v


class ItemWithId(ItemIn):
    """A catalogue product with its id (the bulk form)."""

    item_id: Id

    @field_validator("item_id")
    @classmethod
    def _valid_id(cls, v: str | int) -> str | int:
        return _check_text(v)


class ItemsRequest(_Body):
    """Products to add or replace, stored all-or-nothing."""

    items: list[ItemWithId] = Field(min_length=1)


class ItemsResponse(BaseModel):
    """Acknowledgement: the products are durable in the state store (and embedded)."""

    accepted: int
    changed: int = Field(description="Products new or different from the stored ones.")
    catalogue_version: int
    embedded: bool = Field(description="Embedded by the served model's text encoder.")
    encoder: str | None
    recommendable: bool = Field(description="The served model ranks them now, without a "
                                            "retrain.")
    note: str | None = Field(None, description="Why they are not recommendable, when not.")
    seconds: float = Field(description="Time to embed and store them.")


class CatalogueItemResponse(BaseModel):
    """A product as the catalogue store holds it."""

    item_id: str
    title: str
    text: str | None
    category: str | None
    fields: dict[str, FieldValue]
    seq: int
    created_at: float
    updated_at: float
    in_model: bool = Field(description="The served model knows the item (was trained on it).")


#: Most attributes changed per product by one PATCH.
MAX_PATCH_FIELDS = 50


class ItemPatch(RootModel[dict[str, FieldValue]]):
    """Attributes of a product to change: ``title``, ``text``, ``category`` or any shop field
    (``in_stock``, ``price``, ``brand``, ``margin``, ...); ``null`` removes a field. The
    others stay as they are."""


class ItemPatchWithId(RootModel[dict[str, FieldValue]]):
    """An ``item_id`` and the attributes to change (see :class:`ItemPatch`)."""


class ItemsPatchRequest(_Body):
    """Attribute changes of several products, stored all-or-nothing."""

    items: list[ItemPatchWithId] = Field(min_length=1)


class ItemsPatchResponse(BaseModel):
    """Acknowledgement: the changes are durable in the state store."""

    accepted: int
    changed: int = Field(description="Products whose stored attributes changed.")
    catalogue_version: int
    item: CatalogueItemResponse | None = Field(
        None, description="The product as stored now (PATCH of one product).")


class Placement(BaseModel):
    """A placement's rules and where they come from."""

    name: str
    rules: Any = Field(description="The rule set (docs/service.md, \"Rules and placements\").")
    source: Literal["settings", "saved"] = Field(
        description="`settings`: the settings file's default; `saved`: saved by an operator "
                    "(console or PUT), kept in the state store.")
    default: Any = Field(None, description="The settings file's rules for it, if any.")
    updated_at: float | None = None


class PlacementsResponse(BaseModel):
    """Every placement."""

    placements: list[Placement]


class PredictRequest(_Body):
    """A (user, item) pair to predict."""

    user_id: Id
    item_id: Id
    unknown: Literal["error", "fallback"] = Field(
        "error", description="An id the model does not know: `error` (404) or `fallback` "
                             "(the documented fallback prediction, flagged).")

    @field_validator("user_id", "item_id")
    @classmethod
    def _valid_ids(cls, v: str | int) -> str | int:
        return _check_text(v)


class PredictResponse(BaseModel):
    """A predicted rating, the recommend-or-not decision and why."""

    user_id: ItemId
    item_id: ItemId
    model_version: int
    prediction: float
    raw_prediction: float
    recommend: bool
    reason: str
    threshold: float
    n_neighbors: int
    fallback: str | None
    fallback_to: str | None


class RetrainJobResponse(BaseModel):
    """State of a retrain job."""

    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: float
    started_at: float | None
    finished_at: float | None
    events_upto: int = Field(description="Newest event id included in the training data.")
    target_version: int
    model_version: int | None = Field(description="The version served after success.")
    n_interactions: int | None
    error: str | None
    trigger: Literal["api", "auto"] = Field(
        "api", description="Who started the job: a client, or the event-count/age trigger.")


class HealthResponse(BaseModel):
    """Liveness and what is served."""

    status: Literal["ok"]
    model_version: int
    model: str
    model_sha256: str = Field(description="First 16 hex digits of the served model's array "
                                          "checksum (identifies the model, not its path).")
    events_stored: int
    events_pending: int
    uptime_s: float
    worker_pid: int = Field(description="The server process that answered.")


class ErrorResponse(BaseModel):
    """Every error: a machine-readable kind and a sentence; validation errors list fields."""

    error: str
    message: str
    fields: list[str] | None = None
