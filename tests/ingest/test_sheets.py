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

from ledgerkit.errors import DataError
from ledgerkit.money import decimals_to_minor
from ledgerkit._ingest.sheets import (
    OPENING_COLUMNS,
    RECORDS_COLUMNS,
    _text_to_minor,
    read_csv_sheet,
    read_report_file,
    snake_case,
)

RECORDS = [
    # merchant, mname, shop, sname, gw, gwname, record, created, uid, txid, type, cur, amount, fee, net, before, after
    [1, "Acme", 11, "Acme shop", 101, "EUR cards", 1, "2025-01-01 10:00:00", "20528-f87e29fa35", 501,
     "payment", "EUR", "10.00", "0.29", "9.71", "0.00", "9.71"],
    [1, "Acme", 11, "Acme shop", 101, "EUR cards", 2, "2025-01-01 11:30:00", "7f1c0a8e-1b2c-4d3e-8f90-1234567890ab",
     502, "refund", "EUR", "-5.50", "0.00", "-5.50", "9.71", "4.21"],
    [1, "Acme", 12, "Acme JP", 102, "JPY cards", 3, "2025-01-02 00:00:00", "", 503,
     "payment", "JPY", "1500", "45", "1455", "0", "1455"],
    [2, "Кузя; \"Ltd\"", 13, "Магазин, 1", 103, "KWD gw", 4, "2025-01-03 23:59:59", "x", 504,
     "payout", "KWD", "-1.234", "0.000", "-1.234", "2.000", "0.766"],
]
OPENING = [
    [1, "Acme", 11, "Acme shop", 101, "EUR cards", "EUR", "2025-01-01 00:00:00", "0.00"],
    [1, "Acme", 12, "Acme JP", 102, "JPY cards", "JPY", "2025-01-01 00:00:00", "0"],
    [2, "Кузя; \"Ltd\"", 13, "Магазин, 1", 103, "KWD gw", "KWD", "2025-01-01 00:00:00", "2.000"],
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
    return zip_bytes({
        "balance_records.csv": csv_bytes(headers(RECORDS_COLUMNS, language), RECORDS, **kw),
        "opening_balance.csv": csv_bytes(headers(OPENING_COLUMNS, language), OPENING, **kw),
    })


def _numbers(row, columns):
    out = []
    for value, col in zip(row, columns):
        if col.kind == "money":
            value = float(Decimal(value))
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
    for col in ("merchant_id", "shop_id", "gateway_id", "record_id", "transaction_id", "amount", "fee", "net",
                "balance_before", "balance_after"):
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
        pytest.param(lambda: xlsx_zip("ru", sheet_names=("Балансовые записи", "Входящий остаток")), id="xlsx-ru-sheets"),
        pytest.param(lambda: io.BytesIO(xlsx_bytes("en")), id="bare-xlsx"),
    ],
)
def test_every_form_gives_identical_frames(reference, source):
    sheets = read_report_file(source())
    pd.testing.assert_frame_equal(sheets.records, reference.records)
    pd.testing.assert_frame_equal(sheets.opening_balance, reference.opening_balance)
    assert sheets.rounded_values == 0


def test_unknown_columns_kept_and_optional_columns_filled():
    header = ["Record ID", "Created at", "Transaction type", "Currency", "Amount", "Fee", "Net",
              "Balance before", "Balance after", "Merchant ID", "Shop ID", "Gateway ID", "Card brand", "ТипКарты"]
    data = csv_bytes(header, [[7, "2025-02-01 00:00:00", "payment", "usd", "1", "0.03", "0.97", "0", "0.97",
                               1, 2, 3, "visa", "дебет"]])
    df, rounded = read_csv_sheet(data, "balance_records")
    assert list(df.columns)[: len(RECORDS_COLUMNS)] == [c.name for c in RECORDS_COLUMNS]
    assert list(df.columns)[len(RECORDS_COLUMNS):] == ["card_brand", "типкарты"]
    assert df["card_brand"].tolist() == ["visa"]
    assert df["amount"].tolist() == [100] and df["currency"].tolist() == ["USD"]
    assert df["merchant_name"].isna().all() and str(df["merchant_name"].dtype) == "str"
    assert df["transaction_id"].isna().all() and str(df["transaction_id"].dtype) == "Int64"


