"""Evaluation metrics, independent of the models.

Accuracy of predicted ratings (:mod:`~synerec.metrics.accuracy`), top-N ranking quality over
batches of recommendation lists (:mod:`~synerec.metrics.ranking`), and beyond-accuracy measures
of the lists as a whole (:mod:`~synerec.metrics.coverage`). All work on internal indices and are
vectorised over users.
"""

from synerec.metrics.accuracy import mae, rmse
from synerec.metrics.coverage import (
    average_recommendation_popularity,
    catalogue_coverage,
    category_coverage,
    category_matrix,
    gini_index,
    item_popularity,
    novelty,
)
from synerec.metrics.ranking import (
    UsersWithoutRelevant,
    aggregate,
    average_precision_at_n,
    hit_rate_at_n,
    hit_rate_at_n_score,
    map_at_n,
    mrr,
    ndcg_at_n,
    ndcg_at_n_score,
    precision_at_n,
    precision_at_n_score,
    ranking_metrics,
    recall_at_n,
    recall_at_n_score,
    reciprocal_rank,
    relevant_from_test,
)

__all__ = [
    "UsersWithoutRelevant",
    "aggregate",
    "average_precision_at_n",
    "average_recommendation_popularity",
    "catalogue_coverage",
    "category_coverage",
    "category_matrix",
    "gini_index",
    "hit_rate_at_n",
    "hit_rate_at_n_score",
    "item_popularity",
    "mae",
    "map_at_n",
    "mrr",
    "ndcg_at_n",
    "ndcg_at_n_score",
    "novelty",
    "precision_at_n",
    "precision_at_n_score",
    "ranking_metrics",
    "recall_at_n",
    "recall_at_n_score",
    "reciprocal_rank",
    "relevant_from_test",
    "rmse",
]
