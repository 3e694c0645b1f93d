"""The data options that every data-reading command shares: one group of flags, one loader.

A command takes them with the :func:`data_options` decorator and receives a
:class:`DataOptions` as its ``data`` argument::

    @app.command()
    @data_options(default="demo-shop")
    def fit(out: ..., data: DataOptions, model: ... = "item-cf") -> None:
        ds = data.load(seed)

The flags (shown under "Data" in ``--help``): ``--dataset/--data/-d`` (a data set name, an
interaction file or a ``.toml`` config), ``--config`` (a data-set config file,
:mod:`synerec.data.config`), ``--user-col``, ``--item-col``, ``--rating-col``,
``--weight-col``, ``--time-col``, ``--title-col``, ``--category-col``, ``--description-col``,
``--items`` (a separate catalogue file), ``--implicit/--explicit``, ``--rating-scale``,
``--duplicates``, ``--where`` (repeatable row filter), ``--id-case``, ``--on-bad-rows``,
``--input-format`` and ``--encoding``. Flags win over the config file's values. What was read
(rows, filtered, skipped bad rows by kind, merged duplicates, implicit or explicit) is printed
on stderr, so nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from synerec.exceptions import ConfigError

__all__ = ["DataOptions", "data_options", "quiet_reading"]

_PANEL = "Data"


def _opt(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=_PANEL, show_default=False)


@dataclass
class DataOptions:
    """The values of the shared data flags of one command run (``None``: not given)."""

    dataset: str | None = None
    config: Path | None = None
    user_col: str | None = None
    item_col: str | None = None
    rating_col: str | None = None
    weight_col: str | None = None
    time_col: str | None = None
    title_col: str | None = None
    category_col: str | None = None
    description_col: str | None = None
    items: Path | None = None
    implicit: bool | None = None
    rating_scale: str | None = None
    duplicates: str | None = None
    where: list[str] = field(default_factory=list)
    id_case: str | None = None
    on_bad_rows: str | None = None
    input_format: str | None = None
    encoding: str | None = None
    default: str | None = None

    # -- what was given ---------------------------------------------------------------------
    def reading_flags(self) -> dict[str, Any]:
        """The reading flags given, as :class:`~synerec.data.DatasetConfig` fields."""
        out: dict[str, Any] = {}
        for key in ("user_col", "item_col", "rating_col", "weight_col", "time_col",
                    "title_col", "category_col", "description_col", "implicit", "duplicates",
                    "id_case", "on_bad_rows", "encoding"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.items is not None:
            out["items"] = str(Path(self.items).expanduser().resolve())
        if self.where:
            out["where"] = tuple(self.where)
        if self.input_format is not None:
            out["format"] = self.input_format
        if self.rating_scale is not None:
            out["rating_scale"] = _parse_scale(self.rating_scale)
        return out

    @property
    def given(self) -> bool:
        """Whether any data flag (or a data set) was given."""
        return self.dataset is not None or self.config is not None or bool(self.reading_flags())

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
        from synerec.data.config import DatasetConfig, read_config_file

        flags = self.reading_flags()
        base: dict[str, Any] | None = None
        if self.config is not None:
            base = read_config_file(self.config).model_dump()
        target = self.dataset
        if target is not None:
            if target.lower().endswith(".toml"):
                if self.config is not None:
                    raise ConfigError("give the config file once: --config or --dataset")
                base = read_config_file(target).model_dump()
            elif _is_file_name(target):
                base = {**(base or {}), "path": str(Path(target).expanduser().resolve())}
            else:
                if base is not None:
                    raise ConfigError(f"--dataset {target} names a data set; with --config the "
                                      "file comes from the config (or give --dataset FILE)")
                base = None
        elif base is None and self.default is not None and _is_file_name(self.default):
            base = {"path": self.default}
        if base is None:
            if flags:
                names = ", ".join("--" + k.replace("_", "-").replace("format", "input-format")
                                  for k in flags)
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


def _parse_scale(text: str) -> tuple[float, float]:
    parts = [p.strip() for p in text.replace("..", ",").split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--rating-scale must be LOW,HIGH (e.g. 1,5), got {text!r}") from None
    if not low < high:
        raise ConfigError(f"--rating-scale must have LOW < HIGH, got {text!r}")
    return low, high


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    problems = []
    for err in errors():
        key = ".".join(str(p) for p in err["loc"])
        flag = "--" + key.replace("_", "-").replace("format", "input-format")
        problems.append(f"{flag}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(problems)


# -- the decorator --------------------------------------------------------------------------------
_FLAGS: list[tuple[str, Any, Any]] = [
    ("dataset", str | None, _opt("--dataset", "--data", "-d",
                                 help="A data set name (see `synerec datasets`), an interaction "
                                      "file (CSV, TSV, Parquet, JSON lines; .gz) or a data-set "
                                      "config file (.toml).")),
    ("config", Path | None, _opt("--config", help="A data-set config file (TOML: a data table "
                                                  "with the keys of these flags).")),
    ("user_col", str | None, _opt("--user-col", help="User id column (default user_id).")),
    ("item_col", str | None, _opt("--item-col", help="Item id column (default item_id).")),
    ("rating_col", str | None, _opt("--rating-col", help="Explicit rating column (default "
                                                         "rating).")),
    ("weight_col", str | None, _opt("--weight-col", help="Implicit feedback: a quantity or "
                                                         "count column, used as confidence "
                                                         "weight (implies --implicit).")),
    ("time_col", str | None, _opt("--time-col", help="Time column: unix seconds or ms, or ISO "
                                                     "8601 (default: timestamp, when present).")),
    ("title_col", str | None, _opt("--title-col", help="Item title column of the log.")),
    ("category_col", str | None, _opt("--category-col", help="Item category column of the "
                                                             "log ('|' between several).")),
    ("description_col", str | None, _opt("--description-col", help="Item description column "
                                                                   "of the log.")),
    ("items", Path | None, _opt("--items", help="A product catalogue file (item id column, "
                                                "title, category, description).")),
    ("implicit", bool | None, _opt("--implicit/--explicit",
                                   help="Implicit feedback (purchases, clicks: every row a "
                                        "positive) or explicit ratings.")),
    ("rating_scale", str | None, _opt("--rating-scale", help="LOW,HIGH of explicit ratings "
                                                             "(default: inferred).")),
    ("duplicates", str | None, _opt("--duplicates", help="Repeated (user, item) rows: error, "
                                                         "first, last, sum, max, mean (default: "
                                                         "error for ratings, sum for "
                                                         "implicit).")),
    ("where", list[str] | None, _opt("--where", help="Keep rows where COLUMN OP VALUE holds "
                                                     "(repeatable): 'quantity > 0', "
                                                     "'order_id !~ ^C'.")),
    ("id_case", str | None, _opt("--id-case", help="Fold string ids to lower or upper case "
                                                   "(or user=lower,item=upper) "
                                                   "(default: keep).")),
    ("on_bad_rows", str | None, _opt("--on-bad-rows", help="error (list every bad row) or "
                                                           "skip (drop them, with a summary) "
                                                           "(default: error).")),
    ("input_format", str | None, _opt("--input-format", help="csv, tsv, parquet or jsonl "
                                                             "(default: from the extension).")),
    ("encoding", str | None, _opt("--encoding", help="Text encoding (default utf-8).")),
]
_NAMES = [name for name, _, _ in _FLAGS]
assert _NAMES == [f.name for f in fields(DataOptions) if f.name != "default"]


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
            values = {name: kwargs.pop(name, None) for name in _NAMES}
            values["where"] = list(values["where"] or [])
            return func(*args, data=DataOptions(**values, default=default), **kwargs)

        wrapper.__signature__ = sig.replace(parameters=[  # type: ignore[attr-defined]
            p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # type: ignore[attr-defined]  (Typer reads __signature__)
        return wrapper

    return decorate
