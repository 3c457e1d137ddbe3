"""A local store of pulled pages, so that a second load asks the API only for what is new.

Layout under the store's root (one directory per source and account -- the
shop or PSP id, never its secret --, one per server, and one per month of
the rows)::

    <root>/transactions/<shop id>/server-<hash>/month=2025-01/<stream>-<seq>.parquet
    <root>/transactions/<shop id>/server-<hash>/_streams/<stream>.json
    <root>/statements/<shop id>/server-<hash>/month=2025-01/<stream>-<seq>.parquet
    <root>/statements/<shop id>/server-<hash>/_streams/<stream>.json
    <root>/balance_records/<psp id>/server-<hash>/reports/<report id>.zip
    <root>/balance_records/<psp id>/server-<hash>/_streams/<stream>.json

``<hash>`` names the API's base URL reduced to scheme, host, port and path
(:func:`server_of`; never credentials), so a test and a live account with
the same shop id -- or two sandboxes -- never share rows. The reduced URL is
also part of each stream's key in its JSON state.

A *stream* is one kind of pull (for transactions: date type, status, zone,
payment method, correction filter, PII choice; for statements: the filter).
Its JSON state lists the Parquet parts that belong to it, the cursor of a
pull in progress and what is covered. Every file is written atomically
(temporary file in the same directory, fsync, ``os.replace``) and a part is
written *before* the state that lists it, so a pull killed at any moment
leaves a readable store: a part not (yet) listed is ignored and swept away
later, and the next load resumes from the last page the state records.

Re-running a load reads the stored rows and asks the API only for the
periods not covered yet plus a *lookback* stretch (default 3 days before the
previous pull's end) that catches late-arriving rows; for transactions it
also re-reads the whole covered period filtered on ``manually_corrected_at``
since the previous refresh minus the lookback, so that a row created long ago
and corrected lately is replaced too. Re-read rows replace the stored ones
with the same id (the later read wins).

Examples
--------
>>> import tempfile
>>> from ledgerkit.sandbox import Sandbox
>>> from ledgerkit.sources.transactions import load_transactions
>>> with Sandbox(size=200) as sb, tempfile.TemporaryDirectory() as root:
...     store = Store(root)
...     first = load_transactions("2025-01-01", "2025-02-01", store=store, **sb.kwargs("transactions"))
...     again = load_transactions("2025-01-01", "2025-02-01", store=store, **sb.kwargs("transactions"))
...     (again.equals(first), again.attrs["ledgerkit"]["stored_rows"] > 0)
(True, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import pandas as pd
import platformdirs

from .config import resolve
from .errors import ConfigurationError, CountMismatchError, StoreError
from .frames import STATEMENTS, TRANSACTIONS, Manifest, Schema, empty_frame, finish, safe_parameters

__all__ = ["Store", "as_store", "server_of", "DEFAULT_LOOKBACK", "SOURCES"]

#: How far before the previous pull's end a new load re-reads.
DEFAULT_LOOKBACK = pd.Timedelta(days=3)

#: Sources kept in a store: identity column, month column, schema.
SOURCES: dict[str, tuple[str, str, Schema | None]] = {
    "transactions": ("id", "created_at", TRANSACTIONS),
    "statements": ("row_id", "created", STATEMENTS),
    "balance_records": ("report_id", "", None),
}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


# ----------------------------------------------------------------- atomic files


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    Temporary file in the same directory, fsync, ``os.replace``, fsync of the directory.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "a.json"
    ...     atomic_write(p, b"{}")
    ...     p.read_bytes()
    b'{}'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A page frame as Parquet bytes, without attrs (the manifest stays out of the store)."""
    frame = frame.copy(deep=False)
    frame.attrs = {}
    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].map(lambda v: None if v is None else json.dumps(v, default=str))
    try:
        import io

        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
    except (ValueError, TypeError, ImportError) as exc:
        raise StoreError(f"a page could not be written as Parquet: {exc}") from None
    return buffer.getvalue()


