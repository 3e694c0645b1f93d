"""The rows of a table checked before they become interactions.

The steps of :meth:`~synerec.data.InteractionDataset.from_dataframe` up to the id
vocabularies, in order: :func:`plan_reading` (what the options mean for this table; options
that contradict each other and columns that are not there are refused before any row is read),
:func:`check_rows` (row filters, then every cell a kept row needs, every bad row found at once
and either raised in one error or dropped whole) and :func:`interaction_frame` (the kept rows
as ``u, i, v[, t]`` with the rating scale and the duplicates policy applied).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from synerec.data._cells import (
    missing_ids,
    normalise_ids,
    number_cells,
    scalar,
    timestamp_cells,
)
from synerec.data.filters import RowFilter, parse_filters
from synerec.data.options import DUPLICATE_POLICIES, ReadOptions, parse_id_case
from synerec.data.report import BadRows, OnBadRows, check_on_bad_rows
from synerec.exceptions import ConfigError, DataFormatError

__all__ = ["CheckedRows", "ReadPlan", "check_rows", "interaction_frame", "plan_reading"]

#: The data layer's logger for what reading did (skipped rows, merged duplicates, an inferred
#: scale): the one :func:`synerec.cli.data_options.quiet_reading` silences.
log = logging.getLogger("synerec.data.dataset")

#: Column names that hold counts or amounts, not ratings: reading one as ratings is refused
#: unless the scale is given (``rating_scale=(low, high)``).
_COUNT_LIKE = re.compile(r"(^|[^a-z])(qty|quantity|quantities|count|counts|clicks?|views?|units|"
                         r"amount|price|revenue|sales|purchases?|orders?|n)([^a-z]|$)")


@dataclass(frozen=True)
class ReadPlan:
    """What the options mean for one table: checked, with the columns found."""

    user_col: str
    item_col: str
    #: The column of each row's value (a rating or a weight); ``None``: every row is 1.
    value_col: str | None
    implicit: bool
    #: The time column; ``None`` also when the default ``timestamp`` is absent.
    time_col: str | None
    filters: list[RowFilter]
    on_bad_rows: OnBadRows
    user_case: str
    item_case: str
    rating_scale: tuple[float, float] | Literal["infer"] | None
    #: The duplicates policy, its default resolved (error for ratings, sum for implicit).
    duplicates: str


def plan_reading(df: pd.DataFrame, opts: ReadOptions, *, path: str | Path | None,
                 catalogue_columns: set[str]) -> ReadPlan:
    """Check the options against each other and against the table's columns.

    Raises
    ------
    ConfigError
        Options that contradict each other, or an invalid value.
    DataFormatError
        An unknown duplicates policy, or a column the options name that is not there.
    """
    on_bad_rows = check_on_bad_rows(opts.on_bad_rows)
    user_case, item_case = parse_id_case(opts.id_case)
    duplicates = opts.duplicates
    if duplicates is not None and duplicates not in DUPLICATE_POLICIES:
        raise DataFormatError(f"unknown duplicates policy {duplicates!r}; use error, first, "
                              "last, mean, sum or max")
    filters = parse_filters(opts.where)
    value_col, implicit = _value_column(opts.rating_col, opts.weight_col, opts.implicit,
                                        opts.rating_scale)
    if implicit and isinstance(opts.rating_scale, tuple):
        raise ConfigError(f"a rating scale {opts.rating_scale} does not apply to implicit "
                          "feedback; drop it, or read ratings with implicit=False")
    _check_columns(df, path, opts, value_col=value_col, implicit=implicit, filters=filters,
                   in_catalogue=catalogue_columns)
    time_col = opts.time_col if opts.time_col is not None and opts.time_col in df.columns \
        else None
    return ReadPlan(
        user_col=opts.user_col, item_col=opts.item_col, value_col=value_col, implicit=implicit,
        time_col=time_col, filters=filters, on_bad_rows=on_bad_rows, user_case=user_case,
        item_case=item_case, rating_scale=opts.rating_scale,
        duplicates=duplicates or ("sum" if implicit else "error"))


def _value_column(rating_col: str | None, weight_col: str | None, implicit: bool | None,
                  rating_scale: Any) -> tuple[str | None, bool]:
    """The column holding each row's value, and whether the data are implicit feedback."""
    if weight_col is not None:
        if implicit is False:
            raise ConfigError(f"weight_col={weight_col!r} is for implicit feedback (a "
                              "quantity or count per row); for ratings use rating_col")
        return weight_col, True
    if implicit:
        return None, True
    if rating_col is None:
        if implicit is False:
            raise ConfigError("explicit ratings need a rating_col")
        return None, True
    if rating_scale is None and implicit is None:
        return rating_col, True  # rating_scale=None: the column holds implicit weights
    return rating_col, False


