"""Text-enhanced CF (issue 5): T-ItemCF / T-UserCF against their CF twins on four experiments.

Run from the repository root (data in ``$SYNEREC_DATA_HOME``)::

    SYNEREC_DATA_HOME=../shared/data python bench/text_cf.py [--only NAME ...]

Experiments (each prints a table; all results go to ``bench/results/text_cf.json``):

``ml100k``
    The K sweep of ``synerec experiment k-sweep ... --out docs/figures/k-sweep`` is read back
    (run that command first), and the sweep of ``t-item-cf`` with ``encoder=model2vec``
    (distilled once with ``synerec text distill``) is run on the same official folds.
``amazon``
    Amazon 2018 All Beauty 5-core, a seeded 80/20 holdout; the item text is built from the
    summaries and texts of the reviews in the *training* part only.
``cold``
    ML-100K fold u1 with all ratings of a seeded 10 % of the items removed from training; on
    all ratings of those items: RMSE/MAE of T-ItemCF against the Baseline model's fallback
    (``mu + b_u``), and Recall@10 when ranking the cold items.
``retail``
    UCI Online Retail (product names, implicit purchases), the temporal split (each
    customer's last 20 %): T-ItemCF against ItemKNN, P@10 / R@10 / NDCG@10.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from synerec.algorithms import create_model
from synerec.data import load_dataset
from synerec.data.splits import Fold
from synerec.evaluation import ModelSpec, evaluate, make_folds
from synerec.evaluation.runner import evaluate_fold
from synerec.metrics.ranking import ranking_metrics, relevant_from_test

log = logging.getLogger("bench.text_cf")

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "text_cf.json"
KS = (5, 10, 15, 20, 25, 30)
SEED = 42


def table(rows: list[dict[str, Any]], columns: list[str], title: str) -> str:
    lines = [f"\n{title}", " | ".join(columns), " | ".join("---" for _ in columns)]
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
        lines.append(" | ".join(cells))
    text = "\n".join(lines)
    print(text, flush=True)
    return text


# -- ML-100K: the K sweep -------------------------------------------------------------------------

def ml100k() -> dict[str, Any]:
    from synerec.evaluation.experiment import k_sweep

    sweep_json = REPO / "docs" / "figures" / "k-sweep" / "results.json"
    out: dict[str, Any] = {}
    if sweep_json.is_file():
        res = json.loads(sweep_json.read_text())
        mae = {(r["model"], r["k"]): r["mae"] for r in res["results"]}
        rows = [{"K": k, **{m: mae.get((m, k)) for m in res["models"]}} for k in res["ks"]]
        table(rows, ["K", *res["models"]], "ML-100K MAE (k-sweep runner, official folds)")
        out["k_sweep_mae"] = rows
        out["t_item_beats_item_at_every_k"] = all(
            mae[("t-item-cf", k)] < mae[("item-cf", k)] for k in res["ks"])
        out["t_user_beats_user_at_every_k"] = all(
            mae[("t-user-cf", k)] < mae[("user-cf", k)] for k in res["ks"])
    else:
        print(f"{sweep_json} missing: run `synerec experiment k-sweep ...` first", flush=True)
    ds = load_dataset("ml-100k")
    t0 = time.perf_counter()
    m2v = k_sweep(ds, ["t-item-cf"], KS, "official",
                  config={"t-item-cf": {"encoder": "model2vec"}})
    seconds = time.perf_counter() - t0
    rows = [{"K": r["k"], "t-item-cf[model2vec] mae": r["mae"], "rmse": r["rmse"],
             "fit_s": r.get("fit_seconds")} for r in m2v.rows]
    if "k_sweep_mae" in out:
        for row, base in zip(rows, out["k_sweep_mae"], strict=True):
            row["t-item-cf[minilm] mae"] = base["t-item-cf"]
            row["item-cf mae"] = base["item-cf"]
    table(rows, list(rows[0]), "ML-100K t-item-cf with model2vec (official folds)")
    out["model2vec"] = {"rows": rows, "seconds": seconds}
    return out


# -- Amazon All Beauty: text from training reviews ------------------------------------------------

def amazon() -> dict[str, Any]:
    import gzip

    from synerec._config import data_home
    from synerec.text.templates import truncate

    ds = load_dataset("amazon-2018-all-beauty")
    fold = make_folds(ds, "holdout", random_state=SEED)[0]
    # the review texts (the data set keeps only ratings and an all-reviews summary column)
    docs: dict[tuple[str, str], str] = {}
    path = data_home() / "amazon-2018-all-beauty" / "All_Beauty_5.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            text = f"{rec.get('summary', '')}. {rec.get('reviewText', '')}".strip(" .")
            docs[(rec["reviewerID"].strip(), rec["asin"].strip())] = text
    tu = fold.train.users.ids_of(fold.train.user_index)
    ti = fold.train.items.ids_of(fold.train.item_index)
    by_item: dict[str, list[str]] = {}
    for u, i in zip(tu, ti, strict=True):
        d = docs.get((str(u), str(i)), "")
        if d:
            by_item.setdefault(str(i), []).append(d)
    per_item = pd.Series({i: truncate(" ".join(v), 1000) for i, v in by_item.items()},
                         dtype=object)
    info = pd.DataFrame({"item_id": fold.train.items.ids})
    info["title"] = per_item.reindex(fold.train.items.ids).fillna("").to_numpy()
    info = info.set_index("item_id")
    train = dataclasses.replace(fold.train, item_info=info)
    fold2 = Fold(train, fold.test, "holdout-80/20")
    rows = []
    for k in KS:
        row: dict[str, Any] = {"K": k}
        for name in ("user-cf", "t-user-cf", "item-cf", "t-item-cf"):
            r = evaluate_fold(ModelSpec(name, {"k": k}), fold2)
            row[name] = r.metrics["mae"]
        rows.append(row)
    table(rows, list(rows[0]), f"Amazon All Beauty MAE, seeded 80/20 holdout "
          f"({ds.n_users} users, {ds.n_items} items, {ds.n_interactions} ratings)")
    return {"rows": rows, "n_users": ds.n_users, "n_items": ds.n_items,
            "n_ratings": ds.n_interactions, "items_with_train_text": int((info["title"] != "")
                                                                        .sum())}


# -- cold start on ML-100K ------------------------------------------------------------------------

def cold() -> dict[str, Any]:
    ds = load_dataset("ml-100k")
    fold = make_folds(ds, "official")[0]
    rng = np.random.default_rng(SEED)
    cold_items = np.sort(rng.choice(ds.n_items, size=round(0.1 * ds.n_items), replace=False))
    is_cold = np.zeros(ds.n_items, dtype=bool)
    is_cold[cold_items] = True
    train = fold.train.subset(~is_cold[fold.train.item_index], name="u1-cold")
    test = ds.subset(is_cold[ds.item_index], name="cold-items")  # all their ratings
    out: dict[str, Any] = {"n_cold_items": len(cold_items),
                           "n_test_ratings": int(test.n_interactions)}
    rows = []
    models = {"baseline": create_model("baseline"),
              "t-item-cf": create_model("t-item-cf", k=30),
              "t-item-cf[model2vec]": create_model("t-item-cf", k=30, encoder="model2vec")}
    users = np.unique(test.user_index)
    relevant = relevant_from_test(test.matrix[users], 4.0)
    for name, model in models.items():
        model.fit(train)
        p = model.predict_indices(test.user_index, test.item_index)
        err = p - test.values
        row: dict[str, Any] = {"model": name, "rmse": float(np.sqrt(np.mean(err ** 2))),
                               "mae": float(np.mean(np.abs(err)))}
        if name.startswith("t-item-cf"):
            codes = model._predict_all(test.user_index.astype(np.int64),
                                       test.item_index.astype(np.int64))[3]
            row["share_from_text"] = float(np.mean(codes == 0))
            rec, _ = model.recommend_indices(users, 10, candidates=is_cold)
            row["recall@10 (cold items)"] = ranking_metrics(rec, relevant, 10)["recall"]
            rec_all, _ = model.recommend_indices(users, 10)
            row["recall@10 (all items)"] = ranking_metrics(rec_all, relevant, 10)["recall"]
            row["alpha"] = model.alpha_
        rows.append(row)
    # a random ranking of the cold items, for scale (expected value over 20 draws)
    rand = []
    for s in range(20):
        r2 = np.random.default_rng(s)
        rec = np.stack([r2.permutation(cold_items)[:10] for _ in users])
        rand.append(ranking_metrics(rec, relevant, 10)["recall"])
    rows.append({"model": "random ranking of cold items",
                 "recall@10 (cold items)": float(np.mean(rand))})
    table(rows, ["model", "rmse", "mae", "share_from_text", "recall@10 (cold items)",
                 "recall@10 (all items)", "alpha"],
          f"ML-100K cold start: {len(cold_items)} items (seed {SEED}) without training ratings, "
          f"{test.n_interactions} test ratings")
    out["rows"] = rows
    return out


# -- UCI Online Retail ----------------------------------------------------------------------------

def retail() -> dict[str, Any]:
    ds = load_dataset("uci-online-retail")
    folds = make_folds(ds, "temporal")
    base = {"k": 40, "similarity": "cosine"}
    specs = [ModelSpec("item-cf", base, "item-cf"),
             ModelSpec("t-item-cf", {**base, "alpha": "auto"}, "t-item-cf (auto)"),
             ModelSpec("t-item-cf", {**base, "alpha": 0.8}, "t-item-cf (0.8)"),
             ModelSpec("t-item-cf", {**base, "alpha": 0.5}, "t-item-cf (0.5)")]
    res = evaluate(specs, ds, folds)
    summary = res.summary()
    rows = []
    for model, r in summary.iterrows():
        rows.append({"model": model, "P@10": float(r["precision@10"]),
                     "R@10": float(r["recall@10"]), "NDCG@10": float(r["ndcg@10"]),
                     "coverage": float(r["coverage"])})
    table(rows, ["model", "P@10", "R@10", "NDCG@10", "coverage"],
          f"UCI Online Retail, temporal split ({ds.n_users} customers, {ds.n_items} products)")
    return {"rows": rows}


EXPERIMENTS = {"ml100k": ml100k, "amazon": amazon, "cold": cold, "retail": retail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(EXPERIMENTS), default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for name in args.only or list(EXPERIMENTS):
        t0 = time.perf_counter()
        results[name] = EXPERIMENTS[name]()
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
