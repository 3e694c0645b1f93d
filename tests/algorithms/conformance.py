"""The conformance suite every registered model must pass.

The tests are parametrised over :func:`synerec.algorithms.list_models`, so a newly registered
model joins automatically. To add a model:

* put a small, fast configuration in :data:`SMALL_CONFIGS` (fixed ``random_state`` for
  stochastic models; models absent from it are run with their defaults);
* add a known-answer case to :data:`KNOWN_ANSWERS`: a function that fits the model on a tiny
  data set whose predictions can be computed by hand and asserts them. A registered model
  without one fails :func:`test_known_answer` on purpose.

``test_conformance.py`` imports the test functions from here so that pytest runs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.algorithms import FALLBACK_NAMES, Recommender, default_threshold
from synerec.algorithms.abilities import (
    EVIDENCE_KINDS,
    ExplainsList,
    ExplainsScore,
    ExplainsScoreByUsers,
    ScoresProfile,
    ScoresSequence,
    SimilarItems,
)
from synerec.algorithms.training import Need
from synerec.data import InteractionDataset
from synerec.exceptions import (
    ConfigError,
    DataFormatError,
    NotFittedError,
    UnknownIdError,
    UnknownItemError,
    UnknownUserError,
)
from synerec.models import create_model, get_model_class, list_models
from synerec.ranking import topk

# -- per-model settings ---------------------------------------------------------------------------

#: Small configurations so that the suite stays fast.
SMALL_CONFIGS: dict[str, dict[str, Any]] = {
    "baseline": {"epochs": 5},
    "popularity": {"damping": 2.0},
    "mf": {"factors": 4, "epochs": 15, "learning_rate": 0.02, "random_state": 7},
    # k >= the number of other users/items, so that top-N candidates cover every warm item
    "user-cf": {"k": 8, "max_neighbors": 8, "min_support": 1, "shrinkage": 5.0},
    "item-cf": {"k": 10, "max_neighbors": 10, "min_support": 1, "shrinkage": 5.0},
    # alpha = 1 (no text): the generic suite fits bare matrices too, which need item_embeddings
    # for any other alpha; cold_start off: the suite checks that items without training data
    # fall back. The text paths are tested in test_text_knn.py.
    "t-user-cf": {"k": 8, "max_neighbors": 8, "min_support": 1, "shrinkage": 5.0,
                  "alpha": 1.0, "encoder": "tfidf"},
    "t-item-cf": {"k": 10, "max_neighbors": 10, "min_support": 1, "shrinkage": 5.0,
                  "alpha": 1.0, "encoder": "tfidf", "cold_start": False},
    # the text retrievers on the real MiniLM (the toy's titles); cold_start off, as for
    # t-item-cf; a fine-tuning of a few steps. The cold-start and fine-tuning paths are tested
    # in test_text_retriever.py.
    "text-knn": {"cold_start": False},
    "text-knn-tuned": {"cold_start": False, "epochs": 1, "batch_size": 8, "max_examples": 16},
    # Ranking-only models (predictions are scores, see synerec.algorithms.positives); the
    # default positive_threshold ("auto": ratings >= 4) is tested in test_ranking_models.py.
    "ease": {"lambda_": 2.0},
    "als": {"factors": 4, "epochs": 5, "random_state": 7, "num_threads": 1, "device": "cpu"},
    "bpr": {"factors": 4, "epochs": 30, "random_state": 7, "num_threads": 1, "device": "cpu"},
    # every rating a positive, so that three-step walks reach every warm item of the toy data
    "rp3beta": {"k": 20, "positive_threshold": None},
    # collaborative features only (the generic suite fits bare matrices, which have no text;
    # the text features are tested in tests/hybrid); a ranker small enough for 9 users
    "hybrid": {"retrievers": ["item-cf", "user-cf", "popularity"], "features": ["cf"],
               "n_candidates": 20, "n_estimators": 20, "num_leaves": 4, "min_data_in_leaf": 2,
               "num_threads": 1, "random_state": 3,
               "retriever_params": {"item-cf": {"k": 10, "max_neighbors": 10},
                                    "user-cf": {"k": 8, "max_neighbors": 8}}},
    # a tiny network, two epochs, one thread (deterministic); the toy data have no timestamps
    # (index order, with a warning); order, text and early stopping: tests/algorithms/test_sasrec.py
    "sasrec": {"factors": 8, "n_blocks": 1, "epochs": 2, "batch_size": 4, "max_len": 8,
               "random_state": 7, "num_threads": 1, "device": "cpu"},
}

MODELS = list_models()


def make_model(name: str, **overrides: Any) -> Recommender:
    """The model ``name`` with its small configuration."""
    return create_model(name, **{**SMALL_CONFIGS.get(name, {}), **overrides})


# -- toy data -------------------------------------------------------------------------------------

def toy_ratings() -> InteractionDataset:
    """9 users x 11 items, ratings 1..5, string ids; item ``i10`` is in the catalogue only.

    User ``u8`` is in the vocabulary but its one rating is removed (a cold user, as in a split).
    """
    rng = np.random.default_rng(20240611)
    rows = []
    for u in range(9):
        for i in range(10):
            if rng.random() < 0.5 or (u == 8 and i == 0):
                rows.append((f"u{u}", f"i{i}", int(rng.integers(1, 6))))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(11)],
                          "title": [f"Item {i}" for i in range(11)]})
    full = InteractionDataset.from_dataframe(df, items=items, rating_scale=(1, 5), name="toy")
    keep = full.user_index != full.users.index("u8")
    return full.subset(keep)


def toy_implicit() -> InteractionDataset:
    """Purchase counts (implicit weights) with integer ids."""
    rng = np.random.default_rng(7)
    rows = [(u, 100 + i, float(rng.integers(1, 4))) for u in range(7) for i in range(9)
            if rng.random() < 0.45]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    return InteractionDataset.from_dataframe(df, rating_scale=None, name="toy-implicit")


def all_pairs(data: InteractionDataset) -> tuple[list[Any], list[Any]]:
    """Every (user, item) id pair, plus pairs with an unknown user and/or item."""
    users = [*data.users.ids.tolist(), "nobody"]
    items = [*data.items.ids.tolist(), "nothing"]
    uu = [u for u in users for _ in items]
    ii = [i for _ in users for i in items]
    return uu, ii


def check_known_answer_toy() -> InteractionDataset:
    """a: x=5, y=3; b: x=3, z=1 (global mean 3)."""
    df = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["x", "y", "x", "z"],
                       "rating": [5, 3, 3, 1]})
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


# -- known answers --------------------------------------------------------------------------------

def known_answer_baseline() -> None:
    """One ALS epoch without regularisation, by hand.

    mu = 3; item biases = item mean - mu: x=1, y=0, z=-2; user biases = mean residual:
    a = ((5-3-1) + (3-3-0)) / 2 = 0.5, b = ((3-3-1) + (1-3+2)) / 2 = -0.5.
    """
    m = create_model("baseline", regularization_user=0, regularization_item=0, epochs=1)
    m.fit(check_known_answer_toy())
    np.testing.assert_allclose(m.predict(["a", "b", "a", "b"], ["z", "y", "x", "x"]),
                               [1.5, 2.5, 4.5, 3.5])
    np.testing.assert_allclose(m.predict(["new", "a", "new"], ["x", "new", "new"],
                                         unknown="fallback"),
                               [4.0, 3.5, 3.0])  # mu + b_i, mu + b_u, mu
    # With lambda_i = 2: b_x = (2 + 0) / (2 + 2) = 0.5 on the first half-step.
    m = create_model("baseline", regularization_user=0, regularization_item=2, epochs=1)
    m.fit(check_known_answer_toy())
    assert m.predict_one("new", "x", unknown="fallback").value == pytest.approx(3.5)


def known_answer_popularity() -> None:
    """Damped item means and counts, by hand."""
    m = create_model("popularity", damping=0).fit(check_known_answer_toy())
    np.testing.assert_allclose(m.predict(["a", "b", "a"], ["z", "y", "x"]), [1.0, 3.0, 4.0])
    m = create_model("popularity", damping=2).fit(check_known_answer_toy())
    # x: (5 + 3 + 2 * 3) / (2 + 2) = 3.5; z: (1 + 2 * 3) / (1 + 2) = 7 / 3
    np.testing.assert_allclose(m.predict(["a", "b"], ["x", "z"]), [3.5, 7 / 3])
    ids, scores = m.recommend(["new", "a", "b"], n=3, unknown="fallback")
    assert ids.tolist() == [["x", "y", "z"], ["z", None, None], ["y", None, None]]
    assert scores[0].tolist() == [2.0, 1.0, 1.0]


def known_answer_mf() -> None:
    """Diagonal ratings touch disjoint parameters, so the shuffle order does not matter.

    r(a,x) = 5, r(b,y) = 1, mu = 3, zero initial factors (they stay 0), lr 0.1, no
    regularisation. Epoch 1: e = +-2, so b_a = b_x = 0.2 and b_b = b_y = -0.2.
    Epoch 2: prediction(a, x) = 3.4, e = 1.6, so b_a = b_x = 0.36.
    """
    df = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "rating": [5, 1]})
    data = InteractionDataset.from_dataframe(df, rating_scale=(1, 5))
    m = create_model("mf", factors=2, epochs=1, learning_rate=0.1, regularization=0.0,
                     init_std=0.0, random_state=0).fit(data)
    np.testing.assert_allclose(m.predict(["a", "b", "a"], ["x", "y", "y"]), [3.4, 2.6, 3.0])
    m.set_params(epochs=2).fit(data)
    np.testing.assert_allclose(m.predict(["a", "b"], ["x", "y"]), [3.72, 2.28])
    m.set_params(epochs=1, regularization=0.5).fit(data)
    # b += 0.1 * (2 - 0.5 * 0) on the first visit: same as without regularisation.
    np.testing.assert_allclose(m.predict(["a"], ["x"]), [3.4])


def knn_known_answer_toy() -> InteractionDataset:
    """a: x=4, y=2; b: x=5, y=1, z=2; c: x=2, y=4, z=5 (ratings 1..5)."""
    df = pd.DataFrame({"user_id": ["a", "a", "b", "b", "b", "c", "c", "c"],
                       "item_id": ["x", "y", "x", "y", "z", "x", "y", "z"],
                       "rating": [4, 2, 5, 1, 2, 2, 4, 5]})
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


def known_answer_user_cf() -> None:
    """Eq. 3 with cosine similarities, by hand.

    Rows a = (4, 2, 0), b = (5, 1, 2), c = (2, 4, 5): |a|^2 = 20, |b|^2 = 30, |c|^2 = 45;
    w(a,b) = 22 / sqrt(600), w(a,c) = 16 / sqrt(900) = 8/15. Means: a 3, b 8/3, c 11/3.
    p(a, z) = 3 + (w_ab (2 - 8/3) + w_ac (5 - 11/3)) / (w_ab + w_ac); with k = 1 only b
    (the most similar) counts: 3 + (2 - 8/3) = 7/3.
    """
    plain = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}
    m = create_model("user-cf", k=2, **plain).fit(knn_known_answer_toy())
    w_ab, w_ac = 22 / np.sqrt(600), 8 / 15
    expected = 3 + (w_ab * (-2 / 3) + w_ac * (4 / 3)) / (w_ab + w_ac)
    p = m.predict_one("a", "z")
    assert p.value == pytest.approx(expected, abs=1e-6) and p.n_neighbors == 2
    assert [nb["user"] for nb in p.details["neighbors"]] == ["c", "b"]  # |contribution|
    ids, scores = m.recommend(["a"], n=3)  # z is a's only unseen item
    assert ids[0].tolist() == ["z", None, None]
    # Default top-N score: the similarities of a's nearest users who rated z, b and c.
    assert scores[0, 0] == pytest.approx(w_ab + w_ac, abs=1e-6)
    m = create_model("user-cf", k=2, ranking="prediction", **plain).fit(knn_known_answer_toy())
    assert m.recommend(["a"], n=1)[1][0, 0] == pytest.approx(expected, abs=1e-6)
    m = create_model("user-cf", k=1, **plain).fit(knn_known_answer_toy())
    assert m.predict_one("a", "z").value == pytest.approx(7 / 3)
    assert m.predict_one("a", "z").n_neighbors == 1


def known_answer_item_cf() -> None:
    """Eq. 4 with cosine similarities, by hand.

    Columns x = (4, 5, 2), y = (2, 1, 4), z = (0, 2, 5): |x|^2 = 45, |y|^2 = 21, |z|^2 = 29;
    w(z,x) = 20 / sqrt(1305), w(z,y) = 22 / sqrt(609). a rated x = 4, y = 2:
    p(a, z) = (4 w_zx + 2 w_zy) / (w_zx + w_zy); k = 1 keeps y (the more similar): 2.
    Centred (item means x 11/3, y 7/3, z 7/2): 7/2 + (w_zx/3 - w_zy/3) / (w_zx + w_zy).
    """
    plain = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}
    w_zx, w_zy = 20 / np.sqrt(1305), 22 / np.sqrt(609)
    m = create_model("item-cf", k=2, center=False, **plain).fit(knn_known_answer_toy())
    p = m.predict_one("a", "z")
    assert p.value == pytest.approx((4 * w_zx + 2 * w_zy) / (w_zx + w_zy), abs=1e-6)
    assert p.n_neighbors == 2
    m = create_model("item-cf", k=1, center=False, **plain).fit(knn_known_answer_toy())
    assert m.predict_one("a", "z").value == pytest.approx(2.0)
    m = create_model("item-cf", k=2, center=True, **plain).fit(knn_known_answer_toy())
    expected = 3.5 + (w_zx / 3 - w_zy / 3) / (w_zx + w_zy)
    assert m.predict_one("a", "z").value == pytest.approx(expected, abs=1e-6)
    # Default top-N score: z is among the 2 nearest of both of a's items, x and y.
    assert m.recommend(["a"], n=1)[1][0, 0] == pytest.approx(w_zx + w_zy, abs=1e-6)
    m = create_model("item-cf", k=2, center=True, ranking="prediction",
                     **plain).fit(knn_known_answer_toy())
    assert m.recommend(["a"], n=1)[1][0, 0] == pytest.approx(expected, abs=1e-6)


def known_answer_t_user_cf() -> None:
    """alpha = 1 is UserKNN's known answer; alpha = 0.5 blends in the profile cosines by hand.

    Embeddings x = (1, 0), y = z = (0, 1); profiles a = (1, -1), b ~ (1, -1), c ~ (-1, 1), so
    cos(a, b) = 1 and cos(a, c) = -1: w_ab = (22/sqrt(600) + 1) / 2, w_ac = (8/15 - 1) / 2.
    """
    plain = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}
    data = knn_known_answer_toy()
    twin = create_model("user-cf", k=2, **plain).fit(data)
    m = create_model("t-user-cf", k=2, alpha=1.0, **plain).fit(data)
    assert m.predict_one("a", "z").value == twin.predict_one("a", "z").value
    E = np.array([[1, 0], [0, 1], [0, 1]], dtype=np.float32)
    m = create_model("t-user-cf", k=2, alpha=0.5, center_text=False, **plain)
    m.fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)  # type: ignore[call-arg]
    w_ab, w_ac = (22 / np.sqrt(600) + 1) / 2, (8 / 15 - 1) / 2
    expected = 3 + (w_ab * (-2 / 3) + w_ac * (4 / 3)) / (abs(w_ab) + abs(w_ac))
    assert m.predict_one(0, 2).value == pytest.approx(expected, abs=1e-6)


def known_answer_t_item_cf() -> None:
    """alpha = 1 is ItemKNN's known answer; alpha = 0.5 blends in the item cosines by hand.

    e_x = (1, 0), e_y = (0, 1), e_z = (0.6, 0.8): w_zx = (20/sqrt(1305) + 0.6) / 2,
    w_zy = (22/sqrt(609) + 0.8) / 2; p(a, z) = (4 w_zx + 2 w_zy) / (w_zx + w_zy).
    """
    plain = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0, "center": False}
    data = knn_known_answer_toy()
    twin = create_model("item-cf", k=2, **plain).fit(data)
    m = create_model("t-item-cf", k=2, alpha=1.0, **plain).fit(data)
    assert m.predict_one("a", "z").value == twin.predict_one("a", "z").value
    E = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    m = create_model("t-item-cf", k=2, alpha=0.5, center_text=False, **plain)
    m.fit(data.matrix, rating_scale=(1, 5), item_embeddings=E)  # type: ignore[call-arg]
    w_zx, w_zy = (20 / np.sqrt(1305) + 0.6) / 2, (22 / np.sqrt(609) + 0.8) / 2
    assert m.predict_one(0, 2).value == pytest.approx((4 * w_zx + 2 * w_zy) / (w_zx + w_zy),
                                                      abs=1e-6)


def known_answer_ease() -> None:
    """The closed form B = I - P diag(1 / diag P), P = (X'X + Lambda)^-1, by numpy.

    Binary positives of check_known_answer_toy with the default threshold 4: a likes x; b
    nothing (its ratings 3 and 1): with positive_threshold=None every rating is a positive.
    """
    data = knn_known_answer_toy()
    X = (data.matrix.toarray() > 0).astype(float)
    lam = 0.7
    P = np.linalg.inv(X.T @ X + lam * np.eye(3))
    B = np.eye(3) - P / np.diag(P)[None, :]
    scores = X @ B
    m = create_model("ease", lambda_=lam, dropout=0.0, positive_threshold=None).fit(data)
    np.testing.assert_allclose(m.weights_, B, atol=1e-5)
    users = ["a", "a", "a", "b", "c"]
    items = ["x", "y", "z", "z", "x"]
    u = data.users.indices(users)
    i = data.items.indices(items)
    np.testing.assert_allclose(m.predict(users, items), scores[u, i], atol=1e-5)
    assert m.predict_one("a", "z").clipped is False  # a score, never clipped to 1..5
    ids, sc = m.recommend(["a"], n=1)
    assert ids[0].tolist() == ["z"] and sc[0, 0] == pytest.approx(scores[0, 2], abs=1e-5)
    # the default threshold (4 on 1-5) keeps a: x; b: x; c: y, z
    X4 = (data.matrix.toarray() >= 4).astype(float)
    P4 = np.linalg.inv(X4.T @ X4 + lam * np.eye(3))
    B4 = np.eye(3) - P4 / np.diag(P4)[None, :]
    m4 = create_model("ease", lambda_=lam, dropout=0.0).fit(data)
    np.testing.assert_allclose(m4.weights_, B4, atol=1e-5)
    # the default dropout p = 0.67 (full-rank EDLAE): ridge lam + p / (1 - p) diag(X'X)
    G = X4.T @ X4
    Pd = np.linalg.inv(G + np.diag(lam + 0.67 / 0.33 * np.diag(G)))
    Bd = np.eye(3) - Pd / np.diag(Pd)[None, :]
    np.testing.assert_allclose(create_model("ease", lambda_=lam).fit(data).weights_, Bd,
                               atol=1e-5)
    assert m4.predict_one("a", "z").value == pytest.approx((X4 @ B4)[0, 2], abs=1e-5)


def known_answer_rp3beta() -> None:
    """W_ij = sum_u x_ui x_uj / (d_u^a d_i^a d_j^b), scores = X W, by hand on the knn toy.

    Every rating a positive: all three users rated x and y, b and c rated z. Degrees:
    d_a = 2, d_b = d_c = 3; d_x = d_y = 3, d_z = 2. With alpha = 1, beta = 0.5:
    W_xz = (1/3 + 1/3) / (3 * sqrt 2), W_yz = the same; a's score of z = W_xz + W_yz.
    """
    m = create_model("rp3beta", alpha=1.0, beta=0.5, k=5,
                     positive_threshold=None).fit(knn_known_answer_toy())
    w = (2 / 3) / (3 * np.sqrt(2))
    assert m.predict_one("a", "z").value == pytest.approx(2 * w, rel=1e-5)
    ids, sc = m.recommend(["a"], n=3)
    assert ids[0].tolist() == ["z", None, None]
    assert sc[0, 0] == pytest.approx(2 * w, rel=1e-5)
    # W_zx = (1/3 + 1/3) / (2 * sqrt 3)
    W = m.similarity_.toarray()
    assert W[2, 0] == pytest.approx((2 / 3) / (2 * np.sqrt(3)), rel=1e-5)


def known_answer_als() -> None:
    """The fitted item factors solve the ALS normal equations given the user factors.

    With the exact (Cholesky) solver, implicit's last half-step solves every item's
    q_i = (P' C_i P + lambda I)^-1 P' C_i p_i with c_ui = 1 + alpha w_ui on the positives
    (1 elsewhere) and p_ui = 1 on the positives: recomputed here with numpy.
    """
    data = toy_implicit()
    alpha, lam = 3.0, 0.1
    m = create_model("als", factors=3, epochs=4, regularization=lam, alpha=alpha,
                     confidence="linear", solver="cholesky", random_state=1, num_threads=1,
                     device="cpu").fit(data)
    W = data.matrix.toarray()
    U = m.user_factors_.astype(np.float64)
    for i in range(data.n_items):
        c = 1 + alpha * W[:, i]
        p = (W[:, i] > 0).astype(float)
        A = U.T @ (c[:, None] * U) + lam * np.eye(3)
        q = np.linalg.solve(A, U.T @ (c * p))
        np.testing.assert_allclose(m.item_factors_[i], q, rtol=2e-3, atol=2e-4)
    u, i = 2, int(np.flatnonzero(W[2])[0])
    assert m.predict_indices([u], [i])[0] == pytest.approx(
        float(U[u] @ m.item_factors_[i]), rel=1e-6)


def known_answer_bpr() -> None:
    """Two groups of users, each liking only its own three items: BPR ranks, for every user,
    the other group's items below the unseen item of the user's own group."""
    rows = []
    for u in range(12):
        group = u % 2
        own = [group * 3 + j for j in range(3)]
        for j in own:
            if (u + j) % 3:  # each user misses one of the group's items
                rows.append((u, j, 1.0))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    data = InteractionDataset.from_dataframe(df, rating_scale=None)
    m = create_model("bpr", factors=4, epochs=200, learning_rate=0.05, regularization=0.001,
                     random_state=3, num_threads=1, device="cpu").fit(data)
    ids, _ = m.recommend(list(range(12)), n=4)
    for u in range(12):
        group = u % 2
        assert ids[u, 0] // 3 == group, (u, ids[u].tolist())


def known_answer_hybrid() -> None:
    """Reciprocal-rank fusion by hand, then the learned ranker's score of a pair.

    On knn_known_answer_toy nobody has a rating >= 6, so no ranker can be trained and the
    hybrid ranks by fusion, sum over retrievers of 1 / (60 + rank). User a rated x and y: z is
    the only candidate, first in both lists (item-cf and popularity): 2 / 61. User b rated
    every item: no candidate. With exclude_seen=False, a's list by popularity is x and y (3
    ratings each; ties by index), then z (2): x 1/61, y 1/62, z 1/63, plus item-cf's terms of
    rank 1..3 in its own order.
    """
    data = knn_known_answer_toy()
    m = create_model("hybrid", retrievers=["item-cf", "popularity"], features=["cf"],
                     relevance_threshold=6.0, retriever_params={
                         "item-cf": {"k": 2, "min_support": 1}}).fit(data)
    assert m.ranker_kind_ == "rrf"
    ids, scores = m.recommend(["a", "b"], n=2)
    assert ids.tolist() == [["z", None], [None, None]]
    assert scores[0, 0] == pytest.approx(2 / 61)
    item_cf, _ = m.retrievers_[0].recommend_indices([0], 3, exclude_seen=False)
    expected = {0: 1 / 61, 1: 1 / 62, 2: 1 / 63}
    for rank, i in enumerate(item_cf[0], start=1):
        expected[int(i)] += 1 / (60 + rank)
    ids, scores = m.recommend(["a"], n=3, exclude_seen=False)
    order = sorted(expected, key=lambda i: (-expected[i], i))
    assert ids[0].tolist() == [["x", "y", "z"][i] for i in order]
    np.testing.assert_allclose(scores[0], [expected[i] for i in order], rtol=1e-6)
    # a trained ranker: predict_one's raw value is the booster's score of the pair's features
    toy = toy_ratings()
    m = make_model("hybrid").fit(toy)
    assert m.ranker_kind_ == "lambdarank"
    u, i = toy.users.index("u1"), toy.items.index("i2")
    cands = m.candidates(np.array([u]), extra=(np.array([0]), np.array([i])))
    k = int(np.flatnonzero(cands.items == i)[0])
    raw = m.ranker_.booster.predict(m.feature_matrix(cands)[k:k + 1])[0]
    assert m.predict_one("u1", "i2").raw_value == pytest.approx(raw, abs=1e-12)


def text_retriever_toy() -> InteractionDataset:
    """knn_known_answer_toy plus an item ``w`` in the catalogue that nobody rated."""
    base = knn_known_answer_toy()
    items = pd.DataFrame({"item_id": ["w", "x", "y", "z"], "title": ["W", "X", "Y", "Z"]})
    return InteractionDataset.from_dataframe(base.to_dataframe(), items=items,
                                             rating_scale=(1, 5), keep_all_items=True)


#: Item embeddings of text_retriever_toy (items in vocabulary order w, x, y, z).
TEXT_RETRIEVER_E = np.array([[0.28, 0.96], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)


def known_answer_text_knn() -> None:
    """Mean cosine with the user's positives, by hand.

    e_x = (1, 0), e_y = (0, 1), e_z = (0.6, 0.8), e_w = (0.28, 0.96) (w: no rating). Every
    rating a positive: a = {x, y}, so s(a, z) = (0.6 + 0.8) / 2 = 0.7 and s(a, w) = 0.62,
    explained by x (0.3, 0.14) and y (0.4, 0.48). Ratings >= 4 only: c = {y, z},
    s(c, x) = (0 + 0.6) / 2 = 0.3.
    """
    data = text_retriever_toy()
    assert data.items.ids.tolist() == ["w", "x", "y", "z"]
    plain = {"center_text": False, "positive_threshold": None}
    m = create_model("text-knn", **plain).fit(data, item_embeddings=TEXT_RETRIEVER_E)
    assert m.encoder_name_ == "given" and m.scores_cold_items
    ids, scores = m.recommend(["a"], n=3)
    assert ids[0].tolist() == ["z", "w", None]
    np.testing.assert_allclose(scores[0, :2], [0.7, 0.62], rtol=1e-6)
    assert m.predict_one("a", "w").value == pytest.approx(0.62)  # a cold item with text
    items, terms = m.score_contributions(data.users.index("a"), data.items.index("w"))
    assert [data.items.id(int(j)) for j in items] == ["x", "y"]
    np.testing.assert_allclose(terms, [0.14, 0.48], rtol=1e-6)
    m = create_model("text-knn", center_text=False).fit(data, item_embeddings=TEXT_RETRIEVER_E)
    assert m.predict_one("c", "x").value == pytest.approx(0.3)
    # centred: the embeddings minus their mean, renormalised
    C = TEXT_RETRIEVER_E - TEXT_RETRIEVER_E.mean(axis=0)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    m = create_model("text-knn", positive_threshold=None).fit(data,
                                                              item_embeddings=TEXT_RETRIEVER_E)
    assert m.predict_one("a", "z").value == pytest.approx(float((C[1] + C[2]) @ C[3] / 2),
                                                          abs=1e-6)
    # without cold_start the unrated item falls back (a score of 0)
    m = create_model("text-knn", cold_start=False, **plain).fit(
        data, item_embeddings=TEXT_RETRIEVER_E)
    assert m.recommend(["a"], n=3)[0][0].tolist() == ["z", None, None]
    assert m.predict_one("a", "w", unknown="fallback").value == 0.0


def known_answer_text_knn_tuned() -> None:
    """Given embeddings: text-knn's answer. Fine-tuned by the ``"history"`` objective with a
    learning rate of 1e-12 (the residual head starts at zero and does not move): text-knn on
    the frozen MiniLM."""
    data = text_retriever_toy()
    plain = {"center_text": False, "positive_threshold": None}
    m = create_model("text-knn-tuned", **plain).fit(data, item_embeddings=TEXT_RETRIEVER_E)
    assert m.predict_one("a", "z").value == pytest.approx(0.7)
    tuned = create_model("text-knn-tuned", objective="history", learning_rate=1e-12, epochs=1,
                         **plain).fit(data)
    frozen = create_model("text-knn", **plain).fit(data)
    assert tuned.encoder_name_.startswith("finetuned/all-MiniLM-L6-v2-")
    assert frozen.encoder_name_ == "sentence-transformers/all-MiniLM-L6-v2"
    np.testing.assert_allclose(tuned.item_embeddings_, frozen.item_embeddings_, atol=1e-5)
    uu, ii = ["a", "b", "c", "a"], ["z", "w", "w", "w"]
    np.testing.assert_allclose(tuned.predict(uu, ii), frozen.predict(uu, ii), atol=1e-5)


def chain_sequences(n_items: int = 6, n_users: int = 24) -> InteractionDataset:
    """Users walking a cycle of items, 0 -> 1 -> ... -> n_items - 1 -> 0, in time order.

    User ``u`` starts at item ``u % n_items`` and makes ``3 + u % 2`` steps, so the next item
    of every user is the one after their latest (never among the items they have).
    """
    rows = []
    for u in range(n_users):
        for t in range(3 + u % 2):
            rows.append((f"u{u}", f"i{(u + t) % n_items}", 1.0, t))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return InteractionDataset.from_dataframe(df, rating_scale=None, name="chain")


def known_answer_sasrec() -> None:
    """On the chain, every user's first recommendation is the item after their latest one."""
    data = chain_sequences()
    m = create_model("sasrec", factors=16, n_blocks=1, dropout=0.0, epochs=60, batch_size=8,
                     learning_rate=0.01, patience=0, random_state=1, num_threads=1,
                     device="cpu").fit(data)
    users = data.users.ids.tolist()
    ids, _ = m.recommend(users, n=1)
    expected = [f"i{(int(u[1:]) + 3 + int(u[1:]) % 2) % 6}" for u in users]
    assert ids[:, 0].tolist() == expected
    # the model reads the sequence, not the set: the latest item decides
    S = m.score_sequences([data.items.indices(["i0", "i3"]), data.items.indices(["i3", "i0"])])
    assert S[0].argmax() == data.items.index("i4") and S[1].argmax() == data.items.index("i1")


#: One hand-computed case per registered model name.
KNOWN_ANSWERS: dict[str, Callable[[], None]] = {
    "baseline": known_answer_baseline,
    "popularity": known_answer_popularity,
    "mf": known_answer_mf,
    "user-cf": known_answer_user_cf,
    "item-cf": known_answer_item_cf,
    "t-user-cf": known_answer_t_user_cf,
    "t-item-cf": known_answer_t_item_cf,
    "ease": known_answer_ease,
    "rp3beta": known_answer_rp3beta,
    "als": known_answer_als,
    "bpr": known_answer_bpr,
    "hybrid": known_answer_hybrid,
    "text-knn": known_answer_text_knn,
    "text-knn-tuned": known_answer_text_knn_tuned,
    "sasrec": known_answer_sasrec,
}


def predicts_ratings(model: Recommender) -> bool:
    """False for the ranking-only models, whose predictions are scores (not clipped, no scale)."""
    return model.predicts_ratings


# -- the suite ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy() -> InteractionDataset:
    return toy_ratings()


@pytest.mark.parametrize("name", MODELS)
def test_known_answer(name: str) -> None:
    case = KNOWN_ANSWERS.get(name)
    if case is None:
        pytest.fail(f"model {name!r} has no known-answer case; add one to KNOWN_ANSWERS in "
                    "tests/algorithms/conformance.py", pytrace=False)
    case()


@pytest.mark.parametrize("name", MODELS)
def test_fit_returns_self_and_sets_learned_state(name: str, toy: InteractionDataset) -> None:
    model = make_model(name)
    params = model.get_params()
    # (a parameter may end in "_" where a keyword needs it: EASE's lambda_)
    assert not [k for k in vars(model) if k.endswith("_") and k not in params], \
        "learned state before fit"
    assert not model.is_fitted
    assert model.fit(toy) is model
    assert model.is_fitted
    assert model.get_params() == params  # fit never changes parameters
    assert model.users_ == toy.users and model.items_ == toy.items
    assert model.rating_scale_ == (1.0, 5.0)
    assert model.train_.dtype == np.float32 and model.train_.shape == toy.matrix.shape
    assert model.global_mean_ == pytest.approx(float(toy.values.mean()))
    assert (model.train_ != toy.matrix).nnz == 0


@pytest.mark.parametrize("name", MODELS)
def test_not_fitted_raises(name: str, tmp_path) -> None:
    model = make_model(name)
    cls_name = type(model).__name__
    calls = [lambda: model.predict(["u0"], ["i0"]), lambda: model.predict_one("u0", "i0"),
             lambda: model.recommend(["u0"]), lambda: model.recommend_item("u0", "i0"),
             lambda: model.predict_indices([0], [0]), lambda: model.save(tmp_path / "m")]
    for call in calls:
        with pytest.raises(NotFittedError, match=cls_name):
            call()
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name: str) -> None:
    cls = get_model_class(name)
    model = make_model(name)
    config = model.get_config()
    assert isinstance(config, cls.config_class)
    assert set(type(config).model_fields) == set(model.get_params())
    again = cls.from_config(config)
    assert type(again) is cls and again.get_params() == model.get_params()
    text = json.dumps(config.model_dump(mode="json"))
    from_json = create_model(name, **json.loads(text))
    assert from_json.get_params() == model.get_params()
    assert from_json.get_config() == config
    with pytest.raises(ConfigError, match="no_such_option"):
        create_model(name, no_such_option=1)
    with pytest.raises(ConfigError, match="no_such_option"):
        model.set_params(no_such_option=1)
    assert repr(model).startswith(f"{cls.__name__}(")


