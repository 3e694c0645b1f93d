"""Errors raised by synerec.

Every error a user can cause derives from :class:`SynerecError`, so the CLI and the service can
turn it into one clear line instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "BadRowsError",
    "ChecksumError",
    "ConfigError",
    "DataFormatError",
    "DatasetNotFoundError",
    "ModelFileError",
    "NotFittedError",
    "SynerecError",
    "UnknownIdError",
    "UnknownItemError",
    "UnknownUserError",
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

    def __new__(cls, id: Any = None, kind: str | None = None, *args: Any, **kwargs: Any) -> Any:
        # ``UnknownIdError(x, "user")`` is an :class:`UnknownUserError` (and ``"item"`` an
        # :class:`UnknownItemError`), so callers can catch the kind they care about.
        if cls is UnknownIdError and kind is not None:
            cls = {"user": UnknownUserError, "item": UnknownItemError}.get(kind, cls)
        return super().__new__(cls)

    def __init__(self, id: Any, kind: str | None = None, *, count: int = 1,
                 hint: str | None = None) -> None:
        self.id = id
        self.kind = kind or self._default_kind
        self.count = count
        self.hint = hint
        super().__init__(id)

    _default_kind = "id"

    def __str__(self) -> str:
        more = f" (and {self.count - 1} more unknown {self.kind} ids)" if self.count > 1 else ""
        hint = f"; {self.hint}" if self.hint else ""
        return f"unknown {self.kind} id {self.id!r}{more}{hint}"


class UnknownUserError(UnknownIdError):
    """A user id the model (or data set) does not know; see docs/your-data.md, "Unknown ids"."""

    _default_kind = "user"


class UnknownItemError(UnknownIdError):
    """An item id the model (or data set) does not know."""

    _default_kind = "item"


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


class BadRowsError(DataFormatError):
    """Rows of an input file that cannot be read, all of them (up to a limit) in one message.

    The location attributes (``path``, ``line``, ``column``, ``value``) are those of the first
    bad row; :attr:`report` holds every problem found
    (:class:`synerec.data.report.BadRows`).
    """

    def __init__(self, first: DataFormatError, report: Any, more: str = "") -> None:
        self.report = report
        self.more = more
        super().__init__(first.problem, path=first.path, line=first.line, column=first.column,
                         value=first.value, has_value=first.has_value)

    def __str__(self) -> str:
        return super().__str__() + self.more


class DatasetNotFoundError(SynerecError, FileNotFoundError):
    """A data set that is neither in the data home nor downloadable."""


class ChecksumError(SynerecError):
    """A downloaded or stored file whose sha256 does not match the expected one."""


class ModelFileError(SynerecError):
    """A saved model that is missing, truncated, corrupted or from an incompatible version."""
