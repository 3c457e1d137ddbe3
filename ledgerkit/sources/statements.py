"""Account statements from MakeCommerce (Maksekeskus), as a typed DataFrame.

``GET {base_url}/v1/shop/accountstatements?since=&until=&payout_id=&page=&per_page=``,
Basic auth shop id : secret key. Each page is a JSON array of rows in chain
order; the ``Link`` header (RFC 8288) names the ``next`` page and
``X-Total-Count`` the number of matching rows. Amounts are decimals in major
units of the account currency, parsed as ``Decimal`` and converted exactly.

Rows have no id, so each gets ``row_id``, a hash of its canonical JSON;
rows repeated across pages are dropped by it and counted. The rows
received must equal ``X-Total-Count``. When the count grows during the pull
(rows appended at the end of the chain), the last page is fetched again
until the count holds still, so the frame is complete as of the end of the
pull; the manifest reports ``total_first`` and ``total``.

Examples
--------
>>> from ledgerkit.sandbox import Sandbox                       # doctest: +SKIP
>>> with Sandbox() as sb:                                        # doctest: +SKIP
...     df = load_statements(since="2025-01-01", base_url=sb.statements_url,
...                          secret_key=sb.credentials["statements"])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import requests

from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.records import build_page, empty_frame, excerpt, finish, strict_json
from .._ingest.schema import STATEMENTS
from .._ingest.timeparse import day
from .._transport.http import MalformedBody
from .._transport.pagination import LinkPaginator, fetch_next, total_count
from .._transport.progress import PullProgress
from .._transport.ratelimit import RateLimiter, limited_session
from ..errors import ConfigurationError, CountMismatchError, DataError, LedgerkitError
from ..money import check_currency
from ._pull import Connection, check_workers, resumable
from ._statement_rows import Rows
from .windows import WindowScheduler

__all__ = ["StatementsRequest", "pull", "parse_error"]

PATH = "/v1/shop/accountstatements"
PER_PAGE_MAX = 1000
#: The largest ``start_page``: what a server's 32-bit page number holds under every reading.
START_PAGE_MAX = 2**31 - 1
#: How often the last page is fetched again while the total keeps growing.
MAX_RECHECKS = 3


def parse_error(response: requests.Response) -> tuple[str, list[dict]]:
    """MakeCommerce error body ``{"code", "message", "errors": [{type, parameter, expected}]}``."""
    body = response.json()
    fields = [e for e in body.get("errors") or [] if isinstance(e, dict) and "parameter" in e]
    detail = "; ".join(
        f"{e['parameter']}: {e.get('type', 'invalid')}" + (f" (expected {e['expected']})" if e.get("expected") else "")
        for e in fields
    )
    message = f"{body.get('message') or response.reason} (code {body.get('code')})"
    return (f"{message}: {detail}" if detail else message), fields


def _decode(response: requests.Response) -> Any:
    """JSON with decimals kept exact, by the rules of :func:`~ledgerkit._ingest.records.strict_json`.

    A body that is not JSON is asked for again; JSON that breaks the
    contract (a name twice, ``NaN``, nesting too deep) raises ``DataError``.
    """
    try:
        return strict_json(response.content, parse_float=Decimal)
    except ValueError as exc:
        reason = str(exc).split(":")[0]
        raise MalformedBody(f"the body is not valid JSON ({len(response.content)} bytes): {reason}") from exc


@dataclass(frozen=True)
class StatementsRequest:
    """What to pull, validated: built by :meth:`build`; :meth:`params` renders the first request's query.

    The period is ``[date_from, date_to)`` in whole UTC days (the API's
    ``since`` and ``until``). The API's reading of its ``until`` is not
    documented (a whole inclusive day, or the instant 00:00), so the date
    itself is sent -- a superset under either reading -- and the rows are
    filtered to ``[date_from, date_to)`` here (:meth:`inside`).

    Examples
    --------
    >>> r = StatementsRequest.build(since="2025-01-01", until="2025-02-01")
    >>> r.params(), r.parameters()["date_to"]
    ({'since': '2025-01-01', 'until': '2025-02-01', 'page': 1}, '2025-02-01')
    """

    date_from: date | None
    date_to: date | None
    payout_id: str | None
    per_page: int | None
    currency: str
    start_page: int

    @classmethod
    def build(
        cls,
        date_from: Any = None,
        date_to: Any = None,
        *,
        since: Any = None,
        until: Any = None,
        payout_id: Any = None,
        per_page: Any = None,
        currency: Any = "EUR",
        start_page: Any = 1,
    ) -> StatementsRequest:
        """Check every argument (see :func:`ledgerkit.load_statements`); ``ConfigurationError`` before any request.

        ``since``/``until`` are the API's names for ``date_from``/``date_to``; either pair may be used, not both.
        """
        first_name, first = _alias("date_from", date_from, "since", since)
        last_name, last = _alias("date_to", date_to, "until", until)
        if first is None and payout_id is None:
            raise ConfigurationError(first_name, None, "a date (or a payout_id): the API needs one of them")
        first = None if first is None else day(first, first_name)
        last = None if last is None else day(last, last_name)
        if first is not None and last is not None and not first < last:
            raise ConfigurationError(
                last_name,
                last.isoformat(),
                f"a date after {first_name}={first.isoformat()} ([{first_name}, {last_name}) is empty)",
            )
        if last is not None and first is None:
            raise ConfigurationError(first_name, None, f"a date when {last_name} is given")
        if payout_id is not None and (
            isinstance(payout_id, bool)
            or not isinstance(payout_id, (str, int))
            or str(payout_id).strip() == ""
            or not str(payout_id).strip().isprintable()
        ):
            raise ConfigurationError("payout_id", payout_id, "a payout id (string or integer, no control characters)")
        for name, value, top in (("per_page", per_page, PER_PAGE_MAX), ("start_page", start_page, START_PAGE_MAX)):
            if value is None and name == "per_page":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > top:
                raise ConfigurationError(name, value, f"an integer from 1 to {top}")
        return cls(
            first,
            last,
            None if payout_id is None else str(payout_id).strip(),
            per_page,
            check_currency(currency),
            start_page,
        )

    def parameters(self) -> dict[str, Any]:
        """The request as keyword arguments of :func:`ledgerkit.load_statements` (plain values, for manifests)."""
        return {
            "date_from": None if self.date_from is None else self.date_from.isoformat(),
            "date_to": None if self.date_to is None else self.date_to.isoformat(),
            "payout_id": self.payout_id,
            "per_page": self.per_page,
            "currency": self.currency,
            "start_page": self.start_page,
        }

    def params(self) -> dict[str, Any]:
        """The API query of the first page."""
        params: dict[str, Any] = {}
        if self.date_from is not None:
            params["since"] = self.date_from.isoformat()
        if self.date_to is not None:
            params["until"] = self.date_to.isoformat()
        if self.payout_id is not None:
            params["payout_id"] = self.payout_id
        if self.per_page is not None:
            params["per_page"] = self.per_page
        params["page"] = self.start_page
        return params

    def inside(self, created: pd.Series) -> pd.Series:
        """Which ``created`` times lie in ``[date_from, date_to)`` (all when neither is given)."""
        keep = pd.Series(True, index=created.index)  # a row without a time is kept (NaT compares False)
        if self.date_from is not None:
            keep &= ~(created < pd.Timestamp(self.date_from, tz="UTC"))
        if self.date_to is not None:
            keep &= ~(created >= pd.Timestamp(self.date_to, tz="UTC"))
        return keep


def _alias(name: str, value: Any, alias: str, alias_value: Any) -> tuple[str, Any]:
    """The one of two names for a bound that was given (``ConfigurationError`` when both were)."""
    if value is not None and alias_value is not None:
        raise ConfigurationError(alias, alias_value, f"None when {name} is given (two names for one bound)")
    return (alias, alias_value) if alias_value is not None else (name, value)


@dataclass
class _Page:
    """One page as received: its number, the server's total then, its rows (or the error it got)."""

    number: int
    total: int | None
    rows: list[dict[str, Any]]
    response: requests.Response | None = None
    error: LedgerkitError | None = None