@pytest.mark.parametrize("name", MODELS)
def test_invalid_parameter_is_config_error_at_fit(name: str, toy: InteractionDataset) -> None:
    model = make_model(name)
    first = sorted(model.get_params())[0]
    model.set_params(**{first: "not a valid value"})  # stored as given, checked by fit
    with pytest.raises(ConfigError, match=first):
        model.fit(toy)


@pytest.mark.parametrize("name", MODELS)
def test_batch_equals_one_by_one(name: str, toy: InteractionDataset) -> None:
    model = make_model(name).fit(toy)
    uu, ii = all_pairs(toy)
    batch = model.predict(uu, ii, unknown="fallback")
    single = np.array([model.predict_one(u, i, unknown="fallback").value
                       for u, i in zip(uu, ii, strict=True)])
    np.testing.assert_array_equal(batch, single)
    u_idx = toy.users.indices(uu, missing="negative")
    i_idx = toy.items.indices(ii, missing="negative")
    np.testing.assert_array_equal(model.predict_indices(u_idx, i_idx), batch)
    users = [*toy.users.ids.tolist(), "nobody"]
    ids, scores = model.recommend(users, n=4, batch_size=3, unknown="fallback")
    for row, user in enumerate(users):
        one_ids, one_scores = model.recommend([user], n=4, unknown="fallback")
        assert one_ids[0].tolist() == ids[row].tolist()
        np.testing.assert_array_equal(one_scores[0], scores[row])


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name: str, toy: InteractionDataset, tmp_path) -> None:
    model = make_model(name).fit(toy)
    path = model.save(tmp_path / "model")
    extra = sorted(json.loads((path / "model.json").read_text()).get("files", {}))
    assert sorted(p.name for p in path.iterdir()) == sorted(["arrays.npz", "model.json", *extra])
    assert extra == sorted(model._files())  # every extra file is listed and checksummed
    loaded = type(model).load(path)
    generic = Recommender.load(path)
    uu, ii = all_pairs(toy)
    users = [*toy.users.ids.tolist(), "nobody"]
    for other in (loaded, generic):
        assert type(other) is type(model)
        assert other.get_params() == model.get_params()
        assert other.users_ == model.users_ and other.items_ == model.items_
        assert other.rating_scale_ == model.rating_scale_
        np.testing.assert_array_equal(other.predict(uu, ii, unknown="fallback"),
                                      model.predict(uu, ii, unknown="fallback"))
        a_ids, a_sc = model.recommend(users, n=5, unknown="fallback")
        b_ids, b_sc = other.recommend(users, n=5, unknown="fallback")
        assert a_ids.tolist() == b_ids.tolist()
        np.testing.assert_array_equal(a_sc, b_sc)
        assert other.predict_one("u1", "i2") == model.predict_one("u1", "i2")


