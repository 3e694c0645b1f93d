"""The hybrid ranker against EASE on UCI Online Retail, temporal split (issue 12).

Each customer's latest 20 % of purchased products are held out (``--folds temporal``);
relevant = any held-out purchase; training items excluded; all products ranked. The hybrid's
validation part is each customer's latest share of the training part (the split mirrors the
test split). Prints a table and writes ``bench/results/hybrid_uci.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/hybrid_uci.py [--config JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from synerec import __version__
from synerec.data import load_dataset
from synerec.evaluation import ModelSpec, evaluate

RESULTS = Path(__file__).resolve().parent / "results" / "hybrid_uci.json"
COLUMNS = ["ndcg@10", "precision@10", "recall@10", "coverage", "fit_seconds",
           "recommend_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="{}", help="hybrid options as JSON")
    parser.add_argument("--baseline", default="ease", help="the single retriever to beat")
    parser.add_argument("--before", default=None,
                        help="hybrid options as JSON of a second hybrid, 'hybrid-before' (e.g. "
                             "the previous default retrievers): the hybrid's NDCG@10 difference "
                             "from it with its paired bootstrap 95%% interval")
    args = parser.parse_args()
    config = {"validation": "temporal", **json.loads(args.config)}
    data = load_dataset("uci-online-retail")
    load = os.getloadavg()
    specs = [ModelSpec(args.baseline, {}, args.baseline), ModelSpec("hybrid", config, "hybrid")]
    if args.before is not None:
        specs.append(ModelSpec("hybrid", {"validation": "temporal", **json.loads(args.before)},
                               "hybrid-before"))
    result = evaluate(specs, data, "temporal", n=10)
    after = os.getloadavg()
    before = None
    if args.before is not None:
        before = result.differences(against="hybrid-before")["hybrid"]
        print(f"hybrid - hybrid-before NDCG@10: {before['mean']:+.4f} "
              f"[{before['low']:+.4f}, {before['high']:+.4f}]")
    table = result.summary()[COLUMNS]
    print(table.round(4).to_string())
    print(f"load average {load[0]:.2f} before, {after[0]:.2f} after")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "synerec": __version__, "machine": platform.platform(), "cpus": os.cpu_count(),
        "loadavg_before": list(load), "loadavg_after": list(after), "config": config,
        "folds": "temporal", "before": before,
        "results": {m: {c: float(v) for c, v in row.items()}
                    for m, row in table.to_dict(orient="index").items()}}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
