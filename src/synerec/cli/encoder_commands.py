"""``synerec encoder fit``: fine-tune all-MiniLM-L6-v2 on a shop's training interactions.

The encoder learns from the *training* part only: ``--cutoff DATE`` keeps what precedes the
date (:func:`synerec.data.splits.global_temporal_split`), ``--folds cold-items`` the items
outside the held-out share (:func:`synerec.data.splits.cold_item_split`), ``--folds
official|temporal|holdout|last-1`` the first such fold's training part, ``--folds none`` (the
default without ``--cutoff``) every interaction, for an encoder used in production. The
folder written holds the model in safetensors and a manifest with the sha256 of every file
(:func:`synerec.text.finetune.finetune_encoder`); the catalogue is then re-encoded by the
saved encoder into the embedding cache, so ``text-knn --encoder-path DIR`` (and
``text-knn-tuned --encoder-path DIR``) start without encoding.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synerec.cli.data_options import DataOptions, data_options
from synerec.exceptions import ConfigError

__all__ = ["register", "training_part"]

FOLDS = ("none", "global-temporal", "cold-items", "official", "temporal", "holdout", "last-1")

console = Console()
err_console = Console(stderr=True)

encoder_app = typer.Typer(help="Fine-tuned text encoders: fit one on a shop's interactions.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``encoder`` command group to the ``synerec`` app."""
    app.add_typer(encoder_app, name="encoder")


def training_part(ds: Any, folds: str | None, *, cutoff: str | None = None, share: float = 0.1,
                  seed: int = 0) -> tuple[Any, str]:
    """The training interactions a fine-tuning may see, and the name of the part.

    Parameters
    ----------
    ds
        The data set (:class:`~synerec.data.InteractionDataset`).
    folds
        One of :data:`FOLDS`; ``None``: ``"global-temporal"`` with ``cutoff``, else
        ``"none"``.
    cutoff
        The cut of ``"global-temporal"`` (a date, or a fraction of the time span).
    share, seed
        The held-out share and seed of ``"cold-items"``; the seed of ``"holdout"``.

    Returns
    -------
    (InteractionDataset, str)
        The training part (the whole catalogue, so every item can be encoded) and its name.
    """
    from synerec.data.splits import (
        cold_item_split,
        global_temporal_split,
        holdout_split,
        official_splits,
        temporal_split,
    )

    choice = _fold_choice(folds, cutoff)
    if choice == "none":
        return ds, "all interactions"
    if choice == "global-temporal":
        assert cutoff is not None
        cut: str | float = cutoff
        try:
            cut = float(cutoff)
        except ValueError:
            pass
        fold = global_temporal_split(ds, cut)
    elif choice == "cold-items":
        fold = cold_item_split(ds, share, random_state=seed)
    elif choice == "official":
        if not ds.splits:
            raise ConfigError(f"{ds.name} has no official splits")
        fold = official_splits(ds)[0]
    elif choice == "holdout":
        fold = holdout_split(ds, random_state=seed)
    else:
        fold = temporal_split(ds, 1) if choice == "last-1" else temporal_split(ds, fraction=0.2)
    return fold.train, f"{fold.name} (training part)"


def _fold_choice(folds: str | None, cutoff: str | None) -> str:
    """The ``--folds`` value meant (checked against ``--cutoff``)."""
    choice = folds if folds is not None else ("global-temporal" if cutoff is not None
                                              else "none")
    if choice not in FOLDS:
        raise ConfigError(f"--folds must be one of {', '.join(FOLDS)}, not {choice!r}")
    if cutoff is not None and choice != "global-temporal":
        raise ConfigError(f"--cutoff applies to --folds global-temporal only, not {choice!r}")
    if cutoff is None and choice == "global-temporal":
        raise ConfigError("--folds global-temporal needs --cutoff DATE (or a fraction of the "
                          "time span, e.g. 0.8)")
    return choice


