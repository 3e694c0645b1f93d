"""Top-N ranking metrics: hand-computed answers, a slow reference, hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.exceptions import ConfigError
from synerec.metrics import (
    aggregate,
    average_precision_at_n,
    hit_rate_at_n,
    hit_rate_at_n_score,
    map_at_n,
    mrr,
    ndcg_at_n,
    ndcg_at_n_score,
    precision_at_n,
    precision_at_n_score,
    ranking_metrics,
    recall_at_n,
    recall_at_n_score,
    reciprocal_rank,
    relevant_from_test,
)
from tests.conftest import require_dataset

PER_USER = {
    "precision": precision_at_n,
    "recall": recall_at_n,
    "ndcg": ndcg_at_n,
    "hit_rate": hit_rate_at_n,
    "map": average_precision_at_n,
    "mrr": reciprocal_rank,
}
SCORES = {
    "precision": precision_at_n_score,
    "recall": recall_at_n_score,
    "ndcg": ndcg_at_n_score,
    "hit_rate": hit_rate_at_n_score,
    "map": map_at_n,
    "mrr": mrr,
}


# ---------------------------------------------------------------------------------------------
# Slow, obviously-correct reference: one user at a time, with Python sets.
# ---------------------------------------------------------------------------------------------


def reference(rec_row: list[int], rel: set[int], n: int) -> dict[str, float]:
    """Every metric of one list, straight from the textbook definitions."""
    if not rel:
        return dict.fromkeys(PER_USER, math.nan)
    top = rec_row[:n]
    hits = [1 if (i >= 0 and i in rel) else 0 for i in top]
    dcg = sum(h / math.log2(k + 2) for k, h in enumerate(hits))
    idcg = sum(1 / math.log2(k + 2) for k in range(min(len(rel), n)))
    ap = 0.0
    for k in range(n):
        if hits[k]:
            ap += sum(hits[: k + 1]) / (k + 1)
    rr = 0.0
    for k in range(n):
        if hits[k]:
            rr = 1 / (k + 1)
            break
    return {
        "precision": sum(hits) / n,
        "recall": sum(hits) / len(rel),
        "ndcg": dcg / idcg,
        "hit_rate": float(any(hits)),
        "map": ap / min(len(rel), n),
        "mrr": rr,
    }


def reference_all(rec: np.ndarray, rel_sets: list[set[int]], n: int) -> dict[str, np.ndarray]:
    rows = [reference(rec[u].tolist(), rel_sets[u], n) for u in range(rec.shape[0])]
    return {m: np.array([r[m] for r in rows], dtype=np.float64) for m in PER_USER}


def as_csr(rel_sets: list[set[int]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, s in enumerate(rel_sets) for _ in s]
    cols = [i for s in rel_sets for i in sorted(s)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(rel_sets), n_items))


# ---------------------------------------------------------------------------------------------
# Hand-computed example
# ---------------------------------------------------------------------------------------------

# user 0: list [3, 1, 7, 5], relevant {1, 5, 9}  -> hits at ranks 2 and 4
# user 1: list [2, 0, -1, -1] (padded), relevant {2} -> hit at rank 1
# user 2: list [4, 6, 8, -1], relevant {} -> no relevant item: NaN
# user 3: list [0, 1, 2, 3], relevant {9} -> no hit
REC = np.array([[3, 1, 7, 5], [2, 0, -1, -1], [4, 6, 8, -1], [0, 1, 2, 3]])
REL = [np.array([1, 5, 9]), np.array([2]), np.array([], dtype=np.int64), np.array([9])]
L3, L5 = math.log2(3), math.log2(5)
EXPECTED = {
    # 2 hits / N=4;  1 hit / 4 (N is the list length, padding included);  0 / 4
    "precision": [2 / 4, 1 / 4, math.nan, 0.0],
    # 2 hits / |R|=3;  1 / 1;  0 / 1
    "recall": [2 / 3, 1.0, math.nan, 0.0],
    # DCG = 1/log2(3) + 1/log2(5); IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 1/log2(3) + 0.5
    # user 1: DCG = 1/log2(2) = 1 = IDCG (min(|R|, N) = 1)
    "ndcg": [(1 / L3 + 1 / L5) / (1 + 1 / L3 + 0.5), 1.0, math.nan, 0.0],
    "hit_rate": [1.0, 1.0, math.nan, 0.0],
    # user 0: (P@2 + P@4) / min(3, 4) = (1/2 + 2/4) / 3 = 1/3;  user 1: P@1 / 1 = 1
    "map": [1 / 3, 1.0, math.nan, 0.0],
    # first hit at rank 2 -> 1/2;  rank 1 -> 1
    "mrr": [0.5, 1.0, math.nan, 0.0],
}


@pytest.mark.parametrize("metric", list(PER_USER))
@pytest.mark.parametrize("as_matrix", [False, True])
def test_hand_computed_per_user(metric: str, as_matrix: bool) -> None:
    relevant = as_csr([set(r.tolist()) for r in REL], 10) if as_matrix else REL
    got = PER_USER[metric](REC, relevant)
    assert got.dtype == np.float64 and got.shape == (4,)
    np.testing.assert_allclose(got, EXPECTED[metric], rtol=1e-12)


def test_hand_computed_ndcg_value() -> None:
    # (0.630930 + 0.430677) / (1 + 0.630930 + 0.5) = 1.061607 / 2.130930 = 0.498189
    assert ndcg_at_n(REC, REL)[0] == pytest.approx(0.498189, abs=1e-6)


@pytest.mark.parametrize("metric", list(SCORES))
def test_hand_computed_scores_skip_and_zero(metric: str) -> None:
    values = [v for v in EXPECTED[metric] if not math.isnan(v)]
    # skip: mean over users 0, 1, 3 (user 2 has no relevant item)
    assert SCORES[metric](REC, REL) == pytest.approx(sum(values) / 3)
    # zero: user 2 counts as 0, mean over all 4 users
    assert SCORES[metric](REC, REL, users_without_relevant="zero") == pytest.approx(
        sum(values) / 4)


def test_hand_computed_cutoff() -> None:
    # n = 2: user 0 sees [3, 1] -> one hit at rank 2
    assert precision_at_n(REC, REL, n=2)[0] == pytest.approx(1 / 2)
    assert recall_at_n(REC, REL, n=2)[0] == pytest.approx(1 / 3)
    # DCG = 1/log2(3); IDCG = 1 + 1/log2(3) (min(|R|=3, n=2) = 2 ideal hits)
    assert ndcg_at_n(REC, REL, n=2)[0] == pytest.approx((1 / L3) / (1 + 1 / L3))
    # AP = P@2 / min(3, 2) = (1/2) / 2
    assert average_precision_at_n(REC, REL, n=2)[0] == pytest.approx(0.25)
    # user 1 at n = 1: [2] -> precision 1/1
    assert precision_at_n(REC, REL, n=1)[1] == 1.0


def test_ranking_metrics_matches_score_helpers() -> None:
    for mode in ("skip", "zero"):
        table = ranking_metrics(REC, REL, n=3, users_without_relevant=mode)
        assert set(table) == set(SCORES)
        for name, helper in SCORES.items():
            assert table[name] == helper(REC, REL, n=3, users_without_relevant=mode)


def test_aggregate() -> None:
    assert aggregate([0.5, math.nan, 1.0]) == 0.75
    assert aggregate([0.5, math.nan, 1.0], users_without_relevant="zero") == 0.5
    with pytest.raises(ConfigError, match="no user"):
        aggregate([math.nan, math.nan])
    with pytest.raises(ConfigError, match="no users"):
        aggregate([], users_without_relevant="zero")
    with pytest.raises(ConfigError, match="'skip' or 'zero'"):
        aggregate([1.0], users_without_relevant="drop")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'skip' or 'zero'"):
        mrr(REC, REL, users_without_relevant="ignore")  # type: ignore[arg-type]


def test_padding_is_never_a_hit_even_where_its_key_collides() -> None:
    # With 5 items, padding -1 in user 1's row has key 1*5 - 1 = 4 = user 0's item 4.
    rec = np.array([[0, 1], [-1, -1]])
    relevant = [np.array([4]), np.array([4])]
    np.testing.assert_array_equal(hit_rate_at_n(rec, relevant), [0.0, 0.0])
    np.testing.assert_array_equal(precision_at_n(rec, relevant), [0.0, 0.0])


def test_sparse_inputs_and_stored_zeros() -> None:
    # A stored zero is not relevant; a csr_array is accepted; duplicates in lists are merged.
    m = sp.csr_matrix((np.array([1.0, 0.0]), (np.array([0, 0]), np.array([1, 2]))), shape=(1, 4))
    rec = np.array([[2, 1]])
    assert recall_at_n(rec, m)[0] == 1.0  # |R| = 1 (item 1), found at rank 2
    assert m.nnz == 2  # the caller's matrix is not modified
    assert recall_at_n(rec, sp.csr_array(m))[0] == 1.0
    assert recall_at_n(rec, [np.array([1, 1])])[0] == 1.0


@pytest.mark.parametrize(
    ("rec", "relevant", "n", "match"),
    [
        (np.array([1, 2]), [np.array([1])], None, "2-D"),
        (np.array([[1.0, 2.0]]), [np.array([1])], None, "integer"),
        (np.array([[1, -2]]), [np.array([1])], None, "negative index -2"),
        (np.array([[1, 2, 1]]), [np.array([1])], None, "more than once"),
        (np.array([[1, 2]]), [np.array([1])], 3, "exceeds the length"),
        (np.array([[1, 2]]), [np.array([1])], 0, "at least 1"),
        (np.empty((1, 0), dtype=np.int64), [np.array([1])], None, "length 0"),
        (np.array([[1, 2]]), [np.array([1]), np.array([2])], None, "2 item sets"),
        (np.array([[1, 2]]), [np.array([-1])], None, "negative item index"),
        (np.array([[1, 2]]), [np.array([0.5])], None, "integer item indices"),
        (np.array([[1, 7]]), sp.csr_matrix((1, 5)), None, "only 5 item columns"),
        (np.array([[1, 2]]), sp.csr_matrix((2, 5)), None, "1 users"),
        (np.array([[1, 2]]), "12", None, "scipy.sparse"),
    ],
)
def test_invalid_inputs(rec: np.ndarray, relevant: object, n: int | None, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        precision_at_n(rec, relevant, n=n)  # type: ignore[arg-type]


def test_no_users_gives_empty_per_user_and_error_on_mean() -> None:
    rec = np.empty((0, 3), dtype=np.int64)
    assert ndcg_at_n(rec, []).shape == (0,)
    with pytest.raises(ConfigError, match="no user"):
        ndcg_at_n_score(rec, sp.csr_matrix((0, 4)))


# ---------------------------------------------------------------------------------------------
# relevant_from_test
# ---------------------------------------------------------------------------------------------


def test_relevant_from_test_threshold_and_implicit() -> None:
    test = sp.csr_matrix(np.array([[5.0, 0.0, 3.0, 4.0], [0.0, 1.0, 0.0, 4.5]]))
    rel = relevant_from_test(test, threshold=4)
    # ratings >= 4: (0, 0) = 5, (0, 3) = 4, (1, 3) = 4.5
    assert rel.dtype == np.float32 and rel.shape == (2, 4)
    np.testing.assert_array_equal(rel.toarray(), [[1, 0, 0, 1], [0, 0, 0, 1]])
    # implicit: every stored interaction, here 5 of them
    np.testing.assert_array_equal(relevant_from_test(test).toarray(),
                                  [[1, 0, 1, 1], [0, 1, 0, 1]])
    with pytest.raises(ConfigError, match="finite"):
        relevant_from_test(test, threshold=float("nan"))
    with pytest.raises(ConfigError, match="sparse"):
        relevant_from_test(test.toarray())  # type: ignore[arg-type]


def test_relevant_from_test_on_ml100k_u1(ml100k) -> None:  # type: ignore[no-untyped-def]
    from synerec.data import official_splits

    folder = require_dataset("ml-100k", "u1.test", "u1.base")
    raw = np.loadtxt(folder / "u1.test", dtype=np.int64)  # user, item, rating, timestamp
    fold = official_splits(ml100k, ["u1"])[0]
    rel = relevant_from_test(fold.test.matrix, threshold=4)
    liked = raw[raw[:, 2] >= 4]
    assert rel.nnz == len(liked)
    users = ml100k.users.indices(liked[:, 0])
    items = ml100k.items.indices(liked[:, 1])
    assert np.all(rel[users, items] == 1)

    # Most-popular recommender over the u1 training part, training items filtered out.
    train = fold.train.matrix
    popularity = np.diff(train.tocsc().indptr).astype(np.float64)
    scores = np.tile(popularity, (train.shape[0], 1))
    scores[train.nonzero()] = -np.inf
    rec = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    rel_sets = [set(rel.indices[rel.indptr[u]:rel.indptr[u + 1]].tolist())
                for u in range(rel.shape[0])]
    expected = reference_all(rec, rel_sets, 10)
    for name, fn in PER_USER.items():
        np.testing.assert_allclose(fn(rec, rel), expected[name], rtol=1e-12, err_msg=name)
    # The u1 test part covers 459 users, and a popularity list finds something for most.
    table = ranking_metrics(rec, rel)
    assert 0.0 < table["precision"] < table["hit_rate"] <= 1.0


# ---------------------------------------------------------------------------------------------
# Hypothesis properties
# ---------------------------------------------------------------------------------------------


@st.composite
def ranking_cases(draw: st.DrawFn) -> tuple[np.ndarray, list[set[int]], int]:
    """Random lists (unique items, padded at the end with -1) and relevant sets."""
    n_items = draw(st.integers(1, 12))
    n_users = draw(st.integers(1, 6))
    width = draw(st.integers(1, 8))
    rows, rel_sets = [], []
    for _ in range(n_users):
        order = draw(st.permutations(range(n_items)))
        length = draw(st.integers(0, min(width, n_items)))
        rows.append(list(order[:length]) + [-1] * (width - length))
        rel_sets.append(draw(st.sets(st.integers(0, n_items - 1), max_size=n_items)))
    return np.array(rows, dtype=np.int64), rel_sets, n_items


def _lists(rel_sets: list[set[int]]) -> list[np.ndarray]:
    return [np.array(sorted(s), dtype=np.int64) for s in rel_sets]


@settings(max_examples=150, deadline=None)
@given(ranking_cases(), st.data())
def test_matches_reference_and_bounds(case: tuple, data: st.DataObject) -> None:
    rec, rel_sets, n_items = case
    n = data.draw(st.integers(1, rec.shape[1]))
    expected = reference_all(rec, rel_sets, n)
    for relevant in (_lists(rel_sets), as_csr(rel_sets, n_items)):
        for name, fn in PER_USER.items():
            got = fn(rec, relevant, n=n)
            np.testing.assert_allclose(got, expected[name], rtol=1e-12, atol=1e-15,
                                       err_msg=name)
            defined = got[~np.isnan(got)]
            assert np.all((defined >= 0.0) & (defined <= 1.0 + 1e-12)), name
            assert np.array_equal(np.isnan(got), [not s for s in rel_sets])


@settings(max_examples=100, deadline=None)
@given(ranking_cases())
def test_perfect_ranking(case: tuple) -> None:
    rec, rel_sets, n_items = case
    width = rec.shape[1]
    # Relevant items first, then the others, truncated to the list width.
    perfect = np.array([(sorted(s) + sorted(set(range(n_items)) - s) + [-1] * width)[:width]
                        for s in rel_sets], dtype=np.int64)
    relevant = _lists(rel_sets)
    has = np.array([bool(s) for s in rel_sets])
    best = np.array([min(len(s), width) for s in rel_sets], dtype=np.float64)
    sizes = np.array([max(len(s), 1) for s in rel_sets], dtype=np.float64)
    np.testing.assert_allclose(precision_at_n(perfect, relevant)[has], (best / width)[has])
    np.testing.assert_allclose(recall_at_n(perfect, relevant)[has], (best / sizes)[has])
    for fn in (ndcg_at_n, average_precision_at_n, reciprocal_rank, hit_rate_at_n):
        np.testing.assert_allclose(fn(perfect, relevant)[has], 1.0, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(ranking_cases(), st.randoms(use_true_random=False))
def test_permuting_relevant_items_among_themselves(case: tuple, rnd) -> None:  # type: ignore[no-untyped-def]
    rec, rel_sets, _ = case
    relevant = _lists(rel_sets)
    shuffled = rec.copy()
    for u, s in enumerate(rel_sets):
        pos = [k for k, i in enumerate(rec[u]) if i in s]
        items = [int(rec[u, k]) for k in pos]
        rnd.shuffle(items)
        shuffled[u, pos] = items
    for fn in PER_USER.values():
        np.testing.assert_allclose(fn(shuffled, relevant), fn(rec, relevant), rtol=1e-12)
    # A list made only of relevant items: any order gives NDCG 1 (an ideal list).
    all_rel = [np.array(sorted(set(r[r >= 0].tolist()))) for r in rec]
    reversed_rec = np.array([list(r[r >= 0][::-1]) + [-1] * int((r < 0).sum()) for r in rec])
    got = ndcg_at_n(reversed_rec, all_rel)
    np.testing.assert_allclose(got[~np.isnan(got)], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(got, ndcg_at_n(rec, all_rel))


@settings(max_examples=100, deadline=None)
@given(ranking_cases(), st.data())
def test_moving_a_relevant_item_up_never_lowers_ndcg(case: tuple, data: st.DataObject) -> None:
    rec, rel_sets, _ = case
    relevant = _lists(rel_sets)
    u = data.draw(st.integers(0, rec.shape[0] - 1))
    rel_pos = [k for k, i in enumerate(rec[u]) if i >= 0 and i in rel_sets[u]]
    other_pos = [k for k, i in enumerate(rec[u]) if not (i >= 0 and i in rel_sets[u])]
    if not rel_pos or not other_pos or min(other_pos) > max(rel_pos):
        return
    j = data.draw(st.sampled_from(rel_pos))
    above = [k for k in other_pos if k < j]
    if not above:
        return
    i = data.draw(st.sampled_from(above))
    better = rec.copy()
    better[u, i], better[u, j] = rec[u, j], rec[u, i]  # relevant item moves from j up to i
    for fn in (ndcg_at_n, average_precision_at_n, reciprocal_rank):
        assert fn(better, relevant)[u] >= fn(rec, relevant)[u] - 1e-12
    assert ndcg_at_n(better, relevant)[u] > ndcg_at_n(rec, relevant)[u]
    np.testing.assert_array_equal(precision_at_n(better, relevant), precision_at_n(rec, relevant))


@settings(max_examples=100, deadline=None)
@given(ranking_cases())
def test_recall_and_hit_rate_monotone_in_n(case: tuple) -> None:
    rec, rel_sets, _ = case
    relevant = _lists(rel_sets)
    has = np.array([bool(s) for s in rel_sets])
    for fn in (recall_at_n, hit_rate_at_n):
        previous = np.zeros(rec.shape[0])
        for n in range(1, rec.shape[1] + 1):
            current = fn(rec, relevant, n=n)[has]
            assert np.all(current >= previous[has] - 1e-12)
            previous[has] = current


@settings(max_examples=100, deadline=None)
@given(ranking_cases(), st.randoms(use_true_random=False))
def test_invariant_to_user_order(case: tuple, rnd) -> None:  # type: ignore[no-untyped-def]
    rec, rel_sets, n_items = case
    perm = list(range(rec.shape[0]))
    rnd.shuffle(perm)
    perm_sets = [rel_sets[p] for p in perm]
    for name, fn in PER_USER.items():
        base = fn(rec, as_csr(rel_sets, n_items))
        np.testing.assert_array_equal(fn(rec[perm], as_csr(perm_sets, n_items)), base[perm],
                                      err_msg=name)
    if any(rel_sets):
        a = ranking_metrics(rec, _lists(rel_sets))
        b = ranking_metrics(rec[perm], _lists(perm_sets))
        for name in a:
            assert a[name] == pytest.approx(b[name], rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(ranking_cases(), st.data())
def test_padding_never_counts(case: tuple, data: st.DataObject) -> None:
    rec, rel_sets, n_items = case
    # Cut every list at a random length: hits can only drop, and the cut part never scores.
    cut = rec.copy()
    for u in range(rec.shape[0]):
        keep = data.draw(st.integers(0, rec.shape[1]))
        cut[u, keep:] = -1
    # Make every item relevant to every user: a padded slot would be the only way to miss.
    everything = [np.arange(n_items)] * rec.shape[0]
    prec = precision_at_n(cut, everything)
    np.testing.assert_allclose(prec, (cut >= 0).sum(axis=1) / rec.shape[1])
    relevant = _lists(rel_sets)
    assert np.all(np.nan_to_num(precision_at_n(cut, relevant))
                  <= np.nan_to_num(precision_at_n(rec, relevant)))
    all_padding = np.full_like(rec, -1)
    assert np.all(np.nan_to_num(hit_rate_at_n(all_padding, everything)) == 0.0)
