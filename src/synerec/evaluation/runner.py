"""The experiment runner: fit models on each fold's training part, measure them on its test part."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec._rng import RandomState
from synerec.algorithms.positives import default_positive_threshold
from synerec.data.dataset import InteractionDataset
from synerec.data.profiling import cold_share
from synerec.data.splits import (
    Cutoff,
    Fold,
    cold_item_split,
    global_temporal_split,
    holdout_split,
    kfold_split,
    leave_one_out_split,
    official_splits,
    parse_cutoff,
    temporal_split,
)
from synerec.evaluation._memory import PeakMemory
from synerec.evaluation.slices import (
    Slice,
    SliceResult,
    fold_slices,
    measure_slices,
    slice_depth,
    slice_metric_names,
)
from synerec.exceptions import ConfigError
from synerec.metrics import (
    catalogue_coverage,
    category_coverage,
    category_matrix,
    item_popularity,
    mae,
    ndcg_at_n,
    novelty,
    precision_at_n,
    ranking_metrics,
    relevant_from_test,
    rmse,
)
from synerec.metrics.intervals import paired_bootstrap
from synerec.models import create_model, get_model_class

__all__ = [
    "EvaluationResult",
    "FoldResult",
    "ModelSpec",
    "default_relevance_threshold",
    "evaluate",
    "hybrid_validation_for",
    "make_folds",
    "mirror_validation",
    "protocol_note",
]

log = logging.getLogger(__name__)

FoldsArg = str | int | Sequence[Fold]

#: The folds arguments of the protocols for new items and of the next-item protocol.
NEW_ITEM_FOLDS = ("global-temporal", "cold-items")
FOLD_CHOICES = ("official", "holdout", "temporal", "last-1", "global-temporal", "cold-items",
                "leave-one-out")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model name, its configuration, and the label results are reported under."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def display(self) -> str:
        """The label, or the name (with k when set)."""
        if self.label:
            return self.label
        return self.name

    def build(self) -> Any:
        """A fresh, unfitted model."""
        return create_model(self.name, **dict(self.config))


@dataclass
class FoldResult:
    """Measurements of one model on one fold."""

    model: str
    fold: str
    config: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    predict_seconds: float
    recommend_seconds: float
    peak_memory_mb: float
    n_test_ratings: int
    n_test_users: int
    #: Test users with at least one relevant item in their top ``n``.
    n_hits: int = 0
    #: Share of the fold's test users with no training interaction.
    cold_share: float = float("nan")
    #: NDCG@n of each test user (NaN where the user has no relevant item), in the fold's user
    #: order: the same users for every model of a fold, so differences pair.
    ndcg_per_user: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: The fold's slices (:mod:`synerec.evaluation.slices`), empty for a fold without them.
    slices: dict[str, SliceResult] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (without the per-user figures)."""
        out = {k: _json_float(v) if k == "cold_share" else v for k, v in vars(self).items()
               if k not in ("ndcg_per_user", "slices")}
        out["metrics"] = dict(self.metrics)
        out["config"] = dict(self.config)
        if self.slices:
            out["slices"] = {name: r.to_dict() for name, r in self.slices.items()}
        return out


#: Resamples of the paired bootstrap of :meth:`EvaluationResult.differences`.
N_BOOT = 1000


