"""ledgerkit.app.summary: the ``make demo`` summary, checked against the sandbox world itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledgerkit.app.notebook import connect
from ledgerkit.app.summary import PERIOD, load_sources, sandbox_summary, summarize
from ledgerkit.money import format_money

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def pulled():
    """The world and the three sources as the summary loads them (one sandbox for the module)."""
    with connect("sandbox") as conn:
        yield conn.world, load_sources(conn, *PERIOD)


@pytest.fixture(scope="module")
def summary_text() -> str:
    return sandbox_summary()


def _shop_transactions(world) -> list[dict]:
    shop_id = world.shops[0]["id"]
    return [t for t in world.transactions if t["shop"]["id"] == shop_id and START <= t["created_at"] < END]


def test_rows_loaded_are_the_worlds_rows(pulled, summary_text):
    world, _ = pulled
    shop_tx = _shop_transactions(world)
    statements = [s for s in world.statements if START <= s["created"] < END]
    assert f"  transactions        {len(shop_tx):>8}  complete" in summary_text
    assert f"  statements          {len(statements):>8}  complete" in summary_text
    for currency in sorted({t["currency"] for t in shop_tx}):
        n = sum(
            1
            for r in world.balance_records
            if r["shop_id"] == world.shops[0]["id"] and r["currency"] == currency and START <= r["created_at"] < END
        )
        assert f"  balance records {currency} {n:>8}  complete" in summary_text


def test_fees_and_rates_are_the_worlds_fees(pulled, summary_text):
    world, _ = pulled
    for currency in ("EUR", "USD"):
        ok = [t for t in _shop_transactions(world) if t["currency"] == currency and t["status"] == "successful"]
        fee = sum(int(t["transaction_fee"]) for t in ok)
        volume = sum(t["amount"] for t in ok if t["type"] in ("payment", "capture"))
        line = (
            f"  transactions  {currency}  fees {format_money(fee, currency):>14} on "
            f"{format_money(volume, currency):>16}  {fee * 10_000 / volume:>6.1f} bp"
        )
        assert line in summary_text


def test_clean_world_verdicts_and_payouts(pulled, summary_text):
    world, _ = pulled
    payouts = [p for p in world.payouts if START <= p["created"] < END]
    open_rows = [s for s in world.statements if START <= s["created"] < END and s.get("payout_id") is None]
    open_net = int(sum(s["amount"] for s in open_rows) * 100)
    assert summary_text.splitlines()[0] == "ledgerkit sandbox summary, 2025-01-01 to 2025-04-01 (seed 0)"
    assert "  statements            ok\n  balance records EUR   ok\n  balance records USD   ok\n" in summary_text
    assert f"  {len(payouts)} payouts, every one fully explained (residual 0)\n" in summary_text
    assert summary_text.endswith(
        f"  open balance, not paid out yet: {format_money(open_net, 'EUR')} ({len(open_rows)} rows)\n"
    )
    assert max(len(line) for line in summary_text.splitlines()) <= 80


def test_corrupted_income_row_shows_as_break_and_residual(pulled):
    _, (transactions, statements, reports) = pulled
    position = int(statements.index[statements["type"] == "INCOME"][3])
    payout_id = statements.loc[position, "payout_id"]
    bad = statements.copy()
    bad.loc[position, "amount"] = bad.loc[position, "amount"] + 5
    text = summarize(transactions, bad, reports)
    row = statements.loc[position]
    assert "  statements            1 break(s), 3 month(s) not tying to the reported balance\n" in text
    assert (
        f"first: row {position} (row_id {row['row_id']}, {row['created']:%Y-%m-%d %H:%M:%S} UTC): amount mismatch, "
        f"amount expected {format_money(int(row['amount']), 'EUR')}, found "
        f"{format_money(int(row['amount']) + 5, 'EUR')}"
    ) in text
    paid = int(
        -statements.loc[(statements["payout_id"] == payout_id) & (statements["type"] == "PAYOUT"), "amount"].sum()
    )
    assert f"payout {payout_id} paid " in text
    assert (
        f"paid out {format_money(paid, 'EUR')}, rows add up to {format_money(paid + 5, 'EUR')}, residual -0.05 EUR"
    ) in text
    assert "with a residual:" in text
    assert "  balance records EUR   ok" in text


def test_incomplete_pull_is_flagged(pulled):
    _, (transactions, statements, reports) = pulled
    partial = transactions.copy()
    partial.attrs = {"ledgerkit": {**transactions.attrs["ledgerkit"], "complete": False}}
    text = summarize(partial, statements, reports)
    assert f"  transactions        {len(transactions):>8}  INCOMPLETE" in text
    assert f"  statements          {len(statements):>8}  complete" in text


def test_balance_records_roll_forward_must_tie(pulled):
    _, (transactions, statements, reports) = pulled
    report = reports["USD"]
    records = report.records.copy()
    records.loc[0, "balance_after"] = records.loc[0, "balance_after"] + 1

    class Tampered:
        opening_balance = report.opening_balance

    Tampered.records = records
    text = summarize(transactions, statements, {**reports, "USD": Tampered})
    assert "  balance records USD   1 break(s)" in text
    assert "  balance records EUR   ok" in text


def test_summary_never_shows_a_secret(pulled, summary_text):
    world, _ = pulled
    secrets = [s["secret"] for s in world.shops] + [world.psp["secret"], world.mc_shop["secret"]]
    assert not [s for s in secrets if s in summary_text]
    assert "127.0.0.1" not in summary_text


def test_statement_vat_line(pulled, summary_text):
    world, _ = pulled
    vat = -sum(s["amount"] for s in world.statements if START <= s["created"] < END and s["type"] == "VAT")
    assert f"VAT  {format_money(int(vat * 100), 'EUR'):>14} on those fees" in summary_text


def test_env_summary_reads_the_ledgerkit_variables(monkeypatch, summary_text):
    """``ledgerkit report --source env``: the same summary, from LEDGERKIT_* variables pointing at a sandbox."""
    from ledgerkit.app.summary import env_summary
    from ledgerkit.sandbox import Sandbox

    with Sandbox(seed=0) as sb:
        for key, value in sb.env().items():
            monkeypatch.setenv(key, value)
        text = env_summary()
        served = {r.path for r in sb.requests}
    assert {"/gateway/api/reports", "/dwh/api/v2/reports"} <= served
    assert text.splitlines()[0] == "ledgerkit summary of the LEDGERKIT_* accounts, 2025-01-01 to 2025-04-01"
    assert text.splitlines()[1:] == summary_text.splitlines()[1:]


def test_env_summary_without_variables_is_skipped_with_the_reason(monkeypatch, capsys):
    from ledgerkit.app.report import summary_text as report_summary
    from ledgerkit.config import ENV_VARS

    for names in ENV_VARS.values():
        for name in names[:3]:
            monkeypatch.delenv(name, raising=False)
    text = report_summary("env")
    assert text.startswith("Summary skipped: ")
    assert "LEDGERKIT_TRANSACTIONS_URL" in text


def test_a_break_without_an_expected_value_is_described_not_a_crash():
    """An out-of-order row has no expected balance: the verdict names it instead of calling int(<NA>)."""
    import pandas as pd

    from ledgerkit.app.summary import _balance_verdict

    when = pd.to_datetime(["2025-01-02", "2025-01-01"], utc=True)
    chain = pd.DataFrame(
        {
            "row_id": ["a", "b"],
            "created": when,
            "type": ["INCOME", "INCOME"],
            "amount": pd.array([100, 50], "Int64"),
            "balance_before": pd.array([0, 100], "Int64"),
            "balance_after": pd.array([100, 150], "Int64"),
            "currency": ["EUR", "EUR"],
            "payout_id": pd.array([pd.NA, pd.NA], "str"),
        }
    )
    verdict = _balance_verdict(chain)
    assert verdict[0].startswith("1 break(s)") and "out of order" in verdict[1]
