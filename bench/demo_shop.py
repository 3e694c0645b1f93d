"""Do the demo shop's lists make sense? Issue 14's figures for any registered model.

For each model, fitted on the whole demo shop (as ``synerec demo`` does), and for every
customer's top 10 (own items excluded):

* ``related``: share of the 10 items in a category the customer bought from or in another
  category of its department (``item_info["department"]``); ``chance``: the same share for a
  random list of the customer's unseen products; ``own``: in a bought category only;
  ``taste``: in the departments the customer really shops in (the generator's ground truth,
  which noise purchases cannot inflate);
* ``cited``: distinct items of the customer's own cited across the 10 grounded explanations
  (mean, and the minimum over customers).

Also the generator's time (best of 3). Prints a table and writes
``bench/results/demo_shop.json``.

Usage::

    python bench/demo_shop.py                         # item-cf, user-cf, popularity (+ ease,
                                                      # hybrid when registered)
    python bench/demo_shop.py --model item-cf --model ease --users 200 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd

from synerec import __version__
from synerec.algorithms import create_model, list_models
from synerec.data.demo_shop import generate_demo_shop
from synerec.evaluation.coherence import recommendation_coherence

RESULTS = Path(__file__).resolve().parent / "results" / "demo_shop.json"
DEFAULT_MODELS = ("item-cf", "user-cf", "popularity", "ease", "hybrid")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="registered model name (repeatable "
                        "or comma-separated); default: " + ", ".join(DEFAULT_MODELS))
    parser.add_argument("--users", type=int, default=0, help="customers measured (0: all)")
    parser.add_argument("--seed", type=int, default=42, help="demo-shop seed")
    parser.add_argument("--n", type=int, default=10, help="list length")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output")
    args = parser.parse_args(argv)
    registered = set(list_models())
    if args.model:
        names = [m.strip() for arg in args.model for m in arg.split(",") if m.strip()]
        unknown = [m for m in names if m not in registered]
        if unknown:
            parser.error(f"unknown model(s) {', '.join(unknown)}; registered: "
                         f"{', '.join(sorted(registered))}")
    else:
        names = [m for m in DEFAULT_MODELS if m in registered]

    times = []
    for _ in range(3):
        start = time.perf_counter()
        data = generate_demo_shop(random_state=args.seed)
        times.append(time.perf_counter() - start)
    users = data.users.ids.tolist()
    if args.users:
        step = max(1, len(users) // args.users)
        users = users[::step][: args.users]

    rows = {}
    for name in names:
        start = time.perf_counter()
        model = create_model(name).fit(data)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        summary = recommendation_coherence(model, data, users=users, n=args.n).summary()
        rows[name] = {
            "related": summary["related_share"], "chance": summary["chance"],
            "own": summary["own_share"], "taste": summary.get("taste_share", float("nan")),
            "cited": summary.get("distinct_cited", float("nan")),
            "min cited": summary.get("min_distinct_cited", float("nan")),
            "fit s": fit_s, "measure s": time.perf_counter() - start,
        }
        print(f"{name}: done", flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")
    load = os.getloadavg()
    print(f"\ndemo-shop seed {args.seed}: {data.n_users} customers, {data.n_items} products, "
          f"{data.n_interactions} ratings, generated in {min(times):.3f} s (best of 3); "
          f"{len(users)} customers measured, top {args.n}; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(table.round(3).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "synerec": __version__, "machine": platform.platform(), "load_average": load,
        "seed": args.seed, "n": args.n, "users_measured": len(users),
        "generate_seconds_best_of_3": min(times),
        "dataset": {"users": data.n_users, "items": data.n_items,
                    "ratings": data.n_interactions},
        "results": {m: {k: float(v) for k, v in r.items()} for m, r in rows.items()},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
