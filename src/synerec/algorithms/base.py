"""The base class of every recommender, and how to write a model.

Writing a model
---------------
Declare the parameters once, as a pydantic config class, and name it as the base class's type
argument; register the model; implement the scoring contract on *indices*::

    from pydantic import Field

    from synerec.algorithms import Recommender, RecommenderConfig, register_model


    class ShrunkMeanConfig(RecommenderConfig):
        damping: float = Field(5.0, ge=0.0)       # the one declaration of the parameter


    @register_model("shrunk-mean")
    class ShrunkMean(Recommender[ShrunkMeanConfig]):
        '''Each item's mean, shrunk towards the global mean by ``damping`` ratings.'''

        def _fit(self, data):                     # data.matrix: users x items CSR float32
            X = data.matrix                       # (and the side data the model `needs`)
            total = np.bincount(X.indices, X.data, minlength=X.shape[1])
            d = self.config_.damping              # typed: ShrunkMeanConfig
            self.item_score_ = (total + d * self.global_mean_) / (self.item_count_ + d)

        def _predict(self, users, items):         # known users and items only
            zeros = np.zeros(len(users), np.int32)
            return self.item_score_[items], zeros, zeros.astype(np.int8)

        def _score(self, users):                  # (len(users), n_items) float32
            return np.tile(self.item_score_.astype(np.float32), (len(users), 1))

        def _arrays(self):                        # what save() stores ...
            return {"item_score": self.item_score_}

        def _load_arrays(self, arrays):           # ... and load() restores
            self.item_score_ = arrays["item_score"]

``ShrunkMean(damping=2.0)`` then works (the keyword-only ``__init__`` is generated from the
config), as do ``get_params``, ``set_params``, ``from_config``, ``fit``, ``predict``,
``recommend``, ``recommend_item``, ``save`` / ``Recommender.load`` and the CLI's
``--param damping=2``. Add the model to the conformance suite's known answers
(``tests/algorithms/conformance.py``) and name its module in the registry's table
(:data:`~synerec.algorithms.registry.FAMILIES`).

A model that needs more than the matrix declares it (``needs = frozenset({"timestamps"})``)
and reads it from the :class:`~synerec.algorithms.training.TrainingData` its ``_fit`` gets; a
model that can do more than score declares the ability by inheriting it from
:mod:`synerec.algorithms.abilities` (``ExplainsScore``, ``ExplainsList``, ``SimilarItems``,
``ScoresProfile``).

Models written the older way, with ``config_class = SomeConfig`` and a hand-written
``__init__`` that stores the same keyword arguments, keep working unchanged.

The parts, one module each, in reading order
--------------------------------------------
1. :mod:`~synerec.algorithms.params`: parameters, declared once by the config class
   (generated ``__init__``, ``get_params`` / ``set_params``, ``get_config`` / ``from_config``).
2. :mod:`~synerec.algorithms.scoring`: the contract a model implements (``_fit``, ``_predict``,
   ``_score`` / ``_score_sparse``, ``_arrays`` / ``_load_arrays``, optional hooks) and the
   training state ``fit`` prepares for it (vocabularies, training matrix, means, counts).
3. :mod:`~synerec.algorithms.predicting`: ``predict`` / ``predict_one`` on external ids, with
   the cold-start fallbacks below.
4. :mod:`~synerec.algorithms.recommending`: top-k lists with seen-item filtering, unknown users
   and candidate sets, ranked by the one shared :func:`synerec.topk.topk`.
5. :mod:`~synerec.algorithms.saving`: ``save`` / ``load`` through
   :mod:`synerec.algorithms.persistence`.
6. :mod:`~synerec.algorithms.decision`: the paper's recommend-or-not rule, ``recommend_item``.

:class:`Recommender` is these parts put together; a model subclasses it and nothing else.

Cold users and items
--------------------
A user (item) is *unknown* when its id is not in the vocabulary **or** it has no interaction in
the training matrix (vocabularies of a split data set hold every id of the full data set). For
an unknown pair, :meth:`Recommender.predict` returns by default:

=================================  ================  ============================
case                               ``fallback``      value (``fallback_to``)
=================================  ================  ============================
known user, unknown item           ``unknown_item``  the user's mean (``user_mean``)
unknown user, known item           ``unknown_user``  the item's mean (``item_mean``)
both unknown                       ``unknown_user_   the global mean
                                   and_item``        (``global_mean``)
=================================  ================  ============================

Models may refine these (the Baseline model uses its biases). :meth:`Recommender.recommend`
gives unknown users the most popular items (number of training interactions for ratings,
summed weight for implicit data) with that popularity as score, and by default never
recommends items without training interactions (``scores_cold_items = False``).
"""

from __future__ import annotations

from synerec.algorithms.decision import Deciding, Decision, default_threshold
from synerec.algorithms.params import C, RecommenderConfig
from synerec.algorithms.predicting import Predicting, Prediction
from synerec.algorithms.recommending import Recommending
from synerec.algorithms.saving import Saving
from synerec.algorithms.scoring import (
    FALLBACK_NAMES,
    NO_FALLBACK,
    NO_NEIGHBORS,
    UNKNOWN_ITEM,
    UNKNOWN_USER,
    UNKNOWN_USER_AND_ITEM,
)

__all__ = [
    "FALLBACK_NAMES",
    "NO_FALLBACK",
    "NO_NEIGHBORS",
    "UNKNOWN_ITEM",
    "UNKNOWN_USER",
    "UNKNOWN_USER_AND_ITEM",
    "Decision",
    "Prediction",
    "Recommender",
    "RecommenderConfig",
    "default_threshold",
]


class Recommender(Recommending[C], Saving[C], Deciding[C], Predicting[C]):
    """Base class of synerec's recommenders (see the module docstring for how to write one).

    ``Recommender[SomeConfig]`` is a model whose parameters are ``SomeConfig``'s fields; the
    methods come from the parts listed in the module docstring.

    The state every fitted model has (``users_``, ``items_``, ``train_``, ``rating_scale_``,
    the means and counts, ``config_``) is listed in
    :class:`~synerec.algorithms.scoring.ScoringModel`; ``config_`` is of the type argument.
    """
