"""Page bytes -> typed DataFrame, columnar, without building a Python object per value.

The reference path (:func:`ledgerkit._ingest.records.build_page`) decodes a page to
dicts, flattens each record and converts column lists; it is clear and
slow (Python objects per value, cyclic GC pauses). Here the page's bytes go
through ``pyarrow.json`` (C++, releases the GIL, so concurrent windows
parse in parallel), nested objects become dotted columns by flattening
Arrow structs, and each column is cast to one Arrow type per kind
(:func:`read_columns`). The conversion to pandas -- exactly the dtypes the
reference gives -- happens once for all the pages of a pull
(:func:`pages_to_frame`), since its cost is mostly per column, not per
row. The cyclic GC is paused meanwhile.

Where Arrow cannot tell what the reference would do -- a value of another
JSON type than the column's (``12.5`` in an integer column, a ``true`` in a
text column), a nested object given as ``null``, text that Arrow reads as
a timestamp, rows repeated across pages -- the page goes through the
reference path instead, so the result is the same frame in every case
(``tests/ingest/test_arrow_pages.py`` checks this with ``assert_frame_equal``).

A page that breaks the contract goes the reference way too, and the
reference raises the :class:`~ledgerkit.errors.DataError` that names the row,
field and value. The fast path only has to notice, with checks on whole
Arrow arrays (never per row in Python): ``NaN``/``Infinity`` or numbers past
2**53 (Arrow reads them, JSON has no such numbers or a float cannot hold
them exactly), money past the limit, a fraction in an integer column, a
negative id, a currency that is not a code or missing beside money, a known
field given as an object, a name flattened twice, a float inside a list.
Before Arrow sees a body at all, :func:`_fast` makes sure it is an
object, UTF-8, and nests at most ``MAX_DEPTH`` levels -- or is read against
a schema learned from a page that did (:class:`PageHints`), which stops
Arrow at the first level the schema lacks: Arrow's parser crashes the
process on a bare ``null`` (apache/arrow#47409) and on some ten thousand
levels of nesting, and keeps invalid UTF-8 as it is.

Examples
--------
>>> import json
>>> from ledgerkit._ingest.schema import TRANSACTIONS
>>> body = json.dumps({"transactions": [{"id": 7, "amount": 1000, "transaction_fee": 29.0,
...     "currency": "USD", "created_at": "2025-01-02T03:04:05Z", "credit_card": {"brand": "visa"}}],
...     "count": 1, "has_more": False}).encode()
>>> page = read_page(body, TRANSACTIONS, records_key="transactions")
>>> page.frame["transaction_fee"].tolist(), page.frame["credit_card.brand"].tolist()
([29], ['visa'])
>>> page.meta["has_more"], page.fast
(False, True)
"""

from __future__ import annotations

import collections
import contextlib
import gc
import io
import itertools
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .. import money
from ..errors import DataError
from .bytesearch import contains
from .cores import usable_cores
from .records import Page, build_page, excerpt, finish, nesting, parse_times, strict_json
from .schema import CURRENCY_CODE, MAX_DEPTH, MONEY_LIMIT, Schema

__all__ = [
    "FastPage",
    "NotJSON",
    "PageHints",
    "read_page",
    "read_columns",
    "pages_to_frame",
    "gc_paused",
    "gc_pause_default",
    "arrow_schema",
]

#: Exactly the beGateway timestamp text; anything else goes through ``parse_times``.
_Z_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_Z_LENGTH = 20
#: From this many rows a frame is built column by column on every core.
_THREADED_ROWS = 50_000


class _Fallback(Exception):  # noqa: N818 - a signal caught in this module, never shown as it is
    """The page needs the reference path to give the reference result."""


class NotJSON(DataError):  # noqa: N818 - a DataError that says what the body is not
    """The body is not JSON at all (cut short, not UTF-8): worth asking for again.

    JSON that breaks the contract is not.
    """


@dataclass
class FastPage(Page):
    """A :class:`ledgerkit._ingest.records.Page` plus the envelope and how it was built.

    Attributes
    ----------
    meta : dict
        The page's top-level scalars (``count``, ``has_more``, ``first_object_id``, ...);
        on a columnar page a field given as null is left out, as an absent one is.
    records : int
        Rows on the page as received (before duplicates are dropped).
    fast : bool
        False when the page went through the reference path.
    columns : dict of str to pyarrow.Array
        From :func:`read_columns`: the page's typed columns while ``frame``
        is None (one Arrow type per column kind, so that pages concatenate).
    """

    meta: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    fast: bool = True
    columns: dict[str, pa.Array] = field(default_factory=dict)

    def ids(self) -> np.ndarray:
        """The page's ``id`` values as int64 (-1 for a missing id)."""
        if self.frame is None:
            return self.columns["id"].to_numpy()
        return self.frame["id"].to_numpy(dtype="int64", na_value=-1) if len(self.frame) else np.empty(0, np.int64)


# --------------------------------------------------------------- GC pausing

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


def gc_pause_default() -> bool:
    """Whether reads pause the collector when not told: yes, unless ``LEDGERKIT_GC_PAUSE=0``."""
    return os.environ.get("LEDGERKIT_GC_PAUSE", "1").strip() != "0"


