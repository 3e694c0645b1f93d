"""Hyper-parameter search with Optuna on a validation split carved out of the training data.

:func:`tune` never looks at a test fold: it splits the *training* data it is given into a fit
part and a validation part (:func:`validation_split`: each user's latest share of interactions
where the data has timestamps, else a seeded random share of each user's interactions), fits the
model on the fit part for every trial, and scores the validation part with the same runner as
``synerec evaluate`` (:func:`synerec.evaluation.evaluate_fold`). Optuna's TPE sampler, seeded,
proposes the values from the model's declared search space (:data:`SEARCH_SPACES`).

A fold of a protocol for new items or of leave-one-out carries its own validation part
(:attr:`~synerec.data.splits.Fold.validation`: the cold-item split's validation half, the
training part cut again in time, each user's item before the last); ``tune(...,
validation=fold.validation)`` chooses on it, and the objective may be a slice's metric
(``cold-items:recall@20``, :func:`parse_objective`).

Once the best values are known, :meth:`TuningResult.refit` fits the model on the *whole*
training data with them; ``synerec tune`` then measures the test fold once, for the report, and
can save that model with the search recorded in its ``model.json`` (``metadata.tuning``).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from synerec.data.dataset import InteractionDataset
from synerec.data.splits import Fold, holdout_split, temporal_split
from synerec.evaluation.runner import ModelSpec, default_relevance_threshold, evaluate_fold
from synerec.evaluation.slices import SLICE_NAMES, parse_slice_metric
from synerec.exceptions import ConfigError
from synerec.models import create_model, get_model_class

__all__ = [
    "SEARCH_SPACES",
    "Param",
    "TrialResult",
    "TuningResult",
    "parse_metric",
    "parse_objective",
    "parse_space",
    "tune",
    "validation_split",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Param:
    """One searched parameter: a float or int range (optionally on a log scale) or choices."""

    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any, name: str) -> Any:
        """Optuna's suggestion for ``name`` from this range."""
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        low, high = self._bounds()
        if self.kind == "float":
            return trial.suggest_float(name, float(low), float(high), log=self.log)
        return trial.suggest_int(name, int(low), int(high), log=self.log)

    def as_float(self) -> Param:
        """The same range over floats (``"0:1"`` reads as integers)."""
        low, high = self._bounds()
        return Param("float", float(low), float(high), self.log)

    def _bounds(self) -> tuple[float, float]:
        if self.low is None or self.high is None:
            raise ConfigError(f"a {self.kind} range needs a low and a high value")
        return self.low, self.high

    def describe(self) -> str:
        """``low..high`` (``, log``) or ``a|b|c``."""
        if self.kind == "categorical":
            return "|".join(str(c) for c in self.choices)
        return f"{self.low:g}..{self.high:g}" + (" log" if self.log else "")


def _f(low: float, high: float, log: bool = False) -> Param:
    return Param("float", low, high, log)


def _i(low: int, high: int, log: bool = False) -> Param:
    return Param("int", low, high, log)


def _c(*choices: Any) -> Param:
    return Param("categorical", choices=tuple(choices))


#: The declared search space of each model (values outside it can still be given with
#: ``space=`` / ``--space``).
SEARCH_SPACES: dict[str, dict[str, Param]] = {
    "ease": {"lambda_": _f(1.0, 10_000.0, log=True), "dropout": _f(0.0, 0.8)},
    "als": {"factors": _i(16, 256, log=True), "regularization": _f(1e-3, 1.0, log=True),
            "alpha": _f(0.1, 50.0, log=True), "epochs": _i(5, 40),
            "confidence": _c("linear", "log", "binary")},
    "bpr": {"factors": _i(16, 256, log=True), "learning_rate": _f(1e-3, 0.3, log=True),
            "regularization": _f(1e-5, 0.1, log=True), "epochs": _i(20, 300, log=True)},
    "rp3beta": {"alpha": _f(0.1, 2.0), "beta": _f(0.0, 1.0), "k": _i(10, 1000, log=True)},
    "item-cf": {"k": _i(5, 300, log=True), "shrinkage": _f(0.0, 200.0)},
    "user-cf": {"k": _i(5, 300, log=True), "shrinkage": _f(0.0, 200.0)},
    "mf": {"factors": _i(8, 200, log=True), "epochs": _i(10, 100),
           "learning_rate": _f(1e-3, 0.05, log=True), "regularization": _f(1e-3, 0.5, log=True)},
    "baseline": {"regularization_user": _f(0.1, 50.0, log=True),
                 "regularization_item": _f(0.1, 50.0, log=True)},
    "popularity": {"damping": _f(0.0, 50.0)},
    "sasrec": {"learning_rate": _f(3e-4, 1e-2, log=True), "dropout": _f(0.1, 0.6),
               "n_blocks": _i(1, 3)},
}

