"""Analysis larger than memory: 50,000,000 statement rows on a LocalCluster against DuckDB on the same Parquet.

``run(rows)`` (called by ``benchmarks/run.py``; ``python benchmarks/dask_bench.py [--quick]`` alone):

1. writes a store of ``rows`` statement rows straight to Parquet (the
   planted lost rows generated on top, so that ``rows`` are stored) -- a
   chunk of 250,000 rows at a time with pyarrow, never the whole frame
   in pandas -- in the store's own layout (one account, parts by month, a
   JSON state listing them): chained balances over 2025, sales of an
   ``INCOME``, a ``TRX_FEE`` and its ``VAT`` line, daily payouts (so a
   payout spans a month's end), a few refunds, and seven of each planted
   fault (a wrong amount, a lost row);
2. starts a ``LocalCluster`` of 2 worker processes, 1 thread each, each with
   a memory limit smaller than what pandas needs for the frame (printed:
   pandas' bytes, estimated from one chunk, and the limit);
3. runs ``roll_forward``, ``check_balances``, ``payout_groups`` and
   ``fee_breakdown(by="fee_type")`` on ``Store.dask("statements")``,
   sampling each worker's memory (peak printed per worker);
4. runs the same four aggregations in DuckDB on the same Parquet files (2
   threads) as the reference, and asserts the results equal: the
   roll-forward's activity, rows and closing per month; the breaks'
   positions and kinds; each payout's sums, paid out and residual; each
   fee type's count, fee and attached VAT.

Target: the four on Dask within 5x DuckDB's time. Lines are
``(name, value, target, ok)`` as in the other benchmark modules. Environment:
``BENCH_DASK_ROWS`` (default 50,000,000; quick 200,000),
``BENCH_DASK_WORKER_MEMORY`` (bytes per worker; default 1.5 GiB, quick
512 MiB).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ledgerkit as lk
from ledgerkit.store.files import server_of

CHUNK = 250_000  # rows generated (and written as one part per month) at a time
ACCOUNT = "bench-shop"
SERVER = "https://bench.invalid"
STREAM = "0123456789abcdef"
YEAR_NS = 365 * 86_400 * 10**9
START_NS = pd.Timestamp("2025-01-01", tz="UTC").value
TYPES = ("INCOME", "TRX_FEE", "VAT", "PAYOUT", "REFUND")
GIB = 1024**3


# ---------------------------------------------------------------- the store


def _template() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": pd.Series([], dtype="str"),
            "created": pd.Series([], dtype="datetime64[ns, UTC]"),
            "type": pd.Categorical([], categories=list(TYPES)),
            "amount": pd.Series([], dtype="Int64"),
            "balance_before": pd.Series([], dtype="Int64"),
            "balance_after": pd.Series([], dtype="Int64"),
            "currency": pd.Categorical([], categories=["EUR"]),
            "transaction_id": pd.Series([], dtype="str"),
            "channel": pd.Categorical([], categories=["bank", "card"]),
            "payout_id": pd.Series([], dtype="str"),
        }
    )


def _day(index: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's time (whole seconds over 2025) and day number.

    Each chunk of rows starts on a new second: the store cuts a month into
    partitions only between parts whose times are apart (a month left whole
    would be a partition of 4 million rows).
    """
    per_chunk = YEAR_NS // 10**9 * CHUNK // rows  # the whole seconds a chunk spans
    created = START_NS + (index // CHUNK * per_chunk + index % CHUNK * per_chunk // CHUNK) * 10**9
    return created, (created - START_NS) // (86_400 * 10**9)


def _chunk(first: int, count: int, rows: int, balance: int, schema: pa.Schema) -> tuple[pa.Table, np.ndarray, int]:
    """Rows ``first .. first + count``: the table (planted faults applied), their months, the balance after."""
    import pyarrow.compute as pc

    index = np.arange(first, first + count, dtype="int64")
    created, day = _day(index, rows)
    _, day_before = _day(np.maximum(index - 1, 0), rows)
    rng = np.random.default_rng(first)
    sale = index // 3
    kind = (index % 3).astype("int8")  # INCOME, TRX_FEE, VAT of one sale
    kind[(index % 997 == 0) & (kind == 0)] = 4  # now and then a refund
    kind[(day != day_before) & (day > 0)] = 3  # each day opens with the payout of the day before
    gross = rng.integers(500, 50_000, count)
    amount = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 4, kind == 3],
        [gross, -(gross // 40), -(gross // 200), -(gross // 2), -rng.integers(10**6, 3 * 10**6, count)],
    )
    after = balance + np.cumsum(amount)
    before = after - amount
    every = fault_every(rows)
    amount = amount + (index % every == every // 2)  # a wrong amount: both balances hold
    kept = index % every != every - 5  # a lost row: the next one does not chain
    payout_day = np.where(kind == 3, day - 1, day)
    unpaid = (day >= 358) & (kind != 3)  # the last week is the open balance

    def text(prefix: str, values: np.ndarray) -> pa.Array:
        return pc.binary_join_element_wise(prefix, pa.array(values).cast(pa.string()), "")

    table = pa.Table.from_arrays(
        [
            text("r", index),
            pa.array(created, pa.timestamp("ns", "UTC")),
            pa.DictionaryArray.from_arrays(pa.array(kind), pa.array(TYPES)),
            pa.array(amount),
            pa.array(before),
            pa.array(after),
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, "int8")), pa.array(["EUR"])),
            pc.if_else(pa.array(kind == 3), pa.nulls(count, pa.string()), text("t", sale)),
            pa.DictionaryArray.from_arrays(pa.array((sale % 2).astype("int8")), pa.array(["bank", "card"])),
            pc.if_else(pa.array(unpaid), pa.nulls(count, pa.string()), text("P", payout_day)),
        ],
        schema=schema,
    )
    months = np.asarray(pd.DatetimeIndex(created).tz_localize("UTC").strftime("%Y-%m"))
    return table.filter(pa.array(kept)), months[kept], int(after[-1]) if count else balance


