"""Model directories: arrays in ``arrays.npz``, everything else in ``model.json``; never pickle.

Layout of a saved model (a directory)::

    model.json   {"format": "synerec-model", "format_version": 1, "class": "mf",
                  "config": {...}, "synerec_version": "0.1.0", "rating_scale": [1.0, 5.0],
                  "arrays_sha256": "...", "arrays": {"name": {"shape": [..], "dtype": ".."}},
                  "metadata": {...},
                  "files": {"ranker.txt": {"sha256": "...", "bytes": 1234}}}
    arrays.npz   numpy arrays written with ``np.savez(allow_pickle=False)``
    ranker.txt   optional extra files a model keeps in their own format (LightGBM's text
                 model), each listed under ``"files"`` with its sha256

Writing goes to a temporary sibling directory that is renamed into place, so a reader never sees
half a model; an existing model at the same path is moved aside, replaced, then deleted.
Reading checks the manifest, the sha256 of ``arrays.npz`` and of every extra file, every array's
name, shape and dtype, and loads with ``allow_pickle=False``: a model file cannot execute code.
Extra files are handed to the model as bytes; they are never imported or executed (the hybrid
model parses LightGBM's text format with LightGBM's own reader). A manifest without ``"files"``
(every model file written before the key existed) has no extra files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synerec._version import __version__
from synerec.exceptions import ModelFileError

__all__ = [
    "ARRAYS_FILE",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "ModelFile",
    "read_model_dir",
    "sha256_file",
    "write_model_dir",
]

log = logging.getLogger(__name__)

FORMAT = "synerec-model"
FORMAT_VERSION = 1
MANIFEST_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
_REQUIRED_KEYS = ("format", "format_version", "class", "config", "arrays_sha256", "arrays")
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
        Every stored array by name.
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


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


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
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):
            raise ModelFileError(f"array {name!r} is a {type(arr).__name__}, not a numpy array")
        if arr.dtype.hasobject or arr.dtype.kind not in "biufcUS":
            raise ModelFileError(f"array {name!r} has dtype {arr.dtype}, which cannot be stored "
                                 "without pickle")
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
    }
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise ModelFileError(f"cannot write a model to {path}: {exc.strerror or exc}") from exc
    try:
        with open(tmp / ARRAYS_FILE, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        manifest["arrays_sha256"] = sha256_file(tmp / ARRAYS_FILE)
        if extra:
            listed = {}
            for name, data in extra.items():
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                listed[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            manifest["files"] = listed
        try:
            text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"model configuration or metadata is not plain JSON: {exc}") \
                from exc
        with open(tmp / MANIFEST_FILE, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except OSError as exc:  # disk full, permissions: nothing half-written is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelFileError(f"cannot write a model to {path}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved %s model to %s", class_name, path)
    return path


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


def read_model_dir(path: str | os.PathLike[str]) -> ModelFile:
    """Read and verify a model directory written by :func:`write_model_dir`.

    Raises
    ------
    ModelFileError
        Missing directory or file, malformed manifest, unsupported format version, checksum
        mismatch, unreadable (truncated/corrupted) arrays, or arrays not matching the manifest.
    """
    path = Path(path)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise ModelFileError(f"model {path} {what}")
    manifest_path = path / MANIFEST_FILE
    arrays_path = path / ARRAYS_FILE
    for p in (manifest_path, arrays_path):
        if not p.is_file():
            raise ModelFileError(f"model {path} is incomplete: {p.name} is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{manifest_path} is not valid JSON ({exc}); the file is truncated "
                             "or corrupted") from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{manifest_path} does not hold a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not a synerec model manifest"
                             + (f" (missing {', '.join(missing)})" if missing else ""))
    version = manifest["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this synerec "
            f"({__version__}) reads versions 1..{FORMAT_VERSION}; written by synerec "
            f"{manifest.get('synerec_version', '?')}")
    digest = sha256_file(arrays_path)
    if digest != manifest["arrays_sha256"]:
        raise ModelFileError(f"{arrays_path} is corrupted: sha256 {digest} does not match "
                             f"{manifest['arrays_sha256']} recorded in {MANIFEST_FILE}")
    expected = manifest["arrays"]
    if not isinstance(expected, dict):
        raise ModelFileError(f"{manifest_path}: 'arrays' must be an object")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(arrays_path, allow_pickle=False) as npz:
            names = set(npz.files)
            if names != set(expected):
                raise ModelFileError(
                    f"{arrays_path} holds arrays {sorted(names)}, the manifest lists "
                    f"{sorted(expected)}")
            for name in npz.files:
                arrays[name] = npz[name]
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(f"cannot read {arrays_path}: {exc}") from exc
    for name, arr in arrays.items():
        spec = expected[name]
        if list(arr.shape) != list(spec.get("shape", [])) or arr.dtype.str != spec.get("dtype"):
            raise ModelFileError(
                f"{arrays_path}: array {name!r} has shape {list(arr.shape)} and dtype "
                f"{arr.dtype.str}, the manifest says {spec.get('shape')} {spec.get('dtype')}")
    scale = manifest.get("rating_scale")
    if scale is not None and (not isinstance(scale, list) or len(scale) != 2):
        raise ModelFileError(f"{manifest_path}: rating_scale must be null or [low, high]")
    config = manifest["config"]
    if not isinstance(config, dict):
        raise ModelFileError(f"{manifest_path}: 'config' must be an object")
    files = _read_files(path, manifest)
    return ModelFile(
        class_name=str(manifest["class"]),
        config=config,
        arrays=arrays,
        rating_scale=None if scale is None else (float(scale[0]), float(scale[1])),
        synerec_version=str(manifest.get("synerec_version", "")),
        metadata=dict(manifest.get("metadata") or {}),
        files=files,
    )
