"""Widgets: controls drive exactly the analysis functions on the filtered frame, redrawn in place."""

from __future__ import annotations

import datetime as dt

import matplotlib as mpl

mpl.use("Agg")

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ledgerkit.analysis import check_balances, fee_breakdown, payout_groups, payout_waterfall, roll_forward
from ledgerkit.errors import ConfigurationError
from ledgerkit.viz.display import show
from ledgerkit.viz.widgets import MAX_ROWS, _filter, explore_balance, explore_fees, explore_payouts


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def when(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True))


def ints(*values: int) -> pd.array:
    return pd.array(list(values), dtype="Int64")


@pytest.fixture
def payments() -> pd.DataFrame:
    """Three EUR and two JPY card payments over January and February, with a customer e-mail (PII)."""
    return pd.DataFrame(
        {
            "id": ints(1, 2, 3, 4, 5),
            "type": ["payment"] * 5,
            "status": ["successful", "successful", "successful", "successful", "failed"],
            "payment_method_type": ["credit_card"] * 5,
            "amount": ints(123_456, 20_000, 5_000, 3_000, 9_000),
            "transaction_fee": ints(3_000, 400, 150, 90, 0),
            "currency": ["EUR", "EUR", "EUR", "JPY", "JPY"],
            "credit_card.brand": ["visa", "master", "visa", "visa", "master"],
            "credit_card.issuer_country": [None] * 5,
            "payment.gateway_id": ints(7, 7, 8, 9, 9),
            "customer.email": ["a@example.com"] * 5,
            "created_at": when("2025-01-05", "2025-01-20", "2025-02-03", "2025-01-07", "2025-02-08"),
        }
    )


@pytest.fixture
def ledger() -> pd.DataFrame:
    """EUR statements: payout P1, payout P2 (5 cents short), then open rows; one USD row."""
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(10)],
            "created": when(
                "2025-01-06 04:00",
                "2025-01-06 04:00",
                "2025-01-06 04:00",
                "2025-01-07 00:00",
                "2025-01-07 09:00",
                "2025-01-07 09:00",
                "2025-01-08 00:00",
                "2025-02-03 10:00",
                "2025-02-04 10:00",
                "2025-01-06 05:00",
            ),
            "type": [
                "INCOME",
                "TRX_FEE",
                "VAT",
                "PAYOUT",
                "INCOME",
                "TRX_FEE_FIX",
                "PAYOUT",
                "INCOME",
                "INCOME",
                "INCOME",
            ],
            "amount": ints(10_000, -250, -55, -9_695, 5_000, -30, -4_965, 2_000, 1_000, 700),
            "balance_before": ints(0, 10_000, 9_750, 9_695, 0, 5_000, 4_970, 5, 2_005, 0),
            "balance_after": ints(10_000, 9_750, 9_695, 0, 5_000, 4_970, 5, 2_005, 3_005, 700),
            "currency": ["EUR"] * 9 + ["USD"],
            "transaction_id": ["t1", "t1", "t1", None, "t2", "t2", None, "t3", "t4", "t5"],
            "merchant_reference": ["order-1"] * 10,
            "payout_id": pd.array(["P1"] * 4 + ["P2"] * 3 + [None, None, "U1"], dtype="str"),
        }
    )


def png_count(output: widgets.Output) -> int:
    return sum("image/png" in o["data"] for o in output.outputs)


# --------------------------------------------------------------------------
# _filter


def test_filter_is_half_open_utc_and_by_currency(payments):
    rows = _filter(payments, dt.date(2025, 1, 5), dt.date(2025, 1, 20), "EUR")
    assert rows["id"].tolist() == [1]
    assert _filter(payments, None, None, "JPY")["id"].tolist() == [4, 5]
    assert _filter(payments, dt.date(2025, 2, 1), None, None)["id"].tolist() == [3, 5]
    assert len(payments) == 5


# --------------------------------------------------------------------------
# Fees


def test_explore_fees_controls_offer_only_what_the_frame_has(payments):
    w = explore_fees(payments)
    assert isinstance(w, widgets.VBox)
    assert list(w.controls) == ["start", "end", "currency", "group"]
    assert isinstance(w.controls["start"], widgets.DatePicker) and isinstance(w.controls["currency"], widgets.Dropdown)
    assert w.controls["group"].options == ("brand", "channel", "gateway")  # no issuer country values
    assert w.controls["currency"].options == ("EUR", "JPY")  # most rows first
    assert (w.controls["start"].value, w.controls["end"].value) == (dt.date(2025, 1, 5), dt.date(2025, 2, 9))


