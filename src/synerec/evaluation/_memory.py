"""Peak resident memory of a block of code, read from the operating system."""

from __future__ import annotations

import ctypes
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


def _status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc), so that new allocations raise the RSS."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class PeakMemory:
    """Context manager reporting the peak resident memory above the start of the block.

    Counts every allocation (numpy, numba, C libraries), unlike ``tracemalloc``. On Linux the
    kernel's own peak counter is reset at entry and read at exit (exact, no thread); elsewhere
    a thread samples the RSS every ``interval`` seconds. Freed heap memory is returned to the
    OS first, so memory the process kept from earlier work does not hide the peak. The peak
    counter is per process: do not nest measurements or run two at once.

    Attributes
    ----------
    peak_bytes
        Highest RSS during the block minus the RSS at entry (0 if memory only shrank).
    method
        ``"vmhwm"`` (kernel peak counter) or ``"sampled"``.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.method = "sampled"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0
        self._max = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, current_rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        _trim_heap()
        self._start = self._max = current_rss()
        if _reset_peak():
            self.method = "vmhwm"
        else:
            self.method = "sampled"
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        peak = _status_bytes("VmHWM") if self.method == "vmhwm" else None
        self._max = max(self._max, current_rss(), peak or 0)
        self.peak_bytes = max(0, self._max - self._start)

    @property
    def peak_mb(self) -> float:
        """:attr:`peak_bytes` in MiB."""
        return self.peak_bytes / 2**20
