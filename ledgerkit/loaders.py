"""The loaders: ``load_*`` / ``iter_*`` for the three APIs, one call each.

Each is a thin wrapper: it builds a :class:`~ledgerkit.client.Client` for
the one account given (arguments, else the ``LEDGERKIT_*`` environment
variables) and calls its method. Use a client directly to pull several
times from one account -- it remembers what each server taught it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd
import requests

from ._transport.http import RetryPolicy
from .client import Client, checked_request
from .errors import ConfigurationError
from .many_accounts import chosen_accounts, combine, month_windows, pull_each
from .sources.balance_records import BalanceReport

__all__ = ["load_transactions", "iter_transactions", "load_statements", "iter_statements", "load_balance_records"]


def _given(base_url: Any, user_keyword: str, user: Any, secret_key: Any) -> dict[str, Any] | None:
    """The account keyword arguments given (None: all from the environment)."""
    if base_url is None and user is None and secret_key is None:
        return None
    return {"base_url": base_url, user_keyword: user, "secret_key": secret_key}


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    """The call's options that an error's ``.resume`` can repeat (no session or policy objects)."""
    return {
        k: (str(v.path) if k == "store" and hasattr(v, "path") else v)
        for k, v in options.items()
        if k not in ("session", "retry")
    }


def _one_account_or_many(accounts: Any, accounts_file: Any, scheduler: Any) -> None:
    """Refuse ``accounts_file`` and ``scheduler`` without ``accounts`` (they would be ignored)."""
    for name, value in (("accounts_file", accounts_file), ("scheduler", scheduler)):
        if value is not None and accounts is None:
            raise ConfigurationError(
                name,
                "<given>",
                "None unless accounts= is given (it says which accounts of the file to pull, one task each)",
            )


def _many(
    source: str,
    wanted: Any,
    path: Any,
    given: dict[str, Any],
    period: tuple[Any, Any],
    request: dict[str, Any],
    options: dict[str, Any],
    pull: Any,
    scheduler: Any,
    windows: bool = False,
) -> Any:
    """Run ``pull(account)`` for each account ``wanted`` selects; one frame (or report) with an ``account`` column.

    Every argument is checked first, as one account's pull would check it:
    a bad one is a ``ConfigurationError`` here, not one failure per account.
    """
    Client(**options)
    checked = checked_request(source, *period, request)
    chosen = chosen_accounts(source, wanted, path, given)
    call = {"date_from": period[0], "date_to": period[1], **request, **_plain(options)}
    cuts = month_windows(checked.date_from, checked.date_to, checked.time_zone) if windows and scheduler else None
    results = pull_each(source, chosen, pull, resume={**call, "accounts_file": path}, scheduler=scheduler, windows=cuts)
    if source != "balance_records":
        return combine(source, results)
    records = combine(source, {name: r.records for name, r in results.items()})
    opening = combine(source, {name: r.opening_balance for name, r in results.items()})
    opening.attrs = records.attrs
    return BalanceReport(records, opening, records.attrs["ledgerkit"], None)


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
    secret_key: Any = None,
    progress: bool | None = None,
    include_pii: bool = False,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    store: Any = None,
    lookback: Any = None,
    max_workers: int = 4,
    accounts: Any = None,
    accounts_file: Any = None,
    scheduler: Any = None,
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
        ``max_workers`` holds there too: a period never pulled before is cut
        into that many windows, each with its own cursor in the store.
    lookback : pandas.Timedelta, optional
        With ``store``: how much before the previous pull's end is read
        again (default 3 days) to catch late and corrected rows.
    max_workers : int
        Requests in flight (1 to 32; default 4). With more than 1, ``[date_from, date_to)`` is cut into that many
        time windows per payment method, pulled at the same time (one
        ``requests.Session`` per worker, one rate limiter shared by all that
        slows down on 429 and honours ``Retry-After``); a window still
        ``has_more`` after a page is split in two while a worker is idle.
        The frame is the same as with 1 (one window per method, pulled in
        cursor order). With ``starting_after``/``ending_before`` the pull is
        sequential.

    accounts : str or list of str, optional
        Pull several accounts of the accounts file (:func:`ledgerkit.accounts`)
        in one call: ``"all"``, account names, tags or ``"key=value"`` tags
        (``"merchant=Acme"``, ``"brand=bepaid"``). The frame then has an
        ``account`` column first and ``attrs["ledgerkit"]["accounts"]`` holds
        each account's manifest; when some fail,
        :class:`~ledgerkit.errors.AccountsError` names them, ``.partial``
        holds the others' rows and ``.resume`` pulls only the failed ones.
        Not together with ``base_url``, the id or ``secret_key``.
    accounts_file : path, optional
        The accounts file (default ``$LEDGERKIT_ACCOUNTS``, ``./ledgerkit.toml``,
        or the user's config directory).
    scheduler : dask.distributed.Client or str, optional
        With ``accounts``: pull each account as a task on this Dask cluster
        (a client, or a scheduler address such as ``"tcp://10.0.0.5:8786"``)
        instead of one after the other here. The workers read each account's
        secret from their own environment and need ``store`` to be a path
        they all reach (a shared filesystem, or an ``s3://`` URL: ``ledgerkit[s3]``). Needs ``ledgerkit[dask]``.
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
    request: dict[str, Any] = dict(
        date_type=date_type,
        status=status,
        payment_method_type=payment_method_type,
        skip_refused_methods=skip_refused_methods,
        time_zone=time_zone,
        manual_correction_from=manual_correction_from,
        manual_correction_to=manual_correction_to,
        starting_after=starting_after,
        ending_before=ending_before,
        include_pii=include_pii,
    )
    options: dict[str, Any] = dict(
        session=session, retry=retry, store=store, lookback=lookback, progress=progress, max_workers=max_workers
    )
    _one_account_or_many(accounts, accounts_file, scheduler)
    if accounts is not None:
        return _many(
            "transactions",
            accounts,
            accounts_file,
            {"base_url": base_url, "shop_id": shop_id, "secret_key": secret_key},
            (date_from, date_to),
            request,
            options,
            lambda account, start=date_from, end=date_to: Client(transactions=account, **options).transactions(
                start, end, **request
            ),
            scheduler,
            windows=starting_after is None and ending_before is None,  # a cursor belongs to one period
        )
    client = Client(transactions=_given(base_url, "shop_id", shop_id, secret_key), **options)
    return client.transactions(date_from, date_to, **request)


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
    secret_key: Any = None,
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
    ``max_workers`` is 1 here, where :func:`load_transactions` has 4: one
    page at a time is what keeps memory to one page (workers ahead of the
    caller would queue pages), and pages then come in cursor order, so the
    manifest's ``last_cursor`` after a page is a place to resume from. With
    more, pages come as the time windows deliver them.
    Pages are not kept (memory stays that of one page): an error's
    ``.partial`` is empty -- you have the pages -- while ``.manifest`` counts
    them and ``.resume`` continues after them.

    Examples
    --------
    >>> for page in iter_transactions("2025-01-01", "2025-01-02"):    # doctest: +SKIP
    ...     print(len(page), page.attrs["ledgerkit"]["last_cursor"])
    """
    client = Client(
        transactions=_given(base_url, "shop_id", shop_id, secret_key),
        session=session,
        retry=retry,
        progress=progress,
        max_workers=max_workers,
    )
    return client.iter_transactions(
        date_from,
        date_to,
        date_type=date_type,
        status=status,
        payment_method_type=payment_method_type,
        skip_refused_methods=skip_refused_methods,
        time_zone=time_zone,
        manual_correction_from=manual_correction_from,
        manual_correction_to=manual_correction_to,
        starting_after=starting_after,
        ending_before=ending_before,
        include_pii=include_pii,
    )


