"""Terminal output at 80 columns: no cut cell in the demo, evaluate and experiment tables, no
stale progress lines, and report.md tables that survive a ``|`` in a cell."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rich
from rich.console import Console

import synerec.cli.main as cli
from synerec.cli import experiment_commands
from synerec.cli._tables import fits, fitted_table, format_metric, metric_label, metric_table
from synerec.cli.demo import console_hint, run_demo, write_report
from synerec.cli.main import main
from synerec.data.dataset import InteractionDataset
from synerec.data.demo_shop import generate_demo_shop
from synerec.data.splits import holdout_split

BOX = r"[│┃┆┇╎╏║]"


def cells(text: str) -> set[str]:
    """Every cell of every table in ``text`` (split on Rich's box characters), stripped."""
    out = set()
    for line in text.splitlines():
        out.update(c.strip() for c in re.split(BOX, line) if c.strip())
    return out


def recording_console() -> Console:
    return Console(width=80, record=True, file=io.StringIO(), color_system=None)


def assert_uncut(text: str, expected: list[str]) -> None:
    assert "…" not in text, "a cell was cut:\n" + text
    assert max(len(line) for line in text.splitlines()) <= 80
    found = cells(text)
    missing = [e for e in expected if e not in found]
    assert not missing, f"not shown in full as a cell: {missing}\n{text}"


def test_metric_labels() -> None:
    assert metric_label("ndcg@10") == "nDCG@10"
    assert metric_label("precision@5") == "P@5"
    assert metric_label("recall@20") == "R@20"
    assert metric_label("category_coverage") == "CatCov"
    assert metric_label("fit_seconds") == "fit s"
    assert metric_label("something_new") == "something_new"
    assert format_metric("mae", 0.72345) == "0.7235"
    assert format_metric("fit_seconds", 12.345) == "12.35"
    assert format_metric("fit_seconds", 0.01234) == "0.0123"
    assert format_metric("ndcg@10", float("nan")) == "-"


MODELS = ["popularity", "baseline", "user-cf", "item-cf", "mf", "t-user-cf", "t-item-cf"]
METRICS = ["mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage",
           "category_coverage", "fit_seconds", "predict_seconds"]


def _summary(with_std: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.uniform(0, 1, (len(MODELS), len(METRICS))), index=MODELS,
                      columns=METRICS)
    df["fit_seconds"] *= 100
    if with_std:
        for m in METRICS:
            df[f"{m}_std"] = rng.uniform(0, 0.01, len(MODELS))
    return df


@pytest.mark.parametrize("n_models", [1, 3, 7])
@pytest.mark.parametrize("with_std", [True, False])
def test_metric_table_never_cuts_a_cell(n_models: int, with_std: bool) -> None:
    summary = _summary(with_std).iloc[:n_models]
    console = recording_console()
    table = metric_table(summary, METRICS, title="Models on demo-shop", console=console)
    assert fits(table, 80, console)
    console.print(table)
    text = console.export_text()
    expected = list(summary.index) + [metric_label(m) for m in METRICS]
    if any(re.fullmatch(r"\d\S* ± \S+", c) for c in cells(text)):  # cells "mean ± std"
        expected += [f"{format_metric(m, row[m])} ± {format_metric(m, row[m + '_std'])}"
                     for _, row in summary.iterrows() for m in METRICS]
    else:
        expected += [format_metric(m, v) for m in METRICS for v in summary[m]]
        if with_std:
            assert "± std over folds in --format json" in " ".join(text.split())
    assert_uncut(text, expected)


@pytest.mark.parametrize("n_models", [1, 3, 7])
def test_one_layout_whatever_the_number_of_models(n_models: int) -> None:
    # one row per model, the metrics as columns, never "mean ± std" cells (they were shown in
    # one layout only): the std is in --format json, as the caption says
    console = recording_console()
    summary = _summary(True).iloc[:n_models]
    console.print(metric_table(summary, METRICS[:5], title="t", console=console))
    text = console.export_text()
    assert not any(re.fullmatch(r"\d\S* ± \S+", c) for c in cells(text))
    header = next(ln for ln in text.splitlines() if "model" in ln)
    assert all(metric_label(m) in header for m in METRICS[:5])
    assert "± std over folds in --format json" in " ".join(text.split())
    assert "…" not in text


def test_fitted_table_splits_wide_tables() -> None:
    names = [f"model-number-{k}" for k in range(9)]
    rows = [[str(k), *(f"0.{k}{j}00" for j in range(9))] for k in (5, 10, 20)]
    console = recording_console()
    out = fitted_table(["K", *names], rows, title="MAE by K", console=console)
    console.print(out)
    text = console.export_text()
    assert_uncut(text, names + [c for r in rows for c in r])
    assert text.count("┏") >= 2  # split over several stacked tables, each repeating K


def test_a_key_wider_than_the_console_folds_and_values_stay_whole() -> None:
    name = "item-cf(k=40,similarity=adjusted_cosine,shrinkage=100,ranking=similarity_sum)x"
    console = recording_console()
    console.print(fitted_table(["model", "MAE", "RMSE"], [[name, "0.7342", "0.9311"]],
                               console=console))
    text = console.export_text()
    assert "…" not in text and {"0.7342", "0.9311"} <= cells(text)
    key_cells = [c for line in text.splitlines() for c in re.split(BOX, line)[1:2]]
    assert name in "".join(c.strip() for c in key_cells)


def test_evaluate_table_at_80_columns(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["evaluate", "--model", "baseline", "--folds", "3"]
    assert main([*args, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]["baseline"]
    console = recording_console()
    monkeypatch.setattr(cli, "console", console)
    assert main(args) == 0
    text = console.export_text()
    shown = [m for m in cli.EVAL_METRICS if m in summary]
    timed = [m for m in shown if m.endswith("_seconds")]  # differ from run to run
    assert timed and all(metric_label(m) in cells(text)
                         for m in timed)
    shown = [m for m in shown if m not in timed]
    expected = ["baseline", *(metric_label(m) for m in shown)]
    expected += [format_metric(m, summary[m]) for m in shown]
    if any(re.fullmatch(r"\d\S* ± \S+", c) for c in cells(text)):  # cells "mean ± std"
        found = cells(text)
        for m in shown:
            mean = format_metric(m, summary[m])
            assert any(c == mean or c.startswith(mean + " ± ") for c in found), (m, text)
        assert_uncut(text, expected[: 1 + len(shown)])
    else:
        assert_uncut(text, expected)


def test_k_sweep_tables_at_80_columns_and_no_stale_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A terminal 80 columns wide: the progress bar is drawn with cursor moves; replaying the
    # output on a screen must leave the tables and no progress line behind.
    buffer = io.StringIO()
    saved = rich.get_console().__dict__.copy()
    rich.reconfigure(file=buffer, force_terminal=True, width=80, color_system=None)
    try:
        monkeypatch.setattr(experiment_commands, "console", rich.get_console())
        monkeypatch.setattr(experiment_commands, "err_console", rich.get_console())
        code = main(["experiment", "k-sweep", "--dataset", "demo-shop", "--models",
                     "popularity,baseline,item-cf", "--ks", "5,10", "--folds", "2",
                     "--out", str(tmp_path)])
    finally:
        rich.get_console().__dict__.update(saved)
    assert code == 0
    raw = buffer.getvalue()
    assert "K sweep on demo-shop" in raw  # the bar was drawn
    lines = screen(raw)
    text = "\n".join(lines)
    assert not any("K sweep" in ln or "on fold-" in ln for ln in lines), text
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    expected = ["popularity", "baseline", "item-cf", "5", "10"]
    expected += [format_metric("mae", r["mae"]) for r in results]
    assert_uncut(text, expected)


def screen(raw: str, width: int = 80) -> list[str]:
    """The lines left on a ``width``-column terminal after it received ``raw``: text, ``\\r``,
    ``\\n`` and the control sequences Rich's live display uses (erase line, cursor up)."""
    lines = [""]
    row = col = 0
    for tok in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]", raw):
        if tok == "\r":
            col = 0
        elif tok == "\n":
            row, col = row + 1, 0
        elif tok.startswith("\x1b["):
            code, arg = tok[-1], tok[2:-1]
            if code == "K" and arg == "2":
                lines[row] = ""
            elif code == "A":
                row = max(0, row - int(arg or 1))
            continue
        else:
            if col >= width:
                row, col = row + 1, 0
            while row >= len(lines):
                lines.append("")
            line = lines[row].ljust(col)
            lines[row] = line[:col] + tok + line[col + 1:]
            col += 1
        while row >= len(lines):
            lines.append("")
    return [ln.rstrip() for ln in lines if ln.strip()]


def test_screen_replays_rich_control_codes() -> None:
    assert screen("abc\rX\n\x1b[2Kgone\r\x1b[2K\x1b[1Akept") == ["kept"]
    assert screen("one\ntwo\n\x1b[1A\x1b[2Kthree") == ["one", "three"]


@pytest.fixture(scope="module")
def small_shop() -> InteractionDataset:
    return generate_demo_shop(n_users=250, n_items=400, random_state=3)


def test_demo_output_at_80_columns(small_shop: InteractionDataset, tmp_path: Path) -> None:
    console = recording_console()
    result = run_demo(small_shop, out=tmp_path, console=console)
    text = console.export_text()
    summary = result["summary"]
    from synerec.cli.demo import METRICS as DEMO_METRICS

    shown = [m for m in DEMO_METRICS if m in summary.columns]
    expected = [*map(str, summary.index), *(metric_label(m) for m in shown)]
    expected += [format_metric(m, v) for m in shown for v in summary[m]]
    assert_uncut(text, expected)
    flat = " ".join(text.split())
    assert len(result["recommendations"]) == 5
    for r in result["recommendations"]:
        # titles and explanations wrap at word boundaries but are printed in full
        assert " ".join(r["title"].split()) in flat
        assert " ".join(r["why"].split()) in flat, r["why"]
        assert r["cited"] and all(c in small_shop.items for c in r["cited"])


def test_console_hint_only_when_serve_has_demo() -> None:
    import typer

    group = typer.main.get_command(cli.app)
    serve = group.commands.get("serve")  # type: ignore[attr-defined]
    has_demo = serve is not None and any("--demo" in p.opts for p in serve.params)
    hint = console_hint()
    assert (hint is not None) == has_demo
    if hint:
        assert "synerec serve --demo" in hint


def test_console_hint_names_make_console_without_the_serve_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastapi" else real(name, *a))
    hint = console_hint()
    assert hint is not None and "make console" in hint  # what `make demo`'s venv lacks


def _genre_set() -> tuple[InteractionDataset, Any]:
    rows = [(u, i, 1 + (u + i) % 5) for u in range(12) for i in range(6) if (u + i) % 3]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    items = pd.DataFrame({"item_id": range(6),
                          "title": ["Heat (1995)", "Se7en (1995)", "Fargo (1996)",
                                    "A | B (2001)", "Toy Story (1995)", "Babe (1995)"],
                          "category": ["Crime|Thriller", "Crime|Thriller", "Crime|Drama",
                                       "Comedy", "Animation|Children's", "Children's|Drama"]})
    data = InteractionDataset.from_dataframe(df, items=items, rating_scale=(1, 5), name="genres")
    return data, holdout_split(data, 0.25, per_user=True, random_state=0)


def test_report_escapes_pipes_in_cells(tmp_path: Path) -> None:
    data, fold = _genre_set()
    summary = pd.DataFrame({"mae": [0.8, 0.7], "ndcg@10": [0.1, 0.2]}, index=["a|b", "item-cf"])
    recs = [{"rank": 1, "item_id": 0, "title": "Heat (1995)", "category": "Crime|Thriller",
             "score": 0.9, "why": "Recommended because you rated Se7en (1995) 5/5."},
            {"rank": 2, "item_id": 3, "title": "A | B (2001)", "category": "Comedy",
             "score": 0.5, "why": "Line one\nline | two."}]
    path = write_report(tmp_path, data, fold, summary, 7, "item-cf", recs)
    lines = path.read_text().splitlines()
    tables = [ln for ln in lines if ln.startswith("|")]
    for block in ("| model |", "| rank |"):
        start = next(k for k, ln in enumerate(tables) if ln.startswith(block))
        width = len(_split_row(tables[start]))
        rows = [ln for ln in tables[start:] if not ln.startswith("|---")]
        rows = rows[: 3]
        assert all(len(_split_row(r)) == width for r in rows), rows
    assert r"| Crime\|Thriller |" in path.read_text()
    assert r"| A \| B (2001) |" in path.read_text()
    assert r"| a\|b |" in path.read_text()
    assert "Line one line \\| two." in path.read_text()


def _split_row(line: str) -> list[str]:
    """Cells of a GFM table row: split on ``|`` not preceded by a backslash."""
    return re.split(r"(?<!\\)\|", line.strip().strip("|"))