@pytest.mark.parametrize("name", MODELS)
def test_refit_is_idempotent(name: str, toy: InteractionDataset) -> None:
    model = make_model(name)
    uu, ii = all_pairs(toy)
    first = model.fit(toy).predict(uu, ii, unknown="fallback")
    first_rec = model.recommend(toy.users.ids, n=5, unknown="fallback")[0]
    model.fit(toy_implicit())  # fitting other data in between must leave no trace
    second = model.fit(toy).predict(uu, ii, unknown="fallback")
    np.testing.assert_array_equal(first, second)
    assert model.recommend(toy.users.ids, n=5, unknown="fallback")[0].tolist() == \
        first_rec.tolist()
    np.testing.assert_array_equal(
        make_model(name).fit(toy).predict(uu, ii, unknown="fallback"), first)


@pytest.mark.parametrize("name", MODELS)
def test_unknown_users_and_items_fall_back(name: str, toy: InteractionDataset) -> None:
    model = make_model(name).fit(toy)
    targets = type(model).fallback_targets
    cases = [("nobody", "i1", "unknown_user"), ("u8", "i1", "unknown_user"),  # u8: no ratings
             ("u1", "nothing", "unknown_item"), ("u1", "i10", "unknown_item"),  # i10: none
             ("nobody", "nothing", "unknown_user_and_item"), ("u8", "i10",
                                                               "unknown_user_and_item")]
    for user, item, flag in cases:
        kind = "item" if flag == "unknown_item" else "user"
        with pytest.raises(UnknownIdError) as exc:  # the one policy: an error unless asked
            model.predict_one(user, item)
        assert exc.value.kind == kind and "unknown='fallback'" in str(exc.value)
        p = model.predict_one(user, item, unknown="fallback")
        assert p.fallback == flag, (user, item)
        assert p.fallback_to == targets[FALLBACK_NAMES.index(flag)]
        assert np.isfinite(p.value)
        if predicts_ratings(model):
            assert 1.0 <= p.value <= 5.0
        u = model.users_.index(user) if user in model.users_ else -1
        i = model.items_.index(item) if item in model.items_ else -1
        expected = {"global_mean": model.global_mean_,
                    "user_mean": model.user_mean_[u] if u >= 0 else None,
                    "item_mean": model.item_mean_[i] if i >= 0 else None,
                    "item_popularity": model.item_popularity_[i] if i >= 0 else None,
                    "zero_score": 0.0}.get(p.fallback_to)
        if expected is not None:
            clipped = np.clip(expected, 1, 5) if predicts_ratings(model) else expected
            assert p.value == pytest.approx(clipped)
    known = model.predict_one("u1", "i2")
    assert known.fallback is None and known.fallback_to is None
    # Unknown (and cold) users: an error naming the first, or with unknown="fallback" the
    # most popular warm items, with popularity as score.
    with pytest.raises(UnknownUserError, match=r"unknown user id 'nobody' \(and 1 more"):
        model.recommend(["u1", "nobody", "u8"], n=4)
    with pytest.raises(UnknownUserError, match="unknown user id 'u8'"):
        model.recommend_frame(["u8"], n=4)
    with pytest.raises(UnknownItemError, match="unknown item id 'nothing'"):
        model.predict(["u1", "u1"], ["i1", "nothing"])
    ids, scores = model.recommend(["nobody", "u8"], n=4, unknown="fallback")
    warm = model.item_count_ > 0
    ref_idx, ref_sc = topk(model.item_popularity_[None, :], 4, candidates=warm)
    expected_ids = [model.items_.id(j) for j in ref_idx[0]]
    assert ids.tolist() == [expected_ids, expected_ids]
    np.testing.assert_array_equal(scores[0], ref_sc[0])


