"""Faults answered in the JSON format with the right status, the connection kept, counted.

A real uvicorn server on 127.0.0.1 (with the guarded HTTP protocol of ``synerec serve``):
a full event store (SQLite's own "database or disk is full", from a size limit: portable, no
root), a real ``OSError(ENOSPC)`` at the job-record layer, a saturated compute pool, slow
clients, hostile methods and paths.
"""

from __future__ import annotations

import errno
import json
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from synerec.service import EventRecord, EventStore, ServiceSettings
from synerec.service.faults import (
    BusyError,
    StorageError,
    StorageFullError,
    classify,
    scrub_paths,
)
from tests.service import API_KEY, fit_demo_model, raw_http, serve_in_thread

KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("faults") / "item-cf")


def _post(port: int, body: dict, extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    return (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
            ).encode() + data


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _faults(text: str, kind: str) -> int:
    for line in text.splitlines():
        if line.startswith(f'synerec_faults_total{{kind="{kind}"}}'):
            return int(float(line.split()[-1]))
    raise AssertionError(f"no faults line for {kind}")


def test_full_event_store_is_507_keeps_the_connection_and_loses_nothing(
        model_dir: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), events_max_db_bytes=65_536)
    with serve_in_thread(settings) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        acknowledged, full = 0, None
        for b in range(200):
            batch = {"events": [{"user_id": f"u{b}-{j}", "item_id": f"item-{b}-{j}",
                                 "event": "view"} for j in range(40)]}
            # The write and a health check on the SAME connection: a fault must not reset it.
            (status, headers, body), (h_status, _, h_body) = raw_http(
                port, _post(port, batch), _get("/healthz"))
            assert h_status == 200 and json.loads(h_body)["status"] == "ok"
            if status == 200:
                acknowledged += json.loads(body)["accepted"]
                continue
            full = (status, headers, json.loads(body))
            break
        assert full is not None, "the 64 KiB event store never filled up"
        status, headers, body = full
        assert status == 507 and body["error"] == "insufficient_storage"
        assert "nothing was stored" in body["message"] and "/" not in body["message"]
        assert headers["content-type"] == "application/json"
        assert int(headers["retry-after"]) > 0 and headers.get("connection") != "close"
        assert acknowledged > 0
        assert srv.state.events.count_in_db() == acknowledged  # nothing acknowledged is lost
        with httpx.Client(base_url=srv.url, timeout=10) as c:  # reads go on
            assert c.get("/v1/users/u001/recommendations").status_code == 200
            metrics = c.get("/metrics").text
        assert _faults(metrics, "insufficient_storage") >= 1
        assert 'status="507"' in metrics


def test_a_full_disk_when_recording_a_job_is_507(model_dir: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,))
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        manager = srv.state.retrain

        def no_space(job: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        manager._save = no_space  # the storage layer of job records fails for real
        r = c.post("/v1/models/retrain", headers=KEY)
        assert r.status_code == 507, r.text
        assert r.json()["error"] == "insufficient_storage" and "Retry-After" in r.headers
        assert "No space left on device" in r.json()["message"]
        assert manager._flock.is_free()  # the retrain lock was given back
        assert c.get("/healthz").status_code == 200


def test_storage_exceptions_are_classified(tmp_path: Path) -> None:
    db = tmp_path / "tiny.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.Error) as info:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES (?)", ("x" * 2000,))
    conn.close()
    assert isinstance(classify(info.value), StorageFullError)
    assert isinstance(classify(OSError(errno.ENOSPC, "No space left on device")),
                      StorageFullError)
    assert isinstance(classify(OSError(errno.EROFS, "Read-only file system")), StorageError)
    assert classify(sqlite3.ProgrammingError("bad binding")) is None  # a bug, not a fault
    assert classify(ValueError("x")) is None
    assert scrub_paths("cannot write /srv/state/models/v00002: full", "/srv/state") == \
        "cannot write <path>: full"
    assert scrub_paths("open C:\\data\\m failed and /a/b/c too") == \
        "open <path> failed and <path> too"


