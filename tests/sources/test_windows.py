"""WindowScheduler hands every finished page to the caller, even when another window fails."""

from __future__ import annotations

import threading

import pytest

from ledgerkit.sources.windows import WindowScheduler


def test_a_page_finished_after_another_window_failed_still_reaches_the_caller():
    failed = threading.Event()

    def step(window, worker, hungry):
        if window == "bad":
            failed.set()
            raise RuntimeError("503 after the retries")
        failed.wait(5)  # finish this page only after the other window has failed
        return f"page of {window}", []

    received = []
    with pytest.raises(RuntimeError, match="503"):  # noqa: PT012 - the items before the failure are the point
        for item in WindowScheduler(["good", "bad"], step, max_workers=2, make_worker=lambda: None):
            received.append(item)  # noqa: PERF402 - kept one by one, up to the failure
    assert received == ["page of good"]
