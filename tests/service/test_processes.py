"""``synerec serve`` as processes: one writer per state directory, one-line start-up errors,
``kill -9`` during ingestion and during a retrain, several workers sharing one state.

Each test counts acknowledged against stored events: they must be equal.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from synerec.service import ServiceSettings
from synerec.service.app import create_app
from synerec.service.faults import StateDirLockedError
from tests.service import (
    API_KEY,
    DEMO,
    fit_demo_model,
    free_port,
    run_cli,
    start_server_process,
    wait_gone,
)

KEY = {"X-API-Key": API_KEY}
#: Settings file lines: retrain on the demo shop of the tests.
DEMO_SETTINGS = ('base_dataset = "demo-shop"\nbase_dataset_options = { '
                 + ", ".join(f"{k} = {v}" for k, v in DEMO.items()) + " }\n")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("proc") / "item-cf")


def _children(pid: int) -> list[int]:
    """The server worker processes of a ``synerec serve`` supervisor."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if (int(stat.rsplit(")", 1)[1].split()[1]) == pid
                    and b"multiprocessing-fork" in cmd and b"resource_tracker" not in cmd):
                out.append(int(d.name))
    return out


def _stored(state: Path) -> tuple[int, int]:
    with sqlite3.connect(state / "events.sqlite3") as conn:
        return conn.execute("SELECT COUNT(*), COUNT(DISTINCT user_id || '|' || item_id) "
                            "FROM events").fetchone()


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return lines[0]


