"""A VAT line attaches to the fee it taxes: by transaction_id, else transaction, before or after it.

Exact values for each ordering and each identity column, the live-recorded
MakeCommerce page read through the loader (``Replay``), and the first month
of the ``makecommerce-recorded`` sandbox dialect, where fee_breakdown,
payout_groups and roll_forward must agree on fees and VAT per payout.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledgerkit as lk
from ledgerkit import RetryPolicy
from ledgerkit.analysis.vat import vat_owners
from ledgerkit.sandbox import Recorded, Replay, Sandbox

DATA = Path(__file__).resolve().parents[1] / "data" / "real-world"
PAYOUT_FEES = ["trx_fee", "trx_fee_fix", "other_fees"]


def owners(types: str, amounts: list[int] | None = None, **keys: list) -> list[tuple[int, int]]:
    """(VAT row, the fee row it attaches to or -1) for a layout such as ``"F V V F"`` (F: fee, V: VAT)."""
    kinds = types.split()
    amounts = amounts or [-1] * len(kinds)
    is_vat = np.array([k == "V" for k in kinds])
    zero = np.array([a == 0 for a in amounts])
    series = [
        pd.Series(keys.get(name, ["t"] * len(kinds)), dtype="str")
        for name in ("transaction_id", "transaction")
        if name in keys
    ] or [pd.Series(["t"] * len(kinds), dtype="str")]
    found = vat_owners(np.array([k == "F" for k in kinds]), is_vat, zero, series)
    return [(i, int(found[i])) for i in np.flatnonzero(is_vat)]


@pytest.mark.parametrize(
    "layout, amounts, expected",
    [
        ("F V F V", None, [(1, 0), (3, 2)]),  # the documented order: each fee, then its VAT
        ("V F V F", None, [(0, 1), (2, 3)]),  # each VAT before its fee
        ("F V V F", None, [(1, 0), (2, 3)]),  # the recorded page: after the first fee, before the second
        ("V F F V", None, [(0, 1), (3, 2)]),
        ("F F V V", None, [(2, 0), (3, 1)]),  # as many VATs as fees: k-th with k-th
        ("F V V F", [-30, -6, 0, -1], [(1, 0), (2, 3)]),  # the recorded amounts: the zero line is the 1-cent fee's
        ("F V V V F V", [-30, -6, 0, 0, -42, -9], [(1, 0), (2, -1), (3, -1), (5, 4)]),  # zero lines never take a fee
        ("F V V V F", [-30, -6, 0, -9, -42], [(1, 0), (2, -1), (3, 4)]),
        ("V F V", [-5, -25, -7], [(0, -1), (2, 1)]),  # two VATs for one fee, as near: the one after it
        ("V F V", [-5, -25, 0], [(0, 1), (2, -1)]),  # a VAT with an amount before a zero one
        ("V V", None, [(0, -1), (1, -1)]),  # no fee: each VAT on its own
        ("F V F", None, [(1, 0)]),  # a fee without VAT
    ],
)
def test_each_vat_line_gets_the_fee_it_taxes(layout, amounts, expected):
    assert owners(layout, amounts) == expected


def test_transaction_id_first_then_transaction():
    # two transactions by transaction_id; the last two rows have none: their transaction number pairs them
    found = owners(
        "F V F V V F", transaction_id=["a", "b", "b", "a", None, None], transaction=["1", "1", "1", "1", "2", "2"]
    )
    assert found == [(1, 2), (3, 0), (4, 5)]
    # a VAT whose transaction_id is missing still finds a fee of its transaction number left free
    assert owners("F V", transaction_id=["a", None], transaction=["1", "1"]) == [(1, 0)]
    assert owners("F V", transaction_id=["a", "b"], transaction=[None, None]) == [(1, -1)]


def test_a_later_chargeback_fee_gets_its_own_vat():
    layout = "F V F V F V"  # payment: fixed fee + VAT, fee + VAT; weeks later: chargeback fee + VAT
    assert owners(layout, [-30, -6, -25, -5, -1500, -330]) == [(1, 0), (3, 2), (5, 4)]


# --------------------------------------------------------------------------
# fee_breakdown on hand-built statements


def statements(rows: list[tuple], keys: tuple[str, ...] = ("transaction_id",)) -> pd.DataFrame:
    """Chained EUR statements from (type, amount, transaction) rows; the transaction in each column of ``keys``."""
    amounts = np.array([a for _, a, _ in rows], dtype="int64")
    after = 10_000 + np.cumsum(amounts)
    frame = pd.DataFrame(
        {
            "row_id": pd.array([f"r{i}" for i in range(len(rows))], dtype="str"),
            "created": pd.date_range("2025-01-06", periods=len(rows), freq="min", tz="UTC"),
            "type": pd.Series([t for t, _, _ in rows], dtype="category"),
            "amount": pd.array(amounts, dtype="Int64"),
            "balance_before": pd.array(after - amounts, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": pd.Series(["EUR"] * len(rows), dtype="category"),
            "channel": pd.Series(["EE_SEB"] * len(rows), dtype="category"),
            "payout_id": pd.array(["P1"] * len(rows), dtype="str"),
        }
    )
    for key in keys:
        frame[key] = pd.array([t for _, _, t in rows], dtype="str")
    return frame


AFTER = [
    ("INCOME", 1_000, "t1"),
    ("TRX_FEE_FIX", -30, "t1"),
    ("VAT", -6, "t1"),
    ("TRX_FEE", -25, "t1"),
    ("VAT", -5, "t1"),
]
BEFORE = [
    ("INCOME", 1_000, "t1"),
    ("VAT", -6, "t1"),
    ("TRX_FEE_FIX", -30, "t1"),
    ("VAT", -5, "t1"),
    ("TRX_FEE", -25, "t1"),
]
MIXED = [
    ("INCOME", 1_000, "t1"),
    ("TRX_FEE_FIX", -30, "t1"),
    ("VAT", -6, "t1"),
    ("VAT", -5, "t1"),
    ("TRX_FEE", -25, "t1"),
]
LINES = ["fee_type", "count", "fee", "vat", "fee_incl_vat", "volume"]


@pytest.mark.parametrize("rows", [AFTER, BEFORE, MIXED], ids=["after", "before", "mixed"])
@pytest.mark.parametrize("keys", [("transaction_id",), ("transaction",), ("transaction_id", "transaction")])
def test_fee_types_get_their_own_vat_in_any_order_by_either_identity(rows, keys):
    out = lk.fee_breakdown(statements([*rows, ("VAT", -7, "t9")], keys), by="type")
    got = [tuple(None if pd.isna(v) else v for v in row) for row in out[LINES].itertuples(index=False)]
    assert got == [
        ("TRX_FEE", 1, 25, 5, 30, 1_000),
        ("TRX_FEE_FIX", 1, 30, 6, 36, 1_000),
        ("VAT", 3, 18, None, None, 1_000),
    ]  # t9's VAT has no fee: on the VAT line only


def test_without_transaction_id_the_transaction_number_ties_vat_to_its_fee():
    frame = statements(BEFORE, ("transaction",)).assign(transaction_id=pd.array([None] * 5, dtype="str"))
    by_channel = lk.fee_breakdown(frame, by="channel")
    assert by_channel[["fee", "vat", "fee_incl_vat"]].values.tolist() == [[55, 11, 66]]
    assert lk.fee_breakdown(frame)["vat"].tolist()[:2] == [5, 6]
    with pytest.raises(lk.ConfigurationError, match="'transaction_id' or 'transaction'"):
        lk.fee_breakdown(frame.drop(columns=["transaction", "transaction_id"]))


def test_a_vat_follows_its_fee_into_the_fees_period_either_way():
    rows = [("INCOME", 1_000, "t1"), ("VAT", -110, "t3"), ("CHARGEBACK_FEE", -500, "t3")]
    frame = statements(rows, ("transaction",))
    frame["created"] = pd.to_datetime(["2025-01-20 00:00:00", "2025-01-31 23:59:59", "2025-02-01 00:00:00"], utc=True)
    out = lk.fee_breakdown(frame, by=(), freq="M")
    assert out[["period", "fee", "vat"]].values.tolist() == [
        [pd.Timestamp("2025-01-01", tz="UTC"), 0, 0],
        [pd.Timestamp("2025-02-01", tz="UTC"), 500, 110],
    ]


# --------------------------------------------------------------------------
# The live-recorded MakeCommerce page, through the loader


def recorded_page() -> pd.DataFrame:
    page = json.loads((DATA / "makecommerce-accountstatements-recorded.json").read_text())
    fast = RetryPolicy(max_retries=1, backoff_base=0.001, sleep=lambda s: None)
    with Replay({"GET /v1/shop/accountstatements": Recorded(page["status"], page["headers"], page["body"])}) as server:
        return lk.load_statements(
            since="2017-08-09", base_url=server.url, shop_id="shop", secret_key="secret", retry=fast, progress=False
        )


def test_the_recorded_page_by_type_attaches_each_vat_to_its_fee():
    frame = recorded_page()
    assert frame["transaction_id"].isna().all()  # the recorded page has no transaction_id at all
    out = lk.fee_breakdown(frame, by="type")
    got = [tuple(None if pd.isna(v) else v for v in row) for row in out[LINES].itertuples(index=False)]
    # TRX_FEE_FIX -0.30 is followed by its VAT -0.06; TRX_FEE -0.01 is preceded by its VAT 0.00
    assert got == [("TRX_FEE", 1, 1, 0, 1, 50), ("TRX_FEE_FIX", 1, 30, 6, 36, 50), ("VAT", 2, 6, None, None, 50)]
    by_channel = lk.fee_breakdown(frame, by="channel")
    assert by_channel[["channel", "count", "fee", "vat", "fee_incl_vat", "volume"]].values.tolist() == [
        ["EE_SEB", 2, 31, 6, 37, 50]
    ]
    rolled = lk.roll_forward(frame, freq="M").iloc[0]
    assert (rolled["fees"], rolled["vat"], rolled["unexplained"]) == (-31, -6, 0)
    open_balance = lk.payout_groups(frame).iloc[-1]
    assert (open_balance["trx_fee"], open_balance["trx_fee_fix"], open_balance["vat"]) == (-1, -30, -6)


# --------------------------------------------------------------------------
# The makecommerce-recorded dialect's first month


@pytest.fixture(scope="module")
def recorded_month() -> pd.DataFrame:
    with Sandbox(seed=0, dialect="makecommerce-recorded") as sb:
        return lk.load_statements(since="2025-01-01", until="2025-02-01", progress=False, **sb.kwargs("statements"))


def test_the_dialect_month_really_has_vat_before_fees_and_no_transaction_id(recorded_month):
    assert recorded_month["transaction_id"].isna().all() and recorded_month["transaction"].notna().any()
    types = recorded_month["type"].astype(str).tolist()
    before = sum(1 for a, b in itertools.pairwise(types) if (a, b) == ("VAT", "TRX_FEE"))
    zeros = int(((recorded_month["type"] == "VAT") & (recorded_month["amount"] == 0)).sum())
    assert before > 10 and zeros > 10


def test_the_dialect_month_every_vat_with_an_amount_finds_its_fee(recorded_month):
    out = lk.fee_breakdown(recorded_month, by="type").set_index("fee_type")
    vat_rows = recorded_month["type"].eq("VAT")
    assert int(out.loc["VAT", "fee"]) == -int(recorded_month.loc[vat_rows, "amount"].sum())
    assert int(out["vat"].sum()) == int(out.loc["VAT", "fee"])  # every VAT line attached to a fee
    for fee_type in ("TRX_FEE", "TRX_FEE_FIX", "CHARGEBACK_FEE"):
        line = out.loc[fee_type]  # 22 % of each fee, truncated to the cent: only the right fee gives that
        assert line["vat"] <= line["fee"] * 22 / 100 < line["vat"] + line["count"], fee_type
    assert (out.loc["TRX_FEE_FIX", "vat"], out.loc["CHARGEBACK_FEE", "vat"]) == (893, 110)


def test_the_dialect_month_fees_and_vat_per_payout_agree_across_the_three_functions(recorded_month):
    groups = lk.payout_groups(recorded_month).set_index("payout_id")
    breakdown = lk.fee_breakdown(recorded_month, by="payout_id").set_index("payout_id")
    paid = groups.index[~groups["is_open"]]
    assert len(paid) >= 20
    assert breakdown["fee"].to_dict() == (-groups[PAYOUT_FEES].sum(axis=1)).to_dict()
    assert breakdown["vat"].to_dict() == (-groups["vat"]).to_dict()
    by_type = lk.fee_breakdown(recorded_month, by=("payout_id", "fee_type"))
    attached = by_type[by_type["fee_type"].ne("VAT")].groupby("payout_id", dropna=False)["vat"].sum()
    assert attached.to_dict() == (-groups["vat"]).to_dict()  # per payout, every VAT is on its fee's line
    rolled = lk.roll_forward(recorded_month, freq="M")
    assert (-int(rolled["fees"].sum()), -int(rolled["vat"].sum())) == (
        int(breakdown["fee"].sum()),
        int(breakdown["vat"].sum()),
    )


# --------------------------------------------------------------------------
# Any order of whole fee + VAT pairs: each VAT lands on its own fee


FEES = {"TRX_FEE": (-100, -22), "TRX_FEE_FIX": (-30, -6), "CHARGEBACK_FEE": (-1500, -330)}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.tuples(st.sampled_from(sorted(FEES)), st.booleans(), st.integers(0, 2)), min_size=1, max_size=3
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([("transaction_id",), ("transaction",)]),
)
def test_whole_pairs_in_any_order_attach_exactly(transactions, keys):
    rows, expected = [], dict.fromkeys(FEES, 0)
    for number, (pairs, with_income) in enumerate(transactions):
        tx = f"t{number}"
        rows += [("INCOME", 5_000, tx)] if with_income else []
        for fee_type, vat_first, zeros in pairs:
            fee, vat = FEES[fee_type]
            pair = [("VAT", vat, tx), (fee_type, fee, tx)] if vat_first else [(fee_type, fee, tx), ("VAT", vat, tx)]
            rows += pair + [("VAT", 0, tx)] * zeros
            expected[fee_type] -= vat
    out = lk.fee_breakdown(statements(rows, keys), by="type").set_index("fee_type")
    assert {name: int(out.loc[name, "vat"]) for name in FEES if name in out.index} == {
        name: v for name, v in expected.items() if v
    }
    assert int(out.loc["VAT", "fee"]) == sum(expected.values())
