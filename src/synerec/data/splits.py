"""Train/test splits: random holdout, k-fold, per-user temporal, a data set's official folds,
and the two protocols for new items: a global temporal cut and held-out cold items.

Every split keeps the id vocabularies of the full data set, so a train and a test matrix are
aligned (same rows and columns) and a model fitted on one scores the other.

New items and new users
-----------------------
A shop adds products every week, and collaborative filtering cannot score a product nobody has
bought. Two protocols measure what a model does with them:

* :func:`global_temporal_split`: one cut in time for everybody. Training is everything before
  the cut; the test part is what the users *with an earlier interaction* did afterwards; the
  users without one are returned apart (:attr:`Fold.new_users`). The products first sold after
  the cut are :attr:`Fold.cold_items`.
* :func:`cold_item_split`: a seeded share of the catalogue is held out with *all* its
  interactions, half for validation (:attr:`Fold.validation`) and half for test; the rest is
  training, so each test user's other (warm) interactions are the input.

Both fill the fields of :class:`Fold` that an evaluation needs to report slices: ``warm-items``
and ``cold-items`` (a test pair's item in :attr:`Fold.cold_items` or not), ``cold-shelf``
(rank each test user's cold items among :attr:`Fold.cold_items` only) and ``new-users``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import NamedTuple, TypeAlias

import numpy as np
import pandas as pd

from synerec._rng import RandomState, check_random_state
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError

__all__ = ["Cutoff", "Fold", "cold_item_split", "global_temporal_split", "holdout_split",
           "kfold_split", "leave_one_out_split", "official_splits", "parse_cutoff",
           "temporal_split"]

#: A global cut in time: a date (``"2011-09-01"``, a :class:`datetime.datetime` /
#: :class:`datetime.date`, a :class:`pandas.Timestamp`), or a float in (0, 1), a fraction of
#: the data's time span.
Cutoff: TypeAlias = str | _dt.date | _dt.datetime | pd.Timestamp | np.datetime64 | float


class Fold(NamedTuple):
    """One train/test pair and its name (``"holdout"``, ``"fold-1"``, ``"u1"``, ...).

    The protocols for new items (:func:`global_temporal_split`, :func:`cold_item_split`) fill
    the optional fields; the other splits leave them ``None``.

    Attributes
    ----------
    train, test
        The two parts (same vocabularies as the full data set).
    name
        The fold's name.
    cold_items
        Boolean mask over the item vocabulary: the items without any training interaction
        that this fold tests (the new products of a temporal cut, the held-out items of a
        cold-item split). A test pair is in the ``cold-items`` slice when its item is in the
        mask, else in ``warm-items``; ``cold-shelf`` ranks among these items only.
    new_users
        The held-out interactions of users without any training interaction (reported apart
        as ``new-users``; not in ``test``). Empty when there are none.
    validation
        A fold carved out of the training data the same way, for tuning without the test
        part: a cold-item split's validation half (on the same ``train``, with its own
        ``cold_items`` and ``new_users``), a global temporal split's training part cut again
        (:func:`global_temporal_split`), leave-one-out's item before the last
        (:func:`leave_one_out_split`). ``None`` for the other splits.
    """

    train: InteractionDataset
    test: InteractionDataset
    name: str
    cold_items: np.ndarray | None = None
    new_users: InteractionDataset | None = None
    validation: Fold | None = None


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
    name = f"last-{n_test}" if fraction is None else f"last-{fraction:.0%}"
    return _fold(data, _latest(data, n_test, fraction), name)


def _latest(data: InteractionDataset, n_test: int, fraction: float | None = None) -> np.ndarray:
    """Mask of each user's latest ``n_test`` rows (users with more), or latest ``fraction``
    (at most all but one); ties in time by log order."""
    assert data.timestamps is not None
    n = data.n_interactions
    order = np.lexsort((np.arange(n), data.timestamps, data.user_index))
    users = data.user_index[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, n])
    from_end = np.repeat(starts + counts, counts) - np.arange(n)  # 1 for the user's last row
    if fraction is None:
        held = np.where(counts > n_test, n_test, 0)
    else:
        held = np.minimum(np.ceil(fraction * counts - 1e-9).astype(np.int64), counts - 1)
    mask = np.zeros(n, dtype=bool)
    mask[order[from_end <= np.repeat(held, counts)]] = True
    return mask


def leave_one_out_split(data: InteractionDataset) -> Fold:
    """Leave-one-out, the next-item protocol: each user's last item is the test target.

    The protocol of the sequential recommenders' papers (SASRec, S3-Rec and after): each user
    with at least two interactions has their latest one held out for test; the one before it
    is the validation target (:attr:`Fold.validation`: the training part less that item, and
    that item). Every item is ranked, the user's training items excluded: no sampled negatives
    (sampled metrics inflate results several times).

    Parameters
    ----------
    data
        A data set with timestamps (or, for the Amazon sequences, the position in the
        sequence as the time).

    Returns
    -------
    Fold
        Named ``leave-one-out``; ``validation`` named ``leave-one-out:validation``.

    Raises
    ------
    ConfigError
        No timestamps (nothing orders a user's interactions).

    Notes
    -----
    This is :func:`temporal_split` with ``n_test=1``, twice: ties in time are broken by log
    order (later row = later). A user with one interaction stays in training; a user with two
    has a test item but no validation item.
    """
    if data.timestamps is None:
        raise ConfigError(f"data set {data.name!r} has no timestamps; leave-one-out needs the "
                          "order of each user's interactions")
    test = _latest(data, 1)
    idx = np.flatnonzero(~test)
    val = np.zeros(len(test), dtype=bool)
    val[idx[_latest(data.subset(idx), 1)]] = True
    name = "leave-one-out"
    train = data.subset(~test, name=f"{data.name}[{name}:train]")
    validation = Fold(data.subset(~(test | val), name=f"{data.name}[{name}:validation:train]"),
                      data.subset(val, name=f"{data.name}[{name}:validation]"),
                      f"{name}:validation")
    return Fold(train, data.subset(test, name=f"{data.name}[{name}:test]"), name,
                validation=validation)


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


# ---------------------------------------------------------------------------------------------
# new items: a global cut in time, held-out cold items
# ---------------------------------------------------------------------------------------------

def _cutoff_seconds(data: InteractionDataset, cutoff: Cutoff) -> tuple[int, str]:
    """The cut as unix seconds (the data's clock) and a name for it."""
    assert data.timestamps is not None
    if isinstance(cutoff, (bool, np.bool_)):
        raise ConfigError(f"cutoff must be a date or a fraction in (0, 1), got {cutoff!r}")
    if isinstance(cutoff, (int, float, np.integer, np.floating)):
        frac = float(cutoff)
        if not 0.0 < frac < 1.0:
            raise ConfigError(f"a numeric cutoff is a fraction of the time span, in (0, 1); "
                              f"got {cutoff!r} (give a date such as '2011-09-01' otherwise)")
        lo, hi = int(data.timestamps.min()), int(data.timestamps.max())
        seconds = lo + int(np.ceil(frac * (hi - lo)))
        when = pd.Timestamp(seconds, unit="s")
        return seconds, f"{frac:g} ({when:%Y-%m-%d %H:%M})"
    try:
        when = pd.Timestamp(cutoff)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cutoff {cutoff!r} is not a date (e.g. '2011-09-01') or a "
                          f"fraction in (0, 1): {exc}") from None
    if when is pd.NaT or pd.isna(when):
        raise ConfigError(f"cutoff {cutoff!r} is not a date")
    if when.tzinfo is not None:  # the data's clock is naive (local time read as UTC)
        when = when.tz_convert("UTC").tz_localize(None)
    seconds = int((when - pd.Timestamp(0)) // pd.Timedelta(seconds=1))
    name = f"{when:%Y-%m-%d}" if when == when.normalize() else when.isoformat()
    return seconds, name


def _held_out(data: InteractionDataset, train_mask: np.ndarray, held: np.ndarray, name: str,
              cold_items: np.ndarray, train: InteractionDataset | None = None) -> Fold:
    """A fold whose test part is ``held``'s rows of users with a training row; the other rows
    of ``held`` are its ``new_users``."""
    has_train = np.zeros(data.n_users, dtype=bool)
    has_train[data.user_index[train_mask]] = True
    known = has_train[data.user_index]
    test = held & known
    new = held & ~known
    if train is None:
        train = data.subset(train_mask, name=f"{data.name}[{name}:train]")
    return Fold(train, data.subset(test, name=f"{data.name}[{name}:test]"), name,
                cold_items=cold_items,
                new_users=data.subset(new, name=f"{data.name}[{name}:new-users]"))


def global_temporal_split(data: InteractionDataset, cutoff: Cutoff) -> Fold:
    """One cut in time for every user: train before it, test from it on.

    Parameters
    ----------
    data
        A data set with timestamps.
    cutoff
        A date (``"2011-09-01"``, a ``datetime``, a ``pandas.Timestamp``; read on the data's
        clock, a time-zone-aware one converted to UTC), or a float in (0, 1): that fraction of
        the time span from the first to the last interaction.

    Returns
    -------
    Fold
        ``train``: every interaction strictly before the cut. ``test``: the interactions at or
        after it of users who have an interaction before it. ``new_users``: those of the users
        who have none (reported apart). ``cold_items``: the items interacted with from the cut
        on and never before it (the new products). Named ``global-temporal@{cutoff}``.
        ``validation``: the training part cut again, so that the same share of it is held
        out as of the whole data (for tuning; ``None`` when that cut leaves nothing on one
        side).

    Raises
    ------
    ConfigError
        No timestamps, a cutoff that is not a date or a fraction in (0, 1), or a cut that
        leaves nothing before or nothing after it.

    Notes
    -----
    UCI Online Retail as loaded here (one interaction per customer and product, timed at the
    last purchase): the cut at 2011-09-01 leaves 134,670 training interactions, 94,051 test
    pairs of which 10.3 % are on 264 products never sold before (278 new products in all,
    counting those only new customers bought), and 37,500 pairs of 1,038 new customers; at
    2011-10-01, 6.0 % of 78,254 test pairs are on 154 new products (163 in all).
    """
    if data.timestamps is None:
        raise ConfigError(f"data set {data.name!r} has no timestamps; a global temporal "
                          "split needs them")
    if not data.n_interactions:
        raise ConfigError(f"data set {data.name!r} has no interactions to split")
    seconds, label = _cutoff_seconds(data, cutoff)
    train = data.timestamps < seconds
    first = pd.Timestamp(int(data.timestamps.min()), unit="s")
    last = pd.Timestamp(int(data.timestamps.max()), unit="s")
    if not train.any() or train.all():
        side = "before" if not train.any() else "at or after"
        raise ConfigError(f"cutoff {label} leaves no interaction {side} it (the data run from "
                          f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M})")
    name = f"global-temporal@{label}"
    fold = _temporal_cut(data, train, name)
    # validation: the training part cut again, holding out the same share of it
    share = float(np.mean(~train))
    t_train = data.timestamps[train]
    inner = int(np.ceil(np.quantile(t_train, 1.0 - share)))
    assert fold.train.timestamps is not None
    inner_train = np.asarray(fold.train.timestamps < inner, dtype=bool)
    if inner_train.any() and not inner_train.all():
        when = pd.Timestamp(inner, unit="s")
        fold = fold._replace(validation=_temporal_cut(
            fold.train, inner_train, f"{name}:validation@{when:%Y-%m-%d %H:%M}"))
    return fold


def _temporal_cut(data: InteractionDataset, train: np.ndarray, name: str) -> Fold:
    """The fold of a global cut: ``train`` rows before it, the others held out."""
    seen = np.zeros(data.n_items, dtype=bool)
    seen[data.item_index[train]] = True
    cold = np.zeros(data.n_items, dtype=bool)
    cold[data.item_index[~train]] = True
    cold &= ~seen
    return _held_out(data, train, ~train, name, cold)


def parse_cutoff(text: str) -> Cutoff:
    """A cutoff as typed on a command line: a number is a fraction of the time span (``0.8``),
    anything else a date (``2011-09-01``); :func:`global_temporal_split` checks either."""
    try:
        return float(text)
    except ValueError:
        return text.strip()


def cold_item_split(data: InteractionDataset, share: float = 0.1, *,
                    random_state: RandomState = 0) -> Fold:
    """Hold out a share of the catalogue with all its interactions: new items to rank.

    Parameters
    ----------
    data
        The data set.
    share
        Fraction of the items with interactions held out, in (0, 1); half of them (rounded
        down) for validation, the other half for test.
    random_state
        Seed or generator of the choice of items.

    Returns
    -------
    Fold
        ``train``: every interaction with the other items (so each test user's warm
        interactions are the input). ``test``: the interactions with the test items of users
        who have a training interaction; ``new_users``: those of users who have none.
        ``cold_items``: the test items. ``validation``: the same for the validation items
        (same ``train``), for tuning. Named ``cold-items``.

    Raises
    ------
    ConfigError
        ``share`` outside (0, 1), or too few items for one test item and one training item.
    """
    if isinstance(share, bool) or not 0.0 < float(share) < 1.0:
        raise ConfigError(f"share must be between 0 and 1, got {share!r}")
    rng = check_random_state(random_state)
    active = np.flatnonzero(np.bincount(data.item_index, minlength=data.n_items) > 0)
    n_cold = round(float(share) * len(active))
    n_val = n_cold // 2
    n_test = n_cold - n_val
    if n_test < 1 or n_cold >= len(active):
        raise ConfigError(f"share={share:g} of the {len(active)} items with interactions holds "
                          f"out {n_cold}: need at least one test item and one training item")
    chosen = rng.permutation(active)[:n_cold]
    val_items, test_items = np.sort(chosen[:n_val]), np.sort(chosen[n_val:])
    test_mask = np.zeros(data.n_items, dtype=bool)
    test_mask[test_items] = True
    val_mask = np.zeros(data.n_items, dtype=bool)
    val_mask[val_items] = True
    in_test = test_mask[data.item_index]
    in_val = val_mask[data.item_index]
    train_mask = ~(in_test | in_val)
    name = "cold-items"
    train = data.subset(train_mask, name=f"{data.name}[{name}:train]")
    validation = _held_out(data, train_mask, in_val, f"{name}:validation", val_mask, train)
    fold = _held_out(data, train_mask, in_test, name, test_mask, train)
    return fold._replace(validation=validation)
