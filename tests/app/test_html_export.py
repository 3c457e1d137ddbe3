"""Offline HTML export: the widget manager inlined, one parameters cell, a title that names report and period."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ledgerkit.app.html_export import (
    export_html,
    merge_parameters,
    period_label,
    report_title,
    widget_manager_script,
)

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def notebook(*, injected: bool = True, widgets: bool = False) -> nbformat.NotebookNode:
    parameters = new_code_cell(
        '# Parameters (papermill)\nsource = "sandbox"\nperiod_start = "2025-03-01"  # first day\n'
        'period_end = "2025-04-01"',
        metadata={"tags": ["parameters"]},
    )
    cells = [new_markdown_cell("# 03 · Balance: does it chain?\n\ntext"), parameters]
    if injected:
        cells.append(
            new_code_cell('# Parameters\nsource = "env"\nmonths = 2\n', metadata={"tags": ["injected-parameters"]})
        )
    cells.append(new_code_cell("1 + 1"))
    nb = new_notebook(cells=cells)
    if widgets:
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": {}, "version_major": 2, "version_minor": 0}}
    return nb


def test_the_injected_values_replace_the_defaults_in_one_parameters_cell():
    merged = merge_parameters(notebook())
    sources = [c.source for c in merged.cells if c.cell_type == "code"]
    assert len(sources) == 2 and not any("injected-parameters" in c.metadata.get("tags", []) for c in merged.cells)
    assert sources[0].splitlines() == [
        "# Parameters (papermill)",
        "source = 'env'  # set by this run",
        'period_start = "2025-03-01"  # first day',
        'period_end = "2025-04-01"',
        "months = 2  # set by this run",
    ]
    assert merge_parameters(notebook(injected=False)).cells[1].source.count("set by this run") == 0


def test_the_title_names_the_report_the_period_and_the_source():
    assert report_title(merge_parameters(notebook())) == "03 · Balance — 2025-03"
    assert report_title(notebook(injected=False)) == "03 · Balance — 2025-03 (sandbox)"
    assert period_label("2025-03-10", "2025-03-17") == "2025-03-10 to 2025-03-16"


def test_the_page_is_complete_offline(tmp_path):
    path = tmp_path / "report.html"
    title = export_html(_write(tmp_path, notebook(widgets=True)), path)
    html = path.read_text(encoding="utf-8")
    assert f"<title>{title}</title>" in html
    assert html.count(widget_manager_script()[:200]) == 1  # inlined, once
    assert re.findall(r"<script[^>]*src=\"([^\"]*)\"", html) == ["./"]  # the one non-running marker
    assert "text/x-ledgerkit-assets" in html and "MathJax.Hub.Config" not in html and "cdnjs" not in html
    plain = tmp_path / "plain.html"
    export_html(_write(tmp_path, notebook()), plain)
    assert "_jupyter_widget_embedder" not in plain.read_text(encoding="utf-8")  # no widgets, no manager


def _write(folder, nb):
    path = folder / "nb.ipynb"
    nbformat.write(nb, path)
    return path
