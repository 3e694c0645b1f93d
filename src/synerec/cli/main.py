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
                                      "(user-cf, item-cf, mf, baseline, popularity, ...).")]
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


def _summary_table(summary: Any, title: str, metrics: list[str]) -> Table:
    table = Table(title=title)
    table.add_column("model", style="bold")
    cols = [m for m in metrics if m in summary.columns]
    for m in cols:
        table.add_column(m, justify="right")
    for model, row in summary.iterrows():
        cells = []
        for m in cols:
            std = row.get(f"{m}_std")
            cells.append(f"{row[m]:.4f}" + (f" ± {std:.4f}" if std == std and std else ""))
        table.add_row(str(model), *cells)
    return table


EVAL_METRICS = ["mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage",
                "category_coverage", "fit_seconds", "predict_seconds"]


@app.command()
def evaluate(
    dataset: DatasetOpt = "demo-shop",
    model: ModelOpt = "item-cf",
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
    """Fit a model on each fold and report accuracy, ranking quality, coverage and costs."""
    from synerec.evaluation import ModelSpec
    from synerec.evaluation import evaluate as run_evaluation

    _check_format(fmt)
    config = model_config(model, k=k, similarity=similarity, max_neighbors=max_neighbors,
                          factors=factors, epochs=epochs, params=param, seed=seed)
    ds = _load(dataset, seed)
    if folds == "official" and not ds.splits:
        folds = "5"
        log.warning("%s has no official splits: using 5 random folds", ds.name)
    result = run_evaluation(ModelSpec(model, config, model), ds, folds, n=n,
                            random_state=seed, show_progress=fmt == "table")
    if fmt == "json":
        _print_json(result.to_dict())
        return
    metrics = [m.replace("@10", f"@{n}") for m in EVAL_METRICS]
    console.print(_summary_table(result.summary(), f"{model} on {ds.name} "
                                 f"({len(result.folds)} folds)", metrics))


@app.command()
def fit(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")],
    dataset: DatasetOpt = "demo-shop",
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Registered model name, or auto (default): the hybrid when the "
        "data has enough interactions for its validation part, else the best single "
        "retriever.")] = "auto",
    k: KOpt = None,
    similarity: SimOpt = None,
    max_neighbors: MaxNOpt = None,
    factors: FactorsOpt = None,
    epochs: EpochsOpt = None,
    param: ParamOpt = None,
    seed: SeedOpt = 42,
) -> None:
    """Fit a model on a whole data set and save it (.npz + JSON, no pickle)."""
    from synerec.algorithms import create_model

    ds = _load(dataset, seed)
    why = ""
    base: dict[str, Any] = {}
    if model == "auto":
        from synerec.hybrid.default import choose_default_model

        choice = choose_default_model(ds)
        model, base, why = choice.name, dict(choice.config), f" (auto: {choice.reason})"
    config = model_config(model, k=k, similarity=similarity, max_neighbors=max_neighbors,
                          factors=factors, epochs=epochs, params=param, seed=seed)
    est = create_model(model, **{**base, **config}).fit(ds)
    path = est.save(out)
    err_console.print(f"saved {model}{why} fitted on {ds.name} ({ds.n_users} users, "
                      f"{ds.n_items} items) to {path}", highlight=False, soft_wrap=True)


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
    from synerec.algorithms.registry import model_name

    name = model_name(type(model))
    if fmt == "json":
        _print_json({"model": name, "recommendations": [
            {"user_id": u, "items": [{"rank": r + 1, "item_id": i, "score": float(s)}
                                     for r, (i, s) in enumerate(zip(row, srow, strict=True))
                                     if i is not None]}
            for u, row, srow in zip(user, ids, scores, strict=True)]})
        return
    for u, row, srow in zip(user, ids, scores, strict=True):
        table = Table(title=f"Top {n} for user {u} ({name})")
        table.add_column("rank", justify="right")
        table.add_column("item")
        table.add_column("score", justify="right")
        for r, (i, s) in enumerate(zip(row, srow, strict=True)):
            if i is not None:
                table.add_row(str(r + 1), str(i), f"{s:.4f}")
        console.print(table)


