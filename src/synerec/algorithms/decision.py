"""The founding paper's decision: recommend an item to a user, or not, and why.

Part 6 of the model contract (the overview is in :mod:`synerec.algorithms.base`). The paper
recommends item ``i`` to user ``a`` when ``a`` has not rated ``i`` and the predicted rating
exceeds a threshold, 6 on its 1..10 scale. :meth:`Deciding.recommend_item` applies that rule to
any model's :meth:`~synerec.algorithms.predicting.Predicting.predict_one`, and returns a
:class:`Decision` with the prediction and a one-sentence reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synerec.algorithms.params import C
from synerec.algorithms.predicting import Predicting, Prediction
from synerec.exceptions import ConfigError

__all__ = ["Deciding", "Decision", "default_threshold"]


@dataclass(frozen=True)
class Decision:
    """Whether to recommend one item to one user, with the reason.

    Attributes
    ----------
    prediction
        The prediction the decision is based on.
    recommend
        ``True`` when the user has not rated the item and ``prediction.value > threshold``.
    reason
        One sentence explaining the decision.
    threshold
        The threshold used.
    """

    prediction: Prediction
    recommend: bool
    reason: str
    threshold: float


def default_threshold(rating_scale: tuple[float, float] | None) -> float:
    """The recommend threshold: the point of the scale that 6 is on a 1..10 scale.

    ``low + (6 - 1) / (10 - 1) * (high - low)``, i.e. about 3.22 on 1..5; ``0.0`` for implicit
    data (kept for callers that threshold scores themselves; ``recommend_item`` refuses
    implicit data).
    """
    if rating_scale is None:
        return 0.0
    low, high = rating_scale
    return float(low + (6.0 - 1.0) / (10.0 - 1.0) * (high - low))


class Deciding(Predicting[C]):
    """:meth:`recommend_item`: the paper's recommend-or-not rule over :meth:`predict_one`."""

    def recommend_item(self, user: Any, item: Any, threshold: float | None = None, *,
                       unknown: str = "error") -> Decision:
        """Decide whether to recommend ``item`` to ``user`` (the paper's rule).

        Recommend when the user has not rated the item in the training data and the predicted
        rating exceeds ``threshold``.

        Parameters
        ----------
        user, item
            External ids.
        threshold
            Default :func:`default_threshold` of ``rating_scale_`` (3.22 on 1..5).
        unknown
            As in :meth:`~synerec.algorithms.predicting.Predicting.predict`: ``"error"``
            (default) or ``"fallback"`` (decide on the fallback prediction, flagged).

        Raises
        ------
        ConfigError
            The model was fitted on implicit feedback, or predicts scores rather than ratings
            (``predicts_ratings`` false): there is no rating to predict, and a threshold on a
            score means nothing; rank with ``recommend`` instead.
        UnknownIdError
            An unknown user or item with ``unknown="error"``.
        """
        self._check_fitted()
        if self.rating_scale_ is None:
            raise ConfigError(
                f"recommend_item decides on a predicted rating, and this {type(self).__name__} "
                "was fitted on implicit feedback (purchases, clicks), which has no ratings: "
                "rank items with recommend() instead")
        if not self.predicts_ratings:
            raise ConfigError(
                f"recommend_item decides on a predicted rating, and {type(self).__name__} ranks "
                "items by a score that is not a rating: rank items with recommend() instead")
        pred = self.predict_one(user, item, unknown=unknown)
        thr = default_threshold(self.rating_scale_) if threshold is None else float(threshold)
        rated = self._rated_value(pred.details["user_index"], pred.details["item_index"])
        if rated is not None:
            return Decision(pred, False,
                            f"user {user!r} has already rated item {item!r} ({rated:g})", thr)
        how = ""
        if pred.fallback is not None:
            how = f" ({pred.fallback}: fell back to {pred.fallback_to})"
        if pred.value > thr:
            reason = f"predicted rating {pred.value:.3g}{how} exceeds the threshold {thr:.3g}"
            return Decision(pred, True, reason, thr)
        reason = (f"predicted rating {pred.value:.3g}{how} does not exceed the threshold "
                  f"{thr:.3g}")
        return Decision(pred, False, reason, thr)
