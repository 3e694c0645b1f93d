"""Rating-prediction accuracy: mean absolute error and root mean squared error.

Both take the true and the predicted ratings of the same (user, item) pairs as two 1-D arrays in
the same order, and return one float. They refuse inputs that would silently give a wrong or
meaningless number: arrays of different shapes, empty arrays and missing values (NaN or inf).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from synerec.exceptions import ConfigError

__all__ = ["mae", "rmse"]


def _check_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 after checking shape, emptiness and finiteness."""
    try:
        true = np.asarray(y_true, dtype=np.float64)
        pred = np.asarray(y_pred, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"ratings must be numbers: {exc}") from exc
    if true.shape != pred.shape:
        raise ConfigError(
            f"y_true and y_pred must have the same shape, got {true.shape} and {pred.shape}")
    if true.size == 0:
        raise ConfigError("y_true and y_pred are empty: the error of no prediction is undefined")
    for name, values in (("y_true", true), ("y_pred", pred)):
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad.ravel())[0])
            raise ConfigError(
                f"{name} holds {int(bad.sum())} missing or infinite value(s) "
                f"(first at position {first}: {values.ravel()[first]!r})")
    return true.ravel(), pred.ravel()


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Mean absolute error of predicted ratings.

    .. math:: \mathrm{MAE} = \frac{1}{|T|} \sum_{(u, i) \in T} |r_{ui} - \hat r_{ui}|

    Parameters
    ----------
    y_true
        True ratings of the test pairs :math:`T`.
    y_pred
        Predicted ratings of the same pairs, in the same order and shape.

    Returns
    -------
    float
        The mean absolute error, in rating units (0 is perfect).

    Raises
    ------
    ConfigError
        If the shapes differ, the input is empty, or a value is NaN or infinite.

    References
    ----------
    .. [1] J. L. Herlocker, J. A. Konstan, L. G. Terveen and J. T. Riedl, "Evaluating
       collaborative filtering recommender systems", ACM TOIS 22(1), 2004, section 3.1.
    """
    true, pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(true - pred)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Root mean squared error of predicted ratings.

    .. math:: \mathrm{RMSE} = \sqrt{\frac{1}{|T|} \sum_{(u, i) \in T} (r_{ui} - \hat r_{ui})^2}

    Parameters
    ----------
    y_true
        True ratings of the test pairs :math:`T`.
    y_pred
        Predicted ratings of the same pairs, in the same order and shape.

    Returns
    -------
    float
        The root mean squared error, in rating units (0 is perfect; never below the MAE).

    Raises
    ------
    ConfigError
        If the shapes differ, the input is empty, or a value is NaN or infinite.

    References
    ----------
    .. [1] J. L. Herlocker, J. A. Konstan, L. G. Terveen and J. T. Riedl, "Evaluating
       collaborative filtering recommender systems", ACM TOIS 22(1), 2004, section 3.1.
    """
    true, pred = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean(np.square(true - pred))))
