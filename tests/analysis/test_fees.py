"""Tests of ledgerkit.analysis.fees on small hand-built frames and hypothesis invariants."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerkit.analysis.fees import effective_rate_change, fee_anomalies, fee_breakdown, fee_model
from ledgerkit.errors import ConfigurationError
from ledgerkit.money import to_minor

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TX_DTYPES = {
    "id": "Int64",
    "type": "str",
    "status": "str",
    "amount": "Int64",
    "transaction_fee": "Int64",
    "currency": "category",
    "created_at": "datetime64[ns, UTC]",
    "paid_at": "datetime64[ns, UTC]",
    "payment.gateway_id": "Int64",
    "payment.gateway_name": "str",
    "payment_method_type": "category",
    "credit_card.brand": "str",
    "credit_card.product": "str",
    "credit_card.issuer_country": "str",
}
TX_DEFAULTS = {
    "type": "payment",
    "status": "successful",
    "currency": "EUR",
    "created_at": "2025-01-15T12:00:00Z",
    "payment.gateway_id": 301,
    "payment.gateway_name": "EUR cheap",
    "payment_method_type": "credit_card",
    "credit_card.brand": "visa",
    "credit_card.product": "classic",
    "credit_card.issuer_country": "EE",
}


def transactions(*rows: dict) -> pd.DataFrame:
    """A transactions frame (CONTRACTS §3 columns) from partial rows; ids 1, 2, …"""
    records = [{**TX_DEFAULTS, "id": i + 1, **row} for i, row in enumerate(rows)]
    frame = pd.DataFrame({c: [r.get(c) for r in records] for c in TX_DTYPES})
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["paid_at"] = frame["created_at"]
    return frame.astype(TX_DTYPES)


ST_DTYPES = {
    "row_id": "str",
    "created": "datetime64[ns, UTC]",
    "type": "category",
    "amount": "Int64",
    "balance_before": "Int64",
    "balance_after": "Int64",
    "currency": "str",
    "transaction_id": "str",
    "channel": "str",
    "payout_id": "str",
}


def statements(*rows: tuple) -> pd.DataFrame:
    """A statements frame from (created, type, amount minor, transaction_id, channel) rows, chained."""
    amounts = [r[2] for r in rows]
    after = np.cumsum(amounts, dtype="int64") if rows else np.array([], dtype="int64")
    frame = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(len(rows))],
            "created": pd.to_datetime([r[0] for r in rows], utc=True),
            "type": [r[1] for r in rows],
            "amount": amounts,
            "balance_before": after - np.asarray(amounts, dtype="int64"),
            "balance_after": after,
            "currency": "EUR",
            "transaction_id": [r[3] for r in rows],
            "channel": [r[4] for r in rows],
            "payout_id": None,
        }
    )
    return frame.astype(ST_DTYPES)


def values(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame[columns].itertuples(index=False)]


# --------------------------------------------------------------------------
# fee_breakdown: transactions

MIXED = transactions(
    {"amount": 10_000, "transaction_fee": 165},
    {"amount": 20_000, "transaction_fee": 325, "credit_card.brand": "master"},
    {"type": "refund", "amount": 5_000, "transaction_fee": 25},
    {"type": "chargeback", "amount": 20_000, "transaction_fee": 25, "credit_card.brand": "master"},
    {"status": "failed", "amount": 9_999, "transaction_fee": 0},
    {"amount": 12_000, "transaction_fee": 390, "currency": "JPY", "payment.gateway_id": 304},
    {"amount": 15_000, "transaction_fee": 577, "currency": "KWD", "payment.gateway_id": 305},
    {"type": "authorization", "amount": 5_000, "transaction_fee": 0},
    {"type": "capture", "amount": 5_000, "transaction_fee": 95, "created_at": "2025-02-03T00:00:00Z"},
)


def test_transactions_by_brand_exact_per_currency():
    out = fee_breakdown(MIXED, by="brand")
    assert list(out.columns) == ["currency", "credit_card.brand", "count", "fee", "volume_count", "volume", "rate_bp"]
    assert values(out, list(out.columns)) == [
        ("EUR", "master", 2, 350, 1, 20_000, 175.0),
        ("EUR", "visa", 4, 285, 2, 15_000, 190.0),
        ("JPY", "visa", 1, 390, 1, 12_000, 325.0),
        ("KWD", "visa", 1, 577, 1, 15_000, 5_770_000 / 15_000),
    ]
    assert out["fee"].dtype == "Int64" and out["rate_bp"].dtype == "Float64"


def test_transactions_by_type_refund_and_chargeback_fees_have_no_volume():
    out = fee_breakdown(MIXED.loc[MIXED["currency"].eq("EUR")], by="type")
    assert values(out, ["type", "count", "fee", "volume", "rate_bp"]) == [
        ("authorization", 1, 0, 0, None),
        ("capture", 1, 95, 5_000, 190.0),
        ("chargeback", 1, 25, 0, None),
        ("payment", 2, 490, 30_000, 490_0000 / 30_000),
        ("refund", 1, 25, 0, None),
    ]


def test_gateway_brings_its_name_and_raw_columns_work():
    out = fee_breakdown(MIXED, by=("gateway", "credit_card.issuer_country", "product", "method"))
    assert list(out.columns[:6]) == [
        "currency",
        "payment.gateway_id",
        "payment.gateway_name",
        "credit_card.issuer_country",
        "credit_card.product",
        "payment_method_type",
    ]
    assert values(out, ["currency", "payment.gateway_id", "fee"]) == [
        ("EUR", 301, 635),
        ("JPY", 304, 390),
        ("KWD", 305, 577),
    ]


def test_freq_adds_period_starts():
    monthly = fee_breakdown(MIXED, by=(), freq="M")
    assert values(monthly.loc[monthly["currency"].eq("EUR")], ["period", "fee", "volume"]) == [
        (pd.Timestamp("2025-01-01", tz="UTC"), 540, 30_000),
        (pd.Timestamp("2025-02-01", tz="UTC"), 95, 5_000),
    ]
    weekly = fee_breakdown(MIXED, by=(), freq="W")
    assert weekly["period"].dtype == "datetime64[ns, UTC]"
    assert sorted(set(weekly["period"].dt.strftime("%Y-%m-%d"))) == ["2025-01-13", "2025-02-03"]
    by_paid = fee_breakdown(MIXED, by=(), freq="D", time="paid_at")
    assert by_paid["fee"].sum() == 540 + 95 + 390 + 577


def test_empty_frame_gives_typed_empty_result():
    out = fee_breakdown(MIXED.iloc[:0], by=("brand", "type"), freq="W")
    assert len(out) == 0
    assert dict(out.dtypes.astype(str)) == {
        "currency": "str",
        "credit_card.brand": "str",
        "type": "str",
        "period": "datetime64[ns, UTC]",
        "count": "Int64",
        "fee": "Int64",
        "volume_count": "Int64",
        "volume": "Int64",
        "rate_bp": "Float64",
    }


def test_single_row_and_missing_brand_is_its_own_group():
    one = transactions({"amount": 1_234, "transaction_fee": 0, "credit_card.brand": None, "currency": "JPY"})
    out = fee_breakdown(one, by="brand")
    assert values(out, ["currency", "credit_card.brand", "count", "fee", "volume", "rate_bp"]) == [
        ("JPY", None, 1, 0, 1_234, 0.0)
    ]


# --------------------------------------------------------------------------
# fee_breakdown: statements

STATEMENTS = statements(
    ("2025-01-06T04:10:08Z", "INCOME", 1_000, "t1", "EE_SWED_OB"),
    ("2025-01-06T04:10:08Z", "TRX_FEE_FIX", -30, "t1", "EE_SWED_OB"),
    ("2025-01-06T04:10:08Z", "VAT", -6, "t1", "EE_SWED_OB"),
    ("2025-01-06T04:10:08Z", "TRX_FEE", -25, "t1", "EE_SWED_OB"),
    ("2025-01-06T04:10:08Z", "VAT", -5, "t1", "EE_SWED_OB"),
    ("2025-01-07T09:00:00Z", "INCOME", 2_000, "t2", "LV_SWED_OB"),
    ("2025-01-08T09:00:00Z", "REFUND", -300, "t1", "EE_SWED_OB"),
    ("2025-01-08T09:00:00Z", "VAT", -7, "t9", "EE_SWED_OB"),
    ("2025-01-31T23:59:59Z", "CHARGEBACK_FEE", -500, "t3", "LV_SWED_OB"),
    ("2025-02-01T00:00:00Z", "VAT", -110, "t3", "LV_SWED_OB"),
    ("2025-02-02T00:00:00Z", "PAYOUT", -2_017, None, None),
)
STATEMENT_COLUMNS = ["count", "fee", "vat", "fee_incl_vat", "volume_count", "volume"]


def test_statements_by_fee_type_attach_vat_and_show_it_as_a_line():
    out = fee_breakdown(STATEMENTS)
    assert list(out.columns) == ["currency", "fee_type", *STATEMENT_COLUMNS, "rate_bp", "rate_incl_vat_bp"]
    assert values(out, ["fee_type", *STATEMENT_COLUMNS]) == [
        ("CHARGEBACK_FEE", 1, 500, 110, 610, 2, 3_000),
        ("TRX_FEE", 1, 25, 5, 30, 2, 3_000),
        ("TRX_FEE_FIX", 1, 30, 6, 36, 2, 3_000),
        ("VAT", 4, 128, None, None, 2, 3_000),
    ]
    assert out["fee"].sum() == 30 + 6 + 25 + 5 + 7 + 500 + 110
    assert out.loc[1, "rate_bp"] == 25 * 10_000 / 3_000
    assert out.loc[2, "rate_incl_vat_bp"] == 36 * 10_000 / 3_000


def test_statements_by_channel_and_month_vat_follows_its_fee():
    out = fee_breakdown(STATEMENTS, by="channel", freq="M")
    assert values(out, ["channel", "period", *STATEMENT_COLUMNS, "rate_bp", "rate_incl_vat_bp"]) == [
        ("EE_SWED_OB", pd.Timestamp("2025-01-01", tz="UTC"), 2, 55, 18, 73, 1, 1_000, 550.0, 730.0),
        ("LV_SWED_OB", pd.Timestamp("2025-01-01", tz="UTC"), 1, 500, 110, 610, 1, 2_000, 2_500.0, 3_050.0),
    ]


def test_statements_empty_and_errors():
    empty = fee_breakdown(STATEMENTS.iloc[:0], by="channel")
    assert len(empty) == 0 and list(empty.columns) == [
        "currency",
        "channel",
        *STATEMENT_COLUMNS,
        "rate_bp",
        "rate_incl_vat_bp",
    ]
    with pytest.raises(ConfigurationError, match="by='brand'"):
        fee_breakdown(STATEMENTS, by="brand")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fee_breakdown([1, 2]), "frame='list'"),
        (lambda: fee_breakdown(MIXED.drop(columns="status")), "'status'"),
        (lambda: fee_breakdown(MIXED, by="colour"), "by='colour'"),
        (lambda: fee_breakdown(MIXED, by=3), "by=3"),
        (lambda: fee_breakdown(MIXED, by="fee_type"), "by='fee_type'"),
        (lambda: fee_breakdown(MIXED, freq="Q"), "freq='Q'"),
        (lambda: fee_breakdown(MIXED, freq="D", time="nope"), "time='nope'"),
        (lambda: fee_breakdown(MIXED.astype({"transaction_fee": "float64"})), "transaction_fee"),
        (
            lambda: fee_breakdown(MIXED.assign(created_at=MIXED["created_at"].dt.tz_localize(None)), freq="D"),
            "created_at",
        ),
        (lambda: fee_breakdown(pd.DataFrame({"a": [1]})), "transaction_fee"),
    ],
)
def test_bad_input_is_a_configuration_error(call, match):
    with pytest.raises(ConfigurationError, match=match):
        call()


# --------------------------------------------------------------------------
# Invariants (hypothesis)

START = pd.Timestamp("2025-01-01", tz="UTC")
tx_row = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["payment", "capture", "refund", "chargeback", "authorization"]),
        "status": st.sampled_from(["successful", "successful", "failed"]),
        "currency": st.sampled_from(["EUR", "JPY", "KWD"]),
        "credit_card.brand": st.sampled_from(["visa", "master", None]),
        "payment.gateway_id": st.sampled_from([301, 302, 303]),
        "amount": st.integers(1, 10**7),
        "transaction_fee": st.integers(0, 10**5),
        "created_at": st.integers(0, 90 * 86_400 - 1).map(lambda s: START + pd.Timedelta(seconds=s)),
    }
)
tx_frames = st.lists(tx_row, max_size=40).map(lambda rows: transactions(*rows))


def _per_currency(frame: pd.DataFrame, columns: list[str]) -> dict:
    sums = frame.groupby("currency", observed=True)[columns].sum()
    return {c: tuple(int(v) for v in row) for c, row in sums.iterrows() if row.any()}


def _oracle(frame: pd.DataFrame) -> dict:
    """Per currency (fee, volume) straight from the definition, in Python ints."""
    out: dict = {}
    for row in frame.itertuples(index=False):
        if row.status != "successful":
            continue
        fee, volume = out.get(row.currency, (0, 0))
        out[row.currency] = (
            fee + row.transaction_fee,
            volume + (row.amount if row.type in ("payment", "capture") else 0),
        )
    return {c: v for c, v in out.items() if any(v)}


@SETTINGS
@given(tx_frames, st.sampled_from([(), "brand", ("brand", "type"), "gateway", ("country", "method")]))
def test_grouping_conserves_totals(frame, by):
    assert _per_currency(fee_breakdown(frame, by=by), ["fee", "volume"]) == _oracle(frame)


@settings(SETTINGS, max_examples=25)
@given(tx_frames, st.sampled_from(["D", "W", "M"]), st.integers(1, 90 * 86_400 - 1))
def test_splitting_the_period_adds_up(frame, freq, cut_seconds):
    cut = START + pd.Timedelta(seconds=cut_seconds)
    early = frame.loc[frame["created_at"].lt(cut)]
    late = frame.loc[frame["created_at"].ge(cut)]
    whole = _per_currency(fee_breakdown(frame, by="brand"), ["count", "fee", "volume"])
    halves = pd.concat([fee_breakdown(early, by="brand"), fee_breakdown(late, by="brand")])
    assert _per_currency(halves, ["count", "fee", "volume"]) == whole
    assert _per_currency(fee_breakdown(frame, by="brand", freq=freq), ["count", "fee", "volume"]) == whole


statement_row = st.tuples(
    st.sampled_from(["INCOME", "TRX_FEE", "TRX_FEE_FIX", "VAT", "CHARGEBACK_FEE", "REFUND"]),
    st.integers(1, 10**6),
    st.sampled_from(["t1", "t2", "t3"]),
    st.sampled_from(["EE", "LV"]),
    st.integers(0, 60 * 86_400),
)


@settings(SETTINGS, max_examples=25)
@given(st.lists(statement_row, max_size=30))
def test_statement_fee_types_add_up_to_total_cost(rows):
    frame = statements(
        *[
            (START + pd.Timedelta(seconds=s), t, a if t == "INCOME" else -a, tx, ch)
            for t, a, tx, ch, s in sorted(rows, key=lambda r: r[4])
        ]
    )
    charges = -int(frame.loc[frame["type"].isin(["TRX_FEE", "TRX_FEE_FIX", "VAT", "CHARGEBACK_FEE"]), "amount"].sum())
    by_type = fee_breakdown(frame)
    by_channel = fee_breakdown(frame, by="channel", freq="W")
    assert int(by_type["fee"].sum()) == charges
    assert int(by_channel["fee_incl_vat"].sum()) == charges
    assert int(by_channel["volume"].sum()) == int(frame.loc[frame["type"].eq("INCOME"), "amount"].sum())
    assert int(by_type.loc[by_type["fee_type"].ne("VAT"), "vat"].sum()) <= int(by_channel["vat"].sum())


# --------------------------------------------------------------------------
# fee_model and fee_anomalies


def _fee(amount: int, percent: str, fixed: int) -> int:
    """The provider's rule, written independently with Decimal."""
    share = (Decimal(amount) * Decimal(percent) / 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(share) + fixed


CONTRACTS = [
    # (gateway, brand, currency, percent, fixed, amounts from, to)
    (301, "visa", "EUR", "2.90", 30, 500, 200_000),
    (302, "master", "EUR", "1.4", 25, 500, 200_000),
    (304, "jcb", "JPY", "3.25", 40, 300, 90_000),
    (305, "visa", "KWD", "1.45", 100, 1_000, 2_000_000),
    (306, None, "EUR", "0.00", 29, 100, 50_000),
]


def _corrupt(fee: int, k: int, offset: int) -> int:
    """A wrong fee at least 2 minor units off: doubled, raised, or lowered (never below 0)."""
    if k == 0:
        return 2 * fee + 5
    if k % 2 or fee < 2:
        return fee + offset
    return fee - min(offset, fee)


def _planted(rng: np.random.Generator, n: int = 40, corrupt: int = 3) -> tuple[pd.DataFrame, set]:
    rows, bad = [], set()
    for gateway, brand, currency, percent, fixed, low, high in CONTRACTS:
        amounts = rng.integers(low, high, n)
        for k, amount in enumerate(amounts):
            fee = _fee(int(amount), percent, fixed)
            if k < corrupt:
                fee = _corrupt(fee, k, int(rng.integers(2, 400)))
                bad.add(len(rows) + 1)
            rows.append(
                {
                    "amount": int(amount),
                    "transaction_fee": fee,
                    "currency": currency,
                    "payment.gateway_id": gateway,
                    "credit_card.brand": brand,
                }
            )
    rows.append({"type": "refund", "amount": 7_000, "transaction_fee": 999})  # not fitted, not judged
    rows.append({"status": "failed", "amount": 7_000, "transaction_fee": 999})
    return transactions(*rows), bad


def test_fee_model_recovers_planted_contracts_despite_wrong_fees():
    frame, _ = _planted(np.random.default_rng(7))
    model = fee_model(frame)
    assert list(model.columns) == [
        "payment.gateway_id",
        "credit_card.brand",
        "currency",
        "percent",
        "fixed",
        "n",
        "n_explained",
        "share_explained",
    ]
    assert values(model, list(model.columns)) == [
        (301, "visa", "EUR", 2.9, 30, 40, 37, 37 / 40),
        (302, "master", "EUR", 1.4, 25, 40, 37, 37 / 40),
        (304, "jcb", "JPY", 3.25, 40, 40, 37, 37 / 40),
        (305, "visa", "KWD", 1.45, 100, 40, 37, 37 / 40),
        (306, None, "EUR", 0.0, 29, 40, 37, 37 / 40),
    ]
    assert model["fixed"].dtype == "Int64" and model["percent"].dtype == "Float64"


def test_fee_anomalies_are_exactly_the_corrupted_fees():
    frame, bad = _planted(np.random.default_rng(11))
    found = fee_anomalies(frame, fee_model(frame))
    assert set(found["id"].tolist()) == bad
    assert list(found.columns) == [
        "id",
        "payment.gateway_id",
        "credit_card.brand",
        "currency",
        "amount",
        "expected_fee",
        "actual_fee",
        "difference",
    ]
    assert (found["difference"] == found["actual_fee"] - found["expected_fee"]).all()
    first = found.iloc[0]
    assert first["expected_fee"] == _fee(int(first["amount"]), "2.90", 30)


@SETTINGS
@given(
    st.integers(0, 600).map(lambda p: f"{p / 100:.2f}"),
    st.integers(0, 150),
    st.lists(st.integers(50_000, 5_000_000), min_size=10, max_size=28, unique=True).map(
        lambda a: sorted(set(a) | {50_000, 5_000_000})  # amounts far apart pin the percent down
    ),
    st.lists(st.integers(2, 10_000), max_size=3),
    st.sampled_from(["EUR", "JPY", "KWD"]),
)
def test_fit_is_exact_and_anomalies_are_the_corrupted(percent, fixed, amounts, offsets, currency):
    fees = [_fee(a, percent, fixed) for a in amounts]
    for k, offset in enumerate(offsets):
        fees[k] += offset
    frame = transactions(
        *[{"amount": a, "transaction_fee": f, "currency": currency} for a, f in zip(amounts, fees, strict=True)]
    )
    model = fee_model(frame, by="currency", tolerance=0)
    assert values(model, ["percent", "fixed", "n", "n_explained"]) == [
        (float(percent), fixed, len(amounts), len(amounts) - len(offsets))
    ]
    assert fee_anomalies(frame, model)["id"].tolist() == list(range(1, len(offsets) + 1))


def test_fee_model_huge_amounts_do_not_overflow():
    amounts = [10**14, 3 * 10**14 + 7, 5 * 10**13 + 1, 123_456_789_012_345]
    frame = transactions(*[{"amount": a, "transaction_fee": _fee(a, "2.9", 30), "currency": "KWD"} for a in amounts])
    assert values(fee_model(frame, by="currency"), ["percent", "fixed", "n_explained"]) == [(2.9, 30, 4)]


def test_fee_model_edge_cases():
    same = transactions({"amount": 1_000, "transaction_fee": 59}, {"amount": 1_000, "transaction_fee": 59})
    model = fee_model(same, by="gateway")
    assert values(
        model, ["payment.gateway_id", "payment.gateway_name", "currency", "percent", "fixed", "n", "n_explained"]
    ) == [(301, "EUR cheap", "EUR", None, None, 2, None)]
    assert len(fee_anomalies(same, model)) == 0
    empty = fee_model(MIXED.iloc[:0])
    assert len(empty) == 0 and empty["percent"].dtype == "Float64" and empty["n"].dtype == "Int64"
    with pytest.raises(ConfigurationError, match="tolerance"):
        fee_model(MIXED, tolerance=-1)
    with pytest.raises(ConfigurationError, match="model"):
        fee_anomalies(MIXED, pd.DataFrame({"currency": ["EUR"]}))


# --------------------------------------------------------------------------
# effective_rate_change

JAN = ("2025-01-01", "2025-02-01")
FEB = (pd.Timestamp("2025-02-01", tz="UTC"), pd.Timestamp("2025-03-01", tz="UTC"))
RATE_FRAME = transactions(
    {"amount": 10_000, "transaction_fee": 100, "payment.gateway_id": 1, "created_at": "2025-01-05T00:00:00Z"},
    {"amount": 10_000, "transaction_fee": 300, "payment.gateway_id": 2, "created_at": "2025-01-31T23:59:59Z"},
    {"amount": 10_000, "transaction_fee": 150, "payment.gateway_id": 1, "created_at": "2025-02-01T00:00:00Z"},
    {"amount": 30_000, "transaction_fee": 600, "payment.gateway_id": 3, "created_at": "2025-02-10T00:00:00Z"},
    {"amount": 99_999, "transaction_fee": 999, "payment.gateway_id": 3, "created_at": "2025-03-01T00:00:00Z"},
    {"amount": 5_000, "transaction_fee": 90, "currency": "JPY", "created_at": "2025-02-10T00:00:00Z"},
)


def test_rate_change_exact_with_new_and_vanished_groups():
    out = effective_rate_change(RATE_FRAME, JAN, FEB, by="payment.gateway_id")
    assert list(out.columns) == [
        "currency",
        "kind",
        "payment.gateway_id",
        "volume_a",
        "fee_a",
        "volume_b",
        "fee_b",
        "weight_a",
        "weight_b",
        "rate_a_bp",
        "rate_b_bp",
        "mix_bp",
        "rate_effect_bp",
        "change_bp",
    ]
    assert values(out.loc[out["currency"].eq("EUR")], list(out.columns)) == [
        # R_a = 200 bp: gateway 1 (100 bp) lost share (+25 mix), dearer gateway 2 (300 bp) vanished
        # (-50 mix), gateway 3 is new at exactly R_a (no effect); only gateway 1 got dearer (+12.5).
        ("EUR", "group", 1, 10_000, 100, 10_000, 150, 0.5, 0.25, 100.0, 150.0, 25.0, 12.5, 37.5),
        ("EUR", "group", 2, 10_000, 300, 0, 0, 0.5, 0.0, 300.0, None, -50.0, 0.0, -50.0),
        ("EUR", "group", 3, 0, 0, 30_000, 600, 0.0, 0.75, None, 200.0, 0.0, 0.0, 0.0),
        ("EUR", "total", None, 20_000, 400, 40_000, 750, 1.0, 1.0, 200.0, 187.5, -25.0, 12.5, -12.5),
    ]
    jpy = out.loc[out["currency"].eq("JPY")]
    assert values(jpy, ["kind", "volume_a", "volume_b", "rate_b_bp", "mix_bp", "change_bp"]) == [
        ("group", 0, 5_000, 180.0, None, None),
        ("total", 0, 5_000, 180.0, None, None),
    ]


def test_rate_change_group_mix_is_centred_on_the_average_rate():
    """Volume moving from a cheap product to dearer ones raises every line's mix (the reviewer's case)."""

    def line(product, amount, fee, when):
        return {"amount": amount, "transaction_fee": fee, "credit_card.product": product, "created_at": when}

    jan, feb = "2025-01-10T00:00:00Z", "2025-02-10T00:00:00Z"
    frame = transactions(
        line("Standard", 80_000, 800, jan),
        line("Premium", 20_000, 600, jan),  # R_a = 140 bp
        line("Standard", 40_000, 400, feb),
        line("Premium", 40_000, 1_200, feb),
        line("Business", 20_000, 800, feb),
    )
    out = effective_rate_change(frame, JAN, FEB, by="product")
    assert values(out, ["kind", "credit_card.product", "mix_bp", "rate_effect_bp", "change_bp"]) == [
        ("group", "Business", 52.0, 0.0, 52.0),  # new at 400 bp: 0.2 * (400 - 140), all mix
        ("group", "Premium", 32.0, 0.0, 32.0),  # +0.2 share at 300 bp: 0.2 * (300 - 140)
        ("group", "Standard", 16.0, 0.0, 16.0),  # -0.4 share at 100 bp: -0.4 * (100 - 140)
        ("total", None, 100.0, 0.0, 100.0),
    ]


def test_rate_change_statements_by_channel_and_errors():
    out = effective_rate_change(STATEMENTS, ("2025-01-01", "2025-01-07"), ("2025-01-07", "2025-02-01"))
    assert values(out, ["kind", "channel", "fee_a", "volume_a", "fee_b", "volume_b", "change_bp"]) == [
        ("group", "EE_SWED_OB", 66, 1_000, 7, 0, 35.0 - 660.0 + 660.0),  # centred on R_a = 660 bp
        ("group", "LV_SWED_OB", 0, 0, 610, 2_000, 3_050.0 - 660.0),
        ("total", None, 66, 1_000, 617, 2_000, 3_085.0 - 660.0),
    ]
    empty = effective_rate_change(RATE_FRAME.iloc[:0], JAN, FEB)
    assert len(empty) == 0 and empty["mix_bp"].dtype == "Float64"
    for bad in [("2025-02-01", "2025-01-01"), ("2025-01-01",), "2025-01", ("x", "y")]:
        with pytest.raises(ConfigurationError, match="period_a"):
            effective_rate_change(RATE_FRAME, bad, FEB)
    with pytest.raises(ConfigurationError, match="fee_type"):
        effective_rate_change(STATEMENTS, JAN, FEB, by="fee_type")


@SETTINGS
@given(tx_frames, st.sampled_from(["brand", "type", "gateway", ("brand", "country")]))
def test_mix_plus_rate_is_the_change(frame, by):
    out = effective_rate_change(frame, ("2025-01-01", "2025-02-15"), ("2025-02-15", "2025-04-01"), by=by)
    defined = out.loc[out["change_bp"].notna()]
    parts = (defined["mix_bp"] + defined["rate_effect_bp"]).to_numpy(dtype=float)
    assert np.allclose(parts, defined["change_bp"].to_numpy(dtype=float), rtol=1e-12, atol=1e-9)
    for _currency, lines in defined.groupby("currency", observed=True):
        total = lines.loc[lines["kind"].eq("total")].iloc[0]
        rate_a = Fraction(int(total["fee_a"]) * 10_000, int(total["volume_a"]))
        rate_b = Fraction(int(total["fee_b"]) * 10_000, int(total["volume_b"]))
        assert total["change_bp"] == float(rate_b - rate_a)
        groups = lines.loc[lines["kind"].eq("group")]
        assert int(groups["fee_a"].sum()) == int(total["fee_a"]) and int(groups["volume_b"].sum()) == int(
            total["volume_b"]
        )
        assert np.isclose(float(groups["mix_bp"].sum()), float(total["mix_bp"]), atol=1e-9)
        assert np.isclose(float(groups["change_bp"].sum()), float(total["change_bp"]), atol=1e-9)


# --------------------------------------------------------------------------
# The sandbox world


@pytest.fixture(scope="module")
def world():
    return pytest.importorskip("ledgerkit.sandbox.world").World.generate(seed=0)


@pytest.fixture(scope="module")
def world_transactions(world):
    """The world's transactions as a frame of the columns the fee functions read (built by hand)."""
    rows = [
        {
            "type": t["type"],
            "status": t["status"],
            "amount": t["amount"],
            "transaction_fee": int(t["transaction_fee"]),
            "currency": t["currency"],
            "created_at": pd.Timestamp(t["created_at"]),
            "payment.gateway_id": t["payment"]["gateway_id"],
            "credit_card.brand": (t.get("credit_card") or {}).get("brand"),
        }
        for t in world.transactions
    ]
    return transactions(*rows).assign(id=pd.array([t["id"] for t in world.transactions], dtype="Int64"))


def test_anomalies_on_the_sandbox_world_are_its_off_schedule_fees(world, world_transactions):
    model = fee_model(world_transactions)
    assert set(fee_anomalies(world_transactions, model)["id"].tolist()) == set(world.planted["off_schedule_ids"])
    recovered = 0
    for (gateway, brand), (percent, fixed) in world.fee_schedule.items():
        brands = model["credit_card.brand"].eq(brand) if brand else model["credit_card.brand"].isna()
        line = model.loc[model["payment.gateway_id"].eq(gateway) & brands.fillna(False)]
        if len(line) and line["n"].iloc[0] >= 3:
            assert values(line, ["percent", "fixed"]) == [(float(percent), fixed)]
            recovered += 1
    assert recovered >= len(world.fee_schedule) - 2


def test_march_rises_by_mix_per_gateway_and_by_rate_per_brand(world_transactions):
    feb, mar = ("2025-02-01", "2025-03-01"), ("2025-03-01", "2025-04-01")
    by_gateway = effective_rate_change(world_transactions, feb, mar, by="payment.gateway_id")
    by_brand = effective_rate_change(world_transactions, feb, mar, by="brand")
    gateway_total = by_gateway.loc[by_gateway["currency"].eq("EUR") & by_gateway["kind"].eq("total")].iloc[0]
    brand_total = by_brand.loc[by_brand["currency"].eq("EUR") & by_brand["kind"].eq("total")].iloc[0]
    assert gateway_total["change_bp"] == brand_total["change_bp"] > 0
    assert gateway_total["mix_bp"] > 5 * abs(gateway_total["rate_effect_bp"])
    assert brand_total["rate_effect_bp"] > 5 * abs(brand_total["mix_bp"])


def test_world_statements_fee_types_and_vat(world):
    frame = pd.DataFrame(
        {
            "created": pd.to_datetime([r["created"] for r in world.statements], utc=True),
            "type": [r["type"] for r in world.statements],
            "amount": pd.array([to_minor(r["amount"], "EUR")[0] for r in world.statements], dtype="Int64"),
            "currency": "EUR",
            "transaction_id": [r.get("transaction_id") for r in world.statements],
            "channel": [r.get("channel") for r in world.statements],
        }
    )
    out = fee_breakdown(frame).set_index("fee_type")
    charges = frame.loc[frame["type"].isin(["TRX_FEE", "TRX_FEE_FIX", "VAT", "CHARGEBACK_FEE"]), "amount"]
    assert int(out["fee"].sum()) == -int(charges.sum())
    assert int(out["vat"].sum()) == int(out.loc["VAT", "fee"])  # every VAT row found its fee
    for fee_type in ("TRX_FEE", "TRX_FEE_FIX"):
        line = out.loc[fee_type]
        assert line["vat"] <= line["fee"] * 22 / 100 < line["vat"] + line["count"]  # 22 %, rounded down per row
    assert out["volume"].nunique() == 1 and out["volume"].iloc[0] == int(
        frame.loc[frame["type"].eq("INCOME"), "amount"].sum()
    )
