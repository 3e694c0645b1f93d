"""Process-wide settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_home", "data_home"]


def data_home(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds one sub-folder per data set.

    Parameters
    ----------
    path
        An explicit folder; when ``None``, ``$SYNEREC_DATA_HOME`` or else ``~/.cache/synerec``.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("SYNEREC_DATA_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "synerec"


def cache_home(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder for what synerec derives and may rebuild: models assembled or distilled from
    installed packages (``models/``), embedding caches (``embeddings/``), LLM response caches.

    Kept apart from the data home, which may be a read-only copy of the publishers' files (CI
    points ``$SYNEREC_DATA_HOME`` at a shared folder).

    Parameters
    ----------
    path
        An explicit folder; when ``None``, ``$SYNEREC_CACHE_HOME`` or else ``~/.cache/synerec``.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("SYNEREC_CACHE_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "synerec"
