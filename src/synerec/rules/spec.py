"""Business rules as a shop writes them: the JSON structure, the expression syntax, validation.

A *rule set* is a JSON object (every key optional)::

    {
      "in_stock": true,                      # leave out items whose in_stock is false
      "include_categories": ["books"],       # only items in one of these categories
      "exclude_categories": ["adult"],       # no item in any of these categories
      "brands": ["acme", "zenith"],          # only items of these brands
      "price": {"min": 5, "max": 50},        # only items priced within (either bound optional)
      "exclude_bought_days": 30,             # no item the user bought in the last 30 days
      "where": ["margin > 0.2", {"attr": "color", "op": "in", "value": ["red", "blue"]}],
      "boost": [{"where": "brand = 'acme'", "multiply": 1.5},
                {"where": "category = 'sale'", "add": 0.1}],
      "bury":  [{"where": "price > 100", "multiply": 0.5}],
      "cap":   [{"attr": "category", "max": 2}]
    }

A *condition* (in ``where``, ``boost[].where``, ``bury[].where``) is either an expression
string or an object: ``{"attr": NAME, "op": OP, "value": V}``, ``{"all": [c, ...]}``,
``{"any": [c, ...]}`` or ``{"not": c}``. ``OP`` is one of ``=``, ``!=``, ``<``, ``>``, ``<=``,
``>=``, ``in``, ``not in``; ``V`` a string, number or boolean (a list of them for ``in`` and
``not in``; a number for ``<``, ``>``, ``<=``, ``>=``).

The expression syntax is the same in words::

    price < 50 and category in ["books", "music"]
    not (brand = 'acme' or in_stock = false)

``and`` binds tighter than ``or``; ``not`` and parentheses as usual; strings in single or
double quotes; ``true``, ``false`` and numbers bare; ``==`` is ``=``.

Semantics (applied by :mod:`synerec.rules.apply`):

* an item matches ``attr op value`` when it has the attribute and the comparison holds; an
  item *without* the attribute matches only ``!=`` and ``not in``;
* the attributes ``category``, ``genres`` and ``tags`` may hold several values joined by
  ``|`` (``"books|music"``): ``=`` / ``in`` match when any of them does, and a cap counts the
  item in each of its values;
* ``in_stock: true`` is the filter ``in_stock != false`` (an item without ``in_stock`` is in
  stock); ``price`` is ``price >= min and price <= max``;
* every filter must hold (and); a boost multiplies (``multiply`` >= 1) or adds (``add`` >= 0)
  to the score of the items it matches, a bury does the opposite (``multiply`` in (0, 1],
  ``add`` <= 0). An item's factors are multiplied together and its additions summed:
  ``final = m(score, F) + A`` where ``m(s, F) = s * F`` for ``s >= 0`` and ``s / F`` for
  ``s < 0`` (so a boost never lowers a score and a bury never raises one, whatever the sign
  of the model's scores);
* ``cap``: at most ``max`` items per value of the attribute in a list (items without it are
  not capped).

Errors are one line naming the bad part: ``invalid rules: boost[0].multiply: a boost
multiplies by 1 or more (a bury lowers), got 0.5``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from synerec.exceptions import ConfigError

__all__ = ["AllOf", "AnyOf", "Boost", "Cap", "Compare", "Condition", "Not", "Rules",
           "RulesError", "combine", "parse_condition", "parse_expression", "parse_rules",
           "rules_key"]

Scalar: TypeAlias = str | int | float | bool
OPS = ("=", "!=", "<", ">", "<=", ">=", "in", "not in")
ORDER_OPS = ("<", ">", "<=", ">=")
#: Attributes that may hold several values joined by ``|``.
MULTI_VALUED = frozenset({"category", "genres", "tags"})
_MAX_LIST = 1000
_MAX_NAME = 100


class RulesError(ConfigError):
    """An invalid rule set; the message is one line naming the bad part."""


@dataclass(frozen=True)
class Compare:
    """``attr op value``."""

    attr: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class AllOf:
    """Every part holds."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Condition


Condition: TypeAlias = Compare | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Boost:
    """Items matching ``where`` get their score multiplied by ``multiply`` (sign-aware, see
    the module docstring) or ``add`` added; exactly one of the two is set."""

    where: Condition
    multiply: float | None = None
    add: float | None = None


