"""A `recommend` from a saved item-cf loads what the answer needs, not every library.

Issue 23 asks for a `recommend` from a saved model in under a second as a whole process
(bench/cli_latency.py times it). What a test can hold is the cause: loading a saved item-cf and
ranking one user imports neither pandas nor numba (nor another model family), and the unknown-
user error path neither.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synerec.algorithms import ItemKNN
from synerec.data import InteractionDataset

#: Not needed to load a saved item-cf and rank one user.
UNNEEDED = ("pandas", "numba", "llvmlite", "sklearn", "lightgbm", "torch", "pyarrow",
            "synerec.hybrid", "synerec.algorithms.ease", "synerec.algorithms.sasrec",
            "synerec.algorithms.text_retriever", "synerec.algorithms._knn_kernels",
            "synerec._topk_kernels")


@pytest.fixture(scope="module")
def saved_item_cf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pandas as pd

    rows = [(u, i, 1 + (u * 7 + i * 3) % 5) for u in range(12) for i in range(10)
            if (u + i) % 3]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    data = InteractionDataset.from_dataframe(df, rating_scale=(1, 5), name="toy")
    return ItemKNN(k=3).fit(data).save(tmp_path_factory.mktemp("m") / "item-cf")


def _loaded_after(code: str) -> tuple[list[str], str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1]) + done.stderr


def _unneeded(loaded: list[str]) -> list[str]:
    return sorted(m for m in UNNEEDED if m in loaded)


def test_loading_and_ranking_one_user_imports_neither_pandas_nor_numba(
        saved_item_cf: Path) -> None:
    loaded, out = _loaded_after(
        "from synerec.models import load_model\n"
        f"m = load_model({str(saved_item_cf)!r})\n"
        "ids, scores = m.recommend([1], 3)\n"
        "print(ids.tolist())")
    assert _unneeded(loaded) == []
    assert "[[" in out


@pytest.mark.parametrize("user, code", [("1", 0), ("no-such-user", 2)])
def test_the_recommend_command_imports_neither(saved_item_cf: Path, user: str,
                                               code: int) -> None:
    loaded, out = _loaded_after(
        "from synerec.cli.main import main\n"
        f"code = main(['recommend', '--model-dir', {str(saved_item_cf)!r}, '--user', "
        f"{user!r}, '--n', '3'])\n"
        f"assert code == {code}, code")
    assert _unneeded(loaded) == []
    if code:
        assert "unknown user id 'no-such-user'" in out


def test_the_models_command_lists_every_model_in_a_fresh_process() -> None:
    """`synerec models` asks the composition root, which imports every family: the hybrid is
    listed though nothing imported it before (a lazy start must not drop it)."""
    done = subprocess.run(
        [sys.executable, "-c",
         "from synerec.cli.main import main\nraise SystemExit(main(['models', '--format', "
         "'json']))"], capture_output=True, text=True, timeout=300, check=True)
    names = [m["name"] for m in json.loads(done.stdout)["models"]]
    assert "hybrid" in names and "item-cf" in names and "ease" in names
