"""The validation part the ranker learns from, carved out of the training matrix.

Per user (``"temporal"``, ``"random"``): each user with at least two training interactions
gives up ``min(ceil(fraction * count), count - 1)`` of them: the **latest** ones when
timestamps exist (ties broken by a seeded random key), else a **seeded random** share. Users
with a single interaction keep it.

One cut in time (``"global-temporal"``): every interaction at or after the ``1 - fraction``
quantile of the training timestamps is in the label part, whoever made it, as in a global
temporal test (:func:`synerec.data.splits.global_temporal_split`). The label part then holds
products first sold after the cut, which the ranker must learn to rank from their text; its
users without an interaction before the cut have no history and train nothing.

The retrievers are fitted on the rest (the *fit part*), so the features of a validation pair
never come from a model that saw that pair.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from synerec.hybrid.config import Validation

__all__ = ["ValidationSplit", "split_validation", "split_validation_folds"]

How = Validation


class ValidationSplit:
    """The fit part and the label part of a training matrix (same shape, disjoint entries).

    Attributes
    ----------
    fit, label
        CSR matrices; their sum is the training matrix.
    fit_times
        Timestamps of the fit part (same pattern as ``fit``), or ``None``.
    how
        ``"temporal"``, ``"random"`` or ``"global-temporal"``: how the label part was chosen.
    """

    def __init__(self, fit: sp.csr_matrix, label: sp.csr_matrix,
                 fit_times: sp.csr_matrix | None, how: str) -> None:
        self.fit = fit
        self.label = label
        self.fit_times = fit_times
        self.how = how


def split_validation(X: sp.csr_matrix, T: sp.csr_matrix | None, fraction: float, how: How,
                     random_state: int, fold: int = 0) -> ValidationSplit:
    """Split each user's training row into a fit part and a label part.

    Parameters
    ----------
    X
        Users x items training matrix (CSR, sorted indices).
    T
        Timestamps with ``X``'s pattern, or ``None``.
    fraction
        Share of each user's interactions held out (at most all but one).
    how
        ``"temporal"`` (latest; needs ``T``), ``"random"``, ``"global-temporal"`` (one cut in
        time; needs ``T``) or ``"auto"`` (temporal when ``T`` is given).
    random_state
        Seed of the random keys (the order of the random split, and ties in time).
    fold
        Which of the disjoint random label parts (:func:`split_validation_folds`): the one
        made of the interactions ranked ``fold * share .. (fold + 1) * share`` in each user's
        random order. Only ``0`` for a temporal split.
    """
    if how == "auto":
        how = "temporal" if T is not None else "random"
    if how in ("temporal", "global-temporal") and T is None:
        raise ValueError(f"a {how} validation split needs timestamps")
    if how == "global-temporal":
        if fold:
            raise ValueError("a global-temporal validation split has one fold")
        assert T is not None
        return _global_temporal(X, T, fraction)
    n_users = X.shape[0]
    counts = np.diff(X.indptr)
    rows = np.repeat(np.arange(n_users), counts)
    rng = np.random.default_rng(random_state)
    keys = rng.random(X.nnz)
    if how == "temporal":
        assert T is not None
        order = np.lexsort((keys, -T.data.astype(np.float64), rows))  # latest first per user
    else:
        order = np.lexsort((keys, rows))
    starts = X.indptr[:-1]
    rank = np.empty(X.nnz, dtype=np.int64)
    rank[order] = np.arange(X.nnz) - np.repeat(starts, counts)
    held = np.minimum(np.ceil(fraction * counts - 1e-9).astype(np.int64), counts - 1)
    held = np.maximum(held, 0)
    if fold and how == "temporal":
        raise ValueError("a temporal validation split has one fold")
    lo = np.minimum(fold * held, counts)
    hi = np.minimum(lo + held, counts)
    r = rank
    is_label = (r >= np.repeat(lo, counts)) & (r < np.repeat(hi, counts))

    def part(mask: np.ndarray, data: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((data[mask], (rows[mask], X.indices[mask])), shape=X.shape,
                          dtype=data.dtype)
        m.sort_indices()
        return m

    fit_times = None if T is None else part(~is_label, T.data)
    return ValidationSplit(part(~is_label, X.data), part(is_label, X.data), fit_times, how)


def _part(X: sp.csr_matrix, mask: np.ndarray, data: np.ndarray) -> sp.csr_matrix:
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    m = sp.csr_matrix((data[mask], (rows[mask], X.indices[mask])), shape=X.shape,
                      dtype=data.dtype)
    m.sort_indices()
    return m


def _global_temporal(X: sp.csr_matrix, T: sp.csr_matrix, fraction: float) -> ValidationSplit:
    """The label part: every interaction at or after the ``1 - fraction`` quantile of the
    timestamps (``T`` has ``X``'s pattern, in the same order)."""
    t = T.data.astype(np.float64)
    if len(t) == 0:
        raise ValueError("a global-temporal validation split needs interactions")
    cut = float(np.quantile(t, 1.0 - fraction))
    is_label = t >= cut
    if is_label.all():  # ties at the quantile: the cut moves just after it
        is_label = t > cut
    if not is_label.any() or is_label.all():
        raise ValueError("the training timestamps leave no cut in time for a global-temporal "
                         "validation split")
    return ValidationSplit(_part(X, ~is_label, X.data), _part(X, is_label, X.data),
                           _part(X, ~is_label, T.data), "global-temporal")


def split_validation_folds(X: sp.csr_matrix, T: sp.csr_matrix | None, fraction: float,
                           how: How, random_state: int, folds: int) -> list[ValidationSplit]:
    """``folds`` validation splits with disjoint label parts (one for a temporal or
    global-temporal split).

    With a random split, fold ``k``'s label part is the ``k``-th block of ``fraction`` of each
    user's interactions in one seeded random order, so the label parts never overlap and
    together give the ranker ``folds`` times as many labelled users' items (``folds *
    fraction`` must not exceed 1). Each fold's fit part is the rest of the training matrix.
    """
    resolved = ("temporal" if T is not None else "random") if how == "auto" else how
    if resolved in ("temporal", "global-temporal") or folds <= 1:
        return [split_validation(X, T, fraction, how, random_state)]
    if folds * fraction > 1.0 + 1e-9:
        raise ValueError(f"{folds} validation folds of {fraction:g} each exceed the training "
                         "data")
    return [split_validation(X, T, fraction, how, random_state, fold=k) for k in range(folds)]
