"""The ``arrays.npz`` of a model directory: an uncompressed zip of ``.npy`` members.

Writing aligns each member's data to 64 bytes (so that it can be memory-mapped in place);
reading maps or reads a member, and :class:`VerifiedArrays` checks each member's own sha256
(format version 3) when the array is first taken. From format version 4 a member larger than
:data:`CHUNK_BYTES` also has the sha256 of each of its consecutive :data:`CHUNK_BYTES` pieces:
:meth:`VerifiedArrays.rows` hands out such an array as :class:`ArrayRows`, whose rows are
read from the mapping after verifying only the pieces they lie in (and the piece holding the
``.npy`` header), so that a request reading a few rows of a 1.6 GB matrix hashes a few MiB.
The directory around it (manifest, checksums of the whole, extra files, atomic replacement)
is :mod:`.persistence`.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import scipy.sparse as sp

from synerec.exceptions import ModelFileError

__all__ = ["CHUNK_BYTES", "ArrayRows", "ArraysView", "CSRRows", "VerifiedArrays",
           "array_rows", "check_spec", "csr_rows", "member_digests", "npz_members_mapped",
           "write_npz"]

#: Bytes per checksummed piece of a large member (format version 4): a member larger than
#: this has one sha256 per piece in the manifest (``"chunk_sha256"``).
CHUNK_BYTES = 1 << 20

_ALIGN = 64  # member data alignment in arrays.npz (the .npy header pads to 64 as well)
_PAD_EXTRA_ID = 0xD935  # zip "extra field" id used for alignment padding (as Android zipalign)
_ZIP_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def write_npz(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` without compression, each member's data aligned to :data:`_ALIGN` bytes.

    The zip is what ``np.savez`` writes (zip64 members, ``ZIP_STORED``), plus a padding "extra
    field" in each local header so that the ``.npy`` data (whose header numpy pads to 64 bytes)
    starts at a multiple of 64: the arrays can be memory-mapped in place, aligned.
    """
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            fname = info.filename.encode("utf-8")
            # local header (30) + name + our extra (4 + pad) + the zip64 extra (20, forced)
            base = f.tell() + _ZIP_LOCAL_HEADER.size + len(fname) + 4 + 20
            pad = (-base) % _ALIGN
            info.extra = struct.pack("<HH", _PAD_EXTRA_ID, pad) + b"\0" * pad
            with zf.open(info, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


def npz_members_mapped(arrays_path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of an uncompressed npz, memory-mapped copy-on-write."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(arrays_path) as zf, open(arrays_path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                with zf.open(info) as member:  # compressed: cannot be mapped, read it
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            f.seek(info.header_offset)
            head = f.read(_ZIP_LOCAL_HEADER.size)
            if len(head) != _ZIP_LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise ValueError(f"member {info.filename!r} has no valid local header")
            fields = _ZIP_LOCAL_HEADER.unpack(head)
            start = info.header_offset + _ZIP_LOCAL_HEADER.size + fields[-2] + fields[-1]
            f.seek(start)
            shape, fortran, dtype = _npy_header(f, info.filename)
            offset = f.tell()
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if offset + nbytes > min(size, start + info.file_size):
                raise ValueError(f"member {info.filename!r} is truncated")
            if nbytes == 0:
                out[name] = np.zeros(shape, dtype=dtype, order="F" if fortran else "C")
                continue
            mm = np.memmap(arrays_path, dtype=dtype, mode="c", offset=offset, shape=shape,
                           order="F" if fortran else "C")
            out[name] = mm.view(np.ndarray)  # a plain array over the mapping
    return out


@dataclass(frozen=True)
class _Member:
    """Where one ``.npy`` member's stored bytes lie in the archive."""

    name: str
    start: int  # offset of its first byte (after the zip local header)
    size: int  # stored (compressed) size
    stored: bool  # ZIP_STORED: the bytes are the .npy file itself


def _members(arrays_path: Path) -> dict[str, _Member]:
    """The archive's members by array name, from its central directory (nothing else read).

    Raises ``ValueError``/``zipfile.BadZipFile`` for a damaged archive.
    """
    out: dict[str, _Member] = {}
    with zipfile.ZipFile(arrays_path) as zf, open(arrays_path, "rb") as f:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            f.seek(info.header_offset)
            head = f.read(_ZIP_LOCAL_HEADER.size)
            if len(head) != _ZIP_LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise ValueError(f"member {info.filename!r} has no valid local header")
            fields = _ZIP_LOCAL_HEADER.unpack(head)
            start = info.header_offset + _ZIP_LOCAL_HEADER.size + fields[-2] + fields[-1]
            out[name] = _Member(name, start, info.compress_size,
                                info.compress_type == zipfile.ZIP_STORED)
    return out


def _member_digest(f: BinaryIO, member: _Member, chunk: int = CHUNK_BYTES,
                   pieces: list[str] | None = None) -> str:
    """Hex sha256 of a member's stored bytes (``ValueError`` when the file is too short);
    the sha256 of each consecutive ``chunk`` bytes is appended to ``pieces`` when given."""
    h = hashlib.sha256()
    f.seek(member.start)
    left = member.size
    while left > 0:
        block = f.read(min(chunk, left))
        if len(block) != min(chunk, left):
            raise ValueError(f"member {member.name!r} is truncated")
        h.update(block)
        if pieces is not None:
            pieces.append(hashlib.sha256(block).hexdigest())
        left -= len(block)
    return h.hexdigest()


class ArrayRows:
    """An array read by rows (along its first axis), for a model that needs only some rows.

    ``take(rows)`` copies rows, ``span(lo, hi)`` gives a contiguous range and ``full()`` the
    whole array. This base class holds an array in memory, or a function that reads (and
    verifies) the whole array when first needed; :meth:`VerifiedArrays.rows` gives, for a
    large member of a format version 4 archive, one that verifies only the pieces the rows
    it hands out lie in.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype[Any],
                 load: Callable[[], np.ndarray]) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._load = load
        self._full: np.ndarray | None = None

    @classmethod
    def of(cls, array: np.ndarray) -> ArrayRows:
        """Rows of an array already in memory."""
        arr = np.asarray(array)
        return cls(arr.shape, arr.dtype, lambda: arr)

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (Ray's object store) as the whole array, verified: never the raw mapping
        return (ArrayRows.of, (self.full(),))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """A copy of the rows ``rows`` (integer indices)."""
        return self.full()[np.asarray(rows, dtype=np.int64)]

    def span(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo`` to ``hi`` (exclusive)."""
        return self.full()[lo:hi]

    def full(self) -> np.ndarray:
        """The whole array (verified whole)."""
        if self._full is None:
            self._full = self._load()
        return self._full


class _Pieces:
    """The :data:`CHUNK_BYTES` pieces of one member, each verified once, when first needed.

    A piece is hashed from the file (read, not through the mapping the model reads its rows
    from: hashing leaves no page of the model's memory resident), and its verified bytes are
    kept only for the ``.npy`` header.
    """

    def __init__(self, path: Path, name: str, start: int, size: int, digests: list[str],
                 chunk: int) -> None:
        self.path, self.name, self.start, self.size, self.chunk = path, name, start, size, chunk
        self.digests = digests
        self.done = np.zeros(len(digests), dtype=bool)

    def verify(self, lo: int, hi: int) -> None:
        """Verify the pieces holding bytes ``lo`` to ``hi`` (exclusive) of the member."""
        if hi <= lo:
            return
        self.verify_pieces(np.arange(lo // self.chunk, (hi - 1) // self.chunk + 1))

    def verify_pieces(self, pieces: np.ndarray) -> None:
        todo = pieces[~self.done[pieces]]
        if len(todo) == 0:
            return
        with open(self.path, "rb") as f:
            for k in todo:
                self._check(f, int(k))

    def read_verified(self, hi: int) -> bytes:
        """The member's first ``hi`` bytes, their pieces verified."""
        with open(self.path, "rb") as f:
            blocks = [self._check(f, k) for k in range(0, (hi - 1) // self.chunk + 1)]
        return b"".join(blocks)[:hi]

    def _check(self, f: BinaryIO, k: int) -> bytes:
        lo = k * self.chunk
        want = min(self.chunk, self.size - lo)
        f.seek(self.start + lo)
        block = f.read(want)
        if len(block) != want:
            raise ModelFileError(f"cannot read {self.path}: member {self.name!r} is truncated")
        digest = hashlib.sha256(block).hexdigest()
        if digest != self.digests[k]:
            raise ModelFileError(
                f"{self.path} is corrupted: array {self.name!r}, bytes {lo}..{lo + want} of "
                f"its member, has sha256 {digest}, the manifest (model.json) records "
                f"{self.digests[k]}")
        self.done[k] = True
        return block


class _VerifiedRows(ArrayRows):
    """Rows of a mapped member whose pieces are verified when rows in them are read."""

    def __init__(self, pieces: _Pieces, offset: int, view: np.ndarray) -> None:
        super().__init__(view.shape, view.dtype, self._verified_whole)
        self._pieces = pieces
        self._offset = offset
        self._view = view
        self._row_bytes = int(np.prod(view.shape[1:], dtype=np.int64)) * view.dtype.itemsize

    def _verified_whole(self) -> np.ndarray:
        self._pieces.verify(0, self._pieces.size)
        return self._view

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        rows = np.where(rows < 0, rows + len(self), rows)
        if self._full is None and len(rows):
            lo = self._offset + rows * self._row_bytes
            first = lo // self._pieces.chunk
            last = (lo + max(self._row_bytes, 1) - 1) // self._pieces.chunk
            width = int((last - first).max()) + 1
            pieces = (first[:, None] + np.arange(width)[None, :])
            pieces = np.unique(np.minimum(pieces, last[:, None]))
            self._pieces.verify_pieces(pieces)
        return np.array(self._view[rows])

    def span(self, lo: int, hi: int) -> np.ndarray:
        lo, hi, _ = slice(lo, hi).indices(len(self))
        if self._full is None and hi > lo:
            self._pieces.verify(self._offset + lo * self._row_bytes,
                                self._offset + hi * self._row_bytes)
        return self._view[lo:hi]


class VerifiedArrays(Mapping[str, np.ndarray]):
    """The arrays of a format version 3 (or later) model, each read (or mapped) when first
    taken.

    Opening reads only the archive's directory and checks that it lists exactly the manifest's
    arrays. Taking an array (``arrays[name]``, ``.items()``, ``.values()``) verifies its
    member's sha256 against the manifest (from version 4, for a large member, the sha256 of
    each of its pieces), then reads it (``allow_pickle=False``) or maps it copy-on-write (a
    member with pieces is always mapped), and checks its shape and dtype; it is kept for the
    next time. A mismatch raises :class:`ModelFileError` before the array is handed out.
    :meth:`rows` hands out a large version 4 member by rows, verifying only the pieces that
    the rows read lie in.
    """

    def __init__(self, arrays_path: Path, expected: dict[str, Any], mapped: bool,
                 chunk_bytes: int | None = None) -> None:
        self._path = arrays_path
        self._expected = expected
        self._mapped = mapped
        self._chunk = chunk_bytes
        self._done: dict[str, np.ndarray] = {}
        self._rows: dict[str, ArrayRows] = {}
        try:
            self._members = _members(arrays_path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"cannot read {arrays_path} (truncated or corrupted): "
                                 f"{exc}") from exc
        if set(self._members) != set(expected):
            raise ModelFileError(
                f"{arrays_path} holds arrays {sorted(self._members)}, the manifest lists "
                f"{sorted(expected)}")

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __contains__(self, name: object) -> bool:  # without reading the array
        return name in self._members

    def __getitem__(self, name: str) -> np.ndarray:
        return self._take(name, self._mapped)

    def _take(self, name: str, mapped: bool) -> np.ndarray:
        got = self._done.get(name)
        if got is not None:
            return got
        member = self._members[name]  # KeyError for a name the file does not hold
        spec = self._expected[name]
        if self._pieces_of(name) is not None:  # mapped (copy-on-write), every piece verified
            arr = self.rows(name).full()
            self._done[name] = arr
            return arr
        want = spec.get("sha256") if isinstance(spec, dict) else None
        if not isinstance(want, str):
            raise ModelFileError(f"{self._path}: the manifest records no sha256 for array "
                                 f"{name!r}; the file is corrupted")
        try:
            with open(self._path, "rb") as f:
                digest = _member_digest(f, member)
                if digest != want:
                    raise ModelFileError(
                        f"{self._path} is corrupted: array {name!r} has sha256 {digest}, "
                        f"the manifest (model.json) records {want}")
                arr = self._load(f, member, mapped)
        except ModelFileError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise ModelFileError(f"cannot read {self._path}: {exc}") from exc
        check_spec(self._path, name, arr, spec)
        self._done[name] = arr
        return arr

    def rows(self, name: str) -> ArrayRows:
        """The array ``name`` read by rows (:class:`ArrayRows`).

        A member with piece checksums (format version 4, larger than one piece, stored,
        C order) is mapped, and ``take``/``span`` verify the pieces of the rows they read
        (``full`` all of them); any other array is verified whole when first read, then
        mapped (when stored uncompressed).
        """
        got = self._rows.get(name)
        if got is not None:
            return got
        spec = self._expected[name]  # KeyError for a name the manifest does not list
        if name not in self._members:
            raise KeyError(name)
        rows: ArrayRows
        if self._pieces_of(name) is not None:
            rows = self._verified_rows(name)
        else:
            shape = tuple(spec.get("shape", ())) if isinstance(spec, dict) else ()
            dtype = np.dtype(spec.get("dtype", "<f8")) if isinstance(spec, dict) else np.dtype(
                np.float64)
            # verified whole when first read, then mapped: the rows a model reads are resident
            rows = ArrayRows(shape, dtype, lambda: self._take(name, mapped=True))
        self._rows[name] = rows
        return rows

    def _pieces_of(self, name: str) -> list[str] | None:
        """The piece checksums of a member that has them (and can be mapped), else ``None``."""
        spec = self._expected[name]
        pieces = spec.get("chunk_sha256") if isinstance(spec, dict) else None
        member = self._members[name]
        if self._chunk is None or not isinstance(pieces, list) or not member.stored:
            return None
        return pieces

    def _verified_rows(self, name: str) -> ArrayRows:
        member, spec = self._members[name], self._expected[name]
        digests = self._pieces_of(name)
        assert digests is not None and self._chunk is not None
        chunk = self._chunk
        if len(digests) != -(-member.size // chunk) or member.size == 0:
            raise ModelFileError(
                f"{self._path} is corrupted: array {name!r} is stored in {member.size} "
                f"bytes, the manifest (model.json) lists {len(digests)} pieces of {chunk}")
        pieces = _Pieces(self._path, name, member.start, member.size,
                         [str(d) for d in digests], chunk)
        try:
            first = pieces.read_verified(min(member.size, 12))  # the header, once verified
            major = first[6] if len(first) > 6 else 0
            head = (10 + int.from_bytes(first[8:10], "little") if major == 1 else
                    12 + int.from_bytes(first[8:12], "little") if len(first) >= 12 else 0)
            f = io.BytesIO(pieces.read_verified(min(member.size, head)))
            shape, fortran, dtype = _npy_header(f, name)
            offset = f.tell()
        except ModelFileError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise ModelFileError(f"cannot read {self._path}: {exc}") from exc
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes > member.size:
            raise ModelFileError(f"cannot read {self._path}: member {name!r} is truncated")
        order: Literal["C", "F"] = "F" if fortran else "C"
        try:  # the data mapped on its own: views of it are what scipy and numpy expect
            view = (np.zeros(shape, dtype=dtype, order=order) if nbytes == 0 else
                    np.memmap(self._path, dtype=dtype, mode="c", offset=member.start + offset,
                              shape=shape, order=order).view(np.ndarray))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"cannot read {self._path}: {exc}") from exc
        check_spec(self._path, name, view, spec)
        if fortran or len(shape) == 0 or nbytes == 0:
            pieces.verify(0, member.size)  # not by rows: verified whole
            return ArrayRows.of(view)
        return _VerifiedRows(pieces, offset, view)

    def _load(self, f: io.BufferedReader, member: _Member, mapped: bool) -> np.ndarray:
        if not member.stored:  # compressed (not written by synerec): cannot be mapped
            with zipfile.ZipFile(self._path) as zf, zf.open(f"{member.name}.npy") as m:
                return np.lib.format.read_array(m, allow_pickle=False)
        f.seek(member.start)
        shape, fortran, dtype = _npy_header(f, member.name)
        offset = f.tell()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes > member.start + member.size:
            raise ValueError(f"member {member.name!r} is truncated")
        order: Literal["C", "F"] = "F" if fortran else "C"
        if nbytes == 0:
            return np.zeros(shape, dtype=dtype, order=order)
        if mapped:
            mm = np.memmap(self._path, dtype=dtype, mode="c", offset=offset, shape=shape,
                           order=order)
            return mm.view(np.ndarray)  # a plain array over the mapping
        buf = bytearray(nbytes)
        if f.readinto(buf) != nbytes:
            raise ValueError(f"member {member.name!r} is truncated")
        flat = np.frombuffer(buf, dtype=dtype)
        return flat.reshape(shape, order=order)


def _npy_header(f: BinaryIO, name: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """The ``.npy`` header at the file's position (objects refused: never unpickled)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"member {name!r} has .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"member {name!r} holds Python objects; they are never unpickled")
    return shape, fortran, dtype


def check_spec(arrays_path: Path, name: str, arr: np.ndarray, spec: Any) -> None:
    """``arr`` has the shape and dtype the manifest lists for it."""
    if (not isinstance(spec, dict) or list(arr.shape) != list(spec.get("shape", []))
            or arr.dtype.str != spec.get("dtype")):
        want = (spec.get("shape"), spec.get("dtype")) if isinstance(spec, dict) else spec
        raise ModelFileError(
            f"{arrays_path}: array {name!r} has shape {list(arr.shape)} and dtype "
            f"{arr.dtype.str}, the manifest says {want}")


def member_digests(arrays_path: Path, chunk_bytes: int | None = None
                   ) -> dict[str, tuple[str, list[str] | None]]:
    """Each member's sha256 (of its stored bytes) by array name, with the sha256 of each of
    its ``chunk_bytes`` pieces for a member larger than one piece (else ``None``; always
    ``None`` without ``chunk_bytes``)."""
    out: dict[str, tuple[str, list[str] | None]] = {}
    with open(arrays_path, "rb") as f:
        for name, m in _members(arrays_path).items():
            if chunk_bytes is None or m.size <= chunk_bytes:
                out[name] = (_member_digest(f, m), None)
                continue
            pieces: list[str] = []
            out[name] = (_member_digest(f, m, chunk_bytes, pieces), pieces)
    return out


class CSRRows:
    """A stored CSR matrix read by rows: its ``indptr`` in memory, its indices and values
    (:class:`ArrayRows`) read, and verified, for the rows asked; :meth:`full` gives the whole
    matrix.

    The checks of ``check_format(full_check=True)`` are made on what is read: the row pointers
    once, the column indices of each row read (all of them by :meth:`full`).
    """

    def __init__(self, indptr: np.ndarray, indices: ArrayRows, data: ArrayRows,
                 shape: tuple[int, int]) -> None:
        n_rows = shape[0]
        if (indptr.shape != (n_rows + 1,) or indices.shape != data.shape
                or len(indices.shape) != 1 or int(indptr[0]) != 0
                or int(indptr[-1]) != len(indices) or (np.diff(indptr) < 0).any()):
            raise ValueError("a stored sparse matrix's row pointers do not match its entries")
        if indices.dtype.kind not in "iu" or data.dtype.kind not in "fiub":
            raise ValueError("a stored sparse matrix has the wrong dtypes")
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.shape = (int(shape[0]), int(shape[1]))
        self._indices = indices
        self._data = data

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (Ray's object store) with its arrays whole and verified
        return (CSRRows, (self.indptr, ArrayRows.of(self._indices.full()),
                          ArrayRows.of(self._data.full()), self.shape))

    def rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """Rows ``rows`` as a ``len(rows)`` x n CSR (entries in their stored order)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        out_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=out_ptr[1:])
        pos = np.repeat(starts - out_ptr[:-1], lengths) + np.arange(out_ptr[-1])
        indices = self._indices.take(pos)
        if len(indices) and (indices.min() < 0 or indices.max() >= self.shape[1]):
            raise ValueError("a stored sparse matrix has column indices out of range")
        return sp.csr_matrix((self._data.take(pos), indices, out_ptr),
                             shape=(len(rows), self.shape[1]))

    def full(self) -> sp.csr_matrix:
        """The whole matrix, checked (``check_format(full_check=True)``)."""
        S = sp.csr_matrix((self._data.full(), self._indices.full(), self.indptr),
                          shape=self.shape)
        S.check_format(full_check=True)
        return S


def csr_rows(arrays: Mapping[str, np.ndarray], prefix: str,
             shape: tuple[int, int]) -> CSRRows:
    """The CSR matrix stored as ``{prefix}_indptr``, ``{prefix}_indices`` and
    ``{prefix}_data`` in ``arrays``, read by rows (:class:`CSRRows`)."""
    return CSRRows(np.asarray(arrays[f"{prefix}_indptr"]),
                   array_rows(arrays, f"{prefix}_indices"),
                   array_rows(arrays, f"{prefix}_data"), shape)


class ArraysView(Mapping[str, np.ndarray]):
    """The arrays of a mapping whose names start with ``prefix``, named without it (what a
    model's ``_load_arrays`` gets): nothing is read until an array is taken, and
    :func:`array_rows` reads it by rows when the mapping can."""

    def __init__(self, arrays: Mapping[str, np.ndarray], prefix: str) -> None:
        self._arrays = arrays
        self._prefix = prefix
        self._names = [k[len(prefix):] for k in arrays if k.startswith(prefix)]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self._prefix + name) in self._arrays

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[self._prefix + name]

    def rows(self, name: str) -> ArrayRows:
        """:func:`array_rows` of the underlying mapping."""
        if name not in self:
            raise KeyError(name)
        return array_rows(self._arrays, self._prefix + name)


def array_rows(arrays: Mapping[str, np.ndarray], name: str) -> ArrayRows:
    """The array ``name`` of ``arrays`` by rows: from a model directory (a
    :class:`VerifiedArrays`, or a view of one), only the pieces of the rows read are verified
    (format version 4); from arrays in memory, the array itself."""
    if isinstance(arrays, (VerifiedArrays, ArraysView)):
        return arrays.rows(name)
    return ArrayRows.of(arrays[name])
