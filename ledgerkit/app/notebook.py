"""Helpers for the report notebooks: where the data comes from, how money looks.

A report notebook has one parameter, ``source``, that says where its data
comes from: ``"sandbox"`` (the offline sandbox, started in the notebook's own
process) or ``"env"`` (real accounts, base URLs and credentials from the
``LEDGERKIT_*`` environment variables). :func:`connect` turns that parameter
into a :class:`ledgerkit.Client` (a :class:`Connection`), so the same notebook
runs against both without an ``if`` in sight.

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

from ..client import Client
from ..config import ENV_VARS
from ..errors import ConfigurationError
from ..viz.display import money_columns, show

__all__ = ["Connection", "connect", "show", "money_columns", "SOURCES"]

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
    """

    def __init__(self, source: str, sandbox: Any = None, **options: Any) -> None:
        accounts: dict[str, Any] = (
            {name: _sandbox_account(sandbox, name) for name in ENV_VARS} if sandbox is not None else {}
        )
        super().__init__(**accounts, **{"progress": False, **options})
        self.source = source
        self.sandbox = sandbox

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
        return f"<Connection source={self.source!r}>"


def _sandbox_account(sandbox: Any, name: str) -> dict[str, Any]:
    urls = {
        "transactions": sandbox.transactions_url,
        "statements": sandbox.statements_url,
        "balance_records": sandbox.dwh_url,
    }
    credentials = sandbox.credentials[name]
    return {"base_url": urls[name], ENV_VARS[name][3]: credentials.user, "secret_key": credentials}


def connect(source: str = "sandbox", **sandbox_options: Any) -> Connection:
    """Turn a notebook's ``source`` parameter into a :class:`Connection`.

    Parameters
    ----------
    source : {"sandbox", "env"}
        ``"sandbox"`` starts an in-process :class:`~ledgerkit.sandbox.Sandbox`
        on 127.0.0.1 (a free port); ``"env"`` uses real accounts configured
        by the ``LEDGERKIT_*`` environment variables.
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
    if source == "env":
        if sandbox_options:
            raise ConfigurationError("sandbox_options", sorted(sandbox_options), "none with source='env'")
        return Connection("env")
    from ..sandbox import Sandbox

    return Connection("sandbox", Sandbox(**sandbox_options).start())
