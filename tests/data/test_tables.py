"""An export of several tables read from one config: joins counted, nothing dropped in silence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synerec.data import (
    DatasetConfig,
    load_dataset,
    load_source,
    profile,
    read_config_file,
)
from synerec.exceptions import BadRowsError, ConfigError, DataFormatError
from tests.data.marketplace import Marketplace, write_marketplace


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Marketplace:
    return write_marketplace(tmp_path_factory.mktemp("marketplace"))


def _config(shop: Marketplace, tmp_path: Path, **replace: str) -> Path:
    """The fixture's config with some ``[data]`` lines replaced (``key=None`` drops one)."""
    lines = []
    for line in shop.config.read_text(encoding="utf-8").splitlines():
        key = line.split("=")[0].strip()
        if key in replace and not line.startswith(" "):
            if replace[key] is not None:
                lines.append(f"{key} = {replace[key]}")
            continue
        lines.append(line)
    path = shop.folder / f"{tmp_path.name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the marketplace fixture ----------------------------------------------------------------------
def test_the_export_is_read_in_one_call_with_every_join_counted(shop: Marketplace) -> None:
    data = load_dataset(str(shop.config))
    report = data.report
    assert report is not None
    assert report.source == str(shop.order_items)
    assert report.rows_read == shop.n_lines - len(shop.cut_lines)
    joins = {j.left: j for j in report.joins}
    orders = joins["order_items.order_id"]
    assert (orders.right, orders.rows, orders.not_found, orders.empty, orders.needed) == (
        "orders.order_id", report.rows_read, 2, 0, True)
    assert orders.examples == list(zip(shop.orphan_orders, shop.orphan_lines, strict=True))
    assert orders.unused >= shop.orders_without_lines  # the unavailable orders have no lines
    customers = joins["orders.customer_id"]
    assert (customers.rows, customers.matched, customers.unused) == (shop.n_orders,) * 2 + (0,)
    products = joins["order_items.product_id"]
    assert products.not_found == 1 and not products.needed  # kept, without a category
    assert products.examples == [(shop.unknown_product, shop.unknown_product_line)]
    translation = joins["products.product_category_name"]
    assert (translation.rows, translation.not_found, translation.empty) == (
        shop.n_products, shop.products_untranslated, shop.products_without_category)
    assert {k for k, _ in translation.examples} == {
        "pc_gamer", "portateis_cozinha_e_preparadores_de_alimentos"}
    # the bad rows: the lines cut short and the lines of orders the orders table lacks
    assert report.bad_rows.counts() == {
        "expected 7 fields, found 3 (no seller_id, shipping_limit_date, price, "
        "freight_value)": 3,
        "not found in orders.order_id in column 'order_items.order_id'": 2}
    skipped = {r["problem"]: r["lines"] for r in report.to_dict()["bad_rows"]}
    assert skipped["not found in orders.order_id"] == shop.orphan_lines
    assert sorted(line for lines in skipped.values() for line in lines) == sorted(
        shop.cut_lines + shop.orphan_lines)
    assert list(report.filtered) == ["orders.order_status !~ ^(canceled|unavailable)$"]
    assert report.filtered["orders.order_status !~ ^(canceled|unavailable)$"] > 0
    text = "\n".join(report.lines())
    assert "join order_items.order_id -> orders.order_id: " in text and "(bad rows)" in text
    assert "(kept without its columns)" in text
    assert json.loads(json.dumps(report.to_dict()))["joins"][0]["left"] == \
        "order_items.order_id"


