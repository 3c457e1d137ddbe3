"""Transactions through a store: per payment method, what is not covered yet, the lookback
stretch and the corrections since the last refresh, pulled page by page."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import replace
from typing import Any

import pandas as pd

from .._ingest.records import empty_frame, finish
from .._ingest.schema import TRANSACTIONS
from ..errors import ConfigurationError, InvalidRequestError, StoreError
from ..sources import transactions as tx
from ..sources.transactions import TransactionsRequest
from ..sources.windows import WindowScheduler, plan_spans
from .directory import _between
from .pulls import StoredLoad, _iso, _now, _result_manifest
from .stream import Stream


def load_transactions(load: StoredLoad, request: TransactionsRequest) -> pd.DataFrame:
    """The transactions of ``request`` through the store, as :func:`ledgerkit.load_transactions` returns them.

    Per payment method, the periods not covered yet, the lookback stretch
    and the corrections since the last refresh are pulled page by page, each
    page stored before the cursor moves on -- all while holding that
    method's stream lock, so another load of the same stream waits and then
    asks only for what is still missing. With ``load.max_workers`` above 1 a
    period never pulled before is cut into that many time windows, each with
    its own cursor in the state, pulled at the same time.
    """
    for name in ("starting_after", "ending_before"):
        if getattr(request, name) is not None:
            raise ConfigurationError(
                name, getattr(request, name), "None when store= is given (the store keeps the cursor)"
            )
    began, streams, frames = _now(), [], []
    for method in request.methods:
        key = {
            "date_type": request.date_type,
            "status": request.status,
            "time_zone": request.time_zone,
            "payment_method_type": method,
            "include_pii": request.include_pii,
            "correction": [None if t is None else _iso(t) for t in (request.correction or (None, None))],
        }
        with load.store.stream("transactions", load.account, load.server, key) as stream:
            stream.frames()  # the stored parts, checked before any request
            _sync_transactions(load, stream, request, began, method)
            rows = pd.concat(stream.frames(), ignore_index=True) if stream.state["parts"] else None
        streams.append(stream)
        if rows is not None:
            frames.append(_between(rows, request.date_type, request.date_from, request.date_to))
    if frames:
        frame = pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="last")
        frame = finish([frame], TRANSACTIONS, sort_by="id")
    else:
        frame = empty_frame(TRANSACTIONS, include_pii=request.include_pii)
    manifest = _result_manifest("transactions", request.parameters(), load, len(frame), streams)
    ids = frame["id"].dropna()
    manifest["first_cursor"], manifest["last_cursor"] = (int(ids.min()), int(ids.max())) if len(ids) else (None, None)
    frame.attrs["ledgerkit"] = manifest
    return frame


def _sync_transactions(
    load: StoredLoad, stream: Stream, request: TransactionsRequest, began: pd.Timestamp, method: str
) -> None:
    """Finish a pull left pending, then pull what the period lacks, the lookback stretch and the corrections.

    A new plan is checked window by window before anything is saved, and
    saved with its first stored page: a window that cannot be asked for
    never reaches the state, and one the API refuses is forgotten.
    """
    state = stream.state
    _heal(state, request, method)
    _pull_pending(load, stream, request, method)
    workers = 1 if state.get("refused") else load.max_workers  # a method refused before is asked once, not per window
    plan = _split(_transactions_plan(state, request, began, load.lookback), request, workers)
    if plan:
        for item in plan:
            _window(request, item, method)
        state.update(pending=plan, planned_at=_iso(began))
        _pull_pending(load, stream, request, method)


def _split(plan: list[dict[str, Any]], request: TransactionsRequest, workers: int) -> list[dict[str, Any]]:
    """The plan with a period never pulled before cut into ``workers`` windows (pulled at the same time)."""
    if workers == 1:
        return plan
    out = []
    for item in plan:
        if item.get("corrected_from") or len(plan) > 1:
            out.append(item)
            continue
        start, end = pd.Timestamp(item["from"]), pd.Timestamp(item["to"])
        bounds = plan_spans(start, end, workers, request.date_type, request.time_zone)
        out.extend(_pending(a, b) for a, b in itertools.pairwise(bounds))
    return out


def _pull_pending(load: StoredLoad, stream: Stream, request: TransactionsRequest, method: str) -> None:
    """Pull the state's pending windows, each page stored before its window's cursor moves past it.

    One window at a time, or -- with several windows and ``max_workers``
    above 1 -- that many at a time, each in a thread with a session of its
    own; the state is saved under one lock.
    """
    pending = list(stream.state.get("pending") or [])
    if not pending:
        return
    threaded = load.max_workers > 1 and len(pending) > 1

    def step(item: dict[str, Any], _worker: Any, _hungry: bool) -> tuple[None, list]:
        _pull_window(load, stream, request, method, item, threaded=threaded)
        return None, []

    try:
        if threaded:
            list(
                WindowScheduler(
                    pending, step, max_workers=min(load.max_workers, len(pending)), make_worker=lambda: None
                )
            )
        else:
            for item in pending:
                step(item, None, False)
    except (ConfigurationError, InvalidRequestError):
        _forget_plan(stream)
        raise


def _pull_window(
    load: StoredLoad, stream: Stream, request: TransactionsRequest, method: str, item: dict[str, Any], *, threaded: bool
) -> None:
    """One pending window pulled from its cursor to its end; then it leaves the plan."""

    def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
        if manifest.get("last_cursor") is not None:
            item["cursor"] = manifest["last_cursor"]

    before = (load.totals.pages, load.totals.fetched_rows)
    pull = tx.pull(
        load.fresh_connection(threaded=threaded),
        _window(request, item, method),
        max_workers=1,
        progress=False,
        columnar=False,
    )
    load.keep(stream, pull, TRANSACTIONS, "created_at", advance)
    state = stream.state
    with load.lock:
        state["refused"] = method in pull.refused
        if state["refused"]:  # nothing is covered: the next load asks once more (a provider may start offering it)
            state["pending"] = []
            state.pop("planned_at", None)
            stream.save()
            return
        load.totals.windows.append(
            {
                "payment_method_type": method,
                "from": item["from"],
                "to": item["to"],
                **({"manual_correction_from": item["corrected_from"]} if item.get("corrected_from") else {}),
                "pages": load.totals.pages - before[0],
                "rows": load.totals.fetched_rows - before[1],
                "cursor": item["cursor"],
                "complete": True,
            }
        )
        state["pending"] = [i for i in state["pending"] if i is not item]
        lo, hi = (pd.Timestamp(t) for t in (state.get("covered") or (item["from"], item["to"])))
        state["covered"] = [_iso(min(lo, pd.Timestamp(item["from"]))), _iso(max(hi, pd.Timestamp(item["to"])))]
        if not state["pending"] and state.get("planned_at"):
            state["refreshed_at"] = state.pop("planned_at")  # the plan's reads all began after this moment
        stream.save()


def _forget_plan(stream: Stream) -> None:
    """Drop the pending windows after one was refused, so that no later load keeps asking for it.

    Safe: coverage grows only with windows pulled whole and ``refreshed_at``
    stays where it was, so the next load plans the same reads again.
    """
    stream.state["pending"] = []
    stream.state.pop("planned_at", None)
    with contextlib.suppress(StoreError):  # the refusal is the error worth reporting; the next load tries again
        stream.save()


def _window(request: TransactionsRequest, item: dict[str, Any], method: str) -> TransactionsRequest:
    """The request that pulls one pending window from its cursor (checked: ``ConfigurationError`` when it
    cannot be asked for -- before it is saved)."""
    correction = request.correction
    if item.get("corrected_from"):
        correction = (pd.Timestamp(item["corrected_from"]), None if correction is None else correction[1])
    return replace(
        request,
        date_from=pd.Timestamp(item["from"]),
        date_to=pd.Timestamp(item["to"]),
        methods=(method,),
        starting_after=item["cursor"],
        ending_before=None,
        correction=correction,
    ).checked()


def _heal(state: dict[str, Any], request: TransactionsRequest, method: str) -> None:
    """Mend what an older ledgerkit may have left: windows and coverage of ``settled_at`` off the zone's
    midnights, or pending windows that cannot be asked for (those are dropped: they are planned again)."""
    if request.date_type == "settled_at":
        zone = request.time_zone
        for item in state.get("pending", []):
            start, end = (
                _midnight(pd.Timestamp(item["from"]), zone),
                _midnight(pd.Timestamp(item["to"]), zone, up=True),
            )
            if (start, end) != (pd.Timestamp(item["from"]), pd.Timestamp(item["to"])):
                item.update({"from": _iso(start), "to": _iso(end), "cursor": None})  # wider: read from its start
            if item.get("corrected_from"):
                item["corrected_from"] = _iso(_midnight(pd.Timestamp(item["corrected_from"]), zone))
        if state.get("covered"):
            lo = _midnight(pd.Timestamp(state["covered"][0]), zone, up=True)
            hi = _midnight(pd.Timestamp(state["covered"][1]), zone)
            state["covered"] = [_iso(lo), _iso(hi)] if lo < hi else None  # narrower: only what surely is covered
    try:
        for item in state.get("pending", []):
            _window(request, item, method)
    except ConfigurationError:
        state["pending"] = []
        state.pop("planned_at", None)


def _transactions_plan(
    state: dict[str, Any], query: TransactionsRequest, began: pd.Timestamp, lookback: pd.Timedelta
) -> list[dict[str, Any]]:
    """The pulls to make: what ``[date_from, date_to)`` adds to the covered period, the lookback
    stretch, and the covered period's rows manually corrected since the last refresh minus ``lookback``.

    The stretch and the corrections start at a midnight of the query's zone,
    ``lookback`` before on its wall clock: the lookback counts the zone's
    days (``settled_at`` accepts nothing but midnights, and the midnights
    chosen are never ambiguous wall-clock times).
    """
    start, end = query.date_from, query.date_to
    covered = state.get("covered")
    if not covered:
        return [_pending(start, end)]
    lo, hi = pd.Timestamp(covered[0]), pd.Timestamp(covered[1])
    plan = []
    if start < lo:
        plan.append(_pending(start, lo))
    if end > hi:
        plan.append(_pending(hi, end))
    refreshed = pd.Timestamp(state.get("refreshed_at") or covered[1])
    if refreshed < began:  # not already brought up to date since this call began
        stretch_start = max(lo, start, _midnight(min(hi, refreshed), query.time_zone, back=lookback))
        stretch_end = min(hi, end)
        if stretch_start < stretch_end:
            plan.append(_pending(stretch_start, stretch_end))
        since = _corrections_since(query, _midnight(refreshed, query.time_zone, back=lookback))
        if since is not None and max(lo, start) < stretch_end:
            plan.append(_pending(max(lo, start), stretch_end, corrected_from=since))
    return plan


def _pending(start: pd.Timestamp, end: pd.Timestamp, corrected_from: pd.Timestamp | None = None) -> dict[str, Any]:
    item = {"from": _iso(start), "to": _iso(end), "cursor": None}
    if corrected_from is not None:
        item["corrected_from"] = _iso(corrected_from)
    return item


def _corrections_since(query: TransactionsRequest, since: pd.Timestamp) -> pd.Timestamp | None:
    """``manual_correction_from`` of the corrections pass (None: nothing to ask for): ``since``
    within the query's own correction filter."""
    lo, hi = query.correction or (None, None)
    if lo is not None:
        since = max(since, lo)
    return None if hi is not None and since >= hi else since


