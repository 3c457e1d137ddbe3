"""Many-account frames in the analysis: the account is a grouping key, exactly like the currency.

A frame from ``load_*(accounts=...)`` (:mod:`ledgerkit.many_accounts`) has
an ``account`` column first. Two accounts' rows never meet in one result
line: MakeCommerce statements carry no account id, so two accounts'
chains in one currency would read as one broken chain; payout ids and
transaction ids are per account and may collide. So a function decorated
with :func:`per_account` runs once per account on that account's rows (the
``account`` column dropped, rows in the caller's order) and returns the
results one after the other, accounts in sorted order, with an ``account``
column (``str``) first. The result for one account is by construction the
result of its frame analysed alone.

Rules, the same for every analysis function:

- a frame without an ``account`` column gives exactly the function's
  result (nothing here runs);
- the frames of one call (transactions and balance records, statements
  and an opening-balance frame, transactions and a fee model) either all
  carry ``account`` or none does: one with and one without is a
  ``ConfigurationError`` naming the one without (a dict of openings per
  currency cannot say which account it opens);
- a missing ``account`` value is a ``ConfigurationError`` naming the row:
  the row's account is unknown, and guessing it would put its money in
  someone else's books;
- an account present in only one of the frames is analysed with the
  other frame's rows empty (its transactions all ``only_in_transactions``);
- ``position`` columns (the caller's row numbers) stay whole-frame row
  numbers; ``attrs["dropped"]`` counts are added up over accounts; an error
  raised for one account's rows says which account (its row numbers
  count that account's rows).

Dask frames are split the same way (one filtered pass per account; the
account names are read with one small computation first).

Examples
--------
>>> import pandas as pd
>>> @per_account("frame")
... def total(frame):
...     return frame.groupby("currency", as_index=False)["amount"].sum()
>>> f = pd.DataFrame({"account": ["b", "a", "b"], "currency": ["EUR"] * 3, "amount": [1, 2, 3]})
>>> total(f).values.tolist()
[['a', 'EUR', 2], ['b', 'EUR', 4]]
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .._ingest.schema import ACCOUNT_COLUMN
from ..errors import ConfigurationError

__all__ = ["ACCOUNT", "per_account", "has_account"]

#: The column naming the account of each row of a many-account frame.
ACCOUNT = ACCOUNT_COLUMN.name
#: Result columns holding row numbers of the caller's frame.
_POSITIONS = ("position",)


def _records(value: Any) -> Any:
    """The frame of ``value``: itself, or the ``.records`` of a balance report."""
    if isinstance(value, pd.DataFrame) or hasattr(value, "__dask_graph__"):
        return value
    return getattr(value, "records", value)


def _is_report(value: Any) -> bool:
    return not isinstance(value, pd.DataFrame) and not hasattr(value, "__dask_graph__") and hasattr(value, "records")


def has_account(value: Any) -> bool:
    """Whether ``value`` (a frame, a Dask frame or a report's ``.records``) has an ``account`` column.

    Examples
    --------
    >>> has_account(pd.DataFrame({"account": ["eu"]})), has_account({"EUR": 0}), has_account(None)
    (True, False, False)
    """
    columns = getattr(_records(value), "columns", None)
    return columns is not None and ACCOUNT in columns


def _frames_of(name: str, value: Any) -> dict[str, Any]:
    """The frames inside argument ``name`` that must say their account: a frame, or a report's two sheets."""
    if not _is_report(value):
        return {name: value}
    opening = getattr(value, "opening_balance", None)
    return {f"{name}.records": value.records, **({} if opening is None else {f"{name}.opening_balance": opening})}


def _check_all_or_none(values: Mapping[str, Any]) -> bool:
    """True when the frames carry ``account``; a ``ConfigurationError`` when some do and some do not."""
    given = {
        label: has_account(frame)
        for name, value in values.items()
        if value is not None
        for label, frame in _frames_of(name, value).items()
    }
    if not any(given.values()):
        return False
    without = [label for label, flag in given.items() if not flag]
    if without:
        having = next(label for label, flag in given.items() if flag)
        raise ConfigurationError(
            without[0],
            "<without an 'account' column>",
            f"an 'account' column, as {having!r} has one (a many-account frame is analysed per account: "
            "every frame of the call must say which account each row is from)",
        )
    return True


def _names(frame: Any, parameter: str) -> list[str]:
    """The distinct accounts of ``frame`` as text; a missing account is refused, naming the first such row."""
    if hasattr(frame, "__dask_graph__"):
        import dask

        missing, found = dask.compute(frame[ACCOUNT].isna().sum(), frame[ACCOUNT].dropna().unique())
        if int(missing):
            raise ConfigurationError(f"{parameter}[{ACCOUNT!r}]", f"<NA> on {int(missing)} rows", _ACCOUNT_EXPECTED)
        return sorted({str(v) for v in found.tolist()})
    values = frame[ACCOUNT]
    missing = values.isna().to_numpy(dtype=bool)
    if missing.any():
        raise ConfigurationError(
            f"{parameter}[{ACCOUNT!r}]", f"<NA> at row {int(np.flatnonzero(missing)[0])}", _ACCOUNT_EXPECTED
        )
    return sorted({str(v) for v in values.unique().tolist()})


_ACCOUNT_EXPECTED = (
    "an account name on every row of a many-account frame (a row of no known account cannot be put in anyone's books)"
)


def _mask(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[ACCOUNT].astype("str").eq(name).to_numpy(dtype=bool, na_value=False)


class _Rows(dict):
    """Row numbers of each account of each pandas frame of one call: one sort per frame, not a scan per account."""

    def of(self, frame: pd.DataFrame, name: str) -> np.ndarray:
        if id(frame) not in self:
            found, names = pd.factorize(frame[ACCOUNT].astype("str"))
            order = np.argsort(found, kind="stable")
            bounds = np.searchsorted(found[order], np.arange(len(names) + 1))
            self[id(frame)] = {str(n): order[a:b] for n, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)}
        return self[id(frame)].get(name, np.empty(0, dtype="int64"))


def _rows_of(frame: Any, name: str, rows: _Rows) -> Any:
    """The rows of account ``name``, without the ``account`` column (pandas or Dask)."""
    if hasattr(frame, "__dask_graph__"):
        return frame[frame[ACCOUNT].astype("str") == name].drop(columns=ACCOUNT)
    return frame.iloc[rows.of(frame, name)].drop(columns=ACCOUNT)


def _part(value: Any, name: str, rows: _Rows) -> Any:
    """``value`` narrowed to one account: a frame, or a report whose records and opening are narrowed."""
    if value is None or not (_is_report(value) or has_account(value)):
        return value
    if _is_report(value):
        opening = getattr(value, "opening_balance", None)
        return SimpleNamespace(
            records=_rows_of(value.records, name, rows),
            opening_balance=None if opening is None else _rows_of(opening, name, rows),
        )
    return _rows_of(value, name, rows)


def _dask_positions(frame: Any, name: str) -> _RunPositions:
    """Whole-frame row numbers of account ``name``'s rows in a Dask frame, as (start, length) runs.

    Each partition sends back the runs of its rows of the account (one run
    per partition when the frame is partitioned by account), never a
    number per row.
    """

    def runs(part: pd.DataFrame) -> pd.DataFrame:
        mine = np.r_[False, _mask(part, name), False]
        edges = np.flatnonzero(mine[1:] != mine[:-1])
        starts, lengths = np.r_[0, edges[0::2]], np.r_[0, edges[1::2] - edges[0::2]]  # a first empty run: the size
        return pd.DataFrame({"start": starts, "length": lengths, "rows": len(part)})

    meta = pd.DataFrame(
        {"start": pd.Series(dtype="int64"), "length": pd.Series(dtype="int64"), "rows": pd.Series(dtype="int64")}
    )
    import dask

    return _RunPositions.of(dask.compute(*frame[[ACCOUNT]].map_partitions(runs, meta=meta).to_delayed()))


class _RunPositions:
    """Row numbers given as runs: maps the k-th row of the account to its whole-frame row number."""

    def __init__(self, starts: np.ndarray, lengths: np.ndarray) -> None:
        self.starts, self.ends = starts, np.cumsum(lengths)

    @classmethod
    def of(cls, parts: Sequence[pd.DataFrame]) -> _RunPositions:
        """Runs of every partition, moved by the rows of the partitions before it."""
        offsets = np.r_[0, np.cumsum(np.asarray([_size(p) for p in parts], dtype="int64"))][:-1]
        starts = [p["start"].to_numpy(dtype="int64") + o for p, o in zip(parts, offsets, strict=True)]
        lengths = [p["length"].to_numpy(dtype="int64") for p in parts]
        return cls(np.concatenate(starts or [np.empty(0, "int64")]), np.concatenate(lengths or [np.empty(0, "int64")]))

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        run = np.searchsorted(self.ends, positions, side="right")
        before = np.r_[0, self.ends][run]
        return self.starts[run] + (positions - before)


def _size(part: pd.DataFrame) -> int:
    """Rows of the partition a runs frame describes."""
    return int(part["rows"].iloc[0])


def _positions(frame: Any, name: str, rows: _Rows) -> Any:
    """Whole-frame row numbers of account ``name``'s rows, indexable by the account's own row numbers."""
    if hasattr(frame, "__dask_graph__"):
        return _dask_positions(frame, name)
    return rows.of(frame, name)


def _labelled(result: pd.DataFrame, name: str, positions: Callable[[], Any]) -> pd.DataFrame:
    """One account's result with ``account`` first and its ``position`` columns made whole-frame row numbers."""
    out = result.copy()
    for column in _POSITIONS:
        if column in out.columns and len(out):
            known = out[column].notna().to_numpy(dtype=bool)
            mapped = out[column].to_numpy(dtype="int64", na_value=0)
            mapped[known] = positions()[mapped[known]]
            out[column] = pd.Series(mapped, index=out.index, dtype="Int64").mask(~known).astype(out[column].dtype)
    columns = [c for c in out.columns if c != ACCOUNT]
    out.insert(0, ACCOUNT, pd.array([name] * len(out), dtype="str"))
    return out[[ACCOUNT, *columns]]


def _dropped(results: Sequence[pd.DataFrame]) -> dict[str, dict[str, int]] | None:
    """``attrs["dropped"]`` of the accounts' results, added up per parameter and reason."""
    found = [r.attrs["dropped"] for r in results if "dropped" in r.attrs]
    if not found:
        return None
    total: dict[str, dict[str, int]] = {}
    for counts in found:
        for parameter, reasons in counts.items():
            mine = total.setdefault(parameter, {})
            for reason, count in reasons.items():
                mine[reason] = mine.get(reason, 0) + int(count)
    return total


def _combined(results: list[pd.DataFrame]) -> pd.DataFrame:
    """The accounts' results one after the other (empty ones only shape the columns)."""
    shown = [r for r in results if len(r)] or results[:1]
    out = pd.concat(shown, ignore_index=True)
    dropped = _dropped(results)
    out.attrs = {} if dropped is None else {"dropped": dropped}
    return out


def _in_account(error: ConfigurationError, name: str) -> ConfigurationError:
    """``error`` saying which account's rows it is about (row numbers count that account's rows)."""
    text = f"{error} (account {name!r}; rows are numbered within that account's rows)"
    out = ConfigurationError(error.parameter, error.value, error.expected)
    out.args = (text,)
    return out


def per_account(
    *parameters: str, absent_in_some: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate an analysis function so that frames with an ``account`` column are analysed per account.

    ``parameters`` name the function's frame arguments (frames, Dask frames,
    balance reports, or for ``opening`` a dict); see the module docstring
    for the rules. Row numbers in ``position`` columns refer to the first.
    ``absent_in_some`` names an argument (``payout_id``) that some accounts
    may not have: they add no rows, and only an argument no account has is
    refused.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def entry(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return function(*args, **kwargs)  # let the function say what is wrong
            values = {name: bound.arguments.get(name) for name in parameters}
            if not _check_all_or_none(values):
                return function(*args, **kwargs)
            frames = {name: _records(value) for name, value in values.items() if value is not None}
            names = sorted({n for parameter, frame in frames.items() for n in _names(frame, parameter)})
            first = frames[parameters[0]]
            results, refused, rows = [], [], _Rows()
            for name in names:
                call = {**bound.arguments, **{p: _part(v, name, rows) for p, v in values.items() if v is not None}}
                try:
                    result = function(**call)
                except ConfigurationError as error:
                    if absent_in_some is None or error.parameter != absent_in_some:
                        raise _in_account(error, name) from error
                    refused.append(_in_account(error, name))
                    continue
                results.append(_labelled(result, name, functools.cache(lambda n=name: _positions(first, n, rows))))
            if refused and not results:
                raise refused[0]
            if not names:  # no rows at all: the function's columns, with an account column
                call = {**bound.arguments, **{p: _empty_part(v) for p, v in values.items() if v is not None}}
                return _labelled(function(**call), "", lambda: np.empty(0, dtype="int64"))
            return _combined(results)

        return entry

    return decorate


def _empty_part(value: Any) -> Any:
    """``value`` with no rows (a frame of no account): the result's columns, without a row."""
    if _is_report(value):
        opening = getattr(value, "opening_balance", None)
        return SimpleNamespace(
            records=_records(value).iloc[:0].drop(columns=ACCOUNT),
            opening_balance=None if opening is None else opening.iloc[:0].drop(columns=ACCOUNT),
        )
    if hasattr(value, "__dask_graph__"):
        return value.drop(columns=ACCOUNT).head(0, npartitions=-1, compute=True)
    return value.iloc[:0].drop(columns=ACCOUNT)