def test_sub_minor_values_are_rounded_half_even_and_counted():
    data = csv_bytes(headers(OPENING_COLUMNS, "en"), [[1, "", 2, "", 3, "", "EUR", "2025-01-01", "1.005"],
                                                      [1, "", 2, "", 3, "", "EUR", "2025-01-01", "1.015"]])
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
        st.tuples(st.integers(-10**10, 10**10), st.integers(0, 3), st.booleans(), st.sampled_from(["", " "])),
        min_size=1, max_size=20,
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
    return zip_bytes({"balance_records.csv": data,
                      "opening_balance.csv": csv_bytes(headers(OPENING_COLUMNS, "en"), OPENING)})


def bad_cell(column, value):
    i = [c.name for c in RECORDS_COLUMNS].index(column)
    rows = [list(r) for r in RECORDS]
    rows[2][i] = value
    return with_records(records_csv(rows))


def truncated_zip():
    data = csv_zip().getvalue()
    return io.BytesIO(data[: len(data) // 2])


def corrupted_member():
    data = bytearray(zip_bytes({"balance_records.csv": records_csv() * 50,
                                "opening_balance.csv": b"x"}).getvalue())
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
        (lambda: zip_bytes({"balance_records.xlsx": xlsx_bytes(sheet_names=("balance_records", "notes"))[:-1]}),
         ["balance_records.xlsx"]),
        (lambda: with_records(records_csv().replace(b",", b"|")), ["balance_records.csv", "delimiter"]),
        (lambda: with_records(records_csv(header=headers(RECORDS_COLUMNS, "ru"), bom=False)
                              .decode().encode("cp1251")), ["balance_records.csv", "UTF-8"]),
        (lambda: with_records(records_csv(bom=False).decode().encode("utf-16")), ["balance_records.csv", "UTF-16"]),
        (lambda: with_records(records_csv()[:-30]), ["balance_records.csv", "truncated"]),
        (lambda: with_records(b""), ["balance_records.csv", "empty"]),
        (lambda: bad_cell("amount", "12.3O"), ["balance_records.csv", "'amount'", "row 4", "'12.3O'", "JPY amount"]),
        (lambda: bad_cell("fee", "n/a"), ["'fee'", "row 4", "'n/a'"]),
        (lambda: bad_cell("created_at", "yesterday"), ["'created_at'", "row 4", "'yesterday'", "timestamp"]),
        (lambda: bad_cell("record_id", "3.5"), ["'record_id'", "row 4", "'3.5'", "integer"]),
        (lambda: bad_cell("currency", "XYZ"), ["'currency'", "row 4", "'XYZ'", "currency code"]),
        (lambda: bad_cell("currency", ""), ["'currency'", "row 4"]),
        (lambda: with_records(records_csv(header=headers(RECORDS_COLUMNS, "en")[:-1] + ["Saldo"])),
         ["balance_records.csv", "missing", "'Balance after'", "'Баланс после'"]),
    ],
    ids=["not-zip", "truncated-zip", "corrupted-member", "missing-csv", "no-report-files", "broken-xlsx",
         "unknown-delimiter", "cp1251", "utf16", "truncated-csv", "empty-csv", "money-not-number",
         "money-text", "bad-timestamp", "bad-id", "unknown-currency", "missing-currency", "missing-column"],
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
    with pytest.raises(DataError, match=r"sheet 'opening_balance' not found; the workbook has sheets \['balance_records'\]"):
        read_report_file(zip_bytes({"balance_records.xlsx": buf.getvalue()}))


def test_xlsx_money_cell_that_is_text():
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes()))
    wb["balance_records"]["M3"] = "lots"
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(DataError, match=r"sheet 'balance_records'.*'amount', row 3: 'lots'"):
        read_report_file(zip_bytes({"balance_records.xlsx": buf.getvalue()}))
