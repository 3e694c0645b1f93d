"""The placements page in a real browser (Chromium, as the console's other browser tests):
editing a placement's rules changes the previewed list (issue 24)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console import API_KEY, ConsoleServer, console_server

pytestmark = pytest.mark.xdist_group("console-browser")

CUSTOMER = "u004"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         console_models: tuple[Path, dict[str, Path]]) -> Iterator[ConsoleServer]:
    with console_server(tmp_path_factory.mktemp("placements"), console_models[1]) as cs:
        yield cs


def previewed(page: Any, which: str = "placement") -> list[str]:
    return page.locator(f"[data-role=rec-list][data-model={which}] [data-role=rec]") \
        .evaluate_all("els => els.map(e => e.dataset.item)")


def test_editing_a_placements_rules_changes_the_previewed_list(page: Any,
                                                               site: ConsoleServer) -> None:
    from playwright.sync_api import expect

    r = httpx.put(f"{site.url}/v1/placements/home", json={"in_stock": True},
                  headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    model = site.state.store.current.model
    category = {str(model.items_.id(i)): str(c)
                for i, c in enumerate(model.catalogue_["category"])}

    page.goto("/placements")
    expect(page.locator("[data-role=placement][data-name=home]")).to_contain_text("in_stock")
    page.goto(f"/placements/home?customer={CUSTOMER}")
    before = previewed(page)
    assert len(before) == 10 and before == previewed(page, "plain")  # all in stock
    dropped = category[before[0]]

    # type the key, edit the rules, save: the page reloads with the new preview
    page.locator("[data-role=key-input]").fill(API_KEY)
    page.locator("[data-role=key-form] button").click()
    editor = page.locator("[data-role=rules-text]")
    editor.fill(json.dumps({"in_stock": True, "exclude_categories": [dropped],
                            "cap": [{"attr": "category", "max": 1}]}))
    with page.expect_navigation():
        page.locator("[data-action=save-rules]").click()
    expect(page.locator("h1")).to_have_text("Placement home")
    after = previewed(page)
    assert after != before and len(after) == 10
    cats = [category[i] for i in after]
    assert dropped not in cats and len(set(cats)) == len(cats)
    # the same list as the API gives for that placement
    api = httpx.get(f"{site.url}/v1/users/{CUSTOMER}/recommendations",
                    params={"placement": "home", "n": 10}).json()
    assert [str(i["item_id"]) for i in api["items"]] == after
    # kept in the state store
    saved = httpx.get(f"{site.url}/v1/placements/home").json()
    assert saved["source"] == "saved" and saved["rules"]["exclude_categories"] == [dropped]

    # a bad rule is refused with the server's one-line message, nothing saved
    editor.fill('{"cap": [{"attr": "category", "max": 0}]}')
    page.locator("[data-action=save-rules]").click()
    expect(page.locator("[data-role=rules-message]")).to_contain_text(
        "Not saved: body: invalid rules: cap[0].max: a whole number >= 1, not 0")
    assert previewed(page) == after
