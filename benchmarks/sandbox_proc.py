"""The sandbox in a process of its own, and what its CPU and the client's cost during a measured call.

Serving runs in ``python -m ledgerkit.sandbox`` so that it does not share
the measuring process's GIL; the two still share the machine's cores, which
is why :func:`measure` reads the sandbox process's CPU time as well as the
client's.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """``python -m ledgerkit.sandbox`` on a free port, serving a world of ``size`` transactions.

    Use as a context manager; ``kw`` are the loader's keyword arguments
    (``base_url``, ``shop_id``, ``secret_key``, ``progress=False``) for the
    first shop, the one the benchmark pulls.
    """

    def __init__(self, size: int, page: int, latency: float, shape: str = "uniform") -> None:
        self.size, self.page, self.latency, self.shape = size, page, latency, shape
        self.proc: subprocess.Popen | None = None
        self.url = self.user = self.secret = ""

    def __enter__(self) -> SandboxProcess:
        port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledgerkit.sandbox",
                "--port",
                str(port),
                "--size",
                str(self.size),
                "--page-size",
                str(self.page),
                "--latency",
                str(self.latency),
                "--shape",
                self.shape,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for line in self.proc.stdout:
            m = re.match(r"\s+transactions\s+(\S+) : (\S+)", line)
            if m:
                self.user, self.secret = m.groups()
            if line.startswith("Ctrl-C"):
                break
        if self.proc.poll() is not None or not self.user:
            raise RuntimeError(f"the sandbox process did not start (exit status {self.proc.poll()})")
        self.url = f"http://127.0.0.1:{port}/gateway"
        self._ps = psutil.Process(self.proc.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc.stdout.close()

    @property
    def kw(self) -> dict[str, Any]:
        return {"base_url": self.url, "shop_id": self.user, "secret_key": self.secret, "progress": False}

    def cpu_seconds(self) -> float:
        """User + system CPU time the sandbox process has used so far."""
        times = self._ps.cpu_times()
        return times.user + times.system


@dataclass(frozen=True)
class Run:
    """One measured call: rows it returned, wall time, and CPU of the client and of the sandbox."""

    rows: int
    wall: float
    client_cpu: float
    sandbox_cpu: float

    @property
    def rate(self) -> float:
        return self.rows / self.wall


def measure(fn: Callable[[], Any], sandbox: SandboxProcess) -> tuple[Any, Run]:
    """``fn()`` (a pull returning a frame) and its :class:`Run`."""
    sandbox_before, cpu_before, start = sandbox.cpu_seconds(), time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - start
    run = Run(len(out), wall, time.process_time() - cpu_before, sandbox.cpu_seconds() - sandbox_before)
    return out, run


def runs_of(fn: Callable[[], Any], sandbox: SandboxProcess, repeat: int) -> list[Run]:
    """``repeat`` measured runs of ``fn`` (their results dropped)."""
    return [measure(fn, sandbox)[1] for _ in range(repeat)]


def median_run(runs: list[Run]) -> Run:
    """The run of median rate (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[(len(ordered) - 1) // 2]


def spread(runs: list[Run]) -> tuple[float, float, float]:
    """(min, median, max) rows/s over ``runs`` (the median is :func:`median_run`'s)."""
    rates = [r.rate for r in runs]
    return min(rates), median_run(runs).rate, max(rates)
