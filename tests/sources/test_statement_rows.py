"""Statement row identity: place in the server's order, repeats found by the chain, the count decides the rest."""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - D("1.50") reads as the literal it stands for

from ledgerkit.sources._statement_rows import Rows, continues


def line(kind: str, amount: str, before: str, after: str | None = None, **extra) -> dict:
    after = after if after is not None else str(D(before) + D(amount))
    return {"type": kind, "amount": D(amount), "balance_before": D(before), "balance_after": D(after), **extra}


CHAIN = [
    line("INCOME", "10", "0"),
    line("TRX_FEE", "-1", "10"),
    line("VAT", "0", "9"),
    line("VAT", "0", "9"),
    line("INCOME", "5", "9"),
    line("PAYOUT", "-14", "14"),
]


def test_identical_lines_in_one_page_are_two_rows_with_distinct_ids():
    rows = Rows(chained=True)
    kept = rows.take(CHAIN)
    assert len(kept) == 6 and rows.repeats == 0 and rows.candidates == []
    ids = [r["row_id"] for r in kept]
    assert len(set(ids)) == 6 and ids[3] == ids[2] + "~2"


def test_rows_sent_again_after_an_offset_moved_back_are_dropped_by_the_chain():
    rows = Rows(chained=True)
    rows.take(CHAIN[:3])
    second = rows.take(CHAIN[1:])  # the server moved back two rows: the page starts with the last two again
    assert [r["type"] for r in second] == ["VAT", "INCOME", "PAYOUT"] and rows.repeats == 2 and rows.kept == 6
    assert second[0]["row_id"].endswith("~2")  # the second identical VAT line, not the repeated first one


def test_a_page_that_continues_the_chain_is_all_new_even_when_it_starts_like_the_last_page_ended():
    rows = Rows(chained=True)
    rows.take(CHAIN[:3])
    second = rows.take(CHAIN[3:])  # the second identical zero VAT line opens the next page
    assert len(second) == 3 and rows.repeats == 0 and rows.candidates == [(1, 1)]
    assert rows.settle(received=6, expected=6) == []  # the count agrees: it was a second line
    assert rows.settle(received=6, expected=5) == [(1, 1)]  # had the server said 5, it was a repeat


def test_float_artefacts_are_not_a_chain_break():
    assert continues({"balance_after": D("142.01")}, {"balance_before": D("142.01000000000002")})
    assert continues({"balance_after": D("141.65")}, {"balance_before": D("141.64999999999998")})
    assert not continues({"balance_after": D("141.65")}, {"balance_before": D("141.64")})
    assert continues({}, {"balance_before": D("1")})  # a missing balance cannot tell


def test_a_break_without_a_repeat_keeps_every_row():
    rows = Rows(chained=True)
    rows.take(CHAIN[:2])
    moved = rows.take([line("INCOME", "3", "100")])  # a break in the data, not a repeat
    assert len(moved) == 1 and rows.repeats == 0


def test_a_payouts_rows_are_no_chain_so_only_the_count_can_tell():
    rows = Rows(chained=False)
    payout = [line("INCOME", "1", "0"), line("VAT", "0", "50"), line("VAT", "0", "50"), line("INCOME", "2", "70")]
    rows.take(payout[:2])
    rows.take(payout[2:])
    assert rows.kept == 4 and rows.repeats == 0 and rows.candidates == [(1, 1)]
    assert rows.settle(received=4, expected=4) == []
    assert rows.settle(received=4, expected=3) == [(1, 1)]
    assert rows.settle(received=4, expected=2) == []  # no set of candidates explains it: the count check raises
