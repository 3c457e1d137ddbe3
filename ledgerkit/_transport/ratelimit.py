"""One throttle shared by all the workers of a pull: how many requests may be in flight.

A ``429`` is a signal to slow down, not a failure. Slowing down by *rate*
needs a guess of how fast the provider is (the old limiter fell to half a
request per second and stayed there, 300 times slower than one worker); a
*window* of requests in flight needs none, and its floor, one request at a
time, is the sequential pull itself. :class:`RateLimiter` keeps that window
with AIMD, as TCP does:

- **multiplicative decrease**: a ``429`` halves the window (from the
  requests then in flight), at most once per round -- a ``429`` to a request
  sent before the last cut is the same news, already acted on -- and never
  below one request;
- **additive increase**: each answer that is not an error adds ``1/window``
  (about one more request in flight per window of calm answers); once the
  window reaches the most requests ever wanted at once it is lifted: full
  speed again.

Waiting is not the limiter's part: the request that got the ``429`` waits
``Retry-After`` (at least ``RetryPolicy.retry_after_floor``, also for
``Retry-After: 0``) in :mod:`ledgerkit._transport.http`, within the pull's
``RetryPolicy.throttle_budget``. The other workers are not frozen for that
time: they go on, fewer at once. Holding everyone would make a throttled
concurrent pull slower than a sequential one (it sends a few more requests,
each a chance of another hold), and the window already brings the pull
down to one request in flight.

:class:`LimitedAdapter` is the seam: a ``requests`` transport adapter that
takes a place in the window before sending and gives it back with the
answer's status, so that no loader code changes.

Examples
--------
>>> limiter = RateLimiter()
>>> tickets = [limiter.acquire() for _ in range(4)]   # no 429 yet: no limit
>>> limiter.limit is None
True
>>> limiter.release(tickets[0], 429)                  # 4 in flight -> window of 2
>>> limiter.limit, limiter.in_flight, limiter.throttled
(2.0, 3, 1)
"""

from __future__ import annotations

import math
import threading
from typing import Any

import requests
import requests.adapters

from .sessions import RedactingAdapter, pool_options_of, session_from

__all__ = ["RateLimiter", "LimitedAdapter", "limited_session"]


class RateLimiter:
    """Thread-safe AIMD window of requests in flight, shared by a pull's workers.

    Parameters
    ----------
    increase : float
        Requests added to the window per window of answers without error
        (each such answer adds ``increase / window``).

    Attributes
    ----------
    limit : float or None
        Requests allowed in flight (``floor(limit)``, at least 1); None while
        unlimited -- before the first ``429`` and after full recovery.
    in_flight : int
        Requests sent and not yet answered.
    peak : int
        The most requests wanted at once (in flight plus waiting): the full
        speed the window recovers to.
    throttled : int
        ``429`` answers seen.
    cuts : int
        Times the window was halved.
    """

    def __init__(self, *, increase: float = 1.0) -> None:
        if isinstance(increase, bool) or not isinstance(increase, (int, float)) or not increase > 0:
            raise ValueError(f"increase must be a number > 0, not {increase!r}")
        self.increase = float(increase)
        self.limit: float | None = None
        self.in_flight = self.peak = self.throttled = self.cuts = 0
        self._waiting = 0
        self._sent = 0  # tickets handed out
        self._cut_at = 0  # tickets handed out when the window was last cut
        self._cv = threading.Condition()

    def acquire(self) -> int:
        """Block until the window has room; take a place in it and return the request's ticket."""
        with self._cv:
            self._waiting += 1
            self.peak = max(self.peak, self.in_flight + self._waiting)
            while self.limit is not None and self.in_flight >= max(1, math.floor(self.limit)):
                self._cv.wait()
            self._waiting -= 1
            self.in_flight += 1
            self._sent += 1
            return self._sent

    def release(self, ticket: int, status: int | None) -> None:
        """Give the place back with the answer's ``status`` (None: no answer, e.g. a dropped connection)."""
        with self._cv:
            if status == 429:
                self.throttled += 1
                if ticket > self._cut_at:
                    self.limit = max(1.0, min(self.limit or math.inf, self.in_flight) / 2)
                    self._cut_at, self.cuts = self._sent, self.cuts + 1
            elif status is not None and status < 400 and self.limit is not None:
                self.limit += self.increase / self.limit
                if self.limit >= self.peak:
                    self.limit = None
            self.in_flight -= 1
            self._cv.notify_all()

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self.limit!r}, in_flight={self.in_flight}, throttled={self.throttled})"


class LimitedAdapter(RedactingAdapter):
    """An ``HTTPAdapter`` that sends only within a shared :class:`RateLimiter`'s window.

    It keeps :class:`~ledgerkit._transport.sessions.RedactingAdapter`'s
    connections, so that ``http.client``'s debug dump never shows the
    Authorization header.
    """

    def __init__(self, limiter: RateLimiter, **kw: Any) -> None:
        self.limiter = limiter
        super().__init__(**kw)

    def send(self, request: Any, *args: Any, **kw: Any) -> requests.Response:
        ticket = self.limiter.acquire()
        status = None
        try:
            response = super().send(request, *args, **kw)
            status = response.status_code
            return response
        finally:
            self.limiter.release(ticket, status)


def limited_session(template: requests.Session, limiter: RateLimiter) -> requests.Session:
    """A new session for one worker: ``template``'s settings, sending within ``limiter``'s window.

    Each worker gets its own session (``requests.Session`` is not meant to be
    shared between threads); they share only the limiter.

    Examples
    --------
    >>> from ledgerkit._transport.sessions import new_session
    >>> from ledgerkit.config import Credentials
    >>> s = limited_session(new_session(Credentials("1", "k")), RateLimiter())
    >>> type(s.get_adapter("http://127.0.0.1/")).__name__, s.auth
    ('LimitedAdapter', BasicAuth(user='1', secret='***'))
    """
    return session_from(template, LimitedAdapter(limiter, **pool_options_of(template, "https://")))
