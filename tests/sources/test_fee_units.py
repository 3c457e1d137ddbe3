"""The fee-unit check reads Arrow pages in Arrow's kernels and frames in pandas: both must count alike."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit._ingest.arrow_pages import pages_to_frame, read_columns
from ledgerkit._ingest.schema import TRANSACTIONS
from ledgerkit.sources._fee_units import FeeUnits
from ledgerkit.sources.transactions import _fee_columns

#: An unknown code, no-decimal, two- and three-decimal currencies, and none.
CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD", "ZZZ", None])
MINOR = st.one_of(st.none(), st.integers(-(10**6), 10**6))


@st.composite
def record(draw, i: int) -> dict:
    kind = draw(st.sampled_from(["right", "major", "any"]))
    amount = draw(MINOR)
    fee = draw(st.one_of(MINOR, st.sampled_from([0.29, 1.5])))  # floats: a fee in major units, rounded
    if kind == "right" and amount is not None and isinstance(fee, int):
        pay = amount - fee
    elif kind == "major":  # as a provider giving the fee and the payout in major units would
        amount = draw(st.integers(0, 10**6))
        fee = draw(st.sampled_from([0.29, 1.5, 2]))
        pay = round(amount / 100 - fee, 2)
    else:
        pay = draw(MINOR)
    currency = draw(CURRENCIES)
    if currency is None:  # money needs a currency: a row without one has none
        amount = fee = pay = None
    return {
        "id": i,
        "type": draw(st.sampled_from(["payment", "payment", "refund", None])),
        "status": draw(st.sampled_from(["successful", "successful", "failed", None])),
        "amount": amount,
        "transaction_fee": fee,
        "pay_to_merchant": pay,
        "currency": currency,
    }


@st.composite
def pages(draw) -> list[bytes]:
    sizes = draw(st.lists(st.integers(1, 12), min_size=1, max_size=4))
    out, start = [], 1
    for n in sizes:
        rows = [draw(record(i)) for i in range(start, start + n)]
        out.append(orjson.dumps({"transactions": rows, "has_more": True}))
        start += n
    return out


def counted(page) -> FeeUnits:
    units = FeeUnits()
    units.observe(page)
    return units


@settings(max_examples=150, deadline=None)
@given(pages())
def test_arrow_pages_count_as_their_frame_does(bodies):
    read = [read_columns(b, TRANSACTIONS, records_key="transactions") for b in bodies]
    arrow = [p for p in read if p.frame is None]
    if len(arrow) < len(read):
        return  # a page the reference path read has no Arrow columns to compare
    batch = counted(_fee_columns(arrow))
    frame = counted(pages_to_frame(arrow, TRANSACTIONS))
    assert batch.summary() == frame.summary()
    assert batch.example == frame.example
    assert batch.contradiction() == frame.contradiction()
    one_by_one = FeeUnits()
    for page in arrow:  # an Arrow page as it is: plain arrays, not a batch's chunked ones
        one_by_one.observe(page)
    assert (one_by_one.summary(), one_by_one.example) == (frame.summary(), frame.example)


def test_a_page_of_fees_in_major_units_names_its_first_row_exactly():
    rows = [
        {"id": 7, "type": "payment", "status": "successful", "amount": 1000, "transaction_fee": 0.29,
         "pay_to_merchant": 9.71, "currency": "EUR"},
        {"id": 8, "type": "payment", "status": "successful", "amount": 5000, "transaction_fee": 10,
         "pay_to_merchant": 40, "currency": "KWD"},
        {"id": 9, "type": "payment", "status": "successful", "amount": 1000, "transaction_fee": 0.29,
         "pay_to_merchant": 9.71, "currency": "EUR"},
        {"id": 10, "type": "payment", "status": "successful", "amount": 500, "transaction_fee": 5,
         "pay_to_merchant": 495, "currency": "JPY"},
        {"id": 11, "type": "payment", "status": "successful", "amount": 2000, "transaction_fee": 0.5,
         "pay_to_merchant": 19.5, "currency": "EUR"},
    ]  # fmt: skip
    page = read_columns(orjson.dumps({"transactions": rows}), TRANSACTIONS, records_key="transactions")
    assert page.frame is None
    units = counted(_fee_columns([page]))
    assert units.summary() == {"checked": 5, "failed": 4, "fit_major_units": 3}
    assert units.example == {"id": 7, "currency": "EUR", "amount": 1000, "transaction_fee": 0,
                             "pay_to_merchant": 10}  # fmt: skip
    assert units.contradiction().startswith(
        "pay_to_merchant = amount - transaction_fee fails on 4 of 5 successful payments, and 3 of them fit"
    )


@pytest.mark.parametrize("missing", ["currency", "pay_to_merchant"])
def test_a_page_without_a_checked_column_is_not_counted(missing):
    row = {"id": 1, "type": "payment", "status": "successful", "amount": 100, "transaction_fee": 1,
           "pay_to_merchant": 99, "currency": "EUR"}  # fmt: skip
    frame = pd.DataFrame([row]).drop(columns=[missing])
    assert counted(frame).summary() == {"checked": 0, "failed": 0, "fit_major_units": 0}


def test_rows_without_a_known_currency_never_fit_the_major_unit_reading():
    """No exponent to scale by: a row of an unknown or missing currency can fail, never fit in major units."""
    rows = [
        {"id": 1, "type": "payment", "status": "successful", "amount": 1000, "transaction_fee": 0,
         "pay_to_merchant": 10, "currency": "EUR"},  # 0.29 and 9.71 EUR rounded: fits in major units
        {"id": 2, "type": "payment", "status": "successful", "amount": 1000, "transaction_fee": 0,
         "pay_to_merchant": 10, "currency": "ZZZ"},
        {"id": 3, "type": "payment", "status": "successful", "amount": 1000, "transaction_fee": 0,
         "pay_to_merchant": 10, "currency": None},
    ]  # fmt: skip
    frame = pd.DataFrame(rows).astype(dict.fromkeys(("amount", "transaction_fee", "pay_to_merchant"), "Int64"))
    assert counted(frame).summary() == {"checked": 3, "failed": 3, "fit_major_units": 1}
