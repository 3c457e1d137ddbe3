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
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import orjson


from ..config import ENV_VARS, Credentials
from ..errors import ConfigurationError
from ..money import is_currency
from .faults import DROP, MALFORMED, RATE_LIMITED, SERVER_ERROR, FaultPlan, Faults
from .files import build_report_zip

__all__ = ["Sandbox", "RequestRecord"]

UTC = timezone.utc
_JSON = "application/json; charset=utf-8"


# ---------------------------------------------------------------- plumbing


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


@dataclass
class Request:
    """What an API handler needs of an HTTP request."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    auth: tuple[str, str] | None = None

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name``, or None."""
        values = [v for k, v in self.query if k == name]
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitive."""
        return self.headers.get(name.lower())


@dataclass
class Response:
    """An answer: status, body bytes and headers (Content-Length is added on send)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = _JSON


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def dumps(obj: Any) -> bytes:
    """JSON bytes, with ``Decimal`` written as an exact JSON number (never via float).

    Examples
    --------
    >>> dumps({"amount": Decimal("-0.060"), "n": [Decimal("10.00"), 1.5, None]})
    b'{"amount":-0.06,"n":[10,1.5,null]}'
    """
    return orjson.dumps(obj, default=_exact_number)


def _exact_number(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(_decimal_text(value))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(status, dumps(obj), dict(headers or {}))


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
    masked = ((k, (f"<basic user={auth[0]}>" if auth else "<hidden>") if k.lower() == "authorization" else v)
              for k, v in headers)
    return HeaderDict(masked)


def _parse_utc(text: str | None) -> datetime | None:
    """An API timestamp (``...Z``, ``+0000`` or ``+00:00``) as an aware UTC datetime."""
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.astimezone(UTC) if text.tzinfo else text.replace(tzinfo=UTC)
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.replace("Z", "+00:00"))
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------- transactions API

_TX_TIME_FIELDS = ("created_at", "paid_at", "settled_at", "manually_corrected_at")
_STATUSES = ("all", "successful", "failed", "pending", "incomplete")
_METHODS = ("credit_card", "alternative")
_DATE_TYPES = ("created_at", "paid_at", "settled_at")
_WALL_FORMAT = "%Y-%m-%d %H:%M:%S"
_Z_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MAX_CACHED_PULLS = 256


class _TxIndex:
    """Transactions grouped per shop, ascending id, with epoch times and their UTC text."""

    def __init__(self, transactions: list[dict[str, Any]]) -> None:
        self.size = len(transactions)
        self.by_shop: dict[int, list[dict[str, Any]]] = {}
        self.times: dict[int, dict[str, float | None]] = {}
        self.utc_text: dict[int, dict[str, str | None]] = {}
        self.by_id: dict[int, dict[str, Any]] = {}
        for tx in sorted(transactions, key=lambda t: t["id"]):
            self.by_shop.setdefault(int(tx["shop"]["id"]), []).append(tx)
            self.by_id[tx["id"]] = tx
            stamps = {f: (None if tx.get(f) is None else _parse_utc(tx[f])) for f in _TX_TIME_FIELDS}
            self.times[tx["id"]] = {f: (None if v is None else v.timestamp()) for f, v in stamps.items()}
            self.utc_text[tx["id"]] = {f: (None if v is None else v.strftime(_Z_FORMAT)) for f, v in stamps.items()}

    def shown(self, tx_id: int, zone: ZoneInfo) -> dict[str, Any]:
        """A transaction as served: times as ``...Z``, wall clock in ``zone`` (the platform quirk)."""
        if zone.key == "UTC":
            return {**self.by_id[tx_id], **self.utc_text[tx_id]}
        tx = self.by_id[tx_id]
        return {**tx, **{f: _wall_clock_z(tx.get(f), zone) for f in _TX_TIME_FIELDS}}


@dataclass(frozen=True)
class _TxQuery:
    """A validated ``report_params`` minus the cursors: the key of a pull."""

    shop_id: int
    date_type: str
    start: float
    end: float  # exclusive
    status: str
    method: str
    zone: str
    correction: tuple[float, float] | None