def _total(response: requests.Response) -> int | None:
    return total_count(response.headers)


def _on_page(number: int, exc: DataError) -> DataError:
    """``exc`` told about page ``number`` (raised ``from`` it)."""
    return DataError(f"statements page {number}: {exc}", rows=exc.rows)


class _Pull:
    """One load: paginator, rows kept, manifest and bar.

    The first page is followed like any other; it tells the server's page
    size (its row count when a next page exists -- what was asked for may
    have been capped) and ``X-Total-Count``. With ``max_workers > 1`` the
    remaining pages are then fetched at the same time on the
    :class:`~ledgerkit.sources.windows.WindowScheduler` and taken in order.
    """

    def __init__(
        self,
        client: Connection,
        query: StatementsRequest,
        manifest: Manifest,
        progress: PullProgress,
        max_workers: int = 1,
        *,
        keeps_pages: bool = True,
    ) -> None:
        self.client, self.query, self.manifest, self.progress = client, query, manifest, progress
        self.paginator = LinkPaginator(client.config.url(PATH), query.params())
        self.rows = Rows(chained=query.payout_id is None)
        self.max_workers = max_workers
        self.keeps_pages = keeps_pages  # False for iter_statements: pages already handed out cannot be changed
        self.outside = 0
        self.dialect: dict[str, Any] = {} if query.per_page is None else {"per_page_asked": query.per_page}
        manifest.extra["dialect"] = self.dialect  # what the server's answers teach, filled in as they come

    @property
    def per_page(self) -> int | None:
        """The server's page size, once a page has taught it."""
        return self.paginator.per_page

    # ---------------------------------------------------------------- pages
    def pages(self) -> Iterator[pd.DataFrame]:
        """Typed page frames (repeated rows dropped), then re-checks while the total grows."""
        yield from self._concurrent() if self.max_workers > 1 else self._follow()
        for _ in range(MAX_RECHECKS):
            expected = self._expected_rows()
            if expected is None or expected == self.rows.kept or not self.per_page:
                break
            last_page = max(1, math.ceil(self.paginator.totals[-1] / self.per_page))
            self.manifest.extra["rechecks"] = self.manifest.extra.get("rechecks", 0) + 1
            self.paginator.restart(last_page)
            yield from self._follow()
        self._verify()

    def _follow(self, max_pages: int | None = None) -> Iterator[pd.DataFrame]:
        paginator = self.paginator
        while paginator.has_next_page and max_pages != 0:
            max_pages = None if max_pages is None else max_pages - 1
            number = paginator.page
            got = fetch_next(
                paginator,
                self._send,
                where=lambda: f"statements page {number}",  # noqa: B023 - asked for within the call
                check=_check_page,
            )
            page = _Page(number, _total(got.response), got.data)
            if got.stuck is not None:
                yield self._page(page)  # the page itself is good: keep it in .partial
                raise got.stuck
            if self.per_page is not None:
                self.dialect["per_page"] = self.per_page
            yield self._page(page)

    def _send(self, request: tuple[str, dict[str, Any] | None]) -> tuple[requests.Response, Any]:
        url, params = request
        return self.client.json("GET", url, params=params, decode=_decode)

    def _concurrent(self) -> Iterator[pd.DataFrame]:
        """The first page, then the rest -- known from ``X-Total-Count`` -- fetched at the same time.

        Pages are taken in order. Each must report the first page's total
        and, in a chained pull, take the balance on from the row before it;
        a page that does not (rows moved while the pages were fetched), or
        that failed in a worker, is where the pull goes on page by page,
        following ``Link`` like a sequential pull (a failure is raised only
        if it fails again there, with the sequential pull's ``.resume``).
        """
        yield from self._follow(max_pages=1)
        paginator = self.paginator
        numbers = paginator.pages_known()
        if not numbers:
            yield from self._follow()
            return
        total = paginator.totals[-1]
        limiter = RateLimiter()
        self.manifest.extra["max_workers"] = self.max_workers

        def worker() -> Connection:
            return replace(self.client, session=limited_session(self.client.session, limiter))

        def step(number: int, client: Connection, hungry: bool) -> tuple[_Page, list[int]]:
            url, params = paginator.page_request(number)
            try:
                response, rows = client.json("GET", url, params=params, decode=_decode)
                _check_rows(rows)
            except LedgerkitError as exc:  # asked again in turn, page by page, with fresh retries
                return _Page(number, None, [], error=exc), []
            return _Page(number, _total(response), rows, response), []

        waiting: dict[int, _Page] = {}
        for arrived in WindowScheduler(numbers, step, max_workers=self.max_workers, make_worker=worker):
            waiting[arrived.number] = arrived
            while (page := waiting.pop(paginator.page, None)) is not None:
                if (
                    page.error is not None
                    or page.response is None  # only a page that failed has none
                    or page.total != total
                    or self.rows.breaks_chain(page.rows, self.rows.last)
                ):
                    self.manifest.extra["refollowed_from_page"] = page.number
                    if page.error is not None:
                        self.manifest.extra["concurrent_error"] = type(page.error).__name__
                    paginator.restart(page.number, page.response)
                    break
                paginator.take(page.number, page.response, page.rows)
                yield self._page(page)
            else:
                continue
            break
        self.manifest.extra["throttled"] = limiter.throttled
        yield from self._follow()

    def _page(self, page: _Page) -> pd.DataFrame:
        try:
            built = build_page(self.rows.take(page.rows), STATEMENTS, default_currency=self.query.currency)
        except DataError as exc:
            raise _on_page(page.number, exc) from exc
        frame = built.frame
        inside = self.query.inside(frame["created"]) if "created" in frame.columns else None
        if inside is not None and not inside.all():
            self._outside(frame[~inside])
            frame = frame[inside].reset_index(drop=True)
        m = self.manifest
        m.pages += 1
        m.rows += len(frame)
        m.duplicates_dropped = self.rows.repeats
        m.rounded_values += built.rounded_values
        m.last_cursor = self.paginator.page if self.paginator.has_next_page else None
        totals = self.paginator.totals
        if totals:
            m.extra["total_first"], m.extra["total"] = totals[0], totals[-1]
        expected = math.ceil(totals[-1] / self.per_page) if totals and self.per_page else None
        self.progress.page(rows=len(frame), expected_pages=expected)
        return frame

    def _outside(self, rows: pd.DataFrame) -> None:
        """Count rows the server sent outside ``[since, until)`` and learn how it reads ``until``."""
        self.outside += len(rows)
        self.manifest.extra["outside_window"] = self.outside
        if self.query.date_to is not None:
            late = rows["created"] >= pd.Timestamp(self.query.date_to, tz="UTC")
            if late.any():
                after_midnight = rows.loc[late, "created"] > pd.Timestamp(self.query.date_to, tz="UTC")
                self.dialect["until"] = (
                    "inclusive day" if after_midnight.any() else self.dialect.get("until", "instant")
                )

    # ----------------------------------------------------------- the count
    def _expected_rows(self) -> int | None:
        """Rows this pull should hold by the last ``X-Total-Count`` (None when unknowable)."""
        totals = self.paginator.totals
        if not totals:
            return None
        skipped = self.query.start_page - 1
        if skipped and self.per_page is None:
            return None  # started past page 1 and never learnt the server's page size
        return max(0, totals[-1] - skipped * (self.per_page or 0))

    def _verify(self) -> None:
        expected = self._expected_rows()
        self.manifest.extra["count_verified"] = expected is not None
        if expected is None or expected == self.rows.kept:
            return
        drop = self.rows.settle(received=self.rows.kept, expected=expected)
        if drop and self.keeps_pages:
            self.drop = drop
            self.manifest.duplicates_dropped += sum(k for _, k in drop)
            return
        hint = (
            f"; the first rows of {len(drop)} page(s) repeat the rows before them -- use load_statements, "
            "which drops them"
            if drop
            else ""
        )
        raise CountMismatchError(
            f"received {self.rows.kept} distinct rows but X-Total-Count says {expected}"
            f"{' (after the pages skipped)' if self.query.start_page > 1 else ''}; "
            f"rows changed during the pull -- pull again{hint}",
            resume={"start_page": 1},
        )

    # ------------------------------------------------------------- results
    def failure(self, exc: LedgerkitError, frames: list[pd.DataFrame]) -> None:
        """Give ``exc`` ``.resume`` (continue from the page that failed), ``.manifest``, ``.partial``."""
        self.manifest.complete = False
        resume = {**self.manifest.parameters, "start_page": self.paginator.page}
        advice = exc.resume or {}  # the paginator's or the count check's own
        if "start_page" in advice:
            resume["start_page"] = advice["start_page"]
        partial = self.frame(frames)
        resumable(exc, resume=resume, manifest=partial.attrs["ledgerkit"], partial=partial)

    def frame(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        for index, k in getattr(self, "drop", ()):
            frames[index] = frames[index].iloc[k:]
        df = finish(frames, STATEMENTS) if frames else empty_frame(STATEMENTS)
        return attach_manifest(df, self.manifest, self.client.stats)


def _check_page(response: requests.Response, rows: Any) -> None:
    """A followed page: rows that are a JSON array of objects, and ``X-Total-Count`` a count when sent."""
    _check_rows(rows)
    _total(response)


def _check_rows(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"the statement page is not a JSON array of rows (objects): it is {excerpt(rows)}")


def pull(
    connection: Connection,
    request: StatementsRequest,
    *,
    max_workers: int = 4,
    progress: bool | None = None,
    keeps_pages: bool = True,
) -> _Pull:
    """Set up the pull of ``request`` over ``connection`` (no request is sent until its pages are asked for).

    ``keeps_pages`` is False when the pages are handed out as they come
    (:func:`~ledgerkit.sources._pull.iterate`): rows the count later shows to
    be repeats can then not be taken back, so that case raises instead.
    """
    check_workers(max_workers)
    parameters = {
        **request.parameters(),
        "max_workers": max_workers,
        "base_url": connection.config.base_url,
        "shop_id": connection.config.credentials.user,
    }
    manifest = Manifest("statements", parameters)
    manifest.first_cursor = request.start_page
    manifest.extra["sent"] = request.params()
    return _Pull(
        connection,
        request,
        manifest,
        PullProgress(progress, "statements"),
        max_workers=max_workers,
        keeps_pages=keeps_pages,
    )
