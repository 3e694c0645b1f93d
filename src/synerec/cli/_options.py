"""Turning command-line options into model configurations and data sets."""

from __future__ import annotations

import json
from typing import Any

from synerec.exceptions import ConfigError

__all__ = ["model_config", "parse_params"]


def parse_params(params: list[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict; values are JSON when they parse (numbers, true, null)."""
    out: dict[str, Any] = {}
    for item in params or []:
        if "=" not in item:
            raise ConfigError(f"--param expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise ConfigError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def model_config(model: str, *, k: int | None = None, similarity: str | None = None,
                 max_neighbors: int | None = None, factors: int | None = None,
                 epochs: int | None = None, seed: int | None = None,
                 params: list[str] | None = None) -> dict[str, Any]:
    """The options a user set, checked against the model's parameters.

    An option the model does not take (``--k`` for ``mf``) is an error naming the option and
    the model, rather than being silently ignored.
    """
    from synerec.algorithms.registry import get_model_class

    cls = get_model_class(model)
    names = set(cls._param_names())
    given = {"k": k, "similarity": similarity, "max_neighbors": max_neighbors,
             "factors": factors, "epochs": epochs}
    config = {key: v for key, v in given.items() if v is not None}
    if seed is not None and "random_state" in names:
        config["random_state"] = seed
    config.update(parse_params(params))
    for key in config:
        if key not in names:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"model {model!r} has no option {flag} (it takes: "
                              f"{', '.join(sorted(names)) or 'none'})")
    return config