@dataclass
class EvaluationResult:
    """All fold results, with a per-model mean and standard deviation over folds."""

    folds: list[FoldResult]
    n: int
    relevance_threshold: float | None
    dataset: str
    #: What the folds measure, when a reader must know (leave-one-out: "full ranking, no
    #: sampled negatives"); see :func:`protocol_note`.
    protocol: str | None = None

    def frame(self) -> pd.DataFrame:
        """One row per (model, fold): metrics and costs."""
        rows = []
        for r in self.folds:
            row = {"model": r.model, "fold": r.fold, **r.metrics,
                   "fit_seconds": r.fit_seconds, "predict_seconds": r.predict_seconds,
                   "recommend_seconds": r.recommend_seconds,
                   "peak_memory_mb": r.peak_memory_mb, "test_users": r.n_test_users,
                   "hits": r.n_hits, "cold_share": r.cold_share}
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation over folds per model (columns ``metric`` and
        ``metric_std``), models in the order they were run."""
        df = self.frame()
        if df.empty:
            return df
        order = list(dict.fromkeys(df["model"]))
        num = df.drop(columns=["fold"])
        mean = num.groupby("model", sort=False).mean()
        std = num.groupby("model", sort=False).std(ddof=0).add_suffix("_std")
        out = pd.concat([mean, std], axis=1).loc[order]
        for col in ("test_users", "hits"):  # counts: summed over the folds, no spread
            if col in df.columns:
                out[col] = df.groupby("model", sort=False)[col].sum().loc[order]
            out = out.drop(columns=[f"{col}_std"], errors="ignore")
        return out.drop(columns=["cold_share_std"], errors="ignore")

    @property
    def models(self) -> list[str]:
        """The models' labels, in the order they were run."""
        return list(dict.fromkeys(r.model for r in self.folds))

    def reference(self, against: str | None = None) -> str | None:
        """The model differences are measured against: ``against`` (which must be one of
        :attr:`models`), else ``popularity`` when it was run, else the first model."""
        models = self.models
        if against is not None:
            if against not in models:
                raise ConfigError(f"--against {against!r} is not among the models evaluated "
                                  f"({', '.join(models)})")
            return against
        if not models:
            return None
        return "popularity" if "popularity" in models else models[0]

    def differences(self, against: str | None = None, *, n_boot: int = N_BOOT,
                    random_state: RandomState = 0) -> dict[str, dict[str, Any]]:
        """Each other model's NDCG@n difference from the reference model: the mean over the
        (fold, test user) pairs and its paired bootstrap 95% interval.

        Parameters
        ----------
        against
            The reference model (see :meth:`reference`).
        n_boot
            Bootstrap resamples.
        random_state
            Seed of the bootstrap.

        Returns
        -------
        dict
            ``{model: {"against", "mean", "low", "high", "indistinguishable"}}`` for every model
            but the reference; ``indistinguishable`` is true when the interval includes 0.
        """
        ref = self.reference(against)
        if ref is None:
            return {}
        per = {(r.model, r.fold): r.ndcg_per_user for r in self.folds}
        return _paired_differences(self.models, ref, per, self._fold_names(), n_boot,
                                   random_state)

    def _fold_names(self) -> list[str]:
        return list(dict.fromkeys(r.fold for r in self.folds))

    @property
    def slice_names(self) -> list[str]:
        """The slices measured (:data:`~synerec.evaluation.slices.SLICE_NAMES` order), empty
        when no fold has slices."""
        return list(dict.fromkeys(name for r in self.folds for name in r.slices))

    def slice_summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{model: {slice: {"users", "pairs", "hits", metric: mean}}}``: counts summed over
        the folds, metrics the mean over the folds of each fold's mean over its users."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for model in self.models:
            rows = [r for r in self.folds if r.model == model]
            per: dict[str, dict[str, Any]] = {}
            for name in self.slice_names:
                parts = [r.slices[name] for r in rows if name in r.slices]
                if not parts:
                    continue
                entry: dict[str, Any] = {"users": sum(p.n_users for p in parts),
                                         "pairs": sum(p.n_pairs for p in parts),
                                         "hits": sum(p.n_hits for p in parts)}
                for metric in parts[0].metrics:
                    vals = [p.metrics.get(metric, math.nan) for p in parts]
                    finite = [v for v in vals if v == v]
                    entry[metric] = float(np.mean(finite)) if finite else math.nan
                per[name] = entry
            out[model] = per
        return out

    def slice_differences(self, against: str | None = None, *, n_boot: int = N_BOOT,
                          random_state: RandomState = 0) -> dict[str, dict[str, Any]]:
        """Per slice, :meth:`differences` on the slice's users: ``{model: {slice: {"against",
        "mean", "low", "high", "indistinguishable"}}}`` (NDCG@n, paired over the (fold, user)
        pairs of the slice)."""
        ref = self.reference(against)
        if ref is None or not self.slice_names:
            return {}
        out: dict[str, dict[str, Any]] = {m: {} for m in self.models if m != ref}
        for name in self.slice_names:
            per = {(r.model, r.fold): r.slices[name].ndcg_per_user for r in self.folds
                   if name in r.slices}
            for model, d in _paired_differences(self.models, ref, per, self._fold_names(),
                                                n_boot, random_state).items():
                out[model][name] = d
        return out

    def to_dict(self, against: str | None = None) -> dict[str, Any]:
        """JSON-ready: settings, per-fold rows, the summary (with ``test_users`` and ``hits``
        summed over the folds and the mean ``cold_share``), the slices
        (``slices[model][slice][metric]``, :meth:`slice_summary`; empty without them), and
        each model's NDCG@n difference from the reference model, overall and per slice
        (:meth:`differences`, :meth:`slice_differences`)."""
        summary = self.summary()
        return {
            "dataset": self.dataset,
            "n": self.n,
            "relevance_threshold": self.relevance_threshold,
            "protocol": self.protocol,
            "folds": [r.to_dict() for r in self.folds],
            "summary": {m: {k: _json_float(v) for k, v in row.items()}
                        for m, row in summary.to_dict(orient="index").items()},
            "slices": {m: {name: {k: _json_float(v) for k, v in entry.items()}
                           for name, entry in per.items()}
                       for m, per in self.slice_summary().items() if per},
            "against": self.reference(against),
            "differences": self.differences(against),
            "slice_differences": self.slice_differences(against),
        }

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def _paired_differences(models: Sequence[str], ref: str,
                        per: Mapping[tuple[str, str], np.ndarray | None], folds: Sequence[str],
                        n_boot: int, random_state: RandomState) -> dict[str, dict[str, Any]]:
    """Each model's paired bootstrap of its per-user values minus ``ref``'s, over the folds."""

    out: dict[str, dict[str, Any]] = {}
    for model in models:
        if model == ref:
            continue
        parts = []
        for fold in folds:
            a, b = per.get((model, fold)), per.get((ref, fold))
            if a is not None and b is not None and len(a) == len(b):
                parts.append(a - b)
        diff = np.concatenate(parts) if parts else np.empty(0)
        mean, low, high = paired_bootstrap(diff, n_boot, random_state=random_state)
        out[model] = {"against": ref, "mean": _json_float(mean), "low": _json_float(low),
                      "high": _json_float(high),
                      "indistinguishable": bool(low <= 0 <= high) if low == low else None}
    return out


