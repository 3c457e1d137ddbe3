"""A many-account frame is analysed per account, as it is per currency.

Two accounts in the SAME currency whose payout ids, transaction ids, shop
ids and record ids collide, one account's statement chain breaking and the
other's not: every analysis function gives each account's exact numbers,
and the result for the frame of both (rows in any interleaving) equals
each account's frame analysed alone with the ``account`` column added.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledgerkit as lk
from ledgerkit.errors import ConfigurationError

ACCOUNTS = ("eu-shop", "lv-shop")


def _ts(minutes: int) -> pd.Timestamp:
    return pd.Timestamp("2025-01-30 00:00", tz="UTC") + pd.Timedelta(minutes=minutes)


# ------------------------------------------------------------------ frames of one account each

#: (type, amount, payout id, transaction id) per account; both pay out payout "P1" for transactions "t1", "t2".
EVENTS = {
    "eu-shop": [
        ("INCOME", 10_000, "P1", "t1"),
        ("TRX_FEE", -250, "P1", "t1"),
        ("VAT", -50, "P1", "t1"),
        ("INCOME", 5_000, "P1", "t2"),
        ("TRX_FEE_FIX", -25, "P1", "t2"),
        ("VAT", -5, "P1", "t2"),
        ("PAYOUT", -14_670, "P1", None),
        ("INCOME", 2_000, None, "t3"),
        ("TRX_FEE", -60, None, "t3"),
    ],
    "lv-shop": [
        ("INCOME", 3_000, "P1", "t1"),
        ("TRX_FEE", -90, "P1", "t1"),
        ("VAT", -18, "P1", "t1"),
        ("PAYOUT", -2_900, "P1", None),
        ("INCOME", 700, None, "t2"),
        ("TRX_FEE", -21, None, "t2"),
    ],
}
OPENING = {"eu-shop": 1_000, "lv-shop": 0}
#: lv-shop's row 4 says its balance before was 10 more than the row before left it: one chain break.
BREAK = ("lv-shop", 4, 10)


def statements_of(account: str) -> pd.DataFrame:
    rows, balance = [], OPENING[account]
    for number, (kind, amount, payout, tx) in enumerate(EVENTS[account]):
        if (account, number) == BREAK[:2]:
            balance += BREAK[2]
        rows.append(
            {
                "row_id": f"r{number}",
                "created": _ts(number * 600 + (7 if account == "lv-shop" else 0)),
                "type": kind,
                "amount": amount,
                "balance_before": balance,
                "balance_after": balance + amount,
                "currency": "EUR",
                "transaction": tx,
                "transaction_id": tx,
                "channel": "card" if number % 2 else "bank",
                "payout_id": payout,
            }
        )
        balance += amount
    frame = pd.DataFrame(rows)
    frame[["amount", "balance_before", "balance_after"]] = frame[["amount", "balance_before", "balance_after"]].astype(
        "Int64"
    )
    frame = frame.astype(dict.fromkeys(("row_id", "transaction", "transaction_id", "payout_id"), "str"))
    return frame.astype({"type": "category", "currency": "category", "channel": "category"})


#: (id, type, amount, fee) per account: ids 1-3 in both, gateway 7 in both.
TRANSACTIONS = {
    "eu-shop": [
        (1, "payment", 10_000, 320),
        (2, "payment", 2_500, 102),
        (3, "refund", 1_000, 50),
        (4, "payment", 40_000, 1_190),
        (5, "payment", 7_300, 999),
    ],
    "lv-shop": [(1, "payment", 3_000, 90), (2, "payment", 5_000, 150), (3, "payment", 1_000, 30)],
}


def transactions_of(account: str) -> pd.DataFrame:
    rows = TRANSACTIONS[account]
    return pd.DataFrame(
        {
            "id": pd.array([r[0] for r in rows], dtype="Int64"),
            "uid": [f"u{r[0]}" for r in rows],
            "type": pd.Categorical([r[1] for r in rows]),
            "status": pd.Categorical(["successful"] * len(rows)),
            "amount": pd.array([r[2] for r in rows], dtype="Int64"),
            "transaction_fee": pd.array([r[3] for r in rows], dtype="Int64"),
            "currency": pd.Categorical(["EUR"] * len(rows)),
            "created_at": [_ts(i * 60) for i in range(len(rows))],
            "payment.gateway_id": pd.array([7] * len(rows), dtype="Int64"),
            "credit_card.brand": pd.Categorical(["visa", "master"] * 2 + ["visa"])[: len(rows)],
        }
    )


def records_of(account: str) -> SimpleNamespace:
    """A DWH report of shop 1 whose records pair with ``transactions_of(account)`` (lv-shop's id 3 is missing)."""
    tx = transactions_of(account)
    tx = tx.loc[~((account == "lv-shop") & tx["id"].eq(3))]
    sign = np.where(tx["type"].astype("str").eq("refund"), -1, 1)
    amount = tx["amount"].to_numpy(dtype="int64") * sign
    fee = tx["transaction_fee"].to_numpy(dtype="int64")
    start = 5_000 if account == "eu-shop" else 800
    after = start + np.cumsum(amount - fee)
    records = pd.DataFrame(
        {
            "shop_id": pd.array([1] * len(tx), dtype="Int64"),
            "record_id": pd.array(np.arange(1, len(tx) + 1), dtype="Int64"),
            "created_at": tx["created_at"].to_numpy(),
            "transaction_uid": tx["uid"].to_numpy(),
            "transaction_id": tx["id"].to_numpy(),
            "transaction_type": pd.Categorical(tx["type"].astype("str")),
            "currency": pd.Categorical(["EUR"] * len(tx)),
            "amount": pd.array(amount, dtype="Int64"),
            "fee": pd.array(fee, dtype="Int64"),
            "net": pd.array(amount - fee, dtype="Int64"),
            "balance_before": pd.array(after - (amount - fee), dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
        }
    )
    records["created_at"] = pd.to_datetime(records["created_at"], utc=True)
    opening = pd.DataFrame(
        {
            "shop_id": pd.array([1], dtype="Int64"),
            "currency": pd.Categorical(["EUR"]),
            "opening_balance": pd.array([start], dtype="Int64"),
        }
    )
    return SimpleNamespace(records=records, opening_balance=opening)


# ------------------------------------------------------------------ the frame of both accounts


def with_account(frame: pd.DataFrame, account: str) -> pd.DataFrame:
    return frame.assign(account=account)[["account", *frame.columns]]


def combined(frames: dict[str, pd.DataFrame], order=None) -> pd.DataFrame:
    """The accounts' frames as ``load_*(accounts=...)`` gives them, rows in ``order`` (default: one after the other)."""
    out = pd.concat([with_account(f, name) for name, f in frames.items()], ignore_index=True)
    out["account"] = out["account"].astype("category")
    return out if order is None else out.iloc[order].reset_index(drop=True)


def both_reports() -> SimpleNamespace:
    reports = {name: records_of(name) for name in ACCOUNTS}
    return SimpleNamespace(
        records=combined({n: r.records for n, r in reports.items()}),
        opening_balance=combined({n: r.opening_balance for n, r in reports.items()}),
    )


def interleavings(lengths: list[int]):
    """Row orders of the frame of both accounts keeping each account's own row order."""
    return st.permutations([i for i, n in enumerate(lengths) for _ in range(n)]).map(
        lambda owners: _order(owners, lengths)
    )


def _order(owners: list[int], lengths: list[int]) -> list[int]:
    offsets, seen, out = np.r_[0, np.cumsum(lengths)], [0] * len(lengths), []
    for owner in owners:
        out.append(int(offsets[owner]) + seen[owner])
        seen[owner] += 1
    return out


def alone(function, frames: dict[str, object], **kwargs) -> pd.DataFrame:
    """Each account's frame(s) analysed alone, ``account`` added first, accounts in sorted order."""
    parts = []
    for name in sorted(frames):
        args = frames[name] if isinstance(frames[name], tuple) else (frames[name],)
        parts.append(with_account(function(*args, **kwargs), name))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"account": "str"})


