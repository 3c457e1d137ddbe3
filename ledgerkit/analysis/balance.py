"""Balance roll-forward: opening + activity by category = closing, per currency and period.

Two questions about an account's balance, per currency:

- :func:`roll_forward` (this module) — opening balance + activity by
  category = closing balance, per day, week or month;
- :func:`~ledgerkit.analysis.breaks.check_balances` — where exactly the
  chain of balances breaks, and by how much (re-exported here).

Both take an account-statements frame (MakeCommerce) or the records of a DWH
balance report (beGateway), full or minimal, see :mod:`~ledgerkit.analysis._ledger`
and ``docs/CONTRACTS.md`` §4. Money is ``Int64`` minor units, signed as it
moves the balance (fees and payouts negative).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import OPENING_BALANCE
from ..errors import ConfigurationError
from ..money import is_currency
from ._accounts import per_account
from ._common import (
    MAX_TOTAL,
    check_freq,
    codes,
    empty_frame,
    minor_units,
    period_end,
    period_numbers,
    period_starts,
    require_no_missing,
    require_total_fits,
    require_utc,
    utc_nanoseconds,
)
from ._dask import dask_aware
from ._ledger import ACCOUNT_COLUMNS, Ledger, chain_codes, first_rows, ledger_of
from .breaks import check_balances
from .categories import (
    CATEGORIES,
    RECORD_ACTIVITY,
    RECORD_CATEGORIES,
    STATEMENT_ACTIVITY,
    STATEMENT_CATEGORIES,
    category_codes,
)
from .periods import Freq

__all__ = [
    "CATEGORIES",
    "STATEMENT_CATEGORIES",
    "RECORD_CATEGORIES",
    "ACCOUNT_COLUMNS",
    "roll_forward",
    "check_balances",
]


#: Output columns of :func:`roll_forward` besides the categories: no category may take their name.
_FIXED_COLUMNS = ("currency", "period", "period_end", "opening", "closing", "rows", "reported_closing", "unexplained")


def _check_categories(categories: Mapping[str, str] | None) -> dict[str, str]:
    if categories is None:
        return {}
    if not isinstance(categories, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in categories.items()
    ):
        raise ConfigurationError(
            "categories", categories, "a dict mapping a type to a category name, e.g. {'FX_ADJUSTMENT': 'fx'}"
        )
    taken = sorted({v for v in categories.values() if v in _FIXED_COLUMNS})
    if taken:
        raise ConfigurationError(
            "categories", categories, f"category names other than the roll-forward's own columns {list(_FIXED_COLUMNS)}"
        )
    return dict(categories)


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


def _grid(ledger: Ledger, freq: Freq, found: np.ndarray, names: list[str], dates: pd.Series) -> _Grid:
    """Period numbers of the rows (and of the opening dates) on one grid."""
    period = period_numbers(utc_nanoseconds(ledger.created), freq)
    marks = [period, period_numbers(utc_nanoseconds(dates), freq)] if len(dates) else [period]
    bounds = np.concatenate(marks)
    base = int(bounds.min()) if len(bounds) else 0
    width = int(bounds.max()) - base + 1 if len(bounds) else 1
    return _Grid(names, found, period - base, base, width)


def _activity(ledger: Ledger, grid: _Grid, overrides: Mapping[str, str], columns: list[str]) -> np.ndarray:
    """Signed activity summed per currency, period and category: int64 array (currencies, periods, columns).

    A row's amount goes to the category of its type; a record's fee to ``fees``.
    """
    cell = grid.cell() * len(columns)
    totals = np.zeros(len(grid.names) * grid.width * len(columns), dtype="int64")
    kinds = category_codes(ledger.types, columns, label_of=ledger.label_of, overrides=overrides)
    np.add.at(totals, cell + kinds, ledger.amount)
    if ledger.fee is not None:
        np.add.at(totals, cell + columns.index("fees"), -ledger.fee)
    return totals.reshape(len(grid.names), grid.width, len(columns))


def _chain_start(ledger: Ledger, first: np.ndarray) -> np.ndarray | None:
    """Each chain's balance before its first row: ``balance_before``, else ``balance_after - movement``."""
    if ledger.before is not None:
        return ledger.before[first]
    if ledger.after is not None:
        return ledger.after[first] - ledger.change[first]
    return None


