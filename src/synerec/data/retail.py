"""UCI "Online Retail": a year of a UK gift-ware shop's invoice lines as implicit feedback.

The data set ``uci-online-retail`` reads ``online_retail.csv.gz`` from its folder in the data
home: a gzip'd UTF-8 CSV with the publisher's eight columns, in order ``InvoiceNo``,
``StockCode``, ``Description``, ``Quantity``, ``InvoiceDate`` (``YYYY-MM-DD HH:MM:SS``, the
shop's local time), ``UnitPrice``, ``CustomerID`` (empty when unknown) and ``Country``. The
publisher ships an Excel workbook; :func:`download_online_retail` converts it to that CSV.

Which lines become interactions
-------------------------------
Each line is dropped for the first of these reasons that applies (the counts are logged and
returned by :func:`clean_online_retail`):

``cancellation``
    ``InvoiceNo`` starts with ``C``.
``non_product``
    ``StockCode`` is not a product code. **Rule:** a product code is five digits optionally
    followed by letters (``85123A``, ``22423``); everything else is postage, fees, manual
    adjustments, samples, gift vouchers or dotcom-shop codes (``POST``, ``DOT``, ``M``, ``C2``,
    ``D``, ``BANK CHARGES``, ``AMAZONFEE``, ``CRUK``, ``PADS``, ``B``, ``S``, ``gift_0001_10``,
    ``DCGS0003``, ...).
``no_customer``
    ``CustomerID`` is empty.
``quantity_not_positive``
    ``Quantity <= 0`` (returns and stock adjustments).
``price_not_positive``
    ``UnitPrice <= 0`` (free items and write-offs).

Stock codes are upper-cased: the file has both ``15056BL`` and ``15056bl`` for the same product
(112 codes occur in both cases, always with the same description).

References
----------
D. Chen. Online Retail [Dataset]. UCI Machine Learning Repository, 2015.
https://doi.org/10.24432/C5BW33
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from synerec.data._io import read_delimited
from synerec.data.dataset import InteractionDataset, parse_numbers
from synerec.data.download import extract_members, fetch
from synerec.data.registry import DatasetInfo, register_dataset
from synerec.exceptions import DataFormatError, DatasetNotFoundError

__all__ = [
    "ARCHIVE_MEMBER",
    "ARCHIVE_SHA256",
    "ARCHIVE_URL",
    "COLUMNS",
    "DROP_REASONS",
    "FILE_NAME",
    "clean_online_retail",
    "download_online_retail",
    "is_product_code",
    "load_online_retail",
    "read_online_retail",
    "xlsx_to_csv",
]

log = logging.getLogger(__name__)

NAME = "uci-online-retail"
SOURCE = "https://archive.ics.uci.edu/dataset/352/online+retail"
#: The publisher's archive.
ARCHIVE_URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
#: sha256 of the archive; the publisher gives none, so the digest seen is logged instead.
ARCHIVE_SHA256: str | None = None
#: The workbook inside the archive.
ARCHIVE_MEMBER = "Online Retail.xlsx"
#: The file the loader reads.
FILE_NAME = "online_retail.csv.gz"
COLUMNS: tuple[str, ...] = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                            "UnitPrice", "CustomerID", "Country")
#: Drop reasons, in the order they are tested.
DROP_REASONS: tuple[str, ...] = ("cancellation", "non_product", "no_customer",
                                 "quantity_not_positive", "price_not_positive")
_PRODUCT_CODE = r"\d{5}[A-Za-z]*"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def is_product_code(codes: pd.Series | list[str] | np.ndarray) -> np.ndarray:
    """Whether each stock code names a product: five digits optionally followed by letters."""
    s = pd.Series(codes, dtype=object).astype("string").str.strip()
    return s.str.fullmatch(_PRODUCT_CODE).fillna(False).to_numpy(dtype=bool)


def read_online_retail(path: str | Path) -> pd.DataFrame:
    """Read and type-check the CSV, every line (nothing dropped).

    Returns
    -------
    DataFrame
        ``InvoiceNo``, ``StockCode`` (upper case), ``Description``, ``Country`` (str, stripped),
        ``Quantity`` (int64), ``UnitPrice`` (float64), ``CustomerID`` (float64, NaN when
        empty), ``timestamp`` (int64 unix seconds, the local time read as UTC) and ``line``
        (the line in the file).

    Raises
    ------
    DataFormatError
        A truncated archive, a missing column, or a cell that is not of its column's type;
        naming file, line, column and value.
    """
    path = Path(path)
    df, first = read_delimited(path, ",", header=True, required=list(COLUMNS))
    lines = df.attrs.get("lines")  # set when blank lines shift the rows
    if lines is None:
        lines = np.arange(first, first + len(df), dtype=np.int64)
    out = pd.DataFrame({
        "InvoiceNo": df["InvoiceNo"].str.strip(),
        "StockCode": df["StockCode"].str.strip().str.upper(),
        "Description": df["Description"].str.strip(),
        "Country": df["Country"].str.strip(),
    })
    out["Quantity"] = parse_numbers(df["Quantity"], column="Quantity", path=path, lines=lines,
                                    integer=True).astype(np.int64)
    out["UnitPrice"] = parse_numbers(df["UnitPrice"], column="UnitPrice", path=path,
                                     lines=lines)
    out["CustomerID"] = parse_numbers(df["CustomerID"], column="CustomerID", path=path,
                                      lines=lines, integer=True, allow_missing=True)
    dates = pd.to_datetime(df["InvoiceDate"].str.strip(), format=_DATE_FORMAT, errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"expected a date {_DATE_FORMAT!r}", path=path, line=int(lines[r]),
                              column="InvoiceDate", value=df["InvoiceDate"].iloc[r],
                              has_value=True)
    out["timestamp"] = dates.to_numpy().astype("datetime64[s]").astype(np.int64)
    out["line"] = lines
    return out


def clean_online_retail(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep the product purchases of known customers.

    Parameters
    ----------
    table
        As returned by :func:`read_online_retail`.

    Returns
    -------
    (DataFrame, dict)
        The kept lines and, per reason in :data:`DROP_REASONS`, how many lines it dropped (each
        line counted once, under the first reason that applies; see the module docstring).
    """
    reasons = {
        "cancellation": table["InvoiceNo"].str.startswith("C").to_numpy(dtype=bool),
        "non_product": ~is_product_code(table["StockCode"]),
        "no_customer": np.isnan(table["CustomerID"].to_numpy(np.float64)),
        "quantity_not_positive": (table["Quantity"] <= 0).to_numpy(),
        "price_not_positive": (table["UnitPrice"] <= 0).to_numpy(),
    }
    keep = np.ones(len(table), dtype=bool)
    counts: dict[str, int] = {}
    for reason in DROP_REASONS:
        hit = keep & reasons[reason]
        counts[reason] = int(hit.sum())
        keep &= ~hit
    return table.loc[keep].reset_index(drop=True), counts


