"""Business rules as the service applies them: placements, the attribute table, plans.

A list request may carry rules (``?rules=<JSON or expression>``) and name a placement
(``?placement=home``). A placement's rules come from the state store when an operator saved
them (the console's placements page, ``PUT /v1/placements/{name}``), else from the settings
file (``[placements.<name>]``). The request's rules are *added* to the placement's
(:func:`synerec.rules.combine`): every filter of both holds, every boost of both applies,
both sets of caps hold, the longer purchase window counts.

Per process, :class:`RulesServing` keeps

* the :class:`~synerec.rules.AttributeTable` of the served model's items and the
  catalogue's products (rebuilt when the model or the catalogue changes: positions
  ``0..n_items-1`` are the model's item indices, the catalogue's other products follow),
  with the model's own catalogue columns (``category``, ...) overridden by the service
  catalogue's (``category`` and every shop field: ``in_stock``, ``price``, ``brand``, ...);
* the compiled plans (a mask per filter over the table), per rule text and table version;
* the placements (their version read at most every 10 ms, like the catalogue's).

Tables in the state store (``events.sqlite3``)::

    placements  name TEXT PRIMARY KEY, rules TEXT (JSON), seq INTEGER, updated_at REAL

and a partial index ``events_purchases`` on the events' ``(user_id, timestamp)`` for
``purchase`` events (``exclude_bought_days``: the user's purchases posted to the service in
the last N days; purchases in the training data are left out by ``exclude_seen`` already).
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synerec.rules import (
    AttributeTable,
    Plan,
    Rules,
    RulesError,
    Selection,
    combine,
    compile_rules,
    parse_rules,
    rules_key,
    select,
)
from synerec.service._readers import ThreadReaders, immediate
from synerec.service.catalogue import CatalogueItem, CatalogueStore
from synerec.service.model_store import ModelSnapshot
from synerec.service.settings import check_placement_name

__all__ = ["ListRules", "PlacementStore", "RulesServing", "check_placement_name", "raw_scores",
           "select_list"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS placements (
    name TEXT PRIMARY KEY,
    rules TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
"""
_PURCHASE_INDEX = ("CREATE INDEX IF NOT EXISTS events_purchases ON events (user_id, timestamp) "
                   "WHERE event = 'purchase'")
_DAY_S = 86_400.0


@dataclass(frozen=True)
class ListRules:
    """The rules of one list request, ready to apply.

    Attributes
    ----------
    plan
        The compiled rules (filters as one mask, boosts as factors and additions, caps).
    table
        The attribute table the plan was compiled against (item id -> position).
    placement
        The placement named by the request, if any.
    exclude
        Table positions of the items the user bought within ``exclude_bought_days``.
    bound
        The most candidates examined (``max_rule_candidates``, at most every item).
    key
        What makes the answer differ (a response-cache key part).
    """

    plan: Plan
    table: AttributeTable
    placement: str | None
    exclude: tuple[int, ...]
    bound: int
    key: str

    def start(self, n: int) -> int:
        """Candidates examined first: ``max(3 n, 100)`` (within :attr:`bound`; 100: the
        precomputed lists' default length, so that a first look costs a slice)."""
        return min(self.bound, max(3 * n, 100))

    def positions(self, ids: list[Any]) -> np.ndarray:
        """Table positions of item ids (``-1``: an item without attributes)."""
        return self.table.positions(ids)


