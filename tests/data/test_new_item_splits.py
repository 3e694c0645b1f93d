"""The protocols for new items: a global cut in time, and held-out cold items."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.data.dataset import InteractionDataset
from synerec.data.splits import Fold, cold_item_split, global_temporal_split
from synerec.exceptions import ConfigError
from tests.conftest import require_dataset
from tests.data.test_splits import _rows, logs


def _assert_parts(data: InteractionDataset, fold: Fold) -> None:
    """train, test and new_users (and a validation half's) partition the log."""
    parts = [fold.train, fold.test, fold.new_users]
    if fold.validation is not None:
        assert fold.validation.train is fold.train
        parts += [fold.validation.test, fold.validation.new_users]
    assert all(p is not None and p.users is data.users and p.items is data.items for p in parts)
    present = [p for p in parts if p is not None]
    assert sum(len(p) for p in present) == len(data)
    rows = [_rows(p) for p in present]
    assert set().union(*rows) == _rows(data)
    assert sum(len(r) for r in rows) == len(_rows(data))  # disjoint


def _trained_users(fold: Fold) -> np.ndarray:
    return np.bincount(fold.train.user_index, minlength=fold.train.n_users) > 0


def _check_users(fold: Fold) -> None:
    """Test users have a training row; the new users have none."""
    trained = _trained_users(fold)
    assert trained[fold.test.user_index].all()
    assert fold.new_users is not None and not trained[fold.new_users.user_index].any()


@settings(max_examples=40, deadline=None)
@given(data=logs(min_size=3), frac=st.floats(0.05, 0.95))
def test_global_temporal_split_partitions_the_log(data: InteractionDataset, frac: float) -> None:
    assert data.timestamps is not None
    lo, hi = int(data.timestamps.min()), int(data.timestamps.max())
    cut = lo + int(np.ceil(frac * (hi - lo)))
    if not lo < cut <= hi:
        with pytest.raises(ConfigError, match="leaves no interaction"):
            global_temporal_split(data, frac)
        return
    fold = global_temporal_split(data, frac)
    assert fold.name.startswith(f"global-temporal@{frac:g} (")
    _assert_parts(data, fold._replace(validation=None))
    _check_users(fold)
    assert fold.train.timestamps is not None and fold.test.timestamps is not None
    assert (fold.train.timestamps < cut).all() and (fold.test.timestamps >= cut).all()
    assert fold.new_users is not None and fold.new_users.timestamps is not None
    assert (fold.new_users.timestamps >= cut).all()
    # the cold items: held-out items never in training
    seen = np.bincount(fold.train.item_index, minlength=data.n_items) > 0
    held = np.zeros(data.n_items, dtype=bool)
    held[fold.test.item_index] = True
    held[fold.new_users.item_index] = True
    assert fold.cold_items is not None
    np.testing.assert_array_equal(fold.cold_items, held & ~seen)
    # the validation part: the training part cut again, nothing of the test part in it
    if fold.validation is not None:
        _assert_parts(fold.train, fold.validation)
        _check_users(fold.validation)
        assert fold.validation.name.startswith(f"{fold.name}:validation@")


def test_global_temporal_split_by_date() -> None:
    day = 86400
    df = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c", "a"],
                       "item_id": ["x", "y", "x", "z", "w", "w"],
                       "rating": [1.0] * 6,
                       "timestamp": [0, 9 * day, day, 10 * day, 11 * day, 12 * day]})
    data = InteractionDataset.from_dataframe(df, rating_scale=None, name="toy")
    for cutoff in ("1970-01-10", dt.date(1970, 1, 10), dt.datetime(1970, 1, 10),
                   pd.Timestamp("1970-01-10"), np.datetime64("1970-01-10"),
                   pd.Timestamp("1970-01-10 01:00", tz="Europe/London")):
        fold = global_temporal_split(data, cutoff)
        assert fold.name == "global-temporal@1970-01-10"
        train = fold.train.to_dataframe()
        assert sorted(zip(train.user_id, train.item_id, strict=True)) == [("a", "x"), ("b", "x")]
        test = fold.test.to_dataframe()
        assert sorted(zip(test.user_id, test.item_id, strict=True)) == \
            [("a", "w"), ("a", "y"), ("b", "z")]
        assert fold.new_users is not None
        assert fold.new_users.to_dataframe()[["user_id", "item_id"]].values.tolist() == \
            [["c", "w"]]
        assert fold.cold_items is not None
        assert sorted(data.items.ids[fold.cold_items].tolist()) == ["w", "y", "z"]
    # a cut on a timestamp: the interaction at the cut is in the test part
    fold = global_temporal_split(data, "1970-01-02")
    assert fold.train.to_dataframe().item_id.tolist() == ["x"]
    assert fold.new_users is not None
    assert len(fold.test) == 2 and len(fold.new_users) == 3  # b-x at the cut: b is new


