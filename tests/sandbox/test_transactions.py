"""The sandbox's beGateway shop report (POST /api/reports, X-Api-Version 3) over real HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

PARAMS = {
    "date_type": "created_at",
    "from": "2025-01-01 00:00:00",
    "to": "2025-03-31 23:59:59",
    "status": "all",
    "payment_method_type": "credit_card",
    "time_zone": "UTC",
}


def post(sb, params=None, *, auth=None, version="3", body=None):
    headers = {} if version is None else {"X-Api-Version": version}
    return requests.post(
        sb.transactions_url + "/api/reports",
        json={"report_params": {**PARAMS, **(params or {})}} if body is None else body,
        headers=headers,
        auth=auth or sb.credentials["transactions"].auth(),
        timeout=10,
    )


def utc(value):
    """A served timestamp (text) or a world one (datetime) as an aware datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def expected_ids(
    sb,
    *,
    shop_id=None,
    date_type="created_at",
    start=None,
    end=None,
    status="all",
    method="credit_card",
    corrected=None,
):
    """Ids the report should hold, computed straight from the world ([start, end) in UTC)."""
    shop_id = shop_id or int(sb.credentials["transactions"].user)
    out = []
    for tx in sb.world.transactions:
        at = tx.get(date_type)
        if tx["shop"]["id"] != shop_id or at is None or tx["payment_method_type"] != method:
            continue
        if status != "all" and tx["status"] != status:
            continue
        if start is not None and not start <= utc(at) < end:
            continue
        if corrected is not None:
            fixed = tx.get("manually_corrected_at")
            if fixed is None or not corrected[0] <= utc(fixed) < corrected[1]:
                continue
        out.append(tx["id"])
    return sorted(out)


def pull_forward(sb, params):
    ids, cursor, pages = [], None, 0
    while True:
        extra = {} if cursor is None else {"starting_after": cursor}
        body = post(sb, {**params, **extra}).json()
        pages += 1
        assert body["count"] == len(body["transactions"])
        ids += [t["id"] for t in body["transactions"]]
        if not body["has_more"]:
            return ids, pages
        cursor = body["last_object_id"]


def key_tree(obj):
    if isinstance(obj, dict):
        return {k: key_tree(v) for k, v in obj.items()}
    return None


# ---------------------------------------------------------------- shape


def test_served_transaction_has_the_seed_shape(sandbox, api_examples):
    seed = api_examples["transactions_response"]
    body = post(sandbox).json()
    assert set(body) == set(seed)
    assert isinstance(body["count"], int) and isinstance(body["has_more"], bool)
    assert isinstance(body["first_object_id"], int) and isinstance(body["last_object_id"], int)
    seed_tree = key_tree(seed["transactions"][0])
    for tx in body["transactions"]:
        tree = key_tree(tx)
        assert tree.pop("parent_uid", None) is None  # an extra field the platform sends (loaders keep it)
        assert tree == seed_tree
        assert isinstance(tx["amount"], int) and isinstance(tx["id"], int)
        assert isinstance(tx["transaction_fee"], float) and tx["transaction_fee"] == int(tx["transaction_fee"])
        assert isinstance(tx["pay_to_merchant"], float)
        assert tx["credit_card"]["brand"] and tx["credit_card"]["product"]
    assert body["first_object_id"] == body["transactions"][0]["id"]
    assert body["last_object_id"] == body["transactions"][-1]["id"]


def test_alternative_transactions_carry_an_extra_nested_object(sandbox, api_examples):
    body = post(sandbox, {"payment_method_type": "alternative"}).json()
    assert body["transactions"]
    seed_tree = key_tree(api_examples["transactions_response"]["transactions"][0])
    for tx in body["transactions"]:
        tree = key_tree(tx)
        tree.pop("parent_uid", None)
        assert set(tree.pop("alternative")) == {"method", "account_country"}
        assert tree == seed_tree
        assert set(tx["credit_card"].values()) == {None}


def test_the_seed_request_example_is_accepted(sandbox, api_examples):
    body = post(sandbox, body=api_examples["transactions_request"]).json()
    assert body == {"transactions": [], "count": 0, "has_more": False, "first_object_id": None, "last_object_id": None}


def test_uids_come_in_both_forms(sandbox):
    uids = [t["uid"] for t in sandbox.world.transactions]
    assert any(len(u) == 16 and u[5] == "-" for u in uids)
    assert any(len(u) == 36 for u in uids)


# ---------------------------------------------------------------- filters


def test_answer_holds_only_the_authenticated_shops_rows(sandbox):
    for shop in sandbox.world.shops[:2]:
        body = post(sandbox, auth=(str(shop["id"]), shop["secret"])).json()
        assert {t["shop"]["id"] for t in body["transactions"]} <= {shop["id"]}
        assert [t["id"] for t in body["transactions"]] == expected_ids(sandbox, shop_id=shop["id"])[: sandbox.page_size]


