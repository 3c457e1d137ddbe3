"""Balance-chain checks: every place where the balances, or a record's own numbers, do not hold.

Like Beancount's and hledger's balance assertions ("expected X, found Y,
Z too much", naming the row), :func:`check_balances` walks each chain of an
account-statements frame or of DWH balance records (full or minimal, see
:mod:`~ledgerkit.analysis._ledger`) and names each break once, at the row
holding the wrong value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigurationError
from ._accounts import per_account
from ._common import codes, dense_codes, direction, empty_frame
from ._dask import dask_aware
from ._ledger import ACCOUNT_IDS, Ledger, chain_codes, chain_openings, first_rows, ledger_of

__all__ = ["check_balances", "BREAK_KINDS"]

#: The kinds of break :func:`check_balances` reports.
BREAK_KINDS: tuple[str, ...] = ("chain_break", "amount_mismatch", "net_mismatch", "out_of_order", "duplicate")

_Found = tuple[int, str, str, Any, Any]  # (index, kind, field, expected, actual)


def _break_columns(ledger: Ledger) -> dict[str, str]:
    id_columns = {"record_id": "Int64"} if ledger.is_records else {"row_id": "str"}
    accounts = dict.fromkeys(ACCOUNT_IDS, "Int64") if ledger.is_records else {}
    return {
        "position": "Int64",
        **id_columns,
        **accounts,
        "created": "datetime64[ns, UTC]",
        "currency": "str",
        "type": "str",
        "category": "str",
        "kind": "str",
        "field": "str",
        "expected": "Int64",
        "actual": "Int64",
        "difference": "Int64",
        "direction": "str",
    }


def _duplicates(ledger: Ledger, chain: np.ndarray) -> np.ndarray:
    """Rows repeating an earlier row of the same chain (by id, or by every field)."""
    frame = ledger.frame
    if not ledger.id_column:
        return frame.duplicated(keep="first").to_numpy(dtype=bool)
    ids = dense_codes(frame[ledger.id_column])
    order = np.lexsort((ids, chain))  # stable: a repeated (chain, id) keeps its row order
    ids, chains = ids[order], chain[order]
    repeated = np.zeros(len(frame), dtype=bool)
    repeated[order[1:][(ids[1:] == ids[:-1]) & (chains[1:] == chains[:-1])]] = True
    return repeated


def _last_of_chain(first: np.ndarray) -> np.ndarray:
    last = np.ones(len(first), dtype=bool)
    last[:-1] = first[1:]
    return last


def _diagnose(
    b: np.ndarray, a: np.ndarray, m: np.ndarray, prev: np.ndarray, has_prev: np.ndarray, first: np.ndarray
) -> list[_Found]:
    """Locate single faults in chain-ordered arrays with both balances.

    ``e = after - before - movement`` is the row's own error and ``link =
    before - prev`` the error between a row and the balance before it (the
    previous row's ``balance_after``, or the chain's opening when known).
    One corrupted value shows two symptoms that cancel (``e[i] ==
    -link[i+1]`` for a wrong ``balance_after``, ``link[i] == -e[i]`` for a
    wrong ``balance_before``); they are reported once, at the row holding
    the wrong value.
    """
    e = a - b - m
    link = np.where(has_prev, b - prev, 0)
    last = _last_of_chain(first)
    found: list[_Found] = []
    used_link: set[int] = set()
    for i in np.flatnonzero((e != 0) | (link != 0)).tolist():
        row_error_explained = False
        if link[i] != 0 and i not in used_link:
            found.append((i, "chain_break", "balance_before", int(prev[i]), int(b[i])))
            row_error_explained = e[i] == -link[i]
        if e[i] == 0 or row_error_explained:
            continue
        if not last[i] and link[i + 1] == -e[i]:
            used_link.add(i + 1)
            found.append((i, "amount_mismatch", "balance_after", int(b[i] + m[i]), int(a[i])))
        elif last[i]:
            found.append((i, "amount_mismatch", "balance_after", int(b[i] + m[i]), int(a[i])))
        elif not has_prev[i]:
            found.append((i, "amount_mismatch", "balance_before", int(a[i] - m[i]), int(b[i])))
        else:
            found.append((i, "amount_mismatch", "amount", int(a[i] - b[i]), int(m[i])))
    return found


def _diagnose_after_only(
    a: np.ndarray, m: np.ndarray, prev: np.ndarray, has_prev: np.ndarray, first: np.ndarray
) -> list[_Found]:
    """Locate single faults in chain-ordered arrays with ``balance_after`` only.

    ``e = after - prev - movement``. A wrong ``balance_after`` shows as two
    cancelling errors on its row and the next: an ``amount_mismatch`` of
    ``balance_after`` at its row. Any other error (a missing row, a wrong
    amount: the two cannot be told apart without ``balance_before``) is a
    ``chain_break`` at the first row whose ``balance_after`` does not follow.
    The first row of a chain is checked only against a known opening.
    """
    e = np.where(has_prev, a - prev - m, 0)
    last = _last_of_chain(first)
    found: list[_Found] = []
    cancelled: set[int] = set()
    for i in np.flatnonzero(e != 0).tolist():
        if i in cancelled:
            continue
        expected = int(prev[i] + m[i])
        if not last[i] and e[i + 1] == -e[i]:
            cancelled.add(i + 1)
            found.append((i, "amount_mismatch", "balance_after", expected, int(a[i])))
        else:
            found.append((i, "chain_break", "balance_after", expected, int(a[i])))
    return found


def _net_checks(
    ledger: Ledger, order: np.ndarray, observed: np.ndarray, seen: np.ndarray, movement: np.ndarray
) -> list[_Found]:
    """``net = amount - fee`` on every record with the three; fixes ``movement`` where ``net`` is the wrong one.

    When the balances confirm ``net`` (``observed`` movement equals it),
    ``amount - fee`` is reported (either may be wrong: the transaction, see
    :func:`~ledgerkit.analysis.reconcile.reconcile_transactions`, tells
    which); when they confirm ``amount - fee``, ``net`` is reported and the
    chain is checked with ``amount - fee``; when they confirm neither,
    ``net`` is reported.
    """
    if ledger.net_gap is None or ledger.fee is None:
        return []
    gap = ledger.net_gap[order]
    found: list[_Found] = []
    for i in np.flatnonzero(gap != 0).tolist():
        computed = int(ledger.amount[order[i]] - ledger.fee[order[i]])
        net = computed - int(gap[i])
        if seen[i] and observed[i] == net:
            found.append((i, "net_mismatch", "amount - fee", net, computed))
            continue
        if seen[i] and observed[i] == computed:
            movement[i] = computed
        found.append((i, "net_mismatch", "net", computed, net))
    return found


def _previous(
    after: np.ndarray, first: np.ndarray, start: np.ndarray, known: np.ndarray, chain: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The balance before each row: the previous row's ``balance_after``, or the chain's opening if known."""
    prev = np.empty_like(after)
    prev[1:] = after[:-1]
    prev[first] = start[chain[first]]
    has_prev = ~first
    has_prev[first] = known[chain[first]]
    return prev, has_prev


