"""``synerec``: the command-line entry point (Typer + Rich)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from synerec._version import __version__
from synerec.algorithms.registry import DEFAULT_RANKING_MODEL
from synerec.cli._answers import (
    UnknownOpt,
    check_unknown,
    item_catalogue,
    model_id,
    title_of,
)
from synerec.cli._options import model_config, parse_params
from synerec.cli.data_options import DataOptions, data_options
from synerec.exceptions import ConfigError, SynerecError

app = typer.Typer(
    name="synerec",
    help="Recommendations from collaborative filtering and language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("synerec.cli")


def _version(value: bool) -> None:
    if value:
        console.print(f"synerec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output (-v info, -vv debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", force=True,
                        handlers=[RichHandler(console=err_console, show_path=False)])


@app.command()
def datasets(
    data_home: Annotated[Path | None, typer.Option(help="Data home (default $SYNEREC_DATA_HOME "
                                                        "or ~/.cache/synerec).")] = None,
) -> None:
    """List the known data sets and whether each is present in the data home."""
    from synerec._config import data_home as resolve_home
    from synerec.data import list_datasets

    home = resolve_home(data_home)
    table = Table(title=f"Data sets (data home: {home})")
    table.add_column("name", style="bold")
    table.add_column("status")
    table.add_column("description")
    for info, present in list_datasets(data_home):
        status = ("built-in" if info.builtin else
                  "[green]present[/green]" if present else "[yellow]missing[/yellow] (downloads)"
                  if info.download else "[red]missing[/red]")
        table.add_row(info.name, status, info.description)
    console.print(table)


@app.command()
def models(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Which model for which job: each registered model, what it is for, what data it
    accepts, and its measured figures (docs/experiments.md)."""
    from synerec.algorithms.guide import model_guides

    _check_format(fmt)
    guides = model_guides()
    if fmt == "json":
        _print_json({"models": [g.to_dict() for g in guides]})
        return
    table = Table(title="Models (figures measured in docs/experiments.md)", show_lines=True)
    table.add_column("model", style="bold", no_wrap=True)
    table.add_column("what it is for")
    for g in guides:
        text = [g.summary, f"for: {', '.join(g.uses) or '-'}; data: {', '.join(g.data) or '-'}"]
        if g.choose_when:
            text.append(f"choose it for {g.choose_when}")
        text += [f"measured: {f.text()}" for f in g.figures] or ["measured: not here yet"]
        table.add_row(g.name, "\n".join(text))
    console.print(table)
    console.print("Ranked lists for a shop: ease (what `synerec fit` trains by default). "
                  "'Similar items': item-cf, or t-item-cf when items have titles. Rating "
                  "prediction: mf. Read purchases and clicks with --implicit "
                  "(docs/your-data.md).", highlight=False)


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


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    return fmt


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _summary_table(summary: Any, title: str, metrics: list[str],
                   caption: str | None = None) -> Any:
    """Model-by-metric table laid out to fit the terminal (see :mod:`synerec.cli._tables`)."""
    from synerec.cli._tables import metric_table

    return metric_table(summary, metrics, title=title, console=console, caption=caption)


#: The metrics of ``synerec evaluate``'s table, rating and ranking side by side.
EVAL_METRICS = ["mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage",
                "category_coverage", "fit_seconds", "predict_seconds"]


