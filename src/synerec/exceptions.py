"""Errors raised by synerec.

Every error a user can cause derives from :class:`SynerecError`, so the CLI and the service can
turn it into one clear line instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ChecksumError",
    "ConfigError",
    "DataFormatError",
    "DatasetNotFoundError",
    "ModelFileError",
    "NotFittedError",
    "SynerecError",
    "UnknownIdError",
]


class SynerecError(Exception):
    """Base class of all errors that synerec raises for a user's mistake or a bad input."""


class ConfigError(SynerecError, ValueError):
    """An invalid parameter or option."""


class NotFittedError(SynerecError, AttributeError):
    """A model was used before :meth:`fit` was called."""


class UnknownIdError(SynerecError, KeyError):
    """An external id that a vocabulary does not hold.

    Parameters
    ----------
    id
        The unknown external id.
    kind
        What the vocabulary holds (``"user"``, ``"item"``, ...).
    """

    def __init__(self, id: Any, kind: str = "id") -> None:
        self.id = id
        self.kind = kind
        super().__init__(id)

    def __str__(self) -> str:
        return f"unknown {self.kind} id {self.id!r}"


class DataFormatError(SynerecError, ValueError):
    """A malformed input file or table.

    The message names where the problem is: the file, the line (1-based, as an editor shows it),
    the column and the offending value, whichever of them are known.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: str | int | None = None,
        value: Any = None,
        has_value: bool | None = None,
    ) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column
        self.value = value
        self.has_value = has_value if has_value is not None else value is not None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}" if isinstance(self.column, str) else
                         f"column {self.column}")
        head = ", ".join(where)
        msg = self.problem
        if self.has_value:
            msg = f"{msg}: {self.value!r}"
        return f"{head}: {msg}" if head else msg


class DatasetNotFoundError(SynerecError, FileNotFoundError):
    """A data set that is neither in the data home nor downloadable."""


class ChecksumError(SynerecError):
    """A downloaded or stored file whose sha256 does not match the expected one."""


class ModelFileError(SynerecError):
    """A saved model that is missing, truncated, corrupted or from an incompatible version."""
