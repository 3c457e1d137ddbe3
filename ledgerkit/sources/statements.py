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
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
import requests

from ..errors import ConfigurationError, CountMismatchError, DataError, LedgerkitError, PaginationError
from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.records import build_page, empty_frame, excerpt, finish, strict_json
from .._ingest.schema import STATEMENTS
from .._ingest.timeparse import day
from .._transport.http import MalformedBody, RetryPolicy
from .._transport.pagination import LinkPaginator, parse_link_header, total_count
from .._transport.progress import PullProgress
from .._transport.ratelimit import RateLimiter, limited_session
from ..money import check_currency
from . import Client, collect, iterate, open_client, resumable
from ._statement_rows import Rows
from .windows import WindowScheduler

__all__ = ["load_statements", "iter_statements", "parse_error"]

PATH = "/v1/shop/accountstatements"
PER_PAGE_MAX = 1000
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
        raise MalformedBody(f"the body is not valid JSON ({len(response.content)} bytes): {reason}") from None


@dataclass(frozen=True)
class StatementsQuery:
    """Validated arguments; :meth:`params` renders the first request's query.

    ``until`` is exclusive here. The API's reading of its ``until`` is not
    documented (a whole inclusive day, or the instant 00:00), so the date
    itself is sent -- a superset under either reading -- and the rows are
    filtered to ``[since, until)`` here (:meth:`inside`).
    """

    since: date | None
    until: date | None
    payout_id: str | None
    per_page: int | None
    currency: str
    start_page: int

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.since is not None:
            params["since"] = self.since.isoformat()
        if self.until is not None:
            params["until"] = self.until.isoformat()
        if self.payout_id is not None:
            params["payout_id"] = self.payout_id
        if self.per_page is not None:
            params["per_page"] = self.per_page
        params["page"] = self.start_page
        return params

    def inside(self, created: pd.Series) -> pd.Series:
        """Which ``created`` times lie in ``[since, until)`` (all when neither is given)."""
        keep = pd.Series(True, index=created.index)  # a row without a time is kept (NaT compares False)
        if self.since is not None:
            keep &= ~(created < pd.Timestamp(self.since, tz="UTC"))
        if self.until is not None:
            keep &= ~(created >= pd.Timestamp(self.until, tz="UTC"))
        return keep


def plan_query(*, since: Any, until: Any, payout_id: Any, per_page: Any, currency: Any, start_page: Any) -> StatementsQuery:
    """Check every argument; raises ``ConfigurationError`` before any request."""
    if since is None and payout_id is None:
        raise ConfigurationError("since", None, "a date (or a payout_id): the API needs one of them")
    first = None if since is None else day(since, "since")
    last = None if until is None else day(until, "until")
    if first is not None and last is not None and not first < last:
        raise ConfigurationError("until", last.isoformat(), f"a date after since={first.isoformat()} ([since, until) is empty)")
    if last is not None and first is None:
        raise ConfigurationError("since", None, "a date when until is given")
    if payout_id is not None and (isinstance(payout_id, bool) or not isinstance(payout_id, (str, int)) or str(payout_id).strip() == ""):
        raise ConfigurationError("payout_id", payout_id, "a payout id (string or integer)")
    for name, value, top in (("per_page", per_page, PER_PAGE_MAX), ("start_page", start_page, None)):
        if value is None and name == "per_page":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (top and value > top):
            raise ConfigurationError(name, value, f"an integer from 1 to {top}" if top else "an integer >= 1")
    return StatementsQuery(first, last, None if payout_id is None else str(payout_id).strip(), per_page,
                           check_currency(currency), start_page)


@dataclass
class _Page:
    """One page as received: its number, the server's total then, its rows (or the error it got)."""

    number: int
    total: int | None
    rows: list[dict[str, Any]]
    links: dict[str, str] = field(default_factory=dict)
    error: LedgerkitError | None = None


