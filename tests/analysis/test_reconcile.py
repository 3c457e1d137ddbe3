"""Reconciliation of transactions with balance records on hand-built frames."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from ledgerkit.analysis.reconcile import reconcile_transactions, reconciliation_summary
from ledgerkit.errors import ConfigurationError


def transactions(rows):
    """Transactions from (id, uid, type, status, amount, fee, currency) tuples."""
    ids, uids, types, statuses, amounts, fees, currencies = (list(x) for x in zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "id": pd.array(ids, dtype="Int64"),
            "uid": pd.array(uids, dtype="str"),
            "type": pd.Series(types, dtype="category"),
            "status": pd.Series(statuses, dtype="category"),
            "amount": pd.array(amounts, dtype="Int64"),
            "transaction_fee": pd.array(fees, dtype="Int64"),
            "currency": pd.Series(currencies, dtype="category"),
            "paid_at": pd.to_datetime(["2025-01-02"] * len(rows), utc=True),
        }
    )


def records(rows):
    """Balance records from (transaction_id, uid, type, amount, fee, currency) tuples."""
    ids, uids, types, amounts, fees, currencies = (list(x) for x in zip(*rows, strict=True))
    amount, fee = pd.array(amounts, dtype="Int64"), pd.array(fees, dtype="Int64")
    return pd.DataFrame(
        {
            "record_id": pd.array(range(1, len(rows) + 1), dtype="Int64"),
            "transaction_uid": pd.array(uids, dtype="str"),
            "transaction_id": pd.array(ids, dtype="Int64"),
            "transaction_type": pd.Series(types, dtype="category"),
            "currency": pd.Series(currencies, dtype="category"),
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
        }
    )


T = transactions(
    [
        (1, "u1", "payment", "successful", 1000, 29, "EUR"),
        (2, "u2", "refund", "successful", 400, 0, "EUR"),
        (3, "u3", "payment", "failed", 999, 0, "EUR"),
        (4, "u4", "authorization", "successful", 500, 0, "EUR"),
        (5, "u5", "payment", "successful", 1500, 45, "JPY"),
        (6, "u6", "chargeback", "successful", 1234, 1500, "KWD"),
        (7, "u7", "capture", "successful", 800, 20, "EUR"),
        (8, "u8", "payout", "successful", 5000, 0, "EUR"),
        (9, "u9", "credit", "successful", 300, 3, "USD"),
    ]
)
R = records(
    [
        (1, "u1", "payment", 1000, 29, "EUR"),  # matched
        (2, "u2", "refund", -399, 0, "EUR"),  # amount off by one
        (None, "u5", "payment", 1500, 46, "JPY"),  # found by uid, fee off by one
        (6, "u6", "chargeback", -1234, 1500, "KWD"),  # matched
        (7, "u7", "capture", 500, 20, "EUR"),  # two records for one capture
        (7, "u7", "capture", 300, 0, "EUR"),
        (9, "u9", "credit", -300, 3, "EUR"),  # wrong currency
        (3, "u3", "payment", 999, 0, "EUR"),  # a failed payment moved the balance
        (None, "zz", "payment", 10, 0, "EUR"),  # no such transaction at all
    ]
)
COLUMNS = [
    "status",
    "transaction_id",
    "currency",
    "records",
    "transaction_amount",
    "record_amount",
    "amount_difference",
    "transaction_fee",
    "record_fee",
    "fee_difference",
]


def test_reconcile_exact():
    result = reconcile_transactions(T, R)
    got = [[None if pd.isna(v) else v for v in row] for row in result[COLUMNS].astype(object).values.tolist()]
    assert got == [
        ["only_in_balance_records", None, "EUR", 1, None, 10, 10, None, 0, 0],
        ["matched", 1, "EUR", 1, 1000, 1000, 0, 29, 29, 0],
        ["amount_mismatch", 2, "EUR", 1, -400, -399, 1, 0, 0, 0],
        ["only_in_balance_records", 3, "EUR", 1, None, 999, 999, None, 0, 0],
        ["fee_mismatch", 5, "JPY", 1, 1500, 1500, 0, 45, 46, 1],
        ["matched", 6, "KWD", 1, -1234, -1234, 0, 1500, 1500, 0],
        ["matched", 7, "EUR", 2, 800, 800, 0, 20, 20, 0],
        ["only_in_transactions", 8, "EUR", 0, -5000, None, 5000, 0, None, 0],
        ["currency_mismatch", 9, "USD", 1, -300, -300, None, 3, 3, None],
    ]
    assert result["transaction_uid"].tolist()[0] == "zz"
    assert {str(result[c].dtype) for c in COLUMNS[3:]} == {"Int64"}


def test_summary_counts_per_currency_and_status():
    summary = reconciliation_summary(reconcile_transactions(T, R))
    got = (
        summary[
            [
                "currency",
                "status",
                "count",
                "transaction_amount",
                "record_amount",
                "amount_difference",
                "fee_difference",
            ]
        ]
        .astype(object)
        .values.tolist()
    )
    assert [[None if pd.isna(v) else v for v in row] for row in got] == [
        ["EUR", "matched", 2, 1800, 1800, 0, 0],
        ["EUR", "amount_mismatch", 1, -400, -399, 1, 0],
        ["EUR", "only_in_transactions", 1, -5000, None, 5000, 0],
        ["EUR", "only_in_balance_records", 2, None, 1009, 1009, 0],
        ["JPY", "fee_mismatch", 1, 1500, 1500, 0, 1],
        ["KWD", "matched", 1, -1234, -1234, 0, 0],
        ["USD", "currency_mismatch", 1, -300, -300, None, None],
    ]


MATCHED_T = transactions(
    [(11, "a", "payment", "successful", 10_000, 290, "EUR"), (12, "b", "refund", "successful", 3_255, 45, "EUR")]
)
MATCHED_R = records([(11, "a", "payment", 10_000, 290, "EUR"), (12, "b", "refund", -3_255, 45, "EUR")])


def test_a_dropped_balance_record_shows_its_full_amount():
    """The reviewer's case: a -32.55 refund record missing must not read as a 0.00 difference."""
    result = reconcile_transactions(MATCHED_T, MATCHED_R.iloc[[0]])
    lost = result[result["status"] == "only_in_transactions"]
    assert lost[["transaction_id", "transaction_amount", "amount_difference", "fee_difference"]].values.tolist() == [
        [12, -3255, 3255, -45]
    ]
    assert pd.isna(lost["record_amount"].iloc[0]) and pd.isna(lost["record_fee"].iloc[0])
    summary = reconciliation_summary(result).set_index("status")
    assert summary.loc["only_in_transactions", ["count", "amount_difference", "fee_difference"]].tolist() == [
        1,
        3255,
        -45,
    ]
    assert pd.isna(summary.loc["only_in_transactions", "record_amount"])
    assert summary.loc["matched", ["count", "amount_difference", "fee_difference"]].tolist() == [1, 0, 0]


