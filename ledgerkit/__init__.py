"""ledgerkit: payment-provider reporting data in Jupyter, exact to the minor unit.

Loaders return typed, pagination-aware DataFrames (money in ``Int64`` minor
units with a ``currency`` column, UTC times, a manifest in
``df.attrs["ledgerkit"]``); the analysis functions answer fees, balance
roll-forward and payouts; ``ledgerkit.viz`` (plots and interactive explorers) shows
them in notebooks; ``ledgerkit.sandbox`` serves all three APIs offline.

Examples
--------
>>> import ledgerkit as lk
>>> from ledgerkit.sandbox import Sandbox
>>> with Sandbox() as sb:                                        # doctest: +SKIP
...     tx = lk.load_transactions("2025-01-01", "2025-02-01", **sb.kwargs("transactions"))
>>> lk.fee_breakdown(tx, by="brand")                             # doctest: +SKIP
"""

import typing as _typing

from . import errors as _errors
from ._transport.http import RetryPolicy
from .accounts import Account, accounts
from .analysis import (
    check_balances,
    effective_rate_change,
    fee_anomalies,
    fee_breakdown,
    fee_model,
    payout_groups,
    payout_items,
    payout_waterfall,
    reconcile_transactions,
    reconciliation_summary,
    roll_forward,
)
from .app.close_pack import ClosePack, close_pack
from .checks import assert_balances_chain, assert_payouts_explained, assert_reconciled
from .client import Client
from .config import Credentials
from .errors import *  # noqa: F403
from .loaders import iter_statements, iter_transactions, load_balance_records, load_statements, load_transactions
from .sources.balance_records import BalanceReport
from .store import Store

__version__ = "0.1.0"

__all__ = [
    # front door
    "Client",
    "Account",
    "accounts",
    # loaders
    "load_transactions",
    "iter_transactions",
    "load_statements",
    "iter_statements",
    "load_balance_records",
    "BalanceReport",
    "Credentials",
    "RetryPolicy",
    "Store",
    # analysis
    "fee_breakdown",
    "fee_model",
    "fee_anomalies",
    "effective_rate_change",
    "roll_forward",
    "check_balances",
    "payout_groups",
    "payout_items",
    "payout_waterfall",
    "reconcile_transactions",
    "reconciliation_summary",
    # close and checks
    "close_pack",
    "ClosePack",
    "assert_balances_chain",
    "assert_payouts_explained",
    "assert_reconciled",
]
__all__ += _errors.__all__  # and every error class


def __getattr__(name: str) -> _typing.Any:
    """``ledgerkit.viz`` on first use (it imports matplotlib and ipywidgets)."""
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module 'ledgerkit' has no attribute {name!r}")
