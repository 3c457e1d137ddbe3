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
from ..money import is_currency
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
    if "currency" in frame.columns:  # minor units mean nothing without a known exponent
        unknown = sorted({str(c) for c in frame["currency"].dropna().unique() if not is_currency(str(c))})
        if unknown:
            raise ConfigurationError(f"{parameter}['currency']", unknown[0],
                                     "ISO 4217 or known crypto currency codes (the minor unit depends on them)")


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
    after_fee = np.zeros_like(is_fee)
    after_fee[1:] = is_fee[:-1]
    tx = frame["transaction_id"].reset_index(drop=True)
    attached = is_vat & after_fee & tx.eq(tx.shift(1)).fillna(False).to_numpy(dtype=bool)

    labels = _plain_keys(frame, ["currency", *[k for k in keys if k != FEE_TYPE]]).reset_index(drop=True)
    labels[FEE_TYPE] = types
    if times is not None:
        labels["_time"] = times.reset_index(drop=True)
    owner = labels.where(~pd.Series(attached), labels.shift(1))

    amount = frame["amount"].astype("Int64").reset_index(drop=True)
    income = labels.loc[is_income].assign(**{FEE_TYPE: pd.NA}).astype({FEE_TYPE: "str"})
    pieces = [
        _contribution(owner.loc[is_fee], count=1, fee=-amount),
        _contribution(income, volume_count=1, volume=amount),
    ]
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


