"""The console's state beside the service's: comparison models, the base data, the text index.

:class:`ConsoleContext` is built by :func:`synerec.console.mount_console` from the service's
:class:`~synerec.service.app.ServiceState`. It holds

* the comparison models (read-only :class:`~synerec.service.model_store.ModelSnapshot`\\ s,
  loaded and checked before the server listens, never retrained);
* one :class:`ModelView` per served snapshot: its catalogue, explainer and column access, built
  on first use and dropped when a retrain replaces the snapshot;
* the base data set read again (dates, catalogue text) and the text index, both built once in a
  background thread (:meth:`ConsoleContext.start_background`), so the server answers at once;
  pages show what is ready and say what is still being prepared.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec.console.catalogue import (
    BaseData,
    ItemCatalogue,
    TextIndex,
    build_text_index,
    load_base_data,
)
from synerec.console.events import EventReader
from synerec.console.settings import ConsoleSettings
from synerec.data.dataset import InteractionDataset
from synerec.llm import Explainer
from synerec.service.model_store import load_snapshot
from synerec.text import item_texts

__all__ = ["ConsoleContext", "ModelView"]

log = logging.getLogger(__name__)


def model_dataset(model: Any, base: BaseData | None) -> InteractionDataset:
    """The model's training data as a data set (for :class:`synerec.llm.Explainer`): its
    matrix, its catalogue, and the base data's dates where they match."""
    X = model.train_.tocoo()
    ids = model.items_.ids
    cat = model.catalogue_ or {}
    titles = cat.get("title")
    info = pd.DataFrame({
        "title": [str(t) for t in titles] if titles is not None else [str(i) for i in ids],
        "category": [str(c) for c in cat["category"]] if "category" in cat else "",
    }, index=pd.Index(ids, name="item_id"))
    ts = None
    if base is not None and base.timestamps is not None:
        bu = base.users.indices(model.users_.ids, missing="negative")[X.row]
        bi = base.items.indices(ids, missing="negative")[X.col]
        ok = (bu >= 0) & (bi >= 0)
        ts = np.zeros(len(X.data), dtype=np.int64)
        if ok.any():
            ts[ok] = np.asarray(base.timestamps[bu[ok], bi[ok]]).ravel().astype(np.int64)
    return InteractionDataset(users=model.users_, items=model.items_, user_index=X.row,
                              item_index=X.col, values=X.data, timestamps=ts, item_info=info,
                              rating_scale=model.rating_scale_,
                              name=model.data_name_ or "model")


