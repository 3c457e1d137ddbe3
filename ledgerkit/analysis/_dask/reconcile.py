""":func:`~ledgerkit.analysis.reconcile.reconcile_transactions` with Dask inputs: only the columns it compares.

The result has a row per transaction (and per unmatched group of
records), so it is as long as its inputs: on Dask the two sides are read
with only the columns the reconciliation uses -- seven of a transaction's
fifty-odd, eight of a record's -- and reconciled by the pandas function,
which thus sees every row in order (ids given twice, the uid look-up and
the numbering of records without a transaction work as on pandas).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..reconcile import reconcile_transactions as _pandas_reconcile
from .balance import records_of
from .partials import meta_of

__all__ = ["reconcile_transactions"]

_TRANSACTION_COLUMNS = ("id", "uid", "type", "status", "amount", "transaction_fee", "currency")
_RECORD_COLUMNS = (
    "record_id",
    "transaction_id",
    "transaction_uid",
    "transaction_type",
    "currency",
    "amount",
    "fee",
    "net",
)


def _empty(frame: Any) -> Any:
    """No rows, same columns: a Dask frame's meta, a pandas frame's head of 0 rows (anything else as given)."""
    if hasattr(frame, "__dask_graph__"):
        return meta_of(frame)
    return frame.iloc[:0] if isinstance(frame, pd.DataFrame) else frame


def _narrow(frame: Any, wanted: tuple[str, ...]) -> Any:
    """A Dask frame as pandas with only ``wanted`` columns (the others are never read); pandas frames as they are."""
    if not hasattr(frame, "__dask_graph__"):
        return frame
    columns = [c for c in frame.columns if c in wanted]
    out = frame[columns].compute()
    out.attrs = dict(getattr(meta_of(frame), "attrs", {}) or {})
    return out


def reconcile_transactions(transactions: Any, balance_records: Any, *, invalid: str = "raise") -> pd.DataFrame:
    """:func:`ledgerkit.analysis.reconcile.reconcile_transactions` where either side (or a report's records) is Dask."""
    records, _ = records_of(balance_records)
    _pandas_reconcile(_empty(transactions), _empty(records), invalid=invalid)  # the checks that need no rows
    return _pandas_reconcile(
        _narrow(transactions, _TRANSACTION_COLUMNS), _narrow(records, _RECORD_COLUMNS), invalid=invalid
    )
