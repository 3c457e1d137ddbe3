"""``ledgerkit close``: pull one period's sources, build the close pack, write it, say green or red.

:func:`load_close_sources` pulls what :func:`~ledgerkit.app.close_pack.close_pack`
needs from the sandbox or the ``LEDGERKIT_*`` accounts: the shop's
transactions by ``paid_at`` (as balance records are dated), the statements
from :data:`STATEMENT_LOOKBACK` days before the period (so the period's first
payouts are whole) and one DWH balance report per currency of the
transactions, scoped to the shop. :func:`run_close` writes
``close-YYYY-MM.xlsx`` and ``close-YYYY-MM.html`` and prints one screen:
the verdict, every red row in a line, where the files are.

With ``fail_on="red"`` (``--fail-on red``) a red pack makes the exit code 1:
a scheduled CI job on real accounts fails, and its log says why.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ..errors import ConfigurationError, LedgerkitError
from .close_pack import RED, ClosePack, close_pack, close_period
from .notebook import Connection, connect

__all__ = [
    "run_close",
    "load_close_sources",
    "default_period",
    "close_text",
    "output_folder",
    "STATEMENT_LOOKBACK",
    "FAIL_ON",
]

#: Days of statements pulled before the period, so that the payouts paid early in it are whole.
STATEMENT_LOOKBACK = 31

#: ``--fail-on`` choices: ``red`` exits 1 on a red pack, ``never`` only on errors.
FAIL_ON = ("never", "red")

#: Red rows listed on the screen; the rest are counted (all of them are in the workbook).
_LISTED = 12


class CloseSources(NamedTuple):
    transactions: pd.DataFrame
    statements: pd.DataFrame
    balance_reports: dict[str, Any]


def default_period(source: str, *, today: pd.Timestamp | None = None) -> str:
    """The last full month: of the sandbox world (``2025-03``), or before ``today`` (UTC) for real accounts.

    Examples
    --------
    >>> default_period("sandbox"), default_period("env", today=pd.Timestamp("2025-07-15", tz="UTC"))
    ('2025-03', '2025-06')
    """
    if source == "sandbox":
        from ..sandbox.world import WORLD_END

        end = pd.Timestamp(WORLD_END)
    else:
        end = (today if today is not None else pd.Timestamp.now(tz="UTC")).normalize().replace(day=1)
    return (end - pd.DateOffset(months=1)).strftime("%Y-%m")


def load_close_sources(conn: Connection, period: Any, *, dwh_user_id: int = 1) -> CloseSources:
    """Pull the sources of ``period`` for :func:`close_pack` (see the module docstring for what and why)."""
    from ..loaders import load_balance_records, load_statements, load_transactions
    from .summary import shop_id_of

    start, end = close_period(period)
    day = "%Y-%m-%d"
    transactions = load_transactions(
        start.strftime(day), end.strftime(day), date_type="paid_at", progress=False, **conn.kwargs("transactions")
    )
    since = (start - pd.Timedelta(days=STATEMENT_LOOKBACK)).strftime(day)
    statements = load_statements(
        since=since, until=end.strftime(day), per_page=500, progress=False, **conn.kwargs("statements")
    )
    shop_id = shop_id_of(conn)
    reports = {
        str(currency): load_balance_records(
            start,
            end,
            currency=str(currency),
            user_id=dwh_user_id,
            shop_id=shop_id,
            progress=False,
            **conn.kwargs("balance_records"),
        )
        for currency in sorted(transactions["currency"].dropna().astype("str").unique())
    }
    return CloseSources(transactions, statements, reports)


def close_text(pack: ClosePack, files: list[Path]) -> str:
    """One screen: the verdict, a line per red row (source, account, currency, check, detail), the files."""
    red = pack.red
    period = (
        pack.period[0].strftime("%Y-%m")
        if pack.period[1] == pack.period[0] + pd.DateOffset(months=1)
        else f"{pack.period[0]:%Y-%m-%d} to {pack.period[1]:%Y-%m-%d}"
    )
    lines = [
        f"Close pack {period}: {pack.status.upper()} ({len(red)} of {len(pack.summary)} checks red)"
        if len(red)
        else f"Close pack {period}: GREEN (all {len(pack.summary)} checks green)"
    ]
    for row in red.head(_LISTED).itertuples(index=False):
        where = " ".join(filter(None, [row.source, row.account, row.currency]))
        lines.append(f"  RED  {row.check}: {where}" + (f" — {row.detail}" if row.detail else ""))
    if len(red) > _LISTED:
        lines.append(f"  ... and {len(red) - _LISTED} more red rows (sheet Summary)")
    lines.append(f"Fingerprint {pack.fingerprint_hash}")
    lines += [f"  {path}" for path in files]
    return "\n".join(lines)


def output_folder(out: Any, parameter: str = "out") -> Path:
    """``out`` as an absolute folder path where files can be written (made when missing); else ``ConfigurationError``.

    Checked before anything is pulled or run, so that a typo in ``--out``
    costs nothing; nothing is created here (a temporary file in the nearest
    existing folder tells that files can be made).

    Examples
    --------
    >>> output_folder("/proc/nope")
    Traceback (most recent call last):
    ledgerkit.errors.ConfigurationError: out='/proc/nope' is not valid: expected a folder this process can create \
