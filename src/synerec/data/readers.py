"""Generic interaction files: CSV, TSV, Parquet and JSON-lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synerec.data._io import iter_json_lines, read_delimited
from synerec.data.dataset import DuplicatePolicy, InteractionDataset
from synerec.exceptions import DataFormatError

__all__ = ["read_interactions", "read_table"]


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    ext = suffixes[-1] if suffixes else ""
    formats = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
               ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
    if ext not in formats:
        raise DataFormatError(
            f"cannot tell the file format from the extension {ext or '(none)'!r}; use .csv, .tsv, "
            ".parquet or .jsonl (optionally .gz), or pass format=", path=path)
    return formats[ext]


def read_table(path: str | Path, format: str | None = None, encoding: str = "utf-8",
               required: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Read a table file as it is.

    Returns
    -------
    (DataFrame, lines)
        The table (text formats: every cell a string) and, for text formats, each row's line.
    """
    path = Path(path)
    fmt = format or _format_of(path)
    if fmt in ("csv", "tsv"):
        df, first = read_delimited(path, "," if fmt == "csv" else "\t", header=True,
                                   encoding=encoding, required=required)
        lines = df.attrs.pop("lines", None)  # set when blank lines shift the rows
        return df, lines if lines is not None else np.arange(first, first + len(df))
    if fmt == "jsonl":
        rows, lines = [], []
        for lineno, obj in iter_json_lines(path, encoding):
            rows.append(obj)
            lines.append(lineno)
        df = pd.DataFrame(rows)
        if required:
            missing = [c for c in required if c not in df.columns]
            if missing:
                raise DataFormatError(f"no record has the field(s) {missing}", path=path)
        return df, np.asarray(lines)
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


def read_interactions(
    path: str | Path,
    *,
    format: str | None = None,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
    items: str | Path | pd.DataFrame | None = None,
    rating_scale: tuple[float, float] | str | None = "infer",
    duplicates: DuplicatePolicy = "error",
    encoding: str = "utf-8",
    name: str | None = None,
) -> InteractionDataset:
    """Read an interaction log (and optionally a catalogue file) into a data set.

    Parameters
    ----------
    path
        CSV, TSV, Parquet or JSON-lines file with a header/field names, optionally compressed.
    format
        ``csv``, ``tsv``, ``parquet`` or ``jsonl``; by default taken from the extension.
    user_col, item_col, rating_col, timestamp_col
        Column names (``rating_col=None`` for unary implicit data).
    items
        Catalogue file or table with ``item_id`` and text columns.
    rating_scale, duplicates
        See :meth:`InteractionDataset.from_dataframe`.
    encoding
        Text encoding of text formats.
    name
        Data set name (default: the file name).

    Raises
    ------
    DataFormatError
        Naming the file, line, column and value of the first problem.
    """
    path = Path(path)
    required = [user_col, item_col] + ([rating_col] if rating_col else [])
    df, lines = read_table(path, format, encoding, required=required)
    item_table = None
    if items is not None:
        if isinstance(items, pd.DataFrame):
            item_table = items
        else:
            item_table, _ = read_table(items, encoding=encoding, required=["item_id"])
    return InteractionDataset.from_dataframe(
        df, user_col=user_col, item_col=item_col, rating_col=rating_col,
        timestamp_col=timestamp_col, items=item_table,
        rating_scale=rating_scale,  # type: ignore[arg-type]
        duplicates=duplicates, name=name or path.name, path=path, lines=lines,
    )

