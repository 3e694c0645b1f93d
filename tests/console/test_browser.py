"""The console in a real browser: Debian's Chromium driven by Playwright, against a real server.

One server (item-cf served, user-cf and mf to compare, on the small demo shop) and one browser
for the module. With ``SYNEREC_SCREENSHOTS=docs/console`` the tests also write the screenshots
of docs/console.md (``make screenshots``).

Chromium must be at /usr/bin/chromium (``make browser`` installs it; ``make test`` depends on
it): without it these tests fail and say so, they never skip.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.console import API_KEY, ConsoleServer, console_server, optimise_png, screenshot_dir

pytestmark = pytest.mark.xdist_group("console-browser")

#: Customers the tests look at (the retrain test writes for its own customer only).
VIEWED, WRITER = "u004", "u012"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         console_models: tuple[Path, dict[str, Path]]) -> Iterator[ConsoleServer]:
    with console_server(tmp_path_factory.mktemp("console"), console_models[1]) as cs:
        yield cs


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save the page as docs/console/<name>.png when screenshots are asked for."""
    folder = screenshot_dir()
    if folder is None:
        return
    path = folder / f"{name}.png"
    page.evaluate("document.querySelectorAll('[data-role=toast]').forEach(t => t.hidden = true)")
    page.screenshot(path=str(path), full_page=full_page)
    optimise_png(path)


def served_ids(page: Any) -> list[str]:
    return page.locator("[data-role=rec-list][data-model=served] [data-role=rec]") \
        .evaluate_all("els => els.map(e => e.dataset.item)")


