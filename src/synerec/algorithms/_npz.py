"""The ``arrays.npz`` of a model directory: an uncompressed zip of ``.npy`` members.

Writing aligns each member's data to 64 bytes (so that it can be memory-mapped in place);
reading maps or reads a member, and :class:`VerifiedArrays` checks each member's own sha256
(format version 3) when the array is first taken. The directory around it (manifest,
checksums of the whole, extra files, atomic replacement) is :mod:`.persistence`.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from synerec.exceptions import ModelFileError

__all__ = ["VerifiedArrays", "check_spec", "member_digests", "npz_members_mapped",
           "write_npz"]

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


def _member_digest(f: BinaryIO, member: _Member, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a member's stored bytes (``ValueError`` when the file is too short)."""
    h = hashlib.sha256()
    f.seek(member.start)
    left = member.size
    while left > 0:
        block = f.read(min(chunk, left))
        if not block:
            raise ValueError(f"member {member.name!r} is truncated")
        h.update(block)
        left -= len(block)
    return h.hexdigest()


class VerifiedArrays(Mapping[str, np.ndarray]):
    """The arrays of a format version 3 model, each read (or mapped) when first taken.

    Opening reads only the archive's directory and checks that it lists exactly the manifest's
    arrays. Taking an array (``arrays[name]``, ``.items()``, ``.values()``) verifies its
    member's sha256 against the manifest, then reads it (``allow_pickle=False``) or maps it
    copy-on-write, and checks its shape and dtype; it is kept for the next time. A mismatch
    raises :class:`ModelFileError` before the array is handed out.
    """

    def __init__(self, arrays_path: Path, expected: dict[str, Any], mapped: bool) -> None:
        self._path = arrays_path
        self._expected = expected
        self._mapped = mapped
        self._done: dict[str, np.ndarray] = {}
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

    def __getitem__(self, name: str) -> np.ndarray:
        got = self._done.get(name)
        if got is not None:
            return got
        member = self._members[name]  # KeyError for a name the file does not hold
        spec = self._expected[name]
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
                arr = self._load(f, member)
        except ModelFileError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise ModelFileError(f"cannot read {self._path}: {exc}") from exc
        check_spec(self._path, name, arr, spec)
        self._done[name] = arr
        return arr

    def _load(self, f: io.BufferedReader, member: _Member) -> np.ndarray:
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
        if self._mapped:
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


def member_digests(arrays_path: Path) -> dict[str, str]:
    """Each member's sha256 (of its stored bytes), by array name."""
    with open(arrays_path, "rb") as f:
        return {name: _member_digest(f, m) for name, m in _members(arrays_path).items()}
