"""SASRec (issue 22): next-item accuracy on the Amazon 2014 sequences, and text-initialised items.

Two experiments, each printing a table and writing JSON under ``bench/results/``:

``nextitem`` (``sasrec-nextitem.json``)
    The Amazon 2014 Beauty and Sports_and_Outdoors sequences (``amazon-2014-beauty-seq``,
    ``amazon-2014-sports-seq``), leave-one-out: each user's last item is the test target
    (``leave_one_out_split(data)``, as ``--folds leave-one-out``), **every item ranked** (no
    sampled negatives: sampled metrics inflate results several times), the user's training
    items excluded; NDCG@10 and HR@10 over the users with a test item. ``sasrec`` (its own
    early stopping holds back each user's last *training* item as validation; the test item
    is never seen) and, on the same split, ``popularity``, ``ease``, ``als`` and ``item-cf``
    with their defaults. Per model: training time, epochs, device; the load average before
    and after each fit (the machine may be shared). Then the time to rank a list from a
    50-event sequence (``score_sequences`` + top-10, median of repeated single requests).

``text`` (``sasrec-text.json``)
    ML-100K and UCI Online Retail with the per-user temporal split (each user's latest 20 %,
    ``temporal_split(data, fraction=0.2)``; relevant: test ratings >= 4 on ML-100K, every
    held-out purchase on UCI), ``sasrec`` with ``item_init="random"`` against
    ``item_init="text"`` (all-MiniLM-L6-v2 embeddings of the item texts, through the cache),
    the same seeds otherwise: NDCG@10 of both, the ratio, and the paired bootstrap 95 %
    interval of the per-user difference (:func:`synerec.evaluation.ablation.run_ablation`).
    ``text --validation`` (``sasrec-text-validation.json``) chooses the options without the
    test part: it fits on the temporal split's training part only, without the refit, and
    reports ``sasrec``'s own early-stopping figure (NDCG@10 on each user's latest training
    item, every item ranked; ``--inits text`` for a ``text_*`` option, which leaves the random
    table unchanged).

Hyper-parameters are chosen on the validation item only: ``nextitem --validation`` removes
each user's test item and measures on the item before it (the last training item), so a
choice never sees the test item; ``--param k=v`` sets any ``sasrec`` option for a run,
``--tried`` adds the validation runs recorded in :data:`TRIED` to the JSON.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/sasrec.py nextitem
    SYNEREC_DATA_HOME=/path/to/data python bench/sasrec.py nextitem --datasets beauty \\
        --models sasrec --param loss=softmax
    SYNEREC_DATA_HOME=/path/to/data python bench/sasrec.py text --datasets uci-online-retail
    SYNEREC_DATA_HOME=/path/to/data python bench/sasrec.py text --validation --datasets ml-100k \
        --inits text --param text_correction=0.1
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
from synerec.data import load_dataset
from synerec.data.splits import leave_one_out_split
from synerec.metrics import hit_rate_at_n, ndcg_at_n, relevant_from_test
from synerec.models import create_model
from synerec.topk import topk

RESULTS = Path(__file__).resolve().parent / "results"
NEXT_ITEM_DATASETS = {"beauty": "amazon-2014-beauty-seq", "sports": "amazon-2014-sports-seq"}
TEXT_DATASETS = ("ml-100k", "uci-online-retail")
BASELINES = ("popularity", "ease", "als", "item-cf")
#: ``sasrec`` options of the runs (besides the model's defaults): one thread (the machine's
#: two cores are shared), a fixed seed.
SASREC = {"random_state": 0, "num_threads": 1}
#: Options per data set of the text experiment (more epochs on the smaller data).
TEXT_SASREC: dict[str, dict[str, Any]] = {}
#: The validation runs that chose the defaults (filled from the runs recorded in the report).
TRIED: list[dict[str, Any]] = []


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _fit(name: str, params: dict[str, Any], train: Any) -> tuple[Any, dict[str, Any]]:
    model = create_model(name, **params)
    before = os.getloadavg()
    t0 = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - t0
    info: dict[str, Any] = {"model": name, "params": params, "fit_seconds": seconds,
                            "load_before": before, "load_after": os.getloadavg()}
    if name == "sasrec":
        h = model.history_
        cfg = model.config_
        refit = cfg.refit and cfg.patience > 0
        info.update({"epochs": len(h), "best_epoch": model.best_epoch_, "refit": refit,
                     "epochs_trained": len(h) + (model.best_epoch_ if refit else 0),
                     "device": model.device_, "text_init": model.text_init_,
                     "validation_ndcg@10": float(h[model.best_epoch_ - 1, 1]),
                     "validation_hr@10": float(h[model.best_epoch_ - 1, 2]),
                     "history": h.tolist()})
    return model, info


def _latency(model: Any, repeats: int = 50) -> dict[str, float]:
    """Median milliseconds to rank a top-10 list from a 50-event sequence, one at a time."""
    rng = np.random.default_rng(0)
    warm = np.flatnonzero(model.item_count_ > 0)
    times = []
    for _ in range(repeats):
        seq = rng.choice(warm, 50, replace=False)
        t0 = time.perf_counter()
        scores = model.score_sequences([seq])
        scores[0, seq] = -np.inf
        topk(scores, 10)
        times.append(time.perf_counter() - t0)
    return {"median_ms": 1000 * float(np.median(times)), "p90_ms":
            1000 * float(np.quantile(times, 0.9)), "events": 50, "repeats": repeats}


def next_item(args: argparse.Namespace) -> dict[str, Any]:
    """The leave-one-out table on the Amazon sequences."""
    sasrec_params = {**SASREC, **_parse_params(args.param)}
    target = ("the validation item (each user's last training item; the test item left out)"
              if args.validation else "the test item (each user's last item)")
    report: dict[str, Any] = {
        "protocol": f"leave-one-out, measured on {target}; every item ranked (no sampled "
                    "negatives), training items excluded", "validation": args.validation,
        "n": 10, "version": __version__, "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_average_before": os.getloadavg(), "datasets": {}}
    for key in args.datasets:
        data = load_dataset(NEXT_ITEM_DATASETS[key])
        fold = leave_one_out_split(data)  # as `synerec evaluate --folds leave-one-out`
        if args.validation:  # the training part's own last items: never the test item
            assert fold.validation is not None
            fold = fold.validation
        test = fold.test.matrix
        users = np.flatnonzero(np.diff(test.indptr) > 0)
        relevant = relevant_from_test(test[users], None)
        rows = []
        for name in args.models:
            params = sasrec_params if name == "sasrec" else {}
            model, info = _fit(name, params, fold.train)
            t0 = time.perf_counter()
            rec, _ = model.recommend_indices(users, 10)
            info["recommend_seconds"] = time.perf_counter() - t0
            info["ndcg@10"] = float(np.mean(ndcg_at_n(rec, relevant, 10)))
            info["hr@10"] = float(np.mean(hit_rate_at_n(rec, relevant, 10)))
            if name == "sasrec":
                info["latency"] = _latency(model)
            rows.append(info)
            logging.getLogger("bench").info("%s on %s: NDCG@10 %.4f HR@10 %.4f (%.0f s)",
                                            name, key, info["ndcg@10"], info["hr@10"],
                                            info["fit_seconds"])
        report["datasets"][key] = {"name": data.name, "users": data.n_users,
                                   "items": data.n_items,
                                   "interactions": data.n_interactions,
                                   "test_users": len(users), "rows": rows}
    report["load_average_after"] = os.getloadavg()
    return report


def print_next_item(report: dict[str, Any]) -> None:
    print(f"{report['protocol'][0].upper()}{report['protocol'][1:]}; load average before "
          f"{_load(report['load_average_before'])}, after {_load(report['load_average_after'])}"
          f" on {report['cpus']} CPUs")
    for d in report["datasets"].values():
        print(f"\n{d['name']}: {d['users']} users, {d['items']} items, "
              f"{d['interactions']} interactions, {d['test_users']} test users")
        print(f"{'model':<12} {'NDCG@10':>8} {'HR@10':>8} {'fit s':>8} {'epochs':>10} "
              f"{'device':>6} {'load before/after':>20}")
        for r in d["rows"]:
            epochs = ""
            if "epochs" in r:  # the validation run's best / last epoch (+ the refit's)
                epochs = (f"{r['best_epoch']}/{r['epochs']}+{r['best_epoch']}" if r["refit"]
                          else str(r["epochs"]) if r["params"].get("patience") == 0
                          else f"{r['best_epoch']}/{r['epochs']}")
            load = f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}"
            print(f"{r['model']:<12} {r['ndcg@10']:>8.4f} {r['hr@10']:>8.4f} "
                  f"{r['fit_seconds']:>8.0f} {epochs:>10} {r.get('device', 'cpu'):>6} "
                  f"{load:>20}")
        for r in d["rows"]:
            if "latency" in r:
                lat = r["latency"]
                print(f"sasrec: a top-10 list from a {lat['events']}-event sequence in "
                      f"{lat['median_ms']:.1f} ms (median; p90 {lat['p90_ms']:.1f} ms)")


def text_init(args: argparse.Namespace) -> dict[str, Any]:
    """``item_init="random"`` against ``"text"`` on the temporal split, paired intervals."""
    from synerec.evaluation import ModelSpec
    from synerec.evaluation.ablation import AblationRow, run_ablation

    base = {**SASREC, **_parse_params(args.param)}
    report: dict[str, Any] = {"protocol": "per-user temporal split, each user's latest 20 %",
                              "version": __version__, "cpus": os.cpu_count(),
                              "load_average_before": os.getloadavg(), "datasets": {}}
    for name in args.datasets:
        data = load_dataset(name)
        params = {**TEXT_SASREC.get(name, {}), **base}
        rows = [AblationRow("sasrec (random items)",
                            ModelSpec("sasrec", {**params, "item_init": "random"}), "retriever"),
                AblationRow("sasrec (text items)",
                            ModelSpec("sasrec", {**params, "item_init": "text"}), "retriever")]
        before = os.getloadavg()
        result = run_ablation(data, rows, folds="temporal", n_boot=args.bootstrap,
                              random_state=0)
        random_row, text_row = result.rows
        delta = text_row["delta"]["ndcg@10"]
        report["datasets"][name] = {
            "params": params, "random": random_row["ndcg@10"], "text": text_row["ndcg@10"],
            "ratio": text_row["ndcg@10"] / random_row["ndcg@10"],
            "difference": delta, "fit_seconds": [random_row["fit_seconds"],
                                                 text_row["fit_seconds"]],
            "rows": [_row(r) for r in result.rows], "load_before": before,
            "load_after": os.getloadavg()}
    report["load_average_after"] = os.getloadavg()
    return report


def text_validation(args: argparse.Namespace) -> dict[str, Any]:
    """The validation probe of the text experiment: never sees the test part.

    Each data set's temporal fold is made as in :func:`text_init`, and ``sasrec`` is fitted on
    its training part only, without the refit: the model's own early stopping holds back each
    user's latest *training* item and measures NDCG@10 on it over every item; the best epoch's
    figure is the probe's. ``--inits`` picks the item tables (a ``text_*`` option does not
    change the random one).
    """
    from synerec.evaluation import make_folds

    base = {**SASREC, **_parse_params(args.param), "refit": False}
    report: dict[str, Any] = {
        "protocol": "validation: the training part of the per-user temporal split (each "
                    "user's latest 20 % left out), measured on each user's latest training "
                    "item (sasrec's early stopping), every item ranked",
        "version": __version__, "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(), "datasets": {}}
    for name in args.datasets:
        data = load_dataset(name)
        (fold,) = make_folds(data, "temporal")  # the test part is dropped here, unseen
        params = {**TEXT_SASREC.get(name, {}), **base}
        rows = []
        for init in args.inits:
            _, info = _fit("sasrec", {**params, "item_init": init}, fold.train)
            rows.append(info)
            logging.getLogger("bench").info("%s %s: validation NDCG@10 %.4f (epoch %d, %.0f s)",
                                            name, init, info["validation_ndcg@10"],
                                            info["best_epoch"], info["fit_seconds"])
        report["datasets"][name] = {"params": params, "rows": rows}
    report["load_average_after"] = os.getloadavg()
    return report


def print_text_validation(report: dict[str, Any]) -> None:
    print(f"Text-initialised items, {report['protocol']}; load average before "
          f"{_load(report['load_average_before'])}, after {_load(report['load_average_after'])}")
    print(f"{'data set':<20} {'items':<7} {'val NDCG@10':>11} {'HR@10':>7} {'epoch':>7} "
          f"{'fit s':>6} {'load before/after':>18}  options")
    for name, d in report["datasets"].items():
        for r in d["rows"]:
            opts = {k: v for k, v in r["params"].items()
                    if k not in ("random_state", "num_threads", "refit", "item_init")}
            load = f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}"
            print(f"{name:<20} {r['params']['item_init']:<7} {r['validation_ndcg@10']:>11.4f} "
                  f"{r['validation_hr@10']:>7.4f} {r['best_epoch']:>3}/{r['epochs']:<3} "
                  f"{r['fit_seconds']:>6.0f} {load:>18}  {json.dumps(opts)}")


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "extra"}


def print_text(report: dict[str, Any]) -> None:
    print(f"Text-initialised items, {report['protocol']}; load average before "
          f"{_load(report['load_average_before'])}, after {_load(report['load_average_after'])}")
    print(f"{'data set':<20} {'random':>8} {'text':>8} {'ratio':>6}  "
          f"{'text - random [95% interval]':<32} {'fit s':>12}")
    for name, d in report["datasets"].items():
        dl = d["difference"]
        interval = f"{dl['mean']:+.4f} [{dl['low']:+.4f}, {dl['high']:+.4f}]"
        fits = "/".join(f"{s:.0f}" for s in d["fit_seconds"])
        print(f"{name:<20} {d['random']:>8.4f} {d['text']:>8.4f} {d['ratio']:>6.2f}  "
              f"{interval:<32} {fits:>12}")


def _load(values: Any) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="experiment", required=True)
    nxt = sub.add_parser("nextitem", help="leave-one-out on the Amazon 2014 sequences")
    nxt.add_argument("--datasets", nargs="+", default=list(NEXT_ITEM_DATASETS),
                     choices=list(NEXT_ITEM_DATASETS))
    nxt.add_argument("--models", nargs="+", default=["sasrec", *BASELINES])
    nxt.add_argument("--validation", action="store_true",
                     help="measure on each user's last training item instead of the test item "
                          "(choosing hyper-parameters)")
    txt = sub.add_parser("text", help="item_init random against text, temporal split")
    txt.add_argument("--datasets", nargs="+", default=list(TEXT_DATASETS))
    txt.add_argument("--bootstrap", type=int, default=1000)
    txt.add_argument("--validation", action="store_true",
                     help="fit on the training part only and report sasrec's own validation "
                          "NDCG@10 (each user's latest training item; no refit): choosing "
                          "settings without the test part")
    txt.add_argument("--inits", nargs="+", default=["random", "text"],
                     choices=["random", "text"], help="with --validation: the item tables")
    for p in (nxt, txt):
        p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="a sasrec option (JSON value), repeatable")
        p.add_argument("--out", type=Path, default=None, help="the JSON file")
        p.add_argument("--tried", action="store_true",
                       help="add the recorded validation runs (TRIED) to the JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.experiment == "nextitem":
        report = next_item(args)
        print_next_item(report)
        default = RESULTS / ("sasrec-nextitem-validation.json" if args.validation
                             else "sasrec-nextitem.json")
    elif args.validation:
        report = text_validation(args)
        print_text_validation(report)
        default = RESULTS / "sasrec-text-validation.json"
    else:
        report = text_init(args)
        print_text(report)
        default = RESULTS / "sasrec-text.json"
    if args.tried:
        report["tried"] = TRIED
    out = args.out or default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
