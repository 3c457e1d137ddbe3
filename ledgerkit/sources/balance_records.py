"""beGateway DWH balance report: request it, wait for it, download the zip, read it.

The DWH report API is asynchronous (docs/CONTRACTS.md §2.3)::

    POST {dwh}/api/v2/reports            -> report id, status "queued" (or "pending", ...)
    GET  {dwh}/api/v2/reports/{id}       -> ... "pending" ... "successful" + file_url
    GET  file_url (pre-signed, no auth)  -> .zip with the two sheets

Deployments differ where the docs leave points open (docs/CONTRACTS.md
§2.6), and the loader learns which variant it talks to from the answers:
the report type is sent as documented (``balance_records``) and once more
as ``balance_records_report`` when the DWH refuses it; any status but
``successful``/``failed`` is polled on; ``date_to`` is sent as given and
the records are cut to ``[date_from, date_to)`` here, whether the server
reads it as exclusive or inclusive. What was learned is in the manifest's
``dialect``.

:func:`fetch_report` runs the whole flow for a validated
:class:`BalanceRecordsRequest` and returns a :class:`BalanceReport` with the
``balance_records`` and ``opening_balance`` frames (columns in
:mod:`ledgerkit._ingest.sheets`); the public entry points are
:func:`ledgerkit.load_balance_records` and ``lk.Client(...).balance_records(...)``. A report that takes too long
is not lost: the timeout error carries its id, and ``report_id=`` picks it
up later without asking for a new one. A link past its expiry is answered
by requesting the report again, not by retrying a dead link.

Examples
--------
>>> from ledgerkit.config import resolve
>>> from ledgerkit.sandbox import Sandbox
>>> with Sandbox(size=200, report_seconds=0.05) as sb:
...     config = resolve("balance_records", base_url=sb.dwh_url, secret=sb.credentials["balance_records"])
...     request = BalanceRecordsRequest.build("2025-01-01", "2025-02-01", currency="EUR", user_id=1)
...     report = fetch_report(config, request, ReportOptions.build(poll_interval=(0.01, 0.05)), progress=False)
>>> report.manifest["complete"], report.manifest["rerequests"]
(True, 0)
>>> list(report.opening_balance.columns[-3:])
['currency', 'date', 'opening_balance']
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from tqdm.auto import tqdm

from .._ingest.manifest import Manifest
from .._ingest.records import excerpt
from .._ingest.sheets import ReportSheets, read_report_file
from .._transport.http import (
    PullStats,
    RetryPolicy,
    api_error,
    new_file_session,
    new_session,
    parse_retry_after,
    send_json,
)
from .._transport.sessions import adopt_session
from ..config import ProviderConfig
from ..errors import (
    APIError,
    ConfigurationError,
    DataError,
    InvalidRequestError,
    LedgerkitError,
    ReportError,
    ReportExpiredError,
    ReportFailedError,
    ReportTimeoutError,
    TransportError,
)
from ..money import check_currency

__all__ = [
    "BalanceReport",
    "BalanceRecordsRequest",
    "ReportOptions",
    "fetch_report",
    "read_report",
    "FINAL_STATUSES",
    "SCOPES",
    "REPORT_TYPES",
]

#: Statuses after which a report changes no more; every other one is polled on.
FINAL_STATUSES = frozenset({"successful", "failed"})

#: The request_params that narrow a report (any of them: the report covers their intersection).
SCOPES = ("merchant_id", "shop_id", "gateway_id")

#: The two names of the report type: the docs' ``balance_records`` (sent first) and the official client's.
REPORT_TYPES = ("balance_records", "balance_records_report")

#: Fields of a report request, as a DWH error names them (``request_params.currency``, ``Date_from``).
_REQUEST_FIELDS = ("type", "format", "language", "user_id", "notification_email")
_PARAM_FIELDS = ("date_from", "date_to", "currency", *SCOPES)

_POLL_GROWTH = 1.5
_CHUNK = 1 << 20
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: What a notification e-mail address may look like: one ``@``, nothing blank or invisible.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
#: A report id the DWH may hand out: it goes into a URL path, so nothing that would change the path (matched whole).
_REPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")


@dataclass(frozen=True)
class BalanceReport:
    """The two sheets of a DWH balance report, and how they were obtained.

    Attributes
    ----------
    records : pandas.DataFrame
        Sheet ``balance_records``: one row per balance movement.
    opening_balance : pandas.DataFrame
        Sheet ``opening_balance``: one row per account, balance at ``date_from``.
    manifest : dict
        The pull manifest (also in each frame's ``.attrs["ledgerkit"]``).
    report_id : str or None
        The DWH report id (pass it as ``report_id=`` to read the report again);
        None for the reports of several accounts (each account's id is in
        ``manifest["accounts"][name]["report_id"]``).
    """

    records: pd.DataFrame = field(repr=False)
    opening_balance: pd.DataFrame = field(repr=False)
    manifest: dict = field(repr=False)
    report_id: str | None

    def __repr__(self) -> str:
        params = self.manifest.get("parameters", {})
        return (
            f"BalanceReport(report_id={self.report_id!r}, currency={params.get('currency')!r}, "
            f"period=[{params.get('date_from')}, {params.get('date_to')}), "
            f"records={len(self.records)} rows, opening_balance={len(self.opening_balance)} rows, "
            f"complete={self.manifest.get('complete')})"
        )


# --------------------------------------------------------------------------- arguments


def _aware(value: Any, parameter: str) -> datetime:
    """A timezone-aware datetime from a datetime, Timestamp or ISO string with offset; a date is midnight UTC."""
    if isinstance(value, str) and _DAY.match(value.strip()):
        value = date.fromisoformat(value.strip())
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigurationError(
                parameter, value, "an ISO 8601 timestamp with offset, e.g. '2025-01-01T00:00:00+03:00'"
            ) from exc
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise ConfigurationError(
            parameter, value, "a timezone-aware datetime, a date (midnight UTC) or an ISO 8601 string with offset"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(
            parameter,
            value.isoformat(),
            "a timezone-aware timestamp",
            "Naive times are ambiguous: add an offset ('+00:00') or a tzinfo.",
        )
    return value


def _optional_positive_int(value: Any, parameter: str) -> int | None:
    return None if value is None else _positive_int(value, parameter)


def _positive_int(value: Any, parameter: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ConfigurationError(parameter, value, "a positive integer (below 2**63)")
    return value


def _one_of(value: Any, parameter: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigurationError(parameter, value, "one of " + ", ".join(repr(a) for a in allowed))
    return value


def _poll_interval(value: Any) -> tuple[float, float]:
    numbers = value if isinstance(value, (tuple, list)) else ()
    if len(numbers) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise ConfigurationError("poll_interval", value, "a pair (first, most) of seconds, e.g. (0.5, 10.0)")
    first, most = (float(v) for v in numbers)
    if not (0 < first <= most) or not math.isfinite(most):
        raise ConfigurationError("poll_interval", value, "a pair (first, most) with 0 < first <= most")
    return first, most


@dataclass(frozen=True)
class BalanceRecordsRequest:
    """What to ask the DWH for, validated: built by :meth:`build`; :meth:`body` renders the POST body.

    Examples
    --------
    >>> r = BalanceRecordsRequest.build("2025-01-01", "2025-02-01", currency="eur", user_id=1, shop_id=7)
    >>> r.body()["request_params"]
    {'date_from': '2025-01-01T00:00:00.000000+00:00', 'date_to': '2025-02-01T00:00:00.000000+00:00', 'currency': 'EUR', 'shop_id': 7}
    """  # noqa: E501 - a doctest's output is one line

    date_from: datetime
    date_to: datetime
    currency: str
    user_id: int
    merchant_id: int | None = None
    shop_id: int | None = None
    gateway_id: int | None = None
    format: str = "csv"
    language: str = "en"
    notification_email: str | None = None

    @classmethod
    def build(
        cls,
        date_from: Any,
        date_to: Any,
        *,
        currency: Any,
        user_id: Any,
        merchant_id: Any = None,
        shop_id: Any = None,
        gateway_id: Any = None,
        format: Any = "csv",  # noqa: A002 - the API's own name
        language: Any = "en",
        notification_email: Any = None,
    ) -> BalanceRecordsRequest:
        """Check every argument (see :func:`ledgerkit.load_balance_records`).

        A ``ConfigurationError`` before any request.
        """
        start, end = _aware(date_from, "date_from"), _aware(date_to, "date_to")
        if not start < end:
            raise ConfigurationError(
                "date_to",
                end.isoformat(),
                f"a time after date_from ({start.isoformat()}); the period is [date_from, date_to)",
            )
        if notification_email is not None and (
            not isinstance(notification_email, str) or not _EMAIL.fullmatch(notification_email)
        ):
            raise ConfigurationError(
                "notification_email",
                notification_email,
                "an email address (name@domain, no spaces or control characters) or None",
            )
        return cls(
            start,
            end,
            check_currency(currency),
            _positive_int(user_id, "user_id"),
            _optional_positive_int(merchant_id, "merchant_id"),
            _optional_positive_int(shop_id, "shop_id"),
            _optional_positive_int(gateway_id, "gateway_id"),
            _one_of(format, "format", ("csv", "xlsx")),
            _one_of(language, "language", ("en", "ru")),
            notification_email,
        )

    def request_params(self) -> dict[str, Any]:
        """The body's ``request_params``: the period with its offset, the currency, the scopes given."""
        params: dict[str, Any] = {
            "date_from": self.date_from.isoformat(timespec="microseconds"),
            "date_to": self.date_to.isoformat(timespec="microseconds"),
            "currency": self.currency,
        }
        params.update({k: v for k in SCOPES if (v := getattr(self, k)) is not None})
        return params

    def body(self, type_name: str = REPORT_TYPES[0]) -> dict[str, Any]:
        """The POST body, with the report ``type_name`` (the documented one by default)."""
        body: dict[str, Any] = {
            "type": type_name,
            "format": self.format,
            "language": self.language,
            "user_id": self.user_id,
        }
        if self.notification_email is not None:
            body["notification_email"] = self.notification_email
        body["request_params"] = self.request_params()
        return body

    def parameters(self) -> dict[str, Any]:
        """The request as keyword arguments of :func:`ledgerkit.load_balance_records` (plain values)."""
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "currency": self.currency,
            "user_id": self.user_id,
            **{k: getattr(self, k) for k in SCOPES},
            "format": self.format,
            "language": self.language,
            "notification_email": self.notification_email,
        }


