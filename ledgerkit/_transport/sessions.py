"""Sessions that never print a credential: ledgerkit's own, a caller's, the file download's.

With ``http.client.HTTPConnection.debuglevel = 1`` the standard library
prints every request it sends (``send: b'POST ... Authorization: Basic
...'``): the base64 of ``id:secret``. Every request ledgerkit sends goes
through a :class:`RedactingAdapter`, whose connections print the same dump
with the header's value replaced by ``<redacted>`` -- directly and through
proxies (HTTP or SOCKS) alike -- and send the bytes unchanged.

- :func:`new_session` -- ledgerkit's own: Basic auth, User-Agent, redacting.
- :func:`adopt_session` -- a caller's ``session=``: a new session with its
  settings (auth, headers, cookies, proxies, TLS, hooks, pool sizes), sending
  through redacting adapters. The caller's session is never modified, so
  nothing has to be restored, not even after an abandoned ``iter_*``. A
  session whose adapter for the base URL is not requests' own
  ``HTTPAdapter`` is refused with a :class:`ConfigurationError`: ledgerkit
  cannot see how a custom adapter makes its connections, and dropping it
  silently would change the caller's transport.
- :func:`new_file_session` -- no auth (a pre-signed link refuses it); the
  dump hides the link's query, whose signature is a bearer token.
- :func:`session_from` -- a copy of a session's settings on a new adapter
  (one per concurrent worker).

Examples
--------
>>> from ledgerkit.config import Credentials
>>> s = new_session(Credentials("1673", "s3cr3t"))
>>> s.auth, type(s.get_adapter("https://api.example.com/")).__name__
(BasicAuth(user='1673', secret='***'), 'RedactingAdapter')
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
from typing import TYPE_CHECKING, Any

import requests
import requests.adapters
import requests.auth
from urllib3.connectionpool import HTTPConnectionPool

from ..config import Credentials, check_basic_auth
from ..errors import ConfigurationError

__all__ = [
    "RedactingAdapter",
    "new_session",
    "new_file_session",
    "adopt_session",
    "session_from",
    "redact_signed_query",
]

_AUTHORIZATION = re.compile(rb"(?im)^(authorization|proxy-authorization):[^\r\n]*")
_REQUEST_QUERY = re.compile(rb"\A([A-Z]+ [^ ?\r\n]*)\?[^ \r\n]*")
#: Query parameters of pre-signed links (S3, GCS, Azure SAS) that act as bearer tokens.
_SIGNED_PARAM = re.compile(
    r"(?i)((?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|signature|sig|token)=)[^&\s\"']*"
)


def redact_signed_query(text: str) -> str:
    """``text`` with the values of pre-signed links' signature parameters replaced by ``<redacted>``.

    Examples
    --------
    >>> redact_signed_query("GET /f.zip?X-Amz-Date=20250101&X-Amz-Signature=ab12 HTTP/1.1")
    'GET /f.zip?X-Amz-Date=20250101&X-Amz-Signature=<redacted> HTTP/1.1'
    """
    return _SIGNED_PARAM.sub(r"\1<redacted>", text)


class _SignedQueryFilter(logging.Filter):
    """urllib3 logs every request line at DEBUG; a pre-signed link's signature must not reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "=" in a for a in record.args):
            record.args = tuple(redact_signed_query(a) if isinstance(a, str) else a for a in record.args)
        return True


_URLLIB3_LOG = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _SignedQueryFilter) for f in _URLLIB3_LOG.filters):
    _URLLIB3_LOG.addFilter(_SignedQueryFilter())


if TYPE_CHECKING:
    from http.client import HTTPConnection as _Connection
else:
    _Connection = object  # a mixin: the connection class comes second in the bases


