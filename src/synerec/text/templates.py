"""Text for language-model encoders: one document per item, one profile vector per user.

:func:`item_texts` turns a data set's item catalogue (``item_info``) into one short document per
item through an :class:`ItemTemplate`; :func:`user_profiles` turns item embeddings into user
embeddings by averaging the embeddings of the items each user rated, weighted by the user's
mean-centred ratings.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from synerec.exceptions import ConfigError
from synerec.text.encoders import normalize_rows

if TYPE_CHECKING:
    import pandas as pd

    from synerec.data.dataset import InteractionDataset

__all__ = [
    "DEFAULT_ITEM_TEMPLATE",
    "DEFAULT_MAX_CHARS",
    "ItemTemplate",
    "TemplateField",
    "item_texts",
    "truncate",
    "user_profiles",
]

log = logging.getLogger(__name__)

#: Default length limit of an item text, in characters. all-MiniLM-L6-v2 reads at most 256
#: word pieces (about 1,000 characters of English); longer text would be cut by the model anyway.
DEFAULT_MAX_CHARS = 1000

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TemplateField:
    """One column of ``item_info`` rendered into an item text.

    Parameters
    ----------
    column
        The ``item_info`` column. A column the catalogue lacks is skipped, and so is an empty cell.
    label
        Written before the value as ``"{label}: {value}"``; ``""`` writes the value alone.
    split
        Separator of a list-valued cell (``"|"`` for genres, ``"\\n"`` for review summaries), or
        ``None`` for a plain value. The parts are stripped, empty ones dropped, and joined with
        ``join``.
    join
        Separator written between the parts of a list-valued cell.
    """

    column: str
    label: str = ""
    split: str | None = None
    join: str = ", "

    def render(self, value: Any) -> str:
        """The field's text for one cell, ``""`` when the cell is empty."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, (list, tuple)):
            parts = [str(v) for v in value]
        elif self.split is not None:
            parts = str(value).split(self.split)
        else:
            parts = [str(value)]
        parts = [p for p in (_WHITESPACE.sub(" ", p).strip() for p in parts) if p]
        if not parts:
            return ""
        text = self.join.join(parts)
        return f"{self.label}: {text}" if self.label else text


@dataclass(frozen=True)
class ItemTemplate:
    """How an item's catalogue row becomes one line of text.

    The non-empty fields are rendered in order and joined with ``separator``; when the
    separator starts with a period, a field's own trailing periods are dropped (no ``".."``);
    whitespace (newlines included) is collapsed to single spaces; a text longer than
    ``max_chars`` is cut at the last space before the limit (or at the limit when a single word
    is longer).

    Parameters
    ----------
    fields
        The fields, in the order they are written.
    separator
        Written between two fields.
    max_chars
        Longest text, in characters (``None``: no limit).
    """

    fields: tuple[TemplateField, ...]
    separator: str = ". "
    max_chars: int | None = DEFAULT_MAX_CHARS

    def render(self, row: dict[str, Any] | pd.Series) -> str:
        """The text of one catalogue row (a mapping from column to cell)."""
        parts = []
        for f in self.fields:
            if f.column in row:
                text = f.render(row[f.column])
                if self.separator.startswith("."):
                    text = text.rstrip(" .")
                if text:
                    parts.append(text)
        return truncate(" ".join(self.separator.join(parts).split()), self.max_chars)


#: The default item template. For MovieLens it gives ``"Toy Story (1995). Genres: Animation,
#: Children's, Comedy"``; for a shop ``"<title>. Genres: <category>. Brand: <brand>.
#: <description>"``; Amazon items add ``Features:`` and ``Reviews:`` (review summaries joined with
#: ``"; "``), and a ``tags`` column is written as ``Tags:``. Columns a catalogue lacks are skipped.
DEFAULT_ITEM_TEMPLATE = ItemTemplate(fields=(
    TemplateField("title"),
    TemplateField("category", "Genres", split="|"),
    TemplateField("genres", "Genres", split="|"),
    TemplateField("brand", "Brand"),
    TemplateField("description"),
    TemplateField("feature", "Features", split="\n", join="; "),
    TemplateField("tags", "Tags", split="|"),
    TemplateField("review_summaries", "Reviews", split="\n", join="; "),
))


