"""The sandbox: one HTTP/1.1 server on 127.0.0.1 speaking the three provider APIs.

``Sandbox`` serves a deterministic :class:`~ledgerkit.sandbox.world.World`
under three prefixes (docs/CONTRACTS.md §2)::

    {url}/gateway      POST /api/reports                      beGateway shop report v3
    {url}/makecommerce GET  /v1/shop/accountstatements         MakeCommerce statements
    {url}/dwh          POST /api/v2/reports, GET /api/v2/reports/{id},
                       GET  /files/{id}.zip?X-Amz-...          beGateway DWH report

It is a real server (``ThreadingHTTPServer``, keep-alive, Content-Length on
every answer) so that loaders are tested over the wire, with switchable
faults (:mod:`ledgerkit.sandbox.faults`) and a log of every request received.
This module holds the HTTP machinery: the server and its request handler,
routing, fault application and the request log. Each API lives in its own
module (:mod:`.api_transactions`, :mod:`.api_statements`, :mod:`.api_dwh`),
on the shared request/answer types of :mod:`.http_util`.

Examples
--------
>>> import requests
>>> with Sandbox(seed=0, size=50) as sb:                      # doctest: +SKIP
...     r = requests.get(sb.statements_url + "/v1/shop/accountstatements",
...                      params={"since": "2025-01-01"}, auth=sb.credentials["statements"].auth())
...     r.status_code, r.headers["X-Total-Count"] == str(len(sb.world.statements))
(200, True)
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from ..config import ENV_VARS, Credentials
from ..errors import ConfigurationError
from .api_dwh import DwhAPI, dwh_error, s3_error, validate_report_request  # noqa: F401 - importable from here as before
from .api_statements import StatementsAPI
from .api_transactions import TransactionsAPI, validate_report_params  # noqa: F401 - importable from here as before
from .dialects import Dialect, get_dialect
from .faults import DROP, MALFORMED, RATE_LIMITED, SERVER_ERROR, FaultPlan, Faults
from .http_util import Request, Response, dumps, json_response  # noqa: F401 - dumps importable from here as before

__all__ = ["Sandbox", "RequestRecord"]

API, FILE = "api", "file"  # what a route serves: what the fault counters count


# ------------------------------------------------------------- request log


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox received it (secrets removed)."""

    method: str
    path: str
    query: dict[str, str]
    headers: HeaderDict
    json: Any
    status: int
    at: float


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, secret


class HeaderDict(dict):
    """Request headers as sent, looked up case-insensitively (``h["x-api-version"]``).

    Examples
    --------
    >>> h = HeaderDict({"X-Api-Version": "3"})
    >>> h["x-api-version"], "X-API-VERSION" in h, h.get("Accept")
    ('3', True, None)
    """

    def _key(self, name: object) -> object:
        if isinstance(name, str) and not dict.__contains__(self, name):
            return next((k for k in self.keys() if k.lower() == name.lower()), name)
        return name

    def __getitem__(self, name: object) -> str:
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, self._key(name))

    def get(self, name: object, default: Any = None) -> Any:
        return dict.get(self, self._key(name), default)


def _masked_headers(headers: Iterable[tuple[str, str]], auth: tuple[str, str] | None) -> HeaderDict:
    """Headers for the request log: Authorization becomes ``<basic user=ID>``."""
    masked = (
        (k, (f"<basic user={auth[0]}>" if auth else "<hidden>") if k.lower() == "authorization" else v)
        for k, v in headers
    )
    return HeaderDict(masked)


