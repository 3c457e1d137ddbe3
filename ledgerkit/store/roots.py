"""Where a store keeps its files: a local directory or an S3 bucket, behind one small interface.

The store names its files by *keys*, POSIX paths relative to the root
(``transactions/1673/server-ab12cd34/_streams/<stream>.json``). A root
reads, writes, lists and deletes them and holds the store's locks:

- :class:`LocalRoot` -- a directory (local or a shared filesystem): every
  file written atomically (:func:`~ledgerkit.store.files.atomic_write`),
  locks held with ``flock`` (:mod:`ledgerkit.store.locks`).
- :class:`ObjectRoot` -- ``s3://bucket/prefix`` on AWS S3 or an
  S3-compatible server (MinIO, ...), through s3fs: parts are created only
  if absent (``If-None-Match: *``), a state is replaced only if nobody
  changed it since it was read (``If-Match`` its ETag), and locks are
  leases (:mod:`ledgerkit.store.leases`). Credentials and the endpoint come
  from the standard AWS chain (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL_S3`` or
  ``AWS_ENDPOINT_URL``, profiles), never from the URL.

A conditional write that fails raises :class:`Conflict`: another writer got
there first.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ConfigurationError, StoreError
from .files import atomic_write
from .locks import GATE, ensure_lock_file, holding

#: The object-store schemes a store may live on (those whose conditional writes are wired).
OBJECT_SCHEMES = ("s3",)

#: What to install for an ``s3://`` store.
S3_INSTALL = "pip install 'ledgerkit[s3]'"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Conflict(Exception):  # noqa: N818 - a condition that did not hold, not an error of the caller
    """A conditional write did not happen: the object exists, or changed since it was read."""


def sort_key(key: str) -> tuple[str, ...]:
    """Keys in the order of their path components (as sorting directories level by level gives)."""
    return tuple(key.split("/"))


class LocalRoot:
    """A store in a directory: atomic file writes and ``flock`` locks.

    Parameters
    ----------
    path : pathlib.Path
        The store's directory (need not exist yet).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     root = LocalRoot(pathlib.Path(d))
    ...     root.replace("a/b.json", b"{}", None)
    ...     root.read("a/b.json")[0], root.glob("a/*.json")
    (b'{}', ['a/b.json'])
    """

    #: Whether writes are conditional (parts named per writer, states replaced by compare-and-swap).
    conditional = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"LocalRoot({str(self.path)!r})"

    def location(self, key: str) -> Path:
        """Where ``key`` is, as shown to the user and handed to :mod:`ledgerkit.store.lazy`."""
        return self.path / key

    def exists(self) -> bool:
        return self.path.exists()

    def read(self, key: str) -> tuple[bytes, str | None]:
        """The bytes of ``key`` and a version token (None here: the lock guards a local state)."""
        return (self.path / key).read_bytes(), None

    def parts(self, keys: list[str]) -> dict[str, Any]:
        """For each part key, what :func:`pandas.read_parquet` reads it from (its path here)."""
        return {key: self.path / key for key in keys}

    def put_new(self, key: str, data: bytes) -> None:
        """Write a part (a name no other writer uses)."""
        atomic_write(self.path / key, data)

    def replace(self, key: str, data: bytes, version: str | None) -> str | None:
        """Write a state whole; ``version`` is not needed: the stream's lock keeps other writers out."""
        atomic_write(self.path / key, data)
        return None

    def glob(self, pattern: str) -> list[str]:
        """The keys of the files matching ``pattern`` (``*`` within one path component)."""
        found = [p.relative_to(self.path).as_posix() for p in self.path.glob(pattern) if p.is_file()]
        return sorted(found, key=sort_key)

    def delete(self, key: str) -> None:
        (self.path / key).unlink(missing_ok=True)

    def delete_tree(self, key: str) -> None:
        target = self.path / key
        try:
            if target.exists():
                shutil.rmtree(target)
        except OSError as exc:
            raise StoreError(
                f"could not remove {exc.filename or target} ({exc.strerror}); part of "
                f"{target} may remain. Check its permissions and clear again."
            ) from None

    # ------------------------------------------------------------ locks
    def stream_lock(self, key: str, *, timeout: float | None, what: str) -> AbstractContextManager[None]:
        """Hold the lock ``key`` of one stream (made under the gate when new, so a clear sees it)."""
        ensure_lock_file(self.path / key, self.path / "_locks" / GATE, timeout=timeout)
        return holding(self.path / key, timeout=timeout, what=what)

    def gate(self, *, timeout: float | None, what: str) -> AbstractContextManager[None]:
        """Hold the store's gate (see :mod:`ledgerkit.store.locks`)."""
        return holding(self.path / "_locks" / GATE, timeout=timeout, what=what)

    def lock(self, key: str, *, timeout: float | None, what: str) -> AbstractContextManager[None]:
        """Hold the existing lock ``key`` (a clear takes every stream's)."""
        return holding(self.path / key, timeout=timeout, what=what)

    def locks_under(self, prefix: str) -> list[str]:
        """The keys of the stream locks under ``_locks/<prefix>``."""
        base = self.path / "_locks" / prefix
        return sorted((p.relative_to(self.path).as_posix() for p in base.rglob("*.lock")), key=sort_key)

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and root path that :mod:`ledgerkit.store.lazy` reads parts through."""
        import fsspec

        fs, _ = fsspec.core.url_to_fs(str(self.path))
        return fs, str(self.path)


class ObjectRoot:
    """A store under ``s3://bucket/prefix``: create-only parts, compare-and-swap states, leases for locks.

    Built from the URL only; the first request is made when the store is
    first read or written. Needs s3fs (``pip install 'ledgerkit[s3]'``).

    Parameters
    ----------
    bucket, prefix : str
        Where the store lives (``prefix`` without leading or trailing ``/``; may be empty).
    """

    conditional = True

    def __init__(self, bucket: str, prefix: str) -> None:
        import s3fs

        self.bucket, self.prefix = bucket, prefix
        # a filesystem of its own (no listing cache: another writer's parts must show at once)
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def __reduce__(self) -> tuple[Any, ...]:
        return ObjectRoot, (self.bucket, self.prefix)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self) -> bool:
        return True  # (a prefix is never made: one with nothing under it lists nothing)

    def read(self, key: str) -> tuple[bytes, str | None]:
        """The bytes of ``key`` and its ETag, read together (a missing object: FileNotFoundError)."""
        from fsspec.asyn import sync

        async def get() -> tuple[bytes, str]:
            answer = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self._key(key))
            body = answer["Body"]
            try:
                return await body.read(), answer["ETag"]
            finally:
                body.close()

        return self._call("read", key, lambda: sync(self.fs.loop, get))

    def parts(self, keys: list[str]) -> dict[str, Any]:
        """For each part key, a buffer of its bytes, or the FileNotFoundError of a missing one (read at once)."""
        if not keys:
            return {}
        paths = {f"{self.bucket}/{self._key(key)}": key for key in keys}
        found = self._call("read", keys[0], lambda: self.fs.cat(list(paths), on_error="return"))
        out: dict[str, Any] = {}
        for path, key in paths.items():
            value = found.get(path, FileNotFoundError(key))
            if isinstance(value, Exception):
                value = self._translated(value, "read", key)
                if not isinstance(value, FileNotFoundError):
                    raise value
            out[key] = io.BytesIO(value) if isinstance(value, bytes) else value
        return out

    def put_new(self, key: str, data: bytes) -> str:
        """Create ``key`` only if it does not exist (:class:`Conflict` if it does); returns its ETag."""
        return self._put(key, data, IfNoneMatch="*")

    def replace(self, key: str, data: bytes, version: str | None) -> str:
        """Replace ``key`` only if its ETag is still ``version`` (None: only if absent); returns the new ETag.

        An object gone since it was read (removed by a clear) is a :class:`Conflict` too.
        """
        if version is None:
            return self._put(key, data, IfNoneMatch="*")
        try:
            return self._put(key, data, IfMatch=version)
        except FileNotFoundError:
            raise Conflict(key) from None

    def _put(self, key: str, data: bytes, **condition: str) -> str:
        answer = self._call(
            "write",
            key,
            lambda: self.fs.call_s3("put_object", Bucket=self.bucket, Key=self._key(key), Body=data, **condition),
        )
        return str(answer["ETag"])

    def glob(self, pattern: str) -> list[str]:
        """The keys matching ``pattern`` (``*`` within one path component): one listing under its fixed head."""
        components = pattern.split("/")
        fixed = next((i for i, c in enumerate(components) if "*" in c), len(components))
        matches = re.compile("".join("[^/]*" if c == "*" else re.escape(c) for c in pattern) + r"\Z")
        return [key for key in self.keys_under("/".join(components[:fixed])) if matches.match(key)]

    def keys_under(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder's key), at any depth, in path order (none for a missing bucket)."""
        base = f"{self.bucket}/{self.prefix}".rstrip("/")
        try:
            found = self._call("list", prefix, lambda: self.fs.find(f"{base}/{prefix}".rstrip("/")))
        except FileNotFoundError:
            return []
        keys = (str(PurePosixPath(p).relative_to(base)) for p in found)
        return sorted((k for k in keys if not prefix or k == prefix or k.startswith(f"{prefix}/")), key=sort_key)

    def delete(self, key: str) -> None:
        with suppress(FileNotFoundError):
            self._call("delete", key, lambda: self.fs.rm_file(f"{self.bucket}/{self._key(key)}"))

    def delete_tree(self, key: str) -> None:
        for found in self.keys_under(key):
            self.delete(found)

    def _call(self, doing: str, key: str, call: Any) -> Any:
        """``call()``, its failure as :meth:`_translated` says."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - botocore and aiohttp raise many kinds
            raise self._translated(exc, doing, key) from None

    def _translated(self, exc: Exception, doing: str, key: str) -> Exception:
        """What a failed request raises: a failed condition as :class:`Conflict`, a missing object as
        FileNotFoundError, the rest as a :class:`StoreError` naming the object and the reason (never the
        credentials)."""
        if isinstance(exc, FileNotFoundError):
            if _code(exc) == "NoSuchBucket" and doing != "list":  # (a missing bucket lists as an empty store)
                return StoreError(
                    f"the bucket {self.bucket} of the store {self} does not exist at this endpoint "
                    "(AWS_ENDPOINT_URL_S3, else AWS's). Create it, or give store= a bucket that exists; "
                    "nothing was written."
                )
            return exc
        if _condition_failed(exc) or isinstance(exc, FileExistsError):  # (s3fs's name for a failed If-None-Match)
            return Conflict(key)
        return StoreError(
            f"could not {doing} {self.location(key)} ({type(exc).__name__}: {str(exc)[:200]}). Check the bucket, "
            "the endpoint (AWS_ENDPOINT_URL_S3) and the credentials in this process's environment, then load "
            "again; the store is as it was before this request."
        )

    # ------------------------------------------------------------ locks
    def stream_lock(self, key: str, *, timeout: float | None, what: str) -> AbstractContextManager[None]:
        return _stream_lease(self, key, timeout=timeout, what=what)

    def gate(self, *, timeout: float | None, what: str) -> AbstractContextManager[None]:
        from .leases import Lease

        return Lease(self, f"_locks/{GATE}", timeout=timeout, what=what)

    def lock(self, key: str, *, timeout: float | None, what: str) -> AbstractContextManager[None]:
        from .leases import Lease

        return Lease(self, key, timeout=timeout, what=what)

    def locks_under(self, prefix: str) -> list[str]:
        return [k for k in self.keys_under(f"_locks/{prefix}".rstrip("/")) if k.endswith(".lock")]

    def filesystem(self) -> tuple[Any, str]:
        return self.fs, f"{self.bucket}/{self.prefix}".rstrip("/")


@contextmanager
def _stream_lease(root: ObjectRoot, key: str, *, timeout: float | None, what: str) -> Iterator[None]:
    """A stream's lease; a new one is made under the gate, so a running clear sees every lease it must wait for."""
    from .leases import Lease, exists

    with ExitStack() as held:
        taken = False
        if not exists(root, key):
            with root.gate(timeout=timeout, what="the store"):
                if not exists(root, key):  # still to be made: made held, at once
                    held.enter_context(Lease(root, key, timeout=timeout, what=what))
                    taken = True
        if not taken:
            held.enter_context(Lease(root, key, timeout=timeout, what=what))
        yield


