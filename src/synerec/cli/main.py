"""``synerec``: the command-line entry point (Typer + Rich)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from synerec._version import __version__
from synerec.algorithms.registry import DEFAULT_RANKING_MODEL
from synerec.cli._options import model_config, parse_params
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


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Registered model name "
                                      "(ease, als, bpr, rp3beta, user-cf, item-cf, mf, ...).")]
KOpt = Annotated[int | None, typer.Option("--k", help="Neighbours used per prediction.")]
SimOpt = Annotated[str | None, typer.Option("--similarity", help="cosine, pearson, "
                                            "adjusted_cosine.")]
MaxNOpt = Annotated[int | None, typer.Option("--max-neighbors", help="Neighbours stored per row.")]
FactorsOpt = Annotated[int | None, typer.Option("--factors", help="Latent factors (mf).")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Training epochs (mf).")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="Any model option as KEY=VALUE.")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Data set name (see `synerec "
                                         "datasets`) or an interaction file.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    return fmt


def _load(dataset: str, seed: int = 42):  # type: ignore[no-untyped-def]
    from synerec.data import load_dataset

    if dataset == "demo-shop":
        return load_dataset(dataset, random_state=seed)
    return load_dataset(dataset)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


#: Columns of ``synerec evaluate``'s comparison table: (result key, header, decimals).
EVAL_COLUMNS: list[tuple[str, str, int]] = [
    ("mae", "MAE", 4), ("rmse", "RMSE", 4), ("precision@10", "P@10", 4),
    ("recall@10", "R@10", 4), ("ndcg@10", "NDCG@10", 4), ("coverage", "cov.", 3),
    ("fit_seconds", "fit s", 2)]


def _cell(value: Any, decimals: int) -> str:
    if value is None or value != value:  # missing or NaN: the model has no such metric
        return "n/a"
    if decimals == 2 and abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{decimals}f}"


def comparison_table(summary: Any, title: str, n: int = 10, *, std: bool = False) -> Table:
    """One row per model, rating and ranking metrics side by side, within 80 columns.

    ``n/a`` marks a metric a model does not have (no MAE / RMSE for the ranking-only models);
    the rating columns are left out when no model has them (implicit data). With ``std``, the
    cells are the standard deviations over the folds instead of the means.
    """
    from rich import box

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("model", style="bold", overflow="fold")
    cols = []
    for key, header, decimals in EVAL_COLUMNS:
        key = key.replace("@10", f"@{n}")
        if key not in summary.columns or summary[key].isna().all():
            continue
        cols.append((key, decimals))
        table.add_column(header.replace("@10", f"@{n}"), justify="right", no_wrap=True)
    for model, row in summary.iterrows():
        cells = []
        for key, decimals in cols:
            value = row.get(f"{key}_std") if std else row.get(key)
            if std and row.get(key) != row.get(key):
                value = None
            cells.append(_cell(value, decimals))
        table.add_row(str(model), *cells)
    return table


@app.command()
def evaluate(
    dataset: DatasetOpt = "demo-shop",
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Registered model name, or several separated by commas "
        "(ease,item-cf,mf): one table compares them.")] = "ease,item-cf",
    k: KOpt = None,
    similarity: SimOpt = None,
    max_neighbors: MaxNOpt = None,
    factors: FactorsOpt = None,
    epochs: EpochsOpt = None,
    param: ParamOpt = None,
    folds: Annotated[str, typer.Option(help="official, holdout, temporal or a number of "
                                            "folds.")] = "official",
    n: Annotated[int, typer.Option("--n", help="Top-N list length.")] = 10,
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
    ds = _load(dataset, seed)
    if folds == "official" and not ds.splits:
        folds = "5"
        log.warning("%s has no official splits: using 5 random folds", ds.name)
    specs = [ModelSpec(name, configs[name], name) for name in names]
    result = run_evaluation(specs, ds, folds, n=n, random_state=seed,
                            show_progress=fmt == "table")
    if fmt == "json":
        _print_json(result.to_dict())
        return
    fold_names = list(dict.fromkeys(r.fold for r in result.folds))
    summary = result.summary()
    what = (f"mean over {len(fold_names)} folds" if len(fold_names) > 1
            else f"fold {fold_names[0]}")
    console.print(comparison_table(summary, f"{ds.name}, {what}", n))
    if len(fold_names) > 1:
        console.print(comparison_table(summary, f"standard deviation over {len(fold_names)} "
                                       "folds", n, std=True))
    if "mae" in summary.columns and summary["mae"].notna().any() and \
            summary["mae"].isna().any():
        console.print("n/a: ranking models predict scores, not ratings (no MAE / RMSE)",
                      style="dim")


@app.command()
def fit(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    dataset: DatasetOpt = "demo-shop",
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Registered model name (default: ease, the best-ranking model; "
        "user-cf / item-cf / mf predict ratings).")] = DEFAULT_RANKING_MODEL,
    k: KOpt = None,
    similarity: SimOpt = None,
    max_neighbors: MaxNOpt = None,
    factors: FactorsOpt = None,
    epochs: EpochsOpt = None,
    param: ParamOpt = None,
    seed: SeedOpt = 42,
) -> None:
    """Fit a model on a whole data set and save it (.npz + JSON, no pickle).

    Without --model this is the best-ranking model (ease), so `recommend`, `serve` and
    `batch-recommend` rank with it; fit user-cf or item-cf for the paper's rating predictions.
    """
    from synerec.algorithms import create_model

    config = model_config(model, k=k, similarity=similarity, max_neighbors=max_neighbors,
                          factors=factors, epochs=epochs, params=param, seed=seed)
    ds = _load(dataset, seed)
    est = create_model(model, **config).fit(ds)
    path = est.save(out)
    err_console.print(f"saved {model} fitted on {ds.name} ({ds.n_users} users, {ds.n_items} "
                      f"items) to {path}")


@app.command()
def tune(
    dataset: DatasetOpt = "demo-shop",
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
    ds = _load(dataset, seed)
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
    fmt: FormatOpt = "table",
) -> None:
    """Top-N recommendations for users of a saved model."""
    from synerec.algorithms import Recommender

    _check_format(fmt)
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    model = Recommender.load(model_dir)
    for u in user:  # unknown users are an error here: the service documents its fallback
        model.users_.index(u)
    ids, scores = model.recommend(user, n, exclude_seen=not include_seen)
    if fmt == "json":
        _print_json({"recommendations": [
            {"user_id": u, "items": [{"rank": r + 1, "item_id": i, "score": float(s)}
                                     for r, (i, s) in enumerate(zip(row, srow, strict=True))
                                     if i is not None]}
            for u, row, srow in zip(user, ids, scores, strict=True)]})
        return
    for u, row, srow in zip(user, ids, scores, strict=True):
        table = Table(title=f"Top {n} for user {u}")
        table.add_column("rank", justify="right")
        table.add_column("item")
        table.add_column("score", justify="right")
        for r, (i, s) in enumerate(zip(row, srow, strict=True)):
            if i is not None:
                table.add_row(str(r + 1), str(i), f"{s:.4f}")
        console.print(table)


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A saved model directory.")],
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id.")],
    threshold: Annotated[float | None, typer.Option(help="Recommend above this rating "
                                                    "(default: 6 of 10 on the data's scale).")]
    = None,
    fmt: FormatOpt = "table",
) -> None:
    """Predict a user's rating of an item, and whether to recommend it, and why."""
    from synerec.algorithms import Recommender

    _check_format(fmt)
    model = Recommender.load(model_dir)
    uid = _existing_id(model.users_, user)
    iid = _existing_id(model.items_, item)
    decision = model.recommend_item(uid, iid, threshold=threshold)
    p = decision.prediction
    payload = {"user_id": uid, "item_id": iid, "prediction": p.value,
               "recommend": decision.recommend, "threshold": decision.threshold,
               "reason": decision.reason, "n_neighbors": p.n_neighbors,
               "fallback": p.fallback, "fallback_to": p.fallback_to}
    if fmt == "json":
        _print_json(payload)
        return
    verdict = "[green]recommend[/green]" if decision.recommend else "[yellow]do not " \
        "recommend[/yellow]"
    console.print(f"user {uid}, item {iid}: predicted {p.value:.3f} -> {verdict}")
    console.print(f"why: {decision.reason}; {p.n_neighbors} neighbours used"
                  + (f"; fallback {p.fallback} -> {p.fallback_to}" if p.fallback else ""))


