"""What the stored pulls of every source share: storing pages as they come, and the result's manifest.

A stored load asks the sources for pages like any other caller (a
validated request, :func:`ledgerkit.sources._pull.iterate`) and keeps them:
:class:`StoredLoad` stores each page before the state that moves the
cursor, from one thread or several, and :class:`_Totals` adds the pulls'
manifests up into one with a plain load's keys.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .._ingest.manifest import Manifest, safe_parameters
from .._ingest.schema import Schema
from .._transport.http import PullStats
from .._transport.progress import PullProgress
from .._transport.ratelimit import RateLimiter, limited_session
from ..sources._pull import Connection, Pull, iterate
from .directory import Store
from .files import server_of
from .stream import Stream


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat()


#: Manifest counters that add up over the pulls one stored load makes.
_SUMMED = (
    "requests",
    "retries",
    "bytes",
    "duplicates_dropped",
    "rounded_values",
    "requests_sent_ahead",
    "requests_sent_ahead_unused",
    "pages_fitting_learned_schema",
    "pages_not_fitting_learned_schema",
    "pages_framed_early",
)


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
            elif key == "dialect":
                self.merged["dialect"] = _merge_dialect(self.merged.get("dialect", {}), value or {})
            else:  # descriptive keys (sent_from, windows, total, ...): the latest pull's
                self.merged[key] = value

    def as_dict(self) -> dict[str, Any]:
        out = {
            **Manifest("", {}).as_dict(),
            **self.merged,
            "pages": self.pages,
            "fetched_rows": self.fetched_rows,
            "retry_reasons": dict(self.reasons),
        }
        if self.pii_dropped:
            out["pii_dropped"] = sorted(self.pii_dropped)
        if self.windows:
            out.update(windows=self.windows, window_count=len(self.windows))
        return out


def _merge_dialect(seen: dict[str, Any], learnt: dict[str, Any]) -> dict[str, Any]:
    """What several pulls taught, together: lists united, counts added, anything else the latest."""
    out = dict(seen)
    for key, value in learnt.items():
        before = out.get(key)
        if isinstance(value, list) and isinstance(before, list):
            out[key] = sorted(set(before) | set(value), key=str)
        elif isinstance(value, dict) and isinstance(before, dict):
            out[key] = {k: before.get(k, 0) + v if isinstance(v, int) else v for k, v in value.items()}
        else:
            out[key] = value
    return out


@dataclass
class StoredLoad:
    """One load through the store: its connection, how it pulls, and the counters of its pulls.

    Every pull it makes gets its own copy of the connection (fresh counters,
    and a session of its own paced by one shared limiter when pulls run in
    threads); :meth:`keep` stores a pull's pages as they come.
    """

    store: Store
    connection: Connection
    lookback: pd.Timedelta
    max_workers: int
    progress: PullProgress
    totals: _Totals = field(default_factory=_Totals)
    lock: threading.Lock = field(default_factory=threading.Lock)
    limiter: RateLimiter = field(default_factory=RateLimiter)

    @property
    def account(self) -> str:
        return self.connection.config.credentials.user

    @property
    def server(self) -> str:
        return server_of(self.connection.config.base_url)

    def fresh_connection(self, *, threaded: bool = False) -> Connection:
        """A copy of the connection for one pull: its own counters (and session, for a thread)."""
        session = limited_session(self.connection.session, self.limiter) if threaded else self.connection.session
        return replace(self.connection, session=session, stats=PullStats())

    def keep(
        self,
        stream: Stream,
        pull: Pull,
        schema: Schema,
        month_column: str,
        advance: Callable[[dict[str, Any], dict[str, Any], pd.DataFrame], None],
    ) -> None:
        """Store each page of ``pull``, then the state that ``advance(state, manifest, page)`` moves on."""
        try:
            for page in iterate(pull, schema):
                with self.lock:
                    stream.state["parts"].extend(stream.write_page(page, month_column))
                    advance(stream.state, page.attrs["ledgerkit"], page)
                    stream.save()
                    self.totals.pages += 1
                    self.totals.fetched_rows += len(page)
                self.progress.page(rows=len(page))
        finally:
            with self.lock:
                self.totals.add(pull.manifest.as_dict(pull.client.stats))


def _result_manifest(
    source: str, parameters: dict[str, Any], load: StoredLoad, rows: int, streams: list[Stream]
) -> dict[str, Any]:
    """The keys of a plain load's manifest (counters summed over the pulls) plus the store's own."""
    parameters = {
        **parameters,
        "max_workers": load.max_workers,
        "base_url": load.connection.config.base_url,
        ("psp_id" if source == "balance_records" else "shop_id"): load.account,
        "store": str(load.store.path),
        "lookback": str(load.lookback),
    }
    return {
        **load.totals.as_dict(),
        "source": source,
        "parameters": safe_parameters(parameters),
        "rows": rows,
        "complete": True,
        "store": str(load.store.path),
        "streams": [s.name for s in streams],
        "lookback": str(load.lookback),
        "stored_rows": max(0, rows - load.totals.fetched_rows),
        "include_pii": bool(parameters.get("include_pii", False)),
        "pulled_at": _now().isoformat(timespec="seconds"),
    }
