"""Top-``n`` recommendations for many users, written as Parquet, on one machine or on Ray.

:func:`batch_recommend` scores users in batches and streams each batch's lists into one Parquet
file with the columns ``user_id, rank, item_id, score`` (rank from 1; padding dropped: a user
with fewer than ``n`` rankable items gets fewer rows), the table
:meth:`~synerec.algorithms.Recommender.recommend_frame` returns, and ``title`` when the model
carries its catalogue (a model fitted on a data set with titles).

Both engines run the same per-batch function (:func:`recommend_block`): the model's own
:meth:`~synerec.algorithms.Recommender.recommend_indices`, i.e. its scoring and the one shared
top-k routine (:mod:`synerec.topk`), so filtering (seen and cold items) and tie-breaking (lower
item index first) are the single-node ones, and the file written by Ray is identical to the one
written by ``engine="local"``.

With ``engine="ray"`` the model is put in Ray's object store **once** (``ray.put``); a fixed set
of actors receives that one reference, so each worker maps the model's numpy arrays straight from
shared memory (zero-copy, read-only) instead of receiving a copy per task, and keeps it for all
its batches. Batches are dispatched round-robin with at most two in flight per worker and written
in user order as they come back, so the driver's memory is bounded by a few batches, whatever the
number of users.

Memory per worker: one batch of dense scores, ``batch_size x n_items`` float32 (neighbourhood
models: only the candidate items), never ``users x items``.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from synerec._list_length import check_list_length
from synerec.algorithms import Recommender
from synerec.distributed._gpu import factor_topk, resolve_device, supports_factor_scoring
from synerec.distributed._progress import progress_bar
from synerec.distributed._ray import cluster_gpus, ray_session
from synerec.exceptions import ConfigError, SynerecError, UnknownIdError
from synerec.models import load_model
from synerec.similarity import numba_pool_size
from synerec.topk import PAD_INDEX

__all__ = ["COLUMNS", "BatchResult", "batch_recommend", "recommend_block", "recommendation_table"]

log = logging.getLogger(__name__)

#: Columns of the output file.
COLUMNS = ("user_id", "rank", "item_id", "score")


@dataclass(frozen=True)
class BatchResult:
    """What :func:`batch_recommend` did.

    Attributes
    ----------
    path
        The Parquet file written.
    engine
        ``"local"`` or ``"ray"``.
    device
        ``"numpy"`` (the model's own scoring) or the torch device that scored.
    n_users
        Users processed.
    n_unknown_users
        Of those, users the model does not know (they got the most popular items).
    n_rows
        Rows written.
    n_batches
        Batches processed.
    workers
        Ray actors used (1 for ``"local"``).
    model_shared
        Ray: whether every worker read the model's arrays zero-copy from the object store
        (read-only shared memory) rather than a private copy; ``None`` for ``"local"``.
    seconds
        Wall time.
    """

    path: Path
    engine: str
    device: str
    n_users: int
    n_unknown_users: int
    n_rows: int
    n_batches: int
    workers: int
    model_shared: bool | None
    seconds: float


def _load_model(model: Any) -> Any:
    if isinstance(model, Recommender):
        model._check_fitted()
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise ConfigError(f"model must be a fitted Recommender or a model directory, got "
                      f"{type(model).__name__}")


def _resolve_users(model: Any, users: str | Iterable[Any],
                   unknown: str = "fallback") -> tuple[np.ndarray, np.ndarray]:
    """(user indices, -1 for unknown; the ids written in ``user_id``).

    ``unknown="error"``: a user the model has no training data for is an
    :class:`~synerec.exceptions.UnknownIdError` naming the first (and counting the others).
    """
    if isinstance(users, str):
        if users != "all":
            raise ConfigError(f"users must be 'all' or a sequence of user ids, got {users!r}")
        return np.arange(model.n_users_, dtype=np.int64), np.asarray(model.users_.ids)
    if isinstance(users, bytes) or not isinstance(users, Iterable):
        raise ConfigError(f"users must be 'all' or a sequence of user ids, got {users!r}")
    ids = users if isinstance(users, np.ndarray) else np.asarray(list(users))
    if ids.ndim != 1:
        raise ConfigError(f"users must be one-dimensional, got shape {ids.shape}")
    idx = model.users_.indices(ids, missing="negative")
    if unknown == "error":
        known = model.known_users(idx)
        if not known.all():
            bad = ids[~known]
            first = bad[0].item() if isinstance(bad[0], np.generic) else bad[0]
            raise UnknownIdError(first, "user", count=len(set(bad.tolist())))
    elif unknown != "fallback":
        raise ConfigError(f"unknown must be 'error' or 'fallback', not {unknown!r}")
    return idx, ids


def recommend_block(model: Any, users: np.ndarray, n: int, exclude_seen: bool = True,
                    device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The top-``n`` of one batch of user indices: ``(indices, scores)`` as
    :meth:`~synerec.algorithms.Recommender.recommend_indices` returns them.

    ``device`` ``None`` uses the model's own scoring; a torch device name scores a matrix
    factorisation model there (:func:`synerec.distributed._gpu.factor_topk`).
    """
    if device is not None:
        return factor_topk(model, users, n, exclude_seen=exclude_seen, device=device)
    return model.recommend_indices(users, n, exclude_seen=exclude_seen)


def _arrow_ids(ids: np.ndarray) -> tuple[np.ndarray, Any]:
    """Ids as a numpy array and the Arrow type they are written with (int64 or string)."""
    import pyarrow as pa

    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64), pa.int64()
    if arr.dtype == object and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool)
                                   for x in arr):
        return arr.astype(np.int64), pa.int64()
    return arr.astype(str).astype(object), pa.string()


