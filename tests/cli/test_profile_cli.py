"""``synerec profile`` and the profile's warnings printed by fit, evaluate and demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synerec.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_per_order(tmp_path: Path) -> Path:
    """An export whose customer id is per order: 150 "customers", one order each."""
    rows = ["order_id,customer,sku,ts"]
    for k in range(150):
        for line in range(2):
            rows.append(f"O{k},cust{k:04d},S{(k * 7 + line) % 40},{1_700_000_000 + 3600 * k}")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


FLAGS = ("--user-col", "customer", "--item-col", "sku", "--time-col", "ts", "--implicit")


def test_profile_text_and_json_on_demo_shop(capsys) -> None:
    code, out, err = run(capsys, "profile")
    assert code == 0, err
    assert out.startswith("demo-shop: 1,000 users")
    code, out, err = run(capsys, "profile", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["users"] == 1000 and data["warnings"] == []
    code, _, err = run(capsys, "profile", "--format", "table")
    assert code == 2 and "--format must be text or json" in err


def test_profile_names_one_per_order_ids(capsys, tmp_path: Path) -> None:
    path = _one_per_order(tmp_path)
    code, out, err = run(capsys, "profile", "--data", str(path), *FLAGS, "--format", "json")
    assert code == 0, err
    codes = [w["code"] for w in json.loads(out)["warnings"]]
    assert "one-per-order" in codes


def _warning_lines(err: str) -> list[str]:
    lines = err.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("warning: ")]
    assert starts, err
    return lines[starts[0]:]


def test_fit_and_evaluate_print_the_warnings_wrapped(capsys, tmp_path: Path) -> None:
    path = _one_per_order(tmp_path)
    code, _, err = run(capsys, "fit", "--data", str(path), *FLAGS, "--model", "popularity",
                       "--out", str(tmp_path / "m"))
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith(("warning: ", "  "))]
    assert any(ln.startswith("warning: ") for ln in lines), err
    assert all(len(ln) <= 80 for ln in lines if ln.startswith("warning: "))
    # words are never cut: every word of the warning text is whole in the lines
    _, p_out, _ = run(capsys, "profile", "--data", str(path), *FLAGS, "--format", "json")
    messages = [w["message"] for w in json.loads(p_out)["warnings"]]
    text = " ".join(ln.strip() for ln in _warning_lines(err))
    for message in messages:
        assert message in text.replace("warning: ", "")
    code, _, err = run(capsys, "evaluate", "--data", str(path), *FLAGS, "--model",
                       "popularity", "--folds", "holdout", "--format", "json")
    assert code == 0, err
    assert "warning: " in err


def test_no_warnings_no_lines(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "fit", "--model", "popularity", "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert "warning: " not in err


def test_evaluate_table_shows_users_hits_cold_and_intervals(capsys) -> None:
    code, out, err = run(capsys, "evaluate", "--model", "popularity,item-cf", "--folds",
                         "holdout")
    assert code == 0, err
    assert "users" in out and "hits" in out and "cold" in out
    assert "vs popularity [95%]" in out and "ref." in out
    code, out, err = run(capsys, "evaluate", "--model", "popularity,item-cf", "--folds",
                         "holdout", "--against", "item-cf", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["against"] == "item-cf" and set(data["differences"]) == {"popularity"}
    assert data["summary"]["popularity"]["test_users"] > 0
    code, _, err = run(capsys, "evaluate", "--model", "popularity", "--against", "ease")
    assert code == 2 and "--against 'ease' is not among the models" in err


def test_evaluate_says_when_a_model_is_indistinguishable(capsys, monkeypatch) -> None:
    import numpy as np

    from synerec.evaluation.runner import EvaluationResult, FoldResult

    base = np.linspace(0, 0.3, 100)

    def fake(specs, ds, folds, **kw):
        rows = [FoldResult(model=name, fold="holdout", config={}, metrics={"ndcg@10": 0.1},
                           fit_seconds=0.0, predict_seconds=0.0, recommend_seconds=0.0,
                           peak_memory_mb=0.0, n_test_ratings=100, n_test_users=100, n_hits=9,
                           cold_share=0.93, ndcg_per_user=base[::-1] if name == "ease" else base)
                for name in ("popularity", "ease")]
        return EvaluationResult(rows, 10, None, "toy")

    import synerec.evaluation

    monkeypatch.setattr(synerec.evaluation, "evaluate", fake)  # what the command imports
    code, out, err = run(capsys, "evaluate", "--model", "popularity,ease", "--folds", "holdout")
    assert code == 0, err
    text = " ".join(out.split())
    assert "ease is indistinguishable from popularity (NDCG@10 difference [" in text
    assert "includes 0)" in text and "93%" in out