def server_of(base_url: str) -> str:
    """``base_url`` reduced to what names a server: scheme, host, port and path.

    Credentials, query and fragment are left out, host and scheme are lower
    case and the default port is written out, so that spellings of one URL
    name one server.

    Examples
    --------
    >>> server_of("HTTP://Example.com/api/")
    'http://example.com:80/api'
    >>> server_of("https://api.test.maksekeskus.ee")
    'https://api.test.maksekeskus.ee:443'
    """
    parts = urlsplit(str(base_url).strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


# ----------------------------------------------------------------- a stream


def _key_text(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stream:
    """One kind of pull of one account: its parts (in write order) and its state.

    ``state`` is a plain dict saved as JSON; :meth:`save` writes it atomically.
    """

    def __init__(self, directory: Path, key: dict[str, Any]) -> None:
        self.directory = directory
        self.key = key
        self.name = _key_text(key)
        self.state_path = directory / "_streams" / f"{self.name}.json"
        self.state: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {"key": self.key, "parts": [], "seq": 0}
        try:
            state = json.loads(self.state_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise StoreError(f"the store state {self.state_path} is unreadable ({exc}); "
                             "remove it with Store.clear() and load again") from None
        if not isinstance(state, dict) or not isinstance(state.get("parts"), list):
            raise StoreError(f"the store state {self.state_path} is not a stream state; Store.clear() and load again")
        return state

    def save(self) -> None:
        atomic_write(self.state_path, json.dumps(self.state, indent=1, sort_keys=True).encode())

    def write_page(self, frame: pd.DataFrame, month_column: str) -> list[str]:
        """Write ``frame`` as one part per month; returns the parts' relative paths (not yet listed)."""
        if frame.empty:
            return []
        months = _months(frame[month_column]) if month_column in frame.columns else pd.Series("unknown", index=frame.index)
        written = []
        for month in sorted(months.unique()):
            self.state["seq"] = int(self.state.get("seq", 0)) + 1
            relative = f"month={month}/{self.name}-{self.state['seq']:06d}.parquet"
            atomic_write(self.directory / relative, _parquet_bytes(frame[months == month]))
            written.append(relative)
        return written

    def frames(self) -> list[pd.DataFrame]:
        """The listed parts, in write order."""
        try:
            return [pd.read_parquet(self.directory / part) for part in self.state["parts"]]
        except (OSError, ValueError) as exc:
            raise StoreError(f"a stored part of {self.directory} is unreadable ({exc}); "
                             "remove it with Store.clear() and load again") from None

    def sweep(self) -> None:
        """Remove this stream's parts and temporary files that no state lists (left by a killed pull)."""
        listed = set(self.state["parts"])
        for path in self.directory.glob(f"month=*/{self.name}-*.parquet"):
            if str(path.relative_to(self.directory)) not in listed:
                path.unlink(missing_ok=True)
        for path in self.directory.glob("**/.*.tmp"):
            path.unlink(missing_ok=True)


def _months(times: pd.Series) -> pd.Series:
    utc = pd.to_datetime(times, utc=True)
    return utc.dt.strftime("%Y-%m").fillna("unknown").astype(str)


# ----------------------------------------------------------------- the store


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


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(timezone.utc))


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat()


# ----------------------------------------------------------------- the stored pulls


#: Manifest counters that add up over the pulls one stored load makes.
_SUMMED = ("requests", "retries", "bytes", "duplicates_dropped", "rounded_values")


@dataclass
class _Totals:
    """The manifests of the pulls one stored load makes, added up into one with a plain load's keys."""

    pages: int = 0
    fetched_rows: int = 0
    merged: dict[str, Any] = field(default_factory=dict)
    reasons: Counter = field(default_factory=Counter)
    pii_dropped: set[str] = field(default_factory=set)
    windows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, manifest: dict[str, Any]) -> None:
        """Count one pull's last manifest (a pull's manifest is cumulative over its pages)."""
        for key, value in manifest.items():
            if key in _SUMMED:
                self.merged[key] = self.merged.get(key, 0) + int(value or 0)
            elif key == "retry_reasons":
                self.reasons.update(value or {})
            elif key == "pii_dropped":
                self.pii_dropped.update(value or [])
            else:  # descriptive keys (sent_from, windows, total, ...): the latest pull's
                self.merged[key] = value

    def as_dict(self) -> dict[str, Any]:
        out = {**Manifest("", {}).as_dict(), **self.merged, "pages": self.pages, "fetched_rows": self.fetched_rows,
               "retry_reasons": dict(self.reasons)}
        if self.pii_dropped:
            out["pii_dropped"] = sorted(self.pii_dropped)
        if self.windows:
            out.update(windows=self.windows, window_count=len(self.windows))
        return out


def _run_pages(stream: Stream, pages: Iterable[pd.DataFrame], month_column: str, totals: _Totals,
               advance: Any) -> None:
    """Store each page, then its state (``advance(state, manifest, page)`` moves the cursor)."""
    last: dict[str, Any] | None = None
    try:
        for page in pages:
            last = page.attrs.get("ledgerkit", {})
            parts = stream.write_page(page, month_column)
            stream.state["parts"].extend(parts)
            advance(stream.state, last, page)
            stream.save()
            totals.pages += 1
            totals.fetched_rows += len(page)
    finally:
        if last is not None:
            totals.add(last)


def _parameters(kw: dict[str, Any]) -> dict[str, Any]:
    """A loader's arguments for the manifest: no secret, no live objects."""
    hidden = ("store", "secret_key", "session", "progress", "retry")
    return {k: v for k, v in kw.items() if k not in hidden and not callable(v)}


def _result_manifest(source: str, parameters: dict[str, Any], store: Store, totals: _Totals, rows: int,
                     streams: list[Stream], lookback: pd.Timedelta) -> dict[str, Any]:
    """The keys of a plain load's manifest (counters summed over the pulls) plus the store's own."""
    return {
        **totals.as_dict(), "source": source, "parameters": safe_parameters(parameters), "rows": rows,
        "complete": True, "store": str(store.path), "streams": [s.name for s in streams],
        "lookback": str(lookback), "stored_rows": max(0, rows - totals.fetched_rows),
        "include_pii": bool(parameters.get("include_pii", False)),
        "pulled_at": _now().isoformat(timespec="seconds"),
    }


def _server(source: str, kw: dict[str, Any], user: str) -> tuple[str, str]:
    """The account id and the reduced base URL of a loader's arguments (arguments > environment)."""
    config = resolve(source, base_url=kw["base_url"], user=kw[user], secret=kw["secret_key"])
    return config.credentials.user, server_of(config.base_url)


# transactions -------------------------------------------------------------------


_TX_PASS = ("date_type", "status", "time_zone", "manual_correction_from", "manual_correction_to", "base_url",
            "shop_id", "secret_key", "progress", "include_pii", "retry", "session")


def load_stored_transactions(kw: dict[str, Any]) -> pd.DataFrame:
    """:func:`ledgerkit.sources.transactions.load_transactions` through a store (``kw``: its arguments).

    Per payment method, the periods not covered yet, the lookback stretch
    and the corrections since the last refresh are pulled page by page, each
    page stored before the cursor moves on.
    """
    from .sources import check_flag
    from .sources import transactions as tx

    store = as_store(kw["store"])
    lookback = lookback_of(kw.get("lookback"))
    include_pii = check_flag("include_pii", kw["include_pii"])
    check_flag("progress", kw["progress"], allow_none=True)
    for name in ("starting_after", "ending_before"):
        if kw.get(name) is not None:
            raise ConfigurationError(name, kw[name], "None when store= is given (the store keeps the cursor)")
    query = tx.plan_query(kw["date_from"], kw["date_to"], **{k: kw[k] for k in (
        "date_type", "status", "payment_method_type", "time_zone", "manual_correction_from",
        "manual_correction_to", "starting_after", "ending_before")})
    account, server = _server("transactions", kw, "shop_id")
    began, totals, streams, frames = _now(), _Totals(), [], []
    for method in query.methods:
        key = {"date_type": query.date_type, "status": query.status, "time_zone": query.time_zone,
               "payment_method_type": method, "include_pii": include_pii,
               "correction": [None if t is None else _iso(t) for t in (query.correction or (None, None))]}
        stream = store.stream("transactions", account, server, key)
        stream.sweep()
        _sync_transactions(stream, query, began, lookback, method, {k: kw[k] for k in _TX_PASS}, totals)
        streams.append(stream)
        rows = pd.concat(stream.frames(), ignore_index=True) if stream.state["parts"] else None
        if rows is not None:
            frames.append(_between(rows, query.date_type, query.date_from, query.date_to))
    if frames:
        frame = pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="last")
        frame = finish([frame], TRANSACTIONS, sort_by="id")
    else:
        frame = empty_frame(TRANSACTIONS, include_pii=include_pii)
    parameters = _parameters(kw)
    manifest = _result_manifest("transactions", {**parameters, "shop_id": account}, store, totals, len(frame),
                                streams, lookback)
    ids = frame["id"].dropna()
    manifest["first_cursor"], manifest["last_cursor"] = (int(ids.min()), int(ids.max())) if len(ids) else (None, None)
    frame.attrs["ledgerkit"] = manifest
    return frame


