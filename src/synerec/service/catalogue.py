"""The shop's catalogue as the service keeps it: products added without a retrain.

A product posted to the service (``PUT /v1/items/{id}``, ``POST /v1/items``) or listed in the
``--items`` file of ``synerec serve`` is stored in the service's SQLite state store
(``events.sqlite3``, the same database, WAL and ``synchronous=FULL`` as the events: a product
is acknowledged once its transaction is committed and fsynced), together with its text
embedding when the served model can embed text (:class:`NewItemSpace`). A batch is stored in
one transaction: all of it, or nothing.

Tables::

    catalogue          item_id TEXT PRIMARY KEY, title TEXT, text TEXT, category TEXT,
                       fields TEXT (JSON object: further shop attributes, e.g. brand),
                       seq INTEGER UNIQUE (change number: increasing, bumped by every change),
                       created_at REAL, updated_at REAL
    catalogue_vectors  (item_id, encoder) PRIMARY KEY, text_sha256 TEXT, vector BLOB
                       (the encoder's raw float32 embedding of the product's text)
    catalogue_file_rows item_id TEXT PRIMARY KEY, sha256 TEXT (the ``--items`` file's rows
                       as last applied: a row unchanged in the file is not applied again, so
                       a later ``PATCH`` of the product stays)

Attributes that change (availability ``in_stock``, ``price``, any shop field) are changed by
``PATCH /v1/items/{id}`` and ``PATCH /v1/items`` (:meth:`CatalogueStore.patch`: a partial
update read, merged and written in one transaction, so two workers patching the same product
never lose a change); they are what business rules filter, boost and cap on
(:mod:`synerec.service.rules_serving`).

``MAX(seq)`` is the catalogue's version: a server process reads it (one index lookup, reused
for at most 10 ms: :attr:`synerec.service.products.Products.VERSION_TTL_S`) and rebuilds its
view of the new products (:class:`NewItems`) from the changed rows when it changed, so a
product stored by one worker process is served by the process that stored it at its next
request and by every other one within 10 ms. An
unchanged record sent again is not rewritten (its ``seq`` stays), so loading the same
``--items`` file at every start costs nothing.

What "new" means
----------------
A catalogue product the served model does not know (not in its item vocabulary, or known
without training data and without text) is *new*. The served model ranks new products only
when it declares :class:`~synerec.algorithms.abilities.ScoresNewItems` (``text-knn``,
``text-knn-tuned``): the product's text is embedded by the model's own encoder, placed in
the model's item space and scored on the model's own scale, so it enters users' lists, "similar
items" and audiences at once. A model without that ability (``ease``, ``item-cf``, ALS, ...)
gives every item without interactions a score of 0: the service stores the product and says
so in each list (``new_products.ranked = false``) instead of pretending; a retrain that sees
interactions with it brings it in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ScoresNewItems
from synerec.exceptions import ConfigError, DataFormatError, SynerecError, UnknownIdError
from synerec.service._readers import ThreadReaders, immediate
from synerec.service.faults import StateDirError, classify
from synerec.text.templates import DEFAULT_ITEM_TEMPLATE

__all__ = ["CatalogueItem", "CatalogueStore", "NewItemSpace", "NewItems", "item_text",
           "read_catalogue_frame", "read_items_file"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalogue (
    item_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT,
    category TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS catalogue_seq ON catalogue (seq);
CREATE TABLE IF NOT EXISTS catalogue_file_rows (
    item_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalogue_vectors (
    item_id TEXT NOT NULL,
    encoder TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (item_id, encoder)
) WITHOUT ROWID;
"""

#: Columns of an ``--items`` file besides ``item_id`` and ``title`` (others go to ``fields``).
ITEM_COLUMNS = ("item_id", "title", "text", "category")


