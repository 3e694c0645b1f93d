"""The interaction data set: who interacted with what, how much, when, and what the items are.

pandas (and the readers built on it) is imported by the methods that build or read tables, not
with this module: a model that names :class:`InteractionDataset` in its signatures loads and
answers without pandas.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from synerec.data.options import (
    DUPLICATE_POLICIES,
    DuplicatePolicy,
    IdCase,
    ReadOptions,
    parse_id_case,
    with_options_signature,
)
from synerec.data.report import BadRows, ReadReport
from synerec.data.vocabulary import Vocabulary

if TYPE_CHECKING:
    import pandas as pd

    from synerec.data._cells import as_text, parse_numbers, to_float

# as_text, to_float, parse_id_case and DUPLICATE_POLICIES: importable from here as before
__all__ = ["DUPLICATE_POLICIES", "DuplicatePolicy", "IdCase", "InteractionDataset", "SplitMasks",
           "as_text",
           "parse_id_case", "parse_numbers", "to_float"]

#: Names re-exported from :mod:`synerec.data._cells` (which imports pandas) on first use.
_CELLS = ("as_text", "parse_numbers", "to_float")


def __getattr__(name: str) -> Any:
    if name in _CELLS:
        value = getattr(importlib.import_module("synerec.data._cells"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'synerec.data.dataset' has no attribute {name!r}")

ITEM_TEXT_COLUMNS = ("title", "description", "category")


class SplitMasks(MutableMapping[str, np.ndarray]):
    """A data set's official splits, each read (and checked) when it is first asked for.

    ``synerec evaluate --folds 5`` on MovieLens 100K needs none of its seven official splits;
    reading and checking them all took a second of a two-second command. The names are known
    at once (the loader checks that each split's files exist); a mask is read by its
    ``readers[name]()`` on first access, checked to be a boolean mask over the ``n``
    interactions, and kept.
    """

    def __init__(self, n: int, readers: dict[str, Callable[[], np.ndarray]]) -> None:
        self._n = n
        self._readers = dict(readers)
        self._masks: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        mask = self._masks.get(name)
        if mask is None:
            if name not in self._readers:
                raise KeyError(name)
            mask = np.asarray(self._readers[name]())
            if mask.dtype != bool or len(mask) != self._n:
                raise ValueError(f"split {name!r} must be a boolean mask over interactions")
            self._masks[name] = mask
        return mask

    def __setitem__(self, name: str, mask: np.ndarray) -> None:
        mask = np.asarray(mask)
        if mask.dtype != bool or len(mask) != self._n:
            raise ValueError(f"split {name!r} must be a boolean mask over interactions")
        self._readers.pop(name, None)
        self._masks[name] = mask

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._readers.pop(name, None)
        self._masks.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._readers, *self._masks}))

    def __len__(self) -> int:
        return len({*self._readers, *self._masks})

    def __contains__(self, name: object) -> bool:
        return name in self._readers or name in self._masks

    def __repr__(self) -> str:
        return f"SplitMasks({list(self)})"


@dataclass(eq=False)
class InteractionDataset:
    """A users x items interaction log with its catalogue.

    Attributes
    ----------
    users, items
        Id vocabularies; indices are the rows and columns of :attr:`matrix`.
    user_index, item_index
        One entry per interaction (int32 indices).
    values
        Rating (explicit feedback) or weight (implicit: purchases, quantities), float32.
    timestamps
        Unix seconds per interaction (int64) or ``None``.
    item_info
        Catalogue indexed by item id in vocabulary order: ``title``, ``description``,
        ``category`` (``|``-separated when an item has several) and any extra text columns.
    user_info
        Optional user attributes indexed by user id in vocabulary order.
    rating_scale
        ``(low, high)`` for explicit ratings, ``None`` for implicit data.
    name
        Data set name (``ml-100k``, ``demo-shop``, a file name, ...).
    splits
        Named official test sets: a boolean mask over interactions per split name (``u1`` ..
        ``u5``, ``ua``, ``ub`` for ml-100k). Training part = the complement.
    report
        How the table became this data set (:class:`~synerec.data.report.ReadReport`: rows
        read, filtered, skipped as bad, duplicates merged), or ``None``.
    source
        How to read the data set again, as plain JSON values: ``{"name": ..., "options":
        {...}}`` for a named data set, ``{"config": {...}}`` for a file with its reading
        options (:class:`~synerec.data.config.DatasetConfig`), or ``None`` (built in memory).
        A saved model keeps it, so commands need no ``--dataset`` again.
    """

    users: Vocabulary
    items: Vocabulary
    user_index: np.ndarray
    item_index: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray | None = None
    item_info: pd.DataFrame | None = None
    user_info: pd.DataFrame | None = None
    rating_scale: tuple[float, float] | None = None
    name: str = "dataset"
    splits: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    report: ReadReport | None = None
    source: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.user_index = np.ascontiguousarray(self.user_index, dtype=np.int32)
        self.item_index = np.ascontiguousarray(self.item_index, dtype=np.int32)
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        n = len(self.user_index)
        if len(self.item_index) != n or len(self.values) != n:
            raise ValueError("user_index, item_index and values must have the same length")
        if self.timestamps is not None:
            self.timestamps = np.ascontiguousarray(self.timestamps, dtype=np.int64)
            if len(self.timestamps) != n:
                raise ValueError("timestamps must have one entry per interaction")
        if n and (self.user_index.min() < 0 or self.user_index.max() >= len(self.users)):
            raise ValueError("user_index out of the user vocabulary's range")
        if n and (self.item_index.min() < 0 or self.item_index.max() >= len(self.items)):
            raise ValueError("item_index out of the item vocabulary's range")
        if self.item_info is None:
            import pandas as pd

            self.item_info = pd.DataFrame(index=pd.Index(self.items.ids, name="item_id"))
        for col in ITEM_TEXT_COLUMNS:
            if col not in self.item_info.columns:
                self.item_info[col] = ""
        if not isinstance(self.splits, SplitMasks):  # those check each mask as it is read
            for name, mask in self.splits.items():
                if mask.dtype != bool or len(mask) != n:
                    raise ValueError(f"split {name!r} must be a boolean mask over "
                                     "interactions")

    # -- sizes --------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of users in the vocabulary (rows of :attr:`matrix`)."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items in the vocabulary (columns of :attr:`matrix`)."""
        return len(self.items)

    @property
    def n_interactions(self) -> int:
        """Number of interactions in the log."""
        return len(self.user_index)

    def __len__(self) -> int:
        return self.n_interactions

    @property
    def implicit(self) -> bool:
        """Whether values are implicit weights rather than ratings on a scale."""
        return self.rating_scale is None

    # -- views --------------------------------------------------------------------------------
    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Users x items CSR matrix of float32 values (sorted indices, no duplicates)."""
        m = sp.csr_matrix(
            (self.values, (self.user_index, self.item_index)),
            shape=(self.n_users, self.n_items), dtype=np.float32,
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    def item_categories(self) -> list[tuple[str, ...]]:
        """Each item's categories (split on ``|``), in vocabulary order."""
        assert self.item_info is not None
        return [tuple(c for c in str(v).split("|") if c) for v in self.item_info["category"]]

    def to_dataframe(self) -> pd.DataFrame:
        """The log with external ids: ``user_id, item_id, rating[, timestamp]``."""
        import pandas as pd

        df = pd.DataFrame({
            "user_id": self.users.ids_of(self.user_index),
            "item_id": self.items.ids_of(self.item_index),
            "rating": self.values,
        })
        if self.timestamps is not None:
            df["timestamp"] = self.timestamps
        return df

    def subset(self, rows: np.ndarray, name: str | None = None) -> InteractionDataset:
        """The interactions selected by ``rows`` (mask or indices), with the same vocabularies.

        Splits keep the id spaces of the full data set so train and test matrices align.
        """
        rows = np.asarray(rows)
        if rows.dtype == bool and len(rows) != self.n_interactions:
            raise ValueError("boolean row mask must have one entry per interaction")
        return InteractionDataset(
            users=self.users, items=self.items,
            user_index=self.user_index[rows], item_index=self.item_index[rows],
            values=self.values[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
            item_info=self.item_info, user_info=self.user_info, rating_scale=self.rating_scale,
            name=name or self.name,
        )

    def summary(self) -> dict[str, Any]:
        """Sizes and value statistics, for reports and the CLI."""
        n = self.n_interactions
        density = n / max(1, self.n_users * self.n_items)
        out: dict[str, Any] = {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n,
            "density": density,
            "feedback": "implicit" if self.implicit else "explicit",
            "rating_scale": list(self.rating_scale) if self.rating_scale else None,
            "mean_value": float(self.values.mean()) if n else float("nan"),
            "categories": len({c for cats in self.item_categories() for c in cats}),
            "splits": sorted(self.splits),
        }
        if self.timestamps is not None and n:
            out["first_timestamp"] = int(self.timestamps.min())
            out["last_timestamp"] = int(self.timestamps.max())
        return out


    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        name: str = "dataset",
        path: str | Path | None = None,
        first_line: int | None = None,
        lines: np.ndarray | None = None,
        keep_all_items: bool = True,
        bad_rows: BadRows | None = None,
        **options: Any,
    ) -> InteractionDataset:
        """Build a data set from a table with named columns.

        Parameters
        ----------
        df
            One row per interaction.
        items
            Catalogue with an ``item_id`` (or ``item_col``) column or index and any of
            ``title``, ``description``, ``category`` (or the columns named by ``title_col``,
            ...) and extra text columns; it wins over the log's own columns where it has a
            value. Its items join the vocabulary (when ``keep_all_items``) even if nobody
            interacted with them (cold-start items).
        users
            User attributes with a ``user_id`` column or index.
        name
            Data set name.
        path, first_line, lines
            Where rows came from, so that errors name the file and line.
        keep_all_items
            Whether catalogue items without interactions enter the item vocabulary.
        bad_rows
            Problems the file reader already found (lines it could not split into fields).
        **options
            The reading options of :class:`~synerec.data.options.ReadOptions` but those of a
            file (``format``, ``encoding``, ``items`` as a file):
            {options}

        Raises
        ------
        BadRowsError
            Bad rows with ``on_bad_rows="error"``: every one found (missing id, value that is
            not a number, bad timestamp, rating outside the scale, ...; up to
            :data:`~synerec.data.report.MAX_LISTED` shown, all counted) in one message.
        DataFormatError
            A missing column, a duplicate pair with ``duplicates="error"``, no usable row.
        ConfigError
            Options that contradict each other (``weight_col`` with ``implicit=False``).
        TypeError
            An unknown option.
        """
        opts = ReadOptions.from_keywords(options, caller="from_dataframe", table=True)
        return cls._from_table(df, opts, items=items, users=users, name=name, path=path,
                               first_line=first_line, lines=lines,
                               keep_all_items=keep_all_items, bad_rows=bad_rows)

    @classmethod
    def _from_table(cls, df: pd.DataFrame, opts: ReadOptions, *, items: pd.DataFrame | None,
                    users: pd.DataFrame | None, name: str, path: str | Path | None,
                    first_line: int | None, lines: np.ndarray | None, keep_all_items: bool,
                    bad_rows: BadRows | None) -> InteractionDataset:
        """:meth:`from_dataframe` with its options read: the steps of :mod:`._rows` and
        :mod:`._catalogue`, and the read report."""
        from synerec.data._catalogue import build_catalogues
        from synerec.data._rows import check_rows, interaction_frame, plan_reading

        plan = plan_reading(df, opts, path=path, catalogue_columns=(
            set(items.columns) if items is not None else set()))
        rows = check_rows(df, plan, path=path, name=name, first_line=first_line, lines=lines,
                          bad_rows=bad_rows)
        inter = interaction_frame(df, plan, rows, path=path)
        frame = inter.frame
        cat = build_catalogues(
            df.iloc[inter.pos], frame, inter.item_ids, item_col=plan.item_col,
            text_cols={"title": opts.title_col, "category": opts.category_col,
                       "description": opts.description_col},
            items=items, users=users, user_case=plan.user_case, item_case=plan.item_case,
            keep_all_items=keep_all_items)
        report = ReadReport(
            source=str(path) if path is not None else name, rows_read=len(df),
            filtered=rows.filtered, bad_rows=rows.bad, on_bad_rows=plan.on_bad_rows,
            duplicates=plan.duplicates, duplicates_merged=inter.duplicates_merged,
            feedback="implicit" if plan.implicit else "explicit", value_column=plan.value_col,
            interactions=len(frame), rating_scale=inter.rating_scale,
            scale_inferred=inter.scale_inferred)
        return cls(
            users=cat.users, items=cat.items,
            user_index=cat.users.indices(frame["u"].to_numpy()),
            item_index=cat.items.indices(frame["i"].to_numpy()),
            values=frame["v"].to_numpy(np.float32),
            timestamps=frame["t"].to_numpy(np.int64) if "t" in frame else None,
            item_info=cat.item_info, user_info=cat.user_info, rating_scale=inter.rating_scale,
            name=name, report=report,
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> InteractionDataset:
        """Read a CSV, TSV, Parquet or JSON-lines interaction file (:func:`read_interactions`)."""
        from synerec.data.readers import read_interactions

        return read_interactions(path, **kwargs)


# the options as keywords of from_dataframe (the function under the classmethod)
with_options_signature(vars(InteractionDataset)["from_dataframe"].__func__, table=True)
