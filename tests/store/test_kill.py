"""A pull killed (SIGKILL) at any point leaves the store readable; the next load resumes and is exact.

The child process runs a loader with ``store=`` against the sandbox of this
test process (slowed by the ``latency`` fault); the parent watches the
store's state files and kills the child after ``k`` stored parts, or after a
fixed delay with no latency (to land inside a write).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ledgerkit import load_statements, load_transactions
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store

CHILD = """
import sys
from ledgerkit import load_statements
from ledgerkit import load_transactions
source, root = sys.argv[1], sys.argv[2]
if source == "transactions":
    load_transactions("2025-01-01", "2025-04-01", store=root, progress=False)
else:
    load_statements(since="2025-01-01", store=root, progress=False)
"""


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(seed=1, size=200, page_size=10, per_page_default=10, per_page_max=100) as sb:
        yield sb


def load(sb, source: str, **kw) -> pd.DataFrame:
    if source == "transactions":
        return load_transactions("2025-01-01", "2025-04-01", progress=False, **sb.kwargs(source), **kw)
    return load_statements(since="2025-01-01", progress=False, **sb.kwargs(source), **kw)


def stored_parts(root: Path) -> int:
    parts = 0
    for state in root.rglob("_streams/*.json"):
        parts += len(json.loads(state.read_bytes())["parts"])  # atomic files: always whole JSON
    return parts


def run_and_kill(sb, source: str, root: Path, *, after_parts: int | None, after_seconds: float | None) -> int:
    """Start the child, kill it when the condition holds; returns the parts stored at the kill."""
    env = {**os.environ, **sb.env()}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, source, str(root)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline, started = time.monotonic() + 60, None
        while time.monotonic() < deadline and child.poll() is None:
            parts = stored_parts(root) if root.exists() else 0
            if started is None and any(root.rglob("_streams/*.json")):
                started = time.monotonic()
            if after_parts is not None and parts >= after_parts:
                break
            if after_seconds is not None and started is not None and time.monotonic() - started >= after_seconds:
                break
            time.sleep(0.005)
        assert child.poll() is None, f"the child ended before the kill: {child.stderr.read().decode()[-2000:]}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    return stored_parts(root)


@pytest.fixture(scope="module")
def expected(sandbox):
    return {source: load(sandbox, source) for source in ("transactions", "statements")}


CASES = [  # (source, kill after this many stored parts, or this many seconds into the pull)
    ("transactions", 1, None),
    ("transactions", 6, None),
    ("transactions", None, 0.05),
    ("statements", 5, None),
    ("statements", None, 0.1),
]


@pytest.mark.parametrize(("source", "after_parts", "after_seconds"), CASES)
def test_killed_pull_leaves_a_readable_store_and_resumes_exactly(
    sandbox, expected, tmp_path, source, after_parts, after_seconds
):
    full = expected[source]
    id_column = "id" if source == "transactions" else "row_id"
    sandbox.set_faults(latency=0.03 if after_parts is not None else 0.0)
    try:
        at_kill = run_and_kill(sandbox, source, tmp_path, after_parts=after_parts, after_seconds=after_seconds)
    finally:
        sandbox.clear_faults()

    # readable and consistent: only rows the server holds, none twice, listed parts all present
    store = Store(tmp_path)
    stored = store.read(source)
    assert stored[id_column].is_unique
    assert set(stored[id_column]) <= set(full[id_column])
    if after_parts is not None:
        assert at_kill >= after_parts and len(stored) > 0
    for state in store.manifest(source):
        directory = Path(state["directory"])
        assert directory.parent == tmp_path / source / state["key"]["account"]
        assert all((directory / part).is_file() for part in state["parts"])

    sandbox.clear_requests()
    resumed = load(sandbox, source, store=tmp_path)
    pd.testing.assert_frame_equal(resumed, full)
    if after_parts and after_parts > 1:  # resumed after the stored pages, not from the start
        resuming = len(sandbox.requests)
        sandbox.clear_requests()
        load(sandbox, source, store=tmp_path / "from-scratch")
        assert resuming < len(sandbox.requests)
    again = load(sandbox, source, store=tmp_path)
    pd.testing.assert_frame_equal(again, full)
