"""UserKNN and ItemKNN: compiled kernels against slow references, fallbacks, neighbours, PaperCF.

The references below are written for clarity, not speed: every prediction sorts the whole
neighbour row and filters it in Python, straight from the formulas in ``knn.py``.
"""

from __future__ import annotations

import gc
import math
import sys
import weakref
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import synerec.algorithms.knn as knn_module
import synerec.topk as topk_module
from synerec.algorithms import (
    ItemKNN,
    PaperCF,
    UserKNN,
    base,
    paper,
    recommend_item,
)
from synerec.algorithms import _knn_kernels as kern
from synerec.data import InteractionDataset
from synerec.exceptions import ConfigError, UnknownIdError
from synerec.ranking import PAD_INDEX, topk, topk_sparse
from synerec.similarity import top_neighbors

# -- slow references -------------------------------------------------------------------------------


def random_ratings(seed: int, n_users: int = 30, n_items: int = 25,
                   density: float = 0.3) -> InteractionDataset:
    """Random 1..5 ratings; the last user and item stay without ratings (cold)."""
    rng = np.random.default_rng(seed)
    rows = [(f"u{u}", f"i{i}", int(rng.integers(1, 6)))
            for u in range(n_users - 1) for i in range(n_items - 1) if rng.random() < density]
    rows.append((f"u{n_users - 1}", f"i{n_items - 1}", 3))  # removed below: cold user and item
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    full = InteractionDataset.from_dataframe(df, rating_scale=(1, 5))
    return full.subset(np.arange(len(df)) < len(df) - 1)


def sorted_neighbours(S: sp.csr_matrix, row: int) -> list[tuple[int, float]]:
    """Row ``row`` of ``S`` as (index, similarity), most similar first, ties by lower index."""
    r = S.getrow(row)
    pairs = [(int(j), float(w)) for j, w in zip(r.indices, r.data, strict=True)]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


_DENSE: dict[int, tuple] = {}


