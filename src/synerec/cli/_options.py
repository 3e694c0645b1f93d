"""Turning command-line options into model configurations and data sets."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from synerec.exceptions import ConfigError

__all__ = [
    "FOLDS_HELP",
    "ColdShareOpt",
    "CutoffOpt",
    "check_fold_options",
    "model_config",
    "model_configs",
    "parse_model_list",
    "parse_params",
]

#: The ``--folds`` choices of ``evaluate`` and ``experiment ablation``.
FOLDS_HELP = ("official, holdout, temporal, last-1, a number of folds, leave-one-out (each "
              "user's last item; full ranking), or for new items global-temporal (with "
              "--cutoff) or cold-items (with --cold-share).")

CutoffOpt = Annotated[str | None, typer.Option(
    "--cutoff", help="--folds global-temporal: train before this date (2011-09-01) or this "
    "fraction of the time span (0.8), test after it.")]
ColdShareOpt = Annotated[float | None, typer.Option(
    "--cold-share", help="--folds cold-items: share of the catalogue held out, half for "
    "validation, half for test [0.1].")]


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
    from synerec.models import get_model_class
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


def parse_model_list(models: str) -> list[str]:
    """``"ease,item-cf"`` -> ``["ease", "item-cf"]`` (registered names, checked, no repeats)."""
    from synerec.models import get_model_class
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--model needs at least one model name")
    seen: set[str] = set()
    for name in names:
        get_model_class(name)
        if name in seen:
            raise ConfigError(f"--model lists {name!r} twice")
        seen.add(name)
    return names


def model_configs(models: list[str], *, k: int | None = None, similarity: str | None = None,
                  max_neighbors: int | None = None, factors: int | None = None,
                  epochs: int | None = None, seed: int | None = None,
                  params: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Options for several models at once.

    With one model this is :func:`model_config` (an option it does not take is an error). With
    several, each option goes to every listed model that takes it, and it is an error only when
    none does; ``--param MODEL.KEY=VALUE`` sets ``KEY`` for ``MODEL`` alone.
    """
    from synerec.models import get_model_class
    if len(models) == 1:
        prefix = models[0] + "."
        own = [p[len(prefix):] if p.startswith(prefix) else p for p in params or []]
        return {models[0]: model_config(models[0], k=k, similarity=similarity,
                                        max_neighbors=max_neighbors, factors=factors,
                                        epochs=epochs, seed=seed, params=own)}
    accepted = {m: set(get_model_class(m)._param_names()) for m in models}
    shared: dict[str, Any] = {key: v for key, v in {
        "k": k, "similarity": similarity, "max_neighbors": max_neighbors, "factors": factors,
        "epochs": epochs}.items() if v is not None}
    targeted: dict[str, dict[str, Any]] = {m: {} for m in models}
    for item in params or []:
        head = item.split("=", 1)[0]
        model = next((m for m in models if head.startswith(m + ".")), None)
        if model is None:
            shared.update(parse_params([item]))
        else:
            targeted[model].update(parse_params([item[len(model) + 1:]]))
    out: dict[str, dict[str, Any]] = {}
    for m in models:
        config = {key: v for key, v in shared.items() if key in accepted[m]}
        if seed is not None and "random_state" in accepted[m]:
            config["random_state"] = seed
        for key, v in targeted[m].items():
            if key not in accepted[m]:
                raise ConfigError(f"model {m!r} has no option {key!r} (it takes: "
                                  f"{', '.join(sorted(accepted[m])) or 'none'})")
            config[key] = v
        out[m] = config
    for key in shared:
        if not any(key in accepted[m] for m in models):
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"none of the models {', '.join(models)} takes the option {flag}")
    return out


def check_fold_options(folds: str, cutoff: str | None, cold_share: float | None) -> None:
    """--cutoff and --cold-share belong to one kind of folds each: a one-line error before
    any data is read."""
    if cutoff is not None and folds != "global-temporal":
        raise ConfigError(f"--cutoff applies to --folds global-temporal only, not --folds "
                          f"{folds}")
    if folds == "global-temporal" and cutoff is None:
        raise ConfigError("--folds global-temporal needs --cutoff: a date (2011-09-01) or a "
                          "fraction of the time span (0.8)")
    if cold_share is not None and folds != "cold-items":
        raise ConfigError(f"--cold-share applies to --folds cold-items only, not --folds "
                          f"{folds}")
