"""ledgerkit._ingest.records on the seeds' example payloads and on hand-built records."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit._ingest.manifest import Manifest, attach_manifest, safe_parameters
from ledgerkit._ingest.records import build_page, empty_frame, finish, flatten, parse_times, row_id
from ledgerkit._ingest.schema import STATEMENTS, TRANSACTIONS
from ledgerkit.errors import DataError

DATA = Path(__file__).resolve().parents[1] / "data"
PII_COLUMNS = {
    "credit_card.holder",
    "credit_card.token",
    "customer.ip",
    "customer.email",
    "billing_address.first_name",
    "billing_address.last_name",
    "billing_address.address",
    "billing_address.city",
    "billing_address.zip",
    "billing_address.state",
    "billing_address.phone",
    "billing_address.birth_date",
    "additional_data.vendor.token",
    "three_d_secure_verification.xid",
    "three_d_secure_verification.cavv",
}


def seed_transactions() -> list[dict]:
    return json.loads((DATA / "transactions_seed_page.json").read_text())["transactions"]


def seed_statements() -> list[dict]:
    return json.loads((DATA / "statements_seed_page.json").read_text(), parse_float=Decimal)


def transactions_frame(records, **kw) -> pd.DataFrame:
    return finish([build_page(records, TRANSACTIONS, **kw).frame], TRANSACTIONS)


def statements_frame(records) -> pd.DataFrame:
    rows = [{"row_id": row_id(r), **r} for r in records]
    return finish([build_page(rows, STATEMENTS, default_currency="EUR").frame], STATEMENTS)


def test_seed_transactions_parse_to_documented_frame():
    df = transactions_frame(seed_transactions())
    assert df.columns[:21].tolist() == [
        "id",
        "uid",
        "type",
        "status",
        "payment_method_type",
        "amount",
        "transaction_fee",
        "pay_to_merchant",
        "currency",
        "discount_rate",
        "transaction_rate",
        "test",
        "created_at",
        "paid_at",
        "settled_at",
        "manually_corrected_at",
        "description",
        "tracking_id",
        "order_id",
        "message",
        "gateway_note",
    ]
    dtypes = df.dtypes.astype(str)
    assert (
        dtypes[["id", "amount", "transaction_fee", "pay_to_merchant", "shop.id", "payment.gateway_id"]]
        .eq("Int64")
        .all()
    )
    assert dtypes[["type", "status", "payment_method_type", "currency", "credit_card.brand"]].eq("category").all()
    assert dtypes[["discount_rate", "transaction_rate"]].eq("Float64").all()
    assert dtypes["test"] == "boolean" and dtypes["additional_data.browser.java_enabled"] == "boolean"
    assert dtypes[["created_at", "paid_at", "settled_at", "manually_corrected_at"]].eq("datetime64[ns, UTC]").all()
    assert dtypes[["uid", "order_id", "credit_card.bin", "additional_data.request_id"]].eq("str").all()
    assert df["id"].tolist() == [28860, 28861]
    assert df["uid"].tolist() == ["20528-f87e29fa35", "20529-66a8451797"]
    assert df["amount"].tolist() == [1000, 1000]
    assert df["transaction_fee"].tolist() == [0, 0]
    assert df["created_at"].tolist() == [
        pd.Timestamp("2022-01-27 14:07:00", tz="UTC"),
        pd.Timestamp("2022-01-27 14:11:53", tz="UTC"),
    ]
    assert df["paid_at"].isna().all()
    assert df["order_id"].tolist() == ["27724", "27725"]
    assert df["credit_card.exp_month"].tolist() == [12, 1]
    assert df["credit_card.last_4"].tolist() == ["0000", "0007"]
    assert df["additional_data.browser.screen_width"].tolist() == [1440, 1920]
    assert df["additional_data.avs_cvc.avs_verification.result_code"].isna().all()
    assert df["billing_address.country"].isna().all()
    assert not PII_COLUMNS & set(df.columns)
    assert not any(c.startswith("additional_data.tdsecure.") for c in df.columns)
    assert set(df.columns) <= set(TRANSACTIONS.columns)


def test_include_pii_keeps_private_columns():
    page = build_page(seed_transactions(), TRANSACTIONS, include_pii=True)
    assert page.pii_dropped == ()
    assert set(page.frame.columns) >= PII_COLUMNS
    assert page.frame["credit_card.holder"].tolist() == ["JJJJ", "John Doe"]
    assert page.frame["customer.ip"].tolist() == ["127.0.0.1", "79.98.55.24"]
    dropped = build_page(seed_transactions(), TRANSACTIONS).pii_dropped
    assert set(dropped) >= PII_COLUMNS and "billing_address.country" not in dropped


def test_unknown_fields_are_kept_and_typed_as_text_or_object():
    first, second = seed_transactions()
    second = {**second, "alternative": {"method": "ideal", "account_country": "NL"}, "score": 7}
    p1 = build_page([first], TRANSACTIONS).frame
    p2 = build_page([second], TRANSACTIONS).frame
    df = finish([p1, p2], TRANSACTIONS)
    assert df.columns[-3:].tolist() == ["alternative.account_country", "alternative.method", "score"]
    assert df["alternative.method"].tolist()[1] == "ideal" and pd.isna(df["alternative.method"][0])
    assert df["score"].tolist()[1] == 7
    assert p2["alternative.method"].dtype == "str" and p2["score"].dtype == object


def test_minor_unit_floats_round_half_even_and_are_counted():
    base = seed_transactions()[0]
    records = [
        {**base, "id": i, "transaction_fee": fee, "pay_to_merchant": None if fee is None else 1000 - fee}
        for i, fee in enumerate([29.0, 28.5, 29.5, 0.0, None], start=1)
    ]
    page = build_page(records, TRANSACTIONS)
    assert page.frame["transaction_fee"].tolist() == [29, 28, 30, 0, pd.NA]
    assert page.frame["pay_to_merchant"].tolist() == [971, 972, 970, 1000, pd.NA]
    assert page.rounded_values == 4


def test_categories_survive_concatenation_of_pages_with_different_values():
    a, b = seed_transactions()
    b = {**b, "currency": "EUR", "type": "refund"}
    df = finish([build_page([a], TRANSACTIONS).frame, build_page([b], TRANSACTIONS).frame], TRANSACTIONS)
    assert df["currency"].dtype == "category" and df["currency"].tolist() == ["USD", "EUR"]
    assert df["type"].tolist() == ["payment", "refund"]


def test_empty_frame_has_every_declared_column():
    df = empty_frame(TRANSACTIONS)
    assert len(df) == 0
    assert set(df.columns) == set(TRANSACTIONS.columns) - {c for c in TRANSACTIONS.columns if TRANSACTIONS.is_pii(c)}
    assert df["amount"].dtype == "Int64" and df["created_at"].dtype == "datetime64[ns, UTC]"


def test_bad_value_raises_data_error_with_rows():
    record = {**seed_transactions()[0], "amount": "ten"}
    with pytest.raises(DataError, match="'amount'") as info:
        build_page([record], TRANSACTIONS)
    assert info.value.rows == [record]


def test_seed_statements_parse_exactly():
    df = statements_frame(seed_statements())
    assert df.columns.tolist() == list(STATEMENTS.columns)
    assert df["amount"].tolist() == [-934, 1000, -30, -6, -25, -5, 1000, -30, -6, -25]
    assert df["balance_before"].tolist()[:3] == [934, 0, 1000]
    assert (df["balance_before"] + df["amount"]).equals(df["balance_after"])
    assert df["amount"].dtype == "Int64" and df["original_amount"].tolist() == [0] * 10
    assert df["created"][0] == pd.Timestamp("2023-01-06 00:00:02", tz="UTC")
    assert df["created"].dtype == "datetime64[ns, UTC]"
    assert df["currency"].tolist() == ["EUR"] * 10 and df["currency"].dtype == "category"
    assert df["type"].tolist()[:3] == ["PAYOUT", "INCOME", "TRX_FEE_FIX"]
    assert df["payout_id"].tolist()[:2] == ["48831", "48862"]
    assert df["transaction"].isna().tolist()[:2] == [True, False]
    assert df["exchange_rate"].dtype == "Float64"
    assert df["row_id"].is_unique


def test_row_id_is_stable_and_ignores_key_order_and_number_spelling():
    row = seed_statements()[1]
    assert row_id(row) == row_id(dict(reversed(list(row.items()))))
    assert row_id({**row, "amount": Decimal("10.00")}) == row_id(row)
    assert row_id({**row, "amount": Decimal("10.01")}) != row_id(row)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.decimals(
            min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2, allow_nan=False, allow_infinity=False
        ),
        min_size=1,
        max_size=20,
    )
)
def test_decimals_with_two_places_round_trip_exactly(amounts):
    text = (
        "["
        + ",".join(
            json.dumps({"created": "2025-01-01T00:00:00+0000", "type": "INCOME"})[:-1] + f', "amount": {a}}}'
            for a in amounts
        )
        + "]"
    )
    records = json.loads(text, parse_float=Decimal)
    page = build_page([{"row_id": str(i), **r} for i, r in enumerate(records)], STATEMENTS, default_currency="EUR")
    assert page.frame["amount"].tolist() == [int(a * 100) for a in amounts]
    assert page.rounded_values == 0


def test_parse_times_wall_clock_quirk_and_dst():
    zone = "Europe/Tallinn"
    got = parse_times(
        [
            "2025-01-15T12:00:00Z",
            "2025-07-15T12:00:00Z",
            "2025-03-30T04:30:00Z",
            "2025-10-26T03:30:00Z",
            "2025-01-15T12:00:00+02:00",
            None,
        ],
        wall_zone=zone,
    )
    assert got.tolist()[:5] == [
        pd.Timestamp("2025-01-15 10:00", tz="UTC"),  # EET +2
        pd.Timestamp("2025-07-15 09:00", tz="UTC"),  # EEST +3
        pd.Timestamp("2025-03-30 01:30", tz="UTC"),  # just after spring forward (03:00 -> 04:00)
        pd.Timestamp("2025-10-26 00:30", tz="UTC"),  # ambiguous hour: first occurrence (EEST)
        pd.Timestamp("2025-01-15 10:00", tz="UTC"),  # explicit offset taken at its word
    ]
    assert pd.isna(got.tolist()[5])
    assert parse_times(["2025-01-15T12:00:00Z"], wall_zone="UTC")[0] == pd.Timestamp("2025-01-15 12:00", tz="UTC")


def test_flatten_and_safe_parameters():
    assert flatten({"a": {"b": {"c": 1}}, "d": None}) == {"a.b.c": 1, "d": None}
    params = safe_parameters(
        {"secret_key": "hush", "retry": object(), "status": "all", "when": pd.Timestamp("2025-01-01")}
    )
    assert params == {"status": "all", "when": "2025-01-01T00:00:00"}


def test_manifest_is_plain_json_and_never_holds_the_secret():
    from ledgerkit._transport.http import PullStats

    stats = PullStats()
    stats.count(requests=3, bytes=100)
    stats.retried("429")
    m = Manifest("transactions", {"secret_key": "hush", "base_url": "http://x"}, include_pii=True)
    m.pages, m.rows, m.last_cursor, m.complete = 3, 12, 4711, True
    df = attach_manifest(pd.DataFrame({"a": [1]}), m, stats)
    d = df.attrs["ledgerkit"]
    assert json.loads(json.dumps(d)) == d
    assert "hush" not in json.dumps(d)
    assert (d["requests"], d["retries"], d["pages"], d["rows"], d["last_cursor"], d["complete"], d["include_pii"]) == (
        3,
        1,
        3,
        12,
        4711,
        True,
        True,
    )
    assert set(d) >= {
        "source",
        "parameters",
        "pages",
        "requests",
        "retries",
        "rows",
        "duplicates_dropped",
        "rounded_values",
        "first_cursor",
        "last_cursor",
        "complete",
        "include_pii",
        "pulled_at",
    }