def _answer(exc: BaseException) -> dict[str, Any]:
    """The S3 answer behind ``exc`` (s3fs's translation of a botocore error keeps it as the cause)."""
    return getattr(exc.__cause__ or exc, "response", None) or {}


def _code(exc: BaseException) -> str:
    return str(_answer(exc).get("Error", {}).get("Code", ""))


def _condition_failed(exc: BaseException) -> bool:
    """Whether ``exc`` says a write condition did not hold (412), or clashed with another conditional write (409)."""
    status = _answer(exc).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def root_of(path: Any) -> LocalRoot | ObjectRoot:
    """The root a ``Store(path)`` lives in: a local directory, a ``file://`` URL's path, or an ``s3://`` URL.

    Other URLs are refused with a :class:`~ledgerkit.errors.ConfigurationError`
    that names the supported ones, before any request.

    Examples
    --------
    >>> root_of("/tmp/lk")
    LocalRoot('/tmp/lk')
    >>> root_of("gs://bucket/x")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: path='gs://bucket/x' is not valid: expected a local or shared-filesystem directory, a file:// URL, or an s3:// URL (AWS S3 or an S3-compatible server): the store needs conditional writes (If-None-Match, If-Match) to keep several writers from losing or doubling rows, and they are wired for S3 only
    """  # noqa: E501 - a doctest's output is one line
    text = str(path)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme is None:
        return LocalRoot(Path(path).expanduser())
    name = scheme.group(1).lower()
    if name == "file":
        parsed = urllib.parse.urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigurationError("path", text, "a file:// URL of this machine (file:///mnt/shared/ledgerkit)")
        return LocalRoot(Path(urllib.parse.unquote(parsed.path)).expanduser())
    if name in OBJECT_SCHEMES:
        return _object_root(text)
    raise ConfigurationError(
        "path",
        _without_credentials(text),
        "a local or shared-filesystem directory, a file:// URL, or an s3:// URL (AWS S3 or an S3-compatible "
        "server): the store needs conditional writes (If-None-Match, If-Match) to keep several writers from "
        "losing or doubling rows, and they are wired for S3 only",
    )


