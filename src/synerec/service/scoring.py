r"""Serving users from their events without a refit: profile weights and item-neighbour scores.

A user's *profile* is the set of items they interacted with: their row of the model's training
matrix plus the events stored since the model was fitted. Each profile item :math:`i` has a
weight :math:`w_i \in [0, 1]`:

* an explicit rating :math:`r` on the scale ``low..high`` (training value or event rating):
  :math:`w = (r - low) / (high - low)`, so a 1-star item adds nothing and a 5-star item adds 1;
* an implicit training value (a model without rating scale): :math:`w = 1`;
* an event without a rating: its type's weight divided by the largest weight (``view`` 1,
  ``cart`` 2, ``purchase`` 3 by default: 1/3, 2/3, 1).

An item with several entries keeps the largest weight. The score of item :math:`j` is the sum
of the similarities of the profile items' neighbours (eq. S1, ``docs/service.md``):

.. math:: s_j = \sum_{i \in P} w_i \, S_{ij}  \tag{S1}

where :math:`S` is the item-item similarity (the model's own for an item-based model, else the
service's cosine similarity of the training matrix's item columns). Items no profile item
reaches are not scored; the shared :func:`synerec.topk.topk` ranks the rest, excluding the
profile's items when ``exclude_seen``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import scipy.sparse as sp

from synerec.service._kernels import accumulate_neighbors

__all__ = ["event_weight", "neighbor_scores", "neighbor_scores_reference", "profile_weights"]


def event_weight(rating: float | None, event: str | None,
                 rating_scale: tuple[float, float] | None,
                 event_weights: Mapping[str, float]) -> float:
    """The profile weight of one event (see the module docstring); always in ``[0, 1]``."""
    if rating is not None and rating_scale is not None:
        low, high = rating_scale
        return float(min(1.0, max(0.0, (rating - low) / (high - low))))
    if rating is not None:  # implicit model: a positive value is a full-weight interaction
        return 1.0 if rating > 0 else 0.0
    top = max(event_weights.values()) if event_weights else 1.0
    return float(event_weights.get(event or "none", event_weights.get("none", top)) / top)


def profile_weights(train_items: np.ndarray, train_values: np.ndarray,
                    event_items: Iterable[int], event_w: Iterable[float],
                    rating_scale: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Merge a user's training row and event items into ``(item indices, weights)``.

    Event items must already be item indices (``-1`` = unknown to the model: skipped). Each item
    keeps its largest weight; the result is sorted by item index.
    """
    if rating_scale is None:
        tw = np.ones(len(train_items), dtype=np.float64)
    else:
        low, high = rating_scale
        tw = np.clip((np.asarray(train_values, np.float64) - low) / (high - low), 0.0, 1.0)
    ei = np.fromiter(event_items, dtype=np.int64)
    ew = np.fromiter(event_w, dtype=np.float64, count=len(ei))
    keep = ei >= 0
    items = np.concatenate([np.asarray(train_items, np.int64), ei[keep]])
    weights = np.concatenate([tw, ew[keep]])
    if len(items) == 0:
        return items, weights
    order = np.lexsort((-weights, items))  # by item, largest weight first
    items, weights = items[order], weights[order]
    first = np.r_[True, items[1:] != items[:-1]]
    return items[first], weights[first]


def neighbor_scores(S: sp.csr_matrix, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Eq. (S1) for one profile: float32 scores over all items, ``-inf`` where unreached.

    One pass over the profile items' neighbour lists (compiled, without the GIL), so the cost
    is the number of stored neighbours of the profile.

    Parameters
    ----------
    S
        ``(n_items, n_items)`` CSR similarity; row ``i`` holds item ``i``'s neighbours.
    items, weights
        The profile (item indices and weights), as from :func:`profile_weights`.
    """
    n = S.shape[1]
    out = np.full(n, -np.inf, dtype=np.float32)
    if len(items) == 0:
        return out
    sums = np.zeros(n, dtype=np.float64)
    reached = np.zeros(n, dtype=np.bool_)
    accumulate_neighbors(S.indptr, S.indices, S.data, np.ascontiguousarray(items, dtype=np.int64),
                np.ascontiguousarray(weights, dtype=np.float64), sums, reached)
    out[reached] = sums[reached]
    return out


def neighbor_scores_reference(S: sp.csr_matrix, items: np.ndarray,
                              weights: np.ndarray) -> np.ndarray:
    """Slow, obviously correct eq. (S1): a loop over the profile's neighbour lists."""
    n = S.shape[1]
    acc: dict[int, float] = {}
    for i, w in zip(items.tolist(), weights.tolist(), strict=True):
        row = S.getrow(i)
        for j, s in zip(row.indices.tolist(), row.data.tolist(), strict=True):
            acc[j] = acc.get(j, 0.0) + w * s
    out = np.full(n, -np.inf, dtype=np.float32)
    for j, v in acc.items():
        out[j] = v
    return out
