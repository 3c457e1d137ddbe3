"""Transactions through a store: per payment method, what is not covered yet, the lookback
stretch and the corrections since the last refresh, pulled page by page."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ConfigurationError, InvalidRequestError, StoreError
from .._ingest.schema import TRANSACTIONS
from .._ingest.records import empty_frame, finish
from .directory import _between, as_store, lookback_of
from .pulls import _iso, _now, _parameters, _result_manifest, _run_pages, _server, _Totals
from .stream import Stream


_TX_PASS = ("date_type", "status", "time_zone", "manual_correction_from", "manual_correction_to", "base_url",
            "shop_id", "secret_key", "progress", "include_pii", "retry", "session")

#: Arguments of ``plan_query`` (what checks a window before it is saved or asked for).
_PLAN_ARGS = ("date_from", "date_to", "date_type", "status", "payment_method_type", "time_zone",
              "manual_correction_from", "manual_correction_to", "starting_after")


def load_stored_transactions(kw: dict[str, Any]) -> pd.DataFrame:
    """:func:`ledgerkit.sources.transactions.load_transactions` through a store (``kw``: its arguments).

    Per payment method, the periods not covered yet, the lookback stretch
    and the corrections since the last refresh are pulled page by page, each
    page stored before the cursor moves on -- all while holding that
    method's stream lock, so another load of the same stream waits and then
    asks only for what is still missing.
    """
    from ..sources import check_flag
    from ..sources import transactions as tx

    store = as_store(kw["store"])
    lookback = lookback_of(kw.get("lookback"))
    include_pii = check_flag("include_pii", kw["include_pii"])
    check_flag("progress", kw["progress"], allow_none=True)
    for name in ("starting_after", "ending_before"):
        if kw.get(name) is not None:
            raise ConfigurationError(name, kw[name], "None when store= is given (the store keeps the cursor)")
    query = tx.plan_query(kw["date_from"], kw["date_to"], **{k: kw[k] for k in (
        "date_type", "status", "payment_method_type", "time_zone", "manual_correction_from",
        "manual_correction_to", "starting_after", "ending_before")})
    account, server = _server("transactions", kw, "shop_id")
    passed = {**{k: kw[k] for k in _TX_PASS}, "skip_refused_methods": query.skip_refused}
    began, totals, streams, frames = _now(), _Totals(), [], []
    for method in query.methods:
        key = {"date_type": query.date_type, "status": query.status, "time_zone": query.time_zone,
               "payment_method_type": method, "include_pii": include_pii,
               "correction": [None if t is None else _iso(t) for t in (query.correction or (None, None))]}
        with store.stream("transactions", account, server, key) as stream:
            stream.frames()  # the stored parts, checked before any request
            _sync_transactions(stream, query, began, lookback, method, passed, totals)
            rows = pd.concat(stream.frames(), ignore_index=True) if stream.state["parts"] else None
        streams.append(stream)
        if rows is not None:
            frames.append(_between(rows, query.date_type, query.date_from, query.date_to))
    if frames:
        frame = pd.concat(frames, ignore_index=True).drop_duplicates("id", keep="last")
        frame = finish([frame], TRANSACTIONS, sort_by="id")
    else:
        frame = empty_frame(TRANSACTIONS, include_pii=include_pii)
    parameters = _parameters(kw)
    manifest = _result_manifest("transactions", {**parameters, "shop_id": account}, store, totals, len(frame),
                                streams, lookback)
    ids = frame["id"].dropna()
    manifest["first_cursor"], manifest["last_cursor"] = (int(ids.min()), int(ids.max())) if len(ids) else (None, None)
    frame.attrs["ledgerkit"] = manifest
    return frame


def _sync_transactions(stream: Stream, query: Any, began: pd.Timestamp, lookback: pd.Timedelta, method: str,
                       passed: dict[str, Any], totals: _Totals) -> None:
    """Finish a pull left pending, then pull what the period lacks, the lookback stretch and the corrections.

    A new plan is checked window by window before anything is saved, and
    saved with its first stored page: a window that cannot be asked for
    never reaches the state, and one the API refuses is forgotten.
    """
    state = stream.state
    _heal(state, query, method, passed)
    _pull_pending(stream, method, passed, totals)
    plan = _transactions_plan(state, query, began, lookback)
    if plan:
        for item in plan:
            _check_window(item, method, passed)
        state.update(pending=plan, planned_at=_iso(began))
        _pull_pending(stream, method, passed, totals)


def _pull_pending(stream: Stream, method: str, passed: dict[str, Any], totals: _Totals) -> None:
    """Pull the state's pending windows in turn, each page stored before the cursor moves past it."""
    from ..sources.transactions import iter_transactions

    state = stream.state
    while state.get("pending"):
        item = state["pending"][0]

        def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
            if manifest.get("last_cursor") is not None:
                item["cursor"] = manifest["last_cursor"]

        before = (totals.pages, totals.fetched_rows)
        try:
            pages = iter_transactions(**_window_args(item, method, passed))
            _run_pages(stream, pages, "created_at", totals, advance)
        except (ConfigurationError, InvalidRequestError):
            _forget_plan(stream)
            raise
        totals.windows.append({"payment_method_type": method, "from": item["from"], "to": item["to"],
                               **({"manual_correction_from": item["corrected_from"]} if item.get("corrected_from")
                                  else {}),
                               "pages": totals.pages - before[0], "rows": totals.fetched_rows - before[1],
                               "cursor": item["cursor"], "complete": True})
        state["pending"].pop(0)
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
    try:
        stream.save()
    except StoreError:  # the refusal is the error worth reporting; the next load tries again
        pass


def _window_args(item: dict[str, Any], method: str, passed: dict[str, Any]) -> dict[str, Any]:
    """``iter_transactions`` keyword arguments that pull one pending window from its cursor."""
    corrected = {"manual_correction_from": item["corrected_from"]} if item.get("corrected_from") else {}
    return {"date_from": item["from"], "date_to": item["to"], "payment_method_type": (method,),
            "starting_after": item["cursor"], **passed, **corrected}


def _check_window(item: dict[str, Any], method: str, passed: dict[str, Any]) -> None:
    """Raise the ``ConfigurationError`` asking for ``item`` would raise -- before it is saved."""
    from ..sources.transactions import plan_query

    args = _window_args(item, method, passed)
    plan_query(**{k: args[k] for k in _PLAN_ARGS}, ending_before=None)


def _heal(state: dict[str, Any], query: Any, method: str, passed: dict[str, Any]) -> None:
    """Mend what an older ledgerkit may have left: windows and coverage of ``settled_at`` off the zone's
    midnights, or pending windows that cannot be asked for (those are dropped: they are planned again)."""
    if query.date_type == "settled_at":
        zone = query.time_zone
        for item in state.get("pending", []):
            start, end = (_midnight(pd.Timestamp(item["from"]), zone),
                          _midnight(pd.Timestamp(item["to"]), zone, up=True))
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
            _check_window(item, method, passed)
    except ConfigurationError:
        state["pending"] = []
        state.pop("planned_at", None)


def _transactions_plan(state: dict[str, Any], query: Any, began: pd.Timestamp,
                       lookback: pd.Timedelta) -> list[dict[str, Any]]:
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


def _corrections_since(query: Any, since: pd.Timestamp) -> pd.Timestamp | None:
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
        raise ConfigurationError("lookback", str(back), f"a stretch that starts after 1677 (it reaches back from "
                                 f"{ts.isoformat()})") from None
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
