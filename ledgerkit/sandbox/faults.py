"""Fault switches of the sandbox and the thread-safe counter that applies them.

A loader is only as good as what it survives. :class:`Faults` lists the
misbehaviours the sandbox can put on (docs/CONTRACTS.md §2.4); every switch
is off by default. :class:`FaultPlan` counts API requests and file
downloads apart and says, for the n-th one, which transport-level fault hits
it.

Request-level faults share one counter ``n`` (1-based, API requests only):

- ``rate_limit_every=N``: requests ``N, 2N, ...`` get 429;
- ``error_every=N, error_burst=k``: in every cycle of ``N + k`` requests the
  last ``k`` get ``error_status``;
- ``drop_every=N`` / ``malformed_every=N``: responses ``N, 2N, ...`` are cut.

The first matching fault wins, in that order. File downloads
(``GET /dwh/files/...``, the biggest body) have their own counter ``m``
(1-based) and switches, so that API faults never hide a download fault:

- ``download_drop=k``: downloads ``1..k`` are cut mid-body;
- ``download_errors=k``: the next ``k`` answer ``download_error_status``
  (a 5xx, or 429 with ``Retry-After: retry_after`` unless None).

Data-level switches
(``repeat_rows``, ``stuck_cursor``, ``insert_during_paging``, ``report_*``,
``expired_links``) are read by the API handlers themselves.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["Faults", "FaultPlan", "RATE_LIMITED", "SERVER_ERROR", "DROP", "MALFORMED"]

RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
DROP = "drop"
MALFORMED = "malformed"


@dataclass(frozen=True)
class Faults:
    """What the sandbox does wrong, on purpose.

    ``error_burst`` (1) and ``error_status`` (503) only shape ``error_every``,
    ``download_error_status`` (503) only shapes ``download_errors``; they do
    nothing alone. Every other field switches a fault on.

    Examples
    --------
    >>> f = Faults().replace(rate_limit_every=3, retry_after=0)
    >>> f.rate_limit_every, f.retry_after, f.active()
    (3, 0, True)
    >>> Faults().active()
    False
    """

    latency: float = 0.0
    rate_limit_every: int = 0
    retry_after: int | None = None
    error_every: int = 0
    error_burst: int = 1
    error_status: int = 503
    drop_every: int = 0
    malformed_every: int = 0
    repeat_rows: int = 0
    stuck_cursor: bool = False
    insert_during_paging: int = 0
    report_stuck: bool = False
    report_fail: bool = False
    expired_links: int = 0
    download_drop: int = 0
    download_errors: int = 0
    download_error_status: int = 503

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "retry_after" and value is None:
                continue
            _check_field(f.name, value, str(f.type))  # a string: annotations are postponed

    def replace(self, **changes: Any) -> Faults:
        """A copy with ``changes`` applied; unknown names raise ConfigurationError."""
        names = {f.name for f in dataclasses.fields(self)}
        for name in changes:
            if name not in names:
                raise ConfigurationError(name, changes[name], f"a fault field, one of {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)

    def active(self) -> bool:
        """Whether any fault is switched on."""
        return self != Faults(
            error_burst=self.error_burst,
            error_status=self.error_status,
            download_error_status=self.download_error_status,
        )


def _check_field(name: str, value: Any, type_name: str) -> None:
    if "bool" in type_name:
        if not isinstance(value, bool):
            raise ConfigurationError(name, value, "True or False")
    elif "float" in type_name:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigurationError(name, value, "a number of seconds >= 0")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(name, value, "an integer >= 0")
    if name == "error_status" and not 500 <= value <= 599:
        raise ConfigurationError(name, value, "a 5xx status such as 503")
    if name == "download_error_status" and not (value == 429 or 500 <= value <= 599):
        raise ConfigurationError(name, value, "429 or a 5xx status such as 503")


class FaultPlan:
    """Thread-safe counters deciding which fault hits each API request.

    Examples
    --------
    >>> plan = FaultPlan(Faults(rate_limit_every=2))
    >>> [plan.next_request() for _ in range(4)]
    [None, 'rate_limited', None, 'rate_limited']
    >>> plan = FaultPlan(Faults(download_drop=1, download_errors=2, download_error_status=429))
    >>> [plan.next_download() for _ in range(4)]
    ['drop', 'rate_limited', 'rate_limited', None]
    """

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self.reset(faults or Faults())

    @property
    def faults(self) -> Faults:
        """The switches in force."""
        return self._faults

    def reset(self, faults: Faults) -> None:
        """Put ``faults`` in force and restart every counter."""
        with self._lock:
            self._faults = faults
            self._n = 0
            self._downloads = 0
            self._expired_links_left = faults.expired_links

    def next_request(self) -> str | None:
        """Count one API request; return the fault that hits it, or None."""
        with self._lock:
            self._n += 1
            n, f = self._n, self._faults
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            return RATE_LIMITED
        if f.error_every and (n - 1) % (f.error_every + f.error_burst) >= f.error_every:
            return SERVER_ERROR
        if f.drop_every and n % f.drop_every == 0:
            return DROP
        if f.malformed_every and n % f.malformed_every == 0:
            return MALFORMED
        return None

    def next_download(self) -> str | None:
        """Count one file download; return the fault that hits it, or None."""
        with self._lock:
            self._downloads += 1
            m, f = self._downloads, self._faults
        if m <= f.download_drop:
            return DROP
        if m <= f.download_drop + f.download_errors:
            return RATE_LIMITED if f.download_error_status == 429 else SERVER_ERROR
        return None

    def take_expired_link(self) -> bool:
        """Whether the report being created gets an already-expired link."""
        with self._lock:
            if self._expired_links_left > 0:
                self._expired_links_left -= 1
                return True
            return False
