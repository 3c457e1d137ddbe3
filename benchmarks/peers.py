"""The peer the pull is compared with: the pipeline a dlt user would write for the transactions report.

dlt's ``rest_api`` source, one resource per payment method, each a POST of
``{"report_params": {...}}`` paged by ``JSONResponseCursorPaginator``: the
next cursor is the response's ``last_object_id``, put in the JSON body as
``report_params.starting_after``, until ``has_more`` is false. The rows are
loaded into a fresh duckdb file and read back as one DataFrame. Load files
are Parquet (``loader_file_format="parquet"``): on this report dlt's
default for duckdb (SQL insert statements) was about four times slower, and
the comparison should be with the faster configuration a user would pick.

dlt runs with its telemetry off and its data and project folders in a
temporary directory, so it neither calls out nor reads a ``.dlt`` folder.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

DESCRIPTION = "dlt rest_api -> duckdb -> DataFrame"


def dlt_missing() -> str | None:
    """Why the dlt line cannot run here, or None when it can."""
    missing = [name for name in ("dlt", "duckdb") if importlib.util.find_spec(name) is None]
    return f"{' and '.join(missing)} not installed (pip install -e '.[bench]')" if missing else None


@contextmanager
def _quiet_and_local(folder: str) -> Iterator[None]:
    """dlt's settings for one run: no telemetry, errors-only logging, its folders under ``folder``."""
    settings = {
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "RUNTIME__LOG_LEVEL": "ERROR",
        "DLT_DATA_DIR": folder,
        "DLT_PROJECT_DIR": folder,
    }
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def rest_api_config(url: str, user: str, secret: str, report_params: dict, methods: tuple[str, ...]) -> dict:
    """The ``rest_api`` source configuration: one resource per payment method, cursor in the JSON body."""

    def resource(method: str) -> dict:
        return {
            "name": f"transactions_{method}",
            "endpoint": {
                "path": "api/reports",
                "method": "POST",
                "json": {"report_params": dict(report_params, payment_method_type=method)},
                "data_selector": "transactions",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "last_object_id",
                    "cursor_body_path": "report_params.starting_after",
                    "has_more_path": "has_more",
                },
            },
        }

    return {
        "client": {
            "base_url": url.rstrip("/") + "/",
            "headers": {"X-Api-Version": "3"},
            "auth": {"type": "http_basic", "username": user, "password": secret},
        },
        "resources": [resource(m) for m in methods],
    }


def dlt_pull(url: str, user: str, secret: str, report_params: dict, methods: tuple[str, ...]) -> pd.DataFrame:
    """Run the pipeline into a fresh duckdb file and return every loaded row as one DataFrame."""
    with tempfile.TemporaryDirectory(prefix="ledgerkit-bench-dlt-") as tmp, _quiet_and_local(tmp):
        import dlt
        from dlt.sources.rest_api import rest_api_source

        pipeline = dlt.pipeline(
            pipeline_name="ledgerkit_bench",
            pipelines_dir=tmp,
            dataset_name="report",
            destination=dlt.destinations.duckdb(str(Path(tmp) / "peer.duckdb")),
        )
        pipeline.run(
            rest_api_source(rest_api_config(url, user, secret, report_params, methods)), loader_file_format="parquet"
        )
        frames = []
        with pipeline.sql_client() as client:
            for method in methods:
                with client.execute_query(f"SELECT * FROM transactions_{method}") as cursor:
                    frames.append(cursor.df())
        return pd.concat(frames, ignore_index=True)
