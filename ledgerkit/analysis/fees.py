"""Fee analysis: what was paid, at what effective rate, under which contract.

Four pure functions over the frames of docs/CONTRACTS.md §3, all importable
from here:

- :func:`fee_breakdown` (this module) — fee totals, counts, volume and
  effective rate per card brand / country / gateway / channel / fee type /
  period;
- :func:`fee_model` (:mod:`~ledgerkit.analysis.fee_contracts`) — the contract
  (percent + fixed part) behind each group's fees, recovered by a robust fit;
- :func:`fee_anomalies` (same module) — the transactions charged off that
  contract;
- :func:`effective_rate_change` (:mod:`~ledgerkit.analysis.rate_change`) —
  how much of a change in effective rate between two periods comes from mix
  and how much from rates.

The rules below are carried out once, in :mod:`~ledgerkit.analysis.fee_parts`.

What counts
-----------
Transactions frame (its manifest says so, or it has a ``transaction_fee`` column):

- **fee**: ``transaction_fee`` of every ``successful`` transaction, whatever
  its type (a refund or chargeback fee is a fee too), as reported: a
  positive number is a cost;
- **volume**: ``amount`` of successful ``payment`` and ``capture``
  transactions (gross: refunds and chargebacks do not reduce it);
- **count**: successful transactions; **volume_count**: successful payments
  and captures.

Statements frame (its manifest says so, or it has a ``created`` column):

- **fee**: rows whose type is a charge — any type containing ``FEE``
  (``TRX_FEE``, ``TRX_FEE_FIX``, ``CHARGEBACK_FEE``, ``SERVICE_FEE``, …) —
  with the sign turned so that a cost is positive (the statement shows it
  as ``-0.25``); ``VAT`` rows are charges too, kept apart in a ``vat``
  column. Types are sorted by
  :func:`~ledgerkit.analysis.categories.statement_category`, the same
  classifier as ``roll_forward`` and ``payout_groups``: the fees here are
  minus their ``fees`` (and ``trx_fee + trx_fee_fix + other_fees``);
- **volume**: ``INCOME`` rows;
- a ``VAT`` row taxes one fee row of its transaction (same
  ``transaction_id``, else same ``transaction``), before or after it: the
  nearest one, one VAT per fee (:mod:`~ledgerkit.analysis.vat` has the
  rule and its tie-breaks). It is counted with that fee row's group (its
  channel, fee type, period, payout, …). A VAT row with no fee row of its
  own is counted on its own.

Money is ``Int64`` minor units of the row's ``currency``; results are per
currency and two currencies are never added. Rates are ``Float64`` basis
points of volume (``fee * 10_000 / volume``, ``<NA>`` when there is no volume).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._accounts import per_account
from ._common import check_freq, period_start, require_frame
from ._dask import dask_aware
from ._invalid import check_invalid, note_dropped
from .fee_contracts import fee_anomalies, fee_model
from .fee_parts import FEE_TYPE, INCOME, SUCCESSFUL, VAT, VOLUME_TYPES, _frame_kind, _parts, _resolve_by, _sum_by  # noqa: F401 (the rules' names, where they were)
from .rate_change import effective_rate_change

__all__ = ["fee_breakdown", "fee_model", "fee_anomalies", "effective_rate_change"]


def _bp(fee: pd.Series, volume: pd.Series) -> pd.Series:
    """Basis points of volume, one rounding only (exact integers, no overflow); ``<NA>`` without volume."""
    rates = [
        None if pd.isna(f) or pd.isna(v) or v == 0 else int(f) * 10_000 / int(v)
        for f, v in zip(fee.tolist(), volume.tolist(), strict=True)
    ]
    return pd.Series(pd.array(rates, dtype="Float64"), index=fee.index)


def _fee_type_lines(parts: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """One line per fee type; its volume is that of the line's other keys; the VAT line has no ``vat``."""
    volume_group = [g for g in group if g != FEE_TYPE]
    lines = _sum_by(parts.loc[parts[FEE_TYPE].notna()], group, ["count", "fee", "vat"])
    volumes = _sum_by(parts.loc[parts["volume_count"].gt(0)], volume_group, ["volume_count", "volume"])
    out = lines.merge(volumes, on=volume_group, how="left", validate="many_to_one")
    out["vat"] = out["vat"].astype("Int64").mask(out[FEE_TYPE].eq(VAT).fillna(False))
    return out


