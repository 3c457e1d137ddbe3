"""A store on an object store (``s3://``, here moto's S3 server on 127.0.0.1): the local store's contract.

One writer per stream (leases), frames whole, nothing lost or doubled with
several threads or processes, kills harmless (a killed writer's lease runs
out), a stale writer refused by the state's ETag, readers without a lock,
and a clear that waits -- each against the same loads into a local store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pandas as pd
import pytest

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit.errors import ConfigurationError, StoreError
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store
from ledgerkit.store.leases import LEASE_ENV, Lease
from ledgerkit.store.roots import ObjectRoot

from . import _writers
from .test_concurrency import plain_kwargs, world_ids

JAN = ("2025-01-01", "2025-02-01")
PERIOD = ("2025-01-01", "2025-04-01")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(seed=3, size=200, page_size=10, per_page_default=10, per_page_max=100) as sb:
        yield sb


def load_tx(sb, period=PERIOD, **kw) -> pd.DataFrame:
    return load_transactions(*period, progress=False, **sb.kwargs("transactions"), **kw)


def load_st(sb, **kw) -> pd.DataFrame:
    return load_statements(since=PERIOD[0], progress=False, **sb.kwargs("statements"), **kw)


def asked(sb) -> list[tuple[str, str]]:
    """The requests the sandbox answered, as (path, sorted query) pairs."""
    return [(r.path, json.dumps(r.query, sort_keys=True)) for r in sb.requests]


def stray_parts(store: Store) -> set[str]:
    """Parquet objects of the store that no state lists."""
    root = store._root
    listed = {f"{s['directory']}/{p}" for s in store.manifest() for p in s["parts"]}
    return {root.location(k) for k in root.glob("*/*/server-*/month=*/*.parquet")} - listed


# ------------------------------------------------------------------ one writer


def test_pull_twice_gives_the_pull_s_frame_and_asks_the_same_as_a_local_store(sandbox, tmp_path, s3):
    full = load_tx(sandbox)
    runs = {}
    for name, root in (("local", str(tmp_path / "local")), ("s3", s3)):
        sandbox.clear_requests()
        first = load_tx(sandbox, store=root)
        requests = asked(sandbox)
        sandbox.clear_requests()
        again = load_tx(sandbox, store=root)
        runs[name] = (first, again, requests, asked(sandbox))
        pd.testing.assert_frame_equal(first, full)
        pd.testing.assert_frame_equal(again, full)
        assert again.attrs["ledgerkit"]["stored_rows"] > 0
        assert len(asked(sandbox)) < len(requests)  # the second asks for the lookback only
    assert runs["s3"][2:] == runs["local"][2:]  # the same requests, first and second time
    assert runs["s3"][1].attrs["ledgerkit"]["store"] == s3


def test_read_manifest_and_dask_equal_the_local_store_s(sandbox, tmp_path, s3):
    local, remote = Store(tmp_path / "local"), Store(s3)
    for store in (local, remote):
        load_tx(sandbox, ("2025-01-01", "2025-03-01"), store=store)
        load_st(sandbox, until="2025-03-01", store=store)
    for source in ("transactions", "statements"):
        pd.testing.assert_frame_equal(remote.read(source), local.read(source))
        window = {"start": "2025-02-01", "end": "2025-03-01"}
        pd.testing.assert_frame_equal(remote.read(source, **window), local.read(source, **window))

    def plain(states):  # the states without where they are, when they were pulled and how pages fell into parts
        dropped = ("directory", "refreshed_at", "planned_at", "parts", "seq")
        return sorted(({k: v for k, v in s.items() if k not in dropped} for s in states), key=lambda s: s["stream"])

    assert plain(remote.manifest()) == plain(local.manifest())
    assert stray_parts(remote) == set()
    assert all(s["directory"].startswith(f"{s3}/") for s in remote.manifest())
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="sync"):
        lazy = remote.dask("transactions").compute().sort_values("id", ignore_index=True)
        pd.testing.assert_frame_equal(lazy, local.read("transactions"), check_categorical=False)
        lines = remote.dask("statements").compute().reset_index(drop=True)
        pd.testing.assert_frame_equal(lines, local.read("statements"), check_categorical=False)


def test_a_store_object_travels_as_its_url(s3):
    import pickle

    store = Store(s3, timeout=5)
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store and copy.timeout == 5 and isinstance(copy._root, ObjectRoot)
    assert repr(store) == f"Store(path={s3!r})"


# ------------------------------------------------------------------ many writers


def test_threads_loading_one_stream_at_once_get_exact_frames_and_ask_no_more_than_in_turn(sandbox, tmp_path, s3):
    loads = 3
    sandbox.clear_requests()
    for _ in range(loads):
        load_tx(sandbox, JAN, store=tmp_path / "in-turn")
    in_turn = len(sandbox.requests)
    store, barrier = Store(s3), threading.Barrier(loads)

    def load(_: int) -> pd.DataFrame:
        barrier.wait(timeout=60)
        return load_tx(sandbox, JAN, store=store)

    sandbox.clear_requests()
    sandbox.set_faults(latency=0.01)
    try:
        with ThreadPoolExecutor(loads) as pool:
            frames = list(pool.map(load, range(loads)))
    finally:
        sandbox.clear_faults()
    for frame in frames:
        assert frame["id"].tolist() == world_ids(sandbox, *JAN) and frame.attrs["ledgerkit"]["complete"] is True
    assert len(sandbox.requests) <= in_turn
    assert store.read("transactions")["id"].tolist() == world_ids(sandbox, *JAN)
    assert stray_parts(store) == set()


def test_processes_loading_into_one_s3_store_at_once_lose_and_double_nothing(sandbox, s3):
    rounds = [  # (source, each writer's period)
        ("transactions", [("2025-01-01", "2025-01-20"), ("2025-01-10", "2025-02-01")]),  # overlapping
        ("statements", [JAN, JAN]),  # (one period of transactions for many writers: the threads' test)
    ]
    sandbox.set_faults(latency=0.01)
    try:
        with _writers.started(plain_kwargs(sandbox)) as queues:  # started now: with the AWS variables of the test
            for number, (source, periods) in enumerate(rounds):
                root = f"{s3}/round-{number}"
                for (tasks, _), period in zip(queues, periods, strict=True):
                    tasks.put((source, period, root))
                got = [results.get(timeout=120) for _, results in queues]
                if source == "transactions":
                    expected = [world_ids(sandbox, *period) for period in periods]
                    stored = Store(root).read(source)["id"].tolist()
                    assert stored == world_ids(sandbox, *JAN)
                    assert stray_parts(Store(root)) == set()  # (a statements refresh leaves its old parts to a sweep)
                else:
                    chain = load_statements(since=JAN[0], until=JAN[1], progress=False, **sandbox.kwargs(source))
                    expected = [chain["row_id"].tolist()] * 2
                    assert Store(root).read(source)["row_id"].tolist() == expected[0]
                assert got == [("ok", ids, True) for ids in expected], (source, periods)
    finally:
        sandbox.clear_faults()


CHILD = """
import sys
from ledgerkit import load_transactions
from ledgerkit.errors import LedgerkitError
try:
    load_transactions("2025-01-01", "2025-04-01", store=sys.argv[1], progress=False)
