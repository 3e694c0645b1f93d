"""An export of several tables read as one interaction table: the joins of a data-set config.

:func:`read_tables` reads the tables of a :class:`~synerec.data.config.DatasetConfig` with
``[tables]`` and ``[[joins]]`` (the TOML shape is in :mod:`synerec.data.config`), joins them
into the rows' table, and reads that as any interaction table
(:meth:`~synerec.data.InteractionDataset.from_dataframe`'s steps: filters, bad rows, duplicates),
its bad rows named by the rows' file and line.

Nothing is dropped in silence:

- a line of any table that cannot be read (too many fields, too few, a quote the file ends in)
  follows ``on_bad_rows``: an error naming its file and line, or skipped and counted in the
  read report under its table;
- a repeated key in a looked-up table is a bad row of that table (the first row with the key
  is kept with ``skip``);
- a row whose lookup fails (its key empty, or not in the looked-up table) is a *bad row* when it
  needs a column that the join brings (the user, the item, the value, the time, a filter's
  column), named by the rows' file, line, column and key; when the join only brings text (a
  product's category), the row is kept without it;
- every join is counted in the read report (:class:`JoinReport`): the left table's rows, how
  many found their row, how many keys were empty or not found (with the first few, and their
  lines), and how many rows of the looked-up table no row used.

The table joined on the item column is the catalogue: all its items (a product nobody bought
too) enter the item vocabulary, with the text columns that it and the tables it looks up hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from synerec.data._cells import as_text
from synerec.data.dataset import InteractionDataset
from synerec.data.filters import parse_filters
from synerec.data.readers import format_of, read_table
from synerec.data.report import BadRows, check_on_bad_rows
from synerec.exceptions import ConfigError

if TYPE_CHECKING:  # the config holds the tables and joins declared here
    from synerec.data.config import DatasetConfig

__all__ = ["EXAMPLE_KEYS", "JoinReport", "JoinSpec", "TableRead", "TableSpec", "join_order",
           "read_tables"]

log = logging.getLogger("synerec.data.dataset")

#: How many keys not found a join's report shows (all are counted).
EXAMPLE_KEYS = 5


# -- the declarations (the keys of a config's [tables.NAME] and [[joins]]) ------------------------
class TableSpec(BaseModel):
    """One table of an export of several tables (``[tables.NAME]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="The table's file (relative to the config file).")
    format: Literal["csv", "tsv", "parquet", "jsonl"] | None = Field(
        None, description="csv, tsv, parquet or jsonl (default: from the extension).")
    encoding: str | None = Field(None, description="Text encoding (default: [data]'s).")


