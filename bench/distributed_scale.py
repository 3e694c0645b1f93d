"""Similarity and top-10 of all users at scale: single node against Ray (local cluster).

On a synthetic users x items matrix (power-law popularity, generated in chunks by
``synthetic.py``; default 1,000,000 x 100,000 with 20,000,000 interactions) this measures:

1. item-item cosine similarity (top ``k``): :func:`synerec.similarity.similarity_matrix` on one
   node, then :func:`synerec.distributed.block_similarity_matrix` on a local Ray cluster
   (``--workers`` CPUs, one block per task), and checks that both are bit-for-bit equal;
2. top-10 of every user with an item-item CF model (``ItemKNN`` on the same similarity):
   :func:`synerec.distributed.batch_recommend` with ``engine="local"`` and ``engine="ray"``,
   and checks that both Parquet files are equal.

Wall time, and peak memory: the driver's peak RSS above its RSS before the step, and the peak of
the summed RSS of the Ray worker processes (sampled every 50 ms from ``/proc``; pages of the
object store shared by several workers are counted once per worker, so this over-counts).

From the per-block costs (each block timed inside its task, one thread) it **projects** the time
on 10 and 100 workers: ``broadcast + max(sum(block seconds) / W, slowest block) + merge``, where
``broadcast`` is the input size over an assumed 1 GB/s network and ``merge`` the driver's
measured merge (similarity) or Parquet writing (top-10) time. A projection, not a measurement:
it assumes equal workers, no stragglers and a scheduler that keeps every worker busy.

Run ``python bench/distributed_scale.py`` (``--help`` for the sizes; the full size needs about
10 GB of memory and tens of minutes on 2 cores); it prints a table and writes
``bench/results/distributed_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synerec.algorithms import ItemKNN
from synerec.distributed import batch_recommend, block_similarity_matrix, recommend_block
from synerec.similarity import similarity_matrix
from synthetic import synthetic_ratings

log = logging.getLogger("bench.distributed_scale")
RESULTS = Path(__file__).resolve().parent / "results" / "distributed_scale.json"
NETWORK_BYTES_PER_S = 1e9


def _rss_kib(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _ray_worker_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read(200)
        except OSError:
            continue
        if cmd.startswith(b"ray::"):
            pids.append(int(entry))
    return pids


def measure(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn``: seconds, driver peak RSS increase and Ray workers' peak summed RSS (MiB)."""
    base = _rss_kib()
    workers_base = sum(_rss_kib(p) for p in _ray_worker_pids())
    peak = {"driver": base, "workers": workers_base}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["driver"] = max(peak["driver"], _rss_kib())
            peak["workers"] = max(peak["workers"], sum(_rss_kib(p) for p in _ray_worker_pids()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    return {"seconds": seconds, "driver_peak_mib": (peak["driver"] - base) / 1024,
            "workers_peak_mib": peak["workers"] / 1024,
            "workers_peak_increase_mib": (peak["workers"] - workers_base) / 1024,
            "result": result}


def projection(block_seconds: list[float], broadcast_bytes: float, merge_s: float,
               workers: tuple[int, ...] = (10, 100)) -> dict[str, float]:
    """Projected wall time on ``W`` workers (see the module docstring)."""
    total = float(sum(block_seconds))
    slowest = float(max(block_seconds))
    return {f"{w}_workers_s": broadcast_bytes / NETWORK_BYTES_PER_S
            + max(total / w, slowest) + merge_s for w in workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--ratings", type=int, default=20_000_000)
    parser.add_argument("--alpha", type=float, default=0.8, help="item popularity exponent")
    parser.add_argument("-k", "--max-neighbors", type=int, default=100)
    parser.add_argument("--n", type=int, default=10, help="list length")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--block-rows", type=int, default=1000, help="similarity rows per task")
    parser.add_argument("--batch-size", type=int, default=5000, help="users per batch")
    parser.add_argument("--sample-batches", type=int, default=10,
                        help="batches timed one by one (one thread) for the projection")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import ray

    report: dict[str, Any] = {
        "benchmark": "distributed_scale",
        "data": {"n_users": args.users, "n_items": args.items, "n_ratings": args.ratings,
                 "alpha": args.alpha},
        "max_neighbors": args.max_neighbors, "n": args.n, "ray_workers": args.workers,
        "block_rows": args.block_rows, "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "load_average_before": os.getloadavg(),
        "dense_users_x_items_float32_gib": args.users * args.items * 4 / 2**30,
        "network_bytes_per_s_assumed": NETWORK_BYTES_PER_S,
    }
    gen = measure(lambda: synthetic_ratings(args.users, args.items, args.ratings, args.alpha,
                                            random_state=0))
    R = gen.pop("result")
    report["data"]["generation_s"] = gen["seconds"]
    report["data"]["generation_peak_mib"] = gen["driver_peak_mib"]
    X = R.T.tocsr()
    log.info("data: %s, %d interactions, generated in %.1f s", R.shape, R.nnz, gen["seconds"])

    # warm-up: numba compilation is not part of the measurement
    small = X[:2000]
    similarity_matrix(small, "cosine", max_neighbors=10)

    k = args.max_neighbors
    single = measure(lambda: similarity_matrix(X, "cosine", max_neighbors=k))
    S = single.pop("result")
    log.info("single-node similarity: %.1f s", single["seconds"])

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    try:
        block_similarity_matrix(small, "cosine", max_neighbors=10, engine="ray", block_rows=500)
        dist = measure(lambda: block_similarity_matrix(
            X, "cosine", max_neighbors=k, engine="ray", block_rows=args.block_rows,
            return_costs=True))
        S_ray, costs = dist.pop("result")
        equal = bool(np.array_equal(S.indptr, S_ray.indptr) and
                     np.array_equal(S.indices, S_ray.indices) and
                     np.array_equal(S.data, S_ray.data))
        del S_ray
        t0 = time.perf_counter()
        from synerec.distributed.similarity import merge_blocks, prepare_similarity

        prep = prepare_similarity(X, "cosine", max_neighbors=k)
        prepare_s = time.perf_counter() - t0
        fake = [(np.diff(S.indptr[c.start:c.stop + 1]).astype(np.int64),
                 S.indices[S.indptr[c.start]:S.indptr[c.stop]],
                 S.data[S.indptr[c.start]:S.indptr[c.stop]]) for c in costs]
        t0 = time.perf_counter()
        merge_blocks(S.shape[0], fake)
        merge_s = time.perf_counter() - t0
        del fake
        block_s = [c.seconds for c in costs]
        report["similarity"] = {
            "method": "cosine", "nnz": int(S.nnz),
            "paths": int(sum(c.paths for c in costs)),
            "single_node": {k_: v for k_, v in single.items()},
            "ray_local": {k_: v for k_, v in dist.items()},
            "ray_equals_single_node_bit_for_bit": equal,
            "blocks": len(costs),
            "block_seconds": {"sum": sum(block_s), "median": statistics.median(block_s),
                              "max": max(block_s), "min": min(block_s)},
            "seconds_per_million_paths": sum(block_s) / max(1, sum(c.paths for c in costs))
            * 1e6,
            "input_bytes": prep.nbytes, "driver_prepare_s": prepare_s,
            "driver_merge_s": merge_s,
            "projection": projection(block_s, prep.nbytes, prepare_s + merge_s),
        }
        del prep
        log.info("ray similarity: %.1f s, equal=%s", dist["seconds"], equal)

        # -- top-n of every user with item-item CF on the same similarity -------------------
        fit = measure(lambda: ItemKNN(k=40, similarity="cosine", max_neighbors=k,
                                      min_support=1, shrinkage=0.0).fit(R))
        model = fit.pop("result")
        del S
        with tempfile.TemporaryDirectory() as tmp:
            model.recommend_indices(np.arange(100), args.n)  # warm-up (compilation)
            local = measure(lambda: batch_recommend(model, "all", args.n,
                                                    out=Path(tmp) / "local.parquet",
                                                    batch_size=args.batch_size))
            local_res = local.pop("result")
            remote = measure(lambda: batch_recommend(model, "all", args.n,
                                                     out=Path(tmp) / "ray.parquet",
                                                     engine="ray", batch_size=args.batch_size))
            remote_res = remote.pop("result")
            import pyarrow.parquet as pq

            table = pq.read_table(local_res.path)
            same = table.equals(pq.read_table(remote_res.path))
            file_mib = local_res.path.stat().st_size / 2**20
            # the driver's own cost, which does not shrink with more workers: writing the rows
            t0 = time.perf_counter()
            pq.write_table(table, Path(tmp) / "rewrite.parquet")
            write_s = time.perf_counter() - t0
            del table
        # per-batch cost at one thread, on a sample of batches spread over the users
        numba.set_num_threads(1)
        starts = np.linspace(0, max(0, args.users - args.batch_size), args.sample_batches)
        batch_s = []
        for s in starts.astype(int):
            users = np.arange(s, min(args.users, s + args.batch_size))
            t0 = time.perf_counter()
            recommend_block(model, users, args.n)
            batch_s.append(time.perf_counter() - t0)
        n_batches = local_res.n_batches
        est_total = statistics.mean(batch_s) * n_batches
        model_bytes = sum(a.nbytes for a in (model.train_.data, model.train_.indices,
                                             model.train_.indptr, model.similarity_.data,
                                             model.similarity_.indices))
        report["top_n"] = {
            "model": "ItemKNN(k=40, cosine, max_neighbors=k)",
            "fit": fit, "local": {**local, "rows": local_res.n_rows},
            "ray_local": {**remote, "rows": remote_res.n_rows, "workers": remote_res.workers,
                          "model_shared_zero_copy": remote_res.model_shared},
            "ray_equals_local_file": bool(same), "parquet_mib": file_mib,
            "batches": n_batches, "driver_parquet_write_s": write_s,
            "batch_seconds_one_thread": {"sampled": len(batch_s),
                                         "median": statistics.median(batch_s),
                                         "max": max(batch_s), "estimated_sum": est_total},
            "model_bytes": model_bytes,
            "projection": projection([statistics.mean(batch_s)] * n_batches, model_bytes,
                                     write_s),
        }
        log.info("top-%d: local %.1f s, ray %.1f s, equal=%s", args.n, local["seconds"],
                 remote["seconds"], same)
    finally:
        ray.shutdown()
    report["load_average_after"] = os.getloadavg()
    report["versions"] = {"python": platform.python_version(), "numpy": np.__version__,
                          "numba": numba.__version__, "ray": ray.__version__}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=float) + "\n")
    _print_table(report)


def _print_table(r: dict[str, Any]) -> None:
    sim, top = r["similarity"], r["top_n"]
    rows = [
        ("similarity, single node", sim["single_node"]),
        ("similarity, Ray local", sim["ray_local"]),
        ("top-n all users, single node", top["local"]),
        ("top-n all users, Ray local", top["ray_local"]),
    ]
    print(f"\n{r['data']['n_users']:,} users x {r['data']['n_items']:,} items, "
          f"{r['data']['n_ratings']:,} interactions; k={r['max_neighbors']}, n={r['n']}")
    print(f"{'step':32s} {'wall s':>9s} {'driver +MiB':>12s} {'workers MiB':>12s} "
          f"{'workers +MiB':>13s}")
    for name, m in rows:
        print(f"{name:32s} {m['seconds']:9.1f} {m['driver_peak_mib']:12.0f} "
              f"{m['workers_peak_mib']:12.0f} {m['workers_peak_increase_mib']:13.0f}")
    print(f"similarity equal bit-for-bit: {sim['ray_equals_single_node_bit_for_bit']}; "
          f"top-n files equal: {top['ray_equals_local_file']}")
    print(f"similarity: {sim['blocks']} blocks, sum {sim['block_seconds']['sum']:.1f} s, "
          f"max {sim['block_seconds']['max']:.2f} s; projected "
          + ", ".join(f"{k}={v:.1f}" for k, v in sim["projection"].items()))
    b = top["batch_seconds_one_thread"]
    print(f"top-n: {top['batches']} batches, median {b['median']:.2f} s (1 thread); projected "
          + ", ".join(f"{k}={v:.1f}" for k, v in top["projection"].items()))


if __name__ == "__main__":
    main()