@dataclass(frozen=True)
class CatalogueItem:
    """One product of the catalogue (ids as text)."""

    item_id: str
    title: str
    text: str | None = None
    category: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    def content(self) -> tuple[Any, ...]:
        """What a change compares (not the change number or the times)."""
        return (self.title, self.text, self.category,
                json.dumps(self.fields, sort_keys=True, separators=(",", ":")))


def item_text(item: CatalogueItem) -> str:
    """The text an encoder embeds: the default item template
    (:data:`synerec.text.templates.DEFAULT_ITEM_TEMPLATE`, as the text models embed their
    training items) over the title, the category, the shop fields (brand, ...) and ``text``
    as the description."""
    row: dict[str, Any] = {**item.fields, "title": item.title, "category": item.category,
                           "description": item.text}
    return DEFAULT_ITEM_TEMPLATE.render(row)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CatalogueStore:
    """The catalogue tables of the state store (see the module docstring).

    Parameters
    ----------
    path
        The database file (the event store's ``events.sqlite3``).
    busy_timeout_s
        How long a writer waits for another process's write transaction.

    Raises
    ------
    StateDirError
        The database cannot be opened for writing (one line).
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.Lock()
        self._readers = ThreadReaders(self._connect, "catalogue store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            fault = classify(exc, "the catalogue store")
            detail = fault.args[0] if fault is not None else str(exc)
            raise StateDirError(f"cannot open the catalogue store {self.path}: {detail}"
                                ) from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        return self._readers.get()

    # -- writing ------------------------------------------------------------------------------
    def upsert(self, items: Sequence[CatalogueItem],
               vectors: dict[str, np.ndarray] | None = None, encoder: str | None = None,
               now: float | None = None) -> tuple[int, int]:
        """Store ``items`` (and their raw embeddings by ``encoder``) in one transaction.

        A record equal to the stored one keeps its change number; an embedding is stored
        whenever given. Returns ``(changed, version)``: how many records changed and the
        catalogue's version after the transaction. Durable when it returns (fsynced).
        """
        now = time.time() if now is None else float(now)
        vectors = vectors or {}
        with immediate(self._conn, self._lock) as cur:
            seq = int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM catalogue"
                                  ).fetchone()[0])
            changed = 0
            for it in items:
                old = cur.execute("SELECT title, text, category, fields, created_at FROM "
                                  "catalogue WHERE item_id = ?", (it.item_id,)).fetchone()
                content = it.content()
                if old is None or tuple(old[:4]) != content:
                    seq += 1
                    changed += 1
                    created = now if old is None else float(old[4])
                    cur.execute("INSERT OR REPLACE INTO catalogue (item_id, title, text, "
                                "category, fields, seq, created_at, updated_at) VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?)",
                                (it.item_id, *content, seq, created, now))
                vec = vectors.get(it.item_id)
                if vec is not None and encoder is not None:
                    cur.execute("INSERT OR REPLACE INTO catalogue_vectors (item_id, "
                                "encoder, text_sha256, vector) VALUES (?, ?, ?, ?)",
                                (it.item_id, encoder, _sha(item_text(it)),
                                 np.asarray(vec, dtype="<f4").tobytes()))
        return changed, seq

    def put_vectors(self, encoder: str, items: Sequence[CatalogueItem],
                    vectors: np.ndarray) -> None:
        """Store raw embeddings of ``items`` by ``encoder`` (one transaction)."""
        rows = [(it.item_id, encoder, _sha(item_text(it)), np.asarray(v, "<f4").tobytes())
                for it, v in zip(items, vectors, strict=True)]
        with immediate(self._conn, self._lock) as cur:
            cur.executemany("INSERT OR REPLACE INTO catalogue_vectors (item_id, encoder, "
                            "text_sha256, vector) VALUES (?, ?, ?, ?)", rows)

    def patch(self, updates: Sequence[tuple[str, dict[str, Any]]],
              titles: dict[str, str] | None = None, now: float | None = None
              ) -> tuple[int, int]:
        """Change some attributes of products, in one transaction (all or nothing).

        ``updates``: ``(item_id, {attribute: value})``; ``title``, ``text`` and ``category``
        set those, any other name a shop field (``in_stock``, ``price``, ``brand``, ...);
        ``None`` removes a field (or clears ``text`` / ``category``). A product the catalogue
        does not hold yet is created when ``titles`` names it (an item of the served model:
        its title) or the update sets a title. Returns ``(changed, version)`` like
        :meth:`upsert`; durable when it returns.

        Raises
        ------
        UnknownItemError
            An item neither in the catalogue nor in ``titles``, updated without a title
            (nothing is stored).
        """
        now = time.time() if now is None else float(now)
        titles = titles or {}
        with immediate(self._conn, self._lock) as cur:
            seq = int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM catalogue"
                                  ).fetchone()[0])
            changed = 0
            for item_id, attrs in updates:
                row = cur.execute("SELECT item_id, title, text, category, fields, seq, "
                                  "created_at, updated_at FROM catalogue WHERE item_id = ?",
                                  (item_id,)).fetchone()
                if row is not None:
                    old = _item(row)
                else:
                    title = attrs.get("title") or titles.get(item_id)
                    if not title:
                        raise UnknownIdError(item_id, "item", hint=(
                            "it is neither in the catalogue nor in the served model; "
                            "PUT /v1/items/{id} adds it (or give a title)"))
                    old = CatalogueItem(item_id, str(title), created_at=now)
                new = patched(old, attrs)
                if row is None or new.content() != old.content():
                    seq += 1
                    changed += 1
                    cur.execute("INSERT OR REPLACE INTO catalogue (item_id, title, text, "
                                "category, fields, seq, created_at, updated_at) VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?)",
                                (item_id, *new.content(), seq, old.created_at, now))
        return changed, seq

    def new_file_rows(self, items: Sequence[CatalogueItem]) -> list[CatalogueItem]:
        """The rows of an ``--items`` file that are new or changed since the file was last
        applied (:meth:`mark_file_rows`): a product changed later through the API keeps that
        change until its row in the file changes."""
        conn = self._reader()
        out = []
        for it in items:
            row = conn.execute("SELECT sha256 FROM catalogue_file_rows WHERE item_id = ?",
                               (it.item_id,)).fetchone()
            if row is None or row[0] != _row_sha(it):
                out.append(it)
        return out

    def mark_file_rows(self, items: Sequence[CatalogueItem]) -> None:
        """Remember the rows of an ``--items`` file as applied (one transaction)."""
        rows = [(it.item_id, _row_sha(it)) for it in items]
        with immediate(self._conn, self._lock) as cur:
            cur.executemany("INSERT OR REPLACE INTO catalogue_file_rows (item_id, sha256) "
                            "VALUES (?, ?)", rows)

    # -- reading ------------------------------------------------------------------------------
    def version(self) -> int:
        """The newest change number (0: an empty catalogue): one index lookup."""
        row = self._reader().execute("SELECT MAX(seq) FROM catalogue").fetchone()
        return int(row[0] or 0)

    def count(self) -> int:
        """Products in the catalogue."""
        return int(self._reader().execute("SELECT COUNT(*) FROM catalogue").fetchone()[0])

    def items(self, after_seq: int = 0) -> list[CatalogueItem]:
        """The products changed after ``after_seq`` (all: 0), in change order."""
        rows = self._reader().execute(
            "SELECT item_id, title, text, category, fields, seq, created_at, updated_at FROM "
            "catalogue WHERE seq > ? ORDER BY seq", (int(after_seq),)).fetchall()
        return [_item(r) for r in rows]

    def get(self, item_id: str) -> CatalogueItem | None:
        """One product, or ``None``."""
        row = self._reader().execute(
            "SELECT item_id, title, text, category, fields, seq, created_at, updated_at FROM "
            "catalogue WHERE item_id = ?", (item_id,)).fetchone()
        return None if row is None else _item(row)

    def vectors(self, encoder: str, items: Sequence[CatalogueItem]) -> dict[str, np.ndarray]:
        """The stored raw embeddings by ``encoder`` of those ``items`` whose text is unchanged."""
        out: dict[str, np.ndarray] = {}
        conn = self._reader()
        for it in items:
            row = conn.execute("SELECT text_sha256, vector FROM catalogue_vectors WHERE "
                               "item_id = ? AND encoder = ?", (it.item_id, encoder)).fetchone()
            if row is not None and row[0] == _sha(item_text(it)):
                out[it.item_id] = np.frombuffer(row[1], dtype="<f4").astype(np.float32)
        return out

    def close(self) -> None:
        """Close the writer and this thread's reader (:class:`ThreadReaders`)."""
        self._readers.close()
        with self._lock:
            self._conn.close()


