"""Balance analyses on the records of a minimal DWH report, and net = amount - fee on full ones.

The real report is only partly public: a loader may hand over records with
only the account ids, ``created_at``, ``currency`` and ``amount`` (usually
also ``balance_after``, ``transaction_type`` and ``description``) — no
``record_id``, ``fee``, ``net``, ``balance_before`` or transaction ids.
Types are an open set: adjustments, rolling reserve (held and released) and
rates get their own roll-forward columns, unknown types stay in ``other``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit.analysis import check_balances, reconcile_transactions, roll_forward
from ledgerkit.analysis.categories import RECORD_ACTIVITY
from ledgerkit.errors import ConfigurationError

ACTIVITY = list(RECORD_ACTIVITY)
BREAK = ["position", "kind", "field", "expected", "actual", "difference", "direction"]


def minimal(rows, *, openings=None):
    """Minimal records from (shop, type, amount, created, currency) rows; balance_after chained per account.

    ``openings`` maps (shop, currency) to the balance before the account's
    first row (0 by default).
    """
    openings = dict(openings or {})
    after = []
    for shop, _, amount, _, currency in rows:
        key = (shop, currency)
        openings[key] = openings.get(key, 0) + amount
        after.append(openings[key])
    shop, kind, amount, created, currency = (list(x) for x in zip(*rows, strict=True)) if rows else ([], [], [], [], [])
    return pd.DataFrame(
        {
            "merchant_id": pd.array([1] * len(rows), dtype="Int64"),
            "shop_id": pd.array(shop, dtype="Int64"),
            "created_at": pd.to_datetime(pd.Series(created, dtype="str"), utc=True, format="mixed").astype(
                "datetime64[ns, UTC]"
            ),
            "currency": pd.Series(currency, dtype="category"),
            "transaction_type": pd.Series(kind, dtype="category"),
            "description": pd.array([f"{k} of shop {s}" for s, k in zip(shop, kind, strict=True)], dtype="str"),
            "amount": pd.array(amount, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
        }
    )


def opening_frame(values, date="2025-01-01"):
    """A report's opening_balance from {(shop, currency): minor units}."""
    keys = list(values)
    return pd.DataFrame(
        {
            "merchant_id": pd.array([1] * len(keys), dtype="Int64"),
            "shop_id": pd.array([k[0] for k in keys], dtype="Int64"),
            "currency": pd.Series([k[1] for k in keys], dtype="category"),
            "date": pd.to_datetime([date] * len(keys), utc=True),
            "opening_balance": pd.array(list(values.values()), dtype="Int64"),
        }
    )


EUR_ROWS = [
    (10, "payment", 10_000, "2025-01-03 10:00", "EUR"),
    (10, "adjustment", -1_500, "2025-01-04 09:00", "EUR"),  # "[UserID:45] Balance debit"
    (10, "rolling_reserve", -1_000, "2025-01-05 00:00", "EUR"),  # held
    (10, "rate", -25, "2025-01-31 23:59:59", "EUR"),
    (10, "mystery_kind", 3, "2025-02-01 00:00", "EUR"),  # unknown: stays in other
    (10, "rolling_reserve_release", 1_000, "2025-02-10 00:00", "EUR"),  # released
    (10, "payout", -8_000, "2025-02-11 00:00", "EUR"),
]
EUR = minimal(EUR_ROWS, openings={(10, "EUR"): 500})
EUR_OPENING = opening_frame({(10, "EUR"): 500})


def test_roll_forward_gives_adjustments_reserve_and_rates_their_own_columns():
    r = roll_forward(SimpleNamespace(records=EUR, opening_balance=EUR_OPENING), freq="M")
    columns = ["opening", "income", "payouts", "adjustments", "reserve", "rates", "other", "closing", "rows"]
    assert r[columns].values.tolist() == [
        [500, 10_000, 0, -1_500, -1_000, -25, 0, 7_975, 4],
        [7_975, 0, -8_000, 0, 1_000, 0, 3, 978, 3],
    ]
    assert r["reported_closing"].tolist() == [7_975, 978] and r["unexplained"].tolist() == [0, 0]
    assert (r[["fees", "vat", "refunds", "chargebacks"]] == 0).all().all()
    assert (r["opening"] + r[ACTIVITY].sum(axis=1) == r["closing"]).all()
    assert list(r.columns[3:14]) == ["opening", *ACTIVITY]


def test_without_opening_the_first_balance_after_less_its_amount_opens():
    r = roll_forward(EUR, freq="M")
    assert r[["opening", "closing", "unexplained"]].values.tolist() == [[500, 7_975, 0], [7_975, 978, 0]]


