"""New products in a running service: time from the POST to the product being recommendable.

UCI Online Retail cut at 2011-09-01 (:func:`synerec.data.splits.global_temporal_split`): the
text retriever ``text-knn`` (frozen all-MiniLM-L6-v2) is fitted on the interactions before
the cut, with the products first sold after it left out of its catalogue altogether (the model
has never heard of them). ``synerec serve`` serves it in a subprocess; then, one at a time,
``--products`` of those new products (seeded choice) are posted with their title
(``PUT /v1/items/{id}``, write key) and the client asks at once

* ``GET /v1/items/{id}/similar`` (answered by text, ``source`` ``text``),
* ``GET /v1/items/{id}/audience`` (the customers most likely to buy it),
* ``GET /v1/users/{u}/recommendations?n=100`` of the customer whose list ranks it best
  (chosen before the run from the model's own scores, outside the timing) until the product
  is in it.

Each time runs from the start of the POST to the answer that shows the product; median, p95
and max over the products, with the load average before and after, per number of server
processes (``--workers``; with 2 the reads may reach the process that did not store the
product). No retrain runs: the served model version stays 1.

Prints a table and writes ``bench/results/new_products.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import RESULTS, free_port, start_server

KEY = "bench-key"


def train_without(ds, cutoff: str):  # type: ignore[no-untyped-def]
    """The data before ``cutoff`` with the products first sold after it removed from the
    vocabulary and the catalogue; and those products' catalogue rows."""
    from synerec.data.dataset import InteractionDataset
    from synerec.data.splits import global_temporal_split
    from synerec.data.vocabulary import Vocabulary

    fold = global_temporal_split(ds, cutoff)
    train = fold.train
    seen = np.zeros(ds.n_items, dtype=bool)
    seen[train.item_index] = True
    old = np.flatnonzero(seen)
    remap = np.full(ds.n_items, -1, dtype=np.int64)
    remap[old] = np.arange(len(old))
    info = ds.item_info
    data = InteractionDataset(
        users=ds.users, items=Vocabulary(ds.items.ids[old]),
        user_index=train.user_index, item_index=remap[train.item_index], values=train.values,
        timestamps=train.timestamps, item_info=None if info is None else info.iloc[old],
        rating_scale=ds.rating_scale, name=f"{ds.name}[before {cutoff}]")
    new = np.flatnonzero(fold.cold_items)
    return data, info.iloc[new] if info is not None else None


def best_user(model, vector: np.ndarray, top: np.ndarray, top_scores: np.ndarray,  # type: ignore[no-untyped-def]
              ) -> tuple[int, int]:
    """The user whose top-100 list ranks the product best: (user index, its rank)."""
    s = model.score_new_items(np.arange(model.n_users_), vector[None, :])[:, 0]
    s = np.where(np.isfinite(s), s, -np.inf)
    rank = (top_scores > s[:, None]).sum(axis=1) + 1  # its place among the model's list
    u = int(np.lexsort((-s, rank))[0])
    return u, int(rank[u])


def run_one(model_dir: Path, products: list[dict], users: list[str], workers: int
            ) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="synerec-new-"))
    port = free_port()
    extra = ["--workers", str(workers), "--no-console"]
    proc = start_server(model_dir, tmp / "state", port, KEY, extra)
    rows = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            # warm-up: every process loads the encoder once (not timed)
            for k in range(2 * workers):
                r = c.put(f"/v1/items/warm-up-{k}", json={"title": "WARM UP MUG"},
                          headers={"X-API-Key": KEY})
                r.raise_for_status()
                c.get(f"/v1/items/warm-up-{k}/similar").raise_for_status()
            time.sleep(2.0)
            load_before = os.getloadavg()
            for p, user in zip(products, users, strict=True):
                iid = p["item_id"]
                t0 = time.perf_counter()
                r = c.put(f"/v1/items/{iid}", json={"title": p["title"]},
                          headers={"X-API-Key": KEY})
                r.raise_for_status()
                ack = r.json()
                t_ack = time.perf_counter() - t0
                sim = c.get(f"/v1/items/{iid}/similar", params={"n": 10})
                t_sim = time.perf_counter() - t0
                aud = c.get(f"/v1/items/{iid}/audience", params={"n": 10})
                t_aud = time.perf_counter() - t0
                t_list = None
                rank = None
                for _ in range(50):
                    rec = c.get(f"/v1/users/{user}/recommendations", params={"n": 100}).json()
                    ids = [it["item_id"] for it in rec["items"]]
                    if iid in ids:
                        t_list = time.perf_counter() - t0
                        rank = ids.index(iid) + 1
                        break
                    time.sleep(0.01)
                rows.append({"item_id": iid, "ack_s": t_ack, "similar_s": t_sim,
                             "similar_ok": sim.status_code == 200
                             and sim.json()["source"] == "text",
                             "audience_s": t_aud, "audience_ok": aud.status_code == 200
                             and len(aud.json()["users"]) == 10,
                             "list_s": t_list, "rank": rank, "user": user,
                             "embed_store_s": ack["seconds"],
                             "model_version": rec["model_version"]})
            load_after = os.getloadavg()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
    return {"workers": workers, "rows": rows, "load_before": load_before,
            "load_after": load_after}


