"""The demo shop's new products: added after the year, bought by the customers of their
department, and the year's data the same with or without them."""

from __future__ import annotations

import numpy as np
import pytest

from synerec.data.dataset import InteractionDataset
from synerec.data.demo_shop import (
    LAUNCH_SECONDS,
    LAUNCH_START,
    YEAR_START,
    generate_demo_shop,
    launch_split,
)
from synerec.exceptions import ConfigError

N_NEW = 60


@pytest.fixture(scope="module")
def plain() -> InteractionDataset:
    return generate_demo_shop(random_state=7)


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return generate_demo_shop(random_state=7, n_new_products=N_NEW)


def test_the_year_is_unchanged_by_the_new_products(plain: InteractionDataset,
                                                   shop: InteractionDataset) -> None:
    year, _ = launch_split(shop)
    for name in ("user_index", "item_index", "values", "timestamps"):
        assert np.array_equal(getattr(year, name), getattr(plain, name)), name
    assert shop.items.ids[:plain.n_items].tolist() == plain.items.ids.tolist()
    assert shop.item_info.iloc[:plain.n_items].drop(columns="added").equals(plain.item_info)
    assert (shop.item_info["added"].iloc[:plain.n_items] == YEAR_START).all()
    assert shop.user_info.equals(plain.user_info)


def test_seeded(shop: InteractionDataset) -> None:
    again = generate_demo_shop(random_state=7, n_new_products=N_NEW)
    other = generate_demo_shop(random_state=8, n_new_products=N_NEW)
    assert again.item_info.equals(shop.item_info)
    assert np.array_equal(again.item_index, shop.item_index)
    assert not other.item_info.iloc[-N_NEW:]["title"].equals(shop.item_info.iloc[-N_NEW:]["title"])


def test_new_products_are_dated_after_the_year(shop: InteractionDataset) -> None:
    n_old = shop.n_items - N_NEW
    new = shop.item_info.iloc[n_old:]
    assert new.index.tolist() == [f"p{k}" for k in range(n_old + 1, shop.n_items + 1)]
    assert ((new["added"] >= LAUNCH_START) & (new["added"] < LAUNCH_START + LAUNCH_SECONDS // 2)
            ).all()
    year, launch = launch_split(shop)
    # nobody buys a new product in the year; the launch has only new products, each bought
    assert not np.isin(year.item_index, np.arange(n_old, shop.n_items)).any()
    assert set(launch.item_index.tolist()) == set(range(n_old, shop.n_items))
    t = np.asarray(launch.timestamps)
    added = shop.item_info["added"].to_numpy()[launch.item_index]
    assert (t >= added).all() and (t < LAUNCH_START + LAUNCH_SECONDS).all()
    assert np.all(np.diff(np.asarray(shop.timestamps)) >= 0)  # the log in time order
    # no customer buys a new product twice, nor two things at the same second
    pairs = launch.user_index.astype(np.int64) * shop.n_items + launch.item_index
    assert len(np.unique(pairs)) == len(pairs)
    stamps = launch.user_index.astype(np.int64) * 10**11 + t
    assert len(np.unique(stamps)) == len(stamps)


def test_new_products_look_like_the_catalogue(shop: InteractionDataset) -> None:
    n_old = shop.n_items - N_NEW
    info = shop.item_info
    new = info.iloc[n_old:]
    assert new["category"].value_counts().max() - new["category"].value_counts().min() <= 1
    assert all(b in t for b, t in zip(new["brand"], new["title"], strict=True))
    assert np.allclose(new["price"] % 1, 0.99)
    # the department follows the category as in the catalogue
    dept = dict(zip(info["category"].iloc[:n_old], info["department"].iloc[:n_old], strict=False))
    assert all(dept[c] == d for c, d in zip(new["category"], new["department"], strict=True))


def test_buyers_are_customers_of_the_products_department(shop: InteractionDataset) -> None:
    _, launch = launch_split(shop)
    info = shop.item_info
    tastes = shop.user_info["departments"].str.split("|").to_numpy()[launch.user_index]
    dept = info["department"].to_numpy()[launch.item_index]
    inside = np.mean([d in t for d, t in zip(dept, tastes, strict=True)])
    # the year's purchases are about 7% outside a customer's departments; a random customer
    # shops in a given department far less often
    everyone = shop.user_info["departments"].str.split("|").to_numpy()
    chance = np.mean([d in t for d in dept[:200] for t in everyone])
    assert inside > 0.8 and chance < 0.45, (inside, chance)
    buyers = np.bincount(launch.item_index)[shop.n_items - N_NEW:]
    assert buyers.min() >= 1 and 10 <= buyers.mean() <= 40
    assert set(np.unique(launch.values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_bad_count_and_missing_timestamps() -> None:
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ConfigError, match="n_new_products"):
            generate_demo_shop(n_users=20, n_items=40, n_new_products=bad)
    shop = generate_demo_shop(n_users=20, n_items=40, n_categories=4, ratings_per_user=5,
                              n_new_products=2, random_state=0)
    assert shop.n_items == 42
    plain = shop.subset(np.arange(shop.n_interactions))
    no_time = InteractionDataset(users=plain.users, items=plain.items,
                                 user_index=plain.user_index, item_index=plain.item_index,
                                 values=plain.values)
    with pytest.raises(ConfigError, match="no timestamps"):
        launch_split(no_time)