def test_jpy_and_kwd_accounts_apart_with_a_currency_code_in_any_case():
    rows = [
        (10, "payment", 1_500, "2025-01-02", "JPY"),
        (11, "payment", 700, "2025-01-02 01:00", "JPY"),
        (10, "rolling_reserve", -150, "2025-01-03", "JPY"),
        (11, "adjustment", 5, "2025-01-04", "JPY"),
        (12, "payment", 12_345, "2025-01-05", "KWD"),
        (12, "rate", -123, "2025-01-06", "KWD"),
    ]
    records = minimal(rows, openings={(10, "JPY"): 10, (11, "JPY"): 20, (12, "KWD"): 1_000})
    r = roll_forward(records, freq="M", opening={"jpy": 30, " kwd ": 1_000})
    got = r[["currency", "opening", "income", "adjustments", "reserve", "rates", "closing", "unexplained"]]
    assert got.values.tolist() == [
        ["JPY", 30, 2_200, 5, -150, 0, 2_085, 0],
        ["KWD", 1_000, 12_345, 0, 0, -123, 13_222, 0],
    ]
    assert check_balances(records).empty


def test_without_balance_after_nothing_is_reported_and_nothing_is_read_as_zero():
    records = EUR.drop(columns="balance_after")
    r = roll_forward(records, freq="M", opening={"EUR": 500})
    assert r["closing"].tolist() == [7_975, 978]
    assert r["reported_closing"].isna().all() and r["unexplained"].isna().all()
    with pytest.raises(ConfigurationError, match=r"opening.*no balance_before or balance_after"):
        roll_forward(records)
    with pytest.raises(ConfigurationError, match="balance_after"):
        check_balances(records)


def test_a_consistent_minimal_report_has_no_break_and_the_documented_columns():
    out = check_balances(SimpleNamespace(records=EUR, opening_balance=EUR_OPENING))
    assert out.empty
    assert list(out.columns) == [
        "position",
        "record_id",
        "merchant_id",
        "shop_id",
        "gateway_id",
        "created",
        "currency",
        "type",
        "category",
        *BREAK[1:],
    ]


def test_a_lost_row_is_a_chain_break_at_exactly_the_next_row_of_its_account():
    lost = EUR.drop(index=2).reset_index(drop=True)  # the reserve held (-10.00) is missing
    got = check_balances(lost)
    assert got[[*BREAK, "type", "category"]].values.tolist() == [
        [2, "chain_break", "balance_after", 8_975, 7_975, -1_000, "too little", "rate", "rates"]
    ]
    assert got["record_id"].isna().all() and got["shop_id"].tolist() == [10]


def test_a_wrong_balance_after_is_found_once_at_its_own_row():
    for position in (1, 3, 6):  # middle rows and the last
        bad = EUR.copy()
        bad.loc[position, "balance_after"] += 7
        got = check_balances(bad)
        assert got[["position", "field", "difference"]].values.tolist() == [[position, "balance_after", 7]]
    bad = EUR.copy()
    bad.loc[2, "balance_after"] -= 4
    assert check_balances(bad)[[*BREAK, "category"]].values.tolist() == [
        [2, "amount_mismatch", "balance_after", 8_000, 7_996, -4, "too little", "reserve"]
    ]


def test_the_report_opening_checks_the_first_record_of_each_account():
    bad = EUR.copy()
    bad.loc[0, "balance_after"] += 9
    report = SimpleNamespace(records=bad, opening_balance=EUR_OPENING)
    assert check_balances(report)[BREAK].values.tolist() == [
        [0, "amount_mismatch", "balance_after", 10_500, 10_509, 9, "too much"]
    ]
    # Without the opening the first row cannot be checked: the break shows on the next one.
    assert check_balances(bad)[["position", "kind", "difference"]].values.tolist() == [[1, "chain_break", -9]]
    off = SimpleNamespace(records=EUR, opening_balance=opening_frame({(10, "EUR"): 499}))
    assert check_balances(off)[BREAK].values.tolist() == [
        [0, "chain_break", "balance_after", 10_499, 10_500, 1, "too much"]
    ]


def test_two_accounts_interleaved_are_two_chains():
    rows = [
        (10, "payment", 100, "2025-01-01", "EUR"),
        (11, "payment", 5, "2025-01-01 00:30", "EUR"),
        (10, "adjustment", -30, "2025-01-02", "EUR"),
        (11, "payout", -5, "2025-01-03", "EUR"),
    ]
    records = minimal(rows)
    assert check_balances(records).empty
    bad = records.copy()
    bad.loc[1, "balance_after"] = 6  # shop 11's first row; its next row (3) shows the break
    assert check_balances(bad)[["position", "shop_id", "kind", "difference"]].values.tolist() == [
        [3, 11, "chain_break", -1]
    ]


def test_a_repeated_record_without_record_id_is_a_duplicate():
    repeated = pd.concat([EUR.iloc[:2], EUR.iloc[[1]], EUR.iloc[2:]], ignore_index=True)
    assert check_balances(repeated)[["position", "kind", "actual", "type"]].values.tolist() == [
        [2, "duplicate", -1_500, "adjustment"]
    ]


