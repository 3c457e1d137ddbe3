"""What every Dask path shares: partitions as tasks, their errors in the caller's row numbers, totals that fit.

A Dask path runs a *partial* on each partition (a pandas function returning
a small piece), gathers the pieces into this process with one
``dask.compute`` -- on whatever scheduler is active, a ``distributed.Client``
included -- and combines them there. :func:`run_partials` does the first two
steps: each partition gets the frame's ``attrs`` (the loader's manifest says
which frame it is), the partial's ``ConfigurationError`` comes back as a value
instead of failing the task, and :func:`raise_first` raises it with row
numbers counted in the whole frame, as the pandas path names them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ...errors import ConfigurationError
from .._common import arrow_text, require_total_fits
from .._invalid import rows_text

__all__ = [
    "Piece",
    "meta_of",
    "partitions",
    "partial_tasks",
    "run_partials",
    "raise_first",
    "offsets_of",
    "check_totals",
    "abs_totals",
    "repeated_values",
    "repeated_hashes",
    "repeated_in",
    "repeated_tasks",
    "hash_bits",
    "bucketed",
    "sorted_distinct",
    "distinct_and_repeats",
    "kept_on_workers",
    "head",
    "picked",
    "unsettled",
    "projected",
    "row_hashes",
    "text_hashes",
]

_ROWS = re.compile(
    r"^(?P<head>.*\bat rows \[)(?P<shown>[0-9, ]*?)(?:, \.\.\. \((?P<count>\d+) rows in all\))?\](?P<tail>.*)$", re.S
)
_ROW = re.compile(r"^(?P<head>.*\bat row )(?P<row>\d+)(?P<tail>.*)$", re.S)


@dataclass
class Piece:
    """What a partial returns for one partition: its value, its row count, or the error it raised."""

    value: Any
    rows: int
    error: ConfigurationError | None = None


def meta_of(frame: Any) -> pd.DataFrame:
    """The empty pandas frame standing for a Dask frame's columns and dtypes (with its ``attrs``)."""
    return frame._meta


def partitions(frame: Any) -> list[Any]:
    """The frame's partitions as delayed pandas frames, in order."""
    return list(frame.to_delayed())


def _guarded(partial: Callable[..., Any], part: pd.DataFrame, attrs: dict[str, Any], *args: Any) -> Piece:
    part = part.copy(deep=False) if part.attrs != attrs else part
    part.attrs = dict(attrs)
    try:
        return Piece(partial(part, *args), len(part))
    except ConfigurationError as exc:
        return Piece(None, len(part), exc)


def partial_tasks(frame: Any, partial: Callable[..., Any], *args: Any, parts: Sequence[Any] | None = None) -> list[Any]:
    """``partial(partition, *args)`` of every partition (or of ``parts``, delayed frames): delayed :class:`Piece` s."""
    import dask

    attrs = dict(getattr(meta_of(frame), "attrs", {}) or {})
    return [
        dask.delayed(_guarded, pure=True)(partial, part, attrs, *args)
        for part in (partitions(frame) if parts is None else parts)
    ]


def run_partials(
    frame: Any, partial: Callable[..., Any], *args: Any, parts: Sequence[Any] | None = None
) -> list[Piece]:
    """``partial(partition, *args)`` on every partition (or on ``parts``, delayed frames), computed at once."""
    import dask

    return list(dask.compute(*partial_tasks(frame, partial, *args, parts=parts)))


def offsets_of(pieces: Sequence[Piece]) -> np.ndarray:
    """The row number in the whole frame of each piece's first row."""
    return np.concatenate([[0], np.cumsum([p.rows for p in pieces])[:-1]]).astype("int64")


def _moved(exc: ConfigurationError, to_global: Callable[[np.ndarray], np.ndarray]) -> tuple[Any, list[int], int | None]:
    """The error's rows (shown, and how many in all) in whole-frame numbers; (value, [], None) if it names none."""
    value = exc.value
    if not isinstance(value, str):
        return value, [], None
    many = _ROWS.match(value)
    if many:
        shown = [int(v) for v in many["shown"].split(",") if v.strip()]
        total = int(many["count"]) if many["count"] else len(shown)
        return value, to_global(np.asarray(shown, dtype="int64")).tolist(), total
    one = _ROW.match(value)
    if one:
        return value, to_global(np.asarray([int(one["row"])], dtype="int64")).tolist(), None
    return value, [], None


