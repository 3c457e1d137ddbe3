"""How a ledgerkit frame looks to people: the one display formatter.

Notebooks (:func:`ledgerkit.app.notebook.show`), the interactive explorers
(:mod:`ledgerkit.viz.widgets`) and the close pack's HTML page all show
analysis frames through :func:`show`, so a table reads the same everywhere:

- money in major units of the row's currency (``123456`` EUR minor units
  read ``1,234.56``; ``1,234.56 EUR`` with ``with_code=True``), one format
  per column, never a float on the way;
- floats (rates in basis points, shares) with the same number of decimals;
- periods as what they are: ``2025-01`` (month), ``2025-W03`` (ISO week),
  ``2025-Q1`` (quarter), ``2025`` (year), ``2025-01-14`` (day, and any
  period that starts elsewhere: a week from Sunday, a fiscal year); UTC
  times as ``2025-01-14 09:30:00``;
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
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..analysis.periods import Freq, check_freq
from ..errors import ConfigurationError
from ..money import exponent, from_minor

__all__ = [
    "show",
    "money_columns",
    "period_format",
    "period_labels",
    "table_html",
    "DisplayTable",
    "PII_PREFIXES",
    "NONE_LABEL",
    "is_group_column",
]

#: ``Int64`` columns of ledgerkit frames that hold counts or ids, not money.
_NOT_MONEY = frozenset(
    {
        "count",
        "volume_count",
        "rows",
        "records",
        "position",
        "n",
        "n_explained",
        "attempt",
        "checked",
        "failing",
        "pages",
    }
)

#: Column name beginnings that hold personal data; :func:`show` leaves them out by default.
PII_PREFIXES = (
    "customer.",
    "billing_address.",
    "credit_card.holder",
    "credit_card.token",
    "credit_card.bin",
    "credit_card.last_4",
    "additional_data.",
    "three_d_secure_verification.",
    "merchant_reference",
)

#: How a group without a value is labelled, in tables and in charts alike.
NONE_LABEL = "(none)"

#: Group columns that are not dotted names (flattened nested fields always are group columns).
_GROUP_COLUMNS = frozenset({"channel", "payment_method_type", "fee_type"})


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
    markup = table.to_html(
        index=False,
        na_rep="",
        max_rows=max_rows,
        show_dimensions="truncate" if max_rows else False,
        classes="ledgerkit-table",
        escape=True,
    )
    return _HEADER.sub(
        lambda m: m.group(1) + m.group(2).replace("_", "_<wbr>").replace(".", ".<wbr>") + m.group(3), markup
    )


def is_group_column(name: Any) -> bool:
    """Whether a column names a group (card brand, gateway, channel, fee type, ...).

    Examples
    --------
    >>> is_group_column("credit_card.brand"), is_group_column("channel"), is_group_column("net")
    (True, True, False)
    """
    return "." in str(name) or str(name) in _GROUP_COLUMNS


def period_format(periods: Any, period_end: Any = None, freq: Any = None) -> str:
    """The format that names these period starts: day, ISO week, month, quarter or year.

    Parameters
    ----------
    periods : Series of UTC timestamps
        Period starts (a ``period`` column).
    period_end : Series, optional
        The periods' ends (``period_end``); with it the length is known.
    freq : str, optional
        The period length, when the caller knows it: any ``freq`` of the
        analysis (``"D"``, ``"W"``, ``"M"``, ``"QE"``, ``"YS"``, ``"W-SAT"``,
        ...; :mod:`ledgerkit.analysis.periods`).

    Returns
    -------
    str
        A ``strftime`` format, plus ``%q`` for the quarter (1 to 4), which
        :func:`period_labels` fills in: ``"%Y-%m"`` (``2025-01``) for
        calendar months, ``"%G-W%V"`` (``2025-W03``) for weeks from Monday,
        ``"%Y-Q%q"`` (``2025-Q1``) for calendar quarters, ``"%Y"``
        (``2025``) for calendar years, else ``"%Y-%m-%d"``: the day format
        names any period start unambiguously (a week from Sunday, a
        quarter or year from another month), so it is the answer whenever
        the kind cannot be told for sure.

    Examples
    --------
    >>> months = pd.Series(pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True))
    >>> period_format(months), period_format(months.iloc[:1]), period_format(months.iloc[:1], freq="M")
    ('%Y-%m', '%Y-%m-%d', '%Y-%m')
    >>> period_format(months.iloc[:1], freq="QE"), period_format(months.iloc[:1], freq="YE-JUN")
    ('%Y-Q%q', '%Y-%m-%d')
    """
    if freq is not None:
        return _FORMATS[_named(check_freq(freq))]
    starts = pd.DatetimeIndex(pd.Series(periods).dropna())
    if starts.empty or not bool((starts.normalize() == starts).all()):
        return _FORMATS["D"]
    if period_end is not None:
        ends = pd.DatetimeIndex(pd.Series(period_end).dropna())
        found = _freq_of_spans(starts, ends) if len(ends) == len(starts) else None
    else:
        found = _freq_of_steps(starts)
    return _FORMATS["D"] if found is None else _FORMATS[_named(found)]


def period_labels(periods: Any, period_end: Any = None, freq: Any = None) -> list[str]:
    """The periods named as in the tables and charts (:func:`period_format`); ``""`` for a missing one.

    Examples
    --------
    >>> quarters = pd.Series(pd.to_datetime(["2025-01-01", "2025-04-01"], utc=True))
    >>> period_labels(quarters), period_labels(quarters, freq="QS-JAN"), period_labels(quarters, freq="D")
    (['2025-Q1', '2025-Q2'], ['2025-Q1', '2025-Q2'], ['2025-01-01', '2025-04-01'])
    """
    fmt = period_format(periods, period_end, freq)
    return [_period_label(start, fmt) for start in pd.Series(periods)]


def _period_label(start: Any, fmt: str) -> str:
    if pd.isna(start):
        return ""
    return start.strftime(fmt.replace("%q", str((start.month - 1) // 3 + 1)))


#: How each kind of period is named (the day format for weeks, quarters and years of other starts).
_FORMATS = {"D": "%Y-%m-%d", "W": "%G-W%V", "M": "%Y-%m", "Q": "%Y-Q%q", "Y": "%Y"}


def _named(freq: Freq) -> str:
    """The key of :data:`_FORMATS` for ``freq``: its unit when it starts where its label says, else ``"D"``."""
    return freq.unit if freq.start == 0 else "D"


def _freq_of_spans(starts: pd.DatetimeIndex, ends: pd.DatetimeIndex) -> Freq | None:
    """The kind of period that runs from each start to its end, the same for all; None when there is none."""
    if bool((starts + pd.Timedelta(days=1) == ends).all()):
        return Freq("D")
    if bool((starts + pd.Timedelta(days=7) == ends).all()) and len(set(starts.day_of_week)) == 1:
        return Freq("W", int(starts.day_of_week[0]))
    for unit, months in (("M", 1), ("Q", 3), ("Y", 12)):
        if bool((starts + pd.DateOffset(months=months) == ends).all()):
            return _month_kind(starts, unit, months)
    return None


def _freq_of_steps(starts: pd.DatetimeIndex) -> Freq | None:
    """The kind of period the distinct starts step by (consecutive periods only); None when not sure."""
    ordered = starts.unique().sort_values()
    if len(ordered) < 2:
        return None
    months = pd.Series(ordered.year * 12 + ordered.month - 1).diff().dropna()
    for unit, step in (("M", 1), ("Q", 3), ("Y", 12)):
        if set(months) == {step}:
            return _month_kind(starts, unit, step)
    days = set(pd.Series(ordered).diff().dropna().dt.days)
    if bool((starts.day_of_week == 0).all()) and all(d % 7 == 0 for d in days):
        return Freq("W", 0)
    return None


def _month_kind(starts: pd.DatetimeIndex, unit: str, months: int) -> Freq | None:
    """Periods of ``months`` months starting on the first of the month, all at the same place of the year."""
    offsets = set((starts.month - 1) % months)
    if not bool((starts.day == 1).all()) or len(offsets) != 1:
        return None
    return Freq(unit, int(offsets.pop()))


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
    freq: Any = None,
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
    freq : str, optional
        The length of the ``period`` column's periods (any ``freq`` of the
        analysis); by default told from ``period_end`` or the periods
        themselves (:func:`period_format`).

    Returns
    -------
    DisplayTable
        Text cells, same index (not shown); money as ``1,234.56`` in the
        row's currency (no float on the way: minor units become
        ``Decimal``), the account (of a many-account frame) and currency columns first. For the eye only.

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
        if name in money and currencies is not None:  # money columns have their currencies
            out[name] = _major_text(values, currencies, with_code)
        elif name == "period" and period is not None:
            out[name] = [_period_label(v, period) for v in values]
        elif pd.api.types.is_float_dtype(values.dtype):
            out[name] = ["" if pd.isna(v) else f"{v:,.{digits}f}" for v in values]
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            out[name] = _time_text(values)
        else:
            missing = NONE_LABEL if is_group_column(name) else ""
            out[name] = [missing if _is_missing(v) else str(v) for v in values]
    result = DisplayTable(out, index=shown.index, dtype="str")
    first = [c for c in ("account", "currency") if c in result.columns]  # the account, then the currency
    result = result[[*first, *[c for c in result.columns if c not in first]]]
    return result


def _period_column(frame: pd.DataFrame, freq: Any) -> str | None:
    """The format of the frame's ``period`` column (:func:`period_format`), None when it has none."""
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
        return frame["currency"]  # by position: shown keeps the frame's rows, whose labels may repeat
    if currency is not None:
        return pd.Series(currency, index=index)
    raise ConfigurationError("currency", None, "a currency code for a frame without a 'currency' column")


def _major_text(minor: Iterable[Any], currencies: Iterable[Any], with_code: bool) -> list[str]:
    out = []
    for value, currency in zip(minor, currencies, strict=True):
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
