"""load_statements(max_workers=N): pages 2..N fetched at once give the sequential frame, checked and re-followed."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ledgerkit import load_statements
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import ConfigurationError, ServerError
from ledgerkit.sandbox import Sandbox

from .test_statements import FAST, assert_same_rows, creds, world_rows

SINCE = date(2025, 1, 1)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=2, size=400, per_page_default=40, per_page_max=1000) as s:
        yield s


@pytest.fixture(scope="module")
def sequential(sb):
    return load_statements(since=SINCE, per_page=30, max_workers=1, **creds(sb))


def same_frame(parallel: pd.DataFrame, sequential: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(parallel, sequential)


def test_pages_fetched_at_once_give_the_sequential_frame(sb, sequential):
    sb.clear_requests()
    df = load_statements(since=SINCE, per_page=30, max_workers=4, **creds(sb))
    same_frame(df, sequential)
    assert_same_rows(df, world_rows(sb, SINCE))
    pages = [int(r.query["page"]) for r in sb.requests]
    n = -(-len(df) // 30)
    assert pages[0] == 1 and sorted(pages) == list(range(1, n + 1))  # each page exactly once
    m = df.attrs["ledgerkit"]
    assert m["complete"] and m["pages"] == n and m["rows"] == m["total"] == len(df) and m["last_cursor"] is None
    assert m["count_verified"] and m["max_workers"] == 4 and "refollowed_from_page" not in m


def test_until_and_payout_filters(sb):
    payout = sb.world.payouts[3]["payout_id"]
    for kw in ({"since": SINCE, "until": date(2025, 2, 1)}, {"payout_id": payout}):
        parallel = load_statements(per_page=7, max_workers=3, **kw, **creds(sb))
        pd.testing.assert_frame_equal(parallel, load_statements(per_page=7, max_workers=1, **kw, **creds(sb)))
        assert len(parallel) > 7


def test_one_page_needs_no_second_request(sb):
    sb.clear_requests()
    payout = sb.world.payouts[0]["payout_id"]
    df = load_statements(payout_id=payout, per_page=1000, max_workers=4, **creds(sb))
    assert len(sb.requests) == 1 and len(df) == len(world_rows(sb, payout_id=payout))


def test_rows_appended_during_the_pull_are_caught_by_the_count_and_fetched():
    with Sandbox(seed=0, size=150, per_page_default=25, per_page_max=100) as s:
        before = len(world_rows(s, SINCE))
        s.set_faults(insert_during_paging=3)
        df = load_statements(since=SINCE, per_page=20, max_workers=4, **creds(s))
        assert_same_rows(df, world_rows(s, SINCE))
        m = df.attrs["ledgerkit"]
        assert (m["total_first"], m["total"]) == (before, before + 3)
        assert "refollowed_from_page" in m
        assert (df["balance_before"] + df["amount"]).equals(df["balance_after"])


@pytest.mark.parametrize(
    "faults",
    [
        {"repeat_rows": 2},
        {"rate_limit_every": 4, "retry_after": 0, "error_every": 5, "error_burst": 2, "error_status": 503},
        {"malformed_every": 3},
        {"drop_every": 4},
    ],
    ids=["repeated rows", "429 and 5xx", "malformed", "dropped"],
)
def test_faults_still_give_the_exact_rows(faults):
    with Sandbox(seed=0, size=150, per_page_default=25, per_page_max=100) as s:
        s.set_faults(**faults)
        df = load_statements(since=SINCE, per_page=15, max_workers=4, **creds(s))
        assert_same_rows(df, world_rows(s, SINCE))
        assert df["row_id"].is_unique


def test_a_page_failing_in_a_worker_is_asked_again_in_turn_and_resume_loses_nothing():
    with Sandbox(seed=0, size=150, per_page_default=25, per_page_max=100) as s:
        s.set_faults(error_every=3, error_burst=8)
        policy = RetryPolicy(max_retries=2, backoff_base=0.001, backoff_max=0.002, sleep=lambda t: None)
        with pytest.raises(ServerError) as info:
            load_statements(since=SINCE, per_page=15, max_workers=4, **{**creds(s), "retry": policy})
        err = info.value
        s.clear_faults()
        rest = load_statements(**{**err.resume, "secret_key": s.credentials["statements"], "retry": FAST})
        both = pd.concat([err.partial, rest], ignore_index=True)
        assert_same_rows(both, world_rows(s, SINCE))
        assert len(err.partial) == 15 * (err.resume["start_page"] - 1)


@pytest.mark.parametrize("bad", [0, 33, True, "4"])
def test_max_workers_is_checked_before_any_request(sb, bad):
    sb.clear_requests()
    with pytest.raises(ConfigurationError) as info:
        load_statements(since=SINCE, max_workers=bad, **creds(sb))
    assert info.value.parameter == "max_workers" and sb.requests == []