@app.command()
@data_options(default="demo-shop")
def evaluate(
    data: DataOptions,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Registered model name, or several separated by commas "
        "(ease,item-cf,mf): one table compares them.")] = "ease,item-cf",
    k: KOpt = None,
    similarity: SimOpt = None,
    max_neighbors: MaxNOpt = None,
    factors: FactorsOpt = None,
    epochs: EpochsOpt = None,
    param: ParamOpt = None,
    folds: Annotated[str, typer.Option(help="official, holdout, temporal, last-1 or a number "
                                            "of folds.")] = "official",
    n: Annotated[int, typer.Option("--n", help="Top-N list length.")] = 10,
    relevance: Annotated[float | None, typer.Option(
        "--relevance-threshold", help="Explicit ratings: a test item is relevant at or above "
        "this rating [3/4 of the scale]. Implicit data need none: every test interaction is "
        "relevant.")] = None,
    fmt: FormatOpt = "table",
    seed: SeedOpt = 42,
) -> None:
    """Fit models on each fold and compare accuracy, ranking quality, coverage and costs.

    With several models (--model a,b,c) an option goes to every model that takes it;
    --param MODEL.KEY=VALUE sets one model's option.
    """
    from synerec.cli._options import model_configs, parse_model_list
    from synerec.evaluation import ModelSpec
    from synerec.evaluation import evaluate as run_evaluation

    _check_format(fmt)
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    names = parse_model_list(model)
    configs = model_configs(names, k=k, similarity=similarity, max_neighbors=max_neighbors,
                            factors=factors, epochs=epochs, params=param, seed=seed)
    ds = data.load(seed)
    if relevance is not None and ds.implicit:
        raise ConfigError(f"--relevance-threshold applies to ratings; {ds.name} is implicit "
                          "feedback, where every test interaction is relevant")
    if folds == "official" and not ds.splits:
        folds = "5"
        log.warning("%s has no official splits: using 5 random folds", ds.name)
    specs = [ModelSpec(name, configs[name], name) for name in names]
    result = run_evaluation(specs, ds, folds, n=n,
                            relevance_threshold="auto" if relevance is None else relevance,
                            random_state=seed, show_progress=fmt == "table")
    if fmt == "json":
        _print_json(result.to_dict())
        return
    fold_names = list(dict.fromkeys(r.fold for r in result.folds))
    summary = result.summary()
    if "mae" in summary.columns and "predict_seconds" in summary.columns:
        summary.loc[summary["mae"].isna(), "predict_seconds"] = float("nan")  # nothing timed
    metrics = [m.replace("@10", f"@{n}") for m in EVAL_METRICS]
    # no ratings to predict (implicit data, or only ranking models): no MAE / RMSE columns
    metrics = [m for m in metrics if m in summary.columns and summary[m].notna().any()]
    if "mae" not in metrics:  # and no prediction time to report
        metrics = [m for m in metrics if m != "predict_seconds"]
    caption = None
    if "mae" in metrics and summary["mae"].isna().any():
        caption = "-: ranking models predict scores, not ratings (no MAE / RMSE)"
    what = (f"mean over {len(fold_names)} folds" if len(fold_names) > 1
            else f"fold {fold_names[0]}")
    console.print(_summary_table(summary, f"{ds.name}, {what}", metrics, caption))


@app.command()
@data_options(default="demo-shop")
def fit(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    data: DataOptions,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Registered model name, or auto (default): the hybrid when the "
        "data has enough interactions for its validation part, else the best single "
        "retriever; user-cf / item-cf / mf predict ratings.")] = "auto",
    k: KOpt = None,
    similarity: SimOpt = None,
    max_neighbors: MaxNOpt = None,
    factors: FactorsOpt = None,
    epochs: EpochsOpt = None,
    param: ParamOpt = None,
    seed: SeedOpt = 42,
) -> None:
    """Fit a model on a whole data set and save it (.npz + JSON, no pickle).

    Without --model this is the best-ranking model for the data (the hybrid, or the best single
    retriever on data too small for its validation part), so `recommend`, `serve` and
    `batch-recommend` rank with it; fit user-cf or item-cf for the paper's rating predictions.
    `synerec models` lists each model with what it is for and its measured figures.
    """
    from synerec.algorithms import create_model

    ds = data.load(seed)
    why = ""
    base: dict[str, Any] = {}
    if model == "auto":
        from synerec.models import choose_default_model

        choice = choose_default_model(ds)
        model, base, why = choice.name, dict(choice.config), f" (auto: {choice.reason})"
    config = model_config(model, k=k, similarity=similarity, max_neighbors=max_neighbors,
                          factors=factors, epochs=epochs, params=param, seed=seed)
    est = create_model(model, **{**base, **config}).fit(ds)
    path = est.save(out)
    feedback = "implicit feedback" if ds.implicit else "ratings"
    err_console.print(f"saved {model}{why} fitted on {ds.name} ({ds.n_users} users, "
                      f"{ds.n_items} items, {ds.n_interactions} interactions, {feedback}) to "
                      f"{path}", highlight=False, soft_wrap=True)


