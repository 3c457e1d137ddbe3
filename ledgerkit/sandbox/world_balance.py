"""Balance records of the sandbox world: one chained ledger per account.

An account is ``(merchant_id, shop_id, gateway_id, currency)``. Every
successful payment, capture, refund, chargeback, credit or payout moves its
account's balance by ``net = amount - fee`` (amount signed: payment and
capture ``+``, the others ``-``), at the transaction's ``paid_at``. Records
are ordered by ``(created_at, record_id)`` and chained per account:
``balance_after = balance_before + net``, starting from the account's opening
balance at ``world.start``.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime

from .world_transactions import MONEY_SIGN

AccountKey = tuple  # (merchant_id, shop_id, gateway_id, currency)

_ACCOUNT_FIELDS = ("merchant_id", "merchant_name", "shop_id", "shop_name", "gateway_id", "gateway_name")


def _order(record: dict) -> tuple:
    return record["created_at"], record["record_id"]


class BalanceBook:
    """Accounts, their opening balances at ``start`` and their chained records.

    Parameters
    ----------
    accounts : dict
        ``{account key: {"merchant_id", "merchant_name", "shop_id", "shop_name",
        "gateway_id", "gateway_name", "currency"}}``.
    opening : dict
        ``{account key: balance at start in minor units}``.
    start : datetime
        When the opening balances hold.
    """

    def __init__(self, accounts: dict[AccountKey, dict], opening: dict[AccountKey, int], start: datetime) -> None:
        self.accounts = accounts
        self.opening = opening
        self.start = start
        self.records: list[dict] = []
        self._chains: dict[AccountKey, list[dict]] = {key: [] for key in accounts}
        self._times: dict[AccountKey, list[datetime]] = {key: [] for key in accounts}
        self._next_id = 1
        self._by_route = {(k[1], k[2]): k for k in accounts}

    def post(self, transactions: list[dict]) -> list[dict]:
        """Record the money-moving ``transactions`` and re-chain the accounts they touch.

        New records get ids above all existing ones, in ``(paid_at, id)`` order.
        """
        moving = [
            t
            for t in transactions
            if t["status"] == "successful" and t["type"] in MONEY_SIGN and t["paid_at"] is not None
        ]
        moving.sort(key=lambda t: (t["paid_at"], t["id"]))
        new = [self._record(t) for t in moving]
        touched = {self.key_of(r) for r in new}
        for record in new:
            self._chains[self.key_of(record)].append(record)
        for key in touched:
            self._rechain(key)
        self.records.extend(new)
        self.records.sort(key=_order)
        return new

    @staticmethod
    def key_of(row: dict) -> AccountKey:
        return row["merchant_id"], row["shop_id"], row["gateway_id"], row["currency"]

    def _record(self, txn: dict) -> dict:
        key = self.transaction_account(txn)
        account = self.accounts[key]
        amount = MONEY_SIGN[txn["type"]] * txn["amount"]
        fee = int(txn["transaction_fee"])
        record = {
            **{k: account[k] for k in _ACCOUNT_FIELDS},
            "record_id": self._next_id,
            "created_at": txn["paid_at"],
            "transaction_uid": txn["uid"],
            "transaction_id": txn["id"],
            "transaction_type": txn["type"],
            "currency": txn["currency"],
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "balance_before": 0,
            "balance_after": 0,
        }
        self._next_id += 1
        return record

    def transaction_account(self, txn: dict) -> AccountKey:
        """The account a transaction dict moves."""
        return self._by_route[txn["shop"]["id"], txn["payment"]["gateway_id"]]

    def _rechain(self, key: AccountKey) -> None:
        chain = self._chains[key]
        chain.sort(key=_order)
        balance = self.opening[key]
        for record in chain:
            record["balance_before"] = balance
            balance += record["net"]
            record["balance_after"] = balance
        self._times[key] = [r["created_at"] for r in chain]

    def chain(self, key: AccountKey) -> list[dict]:
        """The records of one account in chain order."""
        return self._chains[key]

    def balance_at(self, key: AccountKey, at: datetime) -> int:
        """The balance of an account just before ``at`` (records created before ``at``)."""
        i = bisect_left(self._times[key], at)
        return self._chains[key][i - 1]["balance_after"] if i else self.opening[key]

    def in_scope(
        self, currency: str, merchant_id: int | None = None, shop_id: int | None = None, gateway_id: int | None = None
    ) -> list[AccountKey]:
        """Account keys matching the filters (``None`` matches all), in account order."""
        return [
            k
            for k in self.accounts
            if k[3] == currency
            and merchant_id in (None, k[0])
            and shop_id in (None, k[1])
            and gateway_id in (None, k[2])
        ]

    def records_in(self, date_from: datetime, date_to: datetime, keys: list[AccountKey]) -> tuple[list, list]:
        """Records created in ``[date_from, date_to)`` of ``keys`` and their opening rows at ``date_from``."""
        records: list[dict] = []
        opening: list[dict] = []
        for key in keys:
            times = self._times[key]
            lo, hi = bisect_left(times, date_from), bisect_left(times, date_to)
            records.extend(self._chains[key][lo:hi])
            opening.append(self.opening_row(key, date_from))
        records.sort(key=_order)
        return records, opening

    def opening_row(self, key: AccountKey, at: datetime) -> dict:
        """One row of the ``opening_balance`` sheet."""
        account = self.accounts[key]
        return {
            **{k: account[k] for k in _ACCOUNT_FIELDS},
            "currency": account["currency"],
            "date": at,
            "opening_balance": self.balance_at(key, at),
        }
