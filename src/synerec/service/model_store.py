"""The served model: immutable snapshots swapped atomically, shared by the worker processes.

Readers take :attr:`ModelStore.current` once per request and use only that
:class:`ModelSnapshot` (model, item similarity, popularity order, version) for the whole
request. A new snapshot is built completely (loaded from its checksummed model directory)
*before* the reference is replaced in one assignment, so a reader sees the old snapshot or the
new one, never a mix. Snapshots are never mutated after they are built.

Versions and ``CURRENT``
------------------------
The served version is recorded in ``<state_dir>/CURRENT`` (JSON, written to a temporary file,
fsynced, then renamed over the old one), so a restarted server serves the last retrained model.
Only the process holding the retrain lock writes ``CURRENT`` (:meth:`ModelStore.publish`); every
worker process checks it every ``reload_interval_s`` (:meth:`ModelStore.refresh`) and adopts a
newer version. Retrained versions live in ``<state_dir>/models/vNNNNN``; a new version number is
always larger than every existing directory (a crashed retrain's leftovers included), and
:meth:`ModelStore.prune` keeps the newest ``keep`` of them.

Shared, memory-mapped serving files
-----------------------------------
A model is loaded memory-mapped (:func:`synerec.algorithms.persistence.memory_mapped`): the
worker processes share its pages. What the service precomputes for a model version (every
known user's top-``precompute_n`` list and, for models without their own, the item-item cosine
similarity) is written once to ``<state_dir>/cache/<model digest>-n<N>-k<K>-u<U>/`` (the same
checksummed ``.npz`` + JSON format, under ``cache.lock``) and memory-mapped by every worker, so
the lists are computed once per model, by the retrain worker or the first server process.
For a model that explains its own lists (:class:`~synerec.algorithms.abilities.ExplainsList`:
the hybrid), the explanations of every known user's first ``explain_n`` precomputed items are
written there too (:class:`PrecomputedReasons`, when there are at most ``explain_max_users``
users): an ``explain=true`` request then reads its reasons instead of computing them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ExplainsList, ScoresSequence, SimilarItems
from synerec.algorithms.persistence import memory_mapped, read_model_dir, write_model_dir
from synerec.exceptions import ModelFileError
from synerec.models import load_model, model_name
from synerec.service.locks import FileLock
from synerec.similarity import similarity_matrix

__all__ = ["ModelSnapshot", "ModelStore", "PrecomputedReasons", "load_snapshot", "model_digest"]

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
CACHE_CLASS = "synerec-serving-cache"
_VERSION_DIR = re.compile(r"^v(\d{5,})$")


@dataclass(frozen=True, eq=False)
class PrecomputedReasons:
    """The reasons of every user's first :attr:`n` precomputed items (``top_items[:, :n]``),
    UTF-8 in one byte array: reason ``(u, k)`` is ``data[offsets[u * n + k]:offsets[u * n + k
    + 1]]`` (empty: no item at that place)."""

    n: int
    offsets: np.ndarray
    data: np.ndarray

    @classmethod
    def encode(cls, texts: list[list[str]], n: int) -> PrecomputedReasons:
        """From each user's reasons, in list order (``n`` per user at most)."""
        blobs = [t.encode("utf-8") for row in texts
                 for t in (row[:n] + [""] * (n - len(row[:n])))]
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in blobs], out=offsets[1:])
        return cls(n, offsets, np.frombuffer(b"".join(blobs), dtype=np.uint8))

    @classmethod
    def from_arrays(cls, arrays: Any) -> PrecomputedReasons | None:
        """From the serving arrays (``None`` when none were precomputed)."""
        if "reason_offsets" not in arrays:
            return None
        return cls(int(arrays["reason_n"][0]), arrays["reason_offsets"], arrays["reason_data"])

    def arrays(self) -> dict[str, np.ndarray]:
        """The serving arrays that hold them."""
        return {"reason_n": np.array([self.n], dtype=np.int64), "reason_offsets": self.offsets,
                "reason_data": self.data}

    def of(self, user: int, k: int) -> str | None:
        """The reason of user ``user``'s ``k``-th precomputed item (``None``: none stored)."""
        if k >= self.n:
            return None
        at = user * self.n + k
        text = bytes(self.data[self.offsets[at]:self.offsets[at + 1]]).decode("utf-8")
        return text or None


