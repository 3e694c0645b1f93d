"""The console's pages over HTTP (httpx against a real server) and its parts one by one."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from synerec.console.catalogue import ItemCatalogue, build_text_index, split_categories
from synerec.console.charts import bar_chart, line_chart, minute_bars
from synerec.console.explain import explain_neighbor_list
from synerec.console.reports import ReportFinder, classify
from synerec.data import Vocabulary
from tests.console import API_KEY, DEMO, ConsoleServer, console_server

PAGES = ("/", "/customers/u004", "/products/p001", "/model", "/events")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         console_models: tuple[Path, dict[str, Path]]) -> Iterator[ConsoleServer]:
    with console_server(tmp_path_factory.mktemp("pages"), console_models[1]) as cs:
        yield cs


@pytest.fixture()
def client(site: ConsoleServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as c:
        yield c


def test_pages_carry_security_headers_and_the_server_time(client: httpx.Client) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert re.fullmatch(r"page;dur=\d+\.\d", r.headers["server-timing"])
        # every asset comes from the service itself
        for ref in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert ref.startswith("/") or ref.startswith("#"), (path, ref)
    for asset in ("/static/console.js", "/static/console.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200


def test_pages_never_show_a_filesystem_path_or_a_key(client: httpx.Client,
                                                     site: ConsoleServer) -> None:
    # a failed job whose error names a file: the model page shows it without the path
    jobs = site.state.settings.resolved_state_dir / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    record = {"job_id": "f" * 32, "status": "failed", "created_at": time.time() - 60,
              "events_upto": 0, "target_version": 2, "started_at": time.time() - 59,
              "finished_at": time.time() - 58,
              "error": f"the retrain worker exited with status 2: cannot read "
                       f"{site.root}/models/item-cf/arrays.npz"}
    (jobs / f"{'f' * 32}.json").write_text(json.dumps(record))
    try:
        texts = [client.get(p).text for p in PAGES] + [client.get("/customers/nobody").text]
    finally:
        (jobs / f"{'f' * 32}.json").unlink()
    model_page = texts[3]
    assert "cannot read &lt;path&gt;" in model_page
    for text in texts:
        assert str(site.root) not in text and "/tmp/" not in text
        assert API_KEY not in text
        assert "Traceback" not in text


def test_customer_page_lists_the_served_models_list_and_the_history(
        client: httpx.Client, site: ConsoleServer) -> None:
    from synerec.data import load_dataset

    model = site.state.store.current.model
    r = client.get("/customers/u004", params={"show": ["served", "mf"]})
    lists = re.findall(r'data-role="rec-list" data-model="([^"]+)"', r.text)
    assert lists == ["served", "mf"]
    served = re.findall(r'data-role="rec" data-item="([^"]+)"', r.text)[:10]
    ids, _ = model.recommend(["u004"], 10)
    assert served == list(ids[0])
    # history: newest first, with the dates of the base data set
    ds = load_dataset("demo-shop", **DEMO)
    frame = ds.to_dataframe()
    mine = frame[frame.user_id == "u004"].sort_values("timestamp", ascending=False)
    table = r.text[r.text.index('class="history"'):]
    first = re.search(r'href="/products/([^"]+)"', table).group(1)
    assert first == mine.item_id.iloc[0]
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(int(mine.timestamp.iloc[0])))
    assert when in table
    assert f"Showing {min(50, len(mine))} of {len(mine)}" in r.text


def test_missing_ids_get_a_helpful_404_page(client: httpx.Client) -> None:
    r = client.get("/customers/u00")  # a prefix of real ids
    assert r.status_code == 404
    assert "No customer “u00”" in r.text and "knows 300 customers" in r.text
    assert 'href="/customers/u001"' in r.text  # close ids are offered
    r = client.get("/products/no-such-product")
    assert r.status_code == 404 and "No product “no-such-product”" in r.text
    r = client.get("/customers/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert r.status_code == 404
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    r = client.get("/find", params={"id": "p002", "kind": "product"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/products/p002"


def test_read_keys_protect_the_pages(client: httpx.Client, site: ConsoleServer) -> None:
    state = site.state
    old = getattr(state, "read_keys", None)
    state.read_keys = [b"reader-1"]
    try:
        r = client.get("/model")
        assert r.status_code == 401 and "needs a key to read" in r.text
        assert "Model in service" not in r.text
        r = client.get("/customers/u004", headers={"X-API-Key": "nope"})
        assert r.status_code == 401 and "refused this key" in r.text
        assert "u004" not in r.text.split("<main>")[1]
        assert client.get("/model", headers={"X-API-Key": "reader-1"}).status_code == 200
        assert client.get("/model", headers={"X-API-Key": API_KEY}).status_code == 200  # write
        assert client.get("/static/console.js").status_code == 200  # assets stay public
    finally:
        state.read_keys = old if old is not None else []
    assert client.get("/model").status_code == 200


def test_events_newer_than_the_model_are_explained_by_their_largest_terms(
        client: httpx.Client, site: ConsoleServer) -> None:
    # a customer who bought two products: the list is scored from the profile (eq. S1)
    r = client.post("/v1/events", headers={"X-API-Key": API_KEY}, json={"events": [
        {"user_id": "u150", "item_id": "p010", "event": "purchase"},
        {"user_id": "u150", "item_id": "p020", "rating": 5}]})
    assert r.status_code == 200
    page = client.get("/customers/u150", params={"show": "served"}).text
    assert "scored from the customer&#39;s items and newer events" in page
    history = page[page.index('class="history"'):]
    assert history.count("event, new") == 2 and "<td>bought</td>" in history
    snap = site.state.store.current
    overlay = site.state.events.user_events("u150", snap.events_upto, 100)
    from synerec.service import engine

    res = engine.recommend(snap, "u150", overlay, 10, exclude_seen=True, explain=False,
                           event_weights=site.state.settings.event_weights)
    whys = explain_neighbor_list(snap, "u150", overlay, res.items, res.filled_from_popular,
                                 ItemCatalogue(snap.model), site.state.settings.event_weights)
    # brute force: the profile's terms w_i S_ij for each recommended item
    model = snap.model
    S = snap.similarity.toarray()
    u = model.users_.index("u150")
    profile = dict(zip(model.train_[u].indices.tolist(),
                       ((model.train_[u].data - 1) / 4).tolist(), strict=True))
    profile[model.items_.index("p010")] = 1.0  # a purchase: weight 3/3
    profile[model.items_.index("p020")] = 1.0  # rated 5 on 1..5
    for item, why in zip(res.items, whys, strict=True):
        j = model.items_.index(item)
        terms = sorted(((w * S[i, j], i) for i, w in profile.items() if w * S[i, j] > 0),
                       key=lambda t: (-t[0], t[1]))
        want = [model.items_.id(i) for _, i in terms[:2]]
        assert [c.item_id for c in why.items] == want
        assert why.text.startswith("Recommended because of your recent activity")


def test_text_index_is_the_brute_force_cosine_top_k() -> None:
    from synerec.algorithms.text_knn import center_rows
    from synerec.text import TfidfEncoder

    texts = ["red running shoes", "blue running shoes for trails", "espresso coffee maker",
             "drip coffee maker with timer", "noise cancelling headphones",
             "wireless headphones", "", "trail running shoes, waterproof"]
    vocab = Vocabulary([f"p{k}" for k in range(len(texts))])
    index = build_text_index(texts, vocab, "tfidf", 3)
    assert index is not None and index.encoder == "tfidf"
    E = TfidfEncoder().fit(texts).encode(texts)
    E[6] = 0.0
    C = center_rows(E)
    sims = C @ C.T
    for i in range(len(texts)):
        if i == 6:
            assert index.similar("p6", 3) == []
            continue
        order = [j for j in np.lexsort((np.arange(len(texts)), -sims[i]))
                 if j != i and sims[i, j] > 0][:3]
        got = index.similar(f"p{i}", 3)
        assert [g for g, _ in got] == [f"p{j}" for j in order]
        np.testing.assert_allclose([s for _, s in got], sims[i, order], rtol=1e-5)
    assert build_text_index(["", ""], Vocabulary(["a", "b"]), "auto", 3) is None
    assert build_text_index(texts, vocab, "none", 3) is None


def test_reports_are_recognised_by_their_keys(tmp_path: Path) -> None:
    evaluation = {"dataset": "demo-shop", "n": 10, "folds": [{"fold": "holdout"}],
                  "summary": {"item-cf": {"ndcg@10": 0.2, "precision@10": 0.1, "mae": 0.8},
                              "<b>x</b>": {"ndcg@10": 0.1, "precision@10": 0.05, "mae": 0.9}}}
    sweep = {"dataset": "ml-100k", "folds": ["u1"], "ks": [10, 20], "n": 10,
             "models": ["item-cf"], "results": [{"model": "item-cf", "k": 10, "mae": 0.75},
                                                {"model": "item-cf", "k": 20, "mae": 0.74}]}
    ablation = {"dataset": "ml-100k", "folds": ["u1"], "n": 10, "bootstrap": 1000,
                "rows": [{"label": "item-cf", "ndcg@10": 0.1, "coverage": 0.3},
                         {"label": "hybrid", "ndcg@10": 0.12, "coverage": 0.4,
                          "delta": {"ndcg@10": {"mean": 0.02, "low": 0.01, "high": 0.03}}}]}
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps(sweep))
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation))
    (tmp_path / "b.json").write_text(json.dumps(ablation))
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "broken.json").write_text("{not json")
    assert [classify(x) for x in (evaluation, sweep, ablation, {"x": 1}, [])] == \
        ["evaluation", "k-sweep", "ablation", None, None]
    reports = ReportFinder([tmp_path, tmp_path / "missing"]).reports("item-cf")
    assert [r.kind for r in reports] == ["evaluation", "k-sweep", "ablation"]
    ev, ks, ab = reports
    assert ev.rows[0] == ("item-cf", ["0.8000", "0.1000", "0.2000"], True)
    assert "&lt;b&gt;x&lt;/b&gt;" in "".join(ev.charts) and "<b>x</b>" not in "".join(ev.charts)
    assert ks.columns == ["K=10", "K=20"] and ks.rows == [("item-cf", ["0.7500", "0.7400"],
                                                           True)]
    assert ab.rows[1][1][0] == "0.1200 (+0.0200 [+0.0100, +0.0300])"


def test_charts_place_values_on_their_axes() -> None:
    svg = line_chart([10, 20], {"a": [1.0, 2.0]}, title="t", x_label="K", y_label="MAE")
    pts = re.search(r'points="([^"]+)"', svg).group(1).split()
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in pts)
    assert x0 < x1 and y0 > y1  # larger values are drawn higher
    bars = bar_chart(["m1", "m2"], {"s": [1.0, 3.0]}, title="t", y_label="v")
    heights = [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" '
                                            r'height="([^"]+)"', bars)]
    assert heights[1] == pytest.approx(3 * heights[0], rel=1e-2)
    counts = minute_bars([("10:00", 0), ("10:01", 2), ("10:02", 1)], title="t")
    assert "10:01: 2" in counts and "10:00: 0" not in counts
    assert "no values" in line_chart([], {}, title="t", x_label="x", y_label="y")


def test_categories_split_on_bars() -> None:
    assert split_categories("Action|Comedy") == ("Action", "Comedy")
    assert split_categories(None) == () and split_categories(float("nan")) == ()
    assert split_categories(" Tents ") == ("Tents",)


def test_a_customer_known_only_by_events_gets_a_page(client: httpx.Client) -> None:
    r = client.post("/v1/events", headers={"X-API-Key": API_KEY}, json={"events": [
        {"user_id": "walk-in", "item_id": "p033", "event": "cart"}]})
    assert r.status_code == 200
    page = client.get("/customers/walk-in", params={"show": "served"})
    assert page.status_code == 200
    assert "new customer" in page.text and "added to cart" in page.text
    assert page.text.count('data-role="rec"') == 10


def test_the_console_can_be_turned_off(console_models: tuple[Path, dict[str, Path]],
                                       tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from synerec.cli.serve_commands import console_extensions
    from synerec.console.settings import ConsoleSettings
    from synerec.service import ServiceSettings, create_app

    _, models = console_models
    app = create_app(ServiceSettings(model_dir=models["item-cf"], state_dir=tmp_path),
                     extensions=console_extensions(ConsoleSettings(enabled=False)))
    with TestClient(app) as c:
        assert c.get("/").status_code == 404 and c.get("/static/console.js").status_code == 404
        assert c.get("/healthz").status_code == 200
    assert not hasattr(app.state, "console")
