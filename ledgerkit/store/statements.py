"""Statements through a store: resumed from the next page to ask for, refreshed from the
lookback page, and checked against the API's total."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ConfigurationError, CountMismatchError
from .._ingest.schema import STATEMENTS
from .._ingest.records import empty_frame, finish
from .directory import as_store, lookback_of
from .pulls import _iso, _now, _parameters, _result_manifest, _run_pages, _server, _Totals
from .stream import Stream


_ST_PASS = ("since", "until", "payout_id", "currency", "base_url", "shop_id", "secret_key", "progress", "retry",
            "session")


def load_stored_statements(kw: dict[str, Any]) -> pd.DataFrame:
    """:func:`ledgerkit.sources.statements.load_statements` through a store (``kw``: its arguments).

    Pages are stored as they arrive with the next page to ask for; a later
    call resumes there, or -- once complete -- re-reads from the page
    holding the lookback stretch (at least the last page) to the end.
    """
    from ..sources import check_flag
    from ..sources import statements as st

    store = as_store(kw["store"])
    lookback = lookback_of(kw.get("lookback"))
    check_flag("progress", kw["progress"], allow_none=True)
    if kw.get("start_page", 1) != 1:
        raise ConfigurationError("start_page", kw["start_page"], "1 when store= is given (the store keeps the cursor)")
    query = st.plan_query(**{k: kw[k] for k in ("since", "until", "payout_id", "per_page", "currency", "start_page")})
    account, server = _server("statements", kw, "shop_id")
    key = {"since": None if query.since is None else query.since.isoformat(),
           "until": None if query.until is None else query.until.isoformat(),
           "payout_id": query.payout_id, "per_page": query.per_page, "currency": query.currency}
    stream = store.stream("statements", account, server, key)
    stream.sweep()
    totals = _Totals()
    _sync_statements(stream, _now(), lookback, {k: kw[k] for k in _ST_PASS}, query.per_page, totals)
    frame = _statement_rows(stream)
    parameters = _parameters(kw)
    manifest = _result_manifest("statements", {**parameters, "shop_id": account}, store, totals, len(frame),
                                [stream], lookback)
    total = stream.state.get("total")
    manifest.update(total=total, first_cursor=1, last_cursor=None, count_verified=total is not None)
    manifest.setdefault("total_first", total)
    frame.attrs["ledgerkit"] = manifest
    return frame


def _statement_rows(stream: Stream) -> pd.DataFrame:
    if not stream.state["parts"]:
        return empty_frame(STATEMENTS)
    frame = pd.concat(stream.frames(), ignore_index=True).drop_duplicates("row_id", keep="first")
    return finish([frame.reset_index(drop=True)], STATEMENTS)


def _sync_statements(stream: Stream, began: pd.Timestamp, lookback: pd.Timedelta, passed: dict[str, Any],
                     per_page: int | None, totals: _Totals) -> None:
    """Resume a pull left part-way, or start one (afresh, or from the lookback page), then check the total."""
    from ..sources.statements import iter_statements

    state = stream.state
    state.setdefault("per_page", per_page)
    if state.get("complete"):
        if pd.Timestamp(state["refreshed_at"]) >= began:
            return
        state.update(next_page=_refresh_from(stream, lookback), complete=False, pages_done=False)
        stream.save()
    elif not state.get("next_page") and not state.get("pages_done"):
        state.update(next_page=1, parts=[], complete=False)
        stream.save()

    def advance(state: dict[str, Any], manifest: dict[str, Any], page: pd.DataFrame) -> None:
        nxt = manifest.get("last_cursor")
        if state["per_page"] is None and state["next_page"] == 1 and nxt == 2:
            state["per_page"] = len(page)  # the server's default page size, kept for resuming
        state.update(next_page=nxt, pages_done=nxt is None, total=manifest.get("total", state.get("total")))

    if not state.get("pages_done"):
        pages = iter_statements(start_page=state["next_page"], per_page=state["per_page"], **passed)
        _run_pages(stream, pages, "created", totals, advance)
    total, held = state.get("total"), len(_statement_rows(stream))
    if total is not None and total != held:
        state.update(parts=[], complete=False, next_page=None, pages_done=False)
        stream.save()
        raise CountMismatchError(f"the store holds {held} statement rows but X-Total-Count says {total}; "
                                 "the stored rows were dropped -- load again to pull them afresh")
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
