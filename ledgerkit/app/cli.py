"""The ``ledgerkit`` command: ``ledgerkit sandbox ...``, ``ledgerkit report ...``, ``ledgerkit close ...``."""

from __future__ import annotations

import argparse
import sys

from ..errors import LedgerkitError
from ..sandbox.__main__ import OneLineParser

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ledgerkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "sandbox",
        help="serve the offline sandbox of the three provider APIs",
        add_help=False,
    )
    report = sub.add_parser("report", help="run the report notebooks against the sandbox and write HTML")
    report.add_argument(
        "--out", default="reports", help="folder for the executed notebooks and HTML (default: reports)"
    )
    report.add_argument(
        "--notebooks", default=None, help="folder of the notebooks (default: the repository's notebooks/)"
    )
    report.add_argument(
        "--source",
        default="sandbox",
        choices=("sandbox", "env"),
        help="sandbox (default) or env: real accounts from LEDGERKIT_* environment variables",
    )
    close = sub.add_parser("close", help="the month-end close pack: green/red per account and check, as Excel + HTML")
    close.add_argument(
        "--period",
        default=None,
        help="the month to close, YYYY-MM (default: the last full month; of the sandbox world: 2025-03)",
    )
    close.add_argument("--out", default="reports", help="folder for close-<period>.xlsx and .html (default: reports)")
    close.add_argument(
        "--source",
        default="sandbox",
        choices=("sandbox", "env"),
        help="sandbox (default) or env: real accounts from LEDGERKIT_* environment variables",
    )
    close.add_argument(
        "--fail-on",
        default="never",
        choices=("never", "red"),
        help="red: exit 1 when any check is red (for CI); never (default): exit 0 once written",
    )
    close.add_argument(
        "--dwh-user-id",
        type=_positive_int,
        default=1,
        help="the back-office user the DWH balance report is requested for (default 1)",
    )
    return parser


def _positive_int(text: str) -> int:
    """An argument that must be a whole number >= 1 (argparse names the flag when it is not)."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ledgerkit`` console script: one line on stderr and exit status 2 for a bad argument."""
    try:
        return _run(argv)
    except LedgerkitError as exc:
        print(f"ledgerkit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _run(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sandbox":
        from ..sandbox.__main__ import main as sandbox_main

        return sandbox_main(argv[1:], prog="ledgerkit sandbox") or 0
    args = _build_parser().parse_args(argv)
    if args.command == "report":
        from .report import run_report

        return run_report(out=args.out, notebooks=args.notebooks, source=args.source)
    if args.command == "close":
        from .close_run import run_close

        return run_close(
            period=args.period, out=args.out, source=args.source, fail_on=args.fail_on, dwh_user_id=args.dwh_user_id
        )
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