def _renumbered(value: str, rows: list[int], total: int | None) -> str:
    many = _ROWS.match(value)
    if many:
        count = max(total or 0, len(rows))
        padded = np.concatenate([np.asarray(rows[:5], dtype="int64"), np.zeros(count - len(rows[:5]), dtype="int64")])
        return f"{many['head'][:-1]}{rows_text(padded)}{many['tail']}"  # rows_text shows five and counts all
    one = _ROW.match(value)
    return f"{one['head']}{rows[0]}{one['tail']}" if one else value


def raise_first(pieces: Sequence[Piece], to_global: Sequence[Callable[[np.ndarray], np.ndarray]] | None = None) -> None:
    """Raise the first partition's error, its rows numbered in the whole frame.

    Where later partitions raised the same error (same parameter and
    expectation), their rows join it: the first five are shown and all are
    counted, as the pandas path does. With bad rows of different kinds in
    several partitions, the first partition's kind is the one named.
    """
    failed = [(i, p.error) for i, p in enumerate(pieces) if p.error is not None]
    if not failed:
        return
    starts = offsets_of(pieces)
    mapping = list(to_global) if to_global is not None else [(lambda a, s=s: a + s) for s in starts]
    first_index, first = failed[0]
    value, rows, total = _moved(first, mapping[first_index])
    if not rows:
        raise first
    for index, other in failed[1:]:
        if (other.parameter, other.expected) != (first.parameter, first.expected) or total is None:
            continue
        _, more, count = _moved(other, mapping[index])
        rows += more
        total += count or 0
    rows = sorted(rows)[:5]  # each piece shows its first rows: the first of all are among them
    raise ConfigurationError(first.parameter, _renumbered(value, rows, total), first.expected) from None