#: Attributes of a product that are not shop fields.
PRODUCT_ATTRIBUTES = ("title", "text", "category")


def patched(item: CatalogueItem, attrs: dict[str, Any]) -> CatalogueItem:
    """``item`` with ``attrs`` changed (see :meth:`CatalogueStore.patch`)."""
    fields = dict(item.fields)
    for k, v in attrs.items():
        if k not in PRODUCT_ATTRIBUTES:
            if v is None:
                fields.pop(k, None)
            else:
                fields[k] = v
    title = attrs.get("title", item.title) or item.title
    return replace(item, title=str(title).strip(),
                   text=_text(attrs["text"]) if "text" in attrs else item.text,
                   category=_text(attrs["category"]) if "category" in attrs else item.category,
                   fields=fields)


def _row_sha(item: CatalogueItem) -> str:
    return _sha(json.dumps([item.item_id, *item.content()], separators=(",", ":")))


def _item(row: Sequence[Any]) -> CatalogueItem:
    return CatalogueItem(str(row[0]), str(row[1]), row[2], row[3], json.loads(row[4] or "{}"),
                         int(row[5]), float(row[6]), float(row[7]))


# ---------------------------------------------------------------------------------------------
# the served model's text space
# ---------------------------------------------------------------------------------------------

class NewItemSpace:
    """How one served model takes new products: its encoder and item space, or why not.

    Built once per model snapshot; the encoder is loaded on first use (:meth:`encoder`), or
    ahead of time by :meth:`warm`. ``threads``: torch threads of this process once a torch
    encoder is loaded (a server embeds one product per request, many requests at once: on the
    2-core development machine under load, one product took 42 ms with one thread and 227 ms
    with two).
    """

    def __init__(self, model: Recommender, model_name: str, threads: int = 1) -> None:
        self.model = model
        self.model_name = model_name
        self.threads = int(threads)
        self._encoder: Any = None
        self._lock = threading.Lock()
        self.error: str | None = None
        if not isinstance(model, ScoresNewItems):
            self.error = (f"{model_name} does not score products it was not trained on; new "
                          "products are stored and enter its lists after a retrain that sees "
                          "interactions with them (a text model such as text-knn ranks them "
                          "at once)")

    @property
    def ranks_new_items(self) -> bool:
        """Whether the served model ranks new products (embedded by its encoder)."""
        return self.error is None

    def encoder(self) -> Any | None:
        """The model's encoder (loaded once), or ``None`` (then :attr:`error` says why)."""
        if self.error is not None:
            return None
        with self._lock:
            if self._encoder is None and self.error is None:
                assert isinstance(self.model, ScoresNewItems)
                try:
                    self._encoder = self.model.new_item_encoder()
                except (SynerecError, OSError, ImportError) as exc:
                    self.error = f"{self.model_name} cannot embed new products: {exc}"
                    log.warning("%s", self.error)
            return self._encoder

    @property
    def encoder_name(self) -> str | None:
        enc = self.encoder()
        return None if enc is None else str(enc.name)

    def embed(self, items: Sequence[CatalogueItem]) -> np.ndarray | None:
        """Raw embeddings ``(len(items), d)`` of the products' texts (zero rows: no text), or
        ``None`` when the model cannot embed."""
        enc = self.encoder()
        if enc is None:
            return None
        texts = [item_text(it) for it in items]
        has = np.array([bool(t.strip()) for t in texts], dtype=bool)
        out: np.ndarray | None = None
        # torch's thread count is per calling thread: set it in the thread that encodes
        torch = sys.modules.get("torch")  # loaded by a sentence-transformers encoder
        if torch is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if has.any():
            got = np.asarray(enc.encode([t for t, h in zip(texts, has, strict=True) if h]),
                             dtype=np.float32)
            out = np.zeros((len(texts), got.shape[1]), dtype=np.float32)
            out[has] = got
        else:
            out = np.zeros((len(texts), 1), dtype=np.float32)
        return out

    def warm(self) -> None:
        """Load the encoder and embed one text (so that the first product is not slow)."""
        if self.encoder() is not None:
            self.embed([CatalogueItem("warm-up", "warm up")])


