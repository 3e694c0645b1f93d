"""Amazon Review Data (2018): the per-category 5-core review files and their metadata.

Every category the publisher released in 2018 is a data set named ``amazon-2018-<slug>``, where
the slug is the file stem in lower case with ``_`` replaced by ``-`` (``All_Beauty`` ->
``amazon-2018-all-beauty``, ``Gift_Cards`` -> ``amazon-2018-gift-cards``). Its folder in the data
home holds the publisher's files unchanged:

``<Stem>_5.json.gz`` (required)
    The 5-core reviews, one JSON object per line: ``overall`` (1-5 stars), ``reviewerID``,
    ``asin``, ``unixReviewTime``, ``summary``, ``reviewText``, ``vote`` (a string such as
    ``"1,024"``), ...
``meta_<Stem>.json.gz`` (optional)
    The product metadata: ``asin``, ``title``, ``brand``, ``category`` (list: the category
    path, starting with the store name), ``description`` (list of HTML fragments, or a string),
    ``feature`` (list), ...

References
----------
J. Ni, J. Li, J. McAuley. "Justifying recommendations using distantly-labeled reviews and
fine-grained aspects." EMNLP 2019. https://nijianmo.github.io/amazon/index.html
"""

from __future__ import annotations

import gzip
import html
import logging
import os
import re
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec.data._io import iter_json_lines
from synerec.data.dataset import DuplicatePolicy, InteractionDataset, parse_numbers
from synerec.data.download import fetch
from synerec.data.registry import DatasetInfo, register_dataset_family
from synerec.exceptions import ChecksumError, ConfigError, DataFormatError, DatasetNotFoundError

__all__ = [
    "CATEGORIES",
    "META_URL_BASE",
    "REVIEWS_SHA256",
    "REVIEWS_URL_BASE",
    "category_slug",
    "category_stem",
    "download_amazon_2018",
    "load_amazon_2018",
    "meta_file_name",
    "read_amazon_meta",
    "read_amazon_reviews",
    "reviews_file_name",
    "strip_html",
]

log = logging.getLogger(__name__)

#: Folder of the publisher's per-category 5-core review files (``<Stem>_5.json.gz``).
REVIEWS_URL_BASE = (
    "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/categoryFilesSmall/")
#: Folder of the publisher's per-category metadata files (``meta_<Stem>.json.gz``).
META_URL_BASE = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/metaFiles2/"
SOURCE = "https://nijianmo.github.io/amazon/index.html"

#: The file stems of the 29 categories of the 2018 release.
CATEGORIES: tuple[str, ...] = (
    "AMAZON_FASHION", "All_Beauty", "Appliances", "Arts_Crafts_and_Sewing", "Automotive",
    "Books", "CDs_and_Vinyl", "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry",
    "Digital_Music", "Electronics", "Gift_Cards", "Grocery_and_Gourmet_Food", "Home_and_Kitchen",
    "Industrial_and_Scientific", "Kindle_Store", "Luxury_Beauty", "Magazine_Subscriptions",
    "Movies_and_TV", "Musical_Instruments", "Office_Products", "Patio_Lawn_and_Garden",
    "Pet_Supplies", "Prime_Pantry", "Software", "Sports_and_Outdoors",
    "Tools_and_Home_Improvement", "Toys_and_Games", "Video_Games",
)

#: sha256 of the 5-core files whose digest is known (the publisher gives none; these were
#: recorded from verified copies, see the data set's PROVENANCE.md).
REVIEWS_SHA256: dict[str, str] = {
    "All_Beauty": "8e49737fefaec9290187c69bf92889452df8be0ab5e36c9476520d6639683279",
}
#: sha256 of metadata files whose digest is known (none yet).
META_SHA256: dict[str, str] = {}

_PREFIX = "amazon-2018-"
_REQUIRED_FIELDS = ("reviewerID", "asin", "overall", "unixReviewTime")
_SUMMARY_SEPARATOR = "\n"
_FEATURE_SEPARATOR = "; "


def category_slug(stem: str) -> str:
    """The data set slug of a category file stem (``Gift_Cards`` -> ``gift-cards``)."""
    return stem.lower().replace("_", "-")


_BY_SLUG = {category_slug(s): s for s in CATEGORIES}


def category_stem(category: str) -> str:
    """The publisher's file stem of a category given as stem, slug or data set name.

    Parameters
    ----------
    category
        ``All_Beauty``, ``all-beauty`` or ``amazon-2018-all-beauty`` (case-insensitive).

    Raises
    ------
    DatasetNotFoundError
        Not a category of the 2018 release; the message lists the valid ones.
    """
    slug = category_slug(category.strip()).removeprefix(_PREFIX)
    if slug in _BY_SLUG:
        return _BY_SLUG[slug]
    valid = ", ".join(_PREFIX + s for s in _BY_SLUG)
    raise DatasetNotFoundError(
        f"unknown Amazon 2018 category {category!r}; the 2018 release has these 29: {valid}")


