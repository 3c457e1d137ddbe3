"""``python -m ledgerkit.sandbox``: flags, banner, serving."""

from __future__ import annotations

import os
import subprocess
import sys

import requests

from ledgerkit.sandbox.__main__ import build_parser, faults_from_args
from ledgerkit.sandbox.faults import Faults


def test_every_fault_is_a_flag():
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--latency",
            "0.5",
            "--rate-limit-every",
            "3",
            "--retry-after",
            "0",
            "--stuck-cursor",
            "--expired-links",
            "2",
            "--error-status",
            "502",
            "--download-drop",
            "1",
            "--download-errors",
            "2",
            "--download-error-status",
            "429",
        ]
    )
    assert faults_from_args(args) == Faults(
        latency=0.5,
        rate_limit_every=3,
        retry_after=0,
        stuck_cursor=True,
        expired_links=2,
        error_status=502,
        download_drop=1,
        download_errors=2,
        download_error_status=429,
    )
    assert faults_from_args(build_parser().parse_args([])) == Faults()


def test_cli_prints_urls_credentials_and_env_then_serves():
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgerkit.sandbox", "--port", "0", "--size", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                break
        env = dict(line[len("export ") :].split("=", 1) for line in lines if line.startswith("export "))
        assert len(env) == 9 and lines[0].startswith("ledgerkit sandbox serving at http://127.0.0.1:")
        r = requests.get(
            env["LEDGERKIT_STATEMENTS_URL"] + "/v1/shop/accountstatements",
            params={"since": "2025-01-01"},
            auth=(env["LEDGERKIT_STATEMENTS_SHOP_ID"], env["LEDGERKIT_STATEMENTS_SECRET_KEY"]),
            timeout=10,
        )
        assert r.status_code == 200 and int(r.headers["X-Total-Count"]) > 0
        assert any(env["LEDGERKIT_DWH_PSP_ID"] in line for line in lines if "balance_records" in line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
