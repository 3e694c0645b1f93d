"""``synerec demo``: the main job, end to end on one data set."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from synerec._markdown import md_table
from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ExplainsList
from synerec.cli._tables import metric_table
from synerec.data.dataset import InteractionDataset
from synerec.data.splits import Fold, holdout_split, official_splits
from synerec.evaluation import ModelSpec, evaluate
from synerec.llm import Explainer
from synerec.models import choose_default_model, create_model, list_models

__all__ = ["DEMO_MODELS", "run_demo"]

log = logging.getLogger(__name__)

#: Models the demo compares, in report order (those not registered are skipped); the model
#: whose recommendations are shown and explained is added when it is not among them.
DEMO_MODELS = ("popularity", "baseline", "user-cf", "item-cf", "mf")
#: The model whose recommendations are shown and explained: ``"auto"`` is
#: :func:`synerec.models.choose_default_model` (the hybrid when the data has enough
#: interactions for its validation part, else the best single retriever).
EXPLAINED_MODEL = "auto"
#: The built-in data set that ``synerec serve --demo`` serves (the console hint is about it).
DEMO_SHOP = "demo-shop"

METRICS = ("mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage", "category_coverage",
           "fit_seconds")


def _demo_fold(ds: InteractionDataset, seed: int) -> Fold:
    if ds.splits:
        return official_splits(ds)[0]
    return holdout_split(ds, 0.2, per_user=True, random_state=seed)


def run_demo(ds: InteractionDataset, *, out: Path, seed: int = 42,
             console: Console | None = None) -> dict[str, Any]:
    """Fit and evaluate the CF models on ``ds``, show one user's top-5 with reasons, write a report.

    Returns
    -------
    dict
        ``summary`` (DataFrame of metrics per model), ``user``, ``recommendations`` and the
        ``report`` path.
    """
    console = console or Console()
    summary = ds.summary()
    console.print(f"[bold]{ds.name}[/bold]: {summary['users']:,} users, {summary['items']:,} "
                  f"items, {summary['interactions']:,} interactions ({summary['feedback']}, "
                  f"density {summary['density']:.4f}, {summary['categories']} categories)")
    fold = _demo_fold(ds, seed)
    available = set(list_models())
    if EXPLAINED_MODEL == "auto":
        choice = choose_default_model(ds)
        explained, explained_config = choice.name, dict(choice.config)
        console.print(f"model: [bold]{explained}[/bold] ({choice.reason})")
    else:
        explained, explained_config = EXPLAINED_MODEL, {}
    specs = [ModelSpec(m, {"random_state": seed} if m == "mf" else {}, m)
             for m in DEMO_MODELS if m in available]
    if explained not in DEMO_MODELS:
        specs.append(ModelSpec(explained, explained_config, explained))
    result = evaluate(specs, ds, [fold], n=10, random_state=seed, show_progress=True)
    table_df = result.summary()
    cols = [m for m in METRICS if m in table_df.columns]
    sizes = f"{fold.train.n_interactions:,} train / {fold.test.n_interactions:,} test"
    console.print(metric_table(table_df, cols, title=f"Models on {ds.name}, split {fold.name} "
                               f"({sizes})", console=console))

    model = create_model(explained, **explained_config).fit(ds)
    counts = np.diff(model.train_.indptr)
    order = np.argsort(counts, kind="stable")
    user_index = int(order[len(order) // 2])  # a typical user: median history length
    user = ds.users.id(user_index)
    history = _history_line(ds, model.train_, user_index)
    if history:
        console.print(f"User {user} {history}")
    recs = _explained_list(ds, model, user_index)
    console.print(ranked_list(recs, title=f"Top 5 for user {user} ({counts[user_index]} "
                              f"interactions) by {explained}"))
    report = write_report(out, ds, fold, table_df[cols], user, explained, recs)
    console.print(f"report written to {report}")
    hint = console_hint() if ds.name == DEMO_SHOP else None  # the hint serves the demo shop
    if hint:
        console.print(hint)
    return {"summary": table_df, "user": user, "recommendations": recs, "report": report}


def _explained_list(ds: InteractionDataset, model: Recommender,
                    user_index: int) -> list[dict[str, Any]]:
    """The user's top 5 with titles and the grounded explanation of each (template sentences
    from the model's own evidence: no LLM needed; the hybrid names the signals that put each
    item on the list)."""
    user = ds.users.id(user_index)
    ids, scores = model.recommend([user], 5)
    assert ds.item_info is not None
    info = ds.item_info
    explainer = Explainer(model, domain="products" if ds.name == "demo-shop" else "items").fit(ds)
    own: dict[Any, Any] = {}  # a model that explains itself: its list in one pass
    if isinstance(model, ExplainsList):
        listed = [i for i in ids[0] if i is not None]
        own = dict(zip(listed, model.explain_list(user_index, model.items_.indices(listed)),
                       strict=True))
    recs = []
    for rank, (item, score) in enumerate(zip(ids[0], scores[0], strict=True), start=1):
        if item is None:
            continue
        if item in own:
            why = own[item].text
            cited = [str(model.items_.id(j)) for _, j in own[item].cited]
        else:
            explanation = explainer.explain(user, item)
            why, cited = explanation.text, [str(c) for c in explanation.cited_items]
        title = str(info.loc[item, "title"]) if "title" in info else ""
        category = str(info.loc[item, "category"]) if "category" in info else ""
        department = str(info.loc[item, "department"]) if "department" in info else ""
        recs.append({"rank": rank, "item_id": item, "title": title, "category": category,
                     "department": department, "score": float(score),
                     "why": why, "cited": cited})
    return recs


def _history_line(ds: InteractionDataset, X: Any, u: int, top: int = 4) -> str:
    """``"rated 34 items: Audio 16 (Headphones 9, Bluetooth Speakers 7), ..."``: what the
    user's list rests on, by department when the catalogue has them, else by category."""
    info = ds.item_info
    if info is None or "category" not in info.columns:
        return ""
    cats = ds.item_categories()
    depts = info["department"].astype(str).tolist() if "department" in info.columns else None
    rated = X.indices[X.indptr[u]:X.indptr[u + 1]]
    counts: dict[str, int] = {}
    groups: dict[str, dict[str, int]] = {}
    for j in rated:
        for c in cats[j]:
            counts[c] = counts.get(c, 0) + 1
            if depts is not None:
                g = groups.setdefault(depts[j], {})
                g[c] = g.get(c, 0) + 1
    if not counts:
        return ""
    verb = "rated" if ds.rating_scale is not None else "chose"

    def listed(tally: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))

    if depts is not None:
        ranked = sorted(groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        parts = [f"{d} {sum(g.values())} ("
                 + ", ".join(f"{c} {n}" for c, n in listed(g)) + ")" for d, g in ranked[:top]]
        rest = ranked[top:]
    else:
        best = listed(counts)
        parts = [f"{c} {n}" for c, n in best[:top]]
        rest = [(c, {c: n}) for c, n in best[top:]]
    if rest:
        kind = ("department" if depts is not None else "categor") + (
            ("s" if depts is not None else "ies") if len(rest) != 1 else
            ("" if depts is not None else "y"))
        parts.append(f"{sum(sum(g.values()) for _, g in rest)} in {len(rest)} more {kind}")
    noun = "item" if len(rated) == 1 else "items"
    return f"{verb} {len(rated)} {noun}: " + ", ".join(parts)


def ranked_list(recs: list[dict[str, Any]], title: str) -> RenderableType:
    """A top-N list that reads at 80 columns: one block per item (title; category, id and
    score; the explanation), wrapped at word boundaries, never cut."""
    grid = Table.grid(padding=(0, 1))
    grid.title = title
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for r in recs:
        body = Text()
        body.append(r["title"] or str(r["item_id"]), style="bold")
        where = ", ".join(c for c in r["category"].split("|") if c) \
            + (f" ({r['department']})" if r.get("department") else "")
        meta = [x for x in (where, str(r["item_id"]), f"score {r['score']:.3f}") if x]
        body.append("\n" + " · ".join(meta), style="dim")
        body.append("\n" + r["why"])
        grid.add_row(f"{r['rank']}.", body)
    return grid


def console_hint() -> str | None:
    """How to open the web console on the demo shop, when this install has that command.

    The hint names ``synerec serve --demo`` (``make console`` when the serve extra is not
    installed, as after ``make demo``); it is printed only when the ``serve`` command exists and
    takes a ``--demo`` option, so ``make demo`` never points at a missing command.
    """
    import typer

    from synerec.cli.main import app

    group = typer.main.get_command(app)
    serve = getattr(group, "commands", {}).get("serve")
    if serve is None or not any("--demo" in getattr(p, "opts", ()) for p in serve.params):
        return None
    import importlib.util

    if importlib.util.find_spec("fastapi") is None:  # the serve extra is not installed
        return ("Open the web console on the demo shop: [bold]make console[/bold] (installs the "
                "serve extra, then runs synerec serve --demo).")
    return ("Open the web console on the demo shop: [bold]synerec serve --demo[/bold] "
            "(fits and serves the demo shop in one command).")


def write_report(out: Path, ds: InteractionDataset, fold: Fold, summary: pd.DataFrame, user: Any,
                 model_name: str, recs: list[dict[str, Any]]) -> Path:
    """Write ``report.md`` and its PNG plots into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    plots = []
    for name, metrics in (("accuracy.png", ["mae", "rmse"]),
                          ("ranking.png", ["precision@10", "recall@10", "ndcg@10"])):
        present = [m for m in metrics if m in summary.columns]
        if not present:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
        summary[present].plot.bar(ax=ax, rot=0)
        ax.set_xlabel("model")
        ax.set_ylabel("error (lower is better)" if name == "accuracy.png"
                      else "score (higher is better)")
        ax.set_title(f"{', '.join(present)} on {ds.name} ({fold.name})")
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        plots.append(name)
    lines = [f"# synerec report: {ds.name}", ""]
    s = ds.summary()
    lines += [f"{s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions; "
              f"split `{fold.name}`: {fold.train.n_interactions:,} train / "
              f"{fold.test.n_interactions:,} test.", "", "## Models", ""]
    lines += md_table(["model", *summary.columns],
                      [[model, *(f"{v:.4f}" for v in row)] for model, row in summary.iterrows()],
                      ["left"] + ["right"] * len(summary.columns))
    lines += ["", *[f"![{p}]({p})" for p in plots], "",
              f"## Top 5 for user {user} ({model_name})", ""]
    lines += md_table(["rank", "item", "title", "category", "score", "why"],
                      [[r["rank"], r["item_id"], r["title"], r["category"], f"{r['score']:.3f}",
                        r["why"]] for r in recs],
                      ["right", "left", "left", "left", "right", "left"])
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
