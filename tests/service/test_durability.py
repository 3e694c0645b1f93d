"""The event store survives a kill -9 of the server: nothing acknowledged is lost."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx

from tests.service import API_KEY, fit_demo_model, free_port, start_server_process


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    model_dir = fit_demo_model(tmp_path / "item-cf")
    state = tmp_path / "state"
    port = free_port()
    proc = start_server_process(model_dir, state, port, tmp_path / "server.log")
    acknowledged = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for b in range(20):
                events = [{"user_id": f"k{b}-{j % 7}", "item_id": f"p{j:03d}",
                           "event": "view"} for j in range(50)]
                r = c.post("/v1/events", json={"events": events},
                           headers={"X-API-Key": API_KEY})
                assert r.status_code == 200
                acknowledged += r.json()["accepted"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(state / "events.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == acknowledged == 1000
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    proc = start_server_process(model_dir, state, port, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            health = c.get("/healthz").json()
            assert health["events_stored"] == acknowledged
            assert health["events_pending"] == acknowledged
            # the replayed events are served: a sender is scored from them
            rec = c.get("/v1/users/k0-0/recommendations").json()
            assert rec["new_events"] == len([j for j in range(50) if j % 7 == 0])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
