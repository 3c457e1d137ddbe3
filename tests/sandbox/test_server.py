"""The sandbox server itself: HTTP/1.1 keep-alive, routing, settings, lifecycle."""

from __future__ import annotations

import re
import socket

import requests

from ledgerkit.config import ENV_VARS, resolve
from ledgerkit.sandbox import Faults, Sandbox


def test_one_connection_serves_several_requests_with_content_length(sandbox):
    user, secret = sandbox.credentials["statements"].auth()
    auth = requests.auth._basic_auth_str(user, secret)
    request = (
        f"GET /makecommerce/v1/shop/accountstatements?since=2025-01-01&per_page=3 HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {auth}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as s:
        stream = s.makefile("rb")
        for _ in range(3):
            s.sendall(request)
            status = stream.readline()
            head = b""
            while (line := stream.readline()) != b"\r\n":
                head += line
            body = stream.read(int(re.search(rb"Content-Length: (\d+)", head).group(1)))
            assert status.startswith(b"HTTP/1.1 200") and body.startswith(b"[{")


def test_unknown_path_is_404_and_wrong_method_405(sandbox):
    r = requests.get(sandbox.url + "/nowhere", timeout=10)
    assert (r.status_code, r.json()) == (404, {"message": "Not Found"})
    r = requests.get(sandbox.transactions_url + "/api/reports", timeout=10)
    assert (r.status_code, r.headers["Allow"]) == (405, "POST")
    assert int(r.headers["Content-Length"]) == len(r.content) and r.headers["X-Request-ID"]


def test_env_points_the_client_configuration_at_the_sandbox(sandbox):
    env = sandbox.env()
    assert set(env) == {name for names in ENV_VARS.values() for name in names[:3]}
    config = resolve("statements", environ=env)
    assert config.base_url == sandbox.statements_url
    assert config.credentials == sandbox.credentials["statements"]
    assert resolve("balance_records", environ=env).credentials.user == str(sandbox.world.psp["id"])
    assert sandbox.credentials["transactions"].secret not in repr(sandbox.credentials)


def test_start_stop_and_settings():
    sb = Sandbox(seed=1, size=40, page_size=7, faults=Faults(retry_after=2))
    assert "stopped" in repr(sb)
    with sb:
        port = sb.port
        assert port > 0 and sb.url == f"http://127.0.0.1:{port}" and sb.faults.retry_after == 2
        assert sb.start() is sb and sb.port == port  # starting twice is harmless
        assert requests.get(sb.url + "/x", timeout=5).status_code == 404
    sb.stop()
    try:
        requests.get(f"http://127.0.0.1:{port}/x", timeout=2)
    except requests.exceptions.ConnectionError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the sandbox still answers after stop()")
