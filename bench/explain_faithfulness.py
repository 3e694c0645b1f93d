"""Faithfulness of the hybrid's explanations on 1,000 sampled recommendations per data set.

For ML-100K (fold u1) and UCI Online Retail (temporal split), the hybrid is fitted on the
training part; 1,000 (user, item) pairs are drawn (seeded) from the top-10 lists of the test
users; each explanation (:func:`synerec.hybrid.explain.explain_pair`) is checked by
:func:`synerec.hybrid.explain.check_faithful`: every item it cites is in the user's training
history and among the top contributors of the signal that cites it, recomputed from the
retriever; and every claim of its sentence by :func:`synerec.hybrid.explain.check_claims`
(bought together, text closeness, similar customers, favourite category, popularity, LLM),
counted per claim kind. The demo shop (its temporal split) is a third data set: it has
categories, so its explanations make category claims. Prints a table and writes
``bench/results/explain_faithfulness.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/explain_faithfulness.py [--samples 1000] \
        [--datasets ml-100k,uci-online-retail]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from synerec import __version__
from synerec.algorithms import create_model
from synerec.data import load_dataset, official_splits
from synerec.data.splits import Fold, temporal_split
from synerec.hybrid.claims import CLAIM_KINDS
from synerec.hybrid.explain import check_claims, check_faithful, explain_pair
from synerec.topk import PAD_INDEX

RESULTS = Path(__file__).resolve().parent / "results" / "explain_faithfulness.json"


def run(name: str, fold: Fold, config: dict[str, Any], samples: int, seed: int
        ) -> dict[str, Any]:
    model = create_model("hybrid", **config).fit(fold.train)
    test = fold.test.matrix
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    rec, _ = model.recommend_indices(users, 10)
    pairs = [(int(u), int(i)) for u, row in zip(users, rec, strict=True) for i in row
             if i != PAD_INDEX]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pairs), size=min(samples, len(pairs)), replace=False)
    ok = 0
    cited = 0
    with_citation = 0
    top: Counter[str] = Counter()
    claims: Counter[str] = Counter()
    false_claims: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for k in chosen:
        u, i = pairs[k]
        e = explain_pair(model, u, i)
        why = check_faithful(model, e)
        ok += why is None
        cited += len(e.cited)
        with_citation += bool(e.cited)
        top[e.top_signal] += 1
        if why is not None and len(failures) < 10:
            failures.append({"user": u, "item": i, "why": why, "text": e.text})
        for kind, wrong in check_claims(model, e):
            claims[kind] += 1
            if wrong is not None:
                false_claims[kind] += 1
                if len(failures) < 10:
                    failures.append({"user": u, "item": i, "claim": kind, "why": wrong,
                                     "text": e.text})
    seconds = time.perf_counter() - t0
    out = {"dataset": name, "loadavg": list(os.getloadavg()), "fold": fold.name,
           "explanations": len(chosen), "faithful": ok,
           "faithful_share": ok / max(1, len(chosen)), "cited_items": cited,
           "explanations_citing_items": with_citation, "top_signal": dict(top),
           "claims": {k: claims[k] for k in CLAIM_KINDS},
           "false_claims": {k: false_claims[k] for k in CLAIM_KINDS},
           "seconds_per_explanation": seconds / max(1, len(chosen)), "failures": failures,
           "example": explain_pair(model, *pairs[int(chosen[0])]).text}
    print(f"{name}: {ok}/{len(chosen)} faithful ({out['faithful_share']:.1%}), {cited} cited "
          f"items, top signals {dict(top.most_common(4))}")
    print(f"  {'claim':<20}{'made':>8}{'false':>8}")
    for k in CLAIM_KINDS:
        print(f"  {k:<20}{claims[k]:>8}{false_claims[k]:>8}")
    return out


def run_marketplace(config: dict[str, Any], samples: int, seed: int) -> dict[str, Any]:
    """The multi-table marketplace export of the tests (five tables joined by its config),
    each person's latest purchases held out."""
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.data.marketplace import write_marketplace

    with tempfile.TemporaryDirectory() as tmp:
        shop = load_dataset(str(write_marketplace(tmp).config))
    return run("marketplace", temporal_split(shop, fraction=0.2),
               {"validation": "temporal", **config}, samples, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="{}", help="hybrid options as JSON")
    parser.add_argument("--datasets", default="ml-100k,uci-online-retail,demo-shop,marketplace",
                        help="comma-separated: ml-100k, uci-online-retail, demo-shop, "
                             "marketplace (the multi-table fixture of the tests)")
    args = parser.parse_args()
    config = json.loads(args.config)
    wanted = args.datasets.split(",")
    unknown = set(wanted) - {"ml-100k", "uci-online-retail", "demo-shop", "marketplace"}
    if unknown:
        parser.error(f"unknown data sets {sorted(unknown)}")
    results = []
    if "ml-100k" in wanted:
        ml = load_dataset("ml-100k")
        results.append(run("ml-100k", official_splits(ml, ["u1"])[0],
                           {"validation": "random", **config}, args.samples, args.seed))
    if "uci-online-retail" in wanted:
        uci = load_dataset("uci-online-retail")
        results.append(run("uci-online-retail", temporal_split(uci, fraction=0.2),
                           {"validation": "temporal", **config}, args.samples, args.seed))
    if "demo-shop" in wanted:
        shop = load_dataset("demo-shop")
        results.append(run("demo-shop", temporal_split(shop, fraction=0.2),
                           {"validation": "temporal", **config}, args.samples, args.seed))
    if "marketplace" in wanted:
        results.append(run_marketplace(config, args.samples, args.seed))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"synerec": __version__, "machine": platform.platform(),
                                   "config": config, "results": results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
