"""Real payloads of the real services, read through the loaders over real HTTP (``Replay``).

The files in tests/data/real-world/ are recordings and fixtures from public
sources (each names its source); these tests pin the frame each one gives,
value by value.
"""

from __future__ import annotations

import json
from pathlib import Path

import ledgerkit as lk
from ledgerkit import RetryPolicy
from ledgerkit.sandbox import Recorded, Replay

DATA = Path(__file__).resolve().parents[1] / "data" / "real-world"
FAST = RetryPolicy(max_retries=1, backoff_base=0.001, sleep=lambda s: None)


def recorded_statements() -> Recorded:
    page = json.loads((DATA / "makecommerce-accountstatements-recorded.json").read_text())
    recorded = Recorded(page["status"], page["headers"], page["body"])
    assert b"142.01000000000002" in recorded.content  # the float artefact reaches the wire as recorded
    return recorded


def test_the_recorded_makecommerce_page_gives_six_exact_rows():
    with Replay({"GET /v1/shop/accountstatements": recorded_statements()}) as server:
        df = lk.load_statements(
            since="2017-08-09", base_url=server.url, shop_id="shop", secret_key="secret", retry=FAST, progress=False
        )
        assert server.requests[0].query == {"since": "2017-08-09", "page": "1"}
    assert df["type"].astype(str).tolist() == ["PAYOUT", "INCOME", "TRX_FEE_FIX", "VAT", "VAT", "TRX_FEE"]
    assert df["amount"].tolist() == [-54487, 50, -30, -6, 0, -1]
    assert df["balance_before"].tolist() == [68638, 14151, 14201, 14171, 14165, 14165]
    assert df["balance_after"].tolist() == [14151, 14201, 14171, 14165, 14165, 14164]
    assert df["payout_id"].iloc[0] == "8039" and df["payout_id"].iloc[1:].isna().all()
    assert df["transaction"].isna().tolist() == [True, False, False, False, False, False]  # keys omitted, not null
    assert df["transaction_id"].isna().all() and (df["currency"] == "EUR").all()
    assert df["row_id"].is_unique
    m = df.attrs["ledgerkit"]
    assert (m["rows"], m["total"], m["count_verified"], m["rounded_values"], m["duplicates_dropped"]) == (
        6,
        6,
        True,
        0,
        0,
    )
    assert m["complete"] and lk.check_balances(df).empty  # float artefacts are not breaks
    assert (df["type"] == "VAT").sum() == 2  # the zero VAT line is kept
