"""``synerec``: the command-line entry point (Typer + Rich)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from synerec._config import data_home as resolve_home
from synerec._version import __version__
from synerec.cli import answer_commands, experiment_commands
from synerec.cli._common import (
    EpochsOpt,
    FactorsOpt,
    FormatOpt,
    KOpt,
    MaxNOpt,
    ParamOpt,
    SeedOpt,
    SimOpt,
    check_format,
    print_json,
)
from synerec.cli._options import FOLDS_HELP, ColdShareOpt, CutoffOpt, check_fold_options
from synerec.cli.data_options import DataOptions, data_options
from synerec.exceptions import ConfigError, SynerecError

if TYPE_CHECKING:
    from synerec.data.splits import Fold

# Everything heavier than typer and rich (numpy, pandas, numba, the models) is imported inside
# the command that needs it, so that `synerec --help` and a `recommend` answer in well under
# a second (tests/cli/test_startup.py keeps it so).

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
    _show_progress()


class _ProgressLines(logging.Handler):
    """The library's progress lines on stderr, with the seconds since the command began."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.start = time.perf_counter()

    def emit(self, record: logging.LogRecord) -> None:
        elapsed = time.perf_counter() - self.start
        err_console.print(f"[dim]{elapsed:7.1f} s[/dim]  {escape(record.getMessage())}",
                          highlight=False, soft_wrap=True)


def _show_progress() -> None:
    """Show ``synerec.progress`` (the long steps) on stderr, once per process."""
    from synerec._progress import progress

    progress.setLevel(logging.INFO)
    progress.propagate = False
    for h in progress.handlers:
        if isinstance(h, _ProgressLines):
            h.start = time.perf_counter()  # a new command in the same process (tests)
            return
    progress.addHandler(_ProgressLines())


@app.command()
def datasets(
    data_home: Annotated[Path | None, typer.Option(help="Data home (default $SYNEREC_DATA_HOME "
                                                        "or ~/.cache/synerec).")] = None,
) -> None:
    """List the known data sets and whether each is present in the data home."""
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
    from synerec.models import list_models
    check_format(fmt)
    guides = model_guides(list_models())  # the composition root's list: the hybrid included
    if fmt == "json":
        print_json({"models": [g.to_dict() for g in guides]})
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


#: Width of the ``warning: ...`` lines on stderr (words never cut).
WARNING_WIDTH = 80


def print_profile_warnings(ds: Any) -> None:
    """Print the data profile's warnings of ``ds`` on stderr, one ``warning: ...`` each,
    wrapped at :data:`WARNING_WIDTH` columns without cutting words."""
    from synerec.data import profile as profile_data
    for w in profile_data(ds).warnings:
        text = textwrap.fill(f"warning: {w.message}", WARNING_WIDTH, subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)
        err_console.print(text, highlight=False, markup=False, soft_wrap=True)