@dataclass(frozen=True)
class NewItems:
    """The catalogue's new products (unknown to the served model) as one request sees them.

    Attributes
    ----------
    version, model_version
        The catalogue version and the model version this view was built for.
    ids, titles, categories
        The new products, in catalogue order.
    vectors
        ``(k, d)`` float32 vectors in the model's item space (zero rows: no text), or
        ``None`` when the model has no text path.
    ranked
        Whether the served model ranks them (:attr:`NewItemSpace.ranks_new_items`).
    note
        Why not, when not.
    basis
        What their scores and similarities rest on (shown in responses).
    """

    version: int
    model_version: int
    ids: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    categories: tuple[str | None, ...] = ()
    vectors: np.ndarray | None = None
    ranked: bool = False
    note: str | None = None
    basis: str | None = None
    index: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, item_id: str) -> int:
        """Index of a new product, -1 when it is not one."""
        return self.index.get(str(item_id), -1)

    def summary(self) -> dict[str, Any] | None:
        """The ``new_products`` object of a list response (``None`` without new products)."""
        if not self.ids:
            return None
        return {"count": len(self.ids), "ranked": self.ranked, "basis": self.basis,
                "note": self.note}


def build_new_items(store: CatalogueStore, space: NewItemSpace, version: int,
                    model_version: int, known: Iterable[bool], items: list[CatalogueItem],
                    raw_cache: dict[str, np.ndarray] | None = None) -> NewItems:
    """The view of ``items`` (the whole catalogue) that the model does not know (``known``
    per item): their vectors from the raw embeddings of ``raw_cache`` (by item id, of the
    model's encoder; updated here), else stored ones, else embedded now (and stored)."""
    new = [it for it, k in zip(items, known, strict=True) if not k]
    ids = tuple(it.item_id for it in new)
    titles = tuple(it.title for it in new)
    categories = tuple(it.category for it in new)
    index = {i: k for k, i in enumerate(ids)}
    name = space.encoder_name if space.ranks_new_items else None
    if name is None:
        return NewItems(version, model_version, ids, titles, categories, None, False,
                        space.error, None, index)
    raw = {} if raw_cache is None else raw_cache
    raw.update(store.vectors(name, [it for it in new if it.item_id not in raw]))
    missing = [it for it in new if it.item_id not in raw]
    if missing:
        got = space.embed(missing)
        assert got is not None
        store.put_vectors(name, missing, got)
        raw.update({it.item_id: v for it, v in zip(missing, got, strict=True)})
    assert isinstance(space.model, ScoresNewItems)
    dim = space.model.item_vectors().shape[1]
    R = np.zeros((len(new), dim), dtype=np.float32)
    for k, it in enumerate(new):
        v = raw[it.item_id]
        if v.shape == (dim,):
            R[k] = v
        elif np.abs(v).sum() > 0:
            raise DataFormatError(f"stored embedding of {it.item_id!r} has {v.shape[0]} "
                                  f"dimensions, the model's {dim}")
    V = space.model.new_item_vectors(R) if len(new) else R
    basis = f"text: {space.model_name}'s item vectors ({name})"
    return NewItems(version, model_version, ids, titles, categories, V, True, None, basis,
                    index)


