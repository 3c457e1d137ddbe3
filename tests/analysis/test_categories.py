"""One classifier of statement types: fee_breakdown, roll_forward and payout_groups agree on fees and VAT."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit.analysis.balance import roll_forward
from ledgerkit.analysis.categories import (
    CATEGORIES,
    RECORD_CATEGORIES,
    category_codes,
    record_category,
    statement_category,
)
from ledgerkit.analysis.fees import fee_breakdown
from ledgerkit.analysis.payouts import payout_groups

PAYOUT_FEES = ["trx_fee", "trx_fee_fix", "other_fees"]


def statements(rows, payout_id="P1"):
    """Chained statements from (type, amount) pairs, all in one payout, two rows per transaction."""
    types = [t for t, _ in rows]
    amounts = np.array([a for _, a in rows], dtype="int64")
    after = 10_000 + np.cumsum(amounts)
    n = len(rows)
    return pd.DataFrame(
        {
            "row_id": pd.array([f"r{i}" for i in range(n)], dtype="str"),
            "created": pd.date_range("2025-03-01", periods=n, freq="h", tz="UTC"),
            "type": pd.Series(types, dtype="str"),
            "amount": pd.array(amounts, dtype="Int64"),
            "balance_before": pd.array(after - amounts, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": pd.Series(["EUR"] * n, dtype="str"),
            "transaction_id": pd.array([f"t{i // 2}" for i in range(n)], dtype="str"),
            "payout_id": pd.array([payout_id] * n, dtype="str"),
        }
    )


def fee_and_vat_three_ways(frame):
    """(fees, vat) as costs from fee_breakdown, roll_forward and payout_groups."""
    breakdown = fee_breakdown(frame, by=())
    rolled = roll_forward(frame, freq="M")
    groups = payout_groups(frame)
    return [
        (int(breakdown["fee"].sum()), int(breakdown["vat"].sum())),
        (-int(rolled["fees"].sum()), -int(rolled["vat"].sum())),
        (-int(groups[PAYOUT_FEES].sum().sum()), -int(groups["vat"].sum())),
    ]


def test_the_reviewers_example_agrees_across_the_three_functions():
    frame = statements(
        [
            ("INCOME", 20_000),
            ("TRX_FEE", -200),
            ("SERVICE_FEE", -500),
            ("VAT", -110),
            ("CHARGEBACK", -3000),
            ("CHARGEBACK_FEE", -1500),
            ("VAT", -330),
            ("PAYOUT", -14_360),
        ]
    )
    assert fee_and_vat_three_ways(frame) == [(2200, 440)] * 3
    rolled = roll_forward(frame, freq="M").iloc[0]
    assert (rolled["fees"], rolled["chargebacks"], rolled["other"], rolled["payouts"]) == (-2200, -3000, 0, -14_360)
    group = payout_groups(frame).iloc[0]
    assert [group[c] for c in [*PAYOUT_FEES, "chargebacks", "other", "residual"]] == [-200, 0, -2000, -3000, 0, 0]


def test_statement_category_rule():
    assert [
        statement_category(t)
        for t in ["INCOME", "TRX_FEE_FIX", "fx_fee", "VAT", "REFUND", "CHARGEBACK", "PAYOUT", "ROUNDING", None, pd.NA]
    ] == ["income", "fees", "fees", "vat", "refunds", "chargebacks", "payouts", "other", "other", "other"]


def test_record_category_rule_types_are_an_open_set():
    kinds = [
        "payment",
        "capture",
        "refund",
        "chargeback",
        "payout",
        "credit",
        "adjustment",
        "rolling_reserve",
        "rolling_reserve_release",
        "rate",
        "Adjustment ",
        "p2p",
        "authorization",
        "fee",
        None,
        pd.NA,
    ]
    assert [record_category(k) for k in kinds] == [
        "income",
        "income",
        "refunds",
        "chargebacks",
        "payouts",
        "payouts",
        "adjustments",
        "reserve",
        "reserve",
        "rates",
        "adjustments",
        "other",
        "other",
        "other",
        "other",
        "other",
    ]
    assert set(RECORD_CATEGORIES.values()) <= set(CATEGORIES)
    assert CATEGORIES[-1] == "other" and CATEGORIES[6:9] == ("adjustments", "reserve", "rates")


def test_statement_types_never_fall_in_the_record_only_categories():
    for kind in ["ADJUSTMENT", "ROLLING_RESERVE", "RATE", "PAYMENT", "CREDIT"]:
        assert statement_category(kind) == "other"  # no evidence for these statement types: not guessed


def test_category_codes_overrides_win_and_missing_is_other():
    types = pd.Series(["CHARGEBACK_FEE", None, "FX", "CHARGEBACK_FEE"], dtype="category")
    labels = [*CATEGORIES, "fx"]
    got = category_codes(types, labels, overrides={"CHARGEBACK_FEE": "chargebacks", "FX": "fx"})
    assert [labels[i] for i in got] == ["chargebacks", "other", "fx", "chargebacks"]


TYPES = [
    "INCOME",
    "TRX_FEE",
    "TRX_FEE_FIX",
    "VAT",
    "REFUND",
    "CHARGEBACK",
    "CHARGEBACK_FEE",
    "SERVICE_FEE",
    "fx_fee",
    "ROUNDING",
]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(-(10**5), 10**5)), min_size=1, max_size=30))
def test_fees_and_vat_agree_for_any_types(rows):
    frame = statements(rows)
    three = fee_and_vat_three_ways(frame)
    assert three[0] == three[1] == three[2]
    fees = sum(-a for t, a in rows if "FEE" in t.upper())
    vat = sum(-a for t, a in rows if t == "VAT")
    assert three[0] == (fees, vat)
