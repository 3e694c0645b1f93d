"""External ids <-> contiguous integer indices."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from synerec.exceptions import DataFormatError, UnknownIdError

__all__ = ["Vocabulary"]


#: Lists of at most this many ids are looked up one by one (see :meth:`Vocabulary.indices`).
_FEW = 32


class Vocabulary:
    """A bijection between external ids (users' or items' own ids) and indices ``0..n-1``.

    Algorithms work on indices; ids appear only at the edges (files, CLI, HTTP). This class is
    the one place where the two are converted.

    Parameters
    ----------
    ids
        Distinct external ids, in index order. Integers and strings are kept as they are.
    kind
        What the ids name (``"user"``, ``"item"``); used in error messages.

    Examples
    --------
    >>> v = Vocabulary(["u7", "u3"], kind="user")
    >>> v.index("u3")
    1
    >>> v.indices(["u7", "u3"]).tolist()
    [0, 1]
    """

    def __init__(self, ids: Iterable[Any], kind: str = "id") -> None:
        index = pd.Index(list(ids) if not isinstance(ids, (np.ndarray, pd.Index)) else ids)
        if index.hasnans:
            raise DataFormatError(f"{kind} ids contain a missing value")
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            dup = dup.item() if isinstance(dup, np.generic) else dup
            raise DataFormatError(f"duplicate {kind} id in vocabulary", value=dup)
        self._index = index
        self.kind = kind

    @classmethod
    def from_values(cls, values: Iterable[Any], kind: str = "id", sort: bool = True) -> Vocabulary:
        """Build a vocabulary from values with repeats (e.g. the user column of a log).

        Ids are sorted when they can be, else kept in order of first appearance.
        """
        uniq = pd.unique(pd.Series(values) if not isinstance(values, pd.Series) else values)
        if sort:
            try:
                uniq = np.sort(uniq)
            except TypeError:  # mixed types: keep first-appearance order
                pass
        return cls(uniq, kind=kind)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, id: Any) -> bool:
        try:
            return id in self._index
        except TypeError:
            return False

    def __iter__(self) -> Iterator[Any]:
        return iter(self._index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._index.equals(other._index)

    def __hash__(self) -> int:  # vocabularies are compared by content, not used as keys
        return id(self)

    def __repr__(self) -> str:
        return f"Vocabulary(kind={self.kind!r}, size={len(self)})"

    @property
    def ids(self) -> np.ndarray:
        """All ids, in index order."""
        return self._index.to_numpy()

    def index(self, id: Any) -> int:
        """The index of one id; :class:`UnknownIdError` names the id when it is unknown."""
        try:
            loc = self._index.get_loc(id)
        except (KeyError, TypeError):
            loc = None
        if not isinstance(loc, (int, np.integer)):
            # A string "3" for integer ids (from a URL or a command line) is matched too.
            alt = self._coerce(id)
            if alt is not None:
                return self.index(alt)
            raise UnknownIdError(_plain(id), self.kind)
        return int(loc)

    def _coerce(self, id: Any) -> Any:
        """The id as this vocabulary holds it (``"3"`` -> ``3`` and back), or ``None`` when it
        is not held in either form."""
        if isinstance(id, str) and self._index.dtype.kind in "iu":
            try:
                alt = int(id.strip())
            except ValueError:
                return None
            return alt if alt in self._index else None
        if isinstance(id, (int, np.integer)) and not isinstance(id, bool) and (
                self._index.dtype == object or pd.api.types.is_string_dtype(self._index.dtype)):
            # pandas >= 3 stores string ids with the ``str`` dtype, not ``object``.
            s = str(id)
            return s if s in self else None
        return None

    def _loc(self, id: Any) -> int:
        """The index of one id (``"3"`` and ``3`` alike), ``-1`` when unknown."""
        try:
            loc = self._index.get_loc(id)
        except (KeyError, TypeError, pd.errors.InvalidIndexError):
            loc = None
        if isinstance(loc, (int, np.integer)):
            return int(loc)
        alt = self._coerce(id)
        return int(self._index.get_loc(alt)) if alt is not None else -1

    def indices(self, ids: Iterable[Any], missing: str = "error") -> np.ndarray:
        """Indices of many ids.

        Parameters
        ----------
        ids
            External ids.
        missing
            ``"error"`` raises :class:`UnknownIdError` naming the first unknown id;
            ``"negative"`` returns ``-1`` for unknown ids.
        """
        arr = ids if isinstance(ids, (np.ndarray, pd.Index, pd.Series)) else list(ids)
        if isinstance(arr, list) and len(arr) <= _FEW and not any(
                isinstance(v, bool) for v in arr):
            # A few ids (one request's, one explanation's): the hash table's lookup per id
            # costs about a microsecond, where get_indexer builds an index first (~1 ms).
            out = np.fromiter((self._loc(v) for v in arr), dtype=np.int64, count=len(arr))
            if missing == "error" and (out < 0).any():
                unknown = [v for v, i in zip(arr, out, strict=True) if i < 0]
                raise UnknownIdError(_plain(unknown[0]), self.kind,
                                     count=len(pd.unique(np.asarray(unknown, dtype=object))))
            return out
        idx = self._index.get_indexer(arr)
        bad = np.flatnonzero(idx < 0)
        if bad.size:
            values = np.asarray(arr, dtype=object)
            for b in bad:  # second chance for "3" vs 3
                alt = self._coerce(values[b])
                if alt is not None:
                    idx[b] = self._index.get_loc(alt)
            bad = np.flatnonzero(idx < 0)
            if bad.size and missing == "error":
                raise UnknownIdError(_plain(values[bad[0]]), self.kind,
                                     count=len(pd.unique(values[bad])))
        return idx.astype(np.int64, copy=False)

    def id(self, index: int) -> Any:
        """The id at one index."""
        if not 0 <= int(index) < len(self):
            raise IndexError(f"{self.kind} index {index} out of range 0..{len(self) - 1}")
        value = self._index[int(index)]
        return value.item() if isinstance(value, np.generic) else value

    def ids_of(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Ids at many indices (vectorised)."""
        return self._index.to_numpy()[np.asarray(indices, dtype=np.int64)]

    def extend(self, ids: Iterable[Any]) -> Vocabulary:
        """A new vocabulary with ``ids`` not yet held appended (existing indices unchanged)."""
        new = pd.Index(pd.unique(pd.Series(list(ids), dtype=object)))
        new = new[~new.isin(self._index)]
        if len(new) == 0:
            return self
        return Vocabulary(self._index.append(new), kind=self.kind)

    # -- persistence: plain arrays, never pickle ---------------------------------------------
    def to_array(self) -> np.ndarray:
        """The ids as an array that ``np.savez`` stores without pickling (int64 or unicode)."""
        ids = self._index.to_numpy()
        if ids.dtype.kind in "iu":
            return ids.astype(np.int64)
        strs = [str(x) for x in ids]
        bad = next((s for s in strs if s.endswith("\x00")), None)
        if bad is not None:  # numpy's fixed-width strings would silently drop trailing NULs
            raise DataFormatError(f"{self.kind} id ends with a NUL character; cannot store it",
                                  value=bad)
        return np.asarray(strs, dtype=np.str_)

    @classmethod
    def from_array(cls, array: np.ndarray, kind: str = "id") -> Vocabulary:
        """Inverse of :meth:`to_array`."""
        if array.dtype.kind in "U":
            return cls(array.astype(object), kind=kind)
        return cls(array, kind=kind)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python one, so messages read ``99999``, not ``np.int64(99999)``."""
    return value.item() if isinstance(value, np.generic) else value
