"""Process-wide settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_home"]


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
