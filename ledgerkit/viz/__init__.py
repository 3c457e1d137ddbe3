"""Showing the analysis: plots (``ax=None`` in, Axes out), interactive explorers, table display.

Examples
--------
>>> from ledgerkit import viz
>>> viz.plot_balance.__name__, viz.explore_fees.__name__
('plot_balance', 'explore_fees')
"""

from .display import show
from .plots import (
    plot_balance,
    plot_effective_rate,
    plot_fee_composition,
    plot_payout_waterfall,
    plot_payouts,
    plot_roll_forward,
)
from .widgets import explore_balance, explore_fees, explore_payouts

__all__ = [
    "plot_effective_rate",
    "plot_fee_composition",
    "plot_balance",
    "plot_roll_forward",
    "plot_payout_waterfall",
    "plot_payouts",
    "explore_fees",
    "explore_balance",
    "explore_payouts",
    "show",
]
