"""The beGateway shop report v3 (``POST /gateway/api/reports``) of the sandbox.

``validate_report_params`` checks ``report_params`` field by field (422 with
the API's error map); ``TransactionsAPI`` selects a shop's transactions by
date type, status, payment method and manual correction window, pages them by
id cursor (``starting_after`` / ``ending_before``, ``has_more``), and shows the
platform's time-zone quirk: times in the requested zone's wall clock, still
ending in ``Z``. The sandbox's dialect names the payment methods (the world's
alternative-method transactions are served as ``erip`` to ``bepaid``, not at
all to ``ecomcharge``) and says whether ``count`` is the page's rows or the
report's.

Examples
--------
>>> validate_report_params({"date_type": "settled_at", "from": "2025-01-01", "to": "2025-01-31",
...                         "status": "all", "payment_method_type": "credit_card",
...                         "time_zone": "UTC"})[0]
{}
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .http_util import MAX_CACHED_PULLS, UTC, Request, Response, dumps, json_response, parse_utc

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["TransactionsAPI", "validate_report_params"]

_TX_TIME_FIELDS = ("created_at", "paid_at", "settled_at", "manually_corrected_at")
_STATUSES = ("all", "successful", "failed", "pending", "incomplete")
_METHODS = ("credit_card", "alternative")
_DATE_TYPES = ("created_at", "paid_at", "settled_at")
_PARAMS = (
    "date_type",
    "from",
    "to",
    "status",
    "payment_method_type",
    "time_zone",
    "starting_after",
    "ending_before",
    "manual_correction_from",
    "manual_correction_to",
)
_UNKNOWN = "is not permitted"
_WALL_FORMAT = "%Y-%m-%d %H:%M:%S"
_Z_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class _TxIndex:
    """Transactions grouped per shop, ascending id, with epoch times and their UTC text.

    Two speed-ups keep the sandbox's own CPU out of a client's measurements
    on a shared machine: :meth:`by_time` holds a shop's rows of one payment
    method sorted by one time field, so a window query is two bisects instead
    of a scan of every row of the shop; :meth:`rows_json` keeps each row's
    served JSON bytes (per time zone), so a page is a join, not a fresh dump.
    Both live as long as the index (rebuilt when the world changes).
    """

    def __init__(self, transactions: list[dict[str, Any]], alternative_method: str | None = "alternative") -> None:
        self.size = len(transactions)
        self.alternative_method = alternative_method
        self.by_shop: dict[int, list[dict[str, Any]]] = {}
        self.times: dict[int, dict[str, float | None]] = {}
        self.utc_text: dict[int, dict[str, str | None]] = {}
        self.by_id: dict[int, dict[str, Any]] = {}
        self._by_time: dict[tuple[int, str, str], tuple[list[float], list[int]]] = {}
        self._json: dict[str, dict[int, bytes]] = {}
        self._lock = threading.Lock()
        for tx in sorted(transactions, key=lambda t: t["id"]):
            self.by_shop.setdefault(int(tx["shop"]["id"]), []).append(tx)
            self.by_id[tx["id"]] = tx
            stamps = {f: (None if tx.get(f) is None else parse_utc(tx[f])) for f in _TX_TIME_FIELDS}
            self.times[tx["id"]] = {f: (None if v is None else v.timestamp()) for f, v in stamps.items()}
            self.utc_text[tx["id"]] = {f: (None if v is None else v.strftime(_Z_FORMAT)) for f, v in stamps.items()}

    def shown(self, tx_id: int, zone: ZoneInfo) -> dict[str, Any]:
        """A transaction as served: times as ``...Z``, wall clock in ``zone`` (the platform quirk)."""
        tx = self.by_id[tx_id]
        if zone.key == "UTC":
            shown = {**tx, **self.utc_text[tx_id]}
        else:
            shown = {**tx, **{f: _wall_clock_z(tx.get(f), zone) for f in _TX_TIME_FIELDS}}
        return self._renamed(shown)

    def _renamed(self, tx: dict[str, Any]) -> dict[str, Any]:
        """An alternative-method transaction under the dialect's method name (nested object renamed too)."""
        name = self.alternative_method
        if name in (None, "alternative") or tx.get("payment_method_type") != "alternative":
            return tx
        return {(name if k == "alternative" else k): (name if k == "payment_method_type" else v) for k, v in tx.items()}

    def rows_json(self, ids: list[int], zone: ZoneInfo) -> list[bytes]:
        """The JSON bytes of :meth:`shown` for each of ``ids`` (each kept once made).

        One lookup per row, no call: a page's rows are most of what the
        sandbox spends on a request.
        """
        rows = self._json.setdefault(zone.key, {})
        try:
            return list(map(rows.__getitem__, ids))
        except KeyError:
            return [rows[i] if i in rows else rows.setdefault(i, dumps(self.shown(i, zone))) for i in ids]

    def by_time(self, shop_id: int, method: str, date_type: str) -> tuple[list[float], list[int]]:
        """(times ascending, their ids) of a shop's ``method`` rows that have a ``date_type`` time."""
        key = (shop_id, method, date_type)
        with self._lock:
            found = self._by_time.get(key)
            if found is None:
                pairs = sorted(
                    (t, tx["id"])
                    for tx in self.by_shop.get(shop_id, [])
                    if tx.get("payment_method_type") == method and (t := self.times[tx["id"]][date_type]) is not None
                )
                found = self._by_time[key] = ([t for t, _ in pairs], [i for _, i in pairs])
            return found


