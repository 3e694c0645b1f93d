"""The command line starts light: `synerec --help` loads typer and rich, not the models.

Issue 23 asks for `synerec --help` and a `recommend` in under a second as whole processes
(bench/cli_latency.py times them). Time is the bench's business; what a test can hold is the
cause: the heavy libraries are imported by the commands that use them, never at start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Libraries that cost a tenth of a second or more to import, none of which `--help` needs.
HEAVY = ("numpy", "scipy", "pandas", "pyarrow", "numba", "sklearn", "lightgbm", "torch",
         "sentence_transformers", "fastapi", "ray", "optuna", "implicit", "matplotlib")


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    loaded = _modules_after("import synerec.cli.main")
    assert sorted(m for m in HEAVY if m in loaded) == []
    assert "synerec.models" not in loaded
    assert not any(m.startswith(("synerec.algorithms", "synerec.hybrid")) for m in loaded)


@pytest.mark.parametrize("argv", [["--help"], ["recommend", "--help"], ["evaluate", "--help"],
                                  ["serve", "--help"]])
def test_help_loads_no_heavy_library(argv: list[str]) -> None:
    code = ("from synerec.cli.main import main\n"
            f"code = main({argv!r})\n"
            "assert code == 0, code")
    loaded = _modules_after(code)
    assert sorted(m for m in HEAVY if m in loaded) == []