# ------------------------------------------------------------------ exact numbers per account


def test_the_break_of_one_account_is_named_at_its_whole_frame_row_and_the_other_chain_holds():
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    breaks = lk.check_balances(statements)
    assert breaks[["account", "position", "row_id", "kind", "expected", "actual", "difference"]].values.tolist() == [
        ["lv-shop", 9 + 4, "r4", "chain_break", -8, 2, 10]
    ]
    assert breaks["account"].dtype == "str"
    assert len(lk.check_balances(statements.drop(columns="account"))) > 1  # one chain of both: false breaks


def test_roll_forward_opens_and_closes_each_account_on_its_own():
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    roll = lk.roll_forward(statements, freq="M")
    assert roll[["account", "currency", "opening", "closing", "reported_closing", "unexplained"]].values.tolist() == [
        ["eu-shop", "EUR", 1_000, 15_675, 15_675, 0],
        ["eu-shop", "EUR", 15_675, 2_940, 2_940, 0],
        ["lv-shop", "EUR", 0, 692, 702, 10],
        ["lv-shop", "EUR", 692, 671, 681, 10],
    ]


def test_payouts_with_the_same_id_stay_apart_and_each_is_explained():
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    groups = lk.payout_groups(statements)
    assert groups[["account", "payout_id", "net", "paid_out", "residual"]].astype(object).where(
        groups[["account", "payout_id", "net", "paid_out", "residual"]].notna(), None
    ).values.tolist() == [
        ["eu-shop", "P1", 14_670, 14_670, 0],
        ["eu-shop", None, 1_940, None, None],
        ["lv-shop", "P1", 2_892, 2_900, 8],
        ["lv-shop", None, 679, None, None],
    ]
    items = lk.payout_items(statements, "P1")
    assert items.groupby("account", observed=True)["position"].agg(list).to_dict() == {
        "eu-shop": [0, 1, 2, 3, 4, 5, 6],
        "lv-shop": [9, 10, 11, 12],
    }
    assert items.columns[:2].tolist() == ["account", "position"]
    waterfall = lk.payout_waterfall(statements, "P1")
    assert waterfall.loc[waterfall["step"].eq("residual"), ["account", "amount"]].values.tolist() == [
        ["eu-shop", 0],
        ["lv-shop", 8],
    ]


