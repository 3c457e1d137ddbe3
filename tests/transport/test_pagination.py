"""The paginator protocol: one state machine per pagination style, driven by one step (fetch_next)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import requests

from ledgerkit._transport.pagination import CursorPaginator, Fetched, LinkPaginator, Paginator, fetch_next
from ledgerkit.errors import DataError, PaginationError
from ledgerkit.sandbox import Sandbox
from ledgerkit.sources._pull import connect
from ledgerkit.sources.statements import parse_error

URL = "http://h/v1/shop/accountstatements"


def answer(page: int, *, total: int | None = 95, next_page: int | None = None, host: str = "h") -> requests.Response:
    """A response as received: its URL, ``X-Total-Count`` and ``Link`` (no body: the paginators read headers)."""
    response = requests.Response()
    response.url = f"{URL}?since=2025-01-01&page={page}"
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
    if next_page is not None:
        link = f"http://{host}/v1/shop/accountstatements?since=2025-01-01&page={next_page}"
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


class CursorPage:
    """A decoded report page as the transactions source hands it over: the envelope and the rows' ids."""

    def __init__(self, meta: dict, ids: list[int]) -> None:
        self.meta, self._ids = meta, ids

    def ids(self) -> np.ndarray:
        return np.array(self._ids, dtype=np.int64)


def test_both_paginators_speak_the_one_protocol():
    for paginator in (CursorPaginator(), LinkPaginator(URL, {"page": 1})):
        assert isinstance(paginator, Paginator)
        assert paginator.has_next_page is True and paginator.pages == 0
    # update_state takes (response, data) in both; the cursor reads the body, the link the headers
    cursor = CursorPaginator()
    cursor.update_state(None, CursorPage({"has_more": True, "first_object_id": 1, "last_object_id": 3}, [1, 2, 3]))
    link = LinkPaginator(URL, {"since": "2025-01-01", "page": 1})
    link.update_state(answer(1, next_page=2), [{}] * 10)
    assert (cursor.next_request(), cursor.pages) == ({"starting_after": 3}, 1)
    assert (link.page, link.pages, link.totals, link.per_page) == (2, 1, [95], 10)


def test_cursor_paginator_follows_to_the_end_and_counts_pages():
    p = CursorPaginator("backward")
    for first, more in ((50, True), (30, True), (10, False)):
        p.update_state(None, {"has_more": more, "first_object_id": first, "last_object_id": first + 9})
    assert (p.cursor, p.has_next_page, p.pages, p.next_request()) == (10, False, 3, {"ending_before": 10})


def test_cursor_past_the_page_s_own_rows_is_a_data_error_and_the_state_stays():
    p = CursorPaginator(cursor=5)
    with pytest.raises(DataError, match="last_object_id is 40, beyond the page's own ids"):
        p.update_state(None, CursorPage({"has_more": True, "first_object_id": 6, "last_object_id": 40}, [6, 7]))
    assert (p.cursor, p.pages, p.has_next_page) == (5, 0, True)


def test_a_cursor_that_does_not_move_stops_with_where_to_resume():
    p = CursorPaginator(cursor=20)
    with pytest.raises(PaginationError, match="did not advance") as info:
        p.update_state(None, {"has_more": True, "last_object_id": 20})
    assert info.value.resume == {"starting_after": 20} and p.pages == 0
    assert p.moves_to(21) and not p.moves_to(20) and CursorPaginator().moves_to(0)


def test_a_chain_of_cursors_knows_no_page_ahead():
    p = CursorPaginator()
    assert p.pages_known() == []
    with pytest.raises(PaginationError, match="knows no page ahead"):
        p.take(2, answer(2), [])
    with pytest.raises(PaginationError, match="no page numbers"):
        p.restart(1)


def test_link_paginator_knows_the_pages_ahead_once_a_page_taught_its_size():
    p = LinkPaginator(URL, {"since": "2025-01-01", "page": 1})
    assert p.pages_known() == []  # nothing learnt yet
    p.update_state(answer(1, total=95, next_page=2), [{}] * 20)
    assert p.pages_known() == [2, 3, 4, 5]
    assert p.page_request(4) == (f"{URL}?since=2025-01-01&page=4", None)
    p.update_state(answer(2, total=95, next_page=3), [{}] * 20)
    assert (p.per_page, p.pages_known()) == (20, [3, 4, 5])  # the first page's size stays


def test_link_paginator_last_page_knows_nothing_ahead():
    p = LinkPaginator(URL, {"since": "2025-01-01", "page": 1})
    p.update_state(answer(1, total=7), [{}] * 7)
    assert (p.has_next_page, p.per_page, p.pages_known(), p.pages) == (False, None, [], 1)
    with pytest.raises(PaginationError, match="not known yet"):
        p.page_request(2)


