"""Where a concurrent pull's wall time goes, request by request: ``python benchmarks/timeline.py``.

:mod:`run` says how fast a pull is against its bound; this says why, in
the terms that decide it on a shared machine. For each worker count it
pulls ``TIMELINE_REPEAT`` times (after one warm-up) from the benchmark's
sandbox process and prints, per pull:

- ``wall``, the ``first`` page's round trip and the ``frame`` built at the end;
- ``in flight``: requests out on average (of the workers), and the share of
  the time with fewer out than workers;
- ``gap``: from a page's bytes coming in to its window's next request going
  out (median, 90th percentile, mean);
- ``parsing``: the share of the time before the frame with as many pages in
  parse as the pull's parse threads (:func:`ledgerkit._ingest.cores.parse_capacity`).

and per worker count the medians, with what held the pull: **the CPU**
when the parse threads were full most of the time, **the round trip** when
they were not and the requests kept the workers busy, else neither alone
(a short pull: its start, tail and frame). They call for different levers
(see README, "The table's full run").

To time the pull it wraps three of its internals -- the request sent
ahead, the page parse and the frame -- so it follows them when they are
renamed; ``tests/test_bench_smoke.py`` runs it. ``TIMELINE_ROWS`` (default
200000), ``TIMELINE_WORKERS`` ("4,8"), ``TIMELINE_REPEAT`` (3),
``TIMELINE_LATENCY`` (0.05 s).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import METHODS, PAGE, PERIOD
from sandbox_proc import SandboxProcess

import ledgerkit.sources.transactions as tx
from ledgerkit import load_transactions
from ledgerkit._ingest.cores import parse_capacity
from ledgerkit._ingest.page_tail import tail_cursor

ROWS = int(os.environ.get("TIMELINE_ROWS", "200000"))
WORKERS = [int(w) for w in os.environ.get("TIMELINE_WORKERS", "4,8").split(",")]
REPEAT = int(os.environ.get("TIMELINE_REPEAT", "3"))
LATENCY = float(os.environ.get("TIMELINE_LATENCY", "0.05"))
#: Share of the time with the parse threads full above which the CPU held the pull.
CPU_HELD = 0.8
#: Requests out on average, of the workers, above which the round trip held the pull.
ROUND_TRIP_HELD = 0.9


@dataclass
class Trace:
    """What one pull did, on one clock: requests, parses and the frame."""

    start: float = 0.0
    end: float = 0.0
    #: (sent, bytes in, method, cursor sent, cursor in the tail or None)
    requests: list[tuple[float, float, str, int | None, int | None]] = field(default_factory=list)
    parses: list[tuple[float, float]] = field(default_factory=list)
    frame: tuple[float, float] = (0.0, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restart(self) -> None:
        """Forget the last pull's timeline; the next starts now."""
        self.requests.clear()
        self.parses.clear()
        self.frame = (0.0, 0.0)
        self.start = time.perf_counter()


TRACE = Trace()


