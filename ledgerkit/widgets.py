"""Kept for ``import ledgerkit.widgets``: the explorers live in :mod:`ledgerkit.viz.widgets`."""

from .viz.widgets import *  # noqa: F403
from .viz.widgets import __all__  # noqa: F401
