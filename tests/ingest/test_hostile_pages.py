"""Pages that break the contract, built from real page shapes, through the ingest layer.

Each test takes a real page (the v3 docs' seed page, a page the sandbox
serves, the seed and the recorded MakeCommerce statements) and corrupts it:
one field gets a value of another JSON type, an impossible value, a
``NaN``/``Infinity`` literal, a 1 MB text or a deep nesting. The page must
then either give the frame an honest reading gives -- every other cell as
before, the corrupted cell as :func:`honest` says -- or raise ``DataError``
naming the field and (shortened) the value. Never a bare error, never a
different number. Both ways of reading a page (Arrow and the reference)
must agree. ``honest`` is written out here, independently of the code.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
import zipfile
from decimal import ROUND_HALF_EVEN, Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledgerkit._ingest.arrow_pages import NotJSON, PageHints, _reference, read_page
from ledgerkit._ingest.records import build_page, finish, flatten, nesting, parse_times, strict_json
from ledgerkit._ingest.schema import STATEMENTS, TRANSACTIONS
from ledgerkit._ingest.sheets import read_report_file
from ledgerkit.errors import DataError
from ledgerkit.sandbox import World
from ledgerkit.sandbox.server import dumps

DATA = Path(__file__).resolve().parents[1] / "data"
SEED = json.loads((DATA / "transactions_seed_page.json").read_text())["transactions"]
SANDBOX = json.loads(dumps({"transactions": World.generate(seed=5, n_transactions=40).transactions[:8]}))[
    "transactions"
]
TX_SHAPES = {"seed": SEED, "sandbox": SANDBOX}
ST_SHAPES = {
    "seed": json.loads((DATA / "statements_seed_page.json").read_text()),
    "recorded": json.loads((DATA / "real-world" / "makecommerce-accountstatements-recorded.json").read_text())["body"],
}
LIMIT = 2**53
REJECT = "<reject>"
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Literal(str):
    """A raw JSON token no encoder writes (``NaN``, ``Infinity``, ``1e400``): put into the body as it is."""


def nest(depth: int, leaf: Any = 1, kind: str = "list") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


LITERALS = [Literal(t) for t in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")]
TEXTS = [
    "10.00",
    "7",
    " 7",
    "-3",
    "+5",
    "٣",
    "1_000",
    "1e3",
    "true",
    "",
    "EUR",
    "euro",
    "usd",
    "USDT",
    "XYZ",
    "x" * 1_000_000,
]
TIMES = [
    "2025-01-27T14:07:00Z",
    "2025-01-27T14:07:00+02:00",
    "2025-01-27 14:07:00+0000",
    "2025-01-27T14:07:00.123456Z",
    "2025-13-45T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "99999-01-01T00:00:00Z",
    "1677-09-21T00:00:00Z",
    "2262-04-12T00:00:00Z",
    "2025",
    "2025-01-27",
    "2025-01-27T25:00:00Z",
    "abc",
    "",
]
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([LIMIT, LIMIT + 1, -LIMIT - 1, 2**63, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**6), 10**6).map(float),
    st.sampled_from(LITERALS),
    st.text(max_size=12),
    st.sampled_from(TEXTS),
    st.sampled_from(TIMES),
    st.lists(st.integers(0, 9), max_size=3),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
    st.sampled_from([nest(40), nest(40, kind="object"), nest(1000), nest(1000, kind="object")]),
)


def body_of(payload: Any) -> bytes:
    """JSON bytes with every :class:`Literal` written raw."""
    tokens: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Literal):
            key = f"@@literal{len(tokens)}@@"
            tokens[key] = str(value)
            return key
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))  # json.dumps of the 1,000-level values
    try:
        text = json.dumps(swap(payload))
    finally:
        sys.setrecursionlimit(limit)
    for key, token in tokens.items():
        text = text.replace(f'"{key}"', token)
    return text.encode()


def put(record: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        record = record[name]
    record[leaf] = value


# ------------------------------------------------------------------ the honest reading, written out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, (bool, Literal))


def _whole(value: Any, limit: int) -> int | None:
    if not _number(value) or (isinstance(value, float) and not (value.is_integer() and abs(value) < LIMIT)):
        return None
    return int(value) if value == int(value) and abs(int(value)) <= limit else None


def honest(kind: str, value: Any, *, name: str = "", row_has_money: bool = True) -> Any:
    """What an honest reading makes of ``value`` in a column of ``kind``, or REJECT."""
    if isinstance(value, (Literal, list, dict)):
        return REJECT
    if value is None:
        return REJECT if name == "id" or (name == "currency" and row_has_money) else None
    if name == "id":
        if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,18}\s*", value):
            return int(value)
        whole = _whole(value, 2**63 - 1)
        return whole if whole is not None and whole >= 0 else REJECT
    if name == "currency":
        return value if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9]{2,9}", value) else REJECT
    if kind == "minor":
        whole = _whole(value, LIMIT)
        return REJECT if whole is None else whole
    if kind == "int":
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,18}\s*", value):
            return int(value)
        whole = _whole(value, 2**63 - 1)
        return REJECT if whole is None else whole
    if kind == "minor_float":
        if not _number(value) or abs(value) > LIMIT or (isinstance(value, float) and abs(value) >= LIMIT):
            return REJECT
        return int(Decimal(repr(float(value))).to_integral_value(ROUND_HALF_EVEN))
    if kind == "float":
        return float(value) if _number(value) and math.isfinite(float(value)) else REJECT
    if kind == "bool":
        return value if isinstance(value, bool) else REJECT
    if kind in ("str", "category"):
        return str(value)
    if kind == "time":
        if not isinstance(value, str):
            return REJECT
        if value == "":
            return None
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", value):
            return REJECT
        try:
            stamp = pd.Timestamp(value)
            return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).as_unit("ns")
        except (ValueError, OverflowError):
            return REJECT
    raise AssertionError(kind)


def honest_major(value: Any, exponent: int = 2) -> Any:
    """A statements amount: a JSON number in major units -> minor units, exactly (half-even past them)."""
    if value is None:
        return None
    if not _number(value):
        return REJECT
    scaled = Decimal(repr(value) if isinstance(value, float) else value).scaleb(exponent)
    return REJECT if abs(scaled) > LIMIT else int(scaled.to_integral_value(ROUND_HALF_EVEN))


def outcome(read) -> Any:
    try:
        return read()
    except DataError as exc:
        return exc


def same(expected: Any, cell: Any) -> bool:
    """``cell`` is ``expected`` (missing is missing; a boolean is no number, a number no boolean)."""
    if expected is None:
        return cell is None or (not isinstance(cell, (list, dict)) and bool(pd.isna(cell)))
    if isinstance(expected, bool) or isinstance(cell, (bool, np.bool_)):
        return isinstance(expected, bool) and isinstance(cell, (bool, np.bool_)) and bool(cell) == expected
    return bool(expected == cell)


def assert_names(exc: DataError, field: str, value: Any, *, hidden: bool = False) -> None:
    """The message names the field and the value (shortened), and stays short."""
    message = str(exc)
    assert len(message) < 1200
    assert field in message or field.rsplit(".", 1)[-1] in message, message
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and not isinstance(value, Literal):
        shown = [repr(value)[:12]] + ([repr(Decimal(repr(value)))[:12]] if isinstance(value, float) else [])
        if hidden and len(str(value)) > 3:
            assert shown[0] not in message, message
        else:
            assert any(s in message for s in shown) or "nest" in message, message
    elif isinstance(value, Literal):  # decoded with Decimal, 1e400 shows as Decimal('1E+400')
        assert str(value).lower() in message.lower().replace("+", ""), message


# ----------------------------------------------------------------------------- transactions


def tx_frame(rows: list[dict]) -> pd.DataFrame:
    return finish(
        [
            read_page(
                body_of({"transactions": rows, "count": len(rows), "has_more": False}),
                TRANSACTIONS,
                records_key="transactions",
                include_pii=True,
            ).frame
        ],
        TRANSACTIONS,
    )


BASELINE = {name: tx_frame(rows) for name, rows in TX_SHAPES.items()}


def the_reference(body: bytes, *, include_pii: bool = False):
    """The reference path alone (decode, ids, :func:`build_page`), as the Arrow path falls back to it."""
    return _reference(body, TRANSACTIONS, "transactions", include_pii, None, None, frozenset())


def after_a_clean_page(body: bytes, clean: list[dict], *, include_pii: bool = False):
    """``body`` read as a pull reads its next page: against the schema a clean page of its shape taught."""
    hints = PageHints()
    taught = body_of({"transactions": clean, "count": len(clean), "has_more": False})
    assert read_page(taught, TRANSACTIONS, records_key="transactions", hints=hints, include_pii=include_pii).fast
    assert hints.page_schema is not None
    got = outcome(
        lambda: read_page(body, TRANSACTIONS, records_key="transactions", hints=hints, include_pii=include_pii)
    )
    fast = not isinstance(got, DataError) and got.fast
    assert hints.fitted + hints.unfitted == fast  # a fast page was read against the learned schema, or after it
    return got


def assert_same_outcome(got: Any, other: Any) -> None:
    if isinstance(other, DataError):
        assert isinstance(got, DataError) and str(got) == str(other), (got, other)
    else:
        assert not isinstance(got, DataError), got
        pd.testing.assert_frame_equal(finish([got.frame], TRANSACTIONS), finish([other.frame], TRANSACTIONS))
        assert (got.rounded_values, got.pii_dropped) == (other.rounded_values, other.pii_dropped)


def known_fields(record: dict) -> list[str]:
    return sorted(name for name in flatten(record) if name in TRANSACTIONS.columns)


@SETTINGS
@given(shape=st.sampled_from(sorted(TX_SHAPES)), data=st.data())
def test_a_transaction_field_of_the_wrong_type_is_refused_or_read_honestly(shape, data):
    rows = copy.deepcopy(TX_SHAPES[shape])
    row = data.draw(st.integers(0, len(rows) - 1), label="row")
    field = data.draw(st.sampled_from(known_fields(rows[row])), label="field")
    value = data.draw(HOSTILE, label="value")
    put(rows[row], field, value)
    kind = TRANSACTIONS.columns[field]
    expected = honest(kind, value, name=field, row_has_money=rows[row].get("amount") is not None)
    if field == "id" and expected is not REJECT:
        assume(expected not in {r["id"] for i, r in enumerate(rows) if i != row})
    body = body_of({"transactions": rows, "count": len(rows), "has_more": False})
    got = outcome(lambda: read_page(body, TRANSACTIONS, records_key="transactions", include_pii=True))
    assert_same_outcome(after_a_clean_page(body, copy.deepcopy(TX_SHAPES[shape]), include_pii=True), got)
    reference = outcome(lambda: the_reference(body, include_pii=True))
    assert isinstance(got, DataError) == isinstance(reference, DataError), (got, reference)
    if expected is REJECT:
        assert isinstance(got, DataError), f"{field}={value!r} was read as {got.frame[field].tolist()}"
        assert_names(got, field, value, hidden=TRANSACTIONS.is_pii(field))
        return
    assert not isinstance(got, DataError), f"{field}={value!r} ({kind}) refused: {got}"
    frame = finish([got.frame], TRANSACTIONS)
    baseline = BASELINE[shape]
    pd.testing.assert_frame_equal(frame.drop(columns=[field]), baseline.drop(columns=[field]))
    cell = frame[field].iloc[row]
    assert same(expected, cell), (field, value, cell)
    pd.testing.assert_frame_equal(frame, finish([reference.frame], TRANSACTIONS))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=8,
)


@settings(SETTINGS, max_examples=50)
@given(shape=st.sampled_from(sorted(TX_SHAPES)), value=JSON_VALUES | st.sampled_from([*LITERALS, nest(40), nest(1000)]))
def test_an_unknown_field_keeps_its_json_value_or_the_page_is_refused(shape, value):
    rows = copy.deepcopy(TX_SHAPES[shape])
    rows[-1]["risk_score"] = value
    body = body_of({"transactions": rows, "count": len(rows), "has_more": False})
    got = outcome(lambda: read_page(body, TRANSACTIONS, records_key="transactions"))
    clean = copy.deepcopy(TX_SHAPES[shape])
    clean[-1]["risk_score"] = 12  # the schema learned holds the field as a number
    assert_same_outcome(after_a_clean_page(body, clean), got)
    reference = outcome(lambda: the_reference(body))
    deep = (isinstance(value, list) and value == nest(40)) or value == nest(1000)
    if isinstance(value, Literal) or deep:
        assert isinstance(got, DataError) and isinstance(reference, DataError)
        assert_names(got, "risk_score", value)
        return
    assert not isinstance(got, DataError) and not isinstance(reference, DataError), (got, reference)
    cell = got.frame["risk_score"].iloc[-1]
    assert same(value, cell) if not isinstance(value, list) else cell == value, (value, cell)
    pd.testing.assert_frame_equal(finish([got.frame], TRANSACTIONS), finish([reference.frame], TRANSACTIONS))


def test_an_object_where_a_value_belongs_is_refused_not_left_empty():
    for value in ({}, {"value": 1000}, {"a": {"b": 1}}):
        rows = copy.deepcopy(SEED)
        rows[0]["amount"] = value
        with pytest.raises(DataError, match=r"field 'amount' is \{.*\}: expected a whole number of minor units"):
            read_page(body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions")
        with pytest.raises(DataError, match="'amount'"):
            build_page(rows, TRANSACTIONS)


def test_a_name_twice_in_one_object_or_twice_once_flattened_is_refused():
    body = b'{"transactions": [{"id": 1, "amount": 5, "amount": 7, "currency": "EUR"}], "has_more": false}'
    with pytest.raises(DataError, match=r"transactions\[0\]\.amount is \(5, 7\): the name 'amount' appears twice"):
        read_page(body, TRANSACTIONS, records_key="transactions")
    body = (
        b'{"transactions": [{"id": 1, "credit_card": {"brand": "visa"}, "credit_card.brand": "mc"}], "has_more": false}'
    )
    with pytest.raises(DataError, match=r"'credit_card\.brand' appears twice once flattened"):
        read_page(body, TRANSACTIONS, records_key="transactions")


def test_personal_data_never_appears_in_the_message():
    rows = copy.deepcopy(SANDBOX)
    rows[0]["credit_card"]["holder"] = ["REN", "PEETERS"]
    rows[0]["customer"]["email"] = {"address": "ren.peeters730@example.com"}
    for body in (body_of({"transactions": rows, "has_more": False}),):
        with pytest.raises(DataError) as info:
            read_page(body, TRANSACTIONS, records_key="transactions")
        assert "PEETERS" not in str(info.value) and "<hidden: personal data>" in str(info.value)


def test_money_past_2_53_never_rounds_onto_a_neighbour():
    """A float column holds 2**53 + 1 as 2**53: both Arrow's int-to-float cast and its float reading."""
    rows = copy.deepcopy(SEED)
    for fees in ([0, 2**53 + 1], [0.0, 2**53 + 1], [2**53 + 1, 2**53 + 1]):
        for row, fee in zip(rows, fees, strict=True):
            row["transaction_fee"] = fee
        with pytest.raises(DataError, match=r"field 'transaction_fee' is 9007199254740993"):
            read_page(body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions")
    rows[0]["transaction_fee"], rows[1]["transaction_fee"] = 2**53, 2**53  # exactly the limit: exact, kept
    page = read_page(body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions")
    assert page.frame["transaction_fee"].tolist() == [2**53, 2**53]


def test_money_without_a_currency_and_a_currency_that_is_no_code():
    rows = copy.deepcopy(SEED)
    del rows[1]["currency"]
    with pytest.raises(DataError, match=r"row 1 \(id 28861\): field 'currency' is None: expected a currency code"):
        read_page(body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions")
    rows[1].update(currency=None, amount=None, transaction_fee=None, pay_to_merchant=None)  # nothing to attribute
    assert read_page(
        body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions"
    ).frame["currency"].isna().tolist() == [False, True]


# ------------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"[]",
        b"[1, 2]",
        b"1",
        b'"transactions"',
        b"true",
        b"{}",
        b'{"transactions": null}',
        b'{"transactions": {"id": 1}}',
        b'{"transactions": [1, 2]}',
        b'{"transactions": [null]}',
        b'{"transactions": [{"id": 1}], "has_more": false} {"transactions": []}',
        b'{"transactions": [{"id": 1}]}\nnull',
        b'{"transactions": [{"id": 1, "description": "\xff"}]}',
        b'{"data": {"transactions": []}}',
        b"\xef\xbb\xbfnull",
    ],
    ids=lambda b: b[:30].decode("latin-1"),
)
def test_a_page_that_is_not_the_envelope_raises_data_error(body):
    with pytest.raises(DataError) as info:
        read_page(body, TRANSACTIONS, records_key="transactions")
    assert "transactions" in str(info.value) or "JSON" in str(info.value)


def test_bodies_that_crashed_the_arrow_reader_are_refused_in_a_process_of_their_own():
    """A bare ``null`` and 20,000 levels of nesting segfaulted pyarrow's JSON reader (the whole kernel)."""
    script = """
import sys
from ledgerkit.errors import DataError
from ledgerkit._ingest.arrow_pages import read_page
from ledgerkit._ingest.schema import TRANSACTIONS
bodies = [b"null", b" null ", b'{"transactions": [{"id": 1, "x": ' + b"[" * 20000 + b"]" * 20000 + b"}]}",
          b'{"transactions": [{"id": 1, "x": ' + b'{"a":' * 20000 + b"1" + b"}" * 20000 + b"}]}",
          b'{"transactions": [{"id": 1, "x": "' + b']' * 25000 + b'", "y": ' + b"[" * 20000 + b"]" * 20000 + b"}]}"]
for body in bodies:
    try:
        read_page(body, TRANSACTIONS, records_key="transactions")
    except DataError as exc:
        print("DataError", str(exc)[:60])
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("DataError") == 5, done.stdout


def test_lists_arrow_reads_wrongly_go_the_reference_way():
    """Leading nulls in a list gave Arrow list offsets past its values (apache/arrow#51305): a bare ArrowIndexError."""
    rows = copy.deepcopy(SEED)
    rows[0]["labels"], rows[1]["labels"] = [None, 1], [2, 3]
    page = read_page(body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions")
    assert page.frame["labels"].tolist() == [[None, 1], [2, 3]] and not page.fast
    rows[0]["labels"], rows[1]["labels"] = [1.5, 2.5], [3.5, 4.5]  # equal lengths: one value per row, never 2-D
    assert read_page(
        body_of({"transactions": rows, "has_more": False}), TRANSACTIONS, records_key="transactions"
    ).frame["labels"].tolist() == [[1.5, 2.5], [3.5, 4.5]]
    assert build_page(rows, TRANSACTIONS).frame["labels"].tolist() == [[1.5, 2.5], [3.5, 4.5]]


def test_the_sandbox_page_stays_on_the_fast_path():
    page = read_page(
        body_of({"transactions": SANDBOX, "count": len(SANDBOX), "has_more": False}),
        TRANSACTIONS,
        records_key="transactions",
    )
    assert page.fast and len(page.frame) == len(SANDBOX)


def test_not_json_is_told_apart_from_json_that_breaks_the_contract():
    with pytest.raises(NotJSON):
        read_page(b'{"transactions": [{"id": 1', TRANSACTIONS, records_key="transactions")
    for body in (
        b'{"transactions": [{"id": 1, "amount": NaN, "currency": "EUR"}]}',
        b'{"transactions": [{"id": 1, "amount": 1, "amount": 2}]}',
    ):
        with pytest.raises(DataError) as info:
            read_page(body, TRANSACTIONS, records_key="transactions")
        assert not isinstance(info.value, NotJSON)


# ------------------------------------------------------------------------------ statements


def st_reference(rows: list[dict]) -> pd.DataFrame:
    return finish([build_page(rows, STATEMENTS, default_currency="EUR").frame], STATEMENTS)


ST_KINDS = {name: kind for name, kind in STATEMENTS.columns.items() if name not in ("row_id", "currency")}


@SETTINGS
@given(shape=st.sampled_from(sorted(ST_SHAPES)), data=st.data())
def test_a_statement_field_of_the_wrong_type_is_refused_or_read_honestly(shape, data):
    original = ST_SHAPES[shape]
    row = data.draw(st.integers(0, len(original) - 1), label="row")
    field = data.draw(st.sampled_from(sorted(k for k in original[row] if k in ST_KINDS)), label="field")
    value = data.draw(HOSTILE, label="value")
    rows = copy.deepcopy(original)
    rows[row][field] = value
    kind = ST_KINDS[field]
    decoded = Decimal(value) if isinstance(value, Literal) and value.endswith("e400") else value  # a number to Decimal
    expected = honest_major(decoded) if kind == "major" else honest(kind, decoded, name=field)
    if kind in ("str", "category") and isinstance(value, float):
        expected = str(Decimal(repr(value)))  # statements are decoded with Decimal: the number's own text
    if field == "original_amount" and expected not in (REJECT, None):
        assume("original_currency" not in rows[row])  # the account currency's exponent
    got = outcome(lambda: st_reference(strict_json(body_of(rows), parse_float=Decimal)))
    if expected is REJECT:
        assert isinstance(got, DataError), f"{field}={value!r} was read as {got[field].tolist()}"
        assert_names(got, field, value)
        return
    assert not isinstance(got, DataError), f"{field}={value!r} ({kind}) refused: {got}"
    baseline = st_reference(strict_json(body_of(original), parse_float=Decimal))
    keep = [c for c in baseline.columns if c not in (field, "row_id")]
    pd.testing.assert_frame_equal(got[keep], baseline[keep])
    assert same(expected, got[field].iloc[row]), (field, value, got[field].iloc[row])


def test_a_balance_that_is_not_a_number_never_becomes_one():
    rows = copy.deepcopy(ST_SHAPES["recorded"])
    for value in (Literal("NaN"), "141.51", True, Literal("1e400"), 1e300, [141.51]):
        rows[1]["balance_after"] = value
        with pytest.raises(DataError, match="balance_after"):
            st_reference(strict_json(body_of(rows), parse_float=Decimal))


def test_a_deep_statement_row_is_refused_by_its_identity():
    from ledgerkit.sources._statement_rows import Rows

    rows = copy.deepcopy(ST_SHAPES["recorded"])
    rows[2]["extra"] = nest(32)  # 34 levels in all: the page's decoder lets them through
    with pytest.raises(DataError, match="a row nests deeper than 32 levels"):
        Rows(chained=True).take(strict_json(body_of(rows), parse_float=Decimal))
    rows[2]["extra"] = nest(500)
    with pytest.raises(DataError, match=r"field 'extra' nests deeper than 34 levels \(near byte"):
        strict_json(body_of(rows), parse_float=Decimal)


# ------------------------------------------------------------------------------ the JSON rules


def true_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    return 0


TRICKY_TEXT = st.text(alphabet='[]{}"\\ab\u00e9\u2028', max_size=6)
TRICKY_JSON = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=TRICKY_JSON, ascii_only=st.booleans())
def test_the_nesting_scan_sees_the_structure_the_parser_sees(value, ascii_only):
    """Brackets, quotes and backslashes inside strings never move the depth the scan finds."""
    assert nesting(json.dumps(value, ensure_ascii=ascii_only).encode()) == true_depth(value)


def test_strict_json_names_the_place():
    with pytest.raises(DataError, match=r"field \[1\]\.a\.b is \('x', 'y'\): the name 'b' appears twice"):
        strict_json(b'[{}, {"a": {"b": "x", "b": "y"}}]')
    with pytest.raises(DataError, match=r"field \[0\]\.amount is '-Infinity': not a JSON number"):
        strict_json(b'[{"amount": -Infinity}]')
    with pytest.raises(DataError, match=r"field \[0\]\.amount is '1e400': a number too large for a float"):
        strict_json(b'[{"amount": 1e400}]')
    assert strict_json(b'[{"amount": 1e400}]', parse_float=Decimal) == [
        {"amount": Decimal("1E+400")}
    ]  # the money check decides
    with pytest.raises(DataError, match="nests deeper than 34 levels"):
        strict_json(b"[" * 50000 + b"]" * 50000)
    with pytest.raises(ValueError, match="Expecting value"):
        strict_json(b'{"a": ')


@pytest.mark.parametrize("value", [*TIMES, 5, True])
def test_parse_times_refuses_what_is_not_an_instant(value):
    expected = honest("time", value)
    if expected is REJECT:
        with pytest.raises(DataError, match="row 1"):
            parse_times(["2025-01-01T00:00:00Z", value])
    else:
        assert same(expected, parse_times(["2025-01-01T00:00:00Z", value])[1])


# -------------------------------------------------------------------------------- DWH sheets


HEADER = (
    "Merchant ID,Shop ID,Gateway ID,Record ID,Created at,Transaction type,Currency,Amount,Fee,Net,"
    "Balance before,Balance after"
)
GOOD = "1,2,3,10,2025-01-01 00:00:00,payment,EUR,10.00,0.29,9.71,0.00,9.71"
OPENING = "Merchant ID,Shop ID,Gateway ID,Currency,Date,Opening balance\r\n1,2,3,EUR,2025-01-01 00:00:00,0.00\r\n"


def report_zip(record_line: str) -> BytesIO:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("balance_records.csv", f"{HEADER}\r\n{record_line}\r\n")
        z.writestr("opening_balance.csv", OPENING)
    buf.seek(0)
    return buf


@pytest.mark.parametrize(
    "column, value",
    [
        ("Created at", "0000-01-01 00:00:00"),  # the fast CSV path wrapped it round to 1753-08-29
        ("Created at", "1500-01-01 00:00:00"),  # parsed at a coarser unit, then a bare OutOfBoundsDatetime
        ("Created at", "2263-01-01 00:00:00"),
        ("Record ID", "99999999999999999999"),  # a bare TypeError from the cast to Int64
        ("Amount", "1e400"),
        ("Amount", "NaN"),
        ("Balance after", "x" * 100_000),
    ],
)
def test_a_report_cell_out_of_range_raises_data_error_naming_it(column, value):
    cells = GOOD.split(",")
    cells[HEADER.split(",").index(column)] = value
    with pytest.raises(DataError) as info:
        read_report_file(report_zip(",".join(cells)))
    message = str(info.value)
    assert "balance_records.csv" in message and "row 2" in message and value[:10] in message and len(message) < 400


def test_a_workbook_datetime_outside_the_ns_range_raises_data_error():
    """XLSX cells arrive as datetimes; year 1500 became a bare OutOfBoundsDatetime."""
    from datetime import datetime

    from ledgerkit._ingest.sheets import _to_time

    with pytest.raises(DataError, match=r"book.xlsx: column 'created_at', row 3: .*1500"):
        _to_time(pd.Series([datetime(2025, 1, 1), datetime(1500, 1, 1)]), "book.xlsx", "created_at")