class _RedactingSend(_Connection):
    """Mixin for urllib3 connections: ``http.client``'s debug dump never shows credentials."""

    redact_query = False

    def send(self, data: Any) -> None:
        if self.debuglevel > 0 and isinstance(data, (bytes, bytearray)):
            shown = _AUTHORIZATION.sub(lambda m: m.group(1) + b": <redacted>", bytes(data))
            if self.redact_query:
                shown = _REQUEST_QUERY.sub(rb"\1?<redacted>", shown)
            print("send:", repr(shown))  # noqa: T201 - in place of http.client's own debug print
            self.debuglevel = 0  # instance attribute: silences http.client's own print of this send
            try:
                return super().send(data)
            finally:
                del self.debuglevel
        return super().send(data)


@functools.cache
def _redacting_pool(pool_class: type[HTTPConnectionPool], redact_query: bool) -> type[HTTPConnectionPool]:
    """``pool_class`` whose connections are its own connection class with :class:`_RedactingSend` mixed in."""
    if getattr(pool_class.ConnectionCls, "redact_query", None) == redact_query:
        return pool_class
    connection = type(
        f"Redacting{pool_class.ConnectionCls.__name__}",
        (_RedactingSend, pool_class.ConnectionCls),
        {"redact_query": redact_query},
    )
    return type(f"Redacting{pool_class.__name__}", (pool_class,), {"ConnectionCls": connection})


def _redact(manager: Any, redact_query: bool) -> Any:
    """Make every pool ``manager`` creates from now on redact (plain, proxy and SOCKS managers alike)."""
    manager.pool_classes_by_scheme = {
        scheme: _redacting_pool(cls, redact_query) for scheme, cls in manager.pool_classes_by_scheme.items()
    }
    return manager


class RedactingAdapter(requests.adapters.HTTPAdapter):
    """A transport adapter whose connections redact credentials in ``http.client``'s debug dump.

    ``redact_query=True`` also hides the query of the request line (for
    pre-signed links, whose signature is a bearer token).
    """

    def __init__(self, *, redact_query: bool = False, **kw: Any) -> None:
        self.redact_query = redact_query
        super().__init__(**kw)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _redact(self.poolmanager, self.redact_query)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        fresh = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return _redact(manager, self.redact_query) if fresh else manager


class _BasicAuth(requests.auth.HTTPBasicAuth):
    """HTTP Basic auth whose repr never shows the secret."""

    def __repr__(self) -> str:
        return f"BasicAuth(user={self.username!r}, secret='***')"


def _version() -> str:
    try:
        return importlib.metadata.version("ledgerkit")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def _mount(session: requests.Session, adapter: requests.adapters.HTTPAdapter) -> requests.Session:
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return session


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
    session = _mount(requests.Session(), RedactingAdapter())
    session.trust_env = False
    session.auth = _BasicAuth(*credentials.auth())
    session.headers["User-Agent"] = user_agent or f"ledgerkit/{_version()} python-requests/{requests.__version__}"
    session.headers["Accept"] = "application/json"
    return session


def new_file_session() -> requests.Session:
    """A session for pre-signed file links: no auth, no environment, the link's query hidden in the dump.

    Examples
    --------
    >>> new_file_session().auth is None
    True
    """
    session = _mount(requests.Session(), RedactingAdapter(redact_query=True))
    session.trust_env = False
    return session


def _pool_options(adapter: Any) -> dict[str, Any]:
    """The pool sizes of a requests ``HTTPAdapter`` (its retries are not copied: ledgerkit retries itself)."""
    return {
        "pool_connections": getattr(adapter, "_pool_connections", requests.adapters.DEFAULT_POOLSIZE),
        "pool_maxsize": getattr(adapter, "_pool_maxsize", requests.adapters.DEFAULT_POOLSIZE),
        "pool_block": getattr(adapter, "_pool_block", requests.adapters.DEFAULT_POOLBLOCK),
    }


