"""The columnar page path gives exactly the reference frame (frames.build_page + finish)."""

from __future__ import annotations

import copy
import gc
import json
import threading
from pathlib import Path

import orjson
import pandas as pd
import pytest

from ledgerkit._ingest import arrow_pages
from ledgerkit._ingest.arrow_pages import PageHints, arrow_schema, gc_paused, pages_to_frame, read_columns, read_page
from ledgerkit._ingest.records import build_page, finish
from ledgerkit._ingest.schema import TRANSACTIONS
from ledgerkit.errors import DataError
from ledgerkit.sandbox import World
from ledgerkit.sandbox.server import dumps

SEED = json.loads((Path(__file__).resolve().parents[1] / "data" / "transactions_seed_page.json").read_text())


def reference(body: bytes, **kw) -> pd.DataFrame:
    return finish([build_page(json.loads(body)["transactions"], TRANSACTIONS, **kw).frame], TRANSACTIONS)


def check(body: bytes, *, fast: bool | None = True, **kw) -> pd.DataFrame:
    page = read_page(body, TRANSACTIONS, records_key="transactions", **kw)
    expected = build_page(json.loads(body)["transactions"], TRANSACTIONS, **kw)
    pd.testing.assert_frame_equal(finish([page.frame], TRANSACTIONS), finish([expected.frame], TRANSACTIONS))
    assert (page.rounded_values, page.pii_dropped) == (expected.rounded_values, expected.pii_dropped)
    if fast is not None:
        assert page.fast is fast
    return page.frame


def body_of(rows: list[dict], **meta) -> bytes:
    return orjson.dumps({"transactions": rows, "count": len(rows), "has_more": False, **meta})


@pytest.fixture(scope="module")
def world_pages() -> list[bytes]:
    world = World.generate(seed=5, n_transactions=900)
    rows = world.transactions
    pages = [
        dumps({"transactions": rows[i : i + 150], "count": len(rows[i : i + 150]), "has_more": True})
        for i in range(0, len(rows), 150)
    ]
    return pages


@pytest.mark.parametrize("pii", [False, True])
@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_seed_page(pii, zone):
    check(orjson.dumps(SEED), include_pii=pii, wall_zone=zone)


@pytest.mark.parametrize("pii", [False, True])
def test_sandbox_world_pages(world_pages, pii):
    currencies = set()
    for body in world_pages:
        frame = check(body, include_pii=pii)
        currencies |= set(frame["currency"].dropna())
    assert {"JPY", "KWD", "USD", "EUR"} <= currencies


def test_world_pages_in_a_wall_clock_zone(world_pages):
    check(world_pages[0], wall_zone="America/New_York")


def test_unknown_fields_nested_and_flat_are_kept():
    rows = copy.deepcopy(SEED["transactions"])
    rows[0]["alternative"] = {"method": "ideal", "account_country": "NL"}
    rows[1]["alternative"] = {"method": "sofort", "account_country": None}
    rows[0]["risk_score"], rows[1]["risk_score"] = 12, 7
    rows[0]["labels"], rows[1]["labels"] = ["a"], []
    frame = check(body_of(rows))
    assert frame["alternative.method"].tolist() == ["ideal", "sofort"]
    assert frame["risk_score"].tolist() == [12, 7]


def test_nulls_everywhere_and_jpy_kwd_amounts():
    rows = copy.deepcopy(SEED["transactions"])
    for row, currency, amount, fee in ((rows[0], "JPY", 1500, 45.0), (rows[1], "KWD", 1234, 37.0)):
        row.update(currency=currency, amount=amount, transaction_fee=fee, pay_to_merchant=amount - fee)
    rows[1].update(discount_rate=None, test=None, order_id=None, created_at=None, paid_at="2025-01-02T03:04:05Z")
    rows[1]["credit_card"] = dict.fromkeys(rows[1]["credit_card"])
    frame = check(body_of(rows))
    assert frame["transaction_fee"].tolist() == [45, 37]
    assert frame["created_at"].isna().tolist() == [False, True]


