"""ledgerkit: payment-provider reporting data in Jupyter, exact to the minor unit."""

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

__version__ = "0.1.0"

__all__ = [*_errors_all]
