"""Process-wide settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "MEMORY_LIMIT_ENV",
    "cache_home",
    "data_home",
    "memory_limit_bytes",
    "physical_memory_bytes",
]

#: Environment variable: the memory (MiB) a model may plan to allocate for its largest arrays.
MEMORY_LIMIT_ENV = "SYNEREC_MEMORY_LIMIT_MB"


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


def physical_memory_bytes() -> int | None:
    """The machine's physical memory in bytes (``None`` where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def memory_limit_bytes(limit_mb: float | None = None) -> tuple[int, str]:
    """How much memory a model may plan to allocate for its largest arrays, and where that came
    from (for error messages).

    Parameters
    ----------
    limit_mb
        An explicit limit in MiB; when ``None``, ``$SYNEREC_MEMORY_LIMIT_MB``, or else half of the
        machine's physical memory (8 GiB when the OS does not report it).

    Returns
    -------
    (int, str)
        The limit in bytes and a short description of its source.
    """
    if limit_mb is not None:
        return int(float(limit_mb) * 2**20), "memory_limit_mb"
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        try:
            value = float(env)
        except ValueError:
            from synerec.exceptions import ConfigError

            raise ConfigError(f"${MEMORY_LIMIT_ENV} must be a number of MiB, got {env!r}") from None
        if not value > 0:
            from synerec.exceptions import ConfigError

            raise ConfigError(f"${MEMORY_LIMIT_ENV} must be positive, got {env!r}")
        return int(value * 2**20), f"${MEMORY_LIMIT_ENV}"
    total = physical_memory_bytes()
    if total is None:  # pragma: no cover - non-POSIX
        return 8 * 2**30, "default"
    return total // 2, f"half of this machine's {total / 2**30:.1f} GiB"
