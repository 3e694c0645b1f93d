"""Accuracy and speed of the neighbourhood models (UserKNN, ItemKNN) on MovieLens 100K and at scale.

1. **Accuracy**: MAE / RMSE, mean over the official folds u1..u5 of ml-100k, of UserKNN
   (Pearson, cosine), ItemKNN (adjusted cosine, Pearson, cosine; the paper's plain eq. 4), next
   to Baseline and MatrixFactorization.
2. **Speed**: the full 5-fold evaluation (fit + predict all 100,000 test ratings) of UserKNN
   and ItemKNN at k = 40, best of ``--repeats`` runs, after a warm-up that compiles the numba
   kernels (timed separately). With scikit-surprise installed, its ``KNNWithMeans`` runs on
   the same folds and the time ratio is printed.
3. **Scale**: a synthetic 50,000 users x 20,000 items matrix with 2,000,000 ratings and
   power-law popularity (``bench/synthetic.py``): ItemKNN fit with ``max_neighbors=100``
   (time and peak memory sampled by :class:`synerec.evaluation._memory.PeakMemory`) and top-10
   for 10,000 users. With implicit installed, its ``CosineRecommender(K=100)`` is timed on
   the same matrix.

Prints tables and writes ``bench/results/cf_core.json``. Timings are best-of-``--repeats``;
the load average at the start is recorded (time on a quiet machine).

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/cf_core.py [--repeats 3] [--skip-scale] ...

To time a true numba compilation (not a load from numba's on-disk cache) run it with a fresh
cache directory: ``NUMBA_CACHE_DIR=$(mktemp -d) python bench/cf_core.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from _folds import fold_accuracy
from synerec import __version__
from synerec.algorithms import (
    Baseline,
    ItemKNN,
    MatrixFactorization,
    Recommender,
    UserKNN,
)
from synerec.data import InteractionDataset, load_dataset, official_splits
from synerec.data.splits import Fold
from synerec.evaluation._memory import PeakMemory
from synerec.similarity import similarity_matrix
from synthetic import synthetic_ratings

RESULTS = Path(__file__).resolve().parent / "results" / "cf_core.json"
FOLDS = ["u1", "u2", "u3", "u4", "u5"]

log = logging.getLogger("bench.cf_core")


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, list[float]]:
    """Best wall time of ``repeats`` calls of ``run`` and all the times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times), times


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel the models use; returns seconds."""
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"user_id": rng.integers(0, 30, n), "item_id": rng.integers(0, 20, n),
                       "rating": rng.integers(1, 6, n)}).drop_duplicates(["user_id", "item_id"])
    data = InteractionDataset.from_dataframe(df, rating_scale=(1, 5))
    t0 = time.perf_counter()
    for model in (UserKNN(similarity="pearson"), UserKNN(similarity="cosine"),
                  ItemKNN(similarity="adjusted_cosine"), ItemKNN(similarity="cosine")):
        model.fit(data)
        model.predict_indices(data.user_index, data.item_index)
        model.recommend(data.users.ids[:5], n=3)
    return time.perf_counter() - t0


# -- 1. accuracy ---------------------------------------------------------------------------------

def accuracy(folds: list[Fold], with_mf: bool) -> dict[str, Any]:
    models: dict[str, Recommender] = {
        "baseline": Baseline(),
        "user-cf pearson (default)": UserKNN(),
        "user-cf cosine": UserKNN(similarity="cosine"),
        "item-cf adjusted_cosine (default)": ItemKNN(),
        "item-cf pearson": ItemKNN(similarity="pearson"),
        "item-cf cosine": ItemKNN(similarity="cosine"),
        "item-cf adjusted_cosine, plain eq. 4": ItemKNN(center=False),
        "user-cf pearson, paper (no shrinkage)": UserKNN(min_support=1, shrinkage=0.0),
    }
    if with_mf:
        models["mf"] = MatrixFactorization(random_state=42)
    out: dict[str, Any] = {}
    print("\n== accuracy on ml-100k, official folds u1..u5 (mean) ==")
    print(f"{'model':<40} {'MAE':>7} {'RMSE':>7} {'fit s':>7} {'pred s':>7}")
    for name, model in models.items():
        rows = fold_accuracy(model, folds)
        mean = {k: float(np.mean([r[k] for r in rows]))
                for k in ("mae", "rmse", "fit_s", "predict_s")}
        out[name] = {"config": model.get_config().model_dump(mode="json"),
                     "model": type(model).__name__, "per_fold": rows, "mean": mean}
        print(f"{name:<40} {mean['mae']:7.4f} {mean['rmse']:7.4f} {mean['fit_s']:7.3f} "
              f"{mean['predict_s']:7.3f}")
    return out


# -- 2. speed ------------------------------------------------------------------------------------

def five_fold_time(model: Recommender, folds: list[Fold], repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` time of fit + predict over all folds, and the phase split."""
    phases: list[tuple[float, float]] = []

    def run() -> None:
        fit = pred = 0.0
        for fold in folds:
            t0 = time.perf_counter()
            model.fit(fold.train)
            t1 = time.perf_counter()
            model.predict_indices(fold.test.user_index, fold.test.item_index)
            t2 = time.perf_counter()
            fit += t1 - t0
            pred += t2 - t1
        phases.append((fit, pred))

    best, times = best_of(repeats, run)
    fit, pred = phases[int(np.argmin(times))]
    return {"best_s": best, "all_s": times, "fit_s": fit, "predict_s": pred}


