"""How a ledgerkit frame looks to people: the one display formatter.

Notebooks (:func:`ledgerkit.app.notebook.show`) and the interactive explorers
(:mod:`ledgerkit.viz.widgets`) both show analysis frames through :func:`show`:
money in major units of the row's currency (``123456`` EUR minor units read
``1,234.56``, or ``1,234.56 EUR`` with ``with_code=True``), floats rounded,
missing values blank, personal data left out. The result is a new frame of
text, for display only: compute on the original frame, never on what
:func:`show` returns.

Examples
--------
>>> df = pd.DataFrame({"net": pd.array([123456], dtype="Int64"), "currency": ["EUR"]})
>>> show(df, with_code=True).to_dict("list")
{'currency': ['EUR'], 'net': ['1,234.56 EUR']}
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from ..errors import ConfigurationError
from ..money import exponent, from_minor

__all__ = ["show", "money_columns", "PII_PREFIXES"]

#: ``Int64`` columns of ledgerkit frames that hold counts or ids, not money.
_NOT_MONEY = frozenset({"count", "volume_count", "rows", "records", "position", "n", "n_explained", "attempt"})

#: Column name beginnings that hold personal data; :func:`show` leaves them out by default.
PII_PREFIXES = ("customer.", "billing_address.", "credit_card.holder", "credit_card.token", "credit_card.bin",
                "credit_card.last_4", "additional_data.", "three_d_secure_verification.", "merchant_reference")


def money_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that hold money in minor units.

    By the ledgerkit frame conventions: ``Int64`` columns that are not counts
    (``count``, ``rows``, ...), not ids (``*id``) and not flattened nested
    fields (dotted names).

    Examples
    --------
    >>> df = pd.DataFrame({"payout_id": ["1"], "rows": [3], "net": [250], "currency": ["EUR"]})
    >>> money_columns(df.astype({"rows": "Int64", "net": "Int64"}))
    ['net']
    """
    return [
        str(name)
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.Int64Dtype)
        and name not in _NOT_MONEY
        and not str(name).endswith("id")
        and "." not in str(name)
    ]


def show(
    frame: pd.DataFrame,
    *,
    money: Iterable[str] | None = None,
    currency: str | None = None,
    digits: int = 2,
    columns: Iterable[str] | None = None,
    with_code: bool = False,
    drop_pii: bool = True,
) -> pd.DataFrame:
    """A display copy of ``frame``: money in major units, floats rounded, blanks for missing.

    Parameters
    ----------
    frame : DataFrame
        A ledgerkit frame with money in ``Int64`` minor units and a
        ``currency`` column.
    money : iterable of str, optional
        The money columns; by default :func:`money_columns`.
    currency : str, optional
        The currency of every row, for frames without a ``currency`` column.
    digits : int
        Decimal places of float columns (rates in basis points, shares).
    columns : iterable of str, optional
        Show only these columns, in this order.
    with_code : bool
        Follow each amount by its currency code (``1,234.56 EUR``), for
        tables where the currency column is not beside the money.
    drop_pii : bool
        Leave out the columns of personal data (:data:`PII_PREFIXES`:
        customer, billing address, card holder, ...), even when named in
        ``columns``.

    Returns
    -------
    DataFrame
        Text cells, same index; money as ``1,234.56`` in the row's currency
        (no float on the way: minor units become ``Decimal``), the currency
        column first. For the eye only.

    Raises
    ------
    ConfigurationError
        Money columns but neither a ``currency`` column nor ``currency``.

    Examples
    --------
    >>> df = pd.DataFrame({"currency": ["EUR", "JPY", "KWD"], "net": pd.array([123456, 1500, -6], dtype="Int64"),
    ...                    "rate_bp": [204.115258, 0.0, None], "customer.email": ["a@example.com"] * 3})
    >>> show(df).to_dict("list")
    {'currency': ['EUR', 'JPY', 'KWD'], 'net': ['1,234.56', '1,500', '-0.006'], 'rate_bp': ['204.12', '0.00', '']}
    >>> show(df, with_code=True, digits=1, columns=["net", "rate_bp"]).to_dict("list")
    {'net': ['1,234.56 EUR', '1,500 JPY', '-0.006 KWD'], 'rate_bp': ['204.1', '0.0', '']}
    """
    shown = frame if columns is None else frame.loc[:, list(columns)]
    if drop_pii:
        shown = shown.loc[:, [c for c in shown.columns if not str(c).startswith(PII_PREFIXES)]]
    money = money_columns(shown) if money is None else [m for m in money if m in shown.columns]
    currencies = _row_currencies(frame, shown.index, currency) if money else None
    out = {}
    for name, values in shown.items():
        if name in money:
            out[name] = _major_text(values, currencies, with_code)
        elif pd.api.types.is_float_dtype(values.dtype):
            out[name] = ["" if pd.isna(v) else f"{v:,.{digits}f}" for v in values]
        else:
            out[name] = ["" if _is_missing(v) else str(v) for v in values]
    result = pd.DataFrame(out, index=shown.index, dtype="str")
    if "currency" in result.columns:
        result = result[["currency", *[c for c in result.columns if c != "currency"]]]
    return result


def _row_currencies(frame: pd.DataFrame, index: pd.Index, currency: str | None) -> pd.Series:
    """The currency of each shown row: the frame's ``currency`` column, else ``currency`` for all."""
    if "currency" in frame.columns:
        return frame.loc[index, "currency"]
    if currency is not None:
        return pd.Series(currency, index=index)
    raise ConfigurationError("currency", None, "a currency code for a frame without a 'currency' column")


def _major_text(minor: Iterable[Any], currencies: Iterable[Any], with_code: bool) -> list[str]:
    out = []
    for value, currency in zip(minor, currencies):
        if pd.isna(value) or pd.isna(currency):
            out.append("")
            continue
        code = str(currency)
        text = f"{from_minor(int(value), code):,.{exponent(code)}f}"
        out.append(f"{text} {code}" if with_code else text)
    return out


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a scalar, not missing
        return False
