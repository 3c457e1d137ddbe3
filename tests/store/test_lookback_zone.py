"""The lookback counts the zone's days: ``settled_at`` through a store works on every later call,
across clock changes, with a period reaching into the future and with any lookback; a window
that cannot be asked for is never saved, and a store left with one by an older ledgerkit heals."""

from __future__ import annotations

import http.server
import itertools
import json
import threading
from pathlib import Path

import pandas as pd
import pytest
import requests

from ledgerkit import load_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import InvalidRequestError, RateLimitError
from ledgerkit.store import Store
from ledgerkit.store.transactions import _midnight

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.002, throttle_budget=1.0, sleep=lambda s: None)
MARCH = ("2025-03-01", "2025-04-01")
JAN = ("2025-01-01", "2025-02-01")  # Kyiv and Riga move their clocks on 30 March


OFFERED = ("credit_card", "alternative")  # the methods this sandbox offers (erip, refused, is asked anew each load)


def load(sb, period=MARCH, **kw):
    return load_transactions(
        *period, progress=False, max_workers=1, payment_method_type=OFFERED, **sb.kwargs("transactions"), **kw
    )


def settled(sb, zone, period=MARCH, **kw):
    return load(sb, period, date_type="settled_at", time_zone=zone, **kw)


def sent(sb) -> list[dict]:
    return [r.json["report_params"] for r in sb.requests if r.json]


def state_files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("_streams/*.json"))}


def credit_card_state(root: Path) -> Path:
    (path,) = [
        p
        for p in root.rglob("_streams/*.json")
        if json.loads(p.read_bytes())["key"]["payment_method_type"] == "credit_card"
    ]
    return path


@pytest.mark.parametrize("zone", ["Europe/Kyiv", "Europe/Riga"])
def test_settled_at_across_a_clock_change_loads_again_and_again(fresh_sandbox, tmp_path, zone):
    plain = settled(fresh_sandbox, zone)
    assert len(plain) > 0
    for attempt in range(3):
        fresh_sandbox.clear_requests()
        again = settled(fresh_sandbox, zone, store=tmp_path)
        pd.testing.assert_frame_equal(again, plain)
        if attempt:  # the lookback stretch: 3 of the zone's days before 1 April, not 72 hours
            assert {p["from"] for p in sent(fresh_sandbox) if "manual_correction_from" not in p} == {"2025-03-29"}
            assert all(p["to"] == "2025-03-31" for p in sent(fresh_sandbox))


def test_settled_at_with_a_lookback_in_hours_starts_at_a_midnight(fresh_sandbox, tmp_path):
    plain = settled(fresh_sandbox, "Europe/Kyiv")
    settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path)
    fresh_sandbox.clear_requests()
    again = settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path, lookback="36h")
    pd.testing.assert_frame_equal(again, plain)
    # 36 hours before 1 April 00:00 is 30 March 12:00: the stretch reads all of 30 March
    assert {p["from"] for p in sent(fresh_sandbox) if "manual_correction_from" not in p} == {"2025-03-30"}


def test_settled_at_with_a_period_reaching_into_the_future(fresh_sandbox, tmp_path):
    period = ("2025-03-01", "2099-01-01")  # the stretch is measured back from now, inside the period
    first = settled(fresh_sandbox, "Europe/Kyiv", period, store=tmp_path)
    fresh_sandbox.clear_requests()
    again = settled(fresh_sandbox, "Europe/Kyiv", period, store=tmp_path)
    pd.testing.assert_frame_equal(again, first)
    today = pd.Timestamp.now(tz="Europe/Kyiv").strftime("%Y-%m-%d")
    starts = {p["from"] for p in sent(fresh_sandbox) if "manual_correction_from" not in p}
    assert len(starts) == 1 and "2025-03-01" < starts.pop() <= today
    assert Store(tmp_path).manifest("transactions")[0]["pending"] == []


def test_a_state_left_with_windows_off_midnight_heals(fresh_sandbox, tmp_path):
    settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path)
    path = credit_card_state(tmp_path)
    state = json.loads(path.read_bytes())
    state["pending"] = [  # as the previous ledgerkit left it: saved before it was asked for, refused ever after
        {"cursor": None, "from": "2025-03-28T21:00:00+00:00", "to": "2025-03-31T21:00:00+00:00"},
        {
            "corrected_from": "2026-11-26T22:00:00+00:00",
            "cursor": None,
            "from": "2025-02-28T22:00:00+00:00",
            "to": "2025-03-31T21:00:00+00:00",
        },
    ]
    path.write_text(json.dumps(state))
    fresh_sandbox.clear_requests()
    again = settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path)
    pd.testing.assert_frame_equal(again, settled(fresh_sandbox, "Europe/Kyiv"))
    card = [p for p in sent(fresh_sandbox) if p["payment_method_type"] == "credit_card"]
    assert card[0]["from"] == "2025-03-28" and card[0]["to"] == "2025-03-31"  # widened to whole days
    assert card[1]["from"] == "2025-03-01" and card[1]["manual_correction_from"] == "2026-11-27"
    assert json.loads(path.read_bytes())["pending"] == []
    pd.testing.assert_frame_equal(settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path), again)


