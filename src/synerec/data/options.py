"""How to read an interaction table: every reading option, declared once.

:class:`ReadOptions` lists each option once, with its name, type, default, help text and
validation. Everything else is derived from it:

- the keyword arguments of :func:`~synerec.data.read_interactions` (all of them) and of
  :meth:`~synerec.data.InteractionDataset.from_dataframe` (those of a table already in memory:
  all but ``format``, ``encoding`` and ``items``, which it takes as a table of its own);
- the keys of a data-set config file's ``[data]`` table: :class:`~synerec.data.DatasetConfig`
  is a ``ReadOptions`` with a ``path`` and a ``name``;
- the command line's data flags (:mod:`synerec.cli.data_options`): ``--user-col`` for
  ``user_col``, unless the option names its flag (``--input-format`` for ``format``, whose
  name the commands' output format already has).

One name per concept: the time column is ``time_col`` in Python, in config files and on the
command line (``--time-col``); the old Python keyword ``timestamp_col`` still works, with a
:class:`DeprecationWarning`. One default per option: ``rating_col`` is ``"rating"``
everywhere; ``None`` (an empty name in a config file or a flag) reads unary implicit
feedback, every row a positive.

The config file and the command line validate values here (pydantic), naming the key or flag;
keyword arguments in Python are checked by name here and by value where the reader uses them,
with the reader's own messages (:class:`~synerec.exceptions.ConfigError`,
:class:`~synerec.exceptions.DataFormatError`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synerec.data.report import OnBadRows
from synerec.exceptions import ConfigError

__all__ = ["DUPLICATE_POLICIES", "OPTIONS", "RENAMED", "DuplicatePolicy", "IdCase", "Option",
           "OptionInfo", "ReadOptions", "declared_options", "option_by_name", "options_doc",
           "parse_id_case", "parse_scale", "renamed_keywords", "with_options_signature"]

DuplicatePolicy = Literal["error", "first", "last", "mean", "sum", "max"]
DUPLICATE_POLICIES: tuple[str, ...] = get_args(DuplicatePolicy)
IdCase = Literal["keep", "lower", "upper"]
_CASES: tuple[str, ...] = get_args(IdCase)

#: Old Python keywords and the options' names now (each old one warns).
RENAMED: dict[str, str] = {"timestamp_col": "time_col"}


@dataclass(frozen=True)
class OptionInfo:
    """What an option declares besides its type, default and help text.

    Attributes
    ----------
    flag
        The command-line flag when it is not ``--`` and the name with dashes
        (``--implicit/--explicit``, ``--input-format``).
    parse
        How the flag's text becomes the value, when pydantic cannot read it as it is
        (``--rating-scale 1,5``).
    file_only
        An option of reading a file (not taken by
        :meth:`~synerec.data.InteractionDataset.from_dataframe`).
    path
        A file: relative to a config file's folder in the file, to the working directory on
        the command line.
    """

    flag: str | None = None
    parse: Callable[[str], Any] | None = None
    file_only: bool = False
    path: bool = False


def parse_scale(text: str) -> tuple[float, float] | Literal["infer"]:
    """``(low, high)`` from the command line's ``LOW,HIGH`` (or ``LOW..HIGH``), or ``"infer"``.

    Raises
    ------
    ConfigError
        Not two numbers, or ``LOW >= HIGH``.
    """
    if text.strip() == "infer":
        return "infer"
    parts = [p.strip() for p in text.replace("..", ",").split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--rating-scale must be LOW,HIGH (e.g. 1,5), got {text!r}") from None
    if not low < high:
        raise ConfigError(f"--rating-scale must have LOW < HIGH, got {text!r}")
    return low, high


def parse_id_case(id_case: str | Mapping[Any, str]) -> tuple[str, str]:
    """``(user case, item case)`` from ``"lower"``, ``{"user": "lower"}`` or
    ``"user=lower,item=upper"`` (the command line's form).

    Raises
    ------
    ConfigError
        A case other than keep, lower or upper, or a key other than user and item.
    """
    if isinstance(id_case, str) and "=" in id_case:
        try:
            id_case = dict(part.split("=", 1) for part in id_case.replace(" ", "").split(","))
        except ValueError:
            raise ConfigError(f"id_case must be keep, lower, upper or user=...,item=..., not "
                              f"{id_case!r}") from None
    if isinstance(id_case, str):
        if id_case not in _CASES:
            raise ConfigError(f"id_case must be keep, lower or upper, not {id_case!r}")
        return id_case, id_case
    extra = set(id_case) - {"user", "item"}
    values = [id_case.get("user", "keep"), id_case.get("item", "keep")]
    if extra or any(v not in _CASES for v in values):
        raise ConfigError(f"id_case must map user and item to keep, lower or upper, not "
                          f"{dict(id_case)!r}")
    return values[0], values[1]


def renamed_keywords(values: dict[str, Any], *, stacklevel: int) -> dict[str, Any]:
    """``values`` (changed in place) with the old names of options replaced by the new ones,
    each with a :class:`DeprecationWarning` for the caller ``stacklevel`` frames up.

    Raises
    ------
    TypeError
        An option given by both names.
    """
    for old, new in RENAMED.items():
        if old in values:
            if new in values:
                raise TypeError(f"{new}= and its old name {old}= are both given; give {new}=")
            warnings.warn(f"{old}= is deprecated: use {new}= (the config key {new}, the flag "
                          f"--{new.replace('_', '-')})", DeprecationWarning,
                          stacklevel=stacklevel + 1)
            values[new] = values.pop(old)
    return values


class ReadOptions(BaseModel):
    """How to read an interaction table: the options that the reader, the config file and the
    command line share (see the module docstring for how each takes them).

    Every field is an option; its description is the help text of its flag and config key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_col: str = Field("user_id", description="User id column (default user_id).")
    item_col: str = Field("item_id", description="Item id column (default item_id).")
    rating_col: str | None = Field(
        "rating", description="Explicit rating column (default rating); not read for implicit "
                              "feedback. An empty name (None in Python): no rating column, "
                              "every row a positive (unary implicit feedback).")
    weight_col: str | None = Field(
        None, description="Implicit feedback: a quantity or count column, used as confidence "
                          "weight (implies --implicit); a negative weight (a return) is a bad "
                          "row.")
    time_col: str | None = Field(
        "timestamp", description="Time column: unix seconds or ms, or ISO 8601; times without an "
                                 "offset are UTC (default: timestamp, when present; a column "
                                 "named otherwise must exist; an empty name: none).")
    title_col: str | None = Field(
        None, description="Item title column of the log (each item's most frequent value; with "
                          "--items, the catalogue's own column name).")
    category_col: str | None = Field(
        None, description="Item category column of the log ('|' between several).")
    description_col: str | None = Field(
        None, description="Item description column of the log.")
    items: Annotated[str | None, OptionInfo(file_only=True, path=True)] = Field(
        None, description="A product catalogue file (item id column, title, category, "
                          "description); its items join the vocabulary even without "
                          "interactions (cold items).")
    implicit: Annotated[bool | None, OptionInfo(flag="--implicit/--explicit")] = Field(
        None, description="Implicit feedback (purchases, clicks: every row a positive) or "
                          "explicit ratings (default: implicit with a weight column, without a "
                          "rating column, or with no rating scale).")
    rating_scale: Annotated[tuple[float, float] | Literal["infer"] | None,
                            OptionInfo(parse=parse_scale)] = Field(
        "infer", description="LOW,HIGH of explicit ratings: ratings outside it are bad rows "
                             "(default: inferred from the values, refused when they do not "
                             "look like ratings). In Python, None: the rating column holds "
                             "implicit weights.")
    duplicates: DuplicatePolicy | None = Field(
        None, description="Repeated (user, item) rows: error, first, last (by time), sum, max, "
                          "mean (default: error for ratings, sum for implicit).")
    where: tuple[str, ...] = Field(
        (), description="Keep rows where COLUMN OP VALUE holds (repeatable): 'quantity > 0', "
                        "'order_id !~ ^C'.")
    id_case: IdCase | dict[Literal["user", "item"], IdCase] = Field(
        "keep", description="Fold string ids to lower or upper case (or user=lower,item=upper) "
                            "(default: keep).")
    on_bad_rows: OnBadRows = Field(
        "error", description="error (list every bad row) or skip (drop them, with a summary) "
                             "(default: error).")
    format: Annotated[Literal["csv", "tsv", "parquet", "jsonl"] | None,
                      OptionInfo(flag="--input-format", file_only=True)] = Field(
        None, description="csv, tsv, parquet or jsonl (default: from the extension).")
    encoding: Annotated[str, OptionInfo(file_only=True)] = Field(
        "utf-8", description="Text encoding (default utf-8).")

    # -- validation (config files and flags) -----------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, values: Any) -> Any:
        # (the warning points into pydantic: a dict's caller is not on the stack in a known place)
        if isinstance(values, Mapping):
            return renamed_keywords(dict(values), stacklevel=2)
        return values

    @field_validator("rating_col", "weight_col", "time_col", "title_col", "category_col",
                     "description_col", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # TOML has no null: an empty name says "no such column"
        return None if value == "" else value

    @field_validator("id_case", mode="before")
    @classmethod
    def _cases(cls, value: Any) -> Any:
        # "lower", {"user": "lower"} or the command line's "user=lower,item=upper"
        if not isinstance(value, (str, dict)):
            return value
        user, item = parse_id_case(value)
        if isinstance(value, str) and "=" not in value:
            return value
        return {"user": user, "item": item}

    @field_validator("where", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else value

    # -- Python keywords --------------------------------------------------------------------
    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any], *, caller: str, table: bool = False,
                      stacklevel: int = 2) -> ReadOptions:
        """The options of a Python call (``read_interactions(path, **keywords)``).

        Names are checked here (an unknown one is a :class:`TypeError`, as Python's own; an
        old one warns); values are checked where the reader uses them, with its messages.

        Parameters
        ----------
        keywords
            The options given.
        caller
            The function's name, for the message.
        table
            Only the options of a table in memory (:attr:`Option.file_only` ones refused).
        stacklevel
            Where a deprecation warning points: 1 is the function that calls
            ``from_keywords``, 2 (the default) the code that calls that function.
        """
        values = renamed_keywords(dict(keywords), stacklevel=stacklevel + 1)
        known = {o.name for o in declared_options(table=table)}
        for key in values:
            if key not in known:
                raise TypeError(f"{caller}() got an unexpected keyword argument {key!r}")
        return cls.model_construct(**values)

    def keywords(self, *, table: bool = False) -> dict[str, Any]:
        """The options as keyword arguments (of :func:`~synerec.data.read_interactions`, or
        with ``table`` of :meth:`~synerec.data.InteractionDataset.from_dataframe`)."""
        return {o.name: getattr(self, o.name) for o in declared_options(table=table)}


# -- what the other surfaces derive --------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One declared option, as the other surfaces read it (see :data:`OPTIONS`)."""

    name: str
    annotation: Any
    default: Any
    help: str
    info: OptionInfo

    @property
    def flag(self) -> str:
        """The command-line flag (the first of a pair: ``--implicit``)."""
        return self.flags.split("/")[0]

    @property
    def flags(self) -> str:
        """The flag declaration (``--user-col``, ``--implicit/--explicit``)."""
        return self.info.flag or "--" + self.name.replace("_", "-")

    @property
    def parameter(self) -> str:
        """The command's parameter name of the flag (``input_format`` for ``--input-format``:
        never a name of the command's own parameters, such as its output ``format``)."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def file_only(self) -> bool:
        """Whether only reading a file takes it (not a table in memory)."""
        return self.info.file_only


def _declared() -> tuple[Option, ...]:
    out = []
    for name, field in ReadOptions.model_fields.items():
        infos = [m for m in field.metadata if isinstance(m, OptionInfo)]
        out.append(Option(name=name, annotation=field.annotation, default=field.default,
                          help=field.description or "", info=infos[0] if infos else OptionInfo()))
    return tuple(out)


#: Every option of :class:`ReadOptions`, in its order (the order of ``--help``).
OPTIONS: tuple[Option, ...] = _declared()


def declared_options(*, table: bool = False) -> tuple[Option, ...]:
    """The declared options (with ``table``: those of a table in memory)."""
    return tuple(o for o in OPTIONS if not (table and o.file_only))


def option_by_name(name: str) -> Option:
    """The declared option ``name`` (:class:`KeyError` if there is none)."""
    for o in OPTIONS:
        if o.name == name:
            return o
    raise KeyError(name)


def options_doc(*, table: bool = False, indent: str = "    ") -> str:
    """The options as numpydoc ``Parameters`` entries (for the readers' docstrings)."""
    lines = []
    for o in declared_options(table=table):
        lines.append(f"{indent}{o.name} : default {o.default!r}")
        lines.append(f"{indent}    {o.help}")
    return "\n".join(lines)


def with_options_signature(func: Callable[..., Any], *, table: bool = False,
                           annotations: Mapping[str, Any] | None = None) -> None:
    """Show the options as keyword parameters in ``func``'s signature (it takes them as
    ``**options``), so that ``help()`` and ``inspect.signature`` list them, and replace the
    ``{options}`` line of its docstring with their descriptions.

    Parameters
    ----------
    func
        A function taking ``**options``.
    table
        Only the options of a table in memory.
    annotations
        Wider types ``func`` takes for some options (``items`` as a DataFrame).
    """
    wider = dict(annotations or {})
    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default,
                                 annotation=wider.get(o.name, o.annotation))
               for o in declared_options(table=table)]
    target: Any = func  # a function object takes these attributes
    target.__signature__ = sig.replace(parameters=params)
    if func.__doc__:
        lines = func.__doc__.split("\n")
        for k, line in enumerate(lines):
            if line.strip() == "{options}":
                indent = line[:len(line) - len(line.lstrip())]
                lines[k] = options_doc(table=table, indent=indent)
        target.__doc__ = "\n".join(lines)
