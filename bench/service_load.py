"""Load test of the recommendation service: ML-100K item-CF, 20,000 requests at concurrency 32.

The server runs ``synerec serve`` in its own process; this script is the second process that
sends ``GET /v1/users/{id}/recommendations?n=10`` over 32 keep-alive HTTP/1.1 connections
(a minimal asyncio client, so that the load generator's own cost stays small), cycling over
every ML-100K user. It reports p50/p90/p99 latency, throughput and errors, prints a table and
writes ``bench/results/service_load.json``.

Usage::

    SYNEREC_DATA_HOME=/work/shared/data .venv/bin/python bench/service_load.py \
        [--requests 20000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model_dir: Path, state_dir: Path, port: int, key: str,
                 extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    """``synerec serve`` in a subprocess; returns once ``/healthz`` answers."""
    env = dict(os.environ, SYNEREC_API_KEYS=key)
    code = "import sys; from synerec.cli.main import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "serve", "--model-dir", str(model_dir), "--state-dir",
           str(state_dir), "--host", "127.0.0.1", "--port", str(port), *(extra or [])]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


async def run_load(port: int, paths: list[bytes], concurrency: int
                   ) -> tuple[np.ndarray, int, float]:
    """Send every path once over ``concurrency`` connections; (latencies s, errors, wall s)."""
    queue = iter(paths)
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for path in queue:
                t0 = time.perf_counter()
                writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                try:
                    status, body = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200 or not body.startswith(b'{"rec_id"'):
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return np.array(latencies), errors, time.perf_counter() - start


def summarise(lat: np.ndarray, errors: int, wall: float, n: int) -> dict[str, float]:
    return {"requests": n, "errors": errors, "wall_s": wall, "throughput_rps": n / wall,
            "p50_ms": float(np.percentile(lat, 50) * 1e3),
            "p90_ms": float(np.percentile(lat, 90) * 1e3),
            "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "max_ms": float(lat.max() * 1e3), "mean_ms": float(lat.mean() * 1e3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()

    from synerec.algorithms import create_model
    from synerec.data import load_dataset

    ds = load_dataset("ml-100k")
    tmp = Path(tempfile.mkdtemp(prefix="synerec-load-"))
    t0 = time.perf_counter()
    model = create_model("item-cf").fit(ds)
    fit_s = time.perf_counter() - t0
    model_dir = model.save(tmp / "item-cf")
    users = [str(u) for u in ds.users.ids]
    paths = [f"/v1/users/{users[k % len(users)]}/recommendations?n=10".encode()
             for k in range(args.requests)]
    port = free_port()
    proc = start_server(model_dir, tmp / "state", port, "bench-key")
    try:
        asyncio.run(run_load(port, paths[:args.warmup], args.concurrency))  # warm caches, JIT
        lat, errors, wall = asyncio.run(run_load(port, paths, args.concurrency))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    res = summarise(lat, errors, wall, len(paths))
    res.update({"concurrency": args.concurrency, "dataset": "ml-100k", "model": "item-cf",
                "fit_s": fit_s, "users": len(users), "cpu_count": os.cpu_count(),
                "python": platform.python_version(), "machine": platform.machine(),
                "p99_under_50ms": res["p99_ms"] < 50.0})
    print(f"\nservice load test: {len(paths)} GET recommendations, concurrency "
          f"{args.concurrency}, ML-100K item-CF ({os.cpu_count()} CPUs)")
    print(f"{'metric':<16}{'value':>12}")
    for key in ("requests", "errors", "throughput_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
        v = res[key]
        print(f"{key:<16}{v:>12.1f}" if isinstance(v, float) else f"{key:<16}{v:>12}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "service_load.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
