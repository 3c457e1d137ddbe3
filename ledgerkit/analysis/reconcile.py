"""Reconcile the gateway's transactions with the balance records they produced.

Every successful money-moving transaction (payment, capture, refund,
chargeback, credit, payout) should have moved the balance: it should appear
in the DWH balance report with the same amount and fee. This module pairs
the two sides by transaction id (or uid) and says, for each transaction,
whether they agree.

Amounts are signed as they move the balance (payment and capture positive;
refund, chargeback, credit and payout negative); fees are the positive cost
charged (``transaction_fee`` on one side, ``fee`` on the other), as both
sources report them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import BALANCE_RECORDS, RECONCILIATION, TRANSACTIONS, OneOf, frame_kind
from ._accounts import per_account
from ._common import empty_frame, minor_units, require_no_missing
from ._dask import dask_aware
from ._invalid import Need, check_invalid, integer_ids, note_dropped, screen
from .fee_parts import _check_money_values

__all__ = ["MONEY_SIGNS", "STATUSES", "reconcile_transactions", "reconciliation_summary"]

#: Transaction types that move the balance, with the sign of their effect.
MONEY_SIGNS: dict[str, int] = {
    "payment": 1,
    "capture": 1,
    "refund": -1,
    "chargeback": -1,
    "credit": -1,
    "payout": -1,
}

#: Reconciliation statuses, in report order.
STATUSES: tuple[str, ...] = (
    "matched",
    "amount_mismatch",
    "fee_mismatch",
    "currency_mismatch",
    "only_in_transactions",
    "only_in_balance_records",
)

_RESULT_DTYPES = RECONCILIATION.dtypes
#: What pairing needs of balance records: money, and a transaction to pair each record with.
_RECORD_NEEDS = (
    "amount",
    "currency",
    OneOf(("transaction_id", "transaction_uid"), "without either, a record cannot be paired with its transaction"),
)
_SUMMARY_DTYPES = {
    "currency": "str",
    "status": "str",
    "count": "Int64",
    "transaction_amount": "Int64",
    "record_amount": "Int64",
    "amount_difference": "Int64",
    "fee_difference": "Int64",
}


def _transaction_side(transactions: Any, invalid: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Successful money-moving transactions: key, ids, type, currency, signed amount, fee."""
    frame_kind(transactions, "transactions", (TRANSACTIONS,))
    frame = TRANSACTIONS.check(transactions, "transactions", (*TRANSACTIONS.required, "id", "uid"))
    _check_money_values(frame, ["amount", "transaction_fee"], "transactions")
    successful = (frame["status"].astype("str") == "successful").fillna(False).to_numpy(dtype=bool)
    counted = successful & frame["type"].astype("str").isin(list(MONEY_SIGNS)).to_numpy(dtype=bool)
    what = "successful payments, captures, refunds, chargebacks, credits and payouts"
    needs = [Need("status", None, "every transaction"), Need("type", successful, "successful transactions")]
    needs += [Need(c, counted, what) for c in ("amount", "transaction_fee", "currency")]
    frame, dropped = screen(frame, "transactions", money=needs, invalid=invalid, id_column="id")
    frame = frame[
        (
            (frame["status"].astype("str") == "successful").fillna(False)
            & frame["type"].astype("str").isin(list(MONEY_SIGNS))
        ).to_numpy(dtype=bool)
    ]
    require_no_missing(frame, ("id",), "transactions")
    kind = frame["type"].astype("str")
    ids = integer_ids(frame["id"], "transactions['id']")
    side = pd.DataFrame(
        {
            "key": ids.to_numpy(dtype="int64"),
            "transaction_id": ids.array,
            "transaction_uid": frame["uid"].astype("str").array,
            "type": kind.array,
            "currency_t": frame["currency"].astype("str").array,
            "transaction_amount": kind.map(MONEY_SIGNS).to_numpy(dtype="int64")
            * minor_units(frame["amount"], "transactions"),
            "transaction_fee": minor_units(frame["transaction_fee"], "transactions"),
        }
    )
    return side, dropped


def _record_fees(frame: pd.DataFrame) -> pd.Series | None:
    """Each record's fee: ``fee``, else ``amount - net``; None when the report has neither column."""
    if "fee" not in frame.columns and "net" not in frame.columns:
        return None
    amount = frame["amount"].astype("Int64")
    derived = amount - frame["net"].astype("Int64") if "net" in frame.columns else None
    if "fee" not in frame.columns:
        return derived
    fee = frame["fee"].astype("Int64")
    return fee if derived is None else fee.fillna(derived)


