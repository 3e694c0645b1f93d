"""Generic interaction files: CSV, TSV, Parquet and JSON-lines, optionally gzipped.

:func:`read_interactions` reads a shop's own export as it is: columns named as the export names
them, ratings or implicit feedback (purchases, with a quantity as confidence weight), titles and
categories from the log or from a separate catalogue file, row filters, and bad rows either
reported all at once or skipped with a summary (:mod:`synerec.data.report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec.data._io import (
    FIELD_COUNT,
    QUOTE_NOT_CLOSED,
    csv_records,
    field_count_problem,
    iter_json_lines,
    open_quote_line,
    physical_lines,
    read_delimited,
    read_text,
)
from synerec.data.dataset import InteractionDataset
from synerec.data.options import ReadOptions, with_options_signature
from synerec.data.report import BadRows, check_on_bad_rows
from synerec.exceptions import DataFormatError

__all__ = ["FORMATS", "format_of", "read_interactions", "read_table", "read_with_options"]

#: The formats :func:`read_table` reads (each optionally compressed: .gz, .bz2, .xz).
FORMATS = ("csv", "tsv", "parquet", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
               ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def format_of(path: str | Path) -> str:
    """The format of a file from its extension (``orders.csv.gz`` -> ``csv``)."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    ext = suffixes[-1] if suffixes else ""
    if ext not in _EXTENSIONS:
        raise DataFormatError(
            f"cannot tell the file format from the extension {ext or '(none)'!r}; use .csv, .tsv, "
            ".parquet or .jsonl (optionally .gz), or pass format=", path=path)
    return _EXTENSIONS[ext]


_format_of = format_of  # the old private name


