"""The ranking side of the command line: several models in one evaluate table, the default model
of `fit`, and `synerec tune`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import Recommender
from synerec.cli.main import main
from synerec.models import DEFAULT_RANKING_MODEL


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def small_shop(tmp_path: Path) -> Path:
    """60 customers x 40 products, 1-5 ratings with timestamps; each customer likes one of four
    product groups (so that there is something to learn)."""
    rng = np.random.default_rng(5)
    rows = []
    for u in range(60):
        group = u % 4
        for i in range(40):
            p = 0.45 if i % 4 == group else 0.06
            if rng.random() < p:
                rating = int(rng.integers(4, 6)) if i % 4 == group else int(rng.integers(1, 4))
                rows.append((f"c{u:02d}", f"p{i:02d}", rating, 1_700_000_000 + len(rows)))
    path = tmp_path / "shop.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(
        path, index=False)
    return path


def _rows(out: str) -> dict[str, list[str]]:
    """The cells of a Rich table's rows (header included) by their first cell."""
    rows = {}
    for line in out.splitlines():
        line = line.replace("┃", "│").strip()
        cells = [c.strip() for c in line.strip("│").split("│")]
        if len(cells) > 2:
            rows[cells[0]] = cells[1:]
    return rows


def _by_model(out: str) -> dict[str, dict[str, str]]:
    """model -> metric -> cell, over the stacked tables that a table too wide for the terminal
    is split into (each repeats the model column)."""
    table: dict[str, dict[str, str]] = {}
    head: list[str] | None = None
    for line in out.splitlines():
        line = line.replace("┃", "│").strip()
        cells = [c.strip() for c in line.strip("│").split("│")]
        if len(cells) < 2 or not line.startswith("│"):
            continue
        if cells[0] == "model":
            head = cells[1:]
        elif head is not None and len(cells) == len(head) + 1:
            table.setdefault(cells[0], {}).update(zip(head, cells[1:], strict=True))
    return table


def test_evaluate_compares_models_in_one_table_within_80_columns(capsys, small_shop) -> None:
    code, out, err = run(capsys, "evaluate", "--dataset", str(small_shop), "--model",
                         "ease,item-cf,popularity,rp3beta", "--folds", "3",
                         "--param", "ease.lambda_=20")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out  # no cell cut
    table = _by_model(out)
    assert set(table) == {"ease", "item-cf", "popularity", "rp3beta"}
    # one layout: counts and the cold share first, the NDCG difference beside NDCG
    assert list(table["ease"]) == ["users", "hits", "cold", "MAE", "RMSE", "P@10", "R@10",
                                   "nDCG@10", "dnDCG@10 vs popularity [95%]", "Cov", "fit s",
                                   "pred s"]
    assert table["popularity"]["dnDCG@10 vs popularity [95%]"] == "ref."
    for ranker in ("ease", "rp3beta"):  # ranking models: no rating accuracy, nothing predicted
        assert [table[ranker][m] for m in ("MAE", "RMSE", "pred s")] == ["-", "-", "-"]
    assert 0.3 < float(table["item-cf"]["MAE"].split(" ")[0]) < 2.0
    assert 0.0 <= float(table["ease"]["nDCG@10"].split(" ")[0]) <= 1.0
    assert "ranking models predict scores, not ratings" in out
    assert "mean over 3 folds" in out
    code, out, _ = run(capsys, "evaluate", "--dataset", str(small_shop), "--model",
                       "ease,item-cf", "--folds", "holdout", "--param", "ease.lambda_=20",
                       "--format", "json")
    data = json.loads(out)
    assert data["summary"]["ease"]["mae"] is None
    assert data["summary"]["item-cf"]["mae"] > 0
    assert {r["config"].get("lambda_") for r in data["folds"] if r["model"] == "ease"} == {20}


def test_evaluate_option_errors_with_several_models(capsys, small_shop) -> None:
    code, _, err = run(capsys, "evaluate", "--dataset", str(small_shop), "--model",
                       "ease,item-cf", "--param", "nope=1")
    assert code == 2 and "none of the models ease, item-cf takes the option --nope" in err
    code, _, err = run(capsys, "evaluate", "--dataset", str(small_shop), "--model",
                       "ease,item-cf", "--param", "ease.k=3")
    assert code == 2 and "model 'ease' has no option 'k'" in err
    code, _, err = run(capsys, "evaluate", "--model", "ease,ease")
    assert code == 2 and "twice" in err


def test_evaluate_drops_rating_columns_for_implicit_data(capsys, tmp_path: Path) -> None:
    df = pd.DataFrame({"user_id": np.repeat(np.arange(30), 4),
                       "item_id": np.tile(np.arange(8), 15), "quantity": 1.0})
    path = tmp_path / "buys.csv"
    df.to_csv(path, index=False)
    code, out, err = run(capsys, "evaluate", "--dataset", str(path), "--weight-col",
                         "quantity", "--model", "ease,popularity", "--folds", "holdout",
                         "--param", "ease.lambda_=5")
    assert code == 0, err
    table = _by_model(out)
    assert "MAE" not in table["ease"] and "pred s" not in table["ease"]
    assert "nDCG@10" in table["popularity"]
    assert "predict scores" not in out