def test_the_person_is_the_user_and_the_products_are_the_catalogue(shop: Marketplace) -> None:
    data = read_config_file(shop.config).load()
    ids = data.users.ids
    assert all(len(u) == 32 for u in ids[:50]) and data.n_users <= shop.n_persons
    assert data.implicit and data.timestamps is not None
    # every product of the catalogue (never bought too) and the one only a line names
    assert data.n_items == shop.n_products + 1
    info = data.item_info
    assert info.loc[shop.unknown_product, "category"] == ""
    categories = set(info["category"]) - {""}
    assert "watches_gifts" in categories and "relogios_presentes" not in categories
    p = profile(data)
    assert p.single_order_share == pytest.approx(0.96, abs=0.01)
    assert "one-per-order" not in p.warning_codes
    assert {"few-repeat-users", "cold-split"} <= set(p.warning_codes)
    assert p.items_never_interacted > shop.n_products // 3  # a third never bought, and more


def test_the_per_order_id_triggers_the_one_per_order_warning(shop: Marketplace,
                                                             tmp_path: Path) -> None:
    config = _config(shop, tmp_path, user_col='"orders.customer_id"')
    data = load_dataset(str(config))
    p = profile(data)
    assert p.single_order_share == 1.0 and data.n_users > 0.95 * shop.n_orders
    (w,) = [w for w in p.warnings if w.code == "one-per-order"]
    assert w.message.startswith(f"user ids look like one id per order: {p.users:,} users, "
                                "100% with a single order")
    assert "join the customers table to get the person's id" in w.message


def test_with_the_default_policy_the_first_bad_line_is_named(shop: Marketplace,
                                                             tmp_path: Path) -> None:
    config = _config(shop, tmp_path, on_bad_rows=None)
    with pytest.raises(BadRowsError) as exc:
        load_dataset(str(config))
    err = exc.value
    first = min(shop.cut_lines + shop.orphan_lines)
    assert (err.path, err.line) == (str(shop.order_items), first)
    assert "5 bad rows in all" in str(err) and "\n" not in str(err)


def test_the_source_reads_the_tables_again(shop: Marketplace) -> None:
    data = load_dataset(str(shop.config))
    assert data.source is not None and data.source["config"]["tables"]
    again = load_source(json.loads(json.dumps(data.source)))
    assert (again.n_users, again.n_items, again.n_interactions) == (
        data.n_users, data.n_items, data.n_interactions)


def test_a_config_dumped_and_validated_again_as_the_command_line_does(shop: Marketplace
                                                                       ) -> None:
    base = read_config_file(shop.config).model_dump()
    config = DatasetConfig.model_validate({**base, "where": ("orders.order_status == canceled",)})
    data = config.load()
    assert 0 < data.n_interactions < 200  # the canceled orders' lines only
    toml = read_config_file(shop.config).to_toml()
    assert "[tables.orders]" in toml and "[[joins]]" in toml and "\npath =" not in \
        toml.split("[tables")[0]


# -- small hand-made exports ----------------------------------------------------------------------
def _export(tmp_path: Path, *, lines: str | None = None, orders: str | None = None,
            customers: str | None = None, data: str = "", joins: str | None = None) -> Path:
    (tmp_path / "lines.csv").write_text(lines or (
        "order_id,sku\n"
        "o1,A\n"       # line 2
        "o1,B\n"       # line 3
        "o2,A\n"       # line 4
        "o3,C\n"), encoding="utf-8")  # line 5
    (tmp_path / "orders.csv").write_text(orders or (
        "order_id,customer_id,status\n"
        "o1,c1,paid\n"
        "o2,c2,paid\n"
        "o3,c3,paid\n"), encoding="utf-8")
    (tmp_path / "customers.csv").write_text(customers or (
        "customer_id,person\n"
        "c1,ann\n"
        "c2,bob\n"
        "c3,ann\n"), encoding="utf-8")
    (tmp_path / "products.csv").write_text("sku,name\nA,Mug\nB,Teapot\nZ,Tray\n",
                                           encoding="utf-8")
    config = tmp_path / "shop.toml"
    config.write_text(
        "[data]\n" + (data or 'user_col = "customers.person"\nitem_col = "lines.sku"\n'
                      'title_col = "products.name"\nimplicit = true\n')
        + "[tables.lines]\npath = \"lines.csv\"\n[tables.orders]\npath = \"orders.csv\"\n"
        "[tables.customers]\npath = \"customers.csv\"\n[tables.products]\n"
        "path = \"products.csv\"\n"
        + (joins if joins is not None else
           '[[joins]]\nleft = "lines.order_id"\nright = "orders.order_id"\n'
           '[[joins]]\nleft = "orders.customer_id"\nright = "customers.customer_id"\n'
           '[[joins]]\nleft = "lines.sku"\nright = "products.sku"\n'), encoding="utf-8")
    return config


