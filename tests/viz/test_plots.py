"""Plots: the Axes contract, exact major-unit bars, one currency per chart, residuals highlighted."""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.transforms import Bbox

from ledgerkit.analysis import (
    check_balances,
    fee_breakdown,
    payout_groups,
    payout_waterfall,
    roll_forward,
)
from ledgerkit.errors import ConfigurationError
from ledgerkit.viz.plots import (
    COLORS,
    FIGSIZE,
    plot_balance,
    plot_effective_rate,
    plot_fee_composition,
    plot_payout_waterfall,
    plot_payouts,
    plot_roll_forward,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def utc(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True))


def money(*values: int) -> pd.array:
    return pd.array(list(values), dtype="Int64")


@pytest.fixture
def transactions() -> pd.DataFrame:
    """EUR card payments of two brands over two months, and one JPY payment."""
    return pd.DataFrame(
        {
            "id": money(1, 2, 3, 4, 5),
            "type": ["payment", "payment", "payment", "refund", "payment"],
            "status": ["successful"] * 5,
            "amount": money(10_000, 20_000, 5_000, 1_000, 3_000),
            "transaction_fee": money(300, 400, 150, 25, 90),
            "currency": ["EUR", "EUR", "EUR", "EUR", "JPY"],
            "credit_card.brand": ["visa", "master", "visa", "visa", "visa"],
            "created_at": utc("2025-01-05", "2025-01-20", "2025-02-03", "2025-02-10", "2025-01-07"),
        }
    )


@pytest.fixture
def statements() -> pd.DataFrame:
    """Two payouts (the second one 5 cents short: residual) and an open balance, EUR."""
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(9)],
            "created": utc(
                "2025-01-06 04:00",
                "2025-01-06 04:00",
                "2025-01-06 04:00",
                "2025-01-07 00:00",
                "2025-01-07 09:00",
                "2025-01-07 09:00",
                "2025-01-07 09:00",
                "2025-01-08 00:00",
                "2025-01-08 10:00",
            ),
            "type": ["INCOME", "TRX_FEE", "VAT", "PAYOUT", "INCOME", "TRX_FEE_FIX", "VAT", "PAYOUT", "INCOME"],
            "amount": money(10_000, -250, -55, -9_695, 5_000, -30, -7, -4_958, 2_000),
            "balance_before": money(0, 10_000, 9_750, 9_695, 0, 5_000, 4_970, 4_963, 5),
            "balance_after": money(10_000, 9_750, 9_695, 0, 5_000, 4_970, 4_963, 5, 2_005),
            "currency": ["EUR"] * 9,
            "transaction_id": ["t1", "t1", "t1", None, "t2", "t2", "t2", None, "t3"],
            "payout_id": pd.array(["P1"] * 4 + ["P2"] * 4 + [None], dtype="str"),
        }
    )


def assert_draws_on(plot, frame, **kwargs):
    """Given an Axes: returns it and creates no figure. Without: exactly one new figure."""
    _fig, ax = plt.subplots()
    before = plt.get_fignums()
    assert plot(frame, ax=ax, **kwargs) is ax
    assert plt.get_fignums() == before
    made = plot(frame, **kwargs)
    assert made is not ax and len(plt.get_fignums()) == len(before) + 1
    assert tuple(made.figure.get_size_inches()) == FIGSIZE
    return made


def facecolors(container) -> list[tuple]:
    return [tuple(bar.get_facecolor()) for bar in container]


# --------------------------------------------------------------------------
# Effective rate


def test_effective_rate_bars_are_the_breakdown_rates_and_volume_in_major_units(transactions, capsys):
    breakdown = fee_breakdown(transactions, by="brand")
    ax = assert_draws_on(plot_effective_rate, breakdown, currency="EUR")
    # master: 400 fee on 20,000 volume; visa: 300 + 150 + a 25 refund fee on 15,000
    assert [b.get_height() for b in ax.containers[0]] == [200.0, 475 * 10_000 / 15_000]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["master", "visa"]
    volume = ax.right_ax.get_lines()[0].get_ydata().tolist()
    assert volume == [200.0, 150.0]
    assert "EUR" in ax.get_title() and "EUR" in ax.right_ax.get_ylabel()
    assert "bp" in ax.get_ylabel()
    assert capsys.readouterr().out == ""


