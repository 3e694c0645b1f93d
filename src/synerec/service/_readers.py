"""SQLite connections of the service's stores: one read-only connection per thread, closed
without crashing a reader; one write transaction helper.

The event store and the catalogue store read from every thread that serves a request (each
its own connection: SQLite readers in WAL mode do not block each other) and write through one
connection under a lock. Closing a connection while another thread runs a query on it crashes
the process (a segmentation fault in the ``sqlite3`` module: a test worker died so while the
catalogue's warm-up thread read and the app closed). So closing the store closes the calling
thread's own connection and marks the store closed; every other thread's connection is closed
when its thread ends (the thread-local storage is released), and a thread that asks for a
connection after the store was closed gets :class:`sqlite3.ProgrammingError`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ThreadReaders", "immediate"]


class ThreadReaders:
    """Per-thread read-only connections made by ``connect``; ``what`` names the store in the
    error after it was closed."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], what: str) -> None:
        self._connect = connect
        self._what = what
        self._local = threading.local()
        self._closed = False

    def get(self) -> sqlite3.Connection:
        """This thread's connection (opened, query-only, on first use)."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"the {self._what} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Refuse new reads; close this thread's connection (the others end with their
        threads)."""
        self._closed = True
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()


@contextmanager
def immediate(conn: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Cursor]:
    """A write transaction on ``conn`` under ``lock`` (``BEGIN IMMEDIATE``): committed when the
    block ends, rolled back when it raises (nothing of it is stored)."""
    with lock:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
