"""The ablation runner, its paired bootstrap and the ``synerec experiment ablation`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synerec.cli.main import main
from synerec.data.demo_shop import generate_demo_shop
from synerec.evaluation.ablation import (
    default_rows,
    paired_bootstrap,
    run_ablation,
    write_ablation,
)

FAST = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 20, "min_data_in_leaf": 5,
        "num_leaves": 7, "n_candidates": 30}


def test_paired_bootstrap() -> None:
    assert paired_bootstrap(np.full(50, 0.25), 200) == (0.25, 0.25, 0.25)
    rng = np.random.default_rng(1)
    d = rng.normal(0.1, 1.0, 4000)
    mean, low, high = paired_bootstrap(np.r_[d, np.nan, np.nan], 1000, random_state=3)
    assert mean == pytest.approx(d.mean())  # NaN units are left out
    half = 1.96 * d.std() / np.sqrt(len(d))  # the normal approximation of the interval
    assert low == pytest.approx(mean - half, abs=0.2 * half)
    assert high == pytest.approx(mean + half, abs=0.2 * half)
    # the same seed, the same interval; a slow reference of the percentile bootstrap
    assert paired_bootstrap(d[:30], 500, random_state=9) == paired_bootstrap(
        d[:30], 500, random_state=9)
    ref_rng = np.random.default_rng(9)
    means = [d[:30][ref_rng.integers(0, 30, size=30)].mean() for _ in range(1)]
    assert np.isfinite(means[0])
    assert np.isnan(paired_bootstrap(np.array([np.nan]), 100)[0])


def test_run_ablation_rows_and_paired_differences(tmp_path: Path) -> None:
    shop = generate_demo_shop(n_users=90, n_items=110, ratings_per_user=20, random_state=5)
    rows = default_rows(["item-cf", "t-item-cf", "popularity"], FAST)
    assert [r.label for r in rows] == ["item-cf", "t-item-cf", "popularity",
                                       "hybrid (CF features)", "+ text features"]
    assert rows[3].spec.config["features"] == ["cf"]
    assert rows[3].spec.config["retrievers"] == ["item-cf", "popularity"]
    assert rows[0].spec.config["similarity"] == "cosine"  # the hybrid's own settings
    result = run_ablation(shop, rows, "holdout", n_boot=300, random_state=0)
    assert [r["label"] for r in result.rows] == [r.label for r in rows]
    n_units = {len(v["ndcg@10"]) for v in result.per_user.values()}
    assert len(n_units) == 1
    for k in range(1, len(rows)):
        prev, cur = result.rows[k - 1], result.rows[k]
        for m in ("ndcg@10", "precision@10", "recall@10"):
            d = cur["delta"][m]
            # paired over the same users: the mean difference is the difference of means
            assert d["mean"] == pytest.approx(cur[m] - prev[m], abs=1e-12)
            assert d["low"] <= d["mean"] <= d["high"]
    hybrid = result.rows[3]
    assert hybrid["extra"][0]["ranker_kind"] == "lambdarank"
    assert hybrid["extra"][0]["validation"]["split"] == "random"  # mirrors the holdout split
    paths = write_ablation(result, tmp_path / "out")
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(paths["json"].read_text())
    assert [r["label"] for r in data["rows"]] == [r.label for r in rows]
    table = paths["table"].read_text()
    assert "| + text features |" in table and "[" in table


def test_ablation_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = generate_demo_shop(n_users=70, n_items=90, ratings_per_user=15, random_state=2)
    csv = tmp_path / "shop.csv"
    shop.to_dataframe().to_csv(csv, index=False)
    code = main(["experiment", "ablation", "--dataset", str(csv), "--folds", "holdout",
                 "--retrievers", "item-cf,popularity", "--out", str(tmp_path / "abl"),
                 "--bootstrap", "200", "--param", "num_threads=1", "--param",
                 "n_estimators=15", "--param", "min_data_in_leaf=5"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Ablation on shop.csv" in out.out
    assert "…" not in out.out, out.out  # nothing cut at the default 80 columns
    assert max(len(line) for line in out.out.splitlines()) <= 80, out.out
    data = json.loads((tmp_path / "abl" / "results.json").read_text())
    for row in data["rows"]:
        assert row["label"] in out.out and f"{row['ndcg@10']:.4f}" in out.out
        d = row.get("delta", {}).get("ndcg@10")
        if d is not None:
            assert f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" in out.out
    assert "| hybrid (CF features) |" in (tmp_path / "abl" / "table.md").read_text()
    assert (tmp_path / "abl" / "ablation.png").is_file()
    assert main(["experiment", "ablation", "--users", "0", "--out", str(tmp_path)]) == 2
    assert "--users must be at least 1" in capsys.readouterr().err
    assert main(["experiment", "ablation", "--llm", "bogus", "--out", str(tmp_path)]) == 2
    assert "--llm must be none, local or openai" in capsys.readouterr().err
    assert main(["experiment", "ablation", "--param", "no_such=1", "--out",
                 str(tmp_path)]) == 2
    assert "no_such" in capsys.readouterr().err


def test_ablation_on_named_official_folds_and_a_user_sample() -> None:
    import dataclasses

    shop = generate_demo_shop(n_users=90, n_items=110, ratings_per_user=20, random_state=5)
    rng = np.random.default_rng(3)
    n = shop.n_interactions
    masks = {"s1": rng.random(n) < 0.2, "s2": rng.random(n) < 0.2}
    shop = dataclasses.replace(shop, splits=masks)
    rows = default_rows(["item-cf", "popularity"], FAST)[:3]  # two retrievers, the hybrid
    result = run_ablation(shop, rows, "s2", n_boot=200, max_users=25)
    assert result.folds == ["s2"] and result.max_users == 25
    assert {len(v["ndcg@10"]) for v in result.per_user.values()} == {25}
    assert result.rows[2]["extra"][0]["validation"]["split"] == "random"  # like the folds
    assert "at most 25 test users per fold" in result.to_markdown()
    assert result.to_dict()["max_users_per_fold"] == 25
    with pytest.raises(Exception, match="max_users must be at least 1"):
        run_ablation(shop, rows, "s1", max_users=0)


def test_evaluate_mirrors_the_test_split_in_the_hybrids_validation() -> None:
    from synerec.evaluation import ModelSpec
    from synerec.evaluation.runner import hybrid_validation_for, mirror_validation

    assert hybrid_validation_for("temporal") == "temporal"
    assert hybrid_validation_for("last-1") == "temporal"
    assert hybrid_validation_for("official") == "random"
    assert hybrid_validation_for(5) == "random"
    assert hybrid_validation_for([]) is None
    spec = ModelSpec("hybrid", {"n_candidates": 20}, "h")
    mirrored = mirror_validation(spec, "random")
    assert dict(mirrored.config) == {"n_candidates": 20, "validation": "random"}
    assert mirrored.display == "h"
    own = ModelSpec("hybrid", {"validation": "temporal"})
    assert mirror_validation(own, "random") is own  # the configuration's own choice is kept
    ease = ModelSpec("ease")
    assert mirror_validation(ease, "random") is ease


def test_retrievers_for_explicit_ratings_only_are_no_rows_on_implicit_data() -> None:
    import dataclasses

    shop = generate_demo_shop(n_users=60, n_items=80, ratings_per_user=15, random_state=4)
    rows = default_rows(["ease", "ease-all", "popularity"], FAST)[:3]
    assert [r.explicit_only for r in rows] == [False, True, False]
    purchases = dataclasses.replace(shop, rating_scale=None)
    result = run_ablation(purchases, rows, "holdout", n_boot=100)
    assert [r["label"] for r in result.rows] == ["ease", "popularity"]
    result = run_ablation(shop, rows[:2], "holdout", n_boot=100)  # ratings: both rows
    assert [r["label"] for r in result.rows] == ["ease", "ease-all"]
