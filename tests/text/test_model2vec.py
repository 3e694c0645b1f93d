"""Model2VecEncoder on a tiny static model built here with model2vec's own API (no network).

The real distillation from MiniLM takes minutes on two cores: bench/embed_speed.py runs it.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from synerec.exceptions import ConfigError
from synerec.text import (
    EmbeddingCache,
    Encoder,
    EncoderError,
    Model2VecEncoder,
    cached_encode,
    default_model2vec_path,
    distill_minilm,
)

VOCAB = ["[PAD]", "[UNK]", "red", "dress", "blue", "shoes", "tea"]


def tiny_model(seed: int = 0) -> object:
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    vectors = np.random.default_rng(seed).normal(size=(len(VOCAB), 4)).astype(np.float32)
    return StaticModel(vectors, tok, normalize=False)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, np.ndarray]:
    model = tiny_model()
    folder = tmp_path / "tiny-m2v"
    model.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder, np.asarray(model.embedding, dtype=np.float64)  # type: ignore[attr-defined]


def test_mean_of_token_vectors(tiny: tuple[Path, np.ndarray]) -> None:
    folder, table = tiny
    enc = Model2VecEncoder(folder)
    assert isinstance(enc, Encoder) and enc.dimension == 4
    out = enc.encode(["red dress", "blue shoes tea", "unknown words", "", "dress"])
    assert out.shape == (5, 4) and out.dtype == np.float32

    def ref(*words: str) -> np.ndarray:
        v = np.mean([table[VOCAB.index(w)] for w in words], axis=0)
        return v / np.linalg.norm(v)

    np.testing.assert_allclose(out[0], ref("red", "dress"), atol=1e-6)
    np.testing.assert_allclose(out[1], ref("blue", "shoes", "tea"), atol=1e-6)
    np.testing.assert_array_equal(out[2], 0.0)  # only unknown tokens
    np.testing.assert_array_equal(out[3], 0.0)  # empty
    np.testing.assert_allclose(out[4], ref("dress"), atol=1e-6)
    np.testing.assert_allclose(enc.encode(["red dress"] * 5, batch_size=2),
                               np.repeat(out[:1], 5, axis=0), atol=1e-7)


def test_name_follows_the_weights(tiny: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, _ = tiny
    name = Model2VecEncoder(folder).name
    assert name.startswith("model2vec/tiny-m2v-") and name == Model2VecEncoder(folder).name
    other = tmp_path / "other" / "tiny-m2v"
    tiny_model(seed=1).save_pretrained(other)  # type: ignore[attr-defined]
    assert Model2VecEncoder(other).name != name


def test_through_the_cache(tiny: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, _ = tiny
    texts = ["red dress", "blue shoes", "tea"]
    first = cached_encode(Model2VecEncoder(folder), texts, cache=EmbeddingCache(tmp_path / "c"))
    cache = EmbeddingCache(tmp_path / "c")
    assert cache.count(Model2VecEncoder(folder).name) == 3
    np.testing.assert_array_equal(first, Model2VecEncoder(folder).encode(texts))


def test_missing_model_explains_how_to_build_it(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path))
    assert default_model2vec_path() == tmp_path / "models" / "minilm-m2v"
    with pytest.raises(EncoderError, match="synerec text distill"):
        Model2VecEncoder().encode(["red"])
    with pytest.raises(EncoderError, match="no model2vec model"):
        Model2VecEncoder(tmp_path / "nowhere").encode(["red"])


def test_encoding_needs_no_torch(tiny: tuple[Path, np.ndarray]) -> None:
    folder, _ = tiny
    code = ("import sys\nfrom synerec.text import Model2VecEncoder\n"
            f"out = Model2VecEncoder({str(folder)!r}).encode(['red dress'])\n"
            "assert out.shape == (1, 4)\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _fake_distill(monkeypatch: pytest.MonkeyPatch, calls: list[dict], fail: bool = False) -> None:
    """Stand in for model2vec.distill (minutes of CPU) with the tiny model: the file handling
    around it is what these tests check."""
    def distill(**kwargs: object) -> object:
        calls.append(kwargs)
        model = tiny_model(seed=len(calls))
        if fail:
            def broken_save(path: Path, **_: object) -> None:
                Path(path).mkdir(parents=True)
                (Path(path) / "model.safetensors").write_bytes(b"half")
                raise OSError("killed while saving")
            model.save_pretrained = broken_save  # type: ignore[attr-defined]
        return model

    monkeypatch.setitem(sys.modules, "model2vec.distill", types.SimpleNamespace(distill=distill))


def test_distill_writes_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    _fake_distill(monkeypatch, calls)
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path))
    path = distill_minilm(pca_dims=64, device="cpu")
    assert path == tmp_path / "models" / "minilm-m2v"
    assert calls[0]["pca_dims"] == 64 and Path(str(calls[0]["model_name"])).is_dir()
    assert Model2VecEncoder().encode(["red"]).shape == (1, 4)
    first = Model2VecEncoder().name
    assert distill_minilm(device="cpu") == path and len(calls) == 1  # kept, not redone
    distill_minilm(device="cpu", overwrite=True)
    assert len(calls) == 2 and Model2VecEncoder().name != first
    assert sorted(p.name for p in path.parent.iterdir()) == ["minilm-m2v"]  # no leftovers


def test_interrupted_distill_keeps_the_old_model(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    _fake_distill(monkeypatch, calls)
    target = tmp_path / "m2v"
    distill_minilm(target, device="cpu")
    name = Model2VecEncoder(target).name
    _fake_distill(monkeypatch, calls, fail=True)
    with pytest.raises(OSError, match="killed while saving"):
        distill_minilm(target, device="cpu", overwrite=True)
    assert Model2VecEncoder(target).name == name  # the old model, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m2v"]
    with pytest.raises(ConfigError, match="pca_dims"):
        distill_minilm(tmp_path / "x", pca_dims=1000)
