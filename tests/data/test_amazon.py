"""Amazon Review Data (2018) loader: real 5-core file, metadata, malformed files, downloads."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synerec.data import amazon
from synerec.data.amazon import (
    CATEGORIES,
    category_slug,
    category_stem,
    download_amazon_2018,
    load_amazon_2018,
    strip_html,
)
from synerec.data.registry import dataset_info, load_dataset
from synerec.exceptions import ChecksumError, ConfigError, DataFormatError, DatasetNotFoundError
from tests.conftest import require_dataset

BEAUTY = "amazon-2018-all-beauty"


# -- helpers ------------------------------------------------------------------------------------
def write_gz_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def review(user: str, item: str, overall: Any, t: int, summary: str | None = None,
           vote: str | None = None) -> str:
    rec: dict[str, Any] = {"overall": overall, "verified": True, "reviewerID": user,
                           "asin": item, "unixReviewTime": t, "reviewText": "text"}
    if summary is not None:
        rec["summary"] = summary
    if vote is not None:
        rec["vote"] = vote
    return json.dumps(rec)


# 8 reviews, 6 distinct (user, item) pairs: (u1, A1) twice (line 4 is older than line 1) and
# (u2, A2) twice at the same time (line 8 comes later in the file).
REVIEWS = [
    review("u1", "A1", 5.0, 100, "Great card", "1,024"),
    review("u1", "A2", 3.0, 200, "Okay"),
    review("u2", "A1", 4.0, 300, "Nice", "3"),
    review("u1", "A1", 2.0, 50, "Great card"),
    review("u2", "A2", 1.0, 400, "Bad", "2"),
    review("u3", "A1", 5.0, 500, "Nice"),
    review("u3", "A3", 4.0, 600, "Works"),
    review("u2", "A2", 2.0, 400, "Worse"),
]

META = [
    json.dumps({"asin": "A1", "title": 'Gift Card, "Happy Birthday", 25$', "brand": "Amazon",
                "category": ["Gift Cards", "Occasions", "Birthday|Kids"],
                "description": ["<p>A <b>great</b> gift &amp; more.</p>",
                                "<ul><li>Never expires</li></ul>"],
                "feature": ["No fees", "Ships <i>free</i>"], "also_buy": ["A2"]}),
    # Python-literal line, as in the older dumps; description as a single string.
    "{'asin': 'A2', 'title': 'Plain card', 'category': ['Gift Cards'], "
    "'description': 'Single <br/>string'}",
    # A repeated product record: the first one is kept.
    json.dumps({"asin": "A1", "title": "Other title", "category": []}),
    # Nobody reviewed A4.
    json.dumps({"asin": "A4", "title": "Unreviewed", "category": ["Gift Cards", "Restaurants"]}),
]


def gift_cards(root: Path, meta: bool = True) -> Path:
    folder = root / "amazon-2018-gift-cards"
    write_gz_lines(folder / "Gift_Cards_5.json.gz", REVIEWS)
    if meta:
        write_gz_lines(folder / "meta_Gift_Cards.json.gz", META)
    return folder


def pairs(ds) -> dict[tuple[str, str], tuple[float, int]]:  # type: ignore[no-untyped-def]
    df = ds.to_dataframe()
    return {(u, i): (r, t) for u, i, r, t in df[["user_id", "item_id", "rating",
                                                 "timestamp"]].itertuples(index=False)}


# -- real data ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def beauty(data_home: Path):  # type: ignore[no-untyped-def]
    folder = require_dataset(BEAUTY, "All_Beauty_5.json.gz")
    return folder, load_amazon_2018(folder)


def test_all_beauty_sizes(beauty) -> None:  # type: ignore[no-untyped-def]
    _, ds = beauty
    assert ds.name == BEAUTY
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (991, 85, 4092)
    assert ds.rating_scale == (1.0, 5.0)
    assert ds.values.min() >= 1 and ds.values.max() <= 5
    assert set(np.unique(ds.values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ds.matrix.nnz == 4092
    # No metadata file: titles empty, but every item has review summaries as text.
    assert (ds.item_info["title"] == "").all()
    assert (ds.item_info["review_summaries"].str.len() > 0).all()
    counts = ds.item_info["review_summaries"].str.count("\n") + 1
    assert counts.max() == 5


def test_all_beauty_latest_review_wins(beauty) -> None:  # type: ignore[no-untyped-def]
    folder, ds = beauty
    with gzip.open(folder / "All_Beauty_5.json.gz", "rt", encoding="utf-8") as fh:
        raw = pd.DataFrame([json.loads(line) for line in fh])
    assert len(raw) == 5269
    expected = (raw.reset_index().sort_values(["unixReviewTime", "index"])
                .drop_duplicates(["reviewerID", "asin"], keep="last"))
    assert len(expected) == 4092
    want = {(u, i): (float(r), int(t)) for u, i, r, t in
            expected[["reviewerID", "asin", "overall", "unixReviewTime"]].itertuples(index=False)}
    assert pairs(ds) == want
    # Some duplicates disagree on the rating, so the policy matters.
    disagree = raw.groupby(["reviewerID", "asin"])["overall"].nunique()
    assert (disagree > 1).sum() == 18


# -- categories and the registry ----------------------------------------------------------------
def test_29_categories_resolve() -> None:
    assert len(CATEGORIES) == 29 == len(set(CATEGORIES))
    for stem in CATEGORIES:
        name = "amazon-2018-" + category_slug(stem)
        info = dataset_info(name)
        assert info.name == name
        assert info.files == (f"{stem}_5.json.gz",)
        assert info.optional_files == (f"meta_{stem}.json.gz",)
        assert category_stem(name) == category_stem(stem) == stem
    assert category_slug("Gift_Cards") == "gift-cards"
    assert category_stem("amazon-2018-all-beauty") == "All_Beauty"
    assert category_stem("Clothing_Shoes_and_Jewelry") == "Clothing_Shoes_and_Jewelry"


def test_unknown_category_lists_valid_ones() -> None:
    with pytest.raises(DatasetNotFoundError) as exc:
        dataset_info("amazon-2018-shoes")
    msg = str(exc.value)
    assert "'shoes'" in msg or "amazon-2018-shoes" in msg
    for stem in CATEGORIES:
        assert "amazon-2018-" + category_slug(stem) in msg
    with pytest.raises(DatasetNotFoundError, match="amazon-2018-gift-cards"):
        category_stem("Gift Cards 2014")


def test_loader_through_registry(tmp_path: Path) -> None:
    gift_cards(tmp_path)
    ds = load_dataset("amazon-2018-gift-cards", data_home=tmp_path, download=False)
    assert ds.name == "amazon-2018-gift-cards"
    assert ds.n_interactions == 6


# -- synthetic files in the publisher's format --------------------------------------------------
def test_reviews_and_metadata(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = gift_cards(tmp_path)
    with caplog.at_level(logging.INFO):
        ds = load_amazon_2018(folder)
    assert "8 reviews -> 6 (user, item) pairs" in caplog.text
    assert ds.items.ids.tolist() == ["A1", "A2", "A3"]
    assert sorted(ds.users.ids.tolist()) == ["u1", "u2", "u3"]
    assert pairs(ds) == {
        ("u1", "A1"): (5.0, 100),  # line 1 (t=100) beats the older line 4 (t=50)
        ("u1", "A2"): (3.0, 200),
        ("u2", "A1"): (4.0, 300),
        ("u2", "A2"): (2.0, 400),  # same time as line 5: the later line wins
        ("u3", "A1"): (5.0, 500),
        ("u3", "A3"): (4.0, 600),
    }
    info = ds.item_info
    assert info.loc["A1", "title"] == 'Gift Card, "Happy Birthday", 25$'
    assert info.loc["A1", "brand"] == "Amazon"
    assert info.loc["A1", "category"] == "Occasions|Birthday/Kids"
    assert info.loc["A1", "description"] == "A great gift & more. Never expires"
    assert info.loc["A1", "feature"] == "No fees; Ships free"
    assert info.loc["A2", "title"] == "Plain card"
    assert info.loc["A2", "category"] == ""
    assert info.loc["A2", "description"] == "Single string"
    assert info.loc["A3", "title"] == ""  # no metadata record
    assert info.loc["A3", "description"] == ""
    assert ds.item_categories() == [("Occasions", "Birthday/Kids"), (), ()]
    # Most voted first, then most recent; repeated texts once.
    assert info.loc["A1", "review_summaries"] == "Great card\nNice"
    assert info.loc["A2", "review_summaries"] == "Bad\nWorse\nOkay"
    assert info.loc["A3", "review_summaries"] == "Works"


def test_duplicate_policies_and_options(tmp_path: Path) -> None:
    folder = gift_cards(tmp_path)
    first = pairs(load_amazon_2018(folder, duplicates="first"))
    assert first[("u1", "A1")] == (2.0, 50)
    assert first[("u2", "A2")] == (1.0, 400)
    mean = pairs(load_amazon_2018(folder, duplicates="mean"))
    assert mean[("u1", "A1")][0] == pytest.approx(3.5)
    with pytest.raises(DataFormatError, match="duplicate"):
        load_amazon_2018(folder, duplicates="error")

    short = load_amazon_2018(folder, n_summaries=2).item_info
    assert short.loc["A2", "review_summaries"] == "Bad\nWorse"
    with pytest.raises(ConfigError):
        load_amazon_2018(folder, n_summaries=-1)

    cold = load_amazon_2018(folder, keep_all_items=True)
    assert cold.items.ids.tolist() == ["A1", "A2", "A3", "A4"]
    assert cold.matrix.shape == (3, 4) and cold.matrix[:, 3].nnz == 0
    assert cold.item_info.loc["A4", "title"] == "Unreviewed"
    assert cold.item_info.loc["A4", "category"] == "Restaurants"
    assert cold.item_info.loc["A4", "review_summaries"] == ""

    no_meta = load_amazon_2018(folder, meta=False).item_info
    assert (no_meta["title"] == "").all()
    assert no_meta.loc["A1", "review_summaries"] == "Great card\nNice"


def test_without_meta_file_uses_folder_category(tmp_path: Path) -> None:
    folder = gift_cards(tmp_path, meta=False)
    ds = load_amazon_2018(folder)
    assert ds.name == "amazon-2018-gift-cards"
    assert list(ds.item_info.columns) == ["title", "brand", "category", "description", "feature",
                                         "review_summaries"]
    assert (ds.item_info["title"] == "").all()
    other = tmp_path / "somewhere"  # a folder name that does not say the category
    write_gz_lines(other / "Gift_Cards_5.json.gz", REVIEWS)
    assert load_amazon_2018(other, "Gift_Cards").n_interactions == 6
    with pytest.raises(DatasetNotFoundError, match="unknown Amazon 2018 category"):
        load_amazon_2018(other)
    with pytest.raises(DatasetNotFoundError, match=r"Books_5\.json\.gz"):
        load_amazon_2018(other, "books")


def test_strip_html() -> None:
    assert strip_html("<div class='x'>Tom &amp; Jerry<br/>2</div>") == "Tom & Jerry 2"
    assert strip_html("<script>var a = '<b>';</script>Text") == "Text"
    assert strip_html(["<p>a</p>", "", "b"]) == "a b"
    assert strip_html(None) == "" and strip_html(float("nan")) == ""


# -- malformed files ----------------------------------------------------------------------------
def reviews_file(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "amazon-2018-gift-cards"
    write_gz_lines(folder / "Gift_Cards_5.json.gz", lines)
    return folder


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    folder = reviews_file(tmp_path, [REVIEWS[0], '{"overall": 5.0, "reviewerID": "u9"', REVIEWS[1]])
    with pytest.raises(DataFormatError) as exc:
        load_amazon_2018(folder)
    assert exc.value.path is not None and exc.value.path.endswith("Gift_Cards_5.json.gz")
    assert exc.value.line == 2
    assert "Gift_Cards_5.json.gz, line 2" in str(exc.value)
    assert "invalid JSON" in str(exc.value)


def test_non_numeric_rating_names_line_column_value(tmp_path: Path) -> None:
    folder = reviews_file(tmp_path, [*REVIEWS[:2], review("u7", "A1", "five", 10)])
    with pytest.raises(DataFormatError) as exc:
        load_amazon_2018(folder)
    assert (exc.value.line, exc.value.column, exc.value.value) == (3, "overall", "five")
    assert "line 3, column 'overall': expected a number: 'five'" in str(exc.value)


def test_rating_outside_scale(tmp_path: Path) -> None:
    folder = reviews_file(tmp_path, [*REVIEWS[:3], review("u7", "A1", 7, 10)])
    with pytest.raises(DataFormatError, match=r"outside the scale 1\.\.5") as exc:
        load_amazon_2018(folder)
    assert exc.value.line == 4


def test_missing_reviewer_id(tmp_path: Path) -> None:
    rec = json.loads(REVIEWS[1])
    del rec["reviewerID"]
    folder = reviews_file(tmp_path, [REVIEWS[0], json.dumps(rec)])
    with pytest.raises(DataFormatError) as exc:
        load_amazon_2018(folder)
    assert (exc.value.line, exc.value.column) == (2, "reviewerID")
    assert "Gift_Cards_5.json.gz, line 2, column 'reviewerID': review has no 'reviewerID'" in str(
        exc.value)


def test_truncated_gzip_names_file(tmp_path: Path) -> None:
    folder = reviews_file(tmp_path, [review(f"u{k}", f"A{k % 7}", 1 + k % 5, k, f"s{k}")
                                     for k in range(300)])
    path = folder / "Gift_Cards_5.json.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated gz file") as exc:
        load_amazon_2018(folder)
    assert exc.value.path == str(path)


def test_truncated_meta_names_file(tmp_path: Path) -> None:
    folder = gift_cards(tmp_path)
    meta = folder / "meta_Gift_Cards.json.gz"
    data = meta.read_bytes()
    meta.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError) as exc:
        load_amazon_2018(folder)
    assert exc.value.path == str(meta)


# -- downloads ----------------------------------------------------------------------------------
@pytest.fixture
def server(file_server: tuple[Path, str]) -> tuple[Path, str]:
    """The publisher's site: a folder served on 127.0.0.1 (see tests/conftest.py)."""
    return file_server


