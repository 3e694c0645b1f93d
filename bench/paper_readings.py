"""Rating accuracy of the readings of the paper's eqs. 1-4 on MovieLens 100K.

The paper leaves open whether a 0 (not rated) counts in the cosine's norms, which mean eq. 3
subtracts, and prints eq. 3's denominator as ``sum w`` where the usual form has ``sum |w|``
(docs/notation.md works through each on the paper's Table 1). This benchmark measures each
reading against the default on real data: MAE and RMSE, mean over the official folds u1..u5 of
ml-100k, for UserKNN and ItemKNN with the paper's plain formulas (``PLAIN_FORMULAS``:
``min_support=1``, ``shrinkage=0``, plain eq. 4) at ``k`` neighbours, changing one option at a
time; then the tuned models (their defaults) with the other ``norms``.

Prints a table and writes ``bench/results/paper_readings.json`` with the per-fold numbers and
the load average at the start.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/paper_readings.py [--k 40] [--folds u1 u2 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from _folds import fold_accuracy
from synerec import __version__
from synerec.algorithms import PLAIN_FORMULAS, ItemKNN, Recommender, UserKNN
from synerec.data import load_dataset, official_splits

RESULTS = Path(__file__).resolve().parent / "results" / "paper_readings.json"
USER_PLAIN = {key: v for key, v in PLAIN_FORMULAS.items() if key != "center"}


def variants(k: int) -> dict[str, Recommender]:
    """Each reading next to its default, one option changed at a time."""
    out: dict[str, Recommender] = {}
    for sim in ("cosine", "pearson"):
        base = {"k": k, "similarity": sim, **USER_PLAIN}
        out[f"user {sim} (defaults)"] = UserKNN(**base)
        other = "corated" if sim == "cosine" else "full"
        out[f"user {sim}, norms={other}"] = UserKNN(**base, norms=other)
        out[f"user {sim}, neighbor_mean=corated"] = UserKNN(**base, neighbor_mean="corated")
        out[f"user {sim}, denominator=signed"] = UserKNN(**base, denominator="signed")
    for sim in ("cosine", "adjusted_cosine"):
        base = {"k": k, "similarity": sim, **PLAIN_FORMULAS}
        out[f"item {sim}, plain eq. 4 (defaults)"] = ItemKNN(**base)
        other = "corated" if sim == "cosine" else "full"
        out[f"item {sim}, plain eq. 4, norms={other}"] = ItemKNN(**base, norms=other)
    # the tuned models (shrinkage, significance weighting, centred eq. 4) with the other norms
    out["user-cf tuned (pearson)"] = UserKNN(k=k)
    out["user-cf tuned (pearson), norms=full"] = UserKNN(k=k, norms="full")
    out["item-cf tuned (adjusted_cosine)"] = ItemKNN(k=k)
    out["item-cf tuned (adjusted_cosine), norms=full"] = ItemKNN(k=k, norms="full")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it writes to the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--folds", nargs="+", default=["u1", "u2", "u3", "u4", "u5"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    data = load_dataset("ml-100k", download=False)
    folds = official_splits(data, args.folds)
    report: dict[str, Any] = {"dataset": "ml-100k", "folds": args.folds, "k": args.k,
                              "synerec_version": __version__, "load_average_at_start": load,
                              "results": {}}
    print(f"\n== ml-100k, folds {', '.join(args.folds)} (mean), k = {args.k} ==")
    print(f"{'model':<46} {'MAE':>7} {'RMSE':>7}")
    for name, model in variants(args.k).items():
        rows = fold_accuracy(model, folds)
        mean = {key: float(np.mean([r[key] for r in rows])) for key in ("mae", "rmse")}
        report["results"][name] = {"config": model.get_config().model_dump(mode="json"),
                                   "per_fold": rows, "mean": mean}
        print(f"{name:<46} {mean['mae']:7.4f} {mean['rmse']:7.4f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return report


if __name__ == "__main__":
    main()