def _is_text_path(value: Any) -> bool:
    """A path given as text, or as a path object whose ``__fspath__`` gives text (a bytes path is refused)."""
    return isinstance(value, str) or (isinstance(value, os.PathLike) and isinstance(os.fspath(value), str))


def _check_writable(directory: str | os.PathLike[str]) -> None:
    """Refuse a ``download_dir`` this process cannot create the report's file in (tried with a temporary file)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ConfigurationError(
            "download_dir",
            str(directory),
            f"a directory this process can write to ({exc.strerror or type(exc).__name__})",
        ) from exc


@dataclass(frozen=True)
class ReportOptions:
    """How to wait for and keep a report, validated (see :func:`ledgerkit.load_balance_records`)."""

    report_id: str | None = None
    poll_timeout: float = 300.0
    poll_interval: tuple[float, float] = (0.5, 10.0)
    max_rerequests: int = 1
    download_dir: str | None = None

    @classmethod
    def build(
        cls,
        *,
        report_id: Any = None,
        poll_timeout: Any = 300.0,
        poll_interval: Any = (0.5, 10.0),
        max_rerequests: Any = 1,
        download_dir: Any = None,
    ) -> ReportOptions:
        if (
            isinstance(poll_timeout, bool)
            or not isinstance(poll_timeout, (int, float))
            or not 0 < poll_timeout < math.inf
        ):
            raise ConfigurationError("poll_timeout", poll_timeout, "a positive, finite number of seconds")
        if isinstance(max_rerequests, bool) or not isinstance(max_rerequests, int) or max_rerequests < 0:
            raise ConfigurationError("max_rerequests", max_rerequests, "an integer >= 0")
        if download_dir is not None:
            if not _is_text_path(download_dir):
                raise ConfigurationError("download_dir", download_dir, "an existing directory (a path) or None")
            if not str(download_dir).strip() or not Path(download_dir).is_dir():
                raise ConfigurationError("download_dir", str(download_dir), "an existing directory")
            _check_writable(download_dir)
        if report_id is not None and (not isinstance(report_id, str) or not _REPORT_ID.fullmatch(report_id)):
            raise ConfigurationError(
                "report_id", report_id, "a report id string such as 'c3050350-358c-4136-9ba2-da187fc443f5'"
            )
        return cls(
            report_id,
            float(poll_timeout),
            _poll_interval(poll_interval),
            max_rerequests,
            None if download_dir is None else os.fspath(download_dir),
        )

    def parameters(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "poll_timeout": self.poll_timeout,
            "poll_interval": list(self.poll_interval),
            "max_rerequests": self.max_rerequests,
            "download_dir": self.download_dir,
        }


# --------------------------------------------------------------------------- HTTP


def parse_dwh_error(response: requests.Response) -> tuple[str, list[dict]]:
    """``(message, field_errors)`` from the DWH error envelope.

    The field a 422 is about is read from ``message`` or, when that is the
    generic "Unprocessable entity", from ``friendly_message``; the message
    carries ``friendly_message`` and ``help`` whenever they add something.

    Examples
    --------
    >>> r = requests.Response(); r.status_code = 422
    >>> r._content = b'{"error": {"code": "unprocessable_entity", "message": "request_params.currency is required"}}'
    >>> parse_dwh_error(r)
    ('request_params.currency is required', [{'parameter': 'request_params.currency', 'message': 'request_params.currency is required'}])
    >>> r._content = (b'{"error": {"code": "unprocessable_entity", "friendly_message": "Type is invalid.", '
    ...               b'"help": "https://doc.ecomcharge.com/codes/unprocessable_entity", "message": "Unprocessable entity"}}')
    >>> parse_dwh_error(r)
    ('Unprocessable entity: Type is invalid. (help: https://doc.ecomcharge.com/codes/unprocessable_entity)', [{'parameter': 'type', 'message': 'Type is invalid.'}])
    """  # noqa: E501 - a doctest's output is one line
    error = response.json().get("error") or {}
    message, friendly, help_url = (str(error.get(k) or "").strip() for k in ("message", "friendly_message", "help"))
    named = _named_field(message)
    field_name = named or _named_field(friendly)
    text = message or friendly or str(response.reason)
    if friendly and message and friendly not in message and (named is None or message not in friendly):
        text = f"{message}: {friendly}"
    if help_url:
        text += f" (help: {help_url})"
    detail = message if named else friendly or message
    return text, [{"parameter": field_name, "message": detail}] if field_name else []


def _named_field(text: str) -> str | None:
    """The request field an error text begins with.

    ``request_params.currency`` as it is, ``Date_from`` -> ``request_params.date_from``.
    """
    first = text.split(" ", 1)[0].strip(".:,").casefold()
    if first.startswith(("request_params.", "request_parameters.")) or first in _REQUEST_FIELDS:
        return first
    if first in _PARAM_FIELDS:
        return f"request_params.{first}"
    return None


def _parse_s3_error(response: requests.Response) -> tuple[str, list[dict]]:
    return f"file link: {_s3_message(response)}", []


def _s3_message(response: requests.Response) -> str:
    text = response.text
    code = text.partition("<Code>")[2].partition("</Code>")[0]
    message = text.partition("<Message>")[2].partition("</Message>")[0]
    return f"{code}: {message}" if code else (message or response.reason or "error")


def _report_of(body: Any, url: str) -> dict[str, Any]:
    """The ``data.report`` object of a DWH answer, its fields of the documented types (else ``DataError``)."""
    data = body.get("data") if isinstance(body, dict) else None
    report = data.get("report") if isinstance(data, dict) else None
    if not isinstance(report, dict) or "id" not in report or "status" not in report:
        raise DataError(f"the DWH answer to {url} has no data.report with an id and a status: {excerpt(body)}")
    wrong = [
        (name, expected)
        for name, ok, expected in (
            (
                "id",
                isinstance(report["id"], str) and _REPORT_ID.fullmatch(report["id"]),
                "a report id (letters, digits, '.', '_', ':', '~', '-'; at most 128)",
            ),
            ("status", isinstance(report["status"], str), "a status name (text)"),
            (
                "file_url",
                report.get("file_url") is None
                or (isinstance(report["file_url"], str) and report["file_url"].startswith(("http://", "https://"))),
                "an http(s) URL",
            ),
            (
                "request_params",
                report.get("request_params") is None or isinstance(report["request_params"], dict),
                "an object",
            ),
        )
        if not ok
    ]
    if wrong:
        name, expected = wrong[0]
        raise DataError(
            f"the DWH answer to {url}: data.report.{name} is {excerpt(report.get(name))}: expected {expected}"
        )
    return report


class _Dwh:
    """The three calls of the DWH flow over two sessions: API (Basic auth) and file (none)."""

    def __init__(
        self,
        base_url: str,
        credentials: Any,
        policy: RetryPolicy,
        stats: PullStats,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url
        self.api = new_session(credentials) if session is None else adopt_session(session, credentials, base_url)
        # The file link is pre-signed: S3 refuses a request that also carries Authorization.
        self.files = new_file_session()  # no auth; its debug dump hides the link's signature
        self.policy, self.stats = policy, stats

    def close(self) -> None:
        self.api.close()
        self.files.close()

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        url = self.base_url + path
        try:
            _, decoded = send_json(
                self.api, method, url, json=body, policy=self.policy, stats=self.stats, parse_error=parse_dwh_error
            )
        except APIError as exc:
            _with_dwh_detail(exc)
            raise  # the same error, its own cause kept
        except DataError as exc:  # a body that is no JSON, or nests deeper than the decoder goes
            raise DataError(f"the DWH answer to {url}: {exc}", rows=exc.rows) from exc
        return _report_of(decoded, url)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/v2/reports``: the new report."""
        return self._call("POST", "/api/v2/reports", body)

    def show(self, report_id: str) -> dict[str, Any]:
        """``GET /api/v2/reports/{id}``: the report now."""
        return self._call("GET", f"/api/v2/reports/{report_id}")

    def download(self, url: str, directory: str | None) -> Path | str:
        """Stream the file to disk; the path, or the reason the link is dead (a 403)."""
        retry = 0
        while True:
            try:
                return self._download_once(url, directory)
            except _Transient as exc:
                transient = exc
            if retry >= self.policy.max_retries:
                # Raised outside the handler, with no cause: behind it is the requests error, whose text holds
                # the signed file link (a credential), so neither __cause__ nor __context__ may lead to it.
                raise transient.final
            self.stats.retried(transient.reason)
            self.policy.sleep(transient.wait if transient.wait is not None else self.policy.backoff(retry))
            retry += 1

    def _download_once(self, url: str, directory: str | None) -> Path | str:
        self.stats.count(requests=1)
        try:
            with self.files.get(url, stream=True, timeout=self.policy.timeout) as response:
                status = response.status_code
                if status == 403:
                    return _s3_message(response)
                if status == 429 or status >= 500:
                    wait = parse_retry_after(response.headers.get("Retry-After")) if status == 429 else None
                    raise _Transient(str(status), api_error(response, _parse_s3_error), wait)
                if status >= 400:
                    raise api_error(response, _parse_s3_error)
                return self._save(response, directory)
        except requests.RequestException as exc:
            failure = type(exc).__name__
        # Outside the handler, with no cause: a requests error quotes the file link, whose signature is a credential.
        final = TransportError(f"downloading the report file failed: {failure}. Check the network, then call again.")
        raise _Transient("transport", final, None)

    def _save(self, response: requests.Response, directory: str | None) -> Path:
        handle, name = tempfile.mkstemp(suffix=".zip", prefix="ledgerkit-dwh-", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    out.write(chunk)
                    self.stats.count(bytes=len(chunk))
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)


