"""``synerec demo``: the main job, end to end on one data set."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from synerec.data.dataset import InteractionDataset
from synerec.data.splits import Fold, holdout_split, official_splits

__all__ = ["DEMO_MODELS", "run_demo"]

log = logging.getLogger(__name__)

#: Models the demo compares, in report order (those not registered are skipped); the model
#: whose recommendations are shown and explained is added when it is not among them.
DEMO_MODELS = ("popularity", "baseline", "user-cf", "item-cf", "mf")
#: The model whose recommendations are shown and explained: ``"auto"`` is
#: :func:`synerec.hybrid.default.choose_default_model` (the hybrid when the data has enough
#: interactions for its validation part, else the best single retriever).
EXPLAINED_MODEL = "auto"
METRICS = ("mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage", "category_coverage",
           "fit_seconds")
#: Short column headers for terminal tables.
LABELS = {"mae": "MAE", "rmse": "RMSE", "precision@10": "P@10", "recall@10": "R@10",
          "ndcg@10": "NDCG@10", "coverage": "cov.", "category_coverage": "cat. cov.",
          "fit_seconds": "fit s"}


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
    from synerec.algorithms import create_model, list_models
    from synerec.evaluation import ModelSpec, evaluate
    from synerec.llm import Explainer

    console = console or Console()
    summary = ds.summary()
    console.print(f"[bold]{ds.name}[/bold]: {summary['users']:,} users, {summary['items']:,} "
                  f"items, {summary['interactions']:,} interactions ({summary['feedback']}, "
                  f"density {summary['density']:.4f}, {summary['categories']} categories)")
    fold = _demo_fold(ds, seed)
    available = set(list_models())
    if EXPLAINED_MODEL == "auto":
        from synerec.hybrid.default import choose_default_model

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
    table = Table(title=f"Models on {ds.name}, split {fold.name} ({sizes})")
    table.add_column("model", style="bold")
    for c in cols:
        table.add_column(LABELS.get(c, c), justify="right")
    for model, row in table_df.iterrows():
        table.add_row(str(model), *[f"{row[c]:.4f}" for c in cols])
    console.print(table)

    model = create_model(explained, **explained_config).fit(ds)
    counts = np.diff(model.train_.indptr)
    order = np.argsort(counts, kind="stable")
    user_index = int(order[len(order) // 2])  # a typical user: median history length
    user = ds.users.id(user_index)
    ids, scores = model.recommend([user], 5)
    assert ds.item_info is not None
    info = ds.item_info
    # Grounded explanations from the model's own evidence (template sentences: no LLM needed);
    # the hybrid names the signals that put each item on the list.
    explainer = Explainer(model, domain="products" if ds.name == "demo-shop" else "items").fit(ds)
    hybrid_explain = None
    if explained == "hybrid":
        from synerec.hybrid.explain import explain_pair

        def hybrid_explain(u: Any, i: Any) -> str:
            return explain_pair(model, model.users_.index(u), model.items_.index(i)).text
    top = Table(title=f"Top 5 for user {user} ({counts[user_index]} interactions) by {explained}")
    top.add_column("rank", justify="right")
    top.add_column("item")
    top.add_column("title")
    top.add_column("category")
    top.add_column("score", justify="right")
    top.add_column("why")
    recs = []
    for rank, (item, score) in enumerate(zip(ids[0], scores[0], strict=True), start=1):
        if item is None:
            continue
        reason = (hybrid_explain(user, item) if hybrid_explain is not None
                  else explainer.explain(user, item).text)
        title = str(info.loc[item, "title"]) if "title" in info else ""
        category = str(info.loc[item, "category"]) if "category" in info else ""
        top.add_row(str(rank), str(item), title, category, f"{score:.3f}", reason)
        recs.append({"rank": rank, "item_id": item, "title": title, "category": category,
                     "score": float(score), "why": reason})
    console.print(top)
    report = write_report(out, ds, fold, table_df[cols], user, explained, recs)
    console.print(f"report written to {report}")
    return {"summary": table_df, "user": user, "recommendations": recs, "report": report}


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
    lines.append("| model | " + " | ".join(summary.columns) + " |")
    lines.append("|---|" + "---:|" * len(summary.columns))
    for model, row in summary.iterrows():
        lines.append(f"| {model} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    lines += ["", *[f"![{p}]({p})" for p in plots], "",
              f"## Top 5 for user {user} ({model_name})", "",
              "| rank | item | title | category | score | why |", "|---:|---|---|---|---:|---|"]
    for r in recs:
        lines.append(f"| {r['rank']} | {r['item_id']} | {r['title']} | {r['category']} | "
                     f"{r['score']:.3f} | {r['why']} |")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
