"""Sessions never print a credential in http.client's debug dump: direct, through a proxy, for file links."""

from __future__ import annotations

import base64
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests

from ledgerkit._transport.http import PullStats, RetryPolicy, send
from ledgerkit._transport.ratelimit import RateLimiter, limited_session
from ledgerkit._transport.sessions import (
    RedactingAdapter,
    adopt_session,
    new_file_session,
    new_session,
    redact_signed_query,
)
from ledgerkit.config import Credentials
from ledgerkit.errors import ConfigurationError

USER, SECRET = "4711", "sk_live_do_not_print_me"
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
SIGNATURE = "5f1e0c0ffee0ddba11"


class Echo(BaseHTTPRequestHandler):
    """Answers 200 with the request line; as a proxy (absolute URL) it answers for the origin itself."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Echo.seen.append((self.path, self.headers.get("Authorization")))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo():
    Echo.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dump(monkeypatch, capfd):
    """http.client's wire dump on; returns a function giving what was printed so far."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    return lambda: "".join(capfd.readouterr())


def get(session: requests.Session, url: str) -> None:
    send(session, "GET", url, policy=RetryPolicy(max_retries=0), stats=PullStats(), parse_error=lambda r: ("", []))


def test_ledgerkit_s_session_redacts_the_authorization_header(echo, dump):
    get(new_session(Credentials(USER, SECRET)), echo + "/report")
    out = dump()
    assert "send: b'GET /report" in out and "Authorization: <redacted>" in out
    assert BASIC not in out and SECRET not in out
    assert Echo.seen == [("/report", f"Basic {BASIC}")]  # sent unchanged


def test_through_an_http_proxy_too(echo, dump):
    session = new_session(Credentials(USER, SECRET))
    session.proxies = {"http": echo}  # the echo server plays the proxy: it gets the absolute URL
    get(session, "http://origin.example/report")
    out = dump()
    assert "send: b'GET http://origin.example/report" in out and "Authorization: <redacted>" in out
    assert BASIC not in out
    assert Echo.seen == [("http://origin.example/report", f"Basic {BASIC}")]


def test_a_worker_session_through_a_proxy_redacts(echo, dump):
    template = adopt_session(requests.Session(), Credentials(USER, SECRET), "http://origin.example")
    template.proxies = {"http": echo}
    get(limited_session(template, RateLimiter()), "http://origin.example/page")
    out = dump()
    assert "Authorization: <redacted>" in out and BASIC not in out


def test_every_pool_a_proxy_manager_makes_redacts_socks_included():
    adapter = RedactingAdapter()
    for proxy in ("http://127.0.0.1:3128", "socks5://127.0.0.1:1080"):
        try:
            manager = adapter.proxy_manager_for(proxy)
        except requests.exceptions.InvalidSchema:  # no PySocks installed
            continue
        assert manager.pool_classes_by_scheme
        for pool in manager.pool_classes_by_scheme.values():
            assert any(c.__name__ == "_RedactingSend" for c in pool.ConnectionCls.__mro__), (proxy, pool)


def test_the_file_session_hides_the_link_s_query_and_sends_no_auth(echo, dump):
    url = f"{echo}/files/r1.zip?X-Amz-Date=20250101T000000Z&X-Amz-Signature={SIGNATURE}"
    get(new_file_session(), url)
    out = dump()
    assert "send: b'GET /files/r1.zip?<redacted> HTTP/1.1" in out and SIGNATURE not in out
    assert Echo.seen == [(f"/files/r1.zip?X-Amz-Date=20250101T000000Z&X-Amz-Signature={SIGNATURE}", None)]


def test_signed_query_values_are_redacted_in_text():
    text = f"GET /f.zip?X-Amz-Credential=AKIA%2F1&X-Amz-Signature={SIGNATURE}&page=2 HTTP/1.1"
    assert (
        redact_signed_query(text) == "GET /f.zip?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&page=2 HTTP/1.1"
    )


def test_adopting_copies_settings_and_never_touches_the_caller_s_session():
    mine = requests.Session()
    mine.headers["X-Team"] = "finance"
    mine.proxies = {"https": "http://proxy.example:3128"}
    mine.verify = "/etc/ssl/corp.pem"
    mine.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=7))
    before = (dict(mine.adapters), dict(mine.headers), mine.auth)
    s = adopt_session(mine, Credentials(USER, SECRET), "https://api.example.com")
    adapter = s.get_adapter("https://api.example.com")
    assert isinstance(adapter, RedactingAdapter) and adapter._pool_maxsize == 7
    assert s.headers["X-Team"] == "finance" and s.headers["User-Agent"].startswith("ledgerkit/")
    assert s.proxies == mine.proxies and s.verify == "/etc/ssl/corp.pem" and s.cookies is mine.cookies
    assert repr(s.auth) == f"BasicAuth(user='{USER}', secret='***')"
    assert (dict(mine.adapters), dict(mine.headers), mine.auth) == before


def test_what_cannot_be_made_safe_is_refused():
    class Tap(requests.adapters.HTTPAdapter):
        """A caller's adapter: ledgerkit cannot see how it makes its connections."""

    tapped = requests.Session()
    tapped.mount("https://api.example.com", Tap())
    for session, match in (("not a session", "requests.Session"), (tapped, "Tap")):
        with pytest.raises(ConfigurationError, match=match) as info:
            adopt_session(session, Credentials(USER, SECRET), "https://api.example.com/v1")
        assert info.value.parameter == "session" and SECRET not in str(info.value)


def test_a_caller_tuple_auth_gets_a_masked_repr_and_is_checked():
    mine = requests.Session()
    mine.auth = (USER, SECRET)
    s = adopt_session(mine, Credentials("other", "other"), "https://api.example.com")
    assert s.auth.username == USER and SECRET not in repr(s.auth) and mine.auth == (USER, SECRET)
    mine.auth = (USER, "s\u00e9cret\u2019")
    with pytest.raises(ConfigurationError, match=r"session\.auth.*U\+2019") as info:
        adopt_session(mine, Credentials("other", "other"), "https://api.example.com")
    assert "cret" not in str(info.value)
