"""``synerec experiment ...``: the paper's K sweep and the hybrid's ablation, as tables,
JSON and charts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from synerec.cli._common import ParamOpt, SeedOpt, SimOpt
from synerec.cli._options import (
    FOLDS_HELP,
    ColdShareOpt,
    CutoffOpt,
    check_fold_options,
    parse_params,
)
from synerec.cli._tables import fitted_table, format_metric, slice_table
from synerec.cli.data_options import DataOptions, data_options
from synerec.exceptions import ConfigError, SynerecError

__all__ = ["experiment_app", "register"]

console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("synerec.cli")

experiment_app = typer.Typer(help="Experiments that reproduce the paper's tables and figures.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``experiment`` command group to the ``synerec`` app."""
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
    from synerec.evaluation.experiment import k_sweep, write_k_sweep
    from synerec.models import get_model_class
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
    folds: Annotated[str, typer.Option(help=FOLDS_HELP[:-1] + ", or official folds by name "
                                            "(u1 or u1,u2).")] = "official",
    cutoff: CutoffOpt = None,
    cold_share: ColdShareOpt = None,
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
    a paired bootstrap 95% interval over the users. The protocols for new items
    (--folds global-temporal --cutoff DATE, --folds cold-items) add a slice table.
    """
    from synerec.evaluation.ablation import default_rows, run_ablation, write_ablation

    check_fold_options(folds, cutoff, cold_share)
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
                          show_progress=True, max_users=users, cutoff=cutoff,
                          cold_share=cold_share)
    paths = write_ablation(result, out)
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
    if result.protocol:
        console.print(result.protocol, highlight=False, markup=False)
    if result.slices:
        deltas = {label: {name: _delta(e.get("delta")) for name, e in per.items()}
                  for label, per in result.slices.items()}
        shown = {label: {name: {k: v for k, v in e.items() if k not in ("pairs", "delta")}
                         for name, e in per.items()} for label, per in result.slices.items()}
        console.print(slice_table(shown, title=f"Ablation on {ds.name}: slices",
                                  intervals=deltas,
                                  interval_header=f"Δ NDCG@{n} [95% CI]",
                                  key="row / slice", console=console,
                                  caption="Δ: on the slice's users, from the row above"))
    err_console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def _delta(d: dict[str, Any] | None) -> str:
    if d is None or d["mean"] != d["mean"]:
        return ""
    return f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
