"""A refactor's check on the hybrid: the same lists, features and explanations as a snapshot.

Fits the hybrid on ML-100K ``u1.base`` (or, with ``--dataset uci-online-retail``, on UCI Online
Retail's temporal split, implicit data) with the default configuration (or ``--config``) and,
for every test user, keeps the top-10 list with its scores, the candidate pairs with their
stage-A feature matrix, and the explanation of the top 10 of a sample of users. ``save``
writes them (and the fitted model) to a ``.npz`` file; ``compare`` fits again, with the code
now on the path, and reports every difference: lists, scores, features (bit for bit, and the
largest absolute difference), explanations; with ``--model`` it also loads the model saved by
``save`` and checks that it ranks as it did.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/hybrid_regression.py save before.npz
    SYNEREC_DATA_HOME=/path/to/data python bench/hybrid_regression.py compare before.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from synerec.algorithms import Recommender
from synerec.data import load_dataset, official_splits
from synerec.data.splits import temporal_split
from synerec.hybrid import HybridRanker
from synerec.hybrid.explain import explain_pairs

#: Users whose top-10 lists are explained (every 20th test user).
EXPLAIN_EVERY = 20


def snapshot(model: HybridRanker, users: np.ndarray) -> dict[str, np.ndarray]:
    """Lists, scores, candidate features and explanations of ``users`` (indices)."""
    idx, scores = model.recommend_indices(users, 10)
    cands = model.candidates(users)
    F = model.feature_matrix(cands)
    texts = []
    for row in range(0, len(users), EXPLAIN_EVERY):
        for e in explain_pairs(model, int(users[row]), idx[row][idx[row] >= 0]):
            texts.append(json.dumps({"user": e.user, "item": e.item, "text": e.text,
                                     "score": e.score, "cited": e.cited,
                                     "signals": [[s.name, s.contribution, s.items, s.weights,
                                                  s.users, s.category] for s in e.signals]}))
    return {"users": users, "lists": idx, "scores": scores, "cand_indptr": cands.indptr,
            "cand_items": cands.items, "features": F,
            "feature_names": np.asarray(model.feature_names_, dtype=np.str_),
            "explanations": np.asarray(texts, dtype=np.str_)}


def compare(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> list[str]:
    """The differences between two snapshots (empty: identical)."""
    out = []
    for key in ("users", "lists", "cand_indptr", "cand_items", "feature_names"):
        if not np.array_equal(before[key], after[key]):
            out.append(f"{key} differ")
    for key in ("scores", "features"):
        a, b = before[key], after[key]
        if a.shape != b.shape:
            out.append(f"{key}: shapes {a.shape} and {b.shape}")
        elif not np.array_equal(a, b, equal_nan=True):
            diff = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))
            nan = int((np.isnan(a) != np.isnan(b)).sum())
            cols = sorted({int(c) for c in np.argwhere(
                ~((a == b) | (np.isnan(a) & np.isnan(b))))[:, -1]}) if a.ndim == 2 else []
            out.append(f"{key} differ: max |diff| {diff:.3g}, NaN mismatches {nan}, "
                       f"columns {cols[:20]}")
    ea, eb = before["explanations"], after["explanations"]
    if len(ea) != len(eb):
        out.append(f"explanations: {len(ea)} and {len(eb)}")
    else:
        bad = [k for k in range(len(ea)) if ea[k] != eb[k]]
        if bad:
            out.append(f"{len(bad)} of {len(ea)} explanations differ, e.g.\n  {ea[bad[0]]}\n"
                       f"  {eb[bad[0]]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "compare"])
    parser.add_argument("snapshot", type=Path, help="the .npz file")
    parser.add_argument("--config", default="{}", help="hybrid options as JSON")
    parser.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "uci-online-retail"])
    parser.add_argument("--model", type=Path, default=None,
                        help="save: where to save the fitted model; compare: load it and "
                             "check its lists against the snapshot too")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    fold = (official_splits(data, ["u1"])[0] if args.dataset == "ml-100k"
            else temporal_split(data, fraction=0.2))
    users = np.flatnonzero(np.diff(fold.test.matrix.indptr) > 0)
    t0 = time.perf_counter()
    model = HybridRanker(**json.loads(args.config)).fit(fold.train)
    print(f"fitted in {time.perf_counter() - t0:.1f} s: retrievers {model.retriever_names_}, "
          f"{len(model.feature_names_)} features, ranker {model.ranker_kind_}")
    snap = snapshot(model, users)
    if args.action == "save":
        arrays: dict[str, Any] = dict(snap)  # (numpy's stub reads a dict as allow_pickle)
        np.savez_compressed(args.snapshot, **arrays)
        if args.model is not None:
            model.save(args.model)
        print(f"saved {args.snapshot}")
        return
    before = dict(np.load(args.snapshot, allow_pickle=False))
    problems = compare(before, snap)
    if args.model is not None:
        loaded = Recommender.load(args.model)
        assert isinstance(loaded, HybridRanker)
        problems += [f"loaded model: {p}" for p in compare(before, snapshot(loaded, users))]
    for p in problems:
        print(p)
    print("identical" if not problems else f"{len(problems)} differences")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