def recommendation_table(user_ids: np.ndarray, indices: np.ndarray, scores: np.ndarray,
                         item_ids: np.ndarray, schema: Any,
                         titles: np.ndarray | None = None) -> Any:
    """One batch as an Arrow table ``user_id, rank, item_id, score`` (padding dropped), and
    ``title`` when ``titles`` (by item index) are given."""
    import pyarrow as pa

    b, width = indices.shape
    valid = (indices != PAD_INDEX).ravel()
    flat = indices.ravel()[valid]
    columns = {
        "user_id": pa.array(np.repeat(user_ids, width)[valid], type=schema.field("user_id").type),
        "rank": pa.array(np.tile(np.arange(1, width + 1, dtype=np.int64), b)[valid]),
        "item_id": pa.array(item_ids[flat], type=schema.field("item_id").type),
        "score": pa.array(scores.ravel()[valid].astype(np.float32)),
    }
    if titles is not None:
        columns["title"] = pa.array(titles[flat].astype(object), type=pa.string())
    return pa.table(columns, schema=schema)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def batch_recommend(
    model: Any,
    users: str | Iterable[Any] = "all",
    n: int = 10,
    *,
    out: str | os.PathLike[str],
    engine: Literal["local", "ray"] = "local",
    exclude_seen: bool = True,
    batch_size: int = 2048,
    device: str | None = "numpy",
    address: str | None = None,
    num_workers: int | None = None,
    num_cpus: int | None = None,
    show_progress: bool = False,
    unknown: Literal["error", "fallback"] = "error",
) -> BatchResult:
    """Top-``n`` items of many users, written to a Parquet file.

    Parameters
    ----------
    model
        A fitted :class:`~synerec.algorithms.Recommender`, or a saved model directory.
    users
        ``"all"``: every user of the model's vocabulary, in index order. Or a sequence of
        external user ids, written as given.
    n
        List length.
    out
        The Parquet file (written to a temporary sibling, then renamed into place).
    engine
        ``"local"``: batches one after the other in this process. ``"ray"``: Ray actors sharing
        one copy of the model.
    exclude_seen
        Leave out each user's training items.
    batch_size
        Users per batch.
    device
        ``"numpy"`` (default): the model's own scoring. ``None``: a CUDA GPU for a matrix
        factorisation model when one is present (with Ray: when the cluster has GPUs; each
        actor then takes one), else the model's own scoring. A torch device name (``"cuda"``,
        ``"cpu"``) forces the torch path (matrix factorisation only).
    address
        Ray cluster (``None``: the runtime started in this process, else a new local one;
        ``"auto"``; ``"ray://head:10001"``).
    num_workers
        Ray actors (default: one per CPU of the cluster, or per GPU on the GPU path).
    num_cpus
        CPUs of a new local Ray runtime.
    show_progress
        A progress bar (stderr) over the users.
    unknown
        Users the model has no training data for (docs/your-data.md, "Unknown users and
        items"): ``"error"`` (default) raises :class:`~synerec.exceptions.UnknownIdError`
        before anything is written; ``"fallback"`` gives them the most popular items, counted
        in :attr:`BatchResult.n_unknown_users`.

    Returns
    -------
    BatchResult
        Where the file is and what was done.

    Raises
    ------
    ConfigError
        Invalid arguments, or a torch device for a model it cannot score.
    RayUnavailableError
        ``engine="ray"`` without Ray, or an unreachable cluster.
    ModelFileError
        ``model`` is a directory that does not hold a valid model.
    """
    start_time = time.perf_counter()
    n, batch_size, num_workers = _checked_args(engine, n, batch_size, num_workers)
    model = _load_model(model)
    u_idx, user_ids = _resolve_users(model, users, unknown)
    job = _Job(model, u_idx, n, exclude_seen, batch_size, device)
    path, n_rows, used_device, workers, shared = job.write(
        user_ids, out, engine, address, num_cpus, num_workers, show_progress)
    return job.result(path, engine, n_rows, used_device, workers, shared, start_time)


