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

A value that does not fit its kind is never guessed at: it raises
:class:`~ledgerkit.errors.DataError` naming the row, the field and the
value (shortened; hidden for personal data). Numbers must be JSON numbers
(an ``int`` column also takes decimal digits as text, the documented form
of object ids), not booleans, finite, and whole where the kind is; money
stays within :data:`~ledgerkit._ingest.schema.MONEY_LIMIT` minor units; a
row with money needs a currency code; a known field never holds an object
or a list, and nothing nests deeper than :data:`~ledgerkit._ingest.schema.MAX_DEPTH`.

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
import math
import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .. import money
from ..errors import DataError
from .schema import CURRENCY_CODE, MAX_DEPTH, MONEY_LIMIT, UTC_NS, Schema

__all__ = [
    "Page",
    "flatten",
    "build_page",
    "finish",
    "empty_frame",
    "row_id",
    "parse_times",
    "strict_json",
    "excerpt",
    "nesting",
]

# Which currency column gives the exponent of a ``major`` column (default: the schema's).
_CURRENCY_OF = {"original_amount": "original_currency"}

_INT64 = 2**63 - 1
#: An integer written as text: ASCII digits only (``int()`` would also take ``"٣"`` or ``"1_000"``).
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_MONEY = ("minor", "minor_float", "major")


class _BadValue(Exception):  # noqa: N818 - a signal caught in this module, never shown as it is
    """A value that does not fit its kind: where it is, what it is, what was expected."""

    def __init__(self, value: Any, expected: str, *, row: int | None = None, field: str | None = None) -> None:
        super().__init__(expected)
        self.value, self.expected, self.row, self.field = value, expected, row, field


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlong, _REPR.maxlevel = 60, 60, 40, 2


def excerpt(value: Any) -> str:
    """A short, safe ``repr`` of a value for an error message (long text and deep nesting cut).

    Examples
    --------
    >>> excerpt("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx' (1,000 characters)"
    >>> excerpt([[[[1]]]])
    '[[[...]]]'
    """
    text = _REPR.repr(value)
    return f"{text} ({len(value):,} characters)" if isinstance(value, str) and len(value) > _REPR.maxstring else text


#: What is left of a body once everything but quotes and brackets is deleted.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_QUOTED = re.compile(rb'"[^"]*"')


def nesting(body: bytes) -> int:
    r"""How deep the JSON text nests, counting brackets outside strings only.

    Vectorised, about a nanosecond a byte: escaped quotes are removed (with
    escaped backslashes first, only when there are any), then everything
    but quotes and brackets, then the strings -- in one step when no string
    holds a bracket (all quotes then pair up side by side) -- and what
    remains is the bracket structure the parser sees.

    Examples
    --------
    >>> nesting(b'{"a": [1, {"b": "]]]"}], "c": "\\\\", "d": "\\"[["}')
    3
    """
    if b"\\" in body and b'\\"' in body:  # only \" can move a string's end (\n, \u00e9, \/ cannot)
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(None, _NOT_STRUCTURE)
    if marks.count(b'"') != 2 * marks.count(b'""'):  # some string holds a bracket
        marks = _QUOTED.sub(b"", marks)
    steps = np.frombuffer(marks.translate(None, b'"'), np.uint8)
    if not len(steps):
        return 0
    return int(np.where((steps | 0x20) == ord("{"), 1, -1).cumsum().max())  # '[' | 0x20 == '{'