def test_effective_rate_needs_currency_when_several(transactions):
    with pytest.raises(ConfigurationError) as info:
        plot_effective_rate(fee_breakdown(transactions, by="brand"))
    assert info.value.parameter == "currency"
    assert "['EUR', 'JPY']" in str(info.value)


def test_effective_rate_refuses_an_unknown_currency_and_periods(transactions):
    breakdown = fee_breakdown(transactions, by="brand")
    with pytest.raises(ConfigurationError, match="one of the currencies in the frame: \\['EUR', 'JPY'\\]"):
        plot_effective_rate(breakdown, currency="USD")
    with pytest.raises(ConfigurationError, match="without freq"):
        plot_effective_rate(fee_breakdown(transactions, by="brand", freq="M"), currency="EUR")


def test_effective_rate_jpy_has_no_decimals(transactions):
    ax = plot_effective_rate(fee_breakdown(transactions, by="brand"), currency="JPY")
    assert [b.get_height() for b in ax.containers[0]] == [300.0]
    assert ax.right_ax.get_lines()[0].get_ydata().tolist() == [3000.0]
    formatter = ax.right_ax.yaxis.get_major_formatter()
    assert formatter(1234567.0, 0) == "1,234,567"


def test_effective_rate_volume_dots_never_sit_on_the_bar_labels():
    """Volume proportional to the rate: without bands every dot would land on its bar's label."""
    breakdown = pd.DataFrame(
        {
            "currency": ["EUR"] * 4,
            "credit_card.brand": ["amex", "master", "visa", "jcb"],
            "fee": money(300, 200, 100, 50),
            "volume": money(30_000, 20_000, 10_000, 5_000),
            "rate_bp": [300.0, 200.0, 100.0, 50.0],
        }
    )
    ax = plot_effective_rate(breakdown.assign(volume=money(3_000_000, 2_000_000, 1_000_000, 500_000)))
    ax.figure.canvas.draw()
    labels = [t.get_window_extent() for t in ax.texts]
    assert [t.get_text() for t in ax.texts] == ["300.0", "200.0", "100.0", "50.0"]
    dots = ax.right_ax.get_lines()[0]
    radius = dots.get_markersize() / 2 * ax.figure.dpi / 72
    centres = ax.right_ax.transData.transform(dots.get_xydata())
    for x, y in centres:
        dot = Bbox([[x - radius, y - radius], [x + radius, y + radius]])
        assert not [label for label in labels if label.overlaps(dot)], (x, y)
    ticks = ax.right_ax.get_yticks()
    assert ticks.min() >= 0 and ticks.max() <= 30_000  # the volume axis ticks only the volumes' range


def overlapping(texts) -> list:
    """Pairs of drawn texts whose window extents overlap (the figure must have been drawn)."""
    boxes = [t.get_window_extent() for t in texts if t.get_text()]
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def gateway_breakdown(names: list[str]) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame(
        {
            "currency": ["EUR"] * n,
            "payment.gateway_id": pd.array(range(301, 301 + n), dtype="Int64"),
            "payment.gateway_name": names,
            "count": money(*[10] * n),
            "fee": money(*[100] * n),
            "volume_count": money(*[10] * n),
            "volume": money(*[10_000] * n),
            "rate_bp": [100.0] * n,
        }
    )


def test_effective_rate_long_gateway_labels_are_wrapped_not_run_together():
    names = ["EU Cards Standard", "EU Cards Premium", "iDEAL", "Bancontact"]
    ax = plot_effective_rate(gateway_breakdown(names), by="gateway")
    ax.figure.canvas.draw()
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == [
        "301\nEU Cards Standard",
        "302\nEU Cards Premium",
        "303\niDEAL",
        "304\nBancontact",
    ]
    assert {t.get_rotation() for t in labels} == {0.0}
    assert not overlapping(labels)


