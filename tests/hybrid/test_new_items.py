"""New products in the hybrid (issue 21): a text retriever brings items nobody has bought into
the candidates, the evidence columns say how much the collaborative signals know of an item,
the global-temporal validation part holds new products, and the ranker puts one into a list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.data import InteractionDataset
from synerec.data.splits import global_temporal_split
from synerec.hybrid import HybridRanker
from synerec.hybrid.features import FEATURES, feature_names
from synerec.hybrid.retrievers import NEW_ITEM_MODELS
from synerec.hybrid.split import split_validation, split_validation_folds

DAY = 86400
FAST = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 30, "min_data_in_leaf": 3,
        "num_leaves": 5, "n_candidates": 10}
EVIDENCE = ["item_interactions", "item_new", "item_first_seen_days"]
#: The words of the two kinds of products: a wool buyer never buys a drill.
WORDS = {"wool": "soft knitted wool scarf for winter", "tool": "steel cordless drill for garage"}


def launches(n_users: int = 24, n_per_kind: int = 10, seed: int = 0) -> InteractionDataset:
    """A shop that launches one product of each kind every 10 days (product ``k`` of a kind on
    day ``10 k``); each customer likes one kind and buys most of its products within a few
    days of their launch, plus a rare product of the other kind."""
    rng = np.random.default_rng(seed)
    items = []
    for kind, text in WORDS.items():
        for k in range(n_per_kind):
            items.append({"item_id": f"{kind}{k}", "title": f"{kind} model {k}: {text}",
                          "launch": 10 * k})
    rows = []
    for u in range(n_users):
        kind = "wool" if u % 2 == 0 else "tool"
        for it in items:
            mine = it["item_id"].startswith(kind)
            if rng.random() < (0.9 if mine else 0.05):
                day = it["launch"] + rng.integers(0, 5)
                rows.append({"user_id": f"u{u}", "item_id": it["item_id"], "rating": 1.0,
                             "timestamp": int(day * DAY + rng.integers(0, DAY))})
    catalogue = pd.DataFrame([{k: v for k, v in it.items() if k != "launch"} for it in items])
    return InteractionDataset.from_dataframe(pd.DataFrame(rows), items=catalogue,
                                             name="launches", implicit=True)


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return launches()


@pytest.fixture(scope="module")
def fold(shop: InteractionDataset):  # type: ignore[no-untyped-def]
    return global_temporal_split(shop, 0.9)  # the last products of each kind are new


@pytest.fixture(scope="module")
def model(fold) -> HybridRanker:  # type: ignore[no-untyped-def]
    return HybridRanker(**FAST, retrievers=("ease", "text-knn", "popularity"),
                        validation="global-temporal").fit(fold.train)


def test_the_shop_has_new_products(fold) -> None:  # type: ignore[no-untyped-def]
    assert fold.cold_items is not None and fold.cold_items.sum() >= 2
    assert np.isin(fold.test.item_index, np.flatnonzero(fold.cold_items)).any()


def test_the_pool_holds_items_nobody_bought(model: HybridRanker, fold) -> None:  # type: ignore[no-untyped-def]
    assert "text-knn" in NEW_ITEM_MODELS and model.scores_cold_items
    users = np.unique(fold.test.user_index)
    cands = model.candidates(users)
    assert (model.item_count_[fold.cold_items] == 0).all()
    proposed = cands.items[np.isfinite(cands.scores[:, model.retriever_names_.index("text-knn")])]
    assert fold.cold_items[proposed].any()
    # ... and no CF retriever proposes them
    for j, name in enumerate(model.retriever_names_):
        if name != "text-knn":
            assert not fold.cold_items[cands.items[np.isfinite(cands.scores[:, j])]].any()
    # the features of a new candidate are finite where they describe it
    F = model.feature_matrix(cands)
    col = {n: F[:, k] for k, n in enumerate(model.feature_names_)}
    new = fold.cold_items[cands.items]
    assert (col["item_new"][new] == 1).all() and (col["item_new"][~new] == 0).all()
    assert np.isfinite(col["text-knn:score"][new]).all()


def test_evidence_features_by_hand(model: HybridRanker, fold) -> None:  # type: ignore[no-untyped-def]
    users = np.unique(fold.test.user_index)[:6]
    cands = model.candidates(users)
    F = model.feature_matrix(cands)
    col = {n: F[:, k] for k, n in enumerate(model.feature_names_)}
    train = fold.train
    for p, item in enumerate(cands.items):
        sold = train.timestamps[train.item_index == item]
        assert col["item_interactions"][p] == len(sold)
        assert col["item_new"][p] == (len(sold) == 0)
        first = (train.timestamps.max() - sold.min()) / DAY if len(sold) else 0.0
        assert col["item_first_seen_days"][p] == pytest.approx(first, rel=1e-5, abs=1e-4)
    # text_neighbor_popularity: the cosine-weighted recent popularity of the warm neighbours
    T = model.item_side_.text_neighbors
    stats = model.stats_
    for p in range(0, cands.n_pairs, 7):
        row = T[cands.items[p]]
        warm = stats.item_count[row.indices] > 0
        if not warm.any():
            assert np.isnan(col["text_neighbor_popularity"][p])
            continue
        want = (row.data[warm] * stats.item_recent_popularity[row.indices[warm]]).sum() \
            / row.data[warm].sum()
        assert col["text_neighbor_popularity"][p] == pytest.approx(want, rel=1e-5)


def test_a_new_product_is_ranked_into_the_lists(model: HybridRanker, fold) -> None:  # type: ignore[no-untyped-def]
    """Each customer's new product of their kind is in their top 3 (the ranker learned from a
    validation part with launches in it that new products of one's kind sell)."""
    assert model.validation_["split"] == "global-temporal"
    assert model.ranker_kind_ == "lambdarank"
    test = fold.test
    users = np.unique(test.user_index)
    idx, _ = model.recommend_indices(users, 3)
    cold = fold.cold_items
    bought_new = 0
    for row, u in enumerate(users):
        new_bought = set(test.item_index[(test.user_index == u) & cold[test.item_index]].tolist())
        if new_bought:
            bought_new += 1
            assert new_bought & set(idx[row].tolist()), (u, idx[row], new_bought)
    assert bought_new >= 5


