"""InteractionDataset.from_dataframe and its views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synerec.data.dataset import InteractionDataset, parse_numbers
from synerec.exceptions import DataFormatError


def _log() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["bob", "amy", "amy", "cid", "bob"],
        "item_id": [20, 10, 30, 10, 10],
        "rating": [4.0, 5.0, 1.0, 2.5, 3.0],
        "timestamp": [100, 50, 60, 70, 80],
    })


def test_matrix_contents_match_the_log() -> None:
    data = InteractionDataset.from_dataframe(_log(), rating_scale=(1, 5))
    assert data.users.ids.tolist() == ["amy", "bob", "cid"]
    assert data.items.ids.tolist() == [10, 20, 30]
    expected = np.array([[5.0, 0.0, 1.0],
                         [3.0, 4.0, 0.0],
                         [2.5, 0.0, 0.0]], dtype=np.float32)
    m = data.matrix
    assert m.dtype == np.float32 and m.has_sorted_indices
    np.testing.assert_array_equal(m.toarray(), expected)
    assert data.n_users == 3 and data.n_items == 3 and len(data) == 5
    assert data.rating_scale == (1.0, 5.0) and not data.implicit
    assert data.timestamps.tolist() == [100, 50, 60, 70, 80]  # log order kept
    back = data.to_dataframe()
    assert back["user_id"].tolist() == _log()["user_id"].tolist()
    assert back["item_id"].tolist() == _log()["item_id"].tolist()


def test_rating_scale_is_inferred_or_absent() -> None:
    assert InteractionDataset.from_dataframe(_log()).rating_scale == (1.0, 5.0)
    unary = InteractionDataset.from_dataframe(_log(), rating_col=None)
    assert unary.implicit and unary.values.tolist() == [1.0] * 5
    implicit = InteractionDataset.from_dataframe(_log(), rating_scale=None)
    assert implicit.implicit and implicit.values.tolist() == [4.0, 5.0, 1.0, 2.5, 3.0]


def _dups() -> pd.DataFrame:
    # (u1, a) three times: rows 0, 2, 3 with times 30, 10, 20; row order != time order.
    return pd.DataFrame({
        "user_id": ["u1", "u2", "u1", "u1"],
        "item_id": ["a", "a", "a", "a"],
        "rating": [2.0, 5.0, 4.0, 3.0],
        "timestamp": [30, 5, 10, 20],
    })


@pytest.mark.parametrize(("policy", "value", "time"), [
    ("first", 4.0, 10),   # earliest timestamp, not the first row
    ("last", 2.0, 30),    # latest timestamp
    ("mean", 3.0, 30),
    ("sum", 9.0, 30),
    ("max", 4.0, 30),
])
def test_duplicate_policies(policy: str, value: float, time: int) -> None:
    data = InteractionDataset.from_dataframe(_dups(), duplicates=policy, rating_scale=None)
    assert len(data) == 2
    df = data.to_dataframe().set_index("user_id")
    assert df.loc["u1", "rating"] == value
    assert df.loc["u1", "timestamp"] == time
    assert df.loc["u2", "rating"] == 5.0


def test_first_and_last_follow_row_order_without_timestamps() -> None:
    df = _dups().drop(columns="timestamp")
    first = InteractionDataset.from_dataframe(df, duplicates="first").to_dataframe()
    last = InteractionDataset.from_dataframe(df, duplicates="last").to_dataframe()
    assert first.set_index("user_id").loc["u1", "rating"] == 2.0
    assert last.set_index("user_id").loc["u1", "rating"] == 3.0


def test_duplicate_error_names_pair_and_line() -> None:
    with pytest.raises(DataFormatError) as exc:
        InteractionDataset.from_dataframe(_dups(), path="log.csv", first_line=2)
    msg = str(exc.value)
    assert msg.startswith("log.csv, line 4: duplicate (user, item) pair ('u1', 'a')")
    assert "first, last, mean, sum, max" in msg
    with pytest.raises(DataFormatError, match="unknown duplicates policy 'median'"):
        InteractionDataset.from_dataframe(_dups(), duplicates="median")  # type: ignore[arg-type]


def test_rating_scale_errors() -> None:
    with pytest.raises(DataFormatError) as exc:
        InteractionDataset.from_dataframe(_log(), rating_scale=(1, 4), path="r.csv", first_line=2)
    assert str(exc.value) == "r.csv, line 3, column 'rating': rating outside the scale 1..4: 5.0"
    with pytest.raises(DataFormatError, match=r"low < high"):
        InteractionDataset.from_dataframe(_log(), rating_scale=(5, 1))
    with pytest.raises(DataFormatError, match=r"row 2\): 0.5"):
        InteractionDataset.from_dataframe(
            _log().assign(rating=[1, 2, 0.5, 3, 4]), rating_scale=(1, 5))


def test_bad_rating_values_name_the_cell() -> None:
    df = _log().astype({"rating": object})
    df.loc[3, "rating"] = "five"
    with pytest.raises(DataFormatError) as exc:
        InteractionDataset.from_dataframe(df, path="x.csv", lines=np.array([2, 3, 5, 8, 9]))
    assert str(exc.value) == "x.csv, line 8, column 'rating': expected a number: 'five'"
    df.loc[3, "rating"] = ""
    with pytest.raises(DataFormatError, match="line 8, column 'rating': missing value"):
        InteractionDataset.from_dataframe(df, path="x.csv", lines=np.array([2, 3, 5, 8, 9]))


def test_parse_numbers_names_numeric_values_plainly() -> None:
    with pytest.raises(DataFormatError) as exc:
        parse_numbers(np.array([1.0, np.inf]), column="rating", path="f.csv", first_line=2)
    assert str(exc.value) == "f.csv, line 3, column 'rating': expected a number: inf"
    with pytest.raises(DataFormatError, match=r"expected an integer: '2\.5'"):
        parse_numbers(pd.Series(["1", "2.5"]), column="n", integer=True)
    out = parse_numbers(pd.Series([" 1", "", "3e0"]), column="n", allow_missing=True)
    np.testing.assert_array_equal(out, [1.0, np.nan, 3.0])


@pytest.mark.parametrize("column", ["user_id", "item_id"])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_missing_ids_are_errors(column: str, blank: object) -> None:
    df = _log().astype({"item_id": object})
    df.loc[2, column] = blank
    with pytest.raises(DataFormatError) as exc:
        InteractionDataset.from_dataframe(df, path="log.csv", first_line=2)
    assert str(exc.value) == f"log.csv, line 4, column {column!r}: missing id in column {column!r}"


def test_missing_id_column_is_named() -> None:
    with pytest.raises(DataFormatError, match="missing column 'user_id'"):
        InteractionDataset.from_dataframe(_log().drop(columns="user_id"))
    with pytest.raises(DataFormatError, match="missing column 'stars'"):
        InteractionDataset.from_dataframe(_log(), rating_col="stars")


def test_catalogue_items_without_interactions_join_the_vocabulary() -> None:
    items = pd.DataFrame({
        "item_id": [30, 99, 10, 20],
        "title": ["Thirty", "Ninety-nine", "Ten", "Twenty"],
        "category": ["x", "y|z", "x", ""],
        "brand": ["B3", "B9", "B1", "B2"],
    })
    data = InteractionDataset.from_dataframe(_log(), items=items)
    assert data.items.ids.tolist() == [10, 20, 30, 99]
    assert data.matrix.shape == (3, 4)
    assert data.matrix[:, 3].nnz == 0
    assert data.item_info["title"].tolist() == ["Ten", "Twenty", "Thirty", "Ninety-nine"]
    assert data.item_info["brand"].tolist() == ["B1", "B2", "B3", "B9"]
    assert data.item_info["description"].tolist() == [""] * 4  # added, empty
    assert data.item_categories() == [("x",), (), ("x",), ("y", "z")]
    narrow = InteractionDataset.from_dataframe(_log(), items=items, keep_all_items=False)
    assert narrow.items.ids.tolist() == [10, 20, 30]


def test_items_missing_from_the_catalogue_get_empty_text() -> None:
    items = pd.DataFrame({"item_id": ["10"], "title": ["Ten"]})
    log = _log().astype({"item_id": str})
    data = InteractionDataset.from_dataframe(log, items=items)
    assert data.items.ids.tolist() == ["10", "20", "30"]
    assert data.item_info["title"].tolist() == ["Ten", "", ""]


def test_duplicate_catalogue_rows_are_rejected() -> None:
    items = pd.DataFrame({"item_id": [10, 10], "title": ["a", "b"]})
    with pytest.raises(DataFormatError, match="duplicate item_id in catalogue: 10"):
        InteractionDataset.from_dataframe(_log(), items=items)


def test_user_info_is_aligned_with_the_user_vocabulary() -> None:
    users = pd.DataFrame({"user_id": ["cid", "amy", "zed"], "age": [30, 20, 50]})
    data = InteractionDataset.from_dataframe(_log(), users=users)
    assert data.user_info.index.tolist() == ["amy", "bob", "cid"]
    assert data.user_info["age"].tolist()[0] == 20
    assert np.isnan(data.user_info["age"].tolist()[1])


def test_datetime_timestamps_become_unix_seconds() -> None:
    df = _log().assign(timestamp=["1970-01-01T00:01:40Z", "1970-01-01 00:00:50",
                                  "1970-01-01T00:01:00", "1970-01-01T01:01:10+01:00",
                                  "1970-01-01T00:01:20"])
    data = InteractionDataset.from_dataframe(df)
    assert data.timestamps.tolist() == [100, 50, 60, 70, 80]
    df.loc[1, "timestamp"] = "yesterday-ish"
    with pytest.raises(DataFormatError, match="line 3, column 'timestamp': expected a timestamp"):
        InteractionDataset.from_dataframe(df, path="t.csv", first_line=2)


def test_subset_keeps_vocabularies_and_catalogue() -> None:
    items = pd.DataFrame({"item_id": [10, 20, 30, 40], "title": ["a", "b", "c", "d"]})
    data = InteractionDataset.from_dataframe(_log(), items=items)
    part = data.subset(np.array([False, True, False, False, True]), name="part")
    assert part.users is data.users and part.items is data.items
    assert part.matrix.shape == data.matrix.shape
    np.testing.assert_array_equal(part.matrix.toarray(),
                                  [[5, 0, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0]])
    assert part.timestamps.tolist() == [50, 80]
    assert part.name == "part" and part.item_info is data.item_info
    by_index = data.subset(np.array([4, 1]))
    assert by_index.values.tolist() == [3.0, 5.0] and by_index.name == data.name
    with pytest.raises(ValueError, match="one entry per interaction"):
        data.subset(np.array([True, False]))


def test_constructor_validates_arrays() -> None:
    data = InteractionDataset.from_dataframe(_log())
    with pytest.raises(ValueError, match="same length"):
        InteractionDataset(data.users, data.items, np.array([0]), np.array([0, 1]),
                           np.array([1.0]))
    with pytest.raises(ValueError, match="out of the item vocabulary"):
        InteractionDataset(data.users, data.items, np.array([0]), np.array([3]), np.array([1.0]))
    with pytest.raises(ValueError, match="boolean mask"):
        InteractionDataset(data.users, data.items, data.user_index, data.item_index, data.values,
                           splits={"s": np.array([0, 1, 0, 1, 0])})


def test_summary_reports_sizes() -> None:
    s = InteractionDataset.from_dataframe(_log(), name="toy").summary()
    assert s["name"] == "toy" and s["users"] == 3 and s["items"] == 3
    assert s["interactions"] == 5 and s["density"] == pytest.approx(5 / 9)
    assert s["mean_value"] == pytest.approx(15.5 / 5)
    assert s["first_timestamp"] == 50 and s["last_timestamp"] == 100
    assert s["feedback"] == "explicit" and s["rating_scale"] == [1.0, 5.0]