# ------------------------------------------------------------------ server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ledgerkit-sandbox/0.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    timeout = 60  # idle keep-alive connections close after a minute
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _read_request(self, method: str) -> Request:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else 0
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(
            method,
            parts.path,
            parse_qsl(parts.query, keep_blank_values=True),
            headers,
            body,
            auth=_basic_auth(headers.get("authorization")),
        )
        if body:
            try:
                req.json = json.loads(body)
            except ValueError:
                req.json = None
        return req

    def _serve(self, method: str) -> None:
        sb = self.server.sandbox
        req = self._read_request(method)
        try:
            response, kind = sb.route(req)
        except Exception:  # noqa: BLE001 - a sandbox bug must show as a 500, not a hung client
            traceback.print_exc(file=sys.stderr)
            response, kind = json_response(500, {"message": "sandbox internal error"}), None
        fault = sb.next_fault(kind)
        response = _fault_response(sb.faults, fault, kind) or response
        if sb.faults.latency:
            time.sleep(sb.faults.latency)
        sb.log(
            RequestRecord(
                method,
                req.path,
                dict(req.query),
                _masked_headers(self.headers.items(), req.auth),
                req.json,
                response.status,
                time.time(),
            )
        )
        self._send(response, fault)

    def _send(self, response: Response, fault: str | None) -> None:
        body = response.body
        if fault == MALFORMED:
            response = Response(200, body, response.headers, response.content_type)
            body = body[: max(1, len(body) // 2)]
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body) if fault == DROP else len(body)))
        self.send_header(self.server.sandbox.dialect.request_id_header, str(uuid.uuid4()))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if fault == DROP:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


_S3_FAULTS = {
    429: ("SlowDown", "Please reduce your request rate."),
    503: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
}


def _fault_response(faults: Faults, fault: str | None, kind: str | None) -> Response | None:
    """The answer a 429 / 5xx fault puts in place of the real one (JSON for the APIs, S3 XML for files)."""
    if fault not in (RATE_LIMITED, SERVER_ERROR):
        return None
    headers = {} if fault == SERVER_ERROR or faults.retry_after is None else {"Retry-After": str(faults.retry_after)}
    if kind == FILE:
        status = faults.download_error_status
        return s3_error(status, *_S3_FAULTS.get(status, _S3_FAULTS[500]), headers)
    if fault == RATE_LIMITED:
        return json_response(429, {"message": "Too Many Requests"}, headers)
    return json_response(faults.error_status, {"message": "Service Unavailable"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Loopback, handler: type = _Handler) -> None:
        self.sandbox: Any = sandbox  # what the handler serves: a Sandbox, or a Replay
        super().__init__(address, handler)


class Loopback:
    """A server on 127.0.0.1 run in a daemon thread: start/stop, context manager, ``url``.

    Subclasses set ``port`` (0: any free port) and ``verbose`` and may set
    ``handler`` (the request handler class, reading ``self.server.sandbox``).
    """

    handler: type = _Handler
    port: int = 0
    verbose: bool = False
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), self, self.handler)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__.lower()}:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"


_Route = tuple[str, "re.Pattern[str]", Callable[..., Response], str]