@pytest.mark.parametrize("name", MODELS)
def test_recommend_excludes_seen_and_is_sorted(name: str, toy: InteractionDataset) -> None:
    model = make_model(name).fit(toy)
    users = toy.users.ids.tolist()  # u8 has no training data: asked for explicitly
    n_items = toy.n_items
    ids, scores = model.recommend(users, n=n_items, unknown="fallback")
    assert ids.shape == scores.shape == (len(users), n_items) and scores.dtype == np.float32
    X = toy.matrix
    for row, user in enumerate(users):
        u = toy.users.index(user)
        seen = {toy.items.id(j) for j in X.indices[X.indptr[u]:X.indptr[u + 1]]}
        listed = [x for x in ids[row] if x is not None]
        n_valid = len(listed)
        assert None not in ids[row, :n_valid].tolist()  # padding only at the end
        assert not seen & set(listed)
        assert "i10" not in listed  # no training data: never recommended
        assert len(set(listed)) == n_valid
        if X.indptr[u + 1] > X.indptr[u]:  # warm user: every unseen warm item is ranked
            assert n_valid == int((model.item_count_ > 0).sum()) - len(seen)
        assert (np.diff(scores[row, :n_valid]) <= 0).all()
        assert np.isneginf(scores[row, n_valid:]).all()
    with_seen, _ = model.recommend(["u1"], n=n_items, exclude_seen=False)
    assert len([x for x in with_seen[0] if x is not None]) == int((model.item_count_ > 0).sum())
    cand_ids, _ = model.recommend(["u1", "nobody"], n=3, items=["i1", "i3", "i5", "i7"],
                                  exclude_seen=False, unknown="fallback")
    assert {x for x in cand_ids.ravel() if x is not None} <= {"i1", "i3", "i5", "i7"}
    frame = model.recommend_frame(["u1", "nobody"], n=3, unknown="fallback")
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score"]
    ids2, sc2 = model.recommend(["u1", "nobody"], n=3, unknown="fallback")
    for user, row_ids, row_sc in zip(["u1", "nobody"], ids2, sc2, strict=True):
        sub = frame[frame["user_id"] == user]
        assert sub["item_id"].tolist() == [x for x in row_ids if x is not None]
        assert sub["rank"].tolist() == list(range(1, len(sub) + 1))
        np.testing.assert_array_equal(sub["score"].to_numpy(), row_sc[: len(sub)])