@dataclass(frozen=True)
class _TxQuery:
    """A validated ``report_params`` minus the cursors: the key of a pull."""

    shop_id: int
    date_type: str
    start: float
    end: float  # exclusive
    status: str
    method: str  # as the world names it
    zone: str
    correction: tuple[float, float] | None


def _wall_start(date_type: str, text: str, zone: tzinfo) -> float:
    """Epoch seconds where an inclusive wall-clock (or date) bound in ``zone`` starts."""
    if date_type == "settled_at":
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), zone).timestamp()
    return datetime.strptime(text, _WALL_FORMAT).replace(tzinfo=zone).timestamp()


def _wall_end(date_type: str, text: str, zone: ZoneInfo) -> float:
    """Epoch seconds just after an inclusive wall-clock (or date) bound in ``zone`` (exclusive end)."""
    if date_type == "settled_at":
        return datetime.combine(date.fromisoformat(text) + timedelta(days=1), datetime.min.time(), zone).timestamp()
    return datetime.strptime(text, _WALL_FORMAT).replace(tzinfo=zone).timestamp() + 1


def _valid_wall(text: Any, date_type: str) -> bool:
    if not isinstance(text, str):
        return False
    try:
        if date_type == "settled_at":
            return bool(re.fullmatch(r"\d{4}-\d\d-\d\d", text)) and date.fromisoformat(text) is not None
        return datetime.strptime(text, _WALL_FORMAT) is not None  # noqa: DTZ007 - the text's shape only
    except ValueError:
        return False


