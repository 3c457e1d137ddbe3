"""Transactions through a store: per payment method, what is not covered yet, the lookback
stretch and the corrections since the last refresh, pulled page by page."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ConfigurationError
from .._ingest.schema import TRANSACTIONS
from .._ingest.records import empty_frame, finish
from .directory import _between, as_store, lookback_of
from .pulls import _iso, _now, _parameters, _result_manifest, _run_pages, _server, _Totals
from .stream import Stream


_TX_PASS = ("date_type", "status", "time_zone", "manual_correction_from", "manual_correction_to", "base_url",
            "shop_id", "secret_key", "progress", "include_pii", "retry", "session")


def load_stored_transactions(kw: dict[str, Any]) -> pd.DataFrame:
    """:func:`ledgerkit.sources.transactions.load_transactions` through a store (``kw``: its arguments).

    Per payment method, the periods not covered yet, the lookback stretch
    and the corrections since the last refresh are pulled page by page, each
    page stored before the cursor moves on.
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
    began, totals, streams, frames = _now(), _Totals(), [], []
    for method in query.methods:
        key = {"date_type": query.date_type, "status": query.status, "time_zone": query.time_zone,
               "payment_method_type": method, "include_pii": include_pii,
               "correction": [None if t is None else _iso(t) for t in (query.correction or (None, None))]}
        stream = store.stream("transactions", account, server, key)
        stream.sweep()
        _sync_transactions(stream, query, began, lookback, method, {k: kw[k] for k in _TX_PASS}, totals)
        streams.append(stream)
        rows = pd.concat(stream.frames(), ignore_index=True) if stream.state["parts"] else None
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
    """Finish a pull left pending, then pull what the period lacks, the lookback stretch and the corrections."""
    from ..sources.transactions import iter_transactions

    def pull_pending() -> None:
        while stream.state.get("pending"):
            item = stream.state["pending"][0]

            def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
                if manifest.get("last_cursor") is not None:
                    item["cursor"] = manifest["last_cursor"]

            corrected = {"manual_correction_from": item["corrected_from"]} if item.get("corrected_from") else {}
            pages = iter_transactions(item["from"], item["to"], payment_method_type=(method,),
                                      starting_after=item["cursor"], **{**passed, **corrected})
            before = (totals.pages, totals.fetched_rows)
            _run_pages(stream, pages, "created_at", totals, advance)
            totals.windows.append({"payment_method_type": method, "from": item["from"], "to": item["to"],
                                   **corrected, "pages": totals.pages - before[0],
                                   "rows": totals.fetched_rows - before[1], "cursor": item["cursor"],
                                   "complete": True})
            stream.state["pending"].pop(0)
            lo, hi = stream.state.get("covered") or (item["from"], item["to"])
            stream.state["covered"] = [min(lo, item["from"]), max(hi, item["to"])]
            if not stream.state["pending"]:
                stream.state["refreshed_at"] = _iso(_now())
            stream.save()

    pull_pending()
    plan = _transactions_plan(stream.state, query, began, lookback)
    if plan:
        stream.state["pending"] = plan
        stream.save()
        pull_pending()


def _transactions_plan(state: dict[str, Any], query: Any, began: pd.Timestamp,
                       lookback: pd.Timedelta) -> list[dict[str, Any]]:
    """The pulls to make: what ``[date_from, date_to)`` adds to the covered period, the lookback
    stretch, and the covered period's rows manually corrected since the last refresh minus ``lookback``."""
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
    if refreshed < began:  # not already brought up to date by this call
        stretch_start = max(lo, start, min(hi, refreshed) - lookback)
        stretch_end = min(hi, end)
        if stretch_start < stretch_end:
            plan.append(_pending(stretch_start, stretch_end))
        since = _corrections_since(query, refreshed - lookback)
        if since is not None and max(lo, start) < stretch_end:
            plan.append(_pending(max(lo, start), stretch_end, corrected_from=since))
    return plan


def _pending(start: pd.Timestamp, end: pd.Timestamp, corrected_from: pd.Timestamp | None = None) -> dict[str, Any]:
    item = {"from": _iso(start), "to": _iso(end), "cursor": None}
    if corrected_from is not None:
        item["corrected_from"] = _iso(corrected_from)
    return item


def _corrections_since(query: Any, since: pd.Timestamp) -> pd.Timestamp | None:
    """``manual_correction_from`` of the corrections pass (None: nothing to ask for).

    Within the query's own correction filter; a whole day in the query's zone
    for ``settled_at`` (the API counts days there).
    """
    lo, hi = query.correction or (None, None)
    if lo is not None:
        since = max(since, lo)
    if query.date_type == "settled_at":
        since = since.tz_convert(query.time_zone).floor("D").tz_convert("UTC")
    return None if hi is not None and since >= hi else since
