"""Splits: properties over random logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.data.dataset import InteractionDataset
from synerec.data.splits import holdout_split, kfold_split, official_splits, temporal_split
from synerec.exceptions import ConfigError


@st.composite
def logs(draw: st.DrawFn, min_size: int = 2) -> InteractionDataset:
    """A random log of distinct (user, item) pairs with timestamps that may tie."""
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 10))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
                          min_size=min_size, max_size=60, unique=True))
    times = draw(st.lists(st.integers(0, 20), min_size=len(pairs), max_size=len(pairs)))
    df = pd.DataFrame({
        "user_id": [f"u{u}" for u, _ in pairs],
        "item_id": [i for _, i in pairs],
        "rating": draw(st.lists(st.integers(1, 5), min_size=len(pairs), max_size=len(pairs))),
        "timestamp": times,
    })
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


def _rows(part: InteractionDataset) -> set[tuple[int, int]]:
    return set(zip(part.user_index.tolist(), part.item_index.tolist(), strict=True))


def _assert_partition(data: InteractionDataset, train: InteractionDataset,
                      test: InteractionDataset) -> None:
    assert len(train) + len(test) == len(data)
    assert _rows(train) | _rows(test) == _rows(data)
    assert not _rows(train) & _rows(test)
    assert train.users is data.users and test.items is data.items
    assert train.matrix.shape == test.matrix.shape == data.matrix.shape
    np.testing.assert_array_equal((train.matrix + test.matrix).toarray(), data.matrix.toarray())


@settings(max_examples=40, deadline=None)
@given(data=logs(), test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_holdout_partitions_the_log(data: InteractionDataset, test_size: float, seed: int) -> None:
    fold = holdout_split(data, test_size, random_state=seed)
    _assert_partition(data, fold.train, fold.test)
    assert len(fold.test) == round(len(data) * test_size)
    again = holdout_split(data, test_size, random_state=seed)
    assert _rows(again.test) == _rows(fold.test)


@settings(max_examples=40, deadline=None)
@given(data=logs(), test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_per_user_holdout_keeps_a_training_row_per_user(data: InteractionDataset,
                                                        test_size: float, seed: int) -> None:
    fold = holdout_split(data, test_size, per_user=True, random_state=seed)
    _assert_partition(data, fold.train, fold.test)
    seen = np.bincount(data.user_index, minlength=data.n_users) > 0
    trained = np.bincount(fold.train.user_index, minlength=data.n_users) > 0
    assert np.array_equal(seen, trained)
    again = holdout_split(data, test_size, per_user=True, random_state=seed)
    assert _rows(again.test) == _rows(fold.test)


@settings(max_examples=40, deadline=None)
@given(data=logs(), k=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_kfold_tests_every_row_exactly_once(data: InteractionDataset, k: int, seed: int) -> None:
    k = min(k, len(data))
    folds = kfold_split(data, k, random_state=seed)
    assert [f.name for f in folds] == [f"fold-{j}" for j in range(1, k + 1)]
    tested: list[tuple[int, int]] = []
    for fold in folds:
        _assert_partition(data, fold.train, fold.test)
        tested.extend(_rows(fold.test))
        assert len(data) // k <= len(fold.test) <= -(-len(data) // k)  # balanced
    assert sorted(tested) == sorted(_rows(data))
    again = kfold_split(data, k, random_state=seed)
    assert [_rows(f.test) for f in again] == [_rows(f.test) for f in folds]


@settings(max_examples=40, deadline=None)
@given(data=logs(), n_test=st.integers(1, 3))
def test_temporal_split_tests_each_users_latest_rows(data: InteractionDataset,
                                                     n_test: int) -> None:
    fold = temporal_split(data, n_test)
    _assert_partition(data, fold.train, fold.test)
    for u in range(data.n_users):
        own = data.user_index == u
        train_t = fold.train.timestamps[fold.train.user_index == u]
        test_t = fold.test.timestamps[fold.test.user_index == u]
        if own.sum() <= n_test:
            assert len(test_t) == 0  # too short a history: all in training
        else:
            assert len(test_t) == n_test
            assert test_t.min() >= train_t.max()


def test_temporal_split_breaks_ties_by_log_order() -> None:
    df = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "item_id": [1, 2, 3, 1],
                       "rating": [1, 2, 3, 4], "timestamp": [5, 9, 9, 1]})
    data = InteractionDataset.from_dataframe(df)
    fold = temporal_split(data, 1)
    assert fold.name == "last-1"
    assert fold.test.to_dataframe()[["user_id", "item_id"]].values.tolist() == [["a", 3]]


def test_split_argument_errors() -> None:
    df = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "rating": [1, 2]})
    data = InteractionDataset.from_dataframe(df)
    with pytest.raises(ConfigError, match="no timestamps"):
        temporal_split(data)
    with pytest.raises(ConfigError, match="test_size"):
        holdout_split(data, 1.0)
    with pytest.raises(ConfigError, match="n_splits"):
        kfold_split(data, 3)


def test_official_splits() -> None:
    df = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 3], "rating": [1, 2, 3, 4]})
    data = InteractionDataset.from_dataframe(df, name="toy")
    with pytest.raises(ConfigError, match="data set 'toy' has no official splits"):
        official_splits(data)
    data.splits = {"b": np.array([False, True, False, True]),
                   "a": np.array([True, False, False, False])}
    folds = official_splits(data)
    assert [f.name for f in folds] == ["a", "b"]
    assert folds[1].test.item_index.tolist() == [1, 2]
    assert folds[1].train.item_index.tolist() == [0, 0]
    with pytest.raises(ConfigError, match=r"unknown split\(s\) \['u1'\]"):
        official_splits(data, ["u1"])
