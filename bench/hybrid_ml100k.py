"""The hybrid ranker against its retrievers on MovieLens 100K's official folds (issue 12).

Relevant = test ratings >= 4; each user's training items are excluded; all 1,682 items are
ranked. For every fold ``u1``..``u5``: EASE alone and the hybrid (default configuration, the
validation part carved at random like the official folds, see ``docs/experiments.md``); then
the cost of fitting the hybrid on ``u1.base`` and building the top 10 of every u1 user.
Prints a table and writes ``bench/results/hybrid_ml100k.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/hybrid_ml100k.py [--folds u1,u2] [--config JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from synerec import __version__
from synerec.data import load_dataset, official_splits
from synerec.evaluation import ModelSpec, evaluate

RESULTS = Path(__file__).resolve().parent / "results" / "hybrid_ml100k.json"
COLUMNS = ["ndcg@10", "precision@10", "recall@10", "coverage", "fit_seconds",
           "recommend_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="u1,u2,u3,u4,u5")
    parser.add_argument("--config", default="{}", help="hybrid options as JSON")
    parser.add_argument("--baseline", default="ease", help="the single retriever to beat")
    parser.add_argument("--before", default=None,
                        help="hybrid options as JSON of a second hybrid, 'hybrid-before' (e.g. "
                             "the previous default retrievers): the hybrid's NDCG@10 difference "
                             "from it with its paired bootstrap 95%% interval")
    args = parser.parse_args()
    config = {"validation": "random", **json.loads(args.config)}
    data = load_dataset("ml-100k")
    folds = official_splits(data, args.folds.split(","))
    specs = [ModelSpec(args.baseline, {}, args.baseline), ModelSpec("hybrid", config, "hybrid")]
    if args.before is not None:
        specs.append(ModelSpec("hybrid", {"validation": "random", **json.loads(args.before)},
                               "hybrid-before"))
    load_eval = os.getloadavg()
    result = evaluate(specs, data, folds, n=10, relevance_threshold=4.0)
    load_eval_after = os.getloadavg()
    before = None
    if args.before is not None:
        before = result.differences(against="hybrid-before")["hybrid"]
        print(f"hybrid - hybrid-before NDCG@10: {before['mean']:+.4f} "
              f"[{before['low']:+.4f}, {before['high']:+.4f}]")
    frame = result.frame()
    table = frame.pivot(index="fold", columns="model", values="ndcg@10")
    table["gain"] = table["hybrid"] - table[args.baseline]
    print(table.round(4).to_string())
    print(result.summary()[COLUMNS].round(4).to_string())
    print(f"load average {load_eval[0]:.2f} before, {load_eval_after[0]:.2f} after")

    # cost: fit on u1.base, then the top 10 of every u1 user (one batch, as the runner does)
    from synerec.algorithms import create_model

    fold = official_splits(data, ["u1"])[0]
    load = os.getloadavg()
    t0 = time.perf_counter()
    model = create_model("hybrid", **config).fit(fold.train)
    fit_s = time.perf_counter() - t0
    users = np.flatnonzero(np.diff(fold.test.matrix.indptr) > 0)
    t0 = time.perf_counter()
    model.recommend_indices(users, 10)
    rec_s = time.perf_counter() - t0
    cost = {"fit_seconds": fit_s, "top10_seconds": rec_s, "total_seconds": fit_s + rec_s,
            "users": len(users), "fit_steps": model.fit_seconds_,
            "loadavg_before": list(load), "loadavg_after": list(os.getloadavg())}
    print(f"u1 cost: fit {fit_s:.1f} s + top-10 of {len(users)} users {rec_s:.1f} s = "
          f"{fit_s + rec_s:.1f} s (load average {load[0]:.2f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "synerec": __version__, "machine": platform.platform(), "cpus": os.cpu_count(),
        "config": config, "relevance_threshold": 4.0,
        "loadavg_evaluation": [list(load_eval), list(load_eval_after)],
        "ndcg@10": {f: {m: float(v) for m, v in row.items()}
                    for f, row in table.to_dict(orient="index").items()},
        "summary": {m: {c: float(v) for c, v in row.items()}
                    for m, row in result.summary()[COLUMNS].to_dict(orient="index").items()},
        "cost_u1": cost, "before": before}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
