"""ledgerkit benchmarks: ``python benchmarks/run.py`` (or ``make bench``, which installs the ``bench`` extra).

Prints each target as ``name: value (target)`` -- with ``MISSED`` when the
target is not met -- then the same lines as a table, the peer lines first;
writes ``benchmarks/results/latest.txt`` and ``pull_workers.png`` (rows/s by
worker count against the bound). The sandbox runs in its own process
(``python -m ledgerkit.sandbox``) so that serving does not share this
process's GIL with the pull being measured; it still shares the cores, so
the CPU time of both processes is measured and printed (``pull_time_split``).

The pull targets pull at least ``BENCH_ROWS`` (default 200000) transactions
in ONE ``load_transactions`` call: every row of the sandbox's first shop,
both payment methods, in a world of ``BENCH_WORLD`` transactions (default
``BENCH_ROWS * 9 // 4``: that shop draws 45 % of the world; seed 0 and
450,000 give it 200,657). The naive loader, the parse bound and the peer
(a dlt ``rest_api`` pipeline, :mod:`peers`) go over the same rows from the
same sandbox process. They are measured in ``BENCH_REPEAT`` rounds (default
3), each back to back: the naive loop, a lone request's round trip (:func:`lone_trip`), then
for the default ``max_workers`` (the headline) and for 8 the parse bound and
``load_transactions`` twice, then dlt (the naive loop and dlt in the first
``BENCH_PEER_REPEAT`` rounds: default 3, quick 1). The latency bound is the
workers' pages per round trip of a lone request timed in the round (the
sandbox's sleep plus building and sending a page), the bound at the sleep
alone given beside it. The parse bound is the best of 2 timings, taken
just before the pulls it is set against; ``pull_vs_bound`` sets
the faster of a round's 2 pulls against it, so that both sides are measured
alike (a single pull against the best of 2 parses counts the host's noise
as a gap: on this machine about 4 points of the ratio), and says the single
pull's ratio beside it.
Every ratio is taken within a round and the line gives their median and
spread: this machine's speed drifts by tens of percent over minutes, which
a ratio of medians measured minutes apart would report as the code's. The honest cases (:mod:`honest`) pull a
cold sandbox, a user's year around the world's three months, a sparse world
and a burst world, default workers against one.

Environment: ``BENCH_ROWS``, ``BENCH_WORLD`` (above); ``BENCH_REPEAT``;
``BENCH_SPARSE_WORLD`` (default 4500: about 2,000 rows of the first shop over
two years), ``BENCH_BURST_WORLD`` (default 100000); ``BENCH_ANALYSIS_ROWS``,
``BENCH_SHEET_ROWS``, ``BENCH_XLSX_ROWS`` the sizes of the analysis and sheet
targets; ``BENCH_DASK_ROWS`` (default 50,000,000) and ``BENCH_DASK_WORKER_MEMORY``
the Dask store (:mod:`dask_bench`); the throttled pull is :mod:`throttled`'s;
``BENCH_WORKERS`` (default "1,2,4,8") worker counts for the chart;
``BENCH_QUICK=1`` small sizes for a smoke run (written to
``latest-quick.txt``, never over ``latest.txt``); ``BENCH_RESULTS`` the
folder to write to.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from concurrent.futures import ThreadPoolExecutor

import analysis_bench
import dask_bench
import honest
import peers
import pyarrow as pa
import sheets_bench
import throttled
from naive import naive_pull, normalize_pages
from sandbox_proc import Run, SandboxProcess, measure, median_run, runs_of, spread

from ledgerkit import (
    Store,
    load_transactions,
)
from ledgerkit._ingest.allocator import pull_memory, pull_pool
from ledgerkit._ingest.arrow_pages import PageHints, pages_to_frame, read_columns
from ledgerkit._ingest.cores import parse_capacity, usable_cores
from ledgerkit._ingest.schema import TRANSACTIONS

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def setting(name: str, full: int, quick: int) -> int:
    """An integer size from the environment, else its full-run or quick-run default."""
    return int(os.environ.get(name, str(quick if QUICK else full)))


ROWS = setting("BENCH_ROWS", 200_000, 2_000)
WORLD = setting("BENCH_WORLD", ROWS * 9 // 4, ROWS * 5 // 2)  # a small world's share varies more: 2.5x keeps ROWS
REPEAT = setting("BENCH_REPEAT", 3, 3)
PEER_REPEAT = setting("BENCH_PEER_REPEAT", 3, 1)  # runs of the naive loop and of dlt (medians)
SPARSE_WORLD = setting("BENCH_SPARSE_WORLD", 4_500, 2_000)
BURST_WORLD = setting("BENCH_BURST_WORLD", 100_000, 5_000)
ANALYSIS_ROWS = setting("BENCH_ANALYSIS_ROWS", 5_000_000, 50_000)
SHEET_ROWS = setting("BENCH_SHEET_ROWS", 1_000_000, 10_000)
XLSX_ROWS = setting("BENCH_XLSX_ROWS", 100_000, 1_000)
DASK_ROWS = setting("BENCH_DASK_ROWS", 50_000_000, 200_000)
DASK_WORKER_MEMORY = setting("BENCH_DASK_WORKER_MEMORY", int(1.5 * 1024**3), 512 * 1024**2)
WORKERS = [int(w) for w in os.environ.get("BENCH_WORKERS", "1,2,4,8").split(",")]
DEFAULT_WORKERS = inspect.signature(load_transactions).parameters["max_workers"].default
SPREAD_WORKERS = tuple(dict.fromkeys((DEFAULT_WORKERS, 8)))  # the headline, and 8 beside it
METHODS = ("credit_card", "alternative")
PERIOD = ("2025-01-01", "2025-04-01")
PARAMS = {
    "date_type": "created_at",
    "from": "2025-01-01 00:00:00",
    "to": "2025-03-31 23:59:59",
    "status": "all",
    "time_zone": "UTC",
}
LATENCY, PAGE = 0.05, 1000
RESULTS = Path(os.environ.get("BENCH_RESULTS", Path(__file__).resolve().parent / "results"))
SUFFIX = "-quick" if QUICK else ""
#: The table's order: lines starting with these first, in this order; the rest as they were measured.
TABLE_ORDER = (
    "peer_",
    "pull_vs_naive",
    "pull_with_store",
    "pull_vs_bound",
    "pull_vs_client_bound",
    "pull_time_split",
    "pull_by_workers",
    "honest_",
    "throttled_",
    "dask_",
)
LINES: list[str] = []
NO_TARGET = "for transparency, no target"


def report(name: str, value: str, target: str, ok: bool | None) -> None:
    line = f"{name}: {value} ({target})" + ("" if ok is None or ok else " MISSED")
    print(line, flush=True)
    LINES.append(line)


def table_rank(line: str) -> int:
    return next((i for i, prefix in enumerate(TABLE_ORDER) if line.startswith(prefix)), len(TABLE_ORDER))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def best_of(fn, repeat: int = 2):
    """``fn()`` and its shortest time over ``repeat`` runs (the first run also warms caches up)."""
    runs = [timed(fn) for _ in range(repeat)]
    return runs[-1][0], min(t for _, t in runs)


def pull(sb: SandboxProcess, workers: int, **kw):
    """A call pulling the benchmark's rows with ``workers`` workers."""
    return lambda: load_transactions(*PERIOD, payment_method_type=METHODS, max_workers=workers, **sb.kw, **kw)