def _fee_type_lines(parts: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """One line per fee type; its volume is that of the line's other keys; the VAT line has no ``vat``."""
    volume_group = [g for g in group if g != FEE_TYPE]
    lines = _sum_by(parts.loc[parts[FEE_TYPE].notna()], group, ["count", "fee", "vat"])
    volumes = _sum_by(parts.loc[parts["volume_count"].gt(0)], volume_group, ["volume_count", "volume"])
    out = lines.merge(volumes, on=volume_group, how="left", validate="many_to_one")
    out["vat"] = out["vat"].astype("Int64").mask(out[FEE_TYPE].eq(VAT).fillna(False))
    return out


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
    freq = None if freq is None else check_freq(freq)
    by_fee_type = FEE_TYPE in keys
    parts = _parts(frame, kind, keys, time=time, with_time=freq is not None, vat_line=by_fee_type)
    group = ["currency", *keys]
    if freq is not None:
        parts["period"] = period_start(parts.pop("_time"), freq).astype("datetime64[ns, UTC]")
        group.append("period")
    if by_fee_type:
        out = _fee_type_lines(parts, group)
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


# --------------------------------------------------------------------------
# Contract recovery


def _round_share(amounts: np.ndarray, percent_e4: Any) -> np.ndarray:
    """``round_half_even(amount * percent / 100)`` with percent given as an integer of 1e-4 %."""
    if np.size(amounts) and np.size(percent_e4) and int(np.max(amounts)) * int(np.max(percent_e4)) >= 2**62:
        amounts = np.asarray(amounts).astype(object)  # Python ints: no int64 overflow
    product = amounts * percent_e4
    q = product // _SCALE
    r = product - q * _SCALE
    return (q + ((2 * r > _SCALE) | ((2 * r == _SCALE) & (q % 2 == 1)))).astype("int64")


def _slope_guesses(amounts: np.ndarray, fees: np.ndarray) -> list[tuple[float, float]]:
    """Theil–Sen slopes (in 1e-4 %) with their spread (interquartile range).

    Two medians of the pairwise slopes: over the longer half of the pairs,
    and over all pairs weighted by their length (which still works when
    most amounts sit in a narrow cluster). Empty when all amounts are equal.
    """
    n = len(amounts)
    if n <= 200:
        i, j = np.triu_indices(n, 1)
    else:
        rng = np.random.default_rng(0)
        i, j = rng.integers(0, n, 20_000), rng.integers(0, n, 20_000)
    span = (amounts[j] - amounts[i]).astype("float64")
    keep = span != 0
    if not keep.any():
        return []
    slopes = (fees[j] - fees[i])[keep] / span[keep] * _SCALE
    length = np.abs(span[keep])
    long = length >= np.median(length)
    return [_quartiles(slopes[long], np.ones(int(long.sum()))), _quartiles(slopes, length)]


def _quartiles(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted median and interquartile range."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    q1, median, q3 = values[order][np.searchsorted(cumulative, [0.25, 0.5, 0.75]).clip(0, len(values) - 1)]
    return float(median), float(q3 - q1)


def _simplicity(percent_e4: np.ndarray) -> np.ndarray:
    """How many trailing zeros a percent has in units of 1e-4 % (0 is the simplest)."""
    out = np.zeros(len(percent_e4), dtype="int64")
    for power in (10, 100, 1_000, 10_000):
        out += percent_e4 % power == 0
    return out + 2 * (percent_e4 == 0)


def _fit_sample(amounts: np.ndarray) -> np.ndarray:
    """Up to ``_FIT_SAMPLE`` row positions spread evenly over the range of amounts."""
    order = np.argsort(amounts, kind="stable")
    picks = np.unique(np.linspace(0, len(order) - 1, min(len(order), _FIT_SAMPLE)).round().astype(int))
    return order[picks]


def _score_window(a: np.ndarray, f: np.ndarray, centre: float, spread: float) -> tuple[np.ndarray, ...]:
    """Every percent near ``centre``, its fixed part (median residual) and exact matches."""
    half = int(min(_MAX_WINDOW, max(100, 3 * spread)))
    lo = max(0, int(np.floor(centre)) - half)
    candidates = np.arange(lo, max(lo, int(np.ceil(centre)) + half) + 1, dtype="int64")
    scores, fixed = [], []
    for chunk in np.array_split(candidates, len(candidates) * len(a) // 2_000_000 + 1):
        residual = f[None, :] - _round_share(a[None, :], chunk[:, None])
        c = np.rint(np.median(residual, axis=1)).astype("int64")
        scores.append((residual == c[:, None]).sum(axis=1))
        fixed.append(c)
    distance = np.abs(candidates - centre)
    return candidates, np.concatenate(fixed), np.concatenate(scores), distance


def _fit_contract(amounts: np.ndarray, fees: np.ndarray) -> tuple[int, int] | None:
    """The (percent in 1e-4 %, fixed) that explains exactly the most fees.

    Theil–Sen slopes narrow the search to windows of percents; each
    candidate's fixed part is its median residual, scored by how many fees
    it reproduces exactly. Ties go to the simplest percent (fewest decimals),
    then to the one nearest a Theil–Sen slope. A minority of wrong fees
    moves neither the median slopes nor the median residual.
    """
    guesses = _slope_guesses(amounts, fees)
    if not guesses:
        return None
    sample = _fit_sample(amounts)
    windows = [_score_window(amounts[sample], fees[sample], *g) for g in guesses]
    candidates, fixed, score, distance = (np.concatenate(parts) for parts in zip(*windows))
    best = np.lexsort((distance, -_simplicity(candidates), -score))[0]
    percent = int(candidates[best])
    residual = fees - _round_share(amounts, percent)
    values, counts = np.unique(residual, return_counts=True)
    ties = values[counts == counts.max()]
    return percent, int(ties[np.argmin(np.abs(ties - fixed[best]))])


def _group_model(group: pd.DataFrame, tolerance: int) -> dict[str, Any]:
    """The fitted contract of one group and how many of its fees it explains."""
    amounts = group["amount"].to_numpy(dtype="int64")
    fees = group["transaction_fee"].to_numpy(dtype="int64")
    fit = _fit_contract(amounts, fees)
    if fit is None:
        return {"percent": None, "fixed": None, "n": len(group), "n_explained": None}
    explained = np.abs(fees - _round_share(amounts, fit[0]) - fit[1]) <= tolerance
    return {"percent": fit[0] / 10_000, "fixed": fit[1], "n": len(group), "n_explained": int(explained.sum())}


def _typed_frame(records: list[dict[str, Any]], dtypes: dict[str, Any]) -> pd.DataFrame:
    """Records (dicts, ``None`` for missing) as a frame with exactly these columns and dtypes."""
    if not records:
        return empty_frame(dtypes)
    return pd.DataFrame({c: pd.array([r.get(c) for r in records], dtype=d) for c, d in dtypes.items()})


def _model_rows(transactions: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The rows a contract is fitted on: successful payments/captures with an amount > 0 and a fee."""
    eligible = (
        transactions["status"].eq(SUCCESSFUL).fillna(False)
        & transactions["type"].isin(VOLUME_TYPES)
        & transactions["amount"].gt(0).fillna(False)
        & transactions["transaction_fee"].notna()
    ).to_numpy(dtype=bool)
    rows = transactions.loc[eligible]
    out = _plain_keys(rows, keys)
    for column in ("id", "amount", "transaction_fee"):
        if column in rows:
            out[column] = rows[column].astype("Int64")
    return out.reset_index(drop=True)


def _check_tolerance(tolerance: Any) -> int:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, np.integer)) or tolerance < 0:
        raise ConfigurationError("tolerance", tolerance, "a whole number of minor units >= 0")
    return int(tolerance)


def _model_keys(by: Any, transactions: pd.DataFrame) -> list[str]:
    keys = _resolve_by(by, transactions, "transactions")
    require_columns(transactions, ["type", "status", "amount", "transaction_fee", "currency", *keys], "transactions")
    _require_money(transactions, ["amount", "transaction_fee"], "transactions")
    return [*keys, "currency"]  # _resolve_by leaves currency out: put it last


def fee_model(
    transactions: pd.DataFrame,
    *,
    by: str | Sequence[str] = ("payment.gateway_id", "credit_card.brand", "currency"),
    tolerance: int = 1,
) -> pd.DataFrame:
    """Recover each group's fee contract: a percentage plus a fixed part.

    The providers charge ``fee = round_half_even(amount * percent / 100) +
    fixed`` in minor units. Per group, the fit looks for the percent (to
    4 decimals) and the fixed part that reproduce exactly the most fees, so
    that a few wrong fees cannot bend it (a Theil–Sen slope bounds the
    search, a median residual gives the fixed part). It works in minor units
    for every currency (JPY, KWD, …). Only successful payments and captures
    with a positive amount and a fee are fitted.

    Parameters
    ----------
    transactions : DataFrame
        A transactions frame (docs/CONTRACTS.md §3).
    by : str or sequence of str
        Group keys (friendly names as in :func:`fee_breakdown` or columns).
        ``currency`` is always added.
    tolerance : int
        A fee within this many minor units of the model counts as explained.

    Returns
    -------
    DataFrame
        The key columns, ``percent`` (``Float64``), ``fixed`` (``Int64``
        minor units), ``n`` (fees fitted), ``n_explained`` (``|fee -
        model| <= tolerance``) and ``share_explained`` (``Float64``). A group
        whose amounts are all equal cannot separate percent from fixed: its
        ``percent`` and ``fixed`` are ``<NA>``.

    Examples
    --------
    >>> amounts = [1_000, 2_500, 10_000, 40_000, 7_300]
    >>> tx = pd.DataFrame({
    ...     "type": ["payment"] * 5, "status": ["successful"] * 5,
    ...     "amount": pd.array(amounts, dtype="Int64"),
    ...     "transaction_fee": pd.array([59, 102, 320, 1190, 999], dtype="Int64"),
    ...     "currency": ["EUR"] * 5, "payment.gateway_id": pd.array([7] * 5, dtype="Int64"),
    ...     "credit_card.brand": ["visa"] * 5})
    >>> fee_model(tx)[["percent", "fixed", "n", "n_explained"]]
       percent  fixed  n  n_explained
    0      2.9     30  5            4
    """
    transactions = require_frame(transactions, "transactions")
    tolerance = _check_tolerance(tolerance)
    keys = _model_keys(by, transactions)
    rows = _model_rows(transactions, keys)
    records = [
        {**dict(zip(keys, label)), **_group_model(group, tolerance)}
        for label, group in rows.groupby(keys, dropna=False, sort=True, observed=True)
    ]
    out = _typed_frame(records, {
        **{k: rows[k].dtype for k in keys}, "percent": "Float64", "fixed": "Int64", "n": "Int64", "n_explained": "Int64"
    })
    out["share_explained"] = (out["n_explained"] / out["n"]).astype("Float64")
    return out


def fee_anomalies(transactions: pd.DataFrame, model: pd.DataFrame, *, tolerance: int = 1) -> pd.DataFrame:
    """The transactions whose fee is off their group's contract by more than ``tolerance``.

    Parameters
    ----------
    transactions : DataFrame
        A transactions frame (docs/CONTRACTS.md §3).
    model : DataFrame
        The result of :func:`fee_model`; its key columns say how to group.
        Groups without a model (absent, or ``percent`` ``<NA>``) are not
        judged.
    tolerance : int
        Allowed difference in minor units (rounding slack).

    Returns
    -------
    DataFrame
        One row per anomaly, ascending ``id``: ``id``, the key columns,
        ``currency``, ``amount``, ``expected_fee``, ``actual_fee`` and
        ``difference`` (actual − expected; positive = charged too much), all
        money ``Int64`` minor units.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "id": pd.array([1, 2], dtype="Int64"),
    ...     "type": ["payment"] * 2, "status": ["successful"] * 2,
    ...     "amount": pd.array([1_000, 2_000], dtype="Int64"),
    ...     "transaction_fee": pd.array([59, 150], dtype="Int64"), "currency": ["EUR"] * 2})
    >>> model = pd.DataFrame({"currency": ["EUR"], "percent": pd.array([2.9], dtype="Float64"),
    ...                       "fixed": pd.array([30], dtype="Int64")})
    >>> fee_anomalies(tx, model)[["id", "expected_fee", "actual_fee", "difference"]]
       id  expected_fee  actual_fee  difference
    0   2            88         150          62
    """
    transactions = require_frame(transactions, "transactions")
    model = require_frame(model, "model")
    tolerance = _check_tolerance(tolerance)
    require_columns(model, ["percent", "fixed", "currency"], "model")
    keys = [c for c in model.columns if c not in _MODEL_STATS]
    require_columns(transactions, ["id", *keys], "transactions")
    keys = _model_keys(tuple(keys), transactions)
    rows = _model_rows(transactions, keys)
    contracts = _plain_keys(model, keys).assign(
        _percent=(model["percent"].astype("Float64") * 10_000).round().astype("Int64"),
        _fixed=model["fixed"].astype("Int64"),
    )
    contracts = contracts.loc[contracts["_percent"].notna() & contracts["_fixed"].notna()]
    judged = rows.merge(contracts, on=keys, how="inner", validate="many_to_one")
    expected = pd.Series(
        _round_share(judged["amount"].to_numpy(dtype="int64"), judged["_percent"].to_numpy(dtype="int64")),
        index=judged.index,
        dtype="Int64",
    ) + judged["_fixed"]
    out = judged.assign(expected_fee=expected, actual_fee=judged["transaction_fee"])
    out["difference"] = out["actual_fee"] - out["expected_fee"]
    out = out.loc[out["difference"].abs().gt(tolerance)]
    columns = ["id", *[k for k in keys if k != "currency"], "currency", "amount", "expected_fee", "actual_fee", "difference"]
    return out.sort_values("id").loc[:, columns].reset_index(drop=True)


# --------------------------------------------------------------------------
# Effective rate change: mix and rate


def _check_period(value: Any, parameter: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A ``(start, end)`` pair as UTC timestamps with start < end; naive values are UTC."""
    expected = "a (start, end) pair of timestamps with start < end (half-open [start, end))"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigurationError(parameter, value, expected)
    try:
        start, end = (pd.Timestamp(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(parameter, value, expected) from exc
    if pd.isna(start) or pd.isna(end):
        raise ConfigurationError(parameter, value, expected)
    start, end = (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC") for t in (start, end))
    if not start < end:
        raise ConfigurationError(parameter, value, expected)
    return start, end


def _period_totals(parts: pd.DataFrame, period: tuple[pd.Timestamp, pd.Timestamp], group: list[str]) -> pd.DataFrame:
    inside = parts["_time"].ge(period[0]) & parts["_time"].lt(period[1])
    rows = parts.loc[inside.fillna(False).to_numpy(dtype=bool)]
    rows = rows.assign(cost=rows["fee"] + rows["vat"])
    return _sum_by(rows, group, ["cost", "volume"]).rename(columns={"cost": "fee"})


def _split(
    *, fee_a: int, volume_a: int, fee_b: int, volume_b: int, total_a: int, total_b: int
) -> dict[str, Fraction | None]:
    """One group's weights, rates (bp) and its mix and rate parts of the change, exactly.

    The group adds ``fee / total volume`` to its period's rate. Its mix part
    is ``(w_b - w_a) * r_a`` and its rate part the rest of its change, which
    equals ``w_b * (r_b - r_a)`` whenever both rates exist. A group new in
    period b has ``r_a := r_b`` (all mix); a group gone in b has mix
    ``-w_a * r_a`` (its rate part is its fees without volume in b, if any).
    """
    fa, va, fb, vb = fee_a, volume_a, fee_b, volume_b
    if not total_a or not total_b:
        return {"weight_a": None, "weight_b": None, "rate_a_bp": _ratio(fa, va), "rate_b_bp": _ratio(fb, vb),
                "mix_bp": None, "rate_effect_bp": None, "change_bp": None}
    wa, wb = Fraction(va, total_a), Fraction(vb, total_b)
    ra, rb = _ratio(fa, va), _ratio(fb, vb)
    base = ra if ra is not None else rb
    mix = (wb - wa) * base if base is not None else Fraction(0)
    change = Fraction(fb * 10_000, total_b) - Fraction(fa * 10_000, total_a)
    return {"weight_a": wa, "weight_b": wb, "rate_a_bp": ra, "rate_b_bp": rb,
            "mix_bp": mix, "rate_effect_bp": change - mix, "change_bp": change}


def _ratio(fee: int, volume: int) -> Fraction | None:
    return Fraction(fee * 10_000, volume) if volume else None


def effective_rate_change(
    frame: pd.DataFrame,
    period_a: tuple[Any, Any],
    period_b: tuple[Any, Any],
    *,
    by: str | Sequence[str] | None = None,
    time: str | None = None,
) -> pd.DataFrame:
    """Split the change in effective rate between two periods into mix and rate.

    Per currency, the effective rate ``R = fee / volume`` (basis points) is
    ``Σ w_g r_g`` over groups ``g`` with volume share ``w_g`` and rate
    ``r_g``. From period a to b::

        R_b - R_a = Σ (w_b - w_a) · r_a   (mix: volume moved between groups)
                  + Σ w_b · (r_b - r_a)   (rate: groups got dearer or cheaper)

    Computed exactly with fractions over integer sums, then given as floats,
    so ``mix_bp + rate_effect_bp == change_bp`` as closely as floats allow.
    A group with volume only in period b counts with ``r_a = r_b``: its whole
    effect is mix. A group with volume only in period a has mix
    ``-w_a · r_a`` and no rate part. Fees without any volume in their group
    (a refund fee grouped by ``type``) count in the rate part.

    Parameters
    ----------
    frame : DataFrame
        A transactions or statements frame (statements: fees including VAT).
    period_a, period_b : (start, end)
        Half-open periods ``[start, end)``; naive timestamps are taken as UTC.
    by : str or sequence of str, optional
        Groups as in :func:`fee_breakdown`, except ``fee_type`` (fee types
        have no volume of their own). Default ``"gateway"`` (transactions) or
        ``"channel"`` (statements).
    time : str, optional
        Timestamp column: default ``created_at`` / ``created``.

    Returns
    -------
    DataFrame
        Per currency, one ``kind == "group"`` row per group and one
        ``kind == "total"`` row (key columns ``<NA>``): ``volume_a``,
        ``fee_a``, ``volume_b``, ``fee_b`` (``Int64``), ``weight_a``,
        ``weight_b``, ``rate_a_bp``, ``rate_b_bp``, ``mix_bp``,
        ``rate_effect_bp``, ``change_bp`` (``Float64``). A currency without
        volume in one of the periods has ``<NA>`` weights and parts.

    Examples
    --------
    >>> tx = pd.DataFrame({
    ...     "type": ["payment"] * 4, "status": ["successful"] * 4,
    ...     "amount": pd.array([10_000, 10_000, 10_000, 30_000], dtype="Int64"),
    ...     "transaction_fee": pd.array([100, 300, 100, 900], dtype="Int64"),
    ...     "currency": ["EUR"] * 4, "payment.gateway_id": pd.array([1, 2, 1, 2], dtype="Int64"),
    ...     "created_at": pd.to_datetime(["2025-01-05", "2025-01-06", "2025-02-05", "2025-02-06"], utc=True)})
    >>> out = effective_rate_change(tx, ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01"))
    >>> out[["kind", "payment.gateway_id", "mix_bp", "rate_effect_bp", "change_bp"]]
        kind  payment.gateway_id  mix_bp  rate_effect_bp  change_bp
    0  group                   1   -25.0             0.0      -25.0
    1  group                   2    75.0             0.0       75.0
    2  total                <NA>    50.0             0.0       50.0
    """
    frame = require_frame(frame, "frame")
    kind = _frame_kind(frame, "frame")
    if by is None:
        by = ("gateway",) if kind == "transactions" else ("channel",)
    keys = _resolve_by(by, frame, kind)
    if FEE_TYPE in keys:
        raise ConfigurationError("by", by, "groups that split volume (not fee_type: fee types have no volume)")
    spans = _check_period(period_a, "period_a"), _check_period(period_b, "period_b")
    parts = _parts(frame, kind, keys, time=time, with_time=True)
    group = ["currency", *keys]
    both = _period_totals(parts, spans[0], group).merge(
        _period_totals(parts, spans[1], group), on=group, how="outer", suffixes=("_a", "_b"), sort=True
    )
    key_dtypes = {c: parts[c].dtype for c in group}
    both = both.astype(key_dtypes)
    money = ["volume_a", "fee_a", "volume_b", "fee_b"]
    both[money] = both[money].astype("Int64").fillna(0)
    rows = []
    for currency, lines in both.groupby("currency", sort=True, observed=True):
        rows.extend(_currency_rows(currency, lines.to_dict("records")))
    return _rate_change_frame(rows, key_dtypes, keys)


def _currency_rows(currency: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One currency's group rows and its total row, split exactly into mix and rate."""
    money = ("volume_a", "fee_a", "volume_b", "fee_b")
    totals = {m: sum(int(line[m]) for line in lines) for m in money}
    scale = {"total_a": totals["volume_a"], "total_b": totals["volume_b"]}
    groups = [{**line, "kind": "group", **_split(**{m: int(line[m]) for m in money}, **scale)} for line in lines]
    total = {"currency": currency, "kind": "total", **totals, **_split(**totals, **scale)}
    if total["mix_bp"] is not None:
        total["mix_bp"] = sum(g["mix_bp"] for g in groups)
        total["rate_effect_bp"] = sum(g["rate_effect_bp"] for g in groups)
    return [*groups, total]


def _rate_change_frame(rows: list[dict], key_dtypes: dict[str, Any], keys: list[str]) -> pd.DataFrame:
    floats = ["weight_a", "weight_b", "rate_a_bp", "rate_b_bp", "mix_bp", "rate_effect_bp", "change_bp"]
    for row in rows:
        row.update({c: None if row[c] is None else float(row[c]) for c in floats})
    dtypes = {"currency": key_dtypes["currency"], "kind": "str", **{k: key_dtypes[k] for k in keys}}
    dtypes.update({m: "Int64" for m in ("volume_a", "fee_a", "volume_b", "fee_b")})
    return _typed_frame(rows, {**dtypes, **{c: "Float64" for c in floats}})
