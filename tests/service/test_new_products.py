"""New products in a running service, without a retrain (issue 21, item 5).

A product posted to a real uvicorn server is stored durably with its text embedding; a text
model (``text-knn``) ranks it at once in ``/similar``, ``/audience`` and users' lists, with
the scores the model itself gives (checked against the model's vectors by hand); a model
without a text path (``ease``) stores it and says it does not rank it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ScoresNewItems
from synerec.service import ServiceSettings
from synerec.service.catalogue import CatalogueItem, item_text, read_items_file
from tests.service import API_KEY, fit_demo_model, serve_in_thread

KEY = {"X-API-Key": API_KEY}
SHOE = {"title": "Aerorun Tempo 9 Carbon Racing Flats - Blue",
        "text": "A cushioned carbon-plated running shoe for racing, light and fast.",
        "category": "Running Shoes", "fields": {"brand": "Aerorun", "price": 189.0}}


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("new") / "text-knn", "text-knn")


@pytest.fixture(scope="module")
def text_model(text_model_dir: Path) -> Recommender:
    return Recommender.load(text_model_dir)


@pytest.fixture(scope="module")
def server(text_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = ServiceSettings(model_dir=text_model_dir, api_keys=(API_KEY,),
                               state_dir=tmp_path_factory.mktemp("state"), max_items_per_batch=5)
    with serve_in_thread(settings) as srv:
        yield srv


@pytest.fixture()
def client(server):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _by_hand(model: Recommender, product: dict, users: np.ndarray) -> np.ndarray:
    """The text retriever's score of a product for users, from the model's public parts: the
    product embedded by the model's encoder, centred with the training items' mean, against
    the mean vector of each user's positives."""
    assert isinstance(model, ScoresNewItems)
    item = CatalogueItem("x", product["title"], product.get("text"), product.get("category"),
                         dict(product.get("fields", {})))
    raw = np.asarray(model.new_item_encoder().encode([item_text(item)]), np.float64)[0]
    v = raw - model.text_mean_
    v /= np.linalg.norm(v)
    E = model.item_vectors().astype(np.float64)
    P = model.positives_
    out = []
    for u in users:
        mine = P.indices[P.indptr[u]:P.indptr[u + 1]]
        out.append(float(E[mine].mean(axis=0) @ v) if len(mine) else np.nan)
    return np.array(out)


def test_a_posted_product_appears_in_similar_audience_and_lists(
        client: httpx.Client, text_model: Recommender) -> None:
    r = client.put("/v1/items/new-shoe", json=SHOE, headers=KEY)
    assert r.status_code == 200, r.text
    ack = r.json()
    assert ack["accepted"] == 1 and ack["changed"] == 1 and ack["embedded"]
    assert ack["recommendable"] and ack["note"] is None

    sim = client.get("/v1/items/new-shoe/similar", params={"n": 5}).json()
    assert sim["source"] == "text" and "text-knn" in sim["basis"]
    assert sim["model_version"] == 1  # no retrain
    cats = text_model.catalogue_["category"]
    top = [text_model.items_.index(it["item_id"]) for it in sim["items"]]
    assert sum(cats[i] == "Running Shoes" for i in top) >= 4, [cats[i] for i in top]
    sims = [it["similarity"] for it in sim["items"]]
    assert sims == sorted(sims, reverse=True)

    aud = client.get("/v1/items/new-shoe/audience", params={"n": 20}).json()
    assert aud["basis"] == "text" and aud["new_item"] and aud["excluded_buyers"] == 0
    users = [text_model.users_.index(u["user_id"]) for u in aud["users"]]
    scores = np.array([u["score"] for u in aud["users"]])
    np.testing.assert_allclose(scores, _by_hand(text_model, SHOE, np.array(users)),
                               rtol=1e-4, atol=1e-6)
    # the top 20 of every user's hand score
    every = _by_hand(text_model, SHOE, np.arange(text_model.n_users_))
    assert scores[-1] >= np.sort(every[~np.isnan(every)])[-20] - 1e-5
    assert all(u["reason"] for u in aud["users"])

    # in the list of the most likely buyer, at the place its score gives it
    best = aud["users"][0]
    rec = client.get(f"/v1/users/{best['user_id']}/recommendations",
                     params={"n": 100, "explain": "true"}).json()
    assert rec["new_products"] == {"count": 1, "ranked": True,
                                   "basis": rec["new_products"]["basis"], "note": None}
    ids = [it["item_id"] for it in rec["items"]]
    assert "new-shoe" in ids
    entry = rec["items"][ids.index("new-shoe")]
    assert entry["score"] == pytest.approx(best["score"], rel=1e-5)
    assert entry["title"] == SHOE["title"]
    assert entry["reason"].startswith("new product")
    list_scores = [it["score"] for it in rec["items"]]
    assert list_scores == sorted(list_scores, reverse=True)
    model_ids, _ = text_model.recommend([best["user_id"]], 99)
    assert [i for i in ids if i != "new-shoe"] == list(model_ids[0])


