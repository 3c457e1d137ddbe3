"""Where a pull's Arrow memory comes from: jemalloc, where pyarrow has it, while any whole load runs.

pyarrow's default allocator, mimalloc, hands memory a thread freed back to
the system when it is not used again within about 10 ms, and takes it back
later one huge page at a time, each cleared by the kernel. A pull frees and
allocates in bursts a round trip apart (a page's columns, then the frame's
columns as the pages' are let go), so it pays that clearing over and over;
Arrow's jemalloc keeps freed memory for about a second. Measured against
the benchmark's sandbox on a fast host (200,657 rows, 4 workers, the pull
held by the round trip, 3 pulls each way in one process): the frame at the
end took 0.19-0.25 s instead of 0.35-0.37 s, the pull 3.20-3.37 s instead
of 3.42-3.60 s, and the parse bound was the same either way.

The default pool is one for the whole process (like the garbage
collector's switch, :func:`~ledgerkit._ingest.arrow_pages.gc_paused`), so
the switch is counted: the first pull in sets jemalloc, the last one out
gives back what jemalloc holds unused and sets the pool it found. Buffers
remember their pool, so a frame outlives the switch safely. A process that
chose its pool (``ARROW_DEFAULT_MEMORY_POOL``), or whose pyarrow has no
jemalloc (Windows wheels), keeps its own.

Examples
--------
>>> import pyarrow as pa
>>> before = pa.default_memory_pool().backend_name
>>> with pull_memory():
...     pa.default_memory_pool().backend_name in ("jemalloc", before)
True
>>> pa.default_memory_pool().backend_name == before
True
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pyarrow as pa

__all__ = ["pull_memory", "pull_pool"]

_lock = threading.Lock()
_pullers = 0
_found: pa.MemoryPool | None = None  # the default pool when the first pull came in


def pull_pool() -> pa.MemoryPool | None:
    """The pool pulls allocate from, or None to leave the default alone (chosen by the process, or no jemalloc)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None
    try:
        return pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return None


@contextlib.contextmanager
def pull_memory() -> Iterator[None]:
    """Allocate Arrow memory from :func:`pull_pool` while this (and any other) pull runs; thread-safe, nestable."""
    global _pullers, _found  # noqa: PLW0603 - one count of pulls for the process, under _lock
    pool = pull_pool()
    if pool is None:
        yield
        return
    with _lock:
        if _pullers == 0:
            _found = pa.default_memory_pool()
            pa.set_memory_pool(pool)
        _pullers += 1
    try:
        yield
    finally:
        with _lock:
            _pullers -= 1
            if _pullers == 0:
                pool.release_unused()
                if _found is not None:
                    pa.set_memory_pool(_found)
                _found = None
