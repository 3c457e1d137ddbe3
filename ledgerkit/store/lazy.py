"""The stored rows as a lazy Dask DataFrame: the parts the states list, read by the workers.

:meth:`ledgerkit.Store.dask` builds on this. What it promises, and how:

- **The listed parts only**, newest version of each id as in
  :meth:`~ledgerkit.Store.read` (transactions: the last stored version of
  an id; statements: the first copy of a line).
- **Partitions by account and month** -- the store's own layout
  (``<source>/<account>/server-*/month=YYYY-MM/``) -- holding the parts of
  every server and stream of that account and month in stored order. A
  month is cut into several partitions (of about ``rows_per_partition``
  rows) only between parts whose ids (transactions) or times (statements:
  a line's id is a hash of its fields, time included) cannot overlap, so
  that every version of an id is in one partition, where it is resolved.
  Statements keep their stored (chain) order within an account: months
  in order, parts in order. Transactions come by ascending ``id`` within
  each partition.
- **The loaders' dtypes**, as :meth:`~ledgerkit.Store.read` gives them
  (``category`` columns hold, per partition, the values found there).
- **fsspec paths**: parts are read through an fsspec file system, so a
  root on an object store reads the same way.

Rows of different accounts are never merged, and rows of several accounts
come with an ``account`` column first (a category of the stored ids), as
:meth:`~ledgerkit.Store.read` gives them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._ingest.records import empty_frame, finish
from .._ingest.schema import Schema
from ..errors import StoreError

__all__ = ["Part", "chunks", "frame_of"]

#: The column that names each row's account when the rows come from several.
ACCOUNT = "account"

#: About how many rows a partition holds (a month is cut only where no id can be in two pieces).
ROWS_PER_PARTITION = 250_000


@dataclass(frozen=True)
class Part:
    """One listed Parquet part: where it is, its account and month, rows and the range of its key."""

    path: str
    account: str
    month: str
    rows: int
    low: Any
    high: Any
    times: tuple[Any, Any]
    columns: tuple[str, ...]


def _statistics(metadata: Any, column: str) -> tuple[Any, Any]:
    """Min and max of ``column`` over the row groups' statistics (None, None when not recorded)."""
    names = metadata.schema.names
    if column not in names:
        return None, None
    index = names.index(column)
    low = high = None
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return None, None
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return low, high


def describe(fs: Any, path: str, account: str, month: str, key: str, time: str) -> Part:
    """A part's footer: rows, key range and time range, columns (the data itself is not read)."""
    import pyarrow.parquet as pq

    try:
        with fs.open(path, "rb") as handle:
            metadata = pq.read_metadata(handle)
    except FileNotFoundError:
        raise StoreError(
            f"the stored part {path} is missing (the store changed while it was read). Read it again."
        ) from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
        raise StoreError(
            f"the stored part {path} is unreadable ({type(exc).__name__}: {str(exc)[:200]}). "
            "Clear that account's rows with Store.clear and load again."
        ) from None
    names = tuple(n for n in metadata.schema.to_arrow_schema().names if not n.startswith("__index_level_"))
    return Part(
        path, account, month, metadata.num_rows, *_statistics(metadata, key), _statistics(metadata, time), names
    )


def _cuts(bucket: list[Part]) -> np.ndarray:
    """``cuts[i]``: no key of the parts before ``i`` can equal a key of the parts from ``i`` on (ascending keys)."""
    known = all(p.low is not None and p.high is not None for p in bucket)
    cuts = np.zeros(len(bucket) + 1, dtype=bool)
    if not known or len(bucket) < 2:
        return cuts
    highs = np.maximum.accumulate(np.asarray([p.high for p in bucket], dtype=object))
    lows = np.minimum.accumulate(np.asarray([p.low for p in bucket][::-1], dtype=object))[::-1]
    cuts[1:-1] = highs[:-1] < lows[1:]
    return cuts


def chunks(parts: Iterable[Part], rows_per_partition: int = ROWS_PER_PARTITION) -> list[list[Part]]:
    """Parts grouped into partitions: by account and month in stored order, a month cut only where keys are apart."""
    buckets: dict[tuple[str, str], list[Part]] = {}
    for part in parts:
        buckets.setdefault((part.account, part.month), []).append(part)
    out: list[list[Part]] = []
    for account, month in sorted(buckets, key=lambda b: (b[0], b[1] == "month=unknown", b[1])):
        bucket = buckets[(account, month)]
        cuts = _cuts(bucket)
        current: list[Part] = []
        for index, part in enumerate(bucket):
            if current and cuts[index] and sum(p.rows for p in current) + part.rows > rows_per_partition:
                out.append(current)
                current = []
            current.append(part)
        out.append(current)
    return out


