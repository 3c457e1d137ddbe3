""":func:`~ledgerkit.analysis.fees.fee_breakdown` on a Dask DataFrame: per-partition breakdowns, summed.

Every output column is a sum per group (``count``, ``fee``, ``vat``,
``volume_count``, ``volume``) or follows from those sums (the rates,
``fee_incl_vat``), so each partition runs the pandas ``fee_breakdown`` and
the sums of its lines are added up per group, exactly (``Int64``); the
rates are computed once from the totals.

Two things cross partitions:

- a statement ``VAT`` line belongs to the fee line of its transaction next
  to it: no partition boundary is left between two neighbouring rows of
  one ``transaction_id`` (or ``transaction``) -- the rows at the head of a
  partition that continue the previous partition's last transaction move
  to that partition (:func:`~ledgerkit.analysis._dask.runs.realigned`);
- a transaction ``id`` given twice counts once: ids found on more than one
  row of the whole frame are taken out of the partitions and their rows
  (all of them, in order) go through pandas together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...errors import ConfigurationError
from ..categories import CATEGORIES, category_codes
from ..fees import _bp
from ..fees import fee_breakdown as _pandas_fee_breakdown
from .partials import Piece, abs_totals, check_totals, meta_of, projected, raise_first, repeated_values, run_partials
from .runs import realigned
from .witness import gathered

__all__ = ["fee_breakdown"]

_FEE_TYPE = "fee_type"
_MEASURES = ("count", "fee", "vat", "volume_count", "volume")
#: What fee_breakdown reads besides the group keys and ``time`` (the other columns are not read from Parquet).
_STATEMENT_COLUMNS = ("type", "amount", "currency", "created", "transaction_id", "transaction")
_TRANSACTION_COLUMNS = ("id", "type", "status", "amount", "transaction_fee", "currency", "created_at")


def _income(part: pd.DataFrame) -> pd.DataFrame:
    """The statement rows that are volume (the one classifier: :mod:`~ledgerkit.analysis.categories`)."""
    return part.loc[category_codes(part["type"], list(CATEGORIES)) == CATEGORIES.index("income")]


def _partial(
    part: pd.DataFrame,
    options: dict[str, Any],
    volume_by: tuple[str, ...] | None,
    excluded: pd.Index | None,
    money: tuple[str, ...],
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    totals = abs_totals(part, money)
    if excluded is not None and len(excluded):
        part = part.loc[~part["id"].isin(excluded).to_numpy(dtype=bool)]
    lines = _pandas_fee_breakdown(part, **options)
    volumes = None if volume_by is None else _pandas_fee_breakdown(_income(part), **{**options, "by": volume_by})
    return lines, volumes, totals


def _sum_lines(lines: list[pd.DataFrame], group: list[str], measures: list[str]) -> pd.DataFrame:
    lines = [frame for frame in lines if len(frame)]
    if not lines:
        return pd.DataFrame(columns=[*group, *measures])
    both = pd.concat(lines, ignore_index=True)
    grouped = both.groupby(group, dropna=False, sort=True, observed=True)
    out = grouped[[m for m in measures if m != "vat"]].sum()
    if "vat" in measures:
        out["vat"] = grouped["vat"].sum(min_count=1)  # the VAT line has none: it stays NA
    return out.reset_index()


def _combined(template: pd.DataFrame, lines: list[pd.DataFrame], volumes: list[pd.DataFrame] | None) -> pd.DataFrame:
    columns = list(template.columns)
    group = columns[: columns.index("count")]
    statements = "vat" in columns
    measures = [m for m in _MEASURES if m in columns]
    out = _sum_lines(lines, group, measures)
    if volumes is not None:  # by fee type: a line's volume is that of its other keys, from every partition
        volume_group = [g for g in group if g != _FEE_TYPE]
        totals = _sum_lines(volumes, volume_group, ["volume_count", "volume"])
        out = out.drop(columns=["volume_count", "volume"]).merge(totals, on=volume_group, how="left")
    dtypes = template.dtypes.to_dict()
    typed = next((f for f in lines if len(f)), template)
    dtypes.update({c: typed[c].dtype for c in group})  # key dtypes as pandas gives them for these values
    out = out.loc[:, [c for c in columns if c in out.columns or c in measures]]
    for column in measures:
        out[column] = out[column].astype("Int64")
    out[["volume_count", "volume"]] = out[["volume_count", "volume"]].fillna(0)
    out["rate_bp"] = _bp(out["fee"], out["volume"])
    if statements:
        out["fee_incl_vat"] = out["fee"] + out["vat"]
        out["rate_incl_vat_bp"] = _bp(out["fee_incl_vat"], out["volume"])
    return out.loc[:, columns].astype(dtypes).reset_index(drop=True)


def _dropped(results: list[pd.DataFrame]) -> dict[str, int]:
    counts = {"missing_money": 0, "duplicated_ids": 0}
    for result in results:
        for key, value in result.attrs.get("dropped", {}).get("frame", {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    return counts


def fee_breakdown(
    frame: Any,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = None,
    time: str | None = None,
    invalid: str = "raise",
) -> pd.DataFrame:
    """:func:`ledgerkit.analysis.fees.fee_breakdown` of a Dask DataFrame (same arguments, same pandas result)."""
    options = {"by": by, "freq": freq, "time": time, "invalid": invalid}
    meta = meta_of(frame)
    template = _pandas_fee_breakdown(meta, **options)  # every check that needs no rows, before any work
    columns = list(template.columns)
    group = columns[: columns.index("count")]
    statements = "vat" in columns
    keys = tuple(g for g in group if g not in ("currency", "period", _FEE_TYPE))
    volume_by = keys if _FEE_TYPE in group else None
    money = ("amount",) if statements else ("amount", "transaction_fee")
    frame = projected(frame, [*(_STATEMENT_COLUMNS if statements else _TRANSACTION_COLUMNS), *keys, time or ""])

    excluded, witness = None, None
    if not statements and "id" in meta.columns:
        excluded = repeated_values(frame["id"])
        if len(excluded):
            witness = gathered(frame, frame["id"].isin(excluded))
    parts = realigned(frame, ("transaction_id", "transaction")) if statements else None
    pieces = run_partials(frame, _partial, options, volume_by, excluded, money, parts=parts)
    raise_first(pieces)
    check_totals([p.value[2] for p in pieces], "frame")
    lines = [p.value[0] for p in pieces]
    volumes = [p.value[1] for p in pieces] if volume_by is not None else None
    if witness is not None:
        rows, positions = witness
        try:
            extra = _pandas_fee_breakdown(rows, **options)
        except ConfigurationError as exc:  # named by the witness' rows: renumber them
            raise_first([Piece(None, len(rows), exc)], [lambda a: positions[a]])
        lines.append(extra)
        if volumes is not None:
            volumes.append(_pandas_fee_breakdown(rows, **{**options, "by": volume_by}))
    out = _combined(template, lines, volumes)
    out.attrs["dropped"] = {"frame": _dropped([*(p.value[0] for p in pieces), *lines[len(pieces) :]])}
    return out
