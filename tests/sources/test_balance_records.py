"""load_balance_records over real HTTP against the sandbox's DWH API."""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

import ledgerkit.sources.balance_records as balance_records
from ledgerkit import BalanceReport, load_balance_records
from ledgerkit._ingest.sheets import OPENING_COLUMNS, RECORDS_COLUMNS
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import (
    AuthenticationError,
    ConfigurationError,
    DataError,
    NotFoundError,
    ReportExpiredError,
    ReportFailedError,
    ReportTimeoutError,
    ServerError,
)
from ledgerkit.sandbox.server import Sandbox

DATE_FROM = "2025-01-15T00:00:00+03:00"  # 2025-01-14 21:00 UTC
DATE_TO = datetime(2025, 3, 10, tzinfo=UTC)
UTC_FROM = datetime(2025, 1, 14, 21, tzinfo=UTC)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=400, report_seconds=0.1) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def clean(sb):
    sb.clear_faults()
    sb.clear_requests()
    yield
    sb.clear_faults()


def load(sb, date_from=DATE_FROM, date_to=DATE_TO, **kw):
    creds = sb.credentials["balance_records"]
    options = dict(
        currency="EUR",
        user_id=1098,
        base_url=sb.dwh_url,
        psp_id=creds.user,
        secret_key=creds.secret,
        progress=False,
        poll_interval=(0.02, 0.1),
        poll_timeout=10.0,
        retry=RetryPolicy(backoff_base=0.01, jitter=0.0),
    )
    options.update(kw)
    return load_balance_records(date_from, date_to, **options)


def world_rows(sb, currency="EUR", **scope):
    records, opening = sb.world.balance_records_in(UTC_FROM, DATE_TO, currency, **scope)
    return records, opening


def api_requests(sb, method=None):
    return [r for r in sb.requests if "/files/" not in r.path and (method is None or r.method == method)]


@pytest.fixture(scope="module")
def reference(sb):
    return load(sb)


# --------------------------------------------------------------------------- the data


@pytest.mark.parametrize("fmt, language", [("xlsx", "en"), ("csv", "ru"), ("xlsx", "ru")])
def test_formats_and_languages_give_identical_frames(sb, reference, fmt, language):
    report = load(sb, format=fmt, language=language)
    pd.testing.assert_frame_equal(report.records, reference.records)
    pd.testing.assert_frame_equal(report.opening_balance, reference.opening_balance)
    assert report.manifest["format"] == fmt and report.manifest["language"] == language


def test_columns_and_dtypes(reference):
    # The begateway sheet has every known column but Description.
    assert list(reference.records.columns) == [c.name for c in RECORDS_COLUMNS if c.name != "description"]
    assert list(reference.opening_balance.columns) == [c.name for c in OPENING_COLUMNS]
    for col in ("amount", "fee", "net", "balance_before", "balance_after", "record_id"):
        assert str(reference.records[col].dtype) == "Int64"
    assert str(reference.records["created_at"].dtype) == "datetime64[ns, UTC]"
    assert str(reference.opening_balance["opening_balance"].dtype) == "Int64"


def _assert_matches_world(report, records, opening):
    df = report.records
    assert len(df) == len(records) > 0
    assert df["record_id"].tolist() == [r["record_id"] for r in records]
    for col in ("amount", "fee", "net", "balance_before", "balance_after", "merchant_id", "shop_id", "gateway_id"):
        assert df[col].tolist() == [r[col] for r in records], col
    assert df["amount"].sum() == sum(r["amount"] for r in records)
    assert df["transaction_type"].astype(str).tolist() == [r["transaction_type"] for r in records]
    assert df["created_at"].tolist() == [pd.Timestamp(r["created_at"]).tz_convert("UTC") for r in records]
    assert (df["created_at"] >= pd.Timestamp(UTC_FROM)).all() and (df["created_at"] < pd.Timestamp(DATE_TO)).all()
    ob = report.opening_balance
    assert sorted(zip(ob["gateway_id"], ob["shop_id"], ob["opening_balance"], strict=True)) == sorted(
        (o["gateway_id"], o["shop_id"], o["opening_balance"]) for o in opening
    )
    assert (ob["date"] == pd.Timestamp(UTC_FROM)).all()


def test_psp_scope_equals_the_world(sb, reference):
    _assert_matches_world(reference, *world_rows(sb))


@pytest.mark.parametrize("currency", ["JPY", "KWD"])
def test_other_exponents_equal_the_world(sb, currency):
    _assert_matches_world(load(sb, currency=currency), *world_rows(sb, currency))