except LedgerkitError as exc:
    sys.stderr.write(f"{type(exc).__name__}: {exc}")
    sys.exit(3)
"""


@contextmanager
def writer_child(sb, root: str, parts: int) -> Iterator[subprocess.Popen]:
    """A child process loading transactions into ``root`` from a slowed sandbox, once it stored ``parts`` parts.

    Killed (and let go on first, if it was stopped) when the block ends.
    """
    sb.set_faults(latency=0.03)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, root],
        env={**os.environ, **sb.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_parts(child, Store(root), parts)
        yield child
    finally:
        sb.clear_faults()
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()
        child.stderr.close()


def wait_for_parts(child: subprocess.Popen, store: Store, parts: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if sum(len(s["parts"]) for s in store.manifest("transactions")) >= parts:
            return
        time.sleep(0.05)
    raise AssertionError(f"the child ended or stalled before {parts} parts: {child.stderr.read().decode()[-2000:]}")


def test_a_killed_writer_s_stream_is_taken_over_swept_and_resumed_whole(sandbox, s3, monkeypatch):
    monkeypatch.setenv(LEASE_ENV, "1")  # the child's leases too: a killed one runs out in a second
    full = load_tx(sandbox)
    store = Store(s3)
    with writer_child(sandbox, s3, 3) as child:
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    stored = store.read("transactions")
    assert stored["id"].is_unique and set(stored["id"]) <= set(full["id"])
    state = store.manifest("transactions")[0]
    leftover = f"{state['directory']}/month=2025-01/{state['stream']}-999999-0123456789ab.parquet"
    store._root.put_new(leftover.removeprefix(f"{s3}/"), b"half a part of a killed writer")
    assert leftover in stray_parts(store)
    resumed = load_tx(sandbox, store=store)
    pd.testing.assert_frame_equal(resumed, full)
    assert stray_parts(store) == set()
    pd.testing.assert_frame_equal(load_tx(sandbox, store=store), full)


def test_a_paused_writer_whose_lease_ran_out_cannot_save_over_the_one_that_took_over(sandbox, s3, monkeypatch):
    monkeypatch.setenv(LEASE_ENV, "1")
    full = load_tx(sandbox)
    store = Store(s3)
    with writer_child(sandbox, s3, 2) as child:
        os.kill(child.pid, signal.SIGSTOP)  # paused, not dead: it will wake up and try to go on
        sandbox.clear_faults()
        taken_over = load_tx(sandbox, store=store)
        os.kill(child.pid, signal.SIGCONT)
        assert child.wait(timeout=60) == 3
        said = child.stderr.read().decode()
    # its save fails on the state's ETag -- or, stopped inside a request to S3, that request was cut off
    assert said.startswith("StoreError: ") and (
        ("changed by another writer" in said and "Nothing was overwritten" in said) or "could not write s3://" in said
    ), said
    pd.testing.assert_frame_equal(taken_over, full)
    pd.testing.assert_frame_equal(store.read("transactions"), full)
    pd.testing.assert_frame_equal(load_tx(sandbox, store=store), full)
    assert stray_parts(store) == set()


def test_a_stale_state_version_is_a_store_error_and_overwrites_nothing(s3):
    store = Store(s3)

    def stream():
        return store.stream("statements", "shop", "http://127.0.0.1:1", {"filter": "x"})

    with stream() as first:
        first.state["seq"] = 1
        first.save()
    stale = stream()
    with stale:
        version, state = stale._version, dict(stale.state)
    with stream() as second:
        second.state["seq"] = 2
        second.save()
    stale._version, stale.state = version, {**state, "seq": 9}  # a writer that read before the second wrote
    with pytest.raises(StoreError, match=r"changed by another writer.*Nothing was overwritten: load again"):
        stale.save()
    assert [s["seq"] for s in store.manifest("statements")] == [2]
    store.clear()
    with pytest.raises(StoreError, match=r"changed by another writer"):  # cleared under it: not written back
        stale.save()
    assert store.manifest() == []


# ------------------------------------------------------------------ leases and clear


def test_a_busy_lease_times_out_with_the_stream_named_and_an_abandoned_one_is_taken_over(s3, monkeypatch):
    monkeypatch.setenv(LEASE_ENV, "2")  # renewed every 0.67 s: a waiter giving up after 0.5 s never takes it over
    root = Store(s3)._root
    waiting = Lease(root, "_locks/a.lock", timeout=0.5, what="the stream a")
    busy = r"the stream a is busy.*_locks/a\.lock.*within 0\.5 s.*timeout="
    with Lease(root, "_locks/a.lock", timeout=None, what="the stream a"), pytest.raises(StoreError, match=busy):
        waiting.__enter__()  # the holder renews its lease all along: never taken over
    root.put_new("_locks/b.lock", json.dumps({"owner": "dead", "held": True, "ttl": 0.3}).encode())
    with Lease(root, "_locks/b.lock", timeout=30, what="the stream b"):  # unrenewed: taken after its own 0.3 s
        assert json.loads(root.read("_locks/b.lock")[0])["owner"] != "dead"
    assert json.loads(root.read("_locks/b.lock")[0])["held"] is False  # let go by marking it free


# ------------------------------------------------------------------ what is refused


@pytest.mark.parametrize(
    "url, words",
    [
        ("s3://", r"names no bucket"),
        ("s3:///prefix", r"names no bucket"),
        ("s3://Bad_Bucket/x", r"bucket name of 3-63 lower-case"),
        ("s3://bucket/a/../b", r"without '\.' or '\.\.'"),
        ("s3://bucket/x?versionId=1", r"without a query"),
        ("gs://bucket/x", r"wired for S3 only"),
        ("az://container/x", r"wired for S3 only"),
    ],
)
def test_bad_object_store_urls_are_refused_before_any_request(sandbox, url, words):
    sandbox.clear_requests()
    with pytest.raises(ConfigurationError, match=rf"^store=.*{words}"):
        load_tx(sandbox, JAN, store=url)
    with pytest.raises(ConfigurationError, match=rf"^path=.*{words}"):
        Store(url)
    assert sandbox.requests == []


def test_credentials_in_the_url_are_refused_without_being_shown(sandbox):
    sandbox.clear_requests()
    for url in ("s3://AKIAEXAMPLE:wJalrXUtnFEMI-secret@bucket/x", "gs://token-secret@bucket/x"):
        with pytest.raises(ConfigurationError) as caught:
            load_tx(sandbox, JAN, store=url)
        assert "secret" not in str(caught.value) and "AKIAEXAMPLE" not in str(caught.value)
        assert "<credentials hidden>@bucket" in str(caught.value)
    assert sandbox.requests == []


def test_the_missing_extra_names_what_to_install(sandbox, monkeypatch):
    from ledgerkit.store.roots import missing_extra

    error = missing_extra("s3://bucket/x")
    assert isinstance(error, ConfigurationError) and error.parameter == "path"
    assert "pip install 'ledgerkit[s3]'" in str(error) and "s3fs is missing" in str(error)
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed: importing it raises ImportError
    sandbox.clear_requests()
    with pytest.raises(ConfigurationError, match=r"^store='s3://bucket/x'.*pip install 'ledgerkit\[s3\]'"):
        load_tx(sandbox, JAN, store="s3://bucket/x")
    assert sandbox.requests == []


def load_dwh(sb, **kw):
    return load_balance_records(
        "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        currency="EUR",
        user_id=1,
        progress=False,
        **sb.kwargs("balance_records"),
        **kw,
    )


def test_balance_records_are_kept_on_an_object_store_and_read_back_without_a_request(sandbox, s3, tmp_path):
    """The report's zip is uploaded as ``reports/<id>.zip``; the same call again is answered from the bucket."""
    downloads_before = set(Path(tempfile.gettempdir()).glob("ledgerkit-dwh-*"))
    sandbox.clear_requests()
    first = load_dwh(sandbox, store=s3)
    assert set(Path(tempfile.gettempdir()).glob("ledgerkit-dwh-*")) == downloads_before, "a download left behind"
    assert any("/files/" in r.path for r in sandbox.requests)  # downloaded once
    sandbox.clear_requests()
    again = load_dwh(sandbox, store=s3)
    assert sandbox.requests == [] and again.manifest["from_store"] is True
    assert again.report_id == first.report_id
    pd.testing.assert_frame_equal(again.records, first.records)
    pd.testing.assert_frame_equal(again.opening_balance, first.opening_balance)
    local = load_dwh(sandbox, store=tmp_path / "store")  # the same file a directory store keeps
    pd.testing.assert_frame_equal(local.records, first.records)
    root = Store(s3)._root
    (kept,) = root.glob("balance_records/*/server-*/reports/*.zip")
    assert kept.endswith(f"/reports/{first.report_id}.zip")
    (state,) = Store(s3).manifest("balance_records")
    assert state["report_id"] == first.report_id and "pending_report_id" not in state


