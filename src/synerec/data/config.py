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

An export of several tables
---------------------------
A marketplace exports its orders as several tables: order lines, orders (with a customer id
per *order*), customers (that id -> the person's id), products, a category translation. The
config declares each table (``[tables.NAME]``: its ``path``, optionally ``format`` and
``encoding``) and each join (``[[joins]]``: ``left = "table.column"`` looks up
``right = "table.column"``, a many-to-one lookup), and the options of ``[data]`` name the
columns as ``table.column`` (a name that only one table has may go without its table)::

    # marketplace.toml
    [data]
    name = "marketplace"
    user_col = "customers.customer_unique_id"   # the person, not the per-order customer_id
    item_col = "order_items.product_id"
    time_col = "orders.order_purchase_timestamp"
    category_col = "category_translation.product_category_name_english"
    implicit = true                              # every line a purchase
    where = ["orders.order_status != canceled"]
    on_bad_rows = "skip"

    [tables.order_items]                         # the rows: the table no join looks up
    path = "order_items.csv"
    [tables.orders]
    path = "orders.csv"
    [tables.customers]
    path = "customers.csv"
    [tables.products]
    path = "products.csv"
    [tables.category_translation]
    path = "category_translation.csv"

    [[joins]]
    left = "order_items.order_id"                # each line finds its order,
    right = "orders.order_id"
    [[joins]]
    left = "orders.customer_id"                  # each order its customer,
    right = "customers.customer_id"
    [[joins]]
    left = "order_items.product_id"              # each line its product,
    right = "products.product_id"
    [[joins]]
    left = "products.product_category_name"      # each product its English category
    right = "category_translation.product_category_name"

The rows are those of the one table that no join looks up (the order lines); every other
table is looked up by exactly one join, from a table already joined. A looked-up table's key
must be unique: a repeated key is a bad row of that table. The table joined on the item column
(products) is the catalogue: its items join the vocabulary even when nobody bought them, and
the text columns it (or a table it looks up) holds come from it. A row whose lookup fails is
reported, never dropped in silence (:mod:`synerec.data.tables`): where the row needs a column
that the failed join brings (the user, the item, the time, the value, a filter's column), it is
a bad row (``on_bad_rows``: an error naming the file, line and key, or skipped and counted);
where the join only brings text (a category), the row is kept without it; either way the read
report counts each join's rows, matched and not, with the first keys not found.
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
from synerec.data.tables import JoinSpec, TableSpec, join_order, read_tables
from synerec.exceptions import ConfigError, DatasetNotFoundError

__all__ = ["DatasetConfig", "JoinSpec", "TableSpec", "read_config_file"]


class DatasetConfig(ReadOptions):
    """How to read an interaction file: its ``path``, a ``name``, and the reading options of
    :class:`~synerec.data.options.ReadOptions` (each optional, with the reader's defaults).

    The keys are the options' names, which are the command-line flags' (``time_col`` is
    ``--time-col``); see :class:`~synerec.data.options.ReadOptions` for what each one does.
    """

    path: str = Field(description="The interaction file (CSV, TSV, Parquet, JSON lines; "
                                  "optionally gzipped); with tables, the rows' table's.")
    name: str | None = Field(None, description="Data set name (default: the file name).")
    tables: dict[str, TableSpec] = Field(
        default_factory=dict, description="An export of several tables: each by its name.")
    joins: tuple[JoinSpec, ...] = Field((), description="How the tables join.")

    @model_validator(mode="before")
    @classmethod
    def _rows_table(cls, values: Any) -> Any:
        # With tables, the path is the rows' table's (given or not: the same file).
        if not isinstance(values, Mapping) or not values.get("tables"):
            return values
        values = dict(values)
        tables = {name: TableSpec.model_validate(spec) if isinstance(spec, Mapping) else spec
                  for name, spec in values["tables"].items()}
        joins = [JoinSpec.model_validate(j) if isinstance(j, Mapping) else j
                 for j in values.get("joins") or ()]
        root, _ = join_order(tables, joins)
        if values.get("format") is not None:
            raise ValueError("with [tables], give each table's format in its table")
        if values.get("items") is not None:
            raise ValueError("with [tables], the catalogue is a table joined on the item "
                             "column, not items =")
        given = values.get("path")
        if given is not None and given != tables[root].path:
            raise ValueError(f"with [tables], the rows are table {root!r} ({tables[root].path}); "
                             f"leave path out (it is {given!r})")
        values["path"] = tables[root].path
        return values

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

        def absolute(value: str) -> str:
            return str((root / Path(value).expanduser()).resolve())

        update: dict[str, Any] = {}
        for key in ("path", *(o.name for o in declared_options() if o.info.path)):
            value = getattr(self, key)
            if value is not None:
                update[key] = absolute(value)
        if self.tables:
            update["tables"] = {name: spec.model_copy(update={"path": absolute(spec.path)})
                                for name, spec in self.tables.items()}
        return self.model_copy(update=update)

    @property
    def rows_table(self) -> str | None:
        """With tables, the name of the rows' table (the one no join looks up)."""
        return join_order(self.tables, self.joins)[0] if self.tables else None

    def reader_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`synerec.data.read_interactions`."""
        return {**self.keywords(), "name": self.name}

    def load(self) -> Any:
        """Read the data set (:class:`~synerec.data.InteractionDataset`), remembering this
        config as its :attr:`~synerec.data.InteractionDataset.source`."""
        from synerec.data.readers import read_with_options

        if self.tables:
            for spec in self.tables.values():
                if not Path(spec.path).exists():
                    raise DatasetNotFoundError(f"no data set file {spec.path!r}")
            data = read_tables(self)
            data.source = {"config": self.resolved(Path.cwd()).model_dump(mode="json")}
            return data
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
            if key not in values or (key == "path" and self.tables):
                continue
            value = values[key]
            if value is None:
                if key not in _COLUMN_KEYS:
                    continue  # TOML has no null; the others' None is their default
                value = ""
            lines.append(f"{key} = {_toml_value(value)}")
        for name, spec in self.tables.items():
            lines += ["", f"[tables.{name}]"]
            lines += [f"{k} = {_toml_value(v)}"
                      for k, v in spec.model_dump(mode="json", exclude_none=True).items()]
        for join in self.joins:
            lines += ["", "[[joins]]", f"left = {_toml_value(join.left)}",
                      f"right = {_toml_value(join.right)}"]
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
    extra = sorted(set(doc) - {"data", "tables", "joins"})
    if extra:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(extra)} (a config holds [data], "
                          "and for an export of several tables [tables.NAME] and [[joins]])")
    if "tables" in table or "joins" in table:
        raise ConfigError(f"{path}: [tables.NAME] and [[joins]] are tables of their own, not "
                          "keys of [data]")
    values = dict(table)
    for key in ("tables", "joins"):
        if key in doc:
            values[key] = doc[key]
    if "tables" not in values and "joins" in values:
        raise ConfigError(f"{path}: [[joins]] without [tables.NAME]: declare the tables joined")
    try:
        config = DatasetConfig.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = ".".join(loc) or "data"
            if loc and loc[0] in ("tables", "joins"):
                key = f"[{loc[0]}] " + ".".join(loc[1:])
            if err["type"] == "extra_forbidden":
                known = ", ".join(KEYS) if len(loc) == 1 else "see synerec.data.config"
                problems.append(f"unknown key {key!r} (keys: {known})")
            elif err["type"] == "missing":
                problems.append(f"{key!r} is required")
            elif not loc:  # the whole config: the tables and joins, or path beside them
                problems.append(str(err["msg"]).removeprefix("Value error, "))
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        where = "" if any(k in values for k in ("tables", "joins")) else "[data] "
        raise ConfigError(f"{path}: {where}" + "; ".join(problems)) from None
    return config.resolved(path.parent)
