"""A synthetic shop's purchase log and catalogue as files, at any size (issue 25).

The demo shop's generative model (:func:`synerec.data.demo_shop.generate_demo_shop`: departments,
customers who shop in some of them, brands, prices, titles) scaled to the sizes a real shop
has, written as a new user would hand them to ``synerec fit``:

* ``orders.csv``: ``customer_id,product_id,timestamp,quantity``, one order line per row, in
  time order; a share of the lines repeat an earlier purchase of the same product (a customer
  who buys it again), so the lines outnumber the distinct purchases, as in a real log;
* ``products.csv``: ``product_id,title,category``.

The demo shop's generator draws each customer's products from weights over the whole
catalogue (``users x items`` work: 42 s at 100,000 x 20,000, about half an hour of CPU at
1,000,000 x 100,000). Above :data:`DEMO_CELLS` the purchases are drawn instead as
:func:`synthetic.synthetic_ratings` draws them (power-law popularity of products and activity of
customers, no departments), with times spread over the demo shop's year and the demo shop's
catalogue (titles and categories, from its generator run on 1,000 customers).

The files are written once per size and seed into ``DIR/shop-<users>x<items>x<lines>-s<seed>``
and reused (their generation takes minutes at 20M lines).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("bench.shop")

#: Share of the order lines that repeat an earlier purchase (a product bought again).
REPEAT_SHARE = 0.05
#: Largest customers x products drawn by the demo shop's own generator.
DEMO_CELLS = 2_000_000_000


def shop_files(n_users: int, n_items: int, n_lines: int, root: Path, seed: int = 0
               ) -> tuple[Path, Path]:
    """Write (or reuse) the shop's ``orders.csv`` and ``products.csv``; return their paths."""
    folder = Path(root) / f"shop-{n_users}x{n_items}x{n_lines}-s{seed}"
    orders, products = folder / "orders.csv", folder / "products.csv"
    if orders.exists() and products.exists():
        return orders, products
    from synerec.data.demo_shop import generate_demo_shop

    n_purchases = round(n_lines * (1.0 - REPEAT_SHARE))
    rng = np.random.default_rng(seed + 1)
    if n_users * n_items <= DEMO_CELLS:
        data = generate_demo_shop(n_users, n_items, 20, max(1, n_purchases // n_users),
                                  random_state=seed)
        u, i = data.user_index, data.item_index
        t = np.asarray(data.timestamps, dtype=np.int64)
        if len(u) > n_purchases:  # the generator's count is an average per customer: trim
            keep = np.sort(rng.choice(len(u), n_purchases, replace=False))
            u, i, t = u[keep], i[keep], t[keep]
        users = np.asarray(data.users.ids, dtype=object)
        items = np.asarray(data.items.ids, dtype=object)
        info = data.item_info
    else:
        from synerec.data.demo_shop import YEAR_START
        from synthetic import synthetic_ratings

        R = synthetic_ratings(n_users, n_items, n_purchases, random_state=seed).tocoo()
        u, i = R.row.astype(np.int64), R.col.astype(np.int64)
        t = YEAR_START + rng.integers(0, 365 * 86400, len(u))
        info = generate_demo_shop(1000, n_items, 20, 5, random_state=seed).item_info
        users = np.array([f"u{k:0{len(str(n_users))}d}" for k in range(1, n_users + 1)],
                         dtype=object)
        items = np.asarray(info.index, dtype=object)
    n_distinct = len(u)
    n_repeat = max(0, n_lines - len(u))
    pick = rng.integers(0, len(u), n_repeat)
    later = rng.integers(3600, 90 * 86400, n_repeat)  # bought again within three months
    u = np.concatenate([u, u[pick]])
    i = np.concatenate([i, i[pick]])
    t = np.concatenate([t, t[pick] + later])
    order = np.argsort(t, kind="stable")
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"customer_id": users[u[order]], "product_id": items[i[order]],
                          "timestamp": t[order],
                          "quantity": rng.choice([1, 1, 1, 2, 3], size=len(u))})
    tmp = orders.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(orders)
    cat = pd.DataFrame({"product_id": info.index, "title": info["title"].to_numpy(),
                        "category": info["category"].to_numpy()})
    tmp = products.with_suffix(".tmp")
    cat.to_csv(tmp, index=False)
    tmp.replace(products)
    log.info("wrote %s: %d order lines, %d distinct purchases, %d products", folder,
             len(frame), n_distinct, len(cat))
    return orders, products
