"""The learned ranker: LightGBM's LambdaRank over the candidate features, grouped by user.

``objective`` may also be ``"rank_xendcg"`` (LightGBM's listwise cross-entropy) or
``"binary"`` (pointwise log-loss), for comparison; groups are kept for early stopping on
NDCG@10 either way.

A thin layer over :func:`lightgbm.train`: seeded and deterministic (``deterministic=True``,
every LightGBM seed derived from one ``random_state``, column-wise histograms), early stopping
on a seeded share of the training *users* (never pairs of one user on both sides), and the
booster kept as LightGBM's own text model (:meth:`LambdaRanker.to_text` /
:meth:`LambdaRanker.from_text`), which synerec saves beside the arrays, checksummed.

The ``lightgbm`` package is imported only here, when a ranker is trained; a trained or loaded
ranker predicts through :class:`synerec.hybrid.booster.NativeBooster` (LightGBM's C library
called directly, without the package's scikit-learn import: one path for both).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synerec.exceptions import ConfigError
from synerec.hybrid.booster import NativeBooster

__all__ = ["LambdaRanker", "RankerParams", "lightgbm"]

log = logging.getLogger(__name__)


def lightgbm() -> Any:
    """The ``lightgbm`` module, or a clear error saying how to install it."""
    try:
        import lightgbm as lgb
    except ImportError:
        raise ConfigError("the hybrid model needs LightGBM: pip install 'synerec[hybrid]' "
                          "(or pip install lightgbm)") from None
    return lgb


@dataclass(frozen=True)
class RankerParams:
    """LambdaRank settings (see :class:`synerec.hybrid.HybridConfig` for their meaning)."""

    objective: str = "lambdarank"
    n_estimators: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.7
    lambda_l2: float = 1.0
    early_stopping_rounds: int = 0
    eval_fraction: float = 0.15
    truncation_level: int = 20
    num_threads: int = 0
    random_state: int = 0


def _lgb_name(name: str) -> str:
    """A feature name LightGBM accepts (no JSON punctuation)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class LambdaRanker:
    """A trained LambdaRank booster and the feature names it reads.

    Attributes
    ----------
    feature_names
        synerec's names of the columns, in order.
    best_iteration
        Trees used when predicting.
    train_seconds
        Wall time of :meth:`train`.
    """

    def __init__(self, booster: NativeBooster, feature_names: Sequence[str], best_iteration: int,
                 train_seconds: float = 0.0, num_threads: int = 0) -> None:
        self.booster = booster
        self.feature_names = list(feature_names)
        self.best_iteration = int(best_iteration)
        self.train_seconds = float(train_seconds)
        self.num_threads = int(num_threads)

    @classmethod
    def train(cls, features: np.ndarray, labels: np.ndarray, group_sizes: np.ndarray,
              feature_names: Sequence[str], params: RankerParams,
              group_users: np.ndarray | None = None) -> LambdaRanker:
        """Train on ``features`` (rows grouped by user, ``group_sizes`` rows per user).

        Groups without any positive label carry no ranking signal and are dropped first. A
        seeded ``eval_fraction`` of the remaining groups' users (at least 2 groups on each
        side, else no early stopping) decides how many of the ``n_estimators`` trees are kept;
        ``group_users`` (the user of each group) keeps all groups of one user on one side.
        """
        lgb = lightgbm()
        start = time.perf_counter()
        sizes = np.asarray(group_sizes, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        labels = np.asarray(labels, dtype=np.int32)
        has_pos = np.add.reduceat(labels > 0, offsets[:-1]) > 0 if len(sizes) else \
            np.zeros(0, bool)
        has_pos &= sizes > 0
        keep_groups = np.flatnonzero(has_pos)
        if len(keep_groups) == 0:
            raise ValueError("no user has a relevant item among their candidates")
        rng = np.random.default_rng(params.random_state)
        n_eval = round(params.eval_fraction * len(keep_groups))
        use_eval = params.early_stopping_rounds > 0 and n_eval >= 2 \
            and len(keep_groups) - n_eval >= 2
        owners = (np.asarray(group_users)[keep_groups] if group_users is not None
                  else np.arange(len(keep_groups)))
        uniq_owners = np.unique(owners)
        n_eval_owners = round(params.eval_fraction * len(uniq_owners))
        use_eval = use_eval and n_eval_owners >= 2 and len(uniq_owners) - n_eval_owners >= 2
        held = rng.permutation(uniq_owners)[:n_eval_owners]
        is_eval = np.isin(owners, held) if use_eval else np.zeros(len(owners), bool)
        eval_groups = keep_groups[is_eval]
        train_groups = keep_groups[~is_eval]

        def take(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            idx = np.concatenate([np.arange(offsets[g], offsets[g + 1]) for g in groups])
            return features[idx], labels[idx], sizes[groups]

        names = [_lgb_name(n) for n in feature_names]
        lgb_params = _lgb_params(params, int(labels.max()) if len(labels) else 1)
        Xt, yt, gt = take(train_groups)
        ds_params = {"verbosity": -1, "max_bin": 255}
        dtrain = lgb.Dataset(Xt, label=yt, group=gt, feature_name=names, params=ds_params,
                             free_raw_data=True)
        valid_sets, callbacks = [], []
        if use_eval:
            Xe, ye, ge = take(eval_groups)
            dvalid = lgb.Dataset(Xe, label=ye, group=ge, reference=dtrain, feature_name=names,
                                 params=ds_params)
            valid_sets = [dvalid]
            callbacks = [lgb.early_stopping(params.early_stopping_rounds, verbose=False)]
        booster = lgb.train(lgb_params, dtrain, num_boost_round=params.n_estimators,
                            valid_sets=valid_sets, valid_names=["eval"] if use_eval else None,
                            callbacks=callbacks)
        best = booster.best_iteration if use_eval and booster.best_iteration > 0 \
            else booster.current_iteration()
        seconds = time.perf_counter() - start
        log.info("LambdaRank: %d trees kept of %d, %d training users (%d pairs), %d for early "
                 "stopping, %.2f s", best, booster.current_iteration(), len(train_groups),
                 len(yt), len(eval_groups), seconds)
        native = NativeBooster(booster.model_to_string(num_iteration=best))
        return cls(native, feature_names, native.current_iteration(), seconds,
                   params.num_threads)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """float64 ranking score per row (higher is better)."""
        if features.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.booster.predict(features, num_iteration=self.best_iteration,
                                               num_threads=self.num_threads), dtype=np.float64)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """``(n, n_features + 1)`` SHAP contributions per row (the last column: the bias)."""
        if features.shape[0] == 0:
            return np.empty((0, len(self.feature_names) + 1), dtype=np.float64)
        return np.asarray(self.booster.predict(features, num_iteration=self.best_iteration,
                                               pred_contrib=True,
                                               num_threads=self.num_threads), dtype=np.float64)

    def feature_importance(self) -> dict[str, float]:
        """Total gain of each feature over the kept trees."""
        gain = self.booster.feature_importance(importance_type="gain",
                                               iteration=self.best_iteration)
        return {n: float(g) for n, g in zip(self.feature_names, gain, strict=True)}

    def to_text(self) -> str:
        """LightGBM's text model with the kept trees only."""
        return str(self.booster.model_to_string(num_iteration=self.best_iteration))

    @classmethod
    def from_text(cls, text: str, feature_names: Sequence[str],
                  num_threads: int = 0) -> LambdaRanker:
        """Read a model written by :meth:`to_text` (LightGBM's own parser; no code runs).

        Raises
        ------
        ValueError
            The text is not a LightGBM model for these features.
        """
        try:
            booster = NativeBooster(text)
        except ValueError as exc:  # LightGBM's message for a damaged file
            raise ValueError(f"not a readable LightGBM model: {exc}") from None
        expected = [_lgb_name(n) for n in feature_names]
        if list(booster.feature_name()) != expected:
            raise ValueError(f"the LightGBM model reads features {booster.feature_name()}, "
                             f"expected {expected}")
        return cls(booster, feature_names, booster.current_iteration(), 0.0, num_threads)


def _lgb_params(p: RankerParams, max_label: int) -> dict[str, Any]:
    seed = int(p.random_state)
    return {
        "objective": p.objective,
        "metric": "ndcg",
        "eval_at": [10],
        "lambdarank_truncation_level": int(p.truncation_level),
        "label_gain": [float(2 ** g - 1) for g in range(max(max_label, 1) + 1)],
        "learning_rate": float(p.learning_rate),
        "num_leaves": int(p.num_leaves),
        "min_data_in_leaf": int(p.min_data_in_leaf),
        "feature_fraction": float(p.feature_fraction),
        "lambda_l2": float(p.lambda_l2),
        "num_threads": int(p.num_threads),
        "seed": seed,
        "bagging_seed": seed + 1,
        "feature_fraction_seed": seed + 2,
        "data_random_seed": seed + 3,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }
