""":func:`~ledgerkit.analysis.fees.fee_breakdown` on a Dask DataFrame: per-partition breakdowns, summed.

Every output column is a sum per group (``count``, ``fee``, ``vat``,
``volume_count``, ``volume``) or follows from those sums (the rates,
``fee_incl_vat``), so each partition runs the pandas ``fee_breakdown`` and
the sums of its lines are added up per group, exactly (``Int64``); the
rates are computed once from the totals. By fee type, a line's volume is
that of its other keys, over the whole frame: each partition sums its
income rows per those keys with one groupby (:func:`_volumes`, the numbers
pandas gives for them).

Two things cross partitions:

- a statement ``VAT`` line belongs to a fee line of its transaction
  (:func:`~ledgerkit.analysis.vat.vat_owners`: same ``transaction_id``, else
  same ``transaction``; nearness counted in the transaction's own fee and
  VAT lines), wherever in the frame that is. Each partition, read once,
  holds back the fee and VAT lines of the transactions at its edges (a
  sale a boundary cuts in two) with every line linked to them by either
  key, and breaks down the rest; the held lines of all partitions go
  through pandas together, in frame order, so each such transaction is
  decided whole. Whether a key with a line that stayed has a line in
  another partition too is then found from the partitions' hashed keys
  (:func:`~ledgerkit.analysis._dask.partials.unsettled`).
  If one has -- a chargeback fee months after its sale, far from any edge
  -- the partitions are read again and every line of those keys, and of
  the held ones, leaves its partition for pandas (closed over both keys);
- a transaction ``id`` given twice counts once: ids found on more than one
  row of the whole frame are taken out of the partitions and their rows
  (all of them, in order) go through pandas together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ConfigurationError
from .._common import check_freq, period_start, require_utc
from ..categories import CATEGORIES, category_codes
from ..fee_parts import TRANSACTION_KEYS, _plain_keys, _time_name
from ..fees import _bp
from ..fees import fee_breakdown as _pandas_fee_breakdown
from .partials import (
    Piece,
    abs_totals,
    bucketed,
    check_totals,
    hash_bits,
    kept_on_workers,
    meta_of,
    offsets_of,
    projected,
    raise_first,
    repeated_values,
    row_hashes,
    run_partials,
    sorted_distinct,
    unsettled,
)
from .witness import gathered

__all__ = ["fee_breakdown"]

_FEE_TYPE = "fee_type"
_MEASURES = ("count", "fee", "vat", "volume_count", "volume")
_VOLUME = ["volume_count", "volume"]
#: Fee and VAT lines at each end of a partition whose transactions go through pandas with the other partitions'.
_EDGE = 8
#: What fee_breakdown reads besides the group keys and ``time`` (the other columns are not read from Parquet).
_STATEMENT_COLUMNS = ("type", "amount", "currency", "created", "transaction_id", "transaction")
_TRANSACTION_COLUMNS = ("id", "type", "status", "amount", "transaction_fee", "currency", "created_at")


def _income(part: pd.DataFrame) -> pd.DataFrame:
    """The statement rows that are volume (the one classifier: :mod:`~ledgerkit.analysis.categories`)."""
    return part.loc[category_codes(part["type"], list(CATEGORIES)) == CATEGORIES.index("income")]


def _volumes(part: pd.DataFrame, options: dict[str, Any], volume_by: tuple[str, ...]) -> pd.DataFrame:
    """``volume_count`` and ``volume`` per currency, ``volume_by`` keys and period of a statements partition.

    What the pandas ``fee_breakdown`` of the partition's income rows by
    ``volume_by`` gives in those columns -- the income rows it counts
    (``invalid="drop"`` leaves out those with a missing amount, currency or
    time; ``"raise"`` has refused them already), keyed as it keys them --
    summed with one groupby instead of a second pass through the rules.
    """
    time = None if options["freq"] is None else _time_name(part, "statements", options["time"])
    income = _income(part)
    income = income.loc[income[["amount", "currency", *([time] if time else [])]].notna().all(axis=1).to_numpy()]
    labels = _plain_keys(income, ["currency", *volume_by])
    if time is not None:
        labels["period"] = period_start(require_utc(income, time, "frame"), check_freq(options["freq"]))
        labels["period"] = labels["period"].astype("datetime64[ns, UTC]")
    group = list(labels.columns)
    labels["volume_count"] = pd.array(np.ones(len(income), dtype="int64"), dtype="Int64")
    labels["volume"] = income["amount"].astype("Int64").array
    return labels.groupby(group, dropna=False, sort=True, observed=True, as_index=False)[_VOLUME].sum()


def _paired_lines(part: pd.DataFrame) -> np.ndarray:
    """The fee and VAT lines: the rows a VAT pairing looks at."""
    category = category_codes(part["type"], list(CATEGORIES))
    return (category == CATEGORIES.index("fees")) | (category == CATEGORIES.index("vat"))


def _first(keys: Any) -> np.ndarray:
    """The text hash of each key: the value each partition's keys are found repeated by."""
    return row_hashes(pd.DataFrame({"key": keys}))


def _final(first: np.ndarray) -> np.ndarray:
    """What :func:`repeated_in` makes of a first hash (it hashes the ``key`` column of the distinct keys)."""
    return row_hashes(pd.DataFrame({"key": first}))


def _line_keys(part: pd.DataFrame, columns: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per key column: the fee and VAT lines whose key is known (row numbers) and their keys' first hashes."""
    lines = _paired_lines(part)
    out = {}
    for column in columns:
        rows = np.flatnonzero(lines & part[column].notna().to_numpy(dtype=bool))
        out[column] = (rows, _first(part[column].iloc[rows]))
    return out


def _linked(keys: dict[str, tuple[np.ndarray, np.ndarray]], size: int, wanted: dict[str, np.ndarray]) -> np.ndarray:
    """Which of ``size`` rows are lines of a key in ``wanted`` (hashes per column, as ``keys`` holds them)."""
    out = np.zeros(size, dtype=bool)
    for column, (rows, hashes) in keys.items():
        if len(wanted.get(column, ())) and len(rows):
            out[rows[np.isin(hashes, wanted[column])]] = True
    return out


def _moving(part: pd.DataFrame, spanning: dict[str, np.ndarray]) -> np.ndarray:
    """Which rows are fee or VAT lines of a key in ``spanning`` (final hashes)."""
    keys = {c: (rows, _final(first)) for c, (rows, first) in _line_keys(part, list(spanning)).items()}
    return _linked(keys, len(part), spanning)


def _held(part: pd.DataFrame, keys: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The partition's rows decided with pandas across partitions: see :func:`_edge_partial`."""
    lines = np.flatnonzero(_paired_lines(part))
    held = np.zeros(len(part), dtype=bool)
    held[np.r_[lines[:_EDGE], lines[max(len(lines) - _EDGE, 0) :]]] = True
    while True:
        found = {c: sorted_distinct(hashes[held[rows]]) for c, (rows, hashes) in keys.items()}
        grown = held | _linked(keys, len(part), found)
        if np.array_equal(grown, held):
            return held
        held = grown


def _breakdown(
    part: pd.DataFrame, options: dict[str, Any], volume_by: tuple[str, ...] | None, leaving: np.ndarray | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, tuple[pd.DataFrame, np.ndarray] | None]:
    """The lines and volumes of the rows that stay, and the rows ``leaving`` (with their row numbers)."""
    moved, staying = None, np.arange(len(part))
    if leaving is not None and leaving.any():
        moved, staying = (part.iloc[np.flatnonzero(leaving)], np.flatnonzero(leaving)), np.flatnonzero(~leaving)
        part = part.iloc[staying]
    try:
        lines = _pandas_fee_breakdown(part, **options)
    except ConfigurationError:
        if moved is None:
            raise
        _pandas_fee_breakdown(pd.concat([part, moved[0]]).iloc[np.argsort(np.r_[staying, moved[1]])], **options)
        raise  # (the whole partition raises: its rows named as in the partition)
    volumes = None if volume_by is None else _volumes(part, options, volume_by)
    return lines, volumes, moved


def _partial(
    part: pd.DataFrame,
    options: dict[str, Any],
    volume_by: tuple[str, ...] | None,
    excluded: pd.Index | None,
    money: tuple[str, ...],
    spanning: dict[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict, tuple[pd.DataFrame, np.ndarray] | None]:
    totals = abs_totals(part, money)
    if excluded is not None and len(excluded):
        part = part.loc[~part["id"].isin(excluded).to_numpy(dtype=bool)]
    lines, volumes, moved = _breakdown(part, options, volume_by, _moving(part, spanning) if spanning else None)
    return lines, volumes, totals, moved


def _edge_partial(
    part: pd.DataFrame,
    options: dict[str, Any],
    volume_by: tuple[str, ...] | None,
    money: tuple[str, ...],
    columns: Sequence[str],
    bits: int,
) -> tuple[Any, ...]:
    """A statements partition's breakdown, its transactions at its edges held back for pandas, in one read.

    Held back: the fee and VAT lines of the transactions of its first and
    last ``_EDGE`` fee and VAT lines (a transaction a partition boundary
    cuts in two), and of every transaction linked to those by either key.
    Returns what :func:`_partial` does, then per key column the first
    hashes of the keys held back, and the bucketed keys of the lines that
    stay (:func:`~ledgerkit.analysis._dask.partials.bucketed`), from which
    :func:`~ledgerkit.analysis._dask.partials.unsettled` finds the keys the
    edges did not catch.
    """
    totals = abs_totals(part, money)
    keys = _line_keys(part, columns)
    held = _held(part, keys)
    lines, volumes, moved = _breakdown(part, options, volume_by, held)
    kept = {c: sorted_distinct(hashes[held[rows]]) for c, (rows, hashes) in keys.items()}
    stay = {
        c: bucketed(pd.DataFrame({"key": sorted_distinct(hashes[~held[rows]])}), ["key"], bits)
        for c, (rows, hashes) in keys.items()
    }
    return lines, volumes, totals, moved, kept, stay


def _edge_pieces(frame: Any, args: tuple[Any, ...], columns: list[str]) -> tuple[list[Piece], dict | None]:
    """The partitions' pieces with their edges held back, and None -- or the keys to move, if the edges missed some.

    One read of each partition (:func:`_edge_partial`); the keys to move
    are those that stayed in a partition and are found in another
    (:func:`~ledgerkit.analysis._dask.partials.unsettled`), and every key
    held anywhere.
    """
    bits = hash_bits(frame.npartitions)
    tasks, pieces = kept_on_workers(frame, _edge_partial, (*args, columns, bits), 5)
    _raise_first(pieces, meta_of(frame), args[0])
    held = {
        c: sorted_distinct(np.concatenate([np.zeros(0, "uint64"), *(p.value[4][c] for p in pieces)])) for c in columns
    }
    found = {c: unsettled(tasks, held[c], bits, 5, c) for c in columns}
    if not any(len(keys) for keys in found.values()):
        return pieces, None  # the held lines are whole transactions, and so are those that stayed
    return pieces, {c: sorted_distinct(np.concatenate([found[c], _final(held[c])])) for c in columns}


def _raise_first(pieces: list[Piece], meta: pd.DataFrame, options: dict[str, Any]) -> None:
    """:func:`~ledgerkit.analysis._dask.partials.raise_first`, with the rows that other partitions moved out too.

    A partition that fails names all its rows (:func:`_breakdown`); the
    rows the others moved out are checked here, so that the error names
    the rows pandas names on the whole frame.
    """
    if all(p.error is None for p in pieces):
        return
    rows, positions = _moved_rows(pieces, meta)
    try:
        _pandas_fee_breakdown(rows, **options)
    except ConfigurationError as exc:
        starts = offsets_of(pieces)
        moved = Piece(None, len(rows), exc)
        raise_first([*pieces, moved], [*((lambda a, s=s: a + s) for s in starts), lambda a: positions[a]])
    raise_first(pieces)


def _moved_rows(pieces: list[Piece], meta: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows the partitions handed back, in frame order, and their row numbers in the whole frame."""
    starts = offsets_of(pieces)
    found = [(p.value[3], start) for p, start in zip(pieces, starts, strict=True) if p.value and p.value[3]]
    if not found:
        return meta.iloc[:0], np.zeros(0, dtype="int64")
    rows = pd.concat([moved[0] for moved, _ in found], ignore_index=True)
    rows.attrs = dict(meta.attrs)
    return rows, np.concatenate([moved[1] + start for moved, start in found]).astype("int64")


def _closed(rows: pd.DataFrame, spanning: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """``spanning`` grown by the keys of ``rows`` it lacks (a moved line's other key), or None if it lacks none."""
    grown, lacking = {}, False
    for column, (_, first) in _line_keys(rows, list(spanning)).items():
        hashes = spanning[column]
        new = np.setdiff1d(sorted_distinct(_final(first)), hashes, assume_unique=True)
        lacking |= bool(len(new))
        grown[column] = sorted_distinct(np.concatenate([hashes, new]))
    return grown if lacking else None


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

    excluded, witness, spanning = None, None, None
    if not statements and "id" in meta.columns:
        excluded = repeated_values(frame["id"])
        if len(excluded):
            witness = gathered(frame, frame["id"].isin(excluded))
    pieces = None
    if statements and frame.npartitions > 1:  # in one read, unless the partitions' edges missed a transaction
        pieces, spanning = _edge_pieces(frame, (options, volume_by, money), [c for c in TRANSACTION_KEYS if c in meta])
        witness = _moved_rows(pieces, meta_of(frame))
    while pieces is None or spanning is not None:
        pieces = run_partials(frame, _partial, options, volume_by, excluded, money, spanning)
        _raise_first(pieces, meta_of(frame), options)
        if spanning is None:
            break
        witness = _moved_rows(pieces, meta_of(frame))
        spanning = _closed(witness[0], spanning)  # a moved line's other key links lines that stayed: again (rare)
    if witness is not None and not len(witness[0]):
        witness = None
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
