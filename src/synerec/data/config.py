"""A data-set config file: how to read one export, written once and shared by a team.

A TOML file with a ``[data]`` table whose keys are the command-line flags' names (``--user-col``
is ``user_col``)::

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
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from synerec.exceptions import ConfigError, DatasetNotFoundError

__all__ = ["DatasetConfig", "read_config_file"]


class DatasetConfig(BaseModel):
    """How to read an interaction file; every field is optional but ``path``.

    Field names are the command-line flags' (``time_col`` is ``--time-col``); see
    :func:`synerec.data.read_interactions` for what each one does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="The interaction file (CSV, TSV, Parquet, JSON lines; "
                                  "optionally gzipped).")
    name: str | None = Field(None, description="Data set name (default: the file name).")
    format: Literal["csv", "tsv", "parquet", "jsonl"] | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    rating_col: str | None = None
    weight_col: str | None = None
    time_col: str | None = None
    title_col: str | None = None
    category_col: str | None = None
    description_col: str | None = None
    items: str | None = Field(None, description="A separate product catalogue file.")
    implicit: bool | None = None
    rating_scale: tuple[float, float] | None = None
    duplicates: Literal["error", "first", "last", "mean", "sum", "max"] | None = None
    where: tuple[str, ...] = ()
    id_case: (Literal["keep", "lower", "upper"]
              | dict[Literal["user", "item"], Literal["keep", "lower", "upper"]]) = "keep"
    on_bad_rows: Literal["error", "skip"] = "error"
    encoding: str = "utf-8"

    @field_validator("id_case", mode="before")
    @classmethod
    def _cases(cls, value: Any) -> Any:
        # "lower", {"user": "lower"} or the command line's "user=lower,item=upper"
        from synerec.data.dataset import parse_id_case

        if not isinstance(value, (str, dict)):
            return value
        user, item = parse_id_case(value)
        if isinstance(value, str) and "=" not in value:
            return value
        return {"user": user, "item": item}

    @field_validator("where", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

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
            An option a config cannot hold (a catalogue given as a DataFrame).
        """
        values: dict[str, Any] = {"path": str(Path(path).resolve())}
        renames = {"timestamp_col": "time_col"}
        for key, value in options.items():
            if key == "items" and value is not None and not isinstance(value, (str, os.PathLike)):
                raise ConfigError("a catalogue table cannot be kept in a data-set config")
            if key == "rating_scale" and value == "infer":
                continue
            if key == "timestamp_col" and value == "timestamp":
                continue
            if key == "items" and value is not None:
                value = str(Path(value).resolve())
            if key == "where" and value is not None:
                value = (value,) if isinstance(value, str) else tuple(value)
            values[renames.get(key, key)] = value
        if values.get("weight_col") is None and not values.get("implicit"):
            rating_col = values.get("rating_col", "rating")
            if rating_col is None:  # unary implicit feedback
                values["implicit"] = True
            elif "rating_scale" in values and values["rating_scale"] is None:
                # rating_scale=None: the rating column holds implicit weights
                values.update(weight_col=rating_col, implicit=True, rating_col=None)
            else:
                values["rating_col"] = rating_col
        if values.get("rating_scale") is None:
            values.pop("rating_scale", None)
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as exc:
            raise ConfigError(str(exc)) from None

    def resolved(self, base: str | os.PathLike[str]) -> DatasetConfig:
        """The same config with ``path`` and ``items`` made absolute from folder ``base``."""
        root = Path(base)
        update: dict[str, Any] = {"path": str((root / Path(self.path).expanduser()).resolve())}
        if self.items is not None:
            update["items"] = str((root / Path(self.items).expanduser()).resolve())
        return self.model_copy(update=update)

    def reader_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`synerec.data.read_interactions`."""
        implicit = self.implicit
        rating_col = self.rating_col
        if rating_col is None and self.weight_col is None and implicit is None:
            rating_col = "rating"  # the reader's default column, as in Python
        options: dict[str, Any] = {
            "format": self.format, "user_col": self.user_col, "item_col": self.item_col,
            "rating_col": rating_col, "timestamp_col": self.time_col or "timestamp",
            "weight_col": self.weight_col, "implicit": implicit,
            "title_col": self.title_col, "category_col": self.category_col,
            "description_col": self.description_col, "items": self.items,
            "rating_scale": self.rating_scale if self.rating_scale is not None else "infer",
            "duplicates": self.duplicates, "where": list(self.where) or None,
            "id_case": self.id_case, "on_bad_rows": self.on_bad_rows,
            "encoding": self.encoding, "name": self.name,
        }
        return options

    def load(self) -> Any:
        """Read the data set (:class:`~synerec.data.InteractionDataset`), remembering this
        config as its :attr:`~synerec.data.InteractionDataset.source`."""
        from synerec.data.readers import read_interactions

        path = Path(self.path)
        if not path.exists():
            raise DatasetNotFoundError(f"no data set file {self.path!r}")
        data = read_interactions(path, **self.reader_options())
        data.source = {"config": self.resolved(Path.cwd()).model_dump(mode="json")}
        return data

    def to_toml(self) -> str:
        """The config as the text of a ``[data]`` table (defaults left out)."""
        lines = ["[data]"]
        for key, value in self.model_dump(mode="json", exclude_defaults=True).items():
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


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
                known = ", ".join(DatasetConfig.model_fields)
                problems.append(f"unknown key {key!r} (keys: {known})")
            elif err["type"] == "missing":
                problems.append(f"{key!r} is required")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{path}: [data] " + "; ".join(problems)) from None
    return config.resolved(path.parent)
