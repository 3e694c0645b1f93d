"""A/B tests between served models: configuration, bucketing, the variants' models, results.

An experiment splits the users of ``GET /v1/users/{u}/recommendations`` between variants;
each variant is a saved model directory (``model_dir``) or the served model (no
``model_dir``), optionally with business rules (``rules``: a rule set of
:mod:`synerec.rules.spec`, checked here and applied to the variant's lists by the service's
rules, :meth:`~synerec.service.rules_serving.RulesServing.request`).

Bucketing
---------
A user's bucket in experiment ``e`` is

.. math::  b(e, u) = \\mathrm{int}(\\mathrm{sha256}(e \\,\\|\\, \\mathtt{0x1f} \\,\\|\\, u)
           _{[0:8]}) / 2^{64} \\in [0, 1)

(the first 8 bytes of the digest as a big-endian integer). With the variants' shares
:math:`s_1, \\dots, s_K` (in the order listed, :math:`\\sum s_k \\le 1`), variant :math:`k`
serves the users with :math:`\\sum_{j<k} s_j \\le b < \\sum_{j \\le k} s_j`; users with
:math:`b \\ge \\sum s_k` are outside the experiment (served as without it, ``variant`` null).
The bucket depends on the experiment's name and the user id only: the same user gets the same
variant on every request, in every worker process and after a restart, and the buckets of two
experiments are independent.

When several experiments are active, a request is served by the first one (in the order
configured, then posted) whose ``placements`` match the request's ``placement`` (an empty
list matches every request) and that holds the user.

Results
-------
Per variant, from the attribution counters (:mod:`synerec.service.attribution`): ``users``
(distinct users served at least one list of the variant), ``lists`` (impressions of lists),
``ctr`` (share of lists with at least one attributed click), ``conversion`` (share of users
with at least one attributed purchase) and ``revenue_per_user`` (attributed revenue over
users). Rates carry Wilson 95 % intervals [1]_, their differences to the control Newcombe's
hybrid score interval [2]_ (method 10); revenue per user and its difference carry percentile
bootstrap intervals over users (2,000 resamples, a fixed seed). The lists of one user are not
independent: the CTR interval treats them as if they were, and is too narrow when users'
click rates vary a lot.

References
----------
.. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical inference",
   JASA 22 (1927) 209-212.
.. [2] R. G. Newcombe, "Interval estimation for the difference between independent
   proportions: comparison of eleven methods", Statistics in Medicine 17 (1998) 873-890.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from synerec.exceptions import ConfigError, ModelFileError

if TYPE_CHECKING:
    import numpy as np

    from synerec.service.attribution import UserTotals
    from synerec.service.model_store import ModelSnapshot, ModelStore

__all__ = ["Arm", "ExperimentConfig", "Experiments", "VariantConfig", "bucket",
           "experiment_results", "newcombe_interval", "results_csv", "stored_experiments",
           "wilson_interval"]

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_EXPERIMENTS_TABLE = """
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created_at REAL NOT NULL,
    stopped_at REAL
);
"""
Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000


class VariantConfig(BaseModel):
    """One variant of an experiment.

    Attributes
    ----------
    name
        Shown in each list's ``variant`` (letters, digits, ``_.-``; at most 64).
    share
        Fraction of the users it serves (``0 < share <= 1``).
    model_dir
        A saved model directory; ``None``: the served model (retrained versions included).
    rules
        Business rules of this variant as a JSON object (:mod:`synerec.rules.spec`), checked
        here and applied to each of its lists with the base, placement and request rules
        (:meth:`synerec.service.rules_serving.RulesServing.request`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    share: float = Field(gt=0, le=1)
    model_dir: Path | None = None
    rules: dict[str, Any] | None = None

    @pydantic.field_validator("rules")
    @classmethod
    def _valid_rules(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            from synerec.rules.spec import parse_rules

            parse_rules(v, where="rules")  # one line naming the bad part
        return v


class ExperimentConfig(BaseModel):
    """An A/B test: its variants, their traffic shares, its time window and placements.

    Attributes
    ----------
    name
        The experiment's name (part of each user's bucket).
    variants
        Two or more variants, shares summing to at most 1.
    control
        The variant the others are compared with (default: the first).
    start, stop
        When it serves (ISO 8601 or a TOML date-time; naive times are UTC); ``None``: from
        now, until stopped.
    placements
        The placements (the request's ``placement=``) it serves; empty: every request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    variants: tuple[VariantConfig, ...] = Field(min_length=2, max_length=16)
    control: str | None = None
    start: datetime | None = None
    stop: datetime | None = None
    placements: tuple[str, ...] = ()

    @pydantic.field_validator("start", "stop")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        return v

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"variant name {dup!r} appears more than once")
        total = sum(v.share for v in self.variants)
        if total > 1 + 1e-9:
            raise ValueError(f"the variants' shares sum to {total:g}, more than 1")
        if self.control is not None and self.control not in names:
            raise ValueError(f"control {self.control!r} is not a variant (variants: "
                             f"{', '.join(names)})")
        if self.start is not None and self.stop is not None and self.stop <= self.start:
            raise ValueError("stop must be after start")
        return self

    @property
    def control_name(self) -> str:
        """The control variant's name."""
        return self.control or self.variants[0].name

    def active(self, now: float) -> bool:
        """Whether it serves at unix time ``now``."""
        if self.start is not None and now < self.start.timestamp():
            return False
        return self.stop is None or now < self.stop.timestamp()

    def variant_of(self, user_id: str) -> VariantConfig | None:
        """The variant that serves ``user_id`` (``None``: the user is outside it)."""
        b = bucket(self.name, user_id)
        edge = 0.0
        for v in self.variants:
            edge += v.share
            if b < edge:
                return v
        return None


def bucket(experiment: str, user_id: str) -> float:
    """The user's bucket in ``[0, 1)`` (see the module docstring)."""
    digest = hashlib.sha256(f"{experiment}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Arm:
    """What serves one request inside an experiment."""

    experiment: str
    variant: str
    snapshot: ModelSnapshot
    rules: dict[str, Any] | None


class Experiments:
    """The experiments of a server: from the settings and posted ones (kept in SQLite).

    Parameters
    ----------
    configured
        The experiments of the service settings (``[[experiments]]`` tables).
    db_path
        The state store (``events.sqlite3``): posted experiments live in its ``experiments``
        table, so every worker process and a restarted server serve them.
    store
        The model store; the variants' model directories are loaded through it (once each).
    """

    def __init__(self, configured: Sequence[ExperimentConfig], db_path: str | Path,
                 store: ModelStore) -> None:
        self.store = store
        self.configured = tuple(configured)
        names = [c.name for c in self.configured]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ConfigError(f"invalid service settings: experiment {dup!r} is configured "
                              "more than once")
        self._path = Path(db_path)
        self._lock = threading.Lock()
        conn = self._connect()
        try:
            conn.executescript(_EXPERIMENTS_TABLE)
        finally:
            conn.close()
        self._posted: dict[str, tuple[ExperimentConfig, float, float | None]] = {}
        self._order: tuple[ExperimentConfig, ...] = ()
        self._stopped: dict[str, float] = {}
        self._failed: set[Path] = set()  # variants' models that did not load (logged once)
        self.refresh()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    # -- reading ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the posted experiments again and load new variants' models (the maintenance
        thread calls it every ``reload_interval_s``)."""
        conn = self._connect()
        try:
            rows = conn.execute("SELECT name, config, created_at, stopped_at FROM experiments "
                                "ORDER BY created_at, name").fetchall()
        finally:
            conn.close()
        posted = {}
        for name, text, created, stopped in rows:
            try:
                cfg = ExperimentConfig.model_validate(json.loads(text))
            except (ValueError, pydantic.ValidationError) as exc:
                log.error("stored experiment %r is invalid, not served: %s", name, exc)
                continue
            posted[name] = (cfg, float(created), None if stopped is None else float(stopped))
        for cfg in self.configured + tuple(c for c, _, _ in posted.values()):
            for v in cfg.variants:
                if v.model_dir is not None and v.model_dir not in self._failed:
                    try:
                        self.store.variant(v.model_dir)
                    except (ModelFileError, OSError, ValueError) as exc:
                        self._failed.add(v.model_dir)
                        log.error("experiment %s: variant %s cannot load %s (its customers "
                                  "get the served model): %s", cfg.name, v.name, v.model_dir,
                                  exc)
        with self._lock:
            self._posted = posted
            self._stopped = {n: s for n, (_, _, s) in posted.items() if s is not None}
            configured = {c.name for c in self.configured}
            self._order = self.configured + tuple(
                c for n, (c, _, _) in posted.items() if n not in configured)

    def all(self) -> tuple[ExperimentConfig, ...]:
        """Every experiment, configured first, then posted."""
        return self._order

    def get(self, name: str) -> ExperimentConfig | None:
        """The experiment called ``name``."""
        return next((c for c in self._order if c.name == name), None)

    def stopped_at(self, name: str) -> float | None:
        """When a posted experiment was stopped through the API (``None``: not)."""
        return self._stopped.get(name)

    def status(self, cfg: ExperimentConfig, now: float | None = None) -> str:
        """``running``, ``scheduled`` (before its start) or ``stopped``."""
        now = time.time() if now is None else now
        if cfg.name in self._stopped:
            return "stopped"
        if cfg.start is not None and now < cfg.start.timestamp():
            return "scheduled"
        return "running" if cfg.active(now) else "stopped"

    def pick(self, user_id: str, placement: str | None = None,
             now: float | None = None) -> Arm | None:
        """The experiment and variant that serve this request (``None``: none does)."""
        order = self._order
        if not order:
            return None
        now = time.time() if now is None else now
        for cfg in order:
            if cfg.name in self._stopped or not cfg.active(now):
                continue
            if cfg.placements and placement not in cfg.placements:
                continue
            v = cfg.variant_of(user_id)
            if v is None:
                continue
            if v.model_dir is None:
                snap = self.store.current
            else:
                got = self.store.loaded_variant(v.model_dir)
                if got is None:
                    return None  # its model failed to load: serve as without the experiment
                snap = got
            return Arm(cfg.name, v.name, snap, v.rules)
        return None

    # -- writing ------------------------------------------------------------------------------
    def add(self, cfg: ExperimentConfig) -> None:
        """Store a posted experiment (its variants' models are loaded first).

        Raises
        ------
        ConfigError
            The name is taken, or a variant's model directory cannot be loaded (one line).
        """
        if any(c.name == cfg.name for c in self.configured) or self.get(cfg.name):
            raise ConfigError(f"an experiment called {cfg.name!r} exists already")
        for v in cfg.variants:
            if v.model_dir is not None:
                try:
                    self.store.variant(v.model_dir)
                except (ModelFileError, OSError, ValueError) as exc:
                    raise ConfigError(f"variant {v.name!r}: cannot load model_dir "
                                      f"{str(v.model_dir)!r}: {exc}") from None
        conn = self._connect()
        try:
            conn.execute("INSERT INTO experiments (name, config, created_at) VALUES (?, ?, ?)",
                         (cfg.name, cfg.model_dump_json(), time.time()))
        except sqlite3.IntegrityError:
            raise ConfigError(f"an experiment called {cfg.name!r} exists already") from None
        finally:
            conn.close()
        self.refresh()

    def stop(self, name: str) -> bool:
        """Stop a posted experiment now; ``False`` when no posted experiment has that name
        (a configured one stops at its ``stop`` time or when removed from the settings)."""
        conn = self._connect()
        try:
            cur = conn.execute("UPDATE experiments SET stopped_at = ? WHERE name = ? AND "
                               "stopped_at IS NULL", (time.time(), name))
            done = cur.rowcount > 0
        finally:
            conn.close()
        self.refresh()
        return done


def stored_experiments(db_path: str | Path) -> dict[str, ExperimentConfig]:
    """The experiments posted to a server, read from its state store (read-only; ``{}`` when
    it has none)."""
    path = Path(db_path)
    if not path.is_file():
        return {}
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = conn.execute("SELECT name, config FROM experiments ORDER BY created_at"
                            ).fetchall()
    except sqlite3.OperationalError:  # a store written before experiments existed
        return {}
    finally:
        conn.close()
    return {str(n): ExperimentConfig.model_validate_json(c) for n, c in rows}


# -- statistics -------------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``(0, 1)`` when ``n == 0``)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(s1: int, n1: int, s0: int, n0: int,
                      z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``p1 - p0`` (method 10 of [2]_ in the module
    docstring); ``(-1, 1)`` when a group is empty."""
    if n1 <= 0 or n0 <= 0:
        return -1.0, 1.0
    p1, p0 = s1 / n1, s0 / n0
    l1, u1 = wilson_interval(s1, n1, z)
    l0, u0 = wilson_interval(s0, n0, z)
    d = p1 - p0
    lower = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def _bootstrap_mean(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import numpy as np

    if x.size == 0:
        return np.zeros(BOOTSTRAP_RESAMPLES)
    out = np.empty(BOOTSTRAP_RESAMPLES)
    step = max(1, min(BOOTSTRAP_RESAMPLES, 4_000_000 // x.size))  # bounded memory
    for lo in range(0, BOOTSTRAP_RESAMPLES, step):
        hi = min(BOOTSTRAP_RESAMPLES, lo + step)
        idx = rng.integers(0, x.size, size=(hi - lo, x.size))
        out[lo:hi] = x[idx].mean(axis=1)
    return out


def _interval(draws: np.ndarray) -> list[float]:
    import numpy as np

    lo, hi = np.quantile(draws, [0.025, 0.975])
    return [float(lo), float(hi)]


def experiment_results(cfg: ExperimentConfig,
                       users: dict[str, dict[str, UserTotals]],
                       seed: int = 0) -> list[dict[str, Any]]:
    """Per variant (in the configured order): the figures and their 95 % intervals, and
    their differences to the control (see the module docstring).

    ``users`` maps each variant's name to its users' totals (attribution counters).
    """
    import numpy as np  # here: the settings import this module, numpy is for results only

    rng = np.random.default_rng(seed)
    rows: dict[str, dict[str, Any]] = {}
    revenue: dict[str, np.ndarray] = {}
    draws: dict[str, np.ndarray] = {}
    for v in cfg.variants:
        totals = list(users.get(v.name, {}).values())
        n_users = len(totals)
        lists = sum(t.lists for t in totals)
        clicked = sum(t.clicked_lists for t in totals)
        converted = sum(1 for t in totals if t.purchases > 0)
        rev = np.array([t.revenue for t in totals], dtype=np.float64)
        revenue[v.name] = rev
        draws[v.name] = _bootstrap_mean(rev, rng)
        rows[v.name] = {
            "variant": v.name, "control": v.name == cfg.control_name, "share": v.share,
            "model_dir": None if v.model_dir is None else str(v.model_dir),
            "rules": v.rules, "users": n_users, "lists": lists,
            "impressions": sum(t.impressions for t in totals),
            "clicks": sum(t.clicks for t in totals), "clicked_lists": clicked,
            "add_to_carts": sum(t.carts for t in totals),
            "purchases": sum(t.purchases for t in totals), "converted_users": converted,
            "revenue": float(rev.sum()),
            "ctr": clicked / lists if lists else None,
            "ctr_ci": list(wilson_interval(clicked, lists)),
            "conversion": converted / n_users if n_users else None,
            "conversion_ci": list(wilson_interval(converted, n_users)),
            "revenue_per_user": float(rev.mean()) if n_users else None,
            "revenue_per_user_ci": _interval(draws[v.name]),
        }
    c = rows[cfg.control_name]
    for name, row in rows.items():
        if name == cfg.control_name:
            row["vs_control"] = None
            continue
        both = row["lists"] and c["lists"]
        row["vs_control"] = {
            "ctr_diff": (row["ctr"] - c["ctr"]) if both else None,
            "ctr_diff_ci": list(newcombe_interval(row["clicked_lists"], row["lists"],
                                                  c["clicked_lists"], c["lists"])),
            "conversion_diff": (row["conversion"] - c["conversion"])
            if row["users"] and c["users"] else None,
            "conversion_diff_ci": list(newcombe_interval(
                row["converted_users"], row["users"], c["converted_users"], c["users"])),
            "revenue_per_user_diff": (row["revenue_per_user"] - c["revenue_per_user"])
            if row["users"] and c["users"] else None,
            "revenue_per_user_diff_ci": _interval(draws[name] - draws[cfg.control_name]),
        }
    return [rows[v.name] for v in cfg.variants]


CSV_COLUMNS = ("variant", "control", "share", "users", "lists", "impressions", "clicks",
               "clicked_lists", "add_to_carts", "purchases", "converted_users", "revenue",
               "ctr", "ctr_low", "ctr_high", "conversion", "conversion_low", "conversion_high",
               "revenue_per_user", "revenue_per_user_low", "revenue_per_user_high",
               "ctr_diff", "ctr_diff_low", "ctr_diff_high", "conversion_diff",
               "conversion_diff_low", "conversion_diff_high", "revenue_per_user_diff",
               "revenue_per_user_diff_low", "revenue_per_user_diff_high")


def results_csv(rows: list[dict[str, Any]]) -> str:
    """The results of :func:`experiment_results` as CSV (one line per variant)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        flat = dict(r)
        for k in ("ctr", "conversion", "revenue_per_user"):
            flat[f"{k}_low"], flat[f"{k}_high"] = r[f"{k}_ci"]
        vs = r.get("vs_control") or {}
        for k in ("ctr_diff", "conversion_diff", "revenue_per_user_diff"):
            flat[k] = vs.get(k)
            flat[f"{k}_low"], flat[f"{k}_high"] = vs.get(f"{k}_ci") or (None, None)
        w.writerow(["" if flat.get(c) is None else flat[c] for c in CSV_COLUMNS])
    return out.getvalue()
