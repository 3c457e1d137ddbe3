"""load_statements / iter_statements over real HTTP against the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from ledgerkit import iter_statements, load_statements
from ledgerkit._transport.http import RetryPolicy
from ledgerkit._transport.pagination import parse_link_header
from ledgerkit.errors import (
    AuthenticationError,
    ConfigurationError,
    CountMismatchError,
    PaginationError,
    ServerError,
    TransportError,
)
from ledgerkit.sandbox import Sandbox

FAST = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_max=0.005, retry_after_floor=0.001, sleep=lambda s: None)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=300, per_page_default=40, per_page_max=1000) as s:
        yield s


@pytest.fixture
def faulty():
    with Sandbox(seed=0, size=150, per_page_default=25, per_page_max=100) as s:
        yield s


def creds(s: Sandbox, **kw):
    return {
        "base_url": s.statements_url,
        "secret_key": s.credentials["statements"],
        "retry": FAST,
        "progress": False,
        **kw,
    }


def world_rows(s: Sandbox, since: date | None = None, until: date | None = None, payout_id: str | None = None):
    lo = datetime.combine(since, datetime.min.time(), UTC) if since else None
    hi = datetime.combine(until, datetime.min.time(), UTC) if until else None
    return [
        r
        for r in s.world.statements
        if (lo is None or r["created"] >= lo)
        and (hi is None or r["created"] < hi)
        and (payout_id is None or r.get("payout_id") == payout_id)
    ]


def cents(value) -> int:
    return int(value * 100)


def assert_same_rows(df: pd.DataFrame, expected: list[dict]) -> None:
    assert len(df) == len(expected)
    assert df["amount"].tolist() == [cents(r["amount"]) for r in expected]
    assert df["balance_after"].tolist() == [cents(r["balance_after"]) for r in expected]
    assert df["type"].astype(str).tolist() == [r["type"] for r in expected]
    assert df["created"].tolist() == [pd.Timestamp(r["created"]) for r in expected]
    assert df["payout_id"].fillna("").tolist() == [r.get("payout_id") or "" for r in expected]


def test_full_pull_equals_the_world_and_follows_links(sb):
    sb.clear_requests()
    df = load_statements(since="2025-01-01", per_page=100, max_workers=1, **creds(sb))
    expected = world_rows(sb, date(2025, 1, 1))
    assert_same_rows(df, expected)
    queries = [r.query for r in sb.requests]
    assert queries[0] == {"since": "2025-01-01", "per_page": "100", "page": "1"}
    assert [q["page"] for q in queries] == [str(n) for n in range(1, len(queries) + 1)]
    assert len(queries) == -(-len(expected) // 100)
    assert all(r.headers["Authorization"].startswith("<basic user=") for r in sb.requests)
    m = df.attrs["ledgerkit"]
    assert m["complete"] is True and m["rows"] == len(df) == m["total"] and m["pages"] == len(queries)
    assert m["duplicates_dropped"] == 0 and m["rounded_values"] == 0 and m["last_cursor"] is None
    assert sb.credentials["statements"].secret not in repr(m)
    assert (df["balance_before"] + df["amount"]).equals(df["balance_after"])


def test_frame_dtypes(sb):
    df = load_statements(since="2025-03-01", **creds(sb))
    d = df.dtypes.astype(str)
    assert d[["amount", "balance_before", "balance_after", "original_amount"]].eq("Int64").all()
    assert d["created"] == "datetime64[ns, UTC]" and d["type"] == "category" and d["currency"] == "category"
    assert d[["row_id", "transaction", "transaction_id", "payout_id"]].eq("str").all()
    assert d["exchange_rate"] == "Float64"
    assert df["row_id"].is_unique and (df["currency"] == "EUR").all()
    assert df.index.equals(pd.RangeIndex(len(df)))


def test_until_is_exclusive_a_superset_is_asked_and_the_rest_dropped_here(sb):
    """The API's reading of ``until`` is not documented: ``until`` itself is sent (a superset under an
    inclusive-day and an instant reading alike) and the rows of that day are dropped here, counted."""
    sb.clear_requests()
    df = load_statements(since=date(2025, 2, 1), until="2025-03-01", per_page=1000, **creds(sb))
    assert sb.requests[0].query == {"since": "2025-02-01", "until": "2025-03-01", "per_page": "1000", "page": "1"}
    assert_same_rows(df, world_rows(sb, date(2025, 2, 1), date(2025, 3, 1)))
    m = df.attrs["ledgerkit"]
    last_day = len(world_rows(sb, date(2025, 3, 1), date(2025, 3, 2)))
    assert last_day > 0 and m["outside_window"] == last_day and m["rows"] == len(df)
    assert m["dialect"]["until"] == "inclusive day"  # this sandbox returns the whole until day


def test_payout_filter_and_server_default_page_size(sb):
    payout = sb.world.payouts[3]["payout_id"]
    sb.clear_requests()
    df = load_statements(payout_id=payout, **creds(sb))
    assert sb.requests[0].query == {"payout_id": str(payout), "page": "1"}
    expected = world_rows(sb, payout_id=payout)
    assert_same_rows(df, expected)
    paid = df[df["type"] != "PAYOUT"]["amount"].sum()
    assert -paid == cents(sb.world.payouts[3]["amount"])


def test_currency_sets_the_exponent(sb):
    df = load_statements(since="2025-03-01", currency="kwd", **creds(sb))
    expected = world_rows(sb, date(2025, 3, 1))
    assert df["amount"].tolist() == [int(r["amount"] * 1000) for r in expected]
    assert (df["currency"] == "KWD").all()


def test_iter_statements_pages(sb):
    pages = list(iter_statements(since="2025-03-01", per_page=50, **creds(sb)))
    expected = world_rows(sb, date(2025, 3, 1))
    assert [len(p) for p in pages[:-1]] == [50] * (len(pages) - 1)
    assert_same_rows(pd.concat(pages, ignore_index=True), expected)
    assert pages[-1].attrs["ledgerkit"]["pages"] == len(pages)


def test_start_page_resumes(sb):
    whole = load_statements(since="2025-03-01", per_page=30, **creds(sb))
    rest = load_statements(since="2025-03-01", per_page=30, start_page=3, **creds(sb))
    assert rest["row_id"].tolist() == whole["row_id"].tolist()[60:]


@pytest.mark.parametrize(
    "kw, parameter",
    [
        ({}, "date_from"),
        ({"date_from": "2025-01-01", "since": "2025-01-01"}, "since"),
        ({"date_to": "2025-02-01", "until": "2025-02-01", "since": "2025-01-01"}, "until"),
        ({"date_from": "2025-02-01", "date_to": "2025-01-01"}, "date_to"),
        ({"since": "2025-02-01", "until": "2025-02-01"}, "until"),
        ({"since": "2025-03-01", "until": "2025-02-01"}, "until"),
        ({"since": "2025-02-30"}, "since"),
        ({"since": datetime(2025, 2, 1)}, "since"),
        ({"since": pd.Timestamp("2025-02-01 10:00", tz="UTC")}, "since"),
        ({"since": "2025-01-01", "per_page": 0}, "per_page"),
        ({"since": "2025-01-01", "per_page": 1001}, "per_page"),
        ({"since": "2025-01-01", "per_page": "50"}, "per_page"),
        ({"since": "2025-01-01", "currency": "EURO"}, "currency"),
        ({"since": "2025-01-01", "start_page": 0}, "start_page"),
        ({"payout_id": ""}, "payout_id"),
        ({"until": "2025-02-01", "payout_id": "1"}, "date_from"),
        ({"since": "2025-01-01", "progress": 1}, "progress"),
    ],
)
def test_bad_inputs_raise_before_any_request(sb, kw, parameter):
    sb.clear_requests()
    with pytest.raises(ConfigurationError) as info:
        load_statements(**{**creds(sb), **kw})
    assert info.value.parameter == parameter
    with pytest.raises(ConfigurationError):
        iter_statements(**{**creds(sb), **kw})
    assert sb.requests == []


def test_wrong_secret(sb):
    with pytest.raises(AuthenticationError) as info:
        load_statements(
            since="2025-01-01",
            **{**creds(sb), "secret_key": "not-the-secret-42", "shop_id": sb.credentials["statements"].user},
        )
    assert info.value.status == 401 and "not-the-secret-42" not in str(info.value)
    assert "1004" in str(info.value)


def test_link_header_parsing():
    header = '<http://h/a?since=2025-01-01&page=2>; rel="next", <http://h/a?page=1>; rel="first prev"'
    assert parse_link_header(header) == {
        "next": "http://h/a?since=2025-01-01&page=2",
        "first": "http://h/a?page=1",
        "prev": "http://h/a?page=1",
    }
    assert parse_link_header(None) == {}


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "faults, reason",
    [
        ({"rate_limit_every": 3, "retry_after": 0}, "429"),
        ({"error_every": 2, "error_burst": 2}, "503"),
        ({"drop_every": 3}, "transport"),
        ({"malformed_every": 2}, "malformed"),
    ],
)
def test_transient_faults_are_retried_and_the_frame_is_exact(faulty, faults, reason):
    faulty.set_faults(**faults)
    df = load_statements(since="2025-01-01", **creds(faulty))
    assert_same_rows(df, world_rows(faulty, date(2025, 1, 1)))
    m = df.attrs["ledgerkit"]
    assert m["complete"] and m["retries"] > 0 and set(m["retry_reasons"]) == {reason}


def test_repeated_rows_are_dropped_by_row_id(faulty):
    faulty.set_faults(repeat_rows=4)
    df = load_statements(since="2025-01-01", per_page=50, **creds(faulty))
    assert_same_rows(df, world_rows(faulty, date(2025, 1, 1)))
    m = df.attrs["ledgerkit"]
    # the sandbox moves the offset of every page after the first back by 4 (at least one overlap)
    assert 4 <= m["duplicates_dropped"] <= 4 * (m["pages"] - 1)


def test_stuck_link_raises_with_resume(faulty):
    faulty.set_faults(stuck_cursor=True)
    with pytest.raises(PaginationError, match="does not advance") as info:
        load_statements(since="2025-01-01", per_page=50, **creds(faulty))
    err = info.value
    assert err.resume["start_page"] == 2 and err.resume["date_from"] == "2025-01-01"
    assert len(err.partial) == 50 and err.manifest["complete"] is False
    assert len(faulty.requests) == 1  # a link back to the same page is refused before it is followed


def test_rows_appended_during_paging_are_included_and_reported(faulty):
    total_before = len(world_rows(faulty, date(2025, 1, 1)))
    faulty.set_faults(insert_during_paging=3)
    df = load_statements(since="2025-01-01", per_page=50, **creds(faulty))
    expected = world_rows(faulty, date(2025, 1, 1))
    assert len(expected) == total_before + 3
    assert_same_rows(df, expected)
    m = df.attrs["ledgerkit"]
    assert (m["total_first"], m["total"]) == (total_before, total_before + 3)
    assert (df["balance_before"] + df["amount"]).equals(df["balance_after"])


def test_count_mismatch_raises_with_resume():
    from tests.transport.test_http import ScriptedServer  # a scripted HTTP server: the sandbox never lies about counts

    row = {
        "created": "2025-01-02T03:04:05+0000",
        "amount": 10,
        "type": "INCOME",
        "balance_before": 0,
        "balance_after": 10,
    }
    with ScriptedServer() as server:
        server.script = [{"body": [row], "headers": {"X-Total-Count": "3"}}]
        with pytest.raises(CountMismatchError, match="received 1 distinct rows but X-Total-Count says 3") as info:
            load_statements(
                since="2025-01-01", base_url=server.url, shop_id="1", secret_key="k", retry=FAST, progress=False
            )
    assert info.value.resume["start_page"] == 1 and len(info.value.partial) == 1
    assert info.value.partial["amount"].tolist() == [1000]


def test_exhausted_retries_resume_from_the_failed_page(faulty):
    faulty.set_faults(error_every=2, error_burst=10)
    with pytest.raises(ServerError) as info:
        load_statements(since="2025-01-01", per_page=40, max_workers=1, **creds(faulty))
    err = info.value
    assert err.resume["start_page"] == 3 and len(err.partial) == 80
    faulty.clear_faults()
    rest = load_statements(**{**err.resume, "secret_key": faulty.credentials["statements"], "retry": FAST})
    assert_same_rows(pd.concat([err.partial, rest], ignore_index=True), world_rows(faulty, date(2025, 1, 1)))


def test_refused_connection_is_a_transport_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as info:
        load_statements(
            since="2025-01-01",
            base_url=f"http://127.0.0.1:{port}",
            shop_id="1",
            secret_key="k",
            retry=RetryPolicy(max_retries=1, backoff_base=0.001, sleep=lambda s: None),
            progress=False,
        )
    assert info.value.resume == {**info.value.resume, "start_page": 1} and len(info.value.partial) == 0


def test_progress_bar_only_when_worth_it_and_without_secrets(sb, capsys):
    secret = sb.credentials["statements"].secret
    kw = {**creds(sb), "progress": None}
    load_statements(since="2025-03-01", per_page=1000, **kw)  # one page: silent
    assert capsys.readouterr().err == ""
    load_statements(since="2025-01-01", per_page=20, **kw)  # many pages: a bar
    err = capsys.readouterr().err
    assert "ledgerkit statements" in err and secret not in err
    load_statements(since="2025-01-01", per_page=20, **{**kw, "progress": False})
    assert capsys.readouterr().err == ""
