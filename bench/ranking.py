"""Top-N ranking of every synerec model beside implicit's own models (issue 11's "must show").

Protocol (the one of ``bench/topn_u1.py``, through the same runner, ``synerec.evaluation``):
each model is fitted on a fold's training part; for every user with a test interaction, the
N = 10 best items among all items the user has no training interaction with are ranked;
relevant = test ratings >= 4 (MovieLens, Amazon; any held-out purchase for UCI Online Retail).

Data sets and folds (``--dataset``, ``--folds``):

* ``ml-100k``: ``u1`` (default) or ``official`` (u1..u5, mean and std);
* ``uci-online-retail``: ``temporal`` (each customer's latest 20 %);
* ``amazon-2018-all-beauty``: ``temporal`` (each user's latest 20 %).

Reference rows ``implicit:*`` are implicit's own CosineRecommender (K = 200), BM25Recommender,
AlternatingLeastSquares and BayesianPersonalizedRanking with their default settings, trained on
the training matrix as it is (ratings or purchase counts as weights, as a new user of implicit
would feed it), and ranked with ``filter_already_liked_items=True``; they are measured with
synerec's metrics on the same users. ``--no-implicit`` leaves them out.

Writes ``bench/results/ranking-<dataset>-<folds>.json`` with every fold's metrics, fit and
recommend seconds, peak memory, the configurations, versions and the load average before and
after. ``--speed`` adds repeated EASE fits (best and median of 5) on the data set's first
training part, with the BLAS library's threads and with one (``num_threads=1``: faster on a
machine whose cores other processes keep busy).

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/ranking.py --dataset ml-100k --folds u1
    SYNEREC_DATA_HOME=/path/to/data python bench/ranking.py --dataset ml-100k --folds official
    SYNEREC_DATA_HOME=/path/to/data python bench/ranking.py --dataset uci-online-retail \\
        --folds temporal --speed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec import __version__
from synerec.data import load_dataset
from synerec.data.splits import Fold
from synerec.evaluation import ModelSpec, evaluate, make_folds
from synerec.evaluation.runner import default_relevance_threshold
from synerec.metrics import catalogue_coverage, ranking_metrics, relevant_from_test

RESULTS = Path(__file__).resolve().parent / "results"

COSINE = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}

#: synerec's rows per data set (label -> spec); tuned values where the bench's grids found them.
SPECS: dict[str, list[ModelSpec]] = {
    "ml-100k": [
        ModelSpec("popularity", {}, "popularity"),
        ModelSpec("baseline", {}, "baseline (rating model)"),
        ModelSpec("mf", {"random_state": 42}, "mf (rating model)"),
        ModelSpec("item-cf", {}, "item-cf"),
        ModelSpec("user-cf", {}, "user-cf"),
        ModelSpec("user-cf", COSINE, "user-cf (cosine)"),
        ModelSpec("ease", {}, "ease"),
        ModelSpec("ease", {"lambda_": 500.0, "dropout": 0.0}, "ease (plain, lambda 500)"),
        ModelSpec("ease", {"lambda_": 500.0, "dropout": 0.0, "positive_threshold": None},
                  "ease (plain, all ratings)"),
        ModelSpec("ease", {"variant": "sparse", "neighbors": 100}, "ease (sparse, 100)"),
        ModelSpec("ease", {"variant": "sparse", "neighbors": 300}, "ease (sparse, 300)"),
        ModelSpec("rp3beta", {}, "rp3beta"),
        ModelSpec("als", {"random_state": 42}, "als"),
        ModelSpec("bpr", {"random_state": 42}, "bpr"),
    ],
    "uci-online-retail": [
        ModelSpec("popularity", {}, "popularity"),
        ModelSpec("item-cf", {}, "item-cf"),
        ModelSpec("user-cf", {}, "user-cf"),
        ModelSpec("ease", {}, "ease"),
        ModelSpec("ease", {"lambda_": 200.0, "dropout": 0.0}, "ease (plain, lambda 200)"),
        ModelSpec("ease", {"variant": "sparse", "neighbors": 200}, "ease (sparse, 200)"),
        ModelSpec("rp3beta", {}, "rp3beta"),
        ModelSpec("als", {"random_state": 42}, "als"),
        ModelSpec("bpr", {"random_state": 42}, "bpr"),
    ],
    "amazon-2018-all-beauty": [
        ModelSpec("popularity", {}, "popularity"),
        ModelSpec("baseline", {}, "baseline (rating model)"),
        ModelSpec("item-cf", {}, "item-cf"),
        ModelSpec("user-cf", {}, "user-cf"),
        ModelSpec("ease", {}, "ease"),
        ModelSpec("ease", {"lambda_": 500.0, "dropout": 0.0}, "ease (plain, lambda 500)"),
        ModelSpec("rp3beta", {}, "rp3beta"),
        ModelSpec("als", {"random_state": 42}, "als"),
        ModelSpec("bpr", {"random_state": 42}, "bpr"),
    ],
}

COLUMNS = ["precision@10", "recall@10", "ndcg@10", "coverage", "fit_seconds"]


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:  # pragma: no cover - not Linux
        return []


def folds_of(data: Any, which: str) -> list[Fold]:
    if which in ("official", "temporal", "holdout", "last-1") or which.isdigit():
        return make_folds(data, which, random_state=42)
    from synerec.data import official_splits

    return official_splits(data, which.split(","))


def implicit_rows(folds: list[Fold], threshold: float | None, n: int = 10
                  ) -> list[dict[str, Any]]:
    """implicit's own models on the same folds, measured with synerec's metrics."""
    try:
        import implicit  # noqa: F401
        from implicit.als import AlternatingLeastSquares
        from implicit.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("implicit is not installed: no reference rows")
        return []
    makers = {
        "implicit: CosineRecommender K=200": lambda: CosineRecommender(K=200),
        "implicit: BM25Recommender": lambda: BM25Recommender(),
        "implicit: ALS (defaults)": lambda: AlternatingLeastSquares(random_state=42),
        "implicit: BPR (defaults)": lambda: BayesianPersonalizedRanking(random_state=42),
    }
    # implicit's item-item models convert their own input internally and warn about it
    warnings.filterwarnings("ignore", message="Method expects CSR input")
    rows = []
    for fold in folds:
        X = sp.csr_matrix(fold.train.matrix, dtype=np.float32)  # ratings / counts as weights
        test = fold.test.matrix
        users = np.flatnonzero(np.diff(test.indptr) > 0)
        relevant = relevant_from_test(test[users], threshold)
        for label, make in makers.items():
            model = make()
            with threadpool_limits(1, "blas"):
                t0 = time.perf_counter()
                model.fit(X, show_progress=False)
                fit_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                ids, _ = model.recommend(users, sp.csr_matrix(X[users]), N=n,
                                         filter_already_liked_items=True)
                rec_s = time.perf_counter() - t0
            ids = np.asarray(ids, dtype=np.int64)
            ids[ids < 0] = -1
            metrics = ranking_metrics(ids, relevant, n)
            row = {"model": label, "fold": fold.name, **{f"{k}@{n}" if k != "mrr" else k: v
                                                        for k, v in metrics.items()},
                   "coverage": catalogue_coverage(ids, X.shape[1]), "fit_seconds": fit_s,
                   "recommend_seconds": rec_s}
            rows.append(row)
    return rows


def speed(data: Any, folds: list[Fold], repeats: int = 5) -> dict[str, Any]:
    """EASE fit times (default settings) on the first training part, best and median."""
    from synerec.algorithms import create_model

    train = folds[0].train
    out: dict[str, Any] = {"train": train.name, "n_items": train.n_items,
                           "n_interactions": train.n_interactions,
                           "loadavg_before": loadavg()}
    for label, config in (("ease", {}), ("ease (plain)", {"dropout": 0.0}),
                          ("ease, 1 thread", {"num_threads": 1})):
        times = []
        for _ in range(repeats):
            model = create_model("ease", **config)
            t0 = time.perf_counter()
            model.fit(train)
            times.append(time.perf_counter() - t0)
        out[label] = {"best_s": min(times), "median_s": statistics.median(times),
                      "times_s": times}
    out["loadavg_after"] = loadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-100k", choices=sorted(SPECS))
    parser.add_argument("--folds", default=None,
                        help="u1 | official | temporal | holdout (default: u1 for ml-100k, "
                             "temporal otherwise)")
    parser.add_argument("--models", default=None,
                        help="comma-separated labels to run (default: all of the data set)")
    parser.add_argument("--no-implicit", action="store_true", help="skip implicit's rows")
    parser.add_argument("--speed", action="store_true", help="add repeated EASE fit timings")
    parser.add_argument("--out", default=None, help="JSON file to write (default "
                        "bench/results/ranking-<dataset>-<folds>.json; give another one "
                        "with --models, or the full table's file is replaced)")
    args = parser.parse_args()
    which = args.folds or ("u1" if args.dataset == "ml-100k" else "temporal")
    data = load_dataset(args.dataset)
    folds = folds_of(data, which)
    specs = SPECS[args.dataset]
    if args.models:
        wanted = {m.strip() for m in args.models.split(",")}
        specs = [s for s in specs if s.display in wanted or s.name in wanted]
    threshold = default_relevance_threshold(data.rating_scale)
    load_before = loadavg()
    t_start = time.perf_counter()
    result = evaluate(specs, data, folds, n=10, relevance_threshold="auto", show_progress=True)
    rows = [{"model": r.model, "fold": r.fold, **r.metrics, "fit_seconds": r.fit_seconds,
             "recommend_seconds": r.recommend_seconds, "peak_memory_mb": r.peak_memory_mb}
            for r in result.folds]
    if not args.no_implicit:
        rows += implicit_rows(folds, threshold)
    frame = pd.DataFrame(rows)
    order = list(dict.fromkeys(frame["model"]))
    numeric = frame.drop(columns=["fold"])
    mean = numeric.groupby("model", sort=False).mean().loc[order]
    std = numeric.groupby("model", sort=False).std(ddof=0).loc[order]
    table = mean[COLUMNS].copy()
    if len(folds) > 1:
        for c in ("precision@10", "recall@10", "ndcg@10"):
            table[c] = [f"{m:.4f} ± {s:.4f}" for m, s in zip(mean[c], std[c], strict=True)]
    print(f"\n{data.name}, folds {which} ({len(folds)}), relevant >= {threshold}")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(4).to_string())
    payload: dict[str, Any] = {
        "synerec": __version__, "machine": platform.platform(), "cpus": os.cpu_count(),
        "dataset": data.name, "folds": [f.name for f in folds], "n": 10,
        "relevance_threshold": threshold,
        "loadavg_before": load_before, "loadavg_after": loadavg(),
        "wall_seconds": time.perf_counter() - t_start,
        "configs": {s.display: {"model": s.name, **dict(s.config)} for s in specs},
        "rows": rows,
        "summary": {m: {c: (None if pd.isna(v) else float(v)) for c, v in row.items()}
                    for m, row in mean.to_dict(orient="index").items()},
        "std": {m: {c: (None if pd.isna(v) else float(v)) for c, v in row.items()}
                for m, row in std.to_dict(orient="index").items()},
    }
    if args.speed:
        payload["speed"] = speed(data, folds)
        sp_ = payload["speed"]
        print(f"\nEASE fit on {sp_['train']} ({sp_['n_items']} items): "
              + ", ".join(f"{k} best {v['best_s']:.3f} s median {v['median_s']:.3f} s"
                          for k, v in sp_.items() if isinstance(v, dict))
              + f"; load average {sp_['loadavg_before']} -> {sp_['loadavg_after']}")
    print(f"load average before {load_before}, after {payload['loadavg_after']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = Path(args.out) if args.out else \
        RESULTS / f"ranking-{args.dataset}-{which.replace(',', '-')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
