"""Most-popular recommendation and the damped item mean as rating prediction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.abilities import EvidenceKind
from synerec.algorithms.base import (
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNKNOWN_USER_AND_ITEM,
    Recommender,
    RecommenderConfig,
)
from synerec.algorithms.registry import register_model
from synerec.algorithms.training import TrainingData

__all__ = ["Popularity", "PopularityConfig"]


class PopularityConfig(RecommenderConfig):
    """Parameters of :class:`Popularity`."""

    damping: float = Field(5.0, ge=0.0)


@register_model("popularity")
class Popularity(Recommender[PopularityConfig]):
    r"""The same list for everyone: items by popularity; ratings by the damped item mean.

    Ranking score of item :math:`i` (``item_popularity_``): its number of training
    interactions :math:`|R(i)|` for ratings, its summed weight :math:`\sum_u r_{ui}` for
    implicit data. Predicted rating, the same for every user:

    .. math::

        \hat r_{ui} = \frac{\sum_{u \in R(i)} r_{ui} + \beta \mu}{|R(i)| + \beta}

    Parameters
    ----------
    damping
        :math:`\beta` (>= 0), the number of global-mean ratings each item's mean is shrunk
        with; 0 gives the plain item mean.

    Attributes
    ----------
    item_score_ : numpy.ndarray
        float64 damped item means.

    Notes
    -----
    Because the prediction ignores the user, an unknown user gets the same damped item mean
    (``fallback_to = "damped_item_mean"``), and an unknown item the global mean (the damped mean
    of an item without ratings).

    References
    ----------
    M. D. Ekstrand, "The LKPY package for recommender systems experiments", CIKM 2020
    (``Bias`` with damping); Koren (2010), section 2.1.
    """

    evidence_kind: ClassVar[EvidenceKind] = "popularity"

    fallback_targets: ClassVar[dict[int, str]] = {
        UNKNOWN_USER: "damped_item_mean",
        UNKNOWN_ITEM: "global_mean",
        UNKNOWN_USER_AND_ITEM: "global_mean",
    }

    item_score_: np.ndarray

    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        self.item_score_ = damped_item_mean(X, self.global_mean_, self.config_.damping)

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        zeros = np.zeros(len(users), dtype=np.int32)
        return self.item_score_[items].copy(), zeros, zeros.astype(np.int8)

    def _predict_fallback(self, users: np.ndarray, items: np.ndarray,
                          codes: np.ndarray) -> np.ndarray:
        out = np.full(len(codes), self.global_mean_, dtype=np.float64)
        m = codes == UNKNOWN_USER
        out[m] = self.item_score_[items[m]]
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        row = self.item_popularity_.astype(np.float32)
        return np.broadcast_to(row, (len(users), len(row))).copy()

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        if item < 0:
            return {"item_count": 0, "popularity": 0.0}
        return {"item_count": int(self.item_count_[item]),
                "popularity": float(self.item_popularity_[item]),
                "item_mean": float(self.item_mean_[item])}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_score": self.item_score_}

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        arr = arrays["item_score"]
        if arr.shape != (self.n_items_,):
            raise ValueError(f"item_score has shape {arr.shape}, expected ({self.n_items_},)")
        self.item_score_ = arr.astype(np.float64)


def damped_item_mean(X: sp.csr_matrix, mu: float, damping: float) -> np.ndarray:
    """``(sum of item i's values + damping * mu) / (count of i + damping)``; ``mu`` when empty."""
    n_items = X.shape[1]
    total = np.bincount(X.indices, weights=X.data.astype(np.float64), minlength=n_items)
    count = np.bincount(X.indices, minlength=n_items).astype(np.float64)
    den = count + damping
    return np.divide(total + damping * mu, den, out=np.full(n_items, float(mu)), where=den > 0)
