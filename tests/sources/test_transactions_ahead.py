"""Requests sent ahead: a window's next page is asked for from the tail of this page's bytes, never trusted blindly.

A server that answers by cursor (``starting_after``), so that the order in
which requests sent ahead and retries arrive does not matter.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from ledgerkit import load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import DataError, PaginationError

FAST = RetryPolicy(max_retries=3, backoff_base=0.001, jitter=0.0)
JAN, FEB = "2025-01-01", "2025-02-01"


def tx(i: int) -> dict:
    return {
        "id": i,
        "type": "payment",
        "status": "successful",
        "amount": 1000 + i,
        "currency": "EUR",
        "transaction_fee": 29.0,
        "pay_to_merchant": 971.0 + i,
        "created_at": f"2025-01-02T00:00:{i % 60:02d}Z",
    }


def page(ids: list[int], more: bool, *, layout: str = "compact") -> bytes:
    """A page of ``ids``; ``layout`` puts its envelope in another form (all mean the same)."""
    env = {
        "count": len(ids),
        "has_more": more,
        "first_object_id": ids[0] if ids else None,
        "last_object_id": ids[-1] if ids else None,
    }
    rows = [tx(i) for i in ids]
    if layout == "records last":
        return json.dumps({**env, "transactions": rows}).encode()
    if layout == "pretty":
        return json.dumps({"transactions": rows, **dict(reversed(env.items()))}, indent=3).encode() + b"\n"
    if layout == "text cursor":
        return json.dumps({"transactions": rows, **env, "last_object_id": str(env["last_object_id"])}).encode()
    return json.dumps({"transactions": rows, **env}, separators=(",", ":")).encode()


class CursorServer:
    """Answers ``starting_after=c`` (None: the first page) with ``answers[c]``.

    The n-th request for a cursor gets the n-th answer.
    """

    def __init__(self, answers: dict[int | None, list[bytes]]) -> None:
        self.answers, self.asked = answers, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                params = body["report_params"]
                cursor = params.get("starting_after")
                cursor = None if cursor is None else int(cursor)
                server.asked.append((params["payment_method_type"], cursor))
                answers = server.answers.get(cursor) if params["payment_method_type"] == "credit_card" else None
                payload = (
                    page([], False)
                    if answers is None
                    else answers[min(server.asked.count(server.asked[-1]) - 1, len(answers) - 1)]
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def pull(server: CursorServer, **kw) -> pd.DataFrame:
    return load_transactions(
        JAN,
        FEB,
        base_url=server.url,
        shop_id="1",
        secret_key="k",
        retry=FAST,
        progress=False,
        payment_method_type=("credit_card", "alternative"),
        **kw,
    )


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("layout", ["compact", "records last", "pretty", "text cursor"])
def test_every_envelope_layout_gives_the_same_frame_and_no_wasted_request(layout, workers):
    answers = {
        None: [page([1, 2, 3], True, layout=layout)],
        3: [page([4, 5, 6], True, layout=layout)],
        6: [page([7], False, layout=layout)],
    }
    with CursorServer(answers) as server:
        df = pull(server, max_workers=workers)
    assert df["id"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    m = df.attrs["ledgerkit"]
    assert m["complete"] and m["requests"] == len(server.asked) == m["pages"]
    assert "requests_sent_ahead_unused" not in m
    if workers == 1:
        assert server.asked == [("credit_card", None), ("credit_card", 3), ("credit_card", 6), ("alternative", None)]


def test_a_tail_that_lies_in_a_body_that_does_not_parse_is_never_followed():
    """Cut JSON whose tail claims cursor 999: the request sent ahead for it is dropped; the retried page leads on.

    One worker: with more, a window's first page is not sent ahead from while a worker is idle (it may split).
    """
    lying = page([1, 2, 3], True)[:40] + b', "has_more": true, "last_object_id": 999}'
    answers = {None: [lying, page([1, 2, 3], True)], 3: [page([4, 5], False)], 999: [page([1000, 1001], False)]}
    with CursorServer(answers) as server:
        df = pull(server, max_workers=1)
    assert df["id"].tolist() == [1, 2, 3, 4, 5]  # nothing of the page after 999, nothing lost
    m = df.attrs["ledgerkit"]
    assert ("credit_card", 999) in server.asked, "the tail was read and its request sent ahead"
    assert m["requests_sent_ahead_unused"] == 1 and m["retry_reasons"] == {"malformed": 1}
    assert m["requests"] == len(server.asked) == m["pages"] + m["retries"] + 1


def test_a_cursor_that_does_not_move_is_not_sent_ahead():
    stuck = page([1, 2, 3], True)
    with CursorServer({None: [stuck], 3: [stuck]}) as server, pytest.raises(PaginationError):
        pull(server, max_workers=1)
    assert server.asked == [("credit_card", None), ("credit_card", 3)]  # the second page is sent, not a third


def test_a_page_refused_after_its_next_was_sent_ahead_keeps_the_count_and_the_rows():
    """count below the rows on the page: a DataError before the cursor moves; the request sent ahead is counted."""
    bad = json.dumps({"transactions": [tx(4), tx(5)], "count": 1, "has_more": True, "last_object_id": 5}).encode()
    with (
        CursorServer({None: [page([1, 2, 3], True)], 3: [bad], 5: [page([6], False)]}) as server,
        pytest.raises(DataError) as info,
    ):
        pull(server, max_workers=1)
    err = info.value
    assert err.partial["id"].tolist() == [1, 2, 3] and err.manifest["pending_windows"][0]["cursor"] == 3
    assert err.manifest["requests"] == len(server.asked) == 3 and err.manifest["requests_sent_ahead_unused"] == 1


def spread(ids: list[int], more: bool) -> bytes:
    """A page whose rows lie days apart across January: a sparse window, not worth splitting."""
    rows = [{**tx(i), "created_at": f"2025-01-{2 + 4 * (i - 1):02d}T12:00:00Z"} for i in ids]
    env = {"count": len(ids), "has_more": more, "last_object_id": ids[-1]}
    return json.dumps({"transactions": rows, **env}).encode()


def test_a_sparse_window_sends_its_next_page_ahead_even_while_workers_are_idle():
    """Idle workers make a window a candidate for splitting, which used to hold its next request until the page
    was parsed; the times at the raw page's edges show the rest is short, so the next page goes out at once."""
    answers = {None: [spread([1, 2, 3], True)], 3: [spread([4, 5, 6], True)], 6: [spread([7, 8], False)]}
    with CursorServer(answers) as server:
        df = pull(server, max_workers=3)
    assert df["id"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    m = df.attrs["ledgerkit"]
    assert m["requests_sent_ahead"] == 2 and "requests_sent_ahead_unused" not in m
    assert m["requests"] == len(server.asked) == m["pages"] == 4  # three pages and the empty alternative
    assert not any(w["split"] for w in m["windows"])


def test_a_dense_window_still_splits_instead_of_sending_ahead():
    """Rows seconds apart in a month-long window: while a worker is idle the window is split, and what is sent
    ahead are its halves' first requests, never its own next page."""
    answers = {None: [page([1, 2, 3], True)], 3: [page([4, 5, 6], True)], 6: [page([7], False)]}
    with CursorServer(answers) as server:
        df = pull(server, max_workers=3)
    assert df["id"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    m = df.attrs["ledgerkit"]
    assert any(w["split"] for w in m["windows"]) and "requests_sent_ahead_unused" not in m
    assert m["requests_sent_ahead"] >= 2  # the halves' first requests, sent from the raw page
