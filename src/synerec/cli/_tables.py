"""Terminal tables that fit the console's width without cutting a cell.

Rich shrinks a table that is wider than the console by cutting cells (``popul…``,
``NDCG@…``, ``0.72… ± 0.00…``). The tables here are laid out so that they never need to be
cut: short metric headers (:func:`metric_label`), one row per model with the fold means only
(the ``± std`` parts are in ``--format json``), and the columns split over several stacked
tables that repeat the key column when the table is too wide. One layout whatever the number
of models; every cell is printed in full at the console's width (80 columns in the tests).

Use :func:`metric_table` for model-by-metric summaries (``demo``, ``evaluate``) and
:func:`fitted_table` for any other grid of short cells (the K sweep's K-by-model tables).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.measure import Measurement
from rich.table import Table

__all__ = ["METRIC_LABELS", "fits", "fitted_table", "format_metric", "metric_label",
           "metric_table", "slice_table"]

#: Short terminal headers of metric names (the part before ``@n``; ``@n`` is kept).
METRIC_LABELS: dict[str, str] = {
    "mae": "MAE", "rmse": "RMSE", "precision": "P", "recall": "R", "ndcg": "nDCG",
    "map": "MAP", "mrr": "MRR", "hit_rate": "HR", "hitrate": "HR", "hits": "HR",
    "auc": "AUC", "coverage": "Cov", "category_coverage": "CatCov",
    "item_coverage": "Cov", "novelty": "Nov", "diversity": "Div",
    "fit_seconds": "fit s", "predict_seconds": "pred s", "recommend_seconds": "rec s",
    "peak_memory_mb": "MB",
}


def metric_label(name: str) -> str:
    """The short header of a metric: ``ndcg@10`` -> ``nDCG@10``, ``precision@10`` -> ``P@10``.

    Unknown names are returned as they are.
    """
    base, at, n = str(name).partition("@")
    short = METRIC_LABELS.get(base.lower(), base)
    return f"{short}@{n}" if at else short


#: Columns of whole counts (shown without decimals) and of shares (shown as percentages).
COUNT_METRICS = frozenset({"test_users", "hits", "n_test_users", "n_hits", "users", "pairs"})
SHARE_METRICS = frozenset({"cold_share"})


def format_metric(name: str, value: Any) -> str:
    """A metric value as a table shows it: seconds with 2 decimals (3 significant digits under
    0.1 s), megabytes and counts whole, shares as percentages, anything else with 4 decimals;
    ``-`` for a missing value (text that is not a number is shown as it is)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "-"
    if name in COUNT_METRICS:
        return f"{v:,.0f}"
    if name in SHARE_METRICS:
        return f"{v:.0%}" if v == 0 or v >= 0.01 else "<1%"
    if name.endswith("_seconds"):
        return f"{v:.3g}" if abs(v) < 0.1 else f"{v:.2f}"
    if name.endswith("_mb"):
        return f"{v:.0f}"
    return f"{v:.4f}"


def fits(renderable: RenderableType, width: int, console: Console | None = None) -> bool:
    """Whether ``renderable`` is printed within ``width`` columns without being shrunk."""
    console = console or Console(width=width)
    # Measured without a limit: Measurement.get clamps the maximum to the width it is given.
    wide = 1 << 16
    options = console.options.update(width=wide, max_width=wide)
    return Measurement.get(console, options, renderable).maximum <= width


#: The column alignments a table takes, by name.
_JUSTIFY: dict[str, JustifyMethod] = {"default": "default", "left": "left", "center": "center",
                                      "right": "right", "full": "full"}


def _table(title: str | None, header: Sequence[str], rows: Sequence[Sequence[str]],
           justify: Sequence[str], caption: str | None) -> Table:
    table = Table(title=title, caption=caption)
    for k, (h, j) in enumerate(zip(header, justify, strict=True)):
        # Laid out to fit, so nothing wraps. Should a key (a model name) be wider than the
        # whole console, it folds onto more lines while the values keep their full width.
        if k == 0:
            table.add_column(h, justify=_JUSTIFY[j], style="bold", overflow="fold")
        else:
            width = max([len(h), *(len(r[k]) for r in rows)])
            table.add_column(h, justify=_JUSTIFY[j], no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    return table


def _split(header: Sequence[str], rows: Sequence[Sequence[str]], justify: Sequence[str],
           width: int, console: Console) -> list[list[int]]:
    """Greedy groups of value-column indices (1-based) such that each group's table fits."""
    groups: list[list[int]] = []
    current: list[int] = []
    for c in range(1, len(header)):
        trial = [*current, c]
        cols = [0, *trial]
        t = _table(None, [header[k] for k in cols], [[r[k] for k in cols] for r in rows],
                   [justify[k] for k in cols], None)
        if current and not fits(t, width, console):
            groups.append(current)
            current = [c]
        else:
            current = trial
    if current:
        groups.append(current)
    return groups


def fitted_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None,
                 caption: str | None = None, width: int | None = None,
                 console: Console | None = None,
                 justify: Sequence[str] | None = None) -> RenderableType:
    """A table of ``rows`` under ``header`` (the first column is the key) that fits ``width``.

    When the whole table is too wide, the value columns are split over several stacked tables
    that each repeat the key column, so no cell is ever cut.

    Parameters
    ----------
    header
        Column headers, key column first.
    rows
        Cells as strings, one list per row.
    title, caption
        Shown above and below (wrapped, never cut).
    width
        Columns available (default: the console's width).
    console
        The console it is printed on (for measuring).
    justify
        Per column (default: key left, values right).
    """
    console = console or Console()
    width = width or console.width
    justify = list(justify) if justify is not None else ["left"] + ["right"] * (len(header) - 1)
    whole = _table(title, header, rows, justify, caption)
    if len(header) <= 2 or fits(whole, width, console):
        return whole
    groups = _split(header, rows, justify, width, console)
    parts: list[RenderableType] = []
    for g, cols in enumerate(groups):
        full = [0, *cols]
        parts.append(_table(
            title if g == 0 else None, [header[k] for k in full],
            [[r[k] for k in full] for r in rows], [justify[k] for k in full],
            caption if g == len(groups) - 1 else None))
    return Group(*parts)


