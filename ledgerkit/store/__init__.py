"""A local store of pulled pages, so that a second load asks the API only for what is new.

Layout under the store's root (one directory per source and account -- the
shop or PSP id, never its secret --, one per server, and one per month of
the rows)::

    <root>/transactions/<shop id>/server-<hash>/month=2025-01/<stream>-<seq>.parquet
    <root>/transactions/<shop id>/server-<hash>/_streams/<stream>.json
    <root>/statements/<shop id>/server-<hash>/month=2025-01/<stream>-<seq>.parquet
    <root>/statements/<shop id>/server-<hash>/_streams/<stream>.json
    <root>/balance_records/<psp id>/server-<hash>/reports/<report id>.zip
    <root>/balance_records/<psp id>/server-<hash>/_streams/<stream>.json

``<hash>`` names the API's base URL reduced to scheme, host, port and path
(:func:`server_of`; never credentials), so a test and a live account with
the same shop id -- or two sandboxes -- never share rows. The reduced URL is
also part of each stream's key in its JSON state.

A *stream* is one kind of pull (for transactions: date type, status, zone,
payment method, correction filter, PII choice; for statements: the filter).
Its JSON state lists the Parquet parts that belong to it, the cursor of a
pull in progress and what is covered. Every file is written atomically
(temporary file in the same directory, fsync, ``os.replace``) and a part is
written *before* the state that lists it, so a pull killed at any moment
leaves a readable store: a part not (yet) listed is ignored and swept away
later, and the next load resumes from the last page the state records.

Re-running a load reads the stored rows and asks the API only for the
periods not covered yet plus a *lookback* stretch (default 3 days before the
previous pull's end) that catches late-arriving rows; for transactions it
also re-reads the whole covered period filtered on ``manually_corrected_at``
since the previous refresh minus the lookback, so that a row created long ago
and corrected lately is replaced too. Re-read rows replace the stored ones
with the same id (the later read wins).

Examples
--------
>>> import tempfile
>>> from ledgerkit.sandbox import Sandbox
>>> from ledgerkit.sources.transactions import load_transactions
>>> with Sandbox(size=200) as sb, tempfile.TemporaryDirectory() as root:
...     store = Store(root)
...     first = load_transactions("2025-01-01", "2025-02-01", store=store, **sb.kwargs("transactions"))
...     again = load_transactions("2025-01-01", "2025-02-01", store=store, **sb.kwargs("transactions"))
...     (again.equals(first), again.attrs["ledgerkit"]["stored_rows"] > 0)
(True, True)
"""

from __future__ import annotations

from .balance_records import load_stored_balance_records
from .directory import DEFAULT_LOOKBACK, SOURCES, Store, as_store, lookback_of
from .files import atomic_write, server_of
from .statements import load_stored_statements
from .stream import Stream
from .transactions import load_stored_transactions

__all__ = ["Store", "as_store", "server_of", "DEFAULT_LOOKBACK", "SOURCES"]
