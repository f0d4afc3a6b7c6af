"""Memory settings for building a large index: the allocator and the garbage collector.

A million-entry image is millions of small, long-lived, acyclic objects built in one go;
both of Python's defaults here cost measurable time on it (figures in each docstring).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_TUNED = False
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def tune_allocator() -> None:
    """Keep freed read buffers for the next read instead of handing them back to the OS.

    Indexing reads 1 MiB at a time into a new buffer and frees the last one. glibc serves
    such blocks from fresh mmaps (or trims them off the heap once freed), so every read
    page-faulted its megabyte in again: 15 % of the index's CPU time. Blocks up to 4 MiB
    now come from the heap, which keeps up to 2 MiB of free space: enough for the next
    read's buffer (with 32 MiB each worker process kept its share: the go-service sample
    peaked at 61–66 MB with 4 MiB, 60–62 MB with 2 MiB, 59–60 MB with 1 MiB, but 1 MiB
    cost a tenth of a second of system time in page faults). Once per process (each worker
    process calls it too); a no-op where there is no glibc.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        mallopt(M_MMAP_THRESHOLD, 4 << 20)
        mallopt(M_TRIM_THRESHOLD, 2 << 20)
    except (OSError, AttributeError):
        pass


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures.

    Indexing allocates millions of small containers and frees none; with the collector on,
    its full passes over them made a million-entry image a third slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
