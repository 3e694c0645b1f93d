"""The built-in demo-shop data set: sizes, realism and the signals it is meant to carry."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from synerec.data.dataset import InteractionDataset
from synerec.data.demo_shop import (
    CATEGORIES,
    COLOURS,
    DEPARTMENTS,
    RELATED_DEPARTMENTS,
    generate_demo_shop,
    related_categories,
)
from synerec.exceptions import ConfigError

YEAR_2023 = (1_672_531_200, 1_704_067_200)


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return generate_demo_shop()


def test_same_seed_same_data_other_seed_other_data(shop: InteractionDataset) -> None:
    again = generate_demo_shop(random_state=42)
    for attr in ("user_index", "item_index", "values", "timestamps"):
        np.testing.assert_array_equal(getattr(again, attr), getattr(shop, attr))
    pd.testing.assert_frame_equal(again.item_info, shop.item_info)
    pd.testing.assert_frame_equal(again.user_info, shop.user_info)
    other = generate_demo_shop(random_state=7)
    assert not other.item_info["title"].equals(shop.item_info["title"])
    assert len(other) != len(shop) or not np.array_equal(other.values, shop.values)


def test_sizes_near_the_targets(shop: InteractionDataset) -> None:
    assert shop.name == "demo-shop"
    assert shop.n_users == 1000 and shop.n_items == 2000
    assert 36_000 <= len(shop) <= 44_000  # 1000 users x 40 ratings on average
    per_user = np.bincount(shop.user_index, minlength=shop.n_users)
    assert per_user.min() >= 1
    assert 25 <= np.median(per_user) <= 45
    assert per_user.max() > 2 * per_user.mean()  # users differ in activity
    assert shop.matrix.nnz == len(shop)  # no repeated (user, item) pairs
    assert shop.item_info["category"].nunique() == 20
    small = generate_demo_shop(n_users=100, n_items=300, n_categories=5, ratings_per_user=10)
    assert small.n_users == 100 and small.n_items == 300
    assert 800 <= len(small) <= 1200
    assert sorted(small.item_info["category"].unique()) == sorted(c.name for c in CATEGORIES[:5])


def test_ratings_are_integers_1_to_5_with_a_realistic_spread(shop: InteractionDataset) -> None:
    assert shop.rating_scale == (1.0, 5.0)
    counts = Counter(shop.values.tolist())
    assert set(counts) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.4 <= shop.values.mean() <= 4.3  # e-commerce ratings lean positive
    assert counts[1.0] / len(shop) > 0.005 and counts[5.0] / len(shop) < 0.6


def test_popularity_follows_a_power_law(shop: InteractionDataset) -> None:
    pop = np.sort(np.bincount(shop.item_index, minlength=shop.n_items))[::-1]
    top10 = pop[: shop.n_items // 10].sum() / pop.sum()
    assert top10 > 0.3  # well over the 10% of a uniform catalogue
    assert pop[0] > 20 * np.median(pop)
    # log-frequency falls roughly linearly in log-rank over the head of the distribution
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks), np.log(pop[:200]), 1)[0]
    assert -2.0 < slope < -0.3


def test_catalogue_columns(shop: InteractionDataset) -> None:
    info = shop.item_info
    assert list(info.columns) == ["title", "description", "category", "brand", "price",
                                  "department"]
    assert info.index.tolist() == shop.items.ids.tolist()
    assert (info["price"] > 0).all() and np.allclose(info["price"] % 1, 0.99)
    assert all(b in t for b, t in zip(info["brand"], info["title"], strict=True))
    assert all(t.count(" ") >= 3 for t in info["title"])
    sentences = info["description"].str.count(r"\.")
    assert ((sentences >= 1) & (sentences <= 3)).all()
    assert set(shop.user_info.columns) >= {"segment", "region", "departments"}
    assert shop.user_info.index.tolist() == shop.users.ids.tolist()
    assert set(shop.user_info["segment"]) == {"bargain hunter", "mainstream", "premium"}
    # premium shoppers buy dearer items within a category than bargain hunters
    price_z = info.groupby("category")["price"].transform(lambda p: (p - p.mean()) / p.std())
    z = price_z.to_numpy()[shop.item_index]
    seg = shop.user_info["segment"].to_numpy()[shop.user_index]
    assert z[seg == "premium"].mean() > z[seg == "bargain hunter"].mean() + 0.1


def test_text_carries_the_category(shop: InteractionDataset) -> None:
    info = shop.item_info
    nouns = {c.name: c.nouns[0].lower() for c in CATEGORIES}
    text = (info["title"] + " " + info["description"]).str.lower()
    hit = [nouns[c] in t for c, t in zip(info["category"], text, strict=True)]
    assert np.mean(hit) > 0.9
    # A bag-of-words nearest-centroid classifier, trained on half the items, names the category
    # of the other half from title and description alone.
    words = [set(re.findall(r"[a-z]+", t)) for t in text]
    vocab = {w: k for k, w in enumerate(sorted(set().union(*words)))}
    x = np.zeros((len(words), len(vocab)))
    for r, ws in enumerate(words):
        x[r, [vocab[w] for w in ws]] = 1.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, y = np.unique(info["category"].to_numpy(), return_inverse=True)
    train = np.arange(len(y)) % 2 == 0
    centroids = np.vstack([x[train & (y == c)].mean(axis=0) for c in range(len(labels))])
    predicted = np.argmax(x[~train] @ centroids.T, axis=1)
    assert np.mean(predicted == y[~train]) > 0.95


def test_text_carries_attributes(shop: InteractionDataset) -> None:
    info = shop.item_info
    colours = [next(c for c in COLOURS if t.endswith(c)) for t in info["title"]]
    assert all(c.lower() in d for c, d in zip(colours, info["description"], strict=True))
    # The brand (read from the title) carries quality: a brand's mean rating within a category
    # among even users predicts it among odd users.
    df = shop.to_dataframe()
    df["group"] = (info["category"] + "/" + info["brand"]).to_numpy()[shop.item_index]
    df["half"] = shop.user_index % 2
    means = df.groupby(["group", "half"])["rating"].mean().unstack()
    assert len(means) == 100  # 20 categories x 5 brands
    assert np.corrcoef(means[0], means[1])[0, 1] > 0.75


def test_users_rate_their_favourite_category_higher(shop: InteractionDataset) -> None:
    df = shop.to_dataframe()
    df["category"] = shop.item_info["category"].to_numpy()[shop.item_index]
    counts = df.groupby(["user_id", "category"]).size().rename("n").reset_index()
    favourite = (counts.sort_values(["n", "category"], ascending=[False, True])
                 .drop_duplicates("user_id").set_index("user_id")["category"])
    df["in_favourite"] = df["category"].to_numpy() == favourite.reindex(df["user_id"]).to_numpy()
    means = df.groupby(["user_id", "in_favourite"])["rating"].mean().unstack().dropna()
    assert len(means) > 800
    gap = means[True] - means[False]
    assert gap.mean() > 0.15
    assert (gap > 0).mean() > 0.65


def test_users_agree_on_item_quality(shop: InteractionDataset) -> None:
    # CF signal: an item's mean rating among even users predicts it among odd users.
    halves = shop.user_index % 2 == 0
    means = []
    for h in (halves, ~halves):
        total = np.bincount(shop.item_index[h], shop.values[h], shop.n_items)
        count = np.bincount(shop.item_index[h], minlength=shop.n_items)
        means.append((total, count))
    enough = (means[0][1] >= 5) & (means[1][1] >= 5)
    assert enough.sum() > 300
    a = means[0][0][enough] / means[0][1][enough]
    b = means[1][0][enough] / means[1][1][enough]
    assert np.corrcoef(a, b)[0, 1] > 0.4


def test_timestamps_span_a_year_in_order(shop: InteractionDataset) -> None:
    t = shop.timestamps
    assert YEAR_2023[0] <= t.min() and t.max() < YEAR_2023[1]
    assert t.max() - t.min() > 300 * 86_400
    assert np.all(np.diff(t) >= 0)  # the log is in time order
    order = np.lexsort((np.arange(len(t)), shop.user_index))
    same_user = np.diff(shop.user_index[order]) == 0
    assert np.all(np.diff(t[order])[same_user] > 0)  # each user's activity strictly in order


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_users": 0}, "n_users must be a positive integer"),
    ({"n_items": 2.5}, "n_items must be a positive integer"),
    ({"n_categories": 21}, "at most 20"),
    ({"n_items": 10, "n_categories": 11}, "at least n_categories"),
    ({"n_items": 30, "n_categories": 3, "ratings_per_user": 31}, "cannot exceed n_items"),
    ({"random_state": "seed"}, "random_state"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises((ConfigError, TypeError), match=match):
        generate_demo_shop(**kwargs)


def test_every_item_can_be_rated_in_a_tiny_shop() -> None:
    tiny = generate_demo_shop(n_users=5, n_items=3, n_categories=3, ratings_per_user=3,
                              random_state=0)
    assert tiny.matrix.shape == (5, 3)
    assert np.all(np.bincount(tiny.user_index, minlength=5) >= 1)
    assert tiny.matrix.nnz == len(tiny)


def test_departments_group_related_categories(shop: InteractionDataset) -> None:
    info = shop.item_info
    assert set(DEPARTMENTS) == set(info["department"])
    assert sorted(c for cs in DEPARTMENTS.values() for c in cs) == sorted(
        c.name for c in CATEGORIES)
    for category, department in zip(info["category"], info["department"], strict=True):
        assert category in DEPARTMENTS[department]
    assert related_categories("Cookware") == {"Coffee Makers", "Blenders", "Cookware",
                                              "Kitchen Knives"}
    assert related_categories("Rain Jackets") == {"Backpacks", "Tents", "Rain Jackets",
                                                  "Water Bottles"}
    with pytest.raises(KeyError, match="Toasters"):
        related_categories("Toasters")
    for a, b in RELATED_DEPARTMENTS:
        assert a in DEPARTMENTS and b in DEPARTMENTS


def test_customers_shop_in_one_to_three_departments(shop: InteractionDataset) -> None:
    tastes = shop.user_info["departments"].str.split("|")
    sizes = tastes.str.len()
    assert set(sizes) == {1, 2, 3}
    assert all(set(t) <= set(DEPARTMENTS) for t in tastes)
    # Most purchases fall in the customer's departments, a few outside ("a little noise").
    dept = shop.item_info["department"].to_numpy()[shop.item_index]
    mine = [set(t) for t in tastes]
    inside = np.array([d in mine[u] for d, u in zip(dept, shop.user_index, strict=True)])
    assert 0.85 < inside.mean() < 0.97
    per_user = pd.Series(inside).groupby(shop.user_index).mean()
    assert (per_user < 1).mean() > 0.5  # most customers buy something outside now and then
    # Two departments that go together are chosen together more often than by chance.
    both = tastes.map(lambda t: {"Outdoor", "Sports"} <= set(t)).mean()
    outdoor, sports = (tastes.map(lambda t, d=d: d in t).mean() for d in ("Outdoor", "Sports"))
    assert both > 1.2 * outdoor * sports


def test_products_are_bought_with_complements_from_their_department(
        shop: InteractionDataset) -> None:
    # Items a customer buys within two hours of each other are a basket: complements, nearly
    # all from the same department and mostly from another category of it.
    df = shop.to_dataframe().sort_values(["user_id", "timestamp"])
    info = shop.item_info
    df["department"] = info["department"].reindex(df["item_id"]).to_numpy()
    df["category"] = info["category"].reindex(df["item_id"]).to_numpy()
    prev = df.groupby("user_id").shift(1)
    basket = (df["timestamp"] - prev["timestamp"]) <= 7200
    assert basket.mean() > 0.15  # a good part of the purchases come in baskets
    same = df["department"] == prev["department"]
    apart = (df["timestamp"] - prev["timestamp"]) > 7 * 86_400
    assert same[basket].mean() > 0.9
    assert same[basket].mean() > same[apart].mean() + 0.2  # not only the customer's tastes
    # A product's most frequent basket partner repeats across customers (real co-purchase
    # structure, not just shared categories): the top partner of popular items is bought with
    # them by several customers.
    pairs = pd.DataFrame({"a": prev["item_id"][basket], "b": df["item_id"][basket]})
    top = pairs.groupby(["a", "b"]).size()
    assert (top >= 3).sum() > 100


def test_ratings_follow_tastes(shop: InteractionDataset) -> None:
    # Purchases outside the customer's departments are rated lower than those inside.
    dept = shop.item_info["department"].to_numpy()[shop.item_index]
    tastes = [set(t.split("|")) for t in shop.user_info["departments"]]
    inside = np.array([d in tastes[u] for d, u in zip(dept, shop.user_index, strict=True)])
    assert shop.values[inside].mean() > shop.values[~inside].mean() + 0.5
