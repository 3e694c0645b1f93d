"""Item attributes as numpy columns, so that a condition is a boolean mask, not a loop.

An :class:`AttributeTable` holds ``N`` items (positions ``0..N-1``, each with a key: the
item id) and, per attribute, a code array of length ``N + 1`` into the attribute's distinct
values plus a float array of its numeric values (``NaN``: missing or not a number). Position
``N`` (also reachable as ``-1``) is an item without any attribute: an id the table does not
hold looks up to ``-1``, so every mask answers for it too.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synerec.rules.spec import MULTI_VALUED, ORDER_OPS, AllOf, AnyOf, Compare, Condition, Not

__all__ = ["AttributeTable", "Column"]


def _tag(v: Any) -> tuple[str, Any] | None:
    """A value as a typed key (``True`` and ``1`` differ); ``None`` for a missing value."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return ("b", bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return ("n", int(f) if f.is_integer() else f)
    return ("s", str(v))


@dataclass(frozen=True)
class Column:
    """One attribute: ``codes`` (``N + 1`` ints into ``values``; ``len(values)``: missing),
    ``numbers`` (``N + 1`` floats, ``NaN`` where missing or not numeric) and, for a
    multi-valued attribute, each value's parts."""

    values: tuple[tuple[str, Any], ...]
    codes: np.ndarray
    numbers: np.ndarray
    parts: tuple[tuple[tuple[str, Any], ...], ...]

    @classmethod
    def build(cls, name: str, data: Sequence[Any]) -> Column:
        index: dict[tuple[str, Any], int] = {}
        codes = np.empty(len(data) + 1, dtype=np.int32)
        for k, v in enumerate(data):
            t = _tag(v)
            codes[k] = -1 if t is None else index.setdefault(t, len(index))
        values = tuple(index)
        codes[codes == -1] = len(values)
        codes[-1] = len(values)
        lookup = np.array([float(v[1]) if v[0] == "n" else np.nan for v in values] + [np.nan],
                          dtype=np.float64)
        numbers = lookup[codes]
        multi = name in MULTI_VALUED
        parts = tuple(
            tuple(("s", p.strip()) for p in str(v[1]).split("|") if p.strip())
            if multi and v[0] == "s" else (v,) for v in values)
        return cls(values, codes, numbers, parts)

    def matches(self, op: str, value: Any) -> np.ndarray:
        """``attr op value`` for every position (``N + 1`` booleans)."""
        if op in ORDER_OPS:
            x = float(value)
            with np.errstate(invalid="ignore"):
                return {"<": np.less, ">": np.greater, "<=": np.less_equal,
                        ">=": np.greater_equal}[op](self.numbers, x)
        wanted = {_tag(v) for v in (value if op in ("in", "not in") else (value,))}
        per_value = np.fromiter((any(p in wanted for p in ps) for ps in self.parts),
                                dtype=bool, count=len(self.parts))
        eq = np.append(per_value, False)[self.codes]
        return ~eq if op in ("!=", "not in") else eq


class AttributeTable:
    """Attributes of ``N`` items as columns (see the module docstring).

    Parameters
    ----------
    keys
        The item of each position (its id); :meth:`positions` looks them up.
    columns
        ``name -> N values`` (``None`` / ``""`` / NaN: missing).
    version
        What the table was built from (a cache key of compiled rules).
    """

    def __init__(self, keys: Sequence[Hashable], columns: Mapping[str, Sequence[Any]],
                 version: Hashable = 0) -> None:
        self.keys = list(keys)
        self.n = len(self.keys)
        self.version = version
        self._index = {k: p for p, k in enumerate(self.keys)}
        self.columns: dict[str, Column] = {}
        for name, data in columns.items():
            if len(data) != self.n:
                raise ValueError(f"column {name!r} has {len(data)} values for {self.n} items")
            self.columns[name] = Column.build(name, data)

    def positions(self, keys: Iterable[Hashable]) -> np.ndarray:
        """Each key's position, ``-1`` (an item without attributes) for a key not held."""
        get = self._index.get
        return np.fromiter((get(k, -1) for k in keys), dtype=np.int64)

    def mask(self, cond: Condition) -> np.ndarray:
        """Whether each position (``N + 1``, the last: no attributes) matches ``cond``."""
        if isinstance(cond, Compare):
            col = self.columns.get(cond.attr)
            if col is None:  # nobody has it: only != and not in hold
                return np.full(self.n + 1, cond.op in ("!=", "not in"), dtype=bool)
            return col.matches(cond.op, cond.value)
        if isinstance(cond, AllOf):
            out = np.ones(self.n + 1, dtype=bool)
            for p in cond.parts:
                out &= self.mask(p)
            return out
        if isinstance(cond, AnyOf):
            out = np.zeros(self.n + 1, dtype=bool)
            for p in cond.parts:
                out |= self.mask(p)
            return out
        assert isinstance(cond, Not)
        return ~self.mask(cond.part)

    def groups(self, attr: str) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]] | None:
        """For a cap on ``attr``: each position's value code and each code's group ids (a
        multi-valued attribute's value counts in each of its parts); ``None`` without it."""
        col = self.columns.get(attr)
        if col is None:
            return None
        ids: dict[tuple[str, Any], int] = {}
        per_code = tuple(tuple(ids.setdefault(p, len(ids)) for p in ps) for ps in col.parts)
        return col.codes, (*per_code, ())
