"""Helpers of the console tests: a small demo shop served with two comparison models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.service import API_KEY, DEMO, RunningServer, fit_demo_model, serve_in_thread

__all__ = ["API_KEY", "DEMO", "ConsoleServer", "console_server", "fit_console_models",
           "optimise_png", "screenshot_dir"]

#: Neighbour counts of the test's K sweep (small: the report is only shown).
KS = (10, 20, 40)


@dataclass
class ConsoleServer:
    """A running service with its console, and where its models are."""

    server: RunningServer
    root: Path
    models: dict[str, Path]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> Any:
        return self.server.state

    @property
    def console(self) -> Any:
        return self.server.app.state.console


def fit_console_models(root: Path) -> dict[str, Path]:
    """item-cf (served), user-cf and mf on the small demo shop, and their reports."""
    from synerec.console.demo import write_demo_reports
    from synerec.data import load_dataset

    models = {"item-cf": fit_demo_model(root / "models" / "item-cf"),
              "user-cf": fit_demo_model(root / "models" / "user-cf", "user-cf"),
              "mf": fit_demo_model(root / "models" / "mf", "mf", random_state=7)}
    ds = load_dataset("demo-shop", **DEMO)
    write_demo_reports(ds, "item-cf", ["user-cf", "mf"], root / "reports", seed=7, ks=KS)
    return models


@contextmanager
def console_server(root: Path, models: dict[str, Path] | None = None,
                   **console: Any) -> Iterator[ConsoleServer]:
    """Serve item-cf with user-cf and mf to compare; wait for the console's background work.

    The console is mounted as ``synerec serve`` mounts it: an extension of the service's app.
    """
    from synerec.console import console_extension
    from synerec.console.settings import ConsoleSettings
    from synerec.service import ServiceSettings

    reports = root / "reports"
    if models is None:
        models = fit_console_models(root)
    else:  # models fitted elsewhere: their reports lie beside them
        reports = models["item-cf"].parent.parent / "reports"
    options = {"compare": {"user-cf": models["user-cf"], "mf": models["mf"]},
               "reports": (reports,), **console}
    settings = ServiceSettings(model_dir=models["item-cf"], state_dir=root / "state",
                               api_keys=(API_KEY,), base_dataset="demo-shop",
                               base_dataset_options=DEMO)
    extension = console_extension(ConsoleSettings(**options))
    with serve_in_thread(settings, extensions=[extension]) as srv:
        if not srv.app.state.console.wait_ready(300):
            raise RuntimeError("the console's base data and text index were not ready in 300 s")
        yield ConsoleServer(srv, root, models)


def screenshot_dir() -> Path | None:
    """``$SYNEREC_SCREENSHOTS`` (relative to the repository), or ``None``: no screenshots."""
    value = os.environ.get("SYNEREC_SCREENSHOTS")
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = Path(__file__).resolve().parents[2] / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def optimise_png(path: Path, colours: int = 128) -> None:
    """Rewrite a screenshot as an optimised palette PNG (a few tens of KB)."""
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                                            dither=Image.Dither.NONE)
        small.save(path, optimize=True)
