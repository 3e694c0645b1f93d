"""Train/test splits: random holdout, k-fold, per-user temporal, and a data set's official folds.

Every split keeps the id vocabularies of the full data set, so a train and a test matrix are
aligned (same rows and columns) and a model fitted on one scores the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from synerec._rng import RandomState, check_random_state
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError

__all__ = ["Fold", "holdout_split", "kfold_split", "official_splits", "temporal_split"]


class Fold(NamedTuple):
    """One train/test pair and its name (``"holdout"``, ``"fold-1"``, ``"u1"``, ...)."""

    train: InteractionDataset
    test: InteractionDataset
    name: str


def _fold(data: InteractionDataset, test_mask: np.ndarray, name: str) -> Fold:
    return Fold(data.subset(~test_mask, name=f"{data.name}[{name}:train]"),
                data.subset(test_mask, name=f"{data.name}[{name}:test]"), name)


def holdout_split(data: InteractionDataset, test_size: float = 0.2, *,
                  per_user: bool = False, random_state: RandomState = None) -> Fold:
    """Random holdout of a fraction of interactions.

    Parameters
    ----------
    data
        The data set.
    test_size
        Fraction of interactions in the test part, in (0, 1).
    per_user
        Hold out the fraction within each user's interactions (users with one interaction keep
        it in training), instead of over the whole log.
    random_state
        Seed or generator.
    """
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"test_size must be between 0 and 1, got {test_size}")
    rng = check_random_state(random_state)
    n = data.n_interactions
    mask = np.zeros(n, dtype=bool)
    if not per_user:
        n_test = round(n * test_size)
        mask[rng.permutation(n)[:n_test]] = True
        return _fold(data, mask, "holdout")
    keys = rng.random(n)
    order = np.lexsort((keys, data.user_index))
    users = data.user_index[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)
    n_test = np.floor(counts * test_size + rng.random(len(counts))).astype(np.int64)
    n_test = np.minimum(n_test, counts - 1)
    mask[order[rank < np.repeat(n_test, counts)]] = True
    return _fold(data, mask, "holdout")


def kfold_split(data: InteractionDataset, n_splits: int = 5, *,
                random_state: RandomState = None) -> list[Fold]:
    """Shuffled k-fold over interactions: every interaction is tested exactly once.

    Parameters
    ----------
    data
        The data set.
    n_splits
        Number of folds, at least 2.
    random_state
        Seed or generator.
    """
    if n_splits < 2 or n_splits > data.n_interactions:
        raise ConfigError(f"n_splits must be between 2 and the number of interactions "
                          f"({data.n_interactions}), got {n_splits}")
    rng = check_random_state(random_state)
    fold_of = np.empty(data.n_interactions, dtype=np.int64)
    fold_of[rng.permutation(data.n_interactions)] = np.arange(data.n_interactions) % n_splits
    return [_fold(data, fold_of == k, f"fold-{k + 1}") for k in range(n_splits)]


def temporal_split(data: InteractionDataset, n_test: int = 1, *,
                   fraction: float | None = None) -> Fold:
    """Per-user temporal split: each user's latest interactions form the test part.

    Parameters
    ----------
    data
        A data set with timestamps.
    n_test
        Leave-last-out: each user's ``n_test`` latest interactions are held out. Users with at
        most ``n_test`` interactions stay wholly in training, so every test user has a history.
    fraction
        Instead of a count: each user's latest ``ceil(fraction * count)`` interactions, at most
        ``count - 1`` (a user with one interaction keeps it in training), e.g. 0.2 for "each
        customer's last 20%".

    Notes
    -----
    Ties in time are broken by log order (later row = later).
    """
    if data.timestamps is None:
        raise ConfigError(f"data set {data.name!r} has no timestamps; a temporal split needs them")
    if fraction is None and n_test < 1:
        raise ConfigError(f"n_test must be at least 1, got {n_test}")
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise ConfigError(f"fraction must be between 0 and 1, got {fraction}")
    n = data.n_interactions
    order = np.lexsort((np.arange(n), data.timestamps, data.user_index))
    users = data.user_index[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, n])
    from_end = np.repeat(starts + counts, counts) - np.arange(n)  # 1 for the user's last row
    if fraction is None:
        held = np.where(counts > n_test, n_test, 0)
        name = f"last-{n_test}"
    else:
        held = np.minimum(np.ceil(fraction * counts - 1e-9).astype(np.int64), counts - 1)
        name = f"last-{fraction:.0%}"
    mask = np.zeros(n, dtype=bool)
    mask[order[from_end <= np.repeat(held, counts)]] = True
    return _fold(data, mask, name)


def official_splits(data: InteractionDataset, names: Sequence[str] | None = None) -> list[Fold]:
    """The publisher's own folds (ml-100k: ``u1`` .. ``u5`` by default, also ``ua``, ``ub``).

    Parameters
    ----------
    data
        A data set loaded with its official splits.
    names
        Which splits; default: ``u1``..``u5`` when present, else all.
    """
    if not data.splits:
        raise ConfigError(f"data set {data.name!r} has no official splits")
    if names is None:
        default = [f"u{k}" for k in range(1, 6)]
        names = default if all(k in data.splits for k in default) else sorted(data.splits)
    unknown = [n for n in names if n not in data.splits]
    if unknown:
        raise ConfigError(f"unknown split(s) {unknown}; {data.name!r} has {sorted(data.splits)}")
    return [_fold(data, data.splits[name], name) for name in names]
