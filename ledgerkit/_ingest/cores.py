"""How much CPU a pull may use at once: the cores this process runs on, and a gate for page parsing.

Parsing a page is CPU work (Arrow's JSON reader and the checks around it);
waiting for the next page is not. A pull may wait on many requests at once,
but parsing more pages at once than there are cores only adds switching
between threads and contention for the GIL.

Examples
--------
>>> gate = parse_gate()
>>> with gate:
...     pass
>>> usable_cores() >= 1
True
"""

from __future__ import annotations

import os
import threading

__all__ = ["usable_cores", "parse_gate"]


def usable_cores() -> int:
    """How many CPU cores this process may run on (its affinity where the OS tells, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_gate() -> threading.BoundedSemaphore:
    """A gate letting as many pages be parsed at once as there are usable cores (one per pull)."""
    return threading.BoundedSemaphore(usable_cores())