def _with_dwh_detail(exc: APIError) -> APIError:
    """``exc`` with the DWH envelope's ``code``, ``friendly_message`` and ``help`` as attributes (None if absent)."""
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    error = error if isinstance(error, dict) else {}
    for name in ("code", "friendly_message", "help"):
        setattr(exc, name, error.get(name))
    return exc


def _names_type(exc: InvalidRequestError) -> bool:
    return any(e.get("parameter") == "type" for e in exc.field_errors)


def _may_be_the_type(exc: InvalidRequestError) -> bool:
    """A 422 to a create call that names ``type``, or names no field at all (a generic 422)."""
    return exc.status == 422 and (_names_type(exc) or not exc.field_errors)


class _Transient(Exception):  # noqa: N818 - a signal caught in this module, never shown as it is
    """A download failure worth retrying; ``final`` is raised when retries run out."""

    def __init__(self, reason: str, final: Exception, wait: float | None) -> None:
        super().__init__(reason)
        self.reason, self.final, self.wait = reason, final, wait


# --------------------------------------------------------------------------- polling


@dataclass
class _Progress:
    """Polling state shared across re-requests: counters, history, the bar."""

    bar: Any
    polls: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def saw(self, report: dict[str, Any]) -> None:
        status = str(report.get("status"))
        last = self.history[-1] if self.history else None
        if last is None or last["report_id"] != report["id"] or last["status"] != status:
            self.history.append(
                {
                    "report_id": report["id"],
                    "status": status,
                    "attempt": report.get("attempt"),
                    "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                }
            )
        self.bar.set_postfix_str(f"{report['id']} {status}", refresh=False)
        self.bar.update(1)


def _wait_until_final(
    dwh: _Dwh, report: dict[str, Any], progress: _Progress, *, timeout: float, interval: tuple[float, float]
) -> dict[str, Any]:
    """Poll with growing intervals until the report is final or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    wait, most = interval
    progress.saw(report)
    while _status(report) not in FINAL_STATUSES:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReportTimeoutError(
                f"report {report['id']} is still {report.get('status')!r} after {timeout:g} s. The DWH keeps "
                f"working on it: call load_balance_records again with report_id={report['id']!r} to pick it up "
                "without requesting a new one (or pass a larger poll_timeout).",
                report_id=report["id"],
                status=str(report.get("status")),
            )
        time.sleep(min(wait, left))
        wait = min(wait * _POLL_GROWTH, most)
        report = dwh.show(report["id"])
        progress.polls += 1
        progress.saw(report)
    if _status(report) == "failed":
        attempt = f" (attempt {report['attempt']})" if report.get("attempt") is not None else ""
        raise ReportFailedError(
            f"report {report['id']} ended 'failed' on the DWH{attempt}. Check the parameters and request it "
            "again; if it keeps failing, ask the provider about this report id.",
            report_id=report["id"],
            status=str(report.get("status")),
        )
    return report


def _status(report: dict[str, Any]) -> str:
    """The report's status, compared without case or surrounding blanks (statuses are an open set)."""
    return str(report.get("status")).strip().casefold()


def _same_value(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str) and isinstance(theirs, str) and "T" in ours:
        try:
            echoed = datetime.fromisoformat(theirs.replace("Z", "+00:00"))
        except ValueError:
            return False
        # An echo without an offset is UTC (the DWH echoes dates in UTC).
        return datetime.fromisoformat(ours) == (echoed if echoed.tzinfo else echoed.replace(tzinfo=UTC))
    return ours == theirs


def _check_same_request(report: dict[str, Any], params: dict[str, Any]) -> None:
    """A picked-up report must be the one asked for: same currency, period and scope."""
    theirs = report.get("request_params") or {}
    keys = ("currency", "date_from", "date_to", *SCOPES)
    differ = [k for k in keys if not _same_value(params.get(k), theirs.get(k))]
    if differ:
        raise ConfigurationError(
            "report_id",
            report["id"],
            "a report of the request given: it differs in "
            + ", ".join(f"{k} (report {theirs.get(k)!r}, arguments {params.get(k)!r})" for k in differ),
            "Pass the same date_from, date_to, currency and scope as when it was requested.",
        )


def _expired(report: dict[str, Any]) -> bool:
    expiry = report.get("expiry_date")
    if not expiry:
        return False
    try:
        when = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) <= datetime.now(UTC)


