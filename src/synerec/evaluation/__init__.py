"""Evaluation: splits into folds, the experiment runner, the K sweep and its plots."""

from synerec.evaluation.runner import (
    EvaluationResult,
    FoldResult,
    ModelSpec,
    default_relevance_threshold,
    evaluate,
    evaluate_fold,
    make_folds,
)

__all__ = [
    "EvaluationResult",
    "FoldResult",
    "ModelSpec",
    "default_relevance_threshold",
    "evaluate",
    "evaluate_fold",
    "make_folds",
]
