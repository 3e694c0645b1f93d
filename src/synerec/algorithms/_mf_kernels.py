"""Compiled SGD epoch of biased matrix factorisation (private; see ``mf.py``).

Tested against the pure-Python reference in ``tests/algorithms/test_mf.py``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["sgd_epoch"]


@numba.njit(cache=True, nogil=True)
def sgd_epoch(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    order: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    bu: np.ndarray,
    bi: np.ndarray,
    mu: float,
    learning_rate: float,
    regularization: float,
    biased: bool,
) -> float:
    """One SGD pass over the ratings in ``order``, updating ``P``, ``Q``, ``bu``, ``bi`` in place.

    For each rating: ``e = r - (mu + bu[u] + bi[i] + P[u] . Q[i])`` (no ``mu`` and biases when
    not ``biased``), then ``b += lr * (e - reg * b)`` for both biases and, with the old factors,
    ``P[u] += lr * (e * Q[i] - reg * P[u])``, ``Q[i] += lr * (e * P[u] - reg * Q[i])``.

    Returns
    -------
    float
        Sum of squared errors seen during the pass (before each update).
    """
    n_factors = P.shape[1]
    sse = 0.0
    for t in range(order.shape[0]):
        k = order[t]
        u = users[k]
        i = items[k]
        est = 0.0
        for f in range(n_factors):
            est += P[u, f] * Q[i, f]
        if biased:
            est += mu + bu[u] + bi[i]
        e = ratings[k] - est
        sse += e * e
        if biased:
            bu[u] += learning_rate * (e - regularization * bu[u])
            bi[i] += learning_rate * (e - regularization * bi[i])
        for f in range(n_factors):
            puf = P[u, f]
            qif = Q[i, f]
            P[u, f] = puf + learning_rate * (e * qif - regularization * puf)
            Q[i, f] = qif + learning_rate * (e * puf - regularization * qif)
    return sse