# --------------------------------------------------------------------------- the loader


def fetch_report(
    config: ProviderConfig,
    request: BalanceRecordsRequest,
    options: ReportOptions,
    *,
    progress: bool | None = None,
    retry: RetryPolicy | None = None,
    on_report: Callable[[str], None] | None = None,
    type_name: str | None = None,
    resume: dict[str, Any] | None = None,
    session: requests.Session | None = None,
) -> BalanceReport:
    """Run ``request`` to a :class:`BalanceReport`: create (or pick up) the report, wait, download, read.

    ``on_report(id)`` is called as soon as a report exists (created or
    picked up), before waiting for it: :mod:`ledgerkit.store` records the id
    there so that a killed kernel can pick the report up. Every error raised
    once a report exists names it (see :func:`_naming_report`); its
    ``.resume`` is the request and options as keyword arguments of
    :func:`ledgerkit.load_balance_records` plus ``resume``.
    ``type_name`` is the report type to send first (default the documented
    ``balance_records``): a caller that remembers, per server, the name
    that worked (``manifest["dialect"]["report_type"]``) passes it here.
    ``session`` lends its settings to the API session, as for the other loaders.
    """
    body = request.body()
    resume = {**request.parameters(), **options.parameters(), **(resume or {})}
    stats = PullStats()
    params = body["request_params"]
    manifest = Manifest(
        "balance_records",
        {
            **params,
            "format": body["format"],
            "language": body["language"],
            "user_id": body["user_id"],
            "base_url": config.base_url,
        },
    )
    dwh = _Dwh(config.base_url, config.credentials, retry or RetryPolicy(), stats, session)
    bar = tqdm(desc="DWH balance report", unit=" polls", disable=progress is False, leave=False)
    run = _Run(
        dwh,
        body,
        _Progress(bar),
        timeout=options.poll_timeout,
        interval=options.poll_interval,
        max_rerequests=options.max_rerequests,
        download_dir=options.download_dir,
        on_report=on_report,
        type_name=type_name or body["type"],
    )
    try:
        report, (sheets, learned) = run.fetch(options.report_id)
    except LedgerkitError as exc:
        _naming_report(
            exc,
            run.current or options.report_id,
            {**resume, "base_url": config.base_url, "psp_id": config.credentials.user},
        )
        raise
    finally:
        bar.close()
        dwh.close()
    manifest.pages, manifest.rows, manifest.rounded_values = 1, len(sheets.records), sheets.rounded_values
    manifest.complete = True
    record = manifest.as_dict(stats)
    # Added after as_dict: frames.Manifest's extra values are flattened to text when nested.
    record.update(
        report_id=report["id"],
        report_ids=list(run.report_ids),
        status_history=run.progress.history,
        polls=run.progress.polls,
        rerequests=run.rerequests,
        format=sheets.format,
        language=report.get("language", body["language"]),
        generated_at=report.get("generated_at"),
        expiry_date=report.get("expiry_date"),
        rows_per_sheet={"balance_records": len(sheets.records), "opening_balance": len(sheets.opening_balance)},
        dialect={
            "report_type": run.type_name,
            "report_type_refused": run.type_refused,
            "statuses": list(dict.fromkeys(h["status"] for h in run.progress.history)),
            **learned,
        },
    )
    for frame in (sheets.records, sheets.opening_balance):
        frame.attrs["ledgerkit"] = record
    return BalanceReport(sheets.records, sheets.opening_balance, record, report["id"])


