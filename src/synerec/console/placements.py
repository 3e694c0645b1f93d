"""The console's placements page: each placement's rules, edited and previewed.

``/placements`` lists the placements (the settings file's, and those an operator saved) with
their rules; ``/placements/{name}`` shows one placement's rules in an editor and a customer's
list under them beside the served model's plain list (``?customer=u004``). Saving goes
through the JSON API (``PUT /v1/placements/{name}`` with the write key, sent by
``static/placements.js``), so the rules are validated once, kept in the state store and seen
by every worker; "Back to the default" deletes the saved rules (``DELETE``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from synerec.console.context import ConsoleContext
from synerec.console.pages import item_entry
from synerec.rules import RulesError
from synerec.service import engine
from synerec.service import ruled as rule_lists

__all__ = ["placement_routes"]

#: Length of a previewed list.
PREVIEW_N = 10


def _pretty(rules: Any) -> str:
    return rules if isinstance(rules, str) else json.dumps(rules, indent=2)


def _entries(ctx: ConsoleContext, res: engine.RecResult) -> list[dict[str, Any]]:
    view = ctx.served()
    idx = engine.known_item_ids(view.snap, list(res.items))
    out = []
    for k, (item, score) in enumerate(zip(res.items, res.scores, strict=True)):
        i = int(view.model.items_.indices([item], missing="negative")[0]) if idx[k] else -1
        out.append({**item_entry(view, i, item), "score": score})
    return out


def preview(ctx: ConsoleContext, name: str | None, customer: str) -> dict[str, Any]:
    """A customer's list under a placement's rules (``name``), or the plain list (``None``)."""
    st = ctx.service
    snap = st.store.current
    version = st.products.version()
    new = st.products.view(snap, version) if version else None
    overlay = st.events.user_events(customer, snap.events_upto, st.settings.max_overlay_events)
    try:
        rules = st.rules.request(snap, version, name, None, customer)
    except RulesError as exc:
        return {"error": str(exc), "items": [], "rules": None}
    res = rule_lists.recommend(snap, customer, overlay, PREVIEW_N, exclude_seen=True,
                               explain=False, event_weights=st.settings.event_weights,
                               unknown="fallback", new=new, rules=rules)
    return {"error": None, "items": _entries(ctx, res), "rules": res.rules,
            "strategy": res.strategy}


def _default_customer(ctx: ConsoleContext) -> str:
    model = ctx.served().model
    counts = np.asarray(model.user_count_)
    return str(model.users_.id(int(np.argmax(counts)))) if len(counts) else ""


def placement_routes(router: APIRouter, ctx: ConsoleContext, respond: Any) -> None:
    """``/placements`` and ``/placements/{name}`` (see the module docstring)."""
    st = ctx.service

    @router.get("/placements", response_class=HTMLResponse)
    def placements_page(request: Request) -> Response:
        def build(c: dict[str, Any]) -> Any:
            c.update(placements=[{"name": k, "pretty": _pretty(v["rules"]), **v}
                                 for k, v in st.rules.placements().items()],
                     base=_pretty(st.settings.base_rules))
            return "placements.html", 200
        return respond(request, "placements", build)

    @router.get("/placements/{name}", response_class=HTMLResponse)
    def placement_page(request: Request, name: str, customer: str = "") -> Response:
        def build(c: dict[str, Any]) -> Any:
            got = st.rules.placements().get(name)
            if got is None:
                c.update(title="No such placement",
                         message=f"There is no placement {name!r}.")
                return "error.html", 404
            who = customer.strip() or _default_customer(ctx)
            c.update(name=name, placement=got, pretty=_pretty(got["rules"]),
                     default_pretty=None if got["default"] is None else
                     _pretty(got["default"]), customer=who,
                     ruled=preview(ctx, name, who), plain=preview(ctx, None, who))
            return "placement.html", 200
        return respond(request, "placements", build)