#: Metrics to minimise; every other metric is maximised.
_MINIMISE = {"mae", "rmse"}
_RANKING = {"precision", "recall", "ndcg", "hit_rate", "map", "mrr"}


def parse_metric(metric: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> (``"ndcg@10"``, 10); ``"mrr"`` -> (``"mrr"``, 10); ``"rmse"`` -> (.., 10).

    Raises
    ------
    ConfigError
        An unknown metric or list length.
    """
    text = metric.strip().lower()
    m = re.fullmatch(r"([a-z_]+)(?:@(\d+))?", text)
    if m is None or (m.group(1) not in _RANKING | _MINIMISE):
        known = "precision@N, recall@N, ndcg@N, hit_rate@N, map@N, mrr, mae, rmse"
        raise ConfigError(f"unknown metric {metric!r}; use one of {known}")
    name, n_text = m.group(1), m.group(2)
    n = int(n_text) if n_text else 10
    if n < 1:
        raise ConfigError(f"the list length of {metric!r} must be at least 1")
    if name in _MINIMISE or name == "mrr":
        if n_text and name != "mrr":
            raise ConfigError(f"{name} takes no list length, got {metric!r}")
        return name, n
    return f"{name}@{n}", n


def parse_objective(metric: str) -> tuple[str | None, str, int]:
    """A tuning objective: a metric (:func:`parse_metric`), or a slice's metric
    ``SLICE:METRIC`` (``cold-items:recall@20``, ``cold-shelf:ndcg@100``; slices of
    :mod:`synerec.evaluation.slices`).

    Returns
    -------
    (slice or None, metric key, list length)

    Raises
    ------
    ConfigError
        An unknown slice, or a metric a slice does not measure (MAE, RMSE).
    """
    text = metric.strip().lower()
    if ":" not in text:
        return (None, *parse_metric(text))
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in SLICE_NAMES:
        raise ConfigError(f"unknown slice {name!r} in {metric!r}; the slices are "
                          f"{', '.join(SLICE_NAMES)}")
    key, n = parse_metric(rest)
    if key in _MINIMISE:
        raise ConfigError(f"a slice is measured on ranked lists: {key} is not a slice metric "
                          f"(use e.g. {name}:recall@20)")
    parse_slice_metric(key)
    return name, key, n


def parse_space(specs: list[str] | None) -> dict[str, Param]:
    """``["lambda_=10:5000:log", "k=5:100", "confidence=log,linear"]`` -> parameter ranges.

    A range ``LOW:HIGH`` is an int range when both ends are integers, else a float range;
    ``:log`` samples it on a log scale; comma-separated values are choices.
    """
    out: dict[str, Param] = {}
    for spec in specs or []:
        if "=" not in spec:
            raise ConfigError(f"--space expects NAME=LOW:HIGH[:log] or NAME=A,B,C, got {spec!r}")
        name, body = spec.split("=", 1)
        name = name.strip().replace("-", "_")
        parts = body.split(":")
        try:
            if len(parts) in (2, 3) and (len(parts) == 2 or parts[2] == "log"):
                ints = all(re.fullmatch(r"-?\d+", p.strip()) for p in parts[:2])
                low, high = (int(parts[0]), int(parts[1])) if ints else \
                    (float(parts[0]), float(parts[1]))
                if not low < high:
                    raise ConfigError(f"--space {spec!r}: LOW must be below HIGH")
                log_scale = len(parts) == 3
                if log_scale and low <= 0:
                    raise ConfigError(f"--space {spec!r}: a log range needs LOW > 0")
                out[name] = Param("int" if ints else "float", low, high, log_scale)
            elif len(parts) == 1 and "," in body:
                out[name] = Param("categorical", choices=tuple(_json_value(v) for v in
                                                               body.split(",")))
            else:
                raise ValueError
        except ConfigError:
            raise
        except ValueError:
            raise ConfigError(f"--space expects NAME=LOW:HIGH[:log] or NAME=A,B,C, got {spec!r}"
                              ) from None
    return out


def _json_value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def validation_split(data: InteractionDataset, share: float = 0.2, *,
                     random_state: Any = 0) -> Fold:
    """Carve a validation part out of (training) data: ``Fold(fit, validation, name)``.

    Each user's latest ``share`` of interactions when the data has timestamps
    (:func:`~synerec.data.splits.temporal_split`), else a seeded random ``share`` of each user's
    interactions (:func:`~synerec.data.splits.holdout_split` with ``per_user=True``). A user with
    a single interaction keeps it in the fit part.
    """
    if not 0.0 < share < 1.0:
        raise ConfigError(f"the validation share must be between 0 and 1, got {share}")
    if data.timestamps is not None:
        fold = temporal_split(data, fraction=share)
    else:
        fold = holdout_split(data, share, per_user=True, random_state=random_state)
    return Fold(fold.train, fold.test, f"validation ({fold.name})")


@dataclass
class TrialResult:
    """One trial: the values tried, the validation score and the cost."""

    number: int
    params: dict[str, Any]
    value: float
    fit_seconds: float
    seconds: float


@dataclass
class TuningResult:
    """What :func:`tune` found.

    Attributes
    ----------
    model
        Registered model name.
    metric, direction
        The validation metric and ``"maximize"`` / ``"minimize"``.
    best_params
        The chosen values (searched ones only).
    config
        The full configuration to fit with: ``fixed`` options plus ``best_params``.
    best_value
        The validation score of ``best_params``.
    trials
        Every trial, in order.
    space
        The searched ranges (as text).
    validation
        Sizes of the fit and validation parts and how they were split.
    seed
        The seed of the sampler and of the validation split.
    """

    model: str
    metric: str
    direction: str
    best_params: dict[str, Any]
    config: dict[str, Any]
    best_value: float
    trials: list[TrialResult]
    space: dict[str, str]
    validation: dict[str, Any]
    seed: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["trials"] = [asdict(t) for t in self.trials]
        return out

    def metadata(self) -> dict[str, Any]:
        """The summary stored with a tuned model (``model.json``'s ``metadata.tuning``)."""
        return {"metric": self.metric, "direction": self.direction,
                "best_params": self.best_params, "validation_value": self.best_value,
                "n_trials": len(self.trials), "space": self.space,
                "validation": self.validation, "seed": self.seed, **self.extra}

    def build(self) -> Any:
        """An unfitted model with the chosen configuration."""
        return create_model(self.model, **self.config)

    def refit(self, data: InteractionDataset) -> Any:
        """The model with the chosen configuration fitted on ``data`` (the whole training data)."""
        return self.build().fit(data)


def _search_ranges(cls: Any, model: str, space: Mapping[str, Param] | None,
                   fixed: Mapping[str, Any]) -> dict[str, Param]:
    """The ranges searched: the model's declared ones (:data:`SEARCH_SPACES`), those of
    ``space`` instead, less the ``fixed`` options; every name checked against the model."""
    ranges = dict(SEARCH_SPACES.get(model, {}))
    fields = cls.config_class.model_fields
    for name, p in (space or {}).items():
        # "0:1" reads as integers; a float parameter gets a float range all the same
        if p.kind == "int" and name in fields and fields[name].annotation is float:
            p = p.as_float()
        ranges[name] = p
    params = set(cls._param_names())
    unknown = [name for name in (*ranges, *fixed) if name not in params]
    if unknown:
        raise ConfigError(f"model {model!r} has no option {', '.join(sorted(unknown))} (it "
                          f"takes: {', '.join(sorted(params))})")
    for name in fixed:
        ranges.pop(name, None)
    if not ranges:
        raise ConfigError(f"nothing to search for {model!r}: declare ranges with --space NAME="
                          "LOW:HIGH")
    return ranges


def _checked_search(model: str, metric: str, data: InteractionDataset
                    ) -> tuple[Any, str, int, Literal["minimize", "maximize"]]:
    """The model's class, the metric's key and list length, and the study's direction; a
    rating metric for a ranking model or for implicit data is a ConfigError."""
    cls = get_model_class(model)
    _, key, n = parse_objective(metric)
    if key in _MINIMISE and not cls.predicts_ratings:
        raise ConfigError(f"{model} ranks items and predicts no ratings; tune it on a ranking "
                          f"metric such as ndcg@10, not {key}")
    if key in _MINIMISE and data.implicit:
        raise ConfigError(f"{data.name} holds implicit feedback: {key} needs ratings")
    return cls, key, n, "minimize" if key in _MINIMISE else "maximize"


def _check_trials(n_trials: Any) -> None:
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"the number of trials must be a positive integer, got {n_trials!r}")


def _objective(model: str, ranges: Mapping[str, Param], fixed: Mapping[str, Any], fold: Fold,
               n: int, key: str, threshold: float | None, trials: list[TrialResult],
               on_trial: Callable[[TrialResult], None] | None,
               slice_name: str | None = None) -> Callable[[Any], float]:
    """Optuna's objective: fit the trial's values on the fit part, measure ``key`` (on the
    slice ``slice_name`` when given) on the validation part; each trial is appended to
    ``trials`` and given to ``on_trial``."""

    def objective(trial: Any) -> float:
        values = {name: p.suggest(trial, name) for name, p in ranges.items()}
        spec = ModelSpec(model, {**fixed, **values}, model)
        t0 = time.perf_counter()
        result = evaluate_fold(spec, fold, n=n, relevance_threshold=threshold,
                               slice_metrics=[key] if slice_name else ())
        if slice_name is None:
            value = float(result.metrics.get(key, math.nan))
        elif slice_name in result.slices:
            value = float(result.slices[slice_name].metrics.get(key, math.nan))
        else:
            raise ConfigError(f"the validation part {fold.name!r} has no {slice_name!r} slice "
                              "(slices come with --folds global-temporal or cold-items)")
        if not np.isfinite(value):
            where = key if slice_name is None else f"{slice_name}:{key}"
            raise ConfigError(f"the validation part gives no {where} (no relevant item?)")
        tr = TrialResult(trial.number, values, value, result.fit_seconds,
                         time.perf_counter() - t0)
        trials.append(tr)
        log.info("trial %d: %s -> %s %.4f", trial.number, values, key, value)
        if on_trial is not None:
            on_trial(tr)
        return value

    return objective


def _optuna() -> Any:
    """Optuna, quiet; a :class:`ConfigError` naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("synerec tune needs Optuna: pip install 'synerec[ranking]' "
                          "(or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def tune(
    data: InteractionDataset,
    model: str,
    *,
    metric: str = "ndcg@10",
    n_trials: int = 30,
    space: Mapping[str, Param] | None = None,
    fixed: Mapping[str, Any] | None = None,
    validation_share: float = 0.2,
    relevance_threshold: float | str | None = "auto",
    random_state: int = 0,
    timeout: float | None = None,
    on_trial: Callable[[TrialResult], None] | None = None,
    validation: Fold | None = None,
) -> TuningResult:
    """Search the hyper-parameters of ``model`` on a validation split of ``data``.

    Parameters
    ----------
    data
        The training data only (for example a fold's training part); the validation part is
        carved out of it by :func:`validation_split`.
    model
        Registered model name.
    metric
        ``ndcg@10`` (default), ``precision@N``, ``recall@N``, ``hit_rate@N``, ``map@N``, ``mrr``
        (maximised) or ``rmse`` / ``mae`` (minimised; rating models only); or a slice's
        ranking metric, ``SLICE:METRIC`` (``cold-items:recall@20``), when ``validation`` has
        slices.
    n_trials
        Optuna trials.
    space
        Ranges to search; default :data:`SEARCH_SPACES` of the model. Entries given here replace
        the declared ones of the same name and may add others.
    fixed
        Options set for every trial (not searched), e.g. ``{"random_state": 42}``.
    validation_share
        Share of each user's interactions held out for validation.
    relevance_threshold
        Relevant validation items: ``"auto"`` (4 on 1-5; any for implicit data), a number, or
        ``None`` (every held-out interaction).
    random_state
        Seed of the TPE sampler and of a random validation split.
    timeout
        Stop starting trials after this many seconds.
    on_trial
        Called after each trial.
    validation
        A validation fold to choose on instead of carving one out of ``data``
        (``validation_share`` is then not used): a fold's own
        :attr:`~synerec.data.splits.Fold.validation`, whose ``train`` is part of ``data``.

    Returns
    -------
    TuningResult

    Raises
    ------
    ConfigError
        Unknown model, metric or option; a model without a declared space and no ``space``;
        Optuna missing; a rating metric for a ranking-only model.
    """
    cls, key, n, direction = _checked_search(model, metric, data)
    slice_name = parse_objective(metric)[0]
    fixed = dict(fixed or {})
    ranges = _search_ranges(cls, model, space, fixed)
    _check_trials(n_trials)
    cls.from_config(fixed)  # fail fast on invalid fixed values
    optuna = _optuna()
    fold = (validation_split(data, validation_share, random_state=random_state)
            if validation is None else validation)
    threshold = (default_relevance_threshold(data.rating_scale) if relevance_threshold == "auto"
                 else None if relevance_threshold is None else float(relevance_threshold))
    trials: list[TrialResult] = []
    t_start = time.perf_counter()
    objective = _objective(model, ranges, fixed, fold, n, key, threshold, trials, on_trial,
                           slice_name)
    study = optuna.create_study(direction=direction,
                                sampler=optuna.samplers.TPESampler(seed=random_state))
    study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=())
    best_params = dict(study.best_trial.params)
    return TuningResult(
        model=model, metric=key if slice_name is None else f"{slice_name}:{key}",
        direction=direction, best_params=best_params,
        config={**fixed, **best_params}, best_value=float(study.best_value), trials=trials,
        space={name: p.describe() for name, p in ranges.items()},
        validation={"split": fold.name,
                    "share": validation_share if validation is None else None,
                    "fit_interactions": fold.train.n_interactions,
                    "validation_interactions": fold.test.n_interactions,
                    "relevance_threshold": threshold},
        seed=int(random_state), seconds=time.perf_counter() - t_start)
