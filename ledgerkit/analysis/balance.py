"""Balance roll-forward and balance-chain checks.

Two questions about an account's balance, per currency:

- :func:`roll_forward` — opening balance + activity by category = closing
  balance, per day, week or month;
- :func:`check_balances` — where exactly the chain of ``balance_before`` /
  ``balance_after`` breaks, and by how much (like Beancount's and hledger's
  balance assertions: "expected X, found Y, Z too much", naming the row).

Both take an account-statements frame (MakeCommerce) or the records of a DWH
balance report (beGateway), see ``docs/CONTRACTS.md`` §3. Money is ``Int64``
minor units, signed as it moves the balance (fees and payouts negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from ._common import (
    check_freq,
    direction,
    empty_frame,
    minor_units,
    period_end,
    period_range,
    period_start,
    require_columns,
    require_frame,
    require_no_missing,
    require_utc,
)

__all__ = [
    "CATEGORIES",
    "STATEMENT_CATEGORIES",
    "RECORD_CATEGORIES",
    "ACCOUNT_COLUMNS",
    "roll_forward",
    "check_balances",
]

#: Activity categories of a roll-forward, in column order.
CATEGORIES: tuple[str, ...] = ("income", "fees", "vat", "refunds", "chargebacks", "payouts", "other")

#: Statement ``type`` -> category; any other type is ``"other"``.
STATEMENT_CATEGORIES: dict[str, str] = {
    "INCOME": "income",
    "TRX_FEE": "fees",
    "TRX_FEE_FIX": "fees",
    "CHARGEBACK_FEE": "fees",
    "VAT": "vat",
    "REFUND": "refunds",
    "CHARGEBACK": "chargebacks",
    "PAYOUT": "payouts",
}

#: Balance-record ``transaction_type`` -> category of its ``amount``; the
#: ``fee`` column always goes to ``"fees"``. Any other type is ``"other"``.
RECORD_CATEGORIES: dict[str, str] = {
    "payment": "income",
    "capture": "income",
    "refund": "refunds",
    "chargeback": "chargebacks",
    "payout": "payouts",
    "credit": "payouts",
}

#: Columns identifying one balance chain of a DWH balance report.
ACCOUNT_COLUMNS: tuple[str, ...] = ("merchant_id", "shop_id", "gateway_id", "currency")

_STATEMENT_COLUMNS = ("created", "type", "amount", "balance_before", "balance_after", "currency")
_RECORD_COLUMNS = (
    "created_at",
    "transaction_type",
    "amount",
    "fee",
    "balance_before",
    "balance_after",
    *ACCOUNT_COLUMNS,
)


@dataclass(frozen=True)
class _Ledger:
    """One input, whichever its source, in the shape the checks need."""

    frame: pd.DataFrame  # the caller's rows, original order
    is_records: bool
    created: pd.Series  # UTC timestamps
    change: np.ndarray  # int64: how much each row moves the balance
    chain_columns: tuple[str, ...]
    id_column: str | None
    opening_balance: pd.DataFrame | None


def _ledger(data: Any, parameter: str) -> _Ledger:
    """Recognise a statements frame, a records frame or a BalanceReport-like object."""
    opening = None
    if not isinstance(data, pd.DataFrame) and hasattr(data, "records"):
        opening = getattr(data, "opening_balance", None)
        data = data.records
    frame = require_frame(data, parameter)
    is_records = "transaction_type" in frame.columns or "created_at" in frame.columns
    if is_records:
        require_columns(frame, _RECORD_COLUMNS, parameter)
        require_no_missing(frame, ("amount", "fee", "balance_before", "balance_after"), parameter)
        created = require_utc(frame, "created_at", parameter)
        net = frame["net"] if "net" in frame.columns and not frame["net"].isna().any() else None
        change = minor_units(net) if net is not None else minor_units(frame["amount"]) - minor_units(frame["fee"])
        id_column = "record_id" if "record_id" in frame.columns else None
        return _Ledger(frame, True, created, change, ACCOUNT_COLUMNS, id_column, opening)
    require_columns(frame, _STATEMENT_COLUMNS, parameter)
    require_no_missing(frame, ("amount", "balance_before", "balance_after", "currency"), parameter)
    created = require_utc(frame, "created", parameter)
    id_column = "row_id" if "row_id" in frame.columns else None
    return _Ledger(frame, False, created, minor_units(frame["amount"]), ("currency",), id_column, opening)


# ---------------------------------------------------------------- roll-forward


def _category_map(categories: Mapping[str, str] | None, defaults: Mapping[str, str]) -> dict[str, str]:
    if categories is None:
        return dict(defaults)
    if not isinstance(categories, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in categories.items()
    ):
        raise ConfigurationError(
            "categories", categories, "a dict mapping a type to a category name, e.g. {'FX_FEE': 'fees'}"
        )
    return {**defaults, **categories}


def _categorise(types: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """The category of each row's type ("other" when unmapped or missing), mapped once per distinct type."""
    kinds = types.astype("category")
    labels = [mapping.get(str(t), "other") for t in kinds.cat.categories] + ["other"]  # code -1 (missing) last
    return pd.Series(np.array(labels, dtype=object)[kinds.cat.codes.to_numpy()], index=types.index, dtype="str")


