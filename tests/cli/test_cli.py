"""The command line, run in-process through its entry point (exit codes, stdout, stderr)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synerec.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_datasets_lists_presence(capsys, data_home: Path) -> None:
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    for name in ("ml-100k", "ml-latest-small", "uci-online-retail", "amazon-2018-all-beauty",
                 "demo-shop"):
        assert name in out
    line = next(ln for ln in out.splitlines() if "ml-100k" in ln)
    assert "present" in line
    line = next(ln for ln in out.splitlines() if "ml-latest-small" in ln)
    assert "missing" in line


def test_unknown_dataset_is_one_line_error(capsys) -> None:
    code, _out, err = run(capsys, "evaluate", "--dataset", "no-such-set", "--model", "baseline")
    assert code == 2
    assert "unknown data set 'no-such-set'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3


def test_unknown_model_and_option(capsys) -> None:
    code, _, err = run(capsys, "evaluate", "--model", "nope")
    assert code == 2 and "unknown model 'nope'" in err
    code, _, err = run(capsys, "evaluate", "--model", "baseline", "--k", "5")
    assert code == 2 and "has no option --k" in err
    code, _, err = run(capsys, "evaluate", "--model", "baseline", "--format", "xml")
    assert code == 2 and "--format must be table or json" in err


def test_evaluate_json_on_demo_shop(capsys) -> None:
    code, out, _ = run(capsys, "evaluate", "--model", "baseline", "--folds", "holdout",
                       "--format", "json")
    assert code == 0
    data = json.loads(out)
    summary = data["summary"]["baseline"]
    assert 0.5 < summary["rmse"] < 1.2 and 0 <= summary["precision@10"] <= 1
    assert data["dataset"] == "demo-shop" and len(data["folds"]) == 1


def test_fit_recommend_predict_round_trip(capsys, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    code, _, err = run(capsys, "fit", "--model", "baseline", "--out", str(model_dir))
    assert code == 0 and (model_dir / "model.json").is_file(), err
    code, out, _ = run(capsys, "recommend", "--model-dir", str(model_dir), "--user", "u0001",
                       "--n", "5", "--format", "json")
    assert code == 0
    recs = json.loads(out)["recommendations"][0]
    assert recs["user_id"] == "u0001" and len(recs["items"]) == 5
    scores = [r["score"] for r in recs["items"]]
    assert scores == sorted(scores, reverse=True)
    item = recs["items"][0]["item_id"]
    code, out, _ = run(capsys, "predict", "--model-dir", str(model_dir), "--user", "u0001",
                       "--item", item, "--format", "json")
    assert code == 0
    p = json.loads(out)
    assert p["item_id"] == item and 1 <= p["prediction"] <= 5
    assert p["recommend"] == (p["prediction"] > p["threshold"]) and p["reason"]
    code, _, err = run(capsys, "recommend", "--model-dir", str(model_dir), "--user", "nobody")
    assert code == 2 and "unknown user id 'nobody'" in err
    code, _, err = run(capsys, "recommend", "--model-dir", str(tmp_path / "missing"), "--user",
                       "u0001")
    assert code == 2 and "missing" in err


def test_k_sweep_command_reports_unknown_models(capsys, tmp_path: Path) -> None:
    code, _out, err = run(capsys, "experiment", "k-sweep", "--dataset", "demo-shop", "--models",
                         "baseline,no-such-model", "--ks", "5,10", "--folds", "2", "--out",
                         str(tmp_path))
    assert code == 0, err
    assert "no-such-model" in err and "unknown model" in err
    assert (tmp_path / "results.json").is_file() and (tmp_path / "table.md").is_file()
    assert (tmp_path / "mae_vs_k.png").is_file()
    code, _, err = run(capsys, "experiment", "k-sweep", "--ks", "5,x", "--out", str(tmp_path))
    assert code == 2 and "--ks" in err


def test_demo_writes_report(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "demo", "--out", str(tmp_path / "report"))
    assert code == 0, err
    assert "Top 5 for user" in out
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Models" in report and "## Top 5 for user" in report
    assert (tmp_path / "report" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_console_script_usage_error_has_no_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "synerec.cli.main", "bogus"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "No such command" in proc.stderr and "Traceback" not in proc.stderr