@pytest.mark.parametrize("scope", ["merchant_id", "shop_id", "gateway_id"])
def test_each_scope_equals_the_world(sb, scope):
    records, _ = world_rows(sb)
    value = records[0][scope]
    report = load(sb, **{scope: value})
    _assert_matches_world(report, *world_rows(sb, **{scope: value}))
    assert set(report.records[scope]) == {value}
    assert api_requests(sb, "POST")[0].json["request_params"][scope] == value


# --------------------------------------------------------------------------- what was sent


def test_request_body_polling_and_plain_download(sb, reference):
    sb.clear_requests()
    report = load(sb, notification_email="finance@example.com")
    posts = api_requests(sb, "POST")
    assert len(posts) == 1
    assert posts[0].path == "/dwh/api/v2/reports"
    assert posts[0].json == {
        "type": "balance_records",
        "format": "csv",
        "language": "en",
        "user_id": 1098,
        "notification_email": "finance@example.com",
        "request_params": {
            "date_from": "2025-01-15T00:00:00.000000+03:00",
            "date_to": "2025-03-10T00:00:00.000000+00:00",
            "currency": "EUR",
        },
    }
    assert posts[0].headers["Authorization"] == f"<basic user={sb.credentials['balance_records'].user}>"
    polls = api_requests(sb, "GET")
    assert polls and all(p.path == f"/dwh/api/v2/reports/{report.report_id}" for p in polls)
    files = [r for r in sb.requests if "/files/" in r.path]
    assert len(files) == 1 and files[0].status == 200
    assert "Authorization" not in files[0].headers and "authorization" not in {k.lower() for k in files[0].headers}
    gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
    assert all(g >= 0.015 for g in gaps)  # never a hot loop


def test_poll_intervals_grow_by_half_up_to_the_most(sb):
    # A stuck report polls until the timeout: (0.04, 0.2) sleeps 0.04, 0.06, 0.09, 0.135, then 0.2 each.
    sb.set_faults(report_stuck=True)
    with pytest.raises(ReportTimeoutError):
        load(sb, poll_interval=(0.04, 0.2), poll_timeout=1.5)
    polls = api_requests(sb, "GET")
    gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
    assert len(gaps) >= 7  # the last gap may be cut short by the timeout
    planned = [0.06, 0.09, 0.135, 0.2, 0.2, 0.2]
    assert all(g >= p - 0.01 for g, p in zip(gaps, planned, strict=False)), gaps  # never sooner than planned
    assert gaps[:4] == sorted(gaps[:4]) and gaps[3] > 2.5 * gaps[0], gaps  # growing, not constant
    assert min(gaps[3:6]) < 0.26, gaps  # capped at the most (uncapped, the sixth would be 0.46 s)


def test_manifest_and_repr(sb, reference):
    m = reference.manifest
    secret = sb.credentials["balance_records"].secret
    assert m["source"] == "balance_records" and m["complete"] is True
    assert m["report_id"] == reference.report_id and m["report_ids"] == [reference.report_id]
    statuses = [h["status"] for h in m["status_history"]]
    assert statuses[-1] == "successful" and statuses[0] == "queued"
    assert m["polls"] >= 1 and m["rerequests"] == 0 and m["retries"] == 0
    assert m["requests"] == 1 + m["polls"] + 1  # POST, polls, file
    assert m["rows_per_sheet"] == {
        "balance_records": len(reference.records),
        "opening_balance": len(reference.opening_balance),
    }
    assert m["rows"] == len(reference.records) and m["rounded_values"] == 0
    assert m["parameters"]["currency"] == "EUR" and m["parameters"]["user_id"] == 1098
    assert m["parameters"]["date_from"] == "2025-01-15T00:00:00.000000+03:00"
    assert reference.records.attrs["ledgerkit"] == m == reference.opening_balance.attrs["ledgerkit"]
    text = repr(reference)
    assert secret not in str(m) and secret not in text
    assert f"records={len(reference.records)} rows" in text and reference.report_id in text
    assert isinstance(reference, BalanceReport)


# --------------------------------------------------------------------------- report life cycle


