"""Top-N accuracy on MovieLens 100K's official fold u1 (issue 4's "must show").

Relevant items: u1.test ratings >= 4; each user's training items are excluded; all 1,682 items
are ranked. Prints a table and writes ``bench/results/topn_u1.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/topn_u1.py
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from synerec import __version__
from synerec.data import load_dataset, official_splits
from synerec.evaluation import ModelSpec, evaluate

RESULTS = Path(__file__).resolve().parent / "results" / "topn_u1.json"

COSINE = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}
SPECS = [
    ModelSpec("popularity", {}, "popularity"),
    ModelSpec("mf", {"random_state": 42}, "mf"),
    ModelSpec("item-cf", {}, "item-cf (adjusted cosine)"),
    ModelSpec("item-cf", COSINE, "item-cf (cosine)"),
    ModelSpec("item-cf", {"ranking": "prediction"}, "item-cf (eq. 4 ranking)"),
    ModelSpec("user-cf", {}, "user-cf (pearson)"),
    ModelSpec("user-cf", COSINE, "user-cf (cosine)"),
    ModelSpec("user-cf", {**COSINE, "ranking": "prediction"}, "user-cf (eq. 3 ranking)"),
]
COLUMNS = ["precision@10", "recall@10", "ndcg@10", "map@10", "coverage", "category_coverage",
           "fit_seconds", "recommend_seconds"]


def main() -> None:
    data = load_dataset("ml-100k")
    result = evaluate(SPECS, data, official_splits(data, ["u1"]), n=10, relevance_threshold=4.0)
    table = result.summary()[COLUMNS]
    print(table.round(4).to_string())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "synerec": __version__, "machine": platform.platform(), "fold": "u1",
        "relevance_threshold": 4.0, "n": 10,
        "results": {m: {c: float(v) for c, v in row.items()}
                    for m, row in table.to_dict(orient="index").items()}}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