@contextlib.contextmanager
def gc_paused(enabled: bool | None = None) -> Iterator[None]:
    """Pause the cyclic garbage collector while ingesting (thread-safe, nestable, opt-out).

    Ingest allocates many short-lived objects and no cycles; the collector's
    passes over them cost time (DESIGN §4). Python's switch is one for the
    whole process, so the pause covers every thread while any read is in
    progress: the reads of concurrent pulls are counted, and the collector
    is switched back on -- only if it was on before the first -- when the
    last one leaves, also when it raises. Reference counting still frees
    everything. ``enabled=False`` (or ``LEDGERKIT_GC_PAUSE=0`` when
    ``enabled`` is None) leaves the collector alone.

    Examples
    --------
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> with gc_paused(False):
    ...     gc.isenabled()
    True
    """
    global _gc_pausers, _gc_was_enabled  # noqa: PLW0603 - one count of pausers for the process, under _gc_lock
    if not (gc_pause_default() if enabled is None else enabled):
        yield
        return
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


# ------------------------------------------------------------ Arrow schema


class PageHints:
    """What the pages read so far taught about the next ones: owned by one pull and handed to each of its reads.

    Two things are learned. Arrow reads ISO-looking text
    (``billing_address.birth_date``) as a timestamp; a page where it did is
    read again with that column declared text, and so are the pull's later
    pages from the start. And the pages of one pull mostly share one shape:
    the Arrow schema a page was read with (every field, to the leaves) is
    kept, and the next pages are read against it with unknown fields an
    error -- which lets Arrow stop cleanly at the first field, type or
    nesting it was not told of, so those pages need no nesting scan first
    (:func:`_fast`). A page that does not fit is read the full way and
    widens the schema; a pull whose pages keep not fitting stops trying.

    The hints live as long as the pull that owns them, so one pull's pages
    never change how another's are read. Thread-safe (a pull reads pages on
    several threads).

    Attributes
    ----------
    fitted, unfitted : int
        Pages read against the learned schema, and pages that did not fit it
        but were read the full way (a page that needs the reference path
        either way is no fault of the schema's and is not counted).

    Examples
    --------
    >>> hints = PageHints()
    >>> hints.learn_text({"billing_address.birth_date"}); sorted(hints.text_columns)
    ['billing_address.birth_date']
    >>> hints.learn_schema(pa.schema([("transactions", pa.list_(pa.struct([("id", pa.int64())])))]))
    >>> hints.page_schema.names, hints.fitted
    (['transactions'], 0)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: frozenset[str] = frozenset()
        self._learned: tuple[pa.Schema, frozenset[str]] | None = None  # the schema, its names that occur once
        self._stopped = False
        self.fitted = 0
        self.unfitted = 0

    @property
    def text_columns(self) -> frozenset[str]:
        """Columns to declare text (Arrow read them as times on an earlier page)."""
        return self._text

    def learn_text(self, names: set[str]) -> None:
        """Declare ``names`` text on every later read."""
        with self._lock:
            self._text = self._text | names

    @property
    def page_schema(self) -> pa.Schema | None:
        """The whole Arrow schema of the pages so far (None: none learned, or no longer tried)."""
        learned = self.learned()
        return None if learned is None else learned[0]

    def learned(self) -> tuple[pa.Schema, frozenset[str]] | None:
        """:attr:`page_schema` and the field names that occur once in it, at any level (one consistent pair)."""
        return self._learned

    def learn_schema(self, schema: pa.Schema) -> None:
        """Take in the schema a page was read with: the learned one widened to hold it too (not once stopped)."""
        with self._lock:
            if self._stopped:
                return  # every page of the pull is read the full way now: no work on the schema per page
            if self._learned is not None:
                # when the fields' types conflict, the newest page's shape is the better guess for the next
                with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError):
                    schema = pa.unify_schemas([self._learned[0], schema], promote_options="permissive")
            self._learned = (schema, _names_once(schema)) if _learnable(schema) else None

    def count(self, fitted: bool) -> None:
        """Count a page read against :attr:`page_schema`, or one that did not fit it.

        After ``_UNFIT_ALLOWED`` pages that did not fit, the schema is no
        longer tried once they are more than one in four of the pages read
        against it: each costs a second read.
        """
        with self._lock:
            if fitted:
                self.fitted += 1
                return
            self.unfitted += 1
            if self.unfitted > _UNFIT_ALLOWED and 4 * self.unfitted > self.fitted:
                self._stopped, self._learned = True, None


#: Pages that may fail to fit the learned schema before a pull may stop trying it.
_UNFIT_ALLOWED = 4


def _learnable(schema: pa.Schema) -> bool:
    """Whether pages may be read against ``schema``: scalars, lists of scalars and objects of them.

    Lists of objects or of lists are kept as JSON values, and Arrow would
    give each object every field of the schema, where the page's own
    inference gives only the fields it has; a name with a quote or
    backslash would defeat :func:`_present`.
    """

    def fits(name: str, t: pa.DataType, in_list: bool = False, top: bool = False) -> bool:
        if '"' in name or "\\" in name or not name.isprintable():
            return False
        if pa.types.is_struct(t):
            return (top or not in_list) and all(fits(f.name, f.type) for f in t)
        if pa.types.is_list(t):
            return not in_list and fits("item", t.value_type, True, top)  # the records: a list of objects
        return any(
            check(t)
            for check in (
                pa.types.is_null,
                pa.types.is_boolean,
                pa.types.is_int64,
                pa.types.is_float64,
                pa.types.is_string,
            )
        )

    return all(fits(f.name, f.type, top=True) for f in schema)


def _names_once(schema: pa.Schema) -> frozenset[str]:
    """The field names that occur once in ``schema``, counting every level."""
    names: list[str] = []

    def walk(fields: Any) -> None:
        for f in fields:
            names.append(f.name)
            t = f.type.value_type if pa.types.is_list(f.type) else f.type
            if pa.types.is_struct(t):
                walk(t)

    walk(schema)
    counts = collections.Counter(names)
    return frozenset(n for n, times in counts.items() if times == 1)


class _Reread(Exception):  # noqa: N818 - a signal caught in this module, never shown as it is
    """Arrow read a text column as a timestamp; read the page again with it declared text."""


def arrow_schema(schema: Schema, records_key: str, text: frozenset[str] = frozenset()) -> pa.Schema:
    """The explicit part of the Arrow schema: timestamps stay text (everything else is inferred).

    Arrow would otherwise read ISO text as ``timestamp[s]`` and lose the
    ``Z`` that the wall-clock quirk needs (and the text of a ``str`` column
    that looks like a date), nor the ``text`` columns (of :class:`PageHints`).
    Numbers are left to inference: declaring ``order_id`` text would make
    Arrow refuse the page when it is a number.
    """
    declared = {n for n, kind in schema.columns.items() if kind == "time"} | text
    tree: dict[str, Any] = {}
    for name in sorted(declared):
        node = tree
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = pa.string()

    def struct(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([(k, struct(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return pa.schema([(records_key, pa.list_(struct(tree)))])


# ---------------------------------------------------------------- reading


def read_page(
    body: bytes,
    schema: Schema,
    *,
    records_key: str,
    include_pii: bool = False,
    wall_zone: str | None = None,
    default_currency: str | None = None,
    skip_ids: set[int] | frozenset[int] = frozenset(),
    hints: PageHints | None = None,
    pause_gc: bool | None = None,
) -> FastPage:
    """One page's bytes -> the frame :func:`ledgerkit._ingest.records.build_page` gives for its records.

    Parameters
    ----------
    body : bytes
        The response body: a JSON object whose ``records_key`` is the list of records.
    schema : Schema
    records_key : str
        ``"transactions"`` for the beGateway report.
    include_pii, wall_zone, default_currency
        As for :func:`ledgerkit._ingest.records.build_page`.
    skip_ids : set of int
        Ids already received; such rows are dropped (the page is then built
        by the reference path from the remaining records).
    hints : PageHints, optional
        What the pull's earlier pages taught (the pull owns it); None reads
        the page on its own.
    pause_gc : bool, optional
        Pause the garbage collector while reading (:func:`gc_paused`);
        None: unless ``LEDGERKIT_GC_PAUSE=0``.

    Raises
    ------
    NotJSON
        The body is not JSON (a :class:`~ledgerkit.errors.DataError`).
    DataError
        The body is not the documented envelope, or a value does not fit
        its declared kind (see :mod:`ledgerkit._ingest.records`).
    """
    page = read_columns(
        body,
        schema,
        records_key=records_key,
        include_pii=include_pii,
        wall_zone=wall_zone,
        default_currency=default_currency,
        skip_ids=skip_ids,
        hints=hints,
        pause_gc=pause_gc,
    )
    if page.frame is None:
        with gc_paused(pause_gc):
            page.frame = _to_frame([page.columns], schema)
        page.columns = {}
    return page


def read_columns(
    body: bytes,
    schema: Schema,
    *,
    records_key: str,
    include_pii: bool = False,
    wall_zone: str | None = None,
    default_currency: str | None = None,
    skip_ids: set[int] | frozenset[int] = frozenset(),
    hints: PageHints | None = None,
    pause_gc: bool | None = None,
) -> FastPage:
    """Like :func:`read_page`, but a fast page keeps typed Arrow columns and no frame yet.

    Converting to pandas costs about the same per column whether a column
    holds 1,000 rows or 200,000, so a pull keeps each page's columns
    (compact Arrow buffers; the body is let go) and :func:`pages_to_frame`
    converts all pages at once. A page that needed the reference path
    comes back with its ``frame`` set instead.

    Examples
    --------
    >>> from ledgerkit._ingest.schema import TRANSACTIONS
    >>> body = b'{"transactions": [{"id": 1, "amount": 5, "currency": "EUR"}], "count": 1, "has_more": false}'
    >>> page = read_columns(body, TRANSACTIONS, records_key="transactions")
    >>> page.frame is None, page.columns["amount"].type, page.ids().tolist()
    (True, DataType(int64), [1])
    """
    with gc_paused(pause_gc):
        try:
            hints = PageHints() if hints is None else hints
            options = _Options(schema, records_key, include_pii, wall_zone, default_currency, skip_ids)
            return _fast(body, options, hints)
        except (_Fallback, _Reread, pa.ArrowException):  # Arrow refused or could not type it: the reference decides
            return _reference(body, schema, records_key, include_pii, wall_zone, default_currency, skip_ids)


def pages_to_frame(
    pages: list[FastPage],
    schema: Schema,
    *,
    sort_by: str | None = None,
    consume: bool = False,
    pause_gc: bool | None = None,
) -> pd.DataFrame:
    """The pages of one pull as one finished frame (see :func:`ledgerkit._ingest.records.finish`).

    Runs of columnar pages are converted to pandas in one go; pages built by
    the reference path are taken as they are; page order is kept. When
    every page is columnar the rows are put in ``sort_by`` order while still
    Arrow, column by column, so the frame is built once and never copied to
    be sorted. With ``consume`` each page's columns are let go as soon as
    they are converted (the pages are empty afterwards): the pull's peak
    memory is then about the larger of the pages and the frame, not their
    sum. ``pause_gc`` as for :func:`read_page`.

    Examples
    --------
    >>> from ledgerkit._ingest.schema import TRANSACTIONS
    >>> pages = [read_columns(b'{"transactions": [{"id": %d, "currency": "EUR"}]}' % i, TRANSACTIONS,
    ...                       records_key="transactions") for i in (2, 1)]
    >>> pages_to_frame(pages, TRANSACTIONS, sort_by="id")["id"].tolist()
    [1, 2]
    """
    rows = [p for p in pages if p.frame is None or len(p.frame)]
    if rows and len(rows) < len(pages):
        pages = rows  # empty pages (a concurrent pull's closing sweep) add no rows and would force the slow path
    with gc_paused(pause_gc):
        if (
            sort_by is not None
            and pages
            and all(p.frame is None for p in pages)
            and schema.columns.get(sort_by) == "int"
            and all(p.columns[sort_by].null_count == 0 for p in pages)
        ):
            pages, order = _row_order(pages, sort_by)
            return finish([_to_frame([p.columns for p in pages], schema, order=order, consume=consume)], schema)
        frames = []
        for columnar, group in itertools.groupby(pages, key=lambda p: p.frame is None):
            run = list(group)
            frames.extend(
                [_to_frame([p.columns for p in run], schema, consume=consume)] if columnar else [p.frame for p in run]
            )
        if sort_by is None or len(frames) < 2 or any(f[sort_by].hasnans for f in frames):
            return finish(frames, schema, sort_by=sort_by)
        return finish([_sorted_concat(frames, schema, sort_by)], schema)


def _row_order(pages: list[FastPage], sort_by: str) -> tuple[list[FastPage], pa.Array | None]:
    """The pages in the order of their first key, and the row order that sorts them (None: already sorted).

    Pages of time windows usually hold disjoint key ranges: put in order of
    their first key they are sorted as they stand, and the frame is built
    without a take over every column.
    """
    firsts = [p.columns[sort_by][0].as_py() if len(p.columns[sort_by]) else -1 for p in pages]
    by_first = [pages[i] for i in sorted(range(len(pages)), key=firsts.__getitem__)]
    keys = np.concatenate([p.columns[sort_by].to_numpy() for p in by_first])
    if bool((keys[1:] > keys[:-1]).all()):  # strictly: with no tie, no question of which equal row comes first
        return by_first, None
    keys = np.concatenate([p.columns[sort_by].to_numpy() for p in pages])
    return pages, pa.array(np.argsort(keys, kind="stable"))


def _sorted_concat(frames: list[pd.DataFrame], schema: Schema, sort_by: str) -> pd.DataFrame:
    """``pd.concat(frames).sort_values(sort_by, kind="stable")``, built column by column.

    Each column is concatenated, put in order and dropped from ``frames``
    before the next, so only one column is ever held twice.
    """
    order = np.argsort(pd.concat([f[sort_by] for f in frames], ignore_index=True).to_numpy(), kind="stable")
    present = dict.fromkeys(c for f in frames for c in f.columns)
    names = [c for c in schema.columns if c in present] + sorted(set(present) - set(schema.columns))
    data = {}
    for name in names:
        parts = [f[[name]] if name in f.columns else f.iloc[:, :0] for f in frames]
        data[name] = pd.concat(parts, ignore_index=True)[name].take(order).reset_index(drop=True)
        for f in frames:
            if name in f.columns:
                del f[name]
    return pd.DataFrame(data, copy=False)


@dataclass(frozen=True)
class _Options:
    """How a page is to be read (the arguments of :func:`read_columns` but the body and hints)."""

    schema: Schema
    key: str
    include_pii: bool
    wall_zone: str | None
    default_currency: str | None
    skip_ids: Any


def _fast(body: bytes, options: _Options, hints: PageHints) -> FastPage:
    """The page read by Arrow: against the schema ``hints`` learned when it fits, else the full way.

    The full way scans the body's nesting first (Arrow crashes on some ten
    thousand levels) and lets Arrow infer the types. Against a learned
    schema -- whose depth the scan vouched for -- Arrow stops at the first
    field, type or nesting the schema does not hold, so no scan is needed;
    a page that does not fit is then read the full way. Both ways give the
    same page.
    """
    if not _object_in_utf8(body):
        raise _Fallback
    known = hints.learned()
    if known is not None:
        try:
            page = _columns(_arrow_table(body, known[0], "error"), body, options, hints, once=known[1])
        except (_Fallback, _Reread, pa.ArrowException):
            pass  # read the full way: counted below when that way reads it
        else:
            hints.count(fitted=True)
            return page
    if nesting(body) > MAX_DEPTH + 2:  # the envelope object and the records list
        raise _Fallback
    try:
        table, page = _inferred(body, options, hints)
    except _Reread:  # Arrow took text for times: read again with those columns declared text
        table, page = _inferred(body, options, hints)
    if known is not None:
        hints.count(fitted=False)  # the page was fit to read, the learned schema was not fit for it
    hints.learn_schema(table.schema)
    return page


def _inferred(body: bytes, options: _Options, hints: PageHints) -> tuple[pa.Table, FastPage]:
    """The page read the full way: Arrow infers what is not declared (times, and the text ``hints`` know)."""
    table = _arrow_table(body, arrow_schema(options.schema, options.key, hints.text_columns), "infer")
    return table, _columns(table, body, options, hints)


def _arrow_table(body: bytes, explicit: pa.Schema, unexpected: str) -> pa.Table:
    """The body as a one-row Arrow table (``unexpected``: what Arrow does with a field ``explicit`` lacks)."""
    table = pj.read_json(
        io.BytesIO(body),
        read_options=pj.ReadOptions(block_size=max(1 << 20, len(body) + 1), use_threads=False),
        parse_options=pj.ParseOptions(explicit_schema=explicit, unexpected_field_behavior=unexpected),
    )
    table.validate()  # cheap; catches the list offsets Arrow gets wrong after leading nulls (apache/arrow#51305)
    if table.num_rows != 1:
        raise _Fallback
    return table


def _columns(
    table: pa.Table, body: bytes, options: _Options, hints: PageHints, *, once: frozenset[str] | None = None
) -> FastPage:
    """The one-row table of a page -> its typed columns.

    ``once``: the table was read against the learned schema, whose names
    that occur once these are (see :func:`_as_inferred`).
    """
    schema, key = options.schema, options.key
    meta = {name: table.column(name)[0].as_py() for name in table.column_names if name != key}
    meta = {name: value for name, value in meta.items() if value is not None}  # null or absent: the same to readers
    if any(isinstance(v, float) and not abs(v) < MONEY_LIMIT for v in meta.values()):
        raise _Fallback  # NaN, or an integer past 2**53 that Arrow read as an inexact float
    chunks = table.column(key).chunks
    records = pa.concat_arrays([c.values for c in chunks]) if chunks else None
    if records is None or not pa.types.is_struct(records.type) or len(records) == 0:
        raise _Fallback
    leaves = _leaves(records, "", body, once)
    if once is not None:
        leaves = _as_inferred(leaves, body, schema, once)
    _check_leaves(leaves, schema)
    as_time = {
        n
        for n, a in leaves.items()
        if schema.columns.get(n) != "time" and (pa.types.is_timestamp(a.type) or pa.types.is_date(a.type))
    }
    if as_time:
        hints.learn_text(as_time)
        raise _Reread
    ids = leaves.get("id")
    if ids is None or ids.null_count or not pa.types.is_integer(ids.type) or pc.min(ids).as_py() < 0:
        raise _Fallback  # the reference raises the right DataError
    id_values = ids.to_numpy()
    skip_ids = options.skip_ids
    if skip_ids and np.isin(id_values, np.fromiter(skip_ids, dtype=np.int64, count=len(skip_ids))).any():
        raise _Fallback
    if len(np.unique(id_values)) != len(id_values):
        raise _Fallback
    names = list(schema.columns)
    columns: dict[str, pa.Array] = {}
    dropped: list[str] = []
    rounded = 0
    n = len(records)
    for name in names + sorted(set(leaves) - set(names)):
        if schema.is_pii(name) and not options.include_pii:
            dropped.append(name)
            continue
        kind = schema.columns.get(name, "unknown")
        values = leaves.get(name)
        if values is None:
            filler = options.default_currency if name == schema.currency_column else None
            values = pa.nulls(n) if filler is None else pa.array([filler] * n, pa.string())
        if pa.types.is_floating(values.type):  # NaN/Infinity literals, or an integer past 2**53 read as a float
            _within(values.to_numpy(zero_copy_only=False), values.null_count, MONEY_LIMIT)
        columns[name], k = _typed(kind, values, options.wall_zone)
        rounded += k
    _money_has_currency(columns, schema)
    return FastPage(None, rounded, tuple(dropped), meta=meta, records=n, columns=columns)


def _as_inferred(leaves: dict[str, pa.Array], body: bytes, schema: Schema, once: frozenset[str]) -> dict[str, pa.Array]:
    """Leaves read against the learned schema -> the leaves Arrow's inference gives for the page alone.

    The two differ only where the column's kind does not settle it: in an
    unknown column (kept as its JSON values) or the currency column (filled
    with the default only when absent). There, a column of nulls is either
    absent from the page or given as null (:func:`_present` tells them
    apart), and a float column of whole numbers may have been integers,
    which only the page's own inference can tell.
    """
    out = dict(leaves)
    for name, values in leaves.items():
        if name in schema.columns and name != schema.currency_column:
            continue
        if values.null_count == len(values):
            here = _present(name.rsplit(".", 1)[-1], body, once)
            if here is None:
                raise _Fallback
            if here:
                out[name] = pa.nulls(len(values))
            else:
                del out[name]
        elif pa.types.is_floating(values.type):
            x = values.to_numpy(zero_copy_only=False)
            x = x[~np.isnan(x)]
            if np.array_equal(x, np.trunc(x)):
                raise _Fallback  # all whole: integers to the page's own inference, or floats written ``7.0``
    return out


def _present(name: str, body: bytes, once: frozenset[str]) -> bool | None:
    r"""Whether a key ``name`` is in ``body`` (None: cannot tell).

    Called for a page read against the learned schema, so every key of the
    body is one of the schema's names: when ``name`` occurs once among them,
    ``"name":`` anywhere is that very field. A key is literal unless the body
    holds a ``\u`` escape.

    Examples
    --------
    >>> _present("parent_uid", b'{"a": 1, "parent_uid" : null}', frozenset({"a", "parent_uid"}))
    True
    >>> _present("parent_uid", b'{"a": "parent_uid"}', frozenset({"a", "parent_uid"}))
    False
    >>> _present("a", b'{"\\u0061": 1}', frozenset({"a"})) is None
    True
    """
    if name not in once:
        return None
    quoted = b'"' + name.encode() + b'"'
    if contains(body, quoted) and re.search(re.escape(quoted) + rb"\s*:", body):
        return True
    return None if b"\\" in body and contains(body, b"\\u") else False  # one byte is found the fastest (memchr)


_OBJECT_BODY = re.compile(rb"\s*\{")


def _object_in_utf8(body: bytes) -> bool:
    """Whether Arrow's JSON reader may see ``body``, short of its nesting: an object, in UTF-8.

    Arrow crashes the process on a body that is a bare ``null`` and on deep
    nesting (:func:`_fast` sees to that), and keeps invalid UTF-8 text; such
    a body goes the reference way, whose decoder refuses it properly.

    Examples
    --------
    >>> _object_in_utf8(b'{"transactions": []}'), _object_in_utf8(b"null")
    (True, False)
    >>> _object_in_utf8(b'{"a": "' + bytes([0xFF]) + b'"}')
    False
    """
    if not _OBJECT_BODY.match(body):
        return False
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _check_leaves(leaves: dict[str, pa.Array], schema: Schema) -> None:
    """A known field given as an object, or a list holding floats: the reference decides (see module docstring)."""
    for name, values in leaves.items():
        head = name
        while "." in head:
            head = head.rsplit(".", 1)[0]
            if head in schema.columns:
                raise _Fallback
        if _floats_inside_list(values.type):
            raise _Fallback


def _floats_inside_list(t: pa.DataType, in_list: bool = False) -> bool:
    if pa.types.is_floating(t):
        return in_list
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _floats_inside_list(t.value_type, True)
    if pa.types.is_struct(t):
        return any(_floats_inside_list(f.type, in_list) for f in t)
    return False


def _money_has_currency(columns: dict[str, pa.Array], schema: Schema) -> None:
    """Every currency a code; no money on a row without one."""
    currency = columns.get(schema.currency_column)
    if currency is None:
        return
    codes = currency.dictionary if pa.types.is_dictionary(currency.type) else currency
    if len(codes) and not pc.all(pc.match_substring_regex(codes, f"^{CURRENCY_CODE.pattern}$")).as_py():
        raise _Fallback
    if currency.null_count:
        for name, kind in schema.columns.items():
            if (
                kind in ("minor", "minor_float")
                and name in columns
                and pc.any(pc.and_(pc.is_null(currency), pc.is_valid(columns[name]))).as_py()
            ):
                raise _Fallback


def _reference(
    body: bytes,
    schema: Schema,
    key: str,
    include_pii: bool,
    wall_zone: str | None,
    default_currency: str | None,
    skip_ids: Any,
) -> FastPage:
    try:
        payload = strict_json(body)
    except ValueError as exc:
        raise NotJSON(f"the page is not valid JSON ({len(body)} bytes): {exc}") from exc
    rows = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        found = f"{key!r} is {excerpt(rows)}" if isinstance(payload, dict) else f"the page is {excerpt(payload)}"
        raise DataError(f"the page has no {key!r} list of objects: {found}")
    meta = {k: v for k, v in payload.items() if k != key}
    fresh, seen = [], set(skip_ids)
    for i, record in enumerate(rows):
        rid = _record_id(record.get("id"))
        if rid is None:
            raise DataError(
                f"{schema.name}: row {i}: field 'id' is {excerpt(record.get('id'))}: expected a "
                "non-negative integer (the transaction id)",
                rows=[record],
            )
        if rid not in seen:
            seen.add(rid)
            fresh.append(record)
    page = build_page(fresh, schema, include_pii=include_pii, wall_zone=wall_zone, default_currency=default_currency)
    return FastPage(page.frame, page.rounded_values, page.pii_dropped, meta=meta, records=len(rows), fast=False)


def _record_id(value: Any) -> int | None:
    """A record's ``id`` as a non-negative integer (whole floats and digit text count), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and 0 <= value < MONEY_LIMIT:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value)
    return value if isinstance(value, int) and 0 <= value < 2**63 else None