class PlacementStore:
    """The placements an operator saved (the ``placements`` table; see the module doc)."""

    VERSION_TTL_S = 0.01

    def __init__(self, path: Path, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._readers = ThreadReaders(self._connect, "placement store")
        self._conn = self._connect()
        self._conn.execute("PRAGMA synchronous=FULL")  # a saved placement is durable
        self._conn.executescript(_SCHEMA)
        try:
            self._conn.execute(_PURCHASE_INDEX)
        except sqlite3.OperationalError as exc:  # no events table yet: the event store's
            log.warning("purchase index not created: %s", exc)
        self._version = -1
        self._version_at = -1.0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        return conn

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (:class:`ThreadReaders`)."""
        return self._readers.get()

    def version(self) -> int:
        """The newest change number (read at most every :attr:`VERSION_TTL_S`)."""
        now = time.monotonic()
        if now - self._version_at >= self.VERSION_TTL_S:
            row = self.reader().execute("SELECT COALESCE(MAX(seq), 0) FROM placements"
                                        ).fetchone()
            self._version, self._version_at = int(row[0]), now
        return self._version

    def saved(self) -> dict[str, tuple[Any, float]]:
        """``name -> (rules JSON, updated_at)`` of every saved placement."""
        rows = self.reader().execute("SELECT name, rules, updated_at FROM placements").fetchall()
        return {str(r[0]): (json.loads(r[1]), float(r[2])) for r in rows}

    def put(self, name: str, rules: Any) -> int:
        """Save a placement's rules (durable when it returns); returns the new version."""
        return self._write("INSERT OR REPLACE INTO placements (name, rules, seq, updated_at) "
                           "VALUES (?, ?, ?, ?)", (name, json.dumps(rules)))

    def delete(self, name: str) -> int:
        """Forget a saved placement (its settings default applies again)."""
        return self._write("DELETE FROM placements WHERE name = ?", (name,))

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        with immediate(self._conn, self._lock) as cur:
            seq = int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM placements"
                                  ).fetchone()[0]) + 1
            if sql.startswith("INSERT"):
                cur.execute(sql, (*args, seq, time.time()))
            else:
                cur.execute(sql, args)
                # a deletion is a change too: a marker row keeps the version increasing
                cur.execute("INSERT OR REPLACE INTO placements (name, rules, seq, "
                            "updated_at) VALUES ('', 'null', ?, ?)", (seq, time.time()))
        self._version_at = -1.0
        return seq

    def bought(self, user_id: str, since: float) -> list[str]:
        """Items of the user's purchase events with a timestamp ``>= since``."""
        rows = self.reader().execute(
            "SELECT DISTINCT item_id FROM events WHERE user_id = ? AND event = 'purchase' "
            "AND timestamp >= ?", (user_id, float(since))).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        self._readers.close()
        with self._lock:
            self._conn.close()


