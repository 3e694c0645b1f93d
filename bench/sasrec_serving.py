"""Latency of a ``sasrec`` list served from a user's 50 newest events (strategy ``sequence``).

Fits ``sasrec`` on all of ML-100K (a few epochs: the latency does not depend on the accuracy),
saves it, starts the service app on it (in process, :class:`fastapi.testclient.TestClient`:
the real routes, the SQLite event store, the compute threads), posts 50 events for each of
``--users`` known users and as many unknown users, then times one list each:

* ``engine``: :func:`synerec.service.engine.recommend` alone (sequence built, scored by the
  model's ``score_sequences``, ranked), the overlay already read;
* ``http``: ``GET /v1/users/{id}/recommendations?n=10`` through the app (reads the user's
  events from SQLite, scores, serialises), measured at the client.

Prints a table and writes ``bench/results/sasrec_serving.json`` with the load average.

Usage::

    SYNEREC_DATA_HOME=/work/shared/data .venv/bin/python bench/sasrec_serving.py \
        [--users 200] [--epochs 3] [--events 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
KEY = "bench-key-0123456789"


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()),
            "mean_ms": float(a.mean()), "n": len(ms)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=200, help="known users (and as many unknown)")
    p.add_argument("--events", type=int, default=50, help="events posted per user")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n", type=int, default=10, help="list length")
    args = p.parse_args(argv)

    from fastapi.testclient import TestClient

    from synerec.data import load_dataset
    from synerec.models import create_model
    from synerec.service import ServiceSettings, create_app
    from synerec.service.engine import recommend
    from synerec.service.model_store import load_snapshot

    load_before = os.getloadavg()
    ds = load_dataset("ml-100k")
    t0 = time.perf_counter()
    model = create_model("sasrec", epochs=args.epochs, patience=0, random_state=0).fit(ds)
    fit_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    warm = np.flatnonzero(np.asarray(model.item_count_) > 0)
    users = rng.choice(model.n_users_, size=min(args.users, model.n_users_), replace=False)
    with tempfile.TemporaryDirectory() as tmp:
        d = model.save(Path(tmp) / "sasrec")
        snap = load_snapshot(d, version=1, events_upto=0)
        t_start = time.perf_counter()
        app = create_app(ServiceSettings(model_dir=d, state_dir=Path(tmp) / "state",
                                         api_keys=[KEY], precompute_n=20))
        engine_ms: dict[str, list[float]] = {"known": [], "unknown": []}
        http_ms: dict[str, list[float]] = {"known": [], "unknown": []}
        with TestClient(app, headers={"X-API-Key": KEY}) as client:
            startup_s = time.perf_counter() - t_start
            for k, u in enumerate(users):
                for kind, uid in (("known", str(model.users_.id(int(u)))),
                                  ("unknown", f"new-{k}")):
                    items = rng.choice(warm, size=args.events, replace=False)
                    events = [{"user_id": uid, "item_id": str(model.items_.id(int(i))),
                               "event": "view", "timestamp": 1.9e9 + j}
                              for j, i in enumerate(items)]
                    r = client.post("/v1/events", json={"events": events})
                    assert r.status_code == 200, r.text
                    overlay = [(j + 1, e["item_id"], None, "view")
                               for j, e in enumerate(events)]
                    t = time.perf_counter()
                    res = recommend(snap, uid, overlay, args.n, exclude_seen=True,
                                    explain=False, event_weights={"view": 1.0})
                    engine_ms[kind].append((time.perf_counter() - t) * 1e3)
                    assert res.strategy == "sequence", res.strategy
                    t = time.perf_counter()
                    r = client.get(f"/v1/users/{uid}/recommendations", params={"n": args.n})
                    http_ms[kind].append((time.perf_counter() - t) * 1e3)
                    body = r.json()
                    assert r.status_code == 200 and body["strategy"] == "sequence", body
                    assert body["new_events"] == args.events
    rows = []
    for kind in ("known", "unknown"):
        for where, ms in (("engine", engine_ms[kind]), ("http", http_ms[kind])):
            rows.append({"user": kind, "measured": where, **percentiles(ms[1:])})
    out = {"benchmark": "sasrec_serving", "data": "ml-100k (all interactions)",
           "model": {"name": "sasrec", "epochs": args.epochs, "patience": 0,
                     "max_len": model.config_.max_len, "factors": model.config_.factors,
                     "fit_seconds": round(fit_s, 1), "device": model.device_},
           "events_per_user": args.events, "list_length": args.n, "users": len(users),
           "app_startup_s": round(startup_s, 2), "rows": rows,
           "note": "first request of each kind left out (warm-up); TestClient in process",
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
           "cpus": os.cpu_count(), "platform": platform.platform(),
           "python": platform.python_version()}
    print(f"sasrec on ML-100K ({args.epochs} epochs, {fit_s:.0f} s), one list of {args.n} "
          f"for a user with {args.events} new events; load average "
          f"{load_before[0]:.2f} -> {out['loadavg_after'][0]:.2f}")
    print(f"{'user':<8} {'measured':<8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'n':>5}")
    for r_ in rows:
        print(f"{r_['user']:<8} {r_['measured']:<8} {r_['p50_ms']:8.2f} {r_['p90_ms']:8.2f} "
              f"{r_['p99_ms']:8.2f} {r_['max_ms']:8.2f} {r_['n']:5d}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sasrec_serving.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
