r"""Row filters for exports: keep the rows that are purchases, drop returns and test orders.

A filter is one comparison, written the same in Python, on the command line (``--where``) and
in a data-set config file (``where = [...]``)::

    Quantity > 0                     numbers: <  <=  >  >=  ==  !=
    InvoiceNo !~ ^C                  regular expressions: ~ (matches), !~ (does not match)
    StockCode ~ ^\d{5}[A-Za-z]*$     (searched in the cell; anchor with ^ and $)
    status == paid                   text: == and != with a word or a 'quoted string'
    `Unit Price` >= 0.5              a column name with spaces in backquotes

A row is kept when every filter holds. A comparison with a number needs a number in the cell:
a cell that is not one makes the row a *bad row* (reported, see :mod:`synerec.data.report`),
never a row silently dropped. Filters are plain comparisons, never evaluated as code.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synerec.data._cells import as_text, to_float
from synerec.exceptions import ConfigError

__all__ = ["RowFilter", "parse_filters"]

_OPS = ("<=", ">=", "!=", "==", "!~", "<", ">", "~")
_EXPR = re.compile(r"""^\s*(?:`(?P<qcol>[^`]+)`|(?P<col>[^\s<>=!~`]+))\s*
                       (?P<op><=|>=|!=|==|!~|<|>|~)\s*(?P<value>.*?)\s*$""", re.X | re.S)


@dataclass(frozen=True)
class RowFilter:
    """One comparison ``column op value``; see the module docstring for the syntax."""

    column: str
    op: str
    value: str | float
    text: str

    @classmethod
    def parse(cls, text: str) -> RowFilter:
        """Parse ``"Quantity > 0"``; a malformed filter is a :class:`ConfigError`."""
        if not isinstance(text, str):
            raise ConfigError(f"a filter must be a string like 'Quantity > 0', got {text!r}")
        m = _EXPR.match(text)
        if m is None or m.group("value") == "":
            raise ConfigError(f"cannot read the filter {text!r}; write COLUMN OP VALUE with OP "
                              f"one of {' '.join(_OPS)} (e.g. 'Quantity > 0', "
                              "'InvoiceNo !~ ^C')")
        column = m.group("qcol") or m.group("col")
        op, raw = m.group("op"), m.group("value")
        value: str | float
        if op in ("~", "!~"):
            try:
                re.compile(raw)
            except re.error as exc:
                raise ConfigError(f"filter {text!r}: invalid regular expression ({exc})") \
                    from None
            value = raw
        elif len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            if op not in ("==", "!="):
                raise ConfigError(f"filter {text!r}: {op} compares numbers, not text")
            value = raw[1:-1]
        else:
            try:
                value = float(raw)
            except ValueError:
                if op not in ("==", "!="):
                    raise ConfigError(f"filter {text!r}: {op} needs a number, got {raw!r}") \
                        from None
                value = raw
        return cls(column, op, value, " ".join(text.split()))

    @property
    def numeric(self) -> bool:
        """Whether the filter compares numbers."""
        return isinstance(self.value, float)

    def evaluate(self, cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """``(holds, bad)``: where the filter holds, and where a number was needed but the cell
        is not one (such rows are bad rows, neither kept nor dropped by the filter)."""
        n = len(cells)
        if self.numeric:
            if cells.dtype.kind in "fiub":
                num = cells.to_numpy(np.float64)
                bad = np.isnan(num)
            else:
                num = to_float(as_text(cells).str.strip())
                bad = np.isnan(num)
            v = float(self.value)
            with np.errstate(invalid="ignore"):
                holds = {"<": num < v, "<=": num <= v, ">": num > v, ">=": num >= v,
                         "==": num == v, "!=": num != v}[self.op]
            return holds & ~bad, bad
        text = as_text(cells).fillna("").str.strip()
        if self.op in ("~", "!~"):
            with warnings.catch_warnings():  # groups in a pattern are only grouping here
                warnings.filterwarnings("ignore", "This pattern is interpreted as a regular "
                                        "expression, and has match groups")
                found = text.str.contains(str(self.value), regex=True).fillna(False) \
                    .to_numpy(bool)
            holds = found if self.op == "~" else ~found
        else:
            same = (text == str(self.value)).fillna(False).to_numpy(bool)
            holds = same if self.op == "==" else ~same
        return holds, np.zeros(n, dtype=bool)


def parse_filters(filters: str | list[str] | tuple[str, ...] | None) -> list[RowFilter]:
    """Parse one filter or a list of them (``None``: no filter)."""
    if filters is None:
        return []
    if isinstance(filters, str):
        filters = [filters]
    return [f if isinstance(f, RowFilter) else RowFilter.parse(f) for f in filters]
