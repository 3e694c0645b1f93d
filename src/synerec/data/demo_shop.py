"""``demo-shop``: a small synthetic e-commerce shop generated on the fly.

The catalogue has up to 20 product categories (running shoes, coffee makers, headphones, ...),
each with its own nouns, brands, product lines, materials and features, so that an item's title
and description carry its category and attributes. Users have latent tastes: an affinity for
each category, a favourite colour, preferences over product features, a price sensitivity and a
personal rating bias. Which items a user rates depends on item popularity (a power law) and on
the user's tastes; the 1-5 rating depends on taste affinity, item quality (partly set by the
brand) and noise. Both a collaborative signal (users agree on good items; users rate their
favourite categories higher) and a text signal (titles name category, brand and features) exist.

Everything is drawn with vectorised numpy from one ``random_state``, so the same seed gives the
same data set, and generating the default size takes well under a second.

The generative model
--------------------
For user :math:`u` and item :math:`i` of category :math:`c_i` in department :math:`d_i`:

* tastes: each user shops in a set :math:`D_u` of 1 to 3 departments (the first drawn by
  department appeal, the next ones six times as often among departments related to those
  already chosen, :data:`RELATED_DEPARTMENTS`) with Dirichlet weights :math:`w_{ud}`, has a
  preference :math:`g_{uc} \\sim N(0, 0.7^2)` for each category, and spends a share
  :math:`\\epsilon_u \\sim \\mathrm{Beta}(1.2, 15)` of purchases outside :math:`D_u`;
  the category mass is :math:`m_{uc} = (1 - \\epsilon_u)\\, w_{u d_c}\\,
  \\mathrm{softmax}_{c' \\in d_c}(g_{uc'})` inside :math:`D_u` and :math:`\\epsilon_u`
  spread evenly over the other categories;
* products: popularity :math:`p_i \\propto rank_i^{-1}` (a power law), and three
  complements per product from the other categories of its department, drawn by
  popularity and with a preference for the same brand;
* purchases: about 60% of each user's items are drawn without replacement (Gumbel-top-k)
  with weight :math:`\\log w_{ui} = \\log m_{u c_i} + \\log p_i - \\log \\sum_{j \\in c_i}
  p_j + 0.5\\,[col_i = f_u] - 0.6\\,s_u z_i`, with favourite colour :math:`f_u`, price
  sensitivity :math:`s_u` and within-category log-price z-score :math:`z_i`; each
  purchase brings each of its complements along with probability 0.25, in the same
  session (one minute to two hours later);
* rating :math:`r_{ui} = \\mathrm{clip}(\\mathrm{round}(3.1 + b_u + q_i + 0.45\\,a_{u c_i}
  + 0.35\\,[col_i = f_u] + h_{u, feat_i} - 0.4\\,s_u z_i + \\varepsilon), 1, 5)`, with
  affinity :math:`a_{uc} = 0.5 + \\log(|D_u|\\, w_{u d_c}) + l_{u d_c} + g_{uc}` inside
  :math:`D_u` (department liking :math:`l \\sim N(0, 0.5^2)`: ratings agree within a
  department) and :math:`-1.5 + N(0, 0.5^2)` outside, user bias :math:`b_u`, item
  quality :math:`q_i` (brand quality + item noise + price), feature preference :math:`h`
  and noise :math:`\\varepsilon \\sim N(0, 0.8^2)`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from synerec._rng import RandomState, check_random_state
from synerec.data._demo_catalogue import (
    CATEGORIES,
    COLOURS,
    DEPARTMENTS,
    MODEL_SUFFIXES,
    RELATED_DEPARTMENTS,
    Category,
    related_categories,
)
from synerec.data.dataset import InteractionDataset
from synerec.data.registry import DatasetInfo, register_dataset
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError

__all__ = ["CATEGORIES", "COLOURS", "DEPARTMENTS", "LAUNCH_SECONDS", "LAUNCH_START",
           "RELATED_DEPARTMENTS", "YEAR_START", "Category", "generate_demo_shop", "launch_split",
           "related_categories"]

log = logging.getLogger(__name__)

#: 2023-01-01T00:00:00Z: the simulated year starts here.
YEAR_START = 1_672_531_200
YEAR_SECONDS = 365 * 24 * 3600
#: 2024-01-01T00:00:00Z: the launch quarter of the products added after the year
#: (``n_new_products``) starts here; the year before it is the training period.
LAUNCH_START = YEAR_START + YEAR_SECONDS
LAUNCH_SECONDS = 90 * 24 * 3600
#: Typical number of customers who buy a new product during the launch quarter.
_LAUNCH_BUYERS = 20

_SEGMENTS = ("bargain hunter", "mainstream", "premium")
_REGIONS = ("north", "south", "east", "west", "central")
#: Complements stored per product, and the chance that buying a product also buys each one.
_N_COMPLEMENTS = 3
_P_COMPLEMENT = 0.25
#: Number of departments a customer shops in (1, 2 or 3) and the share of purchases outside
#: them (Beta-distributed per customer, about 7% on average).
_TASTE_SIZES = (0.3, 0.45, 0.25)
_NOISE_BETA = (1.2, 15.0)
#: How much more often a related department is chosen as a customer's next department.
_RELATED_BOOST = 6.0
#: Seconds between a product and a complement bought with it (same session).
_BASKET_SECONDS = (60.0, 7200.0)


def generate_demo_shop(
    n_users: int = 1000,
    n_items: int = 2000,
    n_categories: int = 20,
    ratings_per_user: int = 40,
    random_state: RandomState = 42,
    n_new_products: int = 0,
) -> InteractionDataset:
    """Generate the ``demo-shop`` data set: an e-commerce catalogue, customers and their ratings.

    Parameters
    ----------
    n_users
        Number of users (each rates at least one item).
    n_items
        Number of catalogue items (items that nobody rates stay in the vocabulary).
    n_categories
        Number of product categories, 1 to ``len(CATEGORIES)`` (20), taken in catalogue order.
    ratings_per_user
        Average number of ratings per user (the number varies from user to user).
    random_state
        Seed or generator; the same seed gives the same data set.
    n_new_products
        Products the shop adds after the year (0: none, the plain shop): drawn after
        everything else, so the year's catalogue, customers and ratings are the same with or
        without them. Each is added to the catalogue during the first half of the launch
        quarter (from :data:`LAUNCH_START`, 2024-01-01, for :data:`LAUNCH_SECONDS`) and bought
        there by customers chosen by the same tastes as the year's purchases (mostly customers
        of its department; see the module docstring).

    Returns
    -------
    InteractionDataset
        Explicit 1-5 ratings with timestamps over one year (2023), each user's ratings in time
        order in the log; ``item_info`` with ``title``, ``description``, ``category``, ``brand``,
        ``price`` and ``department`` (the group of related categories, see
        :data:`DEPARTMENTS`); ``user_info`` with ``segment`` (from price sensitivity),
        ``region`` and ``departments`` (the ``|``-separated departments the customer shops in,
        strongest first: the generator's ground truth). With ``n_new_products``, the new
        products follow the catalogue in the item vocabulary (ids continue the numbering), their
        purchases follow the year's in the log (all at or after :data:`LAUNCH_START`), and
        ``item_info`` has a column ``added``: when each product joined the catalogue (Unix
        seconds; :data:`YEAR_START` for the year's catalogue). :func:`launch_split` cuts such a
        shop into the year and the launch.

    See the module docstring for the generative model.
    """
    n_users, n_items, n_categories, ratings_per_user = _check_sizes(
        n_users, n_items, n_categories, ratings_per_user)
    n_new = 0 if _is_zero(n_new_products) else _positive_int(n_new_products, "n_new_products")
    rng = check_random_state(random_state)
    cats = CATEGORIES[:n_categories]
    departments = list(dict.fromkeys(c.department for c in cats))
    dept_of_cat = np.array([departments.index(c.department) for c in cats])

    items = _make_catalogue(rng, cats, n_items, dept_of_cat)
    users = _make_users(rng, n_users, departments, dept_of_cat)
    user_idx, item_idx, parent = _choose_items(rng, items, users, ratings_per_user)
    ratings = _rate(rng, items, users, user_idx, item_idx)
    timestamps = _timestamps(rng, user_idx, parent, n_users)

    order = np.lexsort((user_idx, timestamps))  # the log in time order
    user_idx, item_idx = user_idx[order], item_idx[order]
    ratings, timestamps = ratings[order], timestamps[order]

    user_ids = [f"u{k:0{len(str(n_users))}d}" for k in range(1, n_users + 1)]
    item_ids = [f"p{k:0{len(str(n_items))}d}" for k in range(1, n_items + n_new + 1)]
    item_info = _item_table(items, cats, item_ids[:n_items])
    if n_new:  # drawn last: the year's data above are the same with or without them
        added, new_items = _new_products(rng, cats, n_new, dept_of_cat, items)
        nu, ni, nr, nt = _launch_purchases(rng, new_items, added, users, user_idx)
        user_idx = np.concatenate([user_idx, nu])
        item_idx = np.concatenate([item_idx, n_items + ni])
        ratings, timestamps = np.concatenate([ratings, nr]), np.concatenate([timestamps, nt])
        new_info = _item_table(new_items, cats, item_ids[n_items:])
        new_info["added"] = added
        item_info["added"] = YEAR_START
        item_info = pd.concat([item_info, new_info])
    data = InteractionDataset(
        users=Vocabulary(user_ids, kind="user"),
        items=Vocabulary(item_ids, kind="item"),
        user_index=user_idx, item_index=item_idx, values=ratings, timestamps=timestamps,
        item_info=item_info,
        user_info=_user_table(users, departments, user_ids), rating_scale=(1.0, 5.0),
        name="demo-shop",
    )
    log.info("generated demo-shop: %d users, %d items (%d added after the year), %d ratings",
             n_users, n_items + n_new, n_new, data.n_interactions)
    return data


def launch_split(data: InteractionDataset) -> tuple[InteractionDataset, InteractionDataset]:
    """The year and the launch of a demo shop made with ``n_new_products``.

    Returns
    -------
    (InteractionDataset, InteractionDataset)
        The interactions before :data:`LAUNCH_START` (the training period: the plain shop's
        ratings, with the whole catalogue, new products included, in the vocabulary and
        ``item_info``) and those from it on (the new products' purchases), both on the same
        user and item vocabularies.

    Raises
    ------
    ConfigError
        ``data`` has no timestamps.
    """
    if data.timestamps is None:
        raise ConfigError(f"{data.name} has no timestamps to cut at the launch")
    later = np.asarray(data.timestamps) >= LAUNCH_START
    rows = np.arange(data.n_interactions)
    return (data.subset(rows[~later], name=data.name),
            data.subset(rows[later], name=f"{data.name}-launch"))


def _new_products(rng: np.random.Generator, cats: tuple[Category, ...], n_new: int,
                  dept_of_cat: np.ndarray, catalogue: dict[str, Any]
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """``n_new`` products spread evenly over the categories (in random order), described like
    the catalogue's (same brands' quality, prices standardised against the catalogue), and
    when each is added: a time in the first half of the launch quarter."""
    category = rng.permutation(np.resize(np.arange(len(cats)), n_new))
    items = _describe(rng, cats, category, dept_of_cat, reference=catalogue)
    added = LAUNCH_START + np.floor(rng.uniform(0.0, 0.5, n_new) * LAUNCH_SECONDS)
    return added.astype(np.int64), items


def _launch_purchases(rng: np.random.Generator, items: dict[str, Any], added: np.ndarray,
                      users: dict[str, np.ndarray], year_users: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Who buys each new product during the launch quarter, their ratings and times.

    Each product has a number of buyers (log-normal around :data:`_LAUNCH_BUYERS`, at most
    half the customers), chosen without replacement (Gumbel-top-k) with the weight of the
    year's purchases, :math:`\\log m_{u c_i} + 0.5\\,[col_i = f_u] - 0.6\\,s_u z_i`, plus
    :math:`\\log` of the customer's number of purchases in the year (active customers buy
    more). Returns (user, new product, rating, time) arrays in time order.
    """
    n_users, n_new = len(users["bias"]), len(added)
    activity = np.log(np.maximum(np.bincount(year_users, minlength=n_users), 1))
    n_buyers = np.rint(rng.lognormal(np.log(_LAUNCH_BUYERS), 0.5, n_new)).astype(np.int64)
    n_buyers = np.clip(n_buyers, 1, max(1, n_users // 2))
    log_mass = np.log(np.maximum(users["category_mass"], 1e-12))
    keys = (log_mass[:, items["category"]].T + activity[None, :]
            + 0.5 * (users["colour"][None, :] == items["colour"][:, None])
            - 0.6 * np.multiply.outer(items["price_z"], users["price_sensitivity"])
            + rng.gumbel(size=(n_new, n_users)))
    order = np.argsort(-keys, axis=1, kind="stable")
    keep = np.arange(n_users)[None, :] < n_buyers[:, None]
    item_idx = np.broadcast_to(np.arange(n_new)[:, None], order.shape)[keep]
    user_idx = order[keep]
    ratings = _rate(rng, items, users, user_idx, item_idx)
    end = LAUNCH_START + LAUNCH_SECONDS
    t = added[item_idx] + rng.random(len(item_idx)) * (end - 3600 - added[item_idx])
    t = np.floor(t).astype(np.int64)
    by_user = np.lexsort((t, user_idx))  # no two purchases of a customer at the same second
    us = user_idx[by_user]
    first = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
    rank = np.arange(len(us)) - np.repeat(first, np.diff(np.r_[first, len(us)]))
    t[by_user] += rank
    log_order = np.lexsort((user_idx, t))
    return (user_idx[log_order], item_idx[log_order], ratings[log_order], t[log_order])


def _check_sizes(n_users: Any, n_items: Any, n_categories: Any, ratings_per_user: Any
                 ) -> tuple[int, int, int, int]:
    """The sizes as ints, checked against each other."""
    n_users, n_items = _positive_int(n_users, "n_users"), _positive_int(n_items, "n_items")
    n_categories = _positive_int(n_categories, "n_categories")
    ratings_per_user = _positive_int(ratings_per_user, "ratings_per_user")
    if n_categories > len(CATEGORIES):
        raise ConfigError(f"n_categories must be at most {len(CATEGORIES)}, got {n_categories}")
    if n_items < n_categories:
        raise ConfigError(f"n_items ({n_items}) must be at least n_categories ({n_categories})")
    if ratings_per_user > n_items:
        raise ConfigError(f"ratings_per_user ({ratings_per_user}) cannot exceed n_items "
                          f"({n_items})")
    return n_users, n_items, n_categories, ratings_per_user


def _item_table(items: dict[str, Any], cats: tuple[Category, ...], item_ids: list[str]
                ) -> pd.DataFrame:
    """The catalogue as ``item_info``."""
    return pd.DataFrame(
        {
            "title": items["title"],
            "description": items["description"],
            "category": [cats[c].name for c in items["category"]],
            "brand": items["brand_name"],
            "price": items["price"],
            "department": [cats[c].department for c in items["category"]],
        },
        index=pd.Index(item_ids, name="item_id"),
    )


def _user_table(users: dict[str, np.ndarray], departments: list[str], user_ids: list[str]
                ) -> pd.DataFrame:
    """The customers as ``user_info``: segment, region and their departments, strongest
    first."""
    sens = users["price_sensitivity"]
    segment = np.where(sens > 0.65, 0, np.where(sens < 0.3, 2, 1))
    strength = users["department_weight"]
    ranked = np.argsort(-strength, axis=1, kind="stable")
    names = np.asarray(departments, dtype=object)
    tastes = ["|".join(names[order[: n]]) for order, n in
              zip(ranked, (strength > 0).sum(axis=1), strict=True)]
    return pd.DataFrame(
        {
            "segment": np.asarray(_SEGMENTS, dtype=object)[segment],
            "region": np.asarray(_REGIONS, dtype=object)[users["region"]],
            "departments": tastes,
        },
        index=pd.Index(user_ids, name="user_id"),
    )


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == 0


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _make_catalogue(rng: np.random.Generator, cats: tuple[Category, ...], n_items: int,
                    dept_of_cat: np.ndarray) -> dict[str, Any]:
    n_cat = len(cats)
    # Uneven category sizes, each category non-empty.
    sizes = 1 + rng.multinomial(n_items - n_cat, rng.dirichlet(np.full(n_cat, 5.0)))
    category = rng.permutation(np.repeat(np.arange(n_cat), sizes))
    return _describe(rng, cats, category, dept_of_cat)


def _describe(rng: np.random.Generator, cats: tuple[Category, ...], category: np.ndarray,
              dept_of_cat: np.ndarray, reference: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """Brand, title, description, price, quality, popularity and complements of products of
    the given categories.

    With ``reference`` (the catalogue, for products added later) the brands keep their quality
    and prices are standardised against the catalogue's own; the added products get no
    complements.
    """
    n_cat, n_items = len(cats), len(category)
    n_brands = len(cats[0].brands)
    brand = rng.integers(0, n_brands, n_items)  # tier 0 (budget) .. 4 (premium)
    brand_quality = (rng.normal(0.0, 0.35, (n_cat, n_brands)) if reference is None
                     else reference["brand_quality"])
    noun = rng.integers(0, len(cats[0].nouns), n_items)
    line = rng.integers(0, len(cats[0].lines), n_items)
    material = rng.integers(0, len(cats[0].materials), n_items)
    feature = rng.integers(0, len(cats[0].features), n_items)
    use = rng.integers(0, len(cats[0].uses), n_items)
    model = rng.integers(0, len(MODEL_SUFFIXES), n_items)
    colour = rng.integers(0, len(COLOURS), n_items)

    base = np.array([c.base_price for c in cats])[category]
    log_ratio = np.log(0.7 + 0.2 * brand) + rng.normal(0.0, 0.25, n_items)
    price = np.floor(base * np.exp(log_ratio)) + 0.99
    # Within-category standardised log price: what price-sensitive users react to.
    lp = np.log(price)
    if reference is None:
        mean = np.bincount(category, lp, n_cat) / np.bincount(category, minlength=n_cat)
        sq = np.bincount(category, (lp - mean[category]) ** 2, n_cat)
        std = np.sqrt(sq / np.bincount(category, minlength=n_cat))
    else:
        mean, std = reference["log_price_mean"], reference["log_price_std"]
    price_z = (lp - mean[category]) / np.where(std > 0, std, 1.0)[category]
    quality = (brand_quality[category, brand] + rng.normal(0.0, 0.45, n_items)
               + 0.15 * price_z)

    titles, descriptions, brand_names = [], [], []
    for i in range(n_items):
        c = cats[category[i]]
        b = c.brands[brand[i]]
        noun_i = c.nouns[noun[i]]
        model_i = f" {MODEL_SUFFIXES[model[i]]}" if MODEL_SUFFIXES[model[i]] else ""
        feat = c.features[feature[i]]
        titles.append(f"{b} {c.lines[line[i]]}{model_i} {feat} {noun_i} - {COLOURS[colour[i]]}")
        article = "An" if feat[0] in "AEIOU" else "A"
        descriptions.append(
            f"{article} {feat.lower()} {c.nouns[0].lower()} in {COLOURS[colour[i]].lower()}, "
            f"made with {c.materials[material[i]]}. {c.uses[use[i]]}")
        brand_names.append(b)
    # Popularity: a power law over ranks that follow quality loosely.
    log_pop = -1.0 * np.log1p(np.argsort(np.argsort(-(quality + rng.normal(0, 1.0, n_items)))))
    department = dept_of_cat[category]
    return {
        "category": category, "department": department, "brand": brand,
        "brand_name": brand_names, "feature": feature, "colour": colour, "price": price,
        "price_z": price_z, "quality": quality, "title": titles, "description": descriptions,
        "log_pop": log_pop, "brand_quality": brand_quality, "log_price_mean": mean,
        "log_price_std": std,
        "complements": (_complements(rng, category, department, brand, log_pop)
                        if reference is None
                        else np.full((n_items, _N_COMPLEMENTS), -1, dtype=np.int64)),
    }


def _complements(rng: np.random.Generator, category: np.ndarray, department: np.ndarray,
                 brand: np.ndarray, log_pop: np.ndarray, n_candidates: int = 32) -> np.ndarray:
    """``_N_COMPLEMENTS`` products bought together with each product (-1: none).

    Drawn among ``n_candidates`` random products of the same department, from other
    categories when the department has several, by popularity and preferring the same brand
    (Gumbel-top-k): O(items x candidates) whatever the catalogue size.
    """
    n = len(category)
    out = np.full((n, _N_COMPLEMENTS), -1, dtype=np.int64)
    for d in np.unique(department):
        members = np.flatnonzero(department == d)
        m = len(members)
        if m < 2:
            continue
        several = len(np.unique(category[members])) > 1
        cand = members[rng.integers(0, m, (m, min(n_candidates, m)))]
        keys = (0.8 * log_pop[cand] + 1.0 * (brand[cand] == brand[members][:, None])
                + rng.gumbel(size=cand.shape))
        bad = cand == members[:, None]
        if several:
            bad |= category[cand] == category[members][:, None]
        # A product drawn twice as a candidate counts once.
        order = np.argsort(cand, axis=1, kind="stable")
        sorted_cand = np.take_along_axis(cand, order, 1)
        repeat = np.zeros(cand.shape, dtype=bool)
        repeat[:, 1:] = sorted_cand[:, 1:] == sorted_cand[:, :-1]
        np.put_along_axis(bad, order, np.take_along_axis(bad, order, 1) | repeat, 1)
        keys[bad] = -np.inf
        top = np.argsort(-keys, axis=1, kind="stable")[:, :_N_COMPLEMENTS]
        chosen = np.take_along_axis(cand, top, 1)
        valid = np.isfinite(np.take_along_axis(keys, top, 1))
        out[members, : top.shape[1]] = np.where(valid, chosen, -1)
    return out


def _make_users(rng: np.random.Generator, n_users: int, departments: list[str],
                dept_of_cat: np.ndarray) -> dict[str, np.ndarray]:
    n_dept, n_cat = len(departments), len(dept_of_cat)
    related = np.zeros((n_dept, n_dept))
    for a, b in RELATED_DEPARTMENTS:
        if a in departments and b in departments:
            related[departments.index(a), departments.index(b)] = 1.0
            related[departments.index(b), departments.index(a)] = 1.0
    appeal = np.log(rng.dirichlet(np.full(n_dept, 5.0)))
    n_taste = np.minimum(rng.choice(len(_TASTE_SIZES), n_users, p=_TASTE_SIZES) + 1, n_dept)
    taste = np.zeros((n_users, n_dept), dtype=bool)
    for step in range(len(_TASTE_SIZES)):
        near = (taste.astype(float) @ related) > 0
        logits = np.where(taste, -np.inf, appeal + np.log(_RELATED_BOOST) * near)
        pick = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
        active = np.flatnonzero(n_taste > step)
        taste[active, pick[active]] = True
    weight = np.where(taste, rng.gamma(2.0, 1.0, (n_users, n_dept)), 0.0)
    weight /= weight.sum(axis=1, keepdims=True)
    noise = rng.beta(*_NOISE_BETA, n_users)
    pref = rng.normal(0.0, 0.7, (n_users, n_cat))
    # Category mass: the taste departments' weights split by a softmax of the preferences
    # within each department; the noise share spread evenly over the other categories.
    inside = taste[:, dept_of_cat]
    e = np.exp(pref - pref.max(axis=1, keepdims=True))
    dept_sum = np.zeros((n_users, n_dept))
    np.add.at(dept_sum.T, dept_of_cat, e.T)
    share = e / dept_sum[:, dept_of_cat]
    n_out = (~inside).sum(axis=1, keepdims=True)
    outside = np.where(n_out > 0, noise[:, None] / np.maximum(n_out, 1), 0.0)
    keep = np.where(n_out[:, 0] > 0, 1.0 - noise, 1.0)[:, None]
    mass = np.where(inside, keep * weight[:, dept_of_cat] * share, outside)
    # Rating affinity: how much the user likes each department (more the ones they shop in
    # most; shared by the department's categories, so ratings agree within a department), plus
    # the category preference; purchases outside the user's departments are rated lower.
    size = taste.sum(axis=1, keepdims=True)
    liking = (np.log(np.maximum(weight * size, 1e-12))
              + rng.normal(0.0, 0.5, (n_users, n_dept)))[:, dept_of_cat]
    affinity = np.where(inside, 0.5 + liking + pref,
                        -1.5 + rng.normal(0.0, 0.5, (n_users, n_cat)))
    return {
        "department_weight": weight,
        "category_mass": mass,
        "affinity": affinity,
        "colour": rng.integers(0, len(COLOURS), n_users),
        "feature_pref": rng.normal(0.0, 0.3, (n_users, len(CATEGORIES[0].features))),
        "price_sensitivity": rng.beta(2.0, 2.0, n_users),
        "bias": rng.normal(0.0, 0.35, n_users),
        "region": rng.integers(0, len(_REGIONS), n_users),
    }


def _choose_items(rng: np.random.Generator, items: dict[str, Any], users: dict[str, np.ndarray],
                  ratings_per_user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's items: products drawn by taste, plus the complements bought with them.

    Returns the (user, item) pairs and, per pair, the index of the pair whose purchase
    brought it along (-1 for a product chosen for itself); no (user, item) pair repeats.
    """
    n_users = len(users["bias"])
    n_items = len(items["category"])
    sigma = 0.6
    counts = np.rint(rng.lognormal(np.log(ratings_per_user) - sigma**2 / 2, sigma, n_users))
    counts = np.clip(counts, max(1, min(5, ratings_per_user // 2)), n_items)
    # Products chosen for themselves; complements bring the total near the target (each
    # product brings 0.75 complements, of which about 0.6 are new to the user).
    own = np.maximum(1, np.rint(counts / 1.6)).astype(np.int64)
    cat = items["category"]
    pop = np.exp(items["log_pop"])
    log_within = items["log_pop"] - np.log(np.bincount(cat, pop, cat.max() + 1))[cat]
    log_mass = np.log(np.maximum(users["category_mass"], 1e-12)).astype(np.float32)
    log_within = log_within.astype(np.float32)
    sens = (0.6 * users["price_sensitivity"]).astype(np.float32)
    price_z = items["price_z"].astype(np.float32)
    chunk = max(1, (1 << 21) // n_items)
    user_parts, item_parts = [], []
    for start in range(0, n_users, chunk):
        u = np.arange(start, min(n_users, start + chunk))
        # log weight, in place on one float32 block (the generator's hot spot)
        keys = log_mass[u][:, cat]
        keys += log_within[None, :]
        np.add(keys, np.float32(0.5), out=keys,
               where=users["colour"][u, None] == items["colour"][None, :])
        keys -= np.multiply.outer(sens[u], price_z)
        # Gumbel-top-k: -log(E) with E ~ Exp(1) is a Gumbel draw (float32: several times
        # faster than rng.gumbel, which dominated the generator's time).
        e = rng.standard_exponential(size=keys.shape, dtype=np.float32)
        np.maximum(e, np.float32(1e-30), out=e)
        keys -= np.log(e, out=e)
        k = own[u]
        kmax = int(k.max())
        top = (np.argpartition(-keys, kmax - 1, axis=1)[:, :kmax] if kmax < n_items
               else np.tile(np.arange(n_items), (len(u), 1)))
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
        keep = np.arange(kmax)[None, :] < k[:, None]
        user_parts.append(np.broadcast_to(u[:, None], top.shape)[keep])
        item_parts.append(top[keep])
    users_own, items_own = np.concatenate(user_parts), np.concatenate(item_parts)
    comp = items["complements"][items_own]
    bought = (comp >= 0) & (rng.random(comp.shape) < _P_COMPLEMENT)
    rows, cols = np.nonzero(bought)
    user_idx = np.concatenate([users_own, users_own[rows]])
    item_idx = np.concatenate([items_own, comp[rows, cols]])
    parent = np.concatenate([np.full(len(items_own), -1, dtype=np.int64), rows])
    # A complement the user already chose (or that two purchases bring) counts once, first.
    _, first = np.unique(user_idx.astype(np.int64) * n_items + item_idx, return_index=True)
    first.sort()
    return user_idx[first], item_idx[first], parent[first]


def _rate(rng: np.random.Generator, items: dict[str, Any], users: dict[str, np.ndarray],
          u: np.ndarray, i: np.ndarray) -> np.ndarray:
    score = (3.1 + users["bias"][u] + items["quality"][i]
             + 0.45 * users["affinity"][u, items["category"][i]]
             + 0.35 * (users["colour"][u] == items["colour"][i])
             + users["feature_pref"][u, items["feature"][i]]
             - 0.4 * users["price_sensitivity"][u] * items["price_z"][i]
             + rng.normal(0.0, 0.8, len(u)))
    return np.clip(np.rint(score), 1, 5).astype(np.float32)


def _timestamps(rng: np.random.Generator, u: np.ndarray, parent: np.ndarray,
                n_users: int) -> np.ndarray:
    """Times within each user's active window of the year, strictly increasing per user.

    A complement (``parent >= 0``) is bought in the same session as the pair it came with.
    """
    counts = np.bincount(u, minlength=n_users)
    start = rng.uniform(0.0, 0.7, n_users) * YEAR_SECONDS
    room = YEAR_SECONDS - start - counts.max() - 1 - _BASKET_SECONDS[1]
    length = rng.uniform(0.1, 1.0, n_users) * room
    t = start[u] + rng.random(len(u)) * length[u]
    later = parent >= 0
    t[later] = t[parent[later]] + rng.uniform(*_BASKET_SECONDS, int(later.sum()))
    order = np.lexsort((t, u))  # by user, then time
    us = u[order]
    first = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
    rank = np.arange(len(u)) - np.repeat(first, np.diff(np.r_[first, len(u)]))
    out = np.empty(len(u), dtype=np.int64)
    out[order] = np.floor(t[order]).astype(np.int64) + rank  # +rank: no ties within a user
    return YEAR_START + out


register_dataset(DatasetInfo(
    name="demo-shop",
    description="Synthetic e-commerce shop: 1,000 users, 2,000 products in 20 categories of 8 "
                "departments, 1-5 ratings with titles and descriptions (generated, no download)",
    files=(),
    loader=lambda folder, **kw: generate_demo_shop(**kw),
    source="generated by synerec.data.demo_shop",
    builtin=True,
))