@pytest.mark.parametrize("name", MODELS)
def test_predictions_within_rating_scale(name: str, toy: InteractionDataset) -> None:
    model = make_model(name).fit(toy)
    uu, ii = all_pairs(toy)
    values = model.predict(uu, ii, unknown="fallback")
    assert values.dtype == np.float64 and np.isfinite(values).all()
    if not predicts_ratings(model):  # scores: never clipped to the rating scale
        for u, i in zip(uu[::7], ii[::7], strict=True):
            p = model.predict_one(u, i, unknown="fallback")
            assert not p.clipped and p.value == p.raw_value
        return
    assert (values >= 1.0).all() and (values <= 5.0).all()
    for u, i in zip(uu[::7], ii[::7], strict=True):
        p = model.predict_one(u, i, unknown="fallback")
        assert p.clipped == (p.raw_value != p.value)
        assert p.value == np.clip(p.raw_value, 1.0, 5.0)


@pytest.mark.parametrize("name", MODELS)
def test_recommend_item_rule(name: str, toy: InteractionDataset) -> None:
    model = make_model(name).fit(toy)
    if not predicts_ratings(model):  # the rule thresholds a rating; a ranking score is none
        with pytest.raises(ConfigError, match="rank items with recommend"):
            model.recommend_item("u1", "i2")
        return
    X = toy.matrix
    u = toy.users.index("u1")
    rated_item = toy.items.id(X.indices[X.indptr[u]])
    d = model.recommend_item("u1", rated_item, threshold=0.0)
    assert not d.recommend and "already rated" in d.reason
    assert d.threshold == 0.0
    assert default_threshold((1.0, 5.0)) == pytest.approx(1 + 5 / 9 * 4)
    unrated = [toy.items.id(j) for j in range(toy.n_items)
               if j not in set(X.indices[X.indptr[u]:X.indptr[u + 1]])]
    with pytest.raises(UnknownItemError):
        model.recommend_item("u1", "nothing")
    for item in [*unrated, "nothing"]:
        d = model.recommend_item("u1", item, unknown="fallback")
        assert d.threshold == pytest.approx(3.2222222222)
        assert d.recommend == (d.prediction.value > d.threshold)
        assert ("exceeds" in d.reason) == d.recommend
        value = d.prediction.value
        assert model.recommend_item("u1", item, threshold=value,
                                    unknown="fallback").recommend is False
        assert model.recommend_item("u1", item, threshold=value - 1e-6,
                                    unknown="fallback").recommend is True