def _too_deep(body: bytes, limit: int) -> str:
    """Which field of ``body`` first nests deeper than ``limit`` (a byte-by-byte scan: the error path only).

    Examples
    --------
    >>> _too_deep(b'{"rows": [{"id": 1, "x": {"y": [[[1]]]}}]}', 4)
    "field 'rows.x.y' nests deeper than 4 levels (near byte 31)"
    """
    depth, in_string, escaped, start, text = 0, False, False, 0, None
    keys: dict[int, str] = {}  # depth -> the name last seen in the object open at that depth
    for position, byte in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 92:  # backslash
                escaped = True
            elif byte == 34:  # the closing quote
                in_string, text = False, body[start:position].decode("utf-8", "replace")
        elif byte == 34:
            in_string, start = True, position + 1
        elif byte == 58 and text is not None:  # ':' after a string: it was a name
            keys[depth], text = text, None
        elif byte in (91, 123):  # '[' '{'
            depth += 1
            if depth > limit:
                names = [keys[d] for d in sorted(keys) if d < depth]
                path = ".".join(names[:8]) + ("..." if len(names) > 8 else "")
                return f"field {path!r} nests deeper than {limit} levels (near byte {position:,})"
        elif byte in (93, 125):  # ']' '}'
            keys.pop(depth, None)
            depth -= 1
        elif byte not in (32, 9, 10, 13):
            text = None
    return f"the JSON nests deeper than {limit} levels"


def strict_json(body: bytes, *, parse_float: Any = None) -> Any:
    """Decode JSON as the APIs promise it, or say where it is not.

    Besides what :func:`json.loads` checks: no name twice in one object
    (which of two amounts would be the amount?), no ``NaN`` / ``Infinity``
    (not JSON), no number too large for a float, no nesting deeper than
    ``MAX_DEPTH`` + 2 (the envelope and its list). The error names the place
    (``transactions[3].amount``).

    Raises
    ------
    ValueError
        The body is not JSON at all (truncated, not UTF-8): worth asking for again.
    DataError
        It is JSON, but not what any contract allows.

    Examples
    --------
    >>> strict_json(b'{"rows": [{"a": 1, "a": 2}]}')
    Traceback (most recent call last):
    ledgerkit.errors.DataError: field rows[0].a is (1, 2): the name 'a' appears twice in one object
    >>> strict_json(b'[{"amount": NaN}]')
    Traceback (most recent call last):
    ledgerkit.errors.DataError: field [0].amount is 'NaN': not a JSON number
    """
    if nesting(body) > MAX_DEPTH + 2:  # Python's decoder would recurse as deep: refuse before it does
        raise DataError(_too_deep(body, MAX_DEPTH + 2) + " (the documented pages nest six)")
    try:
        return json.loads(
            body, parse_float=parse_float or _finite_float, parse_constant=_no_constant, object_pairs_hook=_unique_names
        )
    except _Broken:
        pass
    marked = json.loads(
        body,
        parse_float=_marking_float(parse_float),
        parse_constant=_marking_constant,
        object_pairs_hook=_marking_names,
    )
    path, mark = _first_mark(marked)
    raise DataError(f"field {path or '(the page)'} is {excerpt(mark.value)}: {mark.reason}")


class _Broken(Exception):  # noqa: N818 - a signal caught in this module, never shown as it is
    """Raised inside the decoder; :func:`strict_json` then decodes again to say where."""


@dataclass(frozen=True)
class _Mark:
    value: Any
    reason: str


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Broken
    return out


def _no_constant(name: str) -> Any:
    raise _Broken


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Broken
    return value


def _marking_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        twice = name in out
        out[name] = _Mark((out[name], value), f"the name {name!r} appears twice in one object") if twice else value
    return out


def _marking_constant(name: str) -> Any:
    return _Mark(name, "not a JSON number")


def _marking_float(parse_float: Any) -> Any:
    if parse_float is not None:  # the caller's parser (Decimal) takes any number: nothing to mark
        return parse_float

    def parse(text: str) -> Any:
        value = float(text)
        return value if math.isfinite(value) else _Mark(text, "a number too large for a float")

    return parse


