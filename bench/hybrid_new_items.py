"""New products in the hybrid: UCI Online Retail cut at a date (issue 21, build item 4).

For each cutoff: train on every purchase before it, test on the purchases from it on of the
customers with an earlier purchase (:func:`synerec.data.splits.global_temporal_split`);
relevant = any test purchase; training items excluded; every product ranked. Each model's top
100 is scored on three slices of the test pairs, all from the same lists: ``all``,
``warm-items`` (products sold before the cut) and ``cold-items`` (products never sold before
it, ranked among all products). Per slice: the users with a test pair in it, the users with a
hit in their top 10, NDCG@10, recall@20 and NDCG@100, and each model's paired bootstrap 95 %
interval of the NDCG@10 and recall@20 differences from the reference model (EASE).

The hybrid is configured for this protocol (``--config`` adds or overrides options): a
global-temporal validation window, which brings a new-arrival place at rank 20
(``new_item_slot="auto"``; both chosen on validation cuts inside the training part,
``docs/experiments.md``); the row
``hybrid-no-slot`` is the same fitted ranker's lists without that place.

``--ablation`` adds the hybrid without the text group (its CF retrievers and the ``cf``
features only, as ``synerec experiment ablation`` switches the group off,
:func:`synerec.evaluation.ablation.default_rows`), and the text group's gain with its interval.

``--validate-at DATE`` measures on the training part only: it cuts the training part of the
first cutoff again at ``DATE`` (a global-temporal validation cut), for choosing settings
without the test months. The catalogue is then the products sold before the first cutoff (the
products first sold later did not exist yet).

Prints the tables and writes ``bench/results/hybrid_new_items.json`` (with the load average and
each fit's seconds).

Usage::

    SYNEREC_DATA_HOME=/path/to/data nice -n 10 python bench/hybrid_new_items.py \\
        --cutoff 2011-09-01,2011-10-01 --ablation [--config JSON]
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
import scipy.sparse as sp

from synerec import __version__
from synerec.algorithms.registry import create_model
from synerec.data import InteractionDataset, load_dataset
from synerec.data.splits import Fold, global_temporal_split
from synerec.evaluation.ablation import default_rows, paired_bootstrap
from synerec.metrics.ranking import ndcg_at_n, precision_at_n, recall_at_n, relevant_from_test

RESULTS = Path(__file__).resolve().parent / "results" / "hybrid_new_items.json"
SLICES = ("all", "warm-items", "cold-items")
LIST_LENGTH = 100
log = logging.getLogger("bench.hybrid_new_items")


def before_cut(fold: Fold) -> InteractionDataset:
    """The training part of ``fold`` as a data set of its own: its catalogue is the products
    sold in it (a shop's catalogue at the cut)."""
    train = fold.train
    sold = np.unique(train.item_index)
    assert train.item_info is not None
    items = train.item_info.iloc[sold].reset_index()
    return InteractionDataset.from_dataframe(train.to_dataframe(), items=items,
                                             name=f"{train.name}@{fold.name}", implicit=True)


def slice_relevance(fold: Fold, users: np.ndarray) -> dict[str, sp.csr_matrix]:
    """The relevant test pairs of ``users`` in each slice."""
    rel = relevant_from_test(fold.test.matrix[users])
    assert fold.cold_items is not None
    cold = fold.cold_items.astype(np.float32)
    cold_part = sp.csr_matrix(rel @ sp.diags(cold))
    cold_part.eliminate_zeros()
    warm_part = sp.csr_matrix(rel - cold_part)
    warm_part.eliminate_zeros()
    return {"all": rel, "warm-items": warm_part, "cold-items": cold_part}


def per_user(rec: np.ndarray, rel: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Per-user metrics of one model's lists on one slice (``NaN``: no pair in the slice)."""
    has = np.diff(rel.indptr) > 0
    hit10 = np.where(has, np.nan_to_num(precision_at_n(rec, rel, 10)) > 0, np.nan)
    return {"ndcg@10": np.asarray(ndcg_at_n(rec, rel, 10), np.float64),
            "recall@20": np.asarray(recall_at_n(rec, rel, 20), np.float64),
            "ndcg@100": np.asarray(ndcg_at_n(rec, rel, 100), np.float64),
            "hit@10": hit10}


def summarise(values: dict[str, dict[str, dict[str, np.ndarray]]], reference: str
              ) -> dict[str, dict[str, dict[str, Any]]]:
    """``out[model][slice]``: users, hits, the metrics' means and the intervals against the
    reference model."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, slices in values.items():
        out[model] = {}
        for name, m in slices.items():
            ok = np.isfinite(m["ndcg@10"])
            row: dict[str, Any] = {"users": int(ok.sum()),
                                   "hits": int(np.nansum(m["hit@10"]))}
            for metric in ("ndcg@10", "recall@20", "ndcg@100"):
                row[metric] = float(np.nanmean(m[metric])) if ok.any() else float("nan")
            if model != reference:
                for metric in ("ndcg@10", "recall@20"):
                    mean, low, high = paired_bootstrap(
                        m[metric] - values[reference][name][metric], random_state=0)
                    row[f"{metric} vs {reference}"] = [mean, low, high]
            out[model][name] = row
    return out


def print_table(title: str, summary: dict[str, dict[str, dict[str, Any]]],
                reference: str) -> None:
    print(f"\n{title}")
    head = (f"{'model':<14} {'slice':<11} {'users':>6} {'hits':>6} {'ndcg@10':>8} "
            f"{'recall@20':>9} {'ndcg@100':>8}  ndcg@10 - {reference} [95%]"
            f"        recall@20 - {reference} [95%]")
    print(head)
    for model, slices in summary.items():
        for name in SLICES:
            r = slices[name]
            line = (f"{model:<14} {name:<11} {r['users']:>6} {r['hits']:>6} "
                    f"{r['ndcg@10']:>8.4f} {r['recall@20']:>9.4f} {r['ndcg@100']:>8.4f}")
            for metric in ("ndcg@10", "recall@20"):
                iv = r.get(f"{metric} vs {reference}")
                if iv is not None:
                    line += f"  {iv[0]:+.4f} [{iv[1]:+.4f}, {iv[2]:+.4f}]"
            print(line)


def models_to_run(args: argparse.Namespace, config: dict[str, Any]
                  ) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, registered model, options) of each model measured."""
    out: list[tuple[str, str, dict[str, Any]]] = [("ease", "ease", {}),
                                                   ("text-knn", "text-knn", {})]
    if args.tuned:
        out.append(("text-knn-tuned", "text-knn-tuned", {}))
    out.append(("hybrid", "hybrid", config))
    if args.ablation:
        for row in default_rows(config=config):
            if row.kind == "hybrid" and row.spec.config.get("features") == ["cf"]:
                out.append(("hybrid-no-text", "hybrid", dict(row.spec.config)))
    return out


def measure(fold: Fold, models: list[tuple[str, str, dict[str, Any]]],
            per_user_out: dict[str, np.ndarray] | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary of every model on the fold, and each model's seconds and details."""
    train = fold.train
    users = np.flatnonzero(np.diff(fold.test.matrix.indptr) > 0)
    slices = slice_relevance(fold, users)
    values: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    info: dict[str, Any] = {}
    for label, name, options in models:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        model = create_model(name, **options).fit(train)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec, _ = model.recommend_indices(users, LIST_LENGTH)
        rec_s = time.perf_counter() - t0
        values[label] = {s: per_user(rec, rel) for s, rel in slices.items()}
        if label == "hybrid" and model.config_.resolved_new_item_slot:
            # the same fitted ranker's lists without the new-arrival place (lists only)
            model.config_ = model.config_.model_copy(update={"new_item_slot": 0})
            rec0, _ = model.recommend_indices(users, LIST_LENGTH)
            values["hybrid-no-slot"] = {s: per_user(rec0, rel) for s, rel in slices.items()}
        cold = fold.cold_items
        assert cold is not None
        listed = rec[rec >= 0]
        info[label] = {"fit_seconds": fit_s, "recommend_seconds": rec_s,
                       "loadavg_at_fit": load, "options": options,
                       "cold_items_in_top10": float(cold[rec[:, :10][rec[:, :10] >= 0]].mean()),
                       "cold_items_in_top100": float(cold[listed].mean()) if len(listed)
                       else 0.0}
        for key, name in (("validation_", "validation"), ("retriever_names_", "retrievers"),
                          ("feature_groups_", "feature_groups"), ("fit_seconds_", "fit_steps")):
            if key in model.__dict__:
                info[label][name] = model.__dict__[key]
        log.info("%s: fit %.1f s, recommend %.1f s (load %.2f)", label, fit_s, rec_s, load)
        print(f"  {label}: fit {fit_s:.1f} s, lists {rec_s:.1f} s, load average {load:.2f}",
              flush=True)
    if per_user_out is not None:
        for label, slices_of in values.items():
            for s, m in slices_of.items():
                for metric in ("ndcg@10", "recall@20"):
                    per_user_out[f"{fold.name}|{label}|{s}|{metric}"] = m[metric]
    summary = summarise(values, "ease")
    if "hybrid-no-text" in values:
        gain: dict[str, dict[str, list[float]]] = {}
        for s in SLICES:
            gain[s] = {}
            for metric in ("ndcg@10", "recall@20"):
                d = values["hybrid"][s][metric] - values["hybrid-no-text"][s][metric]
                gain[s][metric] = list(paired_bootstrap(d, random_state=0))
        info["text_group_gain"] = gain
    return summary, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", default="2011-09-01,2011-10-01",
                        help="comma-separated dates")
    parser.add_argument("--config", default="{}", help="hybrid options as JSON")
    parser.add_argument("--ablation", action="store_true",
                        help="add the hybrid without the text group")
    parser.add_argument("--tuned", action="store_true", help="add text-knn-tuned")
    parser.add_argument("--validate-at", default=None,
                        help="measure on the first cutoff's training part, cut at this date")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--per-user", default=None,
                        help="also write each model's per-user NDCG@10 and recall@20 per "
                             "slice to this .npz (for paired comparisons between runs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = {"validation": "global-temporal", **json.loads(args.config)}
    data = load_dataset("uci-online-retail")
    models = models_to_run(args, config)
    out: dict[str, Any] = {"synerec": __version__, "machine": platform.platform(),
                           "cpus": os.cpu_count(), "loadavg_before": list(os.getloadavg()),
                           "config": config, "cutoffs": {}}
    cutoffs = args.cutoff.split(",")
    if args.validate_at:
        cutoffs = cutoffs[:1]
    t_all = time.perf_counter()
    per_user_arrays: dict[str, np.ndarray] | None = {} if args.per_user else None
    for cutoff in cutoffs:
        fold = global_temporal_split(data, cutoff)
        title = f"UCI Online Retail, global-temporal cut at {cutoff}"
        if args.validate_at:
            fold = global_temporal_split(before_cut(fold), args.validate_at)
            title = (f"validation: UCI Online Retail before {cutoff}, cut again at "
                     f"{args.validate_at}")
        assert fold.cold_items is not None
        print(f"{title}: {fold.train.n_interactions} training pairs, "
              f"{fold.test.n_interactions} test pairs, {int(fold.cold_items.sum())} new products",
              flush=True)
        summary, info = measure(fold, models, per_user_arrays)
        print_table(title, summary, "ease")
        gain = info.get("text_group_gain")
        if gain:
            for s in SLICES:
                g = gain[s]["ndcg@10"]
                print(f"text group's NDCG@10 gain on {s}: {g[0]:+.4f} [{g[1]:+.4f}, {g[2]:+.4f}]")
        out["cutoffs"][cutoff if not args.validate_at else f"{cutoff}/{args.validate_at}"] = {
            "slices": summary, "models": info, "train_pairs": fold.train.n_interactions,
            "test_pairs": fold.test.n_interactions,
            "new_products": int(fold.cold_items.sum())}
    out["loadavg_after"] = list(os.getloadavg())
    out["seconds"] = time.perf_counter() - t_all
    print(f"load average {out['loadavg_before'][0]:.2f} before, "
          f"{out['loadavg_after'][0]:.2f} after; {out['seconds']:.0f} s")
    if args.per_user and per_user_arrays is not None:
        np.savez_compressed(args.per_user, **per_user_arrays)  # type: ignore[arg-type]  # numpy's stub
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