def reviews_file_name(stem: str) -> str:
    """``<Stem>_5.json.gz``: the 5-core review file of a category."""
    return f"{stem}_5.json.gz"


def meta_file_name(stem: str) -> str:
    """``meta_<Stem>.json.gz``: the metadata file of a category."""
    return f"meta_{stem}.json.gz"


# -- text cleaning ------------------------------------------------------------------------------
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def strip_html(text: Any) -> str:
    """Plain text of an HTML fragment: tags (and script/style blocks) removed, entities decoded,
    white space collapsed. ``None`` and NaN give ``""``; lists are joined with spaces."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    if isinstance(text, list | tuple):
        return " ".join(p for p in (strip_html(t) for t in text) if p)
    s = _SCRIPT.sub(" ", str(text))
    s = _TAG.sub(" ", s)
    s = html.unescape(s)
    return _SPACE.sub(" ", s).strip()


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _category_path(value: Any) -> str:
    # The first element is the store (top-level) name, the same for a whole file: dropped.
    parts = [strip_html(c).replace("|", "/") for c in _as_list(value)[1:]]
    return "|".join(p for p in parts if p)


# -- reading ------------------------------------------------------------------------------------
def read_amazon_reviews(path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a 5-core review file, checking the fields the loader needs.

    Parameters
    ----------
    path
        ``<Stem>_5.json.gz`` (or any JSON-lines file in that format, optionally compressed).

    Returns
    -------
    (DataFrame, lines)
        Columns ``user_id``, ``item_id`` (str), ``rating`` (float64), ``timestamp`` (int64 unix
        seconds), ``summary`` (str), ``vote`` (float64, 0 when absent or unreadable) and each
        row's line in the file.

    Raises
    ------
    DataFormatError
        Invalid JSON, a truncated archive, a record without ``reviewerID``/``asin``/``overall``/
        ``unixReviewTime``, or a rating or time that is not a number; naming file, line, field
        and value.
    """
    path = Path(path)
    users: list[str] = []
    items: list[str] = []
    ratings: list[Any] = []
    times: list[Any] = []
    summaries: list[str] = []
    votes: list[Any] = []
    lines: list[int] = []
    for lineno, rec in iter_json_lines(path):
        for key in _REQUIRED_FIELDS:
            v = rec.get(key)
            if v is None or (isinstance(v, str) and not v.strip()):
                raise DataFormatError(f"review has no {key!r}", path=path, line=lineno,
                                      column=key)
        for key in ("reviewerID", "asin"):
            if not isinstance(rec[key], str):
                raise DataFormatError("expected a string id", path=path, line=lineno,
                                      column=key, value=rec[key])
        users.append(rec["reviewerID"].strip())
        items.append(rec["asin"].strip())
        ratings.append(rec["overall"])
        times.append(rec["unixReviewTime"])
        summary = rec.get("summary")
        summaries.append(summary.strip() if isinstance(summary, str) else "")
        votes.append(rec.get("vote"))
        lines.append(lineno)
    if not lines:
        raise DataFormatError("file holds no reviews", path=path)
    line_arr = np.asarray(lines, dtype=np.int64)
    rating = parse_numbers(pd.Series(ratings, dtype=object), column="overall", path=path,
                           lines=line_arr)
    ts = parse_numbers(pd.Series(times, dtype=object), column="unixReviewTime", path=path,
                       lines=line_arr, integer=True).astype(np.int64)
    # "vote" is auxiliary (only ranks summaries): thousands separators removed, anything else
    # unreadable counts as no votes rather than failing the load.
    vote = pd.to_numeric(pd.Series(votes, dtype=object).astype("string").str.replace(",", ""),
                         errors="coerce").fillna(0).to_numpy(np.float64)
    df = pd.DataFrame({"user_id": users, "item_id": items, "rating": rating, "timestamp": ts,
                       "summary": summaries, "vote": vote})
    return df, line_arr