@app.command()
@data_options(default="demo-shop")
def profile(
    data: DataOptions,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    seed: SeedOpt = 42,
) -> None:
    """What the data holds (users, items, repeat share, items never bought, items without
    title or category, time span) and the warnings a shop can act on."""
    from synerec.data import format_profile
    from synerec.data import profile as profile_data
    if fmt not in ("text", "json"):
        raise ConfigError(f"--format must be text or json, not {fmt!r}")
    p = profile_data(data.load(seed))
    if fmt == "json":
        print_json(p.to_dict())
        return
    console.print(format_profile(p, width=console.width), highlight=False, markup=False,
                  soft_wrap=True)


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
    folds: Annotated[str, typer.Option(help=FOLDS_HELP)] = "official",
    cutoff: CutoffOpt = None,
    cold_share: ColdShareOpt = None,
    n: Annotated[int, typer.Option("--n", help="Top-N list length.")] = 10,
    relevance: Annotated[float | None, typer.Option(
        "--relevance-threshold", help="Explicit ratings: a test item is relevant at or above "
        "this rating [3/4 of the scale]. Implicit data need none: every test interaction is "
        "relevant.")] = None,
    against: Annotated[str | None, typer.Option(
        "--against", help="Reference model of the NDCG differences (default: popularity "
        "when it is among the models, else the first).")] = None,
    fmt: FormatOpt = "table",
    seed: SeedOpt = 42,
) -> None:
    """Fit models on each fold and compare accuracy, ranking quality, coverage and costs.

    Per model: the test users and hits (test users with a relevant item in the top n), the
    share of test users with no training interaction, and the paired bootstrap 95% interval
    of its NDCG difference from the reference model (--against).

    With several models (--model a,b,c) an option goes to every model that takes it;
    --param MODEL.KEY=VALUE sets one model's option.

    The protocols for new items (--folds global-temporal --cutoff DATE, --folds cold-items)
    add a slice table: all, warm-items, cold-items, cold-shelf (the cold items ranked among
    themselves) and new-users, each with its users, hits, NDCG@10, R@10, R@20, NDCG@100 and
    the interval against the reference model. --folds leave-one-out is the next-item
    protocol (every item ranked, no sampled negatives).
    """
    from synerec.cli._options import model_configs, parse_model_list
    from synerec.cli._tables import metric_label, metric_table
    from synerec.evaluation import ModelSpec
    from synerec.evaluation import evaluate as run_evaluation
    check_format(fmt)
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    names = parse_model_list(model)
    if against is not None and against not in names:
        raise ConfigError(f"--against {against!r} is not among the models of --model "
                          f"({', '.join(names)})")
    configs = model_configs(names, k=k, similarity=similarity, max_neighbors=max_neighbors,
                            factors=factors, epochs=epochs, params=param, seed=seed)
    check_fold_options(folds, cutoff, cold_share)
    ds = data.load(seed)
    print_profile_warnings(ds)
    if relevance is not None and ds.implicit:
        raise ConfigError(f"--relevance-threshold applies to ratings; {ds.name} is implicit "
                          "feedback, where every test interaction is relevant")
    if folds == "official" and not ds.splits:
        folds = "5"
        log.warning("%s has no official splits: using 5 random folds", ds.name)
    specs = [ModelSpec(name, configs[name], name) for name in names]
    result = run_evaluation(specs, ds, folds, n=n,
                            relevance_threshold="auto" if relevance is None else relevance,
                            random_state=seed, show_progress=fmt == "table", cutoff=cutoff,
                            cold_share=cold_share)
    if fmt == "json":
        print_json(result.to_dict(against))
        return
    fold_names = list(dict.fromkeys(r.fold for r in result.folds))
    summary = result.summary()
    ndcg = f"ndcg@{n}"
    diffs = result.differences(against)
    ref = result.reference(against)
    diff_col = f"d{metric_label(ndcg)} vs {ref} [95%]"
    summary[diff_col] = [_interval(diffs.get(str(m)), ref == m) for m in summary.index]
    if "mae" in summary.columns and "predict_seconds" in summary.columns:
        summary.loc[summary["mae"].isna(), "predict_seconds"] = float("nan")  # nothing timed
    metrics = ["test_users", "hits", "cold_share",
               *(m.replace("@10", f"@{n}") for m in EVAL_METRICS)]
    metrics.insert(metrics.index(ndcg) + 1, diff_col)
    # no ratings to predict (implicit data, or only ranking models): no MAE / RMSE columns
    metrics = [m for m in metrics if m in summary.columns and summary[m].notna().any()]
    if "mae" not in metrics:  # and no prediction time to report
        metrics = [m for m in metrics if m != "predict_seconds"]
    caption = None
    if "mae" in metrics and summary["mae"].isna().any():
        caption = "-: ranking models predict scores, not ratings (no MAE / RMSE)"
    what = (f"mean over {len(fold_names)} folds" if len(fold_names) > 1
            else f"fold {fold_names[0]}")
    labels = {"test_users": "users", "hits": "hits", "cold_share": "cold", diff_col: diff_col}
    note = (f"users, hits (users with a relevant item in the top {n}): summed over the folds; "
            "cold: share of test users with no training interaction")
    console.print(metric_table(summary, metrics, title=f"{ds.name}, {what}", console=console,
                               labels=labels))
    for line in (caption, note, result.protocol):  # below the table, at full width
        if line:
            console.print(line, highlight=False, markup=False)
    _print_slices(result, against, ref, ds.name, what)
    for name, d in diffs.items():
        if d["indistinguishable"]:
            console.print(f"{name} is indistinguishable from {d['against']} "
                          f"({ndcg.upper()} difference [{d['low']:.4f}, {d['high']:.4f}] "
                          "includes 0)", highlight=False, markup=False)


