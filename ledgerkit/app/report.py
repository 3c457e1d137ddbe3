"""``make demo`` / ``ledgerkit report``: execute the report notebooks and write HTML.

Runs every notebook of ``notebooks/`` with papermill (parameters: the data
source), writes the executed ``.ipynb`` and a self-contained HTML (images
and widget state embedded) under ``out/``, writes the close pack of the last
full month (:mod:`ledgerkit.app.close_run`: ``close-YYYY-MM.xlsx`` and
``.html``), then prints a one-screen summary computed with the same loaders
and analysis functions the notebooks use, for the sandbox or for the
``LEDGERKIT_*`` accounts.

The HTML embeds every table and figure, and for the interactive explorers
(notebooks 02–04) their saved widget state and the widget manager that draws
it (:mod:`ledgerkit.app.html_export`): a report opened from disk needs no
network.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .html_export import export_html

__all__ = ["run_report", "execute_notebook", "export_html", "summary_text", "close_month", "NOTEBOOKS"]

#: The report notebooks, in reading order.
NOTEBOOKS = ("01_quickstart", "02_fees", "03_balance", "04_payouts", "05_reconciliation")


def _default_notebooks_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "notebooks"


def _ipc_kernel_manager() -> type:
    """A kernel manager talking to its kernel over local IPC sockets, not TCP."""
    from jupyter_client.manager import KernelManager

    class IpcKernelManager(KernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return IpcKernelManager


def execute_notebook(src: Path, dst: Path, parameters: dict) -> None:
    """Execute ``src`` with papermill into ``dst``, injecting ``parameters``."""
    import papermill

    papermill.execute_notebook(
        str(src),
        str(dst),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(src.parent),
        kernel_manager_class=_ipc_kernel_manager(),
    )


def summary_text(source: str) -> str:
    """The one-screen summary of ``source``, or why it was skipped (a ledgerkit error's message)."""
    from ..errors import LedgerkitError
    from .summary import env_summary, sandbox_summary

    try:
        return sandbox_summary() if source == "sandbox" else env_summary()
    except LedgerkitError as exc:  # the reports are written; say why the summary is not
        return f"Summary skipped: {exc}\n"


def _notebooks_dir(notebooks: str | os.PathLike | None) -> Path:
    """The folder of the report notebooks: the repository's, or ``notebooks`` when it holds any of them."""
    if notebooks is None:
        return _default_notebooks_dir()
    folder = Path(notebooks) if isinstance(notebooks, (str, os.PathLike)) and str(notebooks).strip() else None
    if folder is None or not folder.is_dir() or not any((folder / f"{name}.ipynb").is_file() for name in NOTEBOOKS):
        raise ConfigurationError(
            "notebooks",
            str(notebooks),
            f"a folder holding the report notebooks ({', '.join(f'{name}.ipynb' for name in NOTEBOOKS)})",
        )
    return folder


def run_report(
    *, out: str | os.PathLike = "reports", notebooks: str | os.PathLike | None = None, source: str = "sandbox"
) -> int:
    """Execute the report notebooks, write ``.ipynb`` + ``.html``, print a summary.

    Returns the process exit code (0 when every notebook ran).
    """
    from .close_run import output_folder

    out_dir = output_folder(out)
    nb_dir = _notebooks_dir(notebooks)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures = 0
    for name in NOTEBOOKS:
        src = nb_dir / f"{name}.ipynb"
        if not src.exists():
            print(f"  missing notebook: {src}", file=sys.stderr)
            failures += 1
            continue
        dst = out_dir / f"{name}.ipynb"
        started = time.perf_counter()
        try:
            execute_notebook(src, dst, {"source": source})
            export_html(dst, dst.with_suffix(".html"))
        except Exception as exc:  # noqa: BLE001 - report every notebook, then fail
            failures += 1
            print(f"  {name}: FAILED ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        written.append(dst.with_suffix(".html"))
        print(f"  {name}: ok in {time.perf_counter() - started:.1f} s")
    print(summary_text(source))
    print(f"Reports written to {out_dir}:")
    for path in written:
        print(f"  {path}")
    failures += close_month(out_dir, source)
    return 1 if failures else 0


def close_month(out_dir: Path, source: str) -> int:
    """Write the close pack of the reports' last month beside them and print where; 1 if it failed."""
    import pandas as pd

    from .close_run import run_close
    from .summary import PERIOD

    period = (pd.Timestamp(PERIOD[1]) - pd.DateOffset(months=1)).strftime("%Y-%m")
    return 1 if run_close(period=period, out=out_dir, source=source) else 0
