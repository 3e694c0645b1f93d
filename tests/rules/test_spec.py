"""The rule syntax: JSON and expressions parsed to the same conditions, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from synerec.rules import (
    AllOf,
    AnyOf,
    AttributeTable,
    Boost,
    Cap,
    Compare,
    Not,
    RulesError,
    combine,
    compile_rules,
    multiply,
    parse_expression,
    parse_rules,
    rank_scores,
)


def test_expression_and_json_give_the_same_conditions() -> None:
    expr = parse_expression('price < 50 and category in ["a", "b"] or not brand == \'acme\'')
    assert expr == AnyOf((AllOf((Compare("price", "<", 50), Compare("category", "in",
                                                                       ("a", "b")))),
                          Not(Compare("brand", "=", "acme"))))
    r = parse_rules({"where": [{"any": [{"all": [
        {"attr": "price", "op": "<", "value": 50},
        {"attr": "category", "op": "in", "value": ["a", "b"]}]},
        {"not": {"attr": "brand", "op": "=", "value": "acme"}}]}]})
    assert r.filters == (expr,)
    assert parse_rules("in_stock = true and price >= 1.5e1").filters == (
        AllOf((Compare("in_stock", "=", True), Compare("price", ">=", 15.0))),)


def test_shortcuts_expand_to_filters_and_the_rest_parses() -> None:
    r = parse_rules('{"in_stock": true, "include_categories": ["a"], "exclude_categories": '
                    '["b"], "brands": ["x"], "price": {"min": 5, "max": 50}, '
                    '"exclude_bought_days": 30, "boost": [{"where": "brand = \'x\'", '
                    '"multiply": 2}], "bury": [{"where": "price > 40", "add": -1}], '
                    '"cap": [{"attr": "category", "max": 2}]}')
    assert r.filters == (Compare("in_stock", "!=", False), Compare("category", "in", ("a",)),
                         Compare("category", "not in", ("b",)), Compare("brand", "in", ("x",)),
                         Compare("price", ">=", 5.0), Compare("price", "<=", 50.0))
    assert r.boosts == (Boost(Compare("brand", "=", "x"), multiply=2.0),
                        Boost(Compare("price", ">", 40), add=-1.0))
    assert r.caps == (Cap("category", 2),) and r.exclude_bought_days == 30.0
    both = combine(r, parse_rules({"cap": [{"attr": "category", "max": 1}],
                                   "exclude_bought_days": 60}))
    assert both.caps == (Cap("category", 2), Cap("category", 1))
    assert both.exclude_bought_days == 60.0 and both.filters == r.filters


@pytest.mark.parametrize("bad, message", [
    ("price <", "invalid rules: expected a value after '<' at the end"),
    ("price < 'a'", "invalid rules: price < needs a number, got 'a'"),
    ("price ~ 3", "invalid rules: unexpected character '~' at column 7"),
    ("(price < 3", "invalid rules: expected ')' at the end"),
    ('{"in_stock": "yes"}', "invalid rules: in_stock: true or false, not 'yes'"),
    ('{"colour": 1}', "invalid rules: unknown key 'colour' (keys: in_stock, "
                      "include_categories, exclude_categories, brands, price, "
                      "exclude_bought_days, where, boost, bury, cap)"),
    ('{"boost": [{"where": "a = 1", "multiply": 0.5}]}',
     "invalid rules: boost[0].multiply: a boost multiplies by 1 or more (a bury lowers), "
     "got 0.5"),
    ('{"bury": [{"where": "a = 1", "add": 1}]}',
     "invalid rules: bury[0].add: a bury adds 0 or less (a boost raises), got 1"),
    ('{"boost": [{"where": "a = 1", "multiply": 2, "add": 1}]}',
     "invalid rules: boost[0]: give exactly one of multiply and add"),
    ('{"where": ["a = 1", "b in 3"]}',
     "invalid rules: where[1]: expected a list [..] after 'in' at column 6 (3)"),
    ('{"where": [{"attr": "a", "op": "~", "value": 1}]}',
     "invalid rules: where[0]: unknown operator '~' (operators: =, !=, <, >, <=, >=, in, "
     "not in)"),
    ('{"cap": [{"attr": "category", "max": 0}]}',
     "invalid rules: cap[0].max: a whole number >= 1, not 0"),
    ('{"price": {"min": 9, "max": 1}}', "invalid rules: price: min 9 is above max 1"),
    ('{"exclude_bought_days": -1}',
     "invalid rules: exclude_bought_days: a number of days in (0, 36500], got -1"),
    ('{"in_stock": true', "invalid rules: not valid JSON: Expecting ',' delimiter at "
                          "column 18"),
])
def test_errors_are_one_line_naming_the_bad_part(bad: str, message: str) -> None:
    with pytest.raises(RulesError) as got:
        parse_rules(bad)
    assert str(got.value) == message
    assert "\n" not in str(got.value)


def test_a_hand_computed_list() -> None:
    """Five items; in stock, category a, brand x boosted x2, at most one per brand."""
    table = AttributeTable(list("pqrst"), {
        "in_stock": [True, False, None, True, True],
        "category": ["a", "a|b", "a", "a", None],
        "brand": ["x", "y", "x", "y", "x"]})
    rules = parse_rules({"in_stock": True, "include_categories": ["a"],
                         "boost": [{"where": "brand = 'x'", "multiply": 2}]})
    plan = compile_rules(rules, table)
    # scores 1, 5, 3, 4, 2: q is out of stock, t has no category; p -> 2, r -> 6, s -> 4
    items, scores, sel = rank_scores(np.array([1.0, 5, 3, 4, 2]), 3, plan)
    assert items.tolist() == [2, 3, 0] and scores.tolist() == [6.0, 4.0, 2.0]
    assert not sel.short
    capped = compile_rules(combine(rules, parse_rules({"cap": [{"attr": "brand",
                                                                "max": 1}]})), table)
    items, _, sel = rank_scores(np.array([1.0, 5, 3, 4, 2]), 3, capped)
    assert items.tolist() == [2, 3] and sel.short
    assert sel.reason == "only 2 of the 5 items the model may recommend here pass the rules"
    # an id the table does not hold has no attributes: only != and not in match it
    assert table.positions(["r", "nope"]).tolist() == [2, -1]
    assert not compile_rules(rules, table).passes[-1]


def test_multiply_is_sign_aware_and_composes() -> None:
    s = np.array([-4.0, -1.0, 0.0, 2.0])
    assert multiply(s, np.full(4, 2.0)).tolist() == [-2.0, -0.5, 0.0, 4.0]
    assert multiply(multiply(s, np.full(4, 2.0)), np.full(4, 3.0)).tolist() == \
        multiply(s, np.full(4, 6.0)).tolist()
