"""The HTML reports in a real browser, opened from disk with the network blocked.

Debian's ``chromium`` driven by Playwright (from PyPI; no browser download
of its own): every report the session's one report run wrote (the five
notebooks and the close pack's page) is opened from its file in a 1280 px
window, with every request but the page itself aborted and the context
offline. Then: no request left the page, no console error, every table and
figure is visible, every explorer drew its chart and table, and every
table's columns are within the window (none behind a scrollbar).

Screenshots of every page are kept under the pytest tmp folder; a failing
assertion prints where. Outside CI, a machine without chromium or
Playwright skips these tests (saying why); under ``CI=true`` that is a
failure: ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: Chromium flags that work on these machines (headless, no sandbox as root, nothing phoned home).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 1280, 900
REPORTS = ("01_quickstart", "02_fees", "03_balance", "04_payouts", "05_reconciliation")
WIDGET_REPORTS = ("02_fees", "03_balance", "04_payouts")

#: The columns a finance reader looks for first, per report (issue 15): within the window on every table holding them.
KEY_COLUMNS = {
    "02_fees": {"rate_bp", "rate_effect_bp", "change_bp", "mix_bp"},
    "03_balance": {"closing", "reported_closing", "unexplained"},
    "04_payouts": {"net", "paid_out", "residual"},
    "05_reconciliation": {"fee_difference", "record_fee", "amount_difference"},
}

_MEASURE = """() => {
  function visibleRight(el) {
    let right = window.innerWidth;
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX))
        right = Math.min(right, a.getBoundingClientRect().right);
    }
    return right;
  }
  function shown(el) {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  }
  const tables = [...document.querySelectorAll('table')].map(t => {
    const right = visibleRight(t);
    const heads = [...t.querySelectorAll('thead th')];
    return {shown: shown(t), rows: t.querySelectorAll('tbody tr').length,
            headers: heads.map(h => h.textContent.trim()),
            off: heads.filter(h => h.getBoundingClientRect().right > right + 0.5).map(h => h.textContent.trim())};
  });
  const images = [...document.querySelectorAll('img')].map(i => ({
    shown: shown(i), loaded: i.complete && i.naturalWidth > 0, width: i.getBoundingClientRect().width}));
  const explorers = [...document.querySelectorAll('.widget-subarea')].map(e => ({
    height: e.getBoundingClientRect().height, images: e.querySelectorAll('img').length,
    tables: e.querySelectorAll('table').length, text: e.innerText.length}));
  return {title: document.title, tables, images, explorers,
          views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
          pageWidth: document.documentElement.scrollWidth};
}"""


@dataclass
class Opened:
    """What one page did and showed in the browser."""

    url: str
    screenshot: Path
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    page: dict = field(default_factory=dict)

    def where(self) -> str:
        return f"(screenshot: {self.screenshot})"


def _missing(what: str) -> None:
    """No browser here: a failure in CI, a skip that says why elsewhere."""
    message = f"{what}; .ci/run installs it (apt-get install chromium; pip install -e '.[dev]')"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _chromium() -> str:
    path = os.environ.get("LEDGERKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _missing("Debian's chromium is not installed")
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed")
    executable = _chromium()
    with sync_playwright() as playwright:
        # Playwright starts the browser with a new, empty profile (--user-data-dir) of its own.
        chromium = playwright.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def _open(browser, html: Path, shots: Path) -> Opened:
    opened = Opened(html.as_uri(), shots / f"{html.stem}.png")
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, offline=True)
    page = context.new_page()
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("requestfailed", lambda request: opened.failed.append(f"{request.url} {request.failure}"))
    page.on("console", lambda message: message.type == "error" and opened.errors.append(message.text))
    page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
    page.route("**/*", lambda route: route.continue_() if route.request.url == opened.url else route.abort())
    try:
        page.goto(opened.url, wait_until="load")
        # the widget manager draws every saved view after the load event
        page.wait_for_function(
            "document.querySelectorAll('.widget-subarea').length >= "
            "document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length",
            timeout=30_000,
        )
        page.wait_for_timeout(300)
        opened.page = page.evaluate(_MEASURE)
    finally:
        page.screenshot(path=str(opened.screenshot), full_page=True)
        context.close()
    return opened


@pytest.fixture(scope="module")
def opened(report_run, browser, tmp_path_factory) -> dict[str, Opened]:
    code, printed, out = report_run
    assert code == 0, printed
    shots = tmp_path_factory.mktemp("report-screenshots")
    pages = sorted(out.glob("*.html"))
    assert [p.stem for p in pages if p.stem in REPORTS] == list(REPORTS)
    return {html.stem: _open(browser, html, shots) for html in pages}


def _names() -> list[str]:
    return [*REPORTS, "close-2025-03"]


@pytest.mark.parametrize("name", _names())
def test_no_request_leaves_the_page(opened, name):
    page = opened[name]
    assert page.requests == [page.url], f"requests besides the page itself: {page.requests} {page.where()}"
    assert page.failed == [], page.where()


@pytest.mark.parametrize("name", _names())
def test_no_console_error(opened, name):
    assert opened[name].errors == [], opened[name].where()


@pytest.mark.parametrize("name", _names())
def test_every_table_and_figure_is_visible(opened, name):
    page = opened[name]
    tables, images = page.page["tables"], page.page["images"]
    assert tables and all(t["shown"] for t in tables), (tables, page.where())
    assert sum(t["rows"] for t in tables) > 10, page.where()  # (an empty result shows its header row alone)
    if name in REPORTS:
        assert images, page.where()
    assert all(i["shown"] and i["loaded"] and i["width"] > 200 for i in images), (images, page.where())


@pytest.mark.parametrize("name", _names())
def test_every_column_is_within_a_1280_px_window(opened, name):
    page = opened[name]
    off = [(t["headers"][:3], t["off"]) for t in page.page["tables"] if t["off"]]
    assert off == [], f"columns behind a scrollbar at {WIDTH} px: {off} {page.where()}"
    assert page.page["pageWidth"] <= WIDTH, page.where()
    for key in KEY_COLUMNS.get(name, ()):
        assert any(key in t["headers"] for t in page.page["tables"]), (key, page.where())


@pytest.mark.parametrize("name", WIDGET_REPORTS)
def test_every_explorer_draws_its_current_view_offline(opened, name):
    page = opened[name]
    explorers = page.page["explorers"]
    assert page.page["views"] >= 1 and len(explorers) >= page.page["views"], page.where()
    drawn = [e for e in explorers if e["images"]]
    assert len(drawn) == 1, (explorers, page.where())
    view = drawn[0]
    assert view["tables"] == 1 and view["text"] > 100, (view, page.where())
    assert 400 < view["height"] < 1600, f"explorer {view['height']:.0f} px tall {page.where()}"


@pytest.mark.parametrize("name", REPORTS)
def test_page_titles_name_the_report_and_the_period(opened, name):
    number, _, rest = name.partition("_")
    assert opened[name].page["title"] == f"{number} · {rest.capitalize()} — 2025-01 to 2025-03 (sandbox)"


def test_the_close_page_title_says_its_status(opened):
    assert opened["close-2025-03"].page["title"] == "Close pack 2025-03-01 to 2025-03-31 (UTC): green"
