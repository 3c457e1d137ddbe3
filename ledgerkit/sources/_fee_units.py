"""Checking an undocumented unit against the data: are ``transaction_fee`` and ``pay_to_merchant`` minor units?

The v3 report documents ``amount`` in minor units but not the unit of
``transaction_fee`` and ``pay_to_merchant`` (floats such as ``29.0``).
ledgerkit reads them as minor units of the transaction's currency. The
data can say whether that holds: for a successful payment the merchant is
paid the amount less the fee, so ``pay_to_merchant == amount −
transaction_fee``. :class:`FeeUnits` counts, page by page, the successful
payments where all three are given, those where the identity fails, and
those among them that fit it in *major* units instead (``pay × 10^e ≈
amount − fee × 10^e`` within a major unit of rounding). A single failure
is data (a corrected row); most payments fitting the major-unit reading is
a contradiction of the reading, and :meth:`FeeUnits.contradiction`
explains it rather than let every fee be 100× too small.

Examples
--------
>>> import pandas as pd
>>> page = pd.DataFrame({"id": [1, 2], "type": ["payment"] * 2, "status": ["successful"] * 2,
...                      "amount": pd.array([1000, 500], "Int64"), "transaction_fee": pd.array([29, 15], "Int64"),
...                      "pay_to_merchant": pd.array([971, 485], "Int64"), "currency": ["USD", "USD"]})
>>> units = FeeUnits()
>>> units.observe(page)
>>> units.summary(), units.contradiction() is None
({'checked': 2, 'failed': 0, 'fit_major_units': 0}, True)
>>> major = page.assign(transaction_fee=pd.array([0, 0], "Int64"), pay_to_merchant=pd.array([10, 5], "Int64"))
>>> wrong = FeeUnits()
>>> wrong.observe(major)                                   # 0.29 and 9.71 read as minor units, rounded
>>> wrong.summary()["fit_major_units"], wrong.contradiction()[:40]
(2, 'pay_to_merchant = amount - transaction_f')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import money

__all__ = ["FeeUnits"]

_COLUMNS = ("id", "type", "status", "amount", "transaction_fee", "pay_to_merchant", "currency")
_MONEY = ("amount", "transaction_fee", "pay_to_merchant")
_TEXT = ("type", "status", "currency")


@dataclass(frozen=True)
class _Rows:
    """The checked columns of one page as arrays: the money as floats (NaN: missing)."""

    amount: np.ndarray
    fee: np.ndarray
    pay: np.ndarray
    paid: np.ndarray  #: a successful payment
    scale: np.ndarray  #: ``10 ** exponent`` of the row's currency (1 for an unknown one)
    id_and_currency: Callable[[int], tuple[Any, Any]]


def _rows(page: Any) -> _Rows | None:
    """The checked columns of a frame or an Arrow page (None when one is missing)."""
    frame = page if isinstance(page, pd.DataFrame) else getattr(page, "frame", None)
    if frame is not None:
        return _frame_rows(frame) if all(c in frame.columns for c in _COLUMNS) else None
    columns = getattr(page, "columns", {})
    if not all(c in columns for c in _COLUMNS):
        return None
    if not all(_numeric(columns[c].type) for c in _MONEY) or not all(_text(columns[c].type) for c in _TEXT):
        return _frame_rows(pa.table({c: columns[c] for c in _COLUMNS}).to_pandas())
    return _arrow_rows(columns)


def _frame_rows(frame: pd.DataFrame) -> _Rows:
    amount, fee, pay = (_numbers(frame[c]) for c in _MONEY)
    paid = _is(frame["type"], "payment") & _is(frame["status"], "successful")
    ids, currency = frame["id"], frame["currency"]
    return _Rows(amount, fee, pay, paid, _scales(currency), lambda i: (ids.iloc[i], currency.iloc[i]))


def _arrow_rows(columns: dict[str, Any]) -> _Rows:
    """As :func:`_frame_rows`, in Arrow's kernels: they let go of the GIL, which the pull's parsing threads need."""
    amount, fee, pay = (columns[c].cast(pa.float64()).to_numpy(zero_copy_only=False) for c in _MONEY)  # null: NaN
    paid = _arrow_is(columns["type"], "payment") & _arrow_is(columns["status"], "successful")
    ids, currency = columns["id"], columns["currency"]
    if pa.types.is_dictionary(currency.type):
        currency = currency.cast(currency.type.value_type)
    found = pc.unique(currency)
    codes = pc.index_in(currency, value_set=found).fill_null(-1).to_numpy(zero_copy_only=False)  # None is found too
    scale = _scales_by_code(codes, found.to_pylist())
    return _Rows(amount, fee, pay, paid, scale, lambda i: (ids[i].as_py(), currency[i].as_py()))


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def _text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _arrow_is(values: Any, text: str) -> np.ndarray:
    return pc.fill_null(pc.equal(values, text), False).to_numpy(zero_copy_only=False)


def _exponent(currency: Any) -> int:
    return money.exponent(currency) if money.is_currency(currency) else 0


def _is(values: pd.Series, text: str) -> np.ndarray:
    return (values == text).fillna(False).to_numpy(dtype=bool)  # a categorical compares by its codes, no text per row


def _scales(currency: pd.Series) -> np.ndarray:
    """``10 ** exponent`` of each row's currency (1 for an unknown one), looked up once per currency."""
    codes, currencies = pd.factorize(currency)
    return _scales_by_code(codes, currencies)


