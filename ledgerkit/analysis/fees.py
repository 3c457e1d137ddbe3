"""Fee analysis: what was paid, at what effective rate, under which contract.

Four pure functions over the frames of docs/CONTRACTS.md §3:

- :func:`fee_breakdown` — fee totals, counts, volume and effective rate per
  card brand / country / gateway / channel / fee type / period;
- :func:`fee_model` — the contract (percent + fixed part) behind each
  group's fees, recovered by a robust fit;
- :func:`fee_anomalies` — the transactions charged off that contract;
- :func:`effective_rate_change` — how much of a change in effective rate
  between two periods comes from mix and how much from rates.

What counts
-----------
Transactions frame (it has a ``transaction_fee`` column):

- **fee**: ``transaction_fee`` of every ``successful`` transaction, whatever
  its type (a refund or chargeback fee is a fee too), as reported: a
  positive number is a cost;
- **volume**: ``amount`` of successful ``payment`` and ``capture``
  transactions (gross: refunds and chargebacks do not reduce it);
- **count**: successful transactions; **volume_count**: successful payments
  and captures.

Statements frame (it has ``type``, ``amount`` and ``created``):

- **fee**: rows whose type is a charge — any type containing ``FEE``
  (``TRX_FEE``, ``TRX_FEE_FIX``, ``CHARGEBACK_FEE``, …) — with the sign
  turned so that a cost is positive (the statement shows it as ``-0.25``);
  ``VAT`` rows are charges too, kept apart in a ``vat`` column;
- **volume**: ``INCOME`` rows;
- a ``VAT`` row taxes the fee row right before it with the same
  ``transaction_id``: it is counted with that fee row's group (its channel,
  period, …). A VAT row with no such fee row is counted on its own.

Money is ``Int64`` minor units of the row's ``currency``; results are per
currency and two currencies are never added. Rates are ``Float64`` basis
points of volume (``fee * 10_000 / volume``, ``<NA>`` when there is no volume).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from ._common import check_freq, empty_frame, period_start, require_columns, require_frame, require_utc

__all__ = ["fee_breakdown", "fee_model", "fee_anomalies", "effective_rate_change"]

#: Transaction types whose amount is payment volume.
VOLUME_TYPES: tuple[str, ...] = ("payment", "capture")
#: The only transaction status whose fee and amount count.
SUCCESSFUL = "successful"
#: Statement type of payment volume.
INCOME = "INCOME"
#: Statement type of VAT on a fee.
VAT = "VAT"
#: Output column of a statement's fee type.
FEE_TYPE = "fee_type"

_TRANSACTION_NAMES: dict[str, tuple[str, ...]] = {
    "brand": ("credit_card.brand",),
    "product": ("credit_card.product",),
    "country": ("credit_card.issuer_country",),
    "gateway": ("payment.gateway_id", "payment.gateway_name"),
    "method": ("payment_method_type",),
    "channel": ("payment_method_type",),
    "type": ("type",),
    "currency": (),
}
_STATEMENT_NAMES: dict[str, tuple[str, ...]] = {
    "method": ("channel",),
    "channel": ("channel",),
    "type": (FEE_TYPE,),
    "fee_type": (FEE_TYPE,),
    "currency": (),
}
_DEFAULT_BY = {"transactions": ("gateway",), "statements": (FEE_TYPE,)}
_SCALE = 10**6  # percent with 4 decimals as an integer P: amount * P / 10**6
_MODEL_STATS = ("percent", "fixed", "n", "n_explained", "share_explained")
_FIT_SAMPLE = 300
_MAX_WINDOW = 20_000


# --------------------------------------------------------------------------
# Input checks


def _frame_kind(frame: pd.DataFrame, parameter: str) -> str:
    if "transaction_fee" in frame.columns:
        return "transactions"
    if {"type", "amount", "created"} <= set(frame.columns):
        return "statements"
    raise ConfigurationError(
        parameter,
        f"<DataFrame with columns {list(frame.columns)}>",
        "a transactions frame (with a 'transaction_fee' column) or a statements frame "
        "(with 'type', 'amount' and 'created')",
    )


def _require_money(frame: pd.DataFrame, columns: Iterable[str], parameter: str) -> None:
    for column in columns:
        if not pd.api.types.is_integer_dtype(frame[column].dtype):
            raise ConfigurationError(
                f"{parameter}[{column!r}]", str(frame[column].dtype), "integer minor units (Int64)"
            )


def _resolve_by(by: Any, frame: pd.DataFrame, kind: str) -> list[str]:
    """Friendly or raw ``by`` names -> the frame's key columns (currency left out)."""
    if by is None:
        by = _DEFAULT_BY[kind]
    names = (by,) if isinstance(by, str) else by
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError("by", by, "a column name or a tuple of column names")
    friendly = _TRANSACTION_NAMES if kind == "transactions" else _STATEMENT_NAMES
    keys: list[str] = []
    for name in names:
        if name in friendly:
            wanted = friendly[name]
            if wanted and wanted[0] != FEE_TYPE and wanted[0] not in frame.columns:
                raise ConfigurationError("by", name, f"a {kind} frame with the column {wanted[0]!r}")
            columns = tuple(c for c in wanted if c == FEE_TYPE or c in frame.columns)
        elif name in frame.columns:
            columns = (FEE_TYPE,) if kind == "statements" and name == "type" else (name,)
        else:
            raise ConfigurationError("by", name, f"one of {sorted(friendly)} or a column of the {kind} frame")
        keys.extend(c for c in columns if c != "currency" and c not in keys)
    return keys


