"""The model contract's machinery: parameters declared once, old-style models, renamed names.

The generic behaviour of every registered model is in ``conformance.py``; this file tests what
the split of the base class added: the ``__init__`` generated from a config class, that a model
written the old way (``config_class`` + its own ``__init__``) still works, that models saved
before the split load after it, and the deprecated aliases of renamed attributes.
"""

from __future__ import annotations

import inspect
import json
import pydoc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import Field

import synerec.ranking
import synerec.topk
from synerec._list_length import check_list_length
from synerec.algorithms import (
    ItemKNN,
    ItemKNNConfig,
    Popularity,
    Recommender,
    RecommenderConfig,
    TextItemKNN,
    TextItemKNNConfig,
    create_model,
    get_model_class,
    list_models,
)
from synerec.algorithms import registry as registry_module
from synerec.algorithms.training import TrainingData
from synerec.cli._options import model_config
from synerec.exceptions import ConfigError
from synerec.llm import LLMReranker
from tests.algorithms.conformance import SMALL_CONFIGS, all_pairs, toy_implicit, toy_ratings

SAVED = Path(__file__).parent / "saved_before_split"


# -- a new-style model, as the base module's docstring shows it ----------------------------------

class ShrunkMeanConfig(RecommenderConfig):
    damping: float = Field(5.0, ge=0.0)
    tags: list[str] = Field(default_factory=list)


class ShrunkMean(Recommender[ShrunkMeanConfig]):
    """Each item's mean, shrunk towards the global mean by ``damping`` ratings."""

    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        total = np.bincount(X.indices, X.data, minlength=X.shape[1])
        d = self.config_.damping
        self.item_score_ = (total + d * self.global_mean_) / (self.item_count_ + d)

    def _predict(self, users: np.ndarray, items: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        zeros = np.zeros(len(users), np.int32)
        return self.item_score_[items], zeros, zeros.astype(np.int8)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.item_score_.astype(np.float32), (len(users), 1))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_score": self.item_score_}

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_score_ = arrays["item_score"]


# -- an old-style model: config_class and a hand-written __init__ -------------------------------

class OldStyleConfig(RecommenderConfig):
    damping: float = Field(5.0, ge=0.0)


class OldStyle(Recommender):
    """Written the way models were before the split (and still may be)."""

    config_class: ClassVar[type[RecommenderConfig]] = OldStyleConfig

    def __init__(self, *, damping: float = 5.0) -> None:
        self.damping = damping
        self.init_calls = 1  # proof that this __init__, not a generated one, ran

    def _fit(self, data: TrainingData) -> None:
        X = data.matrix
        cfg = self.config_
        assert isinstance(cfg, OldStyleConfig)
        total = np.bincount(X.indices, X.data, minlength=X.shape[1])
        self.item_score_ = (total + cfg.damping * self.global_mean_) / (
            self.item_count_ + cfg.damping)

    _predict = ShrunkMean._predict
    _score = ShrunkMean._score
    _arrays = ShrunkMean._arrays
    _load_arrays = ShrunkMean._load_arrays


@pytest.fixture
def registered() -> Iterator[None]:
    """Register the two test models for save/load, and remove them afterwards."""
    registry_module.register_model("test-shrunk-mean", ShrunkMean)
    registry_module.register_model("test-old-style", OldStyle)
    try:
        yield
    finally:
        registry_module._MODELS.pop("test-shrunk-mean", None)
        registry_module._MODELS.pop("test-old-style", None)


# -- the generated __init__ ----------------------------------------------------------------------

def test_generated_init_signature_follows_the_config() -> None:
    sig = inspect.signature(ShrunkMean)
    assert list(sig.parameters) == ["damping", "tags"]
    assert all(p.kind is p.KEYWORD_ONLY for p in sig.parameters.values())
    assert sig.parameters["damping"].default == 5.0
    assert ShrunkMean.config_class is ShrunkMeanConfig
    m = ShrunkMean(damping=2.0)
    assert m.damping == 2.0 and m.tags == []
    assert m.get_params() == {"damping": 2.0, "tags": []}
    assert ShrunkMean().tags is not ShrunkMean().tags  # a default_factory runs per instance
    with pytest.raises(TypeError, match="positional"):
        ShrunkMean(2.0)  # type: ignore[misc]
    with pytest.raises(TypeError, match="dampnig"):
        ShrunkMean(dampnig=2.0)  # type: ignore[call-arg]
    assert "damping" in pydoc.render_doc(ShrunkMean)


