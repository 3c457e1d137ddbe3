"""ledgerkit._transport.http over real HTTP: a scripted server on 127.0.0.1 answers each request in turn."""

from __future__ import annotations

import json
import threading
import traceback
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ledgerkit._transport.http import (
    PullStats,
    RetryPolicy,
    error_class_for,
    new_session,
    parse_retry_after,
    send,
    send_json,
)
from ledgerkit.config import Credentials
from ledgerkit.errors import (
    AuthenticationError,
    ConfigurationError,
    DataError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)

SECRET = "sk_test_very_secret_value"


class ScriptedServer:
    """Answers request n with ``script[n]`` (the last entry repeats) and records what it got."""

    def __init__(self) -> None:
        self.script: list[dict] = []
        self.seen: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                step = server.script[min(len(server.seen) - 1, len(server.script) - 1)]
                payload = step.get("raw", json.dumps(step.get("body", {})).encode())
                self.send_response(step.get("status", 200))
                for name, value in step.get("headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if step.get("drop"):
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer  # noqa: N815 - http.server's handler names

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


class SleepLog:
    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def parse_error(response):
    body = response.json()
    return body.get("message", "error"), [{"parameter": k, "messages": v} for k, v in body.get("errors", {}).items()]


def call(server, *, policy=None, decode=False, **kw):
    sleep = SleepLog()
    policy = policy or RetryPolicy(max_retries=3, backoff_base=0.001, jitter=0.0, sleep=sleep)
    stats = PullStats()
    session = new_session(Credentials("42", SECRET))
    fn = send_json if decode else send
    result = fn(
        session,
        "POST",
        server.url + "/api/reports",
        json={"a": 1},
        policy=policy,
        stats=stats,
        parse_error=parse_error,
        **kw,
    )
    return result, stats, sleep


def test_success_sends_basic_auth_user_agent_and_body(server):
    server.script = [{"body": {"ok": True}}]
    (_response, payload), stats, sleep = call(server, decode=True, headers={"X-Api-Version": "3"})
    assert payload == {"ok": True}
    seen = server.seen[0]
    assert seen["headers"]["Authorization"].startswith("Basic ")
    assert seen["headers"]["User-Agent"].startswith("ledgerkit/")
    assert seen["headers"]["X-Api-Version"] == "3"
    assert json.loads(seen["body"]) == {"a": 1}
    assert stats.as_dict() == {"requests": 1, "retries": 0, "bytes": len(b'{"ok": true}'), "retry_reasons": {}}
    assert sleep.waits == []


def test_session_repr_hides_secret():
    session = new_session(Credentials("42", SECRET))
    assert SECRET not in repr(session.auth)
    assert "42" in repr(session.auth)


@pytest.mark.parametrize("retry_after, expected_wait", [("2", 2.0), ("0", 0.05), (None, 0.05)])
def test_429_honours_retry_after_with_a_floor(server, retry_after, expected_wait):
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    server.script = [{"status": 429, "headers": headers, "body": {"message": "slow down"}}, {"body": {"ok": 1}}]
    (_, payload), stats, sleep = call(server, decode=True)
    assert payload == {"ok": 1}
    assert sleep.waits == [expected_wait]
    assert stats.as_dict()["retry_reasons"] == {"429": 1}
    assert stats.requests == 2


def test_retry_after_as_http_date():
    from datetime import datetime

    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0


def test_429s_wait_within_the_throttle_budget_then_say_how_long_and_how_to_resume(server):
    server.script = [
        {"status": 429, "headers": {"Retry-After": "1", "X-Request-ID": "rq-9"}, "body": {"message": "slow"}}
    ]
    policy = RetryPolicy(max_retries=1, throttle_budget=3.5, sleep=SleepLog())
    with pytest.raises(RateLimitError) as info:
        call(server, policy=policy)
    err = info.value
    assert (err.status, err.retry_after, err.request_id) == (429, 1.0, "rq-9")
    assert policy.sleep.waits == [1.0, 1.0, 1.0]  # a 4th second would pass the budget: not waited in vain
    assert len(server.seen) == 4  # more 429s than max_retries: they do not count as faults
    text = str(err)
    assert "waited 3 s in all after 4 answers 429" in text and "throttle_budget=3.5 s" in text
    assert ".resume" in text and SECRET not in text


def test_429s_do_not_use_up_the_retries_of_faults(server):
    server.script = [{"status": 429, "headers": {"Retry-After": "0"}}] * 7 + [{"body": {"ok": 1}}]
    policy = RetryPolicy(max_retries=1, retry_after_floor=0.001, sleep=SleepLog())
    (_, payload), stats, _ = call(server, policy=policy, decode=True)
    assert payload == {"ok": 1} and stats.retry_reasons == {"429": 7}
    assert policy.sleep.waits == [0.001] * 7


def test_faults_keep_their_count_between_429s(server):
    fault, throttle = {"status": 503}, {"status": 429, "headers": {"Retry-After": "0"}}
    server.script = [fault, throttle, fault, throttle, fault, throttle, fault, {"body": {}}]
    policy = RetryPolicy(max_retries=3, backoff_base=0.01, jitter=0.0, retry_after_floor=0.001, sleep=SleepLog())
    with pytest.raises(ServerError):
        call(server, policy=policy)
    assert len(server.seen) == 7  # the 4th 503 is one more than max_retries
    assert policy.sleep.waits == [0.01, 0.001, 0.02, 0.001, 0.04, 0.001]  # each kind backs off on its own count


def test_a_retry_after_beyond_the_budget_left_is_not_waited_for(server):
    server.script = [{"status": 429, "headers": {"Retry-After": "10"}}]
    policy = RetryPolicy(throttle_budget=5, sleep=SleepLog())
    with pytest.raises(RateLimitError, match=r"waiting 10 s more would pass RetryPolicy\.throttle_budget=5 s"):
        call(server, policy=policy)
    assert len(server.seen) == 1 and policy.sleep.waits == []


def test_the_budget_is_the_pull_s_and_overlapping_waits_count_once():
    stats = PullStats()
    assert stats.book_throttle(10.0, 1.0, budget=2.0)
    assert stats.book_throttle(10.5, 1.0, budget=2.0)  # another worker, half overlapping
    assert stats.throttled_seconds == 1.5
    assert stats.book_throttle(20.0, 0.5, budget=2.0) and stats.throttled_seconds == 2.0
    assert not stats.book_throttle(30.0, 0.001, budget=2.0) and stats.throttled_seconds == 2.0


def test_retry_after_too_long_gives_up_at_once(server):
    server.script = [{"status": 429, "headers": {"Retry-After": "3600"}}]
    policy = RetryPolicy(max_retries=3, retry_after_max=60, sleep=SleepLog())
    with pytest.raises(RateLimitError):
        call(server, policy=policy)
    assert len(server.seen) == 1


def test_5xx_retried_with_exponential_backoff_then_succeeds(server):
    server.script = [{"status": 503}, {"status": 502}, {"status": 500}, {"body": [1]}]
    policy = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.03, jitter=0.0, sleep=SleepLog())
    (_, payload), stats, _ = call(server, policy=policy, decode=True)
    assert payload == [1]
    assert policy.sleep.waits == [0.01, 0.02, 0.03]
    assert stats.as_dict()["retry_reasons"] == {"503": 1, "502": 1, "500": 1}