def _traced(owner: Any, name: str, record: Callable[..., None]) -> None:
    """Wrap ``owner.name`` so that ``record(started, ended, result, *args)`` follows each call."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = inner(*args, **kwargs)
        ended = time.perf_counter()
        with TRACE.lock:
            record(started, ended, result, *args)
        return result

    setattr(owner, name, wrapper)


def _request(started: float, ended: float, response: Any, _ahead: Any, body: dict) -> None:
    params = body["report_params"]
    found = tail_cursor(response.content, "last_object_id")
    more = found[0] if found is not None and found[1] else None
    TRACE.requests.append((started, ended, params["payment_method_type"], params.get("starting_after"), more))


def instrument() -> None:
    """Time every request sent ahead, every page parse and the frame of the pulls that follow."""
    _traced(tx._Ahead, "_transmit", _request)
    _traced(tx, "read_columns", lambda s, e, *_: TRACE.parses.append((s, e)))
    _traced(tx._Pull, "frame", lambda s, e, *_: setattr(TRACE, "frame", (s, e)))


def _levels(spans: list[tuple[float, float]], start: float, end: float) -> dict[int, float]:
    """Seconds within ``[start, end]`` during which exactly k of ``spans`` were open, by k.

    Examples
    --------
    >>> _levels([(0, 2), (1, 3)], 0, 4)
    {0: 1, 1: 2, 2: 1}
    """
    events = sorted(e for a, b in spans if b > start and a < end for e in ((max(a, start), 1), (min(b, end), -1)))
    out: dict[int, float] = {}
    level, at = 0, start
    for t, step in events:
        out[level] = out.get(level, 0) + t - at
        level, at = level + step, t
    out[level] = out.get(level, 0) + end - at
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Pull:
    """One pull's timeline, summed up (seconds, shares of the time)."""

    workers: int
    wall: float
    first: float
    frame: float
    in_flight: float
    fewer: float
    gaps: list[float]
    parsing_full: float

    @classmethod
    def of(cls, trace: Trace, workers: int) -> Pull:
        requests = sorted(trace.requests)
        first_sent, last_in = requests[0][0], max(r[1] for r in requests)
        busy = _levels([(r[0], r[1]) for r in requests], first_sent, last_in)
        span = last_in - first_sent
        came_in = {(r[2], r[4]): r[1] for r in requests if r[4] is not None}
        next_sent: dict[tuple[str, int | None], float] = {}
        for r in requests:
            next_sent.setdefault((r[2], r[3]), r[0])
        gaps = [next_sent[k] - t for k, t in came_in.items() if k in next_sent]
        parsing = _levels(trace.parses, trace.start, trace.frame[0])
        before_frame = trace.frame[0] - trace.start
        return cls(
            workers,
            trace.end - trace.start,
            requests[0][1] - requests[0][0],
            trace.frame[1] - trace.frame[0],
            sum(k * t for k, t in busy.items()) / span,
            sum(t for k, t in busy.items() if k < workers) / span,
            gaps,
            sum(t for k, t in parsing.items() if k >= parse_capacity()) / before_frame,
        )

    def line(self) -> str:
        gaps = sorted(self.gaps) or [0.0]
        p90 = gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))]
        return (
            f"{self.workers} workers: wall {self.wall:.2f} s, first {self.first * 1000:.0f} ms, frame "
            f"{self.frame:.2f} s; in flight {self.in_flight:.2f} of {self.workers} "
            f"(fewer {self.fewer:.0%} of the time); "
            f"gap {statistics.median(gaps) * 1000:.1f} / {p90 * 1000:.1f} / {statistics.fmean(gaps) * 1000:.1f} ms "
            f"(median / p90 / mean); parsing {self.parsing_full:.0%} of the time at {parse_capacity()} pages"
        )


def held_by(pulls: list[Pull]) -> str:
    """What held pulls like these: the CPU (parse threads full), the round trip (workers all out), or neither."""
    if statistics.median(p.parsing_full for p in pulls) >= CPU_HELD:
        return "the CPU"
    if statistics.median(p.in_flight for p in pulls) >= ROUND_TRIP_HELD * pulls[0].workers:
        return "the round trip"
    return "neither alone: too few requests out to keep the parse threads full"


def timed_pull(sb: SandboxProcess, workers: int) -> Pull:
    """One pull of the benchmark's rows with ``workers`` workers, traced."""
    TRACE.restart()
    load_transactions(*PERIOD, payment_method_type=METHODS, max_workers=workers, **sb.kw)
    TRACE.end = time.perf_counter()
    return Pull.of(TRACE, workers)


def main() -> None:
    instrument()
    with SandboxProcess(ROWS * 9 // 4, PAGE, LATENCY) as sb:
        timed_pull(sb, max(WORKERS))  # warm the sandbox's caches
        for workers in WORKERS:
            pulls = [timed_pull(sb, workers) for _ in range(REPEAT)]
            for p in pulls:
                print(p.line(), flush=True)
            wall, flight, frame, full = (
                statistics.median(getattr(p, name) for p in pulls)
                for name in ("wall", "in_flight", "frame", "parsing_full")
            )
            print(
                f"{workers} workers, medians: wall {wall:.2f} s, in flight {flight:.2f}, frame {frame:.2f} s, "
                f"parse threads full {full:.0%} of the time: held by {held_by(pulls)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
