"""The one display formatter: money in major units per row currency, floats rounded, no personal data."""

from __future__ import annotations

import pandas as pd
import pytest

from ledgerkit.analysis import fee_breakdown, roll_forward
from ledgerkit.app import notebook
from ledgerkit.errors import ConfigurationError
from ledgerkit.viz.display import (
    NONE_LABEL,
    PII_PREFIXES,
    DisplayTable,
    money_columns,
    period_format,
    period_labels,
    show,
)


def ints(*values: int) -> pd.array:
    return pd.array(list(values), dtype="Int64")


@pytest.fixture
def payouts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payout_id": ["7", "8", "9", None],
            "currency": pd.Categorical(["EUR", "JPY", "KWD", "EUR"]),
            "rows": ints(3, 1, 2, 0),
            "net": pd.array([123456, -1500, 1, pd.NA], dtype="Int64"),
            "rate_bp": pd.array([204.115, None, 0.0, 1.0], dtype="Float64"),
            "paid_at": pd.to_datetime(["2025-01-02", None, "2025-01-03", "2025-01-04"], utc=True),
        }
    )


def test_notebook_show_is_the_display_formatter():
    assert notebook.show is show and notebook.money_columns is money_columns


def test_with_code_and_digits_for_the_explorers(payouts):
    """The plain form (money, counts, times, blanks) is pinned in tests/app/test_notebooks.py; here the options."""
    plain, coded = show(payouts), show(payouts, with_code=True, digits=1)
    assert coded["net"].tolist() == ["1,234.56 EUR", "-1,500 JPY", "0.001 KWD", ""]
    assert coded["net"].tolist() == [
        f"{t} {c}" if t else "" for t, c in zip(plain["net"], plain["currency"], strict=True)
    ]
    assert coded["rate_bp"].tolist() == ["204.1", "", "0.0", "1.0"]
    assert coded["rows"].tolist() == plain["rows"].tolist() == ["3", "1", "2", "0"]  # a count, not money
    assert coded.drop(columns=["net", "rate_bp"]).equals(plain.drop(columns=["net", "rate_bp"]))
    assert coded.dtypes.eq("str").all()
    assert payouts["net"].tolist()[0] == 123456  # the input is untouched


def test_never_shows_pii_unless_asked():
    table = pd.DataFrame(
        {
            "currency": ["EUR"],
            "fee": ints(5),
            "customer.email": ["a@example.com"],
            "billing_address.city": ["Tallinn"],
            "credit_card.brand": ["visa"],
            "credit_card.holder": ["Jane Doe"],
            "merchant_reference": ["order 1"],
        }
    )
    shown = show(table, with_code=True)
    assert list(shown.columns) == ["currency", "fee", "credit_card.brand"]
    assert shown["fee"].tolist() == ["0.05 EUR"]
    assert list(show(table, columns=["customer.email", "fee"]).columns) == ["fee"]  # even when named
    assert show(table, drop_pii=False)["customer.email"].tolist() == ["a@example.com"]
    assert all(not c.startswith(PII_PREFIXES) for c in ("credit_card.brand", "credit_card.issuer_country"))


def test_currency_for_frames_without_a_currency_column():
    frame = pd.DataFrame({"fee": ints(5, 250), "fixed": ints(25, 30), "n": ints(1, 2)})
    assert show(frame, currency="EUR").to_dict("list") == {
        "fee": ["0.05", "2.50"],
        "fixed": ["0.25", "0.30"],
        "n": ["1", "2"],
    }
    assert show(frame, currency="JPY", money=["fee"], columns=["fee", "fixed"], with_code=True).to_dict("list") == {
        "fee": ["5 JPY", "250 JPY"],
        "fixed": ["25", "30"],
    }
    with pytest.raises(ConfigurationError, match="currency"):
        show(frame)  # money but no currency
    assert show(frame[["n"]]).to_dict("list") == {"n": ["1", "2"]}  # no money, no currency needed


