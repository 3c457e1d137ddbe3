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
    codes,
    dense_codes,
    direction,
    empty_frame,
    minor_units,
    period_end,
    period_numbers,
    period_starts,
    require_columns,
    require_frame,
    require_no_missing,
    require_utc,
    utc_nanoseconds,
)
from .categories import CATEGORIES, STATEMENT_CATEGORIES, category_codes

__all__ = [
    "CATEGORIES",
    "STATEMENT_CATEGORIES",
    "RECORD_CATEGORIES",
    "ACCOUNT_COLUMNS",
    "roll_forward",
    "check_balances",
]

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


def _check_categories(categories: Mapping[str, str] | None) -> dict[str, str]:
    if categories is None:
        return {}
    if not isinstance(categories, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in categories.items()
    ):
        raise ConfigurationError(
            "categories", categories, "a dict mapping a type to a category name, e.g. {'FX_ADJUSTMENT': 'fx'}"
        )
    return dict(categories)


def _record_category(transaction_type: str | None) -> str:
    return RECORD_CATEGORIES.get(transaction_type, "other") if transaction_type is not None else "other"


def _chain_codes(ledger: _Ledger, currency: np.ndarray) -> np.ndarray:
    """A number per balance chain (the currency's code for statements)."""
    if ledger.chain_columns == ("currency",):
        return currency
    columns = list(ledger.chain_columns)
    return ledger.frame.groupby(columns, sort=False, observed=True, dropna=False).ngroup().to_numpy(dtype="int64")


def _first_rows(groups: np.ndarray, count: int) -> np.ndarray:
    """Position of the first row of each of ``count`` groups (``len(groups)`` where a group has none)."""
    first = np.full(count, len(groups), dtype="int64")
    np.minimum.at(first, groups, np.arange(len(groups), dtype="int64"))
    return first


@dataclass(frozen=True)
class _Grid:
    """Rows placed on a (currency, period) grid; periods numbered from ``base``."""

    names: list[str]  # currency names, the rows' codes first, then currencies only in the openings
    currency: np.ndarray  # int64 code per row
    period: np.ndarray  # int64 period per row, 0 = ``base``
    base: int
    width: int  # periods on the grid

    def cell(self) -> np.ndarray:
        return self.currency * self.width + self.period


def _grid(ledger: _Ledger, freq: str, extra: list[str], dates: pd.Series) -> _Grid:
    """Currency codes and period numbers of the rows (and of the opening dates)."""
    found, uniques = codes(ledger.frame["currency"])
    names = [str(u) for u in uniques]
    names += sorted({str(c) for c in extra} - set(names))
    period = period_numbers(utc_nanoseconds(ledger.created), freq)
    marks = [period, period_numbers(utc_nanoseconds(dates), freq)] if len(dates) else [period]
    bounds = np.concatenate(marks)
    base = int(bounds.min()) if len(bounds) else 0
    width = int(bounds.max()) - base + 1 if len(bounds) else 1
    return _Grid(names, found, period - base, base, width)


def _activity(ledger: _Ledger, grid: _Grid, overrides: Mapping[str, str], columns: list[str]) -> np.ndarray:
    """Signed activity summed per currency, period and category: int64 array (currencies, periods, columns)."""
    frame, cell = ledger.frame, grid.cell() * len(columns)
    totals = np.zeros(len(grid.names) * grid.width * len(columns), dtype="int64")
    if ledger.is_records:
        kinds = category_codes(frame["transaction_type"], columns, label_of=_record_category, overrides=overrides)
        np.add.at(totals, cell + kinds, minor_units(frame["amount"]))
        np.add.at(totals, cell + columns.index("fees"), -minor_units(frame["fee"]))
    else:
        kinds = category_codes(frame["type"], columns, overrides=overrides)
        np.add.at(totals, cell + kinds, ledger.change)
    return totals.reshape(len(grid.names), grid.width, len(columns))


