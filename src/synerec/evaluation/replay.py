"""Offline replay of an A/B test's variants on the events a service logged.

Each variant (a fitted model) is asked, for each user who has a *target* event in the log
(a purchase, by default), for the list it would have shown just before that user's first
target event, and the list is compared with what the user then took.

Protocol
--------
For user :math:`u` let :math:`t_u` be the time of their first target event in the log. The
user's history is their training interactions in the model plus their logged interactions
(any type but ``impression``) with a time before :math:`t_u`; their relevant items
:math:`R_u` are the items of their target events at or after :math:`t_u` (within
``horizon_s`` of it, when given). A model that scores profiles
(:class:`~synerec.algorithms.abilities.ScoresProfile`) ranks from the whole history (a logged
interaction weighs its rating when it has one, else the top of the model's rating scale, or 1
for an implicit model); another model ranks a user it knows from its training data alone and
a user it does not know from its popular items. Items of the history are left out, as the
service does. Per variant: NDCG@n and recall@n (:mod:`synerec.metrics.ranking`, binary
gains) averaged over the users, with a 95 % normal interval of the mean
(:math:`\\pm 1.96\\, s / \\sqrt{m}`); every variant is scored on the same users. An item the
model does not know can never be ranked: it stays in :math:`R_u` (it counts as a miss).

The figures estimate how well each variant *would* have ranked what the users went on to take;
they carry the bias of any replay: the logged events were shaped by the lists the users were
shown (by whichever variant served them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ScoresProfile
from synerec.exceptions import ConfigError
from synerec.metrics.ranking import ndcg_at_n, recall_at_n
from synerec.models import model_name
from synerec.topk import topk

__all__ = ["ReplayCase", "ReplayRow", "replay", "replay_cases"]

log = logging.getLogger(__name__)

Z95 = 1.959963984540054
_COLUMNS = ("user_id", "item_id", "event", "timestamp")


@dataclass(frozen=True)
class ReplayCase:
    """One user's evaluation point: the history before ``cut`` and the items taken after."""

    user_id: str
    cut: float
    history: list[tuple[str, float | None]]  # (item id, rating or None), oldest first
    relevant: list[str]


@dataclass(frozen=True)
class ReplayRow:
    """One variant's replayed figures."""

    variant: str
    model: str
    users: int
    n: int
    ndcg: float
    ndcg_low: float
    ndcg_high: float
    recall: float
    recall_low: float
    recall_high: float

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (JSON)."""
        return asdict(self)


def replay_cases(events: pd.DataFrame, targets: Sequence[str] = ("purchase",),
                 horizon_s: float | None = None) -> list[ReplayCase]:
    """The evaluation points of the logged ``events`` (see the module docstring).

    Parameters
    ----------
    events
        Columns ``user_id``, ``item_id``, ``event`` and ``timestamp`` (``rating`` optional):
        the service's event store (:func:`synerec.service.events.read_events_frame`) or a
        file of the same columns.
    targets
        Event types that make an item relevant.
    horizon_s
        Only target events within this many seconds of the user's first one count.

    Raises
    ------
    ConfigError
        A missing column, or no target event at all.
    """
    missing = [c for c in _COLUMNS if c not in events.columns]
    if missing:
        raise ConfigError(f"the events lack the column(s) {', '.join(missing)} (need "
                          f"{', '.join(_COLUMNS)})")
    ev = events.copy()
    if "rating" not in ev.columns:
        ev["rating"] = np.nan
    ev = ev[ev["event"].astype(str) != "impression"]
    ev["user_id"] = ev["user_id"].astype(str)
    ev["item_id"] = ev["item_id"].astype(str)
    order = ["timestamp", "id"] if "id" in ev.columns else ["timestamp"]
    ev = ev.sort_values(order, kind="stable")
    is_target = ev["event"].isin(list(targets)).to_numpy()
    if not is_target.any():
        raise ConfigError(f"no logged event of type {', '.join(targets)}: nothing to replay")
    cases = []
    for user, g in ev.groupby("user_id", sort=True):
        tgt = g["event"].isin(list(targets)).to_numpy()
        if not tgt.any():
            continue
        ts = g["timestamp"].to_numpy(dtype=np.float64)
        cut = float(ts[tgt][0])
        before = g[ts < cut]
        after = tgt & (ts >= cut)
        if horizon_s is not None:
            after &= ts <= cut + float(horizon_s)
        relevant = list(dict.fromkeys(g["item_id"].to_numpy()[after].tolist()))
        history = [(str(i), None if pd.isna(r) else float(r))
                   for i, r in zip(before["item_id"], before["rating"], strict=True)]
        cases.append(ReplayCase(str(user), cut, history, relevant))
    return cases


def _lists(model: Recommender, cases: list[ReplayCase], n: int) -> np.ndarray:
    """Each case's top-``n`` item indices (``-1`` padding) from ``model``."""
    out = np.full((len(cases), n), -1, dtype=np.int64)
    scale = model.rating_scale_
    default = 1.0 if scale is None else float(scale[1])
    X = model.train_
    popular = model.popular_items()[0]
    profiles: list[tuple[int, np.ndarray, np.ndarray]] = []
    known_rows: list[tuple[int, int, np.ndarray]] = []
    for k, case in enumerate(cases):
        u = _loc(model.users_, case.user_id)
        if u >= 0 and not model.is_known_user(u):
            u = -1
        items, weights = [], []
        for item, rating in case.history:
            i = _loc(model.items_, item)
            if i >= 0:
                items.append(i)
                weights.append(default if rating is None else rating)
        logged = np.asarray(items, dtype=np.int64)
        train_items = X.indices[X.indptr[u]:X.indptr[u + 1]] if u >= 0 else \
            np.zeros(0, np.int64)
        seen = np.union1d(train_items, logged)
        if isinstance(model, ScoresProfile) and (logged.size or u < 0):
            p_items = np.concatenate([train_items, logged])
            p_w = np.concatenate([X.data[X.indptr[u]:X.indptr[u + 1]] if u >= 0 else
                                  np.zeros(0), np.asarray(weights, dtype=np.float64)])
            profiles.append((k, p_items, p_w))
        elif u >= 0:
            known_rows.append((k, u, seen))
        else:
            keep = popular[~np.isin(popular, seen)][:n]
            out[k, :keep.size] = keep
    if known_rows:
        wider = n + max(len(cases[k].history) for k, _, _ in known_rows)  # logged items go
        ids, _ = model.recommend_indices(np.array([u for _, u, _ in known_rows]), wider)
        for row, (k, _, seen) in zip(ids, known_rows, strict=True):
            row = np.asarray(row, dtype=np.int64)
            keep = row[(row >= 0) & ~np.isin(row, seen)][:n]
            out[k, :keep.size] = keep
    if profiles:
        assert isinstance(model, ScoresProfile)
        n_items = model.n_items_
        rows = np.repeat(np.arange(len(profiles)), [p[1].size for p in profiles])
        cols = np.concatenate([p[1] for p in profiles])
        vals = np.concatenate([p[2] for p in profiles])
        P = sp.csr_matrix((vals, (rows, cols)), shape=(len(profiles), n_items))
        P.sum_duplicates()
        scores = model.score_profiles(P)
        ids, _ = topk(np.asarray(scores), n, exclude=P)
        for row, (k, _, _) in zip(ids, profiles, strict=True):
            out[k, :len(row)] = row
    return out


