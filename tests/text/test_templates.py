"""Item texts from real catalogues and user profiles against a slow reference."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.data import InteractionDataset, load_dataset
from synerec.exceptions import ConfigError
from synerec.text import DEFAULT_MAX_CHARS, ItemTemplate, TemplateField, item_texts, user_profiles
from synerec.text.templates import truncate

# ---------------------------------------------------------------------------------------------
# item_texts on real data
# ---------------------------------------------------------------------------------------------

def test_ml100k_item_texts(ml100k: InteractionDataset) -> None:
    texts = item_texts(ml100k)
    assert len(texts) == ml100k.n_items == 1682
    at = {i: texts[ml100k.items.index(i)] for i in (1, 2, 3, 50)}
    assert at[1] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert at[2] == "GoldenEye (1995). Genres: Action, Adventure, Thriller"
    assert at[3] == "Four Rooms (1995). Genres: Thriller"
    assert at[50] == "Star Wars (1977). Genres: Action, Adventure, Romance, Sci-Fi, War"
    assert all(texts) and all("  " not in t and t == t.strip() for t in texts)
    # columns the template does not name (release date, IMDb URL) stay out
    assert not any("imdb" in t.lower() for t in texts)


def test_demo_shop_item_texts() -> None:
    ds = load_dataset("demo-shop", random_state=42)
    texts = item_texts(ds)
    assert len(texts) == ds.n_items
    info = ds.item_info.reindex(ds.items.ids)
    for i in (0, 1, 517, ds.n_items - 1):
        row = info.iloc[i]
        expected = (f"{row['title']}. Genres: {row['category']}. Brand: {row['brand']}. "
                    f"{row['description']}").rstrip(" .")
        assert texts[i] == expected
    assert not any(str(p) in t for t, p in zip(texts[:20], info["price"][:20], strict=True))


def _catalogue_dataset(items: pd.DataFrame) -> InteractionDataset:
    ids = list(items["item_id"])
    df = pd.DataFrame({"user_id": ["u"] * len(ids), "item_id": ids,
                       "rating": [3.0] * len(ids)})
    return InteractionDataset.from_dataframe(df, items=items, time_col=None,
                                             rating_scale=(1.0, 5.0))


def test_item_texts_optional_columns_and_whitespace() -> None:
    items = pd.DataFrame({
        "item_id": ["a", "b", "c", "d"],
        "title": ["  Red\n  Dress ", "Blue Jeans", "", "Gown"],
        "category": ["Women|  Dresses |", "", "", "Women"],
        "description": ["Light\tcotton.", "", "", ""],
        "brand": ["Acme", "", "", "Zed"],
        "tags": ["summer|party", "", "", ""],
        "review_summaries": ["Lovely\nToo short", "Great fit", "", ""],
    })
    texts = item_texts(_catalogue_dataset(items))
    assert texts == [
        "Red Dress. Genres: Women, Dresses. Brand: Acme. Light cotton. Tags: summer, party. "
        "Reviews: Lovely; Too short",
        "Blue Jeans. Reviews: Great fit",
        "",
        "Gown. Genres: Women. Brand: Zed",
    ]


def test_item_texts_truncated_at_a_word_boundary() -> None:
    items = pd.DataFrame({"item_id": ["x"], "title": ["word " * 400]})
    (text,) = item_texts(_catalogue_dataset(items))
    assert len(text) <= DEFAULT_MAX_CHARS
    assert text.endswith("word") and len(text) > DEFAULT_MAX_CHARS - 5
    short = ItemTemplate(fields=(TemplateField("title"),), max_chars=12)
    assert item_texts(_catalogue_dataset(items), short) == ["word word"]


def test_custom_template_and_missing_values() -> None:
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["Mug", "Cup"],
                          "price": [3.5, np.nan]})
    template = ItemTemplate(fields=(TemplateField("title"), TemplateField("price", "Price"),
                                    TemplateField("absent", "Never")), separator=" | ")
    assert item_texts(_catalogue_dataset(items), template) == ["Mug | Price: 3.5", "Cup"]


def test_field_rendering() -> None:
    assert TemplateField("tags", "Tags").render(["a", " b ", ""]) == "Tags: a, b"
    assert TemplateField("genres", "Genres", split="|").render("|") == ""
    assert TemplateField("x").render(float("nan")) == "" and TemplateField("x").render(None) == ""
    template = ItemTemplate(fields=(TemplateField("a"), TemplateField("b")))
    assert template.render({"a": "...", "b": "Done."}) == "Done"
    assert template.render({"a": "Mr. Smith.", "b": 7}) == "Mr. Smith. 7"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab c", max_size=60), st.integers(1, 30))
def test_truncate_is_a_bounded_prefix(text: str, max_chars: int) -> None:
    out = truncate(text, max_chars)
    assert len(out) <= max_chars
    assert text.startswith(out)
    if len(text) <= max_chars:
        assert out == text
    elif text[max_chars] != " " and re.search(r"\S +", text[:max_chars]):
        assert text[len(out)] == " " and out.strip()  # ends at a word boundary
    else:  # the limit is a word boundary, or there is none before it
        assert out == text[:max_chars].rstrip()


# ---------------------------------------------------------------------------------------------
# user_profiles
# ---------------------------------------------------------------------------------------------

def reference_profiles(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """One user at a time, straight from the definition (dense rows, explicit loops)."""
    out = np.zeros((X.shape[0], E.shape[1]))
    mask = X != 0
    for u in range(X.shape[0]):
        items = np.flatnonzero(mask[u])
        if len(items) == 0:
            continue
        mean = sum(X[u, i] for i in items) / len(items)
        weights = [X[u, i] - mean for i in items]
        if all(abs(w) <= 1e-9 * max(1.0, abs(mean)) for w in weights):
            weights = [1.0] * len(items)
        p = sum(w * E[i] for w, i in zip(weights, items, strict=True))
        norm = np.sqrt(sum(v * v for v in p))
        if norm > 0:
            out[u] = p / norm
    return out


def test_user_profiles_by_hand() -> None:
    E = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    X = sp.csr_matrix(np.array([[5.0, 1.0, 0.0],    # mean 3: weights +2, -2
                                [4.0, 4.0, 0.0],    # all weights 0: plain mean
                                [0.0, 0.0, 0.0],    # no ratings: zero row
                                [2.0, 0.0, 5.0]]))  # mean 3.5: -1.5 e0 + 1.5 e2
    P = user_profiles(X, E)
    assert P.dtype == np.float32 and P.shape == (4, 2)
    s = np.sqrt(0.5)
    np.testing.assert_allclose(P[0], [s, -s], atol=1e-6)
    np.testing.assert_allclose(P[1], [s, s], atol=1e-6)
    np.testing.assert_array_equal(P[2], [0.0, 0.0])
    v = -1.5 * E[0] + 1.5 * E[2]
    np.testing.assert_allclose(P[3], v / np.linalg.norm(v), atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 10), st.integers(1, 5), st.floats(0.0, 1.0),
       st.integers(0, 2**31 - 1), st.booleans())
def test_user_profiles_match_reference(n_users: int, n_items: int, d: int, density: float,
                                       seed: int, integer_ratings: bool) -> None:
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((n_users, n_items)) < density,
                     rng.integers(1, 6, (n_users, n_items)) if integer_ratings
                     else rng.uniform(0.5, 5.0, (n_users, n_items)), 0.0)
    E = rng.normal(size=(n_items, d))
    P = user_profiles(sp.csr_matrix(dense), E)
    np.testing.assert_allclose(P, reference_profiles(dense, E), atol=1e-5)
    norms = np.linalg.norm(P, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    assert not np.isnan(P).any()


def test_user_profiles_on_ml100k(ml100k: InteractionDataset) -> None:
    rng = np.random.default_rng(0)
    E = rng.normal(size=(ml100k.n_items, 8))
    X = ml100k.matrix
    P = user_profiles(X, E)
    assert P.shape == (ml100k.n_users, 8)
    rows = rng.choice(ml100k.n_users, 25, replace=False)
    np.testing.assert_allclose(P[rows], reference_profiles(X[rows].toarray(), E), atol=1e-5)


def test_user_profiles_rejects_mismatched_shapes() -> None:
    with pytest.raises(ConfigError, match="3 items"):
        user_profiles(sp.csr_matrix(np.ones((2, 3))), np.ones((4, 2)))
