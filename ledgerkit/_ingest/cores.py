"""How much CPU a pull may use at once: the cores this process runs on, and the threads that parse its pages.

Parsing a page is CPU work (Arrow's JSON reader and the checks around it);
waiting for the next page is not. A pull may wait on many requests at once,
but parsing many more pages at once than there are cores only adds switching
between threads and contention for the GIL.

A pull parses one page more at once than there are cores. Part of a page's parse
holds the GIL (the checks and typing around Arrow's reader, which lets go of
it), and so do the pull's sending threads; with only as many pages as cores
in parse, a core whose page waits for the GIL has nothing to run; a page
more keeps it busy with that page's Arrow work. Measured on 2 cores against
the benchmark's sandbox (200,657 rows, pulls with 2 and 3 pages at once
alternating in one process): with 4 workers, 3 at once was faster in 6 of 8
pairs, by 7 % (median); with 8 workers it made no difference (3 of 8, median
2 % slower). 4 at once was no better than 3.

The pages are parsed on a pool of that many threads of the pull's own
(:func:`parse_pool`), not on the threads that wait for them. Arrow's
allocator (mimalloc) hands memory a thread freed back to the system when it
is not used again within about 10 ms, and takes it back later one huge page
(2 MiB) at a time, each cleared by the kernel. A thread that waits a round
trip between its pages pays that on every page; a pool thread that takes the
next page at once does not. Measured against the benchmark's sandbox with 8
workers, where the pull is CPU-bound (10 pulls of each way, paired in one
process): the pool was faster in 6 of 10 pairs, by 5 % at the median, with
6 % less CPU (0.14 s less of it in the kernel); with that release switched
off (``MIMALLOC_PURGE_DELAY=-1``) the two ways were alike, which is how the
cause was told. With 4 workers, where the round trip holds the pull, it
made no difference (3 of 8 pairs, median 1.5 % slower).

Examples
--------
>>> with parse_pool() as pool:
...     pool.submit(sum, [1, 2]).result()
3
>>> usable_cores() >= 1, parse_capacity() == usable_cores() + 1
(True, True)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

__all__ = ["usable_cores", "parse_capacity", "parse_pool"]


def usable_cores() -> int:
    """How many CPU cores this process may run on (its affinity where the OS tells, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_capacity() -> int:
    """How many pages a pull parses at once: one more than the usable cores (see the module's notes)."""
    return usable_cores() + 1


def parse_pool() -> ThreadPoolExecutor:
    """:func:`parse_capacity` threads to parse a pull's pages on (one pool per pull; shut it down when done)."""
    return ThreadPoolExecutor(parse_capacity(), thread_name_prefix="ledgerkit-parse")
