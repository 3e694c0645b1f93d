"""Retriever alone vs. retriever + local LLM rerank on MovieLens 100K u1 (issue 6).

Protocol: fit the retriever on ``u1.base``; relevant items = ``u1.test`` ratings >= 4; draw
``--users`` test users that have at least one relevant item (seeded); candidates = the
retriever's top ``--candidates`` unseen items; compare NDCG@10 and Recall@10 of the retriever's
top 10 with those of the reranked top 10 (likelihood mode, formula L1 of ``docs/llm.md``, the
local GGUF model, Gemma 3 270M by default). Prints a table and writes
``bench/results/llm_rerank.json`` with the fallback count and the LLM latency per user.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/llm_rerank.py [--users 200] [--history 20]
        [--candidates 20] [--retriever item-cf] [--gguf PATH] [--n-ctx 1024] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from synerec import __version__
from synerec.algorithms import create_model
from synerec.data import load_dataset, official_splits
from synerec.llm import LlamaCppLLM, LLMReranker
from synerec.metrics.ranking import ndcg_at_n, recall_at_n

RESULTS = Path(__file__).resolve().parent / "results" / "llm_rerank.json"
log = logging.getLogger("bench.llm_rerank")


def _relevant(test: Any, threshold: float) -> list[np.ndarray]:
    """Relevant item indices per user index (test ratings >= threshold)."""
    keep = test.values >= threshold
    out: list[list[int]] = [[] for _ in range(test.n_users)]
    for u, i in zip(test.user_index[keep], test.item_index[keep], strict=True):
        out[int(u)].append(int(i))
    return [np.array(sorted(x), dtype=np.int64) for x in out]


def _metrics(lists: np.ndarray, relevant: list[np.ndarray], n: int) -> dict[str, float]:
    return {f"ndcg@{n}": float(np.mean(ndcg_at_n(lists, relevant, n))),
            f"recall@{n}": float(np.mean(recall_at_n(lists, relevant, n)))}


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_dataset("ml-100k")
    fold = official_splits(data, ["u1"])[0]
    relevant_all = _relevant(fold.test, args.threshold)
    retriever = create_model(args.retriever)
    t0 = time.perf_counter()
    retriever.fit(fold.train)
    fit_s = time.perf_counter() - t0
    eligible = np.array([u for u, r in enumerate(relevant_all)
                         if len(r) and retriever.user_count_[u] > 0])
    rng = np.random.default_rng(args.seed)
    users = np.sort(rng.choice(eligible, size=min(args.users, len(eligible)), replace=False))
    user_ids = retriever.users_.ids_of(users).tolist()
    relevant = [relevant_all[u] for u in users]

    cand, _ = retriever.recommend_indices(users, args.candidates)
    base = _metrics(cand[:, : args.n], relevant, args.n)
    upper = float(np.mean(recall_at_n(cand, relevant, args.candidates)))

    llm = LlamaCppLLM(args.gguf, n_ctx=args.n_ctx, seed=args.seed, timeout=args.timeout,
                      n_threads=args.threads)
    t0 = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - t0
    reranker = LLMReranker(retriever, llm, n_candidates=args.candidates, history=args.history,
                           mode="likelihood", llm_weight=args.llm_weight, domain="movies",
                           max_title_chars=args.max_title_chars, seed=args.seed,
                           prefit=True).fit(fold.train)
    t0 = time.perf_counter()
    lists = np.full((len(users), args.n), -1, dtype=np.int64)
    seconds = []
    for row, uid in enumerate(user_ids):
        res = reranker.rerank_user(uid)
        order = res.candidates[res.order][: args.n]
        lists[row, : len(order)] = order
        seconds.append(res.seconds)
        if (row + 1) % 20 == 0:
            done = row + 1
            part = _metrics(lists[:done], relevant[:done], args.n)
            ref = _metrics(cand[:done, : args.n], relevant[:done], args.n)
            log.info("%d/%d users, %.2f s/user; so far retriever %s, reranked %s, fallbacks %s",
                     done, len(users), float(np.mean(seconds)), ref, part,
                     reranker.fallback_counts_)
    total_s = time.perf_counter() - t0
    reranked = _metrics(lists, relevant, args.n)
    sec = np.array(seconds)
    return {
        "dataset": "ml-100k", "fold": "u1", "relevant": f"test rating >= {args.threshold:g}",
        "users": len(users), "seed": args.seed, "retriever": args.retriever,
        "candidates": args.candidates, "history": args.history, "n": args.n,
        "llm_weight": args.llm_weight, "mode": "likelihood",
        "llm": llm.name, "n_ctx": args.n_ctx, "threads": llm.n_threads,
        "retriever_fit_seconds": round(fit_s, 2), "llm_load_seconds": round(load_s, 2),
        f"candidate_recall@{args.candidates}": upper,
        "retriever_only": base, "retriever_plus_llm": reranked,
        "fallbacks": reranker.fallback_counts_,
        "latency_seconds_per_user": {"mean": float(sec.mean()), "median": float(np.median(sec)),
                                     "p95": float(np.percentile(sec, 95)),
                                     "max": float(sec.max())},
        "total_rerank_seconds": round(total_s, 1),
        "calibration_items_cached": len(reranker._prior),
        "synerec_version": __version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retriever", default="item-cf")
    p.add_argument("--candidates", type=int, default=20)
    p.add_argument("--history", type=int, default=20)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--llm-weight", "--alpha", dest="llm_weight", type=float, default=1.0,
                   help="weight of the LLM order in (L2); --alpha is its former name")
    p.add_argument("--threshold", type=float, default=4.0)
    p.add_argument("--gguf", type=Path, default=None, help="GGUF file (default Gemma 3 270M)")
    p.add_argument("--n-ctx", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-title-chars", type=int, default=60)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args)
    n = args.n
    print(f"ML-100K u1, {result['users']} users, candidates = {args.retriever} top-"
          f"{args.candidates} (candidate recall@{args.candidates} "
          f"{result[f'candidate_recall@{args.candidates}']:.4f})")
    print(f"{'':28s} {'NDCG@' + str(n):>9s} {'Recall@' + str(n):>10s}")
    for label, key in (("retriever only", "retriever_only"),
                       ("retriever + LLM rerank", "retriever_plus_llm")):
        m = result[key]
        print(f"{label:28s} {m[f'ndcg@{n}']:9.4f} {m[f'recall@{n}']:10.4f}")
    lat = result["latency_seconds_per_user"]
    print(f"LLM: {result['llm']}; fallbacks {result['fallbacks']}; latency per user "
          f"mean {lat['mean']:.2f} s, median {lat['median']:.2f} s, p95 {lat['p95']:.2f} s "
          f"({result['threads']} threads)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
