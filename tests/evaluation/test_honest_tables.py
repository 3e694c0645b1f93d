"""Honest evaluation figures: test users, hits, cold share and paired bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synerec.data import cold_share, load_dataset
from synerec.evaluation import evaluate, make_folds
from synerec.evaluation.runner import EvaluationResult, FoldResult
from synerec.exceptions import ConfigError


def _fold_result(model: str, fold: str, ndcg: list[float], hits: int) -> FoldResult:
    return FoldResult(model=model, fold=fold, config={}, metrics={"ndcg@10": float(np.nanmean(
        ndcg))}, fit_seconds=0.0, predict_seconds=0.0, recommend_seconds=0.0,
        peak_memory_mb=0.0, n_test_ratings=len(ndcg), n_test_users=len(ndcg), n_hits=hits,
        cold_share=0.5, ndcg_per_user=np.asarray(ndcg, dtype=np.float64))


def _result() -> EvaluationResult:
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 0.3, 200)
    folds = []
    for fold in ("f1", "f2"):
        folds += [_fold_result("ease", fold, list(base + 0.2), 150),
                  _fold_result("popularity", fold, list(base), 80),
                  _fold_result("noise", fold, list(base + rng.normal(0, 0.01, 200)), 81)]
    return EvaluationResult(folds, 10, None, "toy")


def test_reference_defaults_to_popularity_else_first() -> None:
    r = _result()
    assert r.reference() == "popularity"
    assert r.reference("ease") == "ease"
    with pytest.raises(ConfigError, match="--against 'nope'"):
        r.reference("nope")
    only = EvaluationResult([f for f in r.folds if f.model != "popularity"], 10, None, "toy")
    assert only.reference() == "ease"


def test_paired_differences_and_indistinguishable() -> None:
    d = _result().differences()
    assert set(d) == {"ease", "noise"}
    assert d["ease"]["against"] == "popularity"
    assert d["ease"]["low"] <= 0.2 <= d["ease"]["high"] and not d["ease"]["indistinguishable"]
    assert abs(d["ease"]["mean"] - 0.2) < 1e-9
    assert d["noise"]["low"] <= 0 <= d["noise"]["high"] and d["noise"]["indistinguishable"]


def test_summary_sums_users_and_hits_and_averages_cold_share() -> None:
    s = _result().summary()
    assert s.loc["ease", "test_users"] == 400 and s.loc["ease", "hits"] == 300
    assert s.loc["popularity", "hits"] == 160
    assert s.loc["ease", "cold_share"] == pytest.approx(0.5)
    assert "hits_std" not in s.columns and "cold_share_std" not in s.columns


def test_evaluate_reports_users_hits_cold_share_in_json() -> None:
    ds = load_dataset("demo-shop")
    r = evaluate(["popularity", "item-cf"], ds, "holdout", random_state=1)
    fold = make_folds(ds, "holdout", random_state=1)[0]
    for f in r.folds:
        assert 0 < f.n_hits <= f.n_test_users
        assert f.cold_share == pytest.approx(cold_share(fold.train, fold.test))
        assert f.ndcg_per_user is not None and len(f.ndcg_per_user) == f.n_test_users
    data = json.loads(json.dumps(r.to_dict()))
    assert data["against"] == "popularity"
    assert set(data["differences"]) == {"item-cf"}
    diff = data["differences"]["item-cf"]
    assert diff["low"] <= diff["mean"] <= diff["high"]
    assert data["summary"]["item-cf"]["hits"] == r.folds[1].n_hits
    assert "ndcg_per_user" not in data["folds"][0] and "n_hits" in data["folds"][0]
    assert data["differences"] == json.loads(json.dumps(r.to_dict("popularity")))["differences"]
