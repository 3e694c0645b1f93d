"""Closing a store while other threads read from it: no crash, a clear error after."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from synerec.service.catalogue import CatalogueStore
from synerec.service.events import EventStore


def _close_while_reading(path: Path, kind: str) -> list[str]:
    """Four threads read until the store is closed under them; what each one saw."""
    store = EventStore(path) if kind == "events" else CatalogueStore(path)
    query = store.count_in_db if isinstance(store, EventStore) else store.count
    started = threading.Barrier(5)
    outcomes: list[str] = []

    def read() -> None:
        started.wait()
        reads = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                query()
                reads += 1
            except sqlite3.ProgrammingError as exc:
                assert "is closed" in str(exc)
                outcomes.append(f"closed after {reads}")
                return
        outcomes.append("never closed")

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    query()  # the closing thread's own reader, closed by close()
    store.close()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(sqlite3.ProgrammingError, match="is closed"):
        query()
    return outcomes


@pytest.mark.parametrize("kind", ["events", "catalogue"])
def test_closing_while_threads_read_ends_their_reads_cleanly(tmp_path: Path, kind: str) -> None:
    """Readers in other threads keep reading while the store is closed (as the catalogue's
    warm-up thread did while the app closed, which crashed the process with a segmentation
    fault): each in-flight read finishes, every later one raises ProgrammingError, and the
    readers' connections close as their threads end."""
    for round_ in range(20):
        outcomes = _close_while_reading(tmp_path / f"{kind}-{round_}.db", kind)
        assert len(outcomes) == 4
        assert all(o.startswith("closed after") for o in outcomes), outcomes