def _print_slices(result: Any, against: str | None, ref: str | None, dataset: str,
                  what: str) -> None:
    """The slice table below the main one (folds of the protocols for new items)."""
    from synerec.cli._tables import metric_label, slice_table

    slices = result.slice_summary()
    if not any(slices.values()):
        return
    n = result.n
    diffs = result.slice_differences(against)
    cells = {m: {name: _interval(diffs.get(m, {}).get(name), m == ref) for name in per}
             for m, per in slices.items()}
    header = f"d{metric_label(f'ndcg@{n}')} vs {ref} [95%]"
    shown = {m: {name: {k: v for k, v in entry.items() if k != "pairs"}
                 for name, entry in per.items()} for m, per in slices.items()}
    console.print(slice_table(shown, title=f"{dataset}, {what}: slices", intervals=cells,
                              interval_header=header, console=console))
    console.print(f"users: test users with a relevant item in the slice; hits: those with one "
                  f"in the top {n}; cold-shelf: ranked among the cold items only; new-users: "
                  "the model's list for users without training data", highlight=False,
                  markup=False)


def _interval(d: dict[str, Any] | None, reference: bool) -> str:
    """A difference cell: ``+0.0123 [-0.0040, +0.0301]``, ``ref.`` for the reference model."""
    if reference:
        return "ref."
    if d is None or d["mean"] is None:
        return "-"
    return f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


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
    engine: Annotated[str, typer.Option(
        "--engine", help="local, or ray: the hybrid's retrievers fitted in parallel Ray "
        "tasks (the same model as local).")] = "local",
    address: Annotated[str | None, typer.Option(
        "--address", help="Ray cluster with --engine ray: auto or ray://HOST:PORT (default: "
        "a local one).")] = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Print what fitting the hybrid would cost (time and memory per "
        "stage, the switches for the data's size) and exit without fitting.")] = False,
) -> None:
    """Fit a model on a whole data set and save it (.npz + JSON, no pickle).

    Without --model this is the best-ranking model for the data (the hybrid, or the best single
    retriever on data too small for its validation part), so `recommend`, `serve` and
    `batch-recommend` rank with it; fit user-cf or item-cf for the paper's rating predictions.
    `synerec models` lists each model with what it is for and its measured figures.
    """
    from synerec.cli._options import model_config
    from synerec.models import choose_default_model, create_model
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be local or ray, not {engine!r}")
    if address is not None and engine != "ray":
        raise ConfigError("--address needs --engine ray")
    ds = data.load(seed)
    print_profile_warnings(ds)
    why = ""
    base: dict[str, Any] = {}
    if model == "auto":
        choice = choose_default_model(ds)
        model, base, why = choice.name, dict(choice.config), f" (auto: {choice.reason})"
    config = model_config(model, k=k, similarity=similarity, max_neighbors=max_neighbors,
                          factors=factors, epochs=epochs, params=param, seed=seed)
    if estimate:
        if model != "hybrid":
            raise ConfigError(f"--estimate plans the hybrid's fit; {model} has no plan")
        from synerec.hybrid import HybridRanker

        plan = HybridRanker(**{**base, **config}).plan(ds)
        typer.echo("\n".join([*plan.lines(), *plan.switches]))
        plan.check()
        return
    est = create_model(model, **{**base, **config})
    if engine == "ray":
        from synerec.distributed import parallel_fit

        est = parallel_fit(est, ds, address=address)
    else:
        est = est.fit(ds)
    path = est.save(out)
    feedback = "implicit feedback" if ds.implicit else "ratings"
    err_console.print(f"saved {model}{why} fitted on {ds.name} ({ds.n_users} users, "
                      f"{ds.n_items} items, {ds.n_interactions} interactions, {feedback}) to "
                      f"{path}", highlight=False, soft_wrap=True)


