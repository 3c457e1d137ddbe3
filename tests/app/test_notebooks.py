"""The report notebooks: structure, the helpers they use, and a full nbval run.

The nbval run executes every notebook in a fresh kernel and compares each
cell's output with the committed one (after ``notebooks/sanitize.cfg``), so a
report that ships is a report that runs and still says the same thing. It
runs in a subprocess: the repository's pytest configuration collects
``tests/`` only, and the notebooks need their own kernel anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from ledgerkit.app.notebook import Connection, connect, money_columns, show
from ledgerkit.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("01_quickstart", "02_fees", "03_balance", "04_payouts", "05_reconciliation")
IGNORE = "nbval-ignore-output"


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", NAMES)
def test_one_parameters_cell_first_with_sandbox_default(name):
    cells = _code_cells(_read(name))
    tagged = [c for c in cells if "parameters" in _tags(c)]
    assert len(tagged) == 1 and tagged[0] is cells[0]
    namespace: dict = {}
    exec(tagged[0].source, namespace)
    assert namespace["source"] == "sandbox"
    assert (namespace["period_start"], namespace["period_end"]) == ("2025-01-01", "2025-04-01")
    assert not tagged[0].outputs


@pytest.mark.parametrize("name", NAMES)
def test_committed_with_outputs_and_without_errors(name):
    nb = _read(name)
    cells = _code_cells(nb)
    assert all(c.execution_count is not None for c in cells[1:]), "execute the notebook before committing it"
    outputs = [o for c in cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "warnings or progress bars"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_charts_and_widgets_are_the_only_ignored_outputs(name):
    for cell in _code_cells(_read(name)):
        draws = "plots." in cell.source or "widgets." in cell.source
        manifest = 'attrs["ledgerkit"].get' in cell.source
        assert (IGNORE in _tags(cell)) == (draws or manifest), cell.source


@pytest.mark.parametrize("name", NAMES)
def test_sandbox_started_and_stopped_through_the_helper(name):
    sources = "\n".join(c.source for c in _code_cells(_read(name)))
    assert "conn = connect(source)" in sources and "conn.close()" in sources
    assert "Sandbox(" not in sources
    assert "conn.statements(" in sources or "conn.transactions(" in sources  # through the client: no bars


# --------------------------------------------------------------------------- helpers


def test_connect_sandbox_gives_loader_keywords():
    with connect("sandbox", size=50) as conn:
        creds = conn.sandbox.credentials
        assert conn.kwargs("transactions") == {
            "base_url": conn.sandbox.transactions_url,
            "shop_id": creds["transactions"].user,
            "secret_key": creds["transactions"],
        }
        assert conn.kwargs("balance_records")["psp_id"] == creds["balance_records"].user
        assert conn.kwargs("statements")["base_url"].endswith("/makecommerce")
        assert conn.account_id("transactions") == str(conn.world.shops[0]["id"])
        assert creds["statements"].secret not in repr(conn.kwargs("statements"))
        assert repr(conn) == "<Connection source='sandbox'>"
    assert conn.sandbox._server is None  # stopped by the with block


def test_connect_env_leaves_it_to_the_loaders():
    conn = connect("env")
    assert conn.kwargs("transactions") == {} and conn.world is None
    assert conn.account_id("transactions", environ={"LEDGERKIT_TRANSACTIONS_SHOP_ID": "2101"}) == "2101"
    assert conn.account_id("statements", environ={}) is None
    conn.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda: connect("live"),
        lambda: connect("env", seed=1),
        lambda: Connection("env").kwargs("payouts"),
    ],
)
def test_bad_input_is_a_configuration_error(call):
    with pytest.raises(ConfigurationError):
        call()


def test_show_money_in_major_units_per_row_currency():
    frame = pd.DataFrame(
        {
            "payout_id": ["7", "8", "9", None],
            "currency": pd.Categorical(["EUR", "JPY", "KWD", "EUR"]),
            "rows": pd.array([3, 1, 2, 0], dtype="Int64"),
            "net": pd.array([123456, -1500, 1, pd.NA], dtype="Int64"),
            "rate_bp": pd.array([204.115, None, 0.0, 1.0], dtype="Float64"),
            "paid_at": pd.to_datetime(["2025-01-02", None, "2025-01-03", "2025-01-04"], utc=True),
        }
    )
    shown = show(frame)
    assert list(shown.columns) == ["currency", "payout_id", "rows", "net", "rate_bp", "paid_at"]
    assert shown["net"].tolist() == ["1,234.56", "-1,500", "0.001", ""]
    assert shown["rows"].tolist() == ["3", "1", "2", "0"]
    assert shown["rate_bp"].tolist() == ["204.12", "", "0.00", "1.00"]
    assert shown["paid_at"].tolist()[:2] == ["2025-01-02 00:00:00", ""]
    assert shown["payout_id"].tolist()[3] == ""
    assert frame["net"].tolist()[0] == 123456  # the input is untouched


def test_show_options():
    frame = pd.DataFrame(
        {
            "fee": pd.array([5, 250], dtype="Int64"),
            "fixed": pd.array([25, 30], dtype="Int64"),
            "n": pd.array([1, 2], dtype="Int64"),
        }
    )
    assert show(frame, currency="EUR").to_dict("list") == {
        "fee": ["0.05", "2.50"],
        "fixed": ["0.25", "0.30"],
        "n": ["1", "2"],
    }
    assert show(frame, currency="JPY", money=["fee"], columns=["fee", "fixed"]).to_dict("list") == {
        "fee": ["5", "250"],
        "fixed": ["25", "30"],
    }
    with pytest.raises(ConfigurationError):
        show(frame)  # money but no currency


def test_money_columns_by_convention():
    frame = pd.DataFrame(
        {
            c: pd.array([1], dtype="Int64")
            for c in ("id", "shop.id", "payout_id", "count", "volume_count", "position", "amount", "closing")
        }
    )
    assert money_columns(frame) == ["amount", "closing"]


# --------------------------------------------------------------------------- nbval


def _pythonpath() -> str:
    """The kernels import this checkout's ledgerkit, installed or not."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


@pytest.mark.slow
def test_notebooks_run_and_match_their_committed_outputs(tmp_path):
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(NOTEBOOKS / "sanitize.cfg"),
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
            "-o",
            "testpaths=",
            *[str(NOTEBOOKS / f"{n}.ipynb") for n in NAMES],
        ],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_source_env_reads_the_environment(tmp_path, monkeypatch):
    """``source="env"`` (papermill parameter): the loaders find everything in LEDGERKIT_* variables."""
    import papermill

    from ledgerkit.sandbox import Sandbox

    monkeypatch.setenv("PYTHONPATH", _pythonpath())
    with Sandbox(seed=0) as sb:
        for key, value in sb.env().items():
            monkeypatch.setenv(key, value)
        out = tmp_path / "05.ipynb"
        papermill.execute_notebook(
            str(NOTEBOOKS / "05_reconciliation.ipynb"),
            str(out),
            parameters={"source": "env"},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(NOTEBOOKS),
        )
        served = {r.path for r in sb.requests}
    assert {"/gateway/api/reports", "/dwh/api/v2/reports"} <= served
    cells = {c.source.splitlines()[0]: c for c in _code_cells(nbformat.read(out, as_version=4))}
    assert cells["%matplotlib inline"].outputs[0].data["text/plain"] == "<Connection source='env'>"
    summary = cells["show(lk.reconciliation_summary(result))"].outputs[0].data["text/plain"]
    assert "matched" in summary and "mismatch" not in summary
