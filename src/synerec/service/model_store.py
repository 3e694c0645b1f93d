"""The served model: immutable snapshots swapped atomically, and the events not yet fitted.

Readers take :attr:`ModelStore.current` once per request and use only that
:class:`ModelSnapshot` (model, item similarity, popularity order, version) for the whole
request. A retrain builds a complete new snapshot (loaded from its checksummed model directory)
*before* :meth:`ModelStore.swap` replaces the reference in one assignment, so a reader sees the
old snapshot or the new one, never a mix. Snapshots are never mutated after they are built.

The served version is recorded in ``<state_dir>/CURRENT`` (JSON, written to a temporary file,
fsynced, then renamed over the old one), so a restarted server serves the last retrained model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.algorithms import Recommender
from synerec.algorithms.registry import model_name
from synerec.exceptions import ModelFileError
from synerec.service.events import EventRecord, StoredEvent
from synerec.similarity import similarity_matrix

__all__ = ["EventOverlay", "ModelSnapshot", "ModelStore", "load_snapshot"]

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"


@dataclass(frozen=True, eq=False)
class ModelSnapshot:
    """One served model and everything precomputed for it; never mutated.

    Attributes
    ----------
    model
        The fitted recommender (loaded from a checksummed, pickle-free model directory).
    version
        Served model version (1 = the model directory given at first start).
    path
        The model directory.
    events_upto
        Id of the newest stored event included in the model's training data (0: none). Newer
        events are served from the :class:`EventOverlay`.
    similarity
        ``(n_items, n_items)`` CSR item-item similarity used for profile scoring and similar
        items: the model's own (item-based models) or cosine of the training matrix's columns.
    similarity_source
        ``"model"`` or ``"service_cosine"``.
    item_based
        Whether the model itself is item-based (has its own item similarity).
    popular
        Indices of the items with training interactions by popularity, most popular first
        (ties: lower index): the cold-start fallback.
    top_items, top_scores
        Every known user's top-``precompute_n`` list (seen items excluded), computed once when
        the snapshot is built with the model's own ``recommend_indices``; a request for ``n``
        items slices its first ``n`` (the same list the model would return, ties included), so
        the hot path costs no scoring. ``None`` when disabled or the user base is too large.
    loaded_at
        Unix time the snapshot was built.
    """

    model: Recommender
    version: int
    path: Path
    events_upto: int
    similarity: sp.csr_matrix
    similarity_source: str
    item_based: bool
    popular: np.ndarray
    loaded_at: float
    top_items: np.ndarray | None = None
    top_scores: np.ndarray | None = None

    @property
    def model_name(self) -> str:
        """Registry name of the model class (``"item-cf"``)."""
        return model_name(type(self.model))

    @property
    def n_items(self) -> int:
        """Items in the model's vocabulary."""
        return int(self.model.n_items_)


def _item_similarity(model: Recommender, neighbors: int) -> tuple[sp.csr_matrix, str, bool]:
    n_items = model.n_items_
    S = getattr(model, "similarity_", None)
    if (hasattr(model, "similar_items") and isinstance(S, sp.csr_matrix)
            and S.shape == (n_items, n_items)):
        return S, "model", True
    X = model.train_.T.tocsr()
    return similarity_matrix(X, "cosine", max_neighbors=neighbors), "service_cosine", False


def _precompute_lists(model: Recommender, n: int, max_users: int,
                      batch_size: int = 2048) -> tuple[np.ndarray | None, np.ndarray | None]:
    n_users = int(model.n_users_)
    if n <= 0 or n_users > max_users:
        return None, None
    n = min(n, int(model.n_items_))
    t0 = time.perf_counter()
    users = np.arange(n_users, dtype=np.int64)
    idx, sc = model.recommend_indices(users, n, exclude_seen=True, batch_size=batch_size)
    log.info("precomputed top-%d lists of %d users in %.2f s", n, n_users,
             time.perf_counter() - t0)
    return idx, sc


def load_snapshot(path: str | os.PathLike[str], *, version: int, events_upto: int,
                  similarity_neighbors: int = 50, precompute_n: int = 0,
                  precompute_max_users: int = 500_000) -> ModelSnapshot:
    """Load a model directory (checksum verified, no pickle) and precompute a snapshot.

    ``precompute_n > 0`` also computes every known user's top-``precompute_n`` list (see
    :attr:`ModelSnapshot.top_items`) when there are at most ``precompute_max_users`` users.

    Raises
    ------
    ModelFileError
        Missing, corrupted or incompatible model directory.
    """
    model = Recommender.load(path)
    S, source, item_based = _item_similarity(model, similarity_neighbors)
    pop = np.asarray(model.item_popularity_, dtype=np.float64)
    warm = np.flatnonzero(model.item_count_ > 0)
    popular = warm[np.lexsort((warm, -pop[warm]))]
    top_items, top_scores = _precompute_lists(model, precompute_n, precompute_max_users)
    if getattr(model, "llm_enabled", False):
        # A hybrid with an LLM stage: the precomputed lists used it; requests never wait for
        # an LLM (the first ranker's order serves anything not precomputed).
        model.llm_enabled = False  # type: ignore[attr-defined]
    return ModelSnapshot(model=model, version=int(version), path=Path(path),
                         events_upto=int(events_upto), similarity=S, similarity_source=source,
                         item_based=item_based, popular=popular, loaded_at=time.time(),
                         top_items=top_items, top_scores=top_scores)


