"""MatrixFactorization: the numba SGD kernel against a slow pure-Python reference, and accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.algorithms import MatrixFactorization
from synerec.algorithms._mf_kernels import sgd_epoch
from synerec.data import InteractionDataset
from synerec.exceptions import ConfigError
from tests.conftest import require_dataset


def reference_mf(X: sp.csr_matrix, *, factors: int, epochs: int, learning_rate: float,
                 regularization: float, biased: bool, init_std: float, seed: int):
    """Funk/Koren SGD written out with Python lists, consuming the generator like the model."""
    rng = np.random.default_rng(seed)
    n_users, n_items = X.shape
    P = rng.normal(0.0, init_std, size=(n_users, factors)).tolist()
    Q = rng.normal(0.0, init_std, size=(n_items, factors)).tolist()
    bu = [0.0] * n_users
    bi = [0.0] * n_items
    coo = X.tocoo()  # row-major like the CSR arrays
    triples = list(zip(coo.row.tolist(), coo.col.tolist(), coo.data.astype(float).tolist(),
                       strict=True))
    mu = sum(r for _, _, r in triples) / len(triples) if biased else 0.0
    lr, reg = learning_rate, regularization
    for _ in range(epochs):
        for k in rng.permutation(len(triples)).tolist():
            u, i, r = triples[k]
            est = 0.0
            for f in range(factors):
                est += P[u][f] * Q[i][f]
            if biased:
                est += mu + bu[u] + bi[i]
            e = r - est
            if biased:
                bu[u] += lr * (e - reg * bu[u])
                bi[i] += lr * (e - reg * bi[i])
            for f in range(factors):
                p, q = P[u][f], Q[i][f]
                P[u][f] = p + lr * (e * q - reg * p)
                Q[i][f] = q + lr * (e * p - reg * q)
    return np.array(P), np.array(Q), np.array(bu), np.array(bi), mu


def tiny_matrix() -> sp.csr_matrix:
    dense = np.array([[5, 3, 0, 1, 0],
                      [4, 0, 0, 1, 2],
                      [1, 1, 0, 5, 0],
                      [0, 0, 5, 4, 0],
                      [0, 1, 5, 4, 3],
                      [2, 0, 0, 0, 5]], dtype=np.float32)
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("biased", [True, False])
def test_kernel_matches_reference(biased: bool) -> None:
    X = tiny_matrix()
    params = dict(factors=3, epochs=3, learning_rate=0.05, regularization=0.07, biased=biased,
                  init_std=0.3)
    model = MatrixFactorization(random_state=11, **params).fit(X, rating_scale=(1, 5))
    P, Q, bu, bi, mu = reference_mf(X, seed=11, **params)
    np.testing.assert_allclose(model.user_factors_, P, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.user_bias_, bu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.item_bias_, bi, rtol=0, atol=1e-6)
    assert not np.allclose(P, 0)  # the comparison is not vacuous
    if not biased:
        assert (model.user_bias_ == 0).all() and (model.item_bias_ == 0).all()
    u, i = np.array([0, 2, 5]), np.array([2, 4, 1])
    expected = mu + bu[u] + bi[i] + np.sum(P[u] * Q[i], axis=1)
    np.testing.assert_allclose(model._predict(u, i)[0], expected, atol=1e-9)
    scores = model._score(np.array([0, 3]))
    np.testing.assert_allclose(scores, (mu + bu[[0, 3], None] + bi[None, :] + P[[0, 3]] @ Q.T),
                               rtol=1e-6)


def test_kernel_single_update_by_hand() -> None:
    P = np.array([[0.5, 1.0]])
    Q = np.array([[2.0, -1.0]])
    bu, bi = np.array([0.1]), np.array([-0.2])
    sse = sgd_epoch(np.array([0]), np.array([0]), np.array([4.0]), np.array([0]), P, Q, bu, bi,
                    3.0, 0.1, 0.5, True)
    # est = 3 + 0.1 - 0.2 + (1 - 1) = 2.9; e = 1.1
    assert sse == pytest.approx(1.21)
    assert bu[0] == pytest.approx(0.1 + 0.1 * (1.1 - 0.05))
    assert bi[0] == pytest.approx(-0.2 + 0.1 * (1.1 + 0.1))
    np.testing.assert_allclose(P[0], [0.5 + 0.1 * (1.1 * 2 - 0.25), 1.0 + 0.1 * (-1.1 - 0.5)])
    np.testing.assert_allclose(Q[0], [2.0 + 0.1 * (1.1 * 0.5 - 1.0), -1.0 + 0.1 * (1.1 + 0.5)])


def test_seed_determinism_and_training_error() -> None:
    X = tiny_matrix()
    a = MatrixFactorization(factors=4, epochs=40, learning_rate=0.05, random_state=3).fit(X)
    b = MatrixFactorization(factors=4, epochs=40, learning_rate=0.05, random_state=3).fit(X)
    c = MatrixFactorization(factors=4, epochs=40, learning_rate=0.05, random_state=4).fit(X)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    assert not np.array_equal(a.user_factors_, c.user_factors_)
    assert len(a.training_rmse_) == 40
    assert a.training_rmse_[-1] < 0.5 * a.training_rmse_[0]  # it learns the training data
    d = a.predict_one(0, 1)
    assert set(d.details) >= {"user_bias", "item_bias", "dot"}
    assert d.raw_value == pytest.approx(a.global_mean_ + d.details["user_bias"]
                                        + d.details["item_bias"] + d.details["dot"])


@pytest.mark.parametrize("bad", [{"factors": 0}, {"epochs": 0}, {"learning_rate": 0.0},
                                 {"regularization": -0.1}, {"random_state": "seed"}])
def test_invalid_config(bad) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        MatrixFactorization(**bad).fit(tiny_matrix())


def _read_fold(folder, k: int) -> tuple[InteractionDataset, np.ndarray]:
    cols = ["user_id", "item_id", "rating", "timestamp"]
    base = pd.read_csv(folder / f"u{k}.base", sep="\t", names=cols)
    test = pd.read_csv(folder / f"u{k}.test", sep="\t", names=cols)
    both = pd.concat([base, test], ignore_index=True)
    data = InteractionDataset.from_dataframe(both, rating_scale=(1, 5))
    is_test = np.zeros(len(both), dtype=bool)
    is_test[len(base):] = True
    return data, is_test


def test_movielens_u1_accuracy() -> None:
    """Defaults on the official u1 fold: RMSE well below the baseline's (0.960 on u1)."""
    folder = require_dataset("ml-100k", "u1.base", "u1.test")
    data, is_test = _read_fold(folder, 1)
    train, test = data.subset(~is_test), data.subset(is_test)
    model = MatrixFactorization(random_state=42).fit(train)
    pred = model.predict_indices(test.user_index, test.item_index)
    rmse = float(np.sqrt(np.mean((pred - test.values) ** 2)))
    assert len(test) == 20000
    assert rmse < 0.93, rmse