def test_pages_fetched_apart_are_taken_in_order_only():
    p = LinkPaginator(URL, {"since": "2025-01-01", "page": 1})
    p.update_state(answer(1, total=50, next_page=2), [{}] * 20)
    with pytest.raises(PaginationError, match="page 3 taken while page 2 is next") as info:
        p.take(3, answer(3, total=50), [{}] * 10)
    assert info.value.resume == {"start_page": 2} and (p.page, p.pages) == (2, 1)
    p.take(2, answer(2, total=50, next_page=3), [{}] * 20)
    assert (p.page, p.has_next_page, p.totals, p.pages) == (3, True, [50, 50], 2)
    p.take(3, answer(3, total=50), [{}] * 10)
    assert (p.page, p.has_next_page, p.pages) == (4, False, 3)


def test_restart_goes_back_to_a_page_as_a_first_request_and_keeps_what_was_learnt():
    p = LinkPaginator(URL, {"since": "2025-01-01", "page": 1})
    p.update_state(answer(1, total=50, next_page=2), [{}] * 20)
    p.restart(2, answer(2, total=53))
    assert p.next_request() == (URL, {"since": "2025-01-01", "page": 2})
    assert (p.page, p.has_next_page, p.totals, p.per_page) == (2, True, [50, 53], 20)
    p.restart(3)  # no answer (the page failed): no total to keep
    assert (p.page, p.totals, p.next_request()[1]["page"]) == (3, [50, 53], 3)


def test_a_link_to_another_host_or_back_is_refused():
    p = LinkPaginator(URL, {"page": 1})
    with pytest.raises(PaginationError, match="another host"):
        p.update_state(answer(1, next_page=2, host="evil.example"), [])
    p = LinkPaginator(URL, {"page": 3})
    with pytest.raises(PaginationError, match="does not advance") as info:
        p.update_state(answer(3, next_page=2), [])
    assert info.value.resume == {"start_page": 4}


def test_fetch_next_names_the_page_and_keeps_the_cause():
    p = CursorPaginator(cursor=9)

    def check(response, data):
        raise DataError("the page's count is -1")

    with pytest.raises(DataError, match=r"^page 4 \(starting_after=9\): the page's count is -1$") as info:
        fetch_next(
            p,
            lambda request: (None, {"has_more": False}),
            check=check,
            where=lambda: f"page 4 ({', '.join(f'{k}={v}' for k, v in p.next_request().items())})",
        )
    assert isinstance(info.value.__cause__, DataError) and str(info.value.__cause__) == "the page's count is -1"
    assert (p.cursor, p.pages, p.has_next_page) == (9, 0, True)  # a bad page does not move the paginator


def test_fetch_next_hands_back_a_good_page_the_paginator_will_not_go_past():
    p = LinkPaginator(URL, {"since": "2025-01-01", "page": 2})
    rows = [{"n": 1}]
    got = fetch_next(p, lambda request: (answer(2, next_page=2), rows), where=lambda: "page 2")
    assert isinstance(got, Fetched) and got.data is rows
    assert isinstance(got.stuck, PaginationError) and got.stuck.resume == {"start_page": 3}


def test_fetch_next_sends_what_the_paginator_asks_for():
    sent = []
    p = CursorPaginator()
    pages = iter([{"has_more": True, "last_object_id": 4}, {"has_more": False, "last_object_id": None}])
    while p.has_next_page:
        fetch_next(p, lambda request: (sent.append(request), (None, next(pages)))[1], where=lambda: "page")
    assert sent == [{}, {"starting_after": 4}] and p.pages == 2


def test_one_loop_follows_the_statements_over_real_http():
    with Sandbox(seed=0, size=120, per_page_default=25, per_page_max=100) as sb:
        c = connect(
            "statements",
            base_url=sb.statements_url,
            user=None,
            secret=sb.credentials["statements"],
            session=None,
            retry=None,
            parse_error=parse_error,
        )
        p = LinkPaginator(c.config.url("/v1/shop/accountstatements"), {"since": "2025-01-01", "page": 1})
        rows = []
        known = None
        while p.has_next_page:
            got = fetch_next(
                p, lambda request: c.json("GET", request[0], params=request[1]), where=lambda: f"page {p.page}"
            )
            assert got.stuck is None
            rows += got.data
            known = p.pages_known() if known is None else known
        total = p.totals[-1]
        assert len(rows) == total and p.pages == math.ceil(total / 25) == len(known) + 1
        assert p.per_page == 25 and known == list(range(2, p.pages + 1))
        assert c.stats.requests == p.pages
