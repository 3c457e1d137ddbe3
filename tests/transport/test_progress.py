"""The automatic progress bar of load_transactions (``progress=None``): only for long pulls.

tqdm writes to stderr, captured here; statements and balance records have
their own progress tests next to their loaders.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerkit import load_transactions
from ledgerkit._transport.progress import AUTO_PAGES
from ledgerkit.sandbox.server import Sandbox

LONG = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
SHORT = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC))
BAR = "ledgerkit transactions"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(seed=0, size=200, page_size=5) as sandbox:
        yield sandbox


def pull(sb, period, **kw):
    return load_transactions(*period, **sb.kwargs("transactions"), **kw)


@pytest.mark.parametrize("max_workers", [1, 4])
def test_long_pull_shows_a_bar_without_secrets(sb, capsys, max_workers):
    df = pull(sb, LONG, progress=None, max_workers=max_workers)
    err = capsys.readouterr().err
    assert df.attrs["ledgerkit"]["pages"] > AUTO_PAGES
    assert BAR in err and "page" in err
    assert sb.credentials["transactions"].secret not in err


def test_short_pull_stays_silent(sb, capsys):
    df = pull(sb, SHORT, progress=None, max_workers=1)
    assert len(df) > 0 and df.attrs["ledgerkit"]["pages"] <= AUTO_PAGES
    assert capsys.readouterr().err == ""


def test_short_pull_stays_silent_with_the_default_workers(sb, capsys):
    df = pull(sb, SHORT, progress=None)
    assert 0 < len(df) < 10
    assert capsys.readouterr().err == ""


def test_progress_false_never_shows_one(sb, capsys):
    df = pull(sb, LONG, progress=False)
    assert df.attrs["ledgerkit"]["pages"] > AUTO_PAGES
    assert capsys.readouterr().err == ""


def test_progress_true_always_shows_one(sb, capsys):
    pull(sb, SHORT, progress=True, max_workers=1)
    assert BAR in capsys.readouterr().err