def test_fit_defaults_to_the_best_ranking_model(capsys, tmp_path: Path, small_shop) -> None:
    # the default (auto): the hybrid on data with enough interactions, and fit says why
    auto_dir = tmp_path / "auto"
    code, _, err = run(capsys, "fit", "--dataset", str(small_shop), "--out", str(auto_dir))
    assert code == 0, err
    assert json.loads((auto_dir / "model.json").read_text())["class"] == "hybrid"
    assert "saved hybrid (auto: " in " ".join(err.split())
    code, out, _ = run(capsys, "recommend", "--model-dir", str(auto_dir), "--user", "c01",
                       "--n", "3", "--format", "json")
    assert code == 0 and json.loads(out)["model"] == "hybrid"
    items = json.loads(out)["recommendations"][0]["items"]
    assert len(items) == 3 and all(int(i["item_id"][1:]) % 4 == 1 for i in items)
    # the best single retriever (what auto falls back to on small data), a ranking model
    out_dir = tmp_path / "model"
    code, _, err = run(capsys, "fit", "--dataset", str(small_shop), "--out", str(out_dir),
                       "--model", DEFAULT_RANKING_MODEL)
    assert code == 0, err
    assert DEFAULT_RANKING_MODEL == "ease"
    assert json.loads((out_dir / "model.json").read_text())["class"] == "ease"
    code, out, _ = run(capsys, "recommend", "--model-dir", str(out_dir), "--user", "c01",
                       "--n", "3", "--format", "json")
    assert code == 0
    items = json.loads(out)["recommendations"][0]["items"]
    assert len(items) == 3 and all(int(i["item_id"][1:]) % 4 == 1 for i in items)
    code, out, _ = run(capsys, "predict", "--model-dir", str(out_dir), "--user", "c01",
                       "--item", items[0]["item_id"], "--format", "json")
    p = json.loads(out)  # a ranking model: the item's score and rank, no rating
    assert p["prediction"] is None and p["rank"] == 1 and p["feedback"] == "explicit"
    assert p["score"] == pytest.approx(items[0]["score"], rel=1e-6)
    assert p["reason"].startswith("ease ranks items and predicts no rating; ranked 1 of")
    code, _, err = run(capsys, "predict", "--model-dir", str(out_dir), "--user", "c01",
                       "--item", items[0]["item_id"], "--threshold", "3")
    assert code == 2 and "ranks items and predicts no ratings" in err


def test_tune_searches_on_training_data_and_saves_the_choice(capsys, tmp_path: Path,
                                                            small_shop) -> None:
    out_dir = tmp_path / "tuned"
    code, out, err = run(capsys, "tune", "--dataset", str(small_shop), "--model", "ease",
                         "--trials", "5", "--space", "lambda_=1:1000:log", "--param",
                         "dropout=0", "--out", str(out_dir), "--format", "json", "--seed", "3")
    assert code == 0, err
    report = json.loads(out)
    assert report["metric"] == "ndcg@10" and len(report["trials"]) == 5
    assert report["trained_on"].endswith("[last-20%:train]")  # temporal: the file has times
    chosen = report["best_params"]["lambda_"]
    assert 1 <= chosen <= 1000 and report["config"] == {"dropout": 0, "lambda_": chosen}
    best = max(report["trials"], key=lambda t: t["value"])
    assert best["params"]["lambda_"] == chosen and best["value"] == report["best_value"]
    # the validation part is carved out of the training part only
    val = report["validation"]
    assert val["fit_interactions"] + val["validation_interactions"] < sum(
        1 for _ in small_shop.open()) - 1
    assert 0 <= report["test"]["ndcg@10"] <= 1
    model = Recommender.load(out_dir)
    assert model.get_params()["lambda_"] == chosen and model.get_params()["dropout"] == 0
    meta = json.loads((out_dir / "model.json").read_text())["metadata"]["tuning"]
    assert meta["best_params"] == {"lambda_": chosen}
    assert meta["validation_value"] == report["best_value"]
    assert meta["test"]["ndcg@10"] == report["test"]["ndcg@10"]
    # table output prints the chosen values
    code, out, _ = run(capsys, "tune", "--dataset", str(small_shop), "--model", "rp3beta",
                       "--trials", "2", "--folds", "none", "--seed", "3")
    assert code == 0
    assert "chosen values" in out and "beta" in out and "validation ndcg@10" in out
    assert "test ndcg@10" not in out  # --folds none: no test measurement


def test_tune_errors(capsys, small_shop) -> None:
    code, _, err = run(capsys, "tune", "--dataset", str(small_shop), "--model", "ease",
                       "--metric", "rmse", "--trials", "2")
    assert code == 2 and "ranks items and predicts no ratings" in err
    code, _, err = run(capsys, "tune", "--dataset", str(small_shop), "--model", "ease",
                       "--metric", "ndcg@ten")
    assert code == 2 and "unknown metric" in err
    code, _, err = run(capsys, "tune", "--dataset", str(small_shop), "--model", "ease",
                       "--space", "k=1:5")
    assert code == 2 and "has no option k" in err
    code, _, err = run(capsys, "tune", "--dataset", str(small_shop), "--model", "ease",
                       "--space", "lambda_=10:1")
    assert code == 2 and "LOW must be below HIGH" in err