def _explained(model: Recommender, top: np.ndarray, n: int) -> PrecomputedReasons:
    """The model's reasons of every user's first ``n`` items of ``top``, in blocks."""
    assert isinstance(model, ExplainsList)
    t0 = time.perf_counter()
    texts: list[list[str]] = []
    for start in range(0, top.shape[0], _EXPLAIN_BLOCK):
        users = np.arange(start, min(start + _EXPLAIN_BLOCK, top.shape[0]), dtype=np.int64)
        texts += model.explain_texts(users, np.asarray(top[users, :n]))
    log.info("precomputed the reasons of %d users' top-%d lists in %.2f s", top.shape[0], n,
             time.perf_counter() - t0)
    return PrecomputedReasons.encode(texts, n)


#: Users explained per block when the reasons are precomputed.
_EXPLAIN_BLOCK = 256


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
        The model directory (never shown to clients).
    events_upto
        Id of the newest stored event included in the model's training data (0: none). Newer
        events are read per user from the event store.
    similarity
        ``(n_items, n_items)`` CSR item-item similarity used for profile scoring and similar
        items: the model's own (item-based models) or cosine of the training matrix's columns.
    similarity_source
        ``"model"`` or ``"service_cosine"``.
    item_based
        Whether the model itself is item-based (has its own item similarity).
    popular, popular_scores
        The list an unknown user gets (the model's own
        :meth:`~synerec.algorithms.recommending.Recommending.popular_items`: every item it
        may recommend, most popular first, ties by the lower index) and its scores: the
        cold-start fallback.
    loaded_at
        Unix time the snapshot was built.
    top_items, top_scores
        Every known user's top-``precompute_n`` list (seen items excluded), computed with the
        model's own ``recommend_indices``; a request for ``n`` items slices its first ``n``
        (the same list the model would return, ties included). ``None`` when disabled or the
        user base is too large.
    top_reasons
        The reasons of every user's first ``explain_n`` precomputed items, for a model that
        explains its own lists (:class:`PrecomputedReasons`; ``None``: none precomputed).
    digest
        sha256 (hex, 16 digits) of the model's ``model.json``, which holds the arrays'
        checksum: identifies the model without naming its path.
    """

    model: Recommender
    version: int
    path: Path
    events_upto: int
    similarity: sp.csr_matrix
    similarity_source: str
    item_based: bool
    popular: np.ndarray
    popular_scores: np.ndarray
    loaded_at: float
    top_items: np.ndarray | None = None
    top_scores: np.ndarray | None = None
    digest: str = ""
    top_reasons: PrecomputedReasons | None = None

    @property
    def model_name(self) -> str:
        """Registry name of the model class (``"item-cf"``)."""
        return model_name(type(self.model))

    @property
    def explains_itself(self) -> bool:
        """Whether the model writes its own explanation per item
        (:class:`~synerec.algorithms.abilities.ExplainsList`; the hybrid: the signals that put
        the item on the list and the evidence behind each)."""
        return isinstance(self.model, ExplainsList)

    @property
    def reads_sequence(self) -> bool:
        """Whether the model scores a user from their items in time order
        (:class:`~synerec.algorithms.abilities.ScoresSequence`, ``sasrec``): the service
        appends a user's newer events to their training sequence (strategy ``sequence``)."""
        return isinstance(self.model, ScoresSequence)

    @property
    def n_items(self) -> int:
        """Items in the model's vocabulary."""
        return int(self.model.n_items_)

    @functools.cached_property
    def item_ids(self) -> np.ndarray:
        """Every item id as a plain Python value (object array), by index: ``ids_of`` of the
        vocabulary converts its whole index on each call, this is converted once."""
        ids = self.model.items_.ids
        out = np.empty(len(ids), dtype=object)
        out[:] = [v.item() if isinstance(v, np.generic) else v for v in ids]
        return out

    @functools.cached_property
    def integer_user_ids(self) -> bool:
        """Whether the user ids are integers (looked up as such)."""
        return self.model.users_.to_array().dtype.kind in "iu"

    @functools.cached_property
    def integer_item_ids(self) -> bool:
        """Whether the item ids are integers (looked up as such)."""
        return self.model.items_.to_array().dtype.kind in "iu"

    @functools.cached_property
    def rankable(self) -> np.ndarray | None:
        """The items the model may recommend
        (:meth:`~synerec.algorithms.recommending.Recommending.rankable_items`)."""
        return self.model.rankable_items()