def _wall_start(date_type: str, text: str, zone: ZoneInfo) -> float:
    """Epoch seconds where an inclusive wall-clock (or date) bound in ``zone`` starts."""
    if date_type == "settled_at":
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), zone).timestamp()
    return datetime.strptime(text, _WALL_FORMAT).replace(tzinfo=zone).timestamp()


def _wall_end(date_type: str, text: str, zone: ZoneInfo) -> float:
    """Epoch seconds just after an inclusive wall-clock (or date) bound in ``zone`` (exclusive end)."""
    if date_type == "settled_at":
        return datetime.combine(date.fromisoformat(text) + timedelta(days=1), datetime.min.time(), zone).timestamp()
    return datetime.strptime(text, _WALL_FORMAT).replace(tzinfo=zone).timestamp() + 1


def _valid_wall(text: Any, date_type: str) -> bool:
    if not isinstance(text, str):
        return False
    try:
        if date_type == "settled_at":
            return bool(re.fullmatch(r"\d{4}-\d\d-\d\d", text)) and date.fromisoformat(text) is not None
        return datetime.strptime(text, _WALL_FORMAT) is not None
    except ValueError:
        return False


def _cursor(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError ...
        return None


def validate_report_params(params: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Check ``report_params``; return (errors by field, cleaned values).

    Examples
    --------
    >>> errors, _ = validate_report_params({"date_type": "created_at", "status": "paid"})
    >>> sorted(errors)
    ['from', 'payment_method_type', 'status', 'time_zone', 'to']
    >>> errors["status"]
    ['must be one of: all, successful, failed, pending, incomplete']
    """
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}

    def need(name: str) -> Any:
        if params.get(name) in (None, ""):
            errors[name] = ["is missing"]
        return params.get(name)

    def one_of(name: str, allowed: tuple[str, ...]) -> None:
        value = need(name)
        if name not in errors and value not in allowed:
            errors[name] = [f"must be one of: {', '.join(allowed)}"]
        clean[name] = value

    one_of("date_type", _DATE_TYPES)
    date_type = clean["date_type"] if "date_type" not in errors else "created_at"
    wall = "YYYY-MM-DD" if date_type == "settled_at" else "YYYY-MM-DD hh:mm:ss"
    for name in ("from", "to"):
        value = need(name)
        if name not in errors and not _valid_wall(value, date_type):
            errors[name] = [f"must be in format {wall}"]
        clean[name] = value
    if "from" not in errors and "to" not in errors and _wall_start(date_type, clean["to"], UTC) < _wall_start(
            date_type, clean["from"], UTC):
        errors["to"] = ["must not be before from"]
    one_of("status", _STATUSES)
    one_of("payment_method_type", _METHODS)
    zone_name = need("time_zone")
    clean["time_zone"] = _zone(zone_name)
    if "time_zone" not in errors and clean["time_zone"] is None:
        errors["time_zone"] = ["must be an IANA time zone name such as Europe/London"]
    for name in ("starting_after", "ending_before"):
        if params.get(name) not in (None, ""):
            clean[name] = _cursor(params[name])
            if clean[name] is None:
                errors[name] = ["must be a transaction id (integer)"]
    if "starting_after" in clean and "ending_before" in clean and "ending_before" not in errors:
        errors["ending_before"] = ["cannot be used together with starting_after"]
    for name in ("manual_correction_from", "manual_correction_to"):
        value = params.get(name)
        if value not in (None, "") and not _valid_wall(value, date_type):
            errors[name] = [f"must be in format {wall}"]
        clean[name] = value or None
    return errors, clean


def _invalid_params(errors: dict[str, list[str]]) -> Response:
    first = next(iter(errors))
    what = "is missing" if errors[first] == ["is missing"] else "is invalid"
    return json_response(422, {"message": f"report_params.{first} {what}", "errors": errors})


def _wall_clock_z(value: datetime | str | None, zone: ZoneInfo) -> str | None:
    """``YYYY-MM-DDThh:mm:ssZ``; the platform quirk: wall clock in ``zone``, still ending in Z."""
    if value is None:
        return None
    return _parse_utc(value).astimezone(zone).strftime(_Z_FORMAT)


class TransactionsAPI:
    """``POST /api/reports`` (X-Api-Version 3): cursor-paginated shop report."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sb = sandbox
        self._lock = threading.Lock()
        self._index: _TxIndex | None = None
        self._pulls: dict[_TxQuery, list[int]] = {}

    def index(self) -> _TxIndex:
        """The index of the world's transactions, rebuilt when the world grew."""
        with self._lock:
            if self._index is None or self._index.size != len(self.sb.world.transactions):
                with self.sb.world.lock:
                    snapshot = list(self.sb.world.transactions)
                self._index = _TxIndex(snapshot)
                self._pulls.clear()
            return self._index

    def handle(self, req: Request) -> Response:
        """Answer one report request."""
        shop = self.sb.world.shop_by_credentials(*req.auth) if req.auth else None
        if shop is None:
            return json_response(401, {"message": "Unauthorized", "errors": {}}, {"WWW-Authenticate": 'Basic realm="api"'})
        if (req.header("X-Api-Version") or "").strip() != "3":
            return json_response(400, {"message": "X-Api-Version header must be 3", "errors": {"X-Api-Version": ["must be 3"]}})
        if req.body and req.json is None:
            return json_response(400, {"message": "request body is not valid JSON", "errors": {}})
        if not isinstance(req.json, dict) or not isinstance(req.json.get("report_params"), dict):
            return json_response(422, {"message": "report_params is missing", "errors": {"report_params": ["is missing"]}})
        errors, clean = validate_report_params(req.json["report_params"])
        if errors:
            return _invalid_params(errors)
        query = self._query(int(shop["id"]), clean)
        return json_response(200, self._page(query, clean))

    def _query(self, shop_id: int, clean: dict[str, Any]) -> _TxQuery:
        zone, kind = clean["time_zone"], clean["date_type"]
        correction = None
        lo, hi = clean["manual_correction_from"], clean["manual_correction_to"]
        if lo or hi:
            correction = (_wall_start(kind, lo, zone) if lo else -float("inf"),
                          _wall_end(kind, hi, zone) if hi else float("inf"))
        return _TxQuery(shop_id, kind, _wall_start(kind, clean["from"], zone), _wall_end(kind, clean["to"], zone),
                        clean["status"], clean["payment_method_type"], zone.key, correction)

    def matching_ids(self, q: _TxQuery) -> list[int]:
        """Ascending ids of the transactions a query selects (cached per query)."""
        index = self.index()
        with self._lock:
            cached = self._pulls.get(q)
        if cached is not None:
            return cached
        ids = []
        for tx in index.by_shop.get(q.shop_id, []):
            times = index.times[tx["id"]]
            at = times[q.date_type]
            if at is None or not q.start <= at < q.end:
                continue
            if q.status != "all" and tx.get("status") != q.status:
                continue
            if tx.get("payment_method_type") != q.method:
                continue
            if q.correction:
                corrected = times["manually_corrected_at"]
                if corrected is None or not q.correction[0] <= corrected < q.correction[1]:
                    continue
            ids.append(tx["id"])
        with self._lock:
            if self._index is index:
                if len(self._pulls) >= _MAX_CACHED_PULLS:
                    self._pulls.clear()
                self._pulls[q] = ids
        return ids

    def _page(self, q: _TxQuery, clean: dict[str, Any]) -> dict[str, Any]:
        faults = self.sb.faults
        size = self.sb.page_size
        after, before = clean.get("starting_after"), clean.get("ending_before")
        if faults.stuck_cursor:
            after = None
        ids = self.matching_ids(q)
        if before is not None:
            stop = min(len(ids), bisect_left(ids, before) + faults.repeat_rows)
            lo = max(0, stop - size)
            page, has_more = ids[lo:stop], lo > 0
        else:
            start = 0 if after is None else max(0, bisect_right(ids, after) - faults.repeat_rows)
            page, has_more = ids[start:start + size], start + size < len(ids)
        if faults.stuck_cursor:
            has_more = True
        first_page = clean.get("starting_after") is None and before is None
        if first_page and faults.insert_during_paging:
            self._insert(q, faults.insert_during_paging)
        index = self.index()
        rows = [index.shown(i, clean["time_zone"]) for i in page]
        return {
            "transactions": rows,
            "count": len(rows),
            "has_more": has_more,
            "first_object_id": page[0] if page else None,
            "last_object_id": page[-1] if page else None,
        }

    def _insert(self, q: _TxQuery, n: int) -> None:
        """Fault ``insert_during_paging``: ``n`` new payments of this shop inside the requested window."""
        lo = datetime.fromtimestamp(max(q.start, self.sb.world.start.timestamp()), UTC)
        hi = datetime.fromtimestamp(min(q.end, self.sb.world.end.timestamp()), UTC)
        if hi > lo + timedelta(seconds=1):
            self.sb.world.add_transactions(n, within=(lo, hi), shop_id=q.shop_id, payment_method_type=q.method)


# ------------------------------------------------------------ statements API


def _statement_error(errors: list[dict[str, str]], message: str = "Invalid request") -> Response:
    return json_response(400, {"code": 1001, "message": message, "errors": errors})


def _date_param(req: Request, name: str, errors: list[dict[str, str]]) -> date | None:
    text = req.param(name)
    if text in (None, ""):
        return None
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    errors.append({"type": "invalid", "parameter": name, "expected": "YYYY-MM-DD"})
    return None


def _int_param(req: Request, name: str, default: int, top: int | None, errors: list[dict[str, str]]) -> int:
    text = req.param(name)
    if text in (None, ""):
        return default
    if text.isdigit() and 1 <= int(text) <= (top or int(text)):
        return int(text)
    expected = f"integer 1..{top}" if top else "integer >= 1"
    errors.append({"type": "invalid", "parameter": name, "expected": expected})
    return default


def _statement_row(row: dict[str, Any]) -> dict[str, Any]:
    """A statement row as served: ``created`` as ``2023-01-06T04:10:08+0000``."""
    created = row["created"]
    if isinstance(created, datetime):
        row = {**row, "created": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")}
    return row


class StatementsAPI:
    """``GET /v1/shop/accountstatements``: page/per_page with Link and X-Total-Count."""

    PATH = "/makecommerce/v1/shop/accountstatements"

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sb = sandbox
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._pulls: dict[tuple, list[dict[str, Any]]] = {}

    def _snapshot(self) -> tuple[list[dict[str, Any]], list[float]]:
        """The chain and its epoch times; the world only ever appends to it."""
        with self.sb.world.lock:
            rows = list(self.sb.world.statements)
        with self._lock:
            if len(self._times) < len(rows):
                self._times = self._times + [_parse_utc(r["created"]).timestamp() for r in rows[len(self._times):]]
            return rows, self._times[: len(rows)]

    def handle(self, req: Request) -> Response:
        """Answer one statement page."""
        if not req.auth or not self.sb.world.is_mc_shop(*req.auth):
            return json_response(401, {"code": 1004, "message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="api"'})
        errors: list[dict[str, str]] = []
        since, until = _date_param(req, "since", errors), _date_param(req, "until", errors)
        page = _int_param(req, "page", 1, None, errors)
        per_page = _int_param(req, "per_page", self.sb.per_page_default, self.sb.per_page_max, errors)
        if errors:
            return _statement_error(errors)
        payout_id = req.param("payout_id") or None
        if since is None and payout_id is None:
            return _statement_error(
                [{"type": "missing", "parameter": "since"}, {"type": "missing", "parameter": "payout_id"}],
                "since or payout_id must be present",
            )
        rows = self._matching(since, until, payout_id)
        faults = self.sb.faults
        if page == 1 and faults.insert_during_paging:
            self.sb.world.append_statements(faults.insert_during_paging)
        offset = max(0, (page - 1) * per_page - (faults.repeat_rows if page > 1 else 0))
        last = max(1, -(-len(rows) // per_page))
        links = {"first": 1, "prev": page - 1 if page > 1 else None,
                 "next": (page if faults.stuck_cursor else page + 1) if page < last else None, "last": last}
        headers = {"X-Total-Count": str(len(rows)), "Link": self._link(req, links)}
        return json_response(200, [_statement_row(r) for r in rows[offset:offset + per_page]], headers)

    def _matching(self, since: date | None, until: date | None, payout_id: str | None) -> list[dict[str, Any]]:
        """Rows of the chain a query selects, in chain order (cached per query and chain length)."""
        rows, times = self._snapshot()
        key = (since, until, payout_id, len(rows))
        with self._lock:
            cached = self._pulls.get(key)
        if cached is not None:
            return cached
        lo = -float("inf") if since is None else datetime.combine(since, datetime.min.time(), UTC).timestamp()
        hi = float("inf") if until is None else datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC).timestamp()
        selected = [row for row, at in zip(rows, times)
                    if lo <= at < hi and (payout_id is None or str(row.get("payout_id")) == payout_id)]
        with self._lock:
            if len(self._pulls) >= _MAX_CACHED_PULLS:
                self._pulls.clear()
            self._pulls[key] = selected
        return selected

    def _link(self, req: Request, pages: dict[str, int | None]) -> str:
        parts = []
        for rel, number in pages.items():
            if number is None:
                continue
            query = [(k, v) for k, v in req.query if k != "page"] + [("page", str(number))]
            parts.append(f'<{self.sb.url}{self.PATH}?{urlencode(query)}>; rel="{rel}"')
        return ", ".join(parts)


# ------------------------------------------------------------------ DWH API

_DWH_HELP = "https://docs.bepaid.by/en/integration/dwh/reports"
_REPORT_KEEP = timedelta(hours=72)
_DWH_FIELDS = {"merchant_id", "shop_id", "gateway_id"}


def dwh_error(status: int, code: str, message: str) -> Response:
    """The DWH error envelope."""
    friendly = {
        "unauthorized": "Authentication failed: check the PSP id and secret key.",
        "unprocessable_entity": f"The request could not be processed: {message}.",
        "not_found": "The requested report does not exist.",
    }[code]
    return json_response(status, {"error": {"code": code, "message": message, "friendly_message": friendly, "help": _DWH_HELP}})


def _iso_with_offset(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def validate_report_request(body: Any) -> tuple[str | None, dict[str, Any]]:
    """Check a DWH report request; return (first error message or None, cleaned values).

    Examples
    --------
    >>> validate_report_request({"type": "balance_records", "format": "csv", "user_id": 1,
    ...                          "request_params": {"date_from": "2025-01-01T00:00:00+03:00"}})[0]
    'request_params.date_to is required'
    """
    if not isinstance(body, dict):
        return "body must be a JSON object", {}
    clean: dict[str, Any] = {}
    for name, allowed in (("type", ("balance_records",)), ("format", ("csv", "xlsx")), ("language", ("en", "ru"))):
        value = body.get(name, "en" if name == "language" else None)
        if value is None:
            return f"{name} is required", {}
        if value not in allowed:
            return f"{name} is invalid, expected one of: {', '.join(allowed)}", {}
        clean[name] = value
    if body.get("user_id") is None:
        return "user_id is required", {}
    if isinstance(body["user_id"], bool) or not isinstance(body["user_id"], int):
        return "user_id is invalid, expected an integer", {}
    email = body.get("notification_email")
    if email is not None and not isinstance(email, str):
        return "notification_email is invalid, expected a string", {}
    clean.update(user_id=body["user_id"], notification_email=email)
    key = "request_params" if "request_params" in body else "request_parameters"
    params = body.get(key)
    if not isinstance(params, dict):
        return "request_params is required", {}
    for name in ("date_from", "date_to"):
        if params.get(name) is None:
            return f"{key}.{name} is required", {}
        clean[name] = _iso_with_offset(params[name])
        if clean[name] is None:
            return f"{key}.{name} is invalid, expected ISO 8601 with offset (YYYY-MM-DDThh:mm:ss±hh:mm)", {}
    if clean["date_to"] < clean["date_from"]:
        return f"{key}.date_to is invalid, must not be before date_from", {}
    currency = params.get("currency")
    if currency is None:
        return f"{key}.currency is required", {}
    if not is_currency(currency):
        return f"{key}.currency is invalid, expected an ISO 4217 or crypto code", {}
    clean["currency"] = currency
    for name in sorted(_DWH_FIELDS):
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{key}.{name} is invalid, expected an integer", {}
        clean[name] = value
    return None, clean


def _utc_micro(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Report:
    id: str
    created: datetime
    created_clock: float
    request: dict[str, Any]
    expired_link: bool
    file: bytes | None = None


class DwhAPI:
    """DWH balance report: create, poll, download the pre-signed zip."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sb = sandbox
        self._lock = threading.Lock()
        self._reports: dict[str, _Report] = {}
        self._signing_key = hashlib.sha256(f"sandbox-s3-{sandbox.seed}".encode()).digest()

    def _authorized(self, req: Request) -> bool:
        return bool(req.auth) and self.sb.world.is_psp(*req.auth)

    def create(self, req: Request) -> Response:
        """``POST /api/v2/reports``."""
        if not self._authorized(req):
            return dwh_error(401, "unauthorized", "Unauthorized")
        problem, clean = validate_report_request(req.json)
        if problem:
            return dwh_error(422, "unprocessable_entity", problem)
        report = _Report(str(uuid.uuid4()), datetime.now(UTC), time.monotonic(), clean, self.sb.take_expired_link())
        with self._lock:
            self._reports[report.id] = report
        return json_response(201, {"data": {"report": self._describe(report, fresh=True)}})

    def show(self, req: Request, report_id: str) -> Response:
        """``GET /api/v2/reports/{id}``."""
        if not self._authorized(req):
            return dwh_error(401, "unauthorized", "Unauthorized")
        with self._lock:
            report = self._reports.get(report_id)
        if report is None:
            return dwh_error(404, "not_found", f"Report {report_id} not found")
        return json_response(200, {"data": {"report": self._describe(report)}})

    def _state(self, report: _Report) -> tuple[str, int, datetime]:
        """(status, attempt, updated_at) of a report now."""
        seconds = self.sb.report_seconds
        elapsed = time.monotonic() - report.created_clock
        faults = self.sb.faults
        if elapsed < seconds / 2:
            return "queued", 0, report.created
        if elapsed < seconds or faults.report_stuck:
            return "pending", 1, report.created + timedelta(seconds=seconds / 2)
        if faults.report_fail:
            return "failed", 3, report.created + timedelta(seconds=seconds)
        return "successful", 1, report.created + timedelta(seconds=seconds)

    def _generated_at(self, report: _Report) -> datetime:
        generated = report.created + timedelta(seconds=self.sb.report_seconds)
        return generated - _REPORT_KEEP - timedelta(hours=1) if report.expired_link else generated

    def _describe(self, report: _Report, fresh: bool = False) -> dict[str, Any]:
        """The report object of the API; ``fresh`` (the POST answer) is always ``queued``."""
        status, attempt, updated = ("queued", 0, report.created) if fresh else self._state(report)
        r = report.request
        params = {"currency": r["currency"], "date_from": _utc_micro(r["date_from"]), "date_to": _utc_micro(r["date_to"])}
        params.update({k: r[k] for k in sorted(_DWH_FIELDS) if r.get(k) is not None})
        done = status == "successful"
        generated = self._generated_at(report) if done else None
        return {
            "id": report.id, "status": status, "type": r["type"], "format": r["format"], "engine": "oban",
            "attempt": attempt, "updated_at": _utc_z(updated), "language": r["language"], "user_id": r["user_id"],
            "psp_id": self.sb.world.psp["id"], "created_at": _utc_z(report.created),
            "generated_at": _utc_z(generated) if generated else None,
            "expiry_date": _utc_z(generated + _REPORT_KEEP) if generated else None,
            "file_url": self._file_url(report, generated) if generated else None,
            "notification_email": r["notification_email"], "request_params": dict(sorted(params.items())),
        }

    def _signature(self, report_id: str, amz_date: str, expires: str) -> str:
        return hmac.new(self._signing_key, f"{report_id}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def _file_url(self, report: _Report, generated: datetime) -> str:
        amz_date = generated.strftime("%Y%m%dT%H%M%SZ")
        expires = str(int(_REPORT_KEEP.total_seconds()))
        query = urlencode([
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"SANDBOXKEY/{generated:%Y%m%d}/eu-central-1/s3/aws4_request"),
            ("X-Amz-Date", amz_date), ("X-Amz-Expires", expires), ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", self._signature(report.id, amz_date, expires)),
        ])
        return f"{self.sb.dwh_url}/files/{report.id}.zip?{query}"

    def download(self, req: Request, report_id: str) -> Response:
        """``GET /files/{id}.zip``: the pre-signed link (no API auth, S3's errors)."""
        if req.header("Authorization") is not None:
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                             "parameter, Signature query string parameter or the Authorization header should be specified")
        with self._lock:
            report = self._reports.get(report_id)
        amz_date, expires = req.param("X-Amz-Date") or "", req.param("X-Amz-Expires") or ""
        if report is None or self._state(report)[0] != "successful":
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        signature = req.param("X-Amz-Signature") or ""
        if not hmac.compare_digest(signature, self._signature(report_id, amz_date, expires)):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        signed = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if datetime.now(UTC) >= signed + timedelta(seconds=int(expires)):
            return _s3_error(403, "AccessDenied", "Request has expired")
        return Response(200, self._file(report), {"Content-Disposition": f'attachment; filename="{report_id}.zip"'},
                        "application/zip")

    def _file(self, report: _Report) -> bytes:
        """The zip, built on first download (outside the lock: other reports stay served)."""
        if report.file is None:
            r = report.request
            records, opening = self.sb.world.balance_records_in(
                r["date_from"], r["date_to"], r["currency"],
                merchant_id=r["merchant_id"], shop_id=r["shop_id"], gateway_id=r["gateway_id"])
            built = build_report_zip(records, opening, fmt=r["format"], language=r["language"])
            with self._lock:
                report.file = report.file or built
        return report.file


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>")
    return Response(status, body.encode("utf-8"), {}, "application/xml")


# ------------------------------------------------------------------ server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ledgerkit-sandbox/0.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    timeout = 60  # idle keep-alive connections close after a minute

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def _read_request(self, method: str) -> Request:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else 0
        body = self.rfile.read(length) if length > 0 else b""
        req = Request(method, parts.path, parse_qsl(parts.query, keep_blank_values=True), headers, body,
                      auth=_basic_auth(headers.get("authorization")))
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
            response, is_api = sb.route(req)
        except Exception:  # a sandbox bug must show as a 500, not a hung client
            traceback.print_exc(file=sys.stderr)
            response, is_api = json_response(500, {"message": "sandbox internal error"}), False
        fault = sb.next_fault() if is_api else None
        if fault == RATE_LIMITED:
            retry = sb.faults.retry_after
            response = json_response(429, {"message": "Too Many Requests"},
                                     {} if retry is None else {"Retry-After": str(retry)})
        elif fault == SERVER_ERROR:
            response = json_response(sb.faults.error_status, {"message": "Service Unavailable"})
        if sb.faults.latency:
            time.sleep(sb.faults.latency)
        sb.log(RequestRecord(method, req.path, dict(req.query), _masked_headers(self.headers.items(), req.auth),
                             req.json, response.status, time.time()))
        self._send(response, fault)

    def _send(self, response: Response, fault: str | None) -> None:
        body = response.body
        if fault == MALFORMED:
            response = Response(200, body, response.headers, response.content_type)
            body = body[: max(1, len(body) // 2)]
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body) if fault == DROP else len(body)))
        self.send_header("X-Request-ID", str(uuid.uuid4()))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if fault == DROP:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: "Sandbox") -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


_Route = tuple[str, "re.Pattern[str]", Callable[..., Response], bool]


class Sandbox:
    """The three provider APIs on 127.0.0.1, serving a deterministic World.

    Parameters
    ----------
    seed : int
        Seed of the generated World.
    size : int, optional
        Number of transactions of the World (the World's default when None).
    page_size : int
        Transactions per report page (not settable by clients).
    per_page_default, per_page_max : int
        Statements page size when none is asked, and the largest allowed.
    report_seconds : float
        Time a DWH report takes from ``queued`` to ``successful``.
    port : int
        0 picks a free port.
    world : World, optional
        Serve this World instead of generating one.
    faults : Faults, optional
        Faults in force from the start.

    Examples
    --------
    >>> with Sandbox(seed=0, size=100) as sb:                 # doctest: +SKIP
    ...     sb.set_faults(rate_limit_every=3, retry_after=0)
    ...     sb.transactions_url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, seed: int = 0, size: int | None = None, page_size: int = 1000, per_page_default: int = 50,
                 per_page_max: int = 500, report_seconds: float = 0.3, port: int = 0, *, world: Any = None,
                 faults: Faults | None = None, verbose: bool = False) -> None:
        self.seed, self.size = seed, size
        self.page_size, self.per_page_default, self.per_page_max = page_size, per_page_default, per_page_max
        self.report_seconds, self.port, self.verbose = report_seconds, port, verbose
        self.world = world if world is not None else _generate_world(seed, size)
        self._plan = FaultPlan(faults)
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.transactions_api = TransactionsAPI(self)
        self.statements_api = StatementsAPI(self)
        self.dwh_api = DwhAPI(self)
        self._routes: list[_Route] = [
            ("POST", re.compile(r"/gateway/api/reports"), self.transactions_api.handle, True),
            ("GET", re.compile(re.escape(StatementsAPI.PATH)), self.statements_api.handle, True),
            ("POST", re.compile(r"/dwh/api/v2/reports"), self.dwh_api.create, True),
            ("GET", re.compile(r"/dwh/api/v2/reports/([^/]+)"), self.dwh_api.show, True),
            ("GET", re.compile(r"/dwh/files/([^/]+)\.zip"), self.dwh_api.download, False),
        ]

    # lifecycle ---------------------------------------------------------
    def start(self) -> "Sandbox":
        """Bind and serve in a daemon thread; returns self."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"sandbox:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (for the CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # addresses and credentials ----------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

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
        urls = {"transactions": self.transactions_url, "statements": self.statements_url, "balance_records": self.dwh_url}
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
        urls = {"transactions": self.transactions_url, "statements": self.statements_url, "balance_records": self.dwh_url}
        if source not in urls:
            raise ConfigurationError("source", source, f"one of {', '.join(urls)}")
        creds = self.credentials[source]
        user_kw = ENV_VARS[source][3]
        return {"base_url": urls[source], user_kw: creds.user, "secret_key": creds}

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

    def next_fault(self) -> str | None:
        """Count one API request against the fault switches."""
        return self._plan.next_request()

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
    def route(self, req: Request) -> tuple[Response, bool]:
        """(response, whether it was an API request) for a request."""
        allowed = []
        for method, pattern, handler, is_api in self._routes:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            if method == req.method:
                return handler(req, *match.groups()), is_api
            allowed.append(method)
        if allowed:
            return json_response(405, {"message": "Method Not Allowed"}, {"Allow": ", ".join(allowed)}), False
        return json_response(404, {"message": "Not Found"}), False

    def __repr__(self) -> str:
        state = f"serving at {self.url}" if self._server else "stopped"
        return f"<Sandbox seed={self.seed} {state}>"


def _generate_world(seed: int, size: int | None) -> Any:
    from .world import World

    return World.generate(seed=seed) if size is None else World.generate(seed=seed, n_transactions=size)
