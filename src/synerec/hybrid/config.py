"""The hybrid's parameters (:class:`HybridConfig`, documented on
:class:`~synerec.hybrid.model.HybridRanker`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from synerec.algorithms.base import RecommenderConfig
from synerec.hybrid.features import FEATURE_GROUPS, Group

__all__ = ["AUTO_TRAIN_USERS", "DEFAULT_RETRIEVERS", "GLOBAL_TEMPORAL_SLOT", "HybridConfig",
           "Validation"]

#: How the label part the ranker learns from is carved out of the training matrix
#: (:func:`synerec.hybrid.split.split_validation`): ``"temporal"``, each user's latest
#: interactions; ``"random"``, a seeded random share of each user's; ``"global-temporal"``, every
#: interaction from one cut in time on (the latest share of all of them), so that the label part
#: holds products first sold after the cut, as a global temporal test does; ``"auto"``,
#: temporal when the data has timestamps, else random.
Validation = Literal["auto", "temporal", "random", "global-temporal"]
#: The rank of the new-arrival place with ``new_item_slot="auto"`` and a global-temporal
#: validation (0, none, with the others): chosen on UCI Online Retail's validation cuts
#: (``docs/experiments.md``, "New products in the hybrid").
GLOBAL_TEMPORAL_SLOT = 20
#: The users the ranker learns from, per validation part, with ``max_train_users="auto"``: a
#: seeded sample of this many of the users with held-out items (all of them below it, as on
#: ML-100K and UCI Online Retail). The training table holds about 150 to 250 candidates per
#: user, so this bounds it near 2.5 million pairs whatever the shop's size
#: (``docs/scaling.md``).
AUTO_TRAIN_USERS = 10_000

#: The retrievers of the default hybrid, in feature order: EASE on the positives, EASE on
#: every rating (``ease-all``, explicit data only: which items a user rates at all), ALS (the
#: ``implicit`` package; left out with a warning when it is missing), the neighbourhood models,
#: the text blend, the pure text retriever (``text-knn``, frozen encoder: the only one that
#: proposes products nobody has bought yet) and popularity (``docs/experiments.md``, "The
#: hybrid" and "New products in the hybrid").
DEFAULT_RETRIEVERS: tuple[str, ...] = ("ease", "ease-all", "als", "item-cf", "user-cf",
                                       "t-item-cf", "text-knn", "popularity")


class HybridConfig(RecommenderConfig):
    """Parameters of :class:`~synerec.hybrid.model.HybridRanker` (documented there)."""

    retrievers: tuple[str, ...] = DEFAULT_RETRIEVERS
    retriever_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    n_candidates: int = Field(50, ge=1)
    new_item_slot: int | Literal["auto"] = "auto"
    features: tuple[Group, ...] = ("cf", "text")
    encoder: str = "minilm"
    encoder_path: str | None = None
    validation: Validation = "auto"
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    validation_folds: int = Field(3, ge=1)
    relevance_threshold: float | Literal["auto"] | None = "auto"
    graded_labels: bool = False
    max_train_users: int | Literal["auto"] | None = "auto"
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

    @field_validator("new_item_slot")
    @classmethod
    def _slot(cls, v: int | str) -> int | str:
        if v != "auto" and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"new_item_slot must be 'auto' or a rank >= 0, got {v!r}")
        return v

    @field_validator("max_train_users")
    @classmethod
    def _train_users(cls, v: int | str | None) -> int | str | None:
        if v is not None and v != "auto" and (isinstance(v, bool) or not isinstance(v, int)
                                               or v < 2):
            raise ValueError(f"max_train_users must be 'auto', None or an int >= 2, got {v!r}")
        return v

    @property
    def train_users_cap(self) -> int | None:
        """``max_train_users``, with ``"auto"`` resolved to :data:`AUTO_TRAIN_USERS` (``None``:
        every user with held-out items)."""
        if self.max_train_users == "auto":
            return AUTO_TRAIN_USERS
        return None if self.max_train_users is None else int(self.max_train_users)

    @property
    def resolved_new_item_slot(self) -> int:
        """``new_item_slot``, with ``"auto"`` resolved: :data:`GLOBAL_TEMPORAL_SLOT` with a
        global-temporal validation, else 0."""
        if self.new_item_slot == "auto":
            return GLOBAL_TEMPORAL_SLOT if self.validation == "global-temporal" else 0
        return int(self.new_item_slot)

    @field_validator("features")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "cf" not in v:
            raise ValueError("the 'cf' feature group is always needed")
        return tuple(g for g in FEATURE_GROUPS if g in v)
