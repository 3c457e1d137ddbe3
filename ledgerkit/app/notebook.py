"""Helpers for the report notebooks: where the data comes from, how money looks.

A report notebook has one parameter, ``source``, that says where its data
comes from: ``"sandbox"`` (the offline sandbox, started in the notebook's own
process) or ``"env"`` (real accounts, base URLs and credentials from the
``LEDGERKIT_*`` environment variables). :func:`connect` turns that parameter
into a :class:`ledgerkit.Client` (a :class:`Connection`), so the same notebook
runs against both without an ``if`` in sight. A second parameter,
``accounts`` (None by default), pulls several accounts of the accounts file
(``$LEDGERKIT_ACCOUNTS``, :func:`ledgerkit.accounts`) instead: names, tags or
``"all"``, as ``load_*(accounts=...)`` takes them; the frames then carry an
``account`` column and the analysis is per account. :func:`one_account`
picks one account's rows for a chart (a chart never draws two accounts).

:func:`show` (from :mod:`ledgerkit.viz.display`, re-exported here) prepares an
analysis frame for the eye: money in major units of the row's currency
(``123456`` EUR minor units read ``1,234.56``), rates rounded, missing values
blank, personal data left out. It returns a new frame of text, for display
only: compute on the original frame, never on what :func:`show` returns.

Examples
--------
>>> import ledgerkit as lk
>>> with connect("sandbox") as conn:                               # doctest: +SKIP
...     tx = conn.transactions("2025-01-01", "2025-02-01")
>>> show(lk.fee_breakdown(tx, by="brand"))                         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..client import Client
from ..config import ENV_VARS
from ..errors import ConfigurationError
from ..loaders import load_balance_records, load_statements, load_transactions
from ..viz.display import money_columns, show

__all__ = ["Connection", "connect", "show", "money_columns", "one_account", "SOURCES"]

#: The values a notebook's ``source`` parameter may take.
SOURCES = ("sandbox", "env")


class Connection(Client):
    """A notebook's :class:`ledgerkit.Client`: the running sandbox's accounts, or the environment's.

    Made by :func:`connect`. Pull with its methods (``conn.transactions(...)``,
    ``conn.statements(...)``, ``conn.balance_records(...)``); :meth:`kwargs`
    still gives the loaders' keyword arguments.

    Attributes
    ----------
    source : {"sandbox", "env"}
    sandbox : ledgerkit.sandbox.Sandbox or None
        The running sandbox, for ``source="sandbox"``.
    accounts : str, list of str or None
        The accounts of the accounts file pulled (``accounts=`` of the
        loaders), else None (one account per source).
    """

    def __init__(self, source: str, sandbox: Any = None, *, accounts: Any = None, **options: Any) -> None:
        connections: dict[str, Any] = (
            {name: _sandbox_account(sandbox, name) for name in ENV_VARS} if sandbox is not None else {}
        )
        super().__init__(**connections, **{"progress": False, **options})
        self.source = source
        self.sandbox = sandbox
        self.accounts = accounts

    def _pull_options(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "progress": self.progress,
            "retry": self.retry,
            "session": self.session,
            "store": self.store,
        }

    def transactions(self, date_from: Any, date_to: Any, **request: Any) -> pd.DataFrame:
        """As :meth:`ledgerkit.Client.transactions`; with ``accounts``, of every account chosen."""
        if self.accounts is None:
            return super().transactions(date_from, date_to, **request)
        return load_transactions(date_from, date_to, **self._pull_options(), **request)

    def statements(self, date_from: Any = None, date_to: Any = None, **request: Any) -> pd.DataFrame:
        """As :meth:`ledgerkit.Client.statements`; with ``accounts``, of every account chosen."""
        if self.accounts is None:
            return super().statements(date_from, date_to, **request)
        return load_statements(date_from, date_to, **self._pull_options(), **request)

    def balance_records(self, date_from: Any, date_to: Any, **request: Any) -> Any:
        """As :meth:`ledgerkit.Client.balance_records`; with ``accounts``, of every account chosen."""
        if self.accounts is None:
            return super().balance_records(date_from, date_to, **request)
        return load_balance_records(date_from, date_to, **self._pull_options(), **request)

    @property
    def world(self) -> Any:
        """The sandbox's World (what it serves, planted oddities included), else None."""
        return None if self.sandbox is None else self.sandbox.world

    def kwargs(self, name: str) -> dict[str, Any]:
        """Keyword arguments for the loader of source ``name``.

        Parameters
        ----------
        name : {"transactions", "statements", "balance_records"}

        Returns
        -------
        dict
            ``base_url``, the id keyword (``shop_id`` or ``psp_id``) and
            ``secret_key`` (a :class:`~ledgerkit.config.Credentials`, whose
            repr hides the secret) for the sandbox; ``{}`` for ``"env"``, so
            the loader reads the ``LEDGERKIT_*`` variables itself.

        Examples
        --------
        >>> Connection("env").kwargs("statements")
        {}
        """
        if name not in ENV_VARS:
            raise ConfigurationError("name", name, f"one of {', '.join(ENV_VARS)}")
        if self.sandbox is None:
            return {}
        return _sandbox_account(self.sandbox, name)

    def account_id(self, name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
        """The id the loader of ``name`` authenticates as (shop or PSP id), else None.

        From the sandbox's credentials, or the ``LEDGERKIT_*`` id variable
        for ``"env"``; useful to scope a balance report to the transactions'
        shop (``shop_id=int(conn.account_id("transactions"))``).

        Examples
        --------
        >>> Connection("env").account_id("balance_records", environ={"LEDGERKIT_DWH_PSP_ID": "7"})
        '7'
        """
        self.kwargs(name)  # validates the name
        if self.accounts is not None:
            return None  # several accounts: no one id
        if self.sandbox is not None:
            return self.sandbox.credentials[name].user
        return (os.environ if environ is None else environ).get(ENV_VARS[name][1])

    def close(self) -> None:
        """Stop the sandbox, if one was started; safe to call twice."""
        if self.sandbox is not None:
            self.sandbox.stop()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # No URL or port: a notebook output that shows this must not vary.
        shown = "" if self.accounts is None else f" accounts={self.accounts!r}"
        return f"<Connection source={self.source!r}{shown}>"


def _sandbox_account(sandbox: Any, name: str) -> dict[str, Any]:
    urls = {
        "transactions": sandbox.transactions_url,
        "statements": sandbox.statements_url,
        "balance_records": sandbox.dwh_url,
    }
    credentials = sandbox.credentials[name]
    return {"base_url": urls[name], ENV_VARS[name][3]: credentials.user, "secret_key": credentials}


def connect(source: str = "sandbox", *, accounts: Any = None, **sandbox_options: Any) -> Connection:
    """Turn a notebook's ``source`` (and ``accounts``) parameters into a :class:`Connection`.

    Parameters
    ----------
    source : {"sandbox", "env"}
        ``"sandbox"`` starts an in-process :class:`~ledgerkit.sandbox.Sandbox`
        on 127.0.0.1 (a free port); ``"env"`` uses real accounts configured
        by the ``LEDGERKIT_*`` environment variables.
    accounts : str or list of str, optional
        Pull these accounts of the accounts file (``$LEDGERKIT_ACCOUNTS``:
        names, tags or ``"all"``) instead: the file says where each account
        is, so no sandbox is started and ``source`` is not used.
    **sandbox_options
        Passed to ``Sandbox(...)`` (``seed``, ``size``, ...); only with
        ``source="sandbox"``.

    Returns
    -------
    Connection
        Use ``conn.kwargs("transactions")`` etc. in the loader calls and
        ``conn.close()`` (or a ``with`` block) when done.

    Raises
    ------
    ConfigurationError
        An unknown ``source``, or sandbox options with ``source="env"``.

    Examples
    --------
    >>> conn = connect("env")
    >>> conn, conn.kwargs("transactions")
    (<Connection source='env'>, {})
    """
    if source not in SOURCES:
        raise ConfigurationError("source", source, "'sandbox' (the offline sandbox) or 'env' (LEDGERKIT_* variables)")
    if accounts is not None:
        if sandbox_options:
            raise ConfigurationError("sandbox_options", sorted(sandbox_options), "none with accounts=")
        return Connection("accounts", accounts=accounts)
    if source == "env":
        if sandbox_options:
            raise ConfigurationError("sandbox_options", sorted(sandbox_options), "none with source='env'")
        return Connection("env")
    from ..sandbox import Sandbox

    return Connection("sandbox", Sandbox(**sandbox_options).start())


def one_account(frame: pd.DataFrame, account: str | None = None) -> pd.DataFrame:
    """The rows of one account of a many-account frame (default: the first name), for a chart; others as given.

    Charts refuse several accounts' rows (their money is never drawn
    together); tables and the analysis show every account.

    Examples
    --------
    >>> f = pd.DataFrame({"account": ["lv", "eu", "lv"], "amount": [1, 2, 3]})
    >>> one_account(f)["amount"].tolist(), one_account(f, "lv")["amount"].tolist()
    ([2], [1, 3])
    >>> one_account(pd.DataFrame({"amount": [1]}))["amount"].tolist()
    [1]
    """
    if not isinstance(frame, pd.DataFrame) or "account" not in frame.columns:
        return frame
    names = sorted({str(a) for a in frame["account"].dropna().unique()})
    if account is None:
        account = names[0] if names else None
    elif account not in names:
        raise ConfigurationError("account", account, f"one of the accounts of the frame: {names}")
    return frame.loc[frame["account"].astype("str").eq(account).to_numpy(dtype=bool, na_value=False)]
