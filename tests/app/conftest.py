"""The one report run shared by tests/app: ``run_report`` against the sandbox, once per session."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def report_run(tmp_path_factory):
    """(exit code, printed text, output folder) of one ``run_report`` (five reports and the close pack)."""
    from ledgerkit.app.report import run_report

    out = tmp_path_factory.mktemp("reports")
    env = pytest.MonkeyPatch()
    # the kernels import this checkout's ledgerkit, installed or not
    env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = run_report(out=out)
    finally:
        env.undo()
    return code, printed.getvalue(), out
