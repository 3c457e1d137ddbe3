"""Split ``[date_from, date_to)`` into time windows and pull them concurrently.

A cursor-paginated report is a chain: page n+1 needs page n's cursor, so
one window is one request at a time. Several windows over disjoint time
ranges are independent chains and can run side by side. This module holds
the two halves of that idea, independent of any one API:

- **time arithmetic** -- :func:`plan_spans` cuts a period into equal windows
  and :func:`split_point` finds where to cut a window that turned out dense.
  Boundaries fall on whole seconds (the API's resolution; its ``to`` is
  inclusive, so a window ``[a, b)`` is sent as ``to = b - 1 s``), or on
  midnights in the request's zone for ``settled_at`` (it counts days), and
  never on a wall-clock time that a daylight-saving change makes ambiguous.
- **scheduling** -- :class:`WindowScheduler` runs a work queue of windows on
  a few threads. A worker takes a window, fetches *one* page and hands back
  the page's result and what is left: the same window (more pages), two
  halves of it (dense: split while other workers are idle), or nothing.
  Results stream back to the calling thread in arrival order; the first
  error stops every worker and is raised there.

Splitting a window that has already been paged keeps its cursor in both
halves: the rows with ids up to the cursor were received (whatever their
time), and each half asks only for ids after it, so nothing is fetched
twice and nothing is lost.

Examples
--------
>>> import pandas as pd
>>> a, b = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-01-02", tz="UTC")
>>> [str(s) for s in plan_spans(a, b, 4, "created_at", "UTC")]
['2025-01-01 00:00:00+00:00', '2025-01-01 06:00:00+00:00', '2025-01-01 12:00:00+00:00', '2025-01-01 18:00:00+00:00', '2025-01-02 00:00:00+00:00']
>>> split_point(a, b, "created_at", "UTC", hint=pd.Timestamp("2025-01-01 20:00", tz="UTC"))
Timestamp('2025-01-01 22:00:00+0000', tz='UTC')
"""  # noqa: E501 - a doctest's output is one line

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import pandas as pd

__all__ = ["plan_spans", "split_point", "WindowScheduler"]

W = TypeVar("W")

#: A step fetches one page of a window: ``step(window, worker, hungry) -> (result, windows left)``.
Step = Callable[[W, Any, bool], tuple[Any, list[W]]]


# ------------------------------------------------------------ time arithmetic


def _align(ts: pd.Timestamp, date_type: str, zone: str) -> pd.Timestamp:
    """The boundary at or before ``ts``: a whole second, or a midnight in ``zone`` for settled_at."""
    if date_type == "settled_at":
        return ts.tz_convert(zone).normalize().tz_convert("UTC")
    return ts.floor("s")


def _unambiguous(ts: pd.Timestamp, zone: str) -> bool:
    """Whether ``ts`` and the second before it are wall-clock times with one meaning in ``zone``."""
    if zone == "UTC":
        return True
    for moment in (ts, ts - pd.Timedelta(seconds=1)):
        wall = moment.tz_convert(zone).tz_localize(None)
        try:
            if wall.tz_localize(zone, ambiguous="raise", nonexistent="raise") != moment:
                return False
        except (ValueError, TypeError):  # pytz/zoneinfo ambiguity errors are ValueErrors
            return False
    return True


def _inside(ts: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp, date_type: str, zone: str) -> pd.Timestamp | None:
    cut = _align(ts, date_type, zone)
    return cut if start < cut < end and _unambiguous(cut, zone) else None


def split_point(
    start: pd.Timestamp, end: pd.Timestamp, date_type: str, zone: str, *, hint: pd.Timestamp | None = None
) -> pd.Timestamp | None:
    """Where to cut the window ``[start, end)`` in two, or None when it cannot be cut.

    ``hint`` is the latest time already received in the window: when ids grow
    with time (the usual case) the rest of the window lies after it, so the
    cut halves ``[hint, end)``; otherwise it halves ``[start, end)``.
    """
    lo = hint if hint is not None and start < hint < end else start
    for a in (lo, start):
        cut = _inside(a + (end - a) / 2, start, end, date_type, zone)
        if cut is not None:
            return cut
    return None


