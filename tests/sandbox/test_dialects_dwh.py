"""The ``dwh-official-client`` dialect of the sandbox's DWH report, over raw HTTP (no loader).

Pinned against the official client's fixtures and the help page's example
(tests/data/real-world/): the report type, generic 422 and the 401 body,
``pending`` (no attempt) then an unknown status, the echoed dates, naive
dates read as UTC, ``date_to`` inclusive, and a sheet of only the justified
columns whose chains stay exact with adjustment / reserve / rate rows. The
intersection of merchant, shop and gateway ids holds in every dialect.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.files import OPENING_COLUMNS, headers
from ledgerkit.sandbox.justified_balance import EXTRA_MOVEMENTS

REAL = Path(__file__).resolve().parents[1] / "data" / "real-world"
FIXTURES = json.loads((REAL / "dwh-official-client-fixtures.json").read_text(encoding="utf-8"))
SUCCESSFUL = json.loads((REAL / "dwh-report-successful.json").read_text(encoding="utf-8"))["body"]
EN = [
    "Merchant ID",
    "Merchant name",
    "Shop ID",
    "Shop name",
    "Gateway ID",
    "Created at",
    "Type",
    "Description",
    "Currency",
    "Amount",
    "Balance after",
]
RU = [
    "ID мерчанта",
    "Название мерчанта",
    "ID магазина",
    "Название магазина",
    "ID шлюза",
    "Дата создания",
    "Type",
    "Description",
    "Валюта",
    "Сумма",
    "Баланс после",
]


@pytest.fixture(scope="module")
def official():
    with Sandbox(seed=0, size=200, report_seconds=0.05, dialect="dwh-official-client") as sb:
        yield sb


def body(report_type="balance_records_report", fmt="csv", language="en", **params):
    return {
        "type": report_type,
        "format": fmt,
        "language": language,
        "user_id": 1,
        "request_params": {
            "currency": "EUR",
            "date_from": "2025-01-01T00:00:00",
            "date_to": "2025-03-31T23:59:59",
            **params,
        },
    }


def create(sb, payload, auth=None):
    return requests.post(
        sb.dwh_url + "/api/v2/reports", json=payload, auth=auth or sb.credentials["balance_records"].auth(), timeout=10
    )


def show(sb, report_id):
    return requests.get(
        f"{sb.dwh_url}/api/v2/reports/{report_id}", auth=sb.credentials["balance_records"].auth(), timeout=10
    ).json()["data"]["report"]


def wait(sb, report_id, until=("successful", "failed")):
    deadline = time.monotonic() + 10
    report = show(sb, report_id)
    while report["status"] not in until and time.monotonic() < deadline:
        time.sleep(0.01)
        report = show(sb, report_id)
    return report


def sheets(sb, payload):
    """{sheet: rows, header first} of the report a request makes (cells as text)."""
    report = wait(sb, create(sb, payload).json()["data"]["report"]["id"])
    archive = zipfile.ZipFile(io.BytesIO(requests.get(report["file_url"], timeout=10).content))
    if payload["format"] == "csv":
        return {
            name: list(csv.reader(io.StringIO(archive.read(f"{name}.csv").decode("utf-8-sig"), newline="")))
            for name in ("balance_records", "opening_balance")
        }
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(archive.read("balance_records.xlsx")), read_only=True)
    return {
        name: [["" if c is None else str(c) for c in row] for row in book[name].iter_rows(values_only=True)]
        for name in book.sheetnames
    }


def minor(text, currency):
    return int(Decimal(text).scaleb({"JPY": 0, "KWD": 3}.get(currency, 2)))


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# -- request and answers -------------------------------------------------------------------


def test_the_documented_type_gets_the_generic_422(official):
    r = create(official, body(report_type="balance_records"))
    assert r.status_code == 422
    assert r.content == compact(
        {
            "error": {
                "code": "unprocessable_entity",
                "friendly_message": "Type is invalid.",
                "help": "https://doc.ecomcharge.com/codes/unprocessable_entity",
                "message": "Unprocessable entity",
            }
        }
    )


def test_every_422_is_generic_as_the_fixture(official):
    payload = body()
    del payload["request_params"]["date_from"]
    r = create(official, payload)
    assert r.status_code == 422 and r.content == compact(FIXTURES["error_422"])
    r = create(official, body(fmt="pdf"))
    assert r.json()["error"]["friendly_message"] == "Format is invalid."
    assert r.json()["error"]["message"] == "Unprocessable entity"


def test_the_401_body_is_the_fixtures(official):
    r = create(official, body(), auth=("1", "not-the-secret"))
    assert r.status_code == 401 and r.content == compact(FIXTURES["error_401"])


def test_begateway_refuses_the_clients_type_naming_the_field(fresh_sandbox):
    r = create(fresh_sandbox, body(date_from="2025-01-01T00:00:00+00:00", date_to="2025-02-01T00:00:00+00:00"))
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "type is invalid, expected one of: balance_records"


def test_create_answers_pending_without_attempt_as_the_fixture(official):
    r = create(official, FIXTURES["create_report_request"])
    assert r.status_code == 201
    report = r.json()["data"]["report"]
    expected = FIXTURES["create_report_response"]["data"]["report"]
    assert set(report) == set(expected) and "attempt" not in report
    assert report["status"] == "pending" and report["type"] == "balance_records_report"
    assert report["request_params"] == expected["request_params"]  # naive dates echoed as +00:00


def test_statuses_go_pending_then_an_unknown_one_then_successful(official):
    official.set_faults(report_stuck=True)
    try:
        report_id = create(official, body()).json()["data"]["report"]["id"]
        middle = wait(official, report_id, until=("processing", "successful", "failed"))
        assert middle["status"] == "processing" and middle["attempt"] == 1 and middle["file_url"] is None
    finally:
        official.clear_faults()
    done = wait(official, report_id)
    assert done["status"] == "successful" and set(done) == set(SUCCESSFUL["data"]["report"])
    assert done["request_params"]["date_from"] == "2025-01-01T00:00:00.000000Z"
    assert done["request_params"]["date_to"] == "2025-03-31T23:59:59.000000Z"


# -- the report sheet ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("language, names", [("en", EN), ("ru", RU)])
def test_the_sheet_has_only_the_justified_columns(official, fmt, language, names):
    got = sheets(official, body(fmt=fmt, language=language))
    assert got["balance_records"][0] == names
    assert got["opening_balance"][0] == headers(OPENING_COLUMNS, language)
    assert len(got["balance_records"]) > 50


def _chains(sheet, opening):
    """Check every account's chain in file order; return the rows as dicts."""
    names = sheet[0]
    rows = [dict(zip(names, row, strict=True)) for row in sheet[1:]]
    balance = {}
    for row in opening[1:]:
        o = dict(zip(opening[0], row, strict=True))
        balance[(o["Merchant ID"], o["Shop ID"], o["Gateway ID"])] = minor(o["Opening balance"], o["Currency"])
    for row in rows:
        key = (row["Merchant ID"], row["Shop ID"], row["Gateway ID"])
        balance[key] += minor(row["Amount"], row["Currency"])
        assert minor(row["Balance after"], row["Currency"]) == balance[key], row
    return rows


