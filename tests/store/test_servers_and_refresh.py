"""The store's robustness: one server's rows never mix with another's, corrections are caught,
manifests have a plain load's keys, and DWH reports are reused only when complete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import ServerError
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store, server_of

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002, sleep=lambda s: None)
PERIOD = ("2025-01-01", "2025-04-01")
SMALL = dict(size=200, page_size=20, per_page_default=10, per_page_max=100, report_seconds=0.05)


def load_tx(sb, **kw):
    return load_transactions(*PERIOD, progress=False, max_workers=1, **sb.kwargs("transactions"), **kw)


def load_st(sb, **kw):
    return load_statements(since="2025-01-01", progress=False, max_workers=1, **sb.kwargs("statements"), **kw)


def load_dwh(sb, date_to="2025-02-01T00:00:00+00:00", **kw):
    return load_balance_records(
        "2025-01-01T00:00:00+00:00",
        date_to,
        currency="EUR",
        user_id=1,
        progress=False,
        poll_interval=(0.01, 0.05),
        **sb.kwargs("balance_records"),
        **kw,
    )


def replace_transaction(sb, tx_id: int, **changes) -> None:
    """Change one transaction of the world as the provider would, and make the sandbox see it.

    The world's dicts are shared read-only objects: the dict is replaced by a
    changed copy. The sandbox re-indexes its transactions when their number
    changes, so one payment is added to another shop.
    """
    with sb.world.lock:
        i = next(i for i, t in enumerate(sb.world.transactions) if t["id"] == tx_id)
        sb.world.transactions[i] = {**sb.world.transactions[i], **changes}
    other = next(s["id"] for s in sb.world.shops if s["id"] != int(sb.credentials["transactions"].user))
    sb.world.add_transactions(1, shop_id=other)


# ------------------------------------------------------------------ 1. one server, one set of rows


def test_server_of_reduces_spellings_of_one_url_and_keeps_paths_apart():
    assert (
        server_of("HTTP://127.0.0.1:80/gateway/")
        == server_of("http://127.0.0.1/gateway")
        == "http://127.0.0.1:80/gateway"
    )
    assert server_of("https://h/gateway") != server_of("https://h/gateway2") != server_of("http://h/gateway2")
    assert "secret" not in server_of("https://h/a?token=secret#x")


def test_two_sandboxes_with_the_same_ids_share_a_store_without_mixing_rows(tmp_path):
    with Sandbox(seed=0, **SMALL) as a, Sandbox(seed=5, **SMALL) as b:
        for source in ("transactions", "balance_records"):  # (the MakeCommerce shop id differs by seed)
            assert a.credentials[source].user == b.credentials[source].user  # same ids, different servers
        plain = {sb: (load_tx(sb), load_st(sb), load_dwh(sb)) for sb in (a, b)}
        assert not plain[a][0]["id"].equals(plain[b][0]["id"])
        for sb in (a, b, a, b):  # each load through the shared store equals its server's plain load
            tx, st, dwh = plain[sb]
            pd.testing.assert_frame_equal(load_tx(sb, store=tmp_path), tx)
            pd.testing.assert_frame_equal(load_st(sb, store=tmp_path), st)
            pd.testing.assert_frame_equal(load_dwh(sb, store=tmp_path).records, dwh.records)
        store = Store(tmp_path)
        for sb in (a, b):
            pd.testing.assert_frame_equal(store.read("transactions", base_url=sb.transactions_url), plain[sb][0])
        servers = {s["key"]["server"] for s in store.manifest()}
        assert servers == {server_of(u) for sb in (a, b) for u in (sb.transactions_url, sb.statements_url, sb.dwh_url)}


# ------------------------------------------------------------------ 3. corrections


def test_a_row_changed_inside_the_lookback_stretch_is_replaced(fresh_sandbox, tmp_path):
    load_tx(fresh_sandbox, store=tmp_path)
    shop = int(fresh_sandbox.credentials["transactions"].user)
    late = max(
        (
            t
            for t in fresh_sandbox.world.transactions
            if t["shop"]["id"] == shop and t["created_at"] < datetime(2025, 4, 1, tzinfo=UTC)
        ),
        key=lambda t: t["created_at"],
    )
    assert late["created_at"] >= datetime(2025, 3, 29, tzinfo=UTC)  # inside the 3-day stretch
    replace_transaction(fresh_sandbox, late["id"], status="failed", message="changed")
    again = load_tx(fresh_sandbox, store=tmp_path)
    pd.testing.assert_frame_equal(again, load_tx(fresh_sandbox))
    row = again.loc[again["id"] == late["id"]].iloc[0]
    assert (row["status"], row["message"]) == ("failed", "changed")


def test_an_old_row_corrected_lately_is_replaced(fresh_sandbox, tmp_path):
    first = load_tx(fresh_sandbox, store=tmp_path)
    old = first.loc[first["created_at"] < pd.Timestamp("2025-01-15", tz="UTC")].iloc[0]
    corrected_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    replace_transaction(
        fresh_sandbox, int(old["id"]), amount=int(old["amount"]) + 1, manually_corrected_at=corrected_at
    )
    fresh_sandbox.clear_requests()
    again = load_tx(fresh_sandbox, store=tmp_path)
    pd.testing.assert_frame_equal(again, load_tx(fresh_sandbox))
    row = again.loc[again["id"] == old["id"]].iloc[0]
    assert row["amount"] == old["amount"] + 1 and row["manually_corrected_at"] == pd.Timestamp(corrected_at)
    asked = [r.json["report_params"] for r in fresh_sandbox.requests if r.json]
    corrections = [p for p in asked if "manual_correction_from" in p]
    assert {p["payment_method_type"] for p in corrections} == {
        "credit_card",
        "alternative",
    }  # erip, refused, has no coverage to correct
    assert all(p["from"] == "2025-01-01 00:00:00" for p in corrections)  # the whole covered period


# ------------------------------------------------------------------ 7. manifests


def test_store_manifests_have_the_keys_of_a_plain_load(fresh_sandbox, tmp_path):
    fresh_sandbox.set_faults(rate_limit_every=4, retry_after=0)

    def load_offered(sb, **kw):  # the methods this sandbox offers, named: every request is a page or a retry
        return load_tx(sb, payment_method_type=("credit_card", "alternative"), **kw)

    for load in (load_offered, load_st):
        plain = load(fresh_sandbox, retry=FAST).attrs["ledgerkit"]
        for attempt in ("first", "again"):
            fresh_sandbox.clear_requests()
            stored = load(fresh_sandbox, store=tmp_path, retry=FAST).attrs["ledgerkit"]
            assert set(plain) <= set(stored), (load.__name__, attempt, set(plain) - set(stored))
            assert stored["rows"] == plain["rows"] and stored["complete"] is True
            assert stored["first_cursor"] == plain["first_cursor"] and stored["last_cursor"] == plain["last_cursor"]
            # summed over every pull of the stored load: what the server saw
            assert stored["requests"] == len(fresh_sandbox.requests) == stored["pages"] + stored["retries"]
            assert stored["retry_reasons"] == {"429": stored["retries"]} and stored["retries"] > 0
            if attempt == "first":  # the same pages as the plain load
                assert (stored["pages"], stored["duplicates_dropped"], stored["rounded_values"]) == (
                    plain["pages"],
                    plain["duplicates_dropped"],
                    plain["rounded_values"],
                )


# ------------------------------------------------------------------ 6 and 8. DWH reports through the store


def test_a_stored_report_is_reused_only_if_generated_after_its_period(fresh_sandbox, tmp_path):
    future = "2030-01-01T00:00:00+00:00"  # generated now: the period is not over yet
    first = load_dwh(fresh_sandbox, date_to=future, store=tmp_path)
    fresh_sandbox.clear_requests()
    again = load_dwh(fresh_sandbox, date_to=future, store=tmp_path)
    assert [r.method for r in fresh_sandbox.requests if r.path.endswith("/reports")] == ["POST"]
    assert again.report_id != first.report_id and "from_store" not in again.manifest
    done = load_dwh(fresh_sandbox, store=tmp_path)
    fresh_sandbox.clear_requests()
    assert load_dwh(fresh_sandbox, store=tmp_path).report_id == done.report_id and fresh_sandbox.requests == []


def test_a_report_id_is_stored_on_creation_and_picked_up_after_a_failure(fresh_sandbox, tmp_path):
    fresh_sandbox.set_faults(error_every=1, error_burst=50)  # the POST passes, every poll fails
    with pytest.raises(ServerError) as info:
        load_dwh(fresh_sandbox, store=tmp_path, retry=FAST)
    err = info.value
    (_post,) = [r for r in fresh_sandbox.requests if r.method == "POST"]
    created = fresh_sandbox.requests[1].path.rsplit("/", 1)[-1]
    assert err.report_id == created and err.resume["report_id"] == created and created in str(err)
    (state,) = Store(tmp_path).manifest("balance_records")
    assert state["pending_report_id"] == created
    fresh_sandbox.clear_faults()
    fresh_sandbox.clear_requests()
    report = load_dwh(fresh_sandbox, store=tmp_path)  # the same call again: picks the report up
    assert report.report_id == created
    assert [r.method for r in fresh_sandbox.requests if "/files/" not in r.path] == ["GET"] * len(
        [r for r in fresh_sandbox.requests if "/files/" not in r.path]
    )
    (state,) = Store(tmp_path).manifest("balance_records")
    assert state["report_id"] == created and "pending_report_id" not in state
