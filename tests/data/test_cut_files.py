"""Nothing lost in silence: a column given twice, a line cut short, a file cut inside a quote."""

from __future__ import annotations

from pathlib import Path

import pytest

from synerec.data import read_interactions
from synerec.data.readers import read_table
from synerec.exceptions import BadRowsError, DataFormatError

HEADER = "order_id,customer,sku,status,category\n"
GOOD = [
    "o1,ann,S1,paid,Mugs",       # line 2
    "o2,bob,S2,paid,Tea",        # line 3
    "o3,cid,S1,refunded,Mugs",   # line 4
    "o4,dan,S3,paid,Wood",       # line 5
]
SHOP = dict(user_col="customer", item_col="sku", rating_col=None)


def _write(tmp_path: Path, lines: list[str], name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# -- the same column as title and category ---------------------------------------------------
def test_one_log_column_as_title_and_category_fills_both(tmp_path: Path) -> None:
    data = read_interactions(_write(tmp_path, GOOD), **SHOP, title_col="category",
                             category_col="category")
    info = data.item_info
    assert info.loc["S1", "title"] == "Mugs" and info.loc["S1", "category"] == "Mugs"
    assert (info["title"] != "").all() and (info["category"] != "").all()


def test_one_catalogue_column_as_title_and_category_fills_both(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("customer,sku\nann,S1\nbob,S2\n", encoding="utf-8")
    catalogue = tmp_path / "products.csv"
    catalogue.write_text("sku,kind\nS1,Mugs\nS2,Tea\nS3,Wood\n", encoding="utf-8")
    data = read_interactions(log, **SHOP, items=str(catalogue), title_col="kind",
                             category_col="kind")
    info = data.item_info
    assert info["title"].tolist() == ["Mugs", "Tea", "Wood"]
    assert info["category"].tolist() == ["Mugs", "Tea", "Wood"]
    # given once, it is renamed as before (no copy left under its own name)
    once = read_interactions(log, **SHOP, items=str(catalogue), title_col="kind").item_info
    assert once["title"].tolist() == ["Mugs", "Tea", "Wood"] and "kind" not in once.columns


# -- a line cut short ---------------------------------------------------------------------------
def test_a_line_cut_short_is_a_bad_row_not_a_filtered_one(tmp_path: Path) -> None:
    path = _write(tmp_path, [*GOOD[:2], "o5,eve,S2", *GOOD[2:]])  # line 4 lost its last fields
    with pytest.raises(BadRowsError) as exc:
        read_interactions(path, **SHOP, where=["status == paid"])
    assert str(exc.value) == (f"{path}, line 4: expected 5 fields, found 3 (no status, "
                              "category): 'o5,eve,S2'")
    data = read_interactions(path, **SHOP, where=["status == paid"], on_bad_rows="skip")
    report = data.report
    assert report.filtered == {"status == paid": 1}  # only the refunded order, not the cut line
    assert report.bad_rows.counts() == {"expected 5 fields, found 3 (no status, category)": 1}
    assert "line 4 'o5,eve,S2'" in "\n".join(report.lines())
    assert "eve" not in data.users


def test_a_line_cut_short_with_a_quoted_newline_elsewhere(tmp_path: Path) -> None:
    # a quoted line break leaves rows and lines unmatched: the short line is still found
    path = _write(tmp_path, ['o1,ann,S1,paid,"Mugs\nand cups"', "o2,bob", *GOOD[1:]])
    with pytest.raises(BadRowsError) as exc:
        read_interactions(path, **SHOP)
    assert exc.value.line == 4 and "found 2 (no sku, status, category)" in str(exc.value)


def test_empty_trailing_cells_are_not_a_cut_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [*GOOD, "o6,fay,S2,paid,"])
    data = read_interactions(path, **SHOP, category_col="category")
    assert data.report.bad_rows.counts() == {} and "fay" in data.users


def test_read_table_without_collecting_names_the_cut_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [*GOOD, "o7,gus"])
    with pytest.raises(DataFormatError) as exc:
        read_table(path)
    assert (exc.value.line, exc.value.value) == (6, "o7,gus")
    assert "expected 5 fields, found 2" in str(exc.value)


# -- a file cut inside a quoted field ----------------------------------------------------------
def test_a_file_cut_inside_a_quote_names_the_line_where_it_opens(tmp_path: Path) -> None:
    path = _write(tmp_path, [*GOOD, 'o8,hal,S2,paid,"Tea and'])  # line 6, cut mid-field
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    with pytest.raises(BadRowsError) as exc:
        read_interactions(path, **SHOP)
    msg = str(exc.value)
    assert msg == (f"{path}, line 6: the file ends inside a quoted field that starts on this "
                   "line (cut short, or a closing quote missing): 'o8,hal,S2,paid,\"Tea and'")
    assert "\n" not in msg and "row" not in msg and "C error" not in msg
    data = read_interactions(path, **SHOP, on_bad_rows="skip")
    assert data.n_interactions == 4 and "hal" not in data.users
    (record,) = data.report.to_dict()["bad_rows"]
    assert record["lines"] == [6] and record["count"] == 1


def test_a_quote_never_closed_says_how_many_lines_it_swallowed(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD[0], 'o2,bob,S2,paid,"Tea', *GOOD[2:]])
    data = read_interactions(path, **SHOP, on_bad_rows="skip")
    assert data.users.ids.tolist() == ["ann"]
    (problem,) = data.report.bad_rows.counts()
    assert problem.endswith("; the 2 lines after it are inside it")
    with pytest.raises(DataFormatError) as exc:
        read_table(path)
    assert exc.value.line == 3  # pandas said "row 2"


def test_both_at_once_are_listed_together(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD[0], "o2,bob", *GOOD[2:], 'o9,ivy,S1,paid,"x'])
    with pytest.raises(BadRowsError) as exc:
        read_interactions(path, **SHOP)
    assert exc.value.report.n_bad_rows == 2
    assert [exc.value.line] == [3] and "also line 6: the file ends inside" in str(exc.value)