def truncate(text: str, max_chars: int | None) -> str:
    """``text`` cut to at most ``max_chars`` characters, at a word boundary when there is one."""
    if max_chars is None or len(text) <= max_chars:
        return text
    if max_chars < 1:
        raise ConfigError(f"max_chars must be positive, got {max_chars}")
    cut = text[:max_chars]
    if text[max_chars] != " ":  # the limit falls inside a word: end at the last space
        space = cut.rfind(" ")
        head = cut[:space].rstrip() if space > 0 else ""
        if head:
            cut = head
    return cut.rstrip()


def item_texts(dataset: InteractionDataset,
               template: ItemTemplate = DEFAULT_ITEM_TEMPLATE) -> list[str]:
    """One text per item of ``dataset``, in item-index order.

    Parameters
    ----------
    dataset
        The data set; its ``item_info`` catalogue supplies the columns the template names.
    template
        How a row becomes text (see :data:`DEFAULT_ITEM_TEMPLATE`).

    Returns
    -------
    list of str
        ``texts[i]`` describes the item with index ``i``. An item without any text gives ``""``
        (every encoder of :mod:`synerec.text` maps it to a zero vector).
    """
    info = dataset.item_info
    if info is None or len(info.columns) == 0:
        return [""] * dataset.n_items
    info = info.reindex(dataset.items.ids)
    columns = [f.column for f in template.fields if f.column in info.columns]
    records = info[columns].to_dict("records") if columns else [{}] * len(info)
    texts = [template.render(r) for r in records]
    empty = sum(1 for t in texts if not t)
    if empty:
        log.info("%d of %d items of %s have no text", empty, len(texts), dataset.name)
    return texts


def user_profiles(X: sp.spmatrix | sp.sparray, item_embeddings: np.ndarray, *,
                  rtol: float = 1e-9) -> np.ndarray:
    """User embeddings as the mean-centred, rating-weighted average of their items' embeddings.

    For user :math:`u` with rated items :math:`I_u` (the stored entries of row :math:`u`),
    ratings :math:`r_{ui}` and mean rating :math:`\\bar r_u`,

    .. math::

        p_u = \\frac{\\sum_{i \\in I_u} w_{ui} e_i}{\\lVert \\sum_{i \\in I_u} w_{ui} e_i \\rVert},
        \\qquad w_{ui} = r_{ui} - \\bar r_u,

    so items rated above the user's mean pull the profile towards them and items rated below push
    it away. When all of a user's weights are zero (every rating equal, as in implicit data),
    :math:`w_{ui} = 1`: the plain mean. A user with no ratings, or whose weighted sum is the zero
    vector, gets a zero row.

    Parameters
    ----------
    X
        users x items ratings, CSR (any scipy sparse matrix is converted).
    item_embeddings
        items x d; row ``i`` embeds item index ``i``.
    rtol
        A weight counts as zero when ``|w| <= rtol * max(1, |mean|)`` (float rounding of the mean).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_users, d)``, rows of unit norm (or zero).
    """
    E = np.asarray(item_embeddings)
    if E.ndim != 2:
        raise ConfigError(f"item_embeddings must be 2-D, got shape {E.shape}")
    X = sp.csr_matrix(X, dtype=np.float64)
    if X.shape[1] != E.shape[0]:
        raise ConfigError(f"X has {X.shape[1]} items but item_embeddings has {E.shape[0]} rows")
    X.sum_duplicates()
    counts = np.diff(X.indptr)
    sums = np.asarray(X.sum(axis=1)).ravel()
    means = np.divide(sums, counts, out=np.zeros(X.shape[0]), where=counts > 0)
    row_mean = np.repeat(means, counts)
    weights = X.data - row_mean
    zero = np.abs(weights) <= rtol * np.maximum(1.0, np.abs(row_mean))
    weights[zero] = 0.0
    # a user whose weights are all zero gets weights 1 (plain mean)
    nonzero_per_row = np.bincount(np.repeat(np.arange(X.shape[0]), counts)[~zero],
                                  minlength=X.shape[0])
    flat_rows = (counts > 0) & (nonzero_per_row == 0)
    weights[np.repeat(flat_rows, counts)] = 1.0
    W = sp.csr_matrix((weights, X.indices, X.indptr), shape=X.shape)
    return normalize_rows(W @ E.astype(np.float64, copy=False))
