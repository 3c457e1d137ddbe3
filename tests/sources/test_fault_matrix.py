"""Every loader against every sandbox fault: no row missing, none doubled, the right error when giving up.

Each cell runs one loader with one fault switched on and records the rows
the server holds (from its world, after the run), the rows returned
(missing, duplicated), the requests the server saw, the retries the loader
counted, the seconds it asked to wait, and the error raised. The table is
shown in pytest's terminal summary and, with ``LEDGERKIT_WRITE_FAULT_MATRIX=1``,
written to ``docs/fault-matrix.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import (
    LedgerkitError,
    PaginationError,
    RateLimitError,
    ReportExpiredError,
    ReportFailedError,
    ReportTimeoutError,
    ServerError,
    TransportError,
)
from ledgerkit.sandbox.server import Sandbox

DOC = Path(__file__).resolve().parents[2] / "docs" / "fault-matrix.md"
LOADERS = ("transactions", "statements", "balance_records")
PAGED, DWH = ("transactions", "statements"), ("balance_records",)
START, END = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
DWH_END = datetime(2025, 2, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Fault:
    name: str
    switches: dict[str, Any]
    loaders: tuple[str, ...] = LOADERS
    error: type[LedgerkitError] | None = None  # None: the pull must end with exactly the server's rows
    reason: str | None = None  # a transient fault: the manifest's retry_reasons must count it
    retries: int | None = None  # the exact number of retries, where the fault fixes it
    downloads: int | None = None  # balance records: file downloads the server must have seen


FAULTS = [
    Fault("none", {}, retries=0),
    Fault("latency 20 ms", {"latency": 0.02}, retries=0),
    Fault("429 every 3rd, Retry-After: 2", {"rate_limit_every": 3, "retry_after": 2}, reason="429"),
    Fault("429 every 3rd, no Retry-After", {"rate_limit_every": 3, "retry_after": None}, reason="429"),
    Fault("429 every 3rd, Retry-After: 0", {"rate_limit_every": 3, "retry_after": 0}, reason="429"),
    Fault("429 always (retries run out)", {"rate_limit_every": 1, "retry_after": 0}, error=RateLimitError),
    Fault("503 bursts of 2", {"error_every": 3, "error_burst": 2}, reason="503"),
    Fault("503 burst longer than the retries", {"error_every": 1, "error_burst": 50}, error=ServerError),
    Fault("connection dropped mid-body", {"drop_every": 3}, reason="transport"),
    Fault("malformed JSON", {"malformed_every": 3}, reason="malformed"),
    Fault("repeated rows across pages", {"repeat_rows": 3}, PAGED),
    Fault("non-advancing cursor", {"stuck_cursor": True}, PAGED, error=PaginationError),
    Fault("rows inserted during paging", {"insert_during_paging": 5}, PAGED),
    Fault("report stuck pending", {"report_stuck": True}, DWH, error=ReportTimeoutError),
    Fault("report failed", {"report_fail": True}, DWH, error=ReportFailedError),
    Fault("file link expired once", {"expired_links": 1}, DWH),
    Fault("file link always expired", {"expired_links": 10}, DWH, error=ReportExpiredError),
    Fault("file download dropped twice", {"download_drop": 2}, DWH, reason="transport", retries=2, downloads=3),
    Fault("file download 503 twice", {"download_errors": 2}, DWH, reason="503", retries=2, downloads=3),
    Fault(
        "file download 429 twice, Retry-After: 0",
        {"download_errors": 2, "download_error_status": 429, "retry_after": 0},
        DWH,
        reason="429",
        retries=2,
        downloads=3,
    ),
    Fault("file download always dropped", {"download_drop": 50}, DWH, error=TransportError, downloads=5),
    Fault("file download always 503", {"download_errors": 50}, DWH, error=ServerError, downloads=5),
]
CELLS = [(f, loader) for f in FAULTS for loader in f.loaders]


@dataclass
class Cell:
    fault: str
    loader: str
    server_rows: int = 0
    rows: int = 0
    missing: int = 0
    duplicated: int = 0
    requests: int = 0
    retries: Any = "-"
    waited: float = 0.0
    expected: str = "exact rows"
    raised: str = "-"
    ok: bool = False
    waits: list[float] = field(default_factory=list)


@pytest.fixture(scope="module")
def sandbox():
    # A report takes 0.2 s: long enough for several polls, so "every 3rd API request" always hits the DWH flow.
    with Sandbox(seed=0, size=200, page_size=20, per_page_default=25, per_page_max=100, report_seconds=0.2) as sb:
        yield sb


class _MatrixReport:
    """A pytest plugin registered once the matrix is complete: prints it in the terminal summary."""

    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section("fault matrix")
        for line in self.text.splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def matrix(request):
    cells: dict[tuple[str, str], Cell] = {}
    yield cells
    if len(cells) == len(CELLS):
        text = render(cells)
        request.config.pluginmanager.register(_MatrixReport(text), "ledgerkit-fault-matrix")
        if os.environ.get("LEDGERKIT_WRITE_FAULT_MATRIX") == "1":
            write_doc(text)


# ------------------------------------------------------------------ what the server holds


def server_keys(sb: Sandbox, loader: str) -> list:
    w = sb.world
    if loader == "transactions":
        shop = w.shops[0]["id"]
        return [
            t["id"] for t in w.transactions if t["shop"]["id"] == shop and START <= pd.Timestamp(t["created_at"]) < END
        ]
    if loader == "statements":
        return [
            (pd.Timestamp(r["created"]), r["type"], int(r["amount"] * 100), int(r["balance_after"] * 100))
            for r in w.statements
            if pd.Timestamp(r["created"]) >= START
        ]
    records, _ = w.balance_records_in(START, DWH_END, "EUR")
    return [r["record_id"] for r in records]


def frame_keys(frame: pd.DataFrame, loader: str) -> list:
    if loader == "transactions":
        return [int(i) for i in frame["id"]]
    if loader == "statements":
        return list(
            zip(
                frame["created"],
                frame["type"].astype(str),
                frame["amount"].astype(int),
                frame["balance_after"].astype(int),
                strict=True,
            )
        )
    return [int(i) for i in frame["record_id"]]


def run(sb: Sandbox, loader: str, policy: RetryPolicy):
    """The loader's frame (or raise); balance records: the records frame and its manifest."""
    kw = dict(progress=False, retry=policy, **sb.kwargs(loader))
    if loader == "transactions":
        df = load_transactions(START, END, **kw)
        return df, df.attrs["ledgerkit"]
    if loader == "statements":
        df = load_statements(since=START.date(), **kw)
        return df, df.attrs["ledgerkit"]
    report = load_balance_records(
        START, DWH_END, currency="EUR", user_id=1, poll_timeout=1.0, poll_interval=(0.01, 0.05), **kw
    )
    return report.records, report.manifest