@pytest.mark.parametrize("currency", ["EUR", "KWD", "JPY"])
def test_chains_stay_exact_with_adjustment_reserve_and_rate_rows(official, currency):
    got = sheets(official, body(currency=currency, date_from="2025-01-15T00:00:00", date_to="2025-03-31T23:59:59"))
    rows = _chains(got["balance_records"], got["opening_balance"])
    extra = [r for r in rows if r["Type"] in {kind for kind, _, _ in EXTRA_MOVEMENTS}]
    kinds = {r["Type"] for r in extra}
    assert kinds <= {"adjustment", "rolling_reserve", "rolling_reserve_release", "rate"} and extra
    for row in extra:
        _kind, major, _text = next(m for m in EXTRA_MOVEMENTS if m[0] == row["Type"] and m[2] == row["Description"])
        assert Decimal(row["Amount"]) == major
    assert all(r["Description"] == "" for r in rows if r not in extra)
    if currency == "EUR":
        assert kinds == {"adjustment", "rolling_reserve", "rolling_reserve_release", "rate"}
        assert "[UserID:45] Balance debit" in {r["Description"] for r in extra}


def test_transaction_rows_move_the_balance_by_the_records_net(official):
    got = sheets(official, body(date_from="2025-02-01T00:00:00+00:00", date_to="2025-02-28T23:59:59.999999+00:00"))
    rows = [r for r in _chains(got["balance_records"], got["opening_balance"]) if r["Description"] == ""]
    world = [
        r
        for r in official.world.balance_records
        if r["currency"] == "EUR"
        and datetime(2025, 2, 1, tzinfo=UTC) <= r["created_at"] < datetime(2025, 3, 1, tzinfo=UTC)
    ]
    assert [(r["Type"], minor(r["Amount"], "EUR")) for r in rows] == [(r["transaction_type"], r["net"]) for r in world]


def test_date_to_is_inclusive_and_naive_dates_are_utc(official):
    records, _ = official.report_rows(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC), "EUR")
    at = records[20]["created_at"]
    naive = {"date_from": "2025-01-01T00:00:00", "date_to": f"{at:%Y-%m-%dT%H:%M:%S}"}
    got = sheets(official, body(**naive))["balance_records"][1:]
    assert len(got) == 21 and got[-1][5] == f"{at:%Y-%m-%d %H:%M:%S}"
    shifted = {
        "date_from": "2025-01-01T02:00:00+02:00",
        "date_to": (at + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
    }
    assert sheets(official, body(**shifted))["balance_records"][1:] == got


def test_begateway_date_to_is_exclusive(fresh_sandbox):
    records = [r for r in fresh_sandbox.world.balance_records if r["currency"] == "EUR"]
    at = records[20]["created_at"]
    payload = body(report_type="balance_records", date_from="2025-01-01T00:00:00+00:00", date_to=at.isoformat())
    assert len(sheets(fresh_sandbox, payload)["balance_records"]) - 1 == 20


# -- every dialect ---------------------------------------------------------------------------


def test_merchant_shop_and_gateway_together_narrow_to_their_intersection(dialect_sandbox):
    sb = dialect_sandbox
    scope = {"merchant_id": 21, "shop_id": 2101, "gateway_id": 301}
    payload = body(
        report_type=sb.dialect.report_type,
        date_from="2025-01-01T00:00:00+00:00",
        date_to="2025-04-01T00:00:00+00:00",
        **scope,
    )
    got = sheets(sb, payload)
    records = [dict(zip(got["balance_records"][0], row, strict=True)) for row in got["balance_records"][1:]]
    opening = got["opening_balance"][1:]
    assert len(opening) == 1 and [opening[0][i] for i in (0, 2, 4)] == ["21", "2101", "301"]
    assert records and {(r["Merchant ID"], r["Shop ID"], r["Gateway ID"]) for r in records} == {("21", "2101", "301")}
    expected, _ = sb.report_rows(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC), "EUR", **scope)
    assert len(records) == len(expected) >= 25
    other_merchant = dict(payload, request_params={**payload["request_params"], "merchant_id": 22})
    empty = sheets(sb, other_merchant)
    assert empty["balance_records"][1:] == [] and empty["opening_balance"][1:] == []
