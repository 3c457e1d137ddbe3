"""A stream: one kind of pull of one account, its Parquet parts and its JSON state.

The state (``_streams/<stream>.json``) lists the parts in write order, the
cursor of a pull in progress and what is covered; parts are written one
per month of the rows (``month=YYYY-MM/<stream>-<seq>.parquet``) before the
state that lists them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import StoreError
from .files import _parquet_bytes, atomic_write


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
