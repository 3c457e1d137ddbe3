"""The sandbox's MakeCommerce account statements (GET /v1/shop/accountstatements) over real HTTP."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

PATH = "/v1/shop/accountstatements"


def get(sb, params=None, *, auth=None, url=None):
    return requests.get(
        url or sb.statements_url + PATH, params=params, auth=auth or sb.credentials["statements"].auth(), timeout=10
    )


def rows_of(response):
    """The body with amounts read as exact Decimals."""
    return json.loads(response.text, parse_float=Decimal)


def links(response):
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])}


def created(row):
    value = row["created"]
    return value if isinstance(value, datetime) else datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def world_rows(sb, since=None, until=None, payout_id=None):
    out = []
    for row in sb.world.statements:
        day = created(row).date().isoformat()
        if (since and day < since) or (until and day > until):
            continue
        if payout_id and row.get("payout_id") != payout_id:
            continue
        out.append(row)
    return out


def walk(sb, params):
    """Follow Link rel=next from page 1; return (rows, pages, responses)."""
    responses = [get(sb, params)]
    while "next" in links(responses[-1]):
        responses.append(get(sb, url=links(responses[-1])["next"]))
        assert len(responses) < 1000
    rows = [row for r in responses for row in rows_of(r)]
    return rows, responses


def normalized(rows):
    """Served or world rows comparable: numbers as exact Decimals, ``created`` as UTC datetimes."""
    return [
        {k: (Decimal(v) if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else v) for k, v in row.items()}
        | {"created": created(row)}
        for row in rows
    ]


# ---------------------------------------------------------------- shape


def test_rows_have_the_seed_shape_and_exact_amounts(sandbox, api_examples):
    r = get(sandbox, {"since": "2025-01-01", "per_page": 200})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    rows = rows_of(r)
    schema = set(api_examples["statements_schema_row"])
    seed_keys = {row["type"]: set(row) for row in api_examples["statements_rows"]}
    assert len(rows) == 200
    for row in rows:
        assert set(row) <= schema
        assert seed_keys.get(row["type"], set()) <= set(row)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", row["created"])
        for name in ("amount", "balance_before", "balance_after"):
            value = row[name]
            assert isinstance(value, int) or (isinstance(value, Decimal) and -value.as_tuple().exponent <= 2)
        assert Decimal(row["balance_before"]) + Decimal(row["amount"]) == Decimal(row["balance_after"])
    assert normalized(rows) == normalized(sandbox.world.statements[:200])


def test_amounts_are_written_as_json_numbers_never_via_float(sandbox):
    text = get(sandbox, {"since": "2025-01-01", "per_page": 500}).text
    numbers = re.findall(r'"amount":(-?[0-9.eE+]+)', text)
    assert numbers and all(re.fullmatch(r"-?\d+(\.\d{1,2})?", n) for n in numbers)
    assert not any(n.endswith("0") and "." in n for n in numbers)  # 10, 9.3, never 10.00 or 9.30


def test_seed_types_appear_with_vat_after_each_fee(sandbox):
    rows = sandbox.world.statements
    assert {"INCOME", "TRX_FEE", "TRX_FEE_FIX", "VAT", "PAYOUT"} <= {r["type"] for r in rows}
    for fee, vat in itertools.pairwise(rows):
        if fee["type"] in ("TRX_FEE", "TRX_FEE_FIX"):
            assert vat["type"] == "VAT" and vat["transaction_id"] == fee["transaction_id"]


# ---------------------------------------------------------------- paging


def test_link_headers_walk_all_pages_and_total_count_matches(sandbox):
    params = {"since": "2025-01-01", "until": "2025-01-31", "per_page": 97}
    rows, responses = walk(sandbox, params)
    expected = world_rows(sandbox, "2025-01-01", "2025-01-31")
    assert len(responses) == -(-len(expected) // 97) > 2
    assert normalized(rows) == normalized(expected)
    assert {r.headers["X-Total-Count"] for r in responses} == {str(len(expected))}


def test_link_urls_are_absolute_and_keep_every_parameter(sandbox):
    r = get(sandbox, {"since": "2025-01-01", "until": "2025-02-28", "per_page": 50, "page": 3})
    rels = links(r)
    total = int(r.headers["X-Total-Count"])
    assert set(rels) == {"first", "prev", "next", "last"}
    for rel, page in {"first": 1, "prev": 2, "next": 4, "last": -(-total // 50)}.items():
        parts = urlsplit(rels[rel])
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == sandbox.statements_url + PATH
        assert dict(parse_qsl(parts.query)) == {
            "since": "2025-01-01",
            "until": "2025-02-28",
            "per_page": "50",
            "page": str(page),
        }


def test_first_and_last_pages_lack_prev_and_next(sandbox):
    first = get(sandbox, {"since": "2025-01-01", "per_page": 100})
    assert set(links(first)) == {"first", "next", "last"}
    last = get(sandbox, url=links(first)["last"])
    assert set(links(last)) == {"first", "prev", "last"}
    assert 0 < len(rows_of(last)) <= 100


def test_default_page_size_and_page_beyond_the_end(sandbox):
    assert len(rows_of(get(sandbox, {"since": "2025-01-01"}))) == sandbox.per_page_default
    beyond = get(sandbox, {"since": "2025-01-01", "page": 100000})
    assert beyond.status_code == 200 and rows_of(beyond) == []


def test_payout_id_selects_the_payout_and_its_row(sandbox):
    payout = sandbox.world.payouts[3]
    rows, _ = walk(sandbox, {"payout_id": payout["payout_id"], "per_page": 500})
    assert rows and {r["payout_id"] for r in rows} == {payout["payout_id"]}
    (paid,) = [r for r in rows if r["type"] == "PAYOUT"]
    assert paid["amount"] == payout["amount"] < 0
    assert -sum(r["amount"] for r in rows if r["type"] != "PAYOUT") == payout["amount"]


def test_until_is_inclusive_through_the_end_of_the_day(sandbox):
    rows, _ = walk(sandbox, {"since": "2025-02-03", "until": "2025-02-03", "per_page": 500})
    assert rows and {r["created"][:10] for r in rows} == {"2025-02-03"}
    assert normalized(rows) == normalized(world_rows(sandbox, "2025-02-03", "2025-02-03"))


# ---------------------------------------------------------------- errors


def test_neither_since_nor_payout_id_gives_the_seed_400(sandbox, api_examples):
    r = get(sandbox, {"per_page": 10})
    assert r.status_code == 400 and r.json() == api_examples["statements_400"]
    assert r.headers["X-Request-ID"]


def test_bad_credentials_give_the_seed_401(sandbox, api_examples):
    r = get(sandbox, {"since": "2025-01-01"}, auth=(sandbox.credentials["statements"].user, "nope"))
    assert r.status_code == 401 and r.json() == api_examples["statements_401"]
    assert r.headers["WWW-Authenticate"] == 'Basic realm="api"'


@pytest.mark.parametrize(
    "params, error",
    [
        ({"since": "2025/01/01"}, {"type": "invalid", "parameter": "since", "expected": "YYYY-MM-DD"}),
        (
            {"since": "2025-01-01", "until": "2025-02-30"},
            {"type": "invalid", "parameter": "until", "expected": "YYYY-MM-DD"},
        ),
        (
            {"since": "2025-01-01", "per_page": 501},
            {"type": "invalid", "parameter": "per_page", "expected": "integer 1..500"},
        ),
        (
            {"since": "2025-01-01", "per_page": 0},
            {"type": "invalid", "parameter": "per_page", "expected": "integer 1..500"},
        ),
        ({"since": "2025-01-01", "page": "x"}, {"type": "invalid", "parameter": "page", "expected": "integer >= 1"}),
    ],
)
def test_malformed_parameters_are_400_code_1001(sandbox, params, error):
    r = get(sandbox, params)
    assert r.status_code == 400
    assert r.json() == {"code": 1001, "message": "Invalid request", "errors": [error]}


def test_request_log_has_the_query(fresh_sandbox):
    fresh_sandbox.clear_requests()
    get(fresh_sandbox, {"since": "2025-01-01", "per_page": 5})
    (record,) = fresh_sandbox.requests
    assert (record.method, record.path, record.status) == ("GET", "/makecommerce" + PATH, 200)
    assert record.query == {"since": "2025-01-01", "per_page": "5"} and record.json is None