def test_5xx_exhausted_raises_server_error_with_details(server):
    server.script = [{"status": 503, "headers": {"X-Request-ID": "abc"}, "body": {"message": "maintenance"}}]
    with pytest.raises(ServerError) as info:
        call(server)
    err = info.value
    assert err.status == 503 and err.request_id == "abc" and err.body == {"message": "maintenance"}
    assert err.url == server.url + "/api/reports"
    assert "maintenance" in str(err) and "HTTP 503" in str(err) and SECRET not in str(err)


@pytest.mark.parametrize(
    "status, cls",
    [(401, AuthenticationError), (403, AuthenticationError), (404, NotFoundError), (422, InvalidRequestError)],
)
def test_4xx_not_retried_and_mapped(server, status, cls):
    server.script = [{"status": status, "body": {"message": "nope", "errors": {"status": ["must be one of: all"]}}}]
    with pytest.raises(cls) as info:
        call(server)
    assert len(server.seen) == 1
    assert info.value.status == status
    if cls is InvalidRequestError:
        assert info.value.field_errors == [{"parameter": "status", "messages": ["must be one of: all"]}]


def test_error_class_for_is_total():
    assert error_class_for(418).__name__ == "APIError"
    assert error_class_for(599) is ServerError


def test_dropped_body_is_retried(server):
    server.script = [{"drop": True, "body": {"rows": list(range(50))}}, {"body": {"rows": [1]}}]
    (_, payload), stats, _ = call(server, decode=True)
    assert payload == {"rows": [1]}
    assert stats.as_dict()["retry_reasons"] == {"transport": 1}


def test_truncated_json_is_retried_then_data_error(server):
    server.script = [{"raw": b'{"rows": [1, 2'}, {"body": {"rows": [1, 2]}}]
    (_, payload), stats, _ = call(server, decode=True)
    assert payload == {"rows": [1, 2]} and stats.as_dict()["retry_reasons"] == {"malformed": 1}

    server.seen.clear()
    server.script = [{"raw": b'{"rows": ['}]
    with pytest.raises(DataError, match="does not parse"):
        call(server, decode=True)
    assert len(server.seen) == 4


