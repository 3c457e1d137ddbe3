"""Every fault switch of the sandbox does what it says (docs/CONTRACTS.md §2.4)."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
import requests

from ledgerkit.errors import ConfigurationError
from ledgerkit.sandbox.faults import Faults

PARAMS = {
    "date_type": "created_at",
    "from": "2025-01-01 00:00:00",
    "to": "2025-03-31 23:59:59",
    "status": "all",
    "payment_method_type": "credit_card",
    "time_zone": "UTC",
}
STATEMENTS = "/v1/shop/accountstatements"


def tx_page(sb, **cursor):
    r = requests.post(
        sb.transactions_url + "/api/reports",
        json={"report_params": {**PARAMS, **cursor}},
        headers={"X-Api-Version": "3"},
        auth=sb.credentials["transactions"].auth(),
        timeout=10,
    )
    return r


def st_page(sb, page=1, **params):
    return requests.get(
        sb.statements_url + STATEMENTS,
        params={"since": "2025-01-01", "per_page": 10, "page": page, **params},
        auth=sb.credentials["statements"].auth(),
        timeout=10,
    )


def ids(response):
    return [t["id"] for t in response.json()["transactions"]]


def new_report(sb):
    body = {
        "type": "balance_records",
        "format": "csv",
        "user_id": 1,
        "request_params": {
            "date_from": "2025-02-01T00:00:00+00:00",
            "date_to": "2025-03-01T00:00:00+00:00",
            "currency": "EUR",
        },
    }
    r = requests.post(
        sb.dwh_url + "/api/v2/reports", json=body, auth=sb.credentials["balance_records"].auth(), timeout=10
    )
    return r.json()["data"]["report"]["id"]


def report_after(sb, report_id, seconds):
    time.sleep(seconds)
    r = requests.get(
        f"{sb.dwh_url}/api/v2/reports/{report_id}", auth=sb.credentials["balance_records"].auth(), timeout=10
    )
    return r.json()["data"]["report"]


def raw_answer(sb, path, headers=""):
    """(status, declared Content-Length, body bytes received) of a GET read straight off the socket."""
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), int(re.search(rb"Content-Length: (\d+)", head).group(1)), body


def raw_get(sb, path):
    """(declared Content-Length, body bytes received) of a statements GET read off the socket."""
    auth = requests.auth._basic_auth_str(*sb.credentials["statements"].auth())
    return raw_answer(sb, path, f"Authorization: {auth}\r\n")[1:]


def test_latency_delays_every_answer(fresh_sandbox):
    fresh_sandbox.set_faults(latency=0.2)
    started = time.monotonic()
    assert st_page(fresh_sandbox).status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("retry_after, header", [(0, "0"), (None, None)])
def test_rate_limit_every_nth_request(fresh_sandbox, retry_after, header):
    fresh_sandbox.set_faults(rate_limit_every=3, retry_after=retry_after)
    answers = [st_page(fresh_sandbox) for _ in range(6)]
    assert [r.status_code for r in answers] == [200, 200, 429, 200, 200, 429]
    assert answers[2].headers.get("Retry-After") == header
    assert [r.status for r in fresh_sandbox.requests] == [200, 200, 429, 200, 200, 429]


def test_error_burst_after_every_n_good_requests(fresh_sandbox):
    fresh_sandbox.set_faults(error_every=2, error_burst=2, error_status=502)
    assert [tx_page(fresh_sandbox).status_code for _ in range(8)] == [200, 200, 502, 502] * 2


def test_dropped_connection_sends_half_the_declared_body(fresh_sandbox):
    fresh_sandbox.set_faults(drop_every=2)
    assert st_page(fresh_sandbox).status_code == 200
    declared, body = raw_get(fresh_sandbox, "/makecommerce" + STATEMENTS + "?since=2025-01-01")
    assert 0 < len(body) < declared
    fresh_sandbox.set_faults(drop_every=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        st_page(fresh_sandbox)


def test_malformed_body_is_a_200_with_truncated_json(fresh_sandbox):
    fresh_sandbox.set_faults(malformed_every=2)
    assert tx_page(fresh_sandbox).json()["count"] > 0
    r = tx_page(fresh_sandbox)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_repeat_rows_moves_the_cursor_back(fresh_sandbox):
    sb = fresh_sandbox
    sb.set_faults(repeat_rows=3)
    first = ids(tx_page(sb))
    second = ids(tx_page(sb, starting_after=first[-1]))
    assert second[:3] == first[-3:] and len(second) == sb.page_size
    page1, page2 = st_page(sb, 1).json(), st_page(sb, 2).json()
    assert page2[:3] == page1[-3:]


def test_stuck_cursor_repeats_the_page(fresh_sandbox):
    sb = fresh_sandbox
    sb.set_faults(stuck_cursor=True)
    first = tx_page(sb).json()
    again = tx_page(sb, starting_after=first["last_object_id"]).json()
    assert again == first and again["has_more"] is True
    r = st_page(sb, 2)
    next_url = {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["Link"])}["next"]
    assert "page=2" in next_url


def test_insert_during_paging_adds_rows_after_the_first_page(fresh_sandbox):
    sb = fresh_sandbox
    sb.set_faults(insert_during_paging=2)
    before = max(t["id"] for t in sb.world.transactions)
    page = tx_page(sb).json()
    new = sorted(t["id"] for t in sb.world.transactions if t["id"] > before)
    assert len(new) == 2
    collected = [t["id"] for t in page["transactions"]]
    while page["has_more"]:
        page = tx_page(sb, starting_after=page["last_object_id"]).json()
        collected += [t["id"] for t in page["transactions"]]
    assert collected[-2:] == new  # new ids above all, inside the window
    total = int(st_page(sb, 1).headers["X-Total-Count"])
    assert int(st_page(sb, 2).headers["X-Total-Count"]) == total + 2


def test_report_stuck_stays_pending(fresh_sandbox):
    fresh_sandbox.set_faults(report_stuck=True)
    report = report_after(fresh_sandbox, new_report(fresh_sandbox), 3 * fresh_sandbox.report_seconds)
    assert (report["status"], report["file_url"]) == ("pending", None)


def test_report_fail_ends_failed_on_attempt_3(fresh_sandbox):
    fresh_sandbox.set_faults(report_fail=True)
    report = report_after(fresh_sandbox, new_report(fresh_sandbox), 2 * fresh_sandbox.report_seconds)
    assert (report["status"], report["attempt"], report["file_url"]) == ("failed", 3, None)


def test_expired_links_kill_the_next_n_reports_only(fresh_sandbox):
    sb = fresh_sandbox
    sb.set_faults(expired_links=1)
    dead, alive = new_report(sb), new_report(sb)
    dead_report = report_after(sb, dead, 2 * sb.report_seconds)
    r = requests.get(dead_report["file_url"], timeout=10)
    assert r.status_code == 403 and r.headers["Content-Type"] == "application/xml"
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in r.text
    assert requests.get(report_after(sb, alive, 0)["file_url"], timeout=10).status_code == 200


def test_file_downloads_do_not_count_as_api_requests(fresh_sandbox):
    sb = fresh_sandbox
    report = report_after(sb, new_report(sb), 2 * sb.report_seconds)
    sb.set_faults(rate_limit_every=2)
    assert st_page(sb).status_code == 200
    for _ in range(3):
        assert requests.get(report["file_url"], timeout=10).status_code == 200
    assert st_page(sb).status_code == 429


def ready_file_url(sb):
    return report_after(sb, new_report(sb), 2 * sb.report_seconds)["file_url"]


def test_download_drop_cuts_the_first_k_downloads_only(fresh_sandbox):
    sb = fresh_sandbox
    url = ready_file_url(sb)
    whole = requests.get(url, timeout=10).content
    sb.set_faults(download_drop=2)
    for _ in range(2):
        status, declared, body = raw_answer(sb, url[len(sb.url) :])
        assert (status, declared) == (200, len(whole)) and body == whole[: len(whole) // 2]
    assert requests.get(url, timeout=10).content == whole
    assert tx_page(sb).status_code == 200  # API requests untouched


@pytest.mark.parametrize(
    ("status", "retry_after", "code"),
    [(503, None, "SlowDown"), (500, None, "InternalError"), (429, 0, "SlowDown"), (429, None, "SlowDown")],
)
def test_download_errors_answer_s3_errors_for_the_first_k_downloads(fresh_sandbox, status, retry_after, code):
    sb = fresh_sandbox
    url = ready_file_url(sb)
    sb.set_faults(download_errors=2, download_error_status=status, retry_after=retry_after)
    for _ in range(2):
        r = requests.get(url, timeout=10)
        assert (r.status_code, r.headers["Content-Type"]) == (status, "application/xml")
        assert f"<Code>{code}</Code>" in r.text
        expected = str(retry_after) if status == 429 and retry_after is not None else None
        assert r.headers.get("Retry-After") == expected
    assert requests.get(url, timeout=10).status_code == 200


def test_download_faults_do_not_touch_api_requests(fresh_sandbox):
    sb = fresh_sandbox
    url = ready_file_url(sb)
    sb.set_faults(download_drop=5, download_errors=5)
    assert [tx_page(sb).status_code, st_page(sb).status_code] == [200, 200]
    sb.set_faults(download_drop=0, download_errors=1, rate_limit_every=1)
    assert requests.get(url, timeout=10).status_code == 503
    assert requests.get(url, timeout=10).status_code == 200


def test_download_error_status_must_be_429_or_5xx(fresh_sandbox):
    with pytest.raises(ConfigurationError, match="download_error_status"):
        fresh_sandbox.set_faults(download_error_status=404)
    assert not Faults(download_error_status=502).active() and Faults(download_drop=1).active()


def test_set_faults_validates_and_clear_faults_resets(fresh_sandbox):
    with pytest.raises(ConfigurationError, match="rate_limit_evry"):
        fresh_sandbox.set_faults(rate_limit_evry=3)
    with pytest.raises(ConfigurationError, match="drop_every"):
        fresh_sandbox.set_faults(drop_every=-1)
    fresh_sandbox.set_faults(rate_limit_every=1)
    assert st_page(fresh_sandbox).status_code == 429
    fresh_sandbox.clear_faults()
    assert fresh_sandbox.faults == Faults() and not fresh_sandbox.faults.active()
    assert st_page(fresh_sandbox).status_code == 200
