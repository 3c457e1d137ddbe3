"""Helpers shared by the analysis modules: argument checks, money arrays, codes.

Analysis functions are pure (DataFrame in, DataFrame of numbers out). They
check their input up front -- against the frame contracts of
:mod:`ledgerkit._ingest.schema` -- so that a user sees a
``ConfigurationError`` naming the missing column or bad argument, never a
``KeyError`` from deep inside pandas. Periods (``freq``) are read by
:mod:`~ledgerkit.analysis.periods`, re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._ingest.schema import require_frame
from ..errors import ConfigurationError
from .periods import (
    FREQS,
    check_freq,
    period_end,
    period_numbers,
    period_range,
    period_start,
    period_starts,
    utc_nanoseconds,
)

__all__ = [
    "FREQS",
    "require_frame",
    "require_columns",
    "require_no_missing",
    "require_utc",
    "MAX_TOTAL",
    "require_total_fits",
    "require_levels_fit",
    "MAX_LEVEL",
    "minor_units",
    "check_freq",
    "period_start",
    "period_end",
    "period_range",
    "empty_frame",
    "direction",
    "codes",
    "dense_codes",
    "arrow_text",
    "plain_text",
    "period_numbers",
    "period_starts",
    "utc_nanoseconds",
]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], parameter: str) -> None:
    """Raise ``ConfigurationError`` naming every column of ``columns`` missing from ``frame``.

    For frames without a contract of their own (analysis results given to
    the plots); loader and analysis input frames are checked by their
    schema (:meth:`ledgerkit._ingest.schema.Schema.check`).

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a"], "statements")
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigurationError(
            parameter,
            f"<DataFrame with columns {list(frame.columns)}>",
            f"a DataFrame with the columns {missing} as well",
        )


def require_no_missing(frame: pd.DataFrame, columns: Iterable[str], parameter: str) -> None:
    """Raise ``ConfigurationError`` when a column holds a missing value (money must be complete)."""
    for column in columns:
        missing = frame[column].isna()
        if missing.any():
            position = int(np.flatnonzero(missing.to_numpy())[0])
            raise ConfigurationError(
                f"{parameter}[{column!r}]",
                f"<NA> at row {position}",
                "a value on every row: missing money is never read as 0, nor a missing time, currency or id guessed",
            )


def require_utc(frame: pd.DataFrame, column: str, parameter: str) -> pd.Series:
    """The column as tz-aware UTC timestamps; naive or non-datetime columns are refused."""
    values = frame[column]
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ConfigurationError(
            f"{parameter}[{column!r}]", str(values.dtype), "tz-aware datetimes (datetime64[ns, UTC])"
        )
    return values.dt.tz_convert("UTC")


#: Largest total of absolute money values in one column: sums of them fit in int64.
MAX_TOTAL = 2**62
#: A balance's bound (see :func:`require_levels_fit`).
MAX_LEVEL = 2**60


def require_total_fits(values: np.ndarray, name: str) -> None:
    """Refuse int64 money whose absolute total could overflow a 64-bit sum (never a silent wrap-around).

    Examples
    --------
    >>> require_total_fits(np.array([2**61, 2**61], dtype="int64"), "amount")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: amount='<values adding up to 4.6e+18 in absolute terms>' is not valid: \
expected money whose absolute total stays below 2**62 minor units (sums must fit in 64-bit integers)
    """
    if not len(values):
        return
    peak = max(int(values.max()), -int(values.min()))
    if peak * len(values) < MAX_TOTAL:
        return
    total = float(np.abs(values.astype("float64")).sum())
    if total >= MAX_TOTAL:
        raise ConfigurationError(
            name,
            f"<values adding up to {total:.2g} in absolute terms>",
            "money whose absolute total stays below 2**62 minor units (sums must fit in 64-bit integers)",
        )


def require_levels_fit(values: np.ndarray, name: str) -> None:
    """Refuse balances (levels: compared and differenced, never added up over rows) of ``MAX_LEVEL`` or more.

    Below it, a difference of two balances less a movement stays inside
    int64, however many rows there are.

    Examples
    --------
    >>> require_levels_fit(np.array([2**60], dtype="int64"), "balance_after")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: balance_after='<a balance of 1.2e+18>' is not valid: \
expected balances below 2**60 minor units in absolute value
    """
    if not len(values):
        return
    peak = max(int(values.max()), -int(values.min()))
    if peak >= MAX_LEVEL:
        raise ConfigurationError(
            name, f"<a balance of {peak:.2g}>", "balances below 2**60 minor units in absolute value"
        )


