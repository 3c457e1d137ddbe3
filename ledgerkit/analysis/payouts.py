"""What went into each payout, and is every payout fully explained?

Works on an account-statements frame (MakeCommerce): rows carrying a
``payout_id`` belong to that payout, and the ``PAYOUT`` row itself carries
the payout's id and minus the amount paid out. Rows without a
``payout_id`` are the open balance, not paid out yet.

Amounts are signed as they move the balance, exactly as in
:func:`ledgerkit.analysis.balance.roll_forward`: income positive, fees, VAT,
refunds and chargebacks negative, and sorted by the same classifier
(:mod:`~ledgerkit.analysis.categories`): a payout's ``trx_fee +
trx_fee_fix + other_fees`` is its rows' ``fees`` in the roll-forward and
minus their ``fee`` in ``fee_breakdown``. So ``net`` is the plain sum of a payout's
rows, and ``residual = paid_out - net`` is zero when the payout is fully
explained. An unexplained difference is shown as that residual, never
plugged into another column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import STATEMENTS, frame_kind
from ..errors import ConfigurationError
from ._accounts import per_account
from ._common import (
    codes,
    empty_frame,
    minor_units,
    require_no_missing,
    require_utc,
    utc_nanoseconds,
)
from ._dask import dask_aware
from .categories import category_codes, statement_category

__all__ = ["FEE_COLUMNS", "payout_groups", "payout_items", "payout_waterfall"]

#: Fee types with a :func:`payout_groups` column of their own; any other fee
#: type (``CHARGEBACK_FEE``, ``SERVICE_FEE``, ...) goes to ``other_fees``.
FEE_COLUMNS: dict[str, str] = {"TRX_FEE": "trx_fee", "TRX_FEE_FIX": "trx_fee_fix"}
_ACTIVITY = ("income", "trx_fee", "trx_fee_fix", "other_fees", "vat", "refunds", "chargebacks", "other")
_PAID = "paid out"  # the PAYOUT row: the amount paid out, not activity
_NAT = np.iinfo("int64").min  # NaT as int64 nanoseconds
_GROUP_DTYPES = {
    "payout_id": "str",
    "is_open": "bool",
    "currency": "str",
    "first_created": "datetime64[ns, UTC]",
    "last_created": "datetime64[ns, UTC]",
    "paid_at": "datetime64[ns, UTC]",
    "rows": "Int64",
    **dict.fromkeys(_ACTIVITY, "Int64"),
    "net": "Int64",
    "paid_out": "Int64",
    "residual": "Int64",
}
_STEPS = (
    ("gross income", "income", "total"),
    ("trx fees", "trx_fee", "delta"),
    ("fixed fees", "trx_fee_fix", "delta"),
    ("other fees", "other_fees", "delta"),
    ("vat", "vat", "delta"),
    ("refunds", "refunds", "delta"),
    ("chargebacks", "chargebacks", "delta"),
    ("other", "other", "delta"),
    ("net", "net", "total"),
    ("paid out", "paid_out", "total"),
    ("residual", "residual", "residual"),
)


def _column_of(statement_type: str | None) -> str:
    """The :func:`payout_groups` column of a statement type (``"paid out"`` for ``PAYOUT``)."""
    category = statement_category(statement_type)
    if category == "fees":
        return FEE_COLUMNS.get(str(statement_type).upper(), "other_fees")
    return _PAID if category == "payouts" else category


def _statements(statements: Any) -> pd.DataFrame:
    """Validated statements with helper columns: position, created (UTC), column, paid.

    Types are mapped once per distinct type (codes), not row by row: the
    helper columns stay cheap on millions of rows.
    """
    frame_kind(statements, "statements", (STATEMENTS,))
    frame = STATEMENTS.check(statements, "statements", (*STATEMENTS.required, "payout_id"))
    require_no_missing(frame, ("amount", "currency"), "statements")
    labels = [*_ACTIVITY, _PAID]
    column = category_codes(frame["type"], labels, label_of=_column_of)
    paid = column == labels.index(_PAID)
    column[paid] = _ACTIVITY.index("other")  # never summed as activity; keeps the categorical valid
    payout_id = frame["payout_id"]
    return pd.DataFrame(
        {
            "position": np.arange(len(frame), dtype="int64"),
            "created": require_utc(frame, "created", "statements").dt.as_unit("ns").array,
            "currency": frame["currency"].array,
            "payout_id": (payout_id if isinstance(payout_id.dtype, pd.StringDtype) else payout_id.astype("str")).array,
            "type": frame["type"].array,
            "column": pd.Categorical.from_codes(column, categories=list(_ACTIVITY)),
            "paid": paid,
            "amount": minor_units(frame["amount"], "statements"),
        }
    )


def _per_group(group: np.ndarray, count: int, values: np.ndarray, ufunc: np.ufunc, start: int) -> np.ndarray:
    """``ufunc`` (add, minimum, maximum) of int64 ``values`` per group, starting from ``start``."""
    out = np.full(count, start, dtype="int64")
    ufunc.at(out, group, values)
    return out


def _times(nanoseconds: np.ndarray, known: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps from int64 nanoseconds, NaT where not ``known``."""
    return pd.DatetimeIndex(np.where(known, nanoseconds, _NAT).view("datetime64[ns]")).tz_localize("UTC")


