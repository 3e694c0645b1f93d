"""Ingestion test: 100,000 events in batches while recommendations are served; kill -9; retrain.

1. Fit item-CF on ML-100K, start ``synerec serve`` (base data ``ml-100k``) in a subprocess.
2. Post 100,000 events in batches of 500 (senders: 500 existing users and 500 new users, each
   rating items of one random item's neighbourhood 5 stars) while a reader keeps requesting
   recommendations; count the events acknowledged.
3. Compare with ``SELECT COUNT(*)`` in SQLite; ``kill -9`` the server, restart it, compare again.
4. Retrain through the API and measure how many senders' top-10 lists changed against the
   lists the original model gave them (new users: from the popular fallback to personal lists).

Prints a table and writes ``bench/results/service_ingest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import RESULTS, free_port, run_load, start_server

KEY = "bench-key"


def top10(c: httpx.Client, user: str) -> list:
    r = c.get(f"/v1/users/{user}/recommendations", params={"n": 10})
    r.raise_for_status()
    return [it["item_id"] for it in r.json()["items"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    from synerec.algorithms import create_model
    from synerec.data import load_dataset

    ds = load_dataset("ml-100k")
    tmp = Path(tempfile.mkdtemp(prefix="synerec-ingest-"))
    model = create_model("item-cf").fit(ds)
    model_dir = model.save(tmp / "item-cf")
    state = tmp / "state"
    rng = np.random.default_rng(0)
    S = model.similarity_  # type: ignore[attr-defined]
    old_users = [str(u) for u in rng.choice(ds.users.ids, 500, replace=False)]
    senders = old_users + [f"new-{k:04d}" for k in range(500)]
    per_user = args.events // len(senders)
    events = []
    for u in senders:
        seed = int(rng.integers(ds.n_items))
        nbrs = S.indices[S.indptr[seed]:S.indptr[seed + 1]]
        pool = np.concatenate([[seed], nbrs])
        if len(pool) < per_user:
            pool = np.concatenate([pool, rng.choice(ds.n_items, per_user, replace=False)])
        chosen = pd_unique(pool)[:per_user]
        events += [{"user_id": u, "item_id": int(ds.items.ids[i]), "rating": 5,
                    "event": "purchase"} for i in chosen]
    port = free_port()
    proc = start_server(model_dir, state, port, KEY, ["--base-dataset", "ml-100k"])
    res: dict[str, object] = {"events_planned": len(events), "batch": args.batch,
                              "senders": len(senders)}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            before = {u: top10(c, u) for u in senders}
            stop = threading.Event()
            served: list[int] = [0, 0]

            def reader() -> None:
                paths = [f"/v1/users/{u}/recommendations?n=10".encode() for u in senders]
                while not stop.is_set():
                    lat, errors, _ = asyncio.run(run_load(port, paths[:200], 4))
                    served[0] += len(lat)
                    served[1] += errors

            th = threading.Thread(target=reader, daemon=True)
            th.start()
            acknowledged = 0
            t0 = time.perf_counter()
            for k in range(0, len(events), args.batch):
                r = c.post("/v1/events", json={"events": events[k:k + args.batch]},
                           headers={"X-API-Key": KEY})
                if r.status_code == 200:
                    acknowledged += r.json()["accepted"]
            ingest_s = time.perf_counter() - t0
            stop.set()
            th.join()
        db = state / "events.sqlite3"
        with sqlite3.connect(db) as conn:
            in_db = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        res.update({"acknowledged": acknowledged, "in_sqlite": in_db,
                    "ingest_s": ingest_s, "events_per_s": acknowledged / ingest_s,
                    "reads_during_ingest": served[0], "read_errors": served[1]})
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        with sqlite3.connect(db) as conn:
            after_kill = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        proc = start_server(model_dir, state, port, KEY, ["--base-dataset", "ml-100k"])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            stored_after_restart = c.get("/healthz").json()["events_stored"]
            res.update({"in_sqlite_after_kill9": after_kill,
                        "served_count_after_restart": stored_after_restart})
            t0 = time.perf_counter()
            job = c.post("/v1/models/retrain", headers={"X-API-Key": KEY}).json()
            while job["status"] not in ("succeeded", "failed"):
                time.sleep(0.5)
                job = c.get(f"/v1/models/retrain/{job['job_id']}").json()
            res.update({"retrain_status": job["status"], "retrain_s": time.perf_counter() - t0,
                        "retrain_error": job["error"]})
            after = {u: top10(c, u) for u in senders}
        changed_old = sum(before[u] != after[u] for u in old_users)
        changed_new = sum(before[u] != after[u] for u in senders[500:])
        res.update({"existing_senders_changed": changed_old, "new_senders_changed": changed_new,
                    "equal_counts": acknowledged == in_db == after_kill == stored_after_restart})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    print("\nservice ingestion test (ML-100K item-CF)")
    for key, v in res.items():
        print(f"{key:<28}{v:>16.1f}" if isinstance(v, float) else f"{key:<28}{v!s:>16}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "service_ingest.json"
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def pd_unique(a: np.ndarray) -> np.ndarray:
    """Unique values in order of first appearance."""
    _, first = np.unique(a, return_index=True)
    return a[np.sort(first)]


if __name__ == "__main__":
    main()
