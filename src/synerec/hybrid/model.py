r"""The ``hybrid`` model: several retrievers propose, a learned LambdaRank ranker orders.

How it is trained (no leakage; see also ``docs/experiments.md``)
-----------------------------------------------------------------
1. The training matrix is split per user into a *fit part* and a *label part*
   (:func:`synerec.hybrid.split.split_validation`: each user's latest ``validation_fraction``
   of interactions when timestamps exist, else a seeded random share).
2. Every retriever is fitted on the fit part. Each user with label interactions gets the union
   of the retrievers' top ``n_candidates`` items (seen items of the fit part excluded,
   :func:`synerec.hybrid.candidates.generate_candidates`) and one feature row per candidate
   (:mod:`synerec.hybrid.features`, statistics of the fit part only).
3. A candidate's label is 1 when it is in the user's label part (with a rating at or above
   ``relevance_threshold`` for explicit data), else 0; LightGBM's LambdaRank learns to order
   each user's candidates (:class:`synerec.hybrid.ranker.LambdaRanker`, early stopping on a
   seeded share of the users).
4. The retrievers are refitted on the **whole** training matrix; the ranker is kept. Ranking a
   user then repeats step 2 on the whole matrix and orders the candidates by the ranker.

The LLM feature (``"llm"`` in ``features``) adds a second ranker that reorders the first
ranker's top ``llm_candidates`` items with the language model's likelihood score as one more
feature (:mod:`synerec.hybrid.llm_feature`); below them the first ranker's order is kept.

Scores, not ratings
-------------------
:meth:`HybridRanker.predict` returns the ranker's score of a pair (higher = ranked higher; a
pair that no retriever proposes is scored with its retriever features missing), clipped to the
rating scale like every model's prediction: it is **not** a rating estimate. Rating prediction
stays with the eq. 3 / eq. 4 models (``user-cf``, ``item-cf``, their text twins, ``mf``).

When the ranker cannot be trained (no user has a relevant item among the candidates of the
label part, e.g. on a handful of interactions), the hybrid ranks by reciprocal-rank fusion of
the retrievers, :math:`\sum_r 1 / (60 + \text{rank}_r)`, and says so in ``ranker_kind_``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field, field_validator

from synerec.algorithms.abilities import ExplainsList
from synerec.algorithms.base import Recommender, RecommenderConfig
from synerec.algorithms.registry import create_model, get_model_class, register_model
from synerec.algorithms.training import Need, TrainingData
from synerec.data.dataset import InteractionDataset
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError
from synerec.hybrid.candidates import CandidateSet, generate_candidates
from synerec.hybrid.features import (
    FEATURE_GROUPS,
    ItemSide,
    build_features,
    feature_names,
    recent_item_mask,
    recent_item_scores,
    training_stats,
)
from synerec.hybrid.llm_feature import LikelihoodFeature, make_llm
from synerec.hybrid.ranker import LambdaRanker, RankerParams, lightgbm
from synerec.hybrid.split import split_validation_folds

__all__ = ["DEFAULT_RETRIEVERS", "DEFAULT_RETRIEVER_PARAMS", "HybridConfig", "HybridRanker"]

log = logging.getLogger(__name__)

#: The retrievers of the default hybrid, in feature order: EASE on the positives, EASE on
#: every rating (``ease-all``, explicit data only: which items a user rates at all), ALS (the
#: ``implicit`` package; left out with a warning when it is missing), the neighbourhood models,
#: the text blend and popularity (``docs/experiments.md``, "The hybrid").
DEFAULT_RETRIEVERS: tuple[str, ...] = ("ease", "ease-all", "als", "item-cf", "user-cf",
                                       "t-item-cf", "popularity")
#: Parameters of the default retrievers: the neighbourhood models with the settings that rank
#: best on ML-100K u1 (cosine, no shrinkage: ``docs/experiments.md``, "Top-N on u1"); EASE on
#: every rating under the label ``ease-all``.
_COSINE = {"similarity": "cosine", "min_support": 1, "shrinkage": 0.0}
DEFAULT_RETRIEVER_PARAMS: dict[str, dict[str, Any]] = {
    "ease-all": {"model": "ease", "positive_threshold": None, "explicit_only": True},
    "item-cf": dict(_COSINE),
    "user-cf": dict(_COSINE),
    "t-item-cf": {**_COSINE, "alpha": 0.5},
}
#: Registered models that need an optional package to be fitted: a default retriever whose
#: package is missing is left out (with a warning) instead of failing the fit.
_NEEDS_PACKAGE: dict[str, str] = {"als": "implicit", "bpr": "implicit"}
RRF_K = 60.0
#: Keys of a retriever's entry in ``retriever_params`` that are the hybrid's, not the model's.
_META = ("model", "explicit_only")

Group = Literal["cf", "text", "llm"]


class HybridConfig(RecommenderConfig):
    """Parameters of :class:`HybridRanker` (documented there)."""

    retrievers: tuple[str, ...] = DEFAULT_RETRIEVERS
    retriever_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    n_candidates: int = Field(50, ge=1)
    features: tuple[Group, ...] = ("cf", "text")
    encoder: str = "minilm"
    validation: Literal["auto", "temporal", "random"] = "auto"
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    validation_folds: int = Field(3, ge=1)
    relevance_threshold: float | Literal["auto"] | None = "auto"
    graded_labels: bool = False
    max_train_users: int | None = Field(None, ge=2)
    objective: Literal["lambdarank", "rank_xendcg", "binary"] = "lambdarank"
    n_estimators: int = Field(100, ge=1)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    num_leaves: int = Field(15, ge=2)
    min_data_in_leaf: int = Field(200, ge=1)
    feature_fraction: float = Field(0.7, gt=0.0, le=1.0)
    lambda_l2: float = Field(1.0, ge=0.0)
    early_stopping_rounds: int = Field(0, ge=0)
    eval_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    llm: Literal["none", "local", "openai"] = "none"
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_candidates: int = Field(20, ge=1)
    llm_history: int = Field(10, ge=1)
    llm_train_users: int = Field(200, ge=2)
    llm_domain: str = "items"
    llm_timeout: float = Field(120.0, gt=0.0)
    num_threads: int = Field(0, ge=0)
    random_state: int = 0

    @field_validator("retrievers")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one retriever is needed")
        if len(set(v)) != len(v):
            raise ValueError(f"retrievers must be distinct, got {list(v)}")
        if "hybrid" in v:
            raise ValueError("a hybrid cannot be its own retriever")
        return v

    @field_validator("features")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "cf" not in v:
            raise ValueError("the 'cf' feature group is always needed")
        return tuple(g for g in FEATURE_GROUPS if g in v)


class _Local(threading.local):
    exclude_seen: bool = True


@register_model("hybrid")
class HybridRanker(Recommender[HybridConfig], ExplainsList):
    r"""A two-stage recommender: retrievers' candidates ordered by a LambdaRank ranker.

    See the module docstring for the training protocol and what :meth:`predict` returns.

    Parameters
    ----------
    retrievers
        Registered model names whose top ``n_candidates`` items form the candidates
        (default :data:`DEFAULT_RETRIEVERS`: ``ease``, ``ease-all`` (EASE on every rating,
        explicit data only), ``als`` (left out, with a warning, when the ``implicit`` package
        is missing), ``item-cf``, ``user-cf``, ``t-item-cf``, ``popularity``). A text retriever
        (``t-item-cf``, ``t-user-cf``) belongs to the ``"text"`` feature group and is used only
        with it.
    retriever_params
        Options per retriever, merged over :data:`DEFAULT_RETRIEVER_PARAMS` (the ranking
        settings of the neighbourhood models) and the model's own defaults; ``num_threads`` (1
        when it is 0) and ``random_state`` are passed on to retrievers that take them unless
        given here. A
        retriever's entry may name its registered model as ``"model"``, so that one model can
        serve twice under two labels (``retrievers=["ease", "ease-all"]``,
        ``retriever_params={"ease-all": {"model": "ease", "positive_threshold": None}}``);
        ``"explicit_only": true`` uses a retriever on explicit ratings only (EASE on every
        rating is EASE itself on implicit data).
    n_candidates
        ``M``, the list length asked from each retriever.
    features
        Feature groups: ``"cf"`` (always), ``"text"`` (text retrievers, profile cosines,
        category share) and ``"llm"`` (the language model's likelihood score; needs ``llm``).
    encoder
        Text encoder of the item embeddings (:func:`synerec.text.create_encoder` kind:
        ``"minilm"``, ``"model2vec"``, ``"openai"``, or ``"tfidf"``: TF-IDF projected on 128
        SVD components, no model needed), read through the embedding cache.
    validation, validation_fraction, validation_folds
        How the label part is chosen (``"auto"``: latest interactions when the data has
        timestamps, else random; the evaluation runner sets it to mirror the test split,
        :func:`synerec.evaluation.runner.hybrid_validation_for`, since a ranker that learned
        the latest interactions ranks a random test part poorly: ML-100K u1 NDCG@10 0.390
        against 0.485), its share of each user's interactions, and how many
        disjoint random label parts the ranker learns from (each with retrievers fitted on the
        rest; a temporal split has one). Three folds of 20 % give the ranker three times the
        examples: with the default retrievers, NDCG@10 on ML-100K u4 0.389 -> 0.397 and u5
        0.390 -> 0.397, u1..u3 within 0.002 (``docs/experiments.md``).
    relevance_threshold
        A label-part rating at or above it is a positive label (``"auto"``: 3/4 up the rating
        scale, 4 on 1-5; every interaction for implicit data; ``None``: every rating).
    graded_labels
        Label 2 for a relevant item and 1 for an item in the label part below the threshold
        (explicit data), instead of 1 / 0.
    max_train_users
        Train on at most this many (seeded random) users of the label part (``None``: all).
    objective
        ``"lambdarank"`` (default), ``"rank_xendcg"`` or ``"binary"`` (pointwise), LightGBM's.
    n_estimators, learning_rate, num_leaves, min_data_in_leaf, feature_fraction, lambda_l2
        LightGBM's settings (trees at most, shrinkage, leaves per tree, rows per leaf, share of
        features per tree, L2 on leaf values). The defaults (100 trees of 15 leaves, 200 rows
        per leaf, 70 % of the features per tree) were chosen once on the validation users of
        ML-100K u1 and UCI Online Retail: the held-out NDCG@10 peaks between 50 and 300 trees
        and the smaller, more regularised trees did better than 31 leaves of 50 rows.
    early_stopping_rounds, eval_fraction
        Stop adding trees when NDCG@10 of a seeded ``eval_fraction`` of the training users has
        not improved for this many rounds (0, the default: no early stopping, every training
        user trains the trees; with 15 % of the users held out, the noisy NDCG stopped after
        14-37 trees, below the plateau).
    llm, llm_model, llm_base_url
        The language model of the ``"llm"`` feature: ``"local"`` (a GGUF file, default Gemma
        3 270M) or ``"openai"`` (an OpenAI-compatible server with echoed prompt
        log-probabilities, e.g. llama-cpp-python's); ``"none"``: no LLM.
    llm_candidates, llm_history, llm_train_users, llm_domain, llm_timeout
        Items per user that get the LLM score (the first ranker's top), training items shown
        to the LLM (most recent first), users of the label part whose top items the second
        ranker learns from (a seeded sample: the LLM costs seconds per user), the plural noun
        of the prompt (``"movies"``, ``"products"``), seconds allowed per LLM call.
    num_threads
        Threads for LightGBM and the retrievers (0, the default: one each, and the LLM's own
        default). They run one after another; on the shared 2-core machine one LightGBM thread
        trained the u1 ranker 2.7 times faster than two, and ALS on all cores took from 3 to
        20 s for the same fit under load.
    random_state
        Seed of the validation split, LightGBM and the retrievers that take one.

    Attributes
    ----------
    retrievers_ : list of Recommender
        The retrievers, refitted on the whole training matrix.
    retriever_names_ : list of str
        Their names (text retrievers dropped when there is no item text).
    feature_groups_ : tuple of str
        The groups used (``"text"`` dropped when the items have no text).
    feature_names_ : list of str
        The ranker's features.
    ranker_ : LambdaRanker or None
        The learned ranker (``None``: reciprocal-rank fusion, see ``ranker_kind_``).
    ranker_kind_ : str
        ``"lambdarank"`` or ``"rrf"``.
    titles_ : list of str
        Item titles (the catalogue's, else the ids), for explanations.
    validation_ : dict
        What the ranker was trained on: split kind, users, pairs, positives, candidate recall.
    fit_seconds_ : dict
        Wall time of each fitting step.
    """

    sparse_scores: ClassVar[bool] = True

    #: Timestamps (recency features, the temporal validation split), the item text (text
    #: features and text retrievers) and the categories (category share).
    needs: ClassVar[frozenset[Need]] = frozenset({"timestamps", "item_text", "categories"})

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        cfg = self.config_
        lightgbm()  # fail early, with the install hint
        side = _side_data(data)
        self.__dict__.pop("_llm_feature", None)  # a new fit, new titles: a new LLM scorer
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        classes = {name: self._retriever_class(name) for name in cfg.retrievers}
        groups = list(cfg.features)
        if "llm" in groups and cfg.llm == "none":
            raise ConfigError("the 'llm' feature group needs an LLM: set llm='local' or "
                              "llm='openai'")
        self.item_side_ = self._item_side(side, X.shape[1], "text" in groups)
        titles = side.get("titles")
        self.titles_ = list(titles) if titles is not None else [
            str(self.items_.id(i)) for i in range(X.shape[1])]
        if "text" in groups and self.item_side_.embeddings is None:
            log.warning("hybrid: the items have no text; the text features and text "
                        "retrievers are left out")
            groups.remove("text")
        self.feature_groups_ = tuple(groups)
        names = [n for n in cfg.retrievers
                 if (_retriever_group(classes[n]) == "cf" or "text" in groups)
                 and not (self._retriever_entry(n).get("explicit_only")
                          and self.rating_scale_ is None)
                 and self._package_available(n)]
        if not names:
            raise ConfigError(f"no retriever left among {list(cfg.retrievers)} without text "
                              "features")
        self.retriever_names_ = names
        self.retriever_groups_ = [_retriever_group(classes[n]) for n in names]
        self.retriever_predicts_ = [self._predicts(classes[n]) for n in names]
        self.times_ = data.timestamps
        self.retriever_recents_ = [self._recents(classes[n]) for n in names]
        self.feature_names_ = self._stage_a_features() + (
            ["stage_a_score", "llm_score"] if "llm" in groups else [])
        timings["side"] = time.perf_counter() - t0

        # 1-3: the ranker, from retrievers fitted on the fit part(s)
        t0 = time.perf_counter()
        try:
            splits = split_validation_folds(X, self.times_, cfg.validation_fraction,
                                            cfg.validation, cfg.random_state,
                                            cfg.validation_folds)
        except ValueError as exc:
            raise ConfigError(f"hybrid: {exc}") from None
        self.ranker_: LambdaRanker | None = None
        self.ranker_llm_: LambdaRanker | None = None
        self.ranker_kind_ = "rrf"
        self.validation_ = {"split": splits[0].how, "fraction": cfg.validation_fraction,
                            "folds": len(splits)}
        tables = []
        for split in splits:
            t1 = time.perf_counter()
            retrievers = self._fit_retrievers(split.fit)
            timings["retrievers_fit_part"] = timings.get("retrievers_fit_part", 0.0) \
                + time.perf_counter() - t1
            t1 = time.perf_counter()
            table = self._training_table(retrievers, split)
            timings["training_features"] = timings.get("training_features", 0.0) \
                + time.perf_counter() - t1
            if table is not None:
                tables.append(table)
        if tables:
            F = np.concatenate([t[0] for t in tables])
            y = np.concatenate([t[1] for t in tables])
            sizes = np.concatenate([t[2] for t in tables])
            group_users = np.concatenate([t[3]["group_users"] for t in tables])
            infos = [t[3] for t in tables]
            positives = sum(i["positives"] for i in infos)
            self.validation_.update({
                "users": sum(i["users"] for i in infos), "pairs": len(y),
                "positives": positives,
                "candidate_recall": float(sum(i["candidate_recall"] * i["positives"]
                                              for i in infos) / max(1, positives)),
                "mean_candidates": float(len(y) / max(1, len(sizes)))})
            t1 = time.perf_counter()
            try:
                self.ranker_ = LambdaRanker.train(F, y, sizes, self._stage_a_features(),
                                                  self._ranker_params(), group_users)
                self.ranker_kind_ = "lambdarank"
            except ValueError as exc:
                log.warning("hybrid: no ranker trained (%s); ranking by reciprocal-rank "
                            "fusion", exc)
            timings["ranker"] = time.perf_counter() - t1
            if "llm" in groups and self.ranker_ is not None:
                t1 = time.perf_counter()
                self._train_llm_stage(tables)
                timings["llm_stage"] = time.perf_counter() - t1
        else:
            log.warning("hybrid: no user has a relevant held-out item; ranking by "
                        "reciprocal-rank fusion")
        # 4: refit the retrievers on the whole training matrix
        t0 = time.perf_counter()
        self.retrievers_ = self._fit_retrievers(X)
        self.stats_ = training_stats(X, self.times_, self.item_side_, self.rating_scale_)
        timings["retrievers_refit"] = time.perf_counter() - t0
        self.__dict__.pop("_recent_mask", None)  # built on a fit part
        self.fit_seconds_ = timings
        log.info("hybrid fitted: %s", {k: round(v, 3) for k, v in timings.items()})

    # -- parts of fit ---------------------------------------------------------------------------
    def _item_side(self, side: dict[str, Any], n_items: int, want_text: bool) -> ItemSide:
        from synerec.algorithms.text_knn import center_rows

        E = side.get("embeddings")
        if E is not None:
            if E.ndim != 2 or E.shape[0] != n_items or not np.isfinite(E).all():
                raise ConfigError(f"item_embeddings must be finite with shape ({n_items}, d), "
                                  f"got {E.shape}")
        elif want_text and side.get("dataset") is not None:
            from synerec.text import EncoderError

            try:
                E = _embed(side["dataset"], self.config_.encoder)
            except (EncoderError, ImportError) as exc:
                log.warning("hybrid: encoder %r is not available (%s); the text features are "
                            "left out", self.config_.encoder, exc)
                E = None
        if E is not None and not (np.abs(E).sum(axis=1) > 0).any():
            E = None
        embeddings = center_rows(E) if E is not None else None
        cats = side.get("categories")
        C, names = None, np.zeros(0, dtype=np.str_)
        if cats is not None and any(cats):
            vocab: dict[str, int] = {}
            indptr, indices = [0], []
            for cs in cats:
                for c in sorted(set(cs)):
                    indices.append(vocab.setdefault(c, len(vocab)))
                indptr.append(len(indices))
            C = sp.csr_matrix((np.ones(len(indices), np.float64), np.asarray(indices, np.int64),
                               np.asarray(indptr, np.int64)), shape=(n_items, len(vocab)))
            names = np.asarray(list(vocab), dtype=np.str_)
        return ItemSide.build(embeddings, C, names)

    def _retriever_model(self, label: str) -> str:
        """The registered model of a retriever label (``retriever_params[label]["model"]``,
        else the label itself)."""
        model = self._retriever_entry(label).get("model", label)
        if not isinstance(model, str) or model == "hybrid":
            raise ConfigError(f"hybrid: retriever {label!r} names an invalid model {model!r}")
        return model

    def _retriever_entry(self, label: str) -> dict[str, Any]:
        """The retriever's parameters: :data:`DEFAULT_RETRIEVER_PARAMS`, then the config's."""
        entry = dict(DEFAULT_RETRIEVER_PARAMS.get(label, {}))
        entry.update(self.config_.retriever_params.get(label, {}))
        return entry

    def _package_available(self, label: str) -> bool:
        """Whether a retriever's optional package is installed; a missing one leaves a default
        retriever out (logged), and fails the fit for a retriever the configuration names."""
        package = _NEEDS_PACKAGE.get(self._retriever_model(label))
        if package is None or importlib.util.find_spec(package) is not None:
            return True
        if label in DEFAULT_RETRIEVERS and tuple(self.config_.retrievers) == DEFAULT_RETRIEVERS:
            log.warning("hybrid: the default retriever %r needs the %s package, which is not "
                        "installed (pip install 'synerec[hybrid]'); it is left out", label,
                        package)
            return False
        return True  # the retriever's own fit says what to install

    def _retriever_class(self, label: str) -> type[Recommender]:
        return get_model_class(self._retriever_model(label))

    def _retriever_config(self, name: str) -> dict[str, Any]:
        cfg = self.config_
        model_name = self._retriever_model(name)
        params = {k: v for k, v in self._retriever_entry(name).items() if k not in _META}
        accepted = set(get_model_class(model_name)._param_names())
        if "num_threads" in accepted and "num_threads" not in cfg.retriever_params.get(name, {}):
            params["num_threads"] = cfg.num_threads or 1
        if "random_state" in accepted and "random_state" not in params:
            params["random_state"] = cfg.random_state
        if "encoder" in accepted and "encoder" not in cfg.retriever_params.get(name, {}):
            params["encoder"] = cfg.encoder
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ConfigError(f"hybrid: retriever {name!r} has no option {unknown[0]!r} "
                              f"(options: {', '.join(sorted(accepted))})")
        return params

    def _fit_retrievers(self, X: sp.csr_matrix) -> list[Recommender]:
        out = []
        E = self.item_side_.embeddings
        part = TrainingData.of(X, rating_scale=self.rating_scale_,
                               item_embeddings=E if E is not None else
                               np.zeros((X.shape[1], 1), np.float32))
        for name in self.retriever_names_:
            model = create_model(self._retriever_model(name), **self._retriever_config(name))
            t0 = time.perf_counter()
            out.append(model.fit(part))
            log.info("hybrid: fitted retriever %s in %.2f s", name, time.perf_counter() - t0)
        return out

    def _ranker_params(self) -> RankerParams:
        c = self.config_
        return RankerParams(objective=c.objective, n_estimators=c.n_estimators,
                            learning_rate=c.learning_rate,
                            num_leaves=c.num_leaves, min_data_in_leaf=c.min_data_in_leaf,
                            feature_fraction=c.feature_fraction, lambda_l2=c.lambda_l2,
                            early_stopping_rounds=c.early_stopping_rounds,
                            eval_fraction=c.eval_fraction, num_threads=self._ranker_threads(),
                            random_state=c.random_state)

    def _ranker_threads(self) -> int:
        """LightGBM's threads: ``num_threads``, or one when it is 0 (on a shared 2-core machine
        one thread trained the u1 ranker 2.7 times faster than two: 36 s against 96 s at load
        average 5)."""
        return self.config_.num_threads or 1

    def _stage_a_groups(self) -> list[str]:
        return [g for g in self.feature_groups_ if g != "llm"]

    def _stage_a_features(self) -> list[str]:
        return feature_names(self.retriever_names_, self.retriever_groups_,
                             self._stage_a_groups(), self.retriever_predicts_,
                             self.retriever_recents_)

    def _predicts(self, cls: type) -> bool:
        """Whether a retriever adds its predicted rating as a feature (explicit data only)."""
        from synerec.algorithms.popularity import Popularity

        return (self.rating_scale_ is not None and getattr(cls, "predicts_ratings", True)
                and not issubclass(cls, Popularity))  # its prediction is item_mean

    def _recents(self, cls: type) -> bool:
        """Whether a retriever adds its score from the user's latest items (item-item weights
        and timestamps needed)."""
        from synerec.algorithms.ease import EASE

        return self.times_ is not None and issubclass(cls, EASE)

    def _recent(self, retrievers: list[Recommender], cands: CandidateSet, X: sp.csr_matrix,
                T: sp.csr_matrix | None) -> list[np.ndarray | None]:
        """Each retriever's ``:recent`` column (``None``: none), from the latest items of ``X``
        by its timestamps ``T``."""
        if not any(self.retriever_recents_):
            return [None] * len(retrievers)
        if T is None:
            raise ValueError("the :recent features need timestamps")
        cached = self.__dict__.get("_recent_mask")
        if cached is not None and cached[0] is X:
            mask = cached[1]
        else:
            mask = recent_item_mask(X, T)
            self.__dict__["_recent_mask"] = (X, mask)
        return [recent_item_scores(model.positives_, model.weights_, mask, cands)  # type: ignore[attr-defined]
                if flag else None
                for model, flag in zip(retrievers, self.retriever_recents_, strict=True)]

    def _predictions(self, retrievers: list[Recommender], cands: CandidateSet) -> np.ndarray:
        """``(n_pairs, n_retrievers)`` predicted ratings (``NaN`` columns: none)."""
        out = np.full((cands.n_pairs, len(retrievers)), np.nan, dtype=np.float32)
        users = cands.pair_users
        known = users >= 0
        for j, (model, flag) in enumerate(zip(retrievers, self.retriever_predicts_,
                                              strict=True)):
            if flag and known.any():
                out[known, j] = model.predict_indices(users[known], cands.items[known])
        return out

    def _threshold(self) -> float | None:
        t = self.config_.relevance_threshold
        if self.rating_scale_ is None:
            return None if t == "auto" else (None if t is None else float(t))
        if t == "auto":
            low, high = self.rating_scale_
            return low + 0.75 * (high - low)
        return None if t is None else float(t)

    def _training_table(self, retrievers: list[Recommender], split: Any
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]] | None:
        """Features, labels and group sizes of the label part's users (steps 2 and 3)."""
        cfg = self.config_
        L = split.label
        thr = self._threshold()
        pos = L.copy()
        if thr is not None:
            pos.data = (pos.data >= thr).astype(np.float32)
            pos.eliminate_zeros()
        users = np.flatnonzero((np.diff(pos.indptr) > 0) & (np.diff(split.fit.indptr) > 0))
        if len(users) == 0:
            return None
        if cfg.max_train_users is not None and len(users) > cfg.max_train_users:
            rng = np.random.default_rng(cfg.random_state)
            users = np.sort(rng.choice(users, cfg.max_train_users, replace=False))
        cands = generate_candidates(retrievers, users, cfg.n_candidates)
        stats = training_stats(split.fit, split.fit_times, self.item_side_, self.rating_scale_)
        F = build_features(cands, stats, self.item_side_, split.fit, self.retriever_names_,
                           self.retriever_groups_, self._stage_a_groups(),
                           predictions=self._predictions(retrievers, cands),
                           recent=self._recent(retrievers, cands, split.fit, split.fit_times))
        y = _labels(cands, L, thr, cfg.graded_labels)
        n_rel = np.diff(pos.indptr)[users]
        hits = np.bincount(cands.rows, weights=(y >= (2 if cfg.graded_labels else 1)),
                           minlength=len(users))
        info = {"users": len(users), "pairs": int(cands.n_pairs),
                "positives": int(n_rel.sum()),
                "candidate_recall": float(hits.sum() / max(1, n_rel.sum())),
                "mean_candidates": float(cands.n_pairs / len(users))}
        log.info("hybrid: training table %s", info)
        info["group_users"] = users
        info["items"] = cands.items
        info["fit"] = split.fit
        info["fit_times"] = split.fit_times
        return F, y, np.diff(cands.indptr), info

    # -- the LLM stage -----------------------------------------------------------------------
    def _stage_b_features(self) -> list[str]:
        return [*self._stage_a_features(), "stage_a_score", "llm_score"]

    def _llm(self) -> LikelihoodFeature:
        """The LLM feature's scorer (client created on first use, kept)."""
        feature = self.__dict__.get("_llm_feature")
        if feature is None:
            from synerec.llm.prompts import clean_title

            c = self.config_
            client = make_llm(c.llm, c.llm_model, c.llm_base_url, seed=c.random_state,
                              n_threads=c.num_threads or None, timeout=c.llm_timeout)
            feature = LikelihoodFeature(client, [clean_title(t, 80) for t in self.titles_],
                                        c.llm_domain, c.llm_history)
            self.__dict__["_llm_feature"] = feature
        return feature

    def _top_rows(self, indptr: np.ndarray, scores: np.ndarray, groups: np.ndarray
                  ) -> list[np.ndarray]:
        """Row numbers of the ``llm_candidates`` best first-stage scores of each group."""
        out = []
        L = self.config_.llm_candidates
        for g in groups:
            lo, hi = int(indptr[g]), int(indptr[g + 1])
            order = np.argsort(-scores[lo:hi], kind="stable")[:L]
            out.append(lo + order)
        return out

    def _train_llm_stage(self, tables: list[Any]) -> None:
        """Second ranker: the first ranker's top items of sampled users, plus the LLM score."""
        cfg = self.config_
        feature = self._llm()
        rng = np.random.default_rng(cfg.random_state + 7)
        rows_f, rows_y, sizes, owners = [], [], [], []
        jobs = []
        for F, y, gs, info in tables:
            indptr = np.concatenate([[0], np.cumsum(gs)])
            s_a = self.ranker_.predict(F)  # type: ignore[union-attr]
            pos = np.add.reduceat(y > 0, indptr[:-1]) > 0 if len(gs) else np.zeros(0, bool)
            for g in np.flatnonzero(pos & (gs > 0)):
                jobs.append((F, y, s_a, indptr, info, int(g)))
        if not jobs:
            return
        take = np.sort(rng.permutation(len(jobs))[:cfg.llm_train_users])
        for k in take:
            F, y, s_a, indptr, info, g = jobs[k]
            top = self._top_rows(indptr, s_a, np.array([g]))[0]
            user = int(info["group_users"][g])
            llm = feature.score_user(info["fit"], info["fit_times"], user, info["items"][top])
            rows_f.append(np.column_stack([F[top], s_a[top], llm]).astype(np.float32))
            rows_y.append(y[top])
            sizes.append(len(top))
            owners.append(user)
        self.llm_fit_stats_ = feature.summary()
        log.info("hybrid: LLM feature of %d training users: %s", len(sizes),
                 self.llm_fit_stats_)
        try:
            self.ranker_llm_ = LambdaRanker.train(
                np.concatenate(rows_f), np.concatenate(rows_y), np.asarray(sizes),
                self._stage_b_features(), self._ranker_params(), np.asarray(owners))
        except ValueError as exc:
            log.warning("hybrid: no LLM ranker trained (%s)", exc)

    def _llm_rescore(self, cands: CandidateSet, F: np.ndarray, s_a: np.ndarray) -> np.ndarray:
        """The first ranker's top items of each user reordered by the second ranker (on top of
        the others, whose first-stage order is kept)."""
        feature = self._llm()
        groups = np.flatnonzero(np.diff(cands.indptr) > 0)
        tops = self._top_rows(cands.indptr, s_a, groups)
        llm = [feature.score_user(self.train_, self.times_, int(cands.users[g]),
                                  cands.items[top]) for g, top in zip(groups, tops, strict=True)]
        if not tops:
            return s_a
        rows = np.concatenate(tops)
        FB = np.column_stack([F[rows], s_a[rows], np.concatenate(llm)]).astype(np.float32)
        s_b = self.ranker_llm_.predict(FB)  # type: ignore[union-attr]
        out = s_a.copy()
        start = 0
        for g, top in zip(groups, tops, strict=True):
            lo, hi = cands.indptr[g], cands.indptr[g + 1]
            block = s_b[start:start + len(top)]
            start += len(top)
            out[top] = block - block.min() + s_a[lo:hi].max() + 1.0
        return out

    @property
    def llm_seconds_per_user_(self) -> dict[str, Any]:
        """The LLM feature's cost: users scored and seconds per user since the client was made
        (fit and recommendations), and at fit (``fit``)."""
        feature = self.__dict__.get("_llm_feature")
        out: dict[str, Any] = {"fit": self.__dict__.get("llm_fit_stats_")}
        if feature is not None:
            out.update(feature.summary())
        return out

    # -- scoring ------------------------------------------------------------------------------
    _local: ClassVar[_Local] = _Local()
    #: Whether recommendations call the LLM stage (``"llm"`` feature group). The service turns
    #: it off once the known users' lists are precomputed, so that no request waits for an
    #: LLM unless asked.
    llm_enabled: bool = True

    def _recommend_sparse(self, u: np.ndarray, n: int, exclude_seen: bool,
                          mask: np.ndarray | None, popularity: np.ndarray, batch_size: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        # The retrievers must know whether seen items are wanted: with exclude_seen they fill
        # their top M with unseen items only.
        self._local.exclude_seen = exclude_seen
        try:
            return super()._recommend_sparse(u, n, exclude_seen, mask, popularity, batch_size)
        finally:
            self._local.exclude_seen = True

    def candidates(self, users: np.ndarray, *, exclude_seen: bool = True,
                   extra: tuple[np.ndarray, np.ndarray] | None = None) -> CandidateSet:
        """The candidate pairs of user indices (stage 1), from the refitted retrievers."""
        self._check_fitted()
        return generate_candidates(self.retrievers_, np.asarray(users, dtype=np.int64),
                                   self.config_.n_candidates, exclude_seen=exclude_seen,
                                   extra=extra)

    def feature_matrix(self, cands: CandidateSet) -> np.ndarray:
        """The stage-A feature matrix of candidate pairs (columns: ``_stage_a_features()``)."""
        return build_features(cands, self.stats_, self.item_side_, self.train_,
                              self.retriever_names_, self.retriever_groups_,
                              self._stage_a_groups(),
                              predictions=self._predictions(self.retrievers_, cands),
                              recent=self._recent(self.retrievers_, cands, self.train_,
                                                  self.times_))

    def rank_scores(self, cands: CandidateSet, *, llm: bool | None = None) -> np.ndarray:
        """float64 score of every candidate pair (the ranker's, or the fusion fallback).

        ``llm`` (default :attr:`llm_enabled`) runs the LLM stage when the model has one.
        """
        if self.ranker_ is None:
            return _rrf(cands)
        F = self.feature_matrix(cands)
        s_a = self.ranker_.predict(F)
        use_llm = self.llm_enabled if llm is None else llm
        if use_llm and self.ranker_llm_ is not None:
            return self._llm_rescore(cands, F, s_a)
        return s_a

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        cands = self.candidates(users, exclude_seen=self._local.exclude_seen)
        s = self.rank_scores(cands).astype(np.float32)
        return sp.csr_matrix((s, cands.items, cands.indptr), shape=(len(users), self.n_items_))

    def _score(self, users: np.ndarray) -> np.ndarray:
        S = self._score_sparse(users)
        out = np.full(S.shape, np.nan, dtype=np.float32)
        out[np.repeat(np.arange(S.shape[0]), np.diff(S.indptr)), S.indices] = S.data
        return out

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        uniq, row = np.unique(users, return_inverse=True)
        cands = self.candidates(uniq, extra=(row, items))
        scores = self.rank_scores(cands)
        from synerec.hybrid.candidates import lookup_pairs

        pos = lookup_pairs(cands, row, items, self.n_items_)
        zeros = np.zeros(len(users), dtype=np.int32)
        return scores[pos].astype(np.float64), zeros, zeros.astype(np.int8)

    def explain_list(self, user: int, items: Any) -> list[Any]:
        """The hybrid's own explanation (:class:`~synerec.hybrid.explain.HybridExplanation`:
        sentence, signals, cited item indices) of each item index of ``items`` for the user
        index ``user``, in one pass over the user's candidates.

        The hook that the service, the console, ``synerec demo`` and the coherence measure use
        for a model that explains itself.
        """
        from synerec.hybrid.explain import explain_pairs

        return explain_pairs(self, user, items)

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        if user < 0 or item < 0 or self.user_count_[user] == 0:
            return {"ranker": self.ranker_kind_}
        from synerec.hybrid.explain import explain_pair

        return explain_pair(self, user, item).as_details()

    # -- persistence ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        side = self.item_side_
        out: dict[str, np.ndarray] = {
            "retriever_names": np.asarray(self.retriever_names_, dtype=np.str_),
            "feature_groups": np.asarray(self.feature_groups_, dtype=np.str_),
            "embeddings": (side.embeddings if side.embeddings is not None
                           else np.zeros((0, 0), np.float32)).astype(np.float32),
            "category_indptr": (side.categories.indptr if side.categories is not None
                                else np.zeros(0)).astype(np.int64),
            "category_indices": (side.categories.indices if side.categories is not None
                                 else np.zeros(0)).astype(np.int64),
            "category_names": side.category_names.astype(np.str_),
            "times": (self.times_.data if self.times_ is not None
                      else np.zeros(0)).astype(np.float64),
            "has_times": np.asarray(self.times_ is not None),
            "titles": np.asarray(self.titles_, dtype=np.str_),
            "validation": np.asarray([f"{k}={v}" for k, v in self.validation_.items()],
                                     dtype=np.str_),
        }
        for j, model in enumerate(self.retrievers_):
            for key, value in model._arrays().items():
                out[f"r{j}.{key}"] = np.asarray(value)
        return out

    def _files(self) -> dict[str, bytes | str]:
        files: dict[str, bytes | str] = {}
        if self.ranker_ is not None:
            files["ranker.txt"] = self.ranker_.to_text()
        if self.ranker_llm_ is not None:
            files["ranker_llm.txt"] = self.ranker_llm_.to_text()
        return files

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        X = self.train_
        n_users, n_items = X.shape
        names = [str(x) for x in arrays["retriever_names"]]
        classes = {n: self._retriever_class(n) for n in names}
        self.retriever_names_ = names
        self.retriever_groups_ = [_retriever_group(classes[n]) for n in names]
        self.retriever_predicts_ = [self._predicts(classes[n]) for n in names]
        self.feature_groups_ = tuple(str(x) for x in arrays["feature_groups"])
        E = arrays["embeddings"]
        embeddings = None if E.size == 0 else E.astype(np.float32)
        if embeddings is not None and embeddings.shape[0] != n_items:
            raise ValueError("the stored embeddings do not match the item vocabulary")
        C = None
        indptr = arrays["category_indptr"]
        cat_names = arrays["category_names"].astype(np.str_)
        if len(indptr):
            idx = arrays["category_indices"]
            C = sp.csr_matrix((np.ones(len(idx)), idx, indptr), shape=(n_items, len(cat_names)))
            C.check_format(full_check=True)
        self.item_side_ = ItemSide.build(embeddings, C, cat_names)
        self.times_ = None
        if bool(arrays["has_times"]):
            t = arrays["times"]
            if t.shape != (X.nnz,):
                raise ValueError("the stored timestamps do not match the training matrix")
            self.times_ = sp.csr_matrix((t, X.indices, X.indptr), shape=X.shape)
        self.retriever_recents_ = [self._recents(classes[n]) for n in names]
        self.feature_names_ = self._stage_a_features() + (
            ["stage_a_score", "llm_score"] if "llm" in self.feature_groups_ else [])
        titles = arrays["titles"]
        if titles.shape != (n_items,):
            raise ValueError("the stored titles do not match the item vocabulary")
        self.titles_ = [str(t) for t in titles]
        self.validation_ = {}
        for entry in arrays["validation"]:
            k, _, v = str(entry).partition("=")
            self.validation_[k] = v
        users = Vocabulary(np.arange(n_users, dtype=np.int64), kind="user")
        items = Vocabulary(np.arange(n_items, dtype=np.int64), kind="item")
        self.retrievers_ = []
        for j, name in enumerate(names):
            model = create_model(self._retriever_model(name), **self._retriever_config(name))
            model.config_ = model.get_config()
            model._set_training_state(X, users, items, self.rating_scale_)
            prefix = f"r{j}."
            model._load_arrays({k[len(prefix):]: v for k, v in arrays.items()
                                if k.startswith(prefix)})
            self.retrievers_.append(model)
        self.stats_ = training_stats(X, self.times_, self.item_side_, self.rating_scale_)
        self.ranker_ = None
        self.ranker_llm_ = None
        self.ranker_kind_ = "rrf"
        self.fit_seconds_ = {}

    def _load_files(self, files: dict[str, bytes]) -> None:
        unknown = sorted(set(files) - {"ranker.txt", "ranker_llm.txt"})
        if unknown:
            raise ValueError(f"unexpected files in a hybrid model: {unknown}")
        threads = self._ranker_threads()
        if "ranker.txt" in files:
            self.ranker_ = LambdaRanker.from_text(files["ranker.txt"].decode("utf-8"),
                                                  self._stage_a_features(), threads)
            self.ranker_kind_ = "lambdarank"
        if "ranker_llm.txt" in files:
            if "llm" not in self.feature_groups_:
                raise ValueError("ranker_llm.txt needs the llm feature group")
            self.ranker_llm_ = LambdaRanker.from_text(files["ranker_llm.txt"].decode("utf-8"),
                                                      self._stage_b_features(), threads)


def _retriever_group(cls: type) -> str:
    from synerec.algorithms.text_knn import _TextMixin

    return "text" if issubclass(cls, _TextMixin) else "cf"


def _side_data(data: TrainingData) -> dict[str, Any]:
    """The side data the hybrid reads from its training data (embeddings given by the caller,
    the data set for text, categories and titles)."""
    side: dict[str, Any] = {"embeddings": data.item_embeddings, "categories": None,
                            "titles": None, "dataset": data.dataset}
    if data.dataset is not None:
        from synerec.llm.reranker import item_titles

        side["categories"] = data.item_categories()
        side["titles"] = item_titles(data.dataset, max_chars=120)
    return side


def _labels(cands: CandidateSet, L: sp.csr_matrix, thr: float | None,
            graded: bool) -> np.ndarray:
    """Label of each candidate: in the label part (and relevant), graded when asked."""
    from synerec.hybrid.candidates import lookup_pairs

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


def _rrf(cands: CandidateSet) -> np.ndarray:
    r = cands.ranks.astype(np.float64)
    return np.where(np.isfinite(r), 1.0 / (RRF_K + r), 0.0).sum(axis=1)


def _embed(data: InteractionDataset, encoder: str) -> np.ndarray | None:
    """Item embeddings of ``data``'s catalogue through the cache; ``None`` without any text."""
    from synerec.text import EmbeddingCache, TfidfEncoder, cached_encode, create_encoder, item_texts

    texts = item_texts(data)
    if not any(t.strip() for t in texts):
        return None
    if encoder == "tfidf":  # 128 SVD components when the vocabulary and catalogue allow
        enc = TfidfEncoder().fit(texts)
        k = min(128, enc.dimension - 1, len(texts) - 1)
        if enc.dimension > 128 and k >= 16:
            enc = TfidfEncoder(n_components=k, random_state=0).fit(texts)
    else:
        enc = create_encoder(encoder)
    E = cached_encode(enc, texts, cache=EmbeddingCache())
    E[np.array([not t.strip() for t in texts])] = 0.0
    return E