# ------------------------------------------------------------------ the cells


@pytest.mark.parametrize(("fault", "loader"), CELLS, ids=[f"{f.name}-{loader}" for f, loader in CELLS])
def test_cell(sandbox, matrix, fault: Fault, loader: str):
    cell = Cell(fault.name, loader)
    matrix[(fault.name, loader)] = cell
    cell.expected = fault.error.__name__ if fault.error else "exact rows"
    # Each 429 books its Retry-After (2 s) after the request's earlier waits, and how many 429s in a row one
    # request draws depends on how the concurrent workers' requests interleave: a budget of 5 s was spent by
    # three in a row on a loaded host. The budget is not what these cells test (test_throttling.py does), so
    # it is larger than every 429 the server can send here put end to end.
    policy = RetryPolicy(
        max_retries=4, backoff_base=0.001, backoff_max=0.01, jitter=0.0, throttle_budget=60.0, sleep=cell.waits.append
    )
    sandbox.clear_requests()
    sandbox.set_faults(**fault.switches)
    try:
        frame, manifest = run(sandbox, loader, policy)
    except LedgerkitError as exc:
        cell.raised = type(exc).__name__
        frame, manifest = exc.partial, exc.manifest or {}
    finally:
        sandbox.clear_faults()
    cell.requests = len(sandbox.requests)
    cell.retries = manifest.get("retries", "-")
    cell.waited = round(sum(cell.waits), 3)
    server = server_keys(sandbox, loader)
    got = frame_keys(frame, loader) if frame is not None else []
    cell.server_rows, cell.rows = len(server), len(got)
    cell.duplicated = len(got) - len(set(got))
    cell.missing = len(set(server) - set(got))
    strangers = set(got) - set(server)

    assert not strangers, f"rows the server does not hold: {sorted(strangers)[:5]}"
    assert cell.duplicated == 0
    if fault.error is None:
        assert cell.raised == "-", f"raised {cell.raised}"
        assert cell.missing == 0 and got == sorted(got, key=server.index)
    else:
        assert cell.raised == fault.error.__name__
    if fault.reason is not None:  # the fault fired, and the loader retried because of it
        assert manifest["retry_reasons"].get(fault.reason, 0) > 0, manifest["retry_reasons"]
    if fault.retries is not None:
        assert manifest["retries"] == fault.retries, manifest["retry_reasons"]
    if fault.downloads is not None:  # 1 + the retries of the policy when it never works
        assert sum("/files/" in r.path for r in sandbox.requests) == fault.downloads
    if "Retry-After: 2" in fault.name:
        assert cell.waits.count(2.0) == manifest["retry_reasons"]["429"] > 0  # the server's wish honoured
    cell.ok = True


