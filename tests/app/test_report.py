"""``ledgerkit report`` / ``make demo``: five executed notebooks, five self-contained HTML, a close pack, a summary.

One run of :func:`ledgerkit.app.report.run_report` against the sandbox (papermill
executes the five notebooks, each starting its own sandbox) is shared by the
tests of this module and the browser tests (``report_run`` in conftest.py).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from ledgerkit.app.report import NOTEBOOKS

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_NOTEBOOKS = ("02_fees", "03_balance", "04_payouts")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(report_run):
    """(exit code, printed text, output folder) of the session's one ``run_report`` (tests/app/conftest.py)."""
    return report_run


def test_every_notebook_ran(report):
    code, printed, _ = report
    assert code == 0, printed
    for name in NOTEBOOKS:
        assert re.search(rf"^  {name}: ok in \d+\.\d s$", printed, re.MULTILINE), printed


def test_five_notebooks_and_five_html(report):
    _, printed, out = report
    assert sorted(p.name for p in out.glob("*.ipynb")) == [f"{n}.ipynb" for n in NOTEBOOKS]
    assert sorted(p.name for p in out.glob("*.html")) == [f"{n}.html" for n in NOTEBOOKS] + ["close-2025-03.html"]
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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_html_asks_nothing_of_the_network(report, name):
    _, _, out = report
    html = (out / f"{name}.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=\"(?!\./\")", html), "a script loaded from elsewhere"
    styles = "".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.S))
    assert not re.search(r"<link[^>]+href=", html) and "url(http" not in styles and "@import" not in styles
    assert "cdnjs" not in html and "MathJax.Hub.Config" not in html  # (embed.js names a CDN it never uses here)
    if name in WIDGET_NOTEBOOKS:  # the widget manager inlined, once
        assert html.count("please see embed.js.LICENSE.txt") == 1


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_parameters_cell_holding_the_run_s_values(report, name):
    _, _, out = report
    html = (out / f"{name}.html").read_text(encoding="utf-8")
    assert html.count("Parameters (papermill)") == 1 and "injected-parameters" not in html
    assert "set by this run" in html  # source = 'sandbox', as papermill injected it


def test_the_close_pack_is_written_beside_the_reports(report):
    _, printed, out = report
    assert "Close pack 2025-03: GREEN" in printed
    for suffix in (".xlsx", ".html"):
        path = out / f"close-2025-03{suffix}"
        assert path.exists() and f"  {path}" in printed
