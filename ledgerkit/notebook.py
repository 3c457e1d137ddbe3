"""Kept for ``from ledgerkit.notebook import connect, show``: see :mod:`ledgerkit.app.notebook`."""

from .app.notebook import *  # noqa: F403
from .app.notebook import __all__  # noqa: F401
