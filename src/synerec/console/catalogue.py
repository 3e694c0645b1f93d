"""What the console knows about items and users beyond the served model.

* :class:`ItemCatalogue`: the items' titles and categories as the saved model carries them
  (``catalogue_``, by item index), plus the longer text of the base data set (description,
  brand, price, ...) when the data set can be read again.
* :class:`BaseData`: the base data set read again from the model's recorded source (or the
  service's ``base_dataset``): the catalogue text and the interaction dates, which a saved model
  does not keep.
* :class:`TextIndex`: "similar by text": the top-k cosine neighbours of every item's text
  (:func:`synerec.text.item_texts`), embedded once with a local encoder through the on-disk
  embedding cache (no network).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from synerec.algorithms.text_knn import center_rows
from synerec.data import load_dataset
from synerec.data.dataset import InteractionDataset
from synerec.data.registry import load_source
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import SynerecError
from synerec.similarity.text import text_similarity
from synerec.text import EmbeddingCache, cached_encode, create_encoder

__all__ = ["BaseData", "ItemCatalogue", "TextIndex", "build_text_index", "load_base_data",
           "split_categories"]

log = logging.getLogger(__name__)

#: Catalogue columns shown as the product's text, in this order (others follow).
TEXT_COLUMNS = ("description", "brand", "price", "release_date")
#: Columns never shown (links that would leave the console, internal ids).
HIDDEN_COLUMNS = frozenset({"title", "category", "imdb_url", "url", "image", "image_url"})


def split_categories(value: Any) -> tuple[str, ...]:
    """``"Action|Comedy"`` -> ``("Action", "Comedy")``; empty for a missing value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    return tuple(c.strip() for c in str(value).split("|") if c.strip())


@dataclass(frozen=True)
class BaseData:
    """The base data set, as far as the console uses it.

    Attributes
    ----------
    name
        The data set's name.
    items, users
        Its vocabularies.
    info
        ``item_info`` (indexed by item id, vocabulary order).
    timestamps
        ``(n_users, n_items)`` CSR of interaction times (unix seconds), or ``None``.
    """

    name: str
    items: Vocabulary
    users: Vocabulary
    info: pd.DataFrame | None
    timestamps: sp.csr_matrix | None

    @classmethod
    def from_dataset(cls, ds: InteractionDataset) -> BaseData:
        ts = None
        if ds.timestamps is not None:
            ts = sp.csr_matrix((ds.timestamps.astype(np.float64),
                                (ds.user_index, ds.item_index)),
                               shape=(ds.n_users, ds.n_items))
            ts.sum_duplicates()
            ts.sort_indices()
        return cls(ds.name, ds.items, ds.users, ds.item_info, ts)

    def dates(self, user_id: Any, item_ids: Sequence[Any]) -> list[float | None]:
        """The base data's interaction time of ``user_id`` with each item (``None``: none)."""
        if self.timestamps is None or not len(item_ids):
            return [None] * len(item_ids)
        u = int(self.users.indices([user_id], missing="negative")[0])
        if u < 0:
            return [None] * len(item_ids)
        cols = self.items.indices(list(item_ids), missing="negative")
        T = self.timestamps
        lo, hi = T.indptr[u], T.indptr[u + 1]
        row, vals = T.indices[lo:hi], T.data[lo:hi]
        if len(row) == 0:
            return [None] * len(item_ids)
        pos = np.minimum(np.searchsorted(row, cols), len(row) - 1)
        found = (cols >= 0) & (row[pos] == cols)
        return [float(v) if ok else None for v, ok in zip(vals[pos], found, strict=True)]

    def item_dates(self, item_id: Any, user_ids: Sequence[Any]) -> list[float | None]:
        """The base data's interaction time of each user with ``item_id``."""
        if self.timestamps is None or not len(user_ids):
            return [None] * len(user_ids)
        i = int(self.items.indices([item_id], missing="negative")[0])
        if i < 0:
            return [None] * len(user_ids)
        rows = self.users.indices(list(user_ids), missing="negative")
        col = self._columns()[:, [i]].tocsc()
        users, vals = col.indices, col.data  # sorted user indices of the item's column
        if len(users) == 0:
            return [None] * len(user_ids)
        pos = np.minimum(np.searchsorted(users, rows), len(users) - 1)
        found = (rows >= 0) & (users[pos] == rows)
        return [float(v) if ok else None for v, ok in zip(vals[pos], found, strict=True)]

    def _columns(self) -> sp.csc_matrix:
        T = self.timestamps
        assert T is not None
        cached = self.__dict__.get("_csc")
        if cached is None:
            cached = T.tocsc()
            cached.sort_indices()
            object.__setattr__(self, "_csc", cached)
        return cached

    def text_fields(self, item_id: Any) -> list[tuple[str, str]]:
        """The item's text columns other than title and category, as ``(label, value)``."""
        if self.info is None:
            return []
        try:
            row = self.info.loc[item_id]
        except (KeyError, TypeError):
            i = int(self.items.indices([item_id], missing="negative")[0])
            if i < 0:
                return []
            row = self.info.iloc[i]
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        cols = [c for c in TEXT_COLUMNS if c in row.index]
        cols += [c for c in row.index if c not in cols and c not in HIDDEN_COLUMNS
                 and not c.startswith("_")]
        out = []
        for c in cols:
            if c in HIDDEN_COLUMNS:
                continue
            v = row[c]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            if isinstance(v, pd.Timestamp):
                text = v.strftime("%Y-%m-%d")
            elif isinstance(v, float):
                text = f"{v:,.2f}"
            else:
                text = str(v).strip()
            if text and text.lower() not in ("nan", "nat", "none"):
                out.append((c.replace("_", " "), text))
        return out


