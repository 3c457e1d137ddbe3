"""Paginators: one small state machine per pagination style, fresh for every pull.

In the style of dlt's ``rest_client``: a loop asks ``next_request()`` what
to send, sends it, hands the answer to ``update_state(...)``, and stops when
``has_next_page`` is false. The paginator alone decides what "next" means,
and refuses to go round in circles: a cursor or link that does not move
raises :class:`~ledgerkit.errors.PaginationError`. What the server says
about its pages must be of the documented type -- ``has_more`` a boolean,
cursors transaction ids, ``X-Total-Count`` a count -- and a cursor must not
jump past the rows of its own page (rows would be skipped unseen); else
:class:`~ledgerkit.errors.DataError` names the field and the value.

Examples
--------
>>> p = CursorPaginator()
>>> p.next_request()
{}
>>> p.update_state({"has_more": True, "first_object_id": 1, "last_object_id": 20})
>>> p.next_request(), p.has_next_page
({'starting_after': 20}, True)
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from ..errors import DataError, PaginationError

__all__ = ["CursorPaginator", "LinkPaginator", "parse_link_header", "whole_number", "total_count"]

#: A count or an id written as text: ASCII digits, at most 18 (so it fits an int64).
_DIGITS = re.compile(r"[0-9]{1,18}")
#: The largest whole number a JSON float (``7.0``) carries exactly.
_EXACT = 2**53


def whole_number(value: Any) -> int | None:
    """``value`` as a non-negative integer, or None when it is not one.

    Integers, whole floats that a float holds exactly (``7.0``: JSON does
    not tell it from ``7``) and ASCII digit text (``"7"``: the documented
    type of the v3 cursors) count; booleans, fractions, signs, exponents
    and very long text do not.

    Examples
    --------
    >>> whole_number(7), whole_number(7.0), whole_number("7"), whole_number(7.5), whole_number(True), whole_number("-3")
    (7, 7, 7, None, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value < _EXACT else None  # from 2**53 on, maybe rounded
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value)
    return None


def _excerpt(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}... ({len(text):,} characters)"


def _id(name: str, value: Any) -> int | None:
    """``first_object_id``/``last_object_id``: integers or digit text; absent or ``null`` is None."""
    if value is None or value == "":
        return None
    number = whole_number(value)
    if number is None:
        raise DataError(f"{name} is {_excerpt(value)}: expected a transaction id (a non-negative integer)")
    return number


def total_count(headers: Any) -> int | None:
    """The ``X-Total-Count`` header as a count; None when the server sent none.

    Examples
    --------
    >>> total_count({"X-Total-Count": "42"}), total_count({})
    (42, None)
    >>> total_count({"X-Total-Count": "-3"})
    Traceback (most recent call last):
    ledgerkit.errors.DataError: the X-Total-Count header is '-3': expected a count of rows (digits)
    """
    text = headers.get("X-Total-Count")
    if text is None:
        return None
    if not _DIGITS.fullmatch(text.strip()):
        raise DataError(f"the X-Total-Count header is {_excerpt(text)}: expected a count of rows (digits)")
    return int(text)