def test_explore_fees_table_is_fee_breakdown_of_the_filtered_rows(payments):
    w = explore_fees(payments)
    w.controls["currency"].value = "JPY"
    expected = fee_breakdown(_filter(payments, dt.date(2025, 1, 5), dt.date(2025, 2, 9), "JPY"), by="brand")
    assert_frame_equal(w.table, expected)
    assert w.table["fee"].tolist() == [90]  # the failed JPY payment costs nothing

    w.controls["currency"].value = "EUR"
    w.controls["group"].value = "gateway"
    w.controls["end"].value = dt.date(2025, 2, 1)
    expected = fee_breakdown(_filter(payments, dt.date(2025, 1, 5), dt.date(2025, 2, 1), "EUR"), by="gateway")
    assert_frame_equal(w.table, expected)
    assert w.table["payment.gateway_id"].tolist() == [7] and w.table["fee"].tolist() == [3_400]


def test_explore_fees_redraws_in_place_with_money_for_people(payments):
    before = plt.get_fignums()
    w = explore_fees(payments)
    first_figure = w.figure
    assert png_count(w.plot_output) == 1 and len(w.table_output.outputs) == 1
    w.controls["group"].value = "gateway"
    assert w.figure is not first_figure
    assert png_count(w.plot_output) == 1 and len(w.table_output.outputs) == 1
    assert "EUR" in w.figure.axes[0].get_title()
    assert plt.get_fignums() == before  # the explorer draws on its own figures, not pyplot's
    assert w.table["fee"].dtype == "Int64"
    assert w.display_table["fee"].tolist() == ["34.00", "1.50"]
    assert w.display_table["volume"].tolist() == ["1,434.56", "50.00"]
    assert w.display_table["count"].tolist() == ["2", "1"]  # a count, not money
    markup = w.table_output.outputs[0]["data"]["text/html"]
    assert "1,434.56" in markup and "1,434.56 EUR" not in markup


def test_explorer_tables_read_exactly_as_the_notebook_tables(payments, ledger):
    """One formatter: same money format (no code, no wrapping), same rate decimals, no index column."""
    for w in (explore_fees(payments), explore_balance(ledger), explore_payouts(ledger)):
        expected = show(w.table)
        shown = w.display_table
        assert_frame_equal(shown, expected.loc[shown.index, list(shown.columns)])
        markup = w.table_output.outputs[0]["data"]["text/html"]
        header = markup.split("<tbody>")[0]
        assert header.count("<th>") == len(shown.columns)  # no index column
    assert (
        explore_fees(payments).display_table["rate_bp"].tolist()
        == show(fee_breakdown(_filter(payments, None, None, "EUR"), by="brand"))["rate_bp"].tolist()
        == ["200.00", "245.22"]
    )


@pytest.mark.parametrize(
    "explore, data", [(explore_fees, "payments"), (explore_balance, "ledger"), (explore_payouts, "ledger")]
)
def test_an_empty_range_says_why_instead_of_drawing_empty_axes(explore, data, request):
    frame = request.getfixturevalue(data)
    w = explore(frame)
    w.controls["start"].value = dt.date(2026, 1, 1)
    w.controls["end"].value = dt.date(2026, 2, 1)
    first, last = ("2025-01-05", "2025-02-03") if data == "payments" else ("2025-01-06", "2025-02-04")
    assert w.message == (
        f"No EUR rows from 2026-01-01 before 2026-02-01: the EUR rows run from {first} to {last}. Widen the date range."
    )
    assert w.error is None and w.table.empty and w.figure is None and w.plot_output.outputs == ()
    assert w.table_output.outputs[0]["data"]["text/plain"] == w.message

    w.controls["start"].value = dt.date(2026, 3, 1)  # after the end: an inverted range
    assert w.message == (
        "Nothing to show: the range runs from 2026-03-01 to before 2026-02-01, which is no time "
        "at all. Pick a 'before' date after the 'from' date."
    )
    w.controls["start"].value, w.controls["end"].value = dt.date(2025, 1, 1), dt.date(2025, 3, 1)
    assert w.message is None and png_count(w.plot_output) == 1


def test_explore_fees_refuses_what_it_cannot_show(payments):
    with pytest.raises(ConfigurationError, match="DataFrame"):
        explore_fees([1, 2])
    with pytest.raises(ConfigurationError, match="grouping"):
        explore_fees(payments.drop(columns=["credit_card.brand", "payment.gateway_id", "payment_method_type"]))


