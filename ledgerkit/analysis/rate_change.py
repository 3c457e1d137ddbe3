"""Effective rate change between two periods, split exactly into mix and rate.

:func:`effective_rate_change` (re-exported by :mod:`ledgerkit.analysis.fees`)
says how much of a change in a currency's effective rate comes from volume
moving between groups (mix) and how much from groups getting dearer or
cheaper (rate), computed with fractions over integer sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from ._accounts import per_account
from ._common import require_frame
from ._invalid import check_invalid, note_dropped
from .fee_parts import FEE_TYPE, _frame_kind, _parts, _resolve_by, _sum_by, _typed_frame

__all__ = ["effective_rate_change"]


def _check_period(value: Any, parameter: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A ``(start, end)`` pair as UTC timestamps with start < end; naive values are UTC."""
    expected = "a (start, end) pair of timestamps (text or datetimes) with start < end (half-open [start, end))"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigurationError(parameter, value, expected)
    if not all(isinstance(v, (str, datetime, date, np.datetime64)) for v in value):
        raise ConfigurationError(parameter, value, expected)  # a bare number has no unit: never guessed
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


class _Scale(NamedTuple):
    """Both periods' total volumes and period a's overall rate."""

    total_a: int
    total_b: int
    overall_a: Fraction | None


def _split(sums: Mapping[str, int], scale: _Scale) -> dict[str, Fraction | None]:
    """One group's weights, rates (bp) and its mix and rate parts of the change, exactly.

    ``sums`` holds the group's ``fee_a``, ``volume_a``, ``fee_b`` and
    ``volume_b``; ``scale.overall_a`` is period a's overall rate ``R_a``. The group's change is
    its contribution ``fee / total volume`` in b minus that in a, less
    ``(w_b - w_a) * R_a``: volume moving in from other groups at the
    average rate changes nothing. Its mix part is ``(w_b - w_a) * (r_a -
    R_a)`` and its rate part the rest, which equals ``w_b * (r_b - r_a)``
    whenever both rates exist. A group new in period b has ``r_a := r_b``
    (all mix); a group gone in b has mix ``-w_a * (r_a - R_a)`` (its rate
    part is its fees without volume in b, if any).
    """
    fa, va, fb, vb = sums["fee_a"], sums["volume_a"], sums["fee_b"], sums["volume_b"]
    total_a, total_b, overall_a = scale
    if not total_a or not total_b or overall_a is None:
        return {
            "weight_a": None,
            "weight_b": None,
            "rate_a_bp": _ratio(fa, va),
            "rate_b_bp": _ratio(fb, vb),
            "mix_bp": None,
            "rate_effect_bp": None,
            "change_bp": None,
        }
    wa, wb = Fraction(va, total_a), Fraction(vb, total_b)
    ra, rb = _ratio(fa, va), _ratio(fb, vb)
    base = ra if ra is not None else rb
    mix = (wb - wa) * (base - overall_a) if base is not None else Fraction(0)
    change = Fraction(fb * 10_000, total_b) - Fraction(fa * 10_000, total_a) - (wb - wa) * overall_a
    return {
        "weight_a": wa,
        "weight_b": wb,
        "rate_a_bp": ra,
        "rate_b_bp": rb,
        "mix_bp": mix,
        "rate_effect_bp": change - mix,
        "change_bp": change,
    }


def _ratio(fee: int, volume: int) -> Fraction | None:
    return Fraction(fee * 10_000, volume) if volume else None


@per_account("frame")
def effective_rate_change(
    frame: pd.DataFrame,
    period_a: tuple[Any, Any],
    period_b: tuple[Any, Any],
    *,
    by: str | Sequence[str] | None = None,
    time: str | None = None,
    invalid: str = "raise",
) -> pd.DataFrame:
    """Split the change in effective rate between two periods into mix and rate.

    Per currency, the effective rate ``R = fee / volume`` (basis points) is
    ``Σ w_g r_g`` over groups ``g`` with volume share ``w_g`` and rate
    ``r_g``. From period a to b::

        R_b - R_a = Σ (w_b - w_a) · (r_a - R_a)   (mix: volume moved between groups)
                  + Σ w_b · (r_b - r_a)           (rate: groups got dearer or cheaper)

    The mix of a group is centred on period a's overall rate ``R_a``
    (the totals are the same as without it, since ``Σ (w_b - w_a) = 0``):
    volume moving into a group dearer than average raises the rate, into a
    cheaper one lowers it, whichever group it left. A group's
    ``change_bp`` is its ``mix_bp + rate_effect_bp``: its contribution
    ``fee / total volume`` in b minus that in a, less ``(w_b - w_a) ·
    R_a``; the groups' changes add up to the total's.

    Computed exactly with fractions over integer sums, then given as floats,
    so ``mix_bp + rate_effect_bp == change_bp`` as closely as floats allow.
    A group with volume only in period b counts with ``r_a = r_b``: its whole
    effect is mix, ``w_b · (r_b - R_a)``. A group with volume only in
    period a has mix ``-w_a · (r_a - R_a)`` and no rate part. Fees without
    any volume in their group (a refund fee grouped by ``type``) count in
    the rate part.

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
    invalid : {"raise", "drop"}
        Rows with missing money where it counts, or a repeated transaction
        ``id``: refused (default) or left out and counted in
        ``attrs["dropped"]``, as in :func:`fee_breakdown`.

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
    0  group                   1    25.0             0.0       25.0
    1  group                   2    25.0             0.0       25.0
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
    parts, dropped = _parts(frame, kind, keys, time=time, with_time=True, invalid=check_invalid(invalid))
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
    return note_dropped(_rate_change_frame(rows, key_dtypes, keys), frame=dropped)


def _currency_rows(currency: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One currency's group rows and its total row, split exactly into mix and rate."""
    money = ("volume_a", "fee_a", "volume_b", "fee_b")
    totals = {m: sum(int(line[m]) for line in lines) for m in money}
    scale = _Scale(totals["volume_a"], totals["volume_b"], _ratio(totals["fee_a"], totals["volume_a"]))
    groups = [{**line, "kind": "group", **_split({m: int(line[m]) for m in money}, scale)} for line in lines]
    total = {"currency": currency, "kind": "total", **totals, **_split(totals, scale)}
    if total["mix_bp"] is not None:  # the groups' parts add up to the total's change exactly
        total["mix_bp"] = sum(g["mix_bp"] for g in groups)
        total["rate_effect_bp"] = sum(g["rate_effect_bp"] for g in groups)
    return [*groups, total]


def _rate_change_frame(rows: list[dict], key_dtypes: dict[str, Any], keys: list[str]) -> pd.DataFrame:
    floats = ["weight_a", "weight_b", "rate_a_bp", "rate_b_bp", "mix_bp", "rate_effect_bp", "change_bp"]
    for row in rows:
        row.update({c: None if row[c] is None else float(row[c]) for c in floats})
    dtypes = {"currency": key_dtypes["currency"], "kind": "str", **{k: key_dtypes[k] for k in keys}}
    dtypes.update(dict.fromkeys(("volume_a", "fee_a", "volume_b", "fee_b"), "Int64"))
    return _typed_frame(rows, {**dtypes, **dict.fromkeys(floats, "Float64")})
