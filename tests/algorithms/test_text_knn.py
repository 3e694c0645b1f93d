"""T-ItemCF and T-UserCF: blended similarity, eq. 3 / eq. 4 on it, alpha="auto", cold start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.algorithms import (
    ItemKNN,
    Recommender,
    TextItemKNN,
    TextUserKNN,
    UserKNN,
    create_model,
)
from synerec.algorithms.text_knn import ALPHA_GRID, VALIDATION_FRACTION, center_rows
from synerec.data import InteractionDataset
from synerec.exceptions import ConfigError
from synerec.similarity.text import blend_similarity
from synerec.text import TfidfEncoder, item_texts, user_profiles

PLAIN = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}


def toy() -> InteractionDataset:
    """a: x=4, y=2; b: x=5, y=1, z=2; c: x=2, y=4, z=5 (as the conformance known answers)."""
    df = pd.DataFrame({"user_id": ["a", "a", "b", "b", "b", "c", "c", "c"],
                       "item_id": ["x", "y", "x", "y", "z", "x", "y", "z"],
                       "rating": [4, 2, 5, 1, 2, 2, 4, 5]})
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


def clustered(seed: int = 0, n_users: int = 40, n_items: int = 30, cold: int = 3,
              density: float = 0.35) -> tuple[InteractionDataset, np.ndarray]:
    """Two genres of items; users like one genre (5) and dislike the other (1), with noise.

    The embeddings tell the genre: text is informative. The last ``cold`` items (of genre
    0) have text but no rating.
    """
    rng = np.random.default_rng(seed)
    genre = np.arange(n_items) % 2
    taste = rng.integers(0, 2, size=n_users)
    rows = []
    for u in range(n_users):
        for i in range(n_items - cold):
            if rng.random() < density:
                r = 5 if genre[i] == taste[u] else 1
                r = int(np.clip(r + rng.integers(-1, 2), 1, 5))
                rows.append((f"u{u}", f"i{i}", r))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    titles = [("space robots laser" if g == 0 else "love wedding romance") + f" {i}"
              for i, g in enumerate(genre)]
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "title": titles})
    ds = InteractionDataset.from_dataframe(df, items=items, rating_scale=(1, 5), name="clusters",
                                           keep_all_items=True)
    E = np.zeros((ds.n_items, 3), dtype=np.float32)
    for j, iid in enumerate(ds.items.ids):
        g = genre[int(str(iid)[1:])]
        v = np.array([1.0, 0.0, 0.0]) if g == 0 else np.array([0.0, 1.0, 0.0])
        v = v + rng.normal(scale=0.05, size=3)
        E[j] = v / np.linalg.norm(v)
    return ds, E


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path / "cache"))


# -- known answers --------------------------------------------------------------------------------

def test_alpha_one_equals_the_cf_twins() -> None:
    data = toy()
    uu = np.repeat(np.arange(3), 3)
    ii = np.tile(np.arange(3), 3)
    for twin, text in [(ItemKNN(k=2, **PLAIN), TextItemKNN(k=2, alpha=1.0, **PLAIN)),
                       (UserKNN(k=2, **PLAIN), TextUserKNN(k=2, alpha=1.0, **PLAIN))]:
        twin.fit(data)
        text.fit(data)  # alpha = 1: no encoder is run, no text needed
        assert text.alpha_ == 1.0
        assert (twin.similarity_ != text.similarity_).nnz == 0
        np.testing.assert_array_equal(text.predict_indices(uu, ii), twin.predict_indices(uu, ii))
        a, b = text.recommend(["a", "b", "c"], n=3), twin.recommend(["a", "b", "c"], n=3)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_array_equal(a[1], b[1])


def test_item_blend_hand_computed() -> None:
    """w = 0.5 cos_CF + 0.5 cos_text; eq. 4 on the blended weights.

    CF (conformance known answer): w_zx = 20/sqrt(1305), w_zy = 22/sqrt(609). Text: e_x = (1, 0),
    e_y = (0, 1), e_z = (0.6, 0.8): cos(z, x) = 0.6, cos(z, y) = 0.8.
    """
    data = toy()
    E = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)  # x, y, z (index order)
    assert data.items.ids.tolist() == ["x", "y", "z"]
    m = TextItemKNN(k=2, alpha=0.5, center=False, center_text=False, **PLAIN)
    m.fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    wx = 0.5 * 20 / np.sqrt(1305) + 0.5 * 0.6
    wy = 0.5 * 22 / np.sqrt(609) + 0.5 * 0.8
    p = m.predict_one(0, 2)  # user a, item z
    assert p.value == pytest.approx((4 * wx + 2 * wy) / (wx + wy), abs=1e-6)
    assert p.n_neighbors == 2 and p.details["alpha"] == 0.5
    assert m.similarity_[2, 0] == pytest.approx(wx, abs=1e-6)


def test_user_blend_hand_computed() -> None:
    """T-UserCF: eq. 3 with w = 0.5 cos_CF + 0.5 cos(profiles), profiles by hand.

    Embeddings x = (1, 0), y = (0, 1), z = (0, 1). Profiles (mean-centred weights):
    a: (4-3) x + (2-3) y = (1, -1); b (mean 8/3): (7/3, -5/3 - 2/3) = (7/3, -7/3);
    c (mean 11/3): (-5/3, 1/3 + 4/3) = (-5/3, 5/3). So cos(a, b) = 1, cos(a, c) = -1.
    """
    data = toy()
    E = np.array([[1, 0], [0, 1], [0, 1]], dtype=np.float32)
    m = TextUserKNN(k=2, alpha=0.5, center_text=False, **PLAIN)
    m.fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    w_ab = 0.5 * 22 / np.sqrt(600) + 0.5 * 1.0
    w_ac = 0.5 * 8 / 15 + 0.5 * -1.0
    expected = 3 + (w_ab * (2 - 8 / 3) + w_ac * (5 - 11 / 3)) / (abs(w_ab) + abs(w_ac))
    assert m.predict_one(0, 2).value == pytest.approx(expected, abs=1e-6)


# -- against a reference built from the twin -------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.4, 0.8])
def test_similarity_is_the_blend_of_the_twins(alpha: float) -> None:
    data, E = clustered(cold=0)
    item = TextItemKNN(k=5, max_neighbors=8, text_neighbors=4, alpha=alpha,
                       center_text=False).fit(data.matrix, rating_scale=(1, 5),
                                              item_embeddings=E)
    twin = ItemKNN(k=5, max_neighbors=8).fit(data.matrix, rating_scale=(1, 5))
    ref = blend_similarity(twin.similarity_, E, alpha, text_neighbors=4, max_neighbors=8)
    np.testing.assert_allclose(item.similarity_.toarray(), ref.toarray(), atol=1e-6)

    user = TextUserKNN(k=5, max_neighbors=8, text_neighbors=4, alpha=alpha).fit(
        data.matrix, rating_scale=(1, 5), item_embeddings=E)
    utwin = UserKNN(k=5, max_neighbors=8).fit(data.matrix, rating_scale=(1, 5))
    P = center_rows(user_profiles(data.matrix, E))
    uref = blend_similarity(utwin.similarity_, P, alpha, text_neighbors=4, max_neighbors=8)
    np.testing.assert_allclose(user.similarity_.toarray(), uref.toarray(), atol=1e-6)


def test_center_rows() -> None:
    R = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32)
    C = center_rows(R)
    s = np.sqrt(0.5)
    np.testing.assert_allclose(C, [[s, -s], [-s, s], [0, 0]], atol=1e-6)


def test_fit_on_dataset_embeds_item_texts_with_the_encoder() -> None:
    data, _ = clustered(cold=2)
    texts = item_texts(data)
    assert texts[0].startswith("space robots laser") or texts[0].startswith("love wedding")
    E = TfidfEncoder().fit(texts).encode(texts)
    by_data = TextItemKNN(k=5, alpha=0.5, encoder="tfidf").fit(data)
    by_matrix = TextItemKNN(k=5, alpha=0.5).fit(data.matrix, rating_scale=(1, 5),
                                                item_embeddings=E)
    np.testing.assert_allclose(by_data.similarity_.toarray(), by_matrix.similarity_.toarray(),
                               atol=1e-6)


def test_text_needed_but_missing_is_a_clear_error() -> None:
    X = toy().matrix
    with pytest.raises(ConfigError, match="item_embeddings"):
        TextItemKNN(alpha=0.5).fit(X, rating_scale=(1, 5))
    with pytest.raises(ConfigError, match="item_embeddings"):
        TextUserKNN().fit(X, rating_scale=(1, 5))  # alpha="auto" needs text too
    with pytest.raises(ConfigError, match=r"shape \(3, d\)"):
        TextItemKNN(alpha=0.5).fit(X, rating_scale=(1, 5), item_embeddings=np.ones((2, 2)))
    with pytest.raises(ConfigError, match="alpha"):
        TextItemKNN(alpha=1.5).fit(X, rating_scale=(1, 5), item_embeddings=np.eye(3))
    with pytest.raises(ConfigError, match="alpha"):
        create_model("t-user-cf", alpha="sometimes")


# -- alpha = "auto" --------------------------------------------------------------------------------

def reference_auto_alpha(cls: type, X: sp.csr_matrix, E: np.ndarray, seed: int,
                         **params: object) -> tuple[float, dict[float, float]]:
    """Slow reference: refit a model per alpha on the same seeded holdout, keep the best MAE."""
    rng = np.random.default_rng(seed)
    n = X.nnz
    val = np.zeros(n, dtype=bool)
    val[rng.choice(n, size=max(1, round(VALIDATION_FRACTION * n)), replace=False)] = True
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    sub = sp.csr_matrix((X.data[~val], (rows[~val], X.indices[~val])), shape=X.shape)
    maes = {}
    for a in ALPHA_GRID:
        m = cls(alpha=a, **params).fit(sub, rating_scale=(1, 5), item_embeddings=E)
        maes[a] = float(np.mean(np.abs(m.predict_indices(rows[val], X.indices[val])
                                       - X.data[val])))
    best = min(maes.items(), key=lambda kv: (round(kv[1], 12), -kv[0]))[0]
    return best, maes


@pytest.mark.parametrize("cls", [TextItemKNN, TextUserKNN])
def test_auto_alpha_matches_the_reference(cls: type) -> None:
    data, E = clustered(seed=4, cold=0)
    params = {"k": 5, "max_neighbors": 10, "text_neighbors": 5, "random_state": 3}
    m = cls(alpha="auto", **params).fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    best, maes = reference_auto_alpha(cls, data.matrix, E, 3, **params)
    assert m.alpha_ == best
    assert m.validation_mae_ == pytest.approx(maes, abs=1e-9)
    fixed = cls(alpha=best, **params).fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    assert (fixed.similarity_ != m.similarity_).nnz == 0  # then fitted on all the training data


def test_auto_alpha_uses_informative_text() -> None:
    data, E = clustered(seed=1, n_users=80, n_items=60, cold=0, density=0.08)
    m = TextItemKNN(k=5, alpha="auto").fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    assert m.alpha_ < 1.0  # the genre embeddings help on held-out training ratings


# -- cold start ------------------------------------------------------------------------------------

def test_cold_items_are_predicted_and_recommended_from_text(tmp_path) -> None:
    data, E = clustered(seed=2, cold=3)
    cold = np.flatnonzero(np.diff(data.matrix.tocsc().indptr) == 0)
    assert len(cold) == 3
    m = TextItemKNN(k=10, alpha=0.5).fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    assert m.scores_cold_items
    i = int(cold[0])
    genre = int(str(data.items.id(i))[1:]) % 2
    X = data.matrix.tocsr()
    liked, disliked = [], []  # users who rated >= 2 items of the cold item's genre
    for u in range(data.n_users):
        cols, vals = X.indices[X.indptr[u]:X.indptr[u + 1]], X.data[X.indptr[u]:X.indptr[u + 1]]
        same = vals[np.array([int(str(data.items.id(c))[1:]) % 2 == genre for c in cols],
                             dtype=bool)]
        if len(same) >= 2:
            (liked if same.mean() >= 4 else disliked).append(u)
    assert liked and disliked
    p_like = m.predict_indices(liked, [i] * len(liked))
    p_dislike = m.predict_indices(disliked, [i] * len(disliked))
    assert p_like.min() > 3.5 and p_dislike.max() < 2.5  # from textually similar items
    one = m.predict_one(liked[0], i)  # fitted on a matrix: ids are indices
    assert one.fallback is None and one.details["cold_item"] and one.n_neighbors > 0
    # eq. 4 by hand from the stored (text) neighbours
    nb, w = m._neighbor_rows(i)
    used = [(j, s) for j, s in zip(nb, w, strict=True) if X[liked[0], j] != 0][:10]
    warm = [(j, s) for j, s in zip(nb, w, strict=True) if m.item_count_[j] > 0]
    prior = sum(s * m._plain_item_mean[j] for j, s in warm) / sum(abs(s) for _, s in warm)
    num = sum(s * X[liked[0], j] for j, s in used)  # the plain eq. 4 for a cold item
    den = sum(abs(s) for _, s in used)
    assert m.item_mean_[i] == pytest.approx(prior)  # its prior mean (ranking, fallbacks)
    assert one.raw_value == pytest.approx(num / den, abs=1e-6)
    # recommended to the users who like its genre
    ids, _ = m.recommend(liked, n=5)
    assert any(set(row) & set(cold.tolist()) for row in ids.tolist())
    # a loaded model predicts identically, cold items included
    loaded = Recommender.load(m.save(tmp_path / "m"))
    assert isinstance(loaded, TextItemKNN)
    uu = np.repeat(np.arange(data.n_users), data.n_items)
    ii = np.tile(np.arange(data.n_items), data.n_users)
    np.testing.assert_array_equal(loaded.predict_indices(uu, ii), m.predict_indices(uu, ii))
    idx, emb = loaded.cold_item_embeddings_
    assert idx.tolist() == cold.tolist()
    np.testing.assert_array_equal(emb, E[cold])
    a_ids, a_sc = loaded.recommend(range(data.n_users), n=5)
    b_ids, b_sc = m.recommend(range(data.n_users), n=5)
    assert a_ids.tolist() == b_ids.tolist()
    np.testing.assert_array_equal(a_sc, b_sc)
    # without cold start the cold items fall back like in every model
    off = TextItemKNN(k=10, alpha=0.5, cold_start=False).fit(
        data.matrix, rating_scale=(1, 5), item_embeddings=E)
    p = off.predict_one(liked[0], i, unknown="fallback")
    assert p.fallback == "unknown_item"
    assert not off.scores_cold_items


def test_cold_item_without_text_or_rated_neighbours_falls_back() -> None:
    data, E = clustered(seed=2, cold=3)
    cold = np.flatnonzero(np.diff(data.matrix.tocsc().indptr) == 0)
    E = E.copy()
    E[cold[0]] = 0.0  # no text
    m = TextItemKNN(k=10, alpha=0.5).fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)
    p = m.predict_one(0, int(cold[0]), unknown="fallback")
    assert p.fallback == "unknown_item" and p.value == pytest.approx(m.user_mean_[0])


# -- real data -------------------------------------------------------------------------------------

def test_ml100k_text_lowers_the_mae_of_both_twins(ml100k) -> None:  # type: ignore[no-untyped-def]
    """Fold u1, K = 20, TF-IDF of title + genres (fast, no torch): both gains on real data.

    Measured: ItemKNN 0.7331 -> T-ItemCF 0.7249, UserKNN 0.7362 -> T-UserCF 0.7339.
    """
    from synerec.evaluation import make_folds

    fold = make_folds(ml100k, "official")[0]
    assert fold.name == "u1"

    def mae(name: str, **cfg: object) -> tuple[float, object]:
        m = create_model(name, k=20, **cfg).fit(fold.train)
        p = m.predict_indices(fold.test.user_index, fold.test.item_index)
        return float(np.mean(np.abs(p - fold.test.values))), getattr(m, "alpha_", None)

    item, _ = mae("item-cf")
    t_item, a_item = mae("t-item-cf", encoder="tfidf")
    user, _ = mae("user-cf")
    t_user, a_user = mae("t-user-cf", encoder="tfidf")
    assert t_item < item - 0.004, (t_item, item, a_item)
    assert t_user < user - 0.001, (t_user, user, a_user)
    assert 0.0 < a_item < 1.0 and 0.0 < a_user < 1.0  # type: ignore[operator]
