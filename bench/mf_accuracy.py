"""Rating-prediction accuracy of Baseline and MatrixFactorization on MovieLens 100K.

Fits each model on the official folds u1..u5 (``u{k}.base`` / ``u{k}.test``), prints MAE and
RMSE per fold with their mean and the fit / predict seconds, and writes
``bench/results/mf_accuracy.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/mf_accuracy.py [--seed 42] [--factors 100] ...
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from _folds import fold_accuracy
from synerec import __version__
from synerec.algorithms import Baseline, MatrixFactorization, Recommender
from synerec.data import load_dataset, official_splits

RESULTS = Path(__file__).resolve().parent / "results" / "mf_accuracy.json"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it writes to the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = MatrixFactorization().get_params()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--factors", type=int, default=defaults["factors"])
    parser.add_argument("--epochs", type=int, default=defaults["epochs"])
    parser.add_argument("--learning-rate", type=float, default=defaults["learning_rate"])
    parser.add_argument("--regularization", type=float, default=defaults["regularization"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    data = load_dataset("ml-100k", download=False)
    folds = official_splits(data, ["u1", "u2", "u3", "u4", "u5"])
    models: dict[str, Recommender] = {
        "baseline": Baseline(),
        "mf": MatrixFactorization(factors=args.factors, epochs=args.epochs,
                                  learning_rate=args.learning_rate,
                                  regularization=args.regularization, random_state=args.seed),
    }
    report: dict[str, Any] = {
        "dataset": "ml-100k", "folds": [f.name for f in folds], "synerec_version": __version__,
        "python": platform.python_version(), "machine": platform.machine(), "models": {},
    }
    print(f"{'model':<10} {'fold':<5} {'MAE':>7} {'RMSE':>7} {'fit s':>7} {'pred s':>7}")
    for name, model in models.items():
        rows = fold_accuracy(model, folds)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("mae", "rmse", "fit_s",
                                                                   "predict_s")}
        report["models"][name] = {"config": model.get_config().model_dump(mode="json"),
                                  "per_fold": rows, "mean": mean}
        for r in rows:
            print(f"{name:<10} {r['fold']:<5} {r['mae']:7.4f} {r['rmse']:7.4f} "
                  f"{r['fit_s']:7.2f} {r['predict_s']:7.3f}")
        print(f"{name:<10} {'mean':<5} {mean['mae']:7.4f} {mean['rmse']:7.4f} "
              f"{mean['fit_s']:7.2f} {mean['predict_s']:7.3f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return report


if __name__ == "__main__":
    main()