def read_catalogue_frame(path: str | os.PathLike[str]) -> Any:
    """The catalogue table of a state store as an ``item_info`` frame (index ``item_id``;
    ``title``, ``description`` (the product's text), ``category`` and the shop fields), for a
    retrain: the products added since the model was trained join its catalogue and carry
    their text (``None`` when the store has no catalogue or it is empty)."""
    import pandas as pd

    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                              "name = 'catalogue'").fetchone()
        if not exists:
            return None
        rows = conn.execute("SELECT item_id, title, text, category, fields FROM catalogue "
                            "ORDER BY seq").fetchall()
    finally:
        conn.close()
    if not rows:
        return None
    records = [{**json.loads(r[4] or "{}"), "title": r[1], "description": r[2],
                "category": r[3]} for r in rows]
    return pd.DataFrame(records, index=pd.Index([str(r[0]) for r in rows], name="item_id"))


# ---------------------------------------------------------------------------------------------
# the --items file
# ---------------------------------------------------------------------------------------------

def read_items_file(path: str | os.PathLike[str]) -> list[CatalogueItem]:
    """Products from a CSV, JSON (a list of objects, or ``{"items": [...]}``) or JSON-lines
    file: ``item_id`` and ``title`` required, ``text`` and ``category`` optional, any other
    column a shop field (brand, price, in_stock, margin, ...). A CSV file's fields are typed
    as JSON would give them: ``true`` / ``false`` (any case) a boolean, a plain decimal number
    a number (``12``, ``-3.5``; not ``007`` or ``1e5``), anything else text.

    Raises
    ------
    DataFormatError
        Unreadable file, a missing column or a bad row (one line naming the row and field).
    """
    import pandas as pd

    p = Path(path)
    csv = p.suffix.lower() not in (".json", ".jsonl", ".ndjson")
    try:
        if not csv:
            text = p.read_text(encoding="utf-8")
            if p.suffix.lower() == ".json":
                data = json.loads(text)
                rows = data.get("items") if isinstance(data, dict) else data
            else:
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise DataFormatError(f"{p}: expected a list of objects (or "
                                      '{"items": [...]})')
        else:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False)
            rows = frame.to_dict("records")
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read the items file {p}: {exc}") from None
    out = []
    for n, r in enumerate(rows, start=1):
        item_id = r.get("item_id")
        title = r.get("title")
        if item_id is None or str(item_id).strip() == "":
            raise DataFormatError(f"{p}: item {n}: item_id is missing")
        if title is None or str(title).strip() == "":
            raise DataFormatError(f"{p}: item {n} ({item_id}): title is missing")
        typed = _typed if csv else _scalar
        fields = {k: typed(v) for k, v in r.items()
                  if k not in ITEM_COLUMNS and typed(v) is not None}
        out.append(CatalogueItem(str(item_id), str(title).strip(),
                                 _text(r.get("text")), _text(r.get("category")), fields))
    return out


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def _scalar(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    if isinstance(v, (str, int, float, bool)):
        return v
    raise ConfigError(f"shop field value {v!r} is not a string, number or boolean")


_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?$")


def _typed(v: Any) -> Any:
    """A CSV cell as a JSON value would be (see :func:`read_items_file`)."""
    v = _scalar(v)
    if not isinstance(v, str):
        return v
    s = v.strip()
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    if _NUMBER.match(s):
        return float(s) if "." in s else int(s)
    return v
