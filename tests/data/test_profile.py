"""The data profile: its counts on hand-made data sets, and each verdict given or not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synerec.data import InteractionDataset, kfold_split
from synerec.data.profiling import (
    COLD_SPLIT_SHARE,
    FEW_REPEAT_SHARE,
    FEW_REPEAT_USERS,
    MIN_USERS_FOR_SHARES,
    MISSING_TEXT_SHARE,
    ONE_PER_ORDER_SHARE,
    cold_share,
    format_profile,
    profile,
    split_profile,
)

DAY = 86_400
T0 = 1_700_000_000


def _data(rows: list[tuple[str, str, int]], *, titles: dict[str, str] | None = None,
          categories: dict[str, str] | None = None,
          catalogue: list[str] | None = None) -> InteractionDataset:
    """Purchases ``(user, item, day)``, with a catalogue when titles or items are given."""
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "day"])
    df["timestamp"] = T0 + df["day"] * DAY
    items = None
    if titles is not None or categories is not None or catalogue is not None:
        ids = sorted(set(catalogue or []) | set(df["item_id"]))
        items = pd.DataFrame({"item_id": ids,
                              "title": [(titles or {}).get(i, "") for i in ids],
                              "category": [(categories or {}).get(i, "") for i in ids]})
    return InteractionDataset.from_dataframe(df[["user_id", "item_id", "timestamp"]],
                                             items=items, rating_col=None, name="shop")


def _per_order(n_orders: int, seed: int = 0) -> list[tuple[str, str, int]]:
    """One user id per order (1-3 lines each) over 40 popular items."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_orders):
        for item in rng.choice(40, size=rng.integers(1, 4), replace=False):
            rows.append((f"order-{k}", f"p{item}", k // 10))
    return rows


def _persons(n_users: int, returning: float, lines: int = 2,
             seed: int = 0) -> list[tuple[str, str, int]]:
    """Persons: ``returning`` of them come back for a second order on another day; each
    order has 1 to ``lines`` lines."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        orders = 2 if u < returning * n_users else 1
        for o in range(orders):
            for item in rng.choice(40, size=rng.integers(1, lines + 1), replace=False):
                rows.append((f"person-{u}", f"p{item}", u % 50 + 60 * o))
    return rows


# -- counts ---------------------------------------------------------------------------------------
def test_the_counts_of_a_small_shop() -> None:
    rows = [("ann", "a", 0), ("ann", "b", 0), ("ann", "c", 3),  # two orders
            ("bob", "a", 1), ("bob", "b", 1),                    # one order, two lines
            ("cid", "a", 2)]                                     # one purchase
    data = _data(rows, titles={"a": "Mug", "b": "Tea"}, categories={"a": "Kitchen"},
                 catalogue=["a", "b", "c", "d", "e"])
    p = profile(data)
    assert (p.users, p.items, p.interactions) == (3, 5, 6)
    assert (p.repeat_users, p.one_interaction_users) == (2, 1)
    assert (p.repeat_order_users, p.single_order_users) == (1, 2)
    assert p.repeat_share == pytest.approx(2 / 3) and p.single_order_share == pytest.approx(2 / 3)
    assert p.items_never_interacted == 2                       # d and e
    assert (p.items_without_title, p.items_without_category) == (3, 4)
    assert (p.first_time, p.last_time) == (T0, T0 + 3 * DAY)
    assert p.feedback == "implicit" and p.rating_scale is None
    assert p.recurring_items_share == pytest.approx(5 / 6)    # a (3 users) and b (2)
    # a random 5-fold split: cid (one purchase) is always cold when tested
    assert 0 < p.cold_share_random_split < 1
    record = p.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert record["first_date"] == "2023-11-14" and record["repeat_users"] == 2


def test_without_timestamps_there_are_no_orders() -> None:
    df = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"],
                       "rating": [4, 5, 3]})
    p = profile(InteractionDataset.from_dataframe(df))
    assert p.single_order_users is None and p.repeat_order_users is None
    assert p.first_time is None and p.feedback == "explicit" and p.rating_scale == (3.0, 5.0)
    assert "one-per-order" not in p.warning_codes
    text = format_profile(p)
    assert "ratings 3..5" in text and "time span" not in text


def test_a_training_part_counts_only_its_own_users() -> None:
    data = _data(_persons(200, returning=0.5))
    fold = kfold_split(data, 5, random_state=0)[0]
    p = profile(fold.train)
    assert p.users == len(np.unique(fold.train.user_index)) < data.n_users


# -- one id per order -----------------------------------------------------------------------------
def test_per_order_ids_are_named_with_the_numbers() -> None:
    p = profile(_data(_per_order(1_000)))
    assert "one-per-order" in p.warning_codes
    (w,) = [w for w in p.warnings if w.code == "one-per-order"]
    assert w.message.startswith("user ids look like one id per order: 1,000 users, 100% with "
                                "a single order")
    assert "join the customers table to get the person's id" in w.message


def test_persons_who_mostly_bought_once_are_not_per_order_ids() -> None:
    # 96% of persons bought once (the marketplace's share): below ONE_PER_ORDER_SHARE
    assert ONE_PER_ORDER_SHARE > 0.96
    p = profile(_data(_persons(1_000, returning=0.04)))
    assert p.single_order_share == pytest.approx(0.96)
    assert "one-per-order" not in p.warning_codes


def test_too_few_users_or_items_that_never_recur_give_no_per_order_verdict() -> None:
    few = _per_order(MIN_USERS_FOR_SHARES - 1)
    assert "one-per-order" not in profile(_data(few)).warning_codes
    unique_items = [(f"order-{k}", f"item-{k}", k) for k in range(500)]
    p = profile(_data(unique_items))
    assert p.recurring_items_share == 0 and "one-per-order" not in p.warning_codes


# -- repeat users ---------------------------------------------------------------------------------
def test_few_repeat_users_by_share() -> None:
    p = profile(_data(_persons(1_000, returning=0.10, lines=1)))
    assert p.repeat_share < FEW_REPEAT_SHARE and p.repeat_users >= FEW_REPEAT_USERS
    (w,) = [w for w in p.warnings if w.code == "few-repeat-users"]
    assert w.message.startswith(f"too few repeat users for personal lists: {p.repeat_users:,} "
                                "of 1,000 users")
    assert "a second order" in w.message and "popular or similar items" in w.message
    assert "noise" not in w.message


def test_few_repeat_users_by_count() -> None:
    rows = [(f"u{u}", f"p{i}", 0) for u in range(30) for i in range(3)]
    p = profile(_data(rows))
    assert p.repeat_share == 1.0 and p.repeat_users == 30 < FEW_REPEAT_USERS
    (w,) = [w for w in p.warnings if w.code == "few-repeat-users"]
    assert "fewer than 50 such users, a test on them is noise" in w.message


def test_enough_repeat_users_give_no_verdict() -> None:
    p = profile(_data(_persons(400, returning=0.5)))
    assert p.repeat_share >= FEW_REPEAT_SHARE and p.repeat_users >= FEW_REPEAT_USERS
    assert "few-repeat-users" not in p.warning_codes


# -- a cold split ---------------------------------------------------------------------------------
def test_a_random_split_of_one_time_buyers_will_be_cold() -> None:
    p = profile(_data(_persons(1_000, returning=0.04, lines=1)))
    assert p.cold_share_random_split >= COLD_SPLIT_SHARE
    (w,) = [w for w in p.warnings if w.code == "cold-split"]
    assert w.message.startswith("a random split will be mostly cold: about ")
    assert "ties" not in w.message and "tie with popularity" in w.message


def test_the_expected_cold_share_matches_real_random_splits() -> None:
    data = _data(_persons(1_000, returning=0.3))
    expected = profile(data).cold_share_random_split
    measured = np.mean([cold_share(f.train, f.test)
                        for f in kfold_split(data, 5, random_state=1)])
    assert measured == pytest.approx(expected, abs=0.03)


def test_a_split_made_says_its_cold_share() -> None:
    rows = [("ann", "a", 0), ("ann", "b", 1), ("bob", "a", 0), ("cid", "b", 2),
            ("dan", "c", 3)]
    data = _data(rows)
    test = np.asarray([False, True, False, True, True])      # ann's b, cid, dan
    train_part, test_part = data.subset(~test), data.subset(test)
    split = split_profile(train_part, test_part)
    assert (split.test_users, split.cold_users) == (3, 2)
    assert cold_share(train_part, test_part) == pytest.approx(2 / 3)
    (w,) = split.warnings
    assert w.message == ("the split is mostly cold: 2 of 3 test users (67%) have no training "
                         "interaction; every model serves them the popular list, so the models "
                         "differ only on the other 1")
    # the same users matched by id when the two parts do not share vocabularies
    other = InteractionDataset.from_dataframe(test_part.to_dataframe(), rating_col=None)
    assert cold_share(train_part, other) == pytest.approx(2 / 3)
    warm = split_profile(data.subset(np.ones(5, dtype=bool)), test_part)
    assert warm.cold_users == 0 and warm.warnings == () and warm.to_dict()["cold_share"] == 0


def test_warm_data_give_no_cold_verdict() -> None:
    p = profile(_data(_persons(400, returning=1.0)))
    assert p.cold_share_random_split < COLD_SPLIT_SHARE
    assert "cold-split" not in p.warning_codes


# -- items without text ---------------------------------------------------------------------------
def test_many_items_without_text() -> None:
    rows = _persons(300, returning=1.0)
    titles = {f"p{i}": f"Product {i}" for i in range(40) if i % 2}   # half without a title
    cats = {f"p{i}": "Kitchen" for i in range(40)}
    p = profile(_data(rows, titles=titles, categories=cats))
    assert p.items_without_title / p.items >= MISSING_TEXT_SHARE
    (w,) = [w for w in p.warnings if w.code == "items-without-text"]
    assert w.message.startswith("many items without text: 20 of 40 items (50%) have no title;")
    assert "category" not in w.message.split(";")[0]


def test_no_text_at_all_and_text_everywhere() -> None:
    rows = _persons(300, returning=1.0)
    bare = profile(_data(rows))
    (w,) = [w for w in bare.warnings if w.code == "items-without-text"]
    assert w.message.startswith("no item has a title or a category (40 items known by id only)")
    named = {f"p{i}": f"Product {i}" for i in range(40)}
    full = profile(_data(rows, titles=named, categories={k: "Kitchen" for k in named}))
    assert "items-without-text" not in full.warning_codes


# -- the text -------------------------------------------------------------------------------------
def test_format_profile_fits_the_width_and_lists_the_warnings() -> None:
    p = profile(_data(_per_order(1_000)))
    for width in (60, 80, 120):
        text = format_profile(p, width=width)
        assert all(len(line) <= width for line in text.splitlines()), width
    text = format_profile(p)
    assert text.splitlines()[0].startswith("shop: 1,000 users, 40 items")
    assert "warnings:" in text and "  ! user ids look like one id per order" in text
    assert text.count("  ! ") == len(p.warnings)
    quiet = profile(_data(_persons(400, returning=1.0), titles={f"p{i}": "x" for i in range(40)},
                          categories={f"p{i}": "y" for i in range(40)}))
    assert quiet.warnings == () and format_profile(quiet).endswith("no warnings")