def _groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Totals per payout and currency in one pass over integer codes (no Python per payout)."""
    if frame.empty:
        return empty_frame(_GROUP_DTYPES)
    payout, payout_ids = codes(frame["payout_id"])
    currency, currencies = codes(frame["currency"])
    group, keys = pd.factorize((payout + 1) * len(currencies) + currency)
    count, columns = len(keys), len(_ACTIVITY)
    paid = frame["paid"].to_numpy(dtype=bool)
    amount = frame["amount"].to_numpy(dtype="int64")
    created = utc_nanoseconds(frame["created"])
    dated = created != _NAT
    activity = ~paid
    flat = np.zeros(count * columns, dtype="int64")
    np.add.at(flat, group[activity] * columns + frame["column"].cat.codes.to_numpy()[activity], amount[activity])
    sums = flat.reshape(count, columns)
    rows = np.bincount(group[activity], minlength=count)
    payments = np.bincount(group[paid], minlength=count)
    spanned = dated & (activity | (rows[group] == 0))  # the rows paid out, or all rows of a group without any
    has_span = np.bincount(group[spanned], minlength=count) > 0
    has_paid_at = np.bincount(group[paid & dated], minlength=count) > 0
    big, small = np.iinfo("int64").max, _NAT
    net = sums.sum(axis=1)
    paid_out = -_per_group(group[paid], count, amount[paid], np.add, 0)
    payout_of = keys // len(currencies) - 1
    table = pd.DataFrame(
        {
            "payout_id": pd.array(np.append(payout_ids, [None])[payout_of], dtype="str"),  # -1: the open balance
            "is_open": payout_of < 0,
            "currency": pd.array(currencies[keys % len(currencies)].astype(str), dtype="str"),
            "first_created": _times(_per_group(group[spanned], count, created[spanned], np.minimum, big), has_span),
            "last_created": _times(_per_group(group[spanned], count, created[spanned], np.maximum, small), has_span),
            "paid_at": _times(
                _per_group(group[paid & dated], count, created[paid & dated], np.maximum, small), has_paid_at
            ),
            "rows": rows,
            **{column: sums[:, position] for position, column in enumerate(_ACTIVITY)},
            "net": net,
            "paid_out": pd.array(paid_out, dtype="Int64"),
            "residual": pd.array(paid_out - net, dtype="Int64"),
        }
    )
    unpaid = payments == 0
    table.loc[unpaid, ["paid_out", "residual"]] = pd.NA
    first = _per_group(group, count, np.arange(len(group), dtype="int64"), np.minimum, big)
    table = table.iloc[np.lexsort((first, table["is_open"].to_numpy()))].reset_index(drop=True)
    return table.astype(_GROUP_DTYPES)


@per_account("statements")
@dask_aware("statements")
def payout_groups(statements: pd.DataFrame) -> pd.DataFrame:
    """One row per payout (and currency), plus one for the open balance.

    Parameters
    ----------
    statements : DataFrame
        Account statements with at least ``created``, ``type``, ``amount``
        (``Int64`` minor units), ``currency`` and ``payout_id`` (NA for rows
        not paid out yet).

    Returns
    -------
    DataFrame
        ``payout_id`` (NA for the open balance), ``is_open``, ``currency``,
        ``first_created`` / ``last_created`` (the rows it pays out),
        ``paid_at`` (the ``PAYOUT`` row), ``rows`` (rows paid out, the
        ``PAYOUT`` row not counted), ``income``, ``trx_fee``,
        ``trx_fee_fix``, ``other_fees`` (every other fee type:
        ``CHARGEBACK_FEE``, ``SERVICE_FEE``, ...), ``vat``, ``refunds``,
        ``chargebacks``, ``other`` (signed as they move the balance: fees
        negative; fees are the types containing ``FEE``, as in
        ``fee_breakdown`` and ``roll_forward``, see
        :mod:`~ledgerkit.analysis.categories`), ``net`` (their
        sum), ``paid_out`` (minus the ``PAYOUT`` row's amount; NA when the
        frame holds no ``PAYOUT`` row for the group, as for the open
        balance) and ``residual = paid_out - net`` (0 when fully
        explained). Payouts in chain order, the open balance last.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-06 04:10", "2025-01-06 04:10", "2025-01-06 04:10",
    ...                                "2025-01-07 00:00", "2025-01-07 08:00"], utc=True),
    ...     "type": ["INCOME", "TRX_FEE_FIX", "VAT", "PAYOUT", "INCOME"],
    ...     "amount": pd.array([1000, -30, -6, -964, 500], dtype="Int64"),
    ...     "currency": "EUR",
    ...     "payout_id": pd.array(["48862", "48862", "48862", "48862", None], dtype="str")})
    >>> g = payout_groups(s)
    >>> g[["payout_id", "income", "trx_fee_fix", "vat", "net", "paid_out", "residual"]].values.tolist()
    [['48862', 1000, -30, -6, 964, 964, 0], [nan, 500, 0, 0, 500, <NA>, <NA>]]
    """
    return _groups(_statements(statements))


def _select(frame: pd.DataFrame, payout_id: Any) -> pd.DataFrame:
    """Rows of one payout (``None`` = the open balance); unknown ids are refused."""
    if payout_id is None:
        return frame[frame["payout_id"].isna()]
    wanted = str(payout_id)
    rows = frame[frame["payout_id"] == wanted]
    if rows.empty:
        known = list(dict.fromkeys(frame["payout_id"].dropna()))
        sample = ", ".join(repr(k) for k in known[:5]) + (", ..." if len(known) > 5 else "")
        expected = f"a payout id present in the statements ({sample})" if known else "a payout id, but none is present"
        raise ConfigurationError("payout_id", payout_id, expected, "Use None for the open balance.")
    return rows


@per_account("statements", absent_in_some="payout_id")
def payout_items(statements: pd.DataFrame, payout_id: Any) -> pd.DataFrame:
    """The rows making up one payout, in chain order, with a running total.

    Parameters
    ----------
    statements : DataFrame
        As for :func:`payout_groups`.
    payout_id : str, int or None
        The payout; ``None`` selects the open balance (rows without id).

    Returns
    -------
    DataFrame
        ``position`` (row number in ``statements``), the row's own
        columns, ``category`` (its :func:`payout_groups` column, ``paid
        out`` for the ``PAYOUT`` row) and ``running_total``: the cumulative
        sum of ``amount``. Just before the ``PAYOUT`` row it is the net so
        far; after it, ``net - paid_out = -residual`` (0 when explained).

    Raises
    ------
    ConfigurationError
        ``payout_id`` not in the frame; the message lists a few valid ids.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-06", "2025-01-06", "2025-01-07"], utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "PAYOUT"],
    ...     "amount": pd.array([1000, -25, -975], dtype="Int64"),
    ...     "currency": "EUR", "payout_id": pd.array(["7", "7", "7"], dtype="str")})
    >>> payout_items(s, 7)[["type", "amount", "running_total"]].values.tolist()
    [['INCOME', 1000, 1000], ['TRX_FEE', -25, 975], ['PAYOUT', -975, 0]]
    """
    frame = _statements(statements)
    rows = _select(frame, payout_id)
    original = statements.iloc[rows["position"].to_numpy()].reset_index(drop=True)
    out = pd.concat([pd.DataFrame({"position": rows["position"].to_numpy()}), original], axis=1)
    out["category"] = pd.Series(np.where(rows["paid"], "paid out", rows["column"]), dtype="str")
    totals = rows.groupby("currency", sort=False)["amount"].cumsum()
    out["running_total"] = pd.array(totals.to_numpy(), dtype="Int64")
    return out.astype({"position": "Int64", "amount": "Int64"})


@per_account("statements", absent_in_some="payout_id")
def payout_waterfall(statements: pd.DataFrame, payout_id: Any) -> pd.DataFrame:
    """The steps from gross income to the amount paid out, ready to plot.

    Parameters
    ----------
    statements : DataFrame
        As for :func:`payout_groups`.
    payout_id : str, int or None
        The payout; ``None`` for the open balance (which stops at ``net``).

    Returns
    -------
    DataFrame
        One row per step and currency: ``currency``, ``step`` (gross
        income, trx fees, fixed fees, other fees, vat, refunds,
        chargebacks, other, net, paid out, residual), ``amount``, ``start`` and ``end`` (the
        bar's extent: totals run from 0, deltas from the previous end, the
        residual from ``net`` to ``paid out``) and ``kind`` ("total",
        "delta", "residual"). Money in ``Int64`` minor units.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "created": pd.to_datetime(["2025-01-06", "2025-01-06", "2025-01-07"], utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "PAYOUT"],
    ...     "amount": pd.array([1000, -25, -970], dtype="Int64"),
    ...     "currency": "EUR", "payout_id": pd.array(["7", "7", "7"], dtype="str")})
    >>> w = payout_waterfall(s, "7")
    >>> w.loc[w["kind"] != "delta", ["step", "amount", "start", "end"]].values.tolist()
    [['gross income', 1000, 0, 1000], ['net', 975, 0, 975], ['paid out', 970, 0, 970], ['residual', -5, 975, 970]]
    """
    frame = _statements(statements)
    groups = _groups(_select(frame, payout_id))
    steps = []
    for group in groups.itertuples(index=False):
        end = 0
        for label, column, kind in _STEPS:
            amount = getattr(group, column)
            if pd.isna(amount):
                continue
            start = group.net if kind == "residual" else (end if kind == "delta" else 0)
            end = start + amount
            steps.append((group.currency, label, int(amount), int(start), int(end), kind))
    dtypes = {"currency": "str", "step": "str", "amount": "Int64", "start": "Int64", "end": "Int64", "kind": "str"}
    if not steps:
        return empty_frame(dtypes)
    return pd.DataFrame(steps, columns=list(dtypes)).astype(dtypes)
