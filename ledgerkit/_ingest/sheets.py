"""Read the two sheets of a DWH balance report into typed DataFrames.

The beGateway DWH ``balance_records`` report arrives as a ``.zip`` holding
either two CSV files (``balance_records.csv`` and ``opening_balance.csv``) or
one ``.xlsx`` workbook with two sheets of the same names. Headers are English
or Russian depending on the report's ``language``. This module turns either
form into the same two frames (columns of docs/CONTRACTS.md §2.3):

- headers, English or Russian, map to stable snake_case columns; unknown
  columns are kept under a snake_cased version of their header;
- only what analysis cannot do without is required (an account id, the
  time, currency, amount; an opening balance): the full header list of the
  real report is not public, so every other known column is optional and a
  column the file lacks is absent from the frame (never filled with NA);
- a missing ``balance_before`` is derived as ``balance_after`` minus the
  movement (``net``, else ``amount``), and the money units are checked
  against the balance chain (:func:`check_units`);
- money (major units: decimal text in CSV, numbers in XLSX) becomes ``Int64``
  minor units using each row's currency exponent (JPY 0, EUR 2, KWD 3),
  exactly — never through float arithmetic on text;
- timestamps become ``datetime64[ns, UTC]``, ids ``Int64``, currency and
  transaction type ``category``, names ``str``.

Anything malformed raises :class:`~ledgerkit.errors.DataError` naming the
file or sheet, the column and what was expected.

Examples
--------
>>> import io, zipfile
>>> buf = io.BytesIO()
>>> with zipfile.ZipFile(buf, "w") as z:
...     z.writestr("balance_records.csv", "Merchant ID,Shop ID,Gateway ID,Record ID,Created at,"
...                "Transaction type,Currency,Amount,Fee,Net,Balance before,Balance after\\r\\n"
...                "1,2,3,10,2025-01-01 00:00:00,payment,EUR,10.00,0.29,9.71,0.00,9.71\\r\\n")
...     z.writestr("opening_balance.csv", "Merchant ID,Shop ID,Gateway ID,Currency,Date,Opening balance\\r\\n"
...                "1,2,3,EUR,2025-01-01 00:00:00,0.00\\r\\n")
>>> sheets = read_report_file(buf)
>>> sheets.records[["amount", "fee", "net"]].iloc[0].tolist()
[1000, 29, 971]
"""

from __future__ import annotations

import io
import math
import os
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import ConfigurationError, DataError
from ..money import decimals_to_minor, exponent, floats_to_minor
from .kinds import dtype_of
from .records import excerpt
from .schema import ACCOUNT, ACCOUNT_IDS, BALANCE_RECORDS, OPENING_BALANCE, Column

__all__ = [
    "Column",
    "RECORDS_COLUMNS",
    "OPENING_COLUMNS",
    "SHEETS",
    "ReportSheets",
    "read_report_file",
    "read_csv_sheet",
    "read_xlsx_sheets",
    "snake_case",
]


#: sheet name -> its columns, in frame order (declared in :mod:`ledgerkit._ingest.schema`)
SHEETS: dict[str, tuple[Column, ...]] = {schema.name: schema.fields for schema in (BALANCE_RECORDS, OPENING_BALANCE)}
#: Columns of the ``balance_records`` sheet, in frame order.
RECORDS_COLUMNS: tuple[Column, ...] = BALANCE_RECORDS.fields
#: Columns of the ``opening_balance`` sheet, in frame order.
OPENING_COLUMNS: tuple[Column, ...] = OPENING_BALANCE.fields

_UTF8_BOM = b"\xef\xbb\xbf"
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class ReportSheets:
    """The two typed frames of one report file, and how they were read.

    Attributes
    ----------
    records, opening_balance : pandas.DataFrame
        The ``balance_records`` and ``opening_balance`` sheets.
    format : str
        ``"csv"`` or ``"xlsx"``.
    rounded_values : int
        Money cells that carried a fraction of a minor unit and were rounded
        half to even (0 for a well-formed report).
    missing_columns : dict
        Sheet name -> the known columns the file did not have.
    derived_columns : list of str
        Columns computed from others (``balance_before``).
    extra_columns : dict
        Sheet name -> the unknown columns kept (snake_cased headers).
    units : dict
        What the check of the money units against the balance chain saw
        (see :func:`check_units`).
    """

    records: pd.DataFrame
    opening_balance: pd.DataFrame
    format: str
    rounded_values: int
    missing_columns: dict = field(default_factory=dict)
    derived_columns: list = field(default_factory=list)
    extra_columns: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- headers


