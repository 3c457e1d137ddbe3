"""Many writers, one store: processes and threads loading into one store at once lose, double or
corrupt nothing, and never return a short frame marked complete.

Two spawned worker processes (started once, reused) load into a fresh store
each round, released together by a start barrier, against a slowed sandbox
with small pages so that their pulls interleave; every frame they return and
the store afterwards are compared with the sandbox's world.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pandas as pd
import pytest
from filelock import FileLock

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit.errors import StoreError
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store

from . import _writers

JAN = ("2025-01-01", "2025-02-01")
SCENARIOS = [  # (source, first writer's period, second writer's period)
    ("transactions", ("2025-01-01", "2025-01-16"), ("2025-01-16", "2025-02-01")),  # adjacent halves
    ("transactions", ("2025-01-01", "2025-01-20"), ("2025-01-10", "2025-02-01")),  # overlapping
    ("transactions", JAN, JAN),  # the same period
    ("transactions", ("2025-01-01", "2025-01-12"), ("2025-01-20", "2025-02-01")),  # a gap between
    ("statements", JAN, JAN),  # the same statements
]
ROUNDS = 10  # every scenario twice (20 cost ~15 s more of make test's 15-minute budget)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(seed=0, size=300, page_size=10, per_page_default=25, per_page_max=100) as sb:
        yield sb


def plain_kwargs(sb) -> dict[str, dict[str, str]]:
    """The loaders' connection arguments as plain strings (they cross into other processes)."""
    out = {}
    for source in ("transactions", "statements"):
        kw = sb.kwargs(source)
        out[source] = {**kw, "secret_key": kw["secret_key"].secret}
    return out


@pytest.fixture(scope="module")
def workers(sandbox):
    with _writers.started(plain_kwargs(sandbox)) as queues:
        yield queues


def world_ids(sb, start: str, end: str) -> list[int]:
    shop = int(sb.credentials["transactions"].user)
    lo, hi = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in (start, end))
    return sorted(t["id"] for t in sb.world.transactions if t["shop"]["id"] == shop and lo <= t["created_at"] < hi)


@pytest.fixture(scope="module")
def statement_ids(sandbox) -> list[str]:
    return load_statements(since=JAN[0], until=JAN[1], progress=False, **sandbox.kwargs("statements"))[
        "row_id"
    ].tolist()


def expected(sb, source: str, period: tuple[str, str], statement_ids: list[str]) -> list:
    return world_ids(sb, *period) if source == "transactions" else statement_ids


@pytest.mark.slow
def test_processes_loading_into_one_store_at_once_get_exact_frames(sandbox, workers, statement_ids, tmp_path):
    sandbox.set_faults(latency=0.02)
    try:
        for round_ in range(ROUNDS):
            source, *periods = SCENARIOS[round_ % len(SCENARIOS)]
            root = tmp_path / f"round-{round_}"
            for (tasks, _), period in zip(workers, periods, strict=True):
                tasks.put((source, period, str(root)))
            for (_, results), period in zip(workers, periods, strict=True):
                status, ids, complete = results.get(timeout=300)
                assert status == "ok", (round_, source, period, ids)
                assert complete is True
                assert ids == expected(sandbox, source, period, statement_ids), (round_, source, period)
            stored = Store(root).read(source)["id" if source == "transactions" else "row_id"].tolist()
            assert stored == expected(sandbox, source, JAN, statement_ids), (round_, source)
    finally:
        sandbox.clear_faults()
    reloaded = load_transactions(*JAN, store=tmp_path / "round-0", progress=False, **sandbox.kwargs("transactions"))
    assert reloaded["id"].tolist() == world_ids(sandbox, *JAN)


@pytest.mark.slow
def test_threads_loading_into_one_store_at_once_get_exact_frames(sandbox, tmp_path):
    periods = [
        ("2025-01-01", "2025-01-11"),
        ("2025-01-11", "2025-01-21"),
        ("2025-01-21", "2025-02-01"),
        ("2025-01-05", "2025-01-25"),
    ]
    sandbox.set_faults(latency=0.01)
    try:
        for round_ in range(5):
            store, barrier = Store(tmp_path / f"round-{round_}"), threading.Barrier(len(periods))

            def load(
                period: tuple[str, str], store: Store = store, barrier: threading.Barrier = barrier
            ) -> pd.DataFrame:
                barrier.wait(timeout=60)
                return load_transactions(*period, store=store, progress=False, **sandbox.kwargs("transactions"))

            with ThreadPoolExecutor(len(periods)) as pool:
                frames = list(pool.map(load, periods))
            for period, frame in zip(periods, frames, strict=True):
                assert frame["id"].tolist() == world_ids(sandbox, *period), (round_, period)
                assert frame.attrs["ledgerkit"]["complete"] is True
            assert store.read("transactions")["id"].tolist() == world_ids(sandbox, *JAN)
    finally:
        sandbox.clear_faults()


