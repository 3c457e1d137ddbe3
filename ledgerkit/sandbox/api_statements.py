"""The MakeCommerce account statements (``GET /makecommerce/v1/shop/accountstatements``) of the sandbox.

``StatementsAPI`` validates the query (``since`` or ``payout_id``, ``until``,
``page``, ``per_page``; 400 with code 1001 and the offending parameters),
selects rows of the statement chain in chain order, and answers one page with
``X-Total-Count`` and an RFC 8288 ``Link`` header (first, prev, next, last).
"""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .http_util import MAX_CACHED_PULLS, UTC, Request, Response, json_response, parse_utc

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["StatementsAPI"]


def _statement_error(errors: list[dict[str, str]], message: str = "Invalid request") -> Response:
    return json_response(400, {"code": 1001, "message": message, "errors": errors})


def _date_param(req: Request, name: str, errors: list[dict[str, str]]) -> date | None:
    text = req.param(name)
    if text in (None, ""):
        return None
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    errors.append({"type": "invalid", "parameter": name, "expected": "YYYY-MM-DD"})
    return None


def _int_param(req: Request, name: str, default: int, top: int | None, errors: list[dict[str, str]]) -> int:
    text = req.param(name)
    if text in (None, ""):
        return default
    if text.isdigit() and 1 <= int(text) <= (top or int(text)):
        return int(text)
    expected = f"integer 1..{top}" if top else "integer >= 1"
    errors.append({"type": "invalid", "parameter": name, "expected": expected})
    return default


def _statement_row(row: dict[str, Any]) -> dict[str, Any]:
    """A statement row as served: ``created`` as ``2023-01-06T04:10:08+0000``."""
    created = row["created"]
    if isinstance(created, datetime):
        row = {**row, "created": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")}
    return row


class StatementsAPI:
    """``GET /v1/shop/accountstatements``: page/per_page with Link and X-Total-Count."""

    PATH = "/makecommerce/v1/shop/accountstatements"

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sb = sandbox
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._pulls: dict[tuple, list[dict[str, Any]]] = {}

    def _snapshot(self) -> tuple[list[dict[str, Any]], list[float]]:
        """The chain and its epoch times; the world only ever appends to it."""
        with self.sb.world.lock:
            rows = list(self.sb.world.statements)
        with self._lock:
            if len(self._times) < len(rows):
                self._times = self._times + [parse_utc(r["created"]).timestamp() for r in rows[len(self._times):]]
            return rows, self._times[: len(rows)]

    def handle(self, req: Request) -> Response:
        """Answer one statement page."""
        if not req.auth or not self.sb.world.is_mc_shop(*req.auth):
            return json_response(401, {"code": 1004, "message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="api"'})
        errors: list[dict[str, str]] = []
        since, until = _date_param(req, "since", errors), _date_param(req, "until", errors)
        page = _int_param(req, "page", 1, None, errors)
        per_page = _int_param(req, "per_page", self.sb.per_page_default, self.sb.per_page_max, errors)
        if errors:
            return _statement_error(errors)
        payout_id = req.param("payout_id") or None
        if since is None and payout_id is None:
            return _statement_error(
                [{"type": "missing", "parameter": "since"}, {"type": "missing", "parameter": "payout_id"}],
                "since or payout_id must be present",
            )
        rows = self._matching(since, until, payout_id)
        faults = self.sb.faults
        if page == 1 and faults.insert_during_paging:
            self.sb.world.append_statements(faults.insert_during_paging)
        offset = max(0, (page - 1) * per_page - (faults.repeat_rows if page > 1 else 0))
        last = max(1, -(-len(rows) // per_page))
        links = {"first": 1, "prev": page - 1 if page > 1 else None,
                 "next": (page if faults.stuck_cursor else page + 1) if page < last else None, "last": last}
        headers = {"X-Total-Count": str(len(rows)), "Link": self._link(req, links)}
        return json_response(200, [_statement_row(r) for r in rows[offset:offset + per_page]], headers)

    def _matching(self, since: date | None, until: date | None, payout_id: str | None) -> list[dict[str, Any]]:
        """Rows of the chain a query selects, in chain order (cached per query and chain length)."""
        rows, times = self._snapshot()
        key = (since, until, payout_id, len(rows))
        with self._lock:
            cached = self._pulls.get(key)
        if cached is not None:
            return cached
        lo = -float("inf") if since is None else datetime.combine(since, datetime.min.time(), UTC).timestamp()
        hi = float("inf") if until is None else datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC).timestamp()
        selected = [row for row, at in zip(rows, times)
                    if lo <= at < hi and (payout_id is None or str(row.get("payout_id")) == payout_id)]
        with self._lock:
            if len(self._pulls) >= MAX_CACHED_PULLS:
                self._pulls.clear()
            self._pulls[key] = selected
        return selected

    def _link(self, req: Request, pages: dict[str, int | None]) -> str:
        parts = []
        for rel, number in pages.items():
            if number is None:
                continue
            query = [(k, v) for k, v in req.query if k != "page"] + [("page", str(number))]
            parts.append(f'<{self.sb.url}{self.PATH}?{urlencode(query)}>; rel="{rel}"')
        return ", ".join(parts)