def _leaves(array: pa.StructArray, prefix: str, body: bytes, once: frozenset[str] | None = None) -> dict[str, pa.Array]:
    """Dotted name -> leaf array; a struct given as ``null`` somewhere means the reference path.

    The reference keeps an explicit ``"x": null`` as a column ``x`` but an
    absent key as nothing; Arrow cannot tell them apart, so a null struct
    is looked up in the body and, when written out, hands the page over.
    Read against the learned schema (``once``: its names that occur once),
    a struct may be null on every row because the page lacks it: then it
    has no leaves, as Arrow's own inference would give.
    """
    out: dict[str, pa.Array] = {}
    for child, f in zip(array.flatten(), array.type, strict=True):
        name = prefix + f.name
        if pa.types.is_struct(f.type):
            if f.type.num_fields == 0:
                raise _Fallback
            if once is not None and child.null_count == len(child):
                if _present(f.name, body, once) is not False:
                    raise _Fallback  # given as null (or cannot tell): Arrow's inference reads it as a null column
                continue
            if child.null_count and (
                contains(body, f'"{f.name}":null'.encode()) or contains(body, f'"{f.name}": null'.encode())
            ):
                raise _Fallback
            nested = _leaves(child, name + ".", body, once)
        else:
            nested = {name: child}
        if out.keys() & nested.keys():
            raise _Fallback  # a literal dotted name and a nested one meet: the reference names it
        out.update(nested)
    return out


