"""The hybrid's second stage: a ranker that reorders the first ranker's top items with the
language model's likelihood score as one more feature (feature group ``"llm"``).

It learns from the first ranker's top ``llm_candidates`` items of a seeded sample of
``llm_train_users`` training users (the LLM costs seconds per user), with the columns of the
first stage plus the stage-``"b"`` columns of the feature table
(:func:`synerec.hybrid.features.stage_b_matrix`: the first ranker's score and ``llm_score``).
When ranking, it reorders each user's top ``llm_candidates`` items and puts them above the
rest, whose first-stage order is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.hybrid.candidates import CandidateSet
from synerec.hybrid.config import HybridConfig
from synerec.hybrid.features import Column, stage_b_matrix
from synerec.hybrid.llm_feature import LikelihoodFeature, make_llm
from synerec.hybrid.ranker import LambdaRanker, RankerParams
from synerec.hybrid.training_table import TrainingTable

__all__ = ["LLMStage"]

log = logging.getLogger(__name__)


class LLMStage:
    """The LLM stage of one fitted hybrid: its LLM scorer (the client is created on first
    use and kept) and how it trains and applies the second ranker.

    Parameters
    ----------
    config
        The hybrid's ``llm*`` options, ``num_threads`` and ``random_state``.
    titles
        Item titles (index order), shown to the LLM.
    """

    def __init__(self, config: HybridConfig, titles: Sequence[str]) -> None:
        self.config = config
        self.titles = list(titles)
        self._feature: LikelihoodFeature | None = None

    @property
    def started(self) -> bool:
        """Whether the LLM client was created (by a fit or a recommendation)."""
        return self._feature is not None

    @property
    def feature(self) -> LikelihoodFeature:
        """The LLM feature's scorer."""
        if self._feature is None:
            from synerec.llm.prompts import clean_title

            c = self.config
            client = make_llm(c.llm, c.llm_model, c.llm_base_url, seed=c.random_state,
                              n_threads=c.num_threads or None, timeout=c.llm_timeout)
            self._feature = LikelihoodFeature(client, [clean_title(t, 80) for t in self.titles],
                                              c.llm_domain, c.llm_history)
        return self._feature

    def top_rows(self, indptr: np.ndarray, scores: np.ndarray, groups: np.ndarray
                 ) -> list[np.ndarray]:
        """Row numbers of the ``llm_candidates`` best first-stage scores of each group."""
        out = []
        L = self.config.llm_candidates
        for g in groups:
            lo, hi = int(indptr[g]), int(indptr[g + 1])
            order = np.argsort(-scores[lo:hi], kind="stable")[:L]
            out.append(lo + order)
        return out

    def train(self, ranker: LambdaRanker, tables: Sequence[TrainingTable],
              columns: Sequence[Column], params: RankerParams
              ) -> tuple[LambdaRanker | None, dict[str, Any] | None]:
        """The second ranker, from the first ranker's top items of sampled training users,
        and the LLM feature's cost at fit (``None`` and ``None``: no user to learn from)."""
        feature = self.feature
        rng = np.random.default_rng(self.config.random_state + 7)
        jobs = []
        for table in tables:
            gs = table.sizes
            indptr = np.concatenate([[0], np.cumsum(gs)])
            s_a = ranker.predict(table.features)
            pos = np.add.reduceat(table.labels > 0, indptr[:-1]) > 0 if len(gs) else \
                np.zeros(0, bool)
            for g in np.flatnonzero(pos & (gs > 0)):
                jobs.append((table, s_a, indptr, int(g)))
        if not jobs:
            return None, None
        rows_f, rows_y, sizes, owners = [], [], [], []
        take = np.sort(rng.permutation(len(jobs))[:self.config.llm_train_users])
        for k in take:
            table, s_a, indptr, g = jobs[k]
            top = self.top_rows(indptr, s_a, np.array([g]))[0]
            user = int(table.users[g])
            llm = feature.score_user(table.fit, table.fit_times, user, table.items[top])
            rows_f.append(stage_b_matrix(columns, table.features[top], s_a[top], llm))
            rows_y.append(table.labels[top])
            sizes.append(len(top))
            owners.append(user)
        stats = feature.summary()
        log.info("hybrid: LLM feature of %d training users: %s", len(sizes), stats)
        try:
            second = LambdaRanker.train(
                np.concatenate(rows_f), np.concatenate(rows_y), np.asarray(sizes),
                [c.name for c in columns], params, np.asarray(owners))
        except ValueError as exc:
            log.warning("hybrid: no LLM ranker trained (%s)", exc)
            second = None
        return second, stats

    def rescore(self, ranker: LambdaRanker, columns: Sequence[Column], cands: CandidateSet,
                F: np.ndarray, s_a: np.ndarray, X: sp.csr_matrix, T: sp.csr_matrix | None
                ) -> np.ndarray:
        """The first ranker's top items of each user reordered by the second ranker (on top
        of the others, whose first-stage order ``s_a`` is kept); ``X`` and ``T`` are the
        training matrix and its timestamps (the histories shown to the LLM)."""
        feature = self.feature
        groups = np.flatnonzero(np.diff(cands.indptr) > 0)
        tops = self.top_rows(cands.indptr, s_a, groups)
        llm = [feature.score_user(X, T, int(cands.users[g]), cands.items[top])
               for g, top in zip(groups, tops, strict=True)]
        if not tops:
            return s_a
        rows = np.concatenate(tops)
        s_b = ranker.predict(stage_b_matrix(columns, F[rows], s_a[rows], np.concatenate(llm)))
        out = s_a.copy()
        start = 0
        for g, top in zip(groups, tops, strict=True):
            lo, hi = cands.indptr[g], cands.indptr[g + 1]
            block = s_b[start:start + len(top)]
            start += len(top)
            out[top] = block - block.min() + s_a[lo:hi].max() + 1.0
        return out
