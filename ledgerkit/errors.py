"""The whole ledgerkit exception tree.

Every error a public function raises is a :class:`LedgerkitError`; a user
never sees a bare ``requests``, ``KeyError`` or pandas traceback::

    LedgerkitError
    ├── ConfigurationError (also ValueError)   bad argument, missing credentials
    ├── APIError                               the provider answered with an error
    │   ├── AuthenticationError                401 / 403
    │   ├── InvalidRequestError                400 / 422, with the provider's field errors
    │   ├── NotFoundError                      404
    │   ├── RateLimitError                     429 (after retries ran out)
    │   └── ServerError                        5xx (after retries ran out)
    ├── TransportError                         connection refused/dropped, timeout
    ├── PaginationError                        cursor not advancing, rows missing
    │   └── CountMismatchError                 rows != count / X-Total-Count
    ├── ReportError                            DWH report (carries ``report_id``)
    │   ├── ReportFailedError                  the report ended ``failed``
    │   ├── ReportExpiredError                 the file link is dead
    │   └── ReportTimeoutError                 not final within ``poll_timeout``
    ├── DataError                              a page or file that does not parse
    ├── StoreError                             the local store is unusable
    ├── AccountsError                          some of several accounts failed (``.failed``)
    └── CheckFailedError (also AssertionError) a check on the data failed (``.rows``)

Messages say what was wrong, what was expected and what to do; they never
contain a secret (see :mod:`ledgerkit.config`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "LedgerkitError",
    "ConfigurationError",
    "APIError",
    "AuthenticationError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "TransportError",
    "PaginationError",
    "CountMismatchError",
    "ReportError",
    "ReportFailedError",
    "ReportExpiredError",
    "ReportTimeoutError",
    "DataError",
    "StoreError",
    "AccountsError",
    "CheckFailedError",
]


class LedgerkitError(Exception):
    """Root of every error raised by ledgerkit.

    An error raised part-way through a pull also carries how to go on:
    ``resume`` (keyword arguments that continue the pull from its last
    completed page), ``manifest`` (what was pulled) and ``partial`` (the rows
    pulled before the failure, a DataFrame). They are ``None`` otherwise.

    Errors pickle whole -- message and attributes -- so that one raised in a
    Dask worker reaches the caller as the same error.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))

    resume: dict | None = None
    manifest: dict | None = None
    partial: Any = None


class ConfigurationError(LedgerkitError, ValueError):
    """A bad argument or missing configuration, raised before any request.

    Parameters
    ----------
    parameter : str
        The name of the offending argument (or environment variable).
    value : object
        What was given (never a secret: pass ``"<hidden>"`` for those).
    expected : str
        What would have been accepted.

    Examples
    --------
    >>> raise ConfigurationError("status", "paid", "one of all, successful")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: status='paid' is not valid: expected one of all, successful
    """

    def __init__(self, parameter: str, value: Any, expected: str, hint: str = "") -> None:
        self.parameter = parameter
        self.value = value
        self.expected = expected
        message = f"{parameter}={value!r} is not valid: expected {expected}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class APIError(LedgerkitError):
    """The provider answered with an HTTP error.

    Attributes
    ----------
    status : int
        HTTP status code.
    body : object
        The decoded error body (dict) or its text.
    request_id : str or None
        The provider's request id header, when it sent one.
    url : str
        The URL requested (no credentials are ever part of it).
    code, friendly_message, help : str or None
        The DWH error envelope's own fields, when the provider sent them
        (``friendly_message`` may be the only place a field is named).
    """

    code: str | None = None
    friendly_message: str | None = None
    help: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.request_id = request_id
        self.url = url
        super().__init__(message)


class AuthenticationError(APIError):
    """Credentials were refused (401/403): check the id and secret key."""


class InvalidRequestError(APIError):
    """The provider rejected the request (400/422).

    ``field_errors`` lists the provider's per-field complaints as dicts with
    at least a ``parameter`` key.
    """

    def __init__(self, message: str, *, field_errors: list[dict] | None = None, **kw: Any) -> None:
        self.field_errors = list(field_errors or [])
        super().__init__(message, **kw)


class NotFoundError(APIError):
    """The resource (for example a report id) does not exist (404)."""


class RateLimitError(APIError):
    """Still throttled (429) after the retries allowed; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIError):
    """The provider kept failing (5xx) after the retries allowed."""


class TransportError(LedgerkitError):
    """The connection failed, timed out or was dropped mid-body."""


class PaginationError(LedgerkitError):
    """A paginated pull could not be completed exactly.

    Attributes
    ----------
    resume : dict
        Keyword arguments that continue the pull from its last completed page
        (for example ``{"starting_after": 4711}``).
    manifest : dict
        The manifest of the partial pull.
    """

    def __init__(self, message: str, *, resume: dict | None = None, manifest: dict | None = None) -> None:
        self.resume = dict(resume or {})
        self.manifest = dict(manifest or {})
        super().__init__(message)


class CountMismatchError(PaginationError):
    """The rows received disagree with the count the provider announced."""


class ReportError(LedgerkitError):
    """A DWH report could not be obtained; ``report_id`` lets you pick it up again."""

    def __init__(self, message: str, *, report_id: str | None = None, status: str | None = None) -> None:
        self.report_id = report_id
        self.status = status
        super().__init__(message)


class ReportFailedError(ReportError):
    """The report ended in status ``failed``."""


class ReportExpiredError(ReportError):
    """The report's file link is dead (past ``expiry_date``)."""


class ReportTimeoutError(ReportError):
    """The report was not final within ``poll_timeout``."""


class DataError(LedgerkitError):
    """A page or file did not parse. ``rows`` holds the offending records when known."""

    def __init__(self, message: str, *, rows: Any = None) -> None:
        self.rows = rows
        super().__init__(message)


class StoreError(LedgerkitError):
    """The local store is unreadable or inconsistent."""


class AccountsError(LedgerkitError):
    """Some of the accounts of a many-account pull failed.

    ``failed`` maps each failed account's name to its error (each with its
    own ``.resume`` where it has one); ``partial`` holds the rows of the
    accounts that succeeded (with their ``account`` column) and ``resume`` the
    keyword arguments that pull only the failed accounts again.
    """

    def __init__(self, message: str, *, failed: dict[str, LedgerkitError]) -> None:
        self.failed = failed
        super().__init__(message)


class CheckFailedError(LedgerkitError, AssertionError):
    """A check on the data failed; ``rows`` holds the offending rows (a DataFrame of the analysis result).

    Also an ``AssertionError``, so test runners and nbval report it as a
    failed assertion.
    """

    def __init__(self, message: str, *, rows: Any) -> None:
        self.rows = rows
        super().__init__(message)


def _rebuilt(cls: type[LedgerkitError], args: tuple[Any, ...], attributes: dict[str, Any]) -> LedgerkitError:
    """An error of class ``cls`` with ``args`` and ``attributes``, without calling its ``__init__`` (unpickling)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(attributes)
    return error
