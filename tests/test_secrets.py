"""No secret anywhere: logs (DEBUG, urllib3, http.client wire dump), output, errors, manifests, store, reprs.

Every path is scanned: ledgerkit's own sessions and a caller's ``session=``,
sequential and concurrent pulls, the DWH file download (whose pre-signed
link's signature is a bearer token), credentials that cannot be sent.

And personal data (holder names, e-mails, IPs, tokens, 3-D Secure payloads)
is dropped at load time unless ``include_pii=True``, which the manifest records.
"""

from __future__ import annotations

import base64
import http.client
import logging
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
import requests.adapters

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    LedgerkitError,
    NotFoundError,
    ServerError,
)
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002)
WRONG_SECRET = "sk_WRONG_recognisable_0123456789abcdef"
#: Not Latin-1: HTTP Basic auth cannot send it (requests' UnicodeEncodeError would quote it whole).
UNSENDABLE_SECRET = "sk_EURO_\u20ac_recognisable_0123456789"
DWH = ("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00")


def forms(user: str, secret: str) -> set[str]:
    """Every way a secret can show up: itself, and the Basic header (base64 of user:secret)."""
    basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {secret, basic, basic.rstrip("="), secret.encode("unicode_escape").decode()}


def caller_session() -> requests.Session:
    """A caller's own plain session, as a notebook would build one."""
    session = requests.Session()
    session.headers["X-Team"] = "finance"
    return session


