"""``synerec evaluate`` / ``tune`` with the protocols for new items and leave-one-out: the
slice table, the JSON's ``slices[model][slice][metric]``, and one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from synerec.cli.main import main
from synerec.data.amazon_seq import FOLDER


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_global_temporal_json(capsys) -> None:
    code, out, _ = run(capsys, "evaluate", "--model", "popularity,ease", "--folds",
                       "global-temporal", "--cutoff", "2023-10-01", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["folds"][0]["fold"] == "global-temporal@2023-10-01"
    assert set(d["slices"]) == {"popularity", "ease"}
    for model in ("popularity", "ease"):
        per = d["slices"][model]
        assert {"all", "warm-items", "cold-items", "cold-shelf"} <= set(per)
        assert per["warm-items"]["pairs"] + per["cold-items"]["pairs"] == per["all"]["pairs"]
        for metric in ("ndcg@10", "recall@10", "recall@20", "ndcg@100", "users", "hits"):
            assert metric in per["all"]
        # the summary's NDCG is the all slice's (every test user there has a relevant item
        # on implicit-like data; here ratings: the same relevant pairs, the same mean)
        assert per["all"]["ndcg@10"] == pytest.approx(d["summary"][model]["ndcg@10"])
        assert per["cold-items"]["hits"] == 0  # EASE and popularity cannot rank a new item
    assert d["slice_differences"]["ease"]["all"]["against"] == "popularity"
    assert d["protocol"].startswith("global-temporal")


def test_evaluate_cold_items_table(capsys) -> None:
    code, out, _ = run(capsys, "evaluate", "--model", "popularity,item-cf", "--folds",
                       "cold-items", "--cold-share", "0.2")
    assert code == 0
    assert "demo-shop, fold cold-items: slices" in out
    for cell in ("popularity / all", "item-cf / cold-shelf", "item-cf / cold-items", "ref."):
        assert cell in out
    assert "cold-shelf among the held-out items only" in " ".join(out.split())


def test_evaluate_leave_one_out_on_a_sequence_file(capsys, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / FOLDER
    folder.mkdir()
    lines = [f"{u} " + " ".join(str(1 + (u * 3 + k) % 15) for k in range(4 + u % 3))
             for u in range(1, 31)]
    (folder / "Tiny.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("SYNEREC_DATA_HOME", str(tmp_path))
    code, out, _ = run(capsys, "evaluate", "--dataset", "amazon-2014-tiny-seq", "--model",
                       "popularity,ease", "--folds", "leave-one-out")
    assert code == 0, out
    assert "fold leave-one-out" in out
    assert "full ranking, no sampled negatives" in " ".join(out.split())
    code, out, _ = run(capsys, "evaluate", "--dataset", "amazon-2014-tiny-seq", "--model",
                       "popularity", "--folds", "leave-one-out", "--format", "json")
    d = json.loads(out)
    assert d["summary"]["popularity"]["test_users"] == 30 and d["slices"] == {}
    assert "no sampled negatives" in d["protocol"]


@pytest.mark.parametrize(("args", "message"), [
    (["--folds", "holdout", "--cutoff", "2023-10-01"],
     "--cutoff applies to --folds global-temporal only, not --folds holdout"),
    (["--folds", "global-temporal"], "--folds global-temporal needs --cutoff"),
    (["--folds", "global-temporal", "--cutoff", "next-week"], "is not a date"),
    (["--folds", "global-temporal", "--cutoff", "1.5"], "a numeric cutoff is a fraction"),
    (["--folds", "global-temporal", "--cutoff", "2030-01-01"],
     "leaves no interaction at or after it"),
    (["--folds", "temporal", "--cold-share", "0.2"], "--cold-share applies to --folds "
                                                     "cold-items only"),
    (["--folds", "cold-items", "--cold-share", "1.5"], "share must be between 0 and 1"),
])
def test_evaluate_fold_option_errors(capsys, args: list[str], message: str) -> None:
    code, _out, err = run(capsys, "evaluate", "--model", "popularity", *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_leave_one_out_without_timestamps_is_one_line(capsys, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\na,x\na,y\nb,x\nb,z\n", encoding="utf-8")
    code, _, err = run(capsys, "evaluate", "--data", str(path), "--implicit", "--model",
                       "popularity", "--folds", "leave-one-out")
    assert code == 2
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no timestamps; leave-one-out needs the order" in errors[0]
    assert "Traceback" not in err


def test_tune_on_cold_items_with_a_slice_objective(capsys) -> None:
    pytest.importorskip("optuna")
    code, out, _ = run(capsys, "tune", "--model", "item-cf", "--folds", "cold-items",
                       "--metric", "cold-shelf:recall@20", "--trials", "2", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["metric"] == "cold-shelf:recall@20"
    assert d["validation"]["split"] == "cold-items:validation"
    assert d["test"]["fold"] == "cold-items"
    assert {"all", "warm-items", "cold-items", "cold-shelf"} <= set(d["test"]["slices"])
    assert d["test"]["objective"] == d["test"]["slices"]["cold-shelf"]["recall@20"]


def test_slice_table_fits_80_columns_without_cutting_a_cell() -> None:
    from rich.console import Console

    from synerec.cli._tables import slice_table

    entry = {"users": 1234, "hits": 56, "ndcg@10": 0.12345, "recall@10": 0.2, "recall@20": 0.3,
             "ndcg@100": None}
    slices = {m: {s: dict(entry) for s in ("all", "warm-items", "cold-items", "cold-shelf")}
              for m in ("text-knn-tuned", "hybrid")}
    cells = {m: {s: "+0.0123 [-0.0040, +0.0301]" for s in per} for m, per in slices.items()}
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(slice_table(slices, title="t", intervals=cells, interval_header="d vs ref",
                              console=console))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    for cell in ("text-knn-tuned / cold-shelf", "1,234", "0.1235", "+0.0123 [-0.0040, +0.0301]"):
        assert cell in text
    assert "…" not in text
    # split over stacked tables that repeat the key; ndcg@100 None is shown as "-"
    rows = [ln for ln in text.splitlines() if "hybrid / all " in ln]
    assert len(rows) >= 2 and any("│        - │" in ln for ln in rows)
