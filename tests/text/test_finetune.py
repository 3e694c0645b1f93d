"""Fine-tuning all-MiniLM-L6-v2 on interactions: examples, both objectives, files (real MiniLM,
tiny data, a few steps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import synerec.text.finetune as ft
from synerec.algorithms import TrainingData
from synerec.data import InteractionDataset
from synerec.data.splits import cold_item_split
from synerec.exceptions import ConfigError, ModelFileError
from synerec.text import Encoder, SentenceTransformerEncoder, item_texts
from synerec.text.finetune import (
    MANIFEST,
    FinetunedEncoder,
    co_interaction_pairs,
    finetune,
    finetune_encoder,
    load_finetuned_encoder,
)

TITLES = ["red cotton dress", "crimson summer dress", "steel saucepan", "cooking pot",
          "power drill", "cordless drill", "green tea", "herbal tea", "garden hose",
          "watering can", "wool scarf", ""]


def shop(seed: int = 0) -> InteractionDataset:
    """Users buy within a theme (items 2k, 2k + 1), in time order; item 11 has no text."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(24):
        themes = rng.choice(5, size=2, replace=False)
        t = 0
        for theme in themes:
            for item in (2 * theme, 2 * theme + 1):
                rows.append((f"u{u}", f"i{item}", 1.0, t))
                t += 100
        if u % 4 == 0:
            rows.append((f"u{u}", "i11", 1.0, t))
        if u % 6 == 0:
            rows.append((f"u{u}", "i10", 1.0, t + 50))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(12)], "title": TITLES})
    return InteractionDataset.from_dataframe(df, items=items, rating_scale=None, name="shop",
                                             keep_all_items=True)


FAST: dict[str, Any] = {"objective": "history", "epochs": 1, "batch_size": 8, "max_examples": 16}


# -- examples --------------------------------------------------------------------------------

def test_co_interaction_pairs_follow_time_and_window() -> None:
    # user 0 bought 2, 0, 1 (times 1, 2, 3); user 1 bought 3 then 1
    P = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 1]], dtype=np.float32))
    T = sp.csr_matrix((np.array([2.0, 3.0, 1.0, 9.0, 5.0]), P.indices, P.indptr), shape=P.shape)
    rng = np.random.default_rng(0)
    a, b = co_interaction_pairs(P, T, window=1, max_pairs=100, rng=rng)
    assert sorted(map(tuple, np.sort(np.c_[a, b], axis=1).tolist())) == [(0, 1), (0, 2), (1, 3)]
    a, b = co_interaction_pairs(P, T, window=2, max_pairs=100, rng=rng)
    assert sorted(map(tuple, np.sort(np.c_[a, b], axis=1).tolist())) == \
        [(0, 1), (0, 2), (1, 2), (1, 3)]
    a, b = co_interaction_pairs(P, None, window=1, max_pairs=100, rng=rng)  # by item index
    assert sorted(map(tuple, np.sort(np.c_[a, b], axis=1).tolist())) == [(0, 1), (1, 2), (1, 3)]
    usable = np.array([True, True, False, True])
    a, b = co_interaction_pairs(P, T, window=2, max_pairs=100, rng=rng, usable=usable)
    assert 2 not in set(a) | set(b)
    a1, b1 = co_interaction_pairs(P, T, window=2, max_pairs=2, rng=np.random.default_rng(3))
    a2, b2 = co_interaction_pairs(P, T, window=2, max_pairs=2, rng=np.random.default_rng(3))
    assert len(a1) == 2 and a1.tolist() == a2.tolist() and b1.tolist() == b2.tolist()


# -- training --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data() -> InteractionDataset:
    return shop()


@pytest.fixture(scope="module")
def tuned(data: InteractionDataset) -> FinetunedEncoder:
    return finetune(data, **FAST)


def test_history_objective_gives_an_encoder(tuned: FinetunedEncoder,
                                            data: InteractionDataset) -> None:
    assert isinstance(tuned, Encoder)
    assert tuned.name.startswith("finetuned/all-MiniLM-L6-v2-") and tuned.dimension == 384
    E = tuned.encode(item_texts(data))
    assert E.shape == (12, 384) and E.dtype == np.float32
    empty = data.items.index("i11")
    text = np.arange(12) != empty
    np.testing.assert_allclose(np.linalg.norm(E[text], axis=1), 1.0, atol=1e-5)
    assert not E[empty].any()  # no text: the zero row
    frozen = SentenceTransformerEncoder(device="cpu").encode(item_texts(data))
    assert not np.allclose(E[text], frozen[text], atol=1e-4)  # the head was trained
    info = tuned.info
    assert info["options"]["objective"] == "history" and info["examples"] == 16
    assert len(info["loss_per_epoch"]) == 1
    again = finetune(data, **FAST)
    assert again.name == tuned.name  # seeded: the same weights
    assert finetune(data, **FAST, random_state=1).name != tuned.name


