"""No committed notebook output holds a secret or personal data.

The notebooks are committed with their outputs (nbval compares them), so
whatever a cell prints is published. This scans every text output of every
notebook, the notebook metadata (the saved widget state of notebooks 02–04
holds the widgets' HTML tables and charts) — and the code, for good measure —
for the sandbox's secret keys, card holder names, e-mail and IP addresses of
the sandbox world, and HTTP ``Authorization`` headers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from ledgerkit.sandbox import World

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
IPV4 = re.compile(r"(?<![\d.])(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.])")
LOOPBACK = "127.0.0.1"
#: The header, not the transaction type "authorization".
AUTHORIZATION = re.compile(r"authorization['\"]?\s*[:=]", re.IGNORECASE)
BINARY = ("image/png", "image/jpeg")


@pytest.fixture(scope="module")
def world():
    return World.generate(seed=0)


def _texts(path: Path) -> list[str]:
    """Every cell source, every non-image output text and the metadata (widget state) of a notebook."""
    nb = nbformat.read(path, as_version=4)
    texts = [json.dumps(nb.metadata, ensure_ascii=False)]
    for cell in nb.cells:
        texts.append(cell.source)
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("evalue", ""))
            texts += [str(v) for k, v in output.get("data", {}).items() if k not in BINARY]
    return texts


def test_there_are_notebooks_to_scan():
    assert [p.stem for p in PATHS] == ["01_quickstart", "02_fees", "03_balance", "04_payouts", "05_reconciliation"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_secret_key(path, world):
    secrets = [shop["secret"] for shop in world.shops] + [world.psp["secret"], world.mc_shop["secret"]]
    text = "\n".join(_texts(path))
    assert "sk_sandbox_" not in text
    assert not [s for s in secrets if s in text]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_card_holder_email_or_ip(path, world):
    text = "\n".join(_texts(path))
    holders = {t["credit_card"].get("holder") for t in world.transactions} - {None, ""}
    emails = {t["customer"].get("email") for t in world.transactions} - {None, ""}
    assert holders and emails  # the world has them: the loaders must have kept them out
    assert not [h for h in holders if h in text]
    assert not [e for e in emails if e in text]
    assert not EMAIL.search(text), EMAIL.search(text)
    ips = [m.group(0) for m in IPV4.finditer(text) if m.group(0) != LOOPBACK]
    assert not ips


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_authorization_header(path):
    text = "\n".join(_texts(path))
    assert not AUTHORIZATION.search(text)
    assert not re.search(r"Basic [A-Za-z0-9+/=]{8,}", text)


def _leak(world) -> tuple[str, dict]:
    t = world.transactions[0]
    return (
        f"{t['credit_card']['holder']} {t['customer']['email']} {t['customer']['ip']} "
        f"{world.psp['secret']} Authorization: Basic dXNlcjpzZWNyZXQ="
    ), t


def _assert_caught(text: str, world, t: dict) -> None:
    assert t["credit_card"]["holder"] in text and world.psp["secret"] in text
    assert EMAIL.search(text) and IPV4.search(text)
    assert AUTHORIZATION.search(text)


def test_the_scan_finds_what_it_looks_for(world, tmp_path):
    """The scanner itself: a planted holder name, e-mail, IP and secret are all caught."""
    leaked, t = _leak(world)
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", name="stdout", text=leaked)])]
    )
    path = tmp_path / "leak.ipynb"
    nbformat.write(nb, path)
    _assert_caught("\n".join(_texts(path)), world, t)


def test_the_scan_reads_the_widget_state_in_the_metadata(world, tmp_path):
    """A leak inside saved widget state (an HTML table of an explorer) is caught too."""
    leaked, t = _leak(world)
    state = {"model_id": {"model_name": "HTMLModel", "state": {"value": f"<table><td>{leaked}</td></table>"}}}
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x")],
        metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2}}},
    )
    path = tmp_path / "leak.ipynb"
    nbformat.write(nb, path)
    _assert_caught("\n".join(_texts(path)), world, t)
