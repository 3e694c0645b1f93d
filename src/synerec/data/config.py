"""A data-set config file: how to read one export, written once and shared by a team.

A TOML file with a ``[data]`` table: ``path``, ``name`` and the reading options of
:class:`~synerec.data.options.ReadOptions`, whose names the command-line flags (``--user-col``
is ``user_col``) and the Python keywords share, with the same defaults (an empty column name
is none: ``time_col = ""`` reads no time)::

    # shop.toml
    [data]
    path = "exports/orders.csv.gz"     # relative to this file
    name = "acme-shop"
    user_col = "customer_email"
    item_col = "sku"
    weight_col = "quantity"            # implicit feedback: quantity = confidence
    time_col = "ordered_at"
    title_col = "product_name"
    category_col = "category"
    items = "exports/products.csv"     # optional separate catalogue
    duplicates = "sum"
    on_bad_rows = "skip"
    id_case = { user = "lower" }       # or "upper" for both kinds of ids
    where = ["quantity > 0", "status == paid"]

``synerec fit --config shop.toml --model item-cf --out m/`` reads it (any flag given beside it
wins), and so do :func:`load_dataset` (``load_dataset("shop.toml")``) and
:meth:`DatasetConfig.load`. The same model holds the options of a file read from flags, so a
saved model can say exactly how its data were read (:attr:`InteractionDataset.source`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field, model_validator

from synerec.data.options import RENAMED, ReadOptions, declared_options
from synerec.exceptions import ConfigError, DatasetNotFoundError

__all__ = ["DatasetConfig", "read_config_file"]


class DatasetConfig(ReadOptions):
    """How to read an interaction file: its ``path``, a ``name``, and the reading options of
    :class:`~synerec.data.options.ReadOptions` (each optional, with the reader's defaults).

    The keys are the options' names, which are the command-line flags' (``time_col`` is
    ``--time-col``); see :class:`~synerec.data.options.ReadOptions` for what each one does.
    """

    path: str = Field(description="The interaction file (CSV, TSV, Parquet, JSON lines; "
                                  "optionally gzipped).")
    name: str | None = Field(None, description="Data set name (default: the file name).")

    @model_validator(mode="before")
    @classmethod
    def _canonical(cls, values: Any) -> Any:
        # rating_scale=None (Python: the rating column holds implicit weights) is written as
        # that column for weights, so that a config never holds None there: a source saved
        # before the options were declared once wrote None for the inferred scale.
        if not isinstance(values, Mapping) or "rating_scale" not in values \
                or values["rating_scale"] is not None or values.get("implicit") is False:
            return values
        values = dict(values)
        if values.get("weight_col") is None and values.get("implicit") is None \
                and values.get("rating_col", "rating") is not None:
            values["weight_col"] = values.get("rating_col", "rating")
            values["rating_col"] = None
        values["rating_scale"] = "infer"  # implicit feedback: no scale either way
        return values

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> DatasetConfig:
        """Read a config file; relative paths in it are taken from the file's folder."""
        return read_config_file(path)

    @classmethod
    def from_reader_options(cls, path: str | os.PathLike[str], **options: Any) -> DatasetConfig:
        """The config of ``read_interactions(path, **options)`` (absolute paths).

        Raises
        ------
        ConfigError
            An option a config cannot hold (a catalogue given as a DataFrame), or an invalid
            value.
        """
        values: dict[str, Any] = {"path": str(Path(path).resolve())}
        for key, value in options.items():
            key = RENAMED.get(key, key)  # read_interactions has warned about the old name
            if key == "items" and value is not None:
                if not isinstance(value, (str, os.PathLike)):
                    raise ConfigError("a catalogue table cannot be kept in a data-set config")
                value = str(Path(value).resolve())
            values[key] = value
        if values.get("rating_col", "rating") is None and values.get("weight_col") is None \
                and values.get("implicit") is None:
            values["implicit"] = True  # unary implicit feedback, said so
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_saved(cls, values: Mapping[str, Any]) -> DatasetConfig:
        """A config as a saved data source holds it (:func:`~synerec.data.load_source`).

        Sources saved before the reading options were declared once wrote ``None`` for
        ``rating_col``, ``time_col`` and ``rating_scale`` left at their defaults; they are
        recognised by ``rating_scale: None``, which a config no longer holds, and read as
        then (the ``rating`` column, a ``timestamp`` column when present, an inferred scale).
        A rating column of ``None`` beside a declared scale is read as ``rating`` too (it
        would be an error otherwise).
        """
        values = dict(values)
        legacy = "rating_scale" in values and values["rating_scale"] is None
        if legacy:
            values["rating_scale"] = "infer"
            if values.get("time_col") is None:
                values["time_col"] = "timestamp"
        if (legacy or isinstance(values.get("rating_scale"), (list, tuple))) \
                and "rating_col" in values and values["rating_col"] is None \
                and values.get("weight_col") is None and values.get("implicit") is None:
            values["rating_col"] = "rating"
        return cls.model_validate(values)

    def resolved(self, base: str | os.PathLike[str]) -> DatasetConfig:
        """The same config with ``path`` and the options that are files (``items``) made
        absolute from folder ``base``."""
        root = Path(base)
        update: dict[str, Any] = {}
        for key in ("path", *(o.name for o in declared_options() if o.info.path)):
            value = getattr(self, key)
            if value is not None:
                update[key] = str((root / Path(value).expanduser()).resolve())
        return self.model_copy(update=update)

    def reader_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`synerec.data.read_interactions`."""
        return {**self.keywords(), "name": self.name}

    def load(self) -> Any:
        """Read the data set (:class:`~synerec.data.InteractionDataset`), remembering this
        config as its :attr:`~synerec.data.InteractionDataset.source`."""
        from synerec.data.readers import read_with_options

        path = Path(self.path)
        if not path.exists():
            raise DatasetNotFoundError(f"no data set file {self.path!r}")
        data = read_with_options(path, self, name=self.name)
        data.source = {"config": self.resolved(Path.cwd()).model_dump(mode="json")}
        return data

    def to_toml(self) -> str:
        """The config as the text of a ``[data]`` table (defaults left out; a column option
        of ``None`` as an empty name)."""
        values = self.model_dump(mode="json", exclude_defaults=True)
        lines = ["[data]"]
        for key in KEYS:
            if key not in values:
                continue
            value = values[key]
            if value is None:
                if key not in _COLUMN_KEYS:
                    continue  # TOML has no null; the others' None is their default
                value = ""
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


#: The keys of a ``[data]`` table, in the order a config file is written.
KEYS: tuple[str, ...] = ("path", "name", *(o.name for o in declared_options()))
#: The options that name a column (an empty name: none).
_COLUMN_KEYS = frozenset(name for name in KEYS if name.endswith("_col"))


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def read_config_file(path: str | os.PathLike[str]) -> DatasetConfig:
    """Read a TOML data-set config file (see the module docstring).

    Raises
    ------
    ConfigError
        An unreadable file, no ``[data]`` table, an unknown key (named) or an invalid value.
    DatasetNotFoundError
        The file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"no data-set config file {str(path)!r}")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    table = doc.get("data")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no [data] table (it holds path, user_col, item_col, ...)")
    try:
        config = DatasetConfig.model_validate(table)
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "data"
            if err["type"] == "extra_forbidden":
                known = ", ".join(KEYS)
                problems.append(f"unknown key {key!r} (keys: {known})")
            elif err["type"] == "missing":
                problems.append(f"{key!r} is required")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{path}: [data] " + "; ".join(problems)) from None
    return config.resolved(path.parent)
