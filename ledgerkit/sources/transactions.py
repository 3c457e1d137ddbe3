"""Transactions from the beGateway shop "pagination reports API" (v3), as a typed DataFrame.

``POST {base_url}/api/reports`` with ``X-Api-Version: 3`` and a JSON body
``{"report_params": {...}}``; Basic auth shop id : shop secret key. One
request returns one page of transactions in ascending ``id`` with
``has_more``, ``first_object_id`` and ``last_object_id``; the next page is
asked for with ``starting_after`` (forward) or ``ending_before`` (backward).
``payment_method_type`` takes one value per request, so pulling both
methods is two paginated *windows*. A window (one date range, one method,
its own cursor) is pulled page by page by :func:`fetch_page`, which
shares nothing mutable with other windows, so windows run in threads.
A window's next page is asked for as soon as this page's bytes are in,
its cursor read from their tail (:mod:`ledgerkit._ingest.page_tail`),
while this page is parsed (:class:`_Ahead`); it is taken only when it is
the very request the parsed page leads to.

The public entry points are :func:`ledgerkit.load_transactions` and
``lk.Client(...).transactions(...)``; here a validated
:class:`TransactionsRequest` becomes a :func:`pull`.

Examples
--------
>>> from ledgerkit.sandbox import Sandbox
>>> from ledgerkit.sources._pull import collect, connect
>>> with Sandbox(size=100) as sb:
...     c = connect("transactions", base_url=sb.transactions_url, user=None, secret=sb.credentials["transactions"],
...                 session=None, retry=None, parse_error=parse_error)
...     df = collect(pull(c, TransactionsRequest.build("2025-01-01", "2025-02-01"), progress=False))
>>> df.attrs["ledgerkit"]["complete"], df.attrs["ledgerkit"]["dialect"]["methods_refused"]
(True, ['erip'])
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests

from .._ingest.arrow_pages import FastPage, NotJSON, PageHints, pages_to_frame, read_columns, read_page
from .._ingest.cores import parse_pool
from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.page_tail import edge_texts, tail_cursor
from .._ingest.records import empty_frame, finish
from .._ingest.schema import TRANSACTIONS
from .._ingest.timeparse import check_zone, instant, wall_clock
from .._transport.http import MalformedBody, PullStats, transmit
from .._transport.pagination import CursorPaginator, fetch_next, whole_number
from .._transport.progress import PullProgress
from .._transport.ratelimit import RateLimiter, limited_session
from ..errors import ConfigurationError, DataError, InvalidRequestError, LedgerkitError
from ._fee_units import FeeUnits
from ._pull import Connection, check_flag, check_workers, resumable
from .windows import WindowScheduler, split_point

__all__ = ["TransactionsRequest", "pull", "Window", "fetch_page", "parse_error", "METHODS"]

DATE_TYPES = ("created_at", "paid_at", "settled_at")
STATUSES = ("all", "successful", "failed", "pending", "incomplete")
#: Payment methods known to some deployment (beGateway: credit_card, alternative; bePaid: erip;
#: eComCharge: credit_card only). An open set: any name is sent; these are the default.
METHODS = ("credit_card", "alternative", "erip")
_METHOD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PATH = "/api/reports"
HEADERS = {"X-Api-Version": "3"}


def parse_error(response: requests.Response) -> tuple[str, list[dict]]:
    """beGateway error body ``{"message": ..., "errors": {field: [messages]}}`` -> (message, field errors)."""
    body = response.json()
    errors = body.get("errors") or {}
    fields = (
        [{"parameter": name, "messages": list(msgs)} for name, msgs in errors.items()]
        if isinstance(errors, dict)
        else []
    )
    detail = "; ".join(f"{f['parameter']} {', '.join(map(str, f['messages']))}" for f in fields)
    message = str(body.get("message") or response.reason)
    return (f"{message}: {detail}" if detail else message), fields


# ----------------------------------------------------------------- the query


@dataclass(frozen=True)
class TransactionsRequest:
    """What to pull, validated: built by :meth:`build`; :meth:`report_params` renders it for one method.

    Frozen: a store or a front door derives the requests it sends with
    :func:`dataclasses.replace` (another period, one method, a cursor).

    Examples
    --------
    >>> r = TransactionsRequest.build("2025-01-01", "2025-02-01")
    >>> r.methods, r.skip_refused, r.report_params("credit_card")["to"]
    (('credit_card', 'alternative', 'erip'), True, '2025-01-31 23:59:59')
    """

    date_type: str
    date_from: pd.Timestamp
    date_to: pd.Timestamp
    time_zone: str
    status: str
    methods: tuple[str, ...]
    skip_refused: bool
    correction: tuple[pd.Timestamp | None, pd.Timestamp | None] | None
    starting_after: int | None
    ending_before: int | None
    include_pii: bool = False

    @classmethod
    def build(
        cls,
        date_from: Any,
        date_to: Any,
        *,
        date_type: str = "created_at",
        status: str = "all",
        payment_method_type: Any = None,
        skip_refused_methods: Any = None,
        time_zone: str = "UTC",
        manual_correction_from: Any = None,
        manual_correction_to: Any = None,
        starting_after: Any = None,
        ending_before: Any = None,
        include_pii: Any = False,
    ) -> TransactionsRequest:
        """Check every argument (see :func:`ledgerkit.load_transactions`); ``ConfigurationError`` before any request."""
        zone = _api_zone(time_zone)
        date_type = _one_of("date_type", date_type, DATE_TYPES)
        status = _one_of("status", status, STATUSES)
        methods = _methods(payment_method_type)
        start, end = instant(date_from, "date_from", zone), instant(date_to, "date_to", zone)
        _range("date_from", start, "date_to", end)
        correction = None
        if manual_correction_from is not None or manual_correction_to is not None:
            lo = (
                None
                if manual_correction_from is None
                else instant(manual_correction_from, "manual_correction_from", zone)
            )
            hi = None if manual_correction_to is None else instant(manual_correction_to, "manual_correction_to", zone)
            if lo is not None and hi is not None:
                _range("manual_correction_from", lo, "manual_correction_to", hi)
            correction = (lo, hi)
        after, before = _cursor("starting_after", starting_after), _cursor("ending_before", ending_before)
        if after is not None and before is not None:
            raise ConfigurationError(
                "ending_before", before, "None when starting_after is given (one direction per pull)"
            )
        skip = check_flag("skip_refused_methods", skip_refused_methods, allow_none=True)
        request = cls(
            date_type,
            start,
            end,
            zone,
            status,
            methods,
            payment_method_type is None if skip is None else skip,
            correction,
            after,
            before,
            bool(check_flag("include_pii", include_pii)),
        )
        return request.checked()

    def checked(self) -> TransactionsRequest:
        """This request, once its bounds render for the API (``settled_at`` needs midnights of the zone)."""
        for method in self.methods:
            self.report_params(method)
        return self

    def parameters(self) -> dict[str, Any]:
        """The request as keyword arguments of :func:`ledgerkit.load_transactions` (plain values, for manifests)."""
        lo, hi = self.correction or (None, None)
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "date_type": self.date_type,
            "status": self.status,
            "payment_method_type": self.methods,
            "skip_refused_methods": self.skip_refused,
            "time_zone": self.time_zone,
            "manual_correction_from": None if lo is None else lo.isoformat(),
            "manual_correction_to": None if hi is None else hi.isoformat(),
            "starting_after": self.starting_after,
            "ending_before": self.ending_before,
            "include_pii": self.include_pii,
        }

    @property
    def direction(self) -> str:
        return "backward" if self.ending_before is not None else "forward"

    def report_params(
        self, method: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> dict[str, Any]:
        """``report_params`` without a cursor, for one ``payment_method_type`` (and a window of the period)."""
        start = self.date_from if start is None else start
        end = self.date_to if end is None else end
        first, last = _api_bounds(self.date_type, start, end, self.time_zone, "date_from", "date_to")
        params = {
            "date_type": self.date_type,
            "from": first,
            "to": last,
            "status": self.status,
            "payment_method_type": method,
            "time_zone": self.time_zone,
        }
        if self.correction is not None:
            lo, hi = self.correction
            lo_text, hi_text = _api_bounds(
                self.date_type, lo, hi, self.time_zone, "manual_correction_from", "manual_correction_to"
            )
            if lo is not None:
                params["manual_correction_from"] = lo_text
            if hi is not None:
                params["manual_correction_to"] = hi_text
        return params


def _api_bounds(
    date_type: str, start: pd.Timestamp | None, end: pd.Timestamp | None, zone: str, start_name: str, end_name: str
) -> tuple[str | None, str | None]:
    """Half-open ``[start, end)`` -> the API's inclusive ``from``/``to`` text in ``zone``.

    Times: ``to`` is one second before ``end`` (the API counts whole seconds).
    ``settled_at`` counts whole days, so both ends must be midnights in ``zone``
    and ``to`` is the last day.
    """
    for name, ts in ((start_name, start), (end_name, end)):
        if ts is not None and ts.tz_convert(zone).year < 1000:
            raise ConfigurationError(
                name,
                ts.isoformat(),
                f"a moment in the years 1000 to 9999 in time_zone {zone} (the API reads four-digit years)",
            )
    if date_type == "settled_at":
        for name, ts in ((start_name, start), (end_name, end)):
            if ts is not None and ts.tz_convert(zone) != ts.tz_convert(zone).normalize():
                raise ConfigurationError(
                    name, ts.isoformat(), f"a midnight in time_zone {zone} (settled_at counts whole days)"
                )
        first = None if start is None else start.tz_convert(zone).strftime("%Y-%m-%d")
        last = None if end is None else (end.tz_convert(zone) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        return first, last
    first = None if start is None else wall_clock(start.ceil("s"), zone)
    last = None if end is None else wall_clock(end.ceil("s") - pd.Timedelta(seconds=1), zone)
    return first, last


def _api_zone(name: Any) -> str:
    """``time_zone`` as the API gets it: an IANA zone, not a file of this machine's zone database.

    ``localtime`` is this machine's own setting and ``posix/...``, ``right/...``
    are variants of the database: a server knows none of them.
    """
    zone = check_zone(name)
    if zone in ("localtime", "posixrules") or zone.startswith(("posix/", "right/")):
        raise ConfigurationError(
            "time_zone",
            name,
            "an IANA time zone name such as 'UTC' or 'Europe/London' (not a file of this machine's zone database)",
        )
    return zone


def _one_of(parameter: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigurationError(parameter, value, f"one of {', '.join(allowed)}")
    return value


def _methods(value: Any) -> tuple[str, ...]:
    """The payment methods asked for: any method names (an open set), or None for every known one."""
    if value is None:
        return METHODS
    expected = f"a method name or a tuple of them (known: {', '.join(METHODS)}), or None for every method offered"
    if not isinstance(value, (str, tuple, list, set, frozenset)):
        raise ConfigurationError("payment_method_type", value, expected)
    methods = tuple(dict.fromkeys((value,) if isinstance(value, str) else value))
    if not methods or not all(isinstance(m, str) and _METHOD_NAME.fullmatch(m) for m in methods):
        raise ConfigurationError("payment_method_type", value, expected)
    return methods


def _cursor(parameter: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise ConfigurationError(
        parameter,
        value,
        "a transaction id (a non-negative integer below 2**63), e.g. df.attrs['ledgerkit']['last_cursor']",
    )


def _range(start_name: str, start: pd.Timestamp, end_name: str, end: pd.Timestamp) -> None:
    if not start < end:
        raise ConfigurationError(
            end_name,
            end.isoformat(),
            f"a moment after {start_name}={start.isoformat()} ([{start_name}, {end_name}) is empty)",
        )


# ------------------------------------------------------------------ a window


@dataclass
class Window:
    """One paginated run: one date range, one payment method, its own cursor.

    ``paginator.cursor`` is always the place to resume; ``pages``/``rows``
    count what this window received. ``start``/``end`` are set for a time
    window of a concurrent pull (``split`` once it was handed to two halves).
    """

    method: str
    params: dict[str, Any]
    paginator: CursorPaginator
    rows: int = 0
    complete: bool = False
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    split: bool = False
    ahead: tuple[dict[str, Any], Future] | None = field(default=None, repr=False, compare=False)
    planned: list[Window] = field(default_factory=list, repr=False, compare=False)
    ending: int | None = field(default=None, repr=False, compare=False)  # its last page's cursor, from the bytes

    @property
    def pages(self) -> int:
        """Pages received (the paginator's count)."""
        return self.paginator.pages

    def summary(self) -> dict[str, Any]:
        out = {
            "payment_method_type": self.method,
            "pages": self.pages,
            "rows": self.rows,
            "cursor": self.paginator.cursor,
            "complete": self.complete,
        }
        if self.start is not None:
            out.update({"from": self.start, "to": self.end, "split": self.split})
        return out


def _page_decoder(
    include_pii: bool,
    wall_zone: str | None,
    hints: PageHints,
    pause_gc: bool | None = None,
    parser: Callable[[], ThreadPoolExecutor | None] = lambda: None,
) -> Callable[[requests.Response], tuple[FastPage, bytes]]:
    """``decode`` for :func:`ledgerkit._transport.http.send_json`: body -> (columnar page, body).

    A body that is not JSON is asked for again; JSON that breaks the
    contract raises :class:`DataError` at once (asking again would not mend it).
    ``hints`` are the pull's own (:class:`~ledgerkit._ingest.arrow_pages.PageHints`); ``pause_gc`` as for
    :func:`~ledgerkit._ingest.arrow_pages.read_page`; ``parser()`` the pull's parse threads
    (:func:`~ledgerkit._ingest.cores.parse_pool`), which bound how many of its pages are parsed at
    once -- None parses on the calling thread.
    """

    def parse(body: bytes) -> FastPage:
        return read_columns(
            body,
            TRANSACTIONS,
            records_key="transactions",
            include_pii=include_pii,
            wall_zone=wall_zone,
            hints=hints,
            pause_gc=pause_gc,
        )

    def decode(response: requests.Response) -> tuple[FastPage, bytes]:
        body = response.content
        pool = parser()
        try:
            page = parse(body) if pool is None else pool.submit(parse, body).result()
            return page, body
        except NotJSON as exc:
            raise MalformedBody(str(exc)) from exc

    return decode


def fetch_page(
    client: Connection,
    window: Window,
    decode: Callable[[requests.Response], Any],
    ahead: _Ahead | None = None,
    *,
    send_next: bool = False,
    hold: Callable[[bytes, int], bool] | None = None,
    last: Callable[[int], None] | None = None,
) -> tuple[FastPage, bytes]:
    """Fetch the next page of ``window`` as a typed page and advance its cursor.

    The page is parsed by :mod:`ledgerkit._ingest.arrow_pages`.

    With ``ahead`` the request goes out through it (taking the one sent
    ahead for this window when it is this very request), and with
    ``send_next`` the page after is asked for as soon as this page's bytes
    are in, before they are parsed -- unless ``hold(bytes, cursor)`` is true;
    when the bytes say the page is the window's last, ``last(cursor)`` is
    called then instead.

    Raises
    ------
    PaginationError
        The cursor does not advance.
    DataError
        A page is not the documented envelope (``has_more`` a boolean,
        cursors transaction ids within the page's rows, ``count`` a number
        no smaller than the page's rows) or a value does not fit its field;
        the message names the page (its number, method, period and cursor).
    """
    content = b""

    def send(cursor: dict[str, int]) -> tuple[requests.Response, FastPage]:
        nonlocal content
        body = {"report_params": {**window.params, **cursor}}
        first = None if ahead is None else ahead.first(window, body)
        sending = ahead.sending_next(window, decode, hold, last) if ahead is not None and send_next else decode
        response, (page, content) = client.json("POST", PATH, json=body, headers=HEADERS, decode=sending, first=first)
        return response, page

    def check(response: requests.Response, page: FastPage) -> None:
        count_meaning(page.meta.get("count"), page.records)  # a page that fits no reading stops before the cursor moves

    got = fetch_next(window.paginator, send, where=lambda: _page_name(window), check=check)
    if got.stuck is not None:
        raise got.stuck
    window.rows += got.data.records
    return got.data, content


def _page_name(window: Window) -> str:
    """Which page a message is about.

    For example ``transactions page 3 (payment_method_type=credit_card, ..., starting_after=28861)``.
    """
    cursor = window.paginator.next_request()
    where = ", ".join(f"{k}={v}" for k, v in cursor.items()) or "first page"
    return (
        f"transactions page {window.pages + 1} (payment_method_type={window.method}, "
        f"from {window.params.get('from')} to {window.params.get('to')}, {where})"
    )


def count_meaning(count: Any, records: int) -> str | None:
    """What a page's ``count`` is: ``"page rows"``, ``"report total"`` or None (not given).

    The docs describe it as "the total number of transactions in the
    requested report", while deployments send the page's row count; either
    is fine. Fewer than the page holds fits neither reading.

    Examples
    --------
    >>> count_meaning(3, 3), count_meaning(250, 100), count_meaning(None, 5)
    ('page rows', 'report total', None)
    """
    if count is None:
        return None
    number = whole_number(count)
    if number is None:
        shown = repr(count) if len(repr(count)) <= 60 else f"{repr(count)[:57]}..."
        raise DataError(f"the page's count is {shown}: expected a number of transactions (a non-negative integer)")
    if number < records:
        raise DataError(
            f"the page announced count={number} but holds {records} transactions (fewer than the page "
            "holds: neither the page's nor the report's total)"
        )
    return "page rows" if number == records else "report total"


# ------------------------------------------------------- requests sent ahead


class _Ahead:
    """Sends the pull's requests on ``threads`` threads, and a window's next one while its page is parsed.

    Every page's first attempt goes out here (retries are the worker's), so
    at most ``threads`` -- the pull's ``max_workers`` -- are in flight, sent
    ahead or not. Each thread sends with a connection of its own
    (``make_client()``). A request sent ahead is kept on its window with the
    body it sent, and :meth:`first` hands it over only for that very body;
    one not taken is waited for and counted as sent (``unused``).
    """

    def __init__(self, make_client: Callable[[], Connection], threads: int, stats: PullStats) -> None:
        self._make_client, self._stats = make_client, stats
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="ledgerkit-send")
        self.sent = self.unused = 0

    def _transmit(self, body: dict[str, Any]) -> requests.Response:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make_client()
        return transmit(
            client.session, "POST", client.config.url(PATH), json=body, headers=HEADERS, policy=client.policy
        )

    def send_first(self, window: Window) -> None:
        """Send ``window``'s next request now; :meth:`first` hands it over when the window asks for it."""
        body = {"report_params": {**window.params, **window.paginator.next_request()}}
        window.ahead = (body, self._pool.submit(self._transmit, body))
        self.sent += 1

    def first(self, window: Window, body: dict[str, Any]) -> Callable[[], requests.Response]:
        """The first attempt of ``body`` for ``window``: the one sent ahead when it is this body, else sent now."""
        sent, window.ahead = window.ahead, None
        if sent is not None and sent[0] == body:
            return sent[1].result
        self.drop(sent)
        return self._pool.submit(self._transmit, body).result

    def sending_next(
        self,
        window: Window,
        decode: Callable[[requests.Response], Any],
        hold: Callable[[bytes, int], bool] | None = None,
        last: Callable[[int], None] | None = None,
    ) -> Callable[[requests.Response], Any]:
        """``decode`` that first sends ``window``'s next request, from the cursor at the tail of the bytes.

        Unless ``hold(bytes, cursor)`` says the window may rather be split
        (then its next requests are the halves'). When the tail says the
        page is the window's last, ``last(cursor)`` is called instead.
        """
        paginator = window.paginator

        def decode_after_sending(response: requests.Response) -> Any:
            found = tail_cursor(
                response.content, "last_object_id" if paginator.direction == "forward" else "first_object_id"
            )
            self.drop(window.ahead)  # sent from an earlier attempt's bytes
            window.ahead = None
            if found is not None and not found[1] and last is not None:
                last(found[0])
            elif (
                found is not None
                and found[1]
                and paginator.moves_to(found[0])
                and (hold is None or not hold(response.content, found[0]))
            ):
                body = {"report_params": {**window.params, paginator.parameter: found[0]}}
                window.ahead = (body, self._pool.submit(self._transmit, body))
                self.sent += 1
            return decode(response)

        return decode_after_sending

    def drop(self, sent: tuple[dict[str, Any], Future] | None) -> None:
        """Let a request sent ahead go untaken: wait for it (its connection is free again) and count it."""
        if sent is None:
            return
        self.unused += 1
        with contextlib.suppress(Exception):
            response = sent[1].result()
            self._stats.count(requests=1, bytes=len(response.content))
            return
        self._stats.count(requests=1)

    def close(self, windows: list[Window]) -> None:
        """Drop what was sent ahead for ``windows`` (and for halves planned for them) and stop the threads."""
        for window in windows:
            self.drop_plan(window)
            sent, window.ahead = window.ahead, None
            self.drop(sent)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def drop_plan(self, window: Window) -> None:
        """Let the halves planned for ``window`` go, with what was sent for them."""
        planned, window.planned = window.planned, []
        for half in planned:
            self.drop(half.ahead)


