"""Business rules on recommendation lists: filters, boosts and buries, caps (issue 24).

A shop writes a rule set as JSON or as an expression (:mod:`synerec.rules.spec`, where the
structure and its semantics are documented); :func:`parse_rules` validates it with one-line
errors. An :class:`AttributeTable` holds the items' attributes as numpy columns; a rule set
compiled against it (:func:`compile_rules`) is a :class:`Plan`: a filter is a boolean mask, a
boost a factor or an addition per item. :func:`select` applies a plan to a caller's ranked
candidates, widening them until the list is full; :func:`rank_scores` ranks a whole score
vector under a plan.

A low layer: it imports numpy, :mod:`synerec.topk` and :mod:`synerec.exceptions` only.
"""

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