class RulesServing:
    """Placements, the attribute table and compiled plans of one server process.

    Parameters
    ----------
    defaults
        The placements of the settings file (name -> rules JSON, validated).
    store
        The saved placements.
    catalogue
        The service's catalogue.
    max_candidates
        The most candidates a list's rules examine (the widening's bound).
    """

    def __init__(self, defaults: dict[str, Any], store: PlacementStore,
                 catalogue: CatalogueStore, max_candidates: int, base: Any = None) -> None:
        self.defaults = dict(defaults)
        self.base = parse_rules(base if base is not None else {})
        self.base_key = rules_key(base if base is not None else {})
        self.store = store
        self.catalogue = catalogue
        self.max_candidates = int(max_candidates)
        self._lock = threading.Lock()
        self._build = threading.Lock()
        self._table: tuple[Hashable, AttributeTable] | None = None
        self._base: tuple[ModelSnapshot, list[Any], dict[str, list[Any]]] | None = None
        self._items: dict[str, CatalogueItem] = {}
        self._seq = 0
        self._parsed: OrderedDict[str, Rules] = OrderedDict()
        self._plans: OrderedDict[tuple[Any, ...], tuple[Plan, bool]] = OrderedDict()
        self._placements: tuple[int, dict[str, tuple[Rules, str]]] | None = None

    # -- placements ---------------------------------------------------------------------------
    def placements(self) -> dict[str, dict[str, Any]]:
        """Every placement: ``name -> {"rules": JSON, "source": "settings" | "saved",
        "default": the settings' JSON or None, "updated_at"}``."""
        saved = self.store.saved()
        out: dict[str, dict[str, Any]] = {}
        for name in sorted(set(self.defaults) | set(saved)):
            if not name:
                continue
            if name in saved:
                out[name] = {"rules": saved[name][0], "source": "saved",
                             "default": self.defaults.get(name), "updated_at": saved[name][1]}
            else:
                out[name] = {"rules": self.defaults[name], "source": "settings",
                             "default": self.defaults[name], "updated_at": None}
        return out

    def _placement_rules(self, name: str) -> tuple[Rules, str]:
        version = self.store.version()
        got = self._placements
        if got is None or got[0] != version:
            parsed: dict[str, tuple[Rules, str]] = {}
            for k, p in self.placements().items():
                try:
                    parsed[k] = (parse_rules(p["rules"]), rules_key(p["rules"]))
                except RulesError as exc:  # saved by an older version: said, not served
                    log.warning("placement %s: %s", k, exc)
            got = (version, parsed)
            self._placements = got
        if name not in got[1]:
            known = ", ".join(sorted(got[1])) or "none configured"
            raise RulesError(f"unknown placement {name!r} (placements: {known})")
        return got[1][name]

    def save(self, name: str, rules: Any) -> dict[str, Any]:
        """Validate and save a placement's rules (durable when it returns)."""
        check_placement_name(name)
        parse_rules(rules)
        self.store.put(name, rules)
        return self.placements()[name]

    def reset(self, name: str) -> None:
        """Forget a placement's saved rules (the settings' apply again)."""
        check_placement_name(name)
        self.store.delete(name)

    # -- one request --------------------------------------------------------------------------
    def parse(self, text: str) -> Rules:
        """A request's rules (a cache of the texts seen)."""
        got = self._parsed.get(text)
        if got is None:
            got = parse_rules(text)
            with self._lock:
                self._parsed[text] = got
                while len(self._parsed) > 1024:
                    self._parsed.popitem(last=False)
        return got

    def request(self, snap: ModelSnapshot, catalogue_version: int, placement: str | None,
                rules: str | None, user_id: str | None = None,
                new_ids: tuple[str, ...] = (), variant: Any = None) -> ListRules | None:
        """The rules of one list request (the base rules, the placement's, the experiment
        variant's, the request's), or ``None`` when nothing would change the list (no
        placement, variant or request rules, and base rules that leave every item in).

        Raises
        ------
        RulesError
            Invalid rules or an unknown placement (one line).
        """
        parts: list[Rules] = [self.base]
        key = [self.base_key]
        if placement is not None:
            r, k = self._placement_rules(placement)
            parts.append(r)
            key.append(f"{placement}={k}")
        if variant:
            text = json.dumps(variant, sort_keys=True)
            parts.append(self.parse(text))
            key.append(f"variant={text}")
        if rules:
            parts.append(self.parse(rules))
            key.append(rules)
        if len(parts) == 1 and self.base.empty:
            return None
        table = self.table(snap, catalogue_version)
        plan_key = (tuple(key), table.version)
        got = self._plans.get(plan_key)
        if got is None:
            combined = parts[0] if len(parts) == 1 else combine(*parts)
            plan = compile_rules(combined, table)
            # rules that change no list (the base rules while every item is in stock)
            idle = bool(plan.passes.all() and not plan.caps and not combined.boosts
                        and not combined.exclude_bought_days)
            got = (plan, idle)
            with self._lock:
                self._plans[plan_key] = got
                while len(self._plans) > 256:
                    self._plans.popitem(last=False)
        plan, idle = got
        if idle and len(parts) == 1:
            return None
        combined = plan.rules
        exclude: tuple[int, ...] = ()
        text_key = "&".join(key)
        if combined.exclude_bought_days and user_id is not None:
            since = time.time() - combined.exclude_bought_days * _DAY_S
            bought = self.store.bought(user_id, since)
            model_pos = self._model_positions(snap, bought).tolist()
            exclude = tuple(a if a >= 0 else b for a, b in zip(
                model_pos, table.positions(bought).tolist(), strict=True) if max(a, b) >= 0)
            text_key += f"&bought={math.floor(time.time() / 60)}"  # fresh each minute
        bound = min(self.max_candidates, table.n)
        return ListRules(plan, table, placement, exclude, max(1, bound), text_key)

    # -- the attribute table ------------------------------------------------------------------
    def table(self, snap: ModelSnapshot, catalogue_version: int) -> AttributeTable:
        """The attribute table for ``snap`` and the catalogue (rebuilt when either changed)."""
        key = (snap.version, id(snap), catalogue_version)
        got = self._table
        if got is not None and got[0] == key:
            return got[1]
        with self._build:
            got = self._table
            if got is not None and got[0] == key:
                return got[1]
            table = self._build_table(snap, key)
            self._table = (key, table)
            return table

    def _build_table(self, snap: ModelSnapshot, key: Hashable) -> AttributeTable:
        for it in self.catalogue.items(after_seq=self._seq):
            self._items[it.item_id] = it
            self._seq = max(self._seq, it.seq)
        base = self._base
        if base is None or base[0] is not snap:
            catalogue = snap.model.catalogue_ or {}
            ids = snap.item_ids.tolist()
            cols = {c: [v or None for v in np.asarray(vals).tolist()]
                    for c, vals in catalogue.items() if c != "title"}
            base = (snap, ids, cols)
            self._base = base
        _, ids, cols = base
        keys = list(ids)
        columns = {c: list(v) for c, v in cols.items()}
        n = len(keys)
        items = list(self._items.values())
        pos = self._model_positions(snap, [it.item_id for it in items])
        for it, p in zip(items, pos.tolist(), strict=True):
            if p < 0:
                p = n
                n += 1
                keys.append(it.item_id)
                for v in columns.values():
                    v.append(None)
            # the catalogue's category when it has one, else the model's
            values = {**it.fields, **({"category": it.category} if it.category else {})}
            for name, v in values.items():
                col = columns.get(name)
                if col is None:
                    col = columns[name] = [None] * n
                col[p] = v
        for v in columns.values():  # shop fields first seen on later products
            v.extend([None] * (n - len(v)))
        return AttributeTable(keys, columns, version=key)

    @staticmethod
    def _model_positions(snap: ModelSnapshot, ids: list[str]) -> np.ndarray:
        """The model's index of each catalogue id (``-1``: not one of its items)."""
        return snap.model.items_.indices(ids, missing="negative") \
            if ids else np.zeros(0, dtype=np.int64)

    def close(self) -> None:
        self.store.close()


