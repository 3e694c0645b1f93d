"""Synthetic rating matrices with power-law popularity, for the benchmarks.

Usable from any script in ``bench/`` (the script's folder is on ``sys.path``)::

    from synthetic import synthetic_ratings

    R = synthetic_ratings(50_000, 20_000, 2_000_000)   # users x items CSR, ratings 1..5
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from synerec._rng import RandomState, check_random_state

__all__ = ["RATING_PROBABILITIES", "synthetic_ratings", "zipf_probabilities"]

log = logging.getLogger(__name__)

# P(rating = 1..5), close to MovieLens 100K's histogram
RATING_PROBABILITIES = np.array([0.06, 0.11, 0.27, 0.34, 0.22])


def zipf_probabilities(n: int, alpha: float) -> np.ndarray:
    """``p[r] ∝ (r + 1) ** -alpha`` for ranks ``r = 0 .. n-1`` (alpha 0 = uniform)."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -float(alpha)
    return weights / weights.sum()


def synthetic_ratings(
    n_users: int,
    n_items: int,
    n_ratings: int,
    alpha: float = 0.8,
    random_state: RandomState = 0,
    chunk_size: int = 1_000_000,
    *,
    user_alpha: float = 0.3,
) -> sp.csr_matrix:
    """A users x items matrix of ``n_ratings`` distinct ratings in 1..5 (float32 CSR).

    Item popularity follows a Zipf-like law with exponent ``alpha`` and user activity a milder
    one with exponent ``user_alpha``; popularity ranks are shuffled over the ids, so popular
    items are not all at low indices. (user, item) pairs are drawn ``chunk_size`` at a time;
    repeated pairs are dropped (keeping the first draw) until ``n_ratings`` distinct pairs are
    held, so memory stays O(n_ratings + chunk_size) and no dense matrix is built.

    Parameters
    ----------
    n_users, n_items
        Shape of the matrix.
    n_ratings
        Number of distinct (user, item) ratings; at most ``n_users * n_items``.
    alpha
        Item popularity exponent, ``P(item of rank r) ∝ (r + 1) ** -alpha``.
    random_state
        Seed or generator (see :func:`synerec._rng.check_random_state`).
    chunk_size
        Pairs drawn per chunk.
    user_alpha
        User activity exponent.

    Returns
    -------
    scipy.sparse.csr_matrix
        n_users x n_items, float32, canonical, exactly ``n_ratings`` stored entries.
    """
    if n_users <= 0 or n_items <= 0 or n_ratings < 0 or chunk_size <= 0:
        raise ValueError("n_users, n_items and chunk_size must be > 0 and n_ratings >= 0")
    if n_ratings > n_users * n_items:
        raise ValueError(f"{n_ratings} ratings do not fit in {n_users} x {n_items}")
    rng = check_random_state(random_state)
    item_p = zipf_probabilities(n_items, alpha)
    user_p = zipf_probabilities(n_users, user_alpha)
    item_of_rank = rng.permutation(n_items)
    user_of_rank = rng.permutation(n_users)

    keys = np.empty(0, np.int64)  # distinct user * n_items + item, in first-drawn order
    stalled = 0
    while keys.size < n_ratings:
        users = user_of_rank[rng.choice(n_users, size=chunk_size, p=user_p)]
        items = item_of_rank[rng.choice(n_items, size=chunk_size, p=item_p)]
        drawn = np.concatenate([keys, users.astype(np.int64) * n_items + items])
        _, first = np.unique(drawn, return_index=True)
        before = keys.size
        keys = drawn[np.sort(first)]
        stalled = stalled + 1 if keys.size - before < chunk_size // 1000 else 0
        if stalled >= 50:
            raise ValueError(
                f"only {keys.size} distinct ratings after many chunks; the power law is too "
                f"steep for {n_ratings} ratings in {n_users} x {n_items} (lower alpha)")
        log.debug("synthetic ratings: %d distinct of %d", keys.size, n_ratings)
    keys = keys[:n_ratings]
    values = rng.choice(5, size=n_ratings, p=RATING_PROBABILITIES).astype(np.float32) + 1
    R = sp.csr_matrix((values, (keys // n_items, keys % n_items)), shape=(n_users, n_items),
                      dtype=np.float32)
    R.sum_duplicates()
    return R