def test_values_arrow_cannot_type_go_the_reference_way():
    rows = copy.deepcopy(SEED["transactions"])
    rows[0]["order_id"], rows[1]["order_id"] = "A-17", 27725  # text and number in one column
    check(body_of(rows), fast=False)
    rows = copy.deepcopy(SEED["transactions"])
    rows[0]["customer"] = None  # a nested object given as null
    check(body_of(rows), fast=False)
    rows = copy.deepcopy(SEED["transactions"])
    rows[0]["transaction_fee"] = 29.5  # a fraction of a minor unit is counted
    assert read_page(body_of(rows), TRANSACTIONS, records_key="transactions").rounded_values == 1


def test_repeated_ids_are_skipped_like_the_loader_does():
    rows = copy.deepcopy(SEED["transactions"])
    page = read_page(body_of(rows), TRANSACTIONS, records_key="transactions", skip_ids={rows[0]["id"]})
    assert page.frame["id"].tolist() == [rows[1]["id"]] and page.records == 2
    page = read_page(body_of([rows[0], rows[0], rows[1]]), TRANSACTIONS, records_key="transactions")
    assert page.frame["id"].tolist() == [rows[0]["id"], rows[1]["id"]] and page.records == 3


def test_empty_page_and_envelope():
    page = read_page(body_of([], first_object_id=None), TRANSACTIONS, records_key="transactions")
    assert len(page.frame) == 0 and page.meta["count"] == 0 and "id" in page.frame.columns
    with pytest.raises(DataError):
        read_page(b'{"transactions": [1, 2', TRANSACTIONS, records_key="transactions")
    with pytest.raises(DataError):
        read_page(b'{"count": 0}', TRANSACTIONS, records_key="transactions")


def test_gc_is_paused_while_reading_and_restored():
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_gc_is_left_as_it_was_found_when_a_read_raises():
    for before in (True, False):
        (gc.enable if before else gc.disable)()
        try:
            with pytest.raises(DataError):
                read_page(b'{"count": 0}', TRANSACTIONS, records_key="transactions")
            with pytest.raises(DataError):
                read_columns(
                    body_of([{"id": -1, "amount": 5, "currency": "EUR"}]), TRANSACTIONS, records_key="transactions"
                )
            assert gc.isenabled() is before
        finally:
            gc.enable()


