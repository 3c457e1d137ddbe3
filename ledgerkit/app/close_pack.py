"""The month-end close pack: one status per account, currency and check, the figures behind it, a fingerprint.

:func:`close_pack` is pure: the three sources of one period in, a
:class:`ClosePack` of DataFrames out, no I/O. Writing it as an Excel
workbook and a one-page HTML is :mod:`ledgerkit.app.close_writers`; pulling
the sources and writing both is :mod:`ledgerkit.app.close_run`
(``ledgerkit close --period 2025-03``).

The checks, each a row of ``pack.summary`` with ``status`` green or red:

=========================  =========================================================  ==========================
check                      red when                                                   per
=========================  =========================================================  ==========================
pull complete              a pull's manifest says it is not complete                  source (and currency)
roll-forward ties out      ``roll_forward``'s ``unexplained`` is not 0 (or unknown)   account × currency
balance chain holds        ``check_balances`` finds a break                            account × currency
payouts explained          a payout paid in the period has a residual, or may be cut  statement account × currency
transactions = records     ``reconcile_transactions`` finds a row not ``matched``     shop × currency
=========================  =========================================================  ==========================

Amounts stay ``Int64`` minor units next to a ``currency`` column; nothing is
added across currencies.

Examples
--------
>>> s = pd.DataFrame({
...     "row_id": ["z", "a", "b", "c"],
...     "created": pd.to_datetime(["2025-02-27", "2025-03-03", "2025-03-03", "2025-03-04"], utc=True),
...     "type": ["PAYOUT", "INCOME", "TRX_FEE", "PAYOUT"], "amount": pd.array([-500, 1000, -30, -970], dtype="Int64"),
...     "balance_before": pd.array([500, 0, 1000, 970], dtype="Int64"),
...     "balance_after": pd.array([0, 1000, 970, 0], dtype="Int64"), "currency": ["EUR"] * 4,
...     "payout_id": pd.array(["6", "7", "7", "7"], dtype="str")})
>>> pack = close_pack(statements=s, period="2025-03")
>>> pack.summary[["check", "currency", "status"]].values.tolist()
[['roll-forward ties out', 'EUR', 'green'], ['balance chain holds', 'EUR', 'green'], ['payouts explained', 'EUR', 'green']]
>>> pack.status, len(pack.fingerprint_hash)
('green', 64)
"""  # noqa: E501 - a doctest's output is one line

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import check_balances, payout_groups, reconciliation_summary, roll_forward
from ..analysis.balance import ACCOUNT_COLUMNS
from ..checks import describe_break, describe_mismatch, describe_payout, reconcile_by_currency
from ..errors import ConfigurationError
from ..money import format_money

__all__ = ["close_pack", "ClosePack", "close_period", "frame_hash", "CHECKS", "GREEN", "RED"]

GREEN, RED = "green", "red"

#: The checks of the summary, in its order.
CHECKS = (
    "pull complete",
    "roll-forward ties out",
    "balance chain holds",
    "payouts explained",
    "transactions = records",
)

_SUMMARY_DTYPES = {
    "source": "str",
    "account": "str",
    "currency": "str",
    "check": "str",
    "status": "str",
    "checked": "Int64",
    "failing": "Int64",
    "difference": "Int64",
    "detail": "str",
}
_FINGERPRINT_DTYPES = {
    "input": "str",
    "currency": "str",
    "rows": "Int64",
    "first": "datetime64[ns, UTC]",
    "last": "datetime64[ns, UTC]",
    "amount_sum": "Int64",
    "fee_sum": "Int64",
    "complete": "str",
    "pages": "Int64",
    "sha256": "str",
    "manifest": "str",
}
#: Manifest fields that describe what was asked and got (not how often it was retried): the fingerprint's.
_MANIFEST_FIELDS = ("source", "parameters", "rows", "pages", "duplicates_dropped", "complete")
_MONTH = re.compile(r"^[1-9]\d{3}-\d{2}$")  # four-digit years: the APIs read no others