def _reported(ledger: Ledger, grid: _Grid, chain: np.ndarray, first: np.ndarray) -> np.ndarray | None:
    """Per currency and period, the last ``balance_after`` each chain reports by the period's end, summed.

    A chain that has not started yet counts with its balance before its
    first row. None when the records carry no ``balance_after``.
    """
    start = _chain_start(ledger, first)
    if ledger.after is None or start is None:
        return None
    chains = len(first)
    flat = np.full(chains * grid.width, -1, dtype="int64")
    np.maximum.at(flat, chain * grid.width + grid.period, np.arange(len(chain), dtype="int64"))
    last = flat.reshape(chains, grid.width)
    seen = np.where(last >= 0, np.arange(grid.width), -1)
    latest = np.maximum.accumulate(seen, axis=1)  # forward fill: the latest period with a row
    rows = np.take_along_axis(last, np.maximum(latest, 0), axis=1)
    values = np.where(latest >= 0, ledger.after[rows], start[:, None])
    require_total_fits(np.abs(values).max(axis=1) if values.size else values.ravel(), "balances summed over accounts")
    out = np.zeros((len(grid.names), grid.width), dtype="int64")
    np.add.at(out, grid.currency[first], values)
    return out


# ------------------------------------------------------------------ openings

_OPENING = "{currency: opening balance in integer minor units}, e.g. {'EUR': 50000}, or a report's opening_balance"


def _currency_names(opening_codes: list[Any], present: list[str]) -> list[str]:
    """Opening currencies spelled as in the frame (codes compared in upper case); unknown codes refused."""
    by_code = {name.strip().upper(): name for name in present}
    names = []
    for code in opening_codes:
        normal = code.strip().upper() if isinstance(code, str) else code
        if not is_currency(normal):
            raise ConfigurationError("opening", code, "ISO 4217 (or known crypto) currency codes, e.g. 'EUR'")
        names.append(by_code.get(normal, normal))
    return names


def _opening_mapping(opening: Mapping, present: list[str]) -> pd.Series:
    if not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and abs(int(v)) < MAX_TOTAL
        for v in opening.values()
    ):
        raise ConfigurationError("opening", opening, _OPENING)
    names = _currency_names(list(opening), present)
    if len(set(names)) < len(names):
        raise ConfigurationError("opening", opening, "one opening balance per currency (codes compared in upper case)")
    absent = [code for code, name in zip(opening, names, strict=True) if name not in present]
    if absent:
        raise ConfigurationError(
            "opening",
            absent[0],
            f"a currency of the frame ({sorted(present)}): an opening without rows and without a date "
            "has no period to go in",
        )
    return pd.Series(dict(zip(names, (int(v) for v in opening.values()), strict=True)), dtype="int64")


def _opening_frame(opening: Any, present: list[str]) -> tuple[pd.Series, pd.Series]:
    frame = OPENING_BALANCE.check(opening, "opening", ("currency", "opening_balance"), uses=("date",))
    require_no_missing(frame, ("currency", "opening_balance"), "opening")
    currency = np.asarray(_currency_names(frame["currency"].astype("str").tolist(), present), dtype=object)
    values = pd.Series(minor_units(frame["opening_balance"], "opening"), index=currency).groupby(level=0).sum()
    if "date" in frame.columns:
        require_no_missing(frame, ("date",), "opening")
        dates = pd.Series(require_utc(frame, "date", "opening").dt.as_unit("ns").array, index=currency)
        return values, dates.groupby(level=0).min()
    absent = sorted(set(values.index) - set(present))
    if absent:
        raise ConfigurationError(
            "opening",
            absent[0],
            f"a currency of the frame ({sorted(present)}), or a 'date' column: an opening without rows "
            "and without a date has no period to go in",
        )
    return values, pd.Series(dtype="datetime64[ns, UTC]")


def _given_openings(opening: Any, present: list[str]) -> tuple[pd.Series, pd.Series]:
    """Opening balance per currency from ``opening``, and the date each applies to (none if unknown).

    Every currency of the frame needs an opening: a currency left out would
    silently open at 0.
    """
    if isinstance(opening, Mapping):
        values, dates = _opening_mapping(opening, present), pd.Series(dtype="datetime64[ns, UTC]")
    else:
        values, dates = _opening_frame(opening, present)
    missing = [name for name in present if name not in values.index]
    if missing:
        shown = opening if isinstance(opening, Mapping) else "<opening_balance frame>"
        raise ConfigurationError(
            "opening", shown, f"an opening balance for every currency of the frame (none for {missing})"
        )
    return values, dates


def _chain_openings(ledger: Ledger, grid: _Grid, first: np.ndarray) -> pd.Series:
    """Each chain's balance before its first row, summed per currency."""
    start = _chain_start(ledger, first)
    if start is None:
        raise ConfigurationError(
            "opening",
            None,
            f"{_OPENING}: these records have no balance_before or balance_after to start from",
        )
    names = np.asarray(grid.names, dtype=object)[grid.currency[first]]
    require_total_fits(start, "balances summed over accounts")
    return pd.Series(start, index=names).groupby(level=0).sum()


