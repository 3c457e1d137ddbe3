"""freq= takes ledgerkit's D/W/M and pandas offset aliases: exact UTC period starts, periods that partition the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit.analysis import fee_breakdown, roll_forward
from ledgerkit.analysis.periods import Freq, check_freq, period_end, period_range, period_start
from ledgerkit.errors import ConfigurationError

#: Each accepted alias and ledgerkit's own spelling of the same periods (None: no old spelling).
SAME_AS = {
    "D": "D",
    "d": "D",
    "W": "W",
    "w": "W",
    "W-SUN": "W",
    "M": "M",
    "m": "M",
    "ME": "M",
    "MS": "M",
    "QE": None,
    "QS": None,
    "QE-DEC": None,
    "QE-MAR": None,
    "QS-JAN": None,
    "QS-APR": None,
    "QE-JAN": None,
    "QS-FEB": None,
    "YE": None,
    "YS": None,
    "YE-DEC": None,
    "YS-JAN": None,
    "YE-JUN": None,
    "YS-JUL": None,
    "W-MON": None,
    "W-SAT": None,
    "W-WED": None,
}


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True, format="ISO8601"))


def days(series: pd.Series) -> list[str]:
    return series.dt.strftime("%a %Y-%m-%d").tolist()


# --------------------------------------------------------------------------
# What each alias means


@pytest.mark.parametrize(
    "alias, unit, start",
    [
        ("D", "D", 0),
        ("W", "W", 0),
        ("W-SUN", "W", 0),
        ("W-MON", "W", 1),
        ("W-SAT", "W", 6),
        ("M", "M", 0),
        ("ME", "M", 0),
        ("MS", "M", 0),
        ("QE", "Q", 0),
        ("QS", "Q", 0),
        ("QE-MAR", "Q", 0),
        ("QE-JAN", "Q", 1),
        ("QS-FEB", "Q", 1),
        ("QE-FEB", "Q", 2),
        ("YE", "Y", 0),
        ("YS", "Y", 0),
        ("YE-JUN", "Y", 6),
        ("YS-JUL", "Y", 6),
    ],
)
def test_each_alias_names_one_kind_of_period(alias, unit, start):
    assert check_freq(alias) == Freq(unit, start)
    assert check_freq(alias).alias == alias


@pytest.mark.parametrize(
    "bad",
    [
        "2D",
        "2W",
        "3ME",
        "h",
        "min",
        "s",
        "ms",
        "B",
        "C",
        "BME",
        "BMS",
        "BQE",
        "BYS",
        "SMS",
        "SME",
        "Y",
        "Q",
        "H",
        "A",
        "me",
        "fortnight",
        "",
        None,
        3,
        ("M",),
    ],
)
def test_what_names_no_calendar_period_is_refused_naming_freq(bad):
    with pytest.raises(ConfigurationError) as info:
        check_freq(bad)
    assert info.value.parameter == "freq"
    assert "'D' (day), 'W' (week from Monday), 'M' (month), or a pandas offset alias" in str(info.value)
    assert "multiples ('2D'), sub-day ('h'), business-day ('B', 'BME')" in str(info.value)


def test_a_removed_pandas_alias_gets_pandas_hint():
    with pytest.raises(ConfigurationError, match=r"pandas says: .*'YE' instead"):
        check_freq("Y")


def test_exact_period_starts_of_weeks_anchored_on_sunday_and_saturday():
    when = ts(
        "2025-01-11 23:59:59", "2025-01-12 00:00:00", "2025-01-13 00:00:00", "2025-01-18 12:00"
    )  # Sat Sun Mon Sat
    assert days(period_start(when, "W-SAT")) == ["Sun 2025-01-05", "Sun 2025-01-12", "Sun 2025-01-12", "Sun 2025-01-12"]
    assert days(period_start(when, "W-SUN")) == ["Mon 2025-01-06", "Mon 2025-01-06", "Mon 2025-01-13", "Mon 2025-01-13"]
    assert days(period_start(when, "W-MON")) == ["Tue 2025-01-07", "Tue 2025-01-07", "Tue 2025-01-07", "Tue 2025-01-14"]
    starts = period_start(when, "W-SAT")
    assert days(pd.Series(period_end(starts, "W-SAT"))) == [
        "Sun 2025-01-12",
        "Sun 2025-01-19",
        "Sun 2025-01-19",
        "Sun 2025-01-19",
    ]


def test_exact_period_starts_of_quarters_and_years():
    when = ts("2024-12-31 23:59:59", "2025-01-01", "2025-03-31 23:00", "2025-04-01", "2025-07-15", "2025-11-30")
    calendar = ["2024-10-01", "2025-01-01", "2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]
    for alias in ("QE", "QS", "QE-DEC", "QE-MAR", "QS-JAN", "QS-APR"):
        assert period_start(when, alias).dt.strftime("%Y-%m-%d").tolist() == calendar, alias
    from_feb = ["2024-11-01", "2024-11-01", "2025-02-01", "2025-02-01", "2025-05-01", "2025-11-01"]
    assert period_start(when, "QE-JAN").dt.strftime("%Y-%m-%d").tolist() == from_feb
    assert period_start(when, "QS-FEB").dt.strftime("%Y-%m-%d").tolist() == from_feb
    assert period_start(when, "YE").dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01"] + ["2025-01-01"] * 5
    july = ["2024-07-01"] * 4 + ["2025-07-01"] * 2
    assert period_start(when, "YE-JUN").dt.strftime("%Y-%m-%d").tolist() == july
    assert period_start(when, "YS-JUL").dt.strftime("%Y-%m-%d").tolist() == july
    starts = period_start(when, "QE-JAN")
    assert pd.Series(period_end(starts, "QE-JAN")).dt.strftime("%Y-%m-%d").tolist()[:3] == [
        "2025-02-01",
        "2025-02-01",
        "2025-05-01",
    ]
    assert period_range(pd.Timestamp("2024-11-01", tz="UTC"), pd.Timestamp("2025-05-01", tz="UTC"), "QS-FEB").strftime(
        "%Y-%m-%d"
    ).tolist() == ["2024-11-01", "2025-02-01", "2025-05-01"]


def test_a_missing_time_has_no_period():
    assert period_start(pd.Series(pd.to_datetime(["2025-01-15", None], utc=True)), "QE").isna().tolist() == [
        False,
        True,
    ]


#: An accepted alias -> the pandas Period frequency that names the same spans (Series.dt.to_period).
TO_PERIOD = {
    "D": "D",
    "W": "W-SUN",
    "W-SUN": "W-SUN",
    "W-MON": "W-MON",
    "W-SAT": "W-SAT",
    "W-WED": "W-WED",
    "M": "M",
    "ME": "M",
    "MS": "M",
    "QE": "Q-DEC",
    "QS": "Q-DEC",
    "QE-MAR": "Q-MAR",
    "QE-JAN": "Q-JAN",
    "QS-FEB": "Q-JAN",
    "QS-APR": "Q-MAR",
    "YE": "Y-DEC",
    "YS": "Y-DEC",
    "YE-JUN": "Y-JUN",
    "YS-JUL": "Y-JUN",
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-2 * 10**9, 4 * 10**9), min_size=1, max_size=40), st.sampled_from(sorted(TO_PERIOD)))
def test_period_starts_are_those_of_pandas_periods(seconds, alias):
    when = pd.Series(pd.to_datetime(seconds, unit="s", utc=True))
    expected = when.dt.tz_convert(None).dt.to_period(TO_PERIOD[alias]).dt.start_time.dt.tz_localize("UTC")
    assert period_start(when, alias).tolist() == expected.tolist()


# --------------------------------------------------------------------------
# The analysis: every alias as its old spelling, periods that partition the rows


def transactions(seconds: list[int], fees: list[int]) -> pd.DataFrame:
    n = len(seconds)
    return pd.DataFrame(
        {
            "id": pd.array(range(1, n + 1), dtype="Int64"),
            "type": ["payment"] * n,
            "status": ["successful"] * n,
            "amount": pd.array([10_000] * n, dtype="Int64"),
            "transaction_fee": pd.array(fees, dtype="Int64"),
            "currency": ["EUR"] * n,
            "created_at": pd.to_datetime(seconds, unit="s", utc=True),
        }
    )


def statements(seconds: list[int], amounts: list[int]) -> pd.DataFrame:
    order = np.argsort(seconds, kind="stable")
    moves = np.asarray(amounts, dtype="int64")[order]
    after = 1_000 + np.cumsum(moves)
    types = np.where(moves > 0, "INCOME", "TRX_FEE")
    return pd.DataFrame(
        {
            "created": pd.to_datetime(np.asarray(seconds)[order], unit="s", utc=True),
            "type": types,
            "amount": pd.array(moves, dtype="Int64"),
            "balance_before": pd.array(after - moves, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
            "currency": "EUR",
            "transaction_id": pd.array([f"t{i}" for i in range(len(moves))], dtype="str"),
        }
    )


JAN_2024, JAN_2026 = 1_704_067_200, 1_767_225_600
TIMES = st.lists(st.integers(JAN_2024, JAN_2026), min_size=1, max_size=30)


@pytest.mark.parametrize("alias", [a for a, old in SAME_AS.items() if old is not None])
def test_an_alias_gives_what_its_old_spelling_gives(alias):
    seconds = list(range(JAN_2024, JAN_2026, 86_400 * 9 + 3_600))
    tx = transactions(seconds, [i % 50 for i in range(len(seconds))])
    st_ = statements(seconds, [(-1) ** i * (100 + i) for i in range(len(seconds))])
    old = SAME_AS[alias]
    pd.testing.assert_frame_equal(fee_breakdown(tx, by=(), freq=alias), fee_breakdown(tx, by=(), freq=old))
    pd.testing.assert_frame_equal(roll_forward(st_, freq=alias), roll_forward(st_, freq=old))


@settings(max_examples=30, deadline=None)
@given(TIMES, st.sampled_from(sorted(SAME_AS)), st.data())
def test_periods_partition_the_rows_and_totals_add_up(seconds, alias, data):
    fees = data.draw(st.lists(st.integers(0, 10**6), min_size=len(seconds), max_size=len(seconds)))
    tx = transactions(seconds, fees)
    out = fee_breakdown(tx, by=(), freq=alias)
    assert int(out["fee"].sum()) == sum(fees) and int(out["count"].sum()) == len(seconds)
    assert out["period"].is_unique
    starts = period_start(tx["created_at"], alias)
    assert set(starts) == set(out["period"])  # each row in exactly one period: its own start
    ends = pd.Series(period_end(pd.DatetimeIndex(starts), alias), index=starts.index)
    assert (starts <= tx["created_at"]).all() and (tx["created_at"] < ends).all()

    amounts = data.draw(st.lists(st.integers(-(10**5), 10**5), min_size=len(seconds), max_size=len(seconds)))
    rolled = roll_forward(statements(seconds, amounts), freq=alias)
    assert int(rolled["rows"].sum()) == len(seconds)
    assert (rolled["period_end"].iloc[:-1].to_numpy() == rolled["period"].iloc[1:].to_numpy()).all()  # contiguous
    assert (rolled["opening"].iloc[1:].to_numpy() == rolled["closing"].iloc[:-1].to_numpy()).all()
    assert int(rolled["closing"].iloc[-1]) == 1_000 + sum(amounts) and (rolled["unexplained"] == 0).all()
    assert int((rolled["income"] + rolled["fees"]).sum()) == sum(amounts)