# ------------------------------------------------------------ net = amount - fee


def full(rows, opening=0):
    """Full records from (type, amount, fee) rows of one account, chained."""
    kind, amount, fee = (np.array(x) for x in zip(*rows, strict=True))
    net = amount - fee
    after = opening + np.cumsum(net)
    return pd.DataFrame(
        {
            "merchant_id": pd.array([1] * len(rows), dtype="Int64"),
            "shop_id": pd.array([10] * len(rows), dtype="Int64"),
            "gateway_id": pd.array([7] * len(rows), dtype="Int64"),
            "record_id": pd.array(range(100, 100 + len(rows)), dtype="Int64"),
            "created_at": pd.date_range("2025-01-02", periods=len(rows), freq="D", tz="UTC"),
            "transaction_type": pd.Series(kind, dtype="category"),
            "currency": pd.Series(["EUR"] * len(rows), dtype="category"),
            "amount": pd.array(amount, dtype="Int64"),
            "fee": pd.array(fee, dtype="Int64"),
            "net": pd.array(net, dtype="Int64"),
            "balance_before": pd.array(after - net, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
        }
    )


FULL = full([("payment", 10_000, 290), ("payment", 2_000, 60), ("refund", -3_000, 0), ("payout", -5_000, 0)], 500)


def with_value(frame, position, column, value):
    out = frame.copy()
    out.loc[position, column] = value
    return out


def test_a_fee_off_by_one_while_net_and_balances_agree_is_named():
    bad = with_value(FULL, 1, "fee", 61)
    got = check_balances(bad)
    assert got[[*BREAK, "record_id"]].values.tolist() == [
        [1, "net_mismatch", "amount - fee", 1_940, 1_939, -1, "too little", 101]
    ]
    assert roll_forward(bad)["unexplained"].tolist() == [1]  # roll_forward saw it, now check_balances names it


def test_an_amount_off_by_one_while_net_and_balances_agree_is_named():
    bad = with_value(FULL, 2, "amount", -2_999)
    assert check_balances(bad)[BREAK].values.tolist() == [
        [2, "net_mismatch", "amount - fee", -3_000, -2_999, 1, "too much"]
    ]
    assert roll_forward(bad)["unexplained"].tolist() == [-1]


def test_a_wrong_net_is_named_once_and_not_also_as_an_amount_mismatch():
    bad = with_value(FULL, 0, "net", 9_711)
    assert check_balances(bad)[BREAK].values.tolist() == [[0, "net_mismatch", "net", 9_710, 9_711, 1, "too much"]]
    assert roll_forward(bad)["unexplained"].tolist() == [0]  # the balances follow amount - fee


def test_net_checked_without_balance_before_too():
    bad = with_value(FULL, 1, "fee", 59).drop(columns=["balance_before", "record_id"])
    assert check_balances(bad)[BREAK].values.tolist() == [
        [1, "net_mismatch", "amount - fee", 1_940, 1_941, 1, "too much"]
    ]


def test_the_movement_comes_from_net_else_amount_minus_fee():
    only_fee = FULL.drop(columns="net")
    only_net = FULL.drop(columns="fee")
    for frame in (only_fee, only_net):
        r = roll_forward(frame)
        assert r[["opening", "income", "fees", "refunds", "payouts", "closing", "unexplained"]].values.tolist() == [
            [500, 12_000, -350, -3_000, -5_000, 4_150, 0]
        ]
        assert check_balances(frame).empty
    mixed = with_value(with_value(FULL, 0, "fee", pd.NA), 1, "net", pd.NA)  # each row still has one of them
    assert roll_forward(mixed)["fees"].tolist() == [-350] and check_balances(mixed).empty


def test_a_record_with_neither_net_nor_fee_is_refused_not_read_as_zero():
    bad = with_value(with_value(FULL, 2, "fee", pd.NA), 2, "net", pd.NA)
    for call in (roll_forward, check_balances):
        with pytest.raises(ConfigurationError, match=r"statements\['net'\]='<NA> at rows \[2\]'.*net or a fee"):
            call(bad)
    with pytest.raises(ConfigurationError, match=r"statements\['fee'\]='<NA> at rows \[2\]'"):
        roll_forward(with_value(FULL, 2, "fee", pd.NA).drop(columns="net"))


# ------------------------------------------------------------ reconcile


TRANSACTIONS = pd.DataFrame(
    {
        "id": pd.array([1, 2, 3], dtype="Int64"),
        "uid": pd.array(["u1", "u2", "u3"], dtype="str"),
        "type": ["payment", "refund", "payment"],
        "status": ["successful", "successful", "successful"],
        "amount": pd.array([10_000, 3_000, 500], dtype="Int64"),
        "transaction_fee": pd.array([290, 0, 15], dtype="Int64"),
        "currency": ["EUR", "EUR", "EUR"],
    }
)


def test_reconcile_a_minimal_report_on_amounts_with_transaction_ids_only():
    records = minimal(
        [
            (10, "payment", 10_000, "2025-01-02", "EUR"),
            (10, "refund", -2_999, "2025-01-03", "EUR"),
            (10, "adjustment", -1_500, "2025-01-04", "EUR"),
        ]
    )
    records["transaction_id"] = pd.array([1, 2, None], dtype="Int64")
    got = reconcile_transactions(TRANSACTIONS, records)
    columns = ["status", "transaction_id", "type", "record_amount", "amount_difference", "record_fee", "fee_difference"]
    rows = [[None if pd.isna(v) else v for v in row] for row in got[columns].astype(object).values.tolist()]
    assert rows == [
        ["only_in_balance_records", None, "adjustment", -1_500, -1_500, None, None],
        ["matched", 1, "payment", 10_000, 0, None, None],  # no fee in the report: amounts only
        ["amount_mismatch", 2, "refund", -2_999, 1, None, None],
        ["only_in_transactions", 3, "payment", None, -500, None, -15],
    ]


def test_reconcile_names_the_id_columns_a_minimal_report_lacks():
    with pytest.raises(ConfigurationError, match="'transaction_id' or 'transaction_uid'"):
        reconcile_transactions(TRANSACTIONS, EUR)


# ------------------------------------------------------------ invariants

KINDS = ["payment", "refund", "payout", "adjustment", "rolling_reserve", "rolling_reserve_release", "rate", "odd"]


@st.composite
def minimal_reports(draw, min_size=1):
    n = draw(st.integers(min_size, 30))
    start = pd.Timestamp("2025-01-01", tz="UTC")
    hours = sorted(draw(st.lists(st.integers(0, 90 * 24), min_size=n, max_size=n)))
    accounts = [(10, "EUR"), (11, "EUR"), (12, "JPY"), (13, "KWD")]
    rows = []
    for h in hours:
        shop, currency = draw(st.sampled_from(accounts))
        amount = draw(st.integers(-(10**6), 10**6).filter(bool))
        rows.append((shop, draw(st.sampled_from(KINDS)), amount, str(start + pd.Timedelta(hours=h)), currency))
    openings = {a: draw(st.integers(-(10**6), 10**6)) for a in accounts}
    records = minimal(rows, openings=openings)
    present = set(zip(records["shop_id"].tolist(), records["currency"].astype(str).tolist(), strict=True))
    return SimpleNamespace(records=records, opening_balance=opening_frame({a: openings[a] for a in present}))


@settings(max_examples=40, deadline=None)
@given(minimal_reports(), st.sampled_from(["D", "W", "M"]))
def test_opening_plus_activity_is_closing_on_every_row(report, freq):
    r = roll_forward(report, freq=freq)
    assert (r["opening"] + r[ACTIVITY].sum(axis=1) == r["closing"]).all()
    assert (r["unexplained"] == 0).all()
    assert int(r["rows"].sum()) == len(report.records)
    for _, rows in r.groupby("currency"):
        assert (rows["opening"].iloc[1:].to_numpy() == rows["closing"].iloc[:-1].to_numpy()).all()
    assert check_balances(report).empty


@settings(max_examples=60, deadline=None)
@given(minimal_reports(), st.data())
def test_one_wrong_balance_after_is_found_at_its_row(report, data):
    position = data.draw(st.integers(0, len(report.records) - 1))
    delta = data.draw(st.integers(-(10**6), 10**6).filter(bool))
    records = with_value(
        report.records, position, "balance_after", report.records["balance_after"].iloc[position] + delta
    )
    got = check_balances(SimpleNamespace(records=records, opening_balance=report.opening_balance))
    assert got[["position", "field", "difference"]].values.tolist() == [[position, "balance_after", delta]]


@settings(max_examples=60, deadline=None)
@given(minimal_reports(min_size=2), st.data())
def test_one_lost_record_is_found_at_the_next_row_of_its_account(report, data):
    records = report.records
    account = records["shop_id"].to_numpy()
    has_next = [i for i in range(len(records)) if (account[i + 1 :] == account[i]).any()]
    if not has_next:
        return
    lost = data.draw(st.sampled_from(has_next))
    following = lost + 1 + int(np.flatnonzero(account[lost + 1 :] == account[lost])[0])
    kept = records.drop(index=lost).reset_index(drop=True)
    got = check_balances(SimpleNamespace(records=kept, opening_balance=report.opening_balance))
    assert got[["position", "kind", "difference"]].values.tolist() == [
        [following - 1, "chain_break", int(records["amount"].iloc[lost])]
    ]
