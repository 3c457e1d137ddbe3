"""Which fee line each VAT line of an account statement taxes.

MakeCommerce writes one ``VAT`` line per fee line (``TRX_FEE``,
``TRX_FEE_FIX``, ``CHARGEBACK_FEE``, ...) of a transaction: after it in the
API reference's example, before *or* after it on a live-recorded page,
with zero-amount VAT lines besides (the VAT of a one-cent fee), and
without a ``transaction_id`` on some deployments (the ``transaction``
number is there). So a VAT line is paired with its fee like this, the same
way in every analysis:

1. Lines belong together when they have the same ``transaction_id``;
   lines left over (no ``transaction_id``, or none of its fees with one)
   are paired by the same ``transaction`` instead.
2. VAT lines with an amount are paired first; zero-amount VAT lines then
   get the fee lines left, if any (they move no money, so they never take
   a fee from a VAT line that does).
3. Within one transaction, when there are as many VAT lines as fee lines,
   the k-th VAT line taxes the k-th fee line, in row order, whether each
   comes before or after its fee (``TRX_FEE_FIX, VAT, VAT, TRX_FEE``: the
   first VAT is the fixed fee's, the second ``TRX_FEE``'s; ``VAT,
   TRX_FEE_FIX, VAT, TRX_FEE`` as well). This pairing keeps every VAT as
   near its fee as possible in total.
4. Otherwise (a fee without VAT, a VAT whose fee is not in the frame), the
   nearest pairs are made first, one VAT per fee; the distance counts the
   transaction's fee and VAT lines between the two (other rows do not
   count). Of two pairs equally near, the one whose VAT comes *after* its
   fee wins (the documented order), then the earlier fee.
5. A VAT line left without a fee belongs to no fee: it is counted on its
   own.

So a transaction's later ``CHARGEBACK_FEE, VAT`` pair with each other, and
a transaction's two fees each get their own VAT.

Examples
--------
>>> is_fee = np.array([False, True, False, False, True])   # INCOME, TRX_FEE_FIX, VAT, VAT (0), TRX_FEE
>>> is_vat = np.array([False, False, True, True, False])
>>> zero = np.array([False, False, False, True, False])
>>> vat_owners(is_fee, is_vat, zero, [pd.Series(["t1"] * 5)]).tolist()
[-1, -1, 1, 4, -1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["vat_owners"]


def vat_owners(is_fee: np.ndarray, is_vat: np.ndarray, zero: np.ndarray, keys: Sequence[pd.Series]) -> np.ndarray:
    """For each row, the position of the fee row its VAT line taxes; -1 for other rows and unpaired VAT lines.

    Parameters
    ----------
    is_fee, is_vat : bool arrays
        Which rows are fee lines and which VAT lines.
    zero : bool array
        Rows whose amount is 0.
    keys : sequence of Series
        The transaction identities tried in turn (``transaction_id``, then
        ``transaction``); a missing value ties nothing.

    Returns
    -------
    int64 array
        See above (module docstring for the rules).
    """
    owner = np.full(len(is_fee), -1, dtype="int64")
    taken = np.zeros(len(is_fee), dtype=bool)
    for vat in (is_vat & ~zero, is_vat & zero):
        for key in keys:
            _pair(is_fee & ~taken, vat & (owner < 0), key.notna().to_numpy(dtype=bool), key, owner, taken)
    return owner


def _pair(
    fee: np.ndarray, vat: np.ndarray, known: np.ndarray, key: pd.Series, owner: np.ndarray, taken: np.ndarray
) -> None:
    """Pair the free fee and VAT rows of each transaction of ``key`` (in place: ``owner``, ``taken``)."""
    rows = np.flatnonzero((fee | vat) & known)
    if not len(rows):
        return
    group = pd.factorize(key.iloc[rows])[0]
    order = np.argsort(group, kind="stable")  # by transaction, each in row order
    rows, group = rows[order], group[order]
    is_fee = fee[rows]
    fees = np.bincount(group, weights=is_fee, minlength=group.max() + 1).astype("int64")
    vats = np.bincount(group, weights=~is_fee, minlength=group.max() + 1).astype("int64")
    even = (fees == vats)[group]
    pairs = [_in_order(rows[even], is_fee[even]), _nearest(rows[~even], is_fee[~even], group[~even])]
    for fee_rows, vat_rows in pairs:
        owner[vat_rows] = fee_rows
        taken[fee_rows] = True


def _in_order(rows: np.ndarray, is_fee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fee rows, VAT rows) paired k-th with k-th, for transactions with as many of each (rows grouped, in order)."""
    return rows[is_fee], rows[~is_fee]


def _nearest(rows: np.ndarray, is_fee: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fee rows, VAT rows) paired nearest first, one to one, per transaction (rows grouped, in order).

    The greedy pairing, found in rounds: each round pairs every fee and VAT
    line that are each other's best free choice (the nearest; the VAT after
    the fee when two are as near), which is exactly what taking the nearest
    pair first, again and again, would pair.
    """
    free_fee, free_vat = np.flatnonzero(is_fee), np.flatnonzero(~is_fee)  # places: their difference is the distance
    found_fee, found_vat = [], []
    while len(free_fee) and len(free_vat):
        fee_pick = _fee_choice(free_fee, free_vat, group)
        vat_pick = _vat_choice(free_vat, free_fee, group)
        mutual = (fee_pick >= 0) & (vat_pick[np.searchsorted(free_vat, np.maximum(fee_pick, 0))] == free_fee)
        if not mutual.any():
            break
        found_fee.append(free_fee[mutual])
        found_vat.append(fee_pick[mutual])
        free_vat = np.setdiff1d(free_vat, fee_pick[mutual], assume_unique=True)
        free_fee = free_fee[~mutual]
    if not found_fee:
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    return rows[np.concatenate(found_fee)], rows[np.concatenate(found_vat)]


def _neighbours(at: np.ndarray, among: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each place ``at``: the nearest place of ``among`` before and after it in the same group (-1: none)."""
    i = np.searchsorted(among, at)
    before = np.where(i > 0, among[np.maximum(i - 1, 0)], -1)
    after = np.where(i < len(among), among[np.minimum(i, len(among) - 1)], -1)
    before = np.where((before >= 0) & (group[np.maximum(before, 0)] == group[at]), before, -1)
    after = np.where((after >= 0) & (group[np.maximum(after, 0)] == group[at]), after, -1)
    return before, after


def _vat_choice(vats: np.ndarray, fees: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each VAT line's best free fee: the nearest, the one before it when both are as near (-1: none)."""
    before, after = _neighbours(vats, fees, group)
    prefer_before = (before >= 0) & ((after < 0) | (vats - before <= after - vats))
    return np.where(prefer_before, before, after)


def _fee_choice(fees: np.ndarray, vats: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each fee line's best free VAT line: the nearest, the one after it when both are as near (-1: none)."""
    before, after = _neighbours(fees, vats, group)
    prefer_before = (before >= 0) & ((after < 0) | (fees - before < after - fees))
    return np.where(prefer_before, before, after)