def minor_units(values: pd.Series, parameter: str | None = None, *, level: bool = False) -> np.ndarray:
    """A complete money column as an int64 array; float money is refused, never rounded.

    ``parameter`` (the argument's name) prefixes the column in messages.
    Values whose total could overflow a 64-bit sum are refused too; with
    ``level`` (balances, which are never added up over rows) each value
    must stay below ``MAX_LEVEL`` instead.

    Examples
    --------
    >>> minor_units(pd.Series([1, -6], dtype="Int64", name="amount")).tolist()
    [1, -6]
    """
    name = str(values.name) if parameter is None else f"{parameter}[{values.name!r}]"
    if not pd.api.types.is_integer_dtype(values.dtype):
        raise ConfigurationError(name, str(values.dtype), "integer minor units (Int64), never floats")
    out = values.to_numpy(dtype="int64")
    (require_levels_fit if level else require_total_fits)(out, name)
    return out


def empty_frame(dtypes: dict[str, Any]) -> pd.DataFrame:
    """An empty DataFrame with exactly these columns and dtypes."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})


def direction(difference: pd.Series) -> pd.Series:
    """``"too much"`` for a positive difference, ``"too little"`` for a negative one, else NA."""
    out = pd.Series(pd.NA, index=difference.index, dtype="str")
    out = out.mask(difference.gt(0).fillna(False), "too much")
    return out.mask(difference.lt(0).fillna(False), "too little")


def codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (``-1`` for missing) and the distinct values they stand for.

    Lets the analysis group millions of rows on small integers instead of
    converting text columns row by row; categoricals cost nothing here.

    Examples
    --------
    >>> c, u = codes(pd.Series(["EUR", "USD", None, "EUR"], dtype="str"))
    >>> c.tolist(), u.tolist()
    ([0, 1, -1, 0], ['EUR', 'USD'])
    """
    found, uniques = pd.factorize(values, use_na_sentinel=True)
    return found.astype("int64", copy=False), np.asarray(uniques, dtype=object)


def arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """A text column's values as Arrow (no copy for Arrow-backed ``str``).

    ``pa.chunked_array([...])`` of a column read from Parquet -- already
    chunked -- would walk it value by value (~50x slower), so a chunked
    array is taken as it is.

    Examples
    --------
    >>> arrow_text(pd.Series(["a", None], dtype="str")).to_pylist()
    ['a', None]
    """
    found = pa.array(values.array, from_pandas=True)
    return found if isinstance(found, pa.ChunkedArray) else pa.chunked_array([found])


def plain_text(values: pd.Series) -> pd.Series | None:
    """A categorical column of text categories as plain ``str`` values (as ``astype``), or None for any other column.

    Takes the categories by the codes (Arrow's take): about twenty times
    faster than ``astype``, which builds the text again value by value.

    Examples
    --------
    >>> plain_text(pd.Series(["a", None, "b"], dtype="category").astype(
    ...     pd.CategoricalDtype(pd.Index(["a", "b"], dtype="str")))).tolist()
    ['a', nan, 'b']
    >>> plain_text(pd.Series([1, 2])) is None
    True
    """
    dtype = values.dtype
    if not isinstance(dtype, pd.CategoricalDtype) or not isinstance(dtype.categories.dtype, pd.StringDtype):
        return None
    taken = dtype.categories.array.take(values.cat.codes.to_numpy(), allow_fill=True)
    return pd.Series(taken, index=values.index, name=values.name)


def dense_codes(values: pd.Series) -> np.ndarray:
    """Codes equal exactly where the values are equal (missing values equal each other).

    For columns of many distinct strings (ids) this sorts instead of hashing:
    a hash table of millions of distinct strings is several times slower.

    Examples
    --------
    >>> dense_codes(pd.Series(["b", "a", "b", None, None], dtype="str")).tolist()
    [1, 0, 1, 2, 2]
    """
    if not isinstance(values.dtype, pd.StringDtype) or not len(values):
        return codes(values)[0]  # missing values share the code -1
    array = arrow_text(values)
    order = pc.sort_indices(array).to_numpy()
    ordered = array.take(order)
    same = pc.equal(ordered[1:], ordered[:-1]).fill_null(False).to_numpy(zero_copy_only=False)
    nulls = ordered.is_null().to_numpy(zero_copy_only=False)
    same |= nulls[1:] & nulls[:-1]
    out = np.empty(len(order), dtype="int64")
    out[order] = np.r_[0, np.cumsum(~same)]
    return out