def _first_mark(value: Any) -> tuple[str, _Mark]:
    """The path (``rows[3].amount``) and the first :class:`_Mark` in document order (iterative)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Mark):
            return path, node
        if isinstance(node, dict):
            stack.extend(reversed([(f"{path}.{k}" if path else str(k), v) for k, v in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(node)]))
    raise AssertionError("strict_json found no mark")  # unreachable: the first decode raised for a reason


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects to dotted names; lists and scalars stay as they are.

    Raises
    ------
    DataError
        An object nests deeper than ``MAX_DEPTH``, or two fields flatten to
        the same name (``{"a": {"b": 1}, "a.b": 2}``).

    Examples
    --------
    >>> flatten({"a": 1, "b": {"c": None, "d": {"e": [1, 2]}}})
    {'a': 1, 'b.c': None, 'b.d.e': [1, 2]}
    """
    try:
        return {k: v for k, v in _flatten(record, prefix, 1).items() if not _empty_object(v)}
    except _BadValue as bad:
        raise DataError(f"field {bad.field!r}: expected {bad.expected}") from None


def _empty_object(value: Any) -> bool:
    return isinstance(value, Mapping) and not value


def _flatten(record: Mapping[str, Any], prefix: str, depth: int) -> dict[str, Any]:
    """As :func:`flatten`, but an empty object stays as a leaf (``"amount": {}`` must not vanish)."""
    if depth > MAX_DEPTH:
        raise _BadValue(record, f"at most {MAX_DEPTH} levels of nesting", field=prefix.rstrip("."))
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        nested = isinstance(value, Mapping) and value
        parts = _flatten(value, name + ".", depth + 1) if nested else {name: value}
        for part, leaf in parts.items():
            if part in out:
                raise _BadValue(leaf, f"one value (the name {part!r} appears twice once flattened)", field=part)
            out[part] = leaf
    return out


def row_id(record: Mapping[str, Any]) -> str:
    """A stable identity for a record without one: a hash of its canonical JSON.

    Decimals hash by value (``10``, ``10.0`` and ``10.00`` are the same
    amount; digits past the tenth decimal are float noise), keys in any order.

    Raises
    ------
    DataError
        The record nests deeper than ``MAX_DEPTH``.

    Examples
    --------
    >>> row_id({"a": Decimal("10.0"), "b": "x"}) == row_id({"b": "x", "a": 10})
    True
    >>> row_id({"a": Decimal("142.01000000000002")}) == row_id({"a": Decimal("142.01")})
    True
    >>> len(row_id({"a": 1}))
    32
    """
    try:
        canonical = _canonical(record, 1)
    except _BadValue:
        raise DataError(f"a row nests deeper than {MAX_DEPTH} levels: {excerpt(record)}") from None
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    except UnicodeEncodeError:
        raise DataError(f"a row holds a lone UTF-16 surrogate, which is not text: {excerpt(record)}") from None


#: Decimal places a number keeps in an identity: more are float noise, not meaning.
_PLACES = 10
_QUANTUM = Decimal(1).scaleb(-_PLACES)


def _canonical(value: Any, depth: int) -> Any:
    if isinstance(value, (Mapping, list, tuple)) and depth > MAX_DEPTH:
        raise _BadValue(value, f"at most {MAX_DEPTH} levels of nesting")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, depth + 1) for v in value]
    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        exponent = number.as_tuple().exponent  # "n", "N" or "F" when not finite
        if isinstance(exponent, int) and exponent < -_PLACES:  # float noise: 142.01000000000002
            number = number.quantize(_QUANTUM)
        return format(number.normalize(), "f") if number else "0"
    return value


def parse_times(values: Iterable[Any], *, wall_zone: str | None = None) -> pd.Series:
    """ISO 8601 strings -> ``datetime64[ns, UTC]``.

    With ``wall_zone``, a value ending in ``Z`` is read as wall-clock time in
    that zone (the beGateway quirk, DESIGN §3) and converted to UTC; a value
    with an explicit offset is taken at its word. An ambiguous wall time (the
    hour repeated when clocks go back) is read as the first of the two.
    Missing values and empty text are ``NaT``.

    Raises
    ------
    DataError
        Naming the first value that is not an ISO 8601 date with a time of
        day within the range of ``datetime64[ns]`` (years 1677 to 2262).

    Examples
    --------
    >>> parse_times(["2025-01-02T03:04:05Z", None]).tolist()
    [Timestamp('2025-01-02 03:04:05+0000', tz='UTC'), NaT]
    >>> parse_times(["2025-07-01T12:00:00Z"], wall_zone="Europe/Berlin")[0]
    Timestamp('2025-07-01 10:00:00+0000', tz='UTC')
    >>> parse_times(["2023-01-06T04:10:08+0000"])[0]
    Timestamp('2023-01-06 04:10:08+0000', tz='UTC')
    >>> parse_times(["2025-13-45T00:00:00Z"])                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ledgerkit.errors.DataError: row 0: '2025-13-45T00:00:00Z' is not an ISO 8601 date and time ... and 2262-04-11
    """
    try:
        return _times(list(values), wall_zone)
    except _BadValue as bad:
        raise DataError(f"row {bad.row}: {excerpt(bad.value)} is not {bad.expected}") from None