def _sync_transactions(stream: Stream, query: Any, began: pd.Timestamp, lookback: pd.Timedelta, method: str,
                       passed: dict[str, Any], totals: _Totals) -> None:
    """Finish a pull left pending, then pull what the period lacks, the lookback stretch and the corrections."""
    from .sources.transactions import iter_transactions

    def pull_pending() -> None:
        while stream.state.get("pending"):
            item = stream.state["pending"][0]

            def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
                if manifest.get("last_cursor") is not None:
                    item["cursor"] = manifest["last_cursor"]

            corrected = {"manual_correction_from": item["corrected_from"]} if item.get("corrected_from") else {}
            pages = iter_transactions(item["from"], item["to"], payment_method_type=(method,),
                                      starting_after=item["cursor"], **{**passed, **corrected})
            before = (totals.pages, totals.fetched_rows)
            _run_pages(stream, pages, "created_at", totals, advance)
            totals.windows.append({"payment_method_type": method, "from": item["from"], "to": item["to"],
                                   **corrected, "pages": totals.pages - before[0],
                                   "rows": totals.fetched_rows - before[1], "cursor": item["cursor"],
                                   "complete": True})
            stream.state["pending"].pop(0)
            lo, hi = stream.state.get("covered") or (item["from"], item["to"])
            stream.state["covered"] = [min(lo, item["from"]), max(hi, item["to"])]
            if not stream.state["pending"]:
                stream.state["refreshed_at"] = _iso(_now())
            stream.save()

    pull_pending()
    plan = _transactions_plan(stream.state, query, began, lookback)
    if plan:
        stream.state["pending"] = plan
        stream.save()
        pull_pending()