def test_the_audience_of_a_warm_item_is_the_models_column(client: httpx.Client,
                                                          text_model: Recommender) -> None:
    item = text_model.items_.id(0)
    aud = client.get(f"/v1/items/{item}/audience", params={"n": 10}).json()
    assert aud["basis"] == "model" and not aud["new_item"]
    buyers = set(text_model.users_.ids_of(text_model.train_[:, 0].nonzero()[0]))
    assert aud["excluded_buyers"] == len(buyers)
    got = [u["user_id"] for u in aud["users"]]
    assert not buyers & set(got)
    full = text_model.score_profiles(sp.csr_matrix(text_model.train_))[:, 0]
    full[list(text_model.users_.indices(list(buyers)))] = -np.inf
    full[np.diff(text_model.positives_.indptr) == 0] = -np.inf  # scored by popularity only
    want = np.argsort(-full, kind="stable")[:10]
    np.testing.assert_allclose([u["score"] for u in aud["users"]], full[want], rtol=1e-5)


def test_a_buyer_posted_as_an_event_leaves_the_audience(client: httpx.Client) -> None:
    product = {**SHOE, "title": "Aerorun Tempo 9 Carbon Racing Flats - Red"}
    assert client.put("/v1/items/new-shoe", json=SHOE, headers=KEY).status_code == 200
    assert client.put("/v1/items/new-shoe-red", json=product, headers=KEY).status_code == 200
    # the products posted earlier are among its similar products (the same shoe, in blue)
    sim = client.get("/v1/items/new-shoe-red/similar", params={"n": 3}).json()
    assert sim["items"][0]["item_id"] == "new-shoe"
    assert sim["items"][0]["title"] == SHOE["title"]
    before = client.get("/v1/items/new-shoe-red/audience", params={"n": 5}).json()
    buyer = before["users"][0]["user_id"]
    r = client.post("/v1/events", json={"events": [
        {"user_id": buyer, "item_id": "new-shoe-red", "event": "purchase"}]}, headers=KEY)
    assert r.status_code == 200
    after = client.get("/v1/items/new-shoe-red/audience", params={"n": 5}).json()
    assert buyer not in [u["user_id"] for u in after["users"]]
    assert after["excluded_buyers"] == 1
    rec = client.get(f"/v1/users/{buyer}/recommendations", params={"n": 100}).json()
    assert "new-shoe-red" not in [it["item_id"] for it in rec["items"]]


def test_bulk_form_and_catalogue_record(client: httpx.Client) -> None:
    items = [{"item_id": "bulk-1", "title": "Trailhaus Summit Rain Jacket - Green",
              "text": "A waterproof hiking jacket.", "category": "Jackets"},
             {"item_id": "bulk-2", "title": "Trailhaus Ridge Day Pack - Black"}]
    r = client.post("/v1/items", json={"items": items}, headers=KEY)
    assert r.status_code == 200 and r.json()["accepted"] == 2 and r.json()["changed"] == 2
    again = client.post("/v1/items", json={"items": items}, headers=KEY).json()
    assert again["changed"] == 0  # unchanged products are not rewritten
    got = client.get("/v1/items/bulk-1").json()
    assert got["title"] == items[0]["title"] and got["category"] == "Jackets"
    assert got["in_model"] is False
    assert client.get("/v1/items/bulk-2/similar").json()["source"] == "text"
    assert client.get("/v1/items/no-such-product").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"items": [{"item_id": "a", "title": ""}]}, "body.items.0.title"),
    ({"items": [{"item_id": "a"}]}, "body.items.0.title"),
    ({"items": [{"item_id": "a", "title": "x", "colour": "red"}]}, "body.items.0.colour"),
    ({"items": [{"item_id": "a", "title": "x", "fields": {"price": [1]}}]},
     "body.items.0.fields"),
    ({"items": [{"item_id": "a\u202e", "title": "x"}]}, "body.items.0.item_id"),
    ({"items": [{"item_id": "a", "title": "x"}, {"item_id": "a", "title": "y"}]},
     "body.items"),
    ({"items": [{"item_id": f"i{k}", "title": "x"} for k in range(6)]}, "body.items"),
    ({"items": []}, "body.items"),
])
def test_bad_products_get_one_line_errors_naming_the_field(client: httpx.Client, body: dict,
                                                           field: str) -> None:
    r = client.post("/v1/items", json=body, headers=KEY)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "validation_error" and field in err["fields"]
    assert "\n" not in err["message"]


