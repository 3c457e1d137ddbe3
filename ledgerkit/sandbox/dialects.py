"""Dialects: the documented variants of the real deployments the sandbox can speak.

The three provider APIs run on several deployments whose public docs,
clients and recordings disagree on details (``../shared/real-world/``).
A :class:`Dialect` is one named profile of those details; ``Sandbox(dialect=
"bepaid")`` serves the same world as the default ``"begateway"`` but answers
the way that deployment is documented to. Every knob is a field whose
comment names its public source; the API modules read the knobs, the world
is the same for every dialect.

Examples
--------
>>> DIALECTS
('begateway', 'bepaid', 'ecomcharge', 'makecommerce-recorded', 'dwh-official-client')
>>> get_dialect("bepaid").payment_methods
('credit_card', 'erip')
>>> get_dialect("nope")
Traceback (most recent call last):
...
ledgerkit.errors.ConfigurationError: dialect='nope' is not valid: expected one of: begateway, bepaid, ecomcharge, makecommerce-recorded, dwh-official-client
"""  # noqa: E501 - a doctest's output is one line

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = ["Dialect", "DIALECTS", "PROFILES", "get_dialect"]


@dataclass(frozen=True)
class Dialect:
    """One deployment's reading of the three APIs (the defaults are ``begateway``'s)."""

    name: str = "begateway"

    # -- transactions: POST /api/reports (v3) --------------------------------------
    #: Name under which the world's alternative-method transactions are served
    #: and asked for; None when the deployment offers cards only.
    #: begateway: doc.begateway.com paginated report lists credit_card and alternative;
    #: bepaid: docs.bepaid.by paginated report lists credit_card and erip;
    #: ecomcharge: doc.ecomcharge.com documents credit_card only.
    alternative_method: str | None = "alternative"
    #: What ``count`` holds: ``"page"`` (the page's rows) or ``"report"`` (every
    #: row of the report across pages). The v3 docs describe it as "the total
    #: number of transactions in the requested report" (both readings are live).
    count: str = "page"

    # -- statements: GET /v1/shop/accountstatements --------------------------------
    #: Page size when ``per_page`` is not asked; None: the Sandbox's argument.
    #: makecommerce-recorded: 30, as in the Link URLs of the recorded page
    #: (VCR cassette of the maksekeskus Ruby gem).
    per_page_default: int | None = None
    #: How ``since``/``until`` are read. ``"dates"``: dates only, ``until``
    #: inclusive through 23:59:59 UTC (our first reading). ``"instants"``: a
    #: date or a timestamp, UTC when no zone (MakeCommerce SDKs), ``until`` the
    #: instant itself, rows ``<= until`` (a date means 00:00 of that day).
    statement_bounds: str = "dates"
    #: Recorded page: numbers written as binary floats (``0.0``, balances
    #: such as ``142.01000000000002``).
    float_numbers: bool = False
    #: Recorded page: no ``transaction_id`` key at all (keys omitted, not null).
    omit_transaction_id: bool = False
    #: Recorded page: a VAT line sometimes comes before the fee it taxes, and
    #: zero-amount VAT lines occur (two identical ones in a row somewhere).
    recorded_vat_lines: bool = False
    #: Recorded page: ``Link`` entries joined by ``","`` (no space), URLs
    #: carrying ``per_page`` even when it was not asked.
    link_separator: str = ", "
    link_per_page: bool = False
    #: Spelling of the request id header (recorded page: ``X-Request-Id``).
    request_id_header: str = "X-Request-ID"
    #: Content-Type of the statements answer (recorded: ``application/json;charset=UTF-8``).
    statements_content_type: str | None = None

    # -- balance records: the DWH report ----------------------------------------
    #: Report ``type`` the create request must carry. The public docs say
    #: ``balance_records``; the official back-office client (boapi_client_rb
    #: fixtures) sends ``balance_records_report``.
    report_type: str = "balance_records"
    #: 422 bodies: ``"named"`` (message names the field) or ``"generic"``
    #: (``"message": "Unprocessable entity"``, field only in ``friendly_message``,
    #: as the boapi_client_rb fixtures).
    dwh_errors: str = "named"
    #: Statuses a report goes through before ``successful`` and whether the
    #: first carries ``attempt`` (fixtures: ``pending``, no attempt).
    report_statuses: tuple[str, ...] = ("queued", "pending")
    first_status_attempt: bool = True
    #: How the create and the show answer echo the dates: ``"micro"``
    #: (``2025-01-01T00:00:00.000000+00:00``, the docs' create example),
    #: ``"iso"`` (``2025-01-01T00:00:00+00:00``, microseconds only when there
    #: are some: the fixtures' create answer) or ``"microZ"``
    #: (``2024-12-31T21:00:00.000000Z``: the help page's successful report).
    echo_create: str = "micro"
    echo_show: str = "micro"
    #: ``date_from``/``date_to`` without an offset: refused, or read as UTC
    #: (fixtures send ``2025-01-01T00:00:00``).
    naive_dates_utc: bool = False
    #: Whether ``date_to`` is inclusive (the doc example ends at 23:59:59.999999).
    date_to_inclusive: bool = False
    #: Report sheet with only the columns public sources justify (help page:
    #: Merchant ID, Merchant name, Shop ID, Shop name, Gateway ID) plus a
    #: ``Type`` / ``Description`` per movement, and adjustment / rolling
    #: reserve / rate rows (help page; fixtures' ``adjustment`` record).
    justified_sheet: bool = False

    @property
    def payment_methods(self) -> tuple[str, ...]:
        """The ``payment_method_type`` values the transactions report accepts."""
        return ("credit_card",) if self.alternative_method is None else ("credit_card", self.alternative_method)


PROFILES: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(),
        Dialect(name="bepaid", alternative_method="erip"),
        Dialect(name="ecomcharge", alternative_method=None, count="report"),
        Dialect(
            name="makecommerce-recorded",
            per_page_default=30,
            statement_bounds="instants",
            float_numbers=True,
            omit_transaction_id=True,
            recorded_vat_lines=True,
            link_separator=",",
            link_per_page=True,
            request_id_header="X-Request-Id",
            statements_content_type="application/json;charset=UTF-8",
        ),
        Dialect(
            name="dwh-official-client",
            report_type="balance_records_report",
            dwh_errors="generic",
            report_statuses=("pending", "processing"),
            first_status_attempt=False,
            echo_create="iso",
            echo_show="microZ",
            naive_dates_utc=True,
            date_to_inclusive=True,
            justified_sheet=True,
        ),
    )
}

#: Names of every dialect, the default first.
DIALECTS: tuple[str, ...] = tuple(PROFILES)


def get_dialect(name: str | Dialect) -> Dialect:
    """The profile named ``name`` (a :class:`Dialect` is returned as it is).

    Raises
    ------
    ConfigurationError
        ``name`` is not one of :data:`DIALECTS`.
    """
    if isinstance(name, Dialect):
        return name
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigurationError("dialect", name, f"one of: {', '.join(DIALECTS)}")
    return PROFILES[name]
