"""Every store failure is a StoreError naming the file and what to do, raised before any request,
with the store left as it was: state files that parse but hold wrong values, unreadable or foreign
Parquet parts, a full disk (real: a child process under RLIMIT_FSIZE), unusable store paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ledgerkit import load_balance_records, load_statements, load_transactions
from ledgerkit.errors import ConfigurationError, StoreError
from ledgerkit.sandbox.server import Sandbox
from ledgerkit.store import Store

JAN = ("2025-01-01", "2025-02-01")
DWH_PERIOD = ("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(seed=0, size=200, page_size=20, per_page_default=50, per_page_max=100, report_seconds=0.05) as sb:
        yield sb


def load(sb, source: str, root: Any, **kw) -> Any:
    if source == "transactions":
        return load_transactions(*JAN, store=root, progress=False, max_workers=1, **sb.kwargs(source), **kw)
    if source == "statements":
        return load_statements(since=JAN[0], until=JAN[1], store=root, progress=False, **sb.kwargs(source), **kw)
    return load_balance_records(
        *DWH_PERIOD,
        currency="EUR",
        user_id=1,
        store=root,
        progress=False,
        poll_interval=(0.01, 0.05),
        **sb.kwargs(source),
        **kw,
    )


@pytest.fixture(scope="module")
def filled(sandbox, tmp_path_factory) -> Path:
    """A store holding one load of each source (copied for each test that damages it)."""
    root = tmp_path_factory.mktemp("filled")
    for source in ("transactions", "statements", "balance_records"):
        load(sandbox, source, root)
    return root


@pytest.fixture
def store(filled, tmp_path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(filled, root)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def state_of(root: Path, source: str, method: str = "credit_card") -> Path:
    for path in sorted((root / source).rglob("_streams/*.json")):
        if source != "transactions" or json.loads(path.read_bytes())["key"]["payment_method_type"] == method:
            return path
    raise AssertionError(f"no {source} state")


def fails_cleanly(sb, root: Path, source: str, *words: str) -> StoreError:
    """The load raises a StoreError with ``words``, sends nothing and changes nothing."""
    before = tree(root)
    sb.clear_requests()
    with pytest.raises(StoreError) as info:
        load(sb, source, root)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in message and len(message) < 2000
    assert sb.requests == [], "a request was sent before the store was found unusable"
    assert tree(root) == before, "the store changed"
    return info.value


# ------------------------------------------------------------------ state files that parse but hold wrong values


def _set(**values: Any) -> Callable[[dict], Any]:
    return lambda state: {**state, **values}


def _without(key: str) -> Callable[[dict], Any]:
    return lambda state: {k: v for k, v in state.items() if k != key}


def _window(**values: Any) -> Callable[[dict], Any]:
    window = {"from": "2025-01-01T00:00:00+00:00", "to": "2025-02-01T00:00:00+00:00", "cursor": None, **values}
    return _set(pending=[window])


BAD_STATES = [  # (id, source, change to the parsed state, words the message holds)
    ("a json array", "transactions", lambda s: [], ("holds a list",)),
    ("a foreign object", "transactions", lambda s: {"hello": "world"}, ("no 'key'",)),
    ("no parts", "transactions", _without("parts"), ("no 'parts'",)),
    ("parts not a list", "transactions", _set(parts="x"), ("'parts'",)),
    ("parts of numbers", "transactions", _set(parts=[1, 2]), ("'parts'",)),
    ("a part outside the store", "transactions", _set(parts=["../../../../etc/passwd"]), ("'parts'",)),
    (
        "another stream's part",
        "transactions",
        _set(parts=["month=2025-01/0123456789abcdef-000001.parquet"]),
        ("'parts'",),
    ),
    ("seq as text", "transactions", _set(seq="3"), ("'seq'",)),
    ("seq negative", "transactions", _set(seq=-1), ("'seq'",)),
    ("key not an object", "transactions", _set(key="x"), ("'key'",)),
    (
        "key of another stream",
        "transactions",
        lambda s: {**s, "key": {**s["key"], "status": "failed"}},
        ("another stream",),
    ),
    ("pending not a list", "transactions", _set(pending={"from": "2025-01-01"}), ("'pending'",)),
    ("pending with a bad time", "transactions", _window(**{"from": "yesterday"}), ("'pending'",)),
    ("pending with a text cursor", "transactions", _window(cursor="12"), ("'pending'",)),
    ("pending reversed", "transactions", _window(**{"from": "2025-03-01T00:00:00+00:00"}), ("'pending'",)),
    ("covered one time", "transactions", _set(covered=["2025-01-01T00:00:00+00:00"]), ("'covered'",)),
    (
        "covered without offsets",
        "transactions",
        _set(covered=["2025-01-01T00:00:00", "2025-02-01T00:00:00"]),
        ("'covered'",),
    ),
    ("refreshed_at a number", "transactions", _set(refreshed_at=12345), ("'refreshed_at'",)),
    ("next_page zero", "statements", _set(next_page=0, complete=False), ("'next_page'",)),
    ("complete as text", "statements", _set(complete="yes"), ("'complete'",)),
    ("total negative", "statements", _set(total=-1), ("'total'",)),
    ("per_page a float", "statements", _set(per_page=1.5), ("'per_page'",)),
    ("complete without refreshed_at", "statements", _without("refreshed_at"), ("'refreshed_at'",)),
    ("report id leaving the store", "balance_records", _set(report_id="../../../etc/x"), ("'report_id'",)),
    ("pending report id a number", "balance_records", _set(pending_report_id=5), ("'pending_report_id'",)),
    ("report manifest a list", "balance_records", _set(manifest=[]), ("'manifest'",)),
]


@pytest.mark.parametrize(("source", "change", "words"), [c[1:] for c in BAD_STATES], ids=[c[0] for c in BAD_STATES])
def test_a_state_with_wrong_values_is_a_store_error(sandbox, store, source, change, words):
    path = state_of(store, source)
    path.write_text(json.dumps(change(json.loads(path.read_bytes()))))
    err = fails_cleanly(sandbox, store, source, str(path), f".clear({source!r}, account=", *words)
    assert path.parents[2].name in str(err)  # the account to clear
    if "another stream" in words:
        return  # (only a load knows which stream it wants)
    if source != "balance_records":
        with pytest.raises(StoreError, match="not a state ledgerkit can use"):
            Store(store).read(source)
    with pytest.raises(StoreError, match=path.name):
        Store(store).manifest(source)


# ------------------------------------------------------------------ parts and reports


def first_part(root: Path, source: str) -> Path:
    state = state_of(root, source)
    return state.parent.parent / json.loads(state.read_bytes())["parts"][0]


@pytest.mark.parametrize("source", ["transactions", "statements"])
@pytest.mark.parametrize(
    ("kind", "damage", "words"),
    [
        ("junk", lambda p: p.write_bytes(b"not parquet at all"), ("unreadable",)),
        ("cut short", lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), ("unreadable",)),
        ("foreign", lambda p: pd.DataFrame({"a": [1, 2]}).to_parquet(p), ("not a page of this store",)),
        (
            "ids as text",
            lambda p: (
                pd.read_parquet(p)
                .astype({c: "str" for c in ("id",) if c in pd.read_parquet(p)})
                .pipe(lambda f: f.assign(row_id=1) if "row_id" in f else f)
                .to_parquet(p)
            ),
            ("not a page of this store",),
        ),
        ("missing", lambda p: p.unlink(), ("missing",)),
    ],
)
def test_a_bad_part_is_a_store_error(sandbox, store, source, kind, damage, words):
    part = first_part(store, source)
    damage(part)
    fails_cleanly(sandbox, store, source, str(part), ".clear(", *words)
    with pytest.raises(StoreError, match=part.name):
        Store(store).read(source)


def test_an_unreadable_stored_report_is_a_store_error(sandbox, store):
    (report,) = (store / "balance_records").rglob("reports/*.zip")
    report.write_bytes(b"PK not a zip")
    fails_cleanly(sandbox, store, "balance_records", str(report), ".clear('balance_records'")


# ------------------------------------------------------------------ the store= argument


def test_an_empty_store_path_is_refused_before_anything_happens(sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sandbox.clear_requests()
    for value in ("", "   "):
        with pytest.raises(ConfigurationError, match=r"store=.* expected a directory path, not an empty string"):
            load(sandbox, "transactions", value)
    with pytest.raises(ConfigurationError, match="path="):
        Store("")
    assert sandbox.requests == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("source", ["transactions", "statements", "balance_records"])
def test_a_store_path_that_cannot_be_written_is_a_store_error_before_any_request(sandbox, source):
    sandbox.clear_requests()
    with pytest.raises(StoreError, match="could not write /proc/nope/"):
        load(sandbox, source, "/proc/nope")
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("kw", "parameter"),
    [
        ({"path": "a\x00b"}, "path"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
    ],
)
def test_bad_store_arguments_are_configuration_errors(tmp_path, kw, parameter):
    with pytest.raises(ConfigurationError, match=f"{parameter}="):
        Store(**{"path": tmp_path, **kw})


def test_a_file_url_is_its_path_and_an_unsupported_object_store_url_is_refused_with_the_reason(
    tmp_path, sandbox, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert Store(f"file://{tmp_path}/shared").path == tmp_path / "shared"
    assert Store(f"file://localhost{tmp_path}/a%20b").path == tmp_path / "a b"
    sandbox.clear_requests()
    for url in ("gs://bucket/x", "az://container/x", "memory://x"):
        with pytest.raises(
            ConfigurationError, match=r"an s3:// URL .*conditional writes .* losing or doubling rows.* S3 only"
        ):
            load(sandbox, "transactions", url)
    with pytest.raises(ConfigurationError, match="a file:// URL of this machine"):
        Store("file://otherhost/mnt/x")
    assert sandbox.requests == [] and list(tmp_path.iterdir()) == []  # no "s3:" directory made here


# ------------------------------------------------------------------ a full disk, for real

CHILD = """
import json, resource, signal, sys
from ledgerkit.errors import LedgerkitError
from ledgerkit import load_balance_records
from ledgerkit import load_statements
from ledgerkit import load_transactions
source, root, limit, period = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    if source == "transactions":
        load_transactions(*period, store=root, progress=False, max_workers=1, lookback="0s")
    elif source == "statements":
        load_statements(since=period[0], until=period[1], store=root, progress=False)
    else:
        load_balance_records(*period, currency="EUR", user_id=1, store=root, progress=False,
                             poll_interval=(0.01, 0.05))
