"""Concurrent windows of load_transactions give the sequential frame, over real HTTP against the sandbox."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ledgerkit import iter_transactions, load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import ConfigurationError, ServerError
from ledgerkit.sandbox import Sandbox, World
from ledgerkit.sandbox.api_transactions import TransactionsAPI
from ledgerkit.sandbox.http_util import json_response
from ledgerkit.sources.windows import WindowScheduler, plan_spans, split_point

from .test_transactions import assert_same_rows, world_rows

JAN, FEB, APR = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
FAST = RetryPolicy(max_retries=6, backoff_base=0.001, backoff_max=0.005, retry_after_floor=0.001, sleep=lambda s: None)
WORKERS = 4
METHODS = ("credit_card", "alternative")


def _boundaries() -> list[datetime]:
    bounds = plan_spans(pd.Timestamp(JAN), pd.Timestamp(APR), WORKERS // 2, "created_at", "UTC")  # two methods
    return [b.to_pydatetime() for b in bounds[1:-1]]


def _world_with_boundary_rows() -> tuple[World, set[int]]:
    """A world where some rows sit exactly on a window boundary second, and one second before it."""
    world = World.generate(seed=3, n_transactions=600)
    shop = world.shops[0]["id"]
    mine = [t for t in world.transactions if t["shop"]["id"] == shop]
    planted = set()
    for k, boundary in enumerate(_boundaries()):
        for j, at in enumerate((boundary, boundary, boundary - timedelta(seconds=1))):
            tx = mine[40 * k + 7 * j]
            tx["created_at"] = at
            planted.add(tx["id"])
    return world, planted


@pytest.fixture(scope="module")
def sb():
    world, planted = _world_with_boundary_rows()
    with Sandbox(seed=3, page_size=7, world=world) as s:
        s.planted_ids = planted
        yield s


def creds(s: Sandbox, **kw):
    """Connection settings, and the two methods this sandbox offers named (default methods: their own tests)."""
    return {
        "base_url": s.transactions_url,
        "secret_key": s.credentials["transactions"],
        "retry": FAST,
        "progress": False,
        "payment_method_type": METHODS,
        **kw,
    }


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)
    assert a["id"].is_monotonic_increasing and a["id"].is_unique


@pytest.fixture(scope="module")
def sequential(sb):
    return load_transactions(JAN, APR, max_workers=1, **creds(sb))


def test_parallel_pull_is_the_sequential_frame_with_boundary_second_rows(sb, sequential):
    parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(sb))
    _same(parallel, sequential)
    assert sb.planted_ids <= set(parallel["id"].tolist())
    boundary_rows = parallel[parallel["id"].isin(sb.planted_ids)]
    assert set(boundary_rows["created_at"]) == {
        b for bd in _boundaries() for b in (pd.Timestamp(bd), pd.Timestamp(bd) - pd.Timedelta(seconds=1))
    }
    m = parallel.attrs["ledgerkit"]
    assert m["complete"] and m["rows"] == len(sequential) and m["duplicates_dropped"] == 0
    assert m["max_workers"] == WORKERS and m["window_count"] == len(m["windows"]) >= WORKERS


def test_dense_windows_are_split_without_refetching(sb, sequential):
    sb.clear_requests()
    parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(sb))
    _same(parallel, sequential)
    m = parallel.attrs["ledgerkit"]
    assert any(w["split"] for w in m["windows"]), "pages of 7 rows: some window must have been split"
    assert m["window_count"] > WORKERS
    assert sum(w["rows"] for w in m["windows"]) == len(parallel)  # no row received twice
    assert m["pages"] == m["requests"] == len(sb.requests) == sum(w["pages"] for w in m["windows"])
    sent = [r.json["report_params"] for r in sb.requests]
    starts = {pd.Timestamp(p["from"], tz="UTC") for p in sent} | {pd.Timestamp(APR)}
    ends = {pd.Timestamp(p["to"], tz="UTC") + pd.Timedelta(seconds=1) for p in sent}
    assert ends <= starts  # [a, b) is sent as to = b - 1 s: the windows tile the period


def test_a_dense_windows_halves_are_asked_for_before_its_page_is_parsed(sb, monkeypatch):
    """The raw page's edge times show a dense window: its halves' first requests go out while the page is
    parsed. The first page's parse here waits until the server has seen a request of a half; were the halves
    sent only after the parse, it would wait in vain."""
    import ledgerkit.sources.transactions as source

    kw = creds(sb, payment_method_type="credit_card")  # one window to start
    one = load_transactions(JAN, APR, max_workers=1, **kw)
    parse, waited = source.read_columns, []

    def parse_once_the_halves_are_out(body, *args, **kwargs):
        if not waited:
            waited.append(True)
            deadline = time.monotonic() + 10
            while not any(r.json["report_params"]["from"] != "2025-01-01 00:00:00" for r in sb.requests):
                assert time.monotonic() < deadline, "no half of the first window was asked for before its parse"
                time.sleep(0.005)
        return parse(body, *args, **kwargs)

    monkeypatch.setattr(source, "read_columns", parse_once_the_halves_are_out)
    sb.clear_requests()
    parallel = load_transactions(JAN, APR, max_workers=WORKERS, **kw)
    _same(parallel, one)
    m = parallel.attrs["ledgerkit"]
    assert waited and any(w["split"] for w in m["windows"]) and "requests_sent_ahead_unused" not in m
    assert m["pages"] == m["requests"] == len(sb.requests)  # nothing asked for in vain


def test_several_methods_and_a_wall_clock_zone(sb):
    kw = creds(sb, time_zone="Europe/Tallinn", payment_method_type=("alternative", "credit_card"))
    one = load_transactions("2025-01-01", "2025-03-01", max_workers=1, **kw)
    many = load_transactions("2025-01-01", "2025-03-01", max_workers=3, **kw)
    _same(many, one)
    assert set(many["payment_method_type"].astype(str)) == {"alternative", "credit_card"}


def test_pii_and_settled_at_days(sb):
    one = load_transactions(
        "2025-01-01", "2025-03-01", date_type="settled_at", include_pii=True, max_workers=1, **creds(sb)
    )
    many = load_transactions(
        "2025-01-01", "2025-03-01", date_type="settled_at", include_pii=True, max_workers=4, **creds(sb)
    )
    _same(many, one)
    assert "credit_card.holder" in many.columns
    sent = {r.json["report_params"]["to"] for r in sb.requests[-many.attrs["ledgerkit"]["requests"] :]}
    assert all(len(t) == 10 for t in sent)  # settled_at windows are whole days


def test_cursor_arguments_fall_back_to_the_sequential_pull(sb, sequential):
    cut = int(sequential["id"].iloc[len(sequential) // 2])
    sb.clear_requests()
    newer = load_transactions(JAN, APR, starting_after=cut, max_workers=WORKERS, **creds(sb))
    _same(newer, load_transactions(JAN, APR, starting_after=cut, max_workers=1, **creds(sb)))
    assert newer["id"].tolist() == sequential.loc[sequential["id"] > cut, "id"].tolist()
    assert newer.attrs["ledgerkit"]["window_count"] == 2 and "max_workers" not in newer.attrs["ledgerkit"]
    assert {r.json["report_params"]["from"] for r in sb.requests} == {"2025-01-01 00:00:00"}


def test_under_429_with_retry_after_and_5xx_bursts(sequential):
    world, _ = _world_with_boundary_rows()
    with Sandbox(seed=3, page_size=7, world=world) as s:
        s.set_faults(rate_limit_every=5, retry_after=0, error_every=7, error_burst=2, error_status=503)
        parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
        _same(parallel, sequential)
        m = parallel.attrs["ledgerkit"]
        assert m["retry_reasons"].get("429", 0) > 0 and m["retry_reasons"].get("503", 0) > 0
        assert m["throttled"] == m["retry_reasons"]["429"]
        assert m["requests"] == m["pages"] + m["retries"]


def test_repeated_rows_are_dropped_once(sequential):
    world, _ = _world_with_boundary_rows()
    with Sandbox(seed=3, page_size=7, world=world) as s:
        s.set_faults(repeat_rows=2)
        parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
    _same(parallel, sequential)
    assert parallel.attrs["ledgerkit"]["duplicates_dropped"] > 0


def test_failure_resumes_without_losing_a_row(sequential):
    world, _ = _world_with_boundary_rows()
    policy = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.001, sleep=lambda s: None)
    with Sandbox(seed=3, page_size=7, world=world) as s:
        # 12 errors in a row: more than the 2 x WORKERS requests that can be between a first attempt and its
        # one retry (the send threads' and the workers' own), so some request surely fails twice
        s.set_faults(error_every=20, error_burst=12, error_status=503)
        with pytest.raises(ServerError) as info:
            load_transactions(JAN, APR, max_workers=WORKERS, **{**creds(s), "retry": policy})
        err = info.value
        s.clear_faults()
        assert err.manifest["complete"] is False and err.manifest["pending_windows"]
        rest = load_transactions(
            **{k: v for k, v in err.resume.items() if k != "secret_key"},
            secret_key=s.credentials["transactions"],
            retry=FAST,
        )
    both = pd.concat([err.partial, rest]).drop_duplicates("id").sort_values("id", ignore_index=True)
    assert both["id"].tolist() == sequential["id"].tolist()


def _adding_rows_on(monkeypatch, request: int, n: int) -> None:
    """Sandboxes made after this add, while answering their ``request``-th report request, ``n`` payments of
    that request's method in the period's first second: in a time window that may have finished already."""
    handle, seen = TransactionsAPI.handle, []

    def adding(api, req):
        seen.append(req)
        if len(seen) == request:
            shop, method = api.sb.world.shops[0]["id"], req.json["report_params"]["payment_method_type"]
            first_second = (JAN, JAN + timedelta(seconds=1))
            api.sb.world.add_transactions(n, within=first_second, shop_id=shop, payment_method_type=method)
        return handle(api, req)

    monkeypatch.setattr(TransactionsAPI, "handle", adding)  # before the sandbox binds its routes


def test_rows_added_while_a_methods_windows_are_paged_are_in_the_frame(monkeypatch):
    """The sweep: rows added before a method's last window got its last page are in the frame, whether
    the window their time falls in is still paged or finished -- however late in the pull they were added.
    (New rows have ids above every other; see docs/CONTRACTS.md on rows added during a concurrent pull.)"""
    with Sandbox(seed=3, page_size=7, world=_world_with_boundary_rows()[0]) as s:
        load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
        total = len(s.requests)
    for request in (total // 2, total - 4, total - 3, total - 2, total - 1):
        for _ in range(5):
            _adding_rows_on(monkeypatch, request, 8)
            with Sandbox(seed=3, page_size=7, world=_world_with_boundary_rows()[0]) as s:
                parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
                if len(s.world.transactions) == 600:
                    continue  # how many requests a pull sends depends on when its workers idle: pull again
                m = parallel.attrs["ledgerkit"]
                assert m["complete"] and m["duplicates_dropped"] == 0
                assert m["pages"] == m["requests"] == len(s.requests)  # a sweep sent ahead is the one taken
                _same(parallel, load_transactions(JAN, APR, max_workers=1, **creds(s)))
                assert_same_rows(parallel, world_rows(s))  # the 8 new rows too
                break
        else:
            pytest.fail(f"no pull reached request {request}")


def test_a_methods_sweep_is_asked_for_before_its_last_page_is_parsed(monkeypatch):
    """A method's last window sends the sweep when its last page's bytes are in, not after every window of
    every method has been parsed: the server sees each sweep before the method's last page is parsed."""
    import ledgerkit.sources.transactions as source

    parse, parsed, asked = source.read_columns, [], []

    def slow_last_pages(body, *args, **kwargs):
        page = json.loads(body)
        if not page["has_more"] and page["transactions"]:
            time.sleep(0.05)  # long enough for a request sent before this parse to reach the server
            parsed.append((page["transactions"][0]["payment_method_type"], time.monotonic()))
        return parse(body, *args, **kwargs)

    handle = TransactionsAPI.handle
    monkeypatch.setattr(
        TransactionsAPI,
        "handle",
        lambda api, req: asked.append((req.json["report_params"], time.monotonic())) or handle(api, req),
    )
    with Sandbox(seed=3, page_size=7, world=_world_with_boundary_rows()[0]) as s:
        monkeypatch.setattr(source, "read_columns", slow_last_pages)
        parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
        this_pull = len(asked), len(parsed)
        _same(parallel, load_transactions(JAN, APR, max_workers=1, **creds(s)))
    asked, parsed = asked[: this_pull[0]], parsed[: this_pull[1]]
    sweeps = [w for w in parallel.attrs["ledgerkit"]["windows"] if "from" not in w]
    assert sorted(w["payment_method_type"] for w in sweeps) == sorted(METHODS)  # both methods were split
    for sweep in sweeps:
        method = sweep["payment_method_type"]
        at = [t for p, t in asked if p["payment_method_type"] == method and p.get("starting_after") == sweep["cursor"]]
        assert len(at) == 1 and at[0] < max(t for m, t in parsed if m == method)