def fault_every(rows: int) -> int:
    """One wrong amount and one lost row in every this many rows (seven of each)."""
    return max(rows // 7, 1_001)


def lost_rows(generated: int) -> int:
    """How many of ``generated`` rows are planted lost rows (never stored)."""
    every = fault_every(generated)
    return max(0, -(-(generated - (every - 5)) // every))


def generated_rows(rows: int) -> int:
    """How many rows to generate so that ``rows`` are stored once the lost rows are dropped."""
    generated = rows
    while generated - lost_rows(generated) < rows:
        generated = rows + lost_rows(generated)
    return generated


def write_store(root: Path, rows: int) -> dict[str, Any]:
    """``rows`` statement rows (the lost rows generated on top) as a store of one account, parts by month."""
    schema = pa.Schema.from_pandas(_template(), preserve_index=False)
    server = lk.Store(root)._server_dir("statements", ACCOUNT, server_of(SERVER))
    parts, seq, balance, written = [], 0, 10**9, 0
    generated = generated_rows(rows)
    for first in range(0, generated, CHUNK):
        table, months, balance = _chunk(first, min(CHUNK, generated - first), generated, balance, schema)
        for month in pd.unique(months):
            seq += 1
            relative = f"month={month}/{STREAM}-{seq:06d}.parquet"
            (server / relative).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.filter(pa.array(months == month)), server / relative)
            parts.append(relative)
        written += table.num_rows
    state = {
        "key": {"source": "statements", "account": ACCOUNT, "server": server_of(SERVER)},
        "parts": parts,
        "seq": seq,
        "per_page": 1000,
        "next_page": None,
        "pages_done": True,
        "complete": True,
        "total": written,
        "refreshed_at": "2026-01-01T00:00:00+00:00",
    }
    (server / "_streams").mkdir(parents=True, exist_ok=True)
    (server / "_streams" / f"{STREAM}.json").write_text(json.dumps(state))
    return {"rows": written, "parts": [str(server / p) for p in parts]}


def pandas_bytes(rows: int) -> int:
    """What the whole frame would take in pandas, from one chunk read back as the store reads it."""
    sample = min(rows, CHUNK)
    table, _, _ = _chunk(0, sample, rows, 0, pa.Schema.from_pandas(_template(), preserve_index=False))
    frame = table.to_pandas()
    return int(frame.memory_usage(deep=True, index=False).sum() * rows / max(len(frame), 1))


# ---------------------------------------------------------------- the reference


def _duckdb(files: list[str]) -> tuple[dict[str, pd.DataFrame], float]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    listed = ", ".join(f"'{f}'" for f in files)
    con.execute(f"""CREATE VIEW s AS SELECT *, row_number() OVER (ORDER BY file_index, file_row_number) - 1 AS pos
                    FROM (SELECT *, list_position([{listed}], filename) AS file_index
                          FROM read_parquet([{listed}], filename = true, file_row_number = true))""")
    queries = {
        "roll_forward": """
            SELECT date_trunc('month', created) AS period, count(*) AS rows,
                   sum(amount) FILTER (type = 'INCOME') AS income,
                   sum(amount) FILTER (type = 'TRX_FEE') AS fees, sum(amount) FILTER (type = 'VAT') AS vat,
                   sum(amount) FILTER (type = 'REFUND') AS refunds, sum(amount) FILTER (type = 'PAYOUT') AS payouts,
                   arg_max(balance_after, pos) AS reported_closing
            FROM s GROUP BY ALL ORDER BY period""",
        "check_balances": """
            SELECT pos, CASE WHEN balance_before <> prev THEN 'chain_break' ELSE 'amount_mismatch' END AS kind
            FROM (SELECT pos, amount, balance_before, balance_after,
                         lag(balance_after) OVER (ORDER BY pos) AS prev FROM s)
            WHERE balance_before <> prev OR balance_after - balance_before <> amount ORDER BY pos""",
        "payout_groups": """
            SELECT payout_id, count(*) FILTER (type <> 'PAYOUT') AS rows,
                   coalesce(sum(amount) FILTER (type = 'INCOME'), 0) AS income,
                   coalesce(sum(amount) FILTER (type = 'TRX_FEE'), 0) AS trx_fee,
                   coalesce(sum(amount) FILTER (type = 'VAT'), 0) AS vat,
                   coalesce(sum(amount) FILTER (type = 'REFUND'), 0) AS refunds,
                   -sum(amount) FILTER (type = 'PAYOUT') AS paid_out
            FROM s GROUP BY payout_id ORDER BY payout_id NULLS LAST""",
        "fee_breakdown": """
            SELECT fee_type, count(*) AS count, -sum(amount) AS fee, -sum(vat) AS vat FROM (
                SELECT type AS fee_type, amount,
                       CASE WHEN lead(type) OVER w = 'VAT' AND lead(transaction_id) OVER w = transaction_id
                            THEN lead(amount) OVER w ELSE 0 END AS vat
                FROM s WINDOW w AS (ORDER BY pos)) WHERE fee_type = 'TRX_FEE'
                GROUP BY fee_type
            UNION ALL SELECT 'VAT', count(*), -sum(amount), NULL FROM s WHERE type = 'VAT'""",
    }
    out, started = {}, time.perf_counter()
    for name, sql in queries.items():
        out[name] = con.execute(sql).df()
    return out, time.perf_counter() - started


def _equal(name: str, got: pd.DataFrame, ref: pd.DataFrame) -> None:
    """The Dask result against DuckDB's, on the columns both compute."""
    if name == "roll_forward":
        mine = got[["rows", "income", "fees", "vat", "refunds", "payouts", "reported_closing"]].astype("int64")
        theirs = ref[list(mine.columns)].fillna(0).astype("int64")
    elif name == "check_balances":
        mine, theirs = (
            got[["position", "kind"]].astype({"position": "int64", "kind": str}),
            ref.rename(columns={"pos": "position"}).astype({"position": "int64", "kind": str}),
        )
    elif name == "payout_groups":
        mine = got[["rows", "income", "trx_fee", "vat", "refunds", "paid_out"]].astype("float64")
        mine.index = got["payout_id"].fillna("").to_numpy()
        theirs = ref.set_index(ref["payout_id"].fillna("").to_numpy())[list(mine.columns)].astype("float64")
        theirs = theirs.loc[mine.index]
    else:
        mine = got.set_index("fee_type")[["count", "fee", "vat"]].astype("float64").sort_index()
        theirs = ref.set_index("fee_type")[["count", "fee", "vat"]].astype("float64").sort_index()
    np.testing.assert_array_equal(mine.to_numpy(), theirs.to_numpy(), err_msg=f"{name}: Dask and DuckDB differ")


# ---------------------------------------------------------------- the cluster


class _Peaks(threading.Thread):
    """Each worker's largest memory (bytes) seen while the analysis runs."""

    def __init__(self, client: Any) -> None:
        super().__init__(daemon=True)
        self.client, self.peaks, self.done = client, {}, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                for worker, rss in self.client.run(_rss).items():
                    self.peaks[worker] = max(self.peaks.get(worker, 0), rss)
            except Exception:  # noqa: BLE001 - a worker restarting: sample again
                pass
            self.done.wait(0.2)


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _analyses(frame: Any) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    calls = {
        "roll_forward": lambda: lk.roll_forward(frame, freq="M"),
        "check_balances": lambda: lk.check_balances(frame),
        "payout_groups": lambda: lk.payout_groups(frame),
        "fee_breakdown": lambda: lk.fee_breakdown(frame, by="fee_type"),
    }
    results, times = {}, {}
    for name, call in calls.items():
        started = time.perf_counter()
        results[name] = call()
        times[name] = time.perf_counter() - started
    return results, times


def run(
    rows: int = 50_000_000, worker_memory: int = int(1.5 * GIB), rows_per_partition: int = 250_000
) -> list[tuple[str, str, str, bool]]:
    """The lines of the Dask target: store size, memory, time against DuckDB, peak memory per worker."""
    import dask
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory(prefix="ledgerkit-dask-bench-") as root:
        started = time.perf_counter()
        store = write_store(Path(root), rows)
        written = time.perf_counter() - started
        frame_bytes = pandas_bytes(store["rows"])
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                memory_limit=worker_memory,
            ) as cluster,
            Client(cluster) as client,
        ):
            frame = lk.Store(root).dask("statements", rows_per_partition=rows_per_partition)
            peaks = _Peaks(client)
            peaks.start()
            with dask.config.set(scheduler=client.get):
                results, times = _analyses(frame)
            peaks.done.set()
            peaks.join()
        reference, reference_time = _duckdb(store["parts"])
    for name, result in results.items():
        _equal(name, result, reference[name])
    total = sum(times.values())
    ratio = total / reference_time
    split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    peak = ", ".join(f"{value / GIB:.2f} GiB" for value in sorted(peaks.peaks.values()))
    return [
        (
            "dask_store_rows",
            f"{store['rows']:,} statement rows in {len(store['parts'])} Parquet parts, "
            f"{frame.npartitions} partitions, written in {written:.0f} s",
            ">= 50,000,000 rows",
            store["rows"] >= 50_000_000,
        ),
        (
            "dask_worker_memory",
            f"limit {worker_memory / GIB:.2f} GiB per worker; pandas needs {frame_bytes / GIB:.2f} "
            f"GiB for the frame (from one chunk)",
            "limit < pandas",
            worker_memory < frame_bytes,
        ),
        (
            "dask_vs_duckdb",
            f"{ratio:.1f}x DuckDB's time ({total:.1f} s vs {reference_time:.1f} s; {split}); results equal",
            "<= 5x",
            ratio <= 5,
        ),
        (
            "dask_peak_worker_memory",
            f"{peak} (2 workers, 1 thread each)",
            f"<= {worker_memory / GIB:.2f} GiB",
            bool(peaks.peaks) and max(peaks.peaks.values()) <= worker_memory,
        ),
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:] or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    rows = int(os.environ.get("BENCH_DASK_ROWS", str(200_000 if quick else 50_000_000)))
    memory = int(os.environ.get("BENCH_DASK_WORKER_MEMORY", str(512 * 1024**2 if quick else int(1.5 * GIB))))
    partition = 250_000 if rows >= 10_000_000 else max(rows // 40, 1_000)
    for name, value, target, ok in run(rows, memory, rows_per_partition=partition):
        print(f"{name}: {value} ({target}){'' if ok else ' MISSED'}")


if __name__ == "__main__":
    main()
