"""The second stage: a learned ranker over the candidates of several retrievers.

``hybrid`` (:class:`HybridRanker`) is a registered model like the others: the union of the top
``M`` items of several retrievers (``item-cf``, ``user-cf``, ``t-item-cf``, ``popularity``, ...)
is ordered by a LightGBM LambdaRank ranker over features per (user, candidate): each
retriever's score and rank, item popularity and recency, user activity, text-embedding cosines,
category share and, optionally, a language model's likelihood score. See
:mod:`synerec.hybrid.model` for the training protocol (no leakage) and ``docs/experiments.md``
for what it measures.

Modules, along the stages: :mod:`~synerec.hybrid.config` (the parameters),
:mod:`~synerec.hybrid.retrievers` (stage 1's models: which, with which options, fitted on
which part), :mod:`~synerec.hybrid.candidates` (stage 1's candidates),
:mod:`~synerec.hybrid.stats` (what the features read), :mod:`~synerec.hybrid.features` (the
feature table: every feature declared once), :mod:`~synerec.hybrid.split` (the validation
part), :mod:`~synerec.hybrid.training_table` (the labelled candidates),
:mod:`~synerec.hybrid.ranker` (LightGBM), :mod:`~synerec.hybrid.llm_feature` and
:mod:`~synerec.hybrid.llm_stage` (the LLM's second stage), :mod:`~synerec.hybrid.persistence`
(what a saved hybrid holds), :mod:`~synerec.hybrid.model` (the estimator) and
:mod:`~synerec.hybrid.explain` (explanations from the evidence the retrievers hold).
"""

from synerec.hybrid.candidates import CandidateSet, generate_candidates
from synerec.hybrid.model import (
    DEFAULT_RETRIEVER_PARAMS,
    DEFAULT_RETRIEVERS,
    HybridConfig,
    HybridRanker,
)

__all__ = [
    "DEFAULT_RETRIEVERS",
    "DEFAULT_RETRIEVER_PARAMS",
    "CandidateSet",
    "HybridConfig",
    "HybridRanker",
    "generate_candidates",
]
