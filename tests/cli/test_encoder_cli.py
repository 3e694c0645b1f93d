"""``synerec encoder fit``: a fine-tuned encoder from a shop's export, learnt from the training
part only (real MiniLM, a tiny shop, the closed-form objective: seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import create_model
from synerec.cli.main import main
from synerec.data import read_interactions
from synerec.exceptions import ModelFileError
from synerec.text import item_texts
from synerec.text.finetune import MANIFEST, load_finetuned_encoder

PRODUCTS = {"S0": "red cotton dress", "S1": "crimson summer dress", "S2": "steel saucepan",
            "S3": "cooking pot", "S4": "power drill", "S5": "cordless drill",
            "S6": "green tea", "S7": "herbal tea", "S8": "garden hose", "S9": "watering can",
            # first sold after the cut: new products
            "N0": "jasmine tea", "N1": "linen dress"}
CUT = "2024-01-10"
T0 = int(pd.Timestamp("2024-01-01").timestamp())
DAY = 86_400


def _export(tmp: Path) -> tuple[Path, Path, Path]:
    """Orders over 20 days (customers buy within two themes), the part before the cut alone,
    and the catalogue."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(30):
        themes = rng.choice(5, size=2, replace=False)
        day = int(rng.integers(0, 8))
        for theme in themes:
            for sku in (f"S{2 * theme}", f"S{2 * theme + 1}"):
                rows.append((f"c{c}", sku, 1 + c % 3, T0 + day * DAY + c * 60))
                day += 1
        if c % 3 == 0:  # after the cut: another theme's product, and the new products
            other = next(t for t in range(5) if t not in themes)
            rows.append((f"c{c}", "N0" if 3 in themes else "N1", 1, T0 + 12 * DAY + c * 60))
            rows.append((f"c{c}", f"S{2 * other}", 2, T0 + 13 * DAY + c * 60))
    df = pd.DataFrame(rows, columns=["customer", "sku", "qty", "ts"])
    full, before = tmp / "orders.csv", tmp / "before.csv"
    df.to_csv(full, index=False)
    df[df["ts"] < int(pd.Timestamp(CUT).timestamp())].to_csv(before, index=False)
    catalogue = tmp / "products.csv"
    pd.DataFrame({"sku": list(PRODUCTS), "name": list(PRODUCTS.values())}).to_csv(
        catalogue, index=False)
    return full, before, catalogue


def _flags(catalogue: Path) -> list[str]:
    return ["--user-col", "customer", "--item-col", "sku", "--weight-col", "qty",
            "--time-col", "ts", "--items", str(catalogue), "--title-col", "name"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _gram(folder: Path, texts: list[str]) -> np.ndarray:
    Z = load_finetuned_encoder(folder, device="cpu").encode(texts).astype(np.float64)
    return Z @ Z.T


def test_fit_saves_a_checked_encoder_from_the_training_part_only(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path / "cache"))  # the embedding cache
    full, before, catalogue = _export(tmp_path)
    out = tmp_path / "enc"
    code, stdout, err = run(capsys, "encoder", "fit", "--data", str(full), *_flags(catalogue),
                            "--cutoff", CUT, "--out", str(out), "--format", "json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["training_part"].startswith("global-temporal@2024-01-10")
    assert result["objective"] == "ease" and result["items_encoded"] == len(PRODUCTS)
    assert result["warm_items"] == 10  # N0 and N1 were first sold after the cut
    assert "model.safetensors" in result["files"] and MANIFEST in result["files"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pth"))]
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["files"]) == files - {MANIFEST}
    assert manifest["training"]["training_part"] == result["training_part"]
    assert manifest["training"]["training_interactions"] == result["training_interactions"]

    # the catalogue was re-encoded into the cache: a text model starts without encoding
    ds = read_interactions(full, user_col="customer", item_col="sku", weight_col="qty",
                           time_col="ts", items=str(catalogue), title_col="name")
    model = create_model("text-knn", encoder_path=str(out)).fit(ds)
    assert model.encoder_name_ == result["encoder"]
    assert model.item_has_text_.all()

    # the same encoder as one fitted on the export with the later rows removed
    alone = tmp_path / "alone"
    code, _, err = run(capsys, "encoder", "fit", "--data", str(before), *_flags(catalogue),
                       "--out", str(alone), "--format", "json")
    assert code == 0, err
    texts = item_texts(ds)
    np.testing.assert_allclose(_gram(out, texts), _gram(alone, texts), atol=1e-5)

    # a tampered file is refused
    weights = next(p for p in out.rglob("*.safetensors") if "Dense" in p.as_posix())
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="does not match its sha256"):
        load_finetuned_encoder(out)
    with pytest.raises(ModelFileError, match="does not match its sha256"):
        create_model("text-knn", encoder_path=str(out)).fit(ds)

    # an existing folder is not overwritten without --overwrite
    code, _, err = run(capsys, "encoder", "fit", "--data", str(before), *_flags(catalogue),
                       "--out", str(alone))
    assert code == 2 and "not an empty folder" in err


def test_cold_items_fold_learns_without_the_held_out_items(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path / "cache"))
    full, _, catalogue = _export(tmp_path)
    code, stdout, err = run(capsys, "encoder", "fit", "--data", str(full), *_flags(catalogue),
                            "--folds", "cold-items", "--share", "0.3", "--out",
                            str(tmp_path / "enc"), "--format", "json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["training_part"].startswith("cold-items")
    # 12 products with interactions, 30 % held out (4): 8 warm items remain
    assert result["warm_items"] == 8


@pytest.mark.parametrize(("args", "message"), [
    (["--folds", "cold-items", "--cutoff", CUT], "--cutoff applies to --folds global-temporal"),
    (["--folds", "global-temporal"], "needs --cutoff"),
    (["--folds", "weekly"], "--folds must be one of"),
    (["--objective", "next"], "--objective must be"),
    (["--threshold", "high"], "--threshold must be")])
def test_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               args: list[str], message: str) -> None:
    full, _, catalogue = _export(tmp_path)
    code, _, err = run(capsys, "encoder", "fit", "--data", str(full), *_flags(catalogue),
                       "--out", str(tmp_path / "enc"), *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
