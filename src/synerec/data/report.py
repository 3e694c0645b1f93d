"""What reading an interaction file found: bad rows by kind, filtered rows, merged duplicates.

A *bad row* is a row that cannot be used whole: a missing id, a rating or weight that is not a
number, a timestamp that is not a time, a rating outside the scale, a line with the wrong
number of fields. Reading with ``on_bad_rows="error"`` (the default) raises one
:class:`~synerec.exceptions.BadRowsError` that lists every bad row found in the file (up to
:data:`MAX_LISTED`), not only the first; ``on_bad_rows="skip"`` drops them whole (a row is never
half used) and the data set's :attr:`~synerec.data.InteractionDataset.report` says what was
dropped, kind by kind, with counts and the first line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synerec.exceptions import BadRowsError, ConfigError, DataFormatError

if TYPE_CHECKING:  # the tables module reads through this one; numpy is loaded on use
    import numpy as np

    from synerec.data.tables import JoinReport, TableRead

__all__ = ["MAX_LISTED", "BadRows", "OnBadRows", "ReadReport", "check_on_bad_rows"]

OnBadRows = Literal["error", "skip"]
#: How many bad rows an error message lists (the count is always complete).
MAX_LISTED = 20
#: How many line numbers (and values) the skip summary shows per kind of problem.
EXAMPLES_PER_KIND = 5


def check_on_bad_rows(value: str) -> OnBadRows:
    """``value`` if it is ``"error"`` or ``"skip"``, else a :class:`ConfigError`."""
    if value == "error":
        return "error"
    if value == "skip":
        return "skip"
    raise ConfigError(f"on_bad_rows must be error or skip, not {value!r}")


@dataclass
class _Kind:
    """One kind of problem (``problem`` in ``column``) and the rows that have it."""

    problem: str
    column: str | None
    rows: list[np.ndarray] = field(default_factory=list)    # positions in the table read
    lines: list[np.ndarray] = field(default_factory=list)   # file lines (or -1 when unknown)
    values: list[np.ndarray] = field(default_factory=list)  # offending values (object)
    has_value: bool = False

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)
        lines = np.concatenate(self.lines) if self.lines else np.zeros(0, np.int64)
        values = (np.concatenate(self.values) if self.values
                  else np.zeros(len(rows), dtype=object))
        order = np.lexsort((rows, lines))
        return rows[order], lines[order], values[order]

    @property
    def label(self) -> str:
        """``problem in column 'x'`` (the column once, when the problem already names it)."""
        if self.column is None or repr(self.column) in self.problem:
            return self.problem
        return f"{self.problem} in column {self.column!r}"


class BadRows:
    """Every bad row found while reading one table, grouped by kind of problem.

    Parameters
    ----------
    path
        The file read (``None`` for an in-memory table).
    line_label
        What the positions are called in messages: ``"line"`` (text files) or ``"row"``
        (Parquet, DataFrames: 1-based row numbers).
    """

    def __init__(self, path: str | Path | None = None, line_label: str = "line") -> None:
        self.path = None if path is None else str(path)
        self.line_label = line_label
        self._kinds: dict[tuple[str, str | None], _Kind] = {}

    # -- collecting -----------------------------------------------------------------------------
    def add(self, problem: str, *, rows: np.ndarray | None = None,
            lines: np.ndarray | None = None, column: str | None = None,
            values: np.ndarray | None = None) -> None:
        """Record rows that have one problem.

        Parameters
        ----------
        problem
            What is wrong (``"expected a number"``, ``"missing id in column 'sku'"``).
        rows
            Their positions in the table (``None`` for lines the parser could not turn into
            rows, such as a line with too many fields).
        lines
            Their file lines (``None`` when unknown).
        column
            The column at fault, if one.
        values
            The offending cell of each row (shown in messages), or ``None``.
        """
        import numpy as np
        n = len(rows) if rows is not None else len(lines) if lines is not None else 0
        if n == 0:
            return
        kind = self._kinds.setdefault((problem, column), _Kind(problem, column))
        kind.rows.append(np.full(n, -1, np.int64) if rows is None
                         else np.asarray(rows, np.int64))
        kind.lines.append(np.full(n, -1, np.int64) if lines is None
                          else np.asarray(lines, np.int64))
        kind.values.append(np.full(n, None, dtype=object) if values is None
                           else np.asarray(values, dtype=object))
        kind.has_value = kind.has_value or values is not None

    def extend(self, other: BadRows) -> None:
        """Add every problem of ``other``."""
        for key, kind in other._kinds.items():
            mine = self._kinds.setdefault(key, _Kind(kind.problem, kind.column))
            mine.rows += kind.rows
            mine.lines += kind.lines
            mine.values += kind.values
            mine.has_value = mine.has_value or kind.has_value

    # -- questions ------------------------------------------------------------------------------
    def __bool__(self) -> bool:
        return bool(self._kinds)

    def row_mask(self, n_rows: int) -> np.ndarray:
        """Boolean mask of the table's rows that have at least one problem."""
        import numpy as np
        mask = np.zeros(n_rows, dtype=bool)
        for kind in self._kinds.values():
            for rows in kind.rows:
                mask[rows[rows >= 0]] = True
        return mask

    @property
    def n_bad_rows(self) -> int:
        """Rows (or unparsed lines) with at least one problem, each counted once."""
        keys: set[tuple[int, int]] = set()
        for kind in self._kinds.values():
            rows, lines, _ = kind.arrays()
            keys.update(zip(rows.tolist(), lines.tolist(), strict=True))
        return len(keys)

    def counts(self) -> dict[str, int]:
        """Rows per kind of problem (a row with two problems counts under both)."""
        return {k.label: int(sum(len(r) for r in k.rows)) for k in self._sorted_kinds()}

    def _sorted_kinds(self) -> list[_Kind]:
        def first(kind: _Kind) -> tuple[int, int]:
            rows, lines, _ = kind.arrays()
            return (int(lines[0]), int(rows[0]))

        return sorted(self._kinds.values(), key=first)

    def _where(self, row: int, line: int) -> str:
        if line >= 0:
            return f"{self.line_label} {line}"
        return f"row {row}"  # a DataFrame's position, as pandas counts it

    def _entries(self) -> list[tuple[int, int, _Kind, Any]]:
        """Every (line, row, kind, value), in file order."""
        out: list[tuple[int, int, _Kind, Any]] = []
        for kind in self._kinds.values():
            rows, lines, values = kind.arrays()
            out.extend(zip(lines.tolist(), rows.tolist(), [kind] * len(rows), values,
                           strict=True))
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    # -- reporting ------------------------------------------------------------------------------
    def error(self, limit: int = MAX_LISTED, hint: str = "") -> BadRowsError:
        """One error naming the first bad row in full and listing the others (up to ``limit``).

        With a single bad row the message is exactly the classic one
        (``file, line 3, column 'rating': expected a number: 'five'``).
        """
        entries = self._entries()
        line, row, kind, value = entries[0]
        in_lines = line >= 0 and self.line_label == "line"
        first = DataFormatError(
            kind.problem if in_lines else f"{kind.problem} ({self._where(row, line)})",
            path=self.path, line=line if in_lines else None, column=kind.column,
            value=_plain(value), has_value=kind.has_value)
        more = ""
        n_bad = self.n_bad_rows
        if n_bad > 1:
            shown = [self._short(ln, rw, k, v) for ln, rw, k, v in entries[1:limit]]
            rest = len(entries) - 1 - len(shown)
            listed = "; ".join(shown) + (f"; ... {rest} more" if rest > 0 else "")
            counts = ", ".join(f"{label}: {c}" for label, c in self.counts().items())
            more = (f" -- {n_bad} bad rows in all ({counts}); also {listed}"
                    + (f". {hint}" if hint else ""))
        return BadRowsError(first, self, more)

    def _short(self, line: int, row: int, kind: _Kind, value: Any) -> str:
        where = self._where(row, line)
        text = kind.label
        if kind.has_value:
            text += f" {_plain(value)!r}"
        return f"{where}: {text}"

    def summary(self, examples: int = EXAMPLES_PER_KIND) -> list[str]:
        """One line per kind of problem: its count and first line numbers (with values)."""
        out = []
        for kind in self._sorted_kinds():
            rows, lines, values = kind.arrays()
            shown = []
            for ln, rw, v in list(zip(lines.tolist(), rows.tolist(), values,
                                      strict=True))[:examples]:
                where = str(ln) if ln >= 0 else str(rw)
                shown.append(f"{where} {_plain(v)!r}" if kind.has_value else where)
            more = ", ..." if len(rows) > examples else ""
            label = self.line_label if lines[0] >= 0 else "row"
            plural = label + ("s" if len(rows) > 1 else "")
            out.append(f"{kind.label}: {len(rows)} ({plural} {', '.join(shown)}{more})")
        return out

    def to_dict(self, examples: int = EXAMPLES_PER_KIND) -> list[dict[str, Any]]:
        """The summary as JSON-ready records: problem, column, count, first lines and values."""
        out = []
        for kind in self._sorted_kinds():
            rows, lines, values = kind.arrays()
            rec: dict[str, Any] = {"problem": kind.problem, "column": kind.column,
                                   "count": len(rows),
                                   self.line_label + "s": [int(x) if x >= 0 else None
                                                           for x in lines[:examples]]}
            if kind.has_value:
                rec["values"] = [_jsonable(v) for v in values[:examples]]
            out.append(rec)
        return out


