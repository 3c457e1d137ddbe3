"""The typed Arrow CSV path of ledgerkit._ingest.sheets gives exactly the general path's frames."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

import ledgerkit._ingest.sheets as sheets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from sheets_bench import records

from .test_sheets import (
    JUSTIFIED,
    JUSTIFIED_EN,
    JUSTIFIED_RU,
    OPENING,
    RECORDS,
    RECORDS_COLUMNS,
    csv_bytes,
    headers,
)


def general(data: bytes, sheet: str, monkeypatch) -> tuple[pd.DataFrame, int]:
    with monkeypatch.context() as m:
        m.setattr(sheets, "_read_csv_fast", lambda *args: None)
        return sheets.read_csv_sheet(data, sheet)


def fast(data: bytes, sheet: str) -> tuple[pd.DataFrame, int]:
    line = sheets._header_line(data, sheet)
    out = sheets._read_csv_fast(data, sheet, line.split(","))
    assert out is not None, "the fast path declined a plain comma-separated file"
    return out


def bench_csv(n: int) -> bytes:
    return records(n).to_csv(index=False, float_format="%.2f", lineterminator="\r\n").encode("utf-8-sig")


@pytest.mark.parametrize(
    "sheet, data",
    [
        ("balance_records", csv_bytes(headers(RECORDS_COLUMNS, "en"), RECORDS)),
        ("balance_records", csv_bytes(headers(RECORDS_COLUMNS, "ru"), RECORDS, bom=False, newline="\n")),
        ("opening_balance", csv_bytes(headers(sheets.OPENING_COLUMNS, "en"), OPENING)),
        ("balance_records", bench_csv(2_000)),
        ("balance_records", csv_bytes(headers(RECORDS_COLUMNS, "en"), [])),
        ("balance_records", csv_bytes(JUSTIFIED_EN, JUSTIFIED)),
        ("balance_records", csv_bytes(JUSTIFIED_RU, JUSTIFIED)),
    ],
    ids=["seed-en", "seed-ru-lf", "opening", "bench-2000", "empty", "justified-en", "justified-ru"],
)
def test_fast_path_equals_general_path(sheet, data, monkeypatch):
    ours, rounded = fast(data, sheet)
    theirs, theirs_rounded = general(data, sheet, monkeypatch)
    assert rounded == theirs_rounded == 0
    pd.testing.assert_frame_equal(ours, theirs)
    assert sheets.read_csv_sheet(data, sheet)[0].equals(theirs)


def test_unknown_and_missing_optional_columns(monkeypatch):
    wanted = [i for i, c in enumerate(RECORDS_COLUMNS) if c.required or c.name == "shop_id"]
    rows = [[r[i] for i in wanted] + ["visa"] for r in RECORDS]
    data = csv_bytes([RECORDS_COLUMNS[i].english for i in wanted] + ["Card brand"], rows)
    ours, _ = fast(data, "balance_records")
    pd.testing.assert_frame_equal(ours, general(data, "balance_records", monkeypatch)[0])
    assert list(ours.columns) == ["shop_id", "created_at", "currency", "amount", "card_brand"]
    assert ours["card_brand"].tolist() == ["visa"] * len(RECORDS)


@pytest.mark.parametrize(
    "column, value",
    [
        ("Amount", "10.005"),
        ("Amount", " 10.00"),
        ("Currency", "eur"),
        ("Created at", "2025-01-01T10:00:00Z"),
        ("Record ID", "x1"),
        ("Currency", "XXX1"),
    ],
)
def test_unusual_cells_give_the_general_paths_result_or_error(column, value, monkeypatch):
    names = [c.english for c in sheets.RECORDS_COLUMNS]
    rows = [list(r) for r in RECORDS]
    rows[0][names.index(column)] = value
    data = csv_bytes(names, rows)
    try:
        expected = general(data, "balance_records", monkeypatch)
    except sheets.DataError as exc:
        with pytest.raises(sheets.DataError, match=str(exc)[:40].replace("(", r"\(").replace("[", r"\[")):
            sheets.read_csv_sheet(data, "balance_records")
    else:
        got = sheets.read_csv_sheet(data, "balance_records")
        assert got[1] == expected[1]
        pd.testing.assert_frame_equal(got[0], expected[0])