def _cursor(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, IsADirectoryError ...
        return None


def validate_report_params(
    params: Any, methods: tuple[str, ...] = _METHODS
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Check ``report_params``; return (errors by field, cleaned values).

    Like a strict API, a field it does not know (``count``, a typo such as
    ``date_typ``) is an error of its own rather than silently ignored.
    ``methods`` are the ``payment_method_type`` values the deployment offers.

    Examples
    --------
    >>> errors, _ = validate_report_params({"date_type": "created_at", "status": "paid"})
    >>> sorted(errors)
    ['from', 'payment_method_type', 'status', 'time_zone', 'to']
    >>> errors["status"]
    ['must be one of: all, successful, failed, pending, incomplete']
    >>> validate_report_params({"count": 5})[0]["count"]
    ['is not permitted']
    """
    errors: dict[str, list[str]] = {name: [_UNKNOWN] for name in params if name not in _PARAMS}
    clean: dict[str, Any] = {}

    def need(name: str) -> Any:
        if params.get(name) in (None, ""):
            errors[name] = ["is missing"]
        return params.get(name)

    def one_of(name: str, allowed: tuple[str, ...]) -> None:
        value = need(name)
        if name not in errors and value not in allowed:
            errors[name] = [f"must be one of: {', '.join(allowed)}"]
        clean[name] = value

    one_of("date_type", _DATE_TYPES)
    date_type = clean["date_type"] if "date_type" not in errors else "created_at"
    wall = "YYYY-MM-DD" if date_type == "settled_at" else "YYYY-MM-DD hh:mm:ss"
    for name in ("from", "to"):
        value = need(name)
        if name not in errors and not _valid_wall(value, date_type):
            errors[name] = [f"must be in format {wall}"]
        clean[name] = value
    if (
        "from" not in errors
        and "to" not in errors
        and _wall_start(date_type, clean["to"], UTC) < _wall_start(date_type, clean["from"], UTC)
    ):
        errors["to"] = ["must not be before from"]
    one_of("status", _STATUSES)
    one_of("payment_method_type", methods)
    zone_name = need("time_zone")
    clean["time_zone"] = _zone(zone_name)
    if "time_zone" not in errors and clean["time_zone"] is None:
        errors["time_zone"] = ["must be an IANA time zone name such as Europe/London"]
    for name in ("starting_after", "ending_before"):
        if params.get(name) not in (None, ""):
            clean[name] = _cursor(params[name])
            if clean[name] is None:
                errors[name] = ["must be a transaction id (integer)"]
    if "starting_after" in clean and "ending_before" in clean and "ending_before" not in errors:
        errors["ending_before"] = ["cannot be used together with starting_after"]
    for name in ("manual_correction_from", "manual_correction_to"):
        value = params.get(name)
        if value not in (None, "") and not _valid_wall(value, date_type):
            errors[name] = [f"must be in format {wall}"]
        clean[name] = value or None
    return errors, clean


def _invalid_params(errors: dict[str, list[str]]) -> Response:
    first = next(iter(errors))
    what = errors[first][0] if errors[first][0] in ("is missing", _UNKNOWN) else "is invalid"
    return json_response(422, {"message": f"report_params.{first} {what}", "errors": errors})


def _wall_clock_z(value: datetime | str | None, zone: ZoneInfo) -> str | None:
    """``YYYY-MM-DDThh:mm:ssZ``; the platform quirk: wall clock in ``zone``, still ending in Z."""
    if value is None:
        return None
    return parse_utc(value).astimezone(zone).strftime(_Z_FORMAT)


class TransactionsAPI:
    """``POST /api/reports`` (X-Api-Version 3): cursor-paginated shop report."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self._lock = threading.Lock()
        self._index: _TxIndex | None = None
        self._pulls: dict[_TxQuery, list[int]] = {}

    def index(self) -> _TxIndex:
        """The index of the world's transactions, rebuilt when the world grew."""
        with self._lock:
            if self._index is None or self._index.size != len(self.sb.world.transactions):
                with self.sb.world.lock:
                    snapshot = list(self.sb.world.transactions)
                self._index = _TxIndex(snapshot, self.sb.dialect.alternative_method)
                self._pulls.clear()
            return self._index

    def handle(self, req: Request) -> Response:
        """Answer one report request."""
        shop = self.sb.world.shop_by_credentials(*req.auth) if req.auth else None
        if shop is None:
            return json_response(
                401, {"message": "Unauthorized", "errors": {}}, {"WWW-Authenticate": 'Basic realm="api"'}
            )
        if (req.header("X-Api-Version") or "").strip() != "3":
            return json_response(
                400, {"message": "X-Api-Version header must be 3", "errors": {"X-Api-Version": ["must be 3"]}}
            )
        if req.body and req.json is None:
            return json_response(400, {"message": "request body is not valid JSON", "errors": {}})
        if not isinstance(req.json, dict) or not isinstance(req.json.get("report_params"), dict):
            return json_response(
                422, {"message": "report_params is missing", "errors": {"report_params": ["is missing"]}}
            )
        errors, clean = validate_report_params(req.json["report_params"], self.sb.dialect.payment_methods)
        if errors:
            return _invalid_params(errors)
        query = self._query(int(shop["id"]), clean)
        return Response(200, self._page(query, clean))

    def _query(self, shop_id: int, clean: dict[str, Any]) -> _TxQuery:
        zone, kind = clean["time_zone"], clean["date_type"]
        correction = None
        lo, hi = clean["manual_correction_from"], clean["manual_correction_to"]
        if lo or hi:
            correction = (
                _wall_start(kind, lo, zone) if lo else -float("inf"),
                _wall_end(kind, hi, zone) if hi else float("inf"),
            )
        method = clean["payment_method_type"]
        world_method = "alternative" if method == self.sb.dialect.alternative_method else method
        return _TxQuery(
            shop_id,
            kind,
            _wall_start(kind, clean["from"], zone),
            _wall_end(kind, clean["to"], zone),
            clean["status"],
            world_method,
            zone.key,
            correction,
        )

    def matching_ids(self, q: _TxQuery) -> list[int]:
        """Ascending ids of the transactions a query selects (cached per query)."""
        index = self.index()
        with self._lock:
            cached = self._pulls.get(q)
        if cached is not None:
            return cached
        times, by_time = index.by_time(q.shop_id, q.method, q.date_type)
        ids = by_time[bisect_left(times, q.start) : bisect_left(times, q.end)]
        if q.status != "all":
            ids = [i for i in ids if index.by_id[i].get("status") == q.status]
        if q.correction:
            low, high = q.correction
            ids = [i for i in ids if (at := index.times[i]["manually_corrected_at"]) is not None and low <= at < high]
        ids.sort()
        with self._lock:
            if self._index is index:
                if len(self._pulls) >= MAX_CACHED_PULLS:
                    self._pulls.clear()
                self._pulls[q] = ids
        return ids

    def _page(self, q: _TxQuery, clean: dict[str, Any]) -> bytes:
        """One page's JSON body; its rows are JSON already, joined straight into the envelope."""
        faults = self.sb.faults
        size = self.sb.page_size
        after, before = clean.get("starting_after"), clean.get("ending_before")
        if faults.stuck_cursor:
            after = None
        ids = self.matching_ids(q)
        if before is not None:
            stop = min(len(ids), bisect_left(ids, before) + faults.repeat_rows)
            lo = max(0, stop - size)
            page, has_more = ids[lo:stop], lo > 0
        else:
            start = 0 if after is None else max(0, bisect_right(ids, after) - faults.repeat_rows)
            page, has_more = ids[start : start + size], start + size < len(ids)
        if faults.stuck_cursor:
            has_more = True
        first_page = clean.get("starting_after") is None and before is None
        if first_page and faults.insert_during_paging:
            self._insert(q, faults.insert_during_paging)
        index = self.index()
        zone = clean["time_zone"]
        envelope = {
            "count": len(ids) if self.sb.dialect.count == "report" else len(page),
            "has_more": has_more,
            "first_object_id": page[0] if page else None,
            "last_object_id": page[-1] if page else None,
        }
        return _with_rows(b"transactions", index.rows_json(page, zone), envelope)

    def _insert(self, q: _TxQuery, n: int) -> None:
        """Fault ``insert_during_paging``: ``n`` new payments of this shop inside the requested window."""
        lo = datetime.fromtimestamp(max(q.start, self.sb.world.start.timestamp()), UTC)
        hi = datetime.fromtimestamp(min(q.end, self.sb.world.end.timestamp()), UTC)
        if hi > lo + timedelta(seconds=1):
            self.sb.world.add_transactions(n, within=(lo, hi), shop_id=q.shop_id, payment_method_type=q.method)


def _with_rows(key: bytes, rows: list[bytes], envelope: dict[str, Any]) -> bytes:
    """``{key: [rows...], **envelope}`` as JSON, the rows (JSON already) copied once.

    Examples
    --------
    >>> _with_rows(b"rows", [b'{"id":1}', b'{"id":2}'], {"has_more": False})
    b'{"rows":[{"id":1},{"id":2}],"has_more":false}'
    >>> _with_rows(b"rows", [], {})
    b'{"rows":[]}'
    """
    head, tail = b'{"' + key + b'":[', b"]" + (b"," + dumps(envelope)[1:] if envelope else b"}")
    if not rows:
        return head + tail
    parts = [head + rows[0], *rows[1:]]
    parts[-1] += tail
    return b",".join(parts)