def model_digest(path: str | os.PathLike[str]) -> str:
    """16 hex digits of the sha256 of a model directory's ``model.json``."""
    try:
        data = (Path(path) / "model.json").read_bytes()
    except OSError as exc:
        raise ModelFileError(f"model {path} cannot be read: {exc.strerror or exc}") from None
    return hashlib.sha256(data).hexdigest()[:16]


def _own_similarity(model: Recommender) -> sp.csr_matrix | None:
    """The model's own item similarity (:class:`~synerec.algorithms.abilities.SimilarItems`),
    or ``None``."""
    return model.item_similarity() if isinstance(model, SimilarItems) else None


def _compute_serving_arrays(model: Recommender, neighbors: int, precompute_n: int,
                            max_users: int, explain_n: int = 0,
                            explain_max_users: int = 0) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    if _own_similarity(model) is None:
        X = model.train_.T.tocsr()
        S = similarity_matrix(X, "cosine", max_neighbors=neighbors)
        arrays.update({"similarity_indptr": S.indptr.astype(np.int64),
                       "similarity_indices": S.indices.astype(np.int32),
                       "similarity_data": S.data.astype(np.float32)})
    n_users = int(model.n_users_)
    if precompute_n > 0 and n_users <= max_users:
        n = min(precompute_n, int(model.n_items_))
        t0 = time.perf_counter()
        idx, sc = model.recommend_indices(np.arange(n_users, dtype=np.int64), n,
                                          exclude_seen=True, batch_size=2048)
        log.info("precomputed top-%d lists of %d users in %.2f s", n, n_users,
                 time.perf_counter() - t0)
        arrays["top_items"] = np.ascontiguousarray(idx)
        arrays["top_scores"] = np.ascontiguousarray(sc)
        if explain_n > 0 and isinstance(model, ExplainsList) and n_users <= explain_max_users:
            arrays.update(_explained(model, arrays["top_items"], min(explain_n, n)).arrays())
    return arrays


def _serving_arrays(model: Recommender, digest: str, cache_dir: Path | None, neighbors: int,
                    precompute_n: int, max_users: int, mmap: bool, explain_n: int = 0,
                    explain_max_users: int = 0) -> dict[str, np.ndarray]:
    """Precomputed serving arrays: from the shared cache, else computed (and cached)."""
    explain_n = explain_n if isinstance(model, ExplainsList) else 0

    def compute() -> dict[str, np.ndarray]:
        return _compute_serving_arrays(model, neighbors, precompute_n, max_users, explain_n,
                                       explain_max_users)

    if cache_dir is None:
        return compute()
    config = {"model_digest": digest, "precompute_n": int(precompute_n),
              "similarity_neighbors": int(neighbors), "precompute_max_users": int(max_users),
              "explain_n": int(explain_n), "explain_max_users": int(explain_max_users)}
    target = cache_dir / (f"{digest}-n{precompute_n}-k{neighbors}-u{max_users}"
                          f"-e{explain_n}-x{explain_max_users}")

    def read() -> dict[str, np.ndarray] | None:
        if not (target / "model.json").is_file():
            return None
        try:
            mf = read_model_dir(target, mmap=mmap)
        except ModelFileError as exc:
            log.warning("serving cache %s is damaged (%s); computing it again", target, exc)
            return None
        if mf.class_name != CACHE_CLASS or mf.config != config:
            log.warning("serving cache %s does not match its model; computing it again",
                        target)
            return None
        return mf.arrays

    got = read()
    if got is not None:
        return got
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(cache_dir / ".lock")
        lock.acquire(blocking=True, note="cache")
    except OSError as exc:
        log.warning("serving cache unavailable (%s); computing in this process", exc)
        return compute()
    try:
        got = read()  # another process may have written it while we waited
        if got is not None:
            return got
        arrays = compute()
        try:
            write_model_dir(target, class_name=CACHE_CLASS, config=config, arrays=arrays)
        except ModelFileError as exc:  # full or read-only disk: serve from memory
            log.warning("could not write the serving cache: %s", exc)
            return arrays
        return read() or arrays
    finally:
        lock.release()


