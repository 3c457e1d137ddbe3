"""``python benchmarks/dask_bench.py --quick`` runs end to end: store, cluster, DuckDB, results asserted equal.

A smoke run at a small size: each line is there in the ``name: value (target)``
form of the other benchmarks, and the bench's own assertion that the four
Dask results equal DuckDB's passed. It asserts no speed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(?P<name>[a-z0-9_]+): (?P<value>.+) \((?P<target>[^()]+)\)(?P<missed> MISSED)?$")


def test_the_quick_dask_bench_prints_every_line_and_its_results_equal_duckdb():
    env = {**os.environ, "BENCH_DASK_ROWS": "60000", "BENCH_DASK_WORKER_MEMORY": str(512 * 1024**2)}
    done = subprocess.run(
        [sys.executable, "benchmarks/dask_bench.py", "--quick"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [LINE.match(text) for text in done.stdout.splitlines() if LINE.match(text)]
    assert [m["name"] for m in lines] == [
        "dask_store_rows",
        "dask_worker_memory",
        "dask_vs_duckdb",
        "dask_peak_worker_memory",
    ]
    found = {m["name"]: m for m in lines}
    assert re.match(r"^59,9\d\d statement rows in \d+ Parquet parts, \d+ partitions", found["dask_store_rows"]["value"])
    assert "results equal" in found["dask_vs_duckdb"]["value"]
    assert re.match(r"^\d+\.\d\d GiB, \d+\.\d\d GiB \(2 workers", found["dask_peak_worker_memory"]["value"])
