"""A model's parameters, declared once: its pydantic config class.

Part 1 of the model contract (read :mod:`synerec.algorithms.base` first for the overview).

A model names its config class once, as the type argument of the base class::

    class ItemKNN(Recommender[ItemKNNConfig]): ...

and everything else follows from that one declaration:

* ``config_class`` is set to ``ItemKNNConfig`` (the registry, the CLI and the service read it);
* ``__init__`` is generated: keyword-only, one argument per config field with the field's
  default, storing each value unchanged as an attribute of the same name (scikit-learn style:
  nothing is validated before :meth:`~Configurable.fit`). It carries a real
  ``__signature__``, so :func:`inspect.signature`, :meth:`Configurable.get_params`,
  :func:`help` and the CLI's option listing see the parameters;
* ``self.config_`` (after ``fit``) has the static type ``ItemKNNConfig``, so
  ``self.config_.k`` type-checks.

Why generate ``__init__`` rather than have models write it: the hand-written ones repeated
every parameter, with its default, a second time (and a third in the assignments), and the
copies could drift apart from the config. Why keep the attributes at all (rather than storing
one config object): scikit-learn's ``get_params`` / ``set_params`` / ``clone`` contract, and
``set_params`` accepting any value until ``fit`` validates it.

The older way still works, unchanged: a class that sets ``config_class = SomeConfig`` and
writes its own keyword-only ``__init__`` storing the same names keeps its ``__init__``
(a class body that defines ``__init__`` is never given a generated one). A subclass that only
sets ``config_class`` (no type argument, no ``__init__``) gets an ``__init__`` generated from
that class.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import pydantic
from pydantic import BaseModel, ConfigDict

from synerec.exceptions import ConfigError

__all__ = ["C", "Configurable", "RecommenderConfig"]


class RecommenderConfig(BaseModel):
    """Base of every model's typed configuration: immutable, unknown options are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: The config type of a model (``Recommender[C]``).
C = TypeVar("C", bound=RecommenderConfig)


class Configurable(Generic[C]):
    """Parameters as in scikit-learn, declared by one pydantic config class (see the module)."""

    #: The pydantic model of this class's parameters (same names as ``__init__``'s).
    config_class: ClassVar[type[RecommenderConfig]] = RecommenderConfig

    #: The validated parameters the model was fitted with (set by ``fit`` / ``load``).
    config_: C

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = _config_type_argument(cls)
        if declared is not None:
            cls.config_class = declared
        elif "config_class" not in cls.__dict__:
            return  # nothing new declared: inherit the parent's config and __init__
        if "__init__" not in cls.__dict__:
            type.__setattr__(cls, "__init__", _generated_init(cls))

    # -- parameters (scikit-learn conventions) ------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's keyword parameters, sorted (generated or hand-written alike)."""
        sig = inspect.signature(cls.__init__)
        return sorted(
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their current values (scikit-learn API)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters (scikit-learn API); an unknown name is a ConfigError.

        Values are validated by the next ``fit`` or :meth:`get_config`.
        """
        names = set(self._param_names())
        for key, value in params.items():
            if key not in names:
                raise ConfigError(f"{type(self).__name__} has no parameter {key!r}; "
                                  f"parameters: {', '.join(sorted(names))}")
            setattr(self, key, value)
        return self

    def get_config(self) -> C:
        """The parameters as this class's validated, typed config (ConfigError when invalid)."""
        return self._validate_config(self.get_params())

    @classmethod
    def from_config(cls, config: RecommenderConfig | Mapping[str, Any]) -> Self:
        """Build an unfitted model from a config object or a mapping (e.g. parsed JSON/TOML).

        Raises
        ------
        ConfigError
            An unknown option (named) or an invalid value.
        """
        if isinstance(config, BaseModel):
            if not isinstance(config, cls.config_class):
                raise ConfigError(f"{cls.__name__} needs a {cls.config_class.__name__}, got "
                                  f"{type(config).__name__}")
            values = config.model_dump()
        elif isinstance(config, Mapping):
            values = cls._validate_config(dict(config)).model_dump()
        else:
            raise ConfigError(f"config must be a mapping or a {cls.config_class.__name__}")
        return cls(**values)

    @classmethod
    def _validate_config(cls, values: dict[str, Any]) -> C:
        try:
            return cast(C, cls.config_class.model_validate(values))
        except pydantic.ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "config"
                if err["type"] == "extra_forbidden":
                    known = ", ".join(sorted(cls.config_class.model_fields))
                    problems.append(f"unknown option {name!r} (options: {known})")
                else:
                    problems.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
            raise ConfigError(f"invalid {cls.__name__} configuration: "
                              + "; ".join(problems)) from None

    def __repr__(self) -> str:
        try:
            params = self.get_params()
        except AttributeError:
            return f"{type(self).__name__}(...)"
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


def _config_type_argument(cls: type) -> type[RecommenderConfig] | None:
    """The config class in ``class M(Base[SomeConfig])``, or None (no concrete type argument)."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = typing.get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, Configurable)):
            continue
        for arg in typing.get_args(base):
            if isinstance(arg, type) and issubclass(arg, RecommenderConfig):
                return arg
    return None


def _generated_init(cls: type[Configurable[Any]]) -> Callable[..., None]:
    """A keyword-only ``__init__`` storing one attribute per field of ``cls.config_class``."""
    fields = cls.config_class.model_fields
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    required: list[str] = []
    for name, info in fields.items():
        if info.default_factory is not None:
            factory = factories[name] = cast(Callable[[], Any], info.default_factory)
            default: Any = factory()
        elif info.is_required():
            required.append(name)
            default = inspect.Parameter.empty
        else:
            default = defaults[name] = info.default
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=info.annotation))
    names = set(fields)
    owner = cls.__name__

    def __init__(self: Any, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise TypeError(f"{owner}.__init__() got an unexpected keyword argument "
                            f"{unknown[0]!r} (parameters: {', '.join(sorted(names))})")
        missing = [name for name in required if name not in kwargs]
        if missing:
            raise TypeError(f"{owner}.__init__() missing required keyword-only argument "
                            f"{missing[0]!r}")
        for name in fields:
            if name in kwargs:
                value = kwargs[name]
            elif name in factories:
                value = factories[name]()
            else:
                value = copy.deepcopy(defaults[name])  # a list default is not shared
            setattr(self, name, value)

    __init__.__dict__["__signature__"] = inspect.Signature(params)
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__module__ = cls.__module__
    __init__.__doc__ = (f"Store the parameters of :class:`{cls.config_class.__name__}` "
                        "(keyword-only; validated by ``fit``).")
    return __init__
