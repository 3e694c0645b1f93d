"""The console's settings: the ``[console]`` table of the settings file of ``synerec serve``.

The service does not read them (it knows nothing of the console): ``synerec serve`` builds them
with :func:`load_console_settings` and mounts the console onto the service's app. In a settings
file (TOML)::

    [console]
    enabled = true
    compare = { "user-cf" = "models/user-cf", "mf" = "models/mf" }
    reports = ["reports/k-sweep", "reports/ablation"]
    text_encoder = "auto"

Relative paths are taken relative to the settings file's folder (like ``model_dir``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from synerec.exceptions import ConfigError
from synerec.service.settings import read_settings_file, settings_error

__all__ = ["CONSOLE_SETTINGS_ENV", "ConsoleSettings", "TextEncoderChoice",
           "console_settings_from_env", "load_console_settings"]

#: Environment variable through which ``synerec serve --workers N`` hands the console settings
#: to its worker processes (JSON).
CONSOLE_SETTINGS_ENV = "SYNEREC_CONSOLE_SETTINGS_JSON"

#: Encoders of "similar by text": ``auto`` tries MiniLM (bundled), then model2vec, then TF-IDF.
TextEncoderChoice = Literal["auto", "minilm", "model2vec", "tfidf", "none"]

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")


class ConsoleSettings(BaseModel):
    """The web console served by ``synerec serve`` under ``/`` (the JSON API stays under ``/v1``).

    Attributes
    ----------
    enabled
        Serve the console (``synerec serve --no-console`` turns it off).
    compare
        Extra models served read-only for comparison on the customer page: label -> model
        directory (``synerec serve --compare user-cf=models/user-cf``). They are never
        retrained and never answer the JSON API.
    reports
        Folders holding evaluation results that the model page shows: ``results.json`` of
        ``synerec experiment k-sweep --out`` and of ``synerec experiment ablation --out``, or
        an evaluation's JSON (``synerec evaluate --format json``), in the folder itself or
        one level below it. ``<state_dir>/reports`` is always searched too.
    text_encoder
        Embeddings behind "similar by text" on the product page (computed once at start in
        the background and cached in ``SYNEREC_CACHE_HOME``): ``auto`` tries the bundled
        MiniLM, then model2vec, then TF-IDF; ``none`` turns the list off.
    text_neighbors
        Neighbours kept per item in the text similarity.
    history_limit
        Rows of a customer's history (and of a product's customers) shown on one page.
    list_length
        Recommendations per list on the customer page.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    compare: dict[str, Path] = Field(default_factory=dict)
    reports: tuple[Path, ...] = ()
    text_encoder: TextEncoderChoice = "auto"
    text_neighbors: int = Field(default=20, ge=1, le=1000)
    history_limit: int = Field(default=50, ge=1, le=10_000)
    list_length: int = Field(default=10, ge=1, le=100)

    @pydantic.field_validator("compare")
    @classmethod
    def _labels(cls, v: dict[str, Path]) -> dict[str, Path]:
        if len(v) > 8:
            raise ValueError(f"at most 8 comparison models, got {len(v)}")
        for label in v:
            if not _LABEL.match(label):
                raise ValueError(f"comparison label {label!r} must be 1-40 letters, digits, "
                                 "'_', '.', '+' or '-', starting with a letter or digit")
        return v


def _relative_paths(table: dict[str, Any], base: Path) -> dict[str, Any]:
    """The console table of a settings file with relative model and report paths made
    relative to the file's folder."""
    out = dict(table)
    if isinstance(out.get("compare"), dict):
        out["compare"] = {k: (str(base / v) if isinstance(v, str) and not Path(v).is_absolute()
                              else v) for k, v in out["compare"].items()}
    if isinstance(out.get("reports"), list):
        out["reports"] = [str(base / v) if isinstance(v, str) and not Path(v).is_absolute()
                          else v for v in out["reports"]]
    return out


def load_console_settings(path: str | os.PathLike[str] | None = None,
                          **overrides: Any) -> ConsoleSettings:
    """The ``[console]`` table of an optional settings file, then ``overrides``.

    Parameters
    ----------
    path
        The settings file of ``synerec serve`` (TOML or JSON,
        :func:`synerec.service.settings.read_settings_file`); relative paths of its console
        table are taken relative to the file's folder.
    **overrides
        Field values that replace the file's (the CLI options); ``None`` values are skipped.

    Raises
    ------
    ConfigError
        Unreadable file, unknown field (named ``console.<name>``) or invalid value.
    """
    values: dict[str, Any] = {}
    if path is not None:
        table = read_settings_file(path).get("console", {})
        if not isinstance(table, dict):
            raise ConfigError(f"settings file {path}: console must be a table of settings")
        values.update(_relative_paths(table, Path(path).parent))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ConsoleSettings.model_validate(values)
    except pydantic.ValidationError as exc:
        raise settings_error("console settings", exc, ConsoleSettings.model_fields,
                             prefix="console.") from None


def console_settings_from_env() -> ConsoleSettings | None:
    """The console settings handed to a worker process (:data:`CONSOLE_SETTINGS_ENV`), or
    ``None`` when there are none (the console is off)."""
    raw = os.environ.get(CONSOLE_SETTINGS_ENV)
    return None if not raw else ConsoleSettings.model_validate_json(raw)