# ---------------------------------------- per page: JSON types -> one Arrow type per kind

_TIME = pa.timestamp("ns", tz="UTC")


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _floats(values: pa.Array) -> pa.Array:
    """As float64; integers only while a float holds them exactly (floats were checked once for the page)."""
    if pa.types.is_integer(values.type):
        _money_range(values)
    elif not (pa.types.is_floating(values.type) or pa.types.is_null(values.type)):
        raise _Fallback
    return _cast(values, pa.float64())


def _money_range(values: pa.Array) -> None:
    """Integers within ±``MONEY_LIMIT`` (else the reference decides)."""
    if values.null_count < len(values):
        low, high = pc.min_max(values).values()
        if low.as_py() < -MONEY_LIMIT or high.as_py() > MONEY_LIMIT:
            raise _Fallback


def _within(x: np.ndarray, nulls: int, limit: float) -> None:
    """No ``NaN``/``Infinity`` literal (Arrow reads them; JSON has none), nothing from ``limit`` on.

    ``limit`` itself counts as too large: an integer past 2**53 read as a
    float may have been rounded down onto it.
    """
    if (np.abs(x) >= limit).any() or np.count_nonzero(np.isnan(x)) != nulls:
        raise _Fallback


def _integers(values: pa.Array, money_kind: bool) -> pa.Array:
    """Integers, or whole floats (``7.0``; within 2**53, checked for every float column); money within the limit."""
    if not (pa.types.is_integer(values.type) or pa.types.is_null(values.type) or pa.types.is_floating(values.type)):
        raise _Fallback
    out = _cast(values, pa.int64())  # a fraction raises: the reference names it
    if money_kind:
        _money_range(out)
    return out