def _naming_report(exc: LedgerkitError, report_id: str | None, resume: dict[str, Any]) -> LedgerkitError:
    """``exc`` with ``report_id``, ``.resume`` and a message naming the report, when one exists.

    ``.resume`` repeats the call with ``report_id=`` so that the report is
    picked up, not requested again -- except after a failed report or a dead
    link, where a fresh request is the way on (``report_id=None``).
    """
    if report_id is None or isinstance(exc, ConfigurationError):
        return exc
    fresh = isinstance(exc, (ReportFailedError, ReportExpiredError))
    exc.report_id = report_id  # type: ignore[attr-defined]  # any error once a report exists names it
    exc.resume = {**resume, "report_id": None if fresh else report_id}
    message = str(exc.args[0]) if exc.args else str(exc)
    if not fresh and f"report_id={report_id!r}" not in message:
        message += (
            f" [report {report_id}: call load_balance_records again with report_id={report_id!r} "
            "(or **err.resume) to pick it up without requesting a new one]"
        )
        exc.args = (message, *exc.args[1:])
    return exc


@dataclass
class _Run:
    """One pull: create (or pick up) a report, wait, download; re-request a dead link."""

    dwh: _Dwh
    body: dict[str, Any]
    progress: _Progress
    timeout: float
    interval: tuple[float, float]
    max_rerequests: int
    download_dir: Any
    on_report: Callable[[str], None] | None = None
    type_name: str = REPORT_TYPES[0]
    type_refused: str | None = None
    rerequests: int = 0
    report_ids: list[str] = field(default_factory=list)
    current: str | None = None

    def fetch(self, report_id: str | None) -> tuple[dict[str, Any], Any]:
        if report_id:
            report = self.dwh.show(report_id)
            _check_same_request(report, self.body["request_params"])
            if isinstance(report.get("type"), str):
                self.type_name = report["type"]
        else:
            report = self._create()
        while True:
            self.report_ids.append(report["id"])
            self.current = report["id"]
            if self.on_report is not None:
                self.on_report(report["id"])
            report = _wait_until_final(self.dwh, report, self.progress, timeout=self.timeout, interval=self.interval)
            dead = "expiry_date is in the past" if _expired(report) else None
            if dead is None:
                dead, sheets = self._read(report)
                if dead is None:
                    return report, sheets
            if self.rerequests >= self.max_rerequests:
                raise ReportExpiredError(
                    f"the file link of report {report['id']} is dead ({dead}) after {self.rerequests} fresh "
                    f"request(s). Call load_balance_records again (without report_id) to request a new report.",
                    report_id=report["id"],
                    status=str(report.get("status")),
                )
            self.rerequests += 1
            report = self._create()

    def _create(self) -> dict[str, Any]:
        """``POST`` the report under ``type_name``; once, under the other name when the DWH refuses the type.

        The docs name the type ``balance_records``, the official client
        ``balance_records_report``. A 422 naming ``type``, or naming no field
        (a generic "Unprocessable entity"), is answered by the other name;
        the name that worked is kept for later requests of this pull.
        """
        try:
            return self.dwh.create({**self.body, "type": self.type_name})
        except InvalidRequestError as exc:
            if self.type_refused is not None or not _may_be_the_type(exc):
                raise
            refused = exc
        other = next(t for t in REPORT_TYPES if t != self.type_name)
        try:
            report = self.dwh.create({**self.body, "type": other})
        except InvalidRequestError as exc:
            if exc.status != 422 or not _names_type(exc):
                raise
            note = f" [report type {self.type_name!r} refused as above; {other!r} refused too: {exc.args[0]}]"
            refused.args = (str(refused.args[0]) + note, *refused.args[1:])
            raise refused from exc
        self.type_refused, self.type_name = self.type_name, other
        return report

    def _read(self, report: dict[str, Any]) -> tuple[str | None, Any]:
        url = report.get("file_url")
        if not url:
            raise ReportError(
                f"report {report['id']} is 'successful' but has no file_url",
                report_id=report["id"],
                status=str(report.get("status")),
            )
        path = self.dwh.download(url, str(self.download_dir) if self.download_dir is not None else None)
        if isinstance(path, str):
            return path, None
        try:
            if self.download_dir is not None:
                path = path.replace(Path(self.download_dir) / f"{report['id']}.zip")
            return None, read_report(path, self.body["request_params"])
        finally:
            if self.download_dir is None:
                path.unlink(missing_ok=True)