class ModelStore:
    """Holds the served :class:`ModelSnapshot` and the ``CURRENT`` record of its version.

    Parameters
    ----------
    state_dir
        The service's state folder (``CURRENT`` and ``models/`` live here).
    initial_model_dir
        Served as version 1 when ``CURRENT`` does not exist yet.
    similarity_neighbors
        Neighbours per item of the service's cosine similarity (models without their own).
    precompute_n, precompute_max_users
        Precomputed top-N lists of each snapshot (see :func:`load_snapshot`).
    """

    def __init__(self, state_dir: str | os.PathLike[str], initial_model_dir: str | os.PathLike[str],
                 similarity_neighbors: int = 50, *, precompute_n: int = 0,
                 precompute_max_users: int = 500_000) -> None:
        self.state_dir = Path(state_dir)
        self.models_dir = self.state_dir / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.similarity_neighbors = similarity_neighbors
        self._swap_lock = threading.Lock()
        record = self._read_current()
        if record is None:
            snap = load_snapshot(initial_model_dir, version=1, events_upto=0,
                                 similarity_neighbors=similarity_neighbors,
                                 precompute_n=precompute_n,
                                 precompute_max_users=precompute_max_users)
        else:
            snap = load_snapshot(self._resolve(record["path"]), version=int(record["version"]),
                                 events_upto=int(record["events_upto"]),
                                 similarity_neighbors=similarity_neighbors,
                                 precompute_n=precompute_n,
                                 precompute_max_users=precompute_max_users)
        self._current = snap
        log.info("serving %s model version %d from %s", snap.model_name, snap.version, snap.path)

    @property
    def current(self) -> ModelSnapshot:
        """The snapshot to use for one whole request (read once, then keep the reference)."""
        return self._current

    def next_model_dir(self, version: int) -> Path:
        """Where the model of ``version`` is written."""
        return self.models_dir / f"v{version:05d}"

    def swap(self, snapshot: ModelSnapshot) -> ModelSnapshot:
        """Serve ``snapshot`` from now on; record it in ``CURRENT``; return the previous one.

        ``CURRENT`` is written (atomically) before the reference is replaced, so a crash in
        between serves the new model after a restart, as the caller was told.
        """
        with self._swap_lock:
            old = self._current
            if snapshot.version <= old.version:
                raise ModelFileError(f"model version {snapshot.version} is not newer than the "
                                     f"served version {old.version}")
            self._write_current(snapshot)
            self._current = snapshot  # one reference assignment: readers see old or new
        log.info("swapped model version %d -> %d (%s)", old.version, snapshot.version,
                 snapshot.path)
        return old

    # -- CURRENT ------------------------------------------------------------------------------
    def _resolve(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.state_dir / path

    def _read_current(self) -> dict[str, Any] | None:
        f = self.state_dir / CURRENT_FILE
        if not f.is_file():
            return None
        try:
            record = json.loads(f.read_text(encoding="utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
            int(record["version"])
            int(record["events_upto"])
            str(record["path"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{f} is unreadable ({exc}); remove it to serve the initial "
                                 "model again") from None
        return record

    def _write_current(self, snap: ModelSnapshot) -> None:
        try:
            rel: str = str(snap.path.resolve().relative_to(self.state_dir.resolve()))
        except ValueError:
            rel = str(snap.path.resolve())
        record = {"version": snap.version, "path": rel, "events_upto": snap.events_upto,
                  "model": snap.model_name, "swapped_at": time.time()}
        target = self.state_dir / CURRENT_FILE
        tmp = self.state_dir / f".{CURRENT_FILE}.{uuid.uuid4().hex}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(record, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class EventOverlay:
    """Events stored after the served model was fitted, by user, in memory.

    Each entry is ``(event_id, item_id, rating, event)``. Readers pass the snapshot's
    ``events_upto`` so that a request only ever sees events newer than its own model.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: dict[str, list[tuple[int, str, float | None, str | None]]] = {}
        self._n_events = 0

    def add(self, first_id: int, records: Sequence[EventRecord]) -> None:
        """Add a stored batch whose ids are ``first_id, first_id + 1, ...``."""
        with self._lock:
            for k, e in enumerate(records):
                self._by_user.setdefault(e.user_id, []).append(
                    (first_id + k, e.item_id, e.rating, e.event))
            self._n_events += len(records)

    def load(self, events: Sequence[StoredEvent]) -> None:
        """Add events read back from the store (at start-up)."""
        with self._lock:
            for e in events:
                self._by_user.setdefault(e.user_id, []).append(
                    (e.id, e.item_id, e.rating, e.event))
            self._n_events += len(events)

    def for_user(self, user_id: str, after_id: int
                 ) -> list[tuple[int, str, float | None, str | None]]:
        """The user's events with ``id > after_id``, oldest first (a copy)."""
        with self._lock:
            rows = self._by_user.get(user_id)
            if not rows:
                return []
            return [r for r in rows if r[0] > after_id]

    def prune(self, upto_id: int) -> None:
        """Forget events with ``id <= upto_id`` (now part of the served model)."""
        with self._lock:
            kept: dict[str, list[tuple[int, str, float | None, str | None]]] = {}
            n = 0
            for user, rows in self._by_user.items():
                newer = [r for r in rows if r[0] > upto_id]
                if newer:
                    kept[user] = newer
                    n += len(newer)
            self._by_user = kept
            self._n_events = n

    @property
    def n_users(self) -> int:
        """Users with events newer than the served model."""
        return len(self._by_user)

    @property
    def n_events(self) -> int:
        """Events newer than the served model."""
        return self._n_events