except LedgerkitError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


def load_in_child(sb, source: str, root: Path, limit: int, period: tuple[str, str]) -> dict[str, Any]:
    """Run one load in a child whose files may not grow past ``limit`` bytes; its outcome."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, source, str(root), str(limit), json.dumps(period)],
        env={**os.environ, **sb.env()},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # a bare error would end the child with a traceback
    return json.loads(done.stdout.strip().splitlines()[-1])


def listed_parts_readable(root: Path) -> None:
    for source in ("transactions", "statements"):
        for state in Store(root).manifest(source):
            for part in state["parts"]:
                pd.read_parquet(Path(state["directory"]) / part)


@pytest.mark.parametrize(
    ("source", "period", "limit", "written"),
    [
        ("transactions", ("2025-01-01", "2025-03-01"), 8000, ".parquet"),  # February's pages do not fit
        ("transactions", JAN, 300, ".json"),  # no new rows: only the state is written, and it does not fit
        ("statements", ("2025-01-01", "2025-03-01"), 5000, ".parquet"),  # another stream: its first page
    ],
)
def test_a_full_disk_is_a_store_error_and_leaves_the_store_as_it_was(sandbox, store, source, period, limit, written):
    before = tree(store)
    outcome = load_in_child(sandbox, source, store, limit, period)
    assert outcome["error"] == "StoreError", outcome
    assert "File too large" in outcome["message"] and "Free some space" in outcome["message"]
    assert f"{written}: no room left" in outcome["message"] and str(store) in outcome["message"]
    after = tree(store)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing there before was touched
    assert not [k for k in after if k.endswith(".tmp")]  # nothing half-written
    listed_parts_readable(store)
    reloaded = (
        load(sandbox, source, store)
        if period == JAN
        else (
            load_transactions(*period, store=store, progress=False, max_workers=1, **sandbox.kwargs(source))
            if source == "transactions"
            else load_statements(
                since=period[0], until=period[1], store=store, progress=False, **sandbox.kwargs(source)
            )
        )
    )
    plain = (
        load_transactions(*period, progress=False, **sandbox.kwargs(source))
        if source == "transactions"
        else load_statements(since=period[0], until=period[1], progress=False, **sandbox.kwargs(source))
    )
    pd.testing.assert_frame_equal(reloaded, plain)


def test_a_full_disk_while_a_report_downloads_remembers_the_report(sandbox, tmp_path):
    outcome = load_in_child(sandbox, "balance_records", tmp_path, 1000, DWH_PERIOD)
    assert outcome["error"] is not None, outcome  # (the child reports any LedgerkitError; a bare one fails it)
    (state,) = Store(tmp_path).manifest("balance_records")
    created = state["pending_report_id"]
    assert created in outcome["message"] and not list(tmp_path.rglob("reports/*.zip"))
    sandbox.clear_requests()
    report = load(sandbox, "balance_records", tmp_path)  # the same call, room again: picks the report up
    assert report.report_id == created
    assert [r.method for r in sandbox.requests if r.path.endswith("/reports")] == []  # no new report requested
    pd.testing.assert_frame_equal(
        report.records,
        load_balance_records(
            *DWH_PERIOD,
            currency="EUR",
            user_id=1,
            progress=False,
            poll_interval=(0.01, 0.05),
            **sandbox.kwargs("balance_records"),
        ).records,
    )


# ------------------------------------------------------------------ lookback


@pytest.mark.parametrize("value", ["3", "3.5", "abc", "-1D", "", 3, 2.5, True, pd.Timedelta("-1s"), pd.NaT])
def test_a_bad_lookback_is_refused_before_any_request(sandbox, tmp_path, value):
    sandbox.clear_requests()
    with pytest.raises(ConfigurationError, match=r"lookback=.*expected a non-negative"):
        load(sandbox, "transactions", tmp_path, lookback=value)
    assert sandbox.requests == [] and not tmp_path.joinpath("transactions").exists()


def test_a_lookback_reaching_before_pandas_earliest_time_is_refused_before_any_request(sandbox, tmp_path):
    period = ("1950-01-01", "1950-02-01")
    load_transactions(*period, store=tmp_path, progress=False, **sandbox.kwargs("transactions"))
    before = tree(tmp_path)
    sandbox.clear_requests()
    with pytest.raises(ConfigurationError, match=r"lookback=.*after 1677"):
        load_transactions(
            *period, store=tmp_path, progress=False, lookback=pd.Timedelta.max, **sandbox.kwargs("transactions")
        )
    assert sandbox.requests == [] and tree(tmp_path) == before