_TIME_EXPECTED = "an ISO 8601 date and time (2025-01-27T14:07:00Z) between 1677-09-22 and 2262-04-11"


def _times(values: list[Any], wall_zone: str | None) -> pd.Series:
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str):
            raise _BadValue(v, _TIME_EXPECTED, row=i)
    text = pd.Series(values, dtype="str")
    try:
        return _parse_text_times(text, wall_zone)
    except (ValueError, TypeError, OverflowError):
        pass
    for i, v in enumerate(values):  # find the value that broke it, one by one
        try:
            _parse_text_times(pd.Series([v], dtype="str"), wall_zone)
        except (ValueError, TypeError, OverflowError):
            raise _BadValue(v, _TIME_EXPECTED, row=i) from None
    raise _BadValue(values, _TIME_EXPECTED)


#: A date with a time of day, and optionally seconds, a fraction and a zone: an instant, not a
#: reduced-precision ``"2025"`` or ``"2025-01-27"`` that pandas would read as midnight.
_ISO_INSTANT = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"


def _parse_text_times(text: pd.Series, wall_zone: str | None) -> pd.Series:
    if not (text.isna() | (text == "") | text.str.fullmatch(_ISO_INSTANT)).all():
        raise ValueError("not an ISO 8601 instant")
    if wall_zone is None or wall_zone == "UTC":
        return pd.to_datetime(text, format="ISO8601", utc=True).astype(UTC_NS)
    quirk = text.str.endswith("Z").fillna(False)
    out = pd.to_datetime(text.where(~quirk), format="ISO8601", utc=True).astype(UTC_NS)
    if quirk.any():
        wall = pd.to_datetime(text[quirk].str.slice(0, -1), format="ISO8601")
        local = wall.dt.tz_localize(wall_zone, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward")
        out[quirk] = local.dt.tz_convert("UTC").astype(UTC_NS)
    return out


# ------------------------------------------------------------------ one value of each kind


def _integer(value: Any, limit: int, *, text: bool = False) -> int | None:
    """``value`` as an exact integer within ``±limit``; None when it is not one.

    A float counts when it is whole and below 2**53 (``7.0``: JSON does not
    tell ``7`` from ``7.0``; from 2**53 on a float may be a rounded
    neighbour); with ``text``, so do ASCII digits (``"7"``).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < MONEY_LIMIT:
        number = int(value)
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value) if abs(value) <= limit else limit + 1
    elif text and isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value)
    else:
        return None
    return number if -limit <= number <= limit else None


def _finite(value: Any, limit: float | Decimal = math.inf) -> bool:
    """Whether ``value`` is a JSON number (not a boolean, not text), finite and within ``±limit``.

    A float must stay below ``limit``: at it, it may be a rounded neighbour.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return False
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < limit
    if isinstance(value, Decimal):
        return value.is_finite() and abs(value) <= limit
    return abs(value) <= limit


def _column(kind: str, values: list[Any]) -> Any:
    """Check and convert one known column (not ``major``/``time``/currency: see :func:`build_page`)."""
    if kind in ("int", "minor"):
        money_kind = kind == "minor"
        limit, expected = (MONEY_LIMIT, "a whole number of minor units") if money_kind else (_INT64, "an integer")
        out = [None if v is None else _integer(v, limit, text=not money_kind) for v in values]
        _first_bad(values, out, expected)
        return pd.array(out, dtype="Int64")
    if kind == "minor_float":
        _check(values, lambda v: _finite(v, MONEY_LIMIT), f"a number of minor units within ±{MONEY_LIMIT:,}")
        return money.floats_to_minor(np.array([np.nan if v is None else float(v) for v in values]), 0)
    if kind == "float":
        _check(values, lambda v: _finite(v) and math.isfinite(float(v)), "a number a float can hold")
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    if kind == "bool":
        _check(values, lambda v: isinstance(v, bool), "true or false")
        return pd.array(values, dtype="boolean")
    if kind in ("str", "category"):
        _check(values, lambda v: not isinstance(v, (list, dict)), "text (or a number)")
        return pd.array([None if v is None else str(v) for v in values], dtype="str")
    return _unknown(values)


def _check(values: list[Any], ok: Any, expected: str) -> None:
    for i, v in enumerate(values):
        if v is not None and not ok(v):
            raise _BadValue(v, expected, row=i)


def _first_bad(values: list[Any], converted: list[Any], expected: str) -> None:
    for i, (v, c) in enumerate(zip(values, converted, strict=True)):
        if c is None and v is not None:
            raise _BadValue(v, expected, row=i)


def _unknown(values: list[Any]) -> pd.api.extensions.ExtensionArray | np.ndarray:
    if all(v is None or isinstance(v, str) for v in values):
        return pd.array(values, dtype="str")
    out = np.empty(len(values), dtype=object)  # one JSON value per row, lists included (never a 2-D array)
    for i, v in enumerate(values):
        if isinstance(v, (list, dict)) and _depth(v) > MAX_DEPTH:
            raise _BadValue(v, f"at most {MAX_DEPTH} levels of nesting", row=i)
        out[i] = float(v) if isinstance(v, Decimal) else v
    return out


def _depth(value: Any) -> int:
    """Levels of lists and objects in ``value`` (iterative: a hostile page may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _major(values: list[Any], currencies: list[Any], default_currency: str | None) -> tuple[Any, int]:
    """Major-unit decimals -> Int64 minor units, one exponent per row's currency."""
    out = pd.array([None] * len(values), dtype="Int64")
    codes = [default_currency if c is None or c == "" else c for c in currencies]
    rounded = 0
    for code in set(codes):
        idx = [i for i, c in enumerate(codes) if c == code]
        known = money.is_currency(code)
        limit = Decimal(MONEY_LIMIT).scaleb(-money.exponent(code)) if known else 0
        for i in idx:
            if values[i] is None:
                continue
            if not known:
                raise _BadValue(currencies[i], "a currency code (the amount's exponent depends on it)", row=i)
            if not _finite(values[i], limit):
                raise _BadValue(values[i], f"an amount in {code} (a JSON number) within ±{limit:,}", row=i)
        arr, n = money.decimals_to_minor([values[i] for i in idx], money.exponent(code)) if known else (None, 0)
        if arr is not None:
            out[idx] = arr
        rounded += n
    return out, rounded


def _currencies(flat: list[dict[str, Any]], schema: Schema, default_currency: str | None) -> list[Any]:
    """Each row's currency: a code (an open set) whenever the row holds money."""
    name = schema.currency_column
    money_columns = [c for c, kind in schema.columns.items() if kind in _MONEY and c not in _CURRENCY_OF]
    out = []
    for i, row in enumerate(flat):
        code = row.get(name, default_currency)
        if code is None and any(row.get(c) is not None for c in money_columns):
            raise _BadValue(None, "a currency code (the row holds money)", row=i, field=name)
        if code is not None and not (isinstance(code, str) and CURRENCY_CODE.fullmatch(code)):
            raise _BadValue(code, "a currency code such as 'EUR'", row=i, field=name)
        out.append(code)
    return out


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
    """Flatten, check and type one page of records (categories are applied later by :func:`finish`).

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
        A value does not fit its declared kind (see the module docstring):
        the message names the row, its id, the field and the value;
        ``rows`` holds the offending record.
    """
    try:
        return _build(records, schema, include_pii, wall_zone, default_currency)
    except _BadValue as bad:
        raise _bad_record(bad, records, schema) from None


def _bad_record(bad: _BadValue, records: list[Mapping[str, Any]], schema: Schema) -> DataError:
    record = records[bad.row] if bad.row is not None else None
    rid = record.get("id") if isinstance(record, Mapping) else None
    where = f"row {bad.row}" + (f" (id {excerpt(rid)})" if rid is not None else "") if bad.row is not None else "a row"
    value = "<hidden: personal data>" if bad.field and schema.is_pii(bad.field) else excerpt(bad.value)
    field = bad.field if bad.field is None or len(bad.field) <= 100 else f"{bad.field[:100]}..."
    return DataError(
        f"{schema.name}: {where}: field {field!r} is {value}: expected {bad.expected}",
        rows=[record] if record is not None else None,
    )


def _build(
    records: list[Mapping[str, Any]],
    schema: Schema,
    include_pii: bool,
    wall_zone: str | None,
    default_currency: str | None,
) -> Page:
    flat = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise _BadValue(record, "a JSON object (one record)", row=i)
        try:
            leaves = _flatten(record, "", 1)
        except _BadValue as bad:
            bad.row = i
            raise
        flat.append({k: v for k, v in leaves.items() if k in schema.columns or not _empty_object(v)})
    names = list(schema.columns)
    present = {k for row in flat for k in row}
    _no_objects_in_known_fields(present, flat, schema)
    extra = sorted(present - set(names))
    columns: dict[str, Any] = {}
    rounded = 0
    currencies = _currencies(flat, schema, default_currency)
    for name in names + extra:
        kind = schema.columns.get(name, "unknown")
        values = currencies if name == schema.currency_column else [row.get(name) for row in flat]
        try:
            if kind == "major":
                cur = currencies if name not in _CURRENCY_OF else [row.get(_CURRENCY_OF[name]) for row in flat]
                columns[name], n = _major(values, cur, default_currency)
                rounded += n
            elif kind == "minor_float":
                columns[name], n = _column(kind, values)
                rounded += n
            elif kind == "time":
                columns[name] = _times(values, wall_zone).array
            else:
                columns[name] = _column(kind, values)
        except _BadValue as bad:
            bad.field = bad.field or name
            raise
        except UnicodeEncodeError:  # Python's json lets a lone UTF-16 surrogate ("\ud800") through
            row = next(i for i, v in enumerate(values) if isinstance(v, str) and not _encodes(v))
            raise _BadValue(values[row], "text (a lone UTF-16 surrogate is not text)", row=row, field=name) from None
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(flat)))
    dropped = tuple(c for c in frame.columns if schema.is_pii(c)) if not include_pii else ()
    return Page(frame.drop(columns=list(dropped)), rounded, dropped)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: What each kind expects, for messages.
_KIND_TEXT = {
    "int": "an integer",
    "minor": "a whole number of minor units",
    "minor_float": "a number of minor units",
    "major": "an amount",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "category": "text",
    "time": "a timestamp",
}


def _no_objects_in_known_fields(present: set[str], flat: list[dict[str, Any]], schema: Schema) -> None:
    """Refuse a known field given as an object (``"amount": {"value": 10}`` would leave ``amount`` empty)."""
    for name in sorted(present):
        head = name
        while "." in head:
            head = head.rsplit(".", 1)[0]
            if head in schema.columns:
                row = next(i for i, r in enumerate(flat) if name in r)
                inner = {k[len(head) + 1 :]: v for k, v in flat[row].items() if k.startswith(head + ".")}
                raise _BadValue(inner, f"{_KIND_TEXT[schema.columns[head]]}, not an object", row=row, field=head)


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
    cats = {
        c: "category"
        for c in known
        if schema.columns[c] == "category" and not isinstance(frame[c].dtype, pd.CategoricalDtype)
    }
    return frame.astype(cats) if cats else frame
