"""The transactions and statements loaders against every documented variant of the real services.

Each test runs once per sandbox dialect (``dialect_sandbox``, docs/CONTRACTS.md
§2.6). The expected rows come from what the dialect serves (``sb.world`` and
``sb.served_statements()``), never from the loaders.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit import RetryPolicy
from ledgerkit.sandbox import Sandbox
from ledgerkit.sources.transactions import METHODS

JAN, FEB, MAR, APR = (datetime(2025, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4))
FAST = RetryPolicy(max_retries=6, backoff_base=0.001, backoff_max=0.005, retry_after_floor=0.001, sleep=lambda s: None)


def tx_kw(sb: Sandbox, **kw) -> dict:
    return {**sb.kwargs("transactions"), "retry": FAST, "progress": False, **kw}


def st_kw(sb: Sandbox, **kw) -> dict:
    return {**sb.kwargs("statements"), "retry": FAST, "progress": False, **kw}


def offered(sb: Sandbox) -> tuple[str, ...]:
    return sb.dialect.payment_methods


def served_transactions(sb: Sandbox, start=JAN, end=APR, field="created_at") -> list[dict]:
    """The shop's transactions the dialect serves in ``[start, end)``, with the method name it serves them under."""
    shop = int(sb.credentials["transactions"].user)
    rows = []
    for t in sb.world.transactions:
        method = (
            t["payment_method_type"] if t["payment_method_type"] != "alternative" else sb.dialect.alternative_method
        )
        if t["shop"]["id"] == shop and method is not None and t[field] is not None and start <= t[field] < end:
            rows.append({"id": t["id"], "amount": t["amount"], "method": method})
    return sorted(rows, key=lambda r: r["id"])


def assert_transactions(df: pd.DataFrame, expected: list[dict]) -> None:
    assert df["id"].tolist() == [r["id"] for r in expected]
    assert df["amount"].tolist() == [r["amount"] for r in expected]
    assert df["payment_method_type"].astype(str).tolist() == [r["method"] for r in expected]


def served_statements(sb: Sandbox, since: date, until: date | None = None, payout_id: str | None = None) -> list[dict]:
    lo = datetime.combine(since, datetime.min.time(), UTC)
    hi = datetime.combine(until, datetime.min.time(), UTC) if until else None
    return [
        r
        for r in sb.served_statements()
        if r["created"] >= lo
        and (hi is None or r["created"] < hi)
        and (payout_id is None or r.get("payout_id") == payout_id)
    ]


def cents(value) -> int:
    return round(value * 100)


def assert_statements(df: pd.DataFrame, expected: list[dict]) -> None:
    assert len(df) == len(expected)
    assert df["amount"].tolist() == [cents(r["amount"]) for r in expected]
    assert df["balance_after"].tolist() == [cents(r["balance_after"]) for r in expected]
    assert df["type"].astype(str).tolist() == [r["type"] for r in expected]
    assert df["row_id"].is_unique


# ------------------------------------------------------------------ transactions


@pytest.mark.parametrize("workers", [1, 4])
def test_the_default_pull_returns_every_offered_method_and_learns_the_rest(dialect_sandbox, workers):
    sb = dialect_sandbox
    df = lk.load_transactions(JAN, APR, max_workers=workers, **tx_kw(sb))
    assert_transactions(df, served_transactions(sb))
    learnt = df.attrs["ledgerkit"]["dialect"]
    assert learnt["methods_refused"] == sorted(set(METHODS) - set(offered(sb)))
    assert learnt["count"] == ("report total" if sb.dialect.count == "report" else "page rows")
    assert learnt["fee_identity"]["checked"] > 0 and learnt["fee_identity"]["fit_major_units"] == 0


