"""Reading raw files with errors that name the file, line, column and value."""

from __future__ import annotations

import bz2
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

__all__ = ["iter_json_lines", "read_bytes", "read_delimited", "read_text"]

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
        m = _C_ERR.search(str(exc))
        if m:
            lineno = int(m.group(2))  # pandas counts physical lines, blank ones included
            raw_lines = text.splitlines()
            raise DataFormatError(
                f"expected {m.group(1)} fields, found {m.group(3)}", path=path, line=lineno,
                value=raw_lines[lineno - 1][:200] if lineno <= len(raw_lines) else None,
            ) from exc
        raise DataFormatError(f"cannot parse file ({exc})", path=path) from exc
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
    lines = _row_lines(text, len(df), header)
    if lines is not None:
        df.attrs["lines"] = lines
    return df, first


def _row_lines(text: str, n_rows: int, header: bool) -> np.ndarray | None:
    """Each row's file line when blank lines (skipped by the parser) shift them, else ``None``.

    ``None`` too when the rows cannot be matched to lines (quoted newlines); callers then fall
    back to ``first_line + row``.
    """
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines == n_rows + header:
        return None  # no blank lines: first_line + row is exact
    physical = re.split(r"\r\n|\n|\r", text)
    if physical and physical[-1] == "":
        physical.pop()
    nonblank = [k for k, raw in enumerate(physical, start=1) if raw != ""]
    if len(nonblank) != n_rows + header:
        return None
    return np.asarray(nonblank[1:] if header else nonblank, dtype=np.int64)


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
