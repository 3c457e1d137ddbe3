"""The report notebooks' ``accounts`` parameter: several accounts pulled through ``accounts=``, results per account.

04_payouts runs under papermill with ``accounts="all"`` against two
sandboxes serving the same MakeCommerce world (same shop id, payout ids and
row ids in the same currency: every id collides) named in an accounts file
written here. Each account's numbers in the notebook's outputs must be that
account's own -- not the two added together.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit.app.notebook import Connection, connect, one_account, show
from ledgerkit.errors import ConfigurationError
from ledgerkit.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
PERIOD = ("2025-01-01", "2025-04-01")
NAMES = ("mc-a", "mc-b")


@pytest.fixture(scope="module")
def sandboxes():
    with Sandbox(seed=0, size=300) as a, Sandbox(seed=0, size=300) as b:
        yield dict(zip(NAMES, (a, b), strict=True))


@pytest.fixture
def accounts_file(sandboxes, tmp_path, monkeypatch):
    text = "".join(
        f'[accounts.{name}]\nsource = "statements"\nbase_url = "{sb.statements_url}"\n'
        f'id = "{sb.world.mc_shop["id"]}"\nsecret_env = "MC_SECRET"\ntags = ["mc"]\n'
        for name, sb in sandboxes.items()
    )
    path = tmp_path / "ledgerkit.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LEDGERKIT_ACCOUNTS", str(path))
    monkeypatch.setenv("MC_SECRET", sandboxes["mc-a"].world.mc_shop["secret"])
    return path


def _outputs(nb: nbformat.NotebookNode, starting: str) -> str:
    """The text output of the one code cell whose source starts with ``starting``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starting)]
    assert len(cells) == 1, starting
    return "".join(o["data"]["text/plain"] for o in cells[0].outputs if "data" in o and "text/plain" in o["data"])


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()[1:]]


def _expected_monthly(statements: pd.DataFrame, name: str) -> list[list[str]]:
    """The notebook's monthly payouts table for one account's statements alone, as ``show`` writes it."""
    paid = lk.payout_groups(statements).query("~is_open")
    monthly = (
        paid.assign(month=paid["paid_at"].dt.strftime("%Y-%m"))
        .groupby(["currency", "month"], observed=True)
        .agg(payouts=("payout_id", "size"), paid_out=("paid_out", "sum"), residual=("residual", "sum"))
        .reset_index()
        .assign(account=name)
    )
    return show(monthly, money=["paid_out", "residual"]).astype("str").values.tolist()


def test_connect_with_accounts_pulls_them_and_starts_no_sandbox(accounts_file, sandboxes):
    conn = connect(accounts="mc")
    assert isinstance(conn, Connection) and conn.sandbox is None and conn.account_id("statements") is None
    assert repr(conn) == "<Connection source='accounts' accounts='mc'>"
    st = conn.statements(*PERIOD, per_page=500)
    alone = lk.load_statements(*PERIOD, per_page=500, progress=False, **sandboxes["mc-a"].kwargs("statements"))
    assert st["account"].astype("str").value_counts().to_dict() == {"mc-a": len(alone), "mc-b": len(alone)}
    pd.testing.assert_frame_equal(
        one_account(st).drop(columns="account").reset_index(drop=True), alone, check_categorical=False
    )
    with pytest.raises(ConfigurationError, match="account='nope'"):
        one_account(st, "nope")
    with pytest.raises(ConfigurationError, match="sandbox_options"):
        connect(accounts="mc", seed=1)


@pytest.mark.slow
def test_the_payouts_notebook_with_accounts_shows_each_accounts_own_numbers(accounts_file, sandboxes, tmp_path):
    import papermill

    out = tmp_path / "04_payouts.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "04_payouts.ipynb"),
        str(out),
        parameters={"accounts": "all"},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(ROOT / "notebooks"),
    )
    nb = nbformat.read(out, as_version=4)
    alone = lk.load_statements(*PERIOD, per_page=500, progress=False, **sandboxes["mc-a"].kwargs("statements"))
    monthly = _rows(_outputs(nb, "paid = groups"))
    expected = [row for name in NAMES for row in _expected_monthly(alone, name)]
    assert monthly == expected and [row[0] for row in monthly] == ["mc-a"] * (len(monthly) // 2) + ["mc-b"] * (
        len(monthly) // 2
    )
    roll = lk.roll_forward(alone, freq="M").iloc[-1]
    open_net = lk.payout_groups(alone).query("is_open")["net"].iloc[0]
    money = {"closing": roll["closing"], "open_balance": open_net, "reserve": roll["closing"] - open_net}
    tie_out = (
        show(pd.DataFrame({"currency": ["EUR"], **{k: pd.array([v], dtype="Int64") for k, v in money.items()}}))
        .astype("str")
        .values.tolist()[0]
    )
    assert _rows(_outputs(nb, "closing = ")) == [[name, *tie_out] for name in NAMES]
    corrupted = _rows(_outputs(nb, "lost = "))  # a fee row dropped from the first account's payout only
    assert len(corrupted) == 1 and corrupted[0][:2] == ["mc-a", "EUR"]
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
