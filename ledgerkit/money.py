"""Currencies and exact money: exponents, conversion to integer minor units, display.

Money inside ledgerkit is always an integer count of minor units of a named
currency (``1234`` EUR is 12.34 EUR; ``1234`` JPY is 1,234 yen). This module
is the only place that knows how many minor units a currency has, and the
only place that turns decimals into minor units and back. The sandbox and the
client share it on purpose: it is a table, not logic that could hide a bug.

Exponents come from ISO 4217 (via Babel's CLDR data, with the handful of
codes where CLDR differs from ISO 4217 corrected) plus a table of our own for
crypto currencies.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from babel import numbers as _babel_numbers

from .errors import ConfigurationError

__all__ = [
    "CRYPTO_EXPONENTS",
    "exponent",
    "check_currency",
    "is_currency",
    "to_minor",
    "from_minor",
    "floats_to_minor",
    "decimals_to_minor",
    "minor_to_major",
    "format_money",
]

#: Minor-unit exponents of crypto codes (platform precision, bounded so that
#: amounts fit an int64).
CRYPTO_EXPONENTS: dict[str, int] = {
    "BTC": 8,
    "ETH": 8,
    "LTC": 8,
    "BCH": 8,
    "BNB": 8,
    "DOGE": 8,
    "USDT": 6,
    "USDC": 6,
    "TRX": 6,
    "XRP": 6,
    "SOL": 9,
    "TON": 9,
}

# ISO 4217 minor units where CLDR's "digits" (what Babel reports) differ.
_ISO_OVERRIDES: dict[str, int] = {
    "IQD": 3,
    "LAK": 2,
    "RSD": 2,
    "ALL": 2,
    "AFN": 2,
    "IRR": 2,
    "LBP": 2,
    "MMK": 2,
    "SOS": 2,
    "SYP": 2,
    "YER": 2,
    "KPW": 2,
    "SLL": 2,
    "MGA": 2,
}

# ISO 4217 codes with no minor unit ("N.A.": metals, funds, testing codes).
_NOT_MONEY = {"XAU", "XAG", "XPT", "XPD", "XXX", "XTS", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD"}


@cache
def _iso_codes() -> frozenset[str]:
    return frozenset(_babel_numbers.list_currencies()) - _NOT_MONEY


def is_currency(code: Any) -> bool:
    """Whether ``code`` is an ISO 4217 currency or a known crypto code.

    Examples
    --------
    >>> is_currency("KWD"), is_currency("BTC"), is_currency("ABC")
    (True, True, False)
    """
    return isinstance(code, str) and (code in _iso_codes() or code in CRYPTO_EXPONENTS)


def check_currency(code: Any, parameter: str = "currency") -> str:
    """Return ``code`` upper-cased if it is a known currency, else raise.

    Raises
    ------
    ConfigurationError
        Naming ``parameter``, the value and what is expected.

    Examples
    --------
    >>> check_currency("eur")
    'EUR'
    """
    if isinstance(code, str) and is_currency(code.strip().upper()):
        return code.strip().upper()
    raise ConfigurationError(parameter, code, "an ISO 4217 currency code such as 'EUR' or a crypto code such as 'BTC'")


@cache
def exponent(currency: str) -> int:
    """Number of decimal digits of the currency's minor unit.

    Examples
    --------
    >>> exponent("EUR"), exponent("JPY"), exponent("KWD"), exponent("BTC")
    (2, 0, 3, 8)
    """
    code = check_currency(currency)
    if code in CRYPTO_EXPONENTS:
        return CRYPTO_EXPONENTS[code]
    if code in _ISO_OVERRIDES:
        return _ISO_OVERRIDES[code]
    return int(_babel_numbers.get_currency_precision(code))


def to_minor(value: Any, currency: str) -> tuple[int, bool]:
    """Convert a major-unit amount to integer minor units, exactly.

    Floats are read through their shortest repr (``0.1`` is 0.1, not
    0.1000000000000000055...). A fraction of a minor unit is rounded half to
    even; the second item of the result says whether that happened.

    Examples
    --------
    >>> to_minor("-0.06", "EUR")
    (-6, False)
    >>> to_minor(1.005, "EUR")
    (100, True)
    >>> to_minor("1.234", "KWD")
    (1234, False)
    """
    try:
        dec = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    scaled = dec.scaleb(exponent(currency))
    minor = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
    return int(minor), minor != scaled


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units back to an exact major-unit ``Decimal``.

    Examples
    --------
    >>> from_minor(-6, "EUR"), from_minor(1234, "JPY"), from_minor(1234, "KWD")
    (Decimal('-0.06'), Decimal('1234'), Decimal('1.234'))
    """
    return Decimal(int(minor)).scaleb(-exponent(currency))


