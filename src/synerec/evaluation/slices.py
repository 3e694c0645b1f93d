"""Slices of a fold's test part for the protocols for new items: where a model is blind.

A fold of :func:`~synerec.data.splits.global_temporal_split` or
:func:`~synerec.data.splits.cold_item_split` marks its new items (:attr:`Fold.cold_items`) and
its new users (:attr:`Fold.new_users`). :func:`fold_slices` cuts its relevant test pairs into
slices, once per fold, the same for every model; :func:`measure_slices` measures a fitted model
on each:

``all``
    Every relevant test pair; the users' lists rank every item the model can rank, each
    user's training items excluded.
``warm-items``
    The pairs whose item has training interactions; the same lists.
``cold-items``
    The pairs whose item is in :attr:`Fold.cold_items` (no training interaction); the same
    lists, among all items. A model that cannot score an item without training data (EASE,
    ALS, the kNN models) gets 0 here by construction.
``cold-shelf``
    The same users and pairs as ``cold-items``, each user's list ranked among the cold items
    only: a "new arrivals" shelf.
``new-users``
    The relevant held-out pairs of :attr:`Fold.new_users` (users without any training
    interaction; present where there are some): their lists are what the model's declared
    policy for unknown users gives (:meth:`~synerec.algorithms.recommending.Recommending.
    recommend_indices`: the most popular items it may recommend).

A user is in a slice when it has a relevant pair in it; in ``warm-items`` and ``cold-items``
relevance is restricted to the slice's items, the list is the same. ``warm-items`` and
``cold-items`` partition ``all``'s pairs (a user may be in both). Each slice reports its number
of users, of relevant pairs, of hits (users with a relevant item in the top ``n``) and the means
over its users of :data:`SLICE_METRICS` (and NDCG@n, recall@n); the lists are ranked once at the
largest cutoff needed and cut. Each slice keeps every user's NDCG@n, so that a paired bootstrap
against a reference model works per slice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.data.splits import Fold
from synerec.exceptions import ConfigError
from synerec.metrics import (
    average_precision_at_n,
    hit_rate_at_n,
    ndcg_at_n,
    precision_at_n,
    recall_at_n,
    reciprocal_rank,
    relevant_from_test,
)

__all__ = ["SLICE_METRICS", "SLICE_NAMES", "Slice", "SliceResult", "fold_slices",
           "measure_slices", "parse_slice_metric", "slice_depth", "slice_metric_names"]

#: The slices, in the order they are reported.
SLICE_NAMES = ("all", "warm-items", "cold-items", "cold-shelf", "new-users")

#: The metrics every slice reports (besides NDCG@n and recall@n of the list length ``n``).
SLICE_METRICS = ("ndcg@10", "recall@10", "recall@20", "ndcg@100")

#: Per-user metric functions by name (``name@k``; ``mrr`` takes the list's length).
_PER_USER: dict[str, Callable[..., np.ndarray]] = {
    "ndcg": ndcg_at_n, "recall": recall_at_n, "precision": precision_at_n,
    "hit_rate": hit_rate_at_n, "map": average_precision_at_n, "mrr": reciprocal_rank,
}

#: Where a slice's lists come from: the test users' lists among every item, the test users'
#: lists among the cold items, the new users' lists.
_SOURCES = ("test", "shelf", "new-users")


@dataclass(frozen=True)
class Slice:
    """One slice of a fold: its users and relevant pairs, and which lists rank them.

    Attributes
    ----------
    name
        One of :data:`SLICE_NAMES`.
    users
        Sorted user indices (rows of the fold's matrices) with a relevant pair in the slice.
    relevant
        ``(len(users), n_items)`` CSR: the slice's relevant pairs, row ``k`` for ``users[k]``.
    source
        ``"test"`` (the test users' lists among every item), ``"shelf"`` (among
        :attr:`candidates` only) or ``"new-users"`` (users without training data).
    candidates
        Boolean mask over items of the items ranked (``"shelf"`` only).
    """

    name: str
    users: np.ndarray
    relevant: sp.csr_matrix
    source: str = "test"
    candidates: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_users(self) -> int:
        """Users in the slice."""
        return len(self.users)

    @property
    def n_pairs(self) -> int:
        """Relevant (user, item) pairs in the slice."""
        return int(self.relevant.nnz)


@dataclass
class SliceResult:
    """A model's measurements on one slice of one fold."""

    name: str
    n_users: int
    n_pairs: int
    #: Users with at least one of the slice's relevant items in their top ``n``.
    n_hits: int
    #: Means over the slice's users.
    metrics: dict[str, float]
    #: NDCG@n of each of the slice's users, in the slice's user order (the same users for
    #: every model of a fold, so differences pair).
    ndcg_per_user: np.ndarray = field(repr=False, compare=False,
                                      default_factory=lambda: np.empty(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``users``, ``pairs``, ``hits`` and the metrics (``None`` for NaN)."""
        return {"users": self.n_users, "pairs": self.n_pairs, "hits": self.n_hits,
                **{k: (None if not np.isfinite(v) else float(v)) for k, v in
                   self.metrics.items()}}


def _columns(R: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """``R`` with only the stored entries in the ``keep`` columns."""
    out = sp.csr_matrix(R, copy=True)
    out.data = out.data * keep[out.indices]
    out.eliminate_zeros()
    return out


def _slice(name: str, R: sp.csr_matrix, source: str = "test",
           candidates: np.ndarray | None = None) -> Slice:
    users = np.flatnonzero(np.diff(R.indptr) > 0).astype(np.int64)
    rel = sp.csr_matrix(R[users])
    rel.sort_indices()
    return Slice(name, users, rel, source, candidates)


def fold_slices(fold: Fold, relevance_threshold: float | None = None) -> list[Slice]:
    """The slices of a fold (none for a fold without :attr:`~Fold.cold_items`).

    Parameters
    ----------
    fold
        A fold of a protocol for new items.
    relevance_threshold
        A held-out pair is relevant when its rating is at least this; ``None``: every
        held-out pair.

    Returns
    -------
    list of Slice
        ``all``, ``warm-items``, ``cold-items``, ``cold-shelf`` and, when
        :attr:`~Fold.new_users` holds a relevant pair, ``new-users``.
    """
    if fold.cold_items is None:
        return []
    cold = np.asarray(fold.cold_items, dtype=bool)
    if cold.shape != (fold.test.n_items,):
        raise ConfigError(f"fold {fold.name!r}: cold_items has shape {cold.shape}, expected "
                          f"({fold.test.n_items},)")
    rel = relevant_from_test(fold.test.matrix, relevance_threshold)
    cold_rel = _columns(rel, cold)
    out = [_slice("all", rel), _slice("warm-items", _columns(rel, ~cold)),
           _slice("cold-items", cold_rel), _slice("cold-shelf", cold_rel, "shelf", cold)]
    if fold.new_users is not None and fold.new_users.n_interactions:
        new = relevant_from_test(fold.new_users.matrix, relevance_threshold)
        if new.nnz:
            out.append(_slice("new-users", new, "new-users"))
    return out


def parse_slice_metric(metric: str) -> tuple[str, int]:
    """``"recall@20"`` -> (``"recall"``, 20); ``"mrr"`` -> (``"mrr"``, 0: the list's length).

    Raises
    ------
    ConfigError
        A metric without a per-user function here.
    """
    m = re.fullmatch(r"([a-z_]+)(?:@(\d+))?", metric.strip().lower())
    if m is None or m.group(1) not in _PER_USER or (m.group(1) != "mrr" and not m.group(2)) \
            or (m.group(2) is not None and int(m.group(2)) < 1):
        raise ConfigError(f"a slice metric must be one of {', '.join(sorted(_PER_USER))} with "
                          f"@N (mrr without), got {metric!r}")
    return m.group(1), int(m.group(2) or 0)


def slice_metric_names(n: int, extra: Iterable[str] = ()) -> list[str]:
    """The metrics a slice reports with lists of length ``n``: :data:`SLICE_METRICS`, NDCG@n,
    recall@n and ``extra``, without repeats."""
    names = [*SLICE_METRICS, f"ndcg@{n}", f"recall@{n}", *extra]
    for name in names:
        parse_slice_metric(name)
    return list(dict.fromkeys(names))


def slice_depth(n: int, metrics: Iterable[str]) -> int:
    """The list length that serves every metric (the largest cutoff, at least ``n``)."""
    return max([n, *(parse_slice_metric(m)[1] for m in metrics)])


def _measured(name: str, rec: np.ndarray, relevant: sp.csr_matrix, n: int,
              metrics: Sequence[str]) -> SliceResult:
    """One slice's figures from its users' lists (``rec`` rows aligned with ``relevant``)."""
    n_users = relevant.shape[0]
    values: dict[str, float] = {}
    if n_users == 0:
        nan = float("nan")
        return SliceResult(name, 0, 0, 0, dict.fromkeys(metrics, nan), np.empty(0))
    rel = relevant
    for metric in metrics:
        kind, k = parse_slice_metric(metric)
        per = np.asarray(_PER_USER[kind](rec, rel, k or rec.shape[1]), dtype=np.float64)
        values[metric] = float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")
    ndcg = np.asarray(ndcg_at_n(rec, rel, n), dtype=np.float64)
    hits = int(np.count_nonzero(np.nan_to_num(
        np.asarray(hit_rate_at_n(rec, rel, n), dtype=np.float64)) > 0))
    return SliceResult(name, n_users, int(rel.nnz), hits, values, ndcg)


def measure_slices(model: Any, slices: Sequence[Slice], n: int = 10, *,
                   metrics: Sequence[str] | None = None,
                   lists: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> dict[str, SliceResult]:
    """A fitted model's figures on each slice.

    Parameters
    ----------
    model
        A model fitted on the fold's training part (its ``recommend_indices``).
    slices
        :func:`fold_slices` of the fold.
    n
        List length of the hits and of the per-user NDCG (the bootstrap's).
    metrics
        Metric names (default :func:`slice_metric_names` of ``n``).
    lists
        ``(users, rec)``: the test users' lists already ranked among every item, users sorted,
        ``rec`` at least :func:`slice_depth` long; they are cut, not ranked again. Without it,
        the lists are ranked here.

    Returns
    -------
    dict
        ``{slice name: SliceResult}`` in the order of ``slices``.
    """
    metrics = slice_metric_names(n) if metrics is None else list(metrics)
    depth = slice_depth(n, metrics)
    test_users = np.unique(np.concatenate(
        [s.users for s in slices if s.source == "test"] or [np.empty(0, np.int64)]))
    if lists is not None and lists[1].shape[1] >= depth \
            and np.isin(test_users, lists[0]).all():
        users, rec = lists[0], lists[1][:, :depth]
    else:
        users = test_users
        rec = (model.recommend_indices(users, depth, exclude_seen=True)[0] if len(users)
               else np.empty((0, depth), dtype=np.int64))
    out: dict[str, SliceResult] = {}
    for s in slices:
        if s.source not in _SOURCES:
            raise ConfigError(f"slice {s.name!r} has an unknown source {s.source!r}")
        if s.n_users == 0:
            rows = np.empty((0, depth), dtype=np.int64)
        elif s.source == "test":
            rows = rec[np.searchsorted(users, s.users)]
        elif s.source == "shelf":
            rows = model.recommend_indices(s.users, depth, exclude_seen=True,
                                           candidates=s.candidates)[0]
        else:  # new users: the model's declared list for users without training data
            rows = model.recommend_indices(s.users, depth, exclude_seen=True)[0]
        out[s.name] = _measured(s.name, np.asarray(rows, dtype=np.int64), s.relevant, n,
                                metrics)
    return out
