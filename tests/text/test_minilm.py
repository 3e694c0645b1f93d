"""The real all-MiniLM-L6-v2 from the bundled package, offline, on a handful of texts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synerec.data import InteractionDataset
from synerec.text import (
    CacheStats,
    EmbeddingCache,
    Encoder,
    EncoderError,
    SentenceTransformerEncoder,
    bundled_minilm_path,
    cached_encode,
    item_texts,
)

# four pairs of paraphrases
TEXTS = [
    "A red cotton summer dress",
    "Light crimson dress for warm days",
    "Stainless steel saucepan with lid",
    "Metal cooking pot and cover",
    "Cordless power drill with two batteries",
    "Battery-powered electric drill",
    "Organic green tea, 50 bags",
    "Fifty sachets of natural green tea",
]


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    enc = SentenceTransformerEncoder(device="cpu")
    enc.load()
    return enc


@pytest.fixture(scope="module")
def vectors(minilm: SentenceTransformerEncoder) -> np.ndarray:
    return minilm.encode(TEXTS)


def test_shape_norm_and_name(minilm: SentenceTransformerEncoder, vectors: np.ndarray) -> None:
    assert isinstance(minilm, Encoder)
    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.dimension == 384
    assert vectors.shape == (8, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_texts(vectors: np.ndarray) -> None:
    S = vectors @ vectors.T
    for a in range(0, 8, 2):
        pair = S[a, a + 1]
        others = [S[a, j] for j in range(8) if j not in (a, a + 1)]
        others += [S[a + 1, j] for j in range(8) if j not in (a, a + 1)]
        assert pair > max(others) + 0.1, (TEXTS[a], pair, max(others))


def test_deterministic_and_batch_independent(minilm: SentenceTransformerEncoder,
                                             vectors: np.ndarray) -> None:
    np.testing.assert_array_equal(minilm.encode(TEXTS), vectors)
    np.testing.assert_allclose(minilm.encode(TEXTS, batch_size=3), vectors, atol=1e-5)
    np.testing.assert_allclose(minilm.encode(TEXTS[5:6])[0], vectors[5], atol=1e-5)


def test_empty_text_gives_a_zero_row(minilm: SentenceTransformerEncoder,
                                     vectors: np.ndarray) -> None:
    out = minilm.encode(["", TEXTS[0], "   "])
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_array_equal(out[2], 0.0)
    np.testing.assert_allclose(out[1], vectors[0], atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


def test_matches_mean_pooling_by_hand(minilm: SentenceTransformerEncoder,
                                      vectors: np.ndarray) -> None:
    """Reference: the transformer itself, mean-pooled over the attention mask, normalised."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = bundled_minilm_path()
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tok(TEXTS[:3], padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    ref = torch.nn.functional.normalize(pooled, dim=1).numpy()
    np.testing.assert_allclose(vectors[:3], ref, atol=1e-5)


def test_movie_titles(minilm: SentenceTransformerEncoder, ml100k: InteractionDataset) -> None:
    texts = item_texts(ml100k)
    ids = [50, 172, 1, 71]  # Star Wars, The Empire Strikes Back, Toy Story, The Lion King
    E = minilm.encode([texts[ml100k.items.index(i)] for i in ids])
    S = E @ E.T
    assert S[0, 1] > S[0, 2] and S[0, 1] > S[0, 3]
    assert S[2, 3] > S[2, 0]  # the two animated films


def test_cached_encode_reuses_vectors(minilm: SentenceTransformerEncoder, vectors: np.ndarray,
                                      tmp_path: Path) -> None:
    stats = CacheStats()
    first = cached_encode(minilm, TEXTS, cache=EmbeddingCache(tmp_path), stats=stats)
    np.testing.assert_allclose(first, vectors, atol=1e-5)
    again = cached_encode(minilm, TEXTS, cache=EmbeddingCache(tmp_path), stats=stats)
    np.testing.assert_array_equal(again, first)
    assert (stats.hits, stats.misses) == (8, 8)


def test_missing_local_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="offline"):
        SentenceTransformerEncoder(str(tmp_path / "no-such-model"), device="cpu").load()


def test_import_does_not_load_torch() -> None:
    code = ("import sys, synerec, synerec.text, synerec.cli.text_commands\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'sklearn', 'httpx', "
            "'model2vec', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_loading_prints_no_progress_bar(capfd: pytest.CaptureFixture[str]) -> None:
    # transformers draws a "Loading weights" bar straight to stderr; under the K sweep's live
    # progress display each load left a stale line on the terminal.
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    SentenceTransformerEncoder(device="cpu").load()
    out, err = capfd.readouterr()
    assert "Loading weights" not in err + out and "it/s" not in err
    assert hf_logging.is_progress_bar_enabled()  # the setting is restored
