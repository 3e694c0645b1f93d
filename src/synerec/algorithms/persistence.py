"""Model directories: arrays in ``arrays.npz``, everything else in ``model.json``; never pickle.

Layout of a saved model (a directory)::

    model.json   {"format": "synerec-model", "format_version": 1, "class": "mf",
                  "config": {...}, "synerec_version": "0.1.0", "rating_scale": [1.0, 5.0],
                  "arrays_sha256": "...", "arrays": {"name": {"shape": [..], "dtype": ".."}},
                  "metadata": {...}}
    arrays.npz   numpy arrays written with ``np.savez(allow_pickle=False)``

Writing goes to a temporary sibling directory that is renamed into place, so a reader never sees
half a model; an existing model at the same path is moved aside, replaced, then deleted.
Reading checks the manifest, the sha256 of ``arrays.npz`` and every array's name, shape and dtype,
and loads with ``allow_pickle=False``: a model file cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass
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
    "update_metadata",
    "write_model_dir",
]

log = logging.getLogger(__name__)

FORMAT = "synerec-model"
FORMAT_VERSION = 1
MANIFEST_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
_REQUIRED_KEYS = ("format", "format_version", "class", "config", "arrays_sha256", "arrays")


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
    """

    class_name: str
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    rating_scale: tuple[float, float] | None
    synerec_version: str
    metadata: dict[str, Any]


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

    Returns
    -------
    pathlib.Path
        The model directory.
    """
    path = Path(path)
    _check_target(path)
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
    return ModelFile(
        class_name=str(manifest["class"]),
        config=config,
        arrays=arrays,
        rating_scale=None if scale is None else (float(scale[0]), float(scale[1])),
        synerec_version=str(manifest.get("synerec_version", "")),
        metadata=dict(manifest.get("metadata") or {}),
    )


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
    metadata = dict(manifest.get("metadata") or {})
    metadata.update(values)
    manifest["metadata"] = metadata
    try:
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