def test_a_small_export_joined(tmp_path: Path) -> None:
    data = load_dataset(str(_export(tmp_path)))
    assert sorted(data.users.ids.tolist()) == ["ann", "bob"]
    assert data.n_interactions == 4
    assert data.item_info.loc["A", "title"] == "Mug"
    assert "Z" in data.items and data.item_info.loc["Z", "title"] == "Tray"  # never bought
    assert data.item_info.loc["C", "title"] == ""                            # not in products
    assert data.matrix[data.users.index("ann"), data.items.index("C")] == 1.0


def test_a_chained_lookup_that_fails_names_the_column_of_the_failed_join(tmp_path: Path
                                                                         ) -> None:
    config = _export(tmp_path, customers="customer_id,person\nc1,ann\nc2,bob\n")
    with pytest.raises(BadRowsError) as exc:
        load_dataset(str(config))
    assert str(exc.value) == (f"{tmp_path / 'lines.csv'}, line 5, column 'orders.customer_id': "
                              "not found in customers.customer_id: 'c3'")


def test_a_repeated_key_in_a_looked_up_table_is_its_bad_row(tmp_path: Path) -> None:
    orders = "order_id,customer_id,status\no1,c1,paid\no2,c2,paid\no3,c3,paid\no2,c9,paid\n"
    config = _export(tmp_path, orders=orders)
    with pytest.raises(BadRowsError) as exc:
        load_dataset(str(config))
    assert str(exc.value).startswith(
        f"{tmp_path / 'orders.csv'}, line 5, column 'order_id': repeated key (a looked-up "
        "table has one row per key; the first is used): 'o2 (first on line 3)'")
    text = config.read_text(encoding="utf-8").replace("implicit = true",
                                                      'implicit = true\non_bad_rows = "skip"')
    config.write_text(text, encoding="utf-8")
    data = load_dataset(str(config))
    assert data.matrix[data.users.index("bob"), data.items.index("A")] == 1.0  # the first o2
    (orders_read,) = [t for t in data.report.tables if t.name == "orders"]
    assert orders_read.bad_rows.n_bad_rows == 1
    assert "table orders (orders.csv): 4 rows, 1 bad row skipped:" in "\n".join(
        data.report.lines())
    (customers,) = [j for j in data.report.joins if j.left == "orders.customer_id"]
    assert (customers.rows, customers.not_found) == (3, 0)  # the repeated row looks nothing up


def test_a_line_cut_in_a_looked_up_table(tmp_path: Path) -> None:
    orders = "order_id,customer_id,status\no1,c1,paid\no2,c2\no3,c3,paid\n"
    config = _export(tmp_path, orders=orders)
    with pytest.raises(BadRowsError) as exc:
        load_dataset(str(config))
    assert str(exc.value) == (f"{tmp_path / 'orders.csv'}, line 3: expected 3 fields, found 2 "
                              "(no status): 'o2,c2'")


def test_a_join_that_brings_only_text_keeps_its_rows(tmp_path: Path) -> None:
    lines = "order_id,sku\no1,A\no1,Q\no2,A\n"
    data = load_dataset(str(_export(tmp_path, lines=lines)))
    assert data.n_interactions == 3 and "Q" in data.items
    (join,) = [j for j in data.report.joins if j.left == "lines.sku"]
    assert (join.not_found, join.needed, join.examples) == (1, False, [("Q", 3)])