def plan_spans(start: pd.Timestamp, end: pd.Timestamp, parts: int, date_type: str, zone: str) -> list[pd.Timestamp]:
    """Boundaries ``[start, ..., end]`` cutting the period into up to ``parts`` equal windows."""
    cuts = [_inside(start + (end - start) * i / parts, start, end, date_type, zone) for i in range(1, parts)]
    return [start, *sorted({c for c in cuts if c is not None}), end]


# ----------------------------------------------------------------- scheduling


class WindowScheduler(Generic[W]):
    """Run windows on ``max_workers`` threads; iterate to receive the page results.

    Parameters
    ----------
    windows : list
        The initial windows (any objects ``step`` understands).
    step : callable
        ``step(window, worker, hungry) -> (result, left)`` fetches one page.
        ``hungry`` says that a worker is idle (a dense window should split);
        ``left`` is the list of windows still to pull (``[window]`` to go on).
        A ``result`` of None is not passed on.
    max_workers : int
    make_worker : callable
        ``make_worker()`` -> per-thread state handed to ``step`` (e.g. a
        client with its own ``requests.Session``).

    Examples
    --------
    >>> def step(n, worker, hungry):
    ...     return n, ([n - 1] if n > 1 else [])
    >>> sorted(WindowScheduler([3, 2], step, max_workers=2, make_worker=lambda: None))
    [1, 1, 2, 2, 3]
    """

    _DONE = object()

    def __init__(self, windows: list[W], step: Step, *, max_workers: int, make_worker: Callable[[], Any]) -> None:
        self.step, self.max_workers, self.make_worker = step, max_workers, make_worker
        self._todo: collections.deque[W] = collections.deque(windows)
        self._cv = threading.Condition()
        self._busy = 0
        self._stop = False
        self._error: BaseException | None = None
        self._out: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def __iter__(self) -> Iterator[Any]:
        if not self._todo:
            return
        self._threads = [
            threading.Thread(target=self._work, name=f"ledgerkit-window-{i}", daemon=True)
            for i in range(self.max_workers)
        ]
        for t in self._threads:
            t.start()
        try:
            while True:
                item = self._out.get()
                if item is self._DONE:
                    break
                yield item
        finally:
            with self._cv:
                self._stop = True
                self._cv.notify_all()
            for t in self._threads:
                t.join()
        # A failure's DONE can overtake pages other workers were finishing:
        # their cursors have moved on, so their rows must still reach the caller.
        yield from self._drain()
        if self._error is not None:
            raise self._error

    def _drain(self) -> Iterator[Any]:
        while True:
            try:
                item = self._out.get_nowait()
            except queue.Empty:
                return
            if item is not self._DONE:
                yield item

    def _take(self) -> W | None:
        with self._cv:
            while not self._todo and self._busy and not self._stop:
                self._cv.wait()
            if self._stop or not self._todo:
                return None
            self._busy += 1
            return self._todo.popleft()

    def _hungry(self) -> bool:
        with self._cv:
            return self._busy + len(self._todo) < self.max_workers

    def _work(self) -> None:
        try:
            worker = self.make_worker()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._fail(exc, busy=False)
            return
        while (window := self._take()) is not None:
            try:
                result, left = self.step(window, worker, self._hungry())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._fail(exc)
                return
            if result is not None:
                self._out.put(result)
            with self._cv:
                self._busy -= 1
                self._todo.extendleft(reversed(left))  # go on with this window's pages first
                finished = not self._todo and not self._busy
                self._cv.notify_all()
            if finished:
                self._out.put(self._DONE)
                return

    def _fail(self, exc: BaseException, *, busy: bool = True) -> None:
        with self._cv:
            if self._error is None:
                self._error = exc
            self._stop = True
            self._busy -= busy
            self._cv.notify_all()
        self._out.put(self._DONE)