def test_a_second_server_on_the_same_state_dir_is_refused(model_dir: Path,
                                                          tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = ServiceSettings(model_dir=model_dir, state_dir=state)
    app = create_app(settings)
    try:
        with pytest.raises(StateDirLockedError, match="in use by another synerec serve"):
            create_app(settings)
        line = _one_line_error(run_cli("serve", "--model-dir", str(model_dir), "--state-dir",
                                       str(state), "--port", str(free_port())))
        assert "in use by another synerec serve" in line and f"pid {os.getpid()}" in line
        line = _one_line_error(run_cli("serve", "--model-dir", str(model_dir), "--state-dir",
                                       str(state), "--port", str(free_port()),
                                       "--workers", "2"))
        assert "in use by another synerec serve" in line
    finally:
        app.state.service.close()
    create_app(settings).state.service.close()  # the lock went with the first server


def _drop_root_file_override() -> None:  # pragma: no cover - runs in the child
    """As root, drop CAP_DAC_OVERRIDE/READ_SEARCH from the child, so that mode bits apply."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(99)


def test_a_read_only_state_dir_is_one_line(model_dir: Path, tmp_path: Path) -> None:
    popen = {"preexec_fn": _drop_root_file_override} if os.geteuid() == 0 else {}
    fresh = tmp_path / "fresh"
    used = tmp_path / "used"
    create_app(ServiceSettings(model_dir=model_dir, state_dir=used)).state.service.close()
    for state in (fresh, used):
        state.mkdir(exist_ok=True)
        state.chmod(0o555)
    try:
        for state in (fresh, used):
            result = run_cli("serve", "--model-dir", str(model_dir), "--state-dir", str(state),
                             "--port", str(free_port()), **popen)
            if result.returncode == 99:
                pytest.fail("cannot drop root's file-permission override to test this")
            line = _one_line_error(result)
            assert f"the state directory {state} is not writable" in line, line
    finally:
        for state in (fresh, used):
            state.chmod(0o755)


@pytest.mark.parametrize("edit, message", [
    (('"k": 40', '"k": 41'), "corrupted or was edited"),
    (("1.0,\n    5.0", "NaN,\n    Infinity"), "non-finite number"),
])
def test_a_corrupted_model_json_refuses_to_start_with_one_line(
        model_dir: Path, tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    text = (broken / "model.json").read_text()
    assert edit[0] in text
    (broken / "model.json").write_text(text.replace(edit[0], edit[1], 1))
    line = _one_line_error(run_cli("serve", "--model-dir", str(broken), "--state-dir",
                                   str(tmp_path / "state"), "--port", str(free_port())))
    assert message in line and "model.json" in line


def test_kill_9_during_ingest_then_idempotent_retries_store_each_batch_once(
        model_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server_process(model_dir, state, port, log, "--workers", "2")
    workers = _children(proc.pid)
    assert len(workers) >= 2
    acked: dict[str, int] = {}
    unacked: dict[str, list[dict]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(s: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for b in range(10_000):
                key = f"s{s}-b{b}"
                events = [{"user_id": f"k{s}-{b}", "item_id": f"p{j:03d}", "event": "view"}
                          for j in range(1, 26)]
                try:
                    r = c.post("/v1/events", json={"events": events},
                               headers={**KEY, "Idempotency-Key": key})
                    r.raise_for_status()
                except httpx.HTTPError:
                    with lock:
                        unacked[key] = events
                    return
                with lock:
                    acked[key] = r.json()["accepted"]
                if stop.is_set():
                    return

    threads = [threading.Thread(target=sender, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # mid-stream: once some batches are in
        with lock:
            if len(acked) >= 8:
                break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # the supervisor
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    for w in workers:  # the workers die with it
        assert wait_gone(w, 10), f"worker {w} survived its server"
    acknowledged = sum(acked.values())
    assert acknowledged > 0
    stored, distinct = _stored(state)
    assert acknowledged <= stored <= acknowledged + 25 * len(unacked)  # nothing acked is lost
    proc = start_server_process(model_dir, state, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for key, events in unacked.items():  # the clients retry what was not acknowledged
                r = c.post("/v1/events", json={"events": events},
                           headers={**KEY, "Idempotency-Key": key})
                assert r.status_code == 200
                acked[key] = r.json()["accepted"]
            assert c.get("/healthz").json()["events_stored"] == sum(acked.values())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    stored, distinct = _stored(state)
    assert stored == distinct == sum(acked.values())  # each batch exactly once


def test_kill_9_during_retrain_kills_the_worker_and_nothing_is_half_served(
        model_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    log = tmp_path / "server.log"
    settings = tmp_path / "svc.toml"
    settings.write_text(DEMO_SETTINGS, encoding="utf-8")
    proc = start_server_process(model_dir, state, port, log, "--settings", str(settings))
    acknowledged = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for b in range(5):
                events = [{"user_id": f"r{b}", "item_id": f"p{j:03d}", "rating": 4}
                          for j in range(1, 21)]
                acknowledged += c.post("/v1/events", json={"events": events},
                                       headers=KEY).json()["accepted"]
            job = c.post("/v1/models/retrain", headers=KEY).json()
        record = state / "jobs" / f"{job['job_id']}.json"
        worker = None
        deadline = time.monotonic() + 30
        while worker is None and time.monotonic() < deadline:
            worker = json.loads(record.read_text()).get("worker_pid")
            time.sleep(0.01)
        assert worker is not None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert wait_gone(worker, 10), "the retrain worker outlived its server"
    assert not (state / "CURRENT").exists()  # version 1 is still what is recorded
    assert not (state / "models" / "v00002" / "model.json").exists()
    proc = start_server_process(model_dir, state, port, log, "--settings", str(settings))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            old = c.get(f"/v1/models/retrain/{job['job_id']}").json()
            assert old["status"] == "failed" and old["error"].startswith("interrupted")
            assert c.get("/healthz").json()["model_version"] == 1
            again = c.post("/v1/models/retrain", headers=KEY).json()
            deadline = time.monotonic() + 120
            while (done := c.get(f"/v1/models/retrain/{again['job_id']}").json())[
                    "status"] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert done["status"] == "succeeded", done
            assert c.get("/healthz").json()["model_version"] == done["model_version"]
            assert c.get("/healthz").json()["events_stored"] == acknowledged
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert _stored(state)[0] == acknowledged


def test_several_workers_share_events_models_and_metrics(model_dir: Path,
                                                         tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    settings = tmp_path / "svc.toml"
    settings.write_text("reload_interval_s = 0.2\n" + DEMO_SETTINGS, encoding="utf-8")
    proc = start_server_process(model_dir, state, port, tmp_path / "server.log",
                                "--workers", "2", "--settings", str(settings))
    url = f"http://127.0.0.1:{port}"
    try:
        workers = set(_children(proc.pid))

        def fresh(path: str, **kw: object) -> httpx.Response:
            with httpx.Client(base_url=url, timeout=10) as c:  # a new connection each time
                return c.get(path, **kw)  # type: ignore[arg-type]

        seen = {fresh("/healthz").json()["worker_pid"] for _ in range(60)}
        assert seen == workers and len(seen) == 2  # both processes answer
        # every worker mounts the console (the CLI's worker factory), as one process does
        assert all(fresh("/static/console.js").status_code == 200 for _ in range(10))
        assert all(fresh("/").status_code == 200 for _ in range(6))
        with httpx.Client(base_url=url, timeout=10) as c:
            events = [{"user_id": "shared", "item_id": f"p{j:03d}", "rating": 5}
                      for j in range(1, 8)]
            assert c.post("/v1/events", json={"events": events}, headers=KEY).status_code == 200
        answers = [fresh("/v1/users/shared/recommendations").json() for _ in range(20)]
        assert all(a["new_events"] == 7 for a in answers)  # read-your-writes on every worker
        assert len({json.dumps(a["items"]) for a in answers}) == 1
        with httpx.Client(base_url=url, timeout=10) as c:
            job = c.post("/v1/models/retrain", headers=KEY).json()
            busy = c.post("/v1/models/retrain", headers=KEY)
            assert busy.status_code == 409  # one retrain, whichever worker is asked
        deadline = time.monotonic() + 120
        while True:
            versions = {(h := fresh("/healthz").json())["worker_pid"]: h["model_version"]
                        for _ in range(30)}
            if set(versions.values()) == {2} and len(versions) == 2:
                break
            assert time.monotonic() < deadline, versions
            time.sleep(0.3)
        assert fresh(f"/v1/models/retrain/{job['job_id']}").json()["status"] == "succeeded"
        after = fresh("/v1/users/shared/recommendations").json()
        assert after["strategy"] == "model" and after["new_events"] == 0
        prefix = ('synerec_http_requests_total{method="GET",route="/v1/users/{user_id}/'
                  'recommendations",status="200"}')
        deadline = time.monotonic() + 30
        while True:  # each worker publishes its counters every reload interval
            with httpx.Client(base_url=url, timeout=10) as c:
                metrics = c.get("/metrics").text
            line = next(ln for ln in metrics.splitlines() if ln.startswith(prefix))
            if int(float(line.split()[-1])) == 21:  # both workers' requests, added up
                break
            assert int(float(line.split()[-1])) < 21 and time.monotonic() < deadline, line
            time.sleep(0.2)
        assert "synerec_workers 2" in metrics.splitlines()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    for w in workers:
        assert wait_gone(w, 10), f"worker {w} survived its server"
