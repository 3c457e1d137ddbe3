"""A store of pulled pages, so that a second load asks the API only for what is new.

The root is a directory (local, or a shared filesystem) or ``s3://bucket/prefix``
on AWS S3 or an S3-compatible server (:mod:`ledgerkit.store.roots`; the
contract below holds for both). Layout under the store's root (one directory per source and account -- the
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
Beside the sources, ``<root>/_locks/`` holds the (empty) lock files. On an
object store there are no temporary files: parts are created only if absent
(named ``<stream>-<seq>-<writer>.parquet``, one name per load), a state is
replaced only if it is still the version its writer read (``If-Match`` its
ETag), and ``_locks/`` holds leases (:mod:`ledgerkit.store.leases`).

Re-running a load reads the stored rows and asks the API only for the
periods not covered yet plus a *lookback* stretch that catches
late-arriving rows: it starts at the midnight of the query's time zone
``lookback`` (default 3 days) before the previous pull's end on the zone's
wall clock -- the zone's calendar days, so ``settled_at`` (which counts
whole days) gets whole days across a clock change too. For transactions it
also re-reads the whole covered period filtered on ``manually_corrected_at``
since the previous refresh minus the lookback, so that a row created long
ago and corrected lately is replaced too. Re-read rows replace the stored
ones with the same id (the later read wins). A plan of pulls is checked
before anything of it is saved, and saved with its first stored page; a
window the API refuses is dropped, never asked for again and again.

Many writers
------------
Any number of processes and threads may load into one store at once (two
notebooks with ``store=True`` share the default one). The contract:

- **One writer per stream at a time.** A load holds the stream's lock
  (``<root>/_locks/...``, :mod:`ledgerkit.store.locks`) from reading its
  state to reading its rows back, and reads the state afresh once it holds
  it. Another load of the same stream waits, then asks only for what is
  still missing -- never more requests than the two loads made one after
  the other. Loads of other streams (the other payment method, another
  source, account or server) do not wait. The lock is held across the
  stream's requests on purpose: a stream's pull is one cursor chain, and
  what the second load needs depends on what the first one gets.
- **Frames are whole.** Each load returns the rows the store holds for its
  period once its own pulls are done -- every row the API had, none twice.
- **Kills are harmless.** The operating system releases a dead process's
  locks (on an object store, its lease runs out: see
  :mod:`ledgerkit.store.leases`); its leftovers (unlisted parts, temporary
  files) are swept by the next load of that stream, which resumes from the
  last stored page. A sweep touches only its own stream's files. A writer
  whose lease ran out while it was paused cannot save over the one that
  took over: its save fails on the state's ETag with a
  :class:`~ledgerkit.errors.StoreError`.
- **Readers take no lock.** :meth:`Store.read` and :meth:`Store.manifest`
  read a state and the parts it lists; parts are never rewritten, only
  unlisted, so a reader that finds one gone reads the state again.
- **Clearing waits.** :meth:`Store.clear` waits for the streams being
  pulled, and loads that reach a stream meanwhile wait for the clear.
- ``Store(path, timeout=s)`` bounds every wait; past it, a
  :class:`~ledgerkit.errors.StoreError` says which stream is busy.

Every failure of the store itself -- a state file that does not parse or
holds wrong values, a part that is unreadable or not a page of this store,
a full disk or a directory that cannot be written -- is a
:class:`~ledgerkit.errors.StoreError` naming the file and what to do (for
damage: ``Store(root).clear(source, account=...)``), raised before any
request where the store can tell, and leaving the files as they were.

Examples
--------
>>> import tempfile
>>> from ledgerkit.sandbox import Sandbox
>>> from ledgerkit import load_transactions
>>> with Sandbox(size=200) as sb, tempfile.TemporaryDirectory() as root:
...     store = Store(root)
...     first = load_transactions("2025-01-01", "2025-02-01", store=store, **sb.kwargs("transactions"))
...     again = load_transactions("2025-01-01", "2025-02-01", store=store, **sb.kwargs("transactions"))
...     (again.equals(first), again.attrs["ledgerkit"]["stored_rows"] > 0)
(True, True)
"""

from __future__ import annotations

from .directory import DEFAULT_LOOKBACK, SOURCES, Store, as_store
from .files import server_of

__all__ = ["Store", "as_store", "server_of", "DEFAULT_LOOKBACK", "SOURCES"]
