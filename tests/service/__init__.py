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
    from synerec.data import load_dataset
    from synerec.models import create_model

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
def serve_in_thread(settings: Any, timeout: float = 20.0,
                    extensions: Any = ()) -> Iterator[RunningServer]:
    """Run ``create_app(settings, extensions=extensions)`` on uvicorn in a thread; stop it on
    exit."""
    import uvicorn

    from synerec.service import create_app
    from synerec.service.http import protocol_class

    app = create_app(settings, extensions=extensions)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            http=protocol_class(),
                            timeout_keep_alive=int(max(1, round(settings.keep_alive_s))))
    config.header_timeout_s = settings.header_timeout_s  # as `synerec serve` does
    server = uvicorn.Server(config)
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


CLI_CODE = "import sys; from synerec.cli.main import main; sys.exit(main(sys.argv[1:]))"


def serve_command(model_dir: Path, state_dir: Path, port: int, *extra: str) -> list[str]:
    """The ``synerec serve`` command line of the process tests."""
    return [sys.executable, "-c", CLI_CODE, "serve", "--model-dir", str(model_dir),
            "--state-dir", str(state_dir), "--host", "127.0.0.1", "--port", str(port),
            *extra]


def start_server_process(model_dir: Path, state_dir: Path, port: int, log: Path,
                         *extra: str, env: dict[str, str] | None = None
                         ) -> subprocess.Popen[bytes]:
    """``synerec serve`` in a subprocess (for kill -9 tests); waits until it answers."""
    env = dict(os.environ, SYNEREC_API_KEYS=API_KEY, **(env or {}))
    cmd = serve_command(model_dir, state_dir, port, *extra)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180  # generous: a loaded 2-core CI machine
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
    raise RuntimeError(f"server did not answer within 180 s: {log.read_text()[-2000:]}")


def free_port() -> int:
    """A port that was free a moment ago (for subprocess servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, timeout: float = 60, **popen: Any) -> subprocess.CompletedProcess[str]:
    """Run ``synerec ARGS`` to its end (for start-up errors); stdout and stderr as text."""
    env = dict(os.environ, SYNEREC_API_KEYS=API_KEY)
    return subprocess.run([sys.executable, "-c", CLI_CODE, *args], capture_output=True,
                          text=True, timeout=timeout, env=env, **popen)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` ended (or became a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    return False


def raw_http(port: int, *requests: bytes, timeout: float = 10.0
             ) -> list[tuple[int, dict[str, str], bytes]]:
    """Send ``requests`` one after the other on ONE keep-alive connection; parse each answer.

    Raises ConnectionError if the server closes the connection before answering them all.
    """
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        buf = b""
        for req in requests:
            s.sendall(req)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed before the response")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (ln.partition(":") for ln in lines[1:])}
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed in the middle of a body")
                buf += chunk
            out.append((status, headers, buf[:length]))
            buf = buf[length:]
    return out