# ------------------------------------------------------------------ the pull


@dataclass
class _Pull:
    """One load: the windows in order, the rows seen, the manifest and the bar."""

    client: Connection
    query: TransactionsRequest
    manifest: Manifest
    progress: PullProgress
    max_workers: int = 1
    columnar: bool = False
    windows: list[Window] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refused: set[str] = field(default_factory=set)
    swept: set[str] = field(default_factory=set)  # methods whose sweep is made
    sweeps_ahead: dict[str, Window] = field(default_factory=dict)  # sent before their last window was parsed
    units: FeeUnits = field(default_factory=FeeUnits)
    pause_gc: bool | None = None
    unchecked: dict[tuple, list[FastPage]] = field(default_factory=dict)  # Arrow pages the fee-unit check awaits
    early: tuple[list[FastPage], Future] | None = None  # the frame of the pages before the sweeps, being built

    def __post_init__(self) -> None:
        q = self.query
        self.include_pii = q.include_pii
        self.dialect: dict[str, Any] = {"methods_refused": sorted(self.refused)} if self.refused else {}
        self.manifest.extra["dialect"] = self.dialect  # what the server's answers teach, filled in as they come
        cursor = q.ending_before if q.direction == "backward" else q.starting_after
        self.concurrent = self.max_workers > 1 and cursor is None
        self.limiter = RateLimiter()
        self.wall_zone = None if q.time_zone == "UTC" else q.time_zone
        self.hints = PageHints()  # what this pull's pages teach about its later pages
        self.parser: ThreadPoolExecutor | None = None  # a concurrent pull's parse threads, while it runs
        self.decode = _page_decoder(self.include_pii, self.wall_zone, self.hints, self.pause_gc, lambda: self.parser)
        if self.concurrent:  # one window per method; a window that turns out dense splits while workers idle
            self.windows = [self._window(m, q.date_from, q.date_to, None) for m in q.methods]
        else:
            self.windows = [Window(m, q.report_params(m), CursorPaginator(q.direction, cursor)) for m in q.methods]

    def _window(self, method: str, start: pd.Timestamp, end: pd.Timestamp, cursor: int | None) -> Window:
        return Window(
            method,
            self.query.report_params(method, start, end),
            CursorPaginator("forward", cursor),
            start=start,
            end=end,
        )

    def pages(self) -> Iterator[pd.DataFrame | FastPage]:
        """Typed pages (duplicates across pages dropped): window after window, or concurrently.

        With ``columnar`` (a whole load) the pages stay Arrow columns until
        :meth:`frame` converts them all at once; else each is a frame.
        """
        self.ahead = _Ahead(self._worker, self.max_workers if self.concurrent else 1, self.client.stats)
        self.parser = parse_pool() if self.concurrent else None
        try:
            results = self._observed(self._concurrent_pages() if self.concurrent else self._sequential_pages())
            yield from self._framed_early(results) if self.concurrent and self.columnar else results
        finally:
            self.ahead.close([*self.windows, *self.sweeps_ahead.values()])
            if self.parser is not None:
                self.parser.shutdown(wait=True)
                self.parser = None
            self.manifest.extra["requests_sent_ahead"] = self.ahead.sent
            if self.ahead.unused:
                self.manifest.extra["requests_sent_ahead_unused"] = self.ahead.unused
            self.manifest.extra["pages_fitting_learned_schema"] = self.hints.fitted
            self.manifest.extra["pages_not_fitting_learned_schema"] = self.hints.unfitted
        self._check_units()

    def _sequential_pages(self) -> Iterator[pd.DataFrame | FastPage]:
        for window in self.windows:
            while window.paginator.has_next_page and (fetched := self._fetch(self.client, window)):
                yield self._accept(*fetched)
            window.complete = True

    def _observed(self, results: Iterator[pd.DataFrame | FastPage]) -> Iterator[pd.DataFrame | FastPage]:
        """``results`` passed on as they come, each seen by the fee-unit check.

        Arrow pages are checked in batches of alike pages (the check's cost
        is per call, not per row); every page is checked before the pull
        ends, which is when the check can fail.
        """
        batches = self.unchecked
        for result in results:
            if isinstance(result, FastPage) and result.frame is None:
                key = tuple((c, result.columns[c].type) if c in result.columns else (c, None) for c in FeeUnits.columns)
                batch = batches.setdefault(key, [])
                batch.append(result)
                if len(batch) == _FEE_BATCH:
                    self.units.observe(_fee_columns(batches.pop(key)))
            else:
                self.units.observe(result)
            yield result
        self._check_unchecked()

    def _check_unchecked(self) -> None:
        """Let the fee-unit check see the pages it was keeping for a batch."""
        while self.unchecked:
            self.units.observe(_fee_columns(self.unchecked.popitem()[1]))

    def _framed_early(self, results: Iterator[FastPage]) -> Iterator[FastPage]:
        """``results`` passed on; once only the sweeps are out, the frame of the pages so far is built meanwhile.

        A sweep is usually one empty page, a round trip long: the frame
        (:meth:`frame`) then finds most of its work done. Rows a sweep brings
        are joined to it in ``id`` order.
        """
        received: list[FastPage] = []
        for result in results:
            received.append(result)
            yield result
            if self.early is None and self._sweeps_alone(len(received)):
                self._check_unchecked()  # the frame lets the pages' columns go
                pool = ThreadPoolExecutor(1, thread_name_prefix="ledgerkit-frame")
                pages = list(received)
                built = pool.submit(
                    pages_to_frame, pages, TRANSACTIONS, sort_by="id", consume=True, pause_gc=self.pause_gc
                )
                pool.shutdown(wait=False)
                self.early = (pages, built)

    def _sweeps_alone(self, received: int) -> bool:
        """Whether every page but the sweeps' is in (``received`` of them) and a sweep is out."""
        with self.lock:
            return (
                self.manifest.pages == received
                and any(not w.complete for w in self.windows if w.start is None)
                and all(w.complete for w in self.windows if w.start is not None)
            )

    def _worker(self) -> Connection:
        """A connection for one thread of the pull: its own session, within the pull's shared limiter."""
        return replace(self.client, session=limited_session(self.client.session, self.limiter))

    def _fetch(
        self,
        client: Connection,
        window: Window,
        *,
        send_next: bool = True,
        hold: Callable[[bytes, int], bool] | None = None,
        last: Callable[[int], None] | None = None,
    ) -> tuple[FastPage, bytes] | None:
        """The next page of ``window``; None when the provider refuses its method (not asked for by name)."""
        if window.method in self.refused:
            return None
        try:
            return fetch_page(client, window, self.decode, self.ahead, send_next=send_next, hold=hold, last=last)
        except InvalidRequestError as exc:
            if not self.query.skip_refused or not _refuses_method(exc):
                raise
            with self.lock:
                self.refused.add(window.method)
                self.dialect["methods_refused"] = sorted(self.refused)
            return None

    def _check_units(self) -> None:
        self.dialect["fee_identity"] = self.units.summary()
        reason = self.units.contradiction()
        if reason is not None:
            raise DataError(reason)

    def _concurrent_pages(self) -> Iterator[pd.DataFrame]:
        self.manifest.extra["max_workers"] = self.max_workers
        yield from WindowScheduler(
            list(self.windows), self._step, max_workers=self.max_workers, make_worker=self._worker
        )
        self.manifest.extra["throttled"] = self.limiter.throttled

    def _sweep(self, method: str, *, ahead: bool = False) -> Window | None:
        """``method``'s sweep once each of its windows is complete (``ahead``: or has its last page's bytes in).

        A sweep asks for the whole period once more after the method's
        highest cursor: rows added meanwhile. New transactions get ids above
        all others; a method pulled in one window met them at its end, like
        the sequential pull, but a time window that had already finished
        would not, so a method that was split gets one sweep -- usually one
        empty page. None when the method was not split, has its sweep, or
        has a window still to finish. Call it with :attr:`lock` held.
        """
        own = [w for w in self.windows if w.method == method]
        if method in self.swept or method in self.refused or not any(w.split for w in own):
            return None
        ends = []
        for w in own:
            if not (w.complete or (ahead and w.ending is not None)):
                return None
            ends.append(w.paginator.cursor if w.complete else w.ending)
        cursor = max((c for c in ends if c is not None), default=None)
        return Window(method, self.query.report_params(method), CursorPaginator("forward", cursor))

    def _sweep_ahead(self, window: Window, cursor: int) -> None:
        """The bytes of ``window``'s last page are in: send its method's sweep now when no window is left.

        The sweep's request goes out while the page is parsed. The sweep
        itself is made when the last window is complete (:meth:`_finish`),
        and takes the request sent here only when it asks for the same
        cursor.
        """
        with self.lock:
            window.ending = cursor
            sweep = self._sweep(window.method, ahead=True)
            stale = self.sweeps_ahead.pop(window.method, None) if sweep is not None else None
            if sweep is not None:
                self.sweeps_ahead[window.method] = sweep
        if stale is not None:  # sent from an earlier attempt's bytes
            self.ahead.drop(stale.ahead)
        if sweep is not None:
            self.ahead.send_first(sweep)

    def _go_on(self, window: Window) -> None:
        """``window`` has more pages after all (an earlier attempt's bytes said not): no sweep sent ahead holds."""
        with self.lock:
            window.ending = None
            stale = self.sweeps_ahead.pop(window.method, None)
        if stale is not None:
            self.ahead.drop(stale.ahead)

    def _finish(self, window: Window) -> list[Window]:
        """Mark ``window`` complete; ``[sweep]`` when it was its method's last window to finish, else []."""
        with self.lock:
            window.complete = True
            sweep = self._sweep(window.method)
            early = None
            if sweep is not None:
                self.swept.add(window.method)
                self.windows.append(sweep)
                early = self.sweeps_ahead.pop(window.method, None)
        if sweep is None:
            return []
        if early is not None:
            sweep.ahead = early.ahead  # :meth:`_Ahead.first` takes it only for the very same request
        return [sweep]

    def _step(self, window: Window, client: Connection, hungry: bool) -> tuple[pd.DataFrame | FastPage, list[Window]]:
        """One page of ``window``; then the window again, its two halves (dense and a worker idle), its
        method's sweep (it was the method's last window: :meth:`_sweep`), or nothing.

        The next page is sent ahead as soon as the page's bytes are in, unless the window may be split (then
        its next requests are the halves'): with a worker idle, the times at the edges of the raw page
        (:func:`_edge_span`, a hint) decide whether it is worth splitting -- when they say it is, the halves'
        first requests go out at once, while the page is parsed, and the halves are taken; when they are
        unsure, the parsed page decides. A method's last page sends its sweep the same way.
        """
        splittable = hungry and window.start is not None
        hold = (lambda body, cursor: self._may_split(window, body, cursor)) if splittable else None
        try:
            fetched = self._fetch(client, window, hold=hold, last=lambda cursor: self._sweep_ahead(window, cursor))
            if fetched is None:
                window.complete = True
                return None, []
            page, content = fetched
            result = self._accept(page, content)
            if not window.paginator.has_next_page:
                return result, self._finish(window)
            if window.ending is not None:
                self._go_on(window)
            if not splittable or window.ahead is not None:  # no worker idle, or the next page is asked for already
                return result, [window]
            span = _span(page, self.query.date_type)
            planned = bool(window.planned)  # its halves' requests are out: taking them costs least
            worth = planned or _worth_splitting(window, span, page.records)
            halves = self._halves(window, None if span is None else span[1]) if worth else []
            return result, halves or [window]
        finally:
            self.ahead.drop_plan(window)  # halves planned but not taken (the page failed, or had no next)

    def _may_split(self, window: Window, body: bytes, cursor: int) -> bool:
        """Whether ``window`` may be worth splitting after the page ``body``, by the times at its raw edges.

        When they show it is, its halves are planned and their first
        requests (after ``cursor``, the raw page's own) sent at once.
        """
        self.ahead.drop_plan(window)  # planned from an earlier attempt's bytes
        span = _edge_span(body, self.query.date_type, self.query.time_zone)
        if span is None:
            return True
        if not _worth_splitting(window, span, 1):
            return False
        cut = self._cut(window, span[1])
        if cut is not None:
            window.planned = self._cut_windows(window, cut, cursor)
            for half in window.planned:
                self.ahead.send_first(half)
        return True

    def _cut(self, window: Window, hint: pd.Timestamp | None) -> pd.Timestamp | None:
        q = self.query
        return split_point(window.start, window.end, q.date_type, q.time_zone, hint=hint)

    def _cut_windows(self, window: Window, cut: pd.Timestamp, cursor: int | None) -> list[Window]:
        return [self._window(window.method, a, b, cursor) for a, b in ((window.start, cut), (cut, window.end))]

    def _halves(self, window: Window, hint: pd.Timestamp | None) -> list[Window]:
        """Cut a dense window in two after its latest row so far (``hint``); both halves keep its cursor.

        The halves planned from the raw page are taken when they start at
        this cursor (their first requests are out already).
        """
        if window.planned and window.planned[0].paginator.cursor == window.paginator.cursor:
            halves, window.planned = window.planned, []
        else:
            self.ahead.drop_plan(window)
            cut = self._cut(window, hint)
            if cut is None:
                return []
            halves = self._cut_windows(window, cut, window.paginator.cursor)
        with self.lock:
            window.complete = window.split = True
            self.windows.extend(halves)
        return halves

    def _accept(self, page: FastPage, content: bytes) -> pd.DataFrame | FastPage:
        """Drop rows already received (by id), count the page, return it (as a frame unless columnar)."""
        meaning = count_meaning(page.meta.get("count"), page.records)
        ids = page.ids().tolist()
        with self.lock:
            repeated = {i for i in ids if i in self.seen}
            self.seen.update(ids)
        if repeated:
            page = read_page(
                content,
                TRANSACTIONS,
                records_key="transactions",
                include_pii=self.include_pii,
                wall_zone=self.wall_zone,
                skip_ids=repeated,
                hints=self.hints,
                pause_gc=self.pause_gc,
            )
        with self.lock:
            kept = len(page.frame) if page.frame is not None else len(ids)
            self.manifest.duplicates_dropped += page.records - kept
            self._count(page, kept)
            if meaning is not None and self.dialect.get("count") != "report total":
                self.dialect["count"] = meaning
        return page if self.columnar else pages_to_frame([page], TRANSACTIONS, pause_gc=self.pause_gc)

    def _count(self, page: Any, rows: int) -> None:
        m = self.manifest
        m.pages += 1
        m.rows += rows
        m.rounded_values += page.rounded_values
        if page.pii_dropped:
            m.extra["pii_dropped"] = sorted(set(m.extra.get("pii_dropped", [])) | set(page.pii_dropped))
        # running bounds: min/max over all ids seen would cost O(rows) on every page
        if rows and len(ids := page.ids()):
            low, high = int(ids.min()), int(ids.max())
            m.first_cursor = low if m.first_cursor is None else min(m.first_cursor, low)
            m.last_cursor = high if m.last_cursor is None else max(m.last_cursor, high)
        self.progress.page(rows=rows)

    def failure(self, exc: LedgerkitError, frames: list[pd.DataFrame]) -> None:
        """Give ``exc`` ``.resume`` (continue the whole pull), ``.manifest`` and ``.partial``.

        ``.resume`` names every payment method not finished and the one
        cursor safe for all their windows (the lowest; None when one had not
        started): a single call that cannot miss a row. It is exact when one
        window was left; otherwise it fetches again rows already in
        ``.partial`` -- drop duplicates by ``id``. Each unfinished window's
        own place is in ``manifest["pending_windows"]``.
        """
        pending = [w for w in self.windows if not w.complete and w.method not in self.refused]
        backward = self.query.direction == "backward" and not self.concurrent
        cursors = [w.paginator.cursor for w in pending]
        known = [c for c in cursors if c is not None]
        cursor = None if len(known) < len(cursors) else (max if backward else min)(known, default=None)
        methods = tuple(dict.fromkeys(w.method for w in pending))
        self.manifest.complete = False
        self.manifest.extra["pending_windows"] = [w.summary() for w in pending]
        self.manifest.extra["pending_methods"] = list(methods)
        resume = dict(self.manifest.parameters)
        if pending:
            resume.update(
                payment_method_type=methods,
                starting_after=None,
                ending_before=None,
                skip_refused_methods=self.query.skip_refused,
            )
            resume["ending_before" if backward else "starting_after"] = cursor
        if len(pending) > 1:
            exc.args = (
                f"{exc.args[0] if exc.args else exc} -- .resume continues every unfinished window "
                f"({', '.join(methods)}); it may fetch rows of .partial again: drop duplicates by id",
            )
        partial = self.frame(frames)
        resumable(exc, resume=resume, manifest=partial.attrs["ledgerkit"], partial=partial)

    def frame(self, pages: list[pd.DataFrame | FastPage]) -> pd.DataFrame:
        """All pages so far as one frame, ascending id, with the manifest attached."""
        self.manifest.extra["windows"] = [w.summary() for w in self.windows]
        self.manifest.extra["window_count"] = len(self.windows)
        if not pages:
            df = empty_frame(TRANSACTIONS, include_pii=self.include_pii)
        elif self.columnar:
            df = self._columnar_frame(pages)
        else:
            df = finish(pages, TRANSACTIONS, sort_by="id")
        return attach_manifest(df, self.manifest, self.client.stats)

    def _columnar_frame(self, pages: list[FastPage]) -> pd.DataFrame:
        """The Arrow ``pages`` as one frame, ascending id: the frame built early, when it was, and the rest."""
        early, self.early = self.early, None
        if early is None:
            return pages_to_frame(pages, TRANSACTIONS, sort_by="id", consume=True, pause_gc=self.pause_gc)
        framed, built = early
        self.manifest.extra["pages_framed_early"] = len(framed)
        if any(p is not q for p, q in zip(framed, pages, strict=False)):
            raise RuntimeError("the pages framed early are not the first of the pull's pages")
        rest = [p for p in pages[len(framed) :] if p.frame is None or len(p.frame)]
        first = built.result()
        if not rest:  # the sweeps found nothing new: the usual case
            return first
        return pages_to_frame(
            [FastPage(first), *rest], TRANSACTIONS, sort_by="id", consume=True, pause_gc=self.pause_gc
        )


