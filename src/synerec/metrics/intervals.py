"""Confidence intervals of differences between models (the evaluation's and the ablation's)."""

from __future__ import annotations

import numpy as np

from synerec._rng import RandomState, check_random_state

__all__ = ["paired_bootstrap"]


def paired_bootstrap(diff: np.ndarray, n_boot: int = 1000, *, level: float = 0.95,
                     random_state: RandomState = 0) -> tuple[float, float, float]:
    """Mean of paired differences and its percentile bootstrap interval.

    Parameters
    ----------
    diff
        One difference per unit (user, or fold and user); ``NaN`` units are left out.
    n_boot
        Resamples (with replacement, of the units).
    level
        Coverage of the interval.
    random_state
        Seed.

    Returns
    -------
    (mean, low, high)
    """
    d = np.asarray(diff, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = check_random_state(random_state)
    means = np.empty(n_boot, dtype=np.float64)
    step = max(1, int(4_000_000 // max(1, len(d))))
    for start in range(0, n_boot, step):
        k = min(step, n_boot - start)
        idx = rng.integers(0, len(d), size=(k, len(d)))
        means[start:start + k] = d[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(d.mean()), float(low), float(high)
