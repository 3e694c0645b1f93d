"""The catalogue as one server process serves it: the store, the served model's text space and
the view of the new products (see :mod:`synerec.service.catalogue`).

:meth:`Products.add` embeds the products with the served model's encoder and stores them (and
their raw embeddings) in one transaction before it returns: an acknowledged product is
durable and, for a model that ranks new products, recommendable at the next request of any
worker process (:meth:`Products.view` compares the catalogue's version, one index lookup).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synerec.service.catalogue import (
    CatalogueItem,
    CatalogueStore,
    NewItems,
    NewItemSpace,
    build_new_items,
)
from synerec.service.engine import known_item_ids
from synerec.service.model_store import ModelSnapshot

__all__ = ["AddedItems", "Products"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddedItems:
    """What :meth:`Products.add` stored."""

    accepted: int
    changed: int
    catalogue_version: int
    embedded: bool
    encoder: str | None
    ranked: bool
    note: str | None
    seconds: float


class Products:
    """The catalogue store plus what the served model makes of it (one per process)."""

    #: How long a read of the catalogue's version is reused (seconds): the hot path of a list
    #: asks at most about this often; a product stored by this process is seen at once, one
    #: stored by another worker process within this time.
    VERSION_TTL_S = 0.01

    def __init__(self, store: CatalogueStore, encoder_threads: int = 1) -> None:
        self.store = store
        self.encoder_threads = int(encoder_threads)
        self._version = 0
        self._version_at = -1.0
        self._lock = threading.Lock()
        self._space: tuple[ModelSnapshot, NewItemSpace] | None = None
        self._view: NewItems | None = None
        # what this process has read of the catalogue (by id), up to change number _seq, and
        # the raw embeddings of those products by the encoder _raw_encoder
        self._items: dict[str, CatalogueItem] = {}
        self._seq = 0
        self._raw: dict[str, np.ndarray] = {}
        self._raw_encoder: str | None = None
        self._build = threading.Lock()

    def space(self, snap: ModelSnapshot) -> NewItemSpace:
        """The served model's :class:`NewItemSpace` (one per snapshot)."""
        got = self._space
        if got is not None and got[0] is snap:
            return got[1]
        with self._lock:
            got = self._space
            if got is None or got[0] is not snap:
                got = (snap, NewItemSpace(snap.model, snap.model_name, self.encoder_threads))
                self._space = got
            return got[1]

    def version(self) -> int:
        """The catalogue's version (one index lookup, at most every :attr:`VERSION_TTL_S`)."""
        now = time.monotonic()
        if now - self._version_at >= self.VERSION_TTL_S:
            self._version, self._version_at = self.store.version(), now
        return self._version

    def cached_view(self, snap: ModelSnapshot, version: int) -> NewItems | None:
        """The view of ``version`` for ``snap`` if it is built already (no work)."""
        v = self._view
        if v is not None and v.version == version and v.model_version == snap.version:
            return v
        return None

    def view(self, snap: ModelSnapshot, version: int | None = None) -> NewItems:
        """The new products for ``snap`` at the catalogue's ``version`` (read when ``None``);
        rebuilt only when either changed."""
        if version is None:
            version = self.version()
        got = self.cached_view(snap, version)
        if got is not None:
            return got
        with self._lock:
            got = self.cached_view(snap, version)
            if got is not None:
                return got
        space = self.space(snap)
        with self._build:
            # only the products changed since the last read (one index range scan)
            for it in self.store.items(after_seq=self._seq):
                self._items[it.item_id] = it
                self._raw.pop(it.item_id, None)  # its text may have changed
                self._seq = max(self._seq, it.seq)
            name = space.encoder_name if space.ranks_new_items else None
            if name != self._raw_encoder:
                self._raw, self._raw_encoder = {}, name
            items = sorted(self._items.values(), key=lambda it: it.seq)
            # the rows may be newer than ``version``: the view is labelled with what it holds
            held = self._seq
            known = known_item_ids(snap, [it.item_id for it in items]).tolist()
            view = build_new_items(self.store, space, held, snap.version, known, items,
                                   self._raw)
        with self._lock:
            cur = self._view
            if cur is None or (cur.model_version, cur.version) <= (view.model_version,
                                                                    view.version):
                self._view = view
        return view

    def add(self, snap: ModelSnapshot, items: Sequence[CatalogueItem]) -> AddedItems:
        """Embed ``items`` with the served model's encoder (when it has one) and store them
        with their embeddings in one transaction (durable when this returns)."""
        start = time.perf_counter()
        space = self.space(snap)
        vectors: dict[str, np.ndarray] | None = None
        name = space.encoder_name if space.ranks_new_items else None
        if name is not None:
            # a product whose text is unchanged keeps its stored embedding (a changed shop
            # field such as the price is not embedded again)
            have = self.store.vectors(name, items)
            todo = [it for it in items if it.item_id not in have]
            E = space.embed(todo) if todo else None
            vectors = {} if E is None else {it.item_id: v
                                             for it, v in zip(todo, E, strict=True)}
        changed, version = self.store.upsert(items, vectors, name)
        if version > self._version:  # seen at once by this process's next request
            self._version, self._version_at = version, time.monotonic()
        return AddedItems(len(items), changed, version, name is not None, name,
                          space.ranks_new_items, space.error, time.perf_counter() - start)

    def patch(self, updates: Sequence[tuple[str, dict[str, Any]]],
              titles: dict[str, str]) -> tuple[int, int]:
        """Change products' attributes (:meth:`CatalogueStore.patch`, durable when this
        returns); this process's next request sees the new version."""
        changed, version = self.store.patch(updates, titles)
        if version > self._version:
            self._version, self._version_at = version, time.monotonic()
        return changed, version

    def warm(self, snap: ModelSnapshot) -> threading.Thread:
        """Load the model's encoder and build the view in a background thread."""
        def run() -> None:
            try:
                self.space(snap).warm()
                self.view(snap)
            except Exception:
                log.exception("warming the catalogue's text space failed")

        t = threading.Thread(target=run, name="catalogue-warm", daemon=True)
        t.start()
        return t

    def record(self, item_id: str) -> dict[str, Any] | None:
        """One catalogue product as the API shows it, or ``None``."""
        it = self.store.get(item_id)
        if it is None:
            return None
        return {"item_id": it.item_id, "title": it.title, "text": it.text,
                "category": it.category, "fields": it.fields, "seq": it.seq,
                "created_at": it.created_at, "updated_at": it.updated_at}