@per_account("frame")
@dask_aware("frame")
def fee_breakdown(
    frame: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = None,
    time: str | None = None,
    invalid: str = "raise",
) -> pd.DataFrame:
    """Fee totals, counts, volume and effective rate per group and currency.

    Works on a transactions frame (``transaction_fee`` per transaction) and
    on a statements frame (fee rows, VAT rows, income rows); see the module
    docstring for which rows count as fee and as volume. Fees are positive
    costs.

    Parameters
    ----------
    frame : DataFrame
        A transactions or statements frame (docs/CONTRACTS.md §3).
    by : str or sequence of str, optional
        Friendly names — ``"brand"`` (``credit_card.brand``), ``"product"``,
        ``"country"`` (``credit_card.issuer_country``), ``"gateway"``
        (``payment.gateway_id`` and ``payment.gateway_name``), ``"method"`` or
        ``"channel"`` (``payment_method_type`` for transactions, ``channel``
        for statements), ``"type"``, ``"fee_type"`` (statements),
        ``"currency"`` — or raw column names. ``()`` gives one line per
        currency. Default: ``"gateway"`` for transactions, ``"fee_type"`` for
        statements. Results are always per ``currency``.
    freq : str, optional
        Adds a ``period`` column: the UTC start of the period of ``time``:
        ``"D"`` day, ``"W"`` week from Monday, ``"M"`` month, or a pandas
        offset alias of one day, week, month, quarter or year (``"ME"``,
        ``"MS"``, ``"W-SAT"`` for weeks from Sunday, ``"QE"``, ``"YS"``,
        ``"YE-JUN"``, ...; :mod:`~ledgerkit.analysis.periods`).
    time : str, optional
        The timestamp column for ``freq``: default ``created_at``
        (transactions) or ``created`` (statements).
    invalid : {"raise", "drop"}
        What to do with rows that cannot be counted: a missing ``amount``,
        ``transaction_fee`` or ``currency`` on a row that counts (a missing
        fee is never read as 0), or a transaction ``id`` on more than one
        row. ``"raise"`` (default) refuses the frame naming the column and
        the rows; ``"drop"`` leaves them out (a repeated id keeps its first
        row) and counts them in the result's ``attrs["dropped"]``
        (``{"frame": {"missing_money": n, "duplicated_ids": m}}``).
        Statement rows have no id of their own (identical lines are both
        real), so only transactions are checked for repeats.

    Returns
    -------
    DataFrame
        ``currency``, the key columns, ``period`` (with ``freq``), then
        ``count``, ``fee``, ``volume_count``, ``volume`` (``Int64``) and
        ``rate_bp`` (``Float64``, fee per volume in basis points). Statements
        add ``vat`` (the VAT on the line's fees), ``fee_incl_vat`` and
        ``rate_incl_vat_bp``. Grouped by fee type, statements give one line
        per charge type (``TRX_FEE``, ``TRX_FEE_FIX``, ``CHARGEBACK_FEE``, …)
        with its VAT attached, plus a ``VAT`` line whose ``fee`` is all VAT
        (its ``vat`` and ``fee_incl_vat`` are ``<NA>``): ``fee`` and
        ``rate_bp`` add up over fee types to the total cost; ``volume`` is
        that of the line's other keys, repeated on each fee type.

    Raises
    ------
    ConfigurationError
        Not a transactions or statements frame, a missing or repeated
        column, money not in integer minor units, missing money or a
        repeated id (unless ``invalid="drop"``), a bad ``by``, ``freq``,
        ``time`` or ``invalid``.

    Notes
    -----
    Transactions: ``fee`` is the ``transaction_fee`` of every successful
    transaction (refund and chargeback fees included), ``volume`` the amount
    of successful payments and captures. Statements: ``fee`` is the charge
    rows (types containing ``FEE``) with the sign turned, ``vat`` the ``VAT``
    rows, ``volume`` the ``INCOME`` rows. Missing key values (no card brand
    for an alternative method) form their own ``<NA>`` group, so totals are
    kept.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "id": pd.array([1, 2], dtype="Int64"),
    ...     "type": ["payment", "refund"], "status": ["successful", "successful"],
    ...     "amount": pd.array([10_000, 2_000], dtype="Int64"),
    ...     "transaction_fee": pd.array([320, 50], dtype="Int64"),
    ...     "currency": ["EUR", "EUR"], "credit_card.brand": ["visa", "visa"]})
    >>> fee_breakdown(tx, by="brand")[["credit_card.brand", "fee", "volume", "rate_bp"]]
      credit_card.brand  fee  volume  rate_bp
    0              visa  370   10000    370.0
    """
    frame = require_frame(frame, "frame")
    kind = _frame_kind(frame, "frame")
    keys = _resolve_by(by, frame, kind)
    period = None if freq is None else check_freq(freq)
    invalid = check_invalid(invalid)
    by_fee_type = FEE_TYPE in keys
    parts, dropped = _parts(
        frame, kind, keys, time=time, with_time=period is not None, vat_line=by_fee_type, invalid=invalid
    )
    group = ["currency", *keys]
    if period is not None:
        parts["period"] = period_start(parts.pop("_time"), period).astype("datetime64[ns, UTC]")
        group.append("period")
    if by_fee_type:
        out = _fee_type_lines(parts, group)
    else:
        out = _sum_by(parts, group, ["count", "fee", "vat", "volume_count", "volume"])
    dtypes = {c: parts[c].dtype for c in group}
    dtypes.update(dict.fromkeys(("count", "fee", "vat", "volume_count", "volume"), "Int64"))
    out = out.loc[:, list(dtypes)].astype(dtypes)
    out[["volume_count", "volume"]] = out[["volume_count", "volume"]].fillna(0)
    out["rate_bp"] = _bp(out["fee"], out["volume"])
    if kind == "transactions":
        return note_dropped(out.drop(columns="vat").reset_index(drop=True), frame=dropped)
    out["fee_incl_vat"] = out["fee"] + out["vat"]
    out["rate_incl_vat_bp"] = _bp(out["fee_incl_vat"], out["volume"])
    columns = [*group, "count", "fee", "vat", "fee_incl_vat", "volume_count", "volume", "rate_bp", "rate_incl_vat_bp"]
    return note_dropped(out.loc[:, columns].reset_index(drop=True), frame=dropped)