def read_amazon_meta(path: str | Path, asins: set[str] | None = None) -> pd.DataFrame:
    """Read a metadata file into a catalogue of plain text.

    Parameters
    ----------
    path
        ``meta_<Stem>.json.gz``.
    asins
        Keep only these products (``None``: all).

    Returns
    -------
    DataFrame
        Indexed by ``item_id`` (the asin) with ``title``, ``brand``, ``category`` (the category
        path without the store name, ``|``-joined), ``description`` (fragments joined, HTML
        removed) and ``feature`` (``; ``-joined). A product listed twice keeps its first record
        (the 2018 metadata has such repeats; their number is logged).
    """
    path = Path(path)
    rows: dict[str, tuple[str, str, str, str, str]] = {}
    repeated = 0
    for lineno, rec in iter_json_lines(path):
        asin = rec.get("asin")
        if not isinstance(asin, str) or not asin.strip():
            raise DataFormatError("product has no 'asin'", path=path, line=lineno,
                                  column="asin", value=asin)
        asin = asin.strip()
        if asins is not None and asin not in asins:
            continue
        if asin in rows:
            repeated += 1
            continue
        features = [strip_html(f) for f in _as_list(rec.get("feature"))]
        rows[asin] = (
            strip_html(rec.get("title")),
            strip_html(rec.get("brand")),
            _category_path(rec.get("category")),
            strip_html(_as_list(rec.get("description"))),
            _FEATURE_SEPARATOR.join(f for f in features if f),
        )
    if repeated:
        log.info("%s: %d repeated product records ignored (first one kept)", path.name, repeated)
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["title", "brand", "category", "description", "feature"])
    table.index = pd.Index(table.index.astype(object), name="item_id")
    return table


def _review_summaries(reviews: pd.DataFrame, n: int) -> pd.Series:
    """Up to ``n`` distinct summaries per item, most voted first, then most recent."""
    s = reviews.loc[reviews["summary"] != "", ["item_id", "summary", "vote", "timestamp"]]
    s = s.sort_values(["vote", "timestamp"], ascending=False, kind="stable")
    s = s.drop_duplicates(["item_id", "summary"])
    s = s.groupby("item_id", sort=False).head(n)
    return s.groupby("item_id", sort=False)["summary"].agg(_SUMMARY_SEPARATOR.join)


def load_amazon_2018(
    folder: str | Path,
    category: str | None = None,
    *,
    duplicates: DuplicatePolicy = "last",
    meta: bool = True,
    n_summaries: int = 5,
    keep_all_items: bool = False,
    name: str | None = None,
) -> InteractionDataset:
    """Load one category of the Amazon Review Data (2018), 5-core.

    Parameters
    ----------
    folder
        The data set folder holding ``<Stem>_5.json.gz`` and optionally ``meta_<Stem>.json.gz``.
    category
        Stem, slug or data set name; by default taken from the folder name
        (``amazon-2018-<slug>``).
    duplicates
        Repeated (user, item) reviews: ``"last"`` (default; the latest review wins, by
        ``unixReviewTime`` and then file order), or any policy of
        :meth:`InteractionDataset.from_dataframe`. The number merged is logged.
    meta
        Read the metadata file when present.
    n_summaries
        How many review summaries per item go into the ``review_summaries`` column.
    keep_all_items
        Also add metadata products that nobody reviewed to the item vocabulary (cold-start
        items). By default the catalogue is cut to the reviewed items.
    name
        Data set name (default ``amazon-2018-<slug>``).

    Returns
    -------
    InteractionDataset
        Explicit ratings on the scale (1, 5) with review times. ``item_info`` has ``title``,
        ``brand``, ``category``, ``description``, ``feature`` (empty without metadata) and
        ``review_summaries``: up to ``n_summaries`` distinct review summaries joined by newlines,
        most helpful (``vote``) first, then most recent, so every item has some text.

    Raises
    ------
    DataFormatError
        A malformed or truncated file, naming the file, line, field and value.
    DatasetNotFoundError
        The review file is missing, or the category is unknown.
    ConfigError
        A negative ``n_summaries``.
    """
    if n_summaries < 0:
        raise ConfigError(f"n_summaries must be >= 0, got {n_summaries}")
    folder = Path(folder)
    stem = category_stem(category if category is not None else folder.name)
    reviews_path = folder / reviews_file_name(stem)
    if not reviews_path.is_file():
        raise DatasetNotFoundError(
            f"{reviews_path} not found; download {REVIEWS_URL_BASE}{reviews_file_name(stem)} "
            f"into {folder} (see {SOURCE})")
    reviews, lines = read_amazon_reviews(reviews_path)
    log.info("%s: read %d reviews", reviews_path.name, len(reviews))

    catalogue = _catalogue(reviews, folder / meta_file_name(stem), meta=meta,
                           n_summaries=n_summaries, keep_all_items=keep_all_items)
    n_reviews = len(reviews)
    ds = InteractionDataset.from_dataframe(
        reviews[["user_id", "item_id", "rating", "timestamp"]], rating_scale=(1.0, 5.0),
        duplicates=duplicates, items=catalogue.reset_index(),
        name=name or _PREFIX + category_slug(stem), path=reviews_path, lines=lines,
        keep_all_items=keep_all_items)
    if ds.n_interactions != n_reviews:
        log.info("%s: %d reviews -> %d (user, item) pairs (duplicates=%s)", reviews_path.name,
                 n_reviews, ds.n_interactions, duplicates)
    return ds


