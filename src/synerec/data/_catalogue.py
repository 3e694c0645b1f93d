"""The catalogue and the id vocabularies of a table read into a data set.

The last steps of :meth:`~synerec.data.InteractionDataset.from_dataframe`: item information
from a separate catalogue and from the log's own title, category and description columns (the
catalogue wins where it has a value), user information, and the vocabularies that index them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synerec.data._cells import as_text, normalise_ids, scalar
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import DataFormatError

__all__ = ["Catalogues", "build_catalogues"]


@dataclass
class Catalogues:
    """The id vocabularies and the information about users and items, in vocabulary order."""

    users: Vocabulary
    items: Vocabulary
    user_info: pd.DataFrame | None
    item_info: pd.DataFrame | None


def build_catalogues(
    log: pd.DataFrame,
    frame: pd.DataFrame,
    item_ids: np.ndarray,
    *,
    item_col: str,
    text_cols: dict[str, str | None],
    items: pd.DataFrame | None,
    users: pd.DataFrame | None,
    user_case: str,
    item_case: str,
    keep_all_items: bool,
) -> Catalogues:
    """Vocabularies of the interactions' ids (and of the catalogue's items) with their
    information.

    Parameters
    ----------
    log
        The kept rows of the table.
    frame
        The interactions (``u``, ``i``): their ids make the vocabularies.
    item_ids
        Each kept row's item id.
    item_col
        The log's item id column (the catalogue's id column when it has no ``item_id``).
    text_cols
        The log's columns for ``title``, ``category`` and ``description`` (``None``: none).
    items, users
        A catalogue and user information, or ``None``.
    user_case, item_case
        How ids are folded.
    keep_all_items
        Whether catalogue items without interactions enter the item vocabulary.
    """
    item_info = _catalogue(items, "item_id", alt_key=item_col, id_case=item_case,
                           rename=text_cols) if items is not None else None
    log_info = _catalogue_from_log(log, item_ids, {
        target: col for target, col in text_cols.items()
        if col is not None and col in log.columns})
    if log_info is not None:
        item_info = log_info if item_info is None else _fill_catalogue(item_info, log_info)
        if items is None:
            keep_all_items = True  # the log's own items: nothing extra joins
    user_info = _catalogue(users, "user_id", id_case=user_case) if users is not None \
        else None
    user_vocab = Vocabulary.from_values(frame["u"], kind="user")
    if item_info is not None and keep_all_items:
        item_vocab = Vocabulary.from_values(
            pd.concat([frame["i"], pd.Series(item_info.index, dtype=frame["i"].dtype)
                       if len(item_info) else frame["i"]]), kind="item")
    else:
        item_vocab = Vocabulary.from_values(frame["i"], kind="item")
    if user_info is not None:
        user_info = user_info.reindex(user_vocab.ids)
        user_info.index.name = "user_id"
    if item_info is not None:
        item_info = item_info.reindex(item_vocab.ids)
        item_info.index.name = "item_id"
        for col in item_info.columns:
            if item_info[col].dtype == object or pd.api.types.is_string_dtype(
                    item_info[col].dtype):
                item_info[col] = item_info[col].fillna("")
    return Catalogues(users=user_vocab, items=item_vocab, user_info=user_info,
                      item_info=item_info)


def _catalogue(table: pd.DataFrame, key: str, *, alt_key: str | None = None,
               id_case: str = "keep", rename: dict[str, str | None] | None = None
               ) -> pd.DataFrame:
    """A catalogue table indexed by its normalised ids, its columns renamed to ours.

    ``rename`` maps each of our columns (``title``) to the table's (``None``: none). One
    column of the table may be given for several of ours (the same column as title and as
    category): each gets a copy, none is lost.
    """
    t = table.copy()
    if key not in t.columns and alt_key is not None and alt_key in t.columns:
        t = t.rename(columns={alt_key: key})
    if key in t.columns:
        t = t.set_index(key)
    if rename:
        sources = {src for dst, src in rename.items()
                   if src is not None and src in t.columns and dst not in t.columns}
        for dst, src in rename.items():
            if src in sources and dst not in t.columns:
                t[dst] = t[src]
        # a source column that is now one of ours under another name goes (as a rename did)
        t = t.drop(columns=[src for src in sources if src not in rename])
    t.index = pd.Index(normalise_ids(pd.Series(t.index), id_case), name=key)
    if not t.index.is_unique:
        dup = t.index[t.index.duplicated()][0]
        raise DataFormatError(f"duplicate {key} in catalogue", value=scalar(dup), has_value=True)
    return t


def _catalogue_from_log(df: pd.DataFrame, item_ids: np.ndarray,
                        columns: dict[str, str]) -> pd.DataFrame | None:
    """Per item, the most frequent non-empty value of each named column (ties: smallest)."""
    if not columns:
        return None
    out = pd.DataFrame(index=pd.Index(pd.unique(pd.Series(item_ids)), name="item_id"))
    for target, col in columns.items():
        cells = as_text(df[col]).fillna("").str.strip().to_numpy(dtype=object)
        t = pd.DataFrame({"i": item_ids, "v": cells})
        t = t[t["v"] != ""]
        counts = t.groupby(["i", "v"], sort=False).size().reset_index(name="n")
        counts = counts.sort_values(["i", "n", "v"], ascending=[True, False, True],
                                    kind="stable")
        best = counts.drop_duplicates("i").set_index("i")["v"]
        out[target] = best.reindex(out.index).fillna("").to_numpy(dtype=object)
    return out


def _fill_catalogue(catalogue: pd.DataFrame, from_log: pd.DataFrame) -> pd.DataFrame:
    """The catalogue, with empty cells (and items it lacks) filled from the log's columns."""
    out = catalogue.reindex(catalogue.index.union(from_log.index, sort=False))
    for col in from_log.columns:
        log_values = from_log[col].reindex(out.index).fillna("")
        if col in out.columns:
            current = out[col].astype("string").fillna("").str.strip()
            out[col] = np.where(current == "", log_values, out[col].fillna(""))
        else:
            out[col] = log_values
    return out