def test_effective_rate_labels_too_long_to_wrap_turn_upright():
    names = [f"Acquirer {i} premium cards" for i in range(12)]
    ax = plot_effective_rate(gateway_breakdown(names), by="gateway")
    ax.figure.canvas.draw()
    labels = ax.get_xticklabels()
    assert {t.get_rotation() for t in labels} == {90.0}
    assert labels[0].get_text() == "301 · Acquirer 0 premium cards"
    assert not overlapping(labels)


def test_short_labels_stay_upright_on_one_line(transactions):
    ax = plot_effective_rate(fee_breakdown(transactions, by="brand"), currency="EUR")
    assert [(t.get_text(), t.get_rotation()) for t in ax.get_xticklabels()] == [("master", 0.0), ("visa", 0.0)]


def assert_legend_outside_the_data(ax):
    ax.figure.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    data = ax.get_window_extent()
    assert not legend.overlaps(data), (legend, data)
    figure = ax.figure.bbox
    assert figure.x0 <= legend.x0 and legend.x1 <= figure.x1 and legend.y1 <= figure.y1  # not cut off


def test_legends_are_outside_the_data_area(transactions, statements):
    assert_legend_outside_the_data(plot_effective_rate(fee_breakdown(transactions, by="brand"), currency="EUR"))
    assert_legend_outside_the_data(plot_fee_composition(fee_breakdown(statements, by="fee_type", freq="D")))
    assert_legend_outside_the_data(plot_balance(statements))
    assert_legend_outside_the_data(plot_payouts(payout_groups(statements)))
    assert_legend_outside_the_data(plot_payout_waterfall(payout_waterfall(statements, "P2")))


def test_legends_above_the_axes_do_not_cover_the_title(transactions, statements):
    for ax in (
        plot_effective_rate(fee_breakdown(transactions, by="brand"), currency="EUR"),
        plot_payout_waterfall(payout_waterfall(statements, "P2")),
        plot_payouts(payout_groups(statements)),
    ):
        ax.figure.canvas.draw()
        assert not ax.get_legend().get_window_extent().overlaps(ax.title.get_window_extent())


# --------------------------------------------------------------------------
# Fee composition


