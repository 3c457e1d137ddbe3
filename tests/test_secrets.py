"""No secret anywhere: logs (DEBUG, urllib3, http.client wire dump), output, errors, manifests, store, reprs.

And personal data (holder names, e-mails, IPs, tokens, 3-D Secure payloads)
is dropped at load time unless ``include_pii=True``, which the manifest records.
"""

from __future__ import annotations

import base64
import http.client
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ledgerkit.errors import AuthenticationError, InvalidRequestError, LedgerkitError, NotFoundError, ServerError
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.sources.balance_records import load_balance_records
from ledgerkit.sources.statements import load_statements
from ledgerkit.sources.transactions import load_transactions
from ledgerkit.store import Store

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002)
WRONG_SECRET = "sk_WRONG_recognisable_0123456789abcdef"
DWH = ("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00")


def forms(user: str, secret: str) -> set[str]:
    """Every way a secret can show up: itself, and the Basic header (base64 of user:secret)."""
    basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {secret, basic, basic.rstrip("=")}


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
            assert expected is not None and isinstance(exc, expected), repr(exc)
            results.append(exc)
        else:
            assert expected is None, f"{source} {kw} did not raise"

    for source in ("transactions", "statements", "balance_records"):
        attempt(None, source)
        attempt(None, source, store=store)
        attempt(AuthenticationError, source, secret=WRONG_SECRET)
        sb.set_faults(error_every=1, error_burst=20)
        attempt(ServerError, source)
        sb.clear_faults()
    attempt(InvalidRequestError, "statements", per_page=500)  # above the sandbox's per_page_max
    attempt(NotFoundError, "balance_records", report_id="00000000-0000-0000-0000-000000000000")
    return results


def test_no_secret_in_logs_output_errors_manifests_store_or_reprs(wire_debug, caplog, capfd, tmp_path):
    caplog.set_level(logging.DEBUG)
    with Sandbox(seed=0, size=200, per_page_max=100, report_seconds=0.02) as sb:
        results = runs(sb, tmp_path / "store")
        secrets = set().union(*(forms(c.user, c.secret) for c in sb.credentials.values()),
                              *(forms(c.user, WRONG_SECRET) for c in sb.credentials.values()))
        texts = {
            "log records": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records),
            "stdout/stderr": "".join(capfd.readouterr()),
            "results and errors": "\n".join(t for r in results for t in texts_of(r)),
            "store": b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
            .decode("latin-1"),
            "store repr": repr(Store(tmp_path / "store")) + repr(Store(tmp_path / "store").manifest()),
            "credentials repr": repr(sb.credentials) + repr(sb),
        }
    assert "send: b'POST" in texts["stdout/stderr"] or "send: b'GET" in texts["stdout/stderr"]  # the dump was on
    assert "Authorization: <redacted>" in texts["stdout/stderr"]  # ... and showed the header, redacted
    assert len(caplog.records) > 20 and len(texts["store"]) > 10_000
    for where, text in texts.items():
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"a secret leaked into {where}"


# ------------------------------------------------------------------ personal data


PII_COLUMNS = {"credit_card.holder", "credit_card.token", "customer.ip", "customer.email",
               "billing_address.first_name", "billing_address.last_name", "billing_address.address",
               "billing_address.phone", "three_d_secure_verification.xid", "three_d_secure_verification.cavv",
               "additional_data.tdsecure.pa_req", "additional_data.tdsecure.cavv"}


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
    assert PII_COLUMNS <= set(full.columns)
    assert {v for v in values if v in full_text} == values
    assert full.attrs["ledgerkit"]["include_pii"] is True
    assert full["id"].tolist() == lean["id"].tolist()
    if store:
        lean_parts = b"".join(p.read_bytes() for p in where.rglob("*.parquet")
                              if any(p.name.startswith(s["stream"]) for s in Store(where).manifest("transactions")
                                     if not s["key"]["include_pii"]))
        assert lean_parts and not {v for v in values if v.encode() in lean_parts}
