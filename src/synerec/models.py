"""The composition root: the one module that knows every model synerec has.

Importing it imports every model family (:mod:`synerec.algorithms` and the learned hybrid,
:mod:`synerec.hybrid`), each of which registers its classes by name. The command line, the
service, the console, the evaluation and the distributed jobs take their models from here:

* :func:`create_model`, :func:`get_model_class`, :func:`list_models`, :func:`model_name`: the
  registry, with every model in it;
* :func:`load_model`: any saved model directory;
* :func:`choose_default_model`: which model ``synerec fit``, ``demo`` and the service train
  when the user names none.

Where a new model goes: a module in ``algorithms/`` (or its own package, as the hybrid) that
registers its class with :func:`~synerec.algorithms.registry.register_model`, imported below.
No module under this one imports it (``docs/architecture.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

import synerec.algorithms
import synerec.hybrid  # noqa: F401 - registers the hybrid
from synerec.algorithms.base import Recommender
from synerec.algorithms.positives import default_positive_threshold
from synerec.algorithms.registry import (
    DEFAULT_RANKING_MODEL,
    create_model,
    get_model_class,
    list_models,
    model_name,
)
from synerec.algorithms.training import TrainingData
from synerec.data.dataset import InteractionDataset
from synerec.hybrid.split import split_validation

__all__ = [
    "DEFAULT_RANKING_MODEL",
    "MIN_RANKER_USERS",
    "DefaultModel",
    "choose_default_model",
    "create_model",
    "get_model_class",
    "list_models",
    "load_model",
    "model_name",
    "validation_users",
]

#: Users with a relevant held-out interaction that the hybrid needs to be the default.
MIN_RANKER_USERS = 50


def load_model(path: str | os.PathLike[str]) -> Recommender:
    """Load any saved model directory (every family is registered here).

    Raises
    ------
    ModelFileError
        Missing, truncated or corrupted files, a checksum mismatch, an unknown model name,
        an invalid config or arrays that do not fit together.
    """
    return Recommender.load(path)


@dataclass(frozen=True)
class DefaultModel:
    """The chosen model, its options and why (for the command's output)."""

    name: str
    config: dict[str, Any]
    reason: str


def validation_users(data: InteractionDataset, fraction: float = 0.2) -> int:
    """Users whose validation part (the hybrid's split) holds a relevant interaction.

    The hybrid's own validation split (:func:`synerec.hybrid.split.split_validation`, latest
    interactions when there are timestamps); "relevant" is the evaluation's rule
    (:func:`~synerec.algorithms.positives.default_positive_threshold`). Users who keep no
    interaction to be fitted on are not counted.
    """
    X = data.matrix
    if X.nnz == 0:
        return 0
    T = TrainingData.of(data).timestamps
    split = split_validation(X, T, fraction, "auto", 0)
    label = split.label
    thr = default_positive_threshold(data.rating_scale)
    if thr is not None:
        label = label.copy()
        label.data = (label.data >= thr).astype(np.float32)
        label.eliminate_zeros()
    has_label = np.diff(label.indptr) > 0
    has_fit = np.diff(split.fit.indptr) > 0
    return int((has_label & has_fit).sum())


def _single_retriever() -> tuple[str, dict[str, Any]]:
    return DEFAULT_RANKING_MODEL, {}


def choose_default_model(data: InteractionDataset) -> DefaultModel:
    """The ``hybrid`` when ``data`` has enough for a validation part, else a single retriever.

    The rule (issue 12, item 6): the ``hybrid`` when at least :data:`MIN_RANKER_USERS` users
    have a relevant interaction in its validation part (:func:`validation_users`) and LightGBM
    is installed; with fewer, a ranker would learn from too few users to beat its retrievers,
    and the best single retriever (EASE, the best of the single models on ML-100K and UCI
    Online Retail, ``docs/experiments.md``) is used.
    """
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
