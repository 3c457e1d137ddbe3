"""The beGateway DWH balance report (``/dwh/api/v2/reports``, ``/dwh/files/{id}.zip``) of the sandbox.

``validate_report_request`` checks a report request (first problem wins, as a
422 in the DWH error envelope of ``dwh_error``); ``DwhAPI`` runs a report's
life cycle in wall time (``queued`` -> ``pending`` -> ``successful`` or
``failed``), describes it as the API does, and serves its zip behind an
HMAC-signed, expiring S3-style link whose failures are S3's XML errors.

The sandbox's dialect sets the report ``type`` it accepts, the style of the
error bodies (the field named in ``message``, or a generic message with the
field only in ``friendly_message``), the statuses a report goes through,
how dates are echoed and read (no offset: refused or UTC; ``date_to``
exclusive or inclusive) and the report sheet (:mod:`.justified_balance`).

Examples
--------
>>> validate_report_request({"type": "balance_records", "format": "pdf"})[0]
'format is invalid, expected one of: csv, xlsx'
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..money import is_currency
from .dialects import Dialect, get_dialect
from .files import JUSTIFIED_RECORD_COLUMNS, RECORD_COLUMNS, build_report_zip
from .http_util import UTC, Request, Response, json_response
from .justified_balance import JustifiedBook

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["DwhAPI", "dwh_error", "generic_dwh_error", "s3_error", "validate_report_request"]

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
    return json_response(
        status, {"error": {"code": code, "message": message, "friendly_message": friendly, "help": _DWH_HELP}}
    )


_GENERIC_HELP = "https://doc.ecomcharge.com/codes/"
_GENERIC_MESSAGES = {
    "unauthorized": "Unauthorized",
    "unprocessable_entity": "Unprocessable entity",
    "not_found": "Not found",
}
_GENERIC_FRIENDLY = {"unauthorized": "You can't have access to this area", "not_found": "Report not found."}


def generic_dwh_error(status: int, code: str, friendly: str | None = None) -> Response:
    """The error envelope of the official client's fixtures: a fixed ``message``, the detail in ``friendly_message``.

    Examples
    --------
    >>> generic_dwh_error(422, "unprocessable_entity", "Type is invalid.").body.decode()
    '{"error":{"code":"unprocessable_entity","friendly_message":"Type is invalid.","help":"https://doc.ecomcharge.com/codes/unprocessable_entity","message":"Unprocessable entity"}}'
    """  # noqa: E501 - a doctest's output is one line
    return json_response(
        status,
        {
            "error": {
                "code": code,
                "friendly_message": friendly or _GENERIC_FRIENDLY[code],
                "help": _GENERIC_HELP + code,
                "message": _GENERIC_MESSAGES[code],
            }
        },
    )


@dataclass(frozen=True)
class _Problem:
    """What is wrong with a report request: the field as the message names it, and why."""

    field: str  # "format", "request_params.date_to"
    reason: str  # "is required", "is invalid, expected one of: csv, xlsx"

    def __str__(self) -> str:
        return f"{self.field} {self.reason}"

    @property
    def friendly(self) -> str:
        """The generic envelope's ``friendly_message``: ``Date_from is required.``, ``Type is invalid.``."""
        name = self.field.rsplit(".", 1)[-1].capitalize()
        return f"{name} is required." if self.reason == "is required" else f"{name} is invalid."


