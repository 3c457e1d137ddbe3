"""One place for HTTP: timeouts, retries, and error mapping (sessions: :mod:`.sessions`).

Every loader sends its requests through :func:`send` (or :func:`send_json`
when it wants the decoded body). They

- retry faults -- 5xx, refused or dropped connections, timeouts, bodies cut
  short (``Content-Length`` promised more than arrived) and, for
  :func:`send_json`, a 200 whose JSON does not parse -- with exponential
  backoff and jitter, at most ``RetryPolicy.max_retries`` times per request;
- wait out throttling -- a 429 is a signal to slow down, not a fault: the
  request waits ``Retry-After`` (seconds or an HTTP date; at least
  ``retry_after_floor``, also for ``Retry-After: 0``) or a backoff, and is
  sent again for as long as the whole pull's waiting for 429s stays within
  ``RetryPolicy.throttle_budget`` seconds (counted in :class:`PullStats`;
  the waits of concurrent workers that overlap count once). Fewer requests
  in flight is :mod:`.ratelimit`'s part;
- map a final 4xx/5xx to the :mod:`ledgerkit.errors` tree through one
  function, :func:`error_class_for`, with status, decoded body, request id
  and URL -- never a credential;
- count requests, retries and bytes in a thread-safe :class:`PullStats`
  that the loaders copy into their manifest.

Sleeping goes through ``RetryPolicy.sleep`` so tests run with tiny backoffs.

Examples
--------
>>> from ledgerkit.config import Credentials
>>> policy = RetryPolicy(max_retries=2, backoff_base=0.01)
>>> session = new_session(Credentials("1", "secret"))
>>> stats = PullStats()
>>> # response = send(session, "GET", url, policy=policy, stats=stats, parse_error=parse)
"""

from __future__ import annotations

import email.utils
import http.client
import json as _json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
import urllib3.response

from ..errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .sessions import RedactingAdapter, new_file_session, new_session, redact_signed_query

__all__ = [
    "RetryPolicy",
    "PullStats",
    "ErrorDetail",
    "new_session",
    "new_file_session",
    "send",
    "send_json",
    "transmit",
    "decode_json",
    "error_class_for",
    "api_error",
    "MalformedBody",
    "RedactingAdapter",
]

#: What a provider-specific ``parse_error(response)`` returns.
ErrorDetail = tuple[str, list[dict]]
ParseError = Callable[[requests.Response], ErrorDetail]

_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,  # includes ConnectTimeout
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,  # body cut short mid-stream
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.HTTPError,
    http.client.IncompleteRead,
    http.client.HTTPException,
    ConnectionError,
)

