"""The console's experiments pages: ``/experiments`` and ``/experiments/{name}``.

Each experiment's running figures per variant (users, lists, CTR, conversion, revenue per
user) with their 95 % intervals and the differences to the control, as the service computes
them (:func:`synerec.service.experiment_routes.experiment_json`), an SVG chart of the three
figures with their intervals, and the link to the CSV export
(``/v1/experiments/{name}/results.csv``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from synerec.console.charts import PALETTE
from synerec.console.context import ConsoleContext
from synerec.service.experiment_routes import experiment_json

__all__ = ["add_experiment_routes", "interval_chart"]

_FONT = 'font-family="system-ui, sans-serif"'

Page = Callable[[Request, str, Callable[[dict[str, Any]], Any]], Response]

#: The figures shown per variant: (key, label, scale to show, unit).
FIGURES = (("ctr", "CTR", 100.0, "%"), ("conversion", "Conversion", 100.0, "%"),
           ("revenue_per_user", "Revenue per user", 1.0, ""))


def add_experiment_routes(router: APIRouter, ctx: ConsoleContext, respond: Page) -> None:
    """Add ``/experiments`` and ``/experiments/{name}`` to the console's router."""
    st = ctx.service

    @router.get("/experiments", response_class=HTMLResponse)
    def experiments_page(request: Request) -> Response:
        def build(c: dict[str, Any]) -> Any:
            c.update(experiments=experiment_views(st))
            return "experiments.html", 200
        return respond(request, "experiments", build)

    @router.get("/experiments/{name}", response_class=HTMLResponse)
    def experiment_page(request: Request, name: str) -> Response:
        def build(c: dict[str, Any]) -> Any:
            cfg = st.experiments.get(name)
            if cfg is None:
                c.update(title="No such experiment",
                         message=f"There is no experiment called {name}.")
                return "error.html", 404
            exp = _view(experiment_json(st, cfg))
            c.update(exp=exp, charts=[interval_chart(
                [r["variant"] for r in exp["results"]],
                [r[key] for r in exp["results"]], [r[f"{key}_ci"] for r in exp["results"]],
                title=f"{label} per variant (95 % interval)", scale=scale, unit=unit)
                for key, label, scale, unit in FIGURES])
            return "experiment.html", 200
        return respond(request, "experiments", build)


def experiment_views(st: Any) -> list[dict[str, Any]]:
    """Every experiment of the service with its figures formatted (the experiments page and
    the model page show them)."""
    return [_view(experiment_json(st, cfg)) for cfg in st.experiments.all()]


def _pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.{digits}f} %"


def _money(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:,.2f}"


def _view(exp: dict[str, Any]) -> dict[str, Any]:
    """The experiment with its figures formatted for the page."""
    for r in exp.get("results", []):
        r["fmt"] = {
            "ctr": _pct(r["ctr"]), "ctr_ci": " – ".join(_pct(x) for x in r["ctr_ci"]),
            "conversion": _pct(r["conversion"]),
            "conversion_ci": " – ".join(_pct(x) for x in r["conversion_ci"]),
            "rpu": _money(r["revenue_per_user"]),
            "rpu_ci": " – ".join(_money(x) for x in r["revenue_per_user_ci"]),
        }
        vs = r["vs_control"]
        if vs is not None:
            r["fmt"].update({
                "ctr_diff": _pct(vs["ctr_diff"]),
                "ctr_diff_ci": " – ".join(_pct(x) for x in vs["ctr_diff_ci"]),
                "conversion_diff": _pct(vs["conversion_diff"]),
                "conversion_diff_ci": " – ".join(_pct(x) for x in vs["conversion_diff_ci"]),
                "rpu_diff": _money(vs["revenue_per_user_diff"]),
                "rpu_diff_ci": " – ".join(_money(x) for x in vs["revenue_per_user_diff_ci"])})
    return exp


def interval_chart(labels: Sequence[str], values: Sequence[float | None],
                   intervals: Sequence[Sequence[float]], *, title: str, scale: float = 1.0,
                   unit: str = "", width: int = 400, row: int = 34) -> str:
    """One row per variant: the value as a dot, its 95 % interval as a whisker (SVG)."""
    left, right, top = 80, 24, 34
    height = top + row * max(1, len(labels)) + 30
    pw = width - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
           f'class="chart">', f"<title>{escape(title)}</title>",
           f'<text x="{left}" y="18" {_FONT} font-size="13" font-weight="600" fill="#222">'
           f"{escape(title)}</text>"]
    ends = [x * scale for iv in intervals for x in iv if math.isfinite(x)]
    ends += [v * scale for v in values if v is not None and math.isfinite(v)]
    if not ends or not labels:
        out.append(f'<text x="{left}" y="{top + 16}" {_FONT} font-size="12" fill="#666">'
                   "no values</text></svg>")
        return "".join(out)
    lo, hi = min(0.0, min(ends)), max(ends)
    hi = hi if hi > lo else lo + 1.0

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    base = top + row * len(labels)
    for k in range(5):
        t = lo + (hi - lo) * k / 4
        out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top - 6}" y2="{base}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{px(t):.1f}" y="{base + 16}" {_FONT} font-size="11" '
                   f'text-anchor="middle" fill="#555">{t:.3g}{escape(unit)}</text>')
    for k, (name, v, iv) in enumerate(zip(labels, values, intervals, strict=True)):
        y = top + row * k + row / 2
        colour = PALETTE[k % len(PALETTE)]
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" {_FONT} font-size="12" '
                   f'text-anchor="end" fill="#222">{escape(name[:16])}</text>')
        a, b = (x * scale for x in iv)
        if math.isfinite(a) and math.isfinite(b):
            out.append(f'<line x1="{px(a):.1f}" x2="{px(b):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="{colour}" stroke-width="2"/>')
            for e in (a, b):
                out.append(f'<line x1="{px(e):.1f}" x2="{px(e):.1f}" y1="{y - 6:.1f}" '
                           f'y2="{y + 6:.1f}" stroke="{colour}" stroke-width="2"/>')
        if v is not None and math.isfinite(v):
            out.append(f'<circle cx="{px(v * scale):.1f}" cy="{y:.1f}" r="5" fill="{colour}">'
                       f"<title>{escape(name)}: {v * scale:.4g}{escape(unit)} "
                       f"({a:.4g} to {b:.4g})</title></circle>")
    out.append("</svg>")
    return "".join(out)
