"""Model directories: arrays in ``arrays.npz``, everything else in ``model.json``; never pickle.

Layout of a saved model (a directory)::

    model.json   {"format": "synerec-model", "format_version": 4, "class": "mf",
                  "config": {...}, "synerec_version": "0.1.0", "rating_scale": [1.0, 5.0],
                  "arrays_sha256": "...", "chunk_bytes": 1048576,
                  "arrays": {"name": {"shape": [..], "dtype": "..", "sha256": "...",
                                      "chunk_sha256": ["...", ...]}},
                  "metadata": {...},
                  "files": {"ranker.txt": {"sha256": "...", "bytes": 1234}},
                  "manifest_sha256": "..."}
    arrays.npz   numpy arrays as an uncompressed zip of ``.npy`` members (``np.load`` reads it),
                 each member's data aligned to 64 bytes so that it can be memory-mapped
    ranker.txt   optional extra files a model keeps in their own format (LightGBM's text
                 model), each listed under ``"files"`` with its sha256

Checksums
---------
``arrays_sha256`` is the sha256 of ``arrays.npz``; from format version 3 each array's entry also
holds the ``sha256`` of its ``.npy`` member as stored in the zip (header and data). Reading a
version 3 model reads each member once, verifying its checksum on the bytes it reads (or maps),
instead of hashing the whole file and then reading it again. :func:`open_model_dir` (what
``Recommender.load`` uses) opens a version 3 model without reading the archive: each array is
read (or mapped) and verified when it is first taken, before anyone can use it, so an array that
is never asked for is never read. :func:`verify_model_dir` checks the whole file, every member and
every extra file at once. Versions 1 and 2 (no member checksums) are verified whole,
as before, when they are opened. ``manifest_sha256`` (format version 2 on) is the
sha256 of the manifest itself without that key, serialised canonically (``json.dumps`` with sorted
keys, separators ``","`` and ``":"``, ASCII only): editing any value of ``model.json`` (a
parameter, the rating scale) makes the model refuse to load. Version 1 files (no
``manifest_sha256``) are still read, with a warning. JSON numbers must be finite: ``NaN``,
``Infinity`` or ``1e999`` anywhere in the manifest is an error, and the rating scale must be two
finite numbers ``low < high``.

Pieces of large arrays (format version 4)
-----------------------------------------
A member larger than ``chunk_bytes`` (1 MiB) also lists ``chunk_sha256``: the sha256 of each
consecutive ``chunk_bytes`` piece of its stored bytes (the last one shorter), so that a model
can read some rows of a large array without hashing all of it: EASE's 20,000 x 20,000 weights
(1.6 GB) for the items of one user's history, a neighbourhood model's similarity rows for one
user. A model asks for such an array with :func:`array_rows` (in its ``_load_arrays``); the
:class:`ArrayRows` it gets maps the member copy-on-write and verifies a piece the first time a
row in it is read (``take``, ``span``), the piece holding the ``.npy`` header before the
header is parsed, and every piece when the whole array is asked for (``full``, or
``arrays[name]``). The guarantee, precisely: **no byte of an array reaches a computation
before the piece holding it has matched its sha256** (pieces of 1 MiB for a version 4 member
with ``chunk_sha256``; the whole member otherwise), and the manifest that lists the digests is
itself checksummed. A corrupted byte in a row that a request reads is a
:class:`~synerec.exceptions.ModelFileError` naming the array and the piece, raised before the
answer is computed; a corrupted byte in a piece that no request has read yet is not noticed
until one does (:func:`verify_model_dir` checks everything at once). A mapped piece is
trusted once verified: the file must not be rewritten in place while it is open (model
directories are only ever replaced by renaming, see below).
Version 3 files (no pieces) still load: their arrays are verified whole when first read.

Writing goes to a temporary sibling directory that is renamed into place, so a reader never sees
half a model; an existing model at the same path is moved aside, replaced, then deleted.
Reading checks the manifest and its checksum, the sha256 of every array (version 3: of each
member, when it is first read; before: of ``arrays.npz``) and of every extra file, every
array's name, shape and dtype, and loads with ``allow_pickle=False``: a model file
cannot execute code. Extra files are handed to the model as bytes; they are never imported or
executed (the hybrid model parses LightGBM's text format with LightGBM's own reader). A manifest
without ``"files"`` (every model file written before the key existed) has no extra files.

Memory-mapped loading
---------------------
``read_model_dir(path, mmap=True)`` (or any load inside ``with memory_mapped():``) maps each
stored member of ``arrays.npz`` copy-on-write instead of reading it: processes that load the same
model directory share its pages through the page cache (several service workers hold one copy),
and a model that modifies an array in place gets a private copy of the pages it writes, never a
change to the file. An array with piece checksums (format version 4, over 1 MiB) is always
mapped this way, with or without ``mmap``: its pages become resident only as they are read.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import math
import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synerec._version import __version__
from synerec.algorithms._npz import (
    CHUNK_BYTES,
    ArrayRows,
    ArraysView,
    CSRRows,
    VerifiedArrays,
    array_rows,
    check_spec,
    csr_rows,
    member_digests,
    npz_members_mapped,
    write_npz,
)
from synerec.exceptions import ModelFileError

__all__ = [
    "ARRAYS_FILE",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "ArrayRows",
    "ArraysView",
    "CSRRows",
    "ModelFile",
    "OpenedModelFile",
    "VerifiedArrays",
    "array_rows",
    "csr_rows",
    "manifest_digest",
    "memory_mapped",
    "open_model_dir",
    "read_model_dir",
    "sha256_file",
    "update_metadata",
    "verify_model_dir",
    "write_model_dir",
]

log = logging.getLogger(__name__)

FORMAT = "synerec-model"
FORMAT_VERSION = 4
#: The first format version whose arrays carry their own checksums (verified when read).
MEMBER_SUMS_VERSION = 3
#: The first format version whose large arrays carry a checksum per piece (``chunk_bytes``).
PIECE_SUMS_VERSION = 4
MANIFEST_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
MANIFEST_DIGEST_KEY = "manifest_sha256"
_REQUIRED_KEYS = ("format", "format_version", "class", "config", "arrays_sha256", "arrays")
_MMAP: contextvars.ContextVar[bool] = contextvars.ContextVar("synerec_mmap_models",
                                                             default=False)
#: Names an extra file may have: a plain file name, not one of the two fixed files.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class ModelFile:
    """The content of a model directory.

    Attributes
    ----------
    class_name
        Registry name of the model class.
    config
        The model's configuration as plain JSON values.
    arrays
        Every stored array by name (read and verified).
    rating_scale
        ``(low, high)`` or ``None`` (implicit feedback).
    synerec_version
        Version of synerec that wrote the file.
    metadata
        Other JSON values the model stored (scalars such as the global mean).
    files
        Extra files by name (their bytes, checksum verified); empty for most models.
    """

    class_name: str
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    rating_scale: tuple[float, float] | None
    synerec_version: str
    metadata: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenedModelFile:
    """A model directory opened by :func:`open_model_dir`: as :class:`ModelFile`, but
    ``arrays`` reads and verifies each array when it is first taken from it."""

    class_name: str
    config: dict[str, Any]
    arrays: Mapping[str, np.ndarray]
    rating_scale: tuple[float, float] | None
    synerec_version: str
    metadata: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of a manifest's canonical JSON, without its ``manifest_sha256`` key."""
    body = {k: v for k, v in manifest.items() if k != MANIFEST_DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@contextlib.contextmanager
def memory_mapped(enabled: bool = True) -> Iterator[None]:
    """Within this block, :func:`read_model_dir` (and so ``Recommender.load``) maps arrays.

    Used by the recommendation service so that its worker processes share one model in memory.
    """
    token = _MMAP.set(enabled)
    try:
        yield
    finally:
        _MMAP.reset(token)


def write_model_dir(
    path: str | os.PathLike[str],
    *,
    class_name: str,
    config: dict[str, Any],
    arrays: dict[str, np.ndarray],
    rating_scale: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
    files: dict[str, bytes | str] | None = None,
) -> Path:
    """Write a model directory atomically (see the module docstring for the layout).

    Parameters
    ----------
    path
        The model directory. An existing *model* directory there is replaced; any other
        existing file or non-empty directory is left alone and :class:`ModelFileError` raised.
    class_name
        Registry name of the model class.
    config
        JSON-serialisable configuration.
    arrays
        Arrays by name (numeric, bool or unicode; object arrays are refused).
    rating_scale
        ``(low, high)`` or ``None``.
    metadata
        Other JSON-serialisable values.
    files
        Extra files by name (bytes, or text written as UTF-8), stored beside the arrays and
        checksummed in the manifest; names are plain file names (letters, digits, ``._-``),
        not ``model.json`` or ``arrays.npz``.

    Returns
    -------
    pathlib.Path
        The model directory.
    """
    path = Path(path)
    _check_target(path)
    extra = _check_files(files or {})
    _check_arrays(arrays)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": class_name,
        "config": config,
        "synerec_version": __version__,
        "rating_scale": None if rating_scale is None else [float(x) for x in rating_scale],
        "arrays_sha256": "",
        "arrays": {k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in arrays.items()},
        "metadata": metadata or {},
        MANIFEST_DIGEST_KEY: "",
    }
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise ModelFileError(f"cannot write a model to {path}: {exc.strerror or exc}") from exc
    try:
        _write_contents(tmp, manifest, arrays, extra)
        _replace(tmp, path)
    except OSError as exc:  # disk full, permissions: nothing half-written is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelFileError(f"cannot write a model to {path}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved %s model to %s", class_name, path)
    return path