def _header_key(text: Any) -> str:
    return " ".join(str(text).replace("\ufeff", "").split()).casefold()


def snake_case(header: Any) -> str:
    """A header as a snake_case column name (letters of any script kept).

    Examples
    --------
    >>> snake_case(" Card brand "), snake_case("IssuerCountry"), snake_case("Тип карты")
    ('card_brand', 'issuer_country', 'тип_карты')
    """
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(header).replace("\ufeff", "").strip())
    return re.sub(r"\W+", "_", text.casefold()).strip("_")


def _header_map(columns: Iterable[Column]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for col in columns:
        for header in (col.english, col.russian, col.name):
            if header:
                mapping[_header_key(header)] = col.name
    return mapping


def _rename(headers: list[Any], spec: tuple[Column, ...]) -> list[str]:
    """Frame names for the file's headers: known ones mapped, others snake_cased."""
    known = _header_map(spec)
    aliases = {_header_key(a): c.name for c in spec for a in c.aliases}
    keys = [_header_key(h) for h in headers]
    claimed = {known[k] for k in keys if k in known}
    names: list[str] = []
    for i, (header, key) in enumerate(zip(headers, keys, strict=True)):
        name = known.get(key)
        if name is None and aliases.get(key) not in claimed | {None}:
            name = aliases[key]
            claimed.add(name)
        name = name or snake_case(header) or f"column_{i + 1}"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _missing_required(names: Iterable[str], spec: tuple[Column, ...]) -> list[str]:
    """The headers of required columns absent from ``names`` (an account id counts once, any of the three)."""
    present = set(names)
    missing = [f"{c.english!r} / {c.russian!r}" for c in spec if c.required and c.name not in present]
    if not present & set(ACCOUNT.columns):
        headers = ", ".join(repr(c.english) for c in spec if c.name in ACCOUNT.columns)
        missing.insert(0, f"one of {headers} (the account)")
    return missing


def _in_frame_order(columns: dict[str, pd.Series], spec: tuple[Column, ...]) -> pd.DataFrame:
    """The known columns in the spec's order, then the unknown ones as they came."""
    known = [c.name for c in spec if c.name in columns]
    return pd.DataFrame({name: columns[name] for name in known + [n for n in columns if n not in known]})


def _sheet_of(headers: list[Any]) -> str | None:
    """Which sheet a header row belongs to, judged by its distinctive columns."""
    names = set(_rename(headers, RECORDS_COLUMNS + OPENING_COLUMNS))
    if "opening_balance" in names:
        return "opening_balance"
    if {"record_id", "balance_after", "amount"} & names:
        return "balance_records"
    return None


# --------------------------------------------------------------------------- typing


def _bad(where: str, column: str, row: int, value: Any, expected: str) -> DataError:
    return DataError(f"{where}: column {column!r}, row {row}: {excerpt(value)} is not {expected}", rows=[row])


def _first_bad(raw: pd.Series, bad: np.ndarray) -> tuple[int, Any]:
    i = int(np.flatnonzero(bad)[0])
    return int(raw.index[i]) + 2, raw.iloc[i]  # the file's 1-based line: header is line 1


def _to_int(raw: pd.Series, where: str, column: str) -> pd.Series:
    if isinstance(raw.dtype, pd.StringDtype):
        try:  # the usual case, all plain integers: one Arrow cast
            arr = pc.cast(pc.utf8_trim_whitespace(pa.array(raw, type=pa.large_string())), pa.int64())
            return pd.Series(pd.Int64Dtype().__from_arrow__(arr), index=raw.index, name=raw.name)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # find and name the bad cell below
    num = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna().to_numpy()
    values = num.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~missing & (
        np.isnan(values) | (values != np.round(values)) | (np.abs(values) > 2**53)
    )  # past 2**53: not exact
    if bad.any():
        raise _bad(where, column, *_first_bad(raw, bad), "an integer id")
    return num.astype("Int64")


#: The instants ``datetime64[ns]`` holds; pandas parses years 1 to 9999 at a coarser unit, so check.
_FIRST, _LAST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")


def _to_time(raw: pd.Series, where: str, column: str) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or raw.dtype.kind == "M":
        out = (raw if isinstance(raw.dtype, pd.DatetimeTZDtype) else raw.dt.tz_localize("UTC")).dt.tz_convert("UTC")
    else:
        text = raw.map(lambda v: v.isoformat(sep=" ") if hasattr(v, "isoformat") else v) if raw.dtype == object else raw
        out = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = (raw.notna() & (out.isna() | (out < _FIRST) | (out > _LAST))).to_numpy()
    if bad.any():
        raise _bad(where, column, *_first_bad(raw, bad), "a timestamp 'YYYY-MM-DD hh:mm:ss' (UTC, years 1678 to 2261)")
    return out.astype(dtype_of("time"))


def _to_str(raw: pd.Series) -> pd.Series:
    if raw.dtype == object:
        raw = raw.map(lambda v: v if v is None or isinstance(v, str) or pd.isna(v) else str(v))
    return raw.astype("str")


def _to_currency(raw: pd.Series, where: str, column: str) -> pd.Series:
    codes = _to_str(raw).str.strip().str.upper()
    missing = codes.isna().to_numpy() | (codes == "").fillna(False).to_numpy()
    if missing.any():
        raise _bad(where, column, *_first_bad(raw, missing), "a currency code")
    for code in codes.unique():
        try:
            exponent(code)
        except ConfigurationError:
            bad = (codes == code).to_numpy()
            raise _bad(where, column, *_first_bad(raw, bad), "an ISO 4217 or crypto currency code") from None
    return codes.astype("category")


def _text_to_minor(text: pd.Series, exp: int, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Decimal text -> (int64 values, missing mask, rounded count), exactly.

    Plain ``-?digits[.digits]`` with at most ``exp`` decimals (nearly every
    cell) is converted with Arrow string kernels; anything else goes through
    :func:`ledgerkit.money.decimals_to_minor` one value at a time.
    """
    arr = pa.array(text if isinstance(text.dtype, pd.StringDtype) else text.astype("str"), type=pa.large_string())
    arr = pc.utf8_trim_whitespace(arr)
    if decimal_comma:
        arr = pc.replace_substring(arr, ",", ".")
    missing = pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)
    simple = pc.fill_null(pc.match_substring_regex(arr, rf"^-?\d{{1,{18 - exp}}}(\.\d{{0,{exp}}})?$"), False)
    simple_np = simple.to_numpy(zero_copy_only=False)
    values = np.zeros(len(arr), dtype="int64")
    good = pc.filter(arr, simple)
    if len(good):
        dot = pc.find_substring(good, ".").to_numpy()
        decimals = np.where(dot < 0, 0, pc.utf8_length(good).to_numpy() - dot - 1)
        digits = pc.cast(pc.replace_substring(good, ".", ""), pa.int64()).to_numpy()
        values[simple_np] = digits * 10 ** (exp - decimals)
    rest = ~simple_np & ~missing
    n_rounded = 0
    if rest.any():
        exact, n_rounded = decimals_to_minor(pc.filter(arr, pa.array(rest)).to_pylist(), exp)
        values[rest] = exact.to_numpy(dtype="int64")
    return values, missing, n_rounded


def _to_money(
    raw: pd.Series, currency: pd.Series, where: str, column: str, decimal_comma: bool
) -> tuple[pd.Series, int]:
    values = np.zeros(len(raw), dtype="int64")
    missing = np.zeros(len(raw), dtype=bool)
    n_rounded = 0
    codes = currency.cat.codes.to_numpy()
    numeric = raw.dtype.kind in "fiu"
    for k, code in enumerate(currency.cat.categories):
        rows = np.flatnonzero(codes == k)
        part = raw.iloc[rows]
        exp = exponent(code)
        try:
            if numeric:
                arr, n = floats_to_minor(part.to_numpy(dtype="float64", na_value=np.nan), exp)
                v, m = arr.to_numpy(dtype="int64", na_value=0), arr.isna()
            else:
                v, m, n = _text_to_minor(part, exp, decimal_comma)
        except (ValueError, TypeError, OverflowError, pa.ArrowInvalid) as exc:
            bad = np.array([_not_a_number(x, exp) for x in part.tolist()])
            if not bad.any():
                raise DataError(f"{where}: column {column!r}: {exc}") from None
            raise _bad(where, column, *_first_bad(part, bad), f"a {code} amount in major units") from None
        values[rows], missing[rows], n_rounded = v, m, n_rounded + n
    return pd.Series(pd.arrays.IntegerArray(values, missing), index=raw.index, name=column), n_rounded


def _not_a_number(value: Any, exp: int) -> bool:
    try:
        decimals_to_minor([value], exp)
    except (ValueError, TypeError, OverflowError):
        return True
    return False


def _typed(raw: pd.DataFrame, sheet: str, where: str, *, decimal_comma: bool = False) -> tuple[pd.DataFrame, int]:
    """Rename the raw sheet's columns and convert each known one to its declared dtype."""
    spec = SHEETS[sheet]
    headers = list(raw.columns)
    raw = raw.set_axis(_rename(headers, spec), axis=1)
    missing = _missing_required(raw.columns, spec)
    if missing:
        raise DataError(
            f"{where}: required column(s) missing: {', '.join(missing)}; found headers {[str(h) for h in headers]}"
        )
    raw = raw.reset_index(drop=True)
    currency = _to_currency(raw["currency"], where, "currency")
    kinds = {c.name: c.kind for c in spec}
    out: dict[str, pd.Series] = {}
    n_rounded = 0
    for name in raw.columns:
        kind = kinds.get(name)
        if kind == "major":
            out[name], n = _to_money(raw[name], currency, where, name, decimal_comma)
            n_rounded += n
        elif kind == "int":
            out[name] = _to_int(raw[name], where, name)
        elif kind == "time":
            out[name] = _to_time(raw[name], where, name)
        elif kind == "currency":
            out[name] = currency
        elif kind is not None:
            out[name] = _to_str(raw[name]).astype(dtype_of(kind))
        else:
            extra = raw[name]
            out[name] = extra if extra.dtype.kind in "fiubM" else _to_str(extra)
    return _in_frame_order(out, spec), n_rounded


# --------------------------------------------------------------------------- CSV


def _sniff_delimiter(first_line: str, where: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    if counts[best] == 0:
        raise DataError(f"{where}: cannot tell the delimiter of header {first_line[:80]!r}: expected ',' or ';'")
    return best


def _header_line(data: bytes, where: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{where}: the file is UTF-16; expected UTF-8 (with or without BOM)")
    end = data.find(b"\n")
    line = data[: end if end >= 0 else len(data)]
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise DataError(f"{where}: the header is not UTF-8 text; expected a UTF-8 CSV (with or without BOM)") from None
    if not text.strip():
        raise DataError(f"{where}: the file is empty; expected a header row")
    return text


#: Decimals the fast CSV path parses money with; a currency with a larger exponent takes the general path.
_FAST_SCALE = 8
_FAST_TYPES = {
    "int": pa.int64(),
    "time": pa.timestamp("s"),
    "major": pa.decimal128(18, _FAST_SCALE),
    "currency": pa.dictionary(pa.int32(), pa.string()),
    "category": pa.dictionary(pa.int32(), pa.string()),
    "str": pa.string(),
}


def _unscaled(values: pa.ChunkedArray) -> np.ndarray:
    """The int64 unscaled integers of a ``decimal128(18, s)`` column (precision 18 fits the low word)."""
    array = values.combine_chunks()
    words = np.frombuffer(array.buffers()[1], dtype="int64")
    return words[2 * array.offset : 2 * (array.offset + len(array)) : 2]


def _fast_money(values: pa.ChunkedArray, exponents: np.ndarray, column: str) -> pd.Series | None:
    """Minor units from the parsed decimals, or None when a value has a fraction of a minor unit."""
    divisor = 10 ** (_FAST_SCALE - exponents)
    unscaled = _unscaled(values)
    if (unscaled % divisor).any():
        return None  # rounding needed: the general path rounds half to even and counts
    missing = values.is_null().to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(unscaled // divisor, missing), name=column)


def _fast_category(values: pa.ChunkedArray, column: str) -> pd.Series:
    """A dictionary column as a categorical with sorted categories, as ``astype("category")`` gives."""
    array = values.combine_chunks()
    labels = pd.Index(array.dictionary.to_pandas(), dtype="str")
    found = pd.Categorical.from_codes(array.indices.fill_null(-1).to_numpy(), categories=labels)
    return pd.Series(found.reorder_categories(labels.sort_values()), name=column)


def _fast_currency(values: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray] | None:
    """The currency column and each row's exponent, or None when a code needs cleaning or is unknown."""
    currency = _fast_category(values, "currency")
    codes = currency.array.codes
    if (codes < 0).any() or not all(c == c.strip().upper() and c for c in currency.cat.categories):
        return None
    try:
        exponents = np.array([exponent(c) for c in currency.cat.categories], dtype="int64")
    except ConfigurationError:
        return None
    if (exponents > _FAST_SCALE).any():
        return None
    return currency, exponents[codes]


def _fast_column(values: pa.ChunkedArray, kind: str, name: str) -> pd.Series:
    if kind == "int":
        return pd.Series(pd.Int64Dtype().__from_arrow__(values), name=name)
    if kind == "time":
        seconds = values.cast(pa.int64()).to_numpy(zero_copy_only=False) if values.null_count == 0 else None
        if seconds is not None:
            return pd.Series(pd.DatetimeIndex(seconds * 1_000_000_000).tz_localize("UTC"), name=name)
        return pd.Series(values.to_pandas(), name=name).dt.tz_localize("UTC").astype(dtype_of("time"))
    if kind == "category":
        return _fast_category(values, name)
    return pd.Series(values.to_pandas(), name=name).astype("str")


def _fits_ns(values: pa.ChunkedArray) -> bool:
    """Whether second timestamps fit ``datetime64[ns]`` (year 0 would wrap around into 1753)."""
    low, high = pc.min_max(values.cast(pa.int64())).values()
    return low.as_py() is None or (low.as_py() > -(2**63) // 10**9 and high.as_py() < (2**63 - 1) // 10**9)


def _read_csv_fast(data: bytes, sheet: str, headers: list[str]) -> tuple[pd.DataFrame, int] | None:
    """The common case of a comma-separated report read in one typed Arrow pass.

    Ids, timestamps, money (as decimals, converted to minor units exactly in
    integers) and codes are parsed by Arrow's CSV reader itself. Returns
    None for anything unusual (a cell to round, to trim or to report as
    malformed, quoted headers, exotic currencies): the general path then
    reads the file and names the problem.
    """
    spec = SHEETS[sheet]
    names = _rename(headers, spec)
    kinds = {c.name: c.kind for c in spec}
    if any('"' in h for h in headers) or _missing_required(names, spec):
        return None
    types = {name: _FAST_TYPES[kinds.get(name, "str")] for name in names}
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=True, timestamp_parsers=["%Y-%m-%d %H:%M:%S"]
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    currency = _fast_currency(table.column("currency"))
    if currency is None or not all(_fits_ns(table.column(n)) for n in names if kinds.get(n) == "time"):
        return None
    out: dict[str, pd.Series] = {}
    for name in names:
        kind = kinds.get(name, "str")
        if kind == "currency":
            out[name] = currency[0]
        elif kind == "major":
            out[name] = _fast_money(table.column(name), currency[1], name)
            if out[name] is None:
                return None
        else:
            out[name] = _fast_column(table.column(name), kind, name)
    return _in_frame_order(out, spec), 0


def read_csv_sheet(data: bytes, sheet: str, *, where: str | None = None) -> tuple[pd.DataFrame, int]:
    """Parse one CSV sheet (bytes) into its typed frame.

    The delimiter (``,`` or ``;``; tab too) is sniffed from the header row;
    UTF-8 with or without BOM and CRLF or LF line ends are accepted. With
    ``;`` a decimal comma in money cells (``10,00``) is understood.

    Parameters
    ----------
    data : bytes
        The CSV file's content.
    sheet : {"balance_records", "opening_balance"}
        Which sheet it holds (decides the known columns).
    where : str, optional
        Name used in error messages (default ``"<sheet>.csv"``).

    Returns
    -------
    (DataFrame, int)
        The typed frame and the count of money cells rounded half to even.

    Examples
    --------
    >>> df, n = read_csv_sheet(b"Merchant ID;Shop ID;Gateway ID;Currency;Date;Opening balance\\n"
    ...                        b"1;2;3;KWD;2025-01-01 00:00:00;1,234\\n", "opening_balance")
    >>> df["opening_balance"].tolist(), str(df["date"].dtype)
    ([1234], 'datetime64[ns, UTC]')
    """
    where = where or f"{sheet}.csv"
    header = _header_line(data, where)
    delimiter = _sniff_delimiter(header, where)
    fast = _read_csv_fast(data, sheet, header.split(",")) if delimiter == "," else None
    if fast is not None:
        return fast
    try:
        raw = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            dtype="str",
            engine="pyarrow",
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8",
        )
    except (ValueError, pa.ArrowException, UnicodeDecodeError) as exc:
        raise DataError(
            f"{where}: not a well-formed UTF-8 CSV with delimiter {delimiter!r} "
            f"(truncated or corrupted?): {str(exc).splitlines()[0][:200]}"
        ) from None
    return _typed(raw, sheet, where, decimal_comma=delimiter == ";")


# --------------------------------------------------------------------------- XLSX


def read_xlsx_sheets(source: str | Path | IO[bytes], *, where: str = "balance_records.xlsx") -> ReportSheets:
    """Read both sheets of the report workbook (calamine engine).

    Sheets are found by name (``balance_records``, ``opening_balance``), or,
    when named otherwise (a Russian report), by their headers.

    Examples
    --------
    >>> import io, openpyxl
    >>> wb = openpyxl.Workbook(); ws = wb.active; ws.title = "balance_records"
    >>> ws.append(["Merchant ID", "Shop ID", "Gateway ID", "Record ID", "Created at", "Transaction type",
    ...            "Currency", "Amount", "Fee", "Net", "Balance before", "Balance after"])
    >>> ws.append([1, 2, 3, 10, "2025-01-01 00:00:00", "payment", "JPY", 1500, 45, 1455, 0, 1455])
    >>> wb.create_sheet("opening_balance").append(["Merchant ID", "Shop ID", "Gateway ID", "Currency",
    ...                                            "Date", "Opening balance"])
    >>> buf = io.BytesIO(); wb.save(buf)
    >>> read_xlsx_sheets(buf).records["net"].tolist()
    [1455]
    """
    try:
        book = pd.read_excel(source, sheet_name=None, engine="calamine")
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for bad workbooks
        raise DataError(f"{where}: not a readable XLSX workbook: {str(exc)[:200]}") from None
    frames = _pick_sheets(book, where)
    return _both(
        {name: _typed(raw, name, f"{where}, sheet {sheet_name!r}") for name, (sheet_name, raw) in frames.items()},
        "xlsx",
    )


def _pick_sheets(book: dict[str, pd.DataFrame], where: str) -> dict[str, tuple[str, pd.DataFrame]]:
    found: dict[str, tuple[str, pd.DataFrame]] = {}
    for sheet_name, raw in book.items():
        key = snake_case(sheet_name)
        name = key if key in SHEETS else _sheet_of(list(raw.columns))
        if name and name not in found:
            found[name] = (sheet_name, raw)
    for name in SHEETS:
        if name not in found:
            raise DataError(f"{where}: sheet {name!r} not found; the workbook has sheets {list(book)}")
    return found


# --------------------------------------------------------------------------- the zip


def read_report_file(source: str | Path | IO[bytes]) -> ReportSheets:
    """Read a downloaded report (``.zip`` of two CSVs or of one XLSX) into frames.

    Parameters
    ----------
    source : path or binary file object
        The zip as downloaded from the report's ``file_url``. A bare
        ``.xlsx`` (itself a zip) is accepted too.

    Raises
    ------
    DataError
        Corrupted or truncated zip, a sheet missing, or any malformed cell.

    Examples
    --------
    See the module docstring.
    """
    if not isinstance(source, (str, os.PathLike)) and not hasattr(source, "read"):
        raise ConfigurationError("source", type(source).__name__, "the path or binary file object of a report zip")
    try:
        with zipfile.ZipFile(source) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            names = [m.filename for m in members]
            if "[Content_Types].xml" in names:
                return read_xlsx_sheets(_rewind(source))
            xlsx = [m for m in members if m.filename.lower().endswith(".xlsx")]
            csvs = [m for m in members if m.filename.lower().endswith(".csv")]
            if csvs:
                return _read_csv_members(archive, csvs)
            if len(xlsx) == 1:
                return read_xlsx_sheets(io.BytesIO(_read_member(archive, xlsx[0])), where=xlsx[0].filename)
            raise DataError(
                f"{_source_name(source)}: the report zip holds {names}; expected balance_records.csv and "
                "opening_balance.csv, or one .xlsx workbook"
            )
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(
            f"{_source_name(source)}: not a readable zip (truncated or corrupted download?); "
            f"expected the .zip of the report's file_url: {exc}"
        ) from None
    except (OSError, EOFError, zipfile.LargeZipFile) as exc:
        raise DataError(f"{_source_name(source)}: the report file cannot be read: {exc}") from None


def _source_name(source: str | Path | IO[bytes]) -> str:
    """The file name of ``source`` for messages (a file object's ``name``, else "the report file")."""
    name = source if isinstance(source, (str, Path)) else getattr(source, "name", None)
    return Path(name).name if isinstance(name, (str, Path)) else "the report file"


def _rewind(source: str | Path | IO[bytes]) -> str | Path | IO[bytes]:
    if hasattr(source, "seek"):
        source.seek(0)
    return source


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(member)  # checks the CRC
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{member.filename} in the report zip is corrupted or truncated: {exc}") from None


def _read_csv_members(archive: zipfile.ZipFile, csvs: list[zipfile.ZipInfo]) -> ReportSheets:
    chosen: dict[str, tuple[str, bytes]] = {}
    for member in csvs:
        data = _read_member(archive, member)
        stem = snake_case(Path(member.filename).stem)
        name = stem if stem in SHEETS else _sheet_of(_csv_headers(data, member.filename))
        if name and name not in chosen:
            chosen[name] = (member.filename, data)
    for name in SHEETS:
        if name not in chosen:
            raise DataError(f"report zip has no {name}.csv; it holds {[m.filename for m in csvs]}")
    return _both({name: read_csv_sheet(data, name, where=filename) for name, (filename, data) in chosen.items()}, "csv")


def _csv_headers(data: bytes, where: str) -> list[str]:
    line = _header_line(data, where)
    return line.split(_sniff_delimiter(line, where))


def _both(typed: dict[str, tuple[pd.DataFrame, int]], fmt: str) -> ReportSheets:
    """The report from its two typed sheets: ``balance_before`` derived when missing, units checked."""
    records, opening = typed["balance_records"][0], typed["opening_balance"][0]
    frames = {"balance_records": records, "opening_balance": opening}
    missing = {name: [c.name for c in SHEETS[name] if c.name not in frames[name].columns] for name in SHEETS}
    extra = {name: [n for n in frames[name].columns if n not in {c.name for c in SHEETS[name]}] for name in SHEETS}
    derived = []
    if "balance_before" not in records.columns and "balance_after" in records.columns:
        records, derived = derive_balance_before(records), ["balance_before"]
    return ReportSheets(
        records=records,
        opening_balance=opening,
        format=fmt,
        rounded_values=typed["balance_records"][1] + typed["opening_balance"][1],
        missing_columns=missing,
        derived_columns=derived,
        extra_columns=extra,
        units=check_units(records, opening),
    )


# --------------------------------------------------------------------------- the balance chain


def _movement_column(records: pd.DataFrame) -> str:
    """What a row moves the balance by: ``net`` when the sheet has it, else ``amount``."""
    return "net" if "net" in records.columns else "amount"


def derive_balance_before(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with ``balance_before = balance_after - movement`` inserted before ``balance_after``.

    The movement is ``net`` when the sheet has it, else ``amount``; a row
    missing either value gets ``<NA>``.

    Examples
    --------
    >>> df = pd.DataFrame({"currency": ["EUR", "EUR"], "amount": pd.array([1000, -250], dtype="Int64"),
    ...                    "balance_after": pd.array([1000, 750], dtype="Int64")})
    >>> derive_balance_before(df)["balance_before"].tolist()
    [0, 1000]
    """
    out = records.copy()
    out.insert(
        out.columns.get_loc("balance_after"),
        "balance_before",
        records["balance_after"] - records[_movement_column(records)],
    )
    return out


def _previous_balances(records: pd.DataFrame, opening: pd.DataFrame | None, keys: list[str]) -> pd.Series:
    """Each row's previous ``balance_after`` in its account; an account's first row gets its opening balance.

    The opening balance is used only when the opening sheet names the
    account by the same columns and holds one row for it.
    """
    previous = records.groupby(keys, sort=False, observed=True, dropna=False)["balance_after"].shift()
    if opening is None or not set(keys) <= set(opening.columns) or opening.duplicated(keys).any():
        return previous
    first = ~records.duplicated(keys).to_numpy()
    key_of = {c: records[c].astype("str") if c == "currency" else records[c] for c in keys}
    table = opening[[*keys, "opening_balance"]].astype({"currency": "str"})
    found = pd.DataFrame(key_of).merge(table, on=keys, how="left")["opening_balance"]
    return previous.where(~first, found.to_numpy())


def check_units(records: pd.DataFrame, opening: pd.DataFrame | None = None) -> dict[str, Any]:
    """Check the money units against the balance chain; raise when they contradict it.

    Per account (its id columns and currency), in file order, each row
    should move the balance by its movement (``net``, else ``amount``):
    ``balance_after[i] == balance_after[i - 1] + movement[i]``; an account's
    first row links to its opening balance. Isolated breaks are data
    (:func:`ledgerkit.check_balances` finds them). But when most links fit
    one constant factor (the movement 100x what the balance moves, as when
    one column is in minor and the other in major units), or when no
    movement is negative yet the balance falls by one (unsigned debits) more
    often than it breaks otherwise, the numbers would come out wrong:
    :class:`DataError`.

    Returns
    -------
    dict
        ``movement`` (the column checked), ``links`` (links with both sides
        known and something moving), ``chained`` (links that hold).

    Examples
    --------
    >>> df = pd.DataFrame({"shop_id": [1, 1, 1], "currency": ["EUR"] * 3,
    ...                    "amount": pd.array([100000, -5000, 20000], dtype="Int64"),
    ...                    "balance_after": pd.array([1000, 950, 1150], dtype="Int64")})
    >>> check_units(df.iloc[:1])
    {'movement': 'amount', 'links': 0, 'chained': 0}
    >>> check_units(df)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ledgerkit.errors.DataError: balance_records: the money units contradict the balance chain: in 2 of 2 links ...
    """
    movement = _movement_column(records)
    summary = {"movement": movement, "links": 0, "chained": 0}
    if "balance_after" not in records.columns or records.empty:
        return summary
    keys = [c for c in ACCOUNT_IDS if c in records.columns] + ["currency"]
    previous = _previous_balances(records, opening, keys)
    moves = records[movement]
    known = (previous.notna() & records["balance_after"].notna() & moves.notna()).to_numpy()
    rows = np.flatnonzero(known)
    d = (records["balance_after"] - previous).to_numpy(dtype="int64", na_value=0)[rows]
    m = moves.to_numpy(dtype="int64", na_value=0)[rows]
    moving = (d != 0) | (m != 0)
    rows, d, m = rows[moving], d[moving], m[moving]
    chained = int((d == m).sum())
    summary.update(links=len(rows), chained=chained)
    if chained < len(rows):
        problem = _unit_problem(d, m, chained, unsigned=not bool((moves < 0).any()), movement=movement)
        if problem is not None:
            text, bad = problem
            lines = [int(r) + 2 for r in rows[bad][:3]]  # the file's 1-based row: the header is row 1
            where = "; ".join(
                f"row {line}: {movement} {int(mv)}, balance moved {int(dv)}"
                for line, mv, dv in zip(lines, m[bad][:3], d[bad][:3], strict=True)
            )
            raise DataError(
                f"balance_records: the money units contradict the balance chain: {text} "
                f"(minor units as read; first rows: {where})",
                rows=lines,
            )
    return summary


def _unit_problem(
    d: np.ndarray, m: np.ndarray, chained: int, *, unsigned: bool, movement: str
) -> tuple[str, np.ndarray] | None:
    """What explains the links better than the units as read: (explanation, rows it explains), or None."""
    n = len(d)
    factor = _majority_factor(np.abs(m), np.abs(d), n)
    if factor is not None:
        (p, q), bad = factor
        if bad.sum() >= 2 and bad.sum() > chained:
            text = f"{p}x" if q == 1 else f"1/{q}" if p == 1 else f"{p}/{q}"
            return (
                f"in {int(bad.sum())} of {n} links the {movement} is {text} what the balance moves (and in "
                f"{chained} equal to it), so {movement!r} and 'balance_after' are not in the same unit; "
                f"ledgerkit reads both as major units of the currency and refuses to return amounts off by "
                f"{text}"
            ), bad
    flips = (d == -m) & (m != 0)
    if unsigned and flips.any() and flips.sum() > n - chained - flips.sum():
        return (
            f"in {int(flips.sum())} of {n} links the balance falls by a positive {movement}, and no "
            f"{movement} in the file is negative: debits look unsigned, so {movement!r} does not say which "
            "way a row moves the balance"
        ), flips
    return None


#: The largest numerator or denominator of a unit factor looked for (units differ by 10, 100, 1000, ...).
_MOST_FACTOR = 10**6


def _majority_factor(num: np.ndarray, den: np.ndarray, n: int) -> tuple[tuple[int, int], np.ndarray] | None:
    """The ratio ``num/den`` (reduced, not 1) shared by more than half of ``n`` links, and where it holds.

    A ratio held by most links is the median of the ratios, so only that
    one candidate is checked, in exact integers.
    """
    other = (num != 0) & (den != 0) & (num != den)
    if other.sum() * 2 <= n:
        return None
    ratios = num[other] / den[other]
    k = len(ratios) // 2
    at = np.flatnonzero(other)[np.argpartition(ratios, k)[k]]
    g = math.gcd(int(num[at]), int(den[at]))
    p, q = int(num[at]) // g, int(den[at]) // g
    if max(p, q) > _MOST_FACTOR:
        return None
    held = other & (num * q == den * p)
    return ((p, q), held) if held.sum() * 2 > n else None
