"""``ledgerkit report`` / ``make demo``: five executed notebooks, five self-contained HTML, a summary.

One run of :func:`ledgerkit.app.report.run_report` against the sandbox (papermill
executes the five notebooks, each starting its own sandbox) is shared by the
tests of this module.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import nbformat
import pytest

from ledgerkit.app.report import NOTEBOOKS, run_report

ROOT = Path(__file__).resolve().parents[2]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_NOTEBOOKS = ("02_fees", "03_balance", "04_payouts")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """(exit code, printed text, output folder) of one ``run_report`` against the sandbox."""
    out = tmp_path_factory.mktemp("reports")
    capture = pytest.MonkeyPatch()
    # the kernels import this checkout's ledgerkit, installed or not
    capture.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = run_report(out=out)
    finally:
        capture.undo()
    return code, printed.getvalue(), out


def test_every_notebook_ran(report):
    code, printed, _ = report
    assert code == 0, printed
    for name in NOTEBOOKS:
        assert re.search(rf"^  {name}: ok in \d+\.\d s$", printed, re.MULTILINE), printed


def test_five_notebooks_and_five_html(report):
    _, printed, out = report
    assert sorted(p.name for p in out.glob("*.ipynb")) == [f"{n}.ipynb" for n in NOTEBOOKS]
    assert sorted(p.name for p in out.glob("*.html")) == [f"{n}.html" for n in NOTEBOOKS]
    for name in NOTEBOOKS:
        assert f"  {out / name}.html" in printed


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executed_without_errors(report, name):
    _, _, out = report
    nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert nb.metadata["papermill"]["parameters"] == {"source": "sandbox"}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_html_is_self_contained_with_figures(report, name):
    _, _, out = report
    html = (out / f"{name}.html").read_text(encoding="utf-8")
    nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert figures >= 1
    assert html.count("data:image/png;base64,") >= figures
    assert not re.search(r"<img[^>]+src=\"(?!data:)", html), "an image linked, not embedded"
    assert "<table" in html


@pytest.mark.parametrize("name", WIDGET_NOTEBOOKS)
def test_widget_notebooks_carry_widget_state(report, name):
    _, _, out = report
    nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    assert any(model["model_name"] == "DatePickerModel" for model in state.values())
    html = (out / f"{name}.html").read_text(encoding="utf-8")
    assert f'<script type="{WIDGET_STATE}">' in html
    assert "application/vnd.jupyter.widget-view+json" in html


def test_the_summary_has_its_sections(report):
    _, printed, _ = report
    assert "ledgerkit sandbox summary, 2025-01-01 to 2025-04-01 (seed 0)" in printed
    for section in ("Rows loaded", "Fees and effective rate", "Balance checks", "Payouts"):
        assert re.search(rf"^{section}", printed, re.MULTILINE), section
    assert "open balance, not paid out yet:" in printed
    assert "Summary skipped" not in printed