_REQUEST_ID_HEADERS = ("X-Request-ID", "X-Request-Id", "Request-Id", "X-Amz-Request-Id")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry, and how long to wait for answers.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (so at most ``max_retries + 1`` sends).
    backoff_base, backoff_max : float
        Seconds: the n-th retry waits about ``min(backoff_max, backoff_base * 2**n)``.
    jitter : float
        Fraction of that wait drawn at random (0 = none, 1 = "full jitter"),
        so that parallel pulls do not retry in lockstep.
    connect_timeout, read_timeout : float
        Seconds, passed to ``requests`` as ``timeout=(connect, read)``.
    retry_after_floor : float
        Least wait after a 429, even with ``Retry-After: 0`` (never a hot loop).
    retry_after_max : float
        A ``Retry-After`` longer than this ends the retries at once.
    throttle_budget : float
        Seconds a whole pull may spend waiting after 429 answers (wall
        clock: concurrent workers waiting at the same time count once).
        429s are not counted against ``max_retries``; when the next wait
        would pass this budget the pull stops with a
        :class:`~ledgerkit.errors.RateLimitError` that says how long it
        waited and carries ``.resume`` to continue later.
    sleep : callable
        ``sleep(seconds)``; injectable for tests.

    Examples
    --------
    >>> p = RetryPolicy(backoff_base=1.0, backoff_max=8.0, jitter=0.0)
    >>> [p.backoff(n) for n in range(5)]
    [1.0, 2.0, 4.0, 8.0, 8.0]
    >>> RetryPolicy(throttle_budget=-1)
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: throttle_budget=-1 is not valid: expected a number of seconds >= 0
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry_after_floor: float = 0.05
    retry_after_max: float = 300.0
    throttle_budget: float = 600.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigurationError("max_retries", self.max_retries, "an integer >= 0")
        for name in (
            "backoff_base",
            "backoff_max",
            "connect_timeout",
            "read_timeout",
            "retry_after_floor",
            "retry_after_max",
            "throttle_budget",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigurationError(name, value, "a number of seconds >= 0")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)) or not 0 <= self.jitter <= 1:
            raise ConfigurationError("jitter", self.jitter, "a number from 0 to 1")
        if not callable(self.sleep):
            raise ConfigurationError("sleep", type(self.sleep).__name__, "a function sleep(seconds)")

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` for ``requests``."""
        return (self.connect_timeout, self.read_timeout)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based), with jitter."""
        delay = min(self.backoff_max, self.backoff_base * (2**retry))
        return delay * (1.0 - self.jitter * random.random())

    def wait_for_retry_after(self, retry_after: float | None, retry: int) -> float:
        """Seconds to wait after a 429: the server's wish (floored), else backoff."""
        if retry_after is None:
            return max(self.retry_after_floor, self.backoff(retry))
        return max(self.retry_after_floor, retry_after)


class PullStats:
    """Thread-safe counters of one pull: requests sent, retries, bytes received, time throttled.

    ``throttled_seconds`` is the wall-clock time the pull spent waiting
    after 429 answers: :meth:`book_throttle` adds a wait only where it does
    not overlap the waits already booked (several workers waiting at once
    count once).

    Examples
    --------
    >>> s = PullStats()
    >>> s.count(requests=2, bytes=10); s.retried("429")
    >>> s.as_dict()
    {'requests': 2, 'retries': 1, 'bytes': 10, 'retry_reasons': {'429': 1}}
    >>> s.book_throttle(100.0, 2.0, budget=10), s.book_throttle(101.0, 2.0, budget=10), s.throttled_seconds
    (True, True, 3.0)
    >>> s.book_throttle(103.0, 8.0, budget=10), s.throttled_seconds   # would pass the budget: not booked
    (False, 3.0)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.bytes = 0
        self.retry_reasons: dict[str, int] = {}
        self.throttled_seconds = 0.0
        self._throttled_until = float("-inf")

    def book_throttle(self, start: float, seconds: float, *, budget: float) -> bool:
        """Book a wait of ``seconds`` from ``start`` (a monotonic time); False, booking nothing, past ``budget``."""
        with self._lock:
            end = start + seconds
            added = max(0.0, end - max(start, self._throttled_until))
            if self.throttled_seconds + added > budget:
                return False
            self.throttled_seconds += added
            self._throttled_until = max(self._throttled_until, end)
            return True

    def count(self, *, requests: int = 0, bytes: int = 0) -> None:  # noqa: A002 - the counter it adds to
        """Add sent requests and received bytes."""
        with self._lock:
            self.requests += requests
            self.bytes += bytes

    def retried(self, reason: str) -> None:
        """Count one retry and why (``"429"``, ``"503"``, ``"transport"``, ``"malformed"``)."""
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "bytes": self.bytes,
                "retry_reasons": dict(self.retry_reasons),
            }

    def __repr__(self) -> str:
        return f"PullStats({self.as_dict()})"


class MalformedBody(Exception):  # noqa: N818 - a signal caught in this module, never shown as it is
    """A 2xx body that does not decode; retried by :func:`send_json`."""


def decode_json(response: requests.Response, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """Decode a response body as JSON, or raise :class:`MalformedBody` (or :class:`DataError` when it nests too deeply).

    ``parse_float=decimal.Decimal`` keeps decimal amounts exact.

    Examples
    --------
    >>> r = requests.Response(); r._content = b'{"a": [1, 2'
    >>> decode_json(r)
    Traceback (most recent call last):
    ledgerkit._transport.http.MalformedBody: the body is not valid JSON (11 bytes): Expecting ',' delimiter
    """
    try:
        return _json.loads(response.content, parse_float=parse_float)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).split(":")[0]
        raise MalformedBody(f"the body is not valid JSON ({len(response.content)} bytes): {reason}") from exc
    except RecursionError:  # valid JSON nested deeper than Python's decoder goes: asking again would not mend it
        raise DataError(
            f"the body nests too deeply to be read ({len(response.content)} bytes; "
            f"no documented answer nests more than a few levels)"
        ) from None


def error_class_for(status: int) -> type[APIError]:
    """The :mod:`ledgerkit.errors` class for a final HTTP error status.

    Examples
    --------
    >>> [error_class_for(s).__name__ for s in (400, 401, 403, 404, 422, 429, 503, 418)]
    ['InvalidRequestError', 'AuthenticationError', 'AuthenticationError', 'NotFoundError', \
'InvalidRequestError', 'RateLimitError', 'ServerError', 'APIError']
    """
    if status in (401, 403):
        return AuthenticationError
    if status in (400, 422):
        return InvalidRequestError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return APIError


_HINTS = {
    AuthenticationError: "Check the id and secret key for this API.",
    InvalidRequestError: "The provider rejected a parameter; see .field_errors.",
    RateLimitError: "The provider is throttling: wait, then continue with the error's .resume "
    "(or allow more waiting with RetryPolicy(throttle_budget=...)).",
    ServerError: "The provider kept failing; try again later.",
}


def _safe_url(url: str) -> str:
    """``url`` without user info, fragment or a pre-signed link's signature (never raises)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return redact_signed_query(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")))


def _request_id(response: requests.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if name in response.headers:
            return response.headers[name]
    return None


def _body(response: requests.Response) -> Any:
    try:
        return _json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return response.text[:2000]


def api_error(response: requests.Response, parse_error: ParseError, *, note: str = "") -> APIError:
    """Build the error for a final HTTP error ``response`` (not raised here).

    ``parse_error(response)`` is the provider's reader of its error body and
    returns ``(message, field_errors)``; ``note`` says why ledgerkit stopped
    asking (it follows the status and URL).
    """
    cls = error_class_for(response.status_code)
    try:
        message, field_errors = parse_error(response)
    except Exception:  # noqa: BLE001 - a body we cannot read must not hide the status
        message, field_errors = response.reason or "error", []
    url = _safe_url(response.url or "")
    request_id = _request_id(response)
    method = response.request.method if response.request is not None else "?"
    text = f"{message} (HTTP {response.status_code} for {method} {url}"
    text += f", request id {request_id})" if request_id else ")"
    if note:
        text += f": {note}"
    if cls in _HINTS:
        text += f". {_HINTS[cls]}"
    kw: dict[str, Any] = {"status": response.status_code, "body": _body(response), "request_id": request_id, "url": url}
    if cls is InvalidRequestError:
        return InvalidRequestError(text, field_errors=field_errors, **kw)
    if cls is RateLimitError:
        return RateLimitError(text, retry_after=parse_retry_after(response.headers.get("Retry-After")), **kw)
    return cls(text, **kw)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    Examples
    --------
    >>> parse_retry_after("3"), parse_retry_after("0"), parse_retry_after(None), parse_retry_after("soon")
    (3.0, 0.0, None, None)
    >>> now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now)
    30.0
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: dict | None = None,
    json: Any = None,
    headers: dict | None = None,
    policy: RetryPolicy,
    stats: PullStats,
    parse_error: ParseError,
) -> requests.Response:
    """Send one logical request, retrying transient failures; return the 2xx/3xx response.

    Raises
    ------
    APIError
        A subclass chosen by :func:`error_class_for` for a final 4xx/5xx.
    TransportError
        The connection kept failing.

    Examples
    --------
    >>> # r = send(session, "GET", url, params={"page": 1}, policy=RetryPolicy(),
    >>> #          stats=PullStats(), parse_error=lambda r: (r.text, []))
    """
    response, _ = _send(session, _Request(method, url, params, json, headers), _Handling(policy, stats, parse_error))
    return response


def send_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: dict | None = None,
    json: Any = None,
    headers: dict | None = None,
    policy: RetryPolicy,
    stats: PullStats,
    parse_error: ParseError,
    decode: Callable[[requests.Response], Any] = decode_json,
    first: Callable[[], requests.Response] | None = None,
) -> tuple[requests.Response, Any]:
    """Like :func:`send`, and decode the body; a body that does not decode is retried.

    ``decode(response)`` raises :class:`MalformedBody` for a body worth
    asking for again (the default, :func:`decode_json`, does so for JSON that
    does not parse). When the retries run out, :class:`DataError` is raised.

    ``first``, when given, is the first attempt already sent (by
    :func:`transmit`, e.g. in another thread while the page before was
    parsed): ``first()`` returns its response or raises what sending
    raised, and the answer is handled as if it had been sent here; retries
    are sent with ``session``.

    Returns
    -------
    (response, decoded)
    """
    return _send(
        session, _Request(method, url, params, json, headers), _Handling(policy, stats, parse_error), decode, first
    )


def transmit(
    session: requests.Session,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict | None = None,
    policy: RetryPolicy,
) -> requests.Response:
    """One attempt, body read, nothing retried or counted: the ``first`` of :func:`send_json`, sent ahead.

    Raises what sending raises (``requests`` and connection errors);
    :func:`send_json` maps and retries them when it takes the attempt.
    """
    return _attempt(session, _Request(method, url, None, json, headers), policy)


def _read_body(response: requests.Response) -> bytes:
    """Read the whole body in one call and keep it as ``response.content``.

    ``requests`` reads a body 10 KB at a time (through urllib3's stream);
    on 1 MB report pages that loop costs about a fifth of the client's CPU.
    One ``read()`` still raises on a body cut short (urllib3 enforces
    ``Content-Length``; ``http.client`` checks chunked framing), which
    :func:`_send` retries as a transport fault.
    """
    if not isinstance(response.raw, urllib3.response.BaseHTTPResponse):  # a custom adapter: let requests read it
        return response.content
    response._content = response.raw.read(decode_content=True) or b""
    response._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag, left out of its stubs
    response.raw.release_conn()
    return response._content


@dataclass(frozen=True)
class _Request:
    """One logical request: what is sent on every attempt."""

    method: str
    url: str
    params: dict | None = None
    json: Any = None
    headers: dict | None = None

    def describe(self, url: str | None = None) -> str:
        return f"{self.method} {_safe_url(url or self.url)}"


@dataclass(frozen=True)
class _Handling:
    """How a request's answers are treated: retries, counters, and the provider's reader of error bodies."""

    policy: RetryPolicy
    stats: PullStats
    parse_error: ParseError


def _send(
    session: requests.Session,
    request: _Request,
    handling: _Handling,
    decode: Callable[[requests.Response], Any] | None = None,
    first: Callable[[], requests.Response] | None = None,
) -> tuple[requests.Response, Any]:
    """Retry layer: send ``request`` until it gets a usable answer or its retries are spent.

    Each attempt goes through :func:`_transmit` (transport faults become
    :class:`TransportError`, from their cause) and :func:`_answer` (a final
    HTTP status becomes its :mod:`ledgerkit.errors` class; a body that does
    not decode, :class:`DataError`).
    """
    attempts = _Attempts(handling.policy, handling.stats)
    while True:
        response = _transmit(session, request, handling, attempts, first)
        first = None
        if response is None:
            continue
        outcome = _answer(response, request, handling, attempts, decode)
        if outcome is not None:
            return outcome


def _attempt(session: requests.Session, request: _Request, policy: RetryPolicy) -> requests.Response:
    """Send ``request`` once and read its body (raises what ``requests`` and the connection raise)."""
    response = session.request(
        request.method,
        request.url,
        params=request.params,
        json=request.json,
        headers=request.headers,
        timeout=policy.timeout,
        allow_redirects=True,
        stream=True,
    )
    _read_body(response)
    return response


def _transmit(
    session: requests.Session,
    request: _Request,
    handling: _Handling,
    attempts: _Attempts,
    first: Callable[[], requests.Response] | None = None,
) -> requests.Response | None:
    """Transport layer: one attempt's response (``first``'s when given).

    None after a transient fault (backed off).
    """
    policy, stats = handling.policy, handling.stats
    try:
        response = first() if first is not None else _attempt(session, request, policy)
        stats.count(requests=1, bytes=len(response.content))
        return response
    except _TRANSPORT_ERRORS as exc:
        stats.count(requests=1)
        kind = type(exc).__name__
        attempts.fault(
            "transport",
            exc,
            lambda n: TransportError(
                f"{request.describe()} failed after {n} attempts: {kind}. "
                "Check the base URL and the network, then call again."
            ),
        )
        return None
    except requests.exceptions.InvalidHeader:
        pass  # raised below, outside the handler: the error's text quotes the header's value
    except requests.RequestException as exc:  # not worth a retry: a bad URL, too many redirects, ...
        raise _unsendable(request, exc) from exc
    # Neither __cause__ nor __context__ may lead to the header's value (it may be a credential).
    raise _unsendable(request, requests.exceptions.InvalidHeader())


def _unsendable(request: _Request, exc: requests.RequestException) -> TransportError:
    """The error for a request that could not be sent at all (named by the type of ``exc`` only)."""
    return TransportError(
        f"{request.describe()} could not be sent: {type(exc).__name__}. Check the base URL and the session given."
    )


def _answer(
    response: requests.Response,
    request: _Request,
    handling: _Handling,
    attempts: _Attempts,
    decode: Callable[[requests.Response], Any] | None,
) -> tuple[requests.Response, Any] | None:
    """Error-mapping layer: ``(response, decoded)`` for a usable answer, None to try again, else the error."""
    status = response.status_code
    if status == 429:
        attempts.throttled(response, handling.parse_error)
        return None
    if status >= 500:
        attempts.fault(str(status), None, lambda n: api_error(response, handling.parse_error))
        return None
    if status >= 400:
        raise api_error(response, handling.parse_error)
    if decode is None:
        return response, None
    try:
        return response, decode(response)
    except MalformedBody as exc:
        detail = str(exc)
        attempts.fault(
            "malformed",
            exc,
            lambda n: DataError(
                f"{request.describe(response.url)} kept answering a body that does not parse ({n} attempts): {detail}"
            ),
        )
        return None


class _Attempts:
    """The retries of one logical request: faults by count, 429s by the pull's time budget."""

    def __init__(self, policy: RetryPolicy, stats: PullStats) -> None:
        self.policy, self.stats = policy, stats
        self.faults = 0  # 5xx, transport, malformed: at most policy.max_retries retries
        self.throttles = 0  # 429s: as many as the pull's throttle_budget allows
        self._waited_until = float("-inf")  # this request's own waits follow one another

    def fault(self, reason: str, cause: BaseException | None, final: Callable[[int], Exception]) -> None:
        """Back off before sending again, or raise ``final(attempts)`` (from ``cause``) once the retries are spent."""
        if self.faults >= self.policy.max_retries:
            raise final(self.faults + self.throttles + 1) from cause
        self.stats.retried(reason)
        self.policy.sleep(self.policy.backoff(self.faults))
        self.faults += 1

    def throttled(self, response: requests.Response, parse_error: ParseError) -> None:
        """Wait as a 429 asks, within the pull's ``throttle_budget``; else raise :class:`RateLimitError`."""
        policy = self.policy
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > policy.retry_after_max:
            raise api_error(
                response,
                parse_error,
                note=(
                    f"the provider asks to wait {retry_after:g} s, longer than "
                    f"RetryPolicy.retry_after_max={policy.retry_after_max:g} s"
                ),
            )
        wait = policy.wait_for_retry_after(retry_after, self.throttles)
        start = max(time.monotonic(), self._waited_until)
        if not self.stats.book_throttle(start, wait, budget=policy.throttle_budget):
            raise api_error(
                response,
                parse_error,
                note=(
                    f"the pull has waited {round(self.stats.throttled_seconds, 3):g} s in all after "
                    f"{self.stats.retry_reasons.get('429', 0) + 1} answers 429, and waiting {wait:g} s more would pass "
                    f"RetryPolicy.throttle_budget={policy.throttle_budget:g} s"
                ),
            )
        self._waited_until = start + wait
        self.stats.retried("429")
        policy.sleep(wait)
        self.throttles += 1