def _dormant_openings(ledger: Ledger, opening: Any) -> pd.Series:
    """Opening balances of accounts that have no record, per currency (they stay as they are)."""
    accounts = list(ledger.chain_columns)
    if not isinstance(opening, pd.DataFrame) or not ledger.is_records:
        return pd.Series(dtype="int64")
    if not all(c in opening.columns for c in accounts):
        return pd.Series(dtype="int64")
    active = ledger.frame[accounts].drop_duplicates().astype("str")
    mine = opening[accounts].astype("str")
    dormant = ~mine.merge(active, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    values = pd.Series(
        minor_units(opening["opening_balance"], "opening")[dormant], index=mine["currency"].to_numpy()[dormant]
    )
    return values.groupby(level=0).sum()


# ------------------------------------------------------------------ roll-forward


def _roll_columns(categories: list[str]) -> dict[str, str]:
    return {
        "currency": "str",
        "period": "datetime64[ns, UTC]",
        "period_end": "datetime64[ns, UTC]",
        "opening": "Int64",
        **dict.fromkeys(categories, "Int64"),
        "closing": "Int64",
        "rows": "Int64",
        "reported_closing": "Int64",
        "unexplained": "Int64",
    }


def _span(grid: _Grid, index: int, first: Any, freq: Freq) -> tuple[int, int] | None:
    """First and last grid period of one currency: its rows, and its opening date if known."""
    periods = grid.period[grid.currency == index]
    starts = [int(periods.min())] if len(periods) else []
    if not pd.isna(first):
        starts.append(int(period_numbers(utc_nanoseconds(pd.Series([first])), freq)[0]) - grid.base)
    if not starts:
        return None
    return min(starts), int(periods.max()) if len(periods) else min(starts)


def _roll_one(
    currency: str,
    span: tuple[int, int],
    grid: _Grid,
    index: int,
    activity: np.ndarray,
    rows: np.ndarray,
    reported: np.ndarray | None,
    opening: int,
    dormant: int,
    freq: Freq,
    columns: list[str],
) -> pd.DataFrame:
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
    if reported is None:  # no balance_after: nothing to compare with, never a silent 0
        out["reported_closing"] = pd.array([pd.NA] * len(out), dtype="Int64")
    else:
        out["reported_closing"] = reported[index, cells] + dormant
    out["unexplained"] = out["reported_closing"].astype("Int64") - out["closing"]
    return out


@per_account("statements", "opening")
@dask_aware("statements")
def roll_forward(
    statements: Any,
    *,
    freq: str = "M",
    categories: Mapping[str, str] | None = None,
    opening: Any = None,
) -> pd.DataFrame:
    """Opening balance + activity by category = closing balance, per currency and period.

    Periods are UTC days, weeks, months, quarters or years, half-open
    ``[period, period_end)`` and contiguous: a period without activity is
    present with zeros. On every row ``opening + income + fees + vat +
    refunds + chargebacks + payouts (+ adjustments + reserve + rates for
    balance records) + other == closing`` and each period opens with the
    previous period's closing.
    Activity is signed as it moves the balance: income positive; fees, VAT,
    refunds, chargebacks and payouts negative; adjustments, reserve (held
    negative, released positive) and rates as they come.

    Parameters
    ----------
    statements : DataFrame or BalanceReport-like
        An account-statements frame (chain order = row order), the
        ``.records`` of a DWH balance report, or an object with ``.records``
        and ``.opening_balance`` attributes. Balance records need only
        ``created_at`` (UTC), ``currency``, ``amount`` (``Int64`` minor
        units, signed as it moves the balance) and at least one of
        ``merchant_id``, ``shop_id``, ``gateway_id`` (each combination of
        the ids present and the currency is one account); they use
        ``transaction_type``, ``fee``, ``net``, ``balance_before`` and
        ``balance_after`` when present. A record's amount goes to the
        category of its type and its fee (``fee``, else ``amount - net``) to
        ``fees``; without ``fee`` and ``net`` columns the amount is the
        whole movement.
    freq : str
        Period length: ``"D"`` day, ``"W"`` week from Monday, ``"M"``
        month, or a pandas offset alias of one day, week, month, quarter or
        year (``"ME"``, ``"MS"``, ``"W-SAT"`` for weeks from Sunday,
        ``"QE"``, ``"QS"``, ``"YE"``, ``"YE-JUN"``, ...; see
        :mod:`~ledgerkit.analysis.periods`).
    categories : dict, optional
        Overrides of the type -> category mapping. Statement types are
        sorted by :func:`~ledgerkit.analysis.categories.statement_category`
        (any type containing ``FEE`` is a fee, as in ``fee_breakdown`` and
        ``payout_groups``), balance-record types by
        :func:`~ledgerkit.analysis.categories.record_category` (payment,
        capture: income; refund; chargeback; payout, credit: payouts;
        adjustment: adjustments; rolling_reserve, rolling_reserve_release:
        reserve; rate: rates). A new category name adds a column after
        ``other``; unknown types fall in ``other``.
    opening : DataFrame or dict, optional
        Opening balances: a report's ``opening_balance`` frame (summed over
        the accounts of each currency; its ``date`` starts the first period)
        or ``{currency: minor units}`` (codes in any case, each a currency
        of the frame). Every currency of the frame needs one. By default
        each chain's first ``balance_before`` (without that column:
        ``balance_after - movement`` of its first row; records with neither
        column need ``opening``).

    Returns
    -------
    DataFrame
        ``currency``, ``period``, ``period_end`` (UTC), ``opening``, one
        ``Int64`` column per category (``income``, ``fees``, ``vat``,
        ``refunds``, ``chargebacks``, ``payouts``, for balance records
        ``adjustments``, ``reserve``, ``rates``, then ``other`` and any new
        category),
        ``closing``, ``rows`` (input rows in the period),
        ``reported_closing`` (the last ``balance_after`` each chain reports
        by the period's end, summed over the chains of the currency; NA
        without ``balance_after``) and ``unexplained = reported_closing -
        closing`` (0 when the reported balances agree with opening +
        activity; where not, :func:`check_balances` names the rows). Sorted
        by currency and period.

    Raises
    ------
    ConfigurationError
        A missing column, a missing money value, naive timestamps, a bad
        ``freq``, ``categories`` or ``opening`` (an unknown currency code, a
        currency not in the frame, a currency of the frame without opening).

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

    A minimal balance report: no fee, net or balance_before.

    >>> records = pd.DataFrame({"shop_id": pd.array([3, 3], dtype="Int64"),
    ...     "created_at": pd.to_datetime(["2025-01-05", "2025-01-09"], utc=True), "currency": ["JPY", "JPY"],
    ...     "transaction_type": ["payment", "rolling_reserve"], "amount": pd.array([1000, -100], dtype="Int64"),
    ...     "balance_after": pd.array([1500, 1400], dtype="Int64")})
    >>> roll_forward(records)[["opening", "income", "reserve", "closing", "unexplained"]].values.tolist()
    [[500, 1000, -100, 1400, 0]]
    """
    period = check_freq(freq)
    ledger = ledger_of(statements, "statements")
    overrides = _check_categories(categories)
    base = RECORD_ACTIVITY if ledger.is_records else STATEMENT_ACTIVITY
    columns = list(base) + sorted({v for v in overrides.values() if v not in base})
    if opening is None:
        opening = ledger.opening_balance
    found, uniques = codes(ledger.frame["currency"])
    present = [str(u) for u in uniques]
    if opening is not None:
        openings, dates = _given_openings(opening, present)
    else:
        openings, dates = pd.Series(dtype="int64"), pd.Series(dtype="datetime64[ns, UTC]")
    names = present + sorted(set(openings.index) - set(present))
    grid = _grid(ledger, period, found, names, dates)
    chain = chain_codes(ledger, grid.currency)
    first = first_rows(chain, int(chain.max()) + 1 if len(chain) else 0)
    if opening is None:
        openings = _chain_openings(ledger, grid, first)
    dormant = _dormant_openings(ledger, opening)
    activity = _activity(ledger, grid, overrides, columns)
    rows = np.bincount(grid.cell(), minlength=len(grid.names) * grid.width).reshape(len(grid.names), grid.width)
    reported = _reported(ledger, grid, chain, first)
    parts = []
    for currency in sorted(grid.names):
        index = grid.names.index(currency)
        span = _span(grid, index, dates.get(currency, pd.NaT), period)
        if span is None:
            continue
        parts.append(
            _roll_one(
                currency,
                span,
                grid,
                index,
                activity,
                rows,
                reported,
                int(openings.get(currency, 0)),
                int(dormant.get(currency, 0)),
                period,
                columns,
            )
        )
    dtypes = _roll_columns(columns)
    if not parts:
        return empty_frame(dtypes)
    return pd.concat(parts, ignore_index=True).astype(dtypes)
