"""The close pack on paper: an Excel workbook a finance reader accepts, and a one-page HTML.

:func:`write_workbook` (openpyxl): a *Summary* sheet first (period,
overall status, fingerprint, then one status row per account, currency and
check), then one sheet per section. Money cells are numbers in the row's
currency with its minor-unit digits (``#,##0.00`` for EUR, ``#,##0`` for
JPY, ``#,##0.000`` for KWD) — never text; times are Excel date-times (UTC);
header rows are frozen, columns sized to their content, status cells filled
green or red.

:func:`write_page`: the summary and the fingerprint as one self-contained
HTML page (no script, no request), beside the reports.

Examples
--------
>>> excel_format("EUR"), excel_format("JPY"), excel_format("KWD")
('#,##0.00;-#,##0.00', '#,##0;-#,##0', '#,##0.000;-#,##0.000')
>>> major_number(-123456, "EUR"), major_number(1500, "JPY"), major_number(1, "KWD")
(-1234.56, 1500, 0.001)
"""

from __future__ import annotations

import html
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from ..money import exponent
from ..viz.display import money_columns, show
from .close_pack import GREEN, RED, ClosePack

__all__ = ["write_workbook", "write_page", "excel_format", "major_number", "SHEETS"]

#: Sheet name -> the pack's frame, in workbook order (the summary first).
SHEETS = {
    "Summary": "summary",
    "Roll-forward": "roll_forward",
    "Breaks": "breaks",
    "Payouts": "payouts",
    "Reconciliation": "reconciliation",
    "Mismatches": "mismatches",
    "Fingerprint": "fingerprint",
}

_FILLS = {GREEN: ("C6EFCE", "006100"), RED: ("FFC7CE", "9C0006")}
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_MAX_WIDTH = 60


def excel_format(currency: str) -> str:
    """Excel number format of ``currency``: thousands separators and exactly its minor-unit digits."""
    digits = exponent(currency)
    body = "#,##0" + ("." + "0" * digits if digits else "")
    return f"{body};-{body}"


def major_number(minor: int, currency: str) -> int | float:
    """Minor units -> the number Excel stores: the double nearest the exact decimal (an int without decimals)."""
    digits = exponent(currency)
    return int(minor) if digits == 0 else float(Decimal(int(minor)).scaleb(-digits))


def period_text(pack: ClosePack) -> str:
    """``2025-03-01 to 2025-03-31 (UTC)``: the pack's half-open period as its first and last day."""
    start, end = pack.period
    return f"{start:%Y-%m-%d} to {end - pd.Timedelta(days=1):%Y-%m-%d} (UTC)"


# --------------------------------------------------------------------------- workbook


