"""What business rules on every request cost the service (issue 24): wrk at 256 connections.

ML-100K item-CF served by ``synerec serve --workers 2`` on 127.0.0.1 with an ``--items`` file
that gives every movie shop attributes (its genres as ``category``, a ``brand`` of 8, a
``price``, and ``in_stock`` false for one in ten) and a settings file with a placement::

    [placements.home]
    in_stock = true
    cap = [{attr = "category", max = 3}]
    boost = [{where = "brand = 'studio-1'", multiply = 1.2}]

``base_rules = {}`` so that the plain requests carry no rule at all. Three kinds of request,
each over ``/v1/users/{1..943}/recommendations?n=10`` (users cycled by wrk's Lua script):

``plain``
    no rules (``n=10``);
``placement``
    ``n=10&placement=home`` (a filter, a cap and a boost on every request);
``request``
    ``n=10&rules=<JSON>``: the same rules sent in the request (parsed once, then cached).

Each runs ``--rounds`` times, alternating (plain, placement, request; then placement,
request, plain; ...: the order turns each round, since the load of the shared machine drifts), for
``--seconds`` each, once with the response cache (the default: a user's list is computed
once, then served from the cache) and once without (``response_cache_mb = 0``: every request
computes its list: what rules cost per list), and once more without it and with the lists
precomputed 400 deep (``precompute_n = 400``: a list whose best 100 hold too few items that
pass widens within the slice instead of scoring the catalogue). The figure: the median
requests/s of each kind
and the cost ``1 - rules / plain``; the load average is recorded beside every run (the
machine is shared).

Usage::

    SYNEREC_DATA_HOME=/work/shared/data nice -n 10 .venv/bin/python bench/service_rules.py \
        [--seconds 10] [--rounds 3] [--connections 256]

Prints a table and writes ``bench/results/service_rules.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from _service import free_port, loadavg, start_server, wrk

RESULTS = Path(__file__).resolve().parent / "results"
#: (label, response_cache_mb, precompute_n): the default service; no response cache (every
#: request computes its list); no cache and lists precomputed 400 deep (a ruled list then
#: widens within the slice).
MODES = (("cached", 64.0, 100), ("uncached", 0.0, 100), ("uncached-400", 0.0, 400))
RULES = {"in_stock": True, "cap": [{"attr": "category", "max": 3}],
         "boost": [{"where": "brand = 'studio-1'", "multiply": 1.2}]}
SETTINGS = """
base_rules = {}
response_cache_mb = %(cache)s
precompute_n = %(precompute)d

[placements.home]
in_stock = true
cap = [{attr = "category", max = 3}]
boost = [{where = "brand = 'studio-1'", multiply = 1.2}]
"""




def items_file(ds: Any, path: Path) -> Path:
    """Every movie with shop attributes (deterministic)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    ids = [str(i) for i in ds.items.ids]
    info = ds.item_info.reindex(ds.items.ids) if ds.item_info is not None else None
    titles = (info["title"].fillna("").astype(str).tolist() if info is not None
              else [f"movie {i}" for i in ids])
    cats = (info["category"].fillna("").astype(str).tolist()
            if info is not None and "category" in info else [""] * len(ids))
    frame = pd.DataFrame({"item_id": ids, "title": [t or f"movie {i}" for t, i in
                                                     zip(titles, ids, strict=True)],
                          "category": cats,
                          "brand": [f"studio-{k}" for k in rng.integers(0, 8, len(ids))],
                          "price": np.round(rng.uniform(2, 40, len(ids)), 2),
                          "in_stock": np.where(rng.random(len(ids)) < 0.1, "false", "true")})
    frame.to_csv(path, index=False)
    return path


