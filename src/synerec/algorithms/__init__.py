"""Recommendation algorithms on a common base class, with a registry of named models.

Every model follows scikit-learn conventions (``fit`` returns ``self``, learned state ends in
``_``), predicts ratings for external ids with documented fallbacks, ranks with the one shared
:func:`synerec.topk.topk`, and saves to / loads from a pickle-free model directory.
"""

from synerec.algorithms.abilities import (
    ExplainsList,
    ExplainsScore,
    ScoresProfile,
    SimilarItems,
)
from synerec.algorithms.base import (
    FALLBACK_NAMES,
    Decision,
    Prediction,
    Recommender,
    RecommenderConfig,
    default_threshold,
)
from synerec.algorithms.baseline import Baseline, BaselineConfig
from synerec.algorithms.ease import EASE, EASEConfig
from synerec.algorithms.implicit_mf import (
    ImplicitALS,
    ImplicitALSConfig,
    ImplicitBPR,
    ImplicitBPRConfig,
)
from synerec.algorithms.knn import ItemKNN, ItemKNNConfig, UserKNN, UserKNNConfig
from synerec.algorithms.mf import MatrixFactorization, MatrixFactorizationConfig
from synerec.algorithms.paper import PLAIN_FORMULAS, PaperCF, recommend_item
from synerec.algorithms.popularity import Popularity, PopularityConfig
from synerec.algorithms.positives import (
    PositiveFeedbackConfig,
    PositiveFeedbackModel,
    default_positive_threshold,
    positive_matrix,
)
from synerec.algorithms.registry import (
    create_model,
    get_model_class,
    list_models,
    model_name,
    register_model,
)
from synerec.algorithms.rp3beta import RP3beta, RP3betaConfig
from synerec.algorithms.sasrec import SASRec, SASRecConfig  # noqa: F401 - registers "sasrec"
from synerec.algorithms.text_knn import (
    TextItemKNN,
    TextItemKNNConfig,
    TextUserKNN,
    TextUserKNNConfig,
)
from synerec.algorithms.text_retriever import (
    TextKNN,
    TextKNNConfig,
    TunedTextKNN,
    TunedTextKNNConfig,
)
from synerec.algorithms.training import TrainingData

__all__ = [
    "EASE",
    "FALLBACK_NAMES",
    "PLAIN_FORMULAS",
    "Baseline",
    "BaselineConfig",
    "Decision",
    "EASEConfig",
    "ExplainsList",
    "ExplainsScore",
    "ImplicitALS",
    "ImplicitALSConfig",
    "ImplicitBPR",
    "ImplicitBPRConfig",
    "ItemKNN",
    "ItemKNNConfig",
    "MatrixFactorization",
    "MatrixFactorizationConfig",
    "PaperCF",
    "Popularity",
    "PopularityConfig",
    "PositiveFeedbackConfig",
    "PositiveFeedbackModel",
    "Prediction",
    "RP3beta",
    "RP3betaConfig",
    "Recommender",
    "RecommenderConfig",
    "ScoresProfile",
    "SimilarItems",
    "TextItemKNN",
    "TextItemKNNConfig",
    "TextKNN",
    "TextKNNConfig",
    "TextUserKNN",
    "TextUserKNNConfig",
    "TrainingData",
    "TunedTextKNN",
    "TunedTextKNNConfig",
    "UserKNN",
    "UserKNNConfig",
    "create_model",
    "default_positive_threshold",
    "default_threshold",
    "get_model_class",
    "list_models",
    "model_name",
    "positive_matrix",
    "recommend_item",
    "register_model",
]