def _existing_id(vocab: Any, raw: str) -> Any:
    """The id as the vocabulary holds it (``"3"`` -> ``3`` for integer ids), or the raw string
    when unknown (predictions then use the documented fallback)."""
    try:
        return vocab.id(vocab.index(raw))
    except SynerecError:
        return raw


experiment_app = typer.Typer(help="Experiments that reproduce the paper's tables and figures.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("k-sweep")
def k_sweep_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, table.md "
                                                          "and mae_vs_k.png.")],
    dataset: DatasetOpt = "ml-100k",
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
    ds = _load(dataset, seed)
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
        t = Table(title=f"{metric.upper()} by K on {ds.name}")
        t.add_column("K", justify="right")
        for col in table.columns:
            t.add_column(col, justify="right")
        for kk, row in table.iterrows():
            t.add_row(str(kk), *[f"{v:.4f}" for v in row])
        console.print(t)
    err_console.print("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command()
def demo(
    dataset: Annotated[str, typer.Option(help="Data set name or file.")] = "demo-shop",
    seed: SeedOpt = 42,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("synerec-report"),
) -> None:
    """The main job: evaluate the CF models, explain one user's top-5, write a report."""
    from synerec.cli.demo import run_demo

    run_demo(_load(dataset, seed), out=out, seed=seed, console=console)


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