def _transactions_plan(state: dict[str, Any], query: Any, began: pd.Timestamp,
                       lookback: pd.Timedelta) -> list[dict[str, Any]]:
    """The pulls to make: what ``[date_from, date_to)`` adds to the covered period, the lookback
    stretch, and the covered period's rows manually corrected since the last refresh minus ``lookback``."""
    start, end = query.date_from, query.date_to
    covered = state.get("covered")
    if not covered:
        return [_pending(start, end)]
    lo, hi = pd.Timestamp(covered[0]), pd.Timestamp(covered[1])
    plan = []
    if start < lo:
        plan.append(_pending(start, lo))
    if end > hi:
        plan.append(_pending(hi, end))
    refreshed = pd.Timestamp(state.get("refreshed_at") or covered[1])
    if refreshed < began:  # not already brought up to date by this call
        stretch_start = max(lo, start, min(hi, refreshed) - lookback)
        stretch_end = min(hi, end)
        if stretch_start < stretch_end:
            plan.append(_pending(stretch_start, stretch_end))
        since = _corrections_since(query, refreshed - lookback)
        if since is not None and max(lo, start) < stretch_end:
            plan.append(_pending(max(lo, start), stretch_end, corrected_from=since))
    return plan


def _pending(start: pd.Timestamp, end: pd.Timestamp, corrected_from: pd.Timestamp | None = None) -> dict[str, Any]:
    item = {"from": _iso(start), "to": _iso(end), "cursor": None}
    if corrected_from is not None:
        item["corrected_from"] = _iso(corrected_from)
    return item


def _corrections_since(query: Any, since: pd.Timestamp) -> pd.Timestamp | None:
    """``manual_correction_from`` of the corrections pass (None: nothing to ask for).

    Within the query's own correction filter; a whole day in the query's zone
    for ``settled_at`` (the API counts days there).
    """
    lo, hi = query.correction or (None, None)
    if lo is not None:
        since = max(since, lo)
    if query.date_type == "settled_at":
        since = since.tz_convert(query.time_zone).floor("D").tz_convert("UTC")
    return None if hi is not None and since >= hi else since


