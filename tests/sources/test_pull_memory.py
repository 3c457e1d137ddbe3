"""A whole load allocates its Arrow memory from jemalloc and leaves the process's pool as it found it."""

from __future__ import annotations

import gc
import threading

import pyarrow as pa
import pytest

from ledgerkit import load_transactions
from ledgerkit._ingest.allocator import pull_memory, pull_pool
from ledgerkit.errors import ServerError
from ledgerkit.sandbox import Sandbox
from ledgerkit.sandbox.api_transactions import TransactionsAPI

from .test_transactions_concurrent import APR, FAST, JAN, WORKERS, creds

pytestmark = pytest.mark.skipif(pull_pool() is None, reason="this pyarrow has no jemalloc")


def _pools_seen(monkeypatch) -> list[str]:
    """The default pool's backend at every report request a sandbox made after this answers (same process)."""
    handle, seen = TransactionsAPI.handle, []

    def answer(api, req):
        seen.append(pa.default_memory_pool().backend_name)
        return handle(api, req)

    monkeypatch.setattr(TransactionsAPI, "handle", answer)
    return seen


def test_a_load_allocates_from_jemalloc_and_puts_the_pool_it_found_back(monkeypatch):
    seen = _pools_seen(monkeypatch)
    before, jemalloc = pa.default_memory_pool().backend_name, pa.jemalloc_memory_pool()
    gc.collect()  # frames of earlier tests that only wait for the collector would be freed mid-test
    held = jemalloc.bytes_allocated()
    with Sandbox(seed=3, page_size=7) as s:
        df = load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
    assert len(df) > 100 and len(seen) > 10
    assert set(seen) == {"jemalloc"}  # every page was read while the switch was on
    assert pa.default_memory_pool().backend_name == before
    assert jemalloc.bytes_allocated() > held  # the frame's Arrow-backed text lives in jemalloc
    del df
    gc.collect()
    assert jemalloc.bytes_allocated() == held  # and nothing else stayed there


def test_a_failed_load_puts_the_pool_back_too(monkeypatch):
    before = pa.default_memory_pool().backend_name
    with Sandbox(seed=3, page_size=7) as s:
        s.set_faults(error_every=1, error_status=503)
        with pytest.raises(ServerError):
            load_transactions(JAN, APR, max_workers=WORKERS, **creds(s, retry=FAST.__class__(max_retries=0)))
    assert pa.default_memory_pool().backend_name == before


def test_a_process_that_chose_its_pool_keeps_it(monkeypatch):
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", pa.default_memory_pool().backend_name)
    seen = _pools_seen(monkeypatch)
    before = pa.default_memory_pool().backend_name
    with Sandbox(seed=3, page_size=7) as s:
        load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
    assert set(seen) == {before} != {"jemalloc"}


def test_without_jemalloc_the_pool_is_left_alone(monkeypatch):
    def missing():
        raise pa.ArrowNotImplementedError("jemalloc support is not built")

    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    before = pa.default_memory_pool()
    with pull_memory():
        assert pa.default_memory_pool().backend_name == before.backend_name
    assert pull_pool() is None


def test_the_switch_is_counted_across_threads_and_nested_pulls():
    before = pa.default_memory_pool().backend_name
    inside, out = threading.Barrier(2), threading.Event()
    seen: list[str] = []

    def long_pull():
        with pull_memory():
            inside.wait()
            out.wait()
            seen.append(pa.default_memory_pool().backend_name)

    worker = threading.Thread(target=long_pull)
    worker.start()
    with pull_memory():
        inside.wait()
        with pull_memory():
            pass
        seen.append(pa.default_memory_pool().backend_name)  # the nested one left: still on
    seen.append(pa.default_memory_pool().backend_name)  # this thread left, the other pull still runs
    out.set()
    worker.join()
    assert seen == ["jemalloc", "jemalloc", "jemalloc"]
    assert pa.default_memory_pool().backend_name == before != "jemalloc"