def floats_to_minor(values: Any, exp: int) -> tuple[pd.arrays.IntegerArray, int]:
    """Vectorised major-unit floats -> ``Int64`` minor units, exact.

    A float whose shortest repr has at most ``exp`` decimals lands within
    1e-6 of an integer once scaled, so ``rint`` gives the exact value. The
    rest (a fraction of a minor unit) go through ``Decimal`` and are rounded
    half to even. Missing values stay missing.

    Returns
    -------
    (array, n_rounded)
        The ``Int64`` array and how many values carried a sub-minor fraction.

    Examples
    --------
    >>> arr, n = floats_to_minor([-0.06, 9.34, None, 0.125], 2)
    >>> arr.tolist(), n
    ([-6, 934, <NA>, 12], 1)
    """
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        x = values
    else:
        x = pd.to_numeric(pd.Series(values, dtype="object")).to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(x)
    scaled = x * (10.0**exp)
    rounded = np.rint(scaled)
    off = ~missing & (np.abs(scaled - rounded) > 1e-6)
    n_rounded = 0
    if off.any():
        idx = np.flatnonzero(off)
        for i in idx:
            exact = Decimal(repr(float(x[i]))).scaleb(exp)
            r = exact.to_integral_value(rounding=ROUND_HALF_EVEN)
            rounded[i] = float(r)
            n_rounded += int(r != exact)
    out = pd.array(np.where(missing, 0, rounded).astype("int64"), dtype="Int64")
    out[missing] = pd.NA
    return out, n_rounded


#: How far from a whole minor unit a value may be and still be that unit (float noise).
_NOISE = Decimal("1e-6")


def decimals_to_minor(values: Iterable[Any], exp: int) -> tuple[pd.arrays.IntegerArray, int]:
    """Decimal strings (or ``Decimal`` objects) -> ``Int64`` minor units, exact.

    Empty strings and missing values become ``<NA>``. Raises ``ValueError``
    naming the first value that is not a decimal number. A value within
    1e-6 of a minor unit (``142.01000000000002``, a float written out in
    full) is that minor unit -- representation noise, not rounding -- and is
    not counted as rounded.

    Examples
    --------
    >>> arr, n = decimals_to_minor(["10.00", "-0.06", "", "1.005", "142.01000000000002"], 2)
    >>> arr.tolist(), n
    ([1000, -6, <NA>, 100, 14201], 1)
    """
    out: list[Any] = []
    n_rounded = 0
    for v in values:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            out.append(pd.NA)
            continue
        try:
            dec = Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v).strip().replace(" ", ""))
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal amount: {v!r}") from exc
        if not dec.is_finite():
            raise ValueError(f"not a decimal amount: {v!r}")
        scaled = dec.scaleb(exp)
        r = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
        n_rounded += int(abs(scaled - r) > _NOISE)
        out.append(int(r))
    return pd.array(out, dtype="Int64"), n_rounded


def minor_to_major(minor: pd.Series, currency: str) -> pd.Series:
    """Minor units as float major units, **for display and plotting only**.

    Examples
    --------
    >>> minor_to_major(pd.Series([1234], dtype="Int64"), "EUR").tolist()
    [12.34]
    """
    return minor.astype("Float64") / (10 ** exponent(currency))


def format_money(minor: int, currency: str, *, sign: bool = False) -> str:
    """Human display of an amount: ``format_money(-6, "EUR") == '-0.06 EUR'``.

    Examples
    --------
    >>> format_money(123456, "EUR"), format_money(1500, "JPY"), format_money(5, "EUR", sign=True)
    ('1,234.56 EUR', '1,500 JPY', '+0.05 EUR')
    """
    exp = exponent(currency)
    text = f"{from_minor(minor, currency):{'+' if sign else ''},.{exp}f}"
    return f"{text} {check_currency(currency)}"
