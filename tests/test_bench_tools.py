"""The helper benchmarks beside ``run.py`` run end to end at a tiny size: ``focus.py`` and ``ab.py``.

They are what a session uses to compare two versions of the pull on a
shared machine, so a change to ``run.py`` must not break them silently
(``focus.py`` once called a function that had come to return None, and
failed before its first pull). No speed is asserted.
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
RATES = r"(?P<low>[\d,]+) / (?P<mid>[\d,]+) / (?P<high>[\d,]+) rows/s"


def bench(script: str, *args: str, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        check=False,
        cwd=ROOT,
        env={**os.environ, "MPLBACKEND": "Agg", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_focus_measures_each_worker_count_against_the_bound_of_its_rounds():
    out = bench("focus.py", FOCUS_ROWS="2000", FOCUS_REPEAT="2", FOCUS_WORKERS="1,2")
    lines = {int(m["workers"]): m for m in map(re.compile(rf"^(?P<workers>\d+) workers: {RATES}; ").match, out) if m}
    assert sorted(lines) == [1, 2]
    for m in lines.values():
        assert 0 < number(m["low"]) <= number(m["mid"]) <= number(m["high"])
    last = re.fullmatch(r"([\d,]+) rows, parse bound ([\d,]+) rows/s \(median of 2: ([\d,]+), ([\d,]+)\)", out[-1])
    assert last, out[-1]
    assert number(last[1]) > 1000  # the first shop's share of a world of 4,500
    assert number(last[2]) == sorted([number(last[3]), number(last[4])])[0]  # the lower middle of two


def test_ab_pulls_the_same_rows_with_each_tree():
    out = bench("ab.py", str(ROOT), ".", AB_ROWS="2000", AB_REPEAT="1", AB_WORKERS="1")
    found = [re.match(rf"^1 workers (?P<tree>\S+): {RATES} .*, (?P<rows>[\d,]+) rows$", line) for line in out]
    found = [m for m in found if m]
    assert sorted(m["tree"] for m in found) == sorted([str(ROOT), "."])
    assert len({m["rows"] for m in found}) == 1 and number(found[0]["rows"]) > 1000
