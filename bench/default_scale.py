"""The default model at a real shop's size (issue 25): fit, every customer's list, one answer.

For each synthetic shop (:mod:`_shop`: the demo shop's generative model, order lines with
repeat purchases, a catalogue with titles and categories) this runs the commands a new user
runs, each as a whole process, and measures its wall time and peak resident memory (the
child's ``ru_maxrss`` from ``os.wait4``) with the load average before and after:

* ``synerec fit`` with the default model (the hybrid), its plan (the estimate it prints before
  fitting) and its stages as it reports them;
* ``synerec batch-recommend --n 10`` for every customer (``--every K``: every K-th), locally
  and, with ``--ray``, on a local Ray cluster (``--workers``), and whether the two Parquet
  files are equal byte for byte;
* ``synerec recommend --n 10`` for one customer (best of ``--repeats``).

Sizes: ``100k`` (100,000 customers x 20,000 products x 2,000,000 order lines) and ``1m``
(1,000,000 x 100,000 x 20,000,000); ``--sizes`` picks them. With ``--alternative MODEL`` a fit
the default plan refuses is followed by the fit of that model (the one the refusal names).

Prints a table and writes ``bench/results/default_scale.json``.

Usage::

    python bench/default_scale.py [--sizes 100k 1m] [--root /tmp/scale] [--ray] [--workers 2]
        [--every 50] [--fresh-cache]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from _service import loadavg
from _shop import shop_files
from cli_latency import synerec_command

RESULTS = Path(__file__).resolve().parent / "results" / "default_scale.json"
SIZES = {"100k": (100_000, 20_000, 2_000_000), "1m": (1_000_000, 100_000, 20_000_000)}
TARGETS = {"100k": {"fit_s": 600, "fit_rss_gib": 8.0, "batch_s": 120, "recommend_s": 2.0}}
log = logging.getLogger("bench.default_scale")


def run(argv: list[str], log_path: Path | None = None) -> dict[str, Any]:
    """Run one command; its exit code, wall seconds, CPU seconds, peak RSS (GiB) and the load
    average before and after; stderr kept in ``log_path``."""
    before = loadavg()
    start = time.perf_counter()
    err = open(log_path, "w") if log_path is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if log_path is not None:
            err.close()  # type: ignore[union-attr]
    wall = time.perf_counter() - start
    return {"exit": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),
            "load_before": before, "load_after": loadavg()}


_STAGE = re.compile(r"hybrid: fitted in ([\d.]+) s \((.*)\)")
_PLAN = re.compile(r"hybrid: plan: (.+?)\s+~\s*([\d.]+) (s|min|h)\s+\+\s*([\d.]+) GiB")
_PLAN_TOTAL = re.compile(r"hybrid: plan for .*: about ([\d.]+) (s|min|h) and ([\d.]+) GiB")


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"s": 1, "min": 60, "h": 3600}[unit]


def fit_report(log_path: Path) -> dict[str, Any]:
    """The plan and the measured stages from a fit's stderr."""
    text = log_path.read_text(errors="replace")
    out: dict[str, Any] = {"plan": {}, "stages_s": {}, "switches": [], "refusal": None}
    total = _PLAN_TOTAL.search(text)
    if total:
        out["plan_total"] = {"seconds": _seconds(total.group(1), total.group(2)),
                             "peak_gib": float(total.group(3))}
    for m in _PLAN.finditer(text):
        out["plan"][m.group(1).strip()] = {"seconds": _seconds(m.group(2), m.group(3)),
                                           "gib": float(m.group(4))}
    stages = _STAGE.search(text)
    if stages:
        for part in stages.group(2).split(", "):
            name, value, _ = part.rsplit(" ", 2)
            out["stages_s"][name] = float(value)
    out["switches"] = [line.strip() for line in text.splitlines()
                       if "left out" in line or "variant instead" in line]
    for line in text.splitlines():
        if line.startswith("error:") or "needs about" in line:
            out["refusal"] = line.strip()
    return out


def users_file(root: Path, n_users: int, every: int) -> Path:
    """A file of every ``every``-th customer id (the shop's ``u000..1`` numbering)."""
    path = root / f"users-{n_users}-every{every}.txt"
    width = len(str(n_users))
    path.write_text("".join(f"u{k:0{width}d}\n" for k in range(1, n_users + 1, every)))
    return path