def _plain(value: Any) -> Any:
    import numpy as np
    return value.item() if isinstance(value, np.generic) else value


def _jsonable(value: Any) -> Any:
    import numpy as np
    value = _plain(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    return str(value)


@dataclass
class ReadReport:
    """How a table became a data set: the numbers a user checks before trusting it.

    Attributes
    ----------
    source
        The file (or ``"<DataFrame>"``).
    rows_read
        Rows of the table (lines the parser could not split are in :attr:`bad_rows` only).
    filtered
        Rows dropped by each ``where`` filter (each row under the first filter that drops it).
    bad_rows
        The bad rows (dropped with ``on_bad_rows="skip"``).
    on_bad_rows
        The policy used.
    duplicates
        The duplicates policy used and ``duplicates_merged``, the rows merged into another.
    feedback
        ``"explicit"`` (ratings on a scale) or ``"implicit"`` (every row a positive).
    value_column
        The rating or weight column, ``None`` for unary implicit data.
    interactions
        Interactions in the data set.
    tables, joins
        An export of several tables (:mod:`synerec.data.tables`): each table as read (its
        rows, its lines that could not be read), and what each join found.
    """

    source: str
    rows_read: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    bad_rows: BadRows = field(default_factory=BadRows)
    on_bad_rows: str = "error"
    duplicates: str = "error"
    duplicates_merged: int = 0
    feedback: str = "explicit"
    value_column: str | None = None
    interactions: int = 0
    rating_scale: tuple[float, float] | None = None
    scale_inferred: bool = False
    tables: list[TableRead] = field(default_factory=list)
    joins: list[JoinReport] = field(default_factory=list)

    @property
    def rows_skipped(self) -> int:
        """Bad rows dropped (``on_bad_rows="skip"``)."""
        return self.bad_rows.n_bad_rows if self.on_bad_rows == "skip" else 0

    def lines(self) -> list[str]:
        """The report as short lines for a terminal (the first one a summary)."""
        what = ("implicit feedback" + (f", weights from {self.value_column!r}"
                                       if self.value_column else ", every row a positive")
                if self.feedback == "implicit"
                else f"explicit ratings from {self.value_column!r}"
                + (f", scale {self.rating_scale[0]:g}..{self.rating_scale[1]:g}"
                   + (" inferred" if self.scale_inferred else "")
                   if self.rating_scale else ""))
        out = [f"read {self.source}: {self.rows_read:,} rows -> {self.interactions:,} "
               f"interactions ({what})"]
        for table in self.tables:
            out.extend(table.lines())
        out.extend(join.line() for join in self.joins)
        for expr, count in self.filtered.items():
            out.append(f"  where {expr}: dropped {count:,} rows")
        if self.bad_rows and self.on_bad_rows == "skip":
            out.append(f"  skipped {self.rows_skipped:,} bad rows:")
            out.extend(f"    {line}" for line in self.bad_rows.summary())
        if self.duplicates_merged:
            out.append(f"  duplicates={self.duplicates}: merged {self.duplicates_merged:,} "
                       "repeated (user, item) rows")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"source": self.source, "rows_read": self.rows_read,
                "filtered": dict(self.filtered), "on_bad_rows": self.on_bad_rows,
                "rows_skipped": self.rows_skipped,
                "bad_rows": self.bad_rows.to_dict() if self.bad_rows else [],
                "duplicates": self.duplicates, "duplicates_merged": self.duplicates_merged,
                "feedback": self.feedback, "value_column": self.value_column,
                "rating_scale": list(self.rating_scale) if self.rating_scale else None,
                "scale_inferred": self.scale_inferred, "interactions": self.interactions,
                "tables": [t.to_dict() for t in self.tables],
                "joins": [j.to_dict() for j in self.joins]}
