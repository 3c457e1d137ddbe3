"""The ``makecommerce-recorded`` dialect of the sandbox's account statements, over raw HTTP.

Every quirk of the live-recorded page (tests/data/real-world/) is pinned on
the bytes the sandbox sends: float artefacts, omitted keys, zero-amount VAT
lines (two identical ones in a row), VAT before its fee, ``Link`` without
spaces and with first/last on a single page, default ``per_page`` 30,
``X-Request-Id``; and ``until`` read as an instant.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
from base64 import b64encode
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.recorded_statements import TWIN_ZERO_VAT_PAYMENT

PATH = "/v1/shop/accountstatements"
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def recorded():
    with Sandbox(seed=0, size=200, per_page_max=100, dialect="makecommerce-recorded") as sb:
        yield sb


def get(sb, params=None, url=None):
    return requests.get(
        url or sb.statements_url + PATH, params=params, auth=sb.credentials["statements"].auth(), timeout=10
    )


def raw_get(sb, params):
    """(status, [(header, value)] with the header names as sent, body bytes) through http.client."""
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
    creds = sb.credentials["statements"]
    token = b64encode(f"{creds.user}:{creds.secret}".encode()).decode()
    try:
        conn.request("GET", f"/makecommerce{PATH}?{urlencode(params)}", headers={"Authorization": "Basic " + token})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def links(response):
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])}


def walk(sb, params):
    """Every page from the first, following ``Link: next``: (rows as exact Decimals, responses)."""
    responses = [get(sb, params)]
    while "next" in links(responses[-1]):
        responses.append(get(sb, url=links(responses[-1])["next"]))
        assert len(responses) < 100
    return [row for r in responses for row in json.loads(r.text, parse_float=Decimal)], responses


def created(row):
    value = row["created"]
    return value if isinstance(value, datetime) else datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def cents(value):
    return Decimal(value).quantize(CENT)


@pytest.fixture(scope="module")
def whole(recorded):
    """The whole chain as served, read page by page (rows, responses)."""
    return walk(recorded, {"since": "2025-01-01", "per_page": 100})


# -- numbers -----------------------------------------------------------------------------


def test_balances_carry_float_artefacts_in_the_raw_bytes(whole):
    _rows, responses = whole
    text = "".join(r.text for r in responses)
    noisy = re.findall(r'"balance_before":(-?\d+\.\d{6,})', text)
    assert len(noisy) >= 10 and '"original_amount":0.0' in text and '"exchange_rate":0.0' in text
    for value in noisy:  # noise, not rounding: within a millionth of a cent of a whole cent
        assert abs(Decimal(value) - cents(value)) < Decimal("1e-8")
    assert not re.search(r'"balance_after":-?\d+\.\d{3,}', text)


def test_the_chain_is_exact_in_cents_and_matches_what_the_sandbox_says_it_serves(recorded, whole):
    rows, _ = whole
    served = recorded.served_statements()
    assert len(rows) == len(served) and len(served) > len(recorded.world.statements)
    for got, exact in zip(rows, served, strict=True):
        assert cents(got["balance_before"]) == exact["balance_before"]
        assert cents(got["amount"]) == exact["amount"] and cents(got["balance_after"]) == exact["balance_after"]
        assert exact["balance_before"] + exact["amount"] == exact["balance_after"]
    for before, after in itertools.pairwise(served):
        assert before["balance_after"] == after["balance_before"]
    assert served[0]["balance_before"] == recorded.world.statements[0]["balance_before"]
    assert sum(r["amount"] for r in served) == sum(r["amount"] for r in recorded.world.statements)


def test_every_payout_is_minus_the_sum_of_its_rows(recorded):
    served = recorded.served_statements()
    sums = defaultdict(Decimal)
    for row in served:
        if row["type"] != "PAYOUT" and row.get("payout_id"):
            sums[row["payout_id"]] += row["amount"]
    payouts = {r["payout_id"]: r["amount"] for r in served if r["type"] == "PAYOUT"}
    assert payouts and payouts == {p: -total for p, total in sums.items()}
    assert payouts == {p["payout_id"]: p["amount"] for p in recorded.world.payouts}


# -- keys and lines ------------------------------------------------------------------------


def test_keys_are_omitted_not_null(whole):
    rows, responses = whole
    text = "".join(r.text for r in responses)
    assert "null" not in text and "transaction_id" not in text
    payouts = [r for r in rows if r["type"] == "PAYOUT"]
    assert payouts and all("transaction" not in r and "channel" not in r for r in payouts)


def test_two_identical_zero_vat_lines_in_a_row_in_the_first_month(whole):
    rows, _ = whole
    twins = [i for i in range(len(rows) - 1) if rows[i] == rows[i + 1]]
    assert len(twins) == 1
    twin = rows[twins[0]]
    assert twin["type"] == "VAT" and twin["amount"] == 0 and twin["balance_before"] == twin["balance_after"]
    assert created(twin).month == 1 and created(twin).year == 2025
    incomes = [r for r in rows[: twins[0]] if r["type"] == "INCOME"]
    assert incomes[-1]["transaction"] == twin["transaction"] and len(incomes) == TWIN_ZERO_VAT_PAYMENT + 1
    zeros = [r for r in rows if r["type"] == "VAT" and r["amount"] == 0]
    assert len(zeros) > 3  # single zero lines elsewhere too


def _vat(fee):
    return -(abs(fee) * Decimal("0.22")).quantize(CENT, rounding=ROUND_DOWN)


def test_vat_comes_before_its_fee_in_some_payments_and_after_in_others(whole):
    rows, _ = whole
    before = [
        i
        for i in range(len(rows) - 1)
        if rows[i]["type"] == "VAT"
        and rows[i]["amount"] != 0
        and rows[i + 1]["type"] == "TRX_FEE"
        and rows[i]["transaction"] == rows[i + 1]["transaction"]
        and cents(rows[i]["amount"]) == _vat(cents(rows[i + 1]["amount"]))
    ]
    after = [
        i
        for i in range(len(rows) - 1)
        if rows[i]["type"] == "TRX_FEE"
        and rows[i + 1]["type"] == "VAT"
        and rows[i]["transaction"] == rows[i + 1]["transaction"]
    ]
    payments = sum(r["type"] == "INCOME" for r in rows)
    assert len(before) == (payments + 2) // 4 and len(after) == payments - len(before)


# -- paging headers ------------------------------------------------------------------------------


def test_default_page_is_30_rows_and_link_entries_are_joined_without_a_space(recorded):
    r = get(recorded, {"since": "2025-01-01"})
    assert len(r.json()) == 30 and int(r.headers["X-Total-Count"]) > 60
    link = r.headers["Link"]
    assert ", " not in link and link.count('>; rel="') == 3 and '",<' in link
    assert set(links(r)) == {"first", "next", "last"}
    for url in links(r).values():
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["per_page"] == "30" and query["since"] == "2025-01-01" and url.startswith(recorded.statements_url)
    assert dict(parse_qsl(urlsplit(links(r)["next"]).query))["page"] == "2"


def test_a_single_page_still_has_first_and_last(recorded):
    payout = recorded.world.payouts[5]["payout_id"]
    r = get(recorded, {"payout_id": payout})
    assert 0 < len(r.json()) < 30 and r.headers["X-Total-Count"] == str(len(r.json()))
    assert set(links(r)) == {"first", "last"} and links(r)["first"] == links(r)["last"]
    assert "page=1&per_page=30" in links(r)["first"]


def test_raw_headers_are_spelled_as_recorded(recorded):
    status, headers, body = raw_get(recorded, {"since": "2025-03-30"})
    names = dict(headers)
    assert status == 200 and "X-Request-Id" in names and "X-Request-ID" not in names
    assert names["Content-Type"] == "application/json;charset=UTF-8" and names["Content-Length"] == str(len(body))


def test_begateway_keeps_its_spelling_and_link_syntax(fresh_sandbox):
    status, headers, _ = raw_get(fresh_sandbox, {"since": "2025-01-01"})
    names = dict(headers)
    assert status == 200 and "X-Request-ID" in names and "X-Request-Id" not in names
    assert '>; rel="first", <' in names["Link"] and "per_page" not in names["Link"]


# -- since / until ---------------------------------------------------------------------------------


def _expected(sb, lo, hi):
    return [r for r in sb.served_statements() if lo <= created(r) <= hi]


def test_until_is_an_instant_so_a_date_drops_that_days_rows(recorded):
    lo, hi = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC)
    rows, _ = walk(recorded, {"since": "2025-01-01", "until": "2025-01-20", "per_page": 100})
    expected = _expected(recorded, lo, hi)
    assert len(rows) == len(expected) and all(created(r) < hi for r in rows)
    later_that_day = [r for r in recorded.served_statements() if created(r).date().isoformat() == "2025-01-20"]
    assert later_that_day and all(created(r) > hi for r in later_that_day)
    with Sandbox(seed=0, size=200, per_page_max=100) as begateway:  # reads the same date as the whole day
        day_rows, _ = walk(begateway, {"since": "2025-01-01", "until": "2025-01-20", "per_page": 100})
        assert sum(created(r).date().isoformat() == "2025-01-20" for r in day_rows) > 0


def test_since_and_until_take_timestamps_utc_when_no_zone(recorded):
    served = recorded.served_statements()
    first, last = created(served[40]), created(served[70])
    riga = timezone(timedelta(hours=2))
    naive = {"since": f"{first:%Y-%m-%dT%H:%M:%S}", "until": f"{last:%Y-%m-%dT%H:%M:%S}"}
    zoned = {"since": first.astimezone(riga).isoformat(), "until": f"{last:%Y-%m-%dT%H:%M:%SZ}"}
    spaced = {"since": f"{first:%Y-%m-%d %H:%M:%S}", "until": last.astimezone(riga).strftime("%Y-%m-%dT%H:%M:%S%z")}
    rows, _ = walk(recorded, {**naive, "per_page": 100})
    assert len(rows) == len(_expected(recorded, first, last)) >= 31
    assert created(rows[0]) == first and created(rows[-1]) == last  # both bounds inclusive
    assert walk(recorded, {**zoned, "per_page": 100})[0] == rows == walk(recorded, {**spaced, "per_page": 100})[0]
    earlier = {**naive, "until": f"{last - timedelta(seconds=1):%Y-%m-%dT%H:%M:%S}", "per_page": 100}
    assert all(created(r) < last for r in walk(recorded, earlier)[0])


def test_a_malformed_bound_is_a_400_naming_it(recorded):
    r = get(recorded, {"since": "2025-01-01", "until": "yesterday"})
    assert r.status_code == 400 and r.json()["code"] == 1001
    assert r.json()["errors"] == [
        {
            "type": "invalid",
            "parameter": "until",
            "expected": "YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[±hh:mm] (UTC when no zone)",
        }
    ]


def test_rows_inserted_while_paging_keep_the_recorded_shape():
    with Sandbox(seed=0, size=200, per_page_max=100, dialect="makecommerce-recorded") as sb:
        sb.set_faults(insert_during_paging=5)
        before = len(sb.served_statements())
        first = get(sb, {"since": "2025-01-01"})
        assert int(first.headers["X-Total-Count"]) == before
        served = sb.served_statements()
        assert len(served) == before + 5 and "transaction_id" not in served[-1]
        assert all(a["balance_after"] == b["balance_before"] for a, b in itertools.pairwise(served))
