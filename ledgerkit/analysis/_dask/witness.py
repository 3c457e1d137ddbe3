"""Rows gathered from a Dask frame into pandas, with their row numbers in the whole frame.

For the few rows whose treatment depends on rows far away in other
partitions -- every row of an id given more than once -- the Dask paths
bring those rows together, in order, and let the pandas code decide.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .partials import meta_of, offsets_of, run_partials

__all__ = ["gathered"]


_MARK = "__ledgerkit_chosen__"


def _marked(part: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    return part.assign(**{_MARK: np.asarray(mask, dtype=bool)})  # by position: the index may repeat


def _rows(part: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    chosen = np.flatnonzero(part[_MARK].to_numpy(dtype=bool))
    return part.drop(columns=_MARK).iloc[chosen], chosen


def gathered(frame: Any, mask: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``frame`` where the Dask boolean series ``mask`` holds, and their whole-frame row numbers."""
    import dask

    parts = [dask.delayed(_marked)(p, m) for p, m in zip(frame.to_delayed(), mask.to_delayed(), strict=True)]
    pieces = run_partials(frame, _rows, parts=parts)
    starts = offsets_of(pieces)
    frames = [p.value[0] for p in pieces]
    rows = pd.concat(frames, ignore_index=True) if frames else meta_of(frame).iloc[:0]
    rows.attrs = dict(getattr(meta_of(frame), "attrs", {}) or {})
    positions = np.concatenate([p.value[1] + s for p, s in zip(pieces, starts, strict=True)] or [np.zeros(0, "int64")])
    return rows, positions.astype("int64")