def _checked_args(engine: str, n: int, batch_size: int,
                  num_workers: int | None) -> tuple[int, int, int | None]:
    if engine not in ("local", "ray"):
        raise ConfigError(f"engine must be 'local' or 'ray', got {engine!r}")
    n = check_list_length(n)
    batch_size = _check_int("batch_size", batch_size, 1)
    if num_workers is not None:
        num_workers = _check_int("num_workers", num_workers, 1)
    return n, batch_size, num_workers


@dataclass
class _Job:
    """One batch recommendation: the model, the users' indices and the batches."""

    model: Any
    u_idx: np.ndarray
    n: int
    exclude_seen: bool
    batch_size: int
    device: str | None

    def result(self, path: Path, engine: str, n_rows: int, device: str, workers: int,
               shared: bool | None, start_time: float) -> BatchResult:
        """What was done (and a log line saying it)."""
        u_idx = self.u_idx
        result = BatchResult(path=path, engine=engine, device=device, n_users=len(u_idx),
                             n_unknown_users=int((u_idx < 0).sum()), n_rows=n_rows,
                             n_batches=len(self.batches), workers=workers,
                             model_shared=shared, seconds=time.perf_counter() - start_time)
        log.info("batch recommendation (%s, %s): %d users, %d rows in %d batches, %.2f s",
                 engine, device, result.n_users, n_rows, result.n_batches, result.seconds)
        return result

    @property
    def batches(self) -> list[tuple[int, int]]:
        m, b = len(self.u_idx), self.batch_size
        return [(s, min(m, s + b)) for s in range(0, m, b)]

    def write(self, user_ids: np.ndarray, out: str | os.PathLike[str], engine: str,
              address: str | None, num_cpus: int | None, num_workers: int | None,
              show_progress: bool) -> tuple[Path, int, str, int, bool | None]:
        """Score every batch and stream its lists into ``out`` (a temporary sibling renamed
        into place): ``(path, rows, device used, workers, model shared)``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        model, device = self.model, self.device
        user_col, user_type = _arrow_ids(user_ids)
        item_col, item_type = _arrow_ids(np.asarray(model.items_.ids))
        catalogue = model.catalogue_
        titles = None if catalogue is None else catalogue.get("title")
        schema = pa.schema([("user_id", user_type), ("rank", pa.int64()),
                            ("item_id", item_type), ("score", pa.float32())]
                           + ([("title", pa.string())] if titles is not None else []))
        if device not in (None, "numpy") and not supports_factor_scoring(model):
            raise ConfigError(f"device {device!r}: the torch scoring path handles matrix "
                              f"factorisation models only, not {type(model).__name__}")
        batches = self.batches
        out_path, tmp = _output_paths(out)
        n_rows = 0
        try:
            with pq.ParquetWriter(tmp, schema) as writer, \
                    progress_bar(show_progress, len(self.u_idx), "recommending") as advance:

                def write(lo: int, hi: int, idx: np.ndarray, sc: np.ndarray) -> None:
                    nonlocal n_rows
                    table = recommendation_table(user_col[lo:hi], idx, sc, item_col, schema,
                                                 titles)
                    writer.write_table(table)
                    n_rows += table.num_rows
                    advance(hi - lo)

                if engine == "local":
                    used_device, workers, shared = _run_local(
                        model, self.u_idx, batches, self.n, self.exclude_seen, device, write)
                else:
                    with ray_session(address, num_cpus) as ray:
                        dev = _ray_device(ray, device, model)
                        used_device = dev or "numpy"
                        workers, shared = _run_ray(ray, model, self.u_idx, batches, self.n,
                                                   self.exclude_seen, dev, num_workers, write)
            os.replace(tmp, out_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return out_path, n_rows, used_device, workers, shared


def _output_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The Parquet file (its folder created) and the temporary sibling written first."""
    out_path = Path(out)
    if out_path.is_dir():
        raise ConfigError(f"--out {out_path} is a directory; give a .parquet file name")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return out_path, out_path.with_name(f".{out_path.name}.tmp-{uuid.uuid4().hex}")