def _object_root(text: str) -> ObjectRoot:
    """``s3://bucket/prefix`` checked: a bucket, no credentials, query or fragment, a clean prefix."""
    parsed = urllib.parse.urlsplit(text)
    shown = _without_credentials(text)
    if "@" in parsed.netloc:
        raise ConfigurationError(
            "path",
            shown,
            "an s3:// URL without credentials: give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a "
            "profile) in the environment of this process and of every worker",
        )
    if not parsed.netloc:
        raise ConfigurationError("path", shown, "s3://<bucket>/<prefix>: the URL names no bucket")
    if not _BUCKET.fullmatch(parsed.netloc):
        raise ConfigurationError(
            "path", shown, "s3://<bucket>/<prefix> with a bucket name of 3-63 lower-case letters, digits, '.' and '-'"
        )
    if parsed.query or parsed.fragment:
        raise ConfigurationError("path", shown, "s3://<bucket>/<prefix> without a query or fragment")
    segments = [s for s in urllib.parse.unquote(parsed.path).split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ConfigurationError("path", shown, "s3://<bucket>/<prefix> without '.' or '..' in the prefix")
    try:
        import s3fs  # noqa: F401 - only whether it is there
    except ImportError:
        raise missing_extra(shown) from None
    if not _conditional_puts():
        raise ConfigurationError(
            "path",
            shown,
            "a botocore that sends conditional writes (If-Match on PutObject, botocore 1.35.6x or newer) for an "
            f"s3:// store: {S3_INSTALL} --upgrade",
        )
    return ObjectRoot(parsed.netloc, "/".join(segments))


@functools.cache
def _conditional_puts() -> bool:
    """Whether the installed botocore knows PutObject's If-Match and If-None-Match (no request: its service model)."""
    import botocore.session

    put = botocore.session.get_session().get_service_model("s3").operation_model("PutObject")
    return {"IfMatch", "IfNoneMatch"} <= set(put.input_shape.members)


def missing_extra(url: str) -> ConfigurationError:
    """The error for an ``s3://`` store when s3fs is not installed.

    Examples
    --------
    >>> str(missing_extra("s3://bucket/ledgerkit"))
    "path='s3://bucket/ledgerkit' is not valid: expected the S3 extra installed for an s3:// store (s3fs is missing): pip install 'ledgerkit[s3]'"
    """  # noqa: E501 - a doctest's output is one line
    return ConfigurationError("path", url, f"the S3 extra installed for an s3:// store (s3fs is missing): {S3_INSTALL}")


def _without_credentials(text: str) -> str:
    """``text`` with anything before an ``@`` in its network location hidden (a key and secret, maybe).

    Examples
    --------
    >>> _without_credentials("s3://AKIA:sEcReT@bucket/x")
    's3://<credentials hidden>@bucket/x'
    """
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@(.*)$", text, re.DOTALL)
    return text if match is None else f"{match.group(1)}<credentials hidden>@{match.group(3)}"


__all__ = ["Conflict", "LocalRoot", "ObjectRoot", "root_of", "missing_extra"]