@app.command()
@data_options(default="demo-shop")
def tune(
    data: DataOptions,
    model: ModelOpt = DEFAULT_RANKING_MODEL,
    metric: Annotated[str, typer.Option(help="ndcg@10, precision@N, recall@N, map@N, mrr "
                                             "(maximised), rmse or mae (minimised).")]
    = "ndcg@10",
    trials: Annotated[int, typer.Option(help="Optuna trials.")] = 30,
    folds: Annotated[str, typer.Option(help="Which training data to tune on: auto (the first "
                                            "official fold, else temporal, else holdout), "
                                            "official, temporal, holdout, or none (the whole "
                                            "data set, no test measurement).")] = "auto",
    validation: Annotated[float, typer.Option(help="Share of each user's training "
                                                   "interactions held out for validation.")]
    = 0.2,
    space: Annotated[list[str] | None, typer.Option(
        "--space", help="Search range NAME=LOW:HIGH[:log] or NAME=A,B,C (repeatable; "
        "replaces the model's declared range).")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A fixed option KEY=VALUE (not searched).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Save the model refitted on the whole training data with the "
        "chosen values (they are stored in its model.json).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after this many "
                                                       "seconds.")] = None,
    fmt: FormatOpt = "table",
    seed: SeedOpt = 42,
) -> None:
    """Search a model's hyper-parameters with Optuna on a validation split of the training data.

    The validation part is carved out of the training part only (each user's latest share of
    interactions where there are timestamps, else a seeded random share); the test fold is
    measured once, after the search, with the chosen values.
    """
    from synerec.algorithms.persistence import update_metadata
    from synerec.cli._options import parse_params
    from synerec.data.splits import Fold
    from synerec.evaluation import ModelSpec, evaluate_fold, make_folds
    from synerec.evaluation.tuning import parse_metric, parse_space
    from synerec.evaluation.tuning import tune as run_tune

    _check_format(fmt)
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    key, n = parse_metric(metric)
    fixed = parse_params(param)
    ranges = parse_space(space)
    ds = data.load(seed)
    choice = folds
    if choice == "auto":
        choice = ("official" if ds.splits else "temporal" if ds.timestamps is not None
                  else "holdout")
    fold: Fold | None = None
    if choice == "none":
        train = ds
    elif choice in ("official", "temporal", "holdout", "last-1"):
        fold = make_folds(ds, choice, random_state=seed)[0]
        train = fold.train
    else:
        raise ConfigError(f"--folds must be auto, official, temporal, holdout, last-1 or none, "
                          f"not {folds!r}")
    progress = None
    if fmt == "table":
        err_console.print(f"tuning {model} on {train.name}: {trials} trials, {key} on a "
                          f"{validation:.0%} validation split", highlight=False)

        def progress(tr: Any) -> None:
            err_console.print(f"  trial {tr.number:3d}: {key} {tr.value:.4f}  "
                              + ", ".join(f"{k}={_fmt_value(v)}" for k, v in tr.params.items()),
                              highlight=False)

    result = run_tune(train, model, metric=metric, n_trials=trials, space=ranges or None,
                      fixed=fixed, validation_share=validation, random_state=seed,
                      timeout=timeout, on_trial=progress)
    report: dict[str, Any] = {"dataset": ds.name, "trained_on": train.name,
                              **result.to_dict()}
    fitted = None
    if fold is not None or out is not None:
        import time as _time

        t0 = _time.perf_counter()
        fitted = result.refit(train)
        report["refit_seconds"] = _time.perf_counter() - t0
    if fold is not None:
        measured = evaluate_fold(ModelSpec(model, result.config, model), fold, n=n,
                                 relevance_threshold=result.validation["relevance_threshold"],
                                 fitted=fitted)
        report["test"] = {"fold": fold.name, **measured.metrics}
        result.extra["test"] = {"fold": fold.name, key: measured.metrics.get(key)}
    if out is not None:
        assert fitted is not None
        path = fitted.save(out)
        update_metadata(path, {"tuning": {**result.metadata(), "trained_on": train.name}})
        report["saved"] = str(path)
    if fmt == "json":
        _print_json(report)
        return
    table = Table(title=f"{model}: chosen values", title_justify="left")
    table.add_column("parameter", style="bold")
    table.add_column("value", justify="right")
    table.add_column("searched", justify="left")
    for name, value in result.config.items():
        table.add_row(name, _fmt_value(value), result.space.get(name, "fixed"))
    console.print(table)
    console.print(f"validation {key}: {result.best_value:.4f} (best of {len(result.trials)} "
                  f"trials in {result.seconds:.1f} s; {result.validation['split']}, "
                  f"{result.validation['validation_interactions']} held-out interactions)",
                  highlight=False)
    if "test" in report:
        value = report["test"].get(key)
        shown = "n/a" if value is None else f"{value:.4f}"
        console.print(f"test {key} on {fold.name if fold else ''}: {shown}", highlight=False)
    if out is not None:
        err_console.print(f"saved {model} with the chosen values to {report['saved']}",
                          highlight=False)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command()