def read_report(source: Any, request_params: dict[str, Any]) -> tuple[ReportSheets, dict[str, Any]]:
    """Read a downloaded report and keep its period: ``(sheets, what the file taught)``.

    ``date_to`` is sent unchanged, a superset of the period whether the DWH
    reads it as exclusive (our reading) or inclusive (the docs' example
    ends at ``23:59:59.999999``); records at or after it are dropped here,
    counted, and their presence tells the server's reading.

    Returns
    -------
    (ReportSheets, dict)
        The sheets with ``records`` in ``[date_from, date_to)``, and the
        manifest's ``dialect`` entries about the file: ``missing_columns``,
        ``derived_columns``, ``extra_columns``, ``units``,
        ``rows_at_or_after_date_to`` and ``date_to_inclusive`` (True when such
        rows came back, None when the answer does not tell).

    Examples
    --------
    >>> sheets, learned = read_report("report.zip", {"date_to": "2025-02-01T00:00:00+00:00"})  # doctest: +SKIP
    >>> learned["rows_at_or_after_date_to"], learned["date_to_inclusive"]                       # doctest: +SKIP
    (1, True)
    """
    sheets = read_report_file(source)
    records = sheets.records
    late = (records["created_at"] >= pd.Timestamp(request_params["date_to"])).to_numpy()
    if late.any():
        sheets = replace(sheets, records=records.loc[~late].reset_index(drop=True))
    learned = {
        "missing_columns": sheets.missing_columns,
        "derived_columns": sheets.derived_columns,
        "extra_columns": sheets.extra_columns,
        "units": sheets.units,
        "rows_at_or_after_date_to": int(late.sum()),
        "date_to_inclusive": True if late.any() else None,
    }
    return sheets, learned
