"""The hybrid's booster through LightGBM's C library equals ``lightgbm.Booster``, bit for bit."""

from __future__ import annotations

import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pytest

from synerec.hybrid.booster import NativeBooster, library_path
from synerec.hybrid.ranker import LambdaRanker, RankerParams


@pytest.fixture(scope="module")
def trained() -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(3)
    n_groups, per = 60, 20
    X = rng.normal(size=(n_groups * per, 6))
    X[rng.random(X.shape) < 0.1] = np.nan          # missing values take the default branch
    X[:, 5] = rng.integers(0, 3, size=len(X))       # a column with many exact zeros
    y = (np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) > 0.8).astype(int)
    y += (np.nan_to_num(X[:, 2]) > 1.2).astype(int)
    ds = lgb.Dataset(X, label=y, group=[per] * n_groups,
                     feature_name=[f"f{i}" for i in range(6)], params={"verbosity": -1})
    booster = lgb.train({"objective": "lambdarank", "num_leaves": 7, "min_data_in_leaf": 5,
                         "verbosity": -1, "deterministic": True, "seed": 1}, ds,
                        num_boost_round=25)
    test = rng.normal(size=(300, 6))
    test[rng.random(test.shape) < 0.15] = np.nan
    test[:50, 5] = 0.0
    return booster, test


def test_predictions_equal_lightgbm(trained: tuple[lgb.Booster, np.ndarray]) -> None:
    booster, X = trained
    native = NativeBooster(booster.model_to_string())
    assert native.feature_name() == booster.feature_name()
    assert native.current_iteration() == booster.current_iteration() == 25
    for k in (25, 10, 1):
        np.testing.assert_array_equal(native.predict(X, num_iteration=k),
                                      booster.predict(X, num_iteration=k))
        np.testing.assert_array_equal(native.predict(X, num_iteration=k, pred_contrib=True),
                                      booster.predict(X, num_iteration=k, pred_contrib=True))
    np.testing.assert_array_equal(native.predict(X.astype(np.float32)),
                                  booster.predict(X.astype(np.float32)))
    np.testing.assert_array_equal(native.feature_importance("gain", 10),
                                  booster.feature_importance("gain", iteration=10))
    np.testing.assert_array_equal(native.feature_importance("split"),
                                  booster.feature_importance("split"))
    # the package appends a pandas line of its own after the C library's text
    assert booster.model_to_string(num_iteration=10).startswith(native.model_to_string(10))
    assert native.model_to_string() == booster.model_to_string()
    assert native.predict(X[:0]).shape == (0,)
    assert native.predict(X[:0], pred_contrib=True).shape == (0, 7)


def test_bad_input_is_a_clear_error(trained: tuple[lgb.Booster, np.ndarray]) -> None:
    booster, X = trained
    native = NativeBooster(booster.model_to_string())
    with pytest.raises(ValueError, match="reads 6 features, got an array of shape"):
        native.predict(X[:, :4])
    with pytest.raises(ValueError):
        NativeBooster("tree\nversion=v4\nthis is not a model")
    with pytest.raises(ValueError, match="not a readable LightGBM model"):
        LambdaRanker.from_text("garbage", ["a"])


def test_ranker_round_trip_predicts_what_it_trained(
        trained: tuple[lgb.Booster, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] > 0.5).astype(int)
    ranker = LambdaRanker.train(X, y, np.full(20, 20), ["a:score", "b", "c"],
                                RankerParams(n_estimators=12, min_data_in_leaf=5))
    again = LambdaRanker.from_text(ranker.to_text(), ["a:score", "b", "c"])
    np.testing.assert_array_equal(again.predict(X), ranker.predict(X))
    assert again.best_iteration == ranker.best_iteration == 12
    assert set(ranker.feature_importance()) == {"a:score", "b", "c"}
    with pytest.raises(ValueError, match="reads features"):
        LambdaRanker.from_text(ranker.to_text(), ["x", "y", "z"])


def test_loading_a_ranker_does_not_import_the_lightgbm_package(
        trained: tuple[lgb.Booster, np.ndarray]) -> None:
    """What makes a saved hybrid answer in a fraction of a second: no scikit-learn import."""
    booster, _ = trained
    code = ("import sys; from synerec.hybrid.ranker import LambdaRanker; import numpy as np;"
            "r = LambdaRanker.from_text(sys.stdin.read(), [f'f{i}' for i in range(6)]);"
            "print(r.predict(np.zeros((2, 6))).shape, 'lightgbm' in sys.modules,"
            " 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], input=booster.model_to_string(),
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["(2,)", "False", "False"]
    assert library_path().is_file()
