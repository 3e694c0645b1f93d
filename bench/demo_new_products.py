"""Who gets the demo shop's new products? The "new products" figures of ``synerec demo``, per
text encoder.

The demo shop (seed 42) with the 60 products it adds after its year
(``generate_demo_shop(n_new_products=60)``): ``text-knn`` is fitted on the year with each
encoder, picks the ``--audience`` customers with the highest score for each new product
(:func:`synerec.algorithms.audience.item_audiences`), and the picks are counted against who
really bought each product in the launch quarter (``hits``), beside the most active customers
(``active``) and a random draw (``random``, expected). Prints a table and writes
``bench/results/demo_new_products.json`` with the load average.

Usage::

    python bench/demo_new_products.py                      # minilm and tfidf, audience 50
    python bench/demo_new_products.py --encoder tfidf --audience 100 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from synerec import __version__
from synerec.algorithms.audience import audience_hits, item_audiences, most_active_users
from synerec.data.demo_shop import generate_demo_shop, launch_split
from synerec.models import create_model

RESULTS = Path(__file__).resolve().parent / "results" / "demo_new_products.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", action="append", help="text encoder kind (repeatable); "
                        "default: minilm and tfidf")
    parser.add_argument("--audience", type=int, default=50, help="customers picked per product")
    parser.add_argument("--new-products", type=int, default=60)
    parser.add_argument("--seed", type=int, default=42, help="demo-shop seed")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output")
    args = parser.parse_args(argv)
    encoders = args.encoder or ["minilm", "tfidf"]
    shop = generate_demo_shop(random_state=args.seed, n_new_products=args.new_products)
    year, launch = launch_split(shop)
    new = np.unique(launch.item_index)
    buyers = {int(j): launch.user_index[launch.item_index == j] for j in new}
    rows = {}
    for enc in encoders:
        start = time.perf_counter()
        model = create_model("text-knn", encoder=enc).fit(year)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        picked = {j: u for j, (u, _) in item_audiences(model, new, args.audience).items()}
        pick_s = time.perf_counter() - start
        h = audience_hits(picked, buyers, most_active_users(model, args.audience), year.n_users)
        rows[enc] = {"buyers": h.buyers, "hits": h.hits, "hit share": h.share(h.hits),
                     "active": h.active_hits, "random": h.random_hits, "fit s": fit_s,
                     "pick s": pick_s}
        print(f"{enc}: done", flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")
    load = os.getloadavg()
    print(f"\ndemo-shop seed {args.seed}: {len(new)} new products, {launch.n_interactions} "
          f"purchases in the launch quarter, audience {args.audience} of {year.n_users} "
          f"customers; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(table.round(3).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "synerec": __version__, "machine": platform.platform(), "load_average": load,
        "seed": args.seed, "audience": args.audience, "new_products": len(new),
        "launch_purchases": launch.n_interactions,
        "results": {e: {k: float(v) for k, v in r.items()} for e, r in rows.items()},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
