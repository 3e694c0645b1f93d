"""``synerec predict --dataset``: the paper's four methods on the CSV of its Table 1.

The CSV is ``docs/examples/paper-table1.csv`` (the file docs/notation.md runs); the expected
numbers are the hand-computed ones of ``tests/algorithms/test_paper_table1_models.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synerec.cli.main import main
from tests.algorithms.test_paper_table1_models import (
    CSV,
    F32,
    P_ITEM_ADJUSTED,
    P_ITEM_COSINE_F32,
    P_ITEM_COSINE_TUNED_F32,
    P_USER,
    P_USER_COSINE_CORATED_MEAN_F32,
    THRESHOLD,
)

PAPER = ["--dataset", str(CSV), "--rating-scale", "1,5", "--user", "C", "--item", "d",
         "--k", "3"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("method", "value", "neighbours"), [
    ("user_cosine", P_USER, ["D", "A"]),
    ("user_pearson", P_USER, ["A", "D"]),
    ("item_cosine", P_ITEM_COSINE_F32, ["b", "e"]),
    ("item_adjusted_cosine", P_ITEM_ADJUSTED, []),
])
def test_the_four_methods_on_table_1(capsys, method: str, value: float,
                                     neighbours: list[str]) -> None:
    code, out, err = run(capsys, "predict", *PAPER, "--method", method, "--plain",
                         "--format", "json")
    assert code == 0, err
    p = json.loads(out)
    assert p["method"] == method and p["user_id"] == "C" and p["item_id"] == "d"
    assert p["prediction"] == pytest.approx(value, abs=F32)
    assert p["threshold"] == pytest.approx(THRESHOLD, abs=1e-12)
    assert p["recommend"] is True
    key = "user" if method.startswith("user") else "item"
    assert [nb[key] for nb in p["neighbors"]] == neighbours
    assert p["n_neighbors"] == len(neighbours)
    assert p["config"]["k"] == 3 and p["config"]["min_support"] == 1
    assert p["config"]["shrinkage"] == 0.0
    if key == "item":
        assert p["config"]["center"] is False
    assert (p["fallback"] == "no_neighbors") is (method == "item_adjusted_cosine")


def test_table_output_shows_the_prediction_and_its_neighbours(capsys) -> None:
    code, out, err = run(capsys, "predict", *PAPER, "--method", "item_cosine", "--plain")
    assert code == 0, err
    assert "item_cosine on paper-table1.csv (4 users, 5 items, rating scale 1..5)" in out
    assert f"user C, item d: predicted {P_ITEM_COSINE_F32:.4f} -> recommend" in out
    assert "predicted rating 3.34 exceeds the threshold 3.22; 2 neighbours used" in out
    # the neighbour table: b (0.8504, C's 3.5) and e (0.3857, C's 3.0)
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(("│ b ", "│ e ", "b ", "e "))]
    assert len(lines) == 2
    assert "0.8504" in lines[0] and "3.5" in lines[0]
    assert "0.3857" in lines[1] and "3" in lines[1]


def test_options_and_thresholds(capsys) -> None:
    # without --plain: the tuned models; item cosine then stays under 29/9
    code, out, _ = run(capsys, "predict", *PAPER, "--method", "item_cosine", "--format", "json")
    p = json.loads(out)
    assert code == 0 and p["prediction"] == pytest.approx(P_ITEM_COSINE_TUNED_F32, abs=F32)
    assert p["recommend"] is False
    # a printed-form option through --param
    code, out, _ = run(capsys, "predict", *PAPER, "--method", "user_cosine", "--plain",
                       "--param", "neighbor_mean=corated", "--format", "json")
    p = json.loads(out)
    assert code == 0 and p["prediction"] == pytest.approx(P_USER_COSINE_CORATED_MEAN_F32,
                                                          abs=F32)
    assert {nb["user"]: nb["mean"] for nb in p["neighbors"]} == {"A": 4.0, "D": 3.5}
    # the paper's threshold as printed
    code, out, _ = run(capsys, "predict", *PAPER, "--method", "user_cosine", "--plain",
                       "--threshold", "6")
    assert code == 0 and "predicted 3.2500 -> do not recommend" in out
    assert "does not exceed the threshold 6" in out
    # without --rating-scale the file's own lowest and highest ratings, 3..4.5: threshold 23/6
    args = [a for a in PAPER if a not in ("--rating-scale", "1,5")]
    code, out, _ = run(capsys, "predict", *args, "--method", "user_cosine", "--plain",
                       "--format", "json")
    p = json.loads(out)
    assert p["threshold"] == pytest.approx(23 / 6) and p["recommend"] is False


@pytest.mark.parametrize(("args", "message"), [
    (["--user", "C", "--item", "d"], "either --model-dir or --dataset"),
    (["--model-dir", "m", "--dataset", "x.csv", "--user", "C", "--item", "d"],
     "either --model-dir or --dataset"),
    (["--model-dir", "m", "--method", "user_cosine", "--user", "C", "--item", "d"],
     "--method only apply with --dataset"),
    ([*PAPER, "--method", "item_pearson"], "unknown method 'item_pearson'"),
    ([*PAPER, "--method", "user_cosine", "--param", "centre=false"], "unknown option(s) centre"),
    ([*PAPER, "--method", "user_cosine", "--param", "denominator=sum"], "denominator"),
    ([*PAPER[:2], "--rating-scale", "5,1", *PAPER[4:]], "LOW < HIGH"),
    ([*PAPER[:2], "--rating-scale", "1-5", *PAPER[4:]], "LOW,HIGH"),
    (["--dataset", "demo-shop", "--rating-scale", "1,5", "--user", "u1", "--item", "i1"],
     "applies to an interaction file"),
    ([*PAPER[:2], "--rating-scale", "4,5", *PAPER[4:]], "outside"),
])
def test_mistakes_are_one_line_errors(capsys, tmp_path: Path, args: list[str],
                                      message: str) -> None:
    code, _, err = run(capsys, "predict", *args)
    assert code == 2, err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