def _walk(ledger: Ledger, order: np.ndarray, chain: np.ndarray, first: np.ndarray) -> list[_Found]:
    """The breaks of the kept rows, in chain order (indices into ``order``; ``first`` marks chain starts)."""
    heads = first_rows(chain, int(chain.max()) + 1 if len(chain) else 0)
    start, known = chain_openings(ledger, heads)
    assert ledger.after is not None, "check_balances refuses frames without balance_after first"
    after = ledger.after[order]
    prev, has_prev = _previous(after, first, start, known, chain[order])
    movement = ledger.change[order].copy()
    if ledger.before is not None:
        before = ledger.before[order]
        found = _net_checks(ledger, order, after - before, np.ones(len(order), dtype=bool), movement)
        return found + _diagnose(before, after, movement, prev, has_prev, first)
    found = _net_checks(ledger, order, after - prev, has_prev, movement)
    return found + _diagnose_after_only(after, movement, prev, has_prev, first)


def _frame_of(found: list[_Found], ledger: Ledger, dtypes: dict[str, str]) -> pd.DataFrame:
    """The breaks as the documented frame, with each row's ids, type and category."""
    found.sort(key=lambda f: (f[0], f[1]))
    breaks = pd.DataFrame(found, columns=["position", "kind", "field", "expected", "actual"])
    positions = breaks["position"].to_numpy()
    rows = ledger.frame.iloc[positions].reset_index(drop=True)
    out = pd.DataFrame({"position": breaks["position"]})
    for column in dtypes:
        if column not in out.columns:
            out[column] = rows[column].array if column in rows.columns else pd.NA
    out["created"] = ledger.created.iloc[positions].array
    out["currency"] = rows["currency"].astype("str").to_numpy()
    types = ledger.types.iloc[positions]
    out["type"] = types.astype("str").array
    out["category"] = [ledger.label_of(t) for t in types.tolist()]  # few rows: the breaks only
    for column in ("kind", "field"):
        out[column] = breaks[column]
    out["expected"] = pd.array(breaks["expected"], dtype="Int64")
    out["actual"] = pd.array(breaks["actual"], dtype="Int64")
    out["difference"] = out["actual"] - out["expected"]
    out["direction"] = direction(out["difference"])
    return out[list(dtypes)].astype(dtypes)


