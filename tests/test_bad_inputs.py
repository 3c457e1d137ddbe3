"""Bad inputs to every public function: a LedgerkitError naming the input and the expectation.

Table-driven: each case calls one public function with one bad input and
says which error class it must raise and which words its message must hold
(the input's name, and what was expected). For every case the store
directory is hashed before and after (it must not change) and, for the
loaders, the sandbox must have received no request.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import matplotlib
import openpyxl
import pandas as pd
import pytest

from ledgerkit import analysis
from ledgerkit.viz import plots
from ledgerkit.errors import ConfigurationError, DataError, LedgerkitError
from ledgerkit.sandbox.server import Sandbox
from ledgerkit._ingest.sheets import read_report_file
from ledgerkit import load_balance_records
from ledgerkit import iter_statements, load_statements
from ledgerkit import iter_transactions, load_transactions
from ledgerkit.store import Store

matplotlib.use("Agg")

try:
    from ledgerkit.viz import widgets
except ImportError:  # pragma: no cover - widgets not installed
    widgets = None

JAN = ("2025-01-01", "2025-02-01")
DWH = ("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00")


@dataclass
class Ctx:
    """What the cases work with: a sandbox, a filled store, loaded frames, report files."""

    sb: Sandbox
    store: Store
    tx: pd.DataFrame
    st: pd.DataFrame
    csv_zip: bytes
    tmp: Path

    def kw(self, source: str) -> dict[str, Any]:
        return {"progress": False, **self.sb.kwargs(source)}

    def tx_load(self, *args: Any, **kw: Any) -> Any:
        return load_transactions(*(args or JAN), **{**self.kw("transactions"), "store": self.store, **kw})

    def st_load(self, **kw: Any) -> Any:
        return load_statements(**{**self.kw("statements"), "store": self.store, "since": "2025-01-01", **kw})

    def dwh_load(self, *args: Any, **kw: Any) -> Any:
        base = {**self.kw("balance_records"), "store": self.store, "currency": "EUR", "user_id": 1}
        return load_balance_records(*(args or DWH), **{**base, **kw})

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-inputs")
    with Sandbox(seed=0, size=200, report_seconds=0.02) as sb:
        store = Store(tmp / "store")
        kw = {"progress": False}
        tx = load_transactions(*JAN, store=store, **kw, **sb.kwargs("transactions"))
        st = load_statements(since="2025-01-01", until="2025-02-01", store=store, **kw, **sb.kwargs("statements"))
        load_balance_records(*DWH, currency="EUR", user_id=1, download_dir=tmp, **kw, **sb.kwargs("balance_records"))
        csv_zip = next(tmp.glob("*.zip")).read_bytes()
        yield Ctx(sb, store, tx, st, csv_zip, tmp)


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def csv_member(ctx: Ctx, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(ctx.csv_zip)) as archive:
        return archive.read(name)


def xlsx_with(sheets: list[str]) -> bytes:
    book = openpyxl.Workbook()
    book.active.title = sheets[0]
    for name in sheets[1:]:
        book.create_sheet(name)
    for sheet in book.worksheets:
        sheet.append(["Merchant ID", "Currency"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def drop(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.drop(columns=[column])


def with_column(frame: pd.DataFrame, column: str, values: Any) -> pd.DataFrame:
    return frame.assign(**{column: values})


def mixed_currency(frame: pd.DataFrame) -> pd.DataFrame:
    currencies = ["EUR" if i % 2 else "USD" for i in range(len(frame))]
    return frame.assign(currency=pd.Series(currencies, index=frame.index, dtype="category"))


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Ctx], Any]
    error: type[LedgerkitError]
    words: tuple[str, ...]  # the message must name the input and the expectation
    loader: bool = False


CFG = ConfigurationError
NAIVE = datetime(2025, 1, 1)
CASES = [
    # --- transactions loader
    Case("tx date_from wrong type", lambda c: c.tx_load(12345, "2025-02-01"), CFG, ("date_from", "expected"), True),
    Case("tx reversed range", lambda c: c.tx_load("2025-02-01", "2025-01-01"), CFG, ("date_to", "after date_from"), True),
    Case("tx naive datetime", lambda c: c.tx_load(NAIVE, "2025-02-01"), CFG, ("date_from", "expected"), True),
    Case("tx unknown zone", lambda c: c.tx_load(time_zone="Mars/Olympus_Mons"), CFG, ("time_zone", "IANA"), True),
    Case("tx unknown status", lambda c: c.tx_load(status="paid"), CFG, ("status", "one of"), True),
    Case("tx method not a name", lambda c: c.tx_load(payment_method_type="Credit Card"), CFG, ("payment_method_type", "credit_card"), True),
    Case("tx unknown date_type", lambda c: c.tx_load(date_type="booked_at"), CFG, ("date_type", "one of"), True),
    Case("tx settled_at not midnight", lambda c: c.tx_load("2025-01-01T10:00:00+00:00", "2025-02-01T00:00:00+00:00",
                                                            date_type="settled_at"), CFG, ("date_from", "midnight"), True),
    Case("tx max_workers zero", lambda c: c.tx_load(store=None, max_workers=0), CFG, ("max_workers", "integer"), True),
    Case("tx store wrong type", lambda c: c.tx_load(store=42), CFG, ("store", "Store"), True),
    Case("tx negative lookback", lambda c: c.tx_load(lookback=pd.Timedelta(days=-1)), CFG, ("lookback", "non-negative"), True),
    Case("tx cursor with store", lambda c: c.tx_load(starting_after=5), CFG, ("starting_after", "store"), True),
    Case("tx include_pii as text", lambda c: c.tx_load(include_pii="False"), CFG, ("include_pii", "True or False"), True),
    Case("tx include_pii no store", lambda c: c.tx_load(store=None, include_pii="no"), CFG,
         ("include_pii", "True or False"), True),
    Case("tx include_pii as int", lambda c: c.tx_load(store=None, include_pii=1), CFG, ("include_pii", "True or False"), True),
    Case("iter tx include_pii as text", lambda c: iter_transactions(*JAN, include_pii="False", **c.kw("transactions")),
         CFG, ("include_pii", "True or False"), True),
    Case("tx progress as text", lambda c: c.tx_load(progress="yes"), CFG, ("progress", "True, False or None"), True),
    Case("tx progress no store", lambda c: c.tx_load(store=None, progress=0), CFG, ("progress", "True, False or None"), True),
    Case("st progress as text", lambda c: c.st_load(progress="no"), CFG, ("progress", "True, False or None"), True),
    Case("dwh progress as text", lambda c: c.dwh_load(progress="False"), CFG, ("progress", "True, False or None"), True),
    Case("dwh progress no store", lambda c: c.dwh_load(store=None, progress=1), CFG, ("progress", "True, False or None"), True),
    Case("tx URL with credentials", lambda c: c.tx_load(base_url="http://u:pw@127.0.0.1:1/gateway"), CFG,
         ("base_url", "without credentials"), True),
    Case("tx URL not http", lambda c: c.tx_load(base_url="ftp://127.0.0.1/gateway"), CFG, ("base_url", "http(s) URL"), True),
    Case("tx shop_id wrong type", lambda c: c.tx_load(shop_id=True, secret_key="k"), CFG, ("shop_id", "integer id"), True),
    Case("iter tx reversed range", lambda c: iter_transactions("2025-02-01", "2025-01-01", **c.kw("transactions")), CFG,
         ("date_to", "after date_from"), True),
    # --- statements loader
    Case("st neither since nor payout", lambda c: c.st_load(since=None), CFG, ("date_from", "payout_id"), True),
    Case("st reversed range", lambda c: c.st_load(until="2024-12-01"), CFG, ("until", "after since"), True),
    Case("st malformed date", lambda c: c.st_load(since="2025-13-01"), CFG, ("since", "expected"), True),
    Case("st naive datetime", lambda c: c.st_load(since=datetime(2025, 1, 1, 5)), CFG, ("since", "expected"), True),
    Case("st per_page zero", lambda c: c.st_load(per_page=0), CFG, ("per_page", "1 to 1000"), True),
    Case("st per_page too big", lambda c: c.st_load(per_page=5000), CFG, ("per_page", "1 to 1000"), True),
    Case("st unknown currency", lambda c: c.st_load(currency="ZZZ"), CFG, ("currency", "expected"), True),
    Case("st start_page with store", lambda c: c.st_load(start_page=3), CFG, ("start_page", "store"), True),
    Case("iter st start_page zero", lambda c: iter_statements(since="2025-01-01", start_page=0, **c.kw("statements")),
         CFG, ("start_page", "integer"), True),
    # --- balance records loader
    Case("dwh naive date", lambda c: c.dwh_load("2025-01-01T00:00:00", DWH[1]), CFG, ("date_from", "timezone-aware"), True),
    Case("dwh reversed range", lambda c: c.dwh_load(DWH[1], DWH[0]), CFG, ("date_to", "after date_from"), True),
    Case("dwh unknown currency", lambda c: c.dwh_load(currency="ABC"), CFG, ("currency", "expected"), True),
    Case("dwh user_id negative", lambda c: c.dwh_load(user_id=-1), CFG, ("user_id", "positive integer"), True),
    Case("dwh unknown format", lambda c: c.dwh_load(format="pdf"), CFG, ("format", "one of"), True),
    Case("dwh unknown language", lambda c: c.dwh_load(language="de"), CFG, ("language", "one of"), True),
    Case("dwh poll_timeout zero", lambda c: c.dwh_load(poll_timeout=0), CFG, ("poll_timeout", "positive"), True),
    Case("dwh poll_interval reversed", lambda c: c.dwh_load(poll_interval=(5, 1)), CFG, ("poll_interval", "first <= most"), True),
    Case("dwh report_id path", lambda c: c.dwh_load(report_id="../x"), CFG, ("report_id", "report id"), True),
    Case("dwh download_dir with store", lambda c: c.dwh_load(download_dir=str(c.tmp)), CFG, ("download_dir", "store"), True),
    # --- analysis
    Case("fees not a frame", lambda c: analysis.fee_breakdown("transactions"), CFG, ("frame", "DataFrame")),
    Case("fees empty frame", lambda c: analysis.fee_breakdown(pd.DataFrame()), CFG, ("frame", "columns")),
    Case("fees missing fee column", lambda c: analysis.fee_breakdown(drop(c.tx, "transaction_fee")), CFG,
         ("transaction_fee",)),
    Case("fees unknown freq", lambda c: analysis.fee_breakdown(c.tx, freq="Y"), CFG, ("freq", "expected")),
    Case("fees unknown group", lambda c: analysis.fee_breakdown(c.tx, by="planet"), CFG, ("by", "expected")),
    Case("fees unknown currency", lambda c: analysis.fee_breakdown(with_column(c.tx, "currency", "QQQ")), CFG,
         ("currency", "QQQ")),
    Case("fee model negative tolerance", lambda c: analysis.fee_model(c.tx, tolerance=-1), CFG, ("tolerance", "expected")),
    Case("rate change reversed period", lambda c: analysis.effective_rate_change(
        c.tx, ("2025-02-01", "2025-01-01"), ("2025-02-01", "2025-03-01")), CFG, ("period_a", "expected")),
    Case("fees naive time column", lambda c: analysis.fee_breakdown(
        with_column(c.tx, "created_at", c.tx["created_at"].dt.tz_localize(None)), freq="M"), CFG, ("created_at", "tz-aware")),
    Case("roll_forward missing column", lambda c: analysis.roll_forward(drop(c.st, "balance_after")), CFG,
         ("balance_after",)),
    Case("roll_forward naive times", lambda c: analysis.roll_forward(
        with_column(c.st, "created", c.st["created"].dt.tz_localize(None))), CFG, ("created", "tz-aware")),
    Case("roll_forward unknown freq", lambda c: analysis.roll_forward(c.st, freq="fortnight"), CFG, ("freq", "expected")),
    Case("check_balances not a frame", lambda c: analysis.check_balances([1, 2]), CFG, ("statements", "DataFrame")),
    Case("payout_groups missing payout_id", lambda c: analysis.payout_groups(drop(c.st, "payout_id")), CFG, ("payout_id",)),
    Case("payout_items unknown payout", lambda c: analysis.payout_items(c.st, "no-such-payout"), CFG,
         ("payout_id", "expected")),
    Case("waterfall plot of mixed currencies", lambda c: plots.plot_payout_waterfall(analysis.payout_waterfall(
        mixed_currency(c.st), c.st["payout_id"].dropna().iloc[0])), CFG, ("currency", "one of")),
    Case("reconcile not a frame", lambda c: analysis.reconcile_transactions(c.tx, "records.csv"), CFG,
         ("balance_records", "DataFrame")),
    Case("reconciliation_summary empty", lambda c: analysis.reconciliation_summary(pd.DataFrame()), CFG,
         ("result", "columns")),
    # --- store
    Case("store path wrong type", lambda c: Store(42), CFG, ("path", "directory")),
    Case("store path is a file", lambda c: Store(c.file("plain.txt", b"x")), CFG, ("path", "directory")),
    Case("store unknown source", lambda c: c.store.read("payments"), CFG, ("source", "one of")),
    Case("store bad start", lambda c: c.store.read("transactions", start="next tuesday"), CFG, ("start", "timestamp")),
    Case("store clear unknown source", lambda c: c.store.clear("payments"), CFG, ("source", "one of")),
    Case("store clear account only", lambda c: c.store.clear(account=1), CFG, ("source", "account")),
    # --- report files
    Case("file corrupted zip", lambda c: read_report_file(c.file("bad.zip", b"PK\x03\x04 not really a zip")), DataError,
         ("bad.zip", "zip")),
    Case("file truncated zip", lambda c: read_report_file(c.file("cut.zip", c.csv_zip[: len(c.csv_zip) // 2])), DataError,
         ("cut.zip", "zip")),
    Case("file empty", lambda c: read_report_file(c.file("empty.zip", b"")), DataError, ("empty.zip", "zip")),
    Case("csv unknown delimiter", lambda c: read_report_file(c.file("semi.zip", zip_of({
        "balance_records.csv": csv_member(c, "balance_records.csv").replace(b",", b"|"),
        "opening_balance.csv": csv_member(c, "opening_balance.csv")}))), DataError, ("balance_records.csv", "delimiter")),
    Case("csv unknown encoding", lambda c: read_report_file(c.file("utf16.zip", zip_of({
        "balance_records.csv": csv_member(c, "balance_records.csv").decode("utf-8-sig").encode("utf-16"),
        "opening_balance.csv": csv_member(c, "opening_balance.csv")}))), DataError, ("balance_records", "UTF-8")),
    Case("csv sheet missing", lambda c: read_report_file(c.file("one.zip", zip_of({
        "balance_records.csv": csv_member(c, "balance_records.csv")}))), DataError, ("opening_balance",)),
    Case("xlsx sheet missing", lambda c: read_report_file(c.file("one.xlsx", xlsx_with(["balance_records"]))), DataError,
         ("opening_balance", "sheet")),
]

if widgets is not None:
    CASES += [
        Case("widget fees not a frame", lambda c: widgets.explore_fees(None), CFG, ("frame", "DataFrame")),
        Case("widget balance empty frame", lambda c: widgets.explore_balance(pd.DataFrame()), CFG, ("statements", "columns")),
        Case("widget payouts missing column", lambda c: widgets.explore_payouts(drop(c.st, "payout_id")), CFG,
             ("payout_id",)),
    ]


def test_there_are_enough_cases():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(ctx, case: Case):
    before = tree_hash(ctx.store.path)
    ctx.sb.clear_requests()
    with pytest.raises(LedgerkitError) as info:
        result = case.call(ctx)
        if hasattr(result, "__next__"):
            next(result)
    exc = info.value
    message = str(exc)
    assert type(exc) is case.error or isinstance(exc, case.error), f"{type(exc).__name__}: {message}"
    for word in case.words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    assert "Traceback" not in message and len(message) < 2000
    assert tree_hash(ctx.store.path) == before, "the store changed"
    if case.loader:
        assert ctx.sb.requests == [], "a request was sent before the input was checked"