def _movements(ledger: _Ledger, categories: Mapping[str, str] | None) -> pd.DataFrame:
    """Long frame of balance movements: currency, created, category, amount, row (1 per input row)."""
    frame = ledger.frame
    if ledger.is_records:
        mapping = _category_map(categories, RECORD_CATEGORIES)
        kinds = _categorise(frame["transaction_type"], mapping)
        fees = pd.Series("fees", index=frame.index, dtype="str")
        moves = [(kinds, minor_units(frame["amount"]), 1), (fees, -minor_units(frame["fee"]), 0)]
    else:
        moves = [(_categorise(frame["type"], _category_map(categories, STATEMENT_CATEGORIES)), ledger.change, 1)]
    parts = [
        pd.DataFrame(
            {
                "currency": frame["currency"].astype("str").array,
                "created": ledger.created.array,
                "category": category.array,
                "amount": amount,
                "row": np.full(len(frame), row, dtype="int64"),
            }
        )
        for category, amount, row in moves
    ]
    return pd.concat(parts, ignore_index=True)


def _openings(ledger: _Ledger, opening: Any) -> tuple[pd.Series, pd.Series]:
    """Opening balance per currency, and the date each opening applies to (NaT if unknown)."""
    if opening is None:
        first = ledger.frame.groupby(list(ledger.chain_columns), sort=False, observed=True, dropna=False).head(1)
        values = pd.Series(minor_units(first["balance_before"]), index=first["currency"].astype("str").to_numpy())
        return values.groupby(level=0).sum(), pd.Series(dtype="datetime64[ns, UTC]")
    if isinstance(opening, Mapping):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in opening.values()):
            raise ConfigurationError("opening", opening, "{currency: opening balance in integer minor units}")
        values = pd.Series({str(k): int(v) for k, v in opening.items()}, dtype="int64")
        return values, pd.Series(dtype="datetime64[ns, UTC]")
    frame = require_frame(opening, "opening")
    require_columns(frame, ("currency", "opening_balance"), "opening")
    require_no_missing(frame, ("currency", "opening_balance"), "opening")
    currency = frame["currency"].astype("str").to_numpy()
    values = pd.Series(minor_units(frame["opening_balance"]), index=currency).groupby(level=0).sum()
    if "date" in frame.columns and isinstance(frame["date"].dtype, pd.DatetimeTZDtype):
        dates = pd.Series(frame["date"].dt.tz_convert("UTC").dt.as_unit("ns").array, index=currency)
        return values, dates.groupby(level=0).min()
    return values, pd.Series(dtype="datetime64[ns, UTC]")


def _roll_columns(categories: list[str]) -> dict[str, str]:
    return {
        "currency": "str",
        "period": "datetime64[ns, UTC]",
        "period_end": "datetime64[ns, UTC]",
        "opening": "Int64",
        **{c: "Int64" for c in categories},
        "closing": "Int64",
        "rows": "Int64",
        "reported_closing": "Int64",
        "unexplained": "Int64",
    }


def _chain_rows(ledger: _Ledger, freq: str) -> pd.DataFrame:
    """Reported balances per row: currency, chain, period, balance_before, balance_after."""
    frame = ledger.frame
    chain = frame.groupby(list(ledger.chain_columns), sort=False, observed=True, dropna=False).ngroup()
    return pd.DataFrame(
        {
            "currency": frame["currency"].astype("str").array,
            "chain": chain.to_numpy(),
            "period": period_start(ledger.created, freq).array,
            "before": pd.array(minor_units(frame["balance_before"]), dtype="Int64"),
            "after": pd.array(minor_units(frame["balance_after"]), dtype="Int64"),
        }
    )