@dataclass(frozen=True)
class Cap:
    """At most ``max`` items per value of ``attr``."""

    attr: str
    max: int


@dataclass(frozen=True)
class Rules:
    """A validated rule set in its normal form: the filters (all must hold), the boosts and
    buries (in one list), the caps and the purchase window."""

    filters: tuple[Condition, ...] = ()
    boosts: tuple[Boost, ...] = ()
    caps: tuple[Cap, ...] = ()
    exclude_bought_days: float | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def empty(self) -> bool:
        """No rule at all."""
        return not (self.filters or self.boosts or self.caps or self.exclude_bought_days)


# ---------------------------------------------------------------------------------------------
# the expression syntax
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
)""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise RulesError(f"unexpected character {text[col - 1]!r} at column {col}")
        kind = m.lastgroup
        assert kind is not None
        raw = m.group(kind)
        col = m.start(kind) + 1
        if kind == "num":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            out.append(("value", value, col))
        elif kind == "str":
            out.append(("value", json.loads('"' + raw[1:-1].replace('"', '\\"')
                                             .replace("\\'", "'") + '"'), col))
        elif kind == "name" and raw in _KEYWORDS:
            if raw in ("true", "false"):
                out.append(("value", raw == "true", col))
            else:
                out.append((raw, raw, col))
        else:
            out.append((kind, raw, col))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.k = 0

    def peek(self) -> tuple[str, Any, int] | None:
        return self.toks[self.k] if self.k < len(self.toks) else None

    def fail(self, expected: str) -> RulesError:
        t = self.peek()
        where = "at the end" if t is None else f"at column {t[2]} ({t[1]!r})"
        return RulesError(f"expected {expected} {where}")

    def take(self, kind: str, value: Any = None) -> tuple[str, Any, int] | None:
        t = self.peek()
        if t is not None and t[0] == kind and (value is None or t[1] == value):
            self.k += 1
            return t
        return None

    def parse(self) -> Condition:
        if not self.toks:
            raise RulesError("empty expression")
        c = self.or_()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end")
        return c

    def or_(self) -> Condition:
        parts = [self.and_()]
        while self.take("or"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def and_(self) -> Condition:
        parts = [self.unary()]
        while self.take("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def unary(self) -> Condition:
        if self.take("not"):
            return Not(self.unary())
        if self.take("punct", "("):
            c = self.or_()
            if not self.take("punct", ")"):
                raise self.fail("')'")
            return c
        return self.compare()

    def compare(self) -> Condition:
        name = self.take("name")
        if name is None:
            raise self.fail("an attribute name")
        if self.take("in"):
            op = "in"
        elif self.take("not"):
            if not self.take("in"):
                raise self.fail("'in' after 'not'")
            op = "not in"
        else:
            t = self.take("op")
            if t is None:
                raise self.fail(f"an operator after {name[1]!r} (=, !=, <, >, <=, >=, in, "
                                "not in)")
            op = "=" if t[1] == "==" else str(t[1])
        if op in ("in", "not in"):
            if not self.take("punct", "["):
                raise self.fail(f"a list [..] after {op!r}")
            values: list[Any] = []
            while True:
                v = self.take("value")
                if v is None:
                    raise self.fail("a value")
                values.append(v[1])
                if self.take("punct", "]"):
                    break
                if not self.take("punct", ","):
                    raise self.fail("',' or ']'")
            return _compare(str(name[1]), op, values, "")
        v = self.take("value")
        if v is None:
            raise self.fail(f"a value after {op!r}")
        return _compare(str(name[1]), op, v[1], "")


def parse_expression(text: str) -> Condition:
    """A condition from the expression syntax (module docstring).

    Raises
    ------
    RulesError
        One line: what was expected and at which column.
    """
    return _Parser(text).parse()


# ---------------------------------------------------------------------------------------------
# the JSON structure
# ---------------------------------------------------------------------------------------------

def _scalar(v: Any, where: str) -> Scalar:
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        if not math.isfinite(v):
            raise RulesError(f"{where}: a value must be a finite number")
        return v
    raise RulesError(f"{where}: a value must be a string, number or boolean, not "
                     f"{type(v).__name__}")


def _name(v: Any, where: str) -> str:
    if not isinstance(v, str) or not 1 <= len(v) <= _MAX_NAME or not v.strip():
        raise RulesError(f"{where}: an attribute name must be text of 1 to {_MAX_NAME} "
                         "characters")
    return v


def _compare(attr: str, op: str, value: Any, where: str) -> Compare:
    at = f"{where}: " if where else ""
    if op not in OPS:
        raise RulesError(f"{at}unknown operator {op!r} (operators: {', '.join(OPS)})")
    if op in ("in", "not in"):
        if not isinstance(value, (list, tuple)):
            raise RulesError(f"{at}{op!r} needs a list of values")
        if len(value) > _MAX_LIST:
            raise RulesError(f"{at}at most {_MAX_LIST} values in a list")
        return Compare(attr, op, tuple(_scalar(x, f"{where or attr}[{k}]")
                                       for k, x in enumerate(value)))
    v = _scalar(value, where or attr)
    if op in ORDER_OPS and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise RulesError(f"{at}{attr} {op} needs a number, got {v!r}")
    return Compare(attr, op, v)


def parse_condition(value: Any, where: str = "condition") -> Condition:
    """A condition from JSON: an expression string or an object (module docstring)."""
    if isinstance(value, str):
        try:
            return parse_expression(value)
        except RulesError as exc:
            raise RulesError(f"{where}: {exc}") from None
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}: a condition is an expression string or an object, not "
                         f"{type(value).__name__}")
    keys = set(value)
    if keys in ({"all"}, {"any"}):
        (kind,) = keys
        parts = value[kind]
        if not isinstance(parts, list) or not parts:
            raise RulesError(f"{where}.{kind}: a non-empty list of conditions")
        got = tuple(parse_condition(p, f"{where}.{kind}[{k}]") for k, p in enumerate(parts))
        return AllOf(got) if kind == "all" else AnyOf(got)
    if keys == {"not"}:
        return Not(parse_condition(value["not"], f"{where}.not"))
    if keys == {"attr", "op", "value"}:
        return _compare(_name(value["attr"], f"{where}.attr"), str(value["op"]),
                        value["value"], where)
    raise RulesError(f"{where}: a condition object has the keys attr, op and value, or one "
                     f"of all, any, not; got {', '.join(sorted(map(str, keys))) or 'none'}")