def measure(size: str, root: Path, ray: bool, workers: int, repeats: int,
            alternative: str | None, every: int, fresh_cache: bool) -> dict[str, Any]:
    n_users, n_items, n_lines = SIZES[size]
    t0 = time.perf_counter()
    orders, products = shop_files(n_users, n_items, n_lines, root)
    res: dict[str, Any] = {"size": size, "customers": n_users, "products": n_items,
                           "order_lines": n_lines,
                           "generate_s": round(time.perf_counter() - t0, 1)}
    syn = synerec_command()
    data = ["--data", str(orders), "--items", str(products), "--user-col", "customer_id",
            "--item-col", "product_id", "--weight-col", "quantity"]
    model = root / f"model-{size}"
    shutil.rmtree(model, ignore_errors=True)
    fit_log = root / f"fit-{size}.log"
    if fresh_cache:  # a new user's first fit: the encoder set up and every title embedded
        cache = root / f"cache-{size}"
        shutil.rmtree(cache, ignore_errors=True)
        os.environ["SYNEREC_CACHE_HOME"] = str(cache)
    res["fresh_cache"] = fresh_cache
    res["fit"] = run([*syn, "fit", *data, "--out", str(model)], fit_log)
    res["fit"].update(fit_report(fit_log))
    log.warning("%s fit: %s", size, {k: res["fit"][k] for k in ("exit", "wall_s",
                                                                  "peak_rss_gib")})
    if res["fit"]["exit"] != 0 and alternative:
        alt = root / f"model-{size}-{alternative}"
        shutil.rmtree(alt, ignore_errors=True)
        res["alternative"] = {"model": alternative, **run(
            [*syn, "fit", *data, "--model", alternative, "--out", str(alt)],
            root / f"fit-{size}-{alternative}.log")}
        model = alt
    if not (model / "model.json").is_file():
        return res
    local = root / f"lists-{size}-local.parquet"
    who = [] if every == 1 else ["--users", str(users_file(root, n_users, every))]
    res["batch_customers"] = len(range(1, n_users + 1, every))
    res["batch_local"] = run([*syn, "batch-recommend", "--model-dir", str(model), "--out",
                              str(local), "--n", "10", *who], root / f"batch-{size}.log")
    if ray:
        remote = root / f"lists-{size}-ray.parquet"
        res["batch_ray"] = run([*syn, "batch-recommend", "--model-dir", str(model), "--out",
                                str(remote), "--n", "10", *who, "--engine", "ray",
                                "--workers", str(workers)], root / f"batch-{size}-ray.log")
        res["batch_ray"]["equal_to_local"] = remote.is_file() and local.is_file() \
            and filecmp.cmp(local, remote, shallow=False)
    one = [*syn, "recommend", "--model-dir", str(model), "--user", "u" + "1".zfill(
        len(str(n_users))), "--n", "10"]
    run(one)  # warm-up: the page cache holds the model, as on a serving machine
    runs = [run(one) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["wall_s"])
    res["recommend_one"] = {**best, "runs_s": [r["wall_s"] for r in runs]}
    res["model_bytes"] = sum(p.stat().st_size for p in model.iterdir())
    return res


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| shop | step | wall | peak RSS | load | target |", "|---|---|---|---|---|---|"]
    for r in results:
        shop = f"{r['customers']:,} x {r['products']:,} x {r['order_lines']:,}"
        tgt = TARGETS.get(r["size"], {})
        steps = [("fit (default model)", r.get("fit"), "fit_s"),
                 ("alternative fit", r.get("alternative"), None),
                 ("top-10 for every customer", r.get("batch_local"), "batch_s"),
                 ("the same on Ray", r.get("batch_ray"), None),
                 ("one recommend", r.get("recommend_one"), "recommend_s")]
        for name, m, key in steps:
            if not m:
                continue
            target = f"< {tgt[key]} s" if key and key in tgt else ""
            if key == "fit_s" and "fit_rss_gib" in tgt:
                target += f", < {tgt['fit_rss_gib']} GiB"
            status = "" if m["exit"] == 0 else f" (exit {m['exit']})"
            if "equal_to_local" in m:
                status += " equal" if m["equal_to_local"] else " DIFFERENT"
            rows.append(f"| {shop} | {name}{status} | {m['wall_s']:.1f} s | "
                        f"{m['peak_rss_gib']:.2f} GiB | {m['load_before']} -> "
                        f"{m['load_after']} | {target} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["100k"])
    parser.add_argument("--root", type=Path, default=Path("/tmp/scale"),
                        help="folder of the generated shops and models")
    parser.add_argument("--ray", action="store_true", help="also batch-recommend on Ray")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--alternative", default="als",
                        help="model fitted when the default fit is refused")
    parser.add_argument("--every", type=int, default=1,
                        help="batch lists for every K-th customer only (the 1m shop's 20,000 "
                        "customers: --every 50)")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="fit from an empty SYNEREC_CACHE_HOME (embeddings not cached)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args.root.mkdir(parents=True, exist_ok=True)
    if args.every < 1:
        parser.error(f"--every must be at least 1, got {args.every}")
    results = [measure(size, args.root, args.ray, args.workers, args.repeats,
                       args.alternative, args.every, args.fresh_cache) for size in args.sizes]
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(),
                                                "platform": platform.platform()},
                                    "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
