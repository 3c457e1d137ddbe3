"""iter_transactions / iter_statements hold one page at a time: memory does not grow with pages."""

from __future__ import annotations

import gc

import pandas as pd
import pytest

from ledgerkit import iter_statements, iter_transactions
from ledgerkit._transport.http import RetryPolicy
from ledgerkit.errors import ServerError
from ledgerkit.sandbox import Sandbox

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, sleep=lambda s: None)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=400, page_size=20, per_page_default=20) as s:
        yield s


def frames_alive() -> int:
    gc.collect()
    return sum(isinstance(o, pd.DataFrame) for o in gc.get_objects())


def alive_after(pages, marks: tuple[int, ...]) -> list[int]:
    """DataFrames alive in the process after the pages numbered ``marks`` were handed over and dropped."""
    counts = []
    for number, page in enumerate(pages):
        del page
        if number in marks:
            counts.append(frames_alive())
    return counts


@pytest.mark.parametrize("source", ["transactions", "statements"])
def test_pages_are_not_kept_while_iterating(sb, source):
    if source == "transactions":
        pages = iter_transactions("2025-01-01", "2025-04-01", progress=False, **sb.kwargs(source))
    else:
        pages = iter_statements(since="2025-01-01", progress=False, **sb.kwargs(source))
    second, ninth = alive_after(pages, (1, 8))
    assert ninth <= second  # the pages the caller let go are gone: nothing piles up per page


def test_a_failure_while_iterating_counts_the_pages_and_has_an_empty_partial():
    with Sandbox(seed=0, size=200, page_size=20) as s:
        s.set_faults(error_every=3, error_burst=10)
        got = []
        with pytest.raises(ServerError) as info:  # noqa: PT012 - the pages before the failure are the point
            for page in iter_transactions(
                "2025-01-01",
                "2025-04-01",
                payment_method_type="credit_card",
                progress=False,
                retry=FAST,
                **s.kwargs("transactions"),
            ):
                got.append(page)  # noqa: PERF402 - kept one by one, up to the failure
        err = info.value
        assert len(got) == 3 and err.partial.empty  # the caller has the pages
        assert err.manifest["pages"] == 3 and err.manifest["rows"] == sum(map(len, got))
        assert err.resume["starting_after"] == int(got[-1]["id"].max())