def _dormant_openings(ledger: _Ledger, opening: Any) -> pd.Series:
    """Opening balances of accounts that have no record, per currency (they stay as they are)."""
    if not isinstance(opening, pd.DataFrame) or not ledger.is_records:
        return pd.Series(dtype="int64")
    if not all(c in opening.columns for c in ACCOUNT_COLUMNS):
        return pd.Series(dtype="int64")
    accounts = list(ACCOUNT_COLUMNS)
    active = ledger.frame[accounts].astype("str").drop_duplicates()
    mine = opening[accounts].astype("str")
    dormant = ~mine.merge(active, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    values = pd.Series(minor_units(opening["opening_balance"])[dormant], index=mine["currency"].to_numpy()[dormant])
    return values.groupby(level=0).sum()


def _reported_closing(rows: pd.DataFrame, periods: pd.DatetimeIndex, dormant: int) -> np.ndarray:
    """Sum over the chains of the last ``balance_after`` reported by each period's end."""
    if rows.empty:
        return np.full(len(periods), dormant, dtype="int64")
    last = rows.groupby(["chain", "period"])["after"].last().unstack("chain").reindex(periods).ffill()
    not_started = rows.groupby("chain")["before"].first()
    return last.fillna(not_started).sum(axis=1).to_numpy(dtype="int64") + dormant


def _roll_one(currency: str, moves: pd.DataFrame, reported: pd.DataFrame, opening: int, dormant: int,
              first: Any, freq: str, columns: list[str]) -> pd.DataFrame:
    """Roll-forward of one currency over contiguous periods."""
    starts = [moves["period"].min()] if len(moves) else []
    if not pd.isna(first):
        starts.append(period_start(pd.Series([first]), freq).iloc[0])
    last = moves["period"].max() if len(moves) else min(starts)
    periods = period_range(min(starts), last, freq)
    activity = (
        moves.groupby(["period", "category"])["amount"].sum().unstack("category", fill_value=0)
        .reindex(index=periods, columns=columns, fill_value=0)
    )
    rows = moves.groupby("period")["row"].sum().reindex(periods, fill_value=0)
    total = activity.sum(axis=1).to_numpy(dtype="int64")
    closing = opening + np.cumsum(total)
    out = pd.DataFrame({"currency": currency, "period": periods, "period_end": period_end(periods, freq)})
    out["opening"] = closing - total
    for column in columns:
        out[column] = activity[column].to_numpy(dtype="int64")
    out["closing"] = closing
    out["rows"] = rows.to_numpy(dtype="int64")
    out["reported_closing"] = _reported_closing(reported, periods, dormant)
    out["unexplained"] = out["reported_closing"] - out["closing"]
    return out


def roll_forward(
    statements: Any,
    *,
    freq: str = "M",
    categories: Mapping[str, str] | None = None,
    opening: Any = None,
) -> pd.DataFrame:
    """Opening balance + activity by category = closing balance, per currency and period.

    Periods are UTC days, weeks (from Monday) or calendar months, half-open
    ``[period, period_end)`` and contiguous: a period without activity is
    present with zeros. On every row ``opening + income + fees + vat +
    refunds + chargebacks + payouts + other == closing`` and each period
    opens with the previous period's closing. Activity is signed as it
    moves the balance: income positive; fees, VAT, refunds, chargebacks and
    payouts negative.

    Parameters
    ----------
    statements : DataFrame or BalanceReport-like
        An account-statements frame (chain order = row order), the
        ``.records`` of a DWH balance report, or an object with ``.records``
        and ``.opening_balance`` attributes.
    freq : {"D", "W", "M"}
        Period length.
    categories : dict, optional
        Overrides of the type -> category mapping (``STATEMENT_CATEGORIES``
        for statements, ``RECORD_CATEGORIES`` for balance records, whose
        ``fee`` column always counts as ``fees``). A new category name adds
        a column after ``other``; unknown types fall in ``other``.
    opening : DataFrame or dict, optional
        Opening balances: a report's ``opening_balance`` frame (summed over
        the accounts of each currency; its ``date`` starts the first period)
        or ``{currency: minor units}``. By default the first row's
        ``balance_before`` of each chain.

    Returns
    -------
    DataFrame
        ``currency``, ``period``, ``period_end`` (UTC), ``opening``, one
        ``Int64`` column per category, ``closing``, ``rows`` (input rows in
        the period), ``reported_closing`` (the last ``balance_after`` each
        chain reports by the period's end, summed over the chains of the
        currency) and ``unexplained = reported_closing - closing`` (0 when
        the reported balances agree with opening + activity; where not,
        :func:`check_balances` names the rows). Sorted by currency and period.

    Raises
    ------
    ConfigurationError
        A missing column, a missing money value, naive timestamps, a bad
        ``freq``, ``categories`` or ``opening``.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-05", "2025-01-05", "2025-03-02"], utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "PAYOUT"],
    ...     "amount": pd.array([1000, -30, -970], dtype="Int64"),
    ...     "balance_before": pd.array([500, 1500, 1470], dtype="Int64"),
    ...     "balance_after": pd.array([1500, 1470, 500], dtype="Int64"),
    ...     "currency": ["EUR", "EUR", "EUR"]})
    >>> r = roll_forward(s, freq="M")
    >>> r[["opening", "income", "fees", "payouts", "closing"]].values.tolist()
    [[500, 1000, -30, 0, 1470], [1470, 0, 0, 0, 1470], [1470, 0, 0, -970, 500]]
    """
    freq = check_freq(freq)
    ledger = _ledger(statements, "statements")
    moves = _movements(ledger, categories)
    mapping_values = (categories or {}).values()
    columns = list(CATEGORIES) + sorted({v for v in mapping_values if v not in CATEGORIES})
    if opening is None:
        opening = ledger.opening_balance
    openings, dates = _openings(ledger, opening)
    dormant = _dormant_openings(ledger, opening)
    reported = _chain_rows(ledger, freq)
    if len(moves):
        moves["period"] = period_start(moves["created"], freq)
    parts = []
    for currency in sorted(set(moves["currency"].unique()) | set(openings.index)):
        mine = moves[moves["currency"] == currency]
        first = dates.get(currency, pd.NaT)
        if not len(mine) and pd.isna(first):
            continue
        parts.append(
            _roll_one(currency, mine, reported[reported["currency"] == currency], int(openings.get(currency, 0)),
                      int(dormant.get(currency, 0)), first, freq, columns)
        )
    dtypes = _roll_columns(columns)
    if not parts:
        return empty_frame(dtypes)
    return pd.concat(parts, ignore_index=True).astype(dtypes)


# ------------------------------------------------------------------ breaks


def _break_columns(ledger: _Ledger) -> dict[str, str]:
    id_columns = {"record_id": "Int64"} if ledger.is_records else {"row_id": "str"}
    accounts = {c: "Int64" for c in ACCOUNT_COLUMNS[:-1]} if ledger.is_records else {}
    return {
        "position": "Int64",
        **id_columns,
        **accounts,
        "created": "datetime64[ns, UTC]",
        "currency": "str",
        "kind": "str",
        "field": "str",
        "expected": "Int64",
        "actual": "Int64",
        "difference": "Int64",
        "direction": "str",
    }


def _duplicates(ledger: _Ledger) -> np.ndarray:
    """Rows repeating an earlier row of the same chain (by id, or by every field)."""
    frame = ledger.frame
    subset = [*ledger.chain_columns, ledger.id_column] if ledger.id_column else None
    return frame.duplicated(subset=subset, keep="first").to_numpy(dtype=bool)


def _diagnose(b: np.ndarray, a: np.ndarray, m: np.ndarray, first: np.ndarray) -> list[tuple[int, str, str, int, int]]:
    """Locate single faults in chain-ordered arrays; returns (index, kind, field, expected, actual).

    ``e = after - before - amount`` is the row's own error and ``link =
    before - previous after`` the error between rows. One corrupted value
    shows two symptoms that cancel (``e[i] == -link[i+1]`` for a wrong
    ``balance_after``, ``link[i] == -e[i]`` for a wrong ``balance_before``);
    they are reported once, at the row holding the wrong value.
    """
    n = len(b)
    e = a - b - m
    link = np.zeros(n, dtype="int64")
    link[1:] = b[1:] - a[:-1]
    link[first] = 0
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    found: list[tuple[int, str, str, int, int]] = []
    used_link: set[int] = set()
    for i in np.flatnonzero((e != 0) | (link != 0)).tolist():
        row_error_explained = False
        if link[i] != 0 and i not in used_link:
            found.append((i, "chain_break", "balance_before", int(a[i - 1]), int(b[i])))
            row_error_explained = e[i] == -link[i]
        if e[i] == 0 or row_error_explained:
            continue
        if not last[i] and link[i + 1] == -e[i]:
            used_link.add(i + 1)
            found.append((i, "amount_mismatch", "balance_after", int(b[i] + m[i]), int(a[i])))
        elif last[i]:
            found.append((i, "amount_mismatch", "balance_after", int(b[i] + m[i]), int(a[i])))
        elif first[i]:
            found.append((i, "amount_mismatch", "balance_before", int(a[i] - m[i]), int(b[i])))
        else:
            found.append((i, "amount_mismatch", "amount", int(a[i] - b[i]), int(m[i])))
    return found


def check_balances(statements: Any) -> pd.DataFrame:
    """Every place where the balance chain does not hold, one row per break.

    Rows are checked in chain order (= row order) per chain: the currency
    for statements, the account (merchant, shop, gateway, currency) for
    balance records. Kinds:

    - ``chain_break`` — ``balance_before`` differs from the previous row's
      ``balance_after``;
    - ``amount_mismatch`` — ``balance_after != balance_before + amount``
      (``net`` for balance records);
    - ``out_of_order`` — the timestamp is earlier than the previous row's;
    - ``duplicate`` — the row repeats an earlier one (same ``row_id`` /
      ``record_id``, or every field equal when there is no id); it is left
      out of the chain check.

    A single wrong value is reported once, at its own row, with ``field``
    naming the value that is wrong and ``difference = actual - expected``
    equal to the error: a corrupted ``balance_after`` is not also reported
    as a chain break on the next row, nor a corrupted ``balance_before`` as
    an amount mismatch. When the two balances of a row agree with their
    neighbours the ``amount`` is blamed; on the first row of a chain (no
    neighbour before) the ``balance_before``.

    Parameters
    ----------
    statements : DataFrame or BalanceReport-like
        As for :func:`roll_forward`.

    Returns
    -------
    DataFrame
        ``position`` (0-based row number in the input), ``row_id`` (or
        ``record_id``, ``merchant_id``, ``shop_id``, ``gateway_id`` for
        balance records), ``created``, ``currency``, ``kind``, ``field``,
        ``expected``, ``actual``, ``difference`` (``Int64``; for a duplicate
        expected 0 and actual the amount counted again, NA for
        ``out_of_order``) and ``direction`` ("too much" / "too little").
        Empty, with these columns, when everything holds.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "row_id": ["a", "b", "c"],
    ...     "created": pd.to_datetime(["2025-01-05"] * 3, utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "VAT"],
    ...     "amount": pd.array([1000, -30, -7], dtype="Int64"),
    ...     "balance_before": pd.array([0, 1000, 970], dtype="Int64"),
    ...     "balance_after": pd.array([1000, 975, 963], dtype="Int64"),
    ...     "currency": ["EUR"] * 3})
    >>> check_balances(s)[["position", "kind", "field", "expected", "actual", "difference", "direction"]].values.tolist()
    [[1, 'amount_mismatch', 'balance_after', 970, 975, 5, 'too much']]
    """
    ledger = _ledger(statements, "statements")
    frame = ledger.frame
    dtypes = _break_columns(ledger)
    duplicate = _duplicates(ledger)
    chain = frame.groupby(list(ledger.chain_columns), sort=False, observed=True, dropna=False).ngroup().to_numpy()
    positions = np.arange(len(frame))
    kept = positions[~duplicate]
    order = kept[np.lexsort((kept, chain[kept]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = chain[order][1:] != chain[order][:-1]
    before, after = minor_units(frame["balance_before"])[order], minor_units(frame["balance_after"])[order]
    found = [(int(order[i]), *rest) for i, *rest in _diagnose(before, after, ledger.change[order], first)]
    created = ledger.created.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]")[order]
    late = np.flatnonzero(~first & np.r_[False, created[1:] < created[:-1]])
    found += [(int(order[i]), "out_of_order", "created", None, None) for i in late]
    found += [(int(p), "duplicate", "amount", 0, int(ledger.change[p])) for p in np.flatnonzero(duplicate)]
    if not found:
        return empty_frame(dtypes)
    found.sort(key=lambda f: (f[0], f[1]))
    breaks = pd.DataFrame(found, columns=["position", "kind", "field", "expected", "actual"])
    rows = frame.iloc[breaks["position"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame({"position": breaks["position"]})
    for column in dtypes:
        if column not in out.columns:
            out[column] = rows[column].array if column in rows.columns else pd.NA
    out["created"] = ledger.created.iloc[breaks["position"].to_numpy()].array
    out["currency"] = rows["currency"].astype("str").to_numpy()
    for column in ("kind", "field"):
        out[column] = breaks[column]
    out["expected"] = pd.array(breaks["expected"], dtype="Int64")
    out["actual"] = pd.array(breaks["actual"], dtype="Int64")
    out["difference"] = out["actual"] - out["expected"]
    out["direction"] = direction(out["difference"])
    return out[list(dtypes)].astype(dtypes)
