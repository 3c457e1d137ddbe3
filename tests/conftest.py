"""Shared fixtures: the sandbox on an ephemeral 127.0.0.1 port.

- ``sandbox``: one ``Sandbox(seed=0)`` for the whole session. Treat it as
  read-only: do not switch faults on it (use ``fresh_sandbox``), and call
  ``sandbox.clear_requests()`` before asserting on ``sandbox.requests``.
- ``fresh_sandbox``: a small sandbox of its own per test (200 transactions,
  transaction pages of 20, statement pages of 10 by default, reports ready in
  0.05 s), for fault tests and anything that changes the world.
- ``dialect_sandbox``: the same small sandbox once per dialect of
  ``DIALECTS`` (parametrised; test ids are the dialect names), statement
  pages of the dialect's recorded default size where it has one
  (``makecommerce-recorded``: 30), else 10. ``dialect_sandbox.dialect``
  is the profile (docs/CONTRACTS.md §2.6).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerkit.sandbox.dialects import DIALECTS, get_dialect
from ledgerkit.sandbox.server import Sandbox


@pytest.fixture(scope="session")
def sandbox():
    with Sandbox(seed=0) as sb:
        yield sb


@pytest.fixture
def fresh_sandbox():
    with Sandbox(seed=0, size=200, page_size=20, per_page_default=10, per_page_max=100, report_seconds=0.05) as sb:
        yield sb


@pytest.fixture(params=DIALECTS)
def dialect_sandbox(request):
    per_page = get_dialect(request.param).per_page_default or 10
    with Sandbox(
        seed=0,
        size=200,
        page_size=20,
        per_page_default=per_page,
        per_page_max=100,
        report_seconds=0.05,
        dialect=request.param,
    ) as sb:
        yield sb


def _json_blocks(text: str) -> list:
    """Every non-empty JSON object or array written in a text, in order."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i] in "[{":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            if value not in ([], {}):
                found.append(value)
            i = end
        else:
            i += 1
    return found


@pytest.fixture(scope="session")
def api_examples() -> dict:
    """The request/response examples of the three API references in docs/api/."""
    api = Path(__file__).resolve().parent.parent / "docs" / "api"
    tx = _json_blocks((api / "transactions-pagination-report-api.txt").read_text(encoding="utf-8"))
    st = _json_blocks((api / "account-statement-api.txt").read_text(encoding="utf-8"))
    dwh = _json_blocks((api / "dwh-request-report-file.txt").read_text(encoding="utf-8"))
    return {
        "transactions_request": tx[0],
        "transactions_response": tx[1],
        "statements_schema_row": st[0][0],
        "statements_rows": st[1],
        "statements_400": st[3],
        "statements_401": st[5],
        "dwh_request": dwh[0],
        "dwh_response": dwh[1],
    }