def _time_column(frame: pd.DataFrame, kind: str, time: str | None, parameter: str) -> pd.Series:
    column = time if time is not None else ("created_at" if kind == "transactions" else "created")
    if not isinstance(column, str) or column not in frame.columns:
        raise ConfigurationError("time", column, f"a timestamp column of the {kind} frame")
    return require_utc(frame, column, parameter)


def _plain_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Key columns with categoricals turned into their plain values (for merging)."""
    out = frame.loc[:, list(keys)]
    for key in keys:
        dtype = out[key].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            out[key] = out[key].astype(dtype.categories.dtype)
    return out


# --------------------------------------------------------------------------
# Per-row contributions: one row per fee / VAT / volume amount, keyed


def _transaction_parts(frame: pd.DataFrame, keys: list[str], times: pd.Series | None) -> pd.DataFrame:
    """Successful transactions as contributions: every fee, and volume from payments/captures."""
    successful = frame["status"].eq(SUCCESSFUL).fillna(False).to_numpy(dtype=bool)
    rows = frame.loc[successful].reset_index(drop=True)
    labels = _plain_keys(rows, ["currency", *keys])
    if times is not None:
        labels["_time"] = times.loc[successful].reset_index(drop=True)
    is_volume = rows["type"].isin(VOLUME_TYPES).to_numpy(dtype=bool)
    return _contribution(
        labels,
        count=1,
        fee=rows["transaction_fee"].astype("Int64").fillna(0),
        volume_count=pd.Series(is_volume.astype("int64"), dtype="Int64"),
        volume=rows["amount"].astype("Int64").where(is_volume, 0).fillna(0),
    )


def _statement_parts(
    frame: pd.DataFrame, keys: list[str], times: pd.Series | None, *, vat_line: bool
) -> pd.DataFrame:
    """Statement rows as contributions; a VAT row moves to the group of the fee it taxes.

    With ``vat_line`` (grouping by fee type) a VAT row counts twice: as the
    ``vat`` of its fee's line (when it has one) and as a fee of the ``VAT``
    line. Otherwise VAT rows only fill the ``vat`` column.
    """
    types = frame["type"].astype("str").reset_index(drop=True)
    is_vat = types.eq(VAT).fillna(False).to_numpy(dtype=bool)
    is_fee = types.str.upper().str.contains("FEE").fillna(False).to_numpy(dtype=bool) & ~is_vat
    is_income = types.eq(INCOME).fillna(False).to_numpy(dtype=bool)
    tx = frame["transaction_id"].reset_index(drop=True)
    attached = is_vat & np.concatenate([[False], is_fee[:-1]]) & tx.eq(tx.shift(1)).fillna(False).to_numpy(dtype=bool)

    labels = _plain_keys(frame, ["currency", *[k for k in keys if k != FEE_TYPE]]).reset_index(drop=True)
    labels[FEE_TYPE] = types
    if times is not None:
        labels["_time"] = times.reset_index(drop=True)
    owner = labels.where(~pd.Series(attached), labels.shift(1))

    amount = frame["amount"].astype("Int64").reset_index(drop=True)
    pieces = [
        _contribution(owner.loc[is_fee], count=1, fee=-amount),
        _contribution(labels.loc[is_income].assign(**{FEE_TYPE: VAT}), volume_count=1, volume=amount),
    ]
    pieces[1][FEE_TYPE] = pd.Series(pd.NA, index=pieces[1].index, dtype="str")
    if vat_line:
        pieces.append(_contribution(owner.loc[attached], vat=-amount))
        pieces.append(_contribution(owner.loc[is_vat].assign(**{FEE_TYPE: VAT}), count=1, fee=-amount))
    else:
        pieces.append(_contribution(owner.loc[is_vat], vat=-amount))
    return pd.concat(pieces, ignore_index=True)


def _contribution(labels: pd.DataFrame, **values: Any) -> pd.DataFrame:
    """``labels`` plus the five measure columns; those not given are 0."""
    out = labels.copy()
    for column in ("count", "fee", "vat", "volume_count", "volume"):
        value = values.get(column, 0)
        if isinstance(value, pd.Series):
            out[column] = value.loc[labels.index]
        else:
            out[column] = pd.Series(value, index=labels.index, dtype="Int64")
    return out


def _parts(
    frame: pd.DataFrame, kind: str, keys: list[str], *, time: str | None, with_time: bool, vat_line: bool = False
) -> pd.DataFrame:
    """Check ``frame`` for what the analysis needs, then split it into contributions."""
    plain_keys = [k for k in keys if k != FEE_TYPE]
    if kind == "transactions":
        require_columns(frame, ["type", "status", "amount", "transaction_fee", "currency", *plain_keys], "frame")
        _require_money(frame, ["amount", "transaction_fee"], "frame")
    else:
        require_columns(frame, ["type", "amount", "currency", "transaction_id", *plain_keys], "frame")
        _require_money(frame, ["amount"], "frame")
    times = _time_column(frame, kind, time, "frame") if with_time else None
    if kind == "transactions":
        return _transaction_parts(frame, keys, times)
    return _statement_parts(frame, keys, times, vat_line=vat_line)


def _sum_by(parts: pd.DataFrame, group: list[str], measures: list[str]) -> pd.DataFrame:
    """Integer sums of ``measures`` per ``group`` (missing labels form their own group)."""
    if not len(parts):
        return parts.loc[:, [*group, *measures]].reset_index(drop=True)
    return parts.groupby(group, dropna=False, sort=True, observed=True, as_index=False)[measures].sum()


def _bp(fee: pd.Series, volume: pd.Series) -> pd.Series:
    """Basis points of volume, one rounding only; ``<NA>`` without volume."""
    rate = (fee.astype("Int64") * 10_000) / volume.astype("Int64").where(volume.ne(0))
    return rate.astype("Float64")


# --------------------------------------------------------------------------
# Public functions


def fee_breakdown(
    frame: pd.DataFrame, *, by: str | Sequence[str] | None = None, freq: str | None = None, time: str | None = None
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
    freq : {"D", "W", "M"}, optional
        Adds a ``period`` column: the UTC start of the day, week (Monday) or
        month of ``time``.
    time : str, optional
        The timestamp column for ``freq``: default ``created_at``
        (transactions) or ``created`` (statements).

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
        Not a transactions or statements frame, a missing column, money not
        in integer minor units, a bad ``by``, ``freq`` or ``time``.

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
    freq = None if freq is None else check_freq(freq)
    by_fee_type = FEE_TYPE in keys
    parts = _parts(frame, kind, keys, time=time, with_time=freq is not None, vat_line=by_fee_type)
    group = ["currency", *keys]
    if freq is not None:
        parts["period"] = period_start(parts.pop("_time"), freq).astype("datetime64[ns, UTC]")
        group.append("period")
    if by_fee_type:
        volume_group = [g for g in group if g != FEE_TYPE]
        lines = _sum_by(parts.loc[parts[FEE_TYPE].notna()], group, ["count", "fee", "vat"])
        volumes = _sum_by(parts.loc[parts["volume_count"].gt(0)], volume_group, ["volume_count", "volume"])
        out = lines.merge(volumes, on=volume_group, how="left", validate="many_to_one")
        is_vat_line = out[FEE_TYPE].eq(VAT).fillna(False)
        out["vat"] = out["vat"].astype("Int64").mask(is_vat_line)
    else:
        out = _sum_by(parts, group, ["count", "fee", "vat", "volume_count", "volume"])
    dtypes = {c: parts[c].dtype for c in group}
    dtypes.update({c: "Int64" for c in ("count", "fee", "vat", "volume_count", "volume")})
    out = out.loc[:, list(dtypes)].astype(dtypes)
    out[["volume_count", "volume"]] = out[["volume_count", "volume"]].fillna(0)
    out["rate_bp"] = _bp(out["fee"], out["volume"])
    if kind == "transactions":
        return out.drop(columns="vat").reset_index(drop=True)
    out["fee_incl_vat"] = out["fee"] + out["vat"]
    out["rate_incl_vat_bp"] = _bp(out["fee_incl_vat"], out["volume"])
    columns = [*group, "count", "fee", "vat", "fee_incl_vat", "volume_count", "volume", "rate_bp", "rate_incl_vat_bp"]
    return out.loc[:, columns].reset_index(drop=True)