@dataclass(frozen=True)
class ClosePack:
    """The close of one period: statuses, the figures behind them, and the inputs' fingerprint.

    Attributes
    ----------
    period : tuple of Timestamp
        ``(start, end)``, UTC, half-open.
    summary : DataFrame
        One row per source, account, currency and check: ``status`` green
        or red, ``checked`` and ``failing`` (counts), ``difference`` (``Int64``
        minor units of ``currency``: unexplained, residuals or amount
        differences summed; NA where no amount applies) and ``detail`` (the
        first failing rows in words).
    roll_forward : DataFrame
        ``roll_forward`` per account and currency over the period (``source``
        and ``account`` first).
    breaks : DataFrame
        Every ``check_balances`` break, with ``source`` and ``account``.
    payouts : DataFrame
        ``payout_groups`` of the payouts paid in the period.
    reconciliation : DataFrame
        ``reconciliation_summary`` per currency (``account`` first).
    mismatches : DataFrame
        The ``reconcile_transactions`` rows that are not ``matched``.
    fingerprint : DataFrame
        Per input and currency: rows, first and last time, sums of
        ``amount`` (an opening balance sheet's ``opening_balance``) and
        ``fee`` (``transaction_fee``), the pull's manifest (what was asked, pages,
        complete) and the SHA-256 of the input's rows.
    fingerprint_hash : str
        SHA-256 over the period and every input's hash: equal for two
        people who closed the same data.
    """

    period: tuple[pd.Timestamp, pd.Timestamp]
    summary: pd.DataFrame
    roll_forward: pd.DataFrame
    breaks: pd.DataFrame
    payouts: pd.DataFrame
    reconciliation: pd.DataFrame
    mismatches: pd.DataFrame
    fingerprint: pd.DataFrame
    fingerprint_hash: str

    @property
    def status(self) -> str:
        """``"green"`` when every summary row is green, else ``"red"``."""
        return GREEN if self.summary["status"].eq(GREEN).all() else RED

    @property
    def red(self) -> pd.DataFrame:
        """The summary rows that are red."""
        return self.summary[self.summary["status"].eq(RED).to_numpy(dtype=bool)]


# --------------------------------------------------------------------------- period and inputs


