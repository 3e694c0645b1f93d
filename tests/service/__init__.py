"""Helpers of the service tests: a small demo-shop model and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

#: The demo-shop used by the service tests (small: fits in about a second).
DEMO = {"n_users": 300, "n_items": 400, "ratings_per_user": 20, "random_state": 7}
API_KEY = "test-key-0123456789"


def fit_demo_model(path: Path, model: str = "item-cf", **config: Any) -> Path:
    """Fit ``model`` on the small demo-shop and save it to ``path``."""
    from synerec.algorithms import create_model
    from synerec.data import load_dataset

    ds = load_dataset("demo-shop", **DEMO)
    return create_model(model, **config).fit(ds).save(path)


def free_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 (handed to uvicorn: no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class RunningServer:
    """A uvicorn server started by :func:`serve_in_thread`."""

    url: str
    app: Any

    @property
    def state(self) -> Any:
        return self.app.state.service


@contextmanager
def serve_in_thread(settings: Any, timeout: float = 20.0) -> Iterator[RunningServer]:
    """Run ``create_app(settings)`` on uvicorn in a thread; stop it on exit."""
    import uvicorn

    from synerec.service import create_app

    app = create_app(settings)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def start_server_process(model_dir: Path, state_dir: Path, port: int,
                         log: Path) -> subprocess.Popen[bytes]:
    """``synerec serve`` in a subprocess (for kill -9 tests); waits until it answers."""
    env = dict(os.environ, SYNEREC_API_KEYS=API_KEY)
    code = ("import sys; from synerec.cli.main import main; "
            "sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", code, "serve", "--model-dir", str(model_dir),
           "--state-dir", str(state_dir), "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not answer within 60 s: {log.read_text()[-2000:]}")


def free_port() -> int:
    """A port that was free a moment ago (for subprocess servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
