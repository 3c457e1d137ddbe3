"""The balance explorer's period control: day to year, any freq of the analysis, named as in the tables."""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ledgerkit.analysis import roll_forward
from ledgerkit.viz.widgets import MAX_ROWS, _balance_shown, _filter, explore_balance


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ledger() -> pd.DataFrame:
    """EUR statements from January to April 2025, chained."""
    amounts = [10_000, -250, 5_000, -30, 2_000]
    after = pd.Series(amounts).cumsum()
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(5)],
            "created": pd.to_datetime(
                ["2025-01-06", "2025-01-06", "2025-02-10", "2025-03-31 23:59", "2025-04-01"], utc=True, format="ISO8601"
            ),
            "type": ["INCOME", "TRX_FEE", "INCOME", "TRX_FEE_FIX", "INCOME"],
            "amount": pd.array(amounts, dtype="Int64"),
            "balance_before": pd.array(after - amounts, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": ["EUR"] * 5,
            "transaction_id": ["t1", "t1", "t2", "t2", "t3"],
            "payout_id": pd.array([None] * 5, dtype="str"),
        }
    )


def test_the_period_control_offers_quarters_and_years(ledger):
    w = explore_balance(ledger)
    assert [value for _, value in w.controls["freq"].options] == ["D", "W", "M", "QS", "YS"]
    rows = _filter(ledger, None, None, "EUR")
    w.controls["freq"].value = "QS"
    assert_frame_equal(w.table, roll_forward(rows, freq="QE"))
    assert w.display_table["period"].tolist() == ["2025-Q1", "2025-Q2"]
    assert w.table["closing"].tolist() == [14_720, 16_720]
    w.controls["freq"].value = "YS"
    assert w.display_table["period"].tolist() == ["2025"]


def test_the_note_names_the_period_of_any_freq():
    table = pd.DataFrame({"unexplained": pd.array([0] * (MAX_ROWS + 3), dtype="Int64")})
    assert _balance_shown(table, "QE-MAR")[1] == f"The last {MAX_ROWS} of {MAX_ROWS + 3} quarters."
    assert _balance_shown(table, "W-SAT")[1] == f"The last {MAX_ROWS} of {MAX_ROWS + 3} weeks."
    assert _balance_shown(table, "D")[1] == f"The last {MAX_ROWS} of {MAX_ROWS + 3} days."
