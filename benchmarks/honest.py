"""The honest cases: pulls that are not the friendliest one, default workers against one worker.

The main benchmark pulls the exact period of a warm sandbox's world, where
rows are spread evenly. Here the default ``load_transactions`` meets what a
user meets, and each case is reported as the default's rows/s over one
worker's (target >= 1.0: concurrency must never make a pull slower):

* **cold** -- the first pull against a freshly started sandbox process (one
  process per pull, so both are first pulls);
* **user range** -- a whole year around a world that holds three months;
* **sparse** -- few rows spread over two years (``--shape sparse``);
* **burst** -- most rows inside one hour (``--shape burst``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from sandbox_proc import Run, SandboxProcess, measure, median_run, runs_of

import ledgerkit as lk
from ledgerkit.sandbox.world_shapes import BURST_AT, BURST_SECONDS

Line = tuple[str, str, str, bool]
METHODS = ("credit_card", "alternative")
WORLD_PERIOD = ("2025-01-01", "2025-04-01")
USER_YEAR = ("2024-11-01", "2025-11-01")
SPARSE_PERIOD = ("2023-04-01", "2025-04-01")


def pull(sb: SandboxProcess, period: tuple[Any, Any], workers: int) -> Callable[[], object]:
    """A call that pulls ``period`` of both payment methods with ``workers`` workers."""
    return lambda: lk.load_transactions(*period, payment_method_type=METHODS, max_workers=workers, **sb.kw)


def ratio_line(name: str, case: str, default: int, fast: Run, one: Run, how: str) -> Line:
    """``name: R x one worker (...)`` with the target >= 1.0x."""
    assert fast.rows == one.rows, (name, fast.rows, one.rows)
    ratio = fast.rate / one.rate
    value = (
        f"{ratio:.2f}x one worker ({default} workers {fast.rate:,.0f} vs 1 worker {one.rate:,.0f} rows/s, "
        f"{fast.rows:,} rows; {case}; {how})"
    )
    return name, value, ">= 1.0x: the default never slower than one worker", ratio >= 1.0


def compare(sb: SandboxProcess, period: tuple[str, str], default: int, repeat: int) -> tuple[Run, Run]:
    """Median runs of the default and of one worker, alternating so that both see the same machine.

    One pull first, not measured: a warm sandbox for both (the cold case is its own).
    """
    pull(sb, period, 1)()
    fast, one = [], []
    for _ in range(repeat):
        fast += runs_of(pull(sb, period, default), sb, 1)
        one += runs_of(pull(sb, period, 1), sb, 1)
    return median_run(fast), median_run(one)


def cold(world: int, page: int, latency: float, default: int) -> Line:
    """The first pull of a fresh sandbox process, for the default and for one worker."""
    runs = {}
    for workers in (default, 1):
        with SandboxProcess(world, page, latency) as sb:
            runs[workers] = measure(pull(sb, WORLD_PERIOD, workers), sb)[1]
    return ratio_line(
        "honest_cold_pull",
        f"the first pull of a freshly started sandbox (world {world:,})",
        default,
        runs[default],
        runs[1],
        "one run each",
    )


def user_range(sb: SandboxProcess, default: int, repeat: int) -> Line:
    """A whole year (2024-11-01 .. 2025-11-01) around the three months the world holds."""
    fast, one = compare(sb, USER_YEAR, default, repeat)
    return ratio_line(
        "honest_user_range",
        f"{USER_YEAR[0]} .. {USER_YEAR[1]} around a world of 2025-01 .. 2025-03",
        default,
        fast,
        one,
        f"median of {repeat}",
    )


def sparse(world: int, page: int, latency: float, default: int, repeat: int) -> Line:
    """A world of ``world`` transactions spread over two years, pulled whole."""
    with SandboxProcess(world, page, latency, shape="sparse") as sb:
        fast, one = compare(sb, SPARSE_PERIOD, default, repeat)
    return ratio_line(
        "honest_sparse",
        f"{SPARSE_PERIOD[0]} .. {SPARSE_PERIOD[1]}, a world of {world:,} over two years",
        default,
        fast,
        one,
        f"median of {repeat}",
    )


def burst(world: int, page: int, latency: float, default: int, repeat: int) -> Line:
    """A world of ``world`` transactions, about 90 % of them inside one hour, pulled whole."""
    with SandboxProcess(world, page, latency, shape="burst") as sb:
        fast, one = compare(sb, WORLD_PERIOD, default, repeat)
        hour = (pd.Timestamp(BURST_AT), pd.Timestamp(BURST_AT) + pd.Timedelta(seconds=BURST_SECONDS))
        inside = len(pull(sb, hour, 1)()) / fast.rows
    return ratio_line(
        "honest_burst",
        f"{inside:.0%} of them created in one hour of 2025-01 .. 2025-03",
        default,
        fast,
        one,
        f"median of {repeat}",
    )
