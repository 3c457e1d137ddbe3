"""Bad inputs to every public entry point: a LedgerkitError naming the input and the expectation.

Table-driven: each case calls one public function (a loader, a ``Client``
method, the store, the accounts file, an analysis function, a plot or
explorer, the close pack, a report file, the sandbox) with one bad input and
says which error class it must raise and which words its message must hold
(the input's name, and what was expected). For every case:

- the sandbox received no request (its request log stays empty);
- the store's files are byte for byte what they were, and so is the working
  directory the case runs in (``store=""`` once wrote there);
- the message carries no traceback and none of the case's ``hidden`` words
  (secrets, passwords).

Cases named "(was: ...)" record what happened before they were refused;
"(issue 11)" marks the cases listed in that issue. The command line has its
own table (``tests/app/test_bad_cli_inputs.py``), the analysis functions a
longer one (``tests/analysis/test_bad_analysis_inputs.py``); together they
hold at least 250 cases (:func:`test_at_least_250_bad_inputs_in_the_tables`).
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import openpyxl
import pandas as pd
import pytest

import ledgerkit as lk
from ledgerkit import (
    analysis,
    iter_statements,
    iter_transactions,
    load_balance_records,
    load_statements,
    load_transactions,
)
from ledgerkit._ingest.sheets import read_report_file
from ledgerkit.accounts import Account, select
from ledgerkit.errors import ConfigurationError, DataError, LedgerkitError, StoreError
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store
from ledgerkit.viz import plots

mpl.use("Agg")

try:
    from ledgerkit.viz import widgets
except ImportError:  # pragma: no cover - widgets not installed
    widgets = None

JAN = ("2025-01-01", "2025-02-01")
DWH = ("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00")
#: The variables holding the secrets of the accounts file's accounts (set for the module's cases).
SECRET_VARIABLES = {
    "transactions": "LK_BAD_INPUTS_TX",
    "statements": "LK_BAD_INPUTS_ST",
    "balance_records": "LK_BAD_INPUTS_DWH",
}


@dataclass
class Ctx:
    """What the cases work with: a sandbox, a filled store, loaded frames, report files, an accounts file."""

    sb: Sandbox
    store: Store
    tx: pd.DataFrame
    st: pd.DataFrame
    report: Any
    csv_zip: bytes
    tmp: Path
    accounts_file: Path
    workdir: Path

    def kw(self, source: str) -> dict[str, Any]:
        return {"progress": False, **self.sb.kwargs(source)}

    def tx_load(self, *args: Any, **kw: Any) -> Any:
        return load_transactions(*(args or JAN), **{**self.kw("transactions"), "store": self.store, **kw})

    def st_load(self, **kw: Any) -> Any:
        return load_statements(**{**self.kw("statements"), "store": self.store, "since": "2025-01-01", **kw})

    def dwh_load(self, *args: Any, **kw: Any) -> Any:
        base = {**self.kw("balance_records"), "store": self.store, "currency": "EUR", "user_id": 1}
        return load_balance_records(*(args or DWH), **{**base, **kw})

    def client(self, source: str, **kw: Any) -> lk.Client:
        return lk.Client(**{source: self.sb.kwargs(source)}, progress=False, **kw)

    def many(self, loader: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``loader`` over the accounts file's accounts (all of them unless ``accounts=`` says otherwise)."""
        if loader is load_balance_records:
            kw = {"currency": "EUR", "user_id": 1, **kw}
        period = args or (JAN if loader is not load_statements else ())
        if loader is load_statements and not args:
            kw = {"since": JAN[0], **kw}
        return loader(
            *period,
            **{"accounts": "all", "accounts_file": self.accounts_file, "progress": False, "store": self.store, **kw},
        )

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def accounts_text(self, body: str) -> Path:
        """An accounts file holding ``body`` (a TOML text), named by its content."""
        return self.file(f"accounts-{hashlib.sha256(body.encode()).hexdigest()[:10]}.toml", body)


def _accounts_toml(sb: Sandbox) -> str:
    urls = {"transactions": sb.transactions_url, "statements": sb.statements_url, "balance_records": sb.dwh_url}
    entries = [
        ("shop-a", "transactions", ["eu"]),
        ("shop-b", "transactions", ["us"]),
        ("mc", "statements", []),
        ("psp", "balance_records", []),
    ]
    return "\n".join(
        f'[accounts.{name}]\nsource = "{source}"\nbase_url = "{urls[source]}"\n'
        f'id = "{sb.credentials[source].user}"\nsecret_env = "{SECRET_VARIABLES[source]}"\ntags = {tags!r}\n'
        for name, source, tags in entries
    ).replace("'", '"')


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-inputs")
    with Sandbox(seed=0, size=200, report_seconds=0.02) as sb, pytest.MonkeyPatch.context() as env:
        for source, variable in SECRET_VARIABLES.items():
            env.setenv(variable, sb.credentials[source].secret)
        store = Store(tmp / "store")
        kw = {"progress": False}
        tx = load_transactions(*JAN, store=store, **kw, **sb.kwargs("transactions"))
        st = load_statements(since="2025-01-01", until="2025-02-01", store=store, **kw, **sb.kwargs("statements"))
        report = load_balance_records(
            *DWH, currency="EUR", user_id=1, download_dir=tmp, **kw, **sb.kwargs("balance_records")
        )
        csv_zip = next(tmp.glob("*.zip")).read_bytes()
        accounts_file = tmp / "ledgerkit.toml"
        accounts_file.write_text(_accounts_toml(sb), encoding="utf-8")
        workdir = tmp / "workdir"
        workdir.mkdir()
        yield Ctx(sb, store, tx, st, report, csv_zip, tmp, accounts_file, workdir)


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


