"""A progress bar for long pulls (``tqdm.auto``: a widget in Jupyter, text elsewhere).

``progress=None`` (the loaders' default) shows a bar only once a pull is
known or seen to need more than :data:`AUTO_PAGES` pages of rows (the empty
pages that close concurrent windows do not count), so quick pulls stay
silent; ``True`` always shows one, ``False`` never. The bar shows the source
and counts -- never a parameter that could hold a secret.

Examples
--------
>>> with PullProgress(False, "statements") as bar:
...     bar.page(rows=50, expected_pages=3)
>>> bar.pages, bar.rows
(1, 50)
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ConfigurationError

__all__ = ["AUTO_PAGES", "PullProgress"]

#: Pages a pull must be expected (or seen) to take before ``progress=None`` shows a bar.
AUTO_PAGES = 5


class PullProgress:
    """Counts pages and rows of one pull, and draws a bar when it is worth it.

    Parameters
    ----------
    progress : bool or None
        ``True`` always, ``False`` never, ``None`` only for pulls of more than
        :data:`AUTO_PAGES` pages.
    source : str
        Shown as the bar's label.

    Thread-safe: concurrent windows of one pull may share it.
    """

    def __init__(self, progress: bool | None, source: str) -> None:
        if progress is not None and not isinstance(progress, bool):
            raise ConfigurationError("progress", progress, "True, False or None (automatic)")
        self.mode = progress
        self.source = source
        self.pages = 0
        self.pages_with_rows = 0
        self.rows = 0
        self.expected_pages: int | None = None
        self._bar: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> PullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wanted(self) -> bool:
        if self.mode is not None:
            return bool(self.mode)
        expected = self.expected_pages or 0
        return expected > AUTO_PAGES or self.pages_with_rows > AUTO_PAGES

    def page(self, *, rows: int, expected_pages: int | None = None) -> None:
        """Record one page of ``rows`` rows; ``expected_pages`` when the pull knows it."""
        with self._lock:
            self.pages += 1
            self.pages_with_rows += rows > 0
            self.rows += rows
            if expected_pages is not None:
                self.expected_pages = expected_pages
            if self._bar is None and self._wanted():
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.expected_pages, desc=f"ledgerkit {self.source}", unit="page", leave=False)
                self._bar.update(self.pages - 1)
            if self._bar is not None:
                if expected_pages is not None and self._bar.total != expected_pages:
                    self._bar.total = expected_pages
                self._bar.update(1)
                self._bar.set_postfix(rows=self.rows, refresh=False)

    def close(self) -> None:
        """Close the bar, if one was drawn."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
