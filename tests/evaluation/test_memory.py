"""PeakMemory sees a short-lived allocation, even when it is freed before the block ends."""

from __future__ import annotations

import numpy as np

from synerec.evaluation._memory import PeakMemory


def test_peak_of_a_freed_allocation_is_seen() -> None:
    with PeakMemory() as mem:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        del block
    assert 180 <= mem.peak_mb <= 400, mem.peak_mb
    assert mem.method in ("vmhwm", "sampled")


def test_memory_kept_from_earlier_work_does_not_hide_the_peak() -> None:
    earlier = np.ones(100 * 2**20 // 8)
    del earlier  # freed, possibly still held by the allocator
    with PeakMemory() as mem:
        block = np.ones(100 * 2**20 // 8)
        del block
    assert mem.peak_mb >= 80, mem.peak_mb


def test_no_allocation_gives_a_small_peak() -> None:
    with PeakMemory() as mem:
        sum(range(1000))
    assert mem.peak_mb < 20
