"""``synerec experiment replay``: an A/B test's variants evaluated offline on the logged events.

The variants come from an experiment (posted to a server, read from its state directory, or
in a settings file's ``[[experiments]]``) or from ``--variant NAME=MODEL_DIR`` options; the
events from the server's state directory or an ``--events`` file. The evaluation is
:func:`synerec.evaluation.replay.replay` (its docstring holds the protocol).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synerec.cli import experiment_commands
from synerec.cli._common import FormatOpt, check_format, print_json
from synerec.exceptions import ConfigError

__all__ = ["register", "replay_command", "variant_dirs"]

console = Console()

EVENTS_DB = "events.sqlite3"  # the service's state store (service.app.EVENTS_DB)


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the ``synerec experiment`` group (``app`` is the root app)."""
    experiment_commands.experiment_app.command("replay")(replay_command)


def _served_model_dir(state_dir: Path | None, model_dir: Path | None) -> Path:
    """The model a server serves: its ``CURRENT`` version (a retrained one), else the
    ``--model-dir`` it was started with."""
    if state_dir is not None and (state_dir / "CURRENT").is_file():
        record = json.loads((state_dir / "CURRENT").read_text(encoding="utf-8"))
        path = Path(str(record["path"]))
        return path if path.is_absolute() else state_dir / path
    if model_dir is None:
        raise ConfigError("a variant serves the served model: give --model-dir (the model "
                          "the server was started with)")
    return model_dir


def variant_dirs(*, state_dir: Path | None, experiment: str | None,
                 settings_file: Path | None, variants: list[str] | None,
                 model_dir: Path | None) -> dict[str, Path]:
    """Variant name -> model directory, from ``--variant`` options or the experiment."""
    if variants:
        out: dict[str, Path] = {}
        for spec in variants:
            name, eq, path = spec.partition("=")
            if not eq or not name or not path:
                raise ConfigError(f"--variant must be NAME=MODEL_DIR, got {spec!r}")
            out[name] = Path(path)
        return out
    if experiment is None:
        raise ConfigError("give --experiment NAME or --variant NAME=MODEL_DIR options")
    from synerec.service.experiments import ExperimentConfig, stored_experiments
    from synerec.service.settings import read_settings_file

    found = {}
    if settings_file is not None:
        table = read_settings_file(settings_file)
        if model_dir is None and table.get("model_dir"):
            model_dir = Path(table["model_dir"])
        for raw in table.get("experiments", []):
            one = ExperimentConfig.model_validate(raw)
            found[one.name] = one
    if state_dir is not None:
        found.update(stored_experiments(state_dir / EVENTS_DB))
    cfg = found.get(experiment)
    if cfg is None:
        raise ConfigError(f"no experiment called {experiment!r} (found: "
                          f"{', '.join(sorted(found)) or 'none'})")
    return {v.name: v.model_dir if v.model_dir is not None else
            _served_model_dir(state_dir, model_dir) for v in cfg.variants}


def _events(state_dir: Path | None, events_file: Path | None) -> Any:
    if events_file is not None:
        import pandas as pd

        if not events_file.is_file():
            raise ConfigError(f"events file {events_file} does not exist")
        suffix = events_file.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(events_file, lines=True, dtype={"user_id": str, "item_id": str})
        return pd.read_csv(events_file, dtype={"user_id": str, "item_id": str})
    if state_dir is None:
        raise ConfigError("give --state-dir (the server's events) or --events FILE")
    db = state_dir / EVENTS_DB
    if not db.is_file():
        raise ConfigError(f"{state_dir} holds no event store ({EVENTS_DB})")
    from synerec.service.events import read_events_frame

    return read_events_frame(db)


def replay_command(
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="The server's state folder: its events, posted experiments and "
                            "served model.")] = None,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="The experiment whose variants to replay.")] = None,
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="Settings file holding the experiment (its experiments "
                           "tables).")] = None,
    variant: Annotated[list[str] | None, typer.Option(
        "--variant", help="NAME=MODEL_DIR, repeated: replay these instead of an "
                          "experiment's.")] = None,
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir", help="The model the server was started with (for a variant without "
                            "a model_dir, when the state folder has no retrained one).")]
    = None,
    events: Annotated[Path | None, typer.Option(
        "--events", help="Events file (CSV or JSON lines: user_id, item_id, event, "
                         "timestamp[, rating]) instead of the state folder's.")] = None,
    n: Annotated[int, typer.Option("--n", help="List length (NDCG@n, recall@n).")] = 10,
    targets: Annotated[str, typer.Option(
        help="Comma-separated event types that make an item relevant.")] = "purchase",
    horizon_s: Annotated[float | None, typer.Option(
        "--horizon-s", help="Only targets within this many seconds of the first count.")]
    = None,
    fmt: FormatOpt = "table",
) -> None:
    """Evaluate an experiment's variants offline: each variant's list for each user just
    before their first logged purchase, against what they then bought (NDCG@n, recall@n)."""
    from synerec.evaluation.replay import replay
    from synerec.models import load_model

    check_format(fmt)
    dirs = variant_dirs(state_dir=state_dir, experiment=experiment,
                        settings_file=settings_file, variants=variant, model_dir=model_dir)
    models = {name: load_model(path) for name, path in dirs.items()}
    kinds = [t.strip() for t in targets.split(",") if t.strip()]
    rows = replay(models, _events(state_dir, events), n=n, targets=kinds,
                  horizon_s=horizon_s)
    if fmt == "json":
        print_json({"experiment": experiment, "n": n, "targets": kinds,
                    "variants": [r.as_dict() for r in rows]})
        return
    table = Table(title=f"replay of {experiment or 'the variants'} on the logged events "
                        f"({rows[0].users} users with a {'/'.join(kinds)})")
    for col in ("variant", "model", "users", f"NDCG@{n}", "95% interval", f"recall@{n}",
                "95% interval"):
        table.add_column(col, justify="left" if col in ("variant", "model") else "right")
    for r in rows:
        table.add_row(r.variant, r.model, str(r.users), f"{r.ndcg:.4f}",
                      f"{r.ndcg_low:.4f}..{r.ndcg_high:.4f}", f"{r.recall:.4f}",
                      f"{r.recall_low:.4f}..{r.recall_high:.4f}")
    console.print(table)
