"""The manifest of a pull: what it asked, what it received, whether it is complete.

Every loader keeps a :class:`Manifest` while it pulls and stores it, as a
plain JSON-serialisable dict, in ``df.attrs["ledgerkit"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Manifest", "safe_parameters", "attach_manifest"]


def safe_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The pull's parameters as plain JSON values, without secrets or live objects.

    Examples
    --------
    >>> safe_parameters({"secret_key": "s", "session": object(), "date_from": pd.Timestamp("2025-01-01", tz="UTC"),
    ...                  "payment_method_type": ("credit_card",), "shop_id": 7})
    {'date_from': '2025-01-01T00:00:00+00:00', 'payment_method_type': ['credit_card'], 'shop_id': 7}
    """
    hidden = {"secret_key", "secret", "session", "progress", "retry", "psp_secret"}
    return {k: _plain(v) for k, v in parameters.items() if k not in hidden}


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass
class Manifest:
    """What one pull did; stored as a plain dict in ``df.attrs["ledgerkit"]``.

    The loader updates the counters as pages arrive; :meth:`as_dict` adds the
    HTTP counters (requests, retries, bytes) of a :class:`ledgerkit._transport.http.PullStats`.

    Examples
    --------
    >>> m = Manifest("statements", {"since": "2025-01-01"})
    >>> m.pages, m.rows = 3, 120
    >>> d = m.as_dict()
    >>> d["source"], d["pages"], d["rows"], d["complete"], d["requests"]
    ('statements', 3, 120, False, 0)
    """

    source: str
    parameters: dict[str, Any]
    include_pii: bool = False
    pages: int = 0
    rows: int = 0
    duplicates_dropped: int = 0
    rounded_values: int = 0
    first_cursor: Any = None
    last_cursor: Any = None
    complete: bool = False
    pulled_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, stats: Any = None) -> dict[str, Any]:
        """A JSON-serialisable dict; ``stats`` is a ``PullStats`` (or None)."""
        counters = (
            stats.as_dict() if stats is not None else {"requests": 0, "retries": 0, "bytes": 0, "retry_reasons": {}}
        )
        out = {
            "source": self.source,
            "parameters": safe_parameters(self.parameters),
            "pages": self.pages,
            **counters,
            "rows": self.rows,
            "duplicates_dropped": self.duplicates_dropped,
            "rounded_values": self.rounded_values,
            "first_cursor": _plain(self.first_cursor),
            "last_cursor": _plain(self.last_cursor),
            "complete": self.complete,
            "include_pii": self.include_pii,
            "pulled_at": self.pulled_at,
        }
        out.update({k: _plain(v) for k, v in self.extra.items()})
        return out


def attach_manifest(frame: pd.DataFrame, manifest: Manifest, stats: Any = None) -> pd.DataFrame:
    """Store ``manifest`` (as a dict) in ``frame.attrs["ledgerkit"]`` and return the frame."""
    frame.attrs["ledgerkit"] = manifest.as_dict(stats)
    return frame