@pytest.mark.parametrize("status", ["successful", "failed", "pending", "incomplete"])
def test_status_filter(sandbox, status):
    body = post(sandbox, {"status": status}).json()
    assert [t["id"] for t in body["transactions"]] == expected_ids(sandbox, status=status)[: sandbox.page_size]


def test_from_and_to_are_inclusive_wall_clock_in_the_zone(sandbox):
    tx = next(
        t
        for t in sandbox.world.transactions
        if t["shop"]["id"] == int(sandbox.credentials["transactions"].user)
        and t["payment_method_type"] == "credit_card"
        and utc(t["created_at"]).day > 1
    )
    at = utc(tx["created_at"])
    for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
        wall = at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
        body = post(sandbox, {"from": wall, "to": wall, "time_zone": zone}).json()
        assert tx["id"] in [t["id"] for t in body["transactions"]]
        assert [t["id"] for t in body["transactions"]] == expected_ids(sandbox, start=at, end=at + timedelta(seconds=1))


def test_non_utc_zone_gives_wall_clock_ending_in_z(sandbox):
    zone = ZoneInfo("Asia/Tokyo")
    body = post(sandbox, {"time_zone": "Asia/Tokyo", "from": "2025-02-01 00:00:00", "to": "2025-02-03 23:59:59"}).json()
    start = datetime(2025, 2, 1, tzinfo=zone).astimezone(UTC)
    assert [t["id"] for t in body["transactions"]] == expected_ids(sandbox, start=start, end=start + timedelta(days=3))
    world = {t["id"]: t for t in sandbox.world.transactions}
    for tx in body["transactions"]:
        assert tx["created_at"].endswith("Z")
        true_utc = utc(world[tx["id"]]["created_at"])
        assert tx["created_at"] == true_utc.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_settled_at_takes_dates_in_the_zone(sandbox):
    zone = ZoneInfo("Europe/Riga")
    body = post(
        sandbox, {"date_type": "settled_at", "from": "2025-02-10", "to": "2025-02-11", "time_zone": "Europe/Riga"}
    ).json()
    start = datetime(2025, 2, 10, tzinfo=zone).astimezone(UTC)
    expected = expected_ids(sandbox, date_type="settled_at", start=start, end=start + timedelta(days=2))
    assert expected and [t["id"] for t in body["transactions"]] == expected


def test_manual_correction_range_narrows_the_report(sandbox):
    body = post(
        sandbox, {"manual_correction_from": "2025-01-01 00:00:00", "manual_correction_to": "2025-12-31 23:59:59"}
    ).json()
    got = [t["id"] for t in body["transactions"]]
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    assert got and got == expected_ids(sandbox, corrected=(start, end))
    assert set(got) <= set(sandbox.world.manually_corrected_ids)


# ---------------------------------------------------------------- pagination


def test_forward_pagination_returns_every_row_once(fresh_sandbox):
    sb = fresh_sandbox
    ids, pages = pull_forward(sb, {"status": "all"})
    expected = expected_ids(sb)
    assert ids == expected and len(set(ids)) == len(ids)
    assert len(expected) > 2 * sb.page_size and pages == -(-len(expected) // sb.page_size)
    cursors = [r.json["report_params"].get("starting_after") for r in sb.requests]
    assert cursors[0] is None and cursors[1:] == ids[sb.page_size - 1 :: sb.page_size][: len(cursors) - 1]


def test_reverse_pagination_returns_every_row_once_in_ascending_pages(fresh_sandbox):
    sb = fresh_sandbox
    expected = expected_ids(sb)
    collected, cursor = [], str(max(expected) + 1)
    while True:
        body = post(sb, {"ending_before": cursor}).json()
        page = [t["id"] for t in body["transactions"]]
        assert page == sorted(page) and len(page) <= sb.page_size
        collected = page + collected
        if not body["has_more"]:
            break
        cursor = body["first_object_id"]
    assert collected == expected


def test_cursor_accepts_string_and_integer(fresh_sandbox):
    first = post(fresh_sandbox).json()
    as_int = post(fresh_sandbox, {"starting_after": first["last_object_id"]}).json()
    as_str = post(fresh_sandbox, {"starting_after": str(first["last_object_id"])}).json()
    assert as_int == as_str and as_int["transactions"][0]["id"] > first["last_object_id"]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("field", ["date_type", "from", "to", "status", "payment_method_type", "time_zone"])
def test_missing_field_is_422_naming_it(sandbox, field):
    params = {k: v for k, v in PARAMS.items() if k != field}
    r = post(sandbox, body={"report_params": params})
    assert r.status_code == 422
    assert r.json() == {"message": f"report_params.{field} is missing", "errors": {field: ["is missing"]}}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("date_type", "updated_at", "must be one of: created_at, paid_at, settled_at"),
        ("from", "2025-01-01", "must be in format YYYY-MM-DD hh:mm:ss"),
        ("to", "2025-13-01 00:00:00", "must be in format YYYY-MM-DD hh:mm:ss"),
        ("status", "paid", "must be one of: all, successful, failed, pending, incomplete"),
        ("payment_method_type", "card", "must be one of: credit_card, alternative"),
        ("time_zone", "Mars/Olympus", "must be an IANA time zone name such as Europe/London"),
        ("starting_after", "abc", "must be a transaction id (integer)"),
        ("ending_before", -5, "must be a transaction id (integer)"),
        ("manual_correction_from", "yesterday", "must be in format YYYY-MM-DD hh:mm:ss"),
    ],
)
def test_invalid_field_is_422_naming_it(sandbox, field, value, message):
    r = post(sandbox, {field: value})
    assert r.status_code == 422
    assert r.json() == {"message": f"report_params.{field} is invalid", "errors": {field: [message]}}


