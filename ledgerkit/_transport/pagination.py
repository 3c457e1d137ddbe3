"""Paginators: one small state machine per pagination style, fresh for every pull.

In the style of dlt's ``rest_client``, every paginator speaks one protocol,
:class:`Paginator`: a loop asks ``next_request()`` what to send, sends it,
hands the answer to ``update_state(response, data)`` and stops when
``has_next_page`` is false; :func:`fetch_next` is that loop's one step,
shared by the sources. The paginator alone decides what "next" means,
and refuses to go round in circles: a cursor or link that does not move
raises :class:`~ledgerkit.errors.PaginationError`. What the server says
about its pages must be of the documented type -- ``has_more`` a boolean,
cursors transaction ids, ``X-Total-Count`` a count -- and a cursor must not
jump past the rows of its own page (rows would be skipped unseen); else
:class:`~ledgerkit.errors.DataError` names the field and the value.

Pages fetched at the same time go through the protocol too: a paginator
whose pages are numbered says which pages it already knows of
(``pages_known()``), and is advanced over each of them in order with
``take(...)`` or moved to another page with ``restart(...)``; its state is
never assigned from outside.

Examples
--------
>>> p = CursorPaginator()
>>> p.next_request()
{}
>>> p.update_state(None, {"has_more": True, "first_object_id": 1, "last_object_id": 20})
>>> p.next_request(), p.has_next_page, p.pages
({'starting_after': 20}, True, 1)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from ..errors import DataError, PaginationError

__all__ = [
    "Paginator",
    "CursorPaginator",
    "LinkPaginator",
    "Fetched",
    "fetch_next",
    "parse_link_header",
    "whole_number",
    "total_count",
]

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


class Paginator:
    """The protocol of every paginator: dlt's ``BasePaginator``, plus what pages fetched at the same time need.

    A loop -- :func:`fetch_next` -- asks :meth:`next_request` what to send,
    sends it, and hands the answer to :meth:`update_state` until
    ``has_next_page`` is false. A paginator over numbered pages can also say
    which pages it knows of ahead (:meth:`pages_known`) so that they are
    fetched at the same time, and is then advanced over each of them, in
    order, with :meth:`take`, or moved with :meth:`restart`. A paginator
    that is a chain (each page known only from the one before) knows no
    page ahead.

    Attributes
    ----------
    has_next_page : bool
        Whether there is another page to ask for.
    pages : int
        The pages this paginator has advanced over.
    """

    has_next_page: bool = True
    pages: int = 0

    def next_request(self) -> Any:
        """What the next request needs, in this paginator's terms (cursor parameters, or a URL and query)."""
        raise NotImplementedError

    def update_state(self, response: requests.Response | None, data: Any) -> None:
        """Advance over a page: ``response`` as received (None where only the body matters), ``data`` its body."""
        raise NotImplementedError

    def pages_known(self) -> list[int]:
        """The numbers of the pages from the next one to the last, when the pages so far tell them; else ``[]``."""
        return []

    def take(self, number: int, response: requests.Response, data: Any) -> None:
        """Advance over page ``number`` (one of :meth:`pages_known`), fetched apart; pages are taken in order."""
        raise PaginationError(f"{type(self).__name__} knows no page ahead: each follows from the one before")

    def restart(self, number: int, response: requests.Response | None = None) -> None:
        """Go on from page ``number`` with a fresh request; ``response`` is the answer that made the pull turn back."""
        raise PaginationError(f"{type(self).__name__} has no page numbers to go back to")


