"""The front door: a :class:`Client` holds one account's connections and pulls through them.

A client knows, per API, where it is and who it is (base URL, id, secret
key -- from arguments, an :class:`~ledgerkit.accounts.Account`, or the
``LEDGERKIT_*`` environment variables), and how to pull: one session
setting, one retry policy, an optional local store, the progress bar and
the number of requests in flight. Each method validates its arguments into
a frozen request (``TransactionsRequest``, ``StatementsRequest``,
``BalanceRecordsRequest``) before anything is sent, then pulls from the API
or through the store. What a server taught one pull -- the payment methods
it refuses, the name of its report type -- the client remembers for the
next, per server.

The module-level :func:`ledgerkit.load_transactions` and friends are thin
wrappers that build a client for one call.

Examples
--------
>>> import ledgerkit as lk
>>> from ledgerkit.sandbox import Sandbox
>>> with Sandbox(size=200, report_seconds=0.05) as sb:
...     client = lk.Client(transactions=sb.kwargs("transactions"), statements=sb.kwargs("statements"),
...                        progress=False)
...     tx = client.transactions("2025-01-01", "2025-02-01")
...     st = client.statements("2025-01-01", "2025-02-01")
>>> tx.attrs["ledgerkit"]["complete"], st.attrs["ledgerkit"]["complete"]
(True, True)
>>> client
Client(transactions='http://127.0.0.1:...', statements='http://127.0.0.1:...', balance_records=<environment>, \
store=None)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import requests

from ._ingest.schema import STATEMENTS, TRANSACTIONS
from ._transport.http import RetryPolicy
from ._transport.progress import PullProgress
from .accounts import Account
from .config import ENV_VARS, resolve
from .errors import ConfigurationError, LedgerkitError
from .sources import balance_records as dwh
from .sources import statements as st
from .sources import transactions as tx
from .sources._pull import Connection, check_flag, check_workers, collect, connect, iterate
from .store import Store, as_store
from .store import balance_records as stored_dwh
from .store import statements as stored_st
from .store import transactions as stored_tx
from .store.directory import lookback_of
from .store.files import server_of
from .store.pulls import StoredLoad

__all__ = ["Client"]

#: The arguments of ``Client.balance_records`` that say how to wait for and keep the report.
_REPORT_OPTIONS = ("report_id", "poll_timeout", "poll_interval", "max_rerequests", "download_dir")
_PARSERS = {"transactions": tx.parse_error, "statements": st.parse_error, "balance_records": dwh.parse_dwh_error}


def _account(source: str, value: Any) -> dict[str, Any] | None:
    """An account argument as ``{"base_url", "user", "secret"}`` (None: the environment, when used)."""
    if value is None:
        return None
    if isinstance(value, Account):
        if value.source != source:
            raise ConfigurationError(source, value.name, f"an account of the {source} API (this one is {value.source})")
        return {"base_url": value.base_url, "user": value.id, "secret": value.credentials()}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            source,
            type(value).__name__,
            "a mapping with base_url, the id and secret_key, "
            "a ledgerkit.accounts.Account, or None (the LEDGERKIT_* variables)",
        )
    user_keyword = ENV_VARS[source][3]
    known = {"base_url", user_keyword, "secret_key"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigurationError(f"{source}[{unknown[0]!r}]", "<given>", f"only the keys {', '.join(sorted(known))}")
    return {"base_url": value.get("base_url"), "user": value.get(user_keyword), "secret": value.get("secret_key")}


class Client:
    """One account's connections to the three APIs, and how to pull from them.

    Parameters
    ----------
    transactions, statements, balance_records : mapping, Account or None
        Where each API is and who the account is there: a mapping with
        ``base_url``, the id (``shop_id``; ``psp_id`` for
        ``balance_records``) and ``secret_key`` (what ``Sandbox.kwargs(...)``
        gives), an :class:`~ledgerkit.accounts.Account` from the accounts
        file, or None to read the ``LEDGERKIT_*`` environment variables when
        that API is first used. A mapping may leave keys out; those come from
        the environment too.
    session : requests.Session, optional
        Lends its settings (proxies, TLS, headers, hooks) to the sessions
        ledgerkit makes; never modified, never used with debug output that
        could show a credential.
    retry : ledgerkit.RetryPolicy, optional
    store : ledgerkit.Store, path or True, optional
        Keep pulled pages in a local store (True: the default one) and ask
        each API only for what it lacks.
    lookback : pandas.Timedelta or str, optional
        With ``store``: how much before the previous pull's end is read again
        (default 3 days).
    progress : bool or None
        A progress bar (None: only for pulls of more than a few pages).
    max_workers : int
        Requests in flight per pull (1 to 32; default 4).

    Examples
    --------
    >>> Client(progress="yes")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: progress='yes' is not valid: expected True, False or None
    """

    def __init__(
        self,
        *,
        transactions: Any = None,
        statements: Any = None,
        balance_records: Any = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        store: Any = None,
        lookback: Any = None,
        progress: bool | None = None,
        max_workers: int = 4,
    ) -> None:
        self._accounts = {
            "transactions": _account("transactions", transactions),
            "statements": _account("statements", statements),
            "balance_records": _account("balance_records", balance_records),
        }
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session", type(session).__name__, "a requests.Session or None")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry", type(retry).__name__, "a ledgerkit.RetryPolicy or None")
        self.session, self.retry = session, retry
        self.store: Store | None = as_store(store)
        self.lookback = lookback_of(lookback)
        self.progress = check_flag("progress", progress, allow_none=True)
        self.max_workers = check_workers(max_workers)
        self._learned: dict[tuple[str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        where = {
            source: (repr(a["base_url"]) if a and a.get("base_url") else "<environment>")
            for source, a in self._accounts.items()
        }
        store = repr(str(self.store.path)) if self.store is not None else "None"
        return (
            f"Client(transactions={where['transactions']}, statements={where['statements']}, "
            f"balance_records={where['balance_records']}, store={store})"
        )

    # ----------------------------------------------------------------- plumbing
    def connection(self, source: str) -> Connection:
        """A fresh :class:`~ledgerkit.sources._pull.Connection` to ``source`` (its own session and counters)."""
        account = self._accounts[source] or {}
        return connect(
            source,
            base_url=account.get("base_url"),
            user=account.get("user"),
            secret=account.get("secret"),
            session=self.session,
            retry=self.retry,
            parse_error=_PARSERS[source],
        )

    def _how(self, max_workers: Any, progress: Any) -> tuple[int, bool | None]:
        workers = self.max_workers if max_workers is None else check_workers(max_workers)
        shown = self.progress if progress is None else check_flag("progress", progress, allow_none=True)
        return workers, shown

    def _memory(self, connection: Connection) -> dict[str, Any]:
        key = (connection.config.source, server_of(connection.config.base_url))
        return self._learned.setdefault(key, {})

    def _stored(self, connection: Connection, workers: int, progress: bool | None, source: str) -> StoredLoad:
        assert self.store is not None
        return StoredLoad(self.store, connection, self.lookback, workers, PullProgress(progress, source))

    # ----------------------------------------------------------------- transactions
    def transactions(
        self,
        date_from: Any,
        date_to: Any,
        *,
        max_workers: int | None = None,
        progress: bool | None = None,
        **request: Any,
    ) -> pd.DataFrame:
        """The account's transactions in ``[date_from, date_to)`` as one typed DataFrame.

        ``request`` takes the arguments of :func:`ledgerkit.load_transactions`
        that say *what* to pull (``date_type``, ``status``,
        ``payment_method_type``, ``time_zone``, ...); the frame, manifest and
        errors are those documented there.
        """
        req = _build(tx.TransactionsRequest, "transactions", date_from, date_to, request)
        workers, shown = self._how(max_workers, progress)
        connection = self.connection("transactions")
        memory = self._memory(connection)
        if self.store is not None:
            load = self._stored(connection, workers, shown, "transactions")
            with load.progress:
                frame = _resumable_store(
                    lambda: stored_tx.load_transactions(load, req),
                    self._resume("transactions", req.parameters(), connection, workers),
                )
        else:
            pull = tx.pull(
                connection, req, max_workers=workers, progress=shown, known_refused=memory.get("methods_refused", ())
            )
            frame = collect(pull)
        refused = frame.attrs["ledgerkit"].get("dialect", {}).get("methods_refused")
        if refused:
            memory["methods_refused"] = tuple(sorted(set(memory.get("methods_refused", ())) | set(refused)))
        return frame

    def iter_transactions(
        self, date_from: Any, date_to: Any, *, max_workers: int = 1, progress: bool | None = None, **request: Any
    ) -> Iterator[pd.DataFrame]:
        """Like :meth:`transactions`, one typed DataFrame per page as it arrives (straight from the API).

        Arguments are checked when this is called; see
        :func:`ledgerkit.iter_transactions` (why one worker by default).
        """
        req = _build(tx.TransactionsRequest, "iter_transactions", date_from, date_to, request)
        workers, shown = self._how(max_workers, progress)
        connection = self.connection("transactions")
        pull = tx.pull(
            connection,
            req,
            max_workers=workers,
            progress=shown,
            columnar=False,
            known_refused=self._memory(connection).get("methods_refused", ()),
        )
        return iterate(pull, TRANSACTIONS)

    # ----------------------------------------------------------------- statements
    def statements(
        self,
        date_from: Any = None,
        date_to: Any = None,
        *,
        max_workers: int | None = None,
        progress: bool | None = None,
        **request: Any,
    ) -> pd.DataFrame:
        """The account statement rows of ``[date_from, date_to)`` (or of one payout) as a DataFrame.

        ``request`` takes the arguments of :func:`ledgerkit.load_statements`
        that say what to pull (``payout_id``, ``per_page``, ``currency``,
        ``start_page``; ``since``/``until`` as other names of the period).
        """
        req = _build(st.StatementsRequest, "statements", date_from, date_to, request)
        workers, shown = self._how(max_workers, progress)
        connection = self.connection("statements")
        if self.store is not None:
            load = self._stored(connection, workers, shown, "statements")
            with load.progress:
                return _resumable_store(
                    lambda: stored_st.load_statements(load, req),
                    self._resume("statements", req.parameters(), connection, workers),
                )
        return collect(st.pull(connection, req, max_workers=workers, progress=shown))

    def iter_statements(
        self,
        date_from: Any = None,
        date_to: Any = None,
        *,
        max_workers: int = 1,
        progress: bool | None = None,
        **request: Any,
    ) -> Iterator[pd.DataFrame]:
        """Like :meth:`statements`, one typed DataFrame per page as it arrives (straight from the API).

        One request at a time by default: see :func:`ledgerkit.iter_statements`.
        """
        req = _build(st.StatementsRequest, "iter_statements", date_from, date_to, request)
        workers, shown = self._how(max_workers, progress)
        return iterate(
            st.pull(self.connection("statements"), req, max_workers=workers, progress=shown, keeps_pages=False),
            STATEMENTS,
        )

    # ----------------------------------------------------------------- balance records
    def balance_records(
        self,
        date_from: Any,
        date_to: Any,
        *,
        currency: Any,
        user_id: Any,
        progress: bool | None = None,
        report_id: Any = None,
        poll_timeout: Any = 300.0,
        poll_interval: Any = (0.5, 10.0),
        max_rerequests: Any = 1,
        download_dir: Any = None,
        **request: Any,
    ) -> dwh.BalanceReport:
        """Request a DWH balance report of ``[date_from, date_to)``, wait for it, read both sheets.

        See :func:`ledgerkit.load_balance_records` for the arguments and the result.
        """
        req, options = checked_request(
            "balance_records",
            date_from,
            date_to,
            {
                **request,
                "currency": currency,
                "user_id": user_id,
                "report_id": report_id,
                "poll_timeout": poll_timeout,
                "poll_interval": poll_interval,
                "max_rerequests": max_rerequests,
                "download_dir": download_dir,
            },
        )
        _, shown = self._how(None, progress)
        account = self._accounts["balance_records"] or {}
        config = resolve(
            "balance_records", base_url=account.get("base_url"), user=account.get("user"), secret=account.get("secret")
        )
        memory = self._learned.setdefault(("balance_records", server_of(config.base_url)), {})
        fetch: dict[str, Any] = {"progress": shown, "retry": self.retry, "session": self.session}
        if self.store is not None:
            report = stored_dwh.load_balance_records(self.store, config, req, options, **fetch)
        else:
            report = dwh.fetch_report(config, req, options, type_name=memory.get("report_type"), **fetch)
        memory["report_type"] = report.manifest.get("dialect", {}).get("report_type")
        return report

    # ----------------------------------------------------------------- errors
    def _resume(self, source: str, parameters: dict[str, Any], connection: Connection, workers: int) -> dict[str, Any]:
        """The keyword arguments of ``load_<source>`` that repeat a stored load (the store keeps the cursor)."""
        user_keyword = ENV_VARS[source][3]
        return {
            **parameters,
            "max_workers": workers,
            "base_url": connection.config.base_url,
            user_keyword: connection.config.credentials.user,
            "store": str(self.store.path) if self.store else None,
            "lookback": str(self.lookback),
        }


def checked_request(source: str, date_from: Any, date_to: Any, request: Mapping[str, Any]) -> Any:
    """The validated request of one pull of ``source``: ``ConfigurationError`` for any bad argument, nothing sent.

    ``request`` holds the method's keyword arguments that say what to pull;
    for ``balance_records`` the result is the request and its
    :class:`~ledgerkit.sources.balance_records.ReportOptions`.

    Examples
    --------
    >>> checked_request("statements", "2025-01-01", "2025-02-01", {"per_page": 500}).params()
    {'since': '2025-01-01', 'until': '2025-02-01', 'per_page': 500, 'page': 1}
    """
    if source == "balance_records":
        options = dwh.ReportOptions.build(**{k: v for k, v in request.items() if k in _REPORT_OPTIONS})
        rest = {k: v for k, v in request.items() if k not in _REPORT_OPTIONS}
        return _build(dwh.BalanceRecordsRequest, "balance_records", date_from, date_to, rest), options
    request_type = tx.TransactionsRequest if source == "transactions" else st.StatementsRequest
    return _build(request_type, source, date_from, date_to, dict(request))


def _build(request_type: Any, method: str, date_from: Any, date_to: Any, request: dict[str, Any]) -> Any:
    """``request_type.build(date_from, date_to, **request)``; a keyword it does not take is a ``ConfigurationError``.

    The method's own ``**request`` would otherwise end in a ``TypeError``
    naming an internal class (and a connection argument such as
    ``shop_id=`` belongs to the :class:`Client`, not to the method).
    """
    takes = [name for name, p in inspect.signature(request_type.build).parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(request) - set(takes))
    if unknown:
        raise ConfigurationError(
            unknown[0],
            "<given>",
            f"an argument of Client.{method}: {', '.join(takes)} "
            "(where to pull from and how are arguments of Client(...))",
        )
    return request_type.build(date_from, date_to, **request)


def _resumable_store(run: Any, resume: dict[str, Any]) -> pd.DataFrame:
    """Run a stored load; an error it raises continues by repeating the load (the store kept every page)."""
    try:
        return run()
    except LedgerkitError as exc:
        if getattr(exc, "resume", None) is not None:
            exc.resume = dict(resume)
        raise