def test_each_row_keeps_its_own_currency_when_index_labels_repeat():
    frame = pd.DataFrame(
        {"currency": ["EUR", "JPY", "KWD"], "net": pd.array([123456, 1500, -6], dtype="Int64")}, index=[0, 0, 1]
    )
    assert show(frame, with_code=True).to_dict("list") == {
        "currency": ["EUR", "JPY", "KWD"],
        "net": ["1,234.56 EUR", "1,500 JPY", "-0.006 KWD"],
    }


def test_money_columns_by_convention():
    frame = pd.DataFrame(
        {
            c: ints(1)
            for c in (
                "id",
                "shop.id",
                "payout_id",
                "count",
                "volume_count",
                "position",
                "rows",
                "n",
                "amount",
                "closing",
            )
        }
    )
    assert money_columns(frame.assign(rate=[1.5], fee64=pd.array([1], dtype="int64"))) == ["amount", "closing"]


@pytest.fixture
def statements() -> pd.DataFrame:
    """Two EUR rows six weeks apart, chained."""
    return pd.DataFrame(
        {
            "created": pd.to_datetime(["2025-01-14 09:30", "2025-02-25 10:00"], utc=True),
            "type": ["INCOME", "TRX_FEE"],
            "amount": ints(1000, -30),
            "balance_before": ints(0, 1000),
            "balance_after": ints(1000, 970),
            "currency": ["EUR", "EUR"],
        }
    )


@pytest.mark.parametrize(
    "freq, first, last, count",
    [
        ("M", "2025-01", "2025-02", 2),
        ("W", "2025-W03", "2025-W09", 7),
        ("D", "2025-01-14", "2025-02-25", 43),
        ("ME", "2025-01", "2025-02", 2),
        ("W-SUN", "2025-W03", "2025-W09", 7),
        ("QE", "2025-Q1", "2025-Q1", 1),
        ("QS-JAN", "2025-Q1", "2025-Q1", 1),
        ("YS", "2025", "2025", 1),
        ("W-SAT", "2025-01-12", "2025-02-23", 7),  # weeks from Sunday are no ISO weeks: named by their first day
        ("QE-JAN", "2024-11-01", "2025-02-01", 2),
        ("YE-JUN", "2024-07-01", "2024-07-01", 1),
    ],
)
def test_periods_are_named_by_their_length(statements, freq, first, last, count):
    shown = show(roll_forward(statements, freq=freq))
    assert shown["period"].tolist()[0] == first and shown["period"].tolist()[-1] == last
    assert len(shown) == count and "period_end" not in shown.columns  # the label says where it ends
    assert shown.columns.tolist()[:2] == ["currency", "period"]
    assert "period_end" in show(roll_forward(statements, freq=freq), columns=["period", "period_end"]).columns


def test_period_format_is_sure_or_says_the_day():
    starts = pd.Series(pd.to_datetime(["2025-01-13", "2025-01-20"], utc=True))
    assert period_format(starts) == "%G-W%V"  # Mondays a week apart
    assert period_format(starts.iloc[:1]) == "%Y-%m-%d"  # one Monday: could be a day
    assert period_format(starts.iloc[:1], starts.iloc[:1] + pd.Timedelta(days=7)) == "%G-W%V"
    assert period_format(starts + pd.Timedelta(hours=1)) == "%Y-%m-%d"
    with pytest.raises(ConfigurationError, match="freq"):
        period_format(starts, freq="Q")  # pandas 3 says 'QE'
    with pytest.raises(ConfigurationError, match="freq"):
        period_format(starts, freq="2W")
    breakdown = fee_breakdown(
        pd.DataFrame(
            {
                "type": ["payment"] * 2,
                "status": ["successful"] * 2,
                "amount": ints(100, 100),
                "transaction_fee": ints(1, 1),
                "currency": ["EUR"] * 2,
                "created_at": pd.to_datetime(["2025-01-05", "2025-02-05"], utc=True),
            }
        ),
        by=(),
        freq="M",
    )
    assert show(breakdown)["period"].tolist() == ["2025-01", "2025-02"]


