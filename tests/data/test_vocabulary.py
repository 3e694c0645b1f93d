"""Vocabulary: ids <-> indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import DataFormatError, UnknownIdError


def test_round_trip_of_string_ids() -> None:
    v = Vocabulary(["u7", "u3", "u9"], kind="user")
    assert len(v) == 3
    assert v.index("u3") == 1
    assert v.indices(["u9", "u7", "u3"]).tolist() == [2, 0, 1]
    assert v.id(2) == "u9"
    assert v.ids_of([1, 1, 0]).tolist() == ["u3", "u3", "u7"]
    assert list(v) == ["u7", "u3", "u9"]
    assert "u7" in v and "u8" not in v


def test_id_returns_python_scalars_and_checks_range() -> None:
    v = Vocabulary([10, 20, 30])
    assert v.id(1) == 20 and type(v.id(1)) is int
    with pytest.raises(IndexError, match=r"out of range 0\.\.2"):
        v.id(3)
    with pytest.raises(IndexError):
        v.id(-1)


def test_unknown_id_error_names_the_id_and_kind() -> None:
    v = Vocabulary(["a", "b"], kind="item")
    with pytest.raises(UnknownIdError) as exc:
        v.index("zzz")
    assert str(exc.value) == "unknown item id 'zzz'"
    assert exc.value.id == "zzz"
    with pytest.raises(UnknownIdError) as exc:
        v.indices(["a", "nope", "other"])
    assert exc.value.id == "nope"  # the first unknown one
    assert isinstance(exc.value, KeyError)


def test_missing_negative_marks_unknown_ids() -> None:
    v = Vocabulary(["a", "b"])
    assert v.indices(["b", "x", "a"], missing="negative").tolist() == [1, -1, 0]


def test_string_is_coerced_to_integer_id_and_back() -> None:
    ints = Vocabulary([5, 3, 8])
    assert ints.index("3") == 1  # "3" from a URL or a command line
    assert ints.indices(["8", 5, "3"]).tolist() == [2, 0, 1]
    with pytest.raises(UnknownIdError):
        ints.index("4")
    with pytest.raises(UnknownIdError):
        ints.index("three")
    strs = Vocabulary(["5", "3", "x"])
    assert strs.index(3) == 1
    assert strs.index(np.int64(5)) == 0
    assert strs.indices([3, "x"]).tolist() == [1, 2]
    with pytest.raises(UnknownIdError):
        strs.index(4)


def test_duplicate_and_missing_ids_are_rejected() -> None:
    with pytest.raises(DataFormatError, match="duplicate user id in vocabulary: 'a'"):
        Vocabulary(["a", "b", "a"], kind="user")
    with pytest.raises(DataFormatError, match="missing value"):
        Vocabulary(["a", None, "b"])


def test_from_values_sorts_and_deduplicates() -> None:
    v = Vocabulary.from_values(["c", "a", "c", "b", "a"])
    assert v.ids.tolist() == ["a", "b", "c"]
    v = Vocabulary.from_values([3, 1, 3, 2])
    assert v.ids.tolist() == [1, 2, 3]
    v = Vocabulary.from_values(["c", "a", "c"], sort=False)
    assert v.ids.tolist() == ["c", "a"]
    mixed = Vocabulary.from_values(pd.Series(["b", 1, "b", 0], dtype=object))
    assert mixed.ids.tolist() == ["b", 1, 0]  # unsortable: first appearance


@pytest.mark.parametrize("ids", [["u2", "u1", "ü-3"], [7, 3, 11, -1]])
def test_to_array_from_array_through_npz_without_pickle(tmp_path: Path, ids: list) -> None:
    v = Vocabulary(ids, kind="user")
    path = tmp_path / "vocab.npz"
    np.savez(path, ids=v.to_array())
    with np.load(path, allow_pickle=False) as z:
        back = Vocabulary.from_array(z["ids"], kind="user")
    assert back == v
    assert back.ids.tolist() == ids
    assert back.index(ids[1]) == 1


def test_to_array_refuses_ids_it_would_corrupt() -> None:
    # numpy's fixed-width unicode drops trailing NUL characters: refuse rather than corrupt.
    with pytest.raises(DataFormatError, match="ends with a NUL"):
        Vocabulary(["a", "b\x00"]).to_array()
    assert Vocabulary(["a\x00b"]).to_array().tolist() == ["a\x00b"]


def test_extend_keeps_existing_indices() -> None:
    v = Vocabulary(["a", "b"])
    w = v.extend(["c", "a", "d", "c"])
    assert w.ids.tolist() == ["a", "b", "c", "d"]
    assert w.index("a") == 0 and w.index("b") == 1
    assert v.extend(["a"]) is v  # nothing new
    ints = Vocabulary([4, 2]).extend([9, 2])
    assert ints.ids.tolist() == [4, 2, 9]
    assert ints.index("9") == 2  # still an integer vocabulary: "9" is coerced


def test_equality_is_by_content() -> None:
    assert Vocabulary(["a", "b"]) == Vocabulary(["a", "b"])
    assert Vocabulary(["a", "b"]) != Vocabulary(["b", "a"])
    assert Vocabulary(["a"]) != ["a"]


ids_strategy = st.one_of(
    st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=40, unique=True),
    st.lists(st.text(min_size=1, max_size=6).filter(lambda s: not s.endswith("\x00")),
             min_size=1, max_size=40, unique=True),
)


@settings(max_examples=60, deadline=None)
@given(ids=ids_strategy, data=st.data())
def test_property_indices_of_ids_of_is_identity(ids: list, data: st.DataObject) -> None:
    v = Vocabulary(ids)
    x = np.asarray(data.draw(st.lists(st.integers(0, len(ids) - 1), max_size=50)), dtype=np.int64)
    assert v.indices(v.ids_of(x)).tolist() == x.tolist()
    assert [v.index(i) for i in ids] == list(range(len(ids)))
    back = Vocabulary.from_array(v.to_array())
    assert back == v


# -- plain ids (what a saved model holds) are looked up without pandas ----------------------------

_QUERIES = [3, 7, -1, "3", " 7 ", "x", "a", "b", True, False, 3.0, 2.5, np.int64(7),
            np.int32(3), np.uint8(3), np.float32(7.0), np.str_("a"), None, float("nan"),
            (1,), b"a", "10"]


def _answers(v: Vocabulary, q: object) -> tuple:
    try:
        index = v.index(q)
    except (UnknownIdError, TypeError) as exc:
        index = type(exc).__name__
    return (index, q in v, v.indices([q], missing="negative").tolist())


@pytest.mark.parametrize("ids", [np.array([5, 3, 7, 10], dtype=np.int64),
                                 np.array([5, 3, 7, 10], dtype=np.int32),
                                 np.array(["a", "b", "3", "10"], dtype=object)])
def test_plain_ids_answer_as_the_pandas_index_does(ids: np.ndarray) -> None:
    """The dict lookup of int and str ids gives pandas' answers for every kind of query (a
    vocabulary of the same ids built from a list goes through pandas)."""
    plain = Vocabulary(ids, kind="item")
    assert plain._plain
    through_pandas = Vocabulary(list(ids) if ids.dtype == object else pd.Index(ids), kind="item")
    assert not through_pandas._plain
    for q in _QUERIES:
        assert _answers(plain, q) == _answers(through_pandas, q), q
    assert plain == through_pandas
    assert list(plain) == list(through_pandas)
    assert [type(x) for x in plain] == [type(x) for x in through_pandas]
    np.testing.assert_array_equal(plain.ids, through_pandas.ids)
    assert plain.ids.dtype == through_pandas.ids.dtype
    assert plain.ids.flags.writeable == through_pandas.ids.flags.writeable
    if plain.ids.flags.writeable:  # a copy: writing to it leaves the vocabulary alone
        plain.ids[0] = through_pandas.ids[0] = "changed"
        assert plain.id(0) == through_pandas.id(0) == ids[0]
    assert plain.id(2) == through_pandas.id(2) and type(plain.id(2)) is type(through_pandas.id(2))
    with pytest.raises(UnknownIdError, match="and 1 more unknown") as err:
        plain.indices(["zz", "zz", "yy"])  # two distinct unknown ids
    assert err.value.count == 2


def test_plain_duplicates_are_named_as_before() -> None:
    with pytest.raises(DataFormatError, match="duplicate user id") as err:
        Vocabulary(np.array([4, 2, 4, 2]), kind="user")
    assert err.value.value == 4
    with pytest.raises(DataFormatError, match="duplicate") as err:
        Vocabulary(np.array(["q", "r", "r"], dtype=object))
    assert err.value.value == "r"


def test_a_saved_vocabulary_loads_and_answers_without_pandas() -> None:
    import json
    import subprocess
    import sys

    code = ("import sys, json, numpy as np\n"
            "from synerec.data.vocabulary import Vocabulary\n"
            "v = Vocabulary.from_array(np.array(['u1', 'u2'], dtype=np.str_), kind='user')\n"
            "w = Vocabulary.from_array(np.array([7, 9]), kind='item')\n"
            "out = [v.index('u2'), 'u1' in v, v.indices(['u2', 'zz'], missing='negative')"
            ".tolist(), w.index('9'), w.id(0)]\n"
            "print(json.dumps([out, 'pandas' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert json.loads(done.stdout) == [[1, True, [1, -1], 1, 7], False]