def _typed(kind: str, values: pa.Array, wall_zone: str | None) -> tuple[pa.Array, int]:
    """``values`` as the one Arrow type of ``kind`` (so pages concatenate), and values rounded.

    Text stays ``string`` on a page (a page is far below 2 GiB) and becomes
    ``large_string`` once per column in :func:`_column`: a cast call per
    page and column costs more than it casts.
    """
    t = values.type
    if kind == "minor_float":
        ints, rounded = money.floats_to_minor(_floats(values).to_numpy(zero_copy_only=False), 0)
        return pa.array(ints._data, mask=ints._mask), rounded
    if kind in ("int", "minor"):
        return _integers(values, kind == "minor"), 0
    if kind == "float":
        return _floats(values), 0
    if kind == "bool":
        if not (pa.types.is_boolean(t) or pa.types.is_null(t)):
            raise _Fallback
        return _cast(values, pa.bool_()), 0
    if kind in ("str", "category"):
        if _is_text(t) or pa.types.is_integer(t):
            text = _cast(values, pa.string())  # int -> text is exact in Arrow
        elif pa.types.is_boolean(t):
            text = pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())
        else:  # floats too: one 0.0 makes Arrow read the column's 27035 as 27035.0, whose text is not the id's
            raise _Fallback
        return (text.dictionary_encode() if kind == "category" else text), 0  # pages stay compact
    if kind == "time":
        return _times(values, wall_zone), 0
    return (_cast(values, pa.string()) if _is_text(t) else values), 0  # unknown: text, or kept as JSON values


