"""A persistent, crash-safe embedding cache keyed by (encoder name, sha256 of the text).

Layout of the cache folder::

    <folder>/<slug of the encoder name>/
        encoder.json               the encoder's full name and the dimension
        shard-<time>-<uuid>.npz    keys (sha256 digests, 32 bytes each) and float32 vectors

Shards are **append-only**: each batch of new embeddings becomes a new shard, written under a
temporary name (``.tmp-*``) in the same folder, flushed to disk and then renamed, which is atomic
on POSIX and Windows. A process killed while writing leaves at most a ``.tmp-*`` file, which
readers ignore (and :meth:`EmbeddingCache.clean` removes); a shard that cannot be read is skipped
with a warning, and its texts are simply computed again. :meth:`EmbeddingCache.compact` merges the
shards of one encoder into one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synerec._config import cache_home
from synerec.exceptions import ConfigError, SynerecError
from synerec.text.encoders import Encoder, check_texts, fit_on_texts

__all__ = ["CacheStats", "EmbeddingCache", "cached_encode", "default_cache_folder", "text_key"]

log = logging.getLogger(__name__)

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_KEY_BYTES = 32


def default_cache_folder() -> Path:
    """``cache_home() / "embeddings"``."""
    return cache_home() / "embeddings"


def text_key(text: str) -> bytes:
    """The cache key of a text: the sha256 digest of its UTF-8 bytes (32 bytes)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass
