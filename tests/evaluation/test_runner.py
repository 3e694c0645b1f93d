"""The experiment runner and the K sweep."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synerec.data import InteractionDataset
from synerec.data.splits import Fold
from synerec.evaluation import ModelSpec, default_relevance_threshold, evaluate, make_folds
from synerec.evaluation.experiment import k_sweep, write_k_sweep
from synerec.exceptions import ConfigError
from synerec.metrics import mae, rmse


def _toy() -> tuple[InteractionDataset, Fold]:
    """Train: u0 {i0}, u1 {i0, i1}, u2 {i0, i1, i2}; test: u0 i1 (5), u1 i2 (2), u2 i3 (5)."""
    df = pd.DataFrame({
        "user_id": ["u0", "u1", "u1", "u2", "u2", "u2", "u0", "u1", "u2"],
        "item_id": ["i0", "i0", "i1", "i0", "i1", "i2", "i1", "i2", "i3"],
        "rating": [5, 4, 5, 3, 4, 5, 5, 2, 5],
    })
    ds = InteractionDataset.from_dataframe(df, rating_scale=(1, 5), name="toy")
    test = np.zeros(len(df), dtype=bool)
    test[6:] = True
    return ds, Fold(ds.subset(~test), ds.subset(test), "toy-fold")


def test_known_answer_popularity_lists() -> None:
    ds, fold = _toy()
    res = evaluate("popularity", ds, [fold], n=1)
    (r,) = res.folds
    # Popularity ranks by training count: i0 (3) > i1 (2) > i2 (1); i3 is cold (never ranked).
    # u0 has seen i0 -> [i1], relevant {i1}: hit -> precision 1.
    # u1 has seen i0, i1 -> [i2]; its test item i2 is rated 2 < 4: no relevant item, skipped.
    # u2 has seen i0, i1, i2 -> [] (padding); relevant {i3}: precision 0.
    assert r.metrics["precision@1"] == pytest.approx(0.5)
    assert r.metrics["recall@1"] == pytest.approx(0.5)
    assert r.metrics["hit_rate@1"] == pytest.approx(0.5)
    # Recommended items {i1, i2} out of 4 in the catalogue.
    assert r.metrics["coverage"] == pytest.approx(0.5)
    assert r.n_test_users == 3 and r.n_test_ratings == 3
    assert res.relevance_threshold == 4.0


def test_accuracy_matches_direct_computation() -> None:
    ds, fold = _toy()
    res = evaluate(ModelSpec("baseline", {"regularization_user": 0, "regularization_item": 0}),
                   ds, [fold])
    model = ModelSpec("baseline", {"regularization_user": 0, "regularization_item": 0}).build()
    model.fit(fold.train)
    pred = model.predict_indices(fold.test.user_index, fold.test.item_index)
    assert res.folds[0].metrics["mae"] == pytest.approx(mae(fold.test.values, pred))
    assert res.folds[0].metrics["rmse"] == pytest.approx(rmse(fold.test.values, pred))


def test_summary_mean_and_std_over_folds() -> None:
    from synerec.data import load_dataset

    ds = load_dataset("demo-shop", n_users=150, n_items=300, random_state=3)
    res = evaluate(["popularity", "baseline"], ds, 3, random_state=0)
    frame = res.frame()
    assert len(frame) == 6 and set(frame["fold"]) == {"fold-1", "fold-2", "fold-3"}
    summ = res.summary()
    assert list(summ.index) == ["popularity", "baseline"]
    for model in ("popularity", "baseline"):
        rows = frame[frame["model"] == model]
        assert summ.loc[model, "rmse"] == pytest.approx(rows["rmse"].mean())
        assert summ.loc[model, "rmse_std"] == pytest.approx(rows["rmse"].std(ddof=0))
    out = res.to_dict()
    assert json.loads(json.dumps(out))["summary"]["baseline"]["rmse"] == pytest.approx(
        summ.loc["baseline", "rmse"])
    assert all(r.fit_seconds >= 0 and r.peak_memory_mb >= 0 for r in res.folds)


def test_make_folds_variants_and_errors() -> None:
    from synerec.data import load_dataset

    ds = load_dataset("demo-shop", n_users=80, n_items=100, random_state=1)
    assert len(make_folds(ds, 4)) == 4
    assert len(make_folds(ds, "3")) == 3
    (h,) = make_folds(ds, "holdout", test_size=0.25)
    assert abs(h.test.n_interactions - 0.25 * ds.n_interactions) <= 1
    (t,) = make_folds(ds, "last-1")
    assert t.test.n_interactions == ds.n_users  # every demo user has > 1 interaction
    (t20,) = make_folds(ds, "temporal")
    counts = np.bincount(ds.user_index, minlength=ds.n_users)
    held = np.bincount(t20.test.user_index, minlength=ds.n_users)
    # each user's latest ceil(20%) interactions, at most all but one
    assert (held == np.minimum(np.ceil(0.2 * counts - 1e-9), counts - 1)).all()
    latest_train = np.full(ds.n_users, -1)
    np.maximum.at(latest_train, t20.train.user_index, t20.train.timestamps)
    earliest_test = np.full(ds.n_users, np.iinfo(np.int64).max)
    np.minimum.at(earliest_test, t20.test.user_index, t20.test.timestamps)
    assert (latest_train <= earliest_test).all()
    with pytest.raises(ConfigError, match="no official splits"):
        make_folds(ds, "official")
    with pytest.raises(ConfigError, match="unknown folds 'sideways'"):
        make_folds(ds, "sideways")


def test_unknown_model_or_option_fails_before_fitting() -> None:
    ds, fold = _toy()
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        evaluate("nope", ds, [fold])
    with pytest.raises(ConfigError, match="bogus"):
        evaluate(ModelSpec("baseline", {"bogus": 1}), ds, [fold])


def test_default_relevance_threshold() -> None:
    assert default_relevance_threshold((1, 5)) == 4.0
    assert default_relevance_threshold((0.5, 5.0)) == pytest.approx(3.875)
    assert default_relevance_threshold(None) is None


def test_k_sweep_writes_table_json_and_plot(tmp_path) -> None:
    from synerec.data import load_dataset

    ds = load_dataset("demo-shop", n_users=120, n_items=200, random_state=5)
    res = k_sweep(ds, ["baseline", "no-such-model"], ks=[5, 10], folds=2)
    assert "unknown model 'no-such-model'" in res.unknown["no-such-model"]
    table = res.pivot("mae")
    assert list(table.index) == [5, 10] and list(table.columns) == ["baseline"]
    # A model without K runs once and is reported flat across K.
    assert table.loc[5, "baseline"] == table.loc[10, "baseline"]
    paths = write_k_sweep(res, tmp_path / "sweep")
    data = json.loads(paths["json"].read_text())
    assert data["ks"] == [5, 10] and data["unknown"].keys() == {"no-such-model"}
    md = paths["table"].read_text()
    assert "| K | baseline |" in md and "no-such-model" in md
    png = paths["mae_plot"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
