"""The reading options are declared once (ReadOptions) and every surface is derived from it:
the reader's keywords, from_dataframe's keywords, the config file's keys, the command's flags."""

from __future__ import annotations

import inspect
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from synerec.cli.data_options import _FLAGS, DataOptions, data_options
from synerec.data import (
    DatasetConfig,
    InteractionDataset,
    load_dataset,
    load_source,
    read_config_file,
    read_interactions,
)
from synerec.data.options import OPTIONS, ReadOptions, declared_options
from synerec.exceptions import ConfigError

NAMES = list(ReadOptions.model_fields)
FILE_ONLY = {"format", "encoding", "items"}

#: A value other than the default for every declared option, as a config file writes it.
EVERY_KEY: dict[str, Any] = {
    "user_col": "customer", "item_col": "sku", "rating_col": "stars", "weight_col": "qty",
    "time_col": "ts", "title_col": "name", "category_col": "cat", "description_col": "about",
    "items": "products.csv", "implicit": True, "rating_scale": "infer", "duplicates": "max",
    "where": ["qty > 0"], "id_case": {"user": "lower", "item": "keep"}, "on_bad_rows": "skip",
    "format": "csv", "encoding": "latin-1",
}


def _orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("customer,sku,qty,ts,name,cat,about,stars\n"
                    "A,s1,2,1700000000,Mug,Kitchen,A mug,4\n"
                    "b,s2,1,1700000100,Tray,Kitchen,A tray,5\n"
                    "a,s2,3,1700000200,Tray,Kitchen,A tray,3\n", encoding="latin-1")
    (tmp_path / "products.csv").write_text("item_id,title\ns1,Big mug\ns3,Vase\n",
                                           encoding="utf-8")
    return path