_KEYS = ("in_stock", "include_categories", "exclude_categories", "brands", "price",
         "exclude_bought_days", "where", "boost", "bury", "cap")


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RulesError(f"{where}: a list, not {type(value).__name__}")
    if len(value) > _MAX_LIST:
        raise RulesError(f"{where}: at most {_MAX_LIST} entries")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    for k, x in enumerate(items):
        if not isinstance(x, str):
            raise RulesError(f"{where}[{k}]: a string, not {type(x).__name__}")
    return tuple(items)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value):
        raise RulesError(f"{where}: a finite number, not {value!r}")
    return float(value)


def _boost(value: Any, where: str, bury: bool) -> Boost:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}: an object with where and multiply or add")
    extra = set(value) - {"where", "multiply", "add"}
    if extra:
        raise RulesError(f"{where}: unknown key {sorted(extra)[0]!r} (keys: where, multiply, "
                         "add)")
    if "where" not in value:
        raise RulesError(f"{where}.where is required")
    if ("multiply" in value) == ("add" in value):
        raise RulesError(f"{where}: give exactly one of multiply and add")
    cond = parse_condition(value["where"], f"{where}.where")
    if "multiply" in value:
        f = _number(value["multiply"], f"{where}.multiply")
        if bury and not 0 < f <= 1:
            raise RulesError(f"{where}.multiply: a bury multiplies by a number in (0, 1] (a "
                             f"boost raises), got {f:g}")
        if not bury and not 1 <= f <= 1e6:
            raise RulesError(f"{where}.multiply: a boost multiplies by 1 or more (a bury "
                             f"lowers), got {f:g}")
        return Boost(cond, multiply=f)
    a = _number(value["add"], f"{where}.add")
    if bury and a > 0:
        raise RulesError(f"{where}.add: a bury adds 0 or less (a boost raises), got {a:g}")
    if not bury and a < 0:
        raise RulesError(f"{where}.add: a boost adds 0 or more (a bury lowers), got {a:g}")
    return Boost(cond, add=a)


