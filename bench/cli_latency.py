"""Whole-process latency of the command line: the answers a user waits for (issue 23, item 6).

Times each command as a whole process (interpreter start, imports, loading the model, the
answer, exit), ``--repeats`` times (default 5), and reports the best and the median wall time
with the CPU time the process used (user + system: what the command costs whatever else runs)
and the load average (``os.getloadavg()``) before and after each command's runs:

* ``synerec --help``;
* ``synerec recommend --model-dir M --user 1 --n 5`` from a saved item-cf and from a saved
  hybrid (the default model ``synerec fit`` trains), both fitted on ML-100K;
* the same ``recommend`` for a user the model does not know (the one-line error, exit 2);
* ``synerec evaluate --dataset ml-100k --model item-cf --folds 5``.

The targets: under 1 s for every ``recommend`` and ``--help``, under 2.5 s for the evaluation,
on this 2-core machine. The saved models are fitted once into ``--models DIR`` (default
``/tmp/synerec-cli-latency``) and reused by later runs; fitting the hybrid takes minutes (run
it under ``nice``). One warm-up run of each command is made first and not counted (it fills the
page cache and numba's kernel cache, as any second request finds them).

Prints a table and writes ``bench/results/cli_latency.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/cli_latency.py [--models DIR]
        [--repeats 5] [--only recommend-item-cf ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "cli_latency.json"
log = logging.getLogger("bench.cli_latency")

#: Target wall time (best of the runs) of each command, in seconds.
TARGETS = {"help": 1.0, "recommend-item-cf": 1.0, "recommend-hybrid": 1.0,
           "recommend-unknown-user": 1.0, "evaluate-item-cf-5-fold": 2.5}


def synerec_command() -> list[str]:
    """The ``synerec`` command of this interpreter (``python -m`` would import more)."""
    script = shutil.which("synerec", path=str(Path(sys.executable).parent))
    if script is None:
        raise SystemExit("the synerec command is not installed beside this Python")
    return [sys.executable, script]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def fitted(models: Path, name: str, model: str | None) -> Path:
    """The saved model ``models/name``, fitted on ML-100K the first time (``None``: the
    default model, the hybrid)."""
    out = models / name
    if (out / "model.json").is_file():
        return out
    argv = [*synerec_command(), "fit", "--dataset", "ml-100k", "--out", str(out)]
    if model is not None:
        argv += ["--model", model]
    log.warning("fitting %s into %s (once; later runs reuse it)", name, out)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    log.warning("fitted %s in %.1f s", name, time.perf_counter() - start)
    return out


def time_command(argv: list[str], repeats: int, expect: int) -> dict[str, Any]:
    """Wall times of ``repeats`` runs of ``argv`` (after one warm-up) and the load average."""
    def run() -> tuple[float, float]:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}, expected {expect}: "
                             f"{done.stderr.strip()[-500:]}")
        return wall, (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)

    run()  # warm-up: page cache, numba's kernel cache
    before = load()
    runs = [run() for _ in range(repeats)]
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    return {"best_s": round(min(walls), 3), "median_s": round(statistics.median(walls), 3),
            "runs_s": [round(w, 3) for w in walls],
            "best_cpu_s": round(min(cpus), 3), "median_cpu_s": round(statistics.median(cpus), 3),
            "load_before": before, "load_after": load()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=Path("/tmp/synerec-cli-latency"),
                        help="folder of the saved models (fitted once, then reused)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), default=None,
                        help="time only these commands")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    chosen = args.only or list(TARGETS)
    syn = synerec_command()
    args.models.mkdir(parents=True, exist_ok=True)
    commands: dict[str, tuple[list[str], int]] = {}
    if "help" in chosen:
        commands["help"] = ([*syn, "--help"], 0)
    if "recommend-item-cf" in chosen or "recommend-unknown-user" in chosen:
        icf = fitted(args.models, "item-cf", "item-cf")
        commands["recommend-item-cf"] = (
            [*syn, "recommend", "--model-dir", str(icf), "--user", "1", "--n", "5"], 0)
        commands["recommend-unknown-user"] = (
            [*syn, "recommend", "--model-dir", str(icf), "--user", "no-such-user", "--n",
             "5"], 2)
    if "recommend-hybrid" in chosen:
        hyb = fitted(args.models, "hybrid", None)
        commands["recommend-hybrid"] = (
            [*syn, "recommend", "--model-dir", str(hyb), "--user", "1", "--n", "5"], 0)
    if "evaluate-item-cf-5-fold" in chosen:
        commands["evaluate-item-cf-5-fold"] = (
            [*syn, "evaluate", "--dataset", "ml-100k", "--model", "item-cf", "--folds", "5"],
            0)
    results: dict[str, Any] = {}
    for name in chosen:
        cmd, expect = commands[name]
        results[name] = {"command": " ".join(["synerec", *cmd[2:]]),
                         **time_command(cmd, args.repeats, expect),
                         "target_s": TARGETS[name]}
        results[name]["meets_target"] = results[name]["best_s"] < TARGETS[name]
    print(f"{'command':<26} {'best s':>7} {'median s':>9} {'cpu s':>6} {'target':>7}  "
          f"{'load before':<18} {'load after':<18}")
    for name, r in results.items():
        print(f"{name:<26} {r['best_s']:>7.3f} {r['median_s']:>9.3f} {r['best_cpu_s']:>6.2f} "
              f"{r['target_s']:>7.1f}  "
              f"{' '.join(f'{x:.2f}' for x in r['load_before']):<18} "
              f"{' '.join(f'{x:.2f}' for x in r['load_after']):<18}")
    payload = {"bench": "cli_latency", "repeats": args.repeats, "cpus": os.cpu_count(),
               "python": platform.python_version(), "machine": platform.machine(),
               "models": str(args.models), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
