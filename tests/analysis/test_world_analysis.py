"""The analysis ties out exactly on the sandbox world, pulled through the loaders.

Everything here goes over real HTTP: the three loaders pull the whole world
(every shop, every currency) from the session sandbox, and the analysis must
find no break, no residual, no unmatched record — and exactly the planted
off-schedule fees.
"""

from __future__ import annotations

import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit.money import to_minor

MONEY_MOVING = {"payment", "capture", "refund", "chargeback", "credit", "payout"}
ACTIVITY = ["income", "fees", "vat", "refunds", "chargebacks", "payouts", "other"]


@pytest.fixture(scope="module")
def world(sandbox):
    return sandbox.world


@pytest.fixture(scope="module")
def transactions(sandbox, world):
    frames = [
        lk.load_transactions(
            world.start, world.end, base_url=sandbox.transactions_url,
            shop_id=shop["id"], secret_key=shop["secret"], progress=False,
        )
        for shop in world.shops
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def statements(sandbox, world):
    return lk.load_statements(since=world.start.date(), progress=False, **sandbox.kwargs("statements"))


@pytest.fixture(scope="module")
def reports(sandbox, world):
    currencies = sorted({g["currency"] for g in world.gateways})
    return {
        currency: lk.load_balance_records(
            world.start, world.end, currency=currency, user_id=1, progress=False,
            poll_interval=(0.05, 0.2), **sandbox.kwargs("balance_records"),
        )
        for currency in currencies
    }


def _assert_rolls(rf: pd.DataFrame) -> None:
    activity = [c for c in ACTIVITY if c in rf.columns]
    assert (rf["opening"] + rf[activity].sum(axis=1) == rf["closing"]).all()
    for _, chain in rf.groupby("currency", observed=True):
        assert (chain["opening"].iloc[1:].to_numpy() == chain["closing"].iloc[:-1].to_numpy()).all()
    assert (rf["unexplained"] == 0).all()


def test_every_transaction_of_the_world_is_loaded_once(transactions, world):
    assert sorted(transactions["id"].tolist()) == sorted(t["id"] for t in world.transactions
                                                         if world.start <= t["created_at"] < world.end)
    assert transactions["id"].is_unique


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_statement_roll_forward_ties_out_every_period(statements, freq):
    rf = lk.roll_forward(statements, freq=freq)
    _assert_rolls(rf)
    assert rf["opening"].iloc[0] == statements["balance_before"].iloc[0]
    assert rf["closing"].iloc[-1] == statements["balance_after"].iloc[-1]


def test_statements_and_balance_records_have_no_break(statements, reports):
    assert lk.check_balances(statements).empty
    for report in reports.values():
        assert lk.check_balances(report.records).empty


def test_every_payout_is_fully_explained_and_equals_the_world(statements, world):
    groups = lk.payout_groups(statements)
    paid = groups[~groups["is_open"]]
    assert (paid["residual"] == 0).all()
    expected = {p["payout_id"]: -to_minor(p["amount"], "EUR")[0] for p in world.payouts  # the PAYOUT row
                if p["created"] >= world.start}
    assert dict(zip(paid["payout_id"], paid["paid_out"].astype(int))) == expected
    open_rows = statements["payout_id"].isna().sum()
    assert groups.loc[groups["is_open"], "rows"].sum() == open_rows


def test_balance_report_roll_forward_ties_to_the_reported_closing(reports):
    for currency, report in reports.items():
        rf = lk.roll_forward(report.records, opening=report.opening_balance, freq="M")
        _assert_rolls(rf)
        assert set(rf["currency"]) == {currency}


def test_transactions_reconcile_with_balance_records_exactly(transactions, reports, world):
    for currency, report in reports.items():
        tx = transactions[transactions["currency"] == currency]
        paid = tx[tx["paid_at"].ge(world.start) & tx["paid_at"].lt(world.end)]
        result = lk.reconcile_transactions(paid, report)
        assert set(result["status"]) == {"matched"}, currency
        movers = paid[(paid["status"] == "successful") & paid["type"].isin(MONEY_MOVING)]
        assert len(result) == len(movers) == len(report.records)


def test_fee_anomalies_are_exactly_the_planted_ones(transactions, world):
    model = lk.fee_model(transactions)
    found = lk.fee_anomalies(transactions, model)
    assert sorted(found["id"].tolist()) == sorted(world.off_schedule_ids)
