"""What the three sources share: a :class:`Connection` to one API, and one loop that drives a pull.

A :class:`Connection` bundles the resolved base URL and credentials, the
session, the retry policy and the pull's counters. Every source builds a
*pull* (:class:`Pull`: its pages, its frame, what a failure carries) and
hands it to :func:`collect` (one frame) or :func:`iterate` (frame by frame);
:func:`resumable` gives an error raised mid-pull the keyword arguments that
continue it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
import requests

from .._ingest.allocator import pull_memory
from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.records import finish
from .._ingest.schema import Schema
from .._transport.http import ParseError, PullStats, RetryPolicy, send_json
from .._transport.progress import PullProgress
from .._transport.sessions import adopt_session, new_session
from ..config import ProviderConfig, resolve
from ..errors import ConfigurationError, LedgerkitError

__all__ = ["Connection", "connect", "resumable", "collect", "iterate", "check_flag", "check_workers"]


def check_flag(parameter: str, value: Any, *, allow_none: bool = False) -> bool | None:
    """``value`` if it is a real boolean (or None with ``allow_none``); else ``ConfigurationError``.

    ``bool("False")`` is True, so a string or a number is refused rather than
    guessed at.

    Examples
    --------
    >>> check_flag("include_pii", False), check_flag("progress", None, allow_none=True)
    (False, None)
    >>> check_flag("include_pii", "False")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: include_pii='False' is not valid: expected True or False
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigurationError(parameter, value, "True, False or None" if allow_none else "True or False")


def check_workers(value: Any) -> int:
    """``max_workers``: an integer from 1 to 32, else ``ConfigurationError``.

    Examples
    --------
    >>> check_workers(4)
    4
    >>> check_workers(0)
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: max_workers=0 is not valid: expected an integer from 1 to 32 (requests at the same time)
    """  # noqa: E501 - a doctest's output is one line
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise ConfigurationError("max_workers", value, "an integer from 1 to 32 (requests at the same time)")
    return value


@dataclass
class Connection:
    """Everything a pull needs to talk to one provider API."""

    config: ProviderConfig
    session: requests.Session
    policy: RetryPolicy
    parse_error: ParseError
    stats: PullStats = field(default_factory=PullStats)

    def json(self, method: str, path_or_url: str, **kw: Any) -> tuple[requests.Response, Any]:
        """Send with retries and decode the JSON body (see :func:`ledgerkit._transport.http.send_json`).

        ``path_or_url`` starting with ``/`` is joined to the base URL.
        """
        url = self.config.url(path_or_url) if path_or_url.startswith("/") else path_or_url
        return send_json(
            self.session, method, url, policy=self.policy, stats=self.stats, parse_error=self.parse_error, **kw
        )


def connect(
    source: str,
    *,
    base_url: str | None,
    user: str | int | None,
    secret: Any,
    session: requests.Session | None,
    retry: RetryPolicy | None,
    parse_error: ParseError,
) -> Connection:
    """Resolve configuration (arguments > environment) and prepare a session.

    A caller's ``session`` lends its settings -- proxies, TLS ``verify`` and
    ``cert``, headers, cookies, hooks, pool sizes, and its auth when it has
    one (else the resolved Basic auth) -- to a session of ledgerkit's own,
    which keeps credentials out of ``http.client``'s debug output (see
    :func:`ledgerkit._transport.sessions.adopt_session`; a session with a
    custom adapter is refused). The caller's session is never modified.
    """
    config = resolve(source, base_url=base_url, user=user, secret=secret)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError("retry", type(retry).__name__, "a ledgerkit.RetryPolicy or None")
    if session is None:
        session = new_session(config.credentials)
    else:
        session = adopt_session(session, config.credentials, config.base_url)
    return Connection(config, session, retry or RetryPolicy(), parse_error)


def resumable(exc: LedgerkitError, *, resume: dict, manifest: dict, partial: pd.DataFrame | None) -> LedgerkitError:
    """Give ``exc`` the attributes of a resumable failure and return it for raising.

    ``exc.resume`` holds the keyword arguments that continue the pull,
    ``exc.manifest`` the manifest of what was pulled, and ``exc.partial`` the
    rows pulled before the failure (a DataFrame, possibly empty).
    """
    exc.resume = dict(resume)
    exc.manifest = dict(manifest)
    exc.partial = partial
    return exc


class Pull(Protocol):
    """What :func:`collect` and :func:`iterate` drive: one loader's pull in progress."""

    client: Connection
    manifest: Manifest
    progress: PullProgress

    def pages(self) -> Iterator[pd.DataFrame]: ...

    def failure(self, exc: LedgerkitError, frames: list[pd.DataFrame]) -> None: ...

    def frame(self, frames: list[pd.DataFrame]) -> pd.DataFrame: ...


def collect(pull: Pull) -> pd.DataFrame:
    """Run ``pull`` to the end and return its frame; a failure gets ``.resume``/``.partial``.

    Its Arrow memory comes from :func:`~ledgerkit._ingest.allocator.pull_memory`'s pool.
    """
    frames: list[pd.DataFrame] = []
    with pull_memory():
        with pull.progress:
            try:
                frames.extend(pull.pages())
            except LedgerkitError as exc:
                pull.failure(exc, frames)
                raise
        pull.manifest.complete = True
        return pull.frame(frames)


def iterate(pull: Pull, schema: Schema) -> Iterator[pd.DataFrame]:
    """Yield ``pull``'s pages as finished frames, each with the manifest so far.

    No page is kept here (memory stays that of one page): a failure's
    ``.partial`` is an empty frame -- the caller has the pages -- while its
    ``.manifest`` and ``.resume`` count and continue the whole pull.
    """
    with pull.progress:
        try:
            for frame in pull.pages():
                yield attach_manifest(finish([frame], schema), replace(pull.manifest), pull.client.stats)
        except LedgerkitError as exc:
            pull.failure(exc, [])
            raise
