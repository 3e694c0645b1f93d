r"""What fitting the hybrid will cost, said before it starts (issue 25).

:func:`plan_fit` estimates, from the training matrix's shape alone (users, items,
interactions, and the two sums of squared degrees that the neighbourhood models' work grows
with), the wall time and the memory of each stage of :meth:`HybridRanker.fit
<synerec.hybrid.model.HybridRanker.fit>`: the text embedding, each retriever on the validation
part, the training table, the ranker, each retriever's refit and the saved arrays. It then
makes the announced switches a large shop needs, for the retrievers whose options the caller
left at their defaults:

* **EASE** (``ease``, ``ease-all``) dense only while its :math:`4 n^2` bytes take at most
  :data:`DENSE_EASE_SHARE` of the memory allowed and its :math:`O(n^3)` inverse at most
  :data:`MAX_RETRIEVER_SECONDS`, else its sparse variant;
* a **retriever estimated above** :data:`MAX_RETRIEVER_SECONDS` (``user-cf`` on a million
  customers: its work grows with the squared number of buyers of each product) is left out;

and refuses, in one line naming the estimate and what to do instead, a fit whose planned peak
passes the memory allowed (:func:`fit_memory_limit`), before any large allocation.

The coefficients are per-unit costs measured on the 2-core reference machine of
``docs/scaling.md`` (one thread per retriever, as the hybrid fits them); another machine scales
the seconds, not the memory. ``bench/default_scale.py`` prints each estimate beside the
measured figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec._config import MEMORY_LIMIT_ENV, memory_limit_bytes, physical_memory_bytes
from synerec.algorithms.training import TrainingData
from synerec.exceptions import ConfigError
from synerec.hybrid.config import HybridConfig
from synerec.hybrid.features import Group, feature_columns
from synerec.hybrid.retrievers import choose_retrievers

__all__ = ["DENSE_EASE_SHARE", "MAX_RETRIEVER_SECONDS", "DataShape", "FitPlan", "StageCost",
           "fit_memory_limit", "plan_fit", "plan_for"]

log = logging.getLogger(__name__)

GiB = float(2**30)
#: Dense EASE is kept while its ``4 n^2`` bytes are at most this share of the memory allowed.
DENSE_EASE_SHARE = 0.25
#: A default retriever whose fit is estimated above this (seconds, on the reference machine)
#: is left out, announced.
MAX_RETRIEVER_SECONDS = 600.0
#: Share of the physical memory a fit may plan to use when ``$SYNEREC_MEMORY_LIMIT_MB`` is
#: not set (the rest is the operating system's and the page cache's).
PHYSICAL_SHARE = 0.85
#: Candidates per user of the training table and of a batch of lists, per retriever (the union
#: of the retrievers' top ``n_candidates``: measured 0.69 of their sum on the synthetic shops).
UNION_SHARE = 0.7


@dataclass(frozen=True)
class DataShape:
    """The size of the data the plan reads.

    Attributes
    ----------
    users, items, interactions
        The training matrix's shape and number of stored pairs.
    text_items
        Items whose text is embedded (0: no text).
    user_pairs
        :math:`\\sum_u d_u^2`: item pairs within the users' histories (item-item work).
    item_pairs
        :math:`\\sum_i d_i^2`: user pairs among each item's buyers (user-user work).
    """

    users: int
    items: int
    interactions: int
    text_items: int
    user_pairs: float
    item_pairs: float

    @classmethod
    def of(cls, X: sp.csr_matrix, text_items: int) -> DataShape:
        """The shape of a users x items CSR matrix."""
        du = np.diff(X.indptr).astype(np.float64)
        di = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
        return cls(int(X.shape[0]), int(X.shape[1]), int(X.nnz), int(text_items),
                   float(du @ du), float(di @ di))

    def scaled(self, share: float) -> DataShape:
        """The shape of ``share`` of the interactions (a validation part's fit part)."""
        return replace(self, interactions=int(self.interactions * share),
                       user_pairs=self.user_pairs * share**2,
                       item_pairs=self.item_pairs * share**2)


@dataclass(frozen=True)
class StageCost:
    """One stage's estimated wall seconds and the memory it holds at its peak (bytes, on top
    of the data)."""

    name: str
    seconds: float
    bytes: float


@dataclass(frozen=True)
class _Cost:
    """A retriever family's cost model: seconds and bytes of its fit, and the bytes of what it
    keeps (its saved arrays), from the data's shape and its options."""

    seconds: Callable[[DataShape, dict[str, Any]], float]
    fit_bytes: Callable[[DataShape, dict[str, Any]], float]
    kept_bytes: Callable[[DataShape, dict[str, Any]], float]


def _neighbours(shape: DataShape, opts: dict[str, Any], rows: int) -> float:
    return rows * min(int(opts.get("max_neighbors", 300)), shape.items) * 8.0


def _ease_dense(opts: dict[str, Any]) -> bool:
    return opts.get("variant", "dense") == "dense"


#: The per-unit costs of each registered model the default hybrid uses (the reference machine,
#: one thread), keyed by model name; any other model costs like item-cf.
_COSTS: dict[str, _Cost] = {
    "ease": _Cost(
        lambda s, o: (7.7e-12 * s.items**3 + 4e-9 * s.user_pairs) if _ease_dense(o)
        else 5e-5 * s.interactions * int(o.get("neighbors", 100)) / 100
        + 4e-9 * s.user_pairs,
        lambda s, o: (4.0 * s.items**2 * 1.05) if _ease_dense(o)
        else s.items * int(o.get("neighbors", 100)) * 24.0 + 4.0 * 2048 * s.items,
        lambda s, o: (4.0 * s.items**2) if _ease_dense(o)
        else s.items * int(o.get("neighbors", 100)) * 8.0),
    "als": _Cost(
        lambda s, o: 8.0e-6 * s.interactions * int(o.get("factors", 64)) / 64
        + 2e-5 * (s.users + s.items),
        lambda s, o: (s.users + s.items) * int(o.get("factors", 64)) * 4.0 * 3
        + s.interactions * 16.0,
        lambda s, o: (s.users + s.items) * int(o.get("factors", 64)) * 4.0),
    "item-cf": _Cost(
        lambda s, o: 3.5e-8 * s.user_pairs + 1e-7 * s.interactions,
        lambda s, o: _neighbours(s, o, s.items) * 2 + s.interactions * 16.0,
        lambda s, o: _neighbours(s, o, s.items)),
    "user-cf": _Cost(
        lambda s, o: 1.4e-8 * s.item_pairs + 1e-6 * s.users,
        lambda s, o: _neighbours(s, o, s.users) * 2 + s.interactions * 16.0,
        lambda s, o: _neighbours(s, o, s.users)),
    "t-item-cf": _Cost(
        lambda s, o: 3.5e-8 * s.user_pairs + 2.5e-8 * s.items**2 + 1e-7 * s.interactions,
        lambda s, o: _neighbours(s, o, s.items) * 3 + 4.0 * 2048 * s.items,
        lambda s, o: _neighbours(s, o, s.items) * 2),
    "text-knn": _Cost(lambda s, o: 1e-5 * s.items, lambda s, o: 0.0, lambda s, o: 0.0),
    "popularity": _Cost(lambda s, o: 1e-8 * s.interactions, lambda s, o: 8.0 * s.items,
                        lambda s, o: 8.0 * s.items),
}
#: Seconds per embedded item (all-MiniLM-L6-v2 on the CPU, titles; a cached catalogue costs
#: nothing).
EMBED_SECONDS = 3.7e-3
#: Seconds of the training table per candidate pair (its features) and per user and item (the
#: retrievers score every item for each user): measured 35 s for 10,000 users x 20,000 items
#: and 221 s for 10,000 x 100,000 (2.4M and 2.1M pairs).
TABLE_SECONDS_PER_PAIR = 2.0e-6
TABLE_SECONDS_PER_USER_ITEM = 2.0e-7
#: Seconds per pair and tree of LightGBM's LambdaRank on the table (33 s for 2.4M pairs x 100).
RANKER_SECONDS_PER_PAIR_TREE = 1.4e-7
#: Bytes the process holds per interaction before the first stage (the log's columns, the
#: matrix, its timestamps, the validation parts) and its fixed part (interpreter, libraries).
DATA_BYTES_PER_INTERACTION = 120.0
BASE_BYTES = 1.2 * GiB
#: Seconds per byte of the saved arrays (written, then hashed).
SAVE_SECONDS_PER_BYTE = 1.2e-8
#: Bytes per interaction held at the end of the fit on top of the retrievers: the whole
#: matrix's statistics (the users' text profiles among them) and the arrays gathered for the
#: archive (measured: 8 GB at 19M interactions).
SAVE_BYTES_PER_INTERACTION = 450.0


def fit_memory_limit() -> tuple[int, str]:
    """The memory a whole fit may plan to use: ``$SYNEREC_MEMORY_LIMIT_MB`` when set, else
    :data:`PHYSICAL_SHARE` of the machine's physical memory; and where that came from."""
    if os.environ.get(MEMORY_LIMIT_ENV):
        return memory_limit_bytes()
    total = physical_memory_bytes()
    if total is None:  # pragma: no cover - non-POSIX
        return memory_limit_bytes()
    return int(total * PHYSICAL_SHARE), \
        f"{PHYSICAL_SHARE:.0%} of this machine's {total / GiB:.1f} GiB"


@dataclass(frozen=True)
class FitPlan:
    """The estimate of a fit, and the switches made for its size.

    Attributes
    ----------
    shape
        The data's :class:`DataShape`.
    stages
        Each stage's :class:`StageCost`, in the fit's order.
    peak_bytes
        The planned peak resident memory of the process.
    limit_bytes, limit_source
        The memory allowed (:func:`fit_memory_limit`) and where it came from.
    retrievers
        The retriever labels the fit uses (after the switches).
    retriever_params
        The hybrid's ``retriever_params`` after the switches.
    switches
        One sentence per automatic switch (announced by the fit).
    left_out
        The retrievers the switches leave out.
    """

    shape: DataShape
    stages: tuple[StageCost, ...]
    peak_bytes: float
    limit_bytes: int
    limit_source: str
    retrievers: tuple[str, ...]
    retriever_params: dict[str, dict[str, Any]]
    switches: tuple[str, ...] = field(default=())
    left_out: tuple[str, ...] = field(default=())

    @property
    def seconds(self) -> float:
        """The estimated wall time of the whole fit."""
        return sum(s.seconds for s in self.stages)

    def lines(self) -> list[str]:
        """The estimate as the fit announces it: a total line, then one line per stage."""
        s = self.shape
        out = [f"hybrid: plan for {s.users:,} users x {s.items:,} items x "
               f"{s.interactions:,} interactions: about {_duration(self.seconds)} and "
               f"{self.peak_bytes / GiB:.1f} GiB at the peak (allowed "
               f"{self.limit_bytes / GiB:.1f} GiB, {self.limit_source})"]
        out += [f"hybrid: plan: {st.name:<28} ~{_duration(st.seconds):>8}  "
                f"+{st.bytes / GiB:5.2f} GiB" for st in self.stages]
        return out

    def check(self) -> None:
        """Refuse a plan whose peak passes the memory allowed (one line, with alternatives).

        Raises
        ------
        ConfigError
            The planned peak is above :attr:`limit_bytes`.
        """
        if self.peak_bytes <= self.limit_bytes:
            return
        s = self.shape
        top = max(self.stages, key=lambda st: st.bytes)
        raise ConfigError(
            f"the hybrid on {s.users:,} users x {s.items:,} items x {s.interactions:,} "
            f"interactions needs about {self.peak_bytes / GiB:.1f} GiB "
            f"({top.name} {top.bytes / GiB:.1f} GiB), more than the "
            f"{self.limit_bytes / GiB:.1f} GiB allowed ({self.limit_source}); instead fit "
            f"--model als (about {_single_peak(s, 'als') / GiB:.1f} GiB) or --model ease -p "
            f"variant=sparse (about {_single_peak(s, 'ease', {'variant': 'sparse'}) / GiB:.1f} "
            f"GiB), or set ${MEMORY_LIMIT_ENV} if this machine has more to give")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _single_peak(shape: DataShape, model: str, opts: dict[str, Any] | None = None) -> float:
    """The planned peak of fitting one model alone on the whole data."""
    cost = _COSTS.get(model, _COSTS["item-cf"])
    o = opts or {}
    return _data_bytes(shape) + cost.fit_bytes(shape, o) + cost.kept_bytes(shape, o)


def _data_bytes(shape: DataShape) -> float:
    return BASE_BYTES + DATA_BYTES_PER_INTERACTION * shape.interactions


def plan_fit(config: HybridConfig, retrievers: Sequence[tuple[str, str, dict[str, Any]]],
             shape: DataShape, *, n_features: int, label_users: int,
             limit: tuple[int, str] | None = None) -> FitPlan:
    """The plan of a fit of the hybrid configured by ``config``.

    Parameters
    ----------
    config
        The hybrid's configuration (its ``retriever_params`` say which options the caller
        set: a retriever's option given there is never switched).
    retrievers
        ``(label, model, options)`` of each retriever the fit would use.
    shape
        The training data's :class:`DataShape`.
    n_features
        Columns of the feature table.
    label_users
        Users with held-out items in a validation part (the training table's users before
        ``max_train_users``).
    limit
        The memory allowed and its source (default :func:`fit_memory_limit`).
    """
    limit_bytes, source = limit if limit is not None else fit_memory_limit()
    chosen, params, switches, left_out = _switches(config, retrievers, shape, limit_bytes)
    fit_shape = shape.scaled(1.0 - config.validation_fraction)
    stages: list[StageCost] = []
    if shape.text_items:
        stages.append(StageCost("text embedding (uncached)", EMBED_SECONDS * shape.text_items,
                                shape.text_items * 384 * 4.0 * 3))
    part_kept = 0.0
    for label, model, opts in chosen:
        cost = _COSTS.get(model, _COSTS["item-cf"])
        stages.append(StageCost(f"{label} (validation part)", cost.seconds(fit_shape, opts),
                                part_kept + cost.fit_bytes(fit_shape, opts)))
        part_kept += cost.kept_bytes(fit_shape, opts)
    cap = config.train_users_cap
    table_users = min(label_users, cap) if cap is not None else label_users
    pairs = table_users * config.n_candidates * len(chosen) * UNION_SHARE
    n_cols = n_features + 2 * len(chosen)
    table_bytes = pairs * (n_features * 4.0 * 2 + n_cols * 4.0 + 24)
    stages.append(StageCost("training table", TABLE_SECONDS_PER_PAIR * pairs
                            + TABLE_SECONDS_PER_USER_ITEM * table_users * shape.items,
                            part_kept + table_bytes))
    stages.append(StageCost("ranker", RANKER_SECONDS_PER_PAIR_TREE * pairs
                            * config.n_estimators, pairs * n_features * 4.0 * 2))
    kept = 0.0
    for label, model, opts in chosen:
        cost = _COSTS.get(model, _COSTS["item-cf"])
        stages.append(StageCost(f"{label} (refit)", cost.seconds(shape, opts),
                                kept + cost.fit_bytes(shape, opts)))
        kept += cost.kept_bytes(shape, opts)
    stages.append(StageCost("statistics and save", SAVE_SECONDS_PER_BYTE * kept,
                            kept * 2 + SAVE_BYTES_PER_INTERACTION * shape.interactions))
    peak = _data_bytes(shape) + max(st.bytes for st in stages)
    return FitPlan(shape, tuple(stages), peak, limit_bytes, source,
                   tuple(label for label, _, _ in chosen), params, tuple(switches),
                   tuple(left_out))


def _switches(config: HybridConfig, retrievers: Sequence[tuple[str, str, dict[str, Any]]],
              shape: DataShape, limit_bytes: int
              ) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, dict[str, Any]],
                         list[str], list[str]]:
    """The retrievers kept (with their options), the ``retriever_params`` after the switches,
    the switches' sentences and the retrievers left out."""
    params = {k: dict(v) for k, v in config.retriever_params.items()}
    switches: list[str] = []
    chosen: list[tuple[str, str, dict[str, Any]]] = []
    left_out: list[str] = []
    for label, model, opts in retrievers:
        given = config.retriever_params.get(label, {})
        opts = dict(opts)
        if model == "ease" and "variant" not in given and _ease_dense(opts):
            need = 4.0 * shape.items**2
            slow = _COSTS["ease"].seconds(shape, opts)
            if need > DENSE_EASE_SHARE * limit_bytes or slow > MAX_RETRIEVER_SECONDS:
                opts["variant"] = "sparse"
                params.setdefault(label, {})["variant"] = "sparse"
                switches.append(
                    f"hybrid: {label}: the dense variant would need {need / GiB:.1f} GiB and "
                    f"about {_duration(slow)} for {shape.items:,} items (more than "
                    f"{DENSE_EASE_SHARE:.0%} of the memory allowed or "
                    f"{_duration(MAX_RETRIEVER_SECONDS)}): its sparse variant instead")
        cost = _COSTS.get(model, _COSTS["item-cf"])
        if not given and cost.seconds(shape, opts) > MAX_RETRIEVER_SECONDS:
            switches.append(
                f"hybrid: {label} is left out: its fit would take about "
                f"{_duration(cost.seconds(shape, opts))} on {shape.users:,} users x "
                f"{shape.items:,} items (more than {_duration(MAX_RETRIEVER_SECONDS)})")
            left_out.append(label)
            continue
        chosen.append((label, model, opts))
    if not chosen:
        raise ConfigError("the hybrid has no retriever left for data of this size")
    return chosen, params, switches, left_out


def plan_for(config: HybridConfig, data: TrainingData,
             rating_scale: tuple[float, float] | None, groups: list[Group]) -> FitPlan:
    """The plan of fitting the hybrid configured by ``config`` on ``data`` with the feature
    ``groups`` (the retrievers it would choose, its feature columns, the data's shape)."""
    X = data.matrix
    has_info = data.dataset is not None and data.dataset.item_info is not None
    text_items = X.shape[1] if "text" in groups and data.item_embeddings is None \
        and has_info else 0
    times = data.timestamps is not None
    specs = choose_retrievers(config, text="text" in groups, explicit=rating_scale is not None,
                              timed=times)
    n_features = len(feature_columns([s.columns(rating_scale, times) for s in specs], groups))
    return plan_fit(config, [(s.label, s.model, s.params) for s in specs],
                    DataShape.of(X, text_items), n_features=n_features,
                    label_users=int((np.diff(X.indptr) >= 2).sum()))