def surprise_five_fold(folds: list[Fold], user_based: bool) -> dict[str, Any] | None:
    """KNNWithMeans (k = 40) on the same folds: seconds (fit + test) and accuracy, or None."""
    try:
        from surprise import Dataset, KNNWithMeans, Reader
    except ImportError:
        return None
    sim = {"name": "pearson", "user_based": user_based}
    total = 0.0
    errors = []
    for fold in folds:
        tr = fold.train.to_dataframe()
        cols = ["user_id", "item_id", "rating"]
        trainset = Dataset.load_from_df(tr[cols], Reader(rating_scale=(1, 5))).build_full_trainset()
        te = fold.test.to_dataframe()
        testset = list(zip(te["user_id"], te["item_id"], te["rating"], strict=True))
        algo = KNNWithMeans(k=40, sim_options=sim, verbose=False)
        t0 = time.perf_counter()
        algo.fit(trainset)
        preds = algo.test(testset)
        total += time.perf_counter() - t0
        errors.append(np.array([p.est - p.r_ui for p in preds]))
    err = np.concatenate(errors)
    return {"total_s": total, "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))), "similarity": "pearson"}


def speed(folds: list[Fold], repeats: int, with_surprise: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print(f"\n== speed: 5-fold fit + predict of 100,000 ratings, k = 40, best of {repeats} ==")
    print(f"{'model':<28} {'total s':>8} {'fit s':>7} {'pred s':>7}  all runs")
    for name, model, user_based in (("user-cf (UserKNN pearson)", UserKNN(k=40), True),
                                    ("item-cf (ItemKNN adj. cos)", ItemKNN(k=40), False)):
        r = five_fold_time(model, folds, repeats)
        print(f"{name:<28} {r['best_s']:8.3f} {r['fit_s']:7.3f} {r['predict_s']:7.3f}  "
              + " ".join(f"{t:.3f}" for t in r["all_s"]))
        if with_surprise:
            s = surprise_five_fold(folds, user_based)
            if s is not None:
                r["surprise_knn_with_means"] = s
                r["surprise_over_synerec"] = s["total_s"] / r["best_s"]
                print(f"{'  surprise KNNWithMeans':<28} {s['total_s']:8.3f}  (pearson, "
                      f"RMSE {s['rmse']:.4f}): {r['surprise_over_synerec']:.1f}x slower")
            else:
                print("  (scikit-surprise not installed: no comparison)")
        out[name] = r
    return out


# -- 3. scale ------------------------------------------------------------------------------------

def scale(repeats: int, n_users: int, n_items: int, n_ratings: int,
          n_rec_users: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    R = synthetic_ratings(n_users, n_items, n_ratings, random_state=0)
    gen_s = time.perf_counter() - t0
    print(f"\n== scale: synthetic {n_users:,} users x {n_items:,} items, {R.nnz:,} ratings "
          f"(generated in {gen_s:.1f} s) ==")
    model = ItemKNN(max_neighbors=100)
    peaks: list[float] = []

    def fit() -> None:
        with PeakMemory() as mem:
            model.fit(R, rating_scale=(1, 5))
        peaks.append(mem.peak_mb)

    fit_best, fit_all = best_of(repeats, fit)
    # the part of the fit spent in synerec.similarity.similarity_matrix
    cfg = model.get_config()
    items_users = R.T.tocsr()
    sim_best, sim_all = best_of(repeats, lambda: similarity_matrix(
        items_users, cfg.similarity, max_neighbors=cfg.max_neighbors,
        min_support=cfg.min_support, shrinkage=cfg.shrinkage))
    users = np.random.default_rng(1).choice(n_users, size=n_rec_users, replace=False)
    model.recommend_indices(users[:100], n=10)  # builds the transposed similarity once
    rec_best, rec_all = best_of(repeats, lambda: model.recommend_indices(users, n=10))
    out: dict[str, Any] = {
        "shape": [n_users, n_items], "nnz": int(R.nnz),
        "itemknn_fit_s": fit_best, "itemknn_fit_all_s": fit_all,
        "itemknn_fit_peak_mb": max(peaks), "itemknn_fit_peaks_mb": peaks,
        "similarity_matrix_s": sim_best, "similarity_matrix_all_s": sim_all,
        "itemknn_top10_users": n_rec_users, "itemknn_top10_s": rec_best,
        "itemknn_top10_all_s": rec_all, "config": model.get_config().model_dump(mode="json"),
    }
    print(f"{'ItemKNN fit (max_neighbors=100)':<40} {fit_best:7.3f} s  peak {max(peaks):7.1f} MiB"
          "  runs " + " ".join(f"{t:.3f}" for t in fit_all))
    print(f"{'  of which similarity_matrix':<40} {sim_best:7.3f} s"
          "  runs " + " ".join(f"{t:.3f}" for t in sim_all))
    print(f"{f'ItemKNN top-10 for {n_rec_users:,} users':<40} {rec_best:7.3f} s"
          "  runs " + " ".join(f"{t:.3f}" for t in rec_all))
    try:
        from implicit.nearest_neighbours import CosineRecommender
    except ImportError:
        print("(implicit not installed: no comparison)")
        return out
    imp = CosineRecommender(K=100)
    user_items = R.tocsr()
    with warnings.catch_warnings():  # implicit warns about its own internal conversions
        warnings.simplefilter("ignore")
        imp_fit, imp_fit_all = best_of(repeats, lambda: imp.fit(user_items,
                                                                show_progress=False))
        imp_rec, imp_rec_all = best_of(
            repeats, lambda: imp.recommend(users, user_items[users], N=10))
    out.update({"implicit_cosine_fit_s": imp_fit, "implicit_cosine_fit_all_s": imp_fit_all,
                "implicit_cosine_top10_s": imp_rec, "implicit_cosine_top10_all_s": imp_rec_all})
    print(f"{'implicit CosineRecommender(K=100) fit':<40} {imp_fit:7.3f} s")
    print(f"{f'implicit top-10 for {n_rec_users:,} users':<40} {imp_rec:7.3f} s")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it writes to the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-mf", action="store_true", help="leave MF out of the table")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-surprise", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--scale", type=int, nargs=3, default=[50_000, 20_000, 2_000_000],
                        metavar=("USERS", "ITEMS", "RATINGS"))
    parser.add_argument("--rec-users", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    load = os.getloadavg()
    report: dict[str, Any] = {
        "dataset": "ml-100k", "folds": FOLDS, "synerec_version": __version__,
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "load_average_at_start": load, "repeats": args.repeats,
    }
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} cpus, {numba.get_num_threads()} numba threads)")
    report["warmup_s"] = warm_up()
    print(f"numba warm-up (compile, or load from the cache): {report['warmup_s']:.2f} s")

    if not (args.skip_accuracy and args.skip_speed):
        data = load_dataset("ml-100k", download=False)
        folds = official_splits(data, FOLDS)
        if not args.skip_accuracy:
            report["accuracy"] = accuracy(folds, with_mf=not args.skip_mf)
        if not args.skip_speed:
            report["speed"] = speed(folds, args.repeats, with_surprise=not args.skip_surprise)
    if not args.skip_scale:
        report["scale"] = scale(args.repeats, *args.scale, n_rec_users=args.rec_users)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return report


if __name__ == "__main__":
    main()
