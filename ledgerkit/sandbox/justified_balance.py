"""Balance movements as the ``dwh-official-client`` dialect reports them.

The DWH help page says balances move by pay-ins minus payouts, refunds,
chargebacks, rolling reserve, rates and adjustments, and the official
client's fixtures hold an ``adjustment`` record with a description and no
transaction. :class:`JustifiedBook` derives such a ledger from the world's
unchanged :class:`~ledgerkit.sandbox.world_balance.BalanceBook`:

* every world record becomes a movement of ``type`` = its transaction type
  whose ``amount`` is what it moves the balance by (the record's net);
* into each account's chain, after its 2nd record and every 5th after that,
  one movement without a transaction is inserted, in the cycle
  ``adjustment`` (debit), ``rolling_reserve`` (held: negative), ``rate``,
  ``rolling_reserve_release`` (the hold paid back), ``adjustment`` (credit);
  it happens half-way to the next record (at most an hour later);
* ``balance_after`` is re-chained from the account's opening balance, so
  every row moves it by exactly ``amount``.

Examples
--------
>>> from ledgerkit.sandbox.world import World
>>> w = World.generate(seed=0, n_transactions=200)
>>> book = JustifiedBook(w.book)
>>> records, opening = book.records_in(w.start, w.end, book.in_scope("EUR"))
>>> sorted({r["type"] for r in records} - {t["type"] for t in w.transactions})
['adjustment', 'rate', 'rolling_reserve', 'rolling_reserve_release']
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta
from typing import Any

from ..money import exponent
from .world_balance import AccountKey, BalanceBook

__all__ = ["JustifiedBook", "EXTRA_MOVEMENTS"]

_FIRST_AFTER, _EVERY = 2, 5
_MOST_LATER = timedelta(hours=1)

#: The inserted movements in their cycle: (type, amount in major units, description).
EXTRA_MOVEMENTS: tuple[tuple[str, int, str], ...] = (
    ("adjustment", -10, "[UserID:45] Balance debit"),
    ("rolling_reserve", -25, "Rolling reserve"),
    ("rate", -2, "Rate"),
    ("rolling_reserve_release", 25, "Rolling reserve release"),
    ("adjustment", 10, "[UserID:45] Balance credit"),
)
_ACCOUNT_FIELDS = ("merchant_id", "merchant_name", "shop_id", "shop_name", "gateway_id", "gateway_name", "currency")


class JustifiedBook:
    """The world's balance accounts with the movements a real report also holds.

    Parameters
    ----------
    book : BalanceBook
        The world's book (read, never changed).
    """

    def __init__(self, book: BalanceBook) -> None:
        self.book = book
        self.size = len(book.records)
        self._chains: dict[AccountKey, list[tuple[tuple, dict[str, Any]]]] = {}
        self._times: dict[AccountKey, list[datetime]] = {}
        for key in book.accounts:
            chain = self._chain(key)
            self._chains[key] = chain
            self._times[key] = [row["created_at"] for _, row in chain]

    def in_scope(
        self, currency: str, merchant_id: int | None = None, shop_id: int | None = None, gateway_id: int | None = None
    ) -> list[AccountKey]:
        """Account keys matching the filters (``None`` matches all): the intersection of those given."""
        return self.book.in_scope(currency, merchant_id, shop_id, gateway_id)

    def _chain(self, key: AccountKey) -> list[tuple[tuple, dict[str, Any]]]:
        """One account's movements as (sort key, row), chained from its opening balance."""
        account = {k: self.book.accounts[key][k] for k in _ACCOUNT_FIELDS}
        unit = 10 ** exponent(account["currency"])
        records = self.book.chain(key)
        out: list[tuple[tuple, dict[str, Any]]] = []
        inserted = 0
        for j, record in enumerate(records):
            row = {
                **account,
                "created_at": record["created_at"],
                "type": record["transaction_type"],
                "description": None,
                "amount": record["net"],
            }
            out.append(((record["created_at"], record["record_id"], 0), row))
            if j + 1 >= _FIRST_AFTER and (j + 1 - _FIRST_AFTER) % _EVERY == 0:
                kind, major, text = EXTRA_MOVEMENTS[inserted % len(EXTRA_MOVEMENTS)]
                at = _halfway(record["created_at"], records[j + 1]["created_at"] if j + 1 < len(records) else None)
                extra = {**account, "created_at": at, "type": kind, "description": text, "amount": major * unit}
                out.append(((at, record["record_id"], 1), extra))
                inserted += 1
        balance = self.book.opening[key]
        for _, row in out:
            balance += row["amount"]
            row["balance_after"] = balance
        return out

    def balance_at(self, key: AccountKey, at: datetime) -> int:
        """The balance of an account just before ``at``."""
        i = bisect_left(self._times[key], at)
        return self._chains[key][i - 1][1]["balance_after"] if i else self.book.opening[key]

    def records_in(self, date_from: datetime, date_to: datetime, keys: list[AccountKey]) -> tuple[list, list]:
        """Movements in ``[date_from, date_to)`` of ``keys`` and opening rows at ``date_from``.

        Movements come by time, then chain order.
        """
        found: list[tuple[tuple, dict[str, Any]]] = []
        opening: list[dict[str, Any]] = []
        for key in keys:
            times = self._times[key]
            found.extend(self._chains[key][bisect_left(times, date_from) : bisect_left(times, date_to)])
            opening.append(
                {**self.book.opening_row(key, date_from), "opening_balance": self.balance_at(key, date_from)}
            )
        found.sort(key=lambda pair: pair[0])
        return [row for _, row in found], opening


def _halfway(at: datetime, following: datetime | None) -> datetime:
    """Whole seconds half-way from ``at`` to ``following`` (at most an hour; a second when none follows)."""
    if following is None:
        return at + timedelta(seconds=1)
    return at + min(_MOST_LATER, timedelta(seconds=int((following - at).total_seconds()) // 2))