def test_writing_products_needs_the_write_key(client: httpx.Client) -> None:
    assert client.put("/v1/items/k", json=SHOE).status_code == 401
    assert client.put("/v1/items/k", json=SHOE, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/v1/items", json={"items": [{"item_id": "k", "title": "x"}]}
                       ).status_code == 401
    assert client.get("/v1/items/k").status_code == 404  # nothing stored


def test_products_survive_a_restart_and_the_items_file_loads(text_model_dir: Path,
                                                              tmp_path: Path) -> None:
    state = tmp_path / "state"
    settings = ServiceSettings(model_dir=text_model_dir, api_keys=(API_KEY,), state_dir=state)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.put("/v1/items/kept", json=SHOE, headers=KEY).status_code == 200
        first = c.get("/v1/items/kept/similar").json()
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,text,category,brand\n"
                     "f1,Fitora Pulse 7 GPS Watch - Black,A solar GPS sport watch,"
                     "Smartwatches,Fitora\n")
    assert read_items_file(items)[0].fields == {"brand": "Fitora"}
    settings = ServiceSettings(model_dir=text_model_dir, api_keys=(API_KEY,), state_dir=state,
                               items_file=items)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.get("/v1/items/kept").json()["title"] == SHOE["title"]
        again = c.get("/v1/items/kept/similar").json()
        assert again.pop("rec_id") != first.pop("rec_id")  # each list its own id
        assert again == first
        f1 = c.get("/v1/items/f1/audience", params={"n": 3}).json()
        assert f1["basis"] == "text" and len(f1["users"]) == 3
        assert c.get("/v1/items/f1").json()["fields"] == {"brand": "Fitora"}


def test_a_model_without_a_text_path_says_it_does_not_rank_new_products(
        tmp_path: Path) -> None:
    model_dir = fit_demo_model(tmp_path / "ease", "ease")
    model = Recommender.load(model_dir)
    settings = ServiceSettings(model_dir=model_dir, api_keys=(API_KEY,),
                               state_dir=tmp_path / "state")
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        ack = c.put("/v1/items/cf-new", json=SHOE, headers=KEY).json()
        assert not ack["recommendable"] and not ack["embedded"]
        assert "ease does not score products it was not trained on" in ack["note"]
        user = model.users_.id(0)
        rec = c.get(f"/v1/users/{user}/recommendations", params={"n": 100}).json()
        assert rec["new_products"]["ranked"] is False and rec["new_products"]["count"] == 1
        assert "cf-new" not in [it["item_id"] for it in rec["items"]]
        r = c.get("/v1/items/cf-new/similar")
        assert r.status_code == 404 and "in the catalogue" in r.json()["message"]
        assert c.get("/v1/items/cf-new/audience").status_code == 404
        # a warm item's audience: EASE's own scores of that item, one column
        item = model.items_.id(3)
        aud = c.get(f"/v1/items/{item}/audience", params={"n": 10}).json()
        assert aud["basis"] == "model"
        full = model.score_profiles(sp.csr_matrix(model.train_))[:, 3]
        full[model.train_[:, 3].nonzero()[0]] = -np.inf
        full[np.diff(model.positives_.indptr) == 0] = -np.inf  # scored by popularity only
        want = np.argsort(-full, kind="stable")[:10]
        assert [u["user_id"] for u in aud["users"]] == list(model.users_.ids_of(want))
        np.testing.assert_allclose([u["score"] for u in aud["users"]], full[want], rtol=1e-5)


def test_a_retrain_takes_the_catalogues_products_with_their_text(tmp_path: Path,
                                                                text_model_dir: Path) -> None:
    from synerec.service.catalogue import CatalogueStore
    from synerec.service.events import EventRecord, EventStore
    from synerec.service.retrain import run_retrain

    db = tmp_path / "events.sqlite3"
    events = EventStore(db)
    events.add([EventRecord("u001", "sold-once", None, "purchase")])
    events.close()
    store = CatalogueStore(db)
    store.upsert([CatalogueItem("sold-once", SHOE["title"], SHOE["text"], SHOE["category"],
                                {"brand": "Aerorun"}),
                  CatalogueItem("never-sold", "Trailhaus Ridge Day Pack - Black")])
    store.close()
    out = run_retrain({
        "base_dataset": None, "base_model_dir": str(text_model_dir), "events_db": str(db),
        "events_upto": 1, "model": "text-knn", "config": {}, "out_dir": str(tmp_path / "v2"),
        "implied_ratings": {"purchase": 1.0}, "event_weights": {"purchase": 3.0}})
    model = Recommender.load(out)
    for iid, title in (("sold-once", SHOE["title"]),
                       ("never-sold", "Trailhaus Ridge Day Pack - Black")):
        i = model.items_.index(iid)
        assert model.catalogue_["title"][i] == title
        assert model.item_has_text_[i] and model.is_known_item(i)  # ranked by its text
    assert model.item_count_[model.items_.index("sold-once")] == 1


