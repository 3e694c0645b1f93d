"""The named models: names and classes only.

A saved model names its class by its *registry name* (``"mf"``), never by a Python import path,
so loading a file can only ever build a class that was registered. Each model module registers
its classes when it is imported (``@register_model("ease")``); this module imports no model
until a name is asked for: :data:`FAMILIES` says which module registers each name, and
:func:`registered` imports that one module (every module of the table when the name is
unknown, or the whole list is asked for), so that loading a saved item-cf imports neither the
hybrid nor the other families. The table names the families of :mod:`synerec.algorithms`; the
composition root :mod:`synerec.models` adds the models built on them (the hybrid) with
:func:`add_family`, a module name only: nothing here imports a higher layer by itself.
"""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from synerec.algorithms.scoring import ScoringModel
from synerec.exceptions import ConfigError

__all__ = [
    "ALGORITHM_FAMILIES",
    "DEFAULT_RANKING_MODEL",
    "FAMILIES",
    "add_family",
    "create_model",
    "get_model_class",
    "import_families",
    "list_models",
    "model_name",
    "register_model",
]

_A = "synerec.algorithms."
#: Every model name and the module whose import registers it (:mod:`synerec.models` adds the
#: hybrid; tests/test_models_root.py checks the table against the registry with every family
#: imported).
FAMILIES: dict[str, str] = {
    "als": _A + "implicit_mf",
    "baseline": _A + "baseline",
    "bpr": _A + "implicit_mf",
    "ease": _A + "ease",
    "item-cf": _A + "knn",
    "mf": _A + "mf",
    "popularity": _A + "popularity",
    "rp3beta": _A + "rp3beta",
    "sasrec": _A + "sasrec",
    "t-item-cf": _A + "text_knn",
    "t-user-cf": _A + "text_knn",
    "text-knn": _A + "text_retriever",
    "text-knn-tuned": _A + "text_retriever",
    "user-cf": _A + "knn",
}
#: The modules of :mod:`synerec.algorithms` that register models (derived from the table).
ALGORITHM_FAMILIES: tuple[str, ...] = tuple(sorted(set(FAMILIES.values())))

#: The model that measured best for ranking (NDCG@10 on MovieLens 100K u1..u5 and on UCI Online
#: Retail, ``bench/ranking.py``, docs/experiments.md): what ``synerec fit`` trains, and so what
#: ``recommend``, the service and ``batch-recommend`` rank with, unless the user names a model.
#: Rating prediction keeps the paper's eq. 3 / eq. 4 models (``user-cf``, ``item-cf``).
DEFAULT_RANKING_MODEL = "ease"

#: The one table of registered models (shared with loading: ``ScoringModel.registered_classes``).
_MODELS: dict[str, type[Any]] = ScoringModel.registered_classes

R = TypeVar("R", bound="type[ScoringModel]")


def register_model(name: str, cls: R | None = None) -> Any:
    """Register a model class under ``name`` (also usable as a class decorator).

    Parameters
    ----------
    name
        Lower-case name users type (``"mf"``, ``"item-cf"``).
    cls
        A :class:`~synerec.algorithms.base.Recommender` subclass; omit it to get a decorator.

    Raises
    ------
    ConfigError
        ``name`` is already taken by another class, or ``cls`` is not a model.

    Examples
    --------
    >>> @register_model("my-model")          # doctest: +SKIP
    ... class MyModel(Recommender): ...
    """

    def add(c: R) -> R:
        if not (isinstance(c, type) and issubclass(c, ScoringModel)):
            raise ConfigError(f"model {name!r}: {c!r} is not a Recommender subclass")
        old = _MODELS.get(name)
        if old is not None and old is not c and _qualname(old) != _qualname(c):
            raise ConfigError(f"model name {name!r} is already registered to {_qualname(old)}")
        _MODELS[name] = c
        c.registered_name = name
        return c

    if cls is None:
        return add
    return add(cls)


def _qualname(c: type) -> str:
    return f"{c.__module__}.{c.__qualname__}"


def add_family(name: str, module: str) -> None:
    """Name ``module`` as the one whose import registers the model ``name`` (for models built
    above this layer, which the composition root adds)."""
    FAMILIES[name] = module


def import_families() -> None:
    """Import every module of :data:`FAMILIES` (each registers its names)."""
    for module in sorted(set(FAMILIES.values())):
        importlib.import_module(module)


def registered(name: str) -> type[Any] | None:
    """The class registered as ``name``, importing the module :data:`FAMILIES` names for it
    (every family when the name is not in the table) when it is not registered yet; ``None``
    when none of them registers it."""
    try:
        cls = _MODELS.get(name)
    except TypeError:  # an unhashable name
        return None
    if cls is None:
        module = FAMILIES.get(name)
        if module is not None:
            importlib.import_module(module)
            cls = _MODELS.get(name)
        if cls is None:
            import_families()
            cls = _MODELS.get(name)
    return cls


def get_model_class(name: str) -> type[Any]:
    """The class registered as ``name``; an unknown name lists the known ones (ConfigError)."""
    cls = registered(name)
    if cls is None:
        raise ConfigError(f"unknown model {name!r}; known models: "
                          f"{', '.join(sorted(_MODELS))}")
    return cls


def create_model(name: str, **config: Any) -> Any:
    """Build the model ``name`` from keyword options, validated by its config type.

    Raises
    ------
    ConfigError
        Unknown model name, an unknown option (named in the message) or an invalid value.
    """
    return get_model_class(name).from_config(config)


def list_models() -> list[str]:
    """Registered model names, sorted (every family of :data:`FAMILIES` imported)."""
    import_families()
    return sorted(_MODELS)


def model_name(cls: type) -> str:
    """The registry name of ``cls`` (the inverse of :func:`get_model_class`)."""
    if not (isinstance(cls, type) and issubclass(cls, ScoringModel)):
        raise ConfigError(f"{cls!r} is not a model class")
    return cls.model_name()
