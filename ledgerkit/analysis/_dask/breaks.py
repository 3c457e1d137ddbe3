""":func:`~ledgerkit.analysis.breaks.check_balances` on a Dask DataFrame: the rows that hold, folded away.

A break is named from a row and its neighbours in its chain. So each
partition keeps, per chain, every row that does not hold on its own or
with the row before it (a wrong amount or balance, a balance that does
not follow, an earlier time, a net that is not amount - fee), the rows
right before and after each of those, and its first and last row (whose
neighbours are in the partitions around it); each run of rows in between,
all of which hold, becomes one *bridge* row: from the balance before the
run to the balance after it, at the run's last time. A bridge holds, so
it is never named, and the rows around it see the same neighbour
balances and times as in the whole chain. The pandas ``check_balances``
of the kept rows and bridges, in order, names exactly the breaks of the
whole frame; their positions are mapped back to whole-frame rows.

A row repeated anywhere in the frame (the same id in the same chain, or
every field the same when there is no id) is left out of the chain by
pandas: rows that may be repeats (a hash per row of only the columns that
make a repeat, seen twice) are kept, with the chain rows around them, so
that pandas decides. Each partition, read once, keeps those it finds
itself; whether a row's hash is also in another partition is found in
the same computation (its distinct hashes, merged by bucket of the hash
space). If one is, the repeats are found over the whole frame first
(:func:`~ledgerkit.analysis._dask.partials.repeated_hashes`) and the
partitions read again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._common import codes
from .._ledger import Ledger, chain_codes, ledger_of
from ..breaks import check_balances as _pandas_check_balances
from .balance import FLOWS, LEDGER_COLUMNS, records_of, with_opening
from .partials import (
    Piece,
    abs_totals,
    bucketed,
    check_totals,
    distinct_and_repeats,
    hash_bits,
    head,
    meta_of,
    offsets_of,
    partial_tasks,
    picked,
    projected,
    raise_first,
    repeated_hashes,
    repeated_tasks,
    row_hashes,
    run_partials,
    sorted_distinct,
)

__all__ = ["check_balances"]


def _within(mask: np.ndarray, same: np.ndarray, step: int) -> np.ndarray:
    """``mask`` moved one row along the chain order (+1: to the next row, -1: to the previous), inside chains."""
    out = np.zeros_like(mask)
    if step > 0:
        out[1:] = mask[:-1] & same
    else:
        out[:-1] = mask[1:] & same
    return out


def _holding(ledger: Ledger, order: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Which rows of the chain order hold on their own and with the row before (a chain's first row: unknown)."""
    assert ledger.after is not None, "check_balances refuses frames without balance_after first"
    after, change = ledger.after[order], ledger.change[order]
    prev = np.r_[0, after[:-1]]
    if ledger.before is not None:
        before = ledger.before[order]
        bad = (after - before - change != 0) | (before - prev != 0)
    else:
        bad = after - prev - change != 0
    created = ledger.created.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]")[order]
    bad[1:] |= created[1:] < created[:-1]
    if ledger.net_gap is not None:
        bad |= ledger.net_gap[order] != 0
    return ~(bad | first)


def _around_repeats(chain: np.ndarray, order: np.ndarray, repeats: np.ndarray, width: int) -> np.ndarray:
    """Chain-order rows next to each possible repeat: the one before, and the two after."""
    keep = np.zeros(len(order), dtype=bool)
    if not len(repeats) or not len(order):
        return keep
    keys = chain[order] * width + order
    found = np.searchsorted(keys, chain[repeats] * width + repeats)
    for shift in (-1, 0, 1):
        at = found + shift
        inside = (at >= 0) & (at < len(order))
        at = at[inside]
        keep[at[chain[order[at]] == chain[repeats[inside]]]] = True
    return keep


