"""Rows the analysis cannot count: missing money and repeated ids, refused or dropped and counted.

A missing amount or fee is never read as 0 and a row given twice is never
counted twice. The caller chooses what happens to such rows with the
keyword ``invalid``, one name across the analysis functions:

- ``"raise"`` (the default): a ``ConfigurationError`` naming the column,
  the first offending rows (0-based positions in the caller's frame) or
  the repeated id, and what is expected;
- ``"drop"``: the rows are left out and counted in the result's
  ``attrs["dropped"]``, ``{parameter: {"missing_money": n, "duplicated_ids": m}}``
  (a repeated id keeps its first row).

Ids are checked with :func:`integer_ids` (:mod:`ledgerkit._ingest.kinds`):
integer dtypes, or floats and Python objects holding whole numbers; text or
fractional ids are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._ingest.kinds import integer_ids
from ..errors import ConfigurationError

__all__ = ["INVALID", "DROPPED", "Need", "check_invalid", "screen", "note_dropped", "integer_ids", "rows_text"]

#: The values of the ``invalid`` keyword.
INVALID: tuple[str, ...] = ("raise", "drop")
#: The ``attrs`` key of a result holding the counts of rows left out.
DROPPED = "dropped"
_SAMPLE = 5


def check_invalid(invalid: Any) -> str:
    """Validate the ``invalid`` keyword: ``"raise"`` or ``"drop"``.

    Examples
    --------
    >>> check_invalid("drop")
    'drop'
    """
    if not isinstance(invalid, str) or invalid not in INVALID:
        raise ConfigurationError(
            "invalid",
            invalid,
            "'raise' (refuse rows with missing money or repeated ids) or 'drop' "
            "(leave them out, counted in result.attrs['dropped'])",
        )
    return invalid


def rows_text(positions: np.ndarray) -> str:
    """Up to five row positions for a message, and how many there are in all.

    Examples
    --------
    >>> rows_text(np.arange(7))
    '[0, 1, 2, 3, 4, ... (7 rows in all)]'
    """
    shown = ", ".join(str(int(p)) for p in positions[:_SAMPLE])
    more = f", ... ({len(positions)} rows in all)" if len(positions) > _SAMPLE else ""
    return f"[{shown}{more}]"


def note_dropped(result: pd.DataFrame, **counts: dict[str, int]) -> pd.DataFrame:
    """``result`` with ``attrs["dropped"]`` = the counts of each input (keyword = the parameter's name).

    Examples
    --------
    >>> note_dropped(pd.DataFrame(), frame={"missing_money": 0, "duplicated_ids": 2}).attrs
    {'dropped': {'frame': {'missing_money': 0, 'duplicated_ids': 2}}}
    """
    result.attrs[DROPPED] = {name: dict(count) for name, count in counts.items()}
    return result


class Need(NamedTuple):
    """One money requirement: a column that must hold a value on the rows that count."""

    column: str
    rows: np.ndarray | None = None  # the rows where it counts (bool), None for every row
    what: str = "every row"  # those rows in words, for messages


def _missing(frame: pd.DataFrame, money: Sequence[Need], parameter: str, invalid: str) -> np.ndarray:
    """Rows that count and miss a money value (raises on the first column with one unless dropping)."""
    bad = np.zeros(len(frame), dtype=bool)
    for column, counted, what in money:
        missing = np.asarray(frame[column].isna(), dtype=bool)
        if counted is not None:
            missing = missing & counted
        if missing.any() and invalid == "raise":
            raise ConfigurationError(
                f"{parameter}[{column!r}]",
                f"<NA> at rows {rows_text(np.flatnonzero(missing))}",
                f"a value on every row that counts ({what}): a missing amount is never read as 0, "
                "nor a missing status, type, time or currency guessed; "
                "invalid='drop' leaves such rows out and counts them in result.attrs['dropped']",
            )
        bad |= missing
    return bad


def _repeated(ids: pd.Series, parameter: str, column: str, invalid: str) -> np.ndarray:
    """Rows whose id appeared on an earlier row (missing ids are not compared)."""
    repeated = (ids.duplicated(keep="first") & ids.notna()).to_numpy(dtype=bool)
    if repeated.any() and invalid == "raise":
        value = ids.iloc[int(np.flatnonzero(repeated)[0])]
        rows = np.flatnonzero((ids == value).fillna(False).to_numpy(dtype=bool))
        raise ConfigurationError(
            f"{parameter}[{column!r}]",
            f"id {value} at rows {rows_text(rows)}",
            "each id on one row only (a repeated row would be counted twice); "
            "invalid='drop' keeps the first and counts the others in result.attrs['dropped']",
        )
    return repeated


def screen(
    frame: pd.DataFrame,
    parameter: str,
    *,
    money: Sequence[Need],
    invalid: str,
    id_column: str | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``frame`` without the rows it cannot count, and how many were left out.

    Parameters
    ----------
    frame : DataFrame
        The caller's frame (its columns already checked).
    parameter : str
        The argument's name, for messages.
    money : sequence of Need
        ``(column, rows, what)``: a column that must hold a value on the
        rows that count (a bool array, or None for every row); ``what``
        names those rows in messages.
    invalid : {"raise", "drop"}
        Refuse (``ConfigurationError``) or drop and count.
    id_column : str, optional
        A column whose (non-missing) values must be unique over all rows.

    Returns
    -------
    (DataFrame, dict)
        The kept rows (the original index), and
        ``{"missing_money": n, "duplicated_ids": m}``.

    Examples
    --------
    >>> f = pd.DataFrame({"id": pd.array([1, 1, 2], dtype="Int64"), "fee": pd.array([3, 3, None], dtype="Int64")})
    >>> kept, counts = screen(f, "frame", money=[Need("fee")], id_column="id", invalid="drop")
    >>> kept.index.tolist(), counts
    ([0], {'missing_money': 1, 'duplicated_ids': 1})
    """
    missing = _missing(frame, money, parameter, invalid)
    repeated = np.zeros(len(frame), dtype=bool)
    if id_column is not None:
        ids = integer_ids(frame[id_column], f"{parameter}[{id_column!r}]")
        repeated = _repeated(ids, parameter, id_column, invalid) & ~missing
    counts = {"missing_money": int(missing.sum()), "duplicated_ids": int(repeated.sum())}
    if not (missing.any() or repeated.any()):
        return frame, counts
    return frame.loc[~(missing | repeated)], counts