class CursorPaginator(Paginator):
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

    def _checked(self, payload: Mapping[str, Any], ids: tuple[int, int] | None) -> tuple[int | None, bool]:
        """The followed cursor and ``has_more`` of ``payload``, of the documented types and within ``ids``."""
        key = self._followed
        other = "first_object_id" if key == "last_object_id" else "last_object_id"
        _id(other, payload.get(other))  # not followed in this direction, but documented as an id all the same
        new = _id(key, payload.get(key))
        more = payload.get("has_more")
        if not isinstance(more, bool):
            raise DataError(f"has_more is {_excerpt(more)}: expected true or false (a JSON boolean)")
        if new is not None and ids is not None and ((new > ids[1]) if self.direction == "forward" else (new < ids[0])):
            raise DataError(
                f"{key} is {new}, beyond the page's own ids ({ids[0]} to {ids[1]}): the next page "
                "would skip any row between them"
            )
        return new, more

    def update_state(self, response: requests.Response | None, data: Any) -> None:
        """Advance on a decoded page; raise if the cursor would not move.

        ``data`` is the page: its envelope (a mapping with ``has_more`` and
        the cursors), or an object with that envelope as ``meta`` and the
        ids of its rows as ``ids()`` -- a cursor past the lowest or highest
        of them would skip rows nobody saw. ``response`` is not read.

        Raises
        ------
        DataError
            ``has_more`` is not a boolean, a cursor is not an id, or it lies
            beyond the page's own rows.
        PaginationError
            The cursor does not move (or is missing while ``has_more``).
        """
        payload, ids = _envelope(data)
        key = self._followed
        new, more = self._checked(payload, ids)
        if new is None:
            if more:
                raise PaginationError(f"the page says has_more but carries no {key}", resume=self.next_request())
            self.has_next_page = False
            self.pages += 1
            return
        if more and not self.moves_to(new):
            raise PaginationError(
                f"the cursor did not advance ({self.parameter}={self.cursor} answered {key}={new} with has_more); "
                "stopping rather than looping",
                resume=self.next_request(),
            )
        self.cursor = new
        self.has_next_page = more
        self.pages += 1

    def moves_to(self, cursor: int) -> bool:
        """Whether ``cursor`` is further on than this paginator's own (any cursor is, before the first page).

        Examples
        --------
        >>> CursorPaginator(cursor=20).moves_to(21), CursorPaginator("backward", 20).moves_to(21)
        (True, False)
        """
        if self.cursor is None:
            return True
        return cursor > self.cursor if self.direction == "forward" else cursor < self.cursor


def _envelope(data: Any) -> tuple[Mapping[str, Any], tuple[int, int] | None]:
    """A cursor page's envelope, and the lowest and highest id of its rows (None when not known or no rows)."""
    if isinstance(data, Mapping):
        return data, None
    ids = data.ids()
    return data.meta, ((int(ids.min()), int(ids.max())) if len(ids) else None)


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


class LinkPaginator(Paginator):
    """MakeCommerce ``page``/``per_page`` paging that follows ``Link: rel="next"``.

    The first request goes to ``url`` with ``params``; afterwards the next URL
    is taken from the ``Link`` header as given (it carries every parameter).
    A next link to another origin is refused, so credentials never leave the
    configured host. The first page that links a next one teaches the
    server's page size (its row count: what was asked for may have been
    capped) and the URL of its pages; from then on the pages up to
    ``X-Total-Count`` are known (:meth:`pages_known`) and can be fetched
    at the same time (:meth:`page_request`).

    Attributes
    ----------
    page : int
        The page number of the next request (the place to resume).
    totals : list of int
        ``X-Total-Count`` of every page, in order.
    per_page : int or None
        The server's page size, once learnt.

    Examples
    --------
    >>> p = LinkPaginator("http://h/s", {"since": "2025-01-01", "page": 1})
    >>> p.next_request()
    ('http://h/s', {'since': '2025-01-01', 'page': 1})
    >>> r = requests.Response(); r.url = "http://h/s?since=2025-01-01&page=1"
    >>> r.headers.update({"X-Total-Count": "5", "Link": '<http://h/s?since=2025-01-01&page=2>; rel="next"'})
    >>> p.update_state(r, [{"n": 1}, {"n": 2}])
    >>> p.page, p.per_page, p.pages_known(), p.page_request(3)
    (2, 2, [2, 3], ('http://h/s?since=2025-01-01&page=3', None))
    """

    def __init__(self, url: str, params: dict[str, Any]) -> None:
        self._first_url, self._first_params = url, dict(params)
        self._url: str = url
        self._params: dict[str, Any] | None = dict(params)
        self._origin = urlsplit(url)[:2]
        self.page: int = int(params.get("page", 1))
        self.totals: list[int] = []
        self.per_page: int | None = None
        self._template: str | None = None
        self.has_next_page = True

    def next_request(self) -> tuple[str, dict[str, Any] | None]:
        """``(url, params)`` of the next request."""
        return self._url, self._params

    def update_state(self, response: requests.Response | None, data: Any) -> None:
        """Read ``X-Total-Count`` and ``Link`` of a page; find the next one or stop.

        ``data`` is the page's rows: the first page with a next one tells the
        server's page size by their number.

        Raises
        ------
        DataError
            ``X-Total-Count`` is there but not a count.
        PaginationError
            The next link goes to another host or does not advance.
        """
        if response is None:
            raise TypeError("LinkPaginator reads each page's Link and X-Total-Count headers: it needs the response")
        self._count(response)
        nxt = parse_link_header(response.headers.get("Link")).get("next")
        if nxt is None:
            self.has_next_page = False
            self.pages += 1
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
        self.pages += 1
        if self.per_page is None:
            self.per_page, self._template = len(data), nxt

    def _count(self, response: requests.Response) -> int | None:
        total = total_count(response.headers)
        if total is not None:
            self.totals.append(total)
        return total

    def pages_known(self) -> list[int]:
        """The next page to the last by the latest ``X-Total-Count`` and the page size (``[]`` until both are known).

        At least the next page, while there is one.
        """
        if not (self.has_next_page and self.totals and self.per_page and self._template):
            return []
        return list(range(self.page, max(self.page, math.ceil(self.totals[-1] / self.per_page)) + 1))

    def page_request(self, number: int) -> tuple[str, None]:
        """``(url, params)`` of page ``number``: the pages' URL with its ``page`` set (see :meth:`pages_known`)."""
        if self._template is None:
            raise PaginationError("the page URL is not known yet: no page has linked a next one")
        return _page_url(self._template, number), None

    def take(self, number: int, response: requests.Response, data: Any) -> None:
        """Advance over page ``number``, fetched apart by :meth:`page_request`: count it, stop if it links no next.

        Raises
        ------
        PaginationError
            ``number`` is not the next page (pages are taken in order).
        """
        if number != self.page:
            raise PaginationError(
                f"page {number} taken while page {self.page} is next; pages are taken in order",
                resume={"start_page": self.page},
            )
        self._count(response)
        self.has_next_page = "next" in parse_link_header(response.headers.get("Link"))
        self.page = number + 1
        self.pages += 1

    def restart(self, number: int, response: requests.Response | None = None) -> None:
        """Go on from page ``number`` as a first request would (the page size and totals so far are kept).

        ``response``, when given, is the answer that made the pull turn back: its ``X-Total-Count`` is kept.
        """
        if response is not None:
            self._count(response)
        self._url, self._params = self._first_url, {**self._first_params, "page": number}
        self.page = number
        self.has_next_page = True


