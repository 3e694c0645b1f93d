"""A shop's own exports read as they are: implicit feedback, bad rows, filters, configs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.data import DatasetConfig, load_dataset, read_config_file, read_interactions
from synerec.data.filters import RowFilter
from synerec.data.report import MAX_LISTED
from synerec.exceptions import BadRowsError, ConfigError, DataFormatError

HEADER = "order_id,customer_email,sku,product_name,quantity,price,ts\n"
ROWS = [
    "A1,amy@example.com,SKU-1,Mug,2,4.50,2024-03-01T10:00:00Z",      # line 2
    "A1,amy@example.com,SKU-2,Teapot,1,20.00,2024-03-01T10:00:00Z",  # line 3
    "A2,bob@example.com,SKU-1,Mug,1,4.50,2024-03-02T09:30:00+01:00",  # line 4
    "A3,cid@example.com,SKU-3,Tray,3,9.99,2024-03-03 12:00:00",       # line 5
    "A4,Amy@Example.com,SKU-1,Mug,1,4.50,2024-03-04T08:00:00Z",       # line 6 (case)
]
SHOP = dict(user_col="customer_email", item_col="sku", weight_col="quantity",
            time_col="ts", title_col="product_name")


def _write(path: Path, text: str) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def test_purchases_are_implicit_with_quantity_as_weight(tmp_path: Path) -> None:
    path = _write(tmp_path / "orders.csv", HEADER + "\n".join(ROWS) + "\n")
    data = read_interactions(path, **SHOP, id_case={"user": "lower"})
    assert data.implicit and data.rating_scale is None
    assert data.users.ids.tolist() == ["amy@example.com", "bob@example.com", "cid@example.com"]
    m = data.matrix.toarray()
    amy, mug = data.users.index("amy@example.com"), data.items.index("SKU-1")
    assert m[amy, mug] == 3.0  # 2 + 1: repeat purchases add up (implicit default: sum)
    assert data.report.duplicates == "sum" and data.report.duplicates_merged == 1
    assert data.item_info.loc["SKU-2", "title"] == "Teapot"
    # ISO with Z, with an offset, and without one (UTC); latest purchase kept for merged rows
    pairs = zip(data.users.ids_of(data.user_index), data.items.ids_of(data.item_index),
                strict=True)
    ts = dict(zip(pairs, data.timestamps.tolist(), strict=True))
    assert ts[("bob@example.com", "SKU-1")] == 1709368200  # 2024-03-02T08:30:00Z
    assert ts[("cid@example.com", "SKU-3")] == 1709467200
    assert ts[("amy@example.com", "SKU-1")] == 1709539200  # the later of the two rows
    assert data.report.lines()[0].endswith("(implicit feedback, weights from 'quantity')")


def test_without_a_weight_column_every_row_is_one_positive(tmp_path: Path) -> None:
    path = _write(tmp_path / "orders.csv", HEADER + "\n".join(ROWS) + "\n")
    data = read_interactions(path, user_col="customer_email", item_col="sku", implicit=True,
                             time_col="ts")
    assert data.implicit
    assert data.matrix[data.users.index("amy@example.com"), data.items.index("SKU-1")] == 1.0
    assert sorted(data.values.tolist()) == [1.0] * 5  # "Amy@Example.com" is another user here


def test_a_quantity_is_never_read_as_a_rating_by_accident(tmp_path: Path) -> None:
    path = _write(tmp_path / "orders.csv", HEADER + "\n".join(ROWS) + "\n")
    with pytest.raises(DataFormatError) as exc:
        read_interactions(path, user_col="customer_email", item_col="sku",
                          rating_col="quantity", duplicates="sum")
    assert "sounds like a count" in str(exc.value) and "--weight-col quantity" in str(exc.value)
    with pytest.raises(DataFormatError, match=r"missing column 'rating'.*--implicit"):
        read_interactions(path, user_col="customer_email", item_col="sku")
    renamed = _write(tmp_path / "r.csv", "user_id,item_id,rating\nu1,i1,12\nu2,i1,48\n")
    with pytest.raises(DataFormatError, match=r"\(12\.\.48\) do not look like ratings"):
        read_interactions(renamed)
    # declared, a scale is taken at its word
    assert read_interactions(renamed, rating_scale=(1, 50)).rating_scale == (1.0, 50.0)
    with pytest.raises(ConfigError, match="weight_col='rating' is for implicit"):
        read_interactions(renamed, weight_col="rating", implicit=False)


def _messy(tmp_path: Path, name: str = "messy.csv") -> Path:
    lines = [HEADER.strip(), *ROWS,
        "B1,,SKU-1,Mug,1,4.50,2024-03-05T10:00:00Z",              # line 7: no customer
        "B2,dan@example.com,,Mug,1,4.50,2024-03-05T10:00:00Z",     # line 8: no sku
        "B3,dan@example.com,SKU-2,Teapot,two,20.00,2024-03-05T10:00:00Z",  # 9: 'two'
        "B4,dan@example.com,SKU-3,Tray,,9.99,2024-03-05T10:00:00Z",        # 10: no quantity
        "B5,dan@example.com,SKU-1,Mug,1,4.50,",                    # line 11: no time
        "B6,dan@example.com,SKU-2,Teapot,1,20.00,last tuesday",    # line 12: bad time
        "B7,eve@example.com,SKU-1,Mug,-1,4.50,2024-03-06T10:00:00Z",  # line 13: a return
        "B8,eve@example.com,SKU-3,Tray,1,9.99,2024-03-06T10:00:00Z,extra",  # 14: extra field
        "B9,eve@example.com,SKU-2,Teapot,1,20.00,2024-03-06T10:00:00Z",     # line 15: good
    ]
    return _write(tmp_path / name, "\n".join(lines) + "\n")


def test_error_lists_every_bad_row_of_the_file(tmp_path: Path) -> None:
    path = _messy(tmp_path)
    with pytest.raises(BadRowsError) as exc:
        read_interactions(path, **SHOP)
    err = exc.value
    msg = str(err)
    assert msg.startswith(f"{path}, line 7, column 'customer_email': missing id in column "
                          "'customer_email' -- 8 bad rows in all")
    for part in ["line 8: missing id in column 'sku'",
                 "line 9: expected a number in column 'quantity' 'two'",
                 "line 10: missing value in column 'quantity'",
                 "line 11: missing timestamp in column 'ts'",
                 "line 12: expected a timestamp in column 'ts' 'last tuesday'",
                 "line 13: negative weight in column 'quantity' -1.0",
                 "line 14: expected 7 fields, found 8",
                 "--on-bad-rows skip"]:
        assert part in msg, part
    assert "\n" not in msg and (err.line, err.column) == (7, "customer_email")


def test_skip_drops_bad_rows_whole_and_reports_each_kind(tmp_path: Path) -> None:
    path = _messy(tmp_path, "messy.csv.gz")
    data = read_interactions(path, **SHOP, on_bad_rows="skip")
    report = data.report
    assert report.rows_read == 13 and report.rows_skipped == 8
    assert report.bad_rows.counts() == {
        "missing id in column 'customer_email'": 1, "missing id in column 'sku'": 1,
        "expected a number in column 'quantity'": 1,
        "missing value in column 'quantity'": 1, "missing timestamp in column 'ts'": 1,
        "expected a timestamp in column 'ts'": 1, "negative weight in column 'quantity'": 1,
        "expected 7 fields, found 8": 1}
    summary = "\n".join(report.lines())
    assert "skipped 8 bad rows" in summary
    assert "expected a number in column 'quantity': 1 (line 9 'two')" in summary
    # nothing half-read: no row of dan@ survived (all of his rows were bad), eve has one
    assert "dan@example.com" not in data.users
    eve = data.users.index("eve@example.com")
    assert data.matrix[eve].nnz == 1 and data.matrix[eve, data.items.index("SKU-2")] == 1.0
    assert len(data) == 5 + 1  # the five good rows of ROWS and eve's
    records = report.to_dict()["bad_rows"]
    assert {r["problem"] for r in records} >= {"negative weight", "expected a timestamp"}
    assert json.dumps(report.to_dict())  # plain JSON


def test_bad_rows_beyond_the_listing_limit_are_counted(tmp_path: Path) -> None:
    rows = [f"u{k},i{k % 7},{'x' if k % 2 else 1}" for k in range(2 * MAX_LISTED + 10)]
    path = _write(tmp_path / "many.csv", "user_id,item_id,qty\n" + "\n".join(rows) + "\n")
    with pytest.raises(BadRowsError) as exc:
        read_interactions(path, weight_col="qty")
    msg = str(exc.value)
    assert f"{MAX_LISTED + 5} bad rows in all" in msg
    assert f"... {MAX_LISTED + 5 - MAX_LISTED} more" in msg


def test_epoch_seconds_and_milliseconds(tmp_path: Path) -> None:
    secs = _write(tmp_path / "s.tsv", "user\titem\tt\nu1\ti1\t1700000000\nu2\ti1\t1700000100\n")
    ms = _write(tmp_path / "ms.tsv", "user\titem\tt\nu1\ti1\t1700000000123\nu2\ti1\t"
                                     "1700000100999\n")
    for path in (secs, ms):
        data = read_interactions(path, user_col="user", item_col="item", implicit=True,
                                 time_col="t")
        assert data.timestamps.tolist() == [1700000000, 1700000100]


def test_filters_drop_counted_rows(tmp_path: Path) -> None:
    text = ("InvoiceNo,StockCode,Quantity,UnitPrice,CustomerID\n"
            "1,85123A,6,2.5,17850\nC2,85123A,-6,2.5,17850\n3,POST,1,18,17850\n"
            "4,22423,2,0,17850\n5,22423,1,12.75,\n6,22423,1,12.75,13047\n")
    path = _write(tmp_path / "retail.csv", text)
    data = read_interactions(
        path, user_col="CustomerID", item_col="StockCode", weight_col="Quantity",
        where=["InvoiceNo !~ ^C", r"StockCode ~ ^\d{5}[A-Za-z]*$", "CustomerID ~ .",
               "UnitPrice > 0"])
    assert data.report.filtered == {"InvoiceNo !~ ^C": 1, r"StockCode ~ ^\d{5}[A-Za-z]*$": 1,
                                    "CustomerID ~ .": 1, "UnitPrice > 0": 1}
    assert sorted(zip(data.users.ids_of(data.user_index).tolist(),
                      data.items.ids_of(data.item_index).tolist(), strict=True)) == [
        ("13047", "22423"), ("17850", "85123A")]
    bad_price = _write(tmp_path / "p.csv", "u,i,price\nu1,i1,free\nu2,i1,3\n")
    with pytest.raises(BadRowsError, match=r"line 2, column 'price': expected a number "
                                           r"\(for the filter 'price > 0'\): 'free'"):
        read_interactions(bad_price, user_col="u", item_col="i", implicit=True,
                          where="price > 0")


@pytest.mark.parametrize(("text", "column", "op", "value"), [
    ("Quantity > 0", "Quantity", ">", 0.0),
    ("`Unit Price` >= 0.5", "Unit Price", ">=", 0.5),
    ("status == paid", "status", "==", "paid"),
    ("status != 'on hold'", "status", "!=", "on hold"),
    ("InvoiceNo !~ ^C", "InvoiceNo", "!~", "^C"),
])
def test_filter_syntax(text: str, column: str, op: str, value: object) -> None:
    f = RowFilter.parse(text)
    assert (f.column, f.op, f.value) == (column, op, value)


@pytest.mark.parametrize("text", ["Quantity", "Quantity >", "Quantity > many", "a ~ (",
                                  "a < 'x'"])
def test_malformed_filters_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        RowFilter.parse(text)


def test_catalogue_file_with_its_own_column_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "orders.csv", HEADER + "\n".join(ROWS) + "\n")
    items = _write(tmp_path / "products.csv", "sku,product_name,category\nSKU-1,Big Mug,"
                                              "Kitchen|Mugs\nSKU-9,New Vase,Home\n")
    data = read_interactions(path, user_col="customer_email", item_col="sku",
                             weight_col="quantity", time_col="ts", items=items,
                             title_col="product_name")
    assert data.item_info.loc["SKU-1", "title"] == "Big Mug"   # the catalogue wins
    assert data.item_info.loc["SKU-2", "title"] == "Teapot"    # filled from the log
    assert data.item_info.loc["SKU-9", "title"] == "New Vase"  # a cold item joins
    assert data.item_categories()[data.items.index("SKU-1")] == ("Kitchen", "Mugs")


def test_parquet_and_jsonl_exports(tmp_path: Path) -> None:
    frame = pd.DataFrame({"customer": ["a", "b", None, "a"], "sku": ["x", "y", "x", "y"],
                          "qty": [1.0, 2.0, 1.0, np.nan]})
    pq = tmp_path / "orders.parquet"
    frame.to_parquet(pq, index=False)
    with pytest.raises(BadRowsError, match=r"missing id in column 'customer' \(row 3\).*row 4: "
                                           r"missing value in column 'qty'"):
        read_interactions(pq, user_col="customer", item_col="sku", weight_col="qty")
    data = read_interactions(pq, user_col="customer", item_col="sku", weight_col="qty",
                             on_bad_rows="skip")
    assert len(data) == 2 and "row 3" in data.report.bad_rows.summary()[0].replace("rows", "row")
    jl = _write(tmp_path / "orders.jsonl.gz",
                '{"customer": "a", "sku": "x", "qty": 1}\nnot json\n'
                '{"customer": "b", "sku": "x", "qty": "two"}\n')
    with pytest.raises(BadRowsError) as exc:
        read_interactions(jl, user_col="customer", item_col="sku", weight_col="qty")
    assert exc.value.line == 2 and "invalid JSON" in str(exc.value)
    assert "line 3: expected a number in column 'qty' 'two'" in str(exc.value)


def test_config_file_round_trip_and_errors(tmp_path: Path) -> None:
    _messy(tmp_path, "orders.csv")
    cfg = tmp_path / "shop.toml"
    cfg.write_text('[data]\npath = "orders.csv"\nname = "acme"\nuser_col = "customer_email"\n'
                   'item_col = "sku"\nweight_col = "quantity"\ntime_col = "ts"\n'
                   'title_col = "product_name"\non_bad_rows = "skip"\n'
                   'id_case = { user = "lower" }\n', encoding="utf-8")
    config = read_config_file(cfg)
    assert config.path == str((tmp_path / "orders.csv").resolve())
    assert config.id_case == {"user": "lower", "item": "keep"}
    data = load_dataset(str(cfg))
    assert data.name == "acme" and data.report.rows_skipped == 8 and data.implicit
    assert data.source == {"config": config.model_dump(mode="json")}
    back = tmp_path / "back.toml"
    back.write_text(config.to_toml(), encoding="utf-8")
    assert read_config_file(back) == config
    cfg.write_text('[data]\npath = "orders.csv"\nuser_column = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'user_column'"):
        read_config_file(cfg)
    cfg.write_text('[data]\npath = "orders.csv"\non_bad_rows = "ignore"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="on_bad_rows"):
        read_config_file(cfg)
    cfg.write_text('path = "orders.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no \[data\] table"):
        read_config_file(cfg)


def test_a_file_read_in_python_remembers_how(tmp_path: Path) -> None:
    path = _write(tmp_path / "orders.csv", HEADER + "\n".join(ROWS) + "\n")
    data = load_dataset(str(path), **SHOP)
    config = DatasetConfig.model_validate(data.source["config"])
    again = config.load()
    np.testing.assert_array_equal(again.matrix.toarray(), data.matrix.toarray())
    assert load_dataset("demo-shop", random_state=3).source == {
        "name": "demo-shop", "options": {"random_state": 3}}
