"""The C allocator's thresholds, set once for the large arrays of the tensor
sweeps and of batches.

glibc's malloc hands out a large block from the heap or by ``mmap``, and gives
freed heap memory back to the system past a trim threshold; both thresholds
start at 128 KiB and rise to the size of the largest ``mmap``-ed block freed
so far. A sweep keeps every entry's value and adjoint until it returns, so each
call frees megabytes at once: past the threshold they go back to the system,
and the next call touches fresh pages, one fault per 4 KiB (2,500 faults a
call, a third of its time, for a Gaussian likelihood over a 200×200
covariance and 1,000 samples; half the time of a batch gradient over a million
points). Freeing one block of nearly 32 MiB, once, raises the thresholds as any
program that has freed such an array would: blocks up to that size then come
from the heap, and up to twice that of freed heap is kept for the next call.
Elsewhere (another C library, or thresholds fixed by ``MALLOC_MMAP_THRESHOLD_``)
this is one allocation and nothing more.
"""

from __future__ import annotations

from ..primitives.base import np

# The largest block whose release still moves glibc's thresholds is 32 MiB,
# headers included: 8 KiB less leaves room for them.
_BLOCK_DOUBLES = 4 * 1024 * 1024 - 1024


def raise_thresholds() -> None:
    """Allocate and free one block of nearly 32 MiB (never touched: no page is faulted in)."""
    block = np.empty(_BLOCK_DOUBLES)
    del block