def _slow_sweeps(monkeypatch, answered: list, *, adding: int = 0, failing: bool = False) -> None:
    """Sandboxes made after this answer each method's sweep -- the whole period after a cursor with nothing
    after it -- 0.3 s late, having added ``adding`` payments of its method in the period's first second (or,
    ``failing``, with a 503); ``answered`` gets (report_params, time answered) for every report request."""
    handle, period = TransactionsAPI.handle, []

    def answer(api, req):
        p = req.json["report_params"]
        period.append(period[0] if period else (p["from"], p["to"]))
        response = handle(api, req)
        if (
            (p["from"], p["to"]) == period[0]
            and "starting_after" in p
            and json.loads(response.body)["transactions"] == []
        ):
            time.sleep(0.3)
            if failing:
                response = json_response(503, {"message": "Service Unavailable", "errors": {}})
            elif adding:
                shop, first_second = api.sb.world.shops[0]["id"], (JAN, JAN + timedelta(seconds=1))
                api.sb.world.add_transactions(
                    adding, within=first_second, shop_id=shop, payment_method_type=p["payment_method_type"]
                )
                response = handle(api, req)
        answered.append((p, time.monotonic()))
        return response

    monkeypatch.setattr(TransactionsAPI, "handle", answer)  # before the sandbox binds its routes