class ModelView:
    """One snapshot as the console shows it (built lazily, thread-safe, never mutated after).

    Parameters
    ----------
    label
        ``"served"`` or the comparison model's label.
    snap
        The snapshot.
    """

    def __init__(self, label: str, snap: Any, base: BaseData | None) -> None:
        self.label = label
        self.snap = snap
        self.catalogue = ItemCatalogue(snap.model)
        self._base = base
        self._lock = threading.Lock()
        self._explainer: Any = None
        self._csc: sp.csc_matrix | None = None
        self._explained: OrderedDict[tuple[str, tuple[Any, ...]], list[Any]] = OrderedDict()

    @property
    def model(self) -> Any:
        return self.snap.model

    @property
    def name(self) -> str:
        return str(self.snap.model_name)

    def explainer(self) -> Any:
        """The grounded template explainer of this model (built on first use)."""
        with self._lock:
            if self._explainer is None:
                start = time.perf_counter()
                domain = "products"
                self._explainer = Explainer(self.model, domain=domain).fit(
                    model_dataset(self.model, self._base))
                log.info("console: explainer of %s v%d ready in %.2f s", self.name,
                         self.snap.version, time.perf_counter() - start)
            return self._explainer

    def explained(self, user: str, items: tuple[Any, ...]) -> list[Any] | None:
        with self._lock:
            hit = self._explained.get((user, items))
            if hit is not None:
                self._explained.move_to_end((user, items))
            return hit

    def remember(self, user: str, items: tuple[Any, ...], whys: list[Any]) -> None:
        with self._lock:
            self._explained[(user, items)] = whys
            while len(self._explained) > 2048:
                self._explained.popitem(last=False)

    def item_column(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """User indices and training values of item index ``i``."""
        with self._lock:
            if self._csc is None:
                self._csc = self.model.train_.tocsc()
            C = self._csc
        lo, hi = C.indptr[i], C.indptr[i + 1]
        return C.indices[lo:hi], C.data[lo:hi]


@dataclass
class _Background:
    base: BaseData | None = None
    text: TextIndex | None = None
    base_done: bool = False
    text_done: bool = False
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ConsoleContext:
    """Everything the console serves from, beside the service's own state.

    Parameters
    ----------
    service
        The service's :class:`~synerec.service.app.ServiceState`.
    settings
        The console settings.
    """

    def __init__(self, service: Any, settings: ConsoleSettings) -> None:
        self.service = service
        self.settings = settings
        s = service.settings
        self.compare: dict[str, Any] = {}
        for label, path in settings.compare.items():
            self.compare[label] = load_snapshot(
                path, version=1, events_upto=0, similarity_neighbors=s.similarity_neighbors,
                precompute_n=s.precompute_n, precompute_max_users=s.precompute_max_users)
            log.info("console: comparing with %s (%s)", label, self.compare[label].model_name)
        self.events = EventReader(Path(service.events.path))
        self.state_dir = Path(s.resolved_state_dir)
        self._bg = _Background()
        self._views: dict[tuple[str, int], ModelView] = {}
        self._lock = threading.Lock()

    # -- background work ----------------------------------------------------------------------
    def start_background(self) -> threading.Thread:
        """Read the base data set again and build the text index, in a daemon thread."""
        t = threading.Thread(target=self._prepare, name="console-prepare", daemon=True)
        t.start()
        return t

    def _prepare(self) -> None:
        bg = self._bg
        try:
            s = self.service.settings
            model = self.service.store.current.model
            bg.base = load_base_data(s.base_dataset, dict(s.base_dataset_options),
                                     model.data_source_)
            bg.base_done = True
            with self._lock:
                self._views.clear()  # rebuilt with the dates
            texts, items = self._texts(model, bg.base)
            bg.text = build_text_index(texts, items, self.settings.text_encoder,
                                       self.settings.text_neighbors)
        except Exception as exc:  # the console keeps serving what it has
            log.exception("console: preparing the base data and the text index failed")
            bg.error = f"{type(exc).__name__}"
        finally:
            bg.base_done = True
            bg.text_done = True
            bg.done.set()

    @staticmethod
    def _texts(model: Any, base: BaseData | None) -> tuple[list[str], Any]:
        if base is not None and base.info is not None:
            ds = InteractionDataset(users=base.users, items=base.items,
                                    user_index=np.zeros(0, np.int32),
                                    item_index=np.zeros(0, np.int32), values=np.zeros(0),
                                    item_info=base.info, name=base.name)
            return item_texts(ds), base.items
        cat = ItemCatalogue(model)
        texts = [". ".join(p for p in (cat.title(i) or "", ", ".join(cat.category(i))) if p)
                 for i in range(len(cat.items))] if cat.has_titles else []
        return texts, cat.items

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the background work has finished (tests, benchmarks)."""
        return self._bg.done.wait(timeout)

    @property
    def base(self) -> BaseData | None:
        return self._bg.base

    @property
    def base_ready(self) -> bool:
        return self._bg.base_done

    @property
    def text(self) -> TextIndex | None:
        return self._bg.text

    @property
    def text_ready(self) -> bool:
        return self._bg.text_done

    # -- views ----------------------------------------------------------------------------------
    def served(self) -> ModelView:
        """The view of the snapshot served now."""
        return self._view("served", self.service.store.current)

    def view(self, label: str) -> ModelView | None:
        """The served view (``label == "served"``) or a comparison model's; ``None`` if unknown."""
        if label == "served":
            return self.served()
        snap = self.compare.get(label)
        return None if snap is None else self._view(label, snap)

    def _view(self, label: str, snap: Any) -> ModelView:
        key = (label, id(snap))
        with self._lock:
            v = self._views.get(key)
            if v is None or v.snap is not snap:
                if label == "served":  # a retrain replaced the snapshot: drop the old views
                    for k in [k for k in self._views if k[0] == "served"]:
                        del self._views[k]
                v = self._views[key] = ModelView(label, snap, self._bg.base)
            return v

    def labels(self) -> list[str]:
        """``"served"`` then the comparison labels."""
        return ["served", *self.compare]

    # -- keys ---------------------------------------------------------------------------------
    def read_keys(self) -> list[bytes]:
        """The keys the read policy accepts (empty: reads are open)."""
        read = list(self.service.read_keys)
        if not read:
            return []
        return read + list(self.service.api_keys)
