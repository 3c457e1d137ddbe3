"""The store's files: atomic writes, pages as Parquet bytes, and the name of a server.

Every file of a store is written by :func:`atomic_write`, so a reader sees
the old file or the whole new one; :func:`server_of` reduces a base URL to
what names a server (the ``server-<hash>`` directory and the streams' keys).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from ..errors import StoreError


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
