"""``synerec llm ...``: recommendations reranked by a language model, with explanations."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synerec.cli._answers import UnknownOpt, check_unknown, model_id
from synerec.cli.data_options import DataOptions, data_options, quiet_reading
from synerec.exceptions import ConfigError

__all__ = ["register"]

log = logging.getLogger(__name__)
console = Console()

llm_app = typer.Typer(help="Language models on top of CF: rerank candidates, explain "
                           "recommendations.", no_args_is_help=True)

ModelDirOpt = Annotated[Path, typer.Option("--model-dir", help="A saved model directory "
                                           "(`synerec fit`).")]
_DATASET_HELP = ("The data the model was fitted on, for histories and titles (default: the "
                 "data set the saved model names).")
LLMOpt = Annotated[str, typer.Option("--llm", help="local (a GGUF model, Gemma 3 270M by "
                                     "default) or openai (any /v1/chat/completions server; "
                                     "settings from $SYNEREC_LLM_BASE_URL, $SYNEREC_LLM_MODEL, "
                                     "$SYNEREC_LLM_API_KEY).")]
GGUFOpt = Annotated[Path | None, typer.Option("--gguf", help="A GGUF file for --llm local.")]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Folder of the response "
                                               "cache.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (demo-shop, model).")]
DomainOpt = Annotated[str, typer.Option("--domain", help="Plural noun for the catalogue in "
                                        "prompts (movies, products).")]


def _make_llm(kind: str, gguf: Path | None, cache: Path | None, seed: int) -> Any:
    from synerec.llm import LlamaCppLLM, OpenAICompatibleLLM
    if kind == "local":
        return LlamaCppLLM(gguf, seed=seed, cache=cache)
    if kind == "openai":
        return OpenAICompatibleLLM(cache=cache)
    raise ConfigError(f"--llm must be local or openai, not {kind!r}")


def _load_data(model: Any, model_dir: Path, data: DataOptions, seed: int) -> Any:
    """The data the model was fitted on: the data set the saved model names, unless data flags
    say otherwise."""
    from synerec.data import describe_source, load_source
    source = model.data_source_
    if data.given or not source:
        if not data.given:
            raise ConfigError(f"{model_dir} does not name the data it was fitted on (saved by "
                              "an older synerec, or fitted in Python on a table): pass "
                              "--dataset")
        ds = data.load(seed)
        where = data.target()
    else:
        with quiet_reading():  # its bad rows were reported when the model was fitted
            ds = load_source(source)
        where = describe_source(source)
    if ds.n_items != model.n_items_ or ds.n_users != model.n_users_:
        hint = (f"; it was fitted on {describe_source(source)}" if source else
                "; pass the data set it was fitted on with --dataset")
        raise ConfigError(f"{model_dir} was not fitted on {where} ({model.n_users_} users x "
                          f"{model.n_items_} items, the data set has {ds.n_users} x "
                          f"{ds.n_items}){hint}")
    return ds


@llm_app.command("recommend")
@data_options(default=None, dataset_help=_DATASET_HELP)
def recommend_command(
    model_dir: ModelDirOpt,
    user: Annotated[list[str], typer.Option("--user", "-u", help="User id (repeatable).")],
    data: DataOptions,
    n: Annotated[int, typer.Option("--n", help="List length.")] = 10,
    rerank: Annotated[str, typer.Option("--rerank", help="llm (rerank the model's top "
                                        "candidates) or none.")] = "llm",
    explain: Annotated[bool, typer.Option("--explain/--no-explain", help="Explain each "
                                          "recommendation from the model's evidence.")] = False,
    llm: LLMOpt = "local",
    gguf: GGUFOpt = None,
    candidates: Annotated[int, typer.Option("--candidates", help="Candidates taken from the "
                                            "model.")] = 20,
    history: Annotated[int, typer.Option("--history", help="History items shown to the "
                                         "LLM.")] = 20,
    mode: Annotated[str, typer.Option("--mode", help="auto, likelihood or generate.")] = "auto",
    llm_explanations: Annotated[bool, typer.Option(
        "--llm-explanations/--template-explanations",
        help="Let the LLM phrase explanations (checked against the evidence).")] = False,
    domain: DomainOpt = "items",
    cache: CacheOpt = None,
    unknown: UnknownOpt = "error",
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    seed: SeedOpt = 42,
) -> None:
    """Top-N for users of a saved model, reranked by a language model and explained."""
    from synerec.llm import Explainer, LLMReranker
    from synerec.models import load_model
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    if rerank not in ("llm", "none"):
        raise ConfigError(f"--rerank must be llm or none, not {rerank!r}")
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    check_unknown(unknown)
    model = load_model(model_dir)
    users = [model_id(model, u, "user", unknown)[0] for u in user]
    ds = _load_data(model, model_dir, data, seed)
    client = _make_llm(llm, gguf, cache, seed) if (rerank == "llm" or llm_explanations) \
        else None
    reranker = LLMReranker(model, client if rerank == "llm" else None,
                           n_candidates=max(candidates, n), history=history,
                           mode=mode, domain=domain, seed=seed, prefit=True).fit(ds)  # type: ignore[arg-type]
    results = reranker.rerank(users)
    explainer = None
    if explain:
        explainer = Explainer(model, client if llm_explanations else None, domain=domain,
                              seed=seed).fit(ds)
    out = _reranked_lists(model, users, results, reranker.titles_, n, rerank, explainer)
    summary = {"rerank": rerank, "mode": reranker.mode_, "users": reranker.n_reranked_,
               "fallbacks": reranker.fallback_counts_,
               "llm_seconds": round(reranker.llm_seconds_, 3)}
    explanations = None
    if explainer is not None:
        explanations = {"llm": explainer.n_llm_, "template": explainer.n_template_,
                        "rejected": explainer.n_rejected_, "rejections": explainer.rejections_}
    if fmt == "json":
        payload: dict[str, Any] = {"recommendations": out, "rerank": summary}
        if explanations is not None:
            payload["explanations"] = explanations
        sys.stdout.write(json.dumps(payload, indent=2, default=_json_default) + "\n")
        return
    _print_reranked(out, n, rerank, explainer is not None,
                    f"{getattr(client, 'name', 'LLM')}, {reranker.mode_}")
    if explanations is not None and llm_explanations:
        console.print(f"explanations: {explanations['llm']} phrased by the LLM, "
                      f"{explanations['rejected']} LLM answers rejected and replaced by the "
                      f"grounded template ({explanations['rejections']})")
    if rerank == "llm":
        fb = sum(reranker.fallback_counts_.values())
        console.print(f"{reranker.n_reranked_} users reranked in {reranker.llm_seconds_:.1f} s; "
                      f"{fb} kept the model's order ({reranker.fallback_counts_})")


def _reranked_lists(model: Any, users: list[Any], results: list[Any], titles: Any, n: int,
                    rerank: str, explainer: Any) -> list[dict[str, Any]]:
    """Each user's list as the command shows it.

    Scores are the model's own; with ``--rerank llm`` the order is the LLM's, and each item
    also says where the model had ranked it.
    """
    out = []
    for u, res in zip(users, results, strict=True):
        items = []
        for r, pos in enumerate(res.order[:n]):
            idx = int(res.candidates[pos])
            entry: dict[str, Any] = {"rank": r + 1, "item_id": model.items_.id(idx),
                                     "score": float(res.retriever_scores[pos]),
                                     "model_rank": int(pos) + 1, "title": titles[idx]}
            if rerank == "llm":
                entry["rerank_score"] = float(res.scores[r])
            if explainer is not None:
                e = explainer.explain(u, entry["item_id"])
                entry["explanation"] = e.text
                entry["explanation_source"] = e.source
            items.append(entry)
        out.append({"user_id": u, "items": items})
    return out


def _print_reranked(out: list[dict[str, Any]], n: int, rerank: str, explained: bool,
                    reranked_by: str) -> None:
    for rec in out:
        table = Table(title=f"Top {n} for user {rec['user_id']}"
                      + (f" (reranked by {reranked_by})" if rerank == "llm" else ""))
        table.add_column("rank", justify="right")
        table.add_column("item")
        table.add_column("title")
        table.add_column("model score", justify="right")
        if rerank == "llm":
            table.add_column("model rank", justify="right")
        if explained:
            table.add_column("why")
        for e in rec["items"]:
            cells = [str(e["rank"]), str(e["item_id"]), e["title"], f"{e['score']:.4g}"]
            if rerank == "llm":
                cells.append(str(e["model_rank"]))
            if explained:
                cells.append(e["explanation"])
            table.add_row(*cells)
        console.print(table)


@llm_app.command("explain")
@data_options(default=None, dataset_help=_DATASET_HELP)
def explain_command(
    model_dir: ModelDirOpt,
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id.")],
    data: DataOptions,
    llm: Annotated[str, typer.Option("--llm", help="none (template), local or openai.")]
    = "none",
    gguf: GGUFOpt = None,
    domain: DomainOpt = "items",
    cache: CacheOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    seed: SeedOpt = 42,
) -> None:
    """Why a saved model would recommend an item to a user, from its own evidence."""
    from synerec.llm import Explainer
    from synerec.models import load_model
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    model = load_model(model_dir)
    uid = model_id(model, user, "user")[0]
    iid = model_id(model, item, "item")[0]
    ds = _load_data(model, model_dir, data, seed)
    client = None if llm == "none" else _make_llm(llm, gguf, cache, seed)
    e = Explainer(model, client, domain=domain, seed=seed).fit(ds).explain(uid, iid)
    if fmt == "json":
        ev = e.evidence
        sys.stdout.write(json.dumps({
            "user_id": uid, "item_id": iid, "text": e.text, "source": e.source,
            "evidence": {"kind": ev.kind, "source": ev.source, "shared": list(ev.shared),
                         "items": [{"item_id": x.item, "title": x.title, "rating": x.rating,
                                    "similarity": x.similarity} for x in ev.items],
                         "neighbors": [{"user_id": x.user, "similarity": x.similarity,
                                        "rating": x.rating} for x in ev.neighbors]},
            "rejected": e.rejected, "reason": e.reason}, indent=2, default=_json_default)
            + "\n")
        return
    console.print(e.text)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def register(app: typer.Typer) -> None:
    """Add the ``llm`` command group to the ``synerec`` CLI."""
    app.add_typer(llm_app, name="llm")
