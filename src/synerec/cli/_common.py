"""What the command modules of ``synerec`` share: option types, the output format, JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from synerec.exceptions import ConfigError

__all__ = ["EpochsOpt", "FactorsOpt", "FormatOpt", "KOpt", "MaxNOpt", "ModelOpt", "ParamOpt",
           "SeedOpt", "SimOpt", "check_format", "print_json"]

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Registered model name "
                                      "(ease, als, bpr, rp3beta, user-cf, item-cf, mf, ...; "
                                      "`synerec models` says which to pick).")]
KOpt = Annotated[int | None, typer.Option("--k", help="Neighbours used per prediction.")]
SimOpt = Annotated[str | None, typer.Option("--similarity", help="cosine, pearson, "
                                            "adjusted_cosine.")]
MaxNOpt = Annotated[int | None, typer.Option("--max-neighbors", help="Neighbours stored per row.")]
FactorsOpt = Annotated[int | None, typer.Option("--factors", help="Latent factors (mf).")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Training epochs (mf).")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="Any model option as KEY=VALUE.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]


def check_format(fmt: str) -> str:
    """``fmt`` when it is ``table`` or ``json``, else a :class:`ConfigError`."""
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    return fmt


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout (numpy scalars and arrays as plain values)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
