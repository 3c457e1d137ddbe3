"""One module per provider API: build requests, paginate, retry, hand pages to :mod:`ledgerkit._ingest`.

- :mod:`.transactions` -- beGateway shop report v3 (cursor pagination)
- :mod:`.statements` -- MakeCommerce account statements (page / Link / X-Total-Count)
- :mod:`.balance_records` -- beGateway DWH async report (request, poll, zip)

This package module holds what the loaders share: a :class:`Client` bundling
configuration, session, retry policy and counters, and :func:`resumable`,
which gives an error raised mid-pull the keyword arguments to continue.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Protocol

import numpy as np
import pandas as pd
import requests

from ..config import ProviderConfig, resolve
from ..errors import ConfigurationError, LedgerkitError
from .._ingest.schema import Schema
from .._ingest.manifest import Manifest, attach_manifest
from .._ingest.records import finish
from .._transport.progress import PullProgress
from .._transport.http import ParseError, PullStats, RetryPolicy, new_session, send_json

__all__ = ["Client", "open_client", "resumable", "collect", "iterate", "check_flag"]


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


@dataclass
class Client:
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
        return send_json(self.session, method, url, policy=self.policy, stats=self.stats,
                         parse_error=self.parse_error, **kw)


def open_client(
    source: str,
    *,
    base_url: str | None,
    user: str | int | None,
    secret: Any,
    session: requests.Session | None,
    retry: RetryPolicy | None,
    parse_error: ParseError,
) -> Client:
    """Resolve configuration (arguments > environment) and prepare a session.

    A caller's ``session`` is used for transport (pooling, proxies, adapters);
    it gets the resolved Basic auth only when it has none of its own.
    """
    config = resolve(source, base_url=base_url, user=user, secret=secret)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError("retry", type(retry).__name__, "a ledgerkit.RetryPolicy or None")
    if session is None:
        session = new_session(config.credentials)
    elif not isinstance(session, requests.Session):
        raise ConfigurationError("session", type(session).__name__, "a requests.Session or None")
    elif session.auth is None:
        session.auth = new_session(config.credentials).auth
    return Client(config, session, retry or RetryPolicy(), parse_error)


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

    client: Client
    manifest: Manifest
    progress: PullProgress

    def pages(self) -> Iterator[pd.DataFrame]: ...

    def failure(self, exc: LedgerkitError, frames: list[pd.DataFrame]) -> None: ...

    def frame(self, frames: list[pd.DataFrame]) -> pd.DataFrame: ...


def collect(pull: Pull) -> pd.DataFrame:
    """Run ``pull`` to the end and return its frame; a failure gets ``.resume``/``.partial``."""
    frames: list[pd.DataFrame] = []
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