def parse_rules(value: Any, where: str = "rules") -> Rules:
    """Validate a rule set: a JSON object (or its text), or an expression string (then a
    rule set with that one filter).

    Raises
    ------
    RulesError
        One line, ``invalid rules: <where the bad part is>: <what is wrong>``.
    """
    try:
        return _parse_rules(value, where)
    except RulesError as exc:
        msg = str(exc)
        for lead in (f"{where}: ", f"{where}."):  # the top level needs no name
            if msg.startswith(lead) and where == "rules":
                msg = msg[len(lead):]
        raise RulesError(f"invalid rules: {msg}") from None


def _parse_rules(value: Any, where: str) -> Rules:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RulesError(f"{where}: not valid JSON: {exc.msg} at column "
                                 f"{exc.colno}") from None
        else:
            return Rules(filters=(parse_condition(text, where),), source={"where": [text]})
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}: an object (or an expression string), not "
                         f"{type(value).__name__}")
    for key in value:
        if key not in _KEYS:
            raise RulesError(f"{where}: unknown key {key!r} (keys: {', '.join(_KEYS)})")
    filters: list[Condition] = []
    if "in_stock" in value:
        flag = value["in_stock"]
        if not isinstance(flag, bool):
            raise RulesError(f"{where}.in_stock: true or false, not {flag!r}")
        if flag:
            filters.append(Compare("in_stock", "!=", False))
    if "include_categories" in value:
        cats = _strings(value["include_categories"], f"{where}.include_categories")
        filters.append(Compare("category", "in", cats))
    if "exclude_categories" in value:
        cats = _strings(value["exclude_categories"], f"{where}.exclude_categories")
        filters.append(Compare("category", "not in", cats))
    if "brands" in value:
        filters.append(Compare("brand", "in", _strings(value["brands"], f"{where}.brands")))
    if "price" in value:
        price = value["price"]
        if not isinstance(price, Mapping) or not price or set(price) - {"min", "max"}:
            raise RulesError(f"{where}.price: an object with min and/or max")
        lo = _number(price["min"], f"{where}.price.min") if "min" in price else None
        hi = _number(price["max"], f"{where}.price.max") if "max" in price else None
        if lo is not None and hi is not None and lo > hi:
            raise RulesError(f"{where}.price: min {lo:g} is above max {hi:g}")
        if lo is not None:
            filters.append(Compare("price", ">=", lo))
        if hi is not None:
            filters.append(Compare("price", "<=", hi))
    if "where" in value:
        conds = value["where"]
        conds = [conds] if isinstance(conds, (str, Mapping)) else _list(conds, f"{where}.where")
        filters += [parse_condition(c, f"{where}.where[{k}]") for k, c in enumerate(conds)]
    days = None
    if "exclude_bought_days" in value:
        days = _number(value["exclude_bought_days"], f"{where}.exclude_bought_days")
        if not 0 < days <= 36_500:
            raise RulesError(f"{where}.exclude_bought_days: a number of days in (0, 36500], "
                             f"got {days:g}")
    boosts = [_boost(b, f"{where}.boost[{k}]", False)
              for k, b in enumerate(_list(value.get("boost", []), f"{where}.boost"))]
    boosts += [_boost(b, f"{where}.bury[{k}]", True)
               for k, b in enumerate(_list(value.get("bury", []), f"{where}.bury"))]
    caps = []
    for k, c in enumerate(_list(value.get("cap", []), f"{where}.cap")):
        at = f"{where}.cap[{k}]"
        if not isinstance(c, Mapping) or set(c) != {"attr", "max"}:
            raise RulesError(f"{at}: an object with attr and max")
        m = c["max"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise RulesError(f"{at}.max: a whole number >= 1, not {m!r}")
        caps.append(Cap(_name(c["attr"], f"{at}.attr"), int(m)))
    return Rules(tuple(filters), tuple(boosts), tuple(caps), days, dict(value))


def combine(*rule_sets: Rules | None) -> Rules:
    """Rule sets applied together: every filter of each, every boost and bury of each, every
    cap of each (on the same attribute the lowest binds), the longest purchase window."""
    sets = [r for r in rule_sets if r is not None]
    days = [r.exclude_bought_days for r in sets if r.exclude_bought_days]
    return Rules(tuple(f for r in sets for f in r.filters),
                 tuple(b for r in sets for b in r.boosts),
                 tuple(c for r in sets for c in r.caps), max(days) if days else None)


def rules_key(value: Any) -> str:
    """A canonical text of a rule set's JSON (a cache key)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))

