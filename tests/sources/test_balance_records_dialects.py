"""load_balance_records against every sandbox dialect and against recorded answers of the real DWH.

The sandbox's ``dwh-official-client`` dialect (docs/CONTRACTS.md §2.6) wants
the type ``balance_records_report`` and answers ``balance_records`` with a
generic 422, goes ``pending`` -> ``processing`` -> ``successful``, reads
``date_to`` as inclusive and serves a sheet with only the justified columns
(no Record ID, Fee, Net, Balance before; a Type per movement, with
adjustment / rolling reserve / rate rows). The other dialects speak the DWH
as ``begateway`` does. Every test here runs against each of them; the
recorded answers (``tests/data/real-world/``) are served by ``Replay``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ledgerkit import load_balance_records
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.config import resolve
from ledgerkit.errors import (
    AuthenticationError,
    DataError,
    InvalidRequestError,
    ReportExpiredError,
    ReportFailedError,
    ReportTimeoutError,
)
from ledgerkit.sandbox.files import JUSTIFIED_RECORD_COLUMNS, build_report_zip
from ledgerkit.sandbox.replay import Recorded, Replay, load_recording
from ledgerkit.sources import balance_records
from ledgerkit.sources.balance_records import fetch_report

REAL_WORLD = Path(__file__).resolve().parents[1] / "data" / "real-world"
DATE_FROM = "2025-01-15T00:00:00+03:00"
DATE_TO = "2025-03-10T00:00:00+00:00"
START, END = "2025-01-01T00:00:00+00:00", "2025-04-01T00:00:00+00:00"
EXTRA_KINDS = {"adjustment", "rolling_reserve", "rolling_reserve_release", "rate"}


def options(sb, **kw):
    out = dict(
        currency="EUR",
        user_id=1098,
        progress=False,
        poll_interval=(0.01, 0.05),
        poll_timeout=10.0,
        retry=RetryPolicy(backoff_base=0.01, jitter=0.0),
        **sb.kwargs("balance_records"),
    )
    out.update(kw)
    return out


def load(sb, date_from=DATE_FROM, date_to=DATE_TO, **kw):
    return load_balance_records(date_from, date_to, **options(sb, **kw))


def request_body():
    return balance_records.BalanceRecordsRequest.build(DATE_FROM, DATE_TO, currency="EUR", user_id=1)


class _WithoutCurrency(balance_records.BalanceRecordsRequest):
    """A request the loader would never send: no currency (to see how the DWH answers it)."""

    def request_params(self):
        return {k: v for k, v in super().request_params().items() if k != "currency"}


def fetch(sb, request, **kw):
    """The internal ``fetch_report`` (what a store or a Client calls), over the sandbox."""
    given = sb.kwargs("balance_records")
    config = resolve("balance_records", base_url=given["base_url"], user=given["psp_id"], secret=given["secret_key"])
    options = balance_records.ReportOptions.build(poll_timeout=10, poll_interval=(0.01, 0.05), max_rerequests=0)
    return fetch_report(config, request, options, progress=False, **kw)


def posts(sb):
    return [(r.json.get("type"), r.status) for r in sb.requests if r.method == "POST"]


def served(sb, date_from, date_to, currency="EUR", **scope):
    """What the dialect serves for the request, cut to ``created_at < date_to``, and its opening rows."""
    start, end = (datetime.fromisoformat(d) for d in (date_from, date_to))
    records, opening = sb.report_rows(start, end, currency, **scope)
    return [r for r in records if r["created_at"] < end], opening


def assert_records_are(report, rows, opening):
    df = report.records
    assert len(df) == len(rows) > 0
    for column in ("merchant_id", "shop_id", "gateway_id", "amount", "balance_after"):
        assert df[column].tolist() == [r[column] for r in rows], column
    assert df["transaction_type"].astype(str).tolist() == [r.get("transaction_type", r.get("type")) for r in rows]
    assert df["created_at"].tolist() == [pd.Timestamp(r["created_at"]) for r in rows]
    movement = df["net"] if "net" in df.columns else df["amount"]
    assert (df["balance_before"] == df["balance_after"] - movement).all()
    if "balance_before" in rows[0]:
        assert df["balance_before"].tolist() == [r["balance_before"] for r in rows]
    ob = report.opening_balance
    assert sorted(zip(ob["shop_id"], ob["gateway_id"], ob["opening_balance"], strict=True)) == sorted(
        (o["shop_id"], o["gateway_id"], o["opening_balance"]) for o in opening
    )


# --------------------------------------------------------------------------- the data, in every dialect


@pytest.mark.parametrize(
    "date_from, date_to, fmt, language",
    [
        (DATE_FROM, DATE_TO, "csv", "en"),
        (DATE_FROM, DATE_TO, "xlsx", "ru"),
        ("2025-03-20T00:00:00+01:00", "2025-04-01T00:00:00+02:00", "csv", "en"),  # across the CET -> CEST switch
    ],
    ids=["csv-en", "xlsx-ru", "across-dst"],
)
def test_records_are_what_the_dialect_serves(dialect_sandbox, date_from, date_to, fmt, language):
    sb = dialect_sandbox
    report = load(sb, date_from, date_to, format=fmt, language=language)
    assert_records_are(report, *served(sb, date_from, date_to))
    dialect = report.manifest["dialect"]
    assert report.manifest["rows"] == len(report.records)
    if sb.dialect.justified_sheet:
        assert list(report.records.columns) == [
            "merchant_id",
            "merchant_name",
            "shop_id",
            "shop_name",
            "gateway_id",
            "created_at",
            "transaction_type",
            "description",
            "currency",
            "amount",
            "balance_before",
            "balance_after",
        ]
        assert dialect["missing_columns"]["balance_records"] == [
            "gateway_name",
            "record_id",
            "transaction_uid",
            "transaction_id",
            "fee",
            "net",
            "balance_before",
        ]
        assert dialect["derived_columns"] == ["balance_before"]
        assert dialect["units"] == {"movement": "amount", "links": len(report.records), "chained": len(report.records)}
    else:
        assert dialect["missing_columns"]["balance_records"] == ["description"]
        assert dialect["derived_columns"] == []
        assert dialect["units"]["movement"] == "net" and dialect["units"]["chained"] == dialect["units"]["links"]


def test_every_kind_of_movement_is_kept(dialect_sandbox):
    report = load(dialect_sandbox)
    kinds = set(report.records["transaction_type"].astype(str))
    if dialect_sandbox.dialect.justified_sheet:
        assert kinds >= EXTRA_KINDS
        extra = report.records[report.records["transaction_type"].isin(EXTRA_KINDS)]
        assert extra["description"].notna().all() and (extra["amount"] != 0).all()
    else:
        assert kinds <= {"payment", "capture", "refund", "chargeback", "credit", "payout"}


def test_a_window_ending_on_a_record_keeps_it_for_the_next_window(dialect_sandbox):
    sb = dialect_sandbox
    rows, _ = served(sb, START, END)
    instant = rows[len(rows) // 2]["created_at"]
    boundary = instant.isoformat()
    at_boundary = sum(r["created_at"] == instant for r in rows)
    whole, first, second = load(sb, START, END), load(sb, START, boundary), load(sb, boundary, END)
    assert (first.records["created_at"] < pd.Timestamp(instant)).all()
    assert (second.records["created_at"].iloc[:at_boundary] == pd.Timestamp(instant)).all()
    joined = pd.concat([first.records, second.records], ignore_index=True)
    pd.testing.assert_frame_equal(joined.astype(whole.records.dtypes.to_dict()), whole.records)  # categories differ
    dialect = first.manifest["dialect"]
    if sb.dialect.date_to_inclusive:
        assert dialect["rows_at_or_after_date_to"] == at_boundary and dialect["date_to_inclusive"] is True
    else:
        assert dialect["rows_at_or_after_date_to"] == 0 and dialect["date_to_inclusive"] is None
    sent = [r.json["request_params"]["date_to"] for r in sb.requests if r.method == "POST" and r.status == 201]
    assert sent[1] == instant.isoformat(timespec="microseconds")  # date_to sent as given, never moved


def test_scopes_together_narrow_to_their_intersection(dialect_sandbox):
    sb = dialect_sandbox
    rows, _ = served(sb, DATE_FROM, DATE_TO)
    scope = {k: rows[0][k] for k in ("merchant_id", "shop_id", "gateway_id")}
    report = load(sb, **scope)
    assert_records_are(report, *served(sb, DATE_FROM, DATE_TO, **scope))
    assert {
        k: v for k, v in sb.requests[-1 - report.manifest["polls"] - 1].json["request_params"].items() if k in scope
    } == scope
    other_gateway = next(
        r["gateway_id"] for r in rows if r["gateway_id"] != scope["gateway_id"] and r["shop_id"] != scope["shop_id"]
    )
    nothing = load(sb, shop_id=scope["shop_id"], gateway_id=other_gateway)
    assert len(nothing.records) == len(
        served(sb, DATE_FROM, DATE_TO, shop_id=scope["shop_id"], gateway_id=other_gateway)[0]
    )


# --------------------------------------------------------------------------- the report's life, in every dialect


def test_report_type_falls_back_once_and_is_kept(dialect_sandbox):
    sb = dialect_sandbox
    sb.set_faults(expired_links=1)  # the re-request after a dead link uses the name that worked
    report = load(sb)
    dialect = report.manifest["dialect"]
    if sb.dialect.report_type == "balance_records_report":
        assert posts(sb) == [("balance_records", 422), ("balance_records_report", 201), ("balance_records_report", 201)]
        assert (
            dialect["report_type"] == "balance_records_report" and dialect["report_type_refused"] == "balance_records"
        )
    else:
        assert posts(sb) == [("balance_records", 201), ("balance_records", 201)]
        assert dialect["report_type"] == "balance_records" and dialect["report_type_refused"] is None


@pytest.mark.parametrize("first", ["balance_records_report", "balance_records"])
def test_a_remembered_type_name_is_sent_first(dialect_sandbox, first):
    sb = dialect_sandbox
    report = fetch(sb, request_body(), type_name=first)
    accepted = sb.dialect.report_type
    assert report.manifest["dialect"]["report_type"] == accepted
    expected = [(first, 201)] if first == accepted else [(first, 422), (accepted, 201)]
    assert posts(sb) == expected


def test_statuses_are_an_open_set(dialect_sandbox):
    sb = dialect_sandbox
    report = load(sb, poll_interval=(0.005, 0.005))
    history = report.manifest["status_history"]
    assert [h["status"] for h in history] == [*sb.dialect.report_statuses, "successful"]
    assert report.manifest["dialect"]["statuses"] == [*sb.dialect.report_statuses, "successful"]
    assert (history[0]["attempt"] is None) is (not sb.dialect.first_status_attempt)


def test_the_timeout_names_the_last_status(dialect_sandbox):
    sb = dialect_sandbox
    sb.set_faults(report_stuck=True)
    with pytest.raises(ReportTimeoutError) as info:
        load(sb, poll_timeout=0.3)
    last = sb.dialect.report_statuses[-1]
    assert info.value.status == last and f"is still {last!r} after 0.3 s" in str(info.value)


def test_a_failed_report(dialect_sandbox):
    dialect_sandbox.set_faults(report_fail=True)
    with pytest.raises(ReportFailedError) as info:
        load(dialect_sandbox)
    assert "ended 'failed' on the DWH (attempt 3)" in str(info.value) and info.value.report_id


@pytest.mark.parametrize(
    "faults",
    [
        dict(rate_limit_every=2, retry_after=0),
        dict(error_every=2, error_burst=2, error_status=503),
        dict(drop_every=2),
        dict(download_drop=1),
    ],
    ids=["429", "503", "dropped", "download-dropped"],
)
def test_faults_lose_and_double_nothing(dialect_sandbox, faults):
    sb = dialect_sandbox
    reference = load(sb)
    sb.set_faults(**faults)
    report = load(sb)
    pd.testing.assert_frame_equal(report.records, reference.records)
    pd.testing.assert_frame_equal(report.opening_balance, reference.opening_balance)
    assert report.manifest["retries"] >= 1


def test_store_round_trip(dialect_sandbox, tmp_path):
    sb = dialect_sandbox
    first = load(sb, store=tmp_path)
    sb.clear_requests()
    again = load(sb, store=tmp_path)
    assert sb.requests == [] and again.manifest.get("from_store") is True
    pd.testing.assert_frame_equal(again.records, first.records)
    pd.testing.assert_frame_equal(again.opening_balance, first.opening_balance)
    assert again.manifest["dialect"] == first.manifest["dialect"]


def test_store_round_trip_of_a_window_ending_on_a_record(dialect_sandbox, tmp_path):
    sb = dialect_sandbox
    rows, _ = served(sb, START, END)
    boundary = rows[len(rows) // 2]["created_at"].isoformat()
    first = load(sb, START, boundary, store=tmp_path)
    again = load(sb, START, boundary, store=tmp_path)
    assert again.manifest.get("from_store") is True
    pd.testing.assert_frame_equal(again.records, first.records)


def test_a_422_about_another_field_after_the_type(dialect_sandbox):
    sb = dialect_sandbox
    request = _WithoutCurrency(**vars(request_body()))  # only a hand-made request can lack it
    with pytest.raises(InvalidRequestError) as info:
        fetch(sb, request)
    err = info.value
    assert err.status == 422 and err.code == "unprocessable_entity"
    assert [e["parameter"] for e in err.field_errors] == ["request_params.currency"]
    if sb.dialect.dwh_errors == "generic":
        assert posts(sb) == [("balance_records", 422), ("balance_records_report", 422)]
        assert err.friendly_message == "Currency is required." and "Currency is required." in str(err)
        assert err.help and f"help: {err.help}" in str(err)
    else:
        assert posts(sb) == [("balance_records", 422)]
        assert "request_params.currency is required" in str(err)


# --------------------------------------------------------------------------- recorded answers of the real DWH

FIXTURES = load_recording(REAL_WORLD / "dwh-official-client-fixtures.json")
SUCCESSFUL = load_recording(REAL_WORLD / "dwh-report-successful.json")
CREATED = FIXTURES["create_report_response"]
CREATED_ID = CREATED["data"]["report"]["id"]
JSON = {"Content-Type": "application/json"}


def replay_load(server, date_from="2025-01-01T00:00:00+00:00", date_to="2025-03-17T00:00:00+00:00", **kw):
    options = dict(
        currency="USD",
        user_id=1,
        base_url=server.url,
        psp_id="1",
        secret_key="recorded-secret",
        progress=False,
        poll_interval=(0.01, 0.05),
        poll_timeout=5.0,
        retry=RetryPolicy(max_retries=1, backoff_base=0.01, jitter=0.0),
    )
    options.update(kw)
    return load_balance_records(date_from, date_to, **options)


@pytest.mark.parametrize(
    "status, key, error", [(401, "error_401", AuthenticationError), (422, "error_422", InvalidRequestError)]
)
def test_recorded_error_bodies_carry_their_friendly_message(status, key, error):
    body = FIXTURES[key]["error"]
    with (
        Replay({"POST /api/v2/reports": Recorded(status, JSON, FIXTURES[key])}) as server,
        pytest.raises(error) as info,
    ):
        replay_load(server)
    err = info.value
    assert err.friendly_message == body["friendly_message"] and err.help == body["help"] and err.code == body["code"]
    assert f"{body['message']}: {body['friendly_message']} (help: {body['help']})" in str(err)
    assert len([r for r in server.requests if r.method == "POST"]) == 1  # names a field, or is a 401: no retry
    if status == 422:
        assert err.field_errors == [{"parameter": "request_params.date_from", "message": "Date_from is required."}]


def test_a_type_refused_under_both_names_says_so():
    refused = Recorded(
        422,
        JSON,
        {
            "error": {
                "code": "unprocessable_entity",
                "friendly_message": "Type is invalid.",
                "help": "https://doc.ecomcharge.com/codes/unprocessable_entity",
                "message": "Unprocessable entity",
            }
        },
    )
    with Replay({"POST /api/v2/reports": refused}) as server, pytest.raises(InvalidRequestError) as info:
        replay_load(server)
    assert [r.json["type"] for r in server.requests] == ["balance_records", "balance_records_report"]
    assert "report type 'balance_records' refused as above; 'balance_records_report' refused too" in str(info.value)
    assert info.value.field_errors[0]["parameter"] == "type"


def justified_zip(amount_factor=1):
    """A report file in the dwh-official-client layout (ours: no real file is public)."""
    at = datetime(2025, 1, 2, 10, tzinfo=UTC)
    account = dict(
        merchant_id=12,
        merchant_name="Merchant",
        shop_id=23,
        shop_name="Shop",
        gateway_id=34,
        gateway_name="Gateway",
        currency="USD",
    )
    records = [
        {
            **account,
            "created_at": at,
            "type": "payment",
            "description": None,
            "amount": 5000 * amount_factor,
            "balance_after": 15000,
        },
        {
            **account,
            "created_at": at + timedelta(hours=1),
            "type": "adjustment",
            "description": "[UserID:45] Balance debit",
            "amount": -1000 * amount_factor,
            "balance_after": 14000,
        },
        {
            **account,
            "created_at": at + timedelta(hours=2),
            "type": "rolling_reserve",
            "description": "Rolling reserve",
            "amount": -2500 * amount_factor,
            "balance_after": 11500,
        },
    ]
    opening = [{**account, "date": datetime(2025, 1, 1, tzinfo=UTC), "opening_balance": 10000}]
    return build_report_zip(records, opening, fmt="xlsx", record_columns=JUSTIFIED_RECORD_COLUMNS)


def recorded_flow(files_url, zip_path):
    """The recorded create answer, polled once ``pending``, then the help page's successful report.

    The successful body is the recording with three changes a replay needs:
    the id of the created report, a file link on the replay's file host
    (same path and pre-signed query) and an expiry in the future.
    """
    report = dict(SUCCESSFUL["body"]["data"]["report"])
    link = report["file_url"]
    report.update(
        id=CREATED_ID,
        file_url=files_url + zip_path + "?" + link.split("?", 1)[1],
        expiry_date=(datetime.now(UTC) + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
    )
    return {
        "POST /api/v2/reports": Recorded(201, JSON, CREATED),
        f"GET /api/v2/reports/{CREATED_ID}": [
            Recorded(200, JSON, CREATED),
            Recorded(200, JSON, {"data": {"report": report}}),
        ],
    }


@pytest.mark.parametrize("amount_factor", [1, 100], ids=["major-units", "amounts-100x"])
def test_recorded_create_and_successful_answers(amount_factor):
    zip_path = "/app/local_vol/reports/report_balance_records.zip"
    file_host = Replay(
        {f"GET {zip_path}": Recorded(200, {"Content-Type": "application/zip"}, justified_zip(amount_factor))}
    )
    with file_host, Replay(recorded_flow(file_host.url, zip_path)) as server:
        if amount_factor != 1:
            with pytest.raises(DataError) as info:
                replay_load(server)
            assert info.value.report_id == CREATED_ID and "the amount is 100x what the balance moves" in str(info.value)
            return
        report = replay_load(server)
    (download,) = file_host.requests
    assert download.path == zip_path and "X-Amz-Signature" in download.query and "Authorization" not in download.headers
    history = report.manifest["status_history"]
    assert [(h["status"], h["attempt"]) for h in history] == [("pending", None), ("successful", 1)]
    assert report.manifest["polls"] == 2
    assert report.records["amount"].tolist() == [5000, -1000, -2500]
    assert report.records["balance_before"].tolist() == [10000, 15000, 14000]
    assert report.records["transaction_type"].astype(str).tolist() == ["payment", "adjustment", "rolling_reserve"]
    assert report.manifest["dialect"]["units"] == {"movement": "amount", "links": 3, "chained": 3}


def test_recorded_successful_report_past_its_expiry_is_not_downloaded():
    recorded = SUCCESSFUL["body"]["data"]["report"]
    assert datetime.fromisoformat(recorded["expiry_date"].replace("Z", "+00:00")) < datetime.now(UTC)
    with (
        Replay({f"GET /api/v2/reports/{recorded['id']}": Recorded(200, JSON, SUCCESSFUL["body"])}) as server,
        pytest.raises(ReportExpiredError) as info,
    ):
        # The recorded request: USD, shop 1673, [2024-12-31T21:00Z, 2025-11-30T20:59:59.999999Z] echoed with 'Z'.
        replay_load(
            server,
            "2025-01-01T00:00:00+03:00",
            "2025-11-30T23:59:59.999999+03:00",
            shop_id=1673,
            report_id=recorded["id"],
            max_rerequests=0,
        )
    assert "expiry_date is in the past" in str(info.value) and info.value.report_id == recorded["id"]
    assert [r.method for r in server.requests] == ["GET"]  # picked up (the 'Z' echo matched), no file, no POST