def raw_scores(scores: list[float | None]) -> np.ndarray:
    """A list's scores for the rules (``-inf``: an item without a score)."""
    return np.fromiter((-np.inf if v is None else v for v in scores), dtype=np.float64,
                       count=len(scores))


def select_list(rules: ListRules, n: int, size: int,
                ranked: Callable[[int], tuple[list[Any], list[float | None], Any]],
                sliced: Callable[[int], tuple[np.ndarray, np.ndarray] | None] | None = None,
                width: int = 0) -> Selection:
    """:func:`synerec.rules.select` over a strategy's ranked list (``ranked(m)``: its best
    ``m`` item ids, scores and the result they came in), or over a slice of precomputed
    item indices and scores (``sliced(m)``, when it gives one: then the payload is
    ``None``; ``width``: the slice's length, where the first look stops when it holds at
    least ``n``); at most ``size`` candidates exist."""
    start = rules.start(n)
    if sliced is not None and n <= width < start:
        start = width
    def window(m: int) -> tuple[np.ndarray, np.ndarray, Any]:
        got = sliced(m) if sliced is not None else None
        if got is not None:
            return got[0], got[1], None
        items, scores, payload = ranked(m)
        return rules.positions(items), raw_scores(scores), payload

    return select(window, n, rules.plan, start=start, bound=min(rules.bound, size),
                  exclude=rules.exclude)