@app.command()
def predict(
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id.")],
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="A saved model "
                                                   "directory.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Instead of "
                                                "--model-dir: a data set name or interaction "
                                                "file to fit the paper's --method on.")] = None,
    method: Annotated[str | None, typer.Option(help="With --dataset: user_cosine, user_pearson, "
                                               "item_cosine or item_adjusted_cosine "
                                               "(default user_cosine).")] = None,
    k: KOpt = None,
    plain: Annotated[bool, typer.Option("--plain", help="With --dataset: the paper's plain "
                                        "formulas (min_support=1, shrinkage=0, "
                                        "center=false).")] = False,
    param: ParamOpt = None,
    rating_scale: Annotated[str | None, typer.Option(help="With an interaction file: LOW,HIGH "
                                                     "of its ratings (default: its lowest and "
                                                     "highest rating).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Recommend above this rating "
                                                    "(default: 6 of 10 on the data's scale).")]
    = None,
    fmt: FormatOpt = "table",
    seed: SeedOpt = 42,
) -> None:
    """Predict a user's rating of an item, and whether to recommend it, and why.

    From a saved model (--model-dir), or from one of the paper's four methods fitted on a data
    set (--dataset with --method; --k, --plain and --param set the model's options).
    """
    _check_format(fmt)
    if (model_dir is None) == (dataset is None):
        raise ConfigError("give either --model-dir or --dataset (with --method)")
    if model_dir is not None:
        given = [flag for flag, value in (("--method", method), ("--k", k), ("--param", param),
                                          ("--rating-scale", rating_scale)) if value]
        if plain:
            given.append("--plain")
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --dataset")
        from synerec.algorithms import Recommender

        model = Recommender.load(model_dir)
        label = None
    else:
        assert dataset is not None
        model, label = _paper_model(dataset, method or "user_cosine", k, plain, param,
                                    rating_scale, seed)
    uid = _existing_id(model.users_, user)
    iid = _existing_id(model.items_, item)
    decision = model.recommend_item(uid, iid, threshold=threshold)
    p = decision.prediction
    neighbors = [{key: v for key, v in nb.items() if not key.endswith("_index")}
                 for nb in p.details.get("neighbors", [])]
    payload = {"user_id": uid, "item_id": iid, "prediction": p.value,
               "recommend": decision.recommend, "threshold": decision.threshold,
               "reason": decision.reason, "n_neighbors": p.n_neighbors,
               "fallback": p.fallback, "fallback_to": p.fallback_to, "neighbors": neighbors}
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
    console.print(f"user {uid}, item {iid}: predicted {p.value:.4f} -> {verdict}")
    console.print(f"why: {decision.reason}; {p.n_neighbors} neighbours used"
                  + (f"; fallback {p.fallback} -> {p.fallback_to}" if p.fallback else ""))
    if neighbors:
        console.print(_neighbor_table(neighbors, p.details))


def _paper_model(dataset: str, method: str, k: int | None, plain: bool,
                 param: list[str] | None, rating_scale: str | None,
                 seed: int) -> tuple[Any, str]:
    """The paper's ``method`` fitted on ``dataset``, and a one-line description of it."""
    from synerec.algorithms import PLAIN_FORMULAS, PaperCF

    options: dict[str, Any] = dict(PLAIN_FORMULAS) if plain else {}
    options.update(parse_params(param))
    if "k" in options:
        raise ConfigError("set the neighbours with --k, not --param k=...")
    scale = _parse_scale(rating_scale) if rating_scale is not None else None
    if scale is not None:
        from synerec.data import load_dataset

        if not Path(dataset).is_file():
            raise ConfigError(f"--rating-scale applies to an interaction file; {dataset!r} is "
                              "not a file")
        ds = load_dataset(dataset, rating_scale=scale)
    else:
        ds = _load(dataset, seed)
    cf = PaperCF(ds, k=40 if k is None else k, **options)
    model = cf.model(method)
    cfg = model.get_config()
    shown = ", ".join(f"{key}={v}" for key, v in cfg.model_dump().items()
                      if key not in ("ranking", "num_threads", "binarize"))
    scale_text = ("implicit" if ds.rating_scale is None
                  else f"rating scale {ds.rating_scale[0]:g}..{ds.rating_scale[1]:g}")
    return model, (f"{method} on {ds.name} ({ds.n_users} users, {ds.n_items} items, "
                   f"{scale_text}): {type(model).__name__}({shown})")


def _parse_scale(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(f"--rating-scale must be LOW,HIGH (two numbers), got {text!r}") from None
    if not low < high:
        raise ConfigError(f"--rating-scale must have LOW < HIGH, got {text!r}")
    return low, high


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


@experiment_app.command("ablation")
def ablation_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for results.json, table.md "
                                                          "and ablation.png.")],
    dataset: DatasetOpt = "ml-100k",
    folds: Annotated[str, typer.Option(help="official, holdout, temporal, last-1 or a number "
                                            "of folds.")] = "official",
    retrievers: Annotated[str | None, typer.Option(
        help="Comma-separated retrievers of the hybrid (default: its own).")] = None,
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
    config = parse_params(param)
    names = [r.strip() for r in retrievers.split(",") if r.strip()] if retrievers else None
    rows = default_rows(names, config, llm=llm)
    for row in rows:  # unknown names and options fail before any fitting
        row.spec.build().get_config()
    ds = _load(dataset, seed)
    if folds == "official" and not ds.splits:
        folds = "5"
        log.warning("%s has no official splits: using 5 random folds", ds.name)
    result = run_ablation(ds, rows, folds, n=n, n_boot=bootstrap, random_state=seed,
                          show_progress=True)
    paths = write_ablation(result, out)
    t = Table(title=f"Ablation on {ds.name} ({', '.join(result.folds)})")
    for col in ("row", f"NDCG@{n}", f"P@{n}", f"R@{n}", "coverage", "Δ NDCG vs row above "
                "[95% CI]"):
        t.add_column(col, justify="left" if col == "row" else "right")
    for r in result.rows:
        d = r.get("delta", {}).get("ndcg@10")
        delta = "" if d is None else f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
        t.add_row(r["label"], f"{r['ndcg@10']:.4f}", f"{r['precision@10']:.4f}",
                  f"{r['recall@10']:.4f}", f"{r['coverage']:.3f}", delta)
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