def _cast(values: pa.Array, target: pa.DataType) -> pa.Array:
    """``values`` as ``target``; no call when they are already (most columns of most pages)."""
    return values if values.type == target else values.cast(target)


def _times(values: pa.Array, wall_zone: str | None) -> pa.Array:
    t = values.type
    if pa.types.is_null(t):
        return pa.nulls(len(values), _TIME)
    if not pa.types.is_string(t):
        raise _Fallback
    utc = wall_zone is None or wall_zone == "UTC"
    lengths = pc.utf8_length(values)
    plain = pc.and_kleene(pc.equal(lengths, _Z_LENGTH), pc.ends_with(values, "Z"))
    if utc and pc.all(pc.or_kleene(plain, pc.is_null(values))).as_py() is not False:
        return pc.strptime(values, format=_Z_FORMAT, unit="s", error_is_null=False).cast(_TIME)
    try:
        return pa.array(parse_times(values.to_pylist(), wall_zone=wall_zone).array, _TIME)
    except DataError:
        raise _Fallback from None  # the reference names the row and field


# ------------------------------------------------ all pages at once: Arrow -> pandas


def _to_frame(
    pages: list[dict[str, pa.Array]], schema: Schema, *, order: pa.Array | None = None, consume: bool = False
) -> pd.DataFrame:
    """Columnar pages -> one frame with the reference dtypes (known columns first, then unknown, sorted).

    ``order`` puts the rows in that order; with ``consume`` each column is
    removed from the pages once converted.
    """
    lengths = [len(p["id"]) for p in pages]
    present = set().union(*pages)
    names = [c for c in schema.columns if c in present] + sorted(present - set(schema.columns))

    def convert(name: str) -> Any:
        chunks = [p.pop(name, None) if consume else p.get(name) for p in pages]
        return _column(schema.columns.get(name, "unknown"), chunks, lengths, order)

    threads = usable_cores() if sum(lengths) >= _THREADED_ROWS else 1
    if threads == 1:
        return pd.DataFrame({n: convert(n) for n in names}, index=pd.RangeIndex(sum(lengths)), copy=False)
    with ThreadPoolExecutor(threads) as pool:  # Arrow's takes, casts and encodings let go of the GIL
        data = dict(zip(names, pool.map(convert, names), strict=True))
    return pd.DataFrame(data, index=pd.RangeIndex(sum(lengths)), copy=False)


