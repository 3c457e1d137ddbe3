"""Ingest: from provider bytes to typed DataFrames (private).

- :mod:`.kinds` -- the kinds of column (their dtype and their type check), declared once
- :mod:`.schema` -- the declared columns of each frame (loaders, report sheets, analysis inputs)
- :mod:`.records` -- flatten JSON records, type them, exact money, UTC times
- :mod:`.arrow_pages` -- the same for whole JSON pages through Arrow (the fast path)
- :mod:`.sheets` -- the DWH report's CSV / XLSX sheets
- :mod:`.timeparse` -- dates, zones and the APIs' time text
- :mod:`.manifest` -- what a pull did, kept in ``df.attrs["ledgerkit"]``
"""
