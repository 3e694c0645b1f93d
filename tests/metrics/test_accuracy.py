"""MAE and RMSE: hand-computed answers, a slow reference, input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.exceptions import ConfigError
from synerec.metrics import mae, rmse


def test_hand_computed() -> None:
    y_true = [4.0, 3.0, 5.0, 1.0]
    y_pred = [3.5, 3.0, 3.0, 2.0]
    # errors: 0.5, 0, 2, -1  -> |.| sum = 3.5 -> MAE = 3.5 / 4 = 0.875
    assert mae(y_true, y_pred) == pytest.approx(0.875)
    # squares: 0.25 + 0 + 4 + 1 = 5.25 -> RMSE = sqrt(5.25 / 4) = sqrt(1.3125) = 1.145644
    assert rmse(y_true, y_pred) == pytest.approx(math.sqrt(1.3125))
    assert rmse(y_true, y_pred) == pytest.approx(1.1456439, abs=1e-7)


def test_perfect_prediction_and_integer_input() -> None:
    assert mae(np.array([1, 2, 3]), np.array([1, 2, 3])) == 0.0
    assert rmse([5], [2]) == 3.0  # one pair: |5 - 2| = 3 both ways
    assert isinstance(mae([1], [1]), float)


@pytest.mark.parametrize("metric", [mae, rmse])
@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([1.0, 2.0], [1.0], r"same shape.*\(2,\).*\(1,\)"),
        ([], [], "empty"),
        ([1.0, math.nan], [1.0, 2.0], r"y_true holds 1 missing.*position 1"),
        ([1.0, 2.0], [math.inf, 2.0], r"y_pred holds 1 missing or infinite.*position 0"),
        (["a"], ["b"], "must be numbers"),
    ],
)
def test_invalid_input(metric, y_true: list, y_pred: list, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        metric(y_true, y_pred)


finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
def test_matches_loop_reference(pairs: list[tuple[float, float]]) -> None:
    true = [t for t, _ in pairs]
    pred = [p for _, p in pairs]
    ref_mae = sum(abs(t - p) for t, p in pairs) / len(pairs)
    ref_rmse = math.sqrt(sum((t - p) ** 2 for t, p in pairs) / len(pairs))
    assert mae(true, pred) == pytest.approx(ref_mae, rel=1e-9, abs=1e-12)
    assert rmse(true, pred) == pytest.approx(ref_rmse, rel=1e-9, abs=1e-12)
    # RMSE >= MAE (power-mean inequality); both symmetric in their arguments.
    assert rmse(true, pred) >= mae(true, pred) - 1e-12
    assert mae(pred, true) == mae(true, pred)
    assert rmse(pred, true) == rmse(true, pred)