class JoinSpec(BaseModel):
    """One join (``[[joins]]``): each row of the left table looks up the one row of the right
    table whose column holds its key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    left: str = Field(description="table.column of the rows that look up (the key).")
    right: str = Field(description="table.column of the table looked up (unique).")

    @field_validator("left", "right")
    @classmethod
    def _qualified(cls, value: str) -> str:
        table, _, column = value.partition(".")
        if not table or not column:
            raise ValueError(f"write table.column, not {value!r}")
        return value

    @property
    def left_table(self) -> str:
        """The table of the rows that look up."""
        return self.left.partition(".")[0]

    @property
    def left_column(self) -> str:
        """Their key column."""
        return self.left.partition(".")[2]

    @property
    def right_table(self) -> str:
        """The table looked up."""
        return self.right.partition(".")[0]

    @property
    def right_column(self) -> str:
        """Its key column (unique)."""
        return self.right.partition(".")[2]


def join_order(tables: Mapping[str, Any], joins: tuple[JoinSpec, ...] | list[JoinSpec]
               ) -> tuple[str, list[JoinSpec]]:
    """``(root, joins)``: the table of the rows (the one no join looks up) and the joins in
    an order where each one's left table is the root or was looked up before.

    Raises
    ------
    ValueError
        A join naming an undeclared table, a table looked up twice, no root or several, a
        table no join reaches (the message says which and how to fix it).
    """
    names = list(tables)
    for j in joins:
        for side, table in (("left", j.left_table), ("right", j.right_table)):
            if table not in tables:
                raise ValueError(f"a join's {side} {getattr(j, side)!r} names no declared "
                                 f"table; the tables are {', '.join(names)}")
    looked_up: dict[str, JoinSpec] = {}
    for j in joins:
        if j.right_table in looked_up:
            raise ValueError(f"table {j.right_table!r} is looked up by two joins "
                             f"({looked_up[j.right_table].left} and {j.left}); each table is "
                             "looked up once, from the table that holds its key")
        looked_up[j.right_table] = j
    roots = [t for t in names if t not in looked_up]
    if len(roots) != 1:
        raise ValueError(
            "the rows must come from one table that no join looks up; "
            + (f"here {', '.join(roots)} are not looked up: join them to the rows' table"
               if roots else "every table is looked up (the joins go round in a circle)"))
    order: list[JoinSpec] = []
    reached = {roots[0]}
    pending = list(joins)
    while pending:
        ready = [j for j in pending if j.left_table in reached]
        if not ready:
            cut = ", ".join(sorted({j.right_table for j in pending}))
            raise ValueError(f"the tables {cut} are not reached from the rows' table "
                             f"{roots[0]!r} (the joins go round in a circle)")
        for j in ready:
            order.append(j)
            reached.add(j.right_table)
            pending.remove(j)
    return roots[0], order


@dataclass
class TableRead:
    """One table as read: its rows and the lines that could not be read (or repeat a key)."""

    name: str
    path: str
    rows: int
    bad_rows: BadRows
    #: Whether it is the rows' table (its bad rows are the data set's, listed with them).
    rows_table: bool = False

    def lines(self) -> list[str]:
        """Short lines for a terminal."""
        out = [f"  table {self.name} ({Path(self.path).name}): {self.rows:,} rows"]
        if self.rows_table:
            out[0] += " (the data set's rows)"
        elif self.bad_rows:
            n = self.bad_rows.n_bad_rows
            out[0] += f", {n:,} bad row{'s' if n != 1 else ''} skipped:"
            out += [f"    {line}" for line in self.bad_rows.summary()]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "path": self.path, "rows": self.rows,
                "rows_table": self.rows_table,
                "bad_rows": self.bad_rows.to_dict() if self.bad_rows else []}


@dataclass
class JoinReport:
    """What one join found, counted over the rows of its left table.

    Attributes
    ----------
    left, right
        ``table.column`` of the key and of the table looked up.
    rows
        Rows of the left table.
    matched
        Rows whose key found its row.
    empty
        Rows with an empty key.
    not_found
        Rows whose key is not in the table looked up.
    examples
        The first keys not found (distinct), each with the first line (or row) that has it.
    unused
        Rows of the looked-up table that no row found.
    needed
        Whether a row that does not join is a bad row (it needs a column the join brings);
        otherwise it is kept without the join's columns.
    """

    left: str
    right: str
    rows: int
    matched: int
    empty: int
    not_found: int
    examples: list[tuple[str, int]] = field(default_factory=list)
    unused: int = 0
    needed: bool = True

    def line(self) -> str:
        """The join in one line (what failed, and what became of those rows)."""
        table = self.left.partition(".")[0]
        text = f"  join {self.left} -> {self.right}: {self.matched:,} of {self.rows:,} {table} " \
               "rows matched"
        misses = []
        if self.not_found:
            shown = ", ".join(f"{key!r} (line {line})" for key, line in self.examples)
            more = ", ..." if self.not_found > len(self.examples) else ""
            misses.append(f"{self.not_found:,} not found: {shown}{more}")
        if self.empty:
            misses.append(f"{self.empty:,} with an empty key")
        if misses:
            fate = "bad rows" if self.needed else "kept without its columns"
            text += "; " + "; ".join(misses) + f" ({fate})"
        if self.unused:
            text += f"; {self.unused:,} {self.right.partition('.')[0]} rows not used"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"left": self.left, "right": self.right, "rows": self.rows,
                "matched": self.matched, "empty": self.empty, "not_found": self.not_found,
                "examples": [{"key": k, "line": ln} for k, ln in self.examples],
                "unused": self.unused, "needed": self.needed}


@dataclass
class _Table:
    """A table read: its cells, each row's line, and its path."""

    name: str
    df: pd.DataFrame
    lines: np.ndarray
    path: Path
    read: TableRead


