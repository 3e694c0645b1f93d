"""The product page of a product added to a running service (issue 21): similar products and
likely buyers, for a new product too, without a retrain."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.console import API_KEY, console_server
from tests.service import fit_demo_model

KEY = {"X-API-Key": API_KEY}
SHOE = {"title": "Aerorun Tempo 9 Carbon Racing Flats - Blue",
        "text": "A cushioned carbon-plated running shoe for racing.", "category": "Running Shoes",
        "fields": {"brand": "Aerorun"}}


def _buyers(html: str) -> list[str]:
    section = html.split('data-role="likely-buyers"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'href="/customers/([^"]+)"', section)


def test_a_text_model_shows_similar_products_and_likely_buyers_of_a_new_product(
        tmp_path: Path, console_models: tuple[Path, dict[str, Path]]) -> None:
    root, models = console_models
    served = {**models, "item-cf": fit_demo_model(root / "models" / "text-knn", "text-knn")}
    with console_server(tmp_path, served) as cs, \
            httpx.Client(base_url=cs.url, timeout=60) as c:
        assert c.put("/v1/items/new-shoe", json=SHOE, headers=KEY).status_code == 200
        page = c.get("/products/new-shoe")
        assert page.status_code == 200
        html = page.text
        assert SHOE["title"] in html and 'data-role="new-product"' in html
        assert "Similar by the served model&#39;s text vectors" in html or \
            "Similar by the served model's text vectors" in html
        similar = html.split('data-role="similar-co"', 1)[1].split("</section>", 1)[0]
        assert len(re.findall(r'data-role="similar"', similar)) >= 5
        api = c.get("/v1/items/new-shoe/audience", params={"n": 10}).json()
        assert _buyers(html) == [u["user_id"] for u in api["users"]]
        # a warm product: its likely buyers are the model's own column
        warm = c.get("/products/p001").text
        api = c.get("/v1/items/p001/audience", params={"n": 10}).json()
        assert api["basis"] == "model" and _buyers(warm) == [u["user_id"] for u in api["users"]]


def test_a_cf_model_says_it_has_no_basis_for_a_new_product(
        tmp_path: Path, console_models: tuple[Path, dict[str, Path]]) -> None:
    with console_server(tmp_path, console_models[1]) as cs, \
            httpx.Client(base_url=cs.url, timeout=60) as c:
        assert c.put("/v1/items/cf-new", json=SHOE, headers=KEY).status_code == 200
        page = c.get("/products/cf-new")
        assert page.status_code == 200
        assert "item-cf does not score products it was not trained on" in page.text
        assert _buyers(page.text) == []
        # a warm product: eq. (S1) over the item-cf similarity
        warm = c.get("/products/p001").text
        api = c.get("/v1/items/p001/audience", params={"n": 10}).json()
        assert api["basis"] == "item_neighbors"
        assert _buyers(warm) == [u["user_id"] for u in api["users"]]
        assert c.get("/products/never-heard-of").status_code == 404
