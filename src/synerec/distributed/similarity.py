"""Item-item (or user-user) similarity in row blocks, as Ray tasks, merged into one CSR matrix.

:func:`block_similarity_matrix` computes exactly what :func:`synerec.similarity.similarity_matrix`
computes, one contiguous block of rows per task:

1. the driver prepares the input once (canonical float32 CSR, the values each method multiplies,
   the column-major structure) and puts it in Ray's object store **once**: every task reads the
   same shared-memory arrays (zero-copy, read-only), none gets its own copy;
2. each task runs the single-node numba kernel (``synerec.similarity._kernels.topk_similarity``)
   on its rows: the sparse product through the row accumulator and the top-k pruning;
3. the driver concatenates the blocks' rows in order into the canonical CSR matrix.

The kernel's result for a row does not depend on which other rows are processed with it, nor on
the number of threads (its top-k keys are a total order), so the merged matrix is **bit-for-bit
equal** to the single-node one: same ``indptr``, ``indices`` and ``data``.

With a torch device (a CUDA GPU when present, see :mod:`synerec.distributed._gpu`) a block's
products are dense-by-sparse products on the device instead; its neighbours then equal the
numba kernel's up to the float tolerance documented there (float64 sums in another order).

Memory: a task's output arrays are allocated n x k but only its own rows are ever written (the
operating system commits only those pages); its accumulators are the kernel's (n per thread).
Nothing ever holds n x n, and nothing grows with users x items.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from synerec.distributed._ray import ray_session
from synerec.exceptions import ConfigError

__all__ = ["BlockCost", "PreparedSimilarity", "block_similarity_matrix", "prepare_similarity"]

log = logging.getLogger(__name__)

_INT32_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True)
class PreparedSimilarity:
    """What every block needs: the prepared input of one similarity computation.

    Built once by :func:`prepare_similarity` (on the driver) and shared by every block.
    """

    token: str
    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    t_indptr: np.ndarray
    t_indices: np.ndarray
    t_data: np.ndarray
    norms: np.ndarray
    corated: bool
    counting: bool
    k: int
    min_support: int
    shrinkage: float
    positive_only: bool
    dense_paths: int

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what the object store holds once)."""
        return sum(a.nbytes for a in (self.indptr, self.indices, self.data, self.t_indptr,
                                      self.t_indices, self.t_data, self.norms))


@dataclass(frozen=True)
class BlockCost:
    """What one block of rows cost.

    Attributes
    ----------
    start, stop
        The rows ``start:stop``.
    paths
        (row, column, row) paths the kernel walked: its work, independent of the machine.
    seconds
        Wall time of the block inside its task (excludes scheduling and transfer).
    neighbors
        Neighbours kept in the block.
    """

    start: int
    stop: int
    paths: int
    seconds: float
    neighbors: int


def prepare_similarity(
    X: sp.spmatrix | sp.sparray,
    method: str = "cosine",
    *,
    max_neighbors: int = 100,
    min_support: int = 1,
    shrinkage: float = 0.0,
    positive_only: bool = False,
) -> PreparedSimilarity:
    """Validate the parameters and prepare ``X`` as :func:`similarity_matrix` does.

    Parameters and errors are those of :func:`synerec.similarity.similarity_matrix`.
    """
    from synerec.similarity import _kernels
    from synerec.similarity import similarity as single

    single._check_params(method, max_neighbors, min_support, shrinkage, 0)
    Xc = single._canonical_float32(X)
    n, m = Xc.shape
    k = int(min(max_neighbors, max(n - 1, 0)))
    indptr = Xc.indptr.astype(np.int64, copy=False)
    indices = Xc.indices.astype(np.int32, copy=False)
    data, norms = single._prepared_data(Xc, method)
    t_indptr, t_indices, perm = _kernels.transpose_structure(indptr, indices, m)
    corated = method != "cosine"
    counting = corated or min_support > 1 or shrinkage > 0 or bool((Xc.data < 0).any())
    dense_paths = int(min(np.ceil(single._DENSE_SCAN_FACTOR * n), np.iinfo(np.int64).max))
    return PreparedSimilarity(
        token=uuid.uuid4().hex, shape=(n, m), indptr=indptr, indices=indices, data=data,
        t_indptr=t_indptr, t_indices=t_indices, t_data=data[perm], norms=norms, corated=corated,
        counting=counting, k=k, min_support=int(min_support), shrinkage=float(shrinkage),
        positive_only=bool(positive_only), dense_paths=dense_paths)


def _block_paths(prep: PreparedSimilarity, start: int, stop: int) -> int:
    lo, hi = prep.indptr[start], prep.indptr[stop]
    col_sizes = np.diff(prep.t_indptr)
    return int(col_sizes[prep.indices[lo:hi]].sum())


