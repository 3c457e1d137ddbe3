"""Balance records through a store: the report's zip kept under ``reports/``, and the
report id remembered so a repeated call picks the report up instead of requesting another."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..config import resolve
from ..errors import ConfigurationError
from .directory import as_store
from .files import _fsync_dir, server_of
from .pulls import _now


def load_stored_balance_records(kw: dict[str, Any], body: dict[str, Any], resume: dict[str, Any]) -> Any:
    """:func:`ledgerkit.sources.balance_records.load_balance_records` through a store.

    The report's zip is kept under ``reports/<report id>.zip``. The stream
    (one per request body) records the report id as soon as the report
    exists (``pending_report_id``), so a repeated call -- after an error or
    a kernel restart -- picks that report up instead of requesting another;
    once the zip is complete it records ``report_id``, and the same request
    is then answered from the store without any request, provided the report
    was generated after ``date_to`` (else the period was not over yet and
    the report is requested again).
    """
    from ..errors import NotFoundError, ReportExpiredError, ReportFailedError
    from .._ingest.sheets import read_report_file
    from ..sources.balance_records import BalanceReport, fetch_report

    store = as_store(kw["store"])
    if kw.get("download_dir") is not None:
        raise ConfigurationError("download_dir", str(kw["download_dir"]), "None when store= is given (the store keeps the file)")
    config = resolve("balance_records", base_url=kw["base_url"], user=kw["psp_id"], secret=kw["secret_key"])
    request = {k: v for k, v in body.items() if k != "notification_email"}
    stream = store.stream("balance_records", config.credentials.user, server_of(config.base_url), {"request": request})
    reports = stream.directory / "reports"
    for leftover in reports.glob("ledgerkit-dwh-*.zip"):  # a download cut short by a killed process
        leftover.unlink(missing_ok=True)
    cached = stream.state.get("report_id")
    if (cached and kw["report_id"] in (None, cached) and (reports / f"{cached}.zip").is_file()
            and _generated_after_period(stream.state.get("manifest") or {}, body)):
        sheets = read_report_file(reports / f"{cached}.zip")
        record = {**stream.state["manifest"], "requests": 0, "retries": 0, "bytes": 0, "from_store": True,
                  "store": str(store.path), "pulled_at": _now().isoformat(timespec="seconds")}
        for frame in (sheets.records, sheets.opening_balance):
            frame.attrs["ledgerkit"] = record
        return BalanceReport(sheets.records, sheets.opening_balance, record, cached)
    reports.mkdir(parents=True, exist_ok=True)

    def remember(report_id: str) -> None:
        stream.state["pending_report_id"] = report_id
        stream.save()

    def fetch(report_id: str | None) -> Any:
        return fetch_report(config, body, resume, report_id=report_id, download_dir=str(reports), on_report=remember,
                            **{k: kw[k] for k in ("poll_timeout", "poll_interval", "progress", "retry",
                                                  "max_rerequests")})

    pending = None if kw["report_id"] is not None else stream.state.get("pending_report_id")
    try:
        report = fetch(kw["report_id"] or pending)
    except NotFoundError:
        if pending is None:
            raise
        report = fetch(None)  # the pending report is gone on the DWH: request it anew
    except (ReportFailedError, ReportExpiredError):
        stream.state.pop("pending_report_id", None)  # picking it up again would not help
        stream.save()
        raise
    _fsync_dir(reports)
    stream.state.pop("pending_report_id", None)
    stream.state.update(report_id=report.report_id, manifest={**report.manifest, "store": str(store.path)})
    stream.save()
    return report


def _generated_after_period(manifest: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a stored report was generated once its period ``[date_from, date_to)`` was over."""
    try:
        generated = pd.Timestamp(manifest.get("generated_at"))
        date_to = pd.Timestamp(body["request_params"]["date_to"])
    except (TypeError, ValueError):
        return False
    return generated is not pd.NaT and generated.tzinfo is not None and date_to <= generated
