"""The MakeCommerce account statements (``GET /makecommerce/v1/shop/accountstatements``) of the sandbox.

``StatementsAPI`` validates the query (``since`` or ``payout_id``, ``until``,
``page``, ``per_page``; 400 with code 1001 and the offending parameters),
selects rows of the statement chain in chain order, and answers one page with
``X-Total-Count`` and an RFC 8288 ``Link`` header (first, prev, next, last).

The sandbox's dialect (:mod:`.dialects`) decides how ``since``/``until``
are read (dates with ``until`` inclusive through the day, or dates and
timestamps with ``until`` an inclusive instant), the default page size, the
Link syntax, and whether the chain is served as the live recording shows it
(:mod:`.recorded_statements`).
"""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .http_util import MAX_CACHED_PULLS, UTC, Request, Response, json_response, parse_utc
from .recorded_statements import float_rows, recorded_chain

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


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:?\d\d)?")
_INSTANT_EXPECTED = "YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[±hh:mm] (UTC when no zone)"


def _instant_param(req: Request, name: str, errors: list[dict[str, str]]) -> float | None:
    """A date (00:00 UTC) or a timestamp (UTC when no zone) as epoch seconds; None when absent."""
    text = req.param(name)
    if text in (None, ""):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp()
        if _TIMESTAMP.fullmatch(text):
            return parse_utc(text.replace(" ", "T")).timestamp()
    except ValueError:
        pass
    errors.append({"type": "invalid", "parameter": name, "expected": _INSTANT_EXPECTED})
    return None


def _day_window(req: Request, errors: list[dict[str, str]]) -> tuple[float | None, float, bool]:
    """``(since, until, inclusive)`` of dates: since from 00:00 UTC, until through 23:59:59 UTC."""
    since, until = _date_param(req, "since", errors), _date_param(req, "until", errors)
    lo = None if since is None else datetime.combine(since, datetime.min.time(), UTC).timestamp()
    hi = (
        float("inf")
        if until is None
        else datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC).timestamp()
    )
    return lo, hi, False


def _instant_window(req: Request, errors: list[dict[str, str]]) -> tuple[float | None, float, bool]:
    """``(since, until, inclusive)`` of instants: rows with ``since <= created <= until``."""
    lo, hi = _instant_param(req, "since", errors), _instant_param(req, "until", errors)
    return lo, float("inf") if hi is None else hi, True


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

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.dialect = sandbox.dialect
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._pulls: dict[tuple, list[dict[str, Any]]] = {}
        self._reshaped = (
            self.dialect.recorded_vat_lines or self.dialect.float_numbers or self.dialect.omit_transaction_id
        )
        self._recorded: tuple = (-1, [], [], [])  # (world chain length, exact, served, times)

    def _snapshot(self) -> tuple[list[dict[str, Any]], list[float]]:
        """The chain as served and its epoch times; the world only ever appends to it."""
        with self.sb.world.lock:
            rows = list(self.sb.world.statements)
        if self._reshaped:
            return self._recorded_rows(rows)[1:]
        with self._lock:
            if len(self._times) < len(rows):
                self._times = self._times + [parse_utc(r["created"]).timestamp() for r in rows[len(self._times) :]]
            return rows, self._times[: len(rows)]

    def _recorded_rows(
        self, world_rows: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[float]]:
        """(exact rows, rows as served, their epoch times) of the dialect's shape, rebuilt when the chain grew."""
        with self._lock:
            length, *view = self._recorded
            if length != len(world_rows):
                exact = recorded_chain(world_rows) if self.dialect.recorded_vat_lines else world_rows
                if self.dialect.omit_transaction_id:
                    exact = [{k: v for k, v in r.items() if k != "transaction_id"} for r in exact]
                served = float_rows(exact) if self.dialect.float_numbers else exact
                view = [exact, served, [parse_utc(r["created"]).timestamp() for r in exact]]
                self._recorded = (len(world_rows), *view)
            return tuple(view)

    def served_rows(self) -> list[dict[str, Any]]:
        """The whole chain as this dialect serves it, numbers as exact ``Decimal`` (``created`` a datetime)."""
        with self.sb.world.lock:
            rows = list(self.sb.world.statements)
        return self._recorded_rows(rows)[0] if self._reshaped else rows

    def handle(self, req: Request) -> Response:
        """Answer one statement page."""
        if not req.auth or not self.sb.world.is_mc_shop(*req.auth):
            return json_response(
                401, {"code": 1004, "message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="api"'}
            )
        errors: list[dict[str, str]] = []
        window = _instant_window if self.dialect.statement_bounds == "instants" else _day_window
        since, until, inclusive = window(req, errors)
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
        rows = self._matching(-float("inf") if since is None else since, until, inclusive, payout_id)
        faults = self.sb.faults
        if page == 1 and faults.insert_during_paging:
            self.sb.world.append_statements(faults.insert_during_paging)
        offset = max(0, (page - 1) * per_page - (faults.repeat_rows if page > 1 else 0))
        last = max(1, -(-len(rows) // per_page))
        links = {
            "first": 1,
            "prev": page - 1 if page > 1 else None,
            "next": (page if faults.stuck_cursor else page + 1) if page < last else None,
            "last": last,
        }
        headers = {"X-Total-Count": str(len(rows)), "Link": self._link(req, links, per_page)}
        response = json_response(200, [_statement_row(r) for r in rows[offset : offset + per_page]], headers)
        if self.dialect.statements_content_type:
            response.content_type = self.dialect.statements_content_type
        return response

    def _matching(self, lo: float, hi: float, inclusive: bool, payout_id: str | None) -> list[dict[str, Any]]:
        """Rows of the chain in ``[lo, hi)`` (``[lo, hi]`` when ``inclusive``), in chain order (cached)."""
        rows, times = self._snapshot()
        key = (lo, hi, inclusive, payout_id, len(rows))
        with self._lock:
            cached = self._pulls.get(key)
        if cached is not None:
            return cached
        selected = [
            row
            for row, at in zip(rows, times, strict=True)
            if lo <= at
            and (at <= hi if inclusive else at < hi)
            and (payout_id is None or str(row.get("payout_id")) == payout_id)
        ]
        with self._lock:
            if len(self._pulls) >= MAX_CACHED_PULLS:
                self._pulls.clear()
            self._pulls[key] = selected
        return selected

    def _link(self, req: Request, pages: dict[str, int | None], per_page: int) -> str:
        parts = []
        fixed = ("page", "per_page") if self.dialect.link_per_page else ("page",)
        for rel, number in pages.items():
            if number is None:
                continue
            query = [(k, v) for k, v in req.query if k not in fixed] + [("page", str(number))]
            if self.dialect.link_per_page:
                query.append(("per_page", str(per_page)))
            parts.append(f'<{self.sb.url}{self.PATH}?{urlencode(query)}>; rel="{rel}"')
        return self.dialect.link_separator.join(parts)
