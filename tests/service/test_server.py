"""Every endpoint against a real uvicorn server on 127.0.0.1, with httpx."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pytest

from synerec.algorithms import Recommender
from synerec.service import ServiceSettings
from synerec.service.scoring import event_weight, neighbor_scores_reference
from tests.service import API_KEY, DEMO, fit_demo_model, serve_in_thread

KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("svc") / "item-cf")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Recommender:
    return Recommender.load(model_dir)


@pytest.fixture(scope="module")
def server(model_dir: Path):  # type: ignore[no-untyped-def]
    settings = ServiceSettings(model_dir=model_dir, api_keys=(API_KEY,), max_body_bytes=20_000,
                               base_dataset="demo-shop", base_dataset_options=DEMO)
    with serve_in_thread(settings) as srv:
        yield srv


@pytest.fixture()
def client(server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def test_healthz(client: httpx.Client, model_dir: Path) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["model_version"] == 1
    assert body["model"] == "item-cf"
    assert body["model_sha256"] == hashlib.sha256(
        (model_dir / "model.json").read_bytes()).hexdigest()[:16]
    assert "/" not in json.dumps(body)  # no filesystem path, to anyone


def test_recommendations_of_a_known_user_are_the_models(client: httpx.Client,
                                                        model: Recommender) -> None:
    user = model.users_.id(3)
    r = client.get(f"/v1/users/{user}/recommendations", params={"n": 7})
    assert r.status_code == 200
    body = r.json()
    ids, scores = model.recommend([user], 7)
    assert body["strategy"] == "model" and body["fallback"] is None
    assert [it["item_id"] for it in body["items"]] == list(ids[0])
    np.testing.assert_allclose([it["score"] for it in body["items"]], scores[0], rtol=1e-6)
    assert [it["rank"] for it in body["items"]] == list(range(1, 8))
    titles = model.catalogue_["title"]
    assert [it["title"] for it in body["items"]] == \
        [titles[model.items_.index(i)] for i in ids[0]]
    seen = set(model.items_.ids_of(model.train_[3].indices))
    assert not seen & {it["item_id"] for it in body["items"]}
    # exclude_seen=false may return training items, explain=true gives a reason per item
    r2 = client.get(f"/v1/users/{user}/recommendations",
                    params={"n": 7, "exclude_seen": "false", "explain": "true"}).json()
    ids2, _ = model.recommend([user], 7, exclude_seen=False)
    assert [it["item_id"] for it in r2["items"]] == list(ids2[0])
    assert all(it["reason"].startswith("predicted rating") for it in r2["items"])


def test_unknown_user_gets_the_popular_fallback(client: httpx.Client,
                                                model: Recommender) -> None:
    # the one policy (docs/your-data.md): an error unless the fallback is asked for
    r = client.get("/v1/users/nobody-at-all/recommendations", params={"n": 5})
    assert r.status_code == 404 and r.json()["error"] == "unknown_user"
    assert "unknown user id 'nobody-at-all'" in r.json()["message"]
    body = client.get("/v1/users/nobody-at-all/recommendations",
                      params={"n": 5, "unknown": "fallback"}).json()
    assert body["strategy"] == "popular"
    assert body["fallback"] == "unknown_user"
    counts = model.item_count_
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))[:5]
    assert [it["item_id"] for it in body["items"]] == list(model.items_.ids_of(order))
    assert [it["score"] for it in body["items"]] == [float(counts[i]) for i in order]


@pytest.mark.parametrize("path", ["/v1/users/nobody-at-all/recommendations",
                                  "/v1/items/no-such-item/similar"])
@pytest.mark.parametrize("value", ["maybe", "ERROR", ""])
def test_an_unknown_policy_outside_error_and_fallback_is_a_422(client: httpx.Client, path: str,
                                                               value: str) -> None:
    r = client.get(path, params={"n": 5, "unknown": value})
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error" and r.json()["fields"] == ["query.unknown"]


def test_similar_items(client: httpx.Client, model: Recommender) -> None:
    item = model.items_.id(int(np.argmax(model.item_count_)))
    body = client.get(f"/v1/items/{item}/similar", params={"n": 6}).json()
    ids, sims = model.similar_items(item, 6)  # type: ignore[attr-defined]
    assert body["fallback"] is None and body["source"] == "model"
    assert [it["item_id"] for it in body["items"]] == list(ids)
    titles = model.catalogue_["title"]  # the saved model carries the demo shop's titles
    assert [it["title"] for it in body["items"]] == [titles[model.items_.index(i)] for i in ids]
    assert body["items"][0]["title"].strip()
    np.testing.assert_allclose([it["similarity"] for it in body["items"]], sims, rtol=1e-6)
    r = client.get("/v1/items/no-such-item/similar", params={"n": 3})
    assert r.status_code == 404 and r.json()["error"] == "unknown_item"
    unknown = client.get("/v1/items/no-such-item/similar",
                         params={"n": 3, "unknown": "fallback"}).json()
    assert unknown["fallback"] == "unknown_item" and unknown["source"] == "popular"
    assert len(unknown["items"]) == 3


def test_predict_gives_the_models_decision(client: httpx.Client, model: Recommender) -> None:
    user, item = model.users_.id(5), model.items_.id(10)
    body = client.post("/v1/predict", json={"user_id": user, "item_id": item}).json()
    d = model.recommend_item(user, item)
    assert body["prediction"] == pytest.approx(d.prediction.value)
    assert body["recommend"] is d.recommend and body["reason"] == d.reason
    assert body["threshold"] == pytest.approx(3.2222222)
    r = client.post("/v1/predict", json={"user_id": "stranger", "item_id": item})
    assert r.status_code == 404 and r.json()["error"] == "unknown_user"
    cold = client.post("/v1/predict", json={"user_id": "stranger", "item_id": item,
                                            "unknown": "fallback"}).json()
    assert cold["fallback"] == "unknown_user" and cold["fallback_to"] == "item_mean"


def test_write_endpoints_need_the_api_key(client: httpx.Client) -> None:
    batch = {"events": [{"user_id": "a", "item_id": "b"}]}
    assert client.post("/v1/events", json=batch).status_code == 401
    r = client.post("/v1/events", json=batch, headers={"X-API-Key": API_KEY + "x"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert client.post("/v1/models/retrain").status_code == 401
    assert client.post("/v1/models/retrain", headers={"X-API-Key": ""}).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"events": [{"item_id": "p1"}]}, "body.events.0.user_id"),
    ({"events": [{"user_id": "u1", "item_id": "p1", "rating": "high"}]},
     "body.events.0.rating"),
    ({"events": [{"user_id": "u1", "item_id": "p1", "event": "like"}]}, "body.events.0.event"),
    ({"events": [{"user_id": "u1", "item_id": "p1", "colour": 1}]}, "body.events.0.colour"),
    ({"events": [{"user_id": "", "item_id": "p1"}]}, "body.events.0.user_id"),
    ({"events": []}, "body.events"),
    ({"evnts": []}, "body.events"),
])
def test_malformed_bodies_are_422_naming_the_field(client: httpx.Client, body: dict,
                                                   field: str) -> None:
    r = client.post("/v1/events", json=body, headers=KEY)
    assert r.status_code == 422
    assert any(f.startswith(field) for f in r.json()["fields"]), r.json()


def test_out_of_range_rating_is_422_and_the_batch_is_not_stored(
        client: httpx.Client, server) -> None:  # type: ignore[no-untyped-def]
    before = server.state.events.count_in_db()
    batch = {"events": [{"user_id": "u1", "item_id": "p1", "rating": 4},
                        {"user_id": "u1", "item_id": "p2", "rating": 6.5}]}
    r = client.post("/v1/events", json=batch, headers=KEY)
    assert r.status_code == 422
    assert r.json()["fields"] == ["body.events.1.rating"]
    assert "outside the rating scale 1..5" in r.json()["message"]
    assert server.state.events.count_in_db() == before
    r = client.post("/v1/events", content=b"{not json", headers={**KEY,
                    "Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/predict", json={"user_id": "u1"})
    assert r.status_code == 422 and r.json()["fields"] == ["body.item_id"]
    r = client.get("/v1/users/u1/recommendations", params={"n": 0})
    assert r.status_code == 422 and r.json()["fields"] == ["query.n"]


def test_oversized_body_is_413(client: httpx.Client, server) -> None:  # type: ignore
    before = server.state.events.count_in_db()
    events = [{"user_id": f"u{k}", "item_id": "p1"} for k in range(2000)]  # ~60 kB > 20 kB
    r = client.post("/v1/events", json={"events": events}, headers=KEY)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert "20000 bytes" in r.json()["message"]

    def chunks():  # no Content-Length: the limit applies to the streamed bytes
        data = json.dumps({"events": events}).encode()
        for k in range(0, len(data), 4096):
            yield data[k:k + 4096]

    r = client.post("/v1/events", content=chunks(), headers={**KEY,
                    "Content-Type": "application/json"})
    assert r.status_code == 413
    assert server.state.events.count_in_db() == before


def test_new_user_from_events_is_served_at_once(client: httpx.Client, server,  # type: ignore
                                                model: Recommender) -> None:
    items = [model.items_.id(i) for i in np.argsort(-model.item_count_, kind="stable")[3:6]]
    events = [{"user_id": "fresh-user", "item_id": items[0], "rating": 5},
              {"user_id": "fresh-user", "item_id": items[1], "event": "purchase"},
              {"user_id": "fresh-user", "item_id": items[2], "event": "view"},
              {"user_id": "fresh-user", "item_id": "brand-new-item", "event": "cart"}]
    r = client.post("/v1/events", json={"events": events}, headers=KEY)
    assert r.status_code == 200
    ack = r.json()
    assert ack["accepted"] == 4 and ack["last_event_id"] - ack["first_event_id"] == 3
    body = client.get("/v1/users/fresh-user/recommendations", params={"n": 8}).json()
    assert body["strategy"] == "item_neighbors" and body["fallback"] == "unknown_user"
    assert body["new_events"] == 4
    # reference: eq. (S1) by loops, then sort by (-score, index), minus the profile's items
    idx = model.items_.indices(items)
    w = np.array([event_weight(5.0, None, (1.0, 5.0), {}),
                  event_weight(None, "purchase", None, {"view": 1, "cart": 2, "purchase": 3}),
                  event_weight(None, "view", None, {"view": 1, "cart": 2, "purchase": 3})])
    assert w.tolist() == pytest.approx([1.0, 1.0, 1 / 3])
    ref = neighbor_scores_reference(model.similarity_, idx, w)  # type: ignore[attr-defined]
    cand = [j for j in range(len(ref)) if np.isfinite(ref[j]) and j not in set(idx)
            and model.item_count_[j] > 0]
    cand.sort(key=lambda j: (-ref[j], j))
    assert [it["item_id"] for it in body["items"]] == list(model.items_.ids_of(cand[:8]))
    assert not set(items) & {it["item_id"] for it in body["items"]}
    # in SQLite, durably
    db = server.state.events.path
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT item_id, rating, event FROM events WHERE user_id = ? "
                            "ORDER BY id", ("fresh-user",)).fetchall()
    assert rows == [(items[0], 5.0, None), (items[1], None, "purchase"),
                    (items[2], None, "view"), ("brand-new-item", None, "cart")]


def test_known_user_with_new_events_is_rescored(client: httpx.Client,
                                                model: Recommender) -> None:
    user = model.users_.id(8)
    before = client.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
    first = before["items"][0]["item_id"]
    client.post("/v1/events", json={"events": [{"user_id": user, "item_id": first,
                                                "rating": 1}]}, headers=KEY)
    after = client.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
    assert after["strategy"] == "item_neighbors" and after["fallback"] is None
    assert first not in [it["item_id"] for it in after["items"]]
    pred = client.post("/v1/predict", json={"user_id": user, "item_id": first}).json()
    assert pred["recommend"] is False and "already rated" in pred["reason"]


def test_metrics_are_prometheus_text(client: httpx.Client, server) -> None:  # type: ignore
    client.get("/v1/users/someone/recommendations", params={"unknown": "fallback"})
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    stored = server.state.events.count()
    assert f"synerec_events_stored {stored}" in lines
    assert "synerec_model_version 1" in lines
    rec = [ln for ln in lines if ln.startswith('synerec_http_requests_total{method="GET",'
                                               'route="/v1/users/{user_id}/recommendations",'
                                               'status="200"}')]
    assert len(rec) == 1 and int(rec[0].split()[-1]) >= 1
    count = [ln for ln in lines if ln.startswith(
        'synerec_http_request_duration_seconds_count{route="/healthz"}')]
    inf = [ln for ln in lines if ln.startswith(
        'synerec_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"}')]
    assert count and inf and count[0].split()[-1] == inf[0].split()[-1]


def test_openapi_is_published_and_cors_is_off(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/users/{user_id}/recommendations", "/v1/items/{item_id}/similar",
              "/v1/predict", "/v1/events", "/v1/models/retrain",
              "/v1/models/retrain/{job_id}", "/healthz", "/metrics"):
        assert p in paths
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    r = client.options("/v1/predict", headers={"Origin": "https://evil.example",
                                               "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_unknown_job_is_404_and_a_bad_job_id_422(client: httpx.Client) -> None:
    assert client.get("/v1/models/retrain/" + "0" * 32).status_code == 404
    assert client.get("/v1/models/retrain/..%2F..%2Fetc").status_code in (404, 422)
    assert client.get("/v1/models/retrain/not-a-job").status_code == 422
