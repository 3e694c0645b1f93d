"""Does `synerec tune` find a good EASE lambda without looking at the test fold? (issue 11)

For each ``dropout`` (0: Steck's 2019 EASE; 0.67: synerec's default, the full-rank EDLAE), the
search of ``synerec tune`` (:func:`synerec.evaluation.tune`: seeded TPE over ``lambda_`` in
1..10,000 on a log scale, validation = each user's latest 20 % of the *training* ratings of the
fold) picks ``lambda_``; the model refitted on the whole training part with it is then measured
once on the test fold. Beside it, every ``lambda_`` of a grid is fitted on the training part and
measured on the test fold, and the best of the grid is reported: the tuned value should come
within 0.01 NDCG@10 of it.

Writes ``bench/results/tune_ease-<dataset>-<fold>.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/tune_ease.py            # ml-100k, u1
    SYNEREC_DATA_HOME=/path/to/data python bench/tune_ease.py --dataset uci-online-retail
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from synerec import __version__
from synerec.data import load_dataset, official_splits
from synerec.evaluation import ModelSpec, evaluate_fold, make_folds, tune
from synerec.evaluation.runner import default_relevance_threshold
from synerec.evaluation.tuning import Param

RESULTS = Path(__file__).resolve().parent / "results"
GRID = [10, 20, 50, 100, 150, 200, 300, 400, 500, 700, 1000, 1500, 2000, 3000, 5000]


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:  # pragma: no cover
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--fold", default=None, help="official fold (default u1) or temporal")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dropouts", default="0,0.67")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    which = args.fold or ("u1" if data.splits else "temporal")
    fold = (official_splits(data, [which])[0] if data.splits and which != "temporal"
            else make_folds(data, which)[0])
    threshold = default_relevance_threshold(data.rating_scale)
    payload: dict[str, Any] = {"synerec": __version__, "machine": platform.platform(),
                               "dataset": data.name, "fold": fold.name, "trials": args.trials,
                               "seed": args.seed, "grid": GRID, "loadavg_before": loadavg(),
                               "runs": []}
    print(f"{data.name} {fold.name}: tune lambda_ ({args.trials} trials, validation carved from "
          f"the training part), then the test fold; grid on the test fold for reference")
    for dropout in (float(x) for x in args.dropouts.split(",")):
        t0 = time.perf_counter()
        result = tune(fold.train, "ease", metric="ndcg@10", n_trials=args.trials,
                      space={"lambda_": Param("float", 1.0, 10_000.0, log=True)},
                      fixed={"dropout": dropout}, random_state=args.seed)
        tune_s = time.perf_counter() - t0
        tuned = evaluate_fold(ModelSpec("ease", result.config), fold, n=10,
                              relevance_threshold=threshold)
        grid = {}
        for lam in GRID:
            r = evaluate_fold(ModelSpec("ease", {"lambda_": lam, "dropout": dropout}), fold,
                              n=10, relevance_threshold=threshold)
            grid[lam] = r.metrics["ndcg@10"]
        best_lam = max(grid, key=lambda k: grid[k])
        gap = grid[best_lam] - tuned.metrics["ndcg@10"]
        run = {"dropout": dropout, "tuned_lambda": result.best_params["lambda_"],
               "validation_ndcg@10": result.best_value,
               "test_ndcg@10": tuned.metrics["ndcg@10"],
               "test_precision@10": tuned.metrics["precision@10"],
               "grid_test_ndcg@10": grid, "grid_best_lambda": best_lam,
               "grid_best_ndcg@10": grid[best_lam], "gap": gap, "tune_seconds": tune_s,
               "trials": [{"lambda_": t.params["lambda_"], "value": t.value}
                          for t in result.trials]}
        payload["runs"].append(run)
        print(f"dropout {dropout:g}: tuned lambda {run['tuned_lambda']:.1f} -> test NDCG@10 "
              f"{run['test_ndcg@10']:.4f} (validation {run['validation_ndcg@10']:.4f}, "
              f"{tune_s:.0f} s); grid best lambda {best_lam} -> {grid[best_lam]:.4f}; "
              f"gap {gap:+.4f} ({'within' if gap <= 0.01 else 'NOT within'} 0.01)")
        print("  grid: " + ", ".join(f"{k}: {v:.4f}" for k, v in grid.items()))
    payload["loadavg_after"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"tune_ease-{args.dataset}-{fold.name}.json"
    path.write_text(json.dumps(payload, indent=2))
    print(f"load average before {payload['loadavg_before']}, after {payload['loadavg_after']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
