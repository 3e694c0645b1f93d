"""The default model: the hybrid when the data has enough for a validation part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synerec.cli.main import main
from synerec.data.demo_shop import generate_demo_shop
from synerec.models import MIN_RANKER_USERS, choose_default_model, validation_users


def test_enough_interactions_choose_the_hybrid() -> None:
    shop = generate_demo_shop(n_users=120, n_items=150, ratings_per_user=25, random_state=11)
    n = validation_users(shop)
    assert MIN_RANKER_USERS <= n <= shop.n_users
    choice = choose_default_model(shop)
    assert choice.name == "hybrid" and f"{n} users" in choice.reason
    tiny = generate_demo_shop(n_users=30, n_items=60, ratings_per_user=8, random_state=1)
    assert validation_users(tiny) < MIN_RANKER_USERS
    choice = choose_default_model(tiny)
    assert choice.name != "hybrid" and "best single retriever" in choice.reason


def test_fit_says_which_model_it_chose(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    tiny = generate_demo_shop(n_users=30, n_items=60, ratings_per_user=8, random_state=1)
    csv = tmp_path / "tiny.csv"
    tiny.to_dataframe().to_csv(csv, index=False)
    assert main(["fit", "--dataset", str(csv), "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    expected = choose_default_model(tiny).name
    assert f"saved {expected} (auto: only" in err
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert manifest["class"] == expected
    assert main(["recommend", "--model-dir", str(tmp_path / "m"), "--user",
                 str(tiny.users.ids[0]), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == expected
