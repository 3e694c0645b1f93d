"""The data options that every data-reading command shares: one group of flags, one loader.

A command takes them with the :func:`data_options` decorator and receives a
:class:`DataOptions` as its ``data`` argument::

    @app.command()
    @data_options(default="demo-shop")
    def fit(out: ..., data: DataOptions, model: ... = "item-cf") -> None:
        ds = data.load(seed)

The flags (shown under "Data" in ``--help``): ``--dataset/--data/-d`` (a data set name, an
interaction file or a ``.toml`` config), ``--config`` (a data-set config file,
:mod:`synerec.data.config`) and one flag per reading option of
:class:`synerec.data.options.ReadOptions`, derived from it: its name with dashes
(``--user-col``, ``--time-col``, ``--where`` (repeatable), ...) unless it declares its own
(``--implicit/--explicit``, ``--input-format``), its description as help. Flags win over the
config file's values. What was read (rows, filtered, skipped bad rows by kind, merged
duplicates, implicit or explicit) is printed on stderr, so nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from synerec.data.options import OPTIONS, Option
from synerec.exceptions import ConfigError

__all__ = ["DataOptions", "data_options", "quiet_reading"]

_PANEL = "Data"


def _opt(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=_PANEL, show_default=False)


@dataclass
class DataOptions:
    """The values of the shared data flags of one command run.

    Attributes
    ----------
    dataset, config
        ``--dataset`` and ``--config`` (``None``: not given).
    reading
        The reading flags given, by option name (``time_col``, ``format``), their text read
        (``--rating-scale 1,5`` is ``(1.0, 5.0)``, ``--items`` an absolute path).
    default
        The data set read when none is given.
    """

    dataset: str | None = None
    config: Path | None = None
    reading: dict[str, Any] = field(default_factory=dict)
    default: str | None = None

    # -- what was given ---------------------------------------------------------------------
    def reading_flags(self) -> dict[str, Any]:
        """The reading flags given, as :class:`~synerec.data.DatasetConfig` fields."""
        return dict(self.reading)

    @property
    def given(self) -> bool:
        """Whether any data flag (or a data set) was given."""
        return self.dataset is not None or self.config is not None or bool(self.reading)

    def target(self) -> str:
        """The data set name, file or config file these options read."""
        if self.dataset is not None:
            return self.dataset
        if self.config is not None:
            return str(self.config)
        if self.default is None:
            raise ConfigError("no data given: pass --dataset (a data set name or a file) or "
                              "--config (a data-set config file)")
        return self.default

    def dataset_config(self) -> Any:
        """The :class:`~synerec.data.DatasetConfig` of a file (``None`` for a named data set).

        Raises
        ------
        ConfigError
            Reading flags given with a named data set (they apply to files only), or invalid
            values (named).
        """
        from synerec.data.config import DatasetConfig

        flags = self.reading_flags()
        base = self._base_config()
        if base is None:
            if flags:
                names = ", ".join(_FLAG_OF[k] for k in flags)
                verb = "applies" if len(flags) == 1 else "apply"
                raise ConfigError(f"{names} {verb} to an interaction file (--dataset FILE or "
                                  f"--config FILE.toml), not to the named data set "
                                  f"{self.target()!r}, which its own loader reads (see "
                                  "`synerec datasets`)")
            return None
        try:
            return DatasetConfig.model_validate({**base, **flags})
        except Exception as exc:  # pydantic.ValidationError
            raise ConfigError(_validation_message(exc)) from None

    def _base_config(self) -> dict[str, Any] | None:
        """The config the flags apply to: a config file's, a file's path, or ``None`` (a
        named data set)."""
        from synerec.data.config import read_config_file

        base: dict[str, Any] | None = None
        if self.config is not None:
            base = read_config_file(self.config).model_dump()
        target = self.dataset
        if target is not None:
            if target.lower().endswith(".toml"):
                if self.config is not None:
                    raise ConfigError("give the config file once: --config or --dataset")
                return read_config_file(target).model_dump()
            if _is_file_name(target):
                return {**(base or {}), "path": str(Path(target).expanduser().resolve())}
            if base is not None:
                raise ConfigError(f"--dataset {target} names a data set; with --config the "
                                  "file comes from the config (or give --dataset FILE)")
            return None
        if base is None and self.default is not None and _is_file_name(self.default):
            return {"path": self.default}
        return base

    # -- reading ----------------------------------------------------------------------------
    def load(self, seed: int = 42, *, console: Console | None = None, quiet: bool = False
             ) -> Any:
        """Read the data set (:class:`~synerec.data.InteractionDataset`).

        A file's read report (rows, filters, skipped bad rows, merged duplicates, implicit or
        explicit) goes to ``console`` (stderr by default) unless ``quiet``.
        """
        from synerec.data import load_dataset

        config = self.dataset_config()
        if config is None:
            name = self.target()
            data = (load_dataset(name, random_state=seed) if name == "demo-shop"
                    else load_dataset(name))
        else:
            # The read report below says what the library would log as a warning.
            with quiet_reading(not quiet):
                data = config.load()
        if not quiet and data.report is not None and config is not None:
            out = console or Console(stderr=True)
            for line in data.report.lines():
                out.print(line, highlight=False, soft_wrap=True, markup=False)
        return data


@contextlib.contextmanager
def quiet_reading(active: bool = True) -> Iterator[None]:
    """Silence the data layer's warning about skipped rows (the caller reports them, or they
    were reported when the data were first read)."""
    logger = logging.getLogger("synerec.data.dataset")
    level = logger.level
    if active:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_file_name(name: str) -> bool:
    from synerec.data.registry import _REGISTRY, _ensure_builtin_loaders

    _ensure_builtin_loaders()
    if name in _REGISTRY:
        return False
    return bool(Path(name).suffix) or "/" in name or os.sep in name or Path(name).exists()


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    problems = []
    for err in errors():
        if not err["loc"]:  # a check of the whole configuration: its message, not its input
            problems.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        name, *rest = [str(p) for p in err["loc"]]
        flag = _FLAG_OF.get(name, "--" + name.replace("_", "-"))
        problems.append(f"{'.'.join([flag, *rest])}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(problems)


# -- the flags, derived from the declared reading options -----------------------------------------
def _cli_type(option: Option) -> Any:
    """The type Typer reads a reading option's flag as (``None``: not given): a file, a
    switch, a repeatable text, or one text that the option's validation (or its parser)
    reads."""
    kinds = typing.get_args(option.annotation) or (option.annotation,)
    if option.info.path:
        return Path | None
    if bool in kinds:
        return bool | None
    if typing.get_origin(option.annotation) is tuple:
        return list[str] | None
    return str | None


def _from_flag(option: Option, value: Any) -> Any:
    """A given flag's value as the option's (a parsed scale, a tuple, an absolute path)."""
    if option.info.parse is not None:
        return option.info.parse(value)
    if isinstance(value, list):
        return tuple(value)
    if option.info.path:
        return str(Path(value).expanduser().resolve())
    return value


_DATASET_HELP = ("A data set name (see `synerec datasets`), an interaction file (CSV, TSV, "
                 "Parquet, JSON lines; .gz) or a data-set config file (.toml).")

#: Every data flag: (parameter name, type, Typer option); the reading ones one per option.
_FLAGS: list[tuple[str, Any, Any]] = [
    ("dataset", str | None, _opt("--dataset", "--data", "-d", help=_DATASET_HELP)),
    ("config", Path | None, _opt("--config", help="A data-set config file (TOML: a data table "
                                                  "with the keys of these flags).")),
    *((o.parameter, _cli_type(o), _opt(o.flags, help=o.help)) for o in OPTIONS),
]
#: The flag of each reading option (and of the config's ``path``), for messages.
_FLAG_OF: dict[str, str] = {"path": "--dataset", **{o.name: o.flag for o in OPTIONS}}


def data_options(default: str | None = "demo-shop", *, dataset_help: str | None = None
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the shared data flags to a Typer command; it receives ``data: DataOptions``.

    Parameters
    ----------
    default
        The data set read when none is given (``None``: ``--dataset`` or ``--config`` is
        required, checked when the command reads).
    dataset_help
        A command-specific help text for ``--dataset``.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)
        if "data" not in sig.parameters:
            raise TypeError(f"{func.__name__} must take a 'data' parameter")
        params = []
        for p in sig.parameters.values():
            if p.name == "data":
                continue
            params.append(p.replace(annotation=hints.get(p.name, p.annotation)))
        for name, typ, option in _FLAGS:
            if name == "dataset" and dataset_help is not None:
                option = _opt("--dataset", "--data", "-d", help=dataset_help)
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                            default=None, annotation=Annotated[typ, option]))
        # keyword-only parameters must follow the others; defaults-free ones stay first
        params.sort(key=lambda q: (q.kind == inspect.Parameter.KEYWORD_ONLY,
                                   q.default is not inspect.Parameter.empty))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reading = {}
            for o in OPTIONS:
                value = kwargs.pop(o.parameter, None)
                if value is not None and value != []:
                    reading[o.name] = _from_flag(o, value)
            data = DataOptions(dataset=kwargs.pop("dataset", None),
                               config=kwargs.pop("config", None), reading=reading,
                               default=default)
            return func(*args, data=data, **kwargs)

        # Typer reads the command's parameters from __signature__ (not from __wrapped__)
        target: Any = wrapper
        target.__signature__ = sig.replace(parameters=[
            p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
        target.__annotations__ = {p.name: p.annotation for p in params}
        del target.__wrapped__
        return wrapper

    return decorate
