"""The close pack: statuses from the analysis functions, an exact workbook, a fingerprint that notices a row.

One pull of the sandbox's March 2025 (``load_close_sources``) is shared by
the module; planted faults are made on copies of the pulled frames.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from ledgerkit.analysis import payout_groups, reconcile_transactions, roll_forward
from ledgerkit.app.close_pack import CHECKS, ClosePack, close_pack, close_period, frame_hash
from ledgerkit.app.close_run import STATEMENT_LOOKBACK, default_period, load_close_sources
from ledgerkit.app.close_writers import SHEETS, SUMMARY_TOP, excel_format, write_page, write_workbook
from ledgerkit.app.notebook import connect
from ledgerkit.errors import ConfigurationError
from ledgerkit.money import exponent
from ledgerkit.viz.display import money_columns

PERIOD = "2025-03"
START, END = close_period(PERIOD)


@pytest.fixture(scope="module")
def sources():
    with connect("sandbox") as conn:
        return load_close_sources(conn, PERIOD)


@pytest.fixture(scope="module")
def pack(sources) -> ClosePack:
    return close_pack(*sources, period=PERIOD)


def march(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[(frame[column] >= START) & (frame[column] < END)]


def status(pack: ClosePack, check: str, source: str | None = None, currency: str = "EUR") -> list[str]:
    rows = pack.summary[(pack.summary["check"] == check) & (pack.summary["currency"] == currency)]
    if source is not None:
        rows = rows[rows["source"] == source]
    return rows["status"].tolist()


# --------------------------------------------------------------------------- statuses and figures


def test_the_sandbox_month_closes_green_with_every_check(pack, sources):
    assert pack.status == "green" and pack.red.empty
    assert set(pack.summary["check"]) == set(CHECKS)
    assert set(pack.summary["currency"]) >= {"EUR", "USD"}
    accounts = pack.summary.loc[pack.summary["source"] == "balance records", "account"]
    assert accounts.str.match(r"merchant \d+ · shop \d+ · gateway \d+ \(.+\)$").all()
    # one roll-forward and one chain status per DWH account (merchant, shop, gateway, currency)
    records = pd.concat([r.records for r in sources.balance_reports.values()])
    assert len(accounts) == 2 * len(records[["gateway_id", "currency"]].drop_duplicates())


def test_the_figures_are_the_analysis_results(pack, sources):
    st = march(sources.statements, "created")
    ours = pack.roll_forward[pack.roll_forward["source"] == "statements"].drop(columns=["source", "account"])
    expected = roll_forward(st, freq="M")
    # the sheet also holds the DWH accounts' roll-forward: its record-only columns are NA on statement rows
    assert ours.drop(columns=expected.columns).isna().all().all()
    pd.testing.assert_frame_equal(ours[expected.columns].reset_index(drop=True), expected)
    paid = payout_groups(sources.statements)
    paid = march(paid[~paid["is_open"]], "paid_at").reset_index(drop=True)
    pd.testing.assert_frame_equal(pack.payouts.drop(columns="account"), paid)
    eur = sources.balance_reports["EUR"]
    result = reconcile_transactions(sources.transactions[sources.transactions["currency"] == "EUR"], eur.records)
    assert pack.reconciliation.loc[pack.reconciliation["currency"] == "EUR", "count"].sum() == len(result)
    assert pack.breaks.empty and pack.mismatches.empty
    assert sources.statements["created"].min() < START - pd.Timedelta(days=STATEMENT_LOOKBACK - 1)


def test_a_planted_balance_break_turns_its_row_red(sources):
    st = sources.statements.copy()
    at = int(st.index[(st["created"] >= "2025-03-14") & (st["type"] == "INCOME")][0])
    st.loc[at, "balance_after"] += 5
    pack = close_pack(sources.transactions, st, sources.balance_reports, period=PERIOD)
    assert pack.status == "red"
    assert pack.red[["source", "check", "currency"]].values.tolist() == [["statements", "balance chain holds", "EUR"]]
    row = pack.red.iloc[0]
    assert row["failing"] == 1 and f"row {at} " in row["detail"] and "+0.05 EUR, too much" in row["detail"]
    assert pack.breaks[["position", "difference"]].values.tolist() == [[at, 5]]
    assert status(pack, "balance chain holds", "balance records") == ["green"] * 4


def test_a_payout_with_a_residual_and_a_missing_record_are_red(sources):
    st = sources.statements
    groups = march(payout_groups(st), "paid_at")
    payout = groups["payout_id"].iloc[3]
    lost = int(st.index[(st["payout_id"] == payout) & (st["type"] == "TRX_FEE")][0])
    records = sources.balance_reports["USD"].records
    reports = {
        **sources.balance_reports,
        "USD": type(
            "Report",
            (),
            {
                "records": records.drop(index=records.index[5]).reset_index(drop=True),
                "opening_balance": sources.balance_reports["USD"].opening_balance,
            },
        )(),
    }
    pack = close_pack(sources.transactions, st.drop(index=lost).reset_index(drop=True), reports, period=PERIOD)
    payouts = pack.summary[pack.summary["check"] == "payouts explained"].iloc[0]
    fee = int(st.loc[lost, "amount"])
    assert (payouts["status"], payouts["failing"], payouts["difference"]) == ("red", 1, fee)
    assert payouts["detail"].startswith(f"payout {payout} ")
    recon = pack.summary[(pack.summary["check"] == "transactions = records") & (pack.summary["currency"] == "USD")]
    assert recon["status"].tolist() == ["red"] and recon["failing"].tolist() == [1]
    assert "only in transactions" in recon["detail"].iloc[0]
    assert status(pack, "balance chain holds", "balance records", "USD") == ["red"]


def test_a_payout_that_may_start_before_the_statements_given_is_red(sources):
    st = sources.statements
    first = march(payout_groups(st), "paid_at")["payout_id"].iloc[0]
    cut = st[st.index >= st.index[st["payout_id"] == first][0]].reset_index(drop=True)
    pack = close_pack(statements=cut, period=PERIOD)
    row = pack.summary[pack.summary["check"] == "payouts explained"].iloc[0]
    assert row["status"] == "red" and f"payout(s) {first} may start before the first statement row" in row["detail"]


def test_an_incomplete_pull_is_red(sources):
    st = sources.statements.copy()
    st.attrs = {"ledgerkit": {**sources.statements.attrs["ledgerkit"], "complete": False}}
    pack = close_pack(statements=st, period=PERIOD)
    assert pack.red[["source", "check"]].values.tolist() == [["statements", "pull complete"]]


def test_bad_input_is_refused_before_anything_else(sources):
    for period in ("2025-13", "March", ("2025-03-01",), ("2025-04-01", "2025-03-01"), None):
        with pytest.raises(ConfigurationError, match="period"):
            close_pack(statements=sources.statements, period=period)
    with pytest.raises(ConfigurationError, match="at least one source"):
        close_pack(period=PERIOD)
    with pytest.raises(ConfigurationError, match="statements"):
        close_pack(statements=[1, 2], period=PERIOD)
    with pytest.raises(ConfigurationError, match="balance_reports"):
        close_pack(balance_reports=[1], period=PERIOD)
    assert [str(t.date()) for t in close_period(("2025-03-10", "2025-03-17"))] == ["2025-03-10", "2025-03-17"]
    assert default_period("sandbox") == PERIOD


# --------------------------------------------------------------------------- fingerprint


def test_the_fingerprint_changes_when_one_input_row_changes(pack, sources):
    again = close_pack(*sources, period=PERIOD)
    assert again.fingerprint_hash == pack.fingerprint_hash
    tx = sources.transactions.copy()
    tx.loc[tx.index[17], "transaction_fee"] += 1
    changed = close_pack(tx, sources.statements, sources.balance_reports, period=PERIOD)
    assert changed.fingerprint_hash != pack.fingerprint_hash
    digests = dict(zip(changed.fingerprint["input"], changed.fingerprint["sha256"], strict=True))
    before = dict(zip(pack.fingerprint["input"], pack.fingerprint["sha256"], strict=True))
    assert [name for name in before if digests[name] != before[name]] == ["transactions"]
    assert close_pack(*sources, period="2025-02").fingerprint_hash != pack.fingerprint_hash  # the period counts
    st = sources.statements.copy()
    st.loc[st.index[3], "created"] += pd.Timedelta(seconds=1)
    assert frame_hash(st) != frame_hash(sources.statements)


def test_the_fingerprint_says_rows_sums_and_manifests(pack, sources):
    fp = pack.fingerprint.set_index(["input", "currency"])
    tx = sources.transactions
    for currency in ("EUR", "USD"):
        mine = tx[tx["currency"] == currency]
        row = fp.loc[("transactions", currency)]
        assert (row["rows"], row["amount_sum"], row["fee_sum"]) == (
            len(mine),
            int(mine["amount"].sum()),
            int(mine["transaction_fee"].sum()),
        )
    assert fp.loc[("statements", "EUR"), "rows"] == len(sources.statements)
    assert fp.loc[("opening balance EUR", "EUR"), "amount_sum"] == int(
        sources.balance_reports["EUR"].opening_balance["opening_balance"].sum()
    )
    assert set(fp["complete"]) == {"True"}
    manifest = fp.loc[("statements", "EUR"), "manifest"]
    assert '"complete": true' in manifest and '"requests"' not in manifest  # what was asked, not how often
    assert sources.statements.attrs["ledgerkit"].get("parameters") is not None
    secret = "".join(c for c in manifest if c.isalnum())
    with connect("sandbox") as conn:
        assert conn.sandbox.credentials["statements"].secret not in secret


# --------------------------------------------------------------------------- the workbook


def cell_rows(sheet, top: int) -> tuple[list[str], list[list]]:
    header = [c.value for c in sheet[top]]
    rows = [list(row) for row in sheet.iter_rows(min_row=top + 1)]
    return header, rows


def assert_cell_is(cell, value, currency, is_money: bool) -> None:
    if pd.isna(value) if not isinstance(value, (list, dict)) else False:
        assert cell.value is None, (cell.coordinate, cell.value)
    elif is_money:
        assert cell.data_type == "n", (cell.coordinate, cell.value)  # a number, never text
        assert Decimal(repr(cell.value)).scaleb(exponent(currency)) == int(value), (cell.coordinate, cell.value, value)
        assert cell.number_format == excel_format(currency)
    elif isinstance(value, pd.Timestamp):
        assert cell.value == value.tz_convert("UTC").tz_localize(None).to_pydatetime()
        assert cell.number_format == "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, (bool, str)):
        assert cell.value == (value if value != "" else None), (cell.coordinate, cell.value, value)
    else:
        assert cell.value == value, (cell.coordinate, cell.value, value)


@pytest.fixture(scope="module")
def red_pack(sources) -> ClosePack:
    st = sources.statements.copy()
    at = int(st.index[(st["created"] >= "2025-03-14") & (st["type"] == "INCOME")][0])
    st.loc[at, "balance_after"] += 5
    return close_pack(sources.transactions, st, sources.balance_reports, period=PERIOD)


def test_every_number_in_the_workbook_is_the_analysis_result_exactly(red_pack, tmp_path):
    path = write_workbook(red_pack, tmp_path / "close.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(SHEETS)
    checked, amounts = 0, 0
    for title, attribute in SHEETS.items():
        sheet, frame = book[title], getattr(red_pack, attribute)
        top = SUMMARY_TOP if title == "Summary" else 1
        header, rows = cell_rows(sheet, top)
        assert [h.removesuffix(" (UTC)") for h in header] == list(frame.columns), title
        assert len(rows) == len(frame), title
        assert sheet.freeze_panes == f"A{top + 1}", title
        money = set(money_columns(frame))
        for cells, record in zip(rows, frame.to_dict("records"), strict=True):
            for cell, name in zip(cells, frame.columns, strict=True):
                assert_cell_is(cell, record[name], record.get("currency"), name in money)
                checked += 1
                amounts += name in money and not pd.isna(record[name])
    assert checked > 700 and amounts > 250  # every cell of every sheet, a few hundred of them amounts


def test_the_summary_sheet_reads_first_with_red_and_green_cells(red_pack, tmp_path):
    book = openpyxl.load_workbook(write_workbook(red_pack, tmp_path / "close.xlsx"))
    sheet = book["Summary"]
    assert book.worksheets[0].title == "Summary"
    assert (sheet["A2"].value, sheet["B2"].value) == ("period", "2025-03-01 to 2025-03-31 (UTC)")
    assert (sheet["B3"].value, sheet["B4"].value) == ("red", red_pack.fingerprint_hash)
    header, rows = cell_rows(sheet, SUMMARY_TOP)
    at = header.index("status")
    fills = {row[at].value: row[at].fill.start_color.rgb[-6:] for row in rows}
    assert fills == {"green": "C6EFCE", "red": "FFC7CE"}
    red = [row for row in rows if row[at].value == "red"]
    assert [row[header.index("check")].value for row in red] == ["balance chain holds"]
    widths = [sheet.column_dimensions[c].width for c in "ABCDEFGHI"]
    assert all(8 <= w <= 62 for w in widths) and sheet.column_dimensions["B"].width > 20  # the account names


def test_the_one_page_html_says_the_status_and_fingerprint(red_pack, tmp_path):
    page = write_page(red_pack, tmp_path / "close.html", workbook="close.xlsx").read_text(encoding="utf-8")
    assert "<title>Close pack 2025-03-01 to 2025-03-31 (UTC): red</title>" in page
    assert red_pack.fingerprint_hash in page and page.count('<td class="red">red</td>') == 1
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_close_period_dates_are_half_open():
    assert close_period("2025-12") == (pd.Timestamp("2025-12-01", tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC"))
    assert close_period((dt.date(2025, 3, 1), dt.date(2025, 3, 8)))[1] == pd.Timestamp("2025-03-08", tz="UTC")


def test_currencies_without_cents_and_with_three_decimals_stay_exact(tmp_path):
    def chain(currency: str, amounts: list[int]) -> pd.DataFrame:
        after = pd.Series(amounts).cumsum()
        return pd.DataFrame(
            {
                "row_id": [f"{currency}{i}" for i in range(len(amounts))],
                "created": pd.to_datetime([f"2025-03-0{i + 1}" for i in range(len(amounts))], utc=True),
                "type": ["INCOME"] * len(amounts),
                "amount": pd.array(amounts, dtype="Int64"),
                "balance_before": pd.array((after - pd.Series(amounts)).tolist(), dtype="Int64"),
                "balance_after": pd.array(after.tolist(), dtype="Int64"),
                "currency": currency,
                "payout_id": pd.array([None] * len(amounts), dtype="str"),
            }
        )

    statements = pd.concat([chain("JPY", [1500, 2_000_001]), chain("KWD", [1, 123_456_789])], ignore_index=True)
    pack = close_pack(statements=statements, period=PERIOD)
    book = openpyxl.load_workbook(write_workbook(pack, tmp_path / "close.xlsx"))
    header, rows = cell_rows(book["Roll-forward"], 1)
    closing = {row[header.index("currency")].value: row[header.index("closing")] for row in rows}
    assert (closing["JPY"].value, closing["JPY"].number_format) == (2_001_501, "#,##0;-#,##0")
    assert (closing["KWD"].value, closing["KWD"].number_format) == (123456.79, "#,##0.000;-#,##0.000")


def test_the_command_refuses_a_bad_period_before_any_request(tmp_path, capsys, monkeypatch):
    from ledgerkit.app import close_run
    from ledgerkit.app.cli import main

    monkeypatch.setattr(close_run, "connect", lambda *a, **k: pytest.fail("connected despite a bad period"))
    assert main(["close", "--period", "2025-13", "--out", str(tmp_path)]) == 2
    assert "ledgerkit close: ConfigurationError: period='2025-13' is not valid" in capsys.readouterr().err
    assert close_run.run_close(period=PERIOD, out=tmp_path, fail_on="maybe") == 2
    assert "fail_on='maybe' is not valid" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