def naive(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.assign(**{column: frame[column].dt.tz_localize(None)})


def mixed_currency(frame: pd.DataFrame) -> pd.DataFrame:
    currencies = ["EUR" if i % 2 else "USD" for i in range(len(frame))]
    return frame.assign(currency=pd.Series(currencies, index=frame.index, dtype="category"))


def entry(name: str = "shop", **fields: Any) -> str:
    """One ``[accounts.<name>]`` table of an accounts file, good but for ``fields`` (None leaves a field out)."""
    values = {
        "source": "transactions",
        "base_url": "https://backoffice.example.com",
        "id": 1673,
        "secret_env": "SHOP_SECRET",
        **fields,
    }
    lines = [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]
    return f"[accounts.{name}]\n" + "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Ctx], Any]
    error: type[LedgerkitError]
    words: tuple[str, ...]  # the message must name the input and the expectation
    hidden: tuple[str, ...] = ()  # never in the message nor the error's attributes (secrets)


CFG = ConfigurationError
NAIVE = datetime(2025, 1, 1)
CASES = [
    # --- transactions loader
    Case("tx date_from wrong type", lambda c: c.tx_load(12345, "2025-02-01"), CFG, ("date_from", "expected")),
    Case("tx reversed range", lambda c: c.tx_load("2025-02-01", "2025-01-01"), CFG, ("date_to", "after date_from")),
    Case("tx naive datetime", lambda c: c.tx_load(NAIVE, "2025-02-01"), CFG, ("date_from", "expected")),
    Case("tx unknown zone", lambda c: c.tx_load(time_zone="Mars/Olympus_Mons"), CFG, ("time_zone", "IANA")),
    Case("tx unknown status", lambda c: c.tx_load(status="paid"), CFG, ("status", "one of")),
    Case(
        "tx method not a name",
        lambda c: c.tx_load(payment_method_type="Credit Card"),
        CFG,
        ("payment_method_type", "credit_card"),
    ),
    Case("tx unknown date_type", lambda c: c.tx_load(date_type="booked_at"), CFG, ("date_type", "one of")),
    Case(
        "tx settled_at not midnight",
        lambda c: c.tx_load("2025-01-01T10:00:00+00:00", "2025-02-01T00:00:00+00:00", date_type="settled_at"),
        CFG,
        ("date_from", "midnight"),
    ),
    Case("tx max_workers zero", lambda c: c.tx_load(store=None, max_workers=0), CFG, ("max_workers", "integer")),
    Case("tx store wrong type", lambda c: c.tx_load(store=42), CFG, ("store", "Store")),
    Case(
        "tx negative lookback", lambda c: c.tx_load(lookback=pd.Timedelta(days=-1)), CFG, ("lookback", "non-negative")
    ),
    Case("tx cursor with store", lambda c: c.tx_load(starting_after=5), CFG, ("starting_after", "store")),
    Case("tx include_pii as text", lambda c: c.tx_load(include_pii="False"), CFG, ("include_pii", "True or False")),
    Case(
        "tx include_pii no store",
        lambda c: c.tx_load(store=None, include_pii="no"),
        CFG,
        ("include_pii", "True or False"),
    ),
    Case(
        "tx include_pii as int", lambda c: c.tx_load(store=None, include_pii=1), CFG, ("include_pii", "True or False")
    ),
    Case(
        "iter tx include_pii as text",
        lambda c: iter_transactions(*JAN, include_pii="False", **c.kw("transactions")),
        CFG,
        ("include_pii", "True or False"),
    ),
    Case("tx progress as text", lambda c: c.tx_load(progress="yes"), CFG, ("progress", "True, False or None")),
    Case("tx progress no store", lambda c: c.tx_load(store=None, progress=0), CFG, ("progress", "True, False or None")),
    Case("st progress as text", lambda c: c.st_load(progress="no"), CFG, ("progress", "True, False or None")),
    Case("dwh progress as text", lambda c: c.dwh_load(progress="False"), CFG, ("progress", "True, False or None")),
    Case(
        "dwh progress no store", lambda c: c.dwh_load(store=None, progress=1), CFG, ("progress", "True, False or None")
    ),
    Case(
        "tx URL with credentials",
        lambda c: c.tx_load(base_url="http://u:pw@127.0.0.1:1/gateway"),
        CFG,
        ("base_url", "without credentials"),
    ),
    Case("tx URL not http", lambda c: c.tx_load(base_url="ftp://127.0.0.1/gateway"), CFG, ("base_url", "http(s) URL")),
    Case("tx shop_id wrong type", lambda c: c.tx_load(shop_id=True, secret_key="k"), CFG, ("shop_id", "integer id")),
    Case(
        "iter tx reversed range",
        lambda c: iter_transactions("2025-02-01", "2025-01-01", **c.kw("transactions")),
        CFG,
        ("date_to", "after date_from"),
    ),
    # --- statements loader
    Case("st neither since nor payout", lambda c: c.st_load(since=None), CFG, ("date_from", "payout_id")),
    Case("st reversed range", lambda c: c.st_load(until="2024-12-01"), CFG, ("until", "after since")),
    Case("st malformed date", lambda c: c.st_load(since="2025-13-01"), CFG, ("since", "expected")),
    Case("st naive datetime", lambda c: c.st_load(since=datetime(2025, 1, 1, 5)), CFG, ("since", "expected")),
    Case("st per_page zero", lambda c: c.st_load(per_page=0), CFG, ("per_page", "1 to 1000")),
    Case("st per_page too big", lambda c: c.st_load(per_page=5000), CFG, ("per_page", "1 to 1000")),
    Case("st unknown currency", lambda c: c.st_load(currency="ZZZ"), CFG, ("currency", "expected")),
    Case("st start_page with store", lambda c: c.st_load(start_page=3), CFG, ("start_page", "store")),
    Case(
        "iter st start_page zero",
        lambda c: iter_statements(since="2025-01-01", start_page=0, **c.kw("statements")),
        CFG,
        ("start_page", "integer"),
    ),
    # --- balance records loader
    Case("dwh naive date", lambda c: c.dwh_load("2025-01-01T00:00:00", DWH[1]), CFG, ("date_from", "timezone-aware")),
    Case("dwh reversed range", lambda c: c.dwh_load(DWH[1], DWH[0]), CFG, ("date_to", "after date_from")),
    Case("dwh unknown currency", lambda c: c.dwh_load(currency="ABC"), CFG, ("currency", "expected")),
    Case("dwh user_id negative", lambda c: c.dwh_load(user_id=-1), CFG, ("user_id", "positive integer")),
    Case("dwh unknown format", lambda c: c.dwh_load(format="pdf"), CFG, ("format", "one of")),
    Case("dwh unknown language", lambda c: c.dwh_load(language="de"), CFG, ("language", "one of")),
    Case("dwh poll_timeout zero", lambda c: c.dwh_load(poll_timeout=0), CFG, ("poll_timeout", "positive")),
    Case(
        "dwh poll_interval reversed",
        lambda c: c.dwh_load(poll_interval=(5, 1)),
        CFG,
        ("poll_interval", "first <= most"),
    ),
    Case("dwh report_id path", lambda c: c.dwh_load(report_id="../x"), CFG, ("report_id", "report id")),
    Case("dwh download_dir with store", lambda c: c.dwh_load(download_dir=str(c.tmp)), CFG, ("download_dir", "store")),
    # --- analysis
    Case("fees not a frame", lambda c: analysis.fee_breakdown("transactions"), CFG, ("frame", "DataFrame")),
    Case("fees empty frame", lambda c: analysis.fee_breakdown(pd.DataFrame()), CFG, ("frame", "columns")),
    Case(
        "fees missing fee column",
        lambda c: analysis.fee_breakdown(drop(c.tx, "transaction_fee")),
        CFG,
        ("transaction_fee",),
    ),
    Case("fees unknown freq", lambda c: analysis.fee_breakdown(c.tx, freq="Y"), CFG, ("freq", "expected")),
    Case("fees unknown group", lambda c: analysis.fee_breakdown(c.tx, by="planet"), CFG, ("by", "expected")),
    Case(
        "fees unknown currency",
        lambda c: analysis.fee_breakdown(with_column(c.tx, "currency", "QQQ")),
        CFG,
        ("currency", "QQQ"),
    ),
    Case(
        "fee model negative tolerance", lambda c: analysis.fee_model(c.tx, tolerance=-1), CFG, ("tolerance", "expected")
    ),
    Case(
        "rate change reversed period",
        lambda c: analysis.effective_rate_change(c.tx, ("2025-02-01", "2025-01-01"), ("2025-02-01", "2025-03-01")),
        CFG,
        ("period_a", "expected"),
    ),
    Case(
        "fees naive time column",
        lambda c: analysis.fee_breakdown(
            with_column(c.tx, "created_at", c.tx["created_at"].dt.tz_localize(None)), freq="M"
        ),
        CFG,
        ("created_at", "tz-aware"),
    ),
    Case(
        "roll_forward missing column",
        lambda c: analysis.roll_forward(drop(c.st, "balance_after")),
        CFG,
        ("balance_after",),
    ),
    Case(
        "roll_forward naive times",
        lambda c: analysis.roll_forward(with_column(c.st, "created", c.st["created"].dt.tz_localize(None))),
        CFG,
        ("created", "tz-aware"),
    ),
    Case(
        "roll_forward unknown freq", lambda c: analysis.roll_forward(c.st, freq="fortnight"), CFG, ("freq", "expected")
    ),
    Case("check_balances not a frame", lambda c: analysis.check_balances([1, 2]), CFG, ("statements", "DataFrame")),
    Case(
        "payout_groups missing payout_id",
        lambda c: analysis.payout_groups(drop(c.st, "payout_id")),
        CFG,
        ("payout_id",),
    ),
    Case(
        "payout_items unknown payout",
        lambda c: analysis.payout_items(c.st, "no-such-payout"),
        CFG,
        ("payout_id", "expected"),
    ),
    Case(
        "waterfall plot of mixed currencies",
        lambda c: plots.plot_payout_waterfall(
            analysis.payout_waterfall(mixed_currency(c.st), c.st["payout_id"].dropna().iloc[0])
        ),
        CFG,
        ("currency", "one of"),
    ),
    Case(
        "reconcile not a frame",
        lambda c: analysis.reconcile_transactions(c.tx, "records.csv"),
        CFG,
        ("balance_records", "DataFrame"),
    ),
    Case(
        "reconciliation_summary empty",
        lambda c: analysis.reconciliation_summary(pd.DataFrame()),
        CFG,
        ("result", "columns"),
    ),
    # --- store
    Case("store path wrong type", lambda c: Store(42), CFG, ("path", "directory")),
    Case("store path is a file", lambda c: Store(c.file("plain.txt", b"x")), CFG, ("path", "directory")),
    Case("store unknown source", lambda c: c.store.read("payments"), CFG, ("source", "one of")),
    Case("store bad start", lambda c: c.store.read("transactions", start="next tuesday"), CFG, ("start", "timestamp")),
    Case("store clear unknown source", lambda c: c.store.clear("payments"), CFG, ("source", "one of")),
    Case("store clear account only", lambda c: c.store.clear(account=1), CFG, ("source", "account")),
    # --- report files
    Case(
        "file corrupted zip",
        lambda c: read_report_file(c.file("bad.zip", b"PK\x03\x04 not really a zip")),
        DataError,
        ("bad.zip", "zip"),
    ),
    Case(
        "file truncated zip",
        lambda c: read_report_file(c.file("cut.zip", c.csv_zip[: len(c.csv_zip) // 2])),
        DataError,
        ("cut.zip", "zip"),
    ),
    Case("file empty", lambda c: read_report_file(c.file("empty.zip", b"")), DataError, ("empty.zip", "zip")),
    Case(
        "csv unknown delimiter",
        lambda c: read_report_file(
            c.file(
                "semi.zip",
                zip_of(
                    {
                        "balance_records.csv": csv_member(c, "balance_records.csv").replace(b",", b"|"),
                        "opening_balance.csv": csv_member(c, "opening_balance.csv"),
                    }
                ),
            )
        ),
        DataError,
        ("balance_records.csv", "delimiter"),
    ),
    Case(
        "csv unknown encoding",
        lambda c: read_report_file(
            c.file(
                "utf16.zip",
                zip_of(
                    {
                        "balance_records.csv": csv_member(c, "balance_records.csv")
                        .decode("utf-8-sig")
                        .encode("utf-16"),
                        "opening_balance.csv": csv_member(c, "opening_balance.csv"),
                    }
                ),
            )
        ),
        DataError,
        ("balance_records", "UTF-8"),
    ),
    Case(
        "csv sheet missing",
        lambda c: read_report_file(
            c.file("one.zip", zip_of({"balance_records.csv": csv_member(c, "balance_records.csv")}))
        ),
        DataError,
        ("opening_balance",),
    ),
    Case(
        "xlsx sheet missing",
        lambda c: read_report_file(c.file("one.xlsx", xlsx_with(["balance_records"]))),
        DataError,
        ("opening_balance", "sheet"),
    ),
    # --- transactions loader: every parameter
    Case(
        "tx year before 1000 (issue 11, was: sent unpadded as 999-01-01 00:00:00)",
        lambda c: c.tx_load("999-01-01", "2025-02-01"),
        CFG,
        ("date_from", "years 1000 to 9999"),
    ),
    Case(
        "tx year before 1000 with an offset",
        lambda c: c.tx_load("0999-01-01T00:00:00+00:00", "2025-02-01"),
        CFG,
        ("date_from", "years 1000 to 9999"),
    ),
    Case(
        "tx year 1000 in UTC is 999 in the zone",
        lambda c: c.tx_load("1000-01-01T03:00:00+00:00", "2025-02-01", time_zone="America/New_York"),
        CFG,
        ("date_from", "years 1000 to 9999", "America/New_York"),
    ),
    Case(
        "tx correction year before 1000 (was: sent)",
        lambda c: c.tx_load(manual_correction_from="0999-06-01"),
        CFG,
        ("manual_correction_from", "years 1000 to 9999"),
    ),
    Case("tx date NaT", lambda c: c.tx_load(pd.NaT, "2025-02-01"), CFG, ("date_from=NaT", "timezone-aware")),
    Case("tx date NaN", lambda c: c.tx_load(math.nan, "2025-02-01"), CFG, ("date_from=nan", "timezone-aware")),
    Case("tx date empty", lambda c: c.tx_load("", "2025-02-01"), CFG, ("date_from=''", "an ISO string")),
    Case("tx date blank", lambda c: c.tx_load("2025-01-01", "   "), CFG, ("date_to='   '", "an ISO string")),
    Case("tx date as a bool", lambda c: c.tx_load(True, "2025-02-01"), CFG, ("date_from=True", "a date")),
    Case(
        "tx date numpy naive",
        lambda c: c.tx_load(np.datetime64("2025-01-01"), "2025-02-01"),
        CFG,
        ("date_from=", "timezone-aware"),
    ),
    Case(
        "tx naive pd.Timestamp date_to",
        lambda c: c.tx_load("2025-01-01", pd.Timestamp("2025-02-01")),
        CFG,
        ("date_to=", "timezone-aware"),
    ),
    Case("tx empty period", lambda c: c.tx_load("2025-01-01", "2025-01-01"), CFG, ("date_to=", "after date_from")),
    Case("tx date_type None", lambda c: c.tx_load(date_type=None), CFG, ("date_type=None", "created_at, paid_at")),
    Case(
        "tx date_type upper case",
        lambda c: c.tx_load(date_type="CREATED_AT"),
        CFG,
        ("date_type='CREATED_AT'", "created_at"),
    ),
    Case("tx status as a list", lambda c: c.tx_load(status=["successful"]), CFG, ("status=['successful']", "one of")),
    Case("tx status None", lambda c: c.tx_load(status=None), CFG, ("status=None", "successful, failed")),
    Case(
        "tx method empty", lambda c: c.tx_load(payment_method_type=""), CFG, ("payment_method_type=''", "method name")
    ),
    Case(
        "tx method empty tuple",
        lambda c: c.tx_load(payment_method_type=()),
        CFG,
        ("payment_method_type=()", "method name"),
    ),
    Case(
        "tx method with a number",
        lambda c: c.tx_load(payment_method_type=("credit_card", 5)),
        CFG,
        ("payment_method_type=('credit_card', 5)", "method name"),
    ),
    Case(
        "tx method non-ASCII",
        lambda c: c.tx_load(payment_method_type="crédit"),
        CFG,
        ("payment_method_type='crédit'", "method name"),
    ),
    Case(
        "tx method a dict (was: its keys pulled)",
        lambda c: c.tx_load(payment_method_type={"credit_card": 1}),
        CFG,
        ("payment_method_type={'credit_card': 1}", "a method name or a tuple"),
    ),
    Case(
        "tx method with a newline (was: sent)",
        lambda c: c.tx_load(payment_method_type="credit_card\n"),
        CFG,
        ("payment_method_type='credit_card\\n'", "method name"),
    ),
    Case(
        "tx skip_refused_methods text",
        lambda c: c.tx_load(skip_refused_methods="yes"),
        CFG,
        ("skip_refused_methods='yes'", "True, False or None"),
    ),
    Case(
        "tx skip_refused_methods int",
        lambda c: c.tx_load(skip_refused_methods=1),
        CFG,
        ("skip_refused_methods=1", "True, False or None"),
    ),
    Case("tx time_zone empty", lambda c: c.tx_load(time_zone=""), CFG, ("time_zone=''", "IANA time zone")),
    Case("tx time_zone None", lambda c: c.tx_load(time_zone=None), CFG, ("time_zone=None", "IANA time zone")),
    Case("tx time_zone an offset", lambda c: c.tx_load(time_zone="+02:00"), CFG, ("time_zone='+02:00'", "IANA")),
    Case(
        "tx time_zone a path",
        lambda c: c.tx_load(time_zone="../../etc/passwd"),
        CFG,
        ("time_zone='../../etc/passwd'", "IANA"),
    ),
    Case(
        "tx time_zone localtime (was: this machine's zone, sent as 'localtime')",
        lambda c: c.tx_load(time_zone="localtime"),
        CFG,
        ("time_zone='localtime'", "IANA", "this machine"),
    ),
    Case(
        "tx time_zone posix variant (was: sent)",
        lambda c: c.tx_load(time_zone="posix/Europe/Riga"),
        CFG,
        ("time_zone='posix/Europe/Riga'", "IANA"),
    ),
    Case("tx time_zone with NUL", lambda c: c.tx_load(time_zone="Europe/Riga\x00"), CFG, ("time_zone=", "IANA")),
    Case(
        "tx correction text",
        lambda c: c.tx_load(manual_correction_from="yesterday-ish"),
        CFG,
        ("manual_correction_from='yesterday-ish'", "ISO string"),
    ),
    Case(
        "tx correction reversed",
        lambda c: c.tx_load(manual_correction_from="2025-02-01", manual_correction_to="2025-01-01"),
        CFG,
        ("manual_correction_to=", "after manual_correction_from"),
    ),
    Case(
        "tx correction naive",
        lambda c: c.tx_load(manual_correction_to=datetime(2025, 1, 1)),
        CFG,
        ("manual_correction_to=", "timezone-aware"),
    ),
    Case(
        "tx starting_after superscript two (issue 11, was: bare ValueError)",
        lambda c: c.tx_load(store=None, starting_after="²"),
        CFG,
        ("starting_after='²'", "non-negative integer"),
    ),
    Case(
        "tx starting_after Arabic-Indic digit (was: read as 3)",
        lambda c: c.tx_load(store=None, starting_after="٣"),
        CFG,
        ("starting_after='٣'", "non-negative integer"),
    ),
    Case(
        "tx starting_after beyond 64 bits (was: sent)",
        lambda c: c.tx_load(store=None, starting_after=10**30),
        CFG,
        ("starting_after=1000000000000000000000000000000", "below 2**63"),
    ),
    Case(
        "tx starting_after negative text",
        lambda c: c.tx_load(store=None, starting_after="-1"),
        CFG,
        ("starting_after='-1'", "non-negative integer"),
    ),
    Case(
        "tx starting_after float",
        lambda c: c.tx_load(store=None, starting_after=1.5),
        CFG,
        ("starting_after=1.5", "transaction id"),
    ),
    Case(
        "tx starting_after bool",
        lambda c: c.tx_load(store=None, starting_after=True),
        CFG,
        ("starting_after=True", "transaction id"),
    ),
    Case(
        "tx ending_before text",
        lambda c: c.tx_load(store=None, ending_before="abc"),
        CFG,
        ("ending_before='abc'", "transaction id"),
    ),
    Case(
        "tx both cursors",
        lambda c: c.tx_load(store=None, starting_after=1, ending_before=5),
        CFG,
        ("ending_before=5", "None when starting_after is given"),
    ),
    Case(
        "tx base_url port 99999 (issue 11, was: bare InvalidURL)",
        lambda c: c.tx_load(base_url="http://127.0.0.1:99999/gateway"),
        CFG,
        ("base_url='http://127.0.0.1:99999/gateway'", "http(s) URL", "Port out of range"),
    ),
    Case(
        "tx base_url port negative (was: TransportError after trying)",
        lambda c: c.tx_load(base_url="http://127.0.0.1:-1/gateway"),
        CFG,
        ("base_url=", "http(s) URL", "Port"),
    ),
    Case(
        "tx base_url port text",
        lambda c: c.tx_load(base_url="http://127.0.0.1:http/gateway"),
        CFG,
        ("base_url=", "Port"),
    ),
    Case(
        "tx base_url port 0",
        lambda c: c.tx_load(base_url="http://127.0.0.1:0/gateway"),
        CFG,
        ("base_url='http://127.0.0.1:0/gateway'", "port from 1 to 65535"),
    ),
    Case(
        "tx base_url broken IPv6 (was: bare ValueError)",
        lambda c: c.tx_load(base_url="http://[::1/gateway"),
        CFG,
        ("base_url='http://[::1/gateway'", "Invalid IPv6 URL"),
    ),
    Case(
        "tx base_url with a space (was: TransportError after trying)",
        lambda c: c.tx_load(base_url="http://exa mple.com"),
        CFG,
        ("base_url='http://exa mple.com'", "no spaces"),
    ),
    Case(
        "tx base_url with a newline (was: sent without it)",
        lambda c: c.tx_load(base_url="http://127.0.0.1:1/gate\nway"),
        CFG,
        ("base_url=", "control characters"),
    ),
    Case(
        "tx base_url with a query (was: paths added after it)",
        lambda c: c.tx_load(base_url="http://127.0.0.1:1/gateway?x=1"),
        CFG,
        ("base_url='http://127.0.0.1:1/gateway?x=1'", "without '?query'"),
    ),
    Case(
        "tx base_url with a fragment (was: the path cut off)",
        lambda c: c.tx_load(base_url="http://127.0.0.1:1/gateway#top"),
        CFG,
        ("base_url=", "'#fragment'"),
    ),
    Case(
        "tx base_url without scheme",
        lambda c: c.tx_load(base_url="127.0.0.1/gateway"),
        CFG,
        ("base_url='127.0.0.1/gateway'", "http(s) URL"),
    ),
    Case(
        "tx base_url without host",
        lambda c: c.tx_load(base_url="http:///gateway"),
        CFG,
        ("base_url='http:///gateway'", "http(s) URL"),
    ),
    Case("tx base_url a number", lambda c: c.tx_load(base_url=5), CFG, ("base_url='int'", "a string URL")),
    Case(
        "tx base_url password hidden behind a bad port",
        lambda c: c.tx_load(base_url="http://u:pa55w0rd@h:99999/"),
        CFG,
        ("base_url='http://<hidden>@h:99999/'", "Port out of range"),
        hidden=("pa55w0rd",),
    ),
    Case(
        "tx shop_id 1.5 beside a Credentials key (issue 11, was: ignored)",
        lambda c: c.tx_load(shop_id=1.5),
        CFG,
        ("shop_id=1.5", "the id of the Credentials given as secret_key"),
    ),
    Case(
        "tx shop_id of another shop beside a Credentials key (was: ignored)",
        lambda c: c.tx_load(shop_id=9999),
        CFG,
        ("shop_id=9999", "the id of the Credentials"),
    ),
    Case(
        "tx shop_id float",
        lambda c: c.tx_load(shop_id=1.5, secret_key="k"),
        CFG,
        ("shop_id='float'", "a string or integer id"),
    ),
    Case(
        "tx shop_id negative (was: sent)",
        lambda c: c.tx_load(shop_id=-1, secret_key="k"),
        CFG,
        ("shop_id=-1", "a positive integer id"),
    ),
    Case(
        "tx shop_id with a space (was: sent)",
        lambda c: c.tx_load(shop_id="16 73", secret_key="k"),
        CFG,
        ("shop_id='16 73'", "without spaces"),
    ),
    Case(
        "tx shop_id with a colon",
        lambda c: c.tx_load(shop_id="16:73", secret_key="k"),
        CFG,
        ("shop_id='<hidden>'", "without ':'"),
    ),
    Case(
        "tx shop_id a list",
        lambda c: c.tx_load(shop_id=[1673], secret_key="k"),
        CFG,
        ("shop_id='list'", "a string or integer id"),
    ),
    Case(
        "tx secret_key a number",
        lambda c: c.tx_load(shop_id=1, secret_key=12345),
        CFG,
        ("secret_key='<hidden>'", "a string"),
        hidden=("12345",),
    ),
    Case(
        "tx secret_key bytes",
        lambda c: c.tx_load(shop_id=1, secret_key=b"s3cr3t-bytes"),
        CFG,
        ("secret_key='<hidden>'", "a string"),
        hidden=("s3cr3t-bytes",),
    ),
    Case(
        "tx secret_key non-Latin-1 (issue 11, was: bare UnicodeEncodeError holding the key)",
        lambda c: c.tx_load(shop_id=1, secret_key="s€cret-key-xyz"),
        CFG,
        ("secret_key='<hidden>'", "only Latin-1 characters"),
        hidden=("s€cret-key-xyz", "cret-key"),
    ),
    Case("tx include_pii None", lambda c: c.tx_load(include_pii=None), CFG, ("include_pii=None", "True or False")),
    Case("tx retry text", lambda c: c.tx_load(retry="3"), CFG, ("retry='str'", "a ledgerkit.RetryPolicy")),
    Case("tx session text", lambda c: c.tx_load(session="s"), CFG, ("session='str'", "a requests.Session")),
    Case(
        "tx store empty (issue 11, was: the working directory)",
        lambda c: c.tx_load(store=""),
        CFG,
        ("store=''", "not an empty string"),
    ),
    Case("tx store blank", lambda c: c.tx_load(store="   "), CFG, ("store='   '", "not an empty string")),
    Case(
        "tx store /proc/nope (issue 11, was: bare OSError)",
        lambda c: c.tx_load(store="/proc/nope"),
        StoreError,
        ("/proc/nope", "store="),
    ),
    Case("tx store with NUL", lambda c: c.tx_load(store="/tmp/a\x00b"), CFG, ("store=", "without NUL")),
    Case("tx store bytes", lambda c: c.tx_load(store=b"/tmp/x"), CFG, ("store='bytes'", "a directory path")),
    Case("tx store a device", lambda c: c.tx_load(store="/dev/null"), CFG, ("store='/dev/null'", "a directory")),
    Case(
        "tx store home of no user (was: bare RuntimeError)",
        lambda c: c.tx_load(store="~no-such-user-lk/x"),
        CFG,
        ("store='~no-such-user-lk/x'", "a directory path"),
    ),
    Case(
        "tx lookback unit-less without a store (issue 11, was: unchecked)",
        lambda c: c.tx_load(store=None, lookback="3"),
        CFG,
        ("lookback='3'", "with its unit"),
    ),
    Case(
        "tx lookback negative without a store",
        lambda c: c.tx_load(store=None, lookback="-1D"),
        CFG,
        ("lookback='-1D'", "non-negative"),
    ),
    Case("tx lookback NaN", lambda c: c.tx_load(lookback=math.nan), CFG, ("lookback=nan", "pandas.Timedelta")),
    Case("tx lookback a bare number", lambda c: c.tx_load(lookback=3), CFG, ("lookback=3", "pandas.Timedelta")),
    Case(
        "tx lookback out of range",
        lambda c: c.tx_load(lookback="1000000D"),
        CFG,
        ("lookback='1000000D'", "pandas.Timedelta"),
    ),
    Case("tx max_workers 33", lambda c: c.tx_load(max_workers=33), CFG, ("max_workers=33", "from 1 to 32")),
    Case("tx max_workers True", lambda c: c.tx_load(max_workers=True), CFG, ("max_workers=True", "an integer")),
    Case("tx max_workers float", lambda c: c.tx_load(max_workers=2.0), CFG, ("max_workers=2.0", "an integer")),
    Case("tx max_workers text", lambda c: c.tx_load(max_workers="4"), CFG, ("max_workers='4'", "an integer")),
    Case("tx max_workers None", lambda c: c.tx_load(max_workers=None), CFG, ("max_workers=None", "an integer")),
    Case(
        "tx scheduler without accounts",
        lambda c: c.tx_load(scheduler="tcp://127.0.0.1:1"),
        CFG,
        ("scheduler=", "None unless accounts="),
    ),
    Case(
        "tx accounts_file without accounts (was: ignored)",
        lambda c: c.tx_load(accounts_file=c.accounts_file),
        CFG,
        ("accounts_file=", "None unless accounts="),
    ),
    Case(
        "iter tx starting_after superscript",
        lambda c: iter_transactions(*JAN, starting_after="²", **c.kw("transactions")),
        CFG,
        ("starting_after='²'", "non-negative integer"),
    ),
    Case(
        "iter tx max_workers zero",
        lambda c: iter_transactions(*JAN, max_workers=0, **c.kw("transactions")),
        CFG,
        ("max_workers=0", "from 1 to 32"),
    ),
    Case(
        "iter tx year before 1000",
        lambda c: iter_transactions("0999-12-31", "2025-01-01", **c.kw("transactions")),
        CFG,
        ("date_from", "years 1000 to 9999"),
    ),
    # --- statements loader: every parameter
    Case(
        "st two names for one bound",
        lambda c: c.st_load(date_from="2025-01-01"),
        CFG,
        ("since='2025-01-01'", "None when date_from is given"),
    ),
    Case(
        "st until without since",
        lambda c: c.st_load(since=None, until="2025-02-01"),
        CFG,
        ("date_from=None", "a date (or a payout_id)"),
    ),
    Case("st empty period", lambda c: c.st_load(until="2025-01-01"), CFG, ("until='2025-01-01'", "a date after since")),
    Case("st since NaT", lambda c: c.st_load(since=pd.NaT), CFG, ("since=NaT", "a date")),
    Case("st since NaN", lambda c: c.st_load(since=math.nan), CFG, ("since=nan", "a date")),
    Case("st since empty", lambda c: c.st_load(since=""), CFG, ("since=''", "'YYYY-MM-DD'")),
    Case("st since one-digit month", lambda c: c.st_load(since="2025-1-1"), CFG, ("since='2025-1-1'", "'YYYY-MM-DD'")),
    Case(
        "st since with a time",
        lambda c: c.st_load(since="2025-01-01T05:00:00+00:00"),
        CFG,
        ("since='2025-01-01T05:00:00+00:00'", "midnight UTC"),
    ),
    Case(
        "st since midnight of another zone",
        lambda c: c.st_load(since=pd.Timestamp("2025-01-01", tz="Europe/Riga")),
        CFG,
        ("since=Timestamp('2025-01-01 00:00:00+0200'", "midnight UTC"),
    ),
    Case("st since a number", lambda c: c.st_load(since=20250101), CFG, ("since=20250101", "a date")),
    Case("st since a bool", lambda c: c.st_load(since=True), CFG, ("since=True", "a date")),
    Case("st payout_id empty", lambda c: c.st_load(since=None, payout_id=""), CFG, ("payout_id=''", "a payout id")),
    Case("st payout_id blank", lambda c: c.st_load(since=None, payout_id="  "), CFG, ("payout_id='  '", "a payout id")),
    Case("st payout_id bool", lambda c: c.st_load(since=None, payout_id=True), CFG, ("payout_id=True", "a payout id")),
    Case("st payout_id float", lambda c: c.st_load(since=None, payout_id=1.5), CFG, ("payout_id=1.5", "a payout id")),
    Case(
        "st payout_id list", lambda c: c.st_load(since=None, payout_id=["a"]), CFG, ("payout_id=['a']", "a payout id")
    ),
    Case(
        "st payout_id with a newline (was: sent)",
        lambda c: c.st_load(since=None, payout_id="P1\nP2"),
        CFG,
        ("payout_id='P1\\nP2'", "no control characters"),
    ),
    Case("st per_page bool", lambda c: c.st_load(per_page=True), CFG, ("per_page=True", "from 1 to 1000")),
    Case("st per_page float", lambda c: c.st_load(per_page=1.5), CFG, ("per_page=1.5", "from 1 to 1000")),
    Case("st per_page text", lambda c: c.st_load(per_page="50"), CFG, ("per_page='50'", "from 1 to 1000")),
    Case("st per_page negative", lambda c: c.st_load(per_page=-5), CFG, ("per_page=-5", "from 1 to 1000")),
    Case("st currency empty", lambda c: c.st_load(currency=""), CFG, ("currency=''", "ISO 4217")),
    Case("st currency None", lambda c: c.st_load(currency=None), CFG, ("currency=None", "ISO 4217")),
    Case("st currency a number", lambda c: c.st_load(currency=978), CFG, ("currency=978", "ISO 4217")),
    Case("st currency four letters", lambda c: c.st_load(currency="EURO"), CFG, ("currency='EURO'", "ISO 4217")),
    Case(
        "st start_page negative",
        lambda c: c.st_load(store=None, start_page=-1),
        CFG,
        ("start_page=-1", "an integer from 1"),
    ),
    Case("st start_page text", lambda c: c.st_load(store=None, start_page="2"), CFG, ("start_page='2'", "an integer")),
    Case(
        "st start_page bool", lambda c: c.st_load(store=None, start_page=True), CFG, ("start_page=True", "an integer")
    ),
    Case("st start_page float", lambda c: c.st_load(store=None, start_page=2.0), CFG, ("start_page=2.0", "an integer")),
    Case(
        "st start_page beyond 32 bits (was: sent)",
        lambda c: c.st_load(store=None, start_page=10**30),
        CFG,
        ("start_page=1000000000000000000000000000000", "from 1 to 2147483647"),
    ),
    Case("st max_workers zero", lambda c: c.st_load(max_workers=0), CFG, ("max_workers=0", "from 1 to 32")),
    Case(
        "st lookback unit-less without a store",
        lambda c: c.st_load(store=None, lookback="3"),
        CFG,
        ("lookback='3'", "with its unit"),
    ),
    Case("st lookback negative", lambda c: c.st_load(lookback=-1), CFG, ("lookback=-1", "non-negative")),
    Case(
        "st shop_id 1.5 beside a Credentials key (was: ignored)",
        lambda c: c.st_load(shop_id=1.5),
        CFG,
        ("shop_id=1.5", "the id of the Credentials"),
    ),
    Case(
        "st secret_key with a curly quote",
        lambda c: c.st_load(shop_id="x", secret_key="it\u2019s-my-key"),
        CFG,
        ("secret_key='<hidden>'", "Latin-1", "U+2019"),
        hidden=("my-key",),
    ),
    Case(
        "st base_url port 99999 (was: bare InvalidURL)",
        lambda c: c.st_load(base_url="http://127.0.0.1:99999/makecommerce"),
        CFG,
        ("base_url=", "Port out of range"),
    ),
    Case("st store /proc/nope", lambda c: c.st_load(store="/proc/nope"), StoreError, ("/proc/nope", "store=")),
    Case(
        "st accounts_file without accounts (was: ignored)",
        lambda c: c.st_load(accounts_file=c.accounts_file),
        CFG,
        ("accounts_file=", "None unless accounts="),
    ),
    Case(
        "iter st per_page zero",
        lambda c: iter_statements(since="2025-01-01", per_page=0, **c.kw("statements")),
        CFG,
        ("per_page=0", "from 1 to 1000"),
    ),
    # --- balance records loader: every parameter
    Case("dwh date NaT", lambda c: c.dwh_load(pd.NaT, DWH[1]), CFG, ("date_from=", "timezone-aware")),
    Case("dwh date NaN", lambda c: c.dwh_load(math.nan, DWH[1]), CFG, ("date_from=nan", "timezone-aware")),
    Case("dwh date empty", lambda c: c.dwh_load("", DWH[1]), CFG, ("date_from=''", "ISO 8601")),
    Case("dwh date a number", lambda c: c.dwh_load(5, DWH[1]), CFG, ("date_from=5", "timezone-aware datetime")),
    Case(
        "dwh date year 999 unpadded", lambda c: c.dwh_load("999-01-01", DWH[1]), CFG, ("date_from='999-01-01'", "ISO")
    ),
    Case("dwh empty period", lambda c: c.dwh_load(DWH[0], DWH[0]), CFG, ("date_to=", "a time after date_from")),
    Case("dwh currency empty", lambda c: c.dwh_load(currency=""), CFG, ("currency=''", "ISO 4217")),
    Case("dwh currency None", lambda c: c.dwh_load(currency=None), CFG, ("currency=None", "ISO 4217")),
    Case("dwh user_id zero", lambda c: c.dwh_load(user_id=0), CFG, ("user_id=0", "a positive integer")),
    Case("dwh user_id text", lambda c: c.dwh_load(user_id="1"), CFG, ("user_id='1'", "a positive integer")),
    Case("dwh user_id bool", lambda c: c.dwh_load(user_id=True), CFG, ("user_id=True", "a positive integer")),
    Case("dwh user_id float", lambda c: c.dwh_load(user_id=1.0), CFG, ("user_id=1.0", "a positive integer")),
    Case("dwh user_id None", lambda c: c.dwh_load(user_id=None), CFG, ("user_id=None", "a positive integer")),
    Case(
        "dwh user_id beyond 64 bits (was: sent, server error)",
        lambda c: c.dwh_load(user_id=2**70),
        CFG,
        ("user_id=1180591620717411303424", "below 2**63"),
    ),
    Case("dwh merchant_id zero", lambda c: c.dwh_load(merchant_id=0), CFG, ("merchant_id=0", "a positive integer")),
    Case("dwh shop_id text", lambda c: c.dwh_load(shop_id="7"), CFG, ("shop_id='7'", "a positive integer")),
    Case("dwh gateway_id negative", lambda c: c.dwh_load(gateway_id=-1), CFG, ("gateway_id=-1", "a positive integer")),
    Case(
        "dwh gateway_id beyond 64 bits (was: sent)",
        lambda c: c.dwh_load(gateway_id=2**64),
        CFG,
        ("gateway_id=18446744073709551616", "below 2**63"),
    ),
    Case("dwh format upper case", lambda c: c.dwh_load(format="CSV"), CFG, ("format='CSV'", "'csv', 'xlsx'")),
    Case("dwh format None", lambda c: c.dwh_load(format=None), CFG, ("format=None", "'csv', 'xlsx'")),
    Case("dwh language upper case", lambda c: c.dwh_load(language="EN"), CFG, ("language='EN'", "'en', 'ru'")),
    Case(
        "dwh notification_email without @",
        lambda c: c.dwh_load(notification_email="nobody"),
        CFG,
        ("notification_email='nobody'", "an email address"),
    ),
    Case(
        "dwh notification_email a number",
        lambda c: c.dwh_load(notification_email=5),
        CFG,
        ("notification_email=5", "an email address"),
    ),
    Case(
        "dwh notification_email empty",
        lambda c: c.dwh_load(notification_email=""),
        CFG,
        ("notification_email=''", "an email address"),
    ),
    Case(
        "dwh notification_email with a header (was: sent)",
        lambda c: c.dwh_load(notification_email="a@b.example\nBcc: x@y.example"),
        CFG,
        ("notification_email=", "no spaces or control characters"),
    ),
    Case(
        "dwh report_id dot-dot (issue 11, was: in the URL)",
        lambda c: c.dwh_load(report_id=".."),
        CFG,
        ("report_id='..'", "a report id string"),
    ),
    Case(
        "dwh report_id with a query (issue 11, was: in the URL)",
        lambda c: c.dwh_load(report_id="abc?x=1"),
        CFG,
        ("report_id='abc?x=1'", "a report id string"),
    ),
    Case(
        "dwh report_id with a trailing newline (was: in the URL)",
        lambda c: c.dwh_load(report_id="abc\n"),
        CFG,
        ("report_id='abc\\n'", "a report id string"),
    ),
    Case("dwh report_id empty", lambda c: c.dwh_load(report_id=""), CFG, ("report_id=''", "a report id string")),
    Case("dwh report_id a number", lambda c: c.dwh_load(report_id=5), CFG, ("report_id=5", "a report id string")),
    Case("dwh report_id with a slash", lambda c: c.dwh_load(report_id="a/b"), CFG, ("report_id='a/b'", "report id")),
    Case("dwh report_id too long", lambda c: c.dwh_load(report_id="x" * 200), CFG, ("report_id='xxxx", "report id")),
    Case("dwh report_id non-ASCII", lambda c: c.dwh_load(report_id="é"), CFG, ("report_id='é'", "report id")),
    Case("dwh poll_timeout negative", lambda c: c.dwh_load(poll_timeout=-1), CFG, ("poll_timeout=-1", "positive")),
    Case("dwh poll_timeout NaN", lambda c: c.dwh_load(poll_timeout=math.nan), CFG, ("poll_timeout=nan", "positive")),
    Case(
        "dwh poll_timeout infinite (was: a stuck report polled for ever)",
        lambda c: c.dwh_load(poll_timeout=math.inf),
        CFG,
        ("poll_timeout=inf", "finite number of seconds"),
    ),
    Case("dwh poll_timeout text", lambda c: c.dwh_load(poll_timeout="12"), CFG, ("poll_timeout='12'", "seconds")),
    Case("dwh poll_timeout bool", lambda c: c.dwh_load(poll_timeout=True), CFG, ("poll_timeout=True", "seconds")),
    Case(
        "dwh poll_interval text (issue 11, was: read as (1.0, 2.0))",
        lambda c: c.dwh_load(poll_interval="12"),
        CFG,
        ("poll_interval='12'", "a pair (first, most)"),
    ),
    Case("dwh poll_interval a number", lambda c: c.dwh_load(poll_interval=5), CFG, ("poll_interval=5", "a pair")),
    Case(
        "dwh poll_interval zero first",
        lambda c: c.dwh_load(poll_interval=(0, 1)),
        CFG,
        ("poll_interval=(0, 1)", "0 < first <= most"),
    ),
    Case(
        "dwh poll_interval NaN most",
        lambda c: c.dwh_load(poll_interval=(1, math.nan)),
        CFG,
        ("poll_interval=(1, nan)", "0 < first <= most"),
    ),
    Case(
        "dwh poll_interval NaN first",
        lambda c: c.dwh_load(poll_interval=(math.nan, 1)),
        CFG,
        ("poll_interval=(nan, 1)", "0 < first <= most"),
    ),
    Case(
        "dwh poll_interval three values",
        lambda c: c.dwh_load(poll_interval=(1, 2, 3)),
        CFG,
        ("poll_interval=(1, 2, 3)", "a pair"),
    ),
    Case(
        "dwh poll_interval bools",
        lambda c: c.dwh_load(poll_interval=(True, 2)),
        CFG,
        ("poll_interval=(True, 2)", "a pair"),
    ),
    Case(
        "dwh poll_interval a dict",
        lambda c: c.dwh_load(poll_interval={1: 2, 3: 4}),
        CFG,
        ("poll_interval={1: 2, 3: 4}", "a pair"),
    ),
    Case(
        "dwh max_rerequests negative",
        lambda c: c.dwh_load(max_rerequests=-1),
        CFG,
        ("max_rerequests=-1", "an integer >= 0"),
    ),
    Case(
        "dwh max_rerequests float",
        lambda c: c.dwh_load(max_rerequests=1.5),
        CFG,
        ("max_rerequests=1.5", "an integer >= 0"),
    ),
    Case(
        "dwh max_rerequests bool",
        lambda c: c.dwh_load(max_rerequests=True),
        CFG,
        ("max_rerequests=True", "an integer >= 0"),
    ),
    Case(
        "dwh download_dir a number (issue 11, was: bare error)",
        lambda c: c.dwh_load(store=None, download_dir=5),
        CFG,
        ("download_dir=5", "an existing directory"),
    ),
    Case(
        "dwh download_dir empty (was: the working directory)",
        lambda c: c.dwh_load(store=None, download_dir=""),
        CFG,
        ("download_dir=''", "an existing directory"),
    ),
    Case(
        "dwh download_dir missing",
        lambda c: c.dwh_load(store=None, download_dir="/nonexistent/ledgerkit"),
        CFG,
        ("download_dir='/nonexistent/ledgerkit'", "an existing directory"),
    ),
    Case(
        "dwh download_dir not writable (was: bare FileNotFoundError after the report was made)",
        lambda c: c.dwh_load(store=None, download_dir="/proc"),
        CFG,
        ("download_dir='/proc'", "a directory this process can write to"),
    ),
    Case(
        "dwh download_dir a device",
        lambda c: c.dwh_load(store=None, download_dir="/dev/null"),
        CFG,
        ("download_dir='/dev/null'", "an existing directory"),
    ),
    Case(
        "dwh download_dir bool",
        lambda c: c.dwh_load(store=None, download_dir=True),
        CFG,
        ("download_dir=True", "a path"),
    ),
    Case(
        "dwh psp_id 1.5 beside a Credentials key (was: ignored)",
        lambda c: c.dwh_load(psp_id=1.5),
        CFG,
        ("psp_id=1.5", "the id of the Credentials"),
    ),
    Case(
        "dwh psp_id negative",
        lambda c: c.dwh_load(psp_id=-3, secret_key="k"),
        CFG,
        ("psp_id=-3", "a positive integer id"),
    ),
    Case("dwh store empty", lambda c: c.dwh_load(store=""), CFG, ("store=''", "not an empty string")),
    Case("dwh store a number", lambda c: c.dwh_load(store=5), CFG, ("store='int'", "a ledgerkit.Store")),
    Case("dwh store /proc/nope", lambda c: c.dwh_load(store="/proc/nope"), StoreError, ("/proc/nope", "store=")),
    Case("dwh retry a number", lambda c: c.dwh_load(retry=1), CFG, ("retry='int'", "RetryPolicy")),
    Case("dwh session a number", lambda c: c.dwh_load(session=1), CFG, ("session='int'", "requests.Session")),
    Case("dwh base_url ftp", lambda c: c.dwh_load(base_url="ftp://127.0.0.1/dwh"), CFG, ("base_url=", "http(s) URL")),
    Case(
        "dwh base_url port 99999 (was: bare InvalidURL)",
        lambda c: c.dwh_load(base_url="http://127.0.0.1:99999/dwh"),
        CFG,
        ("base_url=", "Port out of range"),
    ),
    Case(
        "dwh accounts_file without accounts",
        lambda c: c.dwh_load(accounts_file=c.accounts_file),
        CFG,
        ("accounts_file=", "None unless accounts="),
    ),
    # --- the Client
    Case("client account a number", lambda c: lk.Client(transactions=5), CFG, ("transactions='int'", "a mapping")),
    Case(
        "client account with another source's key",
        lambda c: lk.Client(transactions={"psp_id": 1}),
        CFG,
        ("transactions['psp_id']", "only the keys base_url, secret_key, shop_id"),
    ),
    Case("client account a URL", lambda c: lk.Client(statements="http://x"), CFG, ("statements='str'", "a mapping")),
    Case(
        "client account of another API",
        lambda c: lk.Client(transactions=Account("mc", "statements", "https://api.example.com", "1", "X")),
        CFG,
        ("transactions='mc'", "an account of the transactions API"),
    ),
    Case("client progress int", lambda c: lk.Client(progress=1), CFG, ("progress=1", "True, False or None")),
    Case("client max_workers zero", lambda c: lk.Client(max_workers=0), CFG, ("max_workers=0", "from 1 to 32")),
    Case("client store a number", lambda c: lk.Client(store=5), CFG, ("store='int'", "a ledgerkit.Store")),
    Case("client lookback unit-less", lambda c: lk.Client(lookback="3"), CFG, ("lookback='3'", "with its unit")),
    Case("client retry a number", lambda c: lk.Client(retry=5), CFG, ("retry='int'", "RetryPolicy")),
    Case("client session a number", lambda c: lk.Client(session=5), CFG, ("session='int'", "requests.Session")),
    Case(
        "client.transactions unknown keyword (was: bare TypeError naming an internal class)",
        lambda c: c.client("transactions").transactions(*JAN, statuses="all"),
        CFG,
        ("statuses='<given>'", "an argument of Client.transactions", "date_type"),
    ),
    Case(
        "client.transactions connection keyword (was: bare TypeError)",
        lambda c: c.client("transactions").transactions(*JAN, secret_key="hunter2-secret"),
        CFG,
        ("secret_key='<given>'", "arguments of Client(...)"),
        hidden=("hunter2-secret",),
    ),
    Case(
        "client.transactions store keyword",
        lambda c: c.client("transactions").transactions(*JAN, store=c.store),
        CFG,
        ("store='<given>'", "an argument of Client.transactions"),
    ),
    Case(
        "client.transactions max_workers",
        lambda c: c.client("transactions").transactions(*JAN, max_workers=0),
        CFG,
        ("max_workers=0", "from 1 to 32"),
    ),
    Case(
        "client.transactions progress",
        lambda c: c.client("transactions").transactions(*JAN, progress="x"),
        CFG,
        ("progress='x'", "True, False or None"),
    ),
    Case(
        "client.transactions shop_id 1.5 in the mapping",
        lambda c: lk.Client(
            transactions={"base_url": c.sb.transactions_url, "shop_id": 1.5, "secret_key": "k"}
        ).transactions(*JAN),
        CFG,
        ("shop_id='float'", "a string or integer id"),
    ),
    Case(
        "client.iter_transactions unknown keyword",
        lambda c: c.client("transactions").iter_transactions(*JAN, x=1),
        CFG,
        ("x='<given>'", "an argument of Client.iter_transactions"),
    ),
    Case(
        "client.statements unknown keyword",
        lambda c: c.client("statements").statements(*JAN, page=2),
        CFG,
        ("page='<given>'", "an argument of Client.statements", "start_page"),
    ),
    Case(
        "client.iter_statements max_workers text",
        lambda c: c.client("statements").iter_statements(*JAN, max_workers="2"),
        CFG,
        ("max_workers='2'", "from 1 to 32"),
    ),
    Case(
        "client.balance_records unknown keyword",
        lambda c: c.client("balance_records").balance_records(*DWH, currency="EUR", user_id=1, type="balance_records"),
        CFG,
        ("type='<given>'", "an argument of Client.balance_records"),
    ),
    Case(
        "client.balance_records max_workers (was: bare TypeError)",
        lambda c: c.client("balance_records").balance_records(*DWH, currency="EUR", user_id=1, max_workers=2),
        CFG,
        ("max_workers='<given>'", "Client.balance_records"),
    ),
    Case(
        "client.balance_records poll_interval text",
        lambda c: c.client("balance_records").balance_records(*DWH, currency="EUR", user_id=1, poll_interval="12"),
        CFG,
        ("poll_interval='12'", "a pair"),
    ),
    # --- many accounts in one call
    Case(
        "accounts a number (was: named the accounts file)",
        lambda c: c.many(load_transactions, accounts=5),
        CFG,
        ("accounts=5", "'all', an account name, a tag"),
    ),
    Case("accounts empty", lambda c: c.many(load_transactions, accounts=""), CFG, ("accounts=''", "'all'")),
    Case("accounts empty list", lambda c: c.many(load_transactions, accounts=[]), CFG, ("accounts=[]", "'all'")),
    Case(
        "accounts a list with a number",
        lambda c: c.many(load_transactions, accounts=["all", 5]),
        CFG,
        ("accounts=['all', 5]", "a list of them"),
    ),
    Case(
        "accounts an unknown name",
        lambda c: c.many(load_transactions, accounts="shop-z"),
        CFG,
        ("accounts='shop-z'", "an account name or tag", "shop-a, shop-b"),
    ),
    Case(
        "accounts of another API",
        lambda c: c.many(load_statements, accounts="shop-a"),
        CFG,
        ("accounts='shop-a'", "of the statements accounts (mc)"),
    ),
    Case(
        "accounts beside base_url",
        lambda c: c.many(load_transactions, base_url=c.sb.transactions_url),
        CFG,
        ("base_url='<given>'", "None when accounts= is given"),
    ),
    Case(
        "accounts beside secret_key",
        lambda c: c.many(load_statements, secret_key="k3y-given"),
        CFG,
        ("secret_key='<given>'", "None when accounts= is given"),
        hidden=("k3y-given",),
    ),
    Case(
        "accounts_file missing",
        lambda c: c.many(load_transactions, accounts_file="/nonexistent/ledgerkit.toml"),
        CFG,
        ("path='/nonexistent/ledgerkit.toml'", "an accounts file (TOML)"),
    ),
    Case(
        "accounts_file a number",
        lambda c: c.many(load_transactions, accounts_file=5),
        CFG,
        ("path=5", "the path of an accounts file"),
    ),
    Case(
        "accounts with a bad date (was: AccountsError, a failure per account)",
        lambda c: c.many(load_transactions, "2025-13-01", "2025-02-01"),
        CFG,
        ("date_from='2025-13-01'", "ISO string"),
    ),
    Case(
        "accounts with max_workers zero (was: AccountsError)",
        lambda c: c.many(load_transactions, max_workers=0),
        CFG,
        ("max_workers=0", "from 1 to 32"),
    ),
    Case(
        "accounts with a bad per_page (was: AccountsError)",
        lambda c: c.many(load_statements, per_page=0),
        CFG,
        ("per_page=0", "from 1 to 1000"),
    ),
    Case(
        "accounts with a bad user_id (was: AccountsError)",
        lambda c: c.many(load_balance_records, *DWH, user_id=0),
        CFG,
        ("user_id=0", "a positive integer"),
    ),
    Case(
        "accounts with a bad report option (was: AccountsError)",
        lambda c: c.many(load_balance_records, *DWH, poll_interval="12"),
        CFG,
        ("poll_interval='12'", "a pair"),
    ),
    Case(
        "accounts with a scheduler of the wrong kind",
        lambda c: c.many(load_transactions, scheduler=5),
        CFG,
        ("scheduler=",),
    ),
    # --- the accounts file
    Case(
        "accounts file not TOML",
        lambda c: lk.accounts(c.accounts_text("[accounts.shop\nsource = ")),
        CFG,
        ("path=", "a readable TOML file"),
    ),
    Case(
        "accounts file without accounts",
        lambda c: lk.accounts(c.accounts_text("title = 'x'\n")),
        CFG,
        ("path=", "an [accounts.<name>] table per account"),
    ),
    Case("accounts file a directory", lambda c: lk.accounts(c.tmp), CFG, ("path=", "a readable TOML file")),
    Case("accounts file path empty", lambda c: lk.accounts(""), CFG, ("path=''", "the path of an accounts file")),
    Case(
        "accounts file bad name",
        lambda c: lk.accounts(c.accounts_text(entry('"shop eu"'))),
        CFG,
        ("accounts.shop eu.name", "letters, digits"),
    ),
    Case(
        "accounts file name with a newline",
        lambda c: lk.accounts(c.accounts_text(entry('"shop\\n"'))),
        CFG,
        ("accounts.shop\n.name", "letters, digits"),
    ),
    Case(
        "accounts file holds a secret",
        lambda c: lk.accounts(c.accounts_text(entry(secret_key="sk_live_do_not_show"))),
        CFG,
        ("accounts.shop.secret_key='<hidden>'", "no secret in the file"),
        hidden=("sk_live_do_not_show",),
    ),
    Case(
        "accounts file unknown field",
        lambda c: lk.accounts(c.accounts_text(entry(region="eu"))),
        CFG,
        ("accounts.shop.region='eu'", "one of the fields"),
    ),
    Case(
        "accounts file unknown source",
        lambda c: lk.accounts(c.accounts_text(entry(source="payments"))),
        CFG,
        ("accounts.shop.source='payments'", "transactions, statements, balance_records"),
    ),
    Case(
        "accounts file without base_url",
        lambda c: lk.accounts(c.accounts_text(entry(base_url=None))),
        CFG,
        ("accounts.shop.base_url=None", "a value (required)"),
    ),
    Case(
        "accounts file base_url port 99999",
        lambda c: lk.accounts(c.accounts_text(entry(base_url="https://backoffice.example.com:99999"))),
        CFG,
        ("accounts.shop.base_url=", "Port out of range"),
    ),
    Case(
        "accounts file base_url with a password",
        lambda c: lk.accounts(c.accounts_text(entry(base_url="https://u:letmein-pw@backoffice.example.com"))),
        CFG,
        ("accounts.shop.base_url=", "without credentials"),
        hidden=("letmein-pw",),
    ),
    Case(
        "accounts file id a bool",
        lambda c: lk.accounts(c.accounts_text(entry(id=True))),
        CFG,
        ("accounts.shop.id=True", "the shop or PSP id"),
    ),
    Case(
        "accounts file id with a space (was: named base_url)",
        lambda c: lk.accounts(c.accounts_text(entry(id="16 73"))),
        CFG,
        ("accounts.shop.id='16 73'", "without spaces"),
    ),
    Case(
        "accounts file id negative",
        lambda c: lk.accounts(c.accounts_text(entry(id=-5))),
        CFG,
        ("accounts.shop.id=-5", "a positive integer id"),
    ),
    Case(
        "accounts file secret_env not a variable name",
        lambda c: lk.accounts(c.accounts_text(entry(secret_env="$SHOP_SECRET"))),
        CFG,
        ("accounts.shop.secret_env='$SHOP_SECRET'", "environment variable"),
    ),
    Case(
        "accounts file secret_env with a newline",
        lambda c: lk.accounts(c.accounts_text(entry(secret_env="SHOP_SECRET\n"))),
        CFG,
        ("accounts.shop.secret_env=", "environment variable"),
    ),
    Case(
        "accounts file unknown brand",
        lambda c: lk.accounts(c.accounts_text(entry(brand="stripe"))),
        CFG,
        ("accounts.shop.brand='stripe'", "begateway, bepaid"),
    ),
    Case(
        "accounts file tags not a list",
        lambda c: lk.accounts(c.accounts_text(entry(tags="eu"))),
        CFG,
        ("accounts.shop.tags='eu'", "a list of words"),
    ),
    Case(
        "accounts file merchant a bool",
        lambda c: lk.accounts(c.accounts_text(entry(merchant=True))),
        CFG,
        ("accounts.shop.merchant=True", "a text tag"),
    ),
    Case(
        "select an unknown tag",
        lambda c: select(lk.accounts(c.accounts_file), "apac"),
        CFG,
        ("accounts='apac'", "an account name or tag"),
    ),
    Case("select a number", lambda c: select(lk.accounts(c.accounts_file), 7), CFG, ("accounts=7", "'all'")),
    Case(
        "account secret variable unset",
        lambda c: Account("shop", "transactions", "https://x.example", "1", "LK_BAD_INPUTS_UNSET").credentials(),
        CFG,
        ("accounts='shop'", "the environment variable LK_BAD_INPUTS_UNSET"),
    ),
    # --- the store: every method
    Case(
        "store home of no user (was: bare RuntimeError)",
        lambda c: Store("~no-such-user-lk/x"),
        CFG,
        ("path='~no-such-user-lk/x'", "a directory path"),
    ),
    Case("store path bytes", lambda c: Store(b"/tmp/x"), CFG, ("path='bytes'", "a directory path")),
    Case("store path empty", lambda c: Store(""), CFG, ("path=''", "not an empty string")),
    Case("store path with NUL", lambda c: Store("/tmp/\x00"), CFG, ("path=", "without NUL characters")),
    Case("store timeout negative", lambda c: Store(c.store.path, timeout=-1), CFG, ("timeout=-1", "seconds >= 0")),
    Case("store timeout text", lambda c: Store(c.store.path, timeout="5"), CFG, ("timeout='5'", "seconds >= 0")),
    Case("store timeout NaN", lambda c: Store(c.store.path, timeout=math.nan), CFG, ("timeout=nan", "seconds >= 0")),
    Case("store timeout bool", lambda c: Store(c.store.path, timeout=True), CFG, ("timeout=True", "seconds >= 0")),
    Case("store read start NaT", lambda c: c.store.read("transactions", start=pd.NaT), CFG, ("start=NaT", "not NaT")),
    Case(
        "store read start a bare number (was: nanoseconds of 1970)",
        lambda c: c.store.read("transactions", start=5),
        CFG,
        ("start=5", "a timestamp"),
    ),
    Case(
        "store read start after end (was: an empty frame)",
        lambda c: c.store.read("statements", start="2025-02-01", end="2025-01-01"),
        CFG,
        ("end='2025-01-01'", "a moment after start"),
    ),
    Case(
        "store read account a list (was: an empty frame)",
        lambda c: c.store.read("transactions", account=[1]),
        CFG,
        ("account=[1]", "a shop or PSP id"),
    ),
    Case(
        "store read base_url a number",
        lambda c: c.store.read("transactions", base_url=5),
        CFG,
        ("base_url=5", "http(s) base URL"),
    ),
    Case(
        "store read base_url not a URL",
        lambda c: c.store.read("transactions", base_url="backoffice"),
        CFG,
        ("base_url='backoffice'", "http(s) base URL"),
    ),
    Case(
        "store read balance records",
        lambda c: c.store.read("balance_records"),
        CFG,
        ("source='balance_records'", "one of transactions, statements"),
    ),
    Case("store read None", lambda c: c.store.read(None), CFG, ("source=None", "one of transactions")),
    Case(
        "store manifest unknown source",
        lambda c: c.store.manifest("payments"),
        CFG,
        ("source='payments'", "one of transactions, statements, balance_records"),
    ),
    Case(
        "store manifest account a list",
        lambda c: c.store.manifest(account=[1]),
        CFG,
        ("account=[1]", "a shop or PSP id"),
    ),
    Case("store clear a number", lambda c: c.store.clear(5), CFG, ("source=5", "one of transactions")),
    Case(
        "store clear account a bool (was: cleared account 'True')",
        lambda c: c.store.clear("transactions", account=True),
        CFG,
        ("account=True", "a shop or PSP id"),
    ),
    # --- report files
    Case(
        "file not a path (was: bare AttributeError)",
        lambda c: read_report_file(5),
        CFG,
        ("source='int'", "the path or binary file object"),
    ),
    Case(
        "file missing",
        lambda c: read_report_file(c.tmp / "no-such-report.zip"),
        DataError,
        ("no-such-report.zip", "cannot be read"),
    ),
    Case("file a directory", lambda c: read_report_file(c.tmp), DataError, ("cannot be read", "Is a directory")),
    Case("file a device", lambda c: read_report_file("/dev/null"), DataError, ("null", "not a readable zip")),
    Case(
        "file zip without sheets",
        lambda c: read_report_file(c.file("notes.zip", zip_of({"readme.txt": b"hi"}))),
        DataError,
        ("notes.zip",),
    ),
    Case(
        "file CSV that is empty",
        lambda c: read_report_file(
            c.file(
                "blank.zip",
                zip_of({"balance_records.csv": b"", "opening_balance.csv": csv_member(c, "opening_balance.csv")}),
            )
        ),
        DataError,
        ("balance_records", "empty"),
    ),
    Case(
        "file CSV header not UTF-8",
        lambda c: read_report_file(
            c.file(
                "latin.zip",
                zip_of(
                    {
                        "balance_records.csv": "Währung,Betrag\n".encode("cp1252") + b"\xff\n",
                        "opening_balance.csv": csv_member(c, "opening_balance.csv"),
                    }
                ),
            )
        ),
        DataError,
        ("balance_records", "UTF-8"),
    ),
    Case(
        "file XLSX not a workbook",
        lambda c: read_report_file(c.file("fake.zip", zip_of({"report.xlsx": b"PK not a workbook"}))),
        DataError,
        ("report.xlsx", "XLSX"),
    ),
    # --- plots and explorers
    Case("plot axes a number", lambda c: plots.plot_balance(c.st, ax=1), CFG, ("ax='int'", "a matplotlib Axes")),
    Case(
        "plot balance naive times (was: bare TypeError)",
        lambda c: plots.plot_balance(naive(c.st, "created")),
        CFG,
        ("statements['created']", "tz-aware"),
    ),
    Case(
        "plot balance unknown currency",
        lambda c: plots.plot_balance(c.st, currency="USD"),
        CFG,
        ("currency='USD'", "one of the currencies in the frame"),
    ),
    Case(
        "plot balance breaks not a frame",
        lambda c: plots.plot_balance(c.st, breaks="x"),
        CFG,
        ("breaks='str'", "a pandas DataFrame"),
    ),
    Case("plot balance not a frame", lambda c: plots.plot_balance(None), CFG, ("statements='NoneType'", "DataFrame")),
    Case(
        "plot rate unknown rate column",
        lambda c: plots.plot_effective_rate(analysis.fee_breakdown(c.tx, by="brand"), currency="EUR", rate="bp"),
        CFG,
        ("breakdown=", "columns"),
    ),
    Case(
        "plot rate unknown group",
        lambda c: plots.plot_effective_rate(analysis.fee_breakdown(c.tx, by="brand"), currency="EUR", by="planet"),
        CFG,
        ("by='planet'", "a group column of the breakdown"),
    ),
    Case(
        "plot rate currency a number",
        lambda c: plots.plot_effective_rate(analysis.fee_breakdown(c.tx, by="brand"), currency=978),
        CFG,
        ("currency=978", "ISO 4217"),
    ),
    Case(
        "plot rate axes text",
        lambda c: plots.plot_effective_rate(analysis.fee_breakdown(c.tx, by="brand"), currency="EUR", ax="left"),
        CFG,
        ("ax='str'", "a matplotlib Axes"),
    ),
    Case(
        "plot rate of periods",
        lambda c: plots.plot_effective_rate(analysis.fee_breakdown(c.tx, by="brand", freq="M")),
        CFG,
        ("breakdown=", "without freq"),
    ),
    Case(
        "plot fee composition without periods",
        lambda c: plots.plot_fee_composition(analysis.fee_breakdown(c.tx, by="brand")),
        CFG,
        ("breakdown_with_period=", "period"),
    ),
    Case(
        "plot fee composition not a frame",
        lambda c: plots.plot_fee_composition(None),
        CFG,
        ("breakdown_with_period='NoneType'", "DataFrame"),
    ),
    Case(
        "plot roll-forward period text",
        lambda c: plots.plot_roll_forward(analysis.roll_forward(c.st), "garbage"),
        CFG,
        ("period='garbage'", "a timestamp or date"),
    ),
    Case(
        "plot roll-forward period outside",
        lambda c: plots.plot_roll_forward(analysis.roll_forward(c.st), "2030-01"),
        CFG,
        ("period='2030-01'", "a date inside one of the periods"),
    ),
    Case(
        "plot roll-forward without opening",
        lambda c: plots.plot_roll_forward(drop(analysis.roll_forward(c.st), "opening"), "2025-01-15"),
        CFG,
        ("rollforward=", "opening"),
    ),
    Case(
        "plot waterfall axes a number",
        lambda c: plots.plot_payout_waterfall(
            analysis.payout_waterfall(c.st, c.st["payout_id"].dropna().iloc[0]), ax=3
        ),
        CFG,
        ("ax='int'", "Axes"),
    ),
    Case(
        "plot waterfall not a frame", lambda c: plots.plot_payout_waterfall("x"), CFG, ("waterfall='str'", "DataFrame")
    ),
    Case(
        "plot payouts unknown currency",
        lambda c: plots.plot_payouts(analysis.payout_groups(c.st), currency="USD"),
        CFG,
        ("currency='USD'", "one of the currencies"),
    ),
    Case(
        "plot payouts without residual",
        lambda c: plots.plot_payouts(drop(analysis.payout_groups(c.st), "residual")),
        CFG,
        ("payout_groups=", "residual"),
    ),
    # --- the close pack and the checks
    Case(
        "close pack month 13",
        lambda c: lk.close_pack(c.tx, c.st, c.report, period="2025-13"),
        CFG,
        ("period='2025-13'", "a month 'YYYY-MM'"),
    ),
    Case(
        "close pack one-digit month",
        lambda c: lk.close_pack(c.tx, c.st, c.report, period="2025-1"),
        CFG,
        ("period='2025-1'", "'YYYY-MM'"),
    ),
    Case(
        "close pack no period",
        lambda c: lk.close_pack(c.tx, c.st, c.report, period=None),
        CFG,
        ("period=None", "'YYYY-MM'"),
    ),
    Case(
        "close pack reversed pair",
        lambda c: lk.close_pack(c.tx, c.st, c.report, period=("2025-02-01", "2025-01-01")),
        CFG,
        ("period=('2025-02-01', '2025-01-01')", "(start, end) pair"),
    ),
    Case(
        "close pack text pair",
        lambda c: lk.close_pack(c.tx, c.st, c.report, period=("x", "y")),
        CFG,
        ("period=('x', 'y')", "(start, end) pair"),
    ),
    Case(
        "close pack transactions text",
        lambda c: lk.close_pack("x", c.st, c.report, period="2025-01"),
        CFG,
        ("transactions='str'", "a DataFrame"),
    ),
    Case(
        "close pack reports a number",
        lambda c: lk.close_pack(c.tx, c.st, 5, period="2025-01"),
        CFG,
        ("balance_reports='int'", "a BalanceReport"),
    ),
    Case(
        "close pack a report that is a number (was: bare AttributeError)",
        lambda c: lk.close_pack(c.tx, c.st, {"EUR": 5}, period="2025-01"),
        CFG,
        ("balance_reports['EUR']='int'", "a BalanceReport"),
    ),
    Case("assert chain not a frame", lambda c: lk.assert_balances_chain("x"), CFG, ("statements='str'", "DataFrame")),
    Case(
        "assert payouts not a frame", lambda c: lk.assert_payouts_explained(5), CFG, ("statements='int'", "DataFrame")
    ),
    Case(
        "assert reconciled records a number",
        lambda c: lk.assert_reconciled(c.tx, 5),
        CFG,
        ("balance_records='int'", "a BalanceReport"),
    ),
    Case(
        "assert reconciled transactions text",
        lambda c: lk.assert_reconciled("x", c.report),
        CFG,
        ("transactions='str'", "a transactions DataFrame"),
    ),
    # --- the sandbox's own arguments
    Case(
        "sandbox size negative (was: named n_transactions)",
        lambda c: Sandbox(size=-5),
        CFG,
        ("size=-5", "an integer >= 20"),
    ),
    Case("sandbox size float", lambda c: Sandbox(size=1.5), CFG, ("size=1.5", "an integer >= 20")),
    Case("sandbox size text", lambda c: Sandbox(size="100"), CFG, ("size='100'", "an integer >= 20")),
    Case("sandbox seed text", lambda c: Sandbox(seed="x"), CFG, ("seed='x'", "an integer")),
    Case("sandbox shape unknown", lambda c: Sandbox(shape="lumpy"), CFG, ("shape='lumpy'", "'uniform', 'sparse'")),
    Case("sandbox dialect unknown", lambda c: Sandbox(dialect="stripe"), CFG, ("dialect='stripe'", "begateway")),
    Case("sandbox dialect a number", lambda c: Sandbox(dialect=5), CFG, ("dialect=5", "begateway")),
    Case(
        "sandbox page_size zero (was: served)", lambda c: Sandbox(page_size=0), CFG, ("page_size=0", "an integer >= 1")
    ),
    Case("sandbox page_size text (was: served)", lambda c: Sandbox(page_size="10"), CFG, ("page_size='10'", ">= 1")),
    Case(
        "sandbox per_page_max zero (was: served)",
        lambda c: Sandbox(per_page_max=0),
        CFG,
        ("per_page_max=0", "an integer >= 1"),
    ),
    Case(
        "sandbox per_page_default zero (was: served)",
        lambda c: Sandbox(per_page_default=0),
        CFG,
        ("per_page_default=0", "an integer >= 1"),
    ),
    Case(
        "sandbox report_seconds negative (was: served)",
        lambda c: Sandbox(report_seconds=-1),
        CFG,
        ("report_seconds=-1", "seconds >= 0"),
    ),
    Case(
        "sandbox report_seconds NaN (was: served)",
        lambda c: Sandbox(report_seconds=math.nan),
        CFG,
        ("report_seconds=nan", "seconds >= 0"),
    ),
    Case(
        "sandbox port 99999 (was: bare OverflowError)",
        lambda c: Sandbox(port=99999),
        CFG,
        ("port=99999", "from 0 (any free port) to 65535"),
    ),
    Case("sandbox port text (was: bare TypeError)", lambda c: Sandbox(port="80"), CFG, ("port='80'", "to 65535")),
    Case(
        "sandbox faults a dict (was: bare AttributeError)",
        lambda c: Sandbox(faults={"latency": 1}),
        CFG,
        ("faults={'latency': 1}", "Faults or None"),
    ),
    Case("sandbox verbose text", lambda c: Sandbox(verbose="yes"), CFG, ("verbose='yes'", "True or False")),
    Case(
        "sandbox kwargs unknown source",
        lambda c: c.sb.kwargs("payments"),
        CFG,
        ("source='payments'", "one of transactions, statements, balance_records"),
    ),
    Case("sandbox fault negative", lambda c: c.sb.set_faults(latency=-1), CFG, ("latency=-1", "seconds >= 0")),
    Case("sandbox fault unknown", lambda c: c.sb.set_faults(slow=True), CFG, ("slow=True", "a fault field")),
]

if widgets is not None:
    CASES += [
        Case("widget fees not a frame", lambda c: widgets.explore_fees(None), CFG, ("frame", "DataFrame")),
        Case(
            "widget balance empty frame",
            lambda c: widgets.explore_balance(pd.DataFrame()),
            CFG,
            ("statements", "columns"),
        ),
        Case(
            "widget payouts missing column",
            lambda c: widgets.explore_payouts(drop(c.st, "payout_id")),
            CFG,
            ("payout_id",),
        ),
        Case(
            "widget fees naive times (was: bare TypeError)",
            lambda c: widgets.explore_fees(naive(c.tx, "created_at")),
            CFG,
            ("frame['created_at']", "tz-aware"),
        ),
        Case(
            "widget balance naive times",
            lambda c: widgets.explore_balance(naive(c.st, "created")),
            CFG,
            ("statements['created']", "tz-aware"),
        ),
        Case(
            "widget payouts naive times",
            lambda c: widgets.explore_payouts(naive(c.st, "created")),
            CFG,
            ("statements['created']", "tz-aware"),
        ),
        Case(
            "widget balance not a frame",
            lambda c: widgets.explore_balance("statements.csv"),
            CFG,
            ("statements='str'", "a pandas DataFrame"),
        ),
    ]


def test_at_least_250_bad_inputs_in_the_tables():
    from tests.analysis.test_bad_analysis_inputs import CASES as ANALYSIS
    from tests.app.test_bad_cli_inputs import CASES as CLI

    assert len({c.id for c in CASES}) == len(CASES)
    assert len(CASES) + len(ANALYSIS) + len(CLI) >= 250, (len(CASES), len(ANALYSIS), len(CLI))


def _call_and_start(case: Case, ctx: Any) -> None:
    """The case's call; an iterator is started too, as it checks its arguments on the first ``next``."""
    result = case.call(ctx)
    if hasattr(result, "__next__"):
        next(result)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(ctx, case: Case, monkeypatch):
    monkeypatch.chdir(ctx.workdir)
    before = tree_hash(ctx.store.path), tree_hash(ctx.workdir)
    ctx.sb.clear_requests()
    with pytest.raises(LedgerkitError) as info:
        _call_and_start(case, ctx)
    exc = info.value
    message = str(exc)
    assert type(exc) is case.error, f"{type(exc).__name__}: {message}"
    missing = [word for word in case.words if word not in message]
    assert not missing, f"{message!r} lacks {missing}"
    assert "Traceback" not in message and len(message) < 2000
    shown = message + repr(exc.args) + repr(vars(exc))
    assert not [secret for secret in case.hidden if secret in shown], "a secret is shown"
    assert ctx.sb.requests == [], "a request was sent before the input was checked"
    assert (tree_hash(ctx.store.path), tree_hash(ctx.workdir)) == before, "the store or the working directory changed"