def fetch_bodies(sb: SandboxProcess) -> list[bytes]:
    """Every page body of the pull, each payment method in turn."""
    bodies, session = [], requests.Session()
    for method in METHODS:
        cursor = None
        while True:
            p = dict(PARAMS, payment_method_type=method, **({"starting_after": cursor} if cursor else {}))
            r = session.post(
                sb.url + "/api/reports",
                json={"report_params": p},
                auth=(sb.user, sb.secret),
                headers={"X-Api-Version": "3"},
            )
            r.raise_for_status()
            bodies.append(r.content)
            page = orjson.loads(r.content)  # only the cursor is needed: the cheapest decode
            if not page["has_more"]:
                break
            cursor = page["last_object_id"]
    return bodies


def memory_targets(sb: SandboxProcess) -> int:
    """Peak memory of the first pull against its frame, and the frame against object strings; the rows pulled."""
    # memory first, while the Arrow pool's high-water mark is still this pull's own:
    # peak = tracemalloc peak (Python heap) + Arrow pools' peaks (not seen by tracemalloc), an upper bound;
    # a whole load allocates from pull_pool() (jemalloc) while it runs; the default pool is counted for what it
    # allocates outside that switch (or everything, when the process chose its pool)
    default, ours = pa.default_memory_pool(), pull_pool()
    pools = [default] if ours is None or ours.backend_name == default.backend_name else [default, ours]
    arrow_before = [p.max_memory() for p in pools]
    tracemalloc.start()
    df = pull(sb, DEFAULT_WORKERS)()
    peak = tracemalloc.get_traced_memory()[1] + sum(
        p.max_memory() - b for p, b in zip(pools, arrow_before, strict=True)
    )
    tracemalloc.stop()
    pulled = len(df)
    report(
        "pull_rows",
        f"{pulled:,} transactions in one load_transactions call (world of {WORLD:,}, first shop, "
        f"{' + '.join(METHODS)})",
        f">= {ROWS:,}",
        pulled >= ROWS,
    )
    deep = df.memory_usage(deep=True).sum()
    plain = (
        df.astype({c: object for c in df.columns if str(df[c].dtype) in ("str", "category")})
        .memory_usage(deep=True)
        .sum()
    )
    report(
        "pull_peak_memory",
        f"{peak / deep:.2f}x the frame ({peak / 2**20:,.0f} MiB peak, tracemalloc + Arrow pool, "
        f"default max_workers={DEFAULT_WORKERS})",
        "<= 2.5x",
        peak / deep <= 2.5,
    )
    report(
        "frame_memory",
        f"{deep / plain:.2f} of object strings ({deep / 2**20:,.0f} vs {plain / 2**20:,.0f} MiB)",
        "<= 0.5",
        deep / plain <= 0.5,
    )
    return pulled