def _scales_by_code(codes: np.ndarray, currencies: Any) -> np.ndarray:
    """``10 ** exponent`` of ``currencies[code]`` for each row's code (-1, a missing currency: 1)."""
    return np.array([10.0 ** _exponent(c) for c in currencies] + [1.0])[codes]  # code -1 indexes the last


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


class FeeUnits:
    """Running check of ``pay_to_merchant == amount − transaction_fee`` over successful payments."""

    columns = _COLUMNS  #: what :meth:`observe` reads

    def __init__(self) -> None:
        self.checked = 0
        self.failed = 0
        self.major = 0
        self.example: dict[str, Any] | None = None

    def observe(self, page: Any) -> None:
        """Count the successful payments of one page (a frame or an Arrow page) and their failures."""
        rows = _rows(page)
        if rows is None or not len(rows.amount):
            return
        amount, fee, pay, scale = rows.amount, rows.fee, rows.pay, rows.scale
        known = rows.paid & ~(np.isnan(amount) | np.isnan(fee) | np.isnan(pay))
        bad = known & (amount - fee != pay)
        major = bad & (scale > 1) & (np.abs(pay * scale - (amount - fee * scale)) <= scale)
        self.checked += int(known.sum())
        self.failed += int(bad.sum())
        self.major += int(major.sum())
        if self.example is None and major.any():
            i = int(np.flatnonzero(major)[0])
            rid, currency = rows.id_and_currency(i)
            self.example = {
                "id": rid,
                "currency": currency,
                "amount": int(amount[i]),
                "transaction_fee": int(fee[i]),
                "pay_to_merchant": int(pay[i]),
            }

    def summary(self) -> dict[str, int]:
        """``{"checked": n, "failed": m}`` for the manifest."""
        return {"checked": self.checked, "failed": self.failed, "fit_major_units": self.major}

    def contradiction(self) -> str | None:
        """Why the data contradicts the minor-unit reading, or None when it does not (most payments fit)."""
        if self.major * 2 <= self.checked:
            return None
        e = self.example or {}
        return (
            f"pay_to_merchant = amount - transaction_fee fails on {self.failed} of {self.checked} successful "
            f"payments, and {self.major} of them fit it with transaction_fee and pay_to_merchant in major units "
            f"(first: id {e.get('id')}: amount {e.get('amount')}, transaction_fee {e.get('transaction_fee')}, "
            f"pay_to_merchant {e.get('pay_to_merchant')}, read as minor units of {e.get('currency')}). The API "
            "does not document their unit; ledgerkit reads them as minor units like amount, and these rows "
            "contradict that reading (every fee would be 100x off). Ask the provider which unit they are in; "
            "the rows are in .partial"
        )