# statements ---------------------------------------------------------------------


_ST_PASS = ("since", "until", "payout_id", "currency", "base_url", "shop_id", "secret_key", "progress", "retry",
            "session")


def load_stored_statements(kw: dict[str, Any]) -> pd.DataFrame:
    """:func:`ledgerkit.sources.statements.load_statements` through a store (``kw``: its arguments).

    Pages are stored as they arrive with the next page to ask for; a later
    call resumes there, or -- once complete -- re-reads from the page
    holding the lookback stretch (at least the last page) to the end.
    """
    from .sources import check_flag
    from .sources import statements as st

    store = as_store(kw["store"])
    lookback = lookback_of(kw.get("lookback"))
    check_flag("progress", kw["progress"], allow_none=True)
    if kw.get("start_page", 1) != 1:
        raise ConfigurationError("start_page", kw["start_page"], "1 when store= is given (the store keeps the cursor)")
    query = st.plan_query(**{k: kw[k] for k in ("since", "until", "payout_id", "per_page", "currency", "start_page")})
    account, server = _server("statements", kw, "shop_id")
    key = {"since": None if query.since is None else query.since.isoformat(),
           "until": None if query.until is None else query.until.isoformat(),
           "payout_id": query.payout_id, "per_page": query.per_page, "currency": query.currency}
    stream = store.stream("statements", account, server, key)
    stream.sweep()
    totals = _Totals()
    _sync_statements(stream, _now(), lookback, {k: kw[k] for k in _ST_PASS}, query.per_page, totals)
    frame = _statement_rows(stream)
    parameters = _parameters(kw)
    manifest = _result_manifest("statements", {**parameters, "shop_id": account}, store, totals, len(frame),
                                [stream], lookback)
    total = stream.state.get("total")
    manifest.update(total=total, first_cursor=1, last_cursor=None, count_verified=total is not None)
    manifest.setdefault("total_first", total)
    frame.attrs["ledgerkit"] = manifest
    return frame


def _statement_rows(stream: Stream) -> pd.DataFrame:
    if not stream.state["parts"]:
        return empty_frame(STATEMENTS)
    frame = pd.concat(stream.frames(), ignore_index=True).drop_duplicates("row_id", keep="first")
    return finish([frame.reset_index(drop=True)], STATEMENTS)


def _sync_statements(stream: Stream, began: pd.Timestamp, lookback: pd.Timedelta, passed: dict[str, Any],
                     per_page: int | None, totals: _Totals) -> None:
    """Resume a pull left part-way, or start one (afresh, or from the lookback page), then check the total."""
    from .sources.statements import iter_statements

    state = stream.state
    state.setdefault("per_page", per_page)
    if state.get("complete"):
        if pd.Timestamp(state["refreshed_at"]) >= began:
            return
        state.update(next_page=_refresh_from(stream, lookback), complete=False, pages_done=False)
        stream.save()
    elif not state.get("next_page") and not state.get("pages_done"):
        state.update(next_page=1, parts=[], complete=False)
        stream.save()

    def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
        nxt = manifest.get("last_cursor")
        if state["per_page"] is None and state["next_page"] == 1 and nxt == 2:
            state["per_page"] = len(page)  # the server's default page size, kept for resuming
        state.update(next_page=nxt, pages_done=nxt is None, total=manifest.get("total", state.get("total")))

    if not state.get("pages_done"):
        pages = iter_statements(start_page=state["next_page"], per_page=state["per_page"], **passed)
        _run_pages(stream, pages, "created", totals, advance)
    total, held = state.get("total"), len(_statement_rows(stream))
    if total is not None and total != held:
        state.update(parts=[], complete=False, next_page=None, pages_done=False)
        stream.save()
        raise CountMismatchError(f"the store holds {held} statement rows but X-Total-Count says {total}; "
                                 "the stored rows were dropped -- load again to pull them afresh")
    state.update(complete=True, refreshed_at=_iso(_now()))
    stream.save()