def load_statements(
    date_from: Any = None,
    date_to: Any = None,
    *,
    since: Any = None,
    until: Any = None,
    payout_id: str | int | None = None,
    per_page: int | None = None,
    currency: str = "EUR",
    start_page: int = 1,
    base_url: str | None = None,
    shop_id: str | int | None = None,
    secret_key: Any = None,
    progress: bool | None = None,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    store: Any = None,
    lookback: Any = None,
    max_workers: int = 4,
    accounts: Any = None,
    accounts_file: Any = None,
    scheduler: Any = None,
) -> pd.DataFrame:
    """Pull the account statement rows of ``[date_from, date_to)`` (or of one payout) into a DataFrame.

    Parameters
    ----------
    date_from, date_to : date, "YYYY-MM-DD" or a timezone-aware midnight UTC, optional
        The half-open period of days ``[date_from, date_to)`` in UTC;
        ``date_to`` open-ended when None. ``date_from`` or ``payout_id`` is
        required. The API calls them ``since`` and ``until``; its reading of
        ``until`` is not documented, so ``date_to`` itself is sent (a
        superset) and the rows of that day are dropped here.
    since, until : optional
        Other names of ``date_from`` and ``date_to`` (the API's); one name
        per bound.
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
        Requests in flight (1 to 32; default 4). Once the first page has told ``X-Total-Count``, the other pages are
        fetched this many at a time (one session each, one shared rate
        limiter); each is checked against the total and the balance chain,
        and from a page where rows moved the pull goes on page by page. 1
        fetches every page in turn. The frame is the same either way.

    accounts : str or list of str, optional
        Pull several accounts of the accounts file (:func:`ledgerkit.accounts`)
        in one call: ``"all"``, account names, tags or ``"key=value"`` tags
        (``"merchant=Acme"``, ``"brand=bepaid"``). The frame then has an
        ``account`` column first and ``attrs["ledgerkit"]["accounts"]`` holds
        each account's manifest; when some fail,
        :class:`~ledgerkit.errors.AccountsError` names them, ``.partial``
        holds the others' rows and ``.resume`` pulls only the failed ones.
        Not together with ``base_url``, the id or ``secret_key``.
    accounts_file : path, optional
        The accounts file (default ``$LEDGERKIT_ACCOUNTS``, ``./ledgerkit.toml``,
        or the user's config directory).
    scheduler : dask.distributed.Client or str, optional
        With ``accounts``: pull each account as a task on this Dask cluster
        (a client, or a scheduler address such as ``"tcp://10.0.0.5:8786"``)
        instead of one after the other here. The workers read each account's
        secret from their own environment and need ``store`` to be a path
        they all reach (a shared filesystem, or an ``s3://`` URL: ``ledgerkit[s3]``). Needs ``ledgerkit[dask]``.
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
    >>> df = load_statements("2025-01-01", "2025-02-01")               # doctest: +SKIP
    >>> (df["balance_before"] + df["amount"]).equals(df["balance_after"])  # doctest: +SKIP
    True
    """
    request: dict[str, Any] = dict(
        since=since, until=until, payout_id=payout_id, per_page=per_page, currency=currency, start_page=start_page
    )
    options: dict[str, Any] = dict(
        session=session, retry=retry, store=store, lookback=lookback, progress=progress, max_workers=max_workers
    )
    _one_account_or_many(accounts, accounts_file, scheduler)
    if accounts is not None:
        return _many(
            "statements",
            accounts,
            accounts_file,
            {"base_url": base_url, "shop_id": shop_id, "secret_key": secret_key},
            (date_from, date_to),
            request,
            options,
            lambda account: Client(statements=account, **options).statements(date_from, date_to, **request),
            scheduler,
        )
    client = Client(statements=_given(base_url, "shop_id", shop_id, secret_key), **options)
    return client.statements(date_from, date_to, **request)


