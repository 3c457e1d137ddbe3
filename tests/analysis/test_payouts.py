"""Payout groups, items and waterfall on hand-built statements, plus invariants."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit.analysis.payouts import payout_groups, payout_items, payout_waterfall
from ledgerkit.errors import ConfigurationError

ACTIVITY = ["income", "trx_fee", "trx_fee_fix", "other_fees", "vat", "refunds", "chargebacks", "other"]


def statements(rows, currency="EUR"):
    """Statements from (type, amount, payout_id, created) tuples; balances chained from 0."""
    types, amounts, payouts, created = (list(x) for x in zip(*rows, strict=True)) if rows else ([], [], [], [])
    after = pd.Series(amounts, dtype="Int64").cumsum()
    return pd.DataFrame(
        {
            "row_id": pd.array([f"r{i}" for i in range(len(rows))], dtype="str"),
            "created": pd.to_datetime(pd.Series(created, dtype="str"), utc=True, format="mixed"),
            "type": pd.Series(types, dtype="str").astype("category"),
            "amount": pd.array(amounts, dtype="Int64"),
            "balance_before": (after - pd.Series(amounts, dtype="Int64")).array,
            "balance_after": after.array,
            "currency": pd.Series([currency] * len(rows), dtype="str"),
            "transaction_id": pd.array([f"t{i // 3}" for i in range(len(rows))], dtype="str"),
            "payout_id": pd.array(payouts, dtype="str"),
        }
    )


S = statements(
    [
        ("INCOME", 1000, "A", "2025-01-06 04:10:08"),
        ("TRX_FEE_FIX", -30, "A", "2025-01-06 04:10:08"),
        ("VAT", -6, "A", "2025-01-06 04:10:08"),
        ("TRX_FEE", -25, "A", "2025-01-06 04:10:08"),
        ("VAT", -5, "A", "2025-01-06 04:10:08"),
        ("REFUND", -200, "A", "2025-01-06 09:00"),
        ("PAYOUT", -734, "A", "2025-01-07 00:00:02"),
        ("INCOME", 5000, "B", "2025-01-07 10:00"),
        ("CHARGEBACK", -800, "B", "2025-01-07 11:00"),
        ("CHARGEBACK_FEE", -1500, "B", "2025-01-07 11:00"),
        ("VAT", -330, "B", "2025-01-07 11:00"),
        ("ROUNDING", 1, "B", "2025-01-07 12:00"),
        ("PAYOUT", -2370, "B", "2025-01-08 00:00:02"),
        ("INCOME", 700, None, "2025-01-08 10:00"),
        ("TRX_FEE", -20, None, "2025-01-08 10:00"),
    ]
)


def test_payout_groups_exact():
    g = payout_groups(S)
    assert g["payout_id"].tolist()[:2] == ["A", "B"] and pd.isna(g["payout_id"].iloc[2])
    assert g[["is_open", "rows", *ACTIVITY, "net"]].values.tolist() == [
        [False, 6, 1000, -25, -30, 0, -11, -200, 0, 0, 734],
        [False, 5, 5000, 0, 0, -1500, -330, 0, -800, 1, 2371],
        [True, 2, 700, -20, 0, 0, 0, 0, 0, 0, 680],
    ]
    assert g["paid_out"].tolist()[:2] == [734, 2370] and g["paid_out"].isna().tolist() == [False, False, True]
    assert g["residual"].tolist()[:2] == [0, -1] and pd.isna(g["residual"].iloc[2])
    assert g["first_created"].iloc[0] == pd.Timestamp("2025-01-06 04:10:08", tz="UTC")
    assert g["last_created"].iloc[0] == pd.Timestamp("2025-01-06 09:00", tz="UTC")
    assert g["paid_at"].iloc[1] == pd.Timestamp("2025-01-08 00:00:02", tz="UTC")
    assert pd.isna(g["paid_at"].iloc[2])
    assert {str(g[c].dtype) for c in [*ACTIVITY, "net", "paid_out", "residual", "rows"]} == {"Int64"}


def test_payout_groups_per_currency_jpy_kwd_and_empty():
    jpy = statements([("INCOME", 1500, "P1", "2025-02-01"), ("PAYOUT", -1500, "P1", "2025-02-02")], "JPY")
    kwd = statements([("INCOME", 1234, "P2", "2025-02-01"), ("PAYOUT", -1234, "P2", "2025-02-02")], "KWD")
    g = payout_groups(pd.concat([jpy, kwd], ignore_index=True))
    assert g[["payout_id", "currency", "net", "paid_out", "residual"]].values.tolist() == [
        ["P1", "JPY", 1500, 1500, 0],
        ["P2", "KWD", 1234, 1234, 0],
    ]
    empty = payout_groups(statements([]))
    assert empty.empty and "residual" in empty.columns and str(empty["net"].dtype) == "Int64"


def test_single_row_payout_without_payout_row():
    g = payout_groups(statements([("INCOME", 10, "X", "2025-03-01")]))
    assert g[["payout_id", "is_open", "net"]].values.tolist() == [["X", False, 10]]
    assert g["paid_out"].isna().all() and g["residual"].isna().all()


def test_payout_items_running_total():
    items = payout_items(S, "B")
    assert items["position"].tolist() == [7, 8, 9, 10, 11, 12]
    assert items["category"].tolist() == ["income", "chargebacks", "other_fees", "vat", "other", "paid out"]
    assert items["running_total"].tolist() == [5000, 4200, 2700, 2370, 2371, 1]
    assert items["row_id"].tolist() == ["r7", "r8", "r9", "r10", "r11", "r12"]
    open_items = payout_items(S, None)
    assert open_items["running_total"].tolist() == [700, 680]


def test_unknown_payout_id_lists_valid_ones():
    with pytest.raises(ConfigurationError, match="'A', 'B'") as info:
        payout_items(S, "nope")
    assert info.value.parameter == "payout_id"
    with pytest.raises(ConfigurationError):
        payout_waterfall(S, 48862)


def test_payout_waterfall_steps():
    w = payout_waterfall(S, "B")
    assert w[["step", "amount", "start", "end", "kind"]].values.tolist() == [
        ["gross income", 5000, 0, 5000, "total"],
        ["trx fees", 0, 5000, 5000, "delta"],
        ["fixed fees", 0, 5000, 5000, "delta"],
        ["other fees", -1500, 5000, 3500, "delta"],
        ["vat", -330, 3500, 3170, "delta"],
        ["refunds", 0, 3170, 3170, "delta"],
        ["chargebacks", -800, 3170, 2370, "delta"],
        ["other", 1, 2370, 2371, "delta"],
        ["net", 2371, 0, 2371, "total"],
        ["paid out", 2370, 0, 2370, "total"],
        ["residual", -1, 2371, 2370, "residual"],
    ]
    open_steps = payout_waterfall(S, None)
    assert open_steps["step"].tolist()[-1] == "net" and open_steps["end"].iloc[-1] == 680


def test_bad_input_is_refused():
    with pytest.raises(ConfigurationError, match="payout_id"):
        payout_groups(S.drop(columns=["payout_id"]))
    with pytest.raises(ConfigurationError, match="amount"):
        payout_groups(S.assign(amount=S["amount"].astype("Float64")))


TYPES = ["INCOME", "TRX_FEE", "TRX_FEE_FIX", "VAT", "REFUND", "CHARGEBACK", "CHARGEBACK_FEE", "ODD"]


@st.composite
def paid_out_statements(draw):
    """Consistent statements: each payout's PAYOUT row pays out exactly its rows; then open rows."""
    rows, day = [], pd.Timestamp("2025-01-01", tz="UTC")
    n_payouts = draw(st.integers(1, 5))
    for p in range(n_payouts + 1):
        payout = None if p == n_payouts else f"P{p}"
        moves = draw(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(-(10**5), 10**5)), min_size=1, max_size=8))
        rows += [(t, a, payout, str(day + pd.Timedelta(hours=p * 24 + i))) for i, (t, a) in enumerate(moves)]
        if payout is not None:
            rows.append(("PAYOUT", -sum(a for _, a in moves), payout, str(day + pd.Timedelta(hours=p * 24 + 20))))
    return statements(rows)


@settings(max_examples=40, deadline=None)
@given(paid_out_statements(), st.data())
def test_residual_is_zero_when_consistent_and_the_error_when_not(frame, data):
    g = payout_groups(frame)
    closed = g[~g["is_open"]]
    assert (closed["residual"] == 0).all()
    assert (g[ACTIVITY].sum(axis=1) == g["net"]).all()
    assert int(g["net"].sum()) - int(closed["paid_out"].sum()) == frame["balance_after"].iloc[-1]
    target = data.draw(st.sampled_from(sorted(closed["payout_id"])))
    items = payout_items(frame, target)
    assert items["running_total"].iloc[-1] == 0
    position = data.draw(st.sampled_from(items["position"].tolist()))
    error = data.draw(st.integers(-(10**4), 10**4).filter(bool))
    amounts = frame["amount"].copy()
    # On the PAYOUT row: `error` more paid out; on another row: `error` less earned.
    amounts.iloc[position] -= error
    bad = payout_groups(frame.assign(amount=amounts)).set_index("payout_id", drop=False)
    assert bad.loc[target, "residual"] == error
    assert (bad.drop(index=target).loc[lambda d: ~d["is_open"], "residual"] == 0).all()