def recommend(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A saved model directory.")],
    user: Annotated[list[str], typer.Option("--user", "-u", help="User id (repeatable).")],
    n: Annotated[int, typer.Option("--n", help="List length.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Keep the user's own items.")] = False,
    unknown: UnknownOpt = "error",
    fmt: FormatOpt = "table",
) -> None:
    """Top-N recommendations for users of a saved model, with item titles."""
    from synerec.algorithms import Recommender

    _check_format(fmt)
    check_unknown(unknown)
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    model = Recommender.load(model_dir)
    resolved = [model_id(model, u, "user", unknown) for u in user]
    users = [uid for uid, _ in resolved]
    ids, scores = model.recommend(users, n, exclude_seen=not include_seen,
                                  **_fallback_kwargs(model.recommend, unknown))
    catalogue = item_catalogue(model)
    from synerec.algorithms.registry import model_name

    name = model_name(type(model))
    out = []
    for (uid, known), row, srow in zip(resolved, ids, scores, strict=True):
        items = []
        for r, (i, sc) in enumerate(zip(row, srow, strict=True)):
            if i is None:
                continue
            entry: dict[str, Any] = {"rank": r + 1, "item_id": i, "score": float(sc)}
            if catalogue is not None:
                k = model.items_.index(i)
                entry["title"] = str(catalogue["title"][k])
                if "category" in catalogue:
                    entry["category"] = str(catalogue["category"][k])
            items.append(entry)
        out.append({"user_id": uid, "fallback": None if known else "unknown_user",
                    "items": items})
    if fmt == "json":
        _print_json({"model": name, "recommendations": out})
        return
    for rec in out:
        note = " (unknown user: the most popular items)" if rec["fallback"] else ""
        table = Table(title=f"Top {n} for user {rec['user_id']} ({name}){note}")
        table.add_column("rank", justify="right")
        table.add_column("item")
        if catalogue is not None:
            table.add_column("title")
        table.add_column("popularity" if rec["fallback"] else "score", justify="right")
        for e in rec["items"]:
            cells = [str(e["rank"]), str(e["item_id"])]
            if catalogue is not None:
                cells.append(e["title"])
            table.add_row(*cells, f"{e['score']:.4g}")
        console.print(table)


