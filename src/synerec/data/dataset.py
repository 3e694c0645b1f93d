"""The interaction data set: who interacted with what, how much, when, and what the items are."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec.data.filters import RowFilter, parse_filters
from synerec.data.report import BadRows, OnBadRows, ReadReport, check_on_bad_rows
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError, DataFormatError

__all__ = ["DuplicatePolicy", "IdCase", "InteractionDataset", "parse_numbers"]

log = logging.getLogger(__name__)

DuplicatePolicy = Literal["error", "first", "last", "mean", "sum", "max"]
DUPLICATE_POLICIES: tuple[str, ...] = ("error", "first", "last", "mean", "sum", "max")
IdCase = Literal["keep", "lower", "upper"]
#: Column names that hold counts or amounts, not ratings: reading one as ratings is refused
#: unless the scale is given (``rating_scale=(low, high)``).
_COUNT_LIKE = re.compile(r"(^|[^a-z])(qty|quantity|quantities|count|counts|clicks?|views?|units|"
                         r"amount|price|revenue|sales|purchases?|orders?|n)([^a-z]|$)")
ITEM_TEXT_COLUMNS = ("title", "description", "category")


def parse_numbers(
    values: pd.Series | np.ndarray,
    *,
    column: str,
    path: str | Path | None = None,
    first_line: int | None = None,
    lines: np.ndarray | None = None,
    integer: bool = False,
    allow_missing: bool = False,
) -> np.ndarray:
    """Convert a column of strings (or numbers) to float64, naming the first bad cell.

    Parameters
    ----------
    values
        The cells.
    column
        Column name for the message.
    path, first_line, lines
        Where the cells came from: the file, and either the line of the first cell (one cell per
        line) or each cell's line.
    integer
        Require whole numbers.
    allow_missing
        Return NaN for empty cells instead of raising.
    """
    out, raw, missing, bad = _number_cells(values, integer=integer)
    if not allow_missing:
        bad |= missing
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        line = _line_of(r, first_line, lines)
        if missing[r]:
            raise DataFormatError(f"missing value in column {column!r}", path=path, line=line,
                                  column=column)
        kind = "an integer" if integer else "a number"
        raise DataFormatError(f"expected {kind}", path=path, line=line, column=column,
                              value=_scalar(raw.iloc[r]), has_value=True)
    return out


def _number_cells(values: pd.Series | np.ndarray, *, integer: bool = False
                  ) -> tuple[np.ndarray, pd.Series, np.ndarray, np.ndarray]:
    """``(float64 values, raw cells, missing mask, bad mask)`` of a column; NaN where missing or
    bad. ``bad``: not a (finite) number, or not whole when ``integer``; empty cells are
    ``missing``, not ``bad``."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    raw = s  # the cells as they were, for messages (read with .iloc)
    if s.dtype.kind in "fiub":
        out = s.to_numpy(dtype=np.float64)
        missing = np.isnan(out)
    else:
        stripped = as_text(s).str.strip()
        missing = (stripped.isna() | (stripped == "")).to_numpy(dtype=bool)
        out = to_float(stripped, missing)
    bad = np.isnan(out) & ~missing
    if integer:
        bad |= ~np.isnan(out) & (out != np.round(out))
    bad |= np.isinf(out)
    return out, raw, missing, bad


def as_text(s: pd.Series) -> pd.Series:
    """A column as a pandas string Series (no copy when it already is one)."""
    if s.dtype != object and pd.api.types.is_string_dtype(s.dtype):
        return s
    return s.astype("string")