def test_without_the_text_group_no_new_item_is_listed(fold) -> None:  # type: ignore[no-untyped-def]
    m = HybridRanker(**FAST, retrievers=("ease", "text-knn", "popularity"),
                     features=("cf",), validation="global-temporal").fit(fold.train)
    assert "text-knn" not in m.retriever_names_ and not m.scores_cold_items
    assert not set(EVIDENCE) & set(m.feature_names_)
    idx, _ = m.recommend_indices(np.unique(fold.test.user_index), 10)
    assert not fold.cold_items[idx[idx >= 0]].any()


def test_evidence_columns_only_with_a_retriever_of_new_items() -> None:
    text_new = ["text_neighbor_popularity", "text_cf_score"]
    old = feature_names(["ease", "t", "pop"], ["cf", "text", "cf"], ["cf", "text"])
    assert not set(EVIDENCE + text_new) & set(old)
    new = feature_names(["ease", "t", "tk", "pop"], ["cf", "text", "text", "cf"],
                        ["cf", "text"], retriever_new_items=[False, False, True, False])
    # the evidence columns end the cf block, the two text columns the text block
    cf_end = new.index("popularity_affinity")
    assert new[cf_end + 1:cf_end + 4] == EVIDENCE
    assert new[-2:] == text_new
    assert [n for n in new if n not in EVIDENCE + text_new and not n.startswith("tk:")] == old
    assert {f.name for f in FEATURES if f.new_items} == set(EVIDENCE + text_new)


def test_global_temporal_validation_is_one_cut_in_time() -> None:
    # 3 users x 4 items; times: the latest 25 % of all interactions are the label part
    X = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 0, 1, 0], [0, 1, 1, 1]], dtype=np.float32))
    T = X.copy()
    T.data = np.array([1, 2, 9, 3, 4, 5, 10, 11], dtype=np.float64)  # row by row
    s = split_validation(X, T, 0.25, "global-temporal", random_state=0)
    assert s.how == "global-temporal"
    # the 0.75 quantile of the times is 9.5: times 10 and 11 (user 2's items 2 and 3) are held
    assert s.label.toarray().tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]
    assert (s.fit + s.label - X).nnz == 0
    assert sorted(s.fit_times.data.tolist()) == [1, 2, 3, 4, 5, 9]
    # one fold, whatever is asked; timestamps are needed
    assert len(split_validation_folds(X, T, 0.25, "global-temporal", 0, 3)) == 1
    with pytest.raises(ValueError, match="timestamps"):
        split_validation(X, None, 0.25, "global-temporal", random_state=0)
    # a user with all their interactions after the cut keeps none in the fit part
    s = split_validation(X, T, 0.5, "global-temporal", random_state=0)
    assert s.label[2].nnz == 3 and s.fit[2].nnz == 0


