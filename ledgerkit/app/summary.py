"""The one-screen summary ``make demo`` prints after running the report notebooks.

:func:`sandbox_summary` starts a fresh sandbox, pulls the three sources with
the loaders and answers the report's questions with the analysis functions —
the same path the notebooks take, so the summary and the reports agree.
:func:`env_summary` does the same for the real accounts configured by the
``LEDGERKIT_*`` environment variables (``ledgerkit report --source env``).
:func:`summarize` is the formatting half: frames in, text out, no I/O.

What it says, per currency:

- rows loaded per source, and whether each pull was complete;
- fees paid and the effective rate (basis points of successful volume);
- a verdict per balance chain (statements, DWH balance records): ``ok`` when
  every row chains and the roll-forward ties to the reported balances, else
  the number of breaks and the first one;
- the payouts whose rows do not add up to the amount paid out (residual not
  zero), and the open balance not yet paid out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd

from ..analysis import check_balances, fee_breakdown, payout_groups, roll_forward
from ..checks import describe_break
from ..errors import ConfigurationError
from ..loaders import load_balance_records, load_statements, load_transactions
from ..money import format_money
from .notebook import Connection, connect

__all__ = ["sandbox_summary", "env_summary", "summarize", "load_sources", "shop_id_of", "Sources", "PERIOD"]

#: The report period: January to March 2025, half-open — the sandbox world's
#: period and the default of the notebooks' ``period_start`` / ``period_end``.
PERIOD = ("2025-01-01", "2025-04-01")


def sandbox_summary(*, seed: int = 0, size: int | None = None) -> str:
    """Pull the three sources from a fresh sandbox and summarise them on one screen.

    Parameters
    ----------
    seed, size : optional
        The sandbox world (``Sandbox(seed=..., size=...)``); the defaults are
        the world the report notebooks use.

    Returns
    -------
    str
        The summary, lines of at most 80 characters; see :func:`summarize`.

    Examples
    --------
    >>> print(sandbox_summary())                                     # doctest: +SKIP
    ledgerkit sandbox summary, 2025-01-01 to 2025-04-01 (seed 0)
    ...
    """
    start, end = PERIOD
    with connect("sandbox", seed=seed, size=size) as conn:
        sources = load_sources(conn, start, end)
    title = f"ledgerkit sandbox summary, {start} to {end} (seed {seed})"
    return summarize(*sources, title=title)


def env_summary(start: str = PERIOD[0], end: str = PERIOD[1], *, dwh_user_id: int = 1) -> str:
    """Pull the three sources of the ``LEDGERKIT_*`` accounts and summarise them on one screen.

    The summary of ``ledgerkit report --source env``: base URLs and
    credentials come from the environment variables, as in the notebooks
    run with ``source = "env"``.

    Parameters
    ----------
    start, end : str
        Dates ``YYYY-MM-DD``, the half-open period in UTC; by default the
        notebooks' default period (:data:`PERIOD`).
    dwh_user_id : int
        The back-office user the DWH balance report is requested for (the
        notebooks' ``dwh_user_id`` parameter).

    Returns
    -------
    str
        The summary; see :func:`summarize`.

    Raises
    ------
    ConfigurationError
        A ``LEDGERKIT_*`` variable is missing (before any request is sent).

    Examples
    --------
    >>> print(env_summary())                                         # doctest: +SKIP
    ledgerkit summary of the LEDGERKIT_* accounts, 2025-01-01 to 2025-04-01
    ...
    """
    with connect("env") as conn:
        sources = load_sources(conn, start, end, dwh_user_id=dwh_user_id)
    return summarize(*sources, title=f"ledgerkit summary of the LEDGERKIT_* accounts, {start} to {end}")


class Sources(NamedTuple):
    """The three sources of one account, as the loaders return them."""

    transactions: pd.DataFrame
    statements: pd.DataFrame
    balance_reports: dict[str, Any]


def load_sources(conn: Connection, start: str, end: str, *, dwh_user_id: int = 1) -> Sources:
    """Pull transactions, statements and balance records of ``[start, end)``.

    Balance records are requested for the transactions' shop, one report per
    currency the transactions hold (the DWH reports one currency at a time).

    Parameters
    ----------
    conn : Connection
        From :func:`ledgerkit.app.notebook.connect`, ``"sandbox"`` or ``"env"``;
        the shop id comes from the transactions' credentials (for ``"env"``
        ``LEDGERKIT_TRANSACTIONS_SHOP_ID``).
    start, end : str
        Dates ``YYYY-MM-DD``, the half-open period in UTC.
    dwh_user_id : int
        The back-office user the DWH balance report is requested for.

    Returns
    -------
    Sources
        ``transactions``, ``statements`` and ``balance_reports``
        (currency -> BalanceReport).
    """
    transactions = load_transactions(start, end, progress=False, **conn.kwargs("transactions"))
    statements = load_statements(since=start, until=end, per_page=500, progress=False, **conn.kwargs("statements"))
    shop_id = shop_id_of(conn)
    reports = {
        str(currency): load_balance_records(
            f"{start}T00:00:00+00:00",
            f"{end}T00:00:00+00:00",
            currency=str(currency),
            user_id=dwh_user_id,
            shop_id=shop_id,
            progress=False,
            **conn.kwargs("balance_records"),
        )
        for currency in sorted(transactions["currency"].dropna().unique())
    }
    return Sources(transactions, statements, reports)


def shop_id_of(conn: Connection) -> int:
    """The transactions' shop, to scope the balance report to it (a ConfigurationError when not an integer)."""
    shop_id = conn.account_id("transactions")
    try:
        return int(shop_id or "")  # None: the same error as any text that is not an integer
    except (TypeError, ValueError):
        raise ConfigurationError(
            "LEDGERKIT_TRANSACTIONS_SHOP_ID", shop_id, "the transactions' shop id, an integer"
        ) from None


