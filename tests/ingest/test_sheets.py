"""The report-file reader: CSV or XLSX, English or Russian, and bad files."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerkit._ingest.sheets import (
    OPENING_COLUMNS,
    _text_to_minor,
    read_csv_sheet,
    read_report_file,
    snake_case,
)
from ledgerkit._ingest.sheets import (
    RECORDS_COLUMNS as ALL_RECORDS_COLUMNS,
)
from ledgerkit.errors import DataError
from ledgerkit.money import decimals_to_minor

#: The columns of the sandbox's begateway sheet (every known one but Description).
RECORDS_COLUMNS = tuple(c for c in ALL_RECORDS_COLUMNS if c.name != "description")

RECORDS = [
    # merchant, mname, shop, sname, gw, gwname, record, created, uid, txid, type, cur, amount, fee, net, before, after
    [
        1,
        "Acme",
        11,
        "Acme shop",
        101,
        "EUR cards",
        1,
        "2025-01-01 10:00:00",
        "20528-f87e29fa35",
        501,
        "payment",
        "EUR",
        "10.00",
        "0.29",
        "9.71",
        "0.00",
        "9.71",
    ],
    [
        1,
        "Acme",
        11,
        "Acme shop",
        101,
        "EUR cards",
        2,
        "2025-01-01 11:30:00",
        "7f1c0a8e-1b2c-4d3e-8f90-1234567890ab",
        502,
        "refund",
        "EUR",
        "-5.50",
        "0.00",
        "-5.50",
        "9.71",
        "4.21",
    ],
    [
        1,
        "Acme",
        12,
        "Acme JP",
        102,
        "JPY cards",
        3,
        "2025-01-02 00:00:00",
        "",
        503,
        "payment",
        "JPY",
        "1500",
        "45",
        "1455",
        "0",
        "1455",
    ],
    [
        2,
        'Кузя; "Ltd"',
        13,
        "Магазин, 1",
        103,
        "KWD gw",
        4,
        "2025-01-03 23:59:59",
        "x",
        504,
        "payout",
        "KWD",
        "-1.234",
        "0.000",
        "-1.234",
        "2.000",
        "0.766",
    ],
]
OPENING = [
    [1, "Acme", 11, "Acme shop", 101, "EUR cards", "EUR", "2025-01-01 00:00:00", "0.00"],
    [1, "Acme", 12, "Acme JP", 102, "JPY cards", "JPY", "2025-01-01 00:00:00", "0"],
    [2, 'Кузя; "Ltd"', 13, "Магазин, 1", 103, "KWD gw", "KWD", "2025-01-01 00:00:00", "2.000"],
]


def headers(columns, language):
    return [c.english if language == "en" else c.russian for c in columns]


def csv_bytes(header, rows, *, delimiter=",", bom=True, newline="\r\n", decimal_comma=False):
    def cell(v):
        text = str(v)
        if decimal_comma and isinstance(v, str) and text.replace("-", "").replace(".", "").isdigit():
            text = text.replace(".", ",")
        if any(ch in text for ch in (delimiter, '"', "\n")):
            text = '"' + text.replace('"', '""') + '"'
        return text

    lines = [delimiter.join(cell(h) for h in header)] + [delimiter.join(cell(v) for v in row) for row in rows]
    return (b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode("utf-8")


def zip_bytes(members: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    buf.seek(0)
    return buf


def csv_zip(language="en", **kw) -> io.BytesIO:
    return zip_bytes(
        {
            "balance_records.csv": csv_bytes(headers(RECORDS_COLUMNS, language), RECORDS, **kw),
            "opening_balance.csv": csv_bytes(headers(OPENING_COLUMNS, language), OPENING, **kw),
        }
    )


def _numbers(row, columns):
    out = []
    for text, col in zip(row, columns, strict=True):
        value = float(Decimal(text)) if col.kind == "major" else text
        out.append(None if value == "" else value)
    return out


def xlsx_bytes(language="en", sheet_names=("balance_records", "opening_balance")) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_names[0]
    ws.append(headers(RECORDS_COLUMNS, language))
    for row in RECORDS:
        ws.append(_numbers(row, RECORDS_COLUMNS))
    ws2 = wb.create_sheet(sheet_names[1])
    ws2.append(headers(OPENING_COLUMNS, language))
    for row in OPENING:
        ws2.append(_numbers(row, OPENING_COLUMNS))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_zip(language="en", **kw) -> io.BytesIO:
    return zip_bytes({"balance_records.xlsx": xlsx_bytes(language, **kw)})


@pytest.fixture(scope="module")
def reference():
    return read_report_file(csv_zip("en"))


# --------------------------------------------------------------------------- the good path


def test_records_exact_values_and_dtypes(reference):
    df = reference.records
    assert list(df.columns) == [c.name for c in RECORDS_COLUMNS]
    assert df["amount"].tolist() == [1000, -550, 1500, -1234]
    assert df["fee"].tolist() == [29, 0, 45, 0]
    assert df["net"].tolist() == [971, -550, 1455, -1234]
    assert df["balance_after"].tolist() == [971, 421, 1455, 766]
    assert (df["balance_after"] == df["balance_before"] + df["net"]).all()
    assert df["currency"].tolist() == ["EUR", "EUR", "JPY", "KWD"]
    assert df["merchant_name"].iloc[3] == 'Кузя; "Ltd"'
    assert df["shop_name"].iloc[3] == "Магазин, 1"
    assert pd.isna(df["transaction_uid"].iloc[2])
    assert df["created_at"].iloc[3] == pd.Timestamp("2025-01-03 23:59:59", tz="UTC")
    assert reference.rounded_values == 0 and reference.format == "csv"
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    for col in (
        "merchant_id",
        "shop_id",
        "gateway_id",
        "record_id",
        "transaction_id",
        "amount",
        "fee",
        "net",
        "balance_before",
        "balance_after",
    ):
        assert dtypes[col] == "Int64", col
    assert dtypes["created_at"] == "datetime64[ns, UTC]"
    assert dtypes["currency"] == dtypes["transaction_type"] == "category"
    assert dtypes["merchant_name"] == dtypes["transaction_uid"] == "str"


def test_opening_exact_values_and_dtypes(reference):
    df = reference.opening_balance
    assert list(df.columns) == [c.name for c in OPENING_COLUMNS]
    assert df["opening_balance"].tolist() == [0, 0, 2000]
    assert str(df["opening_balance"].dtype) == "Int64"
    assert str(df["date"].dtype) == "datetime64[ns, UTC]"
    assert (df["date"] == pd.Timestamp("2025-01-01", tz="UTC")).all()


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: csv_zip("ru"), id="csv-ru"),
        pytest.param(lambda: csv_zip("en", bom=False, newline="\n"), id="csv-no-bom-lf"),
        pytest.param(lambda: csv_zip("ru", delimiter=";", decimal_comma=True), id="csv-semicolon-decimal-comma"),
        pytest.param(lambda: csv_zip("en", delimiter=";"), id="csv-semicolon"),
        pytest.param(lambda: xlsx_zip("en"), id="xlsx-en"),
        pytest.param(lambda: xlsx_zip("ru"), id="xlsx-ru"),
        pytest.param(
            lambda: xlsx_zip("ru", sheet_names=("Балансовые записи", "Входящий остаток")), id="xlsx-ru-sheets"
        ),
        pytest.param(lambda: io.BytesIO(xlsx_bytes("en")), id="bare-xlsx"),
    ],
)
def test_every_form_gives_identical_frames(reference, source):
    sheets = read_report_file(source())
    pd.testing.assert_frame_equal(sheets.records, reference.records)
    pd.testing.assert_frame_equal(sheets.opening_balance, reference.opening_balance)
    assert sheets.rounded_values == 0


def test_unknown_columns_kept_and_missing_optional_columns_absent():
    header = [
        "Record ID",
        "Created at",
        "Transaction type",
        "Currency",
        "Amount",
        "Fee",
        "Net",
        "Balance before",
        "Balance after",
        "Merchant ID",
        "Shop ID",
        "Gateway ID",
        "Card brand",
        "ТипКарты",
    ]
    data = csv_bytes(
        header,
        [[7, "2025-02-01 00:00:00", "payment", "usd", "1", "0.03", "0.97", "0", "0.97", 1, 2, 3, "visa", "дебет"]],
    )
    df, rounded = read_csv_sheet(data, "balance_records")
    assert list(df.columns) == [
        "merchant_id",
        "shop_id",
        "gateway_id",
        "record_id",
        "created_at",
        "transaction_type",
        "currency",
        "amount",
        "fee",
        "net",
        "balance_before",
        "balance_after",
        "card_brand",
        "типкарты",
    ]
    assert df["card_brand"].tolist() == ["visa"] and df["типкарты"].tolist() == ["дебет"]
    assert df["amount"].tolist() == [100] and df["currency"].tolist() == ["USD"]
    assert rounded == 0


def test_sub_minor_values_are_rounded_half_even_and_counted():
    data = csv_bytes(
        headers(OPENING_COLUMNS, "en"),
        [[1, "", 2, "", 3, "", "EUR", "2025-01-01", "1.005"], [1, "", 2, "", 3, "", "EUR", "2025-01-01", "1.015"]],
    )
    df, rounded = read_csv_sheet(data, "opening_balance")
    assert df["opening_balance"].tolist() == [100, 102]
    assert rounded == 2


def test_empty_sheet_keeps_columns_and_dtypes():
    df, _ = read_csv_sheet(csv_bytes(headers(OPENING_COLUMNS, "ru"), []), "opening_balance")
    assert len(df) == 0
    assert str(df["opening_balance"].dtype) == "Int64"
    assert str(df["date"].dtype) == "datetime64[ns, UTC]"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-(10**10), 10**10), st.integers(0, 3), st.booleans(), st.sampled_from(["", " "])),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from([0, 2, 3, 8]),
)
def test_fast_text_path_equals_decimals_to_minor(cells, exp):
    texts = []
    for units, decimals, negative, pad in cells:
        text = str(Decimal(units).scaleb(-decimals)) if decimals else str(units)
        texts.append(pad + ("-" + text.lstrip("-") if negative else text) + pad)
    values, missing, rounded = _text_to_minor(pd.Series(texts, dtype="str"), exp, False)
    expected, expected_rounded = decimals_to_minor(texts, exp)
    assert values.tolist() == expected.tolist()
    assert not missing.any() and rounded == expected_rounded


def test_snake_case():
    assert snake_case("Card  brand") == "card_brand"
    assert snake_case("\ufeffIssuerCountry") == "issuer_country"
    assert snake_case("Тип карты") == "тип_карты"


# --------------------------------------------------------------------------- bad files


def records_csv(rows=RECORDS, header=None, **kw):
    return csv_bytes(header or headers(RECORDS_COLUMNS, "en"), rows, **kw)


def with_records(data: bytes) -> io.BytesIO:
    return zip_bytes(
        {"balance_records.csv": data, "opening_balance.csv": csv_bytes(headers(OPENING_COLUMNS, "en"), OPENING)}
    )


def bad_cell(column, value):
    i = [c.name for c in RECORDS_COLUMNS].index(column)
    rows = [list(r) for r in RECORDS]
    rows[2][i] = value
    return with_records(records_csv(rows))


def truncated_zip():
    data = csv_zip().getvalue()
    return io.BytesIO(data[: len(data) // 2])


def corrupted_member():
    data = bytearray(zip_bytes({"balance_records.csv": records_csv() * 50, "opening_balance.csv": b"x"}).getvalue())
    data[200:260] = b"\x00" * 60
    return io.BytesIO(bytes(data))


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda: io.BytesIO(b"this is not a zip at all"), ["not a readable zip"]),
        (truncated_zip, ["not a readable zip"]),
        (corrupted_member, ["balance_records.csv"]),
        (lambda: zip_bytes({"balance_records.csv": records_csv()}), ["no opening_balance.csv"]),
        (lambda: zip_bytes({"readme.txt": b"hi"}), ["expected balance_records.csv"]),
        (
            lambda: zip_bytes({"balance_records.xlsx": xlsx_bytes(sheet_names=("balance_records", "notes"))[:-1]}),
            ["balance_records.xlsx"],
        ),
        (lambda: with_records(records_csv().replace(b",", b"|")), ["balance_records.csv", "delimiter"]),
        (
            lambda: with_records(
                records_csv(header=headers(RECORDS_COLUMNS, "ru"), bom=False).decode().encode("cp1251")
            ),
            ["balance_records.csv", "UTF-8"],
        ),
        (lambda: with_records(records_csv(bom=False).decode().encode("utf-16")), ["balance_records.csv", "UTF-16"]),
        (lambda: with_records(records_csv()[:-30]), ["balance_records.csv", "truncated"]),
        (lambda: with_records(b""), ["balance_records.csv", "empty"]),
        (lambda: bad_cell("amount", "12.3O"), ["balance_records.csv", "'amount'", "row 4", "'12.3O'", "JPY amount"]),
        (lambda: bad_cell("fee", "n/a"), ["'fee'", "row 4", "'n/a'"]),
        (lambda: bad_cell("created_at", "yesterday"), ["'created_at'", "row 4", "'yesterday'", "timestamp"]),
        (lambda: bad_cell("record_id", "3.5"), ["'record_id'", "row 4", "'3.5'", "integer"]),
        (lambda: bad_cell("currency", "XYZ"), ["'currency'", "row 4", "'XYZ'", "currency code"]),
        (lambda: bad_cell("currency", ""), ["'currency'", "row 4"]),
        (
            lambda: with_records(
                records_csv(header=[h if h != "Amount" else "Summe" for h in headers(RECORDS_COLUMNS, "en")])
            ),
            ["balance_records.csv", "required column(s) missing", "'Amount' / 'Сумма'", "'Summe'"],
        ),
        (
            lambda: with_records(
                records_csv(
                    header=[
                        "Händler" if h.endswith(" ID") and h != "Record ID" and h != "Transaction ID" else h
                        for h in headers(RECORDS_COLUMNS, "en")
                    ]
                )
            ),
            ["balance_records.csv", "required column(s) missing", "one of 'Merchant ID', 'Shop ID', 'Gateway ID'"],
        ),
    ],
    ids=[
        "not-zip",
        "truncated-zip",
        "corrupted-member",
        "missing-csv",
        "no-report-files",
        "broken-xlsx",
        "unknown-delimiter",
        "cp1251",
        "utf16",
        "truncated-csv",
        "empty-csv",
        "money-not-number",
        "money-text",
        "bad-timestamp",
        "bad-id",
        "unknown-currency",
        "missing-currency",
        "missing-amount",
        "missing-account-ids",
    ],
)
def test_bad_files_raise_data_error(make, fragments):
    with pytest.raises(DataError) as info:
        read_report_file(make())
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_xlsx_missing_sheet():
    wb = openpyxl.Workbook()
    wb.active.title = "balance_records"
    wb.active.append(headers(RECORDS_COLUMNS, "en"))
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(
        DataError, match=r"sheet 'opening_balance' not found; the workbook has sheets \['balance_records'\]"
    ):
        read_report_file(zip_bytes({"balance_records.xlsx": buf.getvalue()}))


def test_xlsx_money_cell_that_is_text():
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes()))
    wb["balance_records"]["M3"] = "lots"
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(DataError, match=r"sheet 'balance_records'.*'amount', row 3: 'lots'"):
        read_report_file(zip_bytes({"balance_records.xlsx": buf.getvalue()}))


# --------------------------------------------------------------------------- sheets of other deployments

#: The sheet of the dwh-official-client dialect: the five public headers, then time, kind, description,
#: currency, amount (what the row moves the balance by) and balance after; no Russian header is known for
#: Type and Description, so they stay English in a Russian report.
JUSTIFIED_EN = [
    "Merchant ID",
    "Merchant name",
    "Shop ID",
    "Shop name",
    "Gateway ID",
    "Created at",
    "Type",
    "Description",
    "Currency",
    "Amount",
    "Balance after",
]
JUSTIFIED_RU = [
    "ID мерчанта",
    "Название мерчанта",
    "ID магазина",
    "Название магазина",
    "ID шлюза",
    "Дата создания",
    "Type",
    "Description",
    "Валюта",
    "Сумма",
    "Баланс после",
]
JUSTIFIED = [
    [1, "Acme", 11, "Acme shop", 101, "2025-01-01 10:00:00", "payment", "", "EUR", "9.71", "9.71"],
    [
        1,
        "Acme",
        11,
        "Acme shop",
        101,
        "2025-01-01 11:00:00",
        "adjustment",
        "[UserID:45] Balance debit",
        "EUR",
        "-10.00",
        "-0.29",
    ],
    [
        1,
        "Acme",
        11,
        "Acme shop",
        101,
        "2025-01-01 12:00:00",
        "rolling_reserve",
        "Rolling reserve",
        "EUR",
        "-25.00",
        "-25.29",
    ],
    [1, "Acme", 12, "Acme JP", 102, "2025-01-02 00:00:00", "payment", "", "JPY", "1455", "1455"],
    [1, "Acme", 12, "Acme JP", 102, "2025-01-02 01:00:00", "rate", "Rate", "JPY", "-2", "1453"],
    [
        1,
        "Acme",
        11,
        "Acme shop",
        101,
        "2025-01-03 00:00:00",
        "rolling_reserve_release",
        "Rolling reserve release",
        "EUR",
        "25.00",
        "-0.29",
    ],
    [1, "Acme", 11, "Acme shop", 101, "2025-01-03 01:00:00", "reserve_fee_reversal", "", "EUR", "0.29", "0.00"],
]
JUSTIFIED_OPENING = [row for row in OPENING if row[6] in ("EUR", "JPY")]
AMOUNT, AFTER = JUSTIFIED_EN.index("Amount"), JUSTIFIED_EN.index("Balance after")


def justified_zip(fmt="csv", language="en", rows=JUSTIFIED) -> io.BytesIO:
    header = JUSTIFIED_EN if language == "en" else JUSTIFIED_RU
    opening_header = headers(OPENING_COLUMNS, language)
    if fmt == "csv":
        return zip_bytes(
            {
                "balance_records.csv": csv_bytes(header, rows),
                "opening_balance.csv": csv_bytes(opening_header, JUSTIFIED_OPENING),
            }
        )
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "balance_records"
    ws.append(header)
    for row in rows:
        ws.append([float(Decimal(v)) if i in (AMOUNT, AFTER) else (v or None) for i, v in enumerate(row)])
    ws2 = wb.create_sheet("opening_balance")
    ws2.append(opening_header)
    for row in JUSTIFIED_OPENING:
        ws2.append(_numbers(row, OPENING_COLUMNS))
    buf = io.BytesIO()
    wb.save(buf)
    return zip_bytes({"balance_records.xlsx": buf.getvalue()})


@pytest.fixture(scope="module")
def justified():
    return read_report_file(justified_zip())


def test_a_sheet_with_only_the_justified_columns_loads(justified):
    df = justified.records
    assert list(df.columns) == [
        "merchant_id",
        "merchant_name",
        "shop_id",
        "shop_name",
        "gateway_id",
        "created_at",
        "transaction_type",
        "description",
        "currency",
        "amount",
        "balance_before",
        "balance_after",
    ]
    assert df["amount"].tolist() == [971, -1000, -2500, 1455, -2, 2500, 29]
    assert df["balance_after"].tolist() == [971, -29, -2529, 1455, 1453, -29, 0]
    assert df["balance_before"].tolist() == [0, 971, -29, 0, 1455, -2529, -29]  # balance_after - amount
    assert df["transaction_type"].astype(str).tolist() == [
        "payment",
        "adjustment",
        "rolling_reserve",
        "payment",
        "rate",
        "rolling_reserve_release",
        "reserve_fee_reversal",
    ]  # every kind kept, known or not
    assert df["description"].iloc[1] == "[UserID:45] Balance debit" and pd.isna(df["description"].iloc[0])
    assert str(df["transaction_type"].dtype) == "category" and str(df["description"].dtype) == "str"
    assert str(df["balance_before"].dtype) == "Int64"
    assert justified.missing_columns == {
        "balance_records": [
            "gateway_name",
            "record_id",
            "transaction_uid",
            "transaction_id",
            "fee",
            "net",
            "balance_before",
        ],
        "opening_balance": [],
    }
    assert justified.derived_columns == ["balance_before"]
    assert justified.extra_columns == {"balance_records": [], "opening_balance": []}
    assert justified.units == {"movement": "amount", "links": 7, "chained": 7}


@pytest.mark.parametrize("fmt, language", [("csv", "ru"), ("xlsx", "en"), ("xlsx", "ru")])
def test_justified_sheet_in_every_form_gives_identical_frames(justified, fmt, language):
    sheets = read_report_file(justified_zip(fmt, language))
    pd.testing.assert_frame_equal(sheets.records, justified.records)
    pd.testing.assert_frame_equal(sheets.opening_balance, justified.opening_balance)
    assert sheets.missing_columns == justified.missing_columns and sheets.units == justified.units


def test_reference_report_needs_nothing_derived(reference):
    assert reference.missing_columns == {"balance_records": ["description"], "opening_balance": []}
    assert reference.derived_columns == []
    assert reference.units == {"movement": "net", "links": 4, "chained": 4}  # each account's first row: its opening


def test_balance_before_is_derived_from_net_when_the_sheet_has_it(reference):
    keep = [i for i, c in enumerate(RECORDS_COLUMNS) if c.name != "balance_before"]
    rows = [[row[i] for i in keep] for row in RECORDS]
    sheets = read_report_file(with_records(records_csv(rows, header=[headers(RECORDS_COLUMNS, "en")[i] for i in keep])))
    pd.testing.assert_frame_equal(sheets.records, reference.records)
    assert sheets.derived_columns == ["balance_before"]
    assert sheets.missing_columns["balance_records"] == ["description", "balance_before"]


def test_type_is_the_transaction_type_unless_the_sheet_has_both():
    alone, _ = read_csv_sheet(
        csv_bytes(
            ["Shop ID", "Created at", "Type", "Currency", "Amount"],
            [[2, "2025-01-01 00:00:00", "rate", "EUR", "-0.02"]],
        ),
        "balance_records",
    )
    assert list(alone.columns) == ["shop_id", "created_at", "transaction_type", "currency", "amount"]
    both, _ = read_csv_sheet(
        csv_bytes(
            ["Shop ID", "Created at", "Type", "Transaction type", "Currency", "Amount"],
            [[2, "2025-01-01 00:00:00", "fee", "payment", "EUR", "-0.02"]],
        ),
        "balance_records",
    )
    assert list(both.columns) == ["shop_id", "created_at", "transaction_type", "currency", "amount", "type"]
    assert both["transaction_type"].tolist() == ["payment"] and both["type"].tolist() == ["fee"]


def test_the_fewest_columns_analysis_needs():
    data = zip_bytes(
        {
            "balance_records.csv": csv_bytes(
                ["Gateway ID", "Created at", "Currency", "Amount"], [[3, "2025-01-01 00:00:00", "KWD", "1.5"]]
            ),
            "opening_balance.csv": csv_bytes(["Gateway ID", "Currency", "Opening balance"], [[3, "KWD", "0.25"]]),
        }
    )
    sheets = read_report_file(data)
    assert sheets.records.to_dict("list") == {
        "gateway_id": [3],
        "created_at": [pd.Timestamp("2025-01-01", tz="UTC")],
        "currency": ["KWD"],
        "amount": [1500],
    }
    assert sheets.opening_balance["opening_balance"].tolist() == [250]
    assert sheets.derived_columns == [] and sheets.units == {"movement": "amount", "links": 0, "chained": 0}
    assert sheets.missing_columns["opening_balance"] == [
        "merchant_id",
        "merchant_name",
        "shop_id",
        "shop_name",
        "gateway_name",
        "date",
    ]


# --------------------------------------------------------------------------- units against the balance chain


def justified_with(column, change, rows=JUSTIFIED):
    out = [list(r) for r in rows]
    for row in out:
        row[column] = change(row)
    return out


def minor_text(row, column):
    """The cell as minor units: what a file in minor units would hold."""
    return str(int(Decimal(row[column]).scaleb(2 if row[8] == "EUR" else 0)))


@pytest.mark.parametrize(
    "rows, fragments, first_row",
    [
        (
            justified_with(AMOUNT, lambda r: minor_text(r, AMOUNT)),
            [
                "in 5 of 7 links the amount is 100x what the balance moves",
                "(and in 2 equal to it)",
                "'amount'",
                "'balance_after'",
                "not in the same unit",
                "row 2: amount 97100, balance moved 971",
            ],
            2,
        ),
        (
            justified_with(AFTER, lambda r: minor_text(r, AFTER)),
            ["the amount is 1/100 what the balance moves", "row 2: amount 971, balance moved 97100"],
            2,
        ),
        (
            justified_with(AMOUNT, lambda r: r[AMOUNT].lstrip("-")),
            [
                "in 3 of 7 links the balance falls by a positive amount",
                "no amount in the file is negative",
                "debits look unsigned",
                "row 3: amount 1000, balance moved -1000",
            ],
            3,
        ),
    ],
    ids=["amounts-in-minor-units", "balances-in-minor-units", "unsigned-debits"],
)
def test_units_that_contradict_the_chain_raise(rows, fragments, first_row):
    with pytest.raises(DataError) as info:
        read_report_file(justified_zip(rows=rows))
    message = str(info.value)
    assert message.startswith("balance_records: the money units contradict the balance chain")
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert info.value.rows[0] == first_row


def test_an_isolated_break_is_data_not_a_unit_error():
    rows = [list(r) for r in JUSTIFIED]
    rows[2][AFTER] = "-25.00"  # 29 cents too much: breaks the link into row 3 and the one out of it
    sheets = read_report_file(justified_zip(rows=rows))
    assert sheets.units == {"movement": "amount", "links": 7, "chained": 5}
    assert sheets.records["balance_before"].tolist()[2:4] == [0, 0]  # derived per row, the break left visible


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(10**7), 10**7).filter(bool), min_size=10, max_size=40),
    st.sets(st.integers(0, 39), max_size=2),
    st.sampled_from([10, 100, 1000]),
)
def test_chains_with_isolated_breaks_pass_and_scaled_amounts_raise(moves, breaks, factor):
    from ledgerkit._ingest.sheets import check_units

    after = list(pd.Series(moves).cumsum())
    for i in breaks:
        if i < len(after):
            after[i] += 7
    frame = pd.DataFrame(
        {
            "shop_id": [1] * len(moves),
            "currency": ["EUR"] * len(moves),
            "amount": pd.array(moves, dtype="Int64"),
            "balance_after": pd.array(after, dtype="Int64"),
        }
    )
    summary = check_units(frame)
    # Two breaks spoil at most four links, never most of nine or more: no unit error, however the moves go.
    assert summary["links"] == len(moves) - 1 and summary["chained"] >= len(moves) - 1 - 2 * len(breaks)
    with pytest.raises(DataError, match=f"the amount is {factor}x what the balance moves"):
        check_units(frame.assign(amount=frame["amount"] * factor))
