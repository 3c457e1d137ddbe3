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

Examples
--------
>>> from ledgerkit.sandbox import Sandbox                       # doctest: +SKIP
>>> with Sandbox() as sb:                                        # doctest: +SKIP
...     df = load_transactions("2025-01-01", "2025-02-01", base_url=sb.transactions_url,
...                            secret_key=sb.credentials["transactions"])
...     df.attrs["ledgerkit"]["complete"]
True
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import pyarrow.compute as pc
import pandas as pd
import requests

from ..errors import ConfigurationError, DataError, InvalidRequestError, LedgerkitError
from .._ingest.arrow_pages import FastPage, NotJSON, pages_to_frame, read_columns, read_page
from .._ingest.schema import TRANSACTIONS
from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.records import empty_frame, finish
from .._transport.http import MalformedBody, RetryPolicy
from .._transport.pagination import CursorPaginator, whole_number
from .._transport.progress import PullProgress
from .._transport.ratelimit import RateLimiter, limited_session
from .._ingest.timeparse import check_zone, instant, wall_clock
from . import Client, check_flag, collect, iterate, open_client, resumable
from ._fee_units import FeeUnits
from .windows import WindowScheduler, plan_spans, split_point

__all__ = ["load_transactions", "iter_transactions", "TransactionsQuery", "Window", "fetch_page", "parse_error"]

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
    fields = [{"parameter": name, "messages": list(msgs)} for name, msgs in errors.items()] if isinstance(errors, dict) else []
    detail = "; ".join(f"{f['parameter']} {', '.join(map(str, f['messages']))}" for f in fields)
    message = str(body.get("message") or response.reason)
    return (f"{message}: {detail}" if detail else message), fields


# ----------------------------------------------------------------- the query


