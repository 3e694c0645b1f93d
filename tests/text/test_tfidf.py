"""TfidfEncoder: hand-computed TF-IDF, SVD option, fitted-state naming, a real catalogue."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from synerec.data import load_dataset
from synerec.exceptions import ConfigError, NotFittedError
from synerec.text import EmbeddingCache, Encoder, TfidfEncoder, cached_encode, item_texts


def test_hand_computed_tfidf() -> None:
    enc = TfidfEncoder(ngram_range=(1, 1), sublinear_tf=False)
    out = enc.fit(["red dress", "red shoes", "blue dress"]).encode(
        ["red dress", "red shoes", "green hat", "", "red red shoes"])
    # vocabulary blue, dress, red, shoes; smooth idf = ln((1 + n) / (1 + df)) + 1, n = 3
    idf1, idf2 = math.log(4 / 2) + 1, math.log(4 / 3) + 1
    s = math.sqrt(0.5)
    np.testing.assert_allclose(out[0], [0, s, s, 0], atol=1e-6)
    v = np.array([0, 0, idf2, idf1])
    np.testing.assert_allclose(out[1], v / np.linalg.norm(v), atol=1e-6)
    np.testing.assert_array_equal(out[2], np.zeros(4))  # no known word
    np.testing.assert_array_equal(out[3], np.zeros(4))  # empty text
    v = np.array([0, 0, 2 * idf2, idf1])
    np.testing.assert_allclose(out[4], v / np.linalg.norm(v), atol=1e-6)
    assert out.dtype == np.float32 and enc.dimension == 4
    assert isinstance(enc, Encoder)


def test_word_pairs_are_features() -> None:
    enc = TfidfEncoder().fit(["red dress", "dress red"])
    assert set(enc.vectorizer_.vocabulary_) == {"red", "dress", "red dress", "dress red"}


def test_unfitted_encoder() -> None:
    enc = TfidfEncoder()
    with pytest.raises(NotFittedError):
        _ = enc.name
    with pytest.raises(NotFittedError):
        _ = enc.dimension
    out = enc.encode(["alpha beta", "beta gamma"])  # fits on what it is given
    assert enc.is_fitted and out.shape == (2, enc.dimension)
    with pytest.raises(ConfigError, match="non-empty"):
        TfidfEncoder().fit(["", "  "])


def test_name_follows_the_fitted_state() -> None:
    a = TfidfEncoder().fit(["red dress", "blue shoes"])
    b = TfidfEncoder().fit(["red dress", "blue shoes"])
    c = TfidfEncoder().fit(["red dress", "green shoes"])
    assert a.name == b.name != c.name
    assert a.name.startswith("tfidf-")
    d = TfidfEncoder(n_components=2).fit(["red dress", "blue shoes", "red shoes"])
    assert d.name.startswith("tfidf-svd2-")


def test_svd_gives_a_fixed_dimension() -> None:
    texts = [f"item {w} {v}" for w in ("red", "blue", "green") for v in ("dress", "hat", "bag")]
    enc = TfidfEncoder(n_components=4, random_state=0)
    out = enc.encode(texts)
    assert out.shape == (9, 4) and enc.dimension == 4
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out, TfidfEncoder(n_components=4, random_state=0).encode(texts))
    with pytest.raises(ConfigError, match="n_components"):
        TfidfEncoder(n_components=500).fit(texts)


def test_encode_sparse_matches_dense() -> None:
    enc = TfidfEncoder().fit(["red dress", "red shoes", "blue dress"])
    m = enc.encode_sparse(["red dress", "blue shoes"])
    np.testing.assert_allclose(m.toarray(), enc.encode(["red dress", "blue shoes"]), atol=1e-6)


def test_same_category_items_are_closer_on_demo_shop(tmp_path: Path) -> None:
    ds = load_dataset("demo-shop", random_state=42)
    texts = item_texts(ds)
    enc = TfidfEncoder(n_components=64)
    E = cached_encode(enc, texts, cache=EmbeddingCache(tmp_path))
    assert E.shape == (ds.n_items, 64)
    cats = ds.item_info.reindex(ds.items.ids)["category"].to_numpy()
    S = E @ E.T
    same = cats[:, None] == cats[None, :]
    np.fill_diagonal(same, False)
    off = ~same
    np.fill_diagonal(off, False)
    assert S[same].mean() > S[off].mean() + 0.2
    # the cached run gives the same matrix without refitting from scratch
    again = cached_encode(enc, texts, cache=EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(E, again)