def load_snapshot(path: str | os.PathLike[str], *, version: int, events_upto: int,
                  similarity_neighbors: int = 50, precompute_n: int = 0,
                  precompute_max_users: int = 500_000, cache_dir: str | os.PathLike[str] |
                  None = None, mmap: bool = False, explain_n: int = 0,
                  explain_max_users: int = 0) -> ModelSnapshot:
    """Load a model directory (checksums verified, no pickle) and build a snapshot.

    Parameters
    ----------
    path
        The model directory.
    version, events_upto
        See :class:`ModelSnapshot`.
    similarity_neighbors
        Neighbours per item of the service's cosine similarity (models without their own).
    precompute_n, precompute_max_users
        Precompute every known user's top-``precompute_n`` list when there are at most
        ``precompute_max_users`` users (``precompute_n=0``: never).
    explain_n, explain_max_users
        For a model that explains its own lists, precompute the reasons of every known user's
        first ``explain_n`` precomputed items when there are at most ``explain_max_users``
        users (``explain_n=0``: never).
    cache_dir
        Folder of the shared serving cache (see the module docstring); ``None``: compute in
        this process and keep in memory.
    mmap
        Memory-map the model's and the cache's arrays (copy-on-write).

    Raises
    ------
    ModelFileError
        Missing, corrupted or incompatible model directory.
    """
    path = Path(path)
    digest = model_digest(path)
    with memory_mapped(mmap):
        model = load_model(path)
    arrays = _serving_arrays(model, digest, None if cache_dir is None else Path(cache_dir),
                             similarity_neighbors, precompute_n, precompute_max_users, mmap,
                             explain_n, explain_max_users)
    own = _own_similarity(model)
    if own is not None:
        S, source = own, "model"
    else:
        n = model.n_items_
        S = sp.csr_matrix((arrays["similarity_data"], arrays["similarity_indices"],
                           arrays["similarity_indptr"]), shape=(n, n))
        source = "service_cosine"
    # the precomputed lists are made; what a request must never wait for goes (the hybrid:
    # its LLM stage, the first ranker's order serves anything not precomputed)
    model.prepare_serving()
    popular, popular_scores = model.popular_items()
    return ModelSnapshot(model=model, version=int(version), path=path,
                         events_upto=int(events_upto), similarity=S, similarity_source=source,
                         item_based=own is not None, popular=popular,
                         popular_scores=popular_scores, loaded_at=time.time(),
                         top_items=arrays.get("top_items"),
                         top_scores=arrays.get("top_scores"), digest=digest,
                         top_reasons=PrecomputedReasons.from_arrays(arrays))


