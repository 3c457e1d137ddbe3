"""The fee-unit check sees every page once, when Arrow pages are checked in batches (transactions._Pull._observed)."""

from __future__ import annotations

import json

import pytest

from ledgerkit import load_transactions
from ledgerkit.errors import DataError
from ledgerkit.sandbox import Sandbox
from ledgerkit.sources._fee_units import FeeUnits
from tests.sources.test_transactions_ahead import FAST, CursorServer, page, tx

PAGES = 40  # a batch of 32 and the rest


def test_a_pull_of_many_pages_counts_every_payment_once():
    with Sandbox(seed=2, size=1500, page_size=15) as sb:
        kw = {
            "base_url": sb.transactions_url,
            "shop_id": sb.credentials["transactions"].user,
            "secret_key": sb.credentials["transactions"].secret,
            "progress": False,
        }
        frames = {w: load_transactions("2025-01-01", "2025-04-01", max_workers=w, **kw) for w in (1, 4)}
    for df in frames.values():
        m = df.attrs["ledgerkit"]
        assert m["pages"] > PAGES
        whole = FeeUnits()
        whole.observe(df)
        assert m["dialect"]["fee_identity"] == whole.summary() and whole.checked > 100


@pytest.mark.parametrize("workers", [1, 2])
def test_fees_in_major_units_on_every_page_are_all_counted(workers):
    def major(i: int) -> dict:
        return {**tx(i), "amount": 1000, "transaction_fee": 0.29, "pay_to_merchant": 9.71}

    answers = {}
    for n in range(PAGES):
        ids = [3 * n + 1, 3 * n + 2, 3 * n + 3]
        body = json.loads(page(ids, n < PAGES - 1))
        body["transactions"] = [major(i) for i in ids]
        answers[None if n == 0 else 3 * n] = [json.dumps(body).encode()]
    with CursorServer(answers) as server, pytest.raises(DataError, match="major units") as info:
        load_transactions(
            "2025-01-01",
            "2025-02-01",
            base_url=server.url,
            shop_id="1",
            secret_key="k",
            retry=FAST,
            progress=False,
            payment_method_type="credit_card",
            max_workers=workers,
        )
    rows = 3 * PAGES
    assert f"fails on {rows} of {rows} successful payments, and {rows} of them fit" in str(info.value)
    assert len(info.value.partial) == rows
