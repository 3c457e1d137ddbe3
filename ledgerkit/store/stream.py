"""A stream: one kind of pull of one account, its Parquet parts and its JSON state.

The state (``_streams/<stream>.json``) lists the parts in write order, the
cursor of a pull in progress and what is covered; parts are written one
per month of the rows (``month=YYYY-MM/<stream>-<seq>.parquet``; on an
object store ``<stream>-<seq>-<writer>.parquet``, created only if absent,
so that no two writers can ever write one name) before the state that
lists them.

A load works on a stream inside ``with stream:`` -- holding the stream's
lock (:mod:`ledgerkit.store.locks`, or a lease on an object store:
:mod:`ledgerkit.store.leases`), with the state read afresh once the lock is
held and the leftovers of killed pulls swept away. On an object store the
state is replaced only over the version the stream read (``If-Match`` its
ETag), and entering rewrites it with the load's own writer token, so that a
writer whose lease ran out can no longer save over it. Readers
that do not write (:meth:`Stream.snapshot`) take no lock: parts are never
rewritten, only unlisted, so a reader that finds a part gone reads the
state again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pandas as pd

from ..errors import StoreError
from .files import _parquet_bytes, read_part
from .roots import Conflict, LocalRoot, ObjectRoot
from .state import problem

#: Source -> (identity column, month column) of its parts.
_COLUMNS = {"transactions": ("id", "created_at"), "statements": ("row_id", "created")}

#: How often a lock-free reader reads the state again when a listed part vanished under it.
_SNAPSHOT_ATTEMPTS = 8


def _key_text(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stream:
    """One kind of pull of one account: its parts (in write order) and its state.

    ``state`` is a plain dict saved as JSON; :meth:`save` writes it whole
    (on an object store only if nobody changed it since this stream read
    it). Use it as a context manager to read and write it.

    Parameters
    ----------
    root : LocalRoot or ObjectRoot
        Where the store's files are (:mod:`ledgerkit.store.roots`).
    base : str
        The key of the server directory holding the parts and ``_streams/``.
    key : dict
        What names the stream (``source`` and ``account`` among it).
    locks : str
        The key of the directory of the stream's lock.
    timeout : float or None
        Seconds to wait for the lock (None: as long as it takes).
    name : str, optional
        The stream's name when it is already known (a state file's stem).
    """

    def __init__(
        self,
        root: LocalRoot | ObjectRoot,
        base: str,
        key: dict[str, Any],
        *,
        locks: str,
        timeout: float | None,
        name: str | None = None,
    ) -> None:
        self.root, self.base = root, base
        self.key = key
        self.name = name or _key_text(key)
        self.state_key = f"{base}/_streams/{self.name}.json"
        self.lock_key = f"{locks}/{self.name}.lock"
        self.timeout = timeout
        self.state: dict[str, Any] = {}
        self._version: str | None = None  # the state's ETag as this stream last read or wrote it
        self._writer = uuid.uuid4().hex[:12]  # names this load's parts on an object store
        self._held: Any = None
        self._parts: dict[str, pd.DataFrame] = {}  # parts read so far (a part's file never changes)

    @property
    def directory(self) -> Any:
        """Where the parts are: a :class:`pathlib.Path` for a local store, an ``s3://`` URL for an object store."""
        return self.root.location(self.base)

    @property
    def state_path(self) -> Any:
        return self.root.location(self.state_key)

    # ------------------------------------------------------------ the lock
    def __enter__(self) -> Stream:
        self._held = self.root.stream_lock(
            self.lock_key, timeout=self.timeout, what=f"the stream {self.name} of {self.directory}"
        )
        self._held.__enter__()
        try:
            loaded = self._load()
            self.state, self._parts = loaded or self._fresh(), {}
            if self.state.get("key") != json.loads(json.dumps(self.key, default=str)):
                raise StoreError(
                    f"the store state {self.state_path} belongs to another stream (its key differs). {self.remedy()}"
                )
            if self.root.conditional:
                # shut out a writer whose lease ran out under it: its next save no longer matches the state's ETag
                self.state["writer"] = self._writer
                self.save()
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
        """The state stored, checked (None: there is none); remembers its version for :meth:`save`."""
        try:
            text, version = self.root.read(self.state_key)
        except FileNotFoundError:
            self._version = None
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
        self._version = version
        return state

    def remedy(self) -> str:
        """What to do about a damaged stream: the call that clears its source and account."""
        source, account = self.key.get("source"), self.key.get("account")
        return (
            f"Remove what is stored for it with ledgerkit.Store({str(self.root)!r}).clear({source!r}, "
            f"account={account!r}) and load again."
        )

    def save(self) -> None:
        """Write the state whole; on an object store only over the version this stream last read or wrote."""
        data = json.dumps(self.state, indent=1, sort_keys=True).encode()
        try:
            self._version = self.root.replace(self.state_key, data, self._version)
        except Conflict:
            raise StoreError(
                f"the store state {self.state_path} was changed by another writer while this load held its "
                "stream (this process was paused or cut off longer than the stream's lease lives, and another "
                "load took the stream over). Nothing was overwritten: load again to go on from what is stored."
            ) from None

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
            relative = f"month={month}/{self.name}-{self.state['seq']:06d}"
            relative += f"-{self._writer}.parquet" if self.root.conditional else ".parquet"
            try:
                self.root.put_new(f"{self.base}/{relative}", _parquet_bytes(frame[months == month]))
            except Conflict:
                raise StoreError(
                    f"the part {self.root.location(f'{self.base}/{relative}')} exists already: another load "
                    "wrote this stream under this one. Nothing was overwritten: load again."
                ) from None
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
        wanted = [part for part in dict.fromkeys(state["parts"]) if part not in cache]
        sources = self.root.parts([f"{self.base}/{part}" for part in wanted])
        for part in wanted:
            key = f"{self.base}/{part}"
            try:
                if isinstance(sources[key], FileNotFoundError):
                    raise sources[key]
                cache[part] = read_part(sources[key], self.root.location(key), id_column, time_column, self.remedy())
            except FileNotFoundError:
                raise FileNotFoundError(2, "a listed part is missing", str(self.root.location(key))) from None
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
        listed = {f"{self.base}/{part}" for part in self.state["parts"]}
        leftovers = [k for k in self.root.glob(f"{self.base}/month=*/{self.name}-*.parquet") if k not in listed]
        if not self.root.conditional:  # (an object is written whole or not at all: no temporary files)
            leftovers += self.root.glob(f"{self.base}/month=*/.{self.name}-*.tmp")
            leftovers += self.root.glob(f"{self.base}/_streams/.{self.name}.json.*.tmp")
        for key in leftovers:
            try:
                self.root.delete(key)
            except OSError as exc:
                raise StoreError(
                    f"could not remove the leftover {self.root.location(key)} ({exc.strerror}). "
                    "Check the store directory's permissions."
                ) from None


def _months(times: pd.Series) -> pd.Series:
    utc = pd.to_datetime(times, utc=True)
    return utc.dt.strftime("%Y-%m").fillna("unknown").astype(str)