@pytest.fixture
def wire_debug(monkeypatch):
    """DEBUG logging for everything and http.client's header dump to stdout."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "requests", "ledgerkit"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    root.setLevel(old)


def load(sb: Sandbox, source: str, *, secret: str | None = None, **kw: Any) -> Any:
    args = {"progress": False, "retry": FAST, **sb.kwargs(source)}
    if secret is not None:
        args["secret_key"] = secret
    args.update(kw)
    if source == "transactions":
        return load_transactions("2025-01-01", "2025-02-01", **args)
    if source == "statements":
        return load_statements(since="2025-01-01", until="2025-02-01", **args)
    return load_balance_records(*DWH, currency="EUR", user_id=1, poll_interval=(0.01, 0.05), **args)


def texts_of(value: Any) -> list[str]:
    """repr/str of a result or error and of everything it carries."""
    out = [repr(value), str(value)]
    if isinstance(value, BaseException):
        out += [repr(a) for a in value.args]
        out.append("".join(traceback.format_exception(value)))  # the whole chain: causes and contexts
        out += [repr(value.__cause__), repr(value.__context__)]
        out += [repr(getattr(value, name, None)) for name in ("resume", "manifest", "body", "url", "field_errors")]
        partial = getattr(value, "partial", None)
        if isinstance(partial, pd.DataFrame):
            out += [repr(partial.attrs), partial.to_csv()]
    elif isinstance(value, pd.DataFrame):
        out += [repr(value.attrs), value.to_csv()]
    else:  # BalanceReport
        out += [repr(value.manifest), value.records.to_csv(), value.opening_balance.to_csv()]
    return out


def runs(sb: Sandbox, store: Path) -> list[Any]:
    """Every loader: good, through a store, refused (401), invalid (400/404), retries exhausted."""
    results: list[Any] = []

    def attempt(expected: type[LedgerkitError] | None, source: str, **kw: Any) -> None:
        try:
            results.append(load(sb, source, **kw))
        except LedgerkitError as exc:
            assert expected is not None and isinstance(exc, expected), repr(exc)  # noqa: PT017 - a raise is expected per call
            results.append(exc)
        else:
            assert expected is None, f"{source} {kw} did not raise"

    for source in ("transactions", "statements", "balance_records"):
        attempt(None, source)
        attempt(None, source, store=store)
        attempt(AuthenticationError, source, secret=WRONG_SECRET)
        attempt(ConfigurationError, source, secret=UNSENDABLE_SECRET)
        sb.set_faults(error_every=1, error_burst=20)
        attempt(ServerError, source)
        sb.clear_faults()
    for source in ("transactions", "statements"):  # load_balance_records takes no session
        for workers in (1, 4):
            attempt(None, source, session=caller_session(), max_workers=workers)
            attempt(AuthenticationError, source, session=caller_session(), max_workers=workers, secret=WRONG_SECRET)
    attempt(InvalidRequestError, "statements", per_page=500)  # above the sandbox's per_page_max
    attempt(NotFoundError, "balance_records", report_id="00000000-0000-0000-0000-000000000000")
    return results


def test_no_secret_in_logs_output_errors_manifests_store_or_reprs(wire_debug, caplog, capfd, tmp_path):
    caplog.set_level(logging.DEBUG)
    with Sandbox(seed=0, size=200, per_page_max=100, report_seconds=0.02) as sb:
        results = runs(sb, tmp_path / "store")
        secrets = set().union(
            *(forms(c.user, c.secret) for c in sb.credentials.values()),
            *(forms(c.user, s) for c in sb.credentials.values() for s in (WRONG_SECRET, UNSENDABLE_SECRET)),
        )
        signatures = {r.query["X-Amz-Signature"] for r in sb.requests if "/files/" in r.path}
        secrets |= signatures
        texts = {
            "log records": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records),
            "stdout/stderr": "".join(capfd.readouterr()),
            "results and errors": "\n".join(t for r in results for t in texts_of(r)),
            "store": b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file()).decode("latin-1"),
            "store repr": repr(Store(tmp_path / "store")) + repr(Store(tmp_path / "store").manifest()),
            "credentials repr": repr(sb.credentials) + repr(sb),
        }
    assert "send: b'POST" in texts["stdout/stderr"] or "send: b'GET" in texts["stdout/stderr"]  # the dump was on
    assert "Authorization: <redacted>" in texts["stdout/stderr"]  # ... and showed the header, redacted
    assert len(caplog.records) > 20 and len(texts["store"]) > 10_000 and signatures
    assert "GET /dwh/files/" in texts["stdout/stderr"] and "?<redacted>" in texts["stdout/stderr"]  # the file link too
    for where, text in texts.items():
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"a secret leaked into {where}"


USER_KEYWORD = {"transactions": "shop_id", "statements": "shop_id", "balance_records": "psp_id"}


@pytest.mark.parametrize("source", list(USER_KEYWORD))
@pytest.mark.parametrize("which", ["secret", "id"])
def test_credentials_basic_auth_cannot_send_are_refused_before_any_request_unshown(fresh_sandbox, source, which):
    sb = fresh_sandbox
    good = sb.credentials[source]
    user, secret = (good.user, UNSENDABLE_SECRET) if which == "secret" else ("shop_\u20ac_" + good.user, good.secret)
    sb.clear_requests()
    with pytest.raises(ConfigurationError) as info:
        load(sb, source, secret=secret, **{USER_KEYWORD[source]: user})
    err = info.value
    assert err.parameter == ("secret_key" if which == "secret" else USER_KEYWORD[source])
    assert "Latin-1" in str(err) and "U+20AC" in str(err)
    chain = [err, err.__cause__, err.__context__, *err.args]
    shown = " ".join(f"{x!r} {x}" for x in chain)
    assert not {f for f in forms(user, secret) | ({user} if which == "id" else set()) if f in shown}
    assert sb.requests == []


def test_a_caller_session_lends_its_settings_and_is_left_as_it_was(fresh_sandbox):
    sb = fresh_sandbox
    session = caller_session()
    adapters, headers = dict(session.adapters), dict(session.headers)
    sb.clear_requests()
    df = load(sb, "statements", session=session, max_workers=4)
    assert len(df) > 0 and len(sb.requests) > 1
    assert all(r.headers.get("X-Team") == "finance" for r in sb.requests)
    assert all(r.headers["User-Agent"].startswith("ledgerkit/") for r in sb.requests)
    assert session.adapters == adapters and all(session.adapters[k] is v for k, v in adapters.items())
    assert session.auth is None and dict(session.headers) == headers


def test_a_caller_session_s_own_basic_auth_is_used_and_never_printed(wire_debug, capfd, fresh_sandbox):
    sb = fresh_sandbox
    good = sb.credentials["transactions"]
    session = requests.Session()
    session.auth = (good.user, good.secret)
    df = load(sb, "transactions", session=session, secret="not-this-one", max_workers=4)
    assert len(df) > 0
    out = "".join(capfd.readouterr())
    assert "Authorization: <redacted>" in out
    assert not {f for f in forms(good.user, good.secret) if f in out}

    session.auth = (good.user, UNSENDABLE_SECRET)
    with pytest.raises(ConfigurationError, match=r"session\.auth") as info:
        load(sb, "transactions", session=session)
    assert UNSENDABLE_SECRET not in repr(info.value) + str(info.value)


def test_a_caller_session_with_an_adapter_ledgerkit_cannot_check_is_refused_before_any_request(fresh_sandbox):
    class Tap(requests.adapters.HTTPAdapter):
        """A caller's adapter: it could print or log what it sends."""

    sb = fresh_sandbox
    session = requests.Session()
    session.mount("http://", Tap())
    sb.clear_requests()
    for source in ("transactions", "statements"):
        with pytest.raises(ConfigurationError, match="Tap") as info:
            load(sb, source, session=session)
        assert info.value.parameter == "session"
    assert sb.requests == []


