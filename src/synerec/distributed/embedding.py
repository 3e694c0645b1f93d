"""Catalogue embedding as Ray tasks, on GPU workers when the cluster has them.

:func:`embed_catalogue` embeds item texts with any :class:`~synerec.text.Encoder`, through the
embedding cache: only the texts not cached yet are computed, each distinct text once, in chunks,
and each finished chunk is written to the cache by the driver (the one writer) as it arrives,
so an interrupted job keeps its finished chunks.

With ``engine="ray"`` the encoder is put in the object store once and a fixed set of actors
(one per GPU when the cluster has GPUs, each asking Ray for one GPU, else one per CPU) loads
the model once and encodes the chunks it is given. An encoder whose ``device`` is ``None``
(:class:`~synerec.text.SentenceTransformerEncoder`'s default) picks the actor's GPU by itself.
The vectors equal the single-node ones up to the encoder's own float tolerance (a transformer's
output can move in the last bits with the batch it is computed in).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from synerec.distributed._progress import progress_bar
from synerec.distributed._ray import cluster_gpus, ray_session
from synerec.exceptions import ConfigError, SynerecError

__all__ = ["embed_catalogue"]

log = logging.getLogger(__name__)


class _EncoderActor:
    """A Ray actor that loads the encoder once and embeds the chunks it is given."""

    def __init__(self, encoder: Any, batch_size: int | None) -> None:
        self.encoder = encoder
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(texts, batch_size=self.batch_size),
                          dtype=np.float32)


def embed_catalogue(
    encoder: Any,
    texts: Sequence[str],
    *,
    engine: Literal["local", "ray"] = "local",
    cache: Any = None,
    chunk_size: int = 1024,
    batch_size: int | None = None,
    address: str | None = None,
    num_workers: int | None = None,
    num_cpus: int | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Embed ``texts`` (item texts, see :func:`synerec.text.item_texts`), locally or on Ray.

    Parameters
    ----------
    encoder
        An :class:`~synerec.text.Encoder`. It must be picklable for ``engine="ray"`` (the
        bundled encoders are; they load their model in the worker).
    texts
        The texts; empty texts give zero rows.
    engine
        ``"local"``: this process. ``"ray"``: Ray actors (GPU actors when the cluster has GPUs).
    cache
        An :class:`~synerec.text.EmbeddingCache`, ``None`` for the default cache folder, or
        ``False`` for no cache.
    chunk_size
        Texts per task (and per cache shard).
    batch_size
        Texts per forward pass (the encoder's default when ``None``).
    address, num_cpus
        As in :func:`synerec.distributed.batch_recommend`.
    num_workers
        Ray actors (default: the cluster's GPUs, else its CPUs).
    show_progress
        A progress bar over the texts to compute.

    Returns
    -------
    numpy.ndarray
        float32 ``(len(texts), encoder.dimension)``, unit rows (zero rows for empty texts).

    Raises
    ------
    ConfigError
        Invalid arguments.
    RayUnavailableError
        ``engine="ray"`` without Ray or a reachable cluster.
    """
    from synerec.text.encoders import check_texts, fit_on_texts

    _check_args(engine, chunk_size)
    texts = check_texts(texts)
    fit_on_texts(encoder, texts)
    name = encoder.name
    store, vectors, found = _cached(name, texts, cache)
    missing, chunks = _missing_chunks(texts, found, chunk_size)
    todo = list(missing)
    log.info("embedding %d texts with %s: %d cached, %d to compute in %d chunks (%s)",
             len(texts), name, int(found.sum()), len(todo), len(chunks), engine)
    if vectors.shape[1] == 0 and (todo or len(texts) == 0):
        vectors = np.zeros((len(texts), encoder.dimension if todo else 0), np.float32)
    start = time.perf_counter()
    take = _taker(vectors, missing, store, name)
    with progress_bar(show_progress, len(todo), f"embedding ({engine})") as advance:
        if engine == "local" or not chunks:
            _run_local(encoder, chunks, batch_size, take, advance)
        else:
            with ray_session(address, num_cpus) as ray:
                _run_ray(ray, encoder, chunks, batch_size, num_workers, take, advance)
    if todo:
        log.info("embedded %d texts in %.2f s", len(todo), time.perf_counter() - start)
    return vectors


