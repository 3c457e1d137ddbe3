"""Balance records through a store: the report's zip kept under ``reports/``, and the
report id remembered so a repeated call picks the report up instead of requesting another."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import ProviderConfig
from ..errors import ConfigurationError, DataError, NotFoundError, ReportExpiredError, ReportFailedError, StoreError
from ..sources.balance_records import BalanceRecordsRequest, BalanceReport, ReportOptions, fetch_report, read_report
from .directory import Store
from .files import _fsync_dir, server_of, write_error
from .pulls import _now
from .roots import Conflict
from .stream import Stream


def load_balance_records(
    store: Store, config: ProviderConfig, request: BalanceRecordsRequest, options: ReportOptions, **fetch: Any
) -> BalanceReport:
    """The report of ``request`` through the store, as :func:`ledgerkit.load_balance_records` returns it.

    The report's zip is kept under ``reports/<report id>.zip``. The stream
    (one per request) records the report id as soon as the report exists
    (``pending_report_id``), so a repeated call -- after an error or a
    kernel restart -- picks that report up instead of requesting another;
    once the zip is complete it records ``report_id``, and the same request
    is then answered from the store without any request, provided the report
    was generated after ``date_to`` (else the period was not over yet and
    the report is requested again). The stream's lock is held throughout:
    a second load of the same request waits, then reads the first one's zip.
    ``fetch`` goes to :func:`~ledgerkit.sources.balance_records.fetch_report`.
    """
    if options.download_dir is not None:
        raise ConfigurationError(
            "download_dir", options.download_dir, "None when store= is given (the store keeps the file)"
        )
    key = {k: v for k, v in request.body().items() if k != "notification_email"}
    with store.stream(
        "balance_records", config.credentials.user, server_of(config.base_url), {"request": key}
    ) as stream:
        if stream.root.conditional:  # an object store: downloaded here, then kept as an object
            with tempfile.TemporaryDirectory(prefix="ledgerkit-dwh-") as downloads:
                return _stored_report(stream, str(store.path), config, request, options, fetch, Path(downloads))
        return _stored_report(stream, str(store.path), config, request, options, fetch)


def _stored_report(
    stream: Stream,
    root: str,
    config: ProviderConfig,
    request: BalanceRecordsRequest,
    options: ReportOptions,
    fetch_options: dict[str, Any],
    downloads: Path | None = None,
) -> BalanceReport:
    """The report from the store when it is there and final, else fetched (picked up or requested) and kept.

    ``downloads`` is where a zip is downloaded to before it is kept: by
    default a folder of this stream's own beside the kept reports (a
    directory store: kept by a rename), else a local folder (an object
    store: kept by an upload).
    """
    if downloads is None:
        reports = stream.directory / "reports"
        downloads = reports / f".{stream.name}.download"  # this stream's own: swept under its lock only
        _sweep_downloads(reports, downloads)
    cached = stream.state.get("report_id")
    if (
        cached
        and options.report_id in (None, cached)
        and _generated_after_period(stream.state.get("manifest") or {}, request)
        and (kept := _kept_report(stream, cached)) is not None
    ):
        return _from_store(stream, kept, cached, root, request)
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, downloads) from None

    def remember(report_id: str) -> None:
        stream.state["pending_report_id"] = report_id
        stream.save()

    def fetch(report_id: str | None) -> BalanceReport:
        here = replace(options, report_id=report_id, download_dir=str(downloads))
        remembered = (stream.state.get("manifest") or {}).get("dialect", {}).get("report_type")
        try:
            return fetch_report(
                config,
                request,
                here,
                on_report=remember,
                resume={"store": root},
                **{"type_name": remembered, **fetch_options},
            )
        except OSError as exc:  # writing the zip failed (the source raises its own error for the rest)
            raise _download_error(exc, downloads, stream.state.get("pending_report_id")) from None

    pending = None if options.report_id is not None else stream.state.get("pending_report_id")
    try:
        report = fetch(options.report_id or pending)
    except NotFoundError:
        if pending is None:
            raise
        report = fetch(None)  # the pending report is gone on the DWH: request it anew
    except (ReportFailedError, ReportExpiredError):
        stream.state.pop("pending_report_id", None)  # picking it up again would not help
        stream.save()
        raise
    _keep(stream, downloads / f"{report.report_id}.zip", str(report.report_id))
    stream.state.pop("pending_report_id", None)
    stream.state.update(report_id=report.report_id, manifest={**report.manifest, "store": root})
    stream.save()
    return report


def _report_key(stream: Stream, report_id: str) -> str:
    return f"{stream.base}/reports/{report_id}.zip"


def _kept_report(stream: Stream, report_id: str) -> Path | io.BytesIO | None:
    """The kept zip of ``report_id``: its path in a directory store, its bytes from an object store; None if absent."""
    if not stream.root.conditional:
        path = stream.directory / "reports" / f"{report_id}.zip"
        return path if path.is_file() else None
    try:
        data, _ = stream.root.read(_report_key(stream, report_id))
    except FileNotFoundError:
        return None
    return io.BytesIO(data)


def _from_store(
    stream: Stream, kept: Path | io.BytesIO, report_id: str, root: str, request: BalanceRecordsRequest
) -> BalanceReport:
    """The stored report (``kept``) as a :class:`BalanceReport` (cut to the period like a fresh one), no request."""
    where = stream.root.location(_report_key(stream, report_id))
    try:
        sheets, _ = read_report(kept, request.request_params())
    except (DataError, OSError) as exc:
        raise StoreError(f"the stored report {where} is unreadable ({str(exc)[:200]}). {stream.remedy()}") from None
    record = {
        **stream.state["manifest"],
        "requests": 0,
        "retries": 0,
        "bytes": 0,
        "from_store": True,
        "store": root,
        "pulled_at": _now().isoformat(timespec="seconds"),
    }
    for frame in (sheets.records, sheets.opening_balance):
        frame.attrs["ledgerkit"] = record
    return BalanceReport(sheets.records, sheets.opening_balance, record, report_id)


def _sweep_downloads(reports: Path, downloads: Path) -> None:
    """Remove downloads cut short by a killed process.

    This stream's, and any an older ledgerkit left in ``reports/``.
    """
    leftovers = list(reports.glob("ledgerkit-dwh-*.zip"))
    try:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        if downloads.exists():
            shutil.rmtree(downloads)
    except OSError as exc:
        raise StoreError(
            f"could not remove the leftover download {exc.filename} ({exc.strerror}). "
            "Check the store directory's permissions."
        ) from None


def _keep(stream: Stream, downloaded: Path, report_id: str) -> None:
    """Keep a complete download as ``reports/<report id>.zip``.

    In a directory store it is moved there (same directory tree: no copy);
    to an object store it is uploaded, created only if absent -- a report's
    file never changes, so one kept already (by a load that lost its lease
    meanwhile) is the same file.
    """
    if stream.root.conditional:
        try:
            data = downloaded.read_bytes()
        except OSError as exc:
            raise write_error(exc, downloaded) from None
        with contextlib.suppress(Conflict):
            stream.root.put_new(_report_key(stream, report_id), data)
        return
    kept = stream.directory / "reports" / f"{report_id}.zip"
    try:
        os.replace(downloaded, kept)
    except OSError as exc:
        raise write_error(exc, kept) from None
    _fsync_dir(kept.parent)


def _download_error(exc: OSError, downloads: Path, report_id: str | None) -> StoreError:
    error = write_error(exc, downloads)
    if report_id:
        error.args = (f"{error.args[0]} Report {report_id} is remembered: the same call picks it up.",)
    return error


def _generated_after_period(manifest: dict[str, Any], request: BalanceRecordsRequest) -> bool:
    """Whether a stored report was generated once its period ``[date_from, date_to)`` was over."""
    try:
        generated = pd.Timestamp(manifest.get("generated_at"))
        date_to = pd.Timestamp(request.date_to)
    except (TypeError, ValueError):
        return False
    return generated is not pd.NaT and generated.tzinfo is not None and date_to <= generated