def _refresh_from(stream: Stream, lookback: pd.Timedelta) -> int:
    """Page to re-read from; keeps only the rows before it, compacted into one part."""
    rows = _statement_rows(stream)
    per_page = stream.state.get("per_page") or stream.key.get("per_page")
    if rows.empty or not per_page:
        stream.state["parts"] = []
        return 1
    last_pull = pd.Timestamp(stream.state["refreshed_at"])
    cutoff = min(rows["created"].max(), last_pull) - lookback
    first_recent = int((rows["created"] < cutoff).sum())
    page = min(first_recent // per_page, (len(rows) - 1) // per_page) + 1
    kept = rows.iloc[: (page - 1) * per_page]
    stream.state["parts"] = stream.write_page(kept, "created") if len(kept) else []
    return page


# balance records ----------------------------------------------------------------


def load_stored_balance_records(kw: dict[str, Any], body: dict[str, Any], resume: dict[str, Any]) -> Any:
    """:func:`ledgerkit.sources.balance_records.load_balance_records` through a store.

    The report's zip is kept under ``reports/<report id>.zip``. The stream
    (one per request body) records the report id as soon as the report
    exists (``pending_report_id``), so a repeated call -- after an error or
    a kernel restart -- picks that report up instead of requesting another;
    once the zip is complete it records ``report_id``, and the same request
    is then answered from the store without any request, provided the report
    was generated after ``date_to`` (else the period was not over yet and
    the report is requested again).
    """
    from .errors import NotFoundError, ReportExpiredError, ReportFailedError
    from .sheets import read_report_file
    from .sources.balance_records import BalanceReport, fetch_report

    store = as_store(kw["store"])
    if kw.get("download_dir") is not None:
        raise ConfigurationError("download_dir", str(kw["download_dir"]), "None when store= is given (the store keeps the file)")
    config = resolve("balance_records", base_url=kw["base_url"], user=kw["psp_id"], secret=kw["secret_key"])
    request = {k: v for k, v in body.items() if k != "notification_email"}
    stream = store.stream("balance_records", config.credentials.user, server_of(config.base_url), {"request": request})
    reports = stream.directory / "reports"
    for leftover in reports.glob("ledgerkit-dwh-*.zip"):  # a download cut short by a killed process
        leftover.unlink(missing_ok=True)
    cached = stream.state.get("report_id")
    if (cached and kw["report_id"] in (None, cached) and (reports / f"{cached}.zip").is_file()
            and _generated_after_period(stream.state.get("manifest") or {}, body)):
        sheets = read_report_file(reports / f"{cached}.zip")
        record = {**stream.state["manifest"], "requests": 0, "retries": 0, "bytes": 0, "from_store": True,
                  "store": str(store.path), "pulled_at": _now().isoformat(timespec="seconds")}
        for frame in (sheets.records, sheets.opening_balance):
            frame.attrs["ledgerkit"] = record
        return BalanceReport(sheets.records, sheets.opening_balance, record, cached)
    reports.mkdir(parents=True, exist_ok=True)

    def remember(report_id: str) -> None:
        stream.state["pending_report_id"] = report_id
        stream.save()

    def fetch(report_id: str | None) -> Any:
        return fetch_report(config, body, resume, report_id=report_id, download_dir=str(reports), on_report=remember,
                            **{k: kw[k] for k in ("poll_timeout", "poll_interval", "progress", "retry",
                                                  "max_rerequests")})

    pending = None if kw["report_id"] is not None else stream.state.get("pending_report_id")
    try:
        report = fetch(kw["report_id"] or pending)
    except NotFoundError:
        if pending is None:
            raise
        report = fetch(None)  # the pending report is gone on the DWH: request it anew
    except (ReportFailedError, ReportExpiredError):
        stream.state.pop("pending_report_id", None)  # picking it up again would not help
        stream.save()
        raise
    _fsync_dir(reports)
    stream.state.pop("pending_report_id", None)
    stream.state.update(report_id=report.report_id, manifest={**report.manifest, "store": str(store.path)})
    stream.save()
    return report


def _generated_after_period(manifest: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a stored report was generated once its period ``[date_from, date_to)`` was over."""
    try:
        generated = pd.Timestamp(manifest.get("generated_at"))
        date_to = pd.Timestamp(body["request_params"]["date_to"])
    except (TypeError, ValueError):
        return False
    return generated is not pd.NaT and generated.tzinfo is not None and date_to <= generated
