"""The interaction data set: who interacted with what, how much, when, and what the items are."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import DataFormatError

__all__ = ["DuplicatePolicy", "InteractionDataset", "parse_numbers"]

log = logging.getLogger(__name__)

DuplicatePolicy = Literal["error", "first", "last", "mean", "sum", "max"]
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
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if s.dtype.kind in "fiub":
        out = s.to_numpy(dtype=np.float64)
        raw = s.to_numpy()
        missing = np.isnan(out)
    else:
        raw = s.to_numpy(dtype=object)
        stripped = s.astype("string").str.strip()
        missing = (stripped.isna() | (stripped == "")).to_numpy()
        out = pd.to_numeric(stripped.mask(missing, None), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
    bad = np.isnan(out) & ~missing
    if integer:
        bad |= ~np.isnan(out) & (out != np.round(out))
    if not allow_missing:
        bad |= missing
    if np.isinf(out).any():
        bad |= np.isinf(out)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        line = _line_of(r, first_line, lines)
        if missing[r]:
            raise DataFormatError(f"missing value in column {column!r}", path=path, line=line,
                                  column=column)
        kind = "an integer" if integer else "a number"
        raise DataFormatError(f"expected {kind}", path=path, line=line, column=column,
                              value=_scalar(raw[r]), has_value=True)
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


def _where(row: int, path: Any, first_line: int | None, lines: np.ndarray | None) -> dict[str, Any]:
    line = _line_of(row, first_line, lines)
    if path is None and line is None:
        return {"line": None, "path": None, "problem_suffix": f" (row {row})"}
    return {"line": line, "path": path, "problem_suffix": ""}


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
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        rating_scale: tuple[float, float] | Literal["infer"] | None = "infer",
        duplicates: DuplicatePolicy = "error",
        name: str = "dataset",
        path: str | Path | None = None,
        first_line: int | None = None,
        lines: np.ndarray | None = None,
        keep_all_items: bool = True,
    ) -> InteractionDataset:
        """Build a data set from a table with named columns.

        Parameters
        ----------
        df
            One row per interaction.
        user_col, item_col
            Id columns (any hashable values; strings that look like integers stay strings).
        rating_col
            Rating or weight column; ``None`` for unary implicit feedback (value 1).
        timestamp_col
            Unix seconds, or datetimes; ignored when absent from ``df``.
        items
            Catalogue with an ``item_id`` column or index and any of ``title``,
            ``description``, ``category`` and extra text columns. Its items join the vocabulary
            (when ``keep_all_items``) even if nobody interacted with them (cold-start items).
        users
            User attributes with a ``user_id`` column or index.
        rating_scale
            ``(low, high)``: ratings outside it are an error; ``"infer"``: the observed min and
            max for explicit ratings; ``None``: implicit weights.
        duplicates
            What to do with repeated (user, item) pairs: ``"error"`` (default), keep the
            ``"first"`` or ``"last"`` (by timestamp when present, else by row order), or take the
            ``"mean"``, ``"sum"`` or ``"max"``. Dropped rows are counted in the log.
        name
            Data set name.
        path, first_line, lines
            Where rows came from, so that errors name the file and line.
        keep_all_items
            Whether catalogue items without interactions enter the item vocabulary.
        """
        for col in (user_col, item_col):
            if col not in df.columns:
                raise DataFormatError(f"missing column {col!r}; columns are {list(df.columns)}",
                                      path=path)
        if rating_col is not None and rating_col not in df.columns:
            raise DataFormatError(f"missing column {rating_col!r}; columns are {list(df.columns)}",
                                  path=path)
        n = len(df)
        for col in (user_col, item_col):
            ids = df[col]
            missing = ids.isna().to_numpy()
            if ids.dtype == object or pd.api.types.is_string_dtype(ids.dtype):  # "str": pandas 3
                # (not in place: pandas 3 hands out read-only arrays)
                missing = missing | (ids.astype("string").str.strip() == "").fillna(True).to_numpy()
            if missing.any():
                r = int(np.flatnonzero(missing)[0])
                w = _where(r, path, first_line, lines)
                raise DataFormatError(f"missing id in column {col!r}{w['problem_suffix']}",
                                      path=w["path"], line=w["line"], column=col)
        user_ids = _normalise_ids(df[user_col])
        item_ids = _normalise_ids(df[item_col])
        if rating_col is None:
            values = np.ones(n, dtype=np.float64)
        else:
            values = parse_numbers(df[rating_col], column=rating_col, path=path,
                                   first_line=first_line, lines=lines)
        if rating_scale == "infer":
            rating_scale = (float(values.min()), float(values.max())) if n and rating_col else None
        if rating_scale is not None:
            lo, hi = rating_scale
            if lo >= hi:
                raise DataFormatError(f"rating scale must have low < high, got {rating_scale}")
            bad = (values < lo) | (values > hi)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                w = _where(r, path, first_line, lines)
                raise DataFormatError(
                    f"rating outside the scale {lo:g}..{hi:g}{w['problem_suffix']}",
                    path=w["path"], line=w["line"], column=rating_col,
                    value=_scalar(values[r]), has_value=True,
                )
        timestamps = None
        if timestamp_col is not None and timestamp_col in df.columns:
            timestamps = _parse_timestamps(df[timestamp_col], column=timestamp_col, path=path,
                                           first_line=first_line, lines=lines)

        frame = pd.DataFrame({"u": user_ids, "i": item_ids, "v": values})
        if timestamps is not None:
            frame["t"] = timestamps
        frame = _apply_duplicate_policy(frame, duplicates, path=path, first_line=first_line,
                                        lines=lines)

        item_info = _catalogue(items, "item_id") if items is not None else None
        user_info = _catalogue(users, "user_id") if users is not None else None
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
        return cls(
            users=user_vocab, items=item_vocab,
            user_index=user_vocab.indices(frame["u"].to_numpy()),
            item_index=item_vocab.indices(frame["i"].to_numpy()),
            values=frame["v"].to_numpy(np.float32),
            timestamps=frame["t"].to_numpy(np.int64) if "t" in frame else None,
            item_info=item_info, user_info=user_info,
            rating_scale=None if rating_scale is None else (float(rating_scale[0]),
                                                            float(rating_scale[1])),
            name=name,
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> InteractionDataset:
        """Read a CSV, TSV, Parquet or JSON-lines interaction file (:func:`read_interactions`)."""
        from synerec.data.readers import read_interactions

        return read_interactions(path, **kwargs)


def _normalise_ids(s: pd.Series) -> np.ndarray:
    if s.dtype.kind in "iu":
        return s.to_numpy(np.int64)
    if s.dtype.kind == "f":
        arr = s.to_numpy()
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return arr
    return s.astype(str).str.strip().to_numpy(dtype=object)


def _parse_timestamps(s: pd.Series, *, column: str, path: Any, first_line: int | None,
                      lines: np.ndarray | None) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        ts = s
    else:
        numeric = pd.to_numeric(s, errors="coerce")
        if numeric.notna().all():
            return parse_numbers(s, column=column, path=path, first_line=first_line,
                                 lines=lines).astype(np.int64)
        # utc=True: offsets may differ from row to row; naive times are taken as UTC.
        ts = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
        bad = ts.isna().to_numpy()
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            w = _where(r, path, first_line, lines)
            raise DataFormatError(f"expected a timestamp{w['problem_suffix']}", path=w["path"],
                                  line=w["line"], column=column, value=_scalar(s.iloc[r]),
                                  has_value=True)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return (ts.astype("datetime64[s]").astype(np.int64)).to_numpy()


def _apply_duplicate_policy(frame: pd.DataFrame, policy: str, *, path: Any,
                            first_line: int | None, lines: np.ndarray | None) -> pd.DataFrame:
    dup = frame.duplicated(subset=["u", "i"], keep=False)
    if not dup.any():
        return frame
    n_extra = int(frame.duplicated(subset=["u", "i"]).sum())
    if policy == "error":
        r = int(np.flatnonzero(frame.duplicated(subset=["u", "i"]).to_numpy())[0])
        w = _where(r, path, first_line, lines)
        raise DataFormatError(
            f"duplicate (user, item) pair {(frame['u'].iloc[r], frame['i'].iloc[r])!r}"
            f"{w['problem_suffix']}; choose a duplicates policy (first, last, mean, sum, max)",
            path=w["path"], line=w["line"],
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


def _catalogue(table: pd.DataFrame, key: str) -> pd.DataFrame:
    t = table.copy()
    if key in t.columns:
        t = t.set_index(key)
    t.index = pd.Index(_normalise_ids(pd.Series(t.index)), name=key)
    if not t.index.is_unique:
        dup = t.index[t.index.duplicated()][0]
        raise DataFormatError(f"duplicate {key} in catalogue", value=_scalar(dup), has_value=True)
    return t

