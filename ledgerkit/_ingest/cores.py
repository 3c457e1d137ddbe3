"""How much CPU a pull may use at once: the cores this process runs on, and a gate for page parsing.

Parsing a page is CPU work (Arrow's JSON reader and the checks around it);
waiting for the next page is not. A pull may wait on many requests at once,
but parsing many more pages at once than there are cores only adds switching
between threads and contention for the GIL.

The gate admits one page more than there are cores. Part of a page's parse
holds the GIL (the checks and typing around Arrow's reader, which lets go of
it), and so do the pull's sending threads; with only as many pages as cores
in parse, a core whose page waits for the GIL has nothing to run; a page
more keeps it busy with that page's Arrow work. Measured on 2 cores against
the benchmark's sandbox (200,657 rows, pulls with 2 and 3 pages at once
alternating in one process): with 4 workers, 3 at once was faster in 6 of 8
pairs, by 7 % (median); with 8 workers it made no difference (3 of 8, median
2 % slower). 4 at once was no better than 3.

Examples
--------
>>> gate = parse_gate()
>>> with gate:
...     pass
>>> usable_cores() >= 1, parse_capacity() == usable_cores() + 1
(True, True)
"""

from __future__ import annotations

import os
import threading

__all__ = ["usable_cores", "parse_capacity", "parse_gate"]


def usable_cores() -> int:
    """How many CPU cores this process may run on (its affinity where the OS tells, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_capacity() -> int:
    """How many pages a pull parses at once: one more than the usable cores (see the module's notes)."""
    return usable_cores() + 1


def parse_gate() -> threading.BoundedSemaphore:
    """A gate letting :func:`parse_capacity` pages be parsed at once (one gate per pull)."""
    return threading.BoundedSemaphore(parse_capacity())
