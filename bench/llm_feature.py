"""Cost of the hybrid's LLM feature: seconds per user for 20 candidates with a 10-item history.

On ML-100K u1: the hybrid's first ranker (collaborative and text features) gives each sampled
user's top 20; the local Gemma 3 270M model (llama.cpp, Q4_K_M) scores them with the
likelihood feature (:class:`synerec.hybrid.llm_feature.LikelihoodFeature`: one batched call per
user, the prior term once per item), without the on-disk cache so that every call is computed.
Prints the time per user and writes ``bench/results/llm_feature.json`` (with the load average:
the machine is shared).

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/llm_feature.py [--users 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

from synerec import __version__
from synerec.algorithms import create_model
from synerec.data import load_dataset, official_splits
from synerec.hybrid.llm_feature import LikelihoodFeature
from synerec.llm import LlamaCppLLM
from synerec.llm.prompts import clean_title

RESULTS = Path(__file__).resolve().parent / "results" / "llm_feature.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", default="{}", help="hybrid options as JSON")
    args = parser.parse_args()
    data = load_dataset("ml-100k")
    fold = official_splits(data, ["u1"])[0]
    model = create_model("hybrid", **{"validation": "random",
                                      **json.loads(args.config)}).fit(fold.train)
    rng = np.random.default_rng(0)
    test = fold.test.matrix
    users = rng.choice(np.flatnonzero(np.diff(test.indptr) > 0), args.users, replace=False)
    idx, _ = model.recommend_indices(users, args.candidates)
    llm = LlamaCppLLM(n_threads=args.threads)
    llm.load()
    feature = LikelihoodFeature(llm, [clean_title(t, 80) for t in model.titles_], "movies",
                                args.history)
    load = os.getloadavg()
    for u, row in zip(users, idx, strict=True):
        feature.score_user(model.train_, model.times_, int(u), row[row >= 0])
    after = os.getloadavg()
    s = np.asarray(feature.seconds)
    summary = feature.summary()
    # the prior term is paid once per item: the users after the first pay for fewer items
    summary.update({"first_user_seconds": float(s[0]), "later_users_mean": float(s[1:].mean()),
                    "candidates": args.candidates, "history": args.history,
                    "threads": args.threads, "loadavg_before": list(load),
                    "loadavg_after": list(after)})
    print(json.dumps(summary, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"synerec": __version__, "machine": platform.platform(),
                                   "cpus": os.cpu_count(), "per_user_seconds": s.tolist(),
                                   **summary}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