def test_fees_of_two_accounts_in_one_currency_are_not_added():
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    fees = lk.fee_breakdown(statements, by=())
    assert fees[["account", "currency", "fee", "vat", "volume"]].values.tolist() == [
        ["eu-shop", "EUR", 335, 55, 17_000],
        ["lv-shop", "EUR", 111, 18, 3_700],
    ]
    tx = combined({name: transactions_of(name) for name in ACCOUNTS})
    by_gateway = lk.fee_breakdown(tx)
    assert by_gateway[["account", "payment.gateway_id", "fee", "volume"]].values.tolist() == [
        ["eu-shop", 7, 2_661, 59_800],
        ["lv-shop", 7, 270, 9_000],
    ]


def test_transaction_ids_are_paired_only_within_one_account():
    tx = combined({name: transactions_of(name) for name in ACCOUNTS})
    result = lk.reconcile_transactions(tx, both_reports())
    assert result.groupby(["account", "status"], observed=True).size().to_dict() == {
        ("eu-shop", "matched"): 5,
        ("lv-shop", "matched"): 2,
        ("lv-shop", "only_in_transactions"): 1,
    }
    summary = lk.reconciliation_summary(result)
    assert summary[["account", "status", "count"]].values.tolist() == [
        ["eu-shop", "matched", 5],
        ["lv-shop", "matched", 2],
        ["lv-shop", "only_in_transactions", 1],
    ]


def test_balance_records_chain_per_account_even_when_their_shop_ids_collide():
    report = both_reports()
    assert lk.check_balances(report).empty
    roll = lk.roll_forward(report)
    assert roll[["account", "opening", "closing", "unexplained"]].values.tolist() == [
        ["eu-shop", 5_000, 5_000 + 10_000 + 2_500 - 1_000 + 40_000 + 7_300 - 2_661, 0],
        ["lv-shop", 800, 800 + 8_000 - 240, 0],
    ]


# ------------------------------------------------------------------ the invariant, over every function

STATEMENT_CALLS = {
    "fee_breakdown": lk.fee_breakdown,
    "fee_breakdown_by_channel_and_month": lambda f: lk.fee_breakdown(f, by="channel", freq="M"),
    "roll_forward": lambda f: lk.roll_forward(f, freq="D"),
    "check_balances": lk.check_balances,
    "payout_groups": lk.payout_groups,
    "payout_items": lambda f: lk.payout_items(f, "P1"),
    "payout_items_open": lambda f: lk.payout_items(f, None),
    "payout_waterfall": lambda f: lk.payout_waterfall(f, "P1"),
    "effective_rate_change": lambda f: lk.effective_rate_change(
        f, ("2025-01-30", "2025-01-31"), ("2025-01-31", "2025-02-02"), by="channel"
    ),
}
TRANSACTION_CALLS = {
    "fee_breakdown": lambda f: lk.fee_breakdown(f, by="brand"),
    "fee_model": lambda f: lk.fee_model(f, by="gateway"),
    "fee_anomalies": lambda f: lk.fee_anomalies(f, lk.fee_model(f, by="gateway")),
    "effective_rate_change": lambda f: lk.effective_rate_change(
        f, ("2025-01-30 00:00", "2025-01-30 00:02"), ("2025-01-30 00:02", "2025-01-30 01:00"), by="brand"
    ),
}


