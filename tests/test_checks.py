"""Assertion helpers: silent when the books hold, a LedgerkitError naming the rows when not."""

from __future__ import annotations

import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit.checks import CheckFailedError, reconcile_by_currency
from ledgerkit.errors import ConfigurationError, LedgerkitError


def ints(*values: int) -> pd.array:
    return pd.array(list(values), dtype="Int64")


@pytest.fixture
def statements() -> pd.DataFrame:
    """Two payouts of EUR rows, then one open row; everything chains and every payout is explained."""
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(7)],
            "created": pd.to_datetime(
                [
                    "2025-01-06 04:00",
                    "2025-01-06 04:00",
                    "2025-01-07 00:00",
                    "2025-01-07 09:00",
                    "2025-01-07 09:00",
                    "2025-01-08 00:00",
                    "2025-01-09 10:00",
                ],
                utc=True,
            ),
            "type": ["INCOME", "TRX_FEE", "PAYOUT", "INCOME", "TRX_FEE_FIX", "PAYOUT", "INCOME"],
            "amount": ints(10_000, -250, -9_750, 5_000, -30, -4_970, 2_000),
            "balance_before": ints(0, 10_000, 9_750, 0, 5_000, 4_970, 0),
            "balance_after": ints(10_000, 9_750, 0, 5_000, 4_970, 0, 2_000),
            "currency": ["EUR"] * 7,
            "payout_id": pd.array(["P1"] * 3 + ["P2"] * 3 + [None], dtype="str"),
        }
    )


@pytest.fixture
def transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ints(1, 2, 3),
            "uid": ["u1", "u2", "u3"],
            "type": ["payment", "refund", "payment"],
            "status": ["successful"] * 3,
            "amount": ints(1_000, 300, 500),
            "transaction_fee": ints(29, 0, 5),
            "currency": ["EUR", "EUR", "JPY"],
        }
    )


@pytest.fixture
def records() -> dict:
    eur = pd.DataFrame(
        {
            "transaction_id": ints(1, 2),
            "transaction_uid": ["u1", "u2"],
            "amount": ints(1_000, -300),
            "fee": ints(29, 0),
            "currency": ["EUR", "EUR"],
        }
    )
    jpy = pd.DataFrame(
        {"transaction_id": ints(3), "transaction_uid": ["u3"], "amount": ints(500), "fee": ints(5), "currency": ["JPY"]}
    )
    return {"EUR": eur, "JPY": jpy}


def test_exported_at_the_top_level():
    assert lk.assert_balances_chain is lk.checks.assert_balances_chain
    assert issubclass(lk.CheckFailedError, LedgerkitError) and issubclass(lk.CheckFailedError, AssertionError)
    assert {
        "assert_balances_chain",
        "assert_payouts_explained",
        "assert_reconciled",
        "CheckFailedError",
        "close_pack",
    } <= set(lk.__all__)


def test_silent_when_the_books_hold(statements, transactions, records):
    assert lk.assert_balances_chain(statements) is None
    assert lk.assert_payouts_explained(statements) is None
    assert lk.assert_reconciled(transactions, records) is None


def test_a_break_names_its_row(statements):
    broken = statements.copy()
    broken.loc[4, "balance_after"] = 4_975
    with pytest.raises(CheckFailedError) as info:
        lk.assert_balances_chain(broken)
    assert str(info.value) == (
        "1 balance break: the balance chain does not hold.\n"
        "  row 4 (row_id r4, 2025-01-07 09:00:00 UTC): amount mismatch, balance_after expected 49.70 EUR, "
        "found 49.75 EUR (+0.05 EUR, too much)"
    )
    assert info.value.rows["position"].tolist() == [4]


def test_many_breaks_are_counted_after_the_first_five(statements):
    broken = statements.copy()
    broken["balance_before"] = broken["balance_before"] + 1  # every row's own sum is off by one
    with pytest.raises(CheckFailedError) as info:
        lk.assert_balances_chain(broken)
    lines = str(info.value).splitlines()
    assert lines[0] == "7 balance breaks: the balance chain does not hold."
    assert len(lines) == 7 and lines[-1] == "  ... and 2 more (all of them in .rows)"
    assert len(info.value.rows) == 7


def test_a_payout_with_a_residual_is_named(statements):
    lost = statements.drop(index=1).reset_index(drop=True)  # P1's fee line lost
    with pytest.raises(CheckFailedError) as info:
        lk.assert_payouts_explained(lost)
    assert str(info.value) == (
        "1 payout not fully explained: the rows do not add up to the amount paid out.\n"
        "  payout P1 (paid 2025-01-07 00:00:00 UTC): paid out 97.50 EUR, its rows add up to 100.00 EUR, "
        "residual -2.50 EUR"
    )
    assert info.value.rows["payout_id"].tolist() == ["P1"]


def test_a_transaction_missing_from_the_records_is_named(transactions, records):
    with pytest.raises(CheckFailedError) as info:
        lk.assert_reconciled(transactions, {**records, "EUR": records["EUR"].iloc[:1]})
    assert str(info.value) == (
        "1 transaction not matched by the balance records.\n"
        "  transaction 2 (refund): only in transactions, amount difference +3.00 EUR, "
        "fee difference +0.00 EUR (record - transaction)"
    )


def test_reconciled_per_currency_whatever_the_records_come_as(transactions, records):
    both = pd.concat(records.values(), ignore_index=True)
    by_mapping = reconcile_by_currency(transactions, records)
    assert by_mapping["status"].tolist() == ["matched"] * 3
    pd.testing.assert_frame_equal(reconcile_by_currency(transactions, both), by_mapping)
    report = type("Report", (), {"records": both, "opening_balance": None})()
    pd.testing.assert_frame_equal(reconcile_by_currency(transactions, report), by_mapping)
    with pytest.raises(CheckFailedError, match="3 transactions not matched"):
        lk.assert_reconciled(transactions, both.iloc[:0])  # no records at all: nothing is matched
    with pytest.raises(ConfigurationError, match="balance_records"):
        lk.assert_reconciled(transactions, [1, 2])