def test_fee_composition_stacks_groups_per_period_in_major_units(transactions):
    breakdown = fee_breakdown(transactions, by="brand", freq="M")
    ax = assert_draws_on(plot_fee_composition, breakdown, currency="EUR")
    heights = {c.get_label(): [b.get_height() for b in c] for c in ax.containers}
    assert heights == {"master": [4.0, 0.0], "visa": [3.0, 1.75]}
    bottoms = [b.get_y() for b in ax.containers[1]]
    assert bottoms == [4.0, 0.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2025-01", "2025-02"]  # named as in the tables
    assert "EUR" in ax.get_ylabel() and "EUR" in ax.get_title()


def test_fee_composition_of_statement_fee_types_adds_up_to_the_total_cost(statements):
    breakdown = fee_breakdown(statements, by="fee_type", freq="D")
    ax = plot_fee_composition(breakdown)
    per_day = np.sum([[b.get_height() for b in c] for c in ax.containers], axis=0)
    assert per_day.round(9).tolist() == [3.05, 0.37]  # 2.50 + 0.55 VAT; 0.30 + 0.07 VAT
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2025-01-06", "2025-01-07"]


def test_fee_composition_needs_a_period_and_one_currency(transactions):
    with pytest.raises(ConfigurationError, match="period"):
        plot_fee_composition(fee_breakdown(transactions, by="brand"), currency="EUR")
    with pytest.raises(ConfigurationError) as info:
        plot_fee_composition(fee_breakdown(transactions, by="brand", freq="M"))
    assert info.value.parameter == "currency"


# --------------------------------------------------------------------------
# Balance


def test_balance_is_a_step_line_in_major_units(statements):
    ax = assert_draws_on(plot_balance, statements)
    line = ax.get_lines()[0]
    assert line.get_drawstyle() == "steps-post"
    assert line.get_ydata().tolist() == [100.0, 97.5, 96.95, 0.0, 50.0, 49.7, 49.63, 0.05, 20.05]
    assert "EUR" in ax.get_ylabel() and "EUR" in ax.get_title()


def test_balance_marks_each_break_at_its_row_with_its_difference(statements):
    broken = statements.copy()
    broken.loc[6, "balance_after"] = 4_973  # 10 cents too much
    breaks = check_balances(broken)
    assert breaks["position"].tolist() == [6]
    ax = plot_balance(broken, breaks=breaks)
    marks = [line for line in ax.get_lines() if line.get_label() == "breaks"]
    assert len(marks) == 1 and marks[0].get_ydata().tolist() == [49.73]
    assert to_rgba(marks[0].get_color()) == to_rgba(COLORS["break"])
    assert [t.get_text() for t in ax.texts] == ["amount mismatch +0.10 EUR"]


def test_balance_breaks_of_another_currency_are_not_drawn(statements):
    usd = statements.assign(currency="USD")
    usd.loc[2, "balance_after"] = 9_700
    both = pd.concat([statements, usd], ignore_index=True)
    breaks = check_balances(both)
    assert breaks["currency"].tolist() == ["USD"]
    assert not plot_balance(both, breaks=breaks, currency="EUR").texts
    ax = plot_balance(both, breaks=breaks, currency="USD")
    assert [line.get_ydata().tolist() for line in ax.get_lines() if line.get_label() == "breaks"] == [[97.0]]
    with pytest.raises(ConfigurationError, match="currency"):
        plot_balance(both)


def test_balance_records_draw_one_line_per_account_named_by_what_differs():
    records = pd.DataFrame(
        {
            "merchant_id": money(21, 21, 21),
            "shop_id": money(2101, 2101, 2101),
            "gateway_id": money(302, 301, 302),
            "created_at": utc("2025-01-05", "2025-01-06", "2025-01-07"),
            "balance_after": money(1_000, 5_000, 1_250),
            "currency": ["EUR"] * 3,
        }
    )
    ax = plot_balance(records)
    assert [(line.get_label(), line.get_ydata().tolist()) for line in ax.get_lines()] == [
        ("gateway 301", [50.0]),
        ("gateway 302", [10.0, 12.5]),
    ]
    assert [line.get_label() for line in plot_balance(records.iloc[[0, 2]]).get_lines()] == ["gateway 302"]


# --------------------------------------------------------------------------
# Roll-forward


def test_roll_forward_waterfall_steps_from_opening_to_closing(statements):
    rolled = roll_forward(statements, freq="M")
    ax = assert_draws_on(plot_roll_forward, rolled, period="2025-01-15")
    bars = ax.containers[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names == ["opening", "income", "fees", "vat", "refunds", "chargebacks", "payouts", "other", "closing"]
    assert [t.get_text() for t in ax.texts] == [  # totals always, deltas only when not zero
        "0.00 EUR",
        "+170.00 EUR",
        "-2.80 EUR",
        "-0.62 EUR",
        "-146.53 EUR",
        "20.05 EUR",
    ]
    assert [round(b.get_height(), 9) for b in bars] == [0.0, 170.0, -2.8, -0.62, 0.0, 0.0, -146.53, 0.0, 20.05]
    assert [round(b.get_y(), 9) for b in bars][:4] == [0.0, 0.0, 170.0, 167.2]
    assert bars[-1].get_y() == 0.0 and bars[-1].get_height() == 20.05
    assert "EUR" in ax.get_title() and "EUR" in ax.get_ylabel() and "2025-01-01" in ax.get_title()


def test_roll_forward_shows_the_unexplained_amount_as_residual(statements):
    rolled = roll_forward(statements, freq="M").assign(reported_closing=money(2_010), unexplained=money(5))
    ax = plot_roll_forward(rolled, "2025-01-01")
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names[-3:] == ["closing", "unexplained", "reported closing"]
    residual = ax.containers[0][-2]
    assert tuple(residual.get_facecolor()) == to_rgba(COLORS["residual"]) and residual.get_hatch() == "//"
    assert ax.texts[-2].get_text() == "+0.05 EUR"


def test_roll_forward_period_and_currency_are_checked(statements):
    rolled = roll_forward(pd.concat([statements, statements.assign(currency="USD")], ignore_index=True))
    with pytest.raises(ConfigurationError) as info:
        plot_roll_forward(rolled, "2025-01-01")
    assert info.value.parameter == "currency" and "['EUR', 'USD']" in str(info.value)
    with pytest.raises(ConfigurationError, match="2025-01-01"):
        plot_roll_forward(rolled, "2024-12-31", currency="USD")


# --------------------------------------------------------------------------
# Payouts


def test_payout_waterfall_totals_full_deltas_floating(statements):
    waterfall = payout_waterfall(statements, "P1")
    ax = assert_draws_on(plot_payout_waterfall, waterfall)
    bars = ax.containers[0]
    steps = dict(zip((t.get_text() for t in ax.get_xticklabels()), bars, strict=True))
    assert steps["gross income"].get_y() == 0 and steps["gross income"].get_height() == 100.0
    assert steps["trx fees"].get_y() == 100.0 and round(steps["trx fees"].get_height(), 9) == -2.5
    assert steps["paid out"].get_y() == 0 and steps["paid out"].get_height() == 96.95
    assert steps["residual"].get_height() == 0
    assert "EUR" in ax.get_title() and "EUR" in ax.get_ylabel() and "unexplained" not in ax.get_title()


def test_payout_waterfall_labels_are_readable(statements):
    """No "+0.00 EUR" on empty steps, the zero residual said once in the title, no two labels overlap."""
    ax = plot_payout_waterfall(payout_waterfall(statements, "P1"))
    assert [t.get_text() for t in ax.texts] == ["100.00 EUR", "-2.50 EUR", "-0.55 EUR", "96.95 EUR", "96.95 EUR"]
    assert ax.get_title().endswith("residual 0.00 EUR, fully explained")
    assert "residual (unexplained)" not in [t.get_text() for t in ax.get_legend().get_texts()]
    money_columns = ["amount", "balance_before", "balance_after"]
    large = statements.assign(**{c: statements[c] * 1_000 for c in money_columns})  # net: "96,950.00 EUR"
    ax = plot_payout_waterfall(payout_waterfall(large, "P1"))
    ax.figure.canvas.draw()
    assert not overlapping(ax.texts)


def test_payout_waterfall_neighbouring_fee_labels_do_not_overlap():
    """Small neighbouring deltas (trx fees, fixed fees) of a four-digit payout, labelled side by side."""
    amounts = [119_418, -2_396, -485, -729, -115_290]
    balances = np.cumsum([0, *amounts]).tolist()
    lines = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(5)],
            "created": utc(*["2025-02-14 02:00"] * 4, "2025-02-17 00:00"),
            "type": ["INCOME", "TRX_FEE", "TRX_FEE_FIX", "VAT", "PAYOUT"],
            "amount": money(*amounts),
            "balance_before": money(*balances[:-1]),
            "balance_after": money(*balances[1:]),
            "currency": ["EUR"] * 5,
            "payout_id": pd.array(["P9"] * 5, dtype="str"),
        }
    )
    ax = plot_payout_waterfall(payout_waterfall(lines, "P9"))
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.texts][:3] == ["1,194.18 EUR", "-23.96 EUR", "-4.85 EUR"]
    assert not overlapping(ax.texts)