def test_only_training_items_reach_the_fine_tuning(data: InteractionDataset,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fold = cold_item_split(data, 0.4, random_state=0)
    assert fold.cold_items is not None and fold.validation is not None
    held = fold.cold_items | fold.validation.cold_items
    seen: list[np.ndarray] = []
    encode = ft._encode_frozen
    pairs = ft.co_interaction_pairs

    def spy_encode(model: Any, texts: list[str], rows: np.ndarray, show: bool) -> np.ndarray:
        seen.append(np.asarray(rows))
        return encode(model, texts, rows, show)

    def spy_pairs(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        a, b = pairs(*args, **kwargs)
        seen.extend([a, b])
        return a, b

    monkeypatch.setattr(ft, "_encode_frozen", spy_encode)
    monkeypatch.setattr(ft, "co_interaction_pairs", spy_pairs)
    texts = item_texts(data)
    finetune(fold.train, texts=texts, **FAST)
    finetune(fold.train, texts=texts, objective="pairs", epochs=1, batch_size=4, max_examples=4,
             learning_rate=1e-5)
    finetune(fold.train, texts=texts, objective="ease")
    used = np.unique(np.concatenate(seen))
    trained = np.bincount(fold.train.item_index, minlength=data.n_items) > 0
    assert len(seen) == 4 and trained[used].all() and not held[used].any()


def test_pairs_objective_trains_the_transformer(data: InteractionDataset) -> None:
    enc = finetune(data, objective="pairs", epochs=1, batch_size=4, max_examples=8,
                   learning_rate=1e-4)
    assert not enc.tunes_head_only
    with pytest.raises(ConfigError, match="bundled pipeline itself was fine-tuned"):
        enc.from_frozen(np.zeros((1, 384), dtype=np.float32))
    assert enc.info["examples"] == 8 and enc.info["options"]["objective"] == "pairs"
    frozen = SentenceTransformerEncoder(device="cpu").encode(TITLES[:3])
    assert not np.allclose(enc.encode(TITLES[:3]), frozen, atol=1e-4)
    # the pipeline is the bundled one: no module added
    assert len(enc.load()._modules) == 3


def test_training_data_and_thresholds(data: InteractionDataset) -> None:
    X = data.matrix.copy()
    X.data[:] = np.where(np.arange(X.nnz) % 3 == 0, 1.0, 5.0)  # a third below the threshold
    td = TrainingData.of(X, rating_scale=(1, 5))
    with pytest.raises(ConfigError, match="pass texts="):
        finetune(td, **FAST)
    enc = finetune(td, texts=item_texts(data), positive_threshold=4.0, **FAST)
    assert enc.info["examples"] == 16
    with pytest.raises(ConfigError, match="11 texts for 12 items"):
        finetune(data, texts=item_texts(data)[:11], **FAST)
    with pytest.raises(ConfigError, match="no training example"):
        finetune(td, texts=[""] * 12, **FAST)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("objective", "next", "objective must be"), ("epochs", 0, "epochs must be"),
    ("batch_size", 1.5, "batch_size must be"), ("learning_rate", -1.0, "learning_rate must"),
    ("scale", float("nan"), "scale must be"), ("window", 0, "window must be"),
    ("ease_lambda", 0.0, "ease_lambda must be"), ("ridge_lambda", -1.0, "ridge_lambda must")])
def test_bad_options_are_one_line(data: InteractionDataset, option: str, value: Any,
                                  message: str) -> None:
    with pytest.raises(ConfigError, match=message) as exc:
        finetune(data, **{**FAST, option: value})
    assert "\n" not in str(exc.value)


# -- the "ease" objective ------------------------------------------------------------------------

