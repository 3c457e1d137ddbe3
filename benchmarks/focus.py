"""A focused pull benchmark: ``python benchmarks/focus.py`` -- rows/s, the time split and the bound, quickly.

The pull lines of :mod:`run` without the rest, for comparing two versions of
the pull in one session on a shared machine: the workers alternate run by
run so that each count sees the same load, and each line gives min / median
/ max over ``FOCUS_REPEAT`` runs. ``FOCUS_ROWS`` (default 100000) rows of
the first shop, ``FOCUS_WORKERS`` (default "1,4,8"), ``FOCUS_PROFILE=N``
also runs ``py-spy`` over one pull with N workers (on-CPU and GIL-holding views,
written under ``benchmarks/results/``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import LATENCY, PAGE, fetch_bodies, middle, parse_bound, pull
from sandbox_proc import SandboxProcess, measure, spread

ROWS = int(os.environ.get("FOCUS_ROWS", "100000"))
REPEAT = int(os.environ.get("FOCUS_REPEAT", "3"))
WORKERS = [int(w) for w in os.environ.get("FOCUS_WORKERS", "1,4,8").split(",")]
PROFILE = int(os.environ.get("FOCUS_PROFILE", "0"))
RESULTS = Path(__file__).resolve().parent / "results"


def profile(sb: SandboxProcess, workers: int) -> None:
    """py-spy over one pull in this process: where the client's threads spend their time."""
    pyspy = Path(sys.executable).parent / "py-spy"
    RESULTS.mkdir(exist_ok=True)
    for extra, name in (([], "cpu"), (["--gil"], "gil")):
        out = RESULTS / f"focus-profile-{workers}w-{name}.txt"
        spy = subprocess.Popen(
            [
                str(pyspy),
                "record",
                "--pid",
                str(os.getpid()),
                "--rate",
                "250",
                "--format",
                "raw",
                "--threads",
                *extra,
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
        )
        threading.Event().wait(1.0)
        pull(sb, workers)()
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        spy.wait()
        print(f"profile {name}: {out}")


def main() -> None:
    with SandboxProcess(ROWS * 9 // 4, PAGE, LATENCY) as sb:
        n = len(pull(sb, 4)())  # warm the sandbox's caches
        bodies = fetch_bodies(sb)
        runs: dict[int, list] = {w: [] for w in WORKERS}
        bounds = []
        for _ in range(REPEAT):
            bounds.append(parse_bound(bodies))
            for w in WORKERS:
                _, run = measure(pull(sb, w), sb)
                assert run.rows == n
                runs[w].append(run)
        bound_rate = middle(bounds)
        for w in WORKERS:
            low, mid, high = spread(runs[w])
            bound = min(w * PAGE / LATENCY, bound_rate)
            split = sorted(runs[w], key=lambda r: r.rate)[(len(runs[w]) - 1) // 2]
            print(
                f"{w} workers: {low:,.0f} / {mid:,.0f} / {high:,.0f} rows/s; {mid / bound:.0%} of {bound:,.0f} "
                f"(min {low / bound:.0%} max {high / bound:.0%}); median run {split.wall:.2f} s wall, client CPU "
                f"{split.client_cpu:.2f} s, sandbox CPU {split.sandbox_cpu:.2f} s",
                flush=True,
            )
        if PROFILE:
            profile(sb, PROFILE)
    print(
        f"{n:,} rows, parse bound {bound_rate:,.0f} rows/s (median of {len(bounds)}: "
        f"{', '.join(f'{b:,.0f}' for b in bounds)})"
    )


if __name__ == "__main__":
    main()