def iter_statements(
    date_from: Any = None,
    date_to: Any = None,
    *,
    since: Any = None,
    until: Any = None,
    payout_id: str | int | None = None,
    per_page: int | None = None,
    currency: str = "EUR",
    start_page: int = 1,
    base_url: str | None = None,
    shop_id: str | int | None = None,
    secret_key: Any = None,
    progress: bool | None = None,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    max_workers: int = 1,
) -> Iterator[pd.DataFrame]:
    """Like :func:`load_statements`, one typed DataFrame per page as it arrives.

    Arguments are checked when this is called; the count check runs when
    the iterator is exhausted. ``max_workers`` is 1 here, where
    :func:`load_statements` has 4: one page at a time keeps memory to one
    page (pages fetched ahead would wait in memory for their turn).
    Pages are not kept (memory stays that of one page): an error's
    ``.partial`` is empty -- you have the pages -- while ``.manifest`` counts
    them and ``.resume`` continues after them.

    Examples
    --------
    >>> for page in iter_statements("2025-01-01", per_page=500):         # doctest: +SKIP
    ...     print(len(page))
    """
    client = Client(
        statements=_given(base_url, "shop_id", shop_id, secret_key),
        session=session,
        retry=retry,
        progress=progress,
        max_workers=max_workers,
    )
    return client.iter_statements(
        date_from,
        date_to,
        since=since,
        until=until,
        payout_id=payout_id,
        per_page=per_page,
        currency=currency,
        start_page=start_page,
    )


