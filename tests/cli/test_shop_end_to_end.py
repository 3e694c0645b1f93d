"""A shop's own exports, end to end from the CLI: file -> saved model -> titled recommendations.

Each export is written here as a shop's system would write it (string ids, repeated rows, blank
cells, a quantity typed as a word, ISO or epoch timestamps, gzip, Parquet, JSON lines), then
read in one command with flags and in one with a config file. A third part asks every command
about an id the model does not know: one line on stderr, exit code 2.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.cli.main import main

CUSTOMERS = [f"{name}@example.com" for name in
             ("amy", "bob", "cid", "dan", "eve", "fay", "gus", "hal", "ivy", "jo")]
PRODUCTS = {"SKU-001": ("Blue mug", "Kitchen"), "SKU-002": ("Teapot", "Kitchen"),
            "SKU-003": ("Oak tray", "Kitchen|Wood"), "SKU-004": ("Linen napkin", "Table"),
            "SKU-005": ("Candle", "Home"), "SKU-006": ("Vase", "Home"),
            "SKU-007": ("Doormat", "Home"), "SKU-008": ("Cheese board", "Kitchen|Wood")}


def _orders(seed: int = 0) -> pd.DataFrame:
    """About 90 clean purchase lines: every customer buys a few products, some twice."""
    rng = np.random.default_rng(seed)
    skus = list(PRODUCTS)
    rows = []
    for k, email in enumerate(CUSTOMERS):
        for j in rng.choice(len(skus), size=4 + k % 4, replace=False):
            for _ in range(1 + int(rng.integers(0, 2))):
                rows.append({"order_id": f"O{len(rows):04d}", "customer_email": email,
                             "sku": skus[j], "quantity": int(rng.integers(1, 4)),
                             "price": 4.5, "ts": 1_709_280_000 + 3600 * len(rows)})
    return pd.DataFrame(rows)


BAD_LINES = {  # what a real export holds besides good rows, and what the summary must say
    "missing id in column 'customer_email'": {"customer_email": ""},
    "missing id in column 'sku'": {"sku": " "},
    "expected a number in column 'quantity'": {"quantity": "two"},
    "missing value in column 'quantity'": {"quantity": ""},
    "missing timestamp in column 'ts'": {"ts": ""},
}


@dataclass
class Export:
    """One export file and how to read it."""

    path: Path
    flags: list[str]
    toml: str
    titles: dict[str, str] = field(default_factory=dict)
    n_bad: int = 0


def _with_bad_rows(df: pd.DataFrame, ts_text: bool) -> pd.DataFrame:
    df = df.astype(object)
    if ts_text:
        df["ts"] = pd.to_datetime(df["ts"], unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    df = pd.concat([df, df.iloc[[3, 3]]], ignore_index=True)  # an exported line twice more
    bad = []
    for k, change in enumerate(BAD_LINES.values()):
        row = df.iloc[k].to_dict()
        row.update(change)
        bad.append(row)
    return pd.concat([df.iloc[:10], pd.DataFrame(bad), df.iloc[10:]], ignore_index=True)


def _csv_export(tmp: Path) -> Export:
    df = _orders(1)
    df["product_name"] = [PRODUCTS[s][0] for s in df["sku"]]
    df["category"] = [PRODUCTS[s][1] for s in df["sku"]]
    df = _with_bad_rows(df, ts_text=True)
    path = tmp / "orders.csv"
    df.to_csv(path, index=False)
    flags = ["--user-col", "customer_email", "--item-col", "sku", "--weight-col", "quantity",
             "--time-col", "ts", "--title-col", "product_name", "--category-col", "category",
             "--on-bad-rows", "skip"]
    toml = ('[data]\npath = "orders.csv"\nuser_col = "customer_email"\nitem_col = "sku"\n'
            'weight_col = "quantity"\ntime_col = "ts"\ntitle_col = "product_name"\n'
            'category_col = "category"\non_bad_rows = "skip"\n')
    return Export(path, flags, toml, {s: t for s, (t, _) in PRODUCTS.items()}, len(BAD_LINES))


def _tsv_gz_export(tmp: Path) -> Export:
    """Epoch seconds, gzip, titles in a separate catalogue file with its own column names."""
    df = _with_bad_rows(_orders(2), ts_text=False)
    path = tmp / "orders.tsv.gz"
    path.write_bytes(gzip.compress(df.to_csv(index=False, sep="\t").encode()))
    catalogue = tmp / "products.csv"
    pd.DataFrame({"sku": list(PRODUCTS), "name": [t for t, _ in PRODUCTS.values()],
                  "category": [c for _, c in PRODUCTS.values()]}).to_csv(catalogue, index=False)
    flags = ["--user-col", "customer_email", "--item-col", "sku", "--weight-col", "quantity",
             "--time-col", "ts", "--items", str(catalogue), "--title-col", "name",
             "--on-bad-rows", "skip"]
    toml = ('[data]\npath = "orders.tsv.gz"\nuser_col = "customer_email"\nitem_col = "sku"\n'
            'weight_col = "quantity"\ntime_col = "ts"\nitems = "products.csv"\n'
            'title_col = "name"\non_bad_rows = "skip"\n')
    return Export(path, flags, toml, {s: t for s, (t, _) in PRODUCTS.items()}, len(BAD_LINES))


def _parquet_export(tmp: Path) -> Export:
    """Integer customer ids, epoch milliseconds, repeated lines merged by their maximum."""
    df = _orders(3)
    df["customer_email"] = [CUSTOMERS.index(e) + 1000 for e in df["customer_email"]]
    df["ts"] = df["ts"] * 1000
    df["title"] = [PRODUCTS[s][0] for s in df["sku"]]
    path = tmp / "orders.parquet"
    df.rename(columns={"customer_email": "customer_id"}).to_parquet(path, index=False)
    flags = ["--user-col", "customer_id", "--item-col", "sku", "--weight-col", "quantity",
             "--time-col", "ts", "--title-col", "title", "--duplicates", "max"]
    toml = ('[data]\npath = "orders.parquet"\nuser_col = "customer_id"\nitem_col = "sku"\n'
            'weight_col = "quantity"\ntime_col = "ts"\ntitle_col = "title"\n'
            'duplicates = "max"\n')
    return Export(path, flags, toml, {s: t for s, (t, _) in PRODUCTS.items()})


def _jsonl_export(tmp: Path) -> Export:
    """Clicks as JSON lines (every line one positive), ISO times with offsets."""
    df = _orders(4).drop(columns=["quantity", "price"])
    df["ts"] = pd.to_datetime(df["ts"], unit="s", utc=True).dt.tz_convert(
        "Europe/Berlin").map(lambda t: t.isoformat())
    path = tmp / "clicks.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for rec in df.to_dict(orient="records"):
            rec["product"] = PRODUCTS[rec["sku"]][0]
            fh.write(json.dumps(rec) + "\n")
        fh.write("this line is not JSON\n")
    flags = ["--user-col", "customer_email", "--item-col", "sku", "--implicit", "--time-col",
             "ts", "--title-col", "product", "--on-bad-rows", "skip"]
    toml = ('[data]\npath = "clicks.jsonl"\nuser_col = "customer_email"\nitem_col = "sku"\n'
            'implicit = true\ntime_col = "ts"\ntitle_col = "product"\non_bad_rows = "skip"\n')
    return Export(path, flags, toml, {s: t for s, (t, _) in PRODUCTS.items()}, 1)


EXPORTS = {"csv": _csv_export, "tsv.gz": _tsv_gz_export, "parquet": _parquet_export,
           "jsonl": _jsonl_export}


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _check_titled_lists(capsys: pytest.CaptureFixture[str], model_dir: Path,
                        export: Export, user: str) -> None:
    code, out, err = _run(capsys, "recommend", "--model-dir", str(model_dir), "--user", user,
                          "--n", "3", "--format", "json")
    assert code == 0, err
    rec = json.loads(out)["recommendations"][0]
    assert rec["fallback"] is None and len(rec["items"]) == 3
    for entry in rec["items"]:
        assert entry["title"] == export.titles[entry["item_id"]]
    code, out, err = _run(capsys, "recommend", "--model-dir", str(model_dir), "--user", user,
                          "--n", "3")
    assert code == 0 and rec["items"][0]["title"] in out  # the table shows titles too


@pytest.mark.parametrize("kind", list(EXPORTS))
@pytest.mark.parametrize("how", ["flags", "config"])
def test_export_to_titled_recommendations(kind: str, how: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    export = EXPORTS[kind](tmp_path)
    model_dir = tmp_path / "model"
    if how == "flags":
        data = ["--data", str(export.path), *export.flags]
    else:
        (tmp_path / "shop.toml").write_text(export.toml, encoding="utf-8")
        data = ["--config", str(tmp_path / "shop.toml")]
    code, _, err = _run(capsys, "fit", *data, "--model", "item-cf", "--out", str(model_dir))
    assert code == 0, err
    assert "implicit feedback" in err and "Traceback" not in err
    if export.n_bad:
        assert f"skipped {export.n_bad} bad rows" in err
    if kind in ("csv", "tsv.gz"):
        for problem in BAD_LINES:  # every kind of problem, with its count and line
            assert f"{problem}: 1 (line " in err, problem
    if kind == "jsonl":
        assert "invalid JSON" in err
    user = "1001" if kind == "parquet" else "bob@example.com"
    _check_titled_lists(capsys, model_dir, export, user)
    # The saved model names its data: `llm explain` needs no --dataset.
    code, out, err = _run(capsys, "recommend", "--model-dir", str(model_dir), "--user", user,
                          "--n", "1", "--format", "json")
    item = json.loads(out)["recommendations"][0]["items"][0]["item_id"]
    code, out, err = _run(capsys, "llm", "explain", "--model-dir", str(model_dir), "--user",
                          user, "--item", str(item), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["source"] == "template"


def test_implicit_predict_says_what_applies(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    export = _csv_export(tmp_path)
    model_dir = tmp_path / "model"
    assert main(["fit", "--data", str(export.path), *export.flags, "--out", str(model_dir)]) == 0
    capsys.readouterr()
    code, out, err = _run(capsys, "recommend", "--model-dir", str(model_dir), "--user",
                          "amy@example.com", "--n", "1", "--format", "json")
    top = json.loads(out)["recommendations"][0]["items"][0]
    code, out, err = _run(capsys, "predict", "--model-dir", str(model_dir), "--user",
                          "amy@example.com", "--item", top["item_id"], "--format", "json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["feedback"] == "implicit" and answer["prediction"] is None
    assert answer["rank"] == 1 and answer["score"] == pytest.approx(top["score"])
    assert "no rating to predict" in answer["reason"] and answer["title"] == top["title"]
    code, _, err = _run(capsys, "predict", "--model-dir", str(model_dir), "--user",
                        "amy@example.com", "--item", top["item_id"], "--threshold", "4")
    assert code == 2 and "fitted on implicit feedback" in err


# -- every command, one unknown id: one line, exit code 2 ----------------------------------------

@pytest.fixture(scope="module")
def shop_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("shop")
    export = _csv_export(tmp)
    out = tmp / "model"
    assert main(["fit", "--data", str(export.path), *export.flags, "--out", str(out)]) == 0
    (tmp / "users.txt").write_text("amy@example.com\nnobody@example.com\n", encoding="utf-8")
    return out


def _unknown_id_calls(model: str, users_file: str) -> list[list[str]]:
    known_user, known_item = "amy@example.com", "SKU-001"
    return [
        ["recommend", "--model-dir", model, "--user", "nobody@example.com"],
        ["recommend", "--model-dir", model, "--user", known_user, "--user", "nobody@x"],
        ["predict", "--model-dir", model, "--user", "nobody@example.com", "--item", known_item],
        ["predict", "--model-dir", model, "--user", known_user, "--item", "99999"],
        ["llm", "recommend", "--model-dir", model, "--user", "nobody@example.com",
         "--rerank", "none"],
        ["llm", "explain", "--model-dir", model, "--user", "nobody@example.com", "--item",
         known_item],
        ["llm", "explain", "--model-dir", model, "--user", known_user, "--item", "99999"],
        ["batch-recommend", "--model-dir", model, "--users", users_file, "--out",
         str(Path(users_file).with_suffix(".parquet")), "--no-progress"],
    ]


def test_every_command_refuses_unknown_ids_in_one_line(shop_model: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    users_file = str(shop_model.parent / "users.txt")
    for args in _unknown_id_calls(str(shop_model), users_file):
        code, _, err = _run(capsys, *args)
        assert code == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, (args, err)
        assert "unknown user id" in err or "unknown item id" in err, (args, err)
    assert not Path(users_file).with_suffix(".parquet").exists()
    # the fallback, when asked for, is flagged
    code, out, _ = _run(capsys, "recommend", "--model-dir", str(shop_model), "--user",
                        "nobody@example.com", "--unknown", "fallback", "--format", "json")
    rec = json.loads(out)["recommendations"][0]
    assert code == 0 and rec["fallback"] == "unknown_user" and len(rec["items"]) == len(PRODUCTS)
