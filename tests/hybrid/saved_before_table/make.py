"""How ``model/`` and ``expected.json`` were made: a hybrid fitted and saved by the code before
the feature table (issue 20, main at 724c247), with its lists and explanations. A later synerec
must load it and rank, score and explain as it did (``tests/hybrid/test_feature_table.py``).

Run from the repository root: ``python tests/hybrid/saved_before_table/make.py OUT_DIR``.
"""

from __future__ import annotations

import json
import sys

from synerec.data.demo_shop import generate_demo_shop
from synerec.hybrid import HybridRanker
from synerec.hybrid.explain import explain_pairs

SHOP = {"n_users": 60, "n_items": 80, "ratings_per_user": 20, "random_state": 5}
CONFIG = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 15, "min_data_in_leaf": 5,
          "num_leaves": 5, "n_candidates": 20,
          "retrievers": ["ease", "ease-all", "item-cf", "user-cf", "t-item-cf", "rp3beta",
                         "popularity"]}
shop = generate_demo_shop(**SHOP)
m = HybridRanker(**CONFIG).fit(shop)
out = sys.argv[1]
m.save(out + "/model")
users = [*shop.users.ids[:30].tolist(), "nobody"]
ids, sc = m.recommend(users, 5, unknown="fallback")
expl = []
for k in range(0, 30, 6):
    u = shop.users.index(users[k])
    items = [shop.items.index(i) for i in ids[k] if i is not None]
    expl += [e.text for e in explain_pairs(m, u, items)]
with open(out + "/expected.json", "w") as f:
    json.dump({"shop": SHOP, "config": CONFIG, "users": users,
               "ids": [[None if i is None else str(i) for i in row] for row in ids.tolist()],
               "scores": sc.tolist(), "feature_names": m.feature_names_,
               "explanations": expl}, f, indent=1)
