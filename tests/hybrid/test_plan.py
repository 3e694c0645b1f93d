"""The hybrid's fit plan: the estimate from the data's shape, the switches, the refusal
(issue 25)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.data.demo_shop import generate_demo_shop
from synerec.exceptions import ConfigError
from synerec.hybrid import HybridRanker
from synerec.hybrid.config import HybridConfig
from synerec.hybrid.plan import DENSE_EASE_SHARE, DataShape, plan_fit

GiB = 2**30
RETRIEVERS = [("ease", "ease", {}), ("als", "als", {"factors": 64}),
              ("item-cf", "item-cf", {}), ("user-cf", "user-cf", {}),
              ("popularity", "popularity", {})]


def test_the_shape_by_hand() -> None:
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=np.float32))
    s = DataShape.of(X, 3)
    assert (s.users, s.items, s.interactions, s.text_items) == (3, 3, 6, 3)
    assert s.user_pairs == 2**2 + 1**2 + 3**2  # items per user, squared
    assert s.item_pairs == 3**2 + 2**2 + 1**2  # users per item, squared
    half = s.scaled(0.5)
    assert half.interactions == 3 and half.user_pairs == pytest.approx(14 / 4)


def _shape(users: int, items: int, nnz: int) -> DataShape:
    per_user, per_item = nnz / users, nnz / items
    return DataShape(users, items, nnz, items, users * per_user**2 * 2,
                     items * per_item**2 * 20)


def test_a_small_shop_is_planned_as_configured() -> None:
    plan = plan_fit(HybridConfig(), RETRIEVERS, _shape(943, 1682, 80_000), n_features=40,
                    label_users=943, limit=(8 * GiB, "test"))
    assert plan.switches == () and plan.retrievers == tuple(r[0] for r in RETRIEVERS)
    assert plan.retriever_params == {}
    assert [s.name for s in plan.stages] == [
        "text embedding (uncached)", *(f"{r[0]} (validation part)" for r in RETRIEVERS),
        "training table", "ranker", *(f"{r[0]} (refit)" for r in RETRIEVERS),
        "statistics and save"]
    assert plan.peak_bytes < 8 * GiB
    plan.check()
    lines = plan.lines()
    assert lines[0].startswith("hybrid: plan for 943 users x 1,682 items x 80,000 interactions")
    assert len(lines) == 1 + len(plan.stages)


def test_dense_ease_is_switched_to_sparse_when_it_would_take_too_much() -> None:
    items = 20_000
    need = 4.0 * items**2
    limit = int(need / DENSE_EASE_SHARE) - 1  # one byte short
    plan = plan_fit(HybridConfig(), RETRIEVERS, _shape(50_000, items, 1_000_000),
                    n_features=40, label_users=50_000, limit=(limit, "test"))
    assert plan.retriever_params == {"ease": {"variant": "sparse"}}
    assert any("ease: the dense variant would need 1.5 GiB" in s for s in plan.switches)
    roomy = plan_fit(HybridConfig(), RETRIEVERS, _shape(50_000, items, 1_000_000),
                     n_features=40, label_users=50_000, limit=(limit + 2, "test"))
    assert roomy.switches == ()
    # the variant the caller gave is never switched (another option of theirs is kept)
    given = HybridConfig(retriever_params={"ease": {"variant": "dense"}})
    kept = plan_fit(given, RETRIEVERS, _shape(50_000, items, 1_000_000), n_features=40,
                    label_users=50_000, limit=(limit, "test"))
    assert kept.retriever_params == {"ease": {"variant": "dense"}} and kept.switches == ()
    other = HybridConfig(retriever_params={"ease": {"lambda_": 100.0}})
    switched = plan_fit(other, RETRIEVERS, _shape(50_000, items, 1_000_000), n_features=40,
                        label_users=50_000, limit=(limit, "test"))
    assert switched.retriever_params == {"ease": {"lambda_": 100.0, "variant": "sparse"}}


def test_a_retriever_too_slow_for_the_data_is_left_out_and_said() -> None:
    # 500k customers x 50k products x 10M purchases: EASE's dense inverse would take about
    # 16 minutes (sparse instead), user-cf about 23 (left out)
    shape = DataShape(500_000, 50_000, 10_000_000, 50_000, 2e8, 1e11)
    plan = plan_fit(HybridConfig(), RETRIEVERS, shape, n_features=40, label_users=500_000,
                    limit=(200 * GiB, "test"))
    assert plan.retrievers == ("ease", "als", "item-cf", "popularity")
    assert plan.left_out == ("user-cf",)
    assert plan.retriever_params == {"ease": {"variant": "sparse"}}
    assert any(s.startswith("hybrid: user-cf is left out: its fit would take about 23.")
               for s in plan.switches)
    # a retriever the caller configured is kept, whatever it costs
    given = HybridConfig(retriever_params={"user-cf": {"k": 20}})
    assert "user-cf" in plan_fit(given, RETRIEVERS, shape, n_features=40,
                                 label_users=500_000, limit=(200 * GiB, "test")).retrievers


def test_a_fit_beyond_the_memory_is_refused_in_one_line() -> None:
    plan = plan_fit(HybridConfig(), RETRIEVERS, _shape(1_000_000, 100_000, 20_000_000),
                    n_features=40, label_users=1_000_000, limit=(2 * GiB, "test"))
    with pytest.raises(ConfigError) as err:
        plan.check()
    text = str(err.value)
    assert "\n" not in text and "more than the 2.0 GiB allowed (test)" in text
    assert "--model als" in text and "SYNEREC_MEMORY_LIMIT_MB" in text


def test_the_fit_announces_its_plan_and_is_refused_before_embedding(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = generate_demo_shop(n_users=80, n_items=60, ratings_per_user=10, random_state=3)
    fast = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 10, "min_data_in_leaf": 5}
    with caplog.at_level(logging.INFO, logger="synerec.progress"):
        HybridRanker(**fast).fit(shop)
    plan_lines = [r.getMessage() for r in caplog.records if "hybrid: plan" in r.getMessage()]
    assert plan_lines[0].startswith("hybrid: plan for 80 users x 60 items")
    assert any("ease (validation part)" in line for line in plan_lines)
    embedded: list[int] = []
    monkeypatch.setattr("synerec.hybrid.model.item_side",
                        lambda *a, **k: embedded.append(1))  # never reached
    monkeypatch.setenv("SYNEREC_MEMORY_LIMIT_MB", "1")
    with pytest.raises(ConfigError, match=r"more than the 0\.0 GiB allowed"):
        HybridRanker(**fast).fit(shop)
    assert embedded == []


def test_the_cli_prints_the_plan_without_fitting(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from synerec.cli.main import main

    shop = generate_demo_shop(n_users=60, n_items=40, ratings_per_user=8, random_state=5)
    data = tmp_path / "ratings.csv"
    pd.DataFrame({"user_id": shop.users.ids[shop.user_index],
                  "item_id": shop.items.ids[shop.item_index], "rating": shop.values,
                  "timestamp": shop.timestamps}).to_csv(data, index=False)
    out = tmp_path / "model"
    assert main(["fit", "--data", str(data), "--model", "hybrid", "--out", str(out),
                 "--estimate"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("hybrid: plan for 60 users x 40 items x")
    assert any(line.startswith("hybrid: plan: ranker") for line in printed)
    assert not out.exists()  # nothing fitted, nothing written
    assert main(["fit", "--data", str(data), "--model", "item-cf", "--out", str(out),
                 "--estimate"]) == 2
    assert "--estimate plans the hybrid's fit; item-cf has no plan" in capsys.readouterr().err
    assert main(["fit", "--data", str(data), "--out", str(out), "--address", "auto"]) == 2
    assert "--address needs --engine ray" in capsys.readouterr().err
    assert not out.exists()
