"""What the stored pulls of every source share: storing pages as they come, and the result's manifest.

:func:`_run_pages` stores each page before the state that moves the cursor;
:class:`_Totals` adds the pulls' manifests up into one with a plain load's keys.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import pandas as pd

from ..config import resolve
from .._ingest.manifest import Manifest, safe_parameters
from .directory import Store
from .files import server_of
from .stream import Stream


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(timezone.utc))


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat()


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
