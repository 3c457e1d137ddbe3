"""The beGateway DWH balance report (``/dwh/api/v2/reports``, ``/dwh/files/{id}.zip``) of the sandbox.

``validate_report_request`` checks a report request (first problem wins, as a
422 in the DWH error envelope of ``dwh_error``); ``DwhAPI`` runs a report's
life cycle in wall time (``queued`` -> ``pending`` -> ``successful`` or
``failed``), describes it as the API does, and serves its zip behind an
HMAC-signed, expiring S3-style link whose failures are S3's XML errors.

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
from .files import build_report_zip
from .http_util import UTC, Request, Response, json_response

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["DwhAPI", "dwh_error", "s3_error", "validate_report_request"]

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
            return s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                             "parameter, Signature query string parameter or the Authorization header should be specified")
        with self._lock:
            report = self._reports.get(report_id)
        amz_date, expires = req.param("X-Amz-Date") or "", req.param("X-Amz-Expires") or ""
        if report is None or self._state(report)[0] != "successful":
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        signature = req.param("X-Amz-Signature") or ""
        if not hmac.compare_digest(signature, self._signature(report_id, amz_date, expires)):
            return s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        signed = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if datetime.now(UTC) >= signed + timedelta(seconds=int(expires)):
            return s3_error(403, "AccessDenied", "Request has expired")
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


def s3_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An S3-style XML error, as the pre-signed file link answers.

    Examples
    --------
    >>> r = s3_error(503, "SlowDown", "Please reduce your request rate.")
    >>> r.status, b"<Code>SlowDown</Code>" in r.body, r.content_type
    (503, True, 'application/xml')
    """
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>")
    return Response(status, body.encode("utf-8"), headers or {}, "application/xml")