def test_customer_page_shows_ten_recommendations_with_explanations(page: Any,
                                                                   site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    model = site.state.store.current.model
    r = page.goto(f"/customers/{VIEWED}")
    assert r is not None and r.status == 200
    expect(page.locator("h1")).to_have_text(f"Customer {VIEWED}")
    served = page.locator("[data-role=rec-list][data-model=served] [data-role=rec]")
    expect(served).to_have_count(10)
    ids, _ = model.recommend([VIEWED], 10)
    assert served_ids(page) == [str(i) for i in ids[0]]  # the served model's own list
    titles = model.catalogue_["title"]
    u = model.users_.index(VIEWED)
    history = {str(model.items_.id(int(i))) for i in model.train_[u].indices}
    for k in range(10):
        rec = served.nth(k)
        item = rec.get_attribute("data-item")
        assert rec.locator("a.item").first.inner_text() == titles[model.items_.index(item)]
        why = rec.locator("[data-role=why]").inner_text()
        assert why.startswith("Recommended because"), why
        # the evidence cites the customer's own items, by title
        cited = rec.locator("details.evidence a.item").evaluate_all(
            "els => els.map(e => e.getAttribute('href').split('/').pop())")
        assert cited and set(cited) <= history
        for c in cited:
            assert titles[model.items_.index(c)] in why
    # the comparison models' lists beside it
    for label in ("user-cf", "mf"):
        expect(page.locator(f"[data-role=rec-list][data-model={label}] [data-role=rec]")) \
            .to_have_count(10)
    page.locator("[data-model=served] details.evidence summary").first.click()
    shot(page, "customer")
    # switch the comparison off: only the served list is left
    page.locator("form[data-role=model-switch] input[value=mf]").uncheck()
    page.wait_for_url(re.compile(r"show=served"))
    page.locator("form[data-role=model-switch] input[value=user-cf]").uncheck()
    page.wait_for_url(re.compile(r"^(?!.*user-cf).*$"))
    expect(page.locator("[data-role=rec-list]")).to_have_count(1)


def test_product_page_from_a_recommendation_shows_both_similar_lists(
        page: Any, site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    from synerec.service import engine

    page.goto(f"/customers/{VIEWED}")
    first = page.locator("[data-role=rec-list][data-model=served] [data-role=rec] a.item").first
    title = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/products/"))
    item = page.url.rsplit("/", 1)[-1]
    expect(page.locator("h1")).to_have_text(title)
    co = page.locator("[data-role=similar-co] [data-role=similar] a.item")
    text = page.locator("[data-role=similar-text] [data-role=similar] a.item")
    expect(co).to_have_count(10)
    expect(text).to_have_count(10)
    snap = site.state.store.current
    want = engine.similar(snap, item, 10, unknown="error").items
    assert co.evaluate_all("els => els.map(e => e.getAttribute('href').split('/').pop())") \
        == [str(i) for i in want]
    # by text: the text index's cosine neighbours (checked by brute force in test_pages.py)
    got = text.evaluate_all("els => els.map(e => e.getAttribute('href').split('/').pop())")
    index = site.console.text
    assert got == [str(i) for i, _ in index.similar(item, 10)]
    expect(page.locator("dl.fields")).to_contain_text("description")
    # who interacted with it: the item's training column, newest first
    model = snap.model
    raters = {str(model.users_.id(int(u))) for u in model.train_[:, model.items_.index(item)]
              .nonzero()[0]}
    shown = page.locator("table tbody tr td:first-child a").evaluate_all(
        "els => els.map(e => e.getAttribute('href').split('/').pop())")
    assert shown and set(shown) <= raters
    assert len(shown) == min(len(raters), 50)
    shot(page, "product")


def test_missing_customer_gets_a_helpful_page(page: Any, site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    r = page.goto("/customers/nobody-at-all")
    assert r is not None and r.status == 404
    expect(page.locator("h1")).to_have_text("No customer “nobody-at-all”")
    body = page.locator("main").inner_text()
    assert "Traceback" not in body and "knows 300 customers" in body
    shot(page, "missing-customer")
    page.locator("[data-role=missing] a.chip").first.click()
    page.wait_for_url(re.compile(r"/customers/u\d+"))
    expect(page.locator("[data-role=rec-list][data-model=served] [data-role=rec]")) \
        .to_have_count(10)
    # an id that is markup is shown as text, never run
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/customers/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    expect(page.locator("h1")).to_contain_text("<img src=x onerror=alert(1)>")
    assert dialogs == []


def test_a_wrong_key_gets_a_clear_message(page: Any, site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    before = site.state.events.count()
    page.goto(f"/customers/{VIEWED}")
    # without a key
    page.locator("[data-role=record-item]").fill("p010")
    page.locator("form[data-action=record] button").click()
    message = page.locator("section.write [data-role=message]")
    expect(message).to_contain_text("needs the API key")
    # with a wrong key
    page.locator("[data-role=key-input]").fill("not-the-key")
    page.locator("[data-role=key-form] button").click()
    expect(page.locator("[data-role=key-state]")).to_be_visible()
    page.locator("form[data-action=record] button").click()
    expect(message).to_contain_text("The server refused the API key (invalid API key)")
    expect(message).to_have_class(re.compile("error"))
    page.goto("/model")
    page.locator("[data-action=retrain]").click()
    expect(page.locator("section.write [data-role=message]")).to_contain_text(
        "The server refused the API key")
    assert site.state.events.count() == before
    assert "not-the-key" not in page.content()  # the key is never written into the page


def test_record_an_interaction_then_retrain_changes_the_list(page: Any,
                                                             site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"/customers/{WRITER}")
    before = served_ids(page)
    assert len(before) == 10
    bought = before[0]
    page.locator("[data-role=key-input]").fill(API_KEY)
    page.locator("[data-role=key-form] button").click()
    page.locator("[data-role=record-item]").fill(bought)
    page.locator("form[data-action=record] select[name=event]").select_option("purchase")
    page.locator("form[data-action=record] button").click()
    expect(page.locator("[data-role=toast]")).to_contain_text("Recorded event")
    # served at once from the event: the item leaves the list, its neighbours move up
    after_event = served_ids(page)
    assert len(after_event) == 10 and bought not in after_event and after_event != before
    expect(page.locator("[data-model=served] p.small").first).to_contain_text(
        "newer than the model")
    expect(page.locator("table.history tbody tr").first).to_contain_text("event, new")
    # retrain from the model page and follow the job
    page.goto("/model")
    page.locator("[data-action=retrain]").click()
    expect(page.locator("[data-role=progress-text]")).to_contain_text(
        "version 2 is now served", timeout=180_000)
    page.wait_for_load_state()
    expect(page.locator(".serving")).to_contain_text("version 2", timeout=20_000)
    expect(page.locator("table.jobs")).to_contain_text("succeeded")
    shot(page, "model", full_page=True)
    page.goto(f"/customers/{WRITER}")
    expect(page.locator("[data-model=served] .badge").first).to_have_text("served v2")
    after_retrain = served_ids(page)
    model = site.state.store.current.model
    ids, _ = model.recommend([WRITER], 10)
    assert after_retrain == [str(i) for i in ids[0]]  # the new model's own list
    assert bought not in after_retrain and after_retrain != before
    titles = page.locator("[data-model=served] .rec-line a.item").all_inner_texts()
    assert all(t and not t.startswith("product ") for t in titles), titles  # kept by retrains
    expect(page.locator("table.history")).to_contain_text("event, in the model")
    page.goto("/events")
    expect(page.locator("main table")).to_contain_text(f"customer {WRITER}")
    expect(page.locator("main table")).to_contain_text("in the model")


def test_events_page_shows_the_latest_events_and_a_count_per_minute(
        page: Any, site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    from synerec.service.events import EventRecord

    # a stream of events received over the last 25 minutes, by customers the other tests
    # do not look at
    state = site.state
    model = state.store.current.model
    now = time.time()
    rng = np.random.default_rng(3)
    per_minute: dict[int, int] = {}
    for k in range(60):
        at = now - 25 * 60 + k * 25.0
        user = model.users_.id(int(rng.integers(100, 300)))
        item = model.items_.id(int(rng.integers(0, 400)))
        kind = ["view", "cart", "purchase"][k % 3]
        rec = EventRecord(str(user), str(item), None, kind, at)
        state.events.add([rec], now=at)
        per_minute[int(at // 60)] = per_minute.get(int(at // 60), 0) + 1
    page.goto("/events")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(50)
    newest = state.events.events(after_id=state.events.max_id() - 1)[0]
    expect(rows.first).to_contain_text(f"customer {newest.user_id}")
    expect(rows.first).to_contain_text("not in the model yet")
    bars = page.locator("svg.chart rect title").evaluate_all(
        "els => els.map(e => e.textContent)")
    shown = {label: int(n) for label, n in (b.split(": ") for b in bars)}
    # every event received in the last hour, bucketed here by minute
    with sqlite3.connect(state.events.path) as conn:
        received = [r[0] for r in conn.execute("SELECT received_at FROM events")]
    now_minute = int(time.time() // 60)
    want: dict[str, int] = {}
    for t in received:
        if int(t // 60) > now_minute - 60:
            label = time.strftime("%H:%M", time.gmtime(int(t // 60) * 60))
            want[label] = want.get(label, 0) + 1
    assert shown == want and sum(want.values()) >= 60
    assert all(shown[time.strftime("%H:%M", time.gmtime(m * 60))] >= n
               for m, n in per_minute.items())
    shot(page, "events")


def test_read_keys_lock_the_pages_until_the_key_is_typed(page: Any,
                                                          site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    state = site.state
    old = getattr(state, "read_keys", None)
    state.read_keys = [b"reader-0123"]
    try:
        r = page.goto("/model")
        assert r is not None and r.status == 401
        expect(page.locator("[data-role=locked]")).to_contain_text("needs a key to read")
        page.locator("[data-role=key-input]").fill("reader-0123")
        page.locator("[data-role=key-form] button").click()
        expect(page.locator("h1")).to_contain_text("Model in service")
        page.locator("header nav a", has_text="Events").click()
        expect(page.locator("h1")).to_have_text("Events")
        page.locator("[data-action=forget-key]").click()
        page.locator("[data-role=key-input]").fill("wrong-reader")
        page.locator("[data-role=key-form] button").click()
        page.reload()
        expect(page.locator("[data-role=lock-message]")).to_contain_text("refused this key")
    finally:
        state.read_keys = old if old is not None else []


def test_overview_lists_customers_and_products(page: Any, site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    model = site.state.store.current.model
    page.goto("/")
    busiest = model.users_.id(int(np.argmax(model.user_count_)))
    expect(page.locator("main table").first).to_contain_text(f"customer {busiest}")
    page.locator("input[name=id]").fill("p001")
    page.locator("form.find button[value=product]").click()
    page.wait_for_url(re.compile(r"/products/p001$"))
    expect(page.locator("h1")).to_have_text(model.catalogue_["title"][model.items_.index("p001")])
