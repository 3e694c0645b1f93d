"""The named models that the CLI, the service and saved model files refer to.

A saved model names its class by its *registry name* (``"mf"``), never by a Python import path,
so loading a file can only ever build a class that was registered here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

from synerec.exceptions import ConfigError

if TYPE_CHECKING:
    from synerec.algorithms.base import Recommender

__all__ = [
    "DEFAULT_RANKING_MODEL",
    "create_model",
    "get_model_class",
    "list_models",
    "model_name",
    "register_model",
]

#: The model that measured best for ranking (NDCG@10 on MovieLens 100K u1..u5 and on UCI Online
#: Retail, ``bench/ranking.py``, docs/experiments.md): what ``synerec fit`` trains, and so what
#: ``recommend``, the service and ``batch-recommend`` rank with, unless the user names a model.
#: Rating prediction keeps the paper's eq. 3 / eq. 4 models (``user-cf``, ``item-cf``).
DEFAULT_RANKING_MODEL = "ease"

_MODELS: dict[str, type[Recommender]] = {}

R = TypeVar("R", bound="type[Recommender]")


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
        ``name`` is already taken by another class.

    Examples
    --------
    >>> @register_model("my-model")          # doctest: +SKIP
    ... class MyModel(Recommender): ...
    """

    def add(c: R) -> R:
        from synerec.algorithms.base import Recommender

        if not (isinstance(c, type) and issubclass(c, Recommender)):
            raise ConfigError(f"model {name!r}: {c!r} is not a Recommender subclass")
        old = _MODELS.get(name)
        if old is not None and old is not c and _qualname(old) != _qualname(c):
            raise ConfigError(f"model name {name!r} is already registered to {_qualname(old)}")
        _MODELS[name] = c
        return c

    if cls is None:
        return add
    return add(cls)


def _qualname(c: type) -> str:
    return f"{c.__module__}.{c.__qualname__}"


def _ensure_builtin_models() -> None:
    # Importing the package imports every model module, and each registers itself; the
    # two-stage hybrid lives in its own package (it is built on the others).
    importlib.import_module("synerec.algorithms")
    importlib.import_module("synerec.hybrid")


def get_model_class(name: str) -> type[Recommender]:
    """The class registered as ``name``; an unknown name lists the known ones (ConfigError)."""
    _ensure_builtin_models()
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; known models: "
                          f"{', '.join(sorted(_MODELS))}") from None


def create_model(name: str, **config: Any) -> Recommender:
    """Build the model ``name`` from keyword options, validated by its config type.

    Raises
    ------
    ConfigError
        Unknown model name, an unknown option (named in the message) or an invalid value.
    """
    return get_model_class(name).from_config(config)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    _ensure_builtin_models()
    return sorted(_MODELS)


def model_name(cls: type) -> str:
    """The registry name of ``cls`` (the inverse of :func:`get_model_class`)."""
    _ensure_builtin_models()
    for name, c in _MODELS.items():
        if c is cls:
            return name
    raise ConfigError(f"{cls.__name__} is not a registered model; call "
                      f"register_model(name, {cls.__name__}) before saving it")