def read_tables(config: DatasetConfig) -> InteractionDataset:
    """Read an export of several tables (a config with ``tables`` and ``joins``).

    Parameters
    ----------
    config
        The data-set config (its paths absolute, as :func:`~synerec.data.read_config_file`
        makes them).

    Returns
    -------
    InteractionDataset
        The rows' table joined, read with the config's options; its
        :attr:`~synerec.data.InteractionDataset.report` holds each table's and each join's
        counts (:attr:`~synerec.data.report.ReadReport.tables`,
        :attr:`~synerec.data.report.ReadReport.joins`).

    Raises
    ------
    BadRowsError
        With ``on_bad_rows="error"``: the bad rows of a table, or rows whose needed lookup
        failed, all of them in one message naming the file, line and value.
    ConfigError
        A column named by the options that no table has (or several have), a structure that
        is not a tree from the rows' table.
    DataFormatError
        An unreadable file.
    """
    if not config.tables:
        raise ConfigError("read_tables needs a config with [tables]")
    try:
        root, joins = join_order(config.tables, config.joins)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    on_bad_rows = check_on_bad_rows(config.on_bad_rows)
    tables = {name: _read(name, spec, config.encoding, root=name == root)
              for name, spec in config.tables.items()}
    plan = _plan(config, tables, joins)
    # the repeated keys of each looked-up table, then each join over its left table's rows
    index = {j.right_table: _key_index(tables[j.right_table], j) for j in joins}
    reports = [_join_report(tables[j.left_table], tables[j.right_table], j,
                            index[j.right_table], needed=j in plan.needed_joins)
               for j in joins]
    for t in tables.values():  # the rows' table's: with the rows' other bad rows, below
        if t.read.bad_rows and on_bad_rows == "error" and t.name != root:
            raise t.read.bad_rows.error(hint="on_bad_rows = \"skip\" (--on-bad-rows skip) "
                                             "drops bad rows and lists them")
    rows = tables[root]
    bad = BadRows(rows.path, line_label=rows.read.bad_rows.line_label)
    bad.extend(rows.read.bad_rows)
    pos = _positions(tables, root, joins, index, failed=lambda j, fail, keys: _record(
        bad, j, fail, keys, rows.lines) if j in plan.needed_joins else None)
    frame = pd.DataFrame({name: _cells(tables[t], pos[t], c)
                          for name, (t, c) in {**plan.needed, **plan.log_text}.items()})
    opts = config.model_copy(update={"tables": {}, "joins": (), "path": str(rows.path)})
    data = InteractionDataset._from_table(
        frame, opts, items=_catalogue(config, tables, joins, index, plan), users=None,
        name=config.name or root, path=rows.path, first_line=None, lines=rows.lines,
        keep_all_items=True, bad_rows=bad)
    assert data.report is not None
    data.report.tables = [t.read for t in tables.values()]
    data.report.joins = reports
    for t in tables.values():
        if t.read.bad_rows and t.name != root:
            log.warning("%s: skipped %d bad rows: %s", t.path, t.read.bad_rows.n_bad_rows,
                        "; ".join(t.read.bad_rows.summary()))
    for r in reports:
        if r.not_found or r.empty:
            log.warning("%s", r.line().strip())
    return data


