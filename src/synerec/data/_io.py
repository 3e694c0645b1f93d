"""Reading raw files with errors that name the file, line, column and value."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec.exceptions import DataFormatError

__all__ = ["FIELD_COUNT", "QUOTE_NOT_CLOSED", "csv_records", "field_count_problem",
           "iter_json_lines", "open_quote_line", "physical_lines", "read_bytes", "read_delimited",
           "read_text"]

#: How to open a compressed file, by its suffix (each takes ``(path, mode)``).
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def read_bytes(path: str | Path) -> bytes:
    """All bytes of a file, decompressed by its suffix (.gz, .bz2, .xz).

    A truncated or corrupted archive raises :class:`DataFormatError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("file not found", path=path)
    opener = _OPENERS.get(path.suffix.lower())
    try:
        if opener is None:
            return path.read_bytes()
        with opener(path, "rb") as fh:
            return fh.read()
    except EOFError as exc:
        raise DataFormatError(f"truncated {path.suffix[1:]} file (ends before its end marker)",
                              path=path) from exc
    except (OSError, zlib.error, lzma.LZMAError) as exc:
        raise DataFormatError(f"corrupted {path.suffix[1:]} file ({exc})", path=path) from exc


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """A text file decoded with ``encoding``; a wrong encoding names the line and column."""
    data = read_bytes(path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataFormatError(
            f"cannot decode byte at character {col} as {encoding} (wrong encoding?)",
            path=path, line=line, value=data[exc.start:exc.end],
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


_C_ERR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_C_EOF_IN_QUOTE = re.compile(r"EOF inside string")
#: The problem of a file that ends inside a quoted field (cut short, or a quote never closed):
#: named at the line where the field opens, as an editor numbers it.
QUOTE_NOT_CLOSED = ("the file ends inside a quoted field that starts on this line (cut short, "
                    "or a closing quote missing)")


def field_count_problem(header: list[str] | int, found: int) -> str:
    """The problem of a line with ``found`` fields where the header has others (a line cut
    short names the columns it lacks)."""
    n = header if isinstance(header, int) else len(header)
    text = f"expected {n} fields, found {found}"
    if not isinstance(header, int) and found < n:
        text += f" (no {', '.join(header[found:])})"
    return text


#: A problem of :func:`field_count_problem`.
FIELD_COUNT = re.compile(r"expected \d+ fields, found \d+( \(no .*\))?$")
#: Line breaks as the CSV parsers (pandas' and the csv module's) count them.
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_LINE_BREAK_KEEP = re.compile(r"(\r\n|\n|\r)")


def physical_lines(text: str) -> list[str]:
    """The lines of ``text`` as the CSV parsers number them (``\\r\\n``, ``\\n`` or ``\\r``
    ends a line; :meth:`str.splitlines` also splits on form feeds and other separators)."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def csv_records(text: str, sep: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of each non-blank record of a delimited text, ``line`` where the
    record starts (a quoted field may span lines), with the dialect of
    :func:`read_delimited` (CSV quoting for ``","``, none otherwise)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep,
                        quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE)
    start = 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if record and record != [""]:
            yield line, record


def open_quote_line(text: str, sep: str, last: int | None = None) -> int | None:
    """The line where the last record starts when the file ends inside one of its quoted
    fields (cut short, or a closing quote missing), else ``None``.

    ``last``: that record's line when known (else the records are read to find it).
    """
    if sep != ",":
        return None
    if last is None:
        for line, _ in csv_records(text, sep):
            last = line
    if last is None:
        return None
    tail = "".join(_LINE_BREAK_KEEP.split(text)[2 * (last - 1):])
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return last
    return None


def read_delimited(
    path: str | Path,
    sep: str,
    *,
    header: bool,
    names: list[str] | None = None,
    encoding: str = "utf-8",
    required: list[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Read a delimited file as strings (nothing converted, nothing lost).

    Parameters
    ----------
    path
        The file (optionally compressed).
    sep
        Field separator; CSV quoting rules apply for ``","``.
    header
        Whether the first line holds column names.
    names
        Column names when there is no header (the number of fields is then checked).
    encoding
        Text encoding.
    required
        Columns that must be present in a header.

    Returns
    -------
    (DataFrame, int)
        All cells as ``str`` (empty string for an empty cell) and the file line of the first data
        row, so that row ``r`` sits on line ``first_line + r`` (for files without quoted newlines
        or blank lines). When blank lines shift the rows, ``df.attrs["lines"]`` holds each row's
        line.
    """
    text = read_text(path, encoding)
    if not text.strip():
        raise DataFormatError("file is empty", path=path)
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=sep, header=0 if header else None, names=names, dtype=str,
            keep_default_na=False, na_filter=False, engine="c",
            quoting=0 if sep == "," else 3,  # QUOTE_MINIMAL for CSV, QUOTE_NONE otherwise
            skip_blank_lines=True, index_col=False,
        )
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, text, sep, path) from exc
    if names is not None and not header:
        # pandas pads short rows with NaN/"" silently: find rows with too few separators.
        n_fields = len(names)
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if raw.strip() and raw.count(sep) < n_fields - 1 and sep != ",":
                raise DataFormatError(
                    f"expected {n_fields} fields, found {raw.count(sep) + 1}", path=path,
                    line=lineno, value=raw[:80],
                )
    if required:
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise DataFormatError(
                f"missing column(s) {missing}; the header has {list(df.columns)}", path=path,
                line=1,
            )
    first = 2 if header else 1
    exact, lines = _row_lines(text, len(df), header)
    if header and len(df.columns) > 1:
        _refuse_short_lines(df, text, sep, path,
                            None if not exact else lines if lines is not None
                            else np.arange(first, first + len(df), dtype=np.int64))
    if lines is not None:
        df.attrs["lines"] = lines
    return df, first


def _parser_error(exc: Exception, text: str, sep: str, path: str | Path) -> DataFormatError:
    """pandas' parser error as ours: the file, the line as an editor numbers it, the line."""
    m = _C_ERR.search(str(exc))
    lineno: int | None = None
    if m:
        lineno = int(m.group(2))  # pandas counts physical lines, blank ones included
        problem = field_count_problem(int(m.group(1)), int(m.group(3)))
    elif _C_EOF_IN_QUOTE.search(str(exc)):
        # pandas names the record by its row (0-based, the header counted): the line where
        # the quote opens is what an editor shows
        lineno = open_quote_line(text, sep)
        problem = QUOTE_NOT_CLOSED
    else:
        return DataFormatError(f"cannot parse file ({exc})", path=path)
    raw_lines = physical_lines(text)
    value = raw_lines[lineno - 1][:200] if lineno is not None and lineno <= len(raw_lines) \
        else None
    return DataFormatError(problem, path=path, line=lineno, value=value)


def _row_lines(text: str, n_rows: int, header: bool) -> tuple[bool, np.ndarray | None]:
    """``(exact, lines)``: each row's file line when blank lines (skipped by the parser) shift
    them, else ``None`` (then row ``r`` sits on line ``first_line + r``).

    ``exact`` is false when the rows cannot be matched to lines (quoted newlines); callers
    then fall back to ``first_line + row``.
    """
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    n_lines = breaks + (0 if text.endswith(("\n", "\r")) else 1)
    if n_lines == n_rows + header:
        return True, None  # no blank lines: first_line + row is exact
    nonblank = [k for k, raw in enumerate(physical_lines(text), start=1) if raw != ""]
    if len(nonblank) != n_rows + header:
        return False, None
    return True, np.asarray(nonblank[1:] if header else nonblank, dtype=np.int64)


def _refuse_short_lines(df: pd.DataFrame, text: str, sep: str, path: str | Path,
                        lines: np.ndarray | None) -> None:
    """Raise for the first record with fewer fields than the header (pandas reads it with
    empty cells, so that a cut line would pass for a row with empty values).

    Only the rows whose last cell is empty can be short; their lines are split again (all
    records when ``lines`` is ``None``: quoted newlines leave rows and lines unmatched).
    """
    n_fields = len(df.columns)
    candidates = np.flatnonzero(df.iloc[:, -1].to_numpy(dtype=object) == "")
    if candidates.size == 0:
        return
    if lines is None:
        records: Iterator[tuple[int, list[str]]] = csv_records(text, sep)
    else:
        physical = physical_lines(text)
        at = lines[candidates].tolist()
        raws = [physical[k - 1] for k in at]
        reader = csv.reader(raws, delimiter=sep,
                            quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE)
        records = zip(at, reader, strict=True)
    for line, record in records:
        if len(record) < n_fields:
            raw = physical_lines(text)[line - 1]
            raise DataFormatError(field_count_problem(list(df.columns), len(record)),
                                  path=path, line=line, value=raw[:200])


def iter_json_lines(path: str | Path, encoding: str = "utf-8", *,
                    on_bad: Callable[[str, int, str], None] | None = None,
                    ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file.

    Also reads the "loose JSON" (Python-literal) lines of older Amazon review dumps. A line that
    is not a JSON object raises :class:`DataFormatError`, or, with ``on_bad``, is reported as
    ``on_bad(problem, line_number, first 80 characters)`` and left out.
    """
    text = read_text(path, encoding)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            obj = _loose_json(raw)
            if obj is None:
                if on_bad is None:
                    raise DataFormatError(f"invalid JSON ({exc.msg}, character {exc.colno})",
                                          path=path, line=lineno, value=raw[:80]) from exc
                on_bad(f"invalid JSON ({exc.msg})", lineno, raw[:80])
                continue
        if not isinstance(obj, dict):
            if on_bad is None:
                raise DataFormatError("expected a JSON object per line", path=path,
                                      line=lineno, value=raw[:80])
            on_bad("expected a JSON object per line", lineno, raw[:80])
            continue
        yield lineno, obj


def _loose_json(raw: str) -> dict[str, Any] | None:
    import ast

    try:
        obj = ast.literal_eval(raw)  # literals only: never evaluates code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None