def test_connection_refused_raises_transport_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleep = SleepLog()
    policy = RetryPolicy(max_retries=2, backoff_base=0.001, jitter=0.0, sleep=sleep)
    stats = PullStats()
    with pytest.raises(TransportError, match="failed after 3 attempts"):
        send(
            new_session(Credentials("1", SECRET)),
            "GET",
            f"http://127.0.0.1:{port}/x",
            policy=policy,
            stats=stats,
            parse_error=parse_error,
        )
    assert stats.requests == 3 and stats.retries == 2 and len(sleep.waits) == 2


def test_read_timeout_is_retried(server):
    import time

    server.script = [{"body": {}}]
    original = server.httpd.RequestHandlerClass._answer

    calls = []

    def slow_first(handler):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.3)
        original(handler)

    server.httpd.RequestHandlerClass.do_POST = slow_first
    policy = RetryPolicy(max_retries=2, backoff_base=0.001, read_timeout=0.1, sleep=SleepLog())
    (_, payload), stats, _ = call(server, policy=policy, decode=True)
    assert payload == {} and stats.as_dict()["retry_reasons"] == {"transport": 1}


def test_errors_keep_their_cause_and_the_cause_shows_no_secret(server):
    server.script = [{"raw": b'{"rows": ['}]
    with pytest.raises(DataError) as info:
        call(server, decode=True)
    assert type(info.value.__cause__).__name__ == "MalformedBody"

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = RetryPolicy(max_retries=0, sleep=SleepLog())
    with pytest.raises(TransportError) as info:
        send(
            new_session(Credentials("1", SECRET)),
            "GET",
            f"http://127.0.0.1:{port}/x",
            policy=policy,
            stats=PullStats(),
            parse_error=parse_error,
        )
    cause = info.value.__cause__
    assert isinstance(cause, requests.exceptions.ConnectionError)
    assert SECRET not in repr(cause) and SECRET not in str(cause)
    assert SECRET not in "".join(traceback.format_exception(info.value))


def test_a_header_that_cannot_be_sent_keeps_its_value_out_of_the_whole_chain(server):
    policy = RetryPolicy(max_retries=0, sleep=SleepLog())
    with pytest.raises(TransportError, match="could not be sent: InvalidHeader") as info:
        send(
            new_session(Credentials("1", "x")),
            "GET",
            server.url + "/x",
            headers={"X-Key": f"{SECRET}\n"},
            policy=policy,
            stats=PullStats(),
            parse_error=parse_error,
        )
    err = info.value
    assert err.__cause__ is None and err.__context__ is None  # deliberately cut: the error quotes the header
    shown = f"{err!s} {err!r} {err.__context__!r}" + "".join(traceback.format_exception(err))
    assert SECRET not in shown and server.seen == []


def test_a_request_that_cannot_be_sent_is_a_transport_error_with_its_cause():
    policy = RetryPolicy(max_retries=3, sleep=SleepLog())
    with pytest.raises(TransportError, match="could not be sent: InvalidURL") as info:
        send(
            new_session(Credentials("1", SECRET)),
            "GET",
            "http://127.0.0.1:99999/x",
            policy=policy,
            stats=PullStats(),
            parse_error=parse_error,
        )
    assert isinstance(info.value.__cause__, requests.exceptions.InvalidURL) and policy.sleep.waits == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_retries", -1),
        ("max_retries", 2.5),
        ("throttle_budget", -1),
        ("throttle_budget", "600"),
        ("retry_after_floor", float("nan")),
        ("jitter", 1.5),
        ("sleep", 0),
    ],
)
def test_retry_policy_refuses_bad_values(field, value):
    with pytest.raises(ConfigurationError, match=field):
        RetryPolicy(**{field: value})


def test_backoff_is_bounded_and_jittered():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=4.0, jitter=0.5)
    waits = [policy.backoff(n) for n in range(10)]
    assert all(0.5 * min(4.0, 2**n) <= w <= min(4.0, 2**n) for n, w in enumerate(waits))


def test_stats_are_thread_safe():
    stats = PullStats()

    def work():
        for _ in range(1000):
            stats.count(requests=1, bytes=2)
            stats.retried("x")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.as_dict() == {"requests": 4000, "retries": 4000, "bytes": 8000, "retry_reasons": {"x": 4000}}


def test_json_nested_deeper_than_the_decoder_goes_is_a_data_error_asked_once(server):
    depth = 100_000  # valid JSON; Python's decoder raises RecursionError long before
    server.script = [{"raw": b"[" * depth + b"]" * depth}]
    with pytest.raises(DataError, match=r"nests too deeply to be read \(200000 bytes") as caught:
        call(server, decode=True)
    assert len(server.seen) == 1  # asking again would not mend it
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
