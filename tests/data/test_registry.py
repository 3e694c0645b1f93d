"""load_dataset, dataset_info and list_datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synerec.data import registry
from synerec.data.dataset import InteractionDataset
from synerec.data.registry import DatasetInfo, dataset_info, list_datasets, load_dataset
from synerec.exceptions import DatasetNotFoundError


def _read_pairs(folder: Path, **options: object) -> InteractionDataset:
    """A tiny loader: ``pairs.csv`` with user_id,item_id."""
    from synerec.data.readers import read_interactions

    return read_interactions(folder / "pairs.csv", rating_col=None, name="toy-set", **options)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> DatasetInfo:
    """A registered data set needing two files (the registry is restored afterwards)."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    info = DatasetInfo(name="toy-set", description="two files", files=("pairs.csv", "extra.txt"),
                       loader=_read_pairs, source="https://example.org/toy")
    return registry.register_dataset(info)


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset("ml-101k")
    msg = str(exc.value)
    assert msg.startswith("unknown data set 'ml-101k'; known: ")
    for name in ("demo-shop", "ml-100k", "uci-online-retail", "amazon-2018-"):
        assert name in msg
    assert not msg.rstrip().endswith(",")


def test_missing_files_without_download_say_which_and_where(toy: DatasetInfo,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "toy-set"
    folder.mkdir()
    (folder / "extra.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset("toy-set", data_home=tmp_path, download=False)
    msg = str(exc.value)
    assert "missing pairs.csv in " + str(folder) in msg
    assert "extra.txt" not in msg  # present files are not listed
    assert "https://example.org/toy" in msg and "allow downloading" in msg
    assert not toy.is_present(tmp_path)


def test_missing_files_and_failed_download(toy: DatasetInfo, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(folder: Path) -> None:
        raise DatasetNotFoundError("could not download https://example.org/toy (offline)")

    registry.register_dataset(DatasetInfo(name="toy-set", description="", files=toy.files,
                                          loader=_read_pairs, download=failing))
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset("toy-set", data_home=tmp_path)
    msg = str(exc.value)
    assert "missing pairs.csv, extra.txt in " + str(tmp_path / "toy-set") in msg
    assert "(offline)" in msg and "SYNEREC_DATA_HOME" in msg


def test_download_then_load(toy: DatasetInfo, tmp_path: Path) -> None:
    def download(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pairs.csv").write_text("user_id,item_id\na,x\nb,x\nb,y\n", encoding="utf-8")
        (folder / "extra.txt").write_text("", encoding="utf-8")

    registry.register_dataset(DatasetInfo(name="toy-set", description="", files=toy.files,
                                          loader=_read_pairs, download=download))
    data = load_dataset("toy-set", data_home=tmp_path)
    assert data.name == "toy-set" and len(data) == 3 and data.implicit
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 0], [1, 1]])
    present = dict((info.name, ok) for info, ok in list_datasets(tmp_path))
    assert present["toy-set"] is True and present["demo-shop"] is True


def test_data_home_comes_from_the_environment(toy: DatasetInfo, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_DATA_HOME", str(tmp_path / "env-home"))
    assert toy.folder() == tmp_path / "env-home" / "toy-set"
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "env-home" / "toy-set")):
        load_dataset("toy-set", download=False)


def test_a_file_path_loads_through_read_interactions(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("user_id,item_id,rating\n7,a,4\n8,a,2\n7,b,5\n", encoding="utf-8")
    data = load_dataset(str(path), rating_scale=(1, 5))
    assert data.name == "mine.csv"
    assert data.users.ids.tolist() == ["7", "8"]
    np.testing.assert_array_equal(data.matrix.toarray(), [[4, 5], [2, 0]])


def test_family_names_resolve() -> None:
    info = dataset_info("amazon-2018-all-beauty")
    assert info.name == "amazon-2018-all-beauty" and info.files


def test_demo_shop_is_builtin_and_takes_options() -> None:
    info = dataset_info("demo-shop")
    assert info.builtin and info.files == () and info.is_present("/nonexistent/home")
    data = load_dataset("demo-shop", data_home="/nonexistent/home", n_users=30, n_items=60,
                        n_categories=4, ratings_per_user=6, random_state=3)
    assert data.name == "demo-shop" and data.n_users == 30 and data.n_items == 60
    assert data.item_info["category"].nunique() == 4


def test_a_missing_file_path_is_reported_as_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "events.csv"
    with pytest.raises(DatasetNotFoundError, match="no data set file") as exc:
        load_dataset(str(missing))
    assert str(missing) in str(exc.value)