def test_unqualified_and_ambiguous_column_names(tmp_path: Path) -> None:
    config = _export(tmp_path, data='user_col = "person"\nitem_col = "lines.sku"\n'
                                    'where = ["status == paid"]\nimplicit = true\n')
    data = load_dataset(str(config))
    assert sorted(data.users.ids.tolist()) == ["ann", "bob"]
    assert data.report.filtered == {"status == paid": 0}
    config = _export(tmp_path, data='user_col = "person"\nitem_col = "sku"\nimplicit = true\n')
    with pytest.raises(ConfigError, match=r"item_col 'sku' is a column of several tables: write "
                                          r"lines\.sku or products\.sku"):
        load_dataset(str(config))
    config = _export(tmp_path, data='user_col = "customers.email"\nitem_col = "lines.sku"\n'
                                    'implicit = true\n')
    with pytest.raises(ConfigError, match="table customers has no column 'email'; its columns "
                                          r"are \['customer_id', 'person'\]"):
        load_dataset(str(config))
    config = _export(tmp_path, data='user_col = "customers.person"\nitem_col = "lines.sku"\n')
    with pytest.raises(ConfigError, match="no table has a 'rating' column"):
        load_dataset(str(config))


@pytest.mark.parametrize(("joins", "message"), [
    ('[[joins]]\nleft = "lines.order_id"\nright = "orderz.order_id"\n',
     "a join's right 'orderz.order_id' names no declared table"),
    ('[[joins]]\nleft = "lines.order_id"\nright = "orders.order_id"\n',
     "here lines, customers, products are not looked up"),
    ('[[joins]]\nleft = "lines.order_id"\nright = "orders.order_id"\n'
     '[[joins]]\nleft = "lines.x"\nright = "orders.x"\n',
     "table 'orders' is looked up by two joins"),
    ('[[joins]]\nleft = "lines.order_id"\nright = "orders"\n', "write table.column"),
])
def test_structure_errors_say_what_to_fix(tmp_path: Path, joins: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_config_file(_export(tmp_path, joins=joins))


def test_keys_that_belong_elsewhere(tmp_path: Path) -> None:
    config = _export(tmp_path)
    text = config.read_text(encoding="utf-8")
    for extra, message in [('path = "orders.csv"\n', "leave path out"),
                           ('format = "csv"\n', "give each table's format in its table"),
                           ('items = "products.csv"\n', "the catalogue is a table joined")]:
        config.write_text(text.replace("[data]\n", "[data]\n" + extra), encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            read_config_file(config)
    config.write_text(text.replace("[data]\n", '[data]\npath = "lines.csv"\n'),
                      encoding="utf-8")
    assert read_config_file(config).path == str(tmp_path / "lines.csv")  # the same: fine
    config.write_text(text + "[extra]\nx = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown table"):
        read_config_file(config)


def test_a_missing_table_file(tmp_path: Path) -> None:
    config = _export(tmp_path)
    (tmp_path / "customers.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"customers\.csv"):
        load_dataset(str(config))


def test_to_toml_round_trips(tmp_path: Path) -> None:
    config = read_config_file(_export(tmp_path))
    again = tmp_path / "again.toml"
    again.write_text(config.to_toml(), encoding="utf-8")
    assert read_config_file(again) == config
    data = again_data = load_dataset(str(again))
    assert np.array_equal(data.matrix.toarray(), again_data.matrix.toarray())


def test_a_parquet_table_is_named_by_its_rows(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pandas as pd

    config = _export(tmp_path)
    pd.DataFrame({"customer_id": ["c1", "c2"], "person": ["ann", "bob"]}).to_parquet(
        tmp_path / "customers.parquet", index=False)
    config.write_text(config.read_text(encoding="utf-8").replace("customers.csv",
                                                                 "customers.parquet"),
                      encoding="utf-8")
    with pytest.raises(DataFormatError) as exc:
        load_dataset(str(config))
    assert "not found in customers.customer_id: 'c3'" in str(exc.value)