#: Lone requests timed per round for its round trip (after one that opens the connection).
TRIPS = 5


def lone_trip(sb: SandboxProcess, cursor: int) -> float:
    """Seconds one request for a full page of the pull takes with nothing else in flight: the median of ``TRIPS``.

    The sandbox sleeps ``LATENCY`` and then builds and sends the page; no
    worker of a pull can get a page back sooner, so ``workers * PAGE / trip``
    is the latency bound as this sandbox serves it.
    """
    session, times = requests.Session(), []
    body = {"report_params": dict(PARAMS, payment_method_type=METHODS[0], starting_after=cursor)}
    for _ in range(TRIPS + 1):
        start = time.perf_counter()
        r = session.post(sb.url + "/api/reports", json=body, auth=(sb.user, sb.secret), headers={"X-Api-Version": "3"})
        r.raise_for_status()
        assert len(r.content) > 0
        times.append(time.perf_counter() - start)
    return middle(times[1:])


def middle_cursor(bodies: list[bytes]) -> int:
    """The cursor after the middle page of the first payment method's pages (a full page follows it)."""
    first_method = next(i for i, body in enumerate(bodies) if not orjson.loads(body)["has_more"]) + 1
    return orjson.loads(bodies[first_method // 2])["last_object_id"]


def parse_frame(bodies: list[bytes], threads: int) -> pd.DataFrame:
    """Page bytes -> the pull's typed frame, pages read on ``threads`` threads as a pull reads them."""
    hints = PageHints()  # as a pull: what its first pages teach (text read as times) is used on the rest

    def read(body: bytes):
        return read_columns(body, TRANSACTIONS, records_key="transactions", hints=hints)

    with pull_memory(), ThreadPoolExecutor(threads) as pool_:  # the pull's allocator, as a pull has it
        return pages_to_frame(list(pool_.map(read, bodies)), TRANSACTIONS, sort_by="id")


def parse_run(bodies: list[bytes]) -> Run:
    """The pages parsed as many at once as a pull parses them: the faster of 2 timings, as the pulls are.

    A pull parses :func:`~ledgerkit._ingest.cores.parse_capacity` pages at
    once (one more than the cores). The bound is timed that way and sampled
    as often as each side of ``pull_vs_bound``'s pulls (best of 2): on a
    host whose speed swings by tens of percent, a bound that were the best of
    more timings would count the extra draws as a gap.

    A :class:`Run` whose ``client_cpu`` is this process's CPU in it (no sandbox: ``sandbox_cpu`` 0).
    """
    runs = []
    for _ in range(2):  # the first also warms caches up
        cpu, start = time.process_time(), time.perf_counter()
        frame = parse_frame(bodies, parse_capacity())
        runs.append(Run(len(frame), time.perf_counter() - start, time.process_time() - cpu, 0.0))
    return min(runs, key=lambda run: run.wall)


def parse_bound(bodies: list[bytes]) -> float:
    """The parse bound in rows/s (:func:`parse_run`)."""
    return parse_run(bodies).rate


def parse_target(bodies: list[bytes]) -> None:
    """``parse_speedup``: page bytes -> typed frame against json_normalize, from memory."""
    _, t_norm = best_of(lambda: normalize_pages(bodies))  # each path timed the same way: best of 2
    fast, t_one = best_of(lambda: parse_frame(bodies, 1))
    at_once = parse_capacity()
    _, t_fast = best_of(lambda: parse_frame(bodies, at_once))
    n = len(fast)
    report(
        "parse_speedup",
        f"{t_norm / t_fast:.1f}x with pages read on {at_once} threads as the pull does, {t_norm / t_one:.1f}x "
        f"on one, best of 2 each ({n / t_fast:,.0f} / {n / t_one:,.0f} vs {n / t_norm:,.0f} rows/s)",
        ">= 5x",
        t_norm / t_fast >= 5,
    )


@dataclass
class Round:
    """One round of the pull targets, measured back to back: each ratio compares neighbours in time.

    This machine's speed drifts by tens of percent over minutes, so a ratio of
    two medians measured minutes apart says more about the drift than about
    the code; a ratio within a round does not.
    """

    naive: Run | None  # in the first PEER_REPEAT rounds
    parsed: dict[int, Run]  # SPREAD_WORKERS -> the parse bound measured just before those pulls (parse_run)
    trip: float  # seconds a lone request for a page of the pull took in this round (median of TRIPS)
    pulls: dict[int, Run]  # SPREAD_WORKERS -> the first pull (against the naive loop and dlt)
    again: dict[int, Run]  # SPREAD_WORKERS -> the pull right after it (the bound is a best of 2 too)
    dlt: Run | None  # in the first PEER_REPEAT rounds, when dlt is installed

    def bound(self, workers: int) -> float:
        """The parse bound measured just before the pulls with ``workers``, rows/s."""
        return self.parsed[workers].rate

    def best(self, workers: int) -> Run:
        """The faster of the round's two pulls with ``workers``: measured as the bound is, best of 2."""
        return max(self.pulls[workers], self.again[workers], key=lambda run: run.rate)

    def latency_bound(self, workers: int, latency: float | None = None) -> float:
        """Rows/s that ``workers`` requests out at once allow, each taking this round's lone round trip.

        A lone request for a full page (:func:`lone_trip`) takes the
        sandbox's sleep *and* the time to build and send the page; no worker
        gets a page back sooner. ``latency`` (the sandbox's sleep alone)
        gives the looser bound that leaves that time out.
        """
        return workers * PAGE / (self.trip if latency is None else latency)

    def vs_bound(self, workers: int, *, single: bool = False, latency: float | None = None) -> float:
        """The faster pull (``single``: the first) against min(:meth:`latency_bound`, the parse bound)."""
        run = self.pulls[workers] if single else self.best(workers)
        return run.rate / min(self.latency_bound(workers, latency), self.bound(workers))


def rounds_of(sb: SandboxProcess, n: int, bodies: list[bytes]) -> list[Round]:
    """``REPEAT`` rounds of: the naive loop, a lone request's round trip, the parse bound,
    the pulls (default workers, then 8; each twice), dlt."""
    dlt = None if peers.dlt_missing() else lambda: peers.dlt_pull(sb.url, sb.user, sb.secret, PARAMS, METHODS)
    rounds, cursor = [], middle_cursor(bodies)
    for i in range(REPEAT):
        peer_round = i < PEER_REPEAT
        naive = measure(lambda: naive_pull(sb.url, sb.user, sb.secret, PARAMS, METHODS), sb)[1] if peer_round else None
        trip = lone_trip(sb, cursor)
        parsed, pulls, again = {}, {}, {}
        for w in SPREAD_WORKERS:  # each worker count's pulls right after a bound of their own: neighbours in time
            parsed[w] = parse_run(bodies)
            pulls[w], again[w] = (measure(pull(sb, w), sb)[1] for _ in range(2))
        dlt_run = measure(dlt, sb)[1] if peer_round and dlt else None
        rounds.append(Round(naive, parsed, trip, pulls, again, dlt_run))
    runs = [r for rd in rounds for r in (rd.naive, *rd.pulls.values(), *rd.again.values(), rd.dlt) if r is not None]
    assert all(r.rows == n for r in runs), ("a pull, the naive loop or dlt returned another row count", n)
    return rounds


def ratios_said(rounds: int) -> str:
    """How many rounds a ratio is the median of, in words."""
    return f"the median of {rounds} rounds' ratios" if rounds > 1 else "one round's ratio"


def middle(values: list[float]) -> float:
    """The median (the lower middle one for an even count, as :func:`median_run`)."""
    return sorted(values)[(len(values) - 1) // 2]


def pull_targets(sb: SandboxProcess, n: int, bodies: list[bytes]) -> None:
    """The pull against the naive loop, the peer, a store, and the bound; where its time goes; the chart."""
    rounds = rounds_of(sb, n, bodies)
    runs = {w: [rd.pulls[w] for rd in rounds] for w in SPREAD_WORKERS}
    for workers in WORKERS:
        if workers not in SPREAD_WORKERS:
            runs[workers] = runs_of(pull(sb, workers), sb, 1)
            assert runs[workers][0].rows == n, "a pull returned another row count"
    rates = {w: median_run(r).rate for w, r in sorted(runs.items())}
    report(
        "pull_by_workers",
        ", ".join(f"{w}: {r:,.0f}" for w, r in rates.items())
        + f" rows/s (median of {REPEAT} for {' and '.join(map(str, SPREAD_WORKERS))}, one run for the others)",
        NO_TARGET,
        None,
    )
    naive_line(rounds, rates)
    stored = store_run(sb, n)
    naive_rate = median_run([rd.naive for rd in rounds if rd.naive]).rate
    report(
        "pull_with_store",
        f"{stored.rate / naive_rate:.1f}x naive ({stored.rate:,.0f} rows/s into a fresh store=, one run; "
        f"the same pull without a store {rates[DEFAULT_WORKERS]:,.0f} rows/s)",
        NO_TARGET,
        None,
    )
    peer_line(rounds, n)
    for workers in SPREAD_WORKERS:
        bound_line(workers, rounds)
    client_bound_line(rounds)
    for workers in SPREAD_WORKERS:
        time_split_line(workers, rounds)
    chart(rates, n, middle([rd.bound(w) for rd in rounds for w in SPREAD_WORKERS]), middle([rd.trip for rd in rounds]))


def naive_line(rounds: list[Round], rates: dict[int, float]) -> None:
    """``pull_vs_naive``: each round's pulls against the naive loop run just before them."""
    paired = [rd for rd in rounds if rd.naive]
    naive_rate = median_run([rd.naive for rd in paired]).rate
    ratio = {w: middle([rd.pulls[w].rate / rd.naive.rate for rd in paired]) for w in SPREAD_WORKERS}
    default, eight = DEFAULT_WORKERS, SPREAD_WORKERS[-1]
    report(
        "pull_vs_naive",
        f"{ratio[default]:.1f}x with the default {default} workers ({rates[default]:,.0f} vs {naive_rate:,.0f} "
        f"rows/s, medians of {REPEAT} and {len(paired)}; {ratios_said(len(paired))}, each pull "
        f"against the naive run just before it); {ratio[eight]:.1f}x with {eight} ({rates[eight]:,.0f} rows/s)",
        ">= 6x with the default workers",
        ratio[default] >= 6,
    )


def store_run(sb: SandboxProcess, n: int) -> Run:
    """The default pull into a fresh temporary store (the honest comparison with a pipeline that persists)."""
    with tempfile.TemporaryDirectory(prefix="ledgerkit-bench-store-") as folder:
        _, run = measure(pull(sb, DEFAULT_WORKERS, store=Store(folder)), sb)
    assert run.rows == n, (run.rows, n)
    return run


def peer_line(rounds: list[Round], n: int) -> None:
    """``peer_dlt``: each round's default pull against the dlt pipeline run just after it, over the same rows."""
    target = ">= 20x"
    missing = peers.dlt_missing()
    if missing:
        report("peer_dlt", f"not measured: {missing}", target, None)
        return
    paired = [rd for rd in rounds if rd.dlt]
    ratios = [rd.pulls[DEFAULT_WORKERS].rate / rd.dlt.rate for rd in paired]
    ratio = middle(ratios)
    low, rate, high = spread([rd.dlt for rd in paired])
    ours = median_run([rd.pulls[DEFAULT_WORKERS] for rd in rounds]).rate
    report(
        "peer_dlt",
        f"{ratio:.1f}x {peers.DESCRIPTION} ({ours:,.0f} vs {rate:,.0f} rows/s, {n:,} rows each; "
        f"{ratios_said(len(paired))} (min {min(ratios):.1f}x, max {max(ratios):.1f}x), each the default "
        f"{DEFAULT_WORKERS}-worker pull against the dlt run right after it; dlt with Parquet load files, "
        f"{low:,.0f}-{high:,.0f} rows/s)",
        target,
        ratio >= 20,
    )


def bound_line(workers: int, rounds: list[Round]) -> None:
    """``pull_vs_bound``: each round's faster pull against min(latency bound, the parse bound measured before it).

    The latency bound is ``workers`` pages per round trip of a lone request,
    timed in the same round (:meth:`Round.latency_bound`); the ratio against
    the bound at the sandbox's sleep alone, which no client can reach (the
    page still has to be built and sent), is given beside it. Both sides are
    a best of 2; the first pull alone against the same bound is given beside
    it too. Ratios are given to a tenth of a percent, so that a median just
    under the target never reads as the target.
    """
    ratios = sorted(rd.vs_bound(workers) for rd in rounds)
    low, mid, high = ratios[0], middle(ratios), ratios[-1]
    single = middle([rd.vs_bound(workers, single=True) for rd in rounds])
    slept = middle([rd.vs_bound(workers, latency=LATENCY) for rd in rounds])
    latency_bound, parse = (
        middle([rd.latency_bound(workers) for rd in rounds]),
        middle([rd.bound(workers) for rd in rounds]),
    )
    pulls = spread([rd.best(workers) for rd in rounds])
    trip = middle([rd.trip for rd in rounds])
    name = "pull_vs_bound" if workers == DEFAULT_WORKERS else f"pull_vs_bound_{workers}_workers"
    which = "the default " if workers == DEFAULT_WORKERS else ""
    report(
        name,
        f"{mid:.1%} of {min(latency_bound, parse):,.0f} rows/s with {which}{workers} workers (latency bound "
        f"{latency_bound:,.0f}: a lone request took {trip * 1000:.0f} ms; parse bound {parse:,.0f}: medians); "
        f"{len(rounds)} runs min / median / max {low:.1%} / {mid:.1%} / {high:.1%}, each the faster of 2 pulls "
        f"against min(its round's latency bound, the parse bound measured just before it, best of 2) ({pulls[0]:,.0f} "
        f"/ {pulls[1]:,.0f} / {pulls[2]:,.0f} rows/s); against the latency bound of the sandbox's "
        f"{LATENCY * 1000:.0f} ms sleep alone ({workers * PAGE / LATENCY:,.0f} rows/s) or the parse bound, the lower, "
        f"the pull reached {slept:.1%}; the first pull alone: {single:.1%}",
        ">= 75%",
        mid >= 0.75,
    )


def client_bound_line(rounds: list[Round]) -> None:
    """``pull_vs_client_bound``: as ``pull_vs_bound``, the parse bound cut to the cores the sandbox left the client.

    The parse bound has both cores to itself; in the pull the sandbox, which
    stands in for a remote server, takes its share of them. No target: it
    says how much of the gap to ``pull_vs_bound``'s target is that share.
    """
    cores = usable_cores()
    parts = []
    for workers in SPREAD_WORKERS:
        runs = [rd.best(workers) for rd in rounds]
        shares = [run.sandbox_cpu / (cores * run.wall) for run in runs]
        ratios = sorted(
            run.rate / min(rd.latency_bound(workers), rd.bound(workers) * (1 - share))
            for run, rd, share in zip(runs, rounds, shares, strict=True)
        )
        parts.append(
            f"{middle(ratios):.0%} ({ratios[0]:.0%}-{ratios[-1]:.0%}) with {workers} workers, the sandbox taking "
            f"{middle(shares):.0%} of the {cores} cores"
        )
    report(
        "pull_vs_client_bound",
        f"{'; '.join(parts)} (each round's faster pull against min(latency bound, its parse bound x the share of the "
        "cores "
        "the sandbox left); median (min-max) of the rounds)",
        NO_TARGET,
        None,
    )


def time_split_line(workers: int, rounds: list[Round]) -> None:
    """``pull_time_split``: the median run's client CPU against what the parse bound spent on the same pages.

    The pull does the bound's work (parse the pages, build the frame) and,
    beside it, receives the pages over HTTP, runs its windows and checks;
    the sandbox serves them on the same cores. The parse bound measured just
    before those pulls is the reference: its CPU and how busy it kept the cores.
    """
    name = "pull_time_split" if workers == DEFAULT_WORKERS else f"pull_time_split_{workers}_workers"
    cores = usable_cores()
    run = median_run([rd.pulls[workers] for rd in rounds])
    parsed = next(rd.parsed[workers] for rd in rounds if rd.pulls[workers] is run)
    busy = (run.client_cpu + run.sandbox_cpu) / (cores * run.wall)
    bound_busy = parsed.client_cpu / (cores * parsed.wall)
    report(
        name,
        f"{workers} workers, median run: {run.wall:.2f} s wall on {cores} cores; client CPU {run.client_cpu:.2f} s = "
        f"{parsed.client_cpu:.2f} s the parse bound spent on the same pages just before (parse and frame) + "
        f"{run.client_cpu - parsed.client_cpu:.2f} s beside it (HTTP receive, windows, checks, contention between "
        f"the threads); sandbox CPU {run.sandbox_cpu:.2f} s; client + sandbox kept {busy:.0%} of the cores busy, "
        f"the parse bound {bound_busy:.0%} ({parsed.wall:.2f} s wall)",
        NO_TARGET,
        None,
    )


def throttled_line() -> tuple[str, str, str, bool]:
    """The default workers against one under the same 429s (every 4th request, ``Retry-After: 0``)."""
    t = throttled.throttled_times()
    return (
        "throttled_pull",
        f"{t['ratio']:.2f}x ({t['workers']} workers {t['default_s']:.2f} s vs 1 worker "
        f"{t['one_s']:.2f} s, {t['rows']:,} rows, 429 on every 4th request; "
        f"{t['requests']} requests)",
        ">= 1.0x",
        t["ratio"] >= 1.0,
    )


def dask_partition(rows: int) -> int:
    """Rows per Dask partition: the store's default for a big store, about 40 partitions for a small one."""
    return 250_000 if rows >= 10_000_000 else max(rows // 40, 1_000)


def main() -> None:
    started = time.perf_counter()
    with SandboxProcess(WORLD, PAGE, LATENCY) as sb:
        pulled = memory_targets(sb)
        bodies = fetch_bodies(sb)
        parse_target(bodies)
        pull_targets(sb, pulled, bodies)
        del bodies
        report(*honest.user_range(sb, DEFAULT_WORKERS, REPEAT))
    report(*honest.cold(WORLD, PAGE, LATENCY, DEFAULT_WORKERS))
    report(*honest.sparse(SPARSE_WORLD, PAGE, LATENCY, DEFAULT_WORKERS, REPEAT))
    report(*honest.burst(BURST_WORLD, PAGE, LATENCY, DEFAULT_WORKERS, REPEAT))
    report(*throttled_line())
    for line in analysis_bench.run(ANALYSIS_ROWS) + sheets_bench.run(SHEET_ROWS, XLSX_ROWS):
        report(*line)
    for line in dask_bench.run(DASK_ROWS, DASK_WORKER_MEMORY, rows_per_partition=dask_partition(DASK_ROWS)):
        report(*line)
    mode = "quick run (BENCH_QUICK=1), " if QUICK else ""
    table = (
        f"# {mode}{pulled:,} transactions pulled (world {WORLD:,}), {ANALYSIS_ROWS:,} statement rows, "
        f"{SHEET_ROWS:,}/{XLSX_ROWS:,} sheet rows, {DASK_ROWS:,} Dask statement rows, workers {WORKERS}, "
        f"default {DEFAULT_WORKERS}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {time.perf_counter() - started:,.0f} s\n"
        + "\n".join(sorted(LINES, key=table_rank))
    )
    print("\n" + "=" * 60 + "\n" + table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"latest{SUFFIX}.txt").write_text(table + "\n")


def chart(rates: dict[int, float], rows: int, parse_bound: float, trip: float) -> None:
    """Rows/s by worker count against min(latency bound at the lone round trip ``trip``, ``parse_bound``)."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ws = sorted(rates)
    ax.plot(ws, [rates[w] for w in ws], "o-", label="load_transactions")
    ax.plot(ws, [min(w * PAGE / trip, parse_bound) for w in ws], "--", label="min(latency, parse) bound")
    ax.set_xlabel("max_workers")
    ax.set_ylabel("rows/s")
    ax.set_title(
        f"load_transactions of {rows:,} rows\n{LATENCY * 1000:.0f} ms latency "
        f"({trip * 1000:.0f} ms a lone round trip), pages of {PAGE:,}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / f"pull_workers{SUFFIX}.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
