"""tools/architecture_report.py finds each pattern it measures, on small synthetic packages."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "architecture_report.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("architecture_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


ar = _load()


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A package ``synerec`` under ``root`` with the given files (``__init__.py`` added)."""
    pkg = root / "synerec"
    for rel, text in {"__init__.py": "", **files}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(pkg).parents:
            init = pkg / parent / "__init__.py"
            if not init.exists():
                init.write_text("")
        path.write_text(textwrap.dedent(text))
    return pkg


def figure(report: dict, name: str) -> dict:
    (f,) = [f for f in report["figures"] if f["name"] == name]
    return f


def test_three_module_circle_across_folders(tmp_path: Path) -> None:
    pkg = write_package(tmp_path, {
        "algorithms/a.py": "from synerec.algorithms import b\n",
        "algorithms/b.py": "def f():\n    from ..hybrid import c\n",
        "hybrid/c.py": "import importlib\n\ndef g():\n"
                       "    importlib.import_module('synerec.algorithms.a')\n",
        "data/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from synerec.algorithms import a\n",
    })
    report = ar.analyse(pkg)
    (circle,) = report["import_circles"]
    assert circle["files"] == ["synerec/algorithms/a.py", "synerec/algorithms/b.py",
                               "synerec/hybrid/c.py"]
    assert circle["across_folders"]
    assert figure(report, "largest import circle (files)")["value"] == 3
    assert figure(report, "largest import circle (files)")["status"] == "ok"
    assert figure(report, "import circles across folders")["status"] == "over"
    # only the module-level arrow a -> b is a module-level import: no circle of those alone
    assert report["import_circles_module_level"] == []
    assert figure(report, "synerec imports inside functions")["value"] == 2
    assert figure(report, "TYPE_CHECKING-only imports")["value"] == 1
    assert ar.missed(report) == ["import circles across folders", "upward arrows "
                                 "(lower layer -> higher)"]


def test_upward_arrows_and_the_roots_lazy_reexports(tmp_path: Path) -> None:
    pkg = write_package(tmp_path, {
        "__init__.py": "def __getattr__(name):\n    from synerec.cli import main\n"
                       "    return main\n",
        "topk.py": "from synerec import exceptions\n",
        "exceptions.py": "",
        "service/app.py": "def mount():\n    from synerec.console import pages\n",
        "console/pages.py": "from synerec.service import app\n",
        "cli/main.py": "",
        "algorithms/knn.py": "from ..data import dataset\n",
        "data/dataset.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                           "    from synerec.llm import base\nelse:\n    base = None\n",
        "llm/base.py": "",
    })
    report = ar.analyse(pkg)
    assert report["upward_arrows"] == [
        "synerec/service/app.py:2 -> synerec.console.pages (layer 8 -> 9) (in a function)"]
    assert report["root_lazy_reexports"] == [
        "synerec/__init__.py:2 -> synerec.cli.main (layer 0 -> 10)"]
    assert report["type_checking_upward"] == [
        "synerec/data/dataset.py:3 -> synerec.llm.base (layer 1 -> 4)"]
    assert figure(report, "upward arrows (lower layer -> higher)")["status"] == "over"


def test_eager_root_import_of_a_higher_layer_is_an_arrow(tmp_path: Path) -> None:
    pkg = write_package(tmp_path, {"__init__.py": "from synerec.data import load\n",
                                   "data/load.py": "", "widgets/x.py": ""})
    report = ar.analyse(pkg)
    assert report["upward_arrows"] == ["synerec/__init__.py:1 -> synerec.data.load "
                                       "(layer 0 -> 1)"]
    assert report["unlayered_modules"] == ["synerec.widgets", "synerec.widgets.x"]


MODELS = """\
from synerec.algorithms.scoring import ScoringModel

class Recommender(ScoringModel):
    def recommend(self, u): ...

def register_model(name):
    return lambda c: c

@register_model("knn")
class ItemKNN(Recommender):
    predicts_ratings = True

    def fit(self, X):
        self.user_count_ = X.sum(1)
        self.similarity_ = X
        return self

    def __repr__(self):
        return "ItemKNN()"

class Helper:
    def other_(self): ...
"""