def _framing(monkeypatch) -> list:
    """(time, pages, pause_gc) of every frame the transactions source builds from here on."""
    import ledgerkit.sources.transactions as source

    build, built = source.pages_to_frame, []
    monkeypatch.setattr(
        source,
        "pages_to_frame",
        lambda pages, *a, **k: (
            built.append((time.monotonic(), len(pages), k.get("pause_gc", "not passed"))) or build(pages, *a, **k)
        ),
    )
    return built


@pytest.mark.parametrize("adding", [0, 9])
def test_the_frame_is_built_while_the_sweeps_are_out(monkeypatch, adding):
    """Once only the sweeps are out, the pages so far become the frame meanwhile; rows a sweep brings (9 here,
    two pages of 7) are joined to it in id order: the same frame as the sequential pull's."""
    answered: list = []
    _slow_sweeps(monkeypatch, answered, adding=adding)
    built = _framing(monkeypatch)
    with Sandbox(seed=3, page_size=7, world=_world_with_boundary_rows()[0]) as s:
        before = len(world_rows(s))
        parallel = load_transactions(JAN, APR, max_workers=WORKERS, **creds(s))
        last_answer, early, parallel_frames = max(t for _, t in answered), built[0], list(built)
        sequential = load_transactions(JAN, APR, max_workers=1, **creds(s))
        rows = world_rows(s)
    m = parallel.attrs["ledgerkit"]
    sweeps = [w for w in m["windows"] if "from" not in w]
    assert sorted(w["payment_method_type"] for w in sweeps) == sorted(METHODS)  # both methods were split
    assert early[0] < last_answer - 0.2  # begun while a sweep was out
    framed = m["pages_framed_early"]
    assert early[1] == framed and m["pages"] - sum(w["pages"] for w in sweeps) <= framed < m["pages"]
    _same(parallel, sequential)
    assert_same_rows(parallel, rows)
    assert len(rows) - before == 2 * adding  # each sweep's rows
    assert len(parallel_frames) == (2 if adding else 1)  # the early frame, and the join of the sweeps' rows
    assert {b[2] for b in built} == {None}  # each with the pull's pause_gc


