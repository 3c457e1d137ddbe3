"""The one report run shared by tests/app: ``run_report`` against the sandbox, once per test run.

Once per run even under pytest-xdist (``make test`` runs ``-n auto``): the
first worker to need it runs it under a file lock in the run's shared temp
folder and leaves its result there; the others wait for the lock and read it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]


def _run_report(out: Path) -> tuple[int, str]:
    """(exit code, printed text) of ``run_report(out=out)``."""
    from ledgerkit.app.report import run_report

    env = pytest.MonkeyPatch()
    # the kernels import this checkout's ledgerkit, installed or not
    env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = run_report(out=out)
    finally:
        env.undo()
    return code, printed.getvalue()


@pytest.fixture(scope="session")
def report_run(tmp_path_factory):
    """(exit code, printed text, output folder) of one ``run_report`` (five reports and the close pack)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # not under xdist
        out = tmp_path_factory.mktemp("reports")
        return (*_run_report(out), out)
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker of this run
    out, done = shared / "reports", shared / "reports.json"
    with FileLock(str(shared / "reports.lock")):
        if not done.is_file():
            out.mkdir(exist_ok=True)  # a worker whose report run failed may have made it
            code, printed = _run_report(out)
            done.write_text(json.dumps([code, printed]), encoding="utf-8")
    code, printed = json.loads(done.read_text(encoding="utf-8"))
    return code, printed, out
