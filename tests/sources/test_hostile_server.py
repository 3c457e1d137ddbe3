"""A server that breaks its own contract, over real HTTP, through the loaders.

Real answers -- a page the sandbox serves, the recorded MakeCommerce page,
the recorded DWH report -- are corrupted and served by ``Replay`` on
127.0.0.1 (never a mock of ``requests``). Each loader must then return the
frame an honest reading gives (the ingest tests pin that reading cell by
cell: :func:`tests.ingest.test_hostile_pages.honest`) or raise
``DataError`` whose message names the page, the field and the value, with
``.resume`` continuing from the page that failed and ``.partial`` holding
exactly the pages before it.
"""

from __future__ import annotations

import copy
import json
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ledgerkit as lk
from ledgerkit import RetryPolicy
from ledgerkit._ingest.records import flatten
from ledgerkit._ingest.schema import STATEMENTS, TRANSACTIONS
from ledgerkit.errors import CountMismatchError, DataError, LedgerkitError, PaginationError
from ledgerkit.sandbox import Recorded, Replay
from tests.ingest.test_hostile_pages import HOSTILE, REJECT, Literal, body_of, honest, honest_major, put, same

DATA = Path(__file__).resolve().parents[1] / "data" / "real-world"
FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002, sleep=lambda s: None)
JSON = {"Content-Type": "application/json"}
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
ENVELOPE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["yes", "false", "True", "7", " 7", "-3", "7.5", "1e3", "", "1" * 5000]),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.sampled_from(["a"]), st.integers(), max_size=1),
    st.sampled_from([Literal("NaN"), Literal("Infinity"), Literal("1e400")]),
)
MISSING = object()
#: What a header value can carry: printable Latin-1 (no line breaks).
HEADER_TEXT = st.characters(min_codepoint=32, max_codepoint=255, exclude_categories=["Cc"])


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with categories as plain values (two frames of different rows have different categories)."""
    return frame.astype({c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def outcome(call) -> Any:
    try:
        return call()
    except LedgerkitError as exc:
        return exc


# ------------------------------------------------------------------------------ transactions


@pytest.fixture(scope="module")
def tx_page(sandbox) -> dict:
    """A page the sandbox serves (three days of credit card payments), as decoded JSON."""
    credentials = sandbox.credentials["transactions"]
    params = {
        "date_type": "created_at",
        "from": "2025-01-02 00:00:00",
        "to": "2025-01-04 23:59:59",
        "status": "all",
        "payment_method_type": "credit_card",
        "time_zone": "UTC",
    }
    answer = requests.post(
        sandbox.transactions_url + "/api/reports",
        auth=credentials.auth(),
        timeout=10,
        headers={"X-Api-Version": "3"},
        json={"report_params": params},
    )
    page = answer.json()
    assert answer.status_code == 200 and not page["has_more"] and 3 <= len(page["transactions"]) <= 60
    return page


def serve_tx(*pages: Any) -> Replay:
    return Replay(
        {"POST /api/reports": [p if isinstance(p, Recorded) else Recorded(200, JSON, body_of(p)) for p in pages]}
    )


def load_tx(server: Replay, **kw) -> pd.DataFrame:
    options = dict(
        base_url=server.url,
        shop_id="1",
        secret_key="k",
        payment_method_type="credit_card",
        max_workers=1,
        retry=FAST,
        progress=False,
        include_pii=True,
    )
    options.update(kw)
    return lk.load_transactions("2025-01-02", "2025-01-03", **options)


@pytest.fixture(scope="module")
def tx_baseline(tx_page) -> pd.DataFrame:
    with serve_tx(tx_page) as server:
        return load_tx(server)


def assert_page_error(exc: DataError, page: str, *names: str) -> None:
    message = str(exc)
    assert message.startswith(page), message
    assert all(n in message for n in names), message
    assert len(message) < 1500 and exc.resume is not None and exc.partial is not None


def honest_envelope(key: str, value: Any, rows: list[dict]) -> str:
    """``ok`` (the page reads as it is), or what a broken envelope field must raise."""
    ids = [r["id"] for r in rows]
    if key == "has_more":
        return "ok" if value is False else "DataError" if value is MISSING or not isinstance(value, bool) else "stuck"
    if value is MISSING or value is None or (value == "" and key != "count"):  # an empty cursor is no cursor
        return "ok"
    if isinstance(value, (bool, list, dict, Literal)):
        return "DataError"
    if isinstance(value, str):
        text = value.strip()
        number = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    elif isinstance(value, float):
        number = int(value) if value.is_integer() and 0 <= value < 2**53 else None
    else:
        number = value if value >= 0 else None
    if number is None:
        return "DataError"
    if key == "count":
        return "ok" if number >= len(rows) else "DataError"
    return "DataError" if key == "last_object_id" and number > max(ids) else "ok"


@SETTINGS
@given(
    key=st.sampled_from(["has_more", "count", "first_object_id", "last_object_id"]),
    value=ENVELOPE_VALUES | st.just(MISSING),
)
@example(key="has_more", value="false").via("text read as true: more pages")
@example(key="has_more", value=True).via("the same page again")
@example(key="has_more", value=MISSING)
@example(key="count", value=-3)
@example(key="count", value=3.0)
@example(key="last_object_id", value=7.5).via("read as 7")
@example(key="first_object_id", value=[1])
def test_an_envelope_field_of_the_wrong_type_or_value(tx_page, tx_baseline, key, value):
    page = copy.deepcopy(tx_page)
    if value is MISSING:
        del page[key]
    else:
        page[key] = value
    expected = honest_envelope(key, value, page["transactions"])
    with serve_tx(page) as server:
        got = outcome(lambda: load_tx(server))
    if expected == "ok":
        assert not isinstance(got, LedgerkitError), got
        pd.testing.assert_frame_equal(got, tx_baseline)
    elif expected == "stuck":  # has_more true, and the same page again: the paginator stops rather than loop
        assert isinstance(got, PaginationError) and not isinstance(got, DataError)
    else:
        assert isinstance(got, DataError), f"{key}={value!r} gave {len(got)} rows"
        assert_page_error(got, "transactions page 1 (payment_method_type=credit_card", key)
        assert got.resume["starting_after"] is None and len(got.partial) == 0


@SETTINGS
@given(data=st.data())
def test_a_transaction_value_of_the_wrong_type_over_http(tx_page, tx_baseline, data):
    page = copy.deepcopy(tx_page)
    rows = page["transactions"]
    row = data.draw(st.integers(0, len(rows) - 1), label="row")
    field = data.draw(
        st.sampled_from(sorted(n for n in flatten(rows[row]) if n in TRANSACTIONS.columns and n != "id")), label="field"
    )
    value = data.draw(HOSTILE, label="value")
    put(rows[row], field, value)
    expected = honest(TRANSACTIONS.columns[field], value, name=field, row_has_money=rows[row]["amount"] is not None)
    with serve_tx(page) as server:
        got = outcome(lambda: load_tx(server))
    if expected is REJECT:
        assert isinstance(got, DataError), f"{field}={value!r} was read as {got[field].tolist()}"
        assert_page_error(got, "transactions page 1", field.rsplit(".", 1)[-1])
        return
    assert not isinstance(got, LedgerkitError), got
    position = tx_baseline.index[tx_baseline["id"] == rows[row]["id"]][0]
    assert same(expected, got[field].iloc[position]), (field, value, got[field].iloc[position])
    pd.testing.assert_frame_equal(got.drop(columns=[field]), tx_baseline.drop(columns=[field]))


def test_a_broken_second_page_keeps_the_first_and_resumes_after_it(tx_page, tx_baseline):
    rows = tx_page["transactions"]
    half = len(rows) // 2
    first = dict(
        tx_page,
        transactions=rows[:half],
        count=half,
        has_more=True,
        first_object_id=rows[0]["id"],
        last_object_id=rows[half - 1]["id"],
    )
    second = dict(
        tx_page,
        transactions=copy.deepcopy(rows[half:]),
        count=len(rows) - half,
        has_more=False,
        first_object_id=rows[half]["id"],
    )
    broken = copy.deepcopy(second)
    broken["transactions"][0]["amount"] = "10.00"
    with serve_tx(first, broken) as server, pytest.raises(DataError) as info:
        load_tx(server)
    err = info.value
    assert_page_error(
        err,
        f"transactions page 2 (payment_method_type=credit_card, from 2025-01-02 00:00:00 to "
        f"2025-01-02 23:59:59, starting_after={rows[half - 1]['id']})",
        "'amount'",
        "'10.00'",
    )
    assert err.resume["starting_after"] == rows[half - 1]["id"]
    pd.testing.assert_frame_equal(plain(err.partial), plain(tx_baseline.iloc[:half]))
    with serve_tx(second) as server:
        rest = load_tx(
            server, **{k: v for k, v in err.resume.items() if k in ("starting_after", "payment_method_type")}
        )
    pd.testing.assert_frame_equal(plain(pd.concat([err.partial, rest], ignore_index=True)), plain(tx_baseline))


def test_a_cursor_past_its_own_page_would_skip_rows(tx_page):
    page = dict(tx_page, has_more=True, last_object_id=max(r["id"] for r in tx_page["transactions"]) + 1000)
    with serve_tx(page) as server, pytest.raises(DataError, match="beyond the page's own ids") as info:
        load_tx(server)
    assert_page_error(info.value, "transactions page 1", "last_object_id")


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"[]",
        b"42",
        b'"transactions"',
        b'{"message": "ok"}',
        b'{"transactions": null, "has_more": false}',
        b'{"transactions": {"id": 1}, "has_more": false}',
        b'{"transactions": [1], "has_more": false}',
        b'{"transactions": [], "has_more": false, "has_more": true}',
        b'{"transactions": [{"id": 1, "x": ' + b"[" * 10000 + b"]" * 10000 + b'}], "has_more": false}',
        b'{"transactions": [{"id": 1, "amount": NaN, "currency": "EUR"}], "has_more": false}',
        b"",
        b'{"transactions": [{"id": 1',
        b'{"transactions": [{"id": 1, "description": "\xff\xfe"}], "has_more": false}',
    ],
    ids=lambda b: b[:40].decode("latin-1"),
)
def test_a_body_that_is_not_the_envelope(body):
    with serve_tx(Recorded(200, JSON, body)) as server, pytest.raises(DataError) as info:
        load_tx(server)
    assert_page_error(info.value, "transactions page 1", "")
    assert len(server.requests) <= 2  # JSON that breaks the contract is not asked for again; not-JSON once more


def test_concurrent_windows_raise_the_same_clear_error(tx_page):
    page = copy.deepcopy(tx_page)
    page["transactions"][0]["transaction_fee"] = Literal("Infinity")
    with serve_tx(page) as server, pytest.raises(DataError, match=r"transaction_fee is 'Infinity': not a JSON number"):
        load_tx(server, max_workers=4)


def test_every_dialects_page_reads_exactly_and_refuses_a_string_amount(dialect_sandbox):
    """The real-services dialects (count as report total, erip, ...) through the same checks."""
    method = "erip" if dialect_sandbox.dialect.name == "bepaid" else "credit_card"
    credentials = dialect_sandbox.credentials["transactions"]
    params = {
        "date_type": "created_at",
        "from": "2025-01-01 00:00:00",
        "to": "2025-01-31 23:59:59",
        "status": "all",
        "payment_method_type": "credit_card",
        "time_zone": "UTC",
    }
    page = requests.post(
        dialect_sandbox.transactions_url + "/api/reports",
        auth=credentials.auth(),
        timeout=10,
        headers={"X-Api-Version": "3"},
        json={"report_params": params},
    ).json()
    page["has_more"] = False
    with serve_tx(page) as server:
        df = load_tx(server, payment_method_type=method)
    assert df["id"].tolist() == sorted(r["id"] for r in page["transactions"])
    assert df["amount"].tolist() == [r["amount"] for r in sorted(page["transactions"], key=lambda r: r["id"])]
    page["transactions"][-1]["amount"] = str(page["transactions"][-1]["amount"])
    with serve_tx(page) as server, pytest.raises(DataError, match="field 'amount' is '"):
        load_tx(server, payment_method_type=method)


# -------------------------------------------------------------------------------- statements


RECORDED = json.loads((DATA / "makecommerce-accountstatements-recorded.json").read_text())
PATH = "/v1/shop/accountstatements"


def serve_st(*answers: tuple[Any, dict], port: int = 0) -> Replay:
    return Replay(
        {
            f"GET {PATH}": [
                Recorded(200, {**RECORDED["headers"], **headers}, body if isinstance(body, bytes) else body_of(body))
                for body, headers in answers
            ]
        },
        port=port,
    )


def load_st(server: Replay, **kw) -> pd.DataFrame:
    return lk.load_statements(
        since="2017-08-09", base_url=server.url, shop_id="shop", secret_key="secret", retry=FAST, progress=False, **kw
    )


@pytest.fixture(scope="module")
def st_baseline() -> pd.DataFrame:
    with serve_st((RECORDED["body"], {})) as server:
        return load_st(server)


@SETTINGS
@given(data=st.data())
def test_a_statement_value_of_the_wrong_type_over_http(st_baseline, data):
    rows = copy.deepcopy(RECORDED["body"])
    row = data.draw(st.integers(0, len(rows) - 1), label="row")
    field = data.draw(st.sampled_from(sorted(k for k in rows[row] if k in STATEMENTS.columns)), label="field")
    value = data.draw(HOSTILE, label="value")
    rows[row][field] = value
    kind = STATEMENTS.columns[field]
    decoded = Decimal(value) if isinstance(value, Literal) and value.endswith("e400") else value
    expected = honest_major(decoded) if kind == "major" else honest(kind, decoded, name=field)
    if kind in ("str", "category") and isinstance(value, float):
        expected = str(Decimal(repr(value)))
    with serve_st((rows, {})) as server:
        got = outcome(lambda: load_st(server))
    if expected is REJECT:
        assert isinstance(got, DataError), f"{field}={value!r} was read as {got[field].tolist()}"
        assert_page_error(got, "statements page 1", field)
        assert got.resume["start_page"] == 1
        return
    assert not isinstance(got, LedgerkitError), got
    if field == "created" and (expected is None or expected >= pd.Timestamp("2017-08-09", tz="UTC")):
        pass
    elif field == "created":  # before since: outside the period asked for, dropped and counted
        assert len(got) == len(st_baseline) - 1 and got.attrs["ledgerkit"]["outside_window"] == 1
        return
    assert same(expected, got[field].iloc[row]), (field, value, got[field].iloc[row])
    keep = [c for c in st_baseline.columns if c not in (field, "row_id")]
    pd.testing.assert_frame_equal(got[keep], st_baseline[keep])


@SETTINGS
@given(
    value=st.text(HEADER_TEXT, max_size=8)
    | st.sampled_from(["6", " 6 ", "7", "-3", "abc", "1e3", "6.0", "", "1" * 5000, "²"])
)
def test_an_x_total_count_that_is_not_a_count(st_baseline, value):
    with serve_st((RECORDED["body"], {"X-Total-Count": value})) as server:
        got = outcome(lambda: load_st(server))
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 18:
        if int(text) == len(st_baseline):
            pd.testing.assert_frame_equal(got, st_baseline)
        else:
            assert isinstance(got, CountMismatchError)
        return
    assert isinstance(got, DataError), got
    assert_page_error(got, "statements page 1", "X-Total-Count")


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"{}",
        b'{"rows": []}',
        b"42",
        b'"x"',
        b"[1, 2]",
        b"[null]",
        b'[{"amount": NaN}]',
        b'[{"amount": 1, "amount": 2}]',
        b"[" * 10000 + b"]" * 10000,
        b"[{}, " + b"[" * 60 + b"]" * 60 + b"]",
    ],
)
def test_a_statement_body_that_is_not_an_array_of_rows(body):
    with serve_st((body, {})) as server, pytest.raises(DataError) as info:
        load_st(server)
    assert_page_error(info.value, "statements page 1", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_broken_second_statement_page_keeps_the_first(st_baseline):
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    rows = RECORDED["body"]
    link = f'<{url}?since=2017-08-09&page=2&per_page=3>; rel="next"'
    broken = copy.deepcopy(rows[3:])
    broken[1]["balance_after"] = "141.65"
    with (
        serve_st((rows[:3], {"Link": link}), (broken, {"Link": ""}), port=port) as server,
        pytest.raises(DataError) as info,
    ):
        load_st(server, max_workers=1)
    err = info.value
    assert_page_error(err, "statements page 2", "'balance_after'", "'141.65'")
    assert err.resume["start_page"] == 2
    pd.testing.assert_frame_equal(plain(err.partial), plain(st_baseline.iloc[:3]))


# ---------------------------------------------------------------------------------------- DWH


REPORT = json.loads((DATA / "dwh-report-successful.json").read_text())["body"]


def load_br(server: Replay) -> Any:
    return lk.load_balance_records(
        "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        currency="USD",
        user_id=1,
        base_url=server.url,
        psp_id="1",
        secret_key="k",
        retry=FAST,
        progress=False,
        poll_timeout=2.0,
        poll_interval=(0.01, 0.02),
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", 7),
        ("id", None),
        ("id", "../../reports"),
        ("id", "a?b=1"),
        ("id", "x" * 1_000_000),
        ("id", ""),
        ("status", 5),
        ("status", ["successful"]),
        ("status", None),
        ("file_url", 5),
        ("file_url", "ftp://x/r.zip"),
        ("request_params", ["EUR"]),
    ],
)
def test_a_report_answer_field_of_the_wrong_type(field, value):
    report = copy.deepcopy(REPORT)
    report["data"]["report"][field] = value
    with Replay({"POST /api/v2/reports": Recorded(201, JSON, report)}) as server, pytest.raises(DataError) as info:
        load_br(server)
    message = str(info.value)
    assert f"data.report.{field}" in message or "no data.report" in message
    assert len(message) < 600
    assert not any(r.path.startswith("/api/v2/reports/") for r in server.requests)  # the id never reached a URL


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"[]",
        b'{"data": []}',
        b'{"data": {"report": "r"}}',
        b'{"data": {"report": {"id": "r"}}}',
        b'{"data": ' + b"[" * 10000 + b"]" * 10000 + b"}",
    ],
)
def test_a_report_answer_that_is_not_the_envelope(body):
    with (
        Replay({"POST /api/v2/reports": Recorded(201, JSON, body)}) as server,
        pytest.raises(DataError, match="DWH answer to"),
    ):
        load_br(server)