def test_every_parameter_backwards_and_a_named_method(dialect_sandbox):
    sb = dialect_sandbox
    method = offered(sb)[-1]
    whole = lk.load_transactions(JAN, APR, payment_method_type=method, status="successful", max_workers=1, **tx_kw(sb))
    expected = [r for r in served_transactions(sb) if r["method"] == method]
    successful = {t["id"] for t in sb.world.transactions if t["status"] == "successful"}
    assert_transactions(whole, [r for r in expected if r["id"] in successful])
    middle = int(whole["id"].iloc[len(whole) // 2])
    older = lk.load_transactions(
        JAN, APR, payment_method_type=method, status="successful", ending_before=middle, **tx_kw(sb)
    )
    assert older["id"].tolist() == [i for i in whole["id"].tolist() if i < middle]


def test_windows_at_boundary_seconds_and_across_daylight_saving(dialect_sandbox):
    sb = dialect_sandbox
    kw = tx_kw(sb, time_zone="Europe/Tallinn")
    one = lk.load_transactions("2025-03-29", "2025-04-01", max_workers=1, **kw)
    many = lk.load_transactions("2025-03-29", "2025-04-01", max_workers=4, **kw)
    start, end = pd.Timestamp("2025-03-29", tz="Europe/Tallinn"), pd.Timestamp("2025-04-01", tz="Europe/Tallinn")
    assert_transactions(one, served_transactions(sb, start.tz_convert(UTC), end.tz_convert(UTC)))
    pd.testing.assert_frame_equal(many.drop(columns=[]), one)
    days = lk.load_transactions("2025-03-29", "2025-04-01", date_type="settled_at", max_workers=3, **kw)
    assert_transactions(days, served_transactions(sb, start.tz_convert(UTC), end.tz_convert(UTC), "settled_at"))


@pytest.mark.parametrize(
    "faults",
    [
        {"rate_limit_every": 4, "retry_after": 0},
        {"error_every": 5, "error_burst": 2},
        {"drop_every": 6},
    ],
    ids=["429", "5xx", "drop"],
)
def test_faults_give_the_exact_rows(dialect_sandbox, faults):
    sb = dialect_sandbox
    sb.set_faults(**faults)
    df = lk.load_transactions(JAN, APR, **tx_kw(sb))
    assert_transactions(df, served_transactions(sb))
    assert df.attrs["ledgerkit"]["retries"] > 0


def test_transactions_through_the_store_round_trip(dialect_sandbox, tmp_path):
    sb = dialect_sandbox
    first = lk.load_transactions(JAN, APR, store=tmp_path, **tx_kw(sb))
    again = lk.load_transactions(JAN, APR, store=tmp_path, **tx_kw(sb))
    assert_transactions(first, served_transactions(sb))
    pd.testing.assert_frame_equal(again, first)


# ------------------------------------------------------------------ statements


@pytest.mark.parametrize("workers", [1, 4])
def test_statements_of_a_period_are_exact(dialect_sandbox, workers):
    sb = dialect_sandbox
    df = lk.load_statements(since="2025-01-01", until="2025-03-01", max_workers=workers, **st_kw(sb))
    assert_statements(df, served_statements(sb, date(2025, 1, 1), date(2025, 3, 1)))
    m = df.attrs["ledgerkit"]
    assert m["complete"] and m["count_verified"] and m["rounded_values"] == 0
    assert lk.check_balances(df).empty  # float artefacts and identical lines break nothing
    last_day = served_statements(sb, date(2025, 3, 1), date(2025, 3, 2))
    if last_day and sb.dialect.statement_bounds == "dates":  # the whole until day came back and was dropped here
        assert m["dialect"]["until"] == "inclusive day" and m["outside_window"] == len(last_day)
    else:  # an instant reading sends nothing of that day (none at 00:00:00 in this world)
        assert "until" not in m["dialect"] and m.get("outside_window", 0) == 0


def test_a_payouts_rows_and_the_server_default_page_size(dialect_sandbox):
    sb = dialect_sandbox
    payout = next(r["payout_id"] for r in sb.served_statements() if r["type"] == "PAYOUT")
    df = lk.load_statements(payout_id=payout, **st_kw(sb))
    assert_statements(df, [r for r in sb.served_statements() if r.get("payout_id") == payout])
    whole = lk.load_statements(since="2025-01-01", max_workers=1, **st_kw(sb))
    assert whole.attrs["ledgerkit"]["dialect"]["per_page"] == (sb.dialect.per_page_default or 10)


@pytest.mark.parametrize(
    "faults",
    [
        {"rate_limit_every": 4, "retry_after": 0},
        {"error_every": 5, "error_burst": 2},
        {"drop_every": 6},
        {"repeat_rows": 2},
    ],
    ids=["429", "5xx", "drop", "repeats"],
)
def test_statement_faults_give_the_exact_rows(dialect_sandbox, faults):
    sb = dialect_sandbox
    sb.set_faults(**faults)
    df = lk.load_statements(since="2025-01-01", until="2025-04-01", **st_kw(sb))
    assert_statements(df, served_statements(sb, date(2025, 1, 1), date(2025, 4, 1)))


def test_statements_through_the_store_round_trip(dialect_sandbox, tmp_path):
    sb = dialect_sandbox
    first = lk.load_statements(since="2025-01-01", store=tmp_path, **st_kw(sb))
    again = lk.load_statements(since="2025-01-01", store=tmp_path, **st_kw(sb))
    assert_statements(first, served_statements(sb, date(2025, 1, 1)))
    pd.testing.assert_frame_equal(again, first)
