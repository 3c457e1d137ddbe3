"""Two versions of ledgerkit pulling from one sandbox process, run by run in turn: ``python benchmarks/ab.py A B``.

``A`` and ``B`` are source trees (folders holding ``ledgerkit/``); each pull
runs in a fresh process of that tree against the same sandbox, and the
versions alternate so that both see the same machine. Prints per version
and worker count min / median / max rows/s and the median run's time split
(wall, client CPU, sandbox CPU). ``AB_ROWS`` (default 100000),
``AB_REPEAT`` (5), ``AB_WORKERS`` ("1,4,8"), ``AB_LATENCY`` (0.05 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox_proc import Run, SandboxProcess, median_run, spread

ROWS = int(os.environ.get("AB_ROWS", "100000"))
REPEAT = int(os.environ.get("AB_REPEAT", "5"))
WORKERS = [int(w) for w in os.environ.get("AB_WORKERS", "1,4,8").split(",")]
LATENCY, PAGE = float(os.environ.get("AB_LATENCY", "0.05")), 1000

CHILD = """
import json, sys, time
import ledgerkit as lk
kw = json.loads(sys.argv[1])
workers = kw.pop("workers")
start, cpu = time.perf_counter(), time.process_time()
df = lk.load_transactions("2025-01-01", "2025-04-01", payment_method_type=("credit_card", "alternative"),
                          max_workers=workers, **kw)
print(json.dumps({"rows": len(df), "wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""


def one(tree: str, sb: SandboxProcess, workers: int) -> Run:
    """One pull in a fresh process of ``tree``; the sandbox's CPU over the whole child (its start is idle)."""
    before = sb.cpu_seconds()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({**sb.kw, "workers": workers})],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": tree},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return Run(got["rows"], got["wall"], got["cpu"], sb.cpu_seconds() - before)


def main() -> None:
    trees = sys.argv[1:]
    with SandboxProcess(ROWS * 9 // 4, PAGE, LATENCY) as sb:
        one(trees[0], sb, 4)  # warm the sandbox's caches
        runs: dict[tuple[str, int], list[Run]] = {(t, w): [] for t in trees for w in WORKERS}
        for _ in range(REPEAT):
            for w in WORKERS:
                for t in trees:
                    runs[t, w].append(one(t, sb, w))
    for w in WORKERS:
        for t in trees:
            rs = runs[t, w]
            low, mid, high = spread(rs)
            m = median_run(rs)
            bound = w * PAGE / LATENCY
            print(
                f"{w} workers {t}: {low:,.0f} / {mid:,.0f} / {high:,.0f} rows/s "
                f"({mid / bound:.0%} of the latency bound {bound:,.0f}); "
                f"median run {m.wall:.2f} s wall, client CPU {m.client_cpu:.2f} s, "
                f"sandbox CPU {m.sandbox_cpu:.2f} s, {m.rows:,} rows",
                flush=True,
            )


if __name__ == "__main__":
    main()
