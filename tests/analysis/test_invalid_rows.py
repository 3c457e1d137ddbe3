"""Missing money and repeated ids: refused by default, dropped and counted with ``invalid="drop"``.

Before: ``fee_breakdown`` read a missing fee or amount as 0 (a rate of 480 bp
from a missing volume) and a repeated transaction id was counted twice by
``fee_breakdown`` and ``reconcile_transactions`` (record amounts doubled).
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit.analysis import (
    effective_rate_change,
    fee_anomalies,
    fee_breakdown,
    fee_model,
    reconcile_transactions,
)
from ledgerkit.errors import ConfigurationError

NOTHING = {"missing_money": 0, "duplicated_ids": 0}


def transactions(rows):
    """Transactions from (id, type, status, amount, fee, created) rows; EUR, gateway 7, visa."""
    ids, kinds, statuses, amounts, fees, created = (list(x) for x in zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "id": pd.array(ids, dtype="Int64"),
            "uid": pd.array([f"u{i}" for i in ids], dtype="str"),
            "type": pd.Series(kinds, dtype="str"),
            "status": pd.Series(statuses, dtype="str"),
            "amount": pd.array(amounts, dtype="Int64"),
            "transaction_fee": pd.array(fees, dtype="Int64"),
            "currency": pd.Series(["EUR"] * len(rows), dtype="category"),
            "created_at": pd.to_datetime(created, utc=True),
            "payment.gateway_id": pd.array([7] * len(rows), dtype="Int64"),
            "credit_card.brand": pd.array(["visa"] * len(rows), dtype="str"),
        }
    )


CLEAN = transactions(
    [
        (1, "payment", "successful", 10_000, 320, "2025-01-05"),
        (2, "payment", "successful", 5_000, 175, "2025-01-06"),
        (3, "refund", "successful", 2_000, 50, "2025-02-03"),
        (4, "payment", "successful", 20_000, 610, "2025-02-04"),
    ]
)
NA_AMOUNT = pd.concat([CLEAN, transactions([(5, "payment", "successful", None, 480, "2025-01-07")])], ignore_index=True)
NA_FEE = pd.concat([CLEAN, transactions([(6, "payment", "successful", 7_000, None, "2025-01-08")])], ignore_index=True)
REPEATED = pd.concat([CLEAN, CLEAN.iloc[[0, 3]]], ignore_index=True)


def totals(frame):
    return fee_breakdown(frame, by=())[["count", "fee", "volume_count", "volume", "rate_bp"]].values.tolist()


def test_nothing_dropped_is_said_too():
    assert totals(CLEAN) == [[4, 1_155, 3, 35_000, 330.0]]
    assert fee_breakdown(CLEAN).attrs["dropped"] == {"frame": NOTHING}


def test_a_missing_amount_is_refused_not_read_as_a_volume_of_zero():
    # Alone, the NA-amount payment used to read as fee 480 on volume 0.
    alone = NA_AMOUNT.iloc[[4]]
    with pytest.raises(ConfigurationError, match=r"frame\['amount'\]='<NA> at rows \[0\]'"):
        fee_breakdown(alone)
    with pytest.raises(ConfigurationError, match=r"frame\['amount'\]='<NA> at rows \[4\]'"):
        fee_breakdown(NA_AMOUNT)
    dropped = fee_breakdown(NA_AMOUNT, by=(), invalid="drop")
    assert dropped[["count", "fee", "volume"]].values.tolist() == [[4, 1_155, 35_000]]
    assert dropped.attrs["dropped"] == {"frame": {"missing_money": 1, "duplicated_ids": 0}}
    assert fee_breakdown(alone, by=(), invalid="drop").empty


def test_a_missing_fee_is_refused_not_read_as_zero():
    with pytest.raises(ConfigurationError, match=r"frame\['transaction_fee'\]='<NA> at rows \[4\]'"):
        fee_breakdown(NA_FEE)
    assert totals(NA_FEE.iloc[:4]) == totals(CLEAN)
    out = fee_breakdown(NA_FEE, by=(), invalid="drop")
    assert out[["count", "fee", "volume"]].values.tolist() == [[4, 1_155, 35_000]]
    assert out.attrs["dropped"]["frame"]["missing_money"] == 1


def test_a_failed_transaction_may_miss_its_fee():
    failed = pd.concat([CLEAN, transactions([(9, "payment", "failed", 100, None, "2025-01-09")])], ignore_index=True)
    assert totals(failed) == totals(CLEAN)


def test_a_repeated_id_is_refused_not_counted_twice():
    with pytest.raises(ConfigurationError, match=r"frame\['id'\]='id 1 at rows \[0, 4\]'"):
        fee_breakdown(REPEATED)
    out = fee_breakdown(REPEATED, by=(), invalid="drop")
    assert out[["count", "fee", "volume"]].values.tolist() == [[4, 1_155, 35_000]]
    assert out.attrs["dropped"] == {"frame": {"missing_money": 0, "duplicated_ids": 2}}


def test_rate_change_drops_the_same_rows():
    periods = ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01")
    expected = effective_rate_change(CLEAN, *periods)
    got = effective_rate_change(pd.concat([REPEATED, NA_FEE.iloc[[4]]], ignore_index=True), *periods, invalid="drop")
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["dropped"] == {"frame": {"missing_money": 1, "duplicated_ids": 2}}


def test_fee_model_and_anomalies_drop_and_count():
    with pytest.raises(ConfigurationError, match=r"transactions\['transaction_fee'\]"):
        fee_model(NA_FEE)
    model = fee_model(CLEAN, by="gateway")
    got = fee_model(pd.concat([REPEATED, NA_FEE.iloc[[4]]], ignore_index=True), by="gateway", invalid="drop")
    pd.testing.assert_frame_equal(got, model)
    assert got.attrs["dropped"] == {"transactions": {"missing_money": 1, "duplicated_ids": 2}}
    off = pd.concat([CLEAN, transactions([(8, "payment", "successful", 10_000, 999, "2025-01-10")])], ignore_index=True)
    anomalies = fee_anomalies(repeated_row(off, 4), model, invalid="drop")
    assert anomalies[["id", "expected_fee", "actual_fee", "difference"]].values.tolist() == [[8, 320, 999, 679]]
    assert anomalies.attrs["dropped"] == {"transactions": {"missing_money": 0, "duplicated_ids": 1}}
    with pytest.raises(ConfigurationError, match=r"transactions\['id'\]='id 8 at rows \[4, 5\]'"):
        fee_anomalies(repeated_row(off, 4), model)


def repeated_row(frame, position):
    return pd.concat([frame, frame.iloc[[position]]], ignore_index=True)


RECORDS = pd.DataFrame(
    {
        "record_id": pd.array([10, 11, 12], dtype="Int64"),
        "transaction_id": pd.array([1, 2, 3], dtype="Int64"),
        "transaction_uid": pd.array(["u1", "u2", "u3"], dtype="str"),
        "transaction_type": ["payment", "payment", "refund"],
        "currency": ["EUR", "EUR", "EUR"],
        "amount": pd.array([10_000, 5_000, -2_000], dtype="Int64"),
        "fee": pd.array([320, 175, 50], dtype="Int64"),
    }
)


def test_a_repeated_record_is_refused_not_doubled():
    expected = reconcile_transactions(CLEAN, RECORDS)
    assert expected["status"].tolist() == ["matched", "matched", "matched", "only_in_transactions"]
    assert expected.attrs["dropped"] == {"transactions": NOTHING, "balance_records": NOTHING}
    twice = pd.concat([RECORDS, RECORDS.iloc[[1]]], ignore_index=True)
    with pytest.raises(ConfigurationError, match=r"balance_records\['record_id'\]='id 11 at rows \[1, 3\]'"):
        reconcile_transactions(CLEAN, twice)
    got = reconcile_transactions(REPEATED, twice, invalid="drop")
    pd.testing.assert_frame_equal(got, expected)
    assert got["record_amount"].tolist()[:3] == [10_000, 5_000, -2_000]  # not 10_000 doubled
    assert got.attrs["dropped"] == {
        "transactions": {"missing_money": 0, "duplicated_ids": 2},
        "balance_records": {"missing_money": 0, "duplicated_ids": 1},
    }


def test_a_dropped_record_leaves_its_transaction_unmatched_in_plain_sight():
    holed = RECORDS.assign(fee=pd.array([320, None, 50], dtype="Int64"))
    got = reconcile_transactions(CLEAN, holed, invalid="drop")
    assert got[["transaction_id", "status"]].values.tolist() == [
        [1, "matched"],
        [2, "only_in_transactions"],
        [3, "matched"],
        [4, "only_in_transactions"],
    ]
    assert got.attrs["dropped"]["balance_records"] == {"missing_money": 1, "duplicated_ids": 0}


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["payment", "capture", "refund", "chargeback", "authorization"]),
        st.sampled_from(["successful", "successful", "failed"]),
        st.integers(1, 10**7),
        st.integers(0, 10**5),
        st.integers(0, 60),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(ROWS, st.data())
def test_dropping_repeats_and_holes_gives_the_clean_answer(rows, data):
    clean = transactions(
        [
            (i + 1, k, s, a, f, pd.Timestamp("2025-01-01") + pd.Timedelta(days=d))
            for i, (k, s, a, f, d) in enumerate(rows)
        ]
    )
    repeats = data.draw(st.lists(st.integers(0, len(clean) - 1), max_size=5))
    holes = [
        (1000 + i, "payment", "successful", None if i % 2 else 100, 5 if i % 2 else None, "2025-01-15")
        for i in range(data.draw(st.integers(0, 4)))
    ]
    dirty = pd.concat([clean, clean.iloc[repeats], *([transactions(holes)] if holes else [])], ignore_index=True)
    dirty = dirty.sample(frac=1, random_state=data.draw(st.integers(0, 2**31 - 1))).reset_index(drop=True)
    got = fee_breakdown(dirty, by="brand", freq="M", invalid="drop")
    pd.testing.assert_frame_equal(got, fee_breakdown(clean, by="brand", freq="M"), check_dtype=True)
    assert got.attrs["dropped"] == {"frame": {"missing_money": len(holes), "duplicated_ids": len(repeats)}}


def test_the_callers_index_plays_no_part():
    expected = reconcile_transactions(
        CLEAN, RECORDS.assign(fee=pd.array([320, None, 50], dtype="Int64")), invalid="drop"
    )
    relabelled = reconcile_transactions(
        REPEATED.set_axis([7] * len(REPEATED)),
        pd.concat([RECORDS, RECORDS.iloc[[0]]])
        .assign(fee=pd.array([320, None, 50, 320], dtype="Int64"))
        .set_axis([0, 0, 1, 1]),
        invalid="drop",
    )
    pd.testing.assert_frame_equal(relabelled, expected)
    assert relabelled.attrs["dropped"]["balance_records"] == {"missing_money": 1, "duplicated_ids": 1}
    assert totals(REPEATED.set_axis([0] * len(REPEATED)).iloc[:4]) == totals(CLEAN)