def test_acknowledged_products_survive_kill_9_and_serve_items_loads_a_file(
        tmp_path: Path, text_model_dir: Path) -> None:
    import signal
    import sqlite3

    from tests.service import free_port, start_server_process

    state = tmp_path / "state"
    port = free_port()
    proc = start_server_process(text_model_dir, state, port, tmp_path / "server.log")
    acknowledged = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            for k in range(12):
                r = c.put(f"/v1/items/k{k}", json={**SHOE, "title": f"Racing Flats {k}"},
                          headers=KEY)
                assert r.status_code == 200 and r.json()["embedded"]
                acknowledged.append(f"k{k}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(state / "events.sqlite3") as conn:
        stored = [r[0] for r in conn.execute("SELECT item_id FROM catalogue ORDER BY seq")]
        vectors = conn.execute("SELECT COUNT(*) FROM catalogue_vectors").fetchone()[0]
    assert stored == acknowledged and vectors == len(acknowledged)
    items = tmp_path / "items.jsonl"
    items.write_text('{"item_id": "f1", "title": "Fitora Pulse 7 GPS Watch - Black", '
                     '"category": "Smartwatches"}\n')
    proc = start_server_process(text_model_dir, state, port, tmp_path / "server.log",
                                "--items", str(items))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            assert c.get("/v1/items/k11").json()["title"] == "Racing Flats 11"
            assert c.get("/v1/items/f1/similar").json()["source"] == "text"
            assert c.get("/v1/items/k3/audience", params={"n": 2}).json()["basis"] == "text"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


@pytest.mark.parametrize("name", ["ease", "rp3beta", "text-knn"])
def test_a_models_column_is_its_own_scores_of_the_item(tmp_path: Path, name: str) -> None:
    from synerec.algorithms.abilities import ScoresItemUsers

    model = Recommender.load(fit_demo_model(tmp_path / name, name))
    assert isinstance(model, ScoresItemUsers)
    has = np.diff(model.positives_.indptr) > 0
    rows = model.score_profiles(sp.csr_matrix(model.train_))  # each user's own scores
    for j in (0, 7, 123):
        col = model.score_item_users(j)
        assert np.isnan(col[~has]).all()
        np.testing.assert_allclose(col[has], rows[has, j], rtol=1e-5, atol=1e-6)


def test_a_text_model_places_its_own_items_where_it_put_them(text_model: Recommender) -> None:
    """Re-embedding the training items' texts with the model's encoder and placing them with
    new_item_vectors gives the vectors the model ranks with (the kept mean is right)."""
    from synerec.data import load_dataset
    from synerec.text import item_texts
    from tests.service import DEMO

    assert isinstance(text_model, ScoresNewItems)
    texts = item_texts(load_dataset("demo-shop", **DEMO))[:25]
    raw = np.asarray(text_model.new_item_encoder().encode(texts), dtype=np.float32)
    np.testing.assert_allclose(text_model.new_item_vectors(raw), text_model.item_vectors()[:25],
                               atol=1e-5)
    users = np.arange(text_model.n_users_)
    np.testing.assert_allclose(
        text_model.score_new_items(users, text_model.item_vectors()[:3])[:, 0],
        text_model.score_item_users(0), rtol=1e-6, equal_nan=True)


def test_a_product_whose_text_is_unchanged_is_not_embedded_again(
        client: httpx.Client, server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    st = server.state
    space = st.products.space(st.store.current)
    embedded: list[str] = []
    real = space.embed

    def counting(items):  # type: ignore[no-untyped-def]
        embedded.extend(it.item_id for it in items)
        return real(items)

    monkeypatch.setattr(space, "embed", counting)
    body = {**SHOE, "title": "Aerorun Tempo 9 Carbon Racing Flats - Green"}
    assert client.put("/v1/items/green", json=body, headers=KEY).json()["changed"] == 1
    assert embedded == ["green"]
    priced = {**body, "fields": {**SHOE["fields"], "price": 149.0}}  # price is not in the text
    ack = client.put("/v1/items/green", json=priced, headers=KEY).json()
    assert ack["changed"] == 1 and ack["embedded"]
    assert embedded == ["green"]  # the stored embedding was kept
    assert client.get("/v1/items/green").json()["fields"]["price"] == 149.0
    branded = {**body, "fields": {"brand": "Stridewell"}}  # the brand is in the text
    client.put("/v1/items/green", json=branded, headers=KEY)
    assert embedded == ["green", "green"]
    sim = client.get("/v1/items/green/similar", params={"n": 3}).json()
    assert sim["source"] == "text" and len(sim["items"]) == 3