def test_stuck_report_times_out_with_its_id_then_resumes(sb):
    sb.set_faults(report_stuck=True)
    with pytest.raises(ReportTimeoutError) as info:
        load(sb, poll_timeout=0.3)
    report_id = info.value.report_id
    assert report_id and info.value.status == "pending"
    assert f"report_id={report_id!r}" in str(info.value)
    sb.clear_faults()
    sb.clear_requests()
    resumed = load(sb, report_id=report_id)
    assert resumed.report_id == report_id
    assert api_requests(sb, "POST") == []
    _assert_matches_world(resumed, *world_rows(sb))


def test_resume_checks_the_report_is_the_one_asked_for(sb, reference):
    with pytest.raises(ConfigurationError) as info:
        load(sb, currency="JPY", report_id=reference.report_id)
    assert info.value.parameter == "report_id" and "currency (report 'EUR', arguments 'JPY')" in str(info.value)
    with pytest.raises(ConfigurationError, match="date_to"):
        load(sb, date_to=DATE_TO + timedelta(seconds=1), report_id=reference.report_id)
    same_instant = load(sb, date_from=UTC_FROM, report_id=reference.report_id)
    pd.testing.assert_frame_equal(same_instant.records, reference.records)


def test_failed_report(sb):
    sb.set_faults(report_fail=True)
    with pytest.raises(ReportFailedError) as info:
        load(sb)
    assert info.value.report_id and info.value.status == "failed"
    assert info.value.report_id in str(info.value)


def test_expired_link_is_requested_again(sb, reference):
    sb.set_faults(expired_links=1)
    report = load(sb)
    assert len(api_requests(sb, "POST")) == 2
    assert report.manifest["rerequests"] == 1 and len(report.manifest["report_ids"]) == 2
    assert report.report_id == report.manifest["report_ids"][-1]
    pd.testing.assert_frame_equal(report.records, reference.records)


def test_dead_link_403_is_requested_again(sb, reference, monkeypatch):
    # Trust only the link: a 403 "Request has expired" from the file host itself.
    monkeypatch.setattr(balance_records, "_expired", lambda report: False)
    sb.set_faults(expired_links=1)
    report = load(sb)
    files = [r for r in sb.requests if "/files/" in r.path]
    assert [f.status for f in files] == [403, 200]
    assert len(api_requests(sb, "POST")) == 2
    pd.testing.assert_frame_equal(report.records, reference.records)


def test_link_still_dead_after_rerequests(sb, monkeypatch):
    monkeypatch.setattr(balance_records, "_expired", lambda report: False)
    sb.set_faults(expired_links=3)
    with pytest.raises(ReportExpiredError) as info:
        load(sb, max_rerequests=2)
    assert len(api_requests(sb, "POST")) == 3
    assert info.value.report_id and "Request has expired" in str(info.value)


def test_no_rerequest_allowed(sb):
    sb.set_faults(expired_links=1)
    with pytest.raises(ReportExpiredError):
        load(sb, max_rerequests=0)
    assert len(api_requests(sb, "POST")) == 1


@pytest.mark.parametrize(
    "faults, reason",
    [
        (dict(rate_limit_every=2, retry_after=0), "429"),
        (dict(error_every=2, error_burst=2, error_status=503), "503"),
        (dict(drop_every=2), "transport"),
        (dict(malformed_every=2), "malformed"),
    ],
    ids=["429", "503", "dropped", "malformed"],
)
def test_faults_during_polling_are_retried(sb, reference, faults, reason):
    sb.set_faults(**faults)
    report = load(sb)
    pd.testing.assert_frame_equal(report.records, reference.records)
    assert report.manifest["retries"] >= 1 and report.manifest["retry_reasons"].get(reason, 0) >= 1


# --------------------------------------------------------------------------- errors from the API


def test_wrong_secret_is_an_authentication_error(sb):
    with pytest.raises(AuthenticationError) as info:
        load(sb, secret_key="wrong-secret-123")
    assert "wrong-secret-123" not in str(info.value) and info.value.status == 401


def test_unknown_report_id(sb):
    with pytest.raises(NotFoundError):
        load(sb, report_id="00000000-0000-0000-0000-000000000000")


