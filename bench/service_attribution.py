"""Attribution counters are exact across kill -9: clicks acknowledged = clicks counted.

``synerec serve`` (ML-100K item-CF, ``--workers`` processes) is loaded by ``--concurrency``
clients, each repeating: get a user's list (``GET /v1/users/{u}/recommendations?n=10``), then
post a click on one of its items with the list's ``rec_id`` (``POST /v1/events`` with an
``Idempotency-Key`` of its own; a click whose answer was lost is sent again with the same key
until it is acknowledged, as a client must). Meanwhile the server's whole process group is
killed with SIGKILL every ``--kill-every`` seconds (uniform 0.5x..1.5x) and restarted at once;
optionally ``wrk`` adds plain list requests beside (``--wrk-connections``).

At the end the server is restarted once more and ``GET /v1/attribution`` must count exactly the
acknowledged clicks (and no click unattributed). Prints a table and writes
``bench/results/service_attribution.json`` with the load average.

Usage::

    SYNEREC_DATA_HOME=/work/shared/data nice -n 10 .venv/bin/python bench/service_attribution.py \
        [--clicks 5000] [--concurrency 16] [--workers 2] [--kill-every 4] [--wrk-connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

import _service
from _service import KEY, free_port

RESULTS = Path(__file__).resolve().parent / "results"


def start_server(model_dir: Path, state_dir: Path, port: int, workers: int,
                 log: Path) -> subprocess.Popen[bytes]:
    """``synerec serve --workers N`` in its own process group (killed at once with -9)."""
    return _service.start_server(model_dir, state_dir, port, log, "--workers", str(workers),
                                 timeout=180, own_group=True)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the server and its workers, at once."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


class Load:
    """The clients' shared tallies."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.acknowledged = 0
        self.lists = 0
        self.list_errors = 0
        self.click_retries = 0
        self.replayed = 0
        self.clicks_sent = 0
        self.done = asyncio.Event()


async def client(port: int, users: list[str], load: Load, rng: random.Random) -> None:
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": KEY}
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        while not load.done.is_set():
            user = rng.choice(users)
            try:
                r = await c.get(f"/v1/users/{user}/recommendations", params={"n": 10})
            except httpx.HTTPError:
                load.list_errors += 1
                await asyncio.sleep(0.05)
                continue
            if r.status_code != 200:
                load.list_errors += 1
                await asyncio.sleep(0.05)
                continue
            load.lists += 1
            body = r.json()
            item = rng.choice(body["items"])["item_id"]
            click = {"events": [{"user_id": user, "item_id": item, "event": "click",
                                 "rec_id": body["rec_id"]}]}
            key = uuid.uuid4().hex
            load.clicks_sent += 1
            while True:  # until acknowledged: the same key, so stored once at most
                try:
                    p = await c.post("/v1/events", json=click,
                                     headers={**headers, "Idempotency-Key": key})
                    if p.status_code == 200:
                        load.acknowledged += 1
                        load.replayed += int(p.json()["replayed"])
                        break
                except httpx.HTTPError:
                    pass
                load.click_retries += 1
                await asyncio.sleep(0.05)
            if load.acknowledged >= load.target:
                load.done.set()


async def killer(restart: Any, every: float, load: Load, rng: random.Random) -> int:
    kills = 0
    while not load.done.is_set():
        try:
            await asyncio.wait_for(load.done.wait(), every * rng.uniform(0.5, 1.5))
        except TimeoutError:
            pass
        if load.done.is_set():
            break
        await asyncio.to_thread(restart)
        kills += 1
    return kills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=5000, help="acknowledged clicks to reach")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--wrk-connections", type=int, default=0,
                        help="also run wrk on the lists with this many connections (0: no)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from synerec.algorithms import create_model
    from synerec.data import load_dataset

    load_before = os.getloadavg()
    ds = load_dataset("ml-100k")
    tmp = Path(tempfile.mkdtemp(prefix="synerec-attr-"))
    model_dir = create_model("item-cf").fit(ds).save(tmp / "item-cf")
    users = [str(u) for u in ds.users.ids]
    state, log = tmp / "state", tmp / "server.log"
    port = free_port()
    box = {"proc": start_server(model_dir, state, port, args.workers, log)}
    restarts: list[float] = []

    def restart() -> None:
        kill_group(box["proc"])
        t0 = time.perf_counter()
        box["proc"] = start_server(model_dir, state, port, args.workers, log)
        restarts.append(time.perf_counter() - t0)

    wrk = None
    if args.wrk_connections and shutil.which("wrk"):
        wrk = subprocess.Popen(["wrk", "-t", "2", "-c", str(args.wrk_connections), "-d",
                                "3600s", f"http://127.0.0.1:{port}/v1/users/1/"
                                "recommendations?n=10"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)

    async def run() -> tuple[Load, int, float]:
        load = Load(args.clicks)
        rng = random.Random(args.seed)
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(client(port, users, load, random.Random(rng.random())))
                 for _ in range(args.concurrency)]
        kills = await killer(restart, args.kill_every, load, rng)
        await asyncio.gather(*tasks)
        return load, kills, time.perf_counter() - t0

    try:
        load, kills, wall = asyncio.run(run())
        load_during = os.getloadavg()
        if wrk is not None:
            wrk.send_signal(signal.SIGINT)
            wrk_out = wrk.communicate(timeout=30)[0].decode(errors="replace")
        else:
            wrk_out = ""
        restart()  # one more kill -9 after the last click, then count
        got = httpx.get(f"http://127.0.0.1:{port}/v1/attribution", timeout=60).json()
    finally:
        kill_group(box["proc"])
        if wrk is not None and wrk.poll() is None:
            os.killpg(wrk.pid, signal.SIGKILL)
    counted = sum(r["clicks"] for r in got["rows"])
    lists_counted = sum(r["lists"] for r in got["rows"])
    res = {
        "dataset": "ml-100k", "model": "item-cf", "workers": args.workers,
        "concurrency": args.concurrency, "kill_every_s": args.kill_every,
        "wrk_connections": args.wrk_connections, "kills": kills + 1, "wall_s": wall,
        "clicks_acknowledged": load.acknowledged, "clicks_counted": counted,
        "clicks_unattributed": got["unattributed"].get("click", 0),
        "click_retries": load.click_retries, "clicks_replayed": load.replayed,
        "lists_received": load.lists, "lists_counted": lists_counted,
        "list_errors": load.list_errors,
        "restart_s_mean": sum(restarts) / len(restarts),
        "exact": counted == load.acknowledged and not got["unattributed"],
        "loadavg_before": load_before, "loadavg_during": load_during,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "wrk_tail": wrk_out.strip().splitlines()[-6:] if wrk_out else [],
    }
    print(f"\nattribution under kill -9: ML-100K item-CF, {args.workers} workers, "
          f"{args.concurrency} clients, kill every ~{args.kill_every:g} s "
          f"(load average {load_during[0]:.2f}, {os.cpu_count()} CPUs)")
    print(f"{'metric':<22}{'value':>12}")
    for key in ("kills", "clicks_acknowledged", "clicks_counted", "clicks_unattributed",
                "click_retries", "clicks_replayed", "lists_received", "lists_counted",
                "list_errors", "restart_s_mean", "wall_s", "exact"):
        v = res[key]
        print(f"{key:<22}{v:>12.2f}" if isinstance(v, float) else f"{key:<22}{v!s:>12}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "service_attribution.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not res["exact"]:
        raise SystemExit("clicks acknowledged != clicks counted")


if __name__ == "__main__":
    main()
