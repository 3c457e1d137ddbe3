""":func:`~ledgerkit.analysis.balance.roll_forward` on a Dask DataFrame: each partition shrunk, pandas on the rest.

What a roll-forward reads of a balance chain is: the activity summed per
category, currency and period, the first row of each chain (its opening)
and the last row of each chain in each period (its reported closing). So
each partition keeps, per chain and period, its first and its last row as
they are, and folds the rows between them into one row per type, whose
``amount`` (``fee``, ``net``) are the rows' sums; the pandas
``roll_forward`` of the folded partitions, put back in order, is the
roll-forward of the whole frame except for ``rows``, which each partition
counts and which are added up. Memory: a partition at a time on a worker,
and a few rows per chain, period and type in this process.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .._common import check_freq, codes, period_start, plain_text
from .._ledger import ACCOUNT_IDS, chain_codes, ledger_of
from ..balance import roll_forward as _pandas_roll_forward
from .partials import abs_totals, check_totals, meta_of, projected, raise_first, run_partials

__all__ = ["roll_forward", "records_of", "MONEY", "FLOWS", "LEDGER_COLUMNS"]

#: Money columns of a ledger whose absolute totals must fit a 64-bit sum.
MONEY = ("amount", "fee", "net", "balance_before", "balance_after")
#: The money that is added up over rows (balances are levels: each partition's pandas check bounds them).
FLOWS = ("amount", "fee", "net")
#: What a balance analysis reads of statements or balance records (the others are not read from Parquet).
LEDGER_COLUMNS = ("created", "created_at", "type", "transaction_type", "currency", *MONEY, *ACCOUNT_IDS, "record_id")


def records_of(statements: Any) -> tuple[Any, Any]:
    """(the Dask frame, the report's opening balance or None) of a frame or a report-like object."""
    if hasattr(statements, "records") and not hasattr(statements, "__dask_graph__"):
        return statements.records, getattr(statements, "opening_balance", None)
    return statements, None


def with_opening(frame: pd.DataFrame, opening: Any) -> Any:
    """``frame`` as the pandas functions take it: bare, or a report-like object with its opening."""
    return frame if opening is None else SimpleNamespace(records=frame, opening_balance=opening)


def _folded(part: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """The partition's first and last row per chain and period, the rows between folded per type; rows counted."""
    totals = abs_totals(part, FLOWS)
    ledger = ledger_of(part, "statements")  # every check on the rows, as pandas makes it
    period = period_start(ledger.created, check_freq(freq))
    currency = plain_text(part["currency"])  # a category of text: its values by code, ~20x faster than astype
    currency = part["currency"].astype("str") if currency is None else currency
    counts = pd.DataFrame({"currency": currency.array, "period": period.array})
    counts = counts.groupby(["currency", "period"], sort=False).size().rename("rows").reset_index()
    if not len(part):
        return part, counts, totals
    chain = chain_codes(ledger, codes(part["currency"])[0])
    cell = pd.factorize(chain * (1 << 32) + codes(period)[0])[0]
    position = np.arange(len(part))
    first = np.full(cell.max() + 1, len(part))
    np.minimum.at(first, cell, position)
    last = np.zeros(cell.max() + 1, dtype="int64")
    np.maximum.at(last, cell, position)
    edge = (position == first[cell]) | (position == last[cell])
    between = np.flatnonzero(~edge)
    kind = codes(ledger.types)[0][between]
    fold = pd.DataFrame(
        {
            "cell": cell[between],
            "kind": kind,
            "at": between,
            "amount": ledger.amount[between],
            "fee": ledger.fee[between] if ledger.fee is not None else 0,
            "change": ledger.change[between],
        }
    )
    fold = fold.groupby(["cell", "kind"], sort=False).agg(
        at=("at", "first"), amount=("amount", "sum"), fee=("fee", "sum"), change=("change", "sum")
    )
    middle = part.iloc[fold["at"].to_numpy()].copy()
    middle["amount"] = pd.array(fold["amount"].to_numpy(), dtype=part["amount"].dtype)
    if "fee" in part.columns:
        middle["fee"] = pd.array(fold["fee"].to_numpy(), dtype=part["fee"].dtype)
    if "net" in part.columns:
        middle["net"] = pd.array(fold["change"].to_numpy(), dtype=part["net"].dtype)
    if "record_id" in part.columns:
        middle["record_id"] = middle["record_id"].mask(pd.Series(True, index=middle.index))
    order = np.concatenate([np.flatnonzero(edge), fold["at"].to_numpy()])
    slot = np.concatenate([np.where(position[edge] == last[cell[edge]], 2, 0), np.ones(len(fold), dtype="int64")])
    anchor = first[cell[order]]
    rank = np.lexsort((order, slot, anchor))
    out = pd.concat([part.iloc[np.flatnonzero(edge)], middle], ignore_index=True).iloc[rank].reset_index(drop=True)
    return out, counts, totals


def roll_forward(
    statements: Any, *, freq: str = "M", categories: Mapping[str, str] | None = None, opening: Any = None
) -> pd.DataFrame:
    """:func:`ledgerkit.analysis.balance.roll_forward` of a Dask frame or a report whose records are one."""
    frame, report_opening = records_of(statements)
    given = opening if opening is not None else report_opening
    _pandas_roll_forward(meta_of(frame), freq=freq, categories=categories, opening=None if given is None else {})
    pieces = run_partials(projected(frame, LEDGER_COLUMNS), _folded, freq)
    raise_first(pieces)
    check_totals([p.value[2] for p in pieces], "statements")
    folded = pd.concat([p.value[0] for p in pieces], ignore_index=True)
    folded.attrs = dict(getattr(meta_of(frame), "attrs", {}) or {})
    out = _pandas_roll_forward(with_opening(folded, report_opening), freq=freq, categories=categories, opening=opening)
    counts = pd.concat([p.value[1] for p in pieces], ignore_index=True)
    counts = counts.groupby(["currency", "period"], sort=False)["rows"].sum()
    found = pd.MultiIndex.from_arrays([out["currency"].astype("str"), out["period"]])
    out["rows"] = pd.array(counts.reindex(found).fillna(0).to_numpy(dtype="int64"), dtype="Int64")
    return out