def test_a_state_whose_coverage_is_off_midnight_heals_by_reading_more(fresh_sandbox, tmp_path):
    settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path)
    path = credit_card_state(tmp_path)
    state = json.loads(path.read_bytes())
    state["covered"] = ["2025-02-28T23:00:00+00:00", "2025-03-31T20:00:00+00:00"]
    path.write_text(json.dumps(state))
    again = settled(fresh_sandbox, "Europe/Kyiv", store=tmp_path)
    pd.testing.assert_frame_equal(again, settled(fresh_sandbox, "Europe/Kyiv"))
    kyiv = [pd.Timestamp(t).tz_convert("Europe/Kyiv") for t in json.loads(path.read_bytes())["covered"]]
    assert [t.strftime("%Y-%m-%d %H:%M") for t in kyiv] == ["2025-03-01 00:00", "2025-04-01 00:00"]


def test_a_plan_whose_first_request_fails_is_not_saved(fresh_sandbox, tmp_path):
    load(fresh_sandbox, ("2025-01-01", "2025-02-01"), store=tmp_path)
    before = state_files(tmp_path)
    fresh_sandbox.set_faults(rate_limit_every=1, retry_after=0)  # from the first request on
    with pytest.raises(RateLimitError):
        load(fresh_sandbox, ("2025-01-01", "2025-04-01"), store=tmp_path, retry=FAST)
    assert state_files(tmp_path) == before
    fresh_sandbox.clear_faults()
    pd.testing.assert_frame_equal(
        load(fresh_sandbox, ("2025-01-01", "2025-04-01"), store=tmp_path),
        load(fresh_sandbox, ("2025-01-01", "2025-04-01")),
    )


class Refusing:
    """A real HTTP server in front of the sandbox's transactions API that refuses (422) its ``nth`` request."""

    def __init__(self, sb, nth: int) -> None:
        target, count, lock = sb.url, itertools.count(1), threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    n = next(count)
                if n == nth:
                    status, data = (
                        422,
                        json.dumps(
                            {"message": "report_params.from is invalid", "errors": {"from": ["is out of range"]}}
                        ).encode(),
                    )
                else:
                    answer = requests.post(
                        target + self.path,
                        data=body,
                        headers={
                            k: v
                            for k, v in self.headers.items()
                            if k.lower() in ("authorization", "content-type", "x-api-version", "accept")
                        },
                    )
                    status, data = answer.status_code, answer.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gateway"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_window_the_api_refuses_is_forgotten_not_asked_for_forever(fresh_sandbox, tmp_path):
    proxy = Refusing(fresh_sandbox, nth=6)  # 4 requests for January, then the wider load's second one
    kw = {**fresh_sandbox.kwargs("transactions"), "base_url": proxy.url}
    wide = ("2025-01-01", "2025-04-01")
    try:
        load_transactions(*JAN, progress=False, max_workers=1, store=tmp_path, **kw)
        parts = sum(len(s["parts"]) for s in Store(tmp_path).manifest("transactions"))
        with pytest.raises(InvalidRequestError):
            load_transactions(*wide, progress=False, max_workers=1, store=tmp_path, retry=FAST, **kw)
        states = Store(tmp_path).manifest("transactions")
        assert sum(len(s["parts"]) for s in states) > parts  # a page came and was stored before the refusal
        assert all(s["pending"] == [] and "planned_at" not in s for s in states)
        again = load_transactions(*wide, progress=False, max_workers=1, store=tmp_path, **kw)
    finally:
        proxy.close()
    pd.testing.assert_frame_equal(again, load(fresh_sandbox, wide))


@pytest.mark.parametrize(
    ("instant", "zone", "up", "back", "midnight"),
    [
        ("2025-03-31T21:00Z", "Europe/Kyiv", False, "3D", "2025-03-29 00:00"),  # across the spring change
        ("2025-10-27T12:00Z", "Europe/Riga", False, "36h", "2025-10-26 00:00"),  # across the autumn change
        ("2025-03-28T21:00Z", "Europe/Kyiv", True, None, "2025-03-29 00:00"),
        ("2025-03-28T22:00Z", "Europe/Kyiv", True, None, "2025-03-29 00:00"),  # already a midnight
        ("2025-11-02T18:00Z", "America/Havana", False, None, "2025-11-01 00:00"),  # 2 Nov: midnight twice
        ("2024-09-08T12:00Z", "America/Santiago", False, None, "2024-09-07 00:00"),  # 8 Sep: no midnight
        ("2024-09-07T12:00Z", "America/Santiago", True, None, "2024-09-09 00:00"),
    ],
)
def test_midnights_of_a_zone(instant, zone, up, back, midnight):
    found = _midnight(pd.Timestamp(instant), zone, up=up, back=None if back is None else pd.Timedelta(back))
    assert found.tz_convert(zone).strftime("%Y-%m-%d %H:%M") == midnight
    assert (found >= pd.Timestamp(instant)) if up else (found <= pd.Timestamp(instant))