@pytest.mark.parametrize("name", list_models())
def test_registered_models_init_is_the_config(name: str) -> None:
    """Every built-in model: one keyword-only parameter per config field, same defaults."""
    cls = get_model_class(name)
    params = inspect.signature(cls).parameters
    fields = cls.config_class.model_fields
    assert set(params) == set(fields)
    for key, p in params.items():
        assert p.kind is p.KEYWORD_ONLY
        assert p.default == fields[key].get_default(call_default_factory=True), key
    assert cls._param_names() == sorted(fields)
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


def test_config_type_argument_types_config_() -> None:
    assert ItemKNN.config_class is ItemKNNConfig
    assert TextItemKNN.config_class is TextItemKNNConfig
    m = ItemKNN(k=3)
    assert m.get_config() == ItemKNNConfig(k=3)


@pytest.mark.parametrize("name", list_models())
def test_get_set_params_round_trip(name: str) -> None:
    model = create_model(name, **SMALL_CONFIGS.get(name, {}))
    params = model.get_params()
    other = get_model_class(name)()
    assert other.set_params(**params) is other
    assert other.get_params() == params
    assert other.get_config() == model.get_config()
    assert type(model).from_config(model.get_config()).get_params() == params


def test_cli_option_listing_sees_generated_parameters() -> None:
    assert model_config("item-cf", k=5) == {"k": 5}
    with pytest.raises(ConfigError, match="--factors"):
        model_config("item-cf", factors=5)


def test_subclass_with_a_new_config_gets_a_new_init() -> None:
    class MoreConfig(ShrunkMeanConfig):
        extra: int = 3

    class More(ShrunkMean):
        config_class = MoreConfig

    class Same(ShrunkMean):
        pass

    assert list(inspect.signature(More).parameters) == ["damping", "tags", "extra"]
    assert More(extra=4).get_params() == {"damping": 5.0, "extra": 4, "tags": []}
    assert Same.__init__ is ShrunkMean.__init__


# -- new and old style, fitted, saved and loaded -------------------------------------------------

@pytest.mark.parametrize("cls", [ShrunkMean, OldStyle])
def test_new_and_old_style_models_work_end_to_end(cls: type[Recommender], registered: None,
                                                  tmp_path: Path) -> None:
    data = toy_ratings()
    model = cls(damping=2.0).fit(data)
    X = data.matrix
    i = data.items.index("i3")
    col = X[:, i].data
    mu = float(X.data.mean())
    expected = (col.sum() + 2.0 * mu) / (len(col) + 2.0)  # by hand: the shrunk mean
    assert model.predict(["u0"], ["i3"])[0] == pytest.approx(expected)
    ids, _ = model.recommend(["nobody"], n=3, unknown="fallback")
    assert ids.shape == (1, 3)
    assert model.recommend_item("u0", "i3").threshold == pytest.approx(1 + 5 / 9 * 4)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert type(loaded) is cls and loaded.get_params() == model.get_params()
    uu, ii = all_pairs(data)
    np.testing.assert_array_equal(loaded.predict(uu, ii, unknown="fallback"),
                                  model.predict(uu, ii, unknown="fallback"))
    if cls is OldStyle:
        assert model.init_calls == 1  # type: ignore[attr-defined]
        assert list(inspect.signature(cls).parameters) == ["damping"]


def test_old_style_invalid_value_is_a_config_error_at_fit() -> None:
    model = OldStyle(damping=-1.0)  # stored as given
    with pytest.raises(ConfigError, match="damping"):
        model.fit(toy_ratings())


