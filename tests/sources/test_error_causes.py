"""A failing pull: its error keeps its cause, no secret reaches the error, its chain or its traceback,
and the process is left as the pull found it (the garbage collector's switch)."""

from __future__ import annotations

import gc
import traceback

import pytest
import requests
import urllib3

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit._transport.http import MalformedBody, RetryPolicy
from ledgerkit.errors import ConfigurationError, DataError, LedgerkitError, ServerError, TransportError
from ledgerkit.sandbox import Sandbox

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002, retry_after_floor=0.001, sleep=lambda s: None)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=60, page_size=25, per_page_default=25, report_seconds=0.02) as s:
        yield s


def load(sb: Sandbox, source: str):
    options = {**sb.kwargs(source), "retry": FAST, "progress": False}
    if source == "transactions":
        return load_transactions(
            "2025-01-01", "2025-04-01", payment_method_type=("credit_card", "alternative"), max_workers=1, **options
        )
    if source == "statements":
        return load_statements("2025-01-01", "2025-04-01", max_workers=1, **options)
    return load_balance_records(
        "2025-01-01", "2025-04-01", currency="EUR", user_id=1098, poll_interval=(0.02, 0.1), **options
    )


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception behind it (causes and contexts)."""
    out = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def shown(exc: BaseException) -> str:
    """What a user or a log can see of ``exc``: str, repr and args along the chain, and the formatted traceback."""
    parts = [f"{e!s} {e!r} {e.args!r}" for e in chain(exc)]
    return "\n".join(parts) + "".join(traceback.format_exception(exc))


def secrets_of(sb: Sandbox, source: str) -> set[str]:
    c = sb.credentials[source]
    found = {c.secret}
    if source == "balance_records":
        found |= {r.query["X-Amz-Signature"] for r in sb.requests if "/files/" in r.path}
    return found


def failure(sb: Sandbox, source: str, **faults) -> LedgerkitError:
    sb.clear_faults()
    sb.clear_requests()
    sb.set_faults(**faults)
    try:
        with pytest.raises(LedgerkitError) as info:
            load(sb, source)
    finally:
        sb.clear_faults()
    return info.value


@pytest.mark.parametrize("source", ["transactions", "statements"])
def test_a_dropped_connection_keeps_its_cause_and_shows_no_secret(sb, source):
    err = failure(sb, source, drop_every=1)
    assert isinstance(err, TransportError)
    assert isinstance(err.__cause__, (requests.RequestException, urllib3.exceptions.HTTPError)), repr(err.__cause__)
    assert "IncompleteRead" in repr(err.__cause__)  # the body cut short, as the server did
    assert not {s for s in secrets_of(sb, source) if s in shown(err)}


@pytest.mark.parametrize("source", ["transactions", "statements"])
def test_a_body_that_never_parses_keeps_its_cause_down_to_the_decoder(sb, source):
    err = failure(sb, source, malformed_every=1)
    assert isinstance(err, DataError) and "does not parse" in str(err)
    behind = chain(err)[1:]
    assert any(isinstance(e, MalformedBody) for e in behind)
    assert isinstance(behind[-1], ValueError) and "Traceback" in shown(err)  # the decoder's own error, last
    assert not {s for s in secrets_of(sb, source) if s in shown(err)}


@pytest.mark.parametrize("source", ["transactions", "statements"])
def test_a_5xx_that_lasts_is_a_server_error_naming_status_and_url_and_no_secret(sb, source):
    err = failure(sb, source, error_every=1, error_burst=50, error_status=503)
    assert isinstance(err, ServerError) and err.status == 503 and err.url.startswith("http://127.0.0.1:")
    assert "HTTP 503" in str(err) and err.__cause__ is None  # an HTTP status has no Python cause
    assert not {s for s in secrets_of(sb, source) if s in shown(err)}


def test_a_file_download_that_keeps_failing_hides_the_signed_link_from_the_whole_chain(sb):
    err = failure(sb, "balance_records", download_drop=50)
    assert isinstance(err, TransportError)
    signatures = {r.query["X-Amz-Signature"] for r in sb.requests if "/files/" in r.path}
    assert signatures  # the link was used, and its signature is a credential
    text = shown(err)
    assert not {s for s in secrets_of(sb, "balance_records") | signatures if s in text}
    assert err.__cause__ is None and err.__context__ is None  # deliberately: a requests error quotes the link


def test_dwh_api_errors_keep_their_own_cause(sb):
    err = failure(sb, "balance_records", error_every=1, error_burst=50)
    assert isinstance(err, ServerError) and err.status == 503
    assert not {s for s in secrets_of(sb, "balance_records") if s in shown(err)}


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("before", [True, False])
def test_a_pull_that_raises_leaves_the_gc_as_it_found_it(sb, workers, before):
    (gc.enable if before else gc.disable)()
    try:
        sb.set_faults(malformed_every=1)
        with pytest.raises(DataError):
            load_transactions(
                "2025-01-01",
                "2025-04-01",
                max_workers=workers,
                **{**sb.kwargs("transactions"), "retry": FAST, "progress": False},
            )
        assert gc.isenabled() is before
        sb.clear_faults()
        assert (
            len(
                load_transactions(
                    "2025-01-01", "2025-04-01", max_workers=workers, **{**sb.kwargs("transactions"), "progress": False}
                )
            )
            > 0
        )
        assert gc.isenabled() is before
    finally:
        sb.clear_faults()
        gc.enable()


def test_a_pull_can_leave_the_gc_alone(sb):
    from ledgerkit.sources._pull import collect, connect
    from ledgerkit.sources.transactions import TransactionsRequest, parse_error, pull

    c = connect(
        "transactions",
        base_url=sb.transactions_url,
        user=None,
        secret=sb.credentials["transactions"],
        session=None,
        retry=None,
        parse_error=parse_error,
    )
    request = TransactionsRequest.build("2025-01-01", "2025-04-01")
    assert pull(c, request, pause_gc=False, progress=False).pause_gc is False
    assert len(collect(pull(c, request, pause_gc=False, progress=False))) > 0
    with pytest.raises(ConfigurationError, match="pause_gc"):
        pull(c, request, pause_gc="no")
