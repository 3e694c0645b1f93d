"""UCI Online Retail loader: the real file, hand-computed toy files, malformed files, download."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import sys
import zipfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synerec.data import retail
from synerec.data.registry import dataset_info, load_dataset
from synerec.data.retail import (
    COLUMNS,
    DROP_REASONS,
    clean_online_retail,
    download_online_retail,
    is_product_code,
    load_online_retail,
    read_online_retail,
)
from synerec.exceptions import ChecksumError, DataFormatError, DatasetNotFoundError
from tests.conftest import require_dataset

NAME = "uci-online-retail"


def utc(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


# -- real data ----------------------------------------------------------------------------------
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def real(data_home: Path):  # type: ignore[no-untyped-def]
    """The data set loaded once, the raw file read with plain pandas, and the loader's log."""
    folder = require_dataset(NAME, "online_retail.csv.gz")
    logger = logging.getLogger("synerec.data.retail")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        ds = load_dataset(NAME, data_home=data_home, download=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    raw = pd.read_csv(folder / "online_retail.csv.gz", dtype=str, keep_default_na=False)
    return ds, raw, expected_lines(raw), handler.records


def expected_lines(raw: pd.DataFrame) -> pd.DataFrame:
    """The filter written out with plain pandas, independently of the loader."""
    qty = raw["Quantity"].astype(int)
    price = raw["UnitPrice"].astype(float)
    basic = ((raw["CustomerID"] != "") & ~raw["InvoiceNo"].str.startswith("C") & (qty > 0)
             & (price > 0))
    # Publisher-documented figures before removing the non-product codes.
    assert basic.sum() == 397_884
    assert raw.loc[basic, "CustomerID"].nunique() == 4_338
    code = raw["StockCode"].str.upper()
    product = code.str.len().ge(5) & code.str[:5].str.isdigit() & code.str[5:].str.isalpha() | (
        code.str.len() == 5) & code.str.isdigit()
    kept = raw.loc[basic & product].copy()
    kept["code"] = code[basic & product]
    kept["qty"] = qty[basic & product]
    dates = pd.to_datetime(kept["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    kept["t"] = dates.astype("datetime64[s]").astype("int64")
    kept["user"] = kept["CustomerID"].astype("int64")
    return kept


def test_real_sizes_and_filter(real) -> None:  # type: ignore[no-untyped-def]
    ds, raw, kept, _ = real
    assert len(raw) == 541_909
    assert ds.name == NAME and ds.rating_scale is None and ds.implicit
    assert ds.n_users == kept["user"].nunique() == 4_334
    assert ds.n_items == kept["code"].nunique() == 3_659
    assert ds.n_interactions == len(kept.groupby(["user", "code"])) == 266_221
    assert ds.values.sum() == kept["qty"].sum()
    assert set(ds.items.ids) == set(kept["code"])
    assert not {"POST", "DOT", "M", "C2", "D", "BANK CHARGES", "AMAZONFEE"} & set(ds.items.ids)


def test_real_values_and_timestamps(real) -> None:  # type: ignore[no-untyped-def]
    ds, _, kept, _ = real
    want = (kept.groupby(["user", "code"]).agg(qty=("qty", "sum"), t=("t", "max"))
            .reset_index().sort_values(["user", "code"]).reset_index(drop=True))
    got = (ds.to_dataframe().rename(columns={"user_id": "user", "item_id": "code"})
           .sort_values(["user", "code"]).reset_index(drop=True))
    assert got["user"].tolist() == want["user"].tolist()
    assert got["code"].tolist() == want["code"].tolist()
    np.testing.assert_array_equal(got["rating"].to_numpy(np.int64), want["qty"].to_numpy())
    np.testing.assert_array_equal(got["timestamp"].to_numpy(), want["t"].to_numpy())
    # The last invoice line of the file (2011-12-09 12:50), read as UTC.
    assert ds.timestamps.max() == utc("2011-12-09 12:50:00")


def test_real_titles_and_countries(real) -> None:  # type: ignore[no-untyped-def]
    ds, _, kept, _ = real

    def most_frequent(keys: pd.Series, values: pd.Series) -> dict[Any, str]:
        counters: dict[Any, Counter[str]] = defaultdict(Counter)
        for key, value in zip(keys, values, strict=True):
            if value:
                counters[key][value] += 1
        # Highest count, ties to the alphabetically first.
        return {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in counters.items()}

    titles = most_frequent(kept["code"], kept["Description"])
    assert ds.item_info["title"].to_dict() == titles
    assert ds.item_info.loc["85123A", "title"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert (ds.item_info["category"] == "").all()
    assert (ds.item_info["description"] == "").all()
    countries = most_frequent(kept["user"], kept["Country"])
    assert ds.user_info["Country"].to_dict() == countries


def test_real_drop_counts_logged(real) -> None:  # type: ignore[no-untyped-def]
    _, raw, _, records = real
    logged = [r for r in records if "drop_counts" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.INFO
    counts = logged[0].args[-1]  # type: ignore[index]
    # Sequential masks in the documented order, with plain pandas.
    left = pd.Series(True, index=raw.index)
    code = raw["StockCode"].str.upper()
    masks = {
        "cancellation": raw["InvoiceNo"].str.startswith("C"),
        "non_product": ~code.str.match(r"^[0-9]{5}[A-Z]*$"),
        "no_customer": raw["CustomerID"] == "",
        "quantity_not_positive": raw["Quantity"].astype(int) <= 0,
        "price_not_positive": raw["UnitPrice"].astype(float) <= 0,
    }
    want = {}
    for reason, mask in masks.items():
        want[reason] = int((left & mask).sum())
        left &= ~mask
    assert counts == want
    assert list(counts) == list(DROP_REASONS)
    assert sum(counts.values()) == len(raw) - int(left.sum()) == 541_909 - 396_337
    assert counts["cancellation"] == 9_288
    assert f"kept {int(left.sum())} of 541909 lines" in logged[0].getMessage()


def test_registry_entry() -> None:
    info = dataset_info(NAME)
    assert info.files == ("online_retail.csv.gz",)
    assert info.download is not None and not info.builtin


# -- a hand-computed toy file -------------------------------------------------------------------
# (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country);
# the comment says what happens to each line (file line = index + 2).
ROWS: list[tuple[Any, ...]] = [
    ("536365", "85123A", "WHITE HANGING HEART", 6, "2010-12-01 08:26:00", 2.55, 17850,
     "United Kingdom"),  # kept
    ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850,
     "United Kingdom"),  # kept
    ("536366", "85123a", "WHITE HANGING HEART, LARGE", 2, "2010-12-02 09:00:00", 2.55, 17850,
     "United Kingdom"),  # kept, same product as 85123A
    ("C536379", "85123A", "WHITE HANGING HEART", -1, "2010-12-03 10:00:00", 2.55, 17850,
     "United Kingdom"),  # cancellation
    ("536370", "POST", "POSTAGE", 3, "2010-12-01 08:45:00", 18.0, 12583, "France"),  # non-product
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", 24, "2010-12-01 08:45:00", 3.75, 12583,
     "France"),  # kept
    ("536371", "22728", "ALARM CLOCK BAKELIKE PINK", 10, "2010-12-04 11:00:00", 3.75, None,
     "United Kingdom"),  # no customer
    ("536372", "22728", 'ALARM CLOCK "PINK"', 0, "2010-12-05 12:00:00", 3.75, 12583,
     "France"),  # quantity 0
    ("536373", "22728", "ALARM CLOCK BAKELIKE PINK", -2, "2010-12-05 12:00:00", 3.75, 12583,
     "France"),  # negative quantity
    ("536374", "22728", "FREE SAMPLE", 5, "2010-12-06 13:00:00", 0.0, 12583, "France"),  # price 0
    ("536375", "gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", 1, "2010-12-06 13:00:00",
     8.51, 12583, "France"),  # non-product
    ("536376", "22728", "ALARM CLOCK, PINK", 4, "2010-12-07 14:00:00", 3.75, 12583,
     "Germany"),  # kept
    ("536377", "M", "Manual", 1, "2010-12-07 14:00:00", -5.0, 12583, "France"),  # non-product
    ("536378", "85123A", "WHITE HANGING HEART", 1, "2010-12-08 15:00:00", 2.55, 12583,
     "France"),  # kept
    ("A563185", "B", "Adjust bad debt", 1, "2011-08-12 14:50:00", -11062.06, None,
     "United Kingdom"),  # non-product
]
TOY_DROPS = {"cancellation": 1, "non_product": 4, "no_customer": 1, "quantity_not_positive": 2,
             "price_not_positive": 1}
TOY_PAIRS = {
    (17850, "85123A"): (8.0, utc("2010-12-02 09:00:00")),
    (17850, "71053"): (6.0, utc("2010-12-01 08:26:00")),
    (12583, "22728"): (28.0, utc("2010-12-07 14:00:00")),
    (12583, "85123A"): (1.0, utc("2010-12-08 15:00:00")),
}


def csv_text(rows: list[tuple[Any, ...]], columns: tuple[str, ...] = COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def write_toy(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "online_retail.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(text)
    return folder


def check_toy(ds) -> None:  # type: ignore[no-untyped-def]
    df = ds.to_dataframe()
    got = {(u, i): (r, t) for u, i, r, t in df.itertuples(index=False)}
    assert got == TOY_PAIRS
    assert ds.rating_scale is None
    assert ds.item_info["title"].to_dict() == {
        "85123A": "WHITE HANGING HEART",  # 2 of 3 kept lines
        "71053": "WHITE METAL LANTERN",
        "22728": "ALARM CLOCK BAKELIKE PINK",  # a 1-1 tie: the alphabetically first
    }
    assert ds.user_info["Country"].to_dict() == {17850: "United Kingdom", 12583: "France"}


def test_toy_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_toy(tmp_path / NAME, csv_text(ROWS))
    with caplog.at_level(logging.INFO, logger="synerec.data.retail"):
        ds = load_online_retail(folder)
    check_toy(ds)
    assert f"kept 6 of 15 lines; drop_counts={TOY_DROPS}" in caplog.text
    kept, counts = clean_online_retail(read_online_retail(folder / "online_retail.csv.gz"))
    assert counts == TOY_DROPS
    assert kept["line"].tolist() == [2, 3, 4, 7, 13, 15]


def test_product_code_rule() -> None:
    codes = ["85123A", "22423", "15056bl", "POST", "DOT", "M", "C2", "D", "BANK CHARGES",
             "AMAZONFEE", "CRUK", "PADS", "B", "S", "gift_0001_10", "DCGS0003", "8512", "85123-A",
             "123456"]
    assert is_product_code(codes).tolist() == [True, True, True] + [False] * 16


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"online_retail\.csv\.gz not found"):
        load_online_retail(tmp_path)


# -- malformed files ----------------------------------------------------------------------------
def test_non_numeric_quantity(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[1] = (*rows[1][:3], "ten", *rows[1][4:])
    folder = write_toy(tmp_path / NAME, csv_text(rows))
    with pytest.raises(DataFormatError) as exc:
        load_online_retail(folder)
    assert (exc.value.line, exc.value.column, exc.value.value) == (3, "Quantity", "ten")
    assert "online_retail.csv.gz, line 3, column 'Quantity': expected an integer: 'ten'" in str(
        exc.value)


def test_error_line_counts_blank_lines(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[5] = (*rows[5][:5], "3,75", *rows[5][6:])  # a decimal comma
    text = csv_text(rows).splitlines(keepends=True)
    folder = write_toy(tmp_path / NAME, "".join([*text[:3], "\n", "\n", *text[3:]]))
    with pytest.raises(DataFormatError) as exc:
        load_online_retail(folder)
    assert (exc.value.line, exc.value.column, exc.value.value) == (9, "UnitPrice", "3,75")


def test_bad_date(tmp_path: Path) -> None:
    rows = list(ROWS)
    rows[4] = (*rows[4][:4], "01/12/2010 08:45", *rows[4][5:])
    folder = write_toy(tmp_path / NAME, csv_text(rows))
    with pytest.raises(DataFormatError) as exc:
        load_online_retail(folder)
    assert (exc.value.line, exc.value.column, exc.value.value) == (6, "InvoiceDate",
                                                                   "01/12/2010 08:45")


def test_missing_column(tmp_path: Path) -> None:
    folder = write_toy(tmp_path / NAME, csv_text([r[:7] for r in ROWS], COLUMNS[:7]))
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['Country'\]") as exc:
        load_online_retail(folder)
    assert exc.value.path is not None and exc.value.path.endswith("online_retail.csv.gz")


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = write_toy(tmp_path / NAME, csv_text(ROWS * 40))
    path = folder / "online_retail.csv.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated gz file") as exc:
        load_online_retail(folder)
    assert exc.value.path == str(path)


# -- download: the publisher's zip holding an Excel workbook ------------------------------------
@pytest.fixture
def server(file_server: tuple[Path, str]) -> tuple[Path, str]:
    """The publisher's site: a folder served on 127.0.0.1 (see tests/conftest.py)."""
    return file_server


def publish_workbook(server: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
                     member: str = "Online Retail.xlsx") -> str:
    """Serve a zip with the toy rows as the publisher's workbook: numbers where Excel has
    numbers (InvoiceNo, StockCode, CustomerID), real dates, untrimmed text."""
    root, url = server
    sheet = pd.DataFrame(ROWS, columns=list(COLUMNS))
    sheet["InvoiceNo"] = [int(v) if v.isdigit() else v for v in sheet["InvoiceNo"]]
    sheet["StockCode"] = [int(v) if v.isdigit() else v for v in sheet["StockCode"]]
    sheet["Description"] = sheet["Description"] + " "
    sheet["InvoiceDate"] = pd.to_datetime(sheet["InvoiceDate"])
    sheet["CustomerID"] = sheet["CustomerID"].astype(float)
    book = root / "book.xlsx"
    sheet.to_excel(book, index=False, engine="openpyxl")
    with zipfile.ZipFile(root / "online+retail.zip", "w") as zf:
        zf.write(book, member)
        zf.writestr("Readme.txt", "not needed")
    digest = hashlib.sha256((root / "online+retail.zip").read_bytes()).hexdigest()
    monkeypatch.setattr(retail, "ARCHIVE_URL", f"{url}/online+retail.zip")
    monkeypatch.setattr(retail, "ARCHIVE_SHA256", digest)
    return digest


def test_download_converts_workbook(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                    tmp_path: Path) -> None:
    publish_workbook(server, monkeypatch)
    home = tmp_path / "home"
    ds = load_dataset(NAME, data_home=home)
    check_toy(ds)
    folder = home / NAME
    assert [p.name for p in folder.iterdir()] == ["online_retail.csv.gz"]
    # The converted file has the documented format: the same text as the toy CSV.
    assert gzip.decompress((folder / "online_retail.csv.gz").read_bytes()).decode() == csv_text(
        ROWS)


def test_download_checksum_mismatch(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                    tmp_path: Path) -> None:
    publish_workbook(server, monkeypatch)
    monkeypatch.setattr(retail, "ARCHIVE_SHA256", "f" * 64)
    folder = tmp_path / "home" / NAME
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_online_retail(folder, show_progress=False)
    assert list(folder.iterdir()) == []


def test_download_archive_without_workbook(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                          tmp_path: Path) -> None:
    publish_workbook(server, monkeypatch, member="Other.xlsx")
    folder = tmp_path / "home" / NAME
    with pytest.raises(ChecksumError, match=r"lacks the expected member 'Online Retail\.xlsx'"):
        download_online_retail(folder, show_progress=False)
    assert list(folder.iterdir()) == []


def test_download_without_openpyxl(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                   tmp_path: Path) -> None:
    publish_workbook(server, monkeypatch)
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl -> ImportError
    home = tmp_path / "home"
    with pytest.raises(DatasetNotFoundError, match=r"needs openpyxl: pip install 'synerec\[io\]'"):
        load_dataset(NAME, data_home=home)
    assert list((home / NAME).iterdir()) == []
