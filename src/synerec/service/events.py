"""The durable event store: an embedded SQLite database in WAL mode, one transaction per batch.

Durability
----------
The database runs with ``journal_mode=WAL`` and ``synchronous=FULL``: a batch's transaction is
written to the write-ahead log and the log is fsynced before :meth:`EventStore.add` returns, so a
batch that the service acknowledged survives a ``kill -9`` of the server (and a power cut, as
far as the disk honours fsync). A batch is inserted in one ``BEGIN IMMEDIATE`` ... ``COMMIT``
transaction: all its events are stored, or (on any error: a full disk, a size limit) none.

Several processes
-----------------
Every worker process of a server opens the database: SQLite serialises the writers (a busy
writer waits up to ``busy_timeout_s``) and WAL readers never wait for writers. Reads use one
connection per thread, so that the hot path (a user's newest events) never queues behind a
write.

Idempotency
-----------
A batch sent with an ``Idempotency-Key`` is stored with the key and the sha256 of its content in
the same transaction; the same key with the same content later returns the first
acknowledgement without storing anything, the same key with other content is refused
(:class:`IdempotencyConflictError`). Keys expire after a time-to-live (:meth:`prune_keys`).

Tables::

    events      id INTEGER PRIMARY KEY AUTOINCREMENT  -- increasing, never reused, no gaps
                user_id TEXT, item_id TEXT, rating REAL (NULL: none), event TEXT (view, cart,
                purchase, click, impression or NULL), timestamp REAL (client's, else
                arrival), received_at REAL, rec_id TEXT (the list it answers, or NULL),
                value REAL (a purchase's revenue, or NULL)
    pending     (user_id, id) WITHOUT ROWID  -- the events not yet in the served model
    idempotency key TEXT PRIMARY KEY, body_sha256 TEXT, first_id, last_id, created_at REAL

An ``impression`` event (a list was shown) is stored for attribution
(:mod:`synerec.service.attribution`) but is no interaction: it never enters ``pending``, a
user's profile, ``item_users`` nor the retraining data.

``events`` is append-only (inserts at its end cost the same at any size); the per-user index
is ``pending``, from which :meth:`EventStore.fold` drops the events a new model includes, so it
stays as small as the pending events however many events are stored.

Events are never deleted, so ``MAX(id)`` is their count.
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

from synerec.exceptions import SynerecError
from synerec.service._readers import ThreadReaders
from synerec.service.faults import StateDirError, classify

__all__ = ["IMPRESSION", "AddResult", "EventRecord", "EventStore", "IdempotencyConflictError",
           "StoredEvent", "read_events_frame"]

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
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    body_sha256 TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
"""
_PENDING = """
CREATE TABLE pending (
    user_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
"""

#: One pending event of a user: ``(event_id, item_id, rating, event)``.
Overlay = list[tuple[int, str, float | None, str | None]]


class IdempotencyConflictError(SynerecError):
    """An ``Idempotency-Key`` was sent again with a different batch."""


@dataclass(frozen=True)
class EventRecord:
    """One interaction to store (ids already converted to text)."""

    user_id: str
    item_id: str
    rating: float | None = None
    event: str | None = None
    timestamp: float | None = None
    rec_id: str | None = None
    value: float | None = None


#: The event type that records a shown list, not an interaction (see the module docstring).
IMPRESSION = "impression"


@dataclass(frozen=True)
class StoredEvent:
    """One stored interaction with its id."""

    id: int
    user_id: str
    item_id: str
    rating: float | None
    event: str | None
    timestamp: float


@dataclass(frozen=True)
class AddResult:
    """What :meth:`EventStore.add` stored: the ids of the batch, and whether it was a replay."""

    first_id: int
    last_id: int
    replayed: bool = False


