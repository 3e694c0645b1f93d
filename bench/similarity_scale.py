"""Item-item cosine similarity at scale: synerec's top-k kernel against scipy's sparse product.

On a synthetic users x items matrix (power-law popularity, see ``synthetic.py``) this times,
warm (numba compiled beforehand), ``similarity_matrix(R.T.tocsr(), "cosine", max_neighbors=k)``
and scipy's ``X @ X.T`` product alone (no normalisation, no top-k), and, when the ``implicit``
package is importable, ``implicit``'s ``CosineRecommender(K=k).fit``.

Memory is the peak resident set size (RSS) during the call minus the RSS just before it, as
:class:`synerec.evaluation._memory.PeakMemory` measures it (the kernel's VmHWM after a reset
through ``/proc/self/clear_refs``; where that is not allowed, VmRSS sampled every 2 ms).
RSS, unlike tracemalloc, also sees numba's and scipy's C++ allocations; the script re-executes
itself with ``MALLOC_MMAP_THRESHOLD_=131072`` so that freed large blocks leave the RSS.

Run ``python bench/similarity_scale.py`` (``--help`` for the sizes); it prints a table and writes
``bench/results/similarity_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import scipy
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synerec.evaluation._memory import PeakMemory
from synerec.similarity import numba_threads, similarity_matrix, top_neighbors
from synthetic import synthetic_ratings

log = logging.getLogger("bench.similarity_scale")
RESULTS = Path(__file__).resolve().parent / "results" / "similarity_scale.json"


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """``(seconds, peak RSS increase in MiB, result)`` of one call."""
    with PeakMemory() as mem:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return seconds, mem.peak_mb, result


def repeat(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    times, mems = [], []
    result = None
    for _ in range(repeats):
        result = None  # free the previous result before the next run
        seconds, mib, result = measure(fn)
        times.append(seconds)
        mems.append(mib)
    return {"seconds": times, "median_s": statistics.median(times), "min_s": min(times),
            "peak_rss_delta_mib": max(mems), "result": result}


def check_against_product(S: sp.csr_matrix, X: sp.csr_matrix, k: int, rows: np.ndarray) -> float:
    """Largest gap between the kept similarities and the top-k of the normalised product."""
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    worst = 0.0
    for a in rows:
        dots = (X[a] @ X.T).toarray().ravel() / (norms[a] * np.maximum(norms, 1e-30))
        dots[a] = 0
        ref = np.sort(dots[dots > 0])[::-1][:k]
        _, sims = top_neighbors(S, int(a), k)
        worst = max(worst, float(np.max(np.abs(np.sort(sims)[::-1] - ref), initial=0.0)))
    return worst


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--ratings", type=int, default=2_000_000)
    parser.add_argument("--alpha", type=float, default=0.8, help="item popularity exponent")
    parser.add_argument("-k", "--max-neighbors", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="numba threads (0 = default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scipy-repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    k = args.max_neighbors

    start = time.perf_counter()
    R = synthetic_ratings(args.users, args.items, args.ratings, alpha=args.alpha)
    X = R.T.tocsr()  # items x users: item-item similarity
    gen_s = time.perf_counter() - start
    log.info("synthetic %d x %d, %d ratings in %.2f s", *R.shape, R.nnz, gen_s)
    paths = float(np.square(np.diff(R.indptr).astype(np.float64)).sum())

    with numba_threads(args.threads) as threads:
        similarity_matrix(X[:200], "cosine", max_neighbors=k)  # compile (or load the cache)
        load_before = os.getloadavg()
        ours = repeat(lambda: similarity_matrix(X, "cosine", max_neighbors=k), args.repeats)
        load_after = os.getloadavg()
    S = ours.pop("result")
    gap = check_against_product(S, X, k, np.random.default_rng(0).choice(X.shape[0], 5))
    product = repeat(lambda: X @ X.T, args.scipy_repeats)
    product_nnz = int(product.pop("result").nnz)

    rows: dict[str, dict[str, Any]] = {
        "synerec similarity_matrix (cosine, top-k)": ours,
        "scipy X @ X.T (product only)": product,
    }
    try:
        from implicit.nearest_neighbours import CosineRecommender
    except ImportError:
        implicit_note = "not installed"
    else:
        CosineRecommender(K=k).fit(R[:200])  # warm up
        rows["implicit CosineRecommender(K).fit"] = repeat(
            lambda: CosineRecommender(K=k).fit(R), args.repeats)
        rows["implicit CosineRecommender(K).fit"].pop("result")
        implicit_note = "measured"

    print(f"\nitem-item cosine, {args.items} items x {args.users} users, {R.nnz} ratings, "
          f"k={k}, {threads} numba threads, load average {load_before[0]:.2f}")
    print(f"{'':44s} {'median s':>9s} {'min s':>7s} {'peak RSS +MiB':>14s}")
    for name, r in rows.items():
        print(f"{name:44s} {r['median_s']:9.3f} {r['min_s']:7.3f} {r['peak_rss_delta_mib']:14.1f}")
    print(f"speed-up over the scipy product (median): "
          f"{product['median_s'] / ours['median_s']:.1f}x; implicit: {implicit_note}")
    print(f"kept {S.nnz} similarities; product has {product_nnz} nonzeros; "
          f"max gap to the product's top-k on 5 rows: {gap:.2e}")

    report = {
        "benchmark": "similarity_scale",
        "data": {"n_users": args.users, "n_items": args.items, "n_ratings": int(R.nnz),
                 "alpha": args.alpha, "user_alpha": 0.3, "generation_s": gen_s,
                 "user_item_user_paths": paths},
        "max_neighbors": k,
        "numba_threads": threads,
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [load_before, load_after],
        "memory_measure": "peak RSS minus RSS before the call (VmHWM after clear_refs=5, "
                          "or 2 ms VmRSS sampling), MALLOC_MMAP_THRESHOLD_="
                          + os.environ.get("MALLOC_MMAP_THRESHOLD_", "unset"),
        "results": rows,
        "similarity_nnz": int(S.nnz),
        "product_nnz": product_nnz,
        "speedup_vs_scipy_product": product["median_s"] / ours["median_s"],
        "max_abs_gap_vs_product_topk": gap,
        "implicit": implicit_note,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "numba": numba.__version__},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    log.info("wrote %s", args.output)
    return report


if __name__ == "__main__":
    # a fixed glibc mmap threshold returns every large block to the OS when it is freed, so the
    # RSS of one repeat does not hide in memory kept from the previous one
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})
    main()