@pytest.mark.parametrize("name", MODELS)
def test_implicit_data(name: str, tmp_path) -> None:
    data = toy_implicit()
    model = make_model(name).fit(data)
    assert model.rating_scale_ is None
    uu = [int(u) for u in data.users.ids for _ in range(3)]
    ii = [int(i) for _ in data.users.ids for i in data.items.ids[:3]]
    values = model.predict(uu, ii)
    assert np.isfinite(values).all()
    ids, _ = model.recommend([0, 1, 999], n=3, unknown="fallback")
    assert all(x is None or isinstance(x, int) for x in ids.ravel())
    # Unknown user: items by summed weight.
    weight = np.asarray(data.matrix.sum(axis=0)).ravel()
    ref_idx, _ = topk(weight[None, :], 3)
    assert ids[2].tolist() == [int(data.items.id(j)) for j in ref_idx[0]]
    X = data.matrix
    seen = set(X.indices[X.indptr[0]:X.indptr[1]].tolist())
    unseen = next(int(data.items.id(j)) for j in range(data.n_items) if j not in seen)
    # The paper's decision thresholds a predicted rating: implicit data have none.
    with pytest.raises(ConfigError, match="fitted on implicit feedback"):
        model.recommend_item(0, unseen)
    loaded = type(model).load(model.save(tmp_path / "implicit"))
    np.testing.assert_array_equal(loaded.predict(uu, ii), values)
    assert loaded.recommend([0, 1, 999], n=3, unknown="fallback")[0].tolist() == ids.tolist()