#: Bytes of a column's pages below which its text, joined, stays within ``string``'s 2 GiB of offsets.
_SMALL_TEXT = 2**31 - 1

#: The Arrow type of a kind's column in the joined pages, where it is not the pages' own.
_FRAME_TYPES = {
    "str": pa.large_string(),
    "unknown": pa.large_string(),
    "category": pa.dictionary(pa.int32(), pa.large_string()),
}


def _column(kind: str, chunks: list[pa.Array | None], lengths: list[int], order: pa.Array | None = None) -> Any:
    given = [c for c in chunks if c is not None]
    if kind == "unknown" and not all(_is_text(c.type) for c in given):
        out = np.empty(sum(lengths), dtype=object)  # JSON values as the reference keeps them
        out[:] = [
            v for c, n in zip(chunks, lengths, strict=True) for v in (c.to_pylist() if c is not None else [None] * n)
        ]
        return out if order is None else out[order.to_numpy()]
    page_type = given[0].type
    values = pa.chunked_array(
        [
            pa.nulls(n, page_type) if c is None else c if c.type == page_type else c.cast(page_type)
            for c, n in zip(chunks, lengths, strict=True)
        ],
        page_type,
    )
    del chunks, given
    arrow_type = _FRAME_TYPES.get(kind, page_type)
    small = values.nbytes < _SMALL_TEXT  # the joined text cannot pass 2 GiB: put it in order first, widen once
    if kind == "category":
        return _categorical(values if small else values.cast(arrow_type), order)
    if arrow_type != page_type and not small:
        values = values.cast(arrow_type)  # one call for all pages: text can pass 2 GiB only once they are joined
    values = _one_array(values if order is None else values.take(order))
    if arrow_type != values.type:
        values = values.cast(arrow_type)
    if kind in ("str", "unknown"):
        return pd.array(values, dtype="str")
    if kind == "time":
        return values.to_pandas().array
    if values.null_count:
        mask = values.is_null().to_numpy(zero_copy_only=False)
        values = values.fill_null(_FILLER.get(kind, 0))
    else:  # most columns: no bitmap to read, nothing to fill (each a copy of the column)
        mask = np.zeros(len(values), dtype=bool)
    if kind == "float":
        return pd.arrays.FloatingArray(values.to_numpy(), mask)
    if kind == "bool":
        return pd.arrays.BooleanArray(values.to_numpy(zero_copy_only=False), mask)
    return pd.arrays.IntegerArray(values.to_numpy(), mask)