def listed_parts(store: Store) -> int:
    return sum(len(s["parts"]) for s in store.manifest("transactions"))


def test_clear_waits_for_the_stream_being_pulled_and_leaves_a_consistent_store(sandbox, store_url):
    store, result = Store(store_url), {}
    sandbox.set_faults(latency=0.03)
    try:
        pull = threading.Thread(
            target=lambda: result.update(
                frame=load_transactions(*JAN, store=store, progress=False, **sandbox.kwargs("transactions"))
            )
        )
        pull.start()
        deadline = time.monotonic() + 60
        while listed_parts(store) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert pull.is_alive(), "the pull ended before the clear: nothing was tested"
        store.clear()
        pull.join(timeout=120)
    finally:
        sandbox.clear_faults()
    assert result["frame"]["id"].tolist() == world_ids(sandbox, *JAN)  # cleared under it, yet whole
    left = store.read("transactions")["id"]
    assert left.is_unique and set(left) <= set(world_ids(sandbox, *JAN))
    again = load_transactions(*JAN, store=store, progress=False, **sandbox.kwargs("transactions"))
    assert again["id"].tolist() == world_ids(sandbox, *JAN)


def test_a_load_that_cannot_get_its_stream_in_time_is_a_store_error(sandbox, tmp_path):
    load_transactions(*JAN, store=tmp_path, progress=False, **sandbox.kwargs("transactions"))
    before = Store(tmp_path).read("transactions")
    locks = [FileLock(str(p)) for p in sorted((tmp_path / "_locks" / "transactions").rglob("*.lock"))]
    assert len(locks) == 3  # one stream per payment method asked for (credit_card, alternative, erip)
    for lock in locks:
        lock.acquire()  # another writer, as far as the load can tell
    try:
        sandbox.clear_requests()
        with pytest.raises(StoreError, match=r"busy.*timeout="):
            load_transactions(
                *JAN, store=Store(tmp_path, timeout=0.2), progress=False, **sandbox.kwargs("transactions")
            )
        assert sandbox.requests == []
    finally:
        for lock in locks:
            lock.release()
    pd.testing.assert_frame_equal(Store(tmp_path).read("transactions"), before)


def test_readers_without_the_lock_see_a_whole_chain_while_pulls_rewrite_it(fresh_sandbox, tmp_path):
    store = Store(tmp_path)
    kw = dict(since="2025-01-01", progress=False, store=store, **fresh_sandbox.kwargs("statements"))
    load_statements(**kw)
    done, errors, reads = threading.Event(), [], []

    def pull() -> None:
        try:
            for _ in range(5):  # each refresh compacts the head into a new part and sweeps the parts it replaced
                fresh_sandbox.world.append_statements(3)
                load_statements(**kw)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    puller = threading.Thread(target=pull)
    puller.start()
    while not done.is_set():
        reads.append(store.read("statements")["row_id"].tolist())
    puller.join()
    assert errors == [] and len(reads) > 1
    chain = load_statements(since="2025-01-01", progress=False, **fresh_sandbox.kwargs("statements"))["row_id"].tolist()
    assert reads[-1] == chain or len(reads[-1]) < len(chain)
    for ids in reads:  # every read is the chain as some state listed it: a prefix, no row twice
        assert ids == chain[: len(ids)] and len(ids) > 0


def test_two_loads_of_one_report_at_once_request_it_once(fresh_sandbox, tmp_path):
    barrier = threading.Barrier(2)

    def load(_: int):
        barrier.wait(timeout=60)
        return load_balance_records(
            "2025-01-01T00:00:00+00:00",
            "2025-02-01T00:00:00+00:00",
            currency="EUR",
            user_id=1,
            progress=False,
            poll_interval=(0.01, 0.05),
            store=tmp_path,
            **fresh_sandbox.kwargs("balance_records"),
        )

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(load, range(2))
    assert [r.method for r in fresh_sandbox.requests if r.path.endswith("/reports")] == ["POST"]
    assert first.report_id == second.report_id
    assert {first.manifest.get("from_store"), second.manifest.get("from_store")} == {None, True}
    pd.testing.assert_frame_equal(first.records, second.records)
