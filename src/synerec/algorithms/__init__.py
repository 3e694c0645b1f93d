"""Recommendation algorithms on a common base class, with a registry of named models.

Every model follows scikit-learn conventions (``fit`` returns ``self``, learned state ends in
``_``), predicts ratings for external ids with documented fallbacks, ranks with the one shared
:func:`synerec.topk.topk`, and saves to / loads from a pickle-free model directory.

The names below are loaded from their modules on first use (PEP 562): importing one module of
the package (``synerec.algorithms.base`` to load a saved model) does not import every model
family and the libraries they use (numba, torch). The registry's functions taken from here
(``from synerec.algorithms import create_model``) import every family of this package first,
as before; :mod:`synerec.models`, the composition root, imports the family a name needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synerec._lazy import lazy_exports

if TYPE_CHECKING:
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
    from synerec.algorithms.sasrec import SASRec, SASRecConfig  # noqa: F401
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

_P = "synerec.algorithms."
#: Where each public name lives.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("ExplainsList", "ExplainsScore", "ScoresProfile", "SimilarItems"),
                    _P + "abilities"),
    **dict.fromkeys(("FALLBACK_NAMES", "Decision", "Prediction", "Recommender",
                     "RecommenderConfig", "default_threshold"), _P + "base"),
    **dict.fromkeys(("Baseline", "BaselineConfig"), _P + "baseline"),
    **dict.fromkeys(("EASE", "EASEConfig"), _P + "ease"),
    **dict.fromkeys(("ImplicitALS", "ImplicitALSConfig", "ImplicitBPR", "ImplicitBPRConfig"),
                    _P + "implicit_mf"),
    **dict.fromkeys(("ItemKNN", "ItemKNNConfig", "UserKNN", "UserKNNConfig"), _P + "knn"),
    **dict.fromkeys(("MatrixFactorization", "MatrixFactorizationConfig"), _P + "mf"),
    **dict.fromkeys(("PLAIN_FORMULAS", "PaperCF", "recommend_item"), _P + "paper"),
    **dict.fromkeys(("Popularity", "PopularityConfig"), _P + "popularity"),
    **dict.fromkeys(("PositiveFeedbackConfig", "PositiveFeedbackModel",
                     "default_positive_threshold", "positive_matrix"), _P + "positives"),
    **dict.fromkeys(("create_model", "get_model_class", "list_models", "model_name",
                     "register_model"), _P + "registry"),
    **dict.fromkeys(("RP3beta", "RP3betaConfig"), _P + "rp3beta"),
    **dict.fromkeys(("SASRec", "SASRecConfig"), _P + "sasrec"),
    **dict.fromkeys(("TextItemKNN", "TextItemKNNConfig", "TextUserKNN", "TextUserKNNConfig"),
                    _P + "text_knn"),
    **dict.fromkeys(("TextKNN", "TextKNNConfig", "TunedTextKNN", "TunedTextKNNConfig"),
                    _P + "text_retriever"),
    "TrainingData": _P + "training",
}


def _families_first(module: str) -> None:
    """The registry as this package always offered it: every family here registered."""
    if module == _P + "registry":
        from synerec.algorithms.registry import import_families
        import_families()


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _families_first)