def _fallback_kwargs(method: Any, unknown: str) -> dict[str, Any]:
    """``unknown=`` for a Python API method that takes it (the one policy everywhere)."""
    import inspect

    if "unknown" in inspect.signature(method).parameters:
        return {"unknown": unknown}
    return {}


@app.command()
@data_options(default=None, dataset_help="Instead of --model-dir: a data set name, an "
              "interaction file or a config file to fit the paper's --method on.")
def predict(
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id.")],
    data: DataOptions,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="A saved model "
                                                   "directory.")] = None,
    method: Annotated[str | None, typer.Option(help="With --dataset: user_cosine, user_pearson, "
                                               "item_cosine or item_adjusted_cosine "
                                               "(default user_cosine).")] = None,
    k: KOpt = None,
    plain: Annotated[bool, typer.Option("--plain", help="With --dataset: the paper's plain "
                                        "formulas (min_support=1, shrinkage=0, "
                                        "center=false).")] = False,
    param: ParamOpt = None,
    threshold: Annotated[float | None, typer.Option(help="Recommend above this rating "
                                                    "(default: 6 of 10 on the data's scale; "
                                                    "ratings only).")] = None,
    unknown: UnknownOpt = "error",
    fmt: FormatOpt = "table",
    seed: SeedOpt = 42,
) -> None:
    """Predict a user's rating of an item, and whether to recommend it, and why.

    From a saved model (--model-dir), or from one of the paper's four methods fitted on a data
    set (--dataset with --method; --k, --plain and --param set the model's options). For a
    model fitted on implicit feedback (purchases, clicks), or a ranking model (ease, als, bpr,
    rp3beta), there is no rating to predict: the answer is the item's score and rank in the
    user's list.
    """
    _check_format(fmt)
    check_unknown(unknown)
    if (model_dir is None) == (not data.given):
        raise ConfigError("give either --model-dir or --dataset (with --method)")
    if model_dir is not None:
        given = [flag for flag, value in (("--method", method), ("--k", k), ("--param", param))
                 if value]
        if plain:
            given.append("--plain")
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --dataset")
        from synerec.algorithms import Recommender

        model = Recommender.load(model_dir)
        label = None
    else:
        model, label = _paper_model(data, method or "user_cosine", k, plain, param, seed)
    uid, user_known = model_id(model, user, "user", unknown)
    iid, item_known = model_id(model, item, "item", unknown)
    title = title_of(model, iid) if item_known else ""
    ranks_only = not getattr(model, "predicts_ratings", True)
    if model.rating_scale_ is None or ranks_only:
        if threshold is not None:
            why = ("this model was fitted on implicit feedback (no ratings)"
                   if model.rating_scale_ is None else
                   "this model ranks items and predicts no ratings")
            raise ConfigError(f"--threshold applies to predicted ratings; {why}: see the "
                              "item's rank")
        payload = _implicit_answer(model, uid, iid, user_known, item_known)
        payload["title"] = title
        if fmt == "json":
            _print_json(payload)
            return
        console.print(f"user {uid}, item {iid}" + (f" ({title})" if title else "")
                      + f": {payload['reason']}", highlight=False)
        return
    decision = model.recommend_item(uid, iid, threshold=threshold, unknown=unknown)
    p = decision.prediction
    neighbors = [{key: v for key, v in nb.items() if not key.endswith("_index")}
                 for nb in p.details.get("neighbors", [])]
    payload = {"user_id": uid, "item_id": iid, "title": title, "feedback": "explicit",
               "prediction": p.value, "recommend": decision.recommend,
               "threshold": decision.threshold, "reason": decision.reason,
               "n_neighbors": p.n_neighbors, "fallback": p.fallback,
               "fallback_to": p.fallback_to, "neighbors": neighbors}
    if label is not None:
        payload["method"] = method or "user_cosine"
        payload["config"] = model.get_config().model_dump(mode="json")
    if fmt == "json":
        _print_json(payload)
        return
    if label is not None:
        console.print(label, highlight=False)
    verdict = "[green]recommend[/green]" if decision.recommend else "[yellow]do not " \
        "recommend[/yellow]"
    console.print(f"user {uid}, item {iid}" + (f" ({title})" if title else "")
                  + f": predicted {p.value:.4f} -> {verdict}")
    console.print(f"why: {decision.reason}; {p.n_neighbors} neighbours used"
                  + (f"; fallback {p.fallback} -> {p.fallback_to}" if p.fallback else ""))
    if neighbors:
        console.print(_neighbor_table(neighbors, p.details))


