"""``python -m ledgerkit.sandbox``: serve the sandbox until Ctrl-C.

Prints the three base URLs, the sandbox credentials and the ``export`` lines
that point ledgerkit's loaders at it. Every fault of
:class:`~ledgerkit.sandbox.faults.Faults` is a flag (``--rate-limit-every 3``,
``--stuck-cursor``, ...).

Examples
--------
>>> args = build_parser().parse_args(["--port", "8765", "--rate-limit-every", "3", "--stuck-cursor"])
>>> args.port, args.rate_limit_every, args.stuck_cursor
(8765, 3, True)
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from typing import TYPE_CHECKING, NoReturn, TextIO

from .dialects import DIALECTS
from .faults import Faults
from .world_shapes import SHAPES

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["build_parser", "main", "faults_from_args", "OneLineParser"]

_FAULT_HELP = {
    "latency": "seconds to sleep before every answer",
    "rate_limit_every": "every Nth API request gets 429",
    "retry_after": "Retry-After value of the 429 answers (omitted when not given)",
    "error_every": "after every N good API requests, --error-burst errors",
    "error_burst": "consecutive errors of --error-every (default 1)",
    "error_status": "status of those errors (default 503)",
    "drop_every": "every Nth response is cut in half and the connection closed",
    "malformed_every": "every Nth response is a 200 with truncated JSON",
    "repeat_rows": "pages after the first start with the last N rows of the previous page",
    "stuck_cursor": "transactions ignore starting_after; statements' Link next points to the same page",
    "insert_during_paging": "after the first page of a pull, N new rows appear",
    "report_stuck": "DWH reports stay pending forever",
    "report_fail": "DWH reports end failed",
    "expired_links": "the next N DWH reports get an already-expired file_url",
    "download_drop": "the first N DWH file downloads are cut mid-body, connection closed",
    "download_errors": "the next N DWH file downloads answer --download-error-status",
    "download_error_status": "status of those downloads: 429 (with --retry-after) or a 5xx (default 503)",
}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose error is one line naming the flag (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(prog: str = "python -m ledgerkit.sandbox") -> argparse.ArgumentParser:
    """The argument parser of the sandbox command (also used by ``ledgerkit sandbox``)."""
    parser = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port; default 8765)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated world (default 0)")
    parser.add_argument("--size", type=int, default=None, help="number of transactions (default: the world's)")
    parser.add_argument("--shape", choices=SHAPES, default="uniform", help="how transactions spread in time (uniform)")
    parser.add_argument("--page-size", type=int, default=1000, help="transactions per report page (default 1000)")
    parser.add_argument(
        "--dialect",
        default="begateway",
        help=f"which deployment's reading of the APIs to speak: {', '.join(DIALECTS)} (default begateway)",
    )
    parser.add_argument(
        "--per-page-default",
        type=int,
        default=None,
        help="statements per page when not asked (default: the dialect's, else 50)",
    )
    parser.add_argument("--per-page-max", type=int, default=500, help="largest statements per_page (500)")
    parser.add_argument("--report-seconds", type=float, default=0.3, help="time a DWH report takes (0.3)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    faults = parser.add_argument_group("faults")
    defaults = Faults()
    for f in dataclasses.fields(Faults):
        flag = "--" + f.name.replace("_", "-")
        if "bool" in f.type:
            faults.add_argument(flag, action="store_true", help=_FAULT_HELP[f.name])
        else:
            kind = float if "float" in f.type else int
            faults.add_argument(flag, type=kind, default=getattr(defaults, f.name), help=_FAULT_HELP[f.name])
    return parser


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The :class:`Faults` named by parsed command-line flags."""
    return Faults(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Faults)})


def print_banner(sb: Sandbox, out: TextIO) -> None:
    """Print where the sandbox listens, its credentials and the env vars to export."""
    print(f"ledgerkit sandbox serving at {sb.url}", file=out)
    if sb.dialect.name != "begateway":
        print(f"  dialect          {sb.dialect.name}", file=out)
    print(f"  transactions     {sb.transactions_url}", file=out)
    print(f"  statements       {sb.statements_url}", file=out)
    print(f"  balance records  {sb.dwh_url}", file=out)
    print("credentials (sandbox only):", file=out)
    for source, creds in sb.credentials.items():
        print(f"  {source:<16} {creds.user} : {creds.secret}", file=out)
    print("environment:", file=out)
    for name, value in sb.env().items():
        print(f"export {name}={shlex.quote(value)}", file=out)
    if sb.faults.active():
        print(f"faults: {sb.faults}", file=out)
    print("Ctrl-C to stop.", file=out, flush=True)


def main(argv: list[str] | None = None, prog: str = "python -m ledgerkit.sandbox") -> int:
    """Run the sandbox from the command line; returns the exit status."""
    from ..errors import ConfigurationError
    from .server import Sandbox

    args = build_parser(prog).parse_args(argv)
    try:
        sb = Sandbox(
            seed=args.seed,
            size=args.size,
            page_size=args.page_size,
            per_page_default=args.per_page_default,
            per_page_max=args.per_page_max,
            report_seconds=args.report_seconds,
            port=args.port,
            faults=faults_from_args(args),
            verbose=args.verbose,
            dialect=args.dialect,
            shape=args.shape,
        )
        sb.start()
    except (ConfigurationError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    print_banner(sb, sys.stdout)
    try:
        sb.serve_forever()
    except KeyboardInterrupt:
        print("stopped.", file=sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