def read_table(path: str | Path, format: str | None = None, encoding: str = "utf-8",
               required: list[str] | None = None, *,
               bad_rows: BadRows | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Read a table file as it is.

    Parameters
    ----------
    path
        The file (optionally compressed).
    format
        ``csv``, ``tsv``, ``parquet`` or ``jsonl``; by default from the extension.
    encoding
        Text encoding of text formats.
    required
        Columns that must be present.
    bad_rows
        When given, lines that cannot be split into the header's fields (more fields or
        fewer: a line cut short), the record of a quoted field the file ends in, and JSON
        lines that are not objects are recorded there and left out, and reading goes on, so
        that a caller can report every bad row at once; without it the first such line
        raises.

    Returns
    -------
    (DataFrame, lines)
        The table (text formats: every cell a string) and, for text formats, each row's line;
        ``None`` for Parquet.
    """
    path = Path(path)
    fmt = format or format_of(path)
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        try:
            df, first = read_delimited(path, sep, header=True, encoding=encoding,
                                       required=required)
        except DataFormatError as exc:
            if bad_rows is None or not (FIELD_COUNT.match(exc.problem)
                                        or exc.problem == QUOTE_NOT_CLOSED):
                raise
            return _read_delimited_tolerant(path, sep, encoding, required, bad_rows)
        lines = df.attrs.pop("lines", None)  # set when blank lines shift the rows
        return df, lines if lines is not None else np.arange(first, first + len(df))
    if fmt == "jsonl":
        rows, lines = [], []
        for lineno, obj in _json_records(path, encoding, bad_rows):
            rows.append(obj)
            lines.append(lineno)
        df = pd.DataFrame(rows)
        if required:
            missing = [c for c in required if c not in df.columns]
            if missing:
                raise DataFormatError(f"no record has the field(s) {missing}", path=path)
        return df, np.asarray(lines, dtype=np.int64)
    if fmt == "parquet":
        if not path.is_file():
            raise DataFormatError("file not found", path=path)
        try:
            df = pd.read_parquet(path)
        except ImportError as exc:
            raise DataFormatError("reading Parquet needs pyarrow: pip install 'synerec[io]'",
                                  path=path) from exc
        except Exception as exc:  # pyarrow raises its own error types for corrupt files
            raise DataFormatError(f"not a readable Parquet file ({exc})", path=path) from exc
        if required:
            missing = [c for c in required if c not in df.columns]
            if missing:
                raise DataFormatError(f"missing column(s) {missing}", path=path)
        return df, None
    raise DataFormatError(f"unknown format {fmt!r}; use csv, tsv, parquet or jsonl", path=path)


def _read_delimited_tolerant(path: Path, sep: str, encoding: str, required: list[str] | None,
                             bad_rows: BadRows) -> tuple[pd.DataFrame, np.ndarray]:
    """The slow path for a file with lines of the wrong width, or cut inside a quoted field:
    every record through the csv module, the bad ones recorded with their line and left out.

    A line with fewer fields than the header is bad (a line cut short would otherwise pass
    for a row with empty cells); so is the record of a quoted field that the file ends in.
    """
    text = read_text(path, encoding)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: dict[str, tuple[list[int], list[str]]] = {}
    physical = physical_lines(text)

    def record_bad(problem: str, line: int) -> None:
        where = bad.setdefault(problem, ([], []))
        where[0].append(line)
        where[1].append(physical[line - 1][:200] if line <= len(physical) else "")

    records = list(csv_records(text, sep))
    if not records:
        raise DataFormatError("file is empty", path=path)
    (_, header), body = records[0], records[1:]
    cut = open_quote_line(text, sep, last=body[-1][0]) if body else None
    for line, record in body:
        if line == cut:  # the last record: read, but its quoted field never closed
            inside = len(physical) - cut
            after = ("" if not inside else "; the line after it is inside it" if inside == 1
                     else f"; the {inside} lines after it are inside it")
            record_bad(QUOTE_NOT_CLOSED + after, line)
        elif len(record) != len(header):
            record_bad(field_count_problem(header, len(record)), line)
        else:
            rows.append(record)
            lines.append(line)
    if required:
        missing = [c for c in required if c not in header]
        if missing:
            raise DataFormatError(f"missing column(s) {missing}; the header has {header}",
                                  path=path, line=1)
    for problem, (at, values) in bad.items():
        bad_rows.add(problem, lines=np.asarray(at), values=np.asarray(values, dtype=object))
    df = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(
        columns=header, dtype=str)
    return df, np.asarray(lines, dtype=np.int64)


def _json_records(path: Path, encoding: str, bad_rows: BadRows | None) -> Any:
    if bad_rows is None:
        yield from iter_json_lines(path, encoding)
        return
    # Collecting: a line that is not a JSON object is recorded and left out.
    bad: dict[str, tuple[list[int], list[str]]] = {}

    def record(problem: str, lineno: int, value: str) -> None:
        where = bad.setdefault(problem, ([], []))
        where[0].append(lineno)
        where[1].append(value)

    yield from iter_json_lines(path, encoding, on_bad=record)
    for problem, (lines, values) in bad.items():
        bad_rows.add(problem, lines=np.asarray(lines), values=np.asarray(values, dtype=object))


def read_interactions(path: str | Path, *, name: str | None = None,
                      **options: Any) -> InteractionDataset:
    """Read an interaction log (and optionally a catalogue file) into a data set.

    Parameters
    ----------
    path
        CSV, TSV, Parquet or JSON-lines file with a header/field names, optionally compressed
        (``.gz``, ``.bz2``, ``.xz``).
    name
        Data set name (default: the file name).
    **options
        The reading options of :class:`~synerec.data.options.ReadOptions` (the keys of a
        data-set config file, the flags of the command line); ``items`` may also be a table
        (a DataFrame), and the old ``timestamp_col=`` is ``time_col=`` (deprecated):
        {options}

    Raises
    ------
    BadRowsError
        Bad rows with ``on_bad_rows="error"``: every one found, in one message.
    DataFormatError
        A missing file or column, an unreadable file (naming the file, line, column, value).
    ConfigError
        Options that contradict each other, or an invalid value.
    TypeError
        An unknown option.
    """
    catalogue = options.get("items")
    if isinstance(catalogue, pd.DataFrame):
        options = {**options, "items": None}
    else:
        catalogue = None
    opts = ReadOptions.from_keywords(options, caller="read_interactions")
    return read_with_options(path, opts, name=name, catalogue=catalogue)


with_options_signature(read_interactions, annotations={
    "items": "str | os.PathLike[str] | pd.DataFrame | None"})


def read_with_options(path: str | Path, opts: ReadOptions, *, name: str | None = None,
                      catalogue: pd.DataFrame | None = None) -> InteractionDataset:
    """:func:`read_interactions` with its options read (a config's, or the keywords').

    Parameters
    ----------
    path
        The interaction file.
    opts
        How to read it.
    name
        Data set name (default: the file name).
    catalogue
        A catalogue table given in memory (instead of ``opts.items``, a file).
    """
    path = Path(path)
    fmt = opts.format or format_of(path)
    check_on_bad_rows(opts.on_bad_rows)
    bad = BadRows(path, line_label="row" if fmt == "parquet" else "line")
    df, lines = read_table(path, fmt, opts.encoding, bad_rows=bad)
    missing = [c for c in (opts.user_col, opts.item_col) if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"missing column(s) {missing}; the header has {list(df.columns)}; name the "
            f"columns with --user-col and --item-col (user_col=, item_col=)", path=path,
            line=1 if fmt in ("csv", "tsv") else None)
    if lines is None:  # Parquet: 1-based row numbers stand in for lines
        lines = np.arange(1, len(df) + 1, dtype=np.int64)
    if catalogue is None and opts.items is not None:
        catalogue = _read_catalogue(opts.items, opts.item_col, opts.encoding)
    return InteractionDataset._from_table(
        df, opts, items=catalogue, users=None, name=name or path.name, path=path,
        first_line=None, lines=lines, keep_all_items=True, bad_rows=bad)


def _read_catalogue(path: str | Path, item_col: str, encoding: str) -> pd.DataFrame:
    """A catalogue file, which must have an ``item_id`` or ``item_col`` column."""
    table, _ = read_table(path, encoding=encoding)
    key = "item_id" if "item_id" in table.columns else item_col
    if key not in table.columns:
        raise DataFormatError(f"the catalogue has no {item_col!r} or 'item_id' column; "
                              f"its columns are {list(table.columns)}", path=path)
    return table
