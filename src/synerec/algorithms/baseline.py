"""Koren's baseline predictor: global mean plus regularised user and item biases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.base import (
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNKNOWN_USER_AND_ITEM,
    Recommender,
    RecommenderConfig,
)
from synerec.algorithms.registry import register_model
from synerec.algorithms.training import TrainingData

__all__ = ["Baseline", "BaselineConfig"]


class BaselineConfig(RecommenderConfig):
    """Parameters of :class:`Baseline`."""

    regularization_user: float = Field(15.0, ge=0.0)
    regularization_item: float = Field(10.0, ge=0.0)
    epochs: int = Field(10, ge=1)


@register_model("baseline")
class Baseline(Recommender[BaselineConfig]):
    r"""Global mean plus user and item biases, fitted by alternating least squares.

    .. math::

        \hat r_{ui} = \mu + b_u + b_i

    Each epoch first sets every item bias, then every user bias, to its regularised
    least-squares value given the other (the ``"als"`` method of Surprise's ``BaselineOnly``,
    whose default parameters these are):

    .. math::

        b_i = \frac{\sum_{u \in R(i)} (r_{ui} - \mu - b_u)}{\lambda_i + |R(i)|}, \qquad
        b_u = \frac{\sum_{i \in R(u)} (r_{ui} - \mu - b_i)}{\lambda_u + |R(u)|}

    One epoch from zero user biases is exactly Koren's (2010) decoupled estimate.

    Parameters
    ----------
    regularization_user
        :math:`\lambda_u` (>= 0).
    regularization_item
        :math:`\lambda_i` (>= 0).
    epochs
        ALS sweeps (>= 1).

    Attributes
    ----------
    user_bias_, item_bias_ : numpy.ndarray
        float64 :math:`b_u`, :math:`b_i` (0 for users and items without training data).

    Notes
    -----
    Fallbacks use the biases: an unknown item gets :math:`\mu + b_u`, an unknown user
    :math:`\mu + b_i`, both unknown :math:`\mu` (``fallback_to = "baseline"`` /
    ``"global_mean"``). Ranking scores are the predictions, so the ranking of a user's items is
    by item bias.

    References
    ----------
    Y. Koren, "Factor in the neighbors: scalable and accurate collaborative filtering",
    ACM TKDD 4(1), 2010, section 2.1 (equations 2-3).
    N. Hug, "Surprise: a Python library for recommender systems", JOSS 5(52), 2020
    (``BaselineOnly``, ``bsl_options={"method": "als"}``).
    """

    fallback_targets: ClassVar[dict[int, str]] = {
        UNKNOWN_USER: "baseline",
        UNKNOWN_ITEM: "baseline",
        UNKNOWN_USER_AND_ITEM: "global_mean",
    }

    user_bias_: np.ndarray
    item_bias_: np.ndarray

    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        cfg = self.config_
        self.user_bias_, self.item_bias_ = als_biases(
            X, self.global_mean_, cfg.regularization_user, cfg.regularization_item, cfg.epochs)

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = self.global_mean_ + self.user_bias_[users] + self.item_bias_[items]
        zeros = np.zeros(len(users), dtype=np.int32)
        return values, zeros, zeros.astype(np.int8)

    def _predict_fallback(self, users: np.ndarray, items: np.ndarray,
                          codes: np.ndarray) -> np.ndarray:
        out = np.full(len(codes), self.global_mean_, dtype=np.float64)
        m = codes == UNKNOWN_ITEM
        out[m] += self.user_bias_[users[m]]
        m = codes == UNKNOWN_USER
        out[m] += self.item_bias_[items[m]]
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        user_part = self.global_mean_ + self.user_bias_[users]
        return (user_part[:, None] + self.item_bias_[None, :]).astype(np.float32)

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        return {
            "user_bias": float(self.user_bias_[user]) if user >= 0 else None,
            "item_bias": float(self.item_bias_[item]) if item >= 0 else None,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"user_bias": self.user_bias_, "item_bias": self.item_bias_}

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_bias_ = _vector(arrays, "user_bias", self.n_users_)
        self.item_bias_ = _vector(arrays, "item_bias", self.n_items_)


def _vector(arrays: Mapping[str, np.ndarray], name: str, size: int) -> np.ndarray:
    arr = arrays[name]
    if arr.shape != (size,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({size},)")
    return arr.astype(np.float64)


def als_biases(X: sp.csr_matrix, mu: float, reg_user: float, reg_item: float,
               epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """User and item biases by alternating regularised least squares (items first).

    Parameters
    ----------
    X
        Users x items CSR ratings.
    mu
        Global mean.
    reg_user, reg_item
        Regularisation of user and item biases.
    epochs
        Number of sweeps.

    Returns
    -------
    user_bias, item_bias : numpy.ndarray
        float64 biases; 0 for rows / columns without ratings.
    """
    n_users, n_items = X.shape
    rows = np.repeat(np.arange(n_users), np.diff(X.indptr))
    cols = X.indices
    r = X.data.astype(np.float64) - mu
    user_den = np.diff(X.indptr) + reg_user
    item_den = np.bincount(cols, minlength=n_items) + reg_item
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    for _ in range(epochs):
        num = np.bincount(cols, weights=r - bu[rows], minlength=n_items)
        bi = np.divide(num, item_den, out=np.zeros(n_items), where=item_den > 0)
        num = np.bincount(rows, weights=r - bi[cols], minlength=n_users)
        bu = np.divide(num, user_den, out=np.zeros(n_users), where=user_den > 0)
    return bu, bi
