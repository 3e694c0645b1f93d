"""Recommendation ids and attribution: every served list is recorded; events name it.

Every list the service answers (a user's recommendations, similar items, an item's audience)
gets a ``rec_id`` (32 hex digits, random) at the top of its JSON, and is recorded in the
state store's ``lists`` table (``events.sqlite3``)::

    lists   id INTEGER PRIMARY KEY, rec_id TEXT UNIQUE, created_at REAL (unix s), kind TEXT
            (recommendations, similar, audience), user_id TEXT (NULL but for
            recommendations), subject TEXT (the item of similar/audience), model TEXT,
            model_version INTEGER, experiment TEXT, variant TEXT, placement TEXT,
            items TEXT (the ids shown, each between two 0x1f characters)

Writing
-------
:class:`ListRecorder` commits the lists served during one turn of the event loop together, at
its end, on the loop itself when the database is free (an append to the write-ahead log: no
lock wait, no fsync, no checkpoint), else on a writer thread of its own that waits for the
lock (group commit: whatever queued meanwhile goes in its next transaction). A response is
sent only once its list is committed. Lists are committed with ``synchronous=NORMAL``: a
committed list is in the write-ahead log when the commit returns (the event store's next
commit fsyncs the log), so a client never holds a ``rec_id`` that a ``kill -9`` could make
the server forget; a power cut may lose the newest lists (clicks on them then count as
unattributed). Should the write fail (a full disk), the list is still served, the failure
logged and counted in ``lists_unrecorded``.

Attribution rule
----------------
An event counts for the list (and so for its model, model version, experiment, variant and
placement) when:

* it carries a ``rec_id`` and its item was on that list (any event type: impression, click,
  add-to-cart, purchase); or
* it is a purchase without ``rec_id``, and the same user was shown the item in a
  recommendation list within the ``attribution_window_s`` (default 24 h) before the
  purchase's timestamp: the newest such list takes it.

Other events with a ``rec_id`` (unknown ``rec_id``, item not on the list) are counted as
``unattributed``. A purchase's ``value`` is its revenue. ``clicked_lists`` counts lists with
at least one attributed click.

Counting
--------
:class:`Attribution` derives every counter from the durable tables (lists, then events, each
read from where the previous read stopped, in one read transaction), so what it reports is
what is stored: after a ``kill -9`` and a restart, an acknowledged click is counted once.
Each worker process keeps its own counters from the same tables.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Attribution", "Counts", "ListRecorder", "ListRow", "UserTotals", "new_rec_id",
           "shown_ids", "stamp"]

log = logging.getLogger(__name__)

SEP = "\x1f"  # never in an id (control characters are refused)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY,
    rec_id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    subject TEXT,
    model TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    experiment TEXT,
    variant TEXT,
    placement TEXT,
    items TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lists_user ON lists (user_id, created_at);
"""
#: Event types that count (add-to-cart is stored as ``cart``).
EVENT_COUNTERS = {"impression": "impressions", "click": "clicks", "cart": "add_to_carts",
                  "purchase": "purchases"}


def new_rec_id() -> str:
    """A fresh recommendation id: 32 hex digits, the time in microseconds (13) then 76
    random bits (19; Python's generator, reseeded in each forked worker), so that ids are
    unique and the ``lists`` index grows at its end."""
    return f"{time.time_ns() // 1000:013x}{random.getrandbits(76):019x}"


_ARRAY = re.compile(rb'"(items|users)":\[')
_IDS = {b"item_id": re.compile(rb'"item_id":(?:"((?:[^"\\]|\\.)*)"|(-?\d+))'),
        b"user_id": re.compile(rb'"user_id":(?:"((?:[^"\\]|\\.)*)"|(-?\d+))')}


def shown_ids(body: bytes, field: str = "item_id") -> list[str]:
    """The ids of a list body written by the service (the ``field`` of each entry of its
    ``items`` or ``users`` array), without decoding the whole JSON: ids are JSON strings
    or integers, and the entries' other text fields are escaped JSON strings, so the
    pattern ``"field":`` occurs only where an entry's id starts."""
    start = _ARRAY.search(body)
    if start is None:
        return []
    out = []
    for text, number in _IDS[field.encode()].findall(body, start.end()):
        if number:
            out.append(number.decode())
        elif b"\\" in text:
            out.append(json.loads(b'"' + text + b'"'))
        else:
            out.append(text.decode())
    return out


