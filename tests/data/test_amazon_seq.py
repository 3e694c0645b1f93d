"""The Amazon 2014 sequence files (``amazon-2014-<name>-seq``): files written here, and the real
Beauty / Sports files from the data home."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synerec.data import load_dataset, temporal_split
from synerec.data.amazon_seq import FOLDER, sequence_file
from synerec.data.registry import list_datasets
from synerec.exceptions import DataFormatError, DatasetNotFoundError
from tests.conftest import require_dataset


def _home(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / FOLDER
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_file_is_read_with_its_order_as_the_time(tmp_path: Path) -> None:
    home = _home(tmp_path, {"Toys_and_Games.txt": "1 5 3 9\n2 3 5\n\n3 7 1 2 3\n"})
    data = load_dataset("amazon-2014-toys-seq", data_home=home)
    assert data.name == "amazon-2014-toys-and-games-seq" and data.implicit
    assert (data.n_users, data.n_interactions) == (3, 9)
    users = data.users.ids_of(data.user_index)
    items = data.items.ids_of(data.item_index)
    seq = {u: [int(i) for _, i in sorted(zip(data.timestamps[users == u], items[users == u],
                                             strict=True))] for u in (1, 2, 3)}
    assert seq == {1: [5, 3, 9], 2: [3, 5], 3: [7, 1, 2, 3]}
    # leave-one-out: each user's last item is the test target
    fold = temporal_split(data, n_test=1)
    test_items = {int(fold.test.users.id(u)): int(fold.test.items.id(i))
                  for u, i in zip(*fold.test.matrix.nonzero(), strict=True)}
    assert test_items == {1: 9, 2: 5, 3: 3}


def test_the_name_picks_the_file_by_its_start(tmp_path: Path) -> None:
    home = _home(tmp_path, {"Beauty.txt": "1 1 2\n", "Sports_and_Outdoors.txt": "1 1 2\n",
                            "Sports_Extra.txt": "1 1 2\n"})
    folder = home / FOLDER
    assert sequence_file(folder, "beauty").name == "Beauty.txt"
    assert sequence_file(folder, "sports-and-outdoors").name == "Sports_and_Outdoors.txt"
    with pytest.raises(DatasetNotFoundError, match="matches several sequence files"):
        sequence_file(folder, "sports")
    with pytest.raises(DatasetNotFoundError, match=r"no sequence file for 'toys'.*Beauty.txt"):
        load_dataset("amazon-2014-toys-seq", data_home=home)
    names = [info.name for info, present in list_datasets(home) if present]
    assert "amazon-2014-beauty-seq" in names and "amazon-2014-sports-and-outdoors-seq" in names


@pytest.mark.parametrize(("text", "message"), [
    ("1 2 x\n", r"line 1: 'x' is not an integer id"),
    ("1 2\n7\n", "line 2: no item"),
    ("1 2 3 2\n", "line 1: item 2 appears twice in user 1's sequence"),
])
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    home = _home(tmp_path, {"Beauty.txt": text})
    with pytest.raises(DataFormatError, match=message):
        load_dataset("amazon-2014-beauty-seq", data_home=home)


def test_the_real_beauty_and_sports_files(data_home: Path) -> None:
    require_dataset(FOLDER, "Beauty.txt", "Sports_and_Outdoors.txt")
    beauty = load_dataset("amazon-2014-beauty-seq")
    # PROVENANCE.md: 22,363 users; the ICLRec paper: 12,101 items, 198,502 interactions
    assert (beauty.n_users, beauty.n_items, beauty.n_interactions) == (22363, 12101, 198502)
    assert np.diff(beauty.matrix.indptr).min() >= 5  # 5-core
    sports = load_dataset("amazon-2014-sports-seq")
    assert (sports.n_users, sports.n_items, sports.n_interactions) == (35598, 18357, 296337)