class ModelStore:
    """Holds the served :class:`ModelSnapshot` and the ``CURRENT`` record of its version.

    Parameters
    ----------
    state_dir
        The service's state folder (``CURRENT``, ``models/`` and ``cache/`` live here).
    initial_model_dir
        Served as version 1 when ``CURRENT`` does not exist yet.
    similarity_neighbors, precompute_n, precompute_max_users, explain_n, explain_max_users
        See :func:`load_snapshot`.
    mmap, shared_cache
        Memory-map the arrays; keep the precomputed serving files in ``<state_dir>/cache``.
    """

    def __init__(self, state_dir: str | os.PathLike[str], initial_model_dir: str | os.PathLike[str],
                 similarity_neighbors: int = 50, *, precompute_n: int = 0,
                 precompute_max_users: int = 500_000, mmap: bool = False,
                 shared_cache: bool = False, explain_n: int = 0,
                 explain_max_users: int = 0) -> None:
        self.state_dir = Path(state_dir)
        self.models_dir = self.state_dir / "models"
        self.cache_dir = self.state_dir / "cache" if shared_cache else None
        self.initial_model_dir = Path(initial_model_dir)
        self.similarity_neighbors = similarity_neighbors
        self.precompute_n = precompute_n
        self.precompute_max_users = precompute_max_users
        self.explain_n = explain_n
        self.explain_max_users = explain_max_users
        self.mmap = mmap
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._swap_lock = threading.Lock()
        self._seen_current: tuple[int, int, int] | None = None
        self._variants: dict[Path, ModelSnapshot] = {}  # experiments' models, by directory
        record = self._read_current()
        if record is None:
            snap = self.load(initial_model_dir, version=1, events_upto=0)
        else:
            snap = self.load(self._resolve(record["path"]), version=int(record["version"]),
                             events_upto=int(record["events_upto"]))
        self._current = snap
        log.info("serving %s model version %d (%s)", snap.model_name, snap.version, snap.digest)

    def load(self, path: str | os.PathLike[str], *, version: int, events_upto: int
             ) -> ModelSnapshot:
        """:func:`load_snapshot` with this store's options."""
        return load_snapshot(path, version=version, events_upto=events_upto,
                             similarity_neighbors=self.similarity_neighbors,
                             precompute_n=self.precompute_n,
                             precompute_max_users=self.precompute_max_users,
                             cache_dir=self.cache_dir, mmap=self.mmap, explain_n=self.explain_n,
                             explain_max_users=self.explain_max_users)

    @property
    def current(self) -> ModelSnapshot:
        """The snapshot to use for one whole request (read once, then keep the reference)."""
        return self._current

    def variant(self, path: str | os.PathLike[str]) -> ModelSnapshot:
        """The snapshot of another saved model (an experiment's variant), loaded once with
        this store's options (version 1, no events folded in: the user's pending events are
        its overlay) and kept; the served model (:attr:`current`) is not affected."""
        got = self._variants.get(Path(path)) or self._variants.get(Path(path).resolve())
        if got is None:
            got = self.load(path, version=1, events_upto=0)
            self._variants[Path(path).resolve()] = got
            log.info("loaded experiment model %s (%s)", got.model_name, got.digest)
        self._variants[Path(path)] = got  # looked up as given, without a filesystem call
        return got

    def loaded_variant(self, path: str | os.PathLike[str]) -> ModelSnapshot | None:
        """The snapshot :meth:`variant` loaded for ``path`` (``None``: not loaded)."""
        return self._variants.get(Path(path))

    # -- versions -----------------------------------------------------------------------------
    def next_model_dir(self, version: int) -> Path:
        """Where the model of ``version`` is written."""
        return self.models_dir / f"v{version:05d}"

    def existing_versions(self) -> list[int]:
        """Versions that have a directory in ``models/`` (complete or not), ascending."""
        out = []
        try:
            for p in self.models_dir.iterdir():
                m = _VERSION_DIR.match(p.name)
                if m and p.is_dir():
                    out.append(int(m.group(1)))
        except OSError:
            pass
        return sorted(out)

    def next_version(self) -> int:
        """A version number above the served one, ``CURRENT``'s and every directory's.

        Call it holding the retrain lock, so that no other process picks the same number.
        """
        record = self._read_current(strict=False)
        recorded = int(record["version"]) if record else 0
        return max([self._current.version, recorded, *self.existing_versions()]) + 1

    def publish(self, snapshot: ModelSnapshot) -> ModelSnapshot:
        """Serve ``snapshot`` from now on and record it in ``CURRENT``; return the previous one.

        ``CURRENT`` is written (atomically) before the reference is replaced, so a crash in
        between serves the new model after a restart, as the caller was told. The other worker
        processes adopt it at their next :meth:`refresh`.
        """
        with self._swap_lock:
            old = self._current
            if snapshot.version <= old.version:
                raise ModelFileError(f"model version {snapshot.version} is not newer than the "
                                     f"served version {old.version}")
            self._write_current(snapshot)
            self._current = snapshot  # one reference assignment: readers see old or new
        log.info("published model version %d -> %d", old.version, snapshot.version)
        return old

    swap = publish  # the name of earlier releases

    def adopt(self, snapshot: ModelSnapshot) -> bool:
        """Serve ``snapshot`` (published by another process) if it is newer; no file written."""
        with self._swap_lock:
            if snapshot.version <= self._current.version:
                return False
            self._current = snapshot
        log.info("adopted model version %d", snapshot.version)
        return True

    def refresh(self) -> bool:
        """Adopt the version recorded in ``CURRENT`` if it is newer than the served one.

        Cheap when nothing changed (one ``stat``). A version that fails to load is logged and
        not tried again until ``CURRENT`` changes; the served model stays.
        """
        f = self.state_dir / CURRENT_FILE
        try:
            st = f.stat()
        except OSError:
            return False
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._seen_current:
            return False
        self._seen_current = key
        record = self._read_current(strict=False)
        if record is None or int(record["version"]) <= self._current.version:
            return False
        try:
            snap = self.load(self._resolve(record["path"]), version=int(record["version"]),
                             events_upto=int(record["events_upto"]))
        except (ModelFileError, OSError) as exc:
            log.error("cannot load model version %s recorded in CURRENT (still serving %d): "
                      "%s", record["version"], self._current.version, exc)
            return False
        return self.adopt(snap)

    def prune(self, keep: int) -> list[int]:
        """Delete version directories but the newest ``keep`` up to the served one.

        Also deletes versions above the served one (left by a crashed retrain), temporary
        directories of interrupted writes, and serving-cache entries of deleted models. Call
        it holding the retrain lock. Returns the deleted versions.
        """
        cur = self._current.version
        versions = self.existing_versions()
        kept = set(sorted(v for v in versions if v <= cur)[-keep:]) | {cur}
        removed = []
        for v in versions:
            if v not in kept:
                shutil.rmtree(self.next_model_dir(v), ignore_errors=True)
                removed.append(v)
        for leftover in self.models_dir.glob(".v*.*-*"):  # .v00003.tmp-<uuid>, .old-<uuid>
            shutil.rmtree(leftover, ignore_errors=True)
        if self.cache_dir is not None and self.cache_dir.is_dir():
            digests = set()
            for d in [self.initial_model_dir, *(self.next_model_dir(v) for v in kept)]:
                try:
                    digests.add(model_digest(d))
                except ModelFileError:
                    continue
            digests |= {v.digest for v in self._variants.values()}  # experiments' models
            for entry in self.cache_dir.iterdir():
                if entry.is_dir() and entry.name.split("-", 1)[0] not in digests:
                    shutil.rmtree(entry, ignore_errors=True)
        if removed:
            log.info("pruned model versions %s (keeping %s)", removed, sorted(kept))
        return removed

    # -- CURRENT ------------------------------------------------------------------------------
    def _resolve(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.state_dir / path

    def _read_current(self, strict: bool = True) -> dict[str, Any] | None:
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
            if not strict:
                log.warning("%s is unreadable (%s)", f, exc)
                return None
            raise ModelFileError(f"{f} is unreadable ({exc}); remove it to serve the initial "
                                 "model again") from None
        return record

    def _write_current(self, snap: ModelSnapshot) -> None:
        try:
            rel: str = str(snap.path.resolve().relative_to(self.state_dir.resolve()))
        except ValueError:
            rel = str(snap.path.resolve())
        record = {"version": snap.version, "path": rel, "events_upto": snap.events_upto,
                  "model": snap.model_name, "digest": snap.digest, "swapped_at": time.time()}
        target = self.state_dir / CURRENT_FILE
        tmp = self.state_dir / f".{CURRENT_FILE}.{uuid.uuid4().hex}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps(record, indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