#: What a missing value of a kind is filled with under its mask (any value would do; these are cheap).
_FILLER: dict[str, Any] = {"float": 0.0, "bool": False}


def _one_array(values: pa.ChunkedArray) -> pa.Array:
    """``values`` as one array: a lone chunk as it is (``combine_chunks`` would copy it, as a take leaves it)."""
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def _categorical(values: pa.ChunkedArray, order: pa.Array | None) -> pd.Categorical:
    """Dictionary-encoded pages -> one categorical with sorted categories (as ``astype("category")`` gives)."""
    if not pa.types.is_dictionary(values.type):
        values = values.dictionary_encode()
    values = values.unify_dictionaries()
    labels = values.chunk(0).dictionary if values.num_chunks else pa.array([], pa.large_string())
    indices = _one_array(pa.chunked_array([c.indices for c in values.chunks], values.type.index_type))
    found = (indices.fill_null(-1) if indices.null_count else indices).to_numpy()  # one call for all pages
    if order is not None:
        found = found[order.to_numpy()]
    sort = np.argsort(np.asarray(labels.to_pylist(), dtype=object), kind="stable") if len(labels) else np.empty(0, int)
    rank = np.empty(len(sort) + 1, dtype=np.min_scalar_type(-len(sort) - 2))  # the dtype pandas keeps codes in
    rank[sort] = np.arange(len(sort))
    rank[-1] = -1  # a missing value keeps code -1
    categories = pd.Index(np.asarray(labels.to_pylist(), dtype=object)[sort], dtype="str")
    # valid by construction: pandas' check would pass over the codes twice more
    return pd.Categorical.from_codes(rank[found], dtype=pd.CategoricalDtype(categories), validate=False)
