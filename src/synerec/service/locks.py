"""Process coordination: advisory file locks and tying child processes to their parent.

* :class:`FileLock` is an exclusive ``flock`` on a file of the state directory. The kernel drops
  it when its process ends, however it ends (``kill -9`` included), so a lock is never stale.
  ``serve.lock`` makes one ``synerec serve`` the only server of a state directory;
  ``retrain.lock`` makes one worker process at a time retrain; ``cache.lock`` serialises the
  writing of precomputed serving files.
* :func:`die_with_parent` makes a child process (a server worker, a retrain worker) end when
  its parent ends: ``PR_SET_PDEATHSIG`` on Linux, and a thread that watches the parent's pid
  everywhere (the fallback, and a guard against the parent dying before the call).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["FileLock", "die_with_parent"]

log = logging.getLogger(__name__)


class FileLock:
    """An exclusive, non-reentrant ``flock`` on ``path``; the holder's pid and a note inside.

    Parameters
    ----------
    path
        The lock file (created when missing; never deleted, so that two processes always
        lock the same inode).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, blocking: bool = False, note: str = "") -> bool:
        """Take the lock; ``False`` when another holder has it and ``blocking`` is false.

        Raises
        ------
        OSError
            The lock file cannot be created or opened.
        """
        with self._mutex:
            if self._fd is not None:
                return False
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {note}".strip().encode() + b"\n")
            except OSError:
                pass  # the lock holds even when its note cannot be written (full disk)
            self._fd = fd
            return True

    def release(self) -> None:
        """Let the lock go (a no-op when not held)."""
        with self._mutex:
            fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def holder(self) -> tuple[int | None, str]:
        """The pid and note written by the last holder (``None``, ``""`` when unknown)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None, ""
        pid, _, note = text.partition(" ")
        return (int(pid) if pid.isdigit() else None), note

    def is_free(self) -> bool:
        """Whether nobody holds the lock right now (tries it and lets it go at once)."""
        probe = FileLock(self.path)
        try:
            if probe.acquire(blocking=False):
                probe.release()
                return True
        except OSError:
            return False
        return False

    def __enter__(self) -> FileLock:
        self.acquire(blocking=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGKILL,
                    interval: float = 0.5) -> None:
    """End this process when its parent ends (see the module docstring).

    Parameters
    ----------
    parent_pid
        The expected parent (default: the current one). If it is already gone, exit now.
    sig
        Signal sent by the kernel on the parent's death (Linux).
    interval
        Seconds between two checks of the watching thread.
    """
    expected = os.getppid() if parent_pid is None else int(parent_pid)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            log.debug("prctl(PR_SET_PDEATHSIG) unavailable; relying on the watcher thread")
    if os.getppid() != expected:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != expected:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