def _total(response: requests.Response) -> int | None:
    return total_count(response.headers)


def _on_page(number: int, exc: DataError) -> DataError:
    """``exc`` told about page ``number`` (raised ``from`` it)."""
    return DataError(f"statements page {number}: {exc}", rows=exc.rows)


def _page_url(template: str, number: int) -> str:
    """``template`` (a page's absolute URL) with its ``page`` parameter set to ``number``."""
    parts = urlsplit(template)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(number))])))


class _Pull:
    """One load: paginator, rows kept, manifest and bar.

    The first page is followed like any other; it tells the server's page
    size (its row count when a next page exists -- what was asked for may
    have been capped) and ``X-Total-Count``. With ``max_workers > 1`` the
    remaining pages are then fetched at the same time on the
    :class:`~ledgerkit.sources.windows.WindowScheduler` and taken in order.
    """

    def __init__(self, client: Client, query: StatementsQuery, manifest: Manifest, progress: PullProgress,
                 max_workers: int = 1, *, keeps_pages: bool = True) -> None:
        self.client, self.query, self.manifest, self.progress = client, query, manifest, progress
        self.paginator = LinkPaginator(client.config.url(PATH), query.params())
        self.rows = Rows(chained=query.payout_id is None)
        self.per_page: int | None = None
        self.max_workers = max_workers
        self.keeps_pages = keeps_pages  # False for iter_statements: pages already handed out cannot be changed
        self.template: str | None = None
        self.outside = 0
        self.dialect: dict[str, Any] = {} if query.per_page is None else {"per_page_asked": query.per_page}
        manifest.extra["dialect"] = self.dialect  # what the server's answers teach, filled in as they come

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
            self.paginator = self._paginator_from(last_page)
            yield from self._follow()
        self._verify()

    def _paginator_from(self, number: int) -> LinkPaginator:
        paginator = LinkPaginator(self.client.config.url(PATH), {**self.query.params(), "page": number})
        paginator.totals = self.paginator.totals
        return paginator

    def _follow(self, max_pages: int | None = None) -> Iterator[pd.DataFrame]:
        paginator = self.paginator
        while paginator.has_next_page and max_pages != 0:
            max_pages = None if max_pages is None else max_pages - 1
            url, params = paginator.next_request()
            number = paginator.page
            try:
                response, rows = self.client.json("GET", url, params=params, decode=_decode)
                _check_rows(rows)
                _total(response)
            except DataError as exc:
                raise _on_page(number, exc) from exc
            try:
                paginator.update_state(response)
            except PaginationError:
                yield self._page(_Page(number, _total(response), rows))  # the page itself is good: keep it in .partial
                raise
            if paginator.has_next_page and self.per_page is None:
                self._learn(response, rows)
            yield self._page(_Page(number, _total(response), rows))

    def _learn(self, response: requests.Response, rows: list[dict[str, Any]]) -> None:
        """The server's page size and the URL of its pages, from the first page with a next one."""
        self.per_page = len(rows)
        self.template = parse_link_header(response.headers.get("Link")).get("next")
        self.dialect["per_page"] = self.per_page

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
        if not (paginator.has_next_page and paginator.totals and self.per_page and self.template):
            yield from self._follow()
            return
        first, total = paginator.page, paginator.totals[-1]
        numbers = list(range(first, max(first, math.ceil(total / self.per_page)) + 1))
        limiter = RateLimiter(sleep=self.client.policy.sleep)
        self.manifest.extra["max_workers"] = self.max_workers

        def worker() -> Client:
            return replace(self.client, session=limited_session(self.client.session, limiter))

        def step(number: int, client: Client, hungry: bool) -> tuple[_Page, list[int]]:
            try:
                response, rows = client.json("GET", _page_url(self.template, number), decode=_decode)
                _check_rows(rows)
            except LedgerkitError as exc:  # asked again in turn, page by page, with fresh retries
                return _Page(number, None, [], error=exc), []
            return _Page(number, _total(response), rows, parse_link_header(response.headers.get("Link"))), []

        waiting: dict[int, _Page] = {}
        for arrived in WindowScheduler(numbers, step, max_workers=self.max_workers, make_worker=worker):
            waiting[arrived.number] = arrived
            while (page := waiting.pop(paginator.page, None)) is not None:
                if page.error is not None or page.total != total or self.rows.breaks_chain(page.rows, self.rows.last):
                    self.manifest.extra["refollowed_from_page"] = page.number
                    if page.error is not None:
                        self.manifest.extra["concurrent_error"] = type(page.error).__name__
                    self.paginator = self._paginator_from(page.number)
                    if page.total is not None:
                        paginator.totals.append(page.total)
                    break
                paginator.totals.append(total)
                paginator.has_next_page = "next" in page.links
                paginator.page = page.number + 1
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
        if self.query.until is not None:
            late = rows["created"] >= pd.Timestamp(self.query.until, tz="UTC")
            if late.any():
                after_midnight = rows.loc[late, "created"] > pd.Timestamp(self.query.until, tz="UTC")
                self.dialect["until"] = "inclusive day" if after_midnight.any() else self.dialect.get("until", "instant")

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
        hint = (f"; the first rows of {len(drop)} page(s) repeat the rows before them -- use load_statements, "
                "which drops them" if drop else "")
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
        if "start_page" in (exc.resume or {}):  # the paginator's or the count check's own advice
            resume["start_page"] = exc.resume["start_page"]
        partial = self.frame(frames)
        resumable(exc, resume=resume, manifest=partial.attrs["ledgerkit"], partial=partial)

    def frame(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        for index, k in getattr(self, "drop", ()):
            frames[index] = frames[index].iloc[k:]
        df = finish(frames, STATEMENTS) if frames else empty_frame(STATEMENTS)
        return attach_manifest(df, self.manifest, self.client.stats)


def _check_rows(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"the statement page is not a JSON array of rows (objects): it is {excerpt(rows)}")


def _start(kw: dict[str, Any], *, max_workers: int = 1, keeps_pages: bool = True) -> _Pull:
    query = plan_query(**{k: kw[k] for k in ("since", "until", "payout_id", "per_page", "currency", "start_page")})
    client = open_client("statements", base_url=kw["base_url"], user=kw["shop_id"], secret=kw["secret_key"],
                         session=kw["session"], retry=kw["retry"], parse_error=parse_error)
    parameters = {**{k: v for k, v in kw.items() if k not in ("secret_key", "session", "progress", "retry")},
                  "currency": query.currency, "base_url": client.config.base_url,
                  "shop_id": client.config.credentials.user}
    manifest = Manifest("statements", parameters)
    manifest.first_cursor = query.start_page
    manifest.extra["sent"] = query.params()
    return _Pull(client, query, manifest, PullProgress(kw["progress"], "statements"), max_workers=max_workers,
                 keeps_pages=keeps_pages)


def load_statements(
    *,
    since: Any = None,
    until: Any = None,
    payout_id: str | int | None = None,
    per_page: int | None = None,
    currency: str = "EUR",
    start_page: int = 1,
    base_url: str | None = None,
    shop_id: str | int | None = None,
    secret_key: str | None = None,
    progress: bool | None = None,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    store: Any = None,
    lookback: Any = None,
    max_workers: int = 4,
) -> pd.DataFrame:
    """Pull the account statement rows of ``[since, until)`` (or of one payout) into a DataFrame.

    Parameters
    ----------
    since, until : date, "YYYY-MM-DD" or a timezone-aware midnight UTC, optional
        The half-open period of days ``[since, until)`` in UTC; ``until``
        open-ended when None. The API's ``until`` is inclusive, so the day
        before ``until`` is sent. ``since`` or ``payout_id`` is required.
    payout_id : str or int, optional
        Only the rows of this payout (with ``since``: both filters apply).
    per_page : int, optional
        Rows per request, 1 to 1000 (the server's default when None).
    currency : str
        The account currency (the API does not say it); amounts become its
        minor units.
    start_page : int
        First page to fetch (a failed pull's ``.resume`` sets it).
    base_url, shop_id, secret_key : optional
        Else ``LEDGERKIT_STATEMENTS_URL`` / ``_SHOP_ID`` / ``_SECRET_KEY``.
    progress : bool or None
        A progress bar: None shows one only for pulls of more than a few pages.
    retry : ledgerkit.RetryPolicy, optional
    session : requests.Session, optional
    store : ledgerkit.store.Store, path or True, optional
        Keep the pulled pages in a local store (True: the default one); a
        later call resumes a killed pull from its last stored page, or
        re-reads only from the page holding the ``lookback`` stretch.
    lookback : pandas.Timedelta, optional
        With ``store``: how much before the previous pull's end is read
        again (default 3 days).
    max_workers : int
        Once the first page has told ``X-Total-Count``, the other pages are
        fetched this many at a time (one session each, one shared rate
        limiter); each is checked against the total and the balance chain,
        and from a page where rows moved the pull goes on page by page. 1
        fetches every page in turn. The frame is the same either way.

    Returns
    -------
    pandas.DataFrame
        In the server's (chain) order, RangeIndex: ``row_id`` str (hash of
        the row, its identity), ``created`` datetime64[ns, UTC], ``type``
        category, ``amount``/``balance_before``/``balance_after``/
        ``original_amount`` Int64 minor units, ``currency`` category,
        ``original_currency`` str, ``exchange_rate`` Float64,
        ``transaction``/``transaction_id`` str, ``channel`` category,
        ``merchant_reference``/``payout_id`` str (``<NA>`` for rows not yet
        paid out), then unknown fields. Manifest in ``df.attrs["ledgerkit"]``
        (``last_cursor`` is None once the last page was read).

    Raises
    ------
    ConfigurationError
        A bad argument, before any request is sent.
    CountMismatchError
        The distinct rows received differ from ``X-Total-Count``.
    APIError, TransportError, DataError, PaginationError
        With ``.resume`` (``start_page`` of the page that failed),
        ``.partial`` and ``.manifest``.

    Examples
    --------
    >>> df = load_statements(since="2025-01-01", until="2025-02-01")   # doctest: +SKIP
    >>> (df["balance_before"] + df["amount"]).equals(df["balance_after"])  # doctest: +SKIP
    True
    """
    if store is not None and store is not False:
        from ..store import load_stored_statements

        return load_stored_statements(dict(locals()))
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= 32:
        raise ConfigurationError("max_workers", max_workers, "an integer from 1 to 32 (pages fetched at the same time)")
    kw = dict(locals())
    del kw["store"], kw["lookback"], kw["max_workers"]
    return collect(_start(kw, max_workers=max_workers))


def iter_statements(
    *,
    since: Any = None,
    until: Any = None,
    payout_id: str | int | None = None,
    per_page: int | None = None,
    currency: str = "EUR",
    start_page: int = 1,
    base_url: str | None = None,
    shop_id: str | int | None = None,
    secret_key: str | None = None,
    progress: bool | None = None,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
) -> Iterator[pd.DataFrame]:
    """Like :func:`load_statements`, one typed DataFrame per page as it arrives.

    Arguments are checked when this is called; the count check runs when
    the iterator is exhausted.
    Pages are not kept (memory stays that of one page): an error's
    ``.partial`` is empty -- you have the pages -- while ``.manifest`` counts
    them and ``.resume`` continues after them.

    Examples
    --------
    >>> for page in iter_statements(since="2025-01-01", per_page=500):   # doctest: +SKIP
    ...     print(len(page))
    """
    return iterate(_start(dict(locals()), keeps_pages=False), STATEMENTS)