def _most_frequent(table: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Per ``key``, its most frequent non-empty ``value`` (ties: the alphabetically first)."""
    t = table.loc[table[value] != "", [key, value]]
    counts = t.groupby([key, value], sort=False).size().reset_index(name="n")
    counts = counts.sort_values([key, "n", value], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates(key).set_index(key)[value]


def load_online_retail(folder: str | Path, *, name: str = NAME) -> InteractionDataset:
    """Load UCI Online Retail as implicit purchase feedback.

    Parameters
    ----------
    folder
        The folder holding ``online_retail.csv.gz``.
    name
        Data set name.

    Returns
    -------
    InteractionDataset
        One interaction per (customer, stock code): value = total quantity bought, timestamp =
        the last purchase; ``rating_scale`` is ``None``. User ids are the integer customer ids,
        item ids the (upper-cased) stock codes. ``item_info.title`` is the product's most
        frequent description among the kept lines, ``category`` and ``description`` are empty
        (the data has none); ``user_info.Country`` is the customer's most frequent country.
        Lines dropped by :func:`clean_online_retail` are counted in the log (INFO).

    Raises
    ------
    DataFormatError
        A malformed or truncated file.
    DatasetNotFoundError
        The file is missing.
    """
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} not found; run load_dataset({NAME!r}) with "
                                   f"download=True or convert the publisher's {ARCHIVE_MEMBER} "
                                   f"({SOURCE}) with synerec.data.retail.xlsx_to_csv")
    table = read_online_retail(path)
    kept, drop_counts = clean_online_retail(table)
    log.info("%s: kept %d of %d lines; drop_counts=%s", path.name, len(kept), len(table),
             drop_counts)
    if kept.empty:
        raise DataFormatError("no purchase line is left after filtering", path=path)
    kept["CustomerID"] = kept["CustomerID"].astype(np.int64)
    titles = _most_frequent(kept, "StockCode", "Description")
    countries = _most_frequent(kept, "CustomerID", "Country")
    items = pd.DataFrame({"item_id": titles.index.astype(object), "title": titles.to_numpy()})
    users = pd.DataFrame({"user_id": countries.index.to_numpy(np.int64),
                          "Country": countries.to_numpy()})
    return InteractionDataset.from_dataframe(
        kept, user_col="CustomerID", item_col="StockCode", rating_col="Quantity",
        time_col="timestamp", items=items, users=users, rating_scale=None,
        duplicates="sum", name=name, path=path, lines=kept["line"].to_numpy(),
        keep_all_items=False,
    )


def xlsx_to_csv(xlsx: str | Path, dest: str | Path) -> Path:
    """Convert the publisher's ``Online Retail.xlsx`` to the CSV the loader reads.

    Strings are stripped, ``InvoiceDate`` written as ``YYYY-MM-DD HH:MM:SS``, ``CustomerID`` as
    an integer (empty when missing); the gzip is written to a temporary name and renamed into
    place, so an interrupted conversion leaves no file.

    Raises
    ------
    DatasetNotFoundError
        openpyxl is not installed (``pip install 'synerec[io]'``).
    DataFormatError
        The workbook lacks a column or holds a value of the wrong type.
    """
    xlsx, dest = Path(xlsx), Path(dest)
    try:
        import openpyxl  # noqa: F401  (pandas' reader for .xlsx)
    except ImportError as exc:
        raise DatasetNotFoundError(
            f"converting the publisher's {ARCHIVE_MEMBER} needs openpyxl: "
            "pip install 'synerec[io]' (or convert it yourself to " + FILE_NAME + ")") from exc
    try:
        sheet = pd.read_excel(xlsx, engine="openpyxl", dtype=object)
    except (ValueError, KeyError, OSError) as exc:
        raise DataFormatError(f"not a readable workbook ({exc})", path=xlsx) from exc
    missing = [c for c in COLUMNS if c not in sheet.columns]
    if missing:
        raise DataFormatError(f"missing column(s) {missing}; the sheet has "
                              f"{list(sheet.columns)}", path=xlsx, line=1)

    def text(col: str) -> pd.Series:
        s = sheet[col]
        return s.where(s.notna(), "").astype(str).str.strip()

    row_of = np.arange(2, 2 + len(sheet))  # spreadsheet rows below the header
    out = pd.DataFrame({"InvoiceNo": text("InvoiceNo"), "StockCode": text("StockCode"),
                        "Description": text("Description")})
    out["Quantity"] = parse_numbers(sheet["Quantity"], column="Quantity", path=xlsx,
                                    lines=row_of, integer=True).astype(np.int64)
    dates = pd.to_datetime(sheet["InvoiceDate"], errors="coerce")
    if dates.isna().any():
        r = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataFormatError("expected a date", path=xlsx, line=int(row_of[r]),
                              column="InvoiceDate", value=sheet["InvoiceDate"].iloc[r],
                              has_value=True)
    out["InvoiceDate"] = dates.dt.strftime(_DATE_FORMAT)
    out["UnitPrice"] = parse_numbers(sheet["UnitPrice"], column="UnitPrice", path=xlsx,
                                     lines=row_of)
    customer = parse_numbers(sheet["CustomerID"], column="CustomerID", path=xlsx, lines=row_of,
                             integer=True, allow_missing=True)
    out["CustomerID"] = pd.Series(customer, index=out.index).astype("Int64")
    out["Country"] = text("Country")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        out.to_csv(tmp_name, index=False, compression={"method": "gzip", "mtime": 0})
        os.replace(tmp_name, dest)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    log.info("converted %s (%d lines) -> %s", xlsx.name, len(out), dest)
    return dest


def download_online_retail(folder: str | Path, *, show_progress: bool = True) -> None:
    """Fetch the publisher's archive and convert its workbook to ``online_retail.csv.gz``.

    The archive and the workbook are kept only in a temporary folder inside ``folder``.

    Raises
    ------
    DatasetNotFoundError
        No network, an HTTP error, or openpyxl missing.
    ChecksumError
        The archive does not match :data:`ARCHIVE_SHA256` (when set), is not a zip file, or lacks
        the workbook.
    """
    folder = Path(folder)
    dest = folder / FILE_NAME
    if dest.is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
        archive = fetch(ARCHIVE_URL, Path(tmp) / "online_retail.zip", ARCHIVE_SHA256,
                        show_progress=show_progress)
        (xlsx,) = extract_members(archive, tmp, {ARCHIVE_MEMBER: None})
        xlsx_to_csv(xlsx, dest)


register_dataset(DatasetInfo(
    name=NAME,
    description="UCI Online Retail 2010-2011: implicit purchases (summed quantities), "
                "4,334 customers x 3,659 products",
    files=(FILE_NAME,),
    loader=load_online_retail,
    download=download_online_retail,
    source=SOURCE,
))
