"""Steps 2 and 3 of the hybrid's training: the labelled candidates the ranker learns from.

For each validation split (:mod:`synerec.hybrid.split`), the retrievers fitted on the split's
fit part propose candidates for the users with a relevant label-part item; each candidate gets
its feature row (statistics of the fit part only) and a label: 1 when it is in the user's
label part with a rating at or above the relevance threshold (explicit data), else 0 (graded:
2 / 1 / 0). The tables of all splits are stacked for one ranker (:func:`stack_tables`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec._progress import progress
from synerec.algorithms.base import Recommender
from synerec.hybrid.candidates import CandidateSet, generate_candidates, lookup_pairs
from synerec.hybrid.config import HybridConfig
from synerec.hybrid.split import ValidationSplit

__all__ = ["TrainingTable", "labels", "relevance_threshold", "stack_tables", "training_table"]

log = logging.getLogger(__name__)

#: Users whose candidates and features are built at once: the table is made in batches of
#: them, so that the retrievers' score blocks and the feature computations hold a bounded
#: number of pairs whatever the number of users (the rows are the same as in one pass).
TABLE_BATCH_USERS = 8192


@dataclass(frozen=True, eq=False)
class TrainingTable:
    """The labelled candidates of one validation split.

    Attributes
    ----------
    features
        ``(n_pairs, n_features)`` float32 stage-A feature matrix, grouped by user.
    labels
        ``(n_pairs,)`` int32 labels.
    sizes
        Candidates per user (the ranker's groups).
    users
        The user of each group.
    items
        The item of each pair.
    fit, fit_times
        The fit part the retrievers were fitted on, and its timestamps (the LLM stage shows
        the users' histories from it).
    info
        ``users``, ``pairs``, ``positives``, ``candidate_recall``, ``mean_candidates``.
    """

    features: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray
    users: np.ndarray
    items: np.ndarray
    fit: sp.csr_matrix
    fit_times: sp.csr_matrix | None
    info: dict[str, Any]


def relevance_threshold(config: HybridConfig, rating_scale: tuple[float, float] | None
                        ) -> float | None:
    """A label-part rating at or above it is relevant (``None``: every interaction)."""
    t = config.relevance_threshold
    if rating_scale is None:
        return None if t == "auto" else (None if t is None else float(t))
    if t == "auto":
        low, high = rating_scale
        return low + 0.75 * (high - low)
    return None if t is None else float(t)


def labels(cands: CandidateSet, L: sp.csr_matrix, thr: float | None,
           graded: bool) -> np.ndarray:
    """Label of each candidate: in the label part ``L`` (and relevant), graded when asked."""
    n_items = L.shape[1]
    Lu = L[cands.users]
    lrows = np.repeat(np.arange(len(cands.users)), np.diff(Lu.indptr))
    pos = lookup_pairs(cands, lrows, Lu.indices, n_items)
    y = np.zeros(cands.n_pairs, dtype=np.int32)
    ok = pos >= 0
    vals = Lu.data[ok]
    rel = np.ones(len(vals), bool) if thr is None else vals >= thr
    if graded:
        y[pos[ok]] = np.where(rel, 2, 1)
    else:
        y[pos[ok]] = rel.astype(np.int32)
    return y


def training_table(split: ValidationSplit, retrievers: Sequence[Recommender],
                   config: HybridConfig, thr: float | None,
                   features: Callable[[CandidateSet], np.ndarray],
                   catalogue: np.ndarray | None = None,
                   masks: Sequence[np.ndarray | None] | None = None) -> TrainingTable | None:
    """The labelled candidates of one split (``None``: no user has a relevant label item).

    Parameters
    ----------
    split
        The validation split.
    retrievers
        Fitted on ``split.fit``.
    config
        The hybrid's ``n_candidates``, ``max_train_users`` (:attr:`~synerec.hybrid.config.
        HybridConfig.train_users_cap`), ``graded_labels`` and ``random_state``.
    thr
        :func:`relevance_threshold`.
    features
        The stage-A feature matrix of candidates from these retrievers and this fit part.
    catalogue
        Optional boolean mask over items: the items the retrievers may propose (``None``: all).
        A hybrid with a retriever of new items passes the items with an interaction in the
        whole training matrix: an item first sold after the training data was not on sale in
        the label part, and as a never-bought candidate it would teach the ranker that new
        products are not bought.
    masks
        Each retriever's own item mask (:meth:`~synerec.hybrid.retrievers.RetrieverSpec.
        candidate_mask`), or ``None``.
    """
    L = split.label
    pos = L.copy()
    if thr is not None:
        pos.data = (pos.data >= thr).astype(np.float32)
        pos.eliminate_zeros()
    users = np.flatnonzero((np.diff(pos.indptr) > 0) & (np.diff(split.fit.indptr) > 0))
    if len(users) == 0:
        return None
    cap = config.train_users_cap
    if cap is not None and len(users) > cap:
        rng = np.random.default_rng(config.random_state)
        log.info("hybrid: the ranker learns from %d of the %d users with held-out items "
                 "(max_train_users)", cap, len(users))
        users = np.sort(rng.choice(users, cap, replace=False))
    parts = []
    for lo in range(0, len(users), TABLE_BATCH_USERS):
        batch = users[lo:lo + TABLE_BATCH_USERS]
        cands = generate_candidates(retrievers, batch, config.n_candidates, items=catalogue,
                                    masks=masks)
        parts.append((np.diff(cands.indptr), cands.items, features(cands),
                      labels(cands, L, thr, config.graded_labels)))
        if len(users) > TABLE_BATCH_USERS:
            progress.info("hybrid: training table: %d/%d users, %d pairs", lo + len(batch),
                          len(users), sum(len(p[1]) for p in parts))
    sizes = np.concatenate([p[0] for p in parts])
    items = np.concatenate([p[1] for p in parts])
    F = parts[0][2] if len(parts) == 1 else np.concatenate([p[2] for p in parts])
    y = np.concatenate([p[3] for p in parts])
    del parts
    n_rel = np.diff(pos.indptr)[users]
    rows = np.repeat(np.arange(len(users)), sizes)
    hits = np.bincount(rows, weights=(y >= (2 if config.graded_labels else 1)),
                       minlength=len(users))
    info = {"users": len(users), "pairs": len(items),
            "positives": int(n_rel.sum()),
            "candidate_recall": float(hits.sum() / max(1, n_rel.sum())),
            "mean_candidates": float(len(items) / len(users))}
    log.info("hybrid: training table %s", info)
    return TrainingTable(F, y, sizes, users, items, split.fit, split.fit_times, info)


def stack_tables(tables: Sequence[TrainingTable]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """All splits' features, labels, group sizes and group users, one after the other, and
    what the ranker is trained on (users, pairs, positives, candidate recall, candidates per
    user)."""
    F = np.concatenate([t.features for t in tables])
    y = np.concatenate([t.labels for t in tables])
    sizes = np.concatenate([t.sizes for t in tables])
    group_users = np.concatenate([t.users for t in tables])
    infos = [t.info for t in tables]
    positives = sum(i["positives"] for i in infos)
    summary = {"users": sum(i["users"] for i in infos), "pairs": len(y),
               "positives": positives,
               "candidate_recall": float(sum(i["candidate_recall"] * i["positives"]
                                             for i in infos) / max(1, positives)),
               "mean_candidates": float(len(y) / max(1, len(sizes)))}
    return F, y, sizes, group_users, summary