def load_balance_records(
    date_from: Any,
    date_to: Any,
    *,
    currency: str,
    user_id: int,
    merchant_id: int | None = None,
    shop_id: int | None = None,
    gateway_id: int | None = None,
    format: str = "csv",  # noqa: A002 - the API's own name
    language: str = "en",
    notification_email: str | None = None,
    report_id: str | None = None,
    base_url: str | None = None,
    psp_id: str | int | None = None,
    secret_key: Any = None,
    poll_timeout: float = 300.0,
    poll_interval: tuple[float, float] = (0.5, 10.0),
    progress: bool | None = None,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
    download_dir: str | os.PathLike | None = None,
    max_rerequests: int = 1,
    store: Any = None,
    accounts: Any = None,
    accounts_file: Any = None,
    scheduler: Any = None,
) -> BalanceReport:
    """Request a DWH ``balance_records`` report, wait for it, and read both sheets.

    Parameters
    ----------
    date_from, date_to : datetime, pandas.Timestamp, date or str
        The period ``[date_from, date_to)``; timezone-aware (or ISO 8601
        strings with an offset). A ``datetime.date`` or a ``"YYYY-MM-DD"``
        string is midnight UTC; naive datetimes are refused. Sent with
        microseconds and the offset given.
    currency : str
        ISO 4217 or crypto code; the report holds this currency only.
    user_id : int
        The back-office user the report is requested for (the API requires it).
    merchant_id, shop_id, gateway_id : int, optional
        Narrow the report to these accounts; several together narrow it to
        their intersection (the official client sends all three). None of
        them: the whole PSP.
    format : {"csv", "xlsx"}
        File format; both give identical frames.
    language : {"en", "ru"}
        Header language; both give identical frames.
    notification_email : str, optional
        Passed to the DWH, which may mail the link there.
    report_id : str, optional
        Pick up an existing report (for example after a timeout) instead of
        requesting a new one.
    base_url, psp_id, secret_key : optional
        DWH base URL and PSP credentials; default to ``LEDGERKIT_DWH_URL``,
        ``LEDGERKIT_DWH_PSP_ID``, ``LEDGERKIT_DWH_SECRET_KEY``.
    poll_timeout : float
        Seconds to wait for a final status before :class:`ReportTimeoutError`.
    poll_interval : (float, float)
        First and longest wait between polls, in seconds; each wait is 1.5×
        the previous.
    progress : bool, optional
        Show a tqdm progress indicator with the status (default on; False off).
    retry : ledgerkit.RetryPolicy, optional
        Retries for 429, 5xx and dropped connections.
    session : requests.Session, optional
        Lends its settings (proxies, TLS, headers) to the DWH API session.
    download_dir : path, optional
        Keep the downloaded zip there (``<report_id>.zip``); by default it
        goes to a temporary file, deleted once read.
    max_rerequests : int
        How often a dead (expired) file link is answered by requesting the
        report anew before :class:`ReportExpiredError`.
    store : ledgerkit.store.Store, path or True, optional
        Keep the downloaded zip in a local store (True: the default one),
        keyed by the request; the same request later reads it from there
        without asking the DWH when the report was generated after
        ``date_to`` (else the period was not over: it is requested again).
        The report id is stored as soon as the report exists, so a call
        repeated after an error or a kernel restart picks the report up
        (see :mod:`ledgerkit.store`).

    accounts : str or list of str, optional
        Pull several accounts of the accounts file (:func:`ledgerkit.accounts`)
        in one call: ``"all"``, account names, tags or ``"key=value"`` tags
        (``"merchant=Acme"``, ``"brand=bepaid"``). The frame then has an
        ``account`` column first and ``attrs["ledgerkit"]["accounts"]`` holds
        each account's manifest; when some fail,
        :class:`~ledgerkit.errors.AccountsError` names them, ``.partial``
        holds the others' rows and ``.resume`` pulls only the failed ones.
        Not together with ``base_url``, the id or ``secret_key``.
    accounts_file : path, optional
        The accounts file (default ``$LEDGERKIT_ACCOUNTS``, ``./ledgerkit.toml``,
        or the user's config directory).
    scheduler : dask.distributed.Client or str, optional
        With ``accounts``: pull each account as a task on this Dask cluster
        (a client, or a scheduler address such as ``"tcp://10.0.0.5:8786"``)
        instead of one after the other here. The workers read each account's
        secret from their own environment and need ``store`` to be a path
        they all reach (a shared filesystem, or an ``s3://`` URL: ``ledgerkit[s3]``). Needs ``ledgerkit[dask]``.
    Returns
    -------
    BalanceReport
        ``.records``, ``.opening_balance`` (columns of :mod:`ledgerkit._ingest.sheets`),
        ``.manifest`` and ``.report_id``. ``.records`` always has the
        account id columns the report has (any of ``merchant_id``,
        ``shop_id``, ``gateway_id``), ``created_at``, ``currency`` and
        ``amount`` (signed as it moves the balance), and each optional known
        column the report has (``balance_before`` also derived from
        ``balance_after``); rows of every kind are kept, unknown columns
        too. ``manifest["dialect"]`` says what the pull learned:
        ``report_type`` (the name that worked) and ``report_type_refused``,
        ``statuses`` seen, ``missing_columns`` / ``derived_columns`` /
        ``extra_columns`` per sheet, ``units`` (the check of the money units
        against the balance chain), ``rows_at_or_after_date_to`` (dropped)
        and ``date_to_inclusive`` (True when the server sent such rows,
        else None: not told).

    Raises
    ------
    ConfigurationError
        A bad argument, before any request is sent.
    ReportFailedError, ReportTimeoutError, ReportExpiredError
        Each carrying ``report_id``.
    InvalidRequestError
        The DWH refused the request (422): the message carries its
        ``friendly_message`` and ``help``, also attributes of the error
        (with ``code``); ``.field_errors`` names the field when the answer
        does. A refused report type is retried once under the other name
        first.
    APIError, TransportError, DataError
        The DWH refused, the network failed, or the file does not parse
        (also: money units that contradict the balance chain).
        Once a report exists, every error carries its ``report_id``, names
        it in the message, and has ``.resume``: the keyword arguments (no
        secret) that pick the report up -- ``load_balance_records(**err.resume,
        secret_key=...)`` -- or, after a failed report or a dead link, that
        request a new one (``report_id=None``).

    Examples
    --------
    With ``LEDGERKIT_DWH_URL``, ``LEDGERKIT_DWH_PSP_ID`` and
    ``LEDGERKIT_DWH_SECRET_KEY`` set (a runnable version against the
    sandbox is in the module docstring):

    >>> report = load_balance_records("2025-01-01T00:00:00+02:00", "2025-02-01T00:00:00+02:00",
    ...                               currency="EUR", user_id=1098)            # doctest: +SKIP
    >>> report.records.groupby("transaction_type", observed=True)["net"].sum()  # doctest: +SKIP
    """
    request: dict[str, Any] = dict(
        currency=currency,
        user_id=user_id,
        merchant_id=merchant_id,
        shop_id=shop_id,
        gateway_id=gateway_id,
        format=format,
        language=language,
        notification_email=notification_email,
        report_id=report_id,
        poll_timeout=poll_timeout,
        poll_interval=poll_interval,
        max_rerequests=max_rerequests,
        download_dir=download_dir,
    )
    options: dict[str, Any] = dict(session=session, retry=retry, store=store, progress=progress)
    _one_account_or_many(accounts, accounts_file, scheduler)
    if accounts is not None:
        return _many(
            "balance_records",
            accounts,
            accounts_file,
            {"base_url": base_url, "psp_id": psp_id, "secret_key": secret_key},
            (date_from, date_to),
            request,
            options,
            lambda account: Client(balance_records=account, **options).balance_records(date_from, date_to, **request),
            scheduler,
        )
    client = Client(balance_records=_given(base_url, "psp_id", psp_id, secret_key), **options)
    return client.balance_records(date_from, date_to, **request)