def _refuses_method(exc: InvalidRequestError) -> bool:
    """Whether a 422 is the provider refusing the payment method (it names ``payment_method_type``)."""
    named = [str(f.get("parameter", "")) for f in getattr(exc, "field_errors", None) or []]
    return any(n.endswith("payment_method_type") for n in named) or (
        not named and "payment_method_type" in str(exc.args[0] if exc.args else "")
    )


#: Arrow pages per call of the fee-unit check.
_FEE_BATCH = 32


def _fee_columns(pages: list[FastPage]) -> FastPage:
    """The columns the fee-unit check reads, of ``pages`` alike in them, as one page (no copy)."""
    first = pages[0].columns
    return FastPage(
        None,
        0,
        (),
        columns={
            c: pa.chunked_array([p.columns[c] for p in pages], first[c].type) for c in FeeUnits.columns if c in first
        },
    )


#: Pages a window must still hold, at its last page's density, to be split (a split costs two requests and a sweep).
_SPLIT_PAGES = 3


def _span(page: FastPage, column: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The earliest and latest ``column`` time on ``page`` (None when it has none)."""
    if page.frame is not None:
        times = page.frame[column] if column in page.frame.columns else None
        return (times.min(), times.max()) if times is not None and times.notna().any() else None
    if column not in page.columns:
        return None
    bounds = pc.min_max(page.columns[column]).as_py()
    return None if bounds["max"] is None else (pd.Timestamp(bounds["min"]), pd.Timestamp(bounds["max"]))


def _edge_span(body: bytes, column: str, zone: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The ``column`` times of the first and last records of the raw page ``body`` (a hint: None when unsure).

    Times without an offset are read in ``zone``. Only ever used to decide
    early whether to send a window's next request (see :meth:`_Pull._step`).

    Examples
    --------
    >>> body = b'{"transactions": [{"created_at": "2025-01-02T00:00:00Z"}, {"created_at": "2025-01-05"}]}'
    >>> _edge_span(body, "created_at", "UTC")
    (Timestamp('2025-01-02 00:00:00+0000', tz='UTC'), Timestamp('2025-01-05 00:00:00+0000', tz='UTC'))
    """
    texts = edge_texts(body, column)
    if texts is None:
        return None
    try:
        first, last = (pd.Timestamp(t) for t in texts)
        first, last = (t.tz_localize(zone) if t.tzinfo is None else t for t in (first, last))
        first, last = first.tz_convert("UTC"), last.tz_convert("UTC")
    except Exception:  # noqa: BLE001 - a hint: text it cannot read as a time only means "unsure"
        return None
    return (first, last) if first is not pd.NaT and last is not pd.NaT and first <= last else None


def _worth_splitting(window: Window, span: tuple[pd.Timestamp, pd.Timestamp] | None, rows: int) -> bool:
    """Whether the rest of ``window`` holds more than ``_SPLIT_PAGES`` pages at this page's density of rows.

    A split costs requests (two halves, and a sweep of the method at the
    end), so a window with a page or two left is pulled on as it is: a
    sparse period is not slower with workers than with one. Unknown times
    (no span) keep splitting, as a dense page does.
    """
    if span is None or window.end is None or rows == 0:
        return True
    earliest, latest = span
    covered, left = (latest - earliest).total_seconds(), (window.end - latest).total_seconds()
    return covered <= 0 or left / covered * rows > _SPLIT_PAGES * rows


def pull(
    connection: Connection,
    request: TransactionsRequest,
    *,
    max_workers: int = 4,
    progress: bool | None = None,
    columnar: bool = True,
    known_refused: tuple[str, ...] = (),
    pause_gc: bool | None = None,
) -> _Pull:
    """Set up the pull of ``request`` over ``connection`` (no request is sent until its pages are asked for).

    Drive it with :func:`~ledgerkit.sources._pull.collect` (one frame; ``columnar``
    keeps pages as Arrow columns until the end) or
    :func:`~ledgerkit.sources._pull.iterate` (``columnar=False``: a frame per page).
    With ``max_workers`` above 1 and no cursor, ``[date_from, date_to)`` is cut
    into time windows per method pulled at the same time (:mod:`.windows`).
    ``known_refused``: methods this server refused before; when the request
    skips refused methods, they are not asked for again. ``pause_gc``: pause
    Python's garbage collector -- a switch for the whole process -- while
    this pull parses pages (:func:`~ledgerkit._ingest.arrow_pages.gc_paused`);
    None pauses it unless ``LEDGERKIT_GC_PAUSE=0``, False leaves it alone.
    """
    check_flag("pause_gc", pause_gc, allow_none=True)
    check_workers(max_workers)
    parameters = {
        **request.parameters(),
        "max_workers": max_workers,
        "base_url": connection.config.base_url,
        "shop_id": connection.config.credentials.user,
    }
    manifest = Manifest("transactions", parameters, include_pii=request.include_pii)
    sent = request.report_params(request.methods[0])
    manifest.extra["sent_from"], manifest.extra["sent_to"] = sent["from"], sent["to"]
    remembered = set(known_refused) & set(request.methods) if request.skip_refused else set()
    return _Pull(
        connection,
        request,
        manifest,
        PullProgress(progress, "transactions"),
        max_workers=max_workers,
        columnar=columnar,
        refused=remembered,
        pause_gc=pause_gc,
    )
