"""From API records to typed DataFrames: flatten, declared dtypes, PII rules.

Shared by the three loaders. A record (one JSON object) is flattened to
dotted names (``credit_card.brand``); each known column gets the dtype its
:data:`Schema` declares -- nothing is inferred -- and unknown fields are kept
as ``str`` (all text) or ``object`` columns after the known ones. Money
becomes ``Int64`` minor units:

=================  ==============================================================
kind               meaning
=================  ==============================================================
``int``            integer id or count -> ``Int64``
``minor``          integer minor units already -> ``Int64``
``minor_float``    a float holding minor units (``29.0``) -> ``Int64``, half-even
``major``          a decimal in major units (``-0.06``) -> ``Int64`` minor units of
                   the row's currency (exact: parse JSON with ``Decimal``)
``float``          a rate or percent -> ``Float64``
``bool``           -> ``boolean``
``str``            -> ``str`` (numbers such as ``order_id`` become their text)
``category``       low-cardinality text -> ``category`` (applied by :func:`finish`)
``time``           ISO 8601 timestamp -> ``datetime64[ns, UTC]``
=================  ==============================================================

Examples
--------
>>> from ledgerkit._ingest.schema import TRANSACTIONS
>>> records = [{"id": 1, "amount": 1000, "transaction_fee": 29.0, "currency": "USD",
...             "created_at": "2025-01-02T03:04:05Z", "credit_card": {"brand": "visa", "holder": "A B"}}]
>>> page = build_page(records, TRANSACTIONS)
>>> page.frame[["id", "amount", "transaction_fee", "credit_card.brand"]].dtypes.astype(str).tolist()
['Int64', 'Int64', 'Int64', 'str']
>>> "credit_card.holder" in page.frame.columns
False
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .. import money
from ..errors import DataError
from .schema import UTC_NS, Schema

__all__ = ["Page", "flatten", "build_page", "finish", "empty_frame", "row_id", "parse_times"]

# Which currency column gives the exponent of a ``major`` column (default: the schema's).
_CURRENCY_OF = {"original_amount": "original_currency"}


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects to dotted names; lists and scalars stay as they are.

    Examples
    --------
    >>> flatten({"a": 1, "b": {"c": None, "d": {"e": [1, 2]}}})
    {'a': 1, 'b.c': None, 'b.d.e': [1, 2]}
    """
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def row_id(record: Mapping[str, Any]) -> str:
    """A stable identity for a record without one: a hash of its canonical JSON.

    Decimals hash by value (``10``, ``10.0`` and ``10.00`` are the same
    amount), keys in any order.

    Examples
    --------
    >>> row_id({"a": Decimal("10.0"), "b": "x"}) == row_id({"b": "x", "a": 10})
    True
    >>> len(row_id({"a": 1}))
    32
    """

    text = json.dumps(_canonical(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return format(number.normalize(), "f") if number else "0"
    return value


def parse_times(values: Iterable[Any], *, wall_zone: str | None = None) -> pd.Series:
    """ISO 8601 strings -> ``datetime64[ns, UTC]``.

    With ``wall_zone``, a value ending in ``Z`` is read as wall-clock time in
    that zone (the beGateway quirk, DESIGN §3) and converted to UTC; a value
    with an explicit offset is taken at its word. An ambiguous wall time (the
    hour repeated when clocks go back) is read as the first of the two.

    Examples
    --------
    >>> parse_times(["2025-01-02T03:04:05Z", None]).tolist()
    [Timestamp('2025-01-02 03:04:05+0000', tz='UTC'), NaT]
    >>> parse_times(["2025-07-01T12:00:00Z"], wall_zone="Europe/Berlin")[0]
    Timestamp('2025-07-01 10:00:00+0000', tz='UTC')
    >>> parse_times(["2023-01-06T04:10:08+0000"])[0]
    Timestamp('2023-01-06 04:10:08+0000', tz='UTC')
    """
    text = pd.Series(list(values), dtype="str")
    try:
        if wall_zone is None or wall_zone == "UTC":
            return pd.to_datetime(text, format="ISO8601", utc=True).astype(UTC_NS)
        quirk = text.str.endswith("Z").fillna(False)
        out = pd.to_datetime(text.where(~quirk), format="ISO8601", utc=True).astype(UTC_NS)
        if quirk.any():
            wall = pd.to_datetime(text[quirk].str.slice(0, -1), format="ISO8601")
            local = wall.dt.tz_localize(wall_zone, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward")
            out[quirk] = local.dt.tz_convert("UTC").astype(UTC_NS)
        return out
    except (ValueError, TypeError) as exc:
        raise DataError(f"a timestamp did not parse: {exc}") from None


def _ints(values: list[Any]) -> pd.api.extensions.ExtensionArray:
    return pd.array([None if v is None else int(v) for v in values], dtype="Int64")


def _strs(values: list[Any]) -> pd.api.extensions.ExtensionArray:
    return pd.array([None if v is None else str(v) for v in values], dtype="str")


def _unknown(values: list[Any]) -> pd.api.extensions.ExtensionArray | np.ndarray:
    if all(v is None or isinstance(v, str) for v in values):
        return pd.array(values, dtype="str")
    return np.array([_jsonable(v) for v in values], dtype=object)


def _jsonable(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _major(values: list[Any], currencies: list[Any], default_currency: str | None) -> tuple[Any, int]:
    """Major-unit decimals -> Int64 minor units, one exponent per row's currency."""
    out = pd.array([None] * len(values), dtype="Int64")
    codes = [c if money.is_currency(c) else default_currency for c in currencies]
    rounded = 0
    for code in set(codes):
        idx = [i for i, c in enumerate(codes) if c == code]
        if code is None:
            if any(values[i] is not None for i in idx):
                raise DataError(f"an amount has no known currency: {[values[i] for i in idx][:3]!r}")
            continue
        arr, n = money.decimals_to_minor([values[i] for i in idx], money.exponent(code))
        out[idx] = arr
        rounded += n
    return out, rounded


@dataclass
class Page:
    """One page turned into a frame, and what the conversion had to do."""

    frame: pd.DataFrame
    rounded_values: int = 0
    pii_dropped: tuple[str, ...] = ()


def build_page(
    records: list[Mapping[str, Any]],
    schema: Schema,
    *,
    include_pii: bool = False,
    wall_zone: str | None = None,
    default_currency: str | None = None,
) -> Page:
    """Flatten and type one page of records (categories are applied later by :func:`finish`).

    Parameters
    ----------
    records : list of dict
        As decoded from JSON (use ``parse_float=Decimal`` for ``major`` money).
    schema : Schema
    include_pii : bool
        Keep the columns ``schema.pii`` names.
    wall_zone : str, optional
        IANA zone in which ``...Z`` timestamps are wall-clock (see :func:`parse_times`).
    default_currency : str, optional
        Currency of rows without a currency field (statements: the account
        currency); it fills the schema's currency column.

    Raises
    ------
    DataError
        A value does not fit its declared type; ``rows`` holds the page.
    """
    flat = [flatten(r) for r in records]
    names = list(schema.columns)
    extra = sorted({k for row in flat for k in row} - set(names))
    columns: dict[str, Any] = {}
    rounded = 0
    try:
        currencies = [row.get(schema.currency_column, default_currency) for row in flat]
        for name in names + extra:
            kind = schema.columns.get(name, "unknown")
            values = currencies if name == schema.currency_column else [row.get(name) for row in flat]
            if kind == "major":
                cur = currencies if name not in _CURRENCY_OF else [row.get(_CURRENCY_OF[name]) for row in flat]
                columns[name], n = _major(values, cur, default_currency)
                rounded += n
            elif kind == "minor_float":
                columns[name], n = money.floats_to_minor(np.array([np.nan if v is None else float(v) for v in values]), 0)
                rounded += n
            else:
                columns[name] = _convert(kind, values, wall_zone)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise DataError(f"{schema.name}: column {name!r} does not match its declared type: {exc}", rows=list(records)) from None
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(flat)))
    dropped = tuple(c for c in frame.columns if schema.is_pii(c)) if not include_pii else ()
    return Page(frame.drop(columns=list(dropped)), rounded, dropped)


def _convert(kind: str, values: list[Any], wall_zone: str | None) -> Any:
    if kind in ("int", "minor"):
        return _ints(values)
    if kind == "float":
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    if kind == "bool":
        return pd.array(values, dtype="boolean")
    if kind in ("str", "category"):
        return _strs(values)
    if kind == "time":
        return parse_times(values, wall_zone=wall_zone).array
    return _unknown(values)


def empty_frame(schema: Schema, *, include_pii: bool = False) -> pd.DataFrame:
    """The frame of a pull that found nothing: every declared column, no rows."""
    return finish([build_page([], schema, include_pii=include_pii).frame], schema)


def finish(frames: list[pd.DataFrame], schema: Schema, *, sort_by: str | None = None) -> pd.DataFrame:
    """Concatenate page frames, apply ``category`` dtypes, order the columns.

    Known columns come first in schema order, unknown ones after, sorted.
    With ``sort_by`` the rows are sorted by that column (stable).
    """
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if sort_by is not None:
        frame = frame.sort_values(sort_by, kind="stable", ignore_index=True)
    known = [c for c in schema.columns if c in frame.columns]
    extra = sorted(c for c in frame.columns if c not in schema.columns)
    if list(frame.columns) != known + extra:  # selecting copies every column: only when the order differs
        frame = frame[known + extra]
    cats = {c: "category" for c in known
            if schema.columns[c] == "category" and not isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.astype(cats) if cats else frame