def test_payout_waterfall_highlights_the_residual(statements):
    ax = plot_payout_waterfall(payout_waterfall(statements, "P2"))
    residual = ax.containers[0][-1]
    assert tuple(residual.get_facecolor()) == to_rgba(COLORS["residual"])
    assert residual.get_label() == "residual (unexplained)"
    assert ax.texts[-1].get_text() == "-0.05 EUR"
    assert round(residual.get_height(), 9) == -0.05 and residual.get_y() == 49.63
    others = {tuple(b.get_facecolor()) for b in ax.containers[0][:-1]}
    assert to_rgba(COLORS["residual"]) not in others
    assert "-0.05 EUR unexplained" in ax.get_title()
    assert "residual (unexplained)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_payout_waterfall_needs_one_currency(statements):
    usd = statements.assign(currency="USD")
    both = pd.concat([statements, usd], ignore_index=True)
    with pytest.raises(ConfigurationError, match="currency"):
        plot_payout_waterfall(payout_waterfall(both, "P1"))
    ax = plot_payout_waterfall(payout_waterfall(both, "P1"), currency="USD")
    assert "USD" in ax.get_title()


def test_payout_waterfall_draws_on_an_axes_of_a_subfigure(statements):
    figure = plt.figure()
    ax = figure.subfigures(1, 2)[0].subplots()
    assert plot_payout_waterfall(payout_waterfall(statements, "P1"), ax=ax) is ax
    assert ax.get_xticklabels()[0].get_text() == "gross income"
    plt.close(figure)


