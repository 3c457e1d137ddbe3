"""Kept for ``import ledgerkit.plots``: the plots live in :mod:`ledgerkit.viz.plots`."""

from .viz.plots import *  # noqa: F403
from .viz.plots import __all__  # noqa: F401