def _midnight(ts: pd.Timestamp, zone: str, *, up: bool = False, back: pd.Timedelta | None = None) -> pd.Timestamp:
    """The midnight of ``zone`` at or before ``ts`` (``up``: at or after), in UTC.

    ``back`` is first taken off ``ts``'s wall-clock time in ``zone``, so that
    days are the zone's calendar days (3 days before 1 April 00:00 is 29
    March 00:00, whatever clock change lies between). A day whose midnight a
    clock change skips or repeats is passed over (the day before, or after
    with ``up``): the result is always a wall-clock midnight with one meaning.

    Examples
    --------
    >>> _midnight(pd.Timestamp("2025-03-30T12:00Z"), "Europe/Kyiv")   # DST began at 03:00 that day
    Timestamp('2025-03-29 22:00:00+0000', tz='UTC')
    >>> _midnight(pd.Timestamp("2025-03-31T21:00Z"), "Europe/Kyiv", back=pd.Timedelta(days=3))
    Timestamp('2025-03-28 22:00:00+0000', tz='UTC')
    >>> _midnight(pd.Timestamp("2025-03-28T21:00Z"), "Europe/Kyiv", up=True)
    Timestamp('2025-03-28 22:00:00+0000', tz='UTC')
    >>> _midnight(pd.Timestamp("2024-09-08T12:00Z"), "America/Santiago")  # no 00:00 on 8 September
    Timestamp('2024-09-07 04:00:00+0000', tz='UTC')
    """
    try:
        local = ts.tz_convert(zone).tz_localize(None) - (back if back is not None else pd.Timedelta(0))
    except (OverflowError, ValueError):  # pandas' out-of-bounds errors are ValueErrors
        raise ConfigurationError(
            "lookback", str(back), f"a stretch that starts after 1677 (it reaches back from {ts.isoformat()})"
        ) from None
    day = local.normalize()
    step = pd.Timedelta(days=1 if up else -1)
    if up and day < local:
        day += step
    for _ in range(7):
        try:
            return day.tz_localize(zone, ambiguous="raise", nonexistent="raise").tz_convert("UTC")
        except ValueError:
            day += step
    raise StoreError(f"time zone {zone} has no usable midnight near {ts.isoformat()}")  # pragma: no cover