def close_period(period: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``"2025-03"`` -> ``(2025-03-01, 2025-04-01)`` UTC; a ``(start, end)`` pair of dates is taken as it is.

    Examples
    --------
    >>> [str(t.date()) for t in close_period("2025-03")]
    ['2025-03-01', '2025-04-01']
    """
    expected = "a month 'YYYY-MM' (e.g. '2025-03') or a (start, end) pair of dates"
    if isinstance(period, str) and _MONTH.match(period.strip()):
        try:
            start = pd.Timestamp(period.strip() + "-01", tz="UTC")
        except ValueError:
            raise ConfigurationError("period", period, expected) from None
        return start, start + pd.DateOffset(months=1)
    if isinstance(period, (tuple, list)) and len(period) == 2:
        try:
            start, end = (pd.Timestamp(p) for p in period)
        except (TypeError, ValueError):
            raise ConfigurationError("period", period, expected) from None
        start, end = (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC") for t in (start, end))
        if start < end:
            return start, end
    raise ConfigurationError("period", period, expected)


def _in_period(frame: pd.DataFrame, column: str, period: tuple[pd.Timestamp, pd.Timestamp]) -> pd.DataFrame:
    times = frame[column]
    keep = (times.ge(period[0]) & times.lt(period[1])).fillna(False).to_numpy(dtype=bool)
    return frame.loc[keep]


def _reports(balance_reports: Any) -> dict[str, Any]:
    """currency -> report (anything with ``.records``), from a mapping, one report or None."""
    if balance_reports is None:
        return {}
    if isinstance(balance_reports, Mapping):
        for currency, report in balance_reports.items():
            if not isinstance(getattr(report, "records", None), pd.DataFrame):
                raise ConfigurationError(
                    f"balance_reports[{currency!r}]", type(report).__name__, "a BalanceReport (with .records)"
                )
        return {str(currency): report for currency, report in balance_reports.items()}
    if hasattr(balance_reports, "records"):
        codes = balance_reports.records["currency"].dropna().astype("str").unique()
        return {str(c): balance_reports for c in sorted(codes)} or {"": balance_reports}
    raise ConfigurationError(
        "balance_reports", type(balance_reports).__name__, "a BalanceReport or a mapping currency -> BalanceReport"
    )


def _frame(value: Any, parameter: str) -> pd.DataFrame | None:
    if value is not None and not isinstance(value, pd.DataFrame):
        raise ConfigurationError(parameter, type(value).__name__, "a DataFrame (or None)")
    return value


# --------------------------------------------------------------------------- status rows


def _status_row(
    source: str,
    account: str,
    currency: str,
    check: str,
    *,
    checked: int,
    failing: pd.DataFrame,
    describe: Callable[[Mapping], str] | None = None,
    difference: Any = pd.NA,
    detail: str = "",
) -> dict:
    if len(failing) and describe is not None and not detail:
        first = [describe(row) for row in failing.head(3).to_dict("records")]
        detail = "; ".join(first) + (f"; and {len(failing) - 3} more" if len(failing) > 3 else "")
    return {
        "source": source,
        "account": account,
        "currency": currency,
        "check": check,
        "status": RED if len(failing) else GREEN,
        "checked": checked,
        "failing": len(failing),
        "difference": difference,
        "detail": detail,
    }


def _sum(values: pd.Series) -> Any:
    """Exact sum of ``Int64`` minor units; NA when any value is NA (never a silent 0)."""
    values = values.astype("Int64")
    return pd.NA if values.isna().any() else int(values.sum())


def _pull_rows(name: str, frame: pd.DataFrame, currency: str) -> list[dict]:
    manifest = frame.attrs.get("ledgerkit", {})
    if "complete" not in manifest:
        return []
    failing = pd.DataFrame(index=[0]) if not manifest["complete"] else pd.DataFrame()
    detail = "" if manifest["complete"] else "the pull stopped before the end: resume it before closing"
    return [_status_row(name, "", currency, "pull complete", checked=1, failing=failing, detail=detail)]


# --------------------------------------------------------------------------- statements


def _statement_account(statements: pd.DataFrame) -> str:
    shop = statements.attrs.get("ledgerkit", {}).get("parameters", {}).get("shop_id")
    return f"shop {shop}" if shop else "statement"


def _statements_part(statements: pd.DataFrame, period: tuple, parts: dict) -> None:
    """Roll-forward, breaks and payouts of the statement account, per currency."""
    account = _statement_account(statements)
    rows = _in_period(statements, "created", period)
    currencies = sorted(statements["currency"].dropna().astype("str").unique())
    parts["summary"] += _pull_rows("statements", statements, ", ".join(currencies))
    groups = payout_groups(statements)
    paid = groups[(~groups["is_open"]).to_numpy(dtype=bool)]
    paid = _in_period(paid, "paid_at", period)
    cut = _payouts_cut(statements, paid)
    for currency in currencies:
        mine = rows[rows["currency"].astype("str").eq(currency).to_numpy(dtype=bool)]
        _chain_part("statements", account, currency, mine, None, period, parts, statements)
        payouts = paid[paid["currency"].astype("str").eq(currency).to_numpy(dtype=bool)]
        off = payouts[
            payouts["residual"].ne(0).fillna(True).to_numpy(dtype=bool)
            | payouts["payout_id"].isin(cut).to_numpy(dtype=bool)
        ]
        detail = ""
        if off["payout_id"].isin(cut).any():
            detail = (
                f"payout(s) {', '.join(off.loc[off['payout_id'].isin(cut), 'payout_id'].astype(str))} may "
                "start before the first statement row given: pull statements from earlier"
            )
        parts["summary"].append(
            _status_row(
                "statements",
                account,
                currency,
                "payouts explained",
                checked=len(payouts),
                failing=off,
                describe=describe_payout,
                difference=_sum(off["residual"]) if len(off) else 0,
                detail=detail,
            )
        )
        parts["payouts"].append(payouts.assign(account=account))


def _payouts_cut(statements: pd.DataFrame, paid: pd.DataFrame) -> set:
    """Payouts holding the first row given: their rows may begin before it, so their residual is unknown."""
    first = statements["payout_id"].iloc[:1].dropna().astype("str").tolist()
    return set(first) & set(paid["payout_id"].astype("str"))


def _input_positions(breaks: pd.DataFrame, rows: pd.DataFrame, given: pd.DataFrame) -> pd.DataFrame:
    """Breaks with ``position`` counted in the frame the user gave, not in the period's slice of it."""
    if breaks.empty or not given.index.is_unique:
        return breaks
    at = given.index.get_indexer(rows.index[breaks["position"].to_numpy(dtype="int64")])
    return breaks.assign(position=pd.array(at, dtype="Int64"))


def _chain_part(
    source: str, account: str, currency: str, rows: Any, opening: Any, period: tuple, parts: dict, given: pd.DataFrame
) -> None:
    """Roll-forward tie-out and breaks of one chain (statement account or DWH account) in one currency.

    ``rows`` are the chain's rows in the period, a slice of ``given`` (the
    frame passed in), in whose row numbers the breaks are reported.
    """
    chain = rows if opening is None else SimpleNamespace(records=rows, opening_balance=opening)
    if len(rows) == 0 and (opening is None or len(opening) == 0):
        return
    table = roll_forward(chain, freq="M")
    table = _in_period(table, "period", period)
    off = table[table["unexplained"].ne(0).fillna(True).to_numpy(dtype=bool)]
    parts["summary"].append(
        _status_row(
            source,
            account,
            currency,
            "roll-forward ties out",
            checked=len(table),
            failing=off,
            difference=_sum(table["unexplained"]),
            detail="; ".join(
                f"{p:%Y-%m}: the reported closing differs from opening + activity by "
                f"{'an unknown amount' if pd.isna(u) else format_money(int(u), currency, sign=True)}"
                for p, u in zip(off["period"], off["unexplained"], strict=True)
            ),
        )
    )
    breaks = _input_positions(check_balances(rows), rows, given)
    parts["summary"].append(
        _status_row(
            source, account, currency, "balance chain holds", checked=len(rows), failing=breaks, describe=describe_break
        )
    )
    parts["roll_forward"].append(table.assign(source=source, account=account))
    parts["breaks"].append(breaks.assign(source=source, account=account))


# --------------------------------------------------------------------------- balance records


def _account_name(key: tuple, frame: pd.DataFrame) -> str:
    ids = dict(zip(ACCOUNT_COLUMNS[:-1], key, strict=True))
    name = frame["gateway_name"].iloc[0] if "gateway_name" in frame.columns and len(frame) else None
    text = " · ".join(f"{column.removesuffix('_id')} {value}" for column, value in ids.items())
    return text + (f" ({name})" if isinstance(name, str) and name else "")


def _records_part(reports: Mapping[str, Any], period: tuple, parts: dict) -> None:
    """Roll-forward and breaks of every DWH balance account, per currency."""
    accounts = list(ACCOUNT_COLUMNS[:-1])
    for currency, report in reports.items():
        parts["summary"] += _pull_rows(f"balance records {currency}".strip(), report.records, currency)
        records = _in_period(report.records, "created_at", period)
        opening = getattr(report, "opening_balance", None)
        if opening is not None and "date" in opening.columns and not opening["date"].eq(period[0]).all():
            opening = None  # the report starts elsewhere: each chain opens with its first row
        keys = records[accounts].drop_duplicates()
        if opening is not None:
            keys = pd.concat([keys, opening[accounts]]).drop_duplicates()
        for key in keys.sort_values(accounts).itertuples(index=False):
            match = np.logical_and.reduce(
                [records[c].eq(v).fillna(False).to_numpy(bool) for c, v in zip(accounts, key, strict=True)]
            )
            rows = records.loc[match]
            own = (
                None
                if opening is None
                else opening.loc[
                    np.logical_and.reduce(
                        [opening[c].eq(v).fillna(False).to_numpy(bool) for c, v in zip(accounts, key, strict=True)]
                    )
                ]
            )
            name = _account_name(tuple(key), rows if len(rows) else own)
            _chain_part("balance records", name, currency, rows, own, period, parts, report.records)


# --------------------------------------------------------------------------- reconciliation


def _reconcile_part(transactions: pd.DataFrame, reports: Mapping[str, Any], period: tuple, parts: dict) -> None:
    parts["summary"] += _pull_rows(
        "transactions", transactions, ", ".join(sorted(transactions["currency"].dropna().astype("str").unique()))
    )
    if not reports:
        return
    time = "paid_at" if "paid_at" in transactions.columns else "created_at"
    tx = _in_period(transactions, time, period)
    records = {c: _in_period(r.records, "created_at", period) for c, r in reports.items()}
    shop = transactions.attrs.get("ledgerkit", {}).get("parameters", {}).get("shop_id")
    account = f"shop {shop}" if shop else "shop"
    result = reconcile_by_currency(tx, records)
    for currency in reports:
        mine = result[result["currency"].astype("str").eq(currency).to_numpy(dtype=bool)]
        off = mine[mine["status"].ne("matched").to_numpy(dtype=bool)]
        parts["summary"].append(
            _status_row(
                "transactions",
                account,
                currency,
                "transactions = records",
                checked=len(mine),
                failing=off,
                describe=describe_mismatch,
                difference=_sum(off["amount_difference"]) if len(off) else 0,
            )
        )
        parts["mismatches"].append(off.assign(account=account))
    parts["reconciliation"].append(reconciliation_summary(result).assign(account=account))


# --------------------------------------------------------------------------- fingerprint


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and rows, in row order (columns in name order).

    Rows are hashed with ``pandas.util.hash_pandas_object`` (values, not
    the index), so the hash changes when any value of any row changes.

    Examples
    --------
    >>> a = pd.DataFrame({"amount": pd.array([1, 2], dtype="Int64")})
    >>> frame_hash(a) == frame_hash(a.copy()), frame_hash(a) == frame_hash(a.assign(amount=[1, 3]))
    (True, False)
    """
    ordered = frame[sorted(frame.columns, key=str)]
    digest = hashlib.sha256(json.dumps([str(c) for c in ordered.columns]).encode())
    if len(ordered):
        digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _manifest_text(frame: pd.DataFrame) -> str:
    manifest = frame.attrs.get("ledgerkit", {})
    kept = {key: manifest[key] for key in _MANIFEST_FIELDS if key in manifest}
    return json.dumps(kept, sort_keys=True, default=str)


def _fingerprint_rows(name: str, frame: pd.DataFrame, time: str) -> list[dict]:
    manifest = frame.attrs.get("ledgerkit", {})
    digest = frame_hash(frame)
    rows = []
    codes = frame["currency"].astype("str") if "currency" in frame.columns else pd.Series("", index=frame.index)
    for currency in sorted(codes.dropna().unique()) or [""]:
        mine = frame[codes.eq(currency).to_numpy(dtype=bool)] if len(frame) else frame
        times = mine[time].dropna() if time in mine.columns else pd.Series(dtype="datetime64[ns, UTC]")
        rows.append(
            {
                "input": name,
                "currency": currency,
                "rows": len(mine),
                "first": times.min() if len(times) else pd.NaT,
                "last": times.max() if len(times) else pd.NaT,
                "amount_sum": _sum(mine[amount]) if (amount := _amount_column(mine)) else pd.NA,
                "fee_sum": _sum(mine[fee]) if (fee := _fee_column(mine)) else pd.NA,
                "complete": str(manifest.get("complete", "")),
                "pages": manifest.get("pages", pd.NA),
                "sha256": digest,
                "manifest": _manifest_text(frame),
            }
        )
    return rows


def _amount_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in ("amount", "opening_balance") if c in frame.columns), None)


def _fee_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in ("fee", "transaction_fee") if c in frame.columns), None)


def _fingerprint(inputs: list[tuple[str, pd.DataFrame, str]], period: tuple) -> tuple[pd.DataFrame, str]:
    rows = [row for name, frame, time in inputs for row in _fingerprint_rows(name, frame, time)]
    table = pd.DataFrame(rows, columns=list(_FINGERPRINT_DTYPES)).astype(_FINGERPRINT_DTYPES)
    digest = hashlib.sha256(f"{period[0].isoformat()}/{period[1].isoformat()}".encode())
    for name, frame, _ in inputs:
        digest.update(f"\n{name}:{frame_hash(frame)}".encode())
    return table, digest.hexdigest()


# --------------------------------------------------------------------------- the pack


def _concat(frames: list[pd.DataFrame], first: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame(columns=list(first))
    table = pd.concat(frames, ignore_index=True)
    return table[[*first, *[c for c in table.columns if c not in first]]]


def close_pack(
    transactions: pd.DataFrame | None = None,
    statements: pd.DataFrame | None = None,
    balance_reports: Any = None,
    *,
    period: Any,
) -> ClosePack:
    """Close one period: a green or red status per account, currency and check, the figures, the fingerprint.

    Parameters
    ----------
    transactions : DataFrame, optional
        The shop's transactions of the period, pulled by ``paid_at`` (balance
        records are dated by it); checked against ``balance_reports``.
    statements : DataFrame, optional
        The account statement. Its rows in the period are rolled forward and
        chain-checked; the payouts *paid* in the period are checked whole,
        so start the statements early enough to hold every row of the
        period's first payout (``ledgerkit close`` pulls 31 days before).
        A payout holding the first row given may be cut: it is red.
    balance_reports : BalanceReport or mapping of currency -> BalanceReport, optional
        DWH balance reports of the period (one per currency); every account
        (merchant · shop · gateway) is rolled forward from the report's
        opening balance when the report starts with the period.
    period : str or (start, end)
        A month ``"2025-03"`` or a half-open pair of dates.

    Returns
    -------
    ClosePack
        ``summary`` (one status row per source, account, currency and
        check), the figures (``roll_forward``, ``breaks``, ``payouts``,
        ``reconciliation``, ``mismatches``), ``fingerprint`` and
        ``fingerprint_hash``; ``pack.status`` is green when every row is.

    Raises
    ------
    ConfigurationError
        A bad period, no source at all, or a source of the wrong type.
    """
    period = close_period(period)
    transactions, statements = _frame(transactions, "transactions"), _frame(statements, "statements")
    reports = _reports(balance_reports)
    if transactions is None and statements is None and not reports:
        raise ConfigurationError("transactions, statements, balance_reports", None, "at least one source")
    parts: dict[str, list] = {
        key: [] for key in ("summary", "roll_forward", "breaks", "payouts", "reconciliation", "mismatches")
    }
    inputs: list[tuple[str, pd.DataFrame, str]] = []
    if statements is not None:
        _statements_part(statements, period, parts)
        inputs.append(("statements", statements, "created"))
    if reports:
        _records_part(reports, period, parts)
        for currency, report in reports.items():
            inputs.append((f"balance records {currency}".strip(), report.records, "created_at"))
            if getattr(report, "opening_balance", None) is not None:
                inputs.append((f"opening balance {currency}".strip(), report.opening_balance, "date"))
    if transactions is not None:
        _reconcile_part(transactions, reports, period, parts)
        inputs.append(("transactions", transactions, "paid_at" if "paid_at" in transactions.columns else "created_at"))
    summary = pd.DataFrame(parts["summary"], columns=list(_SUMMARY_DTYPES)).astype(_SUMMARY_DTYPES)
    fingerprint, digest = _fingerprint(inputs, period)
    return ClosePack(
        period=period,
        summary=summary,
        roll_forward=_concat(parts["roll_forward"], ("source", "account")),
        breaks=_concat(parts["breaks"], ("source", "account")),
        payouts=_concat(parts["payouts"], ("account",)),
        reconciliation=_concat(parts["reconciliation"], ("account",)),
        mismatches=_concat(parts["mismatches"], ("account",)),
        fingerprint=fingerprint,
        fingerprint_hash=digest,
    )
