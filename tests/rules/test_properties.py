"""Hypothesis properties of the rules engine (issue 24's must-show), against a slow reference.

For random catalogues (category, brand, price, in_stock; values missing at random), random
scores (either sign) and random rule sets:

* no list holds an item a filter excludes (each listed item checked by a per-item reference
  evaluator written apart from the vectorised masks);
* a boost never lowers the rank of an item it matches;
* caps hold;
* lists are full whenever enough items pass;
* the widening window path (:func:`synerec.rules.select`, what the service runs on the model's
  ranked candidates) gives the same list as ranking the whole score vector, when there are no
  boosts (filters and caps are exact on any window).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synerec.rules import (
    AllOf,
    AnyOf,
    AttributeTable,
    Boost,
    Cap,
    Compare,
    Not,
    Rules,
    compile_rules,
    rank_scores,
    select,
)
from synerec.rules.spec import MULTI_VALUED

CATS = ["a", "b", "c", "a|b", "b|c"]
BRANDS = ["x", "y", "z"]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def catalogues(draw: Any) -> tuple[AttributeTable, list[dict[str, Any]], np.ndarray]:
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        rows.append({
            "category": draw(st.sampled_from([*CATS, None])),
            "brand": draw(st.sampled_from([*BRANDS, None])),
            "price": draw(st.one_of(st.none(), st.integers(0, 100), st.floats(0, 100))),
            "in_stock": draw(st.sampled_from([True, False, None])),
        })
    table = AttributeTable([f"i{k}" for k in range(n)],
                           {c: [r[c] for r in rows] for c in ("category", "brand", "price",
                                                                "in_stock")})
    scores = np.array(draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=n,
                                    max_size=n, unique=True)), dtype=np.float64)
    return table, rows, scores


def compares() -> st.SearchStrategy[Compare]:
    eq = st.builds(Compare, st.sampled_from(["category", "brand", "in_stock"]),
                   st.sampled_from(["=", "!="]),
                   st.sampled_from(["a", "b", "c", "x", "y", True, False]))
    member = st.builds(Compare, st.sampled_from(["category", "brand"]),
                       st.sampled_from(["in", "not in"]),
                       st.lists(st.sampled_from(["a", "b", "c", "x", "y"]), min_size=1,
                                max_size=3).map(tuple))
    order = st.builds(Compare, st.just("price"), st.sampled_from(["<", ">", "<=", ">="]),
                      st.integers(0, 100))
    return st.one_of(eq, member, order)


conditions = st.recursive(compares(), lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda p: AllOf(tuple(p))),
    st.lists(inner, min_size=1, max_size=3).map(lambda p: AnyOf(tuple(p))),
    inner.map(Not)), max_leaves=4)


def holds(cond: Any, row: dict[str, Any]) -> bool:
    """The reference: one item, one condition, plain Python."""
    if isinstance(cond, AllOf):
        return all(holds(p, row) for p in cond.parts)
    if isinstance(cond, AnyOf):
        return any(holds(p, row) for p in cond.parts)
    if isinstance(cond, Not):
        return not holds(cond.part, row)
    v = row.get(cond.attr)
    missing = v is None or (isinstance(v, float) and math.isnan(v))
    if cond.op in ("!=", "not in"):
        return not holds(Compare(cond.attr, "=" if cond.op == "!=" else "in", cond.value), row)
    if missing:
        return False
    if cond.op in ("<", ">", "<=", ">="):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return {"<": v < cond.value, ">": v > cond.value, "<=": v <= cond.value,
                ">=": v >= cond.value}[cond.op]
    wanted = cond.value if cond.op == "in" else (cond.value,)
    values = v.split("|") if cond.attr in MULTI_VALUED and isinstance(v, str) else [v]
    return any(_same(x, w) for x in values for w in wanted)


def _same(x: Any, w: Any) -> bool:
    if isinstance(x, bool) or isinstance(w, bool):
        return isinstance(x, bool) and isinstance(w, bool) and x == w
    return bool(x == w)


def boosts(kind: str | None = None) -> st.SearchStrategy[Boost]:
    mult = st.builds(lambda c, f: Boost(c, multiply=f), conditions, st.floats(1.0, 5.0))
    add = st.builds(lambda c, a: Boost(c, add=a), conditions, st.floats(0.0, 5.0))
    return {"multiply": mult, "add": add}.get(kind or "", st.one_of(mult, add))


caps = st.builds(Cap, st.sampled_from(["category", "brand"]), st.integers(1, 3))


def groups(attr: str, row: dict[str, Any]) -> list[str]:
    v = row.get(attr)
    if v is None:
        return []
    return v.split("|") if attr in MULTI_VALUED else [v]


@SETTINGS
@given(catalogues(), st.lists(conditions, max_size=3), st.lists(boosts(), max_size=2),
       st.lists(caps, max_size=2), st.integers(1, 15))
def test_no_excluded_item_and_caps_hold(cat: Any, filters: list[Any], bs: list[Boost],
                                        cs: list[Cap], n: int) -> None:
    table, rows, scores = cat
    rules = Rules(tuple(filters), tuple(bs), tuple(cs))
    plan = compile_rules(rules, table)
    items, _, _ = rank_scores(scores, n, plan)
    assert len(items) <= n and len(set(items.tolist())) == len(items)
    for i in items:
        assert all(holds(f, rows[i]) for f in filters), (rows[i], filters)
    for c in cs:
        counts = Counter(g for i in items for g in groups(c.attr, rows[i]))
        assert all(v <= c.max for v in counts.values()), (c, counts)
    # the vectorised masks are the reference's
    for f in filters:
        assert table.mask(f)[:-1].tolist() == [holds(f, r) for r in rows]


@SETTINGS
@given(catalogues(), st.lists(conditions, max_size=3), st.integers(1, 40))
def test_lists_are_full_when_enough_items_pass(cat: Any, filters: list[Any], n: int) -> None:
    table, rows, scores = cat
    plan = compile_rules(Rules(tuple(filters)), table)
    items, got, sel = rank_scores(scores, n, plan)
    passing = [i for i, r in enumerate(rows) if all(holds(f, r) for f in filters)]
    assert len(items) == min(n, len(passing))
    assert sel.short == (len(passing) < n)
    # exactly the reference's order: the passing items by score, best first
    ref = sorted(passing, key=lambda i: -scores[i])[:n]
    assert items.tolist() == ref
    assert got.tolist() == scores[ref].astype(np.float32).tolist()  # topk's float32


@SETTINGS
@given(catalogues(), st.sampled_from(["category", "brand"]), st.integers(1, 3),
       st.integers(1, 40))
def test_lists_are_full_under_a_cap_when_enough_items_pass(cat: Any, attr: str, cap: int,
                                                           n: int) -> None:
    table, rows, scores = cat
    if attr == "category":  # one value per item: the cap's capacity is plain to count
        rows = [{**r, "category": (r["category"] or "").split("|")[0] or None} for r in rows]
        table = AttributeTable(table.keys, {"category": [r["category"] for r in rows]})
    plan = compile_rules(Rules(caps=(Cap(attr, cap),)), table)
    items, _, sel = rank_scores(scores, n, plan)
    counts = Counter(r[attr] for r in rows)
    room = sum(min(cap, c) for v, c in counts.items() if v is not None) + counts.get(None, 0)
    assert len(items) == min(n, room)
    assert sel.short == (room < n)


@SETTINGS
@given(catalogues(), st.lists(conditions, max_size=2), st.sampled_from(["multiply", "add"]),
       st.data())
def test_a_boost_never_lowers_a_matching_items_rank(cat: Any, filters: list[Any], kind: str,
                                                    data: Any) -> None:
    table, rows, scores = cat
    others = data.draw(st.lists(boosts(kind), max_size=2))
    extra = data.draw(boosts(kind))
    n = table.n
    before, _, _ = rank_scores(scores, n, compile_rules(Rules(tuple(filters),
                                                              tuple(others)), table))
    after, _, _ = rank_scores(scores, n, compile_rules(Rules(tuple(filters),
                                                             (*others, extra)), table))
    assert sorted(before.tolist()) == sorted(after.tolist())  # a boost filters nothing
    rank_before = {int(i): r for r, i in enumerate(before)}
    rank_after = {int(i): r for r, i in enumerate(after)}
    for i in rank_before:
        if holds(extra.where, rows[i]):
            assert rank_after[i] <= rank_before[i]


@SETTINGS
@given(catalogues(), st.lists(conditions, max_size=2), st.lists(boosts(), max_size=3),
       st.data())
def test_a_boost_never_puts_an_item_it_does_not_match_above_one_it_matches(
        cat: Any, filters: list[Any], others: list[Boost], data: Any) -> None:
    """Mixed multiplications and additions: the pairwise form of the property."""
    table, rows, scores = cat
    extra = data.draw(boosts())
    n = table.n
    before, _, _ = rank_scores(scores, n, compile_rules(Rules(tuple(filters),
                                                              tuple(others)), table))
    after, _, _ = rank_scores(scores, n, compile_rules(Rules(tuple(filters),
                                                             (*others, extra)), table))
    rb = {int(i): r for r, i in enumerate(before)}
    ra = {int(i): r for r, i in enumerate(after)}
    match = {i for i in rb if holds(extra.where, rows[i])}
    for i in match:
        for k in set(rb) - match:
            if rb[i] < rb[k]:
                assert ra[i] < ra[k]


@SETTINGS
@given(catalogues(), st.lists(conditions, max_size=2), st.lists(caps, max_size=2),
       st.integers(1, 15), st.integers(1, 8))
def test_the_widening_window_gives_the_whole_vectors_list(cat: Any, filters: list[Any],
                                                          cs: list[Cap], n: int,
                                                          start: int) -> None:
    table, _rows, scores = cat
    plan = compile_rules(Rules(tuple(filters), (), tuple(cs)), table)
    whole, whole_scores, _ = rank_scores(scores, n, plan)
    order = np.lexsort((np.arange(len(scores)), -scores))
    asked = []

    def window(m: int) -> tuple[np.ndarray, np.ndarray, Any]:
        asked.append(m)
        top = order[:m]
        return top, scores[top].astype(np.float32).astype(np.float64), top

    sel = select(window, n, plan, start=start, bound=10_000)
    assert np.asarray(sel.payload)[sel.chosen].tolist() == whole.tolist()
    assert sel.scores.tolist() == whole_scores.tolist()
    assert asked == sorted(asked)
    assert sel.short == (len(whole) < n)
