"""Many accounts in one call: the same pull for every selected account, one frame with an ``account`` column.

A loader given ``accounts=`` (names, tags, ``"key=value"`` or ``"all"`` of
the accounts file, :mod:`ledgerkit.accounts`) runs its pull once per
account -- in this process by default, or as tasks on a Dask cluster with
``scheduler=`` -- and returns one frame: the accounts' rows one after the
other, an ``account`` column first, and in ``attrs["ledgerkit"]`` a
manifest whose ``accounts`` holds each account's own manifest. When some
accounts fail, :class:`~ledgerkit.errors.AccountsError` names them, keeps
the others' rows in ``.partial`` and has a ``.resume`` that pulls only the
failed ones again.

Examples
--------
>>> import pandas as pd
>>> frames = {"eu": pd.DataFrame({"id": [1, 2]}), "us": pd.DataFrame({"id": [3]})}
>>> for name, f in frames.items():
...     f.attrs["ledgerkit"] = {"rows": len(f), "complete": True, "requests": 1}
>>> both = combine("transactions", frames)
>>> both["account"].tolist(), both.attrs["ledgerkit"]["rows"], sorted(both.attrs["ledgerkit"]["accounts"])
(['eu', 'eu', 'us'], 3, ['eu', 'us'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any
from uuid import uuid4

import pandas as pd

from .accounts import Account, accounts, select, wanted_words
from .errors import AccountsError, ConfigurationError, LedgerkitError

__all__ = ["chosen_accounts", "pull_each", "month_windows", "combine", "dask_client"]

#: Manifest counters that add up over accounts.
_SUMMED = ("rows", "pages", "requests", "retries", "bytes", "duplicates_dropped", "rounded_values")


def chosen_accounts(source: str, wanted: Any, path: Any, given: Mapping[str, Any]) -> list[Account]:
    """The accounts of ``source`` that ``wanted`` selects in the accounts file at ``path``.

    ``given`` holds the single-account keyword arguments of the call: with
    ``accounts=`` they must all be None (one way to say where to pull from).
    """
    clash = [name for name, value in given.items() if value is not None]
    if clash:
        raise ConfigurationError(clash[0], "<given>", "None when accounts= is given (the accounts file says it)")
    wanted_words(wanted)  # before the file is read: a bad accounts= is named as such
    found = select(accounts(path), wanted, source=source)
    return found


def pull_each(
    source: str,
    chosen: list[Account],
    pull: Callable[..., Any],
    *,
    resume: dict[str, Any],
    scheduler: Any = None,
    windows: list[tuple[Any, Any]] | None = None,
) -> dict[str, Any]:
    """``pull(account)`` for every account; every failure collected, then one error naming them all.

    In this process, one account after the other; with ``scheduler`` (a
    ``dask.distributed.Client`` or a scheduler address) as one task per
    account on the cluster's workers, which read each account's secret from
    their own environment (:attr:`Account.secret_env`). With ``windows``
    too (periods that cut the call's period, see :func:`month_windows`),
    one task per account and window -- ``pull(account, start, end)`` --
    whose frames are joined into the account's frame (:func:`join_windows`);
    a window that fails fails its account.
    """
    results: dict[str, Any] = {}
    failed: dict[str, LedgerkitError] = {}
    if scheduler is None:
        outcomes: Any = ((account.name, _run(pull, account)) for account in chosen)
    elif not windows or len(windows) < 2:
        client = dask_client(scheduler)
        futures = [(a.name, client.submit(_run, pull, a, pure=False, key=_key(source, a))) for a in chosen]
        outcomes = ((name, future.result()) for name, future in futures)
    else:
        client = dask_client(scheduler)
        tasks = [
            [client.submit(_run, pull, a, *window, pure=False, key=_key(source, a)) for window in windows]
            for a in chosen
        ]
        outcomes = ((a.name, _joined([task.result() for task in own])) for a, own in zip(chosen, tasks, strict=True))
    for name, (ok, value) in outcomes:
        (results if ok else failed)[name] = value
    if failed:
        raise failure(source, results, failed, resume)
    return results


def _key(source: str, account: Account) -> str:
    return f"ledgerkit-{source}-{account.name}-{uuid4().hex}"


def _run(pull: Callable[..., Any], account: Account, *window: Any) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, the LedgerkitError)``: a task's outcome, whichever process runs it."""
    try:
        return True, pull(account, *window)
    except LedgerkitError as exc:
        return False, exc


def _joined(outcomes: list[tuple[bool, Any]]) -> tuple[bool, Any]:
    """One account's outcome from its windows' outcomes: the first failure, else the joined frame."""
    for ok, value in outcomes:
        if not ok:
            return False, value
    return True, join_windows([value for _, value in outcomes])


def month_windows(start: pd.Timestamp, end: pd.Timestamp, zone: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """``[start, end)`` cut at the month starts (midnight in ``zone``) inside it: the periods of a pull's tasks.

    Examples
    --------
    >>> utc = lambda text: pd.Timestamp(text, tz="UTC")
    >>> cut = month_windows(utc("2025-01-15"), utc("2025-03-02"), "UTC")
    >>> [(a.strftime("%m-%d"), b.strftime("%m-%d")) for a, b in cut]
    [('01-15', '02-01'), ('02-01', '03-01'), ('03-01', '03-02')]
    """
    local_start = start.tz_convert(zone)
    first = (local_start.tz_localize(None).to_period("M") + 1).to_timestamp()
    cuts = [
        c.tz_localize(zone).tz_convert("UTC")
        for c in pd.date_range(first, end.tz_convert(zone).tz_localize(None), freq="MS")
    ]
    cuts = [c for c in cuts if start < c < end]
    edges = [start, *cuts, end]
    return list(pairwise(edges))


def join_windows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames of one account's windows as one pull's frame: rows by ``id``, categories united, manifests kept.

    The windows cut one period, so no row is in two of them; the manifest
    adds the windows' counts up, joins their ``windows`` lists, and says how
    many ``tasks`` pulled the account.
    """
    categories = {c for f in frames for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)}
    united = {
        c: pd.CategoricalDtype(sorted({v for f in frames if c in f.columns for v in f[c].cat.categories}))
        for c in categories
    }
    out = pd.concat([f.astype({c: t for c, t in united.items() if c in f.columns}) for f in frames], ignore_index=True)
    if "id" in out.columns:
        out = out.sort_values("id", kind="stable", ignore_index=True)
    manifests = [f.attrs.get("ledgerkit", {}) for f in frames]
    summary = _merged(manifests)
    summary["complete"] = all(m.get("complete") for m in manifests)
    summary["tasks"] = len(manifests)
    if "max_workers" in manifests[0]:  # a setting, not a count
        summary["max_workers"] = manifests[0]["max_workers"]
    for key, pick in (("first_cursor", min), ("last_cursor", max)):  # ids, not counts
        cursors = [m[key] for m in manifests if m.get(key) is not None]
        if key in summary:
            summary[key] = pick(cursors) if cursors else None
    last = manifests[-1]
    if "sent_to" in last:  # the period's end is the last window's
        summary["sent_to"] = last["sent_to"]
    if isinstance(last.get("parameters"), dict) and "date_to" in last["parameters"]:
        summary["parameters"] = {**summary["parameters"], "date_to": last["parameters"]["date_to"]}
    out.attrs = {"ledgerkit": summary}
    return out


def _merged(values: list[Any]) -> Any:
    """Window manifests as one: counts added, lists joined (each item once), mappings merged, else the first value."""
    first = values[0]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return sum(values)
    if all(isinstance(v, dict) for v in values):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return {k: _merged([v[k] for v in values if k in v]) for k in keys}
    if all(isinstance(v, list) for v in values):
        joined: list[Any] = []
        for item in (i for v in values for i in v):
            if item not in joined:
                joined.append(item)
        return joined
    return first


def dask_client(scheduler: Any) -> Any:
    """``scheduler`` as a ``dask.distributed.Client``: one given, or one connected to an address.

    Raises
    ------
    ConfigurationError
        Dask is not installed (naming the extra to install), or ``scheduler``
        is neither a client nor an address such as ``"tcp://10.0.0.5:8786"``.
    """
    try:
        import distributed
    except ImportError:
        raise ConfigurationError(
            "scheduler", type(scheduler).__name__, "Dask installed: pip install 'ledgerkit[dask]'"
        ) from None
    if isinstance(scheduler, distributed.Client):
        return scheduler
    if isinstance(scheduler, str) and scheduler.strip():
        try:
            return distributed.Client(scheduler.strip(), set_as_default=False, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigurationError(
                "scheduler", scheduler, f"the address of a running Dask scheduler ({exc})"
            ) from exc
    raise ConfigurationError(
        "scheduler",
        type(scheduler).__name__,
        "a dask.distributed.Client or a scheduler address such as 'tcp://10.0.0.5:8786'",
    )


def failure(
    source: str, results: dict[str, Any], failed: dict[str, LedgerkitError], resume: dict[str, Any]
) -> AccountsError:
    """The error of a many-account pull: which accounts failed and why, the others' rows, how to go on."""
    lines = "; ".join(f"{name}: {type(exc).__name__}: {str(exc)[:200]}" for name, exc in failed.items())
    error = AccountsError(
        f"{len(failed)} of {len(failed) + len(results)} {source} accounts failed ({lines}). .partial holds the "
        f"rows of the others; load again with **err.resume to pull only {', '.join(failed)}",
        failed=failed,
    )
    error.resume = {**resume, "accounts": list(failed)}
    error.partial = (
        combine(source, results) if results and all(isinstance(r, pd.DataFrame) for r in results.values()) else None
    )
    error.manifest = error.partial.attrs.get("ledgerkit") if error.partial is not None else None
    return error


def combine(source: str, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The accounts' frames one after the other, an ``account`` column first; manifests kept per account."""
    parts = [frame.assign(account=name)[["account", *frame.columns]] for name, frame in frames.items()]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"account": pd.Series(dtype="str")})
    categories = {c for f in frames.values() for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)}
    out = out.astype(dict.fromkeys(["account", *sorted(categories)], "category"))
    manifests = {name: frame.attrs.get("ledgerkit", {}) for name, frame in frames.items()}
    summary: dict[str, Any] = {
        "source": source,
        "accounts": manifests,
        "complete": all(m.get("complete") for m in manifests.values()),
    }
    for key in _SUMMED:
        summary[key] = sum(int(m.get(key) or 0) for m in manifests.values())
    out.attrs["ledgerkit"] = summary
    return out
