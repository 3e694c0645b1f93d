"""MovieLens loaders: the real ml-100k, hand-written ml-latest-small files, malformed files and
downloads from a local HTTP server."""

from __future__ import annotations

import hashlib
import socket
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.data import dataset_info, load_dataset, movielens, official_splits
from synerec.exceptions import ChecksumError, DataFormatError, DatasetNotFoundError
from tests.conftest import require_dataset

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]


# -- the real ml-100k -------------------------------------------------------------------------
def _reference_u_data(folder: Path) -> list[tuple[int, int, int, int]]:
    """u.data read with plain Python, one tuple per line."""
    rows = []
    with open(folder / "u.data", encoding="ascii") as fh:
        for line in fh:
            u, i, r, t = line.rstrip("\n").split("\t")
            rows.append((int(u), int(i), int(r), int(t)))
    return rows


def _reference_pairs(path: Path) -> set[tuple[int, int]]:
    with open(path, encoding="ascii") as fh:
        return {(int(f[0]), int(f[1])) for f in (line.split("\t") for line in fh)}


def test_ml100k_sizes_and_rating_counts(ml100k) -> None:  # type: ignore[no-untyped-def]
    assert ml100k.name == "ml-100k"
    assert (ml100k.n_interactions, ml100k.n_users, ml100k.n_items) == (100_000, 943, 1_682)
    values, counts = np.unique(ml100k.values, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {
        1.0: 6_110, 2.0: 11_370, 3.0: 27_145, 4.0: 34_174, 5.0: 21_201}
    assert ml100k.values.astype(np.float64).mean() == pytest.approx(3.52986, abs=5e-6)
    assert ml100k.rating_scale == (1.0, 5.0)
    assert ml100k.matrix.shape == (943, 1_682)
    assert ml100k.matrix.nnz == 100_000
    # Sept 1997 .. Apr 1998 in unix seconds.
    first, last = pd.to_datetime([ml100k.timestamps.min(), ml100k.timestamps.max()], unit="s")
    assert (first.year, first.month) == (1997, 9)
    assert (last.year, last.month) == (1998, 4)


def test_ml100k_rows_follow_u_data(ml100k) -> None:  # type: ignore[no-untyped-def]
    ref = np.array(_reference_u_data(require_dataset("ml-100k", "u.data")), dtype=np.int64)
    got = ml100k.to_dataframe()
    np.testing.assert_array_equal(got["user_id"].to_numpy(np.int64), ref[:, 0])
    np.testing.assert_array_equal(got["item_id"].to_numpy(np.int64), ref[:, 1])
    np.testing.assert_array_equal(got["rating"].to_numpy(), ref[:, 2].astype(np.float32))
    np.testing.assert_array_equal(got["timestamp"].to_numpy(), ref[:, 3])


def test_ml100k_items(ml100k) -> None:  # type: ignore[no-untyped-def]
    info = ml100k.item_info
    assert len(info) == 1_682
    assert list(info.index[:3]) == [1, 2, 3]
    assert info.loc[1633, "title"] == "Á köldum klaka (Cold Fever) (1994)"
    assert info.loc[1, "title"] == "Toy Story (1995)"
    assert info.loc[1, "category"] == "Animation|Children's|Comedy"
    assert info.loc[2, "category"] == "Action|Adventure|Thriller"
    assert info.loc[267, "category"] == "unknown"
    assert info.loc[1, "release_date"] == pd.Timestamp("1995-01-01")
    assert pd.isna(info.loc[267, "release_date"])
    assert info.loc[1, "imdb_url"] == "http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
    assert (info["description"] == "").all()
    # Every category names genres of u.genre, in u.genre order.
    for cat in info["category"]:
        parts = cat.split("|")
        assert parts == sorted(parts, key=GENRES.index)
    # Drama is the most frequent genre flag in u.item (725 movies).
    drama = sum("Drama" in c.split("|") for c in info["category"])
    assert drama == 725


def test_ml100k_users(ml100k) -> None:  # type: ignore[no-untyped-def]
    users = ml100k.user_info
    assert users.shape == (943, 4)
    assert list(users.columns) == ["age", "gender", "occupation", "zip_code"]
    assert users["gender"].value_counts().to_dict() == {"M": 670, "F": 273}
    assert users.loc[1].tolist() == [24, "M", "technician", "85711"]
    assert users.loc[2, "occupation"] == "other"
    assert users["age"].min() == 7 and users["age"].max() == 73


def test_ml100k_five_folds_partition(ml100k) -> None:  # type: ignore[no-untyped-def]
    folder = require_dataset("ml-100k", *(f"u{k}.test" for k in range(1, 6)))
    masks = [ml100k.splits[f"u{k}"] for k in range(1, 6)]
    assert [int(m.sum()) for m in masks] == [20_000] * 5
    assert (np.sum(masks, axis=0) == 1).all()  # disjoint and covering all 100,000 rows
    df = ml100k.to_dataframe()
    pairs = list(zip(df["user_id"].tolist(), df["item_id"].tolist(), strict=True))
    for k in (1, 3):  # against the file itself
        in_mask = {pairs[r] for r in np.flatnonzero(ml100k.splits[f"u{k}"])}
        assert in_mask == _reference_pairs(folder / f"u{k}.test")


def test_ml100k_ua_ub_ten_per_user(ml100k) -> None:  # type: ignore[no-untyped-def]
    for name in ("ua", "ub"):
        mask = ml100k.splits[name]
        assert int(mask.sum()) == 9_430
        per_user = np.bincount(ml100k.user_index[mask], minlength=ml100k.n_users)
        assert (per_user == 10).all()
    assert not np.array_equal(ml100k.splits["ua"], ml100k.splits["ub"])


def test_ml100k_official_splits(ml100k) -> None:  # type: ignore[no-untyped-def]
    folds = official_splits(ml100k)
    assert [f.name for f in folds] == ["u1", "u2", "u3", "u4", "u5"]
    for fold in folds:
        assert (fold.train.n_interactions, fold.test.n_interactions) == (80_000, 20_000)
        assert fold.train.items == ml100k.items and fold.test.users == ml100k.users
        overlap = fold.train.matrix.multiply(fold.test.matrix)
        assert overlap.nnz == 0


def test_registry_entries() -> None:
    info = dataset_info("ml-100k")
    assert info.files == ("u.data", "u.item", "u.genre", "u.user")
    assert "u1.test" in info.optional_files and "ub.base" in info.optional_files
    assert info.loader is movielens.load_movielens_100k
    small = dataset_info("ml-latest-small")
    assert small.files == ("ratings.csv", "movies.csv")
    assert small.download is movielens.download_movielens_latest_small


# -- small files in the publisher's formats ---------------------------------------------------
def _item_line(item: int, title: str, genres: tuple[str, ...], date: str = "01-Jan-1995") -> str:
    flags = "|".join("1" if g in genres else "0" for g in GENRES)
    return f"{item}|{title}|{date}||http://us.imdb.com/M/title-exact?{item}|{flags}\n"


U_DATA = ["1\t10\t5\t881250949", "1\t20\t3\t881250950", "2\t10\t4\t881250951",
          "2\t30\t1\t881250952", "3\t20\t2\t881250953"]


def write_ml100k(folder: Path, u_data: list[str] | None = None,
                 u_item: bytes | None = None, splits: dict[str, tuple[list[int], list[int]]]
                 | None = None) -> Path:
    """A tiny ml-100k folder; ``splits`` maps a name to (base rows, test rows) of u.data."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = U_DATA if u_data is None else u_data
    (folder / "u.data").write_text("".join(r + "\n" for r in rows))
    if u_item is None:
        u_item = (_item_line(10, "Café (1995)", ("Comedy", "Drama"))
                  + _item_line(20, "Heat (1995)", ("Action", "Crime", "Thriller"))
                  + _item_line(30, "Nobody (1996)", ("unknown",), date="")
                  + _item_line(40, "Unrated (1997)", ("Western",))).encode("latin-1")
    (folder / "u.item").write_bytes(u_item)
    (folder / "u.genre").write_text("".join(f"{g}|{k}\n" for k, g in enumerate(GENRES)) + "\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n"
                                   "3|23|M|writer|T8H1N\n")
    for name, (base, test) in (splits or {}).items():
        (folder / f"{name}.base").write_text("".join(rows[r] + "\n" for r in base))
        (folder / f"{name}.test").write_text("".join(rows[r] + "\n" for r in test))
    return folder


def test_ml100k_small_folder(tmp_path: Path) -> None:
    write_ml100k(tmp_path / "ml-100k", splits={"u1": ([0, 2, 4], [1, 3]),
                                                "ua": ([1, 3], [0, 2, 4])})
    ds = load_dataset("ml-100k", data_home=tmp_path, download=False)
    assert ds.items.ids.tolist() == [10, 20, 30, 40]  # 40 is a cold-start catalogue item
    assert ds.users.ids.tolist() == [1, 2, 3]
    assert ds.values.tolist() == [5, 3, 4, 1, 2]
    assert ds.timestamps.tolist() == [881250949 + k for k in range(5)]
    assert ds.item_info.loc[10, "title"] == "Café (1995)"
    assert ds.item_info["category"].tolist() == ["Comedy|Drama", "Action|Crime|Thriller",
                                                 "unknown", "Western"]
    assert ds.user_info.loc[3, "zip_code"] == "T8H1N"
    assert ds.splits["u1"].tolist() == [False, True, False, True, False]
    assert ds.splits["ua"].tolist() == [True, False, True, False, True]
    assert ds.matrix.toarray().tolist() == [[5, 3, 0, 0], [4, 0, 1, 0], [0, 2, 0, 0]]
    no_splits = load_dataset("ml-100k", data_home=tmp_path, download=False, splits=False)
    assert no_splits.splits == {}


def _ml_latest_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    crlf = "\r\n"
    (folder / "ratings.csv").write_bytes(crlf.join([
        "userId,movieId,rating,timestamp",
        "1,1,4.0,964982703", "1,3,0.5,964981247", "2,1,3.5,1445714835",
        "2,6,5.0,1445714836", "3,3,2.5,1306463578", ""]).encode())
    (folder / "movies.csv").write_bytes(crlf.join([
        "movieId,title,genres",
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
        '3,"American President, The (1995)",Comedy|Drama|Romance',
        "6,Heat (1995),Action|Crime|Thriller",
        '9,"Señor, Café (2017)",(no genres listed)', ""]).encode("utf-8"))
    (folder / "tags.csv").write_bytes(crlf.join([
        "userId,movieId,tag,timestamp",
        "2,1,pixar,1445714994", "3,1,fun,1445714996", "2,1,Pixar,1445715000",
        '3,3,"politics, romance",1445715001', "1,3,funny,1445715002", ""]).encode())
    return folder


def test_ml_latest_small_from_publisher_format(tmp_path: Path) -> None:
    _ml_latest_files(tmp_path / "ml-latest-small")
    ds = load_dataset("ml-latest-small", data_home=tmp_path, download=False)
    assert ds.name == "ml-latest-small"
    assert ds.rating_scale == (0.5, 5.0)
    assert ds.users.ids.tolist() == [1, 2, 3]
    assert ds.items.ids.tolist() == [1, 3, 6, 9]  # 9 has no rating: kept as a cold-start item
    assert ds.values.tolist() == [4.0, 0.5, 3.5, 5.0, 2.5]
    assert ds.timestamps.tolist() == [964982703, 964981247, 1445714835, 1445714836, 1306463578]
    info = ds.item_info
    assert info.loc[3, "title"] == "American President, The (1995)"
    assert info.loc[9, "title"] == "Señor, Café (2017)"
    assert info.loc[1, "category"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert info.loc[9, "category"] == ""
    assert ds.item_categories()[3] == ()
    assert info.loc[1, "tags"] == "pixar, fun"
    assert info.loc[3, "tags"] == "politics, romance, funny"
    assert info.loc[6, "tags"] == ""
    assert not any(str(v).endswith("\r") for v in info["category"])
    without = load_dataset("ml-latest-small", data_home=tmp_path, download=False, tags=False)
    assert "tags" not in without.item_info.columns


def test_ml_latest_small_without_tags_file(tmp_path: Path) -> None:
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    (folder / "tags.csv").unlink()
    ds = load_dataset("ml-latest-small", data_home=tmp_path, download=False)
    assert (ds.item_info["tags"] == "").all()
    assert ds.n_interactions == 5


# -- malformed files --------------------------------------------------------------------------
def _load_error(home: Path, name: str) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        load_dataset(name, data_home=home, download=False)
    return info.value


def _split_error(home: Path) -> DataFormatError:
    """An official split's file is read and checked when the split is first used: loading
    succeeds (``--folds 5`` never reads the split files), using the split fails."""
    data = load_dataset("ml-100k", data_home=home, download=False)
    with pytest.raises(DataFormatError) as info:
        for name in data.splits:
            data.splits[name]
    return info.value


def test_rating_not_a_number(tmp_path: Path) -> None:
    rows = list(U_DATA)
    rows[1] = "1\t20\tfive\t881250950"
    write_ml100k(tmp_path / "ml-100k", u_data=rows)
    err = _load_error(tmp_path, "ml-100k")
    assert Path(err.path) == tmp_path / "ml-100k" / "u.data"
    assert (err.line, err.column, err.value) == (2, "rating", "five")
    assert "u.data" in str(err) and "line 2" in str(err) and "'five'" in str(err)


def test_rating_outside_scale(tmp_path: Path) -> None:
    rows = list(U_DATA)
    rows[3] = "2\t30\t7\t881250952"
    write_ml100k(tmp_path / "ml-100k", u_data=rows)
    err = _load_error(tmp_path, "ml-100k")
    assert (Path(err.path).name, err.line, err.column, err.value) == ("u.data", 4, "rating", 7)
    assert "outside the scale 1..5" in str(err)


def test_missing_id(tmp_path: Path) -> None:
    rows = list(U_DATA)
    rows[2] = "\t10\t4\t881250951"
    write_ml100k(tmp_path / "ml-100k", u_data=rows)
    err = _load_error(tmp_path, "ml-100k")
    assert (Path(err.path).name, err.line, err.column) == ("u.data", 3, "user_id")
    assert "missing" in str(err)


def test_row_with_too_few_fields(tmp_path: Path) -> None:
    rows = list(U_DATA)
    rows[4] = "3\t20\t2"
    write_ml100k(tmp_path / "ml-100k", u_data=rows)
    err = _load_error(tmp_path, "ml-100k")
    assert (Path(err.path).name, err.line) == ("u.data", 5)
    assert "expected 4 fields, found 3" in str(err)


def test_doubled_pair_in_u_data(tmp_path: Path) -> None:
    write_ml100k(tmp_path / "ml-100k", u_data=[*U_DATA, "2\t10\t2\t881250960"])
    err = _load_error(tmp_path, "ml-100k")
    assert (Path(err.path).name, err.line) == ("u.data", 6)
    assert "duplicate (user, item) pair" in str(err)


def test_u_item_bytes_are_latin1_not_an_error(tmp_path: Path) -> None:
    raw = (_item_line(10, "Caf\xe9 \xff (1995)", ("Comedy",))
           + _item_line(20, "Heat (1995)", ("Action",))
           + _item_line(30, "Nobody (1996)", ("Drama",))).encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    write_ml100k(tmp_path / "ml-100k", u_item=raw)
    ds = load_dataset("ml-100k", data_home=tmp_path, download=False)
    assert ds.item_info.loc[10, "title"] == "Café ÿ (1995)"


def test_bad_genre_flag(tmp_path: Path) -> None:
    raw = (_item_line(10, "A (1995)", ("Comedy",)) + _item_line(20, "B (1995)", ())
           + _item_line(30, "C (1995)", ())).replace("|0|0|0|0|0\n", "|0|0|0|0|2\n", 1)
    write_ml100k(tmp_path / "ml-100k", u_item=raw.encode("latin-1"))
    err = _load_error(tmp_path, "ml-100k")
    assert (Path(err.path).name, err.line, err.column, err.value) == ("u.item", 1, "Western",
                                                                      "2")


def test_movies_csv_invalid_utf8(tmp_path: Path) -> None:
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    data = (folder / "movies.csv").read_bytes().replace("Señor".encode(), b"Se\xf1or")
    (folder / "movies.csv").write_bytes(data)
    err = _load_error(tmp_path, "ml-latest-small")
    assert (Path(err.path).name, err.line) == ("movies.csv", 5)
    assert "utf-8" in str(err) and "line 5" in str(err)


def test_ml_latest_rating_off_the_half_star_grid(tmp_path: Path) -> None:
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    text = (folder / "ratings.csv").read_text().replace("2,6,5.0,", "2,6,3.7,")
    (folder / "ratings.csv").write_text(text)
    err = _load_error(tmp_path, "ml-latest-small")
    assert (Path(err.path).name, err.line, err.column, err.value) == ("ratings.csv", 5,
                                                                      "rating", "3.7")


def test_ml_latest_rating_below_scale(tmp_path: Path) -> None:
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    text = (folder / "ratings.csv").read_text().replace("1,3,0.5,", "1,3,0,")
    (folder / "ratings.csv").write_text(text)
    err = _load_error(tmp_path, "ml-latest-small")
    assert (Path(err.path).name, err.line, err.value) == ("ratings.csv", 3, 0.0)
    assert "outside the scale 0.5..5" in str(err)


def test_ml_latest_duplicate_movie(tmp_path: Path) -> None:
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    with open(folder / "movies.csv", "ab") as fh:
        fh.write(b"6,Heat again (1995),Action\r\n")
    err = _load_error(tmp_path, "ml-latest-small")
    assert (Path(err.path).name, err.line, err.column, err.value) == ("movies.csv", 6,
                                                                      "movieId", 6)


def test_ml_latest_bad_tag_movie_id(tmp_path: Path) -> None:
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    text = (folder / "tags.csv").read_bytes().replace(b"3,1,fun,", b"3,x1,fun,")
    (folder / "tags.csv").write_bytes(text)
    err = _load_error(tmp_path, "ml-latest-small")
    assert (Path(err.path).name, err.line, err.column, err.value) == ("tags.csv", 3,
                                                                      "movieId", "x1")


def test_test_pair_absent_from_u_data(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", splits={"u1": ([0, 2, 4], [1, 3])})
    with open(folder / "u1.test", "a") as fh:
        fh.write("3\t10\t4\t881250999\n")
    err = _split_error(tmp_path)
    assert (Path(err.path).name, err.line, err.value) == ("u1.test", 3, (3, 10))
    assert "not in u.data" in str(err)


def test_test_pair_doubled(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", splits={"u2": ([0, 2, 4], [1, 3])})
    with open(folder / "u2.test", "a") as fh:
        fh.write(U_DATA[1] + "\n")
    err = _split_error(tmp_path)
    assert (Path(err.path).name, err.line, err.value) == ("u2.test", 3, (1, 20))
    assert "twice" in str(err)


def test_pair_in_both_base_and_test(tmp_path: Path) -> None:
    write_ml100k(tmp_path / "ml-100k", splits={"u3": ([0, 1, 2, 4], [1, 3])})
    err = _split_error(tmp_path)
    assert (Path(err.path).name, err.line, err.value) == ("u3.base", 2, (1, 20))


def test_pair_in_neither_base_nor_test(tmp_path: Path) -> None:
    write_ml100k(tmp_path / "ml-100k", splits={"u4": ([0, 4], [1, 3])})
    err = _split_error(tmp_path)
    assert (Path(err.path).name, err.line, err.value) == ("u.data", 3, (2, 10))
    assert "neither u4.base nor u4.test" in str(err)


def test_split_rating_differs_from_u_data(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", splits={"u5": ([0, 2, 4], [1, 3])})
    (folder / "u5.test").write_text(U_DATA[1] + "\n" + "2\t30\t2\t881250952\n")
    err = _split_error(tmp_path)
    assert (Path(err.path).name, err.line, err.column, err.value) == ("u5.test", 2, "rating", 2)


def test_split_missing_its_base(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", splits={"ub": ([0, 2, 4], [1, 3])})
    (folder / "ub.base").unlink()
    err = _load_error(tmp_path, "ml-100k")
    assert Path(err.path).name == "ub.base" and "file not found" in str(err)


# -- downloads from a local server -------------------------------------------------------------
@pytest.fixture
def served(file_server: tuple[Path, str]) -> tuple[Path, str]:
    """GroupLens' site: a folder served on 127.0.0.1 (see tests/conftest.py)."""
    return file_server


def _zip_folder(src: Path, dest: Path, prefix: str) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, prefix + f.name)
    return dest


