"""The model guide (`synerec models`): every model listed, every figure a measured one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from synerec.algorithms import list_models
from synerec.algorithms.guide import USES, model_guides
from synerec.cli.main import main

EXPERIMENTS = Path(__file__).resolve().parents[2] / "docs" / "experiments.md"


def _sections() -> dict[str, str]:
    text = EXPERIMENTS.read_text(encoding="utf-8")
    parts = re.split(r"^#{2,3} (.+)$", text, flags=re.M)
    return {parts[k].strip(): parts[k + 1] for k in range(1, len(parts) - 1, 2)}


def test_every_registered_model_has_a_guide_entry() -> None:
    guides = {g.name: g for g in model_guides()}
    assert set(guides) == set(list_models())
    for g in guides.values():
        assert g.summary != "(no guide entry yet)", f"{g.name} needs an entry in guide.py"
        assert g.uses and set(g.uses) <= set(USES), g.name
        assert set(g.data) <= {"ratings", "implicit", "item text"} and g.data, g.name


def test_every_figure_is_in_docs_experiments() -> None:
    sections = _sections()
    for g in model_guides():
        for fig in g.figures:
            assert fig.section in sections, f"{g.name}: no section {fig.section!r}"
            body = sections[fig.section]
            for metric, value in fig.metrics:
                assert value in body, f"{g.name}: {metric} {value} not in '{fig.section}'"


def test_models_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    by_name = {m["name"]: m for m in payload["models"]}
    assert "implicit" in by_name["item-cf"]["data"]
    assert by_name["mf"]["uses"] == ["rating prediction"]
    assert by_name["item-cf"]["figures"][0]["metrics"] == {"MAE": "0.7221", "RMSE": "0.9229"}
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "t-item-cf" in out and "prediction: mf" in out
    assert main(["fit", "--help"]) == 0
    assert "synerec models" in capsys.readouterr().out
