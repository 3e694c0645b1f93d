"""Hostile and careless clients: strict numbers and ids, idempotent retries, read keys, bounded
per-user work, the fast path equal to the route, explanations equal to a slow reference."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest

from synerec.algorithms import Recommender
from synerec.service import ServiceSettings
from tests.service import API_KEY, DEMO, fit_demo_model, raw_http, serve_in_thread

KEY = {"X-API-Key": API_KEY}
READ_KEY = "reader-key-0123456789"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("hard") / "item-cf")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Recommender:
    return Recommender.load(model_dir)


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore
    settings = ServiceSettings(model_dir=model_dir, api_keys=(API_KEY,),
                               state_dir=tmp_path_factory.mktemp("hard-state"),
                               max_overlay_events=5)
    with serve_in_thread(settings) as srv:
        yield srv


@pytest.fixture()
def client(server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("rating", ["5", True, False, [5], {"v": 5}, "NaN", None])
def test_ratings_must_be_json_numbers(client: httpx.Client, server,  # type: ignore
                                      rating: object) -> None:
    before = server.state.events.count_in_db()
    r = client.post("/v1/events", json={"events": [{"user_id": "u", "item_id": "p001",
                                                    "rating": rating}]}, headers=KEY)
    if rating is None:  # no rating at all is fine
        assert r.status_code == 200
        return
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0].startswith("body.events.0.rating")
    assert server.state.events.count_in_db() == before


def test_integer_and_float_ratings_and_timestamps_are_accepted(client: httpx.Client) -> None:
    r = client.post("/v1/events", json={"events": [
        {"user_id": "num", "item_id": "p001", "rating": 4},
        {"user_id": "num", "item_id": "p002", "rating": 3.5, "timestamp": 1_700_000_000}]},
        headers=KEY)
    assert r.status_code == 200
    for ts in ("1700000000", True, -1, 1e12):
        r = client.post("/v1/events", json={"events": [{"user_id": "num", "item_id": "p001",
                                                        "timestamp": ts}]}, headers=KEY)
        assert r.status_code == 422 and r.json()["fields"][0].startswith(
            "body.events.0.timestamp"), (ts, r.text)


@pytest.mark.parametrize("bad", ["a\x85b", "evil\u202etxt", "nul\x00", "tab\tid", "zw\u200bj",
                                 "\u2028", "   ", "x" * 257])
def test_ids_with_control_bidi_or_invisible_characters_are_refused(
        client: httpx.Client, bad: str) -> None:
    r = client.post("/v1/events", json={"events": [{"user_id": bad, "item_id": "p001"}]},
                    headers=KEY)
    assert r.status_code == 422 and r.json()["fields"] == ["body.events.0.user_id"]
    r = client.post("/v1/predict", json={"user_id": "u1", "item_id": bad})
    assert r.status_code == 422 and r.json()["fields"] == ["body.item_id"]
    r = client.get(f"/v1/users/{quote(bad, safe='')}/recommendations")
    assert r.status_code == 422, (bad, r.text)
    assert r.json()["fields"] == ["path.user_id"]
    r = client.get(f"/v1/items/{quote(bad, safe='')}/similar")
    assert r.status_code == 422 and r.json()["fields"] == ["path.item_id"]


def test_percent_encoded_nul_in_a_path_is_refused(server) -> None:  # type: ignore
    port = int(server.url.rsplit(":", 1)[1])
    [(status, _, body)] = raw_http(
        port, b"GET /v1/users/ab%00cd/recommendations HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 422 and json.loads(body)["fields"] == ["path.user_id"]
    [(status, _, body)] = raw_http(
        port, b"GET /v1/users/ab%E2%80%AEcd/recommendations HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 422 and "U+202E" in json.loads(body)["message"]


def test_unicode_ids_that_are_printable_work(client: httpx.Client) -> None:
    for uid in ("Zoë", "顧客-7", "emoji-\U0001f600"):
        r = client.post("/v1/events", json={"events": [{"user_id": uid, "item_id": "p001",
                                                        "event": "view"}]}, headers=KEY)
        assert r.status_code == 200
        body = client.get(f"/v1/users/{quote(uid, safe='')}/recommendations").json()
        assert body["user_id"] == uid and body["new_events"] == 1


def test_idempotency_key_makes_a_retried_batch_count_once(client: httpx.Client,
                                                          server) -> None:  # type: ignore
    batch = {"events": [{"user_id": "idem", "item_id": f"p{k:03d}", "event": "cart"}
                        for k in range(1, 6)]}
    before = server.state.events.count_in_db()
    first = client.post("/v1/events", json=batch, headers={**KEY, "Idempotency-Key": "b-1"})
    again = client.post("/v1/events", json=batch, headers={**KEY, "Idempotency-Key": "b-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["replayed"] is False and again.json()["replayed"] is True
    assert again.headers["Idempotent-Replayed"] == "true"
    for k in ("accepted", "first_event_id", "last_event_id"):
        assert first.json()[k] == again.json()[k]
    assert server.state.events.count_in_db() == before + 5
    other = client.post("/v1/events", json={"events": batch["events"][:2]},
                        headers={**KEY, "Idempotency-Key": "b-1"})
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert server.state.events.count_in_db() == before + 5
    for bad in ("", "has space", "x" * 201, "tab\tkey"):
        r = client.post("/v1/events", json=batch, headers={**KEY, "Idempotency-Key": bad})
        assert r.status_code == 422, bad
    # keys expire: after the time-to-live the same key stores the batch again
    assert server.state.events.prune_keys(time.time() + 1) >= 1
    late = client.post("/v1/events", json=batch, headers={**KEY, "Idempotency-Key": "b-1"})
    assert late.json()["replayed"] is False
    assert server.state.events.count_in_db() == before + 10


def test_a_users_pending_events_are_read_up_to_the_cap(client: httpx.Client,
                                                       model: Recommender) -> None:
    items = [str(model.items_.id(i)) for i in range(12)]
    events = [{"user_id": "heavy", "item_id": i, "rating": 5} for i in items]
    assert client.post("/v1/events", json={"events": events}, headers=KEY).status_code == 200
    body = client.get("/v1/users/heavy/recommendations", params={"n": 20}).json()
    assert body["new_events"] == 5  # max_overlay_events: the newest 5, the rest waits
    got = {it["item_id"] for it in body["items"]}
    assert not got & set(items[-5:])  # the newest five are excluded as seen
    # the older seven play no part yet: the list is that of a user with the newest five only
    light = [{"user_id": "light", "item_id": i, "rating": 5} for i in items[-5:]]
    assert client.post("/v1/events", json={"events": light}, headers=KEY).status_code == 200
    other = client.get("/v1/users/light/recommendations", params={"n": 20}).json()
    assert other["items"] == body["items"] and other["new_events"] == 5


def test_the_fast_path_answers_exactly_like_the_route(client: httpx.Client,
                                                      model: Recommender) -> None:
    users = [str(model.users_.id(k)) for k in range(0, 300, 37)] + ["stranger", "0"]
    for user in users:
        stranger = user in ("stranger", "0")
        for q in ("", "?n=7", "?n=100&exclude_seen=true", "?explain=false&n=3"):
            if stranger:  # a 404 by default, both ways; the popular items when asked for
                plain = client.get(f"/v1/users/{user}/recommendations{q}")
                routed = client.get(f"/v1/users/{user}/recommendations{q}"
                                    f"{'&' if q else '?'}unused=1")
                assert plain.status_code == routed.status_code == 404
                assert plain.json() == routed.json()
                assert plain.json()["error"] == "unknown_user"
                q += ("&" if q else "?") + "unknown=fallback"
            fast = client.get(f"/v1/users/{user}/recommendations{q}")
            sep = "&" if q else "?"
            routed = client.get(f"/v1/users/{user}/recommendations{q}{sep}unused=1")
            assert fast.status_code == routed.status_code == 200
            f, r = fast.json(), routed.json()
            assert f.pop("rec_id") != r.pop("rec_id")  # a new list id each time
            assert f == r, (user, q)
            assert fast.headers["content-type"] == routed.headers["content-type"]
    for q in ("?n=0", "?n=101", "?n=abc", "?n=5&n=6", "?explain=maybe", "?n=%35"):
        r = client.get(f"/v1/users/u001/recommendations{q}")
        assert r.status_code in (200, 422), q
        if q in ("?n=0", "?n=101", "?n=abc", "?explain=maybe"):
            assert r.status_code == 422 and r.json()["error"] == "validation_error"


def test_explanations_name_the_users_most_similar_rated_items(client: httpx.Client,
                                                              model: Recommender) -> None:
    user_index = 11
    user = model.users_.id(user_index)
    body = client.get(f"/v1/users/{user}/recommendations",
                      params={"n": 15, "explain": "true"}).json()
    S = model.similarity_  # type: ignore[attr-defined]
    rated = set(model.train_[user_index].indices.tolist())
    for it in body["items"]:
        j = model.items_.index(it["item_id"])
        pred = model.predict_one(user, it["item_id"]).value
        assert it["reason"].startswith(f"predicted rating {pred:.3g}")
        # slow reference: the row of j, restricted to the rated items, by similarity
        row = S.getrow(j)
        pairs = sorted(((-float(s), int(i)) for i, s in zip(row.indices, row.data, strict=True)
                        if int(i) in rated))
        if not pairs:
            assert ";" not in it["reason"]
            continue
        assert f"; {len(pairs)} item" in it["reason"]
        names = [f"{model.items_.id(i)} ({-s:.2f})" for s, i in pairs[:3]]
        assert it["reason"].endswith("most similar: " + ", ".join(names)), it["reason"]
    again = client.get(f"/v1/users/{user}/recommendations",
                       params={"n": 15, "explain": "true"}).json()
    assert again.pop("rec_id") != body.pop("rec_id")  # each list its own id
    assert again == body  # (from the cache the second time, equal)


def test_read_keys_protect_user_data(model_dir: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_READ_KEYS", f" {READ_KEY} , ")
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,))
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        reads = [("GET", "/v1/users/u001/recommendations", None),
                 ("GET", "/v1/items/p001/similar", None),
                 ("POST", "/v1/predict", {"user_id": "u001", "item_id": "p001"}),
                 ("GET", "/v1/models/retrain/" + "0" * 32, None)]
        for method, path, body in reads:
            assert c.request(method, path, json=body).status_code == 401, path
            bad = c.request(method, path, json=body, headers={"X-API-Key": "nope"})
            assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"
            for key in (READ_KEY, API_KEY):  # a write key may read too
                ok = c.request(method, path, json=body, headers={"X-API-Key": key})
                assert ok.status_code in (200, 404), (path, ok.text)
        # a read key cannot write
        r = c.post("/v1/events", json={"events": [{"user_id": "a", "item_id": "b"}]},
                   headers={"X-API-Key": READ_KEY})
        assert r.status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200
        spec = c.get("/openapi.json").json()
        op = spec["paths"]["/v1/users/{user_id}/recommendations"]["get"]
        assert op.get("security") == [{"APIKeyHeader": []}]


def test_model_versions_are_pruned_and_job_records_expire(model_dir: Path,
                                                          tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = ServiceSettings(model_dir=model_dir, state_dir=state, api_keys=(API_KEY,),
                               base_dataset="demo-shop", base_dataset_options=DEMO,
                               keep_model_versions=1, max_job_records=1)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        (state / "models" / "v00009").mkdir()  # a crashed job's leftover, above the served one
        jobs = []
        for k in range(2):
            c.post("/v1/events", json={"events": [{"user_id": f"p{k}", "item_id": "p001",
                                                   "rating": 5}]}, headers=KEY)
            job = c.post("/v1/models/retrain", headers=KEY).json()
            done = srv.state.retrain.wait(job["job_id"], timeout=300)
            assert done.status == "succeeded", done.error
            jobs.append(done)
        assert [j.model_version for j in jobs] == [10, 11]  # above the leftover, no reuse
        assert sorted(p.name for p in (state / "models").iterdir()) == ["v00011"]
        caches = [p for p in (state / "cache").iterdir() if p.is_dir()]
        assert len(caches) == 2  # the initial model's and the kept version's serving files
        assert len(list((state / "jobs").glob("*.json"))) == 1  # max_job_records
        assert c.get(f"/v1/models/retrain/{jobs[0].job_id}").status_code == 404
        assert srv.state.retrain.prune_jobs(now=time.time() + 8 * 86_400) == 1  # retention
        assert c.get(f"/v1/models/retrain/{jobs[1].job_id}").status_code == 404
        assert c.get("/healthz").json()["model_version"] == 11


def test_enough_pending_events_retrain_on_their_own(model_dir: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), base_dataset="demo-shop",
                               base_dataset_options=DEMO, retrain_after_events=40,
                               reload_interval_s=0.2)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        events = [{"user_id": f"auto-{k % 4}", "item_id": f"p{k % 50 + 1:03d}", "rating": 4}
                  for k in range(39)]
        assert c.post("/v1/events", json={"events": events}, headers=KEY).status_code == 200
        time.sleep(1.0)
        assert c.get("/healthz").json()["model_version"] == 1  # 39 < 40: nothing yet
        c.post("/v1/events", json={"events": events[:1]}, headers=KEY)
        deadline = time.monotonic() + 120
        while c.get("/healthz").json()["model_version"] == 1:
            assert time.monotonic() < deadline, "no automatic retrain"
            time.sleep(0.2)
        health = c.get("/healthz").json()
        assert health["model_version"] == 2 and health["events_pending"] == 0
        records = [json.loads(p.read_text()) for p in (tmp_path / "state" / "jobs").glob(
            "*.json")]
        assert [r["trigger"] for r in records] == ["auto"]
        with sqlite3.connect(tmp_path / "state" / "events.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 40
        assert np.isfinite(health["uptime_s"])
