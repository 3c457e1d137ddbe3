"""Partitions that never cut between two neighbouring rows of one transaction.

A statement ``VAT`` line is counted with the fee line of its transaction
beside it. So that each partition holds both, the rows at the head of a
partition that continue the previous (non-empty) partition's last
transaction -- same ``transaction_id``, or same ``transaction`` -- move to
that partition, and on, if a whole partition is such a run. Linking on
either column, and on neighbours only, is the safe side: it can only move
rows that need not move, never leave a pair apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._common import arrow_text
from .partials import partitions, run_partials

__all__ = ["realigned"]


def _links(part: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``links[i]``: row ``i + 1`` continues the transaction of row ``i``."""
    links = np.zeros(max(len(part) - 1, 0), dtype=bool)
    for column in columns:
        links |= _same_as_previous(part[column])
    return links


def _same_as_previous(values: pd.Series) -> np.ndarray:
    """Whether each value but the first equals the one before it (missing never equals)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow" and len(values) > 1:
        import pyarrow.compute as pc

        array = arrow_text(values)
        return pc.equal(array[1:], array[:-1]).fill_null(False).to_numpy(zero_copy_only=False)
    found = pd.factorize(values, use_na_sentinel=True)[0]  # -1: missing
    return (found[1:] == found[:-1]) & (found[1:] >= 0)


def _edges(part: pd.DataFrame, columns: Sequence[str]) -> tuple[int, tuple, tuple, int]:
    """Row count, the first and last rows' keys, and how many leading rows form one linked run."""
    if not len(part):
        return 0, (), (), 0
    links = _links(part, columns)
    broken = np.flatnonzero(~links)
    run = int(broken[0]) + 1 if len(broken) else len(part)

    def keys(i: int) -> tuple:
        return tuple(None if pd.isna(part[c].iloc[i]) else part[c].iloc[i] for c in columns)

    return len(part), keys(0), keys(-1), run


def _linked(last: tuple, first: tuple) -> bool:
    return any(a is not None and a == b for a, b in zip(last, first, strict=True))


def _plan(edges: list[tuple[int, tuple, tuple, int]]) -> list[list[tuple[int, int, int]]]:
    """New partitions as lists of (old partition, start row, stop row)."""
    plan: list[list[tuple[int, int, int]]] = []
    tail: tuple | None = None
    for index, (rows, first, last, run) in enumerate(edges):
        if not rows:
            continue
        take = run if plan and tail is not None and _linked(tail, first) else 0
        if take:
            plan[-1].append((index, 0, take))
        if take < rows:
            plan.append([(index, take, rows)])
        tail = last
    return plan


def _rows(part: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    return part.iloc[start:stop]


def _assembled(part: pd.DataFrame, start: int, stop: int, *moved: pd.DataFrame) -> pd.DataFrame:
    frames = [part.iloc[start:stop], *moved]
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def realigned(frame: Any, columns: Sequence[str]) -> list[Any] | None:
    """The frame's partitions (delayed) with no transaction cut in two; None when nothing needs to move."""
    import dask

    present = [c for c in columns if c in frame.columns]
    if not present or frame.npartitions < 2:
        return None
    pieces = run_partials(frame[present], _edges, present)
    edges = [p.value for p in pieces]
    plan = _plan(edges)
    if all(len(new) == 1 and new[0][1] == 0 for new in plan):
        return None
    old = partitions(frame)
    out = []
    for (index, start, stop), *rest in plan:
        moved = [dask.delayed(_rows, pure=True)(old[i], a, b) for i, a, b in rest]  # sliced where read: only they move
        out.append(dask.delayed(_assembled, pure=True)(old[index], start, stop, *moved))
    return out