def test_text_cf_score_is_a_ridge_from_text_to_ease_columns(model: HybridRanker,
                                                            fold) -> None:  # type: ignore[no-untyped-def]
    """Against scikit-learn's ridge fitted the other way round: from each warm item's
    embedding to its column of EASE's weights, then the user's score of the predicted
    column."""
    from sklearn.linear_model import Ridge

    from synerec.hybrid.text_map import TEXT_MAP_LAMBDA

    ease = model.retrievers_[model.retriever_names_.index("ease")]
    X = model.train_
    n_items = X.shape[1]
    B = ease.score_profiles(sp.identity(n_items, format="csr", dtype=np.float32))
    B = np.nan_to_num(np.asarray(B, dtype=np.float64))  # row i: B[i, :]
    E = model.item_side_.embeddings.astype(np.float64)
    warm = (np.bincount(X.indices, minlength=n_items) > 0) & (np.abs(E).sum(axis=1) > 0)
    ridge = Ridge(alpha=TEXT_MAP_LAMBDA, fit_intercept=False).fit(E[warm], B[:, warm].T)
    B_hat = ridge.predict(E).T  # column j: B's column of item j predicted from its text
    users = np.unique(fold.test.user_index)[:5]
    cands = model.candidates(users)
    F = model.feature_matrix(cands)
    got = F[:, model.feature_names_.index("text_cf_score")]
    want = np.array([X[u].toarray()[0, warm] @ B_hat[warm, j]
                     for u, j in zip(cands.pair_users, cands.items, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.isfinite(got[fold.cold_items[cands.items]]).all()


def test_a_new_arrivals_shelf_proposes_only_new_items(fold) -> None:  # type: ignore[no-untyped-def]
    m = HybridRanker(**FAST, retrievers=("ease", "text-knn", "new", "popularity"),
                     retriever_params={"new": {"model": "text-knn", "new_only": True}},
                     validation="global-temporal").fit(fold.train)
    users = np.unique(fold.test.user_index)
    cands = m.candidates(users)
    j = m.retriever_names_.index("new")
    proposed = cands.items[np.isfinite(cands.scores[:, j])]
    assert len(proposed) and (m.item_count_[proposed] == 0).all()
    with pytest.raises(Exception, match="new_only"):
        HybridRanker(retrievers=("ease",), retriever_params={"ease": {"new_only": True}}
                     ).fit(fold.train)


def test_a_missing_fine_tuned_encoder_folder_fails_the_fit(fold, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from synerec.exceptions import ModelFileError

    with pytest.raises(ModelFileError):
        HybridRanker(**{**FAST, "encoder": "minilm"}, retrievers=("ease", "text-knn"),
                     encoder_path=str(tmp_path / "nowhere")).fit(fold.train)


def test_place_new_items_by_hand() -> None:
    from synerec.hybrid.candidates import CandidateSet, place_new_items

    # user 0: items 0..4 scored 5, 4, 3, 2, 1; items 3 and 4 are new: the better one (3) goes
    # to rank 2, between 5 and 4; user 1: its new item 4 already ranks first; user 2: none new
    items = np.array([0, 1, 2, 3, 4, 1, 4, 0, 2])
    scores = np.array([5, 4, 3, 2, 1, 1, 2, 3, 4], dtype=np.float32)
    nan = np.full((9, 1), np.nan, np.float32)
    cands = CandidateSet(np.array([0, 1, 2]), np.array([0, 5, 7, 9]), items, nan, nan,
                         np.full((3, 1), np.nan, np.float32))
    new = np.array([False, False, False, True, True])
    out = place_new_items(cands, scores, new, 2)
    order = np.argsort(-out[:5], kind="stable")
    assert items[:5][order].tolist() == [0, 3, 1, 2, 4]
    np.testing.assert_array_equal(out[5:], scores[5:])
    assert 4 < out[3] < 5
    np.testing.assert_array_equal(place_new_items(cands, scores, new, 0), scores)
    # slot 1: the new item first
    out = place_new_items(cands, scores, new, 1)
    assert int(items[:5][np.argmax(out[:5])]) == 3


def test_a_new_item_slot_puts_a_new_product_in_every_list(fold) -> None:  # type: ignore[no-untyped-def]
    m = HybridRanker(**FAST, retrievers=("ease", "text-knn", "popularity"),
                     validation="global-temporal", new_item_slot=3).fit(fold.train)
    users = np.flatnonzero(m.user_count_ > 0)
    idx, _ = m.recommend_indices(users, 3)
    assert fold.cold_items[idx].any(axis=1).all()


def test_the_new_item_slot_follows_the_protocol() -> None:
    from synerec.hybrid.config import GLOBAL_TEMPORAL_SLOT, HybridConfig

    assert HybridConfig().resolved_new_item_slot == 0
    assert HybridConfig(validation="global-temporal").resolved_new_item_slot \
        == GLOBAL_TEMPORAL_SLOT == 20
    assert HybridConfig(validation="global-temporal",
                        new_item_slot=0).resolved_new_item_slot == 0
    assert HybridConfig(new_item_slot=5).resolved_new_item_slot == 5
    with pytest.raises(ValueError, match="new_item_slot"):
        HybridConfig(new_item_slot=-1)


def test_a_new_product_is_explained_by_its_description(model: HybridRanker,
                                                       fold) -> None:  # type: ignore[no-untyped-def]
    from synerec.hybrid.explain import check_claims, signal_label

    assert signal_label(model, "text-knn") == "closeness in description (text-knn)"
    users = np.unique(fold.test.user_index)
    texts = []
    for u in users[:6]:
        for e in model.explain_list(int(u), np.flatnonzero(fold.cold_items)):
            assert all(why is None for _, why in check_claims(model, e)), e.text
            texts.append(e.text)
    assert any("in description (text-knn)" in t for t in texts)
    assert not any("who chose it (text-knn)" in t for t in texts)
