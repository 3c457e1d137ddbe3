"""How a ledgerkit frame looks to people: the one display formatter.

Notebooks (:func:`ledgerkit.app.notebook.show`), the interactive explorers
(:mod:`ledgerkit.viz.widgets`) and the close pack's HTML page all show
analysis frames through :func:`show`, so a table reads the same everywhere:

- money in major units of the row's currency (``123456`` EUR minor units
  read ``1,234.56``; ``1,234.56 EUR`` with ``with_code=True``), one format
  per column, never a float on the way;
- floats (rates in basis points, shares) with the same number of decimals;
- periods as what they are: ``2025-01`` (month), ``2025-W03`` (ISO week),
  ``2025-01-14`` (day); UTC times as ``2025-01-14 09:30:00``;
- a group without a value (a payment without a card brand) as ``(none)``,
  as the charts label it; other missing values blank;
- no pandas row index, and no personal data.

The result is a :class:`DisplayTable`: a frame of text, for display only.
Compute on the original frame, never on what :func:`show` returns.

Examples
--------
>>> df = pd.DataFrame({"net": pd.array([123456], dtype="Int64"), "currency": ["EUR"]})
>>> show(df, with_code=True).to_dict("list")
{'currency': ['EUR'], 'net': ['1,234.56 EUR']}
>>> print(show(df))
currency      net
     EUR 1,234.56
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import pandas as pd

from ..errors import ConfigurationError
from ..money import exponent, from_minor

__all__ = ["show", "money_columns", "period_format", "table_html", "DisplayTable", "PII_PREFIXES", "NONE_LABEL",
           "is_group_column"]

#: ``Int64`` columns of ledgerkit frames that hold counts or ids, not money.
_NOT_MONEY = frozenset({"count", "volume_count", "rows", "records", "position", "n", "n_explained", "attempt",
                        "checked", "failing", "pages"})

#: Column name beginnings that hold personal data; :func:`show` leaves them out by default.
PII_PREFIXES = ("customer.", "billing_address.", "credit_card.holder", "credit_card.token", "credit_card.bin",
                "credit_card.last_4", "additional_data.", "three_d_secure_verification.", "merchant_reference")

#: How a group without a value is labelled, in tables and in charts alike.
NONE_LABEL = "(none)"

#: Group columns that are not dotted names (flattened nested fields always are group columns).
_GROUP_COLUMNS = frozenset({"channel", "payment_method_type", "fee_type"})

_FREQ_FORMATS = {"M": "%Y-%m", "W": "%G-W%V", "D": "%Y-%m-%d"}


class DisplayTable(pd.DataFrame):
    """A frame of display text that shows without the pandas row index.

    What :func:`show` returns. In a notebook it renders as an HTML table of
    its columns only; ``print`` gives the same without the index.
    """

    @property
    def _constructor(self) -> type:
        return DisplayTable

    def _repr_html_(self) -> str:
        return table_html(self, max_rows=pd.get_option("display.max_rows"))

    def __repr__(self) -> str:
        if self.empty:
            return f"(no rows) columns: {', '.join(map(str, self.columns))}"
        return self.to_string(index=False, max_rows=pd.get_option("display.max_rows"))


_HEADER = re.compile(r"(<th[^>]*>)([^<]*)(</th>)")


def table_html(table: pd.DataFrame, *, max_rows: int | None = None) -> str:
    """An HTML table of display text without the index; long column names may wrap at ``_`` and ``.``.

    A header such as ``rate_effect_bp`` is often wider than the numbers
    under it: a break opportunity (``<wbr>``) after each ``_`` and ``.`` lets
    it take two lines instead of pushing the table past the window.

    Examples
    --------
    >>> "<th>rate_<wbr>bp</th>" in table_html(pd.DataFrame({"rate_bp": ["1.00"]}))
    True
    """
    markup = table.to_html(index=False, na_rep="", max_rows=max_rows, show_dimensions="truncate" if max_rows else False,
                           classes="ledgerkit-table", escape=True)
    return _HEADER.sub(lambda m: m.group(1) + m.group(2).replace("_", "_<wbr>").replace(".", ".<wbr>") + m.group(3),
                       markup)


def is_group_column(name: Any) -> bool:
    """Whether a column names a group (card brand, gateway, channel, fee type, ...).

    Examples
    --------
    >>> is_group_column("credit_card.brand"), is_group_column("channel"), is_group_column("net")
    (True, True, False)
    """
    return "." in str(name) or str(name) in _GROUP_COLUMNS


def period_format(periods: Any, period_end: Any = None, freq: str | None = None) -> str:
    """The ``strftime`` format that names these period starts: month, ISO week or day.

    Parameters
    ----------
    periods : Series of UTC timestamps
        Period starts (a ``period`` column).
    period_end : Series, optional
        The periods' ends (``period_end``); with it the length is known.
    freq : {"D", "W", "M"}, optional
        The period length, when the caller knows it.

    Returns
    -------
    str
        ``"%Y-%m"`` (``2025-01``) for calendar months, ``"%G-W%V"``
        (``2025-W03``) for weeks from Monday, else ``"%Y-%m-%d"``: the day
        format names any period start unambiguously, so it is the answer
        whenever the length cannot be told for sure.

    Examples
    --------
    >>> months = pd.Series(pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True))
    >>> period_format(months), period_format(months.iloc[:1]), period_format(months.iloc[:1], freq="M")
    ('%Y-%m', '%Y-%m-%d', '%Y-%m')
    """
    if freq is not None:
        if freq not in _FREQ_FORMATS:
            raise ConfigurationError("freq", freq, "'D', 'W' or 'M'")
        return _FREQ_FORMATS[freq]
    starts = pd.DatetimeIndex(pd.Series(periods).dropna())
    if starts.empty:
        return _FREQ_FORMATS["D"]
    midnight = bool((starts.normalize() == starts).all())
    if period_end is not None:
        ends = pd.DatetimeIndex(pd.Series(period_end).dropna())
        if len(ends) == len(starts) and midnight:
            for code, offset in (("D", pd.DateOffset(days=1)), ("W", pd.DateOffset(weeks=1)),
                                 ("M", pd.DateOffset(months=1))):
                if bool((starts + offset == ends).all()) and (code != "W" or bool((starts.day_of_week == 0).all())):
                    return _FREQ_FORMATS[code]
        return _FREQ_FORMATS["D"]
    steps = set(pd.Series(starts.sort_values().unique()).diff().dropna().dt.days)
    if not midnight or not steps:
        return _FREQ_FORMATS["D"]
    if bool((starts.day == 1).all()) and steps <= {28, 29, 30, 31}:
        return _FREQ_FORMATS["M"]
    if bool((starts.day_of_week == 0).all()) and all(step % 7 == 0 for step in steps):
        return _FREQ_FORMATS["W"]
    return _FREQ_FORMATS["D"]


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
    freq: str | None = None,
) -> DisplayTable:
    """A display copy of ``frame``: money in major units, floats rounded, periods named, no index.

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
        Show only these columns, in this order. By default every column,
        except ``period_end`` when ``period`` names the periods (``2025-01``
        says where January ends).
    with_code : bool
        Follow each amount by its currency code (``1,234.56 EUR``), for
        tables where the currency column is not beside the money.
    drop_pii : bool
        Leave out the columns of personal data (:data:`PII_PREFIXES`:
        customer, billing address, card holder, ...), even when named in
        ``columns``.
    freq : {"D", "W", "M"}, optional
        The length of the ``period`` column's periods; by default told
        from ``period_end`` or the periods themselves (:func:`period_format`).

    Returns
    -------
    DisplayTable
        Text cells, same index (not shown); money as ``1,234.56`` in the
        row's currency (no float on the way: minor units become
        ``Decimal``), the currency column first. For the eye only.

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
    >>> r = pd.DataFrame({"currency": ["EUR"], "period": pd.to_datetime(["2025-01-13"], utc=True),
    ...                   "period_end": pd.to_datetime(["2025-01-20"], utc=True)})
    >>> show(r).to_dict("list")
    {'currency': ['EUR'], 'period': ['2025-W03']}
    """
    shown = frame if columns is None else frame.loc[:, list(columns)]
    if drop_pii:
        shown = shown.loc[:, [c for c in shown.columns if not str(c).startswith(PII_PREFIXES)]]
    period = _period_column(frame, freq)
    if columns is None and period is not None and "period_end" in shown.columns:
        shown = shown.drop(columns="period_end")
    money = money_columns(shown) if money is None else [m for m in money if m in shown.columns]
    currencies = _row_currencies(frame, shown.index, currency) if money else None
    out = {}
    for name, values in shown.items():
        if name in money:
            out[name] = _major_text(values, currencies, with_code)
        elif name == "period" and period is not None:
            out[name] = ["" if pd.isna(v) else v.strftime(period) for v in values]
        elif pd.api.types.is_float_dtype(values.dtype):
            out[name] = ["" if pd.isna(v) else f"{v:,.{digits}f}" for v in values]
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            out[name] = _time_text(values)
        else:
            missing = NONE_LABEL if is_group_column(name) else ""
            out[name] = [missing if _is_missing(v) else str(v) for v in values]
    result = DisplayTable(out, index=shown.index, dtype="str")
    if "currency" in result.columns:
        result = result[["currency", *[c for c in result.columns if c != "currency"]]]
    return result


def _period_column(frame: pd.DataFrame, freq: str | None) -> str | None:
    """The strftime format of the frame's ``period`` column, None when it has none."""
    if "period" not in frame.columns or not isinstance(frame["period"].dtype, pd.DatetimeTZDtype):
        return None
    return period_format(frame["period"], frame["period_end"] if "period_end" in frame.columns else None, freq)


def _time_text(values: pd.Series) -> list[str]:
    """UTC times without the ``+00:00`` the column's zone makes redundant; other zones keep their offset."""
    utc = str(values.dtype.tz) == "UTC"
    return ["" if pd.isna(v) else (v.strftime("%Y-%m-%d %H:%M:%S") if utc else str(v)) for v in values]


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