def test_settled_at_wants_plain_dates(sandbox):
    r = post(sandbox, {"date_type": "settled_at"})
    assert r.status_code == 422
    assert r.json()["errors"] == {"from": ["must be in format YYYY-MM-DD"], "to": ["must be in format YYYY-MM-DD"]}


def test_both_cursors_at_once_is_422(sandbox):
    r = post(sandbox, {"starting_after": 1, "ending_before": 5})
    assert r.status_code == 422
    assert r.json()["errors"] == {"ending_before": ["cannot be used together with starting_after"]}


def test_missing_report_params_is_422(sandbox):
    r = post(sandbox, body={"params": {}})
    assert (r.status_code, r.json()) == (
        422,
        {"message": "report_params is missing", "errors": {"report_params": ["is missing"]}},
    )


@pytest.mark.parametrize("version", [None, "2"])
def test_api_version_3_is_required(sandbox, version):
    r = post(sandbox, version=version)
    assert r.status_code == 400
    assert "X-Api-Version" in r.json()["message"]


def test_wrong_secret_is_401(sandbox):
    shop = sandbox.world.shops[0]
    r = post(sandbox, auth=(str(shop["id"]), "wrong"))
    assert (r.status_code, r.json()) == (401, {"message": "Unauthorized", "errors": {}})
    other = sandbox.world.shops[1]
    assert post(sandbox, auth=(str(shop["id"]), other["secret"])).status_code == 401


def test_request_log_records_the_body_and_hides_the_secret(fresh_sandbox):
    sb = fresh_sandbox
    sb.clear_requests()
    post(sb, {"status": "successful"})
    (record,) = sb.requests
    creds = sb.credentials["transactions"]
    assert (record.method, record.path, record.status) == ("POST", "/gateway/api/reports", 200)
    assert record.json == {"report_params": {**PARAMS, "status": "successful"}}
    assert record.headers["Authorization"] == f"<basic user={creds.user}>"
    assert record.headers["x-api-version"] == "3"
    assert creds.secret not in repr(record)
    assert datetime.fromtimestamp(record.at, UTC).date() >= date(2025, 1, 1)


def test_to_before_from_is_422(sandbox):
    r = post(sandbox, {"from": "2025-02-02 00:00:00", "to": "2025-02-01 23:59:59"})
    assert (r.status_code, r.json()["errors"]) == (422, {"to": ["must not be before from"]})


def test_body_that_is_not_json_is_400(sandbox):
    r = requests.post(
        sandbox.transactions_url + "/api/reports",
        data=b"{report_params:",
        timeout=10,
        headers={"X-Api-Version": "3", "Content-Type": "application/json"},
        auth=sandbox.credentials["transactions"].auth(),
    )
    assert (r.status_code, r.json()) == (400, {"message": "request body is not valid JSON", "errors": {}})


@pytest.mark.parametrize("field, value", [("count", 5), ("date_typ", "created_at"), ("per_page", 100)])
def test_unknown_field_is_422_naming_it(sandbox, field, value):
    r = post(sandbox, {field: value})
    assert r.status_code == 422
    assert r.json() == {"message": f"report_params.{field} is not permitted", "errors": {field: ["is not permitted"]}}


def test_unknown_field_is_named_before_other_problems(sandbox):
    r = post(sandbox, body={"report_params": {"count": 5, "status": "paid"}})
    body = r.json()
    assert (r.status_code, body["message"]) == (422, "report_params.count is not permitted")
    assert next(iter(body["errors"])) == "count" and body["errors"]["status"] == [
        "must be one of: all, successful, failed, pending, incomplete"
    ]