def stamp(body: bytes, rec_id: str, experiment: str | None = None,
          variant: str | None = None) -> bytes:
    """A list's JSON body with ``rec_id``, ``experiment`` and ``variant`` first (the body is
    a JSON object written by the service; no re-encoding)."""
    head = b'{"rec_id":"%s","experiment":%s,"variant":%s' % (
        rec_id.encode(), _json_text(experiment), _json_text(variant))
    return head + (b"}" if body == b"{}" else b"," + body[1:])


def _json_text(value: str | None) -> bytes:
    return b"null" if value is None else json.dumps(value).encode()


@dataclass(slots=True)
class ListRow:
    """One served list, to record. ``body`` is its JSON (the ids are read from it on the
    writer thread, off the request's path); ``key`` names the ids' array and field."""

    rec_id: str
    created_at: float
    kind: str
    user_id: str | None
    subject: str | None
    model: str
    model_version: int
    experiment: str | None
    variant: str | None
    placement: str | None
    body: bytes
    key: tuple[str, str] = ("items", "item_id")

    def values(self) -> tuple[Any, ...]:
        ids = SEP + SEP.join(shown_ids(self.body, self.key[1])) + SEP
        return (self.rec_id, self.created_at, self.kind, self.user_id, self.subject,
                self.model, self.model_version, self.experiment, self.variant, self.placement,
                ids)


