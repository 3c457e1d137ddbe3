"""What kind of money movement a row is: the one classifier of statement and balance-record types.

:func:`~ledgerkit.analysis.fees.fee_breakdown`,
:func:`~ledgerkit.analysis.balance.roll_forward`,
:func:`~ledgerkit.analysis.balance.check_balances` and
:func:`~ledgerkit.analysis.payouts.payout_groups` all sort rows with this
module, so they agree on what a fee is: the fee total of one equals (with
the sign turned) the fee total of the others.

Both kinds of type are open sets; whatever is not named below is
``other``, as is a missing type.

Statement types (MakeCommerce; the provider documents five, refunds,
chargebacks and their fees exist too), compared in upper case:

- any type containing ``FEE`` is a fee (``TRX_FEE``, ``TRX_FEE_FIX``,
  ``CHARGEBACK_FEE``, ``SERVICE_FEE``, ...);
- ``INCOME``, ``VAT``, ``REFUND``, ``CHARGEBACK`` and ``PAYOUT`` are income,
  VAT, refunds, chargebacks and payouts.

Balance-record ``transaction_type`` values (beGateway DWH report), compared
in lower case (:data:`RECORD_CATEGORIES`): payment and capture are income;
refund, chargeback, payout and credit as named (credit with payouts);
``adjustment`` is an adjustment; ``rolling_reserve`` (held) and
``rolling_reserve_release`` are the reserve; ``rate`` is a rate. A record's
``fee`` column is always a fee, whatever its type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._common import codes

__all__ = [
    "CATEGORIES",
    "STATEMENT_ACTIVITY",
    "RECORD_ACTIVITY",
    "STATEMENT_CATEGORIES",
    "RECORD_CATEGORIES",
    "statement_category",
    "record_category",
    "category_codes",
]

#: Activity categories of a row, in report order: all a row can fall in.
CATEGORIES: tuple[str, ...] = (
    "income",
    "fees",
    "vat",
    "refunds",
    "chargebacks",
    "payouts",
    "adjustments",
    "reserve",
    "rates",
    "other",
)
#: The categories a statement row can fall in (no statement type is an adjustment, reserve or rate).
STATEMENT_ACTIVITY: tuple[str, ...] = tuple(c for c in CATEGORIES if c not in ("adjustments", "reserve", "rates"))
#: The categories a balance record can fall in: all of them.
RECORD_ACTIVITY: tuple[str, ...] = CATEGORIES

#: Statement types named exactly, besides the fee rule (a type containing ``FEE`` is a fee).
STATEMENT_CATEGORIES: dict[str, str] = {
    "INCOME": "income",
    "VAT": "vat",
    "REFUND": "refunds",
    "CHARGEBACK": "chargebacks",
    "PAYOUT": "payouts",
}


#: Balance-record ``transaction_type`` -> category of its ``amount`` (the
#: ``fee`` column always goes to ``"fees"``); any other type is ``"other"``.
RECORD_CATEGORIES: dict[str, str] = {
    "payment": "income",
    "capture": "income",
    "refund": "refunds",
    "chargeback": "chargebacks",
    "payout": "payouts",
    "credit": "payouts",
    "adjustment": "adjustments",
    "rolling_reserve": "reserve",
    "rolling_reserve_release": "reserve",
    "rate": "rates",
}


def statement_category(statement_type: Any) -> str:
    """The category of one statement type: ``"fees"`` when it contains ``FEE``, else by name.

    Examples
    --------
    >>> [statement_category(t) for t in ["TRX_FEE", "CHARGEBACK_FEE", "SERVICE_FEE", "CHARGEBACK", "vat", None]]
    ['fees', 'fees', 'fees', 'chargebacks', 'vat', 'other']
    """
    if statement_type is None or pd.isna(statement_type):
        return "other"
    name = str(statement_type).upper()
    if "FEE" in name:
        return "fees"
    return STATEMENT_CATEGORIES.get(name, "other")


def record_category(transaction_type: Any) -> str:
    """The category of one balance-record ``transaction_type`` (its ``amount``; the fee is a fee).

    Examples
    --------
    >>> types = ["payment", "Credit", "adjustment", "rolling_reserve_release", "rate", "p2p", None]
    >>> [record_category(t) for t in types]
    ['income', 'payouts', 'adjustments', 'reserve', 'rates', 'other', 'other']
    """
    if transaction_type is None or pd.isna(transaction_type):
        return "other"
    return RECORD_CATEGORIES.get(str(transaction_type).strip().lower(), "other")


def category_codes(
    types: pd.Series,
    labels: list[str],
    *,
    label_of: Any = statement_category,
    overrides: Mapping[str, str] | None = None,
) -> np.ndarray:
    """Each row's label as an int64 index into ``labels``, decided once per distinct type.

    ``label_of(type)`` names the label of a type (by default its
    :func:`statement_category`); ``overrides`` (type -> label) win over it.
    A missing type gets ``label_of(None)``. Every label given must be in
    ``labels``.

    Examples
    --------
    >>> types = pd.Series(["INCOME", "SERVICE_FEE", None, "INCOME"], dtype="category")
    >>> category_codes(types, list(CATEGORIES)).tolist()
    [0, 1, 9, 0]
    """
    overrides = overrides or {}
    found, kinds = codes(types)

    def label(kind: Any) -> str:
        return overrides[kind] if kind in overrides else label_of(kind)

    table = [labels.index(label(str(kind))) for kind in kinds] + [labels.index(label(None))]
    return np.asarray(table, dtype="int64")[found]  # code -1 (missing) picks the last entry