def test_a_locked_database_is_busy_not_a_crash(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "ev.sqlite3", busy_timeout_s=0.2)
    other = sqlite3.connect(tmp_path / "ev.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(BusyError):
            store.add([EventRecord("u", "i")])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.add([EventRecord("u", "i")]).first_id == 1  # and then it works
    store.close()


def test_saturated_compute_is_503_with_retry_after_and_health_stays_up(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from synerec.service import engine

    real = engine.similar
    release = threading.Event()

    def slow_similar(*args: object) -> object:
        release.wait(10)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "similar", slow_similar)
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               compute_threads=1, compute_queue=1,
                               compute_queue_timeout_s=0.5)
    with serve_in_thread(settings) as srv:
        results: list[httpx.Response] = []

        def call() -> None:
            with httpx.Client(base_url=srv.url, timeout=20) as c:
                results.append(c.get("/v1/items/p001/similar"))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        with httpx.Client(base_url=srv.url, timeout=5) as c:
            health = c.get("/healthz")  # the event loop is free while compute is saturated
        assert health.status_code == 200
        time.sleep(0.8)  # past the queue timeout
        release.set()
        for t in threads:
            t.join(20)
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) == 1 and codes.count(503) == 5, codes
        for r in results:
            if r.status_code == 503:
                assert r.json()["error"] == "overloaded"
                assert r.headers["Retry-After"] == "1"
        with httpx.Client(base_url=srv.url, timeout=5) as c:
            assert _faults(c.get("/metrics").text, "overloaded") == 5


def _read_all(s: socket.socket, timeout: float) -> bytes:
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            raise AssertionError(f"connection still open after {timeout} s: {out!r}") from None
        if not chunk:
            return out
        out += chunk


def test_slow_clients_get_408_and_are_disconnected(model_dir: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), header_timeout_s=0.5, body_timeout_s=0.5)
    with serve_in_thread(settings) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        addr = ("127.0.0.1", port)
        with socket.create_connection(addr) as s:  # connects and says nothing
            reply = _read_all(s, 5)
        assert reply.startswith(b"HTTP/1.1 408") and b'"error": "timeout"' in reply
        with socket.create_connection(addr) as s:  # a head sent one byte at a time, too slowly
            s.sendall(b"GET /heal")
            time.sleep(0.3)
            s.sendall(b"thz HT")
            reply = _read_all(s, 5)
        assert reply.startswith(b"HTTP/1.1 408")
        with socket.create_connection(addr) as s:  # a complete head, then a stalled body
            s.sendall(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                      '{"events": ['.encode())
            reply = _read_all(s, 5)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
        assert json.loads(body)["error"] == "timeout"
        # an ordinary keep-alive client is not affected: two requests, one connection
        (s1, _, _), (s2, _, _) = raw_http(port, _get("/healthz"), _get("/healthz"))
        assert s1 == s2 == 200
        with httpx.Client(base_url=srv.url, timeout=5) as c:
            assert _faults(c.get("/metrics").text, "timeout") == 3


def test_body_limits_and_malformed_lengths_answer_json(model_dir: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), max_body_bytes=1000)
    with serve_in_thread(settings) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        big = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\n"
               "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n").encode()
        [(status, headers, body)] = raw_http(port, big)
        assert status == 413 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"] == "body_too_large"
        for bad in (b"-5", b"abc"):
            req = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + bad +
                   b"\r\n\r\n")
            [(status, headers, body)] = raw_http(port, req)
            assert status == 400 and json.loads(body)["error"] == "bad_request"


def test_metric_labels_come_from_a_fixed_set(model_dir: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state")
    with serve_in_thread(settings) as srv:
        port = int(srv.url.rsplit(":", 1)[1])

        def hostile(seed: int) -> None:
            # Long random methods: refused by the HTTP parser (JSON 400) or counted as
            # "other"; methods the parser knows but the API does not use: "other".
            methods = [f"M{seed}{k:03d}{'X' * 150}" for k in range(40)]
            methods += ["PROPFIND", "MKCOL", "PURGE", "SEARCH", "LINK"]
            reqs = [f"{m} /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode() for m in methods]
            reqs += [_get(f"/no/such/path/{seed}/{k}") for k in range(40)]
            for r in reqs:
                [(status, headers, body)] = raw_http(port, r)
                assert status < 500 and headers["content-type"] == "application/json"
                json.loads(body)

        with httpx.Client(base_url=srv.url, timeout=10) as c:
            hostile(1)
            c.get("/metrics")  # so that its own series exists before the comparison
            first = c.get("/metrics").text
            hostile(2)
            second = c.get("/metrics").text
        assert "XXXX" not in second and "/no/such/path" not in second
        assert 'method="other"' in second and 'route="unmatched"' in second
        series = [ln.rsplit(" ", 1)[0] for ln in second.splitlines()]
        assert series == [ln.rsplit(" ", 1)[0] for ln in first.splitlines()]  # no new series