def _record_keys(frame: pd.DataFrame, id_by_uid: dict[str, int]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The transaction each record belongs to: by id, else by uid; records naming neither get keys of their own."""
    has_id, has_uid = "transaction_id" in frame.columns, "transaction_uid" in frame.columns
    ids = (
        integer_ids(frame["transaction_id"], "balance_records['transaction_id']")
        if has_id
        else pd.Series(pd.NA, index=frame.index, dtype="Int64")
    )
    uid = frame["transaction_uid"].astype("str") if has_uid else pd.Series(pd.NA, index=frame.index, dtype="str")
    key = ids.fillna(uid.map(id_by_uid).astype("Int64"))
    if key.isna().any():
        unknown = np.flatnonzero(key.isna().to_numpy())
        key = key.copy()
        key.iloc[unknown] = -1 - unknown
    return key, ids, uid


def _record_side(balance_records: Any, id_by_uid: dict[str, int], invalid: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Balance records summed per transaction (matched by id, else by uid)."""
    if not isinstance(balance_records, pd.DataFrame) and hasattr(balance_records, "records"):
        balance_records = balance_records.records
    frame_kind(balance_records, "balance_records", (BALANCE_RECORDS,))
    frame = BALANCE_RECORDS.check(balance_records, "balance_records", _RECORD_NEEDS, uses=("fee", "net", "record_id"))
    _check_money_values(frame, [c for c in ("amount", "fee", "net") if c in frame.columns], "balance_records")
    fees = _record_fees(frame)
    view = frame if fees is None or "fee" not in frame.columns else frame.assign(fee=fees)
    needs = [Need("amount", None, "every record"), Need("currency", None, "every record")]
    if fees is not None:
        needs.append(Need("fee" if "fee" in frame.columns else "net", None, "every record, its fee or net"))
    id_column = "record_id" if "record_id" in frame.columns else None
    kept, dropped = screen(view, "balance_records", money=needs, invalid=invalid, id_column=id_column)
    fees = _record_fees(kept)
    key, ids, uid = _record_keys(kept, id_by_uid)
    types = (
        kept["transaction_type"].astype("str")
        if "transaction_type" in kept.columns
        else pd.Series(pd.NA, index=kept.index, dtype="str")
    )
    records = pd.DataFrame(
        {
            "key": key.to_numpy(dtype="int64"),
            "record_transaction_id": ids.array,
            "record_uid": uid.array,
            "record_type": types.array,
            "currency_r": kept["currency"].astype("str").array,
            "record_amount": minor_units(kept["amount"], "balance_records"),
        }
    )
    records["record_fee"] = fees.array if fees is not None else pd.array([pd.NA] * len(kept), dtype="Int64")
    grouped = records.groupby("key", sort=False)
    out = grouped.agg(
        record_transaction_id=("record_transaction_id", "first"),
        record_uid=("record_uid", "first"),
        record_type=("record_type", "first"),
        currency_r=("currency_r", "first"),
        record_amount=("record_amount", "sum"),
    )
    out["record_fee"] = grouped["record_fee"].sum() if fees is not None else pd.array([pd.NA] * len(out), dtype="Int64")
    out["records"] = grouped.size()
    out["currencies"] = grouped["currency_r"].nunique()
    return out.reset_index(), dropped


def _status(merged: pd.DataFrame, compare_fees: bool) -> pd.Series:
    has_t, has_r = merged["_t"].to_numpy(dtype=bool), merged["_r"].to_numpy(dtype=bool)
    same_currency = ((merged["currency_t"] == merged["currency_r"]) & (merged["currencies"] == 1)).fillna(False)
    same_currency = same_currency.to_numpy(dtype=bool)
    amount_ok = (merged["amount_difference"] == 0).fillna(False).to_numpy(dtype=bool)
    fee_ok = (merged["fee_difference"] == 0).fillna(False).to_numpy(dtype=bool) | (not compare_fees)
    status = np.select(
        [~has_r, ~has_t, ~same_currency, ~amount_ok, ~fee_ok],
        ["only_in_transactions", "only_in_balance_records", "currency_mismatch", "amount_mismatch", "fee_mismatch"],
        default="matched",
    )
    return pd.Series(status, index=merged.index, dtype="str")


@per_account("transactions", "balance_records")
@dask_aware("transactions", "balance_records")
def reconcile_transactions(transactions: pd.DataFrame, balance_records: Any, *, invalid: str = "raise") -> pd.DataFrame:
    """Pair each successful money-moving transaction with its balance record(s).

    Transactions with status ``successful`` and type payment, capture,
    refund, chargeback, credit or payout are matched to balance records by
    ``transaction_id``, or by ``transaction_uid`` when a record has no id.
    Several records for one transaction are summed. Filter both sides to
    the same window and currency first: a transaction outside the report's
    window shows as ``only_in_transactions``.

    Parameters
    ----------
    transactions : DataFrame
        With ``id`` (whole numbers, one row each), ``uid``, ``type``,
        ``status``, ``amount`` (minor units, unsigned as the gateway reports
        it), ``transaction_fee``, ``currency``.
    balance_records : DataFrame or BalanceReport-like
        The ``.records`` of a DWH balance report (or the report itself):
        ``amount`` (signed), ``currency`` and at least one of
        ``transaction_id`` (whole numbers) and ``transaction_uid``; the fee
        from ``fee``, else ``amount - net``. A report with neither ``fee``
        nor ``net`` is reconciled on amounts only: ``record_fee`` and
        ``fee_difference`` are NA and no row is a ``fee_mismatch``. With a
        ``record_id`` column, each record id must be on one row. Records
        without a transaction (adjustments, rolling reserve, rates) are
        ``only_in_balance_records`` with their ``type``.
    invalid : {"raise", "drop"}
        Rows that cannot be counted: missing money (a counted transaction's
        ``amount``, ``transaction_fee`` or ``currency``; a record's
        ``amount``, ``currency``, or fee when the report has fees) or a
        repeated ``id`` / ``record_id``. ``"raise"`` (default) refuses them
        naming the column and the rows; ``"drop"`` leaves them out (a
        repeated id keeps its first row) and counts them in the result's
        ``attrs["dropped"]`` (``{"transactions": {"missing_money": n,
        "duplicated_ids": m}, "balance_records": {...}}``).

    Returns
    -------
    DataFrame
        One row per transaction (or unmatched record group): ``status``
        (``matched``, ``amount_mismatch``, ``fee_mismatch``,
        ``currency_mismatch``, ``only_in_transactions``,
        ``only_in_balance_records``), ``transaction_id``,
        ``transaction_uid``, ``type`` (the transaction's, else the
        record's), ``currency``, ``records`` (balance
        records found), ``transaction_amount`` and ``record_amount``
        (signed as they move the balance), ``amount_difference`` (record −
        transaction), ``transaction_fee``, ``record_fee``,
        ``fee_difference`` (record − transaction). The side that is missing
        (``only_in_transactions``, ``only_in_balance_records``) has NA
        amount and fee, and counts as 0 in the differences: they are the
        whole unmatched amount and fee (``-transaction_amount``, or
        ``record_amount``). Differences are NA only for
        ``currency_mismatch`` (two currencies are never subtracted).
        Sorted by ``transaction_id``.

    Examples
    --------
    >>> t = pd.DataFrame({"id": pd.array([1, 2], dtype="Int64"), "uid": ["u1", "u2"],
    ...     "type": ["payment", "refund"], "status": ["successful", "successful"],
    ...     "amount": pd.array([1000, 300], dtype="Int64"),
    ...     "transaction_fee": pd.array([29, 0], dtype="Int64"), "currency": ["EUR", "EUR"]})
    >>> r = pd.DataFrame({"transaction_id": pd.array([1, 2], dtype="Int64"), "transaction_uid": ["u1", "u2"],
    ...     "amount": pd.array([1000, -300], dtype="Int64"), "fee": pd.array([30, 0], dtype="Int64"),
    ...     "currency": ["EUR", "EUR"]})
    >>> shown = ["status", "transaction_amount", "record_amount", "fee_difference"]
    >>> reconcile_transactions(t, r)[shown].values.tolist()
    [['fee_mismatch', 1000, 1000, 1], ['matched', -300, -300, 0]]
    """
    invalid = check_invalid(invalid)
    side_t, dropped_t = _transaction_side(transactions, invalid)
    id_by_uid = dict(zip(side_t["transaction_uid"].tolist(), side_t["key"].tolist(), strict=True))
    side_r, dropped_r = _record_side(balance_records, id_by_uid, invalid)
    compare_fees = side_r["record_fee"].notna().all() if len(side_r) else True
    merged = side_t.assign(_t=True).merge(side_r.assign(_r=True), on="key", how="outer", sort=True)
    if merged.empty:
        return note_dropped(empty_frame(_RESULT_DTYPES), transactions=dropped_t, balance_records=dropped_r)
    merged[["_t", "_r"]] = merged[["_t", "_r"]].fillna(False).astype(bool)
    for column in ("transaction_amount", "transaction_fee", "record_amount", "record_fee", "records"):
        merged[column] = merged[column].astype("Int64")
    absent_r, absent_t = ~merged["_r"].to_numpy(dtype=bool), ~merged["_t"].to_numpy(dtype=bool)
    for record, transaction, difference in (
        ("record_amount", "transaction_amount", "amount_difference"),
        ("record_fee", "transaction_fee", "fee_difference"),
    ):
        # Only a side that is absent counts as 0 (a missing value on a present side stays NA).
        merged[difference] = merged[record].mask(absent_r, 0) - merged[transaction].mask(absent_t, 0)
    merged["status"] = _status(merged, compare_fees)
    two_currencies = merged["status"].eq("currency_mismatch").to_numpy(dtype=bool)
    for difference in ("amount_difference", "fee_difference"):
        merged[difference] = merged[difference].mask(two_currencies, pd.NA)
    merged["transaction_id"] = merged["transaction_id"].fillna(merged["record_transaction_id"])
    merged["transaction_uid"] = merged["transaction_uid"].fillna(merged["record_uid"])
    merged["type"] = merged["type"].fillna(merged["record_type"])
    merged["currency"] = merged["currency_t"].fillna(merged["currency_r"])
    merged["records"] = merged["records"].fillna(0)
    result = merged[list(_RESULT_DTYPES)].astype(_RESULT_DTYPES).reset_index(drop=True)
    return note_dropped(result, transactions=dropped_t, balance_records=dropped_r)


@per_account("result")
def reconciliation_summary(result: pd.DataFrame) -> pd.DataFrame:
    """Count and total a :func:`reconcile_transactions` result per currency and status.

    Returns
    -------
    DataFrame
        ``currency``, ``status``, ``count``, and the sums of
        ``transaction_amount``, ``record_amount``, ``amount_difference``
        and ``fee_difference`` (``Int64``), sorted by currency then status
        in the order of ``STATUSES``. A sum is NA when any of its values
        is, never a silent 0: the missing side of ``only_in_*`` rows (their
        differences are the whole unmatched amount, see
        :func:`reconcile_transactions`) and the differences of
        ``currency_mismatch`` rows.

    Examples
    --------
    >>> result = pd.DataFrame({"status": ["matched", "amount_mismatch", "matched"],
    ...     "currency": ["EUR", "EUR", "JPY"],
    ...     "transaction_amount": pd.array([100, 50, 7], dtype="Int64"),
    ...     "record_amount": pd.array([100, 40, 7], dtype="Int64"),
    ...     "amount_difference": pd.array([0, -10, 0], dtype="Int64"),
    ...     "fee_difference": pd.array([0, 0, 0], dtype="Int64")})
    >>> reconciliation_summary(result)[["currency", "status", "count", "amount_difference"]].values.tolist()
    [['EUR', 'matched', 1, 0], ['EUR', 'amount_mismatch', 1, -10], ['JPY', 'matched', 1, 0]]
    """
    frame = RECONCILIATION.check(result, "result", RECONCILIATION.required)
    sums = ["transaction_amount", "record_amount", "amount_difference", "fee_difference"]
    _check_money_values(frame, sums, "result")
    if frame.empty:
        return empty_frame(_SUMMARY_DTYPES)
    keys = frame[["currency", "status"]].astype("str")
    table = frame[sums].astype("Int64").groupby([keys["currency"], keys["status"]], sort=False).sum(skipna=False)
    table.insert(0, "count", frame.groupby([keys["currency"], keys["status"]], sort=False).size())
    table = table.reset_index()
    rank = table["status"].map({s: i for i, s in enumerate(STATUSES)}).fillna(len(STATUSES))
    table = table.assign(_rank=rank).sort_values(["currency", "_rank"], kind="stable").drop(columns="_rank")
    return table.reset_index(drop=True).astype(_SUMMARY_DTYPES)
