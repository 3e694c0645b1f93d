"""Peak resident memory of a block of code, sampled from the operating system."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from types import TracebackType

__all__ = ["PeakMemory", "current_rss"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux: /proc; else the lifetime peak)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class PeakMemory:
    """Context manager that samples RSS in a thread and reports the peak above the start.

    Counts every allocation (numpy, numba, C libraries), unlike ``tracemalloc``. The sampling
    interval bounds how short a spike can be and still be seen.

    Attributes
    ----------
    peak_bytes
        Highest RSS seen minus the RSS at entry (0 if memory only shrank).
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0
        self._max = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, current_rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self._start = self._max = current_rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._max = max(self._max, current_rss())
        self.peak_bytes = max(0, self._max - self._start)

    @property
    def peak_mb(self) -> float:
        """:attr:`peak_bytes` in MiB."""
        return self.peak_bytes / 2**20