def publish(server: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, meta: bool = True,
            sha256: str | None = "auto") -> Path:
    root, url = server
    src = gift_cards(root / "src", meta=meta)
    (root / "reviews").mkdir()
    (root / "meta").mkdir()
    (src / "Gift_Cards_5.json.gz").rename(root / "reviews" / "Gift_Cards_5.json.gz")
    if meta:
        (src / "meta_Gift_Cards.json.gz").rename(root / "meta" / "meta_Gift_Cards.json.gz")
    digest = hashlib.sha256((root / "reviews" / "Gift_Cards_5.json.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(amazon, "REVIEWS_URL_BASE", f"{url}/reviews/")
    monkeypatch.setattr(amazon, "META_URL_BASE", f"{url}/meta/")
    monkeypatch.setattr(amazon, "REVIEWS_SHA256", {} if sha256 is None else
                        {"Gift_Cards": digest if sha256 == "auto" else sha256})
    return root


def test_download_then_load(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                            tmp_path: Path) -> None:
    publish(server, monkeypatch)
    home = tmp_path / "home"
    ds = load_dataset("amazon-2018-gift-cards", data_home=home)
    folder = home / "amazon-2018-gift-cards"
    assert sorted(p.name for p in folder.iterdir()) == ["Gift_Cards_5.json.gz",
                                                        "meta_Gift_Cards.json.gz"]
    assert ds.n_interactions == 6
    assert ds.item_info.loc["A1", "title"] == 'Gift Card, "Happy Birthday", 25$'


def test_download_without_meta_is_not_fatal(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                            tmp_path: Path, caplog: pytest.LogCaptureFixture
                                            ) -> None:
    publish(server, monkeypatch, meta=False, sha256=None)
    folder = tmp_path / "home" / "amazon-2018-gift-cards"
    with caplog.at_level(logging.WARNING):
        download_amazon_2018(folder, show_progress=False)
    assert "meta_Gift_Cards.json.gz could not be downloaded" in caplog.text
    assert "has no published checksum" in caplog.text
    assert [p.name for p in folder.iterdir()] == ["Gift_Cards_5.json.gz"]
    ds = load_amazon_2018(folder)
    assert (ds.item_info["title"] == "").all() and ds.n_interactions == 6


def test_checksum_mismatch_leaves_nothing(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                          tmp_path: Path) -> None:
    publish(server, monkeypatch, sha256="0" * 64)
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_dataset("amazon-2018-gift-cards", data_home=home)
    folder = home / "amazon-2018-gift-cards"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_corrupt_gzip_without_checksum_leaves_nothing(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    root = publish(server, monkeypatch, sha256=None)
    served = root / "reviews" / "Gift_Cards_5.json.gz"
    served.write_bytes(served.read_bytes()[:-12])  # cut the CRC and length trailer
    folder = tmp_path / "home" / "amazon-2018-gift-cards"
    with pytest.raises(ChecksumError, match="not a complete gzip file"):
        download_amazon_2018(folder, show_progress=False)
    assert list(folder.iterdir()) == []


def test_missing_file_on_server(server, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                tmp_path: Path) -> None:
    root = publish(server, monkeypatch)
    (root / "reviews" / "Gift_Cards_5.json.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        load_dataset("amazon-2018-gift-cards", data_home=tmp_path / "home")
    with pytest.raises(DatasetNotFoundError, match=r"missing Gift_Cards_5\.json\.gz"):
        load_dataset("amazon-2018-gift-cards", data_home=tmp_path / "home", download=False)
