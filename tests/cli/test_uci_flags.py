"""UCI Online Retail read as any shop's export, through the CLI's flags: the same lists as the
built-in loader (synerec.data.retail), model by model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.cli.main import main
from tests.conftest import require_dataset

#: Models compared: a neighbourhood model and the ranking model EASE.
MODELS = ("item-cf", "ease")

#: The loader's cleaning rules (synerec.data.retail), written as an analyst would write them.
FLAGS = ["--user-col", "CustomerID", "--item-col", "StockCode", "--weight-col", "Quantity",
         "--time-col", "InvoiceDate", "--title-col", "Description", "--id-case", "upper",
         "--where", "InvoiceNo !~ ^C", "--where", r"StockCode ~ ^\d{5}[A-Za-z]*$",
         "--where", "CustomerID ~ .", "--where", "Quantity > 0", "--where", "UnitPrice > 0"]


@pytest.fixture(scope="module")
def loader_data():  # type: ignore[no-untyped-def]
    from synerec.data import load_dataset

    folder = require_dataset("uci-online-retail", "online_retail.csv.gz")
    return load_dataset("uci-online-retail", data_home=folder.parent, download=False)


@pytest.mark.parametrize("model", MODELS)
def test_flags_give_the_loaders_lists(model: str, loader_data, tmp_path: Path,  # type: ignore[no-untyped-def]
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from synerec.algorithms import create_model

    path = require_dataset("uci-online-retail", "online_retail.csv.gz") / "online_retail.csv.gz"
    out = tmp_path / model
    code = main(["fit", "--data", str(path), *FLAGS, "--model", model, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    # the loader's drop counts, one filter per reason (each row under the first that drops it)
    for expr, count in [("InvoiceNo !~ ^C", 9288), (r"StockCode ~ ^\d{5}[A-Za-z]*$", 2411),
                        ("CustomerID ~ .", 133840), ("UnitPrice > 0", 33)]:
        assert f"where {expr}: dropped {count:,} rows" in err
    assert "4334 users, 3659 items, 266221 interactions, implicit feedback" in err
    recs = tmp_path / "recs.parquet"
    code = main(["batch-recommend", "--model-dir", str(out), "--users", "all", "--n", "10",
                 "--out", str(recs), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    got = pd.read_parquet(recs)
    want = create_model(model).fit(loader_data).recommend_frame(loader_data.users.ids, 10)
    assert len(got) == len(want) == 10 * loader_data.n_users
    got = got.sort_values(["user_id", "rank"], key=lambda s: s.astype(str), kind="stable")
    want = want.sort_values(["user_id", "rank"], key=lambda s: s.astype(str), kind="stable")
    assert got["user_id"].astype(str).tolist() == want["user_id"].astype(str).tolist()
    assert got["item_id"].tolist() == want["item_id"].tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-6)
