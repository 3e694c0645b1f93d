"""read_interactions: round trips through every format, and errors that say where."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.data.readers import read_interactions, read_table
from synerec.exceptions import DataFormatError

LOG = pd.DataFrame({
    "user_id": ["u1", "u2", "u1", "u3", "u2"],
    "item_id": ["i9", "i9", "i2", "i5", "i2"],
    "rating": [4.0, 2.5, 5.0, 1.0, 3.0],
    "timestamp": [1_600_000_000, 1_600_000_100, 1_600_000_200, 1_600_000_300, 1_600_000_400],
})


def _write(path: Path, df: pd.DataFrame) -> None:
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
        return
    if name.endswith(".jsonl"):
        text = "".join(json.dumps(rec) + "\n" for rec in df.to_dict(orient="records"))
    else:
        text = df.to_csv(index=False, sep="\t" if name.endswith(".tsv") else ",")
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def _check_round_trip(data, expected: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    back = data.to_dataframe()
    assert back["user_id"].astype(str).tolist() == expected["user_id"].astype(str).tolist()
    assert back["item_id"].astype(str).tolist() == expected["item_id"].astype(str).tolist()
    np.testing.assert_array_equal(back["rating"], expected["rating"].astype(np.float32))
    assert back["timestamp"].tolist() == expected["timestamp"].tolist()
    dense = data.matrix.toarray()
    for u, i, r in expected[["user_id", "item_id", "rating"]].itertuples(index=False):
        assert dense[data.users.index(u), data.items.index(i)] == r


@pytest.mark.parametrize("name", ["log.csv", "log.tsv", "log.jsonl", "log.parquet",
                                  "log.csv.gz", "log.tsv.gz", "log.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write(path, LOG)
    data = read_interactions(path)
    assert data.name == name
    assert data.n_users == 3 and data.n_items == 3 and len(data) == 5
    assert data.rating_scale == (1.0, 5.0)
    _check_round_trip(data, LOG)


def test_parquet_keeps_integer_ids(tmp_path: Path) -> None:
    df = LOG.assign(user_id=[11, 12, 11, 13, 12], item_id=[9, 9, 2, 5, 2])
    path = tmp_path / "ints.parquet"
    df.to_parquet(path, index=False)
    data = read_interactions(path)
    assert data.users.ids.tolist() == [11, 12, 13]
    assert data.items.ids.tolist() == [2, 5, 9]
    _check_round_trip(data, df)


def test_custom_columns_catalogue_and_format_override(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text("customer,sku,qty\nc1,A,2\nc2,B,1\nc1,B,5\n", encoding="utf-8")
    items = tmp_path / "items.csv"
    items.write_text('item_id,title,category\nA,"Acme Mug, 12 oz",Kitchen\nC,Cold item,Garden\n',
                     encoding="utf-8")
    with pytest.raises(DataFormatError, match="cannot tell the file format"):
        read_interactions(path, user_col="customer", item_col="sku", rating_col="qty")
    data = read_interactions(path, format="csv", user_col="customer", item_col="sku",
                             rating_col="qty", rating_scale=None, items=items)
    assert data.implicit
    assert data.items.ids.tolist() == ["A", "B", "C"]
    assert data.item_info["title"].tolist() == ["Acme Mug, 12 oz", "", "Cold item"]
    np.testing.assert_array_equal(data.matrix.toarray(), [[2, 5, 0], [0, 1, 0]])


def test_read_table_gives_each_rows_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n\n3,4\n5,6\n", encoding="utf-8")
    df, lines = read_table(path)
    assert df["a"].tolist() == ["1", "3", "5"]
    assert lines.tolist() == [2, 4, 5]  # the blank line 3 is skipped, not counted as a row


# -- malformed files ----------------------------------------------------------------------------
HEADER = "user_id,item_id,rating\n"


def _error(path: Path, **kwargs: object) -> DataFormatError:
    with pytest.raises(DataFormatError) as exc:
        read_interactions(path, **kwargs)  # type: ignore[arg-type]
    return exc.value


def test_rating_that_is_a_word(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "u1,i1,4\nu2,i1,five\n", encoding="utf-8")
    err = _error(path)
    assert str(err) == f"{path}, line 3, column 'rating': expected a number: 'five'"
    assert (err.line, err.column, err.value) == (3, "rating", "five")


def test_line_numbers_survive_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text(HEADER + "u1,i1,4\n\n\nu2,i1,five\n", encoding="utf-8")
    assert _error(path).line == 5


def test_missing_id(tmp_path: Path) -> None:
    path = tmp_path / "noid.tsv"
    path.write_text("user_id\titem_id\trating\nu1\ti1\t4\nu1\t\t3\n", encoding="utf-8")
    err = _error(path)
    assert str(err) == f"{path}, line 3, column 'item_id': missing id in column 'item_id'"


def test_rating_outside_declared_scale(tmp_path: Path) -> None:
    path = tmp_path / "scale.csv"
    path.write_text(HEADER + "u1,i1,4\nu1,i2,5\nu2,i1,6\n", encoding="utf-8")
    err = _error(path, rating_scale=(1, 5))
    assert str(err) == f"{path}, line 4, column 'rating': rating outside the scale 1..5: 6.0"
    assert read_interactions(path).rating_scale == (4.0, 6.0)  # inferred when not declared


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    whole = gzip.compress((HEADER + "u1,i1,4\n" * 200).encode())
    path.write_bytes(whole[: len(whole) // 2])
    err = _error(path)
    assert str(path) in str(err) and "truncated gz file" in str(err)


def test_latin1_bytes_in_utf8_file_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "enc.csv"
    path.write_bytes((HEADER + "u1,i1,4\nu2,i1,3\n").encode() + "José,i2,5\n".encode("latin-1"))
    err = _error(path)
    assert err.line == 4
    assert str(err).startswith(f"{path}, line 4: cannot decode byte at character 4 as utf-8")
    assert "b'\\xe9'" in str(err)
    assert read_interactions(path, encoding="latin-1").users.ids.tolist() == ["José", "u1", "u2"]


def test_row_with_an_extra_field(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text(HEADER + "u1,i1,4\nu1,i2,3,oops\nu2,i1,5\n", encoding="utf-8")
    err = _error(path)
    assert str(err) == f"{path}, line 3: expected 3 fields, found 4: 'u1,i2,3,oops'"


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"user_id": "u1", "item_id": "i1", "rating": 4}\n\n'
                    '{"user_id": "u2", "item_id": "i1", "rating": "five"}\n', encoding="utf-8")
    assert str(_error(path)) == f"{path}, line 3, column 'rating': expected a number: 'five'"
    path.write_text('{"user_id": "u1", "item_id": "i1", "rating": 4}\n'
                    '{"user_id": "u2", "item_id": "i1", "rating": 4\n', encoding="utf-8")
    err = _error(path)
    assert err.line == 2 and "invalid JSON" in str(err)
    path.write_text('{"user_id": "u1", "item_id": "i1", "rating": 4}\n'
                    '{"user_id": "u2", "item_id": "i1"}\n', encoding="utf-8")
    assert str(_error(path)) == f"{path}, line 2, column 'rating': missing value in column 'rating'"


def test_missing_column_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("user,item_id,rating\nu1,i1,4\n", encoding="utf-8")
    err = _error(path)
    assert err.line == 1 and "missing column(s) ['user_id']" in str(err)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    assert "file is empty" in str(_error(empty))
    assert "file not found" in str(_error(tmp_path / "nope.csv"))


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    err = _error(path)
    assert str(path) in str(err) and "not a readable Parquet file" in str(err)
