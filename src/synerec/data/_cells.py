"""Cells of a table read as numbers, ids and times, with every bad cell found (not only the first).

The parsing under :meth:`~synerec.data.InteractionDataset.from_dataframe`, the loaders and the
row filters; :func:`parse_numbers`, :func:`as_text` and :func:`to_float` are also importable from
:mod:`synerec.data.dataset`, where they were first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec.exceptions import DataFormatError

__all__ = ["as_text", "line_of", "missing_ids", "normalise_ids", "number_cells", "parse_numbers",
           "scalar", "timestamp_cells", "to_float"]


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
    out, raw, missing, bad = number_cells(values, integer=integer)
    if not allow_missing:
        bad |= missing
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        line = line_of(r, first_line, lines)
        if missing[r]:
            raise DataFormatError(f"missing value in column {column!r}", path=path, line=line,
                                  column=column)
        kind = "an integer" if integer else "a number"
        raise DataFormatError(f"expected {kind}", path=path, line=line, column=column,
                              value=scalar(raw.iloc[r]), has_value=True)
    return out


def number_cells(values: pd.Series | np.ndarray, *, integer: bool = False
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


def scalar(value: Any) -> Any:
    """A numpy scalar as the Python one, so that messages read ``7.0``, not ``np.float64(7.0)``."""
    return value.item() if isinstance(value, np.generic) else value


def line_of(row: int, first_line: int | None, lines: np.ndarray | None) -> int | None:
    if lines is not None:
        return int(lines[row])
    if first_line is not None:
        return first_line + row
    return None


def missing_ids(ids: pd.Series) -> np.ndarray:
    """Which id cells are missing: NaN/None, or empty or blank text."""
    missing = ids.isna().to_numpy(dtype=bool)
    if ids.dtype == object or pd.api.types.is_string_dtype(ids.dtype):  # "str": pandas 3
        # (not in place: pandas 3 hands out read-only arrays)
        missing = missing | (as_text(ids).str.strip() == "").fillna(True).to_numpy(
            dtype=bool)
    return missing


def normalise_ids(s: pd.Series, id_case: str = "keep") -> np.ndarray:
    """Ids as int64 when they are whole numbers, else stripped text (case-folded by
    ``id_case``: ``keep``, ``lower`` or ``upper``)."""
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


def timestamp_cells(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
