"""Small SVG charts written on the server (no plotting library, no script, no external asset).

Every text that goes into the SVG is escaped; numbers are formatted by Python. The charts use
presentation attributes only (no ``style`` attributes), so the console's Content Security
Policy needs no ``unsafe-inline``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "bar_chart", "line_chart", "minute_bars"]

#: Series colours (colour-blind safe, Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")

_FONT = 'font-family="system-ui, sans-serif"'


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 0.5:
        out.append(round(v, 10))
        v += step
    return out


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _frame(width: int, height: int, title: str, label: str, left: int,
           heading_y: int = 16) -> list[str]:
    """The opening of a chart: the ``<svg>`` element, its title and the visible heading."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}" '
            f'class="chart">',
            f'<title>{escape(title)}</title>',
            f'<text x="{left}" y="{heading_y}" {_FONT} font-size="13" font-weight="600" '
            f'fill="#222">{escape(title)}</text>']


def _no_values(out: list[str], left: int, y: float) -> str:
    """Close a chart that has nothing to draw with a "no values" note."""
    out.append(f'<text x="{left}" y="{y}" {_FONT} font-size="12" '
               f'fill="#666">no values</text></svg>')
    return "".join(out)


def line_chart(x: Sequence[float], series: dict[str, Sequence[float | None]], *, title: str,
               x_label: str, y_label: str, highlight: str | None = None, width: int = 520,
               height: int = 280) -> str:
    """Lines of ``series`` (name -> y per x) against ``x``; ``highlight`` drawn thicker."""
    left, right, top, bottom = 56, 130, 28, 42
    pw, ph = width - left - right, height - top - bottom
    ys = [v for vals in series.values() for v in vals if v is not None and math.isfinite(v)]
    out = _frame(width, height, title, f"{title}: {y_label} against {x_label}", left)
    if not ys or not x:
        return _no_values(out, left, top + ph / 2)
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 0.01
    yt = _ticks(lo - pad, hi + pad)
    y0, y1 = yt[0], yt[-1]
    x0, x1 = min(x), max(x)
    span = (x1 - x0) or 1.0

    def px(v: float) -> float:
        return left + (v - x0) / span * pw

    def py(v: float) -> float:
        return top + ph - (v - y0) / ((y1 - y0) or 1.0) * ph

    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" {_FONT} font-size="11" '
                   f'text-anchor="end" fill="#555">{_fmt(t)}</text>')
    for v in x:
        out.append(f'<text x="{px(v):.1f}" y="{top + ph + 16}" {_FONT} font-size="11" '
                   f'text-anchor="middle" fill="#555">{_fmt(v)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" {_FONT} font-size="11" '
               f'text-anchor="middle" fill="#333">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{top + ph / 2}" {_FONT} font-size="11" text-anchor="middle" '
               f'fill="#333" transform="rotate(-90 14 {top + ph / 2})">{escape(y_label)}</text>')
    for k, (name, vals) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        pts = [(px(a), py(b)) for a, b in zip(x, vals, strict=False)
               if b is not None and math.isfinite(b)]
        if not pts:
            continue
        thick = 3 if name == highlight else 1.6
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="{thick}"/>')
        for a, b in pts:
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.6" fill="{colour}"/>')
        ly = top + 10 + k * 18
        out.append(f'<rect x="{left + pw + 12}" y="{ly - 8}" width="12" height="3" '
                   f'fill="{colour}"/>')
        weight = ' font-weight="700"' if name == highlight else ""
        out.append(f'<text x="{left + pw + 28}" y="{ly - 3}" {_FONT} font-size="11"{weight} '
                   f'fill="#222">{escape(name[:16])}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(groups: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str,
              y_label: str, highlight: str | None = None, width: int = 520,
              height: int = 280) -> str:
    """Grouped bars: one group per entry of ``groups``, one bar per series in each."""
    left, right, top, bottom = 56, 130, 28, 58
    pw, ph = width - left - right, height - top - bottom
    ys = [v for vals in series.values() for v in vals if v is not None and math.isfinite(v)]
    out = _frame(width, height, title, f"{title}: {y_label} by {', '.join(series)}", left)
    if not ys or not groups:
        return _no_values(out, left, top + ph / 2)
    yt = _ticks(min(0.0, min(ys)), max(ys) * 1.08 if max(ys) > 0 else 1.0)
    y0, y1 = yt[0], yt[-1]

    def py(v: float) -> float:
        return top + ph - (v - y0) / ((y1 - y0) or 1.0) * ph

    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" {_FONT} font-size="11" '
                   f'text-anchor="end" fill="#555">{_fmt(t)}</text>')
    gw = pw / len(groups)
    n = max(1, len(series))
    bw = min(28.0, gw * 0.8 / n)
    for g, name in enumerate(groups):
        gx = left + g * gw + (gw - bw * n) / 2
        for k, vals in enumerate(series.values()):
            v = vals[g] if g < len(vals) else None
            if v is None or not math.isfinite(v):
                continue
            colour = PALETTE[k % len(PALETTE)]
            ya, yb = py(max(v, 0.0)), py(min(v, 0.0))
            out.append(f'<rect x="{gx + k * bw:.1f}" y="{ya:.1f}" width="{bw - 2:.1f}" '
                       f'height="{max(yb - ya, 0.5):.1f}" fill="{colour}">'
                       f'<title>{escape(name)}: {_fmt(v)}</title></rect>')
        weight = ' font-weight="700"' if name == highlight else ""
        label = name if len(name) <= 18 else name[:17] + "…"
        out.append(f'<text x="{left + g * gw + gw / 2:.1f}" y="{top + ph + 16}" {_FONT} '
                   f'font-size="11"{weight} text-anchor="middle" fill="#222">'
                   f'{escape(label)}</text>')
    out.append(f'<text x="14" y="{top + ph / 2}" {_FONT} font-size="11" text-anchor="middle" '
               f'fill="#333" transform="rotate(-90 14 {top + ph / 2})">{escape(y_label)}</text>')
    for k, name in enumerate(series):
        ly = top + 10 + k * 18
        out.append(f'<rect x="{left + pw + 12}" y="{ly - 9}" width="10" height="10" '
                   f'fill="{PALETTE[k % len(PALETTE)]}"/>')
        out.append(f'<text x="{left + pw + 28}" y="{ly}" {_FONT} font-size="11" fill="#222">'
                   f'{escape(name[:16])}</text>')
    out.append("</svg>")
    return "".join(out)


