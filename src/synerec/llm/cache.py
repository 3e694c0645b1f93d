"""An on-disk response cache keyed by the hash of a request.

Language-model calls are slow and, at temperature 0 with a seed, repeatable: the cache stores
each answer in its own small JSON file named by the sha256 of the request (model, prompt and
settings). A file is written to a temporary name and moved into place with :func:`os.replace`,
so a crash never leaves a half-written entry; an unreadable entry counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ResponseCache", "request_key"]

log = logging.getLogger(__name__)


def request_key(request: Mapping[str, Any]) -> str:
    """The sha256 (hex) of a request's canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers of a language model on disk, one file per request.

    Parameters
    ----------
    directory
        Folder of the cache (created on the first write). Entries live in
        ``directory/<first two hex digits>/<sha256>.json``.

    Attributes
    ----------
    hits, misses
        Lookups answered from / not found in the cache since this object was made.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, request: Mapping[str, Any]) -> Any | None:
        """The stored answer to ``request``, or ``None`` when there is none (or it is damaged)."""
        key = request_key(request)
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry.get("key") != key:
                raise ValueError("key mismatch")
            value = entry["value"]
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring damaged cache entry %s: %s", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, request: Mapping[str, Any], value: Any) -> None:
        """Store ``value`` (JSON-serialisable) as the answer to ``request``, atomically."""
        key = request_key(request)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"key": key, "value": value}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(1 for _ in self.directory.glob("??/*.json"))

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r})"