and write files in (No such file or directory)
    """
    if isinstance(out, bool) or not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise ConfigurationError(parameter, out, "the path of a folder for the written files")
    try:
        folder = Path(out).expanduser().resolve()
        existing = next(p for p in (folder, *folder.parents) if p.exists())  # where the first new entry goes
        with tempfile.TemporaryFile(dir=existing):
            pass
    except (OSError, RuntimeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigurationError(
            parameter, str(out), f"a folder this process can create and write files in ({reason})"
        ) from None
    return folder


def write_close(pack: ClosePack, out: str | os.PathLike) -> list[Path]:
    """Write ``close-<period>.xlsx`` and ``close-<period>.html`` into ``out``; returns both paths."""
    from .close_writers import write_page, write_workbook

    folder = Path(out).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stem = (
        f"close-{pack.period[0]:%Y-%m}"
        if pack.period[1] == pack.period[0] + pd.DateOffset(months=1)
        else f"close-{pack.period[0]:%Y-%m-%d}-{pack.period[1]:%Y-%m-%d}"
    )
    workbook = write_workbook(pack, folder / f"{stem}.xlsx")
    page = write_page(pack, folder / f"{stem}.html", workbook=workbook.name)
    return [workbook, page]


def run_close(
    *,
    period: str | None = None,
    out: str | os.PathLike = "reports",
    source: str = "sandbox",
    fail_on: str = "never",
    dwh_user_id: int = 1,
) -> int:
    """Pull, close, write and print; returns the exit code.

    0 when the pack is written (green, or red with ``fail_on="never"``);
    1 when it is red and ``fail_on="red"``; 2 when it could not be made (a
    ledgerkit error: bad period, missing credentials, a failed pull), with
    the error's message on stderr.
    """
    try:
        if fail_on not in FAIL_ON:
            raise ConfigurationError("fail_on", fail_on, f"one of {FAIL_ON}")
        if isinstance(dwh_user_id, bool) or not isinstance(dwh_user_id, int) or dwh_user_id < 1:
            raise ConfigurationError("dwh_user_id", dwh_user_id, "a positive integer (a DWH back-office user id)")
        period = period or default_period(source)
        close_period(period)  # a bad argument is refused before any request
        output_folder(out)
        with connect(source) as conn:
            for api in ("transactions", "statements", "balance_records"):  # every account resolves before a pull
                conn.connection(api).session.close()
            sources = load_close_sources(conn, period, dwh_user_id=dwh_user_id)
        pack = close_pack(*sources, period=period)
        files = write_close(pack, out)
    except LedgerkitError as exc:
        print(f"ledgerkit close: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the folder checked above, then the disk filled or went away
        print(f"ledgerkit close: the close pack could not be written to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(close_text(pack, files))
    return 1 if fail_on == "red" and pack.status == RED else 0
