"""``synerec text embed`` and ``synerec text distill``, run in-process through the entry point."""

from __future__ import annotations

import json
import socket
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from synerec.cli.main import main
from synerec.data import InteractionDataset, load_dataset
from synerec.text import TfidfEncoder, item_texts


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_embed_tfidf_twice_hits_the_cache(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    args = ["text", "embed", "--dataset", "demo-shop", "--encoder", "tfidf", "--cache-dir",
            str(tmp_path / "cache"), "--format", "json"]
    code, out, err = run(capsys, *args, "--out", str(tmp_path / "e.npy"))
    assert code == 0, err
    first = json.loads(out)
    assert first["count"] == 2000 and first["cache_hits"] == 0 and first["computed"] == 2000
    assert first["dimension"] == 4096 and first["encoder"].startswith("tfidf-")
    E = np.load(tmp_path / "e.npy", allow_pickle=False)
    texts = item_texts(load_dataset("demo-shop", random_state=42))
    np.testing.assert_allclose(E, TfidfEncoder().encode(texts), atol=1e-6)
    code, out, _ = run(capsys, *args)
    second = json.loads(out)
    assert code == 0 and second["cache_hits"] == 2000 and second["computed"] == 0
    assert second["encoder"] == first["encoder"]


def test_embed_table_output(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                            ml100k: InteractionDataset) -> None:
    code, out, err = run(capsys, "text", "embed", "-d", "ml-100k", "-e", "tfidf",
                         "--cache-dir", str(tmp_path))
    assert code == 0, err
    for field, value in (("count", "1682"), ("cache_hits", "0"), ("computed", "1682")):
        line = next(ln for ln in out.splitlines() if f" {field} " in ln)
        assert value in line


def test_embed_with_a_model2vec_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       ml100k: InteractionDataset) -> None:
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = ["[UNK]", "Toy", "Story", "Genres", "Comedy", "Drama", "Action"]
    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    StaticModel(np.eye(7, 5, dtype=np.float32) + 0.1, tok).save_pretrained(tmp_path / "m")
    code, out, err = run(capsys, "text", "embed", "-d", "ml-100k", "-e", "model2vec",
                         "--model-path", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"),
                         "-f", "json", "-o", str(tmp_path / "e.npy"))
    assert code == 0, err
    result = json.loads(out)
    assert (result["count"], result["dimension"]) == (1682, 5)
    E = np.load(tmp_path / "e.npy")
    norms = np.linalg.norm(E, axis=1)
    assert np.all(np.abs(norms - 1) < 1e-5)  # every ML-100K text has "Genres"


def test_user_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "text", "embed", "-d", "demo-shop", "-e", "bert")
    assert code == 2 and "--encoder must be one of minilm, model2vec, tfidf, openai" in err
    code, _, err = run(capsys, "text", "embed", "-d", "demo-shop", "-e", "tfidf", "--model", "x")
    assert code == 2 and "--model applies to the minilm and openai encoders only" in err
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path))
    code, _, err = run(capsys, "text", "embed", "-d", "demo-shop", "-e", "model2vec")
    assert code == 2 and "synerec text distill" in err and "Traceback" not in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(capsys, "text", "embed", "-d", "demo-shop", "-e", "openai",
                       "--base-url", f"http://127.0.0.1:{port}", "--cache-dir", str(tmp_path))
    assert code == 2 and "cannot reach the embedding server" in err


def test_distill_command(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    tok = Tokenizer(WordLevel({"[UNK]": 0, "red": 1, "dress": 2}, unk_token="[UNK]"))
    seen: list[dict] = []

    def distill(**kwargs: object) -> StaticModel:  # the real one takes minutes: see bench/
        seen.append(kwargs)
        return StaticModel(np.ones((3, 8), dtype=np.float32), tok)

    monkeypatch.setitem(sys.modules, "model2vec.distill", types.SimpleNamespace(distill=distill))
    monkeypatch.setattr("synerec.text.model2vec_encoder._default_device", lambda: "cpu")
    code, _, err = run(capsys, "text", "distill", "--out", str(tmp_path / "m2v"),
                       "--pca-dims", "8")
    assert code == 0, err
    assert "dimension 8" in err and seen[0]["pca_dims"] == 8
    assert (tmp_path / "m2v" / "model.safetensors").is_file()
