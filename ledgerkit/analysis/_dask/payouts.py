""":func:`~ledgerkit.analysis.payouts.payout_groups` on a Dask DataFrame: per-partition groups, combined by payout.

Each partition runs the pandas ``payout_groups``; a payout whose rows span
partitions (months) has a line in each, and the lines are combined per
payout id and currency: sums added up (``paid_out`` stays NA unless some
partition holds the ``PAYOUT`` row), ``first_created`` / ``last_created``
over the partitions that hold rows paid out (over all of them for a group
of ``PAYOUT`` rows only, as pandas does), ``paid_at`` the latest. Payouts
come in the order of their first row, the open balance last.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..payouts import _ACTIVITY
from ..payouts import payout_groups as _pandas_payout_groups
from .partials import abs_totals, check_totals, meta_of, projected, raise_first, run_partials

__all__ = ["payout_groups"]

_KEYS = ["payout_id", "currency"]
#: What payout_groups reads (the other columns are not read from Parquet).
_COLUMNS = ("created", "type", "amount", "currency", "payout_id")


def _partial(part: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    return _pandas_payout_groups(part), abs_totals(part, ("amount",))


def _span(lines: pd.DataFrame, grouped: Any, column: str, how: str) -> pd.Series:
    """``first_created`` / ``last_created``: over partitions with rows paid out, else over all."""
    paid_rows = lines.assign(**{column: lines[column].where(lines["rows"].gt(0))}).groupby(
        _KEYS, dropna=False, sort=False
    )[column]
    active = getattr(paid_rows, how)()
    return active.where(grouped["rows"].sum().gt(0), getattr(grouped[column], how)())


def payout_groups(statements: Any) -> pd.DataFrame:
    """:func:`ledgerkit.analysis.payouts.payout_groups` of a Dask DataFrame (the same pandas result)."""
    template = _pandas_payout_groups(meta_of(statements))
    pieces = run_partials(projected(statements, _COLUMNS), _partial)
    raise_first(pieces)
    check_totals([p.value[1] for p in pieces], "statements")
    lines = [p.value[0] for p in pieces if len(p.value[0])]
    if not lines:
        return template
    lines = pd.concat(lines, ignore_index=True)  # partitions in order, each in the order of its payouts' first rows
    lines = lines.iloc[lines["is_open"].to_numpy(dtype=bool).argsort(kind="stable")].reset_index(drop=True)
    grouped = lines.groupby(_KEYS, dropna=False, sort=False)
    out = grouped[["rows", *_ACTIVITY]].sum()
    out["is_open"] = grouped["is_open"].first()
    out["first_created"] = _span(lines, grouped, "first_created", "min")
    out["last_created"] = _span(lines, grouped, "last_created", "max")
    out["paid_at"] = grouped["paid_at"].max()
    out["net"] = out[list(_ACTIVITY)].sum(axis=1)
    out["paid_out"] = grouped["paid_out"].sum(min_count=1)
    out["residual"] = out["paid_out"] - out["net"]
    out = out.reset_index()
    return out.loc[:, list(template.columns)].astype(template.dtypes.to_dict()).reset_index(drop=True)