# -- models saved before the split load after it -------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in SAVED.iterdir() if p.is_dir()))
def test_models_saved_before_the_split_load(name: str) -> None:
    """The files were written by commit cdcfdff (before the split) with its outputs."""
    expected = json.loads((SAVED / "expected.json").read_text())[name]
    model = Recommender.load(SAVED / name)
    params = model.get_params()
    assert {key: params[key] for key in expected["params"]} == expected["params"]
    # options added since take their defaults (the readings of the paper's eqs. 1-3, issue 16)
    defaults = type(model).config_class()
    for key in set(params) - set(expected["params"]):
        assert params[key] == getattr(defaults, key), key
    data = toy_ratings()
    uu, ii = all_pairs(data)
    np.testing.assert_allclose(model.predict(uu, ii, unknown="fallback"), expected["predict"],
                               rtol=0, atol=1e-12)
    users = [*data.users.ids.tolist(), "nobody"]
    ids, scores = model.recommend(users, n=4, unknown="fallback")
    assert model.catalogue_ is None and model.data_source_ is None  # saved before they were
    assert [[None if x is None else str(x) for x in row] for row in ids] == \
        expected["recommend_ids"]
    np.testing.assert_array_equal(scores, np.array(expected["recommend_scores"], np.float32))


# -- renamed names and their deprecated aliases --------------------------------------------------

def test_ranking_module_is_the_topk_module_under_its_old_name() -> None:
    assert synerec.ranking.topk is synerec.topk.topk
    assert synerec.ranking.topk_sparse is synerec.topk.topk_sparse
    assert synerec.ranking.PAD_INDEX == synerec.topk.PAD_INDEX == -1


def test_check_list_length() -> None:
    assert check_list_length(0) == 0
    assert check_list_length(np.int32(3)) == 3
    assert check_list_length(None, minimum=1, width=4) == 4
    assert check_list_length(2, minimum=1, width=4) == 2
    for bad, match in [(True, "whole number"), (2.0, "whole number"), (None, "whole number"),
                       (-1, "at least 0")]:
        with pytest.raises(ConfigError, match=match):
            check_list_length(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 1"):
        check_list_length(0, minimum=1, width=4)
    with pytest.raises(ConfigError, match="exceeds the length 4"):
        check_list_length(5, minimum=1, width=4)
    with pytest.raises(ConfigError, match="length 0"):
        check_list_length(None, minimum=1, width=0)


def test_reranker_alpha_is_a_deprecated_alias_of_llm_weight() -> None:
    retriever = create_model("popularity")
    with pytest.warns(DeprecationWarning, match="llm_weight"):
        rr = LLMReranker(retriever, None, alpha=0.25)
    assert rr.llm_weight == 0.25
    with pytest.warns(DeprecationWarning, match="llm_weight"):
        assert rr.alpha == 0.25
    with pytest.warns(DeprecationWarning):
        rr.alpha = 0.5
    assert rr.llm_weight == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert LLMReranker(retriever, None, llm_weight=0.3).llm_weight == 0.3
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="llm_weight only"):
        LLMReranker(retriever, None, llm_weight=0.3, alpha=0.7)
    with pytest.raises(ConfigError, match="llm_weight"):
        LLMReranker(retriever, None, llm_weight=2.0).fit(toy_ratings())


def _auto_alpha_model(data: Any) -> TextItemKNN:
    rng = np.random.default_rng(0)
    E = rng.normal(size=(data.n_items, 3)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    model = TextItemKNN(k=5, max_neighbors=5, min_support=1, shrinkage=0.0, alpha="auto",
                        text_neighbors=3)
    return model.fit(data.matrix, rating_scale=data.rating_scale, item_embeddings=E)


@pytest.mark.parametrize(("data", "metric"), [(toy_ratings(), "mae"),
                                              (toy_implicit(), "1 - hit rate")])
def test_validation_scores_say_what_they_hold(data: Any, metric: str) -> None:
    model = _auto_alpha_model(data)
    assert model.validation_metric_ == metric
    assert set(model.validation_scores_) == {0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0}
    assert model.alpha_ in model.validation_scores_
    assert model.validation_scores_[model.alpha_] == min(model.validation_scores_.values())
    with pytest.warns(DeprecationWarning, match="validation_scores_"):
        assert model.validation_mae_ == model.validation_scores_


def test_validation_mae_before_an_auto_fit_is_an_attribute_error() -> None:
    with pytest.warns(DeprecationWarning), pytest.raises(AttributeError, match="alpha='auto'"):
        _ = TextItemKNN(alpha=0.5).validation_mae_
    assert not hasattr(Popularity(), "validation_scores_")
