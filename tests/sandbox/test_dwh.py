"""The sandbox's beGateway DWH balance report (request, poll, pre-signed zip) over real HTTP."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from ledgerkit.money import from_minor
from ledgerkit.sandbox.files import OPENING_COLUMNS, RECORD_COLUMNS, headers

FEBRUARY = {"date_from": "2025-02-01T00:00:00+00:00", "date_to": "2025-03-01T00:00:00+00:00"}


def create(sb, *, fmt="csv", language="en", auth=None, body=None, **params):
    payload = body or {
        "type": "balance_records",
        "format": fmt,
        "language": language,
        "user_id": 7,
        "request_params": {**FEBRUARY, "currency": "EUR", **params},
    }
    return requests.post(
        sb.dwh_url + "/api/v2/reports", json=payload, auth=auth or sb.credentials["balance_records"].auth(), timeout=10
    )


def show(sb, report_id):
    return requests.get(
        f"{sb.dwh_url}/api/v2/reports/{report_id}", auth=sb.credentials["balance_records"].auth(), timeout=10
    )


def wait(sb, report_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        report = show(sb, report_id).json()["data"]["report"]
        if report["status"] in ("successful", "failed") or time.monotonic() > deadline:
            return report
        time.sleep(0.02)


def download(sb, **kw):
    report = wait(sb, create(sb, **kw).json()["data"]["report"]["id"])
    r = requests.get(report["file_url"], timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def world_records(sb, currency="EUR", start="2025-02-01", end="2025-03-01", **scope):
    lo, hi = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in (start, end))
    return [
        r
        for r in sb.world.balance_records
        if r["currency"] == currency and lo <= _at(r["created_at"]) < hi and all(r[k] == v for k, v in scope.items())
    ]


def _at(value):
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_sheets(archive, fmt):
    """{sheet: list of rows (header first)} from the zip, cells as text."""
    if fmt == "csv":
        out = {}
        for name in ("balance_records", "opening_balance"):
            raw = archive.read(f"{name}.csv")
            assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
            out[name] = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        return out
    from openpyxl import load_workbook

    assert archive.namelist() == ["balance_records.xlsx"]
    book = load_workbook(io.BytesIO(archive.read("balance_records.xlsx")), read_only=True)
    assert book.sheetnames == ["balance_records", "opening_balance"]
    return {name: [list(row) for row in book[name].iter_rows(values_only=True)] for name in book.sheetnames}


def minor(cell, currency):
    return int(Decimal(str(cell)).scaleb(2 if currency == "EUR" else 0))


# ---------------------------------------------------------------- flow


def test_seed_request_example_gives_the_seed_response_shape(sandbox, api_examples):
    r = create(sandbox, body=api_examples["dwh_request"])
    assert r.status_code == 201
    report = r.json()["data"]["report"]
    seed = api_examples["dwh_response"]["data"]["report"]
    assert list(report) == list(seed)
    assert report["request_params"] == seed["request_params"]
    assert {k: report[k] for k in ("status", "engine", "attempt", "user_id", "psp_id", "format", "language")} == {
        k: seed[k] for k in ("status", "engine", "attempt", "user_id", "psp_id", "format", "language")
    }
    assert report["generated_at"] is report["expiry_date"] is report["file_url"] is None
    assert report["created_at"].endswith("Z") and len(report["created_at"]) == len(seed["created_at"])


def test_status_goes_queued_pending_successful(sandbox):
    created = create(sandbox).json()["data"]["report"]
    seen = [(created["status"], created["attempt"])]
    report = created
    while report["status"] != "successful":
        report = show(sandbox, created["id"]).json()["data"]["report"]
        if (report["status"], report["attempt"]) != seen[-1]:
            seen.append((report["status"], report["attempt"]))
        time.sleep(0.02)
    assert seen == [("queued", 0), ("pending", 1), ("successful", 1)]
    generated = datetime.fromisoformat(report["generated_at"].replace("Z", "+00:00"))
    expiry = datetime.fromisoformat(report["expiry_date"].replace("Z", "+00:00"))
    assert (expiry - generated).total_seconds() == 72 * 3600
    assert report["file_url"].startswith(sandbox.dwh_url + f"/files/{created['id']}.zip?")
    assert "X-Amz-Signature=" in report["file_url"] and "X-Amz-Expires=" in report["file_url"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_report_file_has_both_sheets_and_ties_to_the_world(sandbox, fmt, language):
    sheets = read_sheets(download(sandbox, fmt=fmt, language=language), fmt)
    records, opening = sheets["balance_records"], sheets["opening_balance"]
    assert records[0] == headers(RECORD_COLUMNS, language)
    assert opening[0] == headers(OPENING_COLUMNS, language)
    expected = world_records(sandbox)
    assert len(records) - 1 == len(expected) > 0
    col = {name: i for i, (name, _, _) in enumerate(RECORD_COLUMNS)}
    for row, want in zip(records[1:], expected, strict=True):
        assert int(row[col["record_id"]]) == want["record_id"]
        assert minor(row[col["net"]], "EUR") == want["net"] == want["amount"] - want["fee"]
        assert minor(row[col["balance_after"]], "EUR") == want["balance_after"]
        assert row[col["created_at"]] == _at(want["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
    # per account: opening + sum(net) == last balance after
    ocol = {name: i for i, (name, _, _) in enumerate(OPENING_COLUMNS)}
    closing, net = {}, defaultdict(int)
    for row in records[1:]:
        key = tuple(int(row[col[k]]) for k in ("merchant_id", "shop_id", "gateway_id"))
        net[key] += minor(row[col["net"]], "EUR")
        closing[key] = minor(row[col["balance_after"]], "EUR")
    for row in opening[1:]:
        key = tuple(int(row[ocol[k]]) for k in ("merchant_id", "shop_id", "gateway_id"))
        assert row[ocol["date"]] == "2025-02-01 00:00:00" and row[ocol["currency"]] == "EUR"
        if key in closing:
            assert minor(row[ocol["opening_balance"]], "EUR") + net[key] == closing[key]


def test_csv_money_has_exactly_the_currency_digits(sandbox):
    for currency, pattern in (("EUR", r"-?\d+\.\d\d"), ("JPY", r"-?\d+"), ("KWD", r"-?\d+\.\d\d\d")):
        sheets = read_sheets(download(sandbox, currency=currency), "csv")
        amounts = [row[RECORD_COLUMNS.index(("amount", "Amount", "Сумма"))] for row in sheets["balance_records"][1:]]
        assert amounts, currency
        assert all(re.fullmatch(pattern, a) for a in amounts), currency
        world = world_records(sandbox, currency)
        assert amounts == [format(from_minor(r["amount"], currency), "f") for r in world]


@pytest.mark.parametrize("scope", ["merchant_id", "shop_id", "gateway_id"])
def test_scope_selects_the_accounts(sandbox, scope):
    value = world_records(sandbox)[0][scope]
    sheets = read_sheets(download(sandbox, **{scope: value}), "csv")
    i = [name for name, _, _ in RECORD_COLUMNS].index(scope)
    assert {int(r[i]) for r in sheets["balance_records"][1:]} == {value}
    assert len(sheets["balance_records"]) - 1 == len(world_records(sandbox, **{scope: value}))


def test_request_parameters_alias_and_offsets_echoed_in_utc(sandbox):
    body = {
        "type": "balance_records",
        "format": "csv",
        "user_id": 1,
        "request_parameters": {
            "date_from": "2025-02-01T00:00:00.000000+03:00",
            "date_to": "2025-02-10T23:59:59.999999-05:00",
            "currency": "USD",
        },
    }
    report = create(sandbox, body=body).json()["data"]["report"]
    assert report["language"] == "en" and report["notification_email"] is None
    assert report["request_params"] == {
        "currency": "USD",
        "date_from": "2025-01-31T21:00:00.000000+00:00",
        "date_to": "2025-02-11T04:59:59.999999+00:00",
    }


# ---------------------------------------------------------------- the link


def test_file_link_refuses_an_authorization_header(sandbox):
    report = wait(sandbox, create(sandbox).json()["data"]["report"]["id"])
    r = requests.get(report["file_url"], auth=sandbox.credentials["balance_records"].auth(), timeout=10)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/xml"
    assert "<Code>InvalidArgument</Code>" in r.text and "Only one auth mechanism allowed" in r.text


def test_tampered_signature_is_403(sandbox):
    report = wait(sandbox, create(sandbox).json()["data"]["report"]["id"])
    r = requests.get(report["file_url"][:-4] + "0000", timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text


# ---------------------------------------------------------------- errors


def test_bad_credentials_give_the_error_envelope(sandbox):
    r = create(sandbox, auth=("1", "wrong"))
    assert r.status_code == 401
    error = r.json()["error"]
    assert set(error) == {"code", "message", "friendly_message", "help"} and error["code"] == "unauthorized"
    assert requests.get(sandbox.dwh_url + "/api/v2/reports/x", auth=("1", "wrong"), timeout=10).status_code == 401


def test_unknown_report_is_404(sandbox):
    r = show(sandbox, "00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"request_params": {"date_from": FEBRUARY["date_from"], "date_to": FEBRUARY["date_to"]}},
            "request_params.currency is required",
        ),
        ({"request_params": {**FEBRUARY, "currency": "EURO"}}, "request_params.currency is invalid"),
        (
            {"request_params": {"date_to": FEBRUARY["date_to"], "currency": "EUR"}},
            "request_params.date_from is required",
        ),
        (
            {"request_params": {**FEBRUARY, "date_from": "2025-02-01T00:00:00", "currency": "EUR"}},
            "request_params.date_from is invalid",
        ),
        ({"request_params": {**FEBRUARY, "shop_id": "2101", "currency": "EUR"}}, "request_params.shop_id is invalid"),
        ({"format": "pdf"}, "format is invalid"),
        ({"type": "transactions"}, "type is invalid"),
        ({"language": "de"}, "language is invalid"),
        ({"user_id": None}, "user_id is required"),
        ({"request_params": None}, "request_params is required"),
    ],
)
def test_invalid_request_is_422_naming_the_field(sandbox, change, message):
    body = {"type": "balance_records", "format": "csv", "user_id": 1, "request_params": {**FEBRUARY, "currency": "EUR"}}
    body.update(change)
    r = create(sandbox, body=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "unprocessable_entity" and error["message"].startswith(message)
