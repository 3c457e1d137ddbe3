"""What the sandbox's server and its three API modules share: requests, answers, exact JSON.

``Request`` is what an API handler reads, ``Response`` what it returns (the
server adds Content-Length and sends it); ``dumps`` writes ``Decimal`` amounts
as exact JSON numbers, and ``parse_utc`` reads the timestamps the APIs carry.

Examples
--------
>>> json_response(200, {"amount": Decimal("1.50")}).body
b'{"amount":1.5}'
>>> parse_utc("2025-03-01T10:00:00+0200").isoformat()
'2025-03-01T08:00:00+00:00'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, overload

import orjson

__all__ = ["Request", "Response", "dumps", "json_response", "parse_utc", "UTC", "MAX_CACHED_PULLS"]

_JSON = "application/json; charset=utf-8"
MAX_CACHED_PULLS = 256  # selections each API keeps per query before starting afresh


@dataclass
class Request:
    """What an API handler needs of an HTTP request."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    auth: tuple[str, str] | None = None

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name``, or None."""
        values = [v for k, v in self.query if k == name]
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitive."""
        return self.headers.get(name.lower())


@dataclass
class Response:
    """An answer: status, body bytes and headers (Content-Length is added on send)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = _JSON


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def dumps(obj: Any) -> bytes:
    """JSON bytes, with ``Decimal`` written as an exact JSON number (never via float).

    Examples
    --------
    >>> dumps({"amount": Decimal("-0.060"), "n": [Decimal("10.00"), 1.5, None]})
    b'{"amount":-0.06,"n":[10,1.5,null]}'
    """
    return orjson.dumps(obj, default=_exact_number)


def _exact_number(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(_decimal_text(value))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(status, dumps(obj), dict(headers or {}))


@overload
def parse_utc(text: None) -> None: ...
@overload
def parse_utc(text: str | datetime) -> datetime: ...
def parse_utc(text: str | datetime | None) -> datetime | None:
    """An API timestamp (``...Z``, ``+0000`` or ``+00:00``) as an aware UTC datetime."""
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.astimezone(UTC) if text.tzinfo else text.replace(tzinfo=UTC)
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.replace("Z", "+00:00"))
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
