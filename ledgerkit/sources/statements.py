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

import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Iterator

import pandas as pd
import requests

from ..errors import ConfigurationError, CountMismatchError, DataError, LedgerkitError, PaginationError
from .._ingest.schema import STATEMENTS
from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.records import build_page, empty_frame, finish, row_id
from .._transport.http import RetryPolicy, decode_json
from ..money import check_currency
from .._transport.pagination import LinkPaginator
from .._transport.progress import PullProgress
from .._transport.ratelimit import RateLimiter, limited_session
from .._ingest.timeparse import day
from . import Client, collect, iterate, open_client, resumable

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


#: JSON with decimals kept exact; a body that does not parse is asked for again.
_decode = functools.partial(decode_json, parse_float=Decimal)


@dataclass(frozen=True)
class StatementsQuery:
    """Validated arguments; :meth:`params` renders the first request's query."""

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
        if self.until is not None:  # ours is exclusive, the API's inclusive
            params["until"] = (self.until - timedelta(days=1)).isoformat()
        if self.payout_id is not None:
            params["payout_id"] = self.payout_id
        if self.per_page is not None:
            params["per_page"] = self.per_page
        params["page"] = self.start_page
        return params


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


class _Pull:
    """One load: paginator, rows seen, manifest and bar."""

    def __init__(self, client: Client, query: StatementsQuery, manifest: Manifest, progress: PullProgress,
                 max_workers: int = 1) -> None:
        self.client, self.query, self.manifest, self.progress = client, query, manifest, progress
        self.paginator = LinkPaginator(client.config.url(PATH), query.params())
        self.seen: set[str] = set()
        self.per_page: int | None = query.per_page
        self.max_workers = max_workers
        self.last_row: dict[str, Any] | None = None

    def pages(self) -> Iterator[pd.DataFrame]:
        """Typed page frames (repeated rows dropped), then re-checks while the total grows."""
        yield from self._concurrent() if self.max_workers > 1 else self._follow()
        for _ in range(MAX_RECHECKS):
            expected = self._expected_rows()
            if expected is None or expected == len(self.seen) or not self.per_page:
                break
            last_page = max(1, math.ceil(self.paginator.totals[-1] / self.per_page))
            self.manifest.extra["rechecks"] = self.manifest.extra.get("rechecks", 0) + 1
            self.paginator = LinkPaginator(self.client.config.url(PATH), {**self.query.params(), "page": last_page})
            yield from self._follow()
        self._verify()

    def _concurrent(self) -> Iterator[pd.DataFrame]:
        """The first page, then the rest -- known from ``X-Total-Count`` -- fetched at the same time.

        The pages are taken in order and checked as they come: each must
        report the first page's total, and its first new row must continue
        the balance chain of the row before it (``balance_before`` equal to
        the previous ``balance_after``; not checked for one payout's rows,
        which are not a chain). A page that fails either check means rows
        moved while the pages were fetched: from that page on the pull
        follows the ``Link`` header page by page, like a sequential pull.
        So does a page that failed in a worker (its error is raised only if
        it fails again there, with the sequential pull's ``.resume``).
        """
        yield from self._follow(max_pages=1)
        paginator = self.paginator
        if not (paginator.has_next_page and paginator.totals and self.per_page):
            yield from self._follow()
            return
        first, total = paginator.page, paginator.totals[-1]
        numbers = list(range(first, max(first, math.ceil(total / self.per_page)) + 1))
        limiter, local = RateLimiter(sleep=self.client.policy.sleep), threading.local()

        def fetch(number: int) -> tuple[requests.Response, Any]:
            if not hasattr(local, "client"):
                local.client = replace(self.client, session=limited_session(self.client.session, limiter))
            return local.client.json("GET", PATH, params={**self.query.params(), "per_page": self.per_page,
                                                          "page": number}, decode=_decode)

        self.manifest.extra["max_workers"] = self.max_workers
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="ledgerkit-page") as pool:
            futures = [pool.submit(fetch, n) for n in numbers]
            try:
                for number, future in zip(numbers, futures):
                    paginator.page = number  # the place to resume if this page fails
                    try:
                        response, rows = future.result()
                        _check_rows(rows)
                    except LedgerkitError as exc:  # asked again below, page by page, with fresh retries
                        self.manifest.extra["concurrent_error"] = type(exc).__name__
                        response, rows = None, None
                    count = response.headers.get("X-Total-Count", "") if response is not None else ""
                    if rows is None or not count.strip().isdigit() or int(count) != total or not self._continues(rows):
                        self.manifest.extra["refollowed_from_page"] = number
                        self.paginator = LinkPaginator(self.client.config.url(PATH),
                                                       {**self.query.params(), "per_page": self.per_page, "page": number})
                        self.paginator.totals = paginator.totals + ([int(count)] if count.strip().isdigit() else [])
                        break
                    paginator.totals.append(total)
                    paginator.has_next_page = number != numbers[-1]
                    paginator.page = number + 1
                    yield self._page(rows)
            finally:
                for future in futures:
                    future.cancel()
        self.manifest.extra["throttled"] = limiter.throttled
        yield from self._follow()

    def _continues(self, rows: list[dict[str, Any]]) -> bool:
        """Whether the first new row of ``rows`` takes the balance on from the last row kept so far."""
        if self.query.payout_id is not None or self.last_row is None:
            return True
        fresh = next((r for r in rows if row_id(r) not in self.seen), None)
        before, after = (fresh or {}).get("balance_before"), self.last_row.get("balance_after")
        return fresh is None or before is None or after is None or Decimal(str(before)) == Decimal(str(after))

    def _follow(self, max_pages: int | None = None) -> Iterator[pd.DataFrame]:
        paginator = self.paginator
        while paginator.has_next_page and max_pages != 0:
            max_pages = None if max_pages is None else max_pages - 1
            url, params = paginator.next_request()
            response, rows = self.client.json("GET", url, params=params, decode=_decode)
            _check_rows(rows)
            try:
                paginator.update_state(response)
            except PaginationError:
                yield self._page(rows)  # the page itself is good; keep it in .partial
                raise
            if paginator.has_next_page and self.per_page is None:
                self.per_page = len(rows)  # the server's default page size
            yield self._page(rows)

    def _page(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        if rows:
            self.last_row = rows[-1]
        keyed = [{"row_id": row_id(r), **r} for r in rows]
        fresh = [r for r in keyed if r["row_id"] not in self.seen]
        self.seen.update(r["row_id"] for r in fresh)
        page = build_page(fresh, STATEMENTS, default_currency=self.query.currency)
        m = self.manifest
        m.pages += 1
        m.rows += len(fresh)
        m.duplicates_dropped += len(keyed) - len(fresh)
        m.rounded_values += page.rounded_values
        m.last_cursor = self.paginator.page if self.paginator.has_next_page else None
        totals = self.paginator.totals
        if totals:
            m.extra["total_first"], m.extra["total"] = totals[0], totals[-1]
        expected = math.ceil(totals[-1] / self.per_page) if totals and self.per_page else None
        self.progress.page(rows=len(fresh), expected_pages=expected)
        return page.frame

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
        if expected is not None and expected != len(self.seen):
            raise CountMismatchError(
                f"received {len(self.seen)} distinct rows but X-Total-Count says {expected}"
                f"{' (after the pages skipped)' if self.query.start_page > 1 else ''}; "
                "rows changed during the pull -- pull again",
                resume={"start_page": 1},
            )

    def failure(self, exc: LedgerkitError, frames: list[pd.DataFrame]) -> None:
        """Give ``exc`` ``.resume`` (continue from the page that failed), ``.manifest``, ``.partial``."""
        self.manifest.complete = False
        resume = {**self.manifest.parameters, "start_page": self.paginator.page}
        if "start_page" in (exc.resume or {}):  # the paginator's or the count check's own advice
            resume["start_page"] = exc.resume["start_page"]
        partial = self.frame(frames)
        resumable(exc, resume=resume, manifest=partial.attrs["ledgerkit"], partial=partial)

    def frame(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        df = finish(frames, STATEMENTS) if frames else empty_frame(STATEMENTS)
        return attach_manifest(df, self.manifest, self.client.stats)


def _check_rows(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"the statement page is not a JSON array of rows: {str(rows)[:200]}")


def _start(kw: dict[str, Any], *, max_workers: int = 1) -> _Pull:
    query = plan_query(**{k: kw[k] for k in ("since", "until", "payout_id", "per_page", "currency", "start_page")})
    client = open_client("statements", base_url=kw["base_url"], user=kw["shop_id"], secret=kw["secret_key"],
                         session=kw["session"], retry=kw["retry"], parse_error=parse_error)
    parameters = {**{k: v for k, v in kw.items() if k not in ("secret_key", "session", "progress", "retry")},
                  "currency": query.currency, "base_url": client.config.base_url,
                  "shop_id": client.config.credentials.user}
    manifest = Manifest("statements", parameters)
    manifest.first_cursor = query.start_page
    manifest.extra["sent"] = query.params()
    return _Pull(client, query, manifest, PullProgress(kw["progress"], "statements"), max_workers=max_workers)


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
    return iterate(_start(dict(locals())), STATEMENTS)
