"""The one display formatter: money in major units per row currency, floats rounded, no personal data."""

from __future__ import annotations

import pandas as pd
import pytest

from ledgerkit.app import notebook
from ledgerkit.viz.display import PII_PREFIXES, money_columns, show
from ledgerkit.errors import ConfigurationError


def ints(*values: int) -> pd.array:
    return pd.array(list(values), dtype="Int64")


@pytest.fixture
def payouts() -> pd.DataFrame:
    return pd.DataFrame({
        "payout_id": ["7", "8", "9", None],
        "currency": pd.Categorical(["EUR", "JPY", "KWD", "EUR"]),
        "rows": ints(3, 1, 2, 0),
        "net": pd.array([123456, -1500, 1, pd.NA], dtype="Int64"),
        "rate_bp": pd.array([204.115, None, 0.0, 1.0], dtype="Float64"),
        "paid_at": pd.to_datetime(["2025-01-02", None, "2025-01-03", "2025-01-04"], utc=True),
    })


def test_notebook_show_is_the_display_formatter():
    assert notebook.show is show and notebook.money_columns is money_columns


def test_with_code_and_digits_for_the_explorers(payouts):
    """The plain form (money, counts, times, blanks) is pinned in tests/app/test_notebooks.py; here the options."""
    plain, coded = show(payouts), show(payouts, with_code=True, digits=1)
    assert coded["net"].tolist() == ["1,234.56 EUR", "-1,500 JPY", "0.001 KWD", ""]
    assert coded["net"].tolist() == [f"{t} {c}" if t else "" for t, c in zip(plain["net"], plain["currency"])]
    assert coded["rate_bp"].tolist() == ["204.1", "", "0.0", "1.0"]
    assert coded["rows"].tolist() == plain["rows"].tolist() == ["3", "1", "2", "0"]  # a count, not money
    assert coded.drop(columns=["net", "rate_bp"]).equals(plain.drop(columns=["net", "rate_bp"]))
    assert coded.dtypes.eq("str").all()
    assert payouts["net"].tolist()[0] == 123456  # the input is untouched


def test_never_shows_pii_unless_asked():
    table = pd.DataFrame({"currency": ["EUR"], "fee": ints(5), "customer.email": ["a@example.com"],
                          "billing_address.city": ["Tallinn"], "credit_card.brand": ["visa"],
                          "credit_card.holder": ["Jane Doe"], "merchant_reference": ["order 1"]})
    shown = show(table, with_code=True)
    assert list(shown.columns) == ["currency", "fee", "credit_card.brand"]
    assert shown["fee"].tolist() == ["0.05 EUR"]
    assert list(show(table, columns=["customer.email", "fee"]).columns) == ["fee"]  # even when named
    assert show(table, drop_pii=False)["customer.email"].tolist() == ["a@example.com"]
    assert all(not c.startswith(PII_PREFIXES) for c in ("credit_card.brand", "credit_card.issuer_country"))


def test_currency_for_frames_without_a_currency_column():
    frame = pd.DataFrame({"fee": ints(5, 250), "fixed": ints(25, 30), "n": ints(1, 2)})
    assert show(frame, currency="EUR").to_dict("list") == {
        "fee": ["0.05", "2.50"], "fixed": ["0.25", "0.30"], "n": ["1", "2"]}
    assert show(frame, currency="JPY", money=["fee"], columns=["fee", "fixed"], with_code=True).to_dict("list") == {
        "fee": ["5 JPY", "250 JPY"], "fixed": ["25", "30"]}
    with pytest.raises(ConfigurationError, match="currency"):
        show(frame)  # money but no currency
    assert show(frame[["n"]]).to_dict("list") == {"n": ["1", "2"]}  # no money, no currency needed


def test_money_columns_by_convention():
    frame = pd.DataFrame({c: ints(1) for c in
                          ("id", "shop.id", "payout_id", "count", "volume_count", "position", "rows", "n",
                           "amount", "closing")})
    assert money_columns(frame.assign(rate=[1.5], fee64=pd.array([1], dtype="int64"))) == ["amount", "closing"]
