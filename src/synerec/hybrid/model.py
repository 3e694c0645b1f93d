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

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from synerec._progress import progress
from synerec.algorithms.abilities import ExplainsList, ScoresProfile
from synerec.algorithms.base import Recommender
from synerec.algorithms.registry import register_model
from synerec.algorithms.training import Need, TrainingData
from synerec.exceptions import ConfigError
from synerec.hybrid.candidates import (
    CandidateSet,
    generate_candidates,
    lookup_pairs,
    place_new_items,
    reciprocal_rank_fusion,
)
from synerec.hybrid.config import DEFAULT_RETRIEVERS, HybridConfig
from synerec.hybrid.explain import HybridExplanation, explain_pair, explain_pairs, explain_texts
from synerec.hybrid.features import (
    Column,
    FeatureInputs,
    Group,
    Stage,
    build_features,
    feature_columns,
)
from synerec.hybrid.llm_stage import LLMStage
from synerec.hybrid.persistence import (
    StoredHybrid,
    hybrid_arrays,
    ranker_files,
    read_arrays,
    read_ranker_files,
)
from synerec.hybrid.plan import FitPlan, plan_for
from synerec.hybrid.ranker import LambdaRanker, RankerParams, lightgbm
from synerec.hybrid.retrievers import (
    DEFAULT_RETRIEVER_PARAMS,
    RetrieverSpec,
    choose_retrievers,
    fit_retrievers,
    load_retrievers,
    retriever_group,
    retriever_model,
    retriever_spec,
)
from synerec.hybrid.split import ValidationSplit, split_validation_folds
from synerec.hybrid.stats import (
    RecentItems,
    TrainingStats,
    item_side,
    item_titles,
    stats_arrays,
    stored_stats,
    training_stats,
)
from synerec.hybrid.text_map import TEXT_MAP_MODELS, TextMap
from synerec.hybrid.training_table import (
    TrainingTable,
    relevance_threshold,
    stack_tables,
    training_table,
)

__all__ = ["DEFAULT_RETRIEVERS", "DEFAULT_RETRIEVER_PARAMS", "HybridConfig", "HybridRanker"]

