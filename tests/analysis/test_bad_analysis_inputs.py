"""Bad inputs to every public analysis function: a clear LedgerkitError, never a bare error or a wrong number.

Table-driven: each case calls one analysis function with one bad input and
names the error class it must raise and the words its message must hold:
the input (parameter, column, value) and what was expected. Cases marked
"was:" record what happened before they were refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ledgerkit import analysis as lk
from ledgerkit.errors import ConfigurationError, LedgerkitError

JAN, FEB = ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01")


def transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.array([1, 2, 3, 4], dtype="Int64"),
            "uid": pd.array(["u1", "u2", "u3", "u4"], dtype="str"),
            "type": pd.Series(["payment", "payment", "refund", "payment"], dtype="category"),
            "status": pd.Series(["successful", "successful", "successful", "failed"], dtype="category"),
            "amount": pd.array([10_000, 20_000, 3_000, 500], dtype="Int64"),
            "transaction_fee": pd.array([320, 610, 50, 0], dtype="Int64"),
            "currency": pd.Series(["EUR"] * 4, dtype="category"),
            "created_at": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-02-03", "2025-02-04"], utc=True),
            "payment.gateway_id": pd.array([7, 7, 7, 7], dtype="Int64"),
            "payment.gateway_name": pd.array(["EUR cheap"] * 4, dtype="str"),
            "credit_card.brand": pd.array(["visa", "visa", "visa", "master"], dtype="str"),
        }
    )


def statements() -> pd.DataFrame:
    amounts = np.array([10_000, -250, -55, -3_000, -6_695])
    after = 1_000 + np.cumsum(amounts)
    return pd.DataFrame(
        {
            "row_id": pd.array([f"r{i}" for i in range(5)], dtype="str"),
            "created": pd.to_datetime(["2025-01-03", "2025-01-03", "2025-01-03", "2025-02-01", "2025-02-02"], utc=True),
            "type": pd.Series(["INCOME", "TRX_FEE", "VAT", "REFUND", "PAYOUT"], dtype="category"),
            "amount": pd.array(amounts, dtype="Int64"),
            "balance_before": pd.array(after - amounts, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": pd.Series(["EUR"] * 5, dtype="str"),
            "transaction_id": pd.array(["t1", "t1", "t1", "t2", None], dtype="str"),
            "channel": pd.array(["CARD_VISA"] * 5, dtype="str"),
            "payout_id": pd.array(["P1"] * 5, dtype="str"),
        }
    )


def records() -> pd.DataFrame:
    amount, fee = np.array([10_000, 20_000, -3_000]), np.array([320, 610, 50])
    net = amount - fee
    after = 500 + np.cumsum(net)
    return pd.DataFrame(
        {
            "merchant_id": pd.array([1, 1, 1], dtype="Int64"),
            "shop_id": pd.array([2, 2, 2], dtype="Int64"),
            "gateway_id": pd.array([7, 7, 7], dtype="Int64"),
            "record_id": pd.array([100, 101, 102], dtype="Int64"),
            "created_at": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-02-03"], utc=True),
            "transaction_uid": pd.array(["u1", "u2", "u3"], dtype="str"),
            "transaction_id": pd.array([1, 2, 3], dtype="Int64"),
            "transaction_type": pd.Series(["payment", "payment", "refund"], dtype="category"),
            "currency": pd.Series(["EUR"] * 3, dtype="category"),
            "amount": pd.array(amount, dtype="Int64"),
            "fee": pd.array(fee, dtype="Int64"),
            "net": pd.array(net, dtype="Int64"),
            "balance_before": pd.array(after - net, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
        }
    )


def minimal() -> pd.DataFrame:
    """A minimal DWH report: account id, time, currency, type, amount, balance_after."""
    return records()[["shop_id", "created_at", "currency", "transaction_type", "amount", "balance_after"]]


def opening() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "merchant_id": pd.array([1], dtype="Int64"),
            "shop_id": pd.array([2], dtype="Int64"),
            "gateway_id": pd.array([7], dtype="Int64"),
            "currency": ["EUR"],
            "date": pd.to_datetime(["2025-01-01"], utc=True),
            "opening_balance": pd.array([500], dtype="Int64"),
        }
    )


TX, ST, REC, OPEN = transactions(), statements(), records(), opening()
MODEL = lk.fee_model(TX, by="gateway")
RESULT = lk.reconcile_transactions(TX, REC)


def with_value(frame: pd.DataFrame, position: int, column: str, value: Any) -> pd.DataFrame:
    out = frame.copy()
    out.loc[position, column] = value
    return out


def twice(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The frame with ``column`` given a second time (a duplicated column name)."""
    return pd.concat([frame, frame[[column]]], axis=1)