@pytest.mark.parametrize("name", MODELS)
def test_fit_on_sparse_matrix(name: str, toy: InteractionDataset) -> None:
    X = toy.matrix
    # a bare matrix has no item text: a model that needs it is given embeddings (both fits)
    side: dict[str, Any] = {}
    if "item_text" in get_model_class(name).needs:
        side["item_embeddings"] = np.random.default_rng(5).normal(size=(X.shape[1], 4))
    model = make_model(name).fit(sp.coo_matrix(X), rating_scale=(1, 5), **side)
    assert model.rating_scale_ == (1.0, 5.0)
    by_id = make_model(name).fit(toy, **side)
    u = np.repeat(np.arange(X.shape[0]), X.shape[1])
    i = np.tile(np.arange(X.shape[1]), X.shape[0])
    np.testing.assert_allclose(model.predict(u.tolist(), i.tolist(), unknown="fallback"),
                               by_id.predict_indices(u, i), rtol=0, atol=1e-12)
    ids, _ = model.recommend([0], n=2)
    assert all(isinstance(x, int) for x in ids[0] if x is not None)


@pytest.mark.parametrize("name", MODELS)
def test_bad_training_data(name: str) -> None:
    model = make_model(name)
    with pytest.raises(DataFormatError, match="no interactions"):
        model.fit(sp.csr_matrix((3, 4), dtype=np.float32))
    with pytest.raises(DataFormatError, match="finite"):
        model.fit(sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 2.0]])))
    with pytest.raises(DataFormatError, match="outside the rating scale"):
        model.fit(sp.csr_matrix(np.array([[1.0, 7.0], [0.0, 2.0]])), rating_scale=(1, 5))
    with pytest.raises(DataFormatError, match="sparse"):
        model.fit(np.ones((2, 2)))  # type: ignore[arg-type]
    assert not model.is_fitted


