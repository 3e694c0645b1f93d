"""Faults of the service and how they are answered: a status, a kind, a sentence, no paths.

Every error the service answers is the JSON error format ``{"error", "message", "fields"?}``.
The faults of the running service (a full disk, a busy or failing database, too much load) are
:class:`ServiceFault` subclasses carrying their HTTP status and, where waiting helps, a
``Retry-After``. :func:`classify` turns the low-level exceptions (``sqlite3.Error``,
``OSError``) into them, so that no storage problem is ever a bare 500, and :func:`scrub_paths`
removes filesystem paths from any text a client may see.

Start-up problems (:class:`StateDirError`) are one line on the CLI, never a traceback.
"""

from __future__ import annotations

import errno
import re
import sqlite3

from synerec.exceptions import SynerecError

__all__ = [
    "FAULT_KINDS",
    "BusyError",
    "OverloadedError",
    "ServiceFault",
    "StateDirError",
    "StateDirLockedError",
    "StorageError",
    "StorageFullError",
    "classify",
    "scrub_paths",
]


class ServiceFault(SynerecError):
    """A fault of the running service, answered with :attr:`status` and :attr:`kind`."""

    status: int = 503
    kind: str = "unavailable"
    retry_after: int | None = 5


class StorageFullError(ServiceFault):
    """No space left (disk full, quota, or the configured event-store size limit)."""

    status = 507
    kind = "insufficient_storage"
    retry_after = 60


class StorageError(ServiceFault):
    """The state directory cannot be written or read (read-only, I/O error, corruption)."""

    status = 503
    kind = "storage_error"
    retry_after = 30


class BusyError(ServiceFault):
    """The database stayed locked by another writer longer than the busy timeout."""

    status = 503
    kind = "busy"
    retry_after = 1


class OverloadedError(ServiceFault):
    """Too many requests wait for a compute thread; the request was not started."""

    status = 503
    kind = "overloaded"
    retry_after = 1


class StateDirError(SynerecError):
    """The state directory cannot be used at start-up (unwritable, unreadable)."""


class StateDirLockedError(StateDirError):
    """Another ``synerec serve`` holds the state directory."""


#: Every ``kind`` a fault can be counted under in ``synerec_faults_total`` (a fixed set).
FAULT_KINDS: tuple[str, ...] = ("insufficient_storage", "storage_error", "busy", "overloaded",
                                "timeout", "body_too_large", "internal_error")

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_SQLITE_FULL, _SQLITE_BUSY, _SQLITE_LOCKED = 13, 5, 6


def classify(exc: BaseException, what: str = "the event store") -> ServiceFault | None:
    """The :class:`ServiceFault` for a storage exception, or ``None`` if it is not one.

    Parameters
    ----------
    exc
        The exception raised by sqlite3 or a file operation.
    what
        Names the thing that failed in the message (``"the event store"``), never its path.
    """
    if isinstance(exc, ServiceFault):
        return exc
    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError,
                        sqlite3.IntegrityError)):
        return None  # a bug or a bad value, not a storage fault
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else int(code) & 0xFF
        name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        if primary == _SQLITE_FULL or "database or disk is full" in str(exc):
            return StorageFullError(f"{what} is full (no space left on the disk, or its size "
                                    "limit reached); nothing was stored")
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in str(exc):
            return BusyError(f"{what} is busy with another writer; nothing was stored, retry")
        if isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)):
            return StorageError(f"{what} cannot be used ({name}); nothing was stored")
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = exc.strerror or errno.errorcode.get(exc.errno, "error")
        if exc.errno in _FULL_ERRNOS:
            return StorageFullError(f"{what} cannot be written: {reason}")
        return StorageError(f"{what} cannot be written or read: {reason}")
    return None


# An absolute POSIX path (two or more components) or a Windows drive path.
_PATH = re.compile(r"(?<![\w.~/-])(?:/[^\s'\":,;()\[\]{}<>]+){2,}|\b[A-Za-z]:\\[^\s'\":,;]+")


def scrub_paths(text: str, *known: str) -> str:
    """``text`` with filesystem paths replaced by ``<path>`` (the ``known`` ones first)."""
    for k in sorted((k for k in known if k and len(k) > 1), key=len, reverse=True):
        text = text.replace(k, "<path>")
    return re.sub(r"(?:<path>)+", "<path>", _PATH.sub("<path>", text))
