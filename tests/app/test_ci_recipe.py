"""The "reports as checks in your own CI" recipe, run as written against the sandbox.

The steps of ``examples/ci/ledgerkit-checks.yml`` with an ``id`` (pick the
month, run the report notebooks under papermill + ``nbval --nbval-lax``,
close the month with ``--fail-on red``) are executed by bash exactly as the
workflow holds them, with the ``LEDGERKIT_*`` variables of a sandbox in place
of the CI's secrets (``source="env"``): green on the sandbox as it is, and
failing — with the rows named — when one statement row carries a planted
break.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ledgerkit.sandbox import Sandbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "ledgerkit-checks.yml"


def steps() -> dict[str, str]:
    """The workflow's steps with an id: id -> the bash script of its ``run``."""
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    return {step["id"]: step["run"] for job in jobs.values() for step in job["steps"] if "id" in step}


class Runner:
    """Runs workflow steps in a folder laid out like the user's repository, GitHub's GITHUB_ENV included."""

    def __init__(self, folder: Path, sandbox: Sandbox) -> None:
        self.folder = folder
        (folder / "notebooks").symlink_to(ROOT / "notebooks")
        self.github_env = folder / "github_env"
        self.github_env.touch()
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            **sandbox.env(),
            "MONTH": "2025-03",
            "GITHUB_ENV": str(self.github_env),
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            # the kernels import this checkout's ledgerkit, installed or not
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }

    def run(self, step: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", "-c", steps()[step]],
            cwd=self.folder,
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        for line in self.github_env.read_text().splitlines():  # what GitHub does between steps
            key, _, value = line.partition("=")
            self.env[key] = value
        return result


def test_the_workflow_keeps_credentials_in_the_secret_store():
    text = WORKFLOW.read_text(encoding="utf-8")
    env = yaml.safe_load(text)["env"]
    names = [n for n in env if n.startswith("LEDGERKIT_")]
    assert len(names) == 9 and all(env[n] == f"${{{{ secrets.{n} }}}}" for n in names)
    assert {"month", "notebooks", "close"} <= set(steps())
    assert "--nbval-lax" in steps()["notebooks"] and "--fail-on red" in steps()["close"]


def test_green_on_the_sandbox(tmp_path):
    with Sandbox(seed=0) as sb:
        runner = Runner(tmp_path, sb)
        month = runner.run("month")
        assert month.returncode == 0, month.stderr
        assert (runner.env["PERIOD"], runner.env["PERIOD_START"], runner.env["PERIOD_END"]) == (
            "2025-03",
            "2025-03-01",
            "2025-04-01",
        )
        notebooks = runner.run("notebooks")
        assert notebooks.returncode == 0, notebooks.stdout[-4000:] + notebooks.stderr[-2000:]
        summary = notebooks.stdout.strip().splitlines()[-1]  # nbval: one test per cell
        assert " passed" in summary and "failed" not in summary, summary
        close = runner.run("close")
        served = {r.path for r in sb.requests}
    assert close.returncode == 0, close.stdout + close.stderr
    assert close.stdout.startswith("Close pack 2025-03: GREEN")
    assert {"/gateway/api/reports", "/makecommerce/v1/shop/accountstatements", "/dwh/api/v2/reports"} <= served
    assert (tmp_path / "checked" / "close-2025-03.xlsx").exists()
    assert len(list((tmp_path / "checked").glob("*.ipynb"))) == 3


def plant_break(sandbox: Sandbox) -> dict:
    """One March statement row's balance_after 0.05 EUR too high, served as the provider's data; returns it."""
    rows = sandbox.world.ledger.rows
    at = next(i for i, row in enumerate(rows) if row["created"].isoformat() >= "2025-03-14" and row["type"] == "INCOME")
    rows[at] = {**rows[at], "balance_after": rows[at]["balance_after"] + Decimal("0.05")}
    return rows[at]


def test_a_planted_break_fails_the_run_naming_the_row(tmp_path):
    with Sandbox(seed=0) as sb:
        planted = plant_break(sb)
        runner = Runner(tmp_path, sb)
        assert runner.run("month").returncode == 0
        notebooks = runner.run("notebooks")
        close = runner.run("close")
    assert notebooks.returncode != 0
    assert "CheckFailedError" in notebooks.stdout and "1 balance break" in notebooks.stdout
    summary = notebooks.stdout.strip().splitlines()[-1]
    assert "1 failed" in summary, summary  # the one assertion cell; every other cell ran
    assert "03_balance.ipynb" in notebooks.stdout.split("short test summary")[-1]
    assert close.returncode == 1, close.stdout + close.stderr
    first, red = close.stdout.splitlines()[:2]
    assert first.startswith("Close pack 2025-03: RED (1 of ")
    assert red.startswith("  RED  balance chain holds: statements shop ") and "+0.05 EUR, too much" in red
    assert f"{planted['created']:%Y-%m-%d %H:%M:%S}" in red