def test_a_sweep_failing_after_the_frame_was_begun_leaves_every_row_in_partial(monkeypatch):
    """The frame begun while the sweeps were out is the failure's ``.partial``: every row, none twice, and
    ``.resume`` asks each method's sweep again after its last id."""
    answered: list = []
    _slow_sweeps(monkeypatch, answered, failing=True)
    built = _framing(monkeypatch)
    policy = RetryPolicy(max_retries=0, sleep=lambda s: None)
    with Sandbox(seed=3, page_size=7, world=_world_with_boundary_rows()[0]) as s:
        with pytest.raises(ServerError) as info:
            load_transactions(JAN, APR, max_workers=WORKERS, **{**creds(s), "retry": policy})
        rows = world_rows(s)
    err = info.value
    assert built and err.manifest["pages_framed_early"] == built[0][1]
    assert_same_rows(err.partial, rows)
    assert err.partial["id"].is_monotonic_increasing
    assert sorted(err.resume["payment_method_type"]) == sorted(METHODS)
    assert err.resume["starting_after"] == min(  # the lower of the two methods' last ids
        err.partial.loc[err.partial["payment_method_type"] == m, "id"].max() for m in METHODS
    )


def test_iter_transactions_concurrently_yields_every_row_once(sb, sequential):
    pages = list(iter_transactions(JAN, APR, max_workers=WORKERS, **creds(sb)))
    ids = sorted(i for p in pages for i in p["id"].tolist())
    assert ids == sequential["id"].tolist()