def test_download_dir_keeps_the_file_and_default_leaves_nothing(sb, tmp_path, monkeypatch):
    kept = load(sb, download_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"{kept.report_id}.zip"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    load(sb)
    assert list(scratch.iterdir()) == []


def test_progress_indicator_shows_the_status(sb, capsys):
    report = load(sb, progress=True)
    err = capsys.readouterr().err
    assert "DWH balance report" in err and report.report_id in err  # the full id, to copy from the bar


def test_dates_are_midnight_utc_like_the_other_loaders(sb):
    by_date = load(sb, date(2025, 1, 15), date(2025, 3, 10))
    by_text = load(sb, "2025-01-15", "2025-03-10")
    aware = load(sb, datetime(2025, 1, 15, tzinfo=UTC), DATE_TO)
    assert by_date.manifest["parameters"]["date_from"] == "2025-01-15T00:00:00.000000+00:00"
    for other in (by_date, by_text):
        pd.testing.assert_frame_equal(other.records, aware.records)
        pd.testing.assert_frame_equal(other.opening_balance, aware.opening_balance)


def test_a_server_error_while_polling_names_the_report_and_resumes_it(sb):
    sb.set_faults(error_every=1, error_burst=50)  # the POST passes, every poll fails
    with pytest.raises(ServerError) as info:
        load(sb, retry=RetryPolicy(max_retries=1, backoff_base=0.001, sleep=lambda s: None))
    err = info.value
    (_post,) = api_requests(sb, "POST")
    created = api_requests(sb, "GET")[0].path.rsplit("/", 1)[-1]
    assert err.report_id == created and f"report_id={created!r}" in str(err)
    assert err.resume["report_id"] == created and "secret_key" not in err.resume
    assert err.resume["psp_id"] == sb.credentials["balance_records"].user
    sb.clear_faults()
    sb.clear_requests()
    report = load_balance_records(**err.resume, secret_key=sb.credentials["balance_records"].secret, progress=False)
    assert report.report_id == created and api_requests(sb, "POST") == []


def test_a_file_that_does_not_parse_names_the_report(sb, monkeypatch):
    def unreadable(path):
        raise DataError("the file is not a report")

    monkeypatch.setattr(balance_records, "read_report_file", unreadable)
    with pytest.raises(DataError) as info:
        load(sb)
    err = info.value
    assert err.report_id and err.resume["report_id"] == err.report_id and err.report_id in str(err)


def test_a_failed_report_resumes_with_a_fresh_request(sb):
    sb.set_faults(report_fail=True)
    with pytest.raises(ReportFailedError) as info:
        load(sb)
    assert info.value.report_id and info.value.resume["report_id"] is None


# --------------------------------------------------------------------------- bad input


class BytesPath:
    """A path object whose ``__fspath__`` gives bytes: a path, but not one a directory name is read from."""

    def __fspath__(self) -> bytes:
        return b"/tmp"


@pytest.mark.parametrize(
    "kw, parameter",
    [
        (dict(date_from="2025-01-15T00:00:00"), "date_from"),
        (dict(date_from=datetime(2025, 1, 15)), "date_from"),
        (dict(date_to=pd.Timestamp("2025-03-10")), "date_to"),
        (dict(date_from="15.01.2025"), "date_from"),
        (dict(date_from=20250115), "date_from"),
        (dict(date_to=DATE_FROM), "date_to"),
        (dict(date_to=UTC_FROM - timedelta(days=1)), "date_to"),
        (dict(currency="EURO"), "currency"),
        (dict(format="pdf"), "format"),
        (dict(language="de"), "language"),
        (dict(user_id=0), "user_id"),
        (dict(user_id="1098"), "user_id"),
        (dict(user_id=True), "user_id"),
        (dict(shop_id=-1), "shop_id"),
        (dict(notification_email="nobody"), "notification_email"),
        (dict(poll_timeout=0), "poll_timeout"),
        (dict(poll_interval=(0, 1)), "poll_interval"),
        (dict(poll_interval=(5, 1)), "poll_interval"),
        (dict(poll_interval=3), "poll_interval"),
        (dict(max_rerequests=-1), "max_rerequests"),
        (dict(retry=3), "retry"),
        (dict(report_id=""), "report_id"),
        (dict(download_dir="/no/such/dir"), "download_dir"),
        (dict(download_dir=BytesPath()), "download_dir"),
        (dict(base_url="ftp://example.com"), "base_url"),
    ],
)
def test_bad_input_raises_before_any_request(sb, kw, parameter):
    with pytest.raises(ConfigurationError) as info:
        load(sb, **kw)
    assert info.value.parameter == parameter
    assert sb.requests == []


def test_missing_credentials_raise_before_any_request(sb, monkeypatch):
    for var in ("LEDGERKIT_DWH_URL", "LEDGERKIT_DWH_PSP_ID", "LEDGERKIT_DWH_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError) as info:
        load(sb, secret_key=None)
    assert info.value.parameter == "secret_key"
    assert sb.requests == []
