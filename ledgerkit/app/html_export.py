"""Executed report notebook -> one HTML file that opens anywhere, with no network.

:func:`export_html` writes JupyterLab's HTML of an executed notebook with
everything inside the file: figures as embedded PNG, and for the notebooks
with explorers the saved widget state *and* the widget manager that draws it
(the vendored ``@jupyter-widgets/html-manager`` ``embed.js``, see
``_vendor/html-manager/README.md``). Opened from disk, the page asks nothing
of the network: no require.js, no CDN, no MathJax.

Two things a reader would otherwise trip over are folded away: papermill's
injected parameters cell (its values replace the defaults in the notebook's
own ``parameters`` cell, so there is one ``# Parameters`` cell) and the page
title (``02 · Fees — 2025-01 to 2025-03 (sandbox)``, not ``Notebook``).

Examples
--------
>>> period_label("2025-01-01", "2025-04-01"), period_label("2025-03-01", "2025-04-01")
('2025-01 to 2025-03', '2025-03')
>>> period_label("2025-01-06", "2025-01-20")
'2025-01-06 to 2025-01-19'
"""

from __future__ import annotations

import ast
import copy
import functools
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["export_html", "report_title", "period_label", "merge_parameters", "widget_manager_script", "REPORT_CSS"]

_HERE = Path(__file__).resolve().parent
_VENDOR = _HERE / "_vendor" / "html-manager"
_TEMPLATES = _HERE / "templates"
_INJECTED = "injected-parameters"

#: Table styling of the reports (``body`` first: it must win over JupyterLab's
#: own rules, which come later in the page): tables read at a 1280 px window (smaller
#: type, tight cells, numbers in tabular figures) without a scrollbar. Cells
#: wrap only at spaces (a time may take two lines, an amount never does) and
#: headers also after ``_`` and ``.`` (:func:`ledgerkit.viz.display.table_html`).
REPORT_CSS = """
body .jp-RenderedHTMLCommon table, body .widget-output table {
  font-size: 12px;
  font-variant-numeric: tabular-nums;
  table-layout: auto;
  border-collapse: collapse;
}
body .jp-RenderedHTMLCommon td, body .jp-RenderedHTMLCommon th,
body .widget-output td, body .widget-output th {
  padding: 0.25em 0.35em;
}
body .jp-RenderedHTMLCommon th, body .widget-output th { vertical-align: bottom; }
body .widget-output td, body .widget-output th { text-align: right; }
body .widget-output th { border-bottom: 1px solid #bdbdbd; }
body .widget-output .ledgerkit-note { color: #555; font-size: 12px; margin: 0.3em 0; }
"""


@functools.lru_cache(maxsize=1)
def widget_manager_script() -> str:
    """The vendored widget manager (``embed.js``), to inline into a page."""
    return (_VENDOR / "embed.js").read_text(encoding="utf-8")


def period_label(start: Any, end: Any) -> str:
    """A half-open period ``[start, end)`` as people say it: months when it is whole months, else days.

    The last day shown is the day before ``end`` (the period excludes it).
    """
    first, after = pd.Timestamp(start), pd.Timestamp(end)
    last = after - pd.Timedelta(days=1)
    whole_months = first.day == 1 and after.day == 1 and first.time() == after.time() == pd.Timestamp(0).time()
    if whole_months:
        a, b = first.strftime("%Y-%m"), last.strftime("%Y-%m")
    else:
        a, b = first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")
    return a if a == b else f"{a} to {b}"


def _literal_assignments(source: str) -> dict[str, Any]:
    """``name = <literal>`` assignments of a parameters cell (anything else is ignored)."""
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return values
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def merge_parameters(nb: Any) -> Any:
    """A copy of ``nb`` whose ``parameters`` cell holds the values papermill injected, and no injected cell.

    Each assignment the run overrode is replaced by the injected value,
    marked ``# set by this run``; the rest of the cell (comments, defaults
    the run kept) stays as written.
    """
    nb = copy.deepcopy(nb)
    injected = [c for c in nb.cells if _INJECTED in _tags(c)]
    defaults = [c for c in nb.cells if "parameters" in _tags(c)]
    if not injected or not defaults:
        return nb
    given = _literal_assignments(injected[0].source)
    try:
        body = ast.parse(defaults[0].source).body
    except SyntaxError:  # not plain Python (a magic?): keep both cells as papermill left them
        return nb
    lines = defaults[0].source.splitlines()
    done: set[str] = set()
    for node in reversed(body):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in given:
                lines[node.lineno - 1 : node.end_lineno] = [f"{name} = {given[name]!r}  # set by this run"]
                done.add(name)
    lines += [f"{name} = {value!r}  # set by this run" for name, value in given.items() if name not in done]
    defaults[0].source = "\n".join(lines)
    nb.cells = [c for c in nb.cells if _INJECTED not in _tags(c)]
    return nb


def report_title(nb: Any) -> str:
    """``02 · Fees — 2025-01 to 2025-03 (sandbox)``: the first heading's name, the period, the source."""
    heading = next((c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# ")), "# Report")
    name = heading.splitlines()[0][2:].split(":", 1)[0].strip()
    parameters = next((c.source for c in nb.cells if "parameters" in _tags(c)), "")
    values = _literal_assignments(parameters)
    if "period_start" in values and "period_end" in values:
        name += f" — {period_label(values['period_start'], values['period_end'])}"
    if values.get("source") == "sandbox":
        name += " (sandbox)"
    return name


def export_html(notebook: str | Path, html: str | Path) -> str:
    """Write a self-contained HTML of an executed notebook; returns the page title.

    Figures are embedded PNG; a notebook with widget state gets the widget
    manager inlined, so its explorers draw from the file alone.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = merge_parameters(nbformat.read(str(notebook), as_version=4))
    title = report_title(nb)
    exporter = HTMLExporter(
        template_name="ledgerkit_report", extra_template_basedirs=[str(_TEMPLATES)], embed_images=True
    )
    resources = {
        "metadata": {"name": title},
        "ledgerkit_widget_manager": widget_manager_script(),
        "ledgerkit_css": REPORT_CSS,
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    Path(html).write_text(body, encoding="utf-8")
    return title
