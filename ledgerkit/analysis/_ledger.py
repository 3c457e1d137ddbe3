"""One balance ledger, whatever its source: the input of ``roll_forward`` and ``check_balances``.

Three inputs are recognised (docs/CONTRACTS.md §4):

- an account-statements frame (MakeCommerce): ``created``, ``type``,
  ``amount``, ``balance_before``, ``balance_after``, ``currency``; one chain
  per currency, in row order;
- the records of a DWH balance report (beGateway), full or minimal: only
  ``created_at`` (UTC), ``currency``, ``amount`` (signed as it moves the
  balance) and at least one account id (``merchant_id``, ``shop_id``,
  ``gateway_id``) are required; ``transaction_type``, ``fee``, ``net``,
  ``balance_before``, ``balance_after``, ``record_id`` are used when
  present. One chain per account (the account ids present) and currency;
- an object with ``.records`` and ``.opening_balance`` (a balance report).

A record moves the balance by its ``net`` when the row has one, else by
``amount - fee`` when it has a fee, else — only when the report has neither
column — by its ``amount``. A row with a ``fee`` or ``net`` column but
neither value is refused: missing money is never read as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import ACCOUNT_IDS, BALANCE_RECORDS, STATEMENTS, frame_kind
from ..errors import ConfigurationError
from ._common import minor_units, require_frame, require_no_missing, require_total_fits, require_utc
from ._invalid import rows_text
from .categories import record_category, statement_category

__all__ = ["ACCOUNT_IDS", "ACCOUNT_COLUMNS", "Ledger", "ledger_of", "chain_codes", "chain_openings", "first_rows"]

#: Columns identifying one balance chain of a full DWH balance report.
ACCOUNT_COLUMNS: tuple[str, ...] = (*ACCOUNT_IDS, "currency")

#: What the balance analyses need of a statements frame, and of balance records (the columns they use if there).
_STATEMENT_NEEDS = (*STATEMENTS.required, "balance_before", "balance_after")
_RECORD_USES = ("record_id", "fee", "net", "balance_before", "balance_after")


@dataclass(frozen=True)
class Ledger:
    """One input in the shape the balance analyses need (arrays in the caller's row order)."""

    frame: pd.DataFrame  # the caller's rows, original order
    is_records: bool
    created: pd.Series  # UTC timestamps
    types: pd.Series  # the row's type (all missing when the frame has none)
    label_of: Callable[[Any], str]  # type -> category
    amount: np.ndarray  # int64: the part of the movement classified by type
    fee: np.ndarray | None  # int64: the fee part (a positive cost), None for statements
    change: np.ndarray  # int64: how much each row moves the balance
    net_gap: np.ndarray | None  # int64: amount - fee - net where all three are given, else 0
    before: np.ndarray | None  # int64 balance_before, None when the column is absent
    after: np.ndarray | None  # int64 balance_after, None when the column is absent
    chain_columns: tuple[str, ...]
    id_column: str | None
    opening_balance: pd.DataFrame | None


def _optional_money(frame: pd.DataFrame, column: str, parameter: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(values with 0 where missing, known mask) of an optional money column; None when absent.

    The column is checked by the schema.
    """
    if column not in frame.columns:
        return None
    values = frame[column]
    known = values.notna().to_numpy(dtype=bool)
    out = values.to_numpy(dtype="int64", na_value=0)
    require_total_fits(out, f"{parameter}[{column!r}]")
    return out, known


def _movement(amount: np.ndarray, fee: Any, net: Any, parameter: str) -> tuple[np.ndarray, ...]:
    """Per record: the movement, the fee part and ``amount - fee - net`` (see the module docstring)."""
    zeros, none = np.zeros(len(amount), dtype="int64"), np.zeros(len(amount), dtype=bool)
    if fee is None and net is None:
        return amount, zeros, zeros  # the report carries no fees: the amount is the movement
    fee_value, fee_known = fee if fee is not None else (zeros, none)
    net_value, net_known = net if net is not None else (zeros, none)
    unknown = ~fee_known & ~net_known
    if unknown.any():
        column = "net" if net is not None else "fee"
        raise ConfigurationError(
            f"{parameter}[{column!r}]",
            f"<NA> at rows {rows_text(np.flatnonzero(unknown))}",
            "a net or a fee on every record (without either, how much it moved the balance is unknown: "
            "missing money is never read as 0)",
        )
    change = np.where(net_known, net_value, amount - fee_value)
    fee_part = np.where(fee_known, fee_value, amount - net_value)
    gap = np.where(net_known & fee_known, amount - fee_value - net_value, 0)
    return change, fee_part, gap


def _records(frame: pd.DataFrame, parameter: str, opening: Any) -> Ledger:
    BALANCE_RECORDS.check(frame, parameter, BALANCE_RECORDS.required, uses=_RECORD_USES)
    accounts = tuple(c for c in ACCOUNT_IDS if c in frame.columns)
    balances = [c for c in ("balance_before", "balance_after") if c in frame.columns]
    require_no_missing(frame, ("amount", "currency", "created_at", *balances), parameter)
    created = require_utc(frame, "created_at", parameter)
    amount = minor_units(frame["amount"], parameter)
    change, fee, gap = _movement(
        amount, _optional_money(frame, "fee", parameter), _optional_money(frame, "net", parameter), parameter
    )
    has_type = "transaction_type" in frame.columns
    types = frame["transaction_type"] if has_type else pd.Series(pd.NA, index=frame.index, dtype="str")
    return Ledger(
        frame=frame,
        is_records=True,
        created=created,
        types=types,
        label_of=record_category,
        amount=amount,
        fee=fee,
        change=change,
        net_gap=gap,
        before=minor_units(frame["balance_before"], parameter, level=True) if "balance_before" in balances else None,
        after=minor_units(frame["balance_after"], parameter, level=True) if "balance_after" in balances else None,
        chain_columns=(*accounts, "currency"),
        id_column="record_id" if "record_id" in frame.columns else None,
        opening_balance=opening,
    )


def _statements(frame: pd.DataFrame, parameter: str, opening: Any) -> Ledger:
    STATEMENTS.check(frame, parameter, _STATEMENT_NEEDS)
    require_no_missing(frame, ("amount", "balance_before", "balance_after", "currency", "created"), parameter)
    created = require_utc(frame, "created", parameter)
    amount = minor_units(frame["amount"], parameter)
    return Ledger(
        frame=frame,
        is_records=False,
        created=created,
        types=frame["type"],
        label_of=statement_category,
        amount=amount,
        fee=None,
        change=amount,
        net_gap=None,
        before=minor_units(frame["balance_before"], parameter, level=True),
        after=minor_units(frame["balance_after"], parameter, level=True),
        chain_columns=("currency",),
        id_column="row_id" if "row_id" in frame.columns else None,
        opening_balance=opening,
    )


def ledger_of(data: Any, parameter: str) -> Ledger:
    """Recognise a statements frame, a records frame or a BalanceReport-like object.

    Which of the two a frame is, its manifest says, else its columns
    (:func:`ledgerkit._ingest.schema.frame_kind`): ``created`` for
    statements, ``created_at`` and an account id for balance records.

    Examples
    --------
    >>> r = pd.DataFrame({"shop_id": pd.array([1, 1], dtype="Int64"),
    ...     "created_at": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True), "currency": ["EUR", "EUR"],
    ...     "amount": pd.array([1000, -200], dtype="Int64"), "fee": pd.array([30, None], dtype="Int64"),
    ...     "net": pd.array([None, -200], dtype="Int64")})
    >>> ledger = ledger_of(r, "statements")
    >>> ledger.change.tolist(), ledger.fee.tolist(), ledger.chain_columns
    ([970, -200], [30, 0], ('shop_id', 'currency'))
    """
    opening = None
    if not isinstance(data, pd.DataFrame) and hasattr(data, "records"):
        opening = getattr(data, "opening_balance", None)
        data = data.records
    frame = require_frame(data, parameter)
    if frame_kind(frame, parameter, (STATEMENTS, BALANCE_RECORDS)) is BALANCE_RECORDS:
        return _records(frame, parameter, opening)
    return _statements(frame, parameter, opening)


def chain_codes(ledger: Ledger, currency: np.ndarray) -> np.ndarray:
    """A number per balance chain (for statements, the currency's code ``currency``)."""
    if ledger.chain_columns == ("currency",):
        return currency
    columns = list(ledger.chain_columns)
    return ledger.frame.groupby(columns, sort=False, observed=True, dropna=False).ngroup().to_numpy(dtype="int64")


def _keys(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Key columns as text, so that Int64 ids and categoricals of either side compare equal."""
    return pd.DataFrame({c: frame[c].astype("str").to_numpy(dtype=object) for c in columns})


def chain_openings(ledger: Ledger, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The report's opening balance of each chain (rows ``first``): values and a known mask.

    Known only for balance records given with an ``opening_balance`` frame
    that has every chain column and an opening for that chain (the openings
    of several rows with the same keys are summed).
    """
    count = len(first)
    values, known = np.zeros(count, dtype="int64"), np.zeros(count, dtype=bool)
    opening = ledger.opening_balance
    columns = list(ledger.chain_columns)
    if not ledger.is_records or not isinstance(opening, pd.DataFrame) or not count:
        return values, known
    if not {*columns, "opening_balance"} <= set(opening.columns):
        return values, known
    given = opening.loc[opening["opening_balance"].notna()]
    table = _keys(given, columns).assign(_value=minor_units(given["opening_balance"], "opening"))
    table = table.groupby(columns, sort=False, dropna=False, as_index=False)["_value"].sum()
    heads = _keys(ledger.frame.iloc[first], columns).reset_index(drop=True)
    matched = heads.merge(table, on=columns, how="left", validate="many_to_one", sort=False)["_value"]
    known = matched.notna().to_numpy(dtype=bool)
    return matched.fillna(0).to_numpy(dtype="int64"), known


def first_rows(chain: np.ndarray, count: int) -> np.ndarray:
    """Position of the first row of each of ``count`` chains (``len(chain)`` where a chain has none)."""
    first = np.full(count, len(chain), dtype="int64")
    np.minimum.at(first, chain, np.arange(len(chain), dtype="int64"))
    return first
