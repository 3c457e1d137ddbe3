"""The DWH balance report file: a zip of CSVs or of one XLSX, English or Russian.

docs/CONTRACTS.md §2.3 fixes the layout: sheet ``balance_records`` (one row
per balance movement) and sheet ``opening_balance`` (one row per account);
``format=csv`` gives one UTF-8-with-BOM, CRLF CSV per sheet, ``format=xlsx``
one workbook with both sheets. Money is written in major units with exactly
the currency's digits (``ledgerkit.money``), timestamps as
``YYYY-MM-DD hh:mm:ss`` UTC.

Rows come in as dicts keyed by the frame column names (what
``World.balance_records`` holds, money in integer minor units).

The ``dwh-official-client`` dialect writes sheet ``balance_records`` with
``JUSTIFIED_RECORD_COLUMNS`` only: the five headers the help page shows, then
the movement's time, kind, description, currency, amount and balance after
(docs/CONTRACTS.md §2.6). ``Type`` and ``Description`` have no known Russian
header, so they stay English in ``language=ru``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..money import from_minor

__all__ = [
    "RECORD_COLUMNS",
    "JUSTIFIED_RECORD_COLUMNS",
    "OPENING_COLUMNS",
    "MONEY_COLUMNS",
    "headers",
    "build_report_zip",
]

_ACCOUNT = [
    ("merchant_id", "Merchant ID", "ID мерчанта"),
    ("merchant_name", "Merchant name", "Название мерчанта"),
    ("shop_id", "Shop ID", "ID магазина"),
    ("shop_name", "Shop name", "Название магазина"),
    ("gateway_id", "Gateway ID", "ID шлюза"),
    ("gateway_name", "Gateway name", "Название шлюза"),
]

#: (frame column, English header, Russian header) of sheet ``balance_records``.
RECORD_COLUMNS: list[tuple[str, str, str]] = [
    *_ACCOUNT,
    ("record_id", "Record ID", "ID записи"),
    ("created_at", "Created at", "Дата создания"),
    ("transaction_uid", "Transaction UID", "UID транзакции"),
    ("transaction_id", "Transaction ID", "ID транзакции"),
    ("transaction_type", "Transaction type", "Тип транзакции"),
    ("currency", "Currency", "Валюта"),
    ("amount", "Amount", "Сумма"),
    ("fee", "Fee", "Комиссия"),
    ("net", "Net", "Итого"),
    ("balance_before", "Balance before", "Баланс до"),
    ("balance_after", "Balance after", "Баланс после"),
]

#: Sheet ``balance_records`` of the ``dwh-official-client`` dialect: only what public sources justify.
#: ``amount`` is what the row moves the balance by (net of any fee); ``type`` the movement's kind.
JUSTIFIED_RECORD_COLUMNS: list[tuple[str, str, str]] = [
    *_ACCOUNT[:5],
    ("created_at", "Created at", "Дата создания"),
    ("type", "Type", "Type"),
    ("description", "Description", "Description"),
    ("currency", "Currency", "Валюта"),
    ("amount", "Amount", "Сумма"),
    ("balance_after", "Balance after", "Баланс после"),
]

#: (frame column, English header, Russian header) of sheet ``opening_balance``.
OPENING_COLUMNS: list[tuple[str, str, str]] = [
    *_ACCOUNT,
    ("currency", "Currency", "Валюта"),
    ("date", "Date", "Дата"),
    ("opening_balance", "Opening balance", "Входящий остаток"),
]

#: Columns holding integer minor units, written in major units.
MONEY_COLUMNS = frozenset({"amount", "fee", "net", "balance_before", "balance_after", "opening_balance"})
_TIME_COLUMNS = frozenset({"created_at", "date"})

SHEETS = ("balance_records", "opening_balance")


def headers(columns: list[tuple[str, str, str]], language: str) -> list[str]:
    """The header row of a sheet in ``language`` (``"en"`` or ``"ru"``).

    Examples
    --------
    >>> headers(OPENING_COLUMNS, "ru")[-1]
    'Входящий остаток'
    """
    return [ru if language == "ru" else en for _, en, ru in columns]


def _timestamp_text(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _cells(row: Mapping[str, Any], columns: list[tuple[str, str, str]]) -> list[Any]:
    """One row as cell values: money as exact major-unit Decimals, times as text."""
    out: list[Any] = []
    for name, _, _ in columns:
        value = row.get(name)
        if value is None:
            out.append(None)
        elif name in MONEY_COLUMNS:
            out.append(from_minor(value, row["currency"]))
        elif name in _TIME_COLUMNS:
            out.append(_timestamp_text(value))
        else:
            out.append(value)
    return out


def _csv_bytes(rows: Iterable[Mapping[str, Any]], columns: list[tuple[str, str, str]], language: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers(columns, language))
    for row in rows:
        writer.writerow(
            ["" if c is None else format(c, "f") if isinstance(c, Decimal) else c for c in _cells(row, columns)]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx_bytes(
    sheets: dict[str, tuple[Iterable[Mapping[str, Any]], list[tuple[str, str, str]]]], language: str
) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, (rows, columns) in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(headers(columns, language))
        for row in rows:
            sheet.append([float(c) if isinstance(c, Decimal) else c for c in _cells(row, columns)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def build_report_zip(
    records: Iterable[Mapping[str, Any]],
    opening: Iterable[Mapping[str, Any]],
    *,
    fmt: str,
    language: str = "en",
    record_columns: list[tuple[str, str, str]] = RECORD_COLUMNS,
) -> bytes:
    """Build the report file as the DWH serves it.

    Parameters
    ----------
    records, opening : iterables of dicts
        Rows of the two sheets keyed by frame column names, money in minor units.
    fmt : {"csv", "xlsx"}
    language : {"en", "ru"}
        Language of the header row.
    record_columns : list of (column, English, Russian)
        Columns of sheet ``balance_records`` (``RECORD_COLUMNS`` or ``JUSTIFIED_RECORD_COLUMNS``).

    Examples
    --------
    >>> row = {"merchant_id": 1, "currency": "EUR", "date": "2025-01-01T00:00:00Z", "opening_balance": 1000}
    >>> blob = build_report_zip([], [row], fmt="csv")
    >>> with zipfile.ZipFile(io.BytesIO(blob)) as z:
    ...     z.read("opening_balance.csv").decode("utf-8-sig").splitlines()[1]
    '1,,,,,,EUR,2025-01-01 00:00:00,10.00'
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if fmt == "csv":
            archive.writestr("balance_records.csv", _csv_bytes(records, record_columns, language))
            archive.writestr("opening_balance.csv", _csv_bytes(opening, OPENING_COLUMNS, language))
        elif fmt == "xlsx":
            sheets = {"balance_records": (records, record_columns), "opening_balance": (opening, OPENING_COLUMNS)}
            archive.writestr("balance_records.xlsx", _xlsx_bytes(sheets, language))
        else:
            raise ValueError(f"format must be 'csv' or 'xlsx', not {fmt!r}")
    return buffer.getvalue()