@dataclass
class _Plan:
    """Which columns come from where, and what a failed join means."""

    #: The columns a row needs (ids, value, time, filters), by the name the options write.
    needed: dict[str, tuple[str, str]]
    #: The text columns (title, category, description), by name.
    text: dict[str, tuple[str, str]]
    #: The text columns the rows' side holds (not the catalogue's).
    log_text: dict[str, tuple[str, str]]
    #: The joins on the way to a needed column: where they fail, the row is bad.
    needed_joins: set[JoinSpec]
    #: The catalogue (the table joined on the item column), the join, and the tables below.
    catalogue_table: str | None
    item_join: JoinSpec | None
    subtree: set[str]


def _plan(config: DatasetConfig, tables: dict[str, _Table], joins: list[JoinSpec]) -> _Plan:
    columns = _Columns(tables)
    needed, text = _named_columns(config, columns)
    catalogue_table, item_join = _catalogue_table(config, columns, joins)
    subtree = _below(catalogue_table, joins) if catalogue_table is not None else set()
    return _Plan(needed=needed, text=text,
                 log_text={opt: ref for opt, ref in text.items() if ref[0] not in subtree},
                 needed_joins=_joins_to({ref[0] for ref in needed.values()}, joins),
                 catalogue_table=catalogue_table, item_join=item_join, subtree=subtree)


def _catalogue(config: DatasetConfig, tables: dict[str, _Table], joins: list[JoinSpec],
               index: dict[str, _KeyIndex], plan: _Plan) -> pd.DataFrame | None:
    """The catalogue table's items (each key once) with the text columns of its subtree."""
    if plan.catalogue_table is None or plan.item_join is None:
        return None
    cat = tables[plan.catalogue_table]
    at = _positions(tables, plan.catalogue_table,
                    [j for j in joins if j.left_table in plan.subtree], index,
                    failed=lambda j, fail, keys: None)
    key_col = plan.item_join.right_column  # the catalogue is the table looked up
    first = _first_of_each_key(cat.df[key_col])
    catalogue = pd.DataFrame({config.item_col: _cells(cat, first, key_col)})
    for opt, (table, column) in plan.text.items():
        if table in plan.subtree:
            catalogue[opt] = _cells(tables[table], at[table][first], column)
    return catalogue


# -- reading ------------------------------------------------------------------------------------
def _read(name: str, spec: TableSpec, encoding: str, *, root: bool) -> _Table:
    path = Path(spec.path)
    fmt = spec.format or format_of(path)
    bad = BadRows(path, line_label="row" if fmt == "parquet" else "line")
    df, lines = read_table(path, fmt, spec.encoding or encoding, bad_rows=bad)
    if lines is None:  # Parquet: 1-based row numbers stand in for lines
        lines = np.arange(1, len(df) + 1, dtype=np.int64)
    return _Table(name, df.reset_index(drop=True), np.asarray(lines, np.int64), path,
                  TableRead(name, str(path), len(df), bad, rows_table=root))


class _Columns:
    """The columns of the tables, for the options' names (``table.column`` or ``column``)."""

    def __init__(self, tables: dict[str, _Table]) -> None:
        self.tables = tables

    def has(self, name: str) -> bool:
        return bool(self.owners(name))

    def owners(self, name: str) -> list[tuple[str, str]]:
        table, dot, column = name.partition(".")
        if dot and table in self.tables and column in self.tables[table].df.columns:
            return [(table, column)]
        return [(t, name) for t, tab in self.tables.items() if name in tab.df.columns]

    def resolve(self, name: str, what: str) -> tuple[str, str]:
        """``(table, column)`` of an option's column name.

        Raises
        ------
        ConfigError
            No table has it, or several do (the message lists the tables' columns).
        """
        found = self.owners(name)
        if len(found) == 1:
            return found[0]
        if found:
            names = " or ".join(f"{t}.{c}" for t, c in found)
            raise ConfigError(f"{what} {name!r} is a column of several tables: write {names}")
        table, dot, column = name.partition(".")
        if dot and table in self.tables:
            raise ConfigError(f"{what} {name!r}: table {table} has no column {column!r}; its "
                              f"columns are {list(self.tables[table].df.columns)}")
        listing = "; ".join(f"{t}: {list(tab.df.columns)}" for t, tab in self.tables.items())
        raise ConfigError(f"{what} {name!r} is not a column of any table (write table.column); "
                          f"the tables' columns are {listing}")