class CursorPaginator:
    """beGateway ``starting_after`` / ``ending_before`` cursors over ascending ids.

    Parameters
    ----------
    direction : {"forward", "backward"}
        Forward follows ``last_object_id`` with ``starting_after``; backward
        follows ``first_object_id`` with ``ending_before`` (pages still come
        in ascending id order, but each page is older than the last).
    cursor : int, optional
        Where to start (exclusive); None for the first page.

    Attributes
    ----------
    cursor : int or None
        The cursor of the next request: after a failure, the place to resume.
    """

    def __init__(self, direction: str = "forward", cursor: int | None = None) -> None:
        if direction not in ("forward", "backward"):
            raise ValueError(direction)
        self.direction = direction
        self.cursor = cursor
        self.has_next_page = True

    @property
    def parameter(self) -> str:
        """The request parameter that carries the cursor."""
        return "starting_after" if self.direction == "forward" else "ending_before"

    def next_request(self) -> dict[str, int]:
        """The cursor parameter for the next request (empty for the very first page)."""
        return {} if self.cursor is None else {self.parameter: self.cursor}

    @property
    def _followed(self) -> str:
        """The response field the cursor follows."""
        return "last_object_id" if self.direction == "forward" else "first_object_id"

    def _checked(self, payload: dict[str, Any], ids: tuple[int, int] | None) -> tuple[int | None, bool]:
        """The followed cursor and ``has_more`` of ``payload``, of the documented types and within ``ids``."""
        key = self._followed
        other = "first_object_id" if key == "last_object_id" else "last_object_id"
        _id(other, payload.get(other))  # not followed in this direction, but documented as an id all the same
        new = _id(key, payload.get(key))
        more = payload.get("has_more")
        if not isinstance(more, bool):
            raise DataError(f"has_more is {_excerpt(more)}: expected true or false (a JSON boolean)")
        if new is not None and ids is not None and ((new > ids[1]) if self.direction == "forward" else (new < ids[0])):
            raise DataError(f"{key} is {new}, beyond the page's own ids ({ids[0]} to {ids[1]}): the next page "
                            "would skip any row between them")
        return new, more

    def update_state(self, payload: dict[str, Any], ids: tuple[int, int] | None = None) -> None:
        """Advance on a decoded page; raise if the cursor would not move.

        ``ids`` is the lowest and highest id on the page (None for a page
        without rows): a cursor past them would skip rows nobody saw.

        Raises
        ------
        DataError
            ``has_more`` is not a boolean, a cursor is not an id, or it lies
            beyond the page's own rows.
        PaginationError
            The cursor does not move (or is missing while ``has_more``).
        """
        key = self._followed
        new, more = self._checked(payload, ids)
        if new is None:
            if more:
                raise PaginationError(f"the page says has_more but carries no {key}", resume=self.next_request())
            self.has_next_page = False
            return
        moved = self.cursor is None or (new > self.cursor if self.direction == "forward" else new < self.cursor)
        if more and not moved:
            raise PaginationError(
                f"the cursor did not advance ({self.parameter}={self.cursor} answered {key}={new} with has_more); "
                "stopping rather than looping",
                resume=self.next_request(),
            )
        self.cursor = new
        self.has_next_page = more


def parse_link_header(value: str | None) -> dict[str, str]:
    """RFC 8288 ``Link`` header -> ``{rel: url}`` (a ``rel`` may list several relations).

    Examples
    --------
    >>> parse_link_header('<https://x/a?page=2>; rel="next", <https://x/a?page=9>; rel="last"')
    {'next': 'https://x/a?page=2', 'last': 'https://x/a?page=9'}
    """
    links: dict[str, str] = {}
    for link in requests.utils.parse_header_links(value or ""):
        for rel in link.get("rel", "").split():
            links.setdefault(rel.lower(), link["url"])
    return links


def _page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


class LinkPaginator:
    """MakeCommerce ``page``/``per_page`` paging that follows ``Link: rel="next"``.

    The first request goes to ``url`` with ``params``; afterwards the next URL
    is taken from the ``Link`` header as given (it carries every parameter).
    A next link to another origin is refused, so credentials never leave the
    configured host.

    Attributes
    ----------
    page : int
        The page number of the next request (the place to resume).
    totals : list of int
        ``X-Total-Count`` of every page, in order.

    Examples
    --------
    >>> p = LinkPaginator("http://h/s", {"since": "2025-01-01", "page": 1})
    >>> p.next_request()
    ('http://h/s', {'since': '2025-01-01', 'page': 1})
    """

    def __init__(self, url: str, params: dict[str, Any]) -> None:
        self._url: str = url
        self._params: dict[str, Any] | None = dict(params)
        self._origin = urlsplit(url)[:2]
        self.page: int = int(params.get("page", 1))
        self.totals: list[int] = []
        self.has_next_page = True

    def next_request(self) -> tuple[str, dict[str, Any] | None]:
        """``(url, params)`` of the next request."""
        return self._url, self._params

    def update_state(self, response: requests.Response) -> None:
        """Read ``X-Total-Count`` and ``Link`` of a page; find the next one or stop.

        Raises
        ------
        DataError
            ``X-Total-Count`` is there but not a count.
        PaginationError
            The next link goes to another host or does not advance.
        """
        total = total_count(response.headers)
        if total is not None:
            self.totals.append(total)
        nxt = parse_link_header(response.headers.get("Link")).get("next")
        if nxt is None:
            self.has_next_page = False
            return
        if urlsplit(nxt)[:2] != self._origin:
            raise PaginationError(
                f"the next-page link points to another host ({urlsplit(nxt).netloc}); not following it",
                resume={"start_page": self.page + 1},
            )
        number = _page_number(nxt)
        if nxt == response.url or (number is not None and number <= self.page):
            raise PaginationError(
                f"the next-page link does not advance (page {self.page} links to page {number}); "
                "stopping rather than looping",
                resume={"start_page": self.page + 1},
            )
        self._url, self._params = nxt, None
        self.page = number if number is not None else self.page + 1
