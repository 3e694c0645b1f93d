"""The paper's experiment (Table 2 / Figure 4): accuracy of neighbourhood models as K varies."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec._markdown import md_table
from synerec._rng import RandomState
from synerec.data.dataset import InteractionDataset
from synerec.evaluation.runner import (
    EvaluationResult,
    FoldsArg,
    ModelSpec,
    _progress,
    evaluate,
    make_folds,
)
from synerec.exceptions import SynerecError
from synerec.models import get_model_class

__all__ = ["KSweepResult", "k_sweep", "write_k_sweep"]

log = logging.getLogger(__name__)

TABLE_METRICS = ("mae", "rmse", "precision@10", "recall@10", "coverage")


@dataclass
class KSweepResult:
    """Results of a K sweep: per (model, K) summaries, and the models that could not run."""

    dataset: str
    folds: list[str]
    ks: list[int]
    models: list[str]
    rows: list[dict[str, Any]]
    unknown: dict[str, str] = field(default_factory=dict)
    n: int = 10

    def frame(self) -> pd.DataFrame:
        """One row per (model, K) with mean and std of every metric over folds."""
        return pd.DataFrame(self.rows)

    def pivot(self, metric: str) -> pd.DataFrame:
        """Rows K, columns models, cells the mean of ``metric``."""
        df = self.frame()
        if df.empty or metric not in df:
            return pd.DataFrame(index=pd.Index(self.ks, name="K"))
        table = df.pivot(index="k", columns="model", values=metric)
        cols = [m for m in self.models if m in table.columns]
        return table.reindex(index=self.ks)[cols].rename_axis("K")

    def to_markdown(self, metrics: Sequence[str] = TABLE_METRICS) -> str:
        """The table of the paper's Table 2: rows K, columns models, one block per metric."""
        lines = [f"# K sweep on {self.dataset}", "",
                 f"Folds: {', '.join(self.folds)}; mean over folds (std in the JSON). "
                 f"Top-N lists of length {self.n}.", ""]
        present = [m for m in metrics if m in self.frame().columns]
        for metric in present:
            table = self.pivot(metric)
            lines.append(f"## {metric.upper() if metric in ('mae', 'rmse') else metric}")
            lines.append("")
            lines += md_table(["K", *table.columns],
                              [[k, *("" if pd.isna(v) else f"{v:.4f}" for v in row)]
                               for k, row in table.iterrows()],
                              ["right"] * (len(table.columns) + 1))
            lines.append("")
        if self.unknown:
            lines.append("## Not run")
            lines.append("")
            for name, why in self.unknown.items():
                lines.append(f"- `{name}`: {why}")
            lines.append("")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"dataset": self.dataset, "folds": self.folds, "ks": self.ks, "n": self.n,
                "models": self.models, "unknown": self.unknown,
                "results": [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                             for k, v in r.items()} for r in self.rows]}


def k_sweep(
    data: InteractionDataset,
    models: Sequence[str],
    ks: Sequence[int] = (5, 10, 15, 20, 25, 30),
    folds: FoldsArg = "official",
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    n: int = 10,
    random_state: RandomState = 0,
    show_progress: bool = False,
) -> KSweepResult:
    """Evaluate each model at each neighbour count K on the same folds.

    Models whose configuration has no ``k`` (e.g. ``mf``) run once and are reported at every K
    as a reference line. Names that are not registered are listed in
    :attr:`KSweepResult.unknown` with the reason instead of stopping the sweep.

    Parameters
    ----------
    data
        The data set.
    models
        Registered model names.
    ks
        Neighbour counts.
    folds
        See :func:`~synerec.evaluation.make_folds`.
    config
        Extra configuration per model name (e.g. ``{"user-cf": {"similarity": "pearson"}}``).
    n
        Top-N list length.
    random_state
        Seed for random splits.
    show_progress
        One progress bar over all (model, K, fold) runs, erased when the sweep ends.
    """
    config = dict(config or {})
    fold_list = make_folds(data, folds, random_state=random_state)
    runnable, unknown = [], {}
    for name in models:
        try:
            cls = get_model_class(name)
        except SynerecError as exc:
            unknown[name] = str(exc)
            log.warning("skipping model %s: %s", name, exc)
            continue
        runnable.append((name, cls))
    rows: list[dict[str, Any]] = []
    plan = [(name, cls, ks if "k" in cls._param_names() else [None]) for name, cls in runnable]
    total = sum(len(k_list) for _, _, k_list in plan) * len(fold_list)
    # One bar for the whole sweep (not one per run, which left a stale line per run behind).
    with _progress(show_progress, total, f"K sweep on {data.name}") as advance:
        for name, _cls, k_list in plan:
            extra = dict(config.get(name, {}))
            for k in k_list:
                cfg = {**extra, **({"k": int(k)} if k is not None else {})}
                label = name if k is None else f"{name} K={k}"

                def step(r: Any, label: str = label) -> None:
                    advance(f"{label} on {r.fold}")

                res: EvaluationResult = evaluate(ModelSpec(name, cfg, name), data, fold_list,
                                                 n=n, on_result=step)
                summary = res.summary().iloc[0].to_dict()
                for kk in (ks if k is None else [k]):
                    rows.append({"model": name, "k": int(kk), "k_used": k, **summary})
    return KSweepResult(dataset=data.name, folds=[f.name for f in fold_list], ks=list(ks),
                        models=[name for name, _ in runnable], rows=rows, unknown=unknown, n=n)


def plot_metric_vs_k(result: KSweepResult, metric: str, path: str | Path) -> Path:
    """Line plot of ``metric`` against K, one line per model (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.pivot(metric)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for model in table.columns:
        fixed = all(r["k_used"] is None for r in result.rows if r["model"] == model)
        ax.plot(table.index, table[model], marker="" if fixed else "o",
                linestyle="--" if fixed else "-", label=model + (" (no K)" if fixed else ""))
    ax.set_xlabel("K (number of neighbours)")
    ax.set_ylabel(metric.upper() if metric in ("mae", "rmse") else metric)
    ax.set_title(f"{metric.upper()} vs K on {result.dataset} ({len(result.folds)} folds)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_k_sweep(result: KSweepResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``table.md`` and ``mae_vs_k.png`` (and ``rmse_vs_k.png``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "table": out / "table.md"}
    paths["json"].write_text(json.dumps(result.to_dict(), indent=2))
    paths["table"].write_text(result.to_markdown())
    if result.rows and "mae" in result.frame().columns:
        paths["mae_plot"] = plot_metric_vs_k(result, "mae", out / "mae_vs_k.png")
        paths["rmse_plot"] = plot_metric_vs_k(result, "rmse", out / "rmse_vs_k.png")
    return paths