def _named_columns(config: DatasetConfig, columns: _Columns
                   ) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """``(needed, text)``: the columns the options name, by the name written, as
    ``(table, column)``; the needed ones make a row bad when missing (ids, value, time,
    filters), the text ones do not."""
    needed: dict[str, tuple[str, str]] = {}
    for option in ("user_col", "item_col"):
        needed[getattr(config, option)] = columns.resolve(getattr(config, option), option)
    if config.weight_col is not None:
        needed[config.weight_col] = columns.resolve(config.weight_col, "weight_col")
    elif config.rating_col is not None and config.implicit is not True:
        if not columns.has(config.rating_col) and config.rating_col == "rating":
            raise ConfigError(
                "no table has a 'rating' column: name the rating column with rating_col = "
                "\"table.column\", or read purchases, clicks or views as implicit feedback with "
                "implicit = true (weight_col = \"table.column\" for a quantity or count)")
        needed[config.rating_col] = columns.resolve(config.rating_col, "rating_col")
    if config.time_col is not None and (config.time_col != "timestamp"
                                        or columns.has(config.time_col)):
        needed[config.time_col] = columns.resolve(config.time_col, "time_col")
    for f in parse_filters(config.where):
        needed[f.column] = columns.resolve(f.column, f"the filter {f.text!r} names")
    text = {}
    for option in ("title_col", "category_col", "description_col"):
        name = getattr(config, option)
        if name is not None:
            text[name] = columns.resolve(name, option)
    return needed, text


def _catalogue_table(config: DatasetConfig, columns: _Columns, joins: list[JoinSpec]
                     ) -> tuple[str | None, JoinSpec | None]:
    """The table joined on the item column (the catalogue), and that join."""
    item = columns.resolve(config.item_col, "item_col")
    for j in joins:
        if (j.left_table, j.left_column) == item or (j.right_table, j.right_column) == item:
            return j.right_table, j
    return None, None


def _below(table: str, joins: Iterable[JoinSpec]) -> set[str]:
    """``table`` and the tables it looks up, directly or not."""
    out = {table}
    changed = True
    while changed:
        changed = False
        for j in joins:
            if j.left_table in out and j.right_table not in out:
                out.add(j.right_table)
                changed = True
    return out


def _joins_to(targets: set[str], joins: list[JoinSpec]) -> set[JoinSpec]:
    """The joins on the way from the rows' table to each of ``targets``."""
    by_right = {j.right_table: j for j in joins}
    out: set[JoinSpec] = set()
    for t in targets:
        while t in by_right:
            out.add(by_right[t])
            t = by_right[t].left_table
    return out


# -- joining ------------------------------------------------------------------------------------
def _keys(table: _Table, column: str) -> np.ndarray:
    """A key column as stripped text (``""`` for an empty cell)."""
    return as_text(table.df[column]).fillna("").str.strip().to_numpy(dtype=object)


@dataclass
class _KeyIndex:
    """A looked-up table's keys: ``index`` (unique, no empty key) and each key's row."""

    index: pd.Index
    rows: np.ndarray

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Each key's row (-1: empty or not found)."""
        got = self.index.get_indexer(pd.Index(keys, dtype=object))
        out = np.where(got >= 0, self.rows[np.maximum(got, 0)], -1).astype(np.int64)
        out[keys == ""] = -1
        return out


