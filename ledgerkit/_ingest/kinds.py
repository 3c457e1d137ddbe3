"""The kinds of column a ledgerkit frame holds: each one's pandas dtype, and how a frame's column is checked.

One vocabulary for every frame contract (:mod:`ledgerkit._ingest.schema`):
the loaders read each kind into its dtype, and the analysis refuses a
column whose values are not of its kind.

==================  ========================  =========================================================
kind                dtype                     what the values are
==================  ========================  =========================================================
``int``             ``Int64``                 an id or a count (whole numbers)
``str``             ``str``                   text
``category``        ``category``              low-cardinality text (a type, a status, a channel)
``currency``        ``category``              a currency code, checked against the currency table
``time``            ``datetime64[ns, UTC]``   an instant
``bool``            ``boolean``               yes / no
``float``           ``Float64``               a rate or a percent
``minor``           ``Int64``                 money the provider sends as integer minor units
``minor_float``     ``Int64``                 money the provider sends as floats of minor units (``29.0``)
``major``           ``Int64``                 money the provider sends in major units (``-0.06``, ``"10.00"``)
==================  ========================  =========================================================

In a frame, money of every kind is ``Int64`` minor units of the row's
currency: the three money kinds differ only in how the provider writes them.

Examples
--------
>>> dtype_of("major"), dtype_of("time")
('Int64', 'datetime64[ns, UTC]')
>>> mistyped(pd.Series([1.5, 2.0]), "minor")
('float64', 'integer minor units (Int64), never floats')
>>> mistyped(pd.Series([1.0, None]), "int") is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError

__all__ = ["UTC_NS", "KINDS", "MONEY_KINDS", "dtype_of", "mistyped", "integer_ids"]

UTC_NS = "datetime64[ns, UTC]"

#: kind -> the pandas dtype of its column in a frame.
KINDS: dict[str, str] = {
    "int": "Int64",
    "str": "str",
    "category": "category",
    "currency": "category",
    "time": UTC_NS,
    "bool": "boolean",
    "float": "Float64",
    "minor": "Int64",
    "minor_float": "Int64",
    "major": "Int64",
}

#: The kinds that hold money (``Int64`` minor units in a frame).
MONEY_KINDS: tuple[str, ...] = ("minor", "minor_float", "major")

_MONEY = "integer minor units (Int64), never floats"
_IDS = "whole-number ids (Int64)"
_TIME = "tz-aware datetimes (datetime64[ns, UTC])"
_NUMBERS = "numbers (Float64)"
_EXACT_FLOAT = 2**53  # floats hold every whole number below this exactly


def dtype_of(kind: str) -> str:
    """The pandas dtype of a column of ``kind``.

    Examples
    --------
    >>> dtype_of("currency")
    'category'
    """
    return KINDS[kind]


def mistyped(values: pd.Series, kind: str) -> tuple[Any, str] | None:
    """What is wrong with a column of ``kind`` -- ``(the value or dtype found, what is expected)`` -- or None.

    Money must be an integer dtype (floats are refused, never rounded), ids
    whole numbers (integers, or floats and Python numbers holding whole
    numbers), times tz-aware, rates and percents numbers. Text kinds hold
    labels of any value: they are not checked.

    Examples
    --------
    >>> mistyped(pd.Series(["abc"]), "int")
    ('abc', 'whole-number ids (Int64)')
    >>> mistyped(pd.Series(pd.to_datetime(["2025-01-01"])).astype("datetime64[ns]"), "time")
    ('datetime64[ns]', 'tz-aware datetimes (datetime64[ns, UTC])')
    """
    dtype = values.dtype
    if kind in MONEY_KINDS:
        return None if _is_integer(dtype) else (str(dtype), _MONEY)
    if kind == "time":
        return None if isinstance(dtype, pd.DatetimeTZDtype) else (str(dtype), _TIME)
    if kind == "float":
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        return None if numeric else (str(dtype), _NUMBERS)
    if kind == "int":
        found = _not_whole(values)
        return None if found is None else (found, _IDS)
    return None


def _is_integer(dtype: Any) -> bool:
    return pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _not_whole(values: pd.Series) -> Any:
    """The first value that is not a whole number (the dtype's name for booleans), or None."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return str(dtype)
    if _is_integer(dtype):
        return None
    if isinstance(dtype, pd.CategoricalDtype):
        return _not_whole(values.astype(dtype.categories.dtype))
    if pd.api.types.is_float_dtype(dtype):
        return _fraction(values.astype("Float64"))
    if dtype == object:  # noqa: E721 - pandas compares each dtype
        known = values.dropna()
        for value in known:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
                return value
        return None if all(isinstance(v, (int, np.integer)) for v in known) else _fraction(known.astype("float64"))
    first = values.dropna()
    return first.iloc[0] if len(first) else str(dtype)


def _fraction(numbers: pd.Series) -> Any:
    """The first float that is not a whole number held exactly, or None."""
    known = numbers.dropna().to_numpy(dtype="float64")
    bad = ~np.isfinite(known) | (np.abs(known) >= _EXACT_FLOAT)
    bad[~bad] = known[~bad] != np.round(known[~bad])
    return known[bad][0].item() if bad.any() else None


def integer_ids(values: pd.Series, parameter: str) -> pd.Series:
    """An id column as ``Int64``: integers, or floats / objects holding whole numbers.

    Text (``"abc"``, even ``"12"``), booleans and fractional numbers
    (``1.5``) are refused with a ``ConfigurationError`` naming the first.

    Examples
    --------
    >>> integer_ids(pd.Series([3.0, None, 5.0]), "ids").tolist()
    [3, <NA>, 5]
    >>> integer_ids(pd.Series(["abc"]), "transactions['id']")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: transactions['id']='abc' is not valid: expected whole-number ids (Int64)
    """
    found = _not_whole(values)
    if found is not None:
        raise ConfigurationError(parameter, found, _IDS)
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(dtype.categories.dtype)
    if values.dtype == object and all(isinstance(v, (int, np.integer)) for v in values.dropna()):
        return pd.Series(pd.array(values.where(values.notna(), None).tolist(), dtype="Int64"), index=values.index)
    if _is_integer(values.dtype):
        return values.astype("Int64")
    return values.astype("float64").round().astype("Int64")
