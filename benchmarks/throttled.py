"""Throttled pull: the default concurrent ``load_transactions`` against one worker, under the same 429s.

A 429 must slow a concurrent pull down, never make it lose to a sequential
one. :func:`throttled_pull` serves a sandbox world from its own process
(``python -m ledgerkit.sandbox``, so that serving does not share the pull's
GIL) with every 4th request answered 429 ``Retry-After: 0``, pulls the same
few thousand transactions with the default ``max_workers`` and with one
worker, checks that both frames hold the same rows, and returns the ratio
of the times (one worker / default): the target is >= 1.0.

Both pulls use the default ``RetryPolicy`` (real sleeps: a 429 with
``Retry-After: 0`` waits the 0.05 s floor). Each is timed ``repeat`` times
after one warm-up pull, and the shortest time counts.

``python benchmarks/throttled.py`` prints the line; ``benchmarks/run.py``
can call :func:`throttled_pull` (or :func:`throttled_times` for the detail).
"""

from __future__ import annotations

import contextlib
import inspect
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledgerkit import load_transactions

PERIOD = ("2025-01-01", "2025-04-01")
DEFAULT_WORKERS = inspect.signature(load_transactions).parameters["max_workers"].default


@contextlib.contextmanager
def sandbox_process(*flags: str) -> Iterator[dict[str, Any]]:
    """A sandbox in its own process on a free port; yields ``load_transactions`` keyword arguments."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerkit.sandbox", "--port", "0", *flags], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        url = user = secret = None
        for line in proc.stdout:
            if m := re.match(r"\s+transactions\s+(http\S+)", line):
                url = m.group(1)
            elif m := re.match(r"\s+transactions\s+(\S+) : (\S+)", line):
                user, secret = m.groups()
            elif line.startswith("Ctrl-C"):
                break
        if not (url and user and secret):
            raise RuntimeError(f"the sandbox did not start (exit status {proc.poll()})")
        yield {"base_url": url, "shop_id": user, "secret_key": secret, "progress": False}
    finally:
        proc.terminate()
        proc.wait(10)


def _best(pull, repeat: int) -> tuple[Any, float]:
    best, frame = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        frame = pull()
        best = min(best, time.perf_counter() - start)
    return frame, best


def throttled_times(
    *,
    world: int = 7000,
    page_size: int = 100,
    rate_limit_every: int = 4,
    retry_after: int = 0,
    latency: float = 0.01,
    repeat: int = 2,
) -> dict[str, Any]:
    """Shortest seconds of the default-worker and the one-worker pull under the same throttling.

    Returns
    -------
    dict
        ``default_s``, ``one_s``, ``ratio`` (one / default), ``rows``,
        ``workers`` (the default), ``requests`` and ``retries`` of the last
        default pull.
    """
    flags = [
        "--size",
        str(world),
        "--page-size",
        str(page_size),
        "--latency",
        str(latency),
        "--rate-limit-every",
        str(rate_limit_every),
        "--retry-after",
        str(retry_after),
    ]
    with sandbox_process(*flags) as kw:
        load_transactions(*PERIOD, **kw)  # warm-up: imports, caches, the server's first pages
        concurrent, default_s = _best(lambda: load_transactions(*PERIOD, **kw), repeat)
        sequential, one_s = _best(lambda: load_transactions(*PERIOD, max_workers=1, **kw), repeat)
    if concurrent["id"].tolist() != sequential["id"].tolist():
        raise RuntimeError("the concurrent and the sequential pull returned different rows")
    manifest = concurrent.attrs["ledgerkit"]
    return {
        "default_s": default_s,
        "one_s": one_s,
        "ratio": one_s / default_s,
        "rows": len(concurrent),
        "workers": DEFAULT_WORKERS,
        "requests": manifest["requests"],
        "retries": manifest["retry_reasons"],
    }


def throttled_pull(**kw: Any) -> float:
    """One worker's time over the default workers' time, every 4th request a 429 (target >= 1.0).

    Keyword arguments are those of :func:`throttled_times`.
    """
    return throttled_times(**kw)["ratio"]


if __name__ == "__main__":
    t = throttled_times()
    print(
        f"throttled_pull: {t['ratio']:.2f}x ({t['workers']} workers {t['default_s']:.2f} s vs 1 worker "
        f"{t['one_s']:.2f} s, {t['rows']:,} rows, 429 on every 4th request with Retry-After: 0; "
        f"{t['requests']} requests, retries {t['retries']}) (>= 1.0x)"
    )
