"""Whole-process latency of the command line: the answers a user waits for (issue 23, item 6).

Times each command as a whole process (interpreter start, imports, loading the model, the
answer, exit), ``--repeats`` times (default 5), and reports the best and the median wall time
with the CPU time the process used (user + system: what the command costs whatever else runs)
and the load average (``os.getloadavg()``) before and after each command's runs:

* ``synerec --help``;
* ``synerec recommend --model-dir M --user 1 --n 5`` from a saved item-cf and from a saved
  hybrid (the default model ``synerec fit`` trains), both fitted on ML-100K;
* the same ``recommend`` for a user the model does not know (the one-line error, exit 2);
* ``synerec evaluate --dataset ml-100k --model item-cf --folds 5``;
* with ``--large-model DIR``: ``synerec recommend --model-dir DIR --user U --n 5`` from a large
  saved model (issue 25: the default hybrid of a 100,000 customers x 20,000 products shop,
  ``--large-user`` default ``u000017``), with its archive's size beside.

Each run's peak resident memory (``ru_maxrss`` of that process) is reported too. The
targets: under 1 s for every ``recommend`` and ``--help``, under 2.5 s for the evaluation,
under 2 s for the large model's ``recommend``, on this 2-core machine. The saved models are
fitted once into ``--models DIR`` (default ``/tmp/synerec-cli-latency``) and reused by later
runs; fitting the hybrid takes minutes (run it under ``nice``). One warm-up run of each
command is made first and not counted (it fills the page cache and numba's kernel cache, as
any second request finds them).

Prints a table and writes ``bench/results/cli_latency.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/cli_latency.py [--models DIR]
        [--repeats 5] [--only recommend-item-cf ...] [--large-model DIR [--large-user ID]]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "cli_latency.json"
log = logging.getLogger("bench.cli_latency")

#: Target wall time (best of the runs) of each command, in seconds.
TARGETS = {"help": 1.0, "recommend-item-cf": 1.0, "recommend-hybrid": 1.0,
           "recommend-unknown-user": 1.0, "evaluate-item-cf-5-fold": 2.5,
           "recommend-large-model": 2.0}


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
    """Wall times, CPU times and peak RSS of ``repeats`` runs of ``argv`` (after one
    warm-up) and the load average."""
    def run() -> tuple[float, float, float]:
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if proc.returncode != expect:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}, expected {expect}: "
                             f"{stderr.strip()[-500:]}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KiB -> MiB

    run()  # warm-up: page cache, numba's kernel cache
    before = load()
    runs = [run() for _ in range(repeats)]
    walls = [w for w, _, _ in runs]
    cpus = [c for _, c, _ in runs]
    return {"best_s": round(min(walls), 3), "median_s": round(statistics.median(walls), 3),
            "runs_s": [round(w, 3) for w in walls],
            "best_cpu_s": round(min(cpus), 3), "median_cpu_s": round(statistics.median(cpus), 3),
            "peak_rss_mb": round(max(r for _, _, r in runs), 1),
            "load_before": before, "load_after": load()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=Path("/tmp/synerec-cli-latency"),
                        help="folder of the saved models (fitted once, then reused)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), default=None,
                        help="time only these commands")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--large-model", type=Path, default=None,
                        help="a large saved model (the default hybrid of a big shop) to time "
                             "one recommend from")
    parser.add_argument("--large-user", default="u000017",
                        help="the user of --large-model's recommend")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    chosen = [n for n in (args.only or list(TARGETS))
              if n != "recommend-large-model" or args.large_model is not None]
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
    if "recommend-large-model" in chosen:
        if args.large_model is None:
            raise SystemExit("recommend-large-model needs --large-model DIR")
        commands["recommend-large-model"] = (
            [*syn, "recommend", "--model-dir", str(args.large_model), "--user",
             args.large_user, "--n", "5"], 0)
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
    if "recommend-large-model" in results:
        results["recommend-large-model"].update(_model_info(args.large_model))
    print(f"{'command':<26} {'best s':>7} {'median s':>9} {'cpu s':>6} {'peak MB':>8} "
          f"{'target':>7}  {'load before':<18} {'load after':<18}")
    for name, r in results.items():
        print(f"{name:<26} {r['best_s']:>7.3f} {r['median_s']:>9.3f} {r['best_cpu_s']:>6.2f} "
              f"{r['peak_rss_mb']:>8.0f} {r['target_s']:>7.1f}  "
              f"{' '.join(f'{x:.2f}' for x in r['load_before']):<18} "
              f"{' '.join(f'{x:.2f}' for x in r['load_after']):<18}")
    payload = {"bench": "cli_latency", "repeats": args.repeats, "cpus": os.cpu_count(),
               "python": platform.python_version(), "machine": platform.machine(),
               "models": str(args.models), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if "recommend-large-model" in results:
        r = results["recommend-large-model"]
        print(f"large model: {r['model']} (format {r['format_version']}, arrays.npz "
              f"{r['archive_mb']:.0f} MB): peak RSS {r['peak_rss_mb']:.0f} MB")
    print(f"wrote {args.out}")
    return 0


def _model_info(path: Path) -> dict[str, Any]:
    """The large model's directory, format version and archive size."""
    manifest = json.loads((path / "model.json").read_text(encoding="utf-8"))
    return {"model": str(path), "format_version": manifest.get("format_version"),
            "archive_mb": round((path / "arrays.npz").stat().st_size / 2**20, 1)}


if __name__ == "__main__":
    raise SystemExit(main())