def test_global_temporal_split_errors_are_one_line() -> None:
    df = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "rating": [1, 2]})
    no_time = InteractionDataset.from_dataframe(df, name="toy")
    timed = InteractionDataset.from_dataframe(df.assign(timestamp=[0, 86400]), name="toy")
    cases = [(no_time, "2011-09-01", "has no timestamps"),
             (timed, 1.5, "fraction of the time span"),
             (timed, 0.0, "fraction of the time span"),
             (timed, True, "a date or a fraction"),
             (timed, "not a date", "is not a date"),
             (timed, "2030-01-01", "leaves no interaction at or after it"),
             (timed, "1960-01-01", "leaves no interaction before it")]
    for data, cutoff, message in cases:
        with pytest.raises(ConfigError, match=message) as exc:
            global_temporal_split(data, cutoff)
        assert "\n" not in str(exc.value)


@settings(max_examples=40, deadline=None)
@given(data=logs(min_size=4), share=st.floats(0.1, 0.9), seed=st.integers(0, 2**32 - 1))
def test_cold_item_split_partitions_the_log(data: InteractionDataset, share: float,
                                            seed: int) -> None:
    active = np.bincount(data.item_index, minlength=data.n_items) > 0
    n_cold = round(share * active.sum())
    if n_cold < 1 or n_cold >= active.sum():
        with pytest.raises(ConfigError, match="need at least one test item"):
            cold_item_split(data, share, random_state=seed)
        return
    fold = cold_item_split(data, share, random_state=seed)
    assert fold.name == "cold-items" and fold.validation is not None
    _assert_parts(data, fold)
    _check_users(fold)
    _check_users(fold.validation)
    test_items, val_items = fold.cold_items, fold.validation.cold_items
    assert test_items is not None and val_items is not None
    assert test_items.sum() == n_cold - n_cold // 2 and val_items.sum() == n_cold // 2
    assert not (test_items & val_items).any() and not (test_items & ~active).any()
    # no cold item in training; every interaction with a test (validation) item held out
    assert not (test_items | val_items)[fold.train.item_index].any()
    assert fold.new_users is not None and fold.validation.new_users is not None
    assert test_items[fold.test.item_index].all() and test_items[fold.new_users.item_index].all()
    assert val_items[fold.validation.test.item_index].all()
    assert len(fold.test) + len(fold.new_users) == int(test_items[data.item_index].sum())
    # each test user's warm interactions are in training
    warm = ~(test_items | val_items)[data.item_index]
    for u in np.unique(fold.test.user_index):
        mine = (data.user_index == u) & warm
        assert _rows(data.subset(mine)) <= _rows(fold.train)
    again = cold_item_split(data, share, random_state=seed)
    np.testing.assert_array_equal(again.cold_items, test_items)


def test_cold_item_split_errors_are_one_line() -> None:
    df = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [1, 1, 2], "rating": [1, 2, 3]})
    data = InteractionDataset.from_dataframe(df, name="toy")
    for share, message in [(0.0, "share must be between 0 and 1"), (1.0, "share must be"),
                           (-0.1, "share must be"), (0.1, "need at least one test item"),
                           (0.9, "need at least one test item")]:
        with pytest.raises(ConfigError, match=message) as exc:
            cold_item_split(data, share)
        assert "\n" not in str(exc.value)
    cold = cold_item_split(data, 0.5).cold_items
    assert cold is not None and cold.sum() == 1


def test_uci_online_retail_new_products(data_home: Path) -> None:
    """The facts of the issue on the real data set (see the module docstring of splits)."""
    from synerec.data import load_dataset

    require_dataset("uci-online-retail", "online_retail.csv.gz")
    data = load_dataset("uci-online-retail", data_home=data_home, download=False)
    facts = {}
    for cutoff in ("2011-09-01", "2011-10-01"):
        fold = global_temporal_split(data, cutoff)
        assert fold.cold_items is not None and fold.new_users is not None
        cold = fold.cold_items[fold.test.item_index]
        facts[cutoff] = (len(fold.test), round(float(cold.mean()), 4),
                         len(np.unique(fold.test.item_index[cold])), len(fold.new_users))
    assert facts == {"2011-09-01": (94051, 0.1028, 264, 37500),
                     "2011-10-01": (78254, 0.0599, 154, 25534)}
