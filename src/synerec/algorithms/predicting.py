"""Rating prediction for external ids, with the documented fallbacks for cold users and items.

Part 3 of the model contract (the overview is in :mod:`synerec.algorithms.base`). It turns a
model's ``_predict`` (pairs of known indices) into :meth:`Predicting.predict` on any ids:
pairs with an unknown user or item go to ``_predict_fallback`` instead, every value is clipped
to the rating scale, and :meth:`Predicting.predict_one` returns one :class:`Prediction` with
its provenance (fallback, neighbours, the model's own terms from ``_explain``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synerec.algorithms.params import C
from synerec.algorithms.scoring import (
    FALLBACK_NAMES,
    NO_FALLBACK,
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNKNOWN_USER_AND_ITEM,
    ScoringModel,
)

__all__ = ["Predicting", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    """One predicted rating (or score, for implicit data) and how it was obtained.

    Attributes
    ----------
    user, item
        The external ids asked about.
    value
        The prediction, clipped to the rating scale.
    raw_value
        The model's value before clipping.
    clipped
        Whether clipping changed the value.
    n_neighbors
        Neighbours that contributed (neighbourhood models; 0 for the others).
    fallback
        ``None`` when the model's own formula was used, else ``"unknown_user"``,
        ``"unknown_item"``, ``"unknown_user_and_item"`` or ``"no_neighbors"``.
    fallback_to
        What was used instead (``"user_mean"``, ``"item_mean"``, ``"global_mean"``,
        ``"baseline"``, ...), ``None`` without fallback.
    details
        Model-specific terms of the prediction (biases, dot product, indices, ...).
    """

    user: Any
    item: Any
    value: float
    raw_value: float
    clipped: bool
    n_neighbors: int
    fallback: str | None
    fallback_to: str | None
    details: dict[str, Any] = field(default_factory=dict)


class Predicting(ScoringModel[C]):
    """:meth:`predict`, :meth:`predict_indices` and :meth:`predict_one` over ``_predict``."""

    def predict(self, users: Iterable[Any], items: Iterable[Any], *,
                unknown: str = "error") -> np.ndarray:
        """Predicted ratings (scores for implicit data) for pairs of external ids.

        Parameters
        ----------
        users, items
            Equal-length sequences of external ids; ``predict([u1, u2], [i1, i2])`` predicts
            ``(u1, i1)`` and ``(u2, i2)``.
        unknown
            Ids without training data: ``"error"`` (default) raises
            :class:`~synerec.exceptions.UnknownUserError` / ``UnknownItemError`` naming the
            first; ``"fallback"`` predicts them by the table of
            :mod:`synerec.algorithms.base` (the one policy: docs/your-data.md).

        Returns
        -------
        numpy.ndarray
            float64 predictions clipped to ``rating_scale_``.
        """
        self._check_fitted()
        u = self._known_indices(users, "user", unknown)
        i = self._known_indices(items, "item", unknown)
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length ({len(u)} != {len(i)})")
        return self._predict_all(u, i)[0]

    def predict_indices(self, users: Any, items: Any) -> np.ndarray:
        """:meth:`predict` for pairs of indices (``-1`` = unknown), vectorised."""
        self._check_fitted()
        u = self._check_indices(users, self.n_users_, "user")
        i = self._check_indices(items, self.n_items_, "item")
        if len(u) != len(i):
            raise ValueError(f"users and items must have the same length ({len(u)} != {len(i)})")
        return self._predict_all(u, i)[0]

    def _predict_all(self, u: np.ndarray, i: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(clipped values, raw values, n_neighbors, fallback codes) for index pairs."""
        known_u = self.known_users(u)
        known_i = self.known_items(i)
        codes = np.where(known_u, np.where(known_i, NO_FALLBACK, UNKNOWN_ITEM),
                         np.where(known_i, UNKNOWN_USER, UNKNOWN_USER_AND_ITEM)).astype(np.int8)
        raw = np.empty(len(u), dtype=np.float64)
        nbrs = np.zeros(len(u), dtype=np.int32)
        main = codes == NO_FALLBACK
        if main.any():
            v, nn, c = self._predict(u[main], i[main])
            raw[main] = v
            nbrs[main] = nn
            codes[main] = c
        fb = ~main
        if fb.any():
            raw[fb] = self._predict_fallback(u[fb], i[fb], codes[fb])
        # a rating is clipped to the scale; a score (``predicts_ratings`` false) never is
        scale = self.rating_scale_
        values = np.clip(raw, *scale) if scale is not None and self.predicts_ratings else raw
        return values, raw, nbrs, codes

    def predict_one(self, user: Any, item: Any, *, unknown: str = "error") -> Prediction:
        """One prediction with its provenance (fallback, neighbours, model terms).

        ``unknown`` as in :meth:`predict`: with ``"fallback"``, an unknown user or item gets
        the documented fallback, flagged in :attr:`Prediction.fallback`.
        """
        self._check_fitted()
        u = int(self._known_indices([user], "user", unknown)[0])
        i = int(self._known_indices([item], "item", unknown)[0])
        values, raw, nbrs, codes = self._predict_all(np.array([u]), np.array([i]))
        code = int(codes[0])
        details: dict[str, Any] = {"user_index": u, "item_index": i,
                                   "global_mean": self.global_mean_}
        details.update(self._explain(u, i))
        return Prediction(
            user=user, item=item, value=float(values[0]), raw_value=float(raw[0]),
            clipped=bool(values[0] != raw[0]), n_neighbors=int(nbrs[0]),
            fallback=FALLBACK_NAMES[code],
            fallback_to=None if code == NO_FALLBACK else self.fallback_targets.get(code),
            details=details,
        )

    #: Alias of :meth:`predict_one`: a prediction with everything needed to explain it.
    explain = predict_one
