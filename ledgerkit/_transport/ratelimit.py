"""One rate limiter shared by all the workers of a pull.

Concurrent windows must not turn a provider's throttling into a storm of
retries: every worker asks the same :class:`RateLimiter` before each request.
It spaces requests at most ``rate`` per second (unlimited until the first
``429``), and on a ``429`` it

- halves the rate (multiplicative decrease), and
- holds *every* worker until ``Retry-After`` has passed (at least
  ``floor`` seconds, also for ``Retry-After: 0``),

then creeps back up by ``increase`` per successful answer (additive
increase). The per-request retry itself stays in :mod:`ledgerkit._transport.http`; the
limiter only decides *when* the next request of any worker may leave.

:class:`LimitedAdapter` is the seam: a ``requests`` transport adapter that
calls :meth:`RateLimiter.acquire` before sending and
:meth:`RateLimiter.observe` on every answer, so that no loader code changes.

Examples
--------
>>> limiter = RateLimiter(sleep=lambda s: None)
>>> limiter.acquire()          # no 429 yet: never waits
0.0
>>> limiter.observe(429, retry_after=0.0, now=100.0)
>>> round(limiter.rate, 3) if limiter.rate else limiter.rate
4.0
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import requests.adapters

from .http import RedactingAdapter, parse_retry_after

__all__ = ["RateLimiter", "LimitedAdapter", "limited_session"]


class RateLimiter:
    """Thread-safe pacing of requests with AIMD on ``429`` and ``Retry-After``.

    Parameters
    ----------
    first_rate : float
        Requests per second adopted at the first ``429`` when no rate had
        been measured yet (halved from there on).
    min_rate : float
        Never slower than this many requests per second (besides ``Retry-After``).
    increase : float
        Requests per second added back after each successful answer.
    floor : float
        Least pause, in seconds, imposed on all workers after a ``429``.
    clock, sleep : callable
        Injectable for tests.

    Attributes
    ----------
    rate : float or None
        Current requests per second; None while unlimited.
    throttled : int
        ``429`` answers seen.
    """

    def __init__(self, *, first_rate: float = 4.0, min_rate: float = 0.5, increase: float = 0.25,
                 floor: float = 0.05, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.first_rate, self.min_rate, self.increase, self.floor = first_rate, min_rate, increase, floor
        self.rate: float | None = None
        self.throttled = 0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._hold_until = 0.0

    def acquire(self) -> float:
        """Block until this worker may send; return the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._hold_until, self._next_slot if self.rate else 0.0)
            if self.rate:
                self._next_slot = start + 1.0 / self.rate
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(0.0, wait)

    def observe(self, status: int, *, retry_after: float | None = None, now: float | None = None) -> None:
        """Learn from one answer: slow down and hold everyone on ``429``, speed up otherwise."""
        with self._lock:
            now = self._clock() if now is None else now
            if status == 429:
                self.throttled += 1
                self.rate = max(self.min_rate, (self.rate or self.first_rate * 2) / 2)
                pause = self.floor if retry_after is None else max(self.floor, retry_after)
                self._hold_until = max(self._hold_until, now + pause)
            elif status < 400 and self.rate is not None:
                self.rate += self.increase

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r}, throttled={self.throttled})"


class LimitedAdapter(RedactingAdapter):
    """An ``HTTPAdapter`` that asks a shared :class:`RateLimiter` before each send.

    It keeps :class:`ledgerkit._transport.http.RedactingAdapter`'s connections, so that
    ``http.client``'s debug dump never shows the Authorization header.
    """

    def __init__(self, limiter: RateLimiter, **kw: Any) -> None:
        self.limiter = limiter
        super().__init__(**kw)

    def send(self, request: Any, *args: Any, **kw: Any) -> requests.Response:
        self.limiter.acquire()
        response = super().send(request, *args, **kw)
        self.limiter.observe(response.status_code, retry_after=parse_retry_after(response.headers.get("Retry-After")))
        return response


def limited_session(template: requests.Session, limiter: RateLimiter) -> requests.Session:
    """A new session for one worker: ``template``'s auth, headers and transport options, paced by ``limiter``.

    Each worker gets its own session (``requests.Session`` is not meant to be
    shared between threads); they share only the limiter.

    Examples
    --------
    >>> from ledgerkit._transport.http import new_session
    >>> from ledgerkit.config import Credentials
    >>> s = limited_session(new_session(Credentials("1", "k")), RateLimiter())
    >>> type(s.get_adapter("http://127.0.0.1/")).__name__
    'LimitedAdapter'
    """
    session = requests.Session()
    session.auth, session.trust_env = template.auth, template.trust_env
    session.headers.update(template.headers)
    session.proxies.update(template.proxies)
    session.verify, session.cert = template.verify, template.cert
    adapter = LimitedAdapter(limiter)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
