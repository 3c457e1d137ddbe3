"""Fee contracts: the percent + fixed part behind each group's fees, and the fees charged off it.

:func:`fee_model` recovers, per group, the contract ``fee =
round_half_even(amount * percent / 100) + fixed`` (minor units) by a robust
fit that a minority of wrong fees cannot bend; :func:`fee_anomalies` lists
the transactions whose fee is off their group's contract. Both are
re-exported by :mod:`ledgerkit.analysis.fees`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import FEE_MODEL, TRANSACTIONS, frame_kind
from ..errors import ConfigurationError
from ._accounts import per_account
from ._common import require_frame
from ._invalid import Need, check_invalid, integer_ids, note_dropped, screen
from .fee_parts import SUCCESSFUL, VOLUME_TYPES, _check_money_values, _plain_keys, _resolve_by, _typed_frame

__all__ = ["fee_model", "fee_anomalies"]

_SCALE = 10**6  # percent with 4 decimals as an integer P: amount * P / 10**6
_MODEL_STATS = tuple(c.name for c in FEE_MODEL.fields if c.name != "currency")
_FIT_SAMPLE = 300
_MAX_WINDOW = 20_000


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
    candidates, fixed, score, distance = (np.concatenate(parts) for parts in zip(*windows, strict=True))
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


def _model_rows(transactions: pd.DataFrame, keys: list[str], invalid: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows a contract is fitted on: successful payments/captures with an amount > 0.

    Their status, type, amount, fee and currency must be there (a fee is
    never guessed), and each transaction ``id`` on one row: refused or
    dropped and counted, as ``invalid`` says.
    """
    successful = transactions["status"].eq(SUCCESSFUL).fillna(False).to_numpy(dtype=bool)
    volume = successful & transactions["type"].isin(VOLUME_TYPES).to_numpy(dtype=bool)
    what = "successful payments and captures"
    needs = [Need("status", None, "every transaction"), Need("type", successful, "successful transactions")]
    needs += [Need(c, volume, what) for c in ("amount", "transaction_fee", "currency")]
    id_column = "id" if "id" in transactions.columns else None
    kept, dropped = screen(transactions, "transactions", money=needs, invalid=invalid, id_column=id_column)
    eligible = (
        kept["status"].eq(SUCCESSFUL).fillna(False)
        & kept["type"].isin(VOLUME_TYPES)
        & kept["amount"].gt(0).fillna(False)
    ).to_numpy(dtype=bool)
    rows = kept.loc[eligible]
    out = _plain_keys(rows, keys)
    for column in ("id", "amount", "transaction_fee"):
        if column in rows:
            out[column] = (
                integer_ids(rows[column], f"transactions[{column!r}]")
                if column == "id"
                else (rows[column].astype("Int64"))
            )
    return out.reset_index(drop=True), dropped


def _check_tolerance(tolerance: Any) -> int:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, np.integer)) or tolerance < 0:
        raise ConfigurationError("tolerance", tolerance, "a whole number of minor units >= 0")
    return int(tolerance)


def _model_keys(
    by: Any, transactions: pd.DataFrame, *, needs: tuple[str, ...] = (), labels: tuple[str, ...] = ()
) -> list[str]:
    """The group keys (currency last), once ``transactions`` is checked to hold them and what a fit needs."""
    frame_kind(transactions, "transactions", (TRANSACTIONS,))
    TRANSACTIONS.check(transactions, "transactions", (*TRANSACTIONS.required, *needs), uses=("id",), labels=labels)
    _check_money_values(transactions, ["amount", "transaction_fee"], "transactions")
    return [*_resolve_by(by, transactions, "transactions"), "currency"]  # currency left out by _resolve_by: last