log = logging.getLogger(__name__)


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
        (default :data:`~synerec.hybrid.config.DEFAULT_RETRIEVERS`: ``ease``, ``ease-all``
        (EASE on every rating, explicit data only), ``als`` (left out, with a warning, when
        the ``implicit`` package is missing), ``item-cf``, ``user-cf``, ``t-item-cf``,
        ``text-knn``, ``popularity``). A text retriever
        (``t-item-cf``, ``t-user-cf``, ``text-knn``, ``text-knn-tuned``) belongs to the
        ``"text"`` feature group and is used only with it. A retriever of new items
        (:data:`~synerec.hybrid.retrievers.NEW_ITEM_MODELS`: ``text-knn``, ``text-knn-tuned``)
        brings products nobody has bought yet into the candidates; the hybrid then ranks them
        (``scores_cold_items``), adds the evidence columns (``item_interactions``,
        ``item_new``, ``item_first_seen_days``) and two text columns
        (``text_neighbor_popularity``, ``text_cf_score``), and its ranker learns only from
        products on sale during the training data (``docs/experiments.md``, "New products in
        the hybrid"). In the hybrid every text retriever ranks with the hybrid's ``encoder``
        embeddings (a fine-tuned encoder for all of them: ``encoder_path``). ``sasrec``, the
        sequence model (not a default: ``docs/experiments.md``, "SASRec in the hybrid"),
        reads each part's items in time order: it is left out, with a warning, on data
        without timestamps, and its evidence is the user's latest items ("it comes next
        after you bought X and Y").
    retriever_params
        Options per retriever, merged over
        :data:`~synerec.hybrid.retrievers.DEFAULT_RETRIEVER_PARAMS` (the ranking
        settings of the neighbourhood models) and the model's own defaults; ``num_threads`` (1
        when it is 0) and ``random_state`` are passed on to retrievers that take them unless
        given here. A
        retriever's entry may name its registered model as ``"model"``, so that one model can
        serve twice under two labels (``retrievers=["ease", "ease-all"]``,
        ``retriever_params={"ease-all": {"model": "ease", "positive_threshold": None}}``);
        ``"explicit_only": true`` uses a retriever on explicit ratings only (EASE on every
        rating is EASE itself on implicit data); ``"new_only": true`` makes a retriever of new
        items a "new arrivals" shelf that proposes only items without training interactions
        (measured worse than ``text-knn`` alone on UCI's validation cut, so not a default).
    n_candidates
        ``M``, the list length asked from each retriever.
    new_item_slot
        With a retriever of new items: the rank (1-based) up to which each list raises its
        best-ranked new product when the ranker put it lower (0: the ranker's order;
        ``"auto"``, the default: 20 with ``validation="global-temporal"``, the protocol of new
        products, else 0). A shop's "new arrival" place: the ranker learns how often new
        products sell from its validation window, and when that window's season sold few
        (UCI before 2011-09-01: 2.8 % of the window's pairs against 10.3 % after the cut) it
        ranks almost none into the top 20; the slot keeps one in view, chosen by the ranker
        among the new products (:func:`~synerec.hybrid.candidates.place_new_items`, lists
        only: scores and explanations are the ranker's).
    features
        Feature groups: ``"cf"`` (always), ``"text"`` (text retrievers, profile cosines,
        category share) and ``"llm"`` (the language model's likelihood score; needs ``llm``).
    encoder
        Text encoder of the item embeddings (:func:`synerec.text.create_encoder` kind:
        ``"minilm"``, ``"model2vec"``, ``"openai"``, or ``"tfidf"``: TF-IDF projected on 128
        SVD components, no model needed), read through the embedding cache.
    encoder_path
        A fine-tuned encoder folder (``synerec encoder fit``,
        :func:`synerec.text.finetune.finetune_encoder`, fitted on the training data only) whose
        embeddings replace ``encoder``'s for every text feature and text retriever: the
        hybrid's way to use ``text-knn-tuned``'s encoder (a text retriever in the hybrid ranks
        with the hybrid's embeddings, so ``text-knn-tuned`` there does not fine-tune).
    validation, validation_fraction, validation_folds
        How the label part is chosen (``"global-temporal"``: every interaction after one cut
        in time, the latest ``validation_fraction`` of all, so that it holds new products as a
        global temporal test does: on UCI's validation cut the hybrid's NDCG@10 0.137 against
        0.123 with ``"temporal"``, and new products ranked at all; ``"auto"``: latest
        interactions when the data has timestamps, else random; the evaluation runner sets it
        to mirror the test split,
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
        Train on at most this many (seeded random) users of each validation part's label part
        (``None``: all; ``"auto"``, the default: :data:`~synerec.hybrid.config.
        AUTO_TRAIN_USERS`, 10,000, which leaves ML-100K and UCI Online Retail whole and bounds
        the training table of a large shop; ``docs/scaling.md``).
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
    retriever_specs_ : list of RetrieverSpec
        Each retriever's label, model, options and group
        (:class:`~synerec.hybrid.retrievers.RetrieverSpec`).
    feature_columns_ : list of Column
        The columns of the feature matrix, derived from the feature table
        (:func:`synerec.hybrid.features.feature_columns`): the first ranker reads those of
        stage ``"a"``, the LLM stage all.
    feature_names_ : list of str
        Their names.
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

    @property
    def scores_cold_items(self) -> bool:  # type: ignore[override]  # a ClassVar in the base
        """Items without training interactions are ranked when a retriever brings them
        (:data:`~synerec.hybrid.retrievers.NEW_ITEM_MODELS`, fitted to score them)."""
        retrievers = self.__dict__.get("retrievers_")
        if not self.is_fitted or retrievers is None:
            return False
        return any(spec.new_items and r.scores_cold_items
                   for spec, r in zip(self.retriever_specs_, retrievers, strict=True))

    #: Timestamps (recency features, the temporal validation split), the item text (text
    #: features and text retrievers) and the categories (category share).
    needs: ClassVar[frozenset[Need]] = frozenset({"timestamps", "item_text", "categories"})
    #: Its predictions are the ranker's scores, not ratings (no MAE / RMSE for it).
    predicts_ratings: ClassVar[bool] = False

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        lightgbm()  # fail early, with the install hint
        self.__dict__.pop("_llm_stage", None)  # a new fit, new titles: a new LLM scorer
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self._prepare(data)
        timings["side"] = time.perf_counter() - t0
        self._train_rankers(X, timings)
        progress.info("hybrid: refitting %d retrievers on all %d interactions",
                      len(self.retriever_specs_), X.nnz)
        t0 = time.perf_counter()
        self.retrievers_ = self._fit_retrievers(X, self.times_)
        self.stats_ = training_stats(X, self.times_, self.item_side_, self.rating_scale_)
        timings["retrievers_refit"] = time.perf_counter() - t0
        self.__dict__.pop("_recent_cache", None)  # built on a fit part
        self.fit_seconds_ = timings
        log.info("hybrid fitted: %s", {k: round(v, 3) for k, v in timings.items()})
        progress.info("hybrid: fitted in %.1f s (%s)", sum(timings.values()),
                      ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

    def _prepare(self, data: TrainingData) -> None:
        """The side data, the feature groups, the retrievers and the feature columns."""
        cfg = self.config_
        for label in cfg.retrievers:  # an unknown model fails before any work
            retriever_group(retriever_model(cfg, label))
        groups = list(cfg.features)
        if "llm" in groups and cfg.llm == "none":
            raise ConfigError("the 'llm' feature group needs an LLM: set llm='local' or "
                              "llm='openai'")
        self._plan(data, groups)
        cfg = self.config_
        self.item_side_ = item_side(data, cfg.encoder, "text" in groups, cfg.encoder_path)
        self.titles_ = item_titles(data)
        if "text" in groups and self.item_side_.embeddings is None:
            log.warning("hybrid: the items have no text; the text features and text "
                        "retrievers are left out")
            groups.remove("text")
        self.feature_groups_ = tuple(groups)
        self.times_ = data.timestamps
        specs = choose_retrievers(cfg, text="text" in groups,
                                  explicit=self.rating_scale_ is not None,
                                  timed=self.times_ is not None)
        self._set_retrievers(specs)

    def plan(self, data: Any, *, rating_scale: tuple[float, float] | None = None) -> FitPlan:
        """What fitting on ``data`` (as :meth:`fit` takes it) would cost, and the switches its
        size needs; nothing is fitted (``synerec fit --estimate``)."""
        training = TrainingData.of(data, rating_scale=rating_scale)
        return plan_for(self.get_config(), training, training.rating_scale,
                        list(self.get_config().features))

    def _plan(self, data: TrainingData, groups: list[Group]) -> None:
        """Announce the :meth:`plan`, make its switches (in ``config_``: the saved model
        records them), refuse it before any large allocation when it passes the memory."""
        cfg = self.config_
        plan = plan_for(cfg, data, self.rating_scale_, groups)
        for line in plan.lines():
            progress.info(line)
        for line in plan.switches:
            log.warning(line)
        plan.check()
        if plan.switches:
            self.config_ = cfg.model_copy(update={
                "retriever_params": plan.retriever_params,
                "retrievers": tuple(r for r in cfg.retrievers if r not in plan.left_out)})

    def _set_retrievers(self, specs: list[RetrieverSpec]) -> None:
        """The retrievers' specs and the feature columns they give (with the feature groups,
        the rating scale and the timestamps already set)."""
        self.retriever_specs_ = specs
        self.retriever_names_ = [s.label for s in specs]
        has_times = self.times_ is not None
        self.feature_columns_ = feature_columns(
            [s.columns(self.rating_scale_, has_times) for s in specs], self.feature_groups_)
        self.feature_names_ = [c.name for c in self.feature_columns_]

    def _train_rankers(self, X: sp.csr_matrix, timings: dict[str, float]) -> None:
        """Steps 1-3: the ranker (and the LLM stage's), from retrievers fitted on the fit
        part of each validation split."""
        cfg = self.config_
        try:
            splits = split_validation_folds(X, self.times_, cfg.validation_fraction,
                                            cfg.validation, cfg.random_state,
                                            cfg.validation_folds)
        except ValueError as exc:
            raise ConfigError(f"hybrid: {exc}") from None
        self.ranker_: LambdaRanker | None = None
        self.ranker_llm_: LambdaRanker | None = None
        self.llm_fit_stats_: dict[str, Any] | None = None
        self.ranker_kind_ = "rrf"
        self.validation_: dict[str, Any] = {"split": splits[0].how,
                                            "fraction": cfg.validation_fraction,
                                            "folds": len(splits)}
        tables = []
        for k, split in enumerate(splits, 1):
            progress.info("hybrid: validation part %d/%d (%s): fitting %d retrievers on %d "
                          "interactions", k, len(splits), split.how,
                          len(self.retriever_specs_), split.fit.nnz)
            table = self._split_table(split, timings)
            if table is not None:
                tables.append(table)
                progress.info("hybrid: validation part %d/%d: training table of %d pairs "
                              "(%d users)", k, len(splits), len(table.labels),
                              len(table.sizes))
        if not tables:
            log.warning("hybrid: no user has a relevant held-out item; ranking by "
                        "reciprocal-rank fusion")
            return
        F, y, sizes, group_users, summary = stack_tables(tables)
        self.validation_.update(summary)
        t1 = time.perf_counter()
        try:
            self.ranker_ = LambdaRanker.train(F, y, sizes, self._names("a"),
                                              self._ranker_params(), group_users)
            self.ranker_kind_ = "lambdarank"
        except ValueError as exc:
            log.warning("hybrid: no ranker trained (%s); ranking by reciprocal-rank "
                        "fusion", exc)
        timings["ranker"] = time.perf_counter() - t1
        if self.ranker_ is not None:
            progress.info("hybrid: LambdaRank ranker trained on %d pairs in %.1f s (%d trees)",
                          len(y), timings["ranker"], self.ranker_.best_iteration)
        if "llm" in self.feature_groups_ and self.ranker_ is not None:
            t1 = time.perf_counter()
            self.ranker_llm_, self.llm_fit_stats_ = self._second_stage().train(
                self.ranker_, tables, self.feature_columns_, self._ranker_params())
            timings["llm_stage"] = time.perf_counter() - t1

    def _split_table(self, split: ValidationSplit, timings: dict[str, float]
                     ) -> TrainingTable | None:
        """Retrievers fitted on a split's fit part, and its labelled candidates."""
        t1 = time.perf_counter()
        retrievers = self._fit_retrievers(split.fit, split.fit_times)
        timings["retrievers_fit_part"] = timings.get("retrievers_fit_part", 0.0) \
            + time.perf_counter() - t1
        t1 = time.perf_counter()
        stats = training_stats(split.fit, split.fit_times, self.item_side_, self.rating_scale_)

        def features(cands: CandidateSet) -> np.ndarray:
            return build_features(self.stage_columns("a"), self._feature_inputs(
                cands, retrievers, split.fit, split.fit_times, stats))

        progress.info("hybrid: candidates (%d per user) and %d features of the held-out users",
                      self.config_.n_candidates, len(self.feature_names_))
        catalogue = None
        if any(spec.new_items for spec in self.retriever_specs_):
            catalogue = self.item_count_ > 0  # on sale during the training data
        table = training_table(split, retrievers, self.config_,
                               relevance_threshold(self.config_, self.rating_scale_), features,
                               catalogue, self._candidate_masks(retrievers))
        timings["training_features"] = timings.get("training_features", 0.0) \
            + time.perf_counter() - t1
        return table

    def _fit_retrievers(self, X: sp.csr_matrix, T: sp.csr_matrix | None
                        ) -> list[Recommender]:
        """Every retriever, new, fitted on ``X`` (a fit part, or the whole matrix; its
        timestamps ``T``)."""
        return fit_retrievers(self.retriever_specs_, X, self.rating_scale_,
                              self.item_side_.embeddings, T)

    def _feature_inputs(self, cands: CandidateSet, retrievers: list[Recommender],
                        X: sp.csr_matrix, T: sp.csr_matrix | None,
                        stats: TrainingStats) -> FeatureInputs:
        """What the columns read, for retrievers fitted on ``X`` (timestamps ``T``)."""
        return FeatureInputs(cands, stats, self.item_side_, X, retrievers,
                             lambda: self._recent_mask(X, T), self._text_map(retrievers, X),
                             any(spec.new_items for spec in self.retriever_specs_))

    def _text_map(self, retrievers: list[Recommender], X: sp.csr_matrix
                  ) -> Callable[[np.ndarray], np.ndarray] | None:
        """The users' profiles in the text space from the first retriever of
        :data:`~synerec.hybrid.text_map.TEXT_MAP_MODELS` (``None``: no such retriever, no
        embeddings, or no column that reads them)."""
        E = self.item_side_.embeddings
        if E is None or not self._uses_text_map():
            return None
        for spec, r in zip(self.retriever_specs_, retrievers, strict=True):
            if spec.model in TEXT_MAP_MODELS and isinstance(r, ScoresProfile):
                model: ScoresProfile = r
                tmap = self._text_map_of(X)
                return lambda users: tmap.profiles(model, X, users)
        return None

    def _text_map_of(self, X: sp.csr_matrix) -> TextMap:
        """The text map of ``X`` (kept for the last ``X`` asked: the training matrix, while
        recommending; read from the saved arrays when loaded)."""
        cached = self.__dict__.get("_text_map_cache")
        if cached is not None and cached[0] is X:
            tmap: TextMap = cached[1]
            return tmap
        E = self.item_side_.embeddings
        if E is None:
            raise ValueError("the text map needs item embeddings")
        tmap = TextMap.fit(X, E)
        self.__dict__["_text_map_cache"] = (X, tmap)
        return tmap

    def _uses_text_map(self) -> bool:
        return self.item_side_.embeddings is not None \
            and "text_cf_score" in self.feature_names_

    def _recent_mask(self, X: sp.csr_matrix, T: sp.csr_matrix | None) -> RecentItems:
        """``X`` restricted to each user's latest items by its timestamps ``T``, by rows (each
        user's computed when asked)."""
        if T is None:
            raise ValueError("the :recent features need timestamps")
        return RecentItems(X, T)

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

    # -- the retrievers and the columns --------------------------------------------------------
    def configured_retrievers(self) -> list[RetrieverSpec]:
        """The retrievers this configuration names, each with its registered model, options,
        feature group (``"cf"`` or ``"text"``) and whether it is for explicit ratings only
        (:class:`~synerec.hybrid.retrievers.RetrieverSpec`); a fit leaves out those that do
        not apply to its data (``retriever_specs_``). Needs no fit (the ablation builds its
        rows from it).

        Raises
        ------
        ConfigError
            An invalid configuration, an unknown model or an option it does not take.
        """
        cfg = self.__dict__.get("config_") or self.get_config()
        return [retriever_spec(cfg, label) for label in cfg.retrievers]

    def stage_columns(self, stage: Stage) -> list[Column]:
        """The columns a stage's ranker reads: ``"a"``, the first ranker's; ``"b"``, the LLM
        stage's (the first ranker's and its own)."""
        self._check_fitted()
        if stage == "b":
            return list(self.feature_columns_)
        return [c for c in self.feature_columns_ if c.stage == "a"]

    def _names(self, stage: Stage) -> list[str]:
        return [c.name for c in self.stage_columns(stage)]

    def _second_stage(self) -> LLMStage:
        """The LLM stage (its client is created on first use and kept until the next fit)."""
        stage = self.__dict__.get("_llm_stage")
        if stage is None:
            stage = self.__dict__["_llm_stage"] = LLMStage(self.config_, self.titles_)
        return stage

    @property
    def llm_seconds_per_user_(self) -> dict[str, Any]:
        """The LLM feature's cost: users scored and seconds per user since the client was made
        (fit and recommendations), and at fit (``fit``)."""
        stage = self.__dict__.get("_llm_stage")
        out: dict[str, Any] = {"fit": self.__dict__.get("llm_fit_stats_")}
        if stage is not None and stage.started:
            out.update(stage.feature.summary())
        return out

    # -- scoring ------------------------------------------------------------------------------
    _local: ClassVar[_Local] = _Local()
    #: Whether recommendations call the LLM stage (``"llm"`` feature group). The service turns
    #: it off once the known users' lists are precomputed (:meth:`prepare_serving`), so that
    #: no request waits for an LLM unless asked.
    llm_enabled: bool = True

    def prepare_serving(self) -> None:
        """Turn the LLM stage off (:attr:`llm_enabled`): the service calls it after loading,
        once the known users' lists are precomputed, so that no request waits for an LLM."""
        self.llm_enabled = False

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
                                   extra=extra, masks=self._candidate_masks(self.retrievers_))

    def _candidate_masks(self, retrievers: list[Recommender]) -> list[np.ndarray | None] | None:
        """Each retriever's own item mask (``None`` when no retriever has one)."""
        masks = [spec.candidate_mask(r) for spec, r in zip(self.retriever_specs_, retrievers,
                                                           strict=True)]
        return masks if any(m is not None for m in masks) else None

    def feature_matrix(self, cands: CandidateSet) -> np.ndarray:
        """The stage-A feature matrix of candidate pairs (columns: ``stage_columns("a")``)."""
        return build_features(self.stage_columns("a"), self._feature_inputs(
            cands, self.retrievers_, self.train_, self.times_, self.stats_))

    def rank_scores(self, cands: CandidateSet, *, llm: bool | None = None) -> np.ndarray:
        """float64 score of every candidate pair (the ranker's, or the fusion fallback).

        ``llm`` (default :attr:`llm_enabled`) runs the LLM stage when the model has one.
        """
        if self.ranker_ is None:
            return reciprocal_rank_fusion(cands)
        F = self.feature_matrix(cands)
        s_a = self.ranker_.predict(F)
        use_llm = self.llm_enabled if llm is None else llm
        if use_llm and self.ranker_llm_ is not None:
            return self._second_stage().rescore(self.ranker_llm_, self.feature_columns_, cands,
                                             F, s_a, self.train_, self.times_)
        return s_a

    def _score_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        cands = self.candidates(users, exclude_seen=self._local.exclude_seen)
        s = self.rank_scores(cands).astype(np.float32)
        slot = self.config_.resolved_new_item_slot
        if slot and self.scores_cold_items:
            s = place_new_items(cands, s, self.item_count_ == 0, slot)
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
        pos = lookup_pairs(cands, row, items, self.n_items_)
        zeros = np.zeros(len(users), dtype=np.int32)
        return scores[pos].astype(np.float64), zeros, zeros.astype(np.int8)

    def explain_list(self, user: int, items: Any) -> list[HybridExplanation]:
        """The hybrid's own explanation (:class:`~synerec.hybrid.explain.HybridExplanation`:
        sentence, signals, cited item indices) of each item index of ``items`` for the user
        index ``user``, in one pass over the user's candidates.

        The hook that the service, the console, ``synerec demo`` and the coherence measure use
        for a model that explains itself.
        """
        return explain_pairs(self, user, items)

    def explain_texts(self, users: Any, items: np.ndarray) -> list[list[str]]:
        """The sentences of :meth:`explain_list` for many users' lists in one pass
        (:func:`~synerec.hybrid.explain.explain_texts`: candidates and features built once,
        evidence only for the signals a sentence names)."""
        return explain_texts(self, users, items)

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        if user < 0 or item < 0 or self.user_count_[user] == 0:
            return {"ranker": self.ranker_kind_}
        return explain_pair(self, user, item).as_details()

    # -- persistence ----------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        stored = StoredHybrid(self.retriever_names_, self.feature_groups_, self.item_side_,
                              self.times_, self.titles_, self.validation_)
        out = hybrid_arrays(stored, self.retrievers_)
        out.update(stats_arrays(self.stats_))  # loading reads them instead of computing them
        if self._uses_text_map():
            tmap = self._text_map_of(self.train_)
            out["text_map_warm"], out["text_map_solution"] = tmap.warm, tmap.solution
        return out

    def _files(self) -> dict[str, bytes | str]:
        return ranker_files(self.ranker_, self.ranker_llm_)

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        X = self.train_
        stored = read_arrays(arrays, X)
        specs = [retriever_spec(self.config_, label) for label in stored.retriever_names]
        self.feature_groups_ = stored.feature_groups
        self.item_side_ = stored.item_side
        self.times_ = stored.times
        self._set_retrievers(specs)
        self.titles_ = stored.titles
        self.validation_ = stored.validation
        self.retrievers_ = load_retrievers(specs, arrays, X, self.rating_scale_, like=self)
        self.stats_ = stored_stats(arrays, X, self.item_side_) or training_stats(
            X, self.times_, self.item_side_, self.rating_scale_, profiles_by_row=True)
        if "text_map_solution" in arrays:
            warm = np.asarray(arrays["text_map_warm"], dtype=bool)
            solution = np.asarray(arrays["text_map_solution"], dtype=np.float64)
            E = self.item_side_.embeddings
            if E is None or warm.shape != (X.shape[1],) or solution.shape != (E.shape[1],) * 2:
                raise ValueError("the stored text map does not match the embeddings")
            self.__dict__["_text_map_cache"] = (X, TextMap.of(warm, solution, E))
        self.ranker_ = None
        self.ranker_llm_ = None
        self.ranker_kind_ = "rrf"
        self.fit_seconds_ = {}

    def _load_files(self, files: dict[str, bytes]) -> None:
        stage_b = self._names("b") if "llm" in self.feature_groups_ else None
        self.ranker_, self.ranker_llm_ = read_ranker_files(files, self._names("a"), stage_b,
                                                           self._ranker_threads())
        if self.ranker_ is not None:
            self.ranker_kind_ = "lambdarank"
