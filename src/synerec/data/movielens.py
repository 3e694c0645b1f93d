"""MovieLens loaders: ``ml-100k`` (with its official splits) and ``ml-latest-small``.

Both data sets are read from the publisher's own files in ``<data home>/<name>/`` and are
registered with :func:`synerec.data.registry.register_dataset` when this module is imported, so
that ``load_dataset("ml-100k")`` finds them. When the files are missing they are downloaded from
GroupLens and verified before anything is written into the data set's folder:

* ``ml-100k``: each extracted file against the sha256 recorded in
  ``shared/data/ml-100k/PROVENANCE.md`` (:data:`ML_100K_SHA256`);
* ``ml-latest-small``: the zip against the md5 that GroupLens publishes beside it (the release
  changes over time, so no fixed digest can be pinned here).

References
----------
F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context.
ACM Transactions on Interactive Intelligent Systems 5(4), Article 19. DOI 10.1145/2827872.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from synerec.data._io import read_delimited, read_text
from synerec.data.dataset import InteractionDataset, SplitMasks, parse_numbers
from synerec.data.download import extract_members, fetch, file_digest
from synerec.data.registry import DatasetInfo, register_dataset
from synerec.exceptions import ChecksumError, DataFormatError

__all__ = [
    "ML_100K_SHA256",
    "ML_100K_SPLITS",
    "ML_100K_URL",
    "ML_LATEST_SMALL_MD5_URL",
    "ML_LATEST_SMALL_URL",
    "download_movielens_100k",
    "download_movielens_latest_small",
    "load_movielens_100k",
    "load_movielens_latest_small",
]

log = logging.getLogger(__name__)

#: Where GroupLens publishes MovieLens 100K (module constants so tests can point them elsewhere).
ML_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
#: Where GroupLens publishes the current small "latest" release.
ML_LATEST_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
#: The md5 GroupLens publishes for :data:`ML_LATEST_SMALL_URL`.
ML_LATEST_SMALL_MD5_URL = ML_LATEST_SMALL_URL + ".md5"

#: The official ml-100k splits: five disjoint 80/20 folds and two "10 ratings per user" sets.
ML_100K_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")

#: sha256 of every ml-100k file (from shared/data/ml-100k/PROVENANCE.md); the zip holds them
#: under ``ml-100k/``.
ML_100K_SHA256: dict[str, str] = {
    "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}

_ML_100K_FILES = ("u.data", "u.item", "u.genre", "u.user")
_ML_100K_SPLIT_FILES = tuple(f"{s}.{part}" for s in ML_100K_SPLITS for part in ("base", "test"))
_ML_LATEST_FILES = ("ratings.csv", "movies.csv")
_ML_LATEST_OPTIONAL = ("tags.csv", "links.csv", "README.txt")
_NO_GENRES = "(no genres listed)"
_RATING_FIELDS = ["user_id", "item_id", "rating", "timestamp"]


# -- ml-100k ----------------------------------------------------------------------------------
def load_movielens_100k(folder: str | Path, *, splits: bool = True) -> InteractionDataset:
    """Read MovieLens 100K from the publisher's files.

    Parameters
    ----------
    folder
        The folder holding ``u.data``, ``u.item`` (latin-1), ``u.genre``, ``u.user`` and,
        for the official splits, ``u1.base`` .. ``ub.test``.
    splits
        Read the official splits present in the folder into ``dataset.splits`` (a boolean test
        mask over the rows of ``u.data`` per split name), after checking that each
        ``<name>.base`` and ``<name>.test`` partition ``u.data``.

    Returns
    -------
    InteractionDataset
        Ratings 1..5 (``rating_scale=(1, 5)``) with unix-second timestamps, integer user and
        item ids, ``item_info`` with ``title``, ``description`` (empty), ``category`` (the
        ``|``-joined names of the genre flags set, in ``u.genre`` order), ``release_date``
        (datetime, NaT when unknown) and ``imdb_url``, and ``user_info`` with ``age``,
        ``gender``, ``occupation`` and ``zip_code``. Row ``r`` is line ``r + 1`` of ``u.data``.

    Raises
    ------
    DataFormatError
        A malformed file, naming the file, line, column and value; a rating outside 1..5; a
        (user, item) pair repeated in ``u.data``; a split file whose pairs are not in
        ``u.data``, are doubled, or do not cover it together with its twin.
    """
    folder = Path(folder)
    genres = _read_genres(folder / "u.genre")
    items = _read_items(folder / "u.item", genres)
    users = _read_users(folder / "u.user")
    path = folder / "u.data"
    ratings, first = _read_rating_table(path)
    data = InteractionDataset.from_dataframe(
        ratings, items=items, users=users, rating_scale=(1.0, 5.0), duplicates="error",
        name="ml-100k", path=path, first_line=first,
    )
    if splits:
        data.splits = _split_masks(folder, data)
    log.info("loaded ml-100k from %s: %d ratings, %d users, %d items, splits %s", folder,
             data.n_interactions, data.n_users, data.n_items, sorted(data.splits))
    return data


def _read_rating_table(path: Path) -> tuple[pd.DataFrame, int]:
    """``user_id, item_id, rating, timestamp`` as numbers from a tab-separated ml-100k file."""
    raw, first = read_delimited(path, "\t", header=False, names=_RATING_FIELDS)
    table = pd.DataFrame({col: _integers(raw[col], col, path, first) for col in _RATING_FIELDS})
    return table, first


def _integers(cells: pd.Series, column: str, path: Path, first: int) -> np.ndarray:
    """Whole numbers from string cells; the slower :func:`parse_numbers` names a bad cell."""
    try:
        # A direct cast is several times faster than pandas.to_numeric on the 15 ml-100k files.
        return cells.astype("int64").to_numpy(np.int64)
    except (ValueError, TypeError, OverflowError):
        return parse_numbers(cells, column=column, path=path, first_line=first,
                             integer=True).astype(np.int64)


def _read_genres(path: Path) -> list[str]:
    """Genre names in flag order from ``u.genre`` (``name|index``)."""
    raw, first = read_delimited(path, "|", header=False, names=["genre", "index"],
                                encoding="latin-1")
    index = parse_numbers(raw["index"], column="index", path=path, first_line=first,
                          integer=True).astype(np.int64)
    bad = (index < 0) | (index >= len(index)) | pd.Series(index).duplicated().to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"genre indices must be 0..{len(index) - 1}, each once", path=path,
                              line=first + r, column="index", value=raw["index"].iloc[r])
    names = raw["genre"].str.strip().to_numpy(dtype=object)
    blank = np.flatnonzero(names == "")
    if blank.size:
        raise DataFormatError("missing genre name", path=path, line=first + int(blank[0]),
                              column="genre")
    return [str(names[k]) for k in np.argsort(index)]


def _read_items(path: Path, genres: list[str]) -> pd.DataFrame:
    """The ml-100k catalogue from ``u.item`` (latin-1, ``|``-separated)."""
    flag_cols = [f"genre:{g}" for g in genres]
    names = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *flag_cols]
    raw, first = read_delimited(path, "|", header=False, names=names, encoding="latin-1")
    item_id = parse_numbers(raw["item_id"], column="item_id", path=path, first_line=first,
                            integer=True).astype(np.int64)
    _check_unique(item_id, "item_id", path, first)
    flags = np.column_stack([
        parse_numbers(raw[c], column=c.removeprefix("genre:"), path=path, first_line=first,
                      integer=True)
        for c in flag_cols
    ]) if flag_cols else np.zeros((len(raw), 0))
    bad = (flags != 0) & (flags != 1)
    if bad.any():
        r, c = (int(x[0]) for x in np.nonzero(bad))
        raise DataFormatError("expected a genre flag 0 or 1", path=path, line=first + r,
                              column=genres[c], value=raw[flag_cols[c]].iloc[r])
    genre_arr = np.asarray(genres, dtype=object)
    category = ["|".join(genre_arr[row.astype(bool)]) for row in flags]
    dates = raw["release_date"].str.strip()
    release = pd.to_datetime(dates.mask(dates == ""), format="%d-%b-%Y", errors="coerce")
    bad_date = release.isna().to_numpy() & (dates != "").to_numpy()
    if bad_date.any():
        r = int(np.flatnonzero(bad_date)[0])
        raise DataFormatError("expected a date like 01-Jan-1995", path=path, line=first + r,
                              column="release_date", value=raw["release_date"].iloc[r])
    return pd.DataFrame({
        "item_id": item_id,
        "title": raw["title"].str.strip().to_numpy(dtype=object),
        "description": "",
        "category": category,
        "release_date": release.to_numpy(),
        "imdb_url": raw["imdb_url"].str.strip().to_numpy(dtype=object),
    })


def _read_users(path: Path) -> pd.DataFrame:
    """User attributes from ``u.user`` (``user|age|gender|occupation|zip``)."""
    names = ["user_id", "age", "gender", "occupation", "zip_code"]
    raw, first = read_delimited(path, "|", header=False, names=names, encoding="latin-1")
    user_id = parse_numbers(raw["user_id"], column="user_id", path=path, first_line=first,
                            integer=True).astype(np.int64)
    _check_unique(user_id, "user_id", path, first)
    age = parse_numbers(raw["age"], column="age", path=path, first_line=first,
                        integer=True).astype(np.int64)
    gender = raw["gender"].str.strip()
    bad = ~gender.isin(["M", "F"]).to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError("expected gender M or F", path=path, line=first + r,
                              column="gender", value=raw["gender"].iloc[r])
    return pd.DataFrame({
        "user_id": user_id,
        "age": age,
        "gender": gender.to_numpy(dtype=object),
        "occupation": raw["occupation"].str.strip().to_numpy(dtype=object),
        "zip_code": raw["zip_code"].str.strip().to_numpy(dtype=object),
    })


def _check_unique(ids: np.ndarray, column: str, path: Path, first: int) -> None:
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        r = int(np.flatnonzero(dup)[0])
        raise DataFormatError(f"duplicate {column}", path=path, line=first + r, column=column,
                              value=int(ids[r]))


def _split_masks(folder: Path, data: InteractionDataset) -> SplitMasks:
    """The official splits found in ``folder``, each read and checked against u.data when it
    is first used (a split with one of its two files missing is an error at once)."""
    readers: dict[str, Callable[[], np.ndarray]] = {}
    for name in ML_100K_SPLITS:
        test_path, base_path = folder / f"{name}.test", folder / f"{name}.base"
        if not test_path.is_file() and not base_path.is_file():
            continue
        for p in (test_path, base_path):
            if not p.is_file():
                raise DataFormatError(f"split {name!r} is incomplete: file not found", path=p)
        readers[name] = functools.partial(_read_split, folder, name, data)
    return SplitMasks(data.n_interactions, readers)


def _read_split(folder: Path, name: str, data: InteractionDataset) -> np.ndarray:
    """The test mask of split ``name``, checked: its base and test files partition u.data."""
    n_items = np.int64(len(data.items))
    keys = data.user_index.astype(np.int64) * n_items + data.item_index
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    test_path, base_path = folder / f"{name}.test", folder / f"{name}.base"
    test_rows = _rows_of(test_path, data, sorted_keys, order, n_items)
    base_rows = _rows_of(base_path, data, sorted_keys, order, n_items)
    mask = np.zeros(data.n_interactions, dtype=bool)
    mask[test_rows] = True
    in_both = np.flatnonzero(mask[base_rows])
    if in_both.size:
        r = int(in_both[0])
        raise DataFormatError(f"pair is also in {test_path.name}", path=base_path,
                              line=r + 1, value=_pair(data, base_rows[r]))
    covered = mask.copy()
    covered[base_rows] = True
    if not covered.all():
        r = int(np.flatnonzero(~covered)[0])
        raise DataFormatError(
            f"pair is in neither {base_path.name} nor {test_path.name}",
            path=folder / "u.data", line=r + 1, value=_pair(data, r))
    return mask


def _pair(data: InteractionDataset, row: int) -> tuple[int, int]:
    return (int(data.users.id(data.user_index[row])), int(data.items.id(data.item_index[row])))


def _rows_of(path: Path, data: InteractionDataset, sorted_keys: np.ndarray, order: np.ndarray,
             n_items: np.int64) -> np.ndarray:
    """The u.data row of every line of a split file; each line must match one distinct row."""
    table, first = _read_rating_table(path)
    u = data.users.indices(table["user_id"].to_numpy(), missing="negative")
    i = data.items.indices(table["item_id"].to_numpy(), missing="negative")
    keys = u * n_items + i
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    found = (u >= 0) & (i >= 0)
    if len(sorted_keys):
        found &= sorted_keys[pos] == keys
    else:
        found[:] = False
    if not found.all():
        r = int(np.flatnonzero(~found)[0])
        raise DataFormatError(
            "(user, item) pair not in u.data", path=path, line=first + r,
            value=(int(table["user_id"].iloc[r]), int(table["item_id"].iloc[r])))
    rows = order[pos]
    doubled = pd.Series(rows).duplicated().to_numpy()
    if doubled.any():
        r = int(np.flatnonzero(doubled)[0])
        raise DataFormatError("(user, item) pair listed twice", path=path, line=first + r,
                              value=(int(table["user_id"].iloc[r]), int(table["item_id"].iloc[r])))
    differs = data.values[rows] != table["rating"].to_numpy()
    if differs.any():
        r = int(np.flatnonzero(differs)[0])
        raise DataFormatError(
            f"rating differs from u.data ({data.values[rows[r]]:g})", path=path,
            line=first + r, column="rating", value=int(table["rating"].iloc[r]))
    return rows


def download_movielens_100k(folder: str | Path) -> None:
    """Download ``ml-100k.zip`` and extract the missing files into ``folder``.

    Every file is checked against :data:`ML_100K_SHA256` in a staging folder beside
    ``folder``; only when all match are they moved into place, so a corrupted download leaves
    nothing behind.

    Raises
    ------
    DatasetNotFoundError
        The download failed.
    ChecksumError
        The archive is not a zip, lacks a file, or a file does not match its sha256.
    """
    members: dict[str, str | None] = {
        f"ml-100k/{name}": digest for name, digest in ML_100K_SHA256.items()}
    _download_into(Path(folder), ML_100K_URL, "ml-100k.zip", lambda zip_path: members,
                   strip_prefix="ml-100k/")


# -- ml-latest-small --------------------------------------------------------------------------
def load_movielens_latest_small(folder: str | Path, *, tags: bool = True) -> InteractionDataset:
    """Read the small MovieLens "latest" release from the publisher's CSV files.

    Parameters
    ----------
    folder
        The folder holding ``ratings.csv`` (``userId,movieId,rating,timestamp``),
        ``movies.csv`` (``movieId,title,genres``) and optionally ``tags.csv``
        (``userId,movieId,tag,timestamp``). Files are UTF-8 CSV (quoted fields, LF or CRLF).
    tags
        Add the item text column ``tags`` from ``tags.csv`` when the file is present: the
        movie's distinct tags (compared without case, first spelling kept) in order of first
        appearance, joined with ``", "``.

    Returns
    -------
    InteractionDataset
        Half-star ratings with ``rating_scale=(0.5, 5.0)``, integer ids, unix-second timestamps,
        ``item_info`` with ``title``, ``description`` (empty), ``category`` (the ``|``-separated
        genres; empty for "(no genres listed)") and ``tags``. Catalogue movies nobody rated are
        kept as cold-start items.

    Raises
    ------
    DataFormatError
        A malformed file, naming the file, line, column and value; a rating outside 0.5..5 or
        not a multiple of 0.5; invalid UTF-8; a duplicated movie or (user, movie) rating.
    """
    folder = Path(folder)
    movies = _read_movies(folder / "movies.csv")
    if tags and (folder / "tags.csv").is_file():
        tag_text = _read_tags(folder / "tags.csv")
        movies["tags"] = movies["item_id"].map(tag_text).fillna("").to_numpy(dtype=object)
    elif tags:
        movies["tags"] = ""
    path = folder / "ratings.csv"
    raw, first = read_delimited(path, ",", header=True,
                                required=["userId", "movieId", "rating", "timestamp"])
    rating = parse_numbers(raw["rating"], column="rating", path=path, first_line=first)
    off_grid = (rating * 2 != np.round(rating * 2)) & (rating >= 0.5) & (rating <= 5.0)
    if off_grid.any():
        r = int(np.flatnonzero(off_grid)[0])
        raise DataFormatError("expected a half-star rating (a multiple of 0.5)", path=path,
                              line=first + r, column="rating", value=raw["rating"].iloc[r])
    table = pd.DataFrame({
        "user_id": parse_numbers(raw["userId"], column="userId", path=path, first_line=first,
                                 integer=True).astype(np.int64),
        "item_id": parse_numbers(raw["movieId"], column="movieId", path=path,
                                 first_line=first, integer=True).astype(np.int64),
        "rating": rating,
        "timestamp": parse_numbers(raw["timestamp"], column="timestamp", path=path,
                                   first_line=first, integer=True).astype(np.int64),
    })
    unknown = ~table["item_id"].isin(movies["item_id"])
    if unknown.any():
        log.warning("%s: %d ratings name movies absent from movies.csv (first on line %d)",
                    path, int(unknown.sum()), first + int(np.flatnonzero(unknown.to_numpy())[0]))
    data = InteractionDataset.from_dataframe(
        table, items=movies, rating_scale=(0.5, 5.0), duplicates="error",
        name="ml-latest-small", path=path, first_line=first,
    )
    log.info("loaded ml-latest-small from %s: %d ratings, %d users, %d items", folder,
             data.n_interactions, data.n_users, data.n_items)
    return data


def _read_movies(path: Path) -> pd.DataFrame:
    raw, first = read_delimited(path, ",", header=True, required=["movieId", "title", "genres"])
    item_id = parse_numbers(raw["movieId"], column="movieId", path=path, first_line=first,
                            integer=True).astype(np.int64)
    _check_unique(item_id, "movieId", path, first)
    genres = raw["genres"].str.strip()
    category = [
        "" if g == _NO_GENRES else "|".join(p.strip() for p in g.split("|") if p.strip())
        for g in genres
    ]
    return pd.DataFrame({
        "item_id": item_id,
        "title": raw["title"].str.strip().to_numpy(dtype=object),
        "description": "",
        "category": category,
    })


def _read_tags(path: Path) -> pd.Series:
    """Per movie id: its distinct tags joined with ``", "``."""
    raw, first = read_delimited(path, ",", header=True, required=["movieId", "tag"])
    movie = parse_numbers(raw["movieId"], column="movieId", path=path, first_line=first,
                          integer=True).astype(np.int64)
    frame = pd.DataFrame({"item_id": movie, "tag": raw["tag"].str.strip()})
    frame = frame[frame["tag"] != ""]
    frame = frame.assign(key=frame["tag"].str.casefold()).drop_duplicates(["item_id", "key"])
    return frame.groupby("item_id", sort=False)["tag"].agg(", ".join)


def download_movielens_latest_small(folder: str | Path) -> None:
    """Download ``ml-latest-small.zip``, verify its published md5, extract it into ``folder``.

    Raises
    ------
    DatasetNotFoundError
        The zip or its ``.md5`` could not be downloaded.
    ChecksumError
        The zip does not match the published md5 (nothing is extracted), is not a zip, or lacks
        ``ratings.csv`` or ``movies.csv``.
    """
    def members(zip_path: Path) -> dict[str, str | None]:
        md5_path = fetch(ML_LATEST_SMALL_MD5_URL, zip_path.with_name("ml-latest-small.zip.md5"),
                         None, show_progress=False)
        expected = _parse_md5(md5_path)
        got = file_digest(zip_path, "md5")
        if got != expected:
            raise ChecksumError(f"checksum mismatch for {ML_LATEST_SMALL_URL}: the published md5 "
                                f"is {expected}, the download has {got}; nothing was kept")
        log.info("%s matches its published md5 %s", ML_LATEST_SMALL_URL, expected)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile as exc:
            raise ChecksumError(f"{ML_LATEST_SMALL_URL} is not a valid zip ({exc})") from exc
        wanted = _ML_LATEST_FILES + tuple(f for f in _ML_LATEST_OPTIONAL
                                          if f"ml-latest-small/{f}" in names)
        return {f"ml-latest-small/{f}": None for f in wanted}

    _download_into(Path(folder), ML_LATEST_SMALL_URL, "ml-latest-small.zip", members,
                   strip_prefix="ml-latest-small/")


def _parse_md5(path: Path) -> str:
    """The md5 in a checksum file (``md5sum`` or BSD ``MD5 (file) = ...`` layout)."""
    m = re.search(r"\b([0-9a-fA-F]{32})\b", read_text(path, "latin-1"))
    if m is None:
        raise ChecksumError(f"{ML_LATEST_SMALL_MD5_URL} holds no md5 digest")
    return m.group(1).lower()


# -- shared download logic --------------------------------------------------------------------
def _download_into(folder: Path, url: str, zip_name: str,
                   members: Callable[[Path], dict[str, str | None]], *,
                   strip_prefix: str) -> None:
    """Fetch ``url`` and extract verified members into a staging folder, then move them in.

    Files already in ``folder`` are kept as they are. On any error the staging folder is
    removed, and so is ``folder`` when this call created it and it is still empty.
    """
    created = not folder.exists()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".download",
                                    dir=folder.parent))
    try:
        zip_path = fetch(url, staging / zip_name, None)
        wanted = members(zip_path)
        files = extract_members(zip_path, staging / "files", wanted, strip_prefix=strip_prefix)
        folder.mkdir(parents=True, exist_ok=True)
        for src in files:
            target = folder / src.name
            if target.exists():
                log.info("keeping the existing %s", target)
                continue
            src.replace(target)
        log.info("extracted %d files from %s into %s", len(files), url, folder)
    except BaseException:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


register_dataset(DatasetInfo(
    name="ml-100k",
    description="MovieLens 100K: 100,000 ratings 1-5 by 943 users on 1,682 movies, with genres, "
                "user demographics and the official u1..u5, ua, ub splits",
    files=_ML_100K_FILES,
    loader=load_movielens_100k,
    download=download_movielens_100k,
    source="https://grouplens.org/datasets/movielens/100k/",
    optional_files=_ML_100K_SPLIT_FILES,
))

register_dataset(DatasetInfo(
    name="ml-latest-small",
    description="MovieLens latest (small): about 100,000 half-star ratings by 610 users on 9,700 "
                "movies, with genres and free-text tags",
    files=_ML_LATEST_FILES,
    loader=load_movielens_latest_small,
    download=download_movielens_latest_small,
    source="https://grouplens.org/datasets/movielens/latest/",
    optional_files=("tags.csv", "links.csv"),
))