def _sums_its_terms(model: Recommender) -> bool:
    """Whether the model's ranking score is exactly the sum of its declared terms (the
    neighbourhood models rank by similarity sum then, the linear item-item models always)."""
    return getattr(model.config_, "ranking", "similarity_sum") == "similarity_sum"


@pytest.mark.parametrize("name", MODELS)
def test_declared_abilities_answer(name: str, toy: InteractionDataset) -> None:
    """Each ability a model declares answers consistently with its own scores and data."""
    model = make_model(name).fit(toy)
    assert model.evidence_kind in EVIDENCE_KINDS
    assert model.needs <= set(get_args(Need))
    users = np.arange(toy.n_users)
    known = model.known_users(users)
    idx, scores = model.recommend_indices(users[known], n=3)
    X = model.train_
    for row, u in enumerate(users[known]):
        mine = set(X.indices[X.indptr[u]:X.indptr[u + 1]].tolist())
        for i, score in zip(idx[row], scores[row], strict=True):
            if i < 0:
                continue
            if isinstance(model, ExplainsScore):
                items, terms = model.score_contributions(int(u), int(i))
                assert set(items.tolist()) <= mine
                if _sums_its_terms(model) and len(items):  # empty: scored by its fallback
                    assert terms.sum() == pytest.approx(float(score), rel=1e-5, abs=1e-6)
            if isinstance(model, ExplainsScoreByUsers):
                others, terms = model.score_contributors(int(u), int(i))
                assert all(X[v, i] != 0 for v in others.tolist())
                if _sums_its_terms(model):
                    assert terms.sum() == pytest.approx(float(score), rel=1e-5, abs=1e-6)
        if isinstance(model, ExplainsList):
            expl = model.explain_list(int(u), idx[row][idx[row] >= 0])
            assert len(expl) == int((idx[row] >= 0).sum())
            assert all(isinstance(e.as_details(), dict) for e in expl)
    if isinstance(model, SimilarItems):
        S = model.item_similarity()
        assert S.shape == (model.n_items_, model.n_items_)
        first = model.items_.id(int(np.flatnonzero(model.item_count_ > 0)[0]))
        ids, sims = model.similar_items(first, n=3)
        assert len(ids) == len(sims) <= 3 and first not in list(ids)
    if isinstance(model, ScoresSequence):
        # the scores depend on the order: a user's own sequence gives the user's scores, and
        # a profile (no order) is read as its items in index order
        rows = users[known]
        got = model.score_sequences(model.user_sequences(rows))
        np.testing.assert_allclose(got, model._score(rows), rtol=1e-5, atol=1e-6)
        in_index_order = [np.sort(s) for s in model.user_sequences(rows)]
        np.testing.assert_allclose(model.score_profiles(X[rows]),
                                   model.score_sequences(in_index_order), rtol=1e-5, atol=1e-6)
    elif isinstance(model, ScoresProfile):
        rows = users[known]
        got = model.score_profiles(X[rows])
        want = model._score(rows)
        scored = np.nan_to_num(got).any(axis=1)  # a profile the model scores from
        np.testing.assert_allclose(got[scored], want[scored], rtol=1e-5, atol=1e-6)
        # a user with nothing to score from gets 0 (a sum over no items); recommend gives
        # them the popular list, the ranking's fallback
        assert not np.nan_to_num(got[~scored]).any()
        np.testing.assert_allclose(want[~scored],
                                   np.broadcast_to(model.item_popularity_, want[~scored].shape))