class EventStore:
    """Append-only interaction log in SQLite (WAL, ``synchronous=FULL``), safe across threads
    and processes.

    Parameters
    ----------
    path
        Database file; created with its folder when missing.
    max_db_bytes
        Size limit of the database (``PRAGMA max_page_count``); a batch that would pass it
        fails like on a full disk (:class:`~synerec.service.faults.StorageFullError`).
    busy_timeout_s
        How long a writer waits for another process's write transaction.

    Raises
    ------
    StateDirError
        The database cannot be created or opened for writing (one line, no traceback).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_db_bytes: int | None = None,
                 busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.max_db_bytes = max_db_bytes
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.Lock()
        self._readers = ThreadReaders(self._connect, "event store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateDirError(f"SQLite refused WAL mode for the event store (got {mode!r})")
            self._conn.execute("PRAGMA synchronous=FULL")
            # The (user_id, id) index takes random inserts: keep its pages in the writer's
            # cache (bounded, 64 MiB), and give the disk back once a checkpoint resets the log.
            self._conn.execute("PRAGMA cache_size=-65536")
            self._conn.execute("PRAGMA journal_size_limit=67108864")
            if max_db_bytes is not None:
                page = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
                self._conn.execute(f"PRAGMA max_page_count={max(1, int(max_db_bytes) // page)}")
            self._conn.executescript(_SCHEMA)
            self._migrate()
            row = self._conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM events"
                                     ).fetchone()
        except (sqlite3.Error, OSError) as exc:
            fault = classify(exc, "the event store")
            detail = fault.args[0] if fault is not None else str(exc)
            raise StateDirError(f"cannot open the event store {self.path}: {detail}") from None
        self._count, self._max_id = int(row[0]), int(row[1])
        log.info("event store %s: %d events", self.path, self._count)

    def _migrate(self) -> None:
        """Create the ``pending`` index table; from a store of an earlier release (which
        indexed every event by user), fill it once and drop the old index."""
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            exists = cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'pending'").fetchone()
            if not exists:
                cur.execute(_PENDING)
                cur.execute("INSERT INTO pending (user_id, id) SELECT user_id, id FROM events")
                cur.execute("DROP INDEX IF EXISTS events_user")
            columns = {r[1] for r in cur.execute("PRAGMA table_info(events)").fetchall()}
            for name, kind in (("rec_id", "TEXT"), ("value", "REAL")):
                if name not in columns:  # a store of an earlier release: O(1) in SQLite
                    cur.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
            cur.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=self.busy_timeout_s)
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        return self._readers.get()

    # -- writing ------------------------------------------------------------------------------
    def add(self, events: Sequence[EventRecord], *, now: float | None = None,
            idempotency_key: str | None = None, body_sha256: str | None = None) -> AddResult:
        """Store a batch in one transaction; return the ids given to it.

        Either every event is stored (and durable when this returns) or, on error, none. With
        an ``idempotency_key`` already stored for the same ``body_sha256``, nothing is stored
        and the first batch's ids are returned (``replayed=True``).

        Raises
        ------
        ServiceFault
            Storage faults (full, busy, failing), see :func:`synerec.service.faults.classify`.
        IdempotencyConflictError
            The key was used for another batch.
        """
        if not events:
            raise ValueError("an event batch must not be empty")
        if idempotency_key is not None and not body_sha256:
            raise ValueError("an idempotency key needs the batch's sha256")
        received = time.time() if now is None else float(now)
        rows = [(e.user_id, e.item_id, e.rating, e.event,
                 received if e.timestamp is None else float(e.timestamp), received, e.rec_id,
                 e.value) for e in events]
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    if idempotency_key is not None:
                        prev = cur.execute("SELECT body_sha256, first_id, last_id FROM "
                                           "idempotency WHERE key = ?",
                                           (idempotency_key,)).fetchone()
                        if prev is not None:
                            cur.execute("ROLLBACK")
                            if prev[0] != body_sha256:
                                raise IdempotencyConflictError(
                                    "this Idempotency-Key was already used for a different "
                                    "batch; use a new key for new events")
                            return AddResult(int(prev[1]), int(prev[2]), replayed=True)
                    cur.executemany(
                        "INSERT INTO events (user_id, item_id, rating, event, timestamp, "
                        "received_at, rec_id, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    last = int(cur.execute("SELECT last_insert_rowid()").fetchone()[0])
                    first = last - len(rows) + 1
                    cur.executemany("INSERT INTO pending (user_id, id) VALUES (?, ?)",
                                    [(r[0], first + k) for k, r in enumerate(rows)
                                     if r[3] != IMPRESSION])
                    if idempotency_key is not None:
                        cur.execute("INSERT INTO idempotency (key, body_sha256, first_id, "
                                    "last_id, created_at) VALUES (?, ?, ?, ?, ?)",
                                    (idempotency_key, body_sha256, first, last, received))
                    cur.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        try:
                            cur.execute("ROLLBACK")
                        except sqlite3.Error:  # pragma: no cover - rolled back by SQLite
                            pass
                    raise
            except (sqlite3.Error, OSError) as exc:
                fault = classify(exc, "the event store")
                if fault is None:
                    raise
                log.warning("event batch refused: %s (%s)", fault, exc)
                raise fault from exc
            self._count += len(rows)
            self._max_id = max(self._max_id, last)
        return AddResult(first, last)

    def wal_bytes(self) -> int:
        """Size of the write-ahead log file (0 when absent)."""
        try:
            return os.path.getsize(f"{self.path}-wal")
        except OSError:
            return 0

    def checkpoint(self, above_bytes: int = 64 << 20) -> bool:
        """Copy the write-ahead log into the database and truncate it, if it is larger than
        ``above_bytes``; return whether it was done.

        SQLite's automatic checkpoints never reset the log while other connections (the other
        workers' readers and writer) keep using it, so under continuous ingestion it would grow
        without end. This waits (up to the busy timeout) for a moment without writers, copies,
        and truncates; writes of every process wait meanwhile (well under a second for a log
        of ``above_bytes``).
        """
        if self.wal_bytes() <= above_bytes:
            return False
        with self._lock:
            try:
                busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                log.warning("checkpoint of the event store failed: %s", exc)
                return False
        return not busy

    def fold(self, upto_id: int) -> int:
        """Drop the events with ``id <= upto_id`` (now in the served model) from the
        ``pending`` index; the events themselves stay. Return how many were dropped.

        Keeps the per-user index as small as the pending events, so that inserting an event
        costs the same after a million events as after the first.
        """
        with self._lock:
            try:
                cur = self._conn.execute("DELETE FROM pending WHERE id <= ?", (int(upto_id),))
                return int(cur.rowcount)
            except sqlite3.Error as exc:
                log.warning("could not fold events into the model index: %s", exc)
                return 0

    def pending_count(self) -> int:
        """Rows in the ``pending`` index (for checks)."""
        return int(self._reader().execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def prune_keys(self, older_than: float) -> int:
        """Forget idempotency keys created before ``older_than`` (unix s); return how many."""
        with self._lock:
            try:
                cur = self._conn.execute("DELETE FROM idempotency WHERE created_at < ?",
                                         (float(older_than),))
                return int(cur.rowcount)
            except sqlite3.Error as exc:
                log.warning("could not prune idempotency keys: %s", exc)
                return 0

    # -- reading ------------------------------------------------------------------------------
    def count(self) -> int:
        """Number of stored events (= the newest id: events are never deleted)."""
        return self.max_id()

    def max_id(self) -> int:
        """Id of the newest stored event by any process (0 when empty); one index lookup."""
        try:
            row = self._reader().execute("SELECT MAX(id) FROM events").fetchone()
        except sqlite3.Error as exc:
            log.warning("cannot read the event store: %s", exc)
            return self._max_id
        newest = int(row[0] or 0)
        self._max_id = max(self._max_id, newest)
        return newest

    def count_in_db(self) -> int:
        """``SELECT COUNT(*)`` from the database itself (for checks, not the hot path)."""
        return int(self._reader().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def received_at(self, event_id: int) -> float | None:
        """Arrival time of an event (``None`` when there is no such event)."""
        row = self._reader().execute("SELECT received_at FROM events WHERE id = ?",
                                     (int(event_id),)).fetchone()
        return None if row is None else float(row[0])

    def newest_pending_id(self, user_id: str, after_id: int) -> int:
        """Id of the user's newest event with ``id > after_id`` (0: none): one descent of the
        ``pending`` index, however many events the user has."""
        row = self._reader().execute(
            "SELECT MAX(id) FROM pending WHERE user_id = ? AND id > ?",
            (user_id, int(after_id))).fetchone()
        return int(row[0] or 0)

    def user_events(self, user_id: str, after_id: int, limit: int) -> Overlay:
        """The user's newest ``limit`` events with ``id > after_id``, oldest first: by their
        timestamp (the client's, else the arrival time), then by id (the order a retrain reads
        them in, and the order a sequential model reads them in, strategy ``sequence``).

        One range scan of the ``pending`` index ``(user_id, id)`` (small: events already in a
        model are folded out of it, see :meth:`fold`) and a rowid lookup per event: the cost is
        the number of rows returned, not the number of stored events.
        """
        rows = self._reader().execute(
            "SELECT e.id, e.item_id, e.rating, e.event, e.timestamp FROM pending AS p "
            "JOIN events AS e ON e.id = p.id WHERE p.user_id = ? AND p.id > ? "
            "ORDER BY p.id DESC LIMIT ?",
            (user_id, int(after_id), int(limit))).fetchall()
        rows.sort(key=lambda r: (r[4], r[0]))
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def item_users(self, item_id: str, after_id: int) -> set[str]:
        """The users with an event on ``item_id`` newer than ``after_id`` (the events not in
        the served model: a range scan of the newest rows, not an index of every event)."""
        rows = self._reader().execute(
            "SELECT DISTINCT user_id FROM events WHERE id > ? AND item_id = ? "
            "AND event IS NOT 'impression'",
            (int(after_id), str(item_id))).fetchall()
        return {str(r[0]) for r in rows}

    def events(self, after_id: int = 0, upto_id: int | None = None) -> list[StoredEvent]:
        """Events with ``after_id < id <= upto_id`` (all newer ones when ``upto_id`` is None)."""
        sql = ("SELECT id, user_id, item_id, rating, event, timestamp FROM events WHERE id > ?"
               + ("" if upto_id is None else " AND id <= ?")
               + " AND event IS NOT 'impression' ORDER BY id")
        args: tuple[int, ...] = (after_id,) if upto_id is None else (after_id, upto_id)
        rows = self._reader().execute(sql, args).fetchall()
        return [StoredEvent(int(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]

    def close(self) -> None:
        """Close the writer and this thread's reader (the data is already durable; the other
        threads' readers close as their threads end: :class:`ThreadReaders`)."""
        self._readers.close()
        with self._lock:
            self._conn.close()


def read_events_frame(path: str | os.PathLike[str], upto_id: int | None = None) -> pd.DataFrame:
    """Events with ``id <= upto_id`` as a table ``id, user_id, item_id, rating, event, timestamp``.

    Opens the database read-only (a retrain worker reads while the server keeps writing).
    Impressions (shown lists, not interactions) are left out.
    """
    uri = f"file:{Path(path).resolve()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=30.0)
    try:
        sql = ("SELECT id, user_id, item_id, rating, event, timestamp FROM events "
               "WHERE event IS NOT 'impression'")
        args: tuple[int, ...] = ()
        if upto_id is not None:
            sql += " AND id <= ?"
            args = (upto_id,)
        return pd.read_sql_query(sql + " ORDER BY id", conn, params=args)
    finally:
        conn.close()
