"""Recommendation ids and attribution against a real uvicorn server (httpx over TCP).

The contract a script relies on: every list response has a top-level ``rec_id``; a click
posted with it is counted, in ``/v1/attribution``, for the model that served the list.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.service import ServiceSettings
from synerec.service.api import json_bytes
from synerec.service.attribution import SEP, new_rec_id, shown_ids, stamp
from tests.service import API_KEY, DEMO, fit_demo_model, serve_in_thread

KEY = {"X-API-Key": API_KEY}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("attr") / "item-cf")


@pytest.fixture()
def server(model_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), base_dataset="demo-shop",
                               base_dataset_options=DEMO, attribution_window_s=3600,
                               placements={"home": {}})  # a declared placement, no rules
    with serve_in_thread(settings) as srv:
        yield srv


@pytest.fixture()
def client(server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def _post(c: httpx.Client, *events: dict[str, Any]) -> None:
    r = c.post("/v1/events", json={"events": list(events)}, headers=KEY)
    assert r.status_code == 200, r.text


def _row(c: httpx.Client, **match: Any) -> dict[str, Any]:
    rows = [r for r in c.get("/v1/attribution").json()["rows"]
            if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, rows
    return rows[0]


def test_stamp_puts_the_ids_first_in_the_same_json() -> None:
    assert stamp(b'{"a":1}', "f" * 32) == \
        b'{"rec_id":"' + b"f" * 32 + b'","experiment":null,"variant":null,"a":1}'
    assert stamp(b"{}", "0" * 32, "e", "v") == \
        b'{"rec_id":"' + b"0" * 32 + b'","experiment":"e","variant":"v"}'


_IDS = st.one_of(st.text(min_size=1, max_size=12), st.integers(-(2**63), 2**63 - 1))


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(_IDS, max_size=12), subject=_IDS, titles=st.lists(st.text(max_size=30),
                                                                       min_size=12, max_size=12))
def test_the_ids_shown_are_read_from_the_body_as_json_would(
        ids: list[Any], subject: Any, titles: list[str]) -> None:
    # the subject item and titles that look like ids never count; only the entries' ids
    body = json_bytes({"item_id": subject, "model_version": 1, "items": [
        {"rank": k + 1, "item_id": i, "score": 0.5, "title": f'"item_id":"{t}"'}
        for k, (i, t) in enumerate(zip(ids, titles, strict=False))], "new_products": None})
    assert shown_ids(body) == [str(i) for i in ids]
    audience = json_bytes({"item_id": subject, "users": [{"rank": 1, "user_id": u}
                                                          for u in ids]})
    assert shown_ids(audience, "user_id") == [str(i) for i in ids]


def test_rec_ids_are_unique_hex_and_grow_with_time() -> None:
    got = [new_rec_id() for _ in range(10_000)]
    assert len(set(got)) == len(got) and all(HEX32.match(r) for r in got)
    assert got[0][:13] <= got[-1][:13]


def test_every_list_response_has_a_top_level_rec_id(client: httpx.Client,
                                                    server: Any) -> None:
    lists = [client.get("/v1/users/u003/recommendations", params={"n": 5}),
             client.get("/v1/users/u003/recommendations", params={"n": 5}),  # cached body
             client.get("/v1/users/u003/recommendations",
                        params={"n": 5, "placement": "home"}),  # the route, not the fast path
             client.get("/v1/users/nobody/recommendations", params={"unknown": "fallback"}),
             client.get("/v1/items/p001/similar", params={"n": 4}),
             client.get("/v1/items/p001/audience", params={"n": 3})]
    ids = []
    for r in lists:
        assert r.status_code == 200, r.text
        body = r.json()
        assert HEX32.match(body["rec_id"]), body
        assert body["experiment"] is None and body["variant"] is None
        ids.append(body["rec_id"])
    assert len(set(ids)) == len(ids)  # a cached answer gets a new id each time
    # each list is in the store, with what it showed, as soon as its response is sent
    db = server.state.events.path
    with sqlite3.connect(db) as conn:
        got = {r[0]: r[1:] for r in conn.execute(
            "SELECT rec_id, kind, user_id, model, model_version, placement, items FROM lists")}
    for r, rec_id in zip(lists, ids, strict=True):
        body = r.json()
        _, _, model, version, _, items = got[rec_id]
        shown = [e["item_id"] for e in body["items"]] if "items" in body else \
            [e["user_id"] for e in body["users"]]
        assert items == SEP + SEP.join(shown) + SEP
        assert (model, version) == ("item-cf", 1)
    assert got[ids[2]][4] == "home" and got[ids[0]][4] is None
    assert [got[i][0] for i in ids] == ["recommendations"] * 4 + ["similar", "audience"]
    assert got[ids[0]][1] == "u003" and got[ids[4]][1] is None


def test_a_click_with_the_rec_id_counts_for_the_model_that_served_it(
        client: httpx.Client) -> None:
    body = client.get("/v1/users/u007/recommendations",
                      params={"n": 5, "placement": "home"}).json()
    rec_id, items = body["rec_id"], [e["item_id"] for e in body["items"]]
    _post(client, {"user_id": "u007", "item_id": items[0], "event": "impression",
                   "rec_id": rec_id},
          {"user_id": "u007", "item_id": items[1], "event": "click", "rec_id": rec_id},
          {"user_id": "u007", "item_id": items[1], "event": "click", "rec_id": rec_id},
          {"user_id": "u007", "item_id": items[2], "event": "add-to-cart", "rec_id": rec_id},
          {"user_id": "u007", "item_id": items[2], "event": "purchase", "rec_id": rec_id,
           "value": 12.5})
    row = _row(client, model="item-cf", model_version=1, placement="home")
    assert (row["lists"], row["impressions"], row["clicks"], row["clicked_lists"],
            row["add_to_carts"], row["purchases"], row["revenue"]) == (1, 1, 2, 1, 1, 1, 12.5)
    assert row["experiment"] is None and row["variant"] is None
    # a click on an item the list did not show, or with an unknown rec_id, counts nowhere
    shown = set(items)
    other = next(f"p{k:03d}" for k in range(1, 401) if f"p{k:03d}" not in shown)
    _post(client, {"user_id": "u007", "item_id": other, "event": "click", "rec_id": rec_id},
          {"user_id": "u007", "item_id": items[0], "event": "click", "rec_id": "0" * 32})
    got = client.get("/v1/attribution").json()
    assert got["unattributed"] == {"click": 2}
    assert _row(client, placement="home")["clicks"] == 2
    # add-to-cart is stored as a cart event; impressions are no interaction of the user
    rec = client.get("/v1/users/u007/recommendations", params={"n": 5}).json()
    assert rec["new_events"] == 6  # 2 + 2 clicks, the cart, the purchase: not the impression


def test_a_purchase_without_rec_id_counts_within_the_window(client: httpx.Client) -> None:
    body = client.get("/v1/users/u011/recommendations", params={"n": 5}).json()
    item = body["items"][3]["item_id"]
    now = time.time()
    _post(client,
          # one hour and a bit before the list: outside the window (and before the list)
          {"user_id": "u011", "item_id": item, "event": "purchase", "value": 3,
           "timestamp": now - 4000},
          # after the list, within the 1 h window: counted, with its revenue
          {"user_id": "u011", "item_id": item, "event": "purchase", "value": 7},
          # another user bought it: not this list's
          {"user_id": "u012", "item_id": item, "event": "purchase", "value": 5},
          # beyond the window after the list
          {"user_id": "u011", "item_id": item, "event": "purchase", "value": 11,
           "timestamp": now + 3700})
    row = _row(client, placement=None, model="item-cf")
    assert (row["purchases"], row["revenue"]) == (1, 7.0)


def test_bad_rec_ids_and_values_are_refused_naming_the_field(client: httpx.Client) -> None:
    r = client.post("/v1/events", headers=KEY, json={"events": [
        {"user_id": "u1", "item_id": "p001", "event": "click", "rec_id": "not-hex"}]})
    assert r.status_code == 422 and r.json()["fields"] == ["body.events.0.rec_id"]
    r = client.post("/v1/events", headers=KEY, json={"events": [
        {"user_id": "u1", "item_id": "p001", "event": "purchase", "value": -1}]})
    assert r.status_code == 422 and r.json()["fields"] == ["body.events.0.value"]
    r = client.get("/v1/users/u003/recommendations", params={"placement": "a b"})
    assert r.status_code == 422 and r.json()["fields"] == ["query.placement"]


def test_a_list_waits_for_a_locked_store_and_is_recorded_before_its_answer(
        client: httpx.Client, server: Any) -> None:
    import threading

    db = server.state.events.path
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the store: the loop cannot commit
    got: dict[str, Any] = {}

    def fetch() -> None:
        got["body"] = client.get("/v1/users/u021/recommendations", params={"n": 3}).json()

    t = threading.Thread(target=fetch)
    t.start()
    t.join(0.5)
    assert t.is_alive()  # no answer while its list cannot be committed
    assert client.get("/healthz").status_code == 200  # the event loop serves on meanwhile
    lock.execute("ROLLBACK")
    lock.close()
    t.join(10)
    rec_id = got["body"]["rec_id"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT user_id FROM lists WHERE rec_id = ?",
                            (rec_id,)).fetchone() == ("u021",)