def _rows_in_frame_order(result: pd.DataFrame, order: list[int], frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``alone`` results' positions moved to where those rows are in the interleaved frame."""
    if "position" not in result.columns:
        return result
    sizes = [len(frames[n]) for n in sorted(frames)]
    offsets = dict(zip(sorted(frames), np.r_[0, np.cumsum(sizes)][:-1], strict=True))
    where = np.empty(len(order), dtype="int64")
    where[np.asarray(order)] = np.arange(len(order))
    moved = [int(where[offsets[a] + p]) for a, p in zip(result["account"], result["position"], strict=True)]
    return result.assign(position=pd.array(moved, dtype=result["position"].dtype))


def _same(got: pd.DataFrame, expected: pd.DataFrame, name: str = "") -> None:
    try:
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), expected.reset_index(drop=True), check_categorical=False
        )
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=interleavings([len(EVENTS[n]) for n in ACCOUNTS]))
def test_statements_of_both_accounts_in_any_order_give_each_account_its_own_result(order):
    frames = {name: statements_of(name) for name in ACCOUNTS}
    both = combined(frames, order)
    for name, call in STATEMENT_CALLS.items():
        _same(call(both), _rows_in_frame_order(alone(call, frames), order, frames), name)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=interleavings([len(TRANSACTIONS[n]) for n in ACCOUNTS]))
def test_transactions_of_both_accounts_in_any_order_give_each_account_its_own_result(order):
    frames = {name: transactions_of(name) for name in ACCOUNTS}
    both = combined(frames, order)
    for name, call in TRANSACTION_CALLS.items():
        _same(call(both), alone(call, frames), name)
    reports = {name: records_of(name) for name in ACCOUNTS}
    pairs = {name: (frames[name], reports[name]) for name in ACCOUNTS}
    reconciled = lk.reconcile_transactions(both, both_reports())
    _same(reconciled, alone(lk.reconcile_transactions, pairs))
    _same(
        lk.reconciliation_summary(reconciled),
        alone(lambda t, r: lk.reconciliation_summary(lk.reconcile_transactions(t, r)), pairs),
    )
    for function in (lk.roll_forward, lk.check_balances):
        _same(function(both_reports()), alone(function, reports))


def test_a_frame_without_accounts_gives_exactly_todays_result():
    frame = statements_of("eu-shop")
    assert "account" not in lk.roll_forward(frame).columns
    assert "account" not in lk.payout_groups(frame).columns


def test_dropped_rows_are_counted_over_all_accounts():
    frames = {name: transactions_of(name) for name in ACCOUNTS}
    for name in ACCOUNTS:
        frames[name] = pd.concat([frames[name], frames[name].iloc[:1]], ignore_index=True)
    out = lk.fee_breakdown(combined(frames), invalid="drop")
    assert out.attrs["dropped"] == {"frame": {"missing_money": 0, "duplicated_ids": 2}}


# ------------------------------------------------------------------ refused


def test_a_row_without_an_account_is_refused_naming_the_row():
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    statements.loc[3, "account"] = None
    for call in (lk.roll_forward, lk.check_balances, lk.payout_groups, lk.fee_breakdown):
        with pytest.raises(ConfigurationError, match=r"statements\['account'\]='<NA> at row 3'|frame\['account'\]"):
            call(statements)


def test_one_frame_with_accounts_and_one_without_is_refused_naming_the_one_without():
    tx = combined({name: transactions_of(name) for name in ACCOUNTS})
    with pytest.raises(ConfigurationError, match=r"balance_records\.records=.*expected an 'account' column"):
        lk.reconcile_transactions(tx, records_of("eu-shop"))
    with pytest.raises(ConfigurationError, match=r"^transactions=.*expected an 'account' column"):
        lk.reconcile_transactions(transactions_of("eu-shop"), both_reports())
    with pytest.raises(ConfigurationError, match=r"^model="):
        lk.fee_anomalies(tx, lk.fee_model(transactions_of("eu-shop")))
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    with pytest.raises(ConfigurationError, match=r"^opening="):
        lk.roll_forward(statements, opening={"EUR": 0})
    report = both_reports()
    with pytest.raises(ConfigurationError, match=r"^statements\.opening_balance=.*'statements\.records' has one"):
        lk.roll_forward(SimpleNamespace(records=report.records, opening_balance=records_of("eu-shop").opening_balance))


def test_a_payout_id_no_account_has_is_refused_and_an_error_in_one_account_names_it():
    statements = combined({name: statements_of(name) for name in ACCOUNTS})
    with pytest.raises(ConfigurationError, match="payout_id='P9'"):
        lk.payout_items(statements, "P9")
    statements["amount"] = statements["amount"].mask(statements.index == 10)
    with pytest.raises(ConfigurationError, match=r"<NA> at row 1.*account 'lv-shop'"):
        lk.roll_forward(statements)


def test_an_empty_frame_with_an_account_column_gives_an_empty_result_with_one():
    statements = combined({name: statements_of(name) for name in ACCOUNTS}).iloc[:0]
    out = lk.payout_groups(statements)
    assert out.empty and out.columns[0] == "account"