def _bridges(
    part: pd.DataFrame, ledger: Ledger, order: np.ndarray, kept: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per run of folded rows: the balance before the run to the balance after it, at its last time."""
    folded = ~kept
    ends = np.flatnonzero(folded & np.r_[kept[1:], True])
    starts = np.flatnonzero(folded & np.r_[True, kept[:-1]])
    assert ledger.after is not None, "check_balances refuses frames without balance_after first"
    after = ledger.after[order]
    bridges = part.iloc[order[ends]].copy()
    moved = after[ends] - after[starts - 1]
    bridges["amount"] = pd.array(moved, dtype=part["amount"].dtype)
    if "balance_before" in part.columns:
        bridges["balance_before"] = pd.array(after[starts - 1], dtype=part["balance_before"].dtype)
    if "fee" in part.columns:
        bridges["fee"] = pd.array(np.zeros(len(ends), dtype="int64"), dtype=part["fee"].dtype)
    if "net" in part.columns:
        bridges["net"] = pd.array(moved, dtype=part["net"].dtype)
    return bridges, order[ends]


def _reduced(
    part: pd.DataFrame, repeats_of: np.ndarray, hashed: list[str] | None, hashes: np.ndarray | None = None
) -> tuple:
    """The partition's rows that matter to the check, bridges between them, and where each came from."""
    totals = abs_totals(part, FLOWS)
    ledger = ledger_of(part, "statements")
    chain = chain_codes(ledger, codes(part["currency"])[0])
    maybe = np.zeros(len(part), dtype=bool)
    if len(repeats_of):
        maybe = np.isin(row_hashes(part, hashed) if hashes is None else hashes, repeats_of)
    members = np.flatnonzero(~maybe)
    order = members[np.lexsort((members, chain[members]))]
    same = chain[order][1:] == chain[order][:-1]
    first, last = np.r_[True, ~same], np.r_[~same, True]
    broken = ~_holding(ledger, order, first)
    kept = broken | last | _within(broken, same, 1) | _within(broken, same, -1)
    kept |= _around_repeats(chain, order, np.flatnonzero(maybe), len(part) + 1)
    bridges, bridge_at = _bridges(part, ledger, order, kept)
    rows = np.sort(np.concatenate([order[kept], np.flatnonzero(maybe)]))
    out = pd.concat([part.iloc[rows], bridges], ignore_index=True)
    at = np.concatenate([rows, bridge_at])
    rank = np.argsort(at, kind="stable")
    source = np.concatenate([rows, np.full(len(bridge_at), -1)])[rank]
    return out.iloc[rank].reset_index(drop=True), source, np.isin(source, np.flatnonzero(maybe)), totals


def _reduced_alone(part: pd.DataFrame, hashed: list[str] | None, bits: int) -> tuple:
    """:func:`_reduced` with the repeats found in the partition itself, then its distinct row hashes bucketed.

    Right for the whole frame when no row hash of the partition is in
    another partition too: :func:`_pieces` checks that.
    """
    hashes = row_hashes(part, hashed)
    distinct, again = distinct_and_repeats(np.sort(hashes))
    return (
        *_reduced(part, sorted_distinct(again), hashed, hashes),
        bucketed(pd.DataFrame({"key": distinct}), ["key"], bits),
    )


def _pieces(frame: Any, hashed: list[str] | None) -> list[Piece]:
    """Every partition reduced, in one read when no row hash is in two partitions, else in two reads.

    The partitions' distinct hashes are merged by bucket as they come
    (:func:`~ledgerkit.analysis._dask.partials.repeated_tasks`), in the same
    computation as the reduced rows; a hash in two partitions -- a row that
    may repeat one of another partition -- sends the frame through the
    repeats over the whole frame first, then a second read.
    """
    import dask

    bits = hash_bits(frame.npartitions)
    tasks = partial_tasks(frame, _reduced_alone, hashed, bits)
    heads = [dask.delayed(head, pure=True)(task, 4) for task in tasks]
    spread = repeated_tasks([dask.delayed(picked, pure=True)(task, (4,), bits) for task in tasks], bits)
    found = dask.compute(*heads, *spread)
    pieces = list(found[: len(heads)])
    raise_first(pieces)
    if not any(len(repeated) for repeated in found[len(heads) :]):
        return pieces
    repeats_of = repeated_hashes(frame if hashed is None else projected(frame, hashed), hashed)
    pieces = run_partials(frame, _reduced, repeats_of, hashed)
    raise_first(pieces)
    return pieces


def _named(reduced: pd.DataFrame, source: np.ndarray, maybe: np.ndarray, ledger: Ledger) -> pd.DataFrame:
    """Ids that make pandas see the same repeats: unique ids for bridges; for frames without ids, one per equal row."""
    bridge = source < 0
    if ledger.id_column is not None:
        column = ledger.id_column
        if pd.api.types.is_string_dtype(reduced[column].dtype):
            fresh: list[str] | list[int] = [f"\x00ledgerkit-bridge-{i}" for i in range(int(bridge.sum()))]
        else:
            low = pd.to_numeric(reduced[column], errors="coerce").min()
            base = (int(low) if pd.notna(low) else 0) - 1
            fresh = list(range(base, base - int(bridge.sum()), -1))
        values = reduced[column].astype(object).to_numpy().copy()
        values[bridge] = fresh
        return reduced.assign(**{column: pd.array(values, dtype=reduced[column].dtype)})
    column = "record_id" if ledger.is_records else "row_id"
    ids = np.arange(len(reduced), dtype="int64") + len(reduced)
    if maybe.any():
        ids[maybe] = reduced.loc[maybe].groupby(list(reduced.columns), dropna=False, sort=False, observed=True).ngroup()
    values = pd.array(ids, dtype="Int64") if ledger.is_records else pd.array(ids.astype(str), dtype="str")
    return reduced.assign(**{column: values})


def check_balances(statements: Any) -> pd.DataFrame:
    """:func:`ledgerkit.analysis.breaks.check_balances` of a Dask frame or a report whose records are one."""
    frame, opening = records_of(statements)
    meta = meta_of(frame)
    template = _pandas_check_balances(meta)  # every check that needs no rows, before any work
    ledger = ledger_of(meta, "statements")
    hashed = [*ledger.chain_columns, ledger.id_column] if ledger.id_column else None
    if ledger.id_column:  # without ids a repeat is a row equal in every column: all are read
        frame = projected(frame, [*LEDGER_COLUMNS, ledger.id_column])
    pieces = _pieces(frame, hashed)
    check_totals([p.value[3] for p in pieces], "statements")
    if not any(len(p.value[0]) for p in pieces):
        return template
    starts = offsets_of(pieces)
    reduced = pd.concat([p.value[0] for p in pieces], ignore_index=True)
    source = np.concatenate(
        [np.where(p.value[1] >= 0, p.value[1] + s, -1) for p, s in zip(pieces, starts, strict=True)]
    )
    maybe = np.concatenate([p.value[2] for p in pieces])
    reduced.attrs = dict(getattr(meta, "attrs", {}) or {})
    found = _pandas_check_balances(with_opening(_named(reduced, source, maybe, ledger), opening))
    found["position"] = pd.array(source[found["position"].to_numpy(dtype="int64")], dtype="Int64")
    if ledger.id_column is None:
        column = "record_id" if ledger.is_records else "row_id"
        found[column] = found[column].mask(pd.Series(True, index=found.index))
    return found