# ------------------------------------------------------------------ personal data


PII_COLUMNS = {
    "credit_card.holder",
    "credit_card.token",
    "customer.ip",
    "customer.email",
    "billing_address.first_name",
    "billing_address.last_name",
    "billing_address.address",
    "billing_address.phone",
    "three_d_secure_verification.xid",
    "three_d_secure_verification.cavv",
    "additional_data.tdsecure.pa_req",
    "additional_data.tdsecure.cavv",
}


def pii_values(sb: Sandbox, ids: set[int]) -> set[str]:
    out = set()
    for t in sb.world.transactions:
        if t["id"] in ids:
            out |= {t["customer"]["email"], t["customer"]["ip"], t["billing_address"]["phone"]}
            if t["credit_card"]["holder"]:
                out |= {t["credit_card"]["holder"], t["credit_card"]["token"]}
            if t["three_d_secure_verification"]["cavv"]:
                out.add(t["three_d_secure_verification"]["cavv"])
    return {v for v in out if v}


@pytest.mark.parametrize("store", [False, True], ids=["plain", "store"])
def test_personal_data_is_dropped_by_default_and_kept_on_request(fresh_sandbox, tmp_path, store):
    where = tmp_path / "store" if store else None
    kw = dict(progress=False, store=where, **fresh_sandbox.kwargs("transactions"))
    lean = load_transactions("2025-01-01", "2025-04-01", **kw)
    full = load_transactions("2025-01-01", "2025-04-01", include_pii=True, **kw)
    values = pii_values(fresh_sandbox, set(lean["id"]))
    assert len(values) > 50
    assert not PII_COLUMNS & set(lean.columns)
    assert "billing_address.country" in lean.columns and "credit_card.brand" in lean.columns
    lean_text, full_text = lean.to_csv(), full.to_csv()
    assert not {v for v in values if v in lean_text}
    assert lean.attrs["ledgerkit"]["include_pii"] is False
    assert set(full.columns) >= PII_COLUMNS
    assert {v for v in values if v in full_text} == values
    assert full.attrs["ledgerkit"]["include_pii"] is True
    assert full["id"].tolist() == lean["id"].tolist()
    if store:
        lean_parts = b"".join(
            p.read_bytes()
            for p in where.rglob("*.parquet")
            if any(
                p.name.startswith(s["stream"])
                for s in Store(where).manifest("transactions")
                if not s["key"]["include_pii"]
            )
        )
        assert lean_parts and not {v for v in values if v.encode() in lean_parts}


# ------------------------------------------------------------------ a store on S3 (tests/store/conftest.py's server)
from .store.conftest import S3_SECRET, s3, s3_server  # noqa: E402, F401 - the fixtures of the S3 test server


def test_no_s3_secret_in_logs_output_errors_manifests_stored_objects_or_reprs(
    wire_debug,
    caplog,
    capfd,
    fresh_sandbox,
    s3,  # noqa: F811 - the fixture imported above
):
    caplog.set_level(logging.DEBUG)
    store = Store(s3)
    results: list[Any] = [load(fresh_sandbox, s, store=s3) for s in ("transactions", "statements")]
    for url in (s3.replace("s3://", f"s3://AKIALEDGERKIT:{S3_SECRET}@"), "s3://no-such-bucket-ledgerkit/x"):
        try:
            load(fresh_sandbox, "transactions", store=url)
        except LedgerkitError as exc:
            results.append(exc)
    assert [type(r).__name__ for r in results[2:]] == ["ConfigurationError", "StoreError"]
    root = store._root
    texts = {
        "log records": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records),
        "stdout/stderr": "".join(capfd.readouterr()),
        "results and errors": "\n".join(t for r in results for t in texts_of(r)),
        "stored objects": b"".join(root.read(k)[0] for k in root.keys_under("")).decode("latin-1"),
        "store repr": repr(store) + repr(store.manifest()) + repr(store.__reduce_ex__(4)),
    }
    assert len(texts["stored objects"]) > 10_000 and "_locks/" in "".join(root.keys_under(""))
    assert any("botocore" in r.name for r in caplog.records)  # the S3 client's own DEBUG logs were on
    for where, text in texts.items():
        assert S3_SECRET not in text, f"the S3 secret leaked into {where}"
