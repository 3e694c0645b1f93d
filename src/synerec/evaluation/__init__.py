"""Evaluation: splits into folds, the experiment runner, hyper-parameter search, the K sweep."""

from synerec.evaluation.runner import (
    EvaluationResult,
    FoldResult,
    ModelSpec,
    default_relevance_threshold,
    evaluate,
    evaluate_fold,
    make_folds,
)
from synerec.evaluation.tuning import (
    SEARCH_SPACES,
    TuningResult,
    tune,
    validation_split,
)

__all__ = [
    "SEARCH_SPACES",
    "EvaluationResult",
    "FoldResult",
    "ModelSpec",
    "TuningResult",
    "default_relevance_threshold",
    "evaluate",
    "evaluate_fold",
    "make_folds",
    "tune",
    "validation_split",
]
