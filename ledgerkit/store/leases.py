"""Locks on an object store: leases taken and kept by conditional writes.

An object store has no ``flock``; a lock there is a small JSON object (the
*lease*: owner token, whether it is held, how long it lives) under
``_locks/`` that only conditional writes change:

- **taken** by creating it (``If-None-Match: *``), or by replacing a free
  one -- or one whose holder stopped renewing it -- ``If-Match`` the ETag
  read, so that of two takers exactly one wins;
- **renewed** by a heartbeat thread every third of its time to live
  (``If-Match`` its own last ETag: each renewal changes the object, so
  its ETag);
- **let go** by marking it free, ``If-Match`` its own ETag -- never a blind
  delete, which could remove a lease someone else has taken since.

A holder that was killed stops renewing: a waiter that sees the same ETag
for a whole time to live (on its own clock -- no two machines' clocks are
compared) takes the lease over. A holder that was only paused that long
has lost it; a stream's state is replaced ``If-Match`` the ETag its writer
read (see :mod:`ledgerkit.store.stream`), and the new holder rewrites the
state once it holds the lease, so the paused writer's next save fails with
a :class:`~ledgerkit.errors.StoreError` instead of overwriting anything.

The time to live is :data:`LEASE_SECONDS` (30 s), or the environment
variable ``LEDGERKIT_STORE_LEASE_SECONDS`` of the process taking the lease.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from .roots import Conflict

if TYPE_CHECKING:
    from .roots import ObjectRoot

#: How long a lease lives without renewal: after a kill, its stream is free again this long after the last renewal.
LEASE_SECONDS = 30.0

#: The environment variable that sets the time to live (seconds) for the leases this process takes.
LEASE_ENV = "LEDGERKIT_STORE_LEASE_SECONDS"

#: Longest pause between two looks at a busy lease.
_POLL_MAX = 0.5


def lease_seconds() -> float:
    """The time to live of the leases this process takes: ``$LEDGERKIT_STORE_LEASE_SECONDS`` or 30 s.

    Examples
    --------
    >>> lease_seconds() > 0
    True
    """
    text = os.environ.get(LEASE_ENV, "").strip()
    if not text:
        return LEASE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0.05 <= seconds < float("inf"):
        raise StoreError(f"{LEASE_ENV}={text!r} is not a number of seconds >= 0.05; unset it for the default 30 s.")
    return seconds


def exists(root: ObjectRoot, key: str) -> bool:
    """Whether the lease ``key`` has been made (it is never deleted once made)."""
    try:
        root.read(key)
    except FileNotFoundError:
        return False
    return True


class Lease:
    """Hold the lease ``key`` of ``root`` inside ``with``, waiting ``timeout`` s at most (None: as long as it takes).

    ``what`` names what the lease guards, for the error raised when the
    wait runs out.
    """

    def __init__(self, root: ObjectRoot, key: str, *, timeout: float | None, what: str) -> None:
        self.root, self.key, self.timeout, self.what = root, key, timeout, what
        self.ttl = lease_seconds()
        self.owner = uuid.uuid4().hex
        self.version: str | None = None
        self.lost = False
        self._seen: tuple[str | None, float] | None = None
        self._beats = 0
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None
        self._lock = threading.Lock()

    def _body(self, *, held: bool) -> bytes:
        return json.dumps({"owner": self.owner, "held": held, "ttl": self.ttl, "beat": self._beats}).encode()

    def __enter__(self) -> None:
        self._take()
        self._heart = threading.Thread(target=self._beat, name=f"ledgerkit-lease-{self.key}", daemon=True)
        self._heart.start()

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._heart is not None:
            self._heart.join()
        with self._lock:
            if self.lost or self.version is None:
                return
            with suppress(Conflict, StoreError):  # taken over meanwhile, or unreachable: it runs out by itself
                self.root.replace(self.key, self._body(held=False), self.version)

    # ------------------------------------------------------------ taking it
    def _take(self) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        seen: tuple[str | None, float] | None = None  # (the busy lease's ETag, since when on our clock)
        pause = 0.01
        while True:
            try:
                self.version = self._try(seen)
            except Conflict:
                self.version = None  # another taker won this round: look again at once
                continue
            if self.version is not None:
                return
            seen = self._seen
            if deadline is not None and time.monotonic() >= deadline:
                raise StoreError(
                    f"{self.what} is busy: another ledgerkit load is pulling into it (lease "
                    f"{self.root.location(self.key)}) and did not finish within {self.timeout} s. Let it finish "
                    "and load again, or give Store(..., timeout=) more time."
                )
            left = float("inf") if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(pause, left)))
            pause = min(pause * 1.5, _POLL_MAX, self.ttl / 4)

    def _try(self, seen: tuple[str | None, float] | None) -> str | None:
        """One attempt: the new ETag when taken, None when busy (``self._seen`` says since when)."""
        try:
            data, version = self.root.read(self.key)
        except FileNotFoundError:
            return self.root.put_new(self.key, self._body(held=True))
        lease = _parsed(data)
        now = time.monotonic()
        self._seen = seen if seen is not None and seen[0] == version else (version, now)
        ttl = lease.get("ttl")
        ttl = float(ttl) if isinstance(ttl, (int, float)) else LEASE_SECONDS
        if lease.get("held") is False or now - self._seen[1] >= ttl:
            return self.root.replace(self.key, self._body(held=True), version)
        return None

    # ------------------------------------------------------------ keeping it
    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._lock:
                self._beats += 1
                try:
                    self.version = self.root.replace(self.key, self._body(held=True), self.version)
                except Conflict:
                    self.lost = True  # taken over: our stream's next save fails on its state's ETag
                    return
                except StoreError:
                    continue  # unreachable for now: try again at the next beat


def _parsed(data: bytes) -> dict[str, Any]:
    """A lease's JSON; anything else counts as held (it is taken over once it stays unchanged a whole TTL)."""
    try:
        lease = json.loads(data)
    except ValueError:
        return {}
    return lease if isinstance(lease, dict) else {}
