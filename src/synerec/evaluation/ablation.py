"""The hybrid's ablation: each retriever alone, then the hybrid with more signals, row by row.

Rows, in order (:func:`default_rows`): every retriever of the hybrid alone (with the settings
the hybrid gives it); the hybrid with the collaborative features only (``features=["cf"]``: its
collaborative retrievers and statistics); ``+ text`` (the text retrievers, embedding cosines
and category share); ``+ LLM`` (the language model's likelihood score, when an LLM is given).

Every row is fitted on the same folds and measured on the same test users, so differences are
**paired**: for each row after the first, the difference of its per-user NDCG@10 (and P@10,
R@10) from the row above is bootstrapped over the (fold, user) pairs (:func:`paired_bootstrap`,
1,000 resamples by default) into a 95% percentile interval. Coverage is a property of the whole
set of lists and gets no interval.

The hybrid's validation part mirrors the test split: carved at random for random folds
(``official``, ``holdout``, k-fold), from each user's latest interactions for ``temporal`` and
``last-1`` folds (unless the row's configuration says otherwise).

:func:`write_ablation` writes ``table.md``, ``results.json`` and ``ablation.png`` (bars of
NDCG@10, P@10, R@10 and coverage per row), the output style of the K sweep.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synerec._rng import RandomState
from synerec.data import official_splits
from synerec.data.dataset import InteractionDataset
from synerec.data.splits import Cutoff, Fold
from synerec.evaluation.runner import (
    FoldsArg,
    ModelSpec,
    _progress,
    default_relevance_threshold,
    hybrid_validation_for,
    make_folds,
    mirror_validation,
    protocol_note,
)
from synerec.evaluation.slices import (
    Slice,
    SliceResult,
    fold_slices,
    measure_slices,
    slice_depth,
    slice_metric_names,
)
from synerec.exceptions import ConfigError
from synerec.hybrid import DEFAULT_RETRIEVERS, HybridRanker
from synerec.metrics import (
    catalogue_coverage,
    ndcg_at_n,
    precision_at_n,
    recall_at_n,
    relevant_from_test,
)
from synerec.metrics.intervals import paired_bootstrap

__all__ = ["AblationResult", "AblationRow", "default_rows", "paired_bootstrap", "run_ablation",
           "write_ablation"]

log = logging.getLogger(__name__)

#: Per-user metrics of the table (with intervals), then coverage.
METRICS = ("ndcg@10", "precision@10", "recall@10")


@dataclass(frozen=True)
class AblationRow:
    """One row: a label and the model it measures."""

    label: str
    spec: ModelSpec
    kind: str = "hybrid"  # or "retriever"
    explicit_only: bool = False  # a retriever the hybrid uses on explicit ratings only


def default_rows(retrievers: Sequence[str] | None = None,
                 config: Mapping[str, Any] | None = None, *,
                 llm: str = "none") -> list[AblationRow]:
    """The ablation's rows for a hybrid with ``config`` (and its retrievers).

    Parameters
    ----------
    retrievers
        The hybrid's retrievers (default :data:`synerec.hybrid.DEFAULT_RETRIEVERS`).
    config
        Other hybrid options, shared by every hybrid row.
    llm
        ``"local"`` or ``"openai"`` adds the ``+ LLM`` row; ``"none"`` leaves it out.
    """
    config = dict(config or {})
    names = list(retrievers or config.pop("retrievers", None) or DEFAULT_RETRIEVERS)
    config["retrievers"] = names
    specs = HybridRanker.from_config(config).configured_retrievers()
    rows = [AblationRow(s.label, ModelSpec(s.model, s.params, s.label), "retriever",
                        explicit_only=s.explicit_only) for s in specs]
    cf_only = [s.label for s in specs if s.group == "cf"]
    rows.append(AblationRow("hybrid (CF features)", ModelSpec(
        "hybrid", {**config, "retrievers": cf_only, "features": ["cf"]}, "hybrid (CF)")))
    rows.append(AblationRow("+ text features", ModelSpec(
        "hybrid", {**config, "features": ["cf", "text"]}, "+ text")))
    if llm != "none":
        rows.append(AblationRow("+ LLM feature", ModelSpec(
            "hybrid", {**config, "features": ["cf", "text", "llm"], "llm": llm}, "+ LLM")))
    return rows


@dataclass
class AblationResult:
    """Per-row means, per-user values and the paired intervals.

    Attributes
    ----------
    rows
        One dict per row: ``label``, ``model``, ``config``, the metric means, ``coverage``,
        ``fit_seconds``, ``recommend_seconds`` and, after the first row, ``delta`` (per
        metric: ``mean``, ``low``, ``high`` of the difference from the row above) and
        ``extra`` (model details, e.g. the hybrid's validation statistics).
    per_user
        ``{label: {metric: array}}`` over the (fold, user) units, in one shared order.
    max_users
        The cap on test users per fold of a bounded run (``None``: every test user).
    """

    dataset: str
    folds: list[str]
    n: int
    relevance_threshold: float | None
    n_boot: int
    rows: list[dict[str, Any]]
    per_user: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    max_users: int | None = None
    #: ``{row label: {slice: {"users", "pairs", "hits", metric: mean, "delta": {...}}}}``
    #: on folds of the protocols for new items (:mod:`synerec.evaluation.slices`): counts
    #: summed over the folds, means over the (fold, user) pairs, ``delta`` the NDCG@n
    #: difference from the row above with its paired bootstrap interval. Empty otherwise.
    slices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: What the folds measure (see :func:`~synerec.evaluation.runner.protocol_note`).
    protocol: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (per-user values left out); ``slices[row][slice][metric]`` beside the
        rows."""
        return {"dataset": self.dataset, "folds": self.folds, "n": self.n,
                "relevance_threshold": self.relevance_threshold, "bootstrap": self.n_boot,
                "max_users_per_fold": self.max_users, "protocol": self.protocol,
                "rows": [_jsonable(r) for r in self.rows], "slices": _jsonable(self.slices)}

    def to_markdown(self) -> str:
        """The table: one line per row, the difference from the row above with its interval."""
        lines = [f"# Ablation on {self.dataset}", "",
                 f"Folds: {', '.join(self.folds)}; top-{self.n} lists; relevant = test "
                 + ("interactions" if self.relevance_threshold is None else
                    f"ratings >= {self.relevance_threshold:g}")
                 + f". Mean over the (fold, user) pairs; in brackets the paired bootstrap 95% "
                 f"interval ({self.n_boot} resamples) of the difference from the row above."
                 + ("" if self.max_users is None else
                    f" A seeded sample of at most {self.max_users} test users per fold."),
                 "", "| row | NDCG@10 | P@10 | R@10 | coverage | fit s |",
                 "|---|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            cells = []
            for m in METRICS:
                cell = f"{r[m]:.4f}"
                d = r.get("delta", {}).get(m)
                if d is not None:
                    cell += f" ({d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}])"
                cells.append(cell)
            lines.append(f"| {r['label']} | " + " | ".join(cells)
                         + f" | {r['coverage']:.3f} | {r['fit_seconds']:.1f} |")
        lines.append("")
        if self.slices:
            lines += self._slices_markdown()
        return "\n".join(lines)

    def _slices_markdown(self) -> list[str]:
        metrics = [k for k in next(iter(next(iter(self.slices.values())).values()))
                   if k not in ("users", "pairs", "hits", "delta")]
        lines = ["## Slices", "", f"Per slice (users with a relevant item in it; hits: those "
                 f"with one in the top {self.n}); in brackets the NDCG@{self.n} difference from "
                 "the row above on the slice's users.", "",
                 "| row | slice | users | hits | " + " | ".join(metrics) + " |",
                 "|---|---|---:|---:|" + "---:|" * len(metrics)]
        for label, per in self.slices.items():
            for name, e in per.items():
                cells = [_cell(e.get(m)) for m in metrics]
                d = e.get("delta")
                if d is not None and d["mean"] == d["mean"]:
                    cells[0] += f" ({d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}])"
                lines.append(f"| {label} | {name} | {e['users']} | {e['hits']} | "
                             + " | ".join(cells) + " |")
        lines.append("")
        return lines


def _cell(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    return v


def _official_names(data: InteractionDataset, folds: FoldsArg) -> list[str] | None:
    """The official fold names in ``folds`` (``"u1"`` or ``"u1,u3"``), else ``None``."""
    if not isinstance(folds, str) or not data.splits:
        return None
    names = [f.strip() for f in folds.split(",") if f.strip()]
    if names and all(n in data.splits for n in names):
        return names
    return None




def run_ablation(data: InteractionDataset, rows: Sequence[AblationRow],
                 folds: FoldsArg = "official", *, n: int = 10,
                 relevance_threshold: float | str | None = "auto", n_boot: int = 1000,
                 random_state: RandomState = 0, show_progress: bool = False,
                 max_users: int | None = None, cutoff: Cutoff | None = None,
                 cold_share: float | None = None) -> AblationResult:
    """Fit every row on every fold, measure the same users, and bootstrap the differences.

    Parameters
    ----------
    data
        The data set.
    rows
        :func:`default_rows`, or any rows (a row's ``spec`` is any registered model). On
        implicit data, the rows of retrievers the hybrid uses on explicit ratings only
        (``ease-all``) are left out.
    folds
        See :func:`~synerec.evaluation.make_folds`; also some of the data set's official folds
        by name (``"u1"``, ``"u1,u2"``).
    n
        List length.
    relevance_threshold
        ``"auto"``: :func:`~synerec.evaluation.default_relevance_threshold`.
    n_boot
        Bootstrap resamples per difference.
    random_state
        Seed of random folds and of the bootstrap.
    show_progress
        A progress bar over (fold, row) fits.
    max_users
        Measure a seeded sample of at most this many test users per fold (``None``: all), for
        a bounded run of a slow row (the LLM feature).
    cutoff, cold_share
        Of the ``global-temporal`` and ``cold-items`` folds (see
        :func:`~synerec.evaluation.make_folds`); their folds are also measured per slice
        (:attr:`AblationResult.slices`).
    """
    if data.rating_scale is None and any(r.explicit_only for r in rows):
        log.info("ablation: %s left out (the hybrid uses them on explicit ratings only)",
                 ", ".join(r.label for r in rows if r.explicit_only))
        rows = [r for r in rows if not r.explicit_only]
    if not rows:
        raise ConfigError("the ablation needs at least one row")
    named = _official_names(data, folds)
    if named is not None:
        fold_list: list[Fold] = official_splits(data, named)
    else:
        fold_list = make_folds(data, folds, random_state=random_state, cutoff=cutoff,
                               cold_share=cold_share)
    if max_users is not None and max_users < 1:
        raise ConfigError(f"max_users must be at least 1, got {max_users}")
    validation = "random" if named is not None else hybrid_validation_for(folds)
    threshold = (default_relevance_threshold(data.rating_scale)
                 if relevance_threshold == "auto" else
                 (None if relevance_threshold is None else float(relevance_threshold)))
    with _progress(show_progress, len(fold_list) * len(rows),
                   f"ablation on {data.name}") as advance:
        per_user, stats, sliced = _measure(rows, fold_list, n, threshold, validation,
                                           max_users, advance)
    arrays = {label: {m: np.concatenate(v) for m, v in d.items()}
              for label, d in per_user.items()}
    return AblationResult(dataset=data.name, folds=[f.name for f in fold_list], n=n,
                          relevance_threshold=threshold, n_boot=n_boot,
                          rows=_result_rows(rows, arrays, stats, len(fold_list), n_boot),
                          per_user=arrays, max_users=max_users,
                          slices=_slice_rows(rows, sliced, n_boot),
                          protocol=None if named is not None else protocol_note(folds))


def _sampled(s: Slice, users: np.ndarray | None) -> Slice:
    """``s`` restricted to ``users`` (``None``: unchanged)."""
    if users is None:
        return s
    keep = np.isin(s.users, users)
    return Slice(s.name, s.users[keep], s.relevant[np.flatnonzero(keep)], s.source,
                 s.candidates)


def _slice_rows(rows: Sequence[AblationRow], sliced: dict[str, list[dict[str, SliceResult]]],
                n_boot: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Each row's slices over the folds, with the NDCG@n difference from the row above."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    previous: str | None = None
    for k, row in enumerate(rows):
        folds = sliced.get(row.label, [])
        names = list(dict.fromkeys(name for f in folds for name in f))
        per: dict[str, dict[str, Any]] = {}
        for name in names:
            parts = [f[name] for f in folds if name in f]
            users = sum(p.n_users for p in parts)
            entry: dict[str, Any] = {"users": users, "pairs": sum(p.n_pairs for p in parts),
                                     "hits": sum(p.n_hits for p in parts)}
            for metric in parts[0].metrics:  # the mean over the (fold, user) pairs
                entry[metric] = (float(sum(p.metrics[metric] * p.n_users for p in parts
                                           if p.n_users) / users) if users else float("nan"))
            if previous is not None:
                before = [f[name] for f in sliced[previous] if name in f]
                diff = np.concatenate([a.ndcg_per_user - b.ndcg_per_user
                                       for a, b in zip(parts, before, strict=True)])
                mean, low, high = paired_bootstrap(diff, n_boot, random_state=np.random
                                                   .default_rng([int(np.int64(k)), 13]))
                entry["delta"] = {"mean": mean, "low": low, "high": high}
            per[name] = entry
        if per:
            out[row.label] = per
        previous = row.label
    return out


def _measure(rows: Sequence[AblationRow], fold_list: list[Fold], n: int,
             threshold: float | None, validation: str | None, max_users: int | None,
             advance: Any) -> tuple[dict[str, dict[str, list[np.ndarray]]],
                                    dict[str, dict[str, Any]],
                                    dict[str, list[dict[str, SliceResult]]]]:
    """Fit every row on every fold and measure the same test users: per-user metrics, the
    rows' costs, coverage and fit details, and each fold's slices (folds with slices)."""
    sampler = np.random.default_rng(np.random.SeedSequence([17, len(fold_list)]))
    per_user: dict[str, dict[str, list[np.ndarray]]] = {
        r.label: {m: [] for m in METRICS} for r in rows}
    stats: dict[str, dict[str, Any]] = {r.label: {"fit_seconds": 0.0, "recommend_seconds": 0.0,
                                                  "coverage": [], "extra": []} for r in rows}
    sliced: dict[str, list[dict[str, SliceResult]]] = {r.label: [] for r in rows}
    names = slice_metric_names(n)
    for fold in fold_list:
        test = fold.test.matrix
        users = np.flatnonzero(np.diff(test.indptr) > 0)
        sample = None
        if max_users is not None and len(users) > max_users:
            users = sample = np.sort(sampler.choice(users, max_users, replace=False))
        slices = [s if s.source == "new-users" else _sampled(s, sample)
                  for s in fold_slices(fold, threshold)]
        new = next((s for s in slices if s.source == "new-users"), None)
        if new is not None and max_users is not None and new.n_users > max_users:
            slices = [_sampled(s, np.sort(sampler.choice(new.users, max_users, replace=False)))
                      if s is new else s for s in slices]
        depth = slice_depth(n, names) if slices else n
        relevant = relevant_from_test(test[users], threshold)
        for row in rows:
            model = mirror_validation(ModelSpec(row.spec.name, row.spec.config, row.label),
                                      validation).build()
            t0 = time.perf_counter()
            model.fit(fold.train)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            deep, _ = model.recommend_indices(users, depth, exclude_seen=True)
            rec_s = time.perf_counter() - t0
            rec = deep[:, :n]
            if slices:
                sliced[row.label].append(measure_slices(model, slices, n, metrics=names,
                                                        lists=(users, deep)))
            pu = per_user[row.label]
            pu["ndcg@10"].append(ndcg_at_n(rec, relevant, n))
            pu["precision@10"].append(precision_at_n(rec, relevant, n))
            pu["recall@10"].append(recall_at_n(rec, relevant, n))
            st = stats[row.label]
            st["fit_seconds"] += fit_s
            st["recommend_seconds"] += rec_s
            st["coverage"].append(catalogue_coverage(rec, fold.train.n_items))
            st["extra"].append(_details(model))
            log.info("%s on %s: NDCG@%d %.4f, fit %.1f s", row.label, fold.name, n,
                     float(np.nanmean(pu["ndcg@10"][-1])), fit_s)
            advance(f"{row.label} on {fold.name}")
    return per_user, stats, sliced


def _result_rows(rows: Sequence[AblationRow], arrays: dict[str, dict[str, np.ndarray]],
                 stats: dict[str, dict[str, Any]], n_folds: int,
                 n_boot: int) -> list[dict[str, Any]]:
    """One entry per row: means, costs, and the bootstrapped difference from the row above."""
    out_rows: list[dict[str, Any]] = []
    previous: str | None = None
    for k, row in enumerate(rows):
        a = arrays[row.label]
        st = stats[row.label]
        entry: dict[str, Any] = {"label": row.label, "model": row.spec.name,
                                 "config": dict(row.spec.config), "kind": row.kind}
        for m in METRICS:
            entry[m] = float(np.nanmean(a[m]))
        entry["coverage"] = float(np.mean(st["coverage"]))
        entry["fit_seconds"] = st["fit_seconds"] / n_folds
        entry["recommend_seconds"] = st["recommend_seconds"] / n_folds
        entry["extra"] = st["extra"]
        if previous is not None:
            entry["delta"] = {}
            entry["compared_with"] = previous
            for m in METRICS:
                mean, low, high = paired_bootstrap(a[m] - arrays[previous][m], n_boot,
                                                   random_state=np.random.default_rng(
                                                       [int(np.int64(k)), 12]))
                entry["delta"][m] = {"mean": mean, "low": low, "high": high}
        out_rows.append(entry)
        previous = row.label
    return out_rows


def _details(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("validation_", "ranker_kind_", "retriever_names_", "feature_groups_",
                "llm_seconds_per_user_", "fit_seconds_"):
        if key in vars(model):
            value = vars(model)[key]
            out[key.rstrip("_")] = list(value) if isinstance(value, tuple) else value
    return out


def plot_ablation(result: AblationResult, path: str | Path) -> Path:
    """Grouped bars of NDCG@10, P@10, R@10 and coverage per row (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [*METRICS, "coverage"]
    labels = [r["label"] for r in result.rows]
    x = np.arange(len(metrics))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6.4, 1.2 * len(labels) + 3), 4.2), dpi=120)
    for k, r in enumerate(result.rows):
        ax.bar(x + (k - (len(labels) - 1) / 2) * width, [r[m] for m in metrics], width,
               label=r["label"])
    ax.set_xticks(x, ["NDCG@10", "P@10", "R@10", "coverage"])
    ax.set_ylabel("value (higher is better)")
    ax.set_title(f"Ablation on {result.dataset} ({', '.join(result.folds)})")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_ablation(result: AblationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``table.md`` and ``ablation.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "table": out / "table.md",
             "plot": out / "ablation.png"}
    paths["json"].write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    paths["table"].write_text(result.to_markdown())
    plot_ablation(result, paths["plot"])
    return paths
