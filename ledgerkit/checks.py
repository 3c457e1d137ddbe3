"""Assertions for report notebooks and CI: the books hold, or a clear error names the rows.

A report notebook that ends with these cells fails when the data does not
hold — under papermill or ``pytest --nbval-lax`` in the user's own CI, on
real accounts — with an error that says which rows, by how much::

    lk.assert_balances_chain(st)          # every balance_before = previous balance_after, ...
    lk.assert_payouts_explained(st)       # every payout's rows add up to the amount paid out
    lk.assert_reconciled(tx, reports)     # every transaction in the balance records, same amount and fee

Each raises :class:`CheckFailedError` (a :class:`~ledgerkit.errors.LedgerkitError`
and an ``AssertionError``) whose ``rows`` holds the offending rows of the
analysis result and whose message lists the first few, one line each. The
same one-line descriptions (:func:`describe_break`, :func:`describe_payout`,
:func:`describe_mismatch`) explain the red rows of the close pack.

Examples
--------
>>> s = pd.DataFrame({
...     "row_id": ["a", "b"], "created": pd.to_datetime(["2025-01-05", "2025-01-06"], utc=True),
...     "type": ["INCOME", "TRX_FEE"], "amount": pd.array([1000, -30], dtype="Int64"),
...     "balance_before": pd.array([0, 1000], dtype="Int64"),
...     "balance_after": pd.array([1000, 975], dtype="Int64"), "currency": ["EUR", "EUR"]})
>>> assert_balances_chain(s)
Traceback (most recent call last):
ledgerkit.errors.CheckFailedError: 1 balance break: the balance chain does not hold.
  row 1 (row_id b, 2025-01-06 00:00:00 UTC): amount mismatch, balance_after expected 9.70 EUR, found 9.75 EUR (+0.05 EUR, too much)
"""  # noqa: E501 - a doctest's output is one line

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .analysis import check_balances, payout_groups, reconcile_transactions
from .errors import CheckFailedError, ConfigurationError
from .money import format_money

__all__ = [
    "CheckFailedError",
    "assert_balances_chain",
    "assert_payouts_explained",
    "assert_reconciled",
    "reconcile_by_currency",
    "describe_break",
    "describe_payout",
    "describe_mismatch",
]

#: Rows named in a message; the rest are counted (all of them are in ``.rows``).
_LISTED = 5

_NO_RECORDS = pd.DataFrame(
    {
        "transaction_id": pd.array([], dtype="Int64"),
        "transaction_uid": pd.array([], dtype="str"),
        "amount": pd.array([], dtype="Int64"),
        "fee": pd.array([], dtype="Int64"),
        "currency": pd.array([], dtype="str"),
    }
)


def _money(value: Any, currency: Any, *, sign: bool = False) -> str:
    return "n/a" if pd.isna(value) or pd.isna(currency) else format_money(int(value), str(currency), sign=sign)


def _when(value: Any) -> str:
    return "time unknown" if pd.isna(value) else f"{pd.Timestamp(value).tz_convert('UTC'):%Y-%m-%d %H:%M:%S} UTC"


def describe_break(row: Mapping[str, Any]) -> str:
    """One line naming a :func:`~ledgerkit.analysis.check_balances` row: where, what, expected, found.

    Examples
    --------
    >>> describe_break({"position": 7, "record_id": 99, "gateway_id": 301,
    ...                 "created": pd.Timestamp("2025-02-01", tz="UTC"), "kind": "chain_break", "field": "balance_before", "expected": 500, "actual": 450,
    ...                 "difference": -50, "direction": "too little", "currency": "EUR"})
    'row 7 (record_id 99, gateway 301, 2025-02-01 00:00:00 UTC): chain break, balance_before expected 5.00 EUR, found 4.50 EUR (-0.50 EUR, too little)'
    """  # noqa: E501 - a doctest's output is one line
    ids = [f"{name} {row[name]}" for name in ("row_id", "record_id") if name in row and not pd.isna(row[name])]
    ids += [
        f"{name.removesuffix('_id')} {row[name]}" for name in ("gateway_id",) if name in row and not pd.isna(row[name])
    ]
    where = f"row {row['position']} ({', '.join([*ids, _when(row.get('created'))])})"
    kind = str(row["kind"]).replace("_", " ")
    if pd.isna(row.get("expected")):
        return f"{where}: {kind} ({row['field']})"
    currency = row["currency"]
    return (
        f"{where}: {kind}, {row['field']} expected {_money(row['expected'], currency)}, "
        f"found {_money(row['actual'], currency)} ({_money(row['difference'], currency, sign=True)}, "
        f"{row['direction']})"
    )


def describe_payout(row: Mapping[str, Any]) -> str:
    """One line naming a :func:`~ledgerkit.analysis.payout_groups` row with a residual.

    Examples
    --------
    >>> describe_payout({"payout_id": "48862", "paid_at": pd.Timestamp("2025-03-04 00:00", tz="UTC"), "net": 1000,
    ...                  "paid_out": 964, "residual": -36, "currency": "EUR"})
    'payout 48862 (paid 2025-03-04 00:00:00 UTC): paid out 9.64 EUR, its rows add up to 10.00 EUR, residual -0.36 EUR'
    """
    currency = row["currency"]
    return (
        f"payout {row['payout_id']} (paid {_when(row.get('paid_at'))}): paid out "
        f"{_money(row['paid_out'], currency)}, its rows add up to {_money(row['net'], currency)}, "
        f"residual {_money(row['residual'], currency, sign=True)}"
    )


