"""Fetching publishers' files into the data home, verified by checksum, written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synerec.exceptions import ChecksumError, DatasetNotFoundError

__all__ = ["extract_members", "fetch", "file_digest"]

log = logging.getLogger(__name__)

USER_AGENT = "synerec (+https://github.com/synerec/synerec)"


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest: str | Path, sha256: str | None = None, *, timeout: float = 60.0,
          show_progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless it is already there.

    The file is written to a temporary name beside ``dest``, its sha256 checked, and only then
    renamed into place, so an interrupted or corrupted download never leaves a file that a loader
    would read.

    Parameters
    ----------
    url
        Publisher's address (``http(s)://`` or ``file://``).
    dest
        Final path.
    sha256
        Expected digest; ``None`` when the publisher gives none (the digest seen is logged).
    timeout
        Socket timeout in seconds.
    show_progress
        Show a progress bar.

    Raises
    ------
    DatasetNotFoundError
        The download failed (no network, HTTP error).
    ChecksumError
        The bytes received do not match ``sha256``.
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    import urllib.error  # only to download: reading a data set already here does not need it
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            progress = _progress(show_progress, dest.name, total)
            with progress as bar:
                task = bar.add_task(dest.name, total=total) if bar is not None else None
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(task, advance=len(chunk))
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise ChecksumError(f"checksum mismatch for {url}: expected sha256 {sha256}, got "
                                f"{digest}; the file was not kept")
        if sha256 is None:
            log.warning("%s has no published checksum; sha256 of the download is %s", url, digest)
        os.replace(tmp, dest)
        log.info("downloaded %s -> %s", url, dest)
        return dest
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DatasetNotFoundError(f"could not download {url} ({exc})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def extract_members(archive: str | Path, dest_dir: str | Path, members: Mapping[str, str | None],
                    *, strip_prefix: str = "") -> list[Path]:
    """Extract named members of a zip archive into ``dest_dir``, checking each one's sha256.

    Parameters
    ----------
    archive
        The zip file.
    dest_dir
        Folder that receives the files (flat, named without ``strip_prefix``).
    members
        Member name inside the archive -> expected sha256 of its content (or ``None``).
    strip_prefix
        Folder prefix inside the archive to drop (e.g. ``"ml-100k/"``).
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ChecksumError(f"{archive} is not a valid zip archive ({exc})") from exc
    with zf:
        names = set(zf.namelist())
        for member, digest in members.items():
            if member not in names:
                raise ChecksumError(f"{archive} lacks the expected member {member!r}")
            target = dest_dir / member.removeprefix(strip_prefix)
            if target.is_file():
                written.append(target)
                continue
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                            dir=dest_dir)
            try:
                with os.fdopen(fd, "wb") as out, zf.open(member) as src:
                    shutil.copyfileobj(src, out)
                if digest is not None and file_digest(tmp_name) != digest:
                    raise ChecksumError(f"{member} in {archive} does not match sha256 {digest}")
                os.replace(tmp_name, target)
            finally:
                if os.path.exists(tmp_name):
                    os.unlink(tmp_name)
            written.append(target)
    return written


def _progress(show: bool, label: str, total: int | None
              ) -> contextlib.AbstractContextManager[Any]:
    """A rich progress bar for a download, or a context without one (entered as ``None``)."""
    if not show:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), transient=True)
