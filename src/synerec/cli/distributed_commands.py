"""``synerec batch-recommend``: top-N lists of many users into Parquet, locally or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from synerec.cli._answers import UnknownOpt, check_unknown
from synerec.exceptions import ConfigError, DataFormatError

__all__ = ["read_user_file", "register"]

err_console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the ``batch-recommend`` command to the ``synerec`` app."""
    app.command("batch-recommend")(batch_recommend_command)


def read_user_file(path: Path, integer_ids: bool) -> list[Any]:
    """User ids from a file: a Parquet or CSV file with a ``user_id`` column, or plain text
    with one id per line (blank lines and lines starting with ``#`` skipped).

    Parameters
    ----------
    path
        The file.
    integer_ids
        Parse ids as integers (the model's vocabulary holds integer ids).

    Raises
    ------
    DataFormatError
        Unreadable file, missing ``user_id`` column, or an id that is not an integer where
        integers are needed (naming the line).
    """
    if not path.is_file():
        raise DataFormatError("user file does not exist", path=path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".csv"):
        import pandas as pd

        try:
            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(
                path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"cannot read the user file: {exc}", path=path) from exc
        if "user_id" not in frame.columns:
            raise DataFormatError(f"no 'user_id' column (columns: {', '.join(map(str, frame))})",
                                  path=path)
        raw = [(i + 2, v) for i, v in enumerate(frame["user_id"].tolist())]
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"cannot read the user file: {exc}", path=path) from exc
        raw = [(i + 1, s.strip()) for i, s in enumerate(lines)
               if s.strip() and not s.strip().startswith("#")]
    if not integer_ids:
        return [str(v) for _, v in raw]
    out = []
    for line, value in raw:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            raise DataFormatError("user id is not an integer, as the model's ids are",
                                  path=path, line=line, value=value) from None
    return out


def batch_recommend_command(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A saved model directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write "
                                      "(user_id, rank, item_id, score).")],
    users: Annotated[str, typer.Option("--users", help="'all', or a file of user ids (one per "
                                       "line, or a CSV/Parquet with a user_id column).")] = "all",
    n: Annotated[int, typer.Option("--n", help="List length.")] = 10,
    engine: Annotated[str, typer.Option("--engine", help="local or ray.")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster: auto or "
                                                "ray://head:10001 (default: a local Ray).")]
    = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Users per batch.")] = 2048,
    workers: Annotated[int | None, typer.Option("--workers", help="Ray workers (default: one "
                                                "per CPU, or per GPU).")] = None,
    device: Annotated[str, typer.Option("--device", help="numpy, auto (a CUDA GPU when present,"
                                        " matrix factorisation) or a torch device.")] = "numpy",
    include_seen: Annotated[bool, typer.Option(help="Keep the users' own items.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    unknown: UnknownOpt = "error",
) -> None:
    """Top-N recommendations for many users of a saved model, written as Parquet."""
    from synerec.distributed import batch_recommend  # the Ray and torch paths: when asked
    from synerec.models import load_model, model_name

    policy = check_unknown(unknown)
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be local or ray, not {engine!r}")
    where: Literal["local", "ray"] = "ray" if engine == "ray" else "local"
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if address is not None and engine != "ray":
        raise ConfigError("--address needs --engine ray")
    model = load_model(model_dir)
    if users == "all":
        user_spec: Any = "all"
    else:
        integer = model.users_.ids.dtype.kind in "iu"
        user_spec = read_user_file(Path(users), integer)
    result = batch_recommend(
        model, user_spec, n, out=out, engine=where,
        exclude_seen=not include_seen, batch_size=batch_size,
        device=None if device == "auto" else device, address=address, num_workers=workers,
        show_progress=progress, unknown=policy)
    note = (f", {result.n_unknown_users} unknown users got the most popular items"
            if result.n_unknown_users else "")
    err_console.print(f"wrote {result.n_rows} rows of {model_name(type(model))} for "
                      f"{result.n_users} users to {result.path} "
                      f"({result.engine}, {result.device}, {result.workers} worker(s), "
                      f"{result.seconds:.1f} s){note}", highlight=False, soft_wrap=True)