def _check_arrays(arrays: dict[str, np.ndarray]) -> None:
    """Only plain numeric, bool or text arrays are stored (never anything needing pickle)."""
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):
            raise ModelFileError(f"array {name!r} is a {type(arr).__name__}, not a numpy array")
        if arr.dtype.hasobject or arr.dtype.kind not in "biufcUS":
            raise ModelFileError(f"array {name!r} has dtype {arr.dtype}, which cannot be stored "
                                 "without pickle")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_contents(tmp: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray],
                    extra: dict[str, bytes]) -> None:
    """The arrays, the extra files and last the manifest (with their checksums) into ``tmp``."""
    with open(tmp / ARRAYS_FILE, "wb") as f:
        write_npz(f, arrays)
        f.flush()
        os.fsync(f.fileno())
    manifest["arrays_sha256"] = sha256_file(tmp / ARRAYS_FILE)
    manifest["chunk_bytes"] = CHUNK_BYTES
    for name, (digest, pieces) in member_digests(tmp / ARRAYS_FILE, CHUNK_BYTES).items():
        manifest["arrays"][name]["sha256"] = digest
        if pieces is not None:
            manifest["arrays"][name]["chunk_sha256"] = pieces
    if extra:
        listed = {}
        for name, data in extra.items():
            _write_synced(tmp / name, data)
            listed[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        manifest["files"] = listed
    try:
        manifest[MANIFEST_DIGEST_KEY] = manifest_digest(manifest)
        text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model configuration or metadata is not plain JSON: {exc}") \
            from exc
    _write_synced(tmp / MANIFEST_FILE, (text + "\n").encode("utf-8"))


def _check_files(files: dict[str, bytes | str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, data in files.items():
        if not isinstance(name, str) or not _FILE_NAME.match(name) \
                or name in (MANIFEST_FILE, ARRAYS_FILE):
            raise ModelFileError(f"extra model file name {name!r} is not allowed: use a plain "
                                 "file name other than model.json and arrays.npz")
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise ModelFileError(f"extra model file {name!r} must be bytes or text, got "
                                 f"{type(data).__name__}")
        out[name] = bytes(data)
    return out


def _read_files(path: Path, manifest: dict[str, Any]) -> dict[str, bytes]:
    """The extra files listed in the manifest, each checked against its sha256."""
    listed = manifest.get("files") or {}
    if not isinstance(listed, dict):
        raise ModelFileError(f"{path / MANIFEST_FILE}: 'files' must be an object")
    out: dict[str, bytes] = {}
    for name, spec in listed.items():
        if not isinstance(name, str) or not _FILE_NAME.match(name) \
                or name in (MANIFEST_FILE, ARRAYS_FILE) or not isinstance(spec, dict):
            raise ModelFileError(f"{path / MANIFEST_FILE}: invalid extra file entry {name!r}")
        file = path / name
        if not file.is_file():
            raise ModelFileError(f"model {path} is incomplete: {name} is missing")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read {file}: {exc.strerror or exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.get("sha256"):
            raise ModelFileError(f"{file} is corrupted: sha256 {digest} does not match "
                                 f"{spec.get('sha256')} recorded in {MANIFEST_FILE}")
        out[name] = data
    return out


def _check_target(path: Path) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise ModelFileError(f"{path} exists and is not a model directory; refusing to replace it")
    if any(path.iterdir()) and not (path / MANIFEST_FILE).is_file():
        raise ModelFileError(f"{path} is a non-empty directory without {MANIFEST_FILE}; "
                             "refusing to replace it")


def _replace(new: Path, path: Path) -> None:
    if not path.exists():
        os.replace(new, path)
        return
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex}"
    os.replace(path, old)
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(old, path)  # put the previous model back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {text}")
    return value


def _read_manifest(manifest_path: Path) -> dict[str, Any]:
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{manifest_path} cannot be read ({exc}); the file is truncated "
                             "or corrupted") from exc
    try:
        manifest = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{manifest_path} is not valid JSON ({exc}); the file is truncated "
                             "or corrupted") from exc
    except ValueError as exc:
        raise ModelFileError(f"{manifest_path} holds a {exc} (only finite numbers are "
                             "allowed); the file is corrupted") from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{manifest_path} does not hold a JSON object")
    return manifest


def _rating_scale(manifest_path: Path, scale: Any) -> tuple[float, float] | None:
    if scale is None:
        return None
    if (not isinstance(scale, list) or len(scale) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scale)):
        raise ModelFileError(f"{manifest_path}: rating_scale must be null or [low, high]")
    low, high = float(scale[0]), float(scale[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ModelFileError(f"{manifest_path}: rating_scale must be two finite numbers with "
                             f"low < high, got {scale}")
    return low, high


def read_model_dir(path: str | os.PathLike[str], *, mmap: bool | None = None) -> ModelFile:
    """Read and verify a model directory written by :func:`write_model_dir`: every array.

    Parameters
    ----------
    path
        The model directory.
    mmap
        Map the arrays copy-on-write instead of reading them (see the module docstring); the
        checksums are verified either way. Default: inside :func:`memory_mapped`, else no.

    Raises
    ------
    ModelFileError
        Missing directory or file, malformed manifest, non-finite numbers, unsupported format
        version, checksum mismatch (of ``model.json``, ``arrays.npz`` or an array),
        unreadable (truncated/corrupted) arrays, arrays not matching the manifest, or an
        invalid rating scale.
    """
    opened = open_model_dir(path, mmap=mmap)
    return ModelFile(class_name=opened.class_name, config=opened.config,
                     arrays=dict(opened.arrays), rating_scale=opened.rating_scale,
                     synerec_version=opened.synerec_version, metadata=opened.metadata,
                     files=opened.files)


def open_model_dir(path: str | os.PathLike[str], *, mmap: bool | None = None
                   ) -> OpenedModelFile:
    """Open a model directory: the manifest and extra files read and verified, the arrays not.

    For a format version 3 file, ``arrays`` reads each array when it is first taken from it,
    after verifying that member's checksum, shape and dtype: a damaged array raises
    :class:`ModelFileError` then, and never reaches its user; an array nobody takes is never
    read. Older files (no member checksums) are read and verified whole here. ``mmap`` and
    the errors are :func:`read_model_dir`'s.
    """
    path = Path(path)
    mapped = _MMAP.get() if mmap is None else bool(mmap)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise ModelFileError(f"model {path} {what}")
    manifest_path = path / MANIFEST_FILE
    arrays_path = path / ARRAYS_FILE
    for p in (manifest_path, arrays_path):
        if not p.is_file():
            raise ModelFileError(f"model {path} is incomplete: {p.name} is missing")
    manifest = _checked_manifest(path, manifest_path)
    expected = manifest["arrays"]
    if not isinstance(expected, dict):
        raise ModelFileError(f"{manifest_path}: 'arrays' must be an object")
    arrays: Mapping[str, np.ndarray]
    if manifest["format_version"] >= MEMBER_SUMS_VERSION:
        arrays = VerifiedArrays(arrays_path, expected, mapped, _chunk_bytes(manifest_path,
                                                                            manifest))
    else:
        _check_whole_file(arrays_path, manifest)
        arrays = _read_arrays(arrays_path, expected, mapped)
    scale = _rating_scale(manifest_path, manifest.get("rating_scale"))
    config = manifest["config"]
    if not isinstance(config, dict):
        raise ModelFileError(f"{manifest_path}: 'config' must be an object")
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{manifest_path}: 'metadata' must be an object")
    files = _read_files(path, manifest)
    return OpenedModelFile(
        class_name=str(manifest["class"]),
        config=config,
        arrays=arrays,
        rating_scale=scale,
        synerec_version=str(manifest.get("synerec_version", "")),
        metadata=dict(metadata),
        files=files,
    )


def _chunk_bytes(manifest_path: Path, manifest: dict[str, Any]) -> int | None:
    """The size of the checksummed pieces of large arrays (format version 4), else ``None``."""
    if manifest["format_version"] < PIECE_SUMS_VERSION:
        return None
    chunk = manifest.get("chunk_bytes")
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise ModelFileError(f"{manifest_path}: 'chunk_bytes' must be a positive integer, "
                             f"got {chunk!r}")
    return chunk


def verify_model_dir(path: str | os.PathLike[str]) -> ModelFile:
    """Read a model directory and verify all of it now: the manifest, the sha256 of the whole
    ``arrays.npz``, every array (its checksum, shape and dtype) and every extra file.

    Raises
    ------
    ModelFileError
        As :func:`read_model_dir`, for any part of the directory.
    """
    mf = read_model_dir(path)  # every array verified (a damaged one is named)
    path = Path(path)
    _check_whole_file(path / ARRAYS_FILE, _read_manifest(path / MANIFEST_FILE))
    return mf


def _check_whole_file(arrays_path: Path, manifest: dict[str, Any]) -> None:
    digest = sha256_file(arrays_path)
    if digest != manifest["arrays_sha256"]:
        raise ModelFileError(f"{arrays_path} is corrupted: sha256 {digest} does not match "
                             f"{manifest['arrays_sha256']} recorded in {MANIFEST_FILE}")


def _checked_manifest(path: Path, manifest_path: Path) -> dict[str, Any]:
    """``model.json`` read, its format and version checked, its own checksum verified."""
    manifest = _read_manifest(manifest_path)
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not a synerec model manifest"
                             + (f" (missing {', '.join(missing)})" if missing else ""))
    version = manifest["format_version"]
    if (not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION
            or version < 1):
        raise ModelFileError(
            f"{path} has model format version {version!r}; this synerec "
            f"({__version__}) reads versions 1..{FORMAT_VERSION}; written by synerec "
            f"{manifest.get('synerec_version', '?')}")
    if version >= 2:
        recorded = manifest.get(MANIFEST_DIGEST_KEY)
        digest = manifest_digest(manifest)
        if recorded != digest:
            raise ModelFileError(
                f"{manifest_path} is corrupted or was edited: its sha256 {digest} does not "
                f"match {MANIFEST_DIGEST_KEY} {recorded!r} recorded in it (re-save the model "
                "instead of editing model.json)")
    else:
        log.warning("%s has format version 1, whose model.json is not checksummed; save the "
                    "model again to protect it", manifest_path)
    return manifest


def _read_arrays(arrays_path: Path, expected: dict[str, Any], mapped: bool
                 ) -> dict[str, np.ndarray]:
    """The archive's arrays (mapped or read), checked against the manifest's names, shapes
    and dtypes."""
    arrays: dict[str, np.ndarray] = {}
    try:
        if mapped:
            arrays = npz_members_mapped(arrays_path)
            names = set(arrays)
        else:
            with np.load(arrays_path, allow_pickle=False) as npz:
                names = set(npz.files)
                if names == set(expected):
                    for name in npz.files:
                        arrays[name] = npz[name]
        if names != set(expected):
            raise ModelFileError(
                f"{arrays_path} holds arrays {sorted(names)}, the manifest lists "
                f"{sorted(expected)}")
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(f"cannot read {arrays_path}: {exc}") from exc
    for name, arr in arrays.items():
        check_spec(arrays_path, name, arr, expected[name])
    return arrays


def update_metadata(path: str | os.PathLike[str], values: dict[str, Any]) -> Path:
    """Add ``values`` to the ``metadata`` of a saved model's ``model.json`` (atomically).

    The arrays and their checksum are untouched; the manifest is rewritten to a temporary file
    in the same directory and renamed over the old one, so a reader sees the old or the new
    manifest, never half of one. Used to record how a model was obtained (``synerec tune``
    stores its search under ``metadata.tuning``).

    Raises
    ------
    ModelFileError
        ``path`` is not a readable model directory, or ``values`` is not plain JSON.
    """
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not a synerec model manifest")
    stored = manifest.get(MANIFEST_DIGEST_KEY)
    if stored is not None and stored != manifest_digest(manifest):
        raise ModelFileError(f"{manifest_path}: its checksum does not match its content "
                             "(edited or damaged); not updating it")
    metadata = dict(manifest.get("metadata") or {})
    metadata.update(values)
    manifest["metadata"] = metadata
    try:
        manifest[MANIFEST_DIGEST_KEY] = manifest_digest(manifest)
        text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model metadata is not plain JSON: {exc}") from exc
    tmp = path / f".{MANIFEST_FILE}.tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, manifest_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"cannot write {manifest_path}: {exc.strerror or exc}") from exc
    return path