def _entries(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


@pytest.mark.parametrize("md5_layout", ["md5sum", "bsd"])
def test_download_ml_latest_small(served: tuple[Path, str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, md5_layout: str) -> None:
    root, base = served
    src = _ml_latest_files(tmp_path / "src")
    (src / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n")
    archive = _zip_folder(src, root / "ml-latest-small.zip", "ml-latest-small/")
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    line = (f"{digest}  ml-latest-small.zip\n" if md5_layout == "md5sum"
            else f"MD5 (ml-latest-small.zip) = {digest}\n")
    (root / "ml-latest-small.zip.md5").write_text(line)
    monkeypatch.setattr(movielens, "ML_LATEST_SMALL_URL", f"{base}/ml-latest-small.zip")
    monkeypatch.setattr(movielens, "ML_LATEST_SMALL_MD5_URL", f"{base}/ml-latest-small.zip.md5")
    home = tmp_path / "home"
    ds = load_dataset("ml-latest-small", data_home=home)
    assert ds.values.tolist() == [4.0, 0.5, 3.5, 5.0, 2.5]
    assert ds.item_info.loc[1, "tags"] == "pixar, fun"
    assert _entries(home) == ["ml-latest-small"]  # no staging folder left behind
    assert _entries(home / "ml-latest-small") == ["links.csv", "movies.csv", "ratings.csv",
                                                  "tags.csv"]
    assert (home / "ml-latest-small" / "movies.csv").read_bytes() == \
        (src / "movies.csv").read_bytes()


def test_download_ml_latest_small_wrong_md5(served: tuple[Path, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = served
    _zip_folder(_ml_latest_files(tmp_path / "src"), root / "ml-latest-small.zip",
                "ml-latest-small/")
    (root / "ml-latest-small.zip.md5").write_text("0" * 32 + "  ml-latest-small.zip\n")
    monkeypatch.setattr(movielens, "ML_LATEST_SMALL_URL", f"{base}/ml-latest-small.zip")
    monkeypatch.setattr(movielens, "ML_LATEST_SMALL_MD5_URL", f"{base}/ml-latest-small.zip.md5")
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match="md5"):
        load_dataset("ml-latest-small", data_home=home)
    assert _entries(home / "ml-latest-small") == []
    assert _entries(home) == []


def _ml100k_archive(tmp_path: Path, root: Path,
                    monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    src = write_ml100k(tmp_path / "src", splits={"u1": ([0, 2, 4], [1, 3])})
    (src / "README").write_text("tiny test copy\n")
    _zip_folder(src, root / "ml-100k.zip", "ml-100k/")
    table = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in src.iterdir()}
    monkeypatch.setattr(movielens, "ML_100K_SHA256", table)
    return table


def test_download_ml100k(served: tuple[Path, str], tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = served
    table = _ml100k_archive(tmp_path, root, monkeypatch)
    monkeypatch.setattr(movielens, "ML_100K_URL", f"{base}/ml-100k.zip")
    home = tmp_path / "home"
    ds = load_dataset("ml-100k", data_home=home)
    assert ds.values.tolist() == [5, 3, 4, 1, 2]
    assert ds.splits["u1"].tolist() == [False, True, False, True, False]
    assert _entries(home) == ["ml-100k"]
    assert _entries(home / "ml-100k") == sorted(table)


def test_download_ml100k_wrong_sha256(served: tuple[Path, str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = served
    table = _ml100k_archive(tmp_path, root, monkeypatch)
    monkeypatch.setitem(table, "u.user", "f" * 64)
    monkeypatch.setattr(movielens, "ML_100K_URL", f"{base}/ml-100k.zip")
    home = tmp_path / "home"
    with pytest.raises(ChecksumError, match=r"u\.user"):
        load_dataset("ml-100k", data_home=home)
    assert _entries(home / "ml-100k") == []
    assert _entries(home) == []


def test_download_keeps_files_already_there(served: tuple[Path, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root, base = served
    _ml100k_archive(tmp_path, root, monkeypatch)
    monkeypatch.setattr(movielens, "ML_100K_URL", f"{base}/ml-100k.zip")
    home = tmp_path / "home"
    (home / "ml-100k").mkdir(parents=True)
    mine = "1\t10\t2\t881250949\n2\t30\t5\t881250952\n"
    (home / "ml-100k" / "u.data").write_text(mine)
    ds = load_dataset("ml-100k", data_home=home, splits=False)
    assert (home / "ml-100k" / "u.data").read_text() == mine
    assert ds.values.tolist() == [2, 5]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("name", "attr", "zip_name"), [
    ("ml-100k", "ML_100K_URL", "ml-100k.zip"),
    ("ml-latest-small", "ML_LATEST_SMALL_URL", "ml-latest-small.zip"),
])
def test_download_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                              attr: str, zip_name: str) -> None:
    monkeypatch.setattr(movielens, attr, f"http://127.0.0.1:{_closed_port()}/{zip_name}")
    home = tmp_path / "home"
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, data_home=home)
    message = str(info.value)
    assert str(home / name) in message
    assert "Put the publisher's files there" in message
    assert "grouplens.org" in message
    assert _entries(home) == []


def test_missing_without_download_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("ml-100k", data_home=tmp_path, download=False)
    assert str(tmp_path / "ml-100k") in str(info.value)
    assert "u.data" in str(info.value)


def test_tags_dedup_reference(tmp_path: Path) -> None:
    """Tag aggregation equals a plain-Python reference on a larger generated file."""
    rng = np.random.default_rng(0)
    words = ["dark", "Dark", "funny", "twist ending", "classic", "Classic", "slow"]
    folder = _ml_latest_files(tmp_path / "ml-latest-small")
    lines = ["userId,movieId,tag,timestamp"]
    expected: dict[int, list[str]] = {}
    seen: dict[int, set[str]] = {}
    for k in range(300):
        movie = int(rng.choice([1, 3, 6, 9]))
        tag = str(rng.choice(words))
        lines.append(f"1,{movie},{tag},{1_000_000 + k}")
        if tag.casefold() not in seen.setdefault(movie, set()):
            seen[movie].add(tag.casefold())
            expected.setdefault(movie, []).append(tag)
    (folder / "tags.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset("ml-latest-small", data_home=tmp_path, download=False)
    got = {int(i): t for i, t in ds.item_info["tags"].items() if t}
    assert got == {m: ", ".join(t) for m, t in expected.items()}


def test_bad_genre_index(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k")
    text = (folder / "u.genre").read_text().replace("Drama|8\n", "Drama|7\n")
    (folder / "u.genre").write_text(text)
    err = _load_error(tmp_path, "ml-100k")
    assert (Path(err.path).name, err.line, err.column, err.value) == ("u.genre", 9, "index", "7")
