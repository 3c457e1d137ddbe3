"""The store's cross-process locks in a directory: a gate for the whole store and one lock per stream.

(A store on an object store holds the same locks as leases: :mod:`ledgerkit.store.leases`.)

Locks are files under ``<root>/_locks/`` held with :mod:`filelock` (``flock``
on POSIX, ``LockFileEx`` on Windows). The operating system releases a lock
when its holder dies -- ``kill -9`` or a crashed kernel included --, so a
lock is never stale and nothing needs cleaning up after a killed pull. The
files are never deleted (a waiter and a newcomer must lock the same file),
so :meth:`Store.clear` leaves them behind; they are empty.

- ``_locks/store.lock``, the *gate*: held by :meth:`Store.clear` while it
  works, and briefly by a load that creates a stream's lock file, so that a
  clear waits for every pull that had begun and no pull begins meanwhile.
- ``_locks/<source>/<account>/server-<hash>/<stream>.lock``: held by the one
  load that reads and writes that stream (see :mod:`ledgerkit.store`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import StoreError
from .files import write_error

#: The gate's file name under ``<root>/_locks/``.
GATE = "store.lock"


@contextmanager
def holding(path: Path, *, timeout: float | None, what: str) -> Iterator[None]:
    """Hold the lock file ``path``, waiting ``timeout`` seconds at most (None: as long as it takes).

    ``what`` names what the lock guards, for the error raised when the wait
    runs out.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with holding(pathlib.Path(d) / "_locks" / "a.lock", timeout=None, what="the stream a"):
    ...         "held"
    'held'
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=-1 if timeout is None else timeout)
        lock.acquire()
    except Timeout:
        raise StoreError(
            f"{what} is busy: another ledgerkit load is pulling into it (lock {path}) and did not "
            f"finish within {timeout} s. Let it finish and load again, or give "
            "Store(..., timeout=) more time."
        ) from None
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        yield
    finally:
        lock.release()


def ensure_lock_file(path: Path, gate: Path, *, timeout: float | None) -> None:
    """Create the lock file ``path`` if missing.

    Under the gate, so a running clear sees every lock it must wait for.
    """
    if path.exists():
        return
    with holding(gate, timeout=timeout, what="the store"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        except OSError as exc:
            raise write_error(exc, path) from None