def abs_totals(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    """Sum of absolute values of each integer money column present (as Python ints)."""
    out = {}
    for column in columns:
        if column in frame.columns and pd.api.types.is_integer_dtype(frame[column].dtype):
            values = frame[column].to_numpy(dtype="int64", na_value=0)
            out[column] = int(np.abs(values.astype("float64")).sum()) if len(values) else 0
    return out


def check_totals(totals: Sequence[dict[str, int]], parameter: str) -> None:
    """Refuse money whose absolute total over all partitions could overflow a 64-bit sum (as pandas would)."""
    columns = sorted({c for t in totals for c in t})
    for column in columns:
        per_part = [min(t.get(column, 0), 2**62 - 1) for t in totals]
        require_total_fits(np.asarray(per_part, dtype="int64"), f"{parameter}[{column!r}]")


def repeated_values(series: Any) -> pd.Index:
    """The values of a Dask series found on more than one row (an aggregation, not the whole column in one place)."""
    counts = series.dropna().value_counts(split_out=max(1, series.npartitions // 16))
    found = counts[counts > 1].compute()
    return pd.Index(found.index)


#: Partitions merged by one task when repeated hashes are sought; partitions per bucket of the hash space.
_FAN_IN, _PARTS_PER_BUCKET = 8, 64


def distinct_and_repeats(found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A sorted array's distinct values, and its values found again (once per extra row)."""
    again = found[1:] == found[:-1]
    return (found[np.r_[True, ~again]] if len(found) else found), found[1:][again]


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted, as ``np.unique`` -- by sorting: NumPy's ``unique`` hashes, ~30x slower here.

    Examples
    --------
    >>> sorted_distinct(np.array([3, 1, 3], dtype="uint64")).tolist()
    [1, 3]
    """
    return distinct_and_repeats(np.sort(values))[0]


def hash_bits(partitions: int) -> int:
    """The top bits of a hash that name its bucket, for a frame of this many partitions."""
    return max(0, int(np.ceil(np.log2(max(partitions / _PARTS_PER_BUCKET, 1)))))


def bucketed(part: pd.DataFrame, columns: Sequence[str] | None, bits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per bucket (the hashes' top ``bits``): the partition's distinct row hashes and those on two rows or more."""
    once, twice = distinct_and_repeats(np.sort(row_hashes(part, columns)))
    twice = sorted_distinct(twice)
    bounds = np.arange(1, 1 << bits, dtype="uint64") << np.uint64(64 - bits) if bits else np.zeros(0, "uint64")
    cut_once, cut_twice = np.searchsorted(once, bounds), np.searchsorted(twice, bounds)
    return list(zip(np.split(once, cut_once), np.split(twice, cut_twice), strict=True))


def _merged(*pieces: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Several partitions' (distinct, repeated) hashes of one bucket as one such pair."""
    once, twice = distinct_and_repeats(np.sort(np.concatenate([p[0] for p in pieces])))
    return once, sorted_distinct(np.concatenate([*(p[1] for p in pieces), twice]))


def repeated_hashes(frame: Any, columns: Sequence[str] | None = None) -> np.ndarray:
    """The row hashes (:func:`row_hashes` of ``columns``) found on more than one row of a Dask frame, sorted.

    Each partition sorts its hashes and splits them into buckets of the
    hash space; a bucket is merged over the partitions a few at a time, so
    no task holds more than its bucket's share of the frame's hashes, and
    only the repeated ones come back (sorting numbers: several times faster
    than a ``value_counts``, which groups them in pandas).
    """
    import dask

    bits = hash_bits(frame.npartitions)
    return repeated_in([dask.delayed(bucketed, pure=True)(p, columns, bits) for p in partitions(frame)], bits)


def repeated_in(pieces: Sequence[Any], bits: int) -> np.ndarray:
    """The hashes on more than one row of ``pieces`` (delayed :func:`bucketed` results of ``bits``), sorted."""
    import dask

    return np.concatenate([np.zeros(0, dtype="uint64"), *dask.compute(*repeated_tasks(pieces, bits))])


def repeated_tasks(pieces: Sequence[Any], bits: int) -> list[Any]:
    """:func:`repeated_in` as delayed tasks, one per bucket (to compute with others)."""
    import operator

    import dask

    repeated = []
    for bucket in range(1 << bits):
        level = [dask.delayed(operator.getitem, pure=True)(p, bucket) for p in pieces]
        while len(level) > 1:
            level = [dask.delayed(_merged, pure=True)(*level[i : i + _FAN_IN]) for i in range(0, len(level), _FAN_IN)]
        repeated.append(dask.delayed(operator.getitem, pure=True)(level[0], 1))
    return repeated


def kept_on_workers(frame: Any, partial: Callable[..., Any], args: Sequence[Any], size: int) -> tuple[list, list]:
    """``partial(partition, *args)`` of every partition, kept where computed; the first ``size`` of each value here.

    The rest of each value (hashes, a partition's worth) stays on the
    workers (``dask.persist``) for :func:`unsettled`.
    """
    import dask

    tasks = list(dask.persist(*partial_tasks(frame, partial, *args)))
    return tasks, list(dask.compute(*[dask.delayed(head, pure=True)(task, size) for task in tasks]))


def head(piece: Piece, size: int) -> Piece:
    """The piece with the first ``size`` of its value only."""
    return piece if piece.value is None else Piece(piece.value[:size], piece.rows)


def picked(piece: Piece, path: Sequence[Any], bits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The bucketed hashes at ``path`` in a kept piece's value (none for a partition that failed)."""
    if piece.value is None:
        return bucketed(pd.DataFrame({"key": np.zeros(0, dtype="uint64")}), ["key"], bits)
    found = piece.value
    for step in path:
        found = found[step]
    return found


def unsettled(tasks: Sequence[Any], held: np.ndarray, bits: int, *path: Any) -> np.ndarray:
    """The keys (hashed again, as :func:`repeated_in` gives them) that some partition did not hold and another has.

    ``tasks`` are kept pieces (:func:`kept_on_workers`) whose value holds,
    at ``path``, the bucketed distinct keys a partition did not hold;
    ``held`` is every key held by any partition. A key held wherever it is
    counts once (``held`` is one piece), so it is not repeated; one not held
    somewhere and found in another partition (held there or not) is.
    """
    import dask

    pieces = [dask.delayed(picked, pure=True)(task, path, bits) for task in tasks]
    return repeated_in([*pieces, bucketed(pd.DataFrame({"key": held}), ["key"], bits)], bits)


def projected(frame: Any, columns: Sequence[str]) -> Any:
    """Only the ``columns`` an analysis reads (those present, in the frame's order): Parquet reads no others."""
    wanted = set(columns)
    return frame[[c for c in frame.columns if c in wanted]]


_MIX = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0x100000001B3)
_BLOCK = 1 << 16  # long strings hashed at a time (bounds the per-byte arrays)
#: Strings up to this many bytes are hashed by 8-byte words, per length; longer ones byte by byte.
_WORDS = 64


def _finalized(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: every input bit moves every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _block_hashes(array: pa.LargeStringArray) -> np.ndarray:
    """A polynomial hash of each string's bytes (``large_string``, no nulls counted), finalised."""
    count = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + count + 1]
    data = array.buffers()[2]
    first, last = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    sized = (lengths.astype("uint64") + np.uint64(1)) * _MIX  # "" is not missing (0)
    if last == first:
        return _finalized(sized)
    place = np.arange(last - first, dtype=np.int64) - np.repeat(offsets[:-1] - first, lengths)
    powers = np.cumprod(np.r_[np.uint64(1), np.full(int(lengths.max()) - 1, _PRIME, dtype="uint64")])
    terms = (np.frombuffer(data, dtype=np.uint8)[first:last].astype("uint64") + np.uint64(1)) * powers[place]
    sums = np.r_[np.uint64(0), np.cumsum(terms, dtype="uint64")]
    return _finalized((sums[offsets[1:] - first] - sums[offsets[:-1] - first]) ^ sized)


def _word_hashes(data: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """A hash of each string of ``length`` bytes at ``starts`` in ``data``: its 8-byte words (little-endian), mixed."""
    width = max(8, -(-length // 8) * 8)
    block = np.zeros((len(starts), width), dtype=np.uint8)
    if length and len(starts) and starts[-1] - starts[0] == (len(starts) - 1) * length:  # contiguous: no gather
        block[:, :length] = data[starts[0] : starts[0] + len(starts) * length].reshape(-1, length)
    elif length:
        block[:, :length] = data[starts[:, None] + np.arange(length)]
    out = np.full(len(starts), length + 1, dtype=np.uint64) * _MIX  # "" is not missing (0)
    for word in block.view("<u8").T:
        out = (out * _PRIME) ^ word
    return _finalized(out)


def _text_hashes(array: pa.LargeStringArray) -> np.ndarray:
    """Each string's hash: by 8-byte words if it has up to ``_WORDS`` bytes (a pass per length), else by bytes.

    Which of the two a string gets depends on its length only, so equal
    strings hash alike in any partition.
    """
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None else np.zeros(0, "u1")
    out = np.empty(len(array), dtype=np.uint64)
    present = np.flatnonzero(np.bincount(np.minimum(lengths, _WORDS + 1), minlength=_WORDS + 2))
    for length in present.tolist():
        if length <= _WORDS:
            rows = np.arange(len(array)) if len(present) == 1 else np.flatnonzero(lengths == length)
            out[rows] = _word_hashes(data, offsets[rows], length)
            continue
        long = np.flatnonzero(lengths > _WORDS)
        for first in range(0, len(long), _BLOCK):
            rows = long[first : first + _BLOCK]
            out[rows] = _block_hashes(array.take(pa.array(rows)))
    return out


def text_hashes(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One uint64 per string from its bytes (0 for missing), equal for equal strings in any process.

    No Python object per value and no hash table: a few array passes per
    distinct length (ids have one or a few).

    Examples
    --------
    >>> hashes = text_hashes(pa.array(["a", None, "a", ""]))
    >>> bool(hashes[0] == hashes[2]), int(hashes[1]), bool(hashes[3] != 0)
    (True, 0, True)
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.large_string())
    out = _text_hashes(array) if len(array) else np.zeros(0, dtype="uint64")
    if array.null_count:
        out[array.is_null().to_numpy(zero_copy_only=False)] = 0
    return out


def _object_hashes(values: np.ndarray) -> np.ndarray:
    """Strings by their bytes (as in a ``str`` column), other values by pandas, missing 0."""
    out = np.zeros(len(values), dtype="uint64")
    missing = np.asarray(pd.isna(values), dtype=bool)
    text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values)) & ~missing
    if text.any():
        out[text] = text_hashes(pa.array(values[text], type=pa.large_string()))
    other = ~text & ~missing
    if other.any():
        out[other] = pd.util.hash_array(values[other], categorize=False)
    return out


def _column_hashes(values: pd.Series) -> np.ndarray:
    """One uint64 per value, equal for equal values in any partition (text hashed as text, whatever its dtype)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        table = np.append(_object_hashes(np.asarray(dtype.categories, dtype=object)), np.uint64(0))
        return table[values.cat.codes.to_numpy()]  # code -1 (missing) takes the last entry
    if dtype == object:  # noqa: E721 - pandas compares each dtype
        return _object_hashes(values.to_numpy(dtype=object))
    if pd.api.types.is_string_dtype(dtype):
        return text_hashes(arrow_text(values))
    return pd.util.hash_pandas_object(values, index=False, categorize=False).to_numpy()


def row_hashes(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
    """A uint64 per row of ``columns`` (all when None): equal rows hash alike in every partition.

    Equal hashes only make rows *candidates* for being equal; the pandas code
    that gets them decides. Faster than ``hash_pandas_object`` on Arrow text.
    """
    out = np.zeros(len(frame), dtype="uint64")
    with np.errstate(over="ignore"):
        for column in frame.columns if columns is None else columns:
            out = (out * _MIX) ^ _column_hashes(frame[column])
    return out
