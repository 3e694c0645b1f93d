"""Read-only queries of the service's event store for the console's pages.

The console opens its own read-only SQLite connections (one per thread) to the event database,
so it never waits on the writer's lock; SQLite's WAL mode lets readers run beside the writer.
Every query is bounded: by the ``pending`` index (a user's events newer than the served model),
by the primary key (the latest events) or by a window of the newest ``window`` ids (a user's
events already in the model, a product's events, the per-minute counts), never a scan of the
whole table. A user's older events are in the model's training data, which the customer page
shows as such.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from synerec.service.events import StoredEvent

__all__ = ["EventReader", "EventRow"]


@dataclass(frozen=True)
class EventRow(StoredEvent):
    """One stored event (:class:`~synerec.service.events.StoredEvent`) with the time the
    service received it."""

    received_at: float


_COLUMNS = "id, user_id, item_id, rating, event, timestamp, received_at"


class EventReader:
    """Read-only access to ``events.sqlite3``.

    Parameters
    ----------
    path
        The event database (created by the service's event store).
    window
        Newest event ids searched by the queries that have no index (a product's events, the
        per-minute counts).
    """

    def __init__(self, path: str | Path, window: int = 20_000) -> None:
        self.path = Path(path)
        self.window = int(window)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{self.path.resolve()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=10.0, check_same_thread=False)
            self._local.conn = conn
        return conn

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[EventRow]:
        return [EventRow(int(r[0]), str(r[1]), str(r[2]), r[3], r[4], float(r[5]), float(r[6]))
                for r in self._conn().execute(sql, args).fetchall()]

    def max_id(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(row[0])

    def user_events(self, user_id: str, limit: int) -> list[EventRow]:
        """The user's newest ``limit`` events, newest first: those not yet in the served model
        (one range scan of the store's ``pending`` index) and those among the newest
        :attr:`window` events."""
        cols = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
        pending = self._rows(f"SELECT {cols} FROM pending AS p JOIN events AS e ON e.id = p.id "
                             "WHERE p.user_id = ? ORDER BY p.id DESC LIMIT ?",
                             (str(user_id), int(limit)))
        recent = self._rows(f"SELECT {_COLUMNS} FROM events WHERE id > ? AND user_id = ? "
                            "ORDER BY id DESC LIMIT ?",
                            (self.max_id() - self.window, str(user_id), int(limit)))
        rows = {r.id: r for r in [*pending, *recent]}
        return [rows[k] for k in sorted(rows, reverse=True)[:int(limit)]]

    def user_event_count(self, user_id: str) -> int:
        """How many of the user's events are not yet in the served model."""
        row = self._conn().execute("SELECT COUNT(*) FROM pending WHERE user_id = ?",
                                   (str(user_id),)).fetchone()
        return int(row[0])

    def latest(self, limit: int) -> list[EventRow]:
        """The newest ``limit`` events, newest first."""
        return self._rows(f"SELECT {_COLUMNS} FROM events ORDER BY id DESC LIMIT ?",
                          (int(limit),))

    def item_events(self, item_id: str, limit: int) -> list[EventRow]:
        """The item's events among the newest :attr:`window` events, newest first."""
        low = self.max_id() - self.window
        return self._rows(f"SELECT {_COLUMNS} FROM events WHERE id > ? AND item_id = ? "
                          "ORDER BY id DESC LIMIT ?", (low, str(item_id), int(limit)))

    def per_minute(self, minutes: int = 60, now: float | None = None
                   ) -> tuple[list[tuple[float, int]], bool]:
        """Events received in each of the last ``minutes`` minutes, oldest first.

        Returns the ``(minute start, count)`` pairs and whether the window of the newest
        :attr:`window` events cut the count short (older events of the period not counted).
        """
        now = time.time() if now is None else float(now)
        end = int(now // 60)
        start = end - int(minutes) + 1
        top = self.max_id()
        low = top - self.window
        rows = self._conn().execute(
            "SELECT CAST(received_at / 60 AS INTEGER) AS m, COUNT(*) FROM events "
            "WHERE id > ? AND received_at >= ? GROUP BY m", (low, start * 60.0)).fetchall()
        counts = {int(m): int(c) for m, c in rows}
        truncated = False
        if low > 0:
            oldest = self._conn().execute("SELECT received_at FROM events WHERE id = ?",
                                          (low + 1,)).fetchone()
            truncated = oldest is not None and float(oldest[0]) > start * 60.0
        return [(float(m * 60), counts.get(m, 0)) for m in range(start, end + 1)], truncated

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