def _reported(ledger: _Ledger, grid: _Grid, chain: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per currency and period, the last ``balance_after`` each chain reports by the period's end, summed.

    A chain that has not started yet counts with its first ``balance_before``.
    """
    chains = len(first)
    last = np.full(chains * grid.width, -1, dtype="int64")
    np.maximum.at(last, chain * grid.width + grid.period, np.arange(len(chain), dtype="int64"))
    last = last.reshape(chains, grid.width)
    seen = np.where(last >= 0, np.arange(grid.width), -1)
    latest = np.maximum.accumulate(seen, axis=1)  # forward fill: the latest period with a row
    rows = np.take_along_axis(last, np.maximum(latest, 0), axis=1)
    after = minor_units(ledger.frame["balance_after"])
    before = minor_units(ledger.frame["balance_before"])
    values = np.where(latest >= 0, after[rows], before[first][:, None])
    out = np.zeros((len(grid.names), grid.width), dtype="int64")
    np.add.at(out, grid.currency[first], values)
    return out


def _given_openings(opening: Any) -> tuple[pd.Series, pd.Series]:
    """Opening balance per currency from ``opening``, and the date each applies to (NaT if unknown)."""
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


def _chain_openings(ledger: _Ledger, grid: _Grid, first: np.ndarray) -> pd.Series:
    """The first ``balance_before`` of each chain, summed per currency."""
    names = np.asarray(grid.names, dtype=object)[grid.currency[first]]
    return pd.Series(minor_units(ledger.frame["balance_before"])[first], index=names).groupby(level=0).sum()


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


def _dormant_openings(ledger: _Ledger, opening: Any) -> pd.Series:
    """Opening balances of accounts that have no record, per currency (they stay as they are)."""
    if not isinstance(opening, pd.DataFrame) or not ledger.is_records:
        return pd.Series(dtype="int64")
    if not all(c in opening.columns for c in ACCOUNT_COLUMNS):
        return pd.Series(dtype="int64")
    accounts = list(ACCOUNT_COLUMNS)
    active = ledger.frame[accounts].drop_duplicates().astype("str")
    mine = opening[accounts].astype("str")
    dormant = ~mine.merge(active, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    values = pd.Series(minor_units(opening["opening_balance"])[dormant], index=mine["currency"].to_numpy()[dormant])
    return values.groupby(level=0).sum()


def _span(grid: _Grid, index: int, first: Any, freq: str) -> tuple[int, int] | None:
    """First and last grid period of one currency: its rows, and its opening date if known."""
    periods = grid.period[grid.currency == index]
    starts = [int(periods.min())] if len(periods) else []
    if not pd.isna(first):
        starts.append(int(period_numbers(utc_nanoseconds(pd.Series([first])), freq)[0]) - grid.base)
    if not starts:
        return None
    return min(starts), int(periods.max()) if len(periods) else min(starts)


def _roll_one(currency: str, span: tuple[int, int], grid: _Grid, index: int, activity: np.ndarray,
              rows: np.ndarray, reported: np.ndarray, opening: int, dormant: int, freq: str,
              columns: list[str]) -> pd.DataFrame:
    """Roll-forward of one currency over its contiguous periods."""
    cells = slice(span[0], span[1] + 1)
    periods = period_starts(np.arange(span[0], span[1] + 1) + grid.base, freq)
    mine = activity[index, cells]
    total = mine.sum(axis=1)
    closing = opening + np.cumsum(total)
    out = pd.DataFrame({"currency": currency, "period": periods, "period_end": period_end(periods, freq)})
    out["opening"] = closing - total
    for position, column in enumerate(columns):
        out[column] = mine[:, position]
    out["closing"] = closing
    out["rows"] = rows[index, cells]
    out["reported_closing"] = reported[index, cells] + dormant
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
        Overrides of the type -> category mapping. Statement types are
        sorted by :func:`~ledgerkit.analysis.categories.statement_category`
        (any type containing ``FEE`` is a fee, as in ``fee_breakdown`` and
        ``payout_groups``), balance-record types by ``RECORD_CATEGORIES``
        (whose ``fee`` column always counts as ``fees``). A new category
        name adds a column after ``other``; unknown types fall in ``other``.
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
    require_no_missing(ledger.frame, ("currency", ledger.created.name), "statements")
    overrides = _check_categories(categories)
    columns = list(CATEGORIES) + sorted({v for v in overrides.values() if v not in CATEGORIES})
    if opening is None:
        opening = ledger.opening_balance
    openings, dates = _given_openings(opening) if opening is not None else (pd.Series(dtype="int64"), pd.Series())
    grid = _grid(ledger, freq, list(openings.index), dates)
    chain = _chain_codes(ledger, grid.currency)
    first = _first_rows(chain, int(chain.max()) + 1 if len(chain) else 0)
    if opening is None:
        openings = _chain_openings(ledger, grid, first)
    dormant = _dormant_openings(ledger, opening)
    activity = _activity(ledger, grid, overrides, columns)
    rows = np.bincount(grid.cell(), minlength=len(grid.names) * grid.width).reshape(len(grid.names), grid.width)
    reported = _reported(ledger, grid, chain, first)
    parts = []
    for currency in sorted(grid.names):
        index = grid.names.index(currency)
        span = _span(grid, index, dates.get(currency, pd.NaT), freq)
        if span is None:
            continue
        parts.append(_roll_one(currency, span, grid, index, activity, rows, reported,
                               int(openings.get(currency, 0)), int(dormant.get(currency, 0)), freq, columns))
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


def _duplicates(ledger: _Ledger, chain: np.ndarray) -> np.ndarray:
    """Rows repeating an earlier row of the same chain (by id, or by every field)."""
    frame = ledger.frame
    if not ledger.id_column:
        return frame.duplicated(keep="first").to_numpy(dtype=bool)
    ids = dense_codes(frame[ledger.id_column])
    order = np.lexsort((ids, chain))  # stable: a repeated (chain, id) keeps its row order
    ids, chains = ids[order], chain[order]
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[order[1:][(ids[1:] == ids[:-1]) & (chains[1:] == chains[:-1])]] = True
    return repeated


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

        The analysis keeps the amount a number (minor units, signed) and
        its reading a label; joining them into "0.05 too much" is display
        work: :func:`ledgerkit.viz.display.show` (used by the notebooks and
        widgets) shows ``difference`` in major units of the row's currency
        next to ``direction``.

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
    chain = _chain_codes(ledger, codes(frame["currency"])[0])
    duplicate = _duplicates(ledger, chain)
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
