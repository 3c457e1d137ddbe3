"""A page's cursor read from the end of its raw bytes, before the page is parsed.

A cursor-paginated report needs page n's cursor to ask for page n+1. The
cursor (``has_more``, ``last_object_id``, ``first_object_id``) sits in the
envelope, usually after the list of records, so it can be read from the
last bytes of the body in microseconds, while parsing the whole page takes
tens of milliseconds: the request for page n+1 can go out while page n is
parsed.

:func:`tail_members` walks back from the body's closing ``}`` over the
members of the top-level object for as long as they are plain scalars
(``"key": true|false|null|integer``) and stops at the first thing that is
not (the records' ``]``, a string value, a float, an escaped key). Every
member it returns is a member of the top-level object *if* the body is a
JSON object: walking back from the final ``}`` over scalar tokens cannot
enter a string or a nested value. It refuses to guess -- None -- where
the reading could differ from a parser's: no closing ``}``, a key given
twice, nothing recognisable. A body that is not JSON at all can still
fool it (it is not parsed), so a cursor read here is only ever used to
*send* a request early; the pull takes the page only once the parsed
cursor agrees (``ledgerkit.sources.transactions``).

Examples
--------
>>> body = b'{"transactions": [{"id": 7, "has_more": 1}], "count": 1, "has_more": true, "last_object_id": 7}'
>>> tail_members(body)
{'last_object_id': 7, 'has_more': True, 'count': 1}
>>> tail_cursor(body, "last_object_id")
(7, True)
>>> tail_cursor(b'{"has_more": true, "last_object_id": 7, "transactions": []}', "last_object_id") is None
True
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["tail_members", "tail_cursor", "edge_texts"]

#: How far back from the end to look: an envelope's scalars are a few dozen bytes.
TAIL_BYTES = 1024

_SPACE = b" \t\r\n"
#: One member ``"key": scalar`` at the end of the text, with the ``,`` or ``{`` before it.
_MEMBER = re.compile(
    rb'([,{])[ \t\r\n]*"([A-Za-z0-9_]+)"[ \t\r\n]*:[ \t\r\n]*'
    rb"(true|false|null|-?(?:0|[1-9][0-9]*))[ \t\r\n]*\Z"
)
_WORDS = {b"true": True, b"false": False, b"null": None}
#: How far from each end :func:`edge_texts` looks for a record's field (a record is a few kB).
EDGE_BYTES = 16384


def tail_members(body: bytes, *, limit: int = TAIL_BYTES) -> dict[str, Any] | None:
    """The top-level object's last members that are plain scalars, read back from the end of ``body``.

    Returns None when ``body`` does not end in ``}``, when no member is
    recognised, or when a key appears twice (parsers differ on which wins).
    """
    tail = bytes(body[-limit:])
    end = len(tail.rstrip(_SPACE))
    if not end or tail[end - 1 : end] != b"}":
        return None
    members: dict[str, Any] = {}
    pos = end - 1
    while (m := _MEMBER.search(tail, 0, pos)) is not None:
        opener, key, token = m.groups()
        if key.decode() in members:
            return None
        members[key.decode()] = _WORDS[token] if token in _WORDS else int(token)
        if opener == b"{":
            break
        pos = m.start()
    return members or None


def tail_cursor(body: bytes, key: str) -> tuple[int, bool] | None:
    """``(cursor, has_more)`` from the tail: the integer ``key`` and a boolean ``has_more``; else None.

    ``key`` is ``"last_object_id"`` (forward) or ``"first_object_id"``
    (backward). Anything but a JSON integer and a JSON boolean is left to
    the parsed page (a cursor given as text, ``has_more`` as ``1``, ...).
    """
    members = tail_members(body)
    if members is None:
        return None
    cursor, more = members.get(key), members.get("has_more")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or not isinstance(more, bool):
        return None
    return cursor, more


def edge_texts(body: bytes, key: str, *, limit: int = EDGE_BYTES) -> tuple[str, str] | None:
    """The first and the last ``"key": "text"`` of ``body``, found within ``limit`` bytes of either end.

    Unparsed and unchecked -- the member may belong to a nested object or
    sit inside a string -- so what it finds is a *hint* only: the pull uses
    it to decide early whether to send a window's next request before the
    page is parsed, never as data. None when either end has none.

    Examples
    --------
    >>> body = b'{"rows": [{"id": 1, "created_at": "2025-01-01T00:00:00Z"}, {"created_at": "2025-03-01"}]}'
    >>> edge_texts(body, "created_at")
    ('2025-01-01T00:00:00Z', '2025-03-01')
    >>> edge_texts(b'{"rows": []}', "created_at") is None
    True
    """
    member = re.compile(rb'"' + re.escape(key.encode()) + rb'"[ \t\r\n]*:[ \t\r\n]*"([^"\\]{1,64})"')
    first = member.search(bytes(body[:limit]))
    last = None
    for last in member.finditer(bytes(body[-limit:])):  # noqa: B007 - the last match is the one wanted
        pass
    if first is None or last is None:
        return None
    return first.group(1).decode("ascii", "replace"), last.group(1).decode("ascii", "replace")