def session_from(template: requests.Session, adapter: requests.adapters.HTTPAdapter) -> requests.Session:
    """A new session with ``template``'s settings, sending every request through ``adapter``.

    Copied: auth, headers, cookies (the same jar), proxies, ``trust_env``,
    TLS ``verify``/``cert``, default ``params``, hooks and ``max_redirects``.

    Examples
    --------
    >>> s = session_from(new_session(Credentials("1", "k")), RedactingAdapter())
    >>> s.auth, s.trust_env
    (BasicAuth(user='1', secret='***'), False)
    """
    session = _mount(requests.Session(), adapter)
    session.auth, session.trust_env, session.cookies = template.auth, template.trust_env, template.cookies
    session.headers.update(template.headers)
    session.proxies.update(template.proxies)
    if isinstance(template.params, dict):
        session.params = dict(template.params)
    session.verify, session.cert, session.max_redirects = template.verify, template.cert, template.max_redirects
    session.hooks = {event: list(hooks) for event, hooks in template.hooks.items()}
    return session


def pool_options_of(session: requests.Session, url: str) -> dict[str, Any]:
    """The pool sizes of the adapter ``session`` uses for ``url`` (requests' defaults when it has none)."""
    try:
        return _pool_options(session.get_adapter(url))
    except requests.exceptions.InvalidSchema:
        return _pool_options(None)


def adopt_session(session: Any, credentials: Credentials, url: str) -> requests.Session:
    """A redacting session with the settings of a caller's ``session`` (never modified) for requests to ``url``.

    The caller's auth is kept when it has one (a ``(user, secret)`` tuple
    becomes Basic auth with a masked repr); otherwise ``credentials`` are
    used. Our ``Accept`` and ``User-Agent`` are set unless the caller set
    its own.

    Raises
    ------
    ConfigurationError
        ``session`` is not a ``requests.Session``, its adapter for ``url`` is
        not requests' own ``HTTPAdapter``, or its Basic credentials cannot
        be sent (not Latin-1) -- before any request, never showing a secret.

    Examples
    --------
    >>> mine = requests.Session(); mine.headers["X-Team"] = "finance"
    >>> s = adopt_session(mine, Credentials("1", "k"), "https://api.example.com")
    >>> s.headers["X-Team"], s.auth, type(s.get_adapter("https://api.example.com")).__name__
    ('finance', BasicAuth(user='1', secret='***'), 'RedactingAdapter')
    >>> mine.auth, type(mine.get_adapter("https://api.example.com")).__name__   # untouched
    (None, 'HTTPAdapter')
    """
    if not isinstance(session, requests.Session):
        raise ConfigurationError("session", type(session).__name__, "a requests.Session or None")
    _check_adapter(session, url)
    adopted = session_from(session, RedactingAdapter(**pool_options_of(session, url)))
    adopted.auth = _caller_auth(session.auth) if session.auth is not None else _BasicAuth(*credentials.auth())
    ours = new_session(credentials).headers
    for name in ("User-Agent", "Accept"):
        if session.headers.get(name) in (None, requests.utils.default_headers().get(name)):
            adopted.headers[name] = ours[name]
    return adopted


def _check_adapter(session: requests.Session, url: str) -> None:
    try:
        adapter = session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        return  # nothing mounted for http(s): ours stand in
    if type(adapter) is requests.adapters.HTTPAdapter or isinstance(adapter, RedactingAdapter):
        return
    cls = type(adapter)
    raise ConfigurationError(
        "session",
        f"a session whose adapter for {url} is {cls.__module__}.{cls.__qualname__}",
        "a requests.Session using requests' own HTTPAdapter, or session=None",
        "ledgerkit sends through its own copy of requests' adapter, which keeps credentials out of "
        "http.client's debug output; a custom adapter could print or log them. Set proxies, verify, cert "
        "and headers on a plain requests.Session instead",
    )


def _caller_auth(auth: Any) -> Any:
    """The caller's auth, with a Basic pair checked (Latin-1) and given a masked repr."""
    if isinstance(auth, tuple) and len(auth) == 2:
        auth = requests.auth.HTTPBasicAuth(*auth)
    basic = type(auth) is requests.auth.HTTPBasicAuth or isinstance(auth, _BasicAuth)
    if not basic or not all(isinstance(part, str) for part in (auth.username, auth.password)):
        return auth  # bytes are sent as they are; any other auth is the caller's own code
    check_basic_auth(auth.username, auth.password, user_parameter="session.auth", secret_parameter="session.auth")
    return _BasicAuth(auth.username, auth.password)