def run_block(
    prep: PreparedSimilarity,
    start: int,
    stop: int,
    num_threads: int = 1,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, BlockCost]:
    """The neighbours of rows ``start:stop`` (one block; what each Ray task runs).

    Parameters
    ----------
    prep
        The prepared input.
    start, stop
        The block's rows.
    num_threads
        numba threads inside the block (0: numba's setting).
    device
        ``None``: the numba kernel; else a torch device (see :mod:`synerec.distributed._gpu`).

    Returns
    -------
    counts : numpy.ndarray
        int64 neighbours per row.
    indices, values : numpy.ndarray
        int32 / float32 neighbours, row after row, increasing index within a row.
    cost : BlockCost
        The block's cost.
    """
    from synerec.similarity import _kernels
    from synerec.similarity.similarity import _BLOCKS_PER_THREAD, numba_threads

    t0 = time.perf_counter()
    n = prep.shape[0]
    k = prep.k
    if device is not None:
        counts, idx, val = _device_block(prep, start, stop, device)
    else:
        rows = np.arange(start, stop, dtype=np.int64)
        # n x k, but only this block's rows are written: the untouched pages are never committed
        out_idx = np.empty((n, k), np.int32)
        out_val = np.empty((n, k), np.float32)
        out_cnt = np.zeros(n, np.int64)
        with numba_threads(num_threads) as threads:
            _kernels.topk_similarity(
                rows, prep.indptr, prep.indices, prep.data, prep.t_indptr, prep.t_indices,
                prep.t_data, prep.norms, prep.corated, prep.counting, k, prep.min_support,
                prep.shrinkage, prep.positive_only, prep.dense_paths,
                max(1, min(threads * _BLOCKS_PER_THREAD, len(rows))), out_idx, out_val, out_cnt)
        counts = out_cnt[start:stop].copy()
        keep = np.arange(k)[None, :] < counts[:, None]
        idx = out_idx[start:stop][keep]
        val = out_val[start:stop][keep]
    cost = BlockCost(start=start, stop=stop, paths=_block_paths(prep, start, stop),
                     seconds=time.perf_counter() - t0, neighbors=int(counts.sum()))
    return counts, idx, val, cost


# one DeviceMatrix per process and prepared input (by its token): the upload is paid once per
# worker process, not once per block
_DEVICE_CACHE: dict[tuple[str, str], Any] = {}


def _device_block(prep: PreparedSimilarity, start: int, stop: int, device: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from synerec.distributed import _gpu

    key = (prep.token, device)
    dm = _DEVICE_CACHE.get(key)
    if dm is None:
        _DEVICE_CACHE.clear()
        dm = _gpu.DeviceMatrix(prep.indptr, prep.indices, prep.data, prep.shape, device,
                               prep.corated, prep.counting)
        _DEVICE_CACHE[key] = dm
    return _gpu.similarity_block(dm, start, stop, prep.norms, prep.k, prep.min_support,
                                 prep.shrinkage, prep.positive_only)


def _blocks(n: int, block_rows: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + block_rows)) for s in range(0, n, block_rows)]


