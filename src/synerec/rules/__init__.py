"""Business rules on recommendation lists: filters, boosts and buries, caps (issue 24).

A shop writes a rule set as JSON or as an expression (:mod:`synerec.rules.spec`, where the
structure and its semantics are documented); :func:`parse_rules` validates it with one-line
errors. An :class:`AttributeTable` holds the items' attributes as numpy columns; a rule set
compiled against it (:func:`compile_rules`) is a :class:`Plan`: a filter is a boolean mask, a
boost a factor or an addition per item. :func:`select` applies a plan to a caller's ranked
candidates, widening them until the list is full; :func:`rank_scores` ranks a whole score
vector under a plan.

A low layer: it imports numpy, :mod:`synerec.topk` and :mod:`synerec.exceptions` only. The
names are imported on first use (:mod:`synerec._lazy`): the service's settings validate rules
with :mod:`synerec.rules.spec` (no numpy) while the command line starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synerec._lazy import lazy_exports

if TYPE_CHECKING:
    from synerec.rules.apply import Plan, Selection, compile_rules, multiply, rank_scores, select
    from synerec.rules.spec import (
        AllOf,
        AnyOf,
        Boost,
        Cap,
        Compare,
        Condition,
        Not,
        Rules,
        RulesError,
        combine,
        parse_condition,
        parse_expression,
        parse_rules,
        rules_key,
    )
    from synerec.rules.table import AttributeTable

__all__ = ["AllOf", "AnyOf", "AttributeTable", "Boost", "Cap", "Compare", "Condition", "Not",
           "Plan", "Rules", "RulesError", "Selection", "combine", "compile_rules", "multiply",
           "parse_condition", "parse_expression", "parse_rules", "rank_scores", "rules_key",
           "select"]

_LAZY: dict[str, str] = {
    "Plan": "synerec.rules.apply",
    "Selection": "synerec.rules.apply",
    "compile_rules": "synerec.rules.apply",
    "multiply": "synerec.rules.apply",
    "rank_scores": "synerec.rules.apply",
    "select": "synerec.rules.apply",
    "AllOf": "synerec.rules.spec",
    "AnyOf": "synerec.rules.spec",
    "Boost": "synerec.rules.spec",
    "Cap": "synerec.rules.spec",
    "Compare": "synerec.rules.spec",
    "Condition": "synerec.rules.spec",
    "Not": "synerec.rules.spec",
    "Rules": "synerec.rules.spec",
    "RulesError": "synerec.rules.spec",
    "combine": "synerec.rules.spec",
    "parse_condition": "synerec.rules.spec",
    "parse_expression": "synerec.rules.spec",
    "parse_rules": "synerec.rules.spec",
    "rules_key": "synerec.rules.spec",
    "AttributeTable": "synerec.rules.table",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