def minute_bars(counts: Sequence[tuple[str, int]], *, title: str, width: int = 1000,
                height: int = 180) -> str:
    """Events per minute: one bar per ``(label, count)``; every tenth label is shown."""
    left, right, top, bottom = 44, 12, 24, 30
    pw, ph = width - left - right, height - top - bottom
    out = _frame(width, height, title, title, left, heading_y=15)
    top_v = max([c for _, c in counts] + [1])
    yt = [t for t in _ticks(0, top_v, 4) if float(t).is_integer()] if top_v >= 4 \
        else list(range(int(top_v) + 1))
    y1 = yt[-1] or 1

    def py(v: float) -> float:
        return top + ph - v / y1 * ph

    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" {_FONT} font-size="11" '
                   f'text-anchor="end" fill="#555">{_fmt(t)}</text>')
    n = max(1, len(counts))
    bw = pw / n
    for k, (label, c) in enumerate(counts):
        x = left + k * bw
        if c:
            out.append(f'<rect x="{x + 1:.1f}" y="{py(c):.1f}" width="{max(bw - 2, 1):.1f}" '
                       f'height="{ph - (py(c) - top):.1f}" fill="{PALETTE[0]}">'
                       f'<title>{escape(label)}: {c}</title></rect>')
        if k % 10 == 0 or k == n - 1:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{top + ph + 16}" {_FONT} '
                       f'font-size="11" text-anchor="middle" fill="#555">{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)