def test_a_frame_whose_currencies_are_all_missing_is_refused_naming_the_column(statements):
    waterfall = payout_waterfall(statements, "P1")
    with pytest.raises(ConfigurationError, match="every row's 'currency' is missing"):
        plot_payout_waterfall(waterfall.assign(currency=pd.array([None] * len(waterfall), dtype="str")))


def test_payouts_bars_over_time_with_the_residual_highlighted(statements):
    groups = payout_groups(statements)
    ax = assert_draws_on(plot_payouts, groups)
    bars = ax.containers[0]
    assert [b.get_height() for b in bars] == [96.95, 49.58]  # the open balance is not a payout
    assert facecolors(bars) == [to_rgba(COLORS["total"]), to_rgba(COLORS["residual"])]
    assert [t.get_text() for t in ax.texts] == ["P2: residual -0.05 EUR"]
    assert "EUR" in ax.get_ylabel() and "1 with an unexplained residual" in ax.get_title()


def test_payouts_need_one_currency_and_draw_an_empty_selection(statements):
    groups = payout_groups(pd.concat([statements, statements.assign(currency="USD")], ignore_index=True))
    with pytest.raises(ConfigurationError) as info:
        plot_payouts(groups)
    assert info.value.parameter == "currency"
    ax = plot_payouts(groups.iloc[0:0], currency="EUR")
    assert not ax.containers and "EUR" in ax.get_title()


def test_ax_must_be_an_axes(statements):
    with pytest.raises(ConfigurationError, match="ax"):
        plot_payouts(payout_groups(statements), ax="left")


# --------------------------------------------------------------------------
# Over the sandbox


def test_every_plot_draws_sandbox_data():
    from ledgerkit import load_statements, load_transactions
    from ledgerkit.sandbox import Sandbox

    with Sandbox(seed=0, size=300) as sb:
        kw = {
            "base_url": sb.transactions_url,
            "shop_id": sb.credentials["transactions"].user,
            "secret_key": sb.credentials["transactions"].secret,
            "progress": False,
        }
        tx = load_transactions("2025-01-01", "2025-04-01", **kw)
        st = load_statements(
            since="2025-01-01",
            base_url=sb.statements_url,
            shop_id=sb.credentials["statements"].user,
            secret_key=sb.credentials["statements"].secret,
            progress=False,
        )
    fig, axes = plt.subplots(3, 2)
    plot_effective_rate(fee_breakdown(tx, by="gateway"), currency="EUR", ax=axes[0, 0])
    plot_fee_composition(fee_breakdown(st, freq="M"), ax=axes[0, 1])
    plot_balance(st, breaks=check_balances(st), ax=axes[1, 0])
    plot_roll_forward(roll_forward(st), "2025-02-01", ax=axes[1, 1])
    groups = payout_groups(st)
    plot_payout_waterfall(payout_waterfall(st, groups["payout_id"].iloc[0]), ax=axes[2, 0])
    ax = plot_payouts(groups, ax=axes[2, 1])
    assert plt.get_fignums() == [fig.number]
    paid = groups.loc[groups["paid_out"].notna()]
    assert [b.get_height() for b in ax.containers[0]] == (paid["paid_out"].astype("float64") / 100).tolist()
    fig.canvas.draw()
