"""The ``ledgerkit`` command: ``ledgerkit sandbox ...`` and ``ledgerkit report ...``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgerkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "sandbox",
        help="serve the offline sandbox of the three provider APIs",
        add_help=False,
    )
    report = sub.add_parser("report", help="run the report notebooks against the sandbox and write HTML")
    report.add_argument("--out", default="reports", help="folder for the executed notebooks and HTML (default: reports)")
    report.add_argument("--notebooks", default=None, help="folder of the notebooks (default: the repository's notebooks/)")
    report.add_argument("--source", default="sandbox", choices=("sandbox", "env"),
                        help="sandbox (default) or env: real accounts from LEDGERKIT_* environment variables")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ledgerkit`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sandbox":
        from ..sandbox.__main__ import main as sandbox_main

        return sandbox_main(argv[1:], prog="ledgerkit sandbox") or 0
    args = _build_parser().parse_args(argv)
    if args.command == "report":
        from .report import run_report

        return run_report(out=args.out, notebooks=args.notebooks, source=args.source)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