@pytest.mark.parametrize("bad", [0, 33, 2.0, True, "4"])
def test_max_workers_is_checked_before_any_request(sb, bad):
    sb.clear_requests()
    with pytest.raises(ConfigurationError, match="max_workers"):
        load_transactions(JAN, FEB, max_workers=bad, **creds(sb))
    assert sb.requests == []


# ----------------------------------------------------------- the pieces


def test_plan_and_split_fall_on_whole_seconds_and_midnights():
    a, b = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-01-01 00:00:03", tz="UTC")
    assert plan_spans(a, b, 8, "created_at", "UTC") == [a, *(a + pd.Timedelta(seconds=s) for s in (1, 2)), b]
    assert split_point(a, a + pd.Timedelta(seconds=1), "created_at", "UTC") is None
    days = plan_spans(
        pd.Timestamp("2025-01-01", tz="Europe/Tallinn").tz_convert("UTC"),
        pd.Timestamp("2025-01-04", tz="Europe/Tallinn").tz_convert("UTC"),
        6,
        "settled_at",
        "Europe/Tallinn",
    )
    assert [d.tz_convert("Europe/Tallinn").hour for d in days] == [0, 0, 0, 0]


def test_no_cut_on_an_ambiguous_wall_clock_hour():
    # Europe/Tallinn repeats 03:00-04:00 local on 2025-10-26 (00:00-01:00 UTC)
    a, b = pd.Timestamp("2025-10-26 00:10", tz="UTC"), pd.Timestamp("2025-10-26 00:50", tz="UTC")
    assert split_point(a, b, "created_at", "Europe/Tallinn") is None
    assert split_point(a, b, "created_at", "UTC") == pd.Timestamp("2025-10-26 00:30", tz="UTC")


def test_scheduler_raises_the_first_error_and_stops():
    def step(n, worker, hungry):
        if n == 3:
            raise ValueError("boom")
        return n, []

    with pytest.raises(ValueError, match="boom"):
        list(WindowScheduler([1, 2, 3, 4], step, max_workers=2, make_worker=lambda: None))