def replay(variants: Mapping[str, Recommender], events: pd.DataFrame, *, n: int = 10,
           targets: Sequence[str] = ("purchase",),
           horizon_s: float | None = None) -> list[ReplayRow]:
    """Evaluate each variant on the logged events (see the module docstring).

    Parameters
    ----------
    variants
        Variant name -> fitted model.
    events
        The logged events (:func:`replay_cases`).
    n
        List length (NDCG@n, recall@n).
    targets, horizon_s
        See :func:`replay_cases`.

    Returns
    -------
    list of ReplayRow
        One per variant, in the order given.
    """
    if not variants:
        raise ConfigError("replay needs at least one variant")
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    cases = [c for c in replay_cases(events, targets, horizon_s) if c.relevant]
    rows = []
    for name, model in variants.items():
        rec = _lists(model, cases, n)
        # relevant items as indices of this model; unknown items get columns past the
        # catalogue (never recommended: a miss that still counts in |R_u|)
        extra: dict[str, int] = {}
        rel = []
        for c in cases:
            idx = []
            for item in c.relevant:
                i = _loc(model.items_, item)
                if i >= 0:
                    idx.append(i)
                else:
                    idx.append(model.n_items_ + extra.setdefault(item, len(extra)))
            rel.append(np.asarray(idx, dtype=np.int64))
        shape = (len(cases), model.n_items_ + len(extra))
        R = sp.csr_matrix((np.ones(sum(r.size for r in rel)),
                           (np.repeat(np.arange(len(cases)), [r.size for r in rel]),
                            np.concatenate(rel) if rel else np.zeros(0, np.int64))),
                          shape=shape)
        nd = ndcg_at_n(rec, R, n) if cases else np.zeros(0)
        rc = recall_at_n(rec, R, n) if cases else np.zeros(0)
        rows.append(ReplayRow(name, _model_name(model), len(cases), n,
                              *_mean_ci(nd), *_mean_ci(rc)))
    return rows


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(np.mean(x))
    if x.size < 2:
        return m, math.nan, math.nan
    half = Z95 * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half


def _model_name(model: Recommender) -> str:
    return model_name(type(model))


def _loc(vocab: Any, id: str) -> int:
    """The index of ``id`` in ``vocab`` (``"3"`` matches ``3``), ``-1`` when unknown."""
    return int(vocab.indices([id], missing="negative")[0])