def _check_columns(df: pd.DataFrame, path: Any, opts: ReadOptions, *, value_col: str | None,
                   implicit: bool, filters: list[RowFilter], in_catalogue: set[str]) -> None:
    """Every column the options name must exist (catalogue columns in the log or in the
    catalogue); the message says how to name another."""
    cols = list(df.columns)
    for col, flag in ((opts.user_col, "user_col"), (opts.item_col, "item_col")):
        if col not in df.columns:
            raise DataFormatError(f"missing column {col!r}; columns are {cols}; name the "
                                  f"column with --{flag.replace('_', '-')} ({flag}=)", path=path)
    if value_col is not None and value_col not in df.columns:
        if implicit:
            flag = "weight_col" if opts.weight_col is not None else "rating_col"
            raise DataFormatError(f"missing column {value_col!r}; columns are {cols}; name the "
                                  f"weight column with --{flag.replace('_', '-')} ({flag}=)",
                                  path=path)
        raise DataFormatError(
            f"missing column {value_col!r}; columns are {cols}; name the rating column with "
            "--rating-col (rating_col=), or read purchases, clicks or views as implicit "
            "feedback with --implicit (implicit=True), and --weight-col (weight_col=) for a "
            "quantity or count", path=path)
    if opts.time_col is not None and opts.time_col not in df.columns \
            and opts.time_col != "timestamp":  # the default column: used when present
        raise DataFormatError(f"missing column {opts.time_col!r} (given as time_col) in the "
                              f"log{_or_catalogue(in_catalogue)}; the log's columns are {cols}",
                              path=path)
    named = [(opts.title_col, "title_col"), (opts.category_col, "category_col"),
             (opts.description_col, "description_col")]
    for text_col, what in named:
        if text_col is None or text_col in df.columns or text_col in in_catalogue:
            continue  # in the catalogue: a catalogue column, named the catalogue's way
        raise DataFormatError(f"missing column {text_col!r} (given as {what}) in the "
                              f"log{_or_catalogue(in_catalogue)}; the log's columns are {cols}",
                              path=path)
    for f in filters:
        if f.column not in df.columns:
            raise DataFormatError(f"the filter {f.text!r} names no column of the table; columns "
                                  f"are {cols}", path=path)


def _or_catalogue(in_catalogue: set[str]) -> str:
    return " or the catalogue" if in_catalogue else ""


@dataclass
class CheckedRows:
    """The rows of a table after the filters and the cell checks."""

    #: Rows that become interactions (not filtered out, not bad).
    keep: np.ndarray
    #: Each row's value as float64 (1 where there is no value column; NaN where bad).
    values: np.ndarray
    #: Each row's unix seconds, or ``None`` without a time column.
    timestamps: np.ndarray | None
    #: Rows dropped by each filter, by its text.
    filtered: dict[str, int]
    #: Every bad row found (those of the file reader too).
    bad: BadRows
    #: Each row's line in its file, or ``None``.
    lines: np.ndarray | None


class _BadRowCollector:
    """Records the rows of a mask as bad, with their lines and (converted only for them)
    cells."""

    def __init__(self, bad: BadRows, lines: np.ndarray | None) -> None:
        self.bad = bad
        self.lines = lines

    def add(self, problem: str, mask: np.ndarray, column: str | None,
            values: np.ndarray | pd.Series | None = None) -> None:
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        cells = None
        if values is not None:  # only the bad rows' cells are converted
            cells = (values.iloc[rows].to_numpy(dtype=object)
                     if isinstance(values, pd.Series) else np.asarray(values)[rows])
        self.bad.add(problem, rows=rows, column=column,
                     lines=None if self.lines is None else self.lines[rows], values=cells)