def test_probes_class_checks_and_known_user_copies(tmp_path: Path) -> None:
    pkg = write_package(tmp_path, {
        "algorithms/scoring.py": "class ScoringModel:\n    def score_contributions(self): ...\n",
        "algorithms/knn.py": MODELS,
        "algorithms/inside.py": "from .knn import ItemKNN\n\ndef f(m):\n"
                                "    return isinstance(m, ItemKNN)\n",
        "service/engine.py": textwrap.dedent("""\
            from synerec.algorithms.knn import ItemKNN as Knn
            from synerec.algorithms import knn

            def answer(model, u, enc):
                if getattr(model, "predicts_ratings", False):
                    pass
                if hasattr(model, "similarity_") and hasattr(model, "other_"):
                    pass
                getattr(model, "fit", None)
                getattr(model, "__repr__", None)
                getattr(model, "similarity_")
                if isinstance(model, (int, Knn)) or issubclass(type(model), knn.ItemKNN):
                    pass
                if isinstance(model, knn.Recommender):
                    pass
                known = u >= 0 and model.user_count_[u] > 0
                cold = 0 == model.item_count_
                return known, cold, model.user_count_[u] > 1
            """),
    })
    report = ar.analyse(pkg)
    assert sorted(report["model_classes"]) == ["ItemKNN", "Recommender", "ScoringModel"]
    assert sorted(report["concrete_model_classes"]) == ["ItemKNN"]
    probes = [(p["where"], p["name"]) for p in report["probes"]]
    assert probes == [("synerec/service/engine.py:5", "predicts_ratings"),
                      ("synerec/service/engine.py:7", "similarity_"),
                      ("synerec/service/engine.py:9", "fit")]
    assert figure(report, "  of names ending in _ or named abilities")["value"] == 2
    checks = [c["where"] for c in report["concrete_class_checks"]]
    assert checks == ["synerec/service/engine.py:12", "synerec/service/engine.py:12"]
    assert report["known_user_copies"] == [
        "synerec/service/engine.py:16 model.user_count_[u] > 0",
        "synerec/service/engine.py:17 0 == model.item_count_"]


def test_pending_sniffing_ignores_and_long_functions(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(79))
    pkg = write_package(tmp_path, {
        "algorithms/text.py": textwrap.dedent("""\
            import inspect

            class TextKNN:
                def fit(self, X, emb=None):
                    self._pending_embeddings = emb
                    try:
                        return self._fit(X)
                    finally:
                        self._pending_embeddings = None

                @classmethod
                def params(cls):
                    return inspect.signature(cls.__init__)
            """),
        "hybrid/model.py": textwrap.dedent("""\
            from inspect import signature

            def fit(model, emb):
                if "emb" in signature(model.fit).parameters:
                    model.fit(emb)
                x = 1  # type: ignore
                y = model.z  # type: ignore[attr-defined, misc]
                return x, y
            """),
        "service/events.py": "class Log:\n    def __init__(self):\n"
                             "        self.events_pending = 0\n        self._pending_x = 0\n",
        "data/long.py": f"def long():\n{body}\n    return 0\n\n"
                        f"def short():\n{body}\n",
        "data/big.py": "x = 1\n" * 701,
    })
    report = ar.analyse(pkg)
    assert report["pending"]["names"] == ["_pending_embeddings"]
    assert len(report["pending"]["occurrences"]) == 2
    assert report["signature_sniffing"] == [
        "synerec/hybrid/model.py:4 signature(model.fit)"]
    assert figure(report, "type: ignore")["value"] == 2
    assert figure(report, "type: ignore[attr-defined]")["value"] == 1
    (long,) = report["long_functions"]
    assert long == {"where": "synerec/data/long.py:1", "function": "long", "lines": 81}
    assert report["long_files"] == [{"file": "synerec/data/big.py", "lines": 701}]


def test_nested_functions_are_counted_apart(tmp_path: Path) -> None:
    inner = "\n".join(f"        y{i} = {i}" for i in range(85))
    pkg = write_package(tmp_path, {"data/n.py": f"class A:\n    def outer(self):\n"
                                                f"      def inner():\n{inner}\n"})
    names = [(f["function"], f["lines"]) for f in ar.analyse(pkg)["long_functions"]]
    assert names == [("A.outer", 87), ("A.outer.inner", 86)]


def test_strongly_connected_components() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "f")]
    assert ar.strongly_connected("abcdef", edges) == [["a", "b", "c"], ["d", "e"]]


@pytest.mark.parametrize("check", [False, True])
def test_the_script_runs_on_the_real_source(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            check: bool) -> None:
    out = tmp_path / "report.json"
    args = ["--src", str(REPO / "src" / "synerec"), "--json", str(out)]
    rc = ar.main([*args, "--check"] if check else args)
    report = json.loads(out.read_text())
    assert rc == (1 if check and ar.missed(report) else 0)
    text = capsys.readouterr().out
    for f in report["figures"]:
        assert f["name"] in text
    assert figure(report, "files")["value"] > 50