def _catalogue(reviews: pd.DataFrame, meta_path: Path, *, meta: bool, n_summaries: int,
               keep_all_items: bool) -> pd.DataFrame:
    """The reviewed products (and, with ``keep_all_items``, every product of the metadata)
    with their metadata text and review summaries, indexed by ``item_id``."""
    reviewed = pd.unique(reviews["item_id"])
    catalogue = pd.DataFrame(
        {c: "" for c in ("title", "brand", "category", "description", "feature")},
        index=pd.Index(reviewed, dtype=object, name="item_id"))
    if meta and meta_path.is_file():
        table = read_amazon_meta(meta_path, None if keep_all_items else set(reviewed))
        n_missing = len(set(reviewed) - set(table.index))
        log.info("%s: metadata for %d products (%d reviewed products have none)",
                 meta_path.name, len(table), n_missing)
        extra = table.index.difference(catalogue.index)
        catalogue = catalogue.reindex(catalogue.index.append(extra))
        catalogue.update(table)
        catalogue = catalogue.fillna("")
    elif meta:
        log.info("%s not found: item text comes from review summaries only", meta_path.name)
    summaries = _review_summaries(reviews, n_summaries) if n_summaries else pd.Series(dtype=str)
    catalogue["review_summaries"] = summaries.reindex(catalogue.index).fillna("").to_numpy()
    return catalogue


# -- downloading --------------------------------------------------------------------------------
def _fetch_gzip(url: str, dest: Path, sha256: str | None, show_progress: bool) -> Path:
    """Fetch a .gz file and read it to its end (CRC and length check) before it takes its name."""
    if dest.is_file():
        return dest
    tmp = dest.with_name(f".{dest.name}.download")
    tmp.unlink(missing_ok=True)  # a left-over would be taken as already downloaded
    try:
        fetch(url, tmp, sha256, show_progress=show_progress)
        try:
            with gzip.open(tmp, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (EOFError, OSError, zlib.error) as exc:
            raise ChecksumError(f"{url} is not a complete gzip file ({exc}); the file was not "
                                "kept") from exc
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download_amazon_2018(folder: str | Path, category: str | None = None, *,
                         show_progress: bool = True) -> None:
    """Fetch a category's 5-core reviews and (if possible) metadata from the publisher.

    The review file is checked against its sha256 where one is known
    (:data:`REVIEWS_SHA256`) and always decompressed to the end before it is kept; a failed
    metadata download is logged and the data set is used without it.

    Parameters
    ----------
    folder
        The data set folder (created if needed).
    category
        Stem, slug or data set name; by default taken from the folder name.

    Raises
    ------
    DatasetNotFoundError
        The review file could not be downloaded.
    ChecksumError
        The review file does not match its checksum or is not a complete gzip file.
    """
    folder = Path(folder)
    stem = category_stem(category if category is not None else folder.name)
    folder.mkdir(parents=True, exist_ok=True)
    reviews = reviews_file_name(stem)
    _fetch_gzip(REVIEWS_URL_BASE + reviews, folder / reviews, REVIEWS_SHA256.get(stem),
                show_progress)
    meta = meta_file_name(stem)
    try:
        _fetch_gzip(META_URL_BASE + meta, folder / meta, META_SHA256.get(stem), show_progress)
    except (DatasetNotFoundError, ChecksumError) as exc:
        log.warning("metadata %s could not be downloaded (%s); items will have review "
                    "summaries as their only text", meta, exc)


def _make_info(match: re.Match[str]) -> DatasetInfo:
    stem = category_stem(match.group(1))
    return DatasetInfo(
        name=_PREFIX + category_slug(stem),
        description=f"Amazon Review Data 2018, {stem.replace('_', ' ')}: 5-core reviews "
                    "(1-5 stars) with product metadata when present",
        files=(reviews_file_name(stem),),
        optional_files=(meta_file_name(stem),),
        loader=partial(load_amazon_2018, category=stem),
        download=partial(download_amazon_2018, category=stem),
        source=SOURCE,
    )


register_dataset_family(r"amazon-2018-([a-z0-9]+(?:-[a-z0-9]+)*)", _make_info,
                        "amazon-2018-<category> (e.g. amazon-2018-all-beauty)")
