"""Statements through a store: resumed from the next page to ask for, refreshed from the
lookback page, and checked against the API's total."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from .._ingest.records import empty_frame, finish
from .._ingest.schema import STATEMENTS
from ..errors import ConfigurationError, CountMismatchError
from ..sources import statements as st
from ..sources._statement_rows import renumber
from ..sources.statements import StatementsRequest
from .pulls import StoredLoad, _iso, _now, _result_manifest
from .stream import Stream


def load_statements(load: StoredLoad, request: StatementsRequest) -> pd.DataFrame:
    """The statement rows of ``request`` through the store, as :func:`ledgerkit.load_statements` returns them.

    Pages are stored as they arrive with the next page to ask for; a later
    call resumes there, or -- once complete -- re-reads from the page
    holding the lookback stretch (at least the last page) to the end. All
    of it holds the stream's lock: another load of the same statements
    waits, then finds them complete (or resumes where this one stopped).
    """
    if request.start_page != 1:
        raise ConfigurationError(
            "start_page", request.start_page, "1 when store= is given (the store keeps the cursor)"
        )
    key = {
        "since": None if request.date_from is None else request.date_from.isoformat(),
        "until": None if request.date_to is None else request.date_to.isoformat(),
        "payout_id": request.payout_id,
        "per_page": request.per_page,
        "currency": request.currency,
    }
    with load.store.stream("statements", load.account, load.server, key) as stream:
        stream.frames()  # the stored parts, checked before any request
        _sync_statements(load, stream, request, _now())
        frame = _statement_rows(stream)
    manifest = _result_manifest("statements", request.parameters(), load, len(frame), [stream])
    total = stream.state.get("total")
    manifest.update(
        total=total,
        first_cursor=1,
        last_cursor=None,
        count_verified=total is not None,
        outside_window=stream.state.get("outside", 0),
    )
    manifest.setdefault("total_first", total)
    frame.attrs["ledgerkit"] = manifest
    return frame


def _statement_rows(stream: Stream) -> pd.DataFrame:
    if not stream.state["parts"]:
        return empty_frame(STATEMENTS)
    frame = pd.concat(stream.frames(), ignore_index=True)  # parts hold disjoint places of the chain
    return finish([frame.assign(row_id=renumber(frame["row_id"]))], STATEMENTS)


def _sync_statements(load: StoredLoad, stream: Stream, request: StatementsRequest, began: pd.Timestamp) -> None:
    """Resume a pull left part-way, or start one (afresh, or from the lookback page), then check the total.

    The server's total counts every row it sent, those outside
    ``[date_from, date_to)`` too (``date_to`` is sent as a superset and the
    rows of that day are dropped here), so the check adds them back.
    """
    state = stream.state
    state.setdefault("per_page", request.per_page)
    if state.get("complete"):
        if pd.Timestamp(state["refreshed_at"]) >= began:
            return
        state.update(next_page=_refresh_from(stream, load.lookback), complete=False, pages_done=False, outside=0)
        stream.save()
    elif not state.get("next_page") and not state.get("pages_done"):
        state.update(next_page=1, parts=[], complete=False, outside=0)
        stream.save()

    outside_before = state.get("outside", 0)

    def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
        nxt = manifest.get("last_cursor")
        if state["per_page"] is None and state["next_page"] == 1 and nxt == 2:
            state["per_page"] = manifest.get("dialect", {}).get("per_page") or len(page)  # kept for resuming
        state.update(
            next_page=nxt,
            pages_done=nxt is None,
            total=manifest.get("total", state.get("total")),
            outside=outside_before + manifest.get("outside_window", 0),
        )

    if not state.get("pages_done"):
        sub = replace(request, start_page=state["next_page"], per_page=state["per_page"])
        pull = st.pull(load.fresh_connection(), sub, max_workers=load.max_workers, progress=False, keeps_pages=False)
        load.keep(stream, pull, STATEMENTS, "created", advance)
    total, held = state.get("total"), len(_statement_rows(stream)) + state.get("outside", 0)
    if total is not None and total != held:
        state.update(parts=[], complete=False, next_page=None, pages_done=False, outside=0)
        stream.save()
        raise CountMismatchError(
            f"the store holds {held} statement rows but X-Total-Count says {total}; "
            "the stored rows were dropped -- load again to pull them afresh"
        )
    state.update(complete=True, refreshed_at=_iso(_now()))
    stream.save()


def _refresh_from(stream: Stream, lookback: pd.Timedelta) -> int:
    """Page to re-read from; keeps only the rows before it, compacted into one part."""
    rows = _statement_rows(stream)
    per_page = stream.state.get("per_page") or stream.key.get("per_page")
    if rows.empty or not per_page:
        stream.state["parts"] = []
        return 1
    last_pull = pd.Timestamp(stream.state["refreshed_at"])
    cutoff = min(rows["created"].max(), last_pull) - lookback
    first_recent = int((rows["created"] < cutoff).sum())
    page = min(first_recent // per_page, (len(rows) - 1) // per_page) + 1
    kept = rows.iloc[: (page - 1) * per_page]
    stream.state["parts"] = stream.write_page(kept, "created") if len(kept) else []
    return page
