"""The data flags every data-reading command shares, and their one-line mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from synerec.cli.data_options import _FLAGS
from synerec.cli.main import main

#: Every command that reads a data set, as typed after ``synerec``.
DATA_COMMANDS = [("fit",), ("evaluate",), ("predict",), ("experiment", "k-sweep"), ("demo",),
                 ("text", "embed"), ("llm", "recommend"), ("llm", "explain"), ("encoder", "fit")]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _flags(option: typer.models.OptionInfo) -> list[str]:
    """The long flags of an option (Typer keeps the first one as its ``default``)."""
    decls = [option.default, *option.param_decls]
    return [f for d in decls if isinstance(d, str) for f in d.split("/") if f.startswith("--")]


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=" ".join)
def test_every_data_command_takes_the_same_flags(capsys, command: tuple[str, ...]) -> None:
    import typer.main

    from synerec.cli.main import app

    group = typer.main.get_command(app)
    cmd = group
    for word in command:
        cmd = cmd.commands[word]  # type: ignore[attr-defined]
    names = {opt for p in cmd.params
             for opt in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
    flags = [flag for _, _, option in _FLAGS for flag in _flags(option)]
    assert len(flags) == len(_FLAGS) + 2  # --dataset and --data; --implicit and --explicit
    for flag in flags:
        assert flag in names, f"synerec {' '.join(command)} lacks {flag}"


def _orders(tmp_path: Path) -> Path:
    rows = ["order_id,customer,sku,qty,ts"]
    for k in range(60):
        rows.append(f"O{k},c{k % 12},S{(k * 7) % 9},{1 + k % 3},{1_700_000_000 + 3600 * k}")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_reading_flags_with_a_named_data_set_are_refused(capsys) -> None:
    code, _, err = run(capsys, "fit", "--dataset", "ml-100k", "--user-col", "u", "--out", "x")
    assert code == 2 and "--user-col applies to an interaction file" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("flags", "message"), [
    (["--rating-scale", "5"], "--rating-scale must be LOW,HIGH"),
    (["--where", "qty >"], "cannot read the filter 'qty >'"),
    (["--on-bad-rows", "ignore"], "--on-bad-rows: Input should be 'error' or 'skip'"),
    (["--duplicates", "median"], "--duplicates: Input should be"),
    (["--id-case", "title"], "id_case must be keep, lower or upper"),
    (["--input-format", "xlsx"], "--input-format: Input should be"),
    (["--user-col", "email"], "missing column(s) ['email']"),
])
def test_bad_flag_values_are_one_line(capsys, tmp_path: Path, flags: list[str],
                                      message: str) -> None:
    path = _orders(tmp_path)
    code, _, err = run(capsys, "fit", "--data", str(path), "--user-col", "customer",
                       "--item-col", "sku", "--implicit", *flags, "--out",
                       str(tmp_path / "m"))
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_evaluate_implicit_export_needs_no_threshold(capsys, tmp_path: Path) -> None:
    path = _orders(tmp_path)
    code, out, err = run(capsys, "evaluate", "--data", str(path), "--user-col", "customer",
                         "--item-col", "sku", "--weight-col", "qty", "--time-col", "ts",
                         "--model", "item-cf", "--folds", "temporal", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["relevance_threshold"] is None
    assert "mae" not in result["summary"]["item-cf"]
    assert 0 <= result["summary"]["item-cf"]["ndcg@10"] <= 1
    assert "implicit feedback, weights from 'qty'" in err
    code, _, err = run(capsys, "evaluate", "--data", str(path), "--user-col", "customer",
                       "--item-col", "sku", "--implicit", "--relevance-threshold", "4")
    assert code == 2 and "--relevance-threshold applies to ratings" in err


def test_config_file_and_flags_beside_it(capsys, tmp_path: Path) -> None:
    path = _orders(tmp_path)
    cfg = tmp_path / "shop.toml"
    cfg.write_text(f'[data]\npath = "{path.name}"\nuser_col = "customer"\nitem_col = "sku"\n'
                   'weight_col = "qty"\ntime_col = "ts"\nname = "acme"\n', encoding="utf-8")
    code, _, err = run(capsys, "fit", "--config", str(cfg), "--model", "popularity", "--out",
                       str(tmp_path / "m"))
    assert code == 0, err
    assert "read " in err and "saved popularity fitted on acme" in err
    # a flag beside the file wins over its value
    code, _, err = run(capsys, "fit", "--config", str(cfg), "--where", "qty > 1", "--model",
                       "popularity", "--out", str(tmp_path / "m2"))
    assert code == 0 and "where qty > 1: dropped 20 rows" in err
    code, _, err = run(capsys, "fit", "--config", str(cfg), "--dataset", "ml-100k", "--out",
                       str(tmp_path / "m3"))
    assert code == 2 and "names a data set" in err


def test_text_embed_reads_an_export_with_titles(capsys, tmp_path: Path) -> None:
    path = tmp_path / "orders.tsv"
    path.write_text("customer\tsku\tname\nc1\tS1\tRed mug\nc2\tS1\tRed mug\nc2\tS2\tBlue "
                    "teapot\n", encoding="utf-8")
    code, out, err = run(capsys, "text", "embed", "--data", str(path), "--user-col",
                         "customer", "--item-col", "sku", "--implicit", "--title-col", "name",
                         "--encoder", "tfidf", "--cache-dir", str(tmp_path / "cache"),
                         "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["count"] == 2 and result["empty_texts"] == 0
