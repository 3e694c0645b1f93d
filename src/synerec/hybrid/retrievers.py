"""Stage 1's models: which retrievers a hybrid uses, with which options, fitted on which part.

A retriever is a registered model under a *label* (``"ease"``, or ``"ease-all"`` for EASE on
every rating). Its entry in the hybrid's ``retriever_params`` (merged over
:data:`DEFAULT_RETRIEVER_PARAMS`) holds the model's options and the hybrid's own keys
(:data:`META_KEYS`). What the hybrid needs to know of a retriever is asked of its class's
declared contract, never of its concrete type:

* its feature group: ``"text"`` when the model needs item text (``"item_text"`` in
  :attr:`~synerec.algorithms.scoring.ScoringModel.needs`), else ``"cf"``
  (:func:`retriever_group`);
* whether it adds a ``:prediction`` column: on explicit data, when it
  :attr:`~synerec.algorithms.scoring.ScoringModel.predicts_ratings`, unless its
  :attr:`~synerec.algorithms.scoring.ScoringModel.evidence_kind` is ``"popularity"`` (its
  predicted rating is the item's mean, already the ``item_mean`` feature);
* whether it adds a ``:recent`` column: when the data has timestamps, for the models of
  :data:`RECENT_MODELS`, which score a profile of items
  (:class:`~synerec.algorithms.abilities.ScoresProfile`);
* whether it brings new items (items without a training interaction) into the hybrid's lists:
  for the models of :data:`NEW_ITEM_MODELS`, when the fitted model
  :attr:`~synerec.algorithms.scoring.ScoringModel.scores_cold_items`; a hybrid with such a
  retriever ranks new items and has the evidence columns (``new_items`` in
  :class:`~synerec.hybrid.features.Feature`);
* whether it can be used at all: a model that needs timestamps (``"timestamps"`` in its
  :attr:`~synerec.algorithms.scoring.ScoringModel.needs`: ``sasrec``, which reads each user's
  items in time order) is left out, with a warning, on data without them; with them it is
  fitted on the part's timestamps (:func:`fit_retrievers`).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from synerec._progress import progress
from synerec.algorithms.abilities import ScoresProfile
from synerec.algorithms.base import Recommender
from synerec.algorithms.persistence import ArraysView
from synerec.algorithms.registry import create_model, get_model_class
from synerec.algorithms.training import TrainingData
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError
from synerec.hybrid.config import DEFAULT_RETRIEVERS, HybridConfig
from synerec.hybrid.features import RetrieverColumns

__all__ = ["DEFAULT_RETRIEVERS", "DEFAULT_RETRIEVER_PARAMS", "META_KEYS", "NEW_ITEM_MODELS",
           "RECENT_MODELS",
           "RetrieverFits", "RetrieverSpec", "choose_retrievers", "fit_retriever",
           "fit_retrievers", "load_retrievers", "retriever_fits", "retriever_group",
           "retriever_spec"]

log = logging.getLogger(__name__)

_COSINE = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}
#: Parameters of the default retrievers: the neighbourhood models with the settings that rank
#: best on ML-100K u1 (cosine, no shrinkage: ``docs/experiments.md``, "Top-N on u1"); EASE on
#: every rating under the label ``ease-all``.
DEFAULT_RETRIEVER_PARAMS: dict[str, dict[str, Any]] = {
    "ease-all": {"model": "ease", "positive_threshold": None, "explicit_only": True},
    "item-cf": dict(_COSINE),
    "user-cf": dict(_COSINE),
    "t-item-cf": {**_COSINE, "alpha": 0.5},
    "sasrec": {"epochs": 30, "patience": 3, "item_init": "text"},
}
"""``sasrec`` as a retriever (not in :data:`DEFAULT_RETRIEVERS`: with it the hybrid measured
+0.0019 [+0.0004, +0.0034] NDCG@10 on UCI's temporal split but -0.0029 [-0.0083, +0.0020] on
ML-100K u1, at 20 to 48 times the fit time; ``docs/experiments.md``, "SASRec in the
hybrid"): at most 30 epochs with early stopping after 3 without a better
validation NDCG@10 on its own validation item (each user's latest item of the part it is
fitted on), then its refit on every item of that part; item table from the hybrid's text
embeddings (at random, with a warning, on data without text); seeded by the hybrid's
``random_state``, on the hybrid's ``num_threads``."""
#: Keys of a retriever's entry in ``retriever_params`` that are the hybrid's, not the model's:
#: ``"model"`` (the registered model, default the label), ``"explicit_only"`` (used on
#: explicit ratings only) and ``"new_only"`` (it proposes only items without an interaction in
#: the matrix it was fitted on: a "new arrivals" shelf, for a retriever of
#: :data:`NEW_ITEM_MODELS`).
META_KEYS = ("model", "explicit_only", "new_only")
#: Registered models that need an optional package to be fitted: a default retriever whose
#: package is missing is left out (with a warning) instead of failing the fit.
NEEDS_PACKAGE: dict[str, str] = {"als": "implicit", "bpr": "implicit"}
#: The registered models whose retrievers add a ``:recent`` column (EASE: its score from the
#: user's latest items, measured in ``docs/experiments.md``). ``rp3beta`` scores profiles too,
#: but a ``:recent`` column for it was never measured, and adding one would change the
#: columns of every saved hybrid that uses it.
RECENT_MODELS: frozenset[str] = frozenset({"ease"})
#: The registered models whose retrievers bring new items (no training interaction, but text)
#: into the hybrid's candidates and lists: the pure text retrievers, whose score of an item
#: does not depend on its interactions. ``t-item-cf`` also scores such items (its
#: ``cold_start``), but the hybrid never ranked them; admitting them would change the lists of
#: every saved hybrid that uses it.
NEW_ITEM_MODELS: frozenset[str] = frozenset({"text-knn", "text-knn-tuned"})

RetrieverGroup = Literal["cf", "text"]


def retriever_group(model: str | type[Recommender]) -> RetrieverGroup:
    """The feature group of a retriever's columns: ``"text"`` for a model (a registered name
    or a class) that needs item text (:attr:`~synerec.algorithms.scoring.ScoringModel.needs`),
    else ``"cf"``. A text retriever is used only with the ``"text"`` feature group."""
    cls = get_model_class(model) if isinstance(model, str) else model
    return "text" if "item_text" in cls.needs else "cf"


@dataclass(frozen=True)
class RetrieverSpec:
    """One retriever of a hybrid, as its configuration declares it.

    Attributes
    ----------
    label
        Its label (the prefix of its columns and its explanation signal).
    model
        The registered model's name.
    params
        The model's options (``num_threads``, ``random_state`` and ``encoder`` passed on from
        the hybrid unless given).
    group
        :func:`retriever_group`.
    explicit_only
        Used on explicit ratings only.
    new_only
        Proposes only items without an interaction in its training matrix
        (:meth:`candidate_mask`).
    """

    label: str
    model: str
    params: dict[str, Any]
    group: RetrieverGroup
    explicit_only: bool
    new_only: bool = False

    @property
    def model_class(self) -> type[Recommender]:
        """The registered model's class."""
        return get_model_class(self.model)

    def columns(self, rating_scale: tuple[float, float] | None,
                has_times: bool) -> RetrieverColumns:
        """What the feature table adds for it on data with ``rating_scale`` (and timestamps
        when ``has_times``); see the module docstring."""
        cls = self.model_class
        prediction = (rating_scale is not None and cls.predicts_ratings
                      and cls.evidence_kind != "popularity")
        recent = (has_times and self.model in RECENT_MODELS
                  and issubclass(cls, ScoresProfile))
        return RetrieverColumns(self.label, self.group, bool(prediction), bool(recent),
                                self.new_items)

    @property
    def new_items(self) -> bool:
        """Whether it brings new items into the hybrid (:data:`NEW_ITEM_MODELS`)."""
        return self.model in NEW_ITEM_MODELS

    def candidate_mask(self, fitted: Recommender) -> np.ndarray | None:
        """The items this retriever, fitted, may propose (``None``: every item it ranks);
        with ``new_only``, those without an interaction in its training matrix."""
        if not self.new_only:
            return None
        mask: np.ndarray = np.asarray(fitted.item_count_) == 0
        return mask

    def create(self) -> Recommender:
        """A new, unfitted model."""
        model: Recommender = create_model(self.model, **self.params)
        return model


def retriever_entry(config: HybridConfig, label: str) -> dict[str, Any]:
    """The retriever's entry: :data:`DEFAULT_RETRIEVER_PARAMS`, then the config's."""
    entry = dict(DEFAULT_RETRIEVER_PARAMS.get(label, {}))
    entry.update(config.retriever_params.get(label, {}))
    return entry


def retriever_model(config: HybridConfig, label: str) -> str:
    """The registered model of a retriever label (its entry's ``"model"``, else the label)."""
    model = retriever_entry(config, label).get("model", label)
    if not isinstance(model, str) or model == "hybrid":
        raise ConfigError(f"hybrid: retriever {label!r} names an invalid model {model!r}")
    return model


def retriever_options(config: HybridConfig, label: str) -> dict[str, Any]:
    """The model options of a retriever (see :attr:`RetrieverSpec.params`).

    Raises
    ------
    ConfigError
        An option the model does not take.
    """
    model_name = retriever_model(config, label)
    given = config.retriever_params.get(label, {})
    params = {k: v for k, v in retriever_entry(config, label).items() if k not in META_KEYS}
    accepted = set(get_model_class(model_name)._param_names())
    if "num_threads" in accepted and "num_threads" not in given:
        params["num_threads"] = config.num_threads or 1
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = config.random_state
    if "encoder" in accepted and "encoder" not in given:
        params["encoder"] = config.encoder
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ConfigError(f"hybrid: retriever {label!r} has no option {unknown[0]!r} "
                          f"(options: {', '.join(sorted(accepted))})")
    return params


def retriever_spec(config: HybridConfig, label: str) -> RetrieverSpec:
    """The retriever ``label`` of a hybrid configured by ``config``.

    Raises
    ------
    ConfigError
        An unknown or invalid model, or an option it does not take.
    """
    model = retriever_model(config, label)
    entry = retriever_entry(config, label)
    if entry.get("new_only") and model not in NEW_ITEM_MODELS:
        raise ConfigError(f"hybrid: retriever {label!r}: new_only needs a model that ranks new "
                          f"items ({', '.join(sorted(NEW_ITEM_MODELS))}), got {model!r}")
    return RetrieverSpec(label, model, retriever_options(config, label),
                         retriever_group(model), bool(entry.get("explicit_only")),
                         bool(entry.get("new_only")))


def package_available(config: HybridConfig, label: str) -> bool:
    """Whether a retriever's optional package is installed; a missing one leaves a default
    retriever out (logged), and fails the fit for a retriever the configuration names."""
    package = NEEDS_PACKAGE.get(retriever_model(config, label))
    if package is None or importlib.util.find_spec(package) is not None:
        return True
    if label in DEFAULT_RETRIEVERS and tuple(config.retrievers) == DEFAULT_RETRIEVERS:
        log.warning("hybrid: the default retriever %r needs the %s package, which is not "
                    "installed (pip install 'synerec[hybrid]'); it is left out", label,
                    package)
        return False
    return True  # the retriever's own fit says what to install


def _has_times_or_warn(config: HybridConfig, label: str, timed: bool) -> bool:
    """Whether a retriever can be fitted for want of timestamps (``timed``: the data has
    them); one whose model needs them is left out, logged, on data without."""
    if timed or "timestamps" not in get_model_class(retriever_model(config, label)).needs:
        return True
    log.warning("hybrid: retriever %r reads each user's items in time order and the data "
                "have no timestamps; it is left out", label)
    return False


def choose_retrievers(config: HybridConfig, *, text: bool, explicit: bool,
                      timed: bool = True) -> list[RetrieverSpec]:
    """The configured retrievers that a fit uses: text retrievers only with ``text``
    features, explicit-only ones only on ``explicit`` data, those that need timestamps only
    on ``timed`` data (left out with a warning), and not a default one whose package is
    missing.

    Raises
    ------
    ConfigError
        An unknown model, an unknown option, or no retriever left.
    """
    groups = {label: retriever_group(retriever_model(config, label))
              for label in config.retrievers}
    labels = [label for label in config.retrievers
              if (groups[label] == "cf" or text)
              and not (retriever_entry(config, label).get("explicit_only") and not explicit)
              and package_available(config, label)
              and _has_times_or_warn(config, label, timed)]
    if not labels:
        raise ConfigError(f"no retriever left among {list(config.retrievers)} without text "
                          "features")
    return [retriever_spec(config, label) for label in labels]


#: Runs the retrievers' fits: ``fits(fit_retriever, specs, part)`` returns
#: ``[fit_retriever(spec, part) for spec in specs]``, in the order of ``specs``, however it
#: runs them (one after the other, or in parallel Ray tasks:
#: :func:`synerec.distributed.parallel_fit`).
RetrieverFits = Callable[
    [Callable[["RetrieverSpec", TrainingData], Recommender], Sequence["RetrieverSpec"],
     TrainingData],
    list[Recommender]]

_fits: ContextVar[RetrieverFits | None] = ContextVar("synerec_retriever_fits", default=None)


@contextmanager
def retriever_fits(fits: RetrieverFits) -> Iterator[None]:
    """Inside the block, every hybrid fit in this thread fits its retrievers through ``fits``.

    How a layer above the hybrid (:mod:`synerec.distributed`) runs the retrievers' fits
    elsewhere without the hybrid knowing of it; each fit is :func:`fit_retriever`, the one
    the hybrid runs itself, so the fitted retrievers are the same wherever they ran.
    """
    token = _fits.set(fits)
    try:
        yield
    finally:
        _fits.reset(token)


def fit_retriever(spec: RetrieverSpec, part: TrainingData) -> Recommender:
    """One retriever, new, fitted on ``part``."""
    return spec.create().fit(part)


def fit_retrievers(specs: list[RetrieverSpec], X: sp.csr_matrix,
                   rating_scale: tuple[float, float] | None,
                   embeddings: np.ndarray | None,
                   times: sp.csr_matrix | None = None) -> list[Recommender]:
    """Each retriever, new, fitted on the matrix ``X`` (a fit part, or the whole training
    matrix) with the hybrid's item embeddings (zeros when there are none) and the
    timestamps ``times`` of ``X``'s pairs (``None``: none), which only a model that needs
    them reads. One after the other, or through the :func:`retriever_fits` in effect."""
    part = TrainingData.of(X, rating_scale=rating_scale,
                           item_embeddings=embeddings if embeddings is not None else
                           np.zeros((X.shape[1], 1), np.float32))
    if times is not None:
        part = replace(part, given_timestamps=sp.csr_matrix(times))
    fits = _fits.get()
    if fits is not None:
        t0 = time.perf_counter()
        fitted = fits(fit_retriever, specs, part)
        if len(fitted) != len(specs):
            raise ConfigError(f"the retrievers' fits returned {len(fitted)} models for "
                              f"{len(specs)} retrievers")
        progress.info("hybrid: %d retrievers fitted in %.1f s (%d users, %d items, %d "
                      "interactions)", len(specs), time.perf_counter() - t0, X.shape[0],
                      X.shape[1], X.nnz)
        return list(fitted)
    out = []
    for k, spec in enumerate(specs, 1):
        t0 = time.perf_counter()
        out.append(fit_retriever(spec, part))
        progress.info("hybrid: retriever %d/%d %s fitted in %.1f s (%d users, %d items, %d "
                      "interactions)", k, len(specs), spec.label, time.perf_counter() - t0,
                      X.shape[0], X.shape[1], X.nnz)
    return out


def load_retrievers(specs: list[RetrieverSpec], arrays: Mapping[str, np.ndarray],
                    X: sp.csr_matrix, rating_scale: tuple[float, float] | None,
                    like: Recommender | None = None) -> list[Recommender]:
    """The retrievers of a saved hybrid: retriever ``j``'s arrays are those prefixed
    ``r{j}.``; their training matrix is the hybrid's (``like``: the hybrid, whose statistics
    of it they share)."""
    n_users, n_items = X.shape
    users = Vocabulary(np.arange(n_users, dtype=np.int64), kind="user")
    items = Vocabulary(np.arange(n_items, dtype=np.int64), kind="item")
    out: list[Recommender] = []
    for j, spec in enumerate(specs):
        model = spec.create()
        model.config_ = model.get_config()
        model._set_training_state(X, users, items, rating_scale, like=out[0] if out else like)
        model._load_arrays(ArraysView(arrays, f"r{j}."))  # each read when the model asks
        out.append(model)
    return out