def _cell_value(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC").tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _write_table(sheet: Any, frame: pd.DataFrame, top: int) -> None:
    """``frame`` as a table whose header row is ``top``; money per row currency, times UTC, statuses filled."""
    from openpyxl.styles import Font, PatternFill

    money = set(money_columns(frame))
    currencies = frame["currency"].astype("str").tolist() if "currency" in frame.columns else [None] * len(frame)
    columns = list(frame.columns)
    for j, name in enumerate(columns, start=1):
        sheet.cell(row=top, column=j, value=str(name) + (" (UTC)" if _is_time(frame[name]) else "")).font = Font(
            bold=True
        )
    widths = [len(str(name)) + (6 if _is_time(frame[name]) else 0) for name in columns]
    for i, record in enumerate(frame.itertuples(index=False), start=top + 1):
        for j, (name, value) in enumerate(zip(columns, record, strict=True), start=1):
            cell = sheet.cell(row=i, column=j)
            currency = currencies[i - top - 1]
            if name in money and not pd.isna(value) and currency not in (None, "nan", "<NA>"):
                cell.value = major_number(int(value), currency)
                cell.number_format = excel_format(currency)
                text = f"{value:,}"
            else:
                cell.value = _cell_value(value)
                text = str(cell.value if cell.value is not None else "")
                if _is_time(frame[name]) and cell.value is not None:
                    cell.number_format = _TIME_FORMAT
                    text = _TIME_FORMAT
                elif isinstance(cell.value, float):
                    cell.number_format = "0.00"
            if name == "status" and value in _FILLS:
                fill, font = _FILLS[value]
                cell.fill = PatternFill("solid", start_color=fill, end_color=fill)
                cell.font = Font(bold=True, color=font)
            widths[j - 1] = max(widths[j - 1], len(text) + 1)
    for j, width in enumerate(widths, start=1):
        sheet.column_dimensions[_column_letter(j)].width = min(width + 2, _MAX_WIDTH)
    sheet.freeze_panes = sheet.cell(row=top + 1, column=1)


def _is_time(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


#: Rows above the summary table: title, period, status, fingerprint, a blank line.
SUMMARY_TOP = 6


def _summary_head(sheet: Any, pack: ClosePack) -> None:
    from openpyxl.styles import Font, PatternFill

    red = len(pack.red)
    sheet["A1"] = "ledgerkit close pack"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"], sheet["B2"] = "period", period_text(pack)
    sheet["A3"], sheet["B3"] = "status", pack.status
    fill, font = _FILLS[pack.status]
    sheet["B3"].fill = PatternFill("solid", start_color=fill, end_color=fill)
    sheet["B3"].font = Font(bold=True, color=font)
    sheet["C3"] = f"{red} of {len(pack.summary)} checks red" if red else f"all {len(pack.summary)} checks green"
    sheet["A4"], sheet["B4"] = "fingerprint (SHA-256)", pack.fingerprint_hash


def write_workbook(pack: ClosePack, path: str | Path) -> Path:
    """Write the close pack as an ``.xlsx`` workbook (openpyxl); returns its path.

    The *Summary* sheet holds the period, the overall status and the
    fingerprint hash in rows 1–4 and the status table from row
    :data:`SUMMARY_TOP`; every other sheet (:data:`SHEETS`) has its header
    in row 1. Header rows are frozen.
    """
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, attribute in SHEETS.items():
        sheet = book.create_sheet(title)
        if title == "Summary":
            _summary_head(sheet, pack)
            _write_table(sheet, getattr(pack, attribute), SUMMARY_TOP)
        else:
            _write_table(sheet, getattr(pack, attribute), 1)
    path = Path(path)
    book.save(path)
    return path


# --------------------------------------------------------------------------- page

_PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1240px; }
h1 { font-size: 1.4em; margin: 0 0 0.2em; }
p { margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 12px; margin: 0.6em 0 1.2em; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
td.detail { text-align: left; white-space: normal; max-width: 420px; }
td.green { background: #c6efce; color: #006100; font-weight: bold; text-align: center; }
td.red { background: #ffc7ce; color: #9c0006; font-weight: bold; text-align: center; }
span.green { color: #006100; font-weight: bold; } span.red { color: #9c0006; font-weight: bold; }
code { font-size: 11px; }
"""

_TEXT_COLUMNS = frozenset({"source", "account", "check", "input", "currency"})


def _html_table(frame: pd.DataFrame) -> str:
    """A display table (text cells) as HTML; statuses coloured, the detail column wrapping."""
    head = "".join(
        f'<th class="{"text" if c in _TEXT_COLUMNS or c == "detail" else ""}">{html.escape(str(c))}</th>'
        for c in frame.columns
    )
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for name, value in zip(frame.columns, record, strict=True):
            css = (
                value
                if name == "status" and value in _FILLS
                else "detail"
                if name == "detail"
                else "text"
                if name in _TEXT_COLUMNS
                else ""
            )
            cells.append(f'<td class="{css}">{html.escape(str(value))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page_html(pack: ClosePack, workbook: str | None = None) -> str:
    """The one-page HTML of the pack: status, summary table, fingerprint. No script, no external request."""
    red = len(pack.red)
    verdict = f"{red} of {len(pack.summary)} checks red" if red else f"all {len(pack.summary)} checks green"
    title = f"Close pack {period_text(pack)}: {pack.status}"
    fingerprint = show(pack.fingerprint.drop(columns=["manifest", "sha256"]))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_PAGE_CSS}</style></head><body>",
        f"<h1>Close pack, {html.escape(period_text(pack))}</h1>",
        f'<p>Status: <span class="{pack.status}">{pack.status.upper()}</span> — {html.escape(verdict)}.</p>',
        f"<p>Fingerprint (SHA-256 of the period and every input's rows): <code>{pack.fingerprint_hash}</code></p>",
    ]
    if workbook:
        parts.append(f"<p>The figures behind every status: <code>{html.escape(workbook)}</code> (Excel).</p>")
    parts += [
        "<h2>Checks</h2>",
        _html_table(show(pack.summary)),
        "<h2>Inputs</h2>",
        _html_table(fingerprint),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_page(pack: ClosePack, path: str | Path, *, workbook: str | None = None) -> Path:
    """Write :func:`page_html` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(page_html(pack, workbook), encoding="utf-8")
    return path
