"""Slices of the protocols for new items (all, warm-items, cold-items, cold-shelf, new-users),
the folds that make them, and their place in the evaluation's results."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.data import InteractionDataset
from synerec.data.splits import Fold, cold_item_split, global_temporal_split, leave_one_out_split
from synerec.evaluation import evaluate, make_folds
from synerec.evaluation.ablation import AblationRow, run_ablation
from synerec.evaluation.runner import ModelSpec, hybrid_validation_for, protocol_note
from synerec.evaluation.slices import (
    SLICE_METRICS,
    fold_slices,
    measure_slices,
    slice_depth,
    slice_metric_names,
)
from synerec.evaluation.tuning import parse_objective, tune
from synerec.exceptions import ConfigError
from tests.data.test_splits import logs

#: NDCG of a list whose only hit is at rank 1, with two relevant items: 1 / (1 + 1/log2(3)).
NDCG_1_OF_2 = 1.0 / (1.0 + 1.0 / math.log2(3))


def _toy() -> tuple[InteractionDataset, Fold]:
    """Implicit. Train: u0 {i0, i1}, u1 {i0, i2}, u2 {i1}; cold items i3, i4.
    Test: u0 {i2 (warm), i3 (cold)}, u1 {i1 (warm)}, u2 {i4, i3 (cold)}.
    New user u3 (no training row): {i0}."""
    pairs = [("u0", "i0"), ("u0", "i1"), ("u1", "i0"), ("u1", "i2"), ("u2", "i1"),  # train
             ("u0", "i2"), ("u0", "i3"), ("u1", "i1"), ("u2", "i4"), ("u2", "i3"),  # test
             ("u3", "i0")]  # new user
    df = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    ds = InteractionDataset.from_dataframe(df, implicit=True, rating_col=None, name="toy")
    part = np.array([0] * 5 + [1] * 5 + [2])
    cold = np.isin(ds.items.ids_of(np.arange(ds.n_items)), ["i3", "i4"])
    fold = Fold(ds.subset(part == 0), ds.subset(part == 1), "toy", cold_items=cold,
                new_users=ds.subset(part == 2))
    return ds, fold


def _idx(ds: InteractionDataset, kind: str, ids: list[str]) -> list[int]:
    vocab = ds.users if kind == "user" else ds.items
    return [int(i) for i in vocab.indices(ids)]


def test_fold_slices_by_hand() -> None:
    ds, fold = _toy()
    slices = {s.name: s for s in fold_slices(fold)}
    assert list(slices) == ["all", "warm-items", "cold-items", "cold-shelf", "new-users"]
    u = _idx(ds, "user", ["u0", "u1", "u2", "u3"])
    counts = {name: (s.n_users, s.n_pairs) for name, s in slices.items()}
    assert counts == {"all": (3, 5), "warm-items": (2, 2), "cold-items": (2, 3),
                      "cold-shelf": (2, 3), "new-users": (1, 1)}
    assert slices["warm-items"].users.tolist() == sorted([u[0], u[1]])
    assert slices["cold-items"].users.tolist() == sorted([u[0], u[2]])
    assert slices["new-users"].users.tolist() == [u[3]]
    assert slices["cold-shelf"].source == "shelf"
    np.testing.assert_array_equal(slices["cold-shelf"].candidates, fold.cold_items)


def test_a_fold_without_cold_items_has_no_slices() -> None:
    _, fold = _toy()
    assert fold_slices(fold._replace(cold_items=None)) == []


def test_popularity_on_the_slices_by_hand() -> None:
    ds, fold = _toy()
    res = evaluate("popularity", ds, [fold], n=10)
    (r,) = res.folds
    s = r.slices
    # Training counts i0 2, i1 2, i2 1 (ties by index); cold items are never ranked.
    # u0 (seen i0, i1): [i2]; u1 (seen i0, i2): [i1]; u2 (seen i1): [i0, i2]; u3: [i0, i1, i2].
    assert (s["all"].n_users, s["all"].n_pairs, s["all"].n_hits) == (3, 5, 2)
    assert s["all"].metrics["ndcg@10"] == pytest.approx((NDCG_1_OF_2 + 1 + 0) / 3)
    assert s["all"].metrics["recall@10"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert s["all"].metrics["recall@20"] == pytest.approx((0.5 + 1 + 0) / 3)
    # warm: u0 {i2} hit at 1, u1 {i1} hit at 1
    assert (s["warm-items"].n_users, s["warm-items"].n_hits) == (2, 2)
    assert s["warm-items"].metrics["ndcg@10"] == pytest.approx(1.0)
    assert s["warm-items"].metrics["ndcg@100"] == pytest.approx(1.0)
    # cold: nothing ranks i3 or i4, among all items or on the shelf
    for name in ("cold-items", "cold-shelf"):
        assert (s[name].n_users, s[name].n_pairs, s[name].n_hits) == (2, 3, 0)
        assert s[name].metrics["recall@20"] == 0.0
    # the new user gets the popularity list: i0 first
    assert (s["new-users"].n_users, s["new-users"].n_hits) == (1, 1)
    assert s["new-users"].metrics["ndcg@10"] == pytest.approx(1.0)
    # the per-user NDCG of "all", in user order: u0, u1, u2
    np.testing.assert_allclose(s["all"].ndcg_per_user, [NDCG_1_OF_2, 1.0, 0.0])
    # the main figures are the same lists cut at n
    assert r.metrics["ndcg@10"] == pytest.approx(s["all"].metrics["ndcg@10"])
    assert r.n_hits == 2 and r.n_test_users == 3


class _Fixed:
    """A stand-in with fixed preferences (a model that scores cold items): items ranked by
    ``order``, training items excluded, restricted to ``candidates``."""

    def __init__(self, order: list[int], seen: dict[int, set[int]]) -> None:
        self.order, self.seen = order, seen

    def recommend_indices(self, users: Any, n: int, *, exclude_seen: bool = True,
                          candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        out = np.full((len(users), n), -1, dtype=np.int64)
        for k, u in enumerate(users):
            items = [i for i in self.order if i not in self.seen.get(int(u), set())
                     and (candidates is None or candidates[i])][:n]
            out[k, :len(items)] = items
        return out, np.zeros(out.shape, dtype=np.float32)


def test_cold_shelf_ranks_among_the_cold_items_only() -> None:
    ds, fold = _toy()
    i0, i1, i2, i3, i4 = _idx(ds, "item", ["i0", "i1", "i2", "i3", "i4"])
    u0, u1, u2 = _idx(ds, "user", ["u0", "u1", "u2"])
    seen = {u0: {i0, i1}, u1: {i0, i2}, u2: {i1}}
    # among all items: i0 i1 i2 i4 i3; among the cold ones: i4 i3
    model = _Fixed([i0, i1, i2, i4, i3], seen)
    s = measure_slices(model, fold_slices(fold), n=2)
    # cold-items, n=2: u0 [i2, i4] relevant {i3}: no hit in 2 -> NDCG@2 0, recall@10 1
    # (i3 at rank 3); u2 [i0, i2] relevant {i4, i3}: NDCG@2 0, recall@10 1.
    assert s["cold-items"].n_hits == 0
    assert s["cold-items"].metrics["ndcg@2"] == 0.0
    assert s["cold-items"].metrics["recall@10"] == pytest.approx(1.0)
    # cold-shelf, n=2: u0 [i4, i3]: i3 at rank 2 -> NDCG 1/log2(3); u2 [i4, i3]: both, 1.
    assert s["cold-shelf"].n_hits == 2
    np.testing.assert_allclose(s["cold-shelf"].ndcg_per_user, [1 / math.log2(3), 1.0])
    assert s["cold-shelf"].metrics["recall@10"] == pytest.approx(1.0)


def test_metric_names_and_depth() -> None:
    assert slice_metric_names(10)[:4] == list(SLICE_METRICS)
    assert slice_metric_names(5, ["precision@3"]) == [*SLICE_METRICS, "ndcg@5", "recall@5",
                                                       "precision@3"]
    assert slice_depth(10, slice_metric_names(10)) == 100
    assert slice_depth(150, slice_metric_names(150)) == 150
    with pytest.raises(ConfigError, match="slice metric"):
        slice_metric_names(10, ["rmse"])


@settings(max_examples=40, deadline=None)
@given(data=logs(min_size=4), share=st.floats(0.2, 0.8), seed=st.integers(0, 5),
       threshold=st.sampled_from([None, 3.0]), temporal=st.booleans())
def test_the_slices_partition_the_test_pairs(data: InteractionDataset, share: float, seed: int,
                                             threshold: float | None, temporal: bool) -> None:
    try:
        fold = (global_temporal_split(data, share) if temporal else
                cold_item_split(data, share, random_state=seed))
    except ConfigError:  # a cut or a share that leaves one side empty
        return
    slices = {s.name: s for s in fold_slices(fold, threshold)}
    test = fold.test.matrix
    relevant = test.multiply(test >= threshold) if threshold is not None else test
    n_relevant = int((relevant != 0).sum())

    def pairs(name: str) -> set[tuple[int, int]]:
        s = slices[name]
        rows, cols = s.relevant.nonzero()
        return set(zip(s.users[rows].tolist(), cols.tolist(), strict=True))

    all_, warm, cold = pairs("all"), pairs("warm-items"), pairs("cold-items")
    assert len(all_) == slices["all"].n_pairs == n_relevant
    assert warm | cold == all_ and not warm & cold
    assert slices["warm-items"].n_pairs + slices["cold-items"].n_pairs == slices["all"].n_pairs
    assert pairs("cold-shelf") == cold
    assert fold.cold_items is not None
    assert all(fold.cold_items[i] for _, i in cold) and not any(fold.cold_items[i]
                                                                for _, i in warm)
    # users: each in a slice has a relevant pair there; all's are the union of the two
    users = {name: set(s.users.tolist()) for name, s in slices.items()}
    assert users["all"] == users["warm-items"] | users["cold-items"]
    assert slices["all"].n_users <= slices["warm-items"].n_users + slices["cold-items"].n_users
    for s in slices.values():
        assert (np.diff(s.relevant.indptr) > 0).all()
    # new users: their held-out relevant pairs, none of them a test user
    if "new-users" in slices:
        assert not users["new-users"] & users["all"]
    # measured: hits of all are at most warm's plus cold's
    model = ModelSpec("popularity").build().fit(fold.train)
    res = measure_slices(model, list(slices.values()))
    assert set(res) == set(slices)
    assert res["all"].n_hits <= res["warm-items"].n_hits + res["cold-items"].n_hits
    assert res["all"].n_hits >= max(res["warm-items"].n_hits, res["cold-items"].n_hits)
    assert res["cold-items"].n_hits == 0  # popularity never ranks an item without training


def test_json_shape_and_intervals_per_slice() -> None:
    ds, fold = _toy()
    res = evaluate(["popularity", ModelSpec("item-cf", {"k": 2}, "item-cf")], ds, [fold])
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d["slices"]) == {"popularity", "item-cf"}
    for model in d["slices"]:
        assert list(d["slices"][model]) == ["all", "warm-items", "cold-items", "cold-shelf",
                                            "new-users"]
        for entry in d["slices"][model].values():
            assert {"users", "pairs", "hits", "ndcg@10", "recall@10", "recall@20",
                    "ndcg@100"} <= set(entry)
    assert d["slices"]["popularity"]["all"]["users"] == 3
    assert d["summary"]["popularity"]["ndcg@10"] == pytest.approx(
        d["slices"]["popularity"]["all"]["ndcg@10"])
    diff = d["slice_differences"]["item-cf"]
    assert set(diff) == set(d["slices"]["item-cf"])
    assert diff["all"]["against"] == "popularity"
    assert {"mean", "low", "high", "indistinguishable"} <= set(diff["all"])
    assert d["folds"][0]["slices"]["warm-items"]["pairs"] == 2
    # a fold without slices: an empty mapping, the rest as before
    plain = evaluate("popularity", ds, [fold._replace(cold_items=None)]).to_dict()
    assert plain["slices"] == {} and plain["slice_differences"] == {}


def test_ablation_reports_slices_with_differences_from_the_row_above() -> None:
    ds, fold = _toy()
    rows = [AblationRow("popularity", ModelSpec("popularity"), "retriever"),
            AblationRow("item-cf", ModelSpec("item-cf", {"k": 2}), "retriever")]
    res = run_ablation(ds, rows, [fold], n_boot=100)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["slices"]["popularity"]["warm-items"]["users"] == 2
    assert d["slices"]["popularity"]["all"]["ndcg@10"] == pytest.approx(
        (NDCG_1_OF_2 + 1 + 0) / 3)
    assert "delta" not in d["slices"]["popularity"]["all"]
    assert {"mean", "low", "high"} <= set(d["slices"]["item-cf"]["all"]["delta"])
    assert "## Slices" in res.to_markdown()


def _dated(rows: list[tuple[str, str, int]]) -> InteractionDataset:
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return InteractionDataset.from_dataframe(df, implicit=True, rating_col=None, name="seq")


def test_leave_one_out_holds_out_the_last_item_and_the_one_before_for_validation() -> None:
    data = _dated([("a", "x", 1), ("a", "y", 2), ("a", "z", 3),  # test z, validation y
                   ("b", "x", 5), ("b", "w", 4),                # test x (later), no validation
                   ("c", "y", 1)])                              # one item: training only
    fold = leave_one_out_split(data)
    assert fold.name == "leave-one-out"

    def pairs(part: InteractionDataset) -> set[tuple[str, str]]:
        return set(zip(part.users.ids_of(part.user_index).tolist(),
                       part.items.ids_of(part.item_index).tolist(), strict=True))

    assert pairs(fold.test) == {("a", "z"), ("b", "x")}
    assert pairs(fold.train) == {("a", "x"), ("a", "y"), ("b", "w"), ("c", "y")}
    assert fold.validation is not None and fold.validation.name == "leave-one-out:validation"
    assert pairs(fold.validation.test) == {("a", "y")}
    assert pairs(fold.validation.train) == {("a", "x"), ("b", "w"), ("c", "y")}
    with pytest.raises(ConfigError, match="no timestamps; leave-one-out"):
        leave_one_out_split(InteractionDataset.from_dataframe(
            pd.DataFrame({"user_id": ["a"], "item_id": ["x"]}), implicit=True, rating_col=None))


def test_make_folds_protocols_and_their_errors() -> None:
    data = _dated([(f"u{u}", f"i{(u + k) % 7}", 10 * k + u) for u in range(6) for k in range(4)])
    (g,) = make_folds(data, "global-temporal", cutoff="0.5")  # text: a fraction
    assert g.name.startswith("global-temporal@0.5") and g.cold_items is not None
    (c,) = make_folds(data, "cold-items", cold_share=0.3, random_state=1)
    assert c.name == "cold-items" and c.validation is not None
    (lo,) = make_folds(data, "leave-one-out")
    assert lo.name == "leave-one-out"
    with pytest.raises(ConfigError, match="cutoff applies to the global-temporal folds only"):
        make_folds(data, "holdout", cutoff="2011-09-01")
    with pytest.raises(ConfigError, match="need a cutoff"):
        make_folds(data, "global-temporal")
    with pytest.raises(ConfigError, match="cold share applies to the cold-items folds only"):
        make_folds(data, "temporal", cold_share=0.2)
    with pytest.raises(ConfigError, match="not a date"):
        make_folds(data, "global-temporal", cutoff="soon")
    with pytest.raises(ConfigError, match="unknown folds 'nope'"):
        make_folds(data, "nope")
    assert hybrid_validation_for("global-temporal") == "global-temporal"
    assert hybrid_validation_for("leave-one-out") == "temporal"
    assert hybrid_validation_for("cold-items") == "random"
    assert "full ranking, no sampled negatives" in (protocol_note("leave-one-out") or "")


def test_parse_objective() -> None:
    assert parse_objective("ndcg@10") == (None, "ndcg@10", 10)
    assert parse_objective("cold-items:recall@20") == ("cold-items", "recall@20", 20)
    assert parse_objective("Cold-Shelf:NDCG@100") == ("cold-shelf", "ndcg@100", 100)
    with pytest.raises(ConfigError, match="unknown slice 'warm'"):
        parse_objective("warm:ndcg@10")
    with pytest.raises(ConfigError, match="not a slice metric"):
        parse_objective("cold-items:rmse")


def test_tune_chooses_on_the_folds_own_validation_part() -> None:
    pytest.importorskip("optuna")
    data = _dated([(f"u{u}", f"i{(u * 3 + k) % 12}", 10 * k + u) for u in range(20)
                   for k in range(6)])
    (fold,) = make_folds(data, "cold-items", cold_share=0.34, random_state=0)
    assert fold.validation is not None
    res = tune(fold.train, "item-cf", metric="cold-items:recall@20", n_trials=2,
               validation=fold.validation, random_state=0)
    assert res.metric == "cold-items:recall@20"
    assert res.validation["split"] == "cold-items:validation" and res.validation["share"] is None
    assert res.best_value == 0.0  # item-cf cannot rank an item without training data
    with pytest.raises(ConfigError, match="has no 'cold-items' slice"):
        tune(fold.train, "item-cf", metric="cold-items:recall@20", n_trials=1,
             validation=leave_one_out_split(data).validation)


@settings(max_examples=30, deadline=None)
@given(data=logs(min_size=2))
def test_leave_one_out_is_the_per_user_temporal_split_twice(data: InteractionDataset) -> None:
    from synerec.data.splits import temporal_split

    fold = leave_one_out_split(data)
    first = temporal_split(data, 1)
    inner = temporal_split(first.train, 1)
    assert fold.validation is not None
    for a, b in ((fold.train, first.train), (fold.test, first.test),
                 (fold.validation.train, inner.train), (fold.validation.test, inner.test)):
        assert (a.matrix != b.matrix).nnz == 0 and len(a) == len(b)
