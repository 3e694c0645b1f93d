"""The hybrid model: candidates, features, the leakage-free protocol, persistence, explanations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.algorithms import Recommender, create_model
from synerec.data import InteractionDataset
from synerec.data.demo_shop import generate_demo_shop
from synerec.exceptions import ConfigError, ModelFileError
from synerec.hybrid import HybridRanker, generate_candidates
from synerec.hybrid.claims import FAVOURITE_CATEGORY_SHARE, Claim
from synerec.hybrid.config import DEFAULT_RETRIEVERS
from synerec.hybrid.explain import check_claims, check_faithful, contributors, explain_pair
from synerec.hybrid.split import split_validation, split_validation_folds
from synerec.hybrid.stats import RECENT_ITEMS, TEXT_NEIGHBORS, recent_item_mask
from synerec.text import user_profiles
from synerec.topk import PAD_INDEX

#: A small shop: fits in a few seconds.
SHOP = {"n_users": 120, "n_items": 150, "ratings_per_user": 25, "random_state": 11}
FAST = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 40, "min_data_in_leaf": 5,
        "num_leaves": 7, "n_candidates": 40}


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return generate_demo_shop(**SHOP)


@pytest.fixture(scope="module")
def model(shop: InteractionDataset) -> HybridRanker:
    return HybridRanker(**FAST).fit(shop)


def _users(model: HybridRanker, k: int = 12) -> np.ndarray:
    return np.flatnonzero(model.user_count_ > 0)[:k]


# -- stage 1 -------------------------------------------------------------------------------------

def test_candidates_are_the_union_of_each_retrievers_top_m(model: HybridRanker) -> None:
    users = _users(model)
    cands = model.candidates(users)
    M = model.config_.n_candidates
    for j, r in enumerate(model.retrievers_):
        idx, sc = r.recommend_indices(users, M)
        for row in range(len(users)):
            lo, hi = cands.indptr[row], cands.indptr[row + 1]
            items = cands.items[lo:hi]
            valid = idx[row] != PAD_INDEX
            for rank, (i, s) in enumerate(zip(idx[row][valid], sc[row][valid],
                                              strict=True), start=1):
                k = int(np.flatnonzero(items == i)[0])
                assert cands.scores[lo + k, j] == s and cands.ranks[lo + k, j] == rank
            listed = set(idx[row][valid].tolist())
            absent = np.array([int(i) not in listed for i in items])
            assert np.isnan(cands.scores[lo:hi, j][absent]).all()
    for row in range(len(users)):  # the union, each pair once, sorted
        lo, hi = cands.indptr[row], cands.indptr[row + 1]
        union = set()
        for r in model.retrievers_:
            idx, _ = r.recommend_indices(users[row:row + 1], M)
            union |= {int(i) for i in idx[0] if i != PAD_INDEX}
        assert cands.items[lo:hi].tolist() == sorted(union)
        seen = set(model.train_[users[row]].indices.tolist())
        assert not seen & union


def test_features_by_hand(model: HybridRanker) -> None:
    users = _users(model, 5)
    cands = model.candidates(users)
    F = model.feature_matrix(cands)
    names = model.feature_names_
    col = {n: F[:, k] for k, n in enumerate(names)}
    X = model.train_
    E = model.item_side_.embeddings
    P = user_profiles(X, E)
    C = model.item_side_.categories.toarray() > 0
    counts = np.bincount(X.indices, minlength=X.shape[1])
    active = int((np.diff(X.indptr) > 0).sum())
    for p in range(0, cands.n_pairs, 37):
        u, i = int(cands.pair_users[p]), int(cands.items[p])
        assert col["item_popularity"][p] == pytest.approx(counts[i] / active)
        assert col["user_activity"][p] == pytest.approx(np.log1p(X.indptr[u + 1] - X.indptr[u]))
        assert col["text_cosine"][p] == pytest.approx(float(P[u] @ E[i]), abs=1e-5)
        hist = X.indices[X.indptr[u]:X.indptr[u + 1]]
        cos = E @ E[i]  # slow reference of text_max_cosine: the item's top-50 positive cosines
        cos[i] = -np.inf
        near = np.argsort(-cos, kind="stable")[:TEXT_NEIGHBORS]
        near = set(near[cos[near] > 0].tolist())
        close = [cos[j] for j in hist if j in near]
        if close:
            assert col["text_max_cosine"][p] == pytest.approx(max(close), abs=1e-5)
            assert max(close) == pytest.approx(float((E[hist] @ E[i]).max()), abs=1e-6)
        else:
            assert np.isnan(col["text_max_cosine"][p])
        shares = [C[hist, c].mean() for c in np.flatnonzero(C[i])]
        assert col["category_share"][p] == pytest.approx(max(shares))
        assert col["n_retrievers"][p] == np.isfinite(cands.scores[p]).sum()
        for j, name in enumerate(model.retriever_names_):
            s, top = cands.scores[p, j], cands.top_scores[cands.rows[p], j]
            if np.isfinite(s):
                assert col[f"{name}:score_rel"][p] == pytest.approx(s / abs(top))
            else:
                assert np.isnan(col[f"{name}:score_rel"][p])
        pred = model.retrievers_[model.retriever_names_.index("item-cf")].predict_indices(
            [u], [i])[0]
        assert col["item-cf:prediction"][p] == pytest.approx(pred, abs=1e-5)
        # ease:recent, slowly: EASE's weights summed over the user's latest positives only
        ease = model.retrievers_[model.retriever_names_.index("ease")]
        times = model.times_[u].toarray().ravel()
        mine = ease.positives_[u].indices
        latest = sorted(hist.tolist(), key=lambda j: (-times[j], j))[:RECENT_ITEMS]
        want = sum(float(ease.weights_[j, i]) for j in latest if j in set(mine.tolist()))
        assert col["ease:recent"][p] == pytest.approx(want, abs=1e-5)


def test_default_retrievers_and_recent_features(model: HybridRanker) -> None:
    # the shop's ratings are explicit: EASE twice (positives, every rating), ALS (implicit is
    # installed in the test environment), and a :recent column for each EASE (timestamps)
    assert model.retriever_names_ == list(DEFAULT_RETRIEVERS)
    names = model.feature_names_
    assert "ease:recent" in names and "ease-all:recent" in names
    assert "als:recent" not in names and "item-cf:recent" not in names
    ease_all = model.retrievers_[model.retriever_names_.index("ease-all")]
    assert ease_all.positives_.nnz == model.train_.nnz  # every rating is a positive
    assert model.retrievers_[0].positives_.nnz < model.train_.nnz


def test_recent_item_mask_keeps_each_users_latest() -> None:
    X = sp.csr_matrix(np.array([[5, 4, 3, 2, 1, 0, 0], [0, 1, 0, 0, 0, 0, 1]], np.float32))
    T = X.copy()
    T.data = np.array([10, 50, 30, 40, 20, 7, 3], np.float64)
    R = recent_item_mask(X, T, k=3)
    assert R[0].indices.tolist() == [1, 2, 3] and R[0].data.tolist() == [4, 3, 2]
    assert R[1].indices.tolist() == [1, 6]


def test_a_default_retriever_without_its_package_is_left_out(
        shop: InteractionDataset, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import synerec.hybrid.retrievers as hr

    monkeypatch.setitem(hr.NEEDS_PACKAGE, "als", "no_such_package_for_synerec")
    with caplog.at_level("WARNING", logger="synerec.hybrid.retrievers"):
        m = HybridRanker(**FAST).fit(shop)
    assert "als" not in m.retriever_names_ and "ease" in m.retriever_names_
    assert "needs the no_such_package_for_synerec package" in caplog.text
    # named in the configuration, the retriever is kept (its own fit says what is missing)
    probe = HybridRanker(**FAST, retrievers=("ease", "als"))
    assert hr.package_available(probe.get_config(), "als")


# -- training without leakage ---------------------------------------------------------------------

def test_temporal_validation_part_is_each_users_latest(shop: InteractionDataset,
                                                      model: HybridRanker) -> None:
    X, T = model.train_, model.times_
    split = split_validation(X, T, 0.2, "auto", 0)
    assert split.how == "temporal"
    assert (split.fit + split.label != X).nnz == 0
    assert split.fit.multiply(split.label).nnz == 0
    for u in range(X.shape[0]):
        n = X.indptr[u + 1] - X.indptr[u]
        held = split.label.indptr[u + 1] - split.label.indptr[u]
        assert held == (min(int(np.ceil(0.2 * n - 1e-9)), n - 1) if n else 0)
        if held:
            t_fit = split.fit_times[u].data
            t_lab = T[u][:, split.label[u].indices].toarray().ravel()
            assert t_lab.min() >= t_fit.max()


def test_random_validation_folds_are_disjoint() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(30, 40, density=0.4, random_state=1, format="csr", dtype=np.float32)
    X.data = rng.integers(1, 6, X.nnz).astype(np.float32)
    splits = split_validation_folds(X, None, 0.2, "auto", 3, folds=4)
    assert [s.how for s in splits] == ["random"] * 4
    labels = [s.label for s in splits]
    for a in range(4):
        assert (splits[a].fit + labels[a] != X).nnz == 0
        for b in range(a + 1, 4):
            assert labels[a].multiply(labels[b]).nnz == 0
    with pytest.raises(ValueError, match="exceed"):
        split_validation_folds(X, None, 0.3, "random", 0, folds=4)


def test_ranker_learns_from_retrievers_that_never_saw_the_labels(
        shop: InteractionDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: list[sp.csr_matrix] = []
    original = HybridRanker._fit_retrievers

    def spy(self: HybridRanker, X: sp.csr_matrix, T: sp.csr_matrix | None
            ) -> list[Recommender]:
        fitted.append(X.copy())
        return original(self, X, T)

    monkeypatch.setattr(HybridRanker, "_fit_retrievers", spy)
    m = HybridRanker(**FAST).fit(shop)
    assert len(fitted) == 2
    split = split_validation(m.train_, m.times_, 0.2, "auto", 0)
    assert (fitted[0] != split.fit).nnz == 0  # the fit part only: no label pair
    assert fitted[0].multiply(split.label).nnz == 0
    assert (fitted[1] != m.train_).nnz == 0  # then refitted on everything
    assert m.ranker_kind_ == "lambdarank"
    assert m.validation_["split"] == "temporal" and m.validation_["users"] > 50
    for r in m.retrievers_:
        assert (r.train_ != m.train_).nnz == 0


def test_the_training_table_built_in_user_batches_is_the_one_pass_table(
        shop: InteractionDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of users give the same rows, features and labels as one pass, and
    ``max_train_users`` takes a seeded sample of the users (issue 25)."""
    from synerec.hybrid import training_table as tt

    tables: list[tt.TrainingTable] = []
    original = tt.training_table

    def keep(*args: object, **kwargs: object) -> tt.TrainingTable | None:
        table = original(*args, **kwargs)  # type: ignore[arg-type]
        assert table is not None
        tables.append(table)
        return table

    monkeypatch.setattr("synerec.hybrid.model.training_table", keep)
    one = HybridRanker(**FAST).fit(shop)
    monkeypatch.setattr(tt, "TABLE_BATCH_USERS", 7)
    batched = HybridRanker(**FAST).fit(shop)
    a, b = tables
    assert a.info["users"] > 7 * 5  # several batches
    np.testing.assert_array_equal(a.features, b.features)
    for name in ("labels", "sizes", "users", "items"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.info == b.info
    users = shop.users.ids[:30].tolist()
    assert one.recommend(users, 10)[0].tolist() == batched.recommend(users, 10)[0].tolist()
    capped = HybridRanker(**FAST, max_train_users=20).fit(shop)
    c = tables[-1]
    assert c.info["users"] == 20 and set(c.users.tolist()) < set(a.users.tolist())
    assert capped.validation_["users"] == 20
    assert HybridRanker().get_config().train_users_cap == 10_000
    with pytest.raises(ConfigError, match="max_train_users"):
        HybridRanker(max_train_users=1).fit(shop)


# -- scores, persistence ---------------------------------------------------------------------------

def test_predict_is_the_rankers_score(model: HybridRanker) -> None:
    u = int(_users(model)[0])
    ids, scores = model.recommend([model.users_.id(u)], 5)
    cands = model.candidates(np.array([u]))
    raw = model.ranker_.predict(model.feature_matrix(cands))
    for iid, s in zip(ids[0], scores[0], strict=True):
        i = model.items_.index(iid)
        k = int(np.flatnonzero(cands.items == i)[0])
        assert s == pytest.approx(raw[k], abs=1e-5)
        p = model.predict_one(model.users_.id(u), iid)
        assert p.raw_value == pytest.approx(raw[k], abs=1e-9)
        assert p.value == p.raw_value and not p.clipped  # a score, not a rating
    assert scores[0].tolist() == sorted(scores[0].tolist(), reverse=True)


def test_save_and_load_give_identical_lists(model: HybridRanker, shop: InteractionDataset,
                                            tmp_path: Path) -> None:
    path = model.save(tmp_path / "hybrid")
    assert sorted(p.name for p in path.iterdir()) == ["arrays.npz", "model.json", "ranker.txt"]
    manifest = json.loads((path / "model.json").read_text())
    assert manifest["files"]["ranker.txt"]["bytes"] == (path / "ranker.txt").stat().st_size
    assert (path / "ranker.txt").read_text().startswith("tree\n")
    loaded = Recommender.load(path)
    assert isinstance(loaded, HybridRanker) and loaded.ranker_kind_ == "lambdarank"
    users = [*shop.users.ids[:40].tolist(), "nobody"]
    a_ids, a_sc = model.recommend(users, 10, unknown="fallback")
    b_ids, b_sc = loaded.recommend(users, 10, unknown="fallback")
    assert a_ids.tolist() == b_ids.tolist()
    np.testing.assert_array_equal(a_sc, b_sc)
    u, i = shop.users.ids[3], a_ids[3][0]
    assert loaded.predict_one(u, i).details["explanation"] == \
        model.predict_one(u, i).details["explanation"]
    # a changed ranker file is refused (checksum), as is a missing one
    text = (path / "ranker.txt").read_text()
    (path / "ranker.txt").write_text(text.replace("tree", "tree ", 1))
    with pytest.raises(ModelFileError, match=r"ranker\.txt is corrupted"):
        Recommender.load(path)
    (path / "ranker.txt").unlink()
    with pytest.raises(ModelFileError, match=r"ranker\.txt is missing"):
        Recommender.load(path)


def test_reciprocal_rank_fusion_when_nothing_can_be_learned(shop: InteractionDataset) -> None:
    m = HybridRanker(**{**FAST, "relevance_threshold": 5.5}).fit(shop)  # no rating >= 5.5
    assert m.ranker_kind_ == "rrf" and m.ranker_ is None
    u = int(_users(m)[2])
    ids, scores = m.recommend_indices(np.array([u]), 6)
    expected: dict[int, float] = {}
    for r in m.retrievers_:
        idx, _ = r.recommend_indices(np.array([u]), m.config_.n_candidates)
        for rank, i in enumerate(idx[0][idx[0] != PAD_INDEX], start=1):
            expected[int(i)] = expected.get(int(i), 0.0) + 1.0 / (60.0 + rank)
    best = sorted(expected, key=lambda i: (-expected[i], i))[:6]
    assert ids[0].tolist() == best
    np.testing.assert_allclose(scores[0], [expected[i] for i in best], rtol=1e-6)


def test_text_features_need_text(shop: InteractionDataset) -> None:
    m = HybridRanker(**FAST).fit(shop.matrix, rating_scale=(1, 5))  # a bare matrix: no text
    assert m.feature_groups_ == ("cf",)
    assert "t-item-cf" not in m.retriever_names_
    assert not any(n.startswith("text") for n in m.feature_names_)
    E = np.random.default_rng(0).normal(size=(shop.n_items, 8)).astype(np.float32)
    m = HybridRanker(**FAST).fit(shop.matrix, rating_scale=(1, 5), item_embeddings=E)
    assert m.feature_groups_ == ("cf", "text") and "t-item-cf" in m.retriever_names_


def test_configuration_errors(shop: InteractionDataset) -> None:
    with pytest.raises(ConfigError, match="needs an LLM"):
        HybridRanker(**FAST, features=("cf", "text", "llm")).fit(shop)
    with pytest.raises(ConfigError, match="no-such-model"):
        HybridRanker(**FAST, retrievers=("item-cf", "no-such-model")).fit(shop)
    with pytest.raises(ConfigError, match="distinct"):
        HybridRanker(retrievers=("item-cf", "item-cf")).fit(shop)
    with pytest.raises(ConfigError, match="has no option 'bogus'"):
        HybridRanker(**FAST, retriever_params={"item-cf": {"bogus": 1}}).fit(shop)


def test_a_retriever_twice_under_two_labels(shop: InteractionDataset) -> None:
    m = HybridRanker(**{**FAST, "features": ("cf",)},
                     retrievers=("item-cf", "item-cf-adjusted", "popularity"),
                     retriever_params={"item-cf-adjusted": {
                         "model": "item-cf", "similarity": "adjusted_cosine"}}).fit(shop)
    a, b = m.retrievers_[0], m.retrievers_[1]
    assert a.config_.similarity == "cosine" and b.config_.similarity == "adjusted_cosine"
    assert "item-cf-adjusted:rank" in m.feature_names_


def test_implicit_data(tmp_path: Path) -> None:
    shop = generate_demo_shop(**SHOP)
    df = shop.to_dataframe()
    implicit = InteractionDataset.from_dataframe(
        df.assign(rating=1.0), items=shop.item_info.reset_index(), rating_scale=None)
    m = HybridRanker(**FAST).fit(implicit)
    assert m.rating_scale_ is None and m.ranker_kind_ == "lambdarank"
    assert not any(n.endswith(":prediction") for n in m.feature_names_)
    loaded = Recommender.load(m.save(tmp_path / "m"))
    users = implicit.users.ids[:20].tolist()
    assert loaded.recommend(users, 5)[0].tolist() == m.recommend(users, 5)[0].tolist()


# -- explanations ---------------------------------------------------------------------------------

def test_contributors_add_up_to_the_retrievers_scores(model: HybridRanker) -> None:
    for name in ("item-cf", "user-cf"):
        r = model.retrievers_[model.retriever_names_.index(name)]
        users = _users(model, 6)
        idx, sc = r.recommend_indices(users, 5)
        for row, u in enumerate(users):
            for i, s in zip(idx[row], sc[row], strict=True):
                if i == PAD_INDEX:
                    continue
                keys, terms, kind = contributors(r, int(u), int(i))
                assert kind == ("items" if name == "item-cf" else "users")
                assert len(keys) == len(terms)
                assert terms.sum() == pytest.approx(float(s), rel=1e-5)
                assert (np.diff(terms) <= 0).all()


def test_explanations_are_faithful(model: HybridRanker, shop: InteractionDataset) -> None:
    users = _users(model, 15)
    idx, _ = model.recommend_indices(users, 5)
    n_cited = 0
    for row, u in enumerate(users):
        for i in idx[row]:
            e = explain_pair(model, int(u), int(i))
            assert check_faithful(model, e) is None
            raw = model.predict_one(model.users_.id(u), model.items_.id(i)).raw_value
            assert e.score == pytest.approx(raw, abs=1e-6)  # SHAP values add up to the score
            assert "The signal that weighed most" in e.text
            assert e.top_signal == max((s for s in e.signals if s.name != "user"),
                                       key=lambda s: s.contribution).name
            hist = set(model.train_[int(u)].indices.tolist())
            for _, c in e.cited:
                assert c in hist
                assert model.titles_[c] in e.text
            n_cited += len(e.cited)
    assert n_cited > 20


def test_every_claim_is_true_and_a_false_one_is_caught(model: HybridRanker) -> None:
    # Every claim of every sentence checks out against the training data ...
    users = _users(model, 30)
    idx, _ = model.recommend_indices(users, 10)
    kinds: set[str] = set()
    for row, u in enumerate(users):
        for e in model.explain_list(int(u), idx[row][idx[row] >= 0]):
            for kind, why in check_claims(model, e):
                assert why is None, (kind, why, e.text)
                kinds.add(kind)
            for c in e.claims:  # "a category you often choose" only above the threshold
                if c.kind == "favourite-category":
                    cat = model.item_side_.category_index(str(c.category))
                    members = model.item_side_.categories.tocsc()[:, cat].indices
                    hist = model.train_[int(u)].indices
                    assert np.isin(hist, members).mean() >= FAVOURITE_CATEGORY_SHARE
    assert {"bought-together", "favourite-category"} <= kinds
    # ... and the old false claim (issue 23: "popular in watches_gifts, a category you often
    # choose" to a customer who never chose it) is caught.
    from dataclasses import replace

    C = model.item_side_.categories.tocsc()
    for u in users:
        u = int(u)
        hist = set(model.train_[u].indices.tolist())
        for i in range(model.n_items_):
            cats = model.item_side_.categories[i].indices
            never = [c for c in cats if not hist & set(C[:, c].indices.tolist())]
            if never:
                break
        else:
            continue
        name = str(model.item_side_.category_names[never[0]])
        e = explain_pair(model, u, i)
        bad = replace(e, claims=(Claim("favourite-category", "category", category=name),))
        [(kind, why)] = check_claims(model, bad)
        assert kind == "favourite-category" and "of the user's items, under" in str(why)
        break
    else:
        pytest.fail("no user without some category in this shop")
    unpopular = int(np.argmin(np.where(model.item_count_ > 0, model.item_count_, 10**9)))
    e = explain_pair(model, int(users[0]), unpopular)
    bad = replace(e, claims=(Claim("popular", "popularity", popular=True),))
    assert "not among the most popular" in str(check_claims(model, bad)[0][1])


def test_a_forged_citation_is_caught(model: HybridRanker) -> None:
    u = int(_users(model)[1])
    i = int(model.recommend_indices(np.array([u]), 1)[0][0, 0])
    e = explain_pair(model, u, i)
    hist = model.train_[u].indices
    not_hist = next(j for j in range(model.n_items_) if j not in set(hist.tolist()))
    from dataclasses import replace

    bad = replace(e, cited=(("item-cf", not_hist),))
    assert "not in user" in check_faithful(model, bad)
    keys, terms, _ = contributors(model.retrievers_[0], u, i)
    weak = [int(j) for j in hist if j not in set(keys[terms > 0][:3].tolist())]
    bad = replace(e, cited=(("item-cf", weak[0]),))
    assert "not among the top" in check_faithful(model, bad)


def test_explainer_reads_the_hybrid_evidence(model: HybridRanker, shop: InteractionDataset
                                             ) -> None:
    from synerec.llm import Explainer

    ex = Explainer(model).fit(shop)
    u = shop.users.ids[5]
    item = model.recommend([u], 1)[0][0, 0]
    e = ex.explain(u, item)
    X = model.train_
    for cited in e.cited_items:
        assert X[shop.users.index(u), shop.items.index(cited)] > 0


def test_hybrid_in_the_registry_and_runner(shop: InteractionDataset) -> None:
    from synerec.evaluation import ModelSpec, evaluate

    m = create_model("hybrid", **FAST)
    assert isinstance(m, HybridRanker)
    res = evaluate([ModelSpec("hybrid", FAST, "hybrid")], shop, "holdout", n=10)
    assert 0 < res.summary().loc["hybrid", "ndcg@10"] <= 1


def test_generate_candidates_with_extra_pairs(model: HybridRanker) -> None:
    users = _users(model, 3)
    cands = generate_candidates(model.retrievers_, users, 5,
                                extra=(np.array([0, 2]), np.array([0, 1])))
    for row, item in ((0, 0), (2, 1)):
        lo, hi = cands.indptr[row], cands.indptr[row + 1]
        assert item in cands.items[lo:hi].tolist()
    frame = pd.DataFrame({"u": cands.pair_users, "i": cands.items})
    assert not frame.duplicated().any()


# -- the LLM stage --------------------------------------------------------------------------------

class KnowingLLM:
    """A test double that recognises the user from the prompt's history and "knows" every
    item of that user in the whole data set (a signal no other feature has)."""

    name = "knowing"
    supports_logprob = True

    def __init__(self, items_of_user: list[set[str]]) -> None:
        self.items_of_user = items_of_user
        self.calls = 0

    def logprobs(self, prompt: str, continuations: list[str]) -> list[float]:
        self.calls += 1
        history = {line[2:] for line in prompt.split("\n") if line.startswith("- ") and
                   len(line) > 2}
        if not history:  # the prior: the same for every title
            return [-10.0] * len(continuations)
        known = max(self.items_of_user, key=lambda s: len(history & s))
        return [-2.0 if c.strip() in known else -9.0 for c in continuations]

    def complete(self, messages: object, **kwargs: object) -> str:
        raise AssertionError("not used")


def test_llm_stage_learns_the_weight_of_the_llm_score(shop: InteractionDataset,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    from synerec.data import holdout_split
    from synerec.hybrid import llm_stage
    from synerec.llm.prompts import clean_title
    from synerec.topk import topk_sparse

    X = shop.matrix
    titles = [clean_title(str(t), 80) for t in shop.item_info["title"]]
    fake = KnowingLLM([{titles[j] for j in X[u].indices} for u in range(shop.n_users)])
    monkeypatch.setattr(llm_stage, "make_llm", lambda *a, **k: fake)
    fold = holdout_split(shop, 0.2, per_user=True, random_state=0)
    m = HybridRanker(**FAST, features=("cf", "text", "llm"), llm="local", llm_candidates=8,
                     llm_train_users=60).fit(fold.train)
    assert m.ranker_llm_ is not None and fake.calls > 0
    assert m.llm_fit_stats_["users"] == 60 and m.llm_fit_stats_["failures"] == 0
    assert m.ranker_llm_.feature_importance()["llm_score"] > 0
    users = _users(m, 30)
    idx, _ = m.recommend_indices(users, 8)
    cands = m.candidates(users)
    stage_a = m.rank_scores(cands, llm=False)
    S = sp.csr_matrix((stage_a.astype(np.float32), cands.items, cands.indptr),
                      shape=(len(users), m.n_items_))
    idx_a, _ = topk_sparse(S, 8, assume_unique=True)
    T = fold.test.matrix

    def hits(lists: np.ndarray) -> int:
        return sum(int(T[u, i] > 0) for u, row in zip(users, lists[:, :3], strict=True)
                   for i in row if i != PAD_INDEX)

    assert hits(idx) > hits(idx_a)  # the known test items moved to the top three
    for row in range(len(users)):  # the same eight items, reordered
        assert set(idx[row].tolist()) == set(idx_a[row].tolist())
    stats = m.llm_seconds_per_user_
    assert stats["users"] >= 90 and stats["seconds_per_user_mean"] >= 0
    loaded = Recommender.load(m.save(tmp_path / "llm"))
    assert sorted(p.name for p in (tmp_path / "llm").iterdir()) == [
        "arrays.npz", "model.json", "ranker.txt", "ranker_llm.txt"]
    assert loaded.recommend_indices(users, 8)[0].tolist() == idx.tolist()
    loaded.prepare_serving()  # the service's request path: the first stage only
    assert loaded.llm_enabled is False
    assert loaded.recommend_indices(users, 8)[0].tolist() == idx_a.tolist()


def test_explanations_name_the_new_default_signals(model: HybridRanker) -> None:
    from synerec.hybrid.explain import Signal, _sentence, signal_label

    assert signal_label(model, "ease") == "items you liked together with it (ease)"
    assert signal_label(model, "ease-all") == "items you rated together with it (ease-all)"
    assert signal_label(model, "als") == "your taste profile from all your ratings (als)"
    u = int(_users(model)[0])
    j = int(model.train_[u].indices[0])
    text, cited, claims = _sentence(model, [Signal("ease-all", 1.0, (j,), (0.5,)),
                                            Signal("als", 0.5)], "als", u, 0)
    assert "people who rated" in text and "also rated it (ease-all)" in text
    assert text.endswith("The signal that weighed most: your taste profile from all your "
                         "ratings (als).")
    assert cited == [("ease-all", j)]
    assert [(c.kind, c.items) for c in claims] == [("bought-together", (j,))]