def repeated_row(frame: pd.DataFrame, position: int = 0) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[position]]], ignore_index=True)


HUGE = pd.array([2**62] * 4, dtype="Int64")


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[], Any]
    words: tuple[str, ...]  # the input named, then what is expected
    error: type[LedgerkitError] = ConfigurationError


CASES = [
    # --- fee_breakdown on transactions
    Case("fees: not a frame", lambda: lk.fee_breakdown([1, 2]), ("frame='list'", "a pandas DataFrame")),
    Case(
        "fees: a column given twice (was: bare pandas error)",
        lambda: lk.fee_breakdown(twice(TX, "amount")),
        ("frame=", "'amount' 2 times", "column names are unique"),
    ),
    Case(
        "fees: NA fee (was: read as 0)",
        lambda: lk.fee_breakdown(with_value(TX, 0, "transaction_fee", pd.NA)),
        ("frame['transaction_fee']", "<NA> at rows [0]", "successful transactions", "never read as 0"),
    ),
    Case(
        "fees: NA amount (was: rate from a volume of 0)",
        lambda: lk.fee_breakdown(with_value(TX, 1, "amount", pd.NA)),
        ("frame['amount']", "<NA> at rows [1]", "successful payments and captures"),
    ),
    Case(
        "fees: NA currency",
        lambda: lk.fee_breakdown(with_value(TX, 2, "currency", pd.NA)),
        ("frame['currency']", "<NA> at rows [2]", "a value on every row that counts"),
    ),
    Case(
        "fees: NA status",
        lambda: lk.fee_breakdown(with_value(TX, 0, "status", pd.NA)),
        ("frame['status']", "<NA> at rows [0]", "every transaction"),
    ),
    Case(
        "fees: NA type of a successful row",
        lambda: lk.fee_breakdown(with_value(TX, 1, "type", pd.NA)),
        ("frame['type']", "<NA> at rows [1]", "successful transactions"),
    ),
    Case(
        "fees: repeated id (was: counted twice)",
        lambda: lk.fee_breakdown(repeated_row(TX)),
        ("frame['id']", "id 1 at rows [0, 4]", "each id on one row only", "invalid='drop'"),
    ),
    Case(
        "fees: text id",
        lambda: lk.fee_breakdown(TX.assign(id=["abc", "b", "c", "d"])),
        ("frame['id']='abc'", "whole-number ids"),
    ),
    Case(
        "fees: fractional id",
        lambda: lk.fee_breakdown(TX.assign(id=[1.5, 2.0, 3.0, 4.0])),
        ("frame['id']=1.5", "whole-number ids"),
    ),
    Case(
        "fees: boolean ids",
        lambda: lk.fee_breakdown(TX.assign(id=[True, False, True, False])),
        ("frame['id']='bool'", "whole-number ids"),
    ),
    Case(
        "fees: invalid keyword",
        lambda: lk.fee_breakdown(TX, invalid="ignore"),
        ("invalid='ignore'", "'raise'", "'drop'"),
    ),
    Case("fees: invalid None", lambda: lk.fee_breakdown(TX, invalid=None), ("invalid=None", "'raise'")),
    Case(
        "fees: float fees",
        lambda: lk.fee_breakdown(TX.astype({"transaction_fee": "float64"})),
        ("frame['transaction_fee']='float64'", "integer minor units"),
    ),
    Case(
        "fees: text amounts",
        lambda: lk.fee_breakdown(TX.assign(amount=["1", "2", "3", "4"])),
        ("frame['amount']", "integer minor units"),
    ),
    Case(
        "fees: unknown currency",
        lambda: lk.fee_breakdown(TX.assign(currency="QQQ")),
        ("frame['currency']='QQQ'", "ISO 4217"),
    ),
    Case(
        "fees: lower-case currency",
        lambda: lk.fee_breakdown(TX.assign(currency="eur")),
        ("frame['currency']='eur'", "ISO 4217"),
    ),
    Case("fees: unknown group", lambda: lk.fee_breakdown(TX, by="planet"), ("by='planet'", "one of")),
    Case("fees: group as a number", lambda: lk.fee_breakdown(TX, by=3), ("by=3", "a column name")),
    Case("fees: unknown freq", lambda: lk.fee_breakdown(TX, freq="Y"), ("freq='Y'", "'D' (day)")),
    Case(
        "fees: unknown time column",
        lambda: lk.fee_breakdown(TX, freq="M", time="when"),
        ("time='when'", "a timestamp column"),
    ),
    Case(
        "fees: missing time of a counted row",
        lambda: lk.fee_breakdown(with_value(TX, 0, "created_at", pd.NaT), freq="M"),
        ("frame['created_at']", "<NA> at rows [0]", "nor a missing status, type, time"),
    ),
    Case(
        "fees: naive times",
        lambda: lk.fee_breakdown(TX.assign(created_at=TX["created_at"].dt.tz_localize(None)), freq="D"),
        ("frame['created_at']", "tz-aware"),
    ),
    Case(
        "fees: money too large to add (was: silent wrap-around)",
        lambda: lk.fee_breakdown(TX.assign(amount=HUGE)),
        ("frame['amount']", "below 2**62"),
    ),
    Case(
        "fees: columns with two levels",
        lambda: lk.fee_breakdown(pd.concat({"x": TX}, axis=1)),
        ("frame=", "transaction_fee"),
    ),
    # --- fee_breakdown on statements
    Case(
        "fees: NA amount of a statement fee row",
        lambda: lk.fee_breakdown(with_value(ST, 1, "amount", pd.NA)),
        ("frame['amount']", "<NA> at rows [1]", "fee, VAT and income rows"),
    ),
    Case(
        "fees: statements without transaction_id",
        lambda: lk.fee_breakdown(ST.drop(columns="transaction_id")),
        ("frame=", "'transaction_id'"),
    ),
    Case("fees: brand of statements", lambda: lk.fee_breakdown(ST, by="brand"), ("by='brand'", "one of")),
    # --- fee_model
    Case("model: not a frame", lambda: lk.fee_model("tx.csv"), ("transactions='str'", "a pandas DataFrame")),
    Case(
        "model: NA fee (was: left out unseen)",
        lambda: lk.fee_model(with_value(TX, 0, "transaction_fee", pd.NA)),
        ("transactions['transaction_fee']", "<NA> at rows [0]", "successful payments and captures"),
    ),
    Case(
        "model: repeated id",
        lambda: lk.fee_model(repeated_row(TX, 1)),
        ("transactions['id']", "id 2 at rows [1, 4]", "each id on one row only"),
    ),
    Case(
        "model: NA status (was: left out unseen)",
        lambda: lk.fee_model(with_value(TX, 2, "status", pd.NA)),
        ("transactions['status']", "<NA> at rows [2]", "every transaction"),
    ),
    Case("model: tolerance as text", lambda: lk.fee_model(TX, tolerance="1"), ("tolerance='1'", "a whole number")),
    Case("model: negative tolerance", lambda: lk.fee_model(TX, tolerance=-1), ("tolerance=-1", ">= 0")),
    Case("model: tolerance True", lambda: lk.fee_model(TX, tolerance=True), ("tolerance=True", "a whole number")),
    Case("model: invalid keyword", lambda: lk.fee_model(TX, invalid="skip"), ("invalid='skip'", "'drop'")),
    Case(
        "model: a column given twice",
        lambda: lk.fee_model(twice(TX, "transaction_fee")),
        ("transactions=", "'transaction_fee' 2 times", "unique"),
    ),
    # --- fee_anomalies
    Case("anomalies: model not a frame", lambda: lk.fee_anomalies(TX, "model"), ("model='str'", "a pandas DataFrame")),
    Case(
        "anomalies: two contracts for one group (was: bare MergeError)",
        lambda: lk.fee_anomalies(TX, pd.concat([MODEL, MODEL])),
        ("model=", "more than one contract", "one contract per group"),
    ),
    Case(
        "anomalies: percent as text (was: bare TypeError)",
        lambda: lk.fee_anomalies(TX, MODEL.assign(percent="2.9")),
        ("model['percent']", "numbers"),
    ),
    Case(
        "anomalies: infinite percent",
        lambda: lk.fee_anomalies(TX, MODEL.assign(percent=np.inf)),
        ("model['percent']", "finite percents"),
    ),
    Case(
        "anomalies: fractional fixed part",
        lambda: lk.fee_anomalies(TX, MODEL.assign(fixed=1.5)),
        ("model['fixed']='float64'", "integer minor units"),
    ),
    Case(
        "anomalies: group key of another kind (was: bare merge error)",
        lambda: lk.fee_anomalies(TX, MODEL.assign(**{"payment.gateway_id": "7"})),
        ("model['payment.gateway_id']", "same kind as transactions['payment.gateway_id']"),
    ),
    Case(
        "anomalies: transactions without id",
        lambda: lk.fee_anomalies(TX.drop(columns="id"), MODEL),
        ("transactions=", "'id'"),
    ),
    Case(
        "anomalies: text ids",
        lambda: lk.fee_anomalies(TX.assign(id=["a", "b", "c", "d"]), MODEL),
        ("transactions['id']='a'", "whole-number ids"),
    ),
    Case(
        "anomalies: NA amount",
        lambda: lk.fee_anomalies(with_value(TX, 1, "amount", pd.NA), MODEL),
        ("transactions['amount']", "<NA> at rows [1]"),
    ),
    Case(
        "anomalies: NA type of a successful row",
        lambda: lk.fee_anomalies(with_value(TX, 0, "type", pd.NA), MODEL),
        ("transactions['type']", "<NA> at rows [0]", "successful transactions"),
    ),
    Case(
        "anomalies: model without currency",
        lambda: lk.fee_anomalies(TX, MODEL.drop(columns="currency")),
        ("model=", "'currency'"),
    ),
    # --- effective_rate_change
    Case(
        "rate change: NA fee",
        lambda: lk.effective_rate_change(with_value(TX, 0, "transaction_fee", pd.NA), JAN, FEB),
        ("frame['transaction_fee']", "<NA> at rows [0]"),
    ),
    Case(
        "rate change: repeated id",
        lambda: lk.effective_rate_change(repeated_row(TX), JAN, FEB),
        ("frame['id']", "id 1 at rows [0, 4]"),
    ),
    Case(
        "rate change: bare numbers as bounds (was: read as nanoseconds of 1970)",
        lambda: lk.effective_rate_change(TX, (1, 2), FEB),
        ("period_a=(1, 2)", "(start, end) pair"),
    ),
    Case(
        "rate change: a month name",
        lambda: lk.effective_rate_change(TX, "2025-01", FEB),
        ("period_a='2025-01'", "(start, end) pair"),
    ),
    Case(
        "rate change: reversed period",
        lambda: lk.effective_rate_change(TX, JAN, FEB[::-1]),
        ("period_b=", "start < end"),
    ),
    Case(
        "rate change: unparseable bounds",
        lambda: lk.effective_rate_change(TX, ("x", "y"), FEB),
        ("period_a=('x', 'y')", "timestamps"),
    ),
    Case(
        "rate change: fee types have no volume",
        lambda: lk.effective_rate_change(ST, JAN, FEB, by="fee_type"),
        ("by='fee_type'", "groups that split volume"),
    ),
    Case(
        "rate change: invalid keyword",
        lambda: lk.effective_rate_change(TX, JAN, FEB, invalid=1),
        ("invalid=1", "'raise'"),
    ),
    # --- roll_forward
    Case(
        "roll: opening in a currency absent from the frame",
        lambda: lk.roll_forward(ST, opening={"GBP": 500}),
        ("opening='GBP'", "a currency of the frame (['EUR'])"),
    ),
    Case(
        "roll: opening in an unknown currency",
        lambda: lk.roll_forward(ST, opening={"QQQ": 5}),
        ("opening='QQQ'", "ISO 4217"),
    ),
    Case(
        "roll: one currency given twice",
        lambda: lk.roll_forward(ST, opening={"EUR": 1, "eur": 2}),
        ("opening=", "one opening balance per currency"),
    ),
    Case(
        "roll: a currency of the frame without opening (was: opened at 0)",
        lambda: lk.roll_forward(ST, opening={}),
        ("opening={}", "every currency of the frame (none for ['EUR'])"),
    ),
    Case(
        "roll: fractional opening",
        lambda: lk.roll_forward(ST, opening={"EUR": 1.5}),
        ("opening=", "integer minor units"),
    ),
    Case(
        "roll: opening too large (was: bare OverflowError)",
        lambda: lk.roll_forward(ST, opening={"EUR": 2**70}),
        ("opening=", "integer minor units"),
    ),
    Case("roll: opening as a bare number", lambda: lk.roll_forward(ST, opening=500), ("opening='int'", "DataFrame")),
    Case(
        "roll: opening frame with naive dates (was: dates ignored)",
        lambda: lk.roll_forward(REC, opening=OPEN.assign(date=pd.Timestamp("2025-01-01"))),
        ("opening['date']", "tz-aware"),
    ),
    Case(
        "roll: opening frame with a missing balance",
        lambda: lk.roll_forward(REC, opening=with_value(OPEN, 0, "opening_balance", pd.NA)),
        ("opening['opening_balance']", "<NA> at row 0"),
    ),
    Case(
        "roll: opening frame with float money",
        lambda: lk.roll_forward(REC, opening=OPEN.assign(opening_balance=1.5)),
        ("opening['opening_balance']='float64'", "integer minor units"),
    ),
    Case(
        "roll: a category named like an output column (was: column overwritten)",
        lambda: lk.roll_forward(ST, categories={"INCOME": "closing"}),
        ("categories=", "roll-forward's own columns"),
    ),
    Case("roll: categories as a list", lambda: lk.roll_forward(ST, categories=["fx"]), ("categories=['fx']", "a dict")),
    Case("roll: freq None", lambda: lk.roll_forward(ST, freq=None), ("freq=None", "'M' (month)")),
    Case(
        "roll: a column given twice", lambda: lk.roll_forward(twice(ST, "amount")), ("statements=", "'amount' 2 times")
    ),
    Case(
        "roll: records without an account id",
        lambda: lk.roll_forward(REC.drop(columns=["merchant_id", "shop_id", "gateway_id"])),
        ("statements=", "'merchant_id', 'shop_id' or 'gateway_id'", "which balance a row moves"),
    ),
    Case(
        "roll: a record with neither net nor fee",
        lambda: lk.roll_forward(with_value(with_value(REC, 1, "fee", pd.NA), 1, "net", pd.NA)),
        ("statements['net']", "<NA> at rows [1]", "a net or a fee on every record"),
    ),
    Case(
        "roll: a missing balance_after",
        lambda: lk.roll_forward(with_value(REC, 0, "balance_after", pd.NA)),
        ("statements['balance_after']", "<NA> at row 0"),
    ),
    Case(
        "roll: a minimal report without balances nor opening",
        lambda: lk.roll_forward(minimal().drop(columns="balance_after")),
        ("opening=None", "no balance_before or balance_after"),
    ),
    Case(
        "roll: naive record times",
        lambda: lk.roll_forward(REC.assign(created_at=REC["created_at"].dt.tz_localize(None))),
        ("statements['created_at']", "tz-aware"),
    ),
    Case(
        "roll: a missing record time",
        lambda: lk.roll_forward(with_value(REC, 2, "created_at", pd.NaT)),
        ("statements['created_at']", "<NA> at row 2"),
    ),
    Case(
        "roll: text record ids",
        lambda: lk.roll_forward(REC.assign(record_id=["a", "b", "c"])),
        ("statements['record_id']='a'", "whole-number ids"),
    ),
    Case(
        "roll: text account ids",
        lambda: lk.roll_forward(REC.assign(shop_id=["shop-a"] * 3)),
        ("statements['shop_id']='shop-a'", "whole-number ids"),
    ),
    Case(
        "roll: money too large to add (was: silent wrap-around)",
        lambda: lk.roll_forward(ST.assign(amount=pd.array([2**62] * 5, dtype="Int64"))),
        ("statements['amount']", "below 2**62"),
    ),
    Case(
        "roll: float fees of records",
        lambda: lk.roll_forward(REC.assign(fee=REC["fee"].astype("float64"))),
        ("statements['fee']='float64'", "integer minor units"),
    ),
    # --- check_balances
    Case("breaks: not a frame", lambda: lk.check_balances([1, 2]), ("statements='list'", "a pandas DataFrame")),
    Case(
        "breaks: a minimal report without balance_after",
        lambda: lk.check_balances(minimal().drop(columns="balance_after")),
        ("statements=", "'balance_after'", "no chain to check"),
    ),
    Case(
        "breaks: a column given twice",
        lambda: lk.check_balances(twice(ST, "balance_after")),
        ("statements=", "'balance_after' 2 times"),
    ),
    Case(
        "breaks: statements without currency",
        lambda: lk.check_balances(ST.drop(columns="currency")),
        ("statements=", "'currency'"),
    ),
    Case(
        "breaks: float balances",
        lambda: lk.check_balances(REC.assign(balance_before=REC["balance_before"].astype(float))),
        ("statements['balance_before']='float64'", "integer minor units"),
    ),
    Case(
        "breaks: fractional record ids",
        lambda: lk.check_balances(REC.assign(record_id=[1.5, 2.0, 3.0])),
        ("statements['record_id']=1.5", "whole-number ids"),
    ),
    Case(
        "breaks: fractional account ids (was: bare error once a break was found)",
        lambda: lk.check_balances(with_value(REC, 1, "balance_after", 0).assign(gateway_id=[7.5] * 3)),
        ("statements['gateway_id']=7.5", "whole-number ids"),
    ),
    Case(
        "breaks: report whose records are not a frame",
        lambda: lk.check_balances(SimpleNamespace(records="x", opening_balance=None)),
        ("statements='str'", "a pandas DataFrame"),
    ),
    # --- payouts
    Case(
        "payouts: a column given twice",
        lambda: lk.payout_groups(twice(ST, "amount")),
        ("statements=", "'amount' 2 times"),
    ),
    Case(
        "payouts: NA amount",
        lambda: lk.payout_groups(with_value(ST, 0, "amount", pd.NA)),
        ("statements['amount']", "<NA> at row 0"),
    ),
    Case(
        "payouts: float amounts",
        lambda: lk.payout_groups(ST.assign(amount=ST["amount"].astype(float))),
        ("statements['amount']='float64'", "integer minor units"),
    ),
    Case(
        "payout items: unknown payout", lambda: lk.payout_items(ST, "nope"), ("payout_id='nope'", "a payout id present")
    ),
    Case(
        "payout waterfall: not a frame",
        lambda: lk.payout_waterfall("x", "P1"),
        ("statements='str'", "a pandas DataFrame"),
    ),
    # --- reconcile_transactions
    Case(
        "reconcile: fractional transaction id (was: bare TypeError)",
        lambda: lk.reconcile_transactions(TX.assign(id=[1.5, 2.0, 3.0, 4.0]), REC),
        ("transactions['id']=1.5", "whole-number ids"),
    ),
    Case(
        "reconcile: text transaction id (was: bare error)",
        lambda: lk.reconcile_transactions(TX.assign(id=["abc", "2", "3", "4"]), REC),
        ("transactions['id']='abc'", "whole-number ids"),
    ),
    Case(
        "reconcile: fractional record transaction_id",
        lambda: lk.reconcile_transactions(TX, REC.assign(transaction_id=[1.5, 2.0, 3.0])),
        ("balance_records['transaction_id']=1.5", "whole-number ids"),
    ),
    Case(
        "reconcile: text record transaction_id",
        lambda: lk.reconcile_transactions(TX, REC.assign(transaction_id=["abc", "2", "3"])),
        ("balance_records['transaction_id']='abc'", "whole-number ids"),
    ),
    Case(
        "reconcile: repeated transaction id (was: counted twice)",
        lambda: lk.reconcile_transactions(repeated_row(TX), REC),
        ("transactions['id']", "id 1 at rows [0, 4]", "each id on one row only"),
    ),
    Case(
        "reconcile: repeated record (was: record amounts doubled)",
        lambda: lk.reconcile_transactions(TX, repeated_row(REC)),
        ("balance_records['record_id']", "id 100 at rows [0, 3]", "each id on one row only"),
    ),
    Case(
        "reconcile: NA transaction fee (was: read as 0)",
        lambda: lk.reconcile_transactions(with_value(TX, 0, "transaction_fee", pd.NA), REC),
        ("transactions['transaction_fee']", "<NA> at rows [0]"),
    ),
    Case(
        "reconcile: a record with neither fee nor net",
        lambda: lk.reconcile_transactions(TX, with_value(with_value(REC, 0, "fee", pd.NA), 0, "net", pd.NA)),
        ("balance_records['fee']", "<NA> at rows [0]"),
    ),
    Case(
        "reconcile: NA record amount",
        lambda: lk.reconcile_transactions(TX, with_value(REC, 2, "amount", pd.NA)),
        ("balance_records['amount']", "<NA> at rows [2]"),
    ),
    Case(
        "reconcile: a minimal report without transaction ids",
        lambda: lk.reconcile_transactions(TX, REC.drop(columns=["transaction_id", "transaction_uid"])),
        ("balance_records=", "'transaction_id' or 'transaction_uid'"),
    ),
    Case(
        "reconcile: a column given twice",
        lambda: lk.reconcile_transactions(TX, twice(REC, "amount")),
        ("balance_records=", "'amount' 2 times"),
    ),
    Case(
        "reconcile: invalid keyword",
        lambda: lk.reconcile_transactions(TX, REC, invalid="skip"),
        ("invalid='skip'", "'drop'"),
    ),
    Case(
        "reconcile: NA transaction id",
        lambda: lk.reconcile_transactions(with_value(TX, 0, "id", pd.NA), REC),
        ("transactions['id']", "<NA> at row 0"),
    ),
    Case(
        "reconcile: records not a frame",
        lambda: lk.reconcile_transactions(TX, 5),
        ("balance_records='int'", "DataFrame"),
    ),
    Case(
        "reconcile: NA status",
        lambda: lk.reconcile_transactions(with_value(TX, 3, "status", pd.NA), REC),
        ("transactions['status']", "<NA> at rows [3]", "every transaction"),
    ),
    # --- reconciliation_summary
    Case("summary: not a frame", lambda: lk.reconciliation_summary("x"), ("result='str'", "a pandas DataFrame")),
    Case(
        "summary: text money (was: bare ArrowInvalid)",
        lambda: lk.reconciliation_summary(RESULT.assign(amount_difference="x")),
        ("result['amount_difference']", "integer minor units"),
    ),
    Case(
        "summary: float money (was: bare TypeError)",
        lambda: lk.reconciliation_summary(RESULT.assign(fee_difference=1.5)),
        ("result['fee_difference']", "integer minor units"),
    ),
    Case(
        "summary: without status",
        lambda: lk.reconciliation_summary(RESULT.drop(columns="status")),
        ("result=", "'status'"),
    ),
]


def test_there_are_many_cases_across_every_public_analysis_function():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gets_a_clear_error(case: Case):
    with pytest.raises(LedgerkitError) as info:
        case.call()
    assert type(info.value) is case.error
    message = str(info.value)
    missing = [word for word in case.words if word not in message]
    assert not missing, f"{message!r} lacks {missing}"


def test_an_opening_keyed_in_lower_case_is_used_not_ignored():
    """``roll_forward(opening={"eur": 500})`` once ignored the opening (issue 11); it is EUR's opening of 500."""
    lower = lk.roll_forward(ST, opening={"eur": 500}, freq="M")
    upper = lk.roll_forward(ST, opening={"EUR": 500}, freq="M")
    pd.testing.assert_frame_equal(lower, upper)
    assert lower["opening"].iloc[0] == 500
    assert lower["unexplained"].tolist() == [500, 500]  # the statements open at 1,000: 500 is not explained