def test_a_missing_bucket_is_a_store_error_naming_it_and_reads_as_an_empty_store(sandbox, s3):
    missing = "s3://no-such-bucket-ledgerkit/x"
    with pytest.raises(StoreError, match=r"the bucket no-such-bucket-ledgerkit of the store .* does not exist"):
        load_tx(sandbox, JAN, store=missing)
    assert Store(missing).read("transactions").empty and Store(missing).manifest() == []


def test_removing_a_folder_of_keys_leaves_its_namesakes_alone(s3):
    root = Store(s3)._root
    for key in ("transactions/1/a.json", "transactions/10/a.json", "transactions/1-x/a.json", "transactions/1"):
        root.put_new(key, b"{}")
    root.delete_tree("transactions/1")
    assert root.keys_under("transactions") == ["transactions/1", "transactions/1-x/a.json", "transactions/10/a.json"]
    assert root.glob("transactions/*/a.json") == ["transactions/1-x/a.json", "transactions/10/a.json"]


def test_a_load_that_cannot_get_its_stream_in_time_is_a_store_error_before_any_request(sandbox, s3):
    load_tx(sandbox, JAN, store=s3)
    store = Store(s3)
    before = store.read("transactions")
    locks = store._root.locks_under("transactions")
    assert len(locks) == 3  # one stream per payment method asked for (credit_card, alternative, erip)
    with ExitStack() as held:
        for lock in locks:  # another writer, as far as the load can tell
            held.enter_context(store._root.lock(lock, timeout=None, what="held by the test"))
        sandbox.clear_requests()
        with pytest.raises(StoreError, match=r"busy.*_locks/transactions/.*timeout="):
            load_tx(sandbox, JAN, store=Store(s3, timeout=0.3))
        assert sandbox.requests == []
    pd.testing.assert_frame_equal(store.read("transactions"), before)