def check_rows(df: pd.DataFrame, plan: ReadPlan, *, path: str | Path | None, name: str,
               first_line: int | None, lines: np.ndarray | None,
               bad_rows: BadRows | None) -> CheckedRows:
    """Filter the rows, check every cell a kept row needs, and settle the bad rows.

    Raises
    ------
    BadRowsError
        Bad rows with ``on_bad_rows="error"``: every one, in one message.
    DataFormatError
        No usable row left, or a rating scale with ``low >= high``.
    """
    n = len(df)
    report_rows = BadRows(path, line_label=bad_rows.line_label if bad_rows is not None
                          else "line")
    if bad_rows is not None:
        report_rows.extend(bad_rows)
    row_lines = (np.asarray(lines, np.int64) if lines is not None
                 else first_line + np.arange(n, dtype=np.int64) if first_line is not None
                 else None)
    collect = _BadRowCollector(report_rows, row_lines)
    # rows the caller already found bad (a join that failed) are not checked again
    start = ~bad_rows.row_mask(n) if bad_rows is not None else np.ones(n, dtype=bool)
    keep, filtered = _apply_filters(df, plan.filters, collect, start)
    for col in (plan.user_col, plan.item_col):
        collect.add(f"missing id in column {col!r}", keep & missing_ids(df[col]), col)
    values = _value_cells(df, plan, keep, collect)
    timestamps = None
    if plan.time_col is not None:
        timestamps, ts_missing, ts_bad = timestamp_cells(df[plan.time_col])
        collect.add(f"missing timestamp in column {plan.time_col!r}", keep & ts_missing,
                    plan.time_col)
        collect.add("expected a timestamp", keep & ts_bad, plan.time_col, df[plan.time_col])
    keep = _settle_bad_rows(report_rows, keep, plan.on_bad_rows, path=path, name=name,
                            filtered=bool(filtered))
    return CheckedRows(keep=keep, values=values, timestamps=timestamps, filtered=filtered,
                       bad=report_rows, lines=row_lines)


