"""Runs the conformance suite (tests/algorithms/conformance.py) on every registered model."""

from tests.algorithms.conformance import (
    test_bad_training_data,
    test_batch_equals_one_by_one,
    test_config_round_trip,
    test_fit_on_sparse_matrix,
    test_fit_returns_self_and_sets_learned_state,
    test_implicit_data,
    test_invalid_parameter_is_config_error_at_fit,
    test_known_answer,
    test_not_fitted_raises,
    test_predictions_within_rating_scale,
    test_recommend_excludes_seen_and_is_sorted,
    test_recommend_item_rule,
    test_refit_is_idempotent,
    test_save_load_round_trip,
    test_unknown_users_and_items_fall_back,
    toy,
)

__all__ = [
    "test_bad_training_data",
    "test_batch_equals_one_by_one",
    "test_config_round_trip",
    "test_fit_on_sparse_matrix",
    "test_fit_returns_self_and_sets_learned_state",
    "test_implicit_data",
    "test_invalid_parameter_is_config_error_at_fit",
    "test_known_answer",
    "test_not_fitted_raises",
    "test_predictions_within_rating_scale",
    "test_recommend_excludes_seen_and_is_sorted",
    "test_recommend_item_rule",
    "test_refit_is_idempotent",
    "test_save_load_round_trip",
    "test_unknown_users_and_items_fall_back",
    "toy",
]