def _keyword_only(func: Any) -> dict[str, Any]:
    return {p.name: p.default for p in inspect.signature(func).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


# -- one declaration ------------------------------------------------------------------------------
def test_the_declaration_lists_every_option_once_with_help() -> None:
    assert [o.name for o in OPTIONS] == NAMES
    assert len(set(NAMES)) == len(NAMES)
    assert set(EVERY_KEY) == set(NAMES)  # this test covers every option
    for o in OPTIONS:
        assert o.help, o.name
        assert o.default == ReadOptions.model_fields[o.name].default


def test_reader_keywords_are_the_declared_options() -> None:
    keywords = _keyword_only(read_interactions)
    assert keywords.pop("name") is None
    assert keywords == {o.name: o.default for o in OPTIONS}


def test_from_dataframe_keywords_are_the_table_options() -> None:
    keywords = _keyword_only(InteractionDataset.from_dataframe)
    table_options = {o.name: o.default for o in declared_options(table=True)}
    assert {k: v for k, v in keywords.items() if k in table_options} == table_options
    assert set(NAMES) - set(table_options) == FILE_ONLY
    # its own parameters: a catalogue table (not a file), where the rows came from, ...
    assert set(keywords) - set(table_options) == {"items", "users", "name", "path",
                                                 "first_line", "lines", "keep_all_items",
                                                 "bad_rows"}


def test_config_keys_are_the_declared_options() -> None:
    # besides the options: the file, a name, and the tables and joins of a multi-table export
    assert set(DatasetConfig.model_fields) == {"path", "name", "tables", "joins", *NAMES}
    for name in NAMES:  # the same defaults: no translation between config and reader
        assert DatasetConfig.model_fields[name].default == ReadOptions.model_fields[name].default
    assert DatasetConfig(path="x.csv").reader_options() == {
        **{o.name: o.default for o in OPTIONS}, "name": None}


def test_a_config_with_every_key_round_trips(tmp_path: Path) -> None:
    path = _orders(tmp_path)
    lines = ["[data]", f'path = "{path.name}"', 'name = "acme"']
    lines += [f"{key} = {_toml(value)}" for key, value in EVERY_KEY.items()]
    cfg = tmp_path / "shop.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = read_config_file(cfg)
    assert tomllib.loads(cfg.read_text())["data"].keys() == {"path", "name", *NAMES}
    back = tmp_path / "back.toml"
    back.write_text(config.to_toml(), encoding="utf-8")
    assert read_config_file(back) == config
    data = config.load()
    assert data.name == "acme" and data.implicit and data.n_users == 2  # a and A: one user
    assert data.item_info.loc["s1", "title"] == "Big mug" and "s3" in data.items
    assert data.timestamps is not None
    assert DatasetConfig.model_validate(data.source["config"]) == config


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return f'"{value}"'


def test_cli_flags_are_the_declared_options() -> None:
    reading = _FLAGS[2:]
    assert [name for name, _, _ in _FLAGS[:2]] == ["dataset", "config"]
    assert [name for name, _, _ in reading] == [o.parameter for o in OPTIONS]
    decls = [[option.default, *option.param_decls] for _, _, option in reading]
    assert decls == [[o.flags] for o in OPTIONS]
    assert {o.flag for o in OPTIONS} == {"--" + n.replace("_", "-") for n in NAMES
                                         if n not in ("format",)} | {"--input-format"}
    for (_, _, option), o in zip(reading, OPTIONS, strict=True):
        assert option.help == o.help


def test_every_flag_reaches_the_config(tmp_path: Path) -> None:
    """A command given every reading flag receives every option, by its declared name."""
    path = _orders(tmp_path)
    app = typer.Typer()
    seen: dict[str, DataOptions] = {}

    @app.command()
    @data_options(default=None)
    def read(data: DataOptions, format: str = "table") -> None:  # its own --format
        seen["data"] = data

    flags = {"user_col": "customer", "item_col": "sku", "rating_col": "stars",
             "weight_col": "qty", "time_col": "ts", "title_col": "name", "category_col": "cat",
             "description_col": "about", "items": str(tmp_path / "products.csv"),
             "rating_scale": "infer", "duplicates": "max", "where": "qty > 0",
             "id_case": "user=lower", "on_bad_rows": "skip", "format": "csv",
             "encoding": "latin-1"}
    args = ["--data", str(path), "--implicit", "--format", "json"]
    for o in OPTIONS:
        if o.name in flags:
            args += [o.flag, flags[o.name]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = seen["data"]
    assert set(data.reading) == set(NAMES)
    config = data.dataset_config()
    assert config.time_col == "ts" and config.format == "csv" and config.implicit is True
    assert config.id_case == {"user": "lower", "item": "keep"} and config.where == ("qty > 0",)
    assert len(config.load()) == 3


# -- one name per column ----------------------------------------------------------------------
def test_timestamp_col_is_an_old_name_that_warns_and_works(tmp_path: Path) -> None:
    path = _orders(tmp_path)
    with pytest.warns(DeprecationWarning, match="timestamp_col= is deprecated: use time_col="):
        old = read_interactions(path, user_col="customer", item_col="sku", weight_col="qty",
                                timestamp_col="ts", encoding="latin-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = read_interactions(path, user_col="customer", item_col="sku", weight_col="qty",
                                time_col="ts", encoding="latin-1")
    np.testing.assert_array_equal(old.timestamps, new.timestamps)
    df = pd.read_csv(path, encoding="latin-1")
    with pytest.warns(DeprecationWarning, match="timestamp_col"):
        table = InteractionDataset.from_dataframe(df, user_col="customer", item_col="sku",
                                                  implicit=True, timestamp_col=None)
    assert table.timestamps is None
    with pytest.raises(TypeError, match="time_col= and its old name timestamp_col="):
        InteractionDataset.from_dataframe(df, time_col="ts", timestamp_col="ts")
    with pytest.warns(DeprecationWarning):
        data = load_dataset(str(path), user_col="customer", item_col="sku", implicit=True,
                            timestamp_col="ts", encoding="latin-1")
    assert data.source["config"]["time_col"] == "ts"


def test_an_unknown_keyword_is_a_type_error(tmp_path: Path) -> None:
    path = _orders(tmp_path)
    with pytest.raises(TypeError, match="read_interactions\\(\\) got an unexpected keyword "
                                        "argument 'user_column'"):
        read_interactions(path, user_column="customer")
    with pytest.raises(TypeError, match="'encoding'"):  # an option of files only
        InteractionDataset.from_dataframe(pd.DataFrame({"user_id": [1], "item_id": [2]}),
                                          encoding="utf-8")


# -- one default per option ---------------------------------------------------------------------
def test_one_default_rating_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,rating\nu1,i1,4\nu2,i1,2\nu1,i2,5\n", encoding="utf-8")
    cfg = tmp_path / "r.toml"
    cfg.write_text('[data]\npath = "r.csv"\n', encoding="utf-8")
    by_config = read_config_file(cfg).load()
    by_python = read_interactions(path)
    assert not by_config.implicit and by_config.rating_scale == by_python.rating_scale
    np.testing.assert_array_equal(by_config.matrix.toarray(), by_python.matrix.toarray())
    explicit = DatasetConfig(path=str(path), implicit=False).load()  # the rating column
    assert explicit.rating_scale == (2.0, 5.0)


def test_an_empty_column_name_in_a_config_is_none(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,rating,timestamp\nu1,i1,4,1\nu2,i1,2,2\n",
                    encoding="utf-8")
    config = DatasetConfig.from_reader_options(path, rating_col=None, time_col=None)
    assert config.rating_col is None and config.time_col is None and config.implicit
    back = tmp_path / "back.toml"
    back.write_text(config.to_toml(), encoding="utf-8")
    assert 'time_col = ""' in back.read_text() and read_config_file(back) == config
    data = config.load()
    assert data.implicit and data.timestamps is None and data.values.tolist() == [1.0, 1.0]


def test_rating_scale_none_is_kept_as_a_weight_column(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("user_id,item_id,qty\nu1,i1,3\nu2,i1,2\n", encoding="utf-8")
    direct = load_dataset(str(path), rating_col="qty", rating_scale=None)
    config = direct.source["config"]
    assert config["weight_col"] == "qty" and config["rating_scale"] == "infer"
    again = load_source(direct.source)
    np.testing.assert_array_equal(again.matrix.toarray(), direct.matrix.toarray())
    assert again.implicit


def test_a_source_saved_before_reads_as_then(tmp_path: Path) -> None:
    """Sources saved before wrote None for the default rating column, time and scale."""
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,rating,timestamp\nu1,i1,4,10\nu2,i1,2,20\nu1,i2,5,30\n",
                    encoding="utf-8")
    old = {"path": str(path), "name": None, "format": None, "user_col": "user_id",
           "item_col": "item_id", "rating_col": None, "weight_col": None, "time_col": None,
           "title_col": None, "category_col": None, "description_col": None, "items": None,
           "implicit": None, "rating_scale": None, "duplicates": None, "where": [],
           "id_case": "keep", "on_bad_rows": "error", "encoding": "utf-8"}
    config = DatasetConfig.from_saved(old)
    assert (config.rating_col, config.time_col, config.rating_scale) == (
        "rating", "timestamp", "infer")
    data = load_source({"config": old})
    assert not data.implicit and data.timestamps.tolist() == [10, 20, 30]
    scaled = DatasetConfig.from_saved({**old, "rating_scale": [1, 5]})
    assert scaled.rating_col == "rating" and scaled.rating_scale == (1.0, 5.0)


def test_invalid_config_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="id_case must be keep, lower or upper"):
        DatasetConfig.from_reader_options(tmp_path / "x.csv", id_case="title")