def test_a_dropped_transaction_shows_its_full_amount():
    result = reconcile_transactions(MATCHED_T.iloc[[0]], MATCHED_R)
    extra = result[result["status"] == "only_in_balance_records"]
    assert extra[["transaction_id", "record_amount", "amount_difference", "fee_difference"]].values.tolist() == [
        [12, -3255, -3255, 45]
    ]
    summary = reconciliation_summary(result).set_index("status")
    assert summary.loc["only_in_balance_records", ["count", "amount_difference", "fee_difference"]].tolist() == [
        1,
        -3255,
        45,
    ]
    assert pd.isna(summary.loc["only_in_balance_records", "transaction_amount"])


def test_summary_never_turns_a_missing_value_into_zero():
    result = reconcile_transactions(MATCHED_T, MATCHED_R)
    assert reconciliation_summary(result)["amount_difference"].tolist() == [0]
    result.loc[1, "amount_difference"] = pd.NA  # a hand-edited result with a hole
    assert reconciliation_summary(result)["amount_difference"].isna().tolist() == [True]


def test_report_like_object_and_single_row():
    one = T.iloc[[0]]
    result = reconcile_transactions(one, SimpleNamespace(records=R.iloc[[0]], opening_balance=None))
    assert result["status"].tolist() == ["matched"]


def test_empty_frames():
    result = reconcile_transactions(T.iloc[:0], R.iloc[:0])
    assert result.empty and list(result.columns)[:2] == ["status", "transaction_id"]
    assert str(result["amount_difference"].dtype) == "Int64"
    summary = reconciliation_summary(result)
    assert summary.empty and str(summary["count"].dtype) == "Int64"


def test_missing_columns_are_named():
    with pytest.raises(ConfigurationError, match="transaction_fee"):
        reconcile_transactions(T.drop(columns=["transaction_fee"]), R)
    with pytest.raises(ConfigurationError, match="'transaction_id' or 'transaction_uid'"):
        reconcile_transactions(T, R.drop(columns=["transaction_id", "transaction_uid"]))
    with pytest.raises(ConfigurationError, match="status"):
        reconciliation_summary(pd.DataFrame({"currency": ["EUR"]}))