# --------------------------------------------------------------------------
# Balance


def test_explore_balance_table_is_the_roll_forward_and_breaks_of_the_filtered_rows(ledger):
    w = explore_balance(ledger)
    assert list(w.controls) == ["start", "end", "currency", "freq"]
    assert w.controls["currency"].value == "EUR"
    rows = _filter(ledger, dt.date(2025, 1, 6), dt.date(2025, 2, 5), "EUR")
    assert_frame_equal(w.table, roll_forward(rows, freq="M"))
    assert w.table["closing"].tolist() == [5, 3_005]

    w.controls["freq"].value = "W"
    assert_frame_equal(w.table, roll_forward(rows, freq="W"))
    w.controls["currency"].value = "USD"
    assert_frame_equal(
        w.table, roll_forward(_filter(ledger, dt.date(2025, 1, 6), dt.date(2025, 2, 5), "USD"), freq="W")
    )
    assert "USD" in w.figure.axes[0].get_ylabel()


def test_explore_balance_marks_the_breaks(ledger):
    broken = ledger.copy()
    broken.loc[7, "balance_after"] = 2_015
    w = explore_balance(broken)
    assert_frame_equal(w.results["breaks"], check_balances(_filter(broken, None, None, "EUR")))
    assert w.results["breaks"]["position"].tolist() == [7]
    assert [t.get_text() for t in w.figure.axes[0].texts] == ["amount mismatch +0.10 EUR"]
    assert w.table["unexplained"].tolist() == [0, 0]
    assert w.display_table["closing"].tolist() == ["0.05", "30.05"]
    assert w.display_table["period"].tolist() == ["2025-01", "2025-02"]  # periods named, period_end left out
    assert w.display_table["rows"].tolist() == ["7", "2"]  # a count, not money


def test_explore_balance_daily_table_keeps_to_what_fits_and_every_day_off(ledger):
    broken = ledger.copy()
    broken.loc[5, "balance_after"] = 4_980  # 2025-01-07 stops tying out
    w = explore_balance(broken)
    w.controls["freq"].value = "D"
    assert len(w.table) == 30  # 2025-01-06 .. 2025-02-04, every day
    days = w.display_table["period"].tolist()
    assert days == ["2025-01-07"] + [f"2025-01-{d}" for d in range(25, 32)] + [f"2025-02-0{d}" for d in range(1, 5)]
    assert len(days) == MAX_ROWS
    assert w.note == "The last 11 of 30 days, and the earlier day that does not tie out."
    assert w.note in w.table_output.outputs[0]["data"]["text/html"]


# --------------------------------------------------------------------------
# Payouts


def test_explore_payouts_tables_and_payout_picker(ledger):
    w = explore_payouts(ledger)
    assert list(w.controls) == ["start", "end", "currency", "payout"]
    assert [value for _, value in w.controls["payout"].options] == ["P1", "P2", "open balance"]
    rows = _filter(ledger, None, None, "EUR")
    assert_frame_equal(w.table, payout_groups(rows))
    assert w.table["residual"].tolist()[:2] == [0, -5]
    assert_frame_equal(w.results["waterfall"], payout_waterfall(rows, "P1"))

    w.controls["payout"].value = "P2"
    assert_frame_equal(w.results["waterfall"], payout_waterfall(rows, "P2"))
    assert "-0.05 EUR unexplained" in w.figure.axes[1].get_title()
    assert len(w.figure.axes[0].containers[0]) == 2

    w.controls["payout"].value = "open balance"
    assert_frame_equal(w.results["waterfall"], payout_waterfall(rows, None))
    assert "merchant_reference" not in "".join(w.display_table.columns)


def _picked_rows(w) -> list[str]:
    body = w.table_output.outputs[0]["data"]["text/html"].split("<tbody>")[1]
    return [row.split("<td>")[2].split("</td>")[0] for row in body.split("<tr")[1:] if 'class="picked"' in row]