def _page_url(template: str, number: int) -> str:
    """``template`` (a page's absolute URL) with its ``page`` parameter set to ``number``."""
    parts = urlsplit(template)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(number))])))


class Fetched(NamedTuple):
    """One page as :func:`fetch_next` got it."""

    response: requests.Response
    data: Any
    #: The paginator's refusal to go on past this page (the page itself is good), else None.
    stuck: PaginationError | None


def fetch_next(
    paginator: Paginator,
    send: Callable[[Any], tuple[requests.Response, Any]],
    *,
    where: Callable[[], str],
    check: Callable[[requests.Response, Any], None] | None = None,
) -> Fetched:
    """One step of the pull loop: send the next request, check the page, advance the paginator over it.

    ``send(paginator.next_request())`` sends (with retries) and returns the
    response and its decoded body; ``check(response, data)`` raises
    :class:`DataError` for a page that breaks the contract, before the
    paginator moves. A ``DataError`` of sending, checking or
    ``update_state`` is raised again naming the page -- ``where()``, asked
    before the paginator moves -- from the original. A
    :class:`PaginationError` (the paginator will not go on) is returned in
    ``stuck``: the page is good, and the caller decides whether to keep it
    before raising it.

    Examples
    --------
    >>> p = CursorPaginator()
    >>> pages = iter([{"has_more": True, "last_object_id": 7}, {"has_more": False, "last_object_id": 9}])
    >>> while p.has_next_page:
    ...     got = fetch_next(p, lambda request: (None, next(pages)), where=lambda: f"page {p.pages + 1}")
    >>> p.pages, p.cursor, got.stuck
    (2, 9, None)
    >>> fetch_next(CursorPaginator(), lambda request: (None, {"has_more": "yes"}), where=lambda: "page 1")
    Traceback (most recent call last):
    ledgerkit.errors.DataError: page 1: has_more is 'yes': expected true or false (a JSON boolean)
    """
    try:
        response, data = send(paginator.next_request())
        if check is not None:
            check(response, data)
        try:
            paginator.update_state(response, data)
        except PaginationError as exc:
            return Fetched(response, data, exc)
    except DataError as exc:
        raise DataError(f"{where()}: {exc}", rows=exc.rows) from exc
    return Fetched(response, data, None)
