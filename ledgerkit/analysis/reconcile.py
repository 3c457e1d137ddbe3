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

from ._common import empty_frame, minor_units, require_columns, require_frame, require_no_missing

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

_RESULT_DTYPES = {
    "status": "str",
    "transaction_id": "Int64",
    "transaction_uid": "str",
    "type": "str",
    "currency": "str",
    "records": "Int64",
    "transaction_amount": "Int64",
    "record_amount": "Int64",
    "amount_difference": "Int64",
    "transaction_fee": "Int64",
    "record_fee": "Int64",
    "fee_difference": "Int64",
}
_SUMMARY_DTYPES = {
    "currency": "str",
    "status": "str",
    "count": "Int64",
    "transaction_amount": "Int64",
    "record_amount": "Int64",
    "amount_difference": "Int64",
    "fee_difference": "Int64",
}


def _transaction_side(transactions: Any) -> pd.DataFrame:
    """Successful money-moving transactions: key, ids, type, currency, signed amount, fee."""
    frame = require_frame(transactions, "transactions")
    require_columns(frame, ("id", "uid", "type", "status", "amount", "transaction_fee", "currency"), "transactions")
    kind = frame["type"].astype("str")
    keep = ((frame["status"].astype("str") == "successful") & kind.isin(list(MONEY_SIGNS))).to_numpy(dtype=bool)
    frame, kind = frame[keep], kind[keep]
    require_no_missing(frame, ("id", "amount", "currency"), "transactions")
    fee = frame["transaction_fee"].fillna(0) if len(frame) else frame["transaction_fee"]
    return pd.DataFrame(
        {
            "key": frame["id"].astype("Int64").to_numpy(dtype="int64"),
            "transaction_id": frame["id"].astype("Int64").array,
            "transaction_uid": frame["uid"].astype("str").array,
            "type": kind.array,
            "currency_t": frame["currency"].astype("str").array,
            "transaction_amount": kind.map(MONEY_SIGNS).to_numpy(dtype="int64") * minor_units(frame["amount"]),
            "transaction_fee": minor_units(fee),
        }
    )


def _record_side(balance_records: Any, id_by_uid: dict[str, int]) -> pd.DataFrame:
    """Balance records summed per transaction (matched by id, else by uid)."""
    if not isinstance(balance_records, pd.DataFrame) and hasattr(balance_records, "records"):
        balance_records = balance_records.records
    frame = require_frame(balance_records, "balance_records")
    require_columns(frame, ("transaction_id", "transaction_uid", "amount", "fee", "currency"), "balance_records")
    require_no_missing(frame, ("amount", "fee", "currency"), "balance_records")
    uid = frame["transaction_uid"].astype("str")
    key = frame["transaction_id"].astype("Int64").fillna(uid.map(id_by_uid).astype("Int64"))
    if key.isna().any():
        # A record naming neither a known id nor a known uid: give it a key of its own.
        unknown = np.flatnonzero(key.isna().to_numpy())
        key = key.copy()
        key.iloc[unknown] = -1 - unknown
    records = pd.DataFrame(
        {
            "key": key.to_numpy(dtype="int64"),
            "record_transaction_id": frame["transaction_id"].astype("Int64").array,
            "record_uid": uid.array,
            "currency_r": frame["currency"].astype("str").array,
            "record_amount": minor_units(frame["amount"]),
            "record_fee": minor_units(frame["fee"]),
        }
    )
    grouped = records.groupby("key", sort=False)
    out = grouped.agg(
        record_transaction_id=("record_transaction_id", "first"),
        record_uid=("record_uid", "first"),
        currency_r=("currency_r", "first"),
        record_amount=("record_amount", "sum"),
        record_fee=("record_fee", "sum"),
    )
    out["records"] = grouped.size()
    out["currencies"] = grouped["currency_r"].nunique()
    return out.reset_index()


def _status(merged: pd.DataFrame) -> pd.Series:
    has_t, has_r = merged["_t"].to_numpy(dtype=bool), merged["_r"].to_numpy(dtype=bool)
    same_currency = ((merged["currency_t"] == merged["currency_r"]) & (merged["currencies"] == 1)).fillna(False)
    same_currency = same_currency.to_numpy(dtype=bool)
    amount_ok = (merged["amount_difference"] == 0).fillna(False).to_numpy(dtype=bool)
    fee_ok = (merged["fee_difference"] == 0).fillna(False).to_numpy(dtype=bool)
    status = np.select(
        [~has_r, ~has_t, ~same_currency, ~amount_ok, ~fee_ok],
        ["only_in_transactions", "only_in_balance_records", "currency_mismatch", "amount_mismatch", "fee_mismatch"],
        default="matched",
    )
    return pd.Series(status, index=merged.index, dtype="str")