def _paper_model(data: DataOptions, method: str, k: int | None, plain: bool,
                 param: list[str] | None, seed: int) -> tuple[Any, str]:
    """The paper's ``method`` fitted on the data set, and a one-line description of it."""
    from synerec.algorithms import PLAIN_FORMULAS, PaperCF

    options: dict[str, Any] = dict(PLAIN_FORMULAS) if plain else {}
    options.update(parse_params(param))
    if "k" in options:
        raise ConfigError("set the neighbours with --k, not --param k=...")
    ds = data.load(seed)
    cf = PaperCF(ds, k=40 if k is None else k, **options)
    model = cf.model(method)
    cfg = model.get_config()
    shown = ", ".join(f"{key}={v}" for key, v in cfg.model_dump().items()
                      if key not in ("ranking", "num_threads", "binarize"))
    scale_text = ("implicit" if ds.rating_scale is None
                  else f"rating scale {ds.rating_scale[0]:g}..{ds.rating_scale[1]:g}")
    return model, (f"{method} on {ds.name} ({ds.n_users} users, {ds.n_items} items, "
                   f"{scale_text}): {type(model).__name__}({shown})")


def _neighbor_table(neighbors: list[dict[str, Any]], details: dict[str, Any]) -> Table:
    """The neighbours behind a prediction, as the formula used them."""
    key = "user" if "user" in neighbors[0] else "item"
    if key == "user":
        title = f"eq. 3 neighbours (user mean {details['user_mean']:.4f})"
    elif "item_mean" in details:
        title = f"eq. 4 neighbours (centred: item mean {details['item_mean']:.4f})"
    else:
        title = "eq. 4 neighbours (plain: no mean)"
    table = Table(title=title)
    cols = [key, "similarity", "rating"] + (["mean"] if "mean" in neighbors[0] else [])
    cols.append("contribution")
    for col in cols:
        table.add_column(col, justify="left" if col == key else "right")
    for nb in neighbors:
        table.add_row(str(nb[key]), *[f"{nb[c]:.4f}" if c != "rating" else f"{nb[c]:g}"
                                      for c in cols[1:]])
    return table


def model_name_of(model: Any) -> str:
    """The registry name of a model's class (its class name when not registered)."""
    from synerec.algorithms.registry import model_name

    try:
        return model_name(type(model))
    except SynerecError:
        return type(model).__name__


