"""Turning user-given dates and times into exact instants, and instants into API text.

The rule for every loader argument that names a moment:

- a timezone-aware ``datetime``/``pd.Timestamp``, or a string with an offset
  (``"2025-01-01T00:00:00+02:00"``, ``"...Z"``) is that instant;
- a plain date (``datetime.date``, ``"2025-01-01"``) or a string without an
  offset (``"2025-01-01 12:00"``) is wall-clock time in the pull's
  ``time_zone`` -- text carries no claim about a zone, so we supply one;
- a **naive** ``datetime``/``pd.Timestamp`` object is refused
  (:class:`~ledgerkit.errors.ConfigurationError`): it usually comes from
  code that lost its zone, and guessing would shift the data silently.

Examples
--------
>>> instant("2025-01-01", "date_from", "Europe/Tallinn")
Timestamp('2024-12-31 22:00:00+0000', tz='UTC')
>>> wall_clock(pd.Timestamp("2024-12-31 22:00", tz="UTC"), "Europe/Tallinn")
'2025-01-01 00:00:00'
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from ..errors import ConfigurationError

__all__ = ["check_zone", "instant", "wall_clock", "day"]

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXPECTED = "a timezone-aware datetime, an ISO string (with an offset, or read in time_zone), or a date"


def check_zone(name: object, parameter: str = "time_zone") -> str:
    """Return ``name`` if it is an IANA time zone, else raise ``ConfigurationError``.

    Examples
    --------
    >>> check_zone("Europe/London")
    'Europe/London'
    """
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
            pass
    raise ConfigurationError(parameter, name, "an IANA time zone name such as 'UTC' or 'Europe/London'")


def instant(value: object, parameter: str, zone: str) -> pd.Timestamp:
    """The UTC instant ``value`` names (see the module rule), ``zone`` for text and dates.

    Raises
    ------
    ConfigurationError
        Naive datetime objects, unparseable text, other types.

    Examples
    --------
    >>> instant("2025-03-01T00:00:00Z", "date_to", "Europe/Berlin")
    Timestamp('2025-03-01 00:00:00+0000', tz='UTC')
    >>> instant(datetime(2025, 1, 1), "date_from", "UTC")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: date_from=datetime.datetime(2025, 1, 1, 0, 0) is not valid: \
expected a timezone-aware datetime, an ISO string (with an offset, or read in time_zone), or a date. \
Add tzinfo (e.g. pd.Timestamp(..., tz='UTC')) or pass an ISO string.
    """
    if isinstance(value, datetime):  # includes pd.Timestamp
        if value.tzinfo is None:
            raise ConfigurationError(
                parameter, value, _EXPECTED, "Add tzinfo (e.g. pd.Timestamp(..., tz='UTC')) or pass an ISO string."
            )
        return pd.Timestamp(value).tz_convert("UTC")
    if isinstance(value, date):
        return pd.Timestamp(value).tz_localize(zone).tz_convert("UTC")
    if isinstance(value, str) and value.strip():
        try:
            ts = pd.Timestamp(value.strip())
        except (ValueError, TypeError):
            raise ConfigurationError(parameter, value, _EXPECTED) from None
        if ts.tzinfo is None:
            ts = ts.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
        return ts.tz_convert("UTC")
    raise ConfigurationError(parameter, value, _EXPECTED)


def wall_clock(ts: pd.Timestamp, zone: str) -> str:
    """``YYYY-MM-DD hh:mm:ss`` wall-clock text of an instant in ``zone``."""
    return ts.tz_convert(zone).strftime("%Y-%m-%d %H:%M:%S")


def day(value: object, parameter: str) -> date:
    """A calendar date from a ``date``, ``"YYYY-MM-DD"`` or an aware midnight-UTC timestamp.

    Examples
    --------
    >>> day("2025-01-31", "since"), day(pd.Timestamp("2025-02-01", tz="UTC"), "until")
    (datetime.date(2025, 1, 31), datetime.date(2025, 2, 1))
    """
    expected = "a date: datetime.date, 'YYYY-MM-DD', or a timezone-aware timestamp at midnight UTC"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigurationError(parameter, value, expected)
        ts = pd.Timestamp(value).tz_convert("UTC")
        if ts != ts.normalize():
            raise ConfigurationError(parameter, value, expected)
        return ts.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_ONLY.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigurationError(parameter, value, expected)