def to_float(text: pd.Series, missing: np.ndarray | None = None) -> np.ndarray:
    """float64 of text cells, NaN where a cell is missing or not a number.

    numpy's C conversion first (fast on a clean column); pandas' per-cell coercion only when
    some cell is not a number.
    """
    if missing is None:
        missing = (text.isna() | (as_text(text).str.strip() == "")).to_numpy(bool)
    cells = text.to_numpy(dtype=object, na_value="")
    out = np.full(len(cells), np.nan)
    present = ~missing
    try:
        out[present] = cells[present].astype(np.float64)
    except (ValueError, TypeError):
        out[present] = pd.to_numeric(pd.Series(cells[present]), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
    return out


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python one, so that messages read ``7.0``, not ``np.float64(7.0)``."""
    return value.item() if isinstance(value, np.generic) else value


def _line_of(row: int, first_line: int | None, lines: np.ndarray | None) -> int | None:
    if lines is not None:
        return int(lines[row])
    if first_line is not None:
        return first_line + row
    return None


@dataclass(eq=False)
class InteractionDataset:
    """A users x items interaction log with its catalogue.

    Attributes
    ----------
    users, items
        Id vocabularies; indices are the rows and columns of :attr:`matrix`.
    user_index, item_index
        One entry per interaction (int32 indices).
    values
        Rating (explicit feedback) or weight (implicit: purchases, quantities), float32.
    timestamps
        Unix seconds per interaction (int64) or ``None``.
    item_info
        Catalogue indexed by item id in vocabulary order: ``title``, ``description``,
        ``category`` (``|``-separated when an item has several) and any extra text columns.
    user_info
        Optional user attributes indexed by user id in vocabulary order.
    rating_scale
        ``(low, high)`` for explicit ratings, ``None`` for implicit data.
    name
        Data set name (``ml-100k``, ``demo-shop``, a file name, ...).
    splits
        Named official test sets: a boolean mask over interactions per split name (``u1`` ..
        ``u5``, ``ua``, ``ub`` for ml-100k). Training part = the complement.
    report
        How the table became this data set (:class:`~synerec.data.report.ReadReport`: rows
        read, filtered, skipped as bad, duplicates merged), or ``None``.
    source
        How to read the data set again, as plain JSON values: ``{"name": ..., "options":
        {...}}`` for a named data set, ``{"config": {...}}`` for a file with its reading
        options (:class:`~synerec.data.config.DatasetConfig`), or ``None`` (built in memory).
        A saved model keeps it, so commands need no ``--dataset`` again.
    """

    users: Vocabulary
    items: Vocabulary
    user_index: np.ndarray
    item_index: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray | None = None
    item_info: pd.DataFrame | None = None
    user_info: pd.DataFrame | None = None
    rating_scale: tuple[float, float] | None = None
    name: str = "dataset"
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    report: ReadReport | None = None
    source: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.user_index = np.ascontiguousarray(self.user_index, dtype=np.int32)
        self.item_index = np.ascontiguousarray(self.item_index, dtype=np.int32)
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        n = len(self.user_index)
        if len(self.item_index) != n or len(self.values) != n:
            raise ValueError("user_index, item_index and values must have the same length")
        if self.timestamps is not None:
            self.timestamps = np.ascontiguousarray(self.timestamps, dtype=np.int64)
            if len(self.timestamps) != n:
                raise ValueError("timestamps must have one entry per interaction")
        if n and (self.user_index.min() < 0 or self.user_index.max() >= len(self.users)):
            raise ValueError("user_index out of the user vocabulary's range")
        if n and (self.item_index.min() < 0 or self.item_index.max() >= len(self.items)):
            raise ValueError("item_index out of the item vocabulary's range")
        if self.item_info is None:
            self.item_info = pd.DataFrame(index=pd.Index(self.items.ids, name="item_id"))
        for col in ITEM_TEXT_COLUMNS:
            if col not in self.item_info.columns:
                self.item_info[col] = ""
        for name, mask in self.splits.items():
            if mask.dtype != bool or len(mask) != n:
                raise ValueError(f"split {name!r} must be a boolean mask over interactions")

    # -- sizes --------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of users in the vocabulary (rows of :attr:`matrix`)."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items in the vocabulary (columns of :attr:`matrix`)."""
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        """Number of interactions in the log."""
        return len(self.user_index)

    def __len__(self) -> int:
        return self.n_interactions

    @property
    def implicit(self) -> bool:
        """Whether values are implicit weights rather than ratings on a scale."""
        return self.rating_scale is None

    # -- views --------------------------------------------------------------------------------
    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Users x items CSR matrix of float32 values (sorted indices, no duplicates)."""
        m = sp.csr_matrix(
            (self.values, (self.user_index, self.item_index)),
            shape=(self.n_users, self.n_items), dtype=np.float32,
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    def item_categories(self) -> list[tuple[str, ...]]:
        """Each item's categories (split on ``|``), in vocabulary order."""
        assert self.item_info is not None
        return [tuple(c for c in str(v).split("|") if c) for v in self.item_info["category"]]

    def to_dataframe(self) -> pd.DataFrame:
        """The log with external ids: ``user_id, item_id, rating[, timestamp]``."""
        df = pd.DataFrame({
            "user_id": self.users.ids_of(self.user_index),
            "item_id": self.items.ids_of(self.item_index),
            "rating": self.values,
        })
        if self.timestamps is not None:
            df["timestamp"] = self.timestamps
        return df

    def subset(self, rows: np.ndarray, name: str | None = None) -> InteractionDataset:
        """The interactions selected by ``rows`` (mask or indices), with the same vocabularies.

        Splits keep the id spaces of the full data set so train and test matrices align.
        """
        rows = np.asarray(rows)
        if rows.dtype == bool and len(rows) != self.n_interactions:
            raise ValueError("boolean row mask must have one entry per interaction")
        return InteractionDataset(
            users=self.users, items=self.items,
            user_index=self.user_index[rows], item_index=self.item_index[rows],
            values=self.values[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
            item_info=self.item_info, user_info=self.user_info, rating_scale=self.rating_scale,
            name=name or self.name,
        )

    def summary(self) -> dict[str, Any]:
        """Sizes and value statistics, for reports and the CLI."""
        n = self.n_interactions
        density = n / max(1, self.n_users * self.n_items)
        out: dict[str, Any] = {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n,
            "density": density,
            "feedback": "implicit" if self.implicit else "explicit",
            "rating_scale": list(self.rating_scale) if self.rating_scale else None,
            "mean_value": float(self.values.mean()) if n else float("nan"),
            "categories": len({c for cats in self.item_categories() for c in cats}),
            "splits": sorted(self.splits),
        }
        if self.timestamps is not None and n:
            out["first_timestamp"] = int(self.timestamps.min())
            out["last_timestamp"] = int(self.timestamps.max())
        return out

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        *,
        user_col: str = "user_id",
        item_col: str = "item_id",
        rating_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
        weight_col: str | None = None,
        implicit: bool | None = None,
        title_col: str | None = None,
        category_col: str | None = None,
        description_col: str | None = None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        rating_scale: tuple[float, float] | Literal["infer"] | None = "infer",
        duplicates: DuplicatePolicy | None = None,
        where: str | list[str] | None = None,
        id_case: IdCase | Mapping[str, IdCase] = "keep",
        on_bad_rows: OnBadRows = "error",
        name: str = "dataset",
        path: str | Path | None = None,
        first_line: int | None = None,
        lines: np.ndarray | None = None,
        keep_all_items: bool = True,
        bad_rows: BadRows | None = None,
    ) -> InteractionDataset:
        """Build a data set from a table with named columns.

        Parameters
        ----------
        df
            One row per interaction.
        user_col, item_col
            Id columns (any hashable values; strings that look like integers stay strings).
        rating_col
            Column of explicit ratings; ``None`` for unary implicit feedback (value 1). Not used
            with ``implicit=True`` (name a ``weight_col`` instead).
        timestamp_col
            Unix seconds (milliseconds are recognised), ISO 8601 times or datetimes. The
            default ``"timestamp"`` is ignored when absent; a column named otherwise must exist.
        weight_col
            Implicit feedback with a confidence weight per row (a quantity, a count, a
            duration): each row is a positive interaction, weighted; a negative weight (a return)
            is a bad row.
            Implies ``implicit=True``.
        implicit
            ``True``: purchases, clicks, plays: every row is a positive interaction (value 1,
            or ``weight_col``), never a rating; ``False``: ratings from ``rating_col``;
            ``None`` (default): implicit when ``weight_col`` is given, ``rating_col`` is
            ``None`` or ``rating_scale`` is ``None`` (``rating_col`` then holds weights).
        title_col, category_col, description_col
            Catalogue columns of the log itself: each item gets its most frequent non-empty
            value (ties: the alphabetically first). A separate ``items`` catalogue wins where
            it has a value.
        items
            Catalogue with an ``item_id`` (or ``item_col``) column or index and any of
            ``title``, ``description``, ``category`` (or the columns named by ``title_col``,
            ...) and extra text columns. Its items join the vocabulary (when
            ``keep_all_items``) even if nobody interacted with them (cold-start items).
        users
            User attributes with a ``user_id`` column or index.
        rating_scale
            ``(low, high)``: ratings outside it are bad rows; ``"infer"``: the observed min and
            max of explicit ratings, refused for values that do not look like ratings (outside
            0..10 or finer than half steps) and for count-like column names (``quantity``,
            ``clicks``, ...); ``None``: implicit weights.
        duplicates
            What to do with repeated (user, item) pairs: ``"error"``, keep the ``"first"`` or
            ``"last"`` (by timestamp when present, else by row order), or take the ``"mean"``,
            ``"sum"`` or ``"max"``. Default: ``"error"`` for ratings (two ratings of one item
            disagree), ``"sum"`` for implicit data (repeat purchases add up). The number of
            rows merged is in :attr:`report`.
        where
            Row filters such as ``"Quantity > 0"`` or ``"InvoiceNo !~ ^C"``
            (:mod:`synerec.data.filters`); rows failing one are dropped and counted.
        id_case
            ``"lower"`` or ``"upper"``: fold the case of string ids (e-mail addresses, SKUs
            typed in two cases), in the log and the catalogue; a mapping such as
            ``{"user": "lower", "item": "upper"}`` folds each kind its own way.
        on_bad_rows
            ``"error"`` (default): raise one :class:`~synerec.exceptions.BadRowsError` listing
            every bad row (missing id, value that is not a number, bad timestamp, rating outside
            the scale, ...; up to :data:`~synerec.data.report.MAX_LISTED` shown, all counted);
            ``"skip"``: drop those rows whole and say so in :attr:`report` and the log.
        name
            Data set name.
        path, first_line, lines
            Where rows came from, so that errors name the file and line.
        keep_all_items
            Whether catalogue items without interactions enter the item vocabulary.
        bad_rows
            Problems the file reader already found (lines it could not split into fields).

        Raises
        ------
        BadRowsError
            Bad rows with ``on_bad_rows="error"``.
        DataFormatError
            A missing column, a duplicate pair with ``duplicates="error"``, no usable row.
        ConfigError
            Options that contradict each other (``weight_col`` with ``implicit=False``).
        """
        on_bad_rows = check_on_bad_rows(on_bad_rows)
        user_case, item_case = parse_id_case(id_case)
        if duplicates is not None and duplicates not in DUPLICATE_POLICIES:
            raise DataFormatError(f"unknown duplicates policy {duplicates!r}; use error, first, "
                                  "last, mean, sum or max")
        filters = parse_filters(where)
        value_col, implicit = _value_column(rating_col, weight_col, implicit, rating_scale)
        if implicit and isinstance(rating_scale, tuple):
            raise ConfigError(f"a rating scale {rating_scale} does not apply to implicit "
                              "feedback; drop it, or read ratings with implicit=False")
        in_catalogue = set(items.columns) if items is not None else set()
        _check_columns(df, path, user_col=user_col, item_col=item_col, value_col=value_col,
                       implicit=implicit, weight_col=weight_col, timestamp_col=timestamp_col,
                       title_col=title_col, category_col=category_col,
                       description_col=description_col, filters=filters,
                       in_catalogue=in_catalogue)
        if timestamp_col is not None and timestamp_col not in df.columns:
            timestamp_col = None
        n = len(df)
        line_label = bad_rows.line_label if bad_rows is not None else "line"
        report_rows = BadRows(path, line_label=line_label)
        if bad_rows is not None:
            report_rows.extend(bad_rows)
        row_lines = (np.asarray(lines, np.int64) if lines is not None
                     else first_line + np.arange(n, dtype=np.int64) if first_line is not None
                     else None)

        def add(problem: str, mask: np.ndarray, column: str | None,
                values: np.ndarray | pd.Series | None = None) -> None:
            rows = np.flatnonzero(mask)
            if rows.size == 0:
                return
            cells = None
            if values is not None:  # only the bad rows' cells are converted
                cells = (values.iloc[rows].to_numpy(dtype=object)
                         if isinstance(values, pd.Series) else np.asarray(values)[rows])
            report_rows.add(problem, rows=rows, column=column,
                            lines=None if row_lines is None else row_lines[rows],
                            values=cells)

        # 1. filters: each row counted under the first filter that drops it
        keep = np.ones(n, dtype=bool)
        filtered: dict[str, int] = {}
        for f in filters:
            holds, bad = f.evaluate(df[f.column])
            add(f"expected a number (for the filter {f.text!r})", keep & bad, f.column,
                df[f.column])
            drop = keep & ~holds & ~bad
            filtered[f.text] = int(drop.sum())
            keep &= ~drop
        # 2. every cell a kept row needs
        for col in (user_col, item_col):
            add(f"missing id in column {col!r}", keep & _missing_ids(df[col]), col)
        values = np.ones(n, dtype=np.float64)
        if value_col is not None:
            values, raw, missing, bad = _number_cells(df[value_col])
            add(f"missing value in column {value_col!r}", keep & missing, value_col)
            add("expected a number", keep & bad, value_col, raw)
            if implicit:
                with np.errstate(invalid="ignore"):
                    add("negative weight", keep & (values < 0), value_col, values)
            elif isinstance(rating_scale, tuple):
                lo, hi = float(rating_scale[0]), float(rating_scale[1])
                if lo >= hi:
                    raise DataFormatError(f"rating scale must have low < high, got "
                                          f"{rating_scale}")
                with np.errstate(invalid="ignore"):
                    add(f"rating outside the scale {lo:g}..{hi:g}",
                        keep & ((values < lo) | (values > hi)), value_col, values)
        timestamps = None
        if timestamp_col is not None:
            timestamps, ts_missing, ts_bad = _timestamp_cells(df[timestamp_col])
            add(f"missing timestamp in column {timestamp_col!r}", keep & ts_missing,
                timestamp_col)
            add("expected a timestamp", keep & ts_bad, timestamp_col,
                df[timestamp_col])
        # 3. bad rows: one error listing them all, or dropped whole and reported
        if report_rows:
            if on_bad_rows == "error":
                raise report_rows.error(hint="--on-bad-rows skip (on_bad_rows='skip') drops "
                                             "bad rows and lists them")
            keep &= ~report_rows.row_mask(n)
            summary = "; ".join(report_rows.summary())
            log.warning("%s: skipped %d bad rows: %s", path if path is not None else name,
                        report_rows.n_bad_rows, summary)
        if n and not keep.any():
            raise DataFormatError("no usable row is left"
                                  + (" after the filters" if filtered else "")
                                  + (f" ({report_rows.n_bad_rows} bad rows)" if report_rows
                                     else ""), path=path)
        pos = np.flatnonzero(keep)
        kept_lines = None if row_lines is None else row_lines[pos]
        user_ids = _normalise_ids(df[user_col].iloc[pos], user_case)
        item_ids = _normalise_ids(df[item_col].iloc[pos], item_case)
        values = values[pos]
        scale: tuple[float, float] | None = None
        scale_inferred = False
        if not implicit:
            if rating_scale == "infer":
                assert value_col is not None
                scale = _infer_scale(values, value_col, path)
                scale_inferred = True
            else:
                scale = (float(rating_scale[0]), float(rating_scale[1]))  # type: ignore[index]

        frame = pd.DataFrame({"u": user_ids, "i": item_ids, "v": values})
        if timestamps is not None:
            frame["t"] = timestamps[pos]
        policy = duplicates or ("sum" if implicit else "error")
        n_before = len(frame)
        frame = _apply_duplicate_policy(frame, policy, path=path, lines=kept_lines, pos=pos)

        item_info = _catalogue(items, "item_id", alt_key=item_col, id_case=item_case,
                               rename={title_col: "title", category_col: "category",
                                       description_col: "description"}) \
            if items is not None else None
        log_info = _catalogue_from_log(
            df.iloc[pos], item_ids, {target: col for target, col in (
                ("title", title_col), ("category", category_col),
                ("description", description_col)) if col in df.columns})
        if log_info is not None:
            item_info = log_info if item_info is None else _fill_catalogue(item_info, log_info)
            if items is None:
                keep_all_items = True  # the log's own items: nothing extra joins
        user_info = _catalogue(users, "user_id", id_case=user_case) if users is not None \
            else None
        user_vocab = Vocabulary.from_values(frame["u"], kind="user")
        if item_info is not None and keep_all_items:
            item_vocab = Vocabulary.from_values(
                pd.concat([frame["i"], pd.Series(item_info.index, dtype=frame["i"].dtype)
                           if len(item_info) else frame["i"]]), kind="item")
        else:
            item_vocab = Vocabulary.from_values(frame["i"], kind="item")
        if user_info is not None:
            user_info = user_info.reindex(user_vocab.ids)
            user_info.index.name = "user_id"
        if item_info is not None:
            item_info = item_info.reindex(item_vocab.ids)
            item_info.index.name = "item_id"
            for col in item_info.columns:
                if item_info[col].dtype == object or pd.api.types.is_string_dtype(
                        item_info[col].dtype):
                    item_info[col] = item_info[col].fillna("")
        report = ReadReport(
            source=str(path) if path is not None else name, rows_read=n, filtered=filtered,
            bad_rows=report_rows, on_bad_rows=on_bad_rows, duplicates=policy,
            duplicates_merged=n_before - len(frame),
            feedback="implicit" if implicit else "explicit", value_column=value_col,
            interactions=len(frame), rating_scale=scale, scale_inferred=scale_inferred)
        return cls(
            users=user_vocab, items=item_vocab,
            user_index=user_vocab.indices(frame["u"].to_numpy()),
            item_index=item_vocab.indices(frame["i"].to_numpy()),
            values=frame["v"].to_numpy(np.float32),
            timestamps=frame["t"].to_numpy(np.int64) if "t" in frame else None,
            item_info=item_info, user_info=user_info, rating_scale=scale, name=name,
            report=report,
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> InteractionDataset:
        """Read a CSV, TSV, Parquet or JSON-lines interaction file (:func:`read_interactions`)."""
        from synerec.data.readers import read_interactions

        return read_interactions(path, **kwargs)


def parse_id_case(id_case: str | Mapping[str, str]) -> tuple[str, str]:
    """``(user case, item case)`` from ``"lower"``, ``{"user": "lower"}`` or
    ``"user=lower,item=upper"`` (the command line's form)."""
    cases = ("keep", "lower", "upper")
    if isinstance(id_case, str) and "=" in id_case:
        try:
            id_case = dict(part.split("=", 1) for part in id_case.replace(" ", "").split(","))
        except ValueError:
            raise ConfigError(f"id_case must be keep, lower, upper or user=...,item=..., not "
                              f"{id_case!r}") from None
    if isinstance(id_case, str):
        if id_case not in cases:
            raise ConfigError(f"id_case must be keep, lower or upper, not {id_case!r}")
        return id_case, id_case
    extra = set(id_case) - {"user", "item"}
    values = [id_case.get("user", "keep"), id_case.get("item", "keep")]
    if extra or any(v not in cases for v in values):
        raise ConfigError(f"id_case must map user and item to keep, lower or upper, not "
                          f"{dict(id_case)!r}")
    return values[0], values[1]


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


def _check_columns(df: pd.DataFrame, path: Any, *, user_col: str, item_col: str,
                   value_col: str | None, implicit: bool, weight_col: str | None,
                   timestamp_col: str | None, title_col: str | None, category_col: str | None,
                   description_col: str | None, filters: list[RowFilter],
                   in_catalogue: set[str]) -> None:
    """Every column the options name must exist (catalogue columns in the log or in the
    catalogue); the message says how to name another."""
    cols = list(df.columns)
    for col, flag in ((user_col, "user_col"), (item_col, "item_col")):
        if col not in df.columns:
            raise DataFormatError(f"missing column {col!r}; columns are {cols}; name the "
                                  f"column with --{flag.replace('_', '-')} ({flag}=)", path=path)
    if value_col is not None and value_col not in df.columns:
        if implicit:
            flag = "weight_col" if weight_col is not None else "rating_col"
            raise DataFormatError(f"missing column {value_col!r}; columns are {cols}; name the "
                                  f"weight column with --{flag.replace('_', '-')} ({flag}=)",
                                  path=path)
        raise DataFormatError(
            f"missing column {value_col!r}; columns are {cols}; name the rating column with "
            "--rating-col (rating_col=), or read purchases, clicks or views as implicit "
            "feedback with --implicit (implicit=True), and --weight-col (weight_col=) for a "
            "quantity or count", path=path)
    named = [(timestamp_col, "timestamp_col (--time-col)"), (title_col, "title_col"),
             (category_col, "category_col"), (description_col, "description_col")]
    for col, what in named:
        if col is None or col in df.columns or (col == "timestamp"
                                                and what.startswith("timestamp")):
            continue
        if not what.startswith("timestamp") and col in in_catalogue:
            continue  # a catalogue column, named the catalogue's way
        where = " or the catalogue" if in_catalogue else ""
        raise DataFormatError(f"missing column {col!r} (given as {what}) in the log{where}; "
                              f"the log's columns are {cols}", path=path)
    for f in filters:
        if f.column not in df.columns:
            raise DataFormatError(f"the filter {f.text!r} names no column of the table; columns "
                                  f"are {cols}", path=path)


def _missing_ids(ids: pd.Series) -> np.ndarray:
    missing = ids.isna().to_numpy(dtype=bool)
    if ids.dtype == object or pd.api.types.is_string_dtype(ids.dtype):  # "str": pandas 3
        # (not in place: pandas 3 hands out read-only arrays)
        missing = missing | (as_text(ids).str.strip() == "").fillna(True).to_numpy(
            dtype=bool)
    return missing


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


def _normalise_ids(s: pd.Series, id_case: str = "keep") -> np.ndarray:
    if s.dtype.kind in "iu":
        return s.to_numpy(np.int64)
    if s.dtype.kind == "f":
        arr = s.to_numpy()
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr
    text = as_text(s).str.strip()
    if id_case == "lower":
        text = text.str.lower()
    elif id_case == "upper":
        text = text.str.upper()
    return text.to_numpy(dtype=object)


_EPOCH_MS = 1e11  # seconds beyond this are the year 5138: the column holds milliseconds


def _timestamp_cells(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unix seconds int64, missing mask, bad mask)`` of a time column (0 where missing/bad).

    Numbers are unix seconds (milliseconds when they exceed 1e11); text is ISO 8601 or any
    format pandas recognises; times without an offset are taken as UTC.
    """
    n = len(s)
    out = np.zeros(n, dtype=np.int64)
    if pd.api.types.is_datetime64_any_dtype(s):
        ts = s
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        missing = ts.isna().to_numpy(dtype=bool)
        secs = ts.to_numpy(dtype="datetime64[ns]").astype("datetime64[s]").astype(np.int64)
        out[~missing] = secs[~missing]
        return out, missing, np.zeros(n, dtype=bool)
    if s.dtype.kind in "fiub":
        num = s.to_numpy(np.float64)
        missing = np.isnan(num)
        text = None
        is_num = ~missing
    else:
        text = as_text(s).str.strip()
        missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
        # Only cells that look like numbers go through to_numeric (slow on date strings).
        looks = text.str.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?").fillna(
            False).to_numpy(dtype=bool)
        num = np.full(n, np.nan)
        if looks.any():
            num[looks] = to_float(text[looks], np.zeros(int(looks.sum()), dtype=bool))
        is_num = ~np.isnan(num)
    bad = np.zeros(n, dtype=bool)
    if is_num.any():
        vals = num[is_num]
        if np.isinf(vals).any():
            bad[is_num] = np.isinf(vals)
        finite = is_num & ~bad
        scale = 1000.0 if np.abs(num[finite]).max(initial=0) > _EPOCH_MS else 1.0
        out[finite] = np.floor(num[finite] / scale).astype(np.int64)
    if text is not None:
        rest = ~missing & ~is_num
        if rest.any():
            cells = text[rest]
            parsed = pd.to_datetime(cells, errors="coerce", format="ISO8601", utc=True)
            retry = parsed.isna().to_numpy(dtype=bool)
            if retry.any():
                parsed[retry] = pd.to_datetime(cells[retry], errors="coerce", format="mixed",
                                               utc=True)
            ok = parsed.notna().to_numpy(dtype=bool)
            idx = np.flatnonzero(rest)
            good = parsed[ok].dt.tz_convert("UTC").dt.tz_localize(None)
            out[idx[ok]] = good.to_numpy(dtype="datetime64[ns]").astype(
                "datetime64[s]").astype(np.int64)
            bad[idx[~ok]] = True
    return out, missing, bad


def _apply_duplicate_policy(frame: pd.DataFrame, policy: str, *, path: Any,
                            lines: np.ndarray | None, pos: np.ndarray) -> pd.DataFrame:
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
        pair = (_scalar(frame["u"].iloc[r]), _scalar(frame["i"].iloc[r]))
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


def _catalogue(table: pd.DataFrame, key: str, *, alt_key: str | None = None,
               id_case: str = "keep", rename: dict[str | None, str] | None = None
               ) -> pd.DataFrame:
    t = table.copy()
    if key not in t.columns and alt_key is not None and alt_key in t.columns:
        t = t.rename(columns={alt_key: key})
    if key in t.columns:
        t = t.set_index(key)
    if rename:
        t = t.rename(columns={src: dst for src, dst in rename.items()
                              if src is not None and src in t.columns and dst not in t.columns})
    t.index = pd.Index(_normalise_ids(pd.Series(t.index), id_case), name=key)
    if not t.index.is_unique:
        dup = t.index[t.index.duplicated()][0]
        raise DataFormatError(f"duplicate {key} in catalogue", value=_scalar(dup), has_value=True)
    return t


def _catalogue_from_log(df: pd.DataFrame, item_ids: np.ndarray,
                        columns: dict[str, str | None]) -> pd.DataFrame | None:
    """Per item, the most frequent non-empty value of each named column (ties: smallest)."""
    named = {target: col for target, col in columns.items() if col is not None}
    if not named:
        return None
    out = pd.DataFrame(index=pd.Index(pd.unique(pd.Series(item_ids)), name="item_id"))
    for target, col in named.items():
        cells = as_text(df[col]).fillna("").str.strip().to_numpy(dtype=object)
        t = pd.DataFrame({"i": item_ids, "v": cells})
        t = t[t["v"] != ""]
        counts = t.groupby(["i", "v"], sort=False).size().reset_index(name="n")
        counts = counts.sort_values(["i", "n", "v"], ascending=[True, False, True],
                                    kind="stable")
        best = counts.drop_duplicates("i").set_index("i")["v"]
        out[target] = best.reindex(out.index).fillna("").to_numpy(dtype=object)
    return out


def _fill_catalogue(catalogue: pd.DataFrame, from_log: pd.DataFrame) -> pd.DataFrame:
    """The catalogue, with empty cells (and items it lacks) filled from the log's columns."""
    out = catalogue.reindex(catalogue.index.union(from_log.index, sort=False))
    for col in from_log.columns:
        log_values = from_log[col].reindex(out.index).fillna("")
        if col in out.columns:
            current = out[col].astype("string").fillna("").str.strip()
            out[col] = np.where(current == "", log_values, out[col].fillna(""))
        else:
            out[col] = log_values
    return out