def _json_float(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    return v


def default_relevance_threshold(rating_scale: tuple[float, float] | None) -> float | None:
    """"Relevant" test items: rated at or above 3/4 of the scale (4 on 1-5); any for implicit.

    The same rule decides which training ratings the ranking models learn from
    (:func:`synerec.algorithms.positives.default_positive_threshold`).
    """
    return default_positive_threshold(rating_scale)


def make_folds(data: InteractionDataset, folds: FoldsArg = "official", *,
               random_state: RandomState = 0, test_size: float = 0.2,
               temporal_fraction: float = 0.2, cutoff: Cutoff | None = None,
               cold_share: float | None = None) -> list[Fold]:
    """Turn a folds argument into train/test pairs.

    Parameters
    ----------
    data
        The data set.
    folds
        ``"official"`` (the publisher's folds, e.g. ml-100k u1..u5), an integer k (shuffled k-fold),
        ``"holdout"`` (one random split of ``test_size``), ``"temporal"`` (each user's latest
        ``temporal_fraction`` of interactions), ``"last-1"`` (each user's latest interaction),
        ``"leave-one-out"`` (the next-item protocol: each user's last item for test, the one
        before it for validation, :func:`~synerec.data.splits.leave_one_out_split`), the
        protocols for new items ``"global-temporal"`` (one cut in time at ``cutoff``,
        :func:`~synerec.data.splits.global_temporal_split`) and ``"cold-items"`` (a seeded
        ``cold_share`` of the catalogue held out, :func:`~synerec.data.splits.cold_item_split`),
        or explicit :class:`~synerec.data.splits.Fold` objects.
    random_state
        Seed for the random splits.
    test_size
        Holdout fraction.
    temporal_fraction
        Share of each user's latest interactions held out by ``"temporal"``.
    cutoff
        The cut of ``"global-temporal"`` (required there, an error elsewhere): a date, or a
        fraction of the time span; text that reads as a number is a fraction.
    cold_share
        The share of the catalogue ``"cold-items"`` holds out (default 0.1; an error
        elsewhere).
    """
    name = folds if isinstance(folds, str) else None
    if cutoff is not None and name != "global-temporal":
        raise ConfigError(f"a cutoff applies to the global-temporal folds only, not to "
                          f"{_folds_label(folds)}")
    if cold_share is not None and name != "cold-items":
        raise ConfigError(f"a cold share applies to the cold-items folds only, not to "
                          f"{_folds_label(folds)}")
    if isinstance(folds, str):
        if folds == "official":
            return official_splits(data)
        if folds == "holdout":
            return [holdout_split(data, test_size, random_state=random_state)]
        if folds == "temporal":
            return [temporal_split(data, fraction=temporal_fraction)]
        if folds == "last-1":
            return [temporal_split(data, 1)]
        if folds == "leave-one-out":
            return [leave_one_out_split(data)]
        if folds == "global-temporal":
            if cutoff is None:
                raise ConfigError("the global-temporal folds need a cutoff: a date "
                                  "(--cutoff 2011-09-01) or a fraction of the time span "
                                  "(--cutoff 0.8)")
            when = parse_cutoff(cutoff) if isinstance(cutoff, str) else cutoff
            return [global_temporal_split(data, when)]
        if folds == "cold-items":
            share = 0.1 if cold_share is None else cold_share
            return [cold_item_split(data, share, random_state=random_state)]
        if folds.isdigit():
            return kfold_split(data, int(folds), random_state=random_state)
        raise ConfigError(f"unknown folds {folds!r}; use {', '.join(FOLD_CHOICES)} or a number")
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
        return kfold_split(data, int(folds), random_state=random_state)
    out = [] if isinstance(folds, (int, np.integer)) else list(folds)  # a bool: an error
    if not out or not all(isinstance(f, Fold) for f in out):
        raise ConfigError(f"folds must be one of {', '.join(FOLD_CHOICES)}, an int or Fold "
                          "objects")
    return out


def _folds_label(folds: FoldsArg) -> str:
    if isinstance(folds, str):
        return f"--folds {folds}"
    if isinstance(folds, (int, np.integer)):
        return f"--folds {folds}"
    return "explicit folds"


def protocol_note(folds: FoldsArg) -> str | None:
    """The line a report prints about what a folds argument measures (``None``: nothing to
    say beyond the fold names)."""
    if folds == "leave-one-out":
        return ("leave-one-out: each user's last item is the test target (the one before it "
                "validation); full ranking, no sampled negatives: every item ranked, the "
                "user's training items excluded")
    if folds == "global-temporal":
        return ("global-temporal: train before the cut, test after it for users with an "
                "earlier interaction; users without one reported apart (new-users); "
                "cold-items: products first seen after the cut")
    if folds == "cold-items":
        return ("cold-items: a seeded share of the catalogue held out with all its "
                "interactions (half validation, half test); cold-items ranks them among all "
                "items, cold-shelf among the held-out items only")
    return None


def hybrid_validation_for(folds: FoldsArg) -> str | None:
    """The ``validation`` split that mirrors a folds argument (``None``: leave the model's).

    The hybrid learns its ranker from a validation part of the training data; in an evaluation
    that part is carved like the test part: from each user's latest interactions for
    ``temporal``, ``last-1`` and ``leave-one-out`` folds, by one cut in time inside the
    training part for ``global-temporal`` (so that it holds products new after that cut too),
    at random for random folds (``official``, ``holdout``, k-fold, ``cold-items``). A ranker
    trained to predict each user's *next* items ranks a random test part poorly (ML-100K u1:
    NDCG@10 0.390 against 0.485, ``docs/experiments.md``).
    """
    if isinstance(folds, str):
        if folds == "global-temporal":
            return "global-temporal"
        return "temporal" if folds in ("temporal", "last-1", "leave-one-out") else "random"
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
        return "random"
    return None


def mirror_validation(spec: ModelSpec, validation: str | None) -> ModelSpec:
    """``spec`` with the hybrid's ``validation`` set to mirror the test split, unless its
    configuration sets one (other models unchanged)."""
    if spec.name != "hybrid" or validation is None or "validation" in spec.config:
        return spec
    return ModelSpec(spec.name, {**spec.config, "validation": validation}, spec.display)


def _as_specs(models: str | ModelSpec | Sequence[str | ModelSpec]) -> list[ModelSpec]:
    if isinstance(models, (str, ModelSpec)):
        models = [models]
    return [m if isinstance(m, ModelSpec) else ModelSpec(m) for m in models]


def evaluate_fold(spec: ModelSpec, fold: Fold, *, n: int = 10,
                  relevance_threshold: float | None = None,
                  item_categories: Sequence[Sequence[str]] | sp.csr_matrix | None = None,
                  n_categories: int | None = None, fitted: Any = None,
                  slices: Sequence[Slice] | None = None,
                  slice_metrics: Sequence[str] = ()) -> FoldResult:
    """Fit ``spec`` on ``fold.train``; measure rating accuracy and top-``n`` lists on ``fold.test``.

    ``fitted``: a model of ``spec`` already fitted on ``fold.train`` to measure instead (its
    ``fit_seconds`` is then reported as 0).

    Rating accuracy covers every test interaction (explicit data, and models that predict
    ratings: not the ranking-only models, whose predictions are scores). Top-N lists are built in
    batch for every user with a test interaction, excluding the user's training items; a test item
    is relevant when its rating is at least ``relevance_threshold`` (any test item for implicit
    data).

    A fold of a protocol for new items (with :attr:`~synerec.data.splits.Fold.cold_items`) is
    also measured on its slices (:mod:`synerec.evaluation.slices`): ``slices`` are
    :func:`~synerec.evaluation.slices.fold_slices` of the fold when already computed (they are
    computed here otherwise), ``slice_metrics`` metrics added to the slices' own. The test
    users' lists are ranked once, at the largest cutoff, and cut.
    """
    train, test = fold.train, fold.test
    if slices is None:
        slices = fold_slices(fold, relevance_threshold)
    metric_names = slice_metric_names(n, slice_metrics) if slices else []
    depth = slice_depth(n, metric_names) if slices else n
    model = spec.build() if fitted is None else fitted
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        if fitted is None:
            model.fit(train)
        fit_s = time.perf_counter() - t0 if fitted is None else 0.0
        metrics: dict[str, float] = {}
        t0 = time.perf_counter()
        # ranking-only models (ease, als, bpr, rp3beta) predict scores, not ratings: no MAE/RMSE
        if not test.implicit and test.n_interactions and model.predicts_ratings:
            pred = model.predict_indices(test.user_index, test.item_index)
            metrics["mae"] = mae(test.values, pred)
            metrics["rmse"] = rmse(test.values, pred)
        predict_s = time.perf_counter() - t0
        test_matrix = test.matrix
        users = np.flatnonzero(np.diff(test_matrix.indptr) > 0)
        t0 = time.perf_counter()
        deep, _ = model.recommend_indices(users, depth, exclude_seen=True)
        recommend_s = time.perf_counter() - t0
        measured = (measure_slices(model, slices, n, metrics=metric_names,
                                   lists=(users, deep)) if slices else {})
    rec = deep[:, :n]
    relevant = relevant_from_test(test_matrix[users], relevance_threshold)
    ranks = ranking_metrics(rec, relevant, n)
    per_user_ndcg = np.asarray(ndcg_at_n(rec, relevant, n), dtype=np.float64)
    hits = int(np.count_nonzero(np.nan_to_num(
        np.asarray(precision_at_n(rec, relevant, n), dtype=np.float64)) > 0))
    metrics.update({f"{k}@{n}" if k not in ("mrr",) else k: v for k, v in ranks.items()})
    metrics["coverage"] = catalogue_coverage(rec, train.n_items)
    has_categories = (item_categories.nnz > 0 if isinstance(item_categories, sp.csr_matrix)
                      else item_categories is not None and any(item_categories))
    if item_categories is not None and has_categories:
        metrics["category_coverage"] = category_coverage(rec, item_categories, n_categories)
    # Add-one smoothing keeps novelty finite when a model ranks cold (text-only) items.
    metrics["novelty"] = novelty(rec, item_popularity(train.matrix) + 1, train.n_users + 1)
    return FoldResult(
        model=spec.display, fold=fold.name, config=dict(spec.config), metrics=metrics,
        fit_seconds=fit_s, predict_seconds=predict_s, recommend_seconds=recommend_s,
        peak_memory_mb=mem.peak_mb, n_test_ratings=test.n_interactions,
        n_test_users=len(users), n_hits=hits, cold_share=cold_share(train, test),
        ndcg_per_user=per_user_ndcg, slices=measured,
    )


def evaluate(
    models: str | ModelSpec | Sequence[str | ModelSpec],
    data: InteractionDataset,
    folds: FoldsArg = "official",
    *,
    n: int = 10,
    relevance_threshold: float | str | None = "auto",
    random_state: RandomState = 0,
    show_progress: bool = False,
    on_result: Callable[[FoldResult], None] | None = None,
    cutoff: Cutoff | None = None,
    cold_share: float | None = None,
) -> EvaluationResult:
    """Evaluate models on the folds of a data set.

    Parameters
    ----------
    models
        Registered model names or :class:`ModelSpec` objects (name + config).
    data
        The data set.
    folds
        See :func:`make_folds`.
    n
        Length of the top-N lists.
    relevance_threshold
        Rating at or above which a test item is relevant; ``"auto"``: see
        :func:`default_relevance_threshold`.
    random_state
        Seed for random splits.
    show_progress
        A progress bar over (fold, model) runs.
    on_result
        Called with each :class:`FoldResult` as soon as it is measured.
    cutoff, cold_share
        Of the ``global-temporal`` and ``cold-items`` folds (see :func:`make_folds`).

    Notes
    -----
    A ``hybrid`` whose configuration does not set ``validation`` gets the split that mirrors
    the folds (:func:`hybrid_validation_for`). Folds of the protocols for new items are also
    measured per slice (:mod:`synerec.evaluation.slices`), the slices computed once per fold.

    Returns
    -------
    EvaluationResult
    """
    specs = _as_specs(models)
    for spec in specs:  # fail fast on unknown names and options, before any fitting
        get_model_class(spec.name)
        spec.build()
    validation = hybrid_validation_for(folds)
    specs = [mirror_validation(spec, validation) for spec in specs]
    fold_list = make_folds(data, folds, random_state=random_state, cutoff=cutoff,
                           cold_share=cold_share)
    if relevance_threshold == "auto":
        threshold = default_relevance_threshold(data.rating_scale)
    else:
        threshold = None if relevance_threshold is None else float(relevance_threshold)
    names = data.item_categories()
    cats: sp.csr_matrix | None = None
    n_categories = None
    if any(names):  # built once for every fold and model
        cats, n_categories = category_matrix(names, None)
    results: list[FoldResult] = []
    total = len(fold_list) * len(specs)
    with _progress(show_progress, total, f"evaluating on {data.name}") as advance:
        for fold in fold_list:
            slices = fold_slices(fold, threshold)
            for spec in specs:
                r = evaluate_fold(spec, fold, n=n, relevance_threshold=threshold,
                                  item_categories=cats, n_categories=n_categories,
                                  slices=slices)
                log.info("%s %s: %s", r.model, r.fold,
                         ", ".join(f"{k}={v:.4f}" for k, v in r.metrics.items()))
                results.append(r)
                if on_result is not None:
                    on_result(r)
                advance(f"{spec.display} on {fold.name}")
    return EvaluationResult(results, n, threshold, data.name, protocol_note(folds))


class _progress:
    """A Rich progress bar when asked for, else a no-op; yields an ``advance(label)`` callable."""

    def __init__(self, show: bool, total: int, title: str) -> None:
        self.show, self.total, self.title = show, total, title
        self._bar: Any = None

    def __enter__(self) -> Callable[[str], None]:
        if not self.show:
            return lambda label: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(self.title, total=self.total)

        def advance(label: str) -> None:
            self._bar.update(task, advance=1, description=f"{self.title}: {label}")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