class ListRecorder:
    """Records served lists in batches (see the module docstring).

    Parameters
    ----------
    path
        The state store's database (``events.sqlite3``).
    max_batch
        Most lists in one transaction.
    busy_timeout_s
        How long a write waits for another process's transaction.
    """

    def __init__(self, path: str | Path, *, max_batch: int = 2048,
                 busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.max_batch = int(max_batch)
        self.recorded = 0
        self.unrecorded = 0
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=busy_timeout_s)
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit is in the write-ahead log (the operating system's) when it
        # returns, so it survives a kill -9 of the server; only a power cut may lose the
        # newest lists (whose clicks would then count as unattributed). Saves an fsync per
        # batch on every list served.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        # the event loop's own connection: never waits for a lock (busy_timeout 0) and never
        # checkpoints (the maintenance thread does), so a commit on it is a bounded append
        self._inline = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False, timeout=0)
        self._inline.execute("PRAGMA busy_timeout=0")
        self._inline.execute("PRAGMA synchronous=NORMAL")
        self._inline.execute("PRAGMA wal_autocheckpoint=0")
        self._inline_lock = threading.Lock()
        self._tick: dict[Any, list[tuple[ListRow, Any]]] = {}
        Waiter = tuple[ListRow, Any, Any]  # (row, future or threading.Event, loop or None)
        self._queue: list[Waiter] = []
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="list-recorder", daemon=True)
        self._thread.start()

    async def record(self, row: ListRow) -> bool:
        """Queue ``row`` and wait until it is committed; ``False`` when it could not be
        stored.

        The lists queued during one turn of the event loop are committed together at its
        end, on the loop, when the database is free (an append to the write-ahead log, no
        fsync); when another connection holds the write lock they go to the writer thread,
        which waits for it, so the loop never waits.
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        pending = self._tick.get(loop)
        if pending is None:
            pending = self._tick[loop] = []
            loop.call_soon(self._flush_tick, loop)
        pending.append((row, fut))
        return bool(await fut)

    def _flush_tick(self, loop: Any) -> None:
        batch = self._tick.pop(loop, [])
        if not batch:
            return
        if not self._inline_lock.acquire(blocking=False):
            ok = None  # another loop commits on it now (tests run several): the thread
        else:
            try:
                ok = self._commit(self._inline, [r for r, _ in batch], inline=True)
            finally:
                self._inline_lock.release()
        if ok is None:  # locked by another connection, or a transient error: the thread
            for row, fut in batch:
                self._put((row, fut, loop))
            return
        for _, fut in batch:
            if not fut.done():
                fut.set_result(ok)

    def record_sync(self, row: ListRow, timeout: float = 30.0) -> bool:
        """:meth:`record` for a thread that is not an event loop's."""
        done = threading.Event()
        box: list[bool] = []
        self._put((row, (done, box), None))
        done.wait(timeout)
        return bool(box and box[0])

    async def serve(self, body: bytes, *, kind: str, snap: Any, user_id: str | None = None,
                    subject: str | None = None, experiment: str | None = None,
                    variant: str | None = None, placement: str | None = None,
                    key: tuple[str, str] = ("items", "item_id")) -> bytes:
        """Give a list body its ``rec_id`` (and experiment, variant), record it, and return
        the body to send once the record is committed."""
        rec_id = new_rec_id()
        await self.record(ListRow(rec_id, time.time(), kind, user_id, subject,
                                  snap.model_name, int(snap.version), experiment, variant,
                                  placement, body, key))
        return stamp(body, rec_id, experiment, variant)

    def _put(self, waiter: tuple[ListRow, Any, Any]) -> None:
        with self._cv:
            if self._closed:
                raise RuntimeError("the list recorder is closed")
            self._queue.append(waiter)
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                batch = self._queue[:self.max_batch]
                del self._queue[:self.max_batch]
            ok = self._commit(self._conn, [w[0] for w in batch]) is True
            self._wake(batch, ok)

    def _commit(self, conn: sqlite3.Connection, rows: list[ListRow],
                inline: bool = False) -> bool | None:
        """Insert ``rows`` in one transaction: ``True`` when committed, ``False`` when they
        cannot be stored, ``None`` (``inline`` only) when the database is busy."""
        try:
            values = [r.values() for r in rows]
        except (ValueError, KeyError, TypeError) as exc:  # pragma: no cover - our own bodies
            log.error("cannot read the ids of a served list: %s", exc)
            self.unrecorded += len(rows)
            return False
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            cur.executemany("INSERT INTO lists (rec_id, created_at, kind, user_id, subject, "
                            "model, model_version, experiment, variant, placement, items) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            cur.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            try:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover
                pass
            if inline:
                return None  # busy (or failing): the writer thread waits and retries once
            log.warning("%d served lists were not recorded: %s", len(rows), exc)
            self.unrecorded += len(rows)
            return False
        self.recorded += len(rows)
        return True

    @staticmethod
    def _wake(batch: list[tuple[ListRow, Any, Any]], ok: bool) -> None:
        by_loop: dict[Any, list[Any]] = defaultdict(list)
        for _, waiter, loop in batch:
            if loop is None:
                done, box = waiter
                box.append(ok)
                done.set()
            else:
                by_loop[loop].append(waiter)

        def resolve(futures: list[Any]) -> None:
            for f in futures:
                if not f.done():
                    f.set_result(ok)

        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(resolve, futures)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def close(self) -> None:
        """Write what is queued, stop the thread, close the connection."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(30)
        self._conn.close()
        with self._inline_lock:
            self._inline.close()


@dataclass
class Counts:
    """The counters of one (model, model version, experiment, variant, placement)."""

    lists: int = 0
    impressions: int = 0
    clicks: int = 0
    clicked_lists: int = 0
    add_to_carts: int = 0
    purchases: int = 0
    revenue: float = 0.0


@dataclass
class UserTotals:
    """One user's attributed totals in one experiment variant."""

    lists: int = 0
    impressions: int = 0
    clicks: int = 0
    clicked_lists: int = 0
    carts: int = 0
    purchases: int = 0
    revenue: float = 0.0


Key = tuple[str, int, str | None, str | None, str | None]


@dataclass
class _State:
    list_upto: int = 0
    event_upto: int = 0
    counts: dict[Key, Counts] = field(default_factory=lambda: defaultdict(Counts))
    users: dict[tuple[str, str], dict[str, UserTotals]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(UserTotals)))
    clicked: set[str] = field(default_factory=set)
    unattributed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Attribution:
    """The attribution counters, derived from the ``lists`` and ``events`` tables (see the
    module docstring); :meth:`update` reads what is new since its last call.

    Parameters
    ----------
    path
        The state store's database.
    window_s
        The purchase window: a purchase without ``rec_id`` counts for the newest list of
        the same user that showed the item within this many seconds before it.
    """

    def __init__(self, path: str | Path, window_s: float = 86_400.0) -> None:
        self.path = Path(path)
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._s = _State()
        self._conn: sqlite3.Connection | None = None

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False, timeout=10.0)
            self._conn.execute("PRAGMA query_only=1")
        return self._conn

    def update(self) -> None:
        """Read the lists and events stored since the last call (one read transaction)."""
        with self._lock:
            conn = self._reader()
            conn.execute("BEGIN")
            try:
                self._read_lists(conn)
                self._read_events(conn)
            finally:
                conn.execute("COMMIT")

    def _read_lists(self, conn: sqlite3.Connection) -> None:
        s = self._s
        rows = conn.execute("SELECT id, model, model_version, experiment, variant, placement, "
                            "user_id FROM lists WHERE id > ? ORDER BY id",
                            (s.list_upto,)).fetchall()
        for lid, model, version, exp, var, placement, user in rows:
            s.counts[(model, int(version), exp, var, placement)].lists += 1
            if exp is not None and var is not None and user is not None:
                s.users[(exp, var)][user].lists += 1
            s.list_upto = int(lid)

    def _read_events(self, conn: sqlite3.Connection) -> None:
        s = self._s
        rows = conn.execute(
            "SELECT id, user_id, item_id, event, timestamp, rec_id, value FROM events "
            "WHERE id > ? AND (rec_id IS NOT NULL OR event = 'purchase') ORDER BY id",
            (s.event_upto,)).fetchall()
        for eid, user, item, event, ts, rec_id, value in rows:
            s.event_upto = int(eid)
            name = EVENT_COUNTERS.get(event or "")
            if rec_id is not None:
                found = conn.execute(
                    "SELECT rec_id, model, model_version, experiment, variant, placement, "
                    "user_id FROM lists WHERE rec_id = ? AND instr(items, ?) > 0",
                    (rec_id, f"{SEP}{item}{SEP}")).fetchone()
            elif event == "purchase":
                found = conn.execute(
                    "SELECT rec_id, model, model_version, experiment, variant, placement, "
                    "user_id FROM lists WHERE user_id = ? AND created_at BETWEEN ? AND ? "
                    "AND instr(items, ?) > 0 ORDER BY created_at DESC, id DESC LIMIT 1",
                    (user, float(ts) - self.window_s, float(ts), f"{SEP}{item}{SEP}")
                ).fetchone()
            else:  # pragma: no cover - filtered by the query
                continue
            if found is None or name is None:
                if rec_id is not None:
                    s.unattributed[event or "none"] += 1
                continue
            list_id, model, version, exp, var, placement, list_user = found
            c = s.counts[(model, int(version), exp, var, placement)]
            setattr(c, name, getattr(c, name) + 1)
            first_click = name == "clicks" and list_id not in s.clicked
            if first_click:
                s.clicked.add(list_id)
                c.clicked_lists += 1
            if name == "purchases":
                c.revenue += float(value or 0.0)
            if exp is None or var is None:
                continue
            t = s.users[(exp, var)][list_user if list_user is not None else user]
            if name == "add_to_carts":
                t.carts += 1
            else:
                setattr(t, name, getattr(t, name) + 1)
            t.clicked_lists += int(first_click)
            if name == "purchases":
                t.revenue += float(value or 0.0)

    def rows(self) -> list[dict[str, Any]]:
        """The counters per (model, model version, experiment, variant, placement), updated."""
        self.update()
        with self._lock:
            items = sorted(self._s.counts.items(), key=lambda kv: tuple(
                "" if x is None else str(x) for x in kv[0]))
            return [{"model": k[0], "model_version": k[1], "experiment": k[2],
                     "variant": k[3], "placement": k[4], "lists": c.lists,
                     "impressions": c.impressions, "clicks": c.clicks,
                     "clicked_lists": c.clicked_lists, "add_to_carts": c.add_to_carts,
                     "purchases": c.purchases, "revenue": round(c.revenue, 6)}
                    for k, c in items]

    def unattributed(self) -> dict[str, int]:
        """Events with a ``rec_id`` that matched no list (or not its items), by type."""
        with self._lock:
            return dict(self._s.unattributed)

    def users(self, experiment: str) -> dict[str, dict[str, UserTotals]]:
        """Per variant of ``experiment``, its users' totals (a copy), updated."""
        self.update()
        with self._lock:
            return {var: {u: UserTotals(**vars(t)) for u, t in us.items()}
                    for (exp, var), us in self._s.users.items() if exp == experiment}

    def close(self) -> None:
        """Close the reader."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
