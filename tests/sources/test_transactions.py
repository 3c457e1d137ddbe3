"""load_transactions / iter_transactions over real HTTP against the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from ledgerkit import iter_transactions, load_transactions
from ledgerkit._ingest.records import build_page, finish
from ledgerkit._ingest.schema import TRANSACTIONS
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import (
    AuthenticationError,
    ConfigurationError,
    DataError,
    InvalidRequestError,
    PaginationError,
    ServerError,
)
from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.server import dumps

JAN, FEB, MAR, APR = (datetime(2025, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4))
METHODS = ("credit_card", "alternative")
FAST = RetryPolicy(max_retries=4, backoff_base=0.001, backoff_max=0.005, retry_after_floor=0.001, sleep=lambda s: None)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=400, page_size=25) as s:
        yield s


@pytest.fixture
def faulty():
    """A sandbox of our own for fault switches and world changes."""
    with Sandbox(seed=0, size=200, page_size=20) as s:
        yield s


def creds(s: Sandbox, **kw):
    """Connection settings, and the two methods this sandbox offers named (default methods: their own tests)."""
    return {
        "base_url": s.transactions_url,
        "secret_key": s.credentials["transactions"],
        "retry": FAST,
        "progress": False,
        "payment_method_type": METHODS,
        **kw,
    }


def world_rows(s: Sandbox, start=JAN, end=APR, *, field="created_at", methods=METHODS, status="all", corrected=None):
    shop = int(s.credentials["transactions"].user)
    rows = []
    for t in s.world.transactions:
        at = t[field]
        if t["shop"]["id"] != shop or t["payment_method_type"] not in methods or at is None or not start <= at < end:
            continue
        if status != "all" and t["status"] != status:
            continue
        if corrected and not (t["manually_corrected_at"] and corrected[0] <= t["manually_corrected_at"] < corrected[1]):
            continue
        rows.append(t)
    return sorted(rows, key=lambda t: t["id"])


def assert_same_rows(df: pd.DataFrame, expected: list[dict]) -> None:
    assert df["id"].tolist() == [t["id"] for t in expected]
    assert df["amount"].tolist() == [t["amount"] for t in expected]
    assert df["transaction_fee"].tolist() == [int(t["transaction_fee"]) for t in expected]
    assert df["currency"].astype(str).tolist() == [t["currency"] for t in expected]
    assert df["created_at"].tolist() == [pd.Timestamp(t["created_at"]) for t in expected]


def report_params(s: Sandbox) -> list[dict]:
    return [r.json["report_params"] for r in s.requests if r.path.endswith("/api/reports")]


def test_full_pull_equals_the_world_and_sends_every_parameter(sb):
    sb.clear_requests()
    df = load_transactions(JAN, APR, max_workers=1, **creds(sb))
    assert_same_rows(df, world_rows(sb))
    sent = report_params(sb)
    assert {p["payment_method_type"] for p in sent} == set(METHODS)
    assert all(r.headers["X-Api-Version"] == "3" for r in sb.requests)
    assert all(r.headers["Authorization"] == "<basic user=2101>" for r in sb.requests)
    first = sent[0]
    assert first == {
        "date_type": "created_at",
        "from": "2025-01-01 00:00:00",
        "to": "2025-03-31 23:59:59",
        "status": "all",
        "payment_method_type": "credit_card",
        "time_zone": "UTC",
    }
    cursors = [p.get("starting_after") for p in sent if p["payment_method_type"] == "credit_card"]
    assert cursors[0] is None and cursors[1:] == sorted(cursors[1:]) and len(cursors) > 3
    m = df.attrs["ledgerkit"]
    assert m["complete"] is True and m["source"] == "transactions"
    assert m["pages"] == m["requests"] == len(sent)
    assert m["rows"] == len(df) and m["duplicates_dropped"] == 0 and m["retries"] == 0
    assert m["last_cursor"] == df["id"].max() and m["first_cursor"] == df["id"].min()
    assert sb.credentials["transactions"].secret not in repr(m)
    assert df.index.equals(pd.RangeIndex(len(df)))


def test_frame_dtypes_and_pii_dropped(sb):
    df = load_transactions(JAN, FEB, **creds(sb))
    d = df.dtypes.astype(str)
    assert d["id"] == "Int64" and d["amount"] == "Int64" and d["pay_to_merchant"] == "Int64"
    assert d["created_at"] == "datetime64[ns, UTC]" and d["currency"] == "category" and d["type"] == "category"
    assert d["discount_rate"] == "Float64" and d["test"] == "boolean" and d["uid"] == "str"
    for col in (
        "credit_card.holder",
        "credit_card.token",
        "customer.ip",
        "customer.email",
        "billing_address.city",
        "additional_data.vendor.token",
        "three_d_secure_verification.cavv",
    ):
        assert col not in df.columns
    assert "billing_address.country" in df.columns and "credit_card.brand" in df.columns
    assert df.attrs["ledgerkit"]["include_pii"] is False
    assert "credit_card.holder" in df.attrs["ledgerkit"]["pii_dropped"]
    # alternative payments carry an unknown nested object: kept, dotted
    alt = df[df["payment_method_type"] == "alternative"]
    assert len(alt) and alt["alternative.method"].notna().all()


def test_include_pii_keeps_it(sb):
    df = load_transactions(JAN, FEB, include_pii=True, **creds(sb, payment_method_type="credit_card"))
    expected = world_rows(sb, JAN, FEB, methods=("credit_card",))
    assert df["credit_card.holder"].fillna("-").tolist() == [t["credit_card"]["holder"] or "-" for t in expected]
    assert df["customer.ip"].fillna("-").tolist() == [t["customer"]["ip"] or "-" for t in expected]
    assert df.attrs["ledgerkit"]["include_pii"] is True


def test_half_open_bounds_at_second_resolution(sb):
    t = world_rows(sb, FEB, MAR)[5]
    at = pd.Timestamp(t["created_at"])
    sb.clear_requests()
    inside = load_transactions(at, at + pd.Timedelta(seconds=1), **creds(sb))
    assert t["id"] in inside["id"].tolist() and (inside["created_at"] == at).all()
    assert report_params(sb)[0]["from"] == report_params(sb)[0]["to"] == at.strftime("%Y-%m-%d %H:%M:%S")
    before = load_transactions(at - pd.Timedelta(hours=1), at, **creds(sb))
    assert t["id"] not in before["id"].tolist()
    assert_same_rows(before, world_rows(sb, at - pd.Timedelta(hours=1), at))


def test_time_zone_bounds_and_wall_clock_quirk(sb):
    zone = "America/New_York"
    sb.clear_requests()
    df = load_transactions("2025-02-01", "2025-03-01", time_zone=zone, max_workers=1, **creds(sb))
    sent = report_params(sb)[0]
    assert (sent["from"], sent["to"], sent["time_zone"]) == ("2025-02-01 00:00:00", "2025-02-28 23:59:59", zone)
    start, end = datetime(2025, 2, 1, 5, tzinfo=UTC), datetime(2025, 3, 1, 5, tzinfo=UTC)  # EST = UTC-5
    expected = world_rows(sb, start, end)
    assert_same_rows(df, expected)  # the ...Z wall-clock timestamps came back as the world's UTC instants
    assert df["paid_at"].tolist() == [pd.Timestamp(t["paid_at"]) if t["paid_at"] else pd.NaT for t in expected]


def test_aware_datetimes_are_converted_to_the_zone(sb):
    sb.clear_requests()
    load_transactions(
        pd.Timestamp("2025-02-01 12:00", tz="UTC"),
        "2025-02-02T00:00:00+01:00",
        time_zone="Europe/Tallinn",
        max_workers=1,
        **creds(sb, payment_method_type="alternative"),
    )
    sent = report_params(sb)[0]
    assert (sent["from"], sent["to"]) == ("2025-02-01 14:00:00", "2025-02-02 00:59:59")


def test_settled_at_sends_dates_with_the_last_day(sb):
    sb.clear_requests()
    df = load_transactions("2025-02-01", "2025-03-01", date_type="settled_at", max_workers=1, **creds(sb))
    sent = report_params(sb)[0]
    assert (sent["date_type"], sent["from"], sent["to"]) == ("settled_at", "2025-02-01", "2025-02-28")
    expected = world_rows(sb, FEB, MAR, field="settled_at")
    assert df["id"].tolist() == [t["id"] for t in expected]
    assert df["settled_at"].tolist() == [pd.Timestamp(t["settled_at"]) for t in expected]


def test_status_filter_and_single_method(sb):
    sb.clear_requests()
    df = load_transactions(JAN, APR, status="successful", **creds(sb, payment_method_type="alternative"))
    sent = report_params(sb)
    assert {(p["status"], p["payment_method_type"]) for p in sent} == {("successful", "alternative")}
    assert_same_rows(df, world_rows(sb, status="successful", methods=("alternative",)))


def test_manual_corrections(sb):
    corrected = [t for t in world_rows(sb) if t["manually_corrected_at"]]
    assert corrected, "the world has manually corrected transactions"
    lo, hi = JAN, APR
    sb.clear_requests()
    df = load_transactions(JAN, APR, manual_correction_from=lo, manual_correction_to=hi, **creds(sb))
    sent = report_params(sb)[0]
    assert (sent["manual_correction_from"], sent["manual_correction_to"]) == (
        "2025-01-01 00:00:00",
        "2025-03-31 23:59:59",
    )
    assert_same_rows(df, world_rows(sb, corrected=(lo, hi)))
    assert df["manually_corrected_at"].notna().all()


def test_backward_pagination_returns_ascending_rows(sb):
    expected = world_rows(sb)
    stop = expected[-10]["id"]
    sb.clear_requests()
    df = load_transactions(JAN, APR, ending_before=stop, **creds(sb))
    assert_same_rows(df, [t for t in expected if t["id"] < stop])
    cursors = [p["ending_before"] for p in report_params(sb) if p["payment_method_type"] == "credit_card"]
    assert cursors[0] == stop and cursors == sorted(cursors, reverse=True) and len(cursors) > 3
    assert all("starting_after" not in p for p in report_params(sb))


def test_resume_from_last_cursor_fetches_only_newer_rows(sb):
    first = load_transactions(JAN, FEB, **creds(sb))
    sb.clear_requests()
    again = load_transactions(JAN, FEB, starting_after=first.attrs["ledgerkit"]["last_cursor"], **creds(sb))
    assert len(again) == 0  # declared columns all there, unknown ones only when seen
    assert list(again.columns) == [c for c in first.columns if c in TRANSACTIONS.columns]
    assert len(sb.requests) == 2  # one empty page per method
    middle = int(first["id"].iloc[len(first) // 2])
    rest = load_transactions(JAN, FEB, starting_after=str(middle), **creds(sb))
    assert rest["id"].tolist() == [i for i in first["id"].tolist() if i > middle]


def test_iter_transactions_yields_typed_pages(sb):
    pages = list(iter_transactions(JAN, FEB, **creds(sb)))
    assert len(pages) > 2 and all(len(p) <= 25 for p in pages)
    assert all(p["amount"].dtype == "Int64" and p["currency"].dtype == "category" for p in pages)
    ids = sorted(i for p in pages for i in p["id"].tolist())
    assert ids == [t["id"] for t in world_rows(sb, JAN, FEB)]
    assert pages[-1].attrs["ledgerkit"]["pages"] == len(pages)


NAIVE = datetime(2025, 1, 1)


@pytest.mark.parametrize(
    "args, kw, parameter",
    [
        ((FEB, JAN), {}, "date_to"),
        ((JAN, JAN), {}, "date_to"),
        ((NAIVE, FEB), {}, "date_from"),
        ((JAN, pd.Timestamp("2025-02-01")), {}, "date_to"),
        ((JAN, "next week"), {}, "date_to"),
        ((JAN, FEB), {"time_zone": "Mars/Olympus"}, "time_zone"),
        ((JAN, FEB), {"status": "paid"}, "status"),
        ((JAN, FEB), {"date_type": "updated_at"}, "date_type"),
        ((JAN, FEB), {"payment_method_type": "Credit Card"}, "payment_method_type"),
        ((JAN, FEB), {"payment_method_type": ("credit_card", 3)}, "payment_method_type"),
        ((JAN, FEB), {"payment_method_type": 5}, "payment_method_type"),
        ((JAN, FEB), {"payment_method_type": ()}, "payment_method_type"),
        ((JAN, FEB), {"skip_refused_methods": "yes"}, "skip_refused_methods"),
        ((JAN, FEB), {"starting_after": 5, "ending_before": 9}, "ending_before"),
        ((JAN, FEB), {"starting_after": "abc"}, "starting_after"),
        ((JAN, FEB), {"starting_after": -1}, "starting_after"),
        ((JAN, FEB), {"manual_correction_from": FEB, "manual_correction_to": JAN}, "manual_correction_to"),
        (("2025-01-01 12:00", FEB), {"date_type": "settled_at"}, "date_from"),
        ((JAN, FEB), {"progress": "yes"}, "progress"),
        ((JAN, FEB), {"retry": 3}, "retry"),
    ],
)
def test_bad_inputs_raise_before_any_request(sb, args, kw, parameter):
    sb.clear_requests()
    with pytest.raises(ConfigurationError) as info:
        load_transactions(*args, **{**creds(sb), **kw})
    assert info.value.parameter == parameter
    with pytest.raises(ConfigurationError):
        iter_transactions(*args, **{**creds(sb), **kw})
    assert sb.requests == []


def test_missing_credentials_name_the_setting(sb, monkeypatch):
    for name in ("LEDGERKIT_TRANSACTIONS_URL", "LEDGERKIT_TRANSACTIONS_SHOP_ID", "LEDGERKIT_TRANSACTIONS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="LEDGERKIT_TRANSACTIONS_URL"):
        load_transactions(JAN, FEB)


def test_environment_configuration(sb, monkeypatch):
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    df = load_transactions(JAN, FEB, progress=False, retry=FAST)
    assert_same_rows(df, world_rows(sb, JAN, FEB))


def test_wrong_secret_is_an_authentication_error_without_the_secret(sb):
    sb.clear_requests()
    with pytest.raises(AuthenticationError) as info:
        load_transactions(JAN, FEB, max_workers=1, **{**creds(sb), "shop_id": "2101", "secret_key": "wrong-secret-123"})
    assert "wrong-secret-123" not in str(info.value) and info.value.status == 401
    assert len(sb.requests) == 1


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "faults, reason",
    [
        ({"rate_limit_every": 3, "retry_after": 0}, "429"),
        ({"rate_limit_every": 4, "retry_after": None}, "429"),
        ({"error_every": 3, "error_burst": 2}, "503"),
        ({"drop_every": 3}, "transport"),
        ({"malformed_every": 3}, "malformed"),
    ],
)
def test_transient_faults_are_retried_and_the_frame_is_exact(faulty, faults, reason):
    faulty.set_faults(**faults)
    df = load_transactions(JAN, APR, max_workers=1, **creds(faulty))
    assert_same_rows(df, world_rows(faulty))
    m = df.attrs["ledgerkit"]
    assert m["complete"] is True and m["retries"] > 0 and set(m["retry_reasons"]) == {reason}
    assert m["requests"] == m["pages"] + m["retries"]


def test_repeated_rows_are_dropped_and_counted(faulty):
    faulty.set_faults(repeat_rows=3)
    df = load_transactions(JAN, APR, max_workers=1, **creds(faulty))
    assert_same_rows(df, world_rows(faulty))
    m = df.attrs["ledgerkit"]
    assert m["duplicates_dropped"] == 3 * (m["pages"] - 2)  # every page but the first of each method


def resumed_whole(s: Sandbox, err) -> pd.DataFrame:
    """``err.partial`` plus ``load_transactions(**err.resume)``, duplicates dropped by id, ascending."""
    rest = load_transactions(**err.resume, secret_key=s.credentials["transactions"], retry=FAST)
    whole = pd.concat([err.partial, rest], ignore_index=True).drop_duplicates("id")
    return whole.sort_values("id", ignore_index=True)


def test_stuck_cursor_raises_with_resume(faulty):
    faulty.set_faults(stuck_cursor=True)
    with pytest.raises(PaginationError, match="did not advance") as info:
        load_transactions(JAN, APR, max_workers=1, **creds(faulty))
    err = info.value
    first_page = world_rows(faulty, methods=("credit_card",))[:20]
    assert err.partial["id"].tolist() == [t["id"] for t in first_page]
    assert err.manifest["complete"] is False and err.manifest["pending_methods"] == list(METHODS)
    assert len(faulty.requests) == 2
    # alternative had not started: .resume continues both methods from the start (None is the only safe cursor)
    assert err.resume["payment_method_type"] == METHODS and err.resume["starting_after"] is None
    assert "drop duplicates by id" in str(err)
    faulty.clear_faults()
    assert_same_rows(resumed_whole(faulty, err), world_rows(faulty))


def test_a_503_burst_in_the_second_method_resumes_exactly_from_its_cursor(faulty):
    cards = world_rows(faulty, methods=("credit_card",))
    pages = -(-len(cards) // 20)
    faulty.set_faults(error_every=pages + 1, error_burst=10)  # the 2nd page of alternative fails for good
    with pytest.raises(ServerError) as info:
        load_transactions(JAN, APR, max_workers=1, **creds(faulty))
    err = info.value
    assert err.resume["payment_method_type"] == ("alternative",)
    assert err.resume["starting_after"] == world_rows(faulty, methods=("alternative",))[19]["id"]
    faulty.clear_faults()
    rest = load_transactions(**err.resume, secret_key=faulty.credentials["transactions"], retry=FAST)
    assert not set(rest["id"]) & set(err.partial["id"])  # one window left: exact, no overlap
    assert_same_rows(resumed_whole(faulty, err), world_rows(faulty))


def test_a_503_burst_in_the_first_method_resumes_both_methods(faulty):
    faulty.set_faults(error_every=2, error_burst=10)  # the 3rd page of credit_card fails for good
    with pytest.raises(ServerError) as info:
        load_transactions(JAN, APR, max_workers=1, **creds(faulty))
    err = info.value
    assert len(err.partial) == 40 and err.manifest["pending_methods"] == list(METHODS)
    assert err.resume["payment_method_type"] == METHODS and err.resume["starting_after"] is None
    faulty.clear_faults()
    assert_same_rows(resumed_whole(faulty, err), world_rows(faulty))


def test_exhausted_retries_mid_pull_resume_to_the_exact_frame(faulty):
    faulty.set_faults(error_every=3, error_burst=10)
    with pytest.raises(ServerError) as info:
        load_transactions(JAN, APR, max_workers=1, **creds(faulty, payment_method_type="credit_card"))
    err = info.value
    assert err.status == 503 and len(err.partial) == 60  # three pages of 20
    assert err.resume["starting_after"] == err.partial["id"].max()
    assert err.manifest["complete"] is False and err.manifest["rows"] == 60
    faulty.clear_faults()
    rest = load_transactions(
        JAN,
        APR,
        starting_after=err.resume["starting_after"],
        **creds(faulty, payment_method_type=err.resume["payment_method_type"]),
    )
    whole = pd.concat([err.partial, rest], ignore_index=True)
    assert_same_rows(whole, world_rows(faulty, methods=("credit_card",)))


def test_resume_kwargs_can_be_passed_back_as_they_are(faulty):
    faulty.set_faults(error_every=1, error_burst=10)
    with pytest.raises(ServerError) as info:
        load_transactions(JAN, APR, max_workers=1, **creds(faulty, payment_method_type="alternative"))
    faulty.clear_faults()
    resume = {k: v for k, v in info.value.resume.items() if k not in ("secret_key",)}
    rest = load_transactions(**resume, secret_key=faulty.credentials["transactions"], retry=FAST)
    whole = pd.concat([info.value.partial, rest], ignore_index=True)
    assert_same_rows(whole, world_rows(faulty, methods=("alternative",)))


def test_rows_inserted_during_paging_are_picked_up(faulty):
    faulty.set_faults(insert_during_paging=4)
    before = {t["id"] for t in faulty.world.transactions}
    df = load_transactions(JAN, APR, max_workers=1, **creds(faulty, payment_method_type="credit_card"))
    new = {t["id"] for t in faulty.world.transactions} - before
    assert len(new) == 4 and new <= set(df["id"].tolist())
    assert_same_rows(df, world_rows(faulty, methods=("credit_card",)))
    assert df["id"].is_unique and df["id"].is_monotonic_increasing


def test_page_count_as_report_total_or_page_rows_and_a_count_that_fits_neither():
    from tests.transport.test_http import ScriptedServer  # a scripted HTTP server: the sandbox never lies about counts

    tx = {"id": 7, "amount": 100, "currency": "EUR", "created_at": "2025-01-02T00:00:00Z"}
    with ScriptedServer() as server:
        kw = {
            "base_url": server.url,
            "shop_id": "1",
            "secret_key": "k",
            "retry": FAST,
            "progress": False,
            "payment_method_type": "credit_card",
        }
        server.script = [
            {
                "body": {
                    "transactions": [tx],
                    "count": 2,
                    "has_more": False,
                    "first_object_id": "7",
                    "last_object_id": "7",
                }
            }
        ]
        df = load_transactions(JAN, FEB, **kw)  # the docs call count the report's total: not an error
        assert df["id"].tolist() == [7] and df.attrs["ledgerkit"]["dialect"]["count"] == "report total"
        server.script = [
            {
                "body": {
                    "transactions": [tx],
                    "count": 0,
                    "has_more": False,
                    "first_object_id": "7",
                    "last_object_id": "7",
                }
            }
        ]
        with pytest.raises(DataError, match="count=0 but holds 1") as info:
            load_transactions(JAN, FEB, **kw)
        assert info.value.resume["starting_after"] is None and len(info.value.partial) == 0
        server.script = [{"body": {"message": "not a report"}}]
        with pytest.raises(DataError, match="no 'transactions' list"):
            load_transactions(JAN, FEB, **kw)
        server.script = [
            {
                "body": {
                    "transactions": [tx],
                    "count": 1,
                    "has_more": False,
                    "first_object_id": "7",
                    "last_object_id": "7",
                }
            }
        ]
        df = load_transactions(JAN, FEB, **kw)  # string cursors are accepted
        assert df["id"].tolist() == [7] and df.attrs["ledgerkit"]["last_cursor"] == 7
        assert df.attrs["ledgerkit"]["dialect"]["count"] == "page rows"


# ------------------------------------------------------------------ methods and units the docs leave open


@pytest.mark.parametrize("workers", [1, 4])
def test_the_default_asks_every_known_method_and_skips_one_the_provider_refuses(sb, workers):
    sb.clear_requests()
    kw = {k: v for k, v in creds(sb).items() if k != "payment_method_type"}
    df = load_transactions(JAN, APR, max_workers=workers, **kw)
    assert_same_rows(df, world_rows(sb))
    asked = {p["payment_method_type"] for p in report_params(sb)}
    assert asked == {"credit_card", "alternative", "erip"}
    refused = [r for r in sb.requests if r.status == 422]
    assert {r.json["report_params"]["payment_method_type"] for r in refused} == {"erip"}
    m = df.attrs["ledgerkit"]
    assert m["complete"] and m["dialect"]["methods_refused"] == ["erip"]
    assert m["requests"] == m["pages"] + len(refused)


def test_a_method_named_by_the_caller_that_the_provider_refuses_raises(sb):
    with pytest.raises(InvalidRequestError) as info:
        load_transactions(JAN, FEB, **creds(sb, payment_method_type=("credit_card", "erip")))
    assert "payment_method_type" in str(info.value)
    df = load_transactions(
        JAN, FEB, skip_refused_methods=True, **creds(sb, payment_method_type=("credit_card", "erip"))
    )
    assert_same_rows(df, world_rows(sb, JAN, FEB, methods=("credit_card",)))
    assert df.attrs["ledgerkit"]["dialect"]["methods_refused"] == ["erip"]


def test_resuming_a_default_pull_keeps_skipping_refused_methods(faulty):
    faulty.set_faults(error_every=3, error_burst=9)
    kw = {k: v for k, v in creds(faulty).items() if k != "payment_method_type"}
    with pytest.raises(ServerError) as info:
        load_transactions(JAN, APR, max_workers=1, **kw)
    err = info.value
    assert err.resume["skip_refused_methods"] is True and "erip" in err.resume["payment_method_type"]
    faulty.clear_faults()
    rest = load_transactions(**err.resume, secret_key=faulty.credentials["transactions"], retry=FAST)
    both = pd.concat([err.partial, rest]).drop_duplicates("id").sort_values("id")
    assert both["id"].tolist() == [t["id"] for t in world_rows(faulty)]


def test_fees_are_checked_to_be_minor_units_against_pay_to_merchant(sb):
    df = load_transactions(JAN, APR, **creds(sb))
    check = df.attrs["ledgerkit"]["dialect"]["fee_identity"]
    assert check["checked"] > 50 and check["failed"] == 0 and check["fit_major_units"] == 0


def test_fees_in_major_units_raise_a_data_error_explaining_the_contradiction():
    from tests.transport.test_http import ScriptedServer

    def tx(i: int, fee: float, pay: float) -> dict:
        return {
            "id": i,
            "type": "payment",
            "status": "successful",
            "amount": 1000,
            "currency": "USD",
            "transaction_fee": fee,
            "pay_to_merchant": pay,
            "created_at": "2025-01-02T00:00:00Z",
        }

    with ScriptedServer() as server:
        kw = {
            "base_url": server.url,
            "shop_id": "1",
            "secret_key": "k",
            "retry": FAST,
            "progress": False,
            "payment_method_type": "credit_card",
        }
        page = [tx(1, 0.29, 9.71), tx(2, 0.3, 9.7), tx(3, 29.0, 971.0)]
        server.script = [
            {"body": {"transactions": page, "count": 3, "has_more": False, "first_object_id": 1, "last_object_id": 3}}
        ]
        with pytest.raises(DataError, match="major units") as info:
            load_transactions(JAN, FEB, **kw)
        assert "id 1: amount 1000" in str(info.value) and len(info.value.partial) == 3


@pytest.mark.parametrize("workers", [1, 4])
def test_pages_read_against_the_schema_the_first_ones_taught_give_the_reference_frame(sb, workers):
    """A pull reads most pages against its learned schema (skipping the scan and Arrow's inference): same frame."""
    df = load_transactions(JAN, APR, max_workers=workers, **creds(sb))
    served = json.loads(dumps({"rows": world_rows(sb)}))["rows"]
    pd.testing.assert_frame_equal(df, finish([build_page(served, TRANSACTIONS).frame], TRANSACTIONS, sort_by="id"))
    m = df.attrs["ledgerkit"]
    fitted, unfitted = m["pages_fitting_learned_schema"], m["pages_not_fitting_learned_schema"]
    assert fitted + unfitted < m["pages"] and fitted >= m["pages"] // 2, (m["pages"], fitted, unfitted)