def measure(ctx: dict[str, Any], cache_mb: float, label: str, precompute: int = 100
            ) -> dict[str, Any]:
    tmp = ctx["tmp"]
    settings = tmp / f"settings-{label}.toml"
    settings.write_text(SETTINGS % {"cache": cache_mb, "precompute": precompute},
                        encoding="utf-8")
    port = free_port()
    proc = start_server(ctx["model_dir"], tmp / f"state-{label}", port, tmp / "server.log",
                        "--workers", str(ctx["workers"]), "--settings", str(settings),
                        "--items", str(ctx["items"]), "--no-console")
    queries = {"plain": "n=10", "placement": "n=10&placement=home",
               "request": "n=10&rules=" + quote(json.dumps(RULES, separators=(",", ":")),
                                                safe="")}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in queries}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for q in queries.values():  # warm up: each kind answered once, right
                r = c.get(f"/v1/users/1/recommendations?{q}")
                r.raise_for_status()
        for q in queries.values():  # a short warm-up at full load
            wrk(port, q, ctx["connections"], 3, ctx["users"], tmp)
        kinds = list(queries)
        for rnd in range(ctx["rounds"]):  # the order turns each round: no kind always last
            for kind in kinds[rnd % 3:] + kinds[:rnd % 3]:
                q = queries[kind]
                res = wrk(port, q, ctx["connections"], ctx["seconds"], ctx["users"], tmp)
                runs[kind].append(res)
                print(f"  {label:9s} {kind:9s} {res['rps']:8.0f} req/s  p99 "
                      f"{res['p99_ms']:7.1f} ms  errors {res['errors']}+{res['status']}  "
                      f"load {res['loadavg'][1]:.2f}", flush=True)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    out: dict[str, Any] = {"response_cache_mb": cache_mb, "precompute_n": precompute,
                           "runs": runs}
    med = {k: float(np.median([r["rps"] for r in v])) for k, v in runs.items()}
    out["median_rps"] = med
    out["cost"] = {k: 1 - med[k] / med["plain"] for k in ("placement", "request")}
    out["errors"] = sum(r["errors"] + r["status"] for v in runs.values() for r in v)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--table", type=Path, default=None,
                        help="only print the table of an existing result file")
    args = parser.parse_args()
    if args.table is not None:
        print_table(json.loads(args.table.read_text(encoding="utf-8")))
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: make bench-deps (apt-get install -y wrk)")
    from synerec.algorithms import create_model
    from synerec.data import load_dataset

    ds = load_dataset("ml-100k")
    tmp = Path(tempfile.mkdtemp(prefix="synerec-rules-"))
    ctx = {"tmp": tmp, "workers": args.workers, "seconds": args.seconds,
           "rounds": args.rounds, "connections": args.connections, "users": ds.n_users,
           "model_dir": create_model("item-cf").fit(ds).save(tmp / "item-cf"),
           "items": items_file(ds, tmp / "items.csv")}
    res: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_start": loadavg()},
        "dataset": "ml-100k", "model": "item-cf", "workers": args.workers,
        "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
        "rules": RULES}
    try:
        for label, cache, precompute in MODES:
            res[label] = measure(ctx, cache, label, precompute)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    res["machine"]["loadavg_end"] = loadavg()
    res["passed"] = {f"{m}.{k}": bool(res[m]["cost"][k] <= 0.15)
                     for m, _, _ in MODES for k in ("placement", "request")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "service_rules.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print_table(res)
    print(f"wrote {out}")


def print_table(res: dict[str, Any]) -> None:
    print(f"\nML-100K item-cf, --workers {res['workers']}, {res['connections']} connections, "
          f"{res['rounds']} x {res['seconds']:g} s per kind (medians), load average "
          f"{res['machine']['loadavg_start']:.2f} -> {res['machine']['loadavg_end']:.2f}")
    print(f"{'mode':16s} {'plain req/s':>12s} {'placement':>10s} {'cost':>7s} "
          f"{'request':>10s} {'cost':>7s} {'errors':>7s}")
    for m in [m for m, _, _ in MODES if m in res]:
        r = res[m]
        med, cost = r["median_rps"], r["cost"]
        print(f"{m:16s} {med['plain']:12.0f} {med['placement']:10.0f} "
              f"{cost['placement']:7.1%} {med['request']:10.0f} {cost['request']:7.1%} "
              f"{r['errors']:7d}")


if __name__ == "__main__":
    main()