def merge_blocks(n: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> sp.csr_matrix:
    """The n x n CSR matrix of consecutive blocks' ``(counts, indices, values)``, built as
    :func:`synerec.similarity.similarity_matrix` builds its result."""
    counts = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    if len(counts) != n:
        raise ValueError(f"the blocks cover {len(counts)} rows, expected {n}")
    nnz = int(counts.sum())
    index_dtype = np.int32 if nnz <= _INT32_MAX else np.int64
    indptr = np.zeros(n + 1, index_dtype)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate([p[1] for p in parts]).astype(index_dtype, copy=False)
    data = np.concatenate([p[2] for p in parts]).astype(np.float32, copy=False)
    S = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    S.has_sorted_indices = True
    return S


def _run_blocks(prep: PreparedSimilarity, engine: str, block_rows: int | None,
                threads_per_block: int, dev: str | None, address: str | None,
                num_cpus: int | None, show_progress: bool) -> list[Any]:
    """Every block's result, in order: here, or as Ray tasks."""
    n = prep.shape[0]
    if engine == "local":
        rows = block_rows or math.ceil(n / 16)
        return _run_local(prep, _blocks(n, int(rows)), threads_per_block, dev, show_progress)
    with ray_session(address, num_cpus) as ray:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        rows = block_rows or math.ceil(n / max(16, 4 * cpus))
        return _run_ray(ray, prep, _blocks(n, int(rows)), max(1, threads_per_block), dev,
                        show_progress)


def _check_blocks(engine: str, threads_per_block: Any, block_rows: Any) -> None:
    if engine not in ("ray", "local"):
        raise ConfigError(f"engine must be 'ray' or 'local', got {engine!r}")
    if isinstance(threads_per_block, bool) or not isinstance(threads_per_block, int) \
            or threads_per_block < 0:
        raise ConfigError(f"threads_per_block must be an integer >= 0, got {threads_per_block!r}")
    if block_rows is not None and (isinstance(block_rows, bool) or not isinstance(
            block_rows, (int, np.integer)) or block_rows < 1):
        raise ConfigError(f"block_rows must be a positive integer, got {block_rows!r}")


def block_similarity_matrix(
    X: sp.spmatrix | sp.sparray,
    method: str = "cosine",
    *,
    max_neighbors: int = 100,
    min_support: int = 1,
    shrinkage: float = 0.0,
    positive_only: bool = False,
    engine: Literal["ray", "local"] = "ray",
    block_rows: int | None = None,
    threads_per_block: int = 1,
    device: str | None = "numpy",
    address: str | None = None,
    num_cpus: int | None = None,
    show_progress: bool = False,
    return_costs: bool = False,
) -> sp.csr_matrix | tuple[sp.csr_matrix, list[BlockCost]]:
    """:func:`synerec.similarity.similarity_matrix`, computed in row blocks (Ray tasks).

    Parameters
    ----------
    X, method, max_neighbors, min_support, shrinkage, positive_only
        As in :func:`synerec.similarity.similarity_matrix` (for item-item similarity,
        ``X = ratings.T.tocsr()``).
    engine
        ``"ray"``: one Ray task per block. ``"local"``: the same blocks one after the other in
        this process (for measuring per-block costs without a cluster).
    block_rows
        Rows per block; default ``ceil(n / max(16, 4 * CPUs of the cluster))``.
    threads_per_block
        numba threads (and Ray CPUs) per block task; ``0`` with ``engine="local"`` uses all
        of numba's threads.
    device
        ``"numpy"`` (default): the numba kernel, bit-for-bit equal to the single-node result.
        ``None``: a CUDA GPU when one is present (tasks then ask Ray for one GPU each), else
        the numba kernel. A torch device name forces the torch path (``"cpu"`` runs it on the
        CPU, for tests).
    address
        Ray cluster address (``None``: the runtime already started here, else a new local
        one; ``"auto"``; ``"ray://head:10001"``).
    num_cpus
        CPUs of a new local Ray runtime.
    show_progress
        A progress bar over the blocks.
    return_costs
        Also return each block's :class:`BlockCost`.

    Returns
    -------
    scipy.sparse.csr_matrix or (csr_matrix, list of BlockCost)
        n x n float32, canonical, at most ``max_neighbors`` per row: with the numba kernel,
        identical (``indptr``, ``indices``, ``data``) to the single-node result.

    Raises
    ------
    ConfigError
        Invalid parameters (as the single-node function), unknown engine, CUDA asked for
        without one.
    RayUnavailableError
        ``engine="ray"`` without Ray installed or without a reachable cluster.
    """
    from synerec.distributed._gpu import resolve_device

    _check_blocks(engine, threads_per_block, block_rows)
    dev = resolve_device(device)
    prep = prepare_similarity(X, method, max_neighbors=max_neighbors, min_support=min_support,
                              shrinkage=shrinkage, positive_only=positive_only)
    n = prep.shape[0]
    if prep.k == 0 or len(prep.indices) == 0:
        S = sp.csr_matrix((n, n), dtype=np.float32)
        return (S, []) if return_costs else S
    start = time.perf_counter()
    results = _run_blocks(prep, engine, block_rows, threads_per_block, dev, address, num_cpus,
                          show_progress)
    S = merge_blocks(n, [r[:3] for r in results])
    costs = [r[3] for r in results]
    log.info("%s similarity of %d rows in %d blocks (%s): %d neighbours in %.3f s", method, n,
             len(costs), engine, S.nnz, time.perf_counter() - start)
    return (S, costs) if return_costs else S


def _progress(show: bool, total: int, label: str) -> Any:
    from synerec.distributed._progress import progress_bar

    return progress_bar(show, total, label)


def _run_local(prep: PreparedSimilarity, blocks: list[tuple[int, int]], threads: int,
               device: str | None, show_progress: bool) -> list[Any]:
    out = []
    with _progress(show_progress, len(blocks), "similarity blocks") as advance:
        for lo, hi in blocks:
            out.append(run_block(prep, lo, hi, threads, device))
            advance(1)
    return out


def _ray_block(prep: PreparedSimilarity, start: int, stop: int, threads: int,
               device: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, BlockCost]:
    """The body of a Ray task (``prep`` arrives zero-copy from the object store)."""
    return run_block(prep, start, stop, threads, device)


def _run_ray(ray: Any, prep: PreparedSimilarity, blocks: list[tuple[int, int]], threads: int,
             device: str | None, show_progress: bool) -> list[Any]:
    options: dict[str, Any] = {"num_cpus": threads, "max_retries": 2}
    if device is not None and device.startswith("cuda"):
        options["num_gpus"] = 1
    task = ray.remote(**options)(_ray_block)
    t0 = time.perf_counter()
    prep_ref = ray.put(prep)  # once: every task reads the same shared-memory arrays
    log.debug("similarity input (%.1f MB) in the object store in %.3f s", prep.nbytes / 1e6,
              time.perf_counter() - t0)
    refs = [task.remote(prep_ref, lo, hi, threads, device) for lo, hi in blocks]
    position = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    with _progress(show_progress, len(blocks), "similarity blocks (ray)") as advance:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                results[position[ref]] = ray.get(ref)
                advance(1)
    del prep_ref
    return results

