"""Charts and explorers never draw two accounts' money together: several accounts are refused, one is drawn."""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import pytest

import ledgerkit as lk
from ledgerkit.errors import ConfigurationError
from ledgerkit.viz import plots, widgets

from ..analysis.test_accounts import ACCOUNTS, combined, statements_of, transactions_of


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def statements():
    return combined({name: statements_of(name) for name in ACCOUNTS})


@pytest.fixture(scope="module")
def transactions():
    return combined({name: transactions_of(name) for name in ACCOUNTS})


def _plots(statements, transactions):
    """Every plot on its analysis of ``statements`` / ``transactions``."""
    return {
        "plot_balance": lambda: plots.plot_balance(statements),
        "plot_roll_forward": lambda: plots.plot_roll_forward(lk.roll_forward(statements), "2025-01-30"),
        "plot_payouts": lambda: plots.plot_payouts(lk.payout_groups(statements)),
        "plot_payout_waterfall": lambda: plots.plot_payout_waterfall(lk.payout_waterfall(statements, "P1")),
        "plot_effective_rate": lambda: plots.plot_effective_rate(lk.fee_breakdown(transactions, by="brand")),
        "plot_fee_composition": lambda: plots.plot_fee_composition(lk.fee_breakdown(statements, freq="D")),
    }


def test_every_plot_refuses_two_accounts_and_says_how_to_pick_one(statements, transactions):
    for draw in _plots(statements, transactions).values():
        with pytest.raises(ConfigurationError, match=r"expected the rows of one account, e\.g\. .*== 'eu-shop'"):
            draw()


def test_every_plot_draws_one_accounts_rows(statements, transactions):
    one = statements[statements["account"] == "lv-shop"]
    one_tx = transactions[transactions["account"] == "lv-shop"]
    for name, draw in _plots(one, one_tx).items():
        assert draw() is not None, name
    balance = plots.plot_balance(one).get_lines()[0].get_ydata().tolist()
    assert balance == [30.0, 29.1, 28.92, -0.08, 7.02, 6.81]


def test_the_explorers_refuse_two_accounts(statements):
    for explore in (widgets.explore_balance, widgets.explore_payouts, widgets.explore_fees):
        with pytest.raises(ConfigurationError, match="one account"):
            explore(statements)
