"""``synerec text ...``: build the static model, embed a catalogue through the cache."""

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

__all__ = ["register"]

ENCODERS = ("minilm", "model2vec", "tfidf", "openai")

console = Console()
err_console = Console(stderr=True)

text_app = typer.Typer(help="Language-model encoders: item texts, embeddings and their cache.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``text`` command group to the ``synerec`` app."""
    app.add_typer(text_app, name="text")


@text_app.command("distill")
def distill_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Model folder (default: "
                                             "<data home>/models/minilm-m2v).")] = None,
    pca_dims: Annotated[int, typer.Option(help="Dimension of the static embeddings.")] = 256,
    overwrite: Annotated[bool, typer.Option(help="Distil again over an existing model.")]
    = False,
) -> None:
    """Distil a static model2vec model from the bundled all-MiniLM-L6-v2 (offline, ~90 s)."""
    from synerec.text.model2vec_encoder import Model2VecEncoder, distill_minilm

    start = time.perf_counter()
    path = distill_minilm(out, pca_dims=pca_dims, overwrite=overwrite)
    enc = Model2VecEncoder(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    err_console.print(f"model2vec model in {path}: dimension {enc.dimension}, "
                      f"{size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s")


def _make_encoder(kind: str, model: str | None, model_path: Path | None, base_url: str | None,
                  batch_size: int | None) -> Any:
    from synerec.text import create_encoder

    if kind not in ENCODERS:
        raise ConfigError(f"--encoder must be one of {', '.join(ENCODERS)}, not {kind!r}")
    kwargs: dict[str, Any] = {}
    if kind == "minilm":
        if model is not None:
            kwargs["model"] = model
    elif kind == "model2vec":
        if model_path is not None:
            kwargs["path"] = model_path
    elif kind == "openai":
        kwargs.update(model=model, base_url=base_url)
    if model is not None and kind not in ("minilm", "openai"):
        raise ConfigError("--model applies to the minilm and openai encoders only (model2vec: "
                          "--model-path)")
    if model_path is not None and kind != "model2vec":
        raise ConfigError("--model-path applies to the model2vec encoder only")
    if base_url is not None and kind != "openai":
        raise ConfigError("--base-url applies to the openai encoder only")
    if batch_size is not None and kind != "tfidf":
        kwargs["batch_size"] = batch_size
    return create_encoder(kind, **kwargs)


@text_app.command("embed")
@data_options(default=None)
def embed_command(
    data: DataOptions,
    encoder: Annotated[str, typer.Option("--encoder", "-e", help="minilm, model2vec, tfidf or "
                                         "openai.")] = "minilm",
    model: Annotated[str | None, typer.Option(help="sentence-transformers model (minilm) or "
                                              "server model name (openai).")] = None,
    model_path: Annotated[Path | None, typer.Option(help="model2vec model folder.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server (openai; "
                                                 "default $SYNEREC_EMBEDDINGS_BASE_URL).")]
    = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Embedding cache folder (default: "
                                                   "<data home>/embeddings).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per batch.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also save the embeddings "
                                             "(.npy, item-index order).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    seed: Annotated[int, typer.Option(help="Seed of the demo-shop generator.")] = 42,
) -> None:
    """Embed a data set's item catalogue through the embedding cache."""
    import numpy as np

    from synerec.text import CacheStats, EmbeddingCache, cached_encode, item_texts

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    enc = _make_encoder(encoder, model, model_path, base_url, batch_size)
    ds = data.load(seed)
    texts = item_texts(ds)
    cache = EmbeddingCache(cache_dir)
    stats = CacheStats()
    start = time.perf_counter()
    vectors = cached_encode(enc, texts, cache=cache, batch_size=batch_size,
                            show_progress=fmt == "table", stats=stats)
    seconds = time.perf_counter() - start
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            np.save(fh, vectors, allow_pickle=False)
    result = {"dataset": ds.name, "encoder": enc.name, "count": int(vectors.shape[0]),
              "dimension": int(vectors.shape[1]), "seconds": round(seconds, 3),
              "cache_hits": stats.hits, "computed": stats.misses,
              "empty_texts": sum(1 for t in texts if not t.strip()),
              "cache": str(cache.encoder_folder(enc.name))}
    if out is not None:
        result["out"] = str(out)
    if fmt == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    table = Table(title=f"{ds.name} item embeddings")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)
