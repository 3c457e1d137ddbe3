"""The analysis ties out exactly on the sandbox world, pulled through the loaders.

Everything here goes over real HTTP: the three loaders pull the whole world
(every shop, every currency) from the session sandbox, and the analysis must
find no break, no residual, no unmatched record — and exactly the planted
off-schedule fees.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit.analysis.categories import CATEGORIES
from ledgerkit.money import to_minor

MONEY_MOVING = {"payment", "capture", "refund", "chargeback", "credit", "payout"}
ACTIVITY = list(CATEGORIES)


@pytest.fixture(scope="module")
def world(sandbox):
    return sandbox.world


@pytest.fixture(scope="module")
def transactions(sandbox, world):
    frames = [
        lk.load_transactions(
            world.start,
            world.end,
            base_url=sandbox.transactions_url,
            shop_id=shop["id"],
            secret_key=shop["secret"],
            progress=False,
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
            world.start,
            world.end,
            currency=currency,
            user_id=1,
            progress=False,
            poll_interval=(0.05, 0.2),
            **sandbox.kwargs("balance_records"),
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
    assert sorted(transactions["id"].tolist()) == sorted(
        t["id"] for t in world.transactions if world.start <= t["created_at"] < world.end
    )
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
    expected = {
        p["payout_id"]: -to_minor(p["amount"], "EUR")[0]
        for p in world.payouts  # the PAYOUT row
        if p["created"] >= world.start
    }
    assert dict(zip(paid["payout_id"], paid["paid_out"].astype(int), strict=True)) == expected
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


def test_the_balance_report_cut_to_its_minimal_columns_ties_out_the_same(reports):
    """What a minimal report would hold: account ids, time, currency, type, the amount that moved the balance."""
    for report in reports.values():
        full = lk.roll_forward(report, freq="M")
        records = report.records.assign(amount=report.records["net"])
        records = records[
            [
                "merchant_id",
                "shop_id",
                "gateway_id",
                "created_at",
                "currency",
                "transaction_type",
                "amount",
                "balance_after",
            ]
        ]
        minimal = SimpleNamespace(records=records, opening_balance=report.opening_balance)
        cut = lk.roll_forward(minimal, freq="M")
        _assert_rolls(cut)
        assert cut[["opening", "closing", "reported_closing"]].equals(full[["opening", "closing", "reported_closing"]])
        assert (cut["fees"] == 0).all() and (cut[ACTIVITY].sum(axis=1) == full[ACTIVITY].sum(axis=1)).all()
        assert lk.check_balances(minimal).empty and lk.check_balances(report).empty


def test_fees_and_vat_per_payout_agree_across_fee_breakdown_payout_groups_and_roll_forward(statements):
    """Every VAT line is attached to its fee (by transaction_id here), in the payout of both."""
    groups = lk.payout_groups(statements).set_index("payout_id")
    breakdown = lk.fee_breakdown(statements, by="payout_id").set_index("payout_id")
    assert breakdown["fee"].to_dict() == (-groups[["trx_fee", "trx_fee_fix", "other_fees"]].sum(axis=1)).to_dict()
    assert breakdown["vat"].to_dict() == (-groups["vat"]).to_dict()
    by_type = lk.fee_breakdown(statements, by=("payout_id", "fee_type"))
    attached = by_type[by_type["fee_type"].ne("VAT")].groupby("payout_id", dropna=False)["vat"].sum()
    assert attached.to_dict() == (-groups["vat"]).to_dict()
    rolled = lk.roll_forward(statements, freq="M")
    assert (-int(rolled["fees"].sum()), -int(rolled["vat"].sum())) == (
        int(breakdown["fee"].sum()),
        int(breakdown["vat"].sum()),
    )
