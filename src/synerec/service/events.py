"""The durable event store: an embedded SQLite database in WAL mode, one transaction per batch.

Durability
----------
The database runs with ``journal_mode=WAL`` and ``synchronous=FULL``: a batch's transaction is
written to the write-ahead log and the log is fsynced before :meth:`EventStore.add` returns, so a
batch that the service acknowledged survives a ``kill -9`` of the server (and a power cut, as
far as the disk honours fsync). A batch is inserted in one ``BEGIN IMMEDIATE`` ... ``COMMIT``
transaction: all its events are stored, or (on any error) none.

Table ``events``::

    id          INTEGER PRIMARY KEY AUTOINCREMENT   -- increasing, never reused
    user_id     TEXT NOT NULL                       -- ids as text ("196", "u0042")
    item_id     TEXT NOT NULL
    rating      REAL                                -- NULL: no rating
    event       TEXT                                -- view, cart, purchase or NULL
    timestamp   REAL NOT NULL                       -- unix seconds (client's, else arrival)
    received_at REAL NOT NULL                       -- unix seconds at arrival
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["EventRecord", "EventStore", "StoredEvent", "read_events_frame"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    rating REAL,
    event TEXT,
    timestamp REAL NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id, id);
"""


@dataclass(frozen=True)
class EventRecord:
    """One interaction to store (ids already converted to text)."""

    user_id: str
    item_id: str
    rating: float | None = None
    event: str | None = None
    timestamp: float | None = None


@dataclass(frozen=True)
class StoredEvent:
    """One stored interaction with its id."""

    id: int
    user_id: str
    item_id: str
    rating: float | None
    event: str | None
    timestamp: float


class EventStore:
    """Append-only interaction log in SQLite (WAL, ``synchronous=FULL``), safe across threads.

    Parameters
    ----------
    path
        Database file; created with its folder when missing.

    Notes
    -----
    One connection, guarded by a lock, serves every thread: SQLite serialises writers anyway,
    and a batch is small next to the fsync that makes it durable.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode for {self.path} (got {mode!r})")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM events").fetchone()
        self._count, self._max_id = int(row[0]), int(row[1])
        log.info("event store %s: %d events", self.path, self._count)

    # -- writing ------------------------------------------------------------------------------
    def add(self, events: Sequence[EventRecord], *, now: float | None = None
            ) -> tuple[int, int]:
        """Store a batch in one transaction; return the ``(first_id, last_id)`` given to it.

        Either every event is stored (and durable when this returns) or, on error, none.
        """
        if not events:
            raise ValueError("an event batch must not be empty")
        received = time.time() if now is None else float(now)
        rows = [(e.user_id, e.item_id, e.rating, e.event,
                 received if e.timestamp is None else float(e.timestamp), received)
                for e in events]
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany(
                    "INSERT INTO events (user_id, item_id, rating, event, timestamp, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
                last = int(cur.execute("SELECT last_insert_rowid()").fetchone()[0])
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            self._count += len(rows)
            self._max_id = last
        return last - len(rows) + 1, last

    # -- reading ------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of stored events (kept in memory, exact: updated after each commit)."""
        return self._count

    def max_id(self) -> int:
        """Id of the newest stored event (0 when empty)."""
        return self._max_id

    def count_in_db(self) -> int:
        """``SELECT COUNT(*)`` from the database itself (for checks, not the hot path)."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def events(self, after_id: int = 0, upto_id: int | None = None) -> list[StoredEvent]:
        """Events with ``after_id < id <= upto_id`` (all newer ones when ``upto_id`` is None)."""
        sql = ("SELECT id, user_id, item_id, rating, event, timestamp FROM events WHERE id > ?"
               + ("" if upto_id is None else " AND id <= ?") + " ORDER BY id")
        args: tuple[int, ...] = (after_id,) if upto_id is None else (after_id, upto_id)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [StoredEvent(int(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]

    def close(self) -> None:
        """Close the connection (the data is already durable)."""
        with self._lock:
            self._conn.close()


def read_events_frame(path: str | os.PathLike[str], upto_id: int | None = None) -> pd.DataFrame:
    """Events with ``id <= upto_id`` as a table ``id, user_id, item_id, rating, event, timestamp``.

    Opens the database read-only (a retrain worker reads while the server keeps writing).
    """
    uri = f"file:{Path(path).resolve()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=30.0)
    try:
        sql = "SELECT id, user_id, item_id, rating, event, timestamp FROM events"
        args: tuple[int, ...] = ()
        if upto_id is not None:
            sql += " WHERE id <= ?"
            args = (upto_id,)
        return pd.read_sql_query(sql + " ORDER BY id", conn, params=args)
    finally:
        conn.close()
