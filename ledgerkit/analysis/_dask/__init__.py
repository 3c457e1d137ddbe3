"""The analysis functions on Dask DataFrames: a dispatch at each function's entry.

``fee_breakdown``, ``roll_forward``, ``check_balances``, ``payout_groups``
and ``reconcile_transactions`` take a ``dask.dataframe.DataFrame`` (or a
balance report whose ``.records`` is one) wherever they take a pandas frame,
and return the same pandas result, to the minor unit, as on the frame's
``.compute()`` -- without computing the whole frame: each partition is
reduced to a small pandas piece on the workers and the pieces are combined
exactly (see the modules of this package, one per function).

Nothing here imports Dask: a frame can only be a Dask frame when Dask is
already imported, so ``import ledgerkit`` stays free of it.

Examples
--------
>>> import pandas as pd
>>> is_dask(pd.DataFrame())
False
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from ...errors import ConfigurationError

__all__ = ["INSTALL", "is_dask", "dask_aware", "require_dask"]

#: What to install for the Dask paths.
INSTALL = "pip install 'ledgerkit[dask]'"

#: Public function -> the module of this package that runs it on Dask.
_IMPLEMENTATIONS = {
    "fee_breakdown": "fees",
    "roll_forward": "balance",
    "check_balances": "breaks",
    "payout_groups": "payouts",
    "reconcile_transactions": "reconcile",
}


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask DataFrame, or a report-like object whose ``.records`` is one.

    Cheap and import-free: without ``dask`` in ``sys.modules`` nothing can be one.
    """
    if "dask" not in sys.modules:
        return False
    if not hasattr(value, "__dask_graph__") and hasattr(value, "records"):
        value = getattr(value, "records", None)
    return hasattr(value, "__dask_graph__") and hasattr(value, "columns")


def require_dask(parameter: str, value: Any = "<Dask DataFrame>") -> Any:
    """``dask.dataframe``, or a ``ConfigurationError`` saying which extra to install."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ConfigurationError(parameter, value, f"the Dask extra installed: {INSTALL}") from None
    return dd


def dask_aware(*parameters: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate an analysis function so that a Dask frame in ``parameters`` runs its Dask twin.

    The twin is ``ledgerkit.analysis._dask.<module>.<function name>``, called
    with the same arguments; pandas inputs go straight to the function.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def entry(*args: Any, **kwargs: Any) -> Any:
            if "dask" in sys.modules:
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError:
                    return function(*args, **kwargs)  # let the function say what is wrong
                given = [name for name in parameters if is_dask(bound.arguments.get(name))]
                if given:
                    require_dask(given[0])
                    twin = importlib.import_module(f"{__name__}.{_IMPLEMENTATIONS[function.__name__]}")
                    return getattr(twin, function.__name__)(*args, **kwargs)
            return function(*args, **kwargs)

        return entry

    return decorate