def reconcile_transactions(transactions: pd.DataFrame, balance_records: Any) -> pd.DataFrame:
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
        With ``id``, ``uid``, ``type``, ``status``, ``amount`` (minor units,
        unsigned as the gateway reports it), ``transaction_fee``, ``currency``.
    balance_records : DataFrame or BalanceReport-like
        The ``.records`` of a DWH balance report (or the report itself):
        ``transaction_id``, ``transaction_uid``, ``amount`` (signed),
        ``fee``, ``currency``.

    Returns
    -------
    DataFrame
        One row per transaction (or unmatched record group): ``status``
        (``matched``, ``amount_mismatch``, ``fee_mismatch``,
        ``currency_mismatch``, ``only_in_transactions``,
        ``only_in_balance_records``), ``transaction_id``,
        ``transaction_uid``, ``type``, ``currency``, ``records`` (balance
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
    >>> reconcile_transactions(t, r)[["status", "transaction_amount", "record_amount", "fee_difference"]].values.tolist()
    [['fee_mismatch', 1000, 1000, 1], ['matched', -300, -300, 0]]
    """
    side_t = _transaction_side(transactions)
    id_by_uid = dict(zip(side_t["transaction_uid"].tolist(), side_t["key"].tolist()))
    side_r = _record_side(balance_records, id_by_uid)
    merged = side_t.assign(_t=True).merge(side_r.assign(_r=True), on="key", how="outer", sort=True)
    if merged.empty:
        return empty_frame(_RESULT_DTYPES)
    merged[["_t", "_r"]] = merged[["_t", "_r"]].fillna(False).astype(bool)
    for column in ("transaction_amount", "transaction_fee", "record_amount", "record_fee", "records"):
        merged[column] = merged[column].astype("Int64")
    absent_r, absent_t = ~merged["_r"].to_numpy(dtype=bool), ~merged["_t"].to_numpy(dtype=bool)
    for record, transaction, difference in (("record_amount", "transaction_amount", "amount_difference"),
                                            ("record_fee", "transaction_fee", "fee_difference")):
        # Only a side that is absent counts as 0 (a missing value on a present side stays NA).
        merged[difference] = merged[record].mask(absent_r, 0) - merged[transaction].mask(absent_t, 0)
    merged["status"] = _status(merged)
    two_currencies = merged["status"].eq("currency_mismatch").to_numpy(dtype=bool)
    for difference in ("amount_difference", "fee_difference"):
        merged[difference] = merged[difference].mask(two_currencies, pd.NA)
    merged["transaction_id"] = merged["transaction_id"].fillna(merged["record_transaction_id"])
    merged["transaction_uid"] = merged["transaction_uid"].fillna(merged["record_uid"])
    merged["currency"] = merged["currency_t"].fillna(merged["currency_r"])
    merged["records"] = merged["records"].fillna(0)
    return merged[list(_RESULT_DTYPES)].astype(_RESULT_DTYPES).reset_index(drop=True)


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
    frame = require_frame(result, "result")
    sums = ["transaction_amount", "record_amount", "amount_difference", "fee_difference"]
    require_columns(frame, ["status", "currency", *sums], "result")
    if frame.empty:
        return empty_frame(_SUMMARY_DTYPES)
    keys = frame[["currency", "status"]].astype("str")
    table = frame[sums].astype("Int64").groupby([keys["currency"], keys["status"]], sort=False).sum(skipna=False)
    table.insert(0, "count", frame.groupby([keys["currency"], keys["status"]], sort=False).size())
    table = table.reset_index()
    rank = table["status"].map({s: i for i, s in enumerate(STATUSES)}).fillna(len(STATUSES))
    table = table.assign(_rank=rank).sort_values(["currency", "_rank"], kind="stable").drop(columns="_rank")
    return table.reset_index(drop=True).astype(_SUMMARY_DTYPES)