def test_concurrent_pauses_in_threads_do_not_switch_the_gc_back_on_under_each_other():
    inside, first_left, seen = threading.Barrier(2), threading.Event(), {}

    def first():
        with gc_paused():
            inside.wait()
        first_left.set()

    def second():
        with gc_paused():
            inside.wait()
            first_left.wait(10)
            seen["after the first left"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after the first left": False} and gc.isenabled()


def test_the_gc_pause_can_be_turned_off(monkeypatch):
    with gc_paused(False):
        assert gc.isenabled()
    monkeypatch.setenv("LEDGERKIT_GC_PAUSE", "0")
    with gc_paused():
        assert gc.isenabled()
    with gc_paused(True):  # an explicit wish wins over the environment
        assert not gc.isenabled()
    assert gc.isenabled()


def test_text_read_as_time_is_remembered_by_the_pull_that_read_it_only():
    row = {"id": 1, "amount": 5, "currency": "EUR", "billing_address": {"birth_date": "1990-01-31"}}
    mine, other = PageHints(), PageHints()
    page = read_page(body_of([row]), TRANSACTIONS, records_key="transactions", hints=mine, include_pii=True)
    assert page.frame["billing_address.birth_date"].tolist() == ["1990-01-31"]  # text, not a time
    assert mine.text_columns == {"billing_address.birth_date"} and other.text_columns == frozenset()
    read_page(body_of([{**row, "id": 2}]), TRANSACTIONS, records_key="transactions", hints=other, include_pii=True)
    assert other.text_columns == {"billing_address.birth_date"}  # learnt again: nothing carried over
    names = str(arrow_schema(TRANSACTIONS, "transactions"))
    assert "birth_date" not in names  # a read without the pull's hints is as the first read of a pull


def world_reference(bodies: list[bytes], **kw) -> pd.DataFrame:
    frames = [build_page(json.loads(b)["transactions"], TRANSACTIONS, **kw).frame for b in bodies]
    return finish(frames, TRANSACTIONS, sort_by="id")


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("consume", [False, True])
def test_pages_to_frame_sorts_in_arrow_and_equals_the_reference(world_pages, consume, threaded, wide, monkeypatch):
    if threaded:  # a frame of many rows is built on every core: the same frame, column for column
        monkeypatch.setattr(arrow_pages, "_THREADED_ROWS", 0)
        monkeypatch.setattr(arrow_pages, "usable_cores", lambda: 3)
    if wide:  # text that could pass 2 GiB once joined is widened to large_string before it is put in order
        monkeypatch.setattr(arrow_pages, "_SMALL_TEXT", 0)
    bodies = world_pages[::-1]  # ids descending across pages: the sort has work to do
    pages = [read_columns(b, TRANSACTIONS, records_key="transactions") for b in bodies]
    assert all(p.frame is None for p in pages)
    frame = pages_to_frame(pages, TRANSACTIONS, sort_by="id", consume=consume)
    pd.testing.assert_frame_equal(frame, world_reference(bodies))
    assert frame["id"].is_monotonic_increasing
    assert all(bool(p.columns) is not consume for p in pages)  # consumed pages are let go


def test_pages_to_frame_mixing_reference_pages_equals_the_reference(world_pages):
    rows = copy.deepcopy(SEED["transactions"])
    rows[0]["order_id"], rows[1]["order_id"] = "A-17", 27725  # this page takes the reference path
    rows[0]["id"], rows[1]["id"] = 1, 10**12
    bodies = [world_pages[2], body_of(rows), world_pages[0], world_pages[1]]
    pages = [read_columns(b, TRANSACTIONS, records_key="transactions") for b in bodies]
    assert [p.frame is None for p in pages] == [True, False, True, True]
    frame = pages_to_frame(pages, TRANSACTIONS, sort_by="id", consume=True)
    pd.testing.assert_frame_equal(frame, world_reference(bodies))
    assert frame["id"].iloc[[0, -1]].tolist() == [1, 10**12]


def test_categories_missing_from_a_page_or_null_convert_as_the_reference():
    """A category column absent from one page, null in others, typed alike on the rest: one categorical."""

    def row(i: int, **kw) -> dict:
        return {"id": i, "amount": 10 * i, "currency": "EUR", "created_at": "2025-01-02T03:04:05Z", **kw}

    bodies = [
        body_of([row(1, status="successful"), row(2, status=None)]),
        body_of([row(3), row(4)]),
        body_of([row(5, status="failed"), row(6, status="successful")]),
        body_of([row(7, status=None)]),
    ]
    pages = [read_columns(b, TRANSACTIONS, records_key="transactions") for b in bodies]
    assert all(p.frame is None for p in pages)
    frame = pages_to_frame(pages, TRANSACTIONS, sort_by="id", consume=True)
    pd.testing.assert_frame_equal(frame, world_reference(bodies))
    assert frame["status"].cat.categories.tolist() == ["failed", "successful"]
    assert frame["status"].isna().tolist() == [False, True, True, True, False, False, True]


@pytest.mark.parametrize("distinct", [126, 127, 300])
def test_categories_past_what_int8_codes_hold_convert_as_the_reference(distinct):
    """Codes are built in the dtype pandas keeps them in: 127 categories and more need int16."""
    rows = [
        {"id": 2 * distinct - i, "currency": "EUR", "status": None if i % 7 == 0 else f"s{i % distinct:03d}"}
        for i in range(2 * distinct)
    ]
    bodies = [body_of(rows[i : i + 50]) for i in range(0, len(rows), 50)]
    pages = [read_columns(b, TRANSACTIONS, records_key="transactions") for b in bodies]
    assert all(p.frame is None for p in pages)
    frame = pages_to_frame(pages, TRANSACTIONS, sort_by="id", consume=True)
    pd.testing.assert_frame_equal(frame, world_reference(bodies))
    assert frame["status"].cat.categories.tolist() == sorted({r["status"] for r in rows if r["status"]})