def _implicit_answer(model: Any, uid: Any, iid: Any, user_known: bool,
                     item_known: bool) -> dict[str, Any]:
    """For implicit feedback, or a ranking model (``ease``, ``als``, ...) on ratings: the item's
    place in the user's list, in the model's own score."""
    implicit = model.rating_scale_ is None
    payload: dict[str, Any] = {"user_id": uid, "item_id": iid,
                               "feedback": "implicit" if implicit else "explicit",
                               "prediction": None, "recommend": None, "threshold": None,
                               "score": None, "rank": None, "ranked": None,
                               "fallback": None if user_known and item_known else
                               "unknown_user" if not user_known else "unknown_item"}
    what = ("implicit feedback: no rating to predict" if implicit else
            f"{model_name_of(model)} ranks items and predicts no rating")
    if not item_known:
        payload["reason"] = f"{what}, and the model has no data on this item, so it never ranks it"
        return payload
    u = model.users_.index(uid) if user_known else -1
    i = model.items_.index(iid)
    if user_known and model._rated_value(u, i) is not None:
        payload["reason"] = (f"{what}; the user already has this item (value "
                             f"{model._rated_value(u, i):g})")
        return payload
    idx, sc = model.recommend_indices([u], model.n_items_)
    ranked = idx[0][idx[0] >= 0]
    payload["ranked"] = len(ranked)
    hit = np.flatnonzero(ranked == i)
    if hit.size == 0:
        payload["reason"] = (f"{what}; the item is not among the {len(ranked)} items the "
                             "model ranks for this user")
        return payload
    pos = int(hit[0])
    payload.update(score=float(sc[0][pos]), rank=pos + 1)
    who = "" if user_known else " (unknown user: ranked by popularity)"
    payload["reason"] = (f"{what}; ranked {pos + 1} of {len(ranked)} for this user{who}, "
                         f"score {float(sc[0][pos]):.4g} (the model's own)")
    return payload