@dataclass(frozen=True)
class TransactionsQuery:
    """Validated arguments of a pull; :meth:`report_params` renders them for one method."""

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

    @property
    def direction(self) -> str:
        return "backward" if self.ending_before is not None else "forward"

    def report_params(self, method: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> dict[str, Any]:
        """``report_params`` without a cursor, for one ``payment_method_type`` (and a window of the period)."""
        start = self.date_from if start is None else start
        end = self.date_to if end is None else end
        first, last = _api_bounds(self.date_type, start, end, self.time_zone, "date_from", "date_to")
        params = {"date_type": self.date_type, "from": first, "to": last, "status": self.status,
                  "payment_method_type": method, "time_zone": self.time_zone}
        if self.correction is not None:
            lo, hi = self.correction
            lo_text, hi_text = _api_bounds(self.date_type, lo, hi, self.time_zone,
                                           "manual_correction_from", "manual_correction_to")
            if lo is not None:
                params["manual_correction_from"] = lo_text
            if hi is not None:
                params["manual_correction_to"] = hi_text
        return params


def _api_bounds(date_type: str, start: pd.Timestamp | None, end: pd.Timestamp | None, zone: str,
                start_name: str, end_name: str) -> tuple[str | None, str | None]:
    """Half-open ``[start, end)`` -> the API's inclusive ``from``/``to`` text in ``zone``.

    Times: ``to`` is one second before ``end`` (the API counts whole seconds).
    ``settled_at`` counts whole days, so both ends must be midnights in ``zone``
    and ``to`` is the last day.
    """
    if date_type == "settled_at":
        for name, ts in ((start_name, start), (end_name, end)):
            if ts is not None and ts.tz_convert(zone) != ts.tz_convert(zone).normalize():
                raise ConfigurationError(name, ts.isoformat(), f"a midnight in time_zone {zone} (settled_at counts whole days)")
        first = None if start is None else start.tz_convert(zone).strftime("%Y-%m-%d")
        last = None if end is None else (end.tz_convert(zone) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        return first, last
    first = None if start is None else wall_clock(start.ceil("s"), zone)
    last = None if end is None else wall_clock(end.ceil("s") - pd.Timedelta(seconds=1), zone)
    return first, last


def _one_of(parameter: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigurationError(parameter, value, f"one of {', '.join(allowed)}")
    return value


def _methods(value: Any) -> tuple[str, ...]:
    """The payment methods asked for: any method names (an open set), or None for every known one."""
    if value is None:
        return METHODS
    values = (value,) if isinstance(value, str) else value
    expected = f"a method name or a tuple of them (known: {', '.join(METHODS)}), or None for every method offered"
    try:
        methods = tuple(dict.fromkeys(values))
    except TypeError:
        raise ConfigurationError("payment_method_type", value, expected) from None
    if not methods or not all(isinstance(m, str) and _METHOD_NAME.match(m) for m in methods):
        raise ConfigurationError("payment_method_type", value, expected)
    return methods


def _cursor(parameter: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ConfigurationError(parameter, value, "a transaction id (a non-negative integer), e.g. df.attrs['ledgerkit']['last_cursor']")


def _range(start_name: str, start: pd.Timestamp, end_name: str, end: pd.Timestamp) -> None:
    if not start < end:
        raise ConfigurationError(end_name, end.isoformat(), f"a moment after {start_name}={start.isoformat()} ([{start_name}, {end_name}) is empty)")


def plan_query(date_from: Any, date_to: Any, *, date_type: str, status: str, payment_method_type: Any,
               time_zone: str, manual_correction_from: Any, manual_correction_to: Any,
               starting_after: Any, ending_before: Any, skip_refused_methods: Any = None) -> TransactionsQuery:
    """Check every argument and build the query; raises ``ConfigurationError`` before any request."""
    zone = check_zone(time_zone)
    date_type = _one_of("date_type", date_type, DATE_TYPES)
    status = _one_of("status", status, STATUSES)
    methods = _methods(payment_method_type)
    start, end = instant(date_from, "date_from", zone), instant(date_to, "date_to", zone)
    _range("date_from", start, "date_to", end)
    correction = None
    if manual_correction_from is not None or manual_correction_to is not None:
        lo = None if manual_correction_from is None else instant(manual_correction_from, "manual_correction_from", zone)
        hi = None if manual_correction_to is None else instant(manual_correction_to, "manual_correction_to", zone)
        if lo is not None and hi is not None:
            _range("manual_correction_from", lo, "manual_correction_to", hi)
        correction = (lo, hi)
    after, before = _cursor("starting_after", starting_after), _cursor("ending_before", ending_before)
    if after is not None and before is not None:
        raise ConfigurationError("ending_before", before, "None when starting_after is given (one direction per pull)")
    skip = check_flag("skip_refused_methods", skip_refused_methods, allow_none=True)
    query = TransactionsQuery(date_type, start, end, zone, status, methods,
                              payment_method_type is None if skip is None else skip, correction, after, before)
    for method in methods:  # settled_at midnights are checked here, before any request
        query.report_params(method)
    return query


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
    pages: int = 0
    rows: int = 0
    complete: bool = False
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    split: bool = False

    def summary(self) -> dict[str, Any]:
        out = {"payment_method_type": self.method, "pages": self.pages, "rows": self.rows,
               "cursor": self.paginator.cursor, "complete": self.complete}
        if self.start is not None:
            out.update({"from": self.start, "to": self.end, "split": self.split})
        return out


def _page_decoder(include_pii: bool, wall_zone: str | None) -> Callable[[requests.Response], tuple[FastPage, bytes]]:
    """``decode`` for :func:`ledgerkit._transport.http.send_json`: body -> (columnar page, body).

    A body that is not JSON is asked for again; JSON that breaks the
    contract raises :class:`DataError` at once (asking again would not mend it).
    """

    def decode(response: requests.Response) -> tuple[FastPage, bytes]:
        body = response.content
        try:
            return read_columns(body, TRANSACTIONS, records_key="transactions", include_pii=include_pii,
                                wall_zone=wall_zone), body
        except NotJSON as exc:
            raise MalformedBody(str(exc)) from None

    return decode


def fetch_page(client: Client, window: Window, decode: Callable[[requests.Response], Any]) -> tuple[FastPage, bytes]:
    """Fetch the next page of ``window`` as a typed page (see :mod:`ledgerkit._ingest.arrow_pages`) and advance its cursor.

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
    paginator = window.paginator
    body = {"report_params": {**window.params, **paginator.next_request()}}
    try:
        _, (page, content) = client.json("POST", PATH, json=body, headers=HEADERS, decode=decode)
        count_meaning(page.meta.get("count"), page.records)  # a page that fits no reading stops before the cursor moves
        ids = page.ids()
        paginator.update_state(page.meta, (int(ids.min()), int(ids.max())) if len(ids) else None)
    except DataError as exc:
        raise DataError(f"{_page_name(window)}: {exc}", rows=exc.rows) from exc
    window.pages += 1
    window.rows += page.records
    return page, content


def _page_name(window: Window) -> str:
    """Which page a message is about: ``transactions page 3 (payment_method_type=credit_card, ..., starting_after=28861)``."""
    cursor = window.paginator.next_request()
    where = ", ".join(f"{k}={v}" for k, v in cursor.items()) or "first page"
    return (f"transactions page {window.pages + 1} (payment_method_type={window.method}, "
            f"from {window.params.get('from')} to {window.params.get('to')}, {where})")


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
        raise DataError(f"the page announced count={number} but holds {records} transactions (fewer than the page "
                        "holds: neither the page's nor the report's total)")
    return "page rows" if number == records else "report total"


# ------------------------------------------------------------------ the pull


@dataclass
class _Pull:
    """One load: the windows in order, the rows seen, the manifest and the bar."""

    client: Client
    query: TransactionsQuery
    include_pii: bool
    manifest: Manifest
    progress: PullProgress
    max_workers: int = 1
    columnar: bool = False
    windows: list[Window] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refused: set[str] = field(default_factory=set)
    units: FeeUnits = field(default_factory=FeeUnits)

    def __post_init__(self) -> None:
        q = self.query
        self.dialect: dict[str, Any] = {}
        self.manifest.extra["dialect"] = self.dialect  # what the server's answers teach, filled in as they come
        cursor = q.ending_before if q.direction == "backward" else q.starting_after
        self.concurrent = self.max_workers > 1 and cursor is None
        self.wall_zone = None if q.time_zone == "UTC" else q.time_zone
        self.decode = _page_decoder(self.include_pii, self.wall_zone)
        if self.concurrent:
            parts = -(-self.max_workers // len(q.methods))  # dense windows split further as workers idle
            bounds = plan_spans(q.date_from, q.date_to, parts, q.date_type, q.time_zone)
            self.windows = [self._window(m, a, b, None) for m in q.methods for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            self.windows = [Window(m, q.report_params(m), CursorPaginator(q.direction, cursor)) for m in q.methods]

    def _window(self, method: str, start: pd.Timestamp, end: pd.Timestamp, cursor: int | None) -> Window:
        return Window(method, self.query.report_params(method, start, end), CursorPaginator("forward", cursor),
                      start=start, end=end)

    def pages(self) -> Iterator[pd.DataFrame | FastPage]:
        """Typed pages (duplicates across pages dropped): window after window, or concurrently.

        With ``columnar`` (a whole load) the pages stay Arrow columns until
        :meth:`frame` converts them all at once; else each is a frame.
        """
        if self.concurrent:
            yield from self._concurrent_pages()
        else:
            for window in self.windows:
                while window.paginator.has_next_page and (fetched := self._fetch(self.client, window)):
                    yield self._accept(*fetched)
                window.complete = True
        self._check_units()

    def _fetch(self, client: Client, window: Window) -> tuple[FastPage, bytes] | None:
        """The next page of ``window``; None when the provider refuses its method (not asked for by name)."""
        if window.method in self.refused:
            return None
        try:
            return fetch_page(client, window, self.decode)
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
        limiter = RateLimiter(sleep=self.client.policy.sleep)  # tests inject a no-op sleep
        self.manifest.extra["max_workers"] = self.max_workers

        def worker() -> Client:
            return replace(self.client, session=limited_session(self.client.session, limiter))

        yield from WindowScheduler(list(self.windows), self._step, max_workers=self.max_workers, make_worker=worker)
        yield from self._sweep(worker())
        self.manifest.extra["throttled"] = limiter.throttled

    def _sweep(self, client: Client) -> Iterator[pd.DataFrame | FastPage]:
        """Per method, the whole period once more after its highest id: rows added while the windows ran.

        New transactions get ids above all others; the sequential pull meets
        them at its end, but a time window that had already finished would
        not. Usually one empty page per method.
        """
        for method in (m for m in self.query.methods if m not in self.refused):
            cursors = [w.paginator.cursor for w in self.windows if w.method == method and w.paginator.cursor is not None]
            window = Window(method, self.query.report_params(method), CursorPaginator("forward", max(cursors, default=None)))
            with self.lock:
                self.windows.append(window)
            while window.paginator.has_next_page and (fetched := self._fetch(client, window)):
                yield self._accept(*fetched)
            window.complete = True

    def _step(self, window: Window, client: Client, hungry: bool) -> tuple[pd.DataFrame | FastPage, list[Window]]:
        """One page of ``window``; then the window again, its two halves (dense and a worker idle), or nothing."""
        fetched = self._fetch(client, window)
        if fetched is None:
            window.complete = True
            return None, []
        page, content = fetched
        latest = _latest(page, self.query.date_type)
        result = self._accept(page, content)
        if not window.paginator.has_next_page:
            window.complete = True
            return result, []
        halves = self._halves(window, latest) if hungry else []
        return result, halves or [window]

    def _halves(self, window: Window, hint: pd.Timestamp | None) -> list[Window]:
        """Cut a dense window in two after its latest row so far (``hint``); both halves keep its cursor."""
        q = self.query
        cut = split_point(window.start, window.end, q.date_type, q.time_zone, hint=hint)
        if cut is None:
            return []
        halves = [self._window(window.method, a, b, window.paginator.cursor) for a, b in ((window.start, cut), (cut, window.end))]
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
            page = read_page(content, TRANSACTIONS, records_key="transactions", include_pii=self.include_pii,
                             wall_zone=self.wall_zone, skip_ids=repeated)
        with self.lock:
            kept = len(page.frame) if page.frame is not None else len(ids)
            self.manifest.duplicates_dropped += page.records - kept
            self._count(page, kept)
            if meaning is not None and self.dialect.get("count") != "report total":
                self.dialect["count"] = meaning
            self.units.observe(page)
        return page if self.columnar else pages_to_frame([page], TRANSACTIONS)

    def _count(self, page: Any, rows: int) -> None:
        m = self.manifest
        m.pages += 1
        m.rows += rows
        m.rounded_values += page.rounded_values
        if page.pii_dropped:
            m.extra["pii_dropped"] = sorted(set(m.extra.get("pii_dropped", [])) | set(page.pii_dropped))
        ids = page.ids() if rows else ()
        if len(ids):  # running bounds: min/max over all ids seen would cost O(rows) on every page
            low, high = int(ids.min()), int(ids.max())
            m.first_cursor = low if m.first_cursor is None else min(m.first_cursor, low)
            m.last_cursor = high if m.last_cursor is None else max(m.last_cursor, high)
        self.progress.page(rows=rows)

    def failure(self, exc: LedgerkitError, frames: list[pd.DataFrame]) -> LedgerkitError:
        """``exc`` with ``.resume`` (continue the whole pull), ``.manifest`` and ``.partial``.

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
        cursor = None if None in cursors else (max if backward else min)(cursors, default=None)
        methods = tuple(dict.fromkeys(w.method for w in pending))
        self.manifest.complete = False
        self.manifest.extra["pending_windows"] = [w.summary() for w in pending]
        self.manifest.extra["pending_methods"] = list(methods)
        resume = dict(self.manifest.parameters)
        if pending:
            resume.update(payment_method_type=methods, starting_after=None, ending_before=None,
                          skip_refused_methods=self.query.skip_refused)
            resume["ending_before" if backward else "starting_after"] = cursor
        if len(pending) > 1:
            exc.args = (f"{exc.args[0] if exc.args else exc} -- .resume continues every unfinished window "
                        f"({', '.join(methods)}); it may fetch rows of .partial again: drop duplicates by id",)
        partial = self.frame(frames)
        return resumable(exc, resume=resume, manifest=partial.attrs["ledgerkit"], partial=partial)

    def frame(self, pages: list[pd.DataFrame | FastPage]) -> pd.DataFrame:
        """All pages so far as one frame, ascending id, with the manifest attached."""
        self.manifest.extra["windows"] = [w.summary() for w in self.windows]
        self.manifest.extra["window_count"] = len(self.windows)
        if not pages:
            df = empty_frame(TRANSACTIONS, include_pii=self.include_pii)
        elif self.columnar:
            df = pages_to_frame(pages, TRANSACTIONS, sort_by="id", consume=True)  # the pull ends here
        else:
            df = finish(pages, TRANSACTIONS, sort_by="id")
        return attach_manifest(df, self.manifest, self.client.stats)


def _refuses_method(exc: InvalidRequestError) -> bool:
    """Whether a 422 is the provider refusing the payment method (it names ``payment_method_type``)."""
    named = [str(f.get("parameter", "")) for f in getattr(exc, "field_errors", None) or []]
    return any(n.endswith("payment_method_type") for n in named) or (
        not named and "payment_method_type" in str(exc.args[0] if exc.args else ""))


def _latest(page: FastPage, column: str) -> pd.Timestamp | None:
    """The latest ``column`` time on ``page`` (None when it has none)."""
    if page.frame is not None:
        times = page.frame[column] if column in page.frame.columns else None
        return times.max() if times is not None and times.notna().any() else None
    latest = pc.max(page.columns[column]).as_py() if column in page.columns else None
    return None if latest is None else pd.Timestamp(latest)


def _start(date_from: Any, date_to: Any, kw: dict[str, Any], *, columnar: bool = False) -> _Pull:
    """Validate everything, resolve configuration, and set up the pull (no request yet)."""
    query = plan_query(date_from, date_to, **{k: kw[k] for k in (
        "date_type", "status", "payment_method_type", "time_zone", "manual_correction_from",
        "manual_correction_to", "starting_after", "ending_before", "skip_refused_methods")})
    workers = kw["max_workers"]
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 32:
        raise ConfigurationError("max_workers", workers, "an integer from 1 to 32 (windows pulled at the same time)")
    client = open_client("transactions", base_url=kw["base_url"], user=kw["shop_id"], secret=kw["secret_key"],
                         session=kw["session"], retry=kw["retry"], parse_error=parse_error)
    parameters = {"date_from": date_from if isinstance(date_from, str) else query.date_from,
                  "date_to": date_to if isinstance(date_to, str) else query.date_to,
                  **{k: v for k, v in kw.items() if k not in ("secret_key", "session", "progress", "retry")},
                  "base_url": client.config.base_url, "shop_id": client.config.credentials.user}
    include_pii = check_flag("include_pii", kw["include_pii"])
    manifest = Manifest("transactions", parameters, include_pii=include_pii)
    sent = query.report_params(query.methods[0])
    manifest.extra["sent_from"], manifest.extra["sent_to"] = sent["from"], sent["to"]
    return _Pull(client, query, include_pii, manifest, PullProgress(kw["progress"], "transactions"),
                 max_workers=workers, columnar=columnar)


def load_transactions(
    date_from: Any,
    date_to: Any,
    *,
    date_type: str = "created_at",
    status: str = "all",
    payment_method_type: str | tuple[str, ...] | None = None,
    skip_refused_methods: bool | None = None,
    time_zone: str = "UTC",
    manual_correction_from: Any = None,
    manual_correction_to: Any = None,
    starting_after: int | str | None = None,
    ending_before: int | str | None = None,
    base_url: str | None = None,
    shop_id: str | int | None = None,
    secret_key: str | None = None,
    progress: bool | None = None,
    include_pii: bool = False,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    store: Any = None,
    lookback: Any = None,
    max_workers: int = 4,
) -> pd.DataFrame:
    """Pull the shop's transactions in ``[date_from, date_to)`` into one typed DataFrame.

    Parameters
    ----------
    date_from, date_to : datetime, pd.Timestamp, date or str
        The half-open period ``[date_from, date_to)`` on ``date_type``.
        Timezone-aware values and ISO strings with an offset are instants;
        dates and ISO strings without an offset are wall-clock in
        ``time_zone``; naive datetime objects are refused. The API counts
        whole seconds and is inclusive, so ``to`` is sent as ``date_to``
        minus one second. For ``date_type="settled_at"`` the API counts
        days: both ends must be midnights in ``time_zone`` and ``to`` is sent
        as the last day.
    date_type : {"created_at", "paid_at", "settled_at"}
    status : {"all", "successful", "failed", "pending", "incomplete"}
    payment_method_type : str, tuple of str or None
        The methods to pull, one paginated run each (the rows are
        concatenated and ordered by ``id``). Any method name the provider
        knows (``"credit_card"``, ``"alternative"``, bePaid's ``"erip"``,
        ...). None (the default): every method the provider offers --
        each known one is asked for, and one the provider refuses with a
        422 naming ``payment_method_type`` is skipped and listed in the
        manifest's ``dialect["methods_refused"]``. A method named here
        that the provider refuses raises ``InvalidRequestError``.
    skip_refused_methods : bool, optional
        Whether a method the provider refuses is skipped (True) or raises
        (False); None: skipped for the default methods, raised for methods
        named in ``payment_method_type``. An error's ``.resume`` sets it so
        that resuming a default pull keeps skipping.
    time_zone : str
        IANA zone of the API's wall-clock bounds. The API then reports
        timestamps as wall-clock in that zone while still writing ``Z``;
        they are read as such and converted to UTC. ``"UTC"`` avoids the
        ambiguity of the hour repeated when clocks go back.
    manual_correction_from, manual_correction_to : optional
        Only transactions whose ``manually_corrected_at`` is in this
        half-open period (either end may be open), same rules as the dates.
    starting_after : int, optional
        Only ids above this one: pass ``df.attrs["ledgerkit"]["last_cursor"]``
        of an earlier pull to fetch only newer rows.
    ending_before : int, optional
        Pull backwards: the ids below this one (rows still come back
        ascending). Not together with ``starting_after``.
    base_url, shop_id, secret_key : optional
        Else ``LEDGERKIT_TRANSACTIONS_URL`` / ``_SHOP_ID`` / ``_SECRET_KEY``.
    progress : bool or None
        A progress bar: None shows one only for pulls of more than a few pages.
    include_pii : bool
        Keep card holder, card token, customer ip/email, billing address
        (except country), vendor token, 3-D Secure details (dropped by default).
    retry : ledgerkit.RetryPolicy, optional
    session : requests.Session, optional
        Used for transport; given the Basic auth when it has none. With
        ``max_workers > 1`` each worker gets its own session copying this
        one's auth, headers and transport options.
    store : ledgerkit.store.Store, path or True, optional
        Keep the pulled pages in a local store (True: the default one) and
        ask the API only for what it lacks plus the ``lookback`` stretch;
        a killed pull resumes from its last stored page (see :mod:`ledgerkit.store`).
    lookback : pandas.Timedelta, optional
        With ``store``: how much before the previous pull's end is read
        again (default 3 days) to catch late and corrected rows.
    max_workers : int
        With more than 1, ``[date_from, date_to)`` is cut into that many
        time windows per payment method, pulled at the same time (one
        ``requests.Session`` per worker, one rate limiter shared by all that
        slows down on 429 and honours ``Retry-After``); a window still
        ``has_more`` after a page is split in two while a worker is idle.
        The frame is the same as with 1 (one window per method, pulled in
        cursor order). With ``starting_after``/``ending_before`` the pull is
        sequential.

    Returns
    -------
    pandas.DataFrame
        One row per transaction, ascending ``id`` (RangeIndex):
        ``id`` Int64, ``uid`` str, ``type``/``status``/``payment_method_type``
        category, ``amount``/``transaction_fee``/``pay_to_merchant`` Int64
        minor units of ``currency`` (category), ``discount_rate``/
        ``transaction_rate`` Float64 percent, ``test`` boolean,
        ``created_at``/``paid_at``/``settled_at``/``manually_corrected_at``
        datetime64[ns, UTC], ``description``/``tracking_id``/``order_id``/
        ``message``/``gateway_note`` str, then the flattened nested fields
        (``shop.id``, ``payment.gateway_id``, ``payment.gateway_name``,
        ``credit_card.brand``, ``credit_card.product``,
        ``credit_card.issuer_country``, ``billing_address.country``,
        ``additional_data.*``, ``three_d_secure_verification.*``, ...) and
        any unknown field (e.g. ``alternative.method``). The pull's manifest
        is in ``df.attrs["ledgerkit"]``.

    Raises
    ------
    ConfigurationError
        A bad argument, before any request is sent.
    APIError, TransportError, DataError, PaginationError
        When the pull fails; the error's ``.resume`` holds the keyword
        arguments that continue the whole pull (every payment method not
        finished, from the lowest cursor safe for all), ``.partial`` the rows
        pulled so far and ``.manifest`` their manifest. ``partial`` plus
        ``load_transactions(**err.resume)`` may hold an id twice when more
        than one window was unfinished: drop duplicates by ``id``.

    Examples
    --------
    >>> from ledgerkit.sandbox import Sandbox                   # doctest: +SKIP
    >>> with Sandbox() as sb:                                    # doctest: +SKIP
    ...     kw = dict(base_url=sb.transactions_url, secret_key=sb.credentials["transactions"])
    ...     df = load_transactions("2025-01-01", "2025-02-01", **kw)
    ...     newer = load_transactions("2025-01-01", "2025-02-01",
    ...                               starting_after=df.attrs["ledgerkit"]["last_cursor"], **kw)
    >>> len(newer)                                                # doctest: +SKIP
    0
    """
    if store is not None and store is not False:
        from ..store import load_stored_transactions

        return load_stored_transactions(dict(locals()))
    kw = dict(locals())
    del kw["store"], kw["lookback"]
    return collect(_start(date_from, date_to, kw, columnar=True))


def iter_transactions(
    date_from: Any,
    date_to: Any,
    *,
    date_type: str = "created_at",
    status: str = "all",
    payment_method_type: str | tuple[str, ...] | None = None,
    skip_refused_methods: bool | None = None,
    time_zone: str = "UTC",
    manual_correction_from: Any = None,
    manual_correction_to: Any = None,
    starting_after: int | str | None = None,
    ending_before: int | str | None = None,
    base_url: str | None = None,
    shop_id: str | int | None = None,
    secret_key: str | None = None,
    progress: bool | None = None,
    include_pii: bool = False,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    max_workers: int = 1,
) -> Iterator[pd.DataFrame]:
    """Like :func:`load_transactions`, one typed DataFrame per page as it arrives.

    Arguments are checked when this is called (before any request); pages
    are fetched as the iterator is advanced. Each frame has the columns of
    :func:`load_transactions` that its page holds and a manifest of the pull
    so far in ``attrs["ledgerkit"]``; rows repeated across pages are dropped.
    ``max_workers`` defaults to 1 here: pages then come in cursor order, so
    the manifest's ``last_cursor`` after a page is a place to resume from
    (:mod:`ledgerkit.store` relies on it); with more, pages come as windows
    deliver them.
    Pages are not kept (memory stays that of one page): an error's
    ``.partial`` is empty -- you have the pages -- while ``.manifest`` counts
    them and ``.resume`` continues after them.

    Examples
    --------
    >>> for page in iter_transactions("2025-01-01", "2025-01-02"):    # doctest: +SKIP
    ...     print(len(page), page.attrs["ledgerkit"]["last_cursor"])
    """
    pull = _start(date_from, date_to, dict(locals()))
    return iterate(pull, TRANSACTIONS)