def test_ease_objective_reproduces_the_item_item_structure(data: InteractionDataset) -> None:
    enc = finetune(data)  # the default objective
    assert enc.info["options"]["objective"] == "ease" and not enc.unit_rows
    assert enc.info["warm_items"] == 11  # item 11 has no text
    texts = item_texts(data)
    E = enc.encode(texts)
    assert E.dtype == np.float32 and E.shape == (12, enc.dimension)
    assert not E[data.items.index("i11")].any()
    # the closed form, by hand: centred unit frozen rows plus a constant, EASE on the positives
    frozen = SentenceTransformerEncoder(device="cpu").encode(texts).astype(np.float64)
    warm = np.array([data.items.index(f"i{i}") for i in range(11)])
    C = frozen[warm] - frozen[warm].mean(axis=0)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    A = np.hstack([C, np.ones((len(warm), 1))])
    X = (data.matrix[:, warm] > 0).astype(np.float64).toarray()
    inverse = np.linalg.inv(X.T @ X + 300.0 * np.eye(len(warm)))
    S = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(S, 0.0)
    S = (S + S.T) / 2
    RA = np.linalg.solve(A.T @ A + 3.0 * np.eye(A.shape[1]), A.T)
    G = RA @ S @ RA.T
    values, vectors = np.linalg.eigh((G + G.T) / 2)
    Gp = (vectors * np.maximum(values, 0)) @ vectors.T
    np.testing.assert_allclose(E[warm].astype(np.float64) @ E[warm].T, A @ Gp @ A.T,
                               atol=2e-4 * np.abs(A @ Gp @ A.T).max())
    # items bought together score higher than items of other themes
    Z = E[warm].astype(np.float64)
    sims = Z @ Z.T
    assert sims[0, 1] > np.median(sims[0, 2:]) and sims[6, 7] > np.median(sims[6, :6])
    np.testing.assert_allclose(enc.from_frozen(frozen.astype(np.float32)), E, atol=1e-5)
    assert finetune(data).name == enc.name  # deterministic
    assert finetune(data, ridge_lambda=10.0).name != enc.name


def test_ease_encoder_round_trips_with_its_lengths(data: InteractionDataset,
                                                   tmp_path: Path) -> None:
    enc = finetune(data, max_examples=6)
    assert enc.info["warm_items"] == 6
    folder = enc.save(tmp_path / "enc")
    loaded = load_finetuned_encoder(folder, device="cpu")
    assert not loaded.unit_rows and loaded.name == enc.name
    texts = item_texts(data)
    np.testing.assert_allclose(loaded.encode(texts), enc.encode(texts), atol=1e-5)


# -- files -----------------------------------------------------------------------------------

def test_save_and_load_round_trip(tuned: FinetunedEncoder, data: InteractionDataset,
                                  tmp_path: Path) -> None:
    folder = tuned.save(tmp_path / "enc")
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert MANIFEST in names and "model.safetensors" in names
    assert any(n.endswith(".safetensors") and "Dense" in n for n in names)
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pth"))]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["name"] == tuned.name and set(manifest["files"]) == names - {MANIFEST}
    assert manifest["training"]["options"]["epochs"] == 1
    loaded = load_finetuned_encoder(folder, device="cpu")
    assert loaded.name == tuned.name and loaded.path == folder
    texts = item_texts(data)
    np.testing.assert_allclose(loaded.encode(texts), tuned.encode(texts), atol=1e-6)


def test_finetune_encoder_writes_a_folder(data: InteractionDataset, tmp_path: Path) -> None:
    out = finetune_encoder(data, tmp_path / "enc", **FAST)
    assert out == tmp_path / "enc" and (out / MANIFEST).is_file()
    with pytest.raises(ConfigError, match="not an empty folder"):
        finetune_encoder(data, out, **FAST)
    assert finetune_encoder(data, out, overwrite=True, **FAST) == out
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no fine-tuned encoder"):
        finetune(data, **FAST).save(other, overwrite=True)
    assert (other / "notes.txt").read_text() == "mine"


def test_loading_checks_the_manifest(tuned: FinetunedEncoder, tmp_path: Path) -> None:
    folder = tuned.save(tmp_path / "enc")
    weights = folder / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match=r"model\.safetensors does not match its sha256") \
            as exc:
        load_finetuned_encoder(folder)
    assert "\n" not in str(exc.value)
    folder = tuned.save(tmp_path / "enc", overwrite=True)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelFileError, match="pickle files"):
        load_finetuned_encoder(folder)
    (folder / "pytorch_model.bin").unlink()
    (folder / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"config\.json listed in .* is missing"):
        load_finetuned_encoder(folder)
    (folder / MANIFEST).write_text("{not json")
    with pytest.raises(ModelFileError, match="not a valid manifest"):
        load_finetuned_encoder(folder)
    with pytest.raises(ModelFileError, match=r"no synerec-encoder\.json"):
        load_finetuned_encoder(tmp_path)