class CacheStats:
    """What :func:`cached_encode` did: texts served from the cache, computed, and seconds."""

    hits: int = 0
    misses: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Texts asked for."""
        return self.hits + self.misses


class EmbeddingCache:
    """Embeddings on disk, one sub-folder per encoder name, in append-only ``.npz`` shards.

    Parameters
    ----------
    folder
        The cache folder (created on first write). Default: ``cache_home() / "embeddings"``.

    Notes
    -----
    An index of each encoder's shards is loaded into memory on first use and kept up to date by
    :meth:`put`; call :meth:`refresh` to see shards that another process wrote since. Vectors are
    stored as given (float32). No pickle: keys and vectors are plain arrays
    (``allow_pickle=False``).
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_folder()
        self._index: dict[str, dict[bytes, np.ndarray]] = {}
        self._dims: dict[str, int] = {}

    # layout -----------------------------------------------------------------------------------
    def encoder_folder(self, name: str) -> Path:
        """The sub-folder of one encoder: a readable slug of ``name`` plus a digest of it."""
        if not name:
            raise ConfigError("an encoder name must not be empty")
        slug = _SLUG.sub("_", name).strip("._")[:80] or "encoder"
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
        return self.folder / f"{slug}-{digest}"

    def shards(self, name: str) -> list[Path]:
        """The complete shard files of encoder ``name``, oldest first."""
        folder = self.encoder_folder(name)
        if not folder.is_dir():
            return []
        return sorted(folder.glob("shard-*.npz"))

    # reading ----------------------------------------------------------------------------------
    def _load(self, name: str) -> dict[bytes, np.ndarray]:
        if name in self._index:
            return self._index[name]
        index: dict[bytes, np.ndarray] = {}
        for path in self.shards(name):
            try:
                keys, vectors, shard_name = _read_shard(path)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
                log.warning("skipping unreadable cache shard %s (%s): its texts will be "
                            "computed again", path, exc)
                continue
            if shard_name != name:
                log.warning("skipping cache shard %s: written for encoder %r, not %r", path,
                            shard_name, name)
                continue
            if name in self._dims and vectors.shape[1] != self._dims[name]:
                log.warning("skipping cache shard %s: dimension %d, expected %d", path,
                            vectors.shape[1], self._dims[name])
                continue
            self._dims[name] = vectors.shape[1]
            for k, v in zip(keys, vectors, strict=True):
                index[bytes(k)] = v
        self._index[name] = index
        return index

    def refresh(self, name: str | None = None) -> None:
        """Forget the in-memory index (of one encoder, or all) so the next read rescans."""
        if name is None:
            self._index.clear()
            self._dims.clear()
        else:
            self._index.pop(name, None)
            self._dims.pop(name, None)

    def __len__(self) -> int:
        """Vectors held for the encoders indexed so far."""
        return sum(len(v) for v in self._index.values())

    def count(self, name: str) -> int:
        """Vectors held for encoder ``name``."""
        return len(self._load(name))

    def dimension(self, name: str) -> int | None:
        """The vector length stored for encoder ``name`` (``None`` when nothing is stored)."""
        self._load(name)
        return self._dims.get(name)

    def get(self, name: str, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Look up ``texts``.

        Returns
        -------
        vectors : numpy.ndarray
            float32 ``(n, d)``: the cached vector of each found text, zeros elsewhere
            (``d`` is 0 when nothing is stored for ``name``).
        found : numpy.ndarray
            bool ``(n,)``.
        """
        texts = check_texts(texts)
        index = self._load(name)
        d = self._dims.get(name, 0)
        out = np.zeros((len(texts), d), dtype=np.float32)
        found = np.zeros(len(texts), dtype=bool)
        for i, t in enumerate(texts):
            v = index.get(text_key(t))
            if v is not None:
                out[i] = v
                found[i] = True
        return out, found

    # writing ----------------------------------------------------------------------------------
    def put(self, name: str, texts: Sequence[str], vectors: np.ndarray) -> Path | None:
        """Store the vectors of ``texts`` (those not stored yet) as one new shard.

        Returns
        -------
        pathlib.Path or None
            The shard written, or ``None`` when every text was already stored.
        """
        texts = check_texts(texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ConfigError(f"vectors must have shape ({len(texts)}, d), got {vectors.shape}")
        index = self._load(name)
        d = self._dims.get(name)
        if d is not None and vectors.shape[1] != d:
            raise SynerecError(f"the cache holds {d}-dimensional vectors for encoder {name!r}, "
                               f"got {vectors.shape[1]}: is the name stable?")
        keys: list[bytes] = []
        rows: list[int] = []
        seen: set[bytes] = set()
        for i, t in enumerate(texts):
            k = text_key(t)
            if k not in index and k not in seen:
                seen.add(k)
                keys.append(k)
                rows.append(i)
        if not keys:
            return None
        folder = self.encoder_folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "encoder.json"
        if not meta.is_file():
            _atomic_write_bytes(meta, json.dumps({"name": name, "dimension": vectors.shape[1]},
                                                 indent=2).encode())
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
        block = np.ascontiguousarray(vectors[rows])
        path = folder / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        with _atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=key_array, vectors=block,
                         encoder=np.frombuffer(name.encode("utf-8"), dtype=np.uint8))
                fh.flush()
                os.fsync(fh.fileno())
        self._dims[name] = vectors.shape[1]
        for k, v in zip(keys, block, strict=True):
            index[k] = v
        log.debug("cached %d vectors of %s in %s", len(keys), name, path.name)
        return path

    def compact(self, name: str) -> Path | None:
        """Merge all shards of encoder ``name`` into one (atomically); returns the new shard."""
        old = self.shards(name)
        if len(old) <= 1:
            return old[0] if old else None
        self.refresh(name)
        index = self._load(name)
        keys = list(index)
        path = self.encoder_folder(name) / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
        vectors = np.vstack([index[k] for k in keys]).astype(np.float32)
        with _atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=key_array, vectors=vectors,
                         encoder=np.frombuffer(name.encode("utf-8"), dtype=np.uint8))
                fh.flush()
                os.fsync(fh.fileno())
        for p in old:  # the merged shard already holds them: a crash here only leaves duplicates
            p.unlink(missing_ok=True)
        return path

    def clean(self, older_than: float = 3600.0) -> int:
        """Remove temporary files left by killed writers (older than ``older_than`` seconds)."""
        removed = 0
        if not self.folder.is_dir():
            return 0
        now = time.time()
        for tmp in self.folder.glob("*/.tmp-*"):
            try:
                if now - tmp.stat().st_mtime >= older_than:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def clear(self, name: str) -> None:
        """Delete everything stored for encoder ``name``."""
        folder = self.encoder_folder(name)
        if folder.is_dir():
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
        self.refresh(name)

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r})"


def _read_shard(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    with np.load(path, allow_pickle=False) as z:
        keys = z["keys"]
        vectors = z["vectors"]
        name = bytes(z["encoder"]).decode("utf-8")
    if keys.ndim != 2 or keys.shape[1] != _KEY_BYTES or vectors.ndim != 2 \
            or len(keys) != len(vectors):
        raise ValueError(f"inconsistent shapes keys {keys.shape}, vectors {vectors.shape}")
    return keys, vectors.astype(np.float32, copy=False), name


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` when the block succeeds."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    with _atomic_path(path) as tmp:
        tmp.write_bytes(data)


def cached_encode(encoder: Encoder, texts: Sequence[str], *, cache: EmbeddingCache | None = None,
                  batch_size: int | None = None, chunk_size: int = 1024,
                  show_progress: bool = False, stats: CacheStats | None = None) -> np.ndarray:
    """Embed ``texts`` through ``cache``: only texts not cached yet are given to ``encoder``.

    The missing texts (each distinct text once) are encoded ``chunk_size`` at a time; each chunk
    is stored as a new shard as soon as it is computed, so an interrupted run keeps the chunks it
    finished and the next run computes only the rest.

    Parameters
    ----------
    encoder
        Any :class:`~synerec.text.encoders.Encoder`. An encoder with ``is_fitted`` false (an
        unfitted :class:`~synerec.text.encoders.TfidfEncoder`) is first fitted on ``texts``.
    texts
        The texts.
    cache
        The cache; default ``EmbeddingCache()`` in ``cache_home() / "embeddings"``.
    batch_size
        Passed to ``encoder.encode``.
    chunk_size
        Texts encoded (and stored) per chunk.
    show_progress
        Show a progress bar over the texts to compute.
    stats
        When given, its ``hits``, ``misses`` and ``seconds`` are increased by this call's.

    Returns
    -------
    numpy.ndarray
        float32 ``(len(texts), encoder.dimension)``, exactly what ``encoder.encode(texts)``
        returns (rows in the order of ``texts``).
    """
    start = time.perf_counter()
    texts = check_texts(texts)
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    cache = cache if cache is not None else EmbeddingCache()
    fit_on_texts(encoder, texts)
    name = encoder.name
    vectors, found = cache.get(name, texts)
    hits = int(found.sum())
    missing: dict[str, list[int]] = {}
    for i in np.flatnonzero(~found):
        missing.setdefault(texts[i], []).append(int(i))
    todo = list(missing)
    # the vector length: from the cache, else from the first computed chunk (no extra request)
    d: int | None = vectors.shape[1] if cache.dimension(name) is not None else None
    with _progress(show_progress, len(todo), f"embedding with {name}") as advance:
        for s in range(0, len(todo), chunk_size):
            chunk = todo[s:s + chunk_size]
            block = np.asarray(encoder.encode(chunk, batch_size=batch_size), dtype=np.float32)
            if d is None and block.ndim == 2:
                d = block.shape[1]
                vectors = np.zeros((len(texts), d), dtype=np.float32)
            if block.ndim == 2 and block.shape[0] == len(chunk) and block.shape[1] != d:
                raise SynerecError(f"the cache holds {d}-dimensional vectors for encoder "
                                   f"{name!r}, the encoder gives {block.shape[1]}: an encoder "
                                   f"name must change when its model does")
            if block.shape != (len(chunk), d):
                raise SynerecError(f"{name} returned shape {block.shape} for {len(chunk)} texts, "
                                   f"expected {(len(chunk), d)}")
            cache.put(name, chunk, block)
            for t, v in zip(chunk, block, strict=True):
                vectors[missing[t]] = v
            advance(len(chunk))
    if d is None:  # no texts at all
        vectors = np.zeros((0, encoder.dimension), dtype=np.float32)
    seconds = time.perf_counter() - start
    misses = len(texts) - hits
    log.info("%s: %d texts, %d from the cache, %d computed (%d distinct) in %.2f s", name,
             len(texts), hits, misses, len(todo), seconds)
    if stats is not None:
        stats.hits += hits
        stats.misses += misses
        stats.seconds += seconds
    return vectors


@contextmanager
def _progress(show: bool, total: int, description: str) -> Iterator[Callable[[int], None]]:
    if not show or total == 0:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
