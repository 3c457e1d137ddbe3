"""The :class:`Store` -- a directory of streams -- and the ``store=`` and ``lookback=`` arguments.

Where each source, account and server lives under the root, and reading,
listing and clearing what is stored there.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import platformdirs

from .._ingest.records import empty_frame, finish
from .._ingest.schema import STATEMENTS, TRANSACTIONS, Schema
from ..errors import ConfigurationError
from .files import server_of
from .lazy import ROWS_PER_PARTITION
from .roots import LocalRoot, root_of, sort_key
from .stream import Stream

#: How far before the previous pull's end a new load re-reads.
DEFAULT_LOOKBACK = pd.Timedelta(days=3)

#: Sources kept in a store: identity column, month column, schema.
SOURCES: dict[str, tuple[str, str, Schema | None]] = {
    "transactions": ("id", "created_at", TRANSACTIONS),
    "statements": ("row_id", "created", STATEMENTS),
    "balance_records": ("report_id", "", None),
}
#: The sources a store reads back as frames: those with a schema.
_FRAMED: dict[str, tuple[str, str, Schema]] = {s: (i, t, f) for s, (i, t, f) in SOURCES.items() if f is not None}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Store:
    """A directory of pulled pages (Parquet) and pull states (JSON), safe to kill and to share.

    Any number of processes and threads may load into one store at once
    (see :mod:`ledgerkit.store` for how they take turns).

    Parameters
    ----------
    path : str or os.PathLike, optional
        The store's root; by default ``platformdirs.user_cache_dir("ledgerkit")``.
        A ``file://`` URL is taken as its path. ``s3://bucket/prefix`` keeps
        the store on AWS S3 or an S3-compatible server (MinIO, ...) with the
        same guarantees (needs ``pip install 'ledgerkit[s3]'``; credentials
        and endpoint from the AWS environment -- ``AWS_ACCESS_KEY_ID``,
        ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL_S3`` -- or a profile,
        never in the URL). Other object stores (``gs://``, ``az://``, ...)
        are refused: their conditional writes are not wired, and without
        them several writers could lose or double rows.
    timeout : float, optional
        Seconds a load waits for another load pulling the same stream (and
        :meth:`clear` for the loads running) before it raises
        :class:`~ledgerkit.errors.StoreError`; None (default) waits as long
        as the other takes.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     store = Store(root)
    ...     store.read("transactions").empty, store.manifest("transactions")
    (True, [])
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float | None = None) -> None:
        if path is None:
            path = platformdirs.user_cache_dir("ledgerkit")
        if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError("path", type(path).__name__, "a directory path (str or os.PathLike) or None")
        if not str(os.fspath(path)).strip():
            raise ConfigurationError(
                "path", os.fspath(path), "a directory path, not an empty string (None for the default store)"
            )
        if "\x00" in str(os.fspath(path)):
            raise ConfigurationError("path", os.fspath(path), "a directory path without NUL characters")
        try:
            root = root_of(os.fspath(path))
            is_file = isinstance(root, LocalRoot) and root.path.exists() and not root.path.is_dir()
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: '~user' of no known user
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError("path", os.fspath(path), "a directory path this process may look into") from None
        if is_file:
            raise ConfigurationError("path", str(root), "a directory (this is a file)")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < float("inf")
        ):
            raise ConfigurationError(
                "timeout", timeout, "None (wait as long as another pull takes) or a number of seconds >= 0"
            )
        self._root = root
        #: The store's directory (a Path), or its ``s3://bucket/prefix`` URL on an object store.
        self.path: Any = root.path if isinstance(root, LocalRoot) else str(root)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Store(path={str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # internal --------------------------------------------------------------
    def stream(self, source: str, account: str, server: str, key: dict[str, Any]) -> Stream:
        """The stream of ``source``/``account`` on ``server`` (see :func:`server_of`) for one kind of pull.

        Work on it inside ``with`` (see :class:`Stream`): that holds its lock.
        """
        return Stream(
            self._root,
            self._server_key(source, account, server),
            {"source": source, "account": account, "server": server, **key},
            locks=f"_locks/{source}/{self._account_name(account)}/{self._server_name(server)}",
            timeout=self.timeout,
        )

    @staticmethod
    def _account_name(account: Any) -> str:
        name = str(account)
        if not _SAFE_NAME.fullmatch(name) or name in (".", ".."):
            name = "h-" + hashlib.sha256(name.encode()).hexdigest()[:16]
        return name

    @staticmethod
    def _server_name(server: str) -> str:
        return "server-" + hashlib.sha256(server.encode()).hexdigest()[:8]

    def _server_key(self, source: str, account: str, server: str) -> str:
        """The key of the directory of ``source``/``account`` on ``server``."""
        return f"{source}/{self._account_name(account)}/{self._server_name(server)}"

    def _server_dir(self, source: str, account: str, server: str) -> Any:
        """That directory itself: a Path in a local store (the benchmark writes its store there), else its URL."""
        return self._root.location(self._server_key(source, account, server))

    def _streams(self, source: str, account: Any, base_url: str | None = None) -> Iterator[Stream]:
        """The streams stored for ``source`` (one account's, one server's), for reading without their locks."""
        accounts = "*" if account is None else self._account_name(str(account))
        servers = "server-*" if base_url is None else self._server_name(server_of(base_url))
        for state in self._root.glob(f"{source}/{accounts}/{servers}/_streams/*.json"):
            _, name, server, _, file = state.split("/")
            yield Stream(
                self._root,
                f"{source}/{name}/{server}",
                {"source": source, "account": name},
                locks=f"_locks/{source}/{name}/{server}",
                timeout=self.timeout,
                name=file.removesuffix(".json"),
            )

    # public ----------------------------------------------------------------
    def read(
        self,
        source: str,
        *,
        account: str | int | None = None,
        start: Any = None,
        end: Any = None,
        base_url: str | None = None,
    ) -> pd.DataFrame:
        """Every stored row of ``source`` (of one ``account`` if given), newest version of each id.

        Parameters
        ----------
        source : {"transactions", "statements"}
        account : str or int, optional
            The shop id.
        base_url : str, optional
            Only rows pulled from this API base URL; without it the rows of
            every server the store has seen are merged (by id).
        start, end : timestamp, optional
            Only rows whose ``created_at`` (transactions) / ``created``
            (statements) is in ``[start, end)``; naive values are UTC.

        Returns
        -------
        pandas.DataFrame
            The loader's columns; transactions by ascending ``id``, statements in
            stored (chain) order. Rows of several accounts (no ``account``
            given, and the store holds more than one) come with an ``account``
            column first -- the stored shop or PSP id, as a category -- so that
            the analysis keeps each account's chains, payouts and ids apart, as
            it does for a many-account pull; ids are resolved within each account.
        """
        _check_source(source, ("transactions", "statements"))
        _check_selection(account, base_url)
        first, last = _bound(start, "start"), _bound(end, "end")
        if first is not None and last is not None and not first < last:
            raise ConfigurationError("end", end, f"a moment after start={start!r} ([start, end) is empty)")
        id_column, time_column, schema = _FRAMED[source]
        by_account: dict[str, list[pd.DataFrame]] = {}
        for stream in self._streams(source, account, base_url):
            state, parts = stream.snapshot()
            by_account.setdefault(_account_of(state, stream), []).extend(parts)
        by_account = {name: parts for name, parts in by_account.items() if parts}
        if not by_account:
            return empty_frame(schema)
        if len(by_account) == 1:
            frame = _newest(pd.concat(next(iter(by_account.values())), ignore_index=True), source, [id_column], schema)
            return _between(frame, time_column, first, last)
        tagged = [part.assign(account=name) for name, parts in by_account.items() for part in parts]
        frame = _newest(pd.concat(tagged, ignore_index=True), source, ["account", id_column], schema)
        frame = frame[["account", *(c for c in frame.columns if c != "account")]]
        if source == "transactions":
            frame = frame.sort_values(["account", id_column], kind="stable", ignore_index=True)
        frame["account"] = frame["account"].astype(pd.CategoricalDtype(sorted(by_account)))
        return _between(frame, time_column, first, last)

    def dask(
        self,
        source: str,
        *,
        account: str | int | None = None,
        start: Any = None,
        end: Any = None,
        base_url: str | None = None,
        rows_per_partition: int = ROWS_PER_PARTITION,
    ) -> Any:
        """The stored rows of ``source`` as a lazy Dask DataFrame, partitioned by account and month.

        The same rows and dtypes as :meth:`read` (the parts the states list,
        newest version of each id), read by Dask's workers a partition at a
        time: the analysis functions take the result as they take a pandas
        frame (see :mod:`ledgerkit.store.lazy` for the partitioning and the
        order of the rows). Needs the Dask extra (``pip install
        'ledgerkit[dask]'``); the parts' footers are read now, their rows
        when the frame is computed.

        Parameters
        ----------
        source : {"transactions", "statements"}
        account, start, end, base_url
            As for :meth:`read`.
        rows_per_partition : int
            About how many rows a partition holds: a month is cut into
            pieces of this size where no id can be in two of them.

        Returns
        -------
        dask.dataframe.DataFrame

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     frame = Store(root).dask("statements")
        ...     frame.npartitions, len(frame.compute())
        (1, 0)
        """
        from ..analysis._dask import INSTALL, require_dask

        _check_source(source, ("transactions", "statements"))
        _check_selection(account, base_url)
        require_dask("source", source)
        if isinstance(rows_per_partition, bool) or not isinstance(rows_per_partition, int) or rows_per_partition < 1:
            raise ConfigurationError("rows_per_partition", rows_per_partition, "a whole number of rows >= 1")
        try:
            import fsspec  # noqa: F401 - only whether it is there
        except ImportError:
            raise ConfigurationError(
                "source", source, f"the Dask extra installed (fsspec is missing): {INSTALL}"
            ) from None

        from .lazy import describe, frame_of

        id_column, time_column, schema = _FRAMED[source]
        window = (_bound(start, "start"), _bound(end, "end"))
        fs, base = self._root.filesystem()
        key = id_column if source == "transactions" else time_column
        parts = []
        for stream in self._streams(source, account, base_url):
            state = stream._load()
            for relative in (state or {}).get("parts", []):
                month = relative.split("/", 1)[0]
                part = describe(
                    fs, f"{base}/{stream.base}/{relative}", _account_of(state, stream), month, key, time_column
                )
                if _overlaps(part.times, window):
                    parts.append(part)
        return frame_of(fs, source, schema, parts, id_column, time_column, window, rows_per_partition)

    def manifest(
        self, source: str | None = None, *, account: str | int | None = None, base_url: str | None = None
    ) -> list[dict[str, Any]]:
        """The state of every stored stream: its key (with the server), parts, cursor and coverage (plain dicts).

        Each also names its ``stream`` and the ``directory`` its parts are relative to.

        Examples
        --------
        >>> Store("/nonexistent/ledgerkit").manifest()
        []
        """
        sources = [source] if source is not None else list(SOURCES)
        for s in sources:
            _check_source(s, tuple(SOURCES))
        _check_selection(account, base_url)
        states = []
        for s in sources:
            for stream in self._streams(s, account, base_url):
                state = stream._load()
                if state is not None:  # (cleared meanwhile)
                    state.pop("writer", None)  # the last load's token (object stores): not what is stored
                    states.append({**state, "stream": stream.name, "directory": str(stream.directory)})
        return states

    def clear(self, source: str | None = None, *, account: str | int | None = None) -> None:
        """Forget what is stored: everything, one source, or one account of one source.

        Loads into the store that are running finish first (their rows are
        then cleared too); loads that start meanwhile wait for the clear. The
        empty lock files under ``_locks/`` stay (see :mod:`ledgerkit.store.locks`).

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     Store(root).clear("transactions")
        """
        _check_selection(account, None)
        if source is None:
            if account is not None:
                raise ConfigurationError("source", None, "a source when account is given")
            parts: list[tuple[str, ...]] = [(s,) for s in SOURCES]
        else:
            _check_source(source, tuple(SOURCES))
            parts = [(source,) if account is None else (source, self._account_name(account))]
        root = self._root
        if not root.exists():
            return
        with root.gate(timeout=self.timeout, what=f"the store {self.path}"), ExitStack() as held:
            for lock in sorted({k for names in parts for k in root.locks_under("/".join(names))}, key=sort_key):
                stem = lock.rsplit("/", 1)[-1].removesuffix(".lock")
                held.enter_context(root.lock(lock, timeout=self.timeout, what=f"the stream {stem}"))
            for names in parts:
                root.delete_tree("/".join(names))


def _check_source(source: Any, allowed: tuple[str, ...]) -> None:
    if source not in allowed:
        raise ConfigurationError("source", source, f"one of {', '.join(allowed)}")


def _account_of(state: dict[str, Any] | None, stream: Stream) -> str:
    """The account a stream's rows belong to: the id its state was stored under, else its directory's name."""
    key = (state or {}).get("key")
    return str(key["account"]) if isinstance(key, dict) and key.get("account") is not None else stream.key["account"]


def _newest(frame: pd.DataFrame, source: str, ids: list[str], schema: Any) -> pd.DataFrame:
    """One row per id (within an account when ``ids`` holds it): a transaction's last version, a line's first copy."""
    frame = frame.drop_duplicates(ids, keep="last" if source == "transactions" else "first")
    return finish([frame.reset_index(drop=True)], schema, sort_by="id" if source == "transactions" else None)


def _check_selection(account: Any, base_url: Any) -> None:
    """``account`` (a shop or PSP id) and ``base_url`` (a server's URL) as :meth:`Store.read` takes them."""
    if account is not None and (
        isinstance(account, bool) or not isinstance(account, (str, int)) or not str(account).strip()
    ):
        raise ConfigurationError("account", account, "a shop or PSP id (a string or an integer) or None")
    if base_url is not None and (
        not isinstance(base_url, str) or not server_of(base_url).startswith(("http://", "https://"))
    ):
        raise ConfigurationError("base_url", base_url, "the http(s) base URL the rows were pulled from, or None")


def _overlaps(times: tuple[Any, Any], window: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> bool:
    """Whether a part whose times span ``times`` (None: unknown) may hold rows in ``[start, end)``."""
    low, high = (None if t is None else pd.Timestamp(t) for t in times)
    start, end = window
    if low is None or high is None:
        return True
    low, high = (t.tz_localize("UTC") if t.tzinfo is None else t for t in (low, high))
    return (start is None or high >= start) and (end is None or low < end)


def _bound(value: Any, parameter: str) -> pd.Timestamp | None:
    if value is None:
        return None
    expected = "a timestamp, e.g. '2025-01-01' or a timezone-aware datetime"
    if not isinstance(value, (str, date, np.datetime64)):  # a bare number would be nanoseconds of 1970
        raise ConfigurationError(parameter, value, expected)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigurationError(parameter, value, expected) from None
    if ts is pd.NaT:
        raise ConfigurationError(parameter, value, "a timestamp, not NaT")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _between(frame: pd.DataFrame, column: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    if start is None and end is None:
        return frame
    times = frame[column]
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= (times >= start).fillna(False)
    if end is not None:
        mask &= (times < end).fillna(False)
    return frame[mask].reset_index(drop=True)


def as_store(value: Any) -> Store | None:
    """The ``store=`` argument of a loader as a :class:`Store` (None/False: no store).

    Examples
    --------
    >>> as_store(None) is None, as_store("/tmp/lk-store")
    (True, Store(path='/tmp/lk-store'))
    """
    if value is None or value is False:
        return None
    if value is True:
        return Store()
    if isinstance(value, Store):
        return value
    if isinstance(value, (str, os.PathLike)):
        try:
            return Store(value)
        except ConfigurationError as exc:
            raise ConfigurationError("store", exc.value, exc.expected) from None
    raise ConfigurationError(
        "store", type(value).__name__, "a ledgerkit.Store, a directory path, True (default) or None"
    )


def lookback_of(value: Any) -> pd.Timedelta:
    """The ``lookback=`` argument as a non-negative Timedelta (None: :data:`DEFAULT_LOOKBACK`).

    A string needs its unit: ``"3"`` would be read as 3 nanoseconds.

    Examples
    --------
    >>> lookback_of("36h"), lookback_of(None)
    (Timedelta('1 days 12:00:00'), Timedelta('3 days 00:00:00'))
    """
    if value is None:
        return DEFAULT_LOOKBACK
    expected = "a non-negative pandas.Timedelta, e.g. pd.Timedelta(days=3), or a duration with its unit such as '3D'"
    if isinstance(value, str) and _is_number(value):
        raise ConfigurationError("lookback", value, expected)
    if isinstance(value, (pd.Timedelta, timedelta)) or (isinstance(value, str) and value.strip()):
        try:
            delta = pd.Timedelta(value)
        except (TypeError, ValueError, OverflowError):
            delta = None
        if delta is not None and delta is not pd.NaT and delta >= pd.Timedelta(0):
            return delta
    raise ConfigurationError("lookback", value, expected)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
