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


def test_the_family_table_equals_the_registry() -> None:
    """FAMILIES names every registered model and the module that registers it; with every
    family imported, the registry holds exactly its names."""
    import importlib

    from synerec import models
    from synerec.algorithms import registry

    for module in set(models.FAMILIES.values()):
        importlib.import_module(module)
    assert sorted(models.FAMILIES) == models.list_models() == registry.list_models()
    for name, module in models.FAMILIES.items():
        cls = models.get_model_class(name)
        assert cls.__module__ == module or cls.__module__.startswith(module + "."), name
    assert set(registry.ALGORITHM_FAMILIES) == set(models.FAMILIES.values()) - {"synerec.hybrid"}


def test_a_name_imports_only_its_family() -> None:
    """In a fresh process: loading or creating item-cf imports its family, not the hybrid or
    the other families; asking for the list imports them all."""
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from synerec import models\n"
        "before = [m for m in sys.modules if m.startswith(('synerec.algorithms.', "
        "'synerec.hybrid'))]\n"
        "models.create_model('item-cf', k=3)\n"
        "one = sorted(m for m in sys.modules if m.startswith(('synerec.hybrid', "
        "'synerec.algorithms.ease', 'synerec.algorithms.sasrec', 'synerec.algorithms.mf')))\n"
        "names = models.list_models()\n"
        "print(json.dumps([one, 'synerec.algorithms.knn' in sys.modules, "
        "'synerec.hybrid.model' in sys.modules, 'hybrid' in names]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[], True, True, True]


def test_registry_functions_of_the_algorithms_package_know_every_family() -> None:
    """`from synerec.algorithms import create_model` works for every family, as before the
    package became lazy."""
    import subprocess
    import sys

    code = ("from synerec.algorithms import list_models, get_model_class\n"
            "from synerec.algorithms.registry import get_model_class as direct\n"
            "print(list_models(), direct('ease').__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    assert "'rp3beta'" in out and "'item-cf'" in out and out.strip().endswith("EASE")


def test_fitting_the_hybrid_prints_progress_lines(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A fit that takes minutes says what it is doing: each stage and each retriever on
    stderr, with the seconds since the command began; stdout keeps only the answer."""
    shop = generate_demo_shop(n_users=120, n_items=150, ratings_per_user=25, random_state=11)
    csv = tmp_path / "shop.csv"
    shop.to_dataframe().to_csv(csv, index=False)
    assert main(["fit", "--dataset", str(csv), "--model", "hybrid", "--param",
                 "retrievers=[\"ease\",\"popularity\"]", "--out", str(tmp_path / "m")]) == 0
    out, err = capsys.readouterr()
    lines = [ln.strip() for ln in err.splitlines() if " s  hybrid: " in ln]
    assert any("validation part 1/" in ln and "fitting 2 retrievers" in ln for ln in lines)
    assert any("retriever 1/2 ease fitted in" in ln for ln in lines)
    assert any("retriever 2/2 popularity fitted in" in ln for ln in lines)
    assert any("LambdaRank ranker trained on" in ln for ln in lines)
    assert any("refitting 2 retrievers on all" in ln for ln in lines)
    assert lines[-1].split(" s  hybrid: ")[1].startswith("fitted in")
    seconds = [float(ln.split(" s  ")[0]) for ln in lines]
    assert seconds == sorted(seconds)  # elapsed time since the command began
    assert "hybrid:" not in out