def _run_local(model: Any, u_idx: np.ndarray, batches: list[tuple[int, int]], n: int,
               exclude_seen: bool, device: str | None,
               write: Any) -> tuple[str, int, bool | None]:
    """The batches one after the other in this process: ``(device used, 1 worker, None)``."""
    dev = resolve_device(device)
    if dev is not None and device is None and not supports_factor_scoring(model):
        dev = None  # auto: the model has no device path
    for lo, hi in batches:
        idx, sc = recommend_block(model, u_idx[lo:hi], n, exclude_seen, dev)
        write(lo, hi, idx, sc)
    return dev or "numpy", 1, None


def _ray_device(ray: Any, device: str | None, model: Any) -> str | None:
    """The device the actors score on (they, not the driver, hold the GPUs)."""
    if device == "numpy":
        return None
    if device is None:
        return "cuda" if cluster_gpus(ray) > 0 and supports_factor_scoring(model) else None
    if device.startswith("cuda") and cluster_gpus(ray) == 0:
        raise ConfigError(f"device {device!r} asked for, but the Ray cluster has no GPU")
    return device


class _Scorer:
    """A Ray actor holding the shared model for all the batches it is given."""

    def __init__(self, model: Any, device: str | None, threads: int) -> None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba_pool_size())))
        self.model = model
        self.device = device

    def shared(self) -> bool:
        """Whether the model's training arrays are read-only views of the object store."""
        X = self.model.train_
        return not (X.data.flags.writeable or X.indices.flags.writeable)

    def run(self, users: np.ndarray, n: int, exclude_seen: bool
            ) -> tuple[np.ndarray, np.ndarray]:
        return recommend_block(self.model, users, n, exclude_seen, self.device)


def _run_ray(ray: Any, model: Any, u_idx: np.ndarray, batches: list[tuple[int, int]], n: int,
             exclude_seen: bool, device: str | None, num_workers: int | None,
             write: Any) -> tuple[int, bool]:
    resources = ray.cluster_resources()
    gpu = device is not None and device.startswith("cuda")
    if num_workers is None:
        num_workers = int(resources.get("GPU" if gpu else "CPU", 1)) or 1
    num_workers = max(1, min(num_workers, len(batches) or 1))
    options: dict[str, Any] = {"num_cpus": 1}
    if gpu:
        options["num_gpus"] = 1
    actor_cls = ray.remote(**options)(_Scorer)
    t0 = time.perf_counter()
    model_ref = _put_model(ray, model)  # the one copy every actor reads
    log.debug("model in the object store in %.3f s", time.perf_counter() - t0)
    actors = [actor_cls.remote(model_ref, device, 1) for _ in range(num_workers)]
    try:
        shared = all(ray.get([a.shared.remote() for a in actors]))
        inflight: deque[tuple[int, int, Any]] = deque()
        for i, (lo, hi) in enumerate(batches):
            ref = actors[i % num_workers].run.remote(u_idx[lo:hi], n, exclude_seen)
            inflight.append((lo, hi, ref))
            if len(inflight) >= 2 * num_workers:
                _write_next(ray, inflight, write)
        while inflight:
            _write_next(ray, inflight, write)
    except ray.exceptions.RayError as exc:
        raise SynerecError(f"a Ray worker failed: {exc}") from exc
    finally:
        for a in actors:
            ray.kill(a)
        del model_ref
    return num_workers, shared


def _put_model(ray: Any, model: Any) -> Any:
    """``ray.put(model)``, or a one-line :class:`ConfigError` when the model cannot travel.

    Ray serialises the model once (its numpy arrays out of band, into shared memory); a model
    holding something that only lives in this process (an open handle, a lock, a C pointer
    without a way to rebuild it) cannot be sent, and says which model and why instead of
    Ray's traceback.
    """
    import pickle

    try:
        return ray.put(model)
    except (TypeError, ValueError, AttributeError, pickle.PicklingError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"the {type(model).__name__} model cannot be sent to Ray workers "
                          f"({reason}); use engine='local'") from None


def _write_next(ray: Any, inflight: deque[tuple[int, int, Any]], write: Any) -> None:
    lo, hi, ref = inflight.popleft()
    idx, sc = ray.get(ref)
    write(lo, hi, idx, sc)