def test_quarters_and_years_are_named_from_their_ends_or_their_steps():
    quarters = pd.Series(pd.to_datetime(["2024-10-01", "2025-01-01", "2025-04-01"], utc=True))
    ends = quarters + pd.DateOffset(months=3)
    assert period_labels(quarters) == ["2024-Q4", "2025-Q1", "2025-Q2"]
    assert period_labels(quarters.iloc[:1], ends.iloc[:1]) == ["2024-Q4"]
    assert period_labels(quarters.iloc[:1]) == ["2024-10-01"]  # one start alone: could be a day
    fiscal = pd.Series(pd.to_datetime(["2024-11-01", "2025-02-01"], utc=True))
    assert period_labels(fiscal) == ["2024-11-01", "2025-02-01"]  # quarters from February: their first day
    years = pd.Series(pd.to_datetime(["2024-01-01", "2025-01-01", None], utc=True))
    assert period_labels(years) == ["2024", "2025", ""]
    assert period_labels(years.iloc[:1], years.iloc[:1] + pd.DateOffset(years=1)) == ["2024"]
    assert period_labels(pd.Series(pd.to_datetime(["2024-07-01", "2025-07-01"], utc=True))) == [
        "2024-07-01",
        "2025-07-01",
    ]
    assert period_labels(quarters, freq="D") == ["2024-10-01", "2025-01-01", "2025-04-01"]
    skipped = pd.Series(pd.to_datetime(["2025-01-01", "2025-07-01"], utc=True))
    assert period_format(skipped) == "%Y-%m-%d"  # a gap: quarters or half-years, not told


def test_a_quarterly_fee_breakdown_is_shown_by_quarter():
    breakdown = fee_breakdown(
        pd.DataFrame(
            {
                "type": ["payment"] * 3,
                "status": ["successful"] * 3,
                "amount": ints(100, 100, 100),
                "transaction_fee": ints(1, 1, 1),
                "currency": ["EUR"] * 3,
                "created_at": pd.to_datetime(["2025-01-05", "2025-05-05", "2025-08-30"], utc=True),
            }
        ),
        by=(),
        freq="QE",
    )
    assert show(breakdown)["period"].tolist() == ["2025-Q1", "2025-Q2", "2025-Q3"]
    assert show(breakdown.iloc[:1], freq="QS")["period"].tolist() == ["2025-Q1"]


def test_utc_times_without_the_redundant_offset(payouts):
    assert show(payouts)["paid_at"].tolist() == [
        "2025-01-02 00:00:00",
        "",
        "2025-01-03 00:00:00",
        "2025-01-04 00:00:00",
    ]
    tallinn = payouts.assign(paid_at=payouts["paid_at"].dt.tz_convert("Europe/Tallinn"))
    assert show(tallinn)["paid_at"].tolist()[0] == "2025-01-02 02:00:00+02:00"


def test_a_group_without_a_value_is_labelled_as_in_the_charts():
    from ledgerkit.viz._layout import group_labels

    breakdown = pd.DataFrame(
        {
            "currency": ["EUR", "EUR"],
            "credit_card.brand": ["visa", None],
            "channel": [None, "ideal"],
            "payout_id": [None, "7"],
        }
    )
    shown = show(breakdown)
    assert shown["credit_card.brand"].tolist() == ["visa", NONE_LABEL] == group_labels(breakdown, ["credit_card.brand"])
    assert shown["channel"].tolist() == [NONE_LABEL, "ideal"]
    assert shown["payout_id"].tolist() == ["", "7"]  # not a group: the open balance has no payout id


def test_shown_without_the_row_index(payouts):
    shown = show(payouts.set_index(pd.Index([10, 11, 12, 13])))
    assert isinstance(shown, DisplayTable) and isinstance(shown.head(2), DisplayTable)
    html = shown._repr_html_()
    assert html.split("<tbody>")[0].count("<th>") == len(shown.columns)
    assert ">10<" not in html and "1,234.56" in html
    assert repr(shown).splitlines()[0].split() == list(shown.columns)
    assert repr(shown.iloc[:0]) == "(no rows) columns: currency, payout_id, rows, net, rate_bp, paid_at"