def summarize(
    transactions: pd.DataFrame,
    statements: pd.DataFrame,
    balance_reports: Mapping[str, Any],
    *,
    title: str = "ledgerkit summary",
) -> str:
    """Format the summary of loaded frames (no I/O).

    Parameters
    ----------
    transactions, statements : DataFrame
        Frames of :func:`~ledgerkit.load_transactions` and
        :func:`~ledgerkit.load_statements`.
    balance_reports : mapping of currency -> BalanceReport
        Results of :func:`~ledgerkit.load_balance_records` (anything with
        ``.records`` and ``.opening_balance``).
    title : str
        First line.

    Returns
    -------
    str
        Sections *Rows loaded*, *Fees*, *Balance checks*, *Payouts*.
    """
    lines = [title, ""]
    lines += _rows_section(transactions, statements, balance_reports)
    lines += _fees_section(transactions, statements)
    lines += _balance_section(statements, balance_reports)
    lines += _payouts_section(statements)
    return "\n".join(lines).rstrip() + "\n"


def _complete(frame: pd.DataFrame) -> str:
    manifest = frame.attrs.get("ledgerkit", {})
    if "complete" not in manifest:
        return ""
    return "  complete" if manifest["complete"] else "  INCOMPLETE"


def _rows_section(transactions: pd.DataFrame, statements: pd.DataFrame, reports: Mapping[str, Any]) -> list[str]:
    lines = ["Rows loaded"]
    lines.append(f"  {'transactions':<20}{len(transactions):>8}{_complete(transactions)}")
    lines.append(f"  {'statements':<20}{len(statements):>8}{_complete(statements)}")
    for currency, report in sorted(reports.items()):
        label = f"balance records {currency}"
        lines.append(f"  {label:<20}{len(report.records):>8}{_complete(report.records)}")
    return [*lines, ""]


def _fees_section(transactions: pd.DataFrame, statements: pd.DataFrame) -> list[str]:
    lines = ["Fees and effective rate (basis points of successful volume)"]
    for label, frame in (("transactions", transactions), ("statements", statements)):
        for row in fee_breakdown(frame, by=()).itertuples(index=False):
            fee = format_money(int(row.fee), row.currency)
            volume = format_money(int(row.volume), row.currency)
            rate = "n/a" if pd.isna(row.rate_bp) else f"{row.rate_bp:.1f} bp"
            lines.append(f"  {label:<14}{row.currency:<5}fees {fee:>14} on {volume:>16}  {rate:>9}")
            if "vat" in row._fields and not pd.isna(row.vat):
                lines.append(f"  {'':<14}{'':<5}VAT  {format_money(int(row.vat), row.currency):>14} on those fees")
    return [*lines, ""]


def _balance_verdict(chain: Any) -> list[str]:
    breaks = check_balances(chain)
    unexplained = roll_forward(chain, freq="M")["unexplained"]
    off = int((unexplained != 0).fillna(True).sum())  # a month whose tie-out is unknown is not "ok"
    if breaks.empty and not off:
        return ["ok"]
    verdict = [f"{len(breaks)} break(s), {off} month(s) not tying to the reported balance"]
    verdict += [f"first: {describe_break(row)}" for row in breaks.head(1).to_dict("records")]
    return verdict


def _balance_section(statements: pd.DataFrame, reports: Mapping[str, Any]) -> list[str]:
    lines = ["Balance checks"]
    chains = [("statements", statements)]
    chains += [(f"balance records {currency}", report) for currency, report in sorted(reports.items())]
    for label, chain in chains:
        verdict = _balance_verdict(chain)
        lines.append(f"  {label:<22}{verdict[0]}")
        lines += [f"  {'':<22}{more}" for more in verdict[1:]]
    return [*lines, ""]


def _payouts_section(statements: pd.DataFrame) -> list[str]:
    groups = payout_groups(statements)
    paid = groups[~groups["is_open"]]
    residual = paid[paid["residual"].fillna(0) != 0]
    lines = ["Payouts"]
    if residual.empty:
        lines.append(f"  {len(paid)} payouts, every one fully explained (residual 0)")
    else:
        lines.append(f"  {len(paid)} payouts, {len(residual)} with a residual:")
        lines += [_residual_line(row) for row in residual.itertuples(index=False)]
    lines += [
        f"  open balance, not paid out yet: {format_money(int(row.net), row.currency)} ({row.rows} rows)"
        for row in groups[groups["is_open"]].itertuples(index=False)
    ]
    return lines


def _residual_line(row: Any) -> str:
    return (
        f"    payout {row.payout_id} paid {row.paid_at:%Y-%m-%d}: paid out "
        f"{format_money(int(row.paid_out), row.currency)}, rows add up to "
        f"{format_money(int(row.net), row.currency)}, "
        f"residual {format_money(int(row.residual), row.currency, sign=True)}"
    )
