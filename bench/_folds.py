"""Rating accuracy of a model on train/test folds, shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from synerec.algorithms import Recommender
from synerec.data.splits import Fold
from synerec.metrics import mae, rmse


def fold_accuracy(model: Recommender, folds: Sequence[Fold]) -> list[dict[str, Any]]:
    """Fit ``model`` on each fold's training part and predict its test ratings; one row per fold
    with ``fold, n_test, mae, rmse, fit_s, predict_s``."""
    rows = []
    for fold in folds:
        t0 = time.perf_counter()
        model.fit(fold.train)
        t1 = time.perf_counter()
        test = fold.test
        pred = model.predict_indices(test.user_index, test.item_index)
        t2 = time.perf_counter()
        rows.append({"fold": fold.name, "n_test": test.n_interactions,
                     "mae": mae(test.values, pred), "rmse": rmse(test.values, pred),
                     "fit_s": t1 - t0, "predict_s": t2 - t1})
    return rows
