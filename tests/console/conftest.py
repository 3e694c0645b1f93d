"""Fixtures of the console tests: the small demo shop's models, fitted once per test process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.console import fit_console_models


@pytest.fixture(scope="session")
def console_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """item-cf, user-cf and mf on the small demo shop, and their reports (one folder)."""
    root = tmp_path_factory.mktemp("console-models")
    return root, fit_console_models(root)
