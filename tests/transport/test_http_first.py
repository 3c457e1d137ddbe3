"""send_json(first=...): a first attempt sent ahead (by transmit) is answered as if it had been sent there."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ledgerkit._transport.http import PullStats, RetryPolicy, new_session, send_json, transmit
from ledgerkit.config import Credentials
from ledgerkit.errors import DataError, InvalidRequestError
from tests.transport.test_http import SECRET, ScriptedServer, parse_error

POLICY = RetryPolicy(max_retries=2, backoff_base=0.001, jitter=0.0)


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def ahead(server, session, body=None):
    """The first attempt, sent on another thread as a pull sends a window's next page."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            transmit,
            session,
            "POST",
            server.url + "/api/reports",
            json=body or {"a": 1},
            headers={"X-Api-Version": "3"},
            policy=POLICY,
        )
        future.exception()
    return future.result


def call(server, session, first):
    stats = PullStats()
    result = send_json(
        session,
        "POST",
        server.url + "/api/reports",
        json={"a": 1},
        policy=POLICY,
        stats=stats,
        parse_error=parse_error,
        first=first,
    )
    return result, stats


def test_an_answer_sent_ahead_is_taken_without_sending_again(server):
    server.script = [{"body": {"ok": True}}]
    session = new_session(Credentials("42", SECRET))
    (_, payload), stats = call(server, session, ahead(server, session))
    assert payload == {"ok": True} and len(server.seen) == 1
    assert server.seen[0]["headers"]["X-Api-Version"] == "3" and json.loads(server.seen[0]["body"]) == {"a": 1}
    assert stats.as_dict() == {"requests": 1, "retries": 0, "bytes": len(b'{"ok": true}'), "retry_reasons": {}}


@pytest.mark.parametrize(
    "first_answer, reason",
    [
        ({"status": 503, "body": {"message": "busy"}}, "503"),
        ({"raw": b'{"ok": tr'}, "malformed"),
        ({"body": {"ok": True}, "drop": True}, "transport"),
        ({"status": 429, "headers": {"Retry-After": "0"}, "body": {}}, "429"),
    ],
)
def test_a_fault_of_the_attempt_sent_ahead_is_retried_like_any(server, first_answer, reason):
    server.script = [first_answer, {"body": {"ok": True}}]
    session = new_session(Credentials("42", SECRET))
    (_, payload), stats = call(server, session, ahead(server, session))
    assert payload == {"ok": True} and len(server.seen) == 2
    assert stats.as_dict()["requests"] == 2 and stats.as_dict()["retry_reasons"] == {reason: 1}


def test_a_connection_error_of_the_attempt_sent_ahead_is_retried():
    def refused() -> requests.Response:
        raise requests.exceptions.ConnectionError("refused")

    with ScriptedServer() as server:
        server.script = [{"body": {"ok": True}}]
        (_, payload), stats = call(server, new_session(Credentials("42", SECRET)), refused)
    assert payload == {"ok": True} and stats.as_dict()["retry_reasons"] == {"transport": 1}


def test_a_final_error_of_the_attempt_sent_ahead_is_raised_with_its_details(server):
    server.script = [{"status": 422, "body": {"message": "bad", "errors": {"status": ["is invalid"]}}}]
    session = new_session(Credentials("42", SECRET))
    with pytest.raises(InvalidRequestError) as info:
        call(server, session, ahead(server, session))
    assert info.value.field_errors == [{"parameter": "status", "messages": ["is invalid"]}]
    assert SECRET not in str(info.value)


def test_a_body_that_never_parses_ends_in_a_data_error(server):
    server.script = [{"raw": b"{"}]
    session = new_session(Credentials("42", SECRET))
    with pytest.raises(DataError):
        call(server, session, ahead(server, session))
    assert len(server.seen) == 1 + POLICY.max_retries
