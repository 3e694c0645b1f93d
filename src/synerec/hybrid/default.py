"""Which model ``fit``, ``demo`` and the service use when none is named.

The rule (issue 12, item 6): the ``hybrid`` when the data has enough interactions for its
validation part, else the best single retriever. "Enough" means at least
:data:`MIN_RANKER_USERS` users whose held-out share (the hybrid's own validation split:
:func:`synerec.hybrid.split.split_validation`, latest interactions when there are timestamps)
holds a relevant interaction and who keep at least one interaction to be fitted on; with fewer,
a ranker would learn from too few users to beat its retrievers. The best single retriever is
EASE when it is registered (the best of the single models on ML-100K and UCI Online Retail,
``docs/experiments.md``), else user-based CF with cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synerec.data.dataset import InteractionDataset

__all__ = ["MIN_RANKER_USERS", "DefaultModel", "choose_default_model", "validation_users"]

#: Users with a relevant held-out interaction that the hybrid needs to be the default.
MIN_RANKER_USERS = 50


@dataclass(frozen=True)
class DefaultModel:
    """The chosen model, its options and why (for the command's output)."""

    name: str
    config: dict[str, Any]
    reason: str


def validation_users(data: InteractionDataset, fraction: float = 0.2) -> int:
    """Users whose validation part (the hybrid's split) holds a relevant interaction."""
    from synerec.evaluation.runner import default_relevance_threshold
    from synerec.hybrid.model import _times_matrix
    from synerec.hybrid.split import split_validation

    X = data.matrix
    if X.nnz == 0:
        return 0
    T = None
    if data.timestamps is not None:
        T = _times_matrix((data.user_index, data.item_index, data.timestamps), X)
    split = split_validation(X, T, fraction, "auto", 0)
    label = split.label
    thr = default_relevance_threshold(data.rating_scale)
    if thr is not None:
        label = label.copy()
        label.data = (label.data >= thr).astype(np.float32)
        label.eliminate_zeros()
    has_label = np.diff(label.indptr) > 0
    has_fit = np.diff(split.fit.indptr) > 0
    return int((has_label & has_fit).sum())


def _single_retriever() -> tuple[str, dict[str, Any]]:
    from synerec.algorithms.registry import list_models

    if "ease" in list_models():
        return "ease", {}
    return "user-cf", {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}


def choose_default_model(data: InteractionDataset) -> DefaultModel:
    """The ``hybrid`` when ``data`` has enough for a validation part, else a single retriever."""
    n = validation_users(data)
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        name, config = _single_retriever()
        return DefaultModel(name, config, "LightGBM is not installed (pip install "
                            "'synerec[hybrid]'), so the best single retriever")
    if n >= MIN_RANKER_USERS:
        return DefaultModel("hybrid", {}, f"{n} users have a relevant interaction in the "
                            "hybrid's validation part (at least "
                            f"{MIN_RANKER_USERS} are needed)")
    name, config = _single_retriever()
    return DefaultModel(name, config, f"only {n} users have a relevant interaction for a "
                        f"validation part (the hybrid needs {MIN_RANKER_USERS}), so the best "
                        "single retriever")
