"""Hyper-parameter search (synerec.evaluation.tuning): parsing, the validation split, Optuna."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synerec.data import InteractionDataset
from synerec.evaluation import SEARCH_SPACES, tune, validation_split
from synerec.evaluation.tuning import Param, parse_metric, parse_space
from synerec.exceptions import ConfigError


def shop(timestamps: bool = True, implicit: bool = False) -> InteractionDataset:
    rng = np.random.default_rng(11)
    rows = []
    for u in range(50):
        for i in range(30):
            liked = i % 3 == u % 3
            if rng.random() < (0.5 if liked else 0.08):
                rating = int(rng.integers(4, 6)) if liked else int(rng.integers(1, 4))
                rows.append((u, i, 1.0 if implicit else rating, 1000 + len(rows)))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    if not timestamps:
        df = df.drop(columns="timestamp")
    return InteractionDataset.from_dataframe(
        df, time_col="timestamp" if timestamps else None,
        rating_scale=None if implicit else (1, 5), name="shop")


def test_parse_metric() -> None:
    assert parse_metric("ndcg@10") == ("ndcg@10", 10)
    assert parse_metric("Precision@5") == ("precision@5", 5)
    assert parse_metric("mrr") == ("mrr", 10)
    assert parse_metric("rmse") == ("rmse", 10)
    for bad in ("ndcg@0", "ndcg@x", "auc", "rmse@10"):
        with pytest.raises(ConfigError):
            parse_metric(bad)


def test_parse_space() -> None:
    space = parse_space(["lambda_=1:1000:log", "k=5:50", "beta=0:1", "confidence=log,linear"])
    assert space["lambda_"] == Param("int", 1, 1000, True)
    assert space["k"] == Param("int", 5, 50, False)
    assert space["beta"] == Param("int", 0, 1, False)
    assert parse_space(["beta=0.0:1.0"])["beta"] == Param("float", 0.0, 1.0, False)
    assert space["confidence"].choices == ("log", "linear")
    for bad in ("lambda_", "x=1:2:3", "x=0:10:log", "x=5:1"):
        with pytest.raises(ConfigError):
            parse_space([bad])


def test_validation_split_comes_from_the_given_data_only() -> None:
    data = shop()
    fold = validation_split(data, 0.2)
    assert fold.train.n_interactions + fold.test.n_interactions == data.n_interactions
    assert "last-20%" in fold.name  # timestamps: each user's latest share
    # every held-out interaction is later than the same user's kept ones
    last_kept = pd.Series(fold.train.timestamps).groupby(fold.train.user_index).max()
    first_held = pd.Series(fold.test.timestamps).groupby(fold.test.user_index).min()
    assert (first_held > last_kept.reindex(first_held.index)).all()
    random = validation_split(shop(timestamps=False), 0.2, random_state=3)
    again = validation_split(shop(timestamps=False), 0.2, random_state=3)
    assert "holdout" in random.name
    np.testing.assert_array_equal(random.test.item_index, again.test.item_index)


def test_tune_is_seeded_and_reports_the_best_trial() -> None:
    data = shop()
    a = tune(data, "ease", n_trials=4, random_state=7, fixed={"dropout": 0.0},
             space={"lambda_": Param("float", 1.0, 100.0, log=True)})
    b = tune(data, "ease", n_trials=4, random_state=7, fixed={"dropout": 0.0},
             space={"lambda_": Param("float", 1.0, 100.0, log=True)})
    assert a.best_params == b.best_params and a.best_value == b.best_value
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_value == max(t.value for t in a.trials)
    assert set(a.best_params) == {"lambda_"} and a.config["dropout"] == 0.0
    assert 1.0 <= a.best_params["lambda_"] <= 100.0
    assert a.direction == "maximize" and a.space == {"lambda_": "1..100 log"}
    model = a.refit(data)
    assert model.get_params()["lambda_"] == a.best_params["lambda_"]
    meta = a.metadata()
    assert meta["best_params"] == a.best_params and meta["n_trials"] == 4


def test_tune_minimises_rating_errors_and_checks_its_arguments() -> None:
    data = shop()
    r = tune(data, "popularity", metric="rmse", n_trials=3, random_state=0)
    assert r.direction == "minimize" and r.best_value == min(t.value for t in r.trials)
    with pytest.raises(ConfigError, match="predicts no ratings"):
        tune(data, "ease", metric="mae", n_trials=2)
    with pytest.raises(ConfigError, match="implicit feedback"):
        tune(shop(implicit=True), "popularity", metric="rmse", n_trials=2)
    with pytest.raises(ConfigError, match="no option nope"):
        tune(data, "ease", fixed={"nope": 1}, n_trials=2)
    with pytest.raises(ConfigError, match="nothing to search"):
        tune(data, "ease", fixed={"lambda_": 5.0, "dropout": 0.0}, n_trials=2)
    with pytest.raises(ConfigError, match="positive integer"):
        tune(data, "ease", n_trials=0)
    # an integer-looking range of a float parameter is searched as floats
    r = tune(data, "rp3beta", n_trials=2, space=parse_space(["beta=0:1"]),
             fixed={"alpha": 1.0, "k": 20})
    assert r.space == {"beta": "0..1"} and isinstance(r.best_params["beta"], float)


def test_every_declared_space_names_real_options() -> None:
    from synerec.algorithms import get_model_class

    for name, space in SEARCH_SPACES.items():
        params = set(get_model_class(name)._param_names())
        assert set(space) <= params, name
