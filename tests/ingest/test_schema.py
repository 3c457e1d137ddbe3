"""The frame contracts of ledgerkit._ingest.schema: declared once, true of the loaders' frames, used by the analysis."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit._ingest import sheets
from ledgerkit._ingest.kinds import KINDS, MONEY_KINDS, mistyped
from ledgerkit._ingest.schema import (
    ACCOUNT,
    BALANCE_RECORDS,
    FEE_MODEL,
    OPENING_BALANCE,
    RECONCILIATION,
    STATEMENTS,
    TRANSACTIONS,
    Column,
    OneOf,
    Schema,
    frame_kind,
)
from ledgerkit.errors import ConfigurationError

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"
SCHEMAS = (TRANSACTIONS, STATEMENTS, BALANCE_RECORDS, OPENING_BALANCE, FEE_MODEL, RECONCILIATION)


# --------------------------------------------------------------------------
# One vocabulary


def test_every_column_of_every_schema_has_a_known_kind_and_the_kinds_dtype():
    assert set(KINDS) == {
        "int",
        "str",
        "category",
        "currency",
        "time",
        "bool",
        "float",
        "minor",
        "minor_float",
        "major",
    }
    assert {KINDS[k] for k in MONEY_KINDS} == {"Int64"}
    for schema in SCHEMAS:
        for column in schema.fields:
            assert column.dtype == KINDS[column.kind], (schema.name, column.name)
        assert list(schema.columns) == [c.name for c in schema.fields]
        assert schema.dtypes == {c.name: KINDS[c.kind] for c in schema.fields}


def test_a_schema_refuses_an_unknown_kind_and_a_column_declared_twice():
    with pytest.raises(ValueError, match="unknown kind 'money'"):
        Column("amount", "money")
    with pytest.raises(ValueError, match="declared twice"):
        Schema("x", "an x", (Column("a", "int"), Column("a", "str")))


def test_the_report_sheets_read_their_headers_from_the_schemas():
    assert sheets.RECORDS_COLUMNS is BALANCE_RECORDS.fields
    assert sheets.OPENING_COLUMNS is OPENING_BALANCE.fields
    assert {"balance_records": BALANCE_RECORDS.fields, "opening_balance": OPENING_BALANCE.fields} == sheets.SHEETS
    assert BALANCE_RECORDS["transaction_type"].aliases == ("Type",)
    assert [c.name for c in BALANCE_RECORDS.fields if c.required] == ["created_at", "currency", "amount"]
    assert BALANCE_RECORDS.required == ("created_at", "currency", "amount", ACCOUNT)
    assert all(c.english for s in (BALANCE_RECORDS, OPENING_BALANCE) for c in s.fields)


#: The personal-data rule as it stood before the columns carried it (patterns, then exceptions).
OLD_PII = (
    "credit_card.holder",
    "credit_card.token",
    "customer.ip",
    "customer.email",
    "billing_address.*",
    "additional_data.vendor.token",
    "additional_data.tdsecure.*",
    "three_d_secure_verification.xid",
    "three_d_secure_verification.cavv",
)


@pytest.mark.parametrize(
    "column",
    [
        *TRANSACTIONS.columns,
        "billing_address.street_2",
        "additional_data.tdsecure.new",
        "customer.name",
        "credit_card.holder_2",
        "alternative.method",
    ],
)
def test_personal_data_is_what_it_was(column):
    old = column != "billing_address.country" and any(fnmatch.fnmatchcase(column, p) for p in OLD_PII)
    assert TRANSACTIONS.is_pii(column) == old


# --------------------------------------------------------------------------
# The loaders' frames hold what their schemas declare


def _declared_dtypes(frame: pd.DataFrame, schema: Schema) -> dict[str, tuple[str, str]]:
    return {c: (str(frame[c].dtype), schema[c].dtype) for c in frame.columns if c in schema}


def test_the_loaders_frames_have_exactly_the_declared_dtypes(fresh_sandbox):
    tx = lk.load_transactions("2025-01-01", "2025-04-01", progress=False, **fresh_sandbox.kwargs("transactions"))
    st = lk.load_statements(
        since="2025-01-01", until="2025-04-01", progress=False, **fresh_sandbox.kwargs("statements")
    )
    report = lk.load_balance_records(
        "2025-01-01T00:00:00+00:00",
        "2025-04-01T00:00:00+00:00",
        currency="EUR",
        user_id=1,
        progress=False,
        poll_interval=(0.01, 0.05),
        **fresh_sandbox.kwargs("balance_records"),
    )
    for frame, schema in (
        (tx, TRANSACTIONS),
        (st, STATEMENTS),
        (report.records, BALANCE_RECORDS),
        (report.opening_balance, OPENING_BALANCE),
    ):
        assert len(frame), schema.name
        found = _declared_dtypes(frame, schema)
        assert {c: f for c, (f, declared) in found.items() if f != declared} == {}, schema.name
        assert all(c in frame.columns for c in schema.required if isinstance(c, str)), schema.name
        assert schema.check(frame, "frame", schema.required, uses=list(found)) is frame
    assert set(tx.columns) >= {c.name for c in TRANSACTIONS.fields if not c.pii and c.required}
    assert not any(TRANSACTIONS.is_pii(c) for c in tx.columns)
    assert [frame_kind(f, "frame", (TRANSACTIONS, STATEMENTS, BALANCE_RECORDS)) for f in (tx, st, report.records)] == [
        TRANSACTIONS,
        STATEMENTS,
        BALANCE_RECORDS,
    ]


# --------------------------------------------------------------------------
# Schema.check: missing and mistyped columns, named together


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "created": pd.to_datetime(["2025-01-01"], utc=True),
            "type": ["INCOME"],
            "amount": pd.array([100], dtype="Int64"),
            "currency": ["EUR"],
            "transaction": ["t1"],
        }
    )


def test_check_returns_the_frame_when_it_holds_what_is_needed():
    f = frame()
    assert STATEMENTS.check(f, "statements", STATEMENTS.required) is f
    assert STATEMENTS.check(f, "statements", (OneOf(("transaction_id", "transaction")),), labels=["type"]) is f


def test_check_names_every_missing_column_and_every_mistyped_one():
    f = frame().assign(amount=[1.5], created=pd.Timestamp("2025-01-01"))
    with pytest.raises(ConfigurationError) as info:
        STATEMENTS.check(f, "statements", (*STATEMENTS.required, "balance_before", "balance_after"))
    message = str(info.value)
    assert message.startswith(
        "statements=\"<DataFrame with columns ['created', 'type', 'amount', 'currency', "
        "'transaction']>\" is not valid: expected a DataFrame with the columns "
        "['balance_before', 'balance_after'] as well"
    )
    assert "also statements['created']='datetime64[us]': expected tz-aware" in message
    assert "also statements['amount']='float64': expected integer minor units (Int64), never floats" in message


def test_check_names_the_mistyped_column_as_the_parameter_when_nothing_is_missing():
    f = frame().assign(amount=[1.5], created=pd.Timestamp("2025-01-01"))
    with pytest.raises(ConfigurationError) as info:
        STATEMENTS.check(f, "frame", STATEMENTS.required)
    error = info.value
    assert (error.parameter, error.value) == ("frame['created']", "datetime64[us]")
    assert "; also frame['amount']='float64': expected integer minor units" in error.expected


def test_check_one_of_columns_and_used_columns_and_labels():
    f = frame().drop(columns="transaction")
    with pytest.raises(
        ConfigurationError,
        match="at least one of the columns 'transaction_id' or 'transaction' "
        r"\(what ties\)",
    ):
        STATEMENTS.check(f, "frame", (OneOf(("transaction_id", "transaction"), "what ties"),))
    with pytest.raises(ConfigurationError, match=r"frame\['balance_after'\]='float64'"):
        STATEMENTS.check(f.assign(balance_after=[1.0]), "frame", uses=("balance_after", "balance_before"))
    STATEMENTS.check(f.assign(channel=[3.5]), "frame", labels=["channel"])  # labels: any values
    with pytest.raises(ConfigurationError, match=r"the columns \['brand'\] as well"):
        STATEMENTS.check(f, "frame", labels=["brand"])


@pytest.mark.parametrize(
    "values, kind, found",
    [
        (pd.Series([1, 2], dtype="Int64"), "int", None),
        (pd.Series([1.0, np.nan]), "int", None),
        (pd.Series([1.5]), "int", ("1.5", "whole-number ids (Int64)")),
        (pd.Series(["12"]), "int", ("'12'", "whole-number ids (Int64)")),
        (pd.Series([True]), "int", ("'bool'", "whole-number ids (Int64)")),
        (pd.Series([1, "a"], dtype=object), "int", ("'a'", "whole-number ids (Int64)")),
        (pd.Series(["1"], dtype="category"), "int", ("'1'", "whole-number ids (Int64)")),
        (pd.Series([1], dtype="int8"), "minor", None),
        (pd.Series([True]), "major", ("'bool'", "integer minor units (Int64), never floats")),
        (pd.Series(["1.00"]), "minor_float", ("'str'", "integer minor units (Int64), never floats")),
        (pd.Series([1.0]), "float", None),
        (pd.Series([True]), "float", ("'bool'", "numbers (Float64)")),
        (pd.Series(["x"]), "category", None),
        (pd.Series([3]), "currency", None),
    ],
)
def test_what_each_kind_refuses(values, kind, found):
    problem = mistyped(values, kind)
    assert (problem if problem is None else (repr(problem[0]), problem[1])) == found


# --------------------------------------------------------------------------
# frame_kind: the manifest, else the identifying columns


def test_the_manifest_says_which_frame_it_is_whatever_its_columns():
    f = frame()
    f.attrs["ledgerkit"] = {"source": "balance_records"}
    assert frame_kind(f, "statements", (STATEMENTS, BALANCE_RECORDS)) is BALANCE_RECORDS
    with pytest.raises(ConfigurationError, match=r"says it is balance records"):
        frame_kind(f, "frame", (TRANSACTIONS, STATEMENTS))
    f.attrs["ledgerkit"] = {"source": "somewhere else"}  # an unknown source: the columns decide
    assert frame_kind(f, "statements", (STATEMENTS, BALANCE_RECORDS)) is STATEMENTS


def test_the_columns_say_which_frame_it_is_and_none_or_two_are_refused():
    tx = pd.DataFrame({"transaction_fee": [1], "created_at": [1]})
    records = pd.DataFrame({"created_at": [1], "gateway_id": [1]})
    assert frame_kind(tx, "frame", (TRANSACTIONS, STATEMENTS)) is TRANSACTIONS
    assert frame_kind(records, "statements", (STATEMENTS, BALANCE_RECORDS)) is BALANCE_RECORDS
    with pytest.raises(ConfigurationError, match="it has the columns of a transactions frame"):
        frame_kind(tx, "statements", (STATEMENTS, BALANCE_RECORDS))
    with pytest.raises(
        ConfigurationError,
        match=r"told apart by their columns; this frame has the columns of a "
        r"transactions frame .* and of a statements frame",
    ):
        frame_kind(tx.assign(created=1), "frame", (TRANSACTIONS, STATEMENTS))
    with pytest.raises(
        ConfigurationError,
        match=r"expected a statements frame \(with the column 'created'\) or "
        r"balance records \(with the column 'created_at' and at least one",
    ):
        frame_kind(pd.DataFrame({"amount": [1]}), "statements", (STATEMENTS, BALANCE_RECORDS))
    only = frame_kind(pd.DataFrame({"amount": [1]}), "transactions", (TRANSACTIONS,))
    assert only is TRANSACTIONS  # one kind accepted: its check names what is missing


def test_an_analysis_function_says_which_frame_it_was_given():
    st = frame().assign(
        balance_before=pd.array([0], dtype="Int64"),
        balance_after=pd.array([100], dtype="Int64"),
        payout_id=pd.array([None], dtype="str"),
    )
    st.attrs["ledgerkit"] = {"source": "statements"}
    with pytest.raises(
        ConfigurationError,
        match=r"transactions='<a statements frame>' is not valid: expected a "
        r"transactions frame .*manifest",
    ):
        lk.fee_model(st)
    with pytest.raises(ConfigurationError, match="balance_records='<a statements frame>'"):
        lk.reconcile_transactions(
            pd.DataFrame(
                {
                    "id": pd.array([1], dtype="Int64"),
                    "uid": ["u1"],
                    "type": ["payment"],
                    "status": ["successful"],
                    "amount": pd.array([100], dtype="Int64"),
                    "transaction_fee": pd.array([1], dtype="Int64"),
                    "currency": ["EUR"],
                }
            ),
            st,
        )
    assert len(lk.payout_groups(st)) == 1


# --------------------------------------------------------------------------
# docs/CONTRACTS.md shows the tables as generated


@pytest.mark.parametrize("schema", SCHEMAS, ids=[s.name for s in SCHEMAS])
def test_the_contracts_document_shows_each_schema_as_declared(schema):
    assert schema.markdown() in CONTRACTS.read_text(encoding="utf-8"), (
        f"docs/CONTRACTS.md: paste {schema.name}'s table from ledgerkit._ingest.schema.{schema.name.upper()}.markdown()"
    )
