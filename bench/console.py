"""Server time of the console's customer page on ML-100K: p95 over 200 customers < 300 ms.

The served model is item-cf, then the hybrid (the default of ``synerec fit`` on ML-100K), each
fitted on all of ML-100K; a third configuration serves item-cf and also shows the lists of two
comparison models (user-cf and mf) side by side, as ``synerec serve --demo`` does.
Each configuration runs ``synerec serve`` in its own process (one numba thread, as the command
does by default); this script waits until the console has read the data set again and built
its text index, opens 10 other customers' pages to warm up, then 200 customers' pages drawn
at random (seeded), one at a time, each once: every page is built cold, nothing is cached for
that customer.

Server time is the page's ``Server-Timing: page;dur=<ms>`` header: from the handler's start to
the rendered HTML (lists, explanations and evidence of every shown model, history with dates).
The client's round trip is reported beside it. Prints a table and writes
``bench/results/console.json`` with the load average before and after.

Usage::

    SYNEREC_DATA_HOME=/work/shared/data .venv/bin/python bench/console.py [--customers 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def start_server(model_dir: Path, state_dir: Path, port: int, compare: dict[str, Path],
                 log: Path) -> subprocess.Popen[bytes]:
    """``synerec serve`` (with the console) in a subprocess; returns once it answers."""
    import httpx

    code = "import sys; from synerec.cli.main import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "serve", "--model-dir", str(model_dir), "--state-dir",
           str(state_dir), "--base-dataset", "ml-100k", "--host", "127.0.0.1", "--port",
           str(port)]
    for label, path in compare.items():
        cmd += ["--compare", f"{label}={path}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: "
                               f"{log.read_text()[-2000:]}")
        try:
            page = httpx.get(f"{url}/model", timeout=5)
            if page.status_code == 200 and 'data-ready="1"' in page.text:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the console was not ready within 600 s")


def measure(url: str, users: list[str]) -> dict[str, list[float]]:
    import httpx

    server, client = [], []
    with httpx.Client(base_url=url, timeout=30) as c:
        for u in users:
            t0 = time.perf_counter()
            r = c.get(f"/customers/{u}")
            client.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"customer {u}: HTTP {r.status_code}")
            m = re.search(r"page;dur=([0-9.]+)", r.headers.get("server-timing", ""))
            if m is None:
                raise RuntimeError("no Server-Timing header")
            server.append(float(m.group(1)))
            if r.text.count('data-role="rec"') < 10:
                raise RuntimeError(f"customer {u}: fewer than 10 recommendations")
    return {"server_ms": server, "client_ms": client}


def summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--served", default="item-cf,hybrid",
                        help="comma-separated models served alone, one server each")
    args = parser.parse_args()
    served = [m.strip() for m in args.served.split(",") if m.strip()]

    from synerec.algorithms import create_model
    from synerec.data import load_dataset

    RESULTS.mkdir(exist_ok=True)
    load_before = loadavg()
    ds = load_dataset("ml-100k")
    tmp = Path(tempfile.mkdtemp(prefix="synerec-console-bench-"))
    models = {}
    fit_s = {}
    for name in dict.fromkeys(["item-cf", "user-cf", "mf", *served]):
        cfg = {"random_state": 0} if name == "mf" else {}
        t0 = time.perf_counter()
        models[name] = create_model(name, **cfg).fit(ds).save(tmp / name)
        fit_s[name] = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    ids = [str(u) for u in ds.users.ids]
    order = rng.permutation(len(ids))
    warm = [ids[i] for i in order[:10]]
    sample = [ids[i] for i in order[10:10 + args.customers]]
    rows = []
    configs = [(m, m, {}) for m in served] + [
        ("item-cf + user-cf, mf", "item-cf", {"user-cf": models["user-cf"], "mf": models["mf"]})]
    for k, (label, model, compare) in enumerate(configs):
        port = free_port()
        state = tmp / f"state-{k}"
        proc = start_server(models[model], state, port, compare, tmp / "server.log")
        try:
            url = f"http://127.0.0.1:{port}"
            measure(url, warm)
            res = measure(url, sample)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        rows.append({"lists": label, "customers": len(sample), "loadavg": loadavg(),
                     "server_ms": summary(res["server_ms"]),
                     "client_ms": summary(res["client_ms"])})
    load_after = loadavg()
    print(f"\nConsole customer page on ML-100K ({args.customers} customers, each once; "
          f"target p95 < {TARGET_MS:.0f} ms server time)")
    print(f"{'lists shown':<24}{'server p50':>11}{'p95':>8}{'p99':>8}{'max':>8}"
          f"{'client p50':>12}{'p95':>8}")
    for r in rows:
        s, c = r["server_ms"], r["client_ms"]
        print(f"{r['lists']:<24}{s['p50']:>9.1f}ms{s['p95']:>6.1f}ms{s['p99']:>6.1f}ms"
              f"{s['max']:>6.1f}ms{c['p50']:>10.1f}ms{c['p95']:>6.1f}ms")
    print(f"load average before {load_before}, after {load_after} "
          f"({os.cpu_count()} CPUs)")
    out = RESULTS / "console.json"
    out.write_text(json.dumps({
        "bench": "console customer page, ML-100K", "target_p95_ms": TARGET_MS,
        "results": rows, "fit_seconds": fit_s, "loadavg_before": load_before,
        "loadavg_after": load_after,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
