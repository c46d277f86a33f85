"""Wall-clock timing shared by the benchmark scripts in this folder."""

from __future__ import annotations

import statistics
import time


def median_time(call, repeat: int = 5) -> float:
    """The median of ``repeat`` timed calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(first, second, repeat: int) -> tuple[float, float]:
    """Median times of two calls, each warmed up once, then run turn about, so
    both meet the same memory allocator and caches (whichever ran first would
    otherwise pay for growing the heap)."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for call, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            call()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])