@encoder_app.command("fit")
@data_options(default=None)
def fit_command(
    data: DataOptions,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the encoder to.")],
    folds: Annotated[str | None, typer.Option(
        help="Which training part to learn from: none (every interaction), global-temporal "
             "(with --cutoff), cold-items, official, temporal, holdout or last-1 (the first "
             "fold's training part). Default: global-temporal with --cutoff, else none.")]
    = None,
    cutoff: Annotated[str | None, typer.Option(
        help="Learn from the interactions before this date (or fraction of the time span).")]
    = None,
    share: Annotated[float, typer.Option(help="cold-items: the share of items held out.")]
    = 0.1,
    objective: Annotated[str, typer.Option(help="ease (default), history or pairs.")]
    = "ease",
    ease_lambda: Annotated[float, typer.Option(help="ease: EASE's L2 penalty.")] = 300.0,
    ridge_lambda: Annotated[float, typer.Option(help="ease: the text map's L2 penalty.")]
    = 3.0,
    epochs: Annotated[int | None, typer.Option(help="history, pairs: epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="history, pairs: batch size.")]
    = None,
    learning_rate: Annotated[float | None, typer.Option(help="history, pairs: AdamW's rate.")]
    = None,
    max_examples: Annotated[int | None, typer.Option(
        help="Examples per epoch (history, pairs), warm items (ease).")] = None,
    threshold: Annotated[str, typer.Option(
        help="Interactions that count as positives: auto (>= 4 on 1-5, every interaction of "
             "implicit data), none, or a number.")] = "auto",
    device: Annotated[str | None, typer.Option(
        help="torch device (default: CUDA when available, else the CPU).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        help="Embedding cache the catalogue is re-encoded into (default: <data home>/"
             "embeddings).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a fine-tuned encoder in --out.")]
    = False,
    seed: Annotated[int, typer.Option(help="Seed (split, sampling, demo-shop).")] = 0,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Fine-tune all-MiniLM-L6-v2 on training interactions; save it and re-encode the catalogue."""
    from synerec.algorithms.positives import resolve_positive_threshold
    from synerec.text import CacheStats, EmbeddingCache, cached_encode, item_texts
    from synerec.text.finetune import finetune, load_finetuned_encoder

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    if objective not in ("ease", "history", "pairs"):
        raise ConfigError(f"--objective must be ease, history or pairs, not {objective!r}")
    if out.exists() and not overwrite and not (out.is_dir() and not any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder (--overwrite replaces a "
                          "fine-tuned encoder)")
    _fold_choice(folds, cutoff)
    threshold_option = _threshold(threshold)
    ds = data.load(seed)
    train, part = training_part(ds, folds, cutoff=cutoff, share=share, seed=seed)
    positive = resolve_positive_threshold(threshold_option, train.rating_scale)
    texts = item_texts(train)
    start = time.perf_counter()
    encoder = finetune(train, texts=texts, objective=objective,  # type: ignore[arg-type]
                       epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                       max_examples=max_examples, ease_lambda=ease_lambda,
                       ridge_lambda=ridge_lambda, positive_threshold=positive,
                       random_state=seed, device=device, show_progress=fmt == "table")
    encoder.info.update({"dataset": ds.name, "training_part": part,
                         "training_interactions": int(train.n_interactions)})
    encoder.save(out, overwrite=overwrite)
    fit_seconds = time.perf_counter() - start
    saved = load_finetuned_encoder(out, device=device)
    stats = CacheStats()
    start = time.perf_counter()
    vectors = cached_encode(saved, texts, cache=EmbeddingCache(cache_dir),
                            show_progress=fmt == "table", stats=stats)
    result = {"dataset": ds.name, "training_part": part,
              "training_interactions": int(train.n_interactions), "objective": objective,
              "encoder": saved.name, "out": str(out), "device": encoder.info.get("device"),
              "fit_seconds": round(fit_seconds, 1),
              "items_encoded": int(vectors.shape[0]), "dimension": int(vectors.shape[1]),
              "encode_seconds": round(time.perf_counter() - start, 1),
              "files": sorted(p.name for p in out.iterdir() if p.is_file())}
    for key in ("warm_items", "relative_residual", "examples", "loss_per_epoch"):
        if key in encoder.info:
            result[key] = encoder.info[key]
    if fmt == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"fine-tuned encoder for {ds.name}")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)


def _threshold(text: str) -> Any:
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--threshold must be auto, none or a number, not {text!r}") from None
