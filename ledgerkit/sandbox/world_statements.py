"""The MakeCommerce account statement of the sandbox world's EUR shop.

Each payment of the shop becomes an ``INCOME`` row followed by its fee rows
in the seed's order: ``TRX_FEE_FIX``, ``VAT``, ``TRX_FEE``, ``VAT``. A refund
is one ``REFUND`` row; a chargeback is ``CHARGEBACK``, ``CHARGEBACK_FEE``,
``VAT``; when no payment drew one, the first card payment without a refund
is charged back ten days later, so that every world has one. Every business
day (Mon-Fri, Estonian holidays excepted) at 00:00:02 UTC a ``PAYOUT`` row
pays out the rows since the previous payout;
those rows carry its ``payout_id``. When they sum to zero or less there is
no payout that day and they wait for the next one. Rows after the last
payout have no ``payout_id`` key at all (the open balance).

Money is ``Decimal`` with two places. Fees: ``TRX_FEE`` is the channel's
percent of the amount rounded half to even; ``VAT`` is 22 % of the fee it
follows **truncated** to the cent, as the seed shows (0.30 -> 0.06,
0.25 -> 0.05). The account keeps a rolling reserve: the chain starts at
``opening`` and a payout never touches it.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from . import world_catalog as cat
from .world_random import SeededRandom
from .world_transactions import to_datetime

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_DAY = 86_400
_PLANTED_CHARGEBACK_AFTER = 10 * _DAY


def vat(fee: Decimal) -> Decimal:
    """VAT on a fee, truncated to the cent as the provider does.

    Examples
    --------
    >>> vat(Decimal("0.30")), vat(Decimal("0.25")), vat(Decimal("5.00"))
    (Decimal('0.06'), Decimal('0.05'), Decimal('1.10'))
    """
    return (fee * cat.MC_VAT).quantize(_CENT, rounding=ROUND_DOWN)


def percent_fee(amount: Decimal, percent: Decimal) -> Decimal:
    """``amount * percent / 100`` rounded half to even to the cent.

    Examples
    --------
    >>> percent_fee(Decimal("10.00"), Decimal("2.50"))
    Decimal('0.25')
    """
    return (amount * percent / 100).quantize(_CENT, rounding=ROUND_HALF_EVEN)


class StatementLedger:
    """Builds and extends the statement chain and its payouts.

    Parameters
    ----------
    rng : SeededRandom
        The world's generator (advanced by every draw).
    start, end : int
        The period as POSIX seconds, half-open.
    opening : Decimal
        The balance before the first row (the reserve).
    """

    def __init__(self, rng: SeededRandom, start: int, end: int, opening: Decimal) -> None:
        self.rng = rng
        self.start, self.end = start, end
        self.opening = opening
        self.rows: list[dict] = []
        self.payouts: list[dict] = []
        self.foreign_transactions: list[str] = []
        self.days_without_payout: list[str] = []
        self.chargebacks: list[str] = []
        self._balance = opening
        self._txn_number = 1_347_131
        self._payout_number = 48_831
        self._channels = list(cat.MC_CHANNELS)

    # -- building -------------------------------------------------------------

    def build(self, n_payments: int) -> None:
        """Draw ``n_payments`` payments with their refunds and chargebacks and chain them with payouts."""
        rng = self.rng
        created = sorted(rng.randrange(self.start, self.end) for _ in range(n_payments))
        events: list[tuple[int, int, list[dict] | None]] = []
        quiet: list[tuple[int, list[dict]]] = []  # payments without a follow-up
        for seq, ts in enumerate(created):
            income = self.payment_rows(ts)
            events.append((ts, seq, income))
            follow_ups = self.follow_ups(income, seq)
            events.extend(follow_ups)
            if not follow_ups:
                quiet.append((seq, income))
        if not self.chargebacks:
            events.extend(self.planted_chargeback(quiet))
        events.extend((ts, -1, None) for ts in self.payout_times())
        events.sort(key=lambda e: (e[0], e[1]))
        pending: list[dict] = []
        for ts, _, rows in events:
            if rows is None:
                pending = self.pay_out(ts, pending)
                continue
            self.chain(rows)
            pending.extend(rows)
        for row in pending:
            del row["payout_id"]

    def payment_rows(self, ts: int) -> list[dict]:
        """The INCOME row of one payment followed by its fee and VAT rows."""
        rng = self.rng
        channel = rng.choices(self._channels, cat.MC_CHANNEL_WEIGHTS)[0]
        cents = min(max(int(3500 * math.exp(rng.gauss(0.0, 0.7))), 500), 200_000)
        amount = Decimal(cents).scaleb(-2)
        self._txn_number += rng.randint(1, 150)
        ref = {
            "transaction": str(self._txn_number),
            "channel": channel,
            "transaction_id": rng.uuid4(),
            "merchant_reference": "autotest" if rng.random() < 0.05 else f"ORDER-{self._txn_number % 1_000_000}",
        }
        foreign = None
        if channel.startswith("CARD_") and rng.random() < 0.01:
            currency, rate = rng.choice(cat.MC_FOREIGN)
            original = amount
            amount = (original / rate).quantize(_CENT, rounding=ROUND_HALF_EVEN)
            foreign = (original, currency, rate)
            self.foreign_transactions.append(ref["transaction"])
        percent, fixed = cat.MC_CHANNELS[channel]
        pct = percent_fee(amount, percent)
        when = to_datetime(ts)
        return [
            self.row(when, amount, "INCOME", ref, foreign),
            self.row(when, -fixed, "TRX_FEE_FIX", ref),
            self.row(when, -vat(fixed), "VAT", ref),
            self.row(when, -pct, "TRX_FEE", ref),
            self.row(when, -vat(pct), "VAT", ref),
        ]

    def follow_ups(self, income: list[dict], seq: int) -> list[tuple[int, int, list[dict]]]:
        """A refund or a chargeback of the payment whose rows are ``income`` (maybe none)."""
        rng = self.rng
        first = income[0]
        ref = {k: first[k] for k in ("transaction", "channel", "transaction_id", "merchant_reference")}
        paid_at = int(first["created"].timestamp())
        u = rng.random()
        if u < 0.04:
            ts = paid_at + rng.randint(3600, 15 * _DAY)
            amount = first["amount"] if rng.random() < 0.6 else (first["amount"] / 2).quantize(_CENT)
            return [(ts, seq, [self.row(to_datetime(ts), -amount, "REFUND", ref)])] if ts < self.end else []
        if u < 0.055 and ref["channel"].startswith("CARD_"):
            ts = paid_at + rng.randint(5 * _DAY, 40 * _DAY)
            return [(ts, seq, self.chargeback_rows(ts, first))] if ts < self.end else []
        return []

    def planted_chargeback(self, quiet: list[tuple[int, list[dict]]]) -> list[tuple[int, int, list[dict]]]:
        """A chargeback of the first card payment in ``quiet`` that leaves it time (no random draw)."""
        for seq, income in quiet:
            ts = int(income[0]["created"].timestamp()) + _PLANTED_CHARGEBACK_AFTER
            if income[0]["channel"].startswith("CARD_") and ts < self.end:
                return [(ts, seq, self.chargeback_rows(ts, income[0]))]
        return []

    def chargeback_rows(self, ts: int, income: dict) -> list[dict]:
        """``CHARGEBACK`` of the whole payment, ``CHARGEBACK_FEE`` and its ``VAT``, at ``ts``."""
        ref = {k: income[k] for k in ("transaction", "channel", "transaction_id", "merchant_reference")}
        when = to_datetime(ts)
        self.chargebacks.append(ref["transaction"])
        return [
            self.row(when, -income["amount"], "CHARGEBACK", ref),
            self.row(when, -cat.MC_CHARGEBACK_FEE, "CHARGEBACK_FEE", ref),
            self.row(when, -vat(cat.MC_CHARGEBACK_FEE), "VAT", ref),
        ]

    @staticmethod
    def row(when: datetime, amount: Decimal, kind: str, ref: dict, foreign: tuple | None = None) -> dict:
        """One statement row in the seed's key order (balances filled in by :meth:`chain`)."""
        row = {
            "created": when,
            "amount": amount,
            "type": kind,
            "transaction": ref["transaction"],
            "channel": ref["channel"],
            "balance_before": _ZERO,
            "balance_after": _ZERO,
            "transaction_id": ref["transaction_id"],
            "merchant_reference": ref["merchant_reference"],
            "payout_id": None,
            "original_amount": _ZERO,
            "exchange_rate": _ZERO,
        }
        if foreign is not None:
            original, currency, rate = foreign
            del row["exchange_rate"]
            row.update(original_amount=original, original_currency=currency, exchange_rate=rate)
        return row

    def chain(self, rows: list[dict]) -> None:
        """Append ``rows`` to the statement, filling in their balances."""
        for row in rows:
            row["balance_before"] = self._balance
            self._balance += row["amount"]
            row["balance_after"] = self._balance
            self.rows.append(row)

    def payout_times(self) -> list[int]:
        """00:00:02 UTC of every business day inside the period."""
        out = []
        for day_start in range(self.start - self.start % _DAY + _DAY, self.end, _DAY):
            day = to_datetime(day_start).date()
            if day.weekday() < 5 and day not in cat.MC_HOLIDAYS:
                out.append(day_start + 2)
        return out

    def pay_out(self, ts: int, pending: list[dict]) -> list[dict]:
        """Pay out ``pending`` rows at ``ts`` if they sum to more than zero; return what still waits."""
        total = sum((r["amount"] for r in pending), _ZERO)
        if total <= 0:
            self.days_without_payout.append(to_datetime(ts).date().isoformat())
            return pending
        self._payout_number += self.rng.randint(5, 40)
        payout_id = str(self._payout_number)
        for row in pending:
            row["payout_id"] = payout_id
        when = to_datetime(ts)
        payout = {
            "created": when,
            "amount": -total,
            "type": "PAYOUT",
            "balance_before": _ZERO,
            "balance_after": _ZERO,
            "payout_id": payout_id,
            "original_amount": _ZERO,
            "exchange_rate": _ZERO,
        }
        self.chain([payout])
        self.payouts.append({"payout_id": payout_id, "created": when, "amount": -total})
        return []

    # -- growing during paging ------------------------------------------------

    def append(self, n: int) -> list[dict]:
        """Append exactly ``n`` open-balance rows after the end of the chain; return them.

        Whole payments (five rows) while they fit, then single ``REFUND`` rows of
        1.00 against the last payment.
        """
        rng = self.rng
        new: list[dict] = []
        ts = int(self.rows[-1]["created"].timestamp()) if self.rows else self.start
        while len(new) < n:
            ts += rng.randint(1, 120)
            if n - len(new) >= 5:
                rows = self.payment_rows(ts)
            else:
                last = next(r for r in reversed(self.rows) if r["type"] == "INCOME")
                ref = {k: last[k] for k in ("transaction", "channel", "transaction_id", "merchant_reference")}
                rows = [self.row(to_datetime(ts), Decimal("-1.00"), "REFUND", ref)]
            for row in rows:
                del row["payout_id"]
            self.chain(rows)
            new.extend(rows)
        return new