@per_account("transactions")
def fee_model(
    transactions: pd.DataFrame,
    *,
    by: str | Sequence[str] = ("payment.gateway_id", "credit_card.brand", "currency"),
    tolerance: int = 1,
    invalid: str = "raise",
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
    invalid : {"raise", "drop"}
        A successful payment or capture without ``amount``,
        ``transaction_fee`` or ``currency``, a transaction without
        ``status`` (or ``type``, when successful), or an ``id`` on more than
        one row: refused (default), or left out and counted in the result's
        ``attrs["dropped"]`` (``{"transactions": {"missing_money": n,
        "duplicated_ids": m}}``).

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
    rows, dropped = _model_rows(transactions, keys, check_invalid(invalid))
    records = [
        {**dict(zip(keys, label, strict=True)), **_group_model(group, tolerance)}
        for label, group in rows.groupby(keys, dropna=False, sort=True, observed=True)
    ]
    out = _typed_frame(
        records,
        {
            **{k: rows[k].dtype for k in keys},
            "percent": "Float64",
            "fixed": "Int64",
            "n": "Int64",
            "n_explained": "Int64",
        },
    )
    out["share_explained"] = (out["n_explained"] / out["n"]).astype("Float64")
    return note_dropped(out, transactions=dropped)


def _check_model_values(model: pd.DataFrame) -> None:
    """Finite percents (the types are checked by :data:`FEE_MODEL`)."""
    if not np.isfinite(model["percent"].dropna().to_numpy(dtype="float64")).all():
        raise ConfigurationError("model['percent']", "inf", "finite percents (NA for no contract)")


def _contracts(model: pd.DataFrame, keys: list[str], rows: pd.DataFrame) -> pd.DataFrame:
    """The model's contracts keyed like ``rows``, one per group; groups without a contract left out."""
    _check_model_values(model)
    keyed = _plain_keys(model, keys)
    for key in keys:
        mine, theirs = keyed[key].dtype, rows[key].dtype
        if pd.api.types.is_numeric_dtype(mine) != pd.api.types.is_numeric_dtype(theirs):
            raise ConfigurationError(
                f"model[{key!r}]", str(mine), f"values of the same kind as transactions[{key!r}] ({theirs})"
            )
    repeated = keyed.duplicated().to_numpy(dtype=bool)
    if repeated.any():
        group = {k: keyed[k].iloc[int(np.flatnonzero(repeated)[0])] for k in keys}
        raise ConfigurationError(
            "model", f"<more than one contract for {group}>", "one contract per group (a fee_model result)"
        )
    contracts = keyed.assign(
        _percent=(model["percent"].astype("Float64") * 10_000).round().astype("Int64").array,
        _fixed=model["fixed"].astype("Int64").array,
    )
    return contracts.loc[contracts["_percent"].notna() & contracts["_fixed"].notna()]


@per_account("transactions", "model")
def fee_anomalies(
    transactions: pd.DataFrame, model: pd.DataFrame, *, tolerance: int = 1, invalid: str = "raise"
) -> pd.DataFrame:
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
    invalid : {"raise", "drop"}
        As for :func:`fee_model`: rows with missing money or a repeated
        ``id`` are refused, or left out and counted in ``attrs["dropped"]``.

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
    FEE_MODEL.check(model, "model", FEE_MODEL.required)
    model_keys = tuple(c for c in model.columns if c not in _MODEL_STATS)
    keys = _model_keys(model_keys, transactions, needs=("id",), labels=model_keys)
    rows, dropped = _model_rows(transactions, keys, check_invalid(invalid))
    contracts = _contracts(model, keys, rows)
    judged = rows.merge(contracts, on=keys, how="inner", validate="many_to_one")
    expected = (
        pd.Series(
            _round_share(judged["amount"].to_numpy(dtype="int64"), judged["_percent"].to_numpy(dtype="int64")),
            index=judged.index,
            dtype="Int64",
        )
        + judged["_fixed"]
    )
    out = judged.assign(expected_fee=expected, actual_fee=judged["transaction_fee"])
    out["difference"] = out["actual_fee"] - out["expected_fee"]
    out = out.loc[out["difference"].abs().gt(tolerance)]
    columns = [
        "id",
        *[k for k in keys if k != "currency"],
        "currency",
        "amount",
        "expected_fee",
        "actual_fee",
        "difference",
    ]
    return note_dropped(out.sort_values("id").loc[:, columns].reset_index(drop=True), transactions=dropped)
