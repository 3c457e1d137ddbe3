"""From API records to typed DataFrames: flatten, declared dtypes, PII rules, manifest.

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

Every pull is described by a :class:`Manifest` stored, as a plain
JSON-serialisable dict, in ``df.attrs["ledgerkit"]``.

Examples
--------
>>> records = [{"id": 1, "amount": 1000, "transaction_fee": 29.0, "currency": "USD",
...             "created_at": "2025-01-02T03:04:05Z", "credit_card": {"brand": "visa", "holder": "A B"}}]
>>> page = build_page(records, TRANSACTIONS)
>>> page.frame[["id", "amount", "transaction_fee", "credit_card.brand"]].dtypes.astype(str).tolist()
['Int64', 'Int64', 'Int64', 'str']
>>> "credit_card.holder" in page.frame.columns
False
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from . import money
from .errors import DataError

__all__ = [
    "Schema",
    "TRANSACTIONS",
    "STATEMENTS",
    "Page",
    "flatten",
    "build_page",
    "finish",
    "empty_frame",
    "row_id",
    "parse_times",
    "Manifest",
    "safe_parameters",
    "attach_manifest",
]

UTC_NS = "datetime64[ns, UTC]"


@dataclass(frozen=True)
class Schema:
    """The declared columns of one source, in frame order, and what is private.

    Parameters
    ----------
    name : str
        The source name (``"transactions"``).
    columns : mapping
        Column name -> kind (see the module docstring), in frame order.
    pii : tuple of str
        ``fnmatch`` patterns of columns dropped unless ``include_pii=True``.
    pii_keep : tuple of str
        Columns matched by ``pii`` that are nevertheless not personal.
    currency_column : str
        The column giving each row's currency (for ``major`` and ``minor_float``).
    """

    name: str
    columns: Mapping[str, str]
    pii: tuple[str, ...] = ()
    pii_keep: tuple[str, ...] = ()
    currency_column: str = "currency"

    def is_pii(self, column: str) -> bool:
        """Whether ``column`` is personal data under this schema."""
        return _is_pii(column, self.pii, self.pii_keep)


@functools.lru_cache(maxsize=4096)
def _is_pii(column: str, pii: tuple[str, ...], keep: tuple[str, ...]) -> bool:
    """Cached: asked once per column of every page."""
    return column not in keep and any(fnmatch.fnmatchcase(column, p) for p in pii)


def _nested(prefix: str, kind: str, names: str) -> dict[str, str]:
    return {f"{prefix}.{n}": kind for n in names.split()}


#: beGateway shop report v3 (docs/CONTRACTS.md §3).
TRANSACTIONS = Schema(
    name="transactions",
    columns={
        "id": "int",
        "uid": "str",
        "type": "category",
        "status": "category",
        "payment_method_type": "category",
        "amount": "minor",
        "transaction_fee": "minor_float",
        "pay_to_merchant": "minor_float",
        "currency": "category",
        "discount_rate": "float",
        "transaction_rate": "float",
        "test": "bool",
        "created_at": "time",
        "paid_at": "time",
        "settled_at": "time",
        "manually_corrected_at": "time",
        "description": "str",
        "tracking_id": "str",
        "order_id": "str",
        "message": "str",
        "gateway_note": "str",
        "shop.id": "int",
        "payment.gateway_id": "int",
        "payment.gateway_name": "category",
        **_nested("payment", "category", "status"),
        **_nested("payment", "str", "ref_id message auth_code bank_code rrn billing_descriptor"),
        **_nested("credit_card", "category", "brand product issuer_country issuer_name"),
        **_nested("credit_card", "str", "bin first_1 last_4 holder token"),
        **_nested("credit_card", "int", "exp_month exp_year"),
        "billing_address.country": "category",
        **_nested("billing_address", "str", "first_name last_name address city zip state phone birth_date"),
        **_nested("customer", "str", "ip email"),
        "additional_data.request_id": "str",
        **_nested("additional_data.browser", "int", "screen_width screen_height screen_color_depth time_zone window_height window_width"),
        **_nested("additional_data.browser", "category", "language time_zone_name accept_header"),
        "additional_data.browser.java_enabled": "bool",
        "additional_data.browser.user_agent": "str",
        "additional_data.vendor.name": "category",
        "additional_data.vendor.token": "str",
        **_nested(
            "additional_data.tdsecure",
            "str",
            "status message ve_status acs_url pa_req md pa_res_url eci pa_status xid cavv cavv_algorithm "
            "fail_reason method_process_url",
        ),
        "additional_data.avs_cvc.avs_verification.result_code": "str",
        "additional_data.avs_cvc.cvc_verification.result_code": "str",
        **_nested("three_d_secure_verification", "category", "status ve_status eci pa_status"),
        **_nested("three_d_secure_verification", "str", "message xid cavv cavv_algorithm"),
    },
    pii=(
        "credit_card.holder",
        "credit_card.token",
        "customer.ip",
        "customer.email",
        "billing_address.*",
        "additional_data.vendor.token",
        "additional_data.tdsecure.*",
        "three_d_secure_verification.xid",
        "three_d_secure_verification.cavv",
    ),
    pii_keep=("billing_address.country",),
)

#: MakeCommerce account statement rows (docs/CONTRACTS.md §3); ``currency`` is
#: the account currency, added by the loader.
STATEMENTS = Schema(
    name="statements",
    columns={
        "row_id": "str",
        "created": "time",
        "type": "category",
        "amount": "major",
        "balance_before": "major",
        "balance_after": "major",
        "original_amount": "major",
        "currency": "category",
        "original_currency": "str",
        "exchange_rate": "float",
        "transaction": "str",
        "transaction_id": "str",
        "channel": "category",
        "merchant_reference": "str",
        "payout_id": "str",
    },
)

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


def safe_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The pull's parameters as plain JSON values, without secrets or live objects.

    Examples
    --------
    >>> safe_parameters({"secret_key": "s", "session": object(), "date_from": pd.Timestamp("2025-01-01", tz="UTC"),
    ...                  "payment_method_type": ("credit_card",), "shop_id": 7})
    {'date_from': '2025-01-01T00:00:00+00:00', 'payment_method_type': ['credit_card'], 'shop_id': 7}
    """
    hidden = {"secret_key", "secret", "session", "progress", "retry", "psp_secret"}
    return {k: _plain(v) for k, v in parameters.items() if k not in hidden}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass
class Manifest:
    """What one pull did; stored as a plain dict in ``df.attrs["ledgerkit"]``.

    The loader updates the counters as pages arrive; :meth:`as_dict` adds the
    HTTP counters (requests, retries, bytes) of a :class:`ledgerkit.http.PullStats`.

    Examples
    --------
    >>> m = Manifest("statements", {"since": "2025-01-01"})
    >>> m.pages, m.rows = 3, 120
    >>> d = m.as_dict()
    >>> d["source"], d["pages"], d["rows"], d["complete"], d["requests"]
    ('statements', 3, 120, False, 0)
    """

    source: str
    parameters: dict[str, Any]
    include_pii: bool = False
    pages: int = 0
    rows: int = 0
    duplicates_dropped: int = 0
    rounded_values: int = 0
    first_cursor: Any = None
    last_cursor: Any = None
    complete: bool = False
    pulled_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, stats: Any = None) -> dict[str, Any]:
        """A JSON-serialisable dict; ``stats`` is a ``PullStats`` (or None)."""
        counters = stats.as_dict() if stats is not None else {"requests": 0, "retries": 0, "bytes": 0, "retry_reasons": {}}
        out = {
            "source": self.source,
            "parameters": safe_parameters(self.parameters),
            "pages": self.pages,
            **counters,
            "rows": self.rows,
            "duplicates_dropped": self.duplicates_dropped,
            "rounded_values": self.rounded_values,
            "first_cursor": _plain(self.first_cursor),
            "last_cursor": _plain(self.last_cursor),
            "complete": self.complete,
            "include_pii": self.include_pii,
            "pulled_at": self.pulled_at,
        }
        out.update({k: _plain(v) for k, v in self.extra.items()})
        return out


def attach_manifest(frame: pd.DataFrame, manifest: Manifest, stats: Any = None) -> pd.DataFrame:
    """Store ``manifest`` (as a dict) in ``frame.attrs["ledgerkit"]`` and return the frame."""
    frame.attrs["ledgerkit"] = manifest.as_dict(stats)
    return frame
