"""A marketplace's export of five tables, as a real one looks (the shape of the Olist export).

:func:`write_marketplace` writes, seeded and in well under a second:

- ``orders.csv``: ``order_id`` (32-character hashes), the *per-order* ``customer_id``, an
  ``order_status`` (delivered, shipped, canceled, unavailable, ...), times as
  ``YYYY-MM-DD HH:MM:SS``; unavailable orders have no lines;
- ``order_items.csv``: one line per item of an order (``order_item_id`` 1, 2, ...; the same
  product twice when two were bought), with its ``product_id``, seller, price and freight; a few
  lines cut short (the export stopped mid-line), two that name an order the orders table does not
  have, one a product the products table does not have;
- ``customers.csv``: one row per *order's* ``customer_id``, with the person's
  ``customer_unique_id``: 96% of persons bought once;
- ``products.csv``: ``product_id`` (hashes), a Portuguese ``product_category_name`` (empty for
  about 2% of products), sizes and weights; a third of the catalogue is never bought;
- ``category_translation.csv``: ``product_category_name`` -> ``product_category_name_english``
  (two categories without a translation, as in the real export);

and ``marketplace.toml``, the data-set config that reads the five as one data set (the
person's id as the user, delivered and shipped orders' lines as purchases, the English
category), and returns a :class:`Marketplace` with the files and what the tables hold, for
the tests to compare with what synerec reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CATEGORIES", "Marketplace", "write_marketplace"]

#: Portuguese category names and their translations (``None``: missing from the translation
#: table, as two are in the real export).
CATEGORIES: dict[str, str | None] = {
    "cama_mesa_banho": "bed_bath_table", "beleza_saude": "health_beauty",
    "esporte_lazer": "sports_leisure", "moveis_decoracao": "furniture_decor",
    "informatica_acessorios": "computers_accessories",
    "utilidades_domesticas": "housewares", "relogios_presentes": "watches_gifts",
    "telefonia": "telephony", "ferramentas_jardim": "garden_tools", "automotivo": "auto",
    "brinquedos": "toys", "cool_stuff": "cool_stuff", "perfumaria": "perfumery",
    "bebes": "baby", "eletronicos": "electronics", "papelaria": "stationery",
    "fashion_bolsas_e_acessorios": "fashion_bags_accessories", "pet_shop": "pet_shop",
    "moveis_escritorio": "office_furniture", "consoles_games": "consoles_games",
    "malas_acessorios": "luggage_accessories", "eletrodomesticos": "home_appliances",
    "instrumentos_musicais": "musical_instruments", "eletroportateis": "small_appliances",
    "casa_construcao": "home_construction", "livros_interesse_geral": "books_general_interest",
    "alimentos": "food", "moveis_sala": "furniture_living_room", "bebidas": "drinks",
    "audio": "audio", "climatizacao": "air_conditioning", "pc_gamer": None,
    "portateis_cozinha_e_preparadores_de_alimentos": None,
}
#: Order statuses and their shares (of the real export, roughly).
STATUSES: dict[str, float] = {"delivered": 0.970, "shipped": 0.011, "canceled": 0.006,
                              "unavailable": 0.006, "invoiced": 0.003, "processing": 0.003,
                              "approved": 0.001}
#: The statuses whose lines are not purchases (the config's row filter drops them).
NOT_PURCHASED = ("canceled", "unavailable")
_FIRST = pd.Timestamp("2016-10-01").value // 10**9
_LAST = pd.Timestamp("2018-08-31").value // 10**9
_STATES = ["SP", "RJ", "MG", "RS", "PR", "SC", "BA", "DF", "GO", "ES"]
_CITIES = {"SP": "sao paulo", "RJ": "rio de janeiro", "MG": "belo horizonte",
           "RS": "porto alegre", "PR": "curitiba", "SC": "florianopolis", "BA": "salvador",
           "DF": "brasilia", "GO": "goiania", "ES": "vitoria"}

CONFIG = '''\
# marketplace.toml: a marketplace's export of five tables read as one data set
[data]
name = "marketplace"
user_col = "customers.customer_unique_id"     # the person (customer_id is one per order)
item_col = "order_items.product_id"
time_col = "orders.order_purchase_timestamp"
category_col = "category_translation.product_category_name_english"
implicit = true                               # every line a purchase
where = ["orders.order_status !~ ^(canceled|unavailable)$"]
on_bad_rows = "skip"

[tables.order_items]                          # the rows: one per item of an order
path = "order_items.csv"

[tables.orders]
path = "orders.csv"

[tables.customers]
path = "customers.csv"

[tables.products]
path = "products.csv"

[tables.category_translation]
path = "category_translation.csv"

[[joins]]                                     # each line finds its order ...
left = "order_items.order_id"
right = "orders.order_id"

[[joins]]                                     # ... each order its customer
left = "orders.customer_id"
right = "customers.customer_id"

[[joins]]                                     # each line its product ...
left = "order_items.product_id"
right = "products.product_id"

[[joins]]                                     # ... each product its English category
left = "products.product_category_name"
right = "category_translation.product_category_name"
'''


@dataclass
class Marketplace:
    """The files written and what they hold."""

    folder: Path
    config: Path
    orders: Path
    order_items: Path
    customers: Path
    products: Path
    category_translation: Path
    n_orders: int
    n_persons: int
    n_products: int
    #: Lines of ``order_items.csv`` (data lines, the cut ones included).
    n_lines: int
    #: Persons with a single order (of all persons with an order).
    single_order_persons: int
    #: File lines of ``order_items.csv`` cut short.
    cut_lines: list[int] = field(default_factory=list)
    #: File lines of ``order_items.csv`` whose order is not in ``orders.csv``, and its ids.
    orphan_lines: list[int] = field(default_factory=list)
    orphan_orders: list[str] = field(default_factory=list)
    #: File line of ``order_items.csv`` whose product is not in ``products.csv``, and its id.
    unknown_product_line: int = 0
    unknown_product: str = ""
    #: Products without a category, and with one that has no translation.
    products_without_category: int = 0
    products_untranslated: int = 0
    #: Orders without lines (the unavailable ones).
    orders_without_lines: int = 0


def _hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct 32-character hex ids."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    out = np.asarray([bytes(row).hex() for row in raw], dtype=object)
    assert len(set(out)) == n
    return out


def _times(seconds: np.ndarray) -> np.ndarray:
    return pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S").to_numpy(object)


def write_marketplace(folder: str | Path, *, seed: int = 0, n_orders: int = 8_000,
                      n_products: int = 3_000) -> Marketplace:
    """Write the five tables and ``marketplace.toml`` to ``folder`` (see the module
    docstring)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    # -- products: hashes, a Portuguese category (popular ones first), a third never bought
    names = list(CATEGORIES)
    cat_weight = 1.0 / np.arange(1, len(names) + 1) ** 0.8
    product_ids = _hashes(rng, n_products)
    category = np.asarray(names, dtype=object)[
        rng.choice(len(names), size=n_products, p=cat_weight / cat_weight.sum())]
    category[rng.random(n_products) < 0.02] = ""
    products = pd.DataFrame({
        "product_id": product_ids, "product_category_name": category,
        "product_name_lenght": rng.integers(5, 76, n_products),
        "product_description_lenght": rng.integers(4, 3993, n_products),
        "product_photos_qty": rng.integers(1, 7, n_products),
        "product_weight_g": rng.integers(50, 30_000, n_products)})
    popularity = 1.0 / np.arange(1, n_products + 1) ** 1.1
    popularity[rng.permutation(n_products)[: n_products // 3]] = 0.0  # never bought
    popularity /= popularity.sum()

    # -- persons and their orders: 96% bought once
    n_persons = round(n_orders / 1.04)
    orders_of = np.ones(n_persons, dtype=np.int64)
    extra = n_orders - n_persons
    repeaters = rng.choice(n_persons, size=extra, replace=False)
    orders_of[repeaters[: int(extra * 0.85)]] += 1
    orders_of[repeaters[int(extra * 0.85):]] += 2
    overshoot = int(orders_of.sum()) - n_orders
    orders_of[repeaters[int(extra * 0.85):][:overshoot]] -= 1
    person_of_order = np.repeat(np.arange(n_persons), orders_of)
    assert len(person_of_order) == n_orders
    person_ids = _hashes(rng, n_persons)
    order_ids = _hashes(rng, n_orders)
    customer_ids = _hashes(rng, n_orders)  # one per order, as the export has it
    state = np.asarray(_STATES, dtype=object)[rng.integers(0, len(_STATES), n_persons)]
    customers = pd.DataFrame({
        "customer_id": customer_ids, "customer_unique_id": person_ids[person_of_order],
        "customer_zip_code_prefix": rng.integers(1000, 99999, n_orders),
        "customer_city": [_CITIES[s] for s in state[person_of_order]],
        "customer_state": state[person_of_order]})
    customers = customers.iloc[rng.permutation(n_orders)].reset_index(drop=True)

    # -- orders: statuses, purchase times (a person's orders at different times)
    status = np.asarray(list(STATUSES), dtype=object)[
        rng.choice(len(STATUSES), size=n_orders, p=np.asarray(list(STATUSES.values()))
                   / sum(STATUSES.values()))]
    bought = _FIRST + np.sort(rng.integers(0, _LAST - _FIRST, n_orders))
    bought = bought[rng.permutation(n_orders)]
    delivered = np.where(status == "delivered",
                         _times(bought + rng.integers(3, 30, n_orders) * 86_400), "")
    orders = pd.DataFrame({
        "order_id": order_ids, "customer_id": customer_ids, "order_status": status,
        "order_purchase_timestamp": _times(bought),
        "order_delivered_customer_date": delivered,
        "order_estimated_delivery_date": _times(bought + 25 * 86_400)})
    orders = orders.sort_values("order_purchase_timestamp", kind="stable").reset_index(drop=True)

    # -- order lines: 1 (90%), 2 (7%) or 3-4 items; the same product twice when two were bought
    has_lines = orders["order_status"].to_numpy() != "unavailable"
    n_items = rng.choice([1, 2, 3, 4], size=n_orders, p=[0.90, 0.07, 0.02, 0.01])
    n_items[~has_lines] = 0
    line_order = np.repeat(orders["order_id"].to_numpy(), n_items)
    line_time = np.repeat(pd.to_datetime(orders["order_purchase_timestamp"]).to_numpy(), n_items)
    item_no = np.concatenate([np.arange(1, k + 1) for k in n_items if k])
    product = product_ids[rng.choice(n_products, size=len(line_order), p=popularity)]
    again = (item_no > 1) & (rng.random(len(item_no)) < 0.3)
    product[again] = product[np.flatnonzero(again) - 1]  # a second one of the same product
    n = len(line_order)
    lines = pd.DataFrame({
        "order_id": line_order, "order_item_id": item_no, "product_id": product,
        "seller_id": _hashes(rng, 400)[rng.integers(0, 400, n)],
        "shipping_limit_date": (pd.DatetimeIndex(line_time) + pd.Timedelta(days=6))
        .strftime("%Y-%m-%d %H:%M:%S"),
        "price": np.round(rng.lognormal(4.0, 0.8, n), 2),
        "freight_value": np.round(rng.uniform(5, 40, n), 2)})
    # two lines of orders the orders table lost, one of a product the catalogue lost
    orphan_orders = list(_hashes(np.random.default_rng(seed + 1), 2))
    orphan_at = rng.choice(n, size=2, replace=False)
    lines.loc[orphan_at, "order_id"] = orphan_orders
    unknown_product = str(_hashes(np.random.default_rng(seed + 2), 1)[0])
    unknown_at = int(rng.choice(np.setdiff1d(np.arange(n), orphan_at)))
    lines.loc[unknown_at, "product_id"] = unknown_product
    text = lines.to_csv(index=False, lineterminator="\n").split("\n")
    # lines cut short: the export stopped in the middle of a product id (3 of them)
    taken = set(orphan_at.tolist()) | {unknown_at}
    cut = sorted(rng.choice(np.setdiff1d(np.arange(n), list(taken)), size=3, replace=False))
    for r in cut:
        row = text[r + 1]
        text[r + 1] = row[: row.index(",", row.index(",") + 1) + 9]
    paths = {name: folder / f"{name}.csv" for name in
             ("orders", "order_items", "customers", "products", "category_translation")}
    paths["order_items"].write_text("\n".join(text), encoding="utf-8")
    orders.to_csv(paths["orders"], index=False, lineterminator="\n")
    customers.to_csv(paths["customers"], index=False, lineterminator="\n")
    products.to_csv(paths["products"], index=False, lineterminator="\n")
    translation = pd.DataFrame([(pt, en) for pt, en in CATEGORIES.items() if en is not None],
                               columns=["product_category_name",
                                        "product_category_name_english"])
    translation.to_csv(paths["category_translation"], index=False, lineterminator="\n")
    config = folder / "marketplace.toml"
    config.write_text(CONFIG, encoding="utf-8")

    untranslated = {pt for pt, en in CATEGORIES.items() if en is None}
    return Marketplace(
        folder=folder, config=config, **paths, n_orders=n_orders, n_persons=n_persons,
        n_products=n_products, n_lines=n, single_order_persons=int((orders_of == 1).sum()),
        cut_lines=[int(r) + 2 for r in cut], orphan_lines=sorted(int(r) + 2 for r in orphan_at),
        orphan_orders=[o for _, o in sorted(zip(orphan_at.tolist(), orphan_orders,
                                                strict=True))],
        unknown_product_line=unknown_at + 2, unknown_product=unknown_product,
        products_without_category=int((category == "").sum()),
        products_untranslated=int(np.isin(category, list(untranslated)).sum()),
        orders_without_lines=int((~has_lines).sum()))


if __name__ == "__main__":  # python -m tests.data.marketplace FOLDER: write the export there
    import sys

    shop = write_marketplace(sys.argv[1] if len(sys.argv) > 1 else "marketplace")
    print(f"wrote {shop.folder}: {shop.n_orders:,} orders, {shop.n_lines:,} lines, "
          f"{shop.n_persons:,} persons, {shop.n_products:,} products")