def summary(rows: list[dict], key: str) -> dict[str, float | int | None]:
    v = np.array([r[key] for r in rows if r[key] is not None], dtype=np.float64)
    if not len(v):
        return {"n": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    return {"n": len(v), "median_ms": float(np.median(v) * 1e3),
            "p95_ms": float(np.percentile(v, 95) * 1e3), "max_ms": float(v.max() * 1e3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--workers", default="1,2", help="server processes, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from synerec.data import load_dataset
    from synerec.models import create_model
    from synerec.service.catalogue import CatalogueItem

    ds = load_dataset("uci-online-retail", download=False)
    data, new_info = train_without(ds, args.cutoff)
    t = time.perf_counter()
    model = create_model("text-knn").fit(data)
    fit_s = time.perf_counter() - t
    tmp = Path(tempfile.mkdtemp(prefix="synerec-new-model-"))
    model_dir = model.save(tmp / "text-knn")
    rng = np.random.default_rng(args.seed)
    assert new_info is not None
    titled = new_info[new_info["title"].astype(str).str.strip() != ""]
    pick = rng.choice(len(titled), size=min(args.products, len(titled)), replace=False)
    products = [{"item_id": str(titled.index[k]), "title": str(titled["title"].iloc[k])}
                for k in sorted(pick)]
    # the customer whose list ranks each product best (from the model, outside the timing)
    enc = model.new_item_encoder()
    from synerec.service.catalogue import item_text

    raw = enc.encode([item_text(CatalogueItem(p["item_id"], p["title"])) for p in products])
    V = model.new_item_vectors(np.asarray(raw, dtype=np.float32))
    top, top_scores = model.recommend_indices(np.arange(model.n_users_), 100)
    users, ranks = [], []
    for v in V:
        u, r = best_user(model, v, top, top_scores)
        users.append(str(model.users_.id(u)))
        ranks.append(r)
    print(f"text-knn on {data.name}: {data.n_users} users, {data.n_items} items, fitted in "
          f"{fit_s:.1f} s; {len(new_info)} new products after the cut, {len(products)} posted")

    runs = []
    for w in [int(x) for x in args.workers.split(",")]:
        got = run_one(model_dir, products, users, w)
        rows = got["rows"]
        got["summary"] = {k: summary(rows, k) for k in
                          ("ack_s", "similar_s", "audience_s", "list_s")}
        got["similar_ok"] = sum(r["similar_ok"] for r in rows)
        got["audience_ok"] = sum(r["audience_ok"] for r in rows)
        got["in_list"] = sum(r["list_s"] is not None for r in rows)
        got["expected_ranks"] = ranks
        got["retrained"] = any(r["model_version"] != 1 for r in rows)
        runs.append(got)

    print()
    print("| workers | from POST start to | median ms | p95 ms | max ms | shown |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for g in runs:
        s = g["summary"]
        n = len(g["rows"])
        for key, what, ok in (("ack_s", "acknowledged (embedded + fsynced)", n),
                              ("similar_s", "its /similar answered by text", g["similar_ok"]),
                              ("audience_s", "its /audience answered", g["audience_ok"]),
                              ("list_s", "in a customer's top-100 list", g["in_list"])):
            print(f"| {g['workers']} | {what} | {s[key]['median_ms']:.1f} | "
                  f"{s[key]['p95_ms']:.1f} | {s[key]['max_ms']:.1f} | {ok}/{n} |")
        lb, la = g["load_before"], g["load_after"]
        print(f"|   | load average before {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f}, after "
              f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; retrained: {g['retrained']} | | | | |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "new_products.json"
    out.write_text(json.dumps({"dataset": data.name, "cutoff": args.cutoff,
                               "model": "text-knn", "fit_s": fit_s,
                               "new_products_after_cut": len(new_info),
                               "products": products, "runs": runs}, indent=2) + "\n",
                   encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