class Sandbox(Loopback):
    """The three provider APIs on 127.0.0.1, serving a deterministic World.

    Parameters
    ----------
    seed : int
        Seed of the generated World.
    size : int, optional
        Number of transactions of the World (the World's default when None).
    page_size : int
        Transactions per report page (not settable by clients).
    per_page_default : int, optional
        Statements page size when none is asked (None: the dialect's, else 50).
    per_page_max : int
        The largest statements page size allowed.
    report_seconds : float
        Time a DWH report takes from ``queued`` to ``successful``.
    port : int
        0 picks a free port.
    world : World, optional
        Serve this World instead of generating one.
    faults : Faults, optional
        Faults in force from the start.
    dialect : str
        Which deployment's reading of the APIs to speak: one of
        :data:`~ledgerkit.sandbox.dialects.DIALECTS` (docs/CONTRACTS.md §2.6).
    shape : {"uniform", "sparse", "burst"}
        How the generated World's transactions spread in time.

    Examples
    --------
    >>> with Sandbox(seed=0, size=100) as sb:                 # doctest: +SKIP
    ...     sb.set_faults(rate_limit_every=3, retry_after=0)
    ...     sb.transactions_url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        seed: int = 0,
        size: int | None = None,
        page_size: int = 1000,
        per_page_default: int | None = None,
        per_page_max: int = 500,
        report_seconds: float = 0.3,
        port: int = 0,
        *,
        world: Any = None,
        faults: Faults | None = None,
        verbose: bool = False,
        dialect: str = "begateway",
        shape: str = "uniform",
    ) -> None:
        self.dialect: Dialect = get_dialect(dialect)
        if per_page_default is None:
            per_page_default = self.dialect.per_page_default or 50
        _check_settings(
            size=size,
            page_size=page_size,
            per_page_default=per_page_default,
            per_page_max=per_page_max,
            report_seconds=report_seconds,
            port=port,
            faults=faults,
            verbose=verbose,
        )
        self.seed, self.size = seed, size
        self.page_size, self.per_page_default, self.per_page_max = page_size, per_page_default, per_page_max
        self.report_seconds, self.port, self.verbose = report_seconds, port, verbose
        self.world = world if world is not None else _generate_world(seed, size, shape)
        self._plan = FaultPlan(faults)
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.transactions_api = TransactionsAPI(self)
        self.statements_api = StatementsAPI(self)
        self.dwh_api = DwhAPI(self)
        self._routes: list[_Route] = [
            ("POST", re.compile(r"/gateway/api/reports"), self.transactions_api.handle, API),
            ("GET", re.compile(re.escape(StatementsAPI.PATH)), self.statements_api.handle, API),
            ("POST", re.compile(r"/dwh/api/v2/reports"), self.dwh_api.create, API),
            ("GET", re.compile(r"/dwh/api/v2/reports/([^/]+)"), self.dwh_api.show, API),
            ("GET", re.compile(r"/dwh/files/([^/]+)\.zip"), self.dwh_api.download, FILE),
        ]

    # lifecycle (start, stop, context manager: Loopback) -----------------------
    def serve_forever(self) -> None:
        """Block until interrupted (for the CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # addresses and credentials (url: Loopback) --------------------------
    @property
    def transactions_url(self) -> str:
        return self.url + "/gateway"

    @property
    def statements_url(self) -> str:
        return self.url + "/makecommerce"

    @property
    def dwh_url(self) -> str:
        return self.url + "/dwh"

    @property
    def credentials(self) -> dict[str, Credentials]:
        """Default credentials per source: first shop, MakeCommerce shop, PSP."""
        w = self.world
        return {
            "transactions": Credentials(str(w.shops[0]["id"]), str(w.shops[0]["secret"])),
            "statements": Credentials(str(w.mc_shop["id"]), str(w.mc_shop["secret"])),
            "balance_records": Credentials(str(w.psp["id"]), str(w.psp["secret"])),
        }

    def env(self) -> dict[str, str]:
        """The nine ``LEDGERKIT_*`` environment variables pointing at this sandbox."""
        urls = {
            "transactions": self.transactions_url,
            "statements": self.statements_url,
            "balance_records": self.dwh_url,
        }
        out = {}
        for source, (url_var, user_var, secret_var, _) in ENV_VARS.items():
            creds = self.credentials[source]
            out.update({url_var: urls[source], user_var: creds.user, secret_var: creds.secret})
        return out

    def kwargs(self, source: str) -> dict[str, Any]:
        """Keyword arguments that point a loader at this sandbox.

        Examples
        --------
        >>> with Sandbox() as sb:                                   # doctest: +SKIP
        ...     lk.load_statements(since="2025-01-01", **sb.kwargs("statements"))
        """
        urls = {
            "transactions": self.transactions_url,
            "statements": self.statements_url,
            "balance_records": self.dwh_url,
        }
        if source not in urls:
            raise ConfigurationError("source", source, f"one of {', '.join(urls)}")
        creds = self.credentials[source]
        user_kw = ENV_VARS[source][3]
        return {"base_url": urls[source], user_kw: creds.user, "secret_key": creds}

    # what this dialect serves ------------------------------------------------
    def served_statements(self) -> list[dict[str, Any]]:
        """The whole statement chain as this dialect serves it, numbers as exact ``Decimal``.

        For ``begateway`` this is ``world.statements``; ``makecommerce-recorded``
        moves and adds VAT lines and omits ``transaction_id`` (§2.6).
        """
        return self.statements_api.served_rows()

    def report_rows(self, date_from: Any, date_to: Any, currency: str, **scope: int | None) -> tuple[list, list]:
        """(records, opening rows) of the DWH report this dialect makes for these request parameters.

        ``date_from``/``date_to`` are aware datetimes as the request gives
        them (``date_to`` exclusive or inclusive as the dialect reads it);
        ``scope`` takes ``merchant_id``, ``shop_id``, ``gateway_id``. Rows are
        keyed by frame column names, money in integer minor units.

        Examples
        --------
        >>> with Sandbox(size=100, dialect="dwh-official-client") as sb:   # doctest: +SKIP
        ...     records, opening = sb.report_rows(sb.world.start, sb.world.end, "EUR", shop_id=1101)
        """
        return self.dwh_api.report_rows(date_from, date_to, currency, **scope)

    # faults --------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._plan.faults

    def set_faults(self, **changes: Any) -> Faults:
        """Switch faults on (on top of those in force) and restart the fault counters."""
        faults = self._plan.faults.replace(**changes)
        self._plan.reset(faults)
        return faults

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self._plan.reset(Faults())

    def next_fault(self, kind: str | None = API) -> str | None:
        """Count one API request (``kind="api"``) or file download (``"file"``) against the fault switches."""
        if kind == API:
            return self._plan.next_request()
        return self._plan.next_download() if kind == FILE else None

    def take_expired_link(self) -> bool:
        """Whether the next report gets an expired link (fault ``expired_links``)."""
        return self._plan.take_expired_link()

    # request log -----------------------------------------------------------
    def log(self, record: RequestRecord) -> None:
        """Append a request to the log."""
        with self._log_lock:
            self._log.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._log_lock:
            self._log.clear()

    # routing -------------------------------------------------------------
    def route(self, req: Request) -> tuple[Response, str | None]:
        """(response, what the route serves: ``"api"``, ``"file"``, or None when none matched) for a request."""
        allowed = []
        for method, pattern, handler, kind in self._routes:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            if method == req.method:
                return handler(req, *match.groups()), kind
            allowed.append(method)
        if allowed:
            return json_response(405, {"message": "Method Not Allowed"}, {"Allow": ", ".join(allowed)}), None
        return json_response(404, {"message": "Not Found"}), None

    def __repr__(self) -> str:
        state = f"serving at {self.url}" if self._server else "stopped"
        dialect = "" if self.dialect.name == "begateway" else f" dialect={self.dialect.name}"
        return f"<Sandbox seed={self.seed}{dialect} {state}>"


def _check_settings(
    *,
    size: Any,
    page_size: Any,
    per_page_default: Any,
    per_page_max: Any,
    report_seconds: Any,
    port: Any,
    faults: Any,
    verbose: Any,
) -> None:
    """Refuse a :class:`Sandbox` setting it could not serve, naming the argument (``ConfigurationError``)."""

    def whole(value: Any, low: int, high: float = math.inf) -> bool:
        return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high

    for name, value, ok, expected in (
        ("size", size, size is None or whole(size, 20), "None or an integer >= 20 (transactions of the world)"),
        ("page_size", page_size, whole(page_size, 1), "an integer >= 1"),
        ("per_page_default", per_page_default, whole(per_page_default, 1), "None or an integer >= 1"),
        ("per_page_max", per_page_max, whole(per_page_max, 1), "an integer >= 1"),
        (
            "report_seconds",
            report_seconds,
            not isinstance(report_seconds, bool)
            and isinstance(report_seconds, (int, float))
            and 0 <= report_seconds < math.inf,
            "a number of seconds >= 0",
        ),
        ("port", port, whole(port, 0, 65535), "an integer from 0 (any free port) to 65535"),
        ("faults", faults, faults is None or isinstance(faults, Faults), "a ledgerkit.sandbox.faults.Faults or None"),
        ("verbose", verbose, isinstance(verbose, bool), "True or False"),
    ):
        if not ok:
            raise ConfigurationError(name, value, expected)


def _generate_world(seed: int, size: int | None, shape: str = "uniform") -> Any:
    from .world import World

    size_kw = {} if size is None else {"n_transactions": size}
    return World.generate(seed=seed, shape=shape, **size_kw)
