"""A pull's later pages, read against the schema its earlier pages taught, give what each page gives alone.

Reading against the learned schema skips the nesting scan and Arrow's type
inference (``PageHints``); where it could differ from reading the page on
its own -- a field the page lacks, one given as null on every row, whole
numbers in a float column, a new field, a new type, a key written with an
escape, deep nesting -- the page must still come out exactly as the page
read alone (and as the reference), and the tests say which way it went so
that a path nobody takes cannot pass for a tested one.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from ledgerkit._ingest.arrow_pages import FastPage, PageHints, _reference, pages_to_frame, read_columns, read_page
from ledgerkit._ingest.records import build_page, finish
from ledgerkit._ingest.schema import TRANSACTIONS
from ledgerkit.errors import DataError
from ledgerkit.sandbox import World
from ledgerkit.sandbox.server import dumps

SEED = json.loads((Path(__file__).resolve().parents[1] / "data" / "transactions_seed_page.json").read_text())[
    "transactions"
]


def body_of(rows: list[dict], **meta: Any) -> bytes:
    return orjson.dumps({"transactions": rows, "count": len(rows), "has_more": False, **meta})


def teaching_rows() -> list[dict]:
    """The seed page with unknown fields of each sort: a number, a float, text, a list and an object."""
    rows = copy.deepcopy(SEED)
    for i, row in enumerate(rows):
        row.update(risk_score=12 + i, score=0.5 + i, note=f"n{i}", labels=["a"] * i, memo=None)
        row["alternative"] = {"method": "ideal", "account_country": "NL"}
    return rows


def taught(rows: list[dict] | None = None, **kw: Any) -> PageHints:
    hints = PageHints()
    page = read_page(
        body_of(teaching_rows() if rows is None else rows), TRANSACTIONS, records_key="transactions", hints=hints, **kw
    )
    assert page.fast and hints.page_schema is not None
    return hints


def outcome(read) -> FastPage | DataError:
    try:
        return read()
    except DataError as exc:
        return exc


def assert_same(got: FastPage | DataError, alone: FastPage | DataError) -> None:
    """The same page (frame, rounding, personal data dropped, envelope), or the same error."""
    if isinstance(alone, DataError):
        assert isinstance(got, DataError) and str(got) == str(alone), (got, alone)
        return
    assert not isinstance(got, DataError), got
    pd.testing.assert_frame_equal(finish([got.frame], TRANSACTIONS), finish([alone.frame], TRANSACTIONS))
    assert (got.rounded_values, got.pii_dropped, got.meta, got.records) == (
        alone.rounded_values,
        alone.pii_dropped,
        alone.meta,
        alone.records,
    )


def read_both(body: bytes, hints: PageHints, **kw: Any) -> tuple[FastPage | DataError, FastPage | DataError]:
    """``body`` read with ``hints`` and read alone; the latter also against the reference path (ids deduplicated)."""
    got = outcome(lambda: read_page(body, TRANSACTIONS, records_key="transactions", hints=hints, **kw))
    alone = outcome(lambda: read_page(body, TRANSACTIONS, records_key="transactions", **kw))
    assert_same(got, alone)
    if not isinstance(alone, DataError):
        pii = kw.get("include_pii", False)
        reference = _reference(body, TRANSACTIONS, "transactions", pii, None, kw.get("default_currency"), frozenset())
        pd.testing.assert_frame_equal(finish([alone.frame], TRANSACTIONS), finish([reference.frame], TRANSACTIONS))
    return got, alone


def variant(change) -> bytes:
    rows = teaching_rows()
    for i, row in enumerate(rows):
        change(i, row)
    return body_of(rows)


def drop(*names: str):
    def change(i: int, row: dict) -> None:
        for name in names:
            row.pop(name, None)

    return change


def put(name: str, value_of):
    def change(i: int, row: dict) -> None:
        row[name] = value_of(i)

    return change


# (what changes on the next page, whether it fits the learned schema)
VARIANTS = {
    "same shape": (lambda i, row: None, True),
    "an unknown object absent": (drop("alternative"), True),
    "an unknown field absent": (drop("note"), True),
    "every unknown field absent": (drop("note", "risk_score", "score", "labels", "alternative"), True),
    "an unknown field null on every row": (put("note", lambda i: None), True),
    "an unknown list empty on every row": (put("labels", lambda i: []), True),
    "a list null on every row": (put("labels", lambda i: None), True),
    "floats with a fraction": (put("score", lambda i: 7.25 * (i + 1)), True),
    "nested field null on one row": (lambda i, row: row["alternative"].update(method=None) if i else None, True),
    "a known object absent": (drop("credit_card"), True),
    "an unknown object null on every row": (put("alternative", lambda i: None), False),
    "whole numbers in a float column": (put("score", lambda i: 7 + i), False),
    "a float written whole": (put("score", lambda i: 7.0), False),
    "a new field": (put("extra", lambda i: "x"), False),
    "text where a number was": (put("risk_score", lambda i: f"r{i}"), False),
    "a number where text was": (put("note", lambda i: i), False),
    "an object where a number was": (put("risk_score", lambda i: {"v": i}), False),
    "objects in the list": (put("labels", lambda i: [{"a": i}]), False),
    "a new field in a known object": (lambda i, row: row["credit_card"].update(wallet="pay"), False),
    "a known field of another type": (put("amount", lambda i: 10.5), False),
    "text that reads as a time": (put("note", lambda i: "2025-01-02"), True),
    "text that reads as a time where only nulls were": (put("memo", lambda i: "2025-01-02"), False),
    "deep nesting": (put("risk_score", lambda i: json.loads("[" * 50 + "]" * 50)), False),
    "the id repeated": (put("id", lambda i: 7), False),
}


@pytest.mark.parametrize("pii", [False, True])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_later_page_of_another_shape_is_read_as_it_is_read_alone(name, pii):
    change, fits = VARIANTS[name]
    hints = taught(include_pii=pii)
    got, alone = read_both(variant(change), hints, include_pii=pii)
    read_alone_fast = not isinstance(alone, DataError) and alone.fast
    assert (hints.fitted, hints.unfitted) == ((1, 0) if fits else (0, int(read_alone_fast)))
    assert isinstance(got, DataError) or got.fast == alone.fast


def test_absent_and_null_stay_apart():
    """Absent from the page: no column. Given as null: a column of nulls -- as the reference has it."""
    hints = taught()
    absent, _ = read_both(variant(drop("note")), hints)
    null, _ = read_both(variant(put("note", lambda i: None)), hints)
    assert "note" not in absent.frame.columns and null.frame["note"].isna().all()
    gone, _ = read_both(variant(drop("alternative")), hints)
    assert not any(c.startswith("alternative") for c in gone.frame.columns)
    assert hints.fitted == 3


def test_a_currency_absent_is_filled_with_the_default_and_a_null_one_is_not():
    rows = [{"id": i, "currency": "EUR", "created_at": "2025-01-02T03:04:05Z"} for i in (1, 2)]
    hints = taught(rows, default_currency="USD")
    absent = body_of([{"id": i, "created_at": "2025-01-02T03:04:05Z"} for i in (3, 4)])
    null = body_of([{"id": i, "currency": None, "created_at": "2025-01-02T03:04:05Z"} for i in (5, 6)])
    filled, _ = read_both(absent, hints, default_currency="USD")
    left, _ = read_both(null, hints, default_currency="USD")
    assert filled.frame["currency"].tolist() == ["USD", "USD"] and left.frame["currency"].isna().all()
    assert hints.fitted == 2


def test_a_key_written_with_an_escape_is_not_taken_for_absent():
    """``"\\u006eote": null`` is the field ``note``: the body cannot be searched for it, so the page is read alone."""
    rows = teaching_rows()
    for row in rows:
        row.pop("note")
    body = body_of(rows).replace(b'"risk_score"', b'"note":null,"risk_score"', 1).replace(b'"note"', b'"\\u006eote"')
    hints = taught()
    got, _ = read_both(body, hints)
    assert "note" in got.frame.columns and (hints.fitted, hints.unfitted) == (0, 1)


def test_the_envelope_leaves_out_what_is_null_on_both_ways():
    hints = taught()
    body = body_of(teaching_rows(), first_object_id=None, last_object_id=9)
    got, alone = read_both(body, hints)
    assert got.meta == alone.meta == {"count": 2, "has_more": False, "last_object_id": 9}


def test_pages_that_keep_not_fitting_stop_the_learned_schema():
    hints = taught()
    for k in range(5):
        read_both(variant(put(f"extra{k}", lambda i: "x")), hints)
    assert hints.page_schema is None and (hints.fitted, hints.unfitted) == (0, 5)
    read_both(variant(lambda i, row: None), hints)
    read_both(variant(put("extra9", lambda i: "x")), hints)
    assert hints.unfitted == 5  # no longer tried
    assert hints._learned is None  # nor learned again, page after page, for nothing


def test_pages_only_the_reference_path_reads_are_not_held_against_the_learned_schema():
    """Rows already received, or none at all, send a page the reference way whatever the schema."""
    hints = taught()
    rows = teaching_rows()
    for _ in range(6):
        read_page(body_of(rows), TRANSACTIONS, records_key="transactions", hints=hints, skip_ids={rows[0]["id"]})
        read_page(body_of([]), TRANSACTIONS, records_key="transactions", hints=hints)
    assert (hints.fitted, hints.unfitted) == (0, 0) and hints.page_schema is not None


def test_a_learned_schema_widens_to_hold_the_pages_that_did_not_fit():
    hints = taught()
    read_both(variant(put("extra", lambda i: "x")), hints)  # does not fit: read alone, then learned
    read_both(variant(put("extra", lambda i: "y")), hints)
    read_both(variant(drop("extra")), hints)
    assert (hints.fitted, hints.unfitted) == (2, 1)


@pytest.fixture(scope="module")
def world_bodies() -> list[bytes]:
    rows = World.generate(seed=11, n_transactions=1200).transactions
    return [
        dumps({"transactions": rows[i : i + 100], "count": len(rows[i : i + 100]), "has_more": True})
        for i in range(0, len(rows), 100)
    ]


@pytest.mark.parametrize("pii", [False, True])
def test_a_pulls_pages_read_with_its_hints_make_the_frame_of_the_pages_read_alone(world_bodies, pii):
    hints = PageHints()
    pages = [
        read_columns(b, TRANSACTIONS, records_key="transactions", hints=hints, include_pii=pii) for b in world_bodies
    ]
    alone = [read_columns(b, TRANSACTIONS, records_key="transactions", include_pii=pii) for b in world_bodies]
    assert hints.fitted >= len(world_bodies) - 3 and all(p.frame is None for p in pages)
    for page, other in zip(pages, alone, strict=True):
        assert page.columns.keys() == other.columns.keys() and page.meta == other.meta
        assert all(page.columns[k].equals(other.columns[k]) for k in page.columns)
    frame = pages_to_frame(pages, TRANSACTIONS, sort_by="id")
    pd.testing.assert_frame_equal(frame, pages_to_frame(alone, TRANSACTIONS, sort_by="id"))
    reference = [build_page(json.loads(b)["transactions"], TRANSACTIONS, include_pii=pii).frame for b in world_bodies]
    pd.testing.assert_frame_equal(frame, finish(reference, TRANSACTIONS, sort_by="id"))


def test_deep_bodies_read_against_a_learned_schema_never_crash_the_process():
    """20,000 levels crashed Arrow's reader; against a learned schema the scan is skipped, so Arrow must stop first."""
    script = """
import json
from pathlib import Path
from ledgerkit.errors import DataError
from ledgerkit._ingest.arrow_pages import PageHints, read_page
from ledgerkit._ingest.schema import TRANSACTIONS
rows = [{"id": 1, "currency": "EUR", "x": [1], "o": {"a": 1}, "n": None, "s": "t"}]
hints = PageHints()
read_page(json.dumps({"transactions": rows}).encode(), TRANSACTIONS, records_key="transactions", hints=hints)
assert hints.page_schema is not None
deep_a, deep_o = b"[" * 50000 + b"]" * 50000, b'{"a":' * 50000 + b"1" + b"}" * 50000
for field in (b"x", b"o", b"n", b"s", b"new"):
    for deep in (deep_a, deep_o):
        body = b'{"transactions": [{"id": 2, "currency": "EUR", "' + field + b'": ' + deep + b"}]}"
        try:
            read_page(body, TRANSACTIONS, records_key="transactions", hints=hints)
        except DataError as exc:
            print("DataError", str(exc)[:60])
print("tried", hints.fitted, hints.unfitted)
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("DataError") == 10, done.stdout
    assert "tried 0 " in done.stdout  # every one was tried against the learned schema first, and none fit
