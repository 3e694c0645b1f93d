"""The console's experiments pages in Chromium (Playwright), against a real server: an
experiment's page shows both variants' figures, as the JSON API computes them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console import API_KEY, ConsoleServer, console_server
from tests.console.test_browser import shot

pytestmark = pytest.mark.xdist_group("console-browser")

KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         console_models: tuple[Path, dict[str, Path]]) -> Iterator[ConsoleServer]:
    with console_server(tmp_path_factory.mktemp("console-exp"), console_models[1]) as cs:
        yield cs


@pytest.fixture(scope="module")
def experiment(site: ConsoleServer) -> dict[str, Any]:
    """An experiment served item-cf against mf, with traffic: lists, clicks, purchases."""
    rng = random.Random(5)
    with httpx.Client(base_url=site.url, timeout=30) as c:
        r = c.post("/v1/experiments", headers=KEY, json={
            "name": "cf-vs-mf", "variants": [
                {"name": "item-cf", "share": 0.5},
                {"name": "mf", "share": 0.5, "model_dir": str(site.models["mf"])}]})
        assert r.status_code == 201, r.text
        events = []
        for k in range(1, 121):
            user = f"u{k:03d}"
            body = c.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
            assert body["experiment"] == "cf-vs-mf"
            items = [e["item_id"] for e in body["items"]]
            if rng.random() < 0.4:
                events.append({"user_id": user, "item_id": items[0], "event": "click",
                               "rec_id": body["rec_id"]})
            if rng.random() < 0.2:
                events.append({"user_id": user, "item_id": items[1], "event": "purchase",
                               "rec_id": body["rec_id"], "value": round(rng.uniform(5, 60), 2)})
        assert c.post("/v1/events", headers=KEY, json={"events": events}).status_code == 200
        got: dict[str, Any] = c.get("/v1/experiments/cf-vs-mf").json()
    return got


def test_an_experiments_page_shows_both_variants_figures(page: Any,
                                                         experiment: dict[str, Any]) -> None:
    results = {r["variant"]: r for r in experiment["results"]}
    assert set(results) == {"item-cf", "mf"}
    assert all(r["users"] > 20 and r["clicks"] > 0 for r in results.values())
    page.goto("/experiments")
    page.get_by_role("link", name="Experiments").first.wait_for()
    card = page.locator('[data-role=experiment][data-name="cf-vs-mf"]')
    assert card.locator("tr[data-variant]").count() == 2
    card.get_by_role("link", name="cf-vs-mf").click()
    page.wait_for_url("**/experiments/cf-vs-mf")
    assert page.locator("h1").inner_text() == "Experiment cf-vs-mf"
    table = page.locator("[data-role=results]")
    for name, r in results.items():
        row = table.locator(f'tr[data-variant="{name}"]')
        assert row.locator("[data-figure=users]").inner_text() == f"{r['users']:,}"
        ctr = row.locator("[data-figure=ctr]").inner_text()
        assert ctr.startswith(f"{100 * r['ctr']:.2f} %")
        lo, hi = r["ctr_ci"]
        assert f"{100 * lo:.2f} % – {100 * hi:.2f} %" in ctr
        conv = row.locator("[data-figure=conversion]").inner_text()
        assert conv.startswith(f"{100 * r['conversion']:.2f} %")
        assert row.locator("[data-figure=rpu]").inner_text().startswith(
            f"{r['revenue_per_user']:,.2f}")
    diff = page.locator('[data-role=differences] tr[data-variant="mf"]')
    vs = results["mf"]["vs_control"]
    assert f"{100 * vs['ctr_diff']:.2f} %" in diff.inner_text()
    # the chart: one per figure, a dot per variant
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    assert charts.first.locator("circle").count() == 2
    # the CSV export link answers the CSV of the same figures
    href = page.locator("[data-role=csv]").get_attribute("href")
    assert href == "/v1/experiments/cf-vs-mf/results.csv"
    csv_text = page.request.get(href).text()
    assert csv_text.splitlines()[0].startswith("variant,control,share,users")
    assert len(csv_text.splitlines()) == 3
    shot(page, "experiment", full_page=True)
    # the model page shows the experiment's figures per variant too, linked to its page
    page.goto("/model")
    card = page.locator('[data-role=experiment][data-name="cf-vs-mf"]')
    for name, r in results.items():
        row = card.locator(f'tr[data-variant="{name}"]')
        assert row.locator("td").nth(2).inner_text() == f"{r['users']:,}"
    assert card.get_by_role("link", name="cf-vs-mf").get_attribute("href") == \
        "/experiments/cf-vs-mf"
    shot(page, "model-experiments", full_page=True)


def test_an_unknown_experiment_is_a_404_page(page: Any) -> None:
    r = page.goto("/experiments/none-such")
    assert r.status == 404
    assert "no experiment called none-such" in page.content().lower()
