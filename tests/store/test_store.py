"""The local store: same frames as without it, fewer requests, resumable, lookback, no secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import platformdirs
import pytest

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import ConfigurationError, ServerError, StoreError
from ledgerkit.store import Store, as_store
from ledgerkit.store.directory import lookback_of
from ledgerkit.store.files import atomic_write

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002)
PERIOD = ("2025-01-01", "2025-04-01")


OFFERED = ("credit_card", "alternative")  # the methods this sandbox offers (erip, refused, is asked anew each load)


def load_tx(sb, **kw):
    return load_transactions(
        *PERIOD, progress=False, **{"payment_method_type": OFFERED, **sb.kwargs("transactions"), **kw}
    )


def load_st(sb, **kw):
    return load_statements(since="2025-01-01", progress=False, **sb.kwargs("statements"), **kw)


def server_tx_ids(sb) -> list[int]:
    shop = sb.world.shops[0]["id"]
    lo, hi = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    return sorted(
        t["id"] for t in sb.world.transactions if t["shop"]["id"] == shop and lo <= pd.Timestamp(t["created_at"]) < hi
    )


def server_dir(root: Path, source: str, account: str) -> Path:
    (directory,) = (root / source / account).glob("server-*")
    return directory


def store_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


# ------------------------------------------------------------------ round trips


def test_transactions_through_the_store_equal_a_plain_load(fresh_sandbox, tmp_path):
    plain = load_tx(fresh_sandbox, payment_method_type=None)
    fresh_sandbox.clear_requests()
    first = load_tx(fresh_sandbox, store=tmp_path, payment_method_type=None)
    pd.testing.assert_frame_equal(first, plain)
    assert first["id"].tolist() == server_tx_ids(fresh_sandbox)
    refused = sum(r.status == 422 for r in fresh_sandbox.requests)  # erip, not offered here: once per window
    assert first.attrs["ledgerkit"]["pages"] + refused == first.attrs["ledgerkit"]["requests"] > 2
    assert first.attrs["ledgerkit"]["dialect"]["methods_refused"] == ["erip"]
    # the second load re-reads the lookback stretch (last 3 days) and the rows corrected since the last
    # refresh: one request each per offered method, and erip, refused before, is asked once
    fresh_sandbox.clear_requests()
    again = load_tx(fresh_sandbox, store=tmp_path, payment_method_type=None)
    assert again.attrs["ledgerkit"]["requests"] == len(fresh_sandbox.requests) == 5
    pd.testing.assert_frame_equal(again, plain)
    assert again.attrs["ledgerkit"]["stored_rows"] > 0
    assert "secret" not in json.dumps(again.attrs["ledgerkit"]).lower()


def test_statements_through_the_store_equal_a_plain_load(fresh_sandbox, tmp_path):
    plain = load_st(fresh_sandbox)
    first = load_st(fresh_sandbox, store=tmp_path)
    again = load_st(fresh_sandbox, store=tmp_path)
    pd.testing.assert_frame_equal(first, plain)
    pd.testing.assert_frame_equal(again, plain)
    assert len(plain) == plain.attrs["ledgerkit"]["total"] == again.attrs["ledgerkit"]["total"]
    assert again.attrs["ledgerkit"]["requests"] < first.attrs["ledgerkit"]["requests"] / 5


def test_a_sub_period_is_read_from_the_store_and_a_wider_one_pulls_only_the_rest(fresh_sandbox, tmp_path):
    full = load_tx(fresh_sandbox)
    jan = load_transactions(
        "2025-01-01",
        "2025-02-01",
        progress=False,
        store=tmp_path,
        payment_method_type=OFFERED,
        lookback=pd.Timedelta(0),
        **fresh_sandbox.kwargs("transactions"),
    )
    assert jan["id"].tolist() == full.loc[full["created_at"] < pd.Timestamp("2025-02-01", tz="UTC"), "id"].tolist()
    fresh_sandbox.clear_requests()
    wider = load_tx(fresh_sandbox, store=tmp_path, lookback=pd.Timedelta(0))
    pd.testing.assert_frame_equal(wider, full)
    sent = [r.json["report_params"] for r in fresh_sandbox.requests]
    assert {p["from"] for p in sent if "manual_correction_from" not in p} == {"2025-02-01 00:00:00"}  # only [Feb, Apr)
    assert {(p["from"], p["to"]) for p in sent if "manual_correction_from" in p} == {
        ("2025-01-01 00:00:00", "2025-01-31 23:59:59")
    }  # and January's corrections since the last refresh


def test_lookback_catches_rows_that_arrived_late_inside_the_stretch(fresh_sandbox, tmp_path):
    first = load_tx(fresh_sandbox, store=tmp_path)
    late = fresh_sandbox.world.add_transactions(
        2,
        within=(datetime(2025, 3, 30, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC)),
        payment_method_type="credit_card",
    )
    again = load_tx(fresh_sandbox, store=tmp_path)
    assert again["id"].tolist() == sorted(first["id"].tolist() + [t["id"] for t in late])
    assert again["id"].tolist() == server_tx_ids(fresh_sandbox)
    assert not again["id"].duplicated().any()


def test_rows_arriving_before_the_stretch_wait_for_a_longer_lookback(fresh_sandbox, tmp_path):
    first = load_tx(fresh_sandbox, store=tmp_path)
    late = fresh_sandbox.world.add_transactions(
        1, within=(datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 1, 11, tzinfo=UTC))
    )
    assert len(load_tx(fresh_sandbox, store=tmp_path)) == len(first)
    caught = load_tx(fresh_sandbox, store=tmp_path, lookback=pd.Timedelta(days=120))
    assert late[0]["id"] in set(caught["id"]) and len(caught) == len(first) + 1


def test_statements_lookback_re_reads_only_the_tail_and_sees_appended_rows(fresh_sandbox, tmp_path):
    first = load_st(fresh_sandbox, store=tmp_path)
    fresh_sandbox.world.append_statements(7)
    again = load_st(fresh_sandbox, store=tmp_path)
    plain = load_st(fresh_sandbox)
    assert len(again) == len(first) + 7
    pd.testing.assert_frame_equal(again, plain)
    assert again.attrs["ledgerkit"]["pages"] <= 3


def test_balance_report_is_read_from_the_store_the_second_time(fresh_sandbox, tmp_path):
    kw = dict(currency="EUR", user_id=1, progress=False, store=tmp_path, **fresh_sandbox.kwargs("balance_records"))
    first = load_balance_records("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00", **kw)
    fresh_sandbox.clear_requests()
    again = load_balance_records("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00", **kw)
    assert fresh_sandbox.requests == []
    assert again.report_id == first.report_id and again.manifest["from_store"] is True
    pd.testing.assert_frame_equal(again.records, first.records)
    pd.testing.assert_frame_equal(again.opening_balance, first.opening_balance)
    assert (server_dir(tmp_path, "balance_records", "1") / "reports" / f"{first.report_id}.zip").is_file()


# ------------------------------------------------------------------ failures and resuming


def test_a_failed_pull_resumes_from_its_last_stored_page(fresh_sandbox, tmp_path):
    full = load_tx(fresh_sandbox)
    fresh_sandbox.set_faults(error_every=2, error_burst=3)
    with pytest.raises(ServerError):
        load_tx(fresh_sandbox, store=tmp_path, retry=FAST)
    stored = Store(tmp_path).read("transactions")
    assert 0 < len(stored) < len(full)
    (windows,) = [s["pending"] for s in Store(tmp_path).manifest("transactions") if s.get("pending")]
    cards = stored[stored["payment_method_type"] == "credit_card"]
    for window in windows:  # each window's cursor is the last id stored of it (None: none stored yet)
        inside = cards[
            (cards["created_at"] >= pd.Timestamp(window["from"])) & (cards["created_at"] < pd.Timestamp(window["to"]))
        ]
        assert window["cursor"] == (int(inside["id"].max()) if len(inside) else None)
    fresh_sandbox.clear_faults()
    fresh_sandbox.clear_requests()
    resumed = load_tx(fresh_sandbox, store=tmp_path, retry=FAST)
    pd.testing.assert_frame_equal(resumed, full)
    first_asks = {}
    for r in fresh_sandbox.requests:
        p = r.json["report_params"]
        first_asks.setdefault((p["payment_method_type"], p["from"]), p.get("starting_after"))
    for window in windows:  # every window started where its stored pages end
        start = pd.Timestamp(window["from"]).strftime("%Y-%m-%d %H:%M:%S")
        assert first_asks[("credit_card", start)] == window["cursor"]


def test_a_failed_statements_pull_resumes_at_the_next_page(fresh_sandbox, tmp_path):
    full = load_st(fresh_sandbox)
    # every request after the 4th fails until cleared: the pull fails whichever pages the workers had in flight
    fresh_sandbox.set_faults(error_every=5, error_burst=50)
    with pytest.raises(ServerError):
        load_st(fresh_sandbox, store=tmp_path, retry=FAST)
    state = Store(tmp_path).manifest("statements")[0]
    assert state["complete"] is False and state["next_page"] > 1
    fresh_sandbox.clear_faults()
    fresh_sandbox.clear_requests()
    resumed = load_st(fresh_sandbox, store=tmp_path)
    pd.testing.assert_frame_equal(resumed, full)
    assert fresh_sandbox.requests[0].query["page"] == str(state["next_page"])


def test_unlisted_parts_and_temporary_files_are_ignored_then_swept(fresh_sandbox, tmp_path):
    full = load_tx(fresh_sandbox, store=tmp_path)
    stream = Store(tmp_path).manifest("transactions")[0]["stream"]
    account = server_dir(tmp_path, "transactions", fresh_sandbox.credentials["transactions"].user)
    orphan = account / "month=2025-01" / f"{stream}-999999.parquet"
    orphan.write_bytes(b"half a parquet file")
    temp = account / "month=2025-01" / f".{stream}-000007.parquet.abc.tmp"
    temp.write_bytes(b"junk")
    state_temp = account / "_streams" / f".{stream}.json.abc.tmp"
    state_temp.write_bytes(b"{")
    other = account / "month=2025-01" / ".0123456789abcdef-000001.parquet.abc.tmp"  # another writer's, maybe live
    other.write_bytes(b"being written")
    assert Store(tmp_path).read("transactions")["id"].tolist() == full["id"].tolist()
    load_tx(fresh_sandbox, store=tmp_path)
    assert not orphan.exists() and not temp.exists() and not state_temp.exists()
    assert other.read_bytes() == b"being written"


def test_a_corrupted_state_is_a_store_error(fresh_sandbox, tmp_path):
    load_tx(fresh_sandbox, store=tmp_path)
    state = next((tmp_path / "transactions").rglob("_streams/*.json"))
    state.write_text("{not json")
    with pytest.raises(StoreError, match=r"Store\(.*\)\.clear\(.transactions., account="):
        Store(tmp_path).read("transactions")


# ------------------------------------------------------------------ the Store API


def test_store_api_read_filter_manifest_clear_and_repr(fresh_sandbox, tmp_path):
    store = Store(tmp_path)
    tx = load_tx(fresh_sandbox, store=store)
    st = load_st(fresh_sandbox, store=store)
    assert repr(store) == f"Store(path={str(tmp_path)!r})"
    jan = store.read("transactions", start="2025-01-01", end="2025-02-01")
    assert jan["id"].tolist() == tx.loc[tx["created_at"] < pd.Timestamp("2025-02-01", tz="UTC"), "id"].tolist()
    assert (
        store.read("statements", account=fresh_sandbox.credentials["statements"].user)["row_id"].tolist()
        == st["row_id"].tolist()
    )
    states = store.manifest()
    assert {s["key"]["source"] for s in states} == {"transactions", "statements"}
    assert all(s["complete"] for s in states if s["key"]["source"] == "statements")
    months = {p.parent.name for p in (tmp_path / "transactions").rglob("*.parquet")}
    assert months == {"month=2025-01", "month=2025-02", "month=2025-03"}
    store.clear("transactions")
    assert store.read("transactions").empty and len(store.read("statements")) == len(st)
    store.clear()
    assert store.manifest() == []


def test_default_store_location_and_the_store_argument():
    assert Store().path == Path(platformdirs.user_cache_dir("ledgerkit"))
    assert as_store(True) == Store() and as_store(None) is None and as_store(False) is None
    with pytest.raises(ConfigurationError, match="store"):
        as_store(42)
    with pytest.raises(ConfigurationError, match="lookback"):
        lookback_of(-pd.Timedelta(days=1))
    assert lookback_of("2D") == pd.Timedelta(days=2)


def test_atomic_write_replaces_whole_files(tmp_path):
    target = tmp_path / "deep" / "state.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_the_store_holds_no_credential(fresh_sandbox, tmp_path):
    load_tx(fresh_sandbox, store=tmp_path, include_pii=True)
    load_st(fresh_sandbox, store=tmp_path)
    load_balance_records(
        "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        currency="EUR",
        user_id=1,
        progress=False,
        store=tmp_path,
        **fresh_sandbox.kwargs("balance_records"),
    )
    data = store_bytes(tmp_path)
    assert len(data) > 10_000
    for creds in fresh_sandbox.credentials.values():
        assert creds.secret.encode() not in data
