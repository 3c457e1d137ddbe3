"""A stream: one kind of pull of one account, its Parquet parts and its JSON state.

The state (``_streams/<stream>.json``) lists the parts in write order, the
cursor of a pull in progress and what is covered; parts are written one
per month of the rows (``month=YYYY-MM/<stream>-<seq>.parquet``) before the
state that lists them.

A load works on a stream inside ``with stream:`` -- holding the stream's
lock (:mod:`ledgerkit.store.locks`), with the state read afresh from disk
once the lock is held and the leftovers of killed pulls swept away. Readers
that do not write (:meth:`Stream.snapshot`) take no lock: parts are never
rewritten, only unlisted, so a reader that finds a part gone reads the
state again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import StoreError
from .files import _parquet_bytes, atomic_write, read_part
from .locks import ensure_lock_file, holding
from .state import problem

#: Source -> (identity column, month column) of its parts.
_COLUMNS = {"transactions": ("id", "created_at"), "statements": ("row_id", "created")}

#: How often a lock-free reader reads the state again when a listed part vanished under it.
_SNAPSHOT_ATTEMPTS = 8


def _key_text(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stream:
    """One kind of pull of one account: its parts (in write order) and its state.

    ``state`` is a plain dict saved as JSON; :meth:`save` writes it
    atomically. Use it as a context manager to read and write it.

    Parameters
    ----------
    directory : pathlib.Path
        The server directory holding the parts and ``_streams/``.
    key : dict
        What names the stream (``source`` and ``account`` among it).
    locks : pathlib.Path
        The directory of the stream's lock file.
    gate : pathlib.Path
        The store's gate (see :mod:`ledgerkit.store.locks`).
    timeout : float or None
        Seconds to wait for the lock (None: as long as it takes).
    name : str, optional
        The stream's name when it is already known (a state file's stem).
    """

    def __init__(
        self,
        directory: Path,
        key: dict[str, Any],
        *,
        locks: Path,
        gate: Path,
        timeout: float | None,
        name: str | None = None,
    ) -> None:
        self.directory = directory
        self.key = key
        self.name = name or _key_text(key)
        self.state_path = directory / "_streams" / f"{self.name}.json"
        self.lock_path = locks / f"{self.name}.lock"
        self.gate, self.timeout = gate, timeout
        self.state: dict[str, Any] = {}
        self._held: Any = None
        self._parts: dict[str, pd.DataFrame] = {}  # parts read so far (a part's file never changes)

    # ------------------------------------------------------------ the lock
    def __enter__(self) -> Stream:
        ensure_lock_file(self.lock_path, self.gate, timeout=self.timeout)
        self._held = holding(self.lock_path, timeout=self.timeout, what=f"the stream {self.name} of {self.directory}")
        self._held.__enter__()
        try:
            self.state, self._parts = self._load() or self._fresh(), {}
            if self.state.get("key") != json.loads(json.dumps(self.key, default=str)):
                raise StoreError(
                    f"the store state {self.state_path} belongs to another stream (its key differs). {self.remedy()}"
                )
            self.sweep()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

    # ------------------------------------------------------------ state
    def _fresh(self) -> dict[str, Any]:
        return {"key": json.loads(json.dumps(self.key, default=str)), "parts": [], "seq": 0}

    def _load(self) -> dict[str, Any] | None:
        """The state on disk, checked (None: there is none)."""
        try:
            text = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"the store state {self.state_path} is unreadable ({exc.strerror}). {self.remedy()}"
            ) from None
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise StoreError(f"the store state {self.state_path} is unreadable ({exc}). {self.remedy()}") from None
        wrong = problem(state, str(self.key.get("source")), self.name)
        if wrong is not None:
            raise StoreError(
                f"the store state {self.state_path} is not a state ledgerkit can use: {wrong}. {self.remedy()}"
            )
        return state

    def remedy(self) -> str:
        """What to do about a damaged stream: the call that clears its source and account."""
        root = self.directory.parents[2]
        source, account = self.key.get("source"), self.key.get("account")
        return (
            f"Remove what is stored for it with ledgerkit.Store({str(root)!r}).clear({source!r}, "
            f"account={account!r}) and load again."
        )

    def save(self) -> None:
        atomic_write(self.state_path, json.dumps(self.state, indent=1, sort_keys=True).encode())

    # ------------------------------------------------------------ parts
    def write_page(self, frame: pd.DataFrame, month_column: str) -> list[str]:
        """Write ``frame`` as one part per month; returns the parts' relative paths (not yet listed)."""
        if frame.empty:
            return []
        months = (
            _months(frame[month_column]) if month_column in frame.columns else pd.Series("unknown", index=frame.index)
        )
        written = []
        for month in sorted(months.unique()):
            self.state["seq"] = int(self.state.get("seq", 0)) + 1
            relative = f"month={month}/{self.name}-{self.state['seq']:06d}.parquet"
            atomic_write(self.directory / relative, _parquet_bytes(frame[months == month]))
            written.append(relative)
        return written

    def frames(self) -> list[pd.DataFrame]:
        """The listed parts, in write order (inside ``with stream``: a missing part is damage).

        Each part is read once per ``with``; a load reads them before its
        first request, so that a damaged store fails before anything is asked.
        """
        try:
            return self._read_parts(self.state, self._parts)
        except FileNotFoundError as exc:
            raise StoreError(
                f"the stored part {exc.filename} listed in {self.state_path} is missing. {self.remedy()}"
            ) from None

    def _read_parts(self, state: dict[str, Any], cache: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
        id_column, time_column = _COLUMNS[str(self.key.get("source"))]
        for part in state["parts"]:
            if part not in cache:
                path = self.directory / part
                try:
                    cache[part] = read_part(path, id_column, time_column, self.remedy())
                except FileNotFoundError:
                    raise FileNotFoundError(2, "a listed part is missing", str(path)) from None
        return [cache[part] for part in state["parts"]]

    def snapshot(self) -> tuple[dict[str, Any] | None, list[pd.DataFrame]]:
        """The state and its parts as one consistent whole, without the lock (None: no state any more).

        A pull may unlist parts and sweep them while this reads; then the
        state is read again.
        """
        missing = None
        for _ in range(_SNAPSHOT_ATTEMPTS):
            state = self._load()
            if state is None:
                return None, []
            try:
                return state, self._read_parts(state, {}) if str(self.key.get("source")) in _COLUMNS else []
            except FileNotFoundError as exc:
                missing = exc.filename
        raise StoreError(f"the stored part {missing} listed in {self.state_path} is missing. {self.remedy()}")

    def sweep(self) -> None:
        """Remove this stream's parts and temporary files that its state does not list (left by a killed pull).

        Only inside ``with stream``: nobody else writes this stream's files then.
        """
        listed = set(self.state["parts"])
        leftovers = [
            p
            for p in self.directory.glob(f"month=*/{self.name}-*.parquet")
            if str(p.relative_to(self.directory).as_posix()) not in listed
        ]
        leftovers += list(self.directory.glob(f"month=*/.{self.name}-*.tmp"))
        leftovers += list(self.directory.glob(f"_streams/.{self.name}.json.*.tmp"))
        for path in leftovers:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"could not remove the leftover {path} ({exc.strerror}). Check the store directory's permissions."
                ) from None


def _months(times: pd.Series) -> pd.Series:
    utc = pd.to_datetime(times, utc=True)
    return utc.dt.strftime("%Y-%m").fillna("unknown").astype(str)