def metric_table(summary: Any, metrics: Sequence[str], *, title: str,
                 key: str = "model", width: int | None = None, console: Console | None = None,
                 std_suffix: str = "_std", labels: Mapping[str, str] | None = None,
                 caption: str | None = None) -> RenderableType:
    """A model-by-metric summary laid out to fit ``width`` columns without cutting a cell.

    One layout whatever the number of models: one row per model, the fold means in the cells
    (the caption says the standard deviations are in ``--format json``), the value columns
    split over several stacked tables that repeat the model column when the table is too wide.

    Parameters
    ----------
    summary
        A :class:`pandas.DataFrame` indexed by model, with a column per metric and optionally
        ``<metric>_std`` columns (fold standard deviations).
    metrics
        Metric columns to show, in order (missing ones are left out).
    title
        Table title.
    key
        Header of the model column.
    width
        Columns available (default: the console's width).
    console
        The console it is printed on.
    std_suffix
        Suffix of the standard-deviation columns.
    labels
        Header per metric (default :func:`metric_label`).
    caption
        Text under the table.
    """
    console = console or Console()
    width = width or console.width
    cols = [m for m in metrics if m in summary.columns]
    names = [str(m) for m in summary.index]
    header = [key] + [(labels or {}).get(m, metric_label(m)) for m in cols]
    plain = [[n, *(format_metric(m, row[m]) for m in cols)]
             for n, (_, row) in zip(names, summary.iterrows(), strict=True)]
    has_std = any(f"{m}{std_suffix}" in summary.columns
                  and summary[f"{m}{std_suffix}"].fillna(0).astype(bool).any() for m in cols)
    note = "± std over folds in --format json" if has_std else None
    joined = "; ".join(x for x in (caption, note) if x) or None
    return fitted_table(header, plain, title=title, caption=joined, width=width,
                        console=console)



#: The count columns of a slice entry (the other keys are metrics).
_SLICE_COUNTS = ("users", "pairs", "hits")


def slice_table(slices: Mapping[str, Mapping[str, Mapping[str, Any]]], *, title: str,
                intervals: Mapping[str, Mapping[str, str]] | None = None,
                interval_header: str = "", key: str = "model / slice",
                width: int | None = None, console: Console | None = None,
                caption: str | None = None) -> RenderableType:
    """The slices of new-item protocols: one row per (model, slice), laid out to fit.

    Parameters
    ----------
    slices
        ``{model: {slice: {"users", "hits", metric: value}}}`` (the JSON's ``slices``).
    title
        Table title.
    intervals
        ``{model: {slice: cell}}``: the interval column's cells (``ref.`` for the reference);
        left out when ``None``.
    interval_header
        Its header.
    key, width, console, caption
        As in :func:`fitted_table`.
    """
    metrics: list[str] = []
    for per in slices.values():
        for entry in per.values():
            metrics += [k for k in entry if k not in _SLICE_COUNTS and k not in metrics]
    header = [key, "users", "hits", *(metric_label(m) for m in metrics)]
    rows = []
    for model, per in slices.items():
        for name, entry in per.items():
            row = [f"{model} / {name}",
                   *(format_metric(m, _or_nan(entry.get(m))) for m in ("users", "hits")),
                   *(format_metric(m, _or_nan(entry.get(m))) for m in metrics)]
            if intervals is not None:
                row.append(intervals.get(model, {}).get(name, "-"))
            rows.append(row)
    if intervals is not None:
        header.append(interval_header)
    return fitted_table(header, rows, title=title, caption=caption, width=width,
                        console=console)


def _or_nan(value: Any) -> Any:
    return float("nan") if value is None else value