def describe_mismatch(row: Mapping[str, Any]) -> str:
    """One line naming a :func:`~ledgerkit.analysis.reconcile_transactions` row that is not ``matched``.

    Examples
    --------
    >>> describe_mismatch({"status": "fee_mismatch", "transaction_id": 41250, "type": "payment", "currency": "EUR",
    ...                    "amount_difference": 0, "fee_difference": 1})
    'transaction 41250 (payment): fee mismatch, amount difference +0.00 EUR, fee difference +0.01 EUR (record - transaction)'
    """  # noqa: E501 - a doctest's output is one line
    currency = row["currency"]
    return (
        f"transaction {row['transaction_id']} ({row['type']}): {str(row['status']).replace('_', ' ')}, "
        f"amount difference {_money(row['amount_difference'], currency, sign=True)}, "
        f"fee difference {_money(row['fee_difference'], currency, sign=True)} (record - transaction)"
    )


def _fail(rows: pd.DataFrame, what: str, describe: Any) -> None:
    listed = [f"  {describe(row)}" for row in rows.head(_LISTED).to_dict("records")]
    more = [f"  ... and {len(rows) - _LISTED} more (all of them in .rows)"] if len(rows) > _LISTED else []
    raise CheckFailedError("\n".join([what, *listed, *more]), rows=rows.reset_index(drop=True))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def assert_balances_chain(statements: Any) -> None:
    """Raise :class:`CheckFailedError` unless every balance chains.

    That is, unless :func:`~ledgerkit.analysis.check_balances` is empty.

    Parameters
    ----------
    statements : DataFrame or BalanceReport-like
        Account statements, or DWH balance records / a balance report.

    Raises
    ------
    CheckFailedError
        Naming each break: row, ids, time, kind, field, expected, found, difference.
    """
    breaks = check_balances(statements)
    if not breaks.empty:
        _fail(breaks, f"{_plural(len(breaks), 'balance break')}: the balance chain does not hold.", describe_break)


def assert_payouts_explained(statements: pd.DataFrame) -> None:
    """Raise :class:`CheckFailedError` unless every payout's rows add up to the amount paid out (residual 0).

    The open balance (not paid out yet) has no residual and is not checked.
    Pass whole payouts: a payout whose first lines are missing (they date
    from before the statement's ``since``) shows them as a residual. Pull
    the statement from early enough, or each payout by its id
    (``load_statements(payout_id=...)``), as notebook 04 does.

    Raises
    ------
    CheckFailedError
        Naming each payout with a residual: id, when paid, paid out, its rows' sum, residual.
    """
    groups = payout_groups(statements)
    paid = groups[~groups["is_open"].to_numpy(dtype=bool)]
    off = paid[paid["residual"].ne(0).fillna(True).to_numpy(dtype=bool)]
    if not off.empty:
        _fail(
            off,
            f"{_plural(len(off), 'payout')} not fully explained: the rows do not add up to the amount paid out.",
            describe_payout,
        )


def reconcile_by_currency(transactions: pd.DataFrame, balance_records: Any) -> pd.DataFrame:
    """:func:`~ledgerkit.analysis.reconcile_transactions` per currency of the balance records.

    A DWH report holds one currency; the transactions of a shop hold
    several. Each currency's transactions are paired with that currency's
    records only.

    Parameters
    ----------
    transactions : DataFrame
    balance_records : mapping of currency -> BalanceReport or records frame, or one of those
        One report (or records frame) per currency, as the notebooks load
        them. Transactions in a currency with no records given are not
        paired (with no records at all, every transaction is unmatched).

    Returns
    -------
    DataFrame
        The results of every currency, one after the other.
    """
    if isinstance(balance_records, Mapping):
        parts: list[tuple[Any, Any]] = list(balance_records.items())
    else:
        records = getattr(balance_records, "records", balance_records)
        if not isinstance(records, pd.DataFrame):
            raise ConfigurationError(
                "balance_records",
                type(balance_records).__name__,
                "a BalanceReport, a records DataFrame or a mapping currency -> either",
            )
        parts = [(str(c), records) for c in sorted(records["currency"].dropna().astype("str").unique())]
    if not isinstance(transactions, pd.DataFrame) or "currency" not in transactions.columns:
        raise ConfigurationError("transactions", type(transactions).__name__, "a transactions DataFrame")
    codes = transactions["currency"].astype("str")
    results = []
    for currency, report in parts:
        rows = getattr(report, "records", report)
        mine = rows[rows["currency"].astype("str").eq(str(currency)).fillna(False).to_numpy(dtype=bool)]
        results.append(reconcile_transactions(transactions[codes.eq(str(currency)).fillna(False).to_numpy(bool)], mine))
    if not results:  # no balance records at all: nothing is matched
        results.append(reconcile_transactions(transactions, _NO_RECORDS))
    return pd.concat(results, ignore_index=True)


def assert_reconciled(transactions: pd.DataFrame, balance_records: Any) -> None:
    """Raise :class:`CheckFailedError` unless every transaction pairs with its balance records exactly.

    Parameters
    ----------
    transactions : DataFrame
        Transactions of the period (pulled by ``paid_at``, as balance
        records are dated by it).
    balance_records : mapping of currency -> BalanceReport or records frame, or one of those
        See :func:`reconcile_by_currency`.

    Raises
    ------
    CheckFailedError
        Naming each transaction (or balance record) that is not ``matched``.
    """
    result = reconcile_by_currency(transactions, balance_records)
    off = result[result["status"].ne("matched").to_numpy(dtype=bool)]
    if not off.empty:
        _fail(off, f"{_plural(len(off), 'transaction')} not matched by the balance records.", describe_mismatch)