def dense_and_means(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense ratings, rated mask, user and item means (cached per fitted training matrix)."""
    key = id(model.train_)
    if key in _DENSE and _DENSE[key][0] is model.train_:
        return _DENSE[key][1]
    X = model.train_.toarray().astype(np.float64)
    rated = model.train_.toarray() != 0
    with np.errstate(invalid="ignore"):
        user_mean = X.sum(1) / rated.sum(1)
        item_mean = X.sum(0) / rated.sum(0)
    _DENSE[key] = (model.train_, (X, rated, user_mean, item_mean))
    return X, rated, user_mean, item_mean


def ref_user_predict(model, a: int, i: int) -> tuple[float, int]:
    """Eq. 3: (value, n_neighbors); n_neighbors 0 means the user-mean fallback.

    ``neighbor_mean="corated"``: v's mean over the items a and v both rated;
    ``denominator="signed"``: sum w instead of sum |w| (a sum of 0: the fallback).
    """
    X, rated, mean, _ = dense_and_means(model)
    K = [(v, w) for v, w in sorted_neighbours(model.similarity_, a) if rated[v, i]][:model.k]

    def mean_of(v: int) -> float:
        common = rated[a] & rated[v]
        if model.neighbor_mean == "corated" and common.any():
            return float(X[v, common].mean())
        return float(mean[v])

    den = sum(w if model.denominator == "signed" else abs(w) for _, w in K)
    if not K or den == 0:
        return mean[a], 0
    num = sum(w * (X[v, i] - mean_of(v)) for v, w in K)
    return mean[a] + num / den, len(K)


def ref_item_predict(model, a: int, i: int) -> tuple[float, int]:
    """Eq. 4 (or its centred form): (value, n_neighbors); 0 means the item-mean fallback."""
    X, rated, _, mean = dense_and_means(model)
    K = [(j, w) for j, w in sorted_neighbours(model.similarity_, i) if rated[a, j]][:model.k]
    if not K:
        return mean[i], 0
    base_ = (lambda j: mean[j]) if model.center else (lambda j: 0.0)
    num = sum(w * (X[a, j] - base_(j)) for j, w in K)
    return base_(i) + num / sum(abs(w) for _, w in K), len(K)


def ref_user_scores(model, a: int) -> np.ndarray:
    """Top-N scores: eq. 3 for the items rated by a's k nearest users, NaN elsewhere."""
    _, rated, _, _ = dense_and_means(model)
    near = [v for v, _ in sorted_neighbours(model.similarity_, a)[:model.k]]
    out = np.full(model.n_items_, np.nan)
    for i in range(model.n_items_):
        if any(rated[v, i] for v in near):
            out[i] = ref_user_predict(model, a, i)[0]
    return out


def ref_item_scores(model, a: int) -> np.ndarray:
    """Top-N scores: the k nearest items of each of a's items are the candidates; each is
    scored by eq. 4 over the rated items j that listed it, with w(j, i) from j's row."""
    X, rated, _, mean = dense_and_means(model)
    base_ = mean if model.center else np.zeros(model.n_items_)
    listed: dict[int, list[tuple[int, float]]] = {}
    for j in np.flatnonzero(rated[a]):
        for i, w in sorted_neighbours(model.similarity_, int(j))[:model.k]:
            listed.setdefault(i, []).append((int(j), w))
    out = np.full(model.n_items_, np.nan)
    for i, K in listed.items():
        num = sum(w * (X[a, j] - base_[j]) for j, w in K)
        out[i] = base_[i] + num / sum(abs(w) for _, w in K)
    return out


def ref_user_sum_scores(model, a: int) -> np.ndarray:
    """Top-N scores (ranking="similarity_sum"): sum of w(a, v) over a's k nearest users v
    who rated the item, NaN for items none of them rated."""
    _, rated, _, _ = dense_and_means(model)
    out = np.full(model.n_items_, np.nan)
    for v, w in sorted_neighbours(model.similarity_, a)[:model.k]:
        for i in np.flatnonzero(rated[v]):
            out[i] = (0.0 if np.isnan(out[i]) else out[i]) + w
    return out


def ref_item_sum_scores(model, a: int) -> np.ndarray:
    """Top-N scores (ranking="similarity_sum"): sum of w(j, i) over a's items j that list i
    among their k nearest (Deshpande and Karypis)."""
    _, rated, _, _ = dense_and_means(model)
    out = np.full(model.n_items_, np.nan)
    for j in np.flatnonzero(rated[a]):
        for i, w in sorted_neighbours(model.similarity_, int(j))[:model.k]:
            out[i] = (0.0 if np.isnan(out[i]) else out[i]) + w
    return out


P = {"ranking": "prediction"}
CONFIGS = [
    (UserKNN, {"k": 5, "similarity": "pearson", "max_neighbors": 10, **P}),
    (UserKNN, {"k": 1, "similarity": "cosine", "max_neighbors": 3, "shrinkage": 0.0, **P}),
    (UserKNN, {"k": 50, "similarity": "pearson", "max_neighbors": 100, "min_support": 1,
               "shrinkage": 0.0, **P}),
    (ItemKNN, {"k": 4, "similarity": "adjusted_cosine", "max_neighbors": 8, "center": False,
               **P}),
    (ItemKNN, {"k": 3, "similarity": "cosine", "max_neighbors": 12, "center": True, **P}),
    (ItemKNN, {"k": 40, "similarity": "pearson", "max_neighbors": 100, "min_support": 1,
               "shrinkage": 0.0, "center": True, **P}),
    (UserKNN, {"k": 5, "similarity": "cosine", "max_neighbors": 10, "min_support": 1,
               "shrinkage": 0.0}),
    (UserKNN, {"k": 7, "similarity": "pearson", "max_neighbors": 20}),
    (ItemKNN, {"k": 4, "similarity": "cosine", "max_neighbors": 8, "binarize": True}),
    (ItemKNN, {"k": 6, "similarity": "adjusted_cosine", "max_neighbors": 12}),
    # the readings of the paper's eqs. 1 and 3 (docs/notation.md)
    (UserKNN, {"k": 5, "similarity": "pearson", "max_neighbors": 10, "min_support": 1,
               "shrinkage": 0.0, "neighbor_mean": "corated", "denominator": "signed", **P}),
    (UserKNN, {"k": 3, "similarity": "cosine", "max_neighbors": 8, "norms": "corated",
               "neighbor_mean": "corated", **P}),
    (UserKNN, {"k": 4, "similarity": "pearson", "max_neighbors": 12, "norms": "full",
               "denominator": "signed", **P}),
    (ItemKNN, {"k": 4, "similarity": "cosine", "max_neighbors": 8, "norms": "corated",
               "center": False, **P}),
]


def _score_reference(model):  # type: ignore[no-untyped-def]
    if model.ranking == "similarity_sum":
        return ref_user_sum_scores if isinstance(model, UserKNN) else ref_item_sum_scores
    return ref_user_scores if isinstance(model, UserKNN) else ref_item_scores


@pytest.fixture(scope="module")
def data() -> InteractionDataset:
    return random_ratings(3)


@pytest.mark.parametrize(("cls", "params"), CONFIGS)
def test_predictions_match_the_reference(cls, params, data: InteractionDataset) -> None:
    model = cls(**params).fit(data)
    ref = ref_user_predict if cls is UserKNN else ref_item_predict
    users = np.flatnonzero(model.user_count_ > 0)
    items = np.flatnonzero(model.item_count_ > 0)
    uu = np.repeat(users, len(items))
    ii = np.tile(items, len(users))
    values, raw, nbrs, codes = model._predict_all(uu, ii)
    expected = [ref(model, int(u), int(i)) for u, i in zip(uu, ii, strict=True)]
    np.testing.assert_allclose(raw, [e[0] for e in expected], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(nbrs, [e[1] for e in expected])
    np.testing.assert_array_equal(codes == base.NO_NEIGHBORS, nbrs == 0)
    np.testing.assert_array_equal(values, np.clip(raw, 1, 5))
    assert (nbrs <= model.k).all()


@pytest.mark.parametrize(("cls", "params"), CONFIGS)
def test_top_n_scores_match_the_reference(cls, params, data: InteractionDataset) -> None:
    model = cls(**params).fit(data)
    ref = _score_reference(model)
    users = np.flatnonzero(model.user_count_ > 0)
    dense = model._score(users)
    assert dense.dtype == np.float32
    for row, a in enumerate(users):
        expected = ref(model, int(a))
        np.testing.assert_array_equal(np.isnan(dense[row]), np.isnan(expected))
        np.testing.assert_allclose(dense[row], expected.astype(np.float32), rtol=1e-6,
                                   atol=1e-6, equal_nan=True)
    # the sparse scores rank exactly like the dense block through the shared topk
    seen = model._seen(users)
    warm = model.item_count_ > 0
    idx, sc = model.recommend_indices(users, n=7)
    ref_idx, ref_sc = topk(dense, 7, exclude=seen, candidates=warm)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)


@pytest.mark.parametrize(("cls", "params"), [CONFIGS[0], CONFIGS[3]])
def test_threads_and_batches_do_not_change_results(cls, params, data: InteractionDataset) -> None:
    one = cls(**params, num_threads=1).fit(data)
    two = cls(**params, num_threads=2).fit(data)
    rng = np.random.default_rng(0)
    uu = rng.integers(0, data.n_users, 500)
    ii = rng.integers(0, data.n_items, 500)
    np.testing.assert_array_equal(one.predict_indices(uu, ii), two.predict_indices(uu, ii))
    # one pair at a time gives the same numbers as the batch
    single = [one.predict_indices([u], [i])[0] for u, i in zip(uu[:40], ii[:40], strict=True)]
    np.testing.assert_array_equal(single, one.predict_indices(uu[:40], ii[:40]))
    users = np.arange(data.n_users)
    a = one.recommend_indices(users, n=5, batch_size=4)
    b = two.recommend_indices(users, n=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_predict_equals_top_n_score(data: InteractionDataset) -> None:
    """User-based scores are the predictions; item-based ones too without truncation."""
    untruncated = {"k": 100, "max_neighbors": 100}
    for cls, params in [*CONFIGS[:3], (ItemKNN, {**CONFIGS[3][1], **untruncated}),
                        (ItemKNN, {**CONFIGS[4][1], **untruncated}), CONFIGS[5]]:
        model = cls(**params).fit(data)
        users = np.flatnonzero(model.user_count_ > 0)
        S = model._score_sparse(users).tocoo()
        pred = model._predict_all(users[S.row], S.col.astype(np.int64))[1]
        np.testing.assert_allclose(S.data, pred.astype(np.float32), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("cls", "params"), CONFIGS)
@pytest.mark.parametrize("ranking", ["similarity_sum", "prediction"])
def test_a_few_users_are_scored_in_numpy_bit_for_bit(cls, params, ranking: str,
                                                      data: InteractionDataset) -> None:
    """The numpy path (one request's users, no kernel) gives the kernel's block exactly:
    the same entries in the same order, the same float32 bits (user-cf and item-cf)."""
    model = cls(**{**params, "ranking": ranking}).fit(data)
    rng = np.random.default_rng(1)
    for users in (np.arange(data.n_users), rng.integers(0, data.n_users, 9),
                  np.array([data.n_users - 1]), np.zeros(0, np.int64)):
        blocks = [users[i:i + knn_module.SMALL_BLOCK]
                  for i in range(0, len(users), knn_module.SMALL_BLOCK)] or [users]
        for block in blocks:
            few = model._score_sparse(block)
            with mock.patch.object(knn_module, "SMALL_BLOCK", -1):
                full = model._score_sparse(block)
            np.testing.assert_array_equal(few.indptr, full.indptr)
            np.testing.assert_array_equal(few.indices, full.indices)
            np.testing.assert_array_equal(few.data.view(np.uint32), full.data.view(np.uint32))
            assert few.data.dtype == full.data.dtype == np.float32


@pytest.mark.parametrize(("cls", "params"), CONFIGS)
def test_a_few_users_are_predicted_in_numpy_bit_for_bit(cls, params,
                                                        data: InteractionDataset) -> None:
    """The numpy twins of the predict kernels: the same values (bits), neighbour counts and
    fallback codes for pairs of up to SMALL_BLOCK users, repeated pairs and unrated items
    included."""
    model = cls(**params).fit(data)
    rng = np.random.default_rng(2)
    for n_users in (1, 3, knn_module.SMALL_BLOCK):
        users = rng.choice(data.n_users, n_users, replace=False)
        pair_users = rng.choice(users, 60)
        items = rng.integers(0, data.n_items, 60)
        few = model._predict(pair_users, items)
        with mock.patch.object(knn_module, "SMALL_BLOCK", -1):
            full = model._predict(pair_users, items)
        np.testing.assert_array_equal(few[0].view(np.uint64), full[0].view(np.uint64))
        np.testing.assert_array_equal(few[1], full[1])
        np.testing.assert_array_equal(few[2], full[2])


def test_item_cf_loads_without_sorting_its_neighbours(data: InteractionDataset, tmp_path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a saved item-cf and ranking one user runs no kernel (nothing to compile or
    load); the sorted neighbour rows are built when a kernel first needs them."""
    path = ItemKNN(k=4, max_neighbors=8).fit(data).save(tmp_path / "m")

    def no_kernel(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a kernel ran")

    with monkeypatch.context() as m:
        m.setattr(knn_module, "_kernels", no_kernel)
        m.setitem(sys.modules, "synerec._topk_kernels", None)  # importing it would fail
        loaded = ItemKNN.load(path)
        ids, scores = loaded.recommend([loaded.users_.id(0)], 5)
    assert loaded._nb_sorted is None
    reference = ItemKNN.load(path)
    with mock.patch.object(knn_module, "SMALL_BLOCK", -1):
        ref_ids, ref_scores = reference.recommend([loaded.users_.id(0)], 5)
    assert ids.tolist() == ref_ids.tolist()
    np.testing.assert_array_equal(scores, ref_scores)
    assert reference._nb_sorted is not None


# -- kernels on their own ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 15))
def test_sort_rows_desc_matches_lexsort(seed: int, n_rows: int, n_cols: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.choice([0.0, 0.0, 0.5, -0.25, 1.0, 0.125], size=(n_rows, n_cols))
    S = sp.csr_matrix(dense.astype(np.float32))
    idx, val = kern.sort_rows_desc(S.indptr.astype(np.int64), S.indices.astype(np.int32),
                                   S.data)
    for r in range(n_rows):
        lo, hi = S.indptr[r], S.indptr[r + 1]
        expected = sorted(zip(S.indices[lo:hi], S.data[lo:hi], strict=True),
                          key=lambda p: (-p[1], p[0]))
        assert idx[lo:hi].tolist() == [int(j) for j, _ in expected]
        assert val[lo:hi].tolist() == [float(v) for _, v in expected]


def test_fallback_codes_match_the_base_class() -> None:
    assert kern.NO_FALLBACK == base.NO_FALLBACK
    assert kern.NO_NEIGHBORS == base.NO_NEIGHBORS


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 6), st.integers(0, 9), st.integers(1, 12),
       st.booleans(), st.sampled_from(["none", "shared", "per_row"]))
def test_topk_sparse_equals_topk_on_the_dense_block(seed: int, b: int, n: int, n_items: int,
                                                     use_exclude: bool, cand_kind: str) -> None:
    rng = np.random.default_rng(seed)
    # few distinct values: many ties; some stored NaN / inf; some stored zeros
    values = rng.choice([0.0, 1.0, 2.0, 2.5, -1.0, np.nan, np.inf, -np.inf], size=(b, n_items))
    stored = rng.random((b, n_items)) < 0.5
    # each row's entries in a random order: a CSR matrix without sorted indices
    rows, cols = np.nonzero(stored)
    order = np.lexsort((rng.random(len(rows)), rows))
    indptr = np.r_[0, np.cumsum(stored.sum(axis=1))]
    S = sp.csr_matrix((values[rows[order], cols[order]].astype(np.float32), cols[order],
                       indptr), shape=(b, n_items))
    dense = np.where(stored, values, -np.inf).astype(np.float32)
    exclude = None
    if use_exclude:
        exclude = sp.csr_matrix((rng.random((b, n_items)) < 0.3).astype(np.float32))
    cand = {"none": None, "shared": rng.random(n_items) < 0.7,
            "per_row": rng.random((b, n_items)) < 0.7}[cand_kind]
    expected = topk(dense, n, exclude=exclude, candidates=cand)
    for small_block in (0, topk_module.SMALL_BLOCK):  # the numba kernel, then numpy (b <= 6)
        with mock.patch.object(topk_module, "SMALL_BLOCK", small_block):
            for unique in (False, True):
                got = topk_sparse(S, n, exclude=exclude, candidates=cand, assume_unique=unique)
                np.testing.assert_array_equal(got[0], expected[0])
                np.testing.assert_array_equal(got[1], expected[1])
                assert got[0].dtype == np.int64 and got[1].dtype == np.float32


@pytest.mark.parametrize("small_block", [0, topk_module.SMALL_BLOCK])
def test_topk_sparse_by_hand(small_block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topk_module, "SMALL_BLOCK", small_block)  # kernel, then numpy
    S = sp.csr_matrix(([0.5, 2.0, 2.0, 7.0, 1.0], ([0, 0, 0, 0, 1], [0, 2, 1, 5, 3])),
                      shape=(3, 6))  # row 0 stored out of index order
    idx, sc = topk_sparse(S, 3)
    assert idx.tolist() == [[5, 1, 2], [3, PAD_INDEX, PAD_INDEX], [PAD_INDEX] * 3]
    assert sc[0].tolist() == [7.0, 2.0, 2.0] and np.isneginf(sc[2]).all()
    with pytest.raises(TypeError, match="sparse"):
        topk_sparse(np.ones((2, 2)), 1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        topk_sparse(S, -1)
    # a row that stores item 1 twice: summed (3.0) before ranking, so it beats item 0 (2.5)
    dup = sp.csr_matrix((np.array([1.0, 2.0, 2.5]), np.array([1, 1, 0]), np.array([0, 3])),
                        shape=(1, 3))
    assert topk_sparse(dup, 1)[0].tolist() == [[1]]
    assert topk_sparse(dup, 1)[1].tolist() == [[3.0]]


# -- fallbacks and n_neighbors --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse_toy() -> InteractionDataset:
    """a: x=3; b: x=2, z=4; c: y=2 (nobody shares an item with c)."""
    df = pd.DataFrame({"user_id": ["a", "b", "b", "c"], "item_id": ["x", "x", "z", "y"],
                       "rating": [3, 2, 4, 2]})
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


def test_user_knn_reports_neighbours_and_falls_back(sparse_toy: InteractionDataset) -> None:
    m = UserKNN(similarity="cosine", min_support=1, shrinkage=0.0).fit(sparse_toy)
    p = m.predict_one("a", "z")  # K = {b}: 3 + (4 - 3) * w / |w| = 4
    assert p.value == pytest.approx(4.0) and p.n_neighbors == 1 and p.fallback is None
    # w(a, b) = (3 * 2) / (3 * sqrt(4 + 16)) = 1 / sqrt(5); contribution w (4 - 3) / |w| = 1
    assert p.details["neighbors"] == [{"user": "b", "user_index": 1,
                                       "similarity": pytest.approx(1 / math.sqrt(5)),
                                       "rating": 4.0, "mean": 3.0,
                                       "contribution": pytest.approx(1.0)}]
    p = m.predict_one("a", "y")  # only c rated y, and c is nobody's neighbour
    assert (p.fallback, p.fallback_to, p.n_neighbors) == ("no_neighbors", "user_mean", 0)
    assert p.value == 3.0 and p.details["neighbors"] == []
    d = m.recommend_item("a", "y")
    assert "no_neighbors: fell back to user_mean" in d.reason
    # c has no neighbour at all: no candidate, an empty list (padding only)
    ids, scores = m.recommend(["c", "a"], n=2)
    assert ids.tolist() == [[None, None], ["z", None]]
    # default ranking: the similarity of b, a's only neighbour who rated z
    assert np.isneginf(scores[0]).all() and scores[1, 0] == pytest.approx(1 / math.sqrt(5))
    m.set_params(ranking="prediction").fit(sparse_toy)
    assert m.recommend(["a"], n=1)[1][0, 0] == pytest.approx(4.0)  # eq. 3


def test_item_knn_reports_neighbours_and_falls_back(sparse_toy: InteractionDataset) -> None:
    m = ItemKNN(similarity="cosine", min_support=1, shrinkage=0.0, center=False).fit(sparse_toy)
    p = m.predict_one("a", "z")  # z's only neighbour is x (b rated both); a rated x = 3
    assert p.value == pytest.approx(3.0) and p.n_neighbors == 1
    assert p.details["neighbors"][0]["item"] == "x"
    p = m.predict_one("a", "y")
    assert (p.fallback, p.fallback_to, p.n_neighbors) == ("no_neighbors", "item_mean", 0)
    assert p.value == 2.0  # the mean of y
    values = m.predict(["a", "a", "c"], ["z", "y", "x"])
    np.testing.assert_allclose(values, [3.0, 2.0, 2.5])  # (c, x): no neighbour -> mean of x


def test_explanations_add_up(data: InteractionDataset) -> None:
    for cls, params in CONFIGS:
        model = cls(**params).fit(data)
        for user, item in [("u0", "i1"), ("u3", "i7"), ("u10", "i2"), ("u5", "i20")]:
            p = model.predict_one(user, item)
            nbrs = p.details["neighbors"]
            assert len(nbrs) == p.n_neighbors
            contributions = [nb["contribution"] for nb in nbrs]
            assert [abs(c) for c in contributions] == sorted(map(abs, contributions),
                                                              reverse=True)
            if p.fallback is None:
                start = (p.details["user_mean"] if cls is UserKNN
                         else p.details.get("item_mean", 0.0))
                assert start + sum(contributions) == pytest.approx(p.raw_value, abs=1e-9)
            key = "user" if cls is UserKNN else "item"
            for nb in nbrs:
                assert isinstance(nb[key], str) and -1 <= nb["similarity"] <= 1


# -- neighbours on external ids -----------------------------------------------------------------


def test_similar_items_and_users(data: InteractionDataset) -> None:
    items = ItemKNN(max_neighbors=6).fit(data)
    ids, sims = items.similar_items("i3", 4)
    idx, ref = top_neighbors(items.similarity_, data.items.index("i3"), 4)
    assert ids.tolist() == [data.items.id(j) for j in idx]
    np.testing.assert_array_equal(sims, ref)
    assert len(ids) == 4 and (np.diff(sims) <= 0).all()
    assert len(items.similar_items("i3", 50)[0]) <= 6  # only the stored neighbours
    assert items.similar_items("i24", 5)[0].tolist() == []  # in the vocabulary, never rated
    users = UserKNN().fit(data)
    ids, sims = users.similar_users("u2", 3)
    idx, ref = top_neighbors(users.similarity_, data.users.index("u2"), 3)
    assert ids.tolist() == [data.users.id(v) for v in idx]
    np.testing.assert_array_equal(sims, ref)
    with pytest.raises(UnknownIdError, match="nobody"):
        users.similar_users("nobody")
    with pytest.raises(UnknownIdError, match="nothing"):
        items.similar_items("nothing")


def test_unknown_ids_in_predictions(data: InteractionDataset) -> None:
    model = UserKNN().fit(data)
    with pytest.raises(UnknownIdError, match="unknown user id 'nobody'"):
        model.predict_one("nobody", "i1")
    p = model.predict_one("nobody", "i1", unknown="fallback")
    assert p.fallback == "unknown_user" and p.details["neighbors"] == []
    p = model.predict_one("u1", "nothing", unknown="fallback")
    assert p.fallback == "unknown_item" and p.value == pytest.approx(model.user_mean_[1])
    ids, _ = model.recommend(["nobody"], n=3, unknown="fallback")
    assert None not in ids[0].tolist()  # popular items


def test_save_load_keeps_the_similarity(data: InteractionDataset, tmp_path) -> None:
    for cls, params in CONFIGS[:1] + CONFIGS[3:4]:
        model = cls(**params).fit(data)
        loaded = cls.load(model.save(tmp_path / cls.__name__))
        assert (loaded.similarity_ != model.similarity_).nnz == 0
        users = np.arange(data.n_users)
        np.testing.assert_array_equal(loaded._score(users), model._score(users))
        assert loaded.predict_one("u1", "i2").details == model.predict_one("u1", "i2").details


def test_load_rejects_means_that_do_not_fit(data: InteractionDataset) -> None:
    model = UserKNN().fit(data)
    arrays = model._arrays()
    arrays["means"] = arrays["means"] + 1.0
    with pytest.raises(ValueError, match="means"):
        model._load_arrays(arrays)


def test_invalid_parameters(data: InteractionDataset) -> None:
    with pytest.raises(ConfigError, match="similarity"):
        UserKNN(similarity="adjusted_cosine").fit(data)  # item-based only
    with pytest.raises(ConfigError, match="k"):
        ItemKNN(k=0).fit(data)
    with pytest.raises(ConfigError, match="shrinkage"):
        ItemKNN(shrinkage=-1.0).fit(data)


# -- the paper's decision by method name ----------------------------------------------------------


def test_paper_cf_fits_each_method_once(data: InteractionDataset) -> None:
    cf = PaperCF(data, k=7, min_support=1)
    m = cf.model("item_cosine")
    assert isinstance(m, ItemKNN) and m.k == 7 and m.similarity == "cosine"
    assert m.min_support == 1
    assert cf.model("item_cosine") is m
    u = cf.model("user_pearson")
    assert isinstance(u, UserKNN) and u.similarity == "pearson"
    d = cf.recommend_item("u1", "i3", method="item_cosine")
    assert d.prediction == m.predict_one("u1", "i3")
    assert d.recommend == (d.prediction.value > d.threshold and m._rated_value(1, 3) is None)
    with pytest.raises(ConfigError, match="unknown method"):
        cf.model("item_pearson")


def test_recommend_item_function(data: InteractionDataset) -> None:
    d = recommend_item("u2", "i5", "user_pearson", data=data, k=9)
    cached = paper._PAPER_CACHE[data][(9, ())]
    model = cached.model("user_pearson")
    assert recommend_item("u2", "i5", "user_pearson", data=data, k=9).prediction == d.prediction
    assert cached.model("user_pearson") is model  # fitted once per (data, method, k)
    ref = UserKNN(k=9, similarity="pearson").fit(data).recommend_item("u2", "i5")
    assert ref == d
    # a fitted model is used as it is, if it matches the method
    fitted = ItemKNN(similarity="adjusted_cosine").fit(data)
    assert recommend_item("u2", "i5", "item_adjusted_cosine", data=fitted) == \
        fitted.recommend_item("u2", "i5")
    with pytest.raises(ConfigError, match="item_cosine"):
        recommend_item("u2", "i5", "item_cosine", data=fitted)
    with pytest.raises(ConfigError, match="unknown method"):
        recommend_item("u2", "i5", "svd", data=data)
    with pytest.raises(TypeError, match="InteractionDataset"):
        recommend_item("u2", "i5", data=data.matrix)  # type: ignore[arg-type]


def test_recommend_item_passes_options(data: InteractionDataset) -> None:
    # the plain eq. 4 (center=False, no shrinkage) is reachable through data=
    d = recommend_item("u2", "i5", "item_cosine", data=data, k=9, center=False, shrinkage=0.0)
    ref = ItemKNN(k=9, similarity="cosine", center=False, shrinkage=0.0).fit(data)
    assert d == ref.recommend_item("u2", "i5")
    assert d != recommend_item("u2", "i5", "item_cosine", data=data, k=9)  # tuned defaults
    # every option reaches the models that take it; the user methods ignore center
    d = recommend_item("u2", "i5", "user_cosine", data=data, k=9, center=False,
                       **{"denominator": "signed", "neighbor_mean": "corated"})
    ref_u = UserKNN(k=9, similarity="cosine", denominator="signed",
                    neighbor_mean="corated").fit(data)
    assert d == ref_u.recommend_item("u2", "i5")
    cf = PaperCF(data, k=9, **paper.PLAIN_FORMULAS)
    assert recommend_item("u2", "i5", "item_adjusted_cosine", data=data, k=9,
                          **paper.PLAIN_FORMULAS) == cf.recommend_item("u2", "i5",
                                                                     "item_adjusted_cosine")
    assert cf.model("item_adjusted_cosine").center is False
    assert cf.model("user_pearson").min_support == 1
    with pytest.raises(ConfigError, match="apply only when data is a data set"):
        recommend_item("u2", "i5", "item_cosine", data=cf, center=False)
    with pytest.raises(ConfigError, match="unknown option"):
        recommend_item("u2", "i5", "item_cosine", data=data, centre=False)
    with pytest.raises(ConfigError, match="similarity"):
        PaperCF(data, similarity="cosine")
    with pytest.raises(ConfigError, match="denominator"):
        PaperCF(data, denominator="sum").model("user_cosine")


def test_recommend_item_cache_dies_with_the_data() -> None:
    data = random_ratings(11, n_users=8, n_items=6)
    recommend_item("u1", "i1", "item_cosine", data=data, k=3)
    assert data in paper._PAPER_CACHE
    ref = weakref.ref(data)
    n_before = len(paper._PAPER_CACHE)
    del data
    gc.collect()
    assert ref() is None and len(paper._PAPER_CACHE) == n_before - 1


def test_default_threshold_on_ml_scale() -> None:
    # 6 on 1..10 is 1 + 5/9 * 4 on 1..5
    assert math.isclose(base.default_threshold((1, 5)), 1 + 20 / 9)


@pytest.mark.parametrize(("cls", "params"), CONFIGS[:4])
def test_rows_sorted_on_the_spot_equal_the_kernels_sorted_rows(cls, params,
                                                              data: InteractionDataset) -> None:
    """The numpy twins take similarity rows sorted on the spot (a freshly loaded model) or
    gathered from the kernel's sorted rows (a warm one): the same rows, bit for bit."""
    from synerec.algorithms._knn_numpy import gathered_rows, sorted_rows

    model = cls(**params).fit(data)
    rows = np.random.default_rng(4).integers(0, model.similarity_.shape[0], 40)
    spot = sorted_rows(model.similarity_, rows)
    model._sorted_neighbors()
    kernel = gathered_rows(model._nb_indptr, *model._nb_sorted, rows)
    for a, b in zip(spot, kernel, strict=True):
        np.testing.assert_array_equal(a, b)
