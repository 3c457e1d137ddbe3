"""The store's files: atomic writes, Parquet parts, and the name of a server.

Every file of a store is written by :func:`atomic_write`, so a reader sees
the old file or the whole new one, and a write that fails (a full disk, a
file-size limit, no permission) is a :class:`~ledgerkit.errors.StoreError`
naming the file, with the old file left as it was. :func:`read_part` reads
a part back and refuses one that is not a page of this store;
:func:`server_of` reduces a base URL to what names a server (the
``server-<hash>`` directory and the streams' keys).
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ..errors import StoreError

#: errno values that mean "no room": the disk, a quota or a file-size limit.
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}


def write_error(exc: OSError, path: Path) -> StoreError:
    """A :class:`StoreError` for a write to ``path`` that failed with ``exc``: what happened, what to do.

    Examples
    --------
    >>> import errno, pathlib
    >>> str(write_error(OSError(errno.ENOSPC, "No space left on device"), pathlib.Path("/s/a.json")))
    'could not write /s/a.json: no room left (No space left on device). Free some space (or point store= at another disk) and load again; the store is as it was before this write.'
    """  # noqa: E501 - a doctest's output is one line
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _NO_ROOM:
        what, todo = f"no room left ({reason})", "Free some space (or point store= at another disk) and load again"
    elif exc.errno in _NOT_ALLOWED:
        what, todo = f"not allowed ({reason})", "Give store= a directory you can write to"
    else:
        what, todo = reason, "Check the store directory (store=) and load again"
    return StoreError(f"could not write {path}: {what}. {todo}; the store is as it was before this write.")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    Temporary file in the same directory, fsync, ``os.replace``, fsync of the
    directory. A failure removes the temporary file, leaves ``path`` as it
    was and raises :class:`~ledgerkit.errors.StoreError` (:func:`write_error`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "a.json"
    ...     atomic_write(p, b"{}")
    ...     p.read_bytes()
    b'{}'
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(exc, path) from None
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
    for column in frame.columns[frame.dtypes == object]:  # noqa: E721 - pandas compares each dtype
        frame[column] = frame[column].map(lambda v: None if v is None else json.dumps(v, default=str))
    try:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
    except (ValueError, TypeError, ImportError) as exc:
        raise StoreError(f"a page could not be written as Parquet: {exc}") from None
    return buffer.getvalue()


def read_part(source: Any, path: Any, id_column: str, time_column: str, remedy: str) -> pd.DataFrame:
    """A stored part read from ``source`` (a file path or a buffer of its bytes), checked to be a page of this
    store: ``id_column`` and a UTC ``time_column``.

    A missing file raises ``FileNotFoundError`` (a reader without the lock
    may have seen a state that has moved on); anything unreadable or foreign
    is a :class:`~ledgerkit.errors.StoreError` naming the file (``path``) and ``remedy``.
    """
    try:
        frame = pd.read_parquet(source)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
        raise _bad_part(path, remedy, f"unreadable ({type(exc).__name__}: {str(exc)[:200]})") from None
    ids = frame.get(id_column)
    times = frame.get(time_column)
    if (
        ids is None
        or (id_column == "id" and not pd.api.types.is_integer_dtype(ids.dtype))
        or (id_column != "id" and not pd.api.types.is_string_dtype(ids.dtype))
    ):
        raise _bad_part(path, remedy, f"not a page of this store (no {id_column} column of the loader's type)")
    if times is None or not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise _bad_part(path, remedy, f"not a page of this store (no UTC {time_column} column)")
    return frame


def _bad_part(path: Any, remedy: str, what: str) -> StoreError:
    return StoreError(f"the stored part {path} is {what}. {remedy}")


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