def _iso_time(value: Any, naive_utc: bool) -> datetime | None:
    """An ISO 8601 time with an offset (or, when ``naive_utc``, without one: UTC); None when not one."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC) if naive_utc else None
    return parsed


def validate_report_request(body: Any, dialect: Dialect | str = "begateway") -> tuple[str | None, dict[str, Any]]:
    """Check a DWH report request; return (first error message or None, cleaned values).

    Examples
    --------
    >>> validate_report_request({"type": "balance_records", "format": "csv", "user_id": 1,
    ...                          "request_params": {"date_from": "2025-01-01T00:00:00+03:00"}})[0]
    'request_params.date_to is required'
    """
    problem, clean = _check_report_request(body, get_dialect(dialect))
    return (None if problem is None else str(problem)), clean


def _check_report_request(body: Any, dialect: Dialect) -> tuple[_Problem | None, dict[str, Any]]:
    """The first problem of a report request (or None) and the cleaned values."""
    if not isinstance(body, dict):
        return _Problem("body", "must be a JSON object"), {}
    clean: dict[str, Any] = {}
    for name, allowed in (("type", (dialect.report_type,)), ("format", ("csv", "xlsx")), ("language", ("en", "ru"))):
        value = body.get(name, "en" if name == "language" else None)
        if value is None:
            return _Problem(name, "is required"), {}
        if value not in allowed:
            return _Problem(name, f"is invalid, expected one of: {', '.join(allowed)}"), {}
        clean[name] = value
    if body.get("user_id") is None:
        return _Problem("user_id", "is required"), {}
    if isinstance(body["user_id"], bool) or not isinstance(body["user_id"], int):
        return _Problem("user_id", "is invalid, expected an integer"), {}
    email = body.get("notification_email")
    if email is not None and not isinstance(email, str):
        return _Problem("notification_email", "is invalid, expected a string"), {}
    clean.update(user_id=body["user_id"], notification_email=email)
    key = "request_params" if "request_params" in body else "request_parameters"
    params = body.get(key)
    if not isinstance(params, dict):
        return _Problem("request_params", "is required"), {}
    for name in ("date_from", "date_to"):
        if params.get(name) is None:
            return _Problem(f"{key}.{name}", "is required"), {}
        clean[name] = _iso_time(params[name], dialect.naive_dates_utc)
        if clean[name] is None:
            expected = "ISO 8601" if dialect.naive_dates_utc else "ISO 8601 with offset"
            return _Problem(f"{key}.{name}", f"is invalid, expected {expected} (YYYY-MM-DDThh:mm:ss±hh:mm)"), {}
    if clean["date_to"] < clean["date_from"]:
        return _Problem(f"{key}.date_to", "is invalid, must not be before date_from"), {}
    currency = params.get("currency")
    if currency is None:
        return _Problem(f"{key}.currency", "is required"), {}
    if not is_currency(currency):
        return _Problem(f"{key}.currency", "is invalid, expected an ISO 4217 or crypto code"), {}
    clean["currency"] = currency
    for name in sorted(_DWH_FIELDS):
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return _Problem(f"{key}.{name}", "is invalid, expected an integer"), {}
        clean[name] = value
    return None, clean


def _utc_micro(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


_ECHO = {"micro": _utc_micro, "iso": _utc_iso, "microZ": _utc_z}


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

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self._lock = threading.Lock()
        self._reports: dict[str, _Report] = {}
        self._signing_key = hashlib.sha256(f"sandbox-s3-{sandbox.seed}".encode()).digest()
        self.dialect = sandbox.dialect
        self._justified: JustifiedBook | None = None

    def _authorized(self, req: Request) -> bool:
        return req.auth is not None and self.sb.world.is_psp(*req.auth)

    def _error(self, status: int, code: str, message: str, friendly: str | None = None) -> Response:
        """An error in the dialect's envelope (``friendly`` only shapes the generic one)."""
        if self.dialect.dwh_errors == "generic":
            return generic_dwh_error(status, code, friendly)
        return dwh_error(status, code, message)

    def create(self, req: Request) -> Response:
        """``POST /api/v2/reports``."""
        if not self._authorized(req):
            return self._error(401, "unauthorized", "Unauthorized")
        problem, clean = _check_report_request(req.json, self.dialect)
        if problem:
            return self._error(422, "unprocessable_entity", str(problem), problem.friendly)
        report = _Report(str(uuid.uuid4()), datetime.now(UTC), time.monotonic(), clean, self.sb.take_expired_link())
        with self._lock:
            self._reports[report.id] = report
        return json_response(201, {"data": {"report": self._describe(report, fresh=True)}})

    def show(self, req: Request, report_id: str) -> Response:
        """``GET /api/v2/reports/{id}``."""
        if not self._authorized(req):
            return self._error(401, "unauthorized", "Unauthorized")
        with self._lock:
            report = self._reports.get(report_id)
        if report is None:
            return self._error(404, "not_found", f"Report {report_id} not found")
        return json_response(200, {"data": {"report": self._describe(report)}})

    def _first_state(self, report: _Report) -> tuple[str, int | None, datetime]:
        """(status, attempt or None when the dialect shows none, updated_at) of a report just created."""
        return self.dialect.report_statuses[0], (0 if self.dialect.first_status_attempt else None), report.created

    def _state(self, report: _Report) -> tuple[str, int | None, datetime]:
        """(status, attempt, updated_at) of a report now."""
        seconds = self.sb.report_seconds
        elapsed = time.monotonic() - report.created_clock
        faults = self.sb.faults
        if elapsed < seconds / 2:
            return self._first_state(report)
        if elapsed < seconds or faults.report_stuck:
            return self.dialect.report_statuses[1], 1, report.created + timedelta(seconds=seconds / 2)
        if faults.report_fail:
            return "failed", 3, report.created + timedelta(seconds=seconds)
        return "successful", 1, report.created + timedelta(seconds=seconds)

    def _generated_at(self, report: _Report) -> datetime:
        generated = report.created + timedelta(seconds=self.sb.report_seconds)
        return generated - _REPORT_KEEP - timedelta(hours=1) if report.expired_link else generated

    def _describe(self, report: _Report, fresh: bool = False) -> dict[str, Any]:
        """The report object of the API; ``fresh`` (the POST answer) is always in the first status."""
        status, attempt, updated = self._first_state(report) if fresh else self._state(report)
        r = report.request
        echo = _ECHO[self.dialect.echo_create if fresh else self.dialect.echo_show]
        params = {"currency": r["currency"], "date_from": echo(r["date_from"]), "date_to": echo(r["date_to"])}
        params.update({k: r[k] for k in sorted(_DWH_FIELDS) if r.get(k) is not None})
        done = status == "successful"
        generated = self._generated_at(report) if done else None
        described = {
            "id": report.id,
            "status": status,
            "type": r["type"],
            "format": r["format"],
            "engine": "oban",
            "attempt": attempt,
            "updated_at": _utc_z(updated),
            "language": r["language"],
            "user_id": r["user_id"],
            "psp_id": self.sb.world.psp["id"],
            "created_at": _utc_z(report.created),
            "generated_at": _utc_z(generated) if generated else None,
            "expiry_date": _utc_z(generated + _REPORT_KEEP) if generated else None,
            "file_url": self._file_url(report, generated) if generated else None,
            "notification_email": r["notification_email"],
            "request_params": dict(sorted(params.items())),
        }
        if attempt is None:
            del described["attempt"]
        return described

    def _signature(self, report_id: str, amz_date: str, expires: str) -> str:
        return hmac.new(self._signing_key, f"{report_id}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def _file_url(self, report: _Report, generated: datetime) -> str:
        amz_date = generated.strftime("%Y%m%dT%H%M%SZ")
        expires = str(int(_REPORT_KEEP.total_seconds()))
        query = urlencode(
            [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", f"SANDBOXKEY/{generated:%Y%m%d}/eu-central-1/s3/aws4_request"),
                ("X-Amz-Date", amz_date),
                ("X-Amz-Expires", expires),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", self._signature(report.id, amz_date, expires)),
            ]
        )
        return f"{self.sb.dwh_url}/files/{report.id}.zip?{query}"

    def download(self, req: Request, report_id: str) -> Response:
        """``GET /files/{id}.zip``: the pre-signed link (no API auth, S3's errors)."""
        if req.header("Authorization") is not None:
            return s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                "parameter, Signature query string parameter or the Authorization header should be specified",
            )
        with self._lock:
            report = self._reports.get(report_id)
        amz_date, expires = req.param("X-Amz-Date") or "", req.param("X-Amz-Expires") or ""
        if report is None or self._state(report)[0] != "successful":
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        signature = req.param("X-Amz-Signature") or ""
        if not hmac.compare_digest(signature, self._signature(report_id, amz_date, expires)):
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        signed = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if datetime.now(UTC) >= signed + timedelta(seconds=int(expires)):
            return s3_error(403, "AccessDenied", "Request has expired")
        return Response(
            200,
            self._file(report),
            {"Content-Disposition": f'attachment; filename="{report_id}.zip"'},
            "application/zip",
        )

    def _file(self, report: _Report) -> bytes:
        """The zip, built on first download (outside the lock: other reports stay served)."""
        if report.file is None:
            r = report.request
            scope = {k: r[k] for k in sorted(_DWH_FIELDS)}
            records, opening = self.report_rows(r["date_from"], r["date_to"], r["currency"], **scope)
            columns = JUSTIFIED_RECORD_COLUMNS if self.dialect.justified_sheet else RECORD_COLUMNS
            built = build_report_zip(records, opening, fmt=r["format"], language=r["language"], record_columns=columns)
            with self._lock:
                report.file = report.file or built
        return report.file

    def report_rows(
        self,
        date_from: datetime,
        date_to: datetime,
        currency: str,
        merchant_id: int | None = None,
        shop_id: int | None = None,
        gateway_id: int | None = None,
    ) -> tuple[list[dict], list[dict]]:
        """(records, opening rows) of the report this dialect makes for these request parameters.

        The ids narrow to their intersection; ``date_to`` is exclusive, or
        inclusive in a dialect that reads it so. Rows are keyed by frame
        column names, money in integer minor units.
        """
        if self.dialect.date_to_inclusive:
            date_to = date_to + timedelta(microseconds=1)  # times are whole microseconds: created_at <= date_to
        if not self.dialect.justified_sheet:
            return self.sb.world.balance_records_in(
                date_from, date_to, currency, merchant_id=merchant_id, shop_id=shop_id, gateway_id=gateway_id
            )
        with self.sb.world.lock:
            book = self._justified
            if book is None or book.size != len(self.sb.world.balance_records):
                book = self._justified = JustifiedBook(self.sb.world.book)
            keys = book.in_scope(currency, merchant_id, shop_id, gateway_id)
            return book.records_in(date_from.astimezone(UTC), date_to.astimezone(UTC), keys)


def s3_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An S3-style XML error, as the pre-signed file link answers.

    Examples
    --------
    >>> r = s3_error(503, "SlowDown", "Please reduce your request rate.")
    >>> r.status, b"<Code>SlowDown</Code>" in r.body, r.content_type
    (503, True, 'application/xml')
    """
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    )
    return Response(status, body.encode("utf-8"), headers or {}, "application/xml")