def _apply_filters(df: pd.DataFrame, filters: list[RowFilter], collect: _BadRowCollector,
                   start: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """The rows of ``start`` that every filter keeps; each dropped row counted under the first
    filter that drops it. A cell a filter cannot compare is a bad row."""
    keep = start.copy()
    filtered: dict[str, int] = {}
    for f in filters:
        holds, bad = f.evaluate(df[f.column])
        collect.add(f"expected a number (for the filter {f.text!r})", keep & bad, f.column,
                    df[f.column])
        drop = keep & ~holds & ~bad
        filtered[f.text] = int(drop.sum())
        keep &= ~drop
    return keep, filtered


def _value_cells(df: pd.DataFrame, plan: ReadPlan, keep: np.ndarray,
                 collect: _BadRowCollector) -> np.ndarray:
    """Each row's value (1 without a value column), its bad cells recorded: missing, not a
    number, a negative weight, a rating outside a given scale."""
    if plan.value_col is None:
        return np.ones(len(df), dtype=np.float64)
    col = plan.value_col
    values, raw, missing, bad = number_cells(df[col])
    collect.add(f"missing value in column {col!r}", keep & missing, col)
    collect.add("expected a number", keep & bad, col, raw)
    if plan.implicit:
        with np.errstate(invalid="ignore"):
            collect.add("negative weight", keep & (values < 0), col, values)
    elif isinstance(plan.rating_scale, tuple):
        lo, hi = float(plan.rating_scale[0]), float(plan.rating_scale[1])
        if lo >= hi:
            raise DataFormatError(f"rating scale must have low < high, got {plan.rating_scale}")
        with np.errstate(invalid="ignore"):
            collect.add(f"rating outside the scale {lo:g}..{hi:g}",
                        keep & ((values < lo) | (values > hi)), col, values)
    return values


def _settle_bad_rows(report_rows: BadRows, keep: np.ndarray, on_bad_rows: OnBadRows, *,
                     path: str | Path | None, name: str, filtered: bool) -> np.ndarray:
    """Raise one error listing every bad row, or drop them whole (logged); the rows kept."""
    n = len(keep)
    if report_rows:
        if on_bad_rows == "error":
            raise report_rows.error(hint="--on-bad-rows skip (on_bad_rows='skip') drops "
                                         "bad rows and lists them")
        keep = keep & ~report_rows.row_mask(n)
        summary = "; ".join(report_rows.summary())
        log.warning("%s: skipped %d bad rows: %s", path if path is not None else name,
                    report_rows.n_bad_rows, summary)
    if n and not keep.any():
        raise DataFormatError("no usable row is left"
                              + (" after the filters" if filtered else "")
                              + (f" ({report_rows.n_bad_rows} bad rows)" if report_rows
                                 else ""), path=path)
    return keep


@dataclass
class Interactions:
    """The kept rows as interactions: ``frame`` (``u, i, v[, t]``, duplicates settled)."""

    frame: pd.DataFrame
    #: The kept rows' positions in the table.
    pos: np.ndarray
    #: The kept rows' item ids (before duplicates are settled: one per kept row).
    item_ids: np.ndarray
    rating_scale: tuple[float, float] | None
    scale_inferred: bool
    #: Rows merged into others by the duplicates policy.
    duplicates_merged: int


def interaction_frame(df: pd.DataFrame, plan: ReadPlan, rows: CheckedRows, *,
                      path: str | Path | None) -> Interactions:
    """The kept rows with normalised ids, the rating scale settled and repeated pairs merged.

    Raises
    ------
    DataFormatError
        Values that do not look like ratings (an inferred scale), or a repeated pair with
        ``duplicates="error"``.
    """
    pos = np.flatnonzero(rows.keep)
    kept_lines = None if rows.lines is None else rows.lines[pos]
    user_ids = normalise_ids(df[plan.user_col].iloc[pos], plan.user_case)
    item_ids = normalise_ids(df[plan.item_col].iloc[pos], plan.item_case)
    values = rows.values[pos]
    scale, inferred = _rating_scale(plan, values, path)
    frame = pd.DataFrame({"u": user_ids, "i": item_ids, "v": values})
    if rows.timestamps is not None:
        frame["t"] = rows.timestamps[pos]
    n_before = len(frame)
    frame = _apply_duplicate_policy(frame, plan.duplicates, path=path, lines=kept_lines, pos=pos)
    return Interactions(frame=frame, pos=pos, item_ids=item_ids, rating_scale=scale,
                        scale_inferred=inferred, duplicates_merged=n_before - len(frame))


def _rating_scale(plan: ReadPlan, values: np.ndarray, path: Any
                  ) -> tuple[tuple[float, float] | None, bool]:
    """``(scale, inferred)``: ``None`` for implicit feedback."""
    if plan.implicit:
        return None, False
    if plan.rating_scale == "infer":
        assert plan.value_col is not None  # explicit feedback has a rating column
        return _infer_scale(values, plan.value_col, path), True
    if plan.rating_scale is None:
        raise ConfigError("explicit ratings need a rating scale: give rating_scale=(low, high) "
                          "or 'infer'")
    return (float(plan.rating_scale[0]), float(plan.rating_scale[1])), False


def _infer_scale(values: np.ndarray, column: str, path: Any) -> tuple[float, float]:
    """The observed min..max of explicit ratings, refusing what is plainly not a rating."""
    if len(values) == 0:
        raise DataFormatError("no ratings to infer a rating scale from", path=path)
    lo, hi = float(values.min()), float(values.max())
    how = (f"give the scale with --rating-scale LOW,HIGH (rating_scale=(low, high)) if they "
           f"are ratings, or read them as implicit feedback with --weight-col {column} "
           f"(weight_col={column!r})")
    if _COUNT_LIKE.search(column.lower()):
        raise DataFormatError(f"column {column!r} sounds like a count or an amount, not a "
                              f"rating (values {lo:g}..{hi:g}); {how}", path=path)
    if lo < 0 or hi > 10 or not np.all(values * 2 == np.round(values * 2)):
        raise DataFormatError(f"the values of column {column!r} ({lo:g}..{hi:g}) do not look "
                              f"like ratings on a scale (0..10 in half steps); {how}", path=path)
    if lo == hi:
        raise DataFormatError(f"every rating in column {column!r} is {lo:g}: a rating scale "
                              f"cannot be inferred; {how}", path=path)
    log.info("rating scale %g..%g inferred from column %r", lo, hi, column)
    return lo, hi


def _apply_duplicate_policy(frame: pd.DataFrame, policy: str, *, path: Any,
                            lines: np.ndarray | None, pos: np.ndarray) -> pd.DataFrame:
    """Repeated ``(u, i)`` pairs refused (``error``) or merged into one row."""
    dup = frame.duplicated(subset=["u", "i"], keep=False)
    if not dup.any():
        return frame
    extra = frame.duplicated(subset=["u", "i"]).to_numpy()
    n_extra = int(extra.sum())
    if policy == "error":
        r = int(np.flatnonzero(extra)[0])
        line = None if lines is None else int(lines[r])
        where = "" if line is not None or path is not None else f" (row {int(pos[r])})"
        more = f" (and {n_extra - 1} more repeated rows)" if n_extra > 1 else ""
        pair = (scalar(frame["u"].iloc[r]), scalar(frame["i"].iloc[r]))
        raise DataFormatError(
            f"duplicate (user, item) pair {pair!r}{where}{more}; choose a duplicates policy "
            "(--duplicates or duplicates=: first, last, mean, sum, max)",
            path=path, line=line,
        )
    if policy in ("first", "last"):
        ordered = frame.sort_values("t", kind="stable") if "t" in frame else frame
        out = ordered.drop_duplicates(subset=["u", "i"], keep=policy).sort_index()
    elif policy in ("mean", "sum", "max"):
        agg: dict[str, str] = {"v": policy}
        if "t" in frame:
            agg["t"] = "max"
        out = frame.groupby(["u", "i"], sort=False, as_index=False).agg(agg)
    else:
        raise DataFormatError(f"unknown duplicates policy {policy!r}; use error, first, last, "
                              "mean, sum or max")
    log.info("duplicates=%s: merged %d repeated (user, item) rows into %d pairs", policy,
             n_extra, int(dup.sum()) - n_extra)
    return out.reset_index(drop=True)
