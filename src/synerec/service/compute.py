"""CPU-bound work off the event loop: a few threads, a bounded queue, and load shedding.

Scoring a user from their events, explaining a list, predicting a rating: such work runs on
:class:`ComputePool`'s threads (``compute_threads`` per worker process), never on the event
loop, so ``/healthz``, the precomputed lists and the ingestion keep answering while it runs.
At most ``queue`` requests wait for a thread, each at most ``queue_timeout_s``; a request beyond
either bound is refused at once with :class:`~synerec.service.faults.OverloadedError` (503 with
``Retry-After``) instead of piling up: under overload, latency stays bounded and the client is
told to come back.

Few threads on purpose: the work holds the GIL much of the time, and every extra thread makes
the event loop wait longer for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from synerec.service.faults import OverloadedError

__all__ = ["ComputePool"]

T = TypeVar("T")


class ComputePool:
    """Runs blocking callables on a few threads with a bounded, time-limited queue.

    Parameters
    ----------
    threads
        Threads running work at once (per process).
    queue
        Requests allowed to wait for a thread; one more is refused.
    queue_timeout_s
        Longest wait for a thread; a request waiting longer is refused.
    """

    def __init__(self, threads: int, queue: int, queue_timeout_s: float) -> None:
        self.threads = int(threads)
        self.queue = int(queue)
        self.queue_timeout_s = float(queue_timeout_s)
        self.waiting = 0
        self.running = 0
        self._sem: anyio.Semaphore | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    def _primitives(self) -> tuple[anyio.Semaphore, anyio.CapacityLimiter]:
        # Created on first use, inside the event loop that will use them.
        if self._sem is None or self._limiter is None:
            self._sem = anyio.Semaphore(self.threads)
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._sem, self._limiter

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a compute thread; :class:`OverloadedError` if the queue is full
        or the wait for a thread exceeds ``queue_timeout_s``."""
        sem, limiter = self._primitives()
        if sem.value == 0:
            if self.waiting >= self.queue:
                raise OverloadedError(f"the server is busy ({self.waiting} requests waiting "
                                      "for a compute thread); retry in a moment")
            self.waiting += 1
            try:
                with anyio.fail_after(self.queue_timeout_s):
                    await sem.acquire()
            except TimeoutError:
                raise OverloadedError(
                    f"the server is busy: no compute thread became free within "
                    f"{self.queue_timeout_s:g} s; retry in a moment") from None
            finally:
                self.waiting -= 1
        else:
            await sem.acquire()
        self.running += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)
        finally:
            self.running -= 1
            sem.release()
