"""What a stream's JSON state may hold, checked whenever a state is read.

A state that parses but holds something else -- wrong types, missing keys,
another program's JSON, a part path that leaves the store -- is reported by
:func:`problem` so that the caller raises a
:class:`~ledgerkit.errors.StoreError` naming the file, never a bare
``TypeError``/``KeyError`` from deep inside a load. Keys a state does not
know are left alone (a newer ledgerkit may add some).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd

#: A part's path: ``-<writer>`` (a load's token) only on object stores, so local stores of any age match.
_PART = re.compile(r"^month=(\d{4}-\d{2}|unknown)/(?P<stream>[0-9a-f]{16})-\d{6,}(-[0-9a-f]{12})?\.parquet$")
_REPORT_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")

Check = Callable[[Any], bool]


def _int(low: int = 0) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return False
    return ts is not pd.NaT and ts.tzinfo is not None


def _span(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(map(_time, value))
        and pd.Timestamp(value[0]) < pd.Timestamp(value[1])
    )


def _window(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _span([value.get("from"), value.get("to")])
        and _optional(_int())(value.get("cursor"))
        and ("corrected_from" not in value or _time(value["corrected_from"]))
    )


def _report_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_REPORT_ID.match(value)) and value not in (".", "..")


_SOURCE_FIELDS: dict[str, dict[str, tuple[str, Check]]] = {
    "transactions": {
        "pending": ("a list of windows {from, to, cursor}", lambda v: isinstance(v, list) and all(map(_window, v))),
        "covered": ("null or [start, end] (ISO times, start < end)", _optional(_span)),
        "refreshed_at": ("null or an ISO time with an offset", _optional(_time)),
        "planned_at": ("null or an ISO time with an offset", _optional(_time)),
        "refused": ("true or false", lambda v: isinstance(v, bool)),
    },
    "statements": {
        "per_page": ("null or an integer >= 1", _optional(_int(1))),
        "next_page": ("null or an integer >= 1", _optional(_int(1))),
        "pages_done": ("true or false", lambda v: isinstance(v, bool)),
        "complete": ("true or false", lambda v: isinstance(v, bool)),
        "total": ("null or an integer >= 0", _optional(_int())),
        "outside": ("an integer >= 0", _int()),
        "refreshed_at": ("null or an ISO time with an offset", _optional(_time)),
    },
    "balance_records": {
        "report_id": ("null or a report id", _optional(_report_id)),
        "pending_report_id": ("null or a report id", _optional(_report_id)),
        "manifest": ("null or an object", lambda v: v is None or isinstance(v, dict)),
    },
}


def problem(state: Any, source: str, name: str) -> str | None:
    """What is wrong with ``state``, the parsed JSON state of stream ``name`` of ``source`` (None: nothing).

    Examples
    --------
    >>> problem({"key": {}, "parts": [], "seq": 0}, "transactions", "0123456789abcdef") is None
    True
    >>> problem({"key": {}, "parts": "x", "seq": 0}, "transactions", "0123456789abcdef")
    "'parts' is 'x', expected a list of part paths month=YYYY-MM/0123456789abcdef-NNNNNN.parquet"
    """
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a stream state (an object with key, parts and seq)"
    fields = {
        "key": ("an object", lambda v: isinstance(v, dict)),
        "parts": (
            f"a list of part paths month=YYYY-MM/{name}-NNNNNN.parquet",
            lambda v: isinstance(v, list) and all(_own_part(p, name) for p in v),
        ),
        "seq": ("an integer >= 0", _int()),
    }
    for field in fields:
        if field not in state:
            return f"it has no {field!r}: not a stream state"
    fields.update(_SOURCE_FIELDS.get(source, {}))
    if source == "statements" and state.get("complete") is True and "refreshed_at" not in state:
        return "it is complete but has no 'refreshed_at'"
    for field, (expected, check) in fields.items():
        if field in state and not check(state[field]):
            return f"{field!r} is {_shown(state[field])}, expected {expected}"
    return None


def _own_part(path: Any, name: str) -> bool:
    match = _PART.match(path) if isinstance(path, str) else None
    return match is not None and match["stream"] == name


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