@per_account("statements")
@dask_aware("statements")
def check_balances(statements: Any) -> pd.DataFrame:
    """Every place where the balance chain, or a record's own numbers, do not hold; one row per break.

    Rows are checked in chain order (= row order) per chain: the currency
    for statements, the account (the ids present of merchant, shop,
    gateway, and the currency) for balance records. Kinds:

    - ``chain_break`` — ``balance_before`` differs from the balance before
      it (the previous row's ``balance_after``; for the first record of an
      account, the report's opening balance when given a report); without
      a ``balance_before`` column: a ``balance_after`` that does not follow
      from the previous one and the row's movement (a missing row or a
      wrong amount);
    - ``amount_mismatch`` — ``balance_after != balance_before + movement``
      (the ``amount`` for statements; for balance records ``net``, else
      ``amount - fee``, else ``amount``);
    - ``net_mismatch`` — a balance record whose ``net != amount - fee``:
      ``field`` is ``"amount - fee"`` (expected ``net``) when the balances
      confirm ``net`` (then ``amount`` or ``fee`` is wrong:
      :func:`~ledgerkit.analysis.reconcile.reconcile_transactions` tells
      which), else ``"net"`` (expected ``amount - fee``);
    - ``out_of_order`` — the timestamp is earlier than the previous row's;
    - ``duplicate`` — the row repeats an earlier one (same ``row_id`` /
      ``record_id``, or every field equal when there is no id); it is left
      out of the chain check.

    A single wrong value is reported once, at its own row, with ``field``
    naming the value that is wrong and ``difference = actual - expected``
    equal to the error: a corrupted ``balance_after`` is not also reported
    as a chain break on the next row, nor a corrupted ``balance_before`` as
    an amount mismatch. When the two balances of a row agree with their
    neighbours the ``amount`` is blamed; on the first row of a chain with
    no known opening, the ``balance_before``. Without ``balance_before``,
    the first record of an account is checked only against a known opening.

    Parameters
    ----------
    statements : DataFrame or BalanceReport-like
        As for :func:`~ledgerkit.analysis.balance.roll_forward`; balance
        records need a ``balance_after`` column (without balances there is
        no chain to check). Records without ``record_id`` are named by
        their position.

    Returns
    -------
    DataFrame
        ``position`` (0-based row number in the input), ``row_id`` (or
        ``record_id``, ``merchant_id``, ``shop_id``, ``gateway_id`` for
        balance records, NA where the frame has no such column),
        ``created``, ``currency``, ``type`` (the row's type) and
        ``category`` (its roll-forward category: ``adjustments``,
        ``reserve``, ``rates``, ...), ``kind``, ``field``, ``expected``,
        ``actual``, ``difference`` (``Int64``; for a duplicate expected 0
        and actual the amount counted again, NA for ``out_of_order``) and
        ``direction`` ("too much" / "too little"). Empty, with these
        columns, when everything holds.

        The analysis keeps the amount a number (minor units, signed) and
        its reading a label; joining them into "0.05 too much" is display
        work: :func:`ledgerkit.viz.display.show` (used by the notebooks and
        widgets) shows ``difference`` in major units of the row's currency
        next to ``direction``.

    Examples
    --------
    >>> s = pd.DataFrame({
    ...     "row_id": ["a", "b", "c"],
    ...     "created": pd.to_datetime(["2025-01-05"] * 3, utc=True),
    ...     "type": ["INCOME", "TRX_FEE", "VAT"],
    ...     "amount": pd.array([1000, -30, -7], dtype="Int64"),
    ...     "balance_before": pd.array([0, 1000, 970], dtype="Int64"),
    ...     "balance_after": pd.array([1000, 975, 963], dtype="Int64"),
    ...     "currency": ["EUR"] * 3})
    >>> shown = ["position", "kind", "field", "expected", "actual", "difference", "direction"]
    >>> check_balances(s)[shown].values.tolist()
    [[1, 'amount_mismatch', 'balance_after', 970, 975, 5, 'too much']]

    A record whose fee is one too many while its net and balances agree:

    >>> r = pd.DataFrame({"shop_id": pd.array([3, 3], dtype="Int64"),
    ...     "created_at": pd.to_datetime(["2025-01-05", "2025-01-06"], utc=True), "currency": ["EUR", "EUR"],
    ...     "transaction_type": ["payment", "payment"], "amount": pd.array([1000, 2000], dtype="Int64"),
    ...     "fee": pd.array([30, 61], dtype="Int64"), "net": pd.array([970, 1940], dtype="Int64"),
    ...     "balance_after": pd.array([970, 2910], dtype="Int64")})
    >>> check_balances(r)[["position", "kind", "field", "expected", "actual", "direction"]].values.tolist()
    [[1, 'net_mismatch', 'amount - fee', 1940, 1939, 'too little']]
    """
    ledger = ledger_of(statements, "statements")
    if ledger.after is None:
        raise ConfigurationError(
            "statements",
            f"<DataFrame with columns {list(ledger.frame.columns)}>",
            "balance records with a 'balance_after' column as well: without balances there is no chain to check",
        )
    frame = ledger.frame
    dtypes = _break_columns(ledger)
    chain = chain_codes(ledger, codes(frame["currency"])[0])
    duplicate = _duplicates(ledger, chain)
    kept = np.arange(len(frame))[~duplicate]
    order = kept[np.lexsort((kept, chain[kept]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = chain[order][1:] != chain[order][:-1]
    found = [(int(order[i]), *rest) for i, *rest in _walk(ledger, order, chain, first)]
    created = ledger.created.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]")[order]
    late = np.flatnonzero(~first & np.r_[False, created[1:] < created[:-1]])
    found += [(int(order[i]), "out_of_order", "created", None, None) for i in late]
    found += [(int(p), "duplicate", "amount", 0, int(ledger.change[p])) for p in np.flatnonzero(duplicate)]
    if not found:
        return empty_frame(dtypes)
    return _frame_of(found, ledger, dtypes)
