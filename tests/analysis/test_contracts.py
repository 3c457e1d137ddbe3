"""docs/CONTRACTS.md §4.1 says what each analysis function needs of its frames: each row, checked against the function.

For every row: the function runs on a frame holding exactly what the row
says it needs; without any one of those columns it is refused with an error
naming it; and a column it uses when present is refused when not of its
kind (float money or ids, naive times).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ledgerkit import analysis as lk
from ledgerkit._ingest.schema import BALANCE_RECORDS, OPENING_BALANCE, STATEMENTS, TRANSACTIONS
from ledgerkit.errors import ConfigurationError

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"
JAN, FEB = ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01")


def utc(*days: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(days), utc=True))


def ints(*values: int) -> pd.array:
    return pd.array(list(values), dtype="Int64")


TX = pd.DataFrame(
    {
        "id": ints(1, 2),
        "uid": ["u1", "u2"],
        "type": ["payment", "payment"],
        "status": ["successful"] * 2,
        "amount": ints(1_000, 3_000),
        "transaction_fee": ints(59, 117),
        "currency": ["EUR"] * 2,
        "created_at": utc("2025-01-05", "2025-02-06"),
    }
)
ST = pd.DataFrame(
    {
        "created": utc("2025-01-05", "2025-02-05"),
        "type": ["INCOME", "TRX_FEE"],
        "amount": ints(1_000, -30),
        "currency": ["EUR"] * 2,
        "balance_before": ints(0, 1_000),
        "balance_after": ints(1_000, 970),
        "transaction_id": ["t1", "t1"],
        "transaction": ["1", "1"],
        "payout_id": pd.array(["P1", "P1"], dtype="str"),
    }
)
REC = pd.DataFrame(
    {
        "merchant_id": ints(1, 1),
        "shop_id": ints(2, 2),
        "gateway_id": ints(3, 3),
        "record_id": ints(10, 11),
        "created_at": utc("2025-01-05", "2025-02-06"),
        "transaction_uid": ["u1", "u2"],
        "transaction_id": ints(1, 2),
        "currency": ["EUR"] * 2,
        "amount": ints(1_000, 3_000),
        "fee": ints(59, 117),
        "net": ints(941, 2_883),
        "balance_before": ints(0, 941),
        "balance_after": ints(941, 3_824),
    }
)
OPEN = pd.DataFrame({"currency": ["EUR"], "opening_balance": ints(0), "date": utc("2025-01-01")})
FRAMES: dict[str, tuple[pd.DataFrame, Any]] = {
    "transactions": (TX, TRANSACTIONS),
    "statements": (ST, STATEMENTS),
    "balance records": (REC, BALANCE_RECORDS),
    "opening balance": (OPEN, OPENING_BALANCE),
    "fee model": (lk.fee_model(TX, by=()), None),
    "reconciliation result": (lk.reconcile_transactions(TX, REC), None),
}

#: (function, the role in the row) -> how to call it with the frame; the columns it also needs by the header's words.
CALLS: dict[tuple[str, str], tuple[Callable[[pd.DataFrame], Any], tuple[str, ...]]] = {
    ("fee_breakdown", ""): (lambda f: lk.fee_breakdown(f, by=()), ()),
    ("effective_rate_change", ""): (lambda f: lk.effective_rate_change(f, JAN, FEB, by=()), ("created_at",)),
    ("fee_model", ""): (lambda f: lk.fee_model(f, by=()), ()),
    ("fee_anomalies", ""): (lambda f: lk.fee_anomalies(f, FRAMES["fee model"][0]), ()),
    ("fee_anomalies", "model"): (lambda f: lk.fee_anomalies(TX, f), ()),
    ("roll_forward", ""): (lambda f: lk.roll_forward(f, opening={"EUR": 0} if "created_at" in f else None), ()),
    ("roll_forward", "opening="): (lambda f: lk.roll_forward(ST, opening=f), ()),
    ("check_balances", ""): (lk.check_balances, ()),
    ("payout_groups", ""): (lk.payout_groups, ()),
    ("payout_items", ""): (lambda f: lk.payout_items(f, "P1"), ()),
    ("payout_waterfall", ""): (lambda f: lk.payout_waterfall(f, "P1"), ()),
    ("reconcile_transactions", ""): (lambda f: lk.reconcile_transactions(f, REC), ()),
    ("reconcile_transactions", "balance_records"): (lambda f: lk.reconcile_transactions(TX, f), ()),
    ("reconciliation_summary", ""): (lk.reconciliation_summary, ()),
}


def _names(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def table_rows() -> list[tuple[str, str, str, list[list[str]], list[str]]]:
    """(function, role, frame, needs as groups of alternatives, uses) for every row of the §4.1 table."""
    text = CONTRACTS.read_text(encoding="utf-8")
    start = text.index("| function | frame | needs")
    lines = text[start : text.index("\n\n", start)].splitlines()[2:]
    rows = []
    for line in lines:
        functions, frame, needs, uses = (cell.strip() for cell in line.strip("|").split("|"))
        role = re.search(r"\((.*)\)", functions)
        groups = [_names(item) for item in needs.split(";")[0].split(", ")]
        rows.extend(
            (function, _names(role.group(1))[0] if role else "", frame, groups, _names(uses))
            for function in _names(functions.split(" (")[0])
        )
    return rows


ROWS = table_rows()
IDS = [f"{f}-{r or frame}" for f, r, frame, _, _ in ROWS]


def test_the_table_covers_every_public_analysis_function():
    assert {f for f, _, _, _, _ in ROWS} == set(lk.__all__)
    assert all((f, r) in CALLS for f, r, _, _, _ in ROWS)


@pytest.mark.parametrize("function, role, frame, needs, uses", ROWS, ids=IDS)
def test_a_frame_with_exactly_what_the_row_needs_is_taken(function, role, frame, needs, uses):
    call, also = CALLS[(function, role)]
    full = FRAMES[frame][0]
    columns = [group[0] for group in needs] + [c for c in also if c in full.columns]
    call(full[columns])


@pytest.mark.parametrize("function, role, frame, needs, uses", ROWS, ids=IDS)
def test_without_any_one_need_the_frame_is_refused_naming_it(function, role, frame, needs, uses):
    call, _also = CALLS[(function, role)]
    full = FRAMES[frame][0]
    for group in needs:
        kept = [c for c in full.columns if c not in group]
        with pytest.raises(ConfigurationError) as info:
            call(full[kept])
        assert all(f"'{name}'" in str(info.value) for name in group), (group, str(info.value))


def _mistyped(values: pd.Series, kind: str) -> pd.Series:
    if kind == "time":
        return values.dt.tz_localize(None)
    return pd.Series([1.5] * len(values), index=values.index)


@pytest.mark.parametrize(
    "function, role, frame, needs, uses",
    [r for r in ROWS if r[4]],
    ids=[i for i, r in zip(IDS, ROWS, strict=True) if r[4]],
)
def test_a_used_column_not_of_its_kind_is_refused_naming_it(function, role, frame, needs, uses):
    call, _ = CALLS[(function, role)]
    full, schema = FRAMES[frame]
    for column in uses:
        wrong = full.assign(**{column: _mistyped(full[column], schema[column].kind)})
        with pytest.raises(ConfigurationError, match=rf"\['{column}'\]=.*(never floats|whole-number|tz-aware)"):
            call(wrong)