class PartsReader:
    """Reads one partition: its parts, newest version of each id, the time window, the loader's dtypes.

    Dask calls it once per partition (:func:`dask.dataframe.from_map`) with
    the columns an analysis asks for (``columns=``): only those are read,
    plus the id and time columns that resolve versions and the window.
    """

    def __init__(
        self,
        fs: Any,
        source: str,
        schema: Schema,
        meta: pd.DataFrame,
        id_column: str,
        time_column: str,
        window: tuple[Any, Any],
    ) -> None:
        self.fs, self.source, self.schema, self.meta = fs, source, schema, meta
        self.id_column, self.time_column, self.window = id_column, time_column, window

    def _read(self, part: Part, columns: list[str]) -> pd.DataFrame:
        wanted = [c for c in dict.fromkeys([*columns, self.id_column, self.time_column]) if c in part.columns]
        try:
            with self.fs.open(part.path, "rb") as handle:
                return pd.read_parquet(handle, columns=wanted)
        except FileNotFoundError:
            raise StoreError(
                f"the stored part {part.path} is missing (a pull replaced it while it was read). "
                "Build the frame again with Store.dask."
            ) from None

    def __call__(self, parts: list[Part], columns: list[str] | None = None) -> pd.DataFrame:
        columns = list(self.meta.columns) if columns is None else list(columns)
        frames = [self._read(part, columns) for part in parts]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if self.source == "transactions":
            frame = frame.drop_duplicates(self.id_column, keep="last").sort_values(self.id_column, kind="stable")
        else:
            frame = frame.iloc[_first_copies(frame[self.id_column])]
        frame = finish([_between(frame.reset_index(drop=True), self.time_column, *self.window)], self.schema)
        if ACCOUNT in columns:  # a partition holds one account's rows (see chunks)
            frame.insert(0, ACCOUNT, pd.Categorical([parts[0].account] * len(frame), dtype=self.meta[ACCOUNT].dtype))
        return _conformed(frame, self.meta.loc[:, columns])


def _first_copies(ids: pd.Series) -> np.ndarray:
    """Positions of the first row of each id, in order (as ``~ids.duplicated()``).

    Each id is hashed from its bytes, 8 at a time
    (:func:`~ledgerkit.analysis._dask.partials.text_hashes`: no hash table
    of strings); only the rows whose hash is found twice are compared by
    value, so ids all distinct -- the usual partition -- cost a hash and a
    sort, and a collision never drops a row.
    """
    hashes = _id_hashes(ids)
    if hashes is None:
        return np.flatnonzero(~ids.duplicated(keep="first").to_numpy(dtype=bool))
    found = np.sort(hashes)
    again = found[1:][found[1:] == found[:-1]]
    if not len(again):
        return np.arange(len(ids))
    maybe = np.flatnonzero(np.isin(hashes, again))
    keep = np.ones(len(ids), dtype=bool)
    keep[maybe[ids.iloc[maybe].duplicated(keep="first").to_numpy(dtype=bool)]] = False
    return np.flatnonzero(keep)


def _id_hashes(ids: pd.Series) -> np.ndarray | None:
    """A uint64 per Arrow-backed text id from its bytes, equal for equal ids (missing: 0); None for other columns."""
    if not (isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow" and len(ids)):
        return None
    import pyarrow as pa

    from ..analysis._dask.partials import text_hashes

    return text_hashes(pa.array(ids.array, from_pandas=True))  # chunked as read: wrapping it again walks every value


def _between(frame: pd.DataFrame, column: str, start: Any, end: Any) -> pd.DataFrame:
    if start is None and end is None:
        return frame
    times = frame[column]
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= (times >= start).fillna(False).to_numpy(dtype=bool)
    if end is not None:
        keep &= (times < end).fillna(False).to_numpy(dtype=bool)
    return frame.loc[keep].reset_index(drop=True)


def _conformed(frame: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the meta's columns, in its order; a column this partition lacks is all missing."""
    out = frame.reindex(columns=meta.columns)
    for column in meta.columns:
        dtype = meta[column].dtype
        if column not in frame.columns or (out[column].dtype != dtype and not isinstance(dtype, pd.CategoricalDtype)):
            out[column] = out[column].astype(dtype)
    return out


def frame_of(
    fs: Any,
    source: str,
    schema: Schema,
    parts: list[Part],
    id_column: str,
    time_column: str,
    window: tuple[Any, Any],
    rows_per_partition: int,
) -> Any:
    """The lazy Dask DataFrame over ``parts`` (one empty partition when there are none)."""
    import dask
    import dask.dataframe as dd

    meta = _meta(fs, schema, parts)
    accounts = sorted({part.account for part in parts})
    if len(accounts) > 1:  # as Store.read: rows of several accounts carry theirs
        meta.insert(0, ACCOUNT, pd.Categorical([], categories=accounts))
    with dask.config.set({"dataframe.convert-string": False}):  # keep the loaders' str dtype
        if not parts:
            return dd.from_pandas(meta, npartitions=1, sort=False)
        reader = PartsReader(fs, source, schema, meta, id_column, time_column, window)
        return dd.from_map(
            reader,
            chunks(parts, rows_per_partition),
            meta=meta,
            enforce_metadata=False,
            label=f"ledgerkit-store-{source}",
        )


def _meta(fs: Any, schema: Schema, parts: list[Part]) -> pd.DataFrame:
    """The empty frame of the union of the parts' columns, dtypes as the loader gives them."""
    import pyarrow.parquet as pq

    seen: dict[tuple[str, ...], pd.DataFrame] = {}
    for part in parts:
        if part.columns not in seen:
            with fs.open(part.path, "rb") as handle:
                seen[part.columns] = pq.read_schema(handle).empty_table().to_pandas()
    if not seen:
        return empty_frame(schema)
    frames = [f.reset_index(drop=True) for f in seen.values()]
    return finish([pd.concat(frames, ignore_index=True)] if len(frames) > 1 else frames, schema).iloc[:0]
