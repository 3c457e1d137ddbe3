"""One place for HTTP: sessions, timeouts, bounded retries, and error mapping.

Every loader sends its requests through :func:`send` (or :func:`send_json`
when it wants the decoded body). They

- retry, with exponential backoff and jitter and a bounded number of times:
  429 (honouring ``Retry-After`` in seconds or as an HTTP date), 5xx,
  refused or dropped connections, timeouts, bodies cut short
  (``Content-Length`` promised more than arrived) and, for :func:`send_json`,
  a 200 whose JSON does not parse (a truncated body is a transient fault);
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
import importlib.metadata
import http.client
import json as _json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters
import requests.auth
import urllib3
import urllib3.connection
import urllib3.response

from ..config import Credentials
from ..errors import (
    APIError,
    AuthenticationError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = [
    "RetryPolicy",
    "PullStats",
    "ErrorDetail",
    "new_session",
    "send",
    "send_json",
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
    sleep : callable
        ``sleep(seconds)``; injectable for tests.

    Examples
    --------
    >>> p = RetryPolicy(backoff_base=1.0, backoff_max=8.0, jitter=0.0)
    >>> [p.backoff(n) for n in range(5)]
    [1.0, 2.0, 4.0, 8.0, 8.0]
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry_after_floor: float = 0.05
    retry_after_max: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

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
    """Thread-safe counters of one pull: requests sent, retries, bytes received.

    Examples
    --------
    >>> s = PullStats()
    >>> s.count(requests=2, bytes=10); s.retried("429")
    >>> s.as_dict()
    {'requests': 2, 'retries': 1, 'bytes': 10, 'retry_reasons': {'429': 1}}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.bytes = 0
        self.retry_reasons: dict[str, int] = {}

    def count(self, *, requests: int = 0, bytes: int = 0) -> None:
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


def _version() -> str:
    try:
        return importlib.metadata.version("ledgerkit")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


class _BasicAuth(requests.auth.HTTPBasicAuth):
    """HTTP Basic auth whose repr never shows the secret."""

    def __repr__(self) -> str:
        return f"BasicAuth(user={self.username!r}, secret='***')"


_AUTHORIZATION = re.compile(rb"(?im)^(authorization|proxy-authorization):[^\r\n]*")


class _RedactingSend:
    """Mixin for urllib3 connections: ``http.client``'s debug dump never shows credentials.

    With ``http.client.HTTPConnection.debuglevel = 1`` the standard library
    prints every request it sends (``send: b'POST ... Authorization: Basic
    ...'``) -- the base64 of ``id:secret``. This prints the same dump with the
    header's value replaced by ``<redacted>`` and sends the bytes unchanged.
    """

    def send(self, data: Any) -> None:
        if self.debuglevel > 0 and isinstance(data, (bytes, bytearray)):
            print("send:", repr(_AUTHORIZATION.sub(lambda m: m.group(1) + b": <redacted>", bytes(data))))
            self.debuglevel = 0  # instance attribute: silences http.client's own print of this send
            try:
                return super().send(data)
            finally:
                del self.debuglevel
        return super().send(data)


class _HTTPConnection(_RedactingSend, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_RedactingSend, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class RedactingAdapter(requests.adapters.HTTPAdapter):
    """A transport adapter whose connections redact credentials in ``http.client``'s debug dump."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def new_session(credentials: Credentials, *, user_agent: str | None = None) -> requests.Session:
    """A keep-alive ``requests.Session`` with Basic auth and a ledgerkit User-Agent.

    ``trust_env`` is off so that a ``~/.netrc`` or proxy variable cannot
    replace the credentials given.

    Examples
    --------
    >>> s = new_session(Credentials("1673", "s3cr3t"))
    >>> s.auth
    BasicAuth(user='1673', secret='***')
    """
    session = requests.Session()
    session.trust_env = False
    for prefix in ("http://", "https://"):
        session.mount(prefix, RedactingAdapter())
    session.auth = _BasicAuth(*credentials.auth())
    session.headers["User-Agent"] = user_agent or f"ledgerkit/{_version()} python-requests/{requests.__version__}"
    session.headers["Accept"] = "application/json"
    return session


class MalformedBody(Exception):
    """A 2xx body that does not decode; retried by :func:`send_json`."""


def decode_json(response: requests.Response, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """Decode a response body as JSON, or raise :class:`MalformedBody`.

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
        raise MalformedBody(f"the body is not valid JSON ({len(response.content)} bytes): {reason}") from None


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
    RateLimitError: "The provider is throttling; wait and call again.",
    ServerError: "The provider kept failing; try again later.",
}


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


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


def api_error(response: requests.Response, parse_error: ParseError) -> APIError:
    """Build the error for a final HTTP error ``response`` (not raised here).

    ``parse_error(response)`` is the provider's reader of its error body and
    returns ``(message, field_errors)``.
    """
    cls = error_class_for(response.status_code)
    try:
        message, field_errors = parse_error(response)
    except Exception:  # a body we cannot read must not hide the status
        message, field_errors = response.reason or "error", []
    url = _safe_url(response.url or "")
    request_id = _request_id(response)
    method = response.request.method if response.request is not None else "?"
    text = f"{message} (HTTP {response.status_code} for {method} {url}"
    text += f", request id {request_id})" if request_id else ")"
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
    >>> now = datetime(2015, 10, 21, 7, 28, tzinfo=timezone.utc)
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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


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
    response, _ = _send(session, method, url, params, json, headers, policy, stats, parse_error, None)
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
) -> tuple[requests.Response, Any]:
    """Like :func:`send`, and decode the body; a body that does not decode is retried.

    ``decode(response)`` raises :class:`MalformedBody` for a body worth
    asking for again (the default, :func:`decode_json`, does so for JSON that
    does not parse). When the retries run out, :class:`DataError` is raised.

    Returns
    -------
    (response, decoded)
    """
    return _send(session, method, url, params, json, headers, policy, stats, parse_error, decode)


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
    response._content_consumed = True
    response.raw.release_conn()
    return response._content


def _send(session, method, url, params, json, headers, policy, stats, parse_error, decode):
    retry = 0
    while True:
        try:
            response = session.request(
                method, url, params=params, json=json, headers=headers, timeout=policy.timeout, allow_redirects=True,
                stream=True,
            )
            stats.count(requests=1, bytes=len(_read_body(response)))
        except _TRANSPORT_ERRORS as exc:
            stats.count(requests=1)
            if retry >= policy.max_retries:
                raise TransportError(
                    f"{method} {_safe_url(url)} failed after {retry + 1} attempts: {type(exc).__name__}. "
                    "Check the base URL and the network, then call again."
                ) from None
            stats.retried("transport")
            policy.sleep(policy.backoff(retry))
            retry += 1
            continue

        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After")) if status == 429 else None
            too_long = retry_after is not None and retry_after > policy.retry_after_max
            if retry >= policy.max_retries or too_long:
                raise api_error(response, parse_error)
            stats.retried(str(status))
            wait = policy.wait_for_retry_after(retry_after, retry) if status == 429 else policy.backoff(retry)
            policy.sleep(wait)
            retry += 1
            continue
        if status >= 400:
            raise api_error(response, parse_error)
        if decode is None:
            return response, None
        try:
            return response, decode(response)
        except MalformedBody as exc:
            if retry >= policy.max_retries:
                raise DataError(
                    f"{method} {_safe_url(response.url or url)} kept answering a body that does not parse "
                    f"({retry + 1} attempts): {exc}"
                ) from None
            stats.retried("malformed")
            policy.sleep(policy.backoff(retry))
            retry += 1
