"""External ids <-> contiguous integer indices.

pandas is imported on first need, not with this module: a vocabulary read from a saved model
(integer ids, or text ids) answers a lookup of an ``int`` or ``str`` id from a plain ``dict``,
so that loading a model and ranking one user does not import pandas. Every other operation
(bulk lookups, other id types, :meth:`Vocabulary.extend`) uses a :class:`pandas.Index`, built
on first use, with the same answers as before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from synerec.exceptions import DataFormatError, UnknownIdError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Vocabulary", "count_distinct", "is_pandas_1d"]


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
        self.kind = kind
        self._pos: dict[Any, int] | None = None  # plain ids: id -> index, built on first use
        self._pd: pd.Index | None = None
        plain = _plain_ids(ids)
        #: Plain ids (integers, or Python strings) are looked up from a dict; others by pandas.
        self._plain = plain is not None
        self._is_text = plain is not None and plain.dtype == object
        if plain is not None:  # no missing value possible
            if len(set(plain.tolist())) != len(plain):
                _raise_duplicate(plain, kind)
            self._ids = plain.view()
            self._ids.flags.writeable = False  # ids() hands out a copy of anything mutable
            return
        import pandas as pd

        index = pd.Index(list(ids) if not isinstance(ids, (np.ndarray, pd.Index)) else ids)
        if index.hasnans:
            raise DataFormatError(f"{kind} ids contain a missing value")
        if not index.is_unique:
            _raise_duplicate(index, kind)
        self._pd = index
        self._ids = index.to_numpy().view()
        self._ids.flags.writeable = False

    @property
    def _index(self) -> pd.Index:
        """The ids as a :class:`pandas.Index` (built on first use)."""
        if self._pd is None:
            import pandas as pd

            self._pd = pd.Index(self._ids)
        return self._pd

    def _dict_loc(self, id: Any) -> int | None:
        """The index of an ``int`` or ``str`` id from the ``dict`` (``None``: not held)."""
        if self._pos is None:
            self._pos = {v: i for i, v in enumerate(self._ids.tolist())}
        return self._pos.get(id)

    def _get_loc(self, id: Any) -> int | None:
        """``pandas.Index.get_loc`` for a held id, ``None`` for any other (never raises)."""
        if _fast_key(id) and self._plain:
            return self._dict_loc(id)
        import pandas as pd

        try:
            loc = self._index.get_loc(id)
        except (KeyError, TypeError, pd.errors.InvalidIndexError):
            return None
        return int(loc) if isinstance(loc, (int, np.integer)) else None

    @classmethod
    def from_values(cls, values: Iterable[Any], kind: str = "id", sort: bool = True) -> Vocabulary:
        """Build a vocabulary from values with repeats (e.g. the user column of a log).

        Ids are sorted when they can be, else kept in order of first appearance.
        """
        import pandas as pd

        uniq = pd.unique(pd.Series(values) if not isinstance(values, pd.Series) else values)
        if sort:
            try:
                uniq = np.sort(uniq)
            except TypeError:  # mixed types: keep first-appearance order
                pass
        return cls(uniq, kind=kind)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id: Any) -> bool:
        if _fast_key(id) and self._plain:
            return self._dict_loc(id) is not None
        try:
            return id in self._index
        except TypeError:
            return False

    def __iter__(self) -> Iterator[Any]:
        if self._pd is None and self._plain:
            return iter(self._ids.tolist())
        return iter(self._index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._index.equals(other._index)

    def __hash__(self) -> int:  # vocabularies are compared by content, not used as keys
        return id(self)

    def __repr__(self) -> str:
        return f"Vocabulary(kind={self.kind!r}, size={len(self)})"

    @property
    def ids(self) -> np.ndarray:
        """All ids, in index order (read-only for numbers; a fresh array of objects for others, as
        :meth:`pandas.Index.to_numpy` gives them)."""
        return self._ids.copy() if self._ids.dtype.kind == "O" else self._ids

    def index(self, id: Any) -> int:
        """The index of one id; :class:`UnknownIdError` names the id when it is unknown."""
        loc = self._get_loc(id)
        if loc is None:
            # A string "3" for integer ids (from a URL or a command line) is matched too.
            alt = self._coerce(id)
            if alt is not None:
                return self.index(alt)
            raise UnknownIdError(_plain(id), self.kind)
        return loc

    def _coerce(self, id: Any) -> Any:
        """The id as this vocabulary holds it (``"3"`` -> ``3`` and back), or ``None`` when it
        is not held in either form."""
        if isinstance(id, str) and self._ids.dtype.kind in "iu":
            try:
                alt = int(id.strip())
            except ValueError:
                return None
            return alt if alt in self else None
        if isinstance(id, (int, np.integer)) and not isinstance(id, bool) and self._text_ids():
            s = str(id)
            return s if s in self else None
        return None

    def _text_ids(self) -> bool:
        """Whether the ids are held as text (object or pandas' string dtype)."""
        if self._pd is None and self._is_text:
            return True
        import pandas as pd

        # pandas >= 3 stores string ids with the ``str`` dtype, not ``object``.
        dtype = self._index.dtype
        return bool((isinstance(dtype, np.dtype) and dtype.kind == "O")
                    or pd.api.types.is_string_dtype(dtype))

    def _loc(self, id: Any) -> int:
        """The index of one id (``"3"`` and ``3`` alike), ``-1`` when unknown."""
        loc = self._get_loc(id)
        if loc is not None:
            return loc
        alt = self._coerce(id)
        if alt is None:
            return -1
        found = self._get_loc(alt)
        return -1 if found is None else found

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
        arr = ids if isinstance(ids, np.ndarray) or is_pandas_1d(ids) else list(ids)
        if isinstance(arr, list) and len(arr) <= _FEW and not any(
                isinstance(v, bool) for v in arr):
            # A few ids (one request's, one explanation's): the hash table's lookup per id
            # costs about a microsecond, where get_indexer builds an index first (~1 ms).
            out = np.fromiter((self._loc(v) for v in arr), dtype=np.int64, count=len(arr))
            if missing == "error" and (out < 0).any():
                unknown = [v for v, i in zip(arr, out, strict=True) if i < 0]
                raise UnknownIdError(_plain(unknown[0]), self.kind,
                                     count=count_distinct(np.asarray(unknown, dtype=object)))
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
                                     count=count_distinct(values[bad]))
        return idx.astype(np.int64, copy=False)

    def id(self, index: int) -> Any:
        """The id at one index."""
        if not 0 <= int(index) < len(self):
            raise IndexError(f"{self.kind} index {index} out of range 0..{len(self) - 1}")
        value = self._ids[int(index)]
        return value.item() if isinstance(value, np.generic) else value

    def ids_of(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Ids at many indices (vectorised)."""
        return self._ids[np.asarray(indices, dtype=np.int64)]

    def extend(self, ids: Iterable[Any]) -> Vocabulary:
        """A new vocabulary with ``ids`` not yet held appended (existing indices unchanged)."""
        import pandas as pd

        new = pd.Index(pd.unique(pd.Series(list(ids), dtype=object)))
        new = new[~new.isin(self._index)]
        if len(new) == 0:
            return self
        return Vocabulary(self._index.append(new), kind=self.kind)

    # -- persistence: plain arrays, never pickle ---------------------------------------------
    def to_array(self) -> np.ndarray:
        """The ids as an array that ``np.savez`` stores without pickling (int64 or unicode)."""
        ids = self._ids
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


def _plain_ids(ids: Iterable[Any]) -> np.ndarray | None:
    """``ids`` when they are a 1-d array of integers or of Python strings (what a saved model
    holds), else ``None`` (pandas checks them)."""
    if not isinstance(ids, np.ndarray) or ids.ndim != 1:
        return None
    if ids.dtype.kind in "iu" or (ids.dtype == object and _all_text(ids)):
        return ids
    return None


def _all_text(values: np.ndarray) -> bool:
    return all(type(v) is str for v in values.tolist())


def _fast_key(id: Any) -> bool:
    """Whether a ``dict`` lookup of ``id`` answers as ``pandas.Index.get_loc`` does: ``int``
    (not ``bool``, which pandas does not match to integers), numpy integers and text."""
    return type(id) in (int, str) or isinstance(id, (np.integer, np.str_))


def _raise_duplicate(ids: Any, kind: str) -> None:
    """The first id held twice (in index order), as :class:`DataFormatError`."""
    seen: set[Any] = set()
    for v in ids:
        if v in seen:
            raise DataFormatError(f"duplicate {kind} id in vocabulary", value=_plain(v))
        seen.add(v)
    raise DataFormatError(f"duplicate {kind} id in vocabulary")


def is_pandas_1d(obj: Any) -> TypeGuard[pd.Series | pd.Index]:
    """Whether ``obj`` is a :class:`pandas.Series` or :class:`pandas.Index` (pandas is not
    imported for the question: no such object exists before it is)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, (pd.Series, pd.Index))


def count_distinct(values: np.ndarray) -> int:
    """``len(pandas.unique(values))`` for an object array; plain ``int``/``str`` values are
    counted without importing pandas."""
    items = values.tolist()
    if all(type(v) in (int, str) for v in items):
        return len(set(items))
    import pandas as pd

    return len(pd.unique(values))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python one, so messages read ``99999``, not ``np.int64(99999)``."""
    return value.item() if isinstance(value, np.generic) else value