def test_a_window_with_a_page_or_two_left_is_not_split():
    """Two years, a few pages: a split (two halves and a sweep) would cost more requests than it saves."""
    with Sandbox(seed=0, size=4500, shape="sparse", page_size=1000) as sparse:
        period = ("2023-04-01", "2025-04-01")
        one = load_transactions(*period, max_workers=1, **creds(sparse))
        sparse.clear_requests()
        four = load_transactions(*period, max_workers=4, **creds(sparse))
    _same(four, one)
    m = four.attrs["ledgerkit"]
    assert not any(w.get("split") for w in m["windows"])
    assert m["requests"] == len(sparse.requests) == one.attrs["ledgerkit"]["requests"]  # no half, no sweep
    assert m["pages"] >= 3  # a method with more than one page: splitting was possible


def test_split_worth_it_only_when_the_rest_holds_more_than_three_pages_at_this_density():
    from ledgerkit.sources.transactions import Window, _worth_splitting

    day = pd.Timedelta(days=1)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    window = Window("credit_card", {}, None, start=start, end=start + 10 * day)  # type: ignore[arg-type]
    assert not _worth_splitting(window, (start, start + 3 * day), 1000)  # 7 days left ~ 2.3 pages
    assert _worth_splitting(window, (start, start + 2 * day), 1000)  # 8 days left ~ 4 pages
    assert _worth_splitting(window, (start + day, start + day), 1000)  # a page within one second: dense
    assert _worth_splitting(window, None, 1000)  # no times: as before


def test_pages_are_parsed_no_more_at_once_than_one_more_than_the_cores(sb, sequential, monkeypatch):
    """Eight windows wait on the server at once, but at most ``usable_cores() + 1`` pages are parsed at once."""
    from ledgerkit._ingest import cores
    from ledgerkit.sources import transactions

    parse, lock, state = transactions.read_columns, threading.Lock(), {"now": 0, "most": 0, "pages": 0}

    def counted(*args, **kwargs):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            state["pages"] += 1
        try:
            time.sleep(0.01)  # long enough for the other windows' pages to arrive meanwhile
            return parse(*args, **kwargs)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(cores, "usable_cores", lambda: 2)
    monkeypatch.setattr(transactions, "read_columns", counted)
    _same(load_transactions(JAN, APR, max_workers=8, **creds(sb)), sequential)
    assert state["pages"] > 20 and state["most"] == 3  # in parallel, and never more than the cores + 1


def test_pages_are_parsed_on_the_pulls_own_parse_threads_which_end_with_it(sb, sequential, monkeypatch):
    """Not on the 8 threads that wait for them: on cores + 1 threads that take page after page, gone after the pull.

    A thread that waits a round trip between pages finds the memory its last
    page freed handed back to the system (see ``ledgerkit._ingest.cores``).
    """
    from ledgerkit._ingest import cores
    from ledgerkit.sources import transactions

    parse, names = transactions.read_columns, []

    def named(*args, **kwargs):
        names.append(threading.current_thread().name)
        return parse(*args, **kwargs)

    monkeypatch.setattr(cores, "usable_cores", lambda: 2)
    monkeypatch.setattr(transactions, "read_columns", named)
    _same(load_transactions(JAN, APR, max_workers=8, **creds(sb)), sequential)
    assert len(names) > 20 and all(n.startswith("ledgerkit-parse") for n in names), set(names)
    assert len(set(names)) <= 3  # each thread parsed many pages
    assert not [t.name for t in threading.enumerate() if t.name.startswith("ledgerkit-parse")]


def test_a_sequential_pull_parses_on_its_own_thread(sb, monkeypatch):
    from ledgerkit.sources import transactions

    parse, names = transactions.read_columns, set()

    def named(*args, **kwargs):
        names.add(threading.current_thread().name)
        return parse(*args, **kwargs)

    monkeypatch.setattr(transactions, "read_columns", named)
    load_transactions(JAN, APR, max_workers=1, **creds(sb))
    assert names == {threading.current_thread().name}
