"""Bad command lines: one line on stderr naming the flag and what is expected, exit status 2, nothing sent.

Table-driven like ``tests/test_bad_inputs.py``: each case runs ``ledgerkit
...`` (``ledgerkit.app.cli.main``) or ``python -m ledgerkit.sandbox ...``
(``ledgerkit.sandbox.__main__.main``) in this process with one bad argument
or environment variable, and asserts the exit status, that stderr is one
line holding the case's words and no traceback, that stdout is empty, and
that the sandbox the ``LEDGERKIT_*`` variables point at received no
request. Two cases run the real console entry points in a subprocess.
Cases named "(was: ...)" record what happened before they were refused.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from ledgerkit.app.cli import main as ledgerkit_main
from ledgerkit.sandbox.__main__ import main as sandbox_main
from ledgerkit.sandbox.server import Sandbox

ENV = ("--source", "env", "--period", "2025-01")  # real accounts: the sandbox below, through LEDGERKIT_*


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]  # the one line names the flag and what is expected
    env: dict[str, str | None] = field(default_factory=dict)  # LEDGERKIT_* changed for the case (None: unset)
    hidden: tuple[str, ...] = ()  # never on the screen (secrets)
    program: str = "ledgerkit"  # or "sandbox": python -m ledgerkit.sandbox


CASES = [
    # --- ledgerkit
    Case("no command", (), ("ledgerkit:", "the following arguments are required: command")),
    Case("unknown command", ("frobnicate",), ("invalid choice: 'frobnicate'", "'close'")),
    Case("unknown flag", ("close", "--bogus"), ("unrecognized arguments: --bogus",)),
    # --- ledgerkit close
    Case("close --period without a value", ("close", "--period"), ("argument --period", "expected one argument")),
    Case("close --period month 13", ("close", "--period", "2025-13"), ("period='2025-13'", "a month 'YYYY-MM'")),
    Case("close --period a name", ("close", "--period", "March"), ("period='March'", "'YYYY-MM'")),
    Case("close --period one-digit month", ("close", "--period", "2025-3"), ("period='2025-3'", "'YYYY-MM'")),
    Case("close --period before pandas' dates", ("close", "--period", "0999-01"), ("period='0999-01'", "'YYYY-MM'")),
    Case("close --source unknown", ("close", "--source", "prod"), ("argument --source", "invalid choice: 'prod'")),
    Case("close --fail-on unknown", ("close", "--fail-on", "yes"), ("argument --fail-on", "invalid choice: 'yes'")),
    Case(
        "close --dwh-user-id text",
        ("close", "--dwh-user-id", "abc"),
        ("argument --dwh-user-id", "expected a positive integer, got 'abc'"),
    ),
    Case(
        "close --dwh-user-id zero (was: refused after transactions and statements were pulled)",
        ("close", "--dwh-user-id", "0", *ENV),
        ("argument --dwh-user-id", "expected a positive integer, got '0'"),
    ),
    Case(
        "close --dwh-user-id negative",
        ("close", "--dwh-user-id", "-5", *ENV),
        ("argument --dwh-user-id", "positive integer"),
    ),
    Case(
        "close --dwh-user-id full-width digit",
        ("close", "--dwh-user-id", "\uff11", *ENV),
        ("argument --dwh-user-id", "positive integer"),
    ),
    Case(
        "close --out not writable (was: a traceback after every pull)",
        ("close", "--out", "/proc/nope", *ENV),
        ("out='/proc/nope'", "a folder this process can create and write files in"),
    ),
    Case(
        "close --out under a file (was: a traceback after every pull)",
        ("close", "--out", "/dev/null/reports", *ENV),
        ("out='/dev/null/reports'", "a folder"),
    ),
    Case("close --out empty", ("close", "--out", "", *ENV), ("out=''", "the path of a folder")),
    Case(
        "close --source env without a URL",
        ("close", *ENV),
        ("base_url", "$LEDGERKIT_TRANSACTIONS_URL"),
        env={"LEDGERKIT_TRANSACTIONS_URL": None},
    ),
    Case(
        "close --source env URL with port 99999 (was: a transport error)",
        ("close", *ENV),
        ("base_url=", "Port out of range"),
        env={"LEDGERKIT_STATEMENTS_URL": "http://127.0.0.1:99999/makecommerce"},
    ),
    Case(
        "close --source env secret with a euro sign",
        ("close", *ENV),
        ("secret_key='<hidden>'", "Latin-1"),
        env={"LEDGERKIT_TRANSACTIONS_SECRET_KEY": "sk-\u20ac-do-not-show"},
        hidden=("do-not-show",),
    ),
    Case(
        "close --source env id with a space",
        ("close", *ENV),
        ("shop_id='21 01'", "without spaces"),
        env={"LEDGERKIT_TRANSACTIONS_SHOP_ID": "21 01"},
    ),
    # --- ledgerkit report
    Case(
        "report --out not writable (was: a traceback)",
        ("report", "--out", "/proc/nope"),
        ("out='/proc/nope'", "a folder this process can create"),
    ),
    Case(
        "report --notebooks missing (was: ran the summary and the close without any notebook)",
        ("report", "--notebooks", "/nonexistent/notebooks"),
        ("notebooks='/nonexistent/notebooks'", "a folder holding the report notebooks"),
    ),
    Case("report --source unknown", ("report", "--source", "x"), ("argument --source", "invalid choice: 'x'")),
    Case("report unknown flag", ("report", "--bogus"), ("unrecognized arguments: --bogus",)),
    # --- ledgerkit sandbox (and python -m ledgerkit.sandbox)
    Case(
        "sandbox --port 99999 (was: a traceback)",
        ("sandbox", "--port", "99999"),
        ("port=99999", "from 0 (any free port) to 65535"),
    ),
    Case("sandbox --port negative (was: a traceback)", ("sandbox", "--port", "-1"), ("port=-1", "to 65535")),
    Case("sandbox --port text", ("sandbox", "--port", "http"), ("argument --port", "invalid int value: 'http'")),
    Case("sandbox --dialect unknown", ("sandbox", "--dialect", "stripe"), ("dialect='stripe'", "begateway")),
    Case("sandbox --shape unknown", ("sandbox", "--shape", "lumpy"), ("argument --shape", "invalid choice: 'lumpy'")),
    Case(
        "sandbox --size negative (was: named n_transactions)",
        ("sandbox", "--size", "-5"),
        ("size=-5", "an integer >= 20"),
    ),
    Case("sandbox --page-size zero (was: served)", ("sandbox", "--page-size", "0"), ("page_size=0", ">= 1")),
    Case("sandbox --per-page-max zero (was: served)", ("sandbox", "--per-page-max", "0"), ("per_page_max=0", ">= 1")),
    Case(
        "sandbox --report-seconds negative (was: served)",
        ("sandbox", "--report-seconds", "-1"),
        ("report_seconds=-1.0", "seconds >= 0"),
    ),
    Case("sandbox --latency negative", ("sandbox", "--latency", "-1"), ("latency=-1.0", "seconds >= 0")),
    Case("sandbox --retry-after negative", ("sandbox", "--retry-after", "-3"), ("retry_after=-3", "an integer >= 0")),
    Case("sandbox --error-status 200", ("sandbox", "--error-status", "200"), ("error_status=200", "a 5xx status")),
    Case("sandbox --seed text", ("sandbox", "--seed", "x"), ("argument --seed", "invalid int value: 'x'")),
    Case("sandbox unknown flag", ("sandbox", "--bogus"), ("unrecognized arguments: --bogus",)),
    Case(
        "python -m ledgerkit.sandbox --port 99999", ("--port", "99999"), ("port=99999", "to 65535"), program="sandbox"
    ),
    Case(
        "python -m ledgerkit.sandbox --size text",
        ("--size", "many"),
        ("argument --size", "invalid int value"),
        program="sandbox",
    ),
]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(seed=0, size=200, report_seconds=0.02) as sb:
        yield sb


def _environment(monkeypatch, sandbox: Sandbox, changes: dict[str, str | None]) -> None:
    for name, value in {**sandbox.env(), **changes}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_every_case_has_its_own_name():
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_command_line(case: Case, sandbox, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    _environment(monkeypatch, sandbox, case.env)
    sandbox.clear_requests()
    run = ledgerkit_main if case.program == "ledgerkit" else sandbox_main
    try:
        status = run(list(case.argv))
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    out, err = capsys.readouterr()
    assert status == 2, (status, out, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    missing = [word for word in case.words if word not in err]
    assert not missing, f"{err!r} lacks {missing}"
    assert "Traceback" not in err
    assert not [secret for secret in case.hidden if secret in err]
    assert sandbox.requests == [], "a request was sent before the argument was checked"
    assert list(tmp_path.iterdir()) == [], "a file was written"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["-m", "ledgerkit.app.cli", "close", "--out", "/proc/nope", "--period", "2025-13"], ("period='2025-13'",)),
        (["-m", "ledgerkit.sandbox", "--port", "99999"], ("port=99999", "to 65535")),
    ],
    ids=["ledgerkit close", "python -m ledgerkit.sandbox"],
)
def test_console_entry_points_print_one_line(argv, words, tmp_path):
    done = subprocess.run(
        [sys.executable, *argv], check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and all(word in done.stderr for word in words), done.stderr
