"""Shared fixtures: the data home with the real data sets, and a local file server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_home() -> Path:
    """``$SYNEREC_DATA_HOME``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("SYNEREC_DATA_HOME")
    return Path(env) if env else REPO.parent / "shared" / "data"


def require_dataset(name: str, *files: str) -> Path:
    """The folder of a real data set; fails the test (never skips) when it is missing."""
    folder = shared_data_home() / name
    missing = [f for f in files if not (folder / f).is_file()]
    if not folder.is_dir() or missing:
        pytest.fail(
            f"data set {name!r} is missing from {folder} ({', '.join(missing) or 'no folder'}); "
            "set SYNEREC_DATA_HOME to the folder that holds the shared data sets "
            "(CI: ../shared/data)", pytrace=False)
    return folder


@pytest.fixture(scope="session")
def data_home() -> Path:
    """The data home holding the real data sets, exported as ``SYNEREC_DATA_HOME``."""
    home = shared_data_home()
    if not home.is_dir():
        pytest.fail(f"data home {home} does not exist; set SYNEREC_DATA_HOME", pytrace=False)
    os.environ["SYNEREC_DATA_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def ml100k(data_home: Path):  # type: ignore[no-untyped-def]
    """MovieLens 100K with its official splits (loaded once per test session)."""
    from synerec.data import load_dataset

    require_dataset("ml-100k", "u.data", "u.item", "u.user")
    return load_dataset("ml-100k", data_home=data_home, download=False)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its base URL; shut down afterwards.

    Stands in for a publisher's download site in the loaders' download tests (the tests reach
    no other address).
    """
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
