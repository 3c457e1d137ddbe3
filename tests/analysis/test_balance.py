"""Balance roll-forward and chain checks on small hand-built frames, plus invariants."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit.analysis.balance import check_balances, roll_forward
from ledgerkit.analysis.categories import RECORD_ACTIVITY, STATEMENT_ACTIVITY
from ledgerkit.errors import ConfigurationError

ACTIVITY = list(STATEMENT_ACTIVITY)
CHECK = ["reported_closing", "unexplained"]


def chain(moves, *, opening=0, currency="EUR", times=None):
    """A consistent statements frame from (type, amount, created) moves."""
    types = [m[0] for m in moves]
    amounts = [m[1] for m in moves]
    created = times or [m[2] for m in moves]
    after = list(opening + np.cumsum(amounts, dtype="int64")) if moves else []
    before = [opening, *after[:-1]] if moves else []
    return pd.DataFrame(
        {
            "row_id": pd.array([f"r{i}" for i in range(len(moves))], dtype="str"),
            "created": pd.to_datetime(pd.Series(created, dtype="str"), utc=True, format="mixed").astype(
                "datetime64[ns, UTC]"
            ),
            "type": pd.Series(types, dtype="str").astype("category"),
            "amount": pd.array(amounts, dtype="Int64"),
            "balance_before": pd.array(before, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": pd.Series([currency] * len(moves), dtype="str"),
            "payout_id": pd.array([pd.NA] * len(moves), dtype="str"),
        }
    )


EUR = chain(
    [
        ("INCOME", 10000, "2025-01-03 10:00"),
        ("TRX_FEE", -250, "2025-01-03 10:00"),
        ("VAT", -55, "2025-01-03 10:00"),
        ("REFUND", -2000, "2025-01-20 08:00"),
        ("CHARGEBACK", -3000, "2025-03-02 00:00"),
        ("CHARGEBACK_FEE", -1500, "2025-03-02 00:00"),
        ("VAT", -330, "2025-03-02 00:00"),
        ("PAYOUT", -4000, "2025-03-31 23:59:59"),
        ("FX_ADJUSTMENT", 7, "2025-03-31 23:59:59"),
    ],
    opening=1000,
)


def test_roll_forward_months_exact_with_empty_month():
    r = roll_forward(EUR, freq="M")
    assert r["period"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert r["period_end"].dt.strftime("%Y-%m-%d").tolist() == ["2025-02-01", "2025-03-01", "2025-04-01"]
    got = r[["opening", *ACTIVITY, "closing", "rows"]].values.tolist()
    assert got == [
        [1000, 10000, -250, -55, -2000, 0, 0, 0, 8695, 4],
        [8695, 0, 0, 0, 0, 0, 0, 0, 8695, 0],
        [8695, 0, -1500, -330, 0, -3000, -4000, 7, -128, 5],
    ]
    assert r["closing"].iloc[-1] == EUR["balance_after"].iloc[-1]  # negative balance is fine
    assert str(r["period"].dtype) == "datetime64[ns, UTC]"
    assert all(str(r[c].dtype) == "Int64" for c in ["opening", *ACTIVITY, "closing", "rows", *CHECK])
    assert r["reported_closing"].tolist() == r["closing"].tolist() and (r["unexplained"] == 0).all()


def test_roll_forward_shows_what_the_reported_balances_do_not_explain():
    missing = EUR.drop(index=3).reset_index(drop=True)  # the refund row is lost
    r = roll_forward(missing, freq="M")
    assert r[["closing", "reported_closing", "unexplained"]].values.tolist() == [
        [10695, 10695, 0],
        [10695, 10695, 0],
        [1872, -128, -2000],
    ]
    r = roll_forward(EUR, freq="M", opening={"EUR": 900})
    assert r["unexplained"].tolist() == [100, 100, 100]


def test_roll_forward_days_and_weeks_are_contiguous():
    days = roll_forward(EUR, freq="D")
    assert len(days) == (pd.Timestamp("2025-03-31") - pd.Timestamp("2025-01-03")).days + 1
    assert days["rows"].sum() == len(EUR)
    weeks = roll_forward(EUR, freq="w")
    assert weeks["period"].iloc[0] == pd.Timestamp("2024-12-30", tz="UTC")  # Monday
    assert (weeks["period"].diff().dropna() == pd.Timedelta(days=7)).all()
    assert weeks["closing"].iloc[-1] == days["closing"].iloc[-1] == -128


def test_roll_forward_currencies_apart_jpy_kwd():
    jpy = chain([("INCOME", 1500, "2025-01-01"), ("TRX_FEE", -45, "2025-01-01")], currency="JPY", opening=10)
    kwd = chain([("INCOME", 12345, "2025-02-10"), ("REFUND", -12345, "2025-02-11")], currency="KWD")
    r = roll_forward(pd.concat([kwd, jpy], ignore_index=True), freq="M")
    assert r[["currency", "opening", "income", "fees", "refunds", "closing"]].values.tolist() == [
        ["JPY", 10, 1500, -45, 0, 1465],
        ["KWD", 0, 12345, 0, -12345, 0],
    ]


def test_roll_forward_categories_override_and_new_category():
    r = roll_forward(EUR, freq="M", categories={"FX_ADJUSTMENT": "fx", "CHARGEBACK_FEE": "chargebacks"})
    assert list(r.columns) == [
        "currency",
        "period",
        "period_end",
        "opening",
        *ACTIVITY,
        "fx",
        "closing",
        "rows",
        *CHECK,
    ]
    march = r.iloc[-1]
    assert (march["chargebacks"], march["fees"], march["fx"], march["other"]) == (-4500, 0, 7, 0)


def test_roll_forward_single_row_and_opening_mapping():
    one = chain([("INCOME", 5, "2025-05-31 23:59:59.999")])
    r = roll_forward(one, freq="D", opening={"EUR": 100})
    assert r[["opening", "income", "closing"]].values.tolist() == [[100, 5, 105]]


def test_roll_forward_empty_frame_has_columns_and_dtypes():
    r = roll_forward(chain([]), freq="M")
    assert r.empty
    assert list(r.columns) == ["currency", "period", "period_end", "opening", *ACTIVITY, "closing", "rows", *CHECK]
    assert str(r["opening"].dtype) == "Int64" and str(r["period"].dtype) == "datetime64[ns, UTC]"


def records_frame(rows):
    """Balance records from (shop, type, amount, fee, before, created, currency) tuples."""
    shop, kind, amount, fee, before, created, currency = zip(*rows, strict=True)
    amount, fee, before = (np.array(x, dtype="int64") for x in (amount, fee, before))
    return pd.DataFrame(
        {
            "merchant_id": pd.array([1] * len(rows), dtype="Int64"),
            "shop_id": pd.array(shop, dtype="Int64"),
            "gateway_id": pd.array([7] * len(rows), dtype="Int64"),
            "record_id": pd.array(range(100, 100 + len(rows)), dtype="Int64"),
            "created_at": pd.to_datetime(list(created), utc=True, format="mixed"),
            "transaction_uid": pd.array([f"u{i}" for i in range(len(rows))], dtype="str"),
            "transaction_id": pd.array(range(1, 1 + len(rows)), dtype="Int64"),
            "transaction_type": pd.Series(kind, dtype="category"),
            "currency": pd.Series(currency, dtype="category"),
            "amount": pd.array(amount, dtype="Int64"),
            "fee": pd.array(fee, dtype="Int64"),
            "net": pd.array(amount - fee, dtype="Int64"),
            "balance_before": pd.array(before, dtype="Int64"),
            "balance_after": pd.array(before + amount - fee, dtype="Int64"),
        }
    )


RECORDS = records_frame(
    [
        (10, "payment", 10000, 290, 500, "2025-01-02 10:00", "USD"),
        (11, "payment", 2000, 60, 0, "2025-01-02 11:00", "USD"),
        (10, "refund", -3000, 0, 10210, "2025-01-15 09:00", "USD"),
        (11, "chargeback", -2000, 1500, 1940, "2025-02-01 00:00", "USD"),
        (10, "payout", -7000, 0, 7210, "2025-02-03 00:00", "USD"),
        (10, "capture", 1234, 4, 0, "2025-01-31 23:59:59", "KWD"),
    ]
)
OPENING = pd.DataFrame(
    {
        "merchant_id": pd.array([1, 1, 1], dtype="Int64"),
        "shop_id": pd.array([10, 11, 10], dtype="Int64"),
        "gateway_id": pd.array([7, 7, 7], dtype="Int64"),
        "currency": pd.Series(["USD", "USD", "KWD"], dtype="category"),
        "date": pd.to_datetime(["2024-12-01"] * 3, utc=True),
        "opening_balance": pd.array([500, 0, 0], dtype="Int64"),
    }
)


def test_roll_forward_counts_accounts_without_records():
    dormant = pd.concat(
        [
            OPENING,
            OPENING.iloc[[0]].assign(
                shop_id=pd.array([12], dtype="Int64"), opening_balance=pd.array([77], dtype="Int64")
            ),
        ]
    )
    r = roll_forward(RECORDS, freq="M", opening=dormant)
    usd = r[r["currency"] == "USD"]
    assert usd["opening"].iloc[0] == 577 and usd["closing"].iloc[-1] == -1273
    assert (usd["unexplained"] == 0).all()


def test_roll_forward_balance_report_records_with_opening():
    r = roll_forward(RECORDS, freq="M", opening=OPENING)
    assert list(r.columns[3:14]) == ["opening", *RECORD_ACTIVITY]  # adjustments, reserve, rates: records only
    got = r[["currency", "opening", "income", "fees", "refunds", "chargebacks", "payouts", "closing", "rows"]]
    assert r["period"].dt.strftime("%Y-%m").tolist() == ["2024-12", "2025-01", "2024-12", "2025-01", "2025-02"]
    assert got.values.tolist() == [
        ["KWD", 0, 0, 0, 0, 0, 0, 0, 0],
        ["KWD", 0, 1234, -4, 0, 0, 0, 1230, 1],
        ["USD", 500, 0, 0, 0, 0, 0, 500, 0],
        ["USD", 500, 12000, -350, -3000, 0, 0, 9150, 3],
        ["USD", 9150, 0, -1500, 0, -2000, -7000, -1350, 2],
    ]
    assert (r["unexplained"] == 0).all()
    report = SimpleNamespace(records=RECORDS, opening_balance=OPENING)
    pd.testing.assert_frame_equal(roll_forward(report, freq="M"), r)
    without = roll_forward(RECORDS, freq="M")  # openings from the chains' first balance_before
    assert without[["currency", "opening", "closing"]].values.tolist() == [
        ["KWD", 0, 1230],
        ["USD", 500, 9150],
        ["USD", 9150, -1350],
    ]


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"freq": "Q"}, "freq"),
        ({"categories": {"INCOME": 3}}, "categories"),
        ({"opening": pd.DataFrame({"currency": ["EUR"]})}, "opening"),
        ({"opening": {"EUR": 1.5}}, "opening"),
    ],
)
def test_roll_forward_bad_arguments(kwargs, parameter):
    with pytest.raises(ConfigurationError) as info:
        roll_forward(EUR, **kwargs)
    assert info.value.parameter == parameter


def test_missing_columns_and_naive_times_are_named():
    with pytest.raises(ConfigurationError, match="balance_after"):
        roll_forward(EUR.drop(columns=["balance_after"]))
    with pytest.raises(ConfigurationError, match="created"):
        check_balances(EUR.assign(created=EUR["created"].dt.tz_localize(None)))
    with pytest.raises(ConfigurationError, match="amount"):
        check_balances(EUR.assign(amount=EUR["amount"].astype("Float64") / 100))
    with pytest.raises(ConfigurationError):
        check_balances([1, 2])


# ------------------------------------------------------------------ breaks

BREAK_COLUMNS = ["position", "kind", "field", "expected", "actual", "difference", "direction"]


def corrupt(frame, position, column, delta):
    values = frame[column].copy()
    values.iloc[position] += delta
    return frame.assign(**{column: values})


def breaks(frame):
    return check_balances(frame)[BREAK_COLUMNS].values.tolist()


def test_consistent_chain_has_no_breaks_and_right_columns():
    out = check_balances(EUR)
    assert out.empty
    assert list(out.columns) == ["position", "row_id", "created", "currency", "type", "category", *BREAK_COLUMNS[1:]]
    assert str(out["difference"].dtype) == "Int64"


def test_corrupted_balance_after_is_one_break_at_its_row():
    assert breaks(corrupt(EUR, 3, "balance_after", -7)) == [
        [3, "amount_mismatch", "balance_after", 8695, 8688, -7, "too little"]
    ]
    last = len(EUR) - 1
    assert breaks(corrupt(EUR, last, "balance_after", 3)) == [
        [last, "amount_mismatch", "balance_after", -128, -125, 3, "too much"]
    ]


def test_corrupted_balance_before_is_one_chain_break_at_its_row():
    assert breaks(corrupt(EUR, 2, "balance_before", 100)) == [
        [2, "chain_break", "balance_before", 10750, 10850, 100, "too much"]
    ]
    assert breaks(corrupt(EUR, 0, "balance_before", -1)) == [
        [0, "amount_mismatch", "balance_before", 1000, 999, -1, "too little"]
    ]


def test_corrupted_amount_and_missing_row():
    assert breaks(corrupt(EUR, 4, "amount", 1)) == [[4, "amount_mismatch", "amount", -3000, -2999, 1, "too much"]]
    missing = EUR.drop(index=3).reset_index(drop=True)
    assert breaks(missing) == [[3, "chain_break", "balance_before", 10695, 8695, -2000, "too little"]]


def test_duplicate_and_out_of_order_rows():
    dup = pd.concat([EUR.iloc[:3], EUR.iloc[[2]], EUR.iloc[3:]], ignore_index=True)
    assert breaks(dup) == [[3, "duplicate", "amount", 0, -55, -55, "too little"]]
    late = EUR.assign(created=EUR["created"].where(EUR.index != 5, pd.Timestamp("2025-01-01", tz="UTC")))
    got = check_balances(late)
    assert got[["position", "kind", "field"]].values.tolist() == [[5, "out_of_order", "created"]]
    assert got["difference"].isna().all()


def test_balance_records_chains_per_account():
    assert check_balances(RECORDS).empty
    bad = corrupt(RECORDS, 2, "balance_after", 11)  # shop 10's second row
    got = check_balances(bad)
    assert got[["position", "record_id", "shop_id", "kind", "field", "difference"]].values.tolist() == [
        [2, 102, 10, "amount_mismatch", "balance_after", 11]
    ]
    assert list(got.columns[:5]) == ["position", "record_id", "merchant_id", "shop_id", "gateway_id"]


def test_frame_without_row_id_finds_duplicates_by_value():
    plain = EUR.drop(columns=["row_id"])
    dup = pd.concat([plain, plain.iloc[[-1]]], ignore_index=True)
    got = check_balances(corrupt(dup, 2, "balance_after", 5))
    assert got[["position", "kind", "difference"]].values.tolist() == [[2, "amount_mismatch", 5], [9, "duplicate", 7]]
    assert got["row_id"].isna().all()


def test_single_row_and_empty():
    assert check_balances(EUR.iloc[[0]]).empty
    assert check_balances(chain([])).empty


# -------------------------------------------------------------- invariants

TYPES = ["INCOME", "TRX_FEE", "TRX_FEE_FIX", "VAT", "REFUND", "CHARGEBACK", "PAYOUT", "ODD"]


@st.composite
def random_chains(draw, min_size=1):
    n = draw(st.integers(min_size, 40))
    start = pd.Timestamp("2025-01-01", tz="UTC")
    offsets = sorted(draw(st.lists(st.integers(0, 120 * 24), min_size=n, max_size=n)))
    moves = [
        (draw(st.sampled_from(TYPES)), draw(st.integers(-(10**6), 10**6)), str(start + pd.Timedelta(hours=h)))
        for h in offsets
    ]
    return chain(
        moves, opening=draw(st.integers(-(10**6), 10**6)), currency=draw(st.sampled_from(["EUR", "JPY", "KWD"]))
    )


@settings(max_examples=40, deadline=None)
@given(random_chains(), st.sampled_from(["D", "W", "M"]))
def test_roll_forward_identities_on_random_chains(frame, freq):
    r = roll_forward(frame, freq=freq)
    activity = r[ACTIVITY].sum(axis=1)
    assert (r["opening"] + activity == r["closing"]).all()
    assert (r["opening"].iloc[1:].to_numpy() == r["closing"].iloc[:-1].to_numpy()).all()
    assert r["opening"].iloc[0] == frame["balance_before"].iloc[0]
    assert r["closing"].iloc[-1] == frame["balance_after"].iloc[-1]
    assert r["rows"].sum() == len(frame)
    assert (r["unexplained"] == 0).all()
    assert (r["period"].diff().dropna() > pd.Timedelta(0)).all()


@settings(max_examples=25, deadline=None)
@given(random_chains(min_size=2), st.data())
def test_splitting_a_period_in_two_adds_up_to_the_whole(frame, data):
    cut = data.draw(st.integers(1, len(frame) - 1))
    # Split at a day boundary so that no day is in both halves.
    day = frame["created"].dt.floor("D")
    head, tail = frame[day < day.iloc[cut]], frame[day >= day.iloc[cut]]
    whole = roll_forward(frame, freq="D")
    parts = [roll_forward(p, freq="D") for p in (head, tail) if len(p)]
    assert sum(int(p[ACTIVITY].sum().sum()) for p in parts) == int(whole[ACTIVITY].sum().sum())
    for column in ACTIVITY:
        assert sum(int(p[column].sum()) for p in parts) == int(whole[column].sum())
    if len(parts) == 2:
        assert parts[1]["opening"].iloc[0] == parts[0]["closing"].iloc[-1]
    month = roll_forward(frame, freq="M")
    assert month[ACTIVITY].sum().tolist() == whole[ACTIVITY].sum().tolist()


@settings(max_examples=60, deadline=None)
@given(random_chains(), st.data())
def test_one_corrupted_balance_after_is_found_exactly(frame, data):
    position = data.draw(st.integers(0, len(frame) - 1))
    delta = data.draw(st.integers(-(10**6), 10**6).filter(bool))
    got = check_balances(corrupt(frame, position, "balance_after", delta))
    assert got[["position", "field", "difference"]].values.tolist() == [[position, "balance_after", delta]]


@settings(max_examples=40, deadline=None)
@given(random_chains(min_size=2), st.data())
def test_one_corrupted_balance_before_is_found_at_its_row(frame, data):
    position = data.draw(st.integers(0, len(frame) - 1))
    delta = data.draw(st.integers(-(10**6), 10**6).filter(bool))
    got = check_balances(corrupt(frame, position, "balance_before", delta))
    assert got[["position", "field", "difference"]].values.tolist() == [[position, "balance_before", delta]]


def test_large_balances_over_many_rows_are_levels_not_a_sum():
    """Balances are compared, never added up over rows: 40 rows near 2**58 (their sum passes 2**62) are fine."""
    big = 2**58
    moves = [("INCOME", 1000 + i, f"2025-01-{1 + i // 2:02d} 10:{i % 2:02d}") for i in range(40)]
    frame = chain(moves, opening=big)
    assert float(frame["balance_after"].astype("float64").abs().sum()) > 2**62
    rolled = roll_forward(frame, freq="M")
    assert rolled["opening"].tolist() == [big] and rolled["closing"].tolist() == [big + sum(m[1] for m in moves)]
    assert check_balances(frame).empty
    with pytest.raises(
        ConfigurationError, match=r"statements\['balance_before'\]='<a balance of 1.2e\+18>'.*balances below 2\*\*60"
    ):
        roll_forward(chain([("INCOME", 1, "2025-01-02")], opening=2**60), freq="M")