experiment_app = typer.Typer(help="Experiments that reproduce the paper's tables and figures.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("k-sweep")
@data_options(default="ml-100k")
def k_sweep_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, table.md "
                                                          "and mae_vs_k.png.")],
    data: DataOptions,
    models: Annotated[str, typer.Option(help="Comma-separated model names.")]
    = "user-cf,t-user-cf,item-cf,t-item-cf",
    ks: Annotated[str, typer.Option(help="Comma-separated neighbour counts.")]
    = "5,10,15,20,25,30",
    folds: Annotated[str, typer.Option(help="official or a number of folds.")] = "official",
    similarity: SimOpt = None,
    param: ParamOpt = None,
    seed: SeedOpt = 42,
) -> None:
    """Sweep the neighbour count K for several models (the paper's Table 2 and Figure 4)."""
    from synerec.algorithms.registry import get_model_class
    from synerec.cli._tables import fitted_table, format_metric
    from synerec.evaluation.experiment import k_sweep, write_k_sweep

    try:
        k_values = [int(x) for x in ks.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--ks must be comma-separated integers, got {ks!r}") from None
    if not k_values or min(k_values) < 1:
        raise ConfigError(f"--ks must hold positive integers, got {ks!r}")
    names = [m.strip() for m in models.split(",") if m.strip()]
    extra = parse_params(param)
    if similarity:
        extra["similarity"] = similarity
    config: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            accepted = set(get_model_class(name)._param_names())
        except SynerecError:
            continue
        config[name] = {key: v for key, v in extra.items() if key in accepted}
    ds = data.load(seed)
    if folds == "official" and not ds.splits:
        folds = "5"
    result = k_sweep(ds, names, k_values, folds, config=config, random_state=seed,
                     show_progress=True)
    for name, why in result.unknown.items():
        err_console.print(f"[yellow]not run[/yellow] {name}: {why}")
    paths = write_k_sweep(result, out)
    for metric in ("mae", "rmse"):
        table = result.pivot(metric)
        if table.empty:
            continue
        console.print(fitted_table(
            ["K", *map(str, table.columns)],
            [[str(kk), *(format_metric(metric, v) for v in row)] for kk, row in table.iterrows()],
            title=f"{metric.upper()} by K on {ds.name}", console=console,
            justify=["right"] * (len(table.columns) + 1)))
    err_console.print("wrote " + ", ".join(str(p) for p in paths.values()))


@experiment_app.command("ablation")
@data_options(default="ml-100k")
def ablation_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, table.md "
                                                          "and ablation.png.")],
    data: DataOptions,
    folds: Annotated[str, typer.Option(help="official, holdout, temporal, last-1, a number "
                                            "of folds, or official folds by name (u1 or "
                                            "u1,u2).")] = "official",
    retrievers: Annotated[str | None, typer.Option(
        help="Comma-separated retrievers of the hybrid (default: its own).")] = None,
    users: Annotated[int | None, typer.Option(
        "--users", help="Measure a seeded sample of at most this many test users per fold "
                        "(a bounded run, e.g. with --llm).")] = None,
    llm: Annotated[str, typer.Option(help="none, local or openai: adds the '+ LLM feature' "
                                          "row.")] = "none",
    param: ParamOpt = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples per difference.")] = 1000,
    n: Annotated[int, typer.Option("--n", help="Top-N list length.")] = 10,
    seed: SeedOpt = 42,
) -> None:
    """Each retriever alone, the hybrid with CF features, + text, + LLM: table, JSON and chart.

    Every row is measured on the same folds and users; each difference from the row above has
    a paired bootstrap 95% interval over the users.
    """
    from synerec.evaluation.ablation import default_rows, run_ablation, write_ablation

    if llm not in ("none", "local", "openai"):
        raise ConfigError(f"--llm must be none, local or openai, not {llm!r}")
    if bootstrap < 100:
        raise ConfigError(f"--bootstrap must be at least 100, got {bootstrap}")
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if users is not None and users < 1:
        raise ConfigError(f"--users must be at least 1, got {users}")
    config = parse_params(param)
    names = [r.strip() for r in retrievers.split(",") if r.strip()] if retrievers else None
    rows = default_rows(names, config, llm=llm)
    for row in rows:  # unknown names and options fail before any fitting
        row.spec.build().get_config()
    ds = data.load(seed)
    if folds == "official" and not ds.splits:
        folds = "5"
        log.warning("%s has no official splits: using 5 random folds", ds.name)
    result = run_ablation(ds, rows, folds, n=n, n_boot=bootstrap, random_state=seed,
                          show_progress=True, max_users=users)
    paths = write_ablation(result, out)
    from synerec.cli._tables import fitted_table

    header = ["row", f"NDCG@{n}", f"P@{n}", f"R@{n}", "cov.", "Δ NDCG [95% CI]"]
    cells = []
    for r in result.rows:
        d = r.get("delta", {}).get("ndcg@10")  # the runner's keys (its list length is n)
        delta = "" if d is None else f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
        cells.append([r["label"], f"{r['ndcg@10']:.4f}", f"{r['precision@10']:.4f}",
                      f"{r['recall@10']:.4f}", f"{r['coverage']:.3f}", delta])
    console.print(fitted_table(
        header, cells, title=f"Ablation on {ds.name} ({', '.join(result.folds)})",
        caption="Δ: difference from the row above, paired bootstrap over users",
        console=console))
    err_console.print("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command()
@data_options(default="demo-shop")
def demo(
    data: DataOptions,
    seed: SeedOpt = 42,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("synerec-report"),
) -> None:
    """The main job: evaluate the CF models, explain one user's top-5, write a report."""
    from synerec.cli.demo import run_demo

    run_demo(data.load(seed), out=out, seed=seed, console=console)


#: Modules of ``synerec.cli`` that add commands through ``register(app)`` (text, llm, service,
#: distributed): each lives in its own file so the parts of the product stay apart.
COMMAND_MODULES = ("text_commands", "llm_commands", "serve_commands", "distributed_commands")


def _register_command_modules() -> None:
    import importlib
    import importlib.util

    for name in COMMAND_MODULES:
        full = f"synerec.cli.{name}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full).register(app)


_register_command_modules()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a user's mistake is one line on stderr and exit code 2, never a traceback."""
    try:
        app(args=argv, prog_name="synerec")
    except SynerecError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True, markup=True)
        return 2
    except SystemExit as exc:  # click's own usage errors and --help end here
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
