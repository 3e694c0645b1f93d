"""Attribution survives kill -9 during load: clicks acknowledged = clicks counted, and every
rec_id a client received is in the store (a smaller run of bench/service_attribution.py)."""

from __future__ import annotations

import signal
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.service import API_KEY, fit_demo_model, free_port, start_server_process


def test_clicks_acknowledged_are_counted_after_kill_9(tmp_path: Path) -> None:
    model_dir = fit_demo_model(tmp_path / "item-cf")
    state, log = tmp_path / "state", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    box: dict[str, Any] = {"proc": start_server_process(model_dir, state, port, log)}
    acked: list[str] = []  # rec_ids of the acknowledged clicks
    received: list[str] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        k = seed
        with httpx.Client(base_url=base, timeout=5) as c:
            while not stop.is_set():
                k += 7
                user = f"u{k % 300 + 1:03d}"
                try:
                    body = c.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
                except (httpx.HTTPError, ValueError):
                    stop.wait(0.05)
                    continue
                if "rec_id" not in body:
                    continue
                received.append(body["rec_id"])
                click = {"events": [{"user_id": user, "item_id": body["items"][k % 5]["item_id"],
                                     "event": "click", "rec_id": body["rec_id"]}]}
                key = {"X-API-Key": API_KEY, "Idempotency-Key": uuid.uuid4().hex}
                while True:  # the same key until acknowledged: stored once at most
                    try:
                        if c.post("/v1/events", json=click, headers=key).status_code == 200:
                            acked.append(body["rec_id"])
                            break
                    except httpx.HTTPError:
                        pass
                    stop.wait(0.05)

    threads = [threading.Thread(target=client, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        for round_ in range(2):  # kill -9 twice during the load, restart at once
            while len(acked) < 40 * (round_ + 1):
                stop.wait(0.05)
            box["proc"].send_signal(signal.SIGKILL)
            box["proc"].wait(10)
            box["proc"] = start_server_process(model_dir, state, port, log)
        while len(acked) < 120:
            stop.wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    try:
        got = httpx.get(f"{base}/v1/attribution", timeout=30).json()
    finally:
        box["proc"].send_signal(signal.SIGKILL)
        box["proc"].wait(10)
    assert sum(r["clicks"] for r in got["rows"]) == len(acked) >= 120
    assert got["unattributed"] == {}
    with sqlite3.connect(state / "events.sqlite3") as conn:
        stored = {r[0] for r in conn.execute("SELECT rec_id FROM lists")}
        clicks = conn.execute("SELECT COUNT(*) FROM events WHERE event = 'click'").fetchone()[0]
    assert set(received) <= stored  # every list a client got was recorded first
    assert clicks == len(acked)
