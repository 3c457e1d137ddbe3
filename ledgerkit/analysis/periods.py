"""Periods: what a ``freq=`` names, and the UTC period each instant falls in.

Every ``freq`` of the analysis (``fee_breakdown``, ``roll_forward``, the
explorers) is read here. It takes ledgerkit's own three spellings, in any
case, with the meaning they always had:

- ``"D"``: UTC days; ``"W"``: weeks from Monday; ``"M"``: calendar months;

and pandas offset aliases (parsed by
:func:`pandas.tseries.frequencies.to_offset`) of one day, week, month,
quarter or year, each read as pandas reads it (the periods of
``Series.dt.to_period``):

- ``"ME"``, ``"MS"``: calendar months;
- ``"W-SUN"`` … ``"W-SAT"`` (pandas' ``"W"`` is ``"W-SUN"``): weeks *ending*
  on that day, so ``"W-SUN"`` is Monday to Sunday (ledgerkit's ``"W"``)
  and ``"W-SAT"`` is Sunday to Saturday;
- ``"QE"``, ``"QS"`` (``"QE-DEC"``, ``"QS-JAN"``): calendar quarters;
  ``"QE-JAN"``, ``"QS-FEB"``: quarters starting in February, May, August,
  November; and so on for the other months;
- ``"YE"``, ``"YS"``: calendar years; ``"YE-JUN"``, ``"YS-JUL"``: years
  from July to June.

Periods are half-open ``[start, end)`` with starts at UTC midnights.
Refused, with a ``ConfigurationError`` naming ``freq``: multiples
(``"2D"``, ``"2W"``: where the pairs start is a guess), sub-day aliases
(``"h"``, ``"min"``: a roll-forward lists every period, so an hour over a
year is 8,760 rows, and a period starting within a day names no calendar
span), and business-day, semi-month and other calendar-rule aliases
(``"B"``, ``"BME"``, ``"SMS"``: a weekend row has no business period to
start in).

Examples
--------
>>> check_freq("QE").name, check_freq("W-SAT").start, check_freq("m") == check_freq("ME")
('quarter', 6, True)
>>> ts = pd.Series(pd.to_datetime(["2025-01-15 13:00", "2025-05-01 00:00"], utc=True))
>>> period_start(ts, "QS").dt.strftime("%Y-%m-%d").tolist()
['2025-01-01', '2025-04-01']
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries import offsets
from pandas.tseries.frequencies import to_offset

from ..errors import ConfigurationError

__all__ = [
    "Freq",
    "FREQS",
    "check_freq",
    "period_start",
    "period_end",
    "period_range",
    "period_numbers",
    "period_starts",
    "utc_nanoseconds",
]

#: ledgerkit's own spellings (any case) -> what they name.
FREQS: dict[str, str] = {"D": "day", "W": "week (Monday)", "M": "month"}

_NAMES = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
_MONTHS = {"M": 1, "Q": 3, "Y": 12}
_DAY_NS = 86_400_000_000_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 is a Thursday
_EXPECTED = (
    "'D' (day), 'W' (week from Monday), 'M' (month), or a pandas offset alias of one day, week, month, "
    "quarter or year ('ME', 'MS', 'W-SUN' = weeks ending Sunday, 'QE', 'QS', 'QE-MAR', 'YE', 'YS', ...); "
    "multiples ('2D'), sub-day ('h'), business-day ('B', 'BME') and semi-month aliases name no calendar "
    "period that starts at a UTC midnight"
)


@dataclass(frozen=True)
class Freq:
    """One kind of period: days, weeks from a weekday, or months, quarters, years from a month.

    Attributes
    ----------
    unit : {"D", "W", "M", "Q", "Y"}
    start : int
        Weeks: the weekday they start on (0 = Monday … 6 = Sunday). Months,
        quarters and years: the month a period starts in, 0-based and
        reduced modulo the period's length (0 for calendar quarters and
        years; 6 for years from July). Days: 0.
    alias : str
        As the caller spelled it (not compared).
    """

    unit: str
    start: int = 0
    alias: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """``"day"``, ``"week"``, ``"month"``, ``"quarter"`` or ``"year"``."""
        return _NAMES[self.unit]

    @property
    def months(self) -> int:
        """How many months a period spans (0 for days and weeks)."""
        return _MONTHS.get(self.unit, 0)


def check_freq(freq: Any) -> Freq:
    """Read a ``freq`` argument: ledgerkit's ``"D"``, ``"W"``, ``"M"`` or a pandas offset alias (module docstring).

    Raises
    ------
    ConfigurationError
        Anything else, naming ``freq`` and what is accepted.

    Examples
    --------
    >>> check_freq("W-SUN") == check_freq("W"), check_freq("YE-JUN")
    (True, Freq(unit='Y', start=6, alias='YE-JUN'))
    >>> check_freq("2D")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: freq='2D' is not valid: expected 'D' (day), 'W' (week from Monday), ...
    """
    if isinstance(freq, Freq):
        return freq
    if not isinstance(freq, str):
        raise ConfigurationError("freq", freq, _EXPECTED)
    return _parse(freq)


@functools.lru_cache(maxsize=256)
def _parse(alias: str) -> Freq:
    if alias.upper() in FREQS:
        return Freq(alias.upper(), 0, alias)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' deprecation notes: the alias is read as pandas reads it today
            offset = to_offset(alias)
    except (ValueError, TypeError) as exc:
        said = str(exc).split("Failed to parse with error message: ")[-1].strip()[:160]
        raise ConfigurationError("freq", alias, _EXPECTED, f"pandas says: {said}") from None
    found = _from_offset(offset, alias)
    if found is None:
        raise ConfigurationError("freq", alias, _EXPECTED)
    return found


def _from_offset(offset: Any, alias: str) -> Freq | None:
    """The period a pandas offset names, or None when it names none ledgerkit can start at a UTC midnight."""
    if getattr(offset, "n", None) != 1 or getattr(offset, "normalize", False):
        return None
    kind = type(offset)
    if kind is offsets.Day:
        return Freq("D", 0, alias)
    if kind is offsets.Week:
        end = 6 if offset.weekday is None else offset.weekday  # pandas: a week ending on its anchor day
        return Freq("W", (end + 1) % 7, alias)
    if kind in (offsets.MonthEnd, offsets.MonthBegin):
        return Freq("M", 0, alias)
    if kind is offsets.QuarterEnd:
        return Freq("Q", offset.startingMonth % 3, alias)  # ends in startingMonth: starts the month after
    if kind is offsets.QuarterBegin:
        return Freq("Q", (offset.startingMonth - 1) % 3, alias)
    if kind is offsets.YearEnd:
        return Freq("Y", offset.month % 12, alias)
    if kind is offsets.YearBegin:
        return Freq("Y", offset.month - 1, alias)
    return None


def utc_nanoseconds(timestamps: pd.Series) -> np.ndarray:
    """Tz-aware timestamps as int64 nanoseconds since the epoch (UTC)."""
    return pd.DatetimeIndex(timestamps).tz_convert("UTC").as_unit("ns").asi8


def period_numbers(nanoseconds: np.ndarray, freq: Any) -> np.ndarray:
    """The period each UTC timestamp (int64 ns) falls in, as a number counted from 1970.

    :func:`period_starts` turns the numbers back into timestamps.

    Examples
    --------
    >>> ns = utc_nanoseconds(pd.Series(pd.to_datetime(["2025-01-15 13:00", "2025-02-01 00:00"], utc=True)))
    >>> period_starts(period_numbers(ns, "W"), "W").strftime("%Y-%m-%d").tolist()
    ['2025-01-13', '2025-01-27']
    >>> period_starts(period_numbers(ns, "W-SAT"), "W-SAT").strftime("%a %Y-%m-%d").tolist()
    ['Sun 2025-01-12', 'Sun 2025-01-26']
    """
    freq = check_freq(freq)
    if freq.months:
        months = nanoseconds.astype("datetime64[ns]").astype("datetime64[M]").astype("int64")
        return (months - freq.start) // freq.months
    days = nanoseconds // _DAY_NS
    if freq.unit == "D":
        return days
    return (days + _EPOCH_WEEKDAY - freq.start) // 7


def period_starts(numbers: np.ndarray, freq: Any) -> pd.DatetimeIndex:
    """The UTC start of each period number of :func:`period_numbers`."""
    freq = check_freq(freq)
    numbers = np.asarray(numbers, dtype="int64")
    if freq.months:
        starts = (numbers * freq.months + freq.start).astype("datetime64[M]").astype("datetime64[ns]")
    else:
        days = numbers if freq.unit == "D" else numbers * 7 - _EPOCH_WEEKDAY + freq.start
        starts = days.astype("datetime64[D]").astype("datetime64[ns]")
    return pd.DatetimeIndex(starts).tz_localize("UTC")


def period_start(timestamps: pd.Series, freq: Any) -> pd.Series:
    """The UTC start of the period each timestamp falls in (half-open periods); NaT stays NaT.

    Examples
    --------
    >>> ts = pd.Series(pd.to_datetime(["2025-01-15 13:00", "2025-02-01 00:00"], utc=True))
    >>> period_start(ts, "M").dt.strftime("%Y-%m-%d").tolist()
    ['2025-01-01', '2025-02-01']
    >>> period_start(ts, "W").dt.strftime("%Y-%m-%d").tolist()
    ['2025-01-13', '2025-01-27']
    """
    known = timestamps.notna().to_numpy(dtype=bool)
    ns = np.zeros(len(timestamps), dtype="int64")
    ns[known] = utc_nanoseconds(timestamps[known])
    starts = period_starts(period_numbers(ns, freq), freq)
    return pd.Series(starts, index=timestamps.index).where(known)


def period_end(starts: pd.Series | pd.DatetimeIndex, freq: Any) -> Any:
    """The exclusive end of the periods starting at ``starts``."""
    freq = check_freq(freq)
    if freq.months:
        return starts + pd.DateOffset(months=freq.months)
    return starts + pd.Timedelta(days=1 if freq.unit == "D" else 7)


def period_range(first: pd.Timestamp, last: pd.Timestamp, freq: Any) -> pd.DatetimeIndex:
    """Every period start from ``first`` to ``last`` inclusive (both period starts)."""
    bounds = period_numbers(utc_nanoseconds(pd.Series([first, last])), freq)
    return period_starts(np.arange(bounds[0], bounds[1] + 1), freq)