def load_base_data(base_dataset: str | None, options: dict[str, Any],
                   source: dict[str, Any] | None) -> BaseData | None:
    """Read the base data set again: the service's ``base_dataset`` first, else the source the
    served model recorded; ``None`` (logged) when neither can be read (nothing is downloaded)."""
    start = time.perf_counter()
    try:
        if base_dataset:
            ds = load_dataset(base_dataset, download=False, **options)
        elif source:
            ds = load_source(source, download=False)
        else:
            log.info("console: the model records no data source: no dates or item text")
            return None
    except (SynerecError, OSError, ValueError) as exc:
        log.warning("console: cannot read the base data set again (%s): no dates or item "
                    "text beyond the model's catalogue", exc)
        return None
    log.info("console: read %s again in %.2f s", ds.name, time.perf_counter() - start)
    return BaseData.from_dataset(ds)


class ItemCatalogue:
    """Titles and categories by item index of one model, from the catalogue it carries."""

    def __init__(self, model: Any) -> None:
        self.items: Vocabulary = model.items_
        cat = model.catalogue_ or {}
        n = len(self.items)
        self.titles: np.ndarray | None = cat.get("title")
        self.categories: np.ndarray | None = cat.get("category")
        if self.titles is not None and len(self.titles) != n:
            self.titles = None
        if self.categories is not None and len(self.categories) != n:
            self.categories = None

    @property
    def has_titles(self) -> bool:
        return self.titles is not None

    def index(self, item_id: Any) -> int:
        return int(self.items.indices([item_id], missing="negative")[0])

    def title(self, i: int) -> str | None:
        if self.titles is None or i < 0:
            return None
        t = str(self.titles[i]).strip()
        return t or None

    def category(self, i: int) -> tuple[str, ...]:
        if self.categories is None or i < 0:
            return ()
        return split_categories(self.categories[i])


@dataclass(frozen=True)
class TextIndex:
    """Top-k text neighbours of every item of the base catalogue (by item id).

    Attributes
    ----------
    items
        The vocabulary the rows of ``neighbors`` follow.
    neighbors
        ``(n, n)`` CSR: row ``i`` holds the cosines of item ``i``'s nearest texts.
    encoder
        The encoder's name (shown on the product page).
    seconds
        Time to build it.
    """

    items: Vocabulary
    neighbors: sp.csr_matrix
    encoder: str
    seconds: float

    def similar(self, item_id: Any, n: int) -> list[tuple[Any, float]]:
        """The ``n`` items whose text is closest to ``item_id``'s, closest first."""
        i = int(self.items.indices([item_id], missing="negative")[0])
        if i < 0:
            return []
        S = self.neighbors
        lo, hi = S.indptr[i], S.indptr[i + 1]
        cols, vals = S.indices[lo:hi], S.data[lo:hi]
        order = np.lexsort((cols, -vals))[:n]
        ids = self.items.ids_of(cols[order])
        return [(v.item() if isinstance(v, np.generic) else v, float(s))
                for v, s in zip(ids, vals[order], strict=True)]


def _encoders(choice: str) -> list[str]:
    return ["minilm", "model2vec", "tfidf"] if choice == "auto" else [choice]


def build_text_index(texts: Sequence[str], items: Vocabulary, choice: str, k: int
                     ) -> TextIndex | None:
    """Embed ``texts`` (one per item of ``items``) and keep each item's ``k`` nearest texts.

    ``choice`` ``auto`` tries the bundled MiniLM, then model2vec, then TF-IDF (the first that
    works offline); ``None`` when none works or no item has text.
    """
    if choice == "none":
        return None
    texts = [t or "" for t in texts]
    if not any(t.strip() for t in texts):
        log.info("console: no item has text: no 'similar by text' list")
        return None
    for kind in _encoders(choice):
        start = time.perf_counter()
        try:
            E = _embed(kind, texts)
        except Exception as exc:  # an optional encoder that is missing or fails: the next one
            log.info("console: text encoder %s unavailable (%s)", kind, exc)
            continue
        empty = np.array([not t.strip() for t in texts])
        E[empty] = 0.0
        S = text_similarity(center_rows(E), k)
        seconds = time.perf_counter() - start
        log.info("console: text neighbours of %d items with %s in %.1f s", len(texts), kind,
                 seconds)
        return TextIndex(items, S, kind, seconds)
    log.warning("console: no text encoder works here (%s): no 'similar by text' list",
                ", ".join(_encoders(choice)))
    return None


def _embed(kind: str, texts: list[str]) -> np.ndarray:
    enc = create_encoder(kind)  # an unfitted TF-IDF encoder is fitted on the texts by the cache
    return np.array(cached_encode(enc, texts, cache=EmbeddingCache(), show_progress=False),
                    dtype=np.float32)