@app.command()
@data_options(default="demo-shop")
def tune(
    data: DataOptions,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="Registered model name [default: the default ranking model, "
        "see `synerec models`].")] = None,
    metric: Annotated[str, typer.Option(help="ndcg@10, precision@N, recall@N, map@N, mrr "
                                             "(maximised), rmse or mae (minimised); with "
                                             "--folds global-temporal or cold-items also a "
                                             "slice's metric, e.g. cold-items:recall@20.")]
    = "ndcg@10",
    trials: Annotated[int, typer.Option(help="Optuna trials.")] = 30,
    folds: Annotated[str, typer.Option(help="Which training data to tune on: auto (the first "
                                            "official fold, else temporal, else holdout), "
                                            "official, temporal, holdout, last-1, "
                                            "leave-one-out, global-temporal (with --cutoff), "
                                            "cold-items, or none (the whole data set, no "
                                            "test measurement).")] = "auto",
    cutoff: CutoffOpt = None,
    cold_share: ColdShareOpt = None,
    validation: Annotated[float, typer.Option(help="Share of each user's training "
                                                   "interactions held out for validation "
                                                   "(folds without their own validation "
                                                   "part).")]
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
    interactions where there are timestamps, else a seeded random share); the folds of
    leave-one-out and of the protocols for new items bring their own (each user's item before
    the last; the cold-item split's validation half; the training part cut again in time).
    The test fold is measured once, after the search, with the chosen values (per slice on
    the new-item folds).
    """
    from synerec.cli._options import parse_params
    from synerec.evaluation.tuning import parse_objective, parse_space
    from synerec.evaluation.tuning import tune as run_tune
    from synerec.models import DEFAULT_RANKING_MODEL

    model = model or DEFAULT_RANKING_MODEL
    _check_tuning(fmt, trials)
    check_fold_options(folds, cutoff, cold_share)
    slice_name, key, n = parse_objective(metric)
    fixed = parse_params(param)
    ranges = parse_space(space)
    ds = data.load(seed)
    train, fold = _tuning_data(ds, folds, seed, cutoff=cutoff, cold_share=cold_share)
    own = fold.validation if fold is not None else None
    objective = key if slice_name is None else f"{slice_name}:{key}"
    progress = None
    if fmt == "table":
        where = (f"the validation part {own.name}" if own is not None
                 else f"a {validation:.0%} validation split")
        err_console.print(f"tuning {model} on {train.name}: {trials} trials, {objective} on "
                          f"{where}", highlight=False)

        def progress(tr: Any) -> None:
            err_console.print(f"  trial {tr.number:3d}: {objective} {tr.value:.4f}  "
                              + ", ".join(f"{k}={_fmt_value(v)}" for k, v in tr.params.items()),
                              highlight=False)

    result = run_tune(train, model, metric=metric, n_trials=trials, space=ranges or None,
                      fixed=fixed, validation_share=validation, random_state=seed,
                      timeout=timeout, on_trial=progress, validation=own)
    report: dict[str, Any] = {"dataset": ds.name, "trained_on": train.name,
                              **result.to_dict()}
    _tuned_model(report, result, model, key, n, train, fold, out, slice_name)
    if fmt == "json":
        print_json(report)
        return
    _print_tuning(report, result, model, objective, fold)
    if out is not None:
        err_console.print(f"saved {model} with the chosen values to {report['saved']}",
                          highlight=False)


def _check_tuning(fmt: str, trials: int) -> None:
    check_format(fmt)
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")


def _tuning_data(ds: Any, folds: str, seed: int, *, cutoff: str | None = None,
                 cold_share: float | None = None) -> tuple[Any, Fold | None]:
    """The training data a search runs on, and the test fold measured after it (``None`` for
    ``--folds none``: the whole data set)."""
    from synerec.evaluation import make_folds
    choice = folds
    if choice == "auto":
        choice = ("official" if ds.splits else "temporal" if ds.timestamps is not None
                  else "holdout")
    if choice == "none":
        return ds, None
    if choice in ("official", "temporal", "holdout", "last-1", "leave-one-out",
                  "global-temporal", "cold-items"):
        fold = make_folds(ds, choice, random_state=seed, cutoff=cutoff,
                          cold_share=cold_share)[0]
        return fold.train, fold
    raise ConfigError(f"--folds must be auto, official, temporal, holdout, last-1, "
                      f"leave-one-out, global-temporal, cold-items or none, not {folds!r}")


def _tuned_model(report: dict[str, Any], result: Any, model: str, key: str, n: int, train: Any,
                 fold: Fold | None, out: Path | None, slice_name: str | None = None) -> None:
    """Refit with the chosen values when they are measured on the test fold or saved; add
    the test figures (per slice on the new-item folds) and the saved path to ``report``."""
    from synerec.algorithms.persistence import update_metadata
    from synerec.evaluation import ModelSpec, evaluate_fold
    fitted = None
    if fold is not None or out is not None:
        t0 = time.perf_counter()
        fitted = result.refit(train)
        report["refit_seconds"] = time.perf_counter() - t0
    if fold is not None:
        measured = evaluate_fold(ModelSpec(model, result.config, model), fold, n=n,
                                 relevance_threshold=result.validation["relevance_threshold"],
                                 fitted=fitted, slice_metrics=[key] if slice_name else ())
        report["test"] = {"fold": fold.name, **measured.metrics}
        value = measured.metrics.get(key)
        if measured.slices:
            report["test"]["slices"] = {name: r.to_dict() for name, r in measured.slices.items()}
            if slice_name is not None and slice_name in measured.slices:
                value = measured.slices[slice_name].metrics.get(key)
        report["test"]["objective"] = value
        result.extra["test"] = {"fold": fold.name, result.metric: value}
    if out is not None:
        assert fitted is not None
        path = fitted.save(out)
        update_metadata(path, {"tuning": {**result.metadata(), "trained_on": train.name}})
        report["saved"] = str(path)


def _print_tuning(report: dict[str, Any], result: Any, model: str, key: str,
                  fold: Fold | None) -> None:
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
        value = report["test"].get("objective")
        shown = "n/a" if value is None or value != value else f"{value:.4f}"
        console.print(f"test {key} on {fold.name if fold else ''}: {shown}", highlight=False)
        slices = report["test"].get("slices")
        if slices:
            from synerec.cli._tables import slice_table

            shown_slices = {model: {name: {k: v for k, v in e.items() if k != "pairs"}
                                    for name, e in slices.items()}}
            console.print(slice_table(shown_slices, title=f"{model} on {fold.name if fold else ''}"
                                      ": test slices", console=console))


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


answer_commands.register(app)  # recommend, predict: after tune, as the help lists them
experiment_commands.register(app)


@app.command()
@data_options(default="demo-shop")
def demo(
    data: DataOptions,
    seed: SeedOpt = 42,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("synerec-report"),
) -> None:
    """The main job: evaluate the CF models, explain one user's top-5, write a report."""
    from synerec.cli.demo import run_demo
    ds = data.load(seed)
    print_profile_warnings(ds)
    run_demo(ds, out=out, seed=seed, console=console)


#: Modules of ``synerec.cli`` that add commands through ``register(app)`` (text, llm, service,
#: distributed): each lives in its own file so the parts of the product stay apart.
COMMAND_MODULES = ("text_commands", "llm_commands", "serve_commands", "distributed_commands",
                   "encoder_commands", "replay_commands")


def _register_command_modules() -> None:
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
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False,
                          soft_wrap=True, markup=True)
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
