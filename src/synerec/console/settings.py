"""The console's settings: the ``console`` table of the service settings.

In a settings file (TOML)::

    [console]
    enabled = true
    compare = { "user-cf" = "models/user-cf", "mf" = "models/mf" }
    reports = ["reports/k-sweep", "reports/ablation"]
    text_encoder = "auto"

Relative paths are taken relative to the settings file's folder (like ``model_dir``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ConsoleSettings", "TextEncoderChoice"]

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
    text_neighbors: int = Field(20, ge=1, le=1000)
    history_limit: int = Field(50, ge=1, le=10_000)
    list_length: int = Field(10, ge=1, le=100)

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