def test_explore_payouts_highlights_the_picked_payout_in_a_table_that_fits():
    n = 30
    payout_ids = [f"P{i:02d}" for i in range(n) for _ in range(2)]
    many = pd.DataFrame(
        {
            "created": pd.Series(pd.date_range("2025-01-01", periods=2 * n, freq="12h", tz="UTC")),
            "type": ["INCOME", "PAYOUT"] * n,
            "amount": ints(*[1_000, -1_000] * n),
            "currency": "EUR",
            "payout_id": pd.array(payout_ids, dtype="str"),
        }
    )
    w = explore_payouts(many)
    assert len(w.table) == n and len(w.display_table) == MAX_ROWS
    assert not {"is_open", "first_created", "last_created"} & set(w.display_table.columns)
    assert _picked_rows(w) == ["P00"] and w.display_table["payout_id"].iloc[0] == "P00"
    w.controls["payout"].value = "P17"
    assert _picked_rows(w) == ["P17"]
    assert w.display_table["payout_id"].tolist() == [f"P{i}" for i in range(11, 23)]
    assert w.note == "Payouts 12–23 of 30 (the open balance last), the picked one highlighted."
    w.controls["payout"].value = "P29"
    assert w.display_table["payout_id"].tolist()[-1] == "P29" and _picked_rows(w) == ["P29"]


def test_explore_payouts_waterfall_title_clears_its_legend(ledger):
    w = explore_payouts(ledger)
    w.controls["payout"].value = "P2"
    steps = w.figure.axes[1]
    assert steps.get_title().startswith("Payout P2: Payout waterfall (EUR)")
    w.figure.canvas.draw()
    assert not steps.get_legend().get_window_extent().overlaps(steps.title.get_window_extent())
    labels = [t.get_window_extent() for t in steps.texts if t.get_text()]
    assert labels and not [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :] if a.overlaps(b)]
    over_time = w.figure.axes[0]
    assert abs(over_time.get_position().width - steps.get_position().width) < 0.01  # both charts full width


def test_explore_payouts_keeps_a_payout_whole_when_the_range_cuts_it(ledger):
    w = explore_payouts(ledger)
    w.controls["payout"].value = "P2"
    w.controls["start"].value = dt.date(2025, 1, 8)  # only P2's PAYOUT row and the open rows are in range
    assert [value for _, value in w.controls["payout"].options] == ["P2", "open balance"]
    assert w.controls["payout"].value == "P2"
    assert w.table["payout_id"].tolist()[:1] == ["P2"] and w.table["income"].tolist()[:1] == [5_000]
    w.controls["end"].value = dt.date(2025, 1, 9)
    assert [value for _, value in w.controls["payout"].options] == ["P2"]
    assert w.controls["currency"].options == ("EUR", "USD")
    w.controls["currency"].value = "USD"
    assert w.controls["payout"].options == ()  # the only USD row is from January 6
    assert w.table.empty and "waterfall" not in w.results


def test_explore_payouts_needs_payout_ids(ledger):
    with pytest.raises(ConfigurationError, match="payout_id"):
        explore_payouts(ledger.drop(columns="payout_id"))


# --------------------------------------------------------------------------
# Over the sandbox


def test_explorers_over_sandbox_data():
    from ledgerkit import load_statements, load_transactions
    from ledgerkit.sandbox import Sandbox

    with Sandbox(seed=0, size=300) as sb:
        tx = load_transactions(
            "2025-01-01",
            "2025-04-01",
            base_url=sb.transactions_url,
            shop_id=sb.credentials["transactions"].user,
            secret_key=sb.credentials["transactions"].secret,
            progress=False,
        )
        st = load_statements(
            since="2025-01-01",
            base_url=sb.statements_url,
            shop_id=sb.credentials["statements"].user,
            secret_key=sb.credentials["statements"].secret,
            progress=False,
        )
    fees = explore_fees(tx)
    assert set(fees.controls["group"].options) == {"brand", "country", "channel", "gateway"}
    fees.controls["currency"].value = "USD"
    start, end = fees.controls["start"].value, fees.controls["end"].value
    assert_frame_equal(fees.table, fee_breakdown(_filter(tx, start, end, "USD"), by="brand"))
    assert explore_fees(st).controls["group"].options == ("channel", "fee_type")
    payouts = explore_payouts(st)
    assert payouts.table["residual"].dropna().eq(0).all()
    assert explore_balance(st).table["unexplained"].eq(0).all()


def test_a_failing_redraw_is_shown_in_place_not_raised(ledger, capsys):
    broken = ledger.assign(balance_after=ledger["balance_after"].mask(ledger["currency"].eq("USD")))
    w = explore_balance(broken)
    w.controls["currency"].value = "USD"
    assert "balance_after" in w.error and "<NA>" in w.error
    assert w.plot_output.outputs == ()
    assert w.error in w.table_output.outputs[0]["data"]["text/plain"]
    w.controls["currency"].value = "EUR"
    assert w.error is None and png_count(w.plot_output) == 1
    w.controls["currency"].value = "USD"  # shown in place
    with pytest.raises(ConfigurationError):
        w.refresh()
    assert capsys.readouterr().out == ""
