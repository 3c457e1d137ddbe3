"""``Replay``: recorded answers of the real services served as they are, over real HTTP."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import requests

from ledgerkit.sandbox.replay import Recorded, Replay, load_recording

REAL = Path(__file__).resolve().parents[1] / "data" / "real-world"
STATEMENTS = "makecommerce-accountstatements-recorded.json"


def raw(server, method, target, body=None):
    """(status, [(header, value)] as sent, body bytes) through http.client."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers={"Authorization": "Basic c2hvcDpzZWNyZXQ="})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def test_each_payload_names_its_source_and_the_readme_lists_it():
    readme = (REAL / "README.md").read_text(encoding="utf-8")
    names = sorted(path.name for path in REAL.glob("*.json"))
    assert names == ["dwh-official-client-fixtures.json", "dwh-report-successful.json", STATEMENTS]
    for name in names:
        assert len(load_recording(REAL / name)["source"]) > 40 and f"`{name}`" in readme


def test_the_recorded_statements_page_is_served_byte_for_byte():
    payload = load_recording(REAL / STATEMENTS)
    with Replay({"GET /v1/shop/accountstatements": Recorded.from_payload(payload)}) as server:
        status, headers, body = raw(server, "GET", "/v1/shop/accountstatements?since=2017-08-09")
        via_requests = requests.get(
            server.url + "/v1/shop/accountstatements",
            params={"since": "2017-08-09"},
            auth=("shop", "secret"),
            timeout=10,
        )
    assert status == 200
    assert headers == [*payload["headers"].items(), ("Content-Length", str(len(body)))]
    assert json.loads(body) == payload["body"] and len(payload["body"]) == 6
    assert b'"balance_before":142.01000000000002' in body and b'"balance_before":141.64999999999998' in body
    assert via_requests.json() == payload["body"] and via_requests.headers["X-Total-Count"] == "6"
    assert server.requests[0].query == {"since": "2017-08-09"}
    assert server.requests[1].headers["Authorization"] == "<basic user=shop>"


def test_dwh_fixtures_through_a_create_and_poll_sequence():
    fixtures = load_recording(REAL / "dwh-official-client-fixtures.json")
    successful = load_recording(REAL / "dwh-report-successful.json")["body"]
    created = fixtures["create_report_response"]
    report_id = created["data"]["report"]["id"]
    json_type = {"Content-Type": "application/json; charset=utf-8"}
    routes = {
        "POST /api/v2/reports": [
            Recorded(401, json_type, fixtures["error_401"]),
            Recorded(422, json_type, fixtures["error_422"]),
            Recorded(201, json_type, created),
        ],
        f"GET /api/v2/reports/{report_id}": [Recorded(200, json_type, created), Recorded(200, json_type, successful)],
    }
    with Replay(routes) as server:
        answers = [
            requests.post(server.url + "/api/v2/reports", json=fixtures["create_report_request"], timeout=10)
            for _ in range(3)
        ]
        polls = [requests.get(f"{server.url}/api/v2/reports/{report_id}", timeout=10).json() for _ in range(3)]
        missing = requests.get(server.url + "/api/v2/reports/other", timeout=10)
    assert [a.status_code for a in answers] == [401, 422, 201]
    assert answers[1].content == json.dumps(fixtures["error_422"], separators=(",", ":")).encode()
    assert answers[2].json() == created
    assert [p["data"]["report"]["status"] for p in polls] == ["pending", "successful", "successful"]
    assert polls[-1]["data"]["report"]["request_params"]["date_from"] == "2024-12-31T21:00:00.000000Z"
    assert missing.status_code == 404 and "GET /api/v2/reports/other" in missing.json()["message"]
    assert server.requests[0].json == fixtures["create_report_request"] and server.requests[0].status == 401


def test_a_route_with_a_query_matches_that_query_only():
    routes = {"GET /v1/x?page=2": Recorded(200, {}, "second"), "GET /v1/x": Recorded(200, {}, b"any")}
    with Replay(routes) as server:
        got = [raw(server, "GET", target)[2] for target in ("/v1/x?page=2", "/v1/x?page=3", "/v1/x")]
    assert got == [b"second", b"any", b"any"]