def _cached(name: str, texts: list[str], cache: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The cache to use (``None``: none), the cached vectors and which texts were found."""
    from synerec.text.cache import EmbeddingCache

    store = None if cache is False else (cache if cache is not None else EmbeddingCache())
    if store is None:
        return None, np.zeros((len(texts), 0), np.float32), np.zeros(len(texts), bool)
    vectors, found = store.get(name, texts)
    return store, vectors, found


def _taker(vectors: np.ndarray, missing: dict[str, list[int]], store: Any,
           name: str) -> Any:
    """``take(chunk, block)``: a chunk's computed rows into ``vectors`` (every row of each
    text) and into the cache."""

    def take(chunk: list[str], block: np.ndarray) -> None:
        if block.shape != (len(chunk), vectors.shape[1]):
            raise SynerecError(f"the encoder returned shape {block.shape} for {len(chunk)} "
                               f"texts, expected {(len(chunk), vectors.shape[1])}")
        if store is not None:
            store.put(name, chunk, block)
        for text, row in zip(chunk, block, strict=True):
            vectors[missing[text]] = row

    return take


def _check_args(engine: str, chunk_size: Any) -> None:
    if engine not in ("local", "ray"):
        raise ConfigError(f"engine must be 'local' or 'ray', got {engine!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _missing_chunks(texts: list[str], found: np.ndarray, chunk_size: int
                    ) -> tuple[dict[str, list[int]], list[list[str]]]:
    """Each distinct text not found in the cache (in first-seen order) with its rows, and
    those texts in chunks of ``chunk_size``."""
    missing: dict[str, list[int]] = {}
    for i in np.flatnonzero(~found):
        missing.setdefault(texts[i], []).append(int(i))
    todo = list(missing)
    return missing, [todo[s:s + chunk_size] for s in range(0, len(todo), chunk_size)]


def _run_local(encoder: Any, chunks: list[list[str]], batch_size: int | None, take: Any,
               advance: Any) -> None:
    for chunk in chunks:
        take(chunk, np.asarray(encoder.encode(chunk, batch_size=batch_size), dtype=np.float32))
        advance(len(chunk))


def _run_ray(ray: Any, encoder: Any, chunks: list[list[str]], batch_size: int | None,
             num_workers: int | None, take: Any, advance: Any) -> None:
    gpus = cluster_gpus(ray)
    if num_workers is None:
        num_workers = int(gpus) if gpus >= 1 else int(ray.cluster_resources().get("CPU", 1))
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ConfigError(f"num_workers must be a positive integer, got {num_workers!r}")
    num_workers = min(num_workers, len(chunks))
    options: dict[str, Any] = {"num_cpus": 1}
    if gpus >= 1:
        options["num_gpus"] = 1
    actor_cls = ray.remote(**options)(_EncoderActor)
    encoder_ref = ray.put(encoder)
    actors = [actor_cls.remote(encoder_ref, batch_size) for _ in range(num_workers)]
    try:
        inflight: deque[tuple[list[str], Any]] = deque()
        for i, chunk in enumerate(chunks):
            inflight.append((chunk, actors[i % num_workers].encode.remote(chunk)))
            if len(inflight) >= 2 * num_workers:
                done, ref = inflight.popleft()
                take(done, ray.get(ref))
                advance(len(done))
        while inflight:
            done, ref = inflight.popleft()
            take(done, ray.get(ref))
            advance(len(done))
    except ray.exceptions.RayError as exc:
        raise SynerecError(f"a Ray embedding worker failed: {exc}") from exc
    finally:
        for a in actors:
            ray.kill(a)
        del encoder_ref
