"""The CLI fixes of issue 23, item 5: ids never cut, the unknown-user hint, wording."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from synerec.cli import answer_commands
from synerec.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _hash(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _hashed_export(tmp_path: Path, id_length: int) -> Path:
    rows = ["customer,product,title,ts"]
    for u in range(30):
        for j in range(4):
            item = (u * 3 + j * 5) % 17
            rows.append(f"{_hash(f'u{u}')},{_hash(f'p{item}', id_length)},"
                        f"A rather long product title number {item} with words,"
                        f"{1_700_000_000 + 3600 * (u * 4 + j)}")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("id_length", [32, 64])
def test_recommend_at_80_columns_never_cuts_an_item_id(capsys, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       id_length: int) -> None:
    path = _hashed_export(tmp_path, id_length)
    model = tmp_path / "m"
    code, _, err = run(capsys, "fit", "--data", str(path), "--user-col", "customer",
                       "--item-col", "product", "--title-col", "title", "--time-col", "ts",
                       "--implicit", "--model", "popularity", "--out", str(model))
    assert code == 0, err
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    monkeypatch.setattr(answer_commands, "console", console)
    code, _, err = run(capsys, "recommend", "--model-dir", str(model), "--user",
                       _hash("u0"), "--n", "5")
    assert code == 0, err
    text = console.export_text()
    assert "…" not in text
    assert max(len(ln) for ln in text.splitlines()) <= 80
    shown = [_hash(f"p{i}", id_length) for i in range(17) if _hash(f"p{i}", id_length) in text]
    assert len(shown) == 5, text  # every id whole, on one line


def test_unknown_user_message_names_the_fallback_flag(capsys, tmp_path: Path) -> None:
    model = tmp_path / "m"
    assert run(capsys, "fit", "--model", "popularity", "--out", str(model))[0] == 0
    code, _, err = run(capsys, "recommend", "--model-dir", str(model), "--user", "nobody")
    assert code == 2
    assert "unknown user id 'nobody'" in err and "--unknown fallback" in err


def _shop(name: str):
    from synerec.data.demo_shop import generate_demo_shop

    ds = generate_demo_shop(n_users=120, n_items=200, random_state=5)
    return ds.subset(np.arange(ds.n_interactions), name=name)


def test_demo_on_another_shop_does_not_offer_the_demo_console(tmp_path: Path,
                                                              monkeypatch) -> None:
    from synerec.cli import demo

    monkeypatch.setattr(demo, "console_hint", lambda: "Open the web console on the demo shop")
    for name, shown in (("shop", False), ("demo-shop", True)):
        console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
        demo.run_demo(_shop(name), out=tmp_path / name, console=console)
        text = " ".join(console.export_text().split())
        assert ("Open the web console on the demo shop" in text) is shown, (name, text[-300:])


def test_history_line_counts_one_item_in_the_singular() -> None:
    from synerec.cli.demo import _history_line

    ds = _shop("shop")
    first = np.flatnonzero(ds.user_index == 0)[:1]
    rows = np.concatenate([first, np.flatnonzero(ds.user_index != 0)])
    one = ds.subset(rows)
    u = one.users.index(ds.users.id(0))
    line = _history_line(one, one.matrix, u)
    assert " 1 item: " in line and "1 items" not in line
    assert "1 more categories" not in line and "1 more departments" not in line


def test_error_messages_keep_square_brackets(capsys) -> None:
    # Rich markup would swallow "[tables]": messages are printed escaped
    code, _, err = run(capsys, "evaluate", "--model", "baseline", "--format", "[tables]")
    assert code == 2 and "not '[tables]'" in err


def test_model_level_config_errors_without_the_whole_input(capsys, tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text("order,customer,sku\nO1,c1,s1\n", encoding="utf-8")
    cfg = tmp_path / "shop.toml"
    cfg.write_text('[data]\nformat = "csv"\nuser_col = "customer"\nitem_col = "sku"\n'
                   '[tables.lines]\npath = "orders.csv"\n', encoding="utf-8")
    code, _, err = run(capsys, "profile", "--config", str(cfg))
    assert code == 2, err
    assert "with [tables], give each table's format in its table" in err
    assert "Value error" not in err and "(got {" not in err
