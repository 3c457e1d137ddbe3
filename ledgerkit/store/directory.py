"""The :class:`Store` -- a directory of streams -- and the ``store=`` and ``lookback=`` arguments.

Where each source, account and server lives under the root, and reading,
listing and clearing what is stored there.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import platformdirs

from ..errors import ConfigurationError
from .._ingest.schema import STATEMENTS, TRANSACTIONS, Schema
from .._ingest.records import empty_frame, finish
from .files import server_of
from .stream import Stream

#: How far before the previous pull's end a new load re-reads.
DEFAULT_LOOKBACK = pd.Timedelta(days=3)

#: Sources kept in a store: identity column, month column, schema.
SOURCES: dict[str, tuple[str, str, Schema | None]] = {
    "transactions": ("id", "created_at", TRANSACTIONS),
    "statements": ("row_id", "created", STATEMENTS),
    "balance_records": ("report_id", "", None),
}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Store:
    """A directory of pulled pages (Parquet) and pull states (JSON), safe to kill at any moment.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The store's root; by default ``platformdirs.user_cache_dir("ledgerkit")``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     store = Store(root)
    ...     store.read("transactions").empty, store.manifest("transactions")
    (True, [])
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        if path is None:
            path = platformdirs.user_cache_dir("ledgerkit")
        if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError("path", type(path).__name__, "a directory path (str or os.PathLike) or None")
        root = Path(path).expanduser()
        if root.exists() and not root.is_dir():
            raise ConfigurationError("path", str(root), "a directory (this is a file)")
        self.path = root

    def __repr__(self) -> str:
        return f"Store(path={str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # internal --------------------------------------------------------------
    def stream(self, source: str, account: str, server: str, key: dict[str, Any]) -> Stream:
        """The stream of ``source``/``account`` on ``server`` (see :func:`server_of`) for one kind of pull."""
        return Stream(self._server_dir(source, account, server),
                      {"source": source, "account": account, "server": server, **key})

    def _account_dir(self, source: str, account: str) -> Path:
        name = str(account)
        if not _SAFE_NAME.match(name) or name in (".", ".."):
            name = "h-" + hashlib.sha256(name.encode()).hexdigest()[:16]
        return self.path / source / name

    def _server_dir(self, source: str, account: str, server: str) -> Path:
        return self._account_dir(source, account) / ("server-" + hashlib.sha256(server.encode()).hexdigest()[:8])

    def _streams(self, source: str, account: Any, base_url: str | None = None) -> Iterator[Stream]:
        base = self.path / source
        accounts = [self._account_dir(source, str(account))] if account is not None else sorted(
            p for p in base.glob("*") if p.is_dir())
        servers = [d for a in accounts for d in sorted(a.glob("server-*")) if d.is_dir()]
        if base_url is not None:
            wanted = self._server_dir(source, "x", server_of(base_url)).name
            servers = [d for d in servers if d.name == wanted]
        for directory in servers:
            for state in sorted((directory / "_streams").glob("*.json")):
                stream = Stream.__new__(Stream)
                stream.directory, stream.state_path, stream.name = directory, state, state.stem
                stream.state = stream._load()
                stream.key = stream.state.get("key", {})
                yield stream

    # public ----------------------------------------------------------------
    def read(self, source: str, *, account: str | int | None = None, start: Any = None, end: Any = None,
             base_url: str | None = None) -> pd.DataFrame:
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
            stored (chain) order.
        """
        _check_source(source, ("transactions", "statements"))
        id_column, time_column, schema = SOURCES[source]
        frames = [f for s in self._streams(source, account, base_url) for f in s.frames()]
        if not frames:
            return empty_frame(schema)
        keep = "last" if source == "transactions" else "first"
        frame = pd.concat(frames, ignore_index=True).drop_duplicates(id_column, keep=keep)
        frame = finish([frame.reset_index(drop=True)], schema, sort_by="id" if source == "transactions" else None)
        return _between(frame, time_column, _bound(start, "start"), _bound(end, "end"))

    def manifest(self, source: str | None = None, *, account: str | int | None = None,
                 base_url: str | None = None) -> list[dict[str, Any]]:
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
        return [{**stream.state, "stream": stream.name, "directory": str(stream.directory)} for s in sources
                for stream in self._streams(s, account, base_url)]

    def clear(self, source: str | None = None, *, account: str | int | None = None) -> None:
        """Forget what is stored: everything, one source, or one account of one source.

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     Store(root).clear("transactions")
        """
        if source is None:
            if account is not None:
                raise ConfigurationError("source", None, "a source when account is given")
            targets = [self.path / s for s in SOURCES]
        else:
            _check_source(source, tuple(SOURCES))
            targets = [self._account_dir(source, str(account)) if account is not None else self.path / source]
        for target in targets:
            if target.exists():
                shutil.rmtree(target)


def _check_source(source: Any, allowed: tuple[str, ...]) -> None:
    if source not in allowed:
        raise ConfigurationError("source", source, f"one of {', '.join(allowed)}")


def _bound(value: Any, parameter: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigurationError(parameter, value, "a timestamp, e.g. '2025-01-01' or a timezone-aware datetime") from None
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
    raise ConfigurationError("store", type(value).__name__, "a ledgerkit.Store, a directory path, True (default) or None")


def lookback_of(value: Any) -> pd.Timedelta:
    """The ``lookback=`` argument as a non-negative Timedelta (None: :data:`DEFAULT_LOOKBACK`)."""
    if value is None:
        return DEFAULT_LOOKBACK
    if isinstance(value, (pd.Timedelta, timedelta)) or (isinstance(value, str) and value.strip()):
        try:
            delta = pd.Timedelta(value)
        except (TypeError, ValueError):
            delta = None
        if delta is not None and delta is not pd.NaT and delta >= pd.Timedelta(0):
            return delta
    raise ConfigurationError("lookback", value, "a non-negative pandas.Timedelta, e.g. pd.Timedelta(days=3)")