def _key_index(right: _Table, j: JoinSpec) -> _KeyIndex:
    """The looked-up table's keys; a repeated key is a bad row of the table (its first row is
    the one found)."""
    keys = _keys(right, j.right_column)
    empty = keys == ""
    repeated = pd.Series(keys).duplicated(keep="first").to_numpy() & ~empty
    if repeated.any():
        first_line = dict(zip(keys[::-1].tolist(), right.lines[::-1].tolist(), strict=True))
        at = np.flatnonzero(repeated)
        right.read.bad_rows.add(
            "repeated key (a looked-up table has one row per key; the first is used)",
            rows=at, lines=right.lines[at], column=j.right_column,
            values=np.asarray([f"{keys[r]} (first on line {first_line[keys[r]]})" for r in at],
                              dtype=object))
    rows = np.flatnonzero(~repeated & ~empty)
    return _KeyIndex(pd.Index(keys[rows], dtype=object), rows)


def _join_report(left: _Table, right: _Table, j: JoinSpec, index: _KeyIndex, *,
                 needed: bool) -> JoinReport:
    keys = _keys(left, j.left_column)
    if left.read.bad_rows:  # a bad row of the table (a repeated key) looks nothing up
        keys = keys[~left.read.bad_rows.row_mask(len(keys))]
    found = index.lookup(keys)
    empty = keys == ""
    missing = (found < 0) & ~empty
    examples: list[tuple[str, int]] = []
    seen: set[str] = set()
    for r in np.flatnonzero(missing):
        key = str(keys[r])
        if key not in seen:
            seen.add(key)
            examples.append((key, int(left.lines[r])))
            if len(examples) == EXAMPLE_KEYS:
                break
    used = np.zeros(len(right.df), dtype=bool)
    used[found[found >= 0]] = True
    return JoinReport(left=j.left, right=j.right, rows=len(keys),
                      matched=int((found >= 0).sum()), empty=int(empty.sum()),
                      not_found=int(missing.sum()), examples=examples,
                      unused=int((~used).sum()), needed=needed)


def _positions(tables: dict[str, _Table], start: str, joins: list[JoinSpec],
               index: dict[str, _KeyIndex], failed: Any) -> dict[str, np.ndarray]:
    """For each row of ``start``, its row in every table the joins reach (-1: none); each
    join's failures (rows that reached its left table but not its right) go to
    ``failed(join, mask, keys)``."""
    n = len(tables[start].df)
    pos = {start: np.arange(n, dtype=np.int64)}
    for j in joins:
        if j.left_table not in pos:
            continue
        at = pos[j.left_table]
        keys = np.full(n, "", dtype=object)
        keys[at >= 0] = _keys(tables[j.left_table], j.left_column)[at[at >= 0]]
        found = np.where(at >= 0, index[j.right_table].lookup(keys), -1)
        failed(j, (at >= 0) & (found < 0), keys)
        pos[j.right_table] = found
    return pos


def _record(bad: BadRows, j: JoinSpec, fail: np.ndarray, keys: np.ndarray,
            lines: np.ndarray) -> None:
    """The rows whose needed join failed, as bad rows of the rows' file."""
    empty = fail & (keys == "")
    bad.add(f"missing key for {j.right}", rows=np.flatnonzero(empty),
            lines=lines[empty], column=j.left)
    missing = fail & (keys != "")
    bad.add(f"not found in {j.right}", rows=np.flatnonzero(missing), lines=lines[missing],
            column=j.left, values=keys[missing])


def _cells(table: _Table, at: np.ndarray, column: str) -> np.ndarray:
    """A column's cells at rows ``at`` (``""`` where ``at`` is -1)."""
    cells = table.df[column].to_numpy(dtype=object)
    out = np.full(len(at), "", dtype=object)
    ok = at >= 0
    out[ok] = cells[at[ok]]
    return out


def _first_of_each_key(keys: pd.Series) -> np.ndarray:
    """Rows holding each non-empty key for the first time."""
    text = as_text(keys).fillna("").str.strip()
    return np.flatnonzero(~text.duplicated(keep="first").to_numpy() & (text != "").to_numpy())
