"""The shared window of requests in flight: halved by 429s, grown back by calm answers, never below one."""

from __future__ import annotations

import threading

import pytest

from ledgerkit._transport.ratelimit import LimitedAdapter, RateLimiter, limited_session
from ledgerkit._transport.sessions import new_session
from ledgerkit.config import Credentials


def fill(limiter: RateLimiter, n: int) -> list[int]:
    return [limiter.acquire() for _ in range(n)]


def test_no_limit_until_the_first_429():
    limiter = RateLimiter()
    tickets = fill(limiter, 8)
    assert limiter.limit is None and limiter.in_flight == 8 and limiter.peak == 8
    for t in tickets:
        limiter.release(t, 200)
    assert limiter.limit is None and limiter.in_flight == 0 and limiter.throttled == 0


def test_a_429_halves_the_requests_in_flight_once_per_round_and_never_below_one():
    limiter = RateLimiter()
    first_round = fill(limiter, 4)
    limiter.release(first_round[0], 429)
    assert (limiter.limit, limiter.cuts) == (2.0, 1)
    limiter.release(first_round[1], 429)  # sent before the cut: the same news, already acted on
    assert (limiter.limit, limiter.cuts, limiter.throttled) == (2.0, 1, 2)
    limiter.release(first_round[2], 200)
    limiter.release(first_round[3], 200)
    assert limiter.limit == pytest.approx(2.0 + 1 / 2 + 1 / 2.5)

    second = limiter.acquire()  # sent after the cut: a new 429 cuts again
    limiter.release(second, 429)
    assert (limiter.limit, limiter.cuts) == (1.0, 2)  # min(limit, 1 in flight) / 2, floored at 1
    third = limiter.acquire()
    limiter.release(third, 429)
    assert (limiter.limit, limiter.cuts) == (1.0, 3)


def test_calm_answers_grow_the_window_back_to_full_speed():
    limiter = RateLimiter()
    tickets = fill(limiter, 4)
    limiter.release(tickets[0], 429)
    for t in tickets[1:]:
        limiter.release(t, None if t == tickets[1] else 503)  # no answer and 5xx: neither slow nor speed up
    assert limiter.limit == 2.0
    seen = []
    while limiter.limit is not None:
        limiter.release(limiter.acquire(), 200)
        seen.append(round(limiter.limit, 3) if limiter.limit is not None else None)
    assert seen == [2.5, 2.9, 3.245, 3.553, 3.834, None]  # +1/window per answer; at the peak of 4: unlimited


def test_a_full_window_holds_the_next_request_until_one_is_answered():
    limiter = RateLimiter()
    tickets = fill(limiter, 2)
    limiter.release(tickets[0], 429)  # window of 1, one request still in flight
    sent = threading.Event()

    def worker():
        limiter.release(limiter.acquire(), 200)
        sent.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert not sent.wait(0.2)  # held: the window is full
    limiter.release(tickets[1], 200)
    assert sent.wait(5)
    thread.join()
    assert limiter.in_flight == 0


def test_many_workers_under_429s_neither_deadlock_nor_lose_count():
    limiter = RateLimiter()
    lock, answered = threading.Lock(), [0]

    def worker():
        for _ in range(300):
            ticket = limiter.acquire()
            with lock:
                answered[0] += 1
                status = 429 if answered[0] % 3 == 0 else 200
            limiter.release(ticket, status)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert limiter.in_flight == 0 and limiter.throttled == 600 and 1 <= limiter.cuts <= 600
    assert limiter.peak <= 6 and (limiter.limit is None or 1.0 <= limiter.limit < max(2, limiter.peak))


def test_limited_session_keeps_auth_and_redaction_and_shares_the_limiter():
    limiter = RateLimiter()
    template = new_session(Credentials("1", "k"))
    a, b = limited_session(template, limiter), limited_session(template, limiter)
    adapters = [s.get_adapter("https://api.example.com") for s in (a, b)]
    assert all(isinstance(x, LimitedAdapter) and x.limiter is limiter for x in adapters)
    assert adapters[0] is not adapters[1] and a.auth is template.auth


def test_increase_must_be_positive():
    with pytest.raises(ValueError, match="increase"):
        RateLimiter(increase=0)