# ------------------------------------------------------------------ the table


def render(cells: dict[tuple[str, str], Cell]) -> str:
    """Markdown: one table per loader, one row per fault that applies to it."""
    out = []
    for loader in LOADERS:
        out += [
            f"### {loader}",
            "",
            "| fault | expected | server rows | rows | missing | doubled "
            "| requests | retries | waited (s) | raised | ok |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for fault in FAULTS:
            if loader not in fault.loaders:
                continue
            c = cells[(fault.name, loader)]
            out.append(
                f"| {c.fault} | {c.expected} | {c.server_rows} | {c.rows} | {c.missing} | {c.duplicated} | "
                f"{c.requests} | {c.retries} | {c.waited:g} | {c.raised} | {'yes' if c.ok else '**NO**'} |"
            )
        out.append("")
    return "\n".join(out)


HEADER = """# Fault matrix

Generated by `tests/sources/test_fault_matrix.py` (run it with
`LEDGERKIT_WRITE_FAULT_MATRIX=1` to rewrite this file). Each loader is run
against the sandbox with one fault switched on (`ledgerkit.sandbox.faults`);
a cell passes when the pull ends with exactly the rows the server holds --
none missing, none doubled, in the server's order -- or, where giving up is
the right answer, raises the expected `ledgerkit.errors` class (with no
doubled or foreign row in its `.partial`).

- *server rows*: what the sandbox's world holds for the request after the run
  (so rows inserted during paging count); balance records: January 2025, EUR.
- *requests*: as seen by the server (balance records: including polls and the
  file download); *retries*: as counted in the manifest (`-` when the error
  carries none); *waited*: seconds of back-off the loader asked for (the test
  policy records instead of sleeping, so `Retry-After: 2` shows as 2 s per 429).
- Retry policy: 4 retries, back-off 1 ms doubling to 10 ms. Sandbox: seed 0,
  200 transactions, transaction pages of 20, statement pages of 25.
- A transient fault (429, 503, dropped connection, malformed JSON) passes
  only if it fired: the manifest's `retry_reasons` must count retries for
  it (`429`, `503`, `transport`, `malformed`). Cells with *none*, latency
  and the file-download faults must show exactly 0 / 0 / k retries.
- Faults of the DWH report flow (stuck, failed, expired links, and the file
  download faults `download_drop` / `download_errors`, which hit the zip
  download only, never an API request) apply to the balance records loader
  only; repeated rows, a stuck cursor and rows inserted during paging apply
  to the two paginated APIs only. Balance reports take 0.2 s (several polls).

"""


def write_doc(text: str) -> None:
    DOC.write_text(HEADER + text, encoding="utf-8")
